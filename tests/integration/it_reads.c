/*
 * The read endpoints against a ledger of a few hundred transactions:
 *   - GET /v1/transactions walked with cursor pagination at a small page size returns every row
 *     once, newest first, exactly as the tenant database orders them;
 *   - the account, status, type and time-range filters return exactly the rows SQL finds;
 *   - ?ref= finds one transaction; the balance endpoint equals the database;
 *   - an account's ledger history walks every entry newest first, each balanceAfter following
 *     from the one before by the entry's side;
 *   - bad parameters get the expected problem type; another tenant's account reads as 404;
 *   - a CUSTOMER caller sees its own accounts only, never the bank's internal ones.
 */
#include "itest.h"
#include "lg_crypto.h"
#include "lg_money.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_COMMANDS 300

static int checks;

/* GET path with key; returns the parsed body (caller json_decref()s) and the status. */
static json_t *get(const char *key, const char *path, long *status, char *ct, size_t ct_size)
{
    char auth[200], *body = NULL;
    const char *headers[] = {auth, NULL};
    json_t *o;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    *status = itest_http("GET", path, headers, NULL, &body, ct, ct_size);
    o = json_loads(body, 0, NULL);
    CHECK(o != NULL, "GET %s answered %ld with a body that is not JSON: %s", path, *status, body);
    free(body);
    return o;
}

static json_t *get_ok(const char *key, const char *path)
{
    char ct[128];
    long status;
    json_t *o = get(key, path, &status, ct, sizeof ct);
    CHECK(status == 200, "GET %s answered %ld: %s", path, status,
          json_string_value(json_object_get(o, "detail")));
    CHECK(strncmp(ct, "application/json", 16) == 0, "GET %s: content type %s", path, ct);
    return o;
}

static void expect_problem(const char *key, const char *method, const char *path, long want_status,
                           const char *want_type)
{
    char auth[200], ct[128], *body = NULL;
    const char *headers[] = {auth, NULL};
    long status;
    json_t *o;
    const char *type;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key != NULL ? key : "");
    status = itest_http(method, path, key != NULL ? headers : NULL, NULL, &body, ct, sizeof ct);
    o = json_loads(body, 0, NULL);
    type = o != NULL ? json_string_value(json_object_get(o, "type")) : NULL;
    CHECK(status == want_status, "%s %s: status %ld, expected %ld (%s)", method, path, status,
          want_status, body);
    CHECK(strncmp(ct, "application/problem+json", 24) == 0, "%s %s: content type %s", method, path,
          ct);
    CHECK(type != NULL && strcmp(type, want_type) == 0, "%s %s: type %s, expected %s", method, path,
          type != NULL ? type : "(none)", want_type);
    CHECK(json_string_value(json_object_get(o, "title")) != NULL &&
              json_string_value(json_object_get(o, "detail")) != NULL,
          "%s %s: no title or detail", method, path);
    CHECK(strstr(body, "SELECT") == NULL && strstr(body, "ERROR:") == NULL &&
              strstr(body, "syntax") == NULL && strstr(body, "::") == NULL,
          "%s %s: SQL in the problem: %s", method, path, body);
    json_decref(o);
    free(body);
    checks++;
}

/* Follows nextCursor from base (a path with or without a query) at page size limit; returns
 * every item (a new array). Every page but the last must be full. */
static json_t *walk(const char *key, const char *base, int limit, int *pages)
{
    json_t *all = json_array();
    char path[1024], cursor[128] = "";
    *pages = 0;
    for (;;) {
        json_t *page, *data, *next;
        snprintf(path, sizeof path, "%s%climit=%d%s%s", base, strchr(base, '?') ? '&' : '?', limit,
                 cursor[0] ? "&cursor=" : "", cursor);
        page = get_ok(key, path);
        data = json_object_get(page, "data");
        next = json_object_get(page, "nextCursor");
        CHECK(json_is_array(data), "%s: no data array", path);
        CHECK(next != NULL && (json_is_null(next) || json_is_string(next)),
              "%s: nextCursor is neither a string nor null", path);
        CHECK(json_array_size(data) <= (size_t)limit, "%s: %zu rows on a page of %d", path,
              json_array_size(data), limit);
        CHECK(json_is_null(next) || json_array_size(data) == (size_t)limit,
              "%s: a page of %zu rows before the last", path, json_array_size(data));
        json_array_extend(all, data);
        (*pages)++;
        CHECK(*pages < 10000, "%s: the walk does not end", base);
        if (json_is_null(next)) {
            json_decref(page);
            return all;
        }
        snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(page);
    }
}

