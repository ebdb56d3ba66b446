/*
 * The bank test: sixteen client threads post random transfers among five accounts of one tenant
 * (both directions between the same pairs; two accounts may use an overdraft) as fast as the API
 * takes them, while two workers apply them concurrently - transfers A->B and B->A have different
 * keys, so they land on different partitions and often on different workers, and only one lock
 * order keeps those from deadlocking. Meanwhile a reader takes the sum of the customer balances in
 * one snapshot, again and again: money is only moved, so the sum must always be what was
 * deposited, and no account may ever be below its minimum balance less its overdraft limit.
 * No client gets a 5xx; every failure is INSUFFICIENT_FUNDS (never a processing error or a
 * deadlock); the workers never retried on a deadlock; and everything is exactly once.
 */
#include "itest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_PLAIN 3
#define N_OVERDRAFT 2
#define N_ACCOUNTS (N_PLAIN + N_OVERDRAFT)
#define N_THREADS 16
#define N_TRANSFERS (N_THREADS * 200)
#define FUND "500.00"
#define FUND_MINOR 50000

typedef struct {
    const itest_tenant *t;
    int64_t funded;
    volatile int stop;
    int reads;
    int64_t lowest; /* the lowest balance any read saw */
} reader;

static void *read_snapshots(void *arg)
{
    reader *r = arg;
    PGconn *db = itest_tenant_db(r->t, NULL);
    r->lowest = INT64_MAX;
    while (!r->stop) {
        /* One statement: one snapshot of every customer account. */
        PGresult *res = PQexec(
            db, "SELECT (sum(balance) * 100)::bigint,"
                " count(*) FILTER (WHERE balance < minimum_balance - overdraft_limit"
                "   OR available_balance < minimum_balance - overdraft_limit),"
                " (min(balance) * 100)::bigint"
                " FROM accounts WHERE gl_code = '2000'");
        int64_t sum, lowest;
        int broken;
        CHECK(PQresultStatus(res) == PGRES_TUPLES_OK, "snapshot: %s", PQerrorMessage(db));
        sum = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        broken = atoi(PQgetvalue(res, 0, 1));
        lowest = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        PQclear(res);
        r->reads++;
        CHECK(sum == r->funded, "read %d: the customer balances sum to %lld, funded %lld",
              r->reads, (long long)sum, (long long)r->funded);
        CHECK(broken == 0, "read %d: %d account(s) below minimum balance - overdraft limit",
              r->reads, broken);
        if (lowest < r->lowest)
            r->lowest = lowest;
        itest_sleep_ms(5);
    }
    PQfinish(db);
    return NULL;
}

static void wait_assigned(itest_worker *w, const char *share)
{
    char text[64];
    snprintf(text, sizeof text, "assigned %s partition", share);
    CHECK(itest_worker_wait_log(w, text, 60000), "worker %s: no \"%s\" in 60 s (log: %s)",
          w->name, text, w->log);
}

