/*
 * The system plane: the bank tenants, managed by system admins (SystemAdmin tokens, sys=true)
 * in the master database. Tenant credentials (API keys, user tokens) are refused here (403), as
 * system tokens are on the tenant plane.
 *
 *   GET   /v1/system/tenants                    list: ?status=&limit=&cursor=, newest first
 *   GET   /v1/system/tenants/{id}               one tenant
 *   GET   /v1/system/tenants/{id}/audit-logs    its TenantAuditLog rows, newest first
 *   GET   /v1/system/servers                    the PostgreSQL servers new tenants may go to
 *   POST  /v1/system/tenants                    create and provision: {"slug", "name",
 *                                               "subdomain", "server", "currencies"}
 *   PATCH /v1/system/tenants/{id}               name, subdomain, maxUsers, maxAccounts,
 *                                               subscriptionTier, settings
 *   POST  /v1/system/tenants/{id}/activate      SUSPENDED -> ACTIVE       {"reason"}
 *   POST  /v1/system/tenants/{id}/suspend       ACTIVE -> SUSPENDED       {"reason"}
 *   POST  /v1/system/tenants/{id}/deactivate    ACTIVE|SUSPENDED -> INACTIVE {"reason"}
 *
 * Who may do what: SUPPORT reads; ADMIN also creates, updates, suspends and activates;
 * deactivating - permanent, the tenant leaves routing and its queued commands fail - is
 * SUPER_ADMIN's alone. Every change writes a TenantAuditLog row whose performedBy is the admin's
 * e-mail (src/common/lg_provision.c, shared with ledgerctl). Responses never carry database
 * credentials: a tenant shows where its database is (server, host, port, name), not its role or
 * password.
 *
 * A change is seen by this process at once (its routing cache is dropped) and by other API and
 * worker processes within their routing cache's 5 seconds.
 */
#include "api.h"
#include "api_input.h"

#include "lg_cursor.h"
#include "lg_db.h"
#include "lg_log.h"
#include "lg_provision.h"
#include "lg_validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P_NOT_FOUND      "/problems/not-found"
#define P_CONFLICT       "/problems/conflict"
#define P_TRANSITION     "/problems/invalid-status-transition"
#define P_UNKNOWN_SERVER "/problems/unknown-server"
#define P_INVALID_FIELD  "/problems/invalid-field"
#define P_INVALID_CCY    "/problems/invalid-currency"
#define P_INVALID_PARAM  "/problems/invalid-parameter"
#define P_UNAVAILABLE    "/problems/unavailable"
#define P_PROVISIONING   "/problems/provisioning-failed"
#define P_INTERNAL       "/problems/internal"

#define ROLES_CHANGE (API_ROLE_SYSTEM_ADMIN | API_ROLE_SYSTEM_SUPER_ADMIN)
#define REASON_MAX   500

/* The SQL below is laid out by hand. */
/* clang-format off */
#define TENANT_COLUMNS                                                                             \
    "t.id, t.slug, t.name, t.subdomain, t.status, t.max_users, t.max_accounts,"                    \
    " t.subscription_tier, t.settings::text, t.db_host, t.db_port::text, t.db_name,"               \
    " " API_ISO_UTC("t.created_at") ", " API_ISO_UTC("t.updated_at") ", t.created_by,"             \
    " " API_EPOCH_US("t.created_at")
enum {
    COL_ID, COL_SLUG, COL_NAME, COL_SUBDOMAIN, COL_STATUS, COL_MAX_USERS, COL_MAX_ACCOUNTS,
    COL_TIER, COL_SETTINGS, COL_HOST, COL_PORT, COL_DB_NAME, COL_CREATED, COL_UPDATED,
    COL_CREATED_BY, COL_CREATED_US
};

/* One page of tenants ($1 status or NULL, $2/$3 the cursor or NULL, $4 rows). */
#define TENANTS_PAGE                                                                               \
    "SELECT " TENANT_COLUMNS " FROM tenants t"                                                     \
    " WHERE ($1::tenant_status IS NULL OR t.status = $1::tenant_status)"                           \
    " AND ($2::timestamptz IS NULL OR (t.created_at, t.id) < ($2::timestamptz, $3::uuid))"         \
    " ORDER BY t.created_at DESC, t.id DESC LIMIT $4::integer"