/* The items' ids must be exactly the query's first column, in order. */
static void expect_same_rows(json_t *items, PGconn *db, const char *sql, int n_params,
                             const char *const *params, const char *what, int want_nonempty)
{
    PGresult *res = PQexecParams(db, sql, n_params, NULL, params, NULL, NULL, 0);
    int rows;
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", what, PQerrorMessage(db));
    rows = PQntuples(res);
    CHECK(!want_nonempty || rows > 0, "%s: the database has no such rows; the case proves nothing",
          what);
    CHECK(json_array_size(items) == (size_t)rows,
          "%s: the API listed %zu rows, the database has %d", what, json_array_size(items), rows);
    for (int i = 0; i < rows; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(items, (size_t)i), "id"));
        CHECK(id != NULL && strcmp(id, PQgetvalue(res, i, 0)) == 0,
              "%s: row %d is %s, the database has %s there", what, i, id ? id : "(none)",
              PQgetvalue(res, i, 0));
    }
    PQclear(res);
    printf("  %-44s %4d rows\n", what, rows);
    checks++;
}

static void post_ok(const itest_tenant *t, const char *body, char *id, size_t id_size)
{
    long status = itest_post_txn(t, body, NULL, id, id_size);
    CHECK(status == 202, "POST %s answered %ld", body, status);
}

static void wait_recorded(PGconn *db, int want, int timeout_ms)
{
    int64_t deadline = itest_now_ms() + timeout_ms;
    for (;;) {
        char *v = itest_sql_value(db, "SELECT count(*)::text FROM transactions", NULL);
        int n = atoi(v);
        free(v);
        if (n >= want)
            return;
        CHECK(itest_now_ms() < deadline, "only %d of %d transactions recorded after %d ms", n, want,
              timeout_ms);
        usleep(100000);
    }
}

static void expect_balance(const char *key, PGconn *db, const char *number)
{
    char path[128];
    json_t *o;
    PGresult *res;
    snprintf(path, sizeof path, "/v1/accounts/%s/balance", number);
    o = get_ok(key, path);
    res = PQexecParams(db,
                       "SELECT account_number, currency, balance::text, available_balance::text,"
                       " status FROM accounts WHERE account_number = $1",
                       1, NULL, (const char *[]){number}, NULL, NULL, 0);
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1, "account %s", number);
    {
        const char *names[] = {"accountNumber", "currency", "balance", "availableBalance",
                               "status"};
        for (int c = 0; c < 5; c++) {
            const char *v = json_string_value(json_object_get(o, names[c]));
            CHECK(v != NULL && strcmp(v, PQgetvalue(res, 0, c)) == 0,
                  "%s of %s: the API says %s, the database %s", names[c], number, v ? v : "(none)",
                  PQgetvalue(res, 0, c));
        }
    }
    CHECK(json_object_size(o) == 5, "the balance of %s has %zu fields", number,
          json_object_size(o));
    PQclear(res);
    json_decref(o);
    checks++;
}

/* Walks an account's ledger history; checks it against the database and the balanceAfter chain
 * (credit_normal: a CREDIT increases the balance). Returns the nextCursor of a one-entry first
 * page (malloc'd), for the bad-parameter cases. */
