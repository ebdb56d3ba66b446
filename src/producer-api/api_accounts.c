/*
 * Customer accounts over REST: /v1/accounts, and who may submit which transaction.
 *
 *   POST   /v1/accounts                    staff      open; limits other than 0: managers
 *   GET    /v1/accounts                    all        a page; a CUSTOMER sees its own only
 *   GET    /v1/accounts/{number}           all        a CUSTOMER only its own
 *   PATCH  /v1/accounts/{number}           managers   minimumBalance, overdraftLimit, interestRate
 *   POST   /v1/accounts/{number}/freeze    managers   ACTIVE -> FROZEN
 *   POST   /v1/accounts/{number}/unfreeze  managers   FROZEN -> ACTIVE
 *   POST   /v1/accounts/{number}/close     managers   ACTIVE or INACTIVE at zero balance -> CLOSED
 *   DELETE /v1/accounts/{number}           managers   soft; CLOSED accounts only
 * (GET /v1/accounts/{number}/balance and /entries stay in api_reads.c.)
 *
 * Opening: the customer must exist, not be deleted, and be KYC VERIFIED; the bank must keep
 * internal accounts in the currency (otherwise no posting could ever balance); the tenant's
 * maxAccounts (master database) bounds the live customer accounts - internal accounts do not
 * count, closed ones do until deleted. Opens are serialised per tenant with a transaction-level
 * advisory lock, so two concurrent opens cannot both take the last place. The number is ten
 * digits with a Luhn check digit (lg_accounts.h); gl_code and normal_side follow the type:
 * LOAN is an asset of the bank (1200, DEBIT), the deposit types are liabilities (2000, CREDIT).
 *
 * The bank's internal general-ledger accounts (account_type INTERNAL) are not part of this
 * resource: every endpoint here answers 404 for them, as for a soft-deleted account, another
 * tenant's, or (for a CUSTOMER) another customer's. Staff read internal balances through
 * /balance and /entries.
 *
 * Status changes and limits lock the account row (SELECT ... FOR UPDATE) in a transaction that
 * also writes the AuditLog row. The worker locks the accounts of a batch the same way, so a
 * freeze or a close is ordered with the postings: a close decided on a zero balance cannot
 * overtake a deposit being applied, and a posting applied after a freeze sees FROZEN.
 */
#include "api_mgmt.h"

#include "lg_accounts.h"
#include "lg_avro.h"
#include "lg_cursor.h"
#include "lg_log.h"
#include "lg_money.h"
#include "lg_time.h"
#include "lg_validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P_NOT_FOUND        "/problems/not-found"
#define P_INVALID_FIELD    "/problems/invalid-field"
#define P_MISSING_FIELD    "/problems/missing-field"
#define P_INVALID_AMOUNT   "/problems/invalid-amount"
#define P_INVALID_CURR     "/problems/invalid-currency"
#define P_FORBIDDEN        "/problems/forbidden"
#define P_UNKNOWN_CUST     "/problems/unknown-customer"
#define P_KYC_NOT_VERIFIED "/problems/kyc-not-verified"
#define P_LIMIT_REACHED    "/problems/limit-reached"
#define P_ACCOUNT_STATUS   "/problems/invalid-account-status"
#define P_ACCOUNT_FROZEN   "/problems/account-frozen"
#define P_BALANCE          "/problems/balance-not-zero"
#define P_INVALID_PARAM    "/problems/invalid-parameter"
#define P_INVALID_CURSOR   "/problems/invalid-cursor"
#define P_INTERNAL         "/problems/internal"

#define REASON_MAX     500
#define RATE_MAX_MINOR 10000 /* 100.00 % */
/* The advisory lock that serialises account opening within a tenant database. */
#define OPEN_LOCK_KEY "7640241661"

/* clang-format off */
#define ACCOUNT_COLUMNS                                                                            \
    "a.id, a.account_number, a.account_type, a.customer_id, c.customer_number, a.currency,"        \
    " a.balance::text, a.available_balance::text, a.minimum_balance::text,"                       \
    " a.overdraft_limit::text, a.interest_rate::text, a.status,"                                  \
    " " API_MGMT_ISO_UTC("a.created_at") ", a.created_by, " API_MGMT_ISO_UTC("a.updated_at") ","  \
    " " API_MGMT_ISO_UTC("a.closed_at") ", " API_MGMT_EPOCH_US("a.created_at")
#define ACCOUNT_FROM " FROM accounts a JOIN customers c ON c.id = a.customer_id"
/* The accounts this resource knows: live customer accounts of live customers. */
#define ACCOUNT_LIVE                                                                               \
    " a.deleted_at IS NULL AND a.account_type <> 'INTERNAL' AND c.deleted_at IS NULL"
/* ... that the caller may see ($2: the caller is staff, $3: the caller's user id). */
#define ACCOUNT_VISIBLE ACCOUNT_LIVE " AND ($2::boolean OR c.user_id = $3::uuid)"
/* clang-format on */

enum {
    AC_ID,
    AC_NUMBER,
    AC_TYPE,
    AC_CUSTOMER,
    AC_CUSTOMER_NUMBER,
    AC_CURRENCY,
    AC_BALANCE,
    AC_AVAILABLE,
    AC_MINIMUM,
    AC_OVERDRAFT,
    AC_RATE,
    AC_STATUS,
    AC_CREATED,
    AC_CREATED_BY,
    AC_UPDATED,
    AC_CLOSED,
    AC_CURSOR
};

