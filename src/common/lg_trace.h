/*
 * Request ids and W3C Trace Context (https://www.w3.org/TR/trace-context/).
 *
 * A traceparent is "00-<trace-id>-<parent-id>-<flags>": version 00, a 32-hex-digit trace id and
 * a 16-hex-digit parent (span) id, neither all zeros, and 2 hex digits of flags, all lowercase.
 * Each process that handles a command starts a span of its own: it keeps the trace id and the
 * flags and passes on a traceparent whose parent id is its own span id.
 */
#ifndef LG_TRACE_H
#define LG_TRACE_H

#include <stddef.h>

#define LG_TRACEPARENT_LEN 55
#define LG_REQUEST_ID_MAX  64

typedef struct {
    char trace_id[33];
    char parent_id[17]; /* the caller's span; "" for a trace started here */
    char span_id[17];   /* this process's span */
    char flags[3];
    char traceparent[LG_TRACEPARENT_LEN + 1]; /* what this process passes on: its span */
} lg_trace;

/* Is text a valid version-00 traceparent? Returns 1 and fills trace_id, parent_id and flags of
 * *out (when not NULL), or 0. */
int lg_traceparent_parse(const char *text, lg_trace *out);

/* Starts this process's span: under the caller's traceparent (may be NULL) when it is valid,
 * else in a new trace (random trace id, flags 01). Fills every field of *out. */
void lg_trace_start(const char *incoming_traceparent, lg_trace *out);

/* Is id an acceptable request id: 1 to LG_REQUEST_ID_MAX printable ASCII characters, no space? */
int lg_request_id_valid(const char *id);

/* A new request id: 16 random bytes as 32 hex digits (out has room for 33). */
void lg_request_id_new(char *out);

#endif
