/*
 * The system plane (/v1/system/...), with system admins' tokens:
 *   - tenant credentials (an API key, a tenant SUPER_ADMIN's token) are refused: 403;
 *   - SUPPORT lists and reads; every change is 403 and changes nothing;
 *   - ADMIN creates a tenant on the second PostgreSQL server: provisioned (database, CONNECT
 *     revoked, internal accounts per currency), ACTIVE, usable end to end (a deposit through the
 *     API and the worker); bad requests are refused; a provisioning that fails is undone;
 *   - ADMIN suspends it (its API calls: 403 /problems/tenant-suspended), activates it, updates
 *     its limits (maxUsers enforced at once on the tenant plane), cannot deactivate it;
 *     SUPER_ADMIN deactivates it (its API key: 401);
 *   - every change has its TenantAuditLog row, performedBy the admin's e-mail; the audit log reads
 *     back over the API page by page;
 *   - no response carries a credential: not the sealed password, not the clear one, not the
 *     database role;
 *   - the tenant list pages equal SQL's order, with and without a status filter;
 *   - ledgerctl tenant create --server and ledgerctl tenant update.
 */
#include "itest.h"
#include "itest_system.h"

#include "lg_crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed;

#define OK(cond, ...)                                                                              \
    do {                                                                                           \
        CHECK(cond, __VA_ARGS__);                                                                  \
        passed++;                                                                                  \
    } while (0)

/* Every response body of this test, for the credential check at the end. */
static json_t *bodies;

static void problem(const char *cred, const char *method, const char *path, const char *body,
                    long status, const char *type)
{
    itest_expect_problem(cred, method, path, body, status, type);
    passed++;
}

static json_t *call_ok(const char *cred, const char *method, const char *path, const char *body,
                       long status)
{
    json_t *o = itest_expect_status_json(cred, method, path, body, status);
    json_array_append(bodies, o);
    passed++;
    return o;
}

static int sql_is(PGconn *db, const char *q, const char *param, const char *want)
{
    char *v = itest_sql_value(db, q, param);
    int same = strcmp(v, want) == 0;
    if (!same)
        fprintf(stderr, "  %s -> %s (expected %s)\n", q, v, want);
    free(v);
    return same;
}

/* The newest TenantAuditLog row of tenant id with action, as "performed_by|metadata". */
static char *audit_row(PGconn *master, const char *id, const char *action)
{
    char q[300];
    snprintf(q, sizeof q,
             "SELECT coalesce(max(performed_by || '|' || coalesce(metadata::text, '')), '')"
             " FROM (SELECT * FROM tenant_audit_logs WHERE tenant_id = $1::uuid"
             " AND action = '%s' ORDER BY created_at DESC LIMIT 1) a",
             action);
    return itest_sql_value(master, q, id);
}

static int audit_count(PGconn *master, const char *id)
{
    char *v = itest_sql_value(
        master, "SELECT count(*)::text FROM tenant_audit_logs WHERE tenant_id = $1::uuid", id);
    int n = (int)strtol(v, NULL, 10);
    free(v);
    return n;
}

/* Walks a list at page size limit; returns every item's id in order (a new array). */
static json_t *walk(const char *cred, const char *base, int limit)
{
    json_t *ids = json_array();
    char path[512], cursor[128] = "";
    for (int pages = 0;; pages++) {
        json_t *page, *data, *next, *item;
        size_t i;
        snprintf(path, sizeof path, "%s%climit=%d%s%s", base, strchr(base, '?') ? '&' : '?', limit,
                 cursor[0] ? "&cursor=" : "", cursor);
        page = itest_expect_status_json(cred, "GET", path, NULL, 200);
        json_array_append(bodies, page);
        data = json_object_get(page, "data");
        next = json_object_get(page, "nextCursor");
        CHECK(json_is_array(data) && json_array_size(data) <= (size_t)limit, "%s: page", path);
        CHECK(json_is_null(next) || json_array_size(data) == (size_t)limit,
              "%s: a short page before the last", path);
        json_array_foreach(data, i, item)
            json_array_append_new(ids, json_string(itest_json_str(item, "id")));
        CHECK(pages < 1000, "the walk does not end");
        if (!json_is_string(next)) {
            json_decref(page);
            return ids;
        }
        snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(page);
    }
}