int main(void)
{
    itest_tenant t;
    itest_worker w1, w2;
    itest_flow flow;
    itest_eo_figures f;
    reader rd;
    pthread_t reader_thread;
    PGconn *db;
    PGresult *res;
    char *v;
    int64_t started = itest_now_ms(), flow_ended;
    int recorded, rc1, rc2, deadlocks, db_retries;

    /* A new tenant: the checks need only what is published from here on. */
    itest_consume_mark("txn.results");
    itest_consume_mark("ledger.entries");
    itest_tenant_create(&t, "it-bank", NULL, N_PLAIN, "USD");
    for (int i = 0; i < N_OVERDRAFT; i++)
        itest_account_add(&t, "USD", "100.00");
    db = itest_tenant_db(&t, NULL);
    itest_worker_start(&w1, "bank-1", 1, NULL);
    wait_assigned(&w1, "12");
    itest_worker_start(&w2, "bank-2", 2, NULL);
    wait_assigned(&w2, "6");
    wait_assigned(&w1, "6");

    memset(&flow, 0, sizeof flow);
    itest_fund_accounts(&t, N_ACCOUNTS, FUND, &flow.accepted);

    memset(&rd, 0, sizeof rd);
    rd.t = &t;
    rd.funded = (int64_t)N_ACCOUNTS * FUND_MINOR;
    CHECK(pthread_create(&reader_thread, NULL, read_snapshots, &rd) == 0, "pthread_create");

    flow.t = &t;
    flow.n_accounts = N_ACCOUNTS;
    flow.n_commands = N_TRANSFERS;
    flow.n_threads = N_THREADS;
    flow.paced_ms = 0;
    flow.max_amount_minor = 15000;
    flow.fail_on_5xx = 1;
    itest_flow_start(&flow);
    itest_flow_join(&flow);
    flow_ended = itest_now_ms();
    recorded = itest_wait_recorded(db, (int)flow.accepted.n, 120000);
    CHECK(recorded == (int)flow.accepted.n, "%d of %zu accepted commands recorded after 120 s",
          recorded, flow.accepted.n);
    rd.stop = 1;
    pthread_join(reader_thread, NULL);

    rc1 = itest_worker_stop(&w1, 30000);
    rc2 = itest_worker_stop(&w2, 30000);
    CHECK(rc1 == 0 && rc2 == 0, "the workers exited %d and %d on SIGTERM", rc1, rc2);
    itest_workers_check_logs();
    deadlocks = itest_worker_log_count(&w1, "deadlock") + itest_worker_log_count(&w2, "deadlock");
    db_retries =
        itest_worker_log_count(&w1, "applying ") + itest_worker_log_count(&w2, "applying ");

    /* Every failure is a business failure the client can act on: insufficient funds. */
    res = PQexec(db, "SELECT coalesce(failure_code, '?'), count(*) FROM transactions"
                     " WHERE status = 'FAILED' GROUP BY 1 ORDER BY 2 DESC");
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK, "failures: %s", PQerrorMessage(db));
    for (int r = 0; r < PQntuples(res); r++) {
        printf("bank: %s transfer(s) FAILED with %s\n", PQgetvalue(res, r, 1),
               PQgetvalue(res, r, 0));
        CHECK(strcmp(PQgetvalue(res, r, 0), "INSUFFICIENT_FUNDS") == 0,
              "%s transaction(s) FAILED with %s", PQgetvalue(res, r, 1), PQgetvalue(res, r, 0));
    }
    PQclear(res);
    v = itest_sql_value(db, "SELECT count(*)::text FROM transactions WHERE failure_reason ILIKE"
                            " '%deadlock%' OR failure_reason ILIKE '%serializ%'", NULL);
    CHECK(strcmp(v, "0") == 0, "%s transaction(s) failed on a deadlock", v);
    free(v);
    v = itest_sql_value(db, "SELECT count(*)::text FROM accounts WHERE gl_code = '2000'"
                            " AND balance < 0", NULL);
    printf("bank: %s account(s) end in their overdraft; the lowest balance seen was %.2f\n", v,
           (double)rd.lowest / 100.0);
    free(v);
    CHECK(deadlocks == 0, "the workers' logs report %d deadlock(s)", deadlocks);

    itest_check_exactly_once(&t, db, &flow.accepted, rd.funded, &f);
    printf("bank: %d transfers from %d clients over %d accounts in %lld ms (%.0f/s accepted),"
           " 0 5xx, %d COMPLETED, %d FAILED, %d consistent snapshot reads, %d duplicate(s),"
           " 0 lost, %d deadlock(s), %d database retry(ies); total %lld ms\n",
           flow.n_accepted, N_THREADS, N_ACCOUNTS, (long long)(flow_ended - flow.started_ms),
           flow.n_accepted * 1000.0 / (double)(flow_ended - flow.started_ms + 1), f.completed,
           f.failed, rd.reads, f.result_duplicates + f.entry_duplicates, deadlocks, db_retries,
           (long long)(itest_now_ms() - started));
    PQfinish(db);
    itest_idset_free(&flow.accepted);
    printf("1 passed, 0 failed\n");
    return 0;
}
