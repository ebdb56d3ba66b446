/*
 * The double-entry invariants in a tenant database after a series of deposits: every
 * transaction's debits equal its credits, every balance equals the sum of its entries, and
 * `ledgerctl verify` agrees - and notices when a balance is tampered with.
 */
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    itest_tenant t;
    char id[64], body[256], out[4096];
    const char *amounts[] = {"0.01", "19.99", "250.00", "1000000.50", "7.35"};
    PGconn *db;
    char *v;
    int rc;

    itest_tenant_create(&t, "it-double", NULL, 2, "USD");
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        json_t *txn;
        snprintf(body, sizeof body,
                 "{\"type\":\"DEPOSIT\",\"amount\":\"%s\",\"currency\":\"USD\","
                 "\"toAccount\":\"%s\"}",
                 amounts[i], t.account[i % 2]);
        CHECK(itest_post_txn(&t, body, NULL, id, sizeof id) == 202, "deposit %zu not accepted",
              i);
        txn = itest_wait_txn(&t, id, 15000);
        CHECK(strcmp(json_string_value(json_object_get(txn, "status")), "COMPLETED") == 0,
              "deposit %zu is %s", i, json_string_value(json_object_get(txn, "status")));
        json_decref(txn);
    }

    db = itest_tenant_db(&t, NULL);
    v = itest_sql_value(db,
                        "SELECT count(*)::text FROM (SELECT transaction_id FROM ledger_entries"
                        " GROUP BY transaction_id HAVING"
                        " sum(amount) FILTER (WHERE entry_type = 'DEBIT') IS DISTINCT FROM"
                        " sum(amount) FILTER (WHERE entry_type = 'CREDIT')) x",
                        NULL);
    CHECK(strcmp(v, "0") == 0, "%s transaction(s) with debits != credits", v);
    free(v);
    v = itest_sql_value(db, "SELECT count(*)::text FROM ledger_entries", NULL);
    CHECK(strcmp(v, "10") == 0, "%s entries, expected 10", v);
    free(v);
    v = itest_sql_value(db, "SELECT sum(balance)::text FROM accounts WHERE gl_code = '2000'",
                        NULL);
    CHECK(strcmp(v, "1000277.85") == 0, "customer balances sum to %s", v);
    free(v);
    v = itest_sql_value(db, "SELECT balance::text FROM accounts WHERE account_number = $1",
                        "GL-1000-USD");
    CHECK(strcmp(v, "1000277.85") == 0, "cash is %s", v);
    free(v);

    rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
    CHECK(rc == 0, "verify exited %d on a sound ledger: %s", rc, out);

    /* Tamper with a balance: verify must fail and name the tenant and the account. */
    PQclear(PQexecParams(db, "UPDATE accounts SET balance = balance + 0.01 WHERE account_number = $1",
                         1, NULL, (const char *[]){t.account[0]}, NULL, NULL, 0));
    rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
    CHECK(rc == 1, "verify exited %d on a tampered ledger", rc);
    CHECK(strstr(out, t.slug) != NULL && strstr(out, t.account[0]) != NULL,
          "verify did not name the tenant and the account: %s", out);
    PQclear(PQexecParams(db, "UPDATE accounts SET balance = balance - 0.01 WHERE account_number = $1",
                         1, NULL, (const char *[]){t.account[0]}, NULL, NULL, 0));
    /* Tamper with one entry's amount: debits no longer equal credits. */
    PQclear(PQexec(db, "UPDATE ledger_entries SET amount = amount + 1 WHERE entry_seq ="
                       " (SELECT min(entry_seq) FROM ledger_entries)"));
    rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
    CHECK(rc == 1 && strstr(out, "debits differ from credits") != NULL,
          "verify missed an unbalanced transaction (exit %d): %s", rc, out);
    PQclear(PQexec(db, "UPDATE ledger_entries SET amount = amount - 1 WHERE entry_seq ="
                       " (SELECT min(entry_seq) FROM ledger_entries)"));
    rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
    CHECK(rc == 0, "verify exited %d after the repair: %s", rc, out);
    PQfinish(db);
    printf("1 passed, 0 failed\n");
    return 0;
}
