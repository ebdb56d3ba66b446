/*
 * The HTTP side of producer-api: libmicrohttpd with a small thread pool. A POST that produces a
 * command suspends its connection before producing; the delivery report (served by the producer
 * poll thread) writes the answer and resumes the connection, so `202` leaves only once Kafka
 * holds the command with acks=all, and no HTTP thread ever waits on Kafka.
 *
 * Every request gets a request id (the caller's X-Request-Id when it is acceptable, else a new
 * one) and a span of its own in the caller's W3C trace (traceparent; a new trace when the
 * caller sent none or an invalid one). Both are answered as response headers, logged with the
 * request, and carried to Kafka as the command's `request-id` and `traceparent` headers, the
 * latter naming this request's span as the parent.
 */
#include "api.h"
#include "api_metrics.h"

#include "lg_log.h"
#include "lg_kafka.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *api_header(api_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->connection, MHD_HEADER_KIND, name);
}

void api_respond(api_request *r, int status, char *body, const char *content_type)
{
    free(r->response_body);
    r->status = status;
    r->response_body = body;
    r->content_type = content_type;
}

void api_respond_problem(api_request *r, const lg_problem *p)
{
    api_respond(r, p->status, lg_problem_json(p, r->url), "application/problem+json");
}

void api_respond_json(api_request *r, int status, json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(value);
    api_respond(r, status, text, "application/json");
}

/* The delivery report: the command is in Kafka (202) or it is not known to be (503). */
static void delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    api_request *r = msg->_private;
    (void)rk;
    (void)opaque;
    if (r == NULL)
        return;
    api_metrics_in_flight(r->server, -1);
    pthread_mutex_lock(&r->lock);
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_message_status(msg) == RD_KAFKA_MSG_STATUS_PERSISTED) {
        /* api_produce_command left the 202 body ready; keep it. */
        r->status = MHD_HTTP_ACCEPTED;
    } else {
        lg_problem p;
        int possibly = rd_kafka_message_status(msg) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED;
        api_metrics_produce_error(r->server, msg->err != RD_KAFKA_RESP_ERR_NO_ERROR
                                                 ? (int)msg->err
                                                 : (int)RD_KAFKA_RESP_ERR__FAIL);
        lg_log_kv(
            LG_LOG_WARN,
            (const char *[]){"request_id", r->request_id, "trace_id", r->trace.trace_id, NULL},
            "command not acknowledged by Kafka: %s%s", rd_kafka_err2str(msg->err),
            possibly ? " (possibly persisted)" : "");
        lg_problem_set(&p, 503, "/problems/broker-unavailable", "Service unavailable", NULL,
                       possibly ? "Kafka did not confirm the command; it may or may not have "
                                  "been accepted. Retry with the same Idempotency-Key."
                                : "Kafka did not accept the command; nothing was recorded. "
                                  "Retry later.");
        api_respond_problem(r, &p);
        r->location[0] = '\0';
        r->retry_after = 1;
    }
    MHD_resume_connection(r->connection);
    pthread_mutex_unlock(&r->lock);
}

/* The answer to a command that arrives while the server stops (api_kafka_drain). */
static void stopping_problem(api_request *r)
{
    lg_problem p;
    lg_problem_set(&p, 503, "/problems/broker-unavailable", "Service unavailable", NULL,
                   "this server is stopping and did not queue the command for Kafka; nothing "
                   "was recorded. Retry with the same Idempotency-Key.");
    api_respond_problem(r, &p);
    r->location[0] = '\0';
    r->retry_after = 1;
}