/* One page of a tenant's audit log ($1 tenant, $2/$3 the cursor or NULL, $4 rows). */
#define AUDIT_PAGE                                                                                 \
    "SELECT a.id, a.action, a.performed_by, a.metadata::text, " API_ISO_UTC("a.created_at") ","    \
    " " API_EPOCH_US("a.created_at") " FROM tenant_audit_logs a WHERE a.tenant_id = $1::uuid"      \
    " AND ($2::timestamptz IS NULL OR (a.created_at, a.id) < ($2::timestamptz, $3::uuid))"         \
    " ORDER BY a.created_at DESC, a.id DESC LIMIT $4::integer"
/* clang-format on */

/* ------------------------------------------------------------------ helpers */

static PGconn *open_master(api_request *r)
{
    char err[512];
    PGconn *m = lg_router_acquire_master(r->server->router, r->server->db_wait_ms, err, sizeof err);
    if (m == NULL) {
        lg_log_error("system plane: %s", err);
        r->retry_after = 1;
        api_problem(r, 503, P_UNAVAILABLE, "Service unavailable", NULL,
                    "the master database is not reachable right now; retry later");
    }
    return m;
}

static void master_failed(api_request *r, PGconn *m, const char *what, const char *err)
{
    lg_log_error("system plane: %s: %s", what, err);
    lg_router_release_master(r->server->router, m, 1);
    r->retry_after = 1;
    api_problem(r, 503, P_UNAVAILABLE, "Service unavailable", NULL,
                "the master database cannot be read right now; retry later");
}

/* A JSON value stored as text (settings, metadata), or null. New reference. */
static json_t *json_column(const PGresult *res, int row, int col)
{
    json_t *v = PQgetisnull(res, row, col) ? NULL : json_loads(PQgetvalue(res, row, col), 0, NULL);
    return v != NULL ? v : json_null();
}

/* A row of TENANT_COLUMNS as the API shows a tenant: never its database role or password. */
static json_t *tenant_json(const api_request *r, const PGresult *res, int row)
{
    const char *server = lg_pg_servers_find(r->server->pg_servers, PQgetvalue(res, row, COL_HOST),
                                            PQgetvalue(res, row, COL_PORT));
    json_t *o = json_object();
    json_object_set_new(o, "id", api_db_text(res, row, COL_ID));
    json_object_set_new(o, "slug", api_db_text(res, row, COL_SLUG));
    json_object_set_new(o, "name", api_db_text(res, row, COL_NAME));
    json_object_set_new(o, "subdomain", api_db_text(res, row, COL_SUBDOMAIN));
    json_object_set_new(o, "status", api_db_text(res, row, COL_STATUS));
    json_object_set_new(o, "maxUsers",
                        json_integer(strtol(PQgetvalue(res, row, COL_MAX_USERS), NULL, 10)));
    json_object_set_new(o, "maxAccounts",
                        json_integer(strtol(PQgetvalue(res, row, COL_MAX_ACCOUNTS), NULL, 10)));
    json_object_set_new(o, "subscriptionTier", api_db_text(res, row, COL_TIER));
    json_object_set_new(o, "settings", json_column(res, row, COL_SETTINGS));
    json_object_set_new(o, "database",
                        json_pack("{s:o, s:s, s:I, s:s}", "server",
                                  server != NULL ? json_string(server) : json_null(), "host",
                                  PQgetvalue(res, row, COL_HOST), "port",
                                  (json_int_t)strtol(PQgetvalue(res, row, COL_PORT), NULL, 10),
                                  "name", PQgetvalue(res, row, COL_DB_NAME)));
    json_object_set_new(o, "createdAt", api_db_text(res, row, COL_CREATED));
    json_object_set_new(o, "updatedAt", api_db_text(res, row, COL_UPDATED));
    json_object_set_new(o, "createdBy", api_db_text(res, row, COL_CREATED_BY));
    return o;
}

