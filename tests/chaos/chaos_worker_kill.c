/*
 * Chaos scenario: ledger-workers SIGKILLed again and again while two of them share the partitions.
 * Four tenants (two per PostgreSQL server) post transfers through the stack's API to workers 1
 * and 2. Every 3-4.5 s one of them, alternately, is SIGKILLed and started again at once with the
 * same instance (its transactional id fences the dead one and aborts its open Kafka
 * transaction); the dead member leaves the group after its 6 s session, so the group is
 * rebalancing most of the time and kills land anywhere in a batch: before or after the
 * PostgreSQL COMMIT, inside or after the Kafka transaction, while partitions move. After the
 * last kill a probe transfer for a tenant on each server must complete, the restarted worker
 * must hold partitions again, and every accepted command must have exactly one outcome and one
 * set of events (chaos_finish).
 */
#include "chaos.h"

#include <sodium.h>
#include <stdio.h>

#define N_KILLS 6

static const char *const worker_env[] = {"LEDGER_RDKAFKA_SESSION_TIMEOUT_MS=6000", NULL};

int main(void)
{
    chaos_run c;
    const chaos_config cfg = {
        .name = "worker_kill",
        .n_tenants = 4,
        .n_accounts = 6,
        .commands_per_tenant = 220,
        .flow_ms = 22000,
        .threads_per_tenant = 2,
        .retry_ms = 30000,
        .resend_every = 25,
        .n_workers = 2,
        .worker_env = worker_env,
    };
    int victim = (int)randombytes_uniform(2);
    int64_t last_kill = 0, took_main, took_second;

    chaos_setup(&c, &cfg);
    chaos_flow_start(&c);
    itest_sleep_ms(2500);
    for (int k = 0; k < N_KILLS; k++) {
        itest_worker *w = &c.worker[victim];
        int delay = 3000 + (int)randombytes_uniform(1501);
        itest_worker_kill(w);
        last_kill = itest_now_ms();
        itest_worker_restart(w);
        c.faults++;
        printf("worker_kill: kill %d: SIGKILL %s %lld ms into the flow, restarted; next in %d ms\n",
               k + 1, w->name, (long long)(last_kill - c.flow[0].started_ms),
               k + 1 < N_KILLS ? delay : 0);
        fflush(stdout);
        victim = 1 - victim;
        if (k + 1 < N_KILLS)
            itest_sleep_ms(delay);
    }
    /* The last victim rejoins the group and takes a share of the partitions again. */
    victim = 1 - victim;
    CHECK(itest_worker_wait_log(&c.worker[victim], "assigned ", 60000),
          "worker %s got no partitions in 60 s after its restart (log: %s)", c.worker[victim].name,
          c.worker[victim].log);
    took_main = chaos_recovered(&c, 0, last_kill, 90000);
    took_second = chaos_recovered(&c, 1, last_kill, 90000);
    printf("worker_kill: after the last kill, a transfer completed for a tenant on main in %lld ms"
           " and on second in %lld ms; %s rejoined\n",
           (long long)took_main, (long long)took_second, c.worker[victim].name);
    chaos_finish(&c);
    printf("1 passed, 0 failed\n");
    return 0;
}
