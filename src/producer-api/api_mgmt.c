/* Helpers of the management endpoints; see api_mgmt.h. */
#include "api_mgmt.h"

#include "api_input.h"

#include "lg_db.h"
#include "lg_log.h"
#include "lg_money.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P_INVALID_JSON      "/problems/invalid-json"
#define P_UNKNOWN_FIELD     "/problems/unknown-field"
#define P_INVALID_FIELD     "/problems/invalid-field"
#define P_UNKNOWN_PARAMETER "/problems/unknown-parameter"
#define P_INVALID_PARAMETER "/problems/invalid-parameter"
#define P_UNAVAILABLE       "/problems/unavailable"


int api_mgmt_is_staff(const api_caller *c)
{
    return (c->role_bit & API_ROLES_STAFF) != 0;
}

int api_mgmt_is_manager(const api_caller *c)
{
    return (c->role_bit & API_MGMT_MANAGERS) != 0;
}

/* ------------------------------------------------------------------ query parameters */

typedef struct {
    api_request *r;
    const char *const *names;
    const char **values;
    int failed;
} query_reader;

/* A client-given name for a message: printable ASCII only, at most 40 characters. */
static void printable_name(char *out, size_t out_size, const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < out_size && n < 40; i++)
        out[n++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
    out[n] = '\0';
}

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
    if (q->names[i] == NULL)
        api_problem(q->r, 400, P_UNKNOWN_PARAMETER, "Unknown query parameter", name,
                         "the query parameter \"%s\" is not understood by this resource", name);
    else if (q->values[i] != NULL)
        api_problem(q->r, 400, P_INVALID_PARAMETER, "Invalid query parameter", name,
                         "%s is given more than once", name);
    else if (value == NULL || value_size == 0 || strlen(value) != value_size)
        api_problem(q->r, 400, P_INVALID_PARAMETER, "Invalid query parameter", name,
                         "%s needs a value", name);
    else {
        q->values[i] = value;
        return MHD_YES;
    }
    q->failed = 1;
    return MHD_NO;
}

int api_mgmt_query(api_request *r, const char *const *names, const char **values)
{
    query_reader q = {r, names, values, 0};
    for (size_t i = 0; names[i] != NULL; i++)
        values[i] = NULL;
    MHD_get_connection_values_n(r->connection, MHD_GET_ARGUMENT_KIND, read_argument, &q);
    return q.failed ? -1 : 0;
}


int api_mgmt_enum_param(api_request *r, const char *name, const char *value,
                        const char *const *values)
{
    char list[256] = "";
    if (value == NULL)
        return 0;
    for (size_t i = 0; values[i] != NULL; i++)
        if (strcmp(value, values[i]) == 0)
            return 0;
    for (size_t i = 0; values[i] != NULL; i++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", i > 0 ? ", " : "", values[i]);
    }
    api_problem(r, 400, P_INVALID_PARAMETER, "Invalid query parameter", name,
                     "%s must be one of %s", name, list);
    return -1;
}

/* ------------------------------------------------------------------ request bodies */

static int listed(const char *name, const char *const *set)
{
    for (size_t i = 0; set != NULL && set[i] != NULL; i++)
        if (strcmp(name, set[i]) == 0)
            return 1;
    return 0;
}

json_t *api_mgmt_body(api_request *r, const char *const *allowed, const char *const *read_only,
                      const char *read_only_hint, int optional)
{
    const char *content_type = api_header(r, "Content-Type");
    json_error_t jerr;
    json_t *root, *value;
    const char *key;

    if (optional && r->body_len == 0)
        return json_object();
    if (content_type == NULL || strncmp(content_type, "application/json", 16) != 0 ||
        (content_type[16] != '\0' && content_type[16] != ';' && content_type[16] != ' ')) {
        api_problem(r, 415, "/problems/unsupported-media-type", "Unsupported media type", NULL,
                         "send the body as Content-Type: application/json");
        return NULL;
    }
    root = json_loadb(r->body != NULL ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        api_problem(r, 400, P_INVALID_JSON, "Malformed request body", NULL,
                         "the body is not valid JSON: %s (at character %d)", jerr.text,
                         jerr.position);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        api_problem(r, 400, P_INVALID_JSON, "Malformed request body", NULL,
                         "the body must be a JSON object");
        return NULL;
    }
    json_object_foreach(root, key, value)
    {
        char name[48];
        if (listed(key, allowed))
            continue;
        printable_name(name, sizeof name, key, strlen(key));
        if (listed(key, read_only))
            api_problem(r, 422, P_UNKNOWN_FIELD, "Unknown field", name,
                             "the field \"%s\" cannot be set here: %s", name, read_only_hint);
        else
            api_problem(r, 422, P_UNKNOWN_FIELD, "Unknown field", name,
                             "the field \"%s\" is not part of this request", name);
        json_decref(root);
        return NULL;
    }
    return root;
}

