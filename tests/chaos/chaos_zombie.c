/*
 * Scenario: a zombie worker. Two tenants (one on each PostgreSQL server) post transfers
 * through the stack's API to two workers whose consumers run with a short session (6 s, the
 * broker's minimum) and max.poll.interval.ms (7 s). Three times, one worker is frozen
 * mid-batch with SIGSTOP - by the test-only fault point LEDGER_FAULT_WORKER_STOP_FILE, so that
 * it stops at a known point of a batch:
 *
 *   1. worker 1 at after-pg: the batch is COMMITted in PostgreSQL and its events are in an
 *      open Kafka transaction, flushed to the broker; offsets not sent, nothing committed.
 *   2. worker 2 at before-pg: the batch is polled, nothing of it applied yet; its PostgreSQL
 *      writes come late, after the other worker has applied the same commands.
 *   3. worker 1 at in-pg: inside the batch's PostgreSQL transaction, holding the row locks of
 *      its accounts, nothing written. The other worker's batches need those locks: the
 *      server must end the frozen session (LEDGER_WORKER_IDLE_IN_TRANSACTION_TIMEOUT_MS, 3 s
 *      here, below max.poll.interval.ms) or the other worker waits behind them, overruns its
 *      own max.poll.interval.ms and nothing takes the partitions over.
 *
 * While it is frozen, its session times out; the other worker must be given all 12 partitions
 * and record every command accepted so far (the zombie's batch included) and a probe transfer
 * must go through. Then the zombie gets SIGCONT and carries on where it stopped: its late
 * PostgreSQL writes must find the commands recorded and change nothing, and its late Kafka
 * transaction must not commit (the group has a new generation: its offsets are refused, or the
 * broker already aborted the transaction after transaction.timeout.ms and fenced the producer),
 * so read_committed consumers never see its copies. The zombie's log after the wake-up is
 * printed. Both workers must then share the partitions again (6 each); a zombie that exits
 * instead is restarted by the test and reported. chaos_finish checks exactly-once and money.
 */
#include "chaos.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define STOP_FILE ITEST_LOG_DIR "/chaos_zombie.stop"

static const char *const worker_env[] = {
    "LEDGER_RDKAFKA_SESSION_TIMEOUT_MS=6000", "LEDGER_RDKAFKA_MAX_POLL_INTERVAL_MS=7000",
    "LEDGER_RDKAFKA_HEARTBEAT_INTERVAL_MS=1000", "LEDGER_FAULT_WORKER_STOP_FILE=" STOP_FILE,
    /* below max.poll.interval.ms, so that a zombie's row locks never hold the other worker
     * past it */
    "LEDGER_WORKER_IDLE_IN_TRANSACTION_TIMEOUT_MS=3000", NULL};

static void request_stop(const char *point, int instance)
{
    FILE *f = fopen(STOP_FILE ".tmp", "w");
    CHECK(f != NULL, "creating %s.tmp", STOP_FILE);
    fprintf(f, "%s %d\n", point, instance);
    CHECK(fclose(f) == 0, "writing %s.tmp", STOP_FILE);
    CHECK(rename(STOP_FILE ".tmp", STOP_FILE) == 0, "renaming to %s", STOP_FILE);
}

