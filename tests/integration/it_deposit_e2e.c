/*
 * A deposit end to end: POST /v1/transactions answers 202 with an id once Kafka has the command;
 * the worker applies it (a Transaction, two LedgerEntries: debit cash 1000, credit the customer
 * 2000, the balance updated); GET shows COMPLETED; exactly one TransactionResult and two
 * LedgerEntryEvents reach Kafka for it, readable with read_committed and decodable with the
 * schemas.
 */
#include "itest.h"
#include "lg_avro.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *txn_id;
    int results;
    int completed;
    int entries;
    int64_t credited;
} seen;

static void on_result(const void *key, size_t key_len, const void *value, size_t len, void *arg)
{
    seen *s = arg;
    lg_txn_result r;
    char err[256];
    (void)key;
    (void)key_len;
    CHECK(lg_avro_decode_result(value, len, &r, err, sizeof err) == 0, "result: %s", err);
    if (strcmp(r.transaction_id, s->txn_id) == 0) {
        s->results++;
        s->completed += r.status == LG_RESULT_COMPLETED;
    }
    lg_avro_free_result(&r);
}

static void on_entry(const void *key, size_t key_len, const void *value, size_t len, void *arg)
{
    seen *s = arg;
    lg_ledger_event ev;
    char err[256];
    (void)key;
    (void)key_len;
    CHECK(lg_avro_decode_ledger(value, len, &ev, err, sizeof err) == 0, "ledger: %s", err);
    if (strcmp(ev.transaction_id, s->txn_id) == 0) {
        s->entries++;
        if (ev.entry_type == LG_ENTRY_CREDIT && strcmp(ev.account_code, "2000") == 0)
            s->credited += ev.amount_minor;
    }
    lg_avro_free_ledger(&ev);
}

int main(void)
{
    itest_tenant t;
    char id[64], body[256], err[256];
    PGconn *db;
    char *v;
    json_t *txn;
    int64_t started;
    seen s = {0};
    long status;

    CHECK(lg_avro_init(err, sizeof err) == 0, "%s", err);
    itest_tenant_create(&t, "it-deposit", NULL, 1, "USD");
    snprintf(body, sizeof body,
             "{\"type\":\"DEPOSIT\",\"amount\":\"100.25\",\"currency\":\"USD\","
             "\"toAccount\":\"%s\",\"description\":\"first deposit\"}",
             t.account[0]);
    started = itest_now_ms();
    status = itest_post_txn(&t, body, NULL, id, sizeof id);
    CHECK(status == 202, "POST answered %ld", status);
    CHECK(strlen(id) == 36, "no transaction id in the 202 body");

    txn = itest_wait_txn(&t, id, 15000);
    CHECK(strcmp(json_string_value(json_object_get(txn, "status")), "COMPLETED") == 0,
          "status is %s", json_string_value(json_object_get(txn, "status")));
    printf("deposit COMPLETED %lld ms after the POST\n", (long long)(itest_now_ms() - started));
    CHECK(strcmp(json_string_value(json_object_get(txn, "amount")), "100.25") == 0, "amount");
    CHECK(strcmp(json_string_value(json_object_get(txn, "toAccount")), t.account[0]) == 0,
          "toAccount");
    CHECK(strncmp(json_string_value(json_object_get(txn, "transactionRef")), "TXN-", 4) == 0,
          "transactionRef");
    json_decref(txn);

    db = itest_tenant_db(&t, NULL);
    v = itest_sql_value(db, "SELECT balance::text FROM accounts WHERE account_number = $1",
                        t.account[0]);
    CHECK(strcmp(v, "100.25") == 0, "customer balance is %s", v);
    free(v);
    v = itest_sql_value(db, "SELECT balance::text FROM accounts WHERE account_number = $1",
                        "GL-1000-USD");
    CHECK(strcmp(v, "100.25") == 0, "cash balance is %s", v);
    free(v);
    v = itest_sql_value(db,
                        "SELECT string_agg(entry_type || ' ' || account_code || ' ' || amount ||"
                        " ' ' || balance_after, ', ' ORDER BY entry_seq)"
                        " FROM ledger_entries WHERE transaction_id = $1",
                        id);
    CHECK(strcmp(v, "DEBIT 1000 100.25 100.25, CREDIT 2000 100.25 100.25") == 0, "entries: %s",
          v);
    free(v);
    PQfinish(db);

    /* Exactly one result and two ledger events, for a consumer that reads committed data. */
    {
        char prefix[80];
        s.txn_id = id;
        snprintf(prefix, sizeof prefix, "%s:", t.id);
        itest_consume("txn.results", prefix, 2000, on_result, &s);
        itest_consume("ledger.entries", prefix, 2000, on_entry, &s);
    }
    CHECK(s.results == 1 && s.completed == 1, "%d results, %d COMPLETED", s.results, s.completed);
    CHECK(s.entries == 2 && s.credited == 10025, "%d ledger events, %lld credited", s.entries,
          (long long)s.credited);

    /* A command still in flight reads PENDING, never 404; a made-up id is 404. */
    {
        char auth[200];
        const char *h[] = {auth, NULL};
        char *resp = NULL;
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", t.api_key);
        status = itest_http("GET", "/v1/transactions/0b9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1", h,
                            NULL, &resp, NULL, 0);
        CHECK(status == 404, "a made-up id answered %ld", status);
        free(resp);
    }
    lg_avro_shutdown();
    printf("1 passed, 0 failed\n");
    return 0;
}
