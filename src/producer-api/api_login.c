/*
 * Logins and "who am I":
 *   POST /v1/auth/login          a bank's user (tenant database) -> a bearer token
 *   POST /v1/system/auth/login   a system administrator (master database) -> a bearer token
 *   GET  /v1/auth/me, GET /v1/system/auth/me   the caller as the API sees it
 *
 * The tenant of a login is the one the request names (api_request_tenant: the Host's first label,
 * or X-Tenant; both must agree). Design notes:
 *
 * - No user enumeration. An unknown tenant, an unknown or deleted user, a user without a password
 *   (API-key and system users), a wrong password, an INACTIVE or SUSPENDED user: all get the same
 *   401 /problems/invalid-credentials, byte for byte, after the same Argon2id work (a decoy hash,
 *   made at start-up with the current parameters, stands in for a missing one).
 * - Lockout of tenant users. failed_login_attempts counts failures since the last success; the
 *   LEDGER_LOGIN_MAX_FAILURES-th (default 5) locks the account for LEDGER_LOGIN_LOCK_S (default
 *   900 s): status LOCKED, locked_until, 423 /problems/account-locked with Retry-After. While
 *   locked every attempt is 423, the right password included, and no hash is computed. Once
 *   locked_until has passed, the right password unlocks (ACTIVE, counter 0) and a wrong one starts
 *   a new count at 1. An account LOCKED without locked_until (locked by an administrator) stays
 *   locked. The counter changes under the row lock (SELECT ... FOR UPDATE), after the hash is
 *   checked, in the transaction that writes the audit rows, so concurrent attempts all count.
 * - System admins have no lockout columns: failures are counted in memory per (e-mail, client
 *   IP), LEDGER_SYSTEM_LOGIN_MAX_FAILURES (5) within LEDGER_SYSTEM_LOGIN_WINDOW_S (900 s) from the
 *   first, then 429 /problems/too-many-attempts with Retry-After until the window ends. Per
 *   process, forgotten at a restart, and a pair may be evicted by a flood of others (each of
 *   which costs the flooder an Argon2id verification): a brake on guessing, not an account lock.
 * - A hash made with other Argon2id parameters than the current ones is re-made at the next
 *   successful login (lg_password_needs_rehash), in the same transaction as the login.
 * - Audit: tenant logins write AuditLog rows LOGIN, LOGIN_FAILED (metadata.reason) and
 *   ACCOUNT_LOCKED; system logins write TenantAuditLog rows SYSTEM_ADMIN_LOGIN and
 *   SYSTEM_ADMIN_LOGIN_FAILED under the nil tenant id (the system plane). Never a password or hash.
 */
#include "api.h"
#include "api_body.h"

#include "lg_config.h"
#include "lg_db.h"
#include "lg_jwt.h"
#include "lg_log.h"
#include "lg_password.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define P_INVALID_CREDENTIALS "/problems/invalid-credentials"
#define P_ACCOUNT_LOCKED      "/problems/account-locked"
#define P_TOO_MANY_ATTEMPTS   "/problems/too-many-attempts"
#define P_TENANT_REQUIRED     "/problems/tenant-required"
#define P_UNAVAILABLE         "/problems/unavailable"

/* The tenant id of TenantAuditLog rows about the system plane itself. */
#define SYSTEM_PLANE_ID "00000000-0000-0000-0000-000000000000"

#define EMAIL_MAX 254

static struct {
    long max_failures;     /* LEDGER_LOGIN_MAX_FAILURES */
    long lock_s;           /* LEDGER_LOGIN_LOCK_S */
    long token_ttl_s;      /* LEDGER_TOKEN_TTL_S */
    long sys_max_failures; /* LEDGER_SYSTEM_LOGIN_MAX_FAILURES */
    long sys_window_s;     /* LEDGER_SYSTEM_LOGIN_WINDOW_S */
    char decoy_hash[LG_PASSWORD_HASH_MAX];
    unsigned char throttle_key[crypto_generichash_KEYBYTES];
} cfg;

