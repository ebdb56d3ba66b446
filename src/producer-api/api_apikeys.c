/*
 * API keys over REST, for a bank's SUPER_ADMIN:
 *   POST   /v1/api-keys        {"name", "role"} -> the key, shown this once
 *   GET    /v1/api-keys        the bank's keys, newest first, without secrets
 *   DELETE /v1/api-keys/{id}   revoke
 *
 * A key is "lk_" and 43 base64url characters (256 random bits); only its BLAKE2b hash is stored,
 * beside its first 10 characters (the prefix, to tell keys apart). Like `ledgerctl apikey
 * create`, each key acts as a user of its own (e-mail apikey.<key id>@<slug>.internal, no
 * password, the key's role), so that what it does is recorded under its name.
 *
 * The key lives in the master database and its user and audit rows in the bank's database: the
 * tenant transaction stays open while the master row is written and commits after it, so a
 * failure before the end leaves neither (a master row whose tenant commit then fails is deleted
 * again). A revocation applies at once in this process and within 10 seconds in the others
 * (api_auth.c's cache); the key's user is made INACTIVE with it.
 */
#include "api.h"
#include "api_body.h"

#include "lg_cursor.h"
#include "lg_db.h"
#include "lg_log.h"
#include "lg_time.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 64
#define PAGE_DEFAULT 50
#define PAGE_MAX     200
#define CURSOR_KIND  'K'

/* The SQL below is laid out by hand. */
/* clang-format off */
#define ISO_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
/* One key as the API shows it, then its page key. */
#define KEY_COLUMNS                                                                                \
    "id, name, key_prefix, role, " ISO_UTC("created_at") ", " ISO_UTC("last_used_at") ", "         \
    ISO_UTC("revoked_at") ", (extract(epoch FROM created_at) * 1000000)::bigint"
#define KEY_COL_CREATED_US 7
/* clang-format on */

static void problem(api_request *r, int status, const char *type, const char *title,
                    const char *field, const char *detail)
{
    lg_problem p;
    lg_problem_set(&p, status, type, title, field, "%s", detail);
    api_respond_problem(r, &p);
}

static void unavailable(api_request *r, const api_caller *caller, const char *what, const char *err)
{
    lg_log_error("tenant %s: %s: %s", caller->tenant.slug, what, err);
    r->retry_after = 1;
    problem(r, 503, "/problems/unavailable", "Service unavailable", NULL,
            "the API keys cannot be reached right now; nothing was changed; retry later");
}

static json_t *text_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

/* A row of KEY_COLUMNS as the API shows a key (never its hash). Returns a new reference. */
static json_t *key_json(const PGresult *res, int row)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", text_or_null(res, row, 0));
    json_object_set_new(o, "name", text_or_null(res, row, 1));
    json_object_set_new(o, "prefix", text_or_null(res, row, 2));
    json_object_set_new(o, "role", text_or_null(res, row, 3));
    json_object_set_new(o, "createdAt", text_or_null(res, row, 4));
    json_object_set_new(o, "lastUsedAt", text_or_null(res, row, 5));
    json_object_set_new(o, "revokedAt", text_or_null(res, row, 6));
    return o;
}

static int name_ok(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++)
        if (*c < 0x20 || *c == 0x7f)
            return 0;
    return 1;
}

