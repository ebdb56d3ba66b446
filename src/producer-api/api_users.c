/*
 * The tenant's users over REST (the tenant plane). SUPER_ADMIN manages the bank's staff:
 *
 *   POST   /v1/users                  create (role SUPER_ADMIN, MANAGER or TELLER)
 *   GET    /v1/users                  list: ?role=&status=&limit=&cursor=, newest first
 *   GET    /v1/users/{id}             one user
 *   PATCH  /v1/users/{id}             firstName, lastName, phone, role, status
 *   POST   /v1/users/{id}/deactivate  status INACTIVE
 *   DELETE /v1/users/{id}             soft delete (deleted_at)
 * and every user (any role, token or API key) reads itself; a user with a token changes its own
 * password:
 *   GET    /v1/users/me
 *   POST   /v1/users/me/password      {"currentPassword", "newPassword"}
 *
 * Rules:
 *   - CUSTOMER users belong to their customer record and are created with it; here a CUSTOMER
 *     role is refused, and a CUSTOMER user's role cannot change.
 *   - The bank's internal users - its system user (system@<slug>.internal) and the users API
 *     keys act as (apikey.<name>@<slug>.internal), all with password_hash '!' and an e-mail
 *     ending in ".internal" - are not managed here: they are not listed, not found, and do not
 *     count towards the tenant's maxUsers. maxUsers bounds the bank's staff: every other
 *     non-deleted user counts, except customers' users (customers are bounded through their
 *     accounts, by maxAccounts). The ".internal" e-mail domain is reserved.
 *   - E-mail addresses are stored in lower case and are unique among non-deleted users.
 *   - The tenant keeps at least one active SUPER_ADMIN: a change that would leave none (a
 *     deactivation, suspension, deletion or demotion of the last one, oneself included) is
 *     409 /problems/last-super-admin.
 *   - Every mutation writes its AuditLog row in the same transaction, with the changed fields'
 *     before and after, never a password or its hash.
 *
 * Writes take one advisory lock per tenant database (USERS_LOCK) for their transaction, so that
 * the maxUsers count and the last-SUPER_ADMIN check cannot race with another write.
 */
#include "api.h"
#include "api_input.h"

#include "lg_cursor.h"
#include "lg_db.h"
#include "lg_log.h"
#include "lg_password.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P_NOT_FOUND      "/problems/not-found"
#define P_FORBIDDEN      "/problems/forbidden"
#define P_CONFLICT       "/problems/conflict"
#define P_LIMIT          "/problems/limit-reached"
#define P_LAST_ADMIN     "/problems/last-super-admin"
#define P_WRONG_PASSWORD "/problems/wrong-password"
#define P_WEAK_PASSWORD  "/problems/weak-password"
#define P_INVALID_FIELD  "/problems/invalid-field"
#define P_INVALID_PARAM  "/problems/invalid-parameter"
#define P_UNAVAILABLE    "/problems/unavailable"
#define P_INTERNAL       "/problems/internal"

#define EMAIL_MAX    254
#define NAME_MAX_LEN 100
#define PHONE_MAX    32
/* pg_advisory_xact_lock key of user writes: "ledger-users" as a number. */
#define USERS_LOCK "7221180394"

/* The SQL below is laid out by hand. */
/* clang-format off */
/* The bank's internal users (see the top of this file). */
#define INTERNAL_USER "(u.password_hash = '!' AND u.email LIKE '%.internal')"

#define USER_COLUMNS                                                                               \
    "u.id, u.email, u.first_name, u.last_name, u.phone, u.role, u.status,"                         \
    " " API_ISO_UTC("u.locked_until") ", " API_ISO_UTC("u.password_changed_at") ","                \
    " " API_ISO_UTC("u.last_login_at") ", " API_ISO_UTC("u.created_at") ","                        \
    " " API_ISO_UTC("u.updated_at") ", " API_EPOCH_US("u.created_at") ","                          \
    " u.failed_login_attempts"
enum {
    COL_ID, COL_EMAIL, COL_FIRST, COL_LAST, COL_PHONE, COL_ROLE, COL_STATUS, COL_LOCKED_UNTIL,
    COL_PASSWORD_CHANGED, COL_LAST_LOGIN, COL_CREATED, COL_UPDATED, COL_CREATED_US, COL_FAILED
};