int api_login_configure(char *err, size_t err_size)
{
    char decoy[33];
    if (lg_config_int("LEDGER_LOGIN_MAX_FAILURES", 5, 1, 1000, &cfg.max_failures, err, err_size) !=
            0 ||
        lg_config_int("LEDGER_LOGIN_LOCK_S", 900, 1, 30L * 86400, &cfg.lock_s, err, err_size) !=
            0 ||
        lg_config_int("LEDGER_TOKEN_TTL_S", 900, 1, 86400, &cfg.token_ttl_s, err, err_size) != 0 ||
        lg_config_int("LEDGER_SYSTEM_LOGIN_MAX_FAILURES", 5, 1, 1000, &cfg.sys_max_failures, err,
                      err_size) != 0 ||
        lg_config_int("LEDGER_SYSTEM_LOGIN_WINDOW_S", 900, 1, 86400, &cfg.sys_window_s, err,
                      err_size) != 0)
        return -1;
    lg_random_password(decoy, sizeof decoy, 32);
    if (lg_password_hash(decoy, cfg.decoy_hash) != 0) {
        snprintf(err, err_size, "cannot hash a password (out of memory?)");
        return -1;
    }
    sodium_memzero(decoy, sizeof decoy);
    randombytes_buf(cfg.throttle_key, sizeof cfg.throttle_key);
    return 0;
}

static void problem(api_request *r, int status, const char *type, const char *title,
                    const char *detail)
{
    lg_problem p;
    lg_problem_set(&p, status, type, title, NULL, "%s", detail);
    api_respond_problem(r, &p);
}

/* The one answer to every credential that does not open an account. */
static void invalid_credentials(api_request *r)
{
    problem(r, 401, P_INVALID_CREDENTIALS, "Invalid credentials",
            "the e-mail address or the password is wrong");
}

static void locked(api_request *r, long retry_s)
{
    r->retry_after = retry_s > 0 ? (int)retry_s : 0;
    problem(r, 423, P_ACCOUNT_LOCKED, "Account locked",
            retry_s > 0 ? "too many failed logins: the account is locked; try again after "
                          "Retry-After seconds"
                        : "the account is locked; ask the bank's administrator");
}

static void unavailable(api_request *r, const char *what, const char *err)
{
    lg_log_error("login: %s: %s", what, err);
    r->retry_after = 1;
    problem(r, 503, P_UNAVAILABLE, "Service unavailable",
            "the login cannot be checked right now; retry later");
}

/* Does password open hash? A missing or unusable hash costs the same work as a real one. */
static int password_matches(const char *hash, const char *password)
{
    if (hash == NULL || strncmp(hash, "$argon2id$", 10) != 0) {
        (void)lg_password_verify(cfg.decoy_hash, password);
        return 0;
    }
    return lg_password_verify(hash, password);
}

/* A new hash of password when hash was made with other parameters; "" otherwise (or when the
 * new hash cannot be made: the login still succeeds, the next one tries again). */
static void maybe_rehash(const char *hash, const char *password, char out[LG_PASSWORD_HASH_MAX])
{
    out[0] = '\0';
    if (lg_password_needs_rehash(hash) && lg_password_hash(password, out) != 0)
        out[0] = '\0';
}

/* {"accessToken", "tokenType", "expiresIn"} for claims (borrowed). */
static void answer_token(api_request *r, json_t *claims)
{
    char *token = lg_jwt_sign(r->server->keyring, claims, cfg.token_ttl_s);
    if (token == NULL) {
        problem(r, 500, "/problems/internal", "Internal error", "the token cannot be made");
        return;
    }
    api_respond_json(r, 200,
                     json_pack("{s:s, s:s, s:I}", "accessToken", token, "tokenType", "Bearer",
                               "expiresIn", (json_int_t)cfg.token_ttl_s));
    sodium_memzero(token, strlen(token));
    free(token);
}

/* {"field": {"before": b, "after": a}} into changes, when they differ; NULL is JSON null. */
static void change(json_t *changes, const char *field, const char *before, const char *after)
{
    if ((before == NULL && after == NULL) ||
        (before != NULL && after != NULL && strcmp(before, after) == 0))
        return;
    json_object_set_new(changes, field,
                        json_pack("{s:o, s:o}", "before",
                                  before != NULL ? json_string(before) : json_null(), "after",
                                  after != NULL ? json_string(after) : json_null()));
}

static void change_int(json_t *changes, const char *field, long before, long after)
{
    if (before != after)
        json_object_set_new(
            changes, field,
            json_pack("{s:I, s:I}", "before", (json_int_t)before, "after", (json_int_t)after));
}