/* POST /v1/api-keys */
static void post_key(api_request *r, const api_caller *caller, const char *const *params)
{
    api_body_field fields[] = {
        {"name", 1, NAME_MAX_LEN, NULL}, {"role", 1, 16, NULL}, {NULL, 0, 0, NULL}};
    char key[LG_APIKEY_STRLEN], hash[LG_HASH_HEXLEN], prefix[12], key_id[LG_UUID_STRLEN];
    char email[160], err[512], ignored[256];
    const char *name, *role;
    PGconn *db = NULL, *m = NULL;
    PGresult *user = NULL, *row = NULL;
    json_t *body, *changes = NULL, *o;
    lg_problem p;
    int ok = 0;
    (void)params;

    body = api_body_strings(r, fields, &p);
    if (body == NULL) {
        api_respond_problem(r, &p);
        return;
    }
    name = fields[0].value;
    role = fields[1].value;
    if (!name_ok(name)) {
        problem(r, 422, "/problems/invalid-field", "Invalid field", "name",
                "name must be 1 to 64 bytes without control characters");
        goto out;
    }
    if (strcmp(role, "TELLER") != 0 && strcmp(role, "MANAGER") != 0 &&
        strcmp(role, "SUPER_ADMIN") != 0) {
        problem(r, 422, "/problems/invalid-field", "Invalid field", "role",
                "role must be TELLER, MANAGER or SUPER_ADMIN (a key acts for the bank's staff)");
        goto out;
    }
    lg_uuid_random(key_id);
    lg_apikey_generate(key);
    lg_hash_hex(key, strlen(key), hash);
    snprintf(prefix, sizeof prefix, "%.10s", key);
    snprintf(email, sizeof email, "apikey.%s@%s.internal", key_id, caller->tenant.slug);

    db = lg_router_acquire(r->server->router, caller->tenant.id, r->server->db_wait_ms, err,
                           sizeof err);
    if (db == NULL) {
        unavailable(r, caller, "api key", err);
        goto out;
    }
    m = lg_router_acquire_master(r->server->router, r->server->db_wait_ms, err, sizeof err);
    if (m == NULL) {
        unavailable(r, caller, "api key", err);
        goto out;
    }
    changes = json_pack("{s:{s:n, s:s}, s:{s:n, s:s}, s:{s:n, s:s}}", "name", "before", "after",
                        name, "role", "before", "after", role, "prefix", "before", "after", prefix);
    if (lg_db_exec(db, "BEGIN", err, sizeof err) != 0 ||
        (user = lg_db_query(db,
                            "INSERT INTO users (email, password_hash, first_name, last_name, role)"
                            " VALUES ($1, '!', 'API key', $2, $3::user_role) RETURNING id",
                            3, (const char *[]){email, name, role}, err, sizeof err)) == NULL ||
        api_audit(r, caller, db, "CREATE_API_KEY", "ApiKey", key_id, changes, NULL, err,
                  sizeof err) != 0 ||
        (row = lg_db_query(m,
                           "INSERT INTO api_keys (id, tenant_id, name, key_prefix, key_hash, role,"
                           " user_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING " KEY_COLUMNS,
                           7,
                           (const char *[]){key_id, caller->tenant.id, name, prefix, hash, role,
                                            PQgetvalue(user, 0, 0)},
                           err, sizeof err)) == NULL) {
        lg_db_exec(db, "ROLLBACK", ignored, sizeof ignored);
        unavailable(r, caller, "creating an api key", err);
        goto out;
    }
    if (lg_db_exec(db, "COMMIT", err, sizeof err) != 0) {
        PGresult *undo = lg_db_query(m, "DELETE FROM api_keys WHERE id = $1", 1,
                                     (const char *[]){key_id}, ignored, sizeof ignored);
        if (undo == NULL)
            lg_log_error("tenant %s: api key %s has no user; revoke it", caller->tenant.slug,
                         key_id);
        PQclear(undo);
        unavailable(r, caller, "creating an api key", err);
        goto out;
    }
    o = key_json(row, 0);
    json_object_set_new(o, "key", json_string(key));
    snprintf(r->location, sizeof r->location, "/v1/api-keys/%s", key_id);
    api_respond_json(r, 201, o);
    ok = 1;
out:
    sodium_memzero(key, sizeof key);
    if (ok)
        lg_log_kv(LG_LOG_INFO,
                  (const char *[]){"request_id", r->request_id, "tenant", caller->tenant.slug,
                                   "api_key_id", key_id, NULL},
                  "api key created");
    json_decref(changes);
    PQclear(row);
    PQclear(user);
    if (m != NULL)
        lg_router_release_master(r->server->router, m, 0);
    if (db != NULL)
        lg_router_release(r->server->router, caller->tenant.id, db, 0);
    json_decref(body);
}

/* ------------------------------------------------------------------ list */

typedef struct {
    const char *limit, *cursor;
    lg_problem *p;
    int failed;
} page_query;

