/*
 * The worker's exactly-once protocol.
 *
 *   poll a batch of commands (many messages, several partitions)
 *   decode; send what cannot be decoded or routed to the DLQ
 *   per tenant: apply the tenant's commands in one PostgreSQL transaction and COMMIT
 *               (commands already recorded are skipped: a redelivery changes nothing)
 *   per tenant: read back what the database recorded for every command of the batch
 *   one Kafka transaction: the TransactionResult and LedgerEntryEvents of every command, the
 *               DLQ copies, and the consumed offsets (send_offsets_to_transaction); COMMIT
 *
 * Killed between the PostgreSQL COMMIT and the Kafka COMMIT, the Kafka transaction aborts (or
 * never began), so read_committed consumers see none of its events and the offsets stay where
 * they were: the next owner of the partitions gets the same commands, finds them recorded, and
 * emits their recorded outcome - with the same deterministic event ids - in a transaction of its
 * own. Offsets therefore only ever move together with the events, after the database commit.
 * Only the message that recorded a command publishes its outcome (the database keeps its
 * position): a second message of the same transaction, such as a client's retry with the same
 * Idempotency-Key, publishes nothing.
 *
 * A zombie (a worker that overran max.poll.interval.ms) is fenced by Kafka through the consumer
 * group metadata passed with its offsets; its PostgreSQL writes are harmless because a command
 * is recorded at most once (primary key on the transaction id, checked under the accounts' row
 * locks). A zombie frozen inside a batch's PostgreSQL transaction loses its session to the
 * server's idle_in_transaction_session_timeout (LEDGER_WORKER_IDLE_IN_TRANSACTION_TIMEOUT_MS),
 * so its row locks cannot hold the other workers back for longer than that.
 *
 * When the Kafka transaction cannot commit, the worker aborts it and rewinds its partitions to
 * the batch's first offsets, so the batch is processed again (and found recorded).
 *
 * Tracing: a command's `request-id` and `traceparent` headers (set by producer-api) are read
 * with the message; every log line about the command names its request_id and trace_id, and its
 * result and ledger events carry `request-id` and a `traceparent` naming the worker's span.
 * Metrics are counted once the Kafka transaction committed, so they agree with what
 * read_committed consumers see.
 */
#include "worker.h"

#include "fault.h"
#include "lg_avro.h"
#include "lg_db.h"
#include "lg_kafka.h"
#include "lg_log.h"
#include "lg_trace.h"
#include "postings.h"

#include <jansson.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DB_ATTEMPTS 5

typedef struct {
    rd_kafka_message_t *msg;
    lg_txn_command cmd;
    int decoded;
    char dlq_reason[256]; /* non-empty: goes to the DLQ */
    const char *dlq_kind; /* the DLQ metric's reason: a word from a fixed set */
    int tenant;           /* index into the batch's tenant groups, -1 when none */
    char position[128];   /* "<topic>/<partition>/<offset>": which message this is */
    char request_id[LG_REQUEST_ID_MAX + 1]; /* from the request-id header (or the command) */
    lg_trace trace;                         /* the worker's span, under the command's traceparent */
} wk_item;

typedef struct {
    lg_tenant tenant;
    size_t *items; /* indexes into the batch, in partition order */
    size_t n;
} wk_group;

/* The worker's metric families (wk_metrics_register); NULL ones count nothing. */
static struct {
    lg_metric *commands;      /* ledger_worker_commands_total{type,outcome,reason} */
    lg_metric *batch_size;    /* ledger_worker_batch_size */
    lg_metric *pg_seconds;    /* ledger_worker_pg_transaction_seconds */
    lg_metric *kafka_seconds; /* ledger_worker_kafka_transaction_seconds */
    lg_metric *lag;           /* ledger_worker_consumer_lag{topic,partition} */
    lg_metric *dlq;           /* ledger_worker_dlq_messages_total{reason} */
    lg_metric *commit_errors; /* ledger_worker_kafka_commit_errors_total */
    lg_metric *rebalances;    /* ledger_worker_rebalances_total{kind} */
    lg_metric *assigned;      /* ledger_worker_assigned_partitions */
} wm;