/* One page of users ($1 role or NULL, $2 status or NULL, $3/$4 the cursor or NULL, $5 rows). */
#define USERS_PAGE                                                                                 \
    "SELECT " USER_COLUMNS " FROM users u"                                                         \
    " WHERE u.deleted_at IS NULL AND NOT " INTERNAL_USER                                           \
    " AND ($1::user_role IS NULL OR u.role = $1::user_role)"                                       \
    " AND ($2::user_status IS NULL OR u.status = $2::user_status)"                                 \
    " AND ($3::timestamptz IS NULL OR (u.created_at, u.id) < ($3::timestamptz, $4::uuid))"         \
    " ORDER BY u.created_at DESC, u.id DESC LIMIT $5::integer"

/* A new password hash ($2) for user $1, only over the hash that was verified ($3); returns
 * passwordChangedAt before and after. */
#define PASSWORD_UPDATE                                                                            \
    "UPDATE users u SET password_hash = $2, password_changed_at = now()"                           \
    " FROM (SELECT " API_ISO_UTC("password_changed_at") " AS before"                               \
    " FROM users WHERE id = $1::uuid) o"                                                           \
    " WHERE u.id = $1::uuid AND u.password_hash = $3 AND u.deleted_at IS NULL"                     \
    " RETURNING o.before, " API_ISO_UTC("u.password_changed_at")
/* clang-format on */

static const char *const all_roles[] = {"SUPER_ADMIN", "MANAGER", "TELLER", "CUSTOMER", NULL};
static const char *const all_statuses[] = {"ACTIVE", "INACTIVE", "SUSPENDED", "LOCKED", NULL};
static const char *const settable_statuses[] = {"ACTIVE", "INACTIVE", "SUSPENDED", NULL};

/* ------------------------------------------------------------------ helpers */

/* A row of USER_COLUMNS as the API shows a user. New reference. */
static json_t *user_json(const PGresult *res, int row)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", api_db_text(res, row, COL_ID));
    json_object_set_new(o, "email", api_db_text(res, row, COL_EMAIL));
    json_object_set_new(o, "firstName", api_db_text(res, row, COL_FIRST));
    json_object_set_new(o, "lastName", api_db_text(res, row, COL_LAST));
    json_object_set_new(o, "phone", api_db_text(res, row, COL_PHONE));
    json_object_set_new(o, "role", api_db_text(res, row, COL_ROLE));
    json_object_set_new(o, "status", api_db_text(res, row, COL_STATUS));
    json_object_set_new(o, "lockedUntil", api_db_text(res, row, COL_LOCKED_UNTIL));
    json_object_set_new(o, "passwordChangedAt", api_db_text(res, row, COL_PASSWORD_CHANGED));
    json_object_set_new(o, "lastLoginAt", api_db_text(res, row, COL_LAST_LOGIN));
    json_object_set_new(o, "createdAt", api_db_text(res, row, COL_CREATED));
    json_object_set_new(o, "updatedAt", api_db_text(res, row, COL_UPDATED));
    return o;
}

/* An e-mail address as stored: lower case, one '@' with text on both sides, a dot in the
 * domain, no spaces or controls, not in the reserved ".internal" domain. Returns 0, or -1 with
 * the body failed. */
static int normalise_email(api_body *b, const char *in, char out[EMAIL_MAX + 1])
{
    size_t n = strlen(in);
    const char *at = strchr(in, '@');
    static const char reserved[] = ".internal";
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    if (at == NULL || at == in || strchr(at + 1, '@') != NULL || strchr(at + 1, '.') == NULL ||
        at[1] == '.' || in[n - 1] == '.' || strpbrk(in, " \t\"<>(),;:\\[]") != NULL)
        return api_body_reject(b, P_INVALID_FIELD, "email", "email must be an e-mail address");
    if (n >= sizeof reserved - 1 && strcmp(out + n - (sizeof reserved - 1), reserved) == 0)
        return api_body_reject(b, P_INVALID_FIELD, "email",
                               "the .internal domain is reserved for the bank's own users");
    return 0;
}

static int phone_valid(const char *s)
{
    return strspn(s, "0123456789+-() ") == strlen(s) && strpbrk(s, "0123456789") != NULL;
}

static void add_change(json_t *changes, const char *field, json_t *before, json_t *after)
{
    json_object_set_new(changes, field, json_pack("{s:o, s:o}", "before", before, "after", after));
}

static json_t *text_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/* A connection to the caller's tenant database, or NULL once r is answered (503). */
static PGconn *open_tenant(api_request *r, const api_caller *caller)
{
    char err[512];
    PGconn *db = lg_router_acquire(r->server->router, caller->tenant.id, r->server->db_wait_ms, err,
                                   sizeof err);
    if (db == NULL) {
        lg_log_error("tenant %s: %s", caller->tenant.slug, err);
        r->retry_after = 1;
        api_problem(r, 503, P_UNAVAILABLE, "Service unavailable", NULL,
                    "the bank's database is not reachable right now; retry later");
    }
    return db;
}

