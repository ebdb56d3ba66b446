/*
 * Authentication of producer-api callers, from "Authorization: Bearer <credential>":
 *   - an API key ("lk_..."): hashed (BLAKE2b) and looked up in the master database;
 *   - a token (a JWT, see lg_jwt.h): verified, then the user it names is checked in the
 *     tenant's database (or the system admin in the master): still active, and its current role.
 * Lookups are cached for a short time so the hot path does not touch PostgreSQL: a revoked key,
 * or a deactivated, locked or deleted user, stops working within 10 seconds everywhere, and at
 * once in the process that revoked the key.
 *
 * Tenant resolution. The credential names its tenant. The request may name one too: by the first
 * label of its Host ("abc.bank.example" names the tenant whose subdomain, or failing that whose
 * slug, is "abc"; an IP address, a single label such as "localhost", or a label that is no
 * tenant's names none) and by X-Tenant (a slug). Whatever the request names must be the
 * credential's tenant (403 /problems/tenant-mismatch), and the tenant must be ACTIVE. A system
 * admin's token has no tenant and opens only routes that allow system roles.
 */
#include "api.h"
#include "api_ratelimit.h"
#include "api_route_match.h"

#include "lg_db.h"
#include "lg_jwt.h"
#include "lg_log.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_CACHE_TTL_S 10
#define KEY_CACHE_SLOTS 1024

static int unavailable(lg_problem *p, const char *what, const char *err)
{
    lg_log_error("%s: %s", what, err);
    return lg_problem_set(p, 503, "/problems/unavailable", "Service unavailable", NULL,
                          "credentials cannot be checked right now; retry later");
}

static int not_valid(lg_problem *p)
{
    return lg_problem_set(p, 401, "/problems/unauthenticated", "Authentication required", NULL,
                          "the credential is not valid");
}

typedef struct {
    char hash[LG_HASH_HEXLEN];
    char tenant_id[LG_UUID_STRLEN];
    char user_id[LG_UUID_STRLEN];
    char key_id[LG_UUID_STRLEN];
    char role[16];
    time_t loaded_at;
} key_entry;

static key_entry key_cache[KEY_CACHE_SLOTS];
static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(const char *hash)
{
    return (size_t)strtoul((char[9]){hash[0], hash[1], hash[2], hash[3], hash[4], hash[5],
                                     hash[6], hash[7], 0},
                           NULL, 16) %
           KEY_CACHE_SLOTS;
}

void api_auth_forget_key(const char *key_hash)
{
    size_t slot = slot_of(key_hash);
    pthread_mutex_lock(&key_cache_lock);
    if (strcmp(key_cache[slot].hash, key_hash) == 0)
        memset(&key_cache[slot], 0, sizeof key_cache[slot]);
    pthread_mutex_unlock(&key_cache_lock);
}

/*
 * Finds a live key by hash. Loading it (at most every KEY_CACHE_TTL_S per key and process) also
 * stamps last_used_at, at most once a minute: the statement writes only when the stamp is older,
 * so a busy key costs one write a minute however many processes use it. Returns 1 with *out,
 * 0 when there is no live key with this hash, -1 with *p.
 */
static int key_lookup(api_server *s, const char *hash, key_entry *out, lg_problem *p)
{
    char err[512];
    size_t slot = slot_of(hash);
    PGconn *m;
    PGresult *res;
    int found;

    pthread_mutex_lock(&key_cache_lock);
    if (strcmp(key_cache[slot].hash, hash) == 0 &&
        time(NULL) - key_cache[slot].loaded_at <= KEY_CACHE_TTL_S) {
        *out = key_cache[slot];
        pthread_mutex_unlock(&key_cache_lock);
        return 1;
    }
    pthread_mutex_unlock(&key_cache_lock);

    m = lg_router_acquire_master(s->router, s->db_wait_ms, err, sizeof err);
    if (m == NULL)
        return unavailable(p, "authenticating", err);
    res = lg_db_query(m,
                      "WITH k AS (SELECT id, tenant_id, user_id, role, last_used_at FROM api_keys"
                      " WHERE key_hash = $1 AND revoked_at IS NULL),"
                      " stamp AS (UPDATE api_keys a SET last_used_at = now() FROM k"
                      " WHERE a.id = k.id AND (k.last_used_at IS NULL"
                      " OR k.last_used_at < now() - interval '1 minute'))"
                      " SELECT id, tenant_id, user_id, role FROM k",
                      1, (const char *[]){hash}, err, sizeof err);
    if (res == NULL) {
        lg_router_release_master(s->router, m, 1);
        return unavailable(p, "authenticating", err);
    }
    found = PQntuples(res) == 1;
    if (found) {
        memset(out, 0, sizeof *out);
        snprintf(out->hash, sizeof out->hash, "%s", hash);
        snprintf(out->key_id, sizeof out->key_id, "%s", PQgetvalue(res, 0, 0));
        snprintf(out->tenant_id, sizeof out->tenant_id, "%s", PQgetvalue(res, 0, 1));
        snprintf(out->user_id, sizeof out->user_id, "%s", PQgetvalue(res, 0, 2));
        snprintf(out->role, sizeof out->role, "%s", PQgetvalue(res, 0, 3));
        out->loaded_at = time(NULL);
        pthread_mutex_lock(&key_cache_lock);
        key_cache[slot] = *out;
        pthread_mutex_unlock(&key_cache_lock);
    }
    PQclear(res);
    lg_router_release_master(s->router, m, 0);
    return found;
}

