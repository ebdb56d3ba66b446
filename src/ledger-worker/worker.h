/* ledger-worker: the consume -> apply -> emit loop. */
#ifndef LG_WORKER_H
#define LG_WORKER_H

#include "lg_crypto.h"
#include "lg_tenant.h"

#include <signal.h>

typedef struct {
    const char *brokers;
    const char *group_id;
    const char *transactional_id;
    int batch_max;     /* messages per batch */
    int batch_wait_ms; /* how long to gather a batch once its first message is in */
    int db_wait_ms;
    int purge_interval_s; /* how often expired idempotency records are deleted */
    lg_router *router;
    const lg_keyring *keyring;
} wk_config;

/* Runs until *stop becomes non-zero; finishes the batch in hand, commits, leaves the group.
 * Returns 0 on a clean stop, -1 after a fatal error. */
int wk_run(const wk_config *cfg, volatile sig_atomic_t *stop);

#endif