static enum MHD_Result read_argument(void *cls, enum MHD_ValueKind kind, const char *key,
                                     size_t key_size, const char *value, size_t value_size)
{
    page_query *q = cls;
    const char **slot = NULL;
    (void)kind;
    if (key_size == 5 && memcmp(key, "limit", 5) == 0)
        slot = &q->limit;
    else if (key_size == 6 && memcmp(key, "cursor", 6) == 0)
        slot = &q->cursor;
    if (slot == NULL) {
        lg_problem_set(q->p, 400, "/problems/unknown-parameter", "Unknown query parameter", NULL,
                       "this list takes limit and cursor only");
    } else if (*slot != NULL || value == NULL || value_size == 0 || strlen(value) != value_size) {
        lg_problem_set(q->p, 400, "/problems/invalid-parameter", "Invalid query parameter",
                       slot == &q->limit ? "limit" : "cursor", "%s needs one value",
                       slot == &q->limit ? "limit" : "cursor");
    } else {
        *slot = value;
        return MHD_YES;
    }
    q->failed = 1;
    return MHD_NO;
}

/* GET /v1/api-keys?limit=&cursor= */
static void list_keys(api_request *r, const api_caller *caller, const char *const *params)
{
    char err[512], limit_text[16], cursor_pg[LG_TIME_PG_STRLEN], cursor_id[LG_UUID_STRLEN];
    char next[LG_CURSOR_STRLEN];
    lg_problem p;
    page_query q = {NULL, NULL, &p, 0};
    int64_t cursor_us = 0;
    long limit = PAGE_DEFAULT;
    int rows;
    PGconn *m;
    PGresult *res;
    json_t *data, *page;
    (void)params;

    MHD_get_connection_values_n(r->connection, MHD_GET_ARGUMENT_KIND, read_argument, &q);
    if (q.failed) {
        api_respond_problem(r, &p);
        return;
    }
    if (q.limit != NULL) {
        size_t n = strlen(q.limit);
        limit = n <= 3 && strspn(q.limit, "0123456789") == n ? strtol(q.limit, NULL, 10) : 0;
        if (limit < 1 || limit > PAGE_MAX) {
            problem(r, 400, "/problems/invalid-parameter", "Invalid query parameter", "limit",
                    "limit must be a whole number from 1 to 200 (default 50)");
            return;
        }
    }
    if (q.cursor != NULL &&
        (lg_cursor_decode_row(CURSOR_KIND, q.cursor, &cursor_us, cursor_id) != 0 ||
         lg_time_format_pg(cursor_us, cursor_pg, sizeof cursor_pg) == NULL)) {
        problem(r, 400, "/problems/invalid-cursor", "Invalid cursor", "cursor",
                "cursor must be a nextCursor returned by this list, unchanged");
        return;
    }
    m = lg_router_acquire_master(r->server->router, r->server->db_wait_ms, err, sizeof err);
    if (m == NULL) {
        unavailable(r, caller, "api keys", err);
        return;
    }
    snprintf(limit_text, sizeof limit_text, "%ld", limit + 1);
    res = lg_db_query(m,
                      "SELECT " KEY_COLUMNS " FROM api_keys WHERE tenant_id = $1"
                      " AND ($3::timestamptz IS NULL"
                      "   OR (created_at, id) < ($3::timestamptz, $4::uuid))"
                      " ORDER BY created_at DESC, id DESC LIMIT $2::integer",
                      4,
                      (const char *[]){caller->tenant.id, limit_text,
                                       q.cursor != NULL ? cursor_pg : NULL,
                                       q.cursor != NULL ? cursor_id : NULL},
                      err, sizeof err);
    lg_router_release_master(r->server->router, m, res == NULL);
    if (res == NULL) {
        unavailable(r, caller, "listing api keys", err);
        return;
    }
    rows = PQntuples(res);
    data = json_array();
    for (int i = 0; i < rows && i < limit; i++)
        json_array_append_new(data, key_json(res, i));
    if (rows > limit &&
        lg_cursor_encode_row(
            CURSOR_KIND, strtoll(PQgetvalue(res, (int)limit - 1, KEY_COL_CREATED_US), NULL, 10),
            PQgetvalue(res, (int)limit - 1, 0), next, sizeof next) != 0) {
        json_decref(data);
        PQclear(res);
        problem(r, 500, "/problems/internal", "Internal error", NULL,
                "the next page cannot be addressed");
        return;
    }
    page = json_object();
    json_object_set_new(page, "data", data);
    json_object_set_new(page, "nextCursor", rows > limit ? json_string(next) : json_null());
    PQclear(res);
    api_respond_json(r, 200, page);
}

/* ------------------------------------------------------------------ revoke */

