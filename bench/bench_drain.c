/*
 * bench_drain: how fast ledger-worker applies a backlog, with no HTTP in the way.
 *
 *   1. with the workers stopped, produce BENCH_COUNT TRANSFER commands to txn.commands exactly
 *      as producer-api would (transaction ids issued with the stack's key file, the API key's
 *      user as requester, key "<tenant>:<debited account>");
 *   2. run BENCH_START_CMD (bench.sh: start 1 or 2 workers);
 *   3. read txn.results (read_committed) until every command has its TransactionResult.
 *
 * The rate is results / (last result - first result), and the steady rate between the 10th and
 * the 90th percentile of arrivals (start-up and the last stragglers left out).
 *   BENCH_TENANTS_FILE  tenants and accounts (bench_common.h)   LEDGER_MASTER_KEY_FILE
 *   BENCH_COUNT (100000)  BENCH_HOT (0: uniform; 0.7: 70% debit one account per tenant)
 *   BENCH_RUN (a tag for unique idempotency keys)  BENCH_TIMEOUT (600 s)
 */
#include "bench_common.h"

#include "lg_avro.h"
#include "lg_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    long *failed = opaque;
    (void)rk;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
        (*failed)++;
}

int main(void)
{
    const char *brokers = bench_env_str("LEDGER_KAFKA_BROKERS", "127.0.0.1:9092");
    const char *tenants_file = bench_env_str("BENCH_TENANTS_FILE", NULL);
    const char *key_file = bench_env_str("LEDGER_MASTER_KEY_FILE", NULL);
    const char *start_cmd = bench_env_str("BENCH_START_CMD", NULL);
    const char *run = bench_env_str("BENCH_RUN", "drain");
    long count = bench_env_long("BENCH_COUNT", 100000);
    double hot = bench_env_double("BENCH_HOT", 0);
    long timeout_s = bench_env_long("BENCH_TIMEOUT", 600);
    char err[512];
    bench_tenant *tenants = NULL;
    int n_tenants = 0, rc = 1;
    lg_keyring *kr = NULL;
    rd_kafka_conf_t *conf;
    rd_kafka_t *p = NULL;
    bench_map map;
    bench_results_reader reader;
    long failed = 0;
    unsigned seed = 42;
    int64_t t_fill, t_start, deadline;
    size_t last_seen = 0;

    memset(&map, 0, sizeof map);
    memset(&reader, 0, sizeof reader);
    if (tenants_file == NULL || key_file == NULL || start_cmd == NULL) {
        fprintf(stderr, "bench_drain: set BENCH_TENANTS_FILE, LEDGER_MASTER_KEY_FILE and "
                        "BENCH_START_CMD\n");
        return 2;
    }
    if (lg_crypto_init() != 0 || lg_avro_init(err, sizeof err) != 0) {
        fprintf(stderr, "init: %s\n", err);
        return 1;
    }
    kr = lg_keyring_load(key_file, err, sizeof err);
    if (kr == NULL) {
        fprintf(stderr, "key file: %s\n", err);
        goto out;
    }
    n_tenants = bench_tenants_load(tenants_file, &tenants);
    if (n_tenants <= 0 || bench_map_init(&map, (size_t)count) != 0)
        goto out;
    if (bench_results_start(&reader, brokers, &map) != 0)
        goto out;

    conf = lg_kafka_producer_conf(brokers, err, sizeof err);
    if (conf == NULL) {
        fprintf(stderr, "producer configuration: %s\n", err);
        goto out;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, &failed);
    p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (p == NULL) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "producer: %s\n", err);
        goto out;
    }
    t_fill = bench_now_ns();
    for (long i = 0; i < count; i++) {
        const bench_tenant *t = &tenants[i % n_tenants];
        char txn_id[LG_UUID_STRLEN], idem[96], key[160];
        const char *from, *to;
        void *payload;
        size_t len;
        rd_kafka_resp_err_t e;
        snprintf(idem, sizeof idem, "bench-%s-%ld", run, i);
        bench_pick_accounts(t, hot, &seed, &from, &to);
        if (bench_make_transfer(kr, t, from, to, idem, 1 + i % 500, txn_id, key, sizeof key,
                                &payload, &len) != 0)
            goto out;
        /* Sent "now" for the map: the drain rate, not the latency, is this program's figure. */
        bench_map_sent(&map, txn_id, 1);
        do {
            e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(LG_TOPIC_COMMANDS),
                                  RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(payload, len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(p, 10);
        } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            free(payload);
            fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
            goto out;
        }
        rd_kafka_poll(p, 0);
    }
    rd_kafka_flush(p, 60000);
    if (failed > 0 || rd_kafka_outq_len(p) > 0) {
        fprintf(stderr, "bench_drain: %ld command(s) not acknowledged\n", failed);
        goto out;
    }
    fprintf(stderr, "bench_drain: %ld commands in txn.commands after %.1f s; starting workers\n",
            count, (double)(bench_now_ns() - t_fill) / 1e9);
    if (bench_map_results(&map) != 0) {
        fprintf(stderr, "bench_drain: results arrived before the workers started: is a worker "
                        "running?\n");
        goto out;
    }
    t_start = bench_now_ns();
    if (system(start_cmd) != 0) {
        fprintf(stderr, "bench_drain: %s failed\n", start_cmd);
        goto out;
    }
    deadline = t_start + timeout_s * 1000000000LL;
    while (bench_now_ns() < deadline) {
        size_t n = bench_map_results(&map);
        if (n >= (size_t)count)
            break;
        if (n / 20000 != last_seen / 20000)
            fprintf(stderr, "bench_drain: %zu results\n", n);
        last_seen = n;
        bench_sleep_ns(100000000LL);
    }
    bench_results_stop(&reader);
    {
        double secs = (double)(map.last_result_ns - map.first_result_ns) / 1e9;
        double steady = 0;
        if (map.arrivals.n >= 10) {
            size_t lo = map.arrivals.n / 10, hi = map.arrivals.n * 9 / 10;
            /* arrivals are in order already */
            double w = (double)(map.arrivals.v[hi] - map.arrivals.v[lo]) / 1e9;
            steady = w > 0 ? (double)(hi - lo) / w : 0;
        }
        printf("drain_commands=%ld\ndrain_results=%zu\ndrain_completed=%zu\n", count,
               map.n_results, map.n_completed);
        printf("drain_seconds=%.2f\n", secs);
        printf("drain_startup_s=%.2f\n", (double)(map.first_result_ns - t_start) / 1e9);
        printf("drain_transfers_per_s=%.0f\n", secs > 0 ? (double)map.n_results / secs : 0.0);
        printf("drain_steady_transfers_per_s=%.0f\n", steady);
        rc = map.n_results == (size_t)count && map.n_completed == (size_t)count ? 0 : 1;
        if (rc != 0)
            fprintf(stderr,
                    "bench_drain: %zu of %ld results, %zu COMPLETED: every transfer must "
                    "complete\n",
                    map.n_results, count, map.n_completed);
    }
out:
    bench_results_stop(&reader);
    if (p != NULL)
        rd_kafka_destroy(p);
    bench_map_free(&map);
    bench_tenants_free(tenants, n_tenants > 0 ? n_tenants : 0);
    lg_keyring_free(kr);
    lg_avro_shutdown();
    return rc;
}
