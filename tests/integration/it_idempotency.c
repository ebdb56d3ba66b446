/*
 * Idempotency-Key, as payment APIs do it: the same key and body give the same transaction (same
 * id, current status); the same key with another body is refused with 422; 50 concurrent
 * identical requests collapse into one transaction; a key is scoped to its tenant; expired
 * records are purged. Also: a fatal producer error is survived (the producer is replaced).
 */
#include "itest.h"
#include "lg_crypto.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONCURRENT 50

typedef struct {
    const itest_tenant *t;
    const char *body;
    const char *key;
    long status;
    char id[64];
} attempt;

static void *post_one(void *arg)
{
    attempt *a = arg;
    a->status = itest_post_txn(a->t, a->body, a->key, a->id, sizeof a->id);
    return NULL;
}

static char *balance_of(const itest_tenant *t, const char *account)
{
    PGconn *db = itest_tenant_db(t, NULL);
    char *v = itest_sql_value(db, "SELECT balance::text FROM accounts WHERE account_number = $1",
                              account);
    PQfinish(db);
    return v;
}

static char *count_rows(const itest_tenant *t, const char *sql, const char *param)
{
    PGconn *db = itest_tenant_db(t, NULL);
    char *v = itest_sql_value(db, sql, param);
    PQfinish(db);
    return v;
}

static void expect_status(const itest_tenant *t, const char *id, const char *want)
{
    json_t *o = itest_wait_txn(t, id, 15000);
    const char *st = json_string_value(json_object_get(o, "status"));
    CHECK(strcmp(st, want) == 0, "transaction %s is %s, expected %s", id, st, want);
    json_decref(o);
}