static const char *const account_types[] = {"SAVINGS", "CHECKING", "FIXED_DEPOSIT", "LOAN", NULL};
static const char *const account_statuses[] = {"ACTIVE", "INACTIVE", "FROZEN", "CLOSED", NULL};

/* Shown by the resource, never set by a request body. */
static const char *const account_read_only[] = {
    "id",          "accountNumber", "customerNumber", "balance",   "availableBalance",
    "status",      "createdAt",     "createdBy",      "updatedAt", "closedAt",
    "accountType", "currency",      "customerId",     NULL};

/* A row of ACCOUNT_COLUMNS as the API shows an account. New reference. */
static json_t *account_json(const PGresult *res, int row)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", api_db_text(res, row, AC_ID));
    json_object_set_new(o, "accountNumber", api_db_text(res, row, AC_NUMBER));
    json_object_set_new(o, "accountType", api_db_text(res, row, AC_TYPE));
    json_object_set_new(o, "customerId", api_db_text(res, row, AC_CUSTOMER));
    json_object_set_new(o, "customerNumber", api_db_text(res, row, AC_CUSTOMER_NUMBER));
    json_object_set_new(o, "currency", api_db_text(res, row, AC_CURRENCY));
    json_object_set_new(o, "balance", api_mgmt_col_money(res, row, AC_BALANCE));
    json_object_set_new(o, "availableBalance", api_mgmt_col_money(res, row, AC_AVAILABLE));
    json_object_set_new(o, "minimumBalance", api_mgmt_col_money(res, row, AC_MINIMUM));
    json_object_set_new(o, "overdraftLimit", api_mgmt_col_money(res, row, AC_OVERDRAFT));
    json_object_set_new(o, "interestRate", api_db_text(res, row, AC_RATE));
    json_object_set_new(o, "status", api_db_text(res, row, AC_STATUS));
    json_object_set_new(o, "createdAt", api_db_text(res, row, AC_CREATED));
    json_object_set_new(o, "createdBy", api_db_text(res, row, AC_CREATED_BY));
    json_object_set_new(o, "updatedAt", api_db_text(res, row, AC_UPDATED));
    json_object_set_new(o, "closedAt", api_db_text(res, row, AC_CLOSED));
    return o;
}

static void visibility(const api_caller *caller, const char **staff, const char **user_id)
{
    *staff = api_mgmt_is_staff(caller) ? "true" : "false";
    *user_id = lg_uuid_valid(caller->user_id) ? caller->user_id : NULL;
}

int api_accounts_embed(api_mgmt_db *x, json_t *customers)
{
    char *ids;
    size_t n = json_array_size(customers), used = 0, i;
    json_t *by_customer = json_object(), *customer;
    PGresult *res;

    /* {id,id,...}: UUIDs need no quoting in an array literal. */
    ids = malloc(n * LG_UUID_STRLEN + 3);
    if (ids == NULL) {
        json_decref(by_customer);
        api_mgmt_db_fail(x, "accounts", "out of memory");
        return -1;
    }
    ids[used++] = '{';
    json_array_foreach(customers, i, customer)
    {
        json_t *list = json_array();
        const char *id = api_mgmt_str(customer, "id");
        json_object_set_new(customer, "accounts", list);
        json_object_set(by_customer, id, list);
        used += (size_t)snprintf(ids + used, LG_UUID_STRLEN + 1, "%s%s", i > 0 ? "," : "", id);
    }
    ids[used++] = '}';
    ids[used] = '\0';
    res = api_mgmt_db_query(x, "accounts",
                            "SELECT " ACCOUNT_COLUMNS ACCOUNT_FROM " WHERE" ACCOUNT_LIVE
                            " AND a.customer_id = ANY($1::uuid[])"
                            " ORDER BY a.created_at DESC, a.id DESC",
                            1, (const char *[]){ids});
    free(ids);
    if (res == NULL) {
        json_decref(by_customer);
        return -1;
    }
    for (int row = 0; row < PQntuples(res); row++) {
        json_t *list = json_object_get(by_customer, PQgetvalue(res, row, AC_CUSTOMER));
        if (list != NULL)
            json_array_append_new(list, account_json(res, row));
    }
    PQclear(res);
    json_decref(by_customer);
    return 0;
}

/* Reads one visible account by number ("FOR UPDATE OF a" when lock). Returns the result (0 or
 * 1 row) or NULL answered. */
static PGresult *select_account(api_mgmt_db *x, const char *number, int lock)
{
    const char *params[3] = {number, NULL, NULL};
    visibility(x->caller, &params[1], &params[2]);
    return api_mgmt_db_query(x, "account",
                             lock ? "SELECT " ACCOUNT_COLUMNS ACCOUNT_FROM
                                    " WHERE a.account_number = $1 AND" ACCOUNT_VISIBLE
                                    " FOR UPDATE OF a"
                                  : "SELECT " ACCOUNT_COLUMNS ACCOUNT_FROM
                                    " WHERE a.account_number = $1 AND" ACCOUNT_VISIBLE,
                             3, params);
}

