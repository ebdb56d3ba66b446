/*
 * producer-api's metrics and request log (see api_metrics.h).
 */
#include "api_metrics.h"
#include "api_route_match.h"

#include "lg_log.h"
#include "lg_pool_metrics.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct api_metrics {
    lg_metrics *registry;
    lg_metric *requests;       /* ledger_http_requests_total{route,method,status} */
    lg_metric *duration;       /* ledger_http_request_duration_seconds{route} */
    lg_metric *produce_errors; /* ledger_kafka_produce_errors_total{reason} */
    lg_series *in_flight;      /* ledger_commands_in_flight */
    lg_metric *claim_groups;   /* ledger_idempotency_claims_per_commit */
};

/* The routes api_routes.c and api_server.c answer themselves, after api_route_tables (the
 * dispatcher's). A "{}" segment is shown as "{id}". */
static const char *const own_routes[] = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/transactions",
    "/v1/transactions/{}",
    "/v1/accounts/{}/balance",
    "/v1/accounts/{}/entries",
    "/v1/_faults/kafka-fatal",
    NULL,
};

int api_metrics_init(api_server *s, char *err, size_t err_size)
{
    struct api_metrics *m = calloc(1, sizeof *m);
    lg_metric *info;
    if (m == NULL || (m->registry = lg_metrics_new()) == NULL)
        goto fail;
    m->requests =
        lg_metrics_counter(m->registry, "ledger_http_requests_total",
                           "HTTP requests answered, by route template, method and status.",
                           (const char *[]){"route", "method", "status", NULL});
    m->duration = lg_metrics_histogram(
        m->registry, "ledger_http_request_duration_seconds",
        "Time from a request's first byte to its answer (for a command: Kafka's acknowledgement).",
        (const char *[]){"route", NULL}, lg_metrics_duration_buckets,
        lg_metrics_duration_buckets_n);
    m->produce_errors = lg_metrics_counter(
        m->registry, "ledger_kafka_produce_errors_total",
        "Commands Kafka did not acknowledge (answered 503), by librdkafka error.",
        (const char *[]){"reason", NULL});
    m->in_flight = lg_metric_series(
        lg_metrics_gauge(m->registry, "ledger_commands_in_flight",
                         "Commands handed to Kafka and not yet acknowledged.", NULL),
        NULL);
    {
        static const double group_bounds[] = {1, 2, 4, 8, 16, 32, 64};
        m->claim_groups = lg_metrics_histogram(
            m->registry, "ledger_idempotency_claims_per_commit",
            "Idempotency records written by one statement and one commit (group commit).", NULL,
            group_bounds, sizeof group_bounds / sizeof group_bounds[0]);
    }
    info = lg_metrics_gauge(m->registry, "ledger_build_info",
                            "Always 1; the labels say which program and version.",
                            (const char *[]){"program", "version", NULL});
    if (m->requests == NULL || m->duration == NULL || m->produce_errors == NULL ||
        m->in_flight == NULL || m->claim_groups == NULL || info == NULL)
        goto fail;
    lg_metric_set(info, (const char *[]){"producer-api", LEDGER_VERSION, NULL}, 1);
    s->metrics = m;
    return 0;
fail:
    if (m != NULL)
        lg_metrics_free(m->registry);
    free(m);
    snprintf(err, err_size, "cannot allocate the metrics");
    return -1;
}

void api_metrics_pools(api_server *s)
{
    if (lg_pool_metrics_register(s->metrics->registry, s->router) != 0)
        lg_log_warn("metrics: cannot register the connection pools' collector");
}

void api_metrics_free(api_server *s)
{
    if (s->metrics == NULL)
        return;
    lg_metrics_free(s->metrics->registry);
    free(s->metrics);
    s->metrics = NULL;
}

/* Does path match the route pattern? (api_route_match, without keeping the segments.) */
static int template_match(const char *pattern, const char *path)
{
    char buf[sizeof((api_request *)NULL)->url];
    const char *params[API_MAX_PATH_PARAMS];
    int n;
    return api_route_match(pattern, path, buf, sizeof buf, params, API_MAX_PATH_PARAMS, &n);
}