/* Answers the tenant id with status (200, or 201 with its Location). */
static void answer_tenant(api_request *r, const char *id, int status)
{
    char err[512], state[6];
    PGconn *m;
    PGresult *res;
    if (!lg_uuid_valid(id)) {
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no tenant with this id");
        return;
    }
    m = open_master(r);
    if (m == NULL)
        return;
    res = api_db_query(m, "SELECT " TENANT_COLUMNS " FROM tenants t WHERE t.id = $1::uuid", 1,
                       (const char *[]){id}, state, err, sizeof err);
    if (res == NULL) {
        master_failed(r, m, "reading a tenant", err);
        return;
    }
    lg_router_release_master(r->server->router, m, 0);
    if (PQntuples(res) == 0) {
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no tenant with this id");
    } else {
        if (status == 201)
            snprintf(r->location, sizeof r->location, "/v1/system/tenants/%s", id);
        api_respond_json(r, status, tenant_json(r, res, 0));
    }
    PQclear(res);
}

/* Who performed a change, for TenantAuditLog.performedBy: the admin's e-mail. */
static const char *performer(const api_caller *caller)
{
    return caller->email[0] != '\0' ? caller->email : caller->user_id;
}

/* What every audit row of a change carries besides its own details. New reference. */
static json_t *audit_metadata(const api_request *r, const api_caller *caller)
{
    return json_pack("{s:s, s:s}", "adminId", caller->user_id, "requestId", r->request_id);
}

/* Answers a failed lg_provision_* call. err is for the log; it reaches the caller only for the
 * statuses whose messages this module's shared code writes for people (invalid, conflict). */
static void answer_failure(api_request *r, lg_provision_status st, const char *what,
                           const char *err)
{
    switch (st) {
    case LG_PROVISION_INVALID:
        api_problem(r, 422, P_INVALID_FIELD, "Invalid field", NULL, "%s", err);
        break;
    case LG_PROVISION_CONFLICT:
        api_problem(r, 409, P_CONFLICT, "Conflict", NULL, "%s", err);
        break;
    case LG_PROVISION_NOT_FOUND:
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no tenant with this id");
        break;
    case LG_PROVISION_UNAVAILABLE:
        lg_log_error("system plane: %s: %s", what, err);
        r->retry_after = 1;
        api_problem(r, 503, P_UNAVAILABLE, "Service unavailable", NULL,
                    "a database is not reachable right now; nothing was changed; retry later");
        break;
    default:
        lg_log_error("system plane: %s: %s", what, err);
        api_problem(r, 500, P_INTERNAL, "Internal error", NULL,
                    "the change failed; nothing was changed; see the server log (request %s)",
                    r->request_id);
        break;
    }
}

/* ------------------------------------------------------------------ reads */

static void list_tenants(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const names[] = {"status", "limit", "cursor", NULL};
    enum { Q_STATUS, Q_LIMIT, Q_CURSOR, Q_N };
    const char *q[Q_N + 1];
    char cursor_pg[LG_TIME_PG_STRLEN], cursor_id[LG_UUID_STRLEN], limit_text[16];
    char next[LG_CURSOR_STRLEN], err[512], state[6];
    int limit, rows;
    PGconn *m;
    PGresult *res;
    json_t *data;
    (void)caller;
    (void)params;

    if (api_query_read(r, names, q) != 0 || api_query_limit(r, q[Q_LIMIT], &limit) != 0)
        return;
    if (q[Q_STATUS] != NULL && lg_tenant_status_from_name(q[Q_STATUS]) < 0) {
        api_problem(r, 400, P_INVALID_PARAM, "Invalid query parameter", "status",
                    "status must be PENDING, ACTIVE, SUSPENDED or INACTIVE");
        return;
    }
    if (q[Q_CURSOR] != NULL &&
        api_query_cursor(r, LG_CURSOR_KIND_TENANT, q[Q_CURSOR], cursor_pg, cursor_id) != 0)
        return;
    m = open_master(r);
    if (m == NULL)
        return;
    snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
    res = api_db_query(m, TENANTS_PAGE, 4,
                       (const char *[]){q[Q_STATUS], q[Q_CURSOR] != NULL ? cursor_pg : NULL,
                                        q[Q_CURSOR] != NULL ? cursor_id : NULL, limit_text},
                       state, err, sizeof err);
    if (res == NULL) {
        master_failed(r, m, "listing tenants", err);
        return;
    }
    lg_router_release_master(r->server->router, m, 0);
    rows = PQntuples(res);
    data = json_array();
    for (int i = 0; i < rows && i < limit; i++)
        json_array_append_new(data, tenant_json(r, res, i));
    if (rows > limit)
        lg_cursor_encode_row(LG_CURSOR_KIND_TENANT,
                             strtoll(PQgetvalue(res, limit - 1, COL_CREATED_US), NULL, 10),
                             PQgetvalue(res, limit - 1, COL_ID), next, sizeof next);
    api_respond_json(r, 200, api_page_json(data, rows > limit ? next : NULL));
    PQclear(res);
}

