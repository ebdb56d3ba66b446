#include "api_input.h"

#include "lg_cursor.h"
#include "lg_db.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P_INVALID_JSON      "/problems/invalid-json"
#define P_UNKNOWN_FIELD     "/problems/unknown-field"
#define P_MISSING_FIELD     "/problems/missing-field"
#define P_INVALID_FIELD     "/problems/invalid-field"
#define P_UNKNOWN_PARAMETER "/problems/unknown-parameter"
#define P_INVALID_PARAMETER "/problems/invalid-parameter"
#define P_INVALID_CURSOR    "/problems/invalid-cursor"

static const char *title_of(const char *type)
{
    static const struct {
        const char *type, *title;
    } titles[] = {
        {P_INVALID_JSON, "Malformed request body"},
        {P_UNKNOWN_FIELD, "Unknown field"},
        {P_MISSING_FIELD, "Missing field"},
        {P_INVALID_FIELD, "Invalid field"},
        {"/problems/weak-password", "Weak password"},
        {"/problems/invalid-currency", "Invalid currency"},
        {"/problems/unknown-server", "Unknown server"},
    };
    for (size_t i = 0; i < sizeof titles / sizeof titles[0]; i++)
        if (strcmp(titles[i].type, type) == 0)
            return titles[i].title;
    return "Invalid request";
}

int api_problem(api_request *r, int status, const char *type, const char *title, const char *field,
                const char *fmt, ...)
{
    lg_problem p;
    char detail[sizeof p.detail];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    lg_problem_set(&p, status, type, title, field, "%s", detail);
    api_respond_problem(r, &p);
    return -1;
}

/* Copies a client-given name for a message: printable ASCII only, at most 40 characters. */
static void printable_name(char *out, size_t out_size, const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < out_size && n < 40; i++)
        out[n++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
    out[n] = '\0';
}

/* ------------------------------------------------------------------ bodies */

int api_body_reject(api_body *b, const char *type, const char *field, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    if (b->failed)
        return -1;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    b->failed = 1;
    return api_problem(b->r, 422, type, title_of(type), field, "%s", detail);
}

int api_body_open(api_body *b, api_request *r, const char *const *allowed)
{
    const char *content_type = api_header(r, "Content-Type");
    json_error_t jerr;
    const char *key;
    json_t *value;

    b->r = r;
    b->root = NULL;
    b->failed = 1;
    if (content_type == NULL || strncmp(content_type, "application/json", 16) != 0)
        return api_problem(r, 415, "/problems/unsupported-media-type", "Unsupported media type",
                           NULL, "send the body as Content-Type: application/json");
    b->root =
        json_loadb(r->body != NULL ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (b->root == NULL)
        return api_problem(r, 400, P_INVALID_JSON, title_of(P_INVALID_JSON), NULL,
                           "the body is not valid JSON: %s (at character %d)", jerr.text,
                           jerr.position);
    if (!json_is_object(b->root))
        return api_problem(r, 400, P_INVALID_JSON, title_of(P_INVALID_JSON), NULL,
                           "the body must be a JSON object");
    json_object_foreach(b->root, key, value)
    {
        size_t i;
        for (i = 0; allowed[i] != NULL; i++)
            if (strcmp(allowed[i], key) == 0)
                break;
        if (allowed[i] == NULL) {
            char name[48];
            printable_name(name, sizeof name, key, strlen(key));
            return api_problem(r, 422, P_UNKNOWN_FIELD, title_of(P_UNKNOWN_FIELD), name,
                               "\"%s\" is not a field of this request", name);
        }
    }
    b->failed = 0;
    return 0;
}

void api_body_free(api_body *b)
{
    json_decref(b->root);
    b->root = NULL;
}

int api_body_has(const api_body *b, const char *name)
{
    return b->root != NULL && json_object_get(b->root, name) != NULL;
}

int api_body_is_null(const api_body *b, const char *name)
{
    return b->root != NULL && json_is_null(json_object_get(b->root, name));
}

/* The member, or NULL when absent or null (a missing required one fails the body). */
static json_t *member(api_body *b, const char *name, int required)
{
    json_t *v;
    if (b->failed)
        return NULL;
    v = json_object_get(b->root, name);
    if (v == NULL || json_is_null(v)) {
        if (required)
            api_body_reject(b, P_MISSING_FIELD, name, "%s is required", name);
        return NULL;
    }
    return v;
}

const char *api_body_string(api_body *b, const char *name, int required, size_t min_len,
                            size_t max_len)
{
    json_t *v = member(b, name, required);
    const char *s;
    size_t n;
    if (v == NULL)
        return NULL;
    if (!json_is_string(v)) {
        api_body_reject(b, P_INVALID_FIELD, name, "%s must be a string", name);
        return NULL;
    }
    s = json_string_value(v);
    n = json_string_length(v);
    if (n < min_len || n > max_len || strlen(s) != n) {
        api_body_reject(b, P_INVALID_FIELD, name, "%s must be %zu to %zu bytes long", name, min_len,
                        max_len);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            api_body_reject(b, P_INVALID_FIELD, name, "%s must not hold control characters", name);
            return NULL;
        }
    return s;
}

const char *api_body_enum(api_body *b, const char *name, int required, const char *const *values)
{
    json_t *v = member(b, name, required);
    char list[256] = "";
    if (v == NULL)
        return NULL;
    for (size_t i = 0; values[i] != NULL; i++) {
        if (json_is_string(v) && strcmp(json_string_value(v), values[i]) == 0)
            return values[i];
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i > 0 ? ", " : "",
                 values[i]);
    }
    api_body_reject(b, P_INVALID_FIELD, name, "%s must be one of %s", name, list);
    return NULL;
}