static void expect_same_ids(json_t *ids, PGconn *db, const char *q, const char *param,
                            const char *what)
{
    PGresult *res = PQexecParams(db, q, param != NULL ? 1 : 0, NULL,
                                 param != NULL ? (const char *[]){param} : NULL, NULL, NULL, 0);
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", what, PQerrorMessage(db));
    OK(PQntuples(res) > 0, "%s: nothing to compare", what);
    OK(json_array_size(ids) == (size_t)PQntuples(res), "%s: the API lists %zu, SQL finds %d", what,
       json_array_size(ids), PQntuples(res));
    for (int i = 0; i < PQntuples(res); i++)
        OK(strcmp(json_string_value(json_array_get(ids, (size_t)i)), PQgetvalue(res, i, 0)) == 0,
           "%s: row %d differs", what, i);
    printf("  %-44s %d rows\n", what, PQntuples(res));
    PQclear(res);
}

static PGconn *connect_db(const char *dsn_env, const char *dbname)
{
    const char *keys[] = {"dbname", "dbname", NULL};
    const char *vals[] = {itest_env(dsn_env), dbname, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    CHECK(PQstatus(c) == CONNECTION_OK, "connecting to %s: %s", dbname, PQerrorMessage(c));
    return c;
}

int main(void)
{
    char support_id[64], support_mail[128], admin_id[64], admin_mail[128], super_id[64];
    char super_mail[128], support_tok[2200], admin_tok[2200], super_tok[2200];
    char tenant_sa[64], tenant_sa_tok[2200], hex[9], slug[64], body[1024], path[256];
    char id[64], key[128], customer[32], account[32], txn[64], dbname[80], out[512];
    char *v, *sealed, *plain = NULL;
    itest_tenant other;
    PGconn *master, *db2, *admin_db;
    json_t *o, *ids;
    lg_keyring *kr;
    int n_audit;

    bodies = json_array();
    master = itest_master_db();
    itest_system_admin("support", "SUPPORT", support_id, support_mail);
    itest_system_admin("admin", "ADMIN", admin_id, admin_mail);
    itest_system_admin("super", "SUPER_ADMIN", super_id, super_mail);
    itest_token_system(support_tok, sizeof support_tok, support_id, "SUPPORT");
    itest_token_system(admin_tok, sizeof admin_tok, admin_id, "ADMIN");
    itest_token_system(super_tok, sizeof super_tok, super_id, "SUPER_ADMIN");
    itest_random_hex(hex);
    snprintf(slug, sizeof slug, "it-sys-%s", hex);

    /* ---- tenant credentials are refused on the system plane, system tokens on the tenant's */
    itest_tenant_create(&other, "it-sys-other", NULL, 0, "USD");
    {
        PGconn *odb = itest_tenant_db(&other, NULL);
        char email[160];
        snprintf(email, sizeof email, "admin@%s.example", other.slug);
        itest_user_insert(odb, email, "SUPER_ADMIN", NULL, tenant_sa);
        itest_token_user(tenant_sa_tok, sizeof tenant_sa_tok, other.id, tenant_sa, "SUPER_ADMIN");
        PQfinish(odb);
    }
    problem(other.api_key, "GET", "/v1/system/tenants", NULL, 403, "/problems/forbidden");
    problem(tenant_sa_tok, "GET", "/v1/system/tenants", NULL, 403, "/problems/forbidden");
    problem(tenant_sa_tok, "POST", "/v1/system/tenants", "{\"slug\":\"x\",\"name\":\"X\"}", 403,
            "/problems/forbidden");
    snprintf(path, sizeof path, "/v1/system/tenants/%s/suspend", other.id);
    problem(tenant_sa_tok, "POST", path, "{\"reason\":\"x\"}", 403, "/problems/forbidden");
    problem(NULL, "GET", "/v1/system/tenants", NULL, 401, "/problems/unauthenticated");
    problem(admin_tok, "GET", "/v1/users", NULL, 403, "/problems/forbidden");
    OK(sql_is(master, "SELECT status::text FROM tenants WHERE id = $1::uuid", other.id, "ACTIVE"),
       "a tenant credential changed a tenant");

    /* ---- SUPPORT reads, never changes */
    o = call_ok(support_tok, "GET", "/v1/system/tenants?limit=5", NULL, 200);
    OK(json_array_size(json_object_get(o, "data")) > 0, "SUPPORT lists no tenant");
    json_decref(o);
    snprintf(path, sizeof path, "/v1/system/tenants/%s", other.id);
    o = call_ok(support_tok, "GET", path, NULL, 200);
    OK(strcmp(itest_json_str(o, "slug"), other.slug) == 0 &&
           strcmp(itest_json_str(o, "status"), "ACTIVE") == 0 &&
           json_integer_value(json_object_get(o, "maxUsers")) == 100 &&
           strcmp(itest_json_str(json_object_get(o, "database"), "server"), "main") == 0,
       "GET a tenant");
    json_decref(o);
    n_audit = audit_count(master, other.id);
    snprintf(body, sizeof body, "{\"slug\":\"%s\",\"name\":\"Support Bank\"}", slug);
    problem(support_tok, "POST", "/v1/system/tenants", body, 403, "/problems/forbidden");
    problem(support_tok, "PATCH", path, "{\"maxUsers\":1}", 403, "/problems/forbidden");
    snprintf(path, sizeof path, "/v1/system/tenants/%s/suspend", other.id);
    problem(support_tok, "POST", path, "{\"reason\":\"x\"}", 403, "/problems/forbidden");
    snprintf(path, sizeof path, "/v1/system/tenants/%s/activate", other.id);
    problem(support_tok, "POST", path, "{\"reason\":\"x\"}", 403, "/problems/forbidden");
    snprintf(path, sizeof path, "/v1/system/tenants/%s/deactivate", other.id);
    problem(support_tok, "POST", path, "{\"reason\":\"x\"}", 403, "/problems/forbidden");
    OK(audit_count(master, other.id) == n_audit &&
           sql_is(master, "SELECT status || ' ' || max_users FROM tenants WHERE id = $1::uuid",
                  other.id, "ACTIVE 100"),
       "a SUPPORT request changed something");
    OK(sql_is(master, "SELECT count(*)::text FROM tenants WHERE slug = $1", slug, "0"),
       "SUPPORT created a tenant");
    o = call_ok(support_tok, "GET", "/v1/system/servers", NULL, 200);
    v = json_dumps(o, JSON_COMPACT);
    OK(strstr(v, "\"main\"") != NULL && strstr(v, "\"second\"") != NULL &&
           strstr(v, "password") == NULL,
       "servers: %s", v);
    free(v);
    json_decref(o);

    /* ---- ADMIN: bad requests change nothing */
    problem(admin_tok, "POST", "/v1/system/tenants",
            "{\"slug\":\"Bad Slug\",\"name\":\"X\",\"server\":\"second\"}", 422,
            "/problems/invalid-field");
    snprintf(body, sizeof body, "{\"slug\":\"%s\",\"name\":\"X\",\"server\":\"third\"}", slug);
    problem(admin_tok, "POST", "/v1/system/tenants", body, 422, "/problems/unknown-server");
    snprintf(body, sizeof body, "{\"slug\":\"%s\",\"name\":\"X\",\"currencies\":[\"USD\",\"XYZ\"]}",
             slug);
    problem(admin_tok, "POST", "/v1/system/tenants", body, 422, "/problems/invalid-currency");
    snprintf(body, sizeof body, "{\"slug\":\"%s\",\"name\":\"X\",\"dbPassword\":\"x\"}", slug);
    problem(admin_tok, "POST", "/v1/system/tenants", body, 422, "/problems/unknown-field");
    snprintf(body, sizeof body, "{\"slug\":\"%s\"}", slug);
    problem(admin_tok, "POST", "/v1/system/tenants", body, 422, "/problems/missing-field");
    snprintf(body, sizeof body, "{\"slug\":\"%s\",\"name\":\"X\"", slug);
    problem(admin_tok, "POST", "/v1/system/tenants", body, 400, "/problems/invalid-json");
    snprintf(body, sizeof body, "{\"slug\":\"%s\",\"name\":\"Dup\"}", other.slug);
    problem(admin_tok, "POST", "/v1/system/tenants", body, 409, "/problems/conflict");
    OK(sql_is(master, "SELECT count(*)::text FROM tenants WHERE slug = $1", slug, "0"),
       "a refused request created a tenant");

    /* ---- a provisioning that fails is undone: the database name is taken on the server */
    snprintf(dbname, sizeof dbname, "tenant_it_sys_%s", hex);
    admin_db = connect_db("LEDGER_ADMIN_DSN_2", "postgres");
    snprintf(body, sizeof body, "CREATE DATABASE %s", dbname);
    itest_sql_exec(admin_db, body, NULL);
    snprintf(body, sizeof body,
             "{\"slug\":\"%s\",\"name\":\"ABC Bank\",\"server\":\"second\","
             "\"currencies\":[\"USD\",\"EUR\"],\"subdomain\":\"s%s\"}",
             slug, hex);
    problem(admin_tok, "POST", "/v1/system/tenants", body, 500, "/problems/provisioning-failed");
    OK(sql_is(master, "SELECT count(*)::text FROM tenants WHERE slug = $1", slug, "0"),
       "a failed provisioning left its tenant row");
    OK(sql_is(admin_db, "SELECT count(*)::text FROM pg_roles WHERE rolname = $1", dbname, "0"),
       "a failed provisioning left its role");
    OK(sql_is(admin_db, "SELECT count(*)::text FROM pg_database WHERE datname = $1", dbname, "1"),
       "a failed provisioning dropped a database it did not create");
    OK(sql_is(master,
              "SELECT count(*)::text FROM tenant_audit_logs WHERE action = 'PROVISIONING_FAILED'"
              " AND performed_by = $1",
              admin_mail, "1"),
       "no PROVISIONING_FAILED audit row");
    snprintf(out, sizeof out, "DROP DATABASE %s", dbname);
    itest_sql_exec(admin_db, out, NULL);

    /* ---- ADMIN creates and provisions a tenant on the second server */
    o = call_ok(admin_tok, "POST", "/v1/system/tenants", body, 201);
    snprintf(id, sizeof id, "%s", itest_json_str(o, "id"));
    OK(lg_uuid_valid(id) && strcmp(itest_json_str(o, "slug"), slug) == 0 &&
           strcmp(itest_json_str(o, "status"), "ACTIVE") == 0 &&
           strcmp(itest_json_str(o, "name"), "ABC Bank") == 0,
       "the created tenant reads wrong");
    {
        json_t *d = json_object_get(o, "database");
        OK(strcmp(itest_json_str(d, "server"), "second") == 0 &&
               json_integer_value(json_object_get(d, "port")) ==
                   strtol(itest_env("LEDGER_PG2_PORT"), NULL, 10) &&
               strcmp(itest_json_str(d, "name"), dbname) == 0,
           "the tenant is not on the second server");
        OK(json_object_get(d, "user") == NULL && json_object_get(d, "password") == NULL &&
               json_object_get(o, "dbPassword") == NULL && json_object_get(o, "dbUser") == NULL,
           "the tenant response carries credentials");
    }
    json_decref(o);
    OK(sql_is(master, "SELECT created_by || ' ' || db_port FROM tenants WHERE id = $1::uuid", id,
              (snprintf(out, sizeof out, "%s %s", admin_mail, itest_env("LEDGER_PG2_PORT")), out)),
       "created_by or the server is wrong");
    db2 = connect_db("LEDGER_ADMIN_DSN_2", dbname);
    OK(sql_is(db2,
              "SELECT string_agg(account_number, ',' ORDER BY account_number) FROM accounts"
              " WHERE account_type = 'INTERNAL'",
              NULL,
              "GL-1000-EUR,GL-1000-USD,GL-2900-EUR,GL-2900-USD,GL-4000-EUR,GL-4000-USD,"
              "GL-5000-EUR,GL-5000-USD"),
       "the internal accounts are not there");
    OK(sql_is(db2, "SELECT has_database_privilege('public', current_database(), 'CONNECT')::text",
              NULL, "false"),
       "PUBLIC may connect to the new tenant's database");
    OK(sql_is(master,
              "SELECT string_agg(action || ':' || performed_by, ',' ORDER BY created_at, action)"
              " FROM tenant_audit_logs WHERE tenant_id = $1::uuid",
              id,
              (snprintf(out, sizeof out, "CREATED:%s,PROVISIONED:%s,ACTIVATED:%s", admin_mail,
                        admin_mail, admin_mail),
               out)),
       "the provisioning audit rows");
    v = audit_row(master, id, "CREATED");
    OK(strstr(v, "\"server\": \"second\"") != NULL && strstr(v, admin_id) != NULL,
       "CREATED metadata: %s", v);
    free(v);
    /* Usable end to end: an API key, a customer, an account, a deposit through the worker. */
    OK(itest_ledgerctl(key, sizeof key, "apikey", "create", "--tenant", slug, "--name", "ops",
                       "--role", "TELLER", NULL) == 0,
       "apikey create");
    OK(itest_ledgerctl(customer, sizeof customer, "customer", "create", "--tenant", slug,
                       "--first-name", "Ada", "--last-name", "L", "--email", "ada@abc.example",
                       NULL) == 0 &&
           itest_ledgerctl(account, sizeof account, "account", "open", "--tenant", slug,
                           "--customer", customer, "--type", "CHECKING", "--currency", "EUR",
                           NULL) == 0,
       "customer and account");
    {
        itest_tenant nt;
        memset(&nt, 0, sizeof nt);
        snprintf(nt.slug, sizeof nt.slug, "%s", slug);
        snprintf(nt.id, sizeof nt.id, "%s", id);
        snprintf(nt.api_key, sizeof nt.api_key, "%s", key);
        snprintf(body, sizeof body,
                 "{\"type\":\"DEPOSIT\",\"amount\":\"25.00\",\"currency\":\"EUR\","
                 "\"toAccount\":\"%s\"}",
                 account);
        itest_submit(&nt, body, txn);
        json_decref(itest_expect_status(&nt, txn, "COMPLETED"));
        passed++;
    }

    /* ---- no credential in any response about it */
    sealed = itest_sql_value(master, "SELECT db_password FROM tenants WHERE id = $1::uuid", id);
    {
        char err[256],
            *kid = itest_sql_value(
                master, "SELECT db_password_key_id FROM tenants WHERE id = $1::uuid", id);
        kr = lg_keyring_load(itest_env("LEDGER_MASTER_KEY_FILE"), err, sizeof err);
        CHECK(kr != NULL, "%s", err);
        CHECK(lg_secret_open(kr, kid, id, sealed, &plain, err, sizeof err) == 0, "%s", err);
        free(kid);
    }
    snprintf(path, sizeof path, "/v1/system/tenants/%s", id);
    json_decref(call_ok(admin_tok, "GET", path, NULL, 200));

    /* ---- suspend, activate */
    snprintf(path, sizeof path, "/v1/system/tenants/%s/suspend", id);
    problem(admin_tok, "POST", path, "{}", 422, "/problems/missing-field");
    o = call_ok(admin_tok, "POST", path, "{\"reason\":\"fraud review\"}", 200);
    OK(strcmp(itest_json_str(o, "status"), "SUSPENDED") == 0, "suspend");
    json_decref(o);
    v = audit_row(master, id, "SUSPENDED");
    OK(strncmp(v, admin_mail, strlen(admin_mail)) == 0 && strstr(v, "fraud review") != NULL &&
           strstr(v, "\"from\": \"ACTIVE\"") != NULL,
       "SUSPENDED row: %s", v);
    free(v);
    {
        char auth[200];
        snprintf(auth, sizeof auth, "%s", key);
        problem(auth, "GET", "/v1/transactions?limit=1", NULL, 403, "/problems/tenant-suspended");
    }
    problem(admin_tok, "POST", path, "{\"reason\":\"again\"}", 409,
            "/problems/invalid-status-transition");
    snprintf(path, sizeof path, "/v1/system/tenants/%s/deactivate", id);
    problem(admin_tok, "POST", path, "{\"reason\":\"closing\"}", 403, "/problems/forbidden");
    snprintf(path, sizeof path, "/v1/system/tenants/%s/activate", id);
    o = call_ok(admin_tok, "POST", path, "{\"reason\":\"review passed\"}", 200);
    OK(strcmp(itest_json_str(o, "status"), "ACTIVE") == 0, "activate");
    json_decref(o);
    v = audit_row(master, id, "ACTIVATED");
    OK(strstr(v, "review passed") != NULL && strstr(v, "\"from\": \"SUSPENDED\"") != NULL,
       "ACTIVATED row: %s", v);
    free(v);
    json_decref(call_ok(key, "GET", "/v1/transactions?limit=1", NULL, 200));

    /* ---- update: limits, tier, name, settings */
    snprintf(path, sizeof path, "/v1/system/tenants/%s", id);
    o = call_ok(admin_tok, "PATCH", path,
                "{\"maxUsers\":7,\"maxAccounts\":70,\"subscriptionTier\":\"premium\","
                "\"name\":\"ABC Bank plc\",\"settings\":{\"region\":\"eu\"}}",
                200);
    OK(json_integer_value(json_object_get(o, "maxUsers")) == 7 &&
           json_integer_value(json_object_get(o, "maxAccounts")) == 70 &&
           strcmp(itest_json_str(o, "subscriptionTier"), "premium") == 0 &&
           strcmp(itest_json_str(o, "name"), "ABC Bank plc") == 0 &&
           strcmp(itest_json_str(json_object_get(o, "settings"), "region"), "eu") == 0 &&
           json_array_size(json_object_get(json_object_get(o, "settings"), "currencies")) == 2,
       "PATCH did not apply");
    json_decref(o);
    OK(sql_is(master,
              "SELECT max_users || ' ' || max_accounts || ' ' || subscription_tier FROM tenants"
              " WHERE id = $1::uuid",
              id, "7 70 premium"),
       "the master row");
    v = audit_row(master, id, "UPDATED");
    {
        const char *meta = strchr(v, '|');
        json_t *m = json_loads(meta != NULL ? meta + 1 : "", 0, NULL);
        json_t *c = json_object_get(m, "changes");
        OK(strncmp(v, admin_mail, strlen(admin_mail)) == 0 &&
               json_integer_value(json_object_get(json_object_get(c, "maxUsers"), "before")) ==
                   100 &&
               json_integer_value(json_object_get(json_object_get(c, "maxUsers"), "after")) == 7 &&
               strcmp(itest_json_str(json_object_get(c, "subscriptionTier"), "before"), "basic") ==
                   0 &&
               json_object_get(c, "settings") != NULL && json_object_get(c, "subdomain") == NULL,
           "UPDATED row: %s", v);
        json_decref(m);
    }
    free(v);
    n_audit = audit_count(master, id);
    json_decref(call_ok(admin_tok, "PATCH", path, "{\"maxUsers\":7}", 200));
    OK(audit_count(master, id) == n_audit, "a PATCH changing nothing was audited");
    problem(admin_tok, "PATCH", path, "{\"maxUsers\":-1}", 422, "/problems/invalid-field");
    problem(admin_tok, "PATCH", path, "{\"maxUsers\":\"7\"}", 422, "/problems/invalid-field");
    problem(admin_tok, "PATCH", path, "{\"settings\":{\"currencies\":[\"GBP\"]}}", 422,
            "/problems/invalid-field");
    problem(admin_tok, "PATCH", path, "{\"dbHost\":\"evil\"}", 422, "/problems/unknown-field");
    snprintf(body, sizeof body, "{\"subdomain\":\"%s\"}", other.slug);
    itest_sql_exec(master, "UPDATE tenants SET subdomain = slug WHERE id = $1::uuid", other.id);
    problem(admin_tok, "PATCH", path, body, 409, "/problems/conflict");
    problem(admin_tok, "PATCH", "/v1/system/tenants/00000000-0000-4000-8000-000000000000",
            "{\"maxUsers\":1}", 404, "/problems/not-found");
    OK(audit_count(master, id) == n_audit, "a refused PATCH was audited");
    /* The new limit holds at once on the tenant plane of this API process. */
    {
        char sa_id[64], sa_tok[2200], q[512];
        char *count;
        itest_user_insert(db2, "sa@abc.example", "SUPER_ADMIN", NULL, sa_id);
        itest_token_user(sa_tok, sizeof sa_tok, id, sa_id, "SUPER_ADMIN");
        /* maxUsers bounds the staff: internal users and customers' users do not count. */
        count = itest_sql_value(db2,
                                "SELECT count(*)::text FROM users WHERE deleted_at IS NULL"
                                " AND role <> 'CUSTOMER'"
                                " AND NOT (password_hash = '!' AND email LIKE '%.internal')",
                                NULL);
        snprintf(q, sizeof q, "{\"maxUsers\":%s}", count);
        json_decref(call_ok(admin_tok, "PATCH", path, q, 200));
        problem(sa_tok, "POST", "/v1/users",
                "{\"email\":\"one.more@abc.example\",\"password\":\"Aa-1234567890\","
                "\"firstName\":\"A\",\"lastName\":\"B\",\"role\":\"TELLER\"}",
                409, "/problems/limit-reached");
        json_decref(call_ok(admin_tok, "PATCH", path, "{\"maxUsers\":100}", 200));
        json_decref(call_ok(sa_tok, "POST", "/v1/users",
                            "{\"email\":\"one.more@abc.example\",\"password\":\"Aa-1234567890\","
                            "\"firstName\":\"A\",\"lastName\":\"B\",\"role\":\"TELLER\"}",
                            201));
        free(count);
    }

    /* ---- the audit log over the API */
    snprintf(path, sizeof path, "/v1/system/tenants/%s/audit-logs", id);
    ids = walk(support_tok, path, 2);
    expect_same_ids(ids, master,
                    "SELECT id::text FROM tenant_audit_logs WHERE tenant_id = $1::uuid"
                    " ORDER BY created_at DESC, id DESC",
                    id, "the tenant's audit log, 2 per page");
    json_decref(ids);

    /* ---- SUPER_ADMIN deactivates */
    snprintf(path, sizeof path, "/v1/system/tenants/%s/deactivate", id);
    o = call_ok(super_tok, "POST", path, "{\"reason\":\"contract ended\"}", 200);
    OK(strcmp(itest_json_str(o, "status"), "INACTIVE") == 0, "deactivate");
    json_decref(o);
    v = audit_row(master, id, "DEACTIVATED");
    OK(strncmp(v, super_mail, strlen(super_mail)) == 0 && strstr(v, "contract ended") != NULL,
       "DEACTIVATED row: %s", v);
    free(v);
    problem(key, "GET", "/v1/transactions?limit=1", NULL, 401, "/problems/unauthenticated");
    snprintf(path, sizeof path, "/v1/system/tenants/%s/activate", id);
    problem(super_tok, "POST", path, "{\"reason\":\"undo\"}", 409,
            "/problems/invalid-status-transition");

    /* ---- the tenant list, page by page */
    ids = walk(support_tok, "/v1/system/tenants", 3);
    expect_same_ids(ids, master, "SELECT id::text FROM tenants ORDER BY created_at DESC, id DESC",
                    NULL, "tenants, 3 per page");
    json_decref(ids);
    ids = walk(support_tok, "/v1/system/tenants?status=INACTIVE", 1);
    expect_same_ids(ids, master,
                    "SELECT id::text FROM tenants WHERE status = 'INACTIVE'"
                    " ORDER BY created_at DESC, id DESC",
                    NULL, "status=INACTIVE, 1 per page");
    json_decref(ids);
    problem(support_tok, "GET", "/v1/system/tenants?status=GONE", NULL, 400,
            "/problems/invalid-parameter");
    problem(support_tok, "GET", "/v1/system/tenants?cursor=VQ", NULL, 400,
            "/problems/invalid-cursor");
    problem(support_tok, "GET", "/v1/system/tenants/not-a-uuid", NULL, 404, "/problems/not-found");

    /* ---- no response carried a credential */
    {
        char *all = json_dumps(bodies, JSON_COMPACT);
        OK(json_array_size(bodies) > 20, "too few responses kept");
        OK(strstr(all, sealed) == NULL, "a response carries a sealed database password");
        OK(strstr(all, plain) == NULL, "a response carries a database password");
        OK(strstr(all, "db_password") == NULL && strstr(all, "dbPassword") == NULL &&
               strstr(all, "\"password\"") == NULL && strstr(all, "dbUser") == NULL,
           "a response names a credential");
        free(all);
    }

    /* ---- ledgerctl: --server, and tenant update */
    {
        char nid[64], nslug[64], *row;
        snprintf(nslug, sizeof nslug, "it-sys-ctl-%s", hex);
        OK(itest_ledgerctl(nid, sizeof nid, "tenant", "create", "--slug", nslug, "--name",
                           "Ctl Bank", "--server", "second", NULL) == 0,
           "ledgerctl tenant create --server second");
        OK(sql_is(master, "SELECT db_port::text || ' ' || status FROM tenants WHERE id = $1::uuid",
                  nid, (snprintf(out, sizeof out, "%s ACTIVE", itest_env("LEDGER_PG2_PORT")), out)),
           "--server second placed the tenant elsewhere");
        OK(itest_ledgerctl(NULL, 0, "tenant", "create", "--slug", "it-sys-nowhere", "--name", "N",
                           "--server", "third", NULL) == 2,
           "an unknown --server is a usage error");
        OK(itest_ledgerctl(NULL, 0, "tenant", "update", "--slug", nslug, "--max-users", "9",
                           "--tier", "gold", "--name", "Ctl Bank Ltd", NULL) == 0,
           "ledgerctl tenant update");
        OK(sql_is(master,
                  "SELECT max_users || ' ' || subscription_tier || ' ' || name FROM tenants"
                  " WHERE id = $1::uuid",
                  nid, "9 gold Ctl Bank Ltd"),
           "tenant update did not apply");
        row = audit_row(master, nid, "UPDATED");
        OK(strstr(row, "\"maxUsers\": {\"after\": 9, \"before\": 100}") != NULL, "UPDATED: %s",
           row);
        free(row);
        OK(itest_ledgerctl(NULL, 0, "tenant", "update", "--slug", nslug, "--max-users", "x",
                           NULL) == 2,
           "a bad --max-users is a usage error");
    }

    lg_secret_free(plain);
    free(sealed);
    lg_keyring_free(kr);
    json_decref(bodies);
    PQfinish(db2);
    PQfinish(admin_db);
    PQfinish(master);
    printf("%d passed, 0 failed\n", passed);
    return 0;
}