static void get_tenant(api_request *r, const api_caller *caller, const char *const *params)
{
    (void)caller;
    answer_tenant(r, params[0], 200);
}

static void list_audit(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const names[] = {"limit", "cursor", NULL};
    const char *q[3];
    char cursor_pg[LG_TIME_PG_STRLEN], cursor_id[LG_UUID_STRLEN], limit_text[16];
    char next[LG_CURSOR_STRLEN], err[512], state[6];
    const char *id = params[0];
    int limit, rows;
    PGconn *m;
    PGresult *res;
    json_t *data;
    (void)caller;

    if (api_query_read(r, names, q) != 0 || api_query_limit(r, q[0], &limit) != 0)
        return;
    if (q[1] != NULL &&
        api_query_cursor(r, LG_CURSOR_KIND_TENANT_AUDIT, q[1], cursor_pg, cursor_id) != 0)
        return;
    if (!lg_uuid_valid(id)) {
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no tenant with this id");
        return;
    }
    m = open_master(r);
    if (m == NULL)
        return;
    res = api_db_query(m, "SELECT 1 FROM tenants WHERE id = $1::uuid", 1, (const char *[]){id},
                       state, err, sizeof err);
    if (res == NULL) {
        master_failed(r, m, "reading a tenant", err);
        return;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        lg_router_release_master(r->server->router, m, 0);
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no tenant with this id");
        return;
    }
    PQclear(res);
    snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
    res = api_db_query(m, AUDIT_PAGE, 4,
                       (const char *[]){id, q[1] != NULL ? cursor_pg : NULL,
                                        q[1] != NULL ? cursor_id : NULL, limit_text},
                       state, err, sizeof err);
    if (res == NULL) {
        master_failed(r, m, "reading a tenant's audit log", err);
        return;
    }
    lg_router_release_master(r->server->router, m, 0);
    rows = PQntuples(res);
    data = json_array();
    for (int i = 0; i < rows && i < limit; i++)
        json_array_append_new(
            data,
            json_pack("{s:o, s:s, s:o, s:o, s:o, s:o}", "id", api_db_text(res, i, 0), "tenantId",
                      id, "action", api_db_text(res, i, 1), "performedBy", api_db_text(res, i, 2),
                      "metadata", json_column(res, i, 3), "createdAt", api_db_text(res, i, 4)));
    if (rows > limit)
        lg_cursor_encode_row(LG_CURSOR_KIND_TENANT_AUDIT,
                             strtoll(PQgetvalue(res, limit - 1, 5), NULL, 10),
                             PQgetvalue(res, limit - 1, 0), next, sizeof next);
    api_respond_json(r, 200, api_page_json(data, rows > limit ? next : NULL));
    PQclear(res);
}

static void list_servers(api_request *r, const api_caller *caller, const char *const *params)
{
    const lg_pg_servers *s = r->server->pg_servers;
    json_t *data = json_array();
    (void)caller;
    (void)params;
    for (size_t i = 0; i < lg_pg_servers_count(s); i++)
        json_array_append_new(
            data, json_pack("{s:s, s:b}", "name", lg_pg_servers_name(s, i), "default", i == 0));
    api_respond_json(r, 200, json_pack("{s:o}", "data", data));
}

