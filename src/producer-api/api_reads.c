/*
 * The reads of producer-api: transactions (by id, by transactionRef, filtered lists) and
 * accounts (balance, ledger history), each from the caller's tenant database through the
 * router's pool, each answering problem+json on error (never SQL text).
 *
 * Lists are newest first and paged by keyset (lg_cursor.h): transactions by
 * (created_at DESC, id DESC), ledger entries by entry_seq DESC - the posting order, which
 * balance_after follows. A page fetches one row more than asked to learn whether another page
 * follows; the account numbers of a page come in the same statement, never one query per row.
 *
 * Who sees what. Bank staff - API keys of role TELLER, MANAGER or SUPER_ADMIN - read every
 * account of their tenant, the bank's internal general-ledger accounts (GL-1000-USD, ...)
 * included: staff reconcile them. A CUSTOMER caller reads only accounts of the customer it is,
 * never an internal account, and only transactions that touch such an account; anything else
 * reads as "not found", so a customer cannot even learn that another account exists.
 * Soft-deleted accounts are invisible to every caller.
 *
 * Query parameters come from libmicrohttpd (MHD_GET_ARGUMENT_KIND), already percent-decoded.
 * Unknown, repeated and empty parameters are refused, so a typo never silently widens a list.
 */
#include "api.h"

#include "lg_cursor.h"
#include "lg_db.h"
#include "lg_log.h"
#include "lg_money.h"
#include "lg_time.h"
#include "lg_validate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P_NOT_FOUND         "/problems/not-found"
#define P_UNKNOWN_PARAMETER "/problems/unknown-parameter"
#define P_INVALID_PARAMETER "/problems/invalid-parameter"
#define P_INVALID_CURSOR    "/problems/invalid-cursor"
#define P_FORBIDDEN         "/problems/forbidden"
#define P_UNAVAILABLE       "/problems/unavailable"
#define P_METHOD            "/problems/method-not-allowed"

#define PAGE_DEFAULT 50
#define PAGE_MAX     200
#define REF_MAX      64

/* The SQL below is laid out by hand. */
/* clang-format off */
/* An instant as the API writes it: RFC 3339 in UTC with milliseconds. */
#define ISO_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* One transaction as GET /v1/transactions/{id} shows it, then its page key. */
#define TXN_COLUMNS                                                                                \
    "t.id, t.transaction_ref, t.type, t.status, t.amount::text, t.currency,"                       \
    " fa.account_number, ta.account_number, t.description, t.reference, t.failure_code,"           \
    " t.failure_reason, " ISO_UTC("t.created_at") ", " ISO_UTC("t.processed_at") ","               \
    " t.original_transaction_id, t.reversal_reason, " ISO_UTC("t.reversed_at") ","                 \
    " (extract(epoch FROM t.created_at) * 1000000)::bigint"
#define TXN_FROM                                                                                   \
    " FROM transactions t"                                                                         \
    " LEFT JOIN accounts fa ON fa.id = t.from_account_id"                                          \
    " LEFT JOIN accounts ta ON ta.id = t.to_account_id"
/* The same over transactions moved out by `ledgerctl archive` (same columns). */
#define TXN_FROM_ARCHIVE                                                                           \
    " FROM transactions_archive t"                                                                 \
    " LEFT JOIN accounts fa ON fa.id = t.from_account_id"                                          \
    " LEFT JOIN accounts ta ON ta.id = t.to_account_id"
#define TXN_COL_ID         0
#define TXN_COL_CREATED_US 17
#define TXN_COL_VISIBLE    18

/* May the caller see the transaction? ($2: the caller is staff, $3: the caller's user id.)
 * Staff see all; a customer those touching one of their own live customer accounts. */
#define TXN_VISIBLE                                                                                \
    "($2::boolean OR EXISTS (SELECT 1 FROM accounts a JOIN customers c"                            \
    " ON c.id = a.customer_id WHERE a.id IN (t.from_account_id, t.to_account_id)"                  \
    " AND a.deleted_at IS NULL AND a.account_type <> 'INTERNAL'"                                   \
    " AND c.user_id = $3::uuid AND c.deleted_at IS NULL))"

/* One page of an account's ledger history ($1 account id, $2 rows, $3 entry_seq to start below,
 * or NULL). (account_id, entry_seq) is unique and indexed: a backward index scan, no sort. */
