/*
 * Scenario: the network between the workers and PostgreSQL, then between everything and Kafka,
 * is cut (iptables DROP on the loopback port: a black hole, where connections hang rather than
 * fail) and restored. Two tenants, one on each PostgreSQL server, post transfers through the
 * stack's API to two workers (LEDGER_PG_TCP_USER_TIMEOUT_MS=3000).
 *
 *   1. A test connection locks the customer accounts of the tenant on the second server, so a
 *      worker's statement is surely waiting for its answer; then the second server's port is
 *      cut, and the server side of every connection to it is destroyed (ss -K: the server's
 *      host forgot them, as after a crash or a middlebox's time-out; the clients hear nothing
 *      during the cut). A connection without keepalives would wait for that answer for ever.
 *      The workers must notice within the cut (their log says the connection timed out) and,
 *      once the cut is healed after 8 s, carry on: a new transfer completes.
 *   2. The broker's port is cut for 8 s (the API's producer too: it answers 503 or nothing, and
 *      the clients retry with the same Idempotency-Key), then healed.
 *
 * Afterwards every accepted command has exactly one outcome and every event appears once.
 * Needs root (iptables); skipped (77) otherwise. Every rule is in the chain
 * ledger-chaos-<LEDGER_PG_PORT>, removed at exit whatever happens (and by scripts/test.sh).
 */
#include "chaos.h"

#include <stdio.h>
#include <stdlib.h>

#define CUT_MS 8000
/* libpq's words for an established connection that tcp_user_timeout or keepalives closed. */
#define LOST "could not receive data from server"

static const char *const worker_env[] = {"LEDGER_RDKAFKA_SESSION_TIMEOUT_MS=6000",
                                         "LEDGER_PG_TCP_USER_TIMEOUT_MS=3000", NULL};

static void restore_network(void)
{
    chaos_sh("net-restore", NULL);
}

/* Lines with text in the logs of the scenario's workers. */
static int workers_log_count(const chaos_run *c, const char *text)
{
    int n = 0;
    for (int w = 0; w < c->cfg.n_workers; w++)
        n += itest_worker_log_count(&c->worker[w], text);
    return n;
}

/* Backends of the tenant's database waiting for a lock (polled from db). */
static int lock_waiters(PGconn *db)
{
    char *v = itest_sql_value(db,
                              "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                              "current_database() AND wait_event_type = 'Lock'",
                              NULL);
    int n = (int)strtol(v, NULL, 10);
    free(v);
    return n;
}

int main(void)
{
    chaos_run c;
    const chaos_config cfg = {
        .name = "net_cut",
        .n_tenants = 2,
        .n_accounts = 6,
        .commands_per_tenant = 160,
        .flow_ms = 16000,
        .threads_per_tenant = 2,
        .retry_ms = 120000,
        .retry_unanswered = 1,
        .resend_every = 25,
        .n_workers = 2,
        .worker_env = worker_env,
    };
    PGconn *lock;
    int64_t t0, healed, waited, pg_recover, kafka_recover;
    int timeouts_before, timeouts_cut;

    if (chaos_sh("net-check", NULL) != 0) {
        printf("net_cut: skipped (needs root, iptables and ss)\n");
        return 77;
    }
    restore_network();
    atexit(restore_network);
    chaos_setup(&c, &cfg);
    chaos_flow_start(&c);
    itest_sleep_ms(1000);

    /* 1. PostgreSQL (the second server) */
    lock = itest_tenant_db(&c.tenant[1], "LEDGER_ADMIN_DSN_2");
    itest_sql_exec(lock, "BEGIN", NULL);
    itest_sql_exec(lock, "SELECT 1 FROM accounts WHERE account_type <> 'INTERNAL' FOR UPDATE",
                   NULL);
    t0 = itest_now_ms();
    while (lock_waiters(c.db[1]) == 0) {
        CHECK(itest_now_ms() - t0 < 30000, "no worker statement waits for the locked accounts");
        itest_sleep_ms(100);
    }
    waited = itest_now_ms() - t0;
    timeouts_before = workers_log_count(&c, LOST);
    t0 = itest_now_ms();
    CHECK(chaos_sh("net-cut", "pg-second", NULL) == 0, "scripts/chaos.sh net-cut failed");
    CHECK(chaos_sh("net-forget", "pg-second", NULL) == 0, "scripts/chaos.sh net-forget failed");
    c.faults++;
    printf("net_cut: a worker statement waited on the lock after %lld ms; port of the second "
           "server cut, its connections forgotten\n",
           (long long)waited);
    itest_sleep_ms(CUT_MS);
    timeouts_cut = workers_log_count(&c, LOST) - timeouts_before;
    CHECK(chaos_sh("net-heal", "pg-second", NULL) == 0, "scripts/chaos.sh net-heal failed");
    healed = itest_now_ms();
    printf("net_cut: second server cut for %lld ms; %d worker log lines of a lost "
           "connection during the cut\n",
           (long long)(healed - t0), timeouts_cut);
    CHECK(timeouts_cut > 0,
          "no worker noticed within %d ms that its PostgreSQL connection went silent "
          "(keepalives, tcp_user_timeout)",
          CUT_MS);
    PQfinish(lock); /* its server side is gone */
    PQreset(c.db[1]);
    CHECK(PQstatus(c.db[1]) == CONNECTION_OK, "reconnecting to the second server: %s",
          PQerrorMessage(c.db[1]));
    pg_recover = chaos_recovered(&c, 1, healed, 60000);
    printf("net_cut: second server healed; first transfer through %lld ms later\n",
           (long long)pg_recover);

    /* 2. Kafka */
    itest_sleep_ms(1000);
    t0 = itest_now_ms();
    CHECK(chaos_sh("net-cut", "kafka", NULL) == 0, "scripts/chaos.sh net-cut failed");
    c.faults++;
    itest_sleep_ms(CUT_MS);
    CHECK(chaos_sh("net-heal", "kafka", NULL) == 0, "scripts/chaos.sh net-heal failed");
    healed = itest_now_ms();
    printf("net_cut: broker cut for %lld ms, %lld ms into the flow\n", (long long)(healed - t0),
           (long long)(t0 - c.flow[0].started_ms));
    kafka_recover = chaos_recovered(&c, 0, healed, 90000);
    printf("net_cut: broker healed; first transfer through %lld ms later\n",
           (long long)kafka_recover);

    chaos_finish(&c);
    restore_network();
    printf("net_cut: recover_ms postgresql=%lld kafka=%lld\n", (long long)pg_recover,
           (long long)kafka_recover);
    printf("1 passed, 0 failed\n");
    return 0;
}
