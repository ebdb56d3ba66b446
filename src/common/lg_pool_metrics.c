/*
 * MERGE POINT: lg_router_pool_stats(lg_router *, void (*fn)(const char *tenant_id, int in_use,
 * int idle, void *arg), void *arg) comes with the connection pool work in lg_tenant.[ch]. Until
 * lg_tenant.h declares it and defines LG_ROUTER_POOL_STATS, this collector is compiled out and
 * lg_pool_metrics_register returns -1; producer-api and ledger-worker already call it.
 */
#include "lg_pool_metrics.h"

#include <stddef.h>

#ifdef LG_ROUTER_POOL_STATS
typedef struct {
    lg_metric *family;
} pool_rows;

static void pool_row(const char *tenant_id, int in_use, int idle, void *arg)
{
    pool_rows *rows = arg;
    lg_metric_set(rows->family, (const char *[]){tenant_id, "in_use", NULL}, in_use);
    lg_metric_set(rows->family, (const char *[]){tenant_id, "idle", NULL}, idle);
}

static void collect_pools(lg_metrics *m, void *arg)
{
    pool_rows rows;
    rows.family = lg_metrics_gauge(m, "ledger_db_pool_connections",
                                   "Connections of each tenant's pool, by state (in_use, idle).",
                                   (const char *[]){"tenant", "state", NULL});
    lg_metric_reset(rows.family); /* evicted tenants' pools go from the output */
    lg_router_pool_stats(arg, pool_row, &rows);
}

int lg_pool_metrics_register(lg_metrics *m, lg_router *router)
{
    if (m == NULL || router == NULL)
        return -1;
    return lg_metrics_add_collector(m, collect_pools, router);
}
#else
int lg_pool_metrics_register(lg_metrics *m, lg_router *router)
{
    (void)m;
    (void)router;
    return -1;
}
#endif
