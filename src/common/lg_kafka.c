#include "lg_kafka.h"

#include "lg_log.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

int lg_kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                 size_t err_size)
{
    if (rd_kafka_conf_set(conf, name, value, err, err_size) != RD_KAFKA_CONF_OK)
        return -1;
    return 0;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 3)
        lg_log_error("kafka %s: %s", fac, buf);
    else if (level <= 4)
        lg_log_warn("kafka %s: %s", fac, buf);
}

/* LEDGER_RDKAFKA_LINGER_MS=5 -> linger.ms=5 (a prefix of its own, so that the scripts'
 * LEDGER_KAFKA_* settings are never mistaken for librdkafka properties). */
static int apply_env_overrides(rd_kafka_conf_t *conf, char *err, size_t err_size)
{
    static const char prefix[] = "LEDGER_RDKAFKA_";
    for (char **e = environ; *e != NULL; e++) {
        char name[128];
        const char *eq = strchr(*e, '=');
        size_t n;
        if (strncmp(*e, prefix, sizeof prefix - 1) != 0 || eq == NULL)
            continue;
        n = (size_t)(eq - *e) - (sizeof prefix - 1);
        if (n == 0 || n >= sizeof name)
            continue;
        for (size_t i = 0; i < n; i++) {
            char c = (*e)[sizeof prefix - 1 + i];
            name[i] = c == '_' ? '.' : (char)tolower((unsigned char)c);
        }
        name[n] = '\0';
        if (lg_kafka_set(conf, name, eq + 1, err, err_size) != 0)
            return -1;
    }
    return 0;
}

static rd_kafka_conf_t *base_conf(const char *brokers, const char *const *pairs, char *err,
                                  size_t err_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (lg_kafka_set(conf, "bootstrap.servers", brokers, err, err_size) != 0)
        goto fail;
    for (size_t i = 0; pairs[i] != NULL; i += 2)
        if (lg_kafka_set(conf, pairs[i], pairs[i + 1], err, err_size) != 0)
            goto fail;
    if (apply_env_overrides(conf, err, err_size) != 0)
        goto fail;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_conf_t *lg_kafka_producer_conf(const char *brokers, char *err, size_t err_size)
{
    static const char *const pairs[] = {
        "acks", "all",
        "enable.idempotence", "true",
        "linger.ms", "1",
        "compression.type", "lz4",
        /* A request is answered within the HTTP timeout: a command not acknowledged by then
         * fails its delivery report, and the client gets 503, never a silent loss. */
        "message.timeout.ms", "10000",
        "socket.keepalive.enable", "true",
        NULL};
    return base_conf(brokers, pairs, err, err_size);
}

rd_kafka_conf_t *lg_kafka_consumer_conf(const char *brokers, const char *group_id, char *err,
                                        size_t err_size)
{
    const char *const pairs[] = {
        "group.id", group_id,
        "isolation.level", "read_committed",
        "enable.auto.commit", "false",
        "enable.auto.offset.store", "false",
        "auto.offset.reset", "earliest",
        "enable.partition.eof", "false",
        "max.poll.interval.ms", "60000",
        "session.timeout.ms", "10000",
        NULL};
    return base_conf(brokers, pairs, err, err_size);
}

rd_kafka_conf_t *lg_kafka_txn_producer_conf(const char *brokers, const char *transactional_id,
                                            char *err, size_t err_size)
{
    const char *const pairs[] = {
        "transactional.id", transactional_id,
        "acks", "all",
        "enable.idempotence", "true",
        "linger.ms", "1",
        "compression.type", "lz4",
        /* A killed worker's open transaction blocks read_committed readers and the next owner's
         * offset fetch until it times out (or the instance restarts): keep it short. */
        "transaction.timeout.ms", "10000",
        NULL};
    return base_conf(brokers, pairs, err, err_size);
}

/* The lag of one partition's statistics, or -1 when unknown or not fetched. */
static json_int_t partition_lag(json_t *p)
{
    const char *state = json_string_value(json_object_get(p, "fetch_state"));
    json_t *reported = json_object_get(p, "consumer_lag");
    json_int_t end = json_integer_value(json_object_get(p, "ls_offset"));
    json_int_t from = json_integer_value(json_object_get(p, "app_offset"));
    if (state == NULL || strcmp(state, "none") == 0 || strcmp(state, "stopped") == 0)
        return -1;
    /* Once the application has read from the partition, its position is the truth: the
     * consumer_lag librdkafka reports counts from the committed offset it fetched at the
     * assignment, which offsets committed through a producer's transaction never move. */
    if (from < 0 && json_is_integer(reported) && json_integer_value(reported) >= 0)
        return json_integer_value(reported);
    if (from < 0)
        from = json_integer_value(json_object_get(p, "committed_offset"));
    if (from < 0)
        from = json_integer_value(json_object_get(p, "lo_offset"));
    if (!json_is_integer(json_object_get(p, "ls_offset")) || end < 0 || from < 0)
        return -1;
    return end > from ? end - from : 0;
}

int lg_kafka_stats_read(const char *json, size_t len, lg_kafka_lag_fn lag_fn, void *arg)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr), *broker, *topic, *p;
    const char *name, *partition;
    int up = 0;
    if (!json_is_object(root) || !json_is_object(json_object_get(root, "brokers"))) {
        json_decref(root);
        return -1;
    }
    json_object_foreach(json_object_get(root, "brokers"), name, broker)
    {
        const char *state = json_string_value(json_object_get(broker, "state"));
        if (state != NULL && strcmp(state, "UP") == 0)
            up++;
    }
    json_object_foreach(json_object_get(root, "topics"), name, topic)
    {
        json_object_foreach(json_object_get(topic, "partitions"), partition, p)
        {
            json_int_t lag = partition_lag(p);
            if (strcmp(partition, "-1") != 0 && lag >= 0 && lag_fn != NULL)
                lag_fn(name, partition, (long long)lag, arg);
        }
    }
    json_decref(root);
    return up;
}
