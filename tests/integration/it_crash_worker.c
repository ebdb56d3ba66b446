/*
 * Exactly once under crashes: a few thousand transfers among ten accounts are posted over HTTP
 * by client threads while the only ledger-worker is SIGKILLed again and again, each time
 * 2-3 s after it took its partitions (so it dies at any point of a batch: before or after the
 * PostgreSQL COMMIT, inside or after the Kafka transaction). It restarts with the same instance
 * number: its transactional id fences the dead one and aborts its open transaction. The last
 * one runs until every accepted command is recorded. Then: one final row per accepted command,
 * one TransactionResult per command and one LedgerEntryEvent per entry for a read_committed
 * consumer (none missing, none doubled), `ledgerctl verify` passes, and the transfers moved
 * money without creating or losing any.
 */
#include "itest.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_ACCOUNTS 10
#define N_TRANSFERS 3000
#define N_THREADS 4
#define N_KILLS 5
#define FLOW_MS 30000
#define FUND "1000.00"
#define FUND_MINOR 100000

/* A shorter session than the default 10 s: the dead member leaves the group sooner, so the
 * restarted worker gets the partitions sooner (6 s is the broker's minimum). */
static const char *const worker_env[] = {"LEDGER_RDKAFKA_SESSION_TIMEOUT_MS=6000", NULL};

int main(void)
{
    itest_tenant t;
    itest_worker w;
    itest_flow flow;
    itest_eo_figures f;
    PGconn *db;
    int64_t started = itest_now_ms(), flow_ended, recorded_at;
    int kills = 0, recorded, rc;

    /* A new tenant: the checks need only what is published from here on. */
    itest_consume_mark("txn.results");
    itest_consume_mark("ledger.entries");
    itest_tenant_create(&t, "it-crash", NULL, N_ACCOUNTS, "USD");
    db = itest_tenant_db(&t, NULL);
    itest_worker_start(&w, "crash_worker-1", 1, worker_env);
    CHECK(itest_worker_wait_log(&w, "assigned 12 partition", 60000),
          "the worker got no partitions in 60 s (log: %s)", w.log);

    memset(&flow, 0, sizeof flow);
    itest_fund_accounts(&t, N_ACCOUNTS, FUND, &flow.accepted);
    flow.n_accepted = 0;
    flow.t = &t;
    flow.n_accounts = N_ACCOUNTS;
    flow.n_commands = N_TRANSFERS;
    flow.n_threads = N_THREADS;
    flow.paced_ms = FLOW_MS;
    flow.max_amount_minor = 4000;
    flow.resend_every = 20;
    itest_flow_start(&flow);

    /* Kill the worker 2-3 s after each time it takes the partitions; restart it at once. */
    for (kills = 0; kills < N_KILLS; kills++) {
        int delay = 2000 + (int)randombytes_uniform(1001);
        if (kills > 0)
            CHECK(itest_worker_wait_log(&w, "assigned 12 partition", 60000),
                  "the restarted worker got no partitions in 60 s (log: %s)", w.log);
        itest_sleep_ms(delay);
        itest_worker_kill(&w);
        printf("kill %d: SIGKILL %d ms after the assignment, %lld ms into the run\n", kills + 1,
               delay, (long long)(itest_now_ms() - started));
        fflush(stdout);
        itest_worker_restart(&w);
    }
    CHECK(itest_worker_wait_log(&w, "assigned 12 partition", 60000),
          "the last worker got no partitions in 60 s (log: %s)", w.log);

    itest_flow_join(&flow);
    flow_ended = itest_now_ms();
    recorded = itest_wait_recorded(db, (int)flow.accepted.n, 120000);
    recorded_at = itest_now_ms();
    CHECK(recorded == (int)flow.accepted.n, "%d of %zu accepted commands recorded after 120 s",
          recorded, flow.accepted.n);
    rc = itest_worker_stop(&w, 30000);
    CHECK(rc == 0, "the worker exited %d on SIGTERM (log: %s)", rc, w.log);
    itest_workers_check_logs();

    itest_check_exactly_once(&t, db, &flow.accepted, (int64_t)N_ACCOUNTS * FUND_MINOR, &f);
    printf("crash: %d accepted (%d transfers, %d of them sent twice with the same"
           " Idempotency-Key, %d retried after a 503), %d kills, %d COMPLETED, %d FAILED,"
           " %d duplicate result(s), %d duplicate entry event(s), 0 lost;"
           " %d results re-emitted in aborted transactions\n",
           f.accepted, flow.n_accepted, flow.n_resent, flow.n_retried_503, kills, f.completed,
           f.failed, f.result_duplicates, f.entry_duplicates, f.results_uncommitted - f.results);
    printf("crash: flow %lld ms, all recorded %lld ms after the flow, total %lld ms\n",
           (long long)(flow_ended - flow.started_ms), (long long)(recorded_at - flow_ended),
           (long long)(itest_now_ms() - started));
    PQfinish(db);
    itest_idset_free(&flow.accepted);
    printf("1 passed, 0 failed\n");
    return 0;
}