static char *expect_history(const char *key, PGconn *db, const char *number, int credit_normal,
                            int limit)
{
    char path[160], what[96], *first_cursor;
    json_t *items, *first;
    int pages;
    int64_t running = 0;
    size_t n;
    snprintf(path, sizeof path, "/v1/accounts/%s/entries", number);
    items = walk(key, path, limit, &pages);
    snprintf(what, sizeof what, "entries of %s, %d per page", number, limit);
    expect_same_rows(items, db,
                     "SELECT e.id FROM ledger_entries e JOIN accounts a ON a.id = e.account_id"
                     " WHERE a.account_number = $1 ORDER BY e.entry_seq DESC",
                     1, (const char *[]){number}, what, 1);
    n = json_array_size(items);
    /* Oldest first: every balanceAfter is the previous one moved by this entry. */
    for (size_t i = n; i-- > 0;) {
        json_t *e = json_array_get(items, i);
        const char *side = json_string_value(json_object_get(e, "entryType"));
        const char *amount = json_string_value(json_object_get(e, "amount"));
        const char *after = json_string_value(json_object_get(e, "balanceAfter"));
        int64_t a, b;
        char err[64];
        CHECK(side != NULL && amount != NULL && after != NULL, "entry %zu of %s is incomplete", i,
              number);
        CHECK(lg_money_parse(amount, &a, err, sizeof err) == 0 && a > 0, "amount %s", amount);
        CHECK(lg_money_parse_signed(after, &b, err, sizeof err) == 0, "balanceAfter %s", after);
        running += (strcmp(side, "CREDIT") == 0) == credit_normal ? a : -a;
        CHECK(b == running, "%s entry %zu: balanceAfter %s, the entries before sum to %lld", number,
              i, after, (long long)running);
        CHECK(json_string_value(json_object_get(e, "transactionId")) != NULL &&
                  json_string_value(json_object_get(e, "currency")) != NULL &&
                  json_string_value(json_object_get(e, "accountCode")) != NULL &&
                  json_string_value(json_object_get(e, "createdAt")) != NULL,
              "%s entry %zu lacks a field", number, i);
    }
    /* The newest balanceAfter is the balance. */
    {
        char *bal = itest_sql_value(
            db, "SELECT balance::text FROM accounts WHERE account_number = $1", number);
        int64_t b;
        char err[64];
        CHECK(lg_money_parse_signed(bal, &b, err, sizeof err) == 0 && b == running,
              "%s: balance %s, the history ends at %lld", number, bal, (long long)running);
        free(bal);
    }
    checks++;
    snprintf(path, sizeof path, "/v1/accounts/%s/entries?limit=1", number);
    first = get_ok(key, path);
    first_cursor = strdup(json_string_value(json_object_get(first, "nextCursor")) ?: "");
    json_decref(first);
    json_decref(items);
    return first_cursor;
}

/* "2026-11-25T10:15:30.123456+02:00" for a row's created_at, in another zone. */
static char *created_at_rfc3339(PGconn *db, const char *id, int offset_hours)
{
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT to_char((created_at AT TIME ZONE 'UTC') + interval '%d hours',"
             " 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '%+03d:00' FROM transactions WHERE id = $1",
             offset_hours, offset_hours);
    return itest_sql_value(db, sql, id);
}

