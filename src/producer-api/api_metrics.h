/*
 * producer-api's metrics (GET /metrics) and its one log line per request. The route label is
 * the route's template (/v1/transactions/{id}), never the path a client sent, so the number of
 * series stays bounded whatever the clients do.
 */
#ifndef LG_API_METRICS_H
#define LG_API_METRICS_H

#include "api.h"
#include "lg_metrics.h"

/* Creates the registry and the API's families (s->metrics). Returns 0 or -1 with err. */
int api_metrics_init(api_server *s, char *err, size_t err_size);
/* Adds the connection pools' use (ledger_db_pool_connections) to the metrics, from s->router. */
void api_metrics_pools(api_server *s);
/* Frees s->metrics. */
void api_metrics_free(api_server *s);

/* The template of the route r's path matches, into buf ("unmatched" when none does). */
const char *api_route_template(const api_request *r, char *buf, size_t size);

/* A request is over: counts it, observes its duration, and logs it. */
void api_metrics_request_done(api_request *r);

/* A command left for Kafka (+1) or was answered by its delivery report (-1). */
void api_metrics_in_flight(api_server *s, int delta);

/* n idempotency records were written by one commit (api_claims.c). */
void api_metrics_claim_group(api_server *s, size_t n);

/* Kafka did not take a command: err is librdkafka's code. */
void api_metrics_produce_error(api_server *s, int err);

/* GET /metrics: answers r with the exposition text. */
void api_metrics_serve(api_request *r);

#endif