/* Opens a write transaction holding the users lock; NULL once r is answered. */
static PGconn *begin_write(api_request *r, const api_caller *caller)
{
    char err[512];
    PGconn *db = open_tenant(r, caller);
    if (db == NULL)
        return NULL;
    if (lg_db_exec(db, "BEGIN; SELECT pg_advisory_xact_lock(" USERS_LOCK ")", err, sizeof err) !=
        0) {
        lg_log_error("tenant %s: starting a user write: %s", caller->tenant.slug, err);
        lg_db_exec(db, "ROLLBACK", err, sizeof err);
        lg_router_release(r->server->router, caller->tenant.id, db, 1);
        r->retry_after = 1;
        api_problem(r, 503, P_UNAVAILABLE, "Service unavailable", NULL,
                    "the bank's database is not reachable right now; retry later");
        return NULL;
    }
    return db;
}

/* Ends a write that changes nothing (a refusal): rolls back and gives the connection back. */
static void end_write(api_request *r, const api_caller *caller, PGconn *db)
{
    char err[256];
    int broken = lg_db_exec(db, "ROLLBACK", err, sizeof err) != 0;
    lg_router_release(r->server->router, caller->tenant.id, db, broken);
}

/* A statement failed: rollback, the connection goes back as broken, the caller gets 503 (the
 * database may be restarting) - never the SQL text. */
static void db_failed(api_request *r, const api_caller *caller, PGconn *db, const char *what,
                      const char *err)
{
    char e[256];
    lg_log_error("tenant %s: %s: %s", caller->tenant.slug, what, err);
    if (db != NULL) {
        lg_db_exec(db, "ROLLBACK", e, sizeof e);
        lg_router_release(r->server->router, caller->tenant.id, db, 1);
    }
    r->retry_after = 1;
    api_problem(r, 503, P_UNAVAILABLE, "Service unavailable", NULL,
                "the users cannot be %s right now; nothing was changed; retry later",
                strncmp(what, "reading", 7) == 0 ? "read" : "changed");
}

/* Commits; returns 0, or -1 with r answered. */
static int commit_write(api_request *r, const api_caller *caller, PGconn *db)
{
    char err[512];
    if (lg_db_exec(db, "COMMIT", err, sizeof err) != 0) {
        db_failed(r, caller, db, "committing a user write", err);
        return -1;
    }
    lg_router_release(r->server->router, caller->tenant.id, db, 0);
    return 0;
}

/* The user named by a path parameter, locked for a write: the result (one row) or NULL once r is
 * answered (404 or 503; the transaction is then ended). */
static PGresult *lock_user(api_request *r, const api_caller *caller, PGconn *db, const char *id)
{
    char err[512], state[6];
    PGresult *res;
    res = api_db_query(db,
                       "SELECT " USER_COLUMNS " FROM users u WHERE u.id = $1::uuid"
                       " AND u.deleted_at IS NULL AND NOT " INTERNAL_USER " FOR UPDATE",
                       1, (const char *[]){id}, state, err, sizeof err);
    if (res == NULL) {
        db_failed(r, caller, db, "reading a user", err);
        return NULL;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        end_write(r, caller, db);
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no user with this id");
        return NULL;
    }
    return res;
}

/* ------------------------------------------------------------------ create */