/* Answers with the account (200 or 201) as it is now; closes x. */
static void answer_account(api_mgmt_db *x, const char *number, int status)
{
    PGresult *res = select_account(x, number, 0);
    if (res == NULL)
        return;
    api_mgmt_db_close(x);
    if (PQntuples(res) != 1) {
        PQclear(res);
        api_problem(x->r, 404, P_NOT_FOUND, "Not found", NULL, "no account with this number");
        return;
    }
    if (status == 201)
        snprintf(x->r->location, sizeof x->r->location, "/v1/accounts/%s", number);
    api_respond_json(x->r, status, account_json(res, 0));
    PQclear(res);
}

/* A number that cannot exist is simply not found. Returns 0, or -1 answered. */
static int check_number(api_request *r, const char *number)
{
    if (lg_account_number_valid(number))
        return 0;
    api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no account with this number");
    return -1;
}

/* ------------------------------------------------------------------ limits */

/* An amount member (minimumBalance, overdraftLimit): a decimal string >= 0. Returns 1 present
 * (normalised into out), 0 absent, -1 answered. */
static int read_amount(api_request *r, json_t *body, const char *name, int64_t *minor,
                       char out[LG_MONEY_STRLEN])
{
    const char *s;
    char err[128];
    int rc = api_mgmt_string(r, body, name, 64, 0, &s);
    if (rc <= 0)
        return rc;
    if (lg_money_parse(s, minor, err, sizeof err) != 0) {
        api_problem(r, 422, P_INVALID_AMOUNT, "Invalid amount", name,
                         "%s must be a decimal string such as \"100.00\", zero or more: %s", name,
                         err);
        return -1;
    }
    lg_money_format(*minor, out, LG_MONEY_STRLEN);
    return 1;
}

/* interestRate: an annual percentage from "0" to "100.00", or null. Returns 1 present (out ""
 * for null), 0 absent, -1 answered. */
static int read_rate(api_request *r, json_t *body, int64_t *minor, char out[LG_MONEY_STRLEN])
{
    const char *s;
    char err[128];
    int rc = api_mgmt_string(r, body, "interestRate", 16, 1, &s);
    *minor = 0;
    out[0] = '\0';
    if (rc <= 0 || s == NULL)
        return rc;
    if (lg_money_parse(s, minor, err, sizeof err) != 0 || *minor > RATE_MAX_MINOR) {
        api_problem(r, 422, P_INVALID_FIELD, "Invalid field", "interestRate",
                         "interestRate is an annual percentage from \"0\" to \"100.00\" with at "
                         "most two fraction digits, as a string");
        return -1;
    }
    lg_money_format(*minor, out, LG_MONEY_STRLEN);
    return 1;
}

/* ------------------------------------------------------------------ opening */

