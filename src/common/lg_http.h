/*
 * A small HTTP listener (libmicrohttpd, one internal thread) for the operational endpoints of a
 * process that has no API of its own, such as ledger-worker's /healthz, /readyz and /metrics.
 * It serves GET only; each request is answered by a handler the caller gives.
 */
#ifndef LG_HTTP_H
#define LG_HTTP_H

#include <stddef.h>

typedef struct lg_http lg_http;

/* Answers one request: returns the HTTP status and sets *body (malloc'd, freed by lg_http) and
 * *content_type (a static string). Called on the listener's thread. */
typedef int (*lg_http_handler)(const char *method, const char *path, char **body,
                               const char **content_type, void *arg);

/* Parses "host:port" (an IPv4 host; port 0 to 65535, 0 picks a free port). Returns 0, or -1 with
 * err. */
int lg_http_parse_listen(const char *listen, char *host, size_t host_size, unsigned short *port,
                         char *err, size_t err_size);

/* Starts listening on listen ("host:port"). Returns the listener (stop it with lg_http_stop), or
 * NULL with err. */
lg_http *lg_http_start(const char *listen, lg_http_handler handler, void *arg, char *err,
                       size_t err_size);

/* The port the listener is bound to (the one chosen when it was asked for port 0). */
unsigned short lg_http_port(const lg_http *h);

/* Stops listening and frees h. Accepts NULL. */
void lg_http_stop(lg_http *h);

#endif