static void create_user(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const fields[] = {"email", "password", "firstName", "lastName",
                                         "phone", "role",     NULL};
    char email[EMAIL_MAX + 1], hash[LG_PASSWORD_HASH_MAX], why[256], err[512], state[6];
    const char *email_in, *password, *first, *last, *phone, *role;
    api_body b;
    PGconn *db;
    PGresult *res;
    json_t *changes, *user;
    long count;
    (void)params;

    if (api_body_open(&b, r, fields) != 0) {
        api_body_free(&b);
        return;
    }
    email_in = api_body_string(&b, "email", 1, 3, EMAIL_MAX);
    password = api_body_string(&b, "password", 1, 1, LG_PASSWORD_MAX);
    first = api_body_string(&b, "firstName", 1, 1, NAME_MAX_LEN);
    last = api_body_string(&b, "lastName", 1, 1, NAME_MAX_LEN);
    phone = api_body_string(&b, "phone", 0, 1, PHONE_MAX);
    role = api_body_enum(&b, "role", 1, all_roles);
    if (!b.failed && email_in != NULL)
        normalise_email(&b, email_in, email);
    if (!b.failed && phone != NULL && !phone_valid(phone))
        api_body_reject(&b, P_INVALID_FIELD, "phone",
                        "phone must hold digits, with '+', '-', '(', ')' and spaces only");
    if (!b.failed && strcmp(role, "CUSTOMER") == 0)
        api_body_reject(&b, P_INVALID_FIELD, "role",
                        "CUSTOMER users are created with their customer record; here role is "
                        "SUPER_ADMIN, MANAGER or TELLER");
    if (!b.failed && lg_password_policy(password, why, sizeof why) != 0)
        api_body_reject(&b, P_WEAK_PASSWORD, "password", "%s", why);
    if (b.failed) {
        api_body_free(&b);
        return;
    }
    if (lg_password_hash(password, hash) != 0) {
        api_body_free(&b);
        api_problem(r, 500, P_INTERNAL, "Internal error", NULL, "the password cannot be hashed");
        return;
    }

    db = begin_write(r, caller);
    if (db == NULL) {
        api_body_free(&b);
        return;
    }
    res = api_db_query(db,
                       "SELECT count(*) FILTER (WHERE u.role <> 'CUSTOMER'),"
                       " count(*) FILTER (WHERE lower(u.email) = $1)"
                       " FROM users u WHERE u.deleted_at IS NULL AND NOT " INTERNAL_USER,
                       1, (const char *[]){email}, state, err, sizeof err);
    if (res == NULL) {
        db_failed(r, caller, db, "counting users", err);
        api_body_free(&b);
        return;
    }
    count = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    if (strtol(PQgetvalue(res, 0, 1), NULL, 10) > 0) {
        PQclear(res);
        end_write(r, caller, db);
        api_body_free(&b);
        api_problem(r, 409, P_CONFLICT, "Conflict", "email", "a user with this email exists");
        return;
    }
    PQclear(res);
    if (count >= caller->tenant.max_users) {
        end_write(r, caller, db);
        api_body_free(&b);
        api_problem(r, 409, P_LIMIT, "Limit reached", NULL,
                    "the bank has %ld of its %d users (maxUsers); deactivating does not free a "
                    "place, deleting does",
                    count, caller->tenant.max_users);
        return;
    }
    res = api_db_query(db,
                       "INSERT INTO users AS u (email, password_hash, first_name, last_name, phone,"
                       " role) VALUES ($1, $2, $3, $4, $5, $6::user_role) RETURNING " USER_COLUMNS,
                       6, (const char *[]){email, hash, first, last, phone, role}, state, err,
                       sizeof err);
    explicit_bzero(hash, sizeof hash);
    if (res == NULL && strcmp(state, "23505") == 0) {
        end_write(r, caller, db);
        api_body_free(&b);
        api_problem(r, 409, P_CONFLICT, "Conflict", "email", "a user with this email exists");
        return;
    }
    if (res == NULL) {
        db_failed(r, caller, db, "creating a user", err);
        api_body_free(&b);
        return;
    }
    changes = json_object();
    add_change(changes, "email", json_null(), api_db_text(res, 0, COL_EMAIL));
    add_change(changes, "firstName", json_null(), api_db_text(res, 0, COL_FIRST));
    add_change(changes, "lastName", json_null(), api_db_text(res, 0, COL_LAST));
    add_change(changes, "phone", json_null(), api_db_text(res, 0, COL_PHONE));
    add_change(changes, "role", json_null(), api_db_text(res, 0, COL_ROLE));
    add_change(changes, "status", json_null(), api_db_text(res, 0, COL_STATUS));
    if (api_audit(r, caller, db, "CREATE_USER", "User", PQgetvalue(res, 0, COL_ID), changes, NULL,
                  err, sizeof err) != 0) {
        json_decref(changes);
        PQclear(res);
        db_failed(r, caller, db, "auditing a user creation", err);
        api_body_free(&b);
        return;
    }
    json_decref(changes);
    user = user_json(res, 0);
    snprintf(r->location, sizeof r->location, "/v1/users/%s", PQgetvalue(res, 0, COL_ID));
    PQclear(res);
    api_body_free(&b);
    if (commit_write(r, caller, db) != 0) {
        json_decref(user);
        r->location[0] = '\0';
        return;
    }
    api_respond_json(r, 201, user);
}

/* ------------------------------------------------------------------ reads */