static const char *show_template(const char *pattern, char *buf, size_t size)
{
    size_t used = 0;
    for (const char *p = pattern; *p != '\0' && used + 5 < size; p++) {
        if (p[0] == '{' && p[1] == '}') {
            memcpy(buf + used, "{id}", 4);
            used += 4;
            p++;
        } else {
            buf[used++] = *p;
        }
    }
    buf[used] = '\0';
    return buf;
}

const char *api_route_template(const api_request *r, char *buf, size_t size)
{
    /* By path alone: a known path with another method (405) is still that route. */
    for (size_t t = 0; api_route_tables[t] != NULL; t++)
        for (const api_route_def *d = api_route_tables[t]; d->method != NULL; d++)
            if (template_match(d->pattern, r->url))
                return show_template(d->pattern, buf, size);
    for (size_t i = 0; own_routes[i] != NULL; i++)
        if (template_match(own_routes[i], r->url))
            return show_template(own_routes[i], buf, size);
    snprintf(buf, size, "unmatched");
    return buf;
}

/* A method label from a bounded set. */
static const char *method_label(const char *method)
{
    static const char *const known[] = {"GET",   "HEAD",   "POST",    "PUT",
                                        "PATCH", "DELETE", "OPTIONS", NULL};
    for (size_t i = 0; known[i] != NULL; i++)
        if (strcmp(method, known[i]) == 0)
            return known[i];
    return "OTHER";
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

void api_metrics_request_done(api_request *r)
{
    char route[128], status[8];
    double seconds = seconds_since(&r->started);
    const char *method = method_label(r->method);
    int probe;

    api_route_template(r, route, sizeof route);
    snprintf(status, sizeof status, "%d", r->status);
    if (r->server->metrics != NULL) {
        lg_metric_add(r->server->metrics->requests, (const char *[]){route, method, status, NULL},
                      1);
        lg_metric_observe(r->server->metrics->duration, (const char *[]){route, NULL}, seconds);
    }
    /* Probes and scrapes come every few seconds: logged at debug, so that the log holds the
     * requests of clients. */
    probe = strcmp(route, "/healthz") == 0 || strcmp(route, "/readyz") == 0 ||
            strcmp(route, "/metrics") == 0;
    if (!lg_log_enabled(probe ? LG_LOG_DEBUG : LG_LOG_INFO))
        return;
    lg_log_json(probe ? LG_LOG_DEBUG : LG_LOG_INFO,
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:f}", "request_id", r->request_id,
                          "traceparent", r->trace.traceparent, "trace_id", r->trace.trace_id,
                          "tenant", r->tenant, "method", r->method, "route", route, "status",
                          r->status, "duration_ms", seconds * 1000.0),
                "%s %s -> %d", r->method, route, r->status);
}

void api_metrics_in_flight(api_server *s, int delta)
{
    if (s->metrics != NULL)
        lg_series_add(s->metrics->in_flight, delta);
}

void api_metrics_claim_group(api_server *s, size_t n)
{
    if (s->metrics != NULL)
        lg_metric_observe(s->metrics->claim_groups, NULL, (double)n);
}

void api_metrics_produce_error(api_server *s, int err)
{
    char reason[64];
    const char *name = rd_kafka_err2name((rd_kafka_resp_err_t)err);
    size_t n = 0;
    if (s->metrics == NULL)
        return;
    /* "_MSG_TIMED_OUT" -> "msg_timed_out": librdkafka's names, a bounded set. */
    while (*name == '_')
        name++;
    for (; name[n] != '\0' && n + 1 < sizeof reason; n++)
        reason[n] = (char)tolower((unsigned char)name[n]);
    reason[n] = '\0';
    lg_metric_add(s->metrics->produce_errors, (const char *[]){reason, NULL}, 1);
}

void api_metrics_serve(api_request *r)
{
    char *text =
        r->server->metrics != NULL ? lg_metrics_render(r->server->metrics->registry) : NULL;
    if (text == NULL) {
        lg_problem p;
        lg_problem_set(&p, 503, "/problems/unavailable", "Service unavailable", NULL,
                       "the metrics cannot be rendered right now");
        api_respond_problem(r, &p);
        return;
    }
    api_respond(r, 200, text, LG_METRICS_CONTENT_TYPE);
}