#define ENTRIES_PAGE                                                                               \
    "SELECT e.id, e.transaction_id, e.entry_type, e.amount::text, e.currency,"                     \
    " e.balance_after::text, e.account_code, e.description,"                                       \
    " " ISO_UTC("e.created_at") ", e.entry_seq"                                                    \
    " FROM ledger_entries e"                                                                       \
    " WHERE e.account_id = $1::uuid AND ($3::bigint IS NULL OR e.entry_seq < $3::bigint)"          \
    " ORDER BY e.entry_seq DESC LIMIT $2::integer"
#define ENTRY_COL_SEQ 9
/* clang-format on */

static const char *const txn_statuses[] = {"PENDING", "PROCESSING", "COMPLETED",
                                           "FAILED",  "REVERSED",   NULL};
static const char *const txn_types[] = {"DEPOSIT",  "WITHDRAWAL", "TRANSFER", "FEE",
                                        "INTEREST", "REVERSAL",   NULL};

static void problem(api_request *r, int status, const char *type, const char *title,
                    const char *field, const char *detail)
{
    lg_problem p;
    lg_problem_set(&p, status, type, title, field, "%s", detail);
    api_respond_problem(r, &p);
}

static int is_staff(const api_caller *c)
{
    return strcmp(c->role, "TELLER") == 0 || strcmp(c->role, "MANAGER") == 0 ||
           strcmp(c->role, "SUPER_ADMIN") == 0;
}

/* The visibility parameters ($2, $3 of TXN_VISIBLE and of the account lookup). */
static void visibility_params(const api_caller *c, const char **staff, const char **user_id)
{
    *staff = is_staff(c) ? "true" : "false";
    *user_id = lg_uuid_valid(c->user_id) ? c->user_id : NULL;
}