static void list_users(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const names[] = {"role", "status", "limit", "cursor", NULL};
    enum { Q_ROLE, Q_STATUS, Q_LIMIT, Q_CURSOR, Q_N };
    const char *q[Q_N + 1];
    char cursor_pg[LG_TIME_PG_STRLEN], cursor_id[LG_UUID_STRLEN], limit_text[16];
    char next[LG_CURSOR_STRLEN], err[512], state[6];
    int limit, rows;
    PGconn *db;
    PGresult *res;
    json_t *data;
    (void)params;

    if (api_query_read(r, names, q) != 0 || api_query_limit(r, q[Q_LIMIT], &limit) != 0)
        return;
    if (q[Q_ROLE] != NULL) {
        size_t i;
        for (i = 0; all_roles[i] != NULL && strcmp(all_roles[i], q[Q_ROLE]) != 0; i++)
            ;
        if (all_roles[i] == NULL) {
            api_problem(r, 400, P_INVALID_PARAM, "Invalid query parameter", "role",
                        "role must be SUPER_ADMIN, MANAGER, TELLER or CUSTOMER");
            return;
        }
    }
    if (q[Q_STATUS] != NULL) {
        size_t i;
        for (i = 0; all_statuses[i] != NULL && strcmp(all_statuses[i], q[Q_STATUS]) != 0; i++)
            ;
        if (all_statuses[i] == NULL) {
            api_problem(r, 400, P_INVALID_PARAM, "Invalid query parameter", "status",
                        "status must be ACTIVE, INACTIVE, SUSPENDED or LOCKED");
            return;
        }
    }
    if (q[Q_CURSOR] != NULL &&
        api_query_cursor(r, LG_CURSOR_KIND_USER, q[Q_CURSOR], cursor_pg, cursor_id) != 0)
        return;
    db = open_tenant(r, caller);
    if (db == NULL)
        return;
    snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
    res = api_db_query(db, USERS_PAGE, 5,
                       (const char *[]){q[Q_ROLE], q[Q_STATUS],
                                        q[Q_CURSOR] != NULL ? cursor_pg : NULL,
                                        q[Q_CURSOR] != NULL ? cursor_id : NULL, limit_text},
                       state, err, sizeof err);
    if (res == NULL) {
        db_failed(r, caller, db, "reading users", err);
        return;
    }
    lg_router_release(r->server->router, caller->tenant.id, db, 0);
    rows = PQntuples(res);
    data = json_array();
    for (int i = 0; i < rows && i < limit; i++)
        json_array_append_new(data, user_json(res, i));
    if (rows > limit)
        lg_cursor_encode_row(LG_CURSOR_KIND_USER,
                             strtoll(PQgetvalue(res, limit - 1, COL_CREATED_US), NULL, 10),
                             PQgetvalue(res, limit - 1, COL_ID), next, sizeof next);
    api_respond_json(r, 200, api_page_json(data, rows > limit ? next : NULL));
    PQclear(res);
}

/* Answers one user: id's as the list sees users (any == 0: not an internal one), or the
 * caller itself, whoever it is (any == 1). */
static void answer_user(api_request *r, const api_caller *caller, const char *id, int any)
{
    char err[512], state[6];
    PGconn *db;
    PGresult *res;
    if (!lg_uuid_valid(id)) {
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no user with this id");
        return;
    }
    db = open_tenant(r, caller);
    if (db == NULL)
        return;
    res = api_db_query(db,
                       any ? "SELECT " USER_COLUMNS " FROM users u WHERE u.id = $1::uuid"
                             " AND u.deleted_at IS NULL"
                           : "SELECT " USER_COLUMNS " FROM users u WHERE u.id = $1::uuid"
                             " AND u.deleted_at IS NULL AND NOT " INTERNAL_USER,
                       1, (const char *[]){id}, state, err, sizeof err);
    if (res == NULL) {
        db_failed(r, caller, db, "reading a user", err);
        return;
    }
    lg_router_release(r->server->router, caller->tenant.id, db, 0);
    if (PQntuples(res) == 0)
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no user with this id");
    else
        api_respond_json(r, 200, user_json(res, 0));
    PQclear(res);
}

static void get_user(api_request *r, const api_caller *caller, const char *const *params)
{
    answer_user(r, caller, params[0], 0);
}

static void get_me(api_request *r, const api_caller *caller, const char *const *params)
{
    (void)params;
    answer_user(r, caller, caller->user_id, 1);
}

/* ------------------------------------------------------------------ changes */

typedef struct {
    const char *action;     /* the audit action */
    const char *first_name; /* NULL: unchanged */
    const char *last_name;
    const char *phone;
    int set_phone; /* phone given, NULL clears it */
    const char *role;
    const char *status;
    int delete_user;
} user_change;

