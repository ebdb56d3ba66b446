/*
 * Chaos scenario: the PostgreSQL server `second` is SIGKILLed under load (the postmaster, then
 * whatever backend outlives it: a crash, nothing flushed or shut down cleanly) and started
 * again after OUTAGE_MS; crash recovery replays its WAL. Four tenants post transfers through the
 * stack's API to two workers: tenants 0 and 2 live on `main`, 1 and 3 on `second`.
 *
 * While `second` is down:
 *   - the API keeps accepting (202) the transfers of the tenants on `main`, and reads them: its
 *     pools are per tenant, and a dead server costs only its own tenants (they get 503 and the
 *     clients retry with the same Idempotency-Key);
 *   - the workers cannot apply the batches that hold commands of `second`'s tenants: they
 *     retry them (the batch is the unit of the Kafka transaction and of the offsets) without
 *     losing or doubling anything; the commands of `main`'s tenants in those batches wait too
 *     (see the report below: head-of-line blocking of the partitions).
 * After the restart the API's and the workers' pools replace their dead connections, a transfer
 * for a tenant of `second` completes (recover_ms counts from the restart), and every accepted
 * command has exactly one outcome and one set of events (chaos_finish).
 */
#include "chaos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTAGE_MS 8000

static const char *const worker_env[] = {"LEDGER_RDKAFKA_SESSION_TIMEOUT_MS=6000", NULL};

static int recorded(PGconn *db)
{
    char *v = itest_sql_value(db, "SELECT count(*)::text FROM transactions", NULL);
    int n = atoi(v);
    free(v);
    return n;
}

static int flow_accepted(itest_flow *f)
{
    int n = 0;
    itest_flow_counts(f, &n, NULL, NULL);
    return n;
}

int main(void)
{
    chaos_run c;
    const chaos_config cfg = {
        .name = "pg_kill",
        .n_tenants = 4,
        .n_accounts = 6,
        .commands_per_tenant = 250,
        .flow_ms = 24000,
        .threads_per_tenant = 2,
        .retry_ms = 90000,
        .resend_every = 25,
        .n_workers = 2,
        .worker_env = worker_env,
    };
    static const int on_main[] = {0, 2}, on_second[] = {1, 3};
    int accepted_at_kill[4], recorded_at_kill[2], accepted_main = 0, recorded_main = 0;
    int retried_at_kill[4], retried_second = 0;
    char probe_key[128], probe_body[512], probe_id[64] = "";
    const char *probe_status = "";
    json_t *probe = NULL;
    int64_t t_kill, t_up, probe_ms = -1, took;
    long status;

    chaos_setup(&c, &cfg);
    chaos_flow_start(&c);
    itest_sleep_ms(5000);

    for (int i = 0; i < 4; i++)
        itest_flow_counts(&c.flow[i], &accepted_at_kill[i], &retried_at_kill[i], NULL);
    for (int k = 0; k < 2; k++)
        recorded_at_kill[k] = recorded(c.db[on_main[k]]);
    t_kill = itest_now_ms();
    CHECK(chaos_sh("pg-kill", "second", NULL) == 0, "scripts/chaos.sh pg-kill second failed");
    c.faults++;
    printf("pg_kill: server second SIGKILLed %lld ms into the flow (%lld ms to kill it and its "
           "backends)\n",
           (long long)(t_kill - c.flow[0].started_ms), (long long)(itest_now_ms() - t_kill));
    fflush(stdout);

    /* A probe transfer of a tenant on main while second is down: accepted at once, readable,
     * and (if the workers are not held up by second's tenants) completed. */
    snprintf(probe_key, sizeof probe_key, "%s-outage-probe", c.tenant[0].slug);
    snprintf(probe_body, sizeof probe_body,
             "{\"type\":\"TRANSFER\",\"amount\":\"0.01\",\"currency\":\"USD\","
             "\"fromAccount\":\"%s\",\"toAccount\":\"%s\",\"description\":\"outage probe\"}",
             c.tenant[0].account[0], c.tenant[0].account[1]);
    status = itest_post_txn_try(&c.tenant[0], probe_body, probe_key, probe_id, sizeof probe_id, 1);
    CHECK(status == 202, "a transfer of a tenant on main answered %ld while second was down",
          status);
    itest_idset_add(&c.probes[0], probe_id, 0);
    while (itest_now_ms() - t_kill < OUTAGE_MS) {
        json_decref(probe);
        probe = itest_wait_txn(&c.tenant[0], probe_id, 250);
        probe_status = itest_json_str(probe, "status");
        if (strcmp(probe_status, "PENDING") != 0) {
            if (probe_ms < 0)
                probe_ms = itest_now_ms() - t_kill;
            break;
        }
        itest_sleep_ms(250);
    }
    CHECK(strcmp(probe_status, "PENDING") == 0 || strcmp(probe_status, "COMPLETED") == 0,
          "the probe transfer of a tenant on main read %s", probe_status);
    probe_status = strcmp(probe_status, "COMPLETED") == 0 ? "COMPLETED" : "PENDING";
    json_decref(probe);
    {
        int64_t left = OUTAGE_MS - (itest_now_ms() - t_kill);
        if (left > 0)
            itest_sleep_ms((int)left);
    }

    for (int k = 0; k < 2; k++) {
        accepted_main += flow_accepted(&c.flow[on_main[k]]) - accepted_at_kill[on_main[k]];
        recorded_main += recorded(c.db[on_main[k]]) - recorded_at_kill[k];
    }
    for (int k = 0; k < 2; k++) {
        int retried = 0;
        itest_flow_counts(&c.flow[on_second[k]], NULL, &retried, NULL);
        retried_second += retried - retried_at_kill[on_second[k]];
    }
    t_up = itest_now_ms();
    CHECK(chaos_sh("pg-start", "second", NULL) == 0, "scripts/chaos.sh pg-start second failed");
    printf("pg_kill: second down %lld ms, started again in %lld ms; meanwhile the tenants on main"
           " had %d transfers accepted and %d outcomes recorded, the probe transfer %s%s; the"
           " tenants on second had %d requests refused (503) and retried\n",
           (long long)(t_up - t_kill), (long long)(itest_now_ms() - t_up), accepted_main,
           recorded_main, probe_status, probe_ms >= 0 ? " (in time)" : "", retried_second);
    fflush(stdout);
    CHECK(accepted_main > 0, "no transfer of a tenant on main accepted while second was down");
    CHECK(retried_second > 0, "no transfer of a tenant on second refused while it was down");

    /* The test's own connections to second died with it. */
    for (int k = 0; k < 2; k++) {
        PQreset(c.db[on_second[k]]);
        CHECK(PQstatus(c.db[on_second[k]]) == CONNECTION_OK, "reconnecting to second: %s",
              PQerrorMessage(c.db[on_second[k]]));
    }
    took = chaos_recovered(&c, 1, t_up, 90000);
    printf("pg_kill: a transfer of a tenant on second completed %lld ms after its server was "
           "started again; on main %lld ms\n",
           (long long)took, (long long)chaos_recovered(&c, 0, t_up, 90000));
    chaos_finish(&c);
    printf("1 passed, 0 failed\n");
    return 0;
}
