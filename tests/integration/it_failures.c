/*
 * No silent failure: every business rule that refuses a command records it FAILED with a stable
 * failureCode and a reason a person can act on (GET /v1/transactions/{id}), posts no ledger
 * entry and leaves every balance of the tenant as it was:
 *
 *   INSUFFICIENT_FUNDS   plain; within / beyond an overdraft limit; below a minimum balance
 *   ACCOUNT_FROZEN       a debit (withdrawal, transfer, reversal) - while credits still land
 *   ACCOUNT_CLOSED       credits and debits; ACCOUNT_INACTIVE likewise
 *   CURRENCY_MISMATCH    EUR to a USD account, USD to a EUR account; CURRENCY_NOT_SUPPORTED
 *   UNKNOWN_ACCOUNT      a made-up account, and the bank's own internal accounts
 *   ALREADY_REVERSED     a second reversal (also when two race)
 *   NOT_REVERSIBLE       reversing a reversal, or a FAILED transaction
 *   UNKNOWN_TRANSACTION  reversing an id the tenant never recorded
 *   AMOUNT_OVER_LIMIT    a balance that would leave NUMERIC(15,2)
 *   TENANT_SUSPENDED     a command accepted just before the API noticed the suspension; then
 *                        the API refuses with 403 /problems/tenant-suspended
 *
 * and a burst of good and bad commands applied in the same batches: the bad ones fail, the
 * good ones complete. `ledgerctl verify` passes at the end.
 */
#include "itest.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed;

static itest_tenant t;
static PGconn *db;
static const char *A; /* USD checking, funded */

static char *books(void)
{
    return itest_sql_value(db,
                           "SELECT string_agg(account_number || '=' || balance || '/' ||"
                           " available_balance, ' ' ORDER BY account_number) FROM accounts",
                           NULL);
}

static void expect_balance(const char *account, const char *want)
{
    char *v = itest_balance(db, account);
    CHECK(strcmp(v, want) == 0, "balance of %s is %s, expected %s", account, v, want);
    free(v);
}

static void ok(const char *json, char id[64])
{
    itest_submit(&t, json, id);
    json_decref(itest_expect_status(&t, id, "COMPLETED"));
}

/* The outcome of id is FAILED with code, a reason that contains reason_part (and mentions
 * must_name, when not NULL), in GET and in the table, and it posted nothing. */
static void expect_failed(const itest_tenant *tt, PGconn *conn, const char *what, const char *id,
                          const char *code, const char *reason_part, const char *must_name)
{
    json_t *o = itest_expect_status(tt, id, "FAILED");
    const char *reason = itest_json_str(o, "failureReason");
    char *v;
    CHECK(strcmp(itest_json_str(o, "failureCode"), code) == 0, "%s: failureCode %s, expected %s",
          what, itest_json_str(o, "failureCode"), code);
    CHECK(strlen(reason) >= 15 && strstr(reason, reason_part) != NULL,
          "%s: failureReason \"%s\" does not say \"%s\"", what, reason, reason_part);
    CHECK(must_name == NULL || strstr(reason, must_name) != NULL,
          "%s: failureReason \"%s\" does not name %s", what, reason, must_name);
    CHECK(itest_json_str(o, "processedAt")[0] != '\0', "%s: no processedAt", what);
    json_decref(o);
    v = itest_sql_value(conn,
                        "SELECT t.status || ' ' || t.failure_code || ' ' || (SELECT count(*) FROM"
                        " ledger_entries e WHERE e.transaction_id = t.id)"
                        " FROM transactions t WHERE t.id = $1",
                        id);
    {
        char want[128];
        snprintf(want, sizeof want, "FAILED %s 0", code);
        CHECK(strcmp(v, want) == 0, "%s: recorded as %s, expected %s", what, v, want);
    }
    free(v);
}

/* Submits json, expects it to fail with code, and checks that no balance moved. Fills id[64]
 * when id is not NULL. */