static int one_of(const char *s, const char *const *set)
{
    for (size_t i = 0; set[i] != NULL; i++)
        if (strcmp(s, set[i]) == 0)
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ query parameters */

typedef struct {
    const char *const *names; /* accepted names, NULL-terminated */
    const char **values;      /* values[i] belongs to names[i]; NULL when absent */
    lg_problem *p;
    int failed;
} query_reader;

/* Copies a client-given name for a message: printable ASCII only, at most 40 characters. */
static void printable_name(char *out, size_t out_size, const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < out_size && n < 40; i++)
        out[n++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
    out[n] = '\0';
}

static enum MHD_Result read_argument(void *cls, enum MHD_ValueKind kind, const char *key,
                                     size_t key_size, const char *value, size_t value_size)
{
    query_reader *q = cls;
    char name[48];
    size_t i;
    (void)kind;
    for (i = 0; q->names[i] != NULL; i++)
        if (strlen(q->names[i]) == key_size && memcmp(q->names[i], key, key_size) == 0)
            break;
    printable_name(name, sizeof name, key, key_size);
    if (q->names[i] == NULL) {
        lg_problem_set(q->p, 400, P_UNKNOWN_PARAMETER, "Unknown query parameter", name,
                       "the query parameter \"%s\" is not understood by this resource", name);
    } else if (q->values[i] != NULL) {
        lg_problem_set(q->p, 400, P_INVALID_PARAMETER, "Invalid query parameter", name,
                       "%s is given more than once", name);
    } else if (value == NULL || value_size == 0 || strlen(value) != value_size) {
        lg_problem_set(q->p, 400, P_INVALID_PARAMETER, "Invalid query parameter", name,
                       "%s needs a value", name);
    } else {
        q->values[i] = value;
        return MHD_YES;
    }
    q->failed = 1;
    return MHD_NO;
}

/* Reads the query string into values[] (by the index of names[]). Returns 0, or -1 with *p. */
static int read_query(api_request *r, const char *const *names, const char **values, lg_problem *p)
{
    query_reader q = {names, values, p, 0};
    for (size_t i = 0; names[i] != NULL; i++)
        values[i] = NULL;
    MHD_get_connection_values_n(r->connection, MHD_GET_ARGUMENT_KIND, read_argument, &q);
    return q.failed ? -1 : 0;
}

static int parse_limit(const char *text, int *limit, lg_problem *p)
{
    size_t n;
    if (text == NULL) {
        *limit = PAGE_DEFAULT;
        return 0;
    }
    n = strlen(text);
    if (n == 0 || n > 3 || strspn(text, "0123456789") != n || (int)strtol(text, NULL, 10) < 1 ||
        (int)strtol(text, NULL, 10) > PAGE_MAX)
        return lg_problem_set(p, 400, P_INVALID_PARAMETER, "Invalid query parameter", "limit",
                              "limit must be a whole number from 1 to %d (default %d)", PAGE_MAX,
                              PAGE_DEFAULT);
    *limit = (int)strtol(text, NULL, 10);
    return 0;
}

/* An RFC 3339 parameter as PostgreSQL timestamptz text. Returns 0, or -1 with *p. */
static int parse_instant(const char *name, const char *text, int64_t *us, char *pg, size_t pg_size,
                         lg_problem *p)
{
    char e[128];
    if (lg_time_parse_rfc3339(text, us, e, sizeof e) != 0 ||
        lg_time_format_pg(*us, pg, pg_size) == NULL)
        return lg_problem_set(p, 400, P_INVALID_PARAMETER, "Invalid query parameter", name,
                              "%s must be an RFC 3339 date-time such as 2026-11-25T10:15:30Z "
                              "(send '+' as %%2B): %s",
                              name, e);
    return 0;
}

static int ref_valid(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= REF_MAX &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* ------------------------------------------------------------------ database access */

/* A connection to the caller's tenant database, or NULL once r is answered (503). */
static PGconn *open_tenant(api_request *r, const api_caller *caller)
{
    char err[512];
    PGconn *db = lg_router_acquire(r->server->router, caller->tenant.id, r->server->db_wait_ms, err,
                                   sizeof err);
    if (db == NULL) {
        lg_log_error("tenant %s: %s", caller->tenant.slug, err);
        r->retry_after = 1;
        problem(r, 503, P_UNAVAILABLE, "Service unavailable", NULL,
                "the tenant's database is not reachable right now; retry later");
    }
    return db;
}

/* A statement failed: the connection goes back as broken, the caller gets a 503. */
static void read_failed(api_request *r, const api_caller *caller, PGconn *db, const char *what,
                        const char *err)
{
    char detail[128];
    lg_router_release(r->server->router, caller->tenant.id, db, 1);
    lg_log_error("tenant %s: reading %s: %s", caller->tenant.slug, what, err);
    r->retry_after = 1;
    snprintf(detail, sizeof detail, "the %s cannot be read right now; retry later", what);
    problem(r, 503, P_UNAVAILABLE, "Service unavailable", NULL, detail);
}

/* The caller's view of an account: id, number, currency, balance, available balance, status.
 * Returns the result (0 or 1 row; caller PQclear()s it) or NULL with err. */
static PGresult *query_account(PGconn *db, const api_caller *caller, const char *number, char *err,
                               size_t err_size)
{
    const char *params[3] = {number, NULL, NULL};
    visibility_params(caller, &params[1], &params[2]);
    return lg_db_query(db,
                       "SELECT a.id, a.account_number, a.currency, a.balance::text,"
                       " a.available_balance::text, a.status"
                       " FROM accounts a"
                       " WHERE a.account_number = $1 AND a.deleted_at IS NULL"
                       " AND ($2::boolean OR (a.account_type <> 'INTERNAL' AND EXISTS"
                       " (SELECT 1 FROM customers c WHERE c.id = a.customer_id"
                       " AND c.user_id = $3::uuid AND c.deleted_at IS NULL)))",
                       3, params, err, err_size);
}

/* ------------------------------------------------------------------ JSON */

static void set_text(json_t *o, const char *name, const PGresult *res, int row, int col)
{
    json_object_set_new(
        o, name, PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col)));
}

static void set_money(json_t *o, const char *name, const PGresult *res, int row, int col)
{
    int64_t v;
    char buf[LG_MONEY_STRLEN], err[64];
    if (lg_money_parse_signed(PQgetvalue(res, row, col), &v, err, sizeof err) == 0)
        json_object_set_new(o, name, json_string(lg_money_format(v, buf, sizeof buf)));
}

/* A row of TXN_COLUMNS as the API shows a transaction. Returns a new reference. */
static json_t *txn_json(const PGresult *res, int row)
{
    json_t *o = json_object();
    set_text(o, "id", res, row, 0);
    set_text(o, "transactionRef", res, row, 1);
    set_text(o, "type", res, row, 2);
    set_text(o, "status", res, row, 3);
    set_money(o, "amount", res, row, 4);
    set_text(o, "currency", res, row, 5);
    set_text(o, "fromAccount", res, row, 6);
    set_text(o, "toAccount", res, row, 7);
    set_text(o, "description", res, row, 8);
    set_text(o, "reference", res, row, 9);
    set_text(o, "failureCode", res, row, 10);
    set_text(o, "failureReason", res, row, 11);
    set_text(o, "createdAt", res, row, 12);
    set_text(o, "processedAt", res, row, 13);
    set_text(o, "originalTransactionId", res, row, 14);
    set_text(o, "reversalReason", res, row, 15);
    set_text(o, "reversedAt", res, row, 16);
    return o;
}

