/*
 * Exactly once across rebalances: two ledger-workers (instances 1 and 2) share the consumer
 * group while a thousand transfers flow. Mid-run one is stopped with SIGTERM (it finishes its
 * batch, leaves the group and exits 0), the other takes all the partitions; the stopped one
 * comes back, then the same happens to the other one: four rebalances under load. Nothing is
 * lost or doubled: one final row per accepted command, one TransactionResult per command and
 * one LedgerEntryEvent per entry for a read_committed consumer, `ledgerctl verify` passes, and
 * the transfers conserve money.
 */
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_ACCOUNTS 10
#define N_TRANSFERS 1000
#define N_THREADS 4
#define FLOW_MS 16000
#define FUND "1000.00"
#define FUND_MINOR 100000

/* Batches gather for up to 200 ms (instead of 5): a rebalance then often lands while a worker
 * is gathering a batch, whose messages it must let go of. */
static const char *const worker_env[] = {"LEDGER_WORKER_BATCH_WAIT_MS=200", NULL};

/* Waits until the worker reports holding `share` partitions (after its previous match). */
static void wait_assigned(itest_worker *w, const char *share)
{
    char text[64];
    snprintf(text, sizeof text, "assigned %s partition", share);
    CHECK(itest_worker_wait_log(w, text, 60000), "worker %s: no \"%s\" in 60 s (log: %s)",
          w->name, text, w->log);
}

/* SIGTERM mid-run: the worker must drain and exit 0; the other one takes everything. */
static void stop_one(itest_worker *stopped, itest_worker *other, int64_t started)
{
    int64_t t0 = itest_now_ms();
    int rc = itest_worker_stop(stopped, 30000);
    CHECK(rc == 0, "worker %s exited %d on SIGTERM (log: %s)", stopped->name, rc, stopped->log);
    printf("SIGTERM to worker %s at %lld ms: exit 0 after %lld ms\n", stopped->name,
           (long long)(t0 - started), (long long)(itest_now_ms() - t0));
    wait_assigned(other, "12");
    printf("worker %s holds all 12 partitions at %lld ms\n", other->name,
           (long long)(itest_now_ms() - started));
    fflush(stdout);
}

static void start_again(itest_worker *w, itest_worker *other, int64_t started)
{
    itest_worker_restart(w);
    wait_assigned(w, "6");
    wait_assigned(other, "6");
    printf("worker %s back at %lld ms: 6 partitions each\n", w->name,
           (long long)(itest_now_ms() - started));
    fflush(stdout);
}

int main(void)
{
    itest_tenant t;
    itest_worker w1, w2;
    itest_flow flow;
    itest_eo_figures f;
    PGconn *db;
    int64_t started = itest_now_ms(), flow_ended;
    int recorded, rc1, rc2;

    /* A new tenant: the checks need only what is published from here on. */
    itest_consume_mark("txn.results");
    itest_consume_mark("ledger.entries");
    itest_tenant_create(&t, "it-two", NULL, N_ACCOUNTS, "USD");
    db = itest_tenant_db(&t, NULL);
    itest_worker_start(&w1, "two_workers-1", 1, worker_env);
    wait_assigned(&w1, "12");
    itest_worker_start(&w2, "two_workers-2", 2, worker_env);
    wait_assigned(&w2, "6");
    wait_assigned(&w1, "6");

    memset(&flow, 0, sizeof flow);
    itest_fund_accounts(&t, N_ACCOUNTS, FUND, &flow.accepted);
    flow.t = &t;
    flow.n_accounts = N_ACCOUNTS;
    flow.n_commands = N_TRANSFERS;
    flow.n_threads = N_THREADS;
    flow.paced_ms = FLOW_MS;
    flow.max_amount_minor = 4000;
    itest_flow_start(&flow);

    itest_sleep_ms(3000);
    stop_one(&w2, &w1, started);
    itest_sleep_ms(1500);
    start_again(&w2, &w1, started);
    itest_sleep_ms(1500);
    stop_one(&w1, &w2, started);
    itest_sleep_ms(1500);
    start_again(&w1, &w2, started);

    itest_flow_join(&flow);
    flow_ended = itest_now_ms();
    recorded = itest_wait_recorded(db, (int)flow.accepted.n, 120000);
    CHECK(recorded == (int)flow.accepted.n, "%d of %zu accepted commands recorded after 120 s",
          recorded, flow.accepted.n);
    rc1 = itest_worker_stop(&w1, 30000);
    rc2 = itest_worker_stop(&w2, 30000);
    CHECK(rc1 == 0 && rc2 == 0, "the workers exited %d and %d on SIGTERM", rc1, rc2);
    itest_workers_check_logs();

    itest_check_exactly_once(&t, db, &flow.accepted, (int64_t)N_ACCOUNTS * FUND_MINOR, &f);
    printf("two workers: %d accepted (%d transfers, %d retried after a 503), 2 SIGTERMs and 4"
           " rebalances under load, %d COMPLETED, %d FAILED, %d duplicate result(s),"
           " %d duplicate entry event(s), 0 lost\n",
           f.accepted, flow.n_accepted, flow.n_retried_503, f.completed, f.failed,
           f.result_duplicates, f.entry_duplicates);
    printf("two workers: flow %lld ms, total %lld ms\n",
           (long long)(flow_ended - flow.started_ms), (long long)(itest_now_ms() - started));
    PQfinish(db);
    itest_idset_free(&flow.accepted);
    printf("1 passed, 0 failed\n");
    return 0;
}