static const char *value_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* ------------------------------------------------------------------ tenant users */

/* The SQL below is laid out by hand. */
/* clang-format off */
/* An instant as the API writes it. */
#define ISO_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* The user row a login needs, locked in the transaction (FOR UPDATE) or not. "locked" is true
 * while the account may not log in whatever the password; retry_s is how long that lasts (0 for
 * an account an administrator locked). */
#define USER_ROW                                                                                   \
    "SELECT id, email, password_hash, role, status, failed_login_attempts,"                        \
    " (locked_until > now() OR (status = 'LOCKED' AND locked_until IS NULL)) AS locked,"           \
    " coalesce(ceil(extract(epoch FROM locked_until - now())), 0)::bigint AS retry_s,"             \
    " (locked_until IS NOT NULL AND locked_until <= now()) AS lock_expired,"                       \
    " " ISO_UTC("locked_until") ", " ISO_UTC("last_login_at") ", last_login_ip"                    \
    " FROM users"
enum {
    U_ID,
    U_EMAIL,
    U_HASH,
    U_ROLE,
    U_STATUS,
    U_FAILURES,
    U_LOCKED,
    U_RETRY,
    U_EXPIRED,
    U_LOCKED_UNTIL,
    U_LAST_LOGIN_AT,
    U_LAST_LOGIN_IP
};
/* clang-format on */

static int is_true(const PGresult *res, int col)
{
    return strcmp(PQgetvalue(res, 0, col), "t") == 0;
}

/* May a user of this status log in (LOCKED accounts are decided by the lock)? */
static int status_may_log_in(const char *status)
{
    return strcmp(status, "ACTIVE") == 0 || strcmp(status, "LOCKED") == 0;
}

/* A login attempt against one tenant: its request, database and the claimant. */
typedef struct {
    api_request *r;
    const lg_tenant *tenant;
    PGconn *db;
    api_caller who; /* the user (or the e-mail address tried) for the audit log */
    char err[512];
} attempt;

static int audit(attempt *a, const char *action, const char *resource_id, json_t *changes,
                 const char *reason)
{
    json_t *meta = reason != NULL ? json_pack("{s:s}", "reason", reason) : NULL;
    int rc = api_audit(a->r, &a->who, a->db, action, "User", resource_id, changes, meta, a->err,
                       sizeof a->err);
    json_decref(meta);
    return rc;
}

/* A LOGIN_FAILED row that changes nothing else (unknown user, inactive user, locked account). */
static int audit_refusal(attempt *a, const char *user_id, const char *reason)
{
    return audit(a, "LOGIN_FAILED", user_id, NULL, reason);
}

/* A wrong password: counts it, locks at the limit, writes LOGIN_FAILED (and ACCOUNT_LOCKED), and
 * answers 401, or 423 once locked. Returns 0, or -1 when the database failed (not answered). */
