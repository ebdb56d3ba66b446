/*
 * Accounts over REST, against the real stack:
 *   1. open: ten-digit numbers with a valid Luhn digit, chart codes by type, limits other than 0
 *      reserved to managers, KYC VERIFIED customers only, the bank's currencies only, the
 *      tenant's maxAccounts (lowered in the master database) enforced;
 *   2. freeze: a withdrawal FAILS with ACCOUNT_FROZEN while a deposit completes; unfreeze;
 *      close only at zero balance; soft delete of closed accounts only, then not found anywhere;
 *      limits (PATCH) with before/after in the audit log and the worker honouring them;
 *   3. a status change waits for the row lock a posting holds, and decides on what it finds
 *      once the posting has committed;
 *   4. the list walked page by page with every filter, against SQL; a CUSTOMER sees its own;
 *   5. the bank's internal accounts are out of reach of every endpoint here;
 *   6. who may submit which transaction; a customer cannot read or move another customer's
 *      money even with the right account number; another tenant's accounts are not found;
 *   7. the role matrix of every endpoint; bad input refused with problem+json, nothing changed.
 */
#include "itest_mgmt.h"

#include "lg_accounts.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static itest_tenant t;
static PGconn *db;

/* Everything of the tenant's accounts and audit log, to prove nothing changed. */
static char *fingerprint(PGconn *conn)
{
    return itest_mgmt_value(
        conn,
        "SELECT md5(coalesce((SELECT string_agg(a::text, '|' ORDER BY a.id) FROM accounts a), '')"
        " || (SELECT count(*) FROM audit_logs))",
        NULL, NULL);
}

static long exec2(PGconn *conn, const char *sql, const char *p1, const char *p2)
{
    const char *params[2] = {p1, p2};
    PGresult *r = PQexecParams(conn, sql,
                               p2 != NULL   ? 2
                               : p1 != NULL ? 1
                                            : 0,
                               NULL, params, NULL, NULL, 0);
    long n;
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s",
          sql, PQerrorMessage(conn));
    n = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return n;
}

static json_t *audit_row(const char *action, const char *resource_id)
{
    char *v = itest_mgmt_value(db,
                               "SELECT json_build_object('userId', user_id, 'changes', changes,"
                               " 'metadata', metadata)::text FROM audit_logs WHERE action = $1"
                               " AND resource_id = $2 ORDER BY created_at DESC LIMIT 1",
                               action, resource_id);
    json_t *o = json_loads(v, 0, NULL);
    CHECK(o != NULL, "audit row %s %s: %s", action, resource_id, v);
    free(v);
    return o;
}

/* The audit row's changes must be exactly want (a JSON text). */
static void expect_changes(const char *action, const char *account_number, const char *want,
                           const char *user_id)
{
    char *id = itest_mgmt_value(db, "SELECT id FROM accounts WHERE account_number = $1",
                                account_number, NULL);
    json_t *a = audit_row(action, id), *w = json_loads(want, 0, NULL);
    char *got = json_dumps(json_object_get(a, "changes"), JSON_COMPACT | JSON_SORT_KEYS);
    CHECK(w != NULL, "bad expectation %s", want);
    EXPECT(json_equal(json_object_get(a, "changes"), w), "%s of %s: changes %s, expected %s",
           action, account_number, got, want);
    EXPECT(user_id == NULL || strcmp(itest_mgmt_str(a, "userId"), user_id) == 0, "%s of %s by %s",
           action, account_number, itest_mgmt_str(a, "userId"));
    free(got);
    json_decref(w);
    json_decref(a);
    free(id);
}

static void expect_status(const char *bearer, const char *method, const char *path,
                          const char *body, long want)
{
    if (want == 401)
        itest_mgmt_problem(bearer, method, path, body, 401, "/problems/unauthenticated");
    else if (want == 403)
        itest_mgmt_problem(bearer, method, path, body, 403, "/problems/forbidden");
    else if (want == 404)
        itest_mgmt_problem(bearer, method, path, body, 404, "/problems/not-found");
    else
        json_decref(itest_mgmt_ok(bearer, method, path, body, want));
}

/* POST /v1/transactions as bearer; returns the status and fills id on 202. */
static long post_txn(const char *bearer, const char *body, char id[64])
{
    itest_resp r;
    long status;
    itest_mgmt_send(bearer, "POST", "/v1/transactions", body, NULL, &r);
    status = r.status;
    snprintf(id, 64, "%s", status == 202 ? itest_mgmt_str(r.json, "id") : "");
    if (status != 202)
        CHECK(strstr(r.body, "/problems/") != NULL, "POST %s: %ld without a problem", body, status);
    itest_mgmt_resp_free(&r);
    return status;
}

/* Posts a command as bearer, expects 202 and waits for its outcome (status, failureCode). */
static void txn_outcome(const char *bearer, const char *type, const char *amount, const char *from,
                        const char *to, const char *want_status, const char *want_code)
{
    char body[512], id[64];
    json_t *o;
    size_t n = (size_t)snprintf(
        body, sizeof body, "{\"type\":\"%s\",\"amount\":\"%s\",\"currency\":\"USD\"", type, amount);
    if (from != NULL)
        n += (size_t)snprintf(body + n, sizeof body - n, ",\"fromAccount\":\"%s\"", from);
    if (to != NULL)
        n += (size_t)snprintf(body + n, sizeof body - n, ",\"toAccount\":\"%s\"", to);
    snprintf(body + n, sizeof body - n, "}");
    EXPECT(post_txn(bearer, body, id) == 202, "POST %s was not accepted", body);
    o = itest_expect_status(&t, id, want_status);
    EXPECT(want_code == NULL || strcmp(itest_mgmt_str(o, "failureCode"), want_code) == 0,
           "%s: failureCode %s, expected %s", body, itest_mgmt_str(o, "failureCode"), want_code);
    json_decref(o);
}

static char *balance_of(const char *number)
{
    return itest_mgmt_value(db,
                            "SELECT balance::text || '/' || available_balance::text FROM accounts"
                            " WHERE account_number = $1",
                            number, NULL);
}

typedef struct {
    const char *bearer;
    char path[128];
    itest_resp resp;
    volatile int done;
} async_call;

static void *call_thread(void *arg)
{
    async_call *c = arg;
    itest_mgmt_send(c->bearer, "POST", c->path, NULL, NULL, &c->resp);
    c->done = 1;
    return NULL;
}

