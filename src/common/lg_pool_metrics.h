/*
 * The connection pools' use as a metric: ledger_db_pool_connections{tenant,state} (state
 * in_use or idle), read from the tenant router when /metrics is scraped.
 */
#ifndef LG_POOL_METRICS_H
#define LG_POOL_METRICS_H

#include "lg_metrics.h"
#include "lg_tenant.h"

/* Registers the collector on m for router (both must outlive m's renders). Returns 0, or -1 when
 * the pool statistics are not built in (see lg_pool_metrics.c) or the registry is full. */
int lg_pool_metrics_register(lg_metrics *m, lg_router *router);

#endif
