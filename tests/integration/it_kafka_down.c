/*
 * Durable acceptance: with the broker down (scripts/test.sh stops it before this phase), the API
 * never answers 202. It answers 503 with Retry-After and a problem+json body, and /readyz says
 * not ready; its /metrics counts the produce errors. A worker started now serves /healthz but
 * its /readyz says not ready.
 */
#include "itest.h"
#include "itest_metrics.h"

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
    itest_prom before, after;
    char metrics_url[256];

    snprintf(metrics_url, sizeof metrics_url, "%s/metrics", itest_env("LEDGER_API_URL"));
    itest_prom_scrape(metrics_url, &before);
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

    /* Both refusals were Kafka's: counted by reason, and nothing is left in flight. */
    itest_prom_scrape(metrics_url, &after);
    CHECK(itest_prom_sum(&after, "ledger_kafka_produce_errors_total") -
                  itest_prom_sum(&before, "ledger_kafka_produce_errors_total") >=
              2,
          "ledger_kafka_produce_errors_total rose by %g, expected at least 2",
          itest_prom_sum(&after, "ledger_kafka_produce_errors_total") -
              itest_prom_sum(&before, "ledger_kafka_produce_errors_total"));
    CHECK(itest_prom_value(&after, "ledger_commands_in_flight") == 0, "commands in flight: %g",
          itest_prom_value(&after, "ledger_commands_in_flight"));
    CHECK(itest_prom_value(&after, "ledger_http_requests_total{route=\"/v1/transactions\","
                                   "method=\"POST\",status=\"503\"}") -
                  itest_prom_value(&before, "ledger_http_requests_total{route=\"/v1/transactions\","
                                            "method=\"POST\",status=\"503\"}") ==
              2,
          "the two 503s are not counted");
    itest_prom_free(&before);
    itest_prom_free(&after);

    /* A worker that cannot reach Kafka: alive, not ready. Its listener takes a free port and
     * its log says which. */
    {
        static const char *const env[] = {"LEDGER_WORKER_LISTEN=127.0.0.1:0", NULL};
        itest_worker w;
        char line[4096], url[256];
        const char *at;
        int port = 0;
        FILE *f;
        itest_worker_start(&w, "kafka-down-worker", 90, env);
        CHECK(itest_worker_wait_log(&w, "serving /healthz", 30000),
              "the worker did not start its listener (log %s)", w.log);
        f = fopen(w.log, "r");
        CHECK(f != NULL, "cannot read %s", w.log);
        while (port == 0 && fgets(line, sizeof line, f) != NULL)
            if ((at = strstr(line, "\"listen\":\"127.0.0.1:")) != NULL)
                port = (int)strtol(at + strlen("\"listen\":\"127.0.0.1:"), NULL, 10);
        fclose(f);
        CHECK(port > 0, "no port in the worker's log %s", w.log);
        snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
        status = itest_http_url("GET", url, NULL, NULL, NULL, NULL);
        CHECK(status == 200, "worker /healthz answered %ld", status);
        snprintf(url, sizeof url, "http://127.0.0.1:%d/readyz", port);
        status = itest_http_url("GET", url, NULL, NULL, &resp, NULL);
        CHECK(status == 503, "worker /readyz answered %ld with Kafka down: %s", status, resp);
        CHECK(strstr(resp, "\"kafka\":\"unreachable\"") != NULL, "worker /readyz: %s", resp);
        free(resp);
        snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
        itest_prom_scrape(url, &after);
        CHECK(itest_prom_value(&after, "ledger_worker_assigned_partitions") == 0,
              "partitions assigned with Kafka down");
        itest_prom_free(&after);
        itest_worker_kill(&w);
        itest_workers_check_logs();
    }
    printf("1 passed, 0 failed\n");
    return 0;
}