void wk_metrics_register(lg_metrics *m)
{
    static const double batch_bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000};
    wm.commands = lg_metrics_counter(
        m, "ledger_worker_commands_total",
        "Commands whose outcome was published: applied, failed (by reason) or duplicate (recorded "
        "by another message, nothing published).",
        (const char *[]){"type", "outcome", "reason", NULL});
    wm.batch_size = lg_metrics_histogram(
        m, "ledger_worker_batch_size", "Messages per batch committed to Kafka.", NULL, batch_bounds,
        sizeof batch_bounds / sizeof batch_bounds[0]);
    wm.pg_seconds = lg_metrics_histogram(
        m, "ledger_worker_pg_transaction_seconds",
        "Time to apply one tenant's commands of a batch in one PostgreSQL transaction.", NULL,
        lg_metrics_duration_buckets, lg_metrics_duration_buckets_n);
    wm.kafka_seconds = lg_metrics_histogram(
        m, "ledger_worker_kafka_transaction_seconds",
        "Time to publish one batch's events and offsets in one Kafka transaction (begin to "
        "committed).",
        NULL, lg_metrics_duration_buckets, lg_metrics_duration_buckets_n);
    wm.lag = lg_metrics_gauge(m, "ledger_worker_consumer_lag",
                              "Messages of the partition not yet read (to its last stable offset), "
                              "from librdkafka's statistics.",
                              (const char *[]){"topic", "partition", NULL});
    wm.dlq = lg_metrics_counter(m, "ledger_worker_dlq_messages_total",
                                "Commands sent to the dead-letter topic, by reason.",
                                (const char *[]){"reason", NULL});
    wm.commit_errors = lg_metrics_counter(
        m, "ledger_worker_kafka_commit_errors_total",
        "Kafka transactions that could not commit (the batch is processed again).", NULL);
    wm.rebalances = lg_metrics_counter(m, "ledger_worker_rebalances_total",
                                       "Consumer group rebalances seen, by kind (assign, revoke).",
                                       (const char *[]){"kind", NULL});
    wm.assigned = lg_metrics_gauge(m, "ledger_worker_assigned_partitions",
                                   "Partitions of txn.commands assigned to this worker.", NULL);
}

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

typedef struct {
    const wk_config *cfg;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    unsigned long rebalances; /* counted by the rebalance callback */
} wk_state;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    wk_state *s = opaque;
    /* Batches are processed between polls, so no batch is being applied when partitions move;
     * but a batch may be gathering: poll_batch sees the count change and lets go of what it
     * gathered under the former assignment. */
    s->rebalances++;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        lg_log_info("assigned %d partition(s)", parts->cnt);
        rd_kafka_assign(rk, parts);
        lg_metric_add(wm.rebalances, (const char *[]){"assign", NULL}, 1);
        lg_metric_set(wm.assigned, NULL, parts->cnt);
        if (s->cfg->health != NULL) {
            atomic_store(&s->cfg->health->assigned, parts->cnt);
            atomic_store(&s->cfg->health->in_group, 1);
        }
    } else {
        lg_log_info("revoked %d partition(s)", parts->cnt);
        rd_kafka_assign(rk, NULL);
        lg_metric_add(wm.rebalances, (const char *[]){"revoke", NULL}, 1);
        lg_metric_set(wm.assigned, NULL, 0);
        if (s->cfg->health != NULL) {
            atomic_store(&s->cfg->health->assigned, 0);
            atomic_store(&s->cfg->health->in_group, 0);
        }
    }
}

static void lag_row(const char *topic, const char *partition, long long lag, void *arg)
{
    (void)arg;
    lg_metric_set(wm.lag, (const char *[]){topic, partition, NULL}, (double)lag);
}

/* librdkafka's statistics (every statistics.interval.ms, on the consumer's poll): which brokers
 * are up, for /readyz, and the consumer lag of each assigned partition. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    wk_state *s = opaque;
    int up;
    (void)rk;
    lg_metric_reset(wm.lag); /* only the partitions assigned now */
    up = lg_kafka_stats_read(json, json_len, lag_row, NULL);
    if (up < 0)
        lg_log_warn("Kafka statistics could not be read");
    else if (s->cfg->health != NULL)
        atomic_store(&s->cfg->health->brokers_up, up);
    return 0; /* librdkafka frees json */
}

static rd_kafka_t *producer_new(const wk_config *cfg)
{
    char err[512];
    rd_kafka_conf_t *conf = lg_kafka_txn_producer_conf(cfg->brokers, cfg->transactional_id, err,
                                                       sizeof err);
    rd_kafka_t *rk;
    rd_kafka_error_t *e;
    if (conf == NULL) {
        lg_log_error("producer configuration: %s", err);
        return NULL;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        lg_log_error("creating the producer: %s", err);
        return NULL;
    }
    /* Fences any earlier producer with this transactional id and aborts its open transaction. */
    for (int attempt = 0; attempt < 30; attempt++) {
        e = rd_kafka_init_transactions(rk, 10000);
        if (e == NULL)
            return rk;
        lg_log_warn("init_transactions: %s", rd_kafka_error_string(e));
        if (!rd_kafka_error_is_retriable(e)) {
            rd_kafka_error_destroy(e);
            break;
        }
        rd_kafka_error_destroy(e);
        sleep_ms(1000);
    }
    rd_kafka_destroy(rk);
    return NULL;
}

/* Gathers up to batch_max messages: waits up to 500 ms for the first, then batch_wait_ms more.
 *
 * A poll may run the rebalance callback. Messages gathered before it belong to partitions this
 * worker may no longer own: their new owner starts from the committed offsets and processes
 * them too, so committing their events here as well would publish every outcome twice (the
 * broker checks the group generation of transactional offsets, not who owns the partition).
 * They are dropped: uncommitted, they come back to whoever owns their partition now - this
 * worker included, whose new assignment starts from the committed offsets. A message returned
 * by the poll that ran the callback already comes from the new assignment. */
