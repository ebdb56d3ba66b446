/*
 * bench_kafka: the Kafka limit for the ingest and drain figures. Produces TransactionCommand-
 * sized messages (real encoded TRANSFER commands, so that lz4 sees what it sees in production)
 * with producer-api's exact settings (lg_kafka_producer_conf: acks=all, idempotence, linger.ms=1,
 * lz4) to a topic of its own with txn.commands' partition count, then reads them back with the
 * worker's consumer settings (read_committed).
 *
 *   BENCH_SECONDS (10)   how long to produce
 *   BENCH_INFLIGHT (0)   at most this many unacknowledged messages (0: librdkafka's queue)
 *   BENCH_PARTITIONS (12)
 * Prints "kafka_produce_msgs_per_s=..." lines (key=value) for bench.sh.
 */
#include "bench_common.h"

#include "lg_avro.h"
#include "lg_kafka.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    long acked, failed;
    bench_samples lat;
} produce_stats;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    produce_stats *st = opaque;
    (void)rk;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        st->failed++;
        return;
    }
    st->acked++;
    bench_samples_add(&st->lat, bench_now_ns() - (int64_t)(intptr_t)m->_private);
}

static int create_topic(rd_kafka_t *rk, const char *topic, int partitions)
{
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev;
    int rc = -1;
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, 30000);
    if (ev != NULL) {
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rd_kafka_resp_err_t e = n == 1 ? rd_kafka_topic_result_error(res[0])
                                       : RD_KAFKA_RESP_ERR__FAIL;
        rc = e == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
        if (rc != 0)
            fprintf(stderr, "creating %s: %s\n", topic, rd_kafka_err2str(e));
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

int main(void)
{
    const char *brokers = bench_env_str("LEDGER_KAFKA_BROKERS", "127.0.0.1:9092");
    long seconds = bench_env_long("BENCH_SECONDS", 10);
    long inflight = bench_env_long("BENCH_INFLIGHT", 0);
    int partitions = (int)bench_env_long("BENCH_PARTITIONS", 12);
    char err[512], topic[64], group[64];
    rd_kafka_conf_t *conf;
    rd_kafka_t *p = NULL, *c = NULL;
    produce_stats st;
    bench_tenant t;
    char *accounts[64], numbers[64][24];
    long sent = 0, consumed = 0;
    size_t bytes = 0;
    int64_t t0, t1, c0 = 0, c1 = 0;
    unsigned seed = 1;
    int rc = 1;

    memset(&st, 0, sizeof st);
    memset(&t, 0, sizeof t);
    if (lg_crypto_init() != 0 || lg_avro_init(err, sizeof err) != 0) {
        fprintf(stderr, "init: %s\n", err);
        return 1;
    }
    lg_uuid_random(t.id);
    lg_uuid_random(t.user_id);
    for (int i = 0; i < 64; i++) {
        snprintf(numbers[i], sizeof numbers[i], "ACC%013d", 1000 + i);
        accounts[i] = numbers[i];
    }
    t.accounts = accounts;
    t.n_accounts = 64;
    snprintf(topic, sizeof topic, "bench.kafka.%ld", (long)getpid());
    snprintf(group, sizeof group, "bench-kafka-%ld", (long)getpid());

    conf = lg_kafka_producer_conf(brokers, err, sizeof err);
    if (conf == NULL) {
        fprintf(stderr, "producer configuration: %s\n", err);
        goto out;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, &st);
    p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (p == NULL) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "producer: %s\n", err);
        goto out;
    }
    if (create_topic(p, topic, partitions) != 0)
        goto out;
    bench_sleep_ns(1000000000LL); /* let the leaders settle */

    t0 = bench_now_ns();
    while (bench_now_ns() - t0 < seconds * 1000000000LL) {
        char txn_id[LG_UUID_STRLEN], idem[64], key[128];
        const char *from, *to;
        void *payload;
        size_t len;
        rd_kafka_resp_err_t e;
        if (inflight > 0 && sent - st.acked - st.failed >= inflight) {
            rd_kafka_poll(p, 1);
            continue;
        }
        /* A random transaction id: the keyring's MAC costs the same and is not measured. */
        snprintf(idem, sizeof idem, "bench-kafka-%ld", sent);
        bench_pick_accounts(&t, 0, &seed, &from, &to);
        lg_uuid_random(txn_id);
        {
            lg_txn_command cmd;
            char req[LG_UUID_STRLEN];
            memset(&cmd, 0, sizeof cmd);
            lg_uuid_random(req);
            cmd.command_id = txn_id;
            cmd.transaction_id = txn_id;
            cmd.tenant_id = t.id;
            cmd.type = LG_TXN_TRANSFER;
            cmd.amount_minor = 100;
            cmd.currency = (char *)(uintptr_t) "USD";
            cmd.from_account = (char *)(uintptr_t)from;
            cmd.to_account = (char *)(uintptr_t)to;
            cmd.description = (char *)(uintptr_t) "bench transfer";
            cmd.idempotency_key = idem;
            cmd.requested_by = t.user_id;
            cmd.requested_by_ip = (char *)(uintptr_t) "127.0.0.1";
            cmd.requested_by_device = (char *)(uintptr_t) "ledger-bench";
            cmd.request_id = req;
            cmd.accepted_at_ms = 1700000000000LL + sent;
            if (lg_avro_encode_command(&cmd, &payload, &len, err, sizeof err) != 0) {
                fprintf(stderr, "encode: %s\n", err);
                goto out;
            }
        }
        snprintf(key, sizeof key, "%s:%s", t.id, from);
        do {
            e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                  RD_KAFKA_V_VALUE(payload, len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                  RD_KAFKA_V_OPAQUE((void *)(intptr_t)bench_now_ns()),
                                  RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(p, 1);
        } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            free(payload);
            fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
            goto out;
        }
        bytes += len;
        sent++;
        rd_kafka_poll(p, 0);
    }
    rd_kafka_flush(p, 30000);
    t1 = bench_now_ns();
    printf("kafka_msg_bytes=%zu\n", sent > 0 ? bytes / (size_t)sent : 0);
    printf("kafka_produced=%ld\nkafka_acked=%ld\nkafka_failed=%ld\n", sent, st.acked, st.failed);
    printf("kafka_produce_msgs_per_s=%.0f\n", (double)st.acked / ((double)(t1 - t0) / 1e9));
    printf("kafka_produce_ack_p50_ms=%.2f\nkafka_produce_ack_p99_ms=%.2f\n",
           bench_samples_pct_ms(&st.lat, 0.50), bench_samples_pct_ms(&st.lat, 0.99));

    conf = lg_kafka_consumer_conf(brokers, group, err, sizeof err);
    if (conf == NULL) {
        fprintf(stderr, "consumer configuration: %s\n", err);
        goto out;
    }
    c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (c == NULL) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "consumer: %s\n", err);
        goto out;
    }
    rd_kafka_poll_set_consumer(c);
    {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
        for (int i = 0; i < partitions; i++)
            rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(c, l);
        rd_kafka_topic_partition_list_destroy(l);
    }
    {
        int64_t deadline = bench_now_ns() + (seconds + 60) * 1000000000LL;
        while (consumed < st.acked && bench_now_ns() < deadline) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
            if (m == NULL)
                continue;
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (consumed == 0)
                    c0 = bench_now_ns();
                consumed++;
                c1 = bench_now_ns();
            }
            rd_kafka_message_destroy(m);
        }
    }
    printf("kafka_consumed=%ld\n", consumed);
    printf("kafka_consume_msgs_per_s=%.0f\n",
           c1 > c0 ? (double)consumed / ((double)(c1 - c0) / 1e9) : 0.0);
    rc = consumed == st.acked && st.failed == 0 && st.acked > 0 ? 0 : 1;
    if (rc != 0)
        fprintf(stderr, "bench_kafka: produced %ld, acknowledged %ld, read back %ld\n", sent,
                st.acked, consumed);
out:
    if (c != NULL) {
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
    }
    if (p != NULL) {
        /* The topic was ours alone: drop it. */
        rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
        rd_kafka_queue_t *q = rd_kafka_queue_new(p);
        rd_kafka_event_t *ev;
        rd_kafka_DeleteTopics(p, &dt, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, 10000);
        if (ev != NULL)
            rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_DeleteTopic_destroy(dt);
        rd_kafka_destroy(p);
    }
    bench_samples_free(&st.lat);
    lg_avro_shutdown();
    return rc;
}
