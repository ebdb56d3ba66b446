/* ledger-worker: the consume -> apply -> emit loop. */
#ifndef LG_WORKER_H
#define LG_WORKER_H

#include "lg_crypto.h"
#include "lg_metrics.h"
#include "lg_tenant.h"

#include <signal.h>
#include <stdatomic.h>

/* What /readyz needs to know of the consume loop, written by the loop's callbacks and read by
 * the HTTP listener's thread. */
typedef struct {
    atomic_int in_group;   /* 1 between a partition assignment (of any size) and a revocation */
    atomic_int assigned;   /* partitions assigned */
    atomic_int brokers_up; /* brokers whose connection is up, per the latest statistics; -1
                            * before the first statistics arrive */
} wk_health;

#define WK_TENANT_THREADS_MAX 32

typedef struct {
    const char *brokers;
    const char *group_id;
    const char *transactional_id;
    int batch_max;     /* messages per batch */
    int batch_wait_ms; /* how long to gather a batch once its first message is in */
    int db_wait_ms;
    int tenant_threads;   /* a batch's tenants applied at once, each on its own connection */
    int purge_interval_s; /* how often expired idempotency records are deleted */
    lg_router *router;
    const lg_keyring *keyring;
    int stats_interval_ms; /* librdkafka statistics (consumer lag, broker state); 0: off */
    lg_metrics *metrics;   /* NULL: no metrics */
    wk_health *health;     /* NULL: nobody asks */
} wk_config;

/* Registers the worker's metric families in m (call once, before wk_run, so that /metrics
 * lists them from the start). */
void wk_metrics_register(lg_metrics *m);

/* Runs until *stop becomes non-zero; finishes the batch in hand, commits, leaves the group.
 * Returns 0 on a clean stop, -1 after a fatal error. */
int wk_run(const wk_config *cfg, volatile sig_atomic_t *stop);

#endif
