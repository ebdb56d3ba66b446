/*
 * Observability, end to end: a command sent with an X-Request-Id and a W3C traceparent is
 * answered with that request id and a traceparent of the API's span in the same trace; the
 * command in txn.commands, its result in txn.results and its entries in ledger.entries carry
 * the request id and the trace (read_committed, with headers); the API's and the worker's logs
 * name the request id and trace id; both /metrics parse as Prometheus text and their counters
 * rose by exactly what the test did; an invalid request id or traceparent is replaced; the
 * worker's /healthz and /readyz answer 200.
 */
#include "itest.h"
#include "itest_metrics.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TRACE_ID    "4bf92f3577b34da6a3ce929d0e0e4736"
#define CALLER_SPAN "00f067aa0ba902b7"

static int checks;
#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        CHECK(cond, __VA_ARGS__);                                                                  \
        checks++;                                                                                  \
    } while (0)

typedef struct {
    const char *request_id;
    const char *transaction_id; /* NULL: any */
    int matched;
    char traceparent[128];
    char traceparents[8][128];
} header_match;

static void header_of(const rd_kafka_message_t *m, const char *name, char *out, size_t size)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t len = 0;
    out[0] = '\0';
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(h, name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR && v != NULL &&
        len < size) {
        memcpy(out, v, len);
        out[len] = '\0';
    }
}

static void on_message(const void *rkmessage, void *arg)
{
    const rd_kafka_message_t *m = rkmessage;
    header_match *x = arg;
    char rid[128], tp[128];
    header_of(m, "request-id", rid, sizeof rid);
    if (strcmp(rid, x->request_id) != 0)
        return;
    header_of(m, "traceparent", tp, sizeof tp);
    if (x->matched < 8)
        snprintf(x->traceparents[x->matched], sizeof x->traceparents[0], "%s", tp);
    snprintf(x->traceparent, sizeof x->traceparent, "%s", tp);
    x->matched++;
}

/* Does a line of the log file hold every one of the texts? Polls up to timeout_ms. */
static int log_has(const char *path, const char *const *texts, int timeout_ms)
{
    int64_t deadline = itest_now_ms() + timeout_ms;
    do {
        FILE *f = fopen(path, "r");
        char line[8192];
        while (f != NULL && fgets(line, sizeof line, f) != NULL) {
            size_t i = 0;
            while (texts[i] != NULL && strstr(line, texts[i]) != NULL)
                i++;
            if (texts[i] == NULL) {
                fclose(f);
                return 1;
            }
        }
        if (f != NULL)
            fclose(f);
        itest_sleep_ms(200);
    } while (itest_now_ms() < deadline);
    return 0;
}

static long post(const itest_tenant *t, const char *body, const char *const *extra,
                 char *request_id, char *traceparent, char *txn_id)
{
    char auth[200], url[256], *resp = NULL, *headers = NULL;
    const char *h[8] = {auth, "Content-Type: application/json", NULL};
    long status;
    json_t *o;
    size_t k = 2;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && k < 7; i++)
        h[k++] = extra[i];
    h[k] = NULL;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", t->api_key);
    snprintf(url, sizeof url, "%s/v1/transactions", itest_env("LEDGER_API_URL"));
    status = itest_http_url("POST", url, h, body, &resp, &headers);
    itest_header_value(headers, "X-Request-Id", request_id, 128);
    itest_header_value(headers, "traceparent", traceparent, 64);
    o = json_loads(resp, 0, NULL);
    snprintf(txn_id, 64, "%s", o != NULL ? itest_json_str(o, "id") : "");
    json_decref(o);
    free(resp);
    free(headers);
    return status;
}

static void assert_traceparent_shape(const char *tp, const char *what)
{
    EXPECT(strlen(tp) == 55 && strncmp(tp, "00-", 3) == 0 && tp[35] == '-' && tp[52] == '-' &&
               strspn(tp + 3, "0123456789abcdef") == 32 &&
               strspn(tp + 36, "0123456789abcdef") == 16,
           "%s: \"%s\" is not a version-00 traceparent", what, tp);
}

