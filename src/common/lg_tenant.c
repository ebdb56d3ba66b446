#include "lg_tenant.h"

#include "lg_db.h"
#include "lg_log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CACHE_TTL_S 5
#define MAX_POOLS 4096
#define DEFAULT_MAX_TOTAL 100
#define DEFAULT_IDLE_TIMEOUT_S 300
#define MASTER_KEY "master"
/* Key file reloads over a process's life: each reload's keyring stays allocated until the router
 * is freed, as connections being opened may still use it. */
#define MAX_KEY_RELOADS 64

/*
 * Pools. One per tenant (keyed by tenant id) and one for the master database ("master"). Each
 * is bounded by max_per_tenant; the tenant pools together are bounded by max_total (the master
 * pool is not counted: resolving a tenant needs a master connection while a tenant slot is
 * held). Idle connections are kept newest last and handed out newest first, so the oldest ones
 * age out: a sweeper thread closes those idle longer than idle_timeout_s and drops tenant pools
 * left with no connection. When the total is reached, a tenant that needs a new connection
 * closes the oldest idle connection of another tenant; failing that it waits on `freed`
 * (router-wide, broadcast on every change) until its deadline.
 */
typedef struct {
    PGconn *conn;
    struct timespec since; /* CLOCK_MONOTONIC */
} idle_conn;

typedef struct {
    char key[LG_UUID_STRLEN]; /* tenant id, or "master" */
    int is_master;
    idle_conn *idle; /* oldest first */
    int n_idle;
    int n_open;  /* idle + lent out + being opened */
    int waiters; /* acquires waiting for this pool */
    int max;
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
    int max_total;      /* over the tenant pools */
    int idle_timeout_s; /* 0: never evict */
    int total_open;     /* n_open summed over the tenant pools */
    pthread_mutex_t lock;
    pthread_cond_t freed;      /* a slot or an idle connection may be free: re-check */
    pthread_cond_t sweep_wake; /* settings changed or stopping */
    pthread_t sweeper;
    int sweeper_running;
    int stopping;
    pool *pools[MAX_POOLS];
    size_t n_pools;
    cached_tenant *cache;
    size_t n_cache, cap_cache;
    lg_router_on_connect on_connect;
    void *on_connect_arg;
};

static void *sweep_loop(void *arg);

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
    pthread_condattr_t attr;
    lg_router *r = calloc(1, sizeof *r);
    if (r == NULL || (r->master_dsn = strdup(master_dsn)) == NULL) {
        snprintf(err, err_size, "out of memory");
        free(r);
        return NULL;
    }
    r->kr = kr;
    r->max_per_tenant = max_per_tenant > 0 ? max_per_tenant : 4;
    r->max_total = DEFAULT_MAX_TOTAL;
    r->idle_timeout_s = DEFAULT_IDLE_TIMEOUT_S;
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->freed, &attr);
    pthread_cond_init(&r->sweep_wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&r->sweeper, NULL, sweep_loop, r) != 0) {
        snprintf(err, err_size, "cannot start the connection sweeper thread");
        lg_router_free(r);
        return NULL;
    }
    r->sweeper_running = 1;
    return r;
}

void lg_router_free(lg_router *r)
{
    if (r == NULL)
        return;
    if (r->sweeper_running) {
        pthread_mutex_lock(&r->lock);
        r->stopping = 1;
        pthread_cond_broadcast(&r->sweep_wake);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->sweeper, NULL);
    }
    for (size_t i = 0; i < r->n_pools; i++) {
        for (int j = 0; j < r->pools[i]->n_idle; j++)
            PQfinish(r->pools[i]->idle[j].conn);
        free(r->pools[i]->idle);
        free(r->pools[i]);
    }
    pthread_cond_destroy(&r->freed);
    pthread_cond_destroy(&r->sweep_wake);
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
    "db_port, db_name, db_user, db_password, db_password_key_id, coalesce(db_sslmode, ''), " \
    "coalesce(db_sslrootcert, '')"

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
    copy_field(t->db_sslmode, sizeof t->db_sslmode, res, 13);
    copy_field(t->db_sslrootcert, sizeof t->db_sslrootcert, res, 14);
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