static int record_failure(attempt *a, const char *user_id)
{
    char count[24], lock_s[24], max[24];
    PGresult *row = NULL, *upd = NULL;
    json_t *changes = NULL;
    long before, after;
    int rc = -1, now_locked;

    if (lg_db_exec(a->db, "BEGIN", a->err, sizeof a->err) != 0)
        return -1;
    row = lg_db_query(a->db, USER_ROW " WHERE id = $1 FOR UPDATE", 1, (const char *[]){user_id},
                      a->err, sizeof a->err);
    if (row == NULL || PQntuples(row) != 1)
        goto out;
    if (is_true(row, U_LOCKED)) {
        /* Locked by a concurrent attempt meanwhile. */
        if (audit_refusal(a, user_id, "account-locked") != 0 ||
            lg_db_exec(a->db, "COMMIT", a->err, sizeof a->err) != 0)
            goto out;
        locked(a->r, strtol(PQgetvalue(row, 0, U_RETRY), NULL, 10));
        rc = 0;
        goto out;
    }
    before = strtol(PQgetvalue(row, 0, U_FAILURES), NULL, 10);
    /* After an expired lock the count starts again. */
    after = is_true(row, U_EXPIRED) ? 1 : before + 1;
    now_locked = after >= cfg.max_failures;
    snprintf(count, sizeof count, "%ld", after);
    snprintf(lock_s, sizeof lock_s, "%ld", cfg.lock_s);
    snprintf(max, sizeof max, "%ld", cfg.max_failures);
    upd = lg_db_query(
        a->db,
        "UPDATE users SET failed_login_attempts = $2::integer,"
        " status = CASE WHEN $2::integer >= $3::integer THEN 'LOCKED'"
        "   WHEN locked_until <= now() AND status = 'LOCKED' THEN 'ACTIVE'"
        "   ELSE status END,"
        " locked_until = CASE WHEN $2::integer >= $3::integer"
        "   THEN now() + make_interval(secs => $4::integer)"
        "   WHEN locked_until <= now() THEN NULL ELSE locked_until END"
        " WHERE id = $1"
        " RETURNING status, " ISO_UTC(
            "locked_until") ","
                            " coalesce(ceil(extract(epoch FROM locked_until - now())), 0)::bigint",
        4, (const char *[]){user_id, count, max, lock_s}, a->err, sizeof a->err);
    if (upd == NULL || PQntuples(upd) != 1)
        goto out;
    changes = json_object();
    change_int(changes, "failedLoginAttempts", before, after);
    change(changes, "status", PQgetvalue(row, 0, U_STATUS), PQgetvalue(upd, 0, 0));
    change(changes, "lockedUntil", value_or_null(row, 0, U_LOCKED_UNTIL), value_or_null(upd, 0, 1));
    if (audit(a, "LOGIN_FAILED", user_id, changes, "wrong-password") != 0)
        goto out;
    if (now_locked) {
        json_t *lock_changes = json_object();
        int failed;
        change(lock_changes, "status", PQgetvalue(row, 0, U_STATUS), PQgetvalue(upd, 0, 0));
        change(lock_changes, "lockedUntil", value_or_null(row, 0, U_LOCKED_UNTIL),
               value_or_null(upd, 0, 1));
        failed = audit(a, "ACCOUNT_LOCKED", user_id, lock_changes, "too-many-failed-logins");
        json_decref(lock_changes);
        if (failed)
            goto out;
    }
    if (lg_db_exec(a->db, "COMMIT", a->err, sizeof a->err) != 0)
        goto out;
    if (now_locked) {
        lg_log_kv(LG_LOG_WARN,
                  (const char *[]){"request_id", a->r->request_id, "tenant", a->tenant->slug,
                                   "user_id", user_id, NULL},
                  "account locked after %ld failed logins", after);
        locked(a->r, strtol(PQgetvalue(upd, 0, 2), NULL, 10));
    } else {
        invalid_credentials(a->r);
    }
    rc = 0;
out:
    json_decref(changes);
    PQclear(upd);
    PQclear(row);
    return rc;
}

/* The right password: resets the count, unlocks an expired lock, stamps the login, stores a
 * re-made hash, writes LOGIN, and answers the token. Returns 0, or -1 when the database failed. */