static void fails(const char *what, const char *json, const char *code, const char *reason_part,
                  const char *must_name, char *id_out)
{
    char id[64], *before = books(), *after;
    itest_submit(&t, json, id);
    expect_failed(&t, db, what, id, code, reason_part, must_name);
    after = books();
    CHECK(strcmp(before, after) == 0, "%s: balances moved\n  before %s\n  after  %s", what, before,
          after);
    free(before);
    free(after);
    if (id_out != NULL)
        snprintf(id_out, 64, "%s", id);
    passed++;
}

#define BODY(...) (snprintf(body, sizeof body, __VA_ARGS__), body)

static void insufficient_funds(char failed_id[64])
{
    char body[512], o_acct[32], m_acct[32], id[64];

    fails("withdrawal beyond the balance",
          BODY("{\"type\":\"WITHDRAWAL\",\"amount\":\"100.01\",\"currency\":\"USD\","
               "\"fromAccount\":\"%s\"}",
               A),
          "INSUFFICIENT_FUNDS", "lacks the funds", A, failed_id);
    fails("transfer beyond the balance",
          BODY("{\"type\":\"TRANSFER\",\"amount\":\"250.00\",\"currency\":\"USD\","
               "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
               A, t.account[1]),
          "INSUFFICIENT_FUNDS", "lacks the funds", A, NULL);

    /* An overdraft limit of 50.00: a debit may take the balance down to -50.00, not below. */
    itest_account_open(&t, "CHECKING", "USD", "50.00", NULL, o_acct);
    ok(BODY("{\"type\":\"DEPOSIT\",\"amount\":\"10.00\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
            o_acct),
       id);
    ok(BODY("{\"type\":\"WITHDRAWAL\",\"amount\":\"55.00\",\"currency\":\"USD\","
            "\"fromAccount\":\"%s\"}",
            o_acct),
       id);
    expect_balance(o_acct, "-45.00");
    {
        char *v = itest_entries(db, id), want[256];
        snprintf(want, sizeof want,
                 "DEBIT %s 2000 55.00 -45.00, CREDIT GL-1000-USD 1000 55.00 55.00", o_acct);
        CHECK(strcmp(v, want) == 0, "withdrawal into the overdraft posted %s", v);
        free(v);
    }
    passed++;
    fails("withdrawal beyond the overdraft limit",
          BODY("{\"type\":\"WITHDRAWAL\",\"amount\":\"5.01\",\"currency\":\"USD\","
               "\"fromAccount\":\"%s\"}",
               o_acct),
          "INSUFFICIENT_FUNDS", "overdraft limit", o_acct, NULL);
    ok(BODY("{\"type\":\"WITHDRAWAL\",\"amount\":\"5.00\",\"currency\":\"USD\","
            "\"fromAccount\":\"%s\"}",
            o_acct),
       id);
    expect_balance(o_acct, "-50.00");
    passed++;

    /* A minimum balance of 20.00: a debit may not take the balance below it. */
    itest_account_open(&t, "SAVINGS", "USD", NULL, "20.00", m_acct);
    ok(BODY("{\"type\":\"DEPOSIT\",\"amount\":\"100.00\",\"currency\":\"USD\","
            "\"toAccount\":\"%s\"}",
            m_acct),
       id);
    fails("withdrawal below the minimum balance",
          BODY("{\"type\":\"WITHDRAWAL\",\"amount\":\"80.01\",\"currency\":\"USD\","
               "\"fromAccount\":\"%s\"}",
               m_acct),
          "INSUFFICIENT_FUNDS", "minimum balance", m_acct, NULL);
    fails("fee below the minimum balance",
          BODY("{\"type\":\"FEE\",\"amount\":\"80.01\",\"currency\":\"USD\","
               "\"fromAccount\":\"%s\"}",
               m_acct),
          "INSUFFICIENT_FUNDS", "minimum balance", m_acct, NULL);
    ok(BODY("{\"type\":\"WITHDRAWAL\",\"amount\":\"80.00\",\"currency\":\"USD\","
            "\"fromAccount\":\"%s\"}",
            m_acct),
       id);
    expect_balance(m_acct, "20.00");
    passed++;
}

