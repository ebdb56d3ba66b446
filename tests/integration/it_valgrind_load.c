/*
 * The load that scripts/valgrind.sh drives through a producer-api and a ledger-worker running
 * under valgrind (label "valgrind"; not part of make test). Over HTTP, with libcurl: a few
 * hundred commands (deposits, transfers, a withdrawal refused for funds, repeats of one
 * Idempotency-Key) and reads (transactions, balances, ledger entries, lists), plus requests the
 * API must refuse (malformed JSON, a bad token, an unknown path), then checks that the
 * balances add up, so that the run exercises the hot paths and the error paths alike.
 * ITEST_VALGRIND_N (default 150) sets the number of transfers.
 */
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long get(const itest_tenant *t, const char *path)
{
    char auth[256], *body = NULL, ct[128];
    long status;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", t->api_key);
    status = itest_http("GET", path, (const char *const[]){auth, NULL}, NULL, &body, ct,
                        sizeof ct);
    free(body);
    return status;
}

int main(void)
{
    itest_tenant t;
    char id[64], withdrawal[64], refused[64], last[64] = "";
    char body[512], path[256], auth[256], *answer = NULL, ct[128];
    const char *n_text = getenv("ITEST_VALGRIND_N");
    int n = n_text != NULL ? (int)strtol(n_text, NULL, 10) : 150;
    json_t *txn;
    long status;
    int reads = 0;

    if (n < 1 || n > 700) /* the source account holds 1000.00 */
        n = 150;

    itest_tenant_create(&t, "it-valgrind", NULL, 2, "USD");
    snprintf(body, sizeof body,
             "{\"type\":\"DEPOSIT\",\"amount\":\"1000.00\",\"currency\":\"USD\","
             "\"toAccount\":\"%s\"}",
             t.account[0]);
    itest_submit(&t, body, id);
    txn = itest_wait_txn(&t, id, 120000);
    CHECK(strcmp(itest_json_str(txn, "status"), "COMPLETED") == 0, "deposit is %s",
          itest_json_str(txn, "status"));
    json_decref(txn);

    for (int i = 0; i < n; i++) {
        snprintf(body, sizeof body,
                 "{\"type\":\"TRANSFER\",\"amount\":\"1.25\",\"currency\":\"USD\","
                 "\"fromAccount\":\"%s\",\"toAccount\":\"%s\",\"description\":\"load %d\"}",
                 t.account[0], t.account[1], i);
        itest_submit(&t, body, last);
        snprintf(path, sizeof path, "/v1/transactions/%s", last);
        CHECK(get(&t, path) == 200, "GET %s", path);
        reads++;
        if (i % 10 == 0) {
            snprintf(path, sizeof path, "/v1/accounts/%s/balance", t.account[0]);
            CHECK(get(&t, path) == 200, "GET %s", path);
            snprintf(path, sizeof path, "/v1/accounts/%s/entries?limit=20", t.account[1]);
            CHECK(get(&t, path) == 200, "GET %s", path);
            snprintf(path, sizeof path, "/v1/transactions?account=%s&limit=10", t.account[0]);
            CHECK(get(&t, path) == 200, "GET %s", path);
            reads += 3;
        }
    }
    /* The same Idempotency-Key five times: one transaction. */
    snprintf(body, sizeof body,
             "{\"type\":\"DEPOSIT\",\"amount\":\"5.00\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
             t.account[1]);
    for (int i = 0; i < 5; i++) {
        char again[64];
        status = itest_post_txn(&t, body, "valgrind-load-key", again, sizeof again);
        CHECK(status == 202 || status == 200, "idempotent POST answered %ld", status);
    }
    /* A withdrawal the account cannot cover: FAILED, not an error. */
    snprintf(body, sizeof body,
             "{\"type\":\"WITHDRAWAL\",\"amount\":\"99999.00\",\"currency\":\"USD\","
             "\"fromAccount\":\"%s\"}",
             t.account[0]);
    itest_submit(&t, body, withdrawal);
    /* Refusals. */
    status = itest_post_txn(&t, "{\"type\":", NULL, refused, sizeof refused);
    CHECK(status == 400, "malformed JSON answered %ld", status);
    status = itest_post_txn(&t, "{\"type\":\"DEPOSIT\",\"amount\":\"1.001\"}", NULL, refused,
                            sizeof refused);
    CHECK(status == 422, "over-precise amount answered %ld", status);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", "eyJhbGciOiJub25lIn0.e30.");
    status = itest_http("GET", "/v1/accounts", (const char *const[]){auth, NULL}, NULL, &answer,
                        ct, sizeof ct);
    free(answer);
    CHECK(status == 401, "a forged token answered %ld", status);
    CHECK(get(&t, "/v1/no-such-thing") == 404, "unknown path");

    txn = itest_wait_txn(&t, last, 300000);
    CHECK(strcmp(itest_json_str(txn, "status"), "COMPLETED") == 0, "last transfer is %s",
          itest_json_str(txn, "status"));
    json_decref(txn);
    txn = itest_wait_txn(&t, withdrawal, 300000);
    CHECK(strcmp(itest_json_str(txn, "status"), "FAILED") == 0, "the withdrawal is %s",
          itest_json_str(txn, "status"));
    json_decref(txn);
    {
        PGconn *db = itest_tenant_db(&t, NULL);
        char *a = itest_balance(db, t.account[0]);
        char expected[32];
        snprintf(expected, sizeof expected, "%d.%02d", (100000 - 125 * n) / 100,
                 (100000 - 125 * n) % 100);
        CHECK(strcmp(a, expected) == 0, "balance of the source %s, expected %s", a, expected);
        free(a);
        PQfinish(db);
    }
    printf("valgrind load: %d transfers, %d reads, 8 other requests\n", n, reads);
    return 0;
}