int main(void)
{
    itest_tenant other;
    itest_cred teller, teller_key, manager, admin, alice_cred, alice_key;
    itest_customer alice, bob, carol, dropped;
    PGconn *other_db;
    char path[512], *body, *v, *before;
    char a_chk[32], a_loan[32], a_lim[32], a_b[32], b_chk[32], b_eur[32], spare_acct[32];
    json_t *o, *items;
    int pages;

    itest_tenant_create(&t, "it-acct", NULL, 1, "USD");
    itest_tenant_create(&other, "it-acct-b", "LEDGER_ADMIN_DSN_2", 1, "USD");
    db = itest_tenant_db(&t, NULL);
    other_db = itest_tenant_db(&other, "LEDGER_ADMIN_DSN_2");
    itest_mgmt_staff(&t, db, "TELLER", &teller);
    itest_mgmt_staff(&t, db, "MANAGER", &manager);
    itest_mgmt_staff(&t, db, "SUPER_ADMIN", &admin);
    itest_mgmt_api_key(&t, teller.user_id, "TELLER", &teller_key);
    itest_mgmt_customer(teller.bearer, manager.bearer, "alice", &alice);
    itest_mgmt_customer(teller.bearer, manager.bearer, "bob", &bob);
    itest_mgmt_customer(teller.bearer, NULL, "carol", &carol);
    itest_mgmt_token(&t, alice.user_id, "CUSTOMER", &alice_cred);
    itest_mgmt_api_key(&t, alice.user_id, "CUSTOMER", &alice_key);

    /* ---------------------------------------------------------------- 1. open */
    body = itest_mgmt_body(json_pack("{s:s, s:s, s:s}", "customerId", alice.id, "accountType",
                                     "CHECKING", "currency", "USD"));
    {
        itest_resp r;
        itest_mgmt_send(teller.bearer, "POST", "/v1/accounts", body, NULL, &r);
        EXPECT(r.status == 201, "open: %ld %s", r.status, r.body);
        o = json_incref(r.json);
        snprintf(a_chk, sizeof a_chk, "%s", itest_mgmt_str(o, "accountNumber"));
        snprintf(path, sizeof path, "/v1/accounts/%s", a_chk);
        EXPECT(strcmp(r.location, path) == 0, "Location %s", r.location);
        itest_mgmt_resp_free(&r);
    }
    free(body);
    EXPECT(strlen(a_chk) == 10 && strspn(a_chk, "0123456789") == 10 && lg_luhn_valid(a_chk),
           "account number %s is not ten digits with a Luhn check digit", a_chk);
    {
        const char *want[][2] = {{"accountType", "CHECKING"},
                                 {"customerId", alice.id},
                                 {"customerNumber", alice.number},
                                 {"currency", "USD"},
                                 {"balance", "0.00"},
                                 {"availableBalance", "0.00"},
                                 {"minimumBalance", "0.00"},
                                 {"overdraftLimit", "0.00"},
                                 {"status", "ACTIVE"},
                                 {"createdBy", teller.user_id}};
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
            EXPECT(strcmp(itest_mgmt_str(o, want[i][0]), want[i][1]) == 0,
                   "opened account: %s is %s, expected %s", want[i][0],
                   itest_mgmt_str(o, want[i][0]), want[i][1]);
        EXPECT(json_is_null(json_object_get(o, "interestRate")) &&
                   json_is_null(json_object_get(o, "closedAt")) && json_object_size(o) == 16,
               "opened account: %zu fields", json_object_size(o));
    }
    json_decref(o);
    o = itest_mgmt_ok(teller.bearer, "GET", path, NULL, 200);
    EXPECT(strcmp(itest_mgmt_str(o, "accountNumber"), a_chk) == 0, "GET the new account");
    json_decref(o);
    {
        char want[1024];
        snprintf(want, sizeof want,
                 "{\"accountNumber\":{\"before\":null,\"after\":\"%s\"},"
                 "\"accountType\":{\"before\":null,\"after\":\"CHECKING\"},"
                 "\"customerId\":{\"before\":null,\"after\":\"%s\"},"
                 "\"currency\":{\"before\":null,\"after\":\"USD\"},"
                 "\"minimumBalance\":{\"before\":null,\"after\":\"0.00\"},"
                 "\"overdraftLimit\":{\"before\":null,\"after\":\"0.00\"},"
                 "\"status\":{\"before\":null,\"after\":\"ACTIVE\"}}",
                 a_chk, alice.id);
        expect_changes("CREATE_ACCOUNT", a_chk, want, teller.user_id);
    }
    /* Chart codes by type: a loan is the bank's asset, deposits its liabilities. */
    itest_mgmt_open_account(manager.bearer, alice.id, "LOAN", "USD", a_loan);
    v = itest_mgmt_value(
        db,
        "SELECT string_agg(account_type || ' ' || gl_code || ' ' || normal_side,"
        " ',' ORDER BY account_type) FROM accounts WHERE account_number IN ($1, $2)",
        a_chk, a_loan);
    EXPECT(strcmp(v, "CHECKING 2000 CREDIT,LOAN 1200 DEBIT") == 0, "chart codes: %s", v);
    free(v);
    /* Limits other than zero: a manager's decision. */
    {
        const char *limits[] = {"\"overdraftLimit\":\"100.00\"", "\"minimumBalance\":\"10\"",
                                "\"interestRate\":\"1.5\""};
        for (int i = 0; i < 3; i++) {
            char b[512];
            snprintf(b, sizeof b,
                     "{\"customerId\":\"%s\",\"accountType\":\"SAVINGS\",\"currency\":\"USD\",%s}",
                     alice.id, limits[i]);
            itest_mgmt_problem(teller.bearer, "POST", "/v1/accounts", b, 403,
                               "/problems/forbidden");
            itest_mgmt_problem(teller_key.bearer, "POST", "/v1/accounts", b, 403,
                               "/problems/forbidden");
        }
        snprintf(path, sizeof path,
                 "{\"customerId\":\"%s\",\"accountType\":\"SAVINGS\",\"currency\":\"USD\","
                 "\"overdraftLimit\":\"0\",\"minimumBalance\":\"0.00\",\"interestRate\":null}",
                 alice.id);
        json_decref(itest_mgmt_ok(teller.bearer, "POST", "/v1/accounts", path, 201));
        snprintf(
            path, sizeof path,
            "{\"customerId\":\"%s\",\"accountType\":\"SAVINGS\",\"currency\":\"USD\","
            "\"overdraftLimit\":\"250.5\",\"minimumBalance\":\"10\",\"interestRate\":\"2.75\"}",
            alice.id);
        o = itest_mgmt_ok(manager.bearer, "POST", "/v1/accounts", path, 201);
        snprintf(a_lim, sizeof a_lim, "%s", itest_mgmt_str(o, "accountNumber"));
        EXPECT(strcmp(itest_mgmt_str(o, "overdraftLimit"), "250.50") == 0 &&
                   strcmp(itest_mgmt_str(o, "minimumBalance"), "10.00") == 0 &&
                   strcmp(itest_mgmt_str(o, "interestRate"), "2.75") == 0,
               "limits of a manager's account");
        json_decref(o);
    }
    /* Who the account is for. */
    snprintf(path, sizeof path,
             "{\"customerId\":\"%s\",\"accountType\":\"CHECKING\",\"currency\":\"USD\"}", carol.id);
    itest_mgmt_problem(manager.bearer, "POST", "/v1/accounts", path, 409,
                       "/problems/kyc-not-verified");
    itest_mgmt_problem(manager.bearer, "POST", "/v1/accounts",
                       "{\"customerId\":\"00000000-0000-4000-8000-000000000000\","
                       "\"accountType\":\"CHECKING\",\"currency\":\"USD\"}",
                       422, "/problems/unknown-customer");
    v = itest_mgmt_value(db, "SELECT id FROM customers WHERE customer_number = 'CUST-00000'", NULL,
                         NULL);
    snprintf(path, sizeof path,
             "{\"customerId\":\"%s\",\"accountType\":\"CHECKING\",\"currency\":\"USD\"}", v);
    itest_mgmt_problem(admin.bearer, "POST", "/v1/accounts", path, 422,
                       "/problems/unknown-customer");
    free(v);
    itest_mgmt_customer(teller.bearer, manager.bearer, "dropped", &dropped);
    snprintf(path, sizeof path, "/v1/customers/%s", dropped.id);
    json_decref(itest_mgmt_ok(manager.bearer, "DELETE", path, NULL, 204));
    snprintf(path, sizeof path,
             "{\"customerId\":\"%s\",\"accountType\":\"CHECKING\",\"currency\":\"USD\"}",
             dropped.id);
    itest_mgmt_problem(manager.bearer, "POST", "/v1/accounts", path, 422,
                       "/problems/unknown-customer");
    {
        const char *currencies[] = {"GBP", "usd", "XYZ"};
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof path,
                     "{\"customerId\":\"%s\",\"accountType\":\"CHECKING\",\"currency\":\"%s\"}",
                     alice.id, currencies[i]);
            itest_mgmt_problem(manager.bearer, "POST", "/v1/accounts", path, 422,
                               "/problems/invalid-currency");
        }
    }
    snprintf(path, sizeof path,
             "{\"customerId\":\"%s\",\"accountType\":\"INTERNAL\",\"currency\":\"USD\"}", alice.id);
    itest_mgmt_problem(manager.bearer, "POST", "/v1/accounts", path, 422,
                       "/problems/invalid-field");
    snprintf(path, sizeof path, "{\"customerId\":\"%s\",\"accountType\":\"CHECKING\"}", alice.id);
    itest_mgmt_problem(manager.bearer, "POST", "/v1/accounts", path, 422,
                       "/problems/missing-field");
    itest_mgmt_open_account(teller.bearer, alice.id, "SAVINGS", "USD", a_b);
    itest_mgmt_open_account(teller.bearer, bob.id, "CHECKING", "USD", b_chk);
    itest_mgmt_open_account(teller.bearer, bob.id, "FIXED_DEPOSIT", "EUR", b_eur);
    /* Every number drawn here (and by ledgerctl, which shares the generator): ten digits
     * with a valid check digit. */
    for (int i = 0; i < 12; i++) {
        char n[32];
        itest_mgmt_open_account(teller_key.bearer, bob.id, "SAVINGS", "USD", n);
    }
    {
        PGresult *res = PQexec(db, "SELECT account_number FROM accounts"
                                   " WHERE account_type <> 'INTERNAL'");
        int rows = PQntuples(res), good = 0;
        for (int i = 0; i < rows; i++) {
            const char *n = PQgetvalue(res, i, 0);
            good += strlen(n) == 10 && lg_luhn_valid(n) && n[0] != '0';
        }
        EXPECT(rows >= 18 && good == rows, "%d of %d account numbers are well formed", good, rows);
        PQclear(res);
    }
    printf("open: numbers, chart codes, limits for managers, KYC, currencies\n");

    /* ---------------------------------------------------------------- maxAccounts */
    {
        char limit[16], *count;
        PGconn *master = itest_master_db();
        count = itest_mgmt_value(db,
                                 "SELECT count(*) + 1 FROM accounts WHERE deleted_at IS NULL"
                                 " AND account_type <> 'INTERNAL'",
                                 NULL, NULL);
        snprintf(limit, sizeof limit, "%s", count);
        free(count);
        EXPECT(exec2(master, "UPDATE tenants SET max_accounts = $2::int WHERE id = $1", t.id,
                     limit) == 1,
               "lowering maxAccounts");
        sleep(7); /* the API caches tenant rows for 5 s */
        itest_mgmt_open_account(teller.bearer, bob.id, "SAVINGS", "USD", spare_acct);
        before = fingerprint(db);
        snprintf(path, sizeof path,
                 "{\"customerId\":\"%s\",\"accountType\":\"SAVINGS\",\"currency\":\"USD\"}",
                 bob.id);
        itest_mgmt_problem(teller.bearer, "POST", "/v1/accounts", path, 409,
                           "/problems/limit-reached");
        itest_mgmt_problem(admin.bearer, "POST", "/v1/accounts", path, 409,
                           "/problems/limit-reached");
        v = fingerprint(db);
        EXPECT(strcmp(v, before) == 0, "a refused open changed the accounts");
        free(v);
        free(before);
        /* A closed account still counts; a deleted one does not. */
        snprintf(path, sizeof path, "/v1/accounts/%s/close", spare_acct);
        json_decref(itest_mgmt_ok(manager.bearer, "POST", path, NULL, 200));
        snprintf(path, sizeof path,
                 "{\"customerId\":\"%s\",\"accountType\":\"SAVINGS\",\"currency\":\"USD\"}",
                 bob.id);
        itest_mgmt_problem(teller.bearer, "POST", "/v1/accounts", path, 409,
                           "/problems/limit-reached");
        snprintf(path, sizeof path, "/v1/accounts/%s", spare_acct);
        json_decref(itest_mgmt_ok(manager.bearer, "DELETE", path, NULL, 204));
        itest_mgmt_open_account(teller.bearer, bob.id, "SAVINGS", "USD", spare_acct);
        exec2(master, "UPDATE tenants SET max_accounts = 1000 WHERE id = $1", t.id, NULL);
        PQfinish(master);
        sleep(7);
    }
    printf("maxAccounts: enforced, closed accounts count, deleted ones do not\n");

    /* ---------------------------------------------------------------- 2. freeze, close */
    txn_outcome(t.api_key, "DEPOSIT", "100.00", NULL, a_chk, "COMPLETED", NULL);
    snprintf(path, sizeof path, "/v1/accounts/%s/freeze", a_chk);
    itest_mgmt_problem(teller.bearer, "POST", path, NULL, 403, "/problems/forbidden");
    itest_mgmt_problem(alice_cred.bearer, "POST", path, NULL, 403, "/problems/forbidden");
    o = itest_mgmt_ok(manager.bearer, "POST", path, "{\"reason\":\"court order 17/2026\"}", 200);
    EXPECT(strcmp(itest_mgmt_str(o, "status"), "FROZEN") == 0, "frozen: %s",
           itest_mgmt_str(o, "status"));
    json_decref(o);
    expect_changes("FREEZE_ACCOUNT", a_chk,
                   "{\"status\":{\"before\":\"ACTIVE\",\"after\":\"FROZEN\"}}", manager.user_id);
    {
        char *id =
            itest_mgmt_value(db, "SELECT id FROM accounts WHERE account_number = $1", a_chk, NULL);
        json_t *a = audit_row("FREEZE_ACCOUNT", id);
        EXPECT(strcmp(itest_mgmt_str(json_object_get(a, "metadata"), "reason"),
                      "court order 17/2026") == 0,
               "the reason of a freeze is audited");
        json_decref(a);
        free(id);
    }
    itest_mgmt_problem(manager.bearer, "POST", path, NULL, 409, "/problems/invalid-account-status");
    txn_outcome(t.api_key, "WITHDRAWAL", "10.00", a_chk, NULL, "FAILED", "ACCOUNT_FROZEN");
    txn_outcome(teller.bearer, "DEPOSIT", "5.00", NULL, a_chk, "COMPLETED", NULL);
    v = balance_of(a_chk);
    EXPECT(strcmp(v, "105.00/105.00") == 0, "balance of a frozen account: %s", v);
    free(v);
    snprintf(path, sizeof path, "/v1/accounts/%s/close", a_chk);
    itest_mgmt_problem(manager.bearer, "POST", path, NULL, 409, "/problems/account-frozen");
    snprintf(path, sizeof path, "/v1/accounts/%s/unfreeze", a_chk);
    itest_mgmt_problem(teller.bearer, "POST", path, NULL, 403, "/problems/forbidden");
    o = itest_mgmt_ok(admin.bearer, "POST", path, NULL, 200);
    EXPECT(strcmp(itest_mgmt_str(o, "status"), "ACTIVE") == 0, "unfrozen");
    json_decref(o);
    expect_changes("UNFREEZE_ACCOUNT", a_chk,
                   "{\"status\":{\"before\":\"FROZEN\",\"after\":\"ACTIVE\"}}", admin.user_id);
    itest_mgmt_problem(admin.bearer, "POST", path, NULL, 409, "/problems/invalid-account-status");
    txn_outcome(teller.bearer, "WITHDRAWAL", "10.00", a_chk, NULL, "COMPLETED", NULL);
    /* Closing: at zero balance only. */
    snprintf(path, sizeof path, "/v1/accounts/%s/close", a_chk);
    itest_mgmt_problem(manager.bearer, "POST", path, NULL, 409, "/problems/balance-not-zero");
    txn_outcome(teller.bearer, "WITHDRAWAL", "95.00", a_chk, NULL, "COMPLETED", NULL);
    o = itest_mgmt_ok(manager.bearer, "POST", path, NULL, 200);
    EXPECT(strcmp(itest_mgmt_str(o, "status"), "CLOSED") == 0 &&
               strlen(itest_mgmt_str(o, "closedAt")) == 24,
           "closed: %s at %s", itest_mgmt_str(o, "status"), itest_mgmt_str(o, "closedAt"));
    {
        char want[256];
        snprintf(want, sizeof want,
                 "{\"status\":{\"before\":\"ACTIVE\",\"after\":\"CLOSED\"},"
                 "\"closedAt\":{\"before\":null,\"after\":\"%s\"}}",
                 itest_mgmt_str(o, "closedAt"));
        expect_changes("CLOSE_ACCOUNT", a_chk, want, manager.user_id);
    }
    json_decref(o);
    itest_mgmt_problem(manager.bearer, "POST", path, NULL, 409, "/problems/invalid-account-status");
    txn_outcome(t.api_key, "DEPOSIT", "1.00", NULL, a_chk, "FAILED", "ACCOUNT_CLOSED");
    snprintf(path, sizeof path, "/v1/accounts/%s/freeze", a_chk);
    itest_mgmt_problem(manager.bearer, "POST", path, NULL, 409, "/problems/invalid-account-status");
    snprintf(path, sizeof path, "/v1/accounts/%s", a_chk);
    itest_mgmt_problem(manager.bearer, "PATCH", path, "{\"overdraftLimit\":\"5.00\"}", 409,
                       "/problems/invalid-account-status");
    /* Deleting: closed accounts only; then the account is gone for every read. */
    snprintf(path, sizeof path, "/v1/accounts/%s", a_b);
    itest_mgmt_problem(manager.bearer, "DELETE", path, NULL, 409,
                       "/problems/invalid-account-status");
    snprintf(path, sizeof path, "/v1/accounts/%s", a_chk);
    itest_mgmt_problem(teller.bearer, "DELETE", path, NULL, 403, "/problems/forbidden");
    EXPECT(itest_mgmt_ok(manager.bearer, "DELETE", path, NULL, 204) == NULL, "deleted");
    {
        char *id = itest_mgmt_value(db,
                                    "SELECT id || ' ' || (deleted_at IS NOT NULL) FROM accounts"
                                    " WHERE account_number = $1",
                                    a_chk, NULL);
        EXPECT(strlen(id) == 41 && strcmp(id + 37, "true") == 0, "soft delete: %s", id);
        free(id);
    }
    {
        char want[256];
        v = itest_mgmt_value(db,
                             "SELECT to_char(deleted_at AT TIME ZONE 'UTC',"
                             " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM accounts"
                             " WHERE account_number = $1",
                             a_chk, NULL);
        snprintf(want, sizeof want, "{\"deletedAt\":{\"before\":null,\"after\":\"%s\"}}", v);
        expect_changes("DELETE_ACCOUNT", a_chk, want, manager.user_id);
        free(v);
    }
    itest_mgmt_problem(manager.bearer, "GET", path, NULL, 404, "/problems/not-found");
    itest_mgmt_problem(manager.bearer, "DELETE", path, NULL, 404, "/problems/not-found");
    itest_mgmt_problem(alice_cred.bearer, "GET", path, NULL, 404, "/problems/not-found");
    snprintf(path, sizeof path, "/v1/accounts/%s/balance", a_chk);
    itest_mgmt_problem(manager.bearer, "GET", path, NULL, 404, "/problems/not-found");
    snprintf(path, sizeof path, "/v1/accounts/%s/entries", a_chk);
    itest_mgmt_problem(manager.bearer, "GET", path, NULL, 404, "/problems/not-found");
    snprintf(path, sizeof path, "/v1/accounts?customerId=%s", alice.id);
    items = itest_mgmt_walk(manager.bearer, path, 50, &pages);
    for (size_t i = 0; i < json_array_size(items); i++)
        CHECK(strcmp(itest_mgmt_str(json_array_get(items, i), "accountNumber"), a_chk) != 0,
              "a deleted account is listed");
    EXPECT(json_array_size(items) == 4, "alice has %zu live accounts", json_array_size(items));
    json_decref(items);
    printf("freeze, unfreeze, close at zero, delete closed accounts\n");

    /* ---------------------------------------------------------------- limits */
    snprintf(path, sizeof path, "/v1/accounts/%s", a_b);
    itest_mgmt_problem(teller.bearer, "PATCH", path, "{\"overdraftLimit\":\"500.00\"}", 403,
                       "/problems/forbidden");
    o = itest_mgmt_ok(manager.bearer, "PATCH", path,
                      "{\"overdraftLimit\":\"500\",\"interestRate\":\"1.25\"}", 200);
    EXPECT(strcmp(itest_mgmt_str(o, "overdraftLimit"), "500.00") == 0 &&
               strcmp(itest_mgmt_str(o, "interestRate"), "1.25") == 0 &&
               strcmp(itest_mgmt_str(o, "minimumBalance"), "0.00") == 0,
           "limits after PATCH");
    json_decref(o);
    expect_changes("UPDATE_ACCOUNT", a_b,
                   "{\"overdraftLimit\":{\"before\":\"0.00\",\"after\":\"500.00\"},"
                   "\"interestRate\":{\"before\":null,\"after\":\"1.25\"}}",
                   manager.user_id);
    /* The worker honours the new overdraft. */
    txn_outcome(t.api_key, "WITHDRAWAL", "300.00", a_b, NULL, "COMPLETED", NULL);
    txn_outcome(t.api_key, "WITHDRAWAL", "300.00", a_b, NULL, "FAILED", "INSUFFICIENT_FUNDS");
    v = balance_of(a_b);
    EXPECT(strcmp(v, "-300.00/-300.00") == 0, "within the overdraft: %s", v);
    free(v);
    txn_outcome(t.api_key, "DEPOSIT", "300.00", NULL, a_b, "COMPLETED", NULL);
    o = itest_mgmt_ok(admin.bearer, "PATCH", path, "{\"interestRate\":null}", 200);
    EXPECT(json_is_null(json_object_get(o, "interestRate")), "interestRate cleared");
    json_decref(o);
    expect_changes("UPDATE_ACCOUNT", a_b, "{\"interestRate\":{\"before\":\"1.25\",\"after\":null}}",
                   admin.user_id);
    printf("limits: PATCH by managers, audited, applied by the worker\n");

    /* ---------------------------------------------------------------- 3. locks */
    {
        /* A posting in flight holds bob's account (as the worker does, FOR UPDATE) and credits
         * it; a close that arrives meanwhile waits, then sees the money and refuses. */
        pthread_t th;
        async_call call;
        PGconn *worker_like = itest_tenant_db(&t, NULL);
        char *id =
            itest_mgmt_value(db, "SELECT id FROM accounts WHERE account_number = $1", b_chk, NULL);
        exec2(worker_like, "BEGIN", NULL, NULL);
        exec2(worker_like, "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", id, NULL);
        memset(&call, 0, sizeof call);
        call.bearer = manager.bearer;
        snprintf(call.path, sizeof call.path, "/v1/accounts/%s/close", b_chk);
        CHECK(pthread_create(&th, NULL, call_thread, &call) == 0, "pthread_create");
        sleep(2);
        EXPECT(!call.done, "the close did not wait for the account's lock");
        exec2(worker_like,
              "UPDATE accounts SET balance = balance + 5, available_balance = available_balance + 5"
              " WHERE id = $1",
              id, NULL);
        exec2(worker_like, "COMMIT", NULL, NULL);
        pthread_join(th, NULL);
        EXPECT(call.resp.status == 409 && strstr(call.resp.body, "/problems/balance-not-zero"),
               "a close racing a credit answered %ld %s", call.resp.status, call.resp.body);
        itest_mgmt_resp_free(&call.resp);
        /* The same, the other way round: a freeze waits, then applies. */
        exec2(worker_like, "UPDATE accounts SET balance = 0, available_balance = 0 WHERE id = $1",
              id, NULL);
        exec2(worker_like, "BEGIN", NULL, NULL);
        exec2(worker_like, "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", id, NULL);
        memset(&call, 0, sizeof call);
        call.bearer = manager.bearer;
        snprintf(call.path, sizeof call.path, "/v1/accounts/%s/freeze", b_chk);
        CHECK(pthread_create(&th, NULL, call_thread, &call) == 0, "pthread_create");
        sleep(1);
        EXPECT(!call.done, "the freeze did not wait for the account's lock");
        v = itest_mgmt_value(db, "SELECT status FROM accounts WHERE id = $1", id, NULL);
        EXPECT(strcmp(v, "ACTIVE") == 0, "frozen while a posting held the account");
        free(v);
        exec2(worker_like, "COMMIT", NULL, NULL);
        pthread_join(th, NULL);
        EXPECT(call.resp.status == 200, "the freeze answered %ld", call.resp.status);
        itest_mgmt_resp_free(&call.resp);
        snprintf(path, sizeof path, "/v1/accounts/%s/unfreeze", b_chk);
        json_decref(itest_mgmt_ok(manager.bearer, "POST", path, NULL, 200));
        PQfinish(worker_like);
        free(id);
    }
    printf("locks: status changes wait for a posting's lock\n");

    /* ---------------------------------------------------------------- 4. lists */
