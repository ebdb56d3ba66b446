/*
 * The pure parts of request routing, apart from the server so that they can be tested and
 * fuzzed on their own: matching a path against a route pattern, the tenant label of a Host
 * header, and the kind of credential an Authorization header carries.
 */
#ifndef LG_API_ROUTE_MATCH_H
#define LG_API_ROUTE_MATCH_H

#include <stddef.h>

/*
 * Does path match pattern? A "{}" in the pattern matches one non-empty path segment (no '/').
 * The matched segments are copied, NUL-terminated, into buf (buf_size bytes) and params[i]
 * points at the i-th; at most max_params are taken (a pattern with more does not match).
 * Returns 1 on a match, 0 otherwise (then params and *n_params say nothing).
 */
int api_route_match(const char *pattern, const char *path, char *buf, size_t buf_size,
                    const char **params, int max_params, int *n_params);

/*
 * The first label of a Host header, lower case, into label[64]. Returns 1, or 0 when the host is
 * absent, an IP address (v4, or a bracketed v6 literal), a single label, or not a host name at
 * all: such a Host names no tenant. A label is 1 to 63 of a-z, 0-9 and '-'.
 */
int api_host_label(const char *host, char label[64]);

/* What an Authorization header carries. */
enum { API_BEARER_NONE = 0, API_BEARER_API_KEY = 1, API_BEARER_TOKEN = 2 };

/*
 * Reads "Bearer <credential>" (the credential 1 to max_len bytes). Returns API_BEARER_API_KEY
 * for an API key ("lk_..."), API_BEARER_TOKEN for anything else (a JWT to verify), with
 * *credential pointing into auth; API_BEARER_NONE when there is no usable header.
 */
int api_bearer_parse(const char *auth, size_t max_len, const char **credential);

#endif
