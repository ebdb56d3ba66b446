/*
 * Order: commands on one account are applied in the order the API accepted them. On an empty
 * account, 200 pairs of a DEPOSIT and a WITHDRAWAL of the same amount are sent back to back,
 * each POST right after the previous 202, never waiting for an outcome. Applied in order every
 * withdrawal finds its deposit and both complete; one withdrawal applied before its deposit
 * would fail for lack of funds. At the end the account is at 0.00, no balance_after was ever
 * negative, and the account's entries follow the order of acceptance exactly.
 */
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PAIRS = 200 };

int main(void)
{
    static char ids[2 * PAIRS][64];
    itest_tenant t;
    char body[512], out[4096], *v;
    PGconn *db;
    int passed = 0, completed = 0;
    int64_t started;
    const char *acct;

    itest_tenant_create(&t, "it-order", NULL, 1, "USD");
    acct = t.account[0];
    db = itest_tenant_db(&t, NULL);

    started = itest_now_ms();
    for (int i = 0; i < PAIRS; i++) {
        /* Different amounts, from 0.01 up to a few thousand. */
        long cents = 1 + (long)((i * 7919L) % 350000);
        char amount[32];
        snprintf(amount, sizeof amount, "%ld.%02ld", cents / 100, cents % 100);
        snprintf(body, sizeof body,
                 "{\"type\":\"DEPOSIT\",\"amount\":\"%s\",\"currency\":\"USD\","
                 "\"toAccount\":\"%s\",\"description\":\"pair %d in\"}",
                 amount, acct, i);
        itest_submit(&t, body, ids[2 * i]);
        snprintf(body, sizeof body,
                 "{\"type\":\"WITHDRAWAL\",\"amount\":\"%s\",\"currency\":\"USD\","
                 "\"fromAccount\":\"%s\",\"description\":\"pair %d out\"}",
                 amount, acct, i);
        itest_submit(&t, body, ids[2 * i + 1]);
    }
    printf("%d commands accepted in %lld ms\n", 2 * PAIRS, (long long)(itest_now_ms() - started));

    /* Every one COMPLETED, as GET shows it. */
    for (int i = 0; i < 2 * PAIRS; i++) {
        json_t *o = itest_wait_txn(&t, ids[i], 60000);
        CHECK(strcmp(itest_json_str(o, "status"), "COMPLETED") == 0, "%s %d (%s) is %s: %s %s",
              i % 2 ? "withdrawal" : "deposit", i / 2, ids[i], itest_json_str(o, "status"),
              itest_json_str(o, "failureCode"), itest_json_str(o, "failureReason"));
        json_decref(o);
        completed++;
    }
    printf("all %d COMPLETED %lld ms after the first POST\n", completed,
           (long long)(itest_now_ms() - started));
    passed++;

    v = itest_balance(db, acct);
    CHECK(strcmp(v, "0.00") == 0, "the account ends at %s", v);
    free(v);
    v = itest_sql_value(db,
                        "SELECT count(*) || ' ' || min(e.balance_after) || ' ' ||"
                        " count(*) FILTER (WHERE e.balance_after < 0)"
                        " FROM ledger_entries e JOIN accounts a ON a.id = e.account_id"
                        " WHERE a.account_number = $1",
                        acct);
    CHECK(strcmp(v, "400 0.00 0") == 0, "entries, lowest balance_after, negatives: %s", v);
    free(v);
    passed++;

    /* The account's entries, in posting order, are the commands in the order of acceptance:
     * a credit and then a debit of the same amount, balance_after the amount and then 0.00. */
    {
        PGresult *r = PQexecParams(db,
                                   "SELECT e.transaction_id, e.entry_type, e.amount::text,"
                                   " e.balance_after::text"
                                   " FROM ledger_entries e JOIN accounts a ON a.id = e.account_id"
                                   " WHERE a.account_number = $1 ORDER BY e.entry_seq",
                                   1, NULL, (const char *[]){acct}, NULL, NULL, 0);
        CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 2 * PAIRS, "entries: %s",
              PQerrorMessage(db));
        for (int i = 0; i < 2 * PAIRS; i++) {
            const char *txn = PQgetvalue(r, i, 0), *type = PQgetvalue(r, i, 1);
            const char *amount = PQgetvalue(r, i, 2), *after = PQgetvalue(r, i, 3);
            CHECK(strcmp(txn, ids[i]) == 0,
                  "entry %d belongs to %s, but the %d-th accepted command is %s", i, txn, i + 1,
                  ids[i]);
            CHECK(strcmp(type, i % 2 ? "DEBIT" : "CREDIT") == 0, "entry %d is a %s", i, type);
            if (i % 2 == 0)
                CHECK(strcmp(after, amount) == 0, "deposit %d: balance_after %s, amount %s", i / 2,
                      after, amount);
            else
                CHECK(strcmp(after, "0.00") == 0 && strcmp(amount, PQgetvalue(r, i - 1, 2)) == 0,
                      "withdrawal %d: balance_after %s, amount %s", i / 2, after, amount);
        }
        PQclear(r);
    }
    /* transactionRef numbers follow the same order (they are assigned as commands apply). */
    {
        char list[2 * PAIRS * 40 + 4];
        size_t len = 0;
        for (int i = 0; i < 2 * PAIRS; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? "," : "{", ids[i]);
        snprintf(list + len, sizeof list - len, "}");
        v = itest_sql_value(db,
                            "SELECT count(*) FILTER (WHERE ref_rank <> accept_rank) FROM"
                            " (SELECT rank() OVER (ORDER BY transaction_ref) AS ref_rank,"
                            "  array_position($1::uuid[], id) AS accept_rank"
                            "  FROM transactions WHERE id = ANY($1::uuid[])) x",
                            list);
        CHECK(strcmp(v, "0") == 0, "%s transactions whose transactionRef is out of order", v);
        free(v);
    }
    passed++;

    CHECK(itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL) == 0, "verify: %s",
          out);
    PQfinish(db);
    printf("%d passed, 0 failed\n", passed);
    return 0;
}