/* POST /v1/accounts */
static void open_account(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const allowed[] = {
        "customerId",     "accountType",  "currency", "minimumBalance",
        "overdraftLimit", "interestRate", NULL};
    const char *customer_id = NULL, *type = NULL, *currency = NULL;
    char minimum[LG_MONEY_STRLEN] = "0.00", overdraft[LG_MONEY_STRLEN] = "0.00";
    char rate[LG_MONEY_STRLEN], number[LG_ACCOUNT_NUMBER_LEN + 1], id[LG_UUID_STRLEN];
    char count_limit[16];
    int64_t minimum_minor = 0, overdraft_minor = 0, rate_minor = 0;
    json_t *body, *changes = NULL;
    PGresult *res, *opened = NULL;
    api_mgmt_db x;
    (void)params;

    body = api_mgmt_body(r, allowed, account_read_only,
                         "it is set by the bank (accountType, currency and the owner are fixed "
                         "when the account is opened)",
                         0);
    if (body == NULL)
        return;
    if (api_mgmt_string(r, body, "customerId", 64, 0, &customer_id) < 0 ||
        api_mgmt_string(r, body, "accountType", 32, 0, &type) < 0 ||
        api_mgmt_string(r, body, "currency", 8, 0, &currency) < 0 ||
        read_amount(r, body, "minimumBalance", &minimum_minor, minimum) < 0 ||
        read_amount(r, body, "overdraftLimit", &overdraft_minor, overdraft) < 0 ||
        read_rate(r, body, &rate_minor, rate) < 0)
        goto out;
    if (customer_id == NULL || type == NULL || currency == NULL) {
        const char *missing = customer_id == NULL ? "customerId"
                              : type == NULL      ? "accountType"
                                                  : "currency";
        api_problem(r, 422, P_MISSING_FIELD, "Missing field", missing, "%s is required",
                         missing);
        goto out;
    }
    if (!lg_uuid_valid(customer_id)) {
        api_problem(r, 422, P_INVALID_FIELD, "Invalid field", "customerId",
                         "customerId must be a customer's id (a lower-case UUID)");
        goto out;
    }
    if (strcmp(type, "SAVINGS") != 0 && strcmp(type, "CHECKING") != 0 &&
        strcmp(type, "FIXED_DEPOSIT") != 0 && strcmp(type, "LOAN") != 0) {
        api_problem(r, 422, P_INVALID_FIELD, "Invalid field", "accountType",
                         "accountType must be SAVINGS, CHECKING, FIXED_DEPOSIT or LOAN");
        goto out;
    }
    if (!lg_currency_valid(currency)) {
        api_problem(r, 422, P_INVALID_CURR, "Invalid currency", "currency",
                         "currency must be an ISO 4217 code in capitals, such as \"USD\"");
        goto out;
    }
    if ((minimum_minor > 0 || overdraft_minor > 0 || rate_minor > 0) &&
        !api_mgmt_is_manager(caller)) {
        const char *field = minimum_minor > 0     ? "minimumBalance"
                            : overdraft_minor > 0 ? "overdraftLimit"
                                                  : "interestRate";
        api_problem(r, 403, P_FORBIDDEN, "Forbidden", field,
                         "an account with a %s other than 0 is opened by a MANAGER or "
                         "SUPER_ADMIN",
                         field);
        goto out;
    }

    if (api_mgmt_db_open(&x, r, caller) != 0)
        goto out;
    {
        char err[512];
        if (lg_kyc_expire(x.db, "api", r->request_id, err, sizeof err) < 0) {
            api_mgmt_db_fail(&x, "customer", err);
            goto out;
        }
    }
    if (api_mgmt_db_begin(&x) != 0)
        goto out;
    res = api_mgmt_db_query(&x, "account", "SELECT pg_advisory_xact_lock(" OPEN_LOCK_KEY ")", 0,
                            NULL);
    if (res == NULL)
        goto out;
    PQclear(res);
    /* FOR SHARE: the customer cannot be deleted or re-opened for KYC while this commits. */
    res = api_mgmt_db_query(
        &x, "customer",
        "SELECT c.kyc_status,"
        " (SELECT count(*) FROM accounts WHERE deleted_at IS NULL AND account_type <> 'INTERNAL'),"
        " EXISTS (SELECT 1 FROM accounts WHERE account_type = 'INTERNAL' AND currency = $2"
        " AND deleted_at IS NULL)"
        " FROM customers c WHERE c.id = $1::uuid AND c.deleted_at IS NULL"
        " AND c.customer_number <> 'CUST-00000' FOR SHARE OF c",
        2, (const char *[]){customer_id, currency});
    if (res == NULL)
        goto out;
    if (PQntuples(res) != 1) {
        PQclear(res);
        api_mgmt_db_close(&x);
        api_problem(r, 422, P_UNKNOWN_CUST, "Unknown customer", "customerId",
                         "no customer with this id");
        goto out;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "VERIFIED") != 0) {
        api_problem(r, 409, P_KYC_NOT_VERIFIED, "KYC not verified", "customerId",
                         "the customer's KYC status is %s; accounts are opened for VERIFIED "
                         "customers only",
                         PQgetvalue(res, 0, 0));
        PQclear(res);
        api_mgmt_db_close(&x);
        goto out;
    }
    if (PQgetvalue(res, 0, 2)[0] != 't') {
        PQclear(res);
        api_mgmt_db_close(&x);
        api_problem(r, 422, P_INVALID_CURR, "Invalid currency", "currency",
                         "the bank keeps no %s ledger; accounts are opened in its currencies",
                         currency);
        goto out;
    }
    if (strtol(PQgetvalue(res, 0, 1), NULL, 10) >= caller->tenant.max_accounts) {
        snprintf(count_limit, sizeof count_limit, "%d", caller->tenant.max_accounts);
        PQclear(res);
        api_mgmt_db_close(&x);
        api_problem(r, 409, P_LIMIT_REACHED, "Limit reached", NULL,
                         "the bank has reached its limit of %s customer accounts (maxAccounts); "
                         "close and delete accounts or raise the limit",
                         count_limit);
        goto out;
    }
    PQclear(res);
    for (int attempt = 0; attempt < 8 && opened == NULL; attempt++) {
        lg_account_number_generate(number);
        opened = api_mgmt_db_query(
            &x, "account",
            "INSERT INTO accounts (account_number, account_type, customer_id, currency,"
            " minimum_balance, overdraft_limit, interest_rate, gl_code, normal_side, created_by)"
            " VALUES ($1, $2::account_type, $3::uuid, $4, $5::numeric, $6::numeric, $7::numeric,"
            " CASE WHEN $2 = 'LOAN' THEN '1200' ELSE '2000' END,"
            " (CASE WHEN $2 = 'LOAN' THEN 'DEBIT' ELSE 'CREDIT' END)::entry_type, $8::uuid)"
            " ON CONFLICT (account_number) DO NOTHING RETURNING id",
            8,
            (const char *[]){number, type, customer_id, currency, minimum, overdraft,
                             rate[0] != '\0' ? rate : NULL, caller->user_id});
        if (opened == NULL)
            goto out;
        if (PQntuples(opened) == 0) {
            PQclear(opened);
            opened = NULL;
        }
    }
    if (opened == NULL) {
        api_mgmt_db_fail(&x, "account", "no free account number after 8 draws");
        goto out;
    }
    snprintf(id, sizeof id, "%s", PQgetvalue(opened, 0, 0));
    changes = json_object();
    api_mgmt_change_text(changes, "accountNumber", NULL, number);
    api_mgmt_change_text(changes, "accountType", NULL, type);
    api_mgmt_change_text(changes, "customerId", NULL, customer_id);
    api_mgmt_change_text(changes, "currency", NULL, currency);
    api_mgmt_change_text(changes, "minimumBalance", NULL, minimum);
    api_mgmt_change_text(changes, "overdraftLimit", NULL, overdraft);
    api_mgmt_change_text(changes, "interestRate", NULL, rate[0] != '\0' ? rate : NULL);
    api_mgmt_change_text(changes, "status", NULL, "ACTIVE");
    if (api_mgmt_audit(&x, "CREATE_ACCOUNT", "Account", id, changes, NULL) != 0 ||
        api_mgmt_db_commit(&x) != 0)
        goto out;
    answer_account(&x, number, 201);