/* Does the change take the user out of the active SUPER_ADMINs? */
static int leaves_super_admins(const PGresult *row, const user_change *c)
{
    int is_active_admin = strcmp(PQgetvalue(row, 0, COL_ROLE), "SUPER_ADMIN") == 0 &&
                          strcmp(PQgetvalue(row, 0, COL_STATUS), "ACTIVE") == 0;
    return is_active_admin &&
           (c->delete_user || (c->role != NULL && strcmp(c->role, "SUPER_ADMIN") != 0) ||
            (c->status != NULL && strcmp(c->status, "ACTIVE") != 0));
}

/* Applies a change to user id in one transaction with its audit row; answers 200 with the user
 * (204 for a deletion). */
static void change_user(api_request *r, const api_caller *caller, const char *id,
                        const user_change *c)
{
    char err[512], state[6];
    const char *first, *last, *phone, *role, *status, *unlock = "false";
    PGconn *db;
    PGresult *row, *res;
    json_t *changes, *user;

    if (!lg_uuid_valid(id)) {
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no user with this id");
        return;
    }
    db = begin_write(r, caller);
    if (db == NULL)
        return;
    row = lock_user(r, caller, db, id);
    if (row == NULL)
        return;
    if (c->role != NULL && strcmp(PQgetvalue(row, 0, COL_ROLE), "CUSTOMER") == 0 &&
        strcmp(c->role, "CUSTOMER") != 0) {
        PQclear(row);
        end_write(r, caller, db);
        api_problem(r, 422, P_INVALID_FIELD, "Invalid field", "role",
                    "a CUSTOMER user's role belongs to its customer record and does not change");
        return;
    }
    if (leaves_super_admins(row, c)) {
        PGresult *others = api_db_query(db,
                                        "SELECT count(*) FROM users u WHERE u.role = 'SUPER_ADMIN'"
                                        " AND u.status = 'ACTIVE' AND u.deleted_at IS NULL"
                                        " AND NOT " INTERNAL_USER " AND u.id <> $1::uuid",
                                        1, (const char *[]){id}, state, err, sizeof err);
        long n;
        if (others == NULL) {
            PQclear(row);
            db_failed(r, caller, db, "counting super admins", err);
            return;
        }
        n = strtol(PQgetvalue(others, 0, 0), NULL, 10);
        PQclear(others);
        if (n == 0) {
            PQclear(row);
            end_write(r, caller, db);
            api_problem(r, 409, P_LAST_ADMIN, "Last super admin", NULL,
                        "this is the bank's last active SUPER_ADMIN; make another user "
                        "SUPER_ADMIN first");
            return;
        }
    }

    /* The new values, and what changes. */
    changes = json_object();
    first = PQgetvalue(row, 0, COL_FIRST);
    last = PQgetvalue(row, 0, COL_LAST);
    phone = PQgetisnull(row, 0, COL_PHONE) ? NULL : PQgetvalue(row, 0, COL_PHONE);
    role = PQgetvalue(row, 0, COL_ROLE);
    status = PQgetvalue(row, 0, COL_STATUS);
    if (c->first_name != NULL && strcmp(c->first_name, first) != 0) {
        add_change(changes, "firstName", json_string(first), json_string(c->first_name));
        first = c->first_name;
    }
    if (c->last_name != NULL && strcmp(c->last_name, last) != 0) {
        add_change(changes, "lastName", json_string(last), json_string(c->last_name));
        last = c->last_name;
    }
    if (c->set_phone && (phone == NULL) != (c->phone == NULL)) {
        add_change(changes, "phone", text_or_null(phone), text_or_null(c->phone));
        phone = c->phone;
    } else if (c->set_phone && phone != NULL && strcmp(phone, c->phone) != 0) {
        add_change(changes, "phone", json_string(phone), json_string(c->phone));
        phone = c->phone;
    }
    if (c->role != NULL && strcmp(c->role, role) != 0) {
        add_change(changes, "role", json_string(role), json_string(c->role));
        role = c->role;
    }
    if (c->status != NULL && strcmp(c->status, status) != 0) {
        add_change(changes, "status", json_string(status), json_string(c->status));
        status = c->status;
        /* Activating a locked or suspended user unlocks it too. */
        if (strcmp(c->status, "ACTIVE") == 0) {
            unlock = "true";
            if (!PQgetisnull(row, 0, COL_LOCKED_UNTIL))
                add_change(changes, "lockedUntil", api_db_text(row, 0, COL_LOCKED_UNTIL),
                           json_null());
            if (strcmp(PQgetvalue(row, 0, COL_FAILED), "0") != 0)
                add_change(changes, "failedLoginAttempts",
                           json_integer(strtol(PQgetvalue(row, 0, COL_FAILED), NULL, 10)),
                           json_integer(0));
        }
    }
    if (json_object_size(changes) == 0 && !c->delete_user) {
        /* Nothing changes: nothing is written. */
        json_decref(changes);
        user = user_json(row, 0);
        PQclear(row);
        end_write(r, caller, db);
        api_respond_json(r, 200, user);
        return;
    }
    res = api_db_query(db,
                       "UPDATE users u SET first_name = $2, last_name = $3, phone = $4,"
                       " role = $5::user_role, status = $6::user_status,"
                       " deleted_at = CASE WHEN $7::boolean THEN now() ELSE u.deleted_at END,"
                       " locked_until = CASE WHEN $8::boolean THEN NULL ELSE u.locked_until END,"
                       " failed_login_attempts = CASE WHEN $8::boolean THEN 0"
                       " ELSE u.failed_login_attempts END"
                       " WHERE u.id = $1::uuid RETURNING " USER_COLUMNS
                       ", " API_ISO_UTC("u.deleted_at"),
                       8,
                       (const char *[]){id, first, last, phone, role, status,
                                        c->delete_user ? "true" : "false", unlock},
                       state, err, sizeof err);
    PQclear(row);
    if (res == NULL) {
        json_decref(changes);
        db_failed(r, caller, db, "changing a user", err);
        return;
    }
    if (c->delete_user)
        add_change(changes, "deletedAt", json_null(), api_db_text(res, 0, COL_FAILED + 1));
    if (api_audit(r, caller, db, c->action, "User", id, changes, NULL, err, sizeof err) != 0) {
        json_decref(changes);
        PQclear(res);
        db_failed(r, caller, db, "auditing a user change", err);
        return;
    }
    json_decref(changes);
    user = user_json(res, 0);
    PQclear(res);
    if (commit_write(r, caller, db) != 0) {
        json_decref(user);
        return;
    }
    if (c->delete_user) {
        json_decref(user);
        api_respond(r, 204, NULL, NULL);
        return;
    }
    api_respond_json(r, 200, user);
}

