/*
 * ledgerctl archive, against the running stack: transactions posted through the API, some of
 * them backdated (created_at moved 400 days back through a superuser connection), then
 *   - DURATIONs other than <n>y|m|d|h are refused (exit 2) and change nothing;
 *   - --dry-run reports what would move and changes nothing;
 *   - archive --older-than 1y in batches of 2 moves exactly the settled old transactions with
 *     all their entries, keeps an old original whose reversal is new (and that reversal), moves an
 *     old reversal together with its old original, leaves every account balance as it was and
 *     every newer row where it was, and `ledgerctl verify` still passes (it sums live and
 *     archived entries);
 *   - GET /v1/transactions/{id} of an archived transaction reads it from the archive (its real
 *     status, never PENDING);
 *   - a second run moves nothing; the worker keeps posting afterwards;
 *   - archiving while the worker posts a flow of transfers on the same accounts loses nothing
 *     and `ledgerctl verify` still passes.
 */
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int ctl(char *out, size_t out_size, const char *args)
{
    char cmd[2048];
    size_t n;
    FILE *p;
    int status;
    snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", LEDGERCTL_PATH, args);
    p = popen(cmd, "r");
    CHECK(p != NULL, "cannot run %s", cmd);
    n = fread(out, 1, out_size - 1, p);
    out[n] = '\0';
    while (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void post(const itest_tenant *t, const char *body, const char *status, char id[64])
{
    itest_submit(t, body, id);
    json_decref(itest_expect_status(t, id, status));
}

static void deposit(const itest_tenant *t, const char *account, const char *amount, char id[64])
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"type\":\"DEPOSIT\",\"amount\":\"%s\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
             amount, account);
    post(t, body, "COMPLETED", id);
}

static void reverse(const itest_tenant *t, const char *original, char id[64])
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"type\":\"REVERSAL\",\"originalTransactionId\":\"%s\",\"reason\":\"archive test\"}",
             original);
    post(t, body, "COMPLETED", id);
}

/* Every account's balance, as one text. */
static char *balances(PGconn *db)
{
    return itest_sql_value(db,
                           "SELECT string_agg(account_number || '=' || balance || '/' ||"
                           " available_balance, ',' ORDER BY account_number) FROM accounts",
                           NULL);
}