out:
    PQclear(opened);
    json_decref(changes);
    json_decref(body);
}

/* ------------------------------------------------------------------ reading */

/* GET /v1/accounts/{number} */
static void get_account(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const names[] = {NULL};
    const char *q[1];
    api_mgmt_db x;
    if (api_mgmt_query(r, names, q) != 0 || check_number(r, params[0]) != 0 ||
        api_mgmt_db_open(&x, r, caller) != 0 || api_mgmt_db_scope_customer(&x) != 0)
        return;
    answer_account(&x, params[0], 200);
}

enum { LQ_CUSTOMER, LQ_STATUS, LQ_TYPE, LQ_CURRENCY, LQ_LIMIT, LQ_CURSOR, LQ_N };

/* GET /v1/accounts */
static void list_accounts(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const names[] = {"customerId", "status", "accountType", "currency",
                                        "limit",      "cursor", NULL};
    const char *q[LQ_N + 1], *staff, *user_id;
    char cursor_pg[LG_TIME_PG_STRLEN], cursor_id[LG_UUID_STRLEN], limit_text[16];
    char next[LG_CURSOR_STRLEN];
    int64_t cursor_us = 0;
    int limit, rows;
    api_mgmt_db x;
    PGresult *res;
    json_t *data;
    (void)params;

    if (api_mgmt_query(r, names, q) != 0 ||
        api_mgmt_enum_param(r, "status", q[LQ_STATUS], account_statuses) != 0 ||
        api_mgmt_enum_param(r, "accountType", q[LQ_TYPE], account_types) != 0 ||
        api_query_limit(r, q[LQ_LIMIT], &limit) != 0)
        return;
    if (q[LQ_CUSTOMER] != NULL && !lg_uuid_valid(q[LQ_CUSTOMER])) {
        api_problem(r, 400, P_INVALID_PARAM, "Invalid query parameter", "customerId",
                         "customerId must be a customer's id (a lower-case UUID)");
        return;
    }
    if (q[LQ_CURRENCY] != NULL && !lg_currency_valid(q[LQ_CURRENCY])) {
        api_problem(r, 400, P_INVALID_PARAM, "Invalid query parameter", "currency",
                         "currency must be an ISO 4217 code in capitals, such as USD");
        return;
    }
    if (q[LQ_CURSOR] != NULL &&
        (lg_cursor_decode_row(LG_CURSOR_ACCOUNTS, q[LQ_CURSOR], &cursor_us, cursor_id) != 0 ||
         lg_time_format_pg(cursor_us, cursor_pg, sizeof cursor_pg) == NULL)) {
        api_problem(r, 400, P_INVALID_CURSOR, "Invalid cursor", "cursor",
                         "cursor must be a nextCursor returned by this list, unchanged");
        return;
    }
    snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
    visibility(caller, &staff, &user_id);
    if (api_mgmt_db_open(&x, r, caller) != 0 || api_mgmt_db_scope_customer(&x) != 0)
        return;
    res = api_mgmt_db_query(
        &x, "accounts",
        "SELECT " ACCOUNT_COLUMNS ACCOUNT_FROM " WHERE" ACCOUNT_VISIBLE
        " AND ($1::uuid IS NULL OR a.customer_id = $1::uuid)"
        " AND ($4::account_status IS NULL OR a.status = $4::account_status)"
        " AND ($5::account_type IS NULL OR a.account_type = $5::account_type)"
        " AND ($6::text IS NULL OR a.currency = $6::text)"
        " AND ($7::timestamptz IS NULL OR (a.created_at, a.id) < ($7::timestamptz, $8::uuid))"
        " ORDER BY a.created_at DESC, a.id DESC LIMIT $9::integer",
        9,
        (const char *[]){q[LQ_CUSTOMER], staff, user_id, q[LQ_STATUS], q[LQ_TYPE], q[LQ_CURRENCY],
                         q[LQ_CURSOR] != NULL ? cursor_pg : NULL,
                         q[LQ_CURSOR] != NULL ? cursor_id : NULL, limit_text});
    if (res == NULL)
        return;
    api_mgmt_db_close(&x);
    rows = PQntuples(res);
    data = json_array();
    for (int i = 0; i < rows && i < limit; i++)
        json_array_append_new(data, account_json(res, i));
    if (rows > limit &&
        lg_cursor_encode_row(LG_CURSOR_ACCOUNTS, api_mgmt_col_int64(res, limit - 1, AC_CURSOR),
                             PQgetvalue(res, limit - 1, AC_ID), next, sizeof next) != 0) {
        PQclear(res);
        json_decref(data);
        api_problem(r, 500, P_INTERNAL, "Internal error", NULL,
                         "the next page cannot be addressed");
        return;
    }
    PQclear(res);
    api_respond_json(r, 200, api_page_json(data, rows > limit ? next : NULL));
}

