/*
 * Kafka configuration shared by the programs: topic names, and librdkafka configurations built
 * from LEDGER_KAFKA_BROKERS plus any LEDGER_RDKAFKA_<PROPERTY> override (dots as underscores,
 * e.g. LEDGER_RDKAFKA_LINGER_MS=5).
 */
#ifndef LG_KAFKA_H
#define LG_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#define LG_TOPIC_COMMANDS "txn.commands"
#define LG_TOPIC_RESULTS "txn.results"
#define LG_TOPIC_LEDGER "ledger.entries"
#define LG_TOPIC_DLQ "txn.commands.dlq"

/* Sets one property; returns -1 with err when librdkafka refuses it. */
int lg_kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                 size_t err_size);

/* The producer configuration of producer-api: acks=all, idempotent, bounded delivery time. */
rd_kafka_conf_t *lg_kafka_producer_conf(const char *brokers, char *err, size_t err_size);

/* The consumer configuration of ledger-worker: read_committed, manual offset store. */
rd_kafka_conf_t *lg_kafka_consumer_conf(const char *brokers, const char *group_id, char *err,
                                        size_t err_size);

/* The transactional producer of ledger-worker. */
rd_kafka_conf_t *lg_kafka_txn_producer_conf(const char *brokers, const char *transactional_id,
                                            char *err, size_t err_size);

/*
 * librdkafka's statistics (the JSON its stats callback gets every statistics.interval.ms).
 * Returns how many brokers are UP, or -1 when json is not statistics; calls lag_fn (may be NULL)
 * for each partition the consumer fetches whose lag is known. librdkafka's own consumer_lag
 * counts from offsets the consumer committed or stored; a consumer whose offsets are committed
 * through a producer's transaction does neither (its consumer_lag stays at what it was at the
 * assignment), so the lag is counted here from the last stable offset (read_committed reads no
 * further) back to the application's position; before the application has read anything, it
 * is librdkafka's consumer_lag, else from the committed offset fetched at assignment, else
 * from the log start.
 */
typedef void (*lg_kafka_lag_fn)(const char *topic, const char *partition, long long lag, void *arg);
int lg_kafka_stats_read(const char *json, size_t len, lg_kafka_lag_fn lag_fn, void *arg);

#endif