/* A user named by a token, as the database has it now (cached briefly): a deactivated, locked
 * or deleted user's tokens stop working within USER_CACHE_TTL_S, and a changed role applies. */
#define USER_CACHE_TTL_S 10
#define USER_CACHE_SLOTS 1024

typedef struct {
    char tenant_id[LG_UUID_STRLEN];
    char user_id[LG_UUID_STRLEN];
    char email[256];
    char role[16];
    int usable;
    time_t loaded_at;
} user_entry;

static user_entry user_cache[USER_CACHE_SLOTS];
static pthread_mutex_t user_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int user_lookup(api_server *s, const char *tenant_id, const char *user_id, int system,
                       user_entry *out, lg_problem *p)
{
    char err[512];
    size_t slot = slot_of(user_id + 24) ^ (system ? 1 : 0);
    PGconn *db;
    PGresult *res;

    slot %= USER_CACHE_SLOTS;
    pthread_mutex_lock(&user_cache_lock);
    if (strcmp(user_cache[slot].user_id, user_id) == 0 &&
        strcmp(user_cache[slot].tenant_id, tenant_id) == 0 &&
        time(NULL) - user_cache[slot].loaded_at <= USER_CACHE_TTL_S) {
        *out = user_cache[slot];
        pthread_mutex_unlock(&user_cache_lock);
        return 0;
    }
    pthread_mutex_unlock(&user_cache_lock);
    db = system ? lg_router_acquire_master(s->router, s->db_wait_ms, err, sizeof err)
                : lg_router_acquire(s->router, tenant_id, s->db_wait_ms, err, sizeof err);
    if (db == NULL)
        return unavailable(p, "authenticating", err);
    res = lg_db_query(db,
                      system ? "SELECT email, role, is_active FROM system_admins WHERE id = $1"
                             : "SELECT email, role, status = 'ACTIVE' AND deleted_at IS NULL"
                               " AND (locked_until IS NULL OR locked_until < now())"
                               " FROM users WHERE id = $1",
                      1, (const char *[]){user_id}, err, sizeof err);
    if (system)
        lg_router_release_master(s->router, db, res == NULL);
    else
        lg_router_release(s->router, tenant_id, db, res == NULL);
    if (res == NULL)
        return unavailable(p, "authenticating", err);
    memset(out, 0, sizeof *out);
    snprintf(out->tenant_id, sizeof out->tenant_id, "%s", tenant_id);
    snprintf(out->user_id, sizeof out->user_id, "%s", user_id);
    if (PQntuples(res) == 1) {
        snprintf(out->email, sizeof out->email, "%s", PQgetvalue(res, 0, 0));
        snprintf(out->role, sizeof out->role, "%s", PQgetvalue(res, 0, 1));
        out->usable = PQgetvalue(res, 0, 2)[0] == 't';
    }
    out->loaded_at = time(NULL);
    PQclear(res);
    pthread_mutex_lock(&user_cache_lock);
    user_cache[slot] = *out;
    pthread_mutex_unlock(&user_cache_lock);
    return 0;
}

/* A bearer token (JWT) into a caller: the tenant user or system admin it names. Fills
 * tenant_id for a tenant user. Returns 0, or -1 with *p. */
static int token_caller(api_request *r, const char *token, api_caller *caller, char *tenant_id,
                        lg_problem *p)
{
    char err[256];
    json_t *claims = lg_jwt_verify(r->server->keyring, token, (int64_t)time(NULL), err,
                                   sizeof err);
    const char *sub, *tid;
    int system;
    user_entry u;

    if (claims == NULL) {
        lg_log_kv(LG_LOG_INFO, (const char *[]){"request_id", r->request_id, NULL},
                  "bearer token refused: %s", err);
        return not_valid(p);
    }
    sub = json_string_value(json_object_get(claims, "sub"));
    tid = json_string_value(json_object_get(claims, "tid"));
    system = json_is_true(json_object_get(claims, "sys"));
    if (!lg_uuid_valid(sub) || (!system && !lg_uuid_valid(tid)) || (system && tid != NULL)) {
        json_decref(claims);
        return not_valid(p);
    }
    snprintf(tenant_id, LG_UUID_STRLEN, "%s", system ? "" : tid);
    if (user_lookup(r->server, system ? "" : tid, sub, system, &u, p) != 0) {
        json_decref(claims);
        return -1;
    }
    json_decref(claims);
    if (!u.usable)
        return not_valid(p);
    caller->kind = system ? API_CALLER_SYSTEM_TOKEN : API_CALLER_USER_TOKEN;
    snprintf(caller->user_id, sizeof caller->user_id, "%s", u.user_id);
    snprintf(caller->email, sizeof caller->email, "%s", u.email);
    snprintf(caller->role, sizeof caller->role, "%s", u.role);
    caller->role_bit = api_role_bit(u.role, system);
    return 0;
}