/* ------------------------------------------------------------------ changing */

/*
 * Starts a change of one account: reads the optional {"reason"} body (when reason is not
 * NULL), opens a transaction and locks the account. Returns the locked row (caller PQclear()s)
 * with *body set (caller json_decref()s), or NULL answered.
 */
static PGresult *begin_change(api_request *r, const api_caller *caller, const char *number,
                              api_mgmt_db *x, json_t **body, const char *const *allowed,
                              int body_optional)
{
    PGresult *res;
    *body = api_mgmt_body(r, allowed, account_read_only,
                          "accountType, currency and the owner are fixed; status changes "
                          "through freeze, unfreeze and close",
                          body_optional);
    if (*body == NULL)
        return NULL;
    if (check_number(r, number) != 0 || api_mgmt_db_open(x, r, caller) != 0 ||
        api_mgmt_db_begin(x) != 0)
        goto fail;
    res = select_account(x, number, 1);
    if (res == NULL)
        goto fail;
    if (PQntuples(res) != 1) {
        PQclear(res);
        api_mgmt_db_close(x);
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no account with this number");
        goto fail;
    }
    return res;
fail:
    json_decref(*body);
    *body = NULL;
    return NULL;
}

typedef enum { ACT_FREEZE, ACT_UNFREEZE, ACT_CLOSE } account_action;

/* POST /v1/accounts/{number}/freeze, /unfreeze, /close, with an optional {"reason"}. */
static void change_status(api_request *r, const api_caller *caller, const char *number,
                          account_action act)
{
    static const char *const allowed[] = {"reason", NULL};
    static const char *const actions[] = {"FREEZE_ACCOUNT", "UNFREEZE_ACCOUNT", "CLOSE_ACCOUNT"};
    const char *status, *reason = NULL, *to;
    char id[LG_UUID_STRLEN];
    json_t *body = NULL, *changes = NULL, *meta = NULL;
    PGresult *row, *res;
    api_mgmt_db x;

    row = begin_change(r, caller, number, &x, &body, allowed, 1);
    if (row == NULL)
        return;
    if (api_mgmt_string(r, body, "reason", REASON_MAX, 1, &reason) < 0) {
        api_mgmt_db_close(&x);
        goto out;
    }
    status = PQgetvalue(row, 0, AC_STATUS);
    to = act == ACT_FREEZE ? "FROZEN" : act == ACT_UNFREEZE ? "ACTIVE" : "CLOSED";
    if (act == ACT_FREEZE && strcmp(status, "ACTIVE") != 0) {
        api_mgmt_db_close(&x);
        api_problem(r, 409, P_ACCOUNT_STATUS, "Account status does not allow this", NULL,
                         "the account is %s; only an ACTIVE account can be frozen", status);
        goto out;
    }
    if (act == ACT_UNFREEZE && strcmp(status, "FROZEN") != 0) {
        api_mgmt_db_close(&x);
        api_problem(r, 409, P_ACCOUNT_STATUS, "Account status does not allow this", NULL,
                         "the account is %s; only a FROZEN account can be unfrozen", status);
        goto out;
    }
    if (act == ACT_CLOSE) {
        int64_t balance = 0, available = 0;
        char err[64];
        if (strcmp(status, "FROZEN") == 0) {
            api_mgmt_db_close(&x);
            api_problem(r, 409, P_ACCOUNT_FROZEN, "Account frozen", NULL,
                             "the account is FROZEN; unfreeze it before closing it");
            goto out;
        }
        if (strcmp(status, "CLOSED") == 0) {
            api_mgmt_db_close(&x);
            api_problem(r, 409, P_ACCOUNT_STATUS, "Account status does not allow this", NULL,
                             "the account is already CLOSED");
            goto out;
        }
        if (lg_money_parse_signed(PQgetvalue(row, 0, AC_BALANCE), &balance, err, sizeof err) != 0 ||
            lg_money_parse_signed(PQgetvalue(row, 0, AC_AVAILABLE), &available, err, sizeof err) !=
                0 ||
            balance != 0 || available != 0) {
            api_mgmt_db_close(&x);
            api_problem(r, 409, P_BALANCE, "Balance not zero", NULL,
                             "an account is closed at a zero balance and available balance; "
                             "it holds %s (available %s)",
                             PQgetvalue(row, 0, AC_BALANCE), PQgetvalue(row, 0, AC_AVAILABLE));
            goto out;
        }
    }
    snprintf(id, sizeof id, "%s", PQgetvalue(row, 0, AC_ID));
    res = api_mgmt_db_query(&x, "account",
                            "UPDATE accounts SET status = $2::account_status,"
                            " closed_at = CASE WHEN $2 = 'CLOSED' THEN now() ELSE closed_at END"
                            " WHERE id = $1::uuid RETURNING " API_MGMT_ISO_UTC("closed_at"),
                            2, (const char *[]){id, to});
    if (res == NULL)
        goto out;
    changes = json_object();
    api_mgmt_change_text(changes, "status", status, to);
    if (act == ACT_CLOSE)
        api_mgmt_change_text(changes, "closedAt", NULL, PQgetvalue(res, 0, 0));
    PQclear(res);
    meta = json_pack("{s:s}", "accountNumber", number);
    if (reason != NULL)
        json_object_set_new(meta, "reason", json_string(reason));
    if (api_mgmt_audit(&x, actions[act], "Account", id, changes, meta) != 0 ||
        api_mgmt_db_commit(&x) != 0)
        goto out;
    answer_account(&x, number, 200);
out:
    PQclear(row);
    json_decref(meta);
    json_decref(changes);
    json_decref(body);
}