int api_body_int(api_body *b, const char *name, long min, long max, long *out)
{
    json_t *v = member(b, name, 0);
    json_int_t n;
    if (b->failed)
        return -1;
    if (v == NULL)
        return 0;
    n = json_is_integer(v) ? json_integer_value(v) : 0;
    if (!json_is_integer(v) || n < min || n > max) {
        api_body_reject(b, P_INVALID_FIELD, name, "%s must be a whole number from %ld to %ld", name,
                        min, max);
        return -1;
    }
    *out = (long)n;
    return 1;
}

json_t *api_body_object(api_body *b, const char *name)
{
    json_t *v = member(b, name, 0);
    if (v == NULL)
        return NULL;
    if (!json_is_object(v)) {
        api_body_reject(b, P_INVALID_FIELD, name, "%s must be an object", name);
        return NULL;
    }
    return v;
}

/* ------------------------------------------------------------------ query strings and pages */

typedef struct {
    const char *const *names;
    const char **values;
    lg_problem p;
    int failed;
} query_reader;

static enum MHD_Result read_argument(void *cls, enum MHD_ValueKind kind, const char *key,
                                     size_t key_size, const char *value, size_t value_size)
{
    query_reader *q = cls;
    char name[48];
    size_t i;
    (void)kind;
    for (i = 0; q->names[i] != NULL; i++)
        if (strlen(q->names[i]) == key_size && memcmp(q->names[i], key, key_size) == 0)
            break;
    printable_name(name, sizeof name, key, key_size);
    if (q->names[i] == NULL) {
        lg_problem_set(&q->p, 400, P_UNKNOWN_PARAMETER, "Unknown query parameter", name,
                       "the query parameter \"%s\" is not understood by this resource", name);
    } else if (q->values[i] != NULL) {
        lg_problem_set(&q->p, 400, P_INVALID_PARAMETER, "Invalid query parameter", name,
                       "%s is given more than once", name);
    } else if (value == NULL || value_size == 0 || strlen(value) != value_size) {
        lg_problem_set(&q->p, 400, P_INVALID_PARAMETER, "Invalid query parameter", name,
                       "%s needs a value", name);
    } else {
        q->values[i] = value;
        return MHD_YES;
    }
    q->failed = 1;
    return MHD_NO;
}

int api_query_read(api_request *r, const char *const *names, const char **values)
{
    query_reader q;
    memset(&q, 0, sizeof q);
    q.names = names;
    q.values = values;
    for (size_t i = 0; names[i] != NULL; i++)
        values[i] = NULL;
    MHD_get_connection_values_n(r->connection, MHD_GET_ARGUMENT_KIND, read_argument, &q);
    if (q.failed) {
        api_respond_problem(r, &q.p);
        return -1;
    }
    return 0;
}

int api_query_limit(api_request *r, const char *text, int *limit)
{
    size_t n;
    long v;
    if (text == NULL) {
        *limit = API_PAGE_DEFAULT;
        return 0;
    }
    n = strlen(text);
    v = n > 0 && n <= 3 && strspn(text, "0123456789") == n ? strtol(text, NULL, 10) : 0;
    if (v < 1 || v > API_PAGE_MAX)
        return api_problem(r, 400, P_INVALID_PARAMETER, "Invalid query parameter", "limit",
                           "limit must be a whole number from 1 to %d (default %d)", API_PAGE_MAX,
                           API_PAGE_DEFAULT);
    *limit = (int)v;
    return 0;
}

int api_query_cursor(api_request *r, char kind, const char *text, char pg_time[LG_TIME_PG_STRLEN],
                     char id[LG_UUID_STRLEN])
{
    int64_t us;
    if (lg_cursor_decode_row(kind, text, &us, id) != 0 ||
        lg_time_format_pg(us, pg_time, LG_TIME_PG_STRLEN) == NULL)
        return api_problem(r, 400, P_INVALID_CURSOR, "Invalid cursor", "cursor",
                           "cursor must be a nextCursor returned by this list, unchanged");
    return 0;
}

json_t *api_page_json(json_t *data, const char *next_cursor)
{
    json_t *o = json_object();
    json_object_set_new(o, "data", data);
    json_object_set_new(o, "nextCursor",
                        next_cursor != NULL ? json_string(next_cursor) : json_null());
    return o;
}

/* ------------------------------------------------------------------ SQL */

PGresult *api_db_query(PGconn *conn, const char *sql, int n_params, const char *const *params,
                       char state[6], char *err, size_t err_size)
{
    PGresult *res = PQexecParams(conn, sql, n_params, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    const char *m;
    state[0] = '\0';
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    snprintf(state, 6, "%s", lg_db_sqlstate(res));
    m = PQerrorMessage(conn);
    snprintf(err, err_size, "%.*s", (int)strcspn(m, "\n"), m);
    PQclear(res);
    return NULL;
}

json_t *api_db_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}