static int record_success(attempt *a, const char *user_id, const char *old_hash,
                          const char *new_hash)
{
    char ip[64];
    const char *client_ip = api_client_ip(a->r, ip, sizeof ip);
    PGresult *row = NULL, *upd = NULL;
    json_t *changes = NULL, *claims, *meta;
    int rc = -1, failed;

    if (lg_db_exec(a->db, "BEGIN", a->err, sizeof a->err) != 0)
        return -1;
    row = lg_db_query(a->db, USER_ROW " WHERE id = $1 AND deleted_at IS NULL FOR UPDATE", 1,
                      (const char *[]){user_id}, a->err, sizeof a->err);
    if (row == NULL)
        goto out;
    /* Deactivated, deleted or locked while the password was being checked. */
    if (PQntuples(row) != 1 || !status_may_log_in(PQgetvalue(row, 0, U_STATUS)) ||
        is_true(row, U_LOCKED)) {
        int is_locked = PQntuples(row) == 1 && is_true(row, U_LOCKED);
        if (audit_refusal(a, user_id, is_locked ? "account-locked" : "user-not-active") != 0 ||
            lg_db_exec(a->db, "COMMIT", a->err, sizeof a->err) != 0)
            goto out;
        if (is_locked)
            locked(a->r, strtol(PQgetvalue(row, 0, U_RETRY), NULL, 10));
        else
            invalid_credentials(a->r);
        rc = 0;
        goto out;
    }
    upd = lg_db_query(a->db,
                      "UPDATE users SET failed_login_attempts = 0, locked_until = NULL,"
                      " status = 'ACTIVE', last_login_at = now(), last_login_ip = $2,"
                      " password_hash = CASE WHEN $3::text IS NOT NULL AND password_hash = $4"
                      "   THEN $3::text ELSE password_hash END"
                      " WHERE id = $1"
                      " RETURNING " ISO_UTC("last_login_at") ", password_hash <> $4",
                      4,
                      (const char *[]){user_id, client_ip, new_hash[0] ? new_hash : NULL, old_hash},
                      a->err, sizeof a->err);
    if (upd == NULL || PQntuples(upd) != 1)
        goto out;
    changes = json_object();
    change_int(changes, "failedLoginAttempts", strtol(PQgetvalue(row, 0, U_FAILURES), NULL, 10), 0);
    change(changes, "status", PQgetvalue(row, 0, U_STATUS), "ACTIVE");
    change(changes, "lockedUntil", value_or_null(row, 0, U_LOCKED_UNTIL), NULL);
    change(changes, "lastLoginAt", value_or_null(row, 0, U_LAST_LOGIN_AT), PQgetvalue(upd, 0, 0));
    change(changes, "lastLoginIp", value_or_null(row, 0, U_LAST_LOGIN_IP), client_ip);
    meta = json_pack("{s:b}", "passwordRehashed", is_true(upd, 1));
    failed = api_audit(a->r, &a->who, a->db, "LOGIN", "User", user_id, changes, meta, a->err,
                       sizeof a->err);
    json_decref(meta);
    if (failed || lg_db_exec(a->db, "COMMIT", a->err, sizeof a->err) != 0)
        goto out;
    claims = json_pack("{s:s, s:s, s:s}", "sub", user_id, "tid", a->tenant->id, "role",
                       PQgetvalue(row, 0, U_ROLE));
    answer_token(a->r, claims);
    json_decref(claims);
    rc = 0;
out:
    json_decref(changes);
    PQclear(upd);
    PQclear(row);
    return rc;
}

/* The login proper, against the tenant's database. Answers r. */
static void tenant_login(api_request *r, const lg_tenant *tenant, const char *email,
                         const char *password)
{
    attempt a;
    PGresult *user = NULL;
    char new_hash[LG_PASSWORD_HASH_MAX] = "";
    int ok, rc = -1;

    memset(&a, 0, sizeof a);
    a.r = r;
    a.tenant = tenant;
    a.db = lg_router_acquire(r->server->router, tenant->id, r->server->db_wait_ms, a.err,
                             sizeof a.err);
    if (a.db == NULL) {
        unavailable(r, tenant->slug, a.err);
        return;
    }
    /* Case does not matter; should two addresses differ by case alone, the exact one wins. */
    user = lg_db_query(a.db,
                       USER_ROW " WHERE lower(email) = lower($1) AND deleted_at IS NULL"
                                " ORDER BY (email = $1) DESC, created_at LIMIT 1",
                       1, (const char *[]){email}, a.err, sizeof a.err);
    if (user == NULL)
        goto out;
    if (PQntuples(user) == 0) {
        (void)password_matches(NULL, password);
        if (strchr(email, '@') != NULL)
            snprintf(a.who.email, sizeof a.who.email, "%s", email);
        if (audit_refusal(&a, NULL, "unknown-user") != 0)
            goto out;
        invalid_credentials(r);
        rc = 0;
        goto out;
    }
    snprintf(a.who.user_id, sizeof a.who.user_id, "%s", PQgetvalue(user, 0, U_ID));
    snprintf(a.who.email, sizeof a.who.email, "%s", PQgetvalue(user, 0, U_EMAIL));
    snprintf(a.who.role, sizeof a.who.role, "%s", PQgetvalue(user, 0, U_ROLE));
    if (is_true(user, U_LOCKED)) {
        if (audit_refusal(&a, a.who.user_id, "account-locked") != 0)
            goto out;
        locked(r, strtol(PQgetvalue(user, 0, U_RETRY), NULL, 10));
        rc = 0;
        goto out;
    }
    ok = password_matches(PQgetvalue(user, 0, U_HASH), password);
    if (!status_may_log_in(PQgetvalue(user, 0, U_STATUS))) {
        if (audit_refusal(&a, a.who.user_id, "user-not-active") != 0)
            goto out;
        invalid_credentials(r);
        rc = 0;
        goto out;
    }
    if (!ok) {
        rc = record_failure(&a, a.who.user_id);
        goto out;
    }
    maybe_rehash(PQgetvalue(user, 0, U_HASH), password, new_hash);
    rc = record_success(&a, a.who.user_id, PQgetvalue(user, 0, U_HASH), new_hash);
out:
    sodium_memzero(new_hash, sizeof new_hash);
    PQclear(user);
    if (rc != 0) {
        char ignored[256];
        lg_db_exec(a.db, "ROLLBACK", ignored, sizeof ignored);
        unavailable(r, tenant->slug, a.err);
    }
    lg_router_release(r->server->router, tenant->id, a.db, rc != 0);
}

