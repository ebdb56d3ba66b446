/*
 * What the management endpoints (api_customers.c, api_accounts.c) share: problems, query
 * parameters, JSON request bodies, the tenant database with its transactions, and the JSON of
 * rows. Every failure answers the request itself (problem+json, never SQL text), so a handler
 * only returns once a helper says it failed.
 */
#ifndef LG_API_MGMT_H
#define LG_API_MGMT_H

#include "api.h"
#include "api_input.h"

#include <jansson.h>
#include <libpq-fe.h>


/* The roles that run the branch: freezing, limits, closing, KYC decisions. */
#define API_MGMT_MANAGERS (API_ROLE_MANAGER | API_ROLE_SUPER_ADMIN)

/* An instant as the API writes it: RFC 3339 in UTC with milliseconds. */
#define API_MGMT_ISO_UTC(col)                                                                      \
    "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
/* A calendar date stored as midnight UTC, as YYYY-MM-DD. */
#define API_MGMT_DATE(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
/* The page key of a row: created_at in microseconds since the epoch. */
#define API_MGMT_EPOCH_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"


/* Is the caller bank staff (TELLER, MANAGER, SUPER_ADMIN)? A manager (MANAGER, SUPER_ADMIN)? */
int api_mgmt_is_staff(const api_caller *c);
int api_mgmt_is_manager(const api_caller *c);

/* Reads the query string: values[i] gets the value of names[i] (NULL-terminated) or NULL.
 * Unknown, repeated and empty parameters are refused (400). Returns 0, or -1 answered. */
int api_mgmt_query(api_request *r, const char *const *names, const char **values);


/* A query parameter that must be one of values (NULL-terminated). Returns 0, or -1 answered. */
int api_mgmt_enum_param(api_request *r, const char *name, const char *value,
                        const char *const *values);

/*
 * The request body as a JSON object: Content-Type application/json (415), valid JSON without
 * duplicate keys that is an object (400 /problems/invalid-json), members only from allowed
 * (NULL-terminated; 422 /problems/unknown-field, with read_only_hint in the detail when the
 * member is one of read_only, e.g. a field the resource shows but a request cannot set).
 * optional: an empty body reads as {} (for actions whose body is optional). Returns a new
 * reference, or NULL answered.
 */
json_t *api_mgmt_body(api_request *r, const char *const *allowed, const char *const *read_only,
                      const char *read_only_hint, int optional);

/* Does text contain a control character (below 0x20, or DEL)? */
int api_mgmt_has_control(const char *text);

/*
 * A string member of a body: absent (*out NULL, returns 0), null (*out NULL; refused unless
 * nullable), or a string of 1 to max bytes without control characters and not all blanks.
 * Wrong type, length or content: 422 /problems/invalid-field. Returns 1 when the member is
 * present (null included), 0 when absent, -1 answered.
 */
int api_mgmt_string(api_request *r, json_t *body, const char *name, size_t max, int nullable,
                    const char **out);

/* The caller's tenant database for one request, and whether a transaction is open on it. */
typedef struct {
    api_request *r;
    const api_caller *caller;
    PGconn *db;
    int in_tx;
} api_mgmt_db;

/* Acquires the tenant database. Returns 0, or -1 answered (503). */
int api_mgmt_db_open(api_mgmt_db *x, api_request *r, const api_caller *caller);
/* Runs a parameterised statement. On failure it logs err, rolls back, gives the connection
 * back as broken and answers 503 (what names the data in the detail); returns NULL then.
 * The result is the caller's (PQclear). */
PGresult *api_mgmt_db_query(api_mgmt_db *x, const char *what, const char *sql, int n_params,
                            const char *const *params);
/* A failure outside api_mgmt_db_query (e.g. the audit log): as above, with err for the log. */
void api_mgmt_db_fail(api_mgmt_db *x, const char *what, const char *err);
/* BEGIN (READ COMMITTED) and COMMIT. Return 0, or -1 answered. */
int api_mgmt_db_begin(api_mgmt_db *x);
int api_mgmt_db_commit(api_mgmt_db *x);
/* For a CUSTOMER caller, opens a read-only transaction scoped to that customer by row-level
 * security (lg_db_begin_customer): a second line of defence behind the reads' own WHERE
 * clauses. Nothing for staff. api_mgmt_db_close ends it. Returns 0, or -1 answered. */
int api_mgmt_db_scope_customer(api_mgmt_db *x);
/* Rolls back an open transaction and gives the connection back. Safe after a failure. */
void api_mgmt_db_close(api_mgmt_db *x);

/* A NUMERIC(15,2) column as a Money string ("12.50"), or null. New reference. */
json_t *api_mgmt_col_money(const PGresult *res, int row, int col);
/* An int64 column. */
long long api_mgmt_col_int64(const PGresult *res, int row, int col);

/* Adds {"field": {"before": before, "after": after}} to changes when the two differ
 * (both borrowed; NULL counts as null). */
void api_mgmt_change(json_t *changes, const char *field, json_t *before, json_t *after);

/* The same with text values (NULL counts as null). */
void api_mgmt_change_text(json_t *changes, const char *field, const char *before,
                          const char *after);


/* A string member of an object, or NULL when absent or not a string. */
const char *api_mgmt_str(const json_t *o, const char *name);

/* Writes the AuditLog row of a mutation on x's connection; on failure answers (503) and
 * returns -1. changes and metadata are borrowed. */
int api_mgmt_audit(api_mgmt_db *x, const char *action, const char *resource,
                   const char *resource_id, json_t *changes, json_t *metadata);

/* api_accounts.c: gives each customer object of customers (a JSON array of objects with "id")
 * an "accounts" array of its live accounts, newest first, read with ONE query for the whole
 * array, never one per customer. Returns 0, or -1 answered (x released). */
int api_accounts_embed(api_mgmt_db *x, json_t *customers);

#endif
