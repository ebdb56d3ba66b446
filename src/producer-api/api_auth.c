/*
 * Authentication of producer-api callers. An API key ("Authorization: Bearer lk_...") is hashed
 * (BLAKE2b) and looked up in the master database; hits are cached for a short time so the hot
 * path does not touch PostgreSQL. The key names its tenant; an X-Tenant header, when present, must
 * name the same tenant, and the tenant must be ACTIVE.
 */
#include "api.h"

#include "lg_db.h"
#include "lg_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_CACHE_TTL_S 30
#define KEY_CACHE_SLOTS 1024

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
    if (m == NULL) {
        lg_log_error("authenticating: %s", err);
        return lg_problem_set(p, 503, "/problems/unavailable", "Service unavailable", NULL,
                              "credentials cannot be checked right now; retry later");
    }
    res = lg_db_query(m,
                      "SELECT id, tenant_id, user_id, role FROM api_keys "
                      "WHERE key_hash = $1 AND revoked_at IS NULL",
                      1, (const char *[]){hash}, err, sizeof err);
    if (res == NULL) {
        lg_router_release_master(s->router, m, 1);
        lg_log_error("authenticating: %s", err);
        return lg_problem_set(p, 503, "/problems/unavailable", "Service unavailable", NULL,
                              "credentials cannot be checked right now; retry later");
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

int api_authenticate(api_request *r, api_caller *caller, lg_problem *p)
{
    const char *auth = api_header(r, "Authorization");
    const char *x_tenant = api_header(r, "X-Tenant");
    char hash[LG_HASH_HEXLEN], err[512];
    key_entry key;
    int found;

    memset(caller, 0, sizeof *caller);
    if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0 || strlen(auth + 7) == 0 ||
        strlen(auth + 7) > 256)
        return lg_problem_set(p, 401, "/problems/unauthenticated", "Authentication required",
                              NULL, "send an API key as \"Authorization: Bearer <key>\"");
    lg_hash_hex(auth + 7, strlen(auth + 7), hash);
    found = key_lookup(r->server, hash, &key, p);
    if (found < 0)
        return -1;
    if (found == 0)
        return lg_problem_set(p, 401, "/problems/unauthenticated", "Authentication required",
                              NULL, "the credential is not valid");
    found = lg_router_lookup(r->server->router, key.tenant_id, NULL, &caller->tenant, err,
                             sizeof err);
    if (found < 0) {
        lg_log_error("resolving tenant: %s", err);
        return lg_problem_set(p, 503, "/problems/unavailable", "Service unavailable", NULL,
                              "the tenant cannot be resolved right now; retry later");
    }
    if (found == 0 || caller->tenant.status == LG_TENANT_INACTIVE)
        return lg_problem_set(p, 401, "/problems/unauthenticated", "Authentication required",
                              NULL, "the credential is not valid");
    if (x_tenant != NULL && strcmp(x_tenant, caller->tenant.slug) != 0)
        return lg_problem_set(p, 403, "/problems/tenant-mismatch", "Wrong tenant", NULL,
                              "the credential does not belong to the tenant named by X-Tenant");
    if (caller->tenant.status != LG_TENANT_ACTIVE)
        return lg_problem_set(p, 403, "/problems/tenant-suspended", "Tenant not active", NULL,
                              "the tenant is %s; its API is closed",
                              caller->tenant.status == LG_TENANT_SUSPENDED ? "suspended"
                                                                           : "not yet active");
    caller->kind = API_CALLER_API_KEY;
    snprintf(caller->user_id, sizeof caller->user_id, "%s", key.user_id);
    snprintf(caller->role, sizeof caller->role, "%s", key.role);
    caller->role_bit = api_role_bit(key.role, 0);
    snprintf(caller->key_id, sizeof caller->key_id, "%s", key.key_id);
    return 0;
}