static void frozen_closed_inactive(void)
{
    char body[512], z[32], c[32], in[32], id[64], dep_z[64];

    itest_account_open(&t, "CHECKING", "USD", NULL, NULL, z);
    ok(BODY("{\"type\":\"DEPOSIT\",\"amount\":\"50.00\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
            z),
       id);
    itest_account_set_status(db, z, "FROZEN");
    fails("withdrawal from a frozen account",
          BODY("{\"type\":\"WITHDRAWAL\",\"amount\":\"1.00\",\"currency\":\"USD\","
               "\"fromAccount\":\"%s\"}",
               z),
          "ACCOUNT_FROZEN", "frozen", z, NULL);
    fails("transfer from a frozen account",
          BODY("{\"type\":\"TRANSFER\",\"amount\":\"1.00\",\"currency\":\"USD\","
               "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
               z, A),
          "ACCOUNT_FROZEN", "frozen", z, NULL);
    /* Credits still reach a frozen account. */
    ok(BODY("{\"type\":\"DEPOSIT\",\"amount\":\"5.00\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
            z),
       dep_z);
    ok(BODY("{\"type\":\"TRANSFER\",\"amount\":\"1.00\",\"currency\":\"USD\","
            "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
            A, z),
       id);
    expect_balance(z, "56.00");
    expect_balance(A, "99.00");
    passed++;
    /* Reversing that deposit would debit the frozen account: refused, the original stays. */
    fails("reversal debiting a frozen account",
          BODY("{\"type\":\"REVERSAL\",\"originalTransactionId\":\"%s\",\"reason\":\"error\"}",
               dep_z),
          "ACCOUNT_FROZEN", "frozen", z, NULL);
    json_decref(itest_expect_status(&t, dep_z, "COMPLETED"));

    itest_account_open(&t, "CHECKING", "USD", NULL, NULL, c);
    ok(BODY("{\"type\":\"DEPOSIT\",\"amount\":\"30.00\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
            c),
       id);
    itest_account_set_status(db, c, "CLOSED");
    fails("deposit to a closed account",
          BODY("{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"USD\","
               "\"toAccount\":\"%s\"}",
               c),
          "ACCOUNT_CLOSED", "closed", c, NULL);
    fails("withdrawal from a closed account",
          BODY("{\"type\":\"WITHDRAWAL\",\"amount\":\"1.00\",\"currency\":\"USD\","
               "\"fromAccount\":\"%s\"}",
               c),
          "ACCOUNT_CLOSED", "closed", c, NULL);
    fails("transfer to a closed account",
          BODY("{\"type\":\"TRANSFER\",\"amount\":\"1.00\",\"currency\":\"USD\","
               "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
               A, c),
          "ACCOUNT_CLOSED", "closed", c, NULL);
    fails("interest to a closed account",
          BODY("{\"type\":\"INTEREST\",\"amount\":\"1.00\",\"currency\":\"USD\","
               "\"toAccount\":\"%s\"}",
               c),
          "ACCOUNT_CLOSED", "closed", c, NULL);

    itest_account_open(&t, "CHECKING", "USD", NULL, NULL, in);
    itest_account_set_status(db, in, "INACTIVE");
    fails("deposit to an inactive account",
          BODY("{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"USD\","
               "\"toAccount\":\"%s\"}",
               in),
          "ACCOUNT_INACTIVE", "inactive", in, NULL);
}

