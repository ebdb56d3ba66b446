/*
 * What the management endpoints (users, the system plane) share: JSON bodies read strictly,
 * query strings, page cursors, problem answers and statements that report their SQLSTATE.
 *
 * Bodies: Content-Type application/json (415 /problems/unsupported-media-type), well-formed JSON
 * without repeated keys (400 /problems/invalid-json), an object whose members are all known
 * (422 /problems/unknown-field); then each field is read with its type and bounds
 * (422 /problems/invalid-field, /problems/missing-field). The first error answers the request;
 * later reads do nothing, so a handler reads every field and checks `failed` once.
 *
 * Query strings: unknown, repeated and empty parameters are refused (400), as the reads do.
 */
#ifndef LG_API_INPUT_H
#define LG_API_INPUT_H

#include "api.h"
#include "lg_crypto.h"
#include "lg_time.h"

#include <jansson.h>
#include <libpq-fe.h>

#define API_PAGE_DEFAULT 50
#define API_PAGE_MAX     200

/* An instant as the API writes it: RFC 3339 in UTC with milliseconds. */
#define API_ISO_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
/* A row's page key: created_at in microseconds since the epoch. */
#define API_EPOCH_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

/* Answers r with a problem+json. Returns -1. */
int api_problem(api_request *r, int status, const char *type, const char *title, const char *field,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* ------------------------------------------------------------------ bodies */

typedef struct {
    api_request *r;
    json_t *root; /* the body, owned */
    int failed;   /* the request is answered */
} api_body;

/* Parses r's body as an object whose members are all in allowed (NULL-terminated). Returns 0,
 * or -1 with the request answered. Free with api_body_free (also after a failure). */
int api_body_open(api_body *b, api_request *r, const char *const *allowed);
void api_body_free(api_body *b);

/* Is the member present, null included? */
int api_body_has(const api_body *b, const char *name);
/* Is the member present and null? */
int api_body_is_null(const api_body *b, const char *name);

/* A string member (borrowed from the body): NULL when absent or null, or after an error. A
 * required one that is missing is 422 /problems/missing-field; one that is not a string, is
 * shorter than min_len or longer than max_len bytes, or holds a control character is 422
 * /problems/invalid-field. */
const char *api_body_string(api_body *b, const char *name, int required, size_t min_len,
                            size_t max_len);

/* A string member that must be one of values (NULL-terminated). */
const char *api_body_enum(api_body *b, const char *name, int required, const char *const *values);

/* A whole-number member within [min, max]: returns 1 and sets *out when present, 0 when absent
 * or null, -1 after an error. */
int api_body_int(api_body *b, const char *name, long min, long max, long *out);

/* An object member (borrowed): NULL when absent or null, or after an error (not an object). */
json_t *api_body_object(api_body *b, const char *name);

/* Fails the body with a 422 on a field: for rules the readers above do not know. Returns -1. */
int api_body_reject(api_body *b, const char *type, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------------------ query strings and pages */

/* Reads the query string into values[i] for names[i] (NULL-terminated; values NULL when
 * absent). Returns 0, or -1 with the request answered (400). */
int api_query_read(api_request *r, const char *const *names, const char **values);

/* limit: API_PAGE_DEFAULT when text is NULL, else 1 to API_PAGE_MAX. Returns 0 or -1 answered. */
int api_query_limit(api_request *r, const char *text, int *limit);

/* A cursor of list kind (LG_CURSOR_KIND_*) into a PostgreSQL timestamptz and an id. Returns 0,
 * or -1 with the request answered (400 /problems/invalid-cursor). */
int api_query_cursor(api_request *r, char kind, const char *text, char pg_time[LG_TIME_PG_STRLEN],
                     char id[LG_UUID_STRLEN]);

/* {"data": data, "nextCursor": next_cursor or null}; steals data. */
json_t *api_page_json(json_t *data, const char *next_cursor);

/* ------------------------------------------------------------------ SQL */

/* Runs a parameterised statement. Returns the result (caller PQclear()s it), or NULL with err
 * and the SQLSTATE in state ("" when the connection itself failed). */
PGresult *api_db_query(PGconn *conn, const char *sql, int n_params, const char *const *params,
                       char state[6], char *err, size_t err_size);

/* A text column as a JSON string, or null when SQL NULL. New reference. */
json_t *api_db_text(const PGresult *res, int row, int col);

#endif