/* {"data": [...], "nextCursor": cursor or null}; steals data. */
static json_t *page_json(json_t *data, const char *next_cursor)
{
    json_t *o = json_object();
    json_object_set_new(o, "data", data);
    json_object_set_new(o, "nextCursor",
                        next_cursor != NULL ? json_string(next_cursor) : json_null());
    return o;
}

static int64_t column_int64(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* ------------------------------------------------------------------ transactions */

/* Answers one transaction found by "t.id = $1" or "t.transaction_ref = $1", live or archived.
 * For an id the API issued whose outcome is not recorded yet, answers PENDING (never 404 after a
 * 202); a recorded transaction the caller may not see is not found - and must not read as
 * PENDING. */
static void answer_one_transaction(api_request *r, api_caller *caller, const char *where,
                                   const char *key, int is_issued_id)
{
    char err[512], sql[2048];
    const char *params[3] = {key, NULL, NULL};
    PGconn *db;
    PGresult *res;
    int found;

    db = open_tenant(r, caller);
    if (db == NULL)
        return;
    visibility_params(caller, &params[1], &params[2]);
    snprintf(sql, sizeof sql, "SELECT %s, %s%s WHERE %s", TXN_COLUMNS, TXN_VISIBLE, TXN_FROM,
             where);
    res = lg_db_query(db, sql, 3, params, err, sizeof err);
    if (res == NULL) {
        read_failed(r, caller, db, "transaction", err);
        return;
    }
    if (PQntuples(res) == 0) {
        /* Not live: perhaps archived (`ledgerctl archive`, tenant migration 0008), which must
         * not read as PENDING. Only on this path, so the live read costs nothing more; a tenant
         * database without the archive table simply has nothing archived. */
        PGresult *archived;
        snprintf(sql, sizeof sql, "SELECT %s, %s%s WHERE %s", TXN_COLUMNS, TXN_VISIBLE,
                 TXN_FROM_ARCHIVE, where);
        archived = lg_db_query(db, sql, 3, params, err, sizeof err);
        if (archived != NULL) {
            PQclear(res);
            res = archived;
        }
    }
    lg_router_release(r->server->router, caller->tenant.id, db, 0);
    found = PQntuples(res) == 1;
    if (found && strcmp(PQgetvalue(res, 0, TXN_COL_VISIBLE), "t") == 0) {
        api_respond_json(r, 200, txn_json(res, 0));
        PQclear(res);
        return;
    }
    PQclear(res);
    if (!found && is_issued_id && lg_txn_id_verify(r->server->keyring, caller->tenant.id, key)) {
        /* An id this API issued to this tenant whose outcome is not recorded yet. */
        api_respond_json(r, 200, json_pack("{s:s, s:s}", "id", key, "status", "PENDING"));
        return;
    }
    problem(r, 404, P_NOT_FOUND, "Not found", NULL,
            is_issued_id ? "no transaction with this id"
                         : "no transaction with this transactionRef");
}

void api_get_transaction(api_request *r, const char *id)
{
    api_caller caller;
    lg_problem p;
    if (api_authenticate(r, &caller, &p) != 0) {
        api_respond_problem(r, &p);
        return;
    }
    if (!lg_uuid_valid(id)) {
        problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no transaction with this id");
        return;
    }
    answer_one_transaction(r, &caller, "t.id = $1::uuid", id, 1);
}

enum { Q_REF, Q_ACCOUNT, Q_STATUS, Q_TYPE, Q_FROM, Q_TO, Q_LIMIT, Q_CURSOR, Q_N };

/* Appends " AND <condition>" to sql, binding value as the next parameter: every "$?" in
 * condition stands for it. The conditions are constants of this file. */
static void add_condition(char *sql, size_t sql_size, const char **params, int *n,
                          const char *condition, const char *value)
{
    size_t len = strlen(sql);
    params[*n] = value;
    (*n)++;
    snprintf(sql + len, sql_size - len, " AND ");
    for (const char *c = condition; *c != '\0'; c++) {
        len = strlen(sql);
        if (c[0] == '$' && c[1] == '?') {
            snprintf(sql + len, sql_size - len, "$%d", *n);
            c++;
        } else {
            snprintf(sql + len, sql_size - len, "%c", *c);
        }
    }
}

void api_list_transactions(api_request *r)
{
    static const char *const names[] = {"ref", "account", "status", "type", "from",
                                        "to",  "limit",   "cursor", NULL};
    api_caller caller;
    lg_problem p;
    const char *q[Q_N + 1];
    const char *params[8];
    char err[512], sql[4096], from_pg[LG_TIME_PG_STRLEN], to_pg[LG_TIME_PG_STRLEN];
    char cursor_pg[LG_TIME_PG_STRLEN], cursor_id[LG_UUID_STRLEN], account_id[LG_UUID_STRLEN];
    char limit_text[16], next[LG_CURSOR_STRLEN];
    int64_t from_us = 0, to_us = 0, cursor_us = 0;
    int limit, n = 0, rows;
    PGconn *db;
    PGresult *res;
    json_t *data;

    if (api_authenticate(r, &caller, &p) != 0) {
        api_respond_problem(r, &p);
        return;
    }
    if (read_query(r, names, q, &p) != 0) {
        api_respond_problem(r, &p);
        return;
    }
    if (q[Q_REF] != NULL) {
        for (int i = 0; i < Q_N; i++)
            if (i != Q_REF && q[i] != NULL) {
                problem(r, 400, P_INVALID_PARAMETER, "Invalid query parameter", names[i],
                        "ref finds one transaction and takes no other parameter");
                return;
            }
        if (!ref_valid(q[Q_REF])) {
            problem(r, 400, P_INVALID_PARAMETER, "Invalid query parameter", "ref",
                    "ref must be a transactionRef such as TXN-20261125-000042");
            return;
        }
        answer_one_transaction(r, &caller, "t.transaction_ref = $1", q[Q_REF], 0);
        return;
    }

    /* Filters and page, all checked before the database is touched. */
    if (q[Q_ACCOUNT] != NULL && !lg_account_number_valid(q[Q_ACCOUNT])) {
        problem(r, 400, P_INVALID_PARAMETER, "Invalid query parameter", "account",
                "account must be an account number: 1 to 34 characters of A-Z, 0-9 and '-'");
        return;
    }
    if (q[Q_STATUS] != NULL && !one_of(q[Q_STATUS], txn_statuses)) {
        problem(r, 400, P_INVALID_PARAMETER, "Invalid query parameter", "status",
                "status must be PENDING, PROCESSING, COMPLETED, FAILED or REVERSED");
        return;
    }
    if (q[Q_TYPE] != NULL && !one_of(q[Q_TYPE], txn_types)) {
        problem(r, 400, P_INVALID_PARAMETER, "Invalid query parameter", "type",
                "type must be DEPOSIT, WITHDRAWAL, TRANSFER, FEE, INTEREST or REVERSAL");
        return;
    }
    if ((q[Q_FROM] != NULL &&
         parse_instant("from", q[Q_FROM], &from_us, from_pg, sizeof from_pg, &p) != 0) ||
        (q[Q_TO] != NULL && parse_instant("to", q[Q_TO], &to_us, to_pg, sizeof to_pg, &p) != 0) ||
        parse_limit(q[Q_LIMIT], &limit, &p) != 0) {
        api_respond_problem(r, &p);
        return;
    }
    if (q[Q_FROM] != NULL && q[Q_TO] != NULL && from_us >= to_us) {
        problem(r, 400, P_INVALID_PARAMETER, "Invalid query parameter", "to",
                "to must be later than from (from is inclusive, to exclusive)");
        return;
    }
    if (q[Q_CURSOR] != NULL &&
        (lg_cursor_decode_txn(q[Q_CURSOR], &cursor_us, cursor_id) != 0 ||
         lg_time_format_pg(cursor_us, cursor_pg, sizeof cursor_pg) == NULL)) {
        problem(r, 400, P_INVALID_CURSOR, "Invalid cursor", "cursor",
                "cursor must be a nextCursor returned by this list, unchanged");
        return;
    }
    if (!is_staff(&caller) && q[Q_ACCOUNT] == NULL) {
        problem(r, 403, P_FORBIDDEN, "Forbidden", "account",
                "a customer lists the transactions of one of their accounts: add account=");
        return;
    }

    db = open_tenant(r, &caller);
    if (db == NULL)
        return;
    snprintf(sql, sizeof sql, "SELECT %s%s WHERE true", TXN_COLUMNS, TXN_FROM);
    if (q[Q_ACCOUNT] != NULL) {
        res = query_account(db, &caller, q[Q_ACCOUNT], err, sizeof err);
        if (res == NULL) {
            read_failed(r, &caller, db, "account", err);
            return;
        }
        if (PQntuples(res) == 0) {
            /* A filter on an account the caller cannot see matches nothing. */
            PQclear(res);
            lg_router_release(r->server->router, caller.tenant.id, db, 0);
            api_respond_json(r, 200, page_json(json_array(), NULL));
            return;
        }
        snprintf(account_id, sizeof account_id, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        add_condition(sql, sizeof sql, params, &n,
                      "(t.from_account_id = $?::uuid OR t.to_account_id = $?::uuid)", account_id);
    }
    if (q[Q_STATUS] != NULL)
        add_condition(sql, sizeof sql, params, &n, "t.status = $?::transaction_status",
                      q[Q_STATUS]);
    if (q[Q_TYPE] != NULL)
        add_condition(sql, sizeof sql, params, &n, "t.type = $?::transaction_type", q[Q_TYPE]);
    if (q[Q_FROM] != NULL)
        add_condition(sql, sizeof sql, params, &n, "t.created_at >= $?::timestamptz", from_pg);
    if (q[Q_TO] != NULL)
        add_condition(sql, sizeof sql, params, &n, "t.created_at < $?::timestamptz", to_pg);
    if (q[Q_CURSOR] != NULL) {
        size_t len = strlen(sql);
        params[n] = cursor_pg;
        params[n + 1] = cursor_id;
        snprintf(sql + len, sizeof sql - len,
                 " AND (t.created_at, t.id) < ($%d::timestamptz, $%d::uuid)", n + 1, n + 2);
        n += 2;
    }
    snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
    params[n++] = limit_text;
    {
        size_t len = strlen(sql);
        snprintf(sql + len, sizeof sql - len,
                 " ORDER BY t.created_at DESC, t.id DESC LIMIT $%d::integer", n);
    }
    res = lg_db_query(db, sql, n, params, err, sizeof err);
    if (res == NULL) {
        read_failed(r, &caller, db, "transactions", err);
        return;
    }
    lg_router_release(r->server->router, caller.tenant.id, db, 0);
    rows = PQntuples(res);
    data = json_array();
    for (int i = 0; i < rows && i < limit; i++)
        json_array_append_new(data, txn_json(res, i));
    if (rows > limit &&
        lg_cursor_encode_txn(column_int64(res, limit - 1, TXN_COL_CREATED_US),
                             PQgetvalue(res, limit - 1, TXN_COL_ID), next, sizeof next) != 0) {
        /* Never end a list early: a page without its cursor would hide the rows after it. */
        lg_log_error("tenant %s: no cursor for transaction %s", caller.tenant.slug,
                     PQgetvalue(res, limit - 1, TXN_COL_ID));
        json_decref(data);
        PQclear(res);
        problem(r, 500, "/problems/internal", "Internal error", NULL,
                "the next page cannot be addressed");
        return;
    }
    api_respond_json(r, 200, page_json(data, rows > limit ? next : NULL));
    PQclear(res);
}

/* ------------------------------------------------------------------ accounts */

static void get_balance(api_request *r, api_caller *caller, const char *number)
{
    char err[512];
    PGconn *db;
    PGresult *res;
    json_t *o;

    db = open_tenant(r, caller);
    if (db == NULL)
        return;
    res = query_account(db, caller, number, err, sizeof err);
    if (res == NULL) {
        read_failed(r, caller, db, "account", err);
        return;
    }
    lg_router_release(r->server->router, caller->tenant.id, db, 0);
    if (PQntuples(res) == 0) {
        PQclear(res);
        problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no account with this number");
        return;
    }
    o = json_object();
    set_text(o, "accountNumber", res, 0, 1);
    set_text(o, "currency", res, 0, 2);
    set_money(o, "balance", res, 0, 3);
    set_money(o, "availableBalance", res, 0, 4);
    set_text(o, "status", res, 0, 5);
    PQclear(res);
    api_respond_json(r, 200, o);
}

static void list_entries(api_request *r, api_caller *caller, const char *number, int limit,
                         const char *cursor_seq)
{
    char err[512], account_id[LG_UUID_STRLEN], limit_text[16], next[LG_CURSOR_STRLEN];
    const char *params[3];
    PGconn *db;
    PGresult *res;
    json_t *data;
    int rows;

    db = open_tenant(r, caller);
    if (db == NULL)
        return;
    res = query_account(db, caller, number, err, sizeof err);
    if (res == NULL) {
        read_failed(r, caller, db, "account", err);
        return;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        lg_router_release(r->server->router, caller->tenant.id, db, 0);
        problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no account with this number");
        return;
    }
    snprintf(account_id, sizeof account_id, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
    params[0] = account_id;
    params[1] = limit_text;
    params[2] = cursor_seq;
    res = lg_db_query(db, ENTRIES_PAGE, 3, params, err, sizeof err);
    if (res == NULL) {
        read_failed(r, caller, db, "ledger entries", err);
        return;
    }
    lg_router_release(r->server->router, caller->tenant.id, db, 0);
    rows = PQntuples(res);
    data = json_array();
    for (int i = 0; i < rows && i < limit; i++) {
        json_t *o = json_object();
        set_text(o, "id", res, i, 0);
        set_text(o, "transactionId", res, i, 1);
        set_text(o, "entryType", res, i, 2);
        set_money(o, "amount", res, i, 3);
        set_text(o, "currency", res, i, 4);
        set_money(o, "balanceAfter", res, i, 5);
        set_text(o, "accountCode", res, i, 6);
        set_text(o, "description", res, i, 7);
        set_text(o, "createdAt", res, i, 8);
        json_array_append_new(data, o);
    }
    /* Entry cursors cannot fail to encode: entry_seq is an integer. */
    if (rows > limit)
        lg_cursor_encode_entry(column_int64(res, limit - 1, ENTRY_COL_SEQ), next, sizeof next);
    api_respond_json(r, 200, page_json(data, rows > limit ? next : NULL));
    PQclear(res);
}

void api_account_reads(api_request *r)
{
    static const char prefix[] = "/v1/accounts/";
    static const char *const no_names[] = {NULL};
    static const char *const entry_names[] = {"limit", "cursor", NULL};
    const char *rest = r->url + sizeof prefix - 1;
    const char *slash = strchr(rest, '/');
    const char *leaf;
    const char *q[3];
    char number[LG_ACCOUNT_NUMBER_MAX + 2], seq_text[24];
    api_caller caller;
    lg_problem p;
    int entries, limit;
    int64_t seq;

    if (strncmp(r->url, prefix, sizeof prefix - 1) != 0 || slash == NULL) {
        problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no such resource");
        return;
    }
    leaf = slash + 1;
    entries = strcmp(leaf, "entries") == 0;
    if (!entries && strcmp(leaf, "balance") != 0) {
        problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no such resource");
        return;
    }
    if (strcmp(r->method, "GET") != 0) {
        problem(r, 405, P_METHOD, "Method not allowed", NULL, "use GET to read an account");
        return;
    }
    if (api_authenticate(r, &caller, &p) != 0) {
        api_respond_problem(r, &p);
        return;
    }
    if (read_query(r, entries ? entry_names : no_names, q, &p) != 0) {
        api_respond_problem(r, &p);
        return;
    }
    /* A number that cannot exist is simply not found. */
    if ((size_t)(slash - rest) >= sizeof number) {
        problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no account with this number");
        return;
    }
    memcpy(number, rest, (size_t)(slash - rest));
    number[slash - rest] = '\0';
    if (!lg_account_number_valid(number)) {
        problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no account with this number");
        return;
    }
    if (!entries) {
        get_balance(r, &caller, number);
        return;
    }
    if (parse_limit(q[0], &limit, &p) != 0) {
        api_respond_problem(r, &p);
        return;
    }
    if (q[1] != NULL && lg_cursor_decode_entry(q[1], &seq) != 0) {
        problem(r, 400, P_INVALID_CURSOR, "Invalid cursor", "cursor",
                "cursor must be a nextCursor returned by this list, unchanged");
        return;
    }
    if (q[1] != NULL)
        snprintf(seq_text, sizeof seq_text, "%lld", (long long)seq);
    list_entries(r, &caller, number, limit, q[1] != NULL ? seq_text : NULL);
}