static void currency_and_accounts(void)
{
    char body[512], e[32], g[32];

    itest_account_open(&t, "SAVINGS", "EUR", NULL, NULL, e);
    fails("EUR deposit to a USD account",
          BODY("{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"EUR\","
               "\"toAccount\":\"%s\"}",
               A),
          "CURRENCY_MISMATCH", "another currency", A, NULL);
    fails("USD deposit to a EUR account",
          BODY("{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"USD\","
               "\"toAccount\":\"%s\"}",
               e),
          "CURRENCY_MISMATCH", "another currency", e, NULL);
    fails("USD transfer to a EUR account",
          BODY("{\"type\":\"TRANSFER\",\"amount\":\"1.00\",\"currency\":\"USD\","
               "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
               A, e),
          "CURRENCY_MISMATCH", "another currency", e, NULL);
    /* An account in a currency the bank keeps no general ledger for. */
    itest_account_open(&t, "CHECKING", "GBP", NULL, NULL, g);
    fails("deposit in a currency without a ledger",
          BODY("{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"GBP\","
               "\"toAccount\":\"%s\"}",
               g),
          "CURRENCY_NOT_SUPPORTED", "no GBP ledger", NULL, NULL);

    fails("deposit to an account that does not exist",
          BODY("{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"USD\","
               "\"toAccount\":\"1000000009\"}"),
          "UNKNOWN_ACCOUNT", "does not exist", "1000000009", NULL);
    fails("transfer to an account that does not exist",
          BODY("{\"type\":\"TRANSFER\",\"amount\":\"1.00\",\"currency\":\"USD\","
               "\"fromAccount\":\"%s\",\"toAccount\":\"1000000009\"}",
               A),
          "UNKNOWN_ACCOUNT", "does not exist", "1000000009", NULL);
    /* The bank's internal accounts are not customer accounts: no command names them. */
    fails("deposit to the bank's cash account",
          BODY("{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"USD\","
               "\"toAccount\":\"GL-1000-USD\"}"),
          "UNKNOWN_ACCOUNT", "does not exist", "GL-1000-USD", NULL);
    fails("withdrawal from the bank's fee income",
          BODY("{\"type\":\"WITHDRAWAL\",\"amount\":\"1.00\",\"currency\":\"USD\","
               "\"fromAccount\":\"GL-4000-USD\"}"),
          "UNKNOWN_ACCOUNT", "does not exist", "GL-4000-USD", NULL);
}

static void reversals(const char *failed_id)
{
    char body[512], dep[64], rev[64], unknown[40];
    unsigned char r[16];

    ok(BODY("{\"type\":\"DEPOSIT\",\"amount\":\"10.00\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
            A),
       dep);
    ok(BODY("{\"type\":\"REVERSAL\",\"originalTransactionId\":\"%s\",\"reason\":\"duplicate\"}",
            dep),
       rev);
    json_decref(itest_expect_status(&t, dep, "REVERSED"));
    fails(
        "second reversal",
        BODY("{\"type\":\"REVERSAL\",\"originalTransactionId\":\"%s\",\"reason\":\"again\"}", dep),
        "ALREADY_REVERSED", "reversed before", dep, NULL);
    fails("reversal of a reversal",
          BODY("{\"type\":\"REVERSAL\",\"originalTransactionId\":\"%s\",\"reason\":\"undo\"}", rev),
          "NOT_REVERSIBLE", "itself a reversal", rev, NULL);
    fails("reversal of a failed transaction",
          BODY("{\"type\":\"REVERSAL\",\"originalTransactionId\":\"%s\",\"reason\":\"undo\"}",
               failed_id),
          "NOT_REVERSIBLE", "did not complete", failed_id, NULL);
    randombytes_buf(r, sizeof r);
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(unknown, sizeof unknown,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
             r[15]);
    fails("reversal of an unknown transaction",
          BODY("{\"type\":\"REVERSAL\",\"originalTransactionId\":\"%s\",\"reason\":\"undo\"}",
               unknown),
          "UNKNOWN_TRANSACTION", "does not exist", unknown, NULL);
    json_decref(itest_expect_status(&t, dep, "REVERSED"));

    /* Two reversals of one transaction at once: exactly one applies. */
    ok(BODY("{\"type\":\"DEPOSIT\",\"amount\":\"3.00\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
            A),
       dep);
    {
        char b0[256], b1[256], ids[2][64], *before = books(), *after;
        const char *bodies[2] = {b0, b1};
        long st[2];
        int completed = 0, already = 0;
        snprintf(b0, sizeof b0,
                 "{\"type\":\"REVERSAL\",\"originalTransactionId\":\"%s\",\"reason\":\"one\"}",
                 dep);
        snprintf(b1, sizeof b1,
                 "{\"type\":\"REVERSAL\",\"originalTransactionId\":\"%s\",\"reason\":\"two\"}",
                 dep);
        itest_submit_parallel(&t, bodies, 2, ids, st);
        for (int i = 0; i < 2; i++) {
            json_t *o;
            CHECK(st[i] == 202, "racing reversal %d answered %ld", i, st[i]);
            o = itest_wait_txn(&t, ids[i], 30000);
            completed += strcmp(itest_json_str(o, "status"), "COMPLETED") == 0;
            already += strcmp(itest_json_str(o, "failureCode"), "ALREADY_REVERSED") == 0;
            json_decref(o);
        }
        CHECK(completed == 1 && already == 1, "racing reversals: %d COMPLETED, %d ALREADY_REVERSED",
              completed, already);
        after = books();
        CHECK(strcmp(before, after) != 0, "no reversal applied");
        free(before);
        free(after);
    }
    expect_balance(A, "99.00");
    passed++;
}