static void freeze_account(api_request *r, const api_caller *caller, const char *const *params)
{
    change_status(r, caller, params[0], ACT_FREEZE);
}

static void unfreeze_account(api_request *r, const api_caller *caller, const char *const *params)
{
    change_status(r, caller, params[0], ACT_UNFREEZE);
}

static void close_account(api_request *r, const api_caller *caller, const char *const *params)
{
    change_status(r, caller, params[0], ACT_CLOSE);
}

/* PATCH /v1/accounts/{number}: minimumBalance, overdraftLimit, interestRate (null clears). */
static void patch_account(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const allowed[] = {"minimumBalance", "overdraftLimit", "interestRate", NULL};
    const char *number = params[0];
    char minimum[LG_MONEY_STRLEN], overdraft[LG_MONEY_STRLEN], rate[LG_MONEY_STRLEN];
    char id[LG_UUID_STRLEN];
    int64_t minimum_minor, overdraft_minor, rate_minor;
    int has_minimum, has_overdraft, has_rate;
    json_t *body = NULL, *changes = NULL, *before = NULL;
    PGresult *row, *res;
    api_mgmt_db x;

    row = begin_change(r, caller, number, &x, &body, allowed, 0);
    if (row == NULL)
        return;
    has_minimum = read_amount(r, body, "minimumBalance", &minimum_minor, minimum);
    has_overdraft =
        has_minimum < 0 ? -1 : read_amount(r, body, "overdraftLimit", &overdraft_minor, overdraft);
    has_rate = has_overdraft < 0 ? -1 : read_rate(r, body, &rate_minor, rate);
    if (has_minimum < 0 || has_overdraft < 0 || has_rate < 0) {
        api_mgmt_db_close(&x);
        goto out;
    }
    if (strcmp(PQgetvalue(row, 0, AC_STATUS), "CLOSED") == 0) {
        api_mgmt_db_close(&x);
        api_problem(r, 409, P_ACCOUNT_STATUS, "Account status does not allow this", NULL,
                         "the account is CLOSED; its settings no longer change");
        goto out;
    }
    before = account_json(row, 0);
    changes = json_object();
    if (has_minimum)
        api_mgmt_change_text(changes, "minimumBalance", api_mgmt_str(before, "minimumBalance"),
                             minimum);
    if (has_overdraft)
        api_mgmt_change_text(changes, "overdraftLimit", api_mgmt_str(before, "overdraftLimit"),
                             overdraft);
    if (has_rate)
        api_mgmt_change_text(changes, "interestRate", api_mgmt_str(before, "interestRate"),
                             rate[0] != '\0' ? rate : NULL);
    if (json_object_size(changes) == 0) {
        if (api_mgmt_db_commit(&x) == 0)
            answer_account(&x, number, 200);
        goto out;
    }
    snprintf(id, sizeof id, "%s", PQgetvalue(row, 0, AC_ID));
    res = api_mgmt_db_query(
        &x, "account",
        "UPDATE accounts SET"
        " minimum_balance = CASE WHEN $2::boolean THEN $3::numeric ELSE minimum_balance END,"
        " overdraft_limit = CASE WHEN $4::boolean THEN $5::numeric ELSE overdraft_limit END,"
        " interest_rate = CASE WHEN $6::boolean THEN $7::numeric ELSE interest_rate END"
        " WHERE id = $1::uuid",
        7,
        (const char *[]){id, has_minimum ? "true" : "false", has_minimum ? minimum : NULL,
                         has_overdraft ? "true" : "false", has_overdraft ? overdraft : NULL,
                         has_rate ? "true" : "false", has_rate && rate[0] != '\0' ? rate : NULL});
    if (res == NULL)
        goto out;
    PQclear(res);
    {
        json_t *meta = json_pack("{s:s}", "accountNumber", number);
        int failed = api_mgmt_audit(&x, "UPDATE_ACCOUNT", "Account", id, changes, meta);
        json_decref(meta);
        if (failed != 0 || api_mgmt_db_commit(&x) != 0)
            goto out;
    }
    answer_account(&x, number, 200);
out:
    PQclear(row);
    json_decref(before);
    json_decref(changes);
    json_decref(body);
}