static size_t poll_batch(wk_state *s, rd_kafka_message_t **msgs, volatile sig_atomic_t *stop)
{
    size_t n = 0;
    struct timespec start, now;
    long waited_ms = 0;
    unsigned long rebalances = s->rebalances;
    while (n < (size_t)s->cfg->batch_max && !*stop) {
        int timeout = n == 0 ? 500 : (int)(s->cfg->batch_wait_ms - waited_ms);
        rd_kafka_message_t *m;
        if (n > 0 && timeout <= 0)
            break;
        m = rd_kafka_consumer_poll(s->consumer, timeout);
        if (s->rebalances != rebalances) {
            if (n > 0)
                lg_log_info("rebalanced while gathering a batch: %zu message(s) of the former "
                            "assignment left to the partitions' owners",
                            n);
            for (size_t i = 0; i < n; i++)
                rd_kafka_message_destroy(msgs[i]);
            n = 0;
            waited_ms = 0;
            rebalances = s->rebalances;
        }
        if (n == 0)
            clock_gettime(CLOCK_MONOTONIC, &start);
        if (m == NULL) {
            if (n == 0)
                return 0;
            break;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                lg_log_warn("consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        msgs[n++] = m;
        clock_gettime(CLOCK_MONOTONIC, &now);
        waited_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    }
    return n;
}

/* Finds the tenant of a key "<tenant_id>:..." */
static int tenant_of(wk_state *s, wk_group *groups, size_t *n_groups, const lg_txn_command *cmd,
                     char *reason, size_t reason_size)
{
    char err[512];
    lg_tenant t;
    int found;
    for (size_t g = 0; g < *n_groups; g++)
        if (strcmp(groups[g].tenant.id, cmd->tenant_id) == 0)
            return (int)g;
    for (int attempt = 0;; attempt++) {
        found = lg_router_lookup(s->cfg->router, cmd->tenant_id, NULL, &t, err, sizeof err);
        if (found >= 0)
            break;
        /* The master database is unreachable: nothing can be routed; wait for it. */
        lg_log_error("routing: %s (attempt %d)", err, attempt + 1);
        sleep_ms(attempt < 10 ? 200 * (attempt + 1) : 2000);
    }
    if (found == 0) {
        snprintf(reason, reason_size, "unknown tenant %s", cmd->tenant_id);
        return -1;
    }
    groups[*n_groups].tenant = t;
    groups[*n_groups].n = 0;
    return (int)(*n_groups)++;
}

/* Applies one tenant's commands, retrying what PostgreSQL says may be retried. On a fatal
 * error, falls back to one command at a time, recording a command that cannot be applied at all
 * as FAILED (PROCESSING_ERROR) or, when even that fails, sending it to the DLQ. */
static int apply_group(wk_state *s, wk_group *g, wk_item *items, volatile sig_atomic_t *stop)
{
    char err[1024];
    lg_txn_command **cmds = calloc(g->n, sizeof *cmds);
    const char **positions = calloc(g->n, sizeof *positions);
    const char *force_code = NULL, *force_reason = NULL;
    struct timespec t0, t1;
    int rc = -1;

    if (cmds == NULL || positions == NULL) {
        free(cmds);
        free(positions);
        return -1;
    }
    for (size_t i = 0; i < g->n; i++) {
        cmds[i] = &items[g->items[i]].cmd;
        positions[i] = items[g->items[i]].position;
    }
    if (g->tenant.status == LG_TENANT_SUSPENDED) {
        force_code = "TENANT_SUSPENDED";
        force_reason = "the bank's tenant is suspended; no transaction is applied";
    } else if (g->tenant.status != LG_TENANT_ACTIVE) {
        force_code = "TENANT_NOT_ACTIVE";
        force_reason = "the bank's tenant is not active; no transaction is applied";
    }
    for (int attempt = 0; !*stop || attempt < DB_ATTEMPTS; attempt++) {
        PGconn *db = lg_router_acquire(s->cfg->router, g->tenant.id, s->cfg->db_wait_ms, err,
                                       sizeof err);
        lg_db_status st;
        if (db == NULL) {
            lg_log_kv(LG_LOG_ERROR, (const char *[]){"tenant", g->tenant.slug, NULL}, "%s", err);
            sleep_ms(attempt < 10 ? 100 * (attempt + 1) : 2000);
            continue;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        st = wk_apply_batch(db, g->tenant.id, cmds, positions, g->n, force_code, force_reason,
                            err, sizeof err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        lg_metric_observe(wm.pg_seconds, NULL, seconds_between(&t0, &t1));
        lg_router_release(s->cfg->router, g->tenant.id, db, st != LG_DB_OK);
        if (st == LG_DB_OK) {
            rc = 0;
            break;
        }
        lg_log_kv(LG_LOG_WARN, (const char *[]){"tenant", g->tenant.slug, NULL},
                  "applying %zu command(s): %s", g->n, err);
        if (st == LG_DB_FATAL || attempt + 1 >= DB_ATTEMPTS * 4) {
            /* One command at a time, so one bad command cannot hold the others back. */
            rc = 0;
            for (size_t i = 0; i < g->n; i++) {
                PGconn *one = lg_router_acquire(s->cfg->router, g->tenant.id, s->cfg->db_wait_ms,
                                                err, sizeof err);
                if (one == NULL) {
                    rc = -1;
                    break;
                }
                st = wk_apply_batch(one, g->tenant.id, &cmds[i], &positions[i], 1, force_code,
                                    force_reason, err, sizeof err);
                if (st == LG_DB_FATAL) {
                    const wk_item *it = &items[g->items[i]];
                    lg_log_kv(LG_LOG_ERROR,
                              (const char *[]){"tenant", g->tenant.slug, "transaction_id",
                                               cmds[i]->transaction_id, "request_id",
                                               it->request_id, "trace_id", it->trace.trace_id,
                                               NULL},
                              "cannot apply a command: %s", err);
                    st = wk_record_processing_error(one, g->tenant.id, cmds[i], positions[i],
                                                    "internal error", err, sizeof err);
                    if (st == LG_DB_FATAL) {
                        snprintf(items[g->items[i]].dlq_reason,
                                 sizeof items[g->items[i]].dlq_reason,
                                 "cannot be recorded in the tenant database");
                        items[g->items[i]].dlq_kind = "unrecordable";
                    }
                }
                lg_router_release(s->cfg->router, g->tenant.id, one, st != LG_DB_OK);
                if (st == LG_DB_RETRY) {
                    rc = -1;
                    break;
                }
            }
            if (rc == 0)
                break;
        }
        sleep_ms(attempt < 10 ? 50 * (attempt + 1) : 1000);
    }
    free(positions);
    free(cmds);
    return rc;
}

/* Produces one event (payload is taken: freed on every path) with the command's request id and
 * the worker's traceparent as headers (either may be "" for none). */
static int produce(rd_kafka_t *p, const char *topic, const char *key, void *payload, size_t len,
                   const char *request_id, const char *traceparent)
{
    rd_kafka_resp_err_t e;
    rd_kafka_headers_t *headers = rd_kafka_headers_new(2);
    if (request_id != NULL && request_id[0] != '\0')
        rd_kafka_header_add(headers, "request-id", -1, request_id, -1);
    if (traceparent != NULL && traceparent[0] != '\0')
        rd_kafka_header_add(headers, "traceparent", -1, traceparent, -1);
    e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE(payload, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                          RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        lg_log_error("producing to %s: %s", topic, rd_kafka_err2str(e));
        rd_kafka_headers_destroy(headers); /* librdkafka owns them only on success */
        free(payload);
        return -1;
    }
    return 0;
}

/* Emits the recorded outcome of the command at `position`: its LedgerEntryEvents and its
 * TransactionResult - unless another message recorded it. The message that recorded a command
 * publishes its outcome, once: in the Kafka transaction that commits that message's offset, or,
 * when that transaction aborted, again when the same message is delivered again (the database
 * holds the outcome, the events are the same). Another message of the same transaction, such
 * as a client's retry with the same Idempotency-Key, changes nothing and publishes nothing. */
static int emit_outcome(rd_kafka_t *p, const wk_outcome *o, const wk_item *it)
{
    const char *position = it->position;
    char key[2 * LG_UUID_STRLEN + 2], err[256];
    void *buf = NULL;
    size_t len = 0;
    if (o->result.transaction_id == NULL)
        return 0;
    if (o->recorded_by != NULL && strcmp(o->recorded_by, position) != 0) {
        lg_log_kv(LG_LOG_INFO,
                  (const char *[]){"transaction_id", o->result.transaction_id, "message", position,
                                   "recorded_by", o->recorded_by, "request_id", it->request_id,
                                   "trace_id", it->trace.trace_id, NULL},
                  "a command already recorded by another message: its outcome is not "
                  "published again");
        return 0;
    }
    for (size_t k = 0; k < o->n_entries; k++) {
        const lg_ledger_event *ev = &o->entries[k];
        snprintf(key, sizeof key, "%s:%s", ev->tenant_id, ev->account_id);
        if (lg_avro_encode_ledger(ev, &buf, &len, err, sizeof err) != 0) {
            lg_log_error("encoding a ledger event: %s", err);
            return -1;
        }
        if (produce(p, LG_TOPIC_LEDGER, key, buf, len, it->request_id, it->trace.traceparent) != 0)
            return -1;
    }
    snprintf(key, sizeof key, "%s:%s", o->result.tenant_id, o->result.transaction_id);
    if (lg_avro_encode_result(&o->result, &buf, &len, err, sizeof err) != 0) {
        lg_log_error("encoding a result: %s", err);
        return -1;
    }
    return produce(p, LG_TOPIC_RESULTS, key, buf, len, it->request_id, it->trace.traceparent);
}

/* The offsets to commit: one past the last message of each partition in the batch. */
static rd_kafka_topic_partition_list_t *batch_offsets(rd_kafka_message_t **msgs, size_t n,
                                                      int first)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(l, topic, msgs[i]->partition);
        if (tp == NULL) {
            tp = rd_kafka_topic_partition_list_add(l, topic, msgs[i]->partition);
            tp->offset = first ? msgs[i]->offset : msgs[i]->offset + 1;
        } else if (!first && msgs[i]->offset + 1 > tp->offset) {
            tp->offset = msgs[i]->offset + 1;
        } else if (first && msgs[i]->offset < tp->offset) {
            tp->offset = msgs[i]->offset;
        }
    }
    return l;
}

/* Commits the events and offsets in one Kafka transaction. Returns 0, or -1 when the batch
 * must be processed again (after the caller rewinds). *fatal is set when the producer must be
 * replaced. */
static int kafka_commit(wk_state *s, rd_kafka_message_t **msgs, size_t n, wk_item *items,
                        wk_outcome *outcomes, int *fatal)
{
    rd_kafka_error_t *e;
    rd_kafka_consumer_group_metadata_t *cgmd;
    rd_kafka_topic_partition_list_t *offsets;
    *fatal = 0;

    e = rd_kafka_begin_transaction(s->producer);
    if (e != NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        wk_item *it = &items[i];
        if (it->dlq_reason[0] != '\0') {
            const void *key = it->msg->key;
            if (rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(LG_TOPIC_DLQ),
                                  RD_KAFKA_V_KEY(key, it->msg->key_len),
                                  RD_KAFKA_V_VALUE(it->msg->payload, it->msg->len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_HEADER("dlq-reason", it->dlq_reason, -1),
                                  RD_KAFKA_V_HEADER("dlq-source-topic",
                                                    rd_kafka_topic_name(it->msg->rkt), -1),
                                  RD_KAFKA_V_END) != RD_KAFKA_RESP_ERR_NO_ERROR)
                goto abort;
            continue;
        }
        if (it->decoded && emit_outcome(s->producer, &outcomes[i], it) != 0)
            goto abort;
    }
#ifdef LEDGER_FAULT_INJECTION
    wk_fault_point(WK_FAULT_AFTER_PG, s->producer, n);
#endif
    offsets = batch_offsets(msgs, n, 0);
    cgmd = rd_kafka_consumer_group_metadata(s->consumer);
    e = rd_kafka_send_offsets_to_transaction(s->producer, offsets, cgmd, -1);
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    rd_kafka_topic_partition_list_destroy(offsets);
    if (e != NULL)
        goto fail;
    /* A retriable commit error leaves the outcome open: keep committing until the broker
     * answers, since giving up and redoing the batch could publish it twice if this commit
     * completed after all. */
    for (int attempt = 1;; attempt++) {
        e = rd_kafka_commit_transaction(s->producer, -1);
        if (e == NULL)
            return 0;
        if (!rd_kafka_error_is_retriable(e))
            goto fail;
        if (attempt % 10 == 0)
            lg_log_warn("commit_transaction still failing after %d attempts: %s", attempt,
                        rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        sleep_ms(100);
    }
fail:
    lg_log_warn("Kafka transaction: %s", rd_kafka_error_string(e));
    *fatal = rd_kafka_error_is_fatal(e);
    rd_kafka_error_destroy(e);
abort:
    if (!*fatal) {
        e = rd_kafka_abort_transaction(s->producer, -1);
        if (e != NULL) {
            lg_log_warn("abort_transaction: %s", rd_kafka_error_string(e));
            *fatal = 1;
            rd_kafka_error_destroy(e);
        }
    }
    return -1;
}

static void rewind_batch(wk_state *s, rd_kafka_message_t **msgs, size_t n)
{
    rd_kafka_topic_partition_list_t *l = batch_offsets(msgs, n, 1);
    rd_kafka_error_t *e = rd_kafka_seek_partitions(s->consumer, l, 10000);
    if (e != NULL) {
        lg_log_warn("rewinding: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int inactive_outcome(const lg_tenant *t, const lg_txn_command *cmd, wk_outcome *o)
{
    char event_id[LG_UUID_STRLEN];
    lg_uuid_derive(event_id, (const char *const[]){t->id, cmd->transaction_id, "result"}, 3);
    memset(o, 0, sizeof *o);
    o->result.event_id = strdup(event_id);
    o->result.tenant_id = strdup(t->id);
    o->result.transaction_id = strdup(cmd->transaction_id);
    o->result.type = cmd->type;
    o->result.status = LG_RESULT_FAILED;
    o->result.failure_code = strdup("TENANT_INACTIVE");
    o->result.failure_reason = strdup("the bank's tenant is inactive; no transaction is applied");
    o->result.processed_at_ms = now_ms();
    return o->result.event_id != NULL && o->result.tenant_id != NULL &&
                   o->result.transaction_id != NULL && o->result.failure_code != NULL &&
                   o->result.failure_reason != NULL
               ? 0
               : -1;
}

/* A header's value as a string into out ("" when absent or too long). */
static void header_value(const rd_kafka_message_t *msg, const char *name, char *out, size_t size)
{
    rd_kafka_headers_t *headers = NULL;
    const void *value = NULL;
    size_t len = 0;
    out[0] = '\0';
    if (rd_kafka_message_headers(msg, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(headers, name, &value, &len) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        value == NULL || len >= size)
        return;
    memcpy(out, value, len);
    out[len] = '\0';
}

/* The trace context of a command message: its request id (the header, else the command's own
 * requestId) and the worker's span under its traceparent. */
static void read_trace(wk_item *it)
{
    char traceparent[LG_TRACEPARENT_LEN + 1];
    header_value(it->msg, "request-id", it->request_id, sizeof it->request_id);
    if (!lg_request_id_valid(it->request_id)) {
        it->request_id[0] = '\0';
        if (it->decoded && lg_request_id_valid(it->cmd.request_id))
            snprintf(it->request_id, sizeof it->request_id, "%s", it->cmd.request_id);
    }
    header_value(it->msg, "traceparent", traceparent, sizeof traceparent);
    lg_trace_start(traceparent, &it->trace);
}

/* After the Kafka commit: one log line and one count per command of the batch. */
static void report_batch(const wk_item *items, const wk_outcome *outcomes, const wk_group *groups,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const wk_item *it = &items[i];
        const wk_outcome *o = &outcomes[i];
        const char *tenant = it->tenant >= 0 ? groups[it->tenant].tenant.slug : "";
        const char *outcome, *reason, *type;
        if (it->dlq_reason[0] != '\0') {
            lg_metric_add(wm.dlq,
                          (const char *[]){it->dlq_kind != NULL ? it->dlq_kind : "other", NULL}, 1);
            lg_log_kv(LG_LOG_WARN,
                      (const char *[]){"message", it->position, "request_id", it->request_id,
                                       "trace_id", it->trace.trace_id, "tenant", tenant, NULL},
                      "sent a command to %s: %s", LG_TOPIC_DLQ, it->dlq_reason);
            continue;
        }
        if (!it->decoded || o->result.transaction_id == NULL)
            continue;
        type = lg_txn_type_name(o->result.type);
        reason = "";
        if (o->recorded_by != NULL && strcmp(o->recorded_by, it->position) != 0) {
            outcome = "duplicate";
        } else if (o->result.status == LG_RESULT_FAILED) {
            outcome = "failed";
            reason = o->result.failure_code != NULL ? o->result.failure_code : "UNKNOWN";
        } else {
            outcome = "applied";
        }
        lg_metric_add(wm.commands,
                      (const char *[]){type != NULL ? type : "UNKNOWN", outcome, reason, NULL}, 1);
        if (!lg_log_enabled(LG_LOG_INFO))
            continue;
        lg_log_json(LG_LOG_INFO,
                    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "tenant", tenant,
                              "transaction_id", o->result.transaction_id, "type",
                              type != NULL ? type : "", "outcome", outcome, "reason", reason,
                              "message", it->position, "request_id", it->request_id, "trace_id",
                              it->trace.trace_id, "traceparent", it->trace.traceparent),
                    "command %s%s%s", outcome, reason[0] != '\0' ? ": " : "", reason);
    }
}

/* One tenant's share of a batch: applied in one PostgreSQL transaction (apply_group), then its
 * recorded outcomes read back for the events. Returns 0, or -1 when the batch must be redone. */
static int group_work(wk_state *s, wk_group *g, wk_item *items, wk_outcome *outcomes,
                      volatile sig_atomic_t *stop)
{
    char err[512];
    lg_txn_command **cmds;
    wk_outcome *group_out;
    lg_db_status st = LG_DB_RETRY;
    if (g->tenant.status == LG_TENANT_INACTIVE) {
        /* Gone from routing (its database may no longer exist): each command still gets its
         * one outcome, FAILED, as an event only. */
        for (size_t k = 0; k < g->n; k++)
            if (inactive_outcome(&g->tenant, &items[g->items[k]].cmd,
                                 &outcomes[g->items[k]]) != 0)
                return -1;
        return 0;
    }
    if (apply_group(s, g, items, stop) != 0)
        return -1;
    cmds = calloc(g->n, sizeof *cmds);
    group_out = calloc(g->n, sizeof *group_out);
    if (cmds == NULL || group_out == NULL) {
        free(cmds);
        free(group_out);
        return -1;
    }
    for (size_t k = 0; k < g->n; k++)
        cmds[k] = &items[g->items[k]].cmd;
    for (int attempt = 0; attempt < 50 && st != LG_DB_OK; attempt++) {
        PGconn *db = lg_router_acquire(s->cfg->router, g->tenant.id, s->cfg->db_wait_ms, err,
                                       sizeof err);
        if (db != NULL) {
            st = wk_load_outcomes(db, g->tenant.id, cmds, g->n, group_out, err, sizeof err);
            lg_router_release(s->cfg->router, g->tenant.id, db, st != LG_DB_OK);
        }
        if (st != LG_DB_OK) {
            wk_outcomes_free(group_out, g->n);
            lg_log_warn("reading outcomes of tenant %s: %s", g->tenant.slug, err);
            sleep_ms(200);
        }
    }
    for (size_t k = 0; k < g->n; k++)
        outcomes[g->items[k]] = group_out[k];
    free(group_out);
    free(cmds);
    return st == LG_DB_OK ? 0 : -1;
}

/* Runs group_work over a batch's tenants, up to cfg->tenant_threads at once (each tenant on its
 * own connection; one tenant's commands stay in one transaction, in order). */
typedef struct {
    wk_state *s;
    wk_group *groups;
    size_t n_groups, next;
    wk_item *items;
    wk_outcome *outcomes;
    volatile sig_atomic_t *stop;
    pthread_mutex_t lock;
    int failed;
} group_run;

static void *group_thread(void *arg)
{
    group_run *run = arg;
    for (;;) {
        size_t g;
        pthread_mutex_lock(&run->lock);
        if (run->failed || run->next >= run->n_groups) {
            pthread_mutex_unlock(&run->lock);
            return NULL;
        }
        g = run->next++;
        pthread_mutex_unlock(&run->lock);
        if (group_work(run->s, &run->groups[g], run->items, run->outcomes, run->stop) != 0) {
            pthread_mutex_lock(&run->lock);
            run->failed = 1;
            pthread_mutex_unlock(&run->lock);
        }
    }
}

static int apply_groups(wk_state *s, wk_group *groups, size_t n_groups, wk_item *items,
                        wk_outcome *outcomes, volatile sig_atomic_t *stop)
{
    group_run run = {s, groups, n_groups, 0, items, outcomes, stop, PTHREAD_MUTEX_INITIALIZER, 0};
    pthread_t th[WK_TENANT_THREADS_MAX];
    size_t extra = 0, want = (size_t)s->cfg->tenant_threads;

    if (want > WK_TENANT_THREADS_MAX)
        want = WK_TENANT_THREADS_MAX;
    /* This thread takes part: want - 1 more, no more than there are other tenants. */
    while (extra + 1 < want && extra + 1 < n_groups &&
           pthread_create(&th[extra], NULL, group_thread, &run) == 0)
        extra++;
    group_thread(&run);
    for (size_t i = 0; i < extra; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&run.lock);
    return run.failed ? -1 : 0;
}

static int process_batch(wk_state *s, rd_kafka_message_t **msgs, size_t n,
                         volatile sig_atomic_t *stop)
{
    wk_item *items = calloc(n, sizeof *items);
    wk_group *groups = calloc(n, sizeof *groups); /* at most one tenant per command */
    wk_outcome *outcomes = calloc(n, sizeof *outcomes);
    size_t n_groups = 0;
    int rc = -1, fatal = 0, committed;
    struct timespec k0, k1;
    char err[512];

    if (items == NULL || groups == NULL || outcomes == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        wk_item *it = &items[i];
        it->msg = msgs[i];
        it->tenant = -1;
        snprintf(it->position, sizeof it->position, "%s/%" PRId32 "/%" PRId64,
                 rd_kafka_topic_name(it->msg->rkt), it->msg->partition, it->msg->offset);
        if (lg_avro_decode_command(it->msg->payload, it->msg->len, &it->cmd, err, sizeof err) !=
            0) {
            snprintf(it->dlq_reason, sizeof it->dlq_reason, "undecodable: %.200s", err);
            it->dlq_kind = "undecodable";
            read_trace(it);
            continue;
        }
        it->decoded = 1;
        read_trace(it);
        it->tenant = tenant_of(s, groups, &n_groups, &it->cmd, it->dlq_reason,
                               sizeof it->dlq_reason);
        if (it->tenant < 0) {
            it->dlq_kind = "unknown_tenant";
            continue;
        }
        if (groups[it->tenant].items == NULL)
            groups[it->tenant].items = calloc(n, sizeof(size_t));
        if (groups[it->tenant].items == NULL)
            goto out;
        groups[it->tenant].items[groups[it->tenant].n++] = i;
    }
#ifdef LEDGER_FAULT_INJECTION
    wk_fault_point(WK_FAULT_BEFORE_PG, NULL, n);
#endif
    if (apply_groups(s, groups, n_groups, items, outcomes, stop) != 0)
        goto out;
    clock_gettime(CLOCK_MONOTONIC, &k0);
    committed = kafka_commit(s, msgs, n, items, outcomes, &fatal) == 0;
    clock_gettime(CLOCK_MONOTONIC, &k1);
    lg_metric_observe(wm.kafka_seconds, NULL, seconds_between(&k0, &k1));
    if (committed) {
        rc = 0;
        report_batch(items, outcomes, groups, n);
        goto out;
    }
    lg_metric_add(wm.commit_errors, NULL, 1);
out:
    if (rc != 0) {
        rewind_batch(s, msgs, n);
        if (fatal) {
            lg_log_warn("replacing the transactional producer after a fatal error");
            rd_kafka_destroy(s->producer);
            s->producer = producer_new(s->cfg);
        }
    }
    for (size_t i = 0; items != NULL && i < n; i++) {
        lg_avro_free_command(&items[i].cmd);
        wk_outcomes_free(&outcomes[i], 1);
    }
    for (size_t g = 0; groups != NULL && g < n_groups; g++)
        free(groups[g].items);
    free(outcomes);
    free(groups);
    free(items);
    return s->producer == NULL ? -2 : rc;
}

/* Idempotency records live 24 hours (expires_at), then go: one DELETE per ACTIVE tenant, in
 * slices so that a large backlog never holds locks for long. */
static void purge_idempotency_records(wk_state *s)
{
    char err[512];
    PGconn *m = lg_router_acquire_master(s->cfg->router, s->cfg->db_wait_ms, err, sizeof err);
    PGresult *tenants;
    long purged = 0;
    if (m == NULL) {
        lg_log_warn("purging idempotency records: %s", err);
        return;
    }
    tenants = lg_db_query(m, "SELECT id FROM tenants WHERE status = 'ACTIVE'", 0, NULL, err,
                          sizeof err);
    lg_router_release_master(s->cfg->router, m, tenants == NULL);
    for (int i = 0; tenants != NULL && i < PQntuples(tenants); i++) {
        const char *id = PQgetvalue(tenants, i, 0);
        PGconn *db = lg_router_acquire(s->cfg->router, id, s->cfg->db_wait_ms, err, sizeof err);
        PGresult *res = NULL;
        int n = 0;
        do {
            PQclear(res);
            res = db == NULL ? NULL
                             : lg_db_query(db,
                                           "DELETE FROM idempotency_records WHERE ctid IN ("
                                           " SELECT ctid FROM idempotency_records"
                                           " WHERE expires_at < now() LIMIT 5000)",
                                           0, NULL, err, sizeof err);
            n = res != NULL ? (int)strtol(PQcmdTuples(res), NULL, 10) : 0;
            purged += n;
        } while (n == 5000);
        if (res == NULL)
            lg_log_warn("purging idempotency records of tenant %s: %s", id, err);
        PQclear(res);
        lg_router_release(s->cfg->router, id, db, res == NULL);
    }
    PQclear(tenants);
    if (purged > 0)
        lg_log_info("purged %ld expired idempotency record(s)", purged);
}

int wk_run(const wk_config *cfg, volatile sig_atomic_t *stop)
{
    time_t last_purge = 0;
    char err[512];
    rd_kafka_conf_t *conf;
    rd_kafka_topic_partition_list_t *topics;
    rd_kafka_message_t **msgs = calloc((size_t)cfg->batch_max, sizeof *msgs);
    wk_state s;
    int rc = -1;
    unsigned long batches = 0, commands = 0;

    memset(&s, 0, sizeof s);
    s.cfg = cfg;
    if (msgs == NULL)
        return -1;
    conf = lg_kafka_consumer_conf(cfg->brokers, cfg->group_id, err, sizeof err);
    if (conf == NULL) {
        lg_log_error("consumer configuration: %s", err);
        goto out;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    if (cfg->stats_interval_ms > 0) {
        char interval[16];
        snprintf(interval, sizeof interval, "%d", cfg->stats_interval_ms);
        if (lg_kafka_set(conf, "statistics.interval.ms", interval, err, sizeof err) != 0) {
            rd_kafka_conf_destroy(conf);
            lg_log_error("consumer configuration: %s", err);
            goto out;
        }
        rd_kafka_conf_set_stats_cb(conf, stats_cb);
    }
    rd_kafka_conf_set_opaque(conf, &s);
    s.consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (s.consumer == NULL) {
        rd_kafka_conf_destroy(conf);
        lg_log_error("creating the consumer: %s", err);
        goto out;
    }
    rd_kafka_poll_set_consumer(s.consumer);
    s.producer = producer_new(cfg);
    if (s.producer == NULL)
        goto out;
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, LG_TOPIC_COMMANDS, RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(s.consumer, topics) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_destroy(topics);
        lg_log_error("cannot subscribe to %s", LG_TOPIC_COMMANDS);
        goto out;
    }
    rd_kafka_topic_partition_list_destroy(topics);
    lg_log_info("ledger-worker consuming %s as group %s (transactional id %s)", LG_TOPIC_COMMANDS,
                cfg->group_id, cfg->transactional_id);

    while (!*stop) {
        size_t n;
        int r;
        if (time(NULL) - last_purge >= cfg->purge_interval_s) {
            purge_idempotency_records(&s);
            last_purge = time(NULL);
        }
        n = poll_batch(&s, msgs, stop);
        if (n == 0)
            continue;
        r = process_batch(&s, msgs, n, stop);
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
        if (r == -2) {
            lg_log_error("no transactional producer can be created; stopping");
            goto out;
        }
        if (r == 0) {
            batches++;
            commands += n;
            lg_metric_observe(wm.batch_size, NULL, (double)n);
        }
    }
    lg_log_info("stopping after %lu batch(es), %lu command(s)", batches, commands);
    rc = 0;
out:
    if (s.consumer != NULL) {
        rd_kafka_consumer_close(s.consumer); /* leaves the group */
        rd_kafka_destroy(s.consumer);
    }
    if (s.producer != NULL)
        rd_kafka_destroy(s.producer);
    free(msgs);
    return rc;
}