/* Good and bad commands in flight together: the worker applies them in shared batches (rows
 * written by one PostgreSQL transaction share xmin); each bad one fails, every good one lands. */
static void mixed_burst(void)
{
    enum { N = 48 };
    char bodies[N][256], ids[N][64], *before, *v;
    const char *ptrs[N];
    const char *want[N];
    long st[N];
    int mixed = 0;
    char o_acct[32];

    itest_account_open(&t, "CHECKING", "USD", NULL, NULL, o_acct);
    for (int round = 0; round < 3 && !mixed; round++) {
        char id_list[N * 40 + 4];
        size_t len = 0;
        before = itest_balance(db, A);
        for (int i = 0; i < N; i++) {
            switch (i % 6) {
            case 0:
                snprintf(bodies[i], sizeof bodies[i],
                         "{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"USD\","
                         "\"toAccount\":\"%s\"}",
                         A);
                want[i] = NULL;
                break;
            case 1:
                snprintf(bodies[i], sizeof bodies[i],
                         "{\"type\":\"WITHDRAWAL\",\"amount\":\"1000000.00\",\"currency\":\"USD\","
                         "\"fromAccount\":\"%s\"}",
                         A);
                want[i] = "INSUFFICIENT_FUNDS";
                break;
            case 2:
                snprintf(bodies[i], sizeof bodies[i],
                         "{\"type\":\"TRANSFER\",\"amount\":\"0.25\",\"currency\":\"USD\","
                         "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
                         A, o_acct);
                want[i] = NULL;
                break;
            case 3:
                snprintf(bodies[i], sizeof bodies[i],
                         "{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"EUR\","
                         "\"toAccount\":\"%s\"}",
                         A);
                want[i] = "CURRENCY_MISMATCH";
                break;
            case 4:
                snprintf(bodies[i], sizeof bodies[i],
                         "{\"type\":\"FEE\",\"amount\":\"0.10\",\"currency\":\"USD\","
                         "\"fromAccount\":\"%s\"}",
                         A);
                want[i] = NULL;
                break;
            default:
                snprintf(bodies[i], sizeof bodies[i],
                         "{\"type\":\"TRANSFER\",\"amount\":\"1.00\",\"currency\":\"USD\","
                         "\"fromAccount\":\"%s\",\"toAccount\":\"2000000008\"}",
                         A);
                want[i] = "UNKNOWN_ACCOUNT";
                break;
            }
            ptrs[i] = bodies[i];
        }
        itest_submit_parallel(&t, ptrs, N, ids, st);
        for (int i = 0; i < N; i++) {
            json_t *o;
            CHECK(st[i] == 202, "burst command %d answered %ld", i, st[i]);
            o = itest_expect_status(&t, ids[i], want[i] == NULL ? "COMPLETED" : "FAILED");
            CHECK(want[i] == NULL || strcmp(itest_json_str(o, "failureCode"), want[i]) == 0,
                  "burst command %d: failureCode %s, expected %s", i,
                  itest_json_str(o, "failureCode"), want[i]);
            json_decref(o);
            len += (size_t)snprintf(id_list + len, sizeof id_list - len, "%s%s", i ? "," : "{",
                                    ids[i]);
        }
        snprintf(id_list + len, sizeof id_list - len, "}");
        /* 8 deposits of 1.00 in, 8 transfers of 0.25 and 8 fees of 0.10 out: +5.20. */
        {
            PGresult *r = PQexecParams(db,
                                       "SELECT (balance - $1::numeric)::text FROM accounts"
                                       " WHERE account_number = $2",
                                       2, NULL, (const char *[]){before, A}, NULL, NULL, 0);
            CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "balance: %s",
                  PQerrorMessage(db));
            CHECK(strcmp(PQgetvalue(r, 0, 0), "5.20") == 0, "the burst moved %s by %s, not 5.20", A,
                  PQgetvalue(r, 0, 0));
            PQclear(r);
        }
        free(before);
        v = itest_sql_value(
            db,
            "SELECT count(*)::text FROM (SELECT xmin::text FROM transactions"
            " WHERE id = ANY($1::uuid[]) GROUP BY xmin::text"
            " HAVING bool_or(status = 'FAILED') AND bool_or(status = 'COMPLETED')) x",
            id_list);
        mixed = strcmp(v, "0") != 0;
        printf("burst %d: %s batch(es) held both completed and failed commands\n", round + 1, v);
        free(v);
        v = itest_sql_value(db,
                            "SELECT count(*)::text FROM ledger_entries e JOIN transactions t"
                            " ON t.id = e.transaction_id WHERE t.id = ANY($1::uuid[])"
                            " AND t.status = 'FAILED'",
                            id_list);
        CHECK(strcmp(v, "0") == 0, "%s ledger entries for failed burst commands", v);
        free(v);
    }
    CHECK(mixed, "no batch mixed good and bad commands in three bursts");
    passed++;
}

