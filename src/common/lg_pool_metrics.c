/*
 * The connection pools' use, read from the tenant router at each scrape: per tenant (in use and
 * idle), and all tenants together against the LEDGER_DB_POOL_TOTAL bound.
 */
#include "lg_pool_metrics.h"

#include <stddef.h>

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
    lg_metric *total, *limit;
    int in_use = 0, idle = 0, bound;

    rows.family = lg_metrics_gauge(m, "ledger_db_pool_connections",
                                   "Connections of each tenant's pool, by state (in_use, idle).",
                                   (const char *[]){"tenant", "state", NULL});
    lg_metric_reset(rows.family); /* evicted tenants' pools go from the output */
    lg_router_pool_stats(arg, pool_row, &rows);

    total = lg_metrics_gauge(m, "ledger_db_pool_connections_total",
                             "Connections to all tenant databases together, by state.",
                             (const char *[]){"state", NULL});
    limit = lg_metrics_gauge(m, "ledger_db_pool_connections_limit",
                             "The bound on connections to all tenant databases "
                             "(LEDGER_DB_POOL_TOTAL).",
                             NULL);
    bound = lg_router_pool_total(arg, &in_use, &idle);
    lg_metric_set(total, (const char *[]){"in_use", NULL}, in_use);
    lg_metric_set(total, (const char *[]){"idle", NULL}, idle);
    lg_metric_set(limit, NULL, bound);
}

int lg_pool_metrics_register(lg_metrics *m, lg_router *router)
{
    if (m == NULL || router == NULL)
        return -1;
    return lg_metrics_add_collector(m, collect_pools, router);
}