/* POST /v1/auth/login */
static void post_login(api_request *r, const api_caller *anonymous, const char *const *params)
{
    api_body_field fields[] = {
        {"email", 1, EMAIL_MAX, NULL}, {"password", 1, LG_PASSWORD_MAX, NULL}, {NULL, 0, 0, NULL}};
    lg_tenant tenant;
    lg_problem p;
    json_t *body;
    int found;
    (void)anonymous;
    (void)params;

    body = api_body_strings(r, fields, &p);
    if (body == NULL) {
        api_respond_problem(r, &p);
        return;
    }
    found = api_request_tenant(r, &tenant, &p);
    if (found < 0) {
        api_respond_problem(r, &p);
    } else if (found == API_TENANT_NONE) {
        problem(r, 400, P_TENANT_REQUIRED, "Tenant required",
                "name the bank: log in at its host name (<subdomain>.<domain>) or send "
                "X-Tenant: <slug>");
    } else if (found == API_TENANT_UNKNOWN || tenant.status == LG_TENANT_PENDING ||
               tenant.status == LG_TENANT_INACTIVE) {
        (void)password_matches(NULL, fields[1].value);
        invalid_credentials(r);
    } else if (tenant.status == LG_TENANT_SUSPENDED) {
        /* As for every credential of the bank (api_authenticate): its API is closed. */
        problem(r, 403, "/problems/tenant-suspended", "Tenant not active",
                "the tenant is suspended; its API is closed");
    } else {
        tenant_login(r, &tenant, fields[0].value, fields[1].value);
    }
    json_decref(body);
}

/* ------------------------------------------------------------------ system admins */

#define THROTTLE_SETS 1024
#define THROTTLE_WAYS 4

typedef struct {
    unsigned char key[16]; /* keyed BLAKE2b of (lower-case e-mail, client IP) */
    long failures;
    time_t first; /* the first failure of the window; 0: a free entry */
} throttle_entry;

static throttle_entry throttle[THROTTLE_SETS][THROTTLE_WAYS];
static pthread_mutex_t throttle_lock = PTHREAD_MUTEX_INITIALIZER;

static void throttle_key_of(const char *email, const char *ip, unsigned char out[16])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, cfg.throttle_key, sizeof cfg.throttle_key, 16);
    for (const char *c = email; *c != '\0'; c++) {
        unsigned char ch = (unsigned char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        crypto_generichash_update(&st, &ch, 1);
    }
    crypto_generichash_update(&st, (const unsigned char *)"", 1);
    crypto_generichash_update(&st, (const unsigned char *)ip, strlen(ip));
    crypto_generichash_final(&st, out, 16);
}

static throttle_entry *throttle_set(const unsigned char key[16])
{
    unsigned idx = ((unsigned)key[0] | (unsigned)key[1] << 8) % THROTTLE_SETS;
    return throttle[idx];
}

/* Called with throttle_lock held: the pair's live entry, or NULL. */
static throttle_entry *throttle_find(const unsigned char key[16], time_t now)
{
    throttle_entry *set = throttle_set(key);
    for (int i = 0; i < THROTTLE_WAYS; i++)
        if (set[i].first != 0 && now - set[i].first < cfg.sys_window_s &&
            memcmp(set[i].key, key, 16) == 0)
            return &set[i];
    return NULL;
}

