/*
 * Durable acceptance: with the broker down (scripts/test.sh stops it before this phase), the API
 * never answers 202. It answers 503 with Retry-After and a problem+json body, and /readyz says
 * not ready.
 */
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    itest_tenant t;
    char body[256], id[64], ct[128];
    const char *ready_headers[] = {NULL};
    char *resp = NULL;
    int64_t started;
    long status;

    itest_tenant_create(&t, "it-kafka-down", NULL, 1, "USD");
    snprintf(body, sizeof body,
             "{\"type\":\"DEPOSIT\",\"amount\":\"5.00\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
             t.account[0]);
    started = itest_now_ms();
    status = itest_post_txn(&t, body, "kafka-down-1", id, sizeof id);
    CHECK(status == 503, "with Kafka down the API answered %ld", status);
    printf("503 after %lld ms\n", (long long)(itest_now_ms() - started));

    {
        char auth[200];
        const char *h[] = {auth, "Content-Type: application/json", NULL};
        json_t *o;
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", t.api_key);
        status = itest_http("POST", "/v1/transactions", h, body, &resp, ct, sizeof ct);
        CHECK(status == 503, "second attempt answered %ld", status);
        CHECK(strncmp(ct, "application/problem+json", 24) == 0, "content type %s", ct);
        o = json_loads(resp, 0, NULL);
        CHECK(o != NULL && strcmp(json_string_value(json_object_get(o, "type")),
                                  "/problems/broker-unavailable") == 0,
              "problem: %s", resp);
        json_decref(o);
        free(resp);
    }
    status = itest_http("GET", "/readyz", ready_headers, NULL, &resp, NULL, 0);
    CHECK(status == 503, "/readyz answered %ld with Kafka down", status);
    free(resp);
    printf("1 passed, 0 failed\n");
    return 0;
}
