/*
 * RFC 9457 problem details: the one shape of every error the HTTP API returns, also used by the
 * validator so that the HTTP layer only serialises. `type` values are stable URI references
 * ("/problems/invalid-amount"); docs/openapi.yaml lists them.
 */
#ifndef LG_PROBLEM_H
#define LG_PROBLEM_H

#include <stddef.h>

typedef struct {
    int status;         /* HTTP status, e.g. 422 */
    const char *type;   /* static string, e.g. "/problems/invalid-amount" */
    const char *title;  /* static string: short, the same for every occurrence of the type */
    char detail[512];   /* this occurrence, readable, never SQL or a secret */
    char field[64];     /* the offending request field, or "" */
} lg_problem;

/* Fills p. detail is printf-style. Returns -1 so that callers can `return lg_problem_set(...)`. */
int lg_problem_set(lg_problem *p, int status, const char *type, const char *title,
                   const char *field, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Serialises p as a problem+json body (caller frees with free()). instance may be NULL. */
char *lg_problem_json(const lg_problem *p, const char *instance);

#endif