int main(void)
{
    static const struct {
        int zombie;
        const char *point;
    } rounds[] = {{0, "after-pg"}, {1, "before-pg"}, {0, "in-pg"}};
    chaos_run c;
    const chaos_config cfg = {
        .name = "zombie",
        .n_tenants = 2,
        .n_accounts = 6,
        .commands_per_tenant = 360,
        .flow_ms = 30000,
        .threads_per_tenant = 2,
        .retry_ms = 30000,
        .resend_every = 30,
        .n_workers = 2,
        .worker_env = worker_env,
    };
    int restarted = 0;

    unlink(STOP_FILE);
    chaos_setup(&c, &cfg);
    chaos_flow_start(&c);
    itest_sleep_ms(1000);
    for (size_t r = 0; r < sizeof rounds / sizeof rounds[0]; r++) {
        itest_worker *z = &c.worker[rounds[r].zombie], *o = &c.worker[1 - rounds[r].zombie];
        int64_t asked = itest_now_ms(), t_stop, taken_ms, recovered_ms, frozen_ms, last_probe = 0;
        long zlog;
        int waited, rc = -1;

        /* 1. Freeze the zombie at its next batch's fault point. */
        request_stop(rounds[r].point, z->instance);
        while (!chaos_worker_stopped(z)) {
            CHECK(itest_now_ms() - asked < 30000, "worker %s did not stop at %s in 30 s",
                  z->name, rounds[r].point);
            CHECK(itest_worker_exited(z) < 0, "worker %s exited (log: %s)", z->name, z->log);
            if (chaos_flows_done(&c) && itest_now_ms() - last_probe > 200) {
                chaos_probe_send(&c, (int)(r % (size_t)cfg.n_tenants));
                last_probe = itest_now_ms();
            }
            itest_sleep_ms(10);
        }
        t_stop = itest_now_ms();
        c.faults++;
        zlog = chaos_log_size(z);
        printf("zombie round %zu: worker %s stopped at %s\n", r + 1, z->name, rounds[r].point);

        /* 2. Its session times out; the other worker takes everything and catches up. */
        chaos_wait_assigned(o, "12");
        taken_ms = itest_now_ms() - t_stop;
        waited = chaos_wait_accepted_recorded(&c, 60000);
        recovered_ms = chaos_recovered(&c, (int)(r % (size_t)cfg.n_tenants), t_stop, 60000);
        CHECK(chaos_worker_stopped(z), "worker %s is no longer stopped", z->name);
        frozen_ms = itest_now_ms() - t_stop;
        printf("zombie round %zu: worker %s took the 12 partitions after %lld ms; %d accepted "
               "commands recorded and a new transfer COMPLETED %lld ms after the stop\n",
               r + 1, o->name, (long long)taken_ms, waited, (long long)recovered_ms);

        /* 3. Wake the zombie; it must do no harm and come back (or exit cleanly). */
        CHECK(kill(z->pid, SIGCONT) == 0, "SIGCONT");
        printf("zombie round %zu: SIGCONT after %lld ms frozen\n", r + 1, (long long)frozen_ms);
        for (int64_t woke = itest_now_ms();;) {
            rc = itest_worker_exited(z);
            if (rc >= 0 || chaos_log_has(z, zlog, "assigned 6 partition"))
                break;
            CHECK(itest_now_ms() - woke < 60000,
                  "worker %s neither rejoined nor exited 60 s after SIGCONT (log: %s)", z->name,
                  z->log);
            itest_sleep_ms(50);
        }
        printf("zombie round %zu: what %s logged when it woke up:\n", r + 1, z->name);
        chaos_print_log(z, zlog, "  | ", 40);
        if (rc >= 0) {
            printf("zombie round %zu: worker %s exited %d after waking; restarted\n", r + 1,
                   z->name, rc);
            CHECK(rc == 0 || rc == 1, "worker %s ended by a signal or a crash (%d)", z->name, rc);
            itest_worker_restart(z);
            restarted++;
        }
        CHECK(chaos_log_has(z, zlog, "fault injection: resumed") || rc >= 0,
              "worker %s: no \"resumed\" line", z->name);
        /* Frozen inside its PostgreSQL transaction, the zombie lost its session to the
         * server's idle-in-transaction timeout; its late writes were redone. */
        CHECK(strcmp(rounds[r].point, "in-pg") != 0 || rc >= 0 ||
                  chaos_log_has(z, zlog, "idle-in-transaction timeout"),
              "worker %s: its frozen PostgreSQL session was not ended (log: %s)", z->name,
              z->log);
        /* The zombie's late Kafka transaction must have failed (its offsets refused for the
         * group's new generation, or its producer fenced), never committed. */
        CHECK(chaos_log_has(z, zlog, "Kafka transaction: ") || rc >= 0,
              "worker %s: its late Kafka transaction did not fail (log: %s)", z->name, z->log);
        /* Both workers hold 6 partitions again. */
        chaos_wait_assigned(o, "6");
        if (rc >= 0)
            chaos_wait_assigned(z, "6");
        z->log_seen = chaos_log_size(z);
    }
    printf("zombie: %d zombie(s) restarted by the test, %d rejoined by themselves\n", restarted,
           (int)(sizeof rounds / sizeof rounds[0]) - restarted);
    chaos_finish(&c);
    printf("1 passed, 0 failed\n");
    return 0;
}
