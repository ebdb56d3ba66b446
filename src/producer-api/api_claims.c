/*
 * Group commit of Idempotency-Key claims.
 *
 * Each POST /v1/transactions with an Idempotency-Key must have its IdempotencyRecord committed
 * before the command is produced (SPEC section 5): one synchronous PostgreSQL commit per
 * request, on one of the API's HTTP threads. Here the claims of one tenant that arrive while a
 * commit is in flight wait in that tenant's queue; the first waiting thread (the leader) takes
 * the whole queue (at most GROUP_MAX claims) and writes it with one statement and one commit:
 *
 *   INSERT INTO idempotency_records (...) VALUES (...), (...), ...
 *   ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key
 *
 * A returned key was claimed by the first claim of the group that names it; every other claim
 * of that key (an older record, or an earlier claim in the same group) learns that the key
 * exists and goes on exactly as a lone claim that lost the race (api_routes.c reads the
 * record). When the statement fails, every claim of the group is retried alone, so errors are
 * answered as before.
 *
 * LEDGER_API_GROUP_COMMIT (default 4) groups of one tenant may be committing at once, each on
 * its own pooled connection: with no more HTTP threads than that, every claim commits alone as
 * before; beyond, the claims that arrive while those commits run share the next ones. 0 turns
 * group commit off.
 */
#include "api_claims.h"

#include "lg_config.h"
#include "lg_db.h"
#include "lg_log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_MAX 64

typedef struct claim {
    const char *const *params;
    int outcome; /* API_CLAIM_*, or CLAIM_PENDING */
    int taken;   /* a leader is writing it */
    struct claim *next;
} claim;

enum { CLAIM_PENDING = 2 };

typedef struct group {
    char tenant_id[LG_UUID_STRLEN];
    pthread_mutex_t lock;
    pthread_cond_t done;
    claim *head, **tail;
    int busy; /* leaders writing a group */
    struct group *next;
} group;

static pthread_mutex_t groups_lock = PTHREAD_MUTEX_INITIALIZER;
static group *groups;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static int writers = 4;

static void read_config(void)
{
    char err[256];
    long v = 4;
    if (lg_config_int("LEDGER_API_GROUP_COMMIT", 4, 0, 64, &v, err, sizeof err) != 0)
        lg_log_warn("configuration: %s; group commit keeps 4 writers a tenant", err);
    writers = (int)v;
}

/* The tenant's group (made on its first claim; groups live as long as the process). */
static group *group_of(const char *tenant_id)
{
    group *g;
    pthread_mutex_lock(&groups_lock);
    for (g = groups; g != NULL && strcmp(g->tenant_id, tenant_id) != 0; g = g->next)
        ;
    if (g == NULL && (g = calloc(1, sizeof *g)) != NULL) {
        snprintf(g->tenant_id, sizeof g->tenant_id, "%s", tenant_id);
        pthread_mutex_init(&g->lock, NULL);
        pthread_cond_init(&g->done, NULL);
        g->tail = &g->head;
        g->next = groups;
        groups = g;
    }
    pthread_mutex_unlock(&groups_lock);
    return g;
}

/* Writes the claims of one group; outcome[i] is batch[i]'s (set under the group's lock by the
 * caller: the waiting threads read it). */
static void write_group(api_server *s, const lg_tenant *tenant, claim *const *batch, size_t n,
                        int *outcome)
{
    static const char head[] =
        "INSERT INTO idempotency_records (idempotency_key, endpoint, method, request_hash,"
        " transaction_id, response_status, response_body, user_id, ip_address, expires_at)"
        " VALUES ";
    static const char tail[] = " ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key";
    const char **params = NULL;
    char *sql = NULL, err[512];
    size_t len = 0, cap = sizeof head + sizeof tail + n * 128;
    PGconn *db = NULL;
    PGresult *res = NULL;

    for (size_t i = 0; i < n; i++)
        outcome[i] = API_CLAIM_FALLBACK;
    sql = malloc(cap);
    params = malloc(n * API_CLAIM_PARAMS * sizeof *params);
    if (sql == NULL || params == NULL)
        goto out;
    len = (size_t)snprintf(sql, cap, "%s", head);
    for (size_t i = 0; i < n; i++) {
        size_t b = i * API_CLAIM_PARAMS;
        len += (size_t)snprintf(sql + len, cap - len,
                                "%s($%zu, $%zu, $%zu, $%zu, $%zu, 202, $%zu::jsonb, $%zu, $%zu,"
                                " now() + interval '24 hours')",
                                i > 0 ? ", " : "", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6,
                                b + 7, b + 8);
        memcpy(&params[b], batch[i]->params, API_CLAIM_PARAMS * sizeof *params);
    }
    snprintf(sql + len, cap - len, "%s", tail);
    db = lg_router_acquire(s->router, tenant->id, s->db_wait_ms, err, sizeof err);
    if (db == NULL)
        goto out; /* each claim alone gets the 503 */
    res = lg_db_query(db, sql, (int)(n * API_CLAIM_PARAMS), params, err, sizeof err);
    lg_router_release(s->router, tenant->id, db, res == NULL);
    if (res == NULL) {
        lg_log_warn("tenant %s: a group of %zu idempotency records: %s; claiming one by one",
                    tenant->slug, n, err);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        outcome[i] = API_CLAIM_EXISTS;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *key = PQgetvalue(res, r, 0);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(batch[i]->params[0], key) == 0) {
                outcome[i] = API_CLAIM_NEW; /* the first claim of the key in the group */
                break;
            }
        }
    }
out:
    PQclear(res);
    free(sql);
    free(params);
}

int api_claim_group(api_server *s, const lg_tenant *tenant,
                    const char *const params[API_CLAIM_PARAMS])
{
    claim me = {params, CLAIM_PENDING, 0, NULL};
    group *g;

    pthread_once(&config_once, read_config);
    if (writers == 0 || (g = group_of(tenant->id)) == NULL)
        return API_CLAIM_FALLBACK;
    pthread_mutex_lock(&g->lock);
    *g->tail = &me;
    g->tail = &me.next;
    while (me.outcome == CLAIM_PENDING) {
        if (!me.taken && g->busy < writers) {
            claim *batch[GROUP_MAX];
            int outcome[GROUP_MAX];
            size_t n = 0;
            g->busy++;
            while (g->head != NULL && n < GROUP_MAX) {
                batch[n] = g->head;
                batch[n++]->taken = 1;
                g->head = g->head->next;
            }
            if (g->head == NULL)
                g->tail = &g->head;
            pthread_mutex_unlock(&g->lock);
            write_group(s, tenant, batch, n, outcome);
            pthread_mutex_lock(&g->lock);
            for (size_t i = 0; i < n; i++)
                batch[i]->outcome = outcome[i];
            g->busy--;
            pthread_cond_broadcast(&g->done);
        } else {
            pthread_cond_wait(&g->done, &g->lock);
        }
    }
    pthread_mutex_unlock(&g->lock);
    return me.outcome;
}