/* DELETE /v1/api-keys/{id} */
static void revoke_key(api_request *r, const api_caller *caller, const char *const *params)
{
    const char *id = params[0];
    char err[512], ignored[256], hash[LG_HASH_HEXLEN] = "";
    PGconn *db = NULL, *m = NULL;
    PGresult *key = NULL, *upd = NULL, *user = NULL;
    json_t *changes = NULL, *meta = NULL;

    if (!lg_uuid_valid(id)) {
        problem(r, 404, "/problems/not-found", "Not found", NULL, "no API key with this id");
        return;
    }
    m = lg_router_acquire_master(r->server->router, r->server->db_wait_ms, err, sizeof err);
    if (m == NULL) {
        unavailable(r, caller, "api key", err);
        return;
    }
    key = lg_db_query(m,
                      "SELECT user_id, revoked_at IS NOT NULL FROM api_keys"
                      " WHERE id = $1 AND tenant_id = $2",
                      2, (const char *[]){id, caller->tenant.id}, err, sizeof err);
    if (key == NULL) {
        unavailable(r, caller, "api key", err);
        goto out;
    }
    if (PQntuples(key) == 0) {
        problem(r, 404, "/problems/not-found", "Not found", NULL, "no API key with this id");
        goto out;
    }
    if (strcmp(PQgetvalue(key, 0, 1), "t") == 0) {
        api_respond(r, 204, NULL, NULL); /* revoked already: nothing changes */
        goto out;
    }
    db = lg_router_acquire(r->server->router, caller->tenant.id, r->server->db_wait_ms, err,
                           sizeof err);
    if (db == NULL) {
        unavailable(r, caller, "api key", err);
        goto out;
    }
    if (lg_db_exec(db, "BEGIN", err, sizeof err) != 0 ||
        (user = lg_db_query(db,
                            "UPDATE users SET status = 'INACTIVE' WHERE id = $1"
                            " AND status <> 'INACTIVE' RETURNING id",
                            1, (const char *[]){PQgetvalue(key, 0, 0)}, err, sizeof err)) == NULL ||
        (upd = lg_db_query(m,
                           "UPDATE api_keys SET revoked_at = now() WHERE id = $1"
                           " AND revoked_at IS NULL RETURNING key_hash, " ISO_UTC("revoked_at"),
                           1, (const char *[]){id}, err, sizeof err)) == NULL) {
        lg_db_exec(db, "ROLLBACK", ignored, sizeof ignored);
        unavailable(r, caller, "revoking an api key", err);
        goto out;
    }
    if (PQntuples(upd) == 0) { /* revoked by a concurrent request */
        lg_db_exec(db, "ROLLBACK", ignored, sizeof ignored);
        api_respond(r, 204, NULL, NULL);
        goto out;
    }
    snprintf(hash, sizeof hash, "%s", PQgetvalue(upd, 0, 0));
    api_auth_forget_key(hash);
    changes = json_pack("{s:{s:n, s:s}}", "revokedAt", "before", "after", PQgetvalue(upd, 0, 1));
    meta = json_pack("{s:s, s:b}", "userId", PQgetvalue(key, 0, 0), "userDeactivated",
                     PQntuples(user) == 1);
    if (api_audit(r, caller, db, "REVOKE_API_KEY", "ApiKey", id, changes, meta, err, sizeof err) !=
            0 ||
        lg_db_exec(db, "COMMIT", err, sizeof err) != 0) {
        /* The key stays revoked: the safe side of a lost audit row. */
        lg_db_exec(db, "ROLLBACK", ignored, sizeof ignored);
        lg_log_error("tenant %s: api key %s revoked, but its audit row failed: %s",
                     caller->tenant.slug, id, err);
    }
    api_respond(r, 204, NULL, NULL);
out:
    sodium_memzero(hash, sizeof hash);
    json_decref(meta);
    json_decref(changes);
    PQclear(user);
    PQclear(upd);
    PQclear(key);
    if (db != NULL)
        lg_router_release(r->server->router, caller->tenant.id, db, 0);
    lg_router_release_master(r->server->router, m, 0);
}

const api_route_def api_routes_apikeys[] = {
    {"POST", "/v1/api-keys", API_ROLE_SUPER_ADMIN, post_key},
    {"GET", "/v1/api-keys", API_ROLE_SUPER_ADMIN, list_keys},
    {"DELETE", "/v1/api-keys/{}", API_ROLE_SUPER_ADMIN, revoke_key},
    {NULL, NULL, 0, NULL},
};