void api_produce_command(api_request *r, const char *key, void *payload, size_t len,
                         const char *transaction_id, const char *traceparent)
{
    rd_kafka_resp_err_t err;
    rd_kafka_headers_t *headers;
    json_t *accepted = json_pack("{s:s, s:s, s:{s:s}}", "id", transaction_id, "status", "PENDING",
                                 "links", "self", r->location);
    pthread_mutex_lock(&r->lock);
    /* The 202 body is ready before the report arrives; the report decides whether it is sent. */
    api_respond_json(r, MHD_HTTP_ACCEPTED, accepted);
    r->status = 0;
    MHD_suspend_connection(r->connection);
    r->suspended = 1;
    /* The caller's traceparent was checked when the request began (r->trace): the command
     * carries this request's span as its parent. */
    (void)traceparent;
    headers = rd_kafka_headers_new(2);
    rd_kafka_header_add(headers, "request-id", -1, r->request_id, -1);
    rd_kafka_header_add(headers, "traceparent", -1, r->trace.traceparent, -1);
    api_metrics_in_flight(r->server, 1);
    pthread_rwlock_rdlock(&r->server->producer_lock);
    if (r->server->draining) {
        /* Stopping: the producer is being flushed and goes away once the HTTP threads have
         * stopped. Nothing is queued; the client retries (elsewhere) with its key. */
        pthread_rwlock_unlock(&r->server->producer_lock);
        rd_kafka_headers_destroy(headers);
        api_metrics_in_flight(r->server, -1);
        free(payload);
        stopping_problem(r);
        MHD_resume_connection(r->connection);
        pthread_mutex_unlock(&r->lock);
        return;
    }
    err = rd_kafka_producev(r->server->producer, RD_KAFKA_V_TOPIC(LG_TOPIC_COMMANDS),
                            RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(payload, len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                            RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(r), RD_KAFKA_V_END);
    pthread_rwlock_unlock(&r->server->producer_lock);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        lg_problem p;
        rd_kafka_headers_destroy(headers); /* owned by librdkafka only on success */
        api_metrics_in_flight(r->server, -1);
        api_metrics_produce_error(r->server, (int)err);
        free(payload);
        lg_problem_set(&p, 503, "/problems/broker-unavailable", "Service unavailable", NULL,
                       "the command could not be queued for Kafka (%s); nothing was recorded",
                       rd_kafka_err2str(err));
        api_respond_problem(r, &p);
        r->location[0] = '\0';
        r->retry_after = 1;
        MHD_resume_connection(r->connection);
    }
    pthread_mutex_unlock(&r->lock);
}

