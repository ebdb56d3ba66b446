/*
 * Tenant routing: the master database says where each tenant's database lives (host, port, name,
 * role, and the role's password sealed under the master key). The router caches what it read for
 * a few seconds and keeps a small pool of connections per tenant, created on first use, so that
 * tenants may sit on different PostgreSQL servers. Thread-safe.
 */
#ifndef LG_TENANT_H
#define LG_TENANT_H

#include "lg_crypto.h"

#include <libpq-fe.h>
#include <stddef.h>

typedef enum {
    LG_TENANT_PENDING = 0,
    LG_TENANT_ACTIVE,
    LG_TENANT_SUSPENDED,
    LG_TENANT_INACTIVE
} lg_tenant_status;

typedef struct {
    char id[LG_UUID_STRLEN];
    char slug[64];
    char subdomain[64];
    char name[256];
    lg_tenant_status status;
    int max_users;
    int max_accounts;
    char db_host[256];
    char db_port[8];
    char db_name[64];
    char db_user[64];
    /* TLS to the database: libpq sslmode and sslrootcert; "" takes the process-wide default
     * (LEDGER_PG_SSLMODE, LEDGER_PG_SSLROOTCERT), then libpq's own (PGSSLMODE..., prefer). */
    char db_sslmode[16];
    char db_sslrootcert[256];
} lg_tenant;

typedef struct lg_router lg_router;

/* Creates a router over the master database. max_per_tenant bounds each tenant's pool.
 * Returns NULL with err. */
lg_router *lg_router_new(const char *master_dsn, const lg_keyring *kr, int max_per_tenant,
                         char *err, size_t err_size);
void lg_router_free(lg_router *r);

/* Names the key file the router's keyring came from. When a tenant's password is sealed under a
 * key the keyring lacks (`ledgerctl keys rotate` ran after start-up), the router re-reads the
 * file - only when it changed since it was read, and adopts it only if it still starts with the
 * same first key - so running processes adopt new keys without a restart. Returns 0 or -1 with err. */
int lg_router_set_key_file(lg_router *r, const char *path, char *err, size_t err_size);

/* The keyring in use, after re-reading the key file if it changed (see above): what seals a new
 * tenant's password under the active key. Valid until lg_router_free. */
const lg_keyring *lg_router_keyring(lg_router *r);

/* Called on every new tenant-database connection before first use (e.g. to prepare
 * statements); a non-zero return closes the connection and fails the acquire with err. */
typedef int (*lg_router_on_connect)(PGconn *conn, void *arg, char *err, size_t err_size);
void lg_router_set_on_connect(lg_router *r, lg_router_on_connect fn, void *arg);

/* Finds a tenant by id (when id is not NULL) or by slug. Returns 1 and fills out when found,
 * 0 when there is no such tenant, -1 with err when the master cannot be read. */
int lg_router_lookup(lg_router *r, const char *id, const char *slug, lg_tenant *out, char *err,
                     size_t err_size);

/* Forgets cached tenant rows (after a change of status, say). */
void lg_router_invalidate(lg_router *r);

/* A connection to the tenant's database, from its pool or new; waits up to wait_ms when the pool
 * is exhausted. Returns NULL with err. Give it back with lg_router_release. */
PGconn *lg_router_acquire(lg_router *r, const char *tenant_id, int wait_ms, char *err,
                          size_t err_size);
/* Returns a connection; broken != 0 (or a connection not idle) closes it instead of pooling. */
void lg_router_release(lg_router *r, const char *tenant_id, PGconn *conn, int broken);

/* Bounds the tenant pools together (max_total connections over all tenants; the master
 * database's pool is not counted) and sets how long a pooled connection may sit idle before a
 * background sweep closes it (0: never); a tenant pool left with no connection is dropped. When
 * the total is reached, an acquire closes the oldest idle connection of another tenant to make
 * room, or else waits like one on a full tenant pool. Defaults: 100 and 300 s. Returns 0 or -1
 * with err. */
int lg_router_set_pool_limits(lg_router *r, int max_total, int idle_timeout_s, char *err,
                              size_t err_size);

/* Runs the idle sweep now (the router runs it by itself every idle_timeout_s / 4, 1 to 30 s).
 * Returns how many connections it closed. */
int lg_router_sweep(lg_router *r);

/* Calls fn for every tenant pool (the master's excluded) with its connections lent out and
 * idle. fn runs outside the router's lock. For metrics. */
typedef void (*lg_router_pool_fn)(const char *tenant_id, int in_use, int idle, void *arg);
void lg_router_pool_stats(lg_router *r, lg_router_pool_fn fn, void *arg); /* master excluded */
/* Sums over the tenant pools (master excluded): connections lent out and idle. Returns the
 * total bound (see lg_router_set_pool_limits). in_use and idle may be NULL. */
int lg_router_pool_total(lg_router *r, int *in_use, int *idle);

/* The same for the master database. */
PGconn *lg_router_acquire_master(lg_router *r, int wait_ms, char *err, size_t err_size);
void lg_router_release_master(lg_router *r, PGconn *conn, int broken);

/* 1 when mode is one of libpq's sslmode values (disable, allow, prefer, require, verify-ca,
 * verify-full), else 0. */
int lg_tenant_sslmode_valid(const char *mode);

/* Parses a TenantStatus name; -1 when unknown. */
int lg_tenant_status_from_name(const char *name);
const char *lg_tenant_status_name(lg_tenant_status s);

/* Connects to a tenant's database with its own credentials (opens the sealed password), with
 * the tenant's TLS settings (see lg_tenant). Used by the router and by ledgerctl. Returns NULL
 * with err. */
PGconn *lg_tenant_connect(const lg_keyring *kr, const lg_tenant *t, const char *sealed_password,
                          const char *key_id, char *err, size_t err_size);

#endif
