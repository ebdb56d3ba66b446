#include "lg_tenant.h"

#include "lg_db.h"
#include "lg_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CACHE_TTL_S 5
#define MAX_POOLS 4096
/* Key file reloads over a process's life: each reload's keyring stays allocated until the router
 * is freed, as connections being opened may still use it. */
#define MAX_KEY_RELOADS 64

typedef struct {
    char key[LG_UUID_STRLEN]; /* tenant id, or "master" */
    PGconn **idle;
    int n_idle;
    int n_open; /* idle + lent out */
    int max;
    pthread_cond_t freed;
} pool;

typedef struct {
    lg_tenant t;
    char sealed_password[512];
    char key_id[40];
    time_t loaded_at;
} cached_tenant;

struct lg_router {
    char *master_dsn;
    /* The keyring that opens tenant passwords: the caller's, or the latest reload of key_file
     * (under lock). */
    const lg_keyring *kr;
    char *key_file;
    lg_keyring *reloaded[MAX_KEY_RELOADS];
    size_t n_reloaded;
    struct stat key_file_seen; /* the file as last read */
    int max_per_tenant;
    pthread_mutex_t lock;
    pool *pools[MAX_POOLS];
    size_t n_pools;
    cached_tenant *cache;
    size_t n_cache, cap_cache;
    lg_router_on_connect on_connect;
    void *on_connect_arg;
};

void lg_router_set_on_connect(lg_router *r, lg_router_on_connect fn, void *arg)
{
    r->on_connect = fn;
    r->on_connect_arg = arg;
}

static const char *const status_names[] = {"PENDING", "ACTIVE", "SUSPENDED", "INACTIVE"};

