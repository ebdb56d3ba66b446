/*
 * Scenario: the worker dies in the gap between its PostgreSQL COMMIT and its Kafka commit, over
 * and over. Two tenants (one on each PostgreSQL server) post transfers through the stack's API
 * to two workers. Each worker runs with the test-only fault point
 * LEDGER_FAULT_WORKER_CRASH_AFTER_PG_COMMIT=N (N random, 1 to 3): after the PostgreSQL COMMIT of
 * its N-th batch, with the batch's events produced into the open Kafka transaction and flushed
 * to the broker, it _exit()s - no Kafka abort, no offsets, no clean-up, as a SIGKILL would leave
 * it. The test restarts it at once with a new N, until the workers have died there at least
 * MIN_DEATHS times; then they run without the fault.
 *
 * Every death leaves a batch recorded in PostgreSQL whose offsets Kafka never got: the
 * restarted instance (same transactional id, so init_transactions fences its former self and
 * aborts the open transaction with the batch's events) is given the same commands again, finds
 * them recorded, and must re-emit their recorded outcome instead of applying them a second
 * time. chaos_finish checks one row, one result and one entry event each, for read_committed
 * consumers, and the money.
 *
 * The workers are static members of the consumer group (group.instance.id): a restarted
 * instance takes its partitions back at once instead of waiting for the dead member's session
 * to time out, so many deaths fit in a short run.
 */
#include "chaos.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_DEATHS 18
#define DEATH_LOOP_MS 60000
#define FAULT_EXIT_CODE 86 /* WK_FAULT_EXIT_CODE of src/ledger-worker/fault.h */
#define FAULT_LINE "exiting after the PostgreSQL COMMIT of batch"

static char crash_setting[2][96];
static const char *worker_env[2][5] = {
    {"LEDGER_RDKAFKA_GROUP_INSTANCE_ID=chaos-commit-gap-1",
     "LEDGER_RDKAFKA_SESSION_TIMEOUT_MS=6000", "LEDGER_RDKAFKA_HEARTBEAT_INTERVAL_MS=1000",
     crash_setting[0], NULL},
    {"LEDGER_RDKAFKA_GROUP_INSTANCE_ID=chaos-commit-gap-2",
     "LEDGER_RDKAFKA_SESSION_TIMEOUT_MS=6000", "LEDGER_RDKAFKA_HEARTBEAT_INTERVAL_MS=1000",
     crash_setting[1], NULL},
};

static void arm(int w, int batch)
{
    snprintf(crash_setting[w], sizeof crash_setting[w],
             "LEDGER_FAULT_WORKER_CRASH_AFTER_PG_COMMIT=%d", batch);
}

/* The messages of the batch a worker died with: "(K command(s))" of the fault line in its log
 * after `from`; -1 when the line is missing. */
static int fault_batch_size(const itest_worker *w, long from)
{
    FILE *f = fopen(w->log, "r");
    char *line = NULL;
    size_t cap = 0;
    int k = -1;
    CHECK(f != NULL, "opening %s", w->log);
    fseek(f, from, SEEK_SET);
    while (getline(&line, &cap, f) > 0) {
        const char *at = strstr(line, FAULT_LINE);
        const char *paren = at != NULL ? strchr(at, '(') : NULL;
        if (paren != NULL)
            k = (int)strtol(paren + 1, NULL, 10);
    }
    free(line);
    fclose(f);
    return k;
}