#define LIVE_ACCOUNTS                                                                              \
    "SELECT a.id FROM accounts a JOIN customers c ON c.id = a.customer_id"                         \
    " WHERE a.deleted_at IS NULL AND a.account_type <> 'INTERNAL' AND c.deleted_at IS NULL"
#define NEWEST " ORDER BY a.created_at DESC, a.id DESC"
    items = itest_mgmt_walk(teller.bearer, "/v1/accounts", 4, &pages);
    itest_mgmt_same_rows(items, db, LIVE_ACCOUNTS NEWEST, NULL, "all accounts, 4 per page");
    json_decref(items);
    snprintf(path, sizeof path, "/v1/accounts?customerId=%s", bob.id);
    items = itest_mgmt_walk(teller_key.bearer, path, 3, &pages);
    itest_mgmt_same_rows(items, db, LIVE_ACCOUNTS " AND a.customer_id = $1" NEWEST, bob.id,
                         "customerId");
    json_decref(items);
    items =
        itest_mgmt_walk(manager.bearer, "/v1/accounts?accountType=LOAN&status=ACTIVE", 2, &pages);
    itest_mgmt_same_rows(
        items, db, LIVE_ACCOUNTS " AND a.account_type = 'LOAN' AND a.status = 'ACTIVE'" NEWEST,
        NULL, "accountType=LOAN&status=ACTIVE");
    json_decref(items);
    items = itest_mgmt_walk(manager.bearer, "/v1/accounts?currency=EUR", 2, &pages);
    itest_mgmt_same_rows(items, db, LIVE_ACCOUNTS " AND a.currency = 'EUR'" NEWEST, NULL,
                         "currency=EUR");
    json_decref(items);
    snprintf(path, sizeof path, "/v1/accounts?customerId=%s&status=ACTIVE&currency=USD", bob.id);
    items = itest_mgmt_walk(manager.bearer, path, 5, &pages);
    itest_mgmt_same_rows(items, db,
                         LIVE_ACCOUNTS " AND a.customer_id = $1 AND a.status = 'ACTIVE'"
                                       " AND a.currency = 'USD'" NEWEST,
                         bob.id, "customerId&status&currency");
    json_decref(items);
    /* A customer lists its own accounts, and nothing when it names another customer. */
    items = itest_mgmt_walk(alice_cred.bearer, "/v1/accounts", 2, &pages);
    itest_mgmt_same_rows(items, db, LIVE_ACCOUNTS " AND a.customer_id = $1" NEWEST, alice.id,
                         "a customer's own accounts");
    json_decref(items);
    snprintf(path, sizeof path, "/v1/accounts?customerId=%s", bob.id);
    o = itest_mgmt_ok(alice_key.bearer, "GET", path, NULL, 200);
    EXPECT(json_array_size(json_object_get(o, "data")) == 0,
           "a customer listed another's accounts");
    json_decref(o);
    {
        static const char *const params[] = {"status=OPEN",
                                             "accountType=INTERNAL",
                                             "currency=usd",
                                             "customerId=42",
                                             "limit=0",
                                             "limit=1000",
                                             "foo=1",
                                             "cursor=abc",
                                             "status=ACTIVE&status=FROZEN"};
        for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
            itest_resp r;
            snprintf(path, sizeof path, "/v1/accounts?%s", params[i]);
            itest_mgmt_send(manager.bearer, "GET", path, NULL, NULL, &r);
            EXPECT(r.status == 400 && strncmp(r.content_type, "application/problem+json", 24) == 0,
                   "GET %s answered %ld", path, r.status);
            itest_mgmt_resp_free(&r);
        }
        o = itest_mgmt_ok(manager.bearer, "GET", "/v1/customers?limit=1", NULL, 200);
        snprintf(path, sizeof path, "/v1/accounts?cursor=%s", itest_mgmt_str(o, "nextCursor"));
        json_decref(o);
        itest_mgmt_problem(manager.bearer, "GET", path, NULL, 400, "/problems/invalid-cursor");
    }
    printf("lists: pages and filters equal to SQL\n");

    /* ---------------------------------------------------------------- 5. internal accounts */
    before = itest_mgmt_value(db,
                              "SELECT string_agg(a::text, '|' ORDER BY id) FROM accounts a"
                              " WHERE account_type = 'INTERNAL'",
                              NULL, NULL);
    {
        const char *gl[] = {"GL-1000-USD", "GL-4000-EUR"};
        for (int i = 0; i < 2; i++) {
            char p[128];
            snprintf(p, sizeof p, "/v1/accounts/%s", gl[i]);
            itest_mgmt_problem(admin.bearer, "GET", p, NULL, 404, "/problems/not-found");
            itest_mgmt_problem(admin.bearer, "PATCH", p, "{\"overdraftLimit\":\"1.00\"}", 404,
                               "/problems/not-found");
            itest_mgmt_problem(admin.bearer, "DELETE", p, NULL, 404, "/problems/not-found");
            snprintf(p, sizeof p, "/v1/accounts/%s/freeze", gl[i]);
            itest_mgmt_problem(admin.bearer, "POST", p, NULL, 404, "/problems/not-found");
            snprintf(p, sizeof p, "/v1/accounts/%s/close", gl[i]);
            itest_mgmt_problem(admin.bearer, "POST", p, NULL, 404, "/problems/not-found");
        }
        json_decref(
            itest_mgmt_ok(admin.bearer, "GET", "/v1/accounts/GL-1000-USD/balance", NULL, 200));
    }
    v = itest_mgmt_value(db,
                         "SELECT string_agg(a::text, '|' ORDER BY id) FROM accounts a"
                         " WHERE account_type = 'INTERNAL'",
                         NULL, NULL);
    EXPECT(strcmp(v, before) == 0, "an internal account changed");
    free(v);
    free(before);
    printf("internal accounts: out of reach of /v1/accounts\n");

    /* ---------------------------------------------------------------- 6. transactions */
    {
        char id[64], body2[512], dep_id[64];
        /* Alice's money: the savings account a_b holds 0.00 after the overdraft round trip. */
        txn_outcome(t.api_key, "DEPOSIT", "200.00", NULL, a_b, "COMPLETED", NULL);
        snprintf(path, sizeof path, "/v1/accounts/%s", a_b);
        json_decref(itest_mgmt_ok(alice_cred.bearer, "GET", path, NULL, 200));
        snprintf(path, sizeof path, "/v1/accounts/%s/balance", a_b);
        json_decref(itest_mgmt_ok(alice_key.bearer, "GET", path, NULL, 200));
        /* Bob's account, with its right number: invisible to alice. */
        txn_outcome(t.api_key, "DEPOSIT", "70.00", NULL, b_chk, "COMPLETED", NULL);
        snprintf(path, sizeof path, "/v1/accounts/%s", b_chk);
        itest_mgmt_problem(alice_cred.bearer, "GET", path, NULL, 404, "/problems/not-found");
        snprintf(path, sizeof path, "/v1/accounts/%s/balance", b_chk);
        itest_mgmt_problem(alice_cred.bearer, "GET", path, NULL, 404, "/problems/not-found");
        snprintf(path, sizeof path, "/v1/accounts/%s/entries", b_chk);
        itest_mgmt_problem(alice_key.bearer, "GET", path, NULL, 404, "/problems/not-found");
        /* Alice transfers from her own account to Bob's. */
        snprintf(body2, sizeof body2,
                 "{\"type\":\"TRANSFER\",\"amount\":\"25.00\",\"currency\":\"USD\","
                 "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
                 a_b, b_chk);
        EXPECT(post_txn(alice_cred.bearer, body2, id) == 202, "alice's own transfer");
        json_decref(itest_expect_status(&t, id, "COMPLETED"));
        /* ...never from Bob's, nor from a number that does not exist (the same answer). */
        before = fingerprint(db);
        snprintf(body2, sizeof body2,
                 "{\"type\":\"TRANSFER\",\"amount\":\"1.00\",\"currency\":\"USD\","
                 "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
                 b_chk, a_b);
        itest_mgmt_problem(alice_cred.bearer, "POST", "/v1/transactions", body2, 403,
                           "/problems/forbidden");
        itest_mgmt_problem(alice_key.bearer, "POST", "/v1/transactions", body2, 403,
                           "/problems/forbidden");
        snprintf(body2, sizeof body2,
                 "{\"type\":\"TRANSFER\",\"amount\":\"1.00\",\"currency\":\"USD\","
                 "\"fromAccount\":\"1000000009\",\"toAccount\":\"%s\"}",
                 a_b);
        itest_mgmt_problem(alice_cred.bearer, "POST", "/v1/transactions", body2, 403,
                           "/problems/forbidden");
        snprintf(body2, sizeof body2,
                 "{\"type\":\"TRANSFER\",\"amount\":\"1.00\",\"currency\":\"USD\","
                 "\"fromAccount\":\"%s\",\"toAccount\":\"GL-4000-USD\"}",
                 a_b);
        itest_mgmt_problem(alice_cred.bearer, "POST", "/v1/transactions", body2, 403,
                           "/problems/forbidden");
        snprintf(body2, sizeof body2,
                 "{\"type\":\"TRANSFER\",\"amount\":\"1.00\",\"currency\":\"USD\","
                 "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
                 other.account[0], a_b);
        itest_mgmt_problem(alice_cred.bearer, "POST", "/v1/transactions", body2, 403,
                           "/problems/forbidden");
        {
            const char *types[] = {"DEPOSIT", "WITHDRAWAL", "FEE", "INTEREST"};
            for (int i = 0; i < 4; i++) {
                int debit = i == 1 || i == 2;
                snprintf(body2, sizeof body2,
                         "{\"type\":\"%s\",\"amount\":\"1.00\",\"currency\":\"USD\","
                         "\"%s\":\"%s\"}",
                         types[i], debit ? "fromAccount" : "toAccount", a_b);
                itest_mgmt_problem(alice_cred.bearer, "POST", "/v1/transactions", body2, 403,
                                   "/problems/forbidden");
            }
        }
        v = fingerprint(db);
        EXPECT(strcmp(v, before) == 0, "refused commands changed something");
        free(v);
        free(before);
        v = balance_of(a_b);
        EXPECT(strcmp(v, "175.00/175.00") == 0, "alice's balance %s", v);
        free(v);
        v = balance_of(b_chk);
        EXPECT(strcmp(v, "95.00/95.00") == 0, "bob's balance %s", v);
        free(v);
        /* Staff: tellers deposit, withdraw and transfer; fees, interest and reversals are the
         * managers'. */
        snprintf(body2, sizeof body2,
                 "{\"type\":\"DEPOSIT\",\"amount\":\"2.00\",\"currency\":\"USD\","
                 "\"toAccount\":\"%s\"}",
                 b_chk);
        EXPECT(post_txn(teller.bearer, body2, dep_id) == 202, "a teller's deposit");
        json_decref(itest_expect_status(&t, dep_id, "COMPLETED"));
        snprintf(body2, sizeof body2,
                 "{\"type\":\"TRANSFER\",\"amount\":\"2.00\",\"currency\":\"USD\","
                 "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
                 b_chk, a_b);
        EXPECT(post_txn(teller_key.bearer, body2, id) == 202, "a teller's transfer");
        json_decref(itest_expect_status(&t, id, "COMPLETED"));
        {
            for (int i = 0; i < 2; i++) {
                snprintf(body2, sizeof body2,
                         "{\"type\":\"%s\",\"amount\":\"1.00\",\"currency\":\"USD\","
                         "\"%s\":\"%s\"}",
                         i == 0 ? "FEE" : "INTEREST", i == 0 ? "fromAccount" : "toAccount", b_chk);
                itest_mgmt_problem(teller.bearer, "POST", "/v1/transactions", body2, 403,
                                   "/problems/forbidden");
                EXPECT(post_txn(i == 0 ? manager.bearer : admin.bearer, body2, id) == 202,
                       "a manager's %s", body2);
                json_decref(itest_expect_status(&t, id, "COMPLETED"));
            }
            snprintf(body2, sizeof body2,
                     "{\"type\":\"REVERSAL\",\"originalTransactionId\":\"%s\","
                     "\"reason\":\"teller error\"}",
                     dep_id);
            itest_mgmt_problem(teller_key.bearer, "POST", "/v1/transactions", body2, 403,
                               "/problems/forbidden");
            EXPECT(post_txn(manager.bearer, body2, id) == 202, "a manager's reversal");
            json_decref(itest_expect_status(&t, id, "COMPLETED"));
        }
    }
    printf("transactions: customers move their own money only; roles per type\n");

    /* ---------------------------------------------------------------- 7. roles */
    {
        /* CUSTOMER (alice), TELLER (token), TELLER (API key), MANAGER, SUPER_ADMIN, nobody. */
        const char *who[] = {alice_cred.bearer, teller.bearer, teller_key.bearer,
                             manager.bearer,    admin.bearer,  NULL};
        char open_body[256], own[64], others[64], zero[2][32];
        itest_mgmt_open_account(teller.bearer, bob.id, "SAVINGS", "USD", zero[0]);
        itest_mgmt_open_account(teller.bearer, bob.id, "SAVINGS", "USD", zero[1]);
        snprintf(open_body, sizeof open_body,
                 "{\"customerId\":\"%s\",\"accountType\":\"CHECKING\",\"currency\":\"USD\"}",
                 alice.id);
        snprintf(own, sizeof own, "/v1/accounts/%s", a_b);
        snprintf(others, sizeof others, "/v1/accounts/%s", b_chk);
        for (int r = 0; r < 6; r++) {
            const char *b = who[r];
            int staff = r >= 1 && r <= 4, mgr = r >= 3 && r <= 4;
            long none = 401;
            char p[128];
            expect_status(b, "POST", "/v1/accounts", open_body,
                          b == NULL ? none
                          : staff   ? 201
                                    : 403);
            expect_status(b, "GET", "/v1/accounts?limit=1", NULL, b == NULL ? none : 200);
            expect_status(b, "GET", own, NULL, b == NULL ? none : 200);
            expect_status(b, "GET", others, NULL, b == NULL ? none : staff ? 200 : 404);
            expect_status(b, "PATCH", others, "{\"interestRate\":\"0.50\"}",
                          b == NULL ? none
                          : mgr     ? 200
                                    : 403);
            snprintf(p, sizeof p, "%s/freeze", others);
            expect_status(b, "POST", p, NULL, b == NULL ? none : mgr ? 200 : 403);
            snprintf(p, sizeof p, "%s/unfreeze", others);
            expect_status(b, "POST", p, NULL, b == NULL ? none : mgr ? 200 : 403);
            snprintf(p, sizeof p, "/v1/accounts/%s/close", zero[mgr ? r - 3 : 0]);
            expect_status(b, "POST", p, NULL, b == NULL ? none : mgr ? 200 : 403);
            snprintf(p, sizeof p, "/v1/accounts/%s", zero[mgr ? r - 3 : 1]);
            expect_status(b, "DELETE", p, NULL, b == NULL ? none : mgr ? 204 : 403);
        }
        /* The refused calls came before the managers': zero[1] was closed by the super admin
         * and deleted by it, never by anyone else. */
        v = itest_mgmt_value(db,
                             "SELECT string_agg(action || ' ' || user_id, ',' ORDER BY created_at)"
                             " FROM audit_logs WHERE resource_id ="
                             " (SELECT id::text FROM accounts WHERE account_number = $1)"
                             " AND action <> 'CREATE_ACCOUNT'",
                             zero[1], NULL);
        {
            char want[256];
            snprintf(want, sizeof want, "CLOSE_ACCOUNT %s,DELETE_ACCOUNT %s", admin.user_id,
                     admin.user_id);
            EXPECT(strcmp(v, want) == 0, "the audit trail of zero[1]: %s", v);
        }
        free(v);
    }
    printf("roles: 9 endpoints x 6 callers\n");

    /* ---------------------------------------------------------------- isolation */
    before = fingerprint(other_db);
    {
        const char *callers[] = {manager.bearer, admin.bearer, t.api_key, alice_cred.bearer};
        char p[128];
        for (int i = 0; i < 4; i++) {
            itest_resp r;
            snprintf(p, sizeof p, "/v1/accounts/%s", other.account[0]);
            itest_mgmt_send(callers[i], "GET", p, NULL, NULL, &r);
            EXPECT(r.status == 404 && strstr(r.body, other.customer) == NULL,
                   "another tenant's account: %ld %s", r.status, r.body);
            itest_mgmt_resp_free(&r);
        }
        snprintf(p, sizeof p, "/v1/accounts/%s", other.account[0]);
        itest_mgmt_problem(admin.bearer, "PATCH", p, "{\"overdraftLimit\":\"9999.00\"}", 404,
                           "/problems/not-found");
        itest_mgmt_problem(admin.bearer, "DELETE", p, NULL, 404, "/problems/not-found");
        snprintf(p, sizeof p, "/v1/accounts/%s/freeze", other.account[0]);
        itest_mgmt_problem(admin.bearer, "POST", p, NULL, 404, "/problems/not-found");
        snprintf(p, sizeof p, "/v1/accounts/%s/close", other.account[0]);
        itest_mgmt_problem(admin.bearer, "POST", p, NULL, 404, "/problems/not-found");
        snprintf(p, sizeof p, "/v1/accounts/%s/balance", other.account[0]);
        itest_mgmt_problem(admin.bearer, "GET", p, NULL, 404, "/problems/not-found");
        v = itest_mgmt_value(other_db, "SELECT id FROM customers WHERE customer_number = $1",
                             other.customer, NULL);
        snprintf(path, sizeof path,
                 "{\"customerId\":\"%s\",\"accountType\":\"CHECKING\",\"currency\":\"USD\"}", v);
        itest_mgmt_problem(admin.bearer, "POST", "/v1/accounts", path, 422,
                           "/problems/unknown-customer");
        snprintf(p, sizeof p, "/v1/accounts?customerId=%s", v);
        o = itest_mgmt_ok(admin.bearer, "GET", p, NULL, 200);
        EXPECT(json_array_size(json_object_get(o, "data")) == 0,
               "another tenant's customer has accounts here");
        json_decref(o);
        free(v);
    }
    v = fingerprint(other_db);
    EXPECT(strcmp(v, before) == 0, "tenant A's credentials changed tenant B's accounts");
    free(v);
    free(before);
    printf("isolation: another tenant's accounts are not found\n");

    /* ---------------------------------------------------------------- bad input */
    before = fingerprint(db);
    {
        char big[70000];
        static const struct {
            const char *method, *target, *body;
            long status;
            const char *type;
        } bad[] = {
            {"POST", "", "not json", 400, "/problems/invalid-json"},
            {"POST", "", "", 400, "/problems/invalid-json"},
            {"POST", "", "\"CHECKING\"", 400, "/problems/invalid-json"},
            {"POST", "", "{\"customerId\":5,\"accountType\":\"CHECKING\",\"currency\":\"USD\"}",
             422, "/problems/invalid-field"},
            {"POST", "",
             "{\"customerId\":\"not-a-uuid\",\"accountType\":\"CHECKING\","
             "\"currency\":\"USD\"}",
             422, "/problems/invalid-field"},
            {"POST", "", "{\"accountType\":\"CHECKING\",\"currency\":\"USD\"}", 422,
             "/problems/missing-field"},
            {"POST", "ALICE",
             "{\"customerId\":\"%s\",\"accountType\":\"checking\","
             "\"currency\":\"USD\"}",
             422, "/problems/invalid-field"},
            {"POST", "ALICE",
             "{\"customerId\":\"%s\",\"accountType\":\"CHECKING\","
             "\"currency\":\"USD\",\"balance\":\"1000000.00\"}",
             422, "/problems/unknown-field"},
            {"POST", "ALICE",
             "{\"customerId\":\"%s\",\"accountType\":\"CHECKING\","
             "\"currency\":\"USD\",\"status\":\"FROZEN\"}",
             422, "/problems/unknown-field"},
            {"POST", "ALICE",
             "{\"customerId\":\"%s\",\"accountType\":\"CHECKING\","
             "\"currency\":\"USD\",\"overdraftLimit\":100}",
             422, "/problems/invalid-field"},
            {"POST", "ALICE",
             "{\"customerId\":\"%s\",\"accountType\":\"CHECKING\","
             "\"currency\":\"USD\",\"overdraftLimit\":\"-1.00\"}",
             422, "/problems/invalid-amount"},
            {"POST", "ALICE",
             "{\"customerId\":\"%s\",\"accountType\":\"CHECKING\","
             "\"currency\":\"USD\",\"minimumBalance\":\"1e3\"}",
             422, "/problems/invalid-amount"},
            {"POST", "ALICE",
             "{\"customerId\":\"%s\",\"accountType\":\"CHECKING\","
             "\"currency\":\"USD\",\"minimumBalance\":\"99999999999999.00\"}",
             422, "/problems/invalid-amount"},
            {"POST", "ALICE",
             "{\"customerId\":\"%s\",\"accountType\":\"CHECKING\","
             "\"currency\":\"USD\",\"interestRate\":\"100.01\"}",
             422, "/problems/invalid-field"},
            {"POST", "ALICE",
             "{\"customerId\":\"%s\",\"accountType\":\"CHECKING\","
             "\"currency\":\"USD'; DROP TABLE accounts;--\"}",
             422, "/problems/invalid-field"},
            {"PATCH", "B", "{", 400, "/problems/invalid-json"},
            {"PATCH", "B", "{\"accountType\":\"SAVINGS\"}", 422, "/problems/unknown-field"},
            {"PATCH", "B", "{\"status\":\"CLOSED\"}", 422, "/problems/unknown-field"},
            {"PATCH", "B", "{\"balance\":\"1.00\"}", 422, "/problems/unknown-field"},
            {"PATCH", "B", "{\"minimumBalance\":\"-5\"}", 422, "/problems/invalid-amount"},
            {"PATCH", "B", "{\"minimumBalance\":5}", 422, "/problems/invalid-field"},
            {"PATCH", "B", "{\"minimumBalance\":null}", 422, "/problems/invalid-field"},
            {"PATCH", "B", "{\"overdraftLimit\":\"1.234\"}", 422, "/problems/invalid-amount"},
            {"PATCH", "B", "{\"interestRate\":\"-1\"}", 422, "/problems/invalid-field"},
            {"PATCH", "B", "{\"interestRate\":1.5}", 422, "/problems/invalid-field"},
            {"POST", "B/freeze", "{\"reason\":7}", 422, "/problems/invalid-field"},
            {"POST", "B/freeze", "{\"why\":\"x\"}", 422, "/problems/unknown-field"},
            {"POST", "B/close", "[]", 400, "/problems/invalid-json"},
            {"POST", "B/unfreeze", "{\"reason\":\"\"}", 422, "/problems/invalid-field"},
            {"POST", "B/unfreeze", NULL, 409, "/problems/invalid-account-status"},
            {"DELETE", "B", "{}", 400, "/problems/invalid-json"},
            {"GET", "JUNK", NULL, 404, "/problems/not-found"},
            {"PATCH", "JUNK", "{\"interestRate\":\"1.00\"}", 404, "/problems/not-found"},
            {"POST", "JUNK/freeze", NULL, 404, "/problems/not-found"},
            {"PUT", "B", "{}", 405, "/problems/method-not-allowed"},
            {"GET", "B/freeze", NULL, 405, "/problems/method-not-allowed"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            char p[160], b[512];
            const char *tgt = bad[i].target;
            if (strncmp(tgt, "B", 1) == 0)
                snprintf(p, sizeof p, "/v1/accounts/%s%s", b_chk, tgt + 1);
            else if (strncmp(tgt, "JUNK", 4) == 0)
                snprintf(p, sizeof p, "/v1/accounts/1%%27%%20OR%%20%%271%%27=%%271%s", tgt + 4);
            else
                snprintf(p, sizeof p, "/v1/accounts");
            if (strcmp(tgt, "ALICE") == 0) {
                const char *mark = strstr(bad[i].body, "%s");
                snprintf(b, sizeof b, "%.*s%s%s", (int)(mark - bad[i].body), bad[i].body, alice.id,
                         mark + 2);
            } else
                snprintf(b, sizeof b, "%s", bad[i].body != NULL ? bad[i].body : "");
            itest_mgmt_problem(manager.bearer, bad[i].method, p, bad[i].body != NULL ? b : NULL,
                               bad[i].status, bad[i].type);
        }
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        body =
            itest_mgmt_body(json_pack("{s:s, s:s, s:s, s:s}", "customerId", alice.id, "accountType",
                                      "CHECKING", "currency", "USD", "interestRate", big));
        itest_mgmt_problem(manager.bearer, "POST", "/v1/accounts", body, 413,
                           "/problems/body-too-large");
        free(body);
        body = itest_mgmt_body(json_pack("{s:s#}", "reason", big, (int)501));
        snprintf(path, sizeof path, "/v1/accounts/%s/freeze", b_chk);
        itest_mgmt_problem(manager.bearer, "POST", path, body, 422, "/problems/invalid-field");
        free(body);
        {
            itest_resp r;
            const char *text_plain[] = {"Content-Type: text/plain", NULL};
            snprintf(path, sizeof path, "/v1/accounts/%s", b_chk);
            itest_mgmt_send(manager.bearer, "PATCH", path, "{\"interestRate\":\"1.00\"}",
                            text_plain, &r);
            EXPECT(r.status == 415, "text/plain answered %ld", r.status);
            itest_mgmt_resp_free(&r);
        }
    }
    v = fingerprint(db);
    EXPECT(strcmp(v, before) == 0, "bad requests changed the accounts");
    free(v);
    free(before);
    printf("bad input: refused with problem+json, nothing changed\n");

    {
        char out[512];
        int rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
        EXPECT(rc == 0, "ledgerctl verify: %s", out);
    }
    PQfinish(db);
    PQfinish(other_db);
    printf("%d passed, 0 failed\n", itest_mgmt_passed);
    return 0;
}