/* NUMERIC(15,2) holds at most 9999999999999.99: a posting that would take any balance past it
 * fails, up to the last cent. */
static void over_limit(void)
{
    char body[512], x[32], y[32], id[64];

    itest_account_open(&t, "SAVINGS", "EUR", NULL, NULL, x);
    itest_account_open(&t, "CHECKING", "EUR", "100.00", NULL, y);
    ok(BODY("{\"type\":\"DEPOSIT\",\"amount\":\"9999999999999.99\",\"currency\":\"EUR\","
            "\"toAccount\":\"%s\"}",
            x),
       id);
    expect_balance(x, "9999999999999.99");
    expect_balance("GL-1000-EUR", "9999999999999.99");
    fails("a second deposit of the largest amount",
          BODY("{\"type\":\"DEPOSIT\",\"amount\":\"9999999999999.99\",\"currency\":\"EUR\","
               "\"toAccount\":\"%s\"}",
               x),
          "AMOUNT_OVER_LIMIT", "largest amount", NULL, NULL);
    /* The customer's balance itself (cash is not involved in a transfer). */
    fails("a transfer of one cent past the largest balance",
          BODY("{\"type\":\"TRANSFER\",\"amount\":\"0.01\",\"currency\":\"EUR\","
               "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
               y, x),
          "AMOUNT_OVER_LIMIT", "largest amount", x, NULL);
    ok(BODY("{\"type\":\"WITHDRAWAL\",\"amount\":\"0.01\",\"currency\":\"EUR\","
            "\"fromAccount\":\"%s\"}",
            x),
       id);
    ok(BODY("{\"type\":\"TRANSFER\",\"amount\":\"0.01\",\"currency\":\"EUR\","
            "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
            y, x),
       id);
    {
        char *v = itest_entries(db, id), want[256];
        snprintf(want, sizeof want,
                 "DEBIT %s 2000 0.01 -0.01, CREDIT %s 2000 0.01 9999999999999.99", y, x);
        CHECK(strcmp(v, want) == 0, "a transfer up to the largest balance posted %s", v);
        free(v);
    }
    expect_balance(x, "9999999999999.99");
    passed++;
}

static itest_tenant s;
static char s_deposit[64];
static int64_t s_touched; /* when the worker last routed a command of tenant s */