int api_mgmt_has_control(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

int api_mgmt_string(api_request *r, json_t *body, const char *name, size_t max, int nullable,
                    const char **out)
{
    json_t *v = json_object_get(body, name);
    const char *s;
    size_t len;
    *out = NULL;
    if (v == NULL)
        return 0;
    if (json_is_null(v)) {
        if (nullable)
            return 1;
        api_problem(r, 422, P_INVALID_FIELD, "Invalid field", name, "%s cannot be null", name);
        return -1;
    }
    if (!json_is_string(v)) {
        api_problem(r, 422, P_INVALID_FIELD, "Invalid field", name, "%s must be a string",
                         name);
        return -1;
    }
    s = json_string_value(v);
    len = json_string_length(v);
    if (len > max) {
        api_problem(r, 422, P_INVALID_FIELD, "Invalid field", name,
                         "%s is longer than %zu bytes", name, max);
        return -1;
    }
    if (strlen(s) != len || api_mgmt_has_control(s)) {
        api_problem(r, 422, P_INVALID_FIELD, "Invalid field", name,
                         "%s must not contain control characters", name);
        return -1;
    }
    if (strspn(s, " ") == len) {
        api_problem(r, 422, P_INVALID_FIELD, "Invalid field", name, "%s must not be empty",
                         name);
        return -1;
    }
    *out = s;
    return 1;
}

/* ------------------------------------------------------------------ the tenant database */

int api_mgmt_db_open(api_mgmt_db *x, api_request *r, const api_caller *caller)
{
    char err[512];
    x->r = r;
    x->caller = caller;
    x->in_tx = 0;
    x->db = lg_router_acquire(r->server->router, caller->tenant.id, r->server->db_wait_ms, err,
                              sizeof err);
    if (x->db == NULL) {
        lg_log_error("tenant %s: %s", caller->tenant.slug, err);
        r->retry_after = 1;
        api_problem(r, 503, P_UNAVAILABLE, "Service unavailable", NULL,
                         "the bank's database is not reachable right now; retry later");
        return -1;
    }
    return 0;
}

void api_mgmt_db_fail(api_mgmt_db *x, const char *what, const char *err)
{
    lg_log_kv(LG_LOG_ERROR, (const char *[]){"request_id", x->r->request_id, NULL},
              "tenant %s: %s: %s", x->caller->tenant.slug, what, err);
    if (x->db != NULL)
        lg_router_release(x->r->server->router, x->caller->tenant.id, x->db, 1);
    x->db = NULL;
    x->in_tx = 0;
    x->r->retry_after = 1;
    api_problem(x->r, 503, P_UNAVAILABLE, "Service unavailable", NULL,
                     "the %s cannot be read or written right now; nothing was changed; retry "
                     "later",
                     what);
}

PGresult *api_mgmt_db_query(api_mgmt_db *x, const char *what, const char *sql, int n_params,
                            const char *const *params)
{
    char err[512];
    PGresult *res = lg_db_query(x->db, sql, n_params, params, err, sizeof err);
    if (res == NULL)
        api_mgmt_db_fail(x, what, err);
    return res;
}

int api_mgmt_db_begin(api_mgmt_db *x)
{
    char err[512];
    if (lg_db_exec(x->db, "BEGIN", err, sizeof err) != 0) {
        api_mgmt_db_fail(x, "bank's database", err);
        return -1;
    }
    x->in_tx = 1;
    return 0;
}

int api_mgmt_db_commit(api_mgmt_db *x)
{
    char err[512];
    if (lg_db_exec(x->db, "COMMIT", err, sizeof err) != 0) {
        api_mgmt_db_fail(x, "change", err);
        return -1;
    }
    x->in_tx = 0;
    return 0;
}

int api_mgmt_db_scope_customer(api_mgmt_db *x)
{
    char err[512];
    if (x->caller->role_bit != API_ROLE_CUSTOMER)
        return 0;
    if (lg_db_begin_customer(x->db, x->caller->user_id, 1, err, sizeof err) != 0) {
        api_mgmt_db_fail(x, "bank's database", err);
        return -1;
    }
    x->in_tx = 1;
    return 0;
}

void api_mgmt_db_close(api_mgmt_db *x)
{
    char err[256];
    int broken = 0;
    if (x->db == NULL)
        return;
    if (x->in_tx)
        broken = lg_db_exec(x->db, "ROLLBACK", err, sizeof err) != 0;
    lg_router_release(x->r->server->router, x->caller->tenant.id, x->db, broken);
    x->db = NULL;
    x->in_tx = 0;
}

int api_mgmt_audit(api_mgmt_db *x, const char *action, const char *resource,
                   const char *resource_id, json_t *changes, json_t *metadata)
{
    char err[512];
    if (api_audit(x->r, x->caller, x->db, action, resource, resource_id, changes, metadata, err,
                  sizeof err) != 0) {
        api_mgmt_db_fail(x, "audit log", err);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ JSON */


json_t *api_mgmt_col_money(const PGresult *res, int row, int col)
{
    int64_t v;
    char buf[LG_MONEY_STRLEN], err[64];
    if (PQgetisnull(res, row, col) ||
        lg_money_parse_signed(PQgetvalue(res, row, col), &v, err, sizeof err) != 0)
        return json_null();
    return json_string(lg_money_format(v, buf, sizeof buf));
}

long long api_mgmt_col_int64(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

void api_mgmt_change(json_t *changes, const char *field, json_t *before, json_t *after)
{
    json_t *b = before != NULL ? before : json_null();
    json_t *a = after != NULL ? after : json_null();
    if (json_equal(b, a))
        return;
    json_object_set_new(changes, field, json_pack("{s:O, s:O}", "before", b, "after", a));
}

void api_mgmt_change_text(json_t *changes, const char *field, const char *before, const char *after)
{
    json_t *b = before != NULL ? json_string(before) : json_null();
    json_t *a = after != NULL ? json_string(after) : json_null();
    api_mgmt_change(changes, field, b, a);
    json_decref(b);
    json_decref(a);
}


const char *api_mgmt_str(const json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}