int lg_tenant_sslmode_valid(const char *mode)
{
    static const char *const modes[] = {"disable",  "allow",     "prefer",
                                        "require",  "verify-ca", "verify-full"};
    for (size_t i = 0; mode != NULL && i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(mode, modes[i]) == 0)
            return 1;
    return 0;
}

/* The tenant's value, else the process-wide default from env, else NULL (libpq decides). */
static const char *tls_setting(const char *value, const char *env)
{
    const char *d;
    if (value[0] != '\0')
        return value;
    d = getenv(env);
    return d != NULL && d[0] != '\0' ? d : NULL;
}

/* Connects with a clear password (wiped by the caller). */
static PGconn *connect_tenant(const lg_tenant *t, const char *password, char *err,
                              size_t err_size)
{
    PGconn *conn;
    /* fallback_application_name: PGAPPNAME, when set, names the process in pg_stat_activity. */
    const char *keys[16] = {"host", "port", "dbname", "user", "password",
                            "fallback_application_name", "connect_timeout", NULL};
    const char *values[16];
    const char *sslmode = tls_setting(t->db_sslmode, "LEDGER_PG_SSLMODE");
    const char *sslrootcert = tls_setting(t->db_sslrootcert, "LEDGER_PG_SSLROOTCERT");
    int n = 7;
    values[0] = t->db_host;
    values[1] = t->db_port;
    values[2] = t->db_name;
    values[3] = t->db_user;
    values[4] = password;
    values[5] = "ledger";
    values[6] = "5";
    /* Keepalives and tcp_user_timeout: a silent peer fails the connection (lg_db.h). */
    lg_db_tcp_params(keys, values, &n);
    if (sslmode != NULL) {
        keys[n] = "sslmode";
        values[n++] = sslmode;
    }
    if (sslrootcert != NULL) {
        keys[n] = "sslrootcert";
        values[n++] = sslrootcert;
    }
    keys[n] = NULL;
    values[n] = NULL;
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

static void mono_now(struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
}

static long ms_since(const struct timespec *then, const struct timespec *now)
{
    return (long)(now->tv_sec - then->tv_sec) * 1000L +
           (now->tv_nsec - then->tv_nsec) / 1000000L;
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
    p->is_master = strcmp(key, MASTER_KEY) == 0;
    r->pools[r->n_pools++] = p;
    return p;
}

/* Drops tenant pools that hold nothing and that nobody waits for. Called with r->lock held. */
static void pools_drop_empty(lg_router *r)
{
    for (size_t i = 0; i < r->n_pools;) {
        pool *p = r->pools[i];
        if (!p->is_master && p->n_open == 0 && p->waiters == 0) {
            free(p->idle);
            free(p);
            r->pools[i] = r->pools[--r->n_pools];
            continue;
        }
        i++;
    }
}

/* Removes idle connection j of p and gives it to the caller to close (outside the lock).
 * Called with r->lock held. */
static PGconn *pool_remove_idle(lg_router *r, pool *p, int j)
{
    PGconn *conn = p->idle[j].conn;
    memmove(&p->idle[j], &p->idle[j + 1], (size_t)(p->n_idle - j - 1) * sizeof *p->idle);
    p->n_idle--;
    p->n_open--;
    if (!p->is_master)
        r->total_open--;
    return conn;
}

/* The oldest idle connection of a tenant other than p, removed from its pool; NULL when there
 * is none. Called with r->lock held. */
static PGconn *steal_oldest_idle(lg_router *r, const pool *p)
{
    pool *victim = NULL;
    for (size_t i = 0; i < r->n_pools; i++) {
        pool *q = r->pools[i];
        if (q == p || q->is_master || q->n_idle == 0)
            continue;
        if (victim == NULL || ms_since(&q->idle[0].since, &victim->idle[0].since) > 0)
            victim = q;
    }
    return victim != NULL ? pool_remove_idle(r, victim, 0) : NULL;
}

/* Takes an idle connection or a slot for a new one. Returns 1 with *conn (may be NULL: open a
 * new one), 0 on time-out. *evicted is an idle connection of another tenant closed to make
 * room under the total bound: the caller closes it outside the lock. Called with r->lock held. */
static int pool_take(lg_router *r, pool *p, int wait_ms, PGconn **conn, PGconn **evicted)
{
    struct timespec deadline;
    mono_now(&deadline);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    *evicted = NULL;
    for (;;) {
        if (p->n_idle > 0) {
            *conn = p->idle[--p->n_idle].conn;
            return 1;
        }
        if (p->n_open < p->max) {
            if (!p->is_master && r->total_open >= r->max_total)
                *evicted = steal_oldest_idle(r, p);
            if (p->is_master || r->total_open < r->max_total) {
                p->n_open++;
                if (!p->is_master)
                    r->total_open++;
                *conn = NULL;
                return 1;
            }
        }
        p->waiters++;
        int rc = pthread_cond_timedwait(&r->freed, &r->lock, &deadline);
        p->waiters--;
        if (rc == ETIMEDOUT)
            return 0;
    }
}

/* Gives back a slot taken by pool_take whose connection is gone. Called with r->lock held. */
static void pool_free_slot(lg_router *r, pool *p)
{
    p->n_open--;
    if (!p->is_master)
        r->total_open--;
    pthread_cond_broadcast(&r->freed);
}

/* An idle connection is usable when the server has not spoken since it was returned: an idle
 * session gets nothing unasked, so anything readable (a FATAL from a restarting server, an
 * idle-session time-out, a terminated backend, or the end of the stream) means it is gone. */
static int idle_usable(PGconn *conn)
{
    struct pollfd pfd;
    if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE)
        return 0;
    pfd.fd = PQsocket(conn);
    pfd.events = POLLIN;
    pfd.revents = 0;
    return pfd.fd >= 0 && poll(&pfd, 1, 0) == 0;
}

