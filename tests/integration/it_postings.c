/*
 * The posting rules of every transaction type, through the real API and worker: each command
 * ends COMPLETED (GET), posts the entries of the table in src/ledger-worker/postings.c (entry
 * type, account, chart code, amount, balance_after), and moves the balances accordingly:
 *
 *   DEPOSIT     DEBIT cash 1000               CREDIT customer 2000
 *   WITHDRAWAL  DEBIT customer 2000           CREDIT cash 1000
 *   TRANSFER    DEBIT customer 2000           CREDIT customer 2000
 *   FEE         DEBIT customer 2000           CREDIT fee income 4000
 *   INTEREST    DEBIT interest expense 5000   CREDIT customer 2000
 *   REVERSAL    the mirror of the original's entries; the original becomes REVERSED with its
 *               reason and time, the reversal points at it (originalTransactionId)
 *
 * plus a loan account (an asset, code 1200: a withdrawal draws it up, a deposit repays it) and a
 * EUR account (the EUR internal accounts take the other side). At the end the books balance and
 * `ledgerctl verify --tenant` exits 0.
 */
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed;

static itest_tenant t;
static PGconn *db;
static const char *A, *B; /* two USD checking accounts */

/* Submits a command and waits for it to complete; fills id[64]. */
static json_t *run(const char *json, char id[64])
{
    itest_submit(&t, json, id);
    return itest_expect_status(&t, id, "COMPLETED");
}

static void expect_entries(const char *what, const char *id, const char *want)
{
    char *v = itest_entries(db, id);
    CHECK(strcmp(v, want) == 0, "%s: entries\n    %s\n  expected\n    %s", what, v, want);
    free(v);
}

static void expect_balance(const char *what, const char *account, const char *want)
{
    char *v = itest_balance(db, account);
    CHECK(strcmp(v, want) == 0, "%s: balance of %s is %s, expected %s", what, account, v, want);
    free(v);
}

static void expect_json(const char *what, const json_t *o, const char *name, const char *want)
{
    CHECK(strcmp(itest_json_str(o, name), want) == 0, "%s: %s is \"%s\", expected \"%s\"", what,
          name, itest_json_str(o, name), want);
}

static void check_deposit(char dep_id[64])
{
    char body[512], want[512];
    json_t *o;
    snprintf(body, sizeof body,
             "{\"type\":\"DEPOSIT\",\"amount\":\"500.00\",\"currency\":\"USD\","
             "\"toAccount\":\"%s\",\"description\":\"cash in\",\"reference\":\"slip-1\"}",
             A);
    o = run(body, dep_id);
    expect_json("deposit", o, "type", "DEPOSIT");
    expect_json("deposit", o, "amount", "500.00");
    expect_json("deposit", o, "currency", "USD");
    expect_json("deposit", o, "toAccount", A);
    expect_json("deposit", o, "reference", "slip-1");
    CHECK(json_is_null(json_object_get(o, "fromAccount")), "deposit: fromAccount is set");
    CHECK(json_is_null(json_object_get(o, "failureCode")), "deposit: failureCode is set");
    CHECK(itest_json_str(o, "processedAt")[0] != '\0', "deposit: no processedAt");
    json_decref(o);
    snprintf(want, sizeof want,
             "DEBIT GL-1000-USD 1000 500.00 500.00, CREDIT %s 2000 500.00 500.00", A);
    expect_entries("deposit", dep_id, want);
    expect_balance("deposit", A, "500.00");
    expect_balance("deposit", "GL-1000-USD", "500.00");
    passed++;
}

static void check_withdrawal(void)
{
    char body[512], want[512], id[64];
    json_t *o;
    snprintf(body, sizeof body,
             "{\"type\":\"WITHDRAWAL\",\"amount\":\"120.50\",\"currency\":\"USD\","
             "\"fromAccount\":\"%s\"}",
             A);
    o = run(body, id);
    expect_json("withdrawal", o, "type", "WITHDRAWAL");
    expect_json("withdrawal", o, "fromAccount", A);
    json_decref(o);
    snprintf(want, sizeof want,
             "DEBIT %s 2000 120.50 379.50, CREDIT GL-1000-USD 1000 120.50 379.50", A);
    expect_entries("withdrawal", id, want);
    expect_balance("withdrawal", A, "379.50");
    expect_balance("withdrawal", "GL-1000-USD", "379.50");
    passed++;
}