/* ------------------------------------------------------------------ changes */

/* The currencies member: an array of 1 to LG_CURRENCIES_MAX distinct ISO 4217 codes, joined as
 * "USD,EUR" into out; "USD" when absent. Returns 0, or -1 with the body failed. */
static int read_currencies(api_body *b, char *out, size_t out_size)
{
    json_t *v = json_object_get(b->root, "currencies");
    size_t i, used = 0;
    json_t *c;
    if (b->failed)
        return -1;
    if (v == NULL || json_is_null(v)) {
        snprintf(out, out_size, "USD");
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > LG_CURRENCIES_MAX)
        return api_body_reject(b, P_INVALID_FIELD, "currencies",
                               "currencies must be an array of 1 to %d ISO 4217 codes",
                               LG_CURRENCIES_MAX);
    out[0] = '\0';
    json_array_foreach(v, i, c)
    {
        const char *code = json_string_value(c);
        if (code == NULL || strlen(code) != 3 || !lg_currency_valid(code))
            return api_body_reject(b, P_INVALID_CCY, "currencies",
                                   "currencies[%zu] is not an ISO 4217 code", i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(json_string_value(json_array_get(v, k)), code) == 0)
                return api_body_reject(b, P_INVALID_CCY, "currencies", "%s is listed twice", code);
        used += (size_t)snprintf(out + used, out_size - used, "%s%s", i > 0 ? "," : "", code);
    }
    return 0;
}

static void create_tenant(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const fields[] = {"slug", "name", "subdomain", "server", "currencies", NULL};
    const lg_pg_servers *servers = r->server->pg_servers;
    const char *slug, *name, *subdomain, *server, *dsn;
    char currencies[LG_CURRENCIES_MAX * 4 + 1], err[1024], server_name[72], *meta_text;
    lg_provision_request req;
    lg_provision_status st;
    lg_tenant t;
    api_body b;
    json_t *meta;
    PGconn *m;
    (void)params;

    if (api_body_open(&b, r, fields) != 0) {
        api_body_free(&b);
        return;
    }
    slug = api_body_string(&b, "slug", 1, 1, LG_SLUG_MAX);
    name = api_body_string(&b, "name", 1, 1, LG_TENANT_NAME_MAX);
    subdomain = api_body_string(&b, "subdomain", 0, 1, LG_SLUG_MAX);
    server = api_body_string(&b, "server", 0, 1, 64);
    read_currencies(&b, currencies, sizeof currencies);
    if (!b.failed && !lg_provision_slug_valid(slug))
        api_body_reject(&b, P_INVALID_FIELD, "slug",
                        "slug must be 1 to %d of a-z, 0-9 and '-', not starting or ending with "
                        "'-'",
                        LG_SLUG_MAX);
    if (!b.failed && subdomain != NULL && !lg_provision_slug_valid(subdomain))
        api_body_reject(&b, P_INVALID_FIELD, "subdomain",
                        "subdomain must be 1 to %d of a-z, 0-9 and '-', not starting or ending "
                        "with '-'",
                        LG_SLUG_MAX);
    if (b.failed) {
        api_body_free(&b);
        return;
    }
    if (lg_pg_servers_count(servers) == 0) {
        api_body_free(&b);
        api_problem(r, 503, P_UNAVAILABLE, "Service unavailable", NULL,
                    "no PostgreSQL server is configured for new tenants (LEDGER_PG_SERVERS_FILE)");
        return;
    }
    if (server == NULL)
        server = lg_pg_servers_name(servers, 0);
    dsn = lg_pg_servers_dsn(servers, server);
    snprintf(server_name, sizeof server_name, "%s", server); /* outlives the body */
    server = server_name;
    if (dsn == NULL) {
        char list[512] = "";
        for (size_t i = 0; i < lg_pg_servers_count(servers); i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i > 0 ? ", " : "",
                     lg_pg_servers_name(servers, i));
        api_body_reject(&b, P_UNKNOWN_SERVER, "server",
                        "server must be one of the configured PostgreSQL servers: %s", list);
        api_body_free(&b);
        return;
    }

    m = open_master(r);
    if (m == NULL) {
        api_body_free(&b);
        return;
    }
    meta = audit_metadata(r, caller);
    json_object_set_new(meta, "server", json_string(server));
    meta_text = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(meta);
    memset(&req, 0, sizeof req);
    req.slug = slug;
    req.name = name;
    req.subdomain = subdomain;
    req.currencies = currencies;
    req.admin_dsn = dsn;
    req.sql_dir = r->server->sql_dir;
    req.performed_by = performer(caller);
    req.metadata = meta_text;
    st = lg_provision_tenant(m, lg_router_keyring(r->server->router), &req, &t, err, sizeof err);
    free(meta_text);
    lg_router_release_master(r->server->router, m, st == LG_PROVISION_UNAVAILABLE);
    api_body_free(&b);
    if (st == LG_PROVISION_FAILED) {
        lg_log_error("system plane: provisioning tenant %s: %s", t.slug, err);
        api_problem(r, 500, P_PROVISIONING, "Provisioning failed", NULL,
                    "the tenant could not be provisioned and was not created; what was made is "
                    "undone and the slug is free; see the server log (request %s)",
                    r->request_id);
        return;
    }
    if (st != LG_PROVISION_OK) {
        answer_failure(r, st, "provisioning a tenant", err);
        return;
    }
    if (err[0] != '\0')
        lg_log_warn("system plane: tenant %s: %s", t.slug, err);
    lg_log_info("system plane: %s provisioned tenant %s (%s) on server %s", performer(caller),
                t.slug, t.id, server);
    lg_router_invalidate(r->server->router);
    answer_tenant(r, t.id, 201);
}