static long count(PGconn *db, const char *sql, const char *param)
{
    char *v = itest_sql_value(db, sql, param);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

static void backdate(PGconn *db, const char *id)
{
    CHECK(itest_sql_exec(db,
                         "UPDATE transactions SET created_at = now() - interval '400 days'"
                         " WHERE id = $1::uuid",
                         id) == 1,
          "backdating %s", id);
    itest_sql_exec(db,
                   "UPDATE ledger_entries SET created_at = now() - interval '400 days'"
                   " WHERE transaction_id = $1::uuid",
                   id);
}

static const char *in_table(PGconn *db, const char *id)
{
    if (count(db, "SELECT count(*) FROM transactions WHERE id = $1::uuid", id) == 1)
        return "live";
    if (count(db, "SELECT count(*) FROM transactions_archive WHERE id = $1::uuid", id) == 1)
        return "archive";
    return "nowhere";
}

int main(void)
{
    itest_tenant t;
    char t1[64], t2[64], t3[64], t4[64], r4[64], t5[64], t6[64], r6[64], t8[64];
    char out[4096], want[256], args[512], *before, *after;
    long live_txns, live_entries;
    PGconn *db;
    int rc;
    static const char *const bad[] = {"7x",  "0d",  "1.5y", "-3d",    "7", "y",
                                      "7yy", "07d", " 7d",  "99999y", NULL};

    itest_tenant_create(&t, "it-arch", NULL, 2, "USD");
    deposit(&t, t.account[0], "100.00", t1);
    deposit(&t, t.account[1], "50.00", t2);
    {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"type\":\"TRANSFER\",\"amount\":\"10.00\",\"currency\":\"USD\","
                 "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
                 t.account[0], t.account[1]);
        post(&t, body, "COMPLETED", t3);
    }
    deposit(&t, t.account[0], "5.00", t4);
    reverse(&t, t4, r4);
    deposit(&t, t.account[1], "1.00", t5);
    deposit(&t, t.account[0], "2.00", t6);
    reverse(&t, t6, r6);

    db = itest_tenant_db(&t, NULL);
    /* Old: t1, t2, t3; t4 (whose reversal r4 is new); t6 and its reversal r6. New: r4, t5. */
    backdate(db, t1);
    backdate(db, t2);
    backdate(db, t3);
    backdate(db, t4);
    backdate(db, t6);
    backdate(db, r6);
    before = balances(db);
    live_txns = count(db, "SELECT count(*) FROM transactions", NULL);
    live_entries = count(db, "SELECT count(*) FROM ledger_entries", NULL);
    CHECK(live_txns == 8 && live_entries == 16, "%ld transactions, %ld entries", live_txns,
          live_entries);

    /* 1. Strict durations. */
    for (int i = 0; bad[i] != NULL; i++) {
        snprintf(args, sizeof args, "archive --tenant %s --older-than '%s'", t.slug, bad[i]);
        rc = ctl(out, sizeof out, args);
        CHECK(rc == 2, "--older-than \"%s\" exited %d", bad[i], rc);
    }
    CHECK(count(db, "SELECT count(*) FROM transactions", NULL) == live_txns,
          "a refused duration moved rows");

    /* 2. Dry run. */
    snprintf(args, sizeof args, "archive --tenant %s --older-than 1y --dry-run", t.slug);
    rc = ctl(out, sizeof out, args);
    snprintf(want, sizeof want, "%s would-move 5 10", t.slug);
    CHECK(rc == 0 && strcmp(out, want) == 0, "dry run exited %d: \"%s\", expected \"%s\"", rc, out,
          want);
    CHECK(count(db, "SELECT count(*) FROM transactions", NULL) == live_txns &&
              count(db, "SELECT count(*) FROM transactions_archive", NULL) == 0,
          "the dry run moved rows");

    /* 3. The real run, two transactions a batch. */
    snprintf(args, sizeof args, "archive --tenant %s --older-than 1y --batch 2", t.slug);
    rc = ctl(out, sizeof out, args);
    snprintf(want, sizeof want, "%s moved 5 10", t.slug);
    CHECK(rc == 0 && strcmp(out, want) == 0, "archive exited %d: \"%s\", expected \"%s\"", rc, out,
          want);
    CHECK(count(db, "SELECT count(*) FROM transactions_archive", NULL) == 5 &&
              count(db, "SELECT count(*) FROM ledger_entries_archive", NULL) == 10,
          "archive tables hold the wrong counts");
    CHECK(count(db, "SELECT count(*) FROM transactions", NULL) == live_txns - 5 &&
              count(db, "SELECT count(*) FROM ledger_entries", NULL) == live_entries - 10,
          "live tables hold the wrong counts");
    CHECK(strcmp(in_table(db, t1), "archive") == 0 && strcmp(in_table(db, t2), "archive") == 0 &&
              strcmp(in_table(db, t3), "archive") == 0,
          "old transactions not archived");
    CHECK(strcmp(in_table(db, t6), "archive") == 0 && strcmp(in_table(db, r6), "archive") == 0,
          "an old reversal and its original did not move together");
    CHECK(strcmp(in_table(db, t4), "live") == 0 && strcmp(in_table(db, r4), "live") == 0,
          "an original whose reversal is new moved: t4 %s, r4 %s", in_table(db, t4),
          in_table(db, r4));
    CHECK(strcmp(in_table(db, t5), "live") == 0, "a new transaction moved");
    CHECK(count(db,
                "SELECT count(*) FROM ledger_entries_archive e JOIN transactions_archive t"
                " ON t.id = e.transaction_id",
                NULL) == 10,
          "archived entries without their transaction");
    after = balances(db);
    CHECK(strcmp(before, after) == 0, "balances changed:\n  %s\n  %s", before, after);
    free(after);
    rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
    CHECK(rc == 0, "verify after archiving exited %d: %s", rc, out);

    /* 4. The API reads an archived transaction from the archive. */
    {
        char path[128], auth[200], *body = NULL;
        const char *headers[] = {auth, NULL};
        json_t *o;
        long status;
        snprintf(path, sizeof path, "/v1/transactions/%s", t1);
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", t.api_key);
        status = itest_http("GET", path, headers, NULL, &body, NULL, 0);
        o = json_loads(body, 0, NULL);
        CHECK(status == 200 && o != NULL, "GET an archived transaction: %ld %s", status, body);
        CHECK(strcmp(itest_json_str(o, "status"), "COMPLETED") == 0 &&
                  strcmp(itest_json_str(o, "amount"), "100.00") == 0,
              "an archived transaction reads as %s", body);
        json_decref(o);
        free(body);
    }

    /* 4b. An archived transaction cannot be reversed: 422, not "pending, retry". */
    {
        char auth[200], body[256], ct[128], *resp = NULL;
        const char *hp[] = {auth, "Content-Type: application/json", NULL};
        long status;
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", t.api_key);
        snprintf(body, sizeof body,
                 "{\"type\":\"REVERSAL\",\"originalTransactionId\":\"%s\","
                 "\"reason\":\"archived\"}",
                 t1);
        status = itest_http("POST", "/v1/transactions", hp, body, &resp, ct, sizeof ct);
        CHECK(status == 422 && resp != NULL && strstr(resp, "/problems/original-archived") != NULL,
              "a reversal of an archived transaction answered %ld %s", status, resp);
        free(resp);
    }

    /* 5. Nothing left to move; the ledger goes on. */
    rc = ctl(out, sizeof out, args);
    snprintf(want, sizeof want, "%s moved 0 0", t.slug);
    CHECK(rc == 0 && strcmp(out, want) == 0, "second run: \"%s\"", out);
    deposit(&t, t.account[0], "3.00", t8);
    rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
    CHECK(rc == 0, "verify after a new deposit exited %d: %s", rc, out);

    /* 6. While the worker posts: a flow of transfers on the same accounts runs while archive
     * moves 20 more old deposits, three a batch. Nothing is lost, nothing breaks. */
    {
        char bodies_buf[20][256], ids[20][64];
        const char *bodies[20];
        long statuses[20], base_new, now_new = 0;
        int64_t deadline;
        itest_flow flow;
        for (int i = 0; i < 20; i++) {
            snprintf(bodies_buf[i], sizeof bodies_buf[i],
                     "{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"USD\","
                     "\"toAccount\":\"%s\"}",
                     t.account[i % 2]);
            bodies[i] = bodies_buf[i];
        }
        itest_submit_parallel(&t, bodies, 20, ids, statuses);
        for (int i = 0; i < 20; i++) {
            CHECK(statuses[i] == 202, "deposit %d answered %ld", i, statuses[i]);
            json_decref(itest_expect_status(&t, ids[i], "COMPLETED"));
            backdate(db, ids[i]);
        }
        base_new = count(db,
                         "SELECT count(*) FROM transactions WHERE created_at > now() - "
                         "interval '1 day'",
                         NULL);
        memset(&flow, 0, sizeof flow);
        flow.t = &t;
        flow.n_accounts = 2;
        flow.n_commands = 150;
        flow.n_threads = 2;
        flow.paced_ms = 3000;
        flow.max_amount_minor = 500;
        flow.fail_on_5xx = 1;
        itest_flow_start(&flow);
        snprintf(args, sizeof args, "archive --tenant %s --older-than 1y --batch 3", t.slug);
        rc = ctl(out, sizeof out, args);
        snprintf(want, sizeof want, "%s moved 20 40", t.slug);
        CHECK(rc == 0 && strcmp(out, want) == 0, "archive under load exited %d: \"%s\"", rc, out);
        itest_flow_join(&flow);
        deadline = itest_now_ms() + 60000;
        while (itest_now_ms() < deadline) {
            now_new = count(db,
                            "SELECT count(*) FROM transactions WHERE created_at > now() - "
                            "interval '1 day'",
                            NULL);
            if (now_new >= base_new + (long)flow.accepted.n)
                break;
            itest_sleep_ms(200);
        }
        CHECK(now_new == base_new + (long)flow.accepted.n, "%ld of %zu transfers recorded",
              now_new - base_new, flow.accepted.n);
        CHECK(count(db, "SELECT count(*) FROM transactions_archive", NULL) == 25,
              "the archive holds the wrong count after the run under load");
        rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
        CHECK(rc == 0, "verify after archiving under load exited %d: %s", rc, out);
        printf("archive under load: 20 moved while %d transfers were posted\n", flow.n_accepted);
        itest_idset_free(&flow.accepted);
    }
    free(before);
    PQfinish(db);
    printf("archive: ok\n");
    return 0;
}