int main(void)
{
    itest_tenant t;
    itest_prom api0, api1, wk0, wk1;
    char body[512], rid_sent[96], rid[128], tp[64], txn[64], rid2[128], tp2[64], txn2[64];
    char rid3[128], tp3[64], txn3[64], api_span[17], prefix[128], url[256], tp_header[128];
    char rid_header[128], series[512], api_log[512], worker_log[512];
    const char *worker_url = itest_env("LEDGER_WORKER_URL");
    const char *log_dir =
        getenv("LEDGER_LOG_DIR") != NULL ? getenv("LEDGER_LOG_DIR") : LEDGER_TEST_VAR "/logs";
    char *resp = NULL;
    json_t *o;
    header_match hm;

    snprintf(api_log, sizeof api_log, "%s/api.log", log_dir);
    snprintf(worker_log, sizeof worker_log, "%s/worker.log", log_dir);
    itest_tenant_create(&t, "it-obs", NULL, 1, "USD");

    /* The worker's probes. */
    snprintf(url, sizeof url, "%s/healthz", worker_url);
    EXPECT(itest_http_url("GET", url, NULL, NULL, NULL, NULL) == 200, "worker /healthz");
    snprintf(url, sizeof url, "%s/readyz", worker_url);
    EXPECT(itest_http_url("GET", url, NULL, NULL, &resp, NULL) == 200, "worker /readyz: %s", resp);
    o = json_loads(resp, 0, NULL);
    EXPECT(o != NULL && strcmp(itest_json_str(o, "database"), "ok") == 0 &&
               strcmp(itest_json_str(o, "kafka"), "ok") == 0,
           "worker /readyz body %s", resp);
    json_decref(o);
    free(resp);

    snprintf(url, sizeof url, "%s/metrics", itest_env("LEDGER_API_URL"));
    itest_prom_scrape(url, &api0);
    /* The worker is shared with the tests before this one: wait until it is idle (no batch for
     * 1.5 s) so that what it counts from here on is this test's. */
    snprintf(url, sizeof url, "%s/metrics", worker_url);
    itest_prom_scrape(url, &wk0);
    for (int64_t deadline = itest_now_ms() + 30000;;) {
        itest_prom later;
        int idle;
        itest_sleep_ms(1500);
        itest_prom_scrape(url, &later);
        idle = itest_prom_value(&later, "ledger_worker_batch_size_sum") ==
               itest_prom_value(&wk0, "ledger_worker_batch_size_sum");
        itest_prom_free(&wk0);
        wk0 = later;
        if (idle)
            break;
        CHECK(itest_now_ms() < deadline, "the worker never went idle");
    }

    /* 1. A deposit with the caller's request id and traceparent. */
    snprintf(rid_sent, sizeof rid_sent, "obs-%.48s", t.slug);
    snprintf(rid_header, sizeof rid_header, "X-Request-Id: %s", rid_sent);
    snprintf(tp_header, sizeof tp_header, "traceparent: 00-%s-%s-01", TRACE_ID, CALLER_SPAN);
    snprintf(
        body, sizeof body,
        "{\"type\":\"DEPOSIT\",\"amount\":\"25.00\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
        t.account[0]);
    EXPECT(post(&t, body, (const char *[]){rid_header, tp_header, NULL}, rid, tp, txn) == 202,
           "deposit not accepted");
    EXPECT(strcmp(rid, rid_sent) == 0, "X-Request-Id answered \"%s\", sent \"%s\"", rid, rid_sent);
    assert_traceparent_shape(tp, "the API's traceparent");
    EXPECT(strncmp(tp, "00-" TRACE_ID "-", 36) == 0, "the API left the trace: %s", tp);
    EXPECT(strncmp(tp + 36, CALLER_SPAN, 16) != 0, "the API did not start a span: %s", tp);
    snprintf(api_span, sizeof api_span, "%.16s", tp + 36);

    /* 2. A deposit with an unusable request id and traceparent: both are replaced. */
    EXPECT(post(&t, body,
                (const char *[]){
                    "X-Request-Id: has spaces in it",
                    "traceparent: 00-00000000000000000000000000000000-" CALLER_SPAN "-01", NULL},
                rid2, tp2, txn2) == 202,
           "second deposit not accepted");
    EXPECT(strlen(rid2) == 32 && strspn(rid2, "0123456789abcdef") == 32,
           "a generated request id should be 32 hex digits: \"%s\"", rid2);
    assert_traceparent_shape(tp2, "a new trace");
    EXPECT(strncmp(tp2 + 3, "00000000000000000000000000000000", 32) != 0 &&
               strncmp(tp2 + 3, TRACE_ID, 32) != 0,
           "an invalid traceparent must start a new trace: %s", tp2);

    /* 3. A withdrawal beyond the balance: FAILED, INSUFFICIENT_FUNDS. */
    snprintf(body, sizeof body,
             "{\"type\":\"WITHDRAWAL\",\"amount\":\"1000.00\",\"currency\":\"USD\","
             "\"fromAccount\":\"%s\"}",
             t.account[0]);
    EXPECT(post(&t, body, NULL, rid3, tp3, txn3) == 202, "withdrawal not accepted");
    json_decref(itest_expect_status(&t, txn, "COMPLETED"));
    json_decref(itest_expect_status(&t, txn2, "COMPLETED"));
    json_decref(itest_expect_status(&t, txn3, "FAILED"));

    /* Kafka: the command, its result and its entries carry the request id and the trace. */
    snprintf(prefix, sizeof prefix, "%s:", t.id);
    memset(&hm, 0, sizeof hm);
    hm.request_id = rid_sent;
    itest_consume_messages("txn.commands", prefix, 1500, on_message, &hm);
    EXPECT(hm.matched == 1, "%d command(s) with request-id %s in txn.commands", hm.matched,
           rid_sent);
    EXPECT(strcmp(hm.traceparent, tp) == 0, "the command's traceparent %s is not the API's span %s",
           hm.traceparent, tp);

    memset(&hm, 0, sizeof hm);
    hm.request_id = rid_sent;
    snprintf(prefix, sizeof prefix, "%s:%s", t.id, txn);
    itest_consume_messages("txn.results", prefix, 1500, on_message, &hm);
    EXPECT(hm.matched == 1, "%d result(s) with request-id %s", hm.matched, rid_sent);
    assert_traceparent_shape(hm.traceparent, "the result's traceparent");
    EXPECT(strncmp(hm.traceparent, "00-" TRACE_ID "-", 36) == 0, "the result left the trace: %s",
           hm.traceparent);
    EXPECT(strncmp(hm.traceparent + 36, api_span, 16) != 0 &&
               strncmp(hm.traceparent + 36, CALLER_SPAN, 16) != 0,
           "the result should name the worker's span: %s", hm.traceparent);

    memset(&hm, 0, sizeof hm);
    hm.request_id = rid_sent;
    snprintf(prefix, sizeof prefix, "%s:", t.id);
    itest_consume_messages("ledger.entries", prefix, 1500, on_message, &hm);
    EXPECT(hm.matched == 2, "%d ledger event(s) with request-id %s (a deposit posts two)",
           hm.matched, rid_sent);
    for (int i = 0; i < hm.matched && i < 8; i++)
        EXPECT(strncmp(hm.traceparents[i], "00-" TRACE_ID "-", 36) == 0,
               "a ledger event left the trace: %s", hm.traceparents[i]);

    /* The logs: the API's line for the request, the worker's for the command. */
    {
        char rid_field[160], trace_field[80], txn_field[128];
        snprintf(rid_field, sizeof rid_field, "\"request_id\":\"%s\"", rid_sent);
        snprintf(trace_field, sizeof trace_field, "\"trace_id\":\"%s\"", TRACE_ID);
        snprintf(txn_field, sizeof txn_field, "\"transaction_id\":\"%s\"", txn);
        EXPECT(log_has(api_log,
                       (const char *[]){rid_field, trace_field, "\"route\":\"/v1/transactions\"",
                                        "\"status\":202", "\"method\":\"POST\"",
                                        "\"duration_ms\":", "\"tenant\":\"", NULL},
                       5000),
               "no request line with %s and %s in %s", rid_field, trace_field, api_log);
        EXPECT(log_has(worker_log,
                       (const char *[]){rid_field, trace_field, txn_field,
                                        "\"outcome\":\"applied\"", NULL},
                       10000),
               "no line with %s, %s and %s in %s", rid_field, trace_field, txn_field, worker_log);
    }

    /* A message that is not a command: to the DLQ, counted. */
    {
        static const char junk[] = "not an avro command";
        char key[128];
        snprintf(key, sizeof key, "%s:junk", t.id);
        itest_produce("txn.commands", 0, key, junk, sizeof junk - 1);
    }

    /* Metrics, after: the worker counts once its Kafka transaction committed; wait for it. */
    snprintf(url, sizeof url, "%s/metrics", worker_url);
    for (int64_t deadline = itest_now_ms() + 20000;;) {
        itest_prom_scrape(url, &wk1);
        if (itest_prom_value(&wk1, "ledger_worker_dlq_messages_total{reason=\"undecodable\"}") >
                itest_prom_value(&wk0,
                                 "ledger_worker_dlq_messages_total{reason=\"undecodable\"}") &&
            itest_prom_sum(&wk1, "ledger_worker_consumer_lag") >= 0 &&
            itest_prom_has(&wk1,
                           "ledger_worker_consumer_lag{topic=\"txn.commands\",partition=\"0\"}"))
            break;
        CHECK(itest_now_ms() < deadline, "the worker's metrics did not show the DLQ message");
        itest_prom_free(&wk1);
        itest_sleep_ms(500);
    }
    snprintf(url, sizeof url, "%s/metrics", itest_env("LEDGER_API_URL"));
    itest_prom_scrape(url, &api1);

#define DELTA(a, b, s) (itest_prom_value(&(b), s) - itest_prom_value(&(a), s))
    snprintf(
        series, sizeof series,
        "ledger_http_requests_total{route=\"/v1/transactions\",method=\"POST\",status=\"202\"}");
    EXPECT(DELTA(api0, api1, series) == 3, "%s rose by %g, expected 3", series,
           DELTA(api0, api1, series));
    snprintf(series, sizeof series,
             "ledger_http_request_duration_seconds_count{route=\"/v1/transactions\"}");
    EXPECT(DELTA(api0, api1, series) == 3, "%s rose by %g, expected 3", series,
           DELTA(api0, api1, series));
    snprintf(series, sizeof series,
             "ledger_http_requests_total{route=\"/v1/transactions/{id}\",method=\"GET\","
             "status=\"200\"}");
    EXPECT(DELTA(api0, api1, series) >= 3, "%s rose by %g, expected at least 3 (polls)", series,
           DELTA(api0, api1, series));
    for (size_t i = 0; i < api1.n; i++)
        EXPECT(strstr(api1.series[i], txn) == NULL, "a raw path in a route label: %s",
               api1.series[i]);
    EXPECT(itest_prom_value(&api1, "ledger_commands_in_flight") == 0, "commands still in flight");
    /* The tenant's pool: the API read this tenant's database (the polls), the worker wrote it;
     * between requests every connection is idle, and the totals hold them under the bound. */
    snprintf(series, sizeof series, "ledger_db_pool_connections{tenant=\"%s\",state=\"idle\"}",
             t.id);
    EXPECT(itest_prom_value(&api1, series) >= 1, "the API's pool for the tenant: %s = %g", series,
           itest_prom_value(&api1, series));
    EXPECT(itest_prom_value(&wk1, series) >= 1, "the worker's pool for the tenant: %s = %g",
           series, itest_prom_value(&wk1, series));
    EXPECT(itest_prom_value(&api1, "ledger_db_pool_connections_limit") >= 1 &&
               itest_prom_sum(&api1, "ledger_db_pool_connections_total") <=
                   itest_prom_value(&api1, "ledger_db_pool_connections_limit"),
           "pool totals: %g of %g", itest_prom_sum(&api1, "ledger_db_pool_connections_total"),
           itest_prom_value(&api1, "ledger_db_pool_connections_limit"));
    EXPECT(itest_prom_value(&api1,
                            "ledger_build_info{program=\"producer-api\",version=\"0.1.0\"}") == 1,
           "no build info");

    snprintf(series, sizeof series,
             "ledger_worker_commands_total{type=\"DEPOSIT\",outcome=\"applied\",reason=\"\"}");
    EXPECT(DELTA(wk0, wk1, series) == 2, "%s rose by %g, expected 2", series,
           DELTA(wk0, wk1, series));
    snprintf(series, sizeof series,
             "ledger_worker_commands_total{type=\"WITHDRAWAL\",outcome=\"failed\","
             "reason=\"INSUFFICIENT_FUNDS\"}");
    EXPECT(DELTA(wk0, wk1, series) == 1, "%s rose by %g, expected 1", series,
           DELTA(wk0, wk1, series));
    EXPECT(DELTA(wk0, wk1, "ledger_worker_dlq_messages_total{reason=\"undecodable\"}") == 1,
           "DLQ counter rose by %g, expected 1",
           DELTA(wk0, wk1, "ledger_worker_dlq_messages_total{reason=\"undecodable\"}"));
    EXPECT(DELTA(wk0, wk1, "ledger_worker_batch_size_sum") == 4,
           "batches held %g messages, expected 4 (3 commands, 1 for the DLQ)",
           DELTA(wk0, wk1, "ledger_worker_batch_size_sum"));
    EXPECT(DELTA(wk0, wk1, "ledger_worker_batch_size_count") >= 1, "no batch counted");
    EXPECT(DELTA(wk0, wk1, "ledger_worker_pg_transaction_seconds_count") >= 1,
           "no PostgreSQL transaction timed");
    EXPECT(itest_prom_value(&wk1, "ledger_worker_kafka_commit_errors_total") == 0,
           "Kafka commit errors: %g",
           itest_prom_value(&wk1, "ledger_worker_kafka_commit_errors_total"));
    EXPECT(itest_prom_value(&wk1, "ledger_worker_assigned_partitions") > 0,
           "no partition assigned");
    EXPECT(itest_prom_value(&wk1, "ledger_worker_rebalances_total{kind=\"assign\"}") >= 1,
           "no rebalance counted");
    for (size_t i = 0; i < wk1.n; i++)
        if (strncmp(wk1.series[i], "ledger_worker_consumer_lag{", 27) == 0)
            EXPECT(wk1.values[i] >= 0, "negative lag %s", wk1.series[i]);

    itest_prom_free(&api0);
    itest_prom_free(&api1);
    itest_prom_free(&wk0);
    itest_prom_free(&wk1);
    printf("%d passed, 0 failed\n", checks);
    return 0;
}