/* Whether a pooled tenant connection still points where the master says the tenant lives
 * (`ledgerctl restore` switches tenants.db_name): compared with the cached row, so this costs a
 * master read only once per cache period. When the master cannot be read, the connection is
 * kept. */
static int same_target(lg_router *r, const char *key, PGconn *conn)
{
    cached_tenant c;
    char err[256];
    if (load_tenant(r, key, NULL, &c, err, sizeof err) != 1)
        return 1;
    return strcmp(PQdb(conn), c.t.db_name) == 0 && strcmp(PQport(conn), c.t.db_port) == 0;
}

static PGconn *acquire(lg_router *r, const char *key, int wait_ms, char *err, size_t err_size)
{
    pool *p;
    PGconn *conn = NULL, *evicted = NULL;
    cached_tenant c;
    int got;

    pthread_mutex_lock(&r->lock);
    p = pool_get(r, key);
    if (p == NULL) {
        pthread_mutex_unlock(&r->lock);
        snprintf(err, err_size, "too many connection pools");
        return NULL;
    }
    got = pool_take(r, p, wait_ms, &conn, &evicted);
    pthread_mutex_unlock(&r->lock);
    PQfinish(evicted);
    if (!got) {
        snprintf(err, err_size, "no database connection free within %d ms", wait_ms);
        return NULL;
    }
    if (conn != NULL && idle_usable(conn) && (p->is_master || same_target(r, key, conn)))
        return conn;
    if (conn != NULL)
        lg_log_info("discarding a pooled connection (%s): broken or its database moved;"
                    " reconnecting",
                    p->is_master ? "master" : "tenant");
    PQfinish(conn);
    if (p->is_master) {
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
        pool_free_slot(r, p);
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
            pool_free_slot(r, p);
        pthread_mutex_unlock(&r->lock);
        PQfinish(conn);
        return;
    }
    p->idle[p->n_idle].conn = conn;
    mono_now(&p->idle[p->n_idle].since);
    p->n_idle++;
    pthread_cond_broadcast(&r->freed);
    pthread_mutex_unlock(&r->lock);
}

/* Closes the connections idle longer than the timeout and drops the tenant pools left empty.
 * Returns how many it closed. */