static void patch_tenant(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const fields[] = {
        "name", "subdomain", "maxUsers", "maxAccounts", "subscriptionTier", "settings", NULL};
    const char *id = params[0];
    char err[512];
    lg_tenant_change c;
    lg_provision_status st;
    api_body b;
    json_t *meta;
    PGconn *m;

    if (!lg_uuid_valid(id)) {
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no tenant with this id");
        return;
    }
    lg_tenant_change_init(&c);
    if (api_body_open(&b, r, fields) != 0) {
        api_body_free(&b);
        return;
    }
    c.name = api_body_string(&b, "name", 0, 1, LG_TENANT_NAME_MAX);
    c.subdomain = api_body_string(&b, "subdomain", 0, 1, LG_SLUG_MAX);
    c.clear_subdomain = api_body_is_null(&b, "subdomain");
    api_body_int(&b, "maxUsers", 0, LG_MAX_USERS_LIMIT, &c.max_users);
    api_body_int(&b, "maxAccounts", 0, LG_MAX_ACCOUNTS_LIMIT, &c.max_accounts);
    c.subscription_tier = api_body_string(&b, "subscriptionTier", 0, 1, LG_TIER_MAX);
    c.settings = api_body_object(&b, "settings");
    if (!b.failed && (api_body_is_null(&b, "name") || api_body_is_null(&b, "maxUsers") ||
                      api_body_is_null(&b, "maxAccounts") ||
                      api_body_is_null(&b, "subscriptionTier") || api_body_is_null(&b, "settings")))
        api_body_reject(&b, P_INVALID_FIELD, NULL,
                        "only subdomain may be set to null; leave out what does not change");
    if (!b.failed && c.name != NULL && !lg_provision_name_valid(c.name))
        api_body_reject(&b, P_INVALID_FIELD, "name", "name must be 1 to %d characters",
                        LG_TENANT_NAME_MAX);
    if (!b.failed && c.subdomain != NULL && !lg_provision_slug_valid(c.subdomain))
        api_body_reject(&b, P_INVALID_FIELD, "subdomain",
                        "subdomain must be 1 to %d of a-z, 0-9 and '-'", LG_SLUG_MAX);
    if (!b.failed && c.subscription_tier != NULL && !lg_provision_tier_valid(c.subscription_tier))
        api_body_reject(&b, P_INVALID_FIELD, "subscriptionTier",
                        "subscriptionTier must be 1 to %d of a-z, 0-9, '-' and '_'", LG_TIER_MAX);
    if (!b.failed && c.settings != NULL && json_object_get(c.settings, "currencies") != NULL)
        api_body_reject(&b, P_INVALID_FIELD, "settings",
                        "settings.currencies is fixed when the tenant is provisioned");
    if (b.failed) {
        api_body_free(&b);
        return;
    }
    m = open_master(r);
    if (m == NULL) {
        api_body_free(&b);
        return;
    }
    meta = audit_metadata(r, caller);
    st = lg_provision_update(m, id, &c, performer(caller), meta, NULL, err, sizeof err);
    json_decref(meta);
    lg_router_release_master(r->server->router, m, st == LG_PROVISION_UNAVAILABLE);
    api_body_free(&b);
    if (st != LG_PROVISION_OK) {
        answer_failure(r, st, "updating a tenant", err);
        return;
    }
    lg_router_invalidate(r->server->router);
    answer_tenant(r, id, 200);
}