static enum MHD_Result queue_answer(api_request *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    const char *body = r->response_body != NULL ? r->response_body : "";
    resp = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
                                           MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    if (r->content_type != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    MHD_add_response_header(resp, "traceparent", r->trace.traceparent);
    /* Answers are one caller's data (tokens and keys among them): never kept by a cache. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->location[0] != '\0' &&
        (r->status == MHD_HTTP_ACCEPTED || r->status == MHD_HTTP_CREATED))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    if (r->retry_after > 0) {
        char s[16];
        snprintf(s, sizeof s, "%d", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, s);
    }
    ret = MHD_queue_response(r->connection, (unsigned int)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    api_server *server = cls;
    api_request *r = *con_cls;
    (void)version;

    if (r == NULL) {
        const char *rid;
        r = calloc(1, sizeof *r);
        if (r == NULL)
            return MHD_NO;
        r->connection = connection;
        r->server = server;
        pthread_mutex_init(&r->lock, NULL);
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->url, sizeof r->url, "%s", url);
        clock_gettime(CLOCK_MONOTONIC, &r->started);
        rid = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "X-Request-Id");
        if (lg_request_id_valid(rid) && strlen(rid) < sizeof r->request_id)
            snprintf(r->request_id, sizeof r->request_id, "%s", rid);
        else
            lg_request_id_new(r->request_id);
        lg_trace_start(MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "traceparent"),
                       &r->trace);
        *con_cls = r;
        {
            /* A body announced larger than the limit is refused before a byte of it is read
             * (libmicrohttpd then closes the connection after the answer). */
            const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                              MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (length != NULL && strtoull(length, NULL, 10) > (unsigned long long)API_MAX_BODY) {
                lg_problem p;
                r->body_too_large = 1;
                lg_problem_set(&p, 413, "/problems/body-too-large", "Request body too large",
                               NULL, "the body is larger than %d bytes", API_MAX_BODY);
                api_respond_problem(r, &p);
                return queue_answer(r);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (r->body_len + *upload_data_size > API_MAX_BODY) {
            r->body_too_large = 1;
        } else {
            char *nb = realloc(r->body, r->body_len + *upload_data_size + 1);
            if (nb == NULL)
                return MHD_NO;
            r->body = nb;
            memcpy(r->body + r->body_len, upload_data, *upload_data_size);
            r->body_len += *upload_data_size;
            r->body[r->body_len] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->suspended) {
        enum MHD_Result ret;
        void (*resume)(api_request *);
        pthread_mutex_lock(&r->lock);
        resume = r->resume;
        r->resume = NULL;
        if (resume == NULL) {
            /* Resumed by the delivery report: the answer is set. */
            ret = queue_answer(r);
            pthread_mutex_unlock(&r->lock);
            return ret;
        }
        /* Resumed by a helper thread (an idempotency claim committed): go on. */
        r->suspended = 0;
        pthread_mutex_unlock(&r->lock);
        resume(r);
        if (r->suspended)
            return MHD_YES;
        return queue_answer(r);
    }
    if (r->body_too_large) {
        lg_problem p;
        lg_problem_set(&p, 413, "/problems/body-too-large", "Request body too large", NULL,
                       "the body is larger than %d bytes", API_MAX_BODY);
        api_respond_problem(r, &p);
    } else if (strcmp(r->url, "/metrics") == 0 && strcmp(r->method, "GET") == 0) {
        api_metrics_serve(r);
    } else {
        api_route(r);
    }
    if (r->suspended)
        return MHD_YES;
    return queue_answer(r);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    api_request *r = *con_cls;
    (void)cls;
    (void)connection;
    (void)toe;
    if (r == NULL)
        return;
    if (r->status != 0)
        api_metrics_request_done(r);
    if (r->resume_state != NULL && r->free_state != NULL)
        r->free_state(r->resume_state);
    free(r->body);
    free(r->response_body);
    pthread_mutex_destroy(&r->lock);
    free(r);
    *con_cls = NULL;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    api_server *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[256];
        rd_kafka_fatal_error(rk, fatal, sizeof fatal);
        lg_log_error("Kafka producer failed fatally: %s; replacing it", fatal);
        s->producer_fatal = 1;
    } else if (err != RD_KAFKA_RESP_ERR__TRANSPORT && err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        lg_log_warn("Kafka: %s", reason);
    }
}

static rd_kafka_t *producer_new(api_server *s, char *err, size_t err_size)
{
    rd_kafka_conf_t *conf = lg_kafka_producer_conf(s->brokers, err, err_size);
    rd_kafka_t *rk;
    if (conf == NULL)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_opaque(conf, s);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, err_size);
    if (rk == NULL)
        rd_kafka_conf_destroy(conf);
    return rk;
}

/* After a fatal error: a new producer takes new commands at once; the old one's in-flight
 * commands are purged, and their delivery reports answer 503 (nothing was acknowledged). */
static void replace_producer(api_server *s)
{
    char err[512];
    rd_kafka_t *fresh = producer_new(s, err, sizeof err), *old;
    if (fresh == NULL) {
        lg_log_error("cannot create a new Kafka producer: %s", err);
        return;
    }
    pthread_rwlock_wrlock(&s->producer_lock);
    old = s->producer;
    s->producer = fresh;
    s->producer_fatal = 0;
    pthread_rwlock_unlock(&s->producer_lock);
    rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(old, 5000);
    rd_kafka_destroy(old);
    lg_log_info("Kafka producer replaced");
}

static void *poll_thread(void *arg)
{
    api_server *s = arg;
    while (!s->poll_stop) {
        rd_kafka_poll(s->producer, 100);
        if (s->producer_fatal)
            replace_producer(s);
    }
    return NULL;
}