int lg_tenant_status_from_name(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

const char *lg_tenant_status_name(lg_tenant_status s)
{
    return status_names[s];
}

lg_router *lg_router_new(const char *master_dsn, const lg_keyring *kr, int max_per_tenant,
                         char *err, size_t err_size)
{
    lg_router *r = calloc(1, sizeof *r);
    if (r == NULL || (r->master_dsn = strdup(master_dsn)) == NULL) {
        snprintf(err, err_size, "out of memory");
        free(r);
        return NULL;
    }
    r->kr = kr;
    r->max_per_tenant = max_per_tenant > 0 ? max_per_tenant : 4;
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

void lg_router_free(lg_router *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_pools; i++) {
        for (int j = 0; j < r->pools[i]->n_idle; j++)
            PQfinish(r->pools[i]->idle[j]);
        free(r->pools[i]->idle);
        pthread_cond_destroy(&r->pools[i]->freed);
        free(r->pools[i]);
    }
    for (size_t i = 0; i < r->n_reloaded; i++)
        lg_keyring_free(r->reloaded[i]);
    free(r->key_file);
    free(r->cache);
    free(r->master_dsn);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static void copy_field(char *dst, size_t dst_size, const PGresult *res, int col)
{
    snprintf(dst, dst_size, "%s", PQgetvalue(res, 0, col));
}

#define TENANT_COLUMNS                                                                       \
    "id, slug, coalesce(subdomain, ''), name, status, max_users, max_accounts, db_host, "   \
    "db_port, db_name, db_user, db_password, db_password_key_id"

static void tenant_from_row(cached_tenant *c, const PGresult *res)
{
    lg_tenant *t = &c->t;
    memset(c, 0, sizeof *c);
    copy_field(t->id, sizeof t->id, res, 0);
    copy_field(t->slug, sizeof t->slug, res, 1);
    copy_field(t->subdomain, sizeof t->subdomain, res, 2);
    copy_field(t->name, sizeof t->name, res, 3);
    t->status = (lg_tenant_status)lg_tenant_status_from_name(PQgetvalue(res, 0, 4));
    t->max_users = (int)strtol(PQgetvalue(res, 0, 5), NULL, 10);
    t->max_accounts = (int)strtol(PQgetvalue(res, 0, 6), NULL, 10);
    copy_field(t->db_host, sizeof t->db_host, res, 7);
    copy_field(t->db_port, sizeof t->db_port, res, 8);
    copy_field(t->db_name, sizeof t->db_name, res, 9);
    copy_field(t->db_user, sizeof t->db_user, res, 10);
    copy_field(c->sealed_password, sizeof c->sealed_password, res, 11);
    copy_field(c->key_id, sizeof c->key_id, res, 12);
    c->loaded_at = time(NULL);
}

/* Called with r->lock held. */
static cached_tenant *cache_find(lg_router *r, const char *id, const char *slug)
{
    time_t now = time(NULL);
    for (size_t i = 0; i < r->n_cache; i++) {
        cached_tenant *c = &r->cache[i];
        if (now - c->loaded_at > CACHE_TTL_S)
            continue;
        if ((id != NULL && strcmp(c->t.id, id) == 0) ||
            (id == NULL && slug != NULL && strcmp(c->t.slug, slug) == 0))
            return c;
    }
    return NULL;
}

/* Called with r->lock held. */
static void cache_store(lg_router *r, const cached_tenant *c)
{
    for (size_t i = 0; i < r->n_cache; i++)
        if (strcmp(r->cache[i].t.id, c->t.id) == 0) {
            r->cache[i] = *c;
            return;
        }
    if (r->n_cache == r->cap_cache) {
        size_t cap = r->cap_cache ? r->cap_cache * 2 : 16;
        cached_tenant *n = realloc(r->cache, cap * sizeof *n);
        if (n == NULL)
            return; /* uncached is still correct */
        r->cache = n;
        r->cap_cache = cap;
    }
    r->cache[r->n_cache++] = *c;
}

static int load_tenant(lg_router *r, const char *id, const char *slug, cached_tenant *out,
                       char *err, size_t err_size)
{
    char e[512];
    PGconn *m = lg_router_acquire_master(r, 5000, err, err_size);
    PGresult *res;
    int found;
    if (m == NULL)
        return -1;
    if (id != NULL && !lg_uuid_valid(id)) {
        lg_router_release_master(r, m, 0);
        return 0;
    }
    res = lg_db_query(m,
                      id != NULL ? "SELECT " TENANT_COLUMNS " FROM tenants WHERE id = $1"
                                 : "SELECT " TENANT_COLUMNS " FROM tenants WHERE slug = $1",
                      1, (const char *[]){id != NULL ? id : slug}, e, sizeof e);
    if (res == NULL) {
        snprintf(err, err_size, "reading the master database: %s", e);
        lg_router_release_master(r, m, 1);
        return -1;
    }
    found = PQntuples(res) == 1;
    if (found)
        tenant_from_row(out, res);
    PQclear(res);
    lg_router_release_master(r, m, 0);
    return found;
}

int lg_router_lookup(lg_router *r, const char *id, const char *slug, lg_tenant *out, char *err,
                     size_t err_size)
{
    cached_tenant c, *hit;
    int found;
    pthread_mutex_lock(&r->lock);
    hit = cache_find(r, id, slug);
    if (hit != NULL) {
        *out = hit->t;
        pthread_mutex_unlock(&r->lock);
        return 1;
    }
    pthread_mutex_unlock(&r->lock);
    found = load_tenant(r, id, slug, &c, err, err_size);
    if (found != 1)
        return found;
    pthread_mutex_lock(&r->lock);
    cache_store(r, &c);
    pthread_mutex_unlock(&r->lock);
    *out = c.t;
    return 1;
}

void lg_router_invalidate(lg_router *r)
{
    pthread_mutex_lock(&r->lock);
    r->n_cache = 0;
    pthread_mutex_unlock(&r->lock);
}

int lg_router_set_key_file(lg_router *r, const char *path, char *err, size_t err_size)
{
    char *copy = strdup(path);
    if (copy == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&r->lock);
    free(r->key_file);
    r->key_file = copy;
    if (stat(path, &r->key_file_seen) != 0)
        memset(&r->key_file_seen, 0, sizeof r->key_file_seen);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

static int same_file_state(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/*
 * The keyring to open a password sealed under key_id. When the current one lacks that key (the
 * key file was rotated after start-up), re-reads the key file under the lock - only when the
 * file changed since it was last read (its inode, size and modification time), so a row naming
 * a key that is nowhere costs a stat, not a reload - and adopts it if it starts with the same
 * first key (the token and transaction-id subkeys depend on it). The keyring returned stays
 * valid until lg_router_free.
 */
static const lg_keyring *keyring_for(lg_router *r, const char *key_id)
{
    const lg_keyring *kr;
    struct stat now_seen;
    char err[512];
    lg_keyring *fresh;

    pthread_mutex_lock(&r->lock);
    kr = r->kr;
    if (lg_keyring_has(kr, key_id) || r->key_file == NULL)
        goto out;
    if (stat(r->key_file, &now_seen) != 0 || same_file_state(&now_seen, &r->key_file_seen))
        goto out;
    /* Whatever comes of this read, the next one waits for the file to change again. */
    r->key_file_seen = now_seen;
    if (r->n_reloaded == MAX_KEY_RELOADS) {
        lg_log_error("key %s is not loaded and the key file was already reloaded %d times; "
                     "restart the process to load it", key_id, MAX_KEY_RELOADS);
        goto out;
    }
    fresh = lg_keyring_load(r->key_file, err, sizeof err);
    if (fresh == NULL) {
        lg_log_error("reloading the key file for key %s: %s", key_id, err);
        goto out;
    }
    if (!lg_keyring_same_first_key(fresh, kr)) {
        lg_log_error("the key file %s no longer starts with the key this process started with; "
                     "not reloading it (tokens and transaction ids depend on the first key)",
                     r->key_file);
        lg_keyring_free(fresh);
        goto out;
    }
    r->reloaded[r->n_reloaded++] = fresh;
    r->kr = kr = fresh;
    lg_log_info("reloaded the key file: %zu key(s), active key %s", lg_keyring_count(fresh),
                lg_keyring_active_id(fresh));
out:
    pthread_mutex_unlock(&r->lock);
    return kr;
}

const lg_keyring *lg_router_keyring(lg_router *r)
{
    return keyring_for(r, NULL);
}

/* Connects with a clear password (wiped by the caller). */
static PGconn *connect_tenant(const lg_tenant *t, const char *password, char *err,
                              size_t err_size)
{
    PGconn *conn;
    const char *keys[] = {"host", "port", "dbname", "user", "password", "application_name",
                          "connect_timeout", NULL};
    const char *values[8];
    values[0] = t->db_host;
    values[1] = t->db_port;
    values[2] = t->db_name;
    values[3] = t->db_user;
    values[4] = password;
    values[5] = "ledger";
    values[6] = "5";
    values[7] = NULL;
    conn = PQconnectdbParams(keys, values, 0);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        const char *m = conn != NULL ? PQerrorMessage(conn) : "out of memory";
        snprintf(err, err_size, "cannot connect to the database of tenant %s: %.*s", t->slug,
                 (int)strcspn(m, "\n"), m);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

PGconn *lg_tenant_connect(const lg_keyring *kr, const lg_tenant *t, const char *sealed_password,
                          const char *key_id, char *err, size_t err_size)
{
    char *password = NULL;
    PGconn *conn;
    if (lg_secret_open(kr, key_id, t->id, sealed_password, &password, err, err_size) != 0)
        return NULL;
    conn = connect_tenant(t, password, err, err_size);
    lg_secret_free(password);
    return conn;
}

/* A new connection to a routed tenant, through the router's keyring. A password that does not
 * open makes the tenant unroutable until its row is repaired: said once per attempt, loudly,
 * with what to check - never a crash, never the secret. */
static PGconn *router_connect(lg_router *r, const cached_tenant *c, char *err, size_t err_size)
{
    const lg_keyring *kr = keyring_for(r, c->key_id);
    char *password = NULL, why[256];
    PGconn *conn;
    if (lg_secret_open(kr, c->key_id, c->t.id, c->sealed_password, &password, why,
                       sizeof why) != 0) {
        lg_log_kv(LG_LOG_ERROR, (const char *[]){"tenant", c->t.slug, "tenant_id", c->t.id, NULL},
                  "tenant %s is unroutable: its database password does not open (%s); check "
                  "db_password and db_password_key_id of its row in the master database and the "
                  "key file",
                  c->t.slug, why);
        snprintf(err, err_size, "tenant %s is unroutable: its database password does not open",
                 c->t.slug);
        return NULL;
    }
    conn = connect_tenant(&c->t, password, err, err_size);
    lg_secret_free(password);
    return conn;
}

/* Called with r->lock held. */
static pool *pool_get(lg_router *r, const char *key)
{
    pool *p;
    for (size_t i = 0; i < r->n_pools; i++)
        if (strcmp(r->pools[i]->key, key) == 0)
            return r->pools[i];
    if (r->n_pools == MAX_POOLS)
        return NULL;
    p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->max = r->max_per_tenant;
    p->idle = calloc((size_t)p->max, sizeof *p->idle);
    if (p->idle == NULL) {
        free(p);
        return NULL;
    }
    snprintf(p->key, sizeof p->key, "%s", key);
    pthread_cond_init(&p->freed, NULL);
    r->pools[r->n_pools++] = p;
    return p;
}

/* Takes an idle connection or a slot for a new one. Returns 1 with *conn (may be NULL: open a
 * new one), 0 on time-out. Called with r->lock held. */
static int pool_take(lg_router *r, pool *p, int wait_ms, PGconn **conn)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    for (;;) {
        if (p->n_idle > 0) {
            *conn = p->idle[--p->n_idle];
            return 1;
        }
        if (p->n_open < p->max) {
            p->n_open++;
            *conn = NULL;
            return 1;
        }
        if (pthread_cond_timedwait(&p->freed, &r->lock, &deadline) == ETIMEDOUT)
            return 0;
    }
}

static PGconn *acquire(lg_router *r, const char *key, int wait_ms, char *err, size_t err_size)
{
    pool *p;
    PGconn *conn = NULL;
    cached_tenant c;
    int got;

    pthread_mutex_lock(&r->lock);
    p = pool_get(r, key);
    if (p == NULL) {
        pthread_mutex_unlock(&r->lock);
        snprintf(err, err_size, "too many connection pools");
        return NULL;
    }
    got = pool_take(r, p, wait_ms, &conn);
    pthread_mutex_unlock(&r->lock);
    if (!got) {
        snprintf(err, err_size, "no database connection free within %d ms", wait_ms);
        return NULL;
    }
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
        return conn;
    PQfinish(conn);
    if (strcmp(key, "master") == 0) {
        conn = lg_db_connect(r->master_dsn, err, err_size);
    } else {
        int found = load_tenant(r, key, NULL, &c, err, err_size);
        if (found == 0)
            snprintf(err, err_size, "unknown tenant %s", key);
        conn = found == 1 ? router_connect(r, &c, err, err_size) : NULL;
        if (conn != NULL && r->on_connect != NULL &&
            r->on_connect(conn, r->on_connect_arg, err, err_size) != 0) {
            PQfinish(conn);
            conn = NULL;
        }
    }
    if (conn == NULL) {
        pthread_mutex_lock(&r->lock);
        p->n_open--;
        pthread_cond_signal(&p->freed);
        pthread_mutex_unlock(&r->lock);
    }
    return conn;
}

static void release(lg_router *r, const char *key, PGconn *conn, int broken)
{
    pool *p;
    if (conn == NULL)
        return;
    if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE)
        broken = 1;
    pthread_mutex_lock(&r->lock);
    p = pool_get(r, key);
    if (p == NULL || broken || p->n_idle >= p->max) {
        if (p != NULL)
            p->n_open--;
        PQfinish(conn);
    } else {
        p->idle[p->n_idle++] = conn;
    }
    if (p != NULL)
        pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&r->lock);
}

PGconn *lg_router_acquire(lg_router *r, const char *tenant_id, int wait_ms, char *err,
                          size_t err_size)
{
    return acquire(r, tenant_id, wait_ms, err, err_size);
}

void lg_router_release(lg_router *r, const char *tenant_id, PGconn *conn, int broken)
{
    release(r, tenant_id, conn, broken);
}

PGconn *lg_router_acquire_master(lg_router *r, int wait_ms, char *err, size_t err_size)
{
    return acquire(r, "master", wait_ms, err, err_size);
}

void lg_router_release_master(lg_router *r, PGconn *conn, int broken)
{
    release(r, "master", conn, broken);
}