static void check_transfer(char xfer_id[64])
{
    char body[512], want[512];
    json_t *o;
    snprintf(body, sizeof body,
             "{\"type\":\"TRANSFER\",\"amount\":\"79.50\",\"currency\":\"USD\","
             "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
             A, B);
    o = run(body, xfer_id);
    expect_json("transfer", o, "type", "TRANSFER");
    expect_json("transfer", o, "fromAccount", A);
    expect_json("transfer", o, "toAccount", B);
    json_decref(o);
    snprintf(want, sizeof want, "DEBIT %s 2000 79.50 300.00, CREDIT %s 2000 79.50 79.50", A, B);
    expect_entries("transfer", xfer_id, want);
    expect_balance("transfer", A, "300.00");
    expect_balance("transfer", B, "79.50");
    expect_balance("transfer", "GL-1000-USD", "379.50"); /* cash is not involved */
    passed++;
}

static void check_fee(void)
{
    char body[512], want[512], id[64];
    json_t *o;
    snprintf(body, sizeof body,
             "{\"type\":\"FEE\",\"amount\":\"2.25\",\"currency\":\"USD\",\"fromAccount\":\"%s\","
             "\"description\":\"monthly fee\"}",
             A);
    o = run(body, id);
    expect_json("fee", o, "type", "FEE");
    json_decref(o);
    snprintf(want, sizeof want, "DEBIT %s 2000 2.25 297.75, CREDIT GL-4000-USD 4000 2.25 2.25", A);
    expect_entries("fee", id, want);
    expect_balance("fee", A, "297.75");
    expect_balance("fee", "GL-4000-USD", "2.25");
    passed++;
}

static void check_interest(void)
{
    char body[512], want[512], id[64];
    json_t *o;
    snprintf(
        body, sizeof body,
        "{\"type\":\"INTEREST\",\"amount\":\"1.10\",\"currency\":\"USD\",\"toAccount\":\"%s\"}", B);
    o = run(body, id);
    expect_json("interest", o, "type", "INTEREST");
    json_decref(o);
    snprintf(want, sizeof want, "DEBIT GL-5000-USD 5000 1.10 1.10, CREDIT %s 2000 1.10 80.60", B);
    expect_entries("interest", id, want);
    expect_balance("interest", B, "80.60");
    expect_balance("interest", "GL-5000-USD", "1.10");
    passed++;
}

/* Reverses original_id and checks the reversal and the original. */
static void reverse(const char *what, const char *original_id, const char *reason,
                    const char *want_entries, const char *want_from, const char *want_to,
                    const char *want_amount)
{
    char body[512], id[64], *v;
    json_t *o;
    snprintf(body, sizeof body,
             "{\"type\":\"REVERSAL\",\"originalTransactionId\":\"%s\",\"reason\":\"%s\"}",
             original_id, reason);
    o = run(body, id);
    expect_json(what, o, "type", "REVERSAL");
    expect_json(what, o, "originalTransactionId", original_id);
    expect_json(what, o, "amount", want_amount);
    expect_json(what, o, "currency", "USD");
    expect_json(what, o, "fromAccount", want_from);
    expect_json(what, o, "toAccount", want_to);
    json_decref(o);
    expect_entries(what, id, want_entries);

    /* The original: REVERSED, with the reason and the time, through the API and in the table. */
    o = itest_expect_status(&t, original_id, "REVERSED");
    expect_json(what, o, "reversalReason", reason);
    CHECK(itest_json_str(o, "reversedAt")[0] != '\0', "%s: the original has no reversedAt", what);
    json_decref(o);
    v = itest_sql_value(db,
                        "SELECT status || '|' || coalesce(reversal_reason, '-') || '|' ||"
                        " (reversed_at IS NOT NULL AND reversed_at >= processed_at)::text"
                        " FROM transactions WHERE id = $1",
                        original_id);
    {
        char want[300];
        snprintf(want, sizeof want, "REVERSED|%s|true", reason);
        CHECK(strcmp(v, want) == 0, "%s: the original reads %s", what, v);
    }
    free(v);
    /* The link: exactly one transaction names the original, the reversal, and it is COMPLETED. */
    v = itest_sql_value(db,
                        "SELECT string_agg(id::text || ' ' || type || ' ' || status, ',')"
                        " FROM transactions WHERE original_transaction_id = $1",
                        original_id);
    {
        char want[200];
        snprintf(want, sizeof want, "%s REVERSAL COMPLETED", id);
        CHECK(strcmp(v, want) == 0, "%s: transactions linked to the original: %s", what, v);
    }
    free(v);
    /* The original's own entries stay as they were: a reversal adds, it never deletes. */
    v = itest_sql_value(db, "SELECT count(*)::text FROM ledger_entries WHERE transaction_id = $1",
                        original_id);
    CHECK(strcmp(v, "2") == 0, "%s: the original has %s entries", what, v);
    free(v);
    passed++;
}