static void suspended_setup(void)
{
    char body[512];
    itest_tenant_create(&s, "it-suspend", NULL, 1, "USD");
    snprintf(body, sizeof body,
             "{\"type\":\"DEPOSIT\",\"amount\":\"10.00\",\"currency\":\"USD\","
             "\"toAccount\":\"%s\"}",
             s.account[0]);
    itest_submit(&s, body, s_deposit);
    json_decref(itest_expect_status(&s, s_deposit, "COMPLETED"));
    s_touched = itest_now_ms();
}

static void expect_suspended_problem(long status, const char *resp, const char *ct,
                                     const char *what)
{
    json_t *o = json_loads(resp, 0, NULL);
    CHECK(status == 403, "%s answered %ld: %s", what, status, resp);
    CHECK(strncmp(ct, "application/problem+json", 24) == 0, "%s: content type %s", what, ct);
    CHECK(o != NULL && strcmp(itest_json_str(o, "type"), "/problems/tenant-suspended") == 0,
          "%s: problem %s", what, resp);
    json_decref(o);
}

/* Suspending a tenant (ledgerctl tenant suspend). The API and the worker each cache a tenant's
 * row for a few seconds; the API read it last, so for a moment it still accepts commands while
 * the worker, reading afresh, already sees the suspension: such a command must be recorded
 * FAILED (TENANT_SUSPENDED), not applied. Then the API closes (403), and after
 * `ledgerctl tenant activate` the tenant works again. */
static void suspended(void)
{
    char body[512], auth[200], path[128], wid[64], out[1024], ct[128], *resp = NULL, *v;
    const char *h[] = {auth, NULL};
    char late[32][64];
    int n_late = 0;
    long status;
    int64_t t0, since;
    PGconn *sdb = itest_tenant_db(&s, NULL);
    json_t *o;

    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s.api_key);
    /* The worker's copy of the tenant row must have expired (5 s), the API's must be fresh. */
    since = itest_now_ms() - s_touched;
    if (since < 7000)
        usleep((useconds_t)(7000 - since) * 1000);
    o = itest_expect_status(&s, s_deposit, "COMPLETED");
    json_decref(o);
    CHECK(itest_ledgerctl(out, sizeof out, "tenant", "suspend", "--slug", s.slug, "--reason",
                          "integration test", NULL) == 0,
          "tenant suspend failed: %s", out);
    t0 = itest_now_ms();
    snprintf(body, sizeof body,
             "{\"type\":\"WITHDRAWAL\",\"amount\":\"1.00\",\"currency\":\"USD\","
             "\"fromAccount\":\"%s\"}",
             s.account[0]);
    status = itest_post_txn(&s, body, NULL, wid, sizeof wid);
    CHECK(status == 202,
          "a command %lld ms after the suspension answered %ld: expected the API to accept it "
          "while its cached tenant row is fresh (the case under test is the worker's refusal)",
          (long long)(itest_now_ms() - t0), status);

    /* The worker records it FAILED: read the tenant database (the API is closing). */
    for (int64_t deadline = itest_now_ms() + 30000;;) {
        v = itest_sql_value(sdb,
                            "SELECT coalesce((SELECT status || ' ' || coalesce(failure_code, '-')"
                            " FROM transactions WHERE id = $1), 'none')",
                            wid);
        if (strcmp(v, "none") != 0 || itest_now_ms() > deadline)
            break;
        free(v);
        usleep(50000);
    }
    CHECK(strcmp(v, "FAILED TENANT_SUSPENDED") == 0, "the command of a suspended tenant is %s", v);
    free(v);
    v = itest_balance(sdb, s.account[0]);
    CHECK(strcmp(v, "10.00") == 0, "the suspended tenant's balance moved to %s", v);
    free(v);
    passed++;

    /* The API closes within its cache's lifetime: 403 /problems/tenant-suspended. */
    for (;;) {
        status = itest_post_txn(&s, body, NULL, late[n_late], sizeof late[n_late]);
        if (status != 202)
            break;
        CHECK(n_late < 31 && itest_now_ms() - t0 < 15000,
              "the API still accepts commands %lld ms after the suspension",
              (long long)(itest_now_ms() - t0));
        n_late++;
        usleep(250000);
    }
    {
        char auth2[200];
        const char *hp[] = {auth2, "Content-Type: application/json", NULL};
        snprintf(auth2, sizeof auth2, "Authorization: Bearer %s", s.api_key);
        status = itest_http("POST", "/v1/transactions", hp, body, &resp, ct, sizeof ct);
        expect_suspended_problem(status, resp, ct, "POST for a suspended tenant");
        free(resp);
    }
    snprintf(path, sizeof path, "/v1/transactions/%s", wid);
    status = itest_http("GET", path, h, NULL, &resp, ct, sizeof ct);
    expect_suspended_problem(status, resp, ct, "GET for a suspended tenant");
    free(resp);
    printf("the API closed %lld ms after the suspension (%d more command(s) accepted)\n",
           (long long)(itest_now_ms() - t0), n_late);
    passed++;

    /* Activated again: the outcome is readable, every command of the suspension failed, and a
     * new command is applied. */
    CHECK(itest_ledgerctl(out, sizeof out, "tenant", "activate", "--slug", s.slug, NULL) == 0,
          "tenant activate failed: %s", out);
    t0 = itest_now_ms();
    for (;;) {
        status = itest_http("GET", path, h, NULL, &resp, NULL, 0);
        free(resp);
        if (status == 200)
            break;
        CHECK(itest_now_ms() - t0 < 15000, "GET still answers %ld after the activation", status);
        usleep(200000);
    }
    expect_failed(&s, sdb, "command of a suspended tenant", wid, "TENANT_SUSPENDED", "suspended",
                  NULL);
    for (int i = 0; i < n_late; i++)
        expect_failed(&s, sdb, "command accepted while the API closed", late[i], "TENANT_SUSPENDED",
                      "suspended", NULL);
    /* Once the worker's copy of the row has expired too, commands apply again. */
    since = itest_now_ms() - t0;
    if (since < 6500)
        usleep((useconds_t)(6500 - since) * 1000);
    itest_submit(&s, body, wid);
    json_decref(itest_expect_status(&s, wid, "COMPLETED"));
    v = itest_balance(sdb, s.account[0]);
    CHECK(strcmp(v, "9.00") == 0, "after the activation the balance is %s", v);
    free(v);
    PQfinish(sdb);
    passed++;
}