/* Percent-encodes the '+' of an offset. */
static void encode_plus(char *out, size_t size, const char *s)
{
    size_t n = 0;
    for (; *s != '\0' && n + 4 < size; s++) {
        if (*s == '+') {
            memcpy(out + n, "%2B", 3);
            n += 3;
        } else {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
}

/* A CUSTOMER credential for the customer who owns t's accounts, written straight into the master
 * (ledgerctl issues staff keys only; customers will sign in with tokens). */
static void make_customer_key(const itest_tenant *t, PGconn *tenant_db, char *key, size_t size)
{
    char hash[LG_HASH_HEXLEN];
    char *user_id = itest_sql_value(
        tenant_db, "SELECT user_id::text FROM customers WHERE customer_number = $1", t->customer);
    PGconn *master = itest_master_db();
    PGresult *res;
    unsigned char r[16];
    char hex[33];
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(hex, sizeof hex, r, sizeof r);
    snprintf(key, size, "lk_itestcustomer%s", hex);
    lg_hash_hex(key, strlen(key), hash);
    res = PQexecParams(master,
                       "INSERT INTO api_keys (tenant_id, name, key_prefix, key_hash, role, user_id)"
                       " VALUES ($1, 'itest customer', 'lk_itestcu', $2, 'CUSTOMER', $3)",
                       3, NULL, (const char *[]){t->id, hash, user_id}, NULL, NULL, 0);
    CHECK(PQresultStatus(res) == PGRES_COMMAND_OK, "customer key: %s", PQerrorMessage(master));
    PQclear(res);
    PQfinish(master);
    free(user_id);
}

int main(void)
{
    itest_tenant t, other;
    char id[64], body[512], path[512], from_q[96], to_q[96], other_account[32], customer_key[96];
    char ids[N_COMMANDS][64], *v, *txn_cursor, *entry_cursor;
    json_t *items, *o;
    PGconn *db, *other_db;
    int pages, total;
    int64_t started;

    itest_tenant_create(&t, "it-reads", NULL, 4, "USD");
    itest_tenant_create(&other, "it-reads-b", "LEDGER_ADMIN_DSN_2", 1, "USD");
    db = itest_tenant_db(&t, NULL);
    other_db = itest_tenant_db(&other, "LEDGER_ADMIN_DSN_2");

    /* The ledger: opening deposits, then a mix of deposits, withdrawals, transfers and fees,
     * some of which fail for want of funds. */
    started = itest_now_ms();
    for (int a = 0; a < 4; a++) {
        snprintf(body, sizeof body,
                 "{\"type\":\"DEPOSIT\",\"amount\":\"5000.00\",\"currency\":\"USD\","
                 "\"toAccount\":\"%s\",\"description\":\"opening\"}",
                 t.account[a]);
        post_ok(&t, body, id, sizeof id);
    }
    for (int i = 0; i < N_COMMANDS; i++) {
        const char *x = t.account[i % 4], *y = t.account[(i + 1) % 4];
        char amount[32];
        snprintf(amount, sizeof amount, "%d.%02d", 1 + (i * 37) % 90, (i * 13) % 100);
        switch (i % 6) {
        case 0:
        case 3:
            snprintf(body, sizeof body,
                     "{\"type\":\"DEPOSIT\",\"amount\":\"%s\",\"currency\":\"USD\","
                     "\"toAccount\":\"%s\",\"reference\":\"R%d\"}",
                     amount, x, i);
            break;
        case 1:
            snprintf(body, sizeof body,
                     "{\"type\":\"WITHDRAWAL\",\"amount\":\"%s\",\"currency\":\"USD\","
                     "\"fromAccount\":\"%s\"}",
                     i % 24 == 1 ? "900000.00" : amount, x);
            break;
        case 2:
        case 4:
            snprintf(body, sizeof body,
                     "{\"type\":\"TRANSFER\",\"amount\":\"%s\",\"currency\":\"USD\","
                     "\"fromAccount\":\"%s\",\"toAccount\":\"%s\",\"description\":\"t%d\"}",
                     i % 40 == 2 ? "100000.00" : amount, x, y, i);
            break;
        default:
            snprintf(body, sizeof body,
                     "{\"type\":\"FEE\",\"amount\":\"1.50\",\"currency\":\"USD\","
                     "\"fromAccount\":\"%s\"}",
                     y);
            break;
        }
        post_ok(&t, body, ids[i], sizeof ids[i]);
    }
    total = N_COMMANDS + 4;
    wait_recorded(db, total, 120000);
    printf("%d commands posted and recorded in %lld ms\n", total,
           (long long)(itest_now_ms() - started));
    /* Commands accepted within the same millisecond share created_at. Make ten do so, so that
     * page boundaries fall inside a tie, where only the id orders the rows. */
    {
        char array[16 * 40];
        size_t len = 0;
        PGresult *res;
        for (int i = 150; i < 160; i++)
            len += (size_t)snprintf(array + len, sizeof array - len, "%c%s", i == 150 ? '{' : ',',
                                    ids[i]);
        snprintf(array + len, sizeof array - len, "}");
        res = PQexecParams(db,
                           "UPDATE transactions SET created_at ="
                           " (SELECT created_at FROM transactions WHERE id = $1)"
                           " WHERE id = ANY($2::uuid[])",
                           2, NULL, (const char *[]){ids[150], array}, NULL, NULL, 0);
        CHECK(PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdTuples(res), "10") == 0,
              "making a tie: %s", PQerrorMessage(db));
        PQclear(res);
    }
    /* The other tenant, on the other server: one deposit. */
    snprintf(other_account, sizeof other_account, "%s", other.account[0]);
    snprintf(
        body, sizeof body,
        "{\"type\":\"DEPOSIT\",\"amount\":\"123.45\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
        other_account);
    post_ok(&other, body, id, sizeof id);
    json_decref(itest_wait_txn(&other, id, 30000));

    /* 1. The whole list, 7 per page, against the database's order. */
    items = walk(t.api_key, "/v1/transactions", 7, &pages);
    expect_same_rows(items, db, "SELECT id FROM transactions ORDER BY created_at DESC, id DESC", 0,
                     NULL, "all transactions, 7 per page", 1);
    CHECK(pages == (total + 6) / 7, "%d pages for %d rows at 7 per page", pages, total);
    for (size_t i = 1; i < json_array_size(items); i++) {
        const char *newer =
            json_string_value(json_object_get(json_array_get(items, i - 1), "createdAt"));
        const char *older =
            json_string_value(json_object_get(json_array_get(items, i), "createdAt"));
        CHECK(newer != NULL && older != NULL && strcmp(newer, older) >= 0,
              "row %zu (%s) is newer than row %zu (%s)", i, older, i - 1, newer);
    }
    /* A listed transaction is the same JSON as GET /v1/transactions/{id}. */
    {
        json_t *item = json_array_get(items, 17), *one;
        snprintf(path, sizeof path, "/v1/transactions/%s",
                 json_string_value(json_object_get(item, "id")));
        one = get_ok(t.api_key, path);
        CHECK(json_equal(one, item), "the list and GET by id differ for %s", path);
        json_decref(one);
        checks++;
    }
    json_decref(items);

    /* Page sizes: the default is 50, the maximum 200. */
    o = get_ok(t.api_key, "/v1/transactions");
    CHECK(json_array_size(json_object_get(o, "data")) == 50 &&
              json_is_string(json_object_get(o, "nextCursor")),
          "the default page is not 50 rows with a next cursor");
    txn_cursor = strdup(json_string_value(json_object_get(o, "nextCursor")));
    json_decref(o);
    o = get_ok(t.api_key, "/v1/transactions?limit=200");
    CHECK(json_array_size(json_object_get(o, "data")) == 200, "limit=200 gave %zu rows",
          json_array_size(json_object_get(o, "data")));
    json_decref(o);
    checks += 2;

    /* 2. Filters. */
    snprintf(path, sizeof path, "/v1/transactions?account=%s", t.account[2]);
    items = walk(t.api_key, path, 9, &pages);
    expect_same_rows(items, db,
                     "SELECT t.id FROM transactions t, accounts a WHERE a.account_number = $1"
                     " AND a.id IN (t.from_account_id, t.to_account_id)"
                     " ORDER BY t.created_at DESC, t.id DESC",
                     1, (const char *[]){t.account[2]}, "account filter", 1);
    json_decref(items);
    items = walk(t.api_key, "/v1/transactions?status=FAILED", 4, &pages);
    expect_same_rows(items, db,
                     "SELECT id FROM transactions WHERE status = 'FAILED'"
                     " ORDER BY created_at DESC, id DESC",
                     0, NULL, "status=FAILED", 1);
    json_decref(items);
    items = walk(t.api_key, "/v1/transactions?type=TRANSFER&status=COMPLETED", 11, &pages);
    expect_same_rows(items, db,
                     "SELECT id FROM transactions WHERE type = 'TRANSFER' AND status = 'COMPLETED'"
                     " ORDER BY created_at DESC, id DESC",
                     0, NULL, "type=TRANSFER&status=COMPLETED", 1);
    json_decref(items);
    snprintf(path, sizeof path, "/v1/transactions?type=WITHDRAWAL&account=%s", t.account[1]);
    items = walk(t.api_key, path, 5, &pages);
    expect_same_rows(items, db,
                     "SELECT t.id FROM transactions t JOIN accounts a ON a.id = t.from_account_id"
                     " WHERE a.account_number = $1 AND t.type = 'WITHDRAWAL'"
                     " ORDER BY t.created_at DESC, t.id DESC",
                     1, (const char *[]){t.account[1]}, "type=WITHDRAWAL&account", 1);
    json_decref(items);
    /* A time range: from the 60th command (inclusive, given in +02:00) to the 240th (exclusive,
     * in -05:00, its '+'-free offset sent as is); then from alone, with a raw '+' that the query
     * string decodes to a space. */
    {
        char *from = created_at_rfc3339(db, ids[60], 2), *to = created_at_rfc3339(db, ids[240], -5);
        char *from_utc = created_at_rfc3339(db, ids[100], 0);
        encode_plus(from_q, sizeof from_q, from);
        snprintf(to_q, sizeof to_q, "%s", to);
        snprintf(path, sizeof path, "/v1/transactions?from=%s&to=%s", from_q, to_q);
        items = walk(t.api_key, path, 13, &pages);
        expect_same_rows(items, db,
                         "SELECT id FROM transactions WHERE created_at >= $1::timestamptz"
                         " AND created_at < $2::timestamptz ORDER BY created_at DESC, id DESC",
                         2, (const char *[]){from, to}, "from/to", 1);
        CHECK(json_array_size(items) >= 150, "the range holds %zu rows", json_array_size(items));
        json_decref(items);
        snprintf(path, sizeof path, "/v1/transactions?status=COMPLETED&from=%s", from_utc);
        items = walk(t.api_key, path, 50, &pages);
        expect_same_rows(items, db,
                         "SELECT id FROM transactions WHERE created_at >= $1::timestamptz"
                         " AND status = 'COMPLETED' ORDER BY created_at DESC, id DESC",
                         1, (const char *[]){from_utc}, "from (UTC) and status", 1);
        json_decref(items);
        snprintf(path, sizeof path, "/v1/transactions?to=%s", from);
        items = walk(t.api_key, path, 50, &pages);
        expect_same_rows(items, db,
                         "SELECT id FROM transactions WHERE created_at < $1::timestamptz"
                         " ORDER BY created_at DESC, id DESC",
                         1, (const char *[]){from}, "to with a raw '+' in the offset", 1);
        json_decref(items);
        free(from);
        free(to);
        free(from_utc);
    }

    /* 3. ?ref= */
    {
        char *ref =
            itest_sql_value(db, "SELECT transaction_ref FROM transactions WHERE id = $1", ids[123]);
        snprintf(path, sizeof path, "/v1/transactions?ref=%s", ref);
        o = get_ok(t.api_key, path);
        CHECK(strcmp(json_string_value(json_object_get(o, "id")) ?: "", ids[123]) == 0 &&
                  strcmp(json_string_value(json_object_get(o, "transactionRef")) ?: "", ref) == 0,
              "ref %s found another transaction", ref);
        json_decref(o);
        /* The other tenant's ref of the same shape is not ours to see. */
        free(ref);
        ref = itest_sql_value(other_db, "SELECT transaction_ref FROM transactions", NULL);
        v = itest_sql_value(
            db, "SELECT count(*)::text FROM transactions WHERE transaction_ref = $1", ref);
        if (strcmp(v, "0") == 0) {
            snprintf(path, sizeof path, "/v1/transactions?ref=%s", ref);
            expect_problem(t.api_key, "GET", path, 404, "/problems/not-found");
        }
        free(v);
        free(ref);
        expect_problem(t.api_key, "GET", "/v1/transactions?ref=TXN-19990101-999999", 404,
                       "/problems/not-found");
        checks++;
    }

    /* 4. Balances, the bank's cash account included (staff may read it). */
    for (int a = 0; a < 4; a++)
        expect_balance(t.api_key, db, t.account[a]);
    expect_balance(t.api_key, db, "GL-1000-USD");
    expect_balance(other.api_key, other_db, "GL-1000-USD");
    /* A hold makes the available balance differ from the balance: each field has its column. */
    PQclear(PQexecParams(db,
                         "UPDATE accounts SET available_balance = balance - 12.34"
                         " WHERE account_number = $1",
                         1, NULL, (const char *[]){t.account[1]}, NULL, NULL, 0));
    expect_balance(t.api_key, db, t.account[1]);
    PQclear(PQexecParams(
        db, "UPDATE accounts SET available_balance = balance WHERE account_number = $1", 1, NULL,
        (const char *[]){t.account[1]}, NULL, NULL, 0));

    /* 5. Ledger history: a customer account (CREDIT increases it) and cash (DEBIT does). */
    free(expect_history(t.api_key, db, t.account[0], 1, 6));
    entry_cursor = expect_history(t.api_key, db, "GL-1000-USD", 0, 25);
    CHECK(entry_cursor[0] != '\0', "no cursor after the first entry of cash");

    /* 6. Bad parameters. */
    {
        const struct {
            const char *path;
            long status;
            const char *type;
        } bad[] = {
            {"/v1/transactions?status=DONE", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?status=completed", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?type=GIFT", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?from=yesterday", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?from=2026-11-25T10:00:00", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?from=2026-11-25", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?to=2026-02-30T00:00:00Z", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?from=2026-11-25T10:00:00Z&to=2026-11-25T09:00:00Z", 400,
             "/problems/invalid-parameter"},
            {"/v1/transactions?limit=0", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?limit=201", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?limit=-1", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?limit=ten", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?limit=", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?limit", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?status=COMPLETED&status=FAILED", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?account=not%20an%20account", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?account=1%27%3B%20DROP%20TABLE%20accounts", 400,
             "/problems/invalid-parameter"},
            {"/v1/transactions?ref=TXN-1&limit=5", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?ref=TXN%27--", 400, "/problems/invalid-parameter"},
            {"/v1/transactions?cursor=not-a-cursor", 400, "/problems/invalid-cursor"},
            {"/v1/transactions?cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 400,
             "/problems/invalid-cursor"},
            {"/v1/transactions?foo=1", 400, "/problems/unknown-parameter"},
            {"/v1/transactions?Status=COMPLETED", 400, "/problems/unknown-parameter"},
            {"/v1/transactions?offset=50", 400, "/problems/unknown-parameter"},
            {"/v1/accounts/GL-1000-USD/balance?limit=5", 400, "/problems/unknown-parameter"},
            {"/v1/accounts/GL-1000-USD/entries?limit=500", 400, "/problems/invalid-parameter"},
            {"/v1/accounts/GL-1000-USD/entries?status=COMPLETED", 400,
             "/problems/unknown-parameter"},
            {"/v1/accounts/GL-1000-USD/entries?cursor=x", 400, "/problems/invalid-cursor"},
            {"/v1/accounts/GL-9999-USD/balance", 404, "/problems/not-found"},
            {"/v1/accounts/not%20a%20number/balance", 404, "/problems/not-found"},
            {"/v1/accounts/GL-1000-USD/history", 404, "/problems/not-found"},
            {"/v1/accounts/GL-1000-USD", 404, "/problems/not-found"},
            {"/v1/transactions/not-a-uuid", 404, "/problems/not-found"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            expect_problem(t.api_key, "GET", bad[i].path, bad[i].status, bad[i].type);
        /* A cursor of one list is not a cursor of the other. */
        snprintf(path, sizeof path, "/v1/transactions?cursor=%s", entry_cursor);
        expect_problem(t.api_key, "GET", path, 400, "/problems/invalid-cursor");
        snprintf(path, sizeof path, "/v1/accounts/GL-1000-USD/entries?cursor=%s", txn_cursor);
        expect_problem(t.api_key, "GET", path, 400, "/problems/invalid-cursor");
        expect_problem(t.api_key, "POST", "/v1/accounts/GL-1000-USD/balance", 405,
                       "/problems/method-not-allowed");
        expect_problem(t.api_key, "DELETE", "/v1/transactions", 405,
                       "/problems/method-not-allowed");
        expect_problem(NULL, "GET", "/v1/transactions?status=COMPLETED", 401,
                       "/problems/unauthenticated");
        expect_problem(NULL, "GET", "/v1/accounts/GL-1000-USD/balance", 401,
                       "/problems/unauthenticated");
        printf("  %zu bad requests refused with the expected problem\n",
               sizeof bad / sizeof bad[0] + 6);
    }

    /* 7. Isolation: the other tenant's account does not exist for this tenant's key. */
    v = itest_sql_value(db, "SELECT count(*)::text FROM accounts WHERE account_number = $1",
                        other_account);
    CHECK(strcmp(v, "0") == 0, "the account number %s exists in both tenants", other_account);
    free(v);
    snprintf(path, sizeof path, "/v1/accounts/%s/balance", other_account);
    expect_problem(t.api_key, "GET", path, 404, "/problems/not-found");
    snprintf(path, sizeof path, "/v1/accounts/%s/entries", other_account);
    expect_problem(t.api_key, "GET", path, 404, "/problems/not-found");
    snprintf(path, sizeof path, "/v1/accounts/%s/balance", t.account[0]);
    expect_problem(other.api_key, "GET", path, 404, "/problems/not-found");
    snprintf(path, sizeof path, "/v1/transactions?account=%s", other_account);
    o = get_ok(t.api_key, path);
    CHECK(json_array_size(json_object_get(o, "data")) == 0 &&
              json_is_null(json_object_get(o, "nextCursor")),
          "a filter on another tenant's account listed rows");
    json_decref(o);
    snprintf(path, sizeof path, "/v1/transactions/%s", id);
    expect_problem(t.api_key, "GET", path, 404, "/problems/not-found");
    /* Soft-deleted accounts are invisible. */
    PQclear(PQexecParams(db, "UPDATE accounts SET deleted_at = now() WHERE account_number = $1", 1,
                         NULL, (const char *[]){t.account[3]}, NULL, NULL, 0));
    snprintf(path, sizeof path, "/v1/accounts/%s/balance", t.account[3]);
    expect_problem(t.api_key, "GET", path, 404, "/problems/not-found");
    snprintf(path, sizeof path, "/v1/accounts/%s/entries", t.account[3]);
    expect_problem(t.api_key, "GET", path, 404, "/problems/not-found");
    checks++;

    /* 8. A CUSTOMER caller: its own accounts only, never the bank's. A second customer of the
     * same bank with an account of their own shows the boundary. */
    {
        char email[128], second_customer[32], second_account[32], second_txn[64];
        int rc;
        snprintf(email, sizeof email, "second@%s.example", t.slug);
        rc = itest_ledgerctl(second_customer, sizeof second_customer, "customer", "create",
                             "--tenant", t.slug, "--first-name", "Second", "--last-name",
                             "Customer", "--email", email, NULL);
        CHECK(rc == 0, "customer create exited %d", rc);
        rc = itest_ledgerctl(second_account, sizeof second_account, "account", "open", "--tenant",
                             t.slug, "--customer", second_customer, "--type", "SAVINGS",
                             "--currency", "USD", NULL);
        CHECK(rc == 0, "account open exited %d", rc);
        snprintf(body, sizeof body,
                 "{\"type\":\"DEPOSIT\",\"amount\":\"77.00\",\"currency\":\"USD\","
                 "\"toAccount\":\"%s\"}",
                 second_account);
        post_ok(&t, body, second_txn, sizeof second_txn);
        json_decref(itest_wait_txn(&t, second_txn, 30000));

        make_customer_key(&t, db, customer_key, sizeof customer_key);
        expect_balance(customer_key, db, t.account[0]);
        snprintf(path, sizeof path, "/v1/accounts/%s/balance", second_account);
        expect_problem(customer_key, "GET", path, 404, "/problems/not-found");
        expect_balance(t.api_key, db, second_account);
        expect_problem(customer_key, "GET", "/v1/accounts/GL-1000-USD/balance", 404,
                       "/problems/not-found");
        expect_problem(customer_key, "GET", "/v1/accounts/GL-1000-USD/entries", 404,
                       "/problems/not-found");
        expect_problem(customer_key, "GET", "/v1/transactions", 403, "/problems/forbidden");
        snprintf(path, sizeof path, "/v1/transactions?account=%s", second_account);
        o = get_ok(customer_key, path);
        CHECK(json_array_size(json_object_get(o, "data")) == 0,
              "a customer listed another customer's transactions");
        json_decref(o);
        snprintf(path, sizeof path, "/v1/transactions/%s", second_txn);
        expect_problem(customer_key, "GET", path, 404, "/problems/not-found");
        snprintf(path, sizeof path, "/v1/transactions/%s", ids[0]);
        json_decref(get_ok(customer_key, path));
        snprintf(path, sizeof path, "/v1/transactions?account=%s", t.account[0]);
        items = walk(customer_key, path, 20, &pages);
        expect_same_rows(items, db,
                         "SELECT t.id FROM transactions t, accounts a WHERE a.account_number = $1"
                         " AND a.id IN (t.from_account_id, t.to_account_id)"
                         " ORDER BY t.created_at DESC, t.id DESC",
                         1, (const char *[]){t.account[0]}, "a customer's own account", 1);
        json_decref(items);
        checks++;
    }

    free(txn_cursor);
    free(entry_cursor);
    PQfinish(db);
    PQfinish(other_db);
    printf("%d passed, 0 failed\n", checks);
    return 0;
}