static int sweep(lg_router *r)
{
    PGconn **closing = NULL;
    size_t n_closing = 0, cap = 0;
    struct timespec now;
    long limit_ms;

    pthread_mutex_lock(&r->lock);
    limit_ms = (long)r->idle_timeout_s * 1000L;
    mono_now(&now);
    for (size_t i = 0; r->idle_timeout_s > 0 && i < r->n_pools; i++) {
        pool *p = r->pools[i];
        /* Oldest first: stop at the first one still young enough. */
        while (p->n_idle > 0 && ms_since(&p->idle[0].since, &now) >= limit_ms) {
            if (n_closing == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                PGconn **n = realloc(closing, ncap * sizeof *n);
                if (n == NULL)
                    break; /* the next sweep closes the rest */
                closing = n;
                cap = ncap;
            }
            closing[n_closing++] = pool_remove_idle(r, p, 0);
        }
    }
    pools_drop_empty(r);
    if (n_closing > 0)
        pthread_cond_broadcast(&r->freed);
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < n_closing; i++)
        PQfinish(closing[i]);
    free(closing);
    return (int)n_closing;
}

static void *sweep_loop(void *arg)
{
    lg_router *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        struct timespec deadline;
        /* A quarter of the timeout, between 1 and 30 s: a connection lives at most 25% past
         * its idle time-out. */
        int period = r->idle_timeout_s > 0 ? r->idle_timeout_s / 4 : 30;
        period = period < 1 ? 1 : period > 30 ? 30 : period;
        mono_now(&deadline);
        deadline.tv_sec += period;
        pthread_cond_timedwait(&r->sweep_wake, &r->lock, &deadline);
        if (r->stopping)
            break;
        pthread_mutex_unlock(&r->lock);
        int closed = sweep(r);
        if (closed > 0)
            lg_log_info("closed %d database connection(s) idle for over %d s", closed,
                        r->idle_timeout_s);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int lg_router_set_pool_limits(lg_router *r, int max_total, int idle_timeout_s, char *err,
                              size_t err_size)
{
    if (max_total < 1 || idle_timeout_s < 0) {
        snprintf(err, err_size, "the total pool size must be at least 1 and the idle time-out "
                                "0 (never) or more seconds");
        return -1;
    }
    pthread_mutex_lock(&r->lock);
    r->max_total = max_total;
    r->idle_timeout_s = idle_timeout_s;
    pthread_cond_broadcast(&r->sweep_wake);
    pthread_cond_broadcast(&r->freed);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

int lg_router_sweep(lg_router *r)
{
    return sweep(r);
}

typedef struct {
    char key[LG_UUID_STRLEN];
    int in_use, idle;
} pool_stat;

void lg_router_pool_stats(lg_router *r, lg_router_pool_fn fn, void *arg)
{
    pool_stat *stats;
    size_t n = 0;
    pthread_mutex_lock(&r->lock);
    stats = calloc(r->n_pools > 0 ? r->n_pools : 1, sizeof *stats);
    for (size_t i = 0; stats != NULL && i < r->n_pools; i++) {
        const pool *p = r->pools[i];
        if (p->is_master)
            continue;
        snprintf(stats[n].key, sizeof stats[n].key, "%s", p->key);
        stats[n].in_use = p->n_open - p->n_idle;
        stats[n].idle = p->n_idle;
        n++;
    }
    pthread_mutex_unlock(&r->lock);
    /* Outside the lock: fn may call back into the router. */
    for (size_t i = 0; i < n; i++)
        fn(stats[i].key, stats[i].in_use, stats[i].idle, arg);
    free(stats);
}

int lg_router_pool_total(lg_router *r, int *in_use, int *idle)
{
    int u = 0, i_ = 0, max;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n_pools; i++) {
        const pool *p = r->pools[i];
        if (p->is_master)
            continue;
        u += p->n_open - p->n_idle;
        i_ += p->n_idle;
    }
    max = r->max_total;
    pthread_mutex_unlock(&r->lock);
    if (in_use != NULL)
        *in_use = u;
    if (idle != NULL)
        *idle = i_;
    return max;
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
    return acquire(r, MASTER_KEY, wait_ms, err, err_size);
}

void lg_router_release_master(lg_router *r, PGconn *conn, int broken)
{
    release(r, MASTER_KEY, conn, broken);
}