int main(void)
{
    itest_tenant a, b;
    char body[512], reordered[512], other[512], key[96], id1[64], id2[64], id3[64];
    char *v;
    long status;
    int passed = 0;

    itest_tenant_create(&a, "it-idem-a", NULL, 2, "USD");
    itest_tenant_create(&b, "it-idem-b", NULL, 1, "USD");
    snprintf(key, sizeof key, "order-%s", a.slug);
    snprintf(body, sizeof body,
             "{\"type\":\"DEPOSIT\",\"amount\":\"10.00\",\"currency\":\"USD\","
             "\"toAccount\":\"%s\",\"reference\":\"inv-1\"}",
             a.account[0]);
    snprintf(reordered, sizeof reordered,
             "{ \"reference\": \"inv-1\", \"toAccount\": \"%s\", \"currency\": \"USD\","
             "  \"amount\": \"10.00\", \"type\": \"DEPOSIT\" }",
             a.account[0]);
    snprintf(other, sizeof other,
             "{\"type\":\"DEPOSIT\",\"amount\":\"11.00\",\"currency\":\"USD\","
             "\"toAccount\":\"%s\",\"reference\":\"inv-1\"}",
             a.account[0]);

    /* 1. Same key, same body: the same transaction, then its current status. */
    status = itest_post_txn(&a, body, key, id1, sizeof id1);
    CHECK(status == 202, "first POST answered %ld", status);
    expect_status(&a, id1, "COMPLETED");
    status = itest_post_txn(&a, reordered, key, id2, sizeof id2);
    CHECK(status == 200, "replay answered %ld", status);
    CHECK(strcmp(id1, id2) == 0, "replay gave id %s, not %s", id2, id1);
    v = count_rows(&a, "SELECT count(*)::text FROM transactions WHERE idempotency_key = $1", key);
    CHECK(strcmp(v, "1") == 0, "%s transactions for one key", v);
    free(v);
    passed++;

    /* 2. Same key, another body: 422, nothing changes. */
    {
        char auth[200], idem[128], ct[128];
        const char *h[] = {auth, idem, "Content-Type: application/json", NULL};
        char *resp = NULL;
        json_t *o;
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", a.api_key);
        snprintf(idem, sizeof idem, "Idempotency-Key: %s", key);
        status = itest_http("POST", "/v1/transactions", h, other, &resp, ct, sizeof ct);
        CHECK(status == 422, "a different body answered %ld", status);
        o = json_loads(resp, 0, NULL);
        CHECK(o != NULL && strcmp(json_string_value(json_object_get(o, "type")),
                                  "/problems/idempotency-key-reused") == 0,
              "problem type: %s", resp);
        CHECK(strncmp(ct, "application/problem+json", 24) == 0, "content type %s", ct);
        json_decref(o);
        free(resp);
    }
    v = balance_of(&a, a.account[0]);
    CHECK(strcmp(v, "10.00") == 0, "balance %s after a refused reuse", v);
    free(v);
    passed++;

    /* 3. 50 concurrent identical requests: one transaction. */
    {
        attempt at[CONCURRENT];
        pthread_t th[CONCURRENT];
        char key2[96];
        snprintf(key2, sizeof key2, "burst-%s", a.slug);
        snprintf(body, sizeof body,
                 "{\"type\":\"TRANSFER\",\"amount\":\"3.00\",\"currency\":\"USD\","
                 "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
                 a.account[0], a.account[1]);
        for (int i = 0; i < CONCURRENT; i++) {
            at[i] = (attempt){&a, body, key2, 0, ""};
            CHECK(pthread_create(&th[i], NULL, post_one, &at[i]) == 0, "pthread_create");
        }
        for (int i = 0; i < CONCURRENT; i++)
            pthread_join(th[i], NULL);
        for (int i = 0; i < CONCURRENT; i++) {
            CHECK(at[i].status == 202 || at[i].status == 200, "request %d answered %ld", i,
                  at[i].status);
            CHECK(strcmp(at[i].id, at[0].id) == 0, "request %d got id %s, not %s", i, at[i].id,
                  at[0].id);
        }
        expect_status(&a, at[0].id, "COMPLETED");
        sleep(1); /* any duplicate command still in flight would be applied by now */
        v = count_rows(&a, "SELECT count(*)::text FROM transactions WHERE idempotency_key = $1",
                       key2);
        CHECK(strcmp(v, "1") == 0, "%s transactions from %d concurrent requests", v, CONCURRENT);
        free(v);
        v = balance_of(&a, a.account[1]);
        CHECK(strcmp(v, "3.00") == 0, "the transfer was applied more than once: %s", v);
        free(v);
        passed++;
    }

    /* 4. The same key in two tenants: two independent transactions. */
    {
        char body_b[512];
        snprintf(body_b, sizeof body_b,
                 "{\"type\":\"DEPOSIT\",\"amount\":\"10.00\",\"currency\":\"USD\","
                 "\"toAccount\":\"%s\",\"reference\":\"inv-1\"}",
                 b.account[0]);
        status = itest_post_txn(&b, body_b, key, id3, sizeof id3);
        CHECK(status == 202, "tenant B answered %ld", status);
        CHECK(strcmp(id3, id1) != 0, "two tenants got the same id for one key");
        expect_status(&b, id3, "COMPLETED");
        v = balance_of(&b, b.account[0]);
        CHECK(strcmp(v, "10.00") == 0, "tenant B balance %s", v);
        free(v);
        passed++;
    }

    /* 5. Expired records are purged (the test stack's worker purges every few seconds);
     * a live one stays. */
    {
        PGconn *db = itest_tenant_db(&a, NULL);
        int64_t deadline = itest_now_ms() + 30000;
        PQclear(PQexec(db, "INSERT INTO idempotency_records (idempotency_key, endpoint, method,"
                           " response_status, expires_at) VALUES ('expired-key',"
                           " '/v1/transactions', 'POST', 202, now() - interval '1 second')"));
        for (;;) {
            v = itest_sql_value(db,
                                "SELECT count(*)::text FROM idempotency_records"
                                " WHERE idempotency_key = $1",
                                "expired-key");
            if (strcmp(v, "0") == 0 || itest_now_ms() > deadline)
                break;
            free(v);
            usleep(200000);
        }
        CHECK(strcmp(v, "0") == 0, "the expired record was not purged within 30 s");
        free(v);
        v = itest_sql_value(db,
                            "SELECT count(*)::text FROM idempotency_records"
                            " WHERE idempotency_key = $1 AND expires_at > now() + interval '23 hours'",
                            key);
        CHECK(strcmp(v, "1") == 0, "the live record is gone or expires too soon");
        free(v);
        PQfinish(db);
        passed++;
    }

    /* 6. A fatal producer error: the API replaces its producer and accepts again. */
    {
        char auth[200];
        const char *h[] = {auth, NULL};
        char *resp = NULL;
        int64_t deadline;
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", a.api_key);
        status = itest_http("POST", "/v1/_faults/kafka-fatal", h, "", &resp, NULL, 0);
        free(resp);
        CHECK(status == 200, "fault injection answered %ld (is the build without faults?)",
              status);
        snprintf(body, sizeof body,
                 "{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"USD\","
                 "\"toAccount\":\"%s\"}",
                 a.account[0]);
        deadline = itest_now_ms() + 20000;
        do {
            status = itest_post_txn(&a, body, NULL, id1, sizeof id1);
            CHECK(status == 202 || status == 503, "after a fatal error: %ld", status);
            if (status != 202)
                usleep(200000);
        } while (status != 202 && itest_now_ms() < deadline);
        CHECK(status == 202, "the API did not recover from a fatal producer error");
        expect_status(&a, id1, "COMPLETED");
        passed++;
    }
    /* 7. A reversal of a transaction the API issued but the worker has not recorded yet is
     * refused with 409 (it would otherwise overtake its original). */
    {
        char err[256], pending[LG_UUID_STRLEN];
        lg_keyring *kr;
        CHECK(lg_crypto_init() == 0, "sodium");
        kr = lg_keyring_load(itest_env("LEDGER_MASTER_KEY_FILE"), err, sizeof err);
        CHECK(kr != NULL, "%s", err);
        lg_txn_id_issue(kr, a.id, "a-key-never-sent", pending);
        lg_keyring_free(kr);
        snprintf(body, sizeof body,
                 "{\"type\":\"REVERSAL\",\"originalTransactionId\":\"%s\",\"reason\":\"x\"}",
                 pending);
        status = itest_post_txn(&a, body, NULL, id1, sizeof id1);
        CHECK(status == 409, "a reversal of a pending transaction answered %ld", status);
        passed++;
    }
    printf("%d passed, 0 failed\n", passed);
    return 0;
}