/* DELETE /v1/accounts/{number}: soft; a CLOSED account only. */
static void delete_account(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const allowed[] = {NULL};
    const char *number = params[0];
    char id[LG_UUID_STRLEN];
    json_t *body = NULL, *changes = NULL, *meta = NULL;
    PGresult *row, *res;
    api_mgmt_db x;

    if (r->body_len > 0) {
        api_problem(r, 400, "/problems/invalid-json", "Malformed request body", NULL,
                         "DELETE takes no body");
        return;
    }
    row = begin_change(r, caller, number, &x, &body, allowed, 1);
    if (row == NULL)
        return;
    if (strcmp(PQgetvalue(row, 0, AC_STATUS), "CLOSED") != 0) {
        api_mgmt_db_close(&x);
        api_problem(r, 409, P_ACCOUNT_STATUS, "Account status does not allow this", NULL,
                         "the account is %s; only a CLOSED account is deleted (close it first)",
                         PQgetvalue(row, 0, AC_STATUS));
        goto out;
    }
    snprintf(id, sizeof id, "%s", PQgetvalue(row, 0, AC_ID));
    res = api_mgmt_db_query(&x, "account",
                            "UPDATE accounts SET deleted_at = now() WHERE id = $1::uuid"
                            " RETURNING " API_MGMT_ISO_UTC("deleted_at"),
                            1, (const char *[]){id});
    if (res == NULL)
        goto out;
    changes = json_object();
    api_mgmt_change_text(changes, "deletedAt", NULL, PQgetvalue(res, 0, 0));
    PQclear(res);
    meta = json_pack("{s:s}", "accountNumber", number);
    if (api_mgmt_audit(&x, "DELETE_ACCOUNT", "Account", id, changes, meta) != 0 ||
        api_mgmt_db_commit(&x) != 0)
        goto out;
    api_mgmt_db_close(&x);
    api_respond(r, 204, NULL, NULL);
out:
    PQclear(row);
    json_decref(meta);
    json_decref(changes);
    json_decref(body);
}

/* ------------------------------------------------------------------ who may post what */

int api_txn_authorize(api_request *r, const api_caller *caller, const lg_txn_command *cmd)
{
    static const char *const type_names[] = {"DEPOSIT", "WITHDRAWAL", "TRANSFER",
                                             "FEE",     "INTEREST",   "REVERSAL"};
    const char *type = (unsigned)cmd->type < 6 ? type_names[cmd->type] : "?";
    api_mgmt_db x;
    PGresult *res;
    int own_from, internal_to;

    if (api_mgmt_is_manager(caller))
        return 0;
    if (caller->role_bit == API_ROLE_TELLER) {
        if (cmd->type == LG_TXN_DEPOSIT || cmd->type == LG_TXN_WITHDRAWAL ||
            cmd->type == LG_TXN_TRANSFER)
            return 0;
        api_problem(r, 403, P_FORBIDDEN, "Forbidden", "type",
                         "a TELLER submits DEPOSIT, WITHDRAWAL and TRANSFER; a %s needs the role "
                         "MANAGER or SUPER_ADMIN",
                         type);
        return -1;
    }
    if (caller->role_bit != API_ROLE_CUSTOMER) {
        api_problem(r, 403, P_FORBIDDEN, "Forbidden", NULL,
                         "the role %s may not submit transactions", caller->role);
        return -1;
    }
    if (cmd->type != LG_TXN_TRANSFER) {
        api_problem(r, 403, P_FORBIDDEN, "Forbidden", "type",
                         "a customer submits TRANSFERs from their own accounts only, not a %s",
                         type);
        return -1;
    }
    /* The debited account must be the customer's own; the answer is the same whether another
     * account of that number exists or not. */
    if (api_mgmt_db_open(&x, r, caller) != 0)
        return -1;
    res = api_mgmt_db_query(
        &x, "account",
        "SELECT EXISTS (SELECT 1 FROM accounts a JOIN customers c ON c.id = a.customer_id"
        " WHERE a.account_number = $1 AND" ACCOUNT_LIVE " AND c.user_id = $3::uuid),"
        " EXISTS (SELECT 1 FROM accounts WHERE account_number = $2"
        " AND account_type = 'INTERNAL')",
        3,
        (const char *[]){cmd->from_account, cmd->to_account,
                         lg_uuid_valid(caller->user_id) ? caller->user_id : NULL});
    if (res == NULL)
        return -1;
    own_from = PQgetvalue(res, 0, 0)[0] == 't';
    internal_to = PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);
    api_mgmt_db_close(&x);
    if (!own_from) {
        api_problem(r, 403, P_FORBIDDEN, "Forbidden", "fromAccount",
                         "fromAccount must be one of your own accounts");
        return -1;
    }
    if (internal_to) {
        api_problem(r, 403, P_FORBIDDEN, "Forbidden", "toAccount",
                         "toAccount must be a customer account, not one of the bank's own");
        return -1;
    }
    return 0;
}

const api_route_def api_routes_accounts[] = {
    {"POST", "/v1/accounts", API_ROLES_STAFF, open_account},
    {"GET", "/v1/accounts", API_ROLES_TENANT, list_accounts},
    {"GET", "/v1/accounts/{}", API_ROLES_TENANT, get_account},
    {"PATCH", "/v1/accounts/{}", API_MGMT_MANAGERS, patch_account},
    {"DELETE", "/v1/accounts/{}", API_MGMT_MANAGERS, delete_account},
    {"POST", "/v1/accounts/{}/freeze", API_MGMT_MANAGERS, freeze_account},
    {"POST", "/v1/accounts/{}/unfreeze", API_MGMT_MANAGERS, unfreeze_account},
    {"POST", "/v1/accounts/{}/close", API_MGMT_MANAGERS, close_account},
    {NULL, NULL, 0, NULL},
};