int main(void)
{
    char body[512], id[64], failed_id[64], out[4096], *v;
    int rc;

    CHECK(sodium_init() >= 0, "sodium_init");
    suspended_setup();
    itest_tenant_create(&t, "it-failures", NULL, 2, "USD");
    A = t.account[0];
    db = itest_tenant_db(&t, NULL);
    ok(BODY("{\"type\":\"DEPOSIT\",\"amount\":\"100.00\",\"currency\":\"USD\","
            "\"toAccount\":\"%s\"}",
            A),
       id);

    insufficient_funds(failed_id);
    frozen_closed_inactive();
    currency_and_accounts();
    reversals(failed_id);
    mixed_burst();
    over_limit();

    /* Failed commands posted nothing, applied ones two entries each; the books balance. */
    v = itest_sql_value(
        db,
        "SELECT (SELECT count(*) FROM ledger_entries) || ' ' ||"
        " 2 * (SELECT count(*) FROM transactions WHERE status <> 'FAILED') || ' ' ||"
        " (SELECT count(*) FROM ledger_entries e JOIN transactions t ON"
        "  t.id = e.transaction_id WHERE t.status = 'FAILED')",
        NULL);
    {
        long entries = 0, expected = -1, on_failed = -1;
        sscanf(v, "%ld %ld %ld", &entries, &expected, &on_failed);
        CHECK(entries == expected && on_failed == 0, "entries, 2 x applied, on failed: %s", v);
    }
    free(v);
    rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
    CHECK(rc == 0, "verify exited %d: %s", rc, out);
    PQfinish(db);

    suspended();
    printf("%d passed, 0 failed\n", passed);
    return 0;
}