int api_kafka_start(api_server *s, const char *brokers, char *err, size_t err_size)
{
    snprintf(s->brokers, sizeof s->brokers, "%s", brokers);
    pthread_rwlock_init(&s->producer_lock, NULL);
    s->producer = producer_new(s, err, err_size);
    if (s->producer == NULL)
        return -1;
    if (pthread_create(&s->poller, NULL, poll_thread, s) != 0) {
        snprintf(err, err_size, "cannot start the Kafka poll thread");
        rd_kafka_destroy(s->producer);
        s->producer = NULL;
        return -1;
    }
    return 0;
}

void api_kafka_drain(api_server *s, int timeout_ms)
{
    if (s->producer == NULL)
        return;
    pthread_rwlock_wrlock(&s->producer_lock);
    s->draining = 1;
    pthread_rwlock_unlock(&s->producer_lock);
    pthread_rwlock_rdlock(&s->producer_lock);
    if (rd_kafka_flush(s->producer, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* Not acknowledged in time: their reports answer 503 and resume the connections. */
        lg_log_warn("stopping: %d command(s) not acknowledged by Kafka in %d ms; answering 503",
                    rd_kafka_outq_len(s->producer), timeout_ms);
        rd_kafka_purge(s->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(s->producer, 5000);
    }
    pthread_rwlock_unlock(&s->producer_lock);
}

void api_kafka_stop(api_server *s, int timeout_ms)
{
    if (s->producer == NULL)
        return;
    rd_kafka_flush(s->producer, timeout_ms);
    s->poll_stop = 1;
    pthread_join(s->poller, NULL);
    rd_kafka_poll(s->producer, 0);
    rd_kafka_destroy(s->producer);
    s->producer = NULL;
    pthread_rwlock_destroy(&s->producer_lock);
}

int api_kafka_ready(api_server *s, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e;
    pthread_rwlock_rdlock(&s->producer_lock);
    e = rd_kafka_metadata(s->producer, 0, NULL, &md, timeout_ms);
    pthread_rwlock_unlock(&s->producer_lock);
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR;
}

void api_kafka_inject_fatal(api_server *s)
{
    pthread_rwlock_rdlock(&s->producer_lock);
    rd_kafka_test_fatal_error(s->producer, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                              "injected by a test");
    pthread_rwlock_unlock(&s->producer_lock);
}

/* libmicrohttpd's memory pool of one connection, cleared before every request on a keep-alive
 * connection. It holds the request line, the headers, the read buffer and the response
 * headers, never the body: on_request copies the body out chunk by chunk (at most
 * API_MAX_BODY), so a large body only takes more chunks. 32 KiB (libmicrohttpd's own default)
 * leaves room for about 16 KiB of headers; larger headers get 431. */
#define API_CONNECTION_MEMORY (32 * 1024)

struct MHD_Daemon *api_daemon_start(api_server *server, const char *host, unsigned short port,
                                    unsigned int threads, char *err, size_t err_size);
struct MHD_Daemon *api_daemon_start(api_server *server, const char *host, unsigned short port,
                                    unsigned int threads, char *err, size_t err_size)
{
    struct sockaddr_in addr;
    struct MHD_Daemon *d;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        snprintf(err, err_size, "LEDGER_API_LISTEN: \"%s\" is not an IPv4 address", host);
        return NULL;
    }
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                             MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
                         port, NULL, NULL, on_request, server, MHD_OPTION_SOCK_ADDR, &addr,
                         MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT,
                         server->conn_timeout_s, MHD_OPTION_CONNECTION_LIMIT, server->max_conns,
                         MHD_OPTION_PER_IP_CONNECTION_LIMIT, server->max_conns_per_ip,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_CONNECTION_MEMORY,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (d == NULL)
        snprintf(err, err_size, "cannot listen on %s:%u", host, port);
    return d;
}