static void patch_user(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const fields[] = {"firstName", "lastName", "phone", "role", "status", NULL};
    user_change c;
    api_body b;

    memset(&c, 0, sizeof c);
    c.action = "UPDATE_USER";
    if (api_body_open(&b, r, fields) != 0) {
        api_body_free(&b);
        return;
    }
    c.first_name = api_body_string(&b, "firstName", 0, 1, NAME_MAX_LEN);
    c.last_name = api_body_string(&b, "lastName", 0, 1, NAME_MAX_LEN);
    c.phone = api_body_string(&b, "phone", 0, 1, PHONE_MAX);
    c.set_phone = api_body_has(&b, "phone");
    c.role = api_body_enum(&b, "role", 0, all_roles);
    c.status = api_body_enum(&b, "status", 0, settable_statuses);
    if (!b.failed && (api_body_is_null(&b, "firstName") || api_body_is_null(&b, "lastName") ||
                      api_body_is_null(&b, "role") || api_body_is_null(&b, "status")))
        api_body_reject(&b, P_INVALID_FIELD, NULL,
                        "only phone may be set to null; leave out what does not change");
    if (!b.failed && c.phone != NULL && !phone_valid(c.phone))
        api_body_reject(&b, P_INVALID_FIELD, "phone",
                        "phone must hold digits, with '+', '-', '(', ')' and spaces only");
    if (!b.failed && c.role != NULL && strcmp(c.role, "CUSTOMER") == 0)
        api_body_reject(&b, P_INVALID_FIELD, "role",
                        "role is SUPER_ADMIN, MANAGER or TELLER; CUSTOMER users come with their "
                        "customer record");
    if (!b.failed)
        change_user(r, caller, params[0], &c);
    api_body_free(&b);
}

static void deactivate_user(api_request *r, const api_caller *caller, const char *const *params)
{
    user_change c;
    memset(&c, 0, sizeof c);
    c.action = "DEACTIVATE_USER";
    c.status = "INACTIVE";
    change_user(r, caller, params[0], &c);
}

static void delete_user(api_request *r, const api_caller *caller, const char *const *params)
{
    user_change c;
    memset(&c, 0, sizeof c);
    c.action = "DELETE_USER";
    c.delete_user = 1;
    change_user(r, caller, params[0], &c);
}

/* ------------------------------------------------------------------ the caller's password */