/* ------------------------------------------------------------------ tenant of the request */

/* Which tenant a Host label names, cached (also when it names none, so that requests to
 * "api.bank.example" do not read the master each time). */
#define HOST_CACHE_TTL_S 10
#define HOST_CACHE_SLOTS 256

typedef struct {
    char label[64];
    char tenant_id[LG_UUID_STRLEN]; /* "" when the label names no tenant */
    time_t loaded_at;
} host_entry;

static host_entry host_cache[HOST_CACHE_SLOTS];
static pthread_mutex_t host_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* The first label of a Host header, lower case (api_route_match.c). */
static int host_label(const char *host, char label[64])
{
    return api_host_label(host, label);
}

/* The id of the tenant the request's Host names into id. Returns 1, 0 when it names none, or -1
 * with *p. */
static int host_tenant_id(api_request *r, char id[LG_UUID_STRLEN], lg_problem *p)
{
    char label[64], hash[LG_HASH_HEXLEN], err[512];
    size_t slot;
    PGconn *m;
    PGresult *res;
    host_entry e;

    if (!host_label(api_header(r, "Host"), label))
        return 0;
    lg_hash_hex(label, strlen(label), hash);
    slot = slot_of(hash) % HOST_CACHE_SLOTS;
    pthread_mutex_lock(&host_cache_lock);
    if (strcmp(host_cache[slot].label, label) == 0 &&
        time(NULL) - host_cache[slot].loaded_at <= HOST_CACHE_TTL_S) {
        e = host_cache[slot];
        pthread_mutex_unlock(&host_cache_lock);
        snprintf(id, LG_UUID_STRLEN, "%s", e.tenant_id);
        return id[0] != '\0';
    }
    pthread_mutex_unlock(&host_cache_lock);

    m = lg_router_acquire_master(r->server->router, r->server->db_wait_ms, err, sizeof err);
    if (m == NULL)
        return unavailable(p, "resolving a Host", err);
    /* A subdomain wins over a slug. */
    res = lg_db_query(m,
                      "SELECT id FROM tenants WHERE subdomain = $1 OR slug = $1"
                      " ORDER BY (subdomain IS NOT DISTINCT FROM $1) DESC LIMIT 1",
                      1, (const char *[]){label}, err, sizeof err);
    lg_router_release_master(r->server->router, m, res == NULL);
    if (res == NULL)
        return unavailable(p, "resolving a Host", err);
    memset(&e, 0, sizeof e);
    snprintf(e.label, sizeof e.label, "%s", label);
    if (PQntuples(res) == 1)
        snprintf(e.tenant_id, sizeof e.tenant_id, "%s", PQgetvalue(res, 0, 0));
    e.loaded_at = time(NULL);
    PQclear(res);
    pthread_mutex_lock(&host_cache_lock);
    host_cache[slot] = e;
    pthread_mutex_unlock(&host_cache_lock);
    snprintf(id, LG_UUID_STRLEN, "%s", e.tenant_id);
    return id[0] != '\0';
}

static int mismatch(lg_problem *p, const char *what)
{
    return lg_problem_set(p, 403, "/problems/tenant-mismatch", "Wrong tenant", NULL,
                          "%s names another tenant than the credential's", what);
}

int api_request_tenant(api_request *r, lg_tenant *out, lg_problem *p)
{
    const char *x_tenant = api_header(r, "X-Tenant");
    char host_id[LG_UUID_STRLEN], err[512];
    int by_host, found;

    by_host = host_tenant_id(r, host_id, p);
    if (by_host < 0)
        return -1;
    if (x_tenant != NULL) {
        found = strlen(x_tenant) < sizeof out->slug
                    ? lg_router_lookup(r->server->router, NULL, x_tenant, out, err, sizeof err)
                    : 0;
        if (found < 0)
            return unavailable(p, "resolving X-Tenant", err);
        if (found == 0)
            return API_TENANT_UNKNOWN;
        if (by_host && strcmp(host_id, out->id) != 0)
            return lg_problem_set(p, 403, "/problems/tenant-mismatch", "Wrong tenant", NULL,
                                  "the Host and X-Tenant name different tenants");
        return API_TENANT_FOUND;
    }
    if (!by_host)
        return API_TENANT_NONE;
    found = lg_router_lookup(r->server->router, host_id, NULL, out, err, sizeof err);
    if (found < 0)
        return unavailable(p, "resolving a Host", err);
    return found ? API_TENANT_FOUND : API_TENANT_NONE;
}

