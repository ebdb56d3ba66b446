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

#endif