static void change_password(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const fields[] = {"currentPassword", "newPassword", NULL};
    char stored[LG_PASSWORD_HASH_MAX], hash[LG_PASSWORD_HASH_MAX], why[256], err[512], state[6];
    const char *current, *fresh;
    api_body b;
    PGconn *db;
    PGresult *res;
    json_t *changes;
    (void)params;

    if (caller->kind != API_CALLER_USER_TOKEN) {
        api_problem(r, 403, P_FORBIDDEN, "Forbidden", NULL,
                    "a password is changed by its user, signed in with a token; an API key has "
                    "no password");
        return;
    }
    if (api_body_open(&b, r, fields) != 0) {
        api_body_free(&b);
        return;
    }
    current = api_body_string(&b, "currentPassword", 1, 1, 1024);
    fresh = api_body_string(&b, "newPassword", 1, 1, LG_PASSWORD_MAX);
    if (b.failed) {
        api_body_free(&b);
        return;
    }

    db = open_tenant(r, caller);
    if (db == NULL) {
        api_body_free(&b);
        return;
    }
    res = api_db_query(db, "SELECT password_hash FROM users WHERE id = $1 AND deleted_at IS NULL",
                       1, (const char *[]){caller->user_id}, state, err, sizeof err);
    if (res == NULL) {
        db_failed(r, caller, db, "reading a password hash", err);
        api_body_free(&b);
        return;
    }
    lg_router_release(r->server->router, caller->tenant.id, db, 0);
    snprintf(stored, sizeof stored, "%s", PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "!");
    PQclear(res);
    /* The hashing is slow on purpose: done outside any transaction. */
    if (!lg_password_verify(stored, current)) {
        api_body_free(&b);
        api_problem(r, 403, P_WRONG_PASSWORD, "Wrong password", "currentPassword",
                    "the current password is not right; nothing was changed");
        return;
    }
    if (strcmp(current, fresh) == 0)
        api_body_reject(&b, P_WEAK_PASSWORD, "newPassword",
                        "the new password must differ from the current one");
    else if (lg_password_policy(fresh, why, sizeof why) != 0)
        api_body_reject(&b, P_WEAK_PASSWORD, "newPassword", "%s", why);
    if (b.failed || lg_password_hash(fresh, hash) != 0) {
        if (!b.failed)
            api_problem(r, 500, P_INTERNAL, "Internal error", NULL,
                        "the password cannot be hashed");
        api_body_free(&b);
        return;
    }
    api_body_free(&b);

    db = begin_write(r, caller);
    if (db == NULL) {
        explicit_bzero(hash, sizeof hash);
        return;
    }
    /* Only over the hash that was verified: a concurrent change wins, this one is refused. */
    res = api_db_query(db, PASSWORD_UPDATE, 3, (const char *[]){caller->user_id, hash, stored},
                       state, err, sizeof err);
    explicit_bzero(hash, sizeof hash);
    explicit_bzero(stored, sizeof stored);
    if (res == NULL) {
        db_failed(r, caller, db, "changing a password", err);
        return;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        end_write(r, caller, db);
        api_problem(r, 409, P_CONFLICT, "Conflict", NULL,
                    "the password was changed meanwhile; nothing was changed");
        return;
    }
    changes = json_object();
    add_change(changes, "passwordChangedAt", api_db_text(res, 0, 0), api_db_text(res, 0, 1));
    PQclear(res);
    if (api_audit(r, caller, db, "CHANGE_PASSWORD", "User", caller->user_id, changes, NULL, err,
                  sizeof err) != 0) {
        json_decref(changes);
        db_failed(r, caller, db, "auditing a password change", err);
        return;
    }
    json_decref(changes);
    if (commit_write(r, caller, db) != 0)
        return;
    api_respond(r, 204, NULL, NULL);
}

/* /v1/users/me... comes first: "/v1/users/{}" would match "me" too. */
const api_route_def api_routes_users[] = {
    {"GET", "/v1/users/me", API_ROLES_TENANT, get_me},
    {"POST", "/v1/users/me/password", API_ROLES_TENANT, change_password},
    {"POST", "/v1/users", API_ROLE_SUPER_ADMIN, create_user},
    {"GET", "/v1/users", API_ROLE_SUPER_ADMIN, list_users},
    {"GET", "/v1/users/{}", API_ROLE_SUPER_ADMIN, get_user},
    {"PATCH", "/v1/users/{}", API_ROLE_SUPER_ADMIN, patch_user},
    {"DELETE", "/v1/users/{}", API_ROLE_SUPER_ADMIN, delete_user},
    {"POST", "/v1/users/{}/deactivate", API_ROLE_SUPER_ADMIN, deactivate_user},
    {NULL, NULL, 0, NULL},
};