/* ------------------------------------------------------------------ authenticate */

/* The caller's token bucket (api_ratelimit.h), keyed by the credential's id. Returns 0, or -1
 * with *p (429 /problems/rate-limited) and r->retry_after set. */
static int rate_limited(api_request *r, const api_caller *caller, lg_problem *p)
{
    char key[64];
    struct timespec now;
    int wait;
    if (r->server->ratelimit == NULL)
        return 0;
    if (caller->kind == API_CALLER_API_KEY)
        snprintf(key, sizeof key, "k:%s", caller->key_id);
    else
        snprintf(key, sizeof key, "%c:%s", caller->kind == API_CALLER_USER_TOKEN ? 'u' : 's',
                 caller->user_id);
    clock_gettime(CLOCK_MONOTONIC, &now);
    wait = api_ratelimit_take(r->server->ratelimit, key,
                              (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec);
    if (wait == 0)
        return 0;
    r->retry_after = wait;
    return lg_problem_set(p, 429, "/problems/rate-limited", "Too many requests", NULL,
                          "this credential sent more requests than it may; retry in %d s", wait);
}

int api_authenticate(api_request *r, api_caller *caller, lg_problem *p)
{
    const char *auth = api_header(r, "Authorization");
    const char *x_tenant = api_header(r, "X-Tenant");
    const char *credential;
    char hash[LG_HASH_HEXLEN], err[512], tenant_id[LG_UUID_STRLEN], host_id[LG_UUID_STRLEN];
    key_entry key;
    int found, bearer;

    memset(caller, 0, sizeof *caller);
    bearer = api_bearer_parse(auth, LG_JWT_MAX, &credential);
    if (bearer == API_BEARER_NONE)
        return lg_problem_set(p, 401, "/problems/unauthenticated", "Authentication required",
                              NULL,
                              "send an API key or a token as \"Authorization: Bearer <...>\"");
    if (bearer == API_BEARER_API_KEY) {
        lg_hash_hex(credential, strlen(credential), hash);
        found = key_lookup(r->server, hash, &key, p);
        if (found < 0)
            return -1;
        if (found == 0)
            return not_valid(p);
        caller->kind = API_CALLER_API_KEY;
        snprintf(caller->user_id, sizeof caller->user_id, "%s", key.user_id);
        snprintf(caller->role, sizeof caller->role, "%s", key.role);
        caller->role_bit = api_role_bit(key.role, 0);
        snprintf(caller->key_id, sizeof caller->key_id, "%s", key.key_id);
        snprintf(tenant_id, sizeof tenant_id, "%s", key.tenant_id);
    } else if (token_caller(r, credential, caller, tenant_id, p) != 0) {
        return -1;
    }
    if (caller->kind == API_CALLER_SYSTEM_TOKEN) {
        /* The system plane has no tenant, and a bank's routes are not the system plane's. */
        if ((api_route_roles(r) & API_ROLES_SYSTEM) == 0)
            return lg_problem_set(p, 403, "/problems/forbidden", "Forbidden", NULL,
                                  "a system administrator's token does not open a bank's API");
        return rate_limited(r, caller, p);
    }

    found = lg_router_lookup(r->server->router, tenant_id, NULL, &caller->tenant, err,
                             sizeof err);
    if (found < 0) {
        lg_log_error("resolving tenant: %s", err);
        return lg_problem_set(p, 503, "/problems/unavailable", "Service unavailable", NULL,
                              "the tenant cannot be resolved right now; retry later");
    }
    if (found == 0 || caller->tenant.status == LG_TENANT_INACTIVE)
        return not_valid(p);
    if (x_tenant != NULL && strcmp(x_tenant, caller->tenant.slug) != 0)
        return mismatch(p, "X-Tenant");
    found = host_tenant_id(r, host_id, p);
    if (found < 0)
        return -1;
    if (found == 1 && strcmp(host_id, caller->tenant.id) != 0)
        return mismatch(p, "the Host");
    if (caller->tenant.status != LG_TENANT_ACTIVE)
        return lg_problem_set(p, 403, "/problems/tenant-suspended", "Tenant not active", NULL,
                              "the tenant is %s; its API is closed",
                              caller->tenant.status == LG_TENANT_SUSPENDED ? "suspended"
                                                                           : "not yet active");
    snprintf(r->tenant, sizeof r->tenant, "%s", caller->tenant.slug); /* for the request log */
    return rate_limited(r, caller, p);
}