int main(void)
{
    chaos_run c;
    const chaos_config cfg = {
        .name = "commit_gap",
        .n_tenants = 2,
        .n_accounts = 6,
        .commands_per_tenant = 320,
        .flow_ms = 18000,
        .threads_per_tenant = 2,
        .retry_ms = 30000,
        .resend_every = 30,
        .n_workers = 1, /* for the set-up; replaced by the two static members below */
        .worker_env = NULL,
    };
    int deaths = 0, redelivered = 0, stopped_at_fault = 0;
    long log_from[2];
    int64_t loop_started, last_restart = 0, last_probe = 0;
    int64_t died_at[2] = {0, 0}, rejoin_max = 0, rejoin_sum = 0;
    int rejoins = 0;

    chaos_setup(&c, &cfg);
    /* The set-up's worker leaves the group cleanly; then two static members take over. */
    CHECK(itest_worker_stop(&c.worker[0], 30000) == 0, "set-up worker did not stop cleanly");
    for (int w = 0; w < 2; w++) {
        char name[64];
        snprintf(name, sizeof name, "chaos_commit_gap-%d", w + 1);
        arm(w, 1 + (int)randombytes_uniform(3));
        itest_worker_start(&c.worker[w], name, w + 1, worker_env[w]);
        log_from[w] = chaos_log_size(&c.worker[w]);
    }
    c.cfg.n_workers = 2;
    for (int w = 0; w < 2; w++)
        chaos_wait_assigned(&c.worker[w], "6");

    chaos_flow_start(&c);
    loop_started = itest_now_ms();
    while (deaths < MIN_DEATHS) {
        int idle = 1;
        CHECK(itest_now_ms() - loop_started < DEATH_LOOP_MS,
              "only %d deaths at the fault point in %d ms", deaths, DEATH_LOOP_MS);
        for (int w = 0; w < 2; w++) {
            int rc = itest_worker_exited(&c.worker[w]), k;
            /* From a death to the restarted instance holding its partitions again. */
            if (rc < 0 && died_at[w] != 0 &&
                chaos_log_has(&c.worker[w], log_from[w], "assigned ")) {
                int64_t took = itest_now_ms() - died_at[w];
                rejoin_max = took > rejoin_max ? took : rejoin_max;
                rejoin_sum += took;
                rejoins++;
                died_at[w] = 0;
            }
            if (rc < 0)
                continue;
            idle = 0;
            CHECK(rc == FAULT_EXIT_CODE, "worker %s exited %d, not at the fault point (log: %s)",
                  c.worker[w].name, rc, c.worker[w].log);
            k = fault_batch_size(&c.worker[w], log_from[w]);
            CHECK(k > 0, "worker %s exited %d without the fault's log line (log: %s)",
                  c.worker[w].name, rc, c.worker[w].log);
            deaths++;
            redelivered += k;
            died_at[w] = itest_now_ms();
            arm(w, deaths >= MIN_DEATHS ? 0 : 1 + (int)randombytes_uniform(3));
            itest_worker_restart(&c.worker[w]);
            log_from[w] = chaos_log_size(&c.worker[w]);
            last_restart = itest_now_ms();
        }
        /* Keep commands coming after the flows end, so the armed workers reach their batch. */
        if (idle && chaos_flows_done(&c) && itest_now_ms() - last_probe > 200) {
            chaos_probe_send(&c, (int)randombytes_uniform((uint32_t)cfg.n_tenants));
            last_probe = itest_now_ms();
        } else if (idle) {
            itest_sleep_ms(20);
        }
    }
    c.faults = deaths;
    /* A worker still armed is replaced by an unarmed one. */
    for (int w = 0; w < 2; w++) {
        int rc;
        if (strcmp(crash_setting[w], "LEDGER_FAULT_WORKER_CRASH_AFTER_PG_COMMIT=0") == 0)
            continue;
        /* It may die at the fault point first, or be ended by the signal while it starts
         * (before its handler is in place): both leave what a crash leaves. */
        rc = itest_worker_stop(&c.worker[w], 30000);
        CHECK(rc == 0 || rc == FAULT_EXIT_CODE || rc == 128 + SIGTERM,
              "worker %s exited %d on SIGTERM", c.worker[w].name, rc);
        if (rc == FAULT_EXIT_CODE) {
            stopped_at_fault++;
            redelivered += fault_batch_size(&c.worker[w], log_from[w]);
        }
        arm(w, 0);
        itest_worker_restart(&c.worker[w]);
        last_restart = itest_now_ms();
    }
    c.faults += stopped_at_fault;
    printf("commit_gap: %d deaths at the fault point in %lld ms; %d command message(s) were "
           "committed in PostgreSQL but not in Kafka, and delivered again\n",
           c.faults, (long long)(itest_now_ms() - loop_started), redelivered);
    CHECK(rejoins > 0, "no restarted worker was seen taking its partitions back");
    printf("commit_gap: a restarted worker held its partitions again %lld ms after the death "
           "on average, %lld ms at most (%d measured)\n",
           (long long)(rejoin_sum / rejoins), (long long)rejoin_max, rejoins);
    printf("commit_gap: first transfer through %lld ms after the last restart\n",
           (long long)chaos_recovered(&c, 0, last_restart, 120000));
    chaos_finish(&c);
    printf("commit_gap: deaths_at_fault_point=%d redelivered_recorded=%d\n", c.faults,
           redelivered);
    printf("1 passed, 0 failed\n");
    return 0;
}
