/*
 * Chaos scenario: producer-api SIGKILLed mid-request. The test runs a producer-api of its own
 * (port LEDGER_API_PORT + 5) and points its clients at it; four tenants (two per PostgreSQL
 * server), four client threads each, post transfers to it, which two workers apply. Every
 * 2-3.5 s the API is SIGKILLed - with requests in flight at every stage: reading the body,
 * claiming the Idempotency-Key in the tenant database, waiting for Kafka's acknowledgement,
 * answering - and started again at once: N_KILLS times, plus one graceful stop (SIGTERM, the
 * STOP_AT-th fault) under the same load and a burst of BURST more requests, some held in their
 * Idempotency-Key claim (the test locks tenant 0's idempotency_records) until the API has
 * flushed Kafka: it must answer or refuse them all and exit cleanly with no sanitizer report. A
 * client whose request got no answer (reset, refused) retries it with the same Idempotency-Key
 * until it is answered 202 (or 200 once the command is recorded), as the API's contract allows: the
 * command may already be claimed, or even in Kafka, from the unanswered attempt, and must still
 * take effect once. chaos_finish checks that every accepted command has exactly one outcome and one
 * set of events, and that the tenant databases hold no transaction that was not accepted (an
 * unanswered attempt applied under another id than its retry's would be one).
 */
#include "chaos.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_KILLS 5
#define STOP_AT 3 /* the third fault is a SIGTERM */

static const char *const worker_env[] = {"LEDGER_RDKAFKA_SESSION_TIMEOUT_MS=6000", NULL};

/* A producer-api stopped with SIGTERM logged its last line and no sanitizer report. Returns
 * how many requests it answered after it began to stop. */
static int check_clean_exit(const char *path)
{
    static const char *const reports[] = {"AddressSanitizer", "LeakSanitizer",
                                          "runtime error:", NULL};
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int stopping = 0, stopped = 0, answered = 0;
    CHECK(f != NULL, "opening %s", path);
    while (getline(&line, &cap, f) > 0) {
        answered += stopping && strstr(line, "\"route\":") != NULL;
        stopping |= strstr(line, "stopping: ") != NULL;
        stopped |= strstr(line, "producer-api stopped") != NULL;
        for (int r = 0; reports[r] != NULL; r++)
            CHECK(strstr(line, reports[r]) == NULL, "%s: %s", path, line);
    }
    free(line);
    fclose(f);
    CHECK(stopped, "%s: producer-api did not log its clean stop", path);
    return answered;
}

/* BURST transfers of tenant 0 posted as fast as BURST_THREADS threads can, retried like the
 * flows' (their keys apart from the flows': the slug in a key is the client's choice). */
#define BURST         160
#define BURST_THREADS 16
static void burst_start(chaos_run *c, itest_flow *b, itest_tenant *t)
{
    *t = c->tenant[0];
    snprintf(t->slug, sizeof t->slug, "%.50s-burst", c->tenant[0].slug);
    memset(b, 0, sizeof *b);
    b->t = t;
    b->n_accounts = c->cfg.n_accounts;
    b->n_commands = BURST;
    b->n_threads = BURST_THREADS;
    b->max_amount_minor = 4000;
    b->retry_ms = c->cfg.retry_ms;
    b->retry_unanswered = 1;
    itest_flow_start(b);
}