static void set_status(api_request *r, const api_caller *caller, const char *id, const char *status,
                       const char *action)
{
    static const char *const fields[] = {"reason", NULL};
    const char *reason;
    char err[512];
    lg_provision_status st;
    api_body b;
    json_t *meta;
    PGconn *m;

    if (!lg_uuid_valid(id)) {
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no tenant with this id");
        return;
    }
    if (api_body_open(&b, r, fields) != 0) {
        api_body_free(&b);
        return;
    }
    reason = api_body_string(&b, "reason", 1, 1, REASON_MAX);
    if (b.failed) {
        api_body_free(&b);
        return;
    }
    m = open_master(r);
    if (m == NULL) {
        api_body_free(&b);
        return;
    }
    meta = audit_metadata(r, caller);
    json_object_set_new(meta, "reason", json_string(reason));
    st = lg_provision_set_status(m, id, status, action, performer(caller), meta, err, sizeof err);
    json_decref(meta);
    lg_router_release_master(r->server->router, m, st == LG_PROVISION_UNAVAILABLE);
    api_body_free(&b);
    if (st == LG_PROVISION_CONFLICT) {
        api_problem(r, 409, P_TRANSITION, "Invalid status transition", NULL, "%s", err);
        return;
    }
    if (st != LG_PROVISION_OK) {
        answer_failure(r, st, "changing a tenant's status", err);
        return;
    }
    lg_log_info("system plane: %s set tenant %s %s", performer(caller), id, status);
    lg_router_invalidate(r->server->router);
    answer_tenant(r, id, 200);
}

static void activate_tenant(api_request *r, const api_caller *caller, const char *const *params)
{
    set_status(r, caller, params[0], "ACTIVE", "ACTIVATED");
}

static void suspend_tenant(api_request *r, const api_caller *caller, const char *const *params)
{
    set_status(r, caller, params[0], "SUSPENDED", "SUSPENDED");
}

static void deactivate_tenant(api_request *r, const api_caller *caller, const char *const *params)
{
    set_status(r, caller, params[0], "INACTIVE", "DEACTIVATED");
}

const api_route_def api_routes_system[] = {
    {"GET", "/v1/system/tenants", API_ROLES_SYSTEM, list_tenants},
    {"POST", "/v1/system/tenants", ROLES_CHANGE, create_tenant},
    {"GET", "/v1/system/tenants/{}", API_ROLES_SYSTEM, get_tenant},
    {"PATCH", "/v1/system/tenants/{}", ROLES_CHANGE, patch_tenant},
    {"GET", "/v1/system/tenants/{}/audit-logs", API_ROLES_SYSTEM, list_audit},
    {"POST", "/v1/system/tenants/{}/activate", ROLES_CHANGE, activate_tenant},
    {"POST", "/v1/system/tenants/{}/suspend", ROLES_CHANGE, suspend_tenant},
    {"POST", "/v1/system/tenants/{}/deactivate", API_ROLE_SYSTEM_SUPER_ADMIN, deactivate_tenant},
    {"GET", "/v1/system/servers", API_ROLES_SYSTEM, list_servers},
    {NULL, NULL, 0, NULL},
};