/* Seconds the pair must wait before it may try again; 0 when it may try now. */
static long throttle_wait(const unsigned char key[16])
{
    time_t now = time(NULL);
    throttle_entry *e;
    long wait = 0;
    pthread_mutex_lock(&throttle_lock);
    e = throttle_find(key, now);
    if (e != NULL && e->failures >= cfg.sys_max_failures)
        wait = (long)(e->first + cfg.sys_window_s - now);
    pthread_mutex_unlock(&throttle_lock);
    return wait > 0 ? wait : 0;
}

/* Counts a failure; returns the wait it now imposes (0 while under the limit). */
static long throttle_fail(const unsigned char key[16])
{
    time_t now = time(NULL);
    throttle_entry *e, *set;
    long wait = 0;
    pthread_mutex_lock(&throttle_lock);
    e = throttle_find(key, now);
    if (e == NULL) {
        /* A free or expired way, else the one with the fewest failures. */
        set = throttle_set(key);
        e = &set[0];
        for (int i = 0; i < THROTTLE_WAYS; i++) {
            if (set[i].first == 0 || now - set[i].first >= cfg.sys_window_s) {
                e = &set[i];
                break;
            }
            if (set[i].failures < e->failures)
                e = &set[i];
        }
        memcpy(e->key, key, 16);
        e->failures = 0;
        e->first = now;
    }
    e->failures++;
    if (e->failures >= cfg.sys_max_failures)
        wait = (long)(e->first + cfg.sys_window_s - now);
    pthread_mutex_unlock(&throttle_lock);
    return wait > 0 ? wait : 0;
}

static void throttle_clear(const unsigned char key[16])
{
    throttle_entry *e;
    pthread_mutex_lock(&throttle_lock);
    e = throttle_find(key, time(NULL));
    if (e != NULL)
        memset(e, 0, sizeof *e);
    pthread_mutex_unlock(&throttle_lock);
}

static void too_many(api_request *r, long wait_s)
{
    r->retry_after = (int)wait_s;
    problem(r, 429, P_TOO_MANY_ATTEMPTS, "Too many attempts",
            "too many failed logins from this address for this account; try again after "
            "Retry-After seconds");
}

/* A TenantAuditLog row of the system plane. */
static int system_audit(PGconn *m, api_request *r, const char *action, const char *who,
                        const char *admin_id, const char *reason, char *err, size_t err_size)
{
    char ip[64];
    json_t *meta =
        json_pack("{s:s?, s:s?, s:s?, s:s}", "adminId", admin_id, "ip",
                  api_client_ip(r, ip, sizeof ip), "reason", reason, "requestId", r->request_id);
    char *text = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
    PGresult *res =
        lg_db_query(m,
                    "INSERT INTO tenant_audit_logs (tenant_id, action, performed_by,"
                    " metadata) VALUES ($1, $2, $3, $4::jsonb)",
                    4, (const char *[]){SYSTEM_PLANE_ID, action, who, text}, err, err_size);
    json_decref(meta);
    free(text);
    PQclear(res);
    return res != NULL ? 0 : -1;
}

