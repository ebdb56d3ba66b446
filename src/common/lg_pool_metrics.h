/*
 * The connection pools' use as metrics, read from the tenant router when /metrics is scraped:
 * ledger_db_pool_connections{tenant,state} (state in_use or idle),
 * ledger_db_pool_connections_total{state} and ledger_db_pool_connections_limit.
 */
#ifndef LG_POOL_METRICS_H
#define LG_POOL_METRICS_H

#include "lg_metrics.h"
#include "lg_tenant.h"

/* Registers the collector on m for router (both must outlive m's renders). Returns 0, or -1 when
 * the registry is full. */
int lg_pool_metrics_register(lg_metrics *m, lg_router *router);

#endif