int main(void)
{
    chaos_run c;
    const chaos_config cfg = {
        .name = "api_kill",
        .n_tenants = 4,
        .n_accounts = 6,
        .commands_per_tenant = 250,
        .flow_ms = 24000,
        .threads_per_tenant = 4,
        .retry_ms = 60000,
        .retry_unanswered = 1,
        .resend_every = 25,
        .n_workers = 2,
        .worker_env = worker_env,
    };
    int port = (int)strtol(itest_env("LEDGER_API_PORT"), NULL, 10) + 5;
    int unanswered = 0, retried_503 = 0, answered_stopping = 0;
    int unanswered_burst = 0, retried_503_burst = 0;
    itest_tenant burst_tenant;
    itest_flow burst;
    char url[128], log[64], log_path[600];
    int64_t last_kill = 0, restarted_in = 0;

    memset(&burst, 0, sizeof burst);
    chaos_setup(&c, &cfg);
    snprintf(log, sizeof log, "chaos_api_kill-api-0.log");
    itest_api_start(PRODUCER_API_PATH, port, log, NULL, url, sizeof url);
    CHECK(setenv("LEDGER_API_URL", url, 1) == 0, "setenv");
    chaos_flow_start(&c);
    for (int k = 1; k <= N_KILLS + 1; k++) {
        int64_t t;
        itest_sleep_ms(2000 + (int)randombytes_uniform(1501));
        if (k != STOP_AT) {
            itest_api_kill();
        } else {
            /* A graceful stop (SIGTERM) with a burst of requests in flight: it must answer or
             * refuse them and exit cleanly. Tenant 0's idempotency records are locked meanwhile,
             * so that its requests are still claiming their keys when the API has flushed Kafka
             * and goes on stopping: they reach the producer only then. */
            itest_sql_exec(c.db[0], "BEGIN", NULL);
            itest_sql_exec(c.db[0], "LOCK TABLE idempotency_records IN SHARE MODE", NULL);
            burst_start(&c, &burst, &burst_tenant);
            itest_sleep_ms(300);
            itest_api_term();
            itest_sleep_ms(1000);
            itest_sql_exec(c.db[0], "COMMIT", NULL);
            itest_api_stop();
            snprintf(log_path, sizeof log_path, "%s/%s", ITEST_LOG_DIR, log);
            answered_stopping = check_clean_exit(log_path);
        }
        last_kill = itest_now_ms();
        c.faults++;
        snprintf(log, sizeof log, "chaos_api_kill-api-%d.log", k);
        itest_api_start(PRODUCER_API_PATH, port, log, NULL, url, sizeof url);
        t = itest_now_ms() - last_kill;
        restarted_in = t > restarted_in ? t : restarted_in;
        printf("api_kill: fault %d: %s %lld ms into the flow, answering again after %lld ms\n", k,
               k != STOP_AT ? "SIGKILL" : "SIGTERM", (long long)(last_kill - c.flow[0].started_ms),
               (long long)t);
        fflush(stdout);
    }
    printf("api_kill: after the last kill, a transfer completed in %lld ms (tenant on main) and"
           " %lld ms (on second)\n",
           (long long)chaos_recovered(&c, 0, last_kill, 60000),
           (long long)chaos_recovered(&c, 1, last_kill, 60000));
    for (int64_t deadline = itest_now_ms() + 120000;
         !chaos_flows_done(&c) || !itest_flow_done(&burst);) {
        CHECK(itest_now_ms() < deadline, "the flows did not end within 120 s of the last kill");
        itest_sleep_ms(100);
    }
    for (int i = 0; i < c.cfg.n_tenants; i++) {
        int u = 0, r = 0;
        itest_flow_counts(&c.flow[i], NULL, &r, &u);
        unanswered += u;
        retried_503 += r;
    }
    /* The burst's commands are checked with the probes (chaos_finish). */
    itest_flow_counts(&burst, NULL, &retried_503_burst, &unanswered_burst);
    itest_flow_join(&burst);
    for (size_t i = 0; i < burst.accepted.n; i++)
        itest_idset_add(&c.probes[0], burst.accepted.v[i].id, 0);
    itest_idset_free(&burst.accepted);
    unanswered += unanswered_burst;
    retried_503 += retried_503_burst;
    printf("api_kill: %d requests got no answer and were retried with their Idempotency-Key,"
           " %d were answered 5xx and retried; the API restarted in at most %lld ms; the"
           " instance stopped with SIGTERM answered %d requests while stopping (of a burst of %d:"
           " %d unanswered, %d answered 5xx)\n",
           unanswered, retried_503, (long long)restarted_in, answered_stopping, BURST,
           unanswered_burst, retried_503_burst);
    /* Each kill cuts the requests in flight and refuses those sent until the restart. */
    CHECK(unanswered >= N_KILLS, "only %d requests unanswered over %d kills", unanswered, N_KILLS);
    chaos_finish(&c);

    itest_api_stop();
    snprintf(log_path, sizeof log_path, "%s/%s", ITEST_LOG_DIR, log);
    (void)check_clean_exit(log_path);
    printf("1 passed, 0 failed\n");
    return 0;
}