/* POST /v1/system/auth/login */
static void post_system_login(api_request *r, const api_caller *anonymous,
                              const char *const *params)
{
    api_body_field fields[] = {
        {"email", 1, EMAIL_MAX, NULL}, {"password", 1, LG_PASSWORD_MAX, NULL}, {NULL, 0, 0, NULL}};
    char ip[64], err[512], new_hash[LG_PASSWORD_HASH_MAX] = "";
    unsigned char key[16];
    const char *email, *password, *who;
    PGconn *m = NULL;
    PGresult *admin = NULL, *upd = NULL;
    lg_problem p;
    json_t *body, *claims;
    long wait;
    int ok, broken = 0;
    (void)anonymous;
    (void)params;

    body = api_body_strings(r, fields, &p);
    if (body == NULL) {
        api_respond_problem(r, &p);
        return;
    }
    email = fields[0].value;
    password = fields[1].value;
    throttle_key_of(email, api_client_ip(r, ip, sizeof ip) != NULL ? ip : "", key);
    wait = throttle_wait(key);
    if (wait > 0) {
        too_many(r, wait);
        goto out;
    }
    m = lg_router_acquire_master(r->server->router, r->server->db_wait_ms, err, sizeof err);
    if (m == NULL) {
        unavailable(r, "master", err);
        goto out;
    }
    admin = lg_db_query(m,
                        "SELECT id, email, password_hash, role, is_active FROM system_admins"
                        " WHERE lower(email) = lower($1)",
                        1, (const char *[]){email}, err, sizeof err);
    if (admin == NULL) {
        broken = 1;
        unavailable(r, "master", err);
        goto out;
    }
    ok = password_matches(PQntuples(admin) == 1 ? PQgetvalue(admin, 0, 2) : NULL, password);
    who = PQntuples(admin) == 1 ? PQgetvalue(admin, 0, 1)
                                : (strchr(email, '@') != NULL ? email : "(unknown)");
    if (!ok || strcmp(PQgetvalue(admin, 0, 4), "t") != 0) {
        const char *reason = PQntuples(admin) == 0 ? "unknown-admin"
                             : !ok                 ? "wrong-password"
                                                   : "admin-not-active";
        if (system_audit(m, r, "SYSTEM_ADMIN_LOGIN_FAILED", who,
                         PQntuples(admin) == 1 ? PQgetvalue(admin, 0, 0) : NULL, reason, err,
                         sizeof err) != 0)
            lg_log_error("login: writing the audit log: %s", err);
        wait = throttle_fail(key);
        if (wait > 0)
            too_many(r, wait);
        else
            invalid_credentials(r);
        goto out;
    }
    maybe_rehash(PQgetvalue(admin, 0, 2), password, new_hash);
    if (lg_db_exec(m, "BEGIN", err, sizeof err) != 0 ||
        (upd = lg_db_query(m,
                           "UPDATE system_admins SET last_login_at = now(),"
                           " password_hash = CASE WHEN $2::text IS NOT NULL"
                           "   AND password_hash = $3 THEN $2::text ELSE password_hash END"
                           " WHERE id = $1 AND is_active RETURNING id",
                           3,
                           (const char *[]){PQgetvalue(admin, 0, 0), new_hash[0] ? new_hash : NULL,
                                            PQgetvalue(admin, 0, 2)},
                           err, sizeof err)) == NULL ||
        PQntuples(upd) != 1 ||
        system_audit(m, r, "SYSTEM_ADMIN_LOGIN", who, PQgetvalue(admin, 0, 0), NULL, err,
                     sizeof err) != 0 ||
        lg_db_exec(m, "COMMIT", err, sizeof err) != 0) {
        char ignored[256];
        lg_db_exec(m, "ROLLBACK", ignored, sizeof ignored);
        broken = 1;
        unavailable(r, "master", err);
        goto out;
    }
    throttle_clear(key);
    claims = json_pack("{s:s, s:b, s:s}", "sub", PQgetvalue(admin, 0, 0), "sys", 1, "role",
                       PQgetvalue(admin, 0, 3));
    answer_token(r, claims);
    json_decref(claims);
out:
    sodium_memzero(new_hash, sizeof new_hash);
    PQclear(upd);
    PQclear(admin);
    if (m != NULL)
        lg_router_release_master(r->server->router, m, broken);
    json_decref(body);
}

/* ------------------------------------------------------------------ who am I */

/* GET /v1/auth/me and /v1/system/auth/me */
static void get_me(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const kinds[] = {"API_KEY", "USER", "SYSTEM_ADMIN"};
    json_t *o;
    (void)params;
    o = json_pack("{s:s, s:s, s:s?, s:s}", "kind", kinds[caller->kind], "userId", caller->user_id,
                  "email", caller->email[0] != '\0' ? caller->email : NULL, "role", caller->role);
    json_object_set_new(o, "apiKeyId",
                        caller->key_id[0] != '\0' ? json_string(caller->key_id) : json_null());
    json_object_set_new(o, "tenant",
                        caller->kind == API_CALLER_SYSTEM_TOKEN
                            ? json_null()
                            : json_pack("{s:s, s:s, s:s}", "id", caller->tenant.id, "slug",
                                        caller->tenant.slug, "name", caller->tenant.name));
    api_respond_json(r, 200, o);
}

const api_route_def api_routes_auth[] = {
    {"POST", "/v1/auth/login", 0, post_login},
    {"GET", "/v1/auth/me", API_ROLES_TENANT, get_me},
    {"POST", "/v1/system/auth/login", 0, post_system_login},
    {"GET", "/v1/system/auth/me", API_ROLES_SYSTEM, get_me},
    {NULL, NULL, 0, NULL},
};
