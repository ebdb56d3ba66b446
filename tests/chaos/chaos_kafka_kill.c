/*
 * Scenario 2: the Kafka broker is SIGKILLed under load and started again. Four tenants (two per
 * PostgreSQL server) post transfers through the stack's API to two workers. While the broker is
 * gone the API answers 503 (never 202: nothing is accepted that is not durable), the clients
 * retry with the same Idempotency-Key, and the workers' transactions in flight abort. After the
 * restart every accepted command has exactly one outcome and every event appears once.
 */
#include "chaos.h"

#include <stdio.h>

static const char *const worker_env[] = {"LEDGER_RDKAFKA_SESSION_TIMEOUT_MS=6000", NULL};

int main(void)
{
    chaos_run c;
    const chaos_config cfg = {
        .name = "kafka_kill",
        .n_tenants = 4,
        .n_accounts = 6,
        .commands_per_tenant = 200,
        .flow_ms = 14000,
        .threads_per_tenant = 2,
        .retry_ms = 90000, /* the broker's restart takes 10-20 s */
        .resend_every = 25,
        .n_workers = 2,
        .worker_env = worker_env,
    };
    int64_t t0, down_ms;

    chaos_setup(&c, &cfg);
    chaos_flow_start(&c);
    itest_sleep_ms(4000);
    t0 = itest_now_ms();
    CHECK(chaos_sh("kafka-kill", NULL) == 0, "scripts/chaos.sh kafka-kill failed");
    c.faults++;
    printf("kafka_kill: broker SIGKILLed %lld ms into the flow\n",
           (long long)(t0 - c.flow[0].started_ms));
    itest_sleep_ms(3000);
    CHECK(chaos_sh("kafka-start", NULL) == 0, "scripts/chaos.sh kafka-start failed");
    down_ms = itest_now_ms() - t0;
    printf("kafka_kill: broker back after %lld ms; first transfer through %lld ms later\n",
           (long long)down_ms,
           (long long)chaos_recovered(&c, 1, itest_now_ms(), 120000));
    chaos_finish(&c);
    printf("1 passed, 0 failed\n");
    return 0;
}
