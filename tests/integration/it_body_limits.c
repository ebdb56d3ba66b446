/*
 * The per-connection memory of producer-api is sized to a request's headers, not its body:
 * bodies up to the 64 KiB limit and headers of several KiB are still served, over one
 * keep-alive connection after each other; a body over the limit still gets 413.
 */
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A valid DEPOSIT to account, padded with whitespace between the JSON tokens to size bytes. */
static char *padded_deposit(const char *account, size_t size)
{
    char tail[256];
    size_t n;
    char *body;
    snprintf(tail, sizeof tail,
             "\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
             account);
    n = strlen(tail);
    CHECK(size > n + 2, "size %zu too small", size);
    body = malloc(size + 1);
    CHECK(body != NULL, "malloc");
    body[0] = '{';
    memset(body + 1, ' ', size - n - 1);
    memcpy(body + size - n, tail, n + 1);
    return body;
}

int main(void)
{
    itest_tenant t;
    char auth[200], pad[8 * 1024 + 16], ct[128];
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    const char *big_headers[] = {auth, "Content-Type: application/json", pad, NULL};
    const size_t sizes[] = {1024, 20 * 1024, 63 * 1024};
    int n = 0;

    itest_tenant_create(&t, "it-bodylim", NULL, 1, "USD");
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", t.api_key);
    memcpy(pad, "X-Padding: ", 11);
    memset(pad + 11, 'p', 8 * 1024);
    pad[11 + 8 * 1024] = '\0';

    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *body = padded_deposit(t.account[0], sizes[i]), *resp = NULL;
        long status = itest_http("POST", "/v1/transactions", headers, body, &resp, ct, sizeof ct);
        CHECK(status == 202, "a %zu-byte body: status %ld (%s)", sizes[i], status,
              resp != NULL ? resp : "");
        free(resp);
        free(body);
        n++;
    }
    {
        char *body = padded_deposit(t.account[0], 1024), *resp = NULL;
        long status =
            itest_http("POST", "/v1/transactions", big_headers, body, &resp, ct, sizeof ct);
        CHECK(status == 202, "8 KiB of headers: status %ld (%s)", status, resp != NULL ? resp : "");
        free(resp);
        free(body);
        n++;
    }
    {
        char *body = padded_deposit(t.account[0], 70 * 1024), *resp = NULL;
        long status = itest_http("POST", "/v1/transactions", headers, body, &resp, ct, sizeof ct);
        json_t *o = json_loads(resp != NULL ? resp : "", 0, NULL);
        const char *type = json_string_value(json_object_get(o, "type"));
        CHECK(status == 413, "a 70 KiB body: status %ld, expected 413", status);
        CHECK(type != NULL && strcmp(type, "/problems/body-too-large") == 0, "type %s",
              type != NULL ? type : "(none)");
        json_decref(o);
        free(resp);
        free(body);
        n++;
    }
    printf("%d passed, 0 failed\n", n);
    return 0;
}