static void check_reversal_of_deposit(void)
{
    char body[512], want[512], id[64];
    json_t *o;
    snprintf(
        body, sizeof body,
        "{\"type\":\"DEPOSIT\",\"amount\":\"40.00\",\"currency\":\"USD\",\"toAccount\":\"%s\"}", B);
    o = run(body, id);
    json_decref(o);
    expect_balance("second deposit", B, "120.60");
    expect_balance("second deposit", "GL-1000-USD", "419.50");
    /* The mirror of "DEBIT cash, CREDIT B", in the same order. */
    snprintf(want, sizeof want, "CREDIT GL-1000-USD 1000 40.00 379.50, DEBIT %s 2000 40.00 80.60",
             B);
    reverse("reversal of a deposit", id, "deposited twice", want, B, "", "40.00");
    expect_balance("reversal of a deposit", B, "80.60");
    expect_balance("reversal of a deposit", "GL-1000-USD", "379.50");
}

static void check_reversal_of_transfer(const char *xfer_id)
{
    char want[512];
    snprintf(want, sizeof want, "CREDIT %s 2000 79.50 377.25, DEBIT %s 2000 79.50 1.10", A, B);
    reverse("reversal of a transfer", xfer_id, "wrong beneficiary", want, B, A, "79.50");
    expect_balance("reversal of a transfer", A, "377.25");
    expect_balance("reversal of a transfer", B, "1.10");
}

/* A loan is an asset of the bank (code 1200, normal side DEBIT): drawing it debits it and its
 * balance grows; a deposit credits it and repays it. */
static void check_loan(void)
{
    char loan[32], body[512], want[512], id[64];
    json_t *o;
    itest_account_open(&t, "LOAN", "USD", NULL, NULL, loan);
    snprintf(body, sizeof body,
             "{\"type\":\"WITHDRAWAL\",\"amount\":\"1000.00\",\"currency\":\"USD\","
             "\"fromAccount\":\"%s\"}",
             loan);
    o = run(body, id);
    json_decref(o);
    snprintf(want, sizeof want,
             "DEBIT %s 1200 1000.00 1000.00, CREDIT GL-1000-USD 1000 1000.00 -620.50", loan);
    expect_entries("loan drawn", id, want);
    snprintf(
        body, sizeof body,
        "{\"type\":\"DEPOSIT\",\"amount\":\"250.00\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
        loan);
    o = run(body, id);
    json_decref(o);
    snprintf(want, sizeof want,
             "DEBIT GL-1000-USD 1000 250.00 -370.50, CREDIT %s 1200 250.00 750.00", loan);
    expect_entries("loan repaid", id, want);
    expect_balance("loan", loan, "750.00");
    expect_balance("loan", "GL-1000-USD", "-370.50");
    passed++;
}

/* Postings in another currency use that currency's internal accounts. */
static void check_eur(void)
{
    char eur[32], body[512], want[512], id[64];
    json_t *o;
    itest_account_open(&t, "SAVINGS", "EUR", NULL, NULL, eur);
    snprintf(
        body, sizeof body,
        "{\"type\":\"DEPOSIT\",\"amount\":\"30.00\",\"currency\":\"EUR\",\"toAccount\":\"%s\"}",
        eur);
    o = run(body, id);
    expect_json("EUR deposit", o, "currency", "EUR");
    json_decref(o);
    snprintf(want, sizeof want, "DEBIT GL-1000-EUR 1000 30.00 30.00, CREDIT %s 2000 30.00 30.00",
             eur);
    expect_entries("EUR deposit", id, want);
    snprintf(body, sizeof body,
             "{\"type\":\"FEE\",\"amount\":\"0.30\",\"currency\":\"EUR\",\"fromAccount\":\"%s\"}",
             eur);
    o = run(body, id);
    json_decref(o);
    snprintf(want, sizeof want, "DEBIT %s 2000 0.30 29.70, CREDIT GL-4000-EUR 4000 0.30 0.30", eur);
    expect_entries("EUR fee", id, want);
    expect_balance("EUR", "GL-1000-USD", "-370.50"); /* the USD cash did not move */
    expect_balance("EUR", "GL-4000-USD", "2.25");
    passed++;
}

/* transactionRef is unique per tenant: its number keeps all its digits past 999999 (the date
 * part is shared by every transaction of a day). */
