/*
 * Group commit of Idempotency-Key claims.
 *
 * Each POST /v1/transactions with an Idempotency-Key must have its IdempotencyRecord committed
 * before the command is produced (SPEC section 5): one synchronous PostgreSQL commit per
 * request. Here a request's claim is queued with its tenant's other claims and its connection
 * is parked (suspended), so no HTTP thread waits on the database. A few claimer threads take the
 * queued claims of one tenant at a time (at most GROUP_MAX) and write them with one statement
 * and one commit:
 *
 *   INSERT INTO idempotency_records (...) VALUES (...), (...), ...
 *   ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key
 *
 * then hand each request its outcome and resume its connection; the request goes on (produces
 * the command, or reads the existing record) on an HTTP thread. A returned key was claimed by
 * the first claim of the group that names it; every other claim of that key (an older record,
 * or an earlier claim in the same group) learns that the key exists and goes on exactly as a
 * lone claim that lost the race (api_routes.c reads the record). When the statement fails,
 * every claim of the group is retried alone, so errors are answered as before.
 *
 * While the claimers are busy, new claims gather in the queues, so groups grow with the load:
 * at most LEDGER_API_GROUP_COMMIT (default 4) groups commit at once, each on a pooled
 * connection of its tenant, and tenants with waiting claims take turns. 0 turns group commit
 * off: each request then commits its own claim on its HTTP thread.
 */
#include "api_claims.h"
#include "api_metrics.h"

#include "lg_config.h"
#include "lg_db.h"
#include "lg_log.h"

#include <microhttpd.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_MAX 64

/* One queued claim: copies of its columns, and the request to resume with the outcome. */
typedef struct claim {
    char *copy[API_CLAIM_PARAMS];
    const char *params[API_CLAIM_PARAMS];
    api_request *r;
    int *outcome;
    struct claim *next;
} claim;

/* A tenant's queue; groups live as long as the process. */
typedef struct group {
    lg_tenant tenant;
    claim *head, **tail;
    int ready;              /* in the ready list */
    struct group *next;     /* all groups */
    struct group *next_ready;
} group;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER;
static group *groups, *ready_head, **ready_tail = &ready_head;
static pthread_once_t start_once = PTHREAD_ONCE_INIT;
static int started; /* claimer threads running */

static void claim_free(claim *c)
{
    for (int i = 0; i < API_CLAIM_PARAMS; i++)
        free(c->copy[i]);
    free(c);
}

/* The tenant's group, made on its first claim (called with lock held). */
static group *group_of(const lg_tenant *tenant)
{
    group *g;
    for (g = groups; g != NULL && strcmp(g->tenant.id, tenant->id) != 0; g = g->next)
        ;
    if (g == NULL && (g = calloc(1, sizeof *g)) != NULL) {
        g->tenant = *tenant;
        g->tail = &g->head;
        g->next = groups;
        groups = g;
    }
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


/* A claimer: takes the oldest ready tenant's claims, writes them, resumes their requests. */
static void *claimer(void *arg)
{
    (void)arg;
    for (;;) {
        claim *batch[GROUP_MAX];
        int outcome[GROUP_MAX];
        size_t n = 0;
        group *g;
        lg_tenant tenant;

        pthread_mutex_lock(&lock);
        while (ready_head == NULL)
            pthread_cond_wait(&work, &lock);
        g = ready_head;
        ready_head = g->next_ready;
        if (ready_head == NULL)
            ready_tail = &ready_head;
        g->ready = 0;
        while (g->head != NULL && n < GROUP_MAX) {
            batch[n++] = g->head;
            g->head = g->head->next;
        }
        if (g->head == NULL) {
            g->tail = &g->head;
        } else { /* more than a group's worth waits: the tenant queues again, behind others */
            g->ready = 1;
            g->next_ready = NULL;
            *ready_tail = g;
            ready_tail = &g->next_ready;
            pthread_cond_signal(&work);
        }
        tenant = g->tenant;
        pthread_mutex_unlock(&lock);

        /* Every request belongs to the one server of the process. */
        write_group(batch[0]->r->server, &tenant, batch, n, outcome);
        api_metrics_claim_group(batch[0]->r->server, n);
        for (size_t i = 0; i < n; i++) {
            api_request *r = batch[i]->r;
            pthread_mutex_lock(&r->lock);
            *batch[i]->outcome = outcome[i];
            MHD_resume_connection(r->connection);
            pthread_mutex_unlock(&r->lock);
            claim_free(batch[i]);
        }
    }
    return NULL;
}

static void start_claimers(void)
{
    char err[256];
    long v = 4;
    if (lg_config_int("LEDGER_API_GROUP_COMMIT", 4, 0, 64, &v, err, sizeof err) != 0)
        lg_log_warn("configuration: %s; group commit keeps 4 writers", err);
    for (long i = 0; i < v; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, claimer, NULL) != 0) {
            lg_log_warn("cannot start an idempotency claimer thread");
            break;
        }
        pthread_detach(t);
        started++;
    }
}

int api_claim_submit(api_request *r, const lg_tenant *tenant,
                     const char *const params[API_CLAIM_PARAMS], int *outcome,
                     void (*then)(api_request *r))
{
    claim *c;
    group *g;

    pthread_once(&start_once, start_claimers);
    if (started == 0 || (c = calloc(1, sizeof *c)) == NULL)
        return -1;
    for (int i = 0; i < API_CLAIM_PARAMS; i++) {
        c->copy[i] = strdup(params[i] != NULL ? params[i] : "");
        if (c->copy[i] == NULL) {
            claim_free(c);
            return -1;
        }
        c->params[i] = c->copy[i];
    }
    c->r = r;
    c->outcome = outcome;
    *outcome = API_CLAIM_FALLBACK;
    /* Parked before it is queued: a claimer resumes it under r->lock, so never too early. */
    pthread_mutex_lock(&r->lock);
    pthread_mutex_lock(&lock);
    g = group_of(tenant);
    if (g == NULL) {
        pthread_mutex_unlock(&lock);
        pthread_mutex_unlock(&r->lock);
        claim_free(c);
        return -1;
    }
    r->resume = then;
    r->suspended = 1;
    MHD_suspend_connection(r->connection);
    *g->tail = c;
    g->tail = &c->next;
    if (!g->ready) {
        g->ready = 1;
        g->next_ready = NULL;
        *ready_tail = g;
        ready_tail = &g->next_ready;
    }
    pthread_cond_signal(&work);
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&r->lock);
    return 0;
}