static void check_refs_past_six_digits(void)
{
    char body[512], ids[3][64], *v;
    v = itest_sql_value(db, "SELECT setval('transaction_ref_seq', 999998)::text", NULL);
    free(v);
    snprintf(body, sizeof body,
             "{\"type\":\"DEPOSIT\",\"amount\":\"0.01\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
             A);
    for (int i = 0; i < 3; i++)
        json_decref(run(body, ids[i]));
    for (int i = 0; i < 3; i++) {
        static const char *const suffix[] = {"-999999", "-1000000", "-1000001"};
        json_t *o = itest_expect_status(&t, ids[i], "COMPLETED");
        const char *ref = itest_json_str(o, "transactionRef");
        size_t len = strlen(ref), sl = strlen(suffix[i]);
        CHECK(strncmp(ref, "TXN-", 4) == 0 && len > sl && strcmp(ref + len - sl, suffix[i]) == 0,
              "transaction %d after 999998 has transactionRef %s, expected ...%s", i + 1, ref,
              suffix[i]);
        json_decref(o);
    }
    expect_balance("three deposits of 0.01", A, "377.28");
    passed++;
}

/* The books as a whole: every transaction balances, every balance_after is the running sum of
 * its account's entries, every balance the sum of its entries, and verify agrees. */
static void check_books(void)
{
    char out[4096], *v;
    int rc;
    v = itest_sql_value(db,
                        "SELECT count(*)::text FROM (SELECT transaction_id FROM ledger_entries"
                        " GROUP BY transaction_id HAVING"
                        " sum(amount) FILTER (WHERE entry_type = 'DEBIT') IS DISTINCT FROM"
                        " sum(amount) FILTER (WHERE entry_type = 'CREDIT')) x",
                        NULL);
    CHECK(strcmp(v, "0") == 0, "%s transaction(s) whose debits differ from their credits", v);
    free(v);
    v = itest_sql_value(db,
                        "SELECT count(*)::text FROM (SELECT e.balance_after, sum(CASE WHEN"
                        " e.entry_type = a.normal_side THEN e.amount ELSE -e.amount END)"
                        " OVER (PARTITION BY e.account_id ORDER BY e.entry_seq) AS running"
                        " FROM ledger_entries e JOIN accounts a ON a.id = e.account_id) x"
                        " WHERE balance_after <> running",
                        NULL);
    CHECK(strcmp(v, "0") == 0, "%s entries whose balance_after is not the running sum", v);
    free(v);
    v = itest_sql_value(db,
                        "SELECT count(*)::text FROM accounts a WHERE a.balance <> coalesce(("
                        " SELECT sum(CASE WHEN e.entry_type = a.normal_side THEN e.amount"
                        " ELSE -e.amount END) FROM ledger_entries e WHERE e.account_id = a.id), 0)",
                        NULL);
    CHECK(strcmp(v, "0") == 0, "%s accounts whose balance is not the sum of their entries", v);
    free(v);
    /* USD: assets and expenses on one side, liabilities and income on the other. */
    v = itest_sql_value(db,
                        "SELECT string_agg(gl_code || '=' || total, ' ' ORDER BY gl_code) FROM"
                        " (SELECT gl_code, sum(balance)::text AS total FROM accounts"
                        "  WHERE currency = 'USD' GROUP BY gl_code) x",
                        NULL);
    CHECK(strcmp(v, "1000=-370.47 1200=750.00 2000=378.38 2900=0.00 4000=2.25 5000=1.10") == 0,
          "USD totals by chart code: %s", v);
    free(v);
    v = itest_sql_value(db,
                        "SELECT count(*)::text FROM transactions WHERE status NOT IN"
                        " ('COMPLETED', 'REVERSED') OR failure_code IS NOT NULL",
                        NULL);
    CHECK(strcmp(v, "0") == 0, "%s transactions did not complete", v);
    free(v);
    rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
    CHECK(rc == 0, "verify exited %d: %s", rc, out);
    passed++;
}

int main(void)
{
    char dep_id[64], xfer_id[64];
    itest_tenant_create(&t, "it-postings", NULL, 2, "USD");
    A = t.account[0];
    B = t.account[1];
    db = itest_tenant_db(&t, NULL);

    check_deposit(dep_id);
    check_withdrawal();
    check_transfer(xfer_id);
    check_fee();
    check_interest();
    check_reversal_of_deposit();
    check_reversal_of_transfer(xfer_id);
    check_loan();
    check_eur();
    check_refs_past_six_digits();
    check_books();

    PQfinish(db);
    printf("%d passed, 0 failed\n", passed);
    return 0;
}
