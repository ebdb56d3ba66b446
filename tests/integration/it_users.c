/*
 * The tenant's users over REST (/v1/users):
 *   - a SUPER_ADMIN creates users (Argon2id hash, lower-case e-mail, audited without the
 *     password), reads, lists (filters, cursor pages equal to SQL's order), updates (audited
 *     before/after; a no-op writes nothing), deactivates and soft-deletes them (invisible after);
 *   - bad bodies: unknown field, wrong type, malformed JSON, missing field, weak password, role
 *     CUSTOMER, duplicate e-mail, the reserved .internal domain;
 *   - the role matrix: CUSTOMER, TELLER, MANAGER and an API key are refused every management
 *     endpoint; every caller reads itself at /v1/users/me;
 *   - maxUsers: counted without the bank's internal users, enforced with /problems/limit-reached
 *     once the limit changed in the master (within the routing cache's 5 s), freed by a deletion;
 *   - the last active SUPER_ADMIN cannot demote, deactivate, suspend or delete itself;
 *   - a password change: wrong current refused, weak new refused, then the stored hash is
 *     $argon2id$, verifies the new password and no longer the old one, audited without either;
 *     an API key cannot change a password.
 */
#include "itest.h"
#include "itest_system.h"

#include "lg_password.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ADMIN_PASSWORD  "Admin-Passw0rd-1"
#define TELLER_PASSWORD "Teller-Passw0rd-1"
#define NEW_PASSWORD    "Brand-new-Passw0rd-2"

static int passed;

#define OK(cond, ...)                                                                              \
    do {                                                                                           \
        CHECK(cond, __VA_ARGS__);                                                                  \
        passed++;                                                                                  \
    } while (0)

static void problem(const char *cred, const char *method, const char *path, const char *body,
                    long status, const char *type)
{
    itest_expect_problem(cred, method, path, body, status, type);
    passed++;
}

static char *sql(PGconn *db, const char *q, const char *param)
{
    return itest_sql_value(db, q, param);
}

static int sql_is(PGconn *db, const char *q, const char *param, const char *want)
{
    char *v = sql(db, q, param);
    int same = strcmp(v, want) == 0;
    if (!same)
        fprintf(stderr, "  %s -> %s (expected %s)\n", q, v, want);
    free(v);
    return same;
}

/* Creates a user through the API as admin; fills id[64]. Returns the user's JSON. */
static json_t *create(const char *admin, const char *email, const char *role, const char *password,
                      char id[64])
{
    char body[512];
    json_t *o;
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"password\":\"%s\",\"firstName\":\"Fay\",\"lastName\":\"Test\","
             "\"role\":\"%s\"}",
             email, password, role);
    o = itest_expect_status_json(admin, "POST", "/v1/users", body, 201);
    snprintf(id, 64, "%s", itest_json_str(o, "id"));
    OK(strlen(id) == 36, "created user without id");
    return o;
}

/* A user as the API shows it carries no secret. */
static void no_secret(const json_t *user)
{
    char *text = json_dumps(user, 0);
    OK(strstr(text, "argon2") == NULL && strstr(text, "assword\"") == NULL &&
           json_object_get(user, "passwordHash") == NULL,
       "a user response carries a secret: %s", text);
    free(text);
}

/* Walks /v1/users<query> at page size limit; returns every id in order (a new array). */
static json_t *walk(const char *admin, const char *query, int limit)
{
    json_t *ids = json_array();
    char path[512], cursor[128] = "";
    for (int pages = 0;; pages++) {
        json_t *page, *data, *next;
        size_t i;
        json_t *u;
        snprintf(path, sizeof path, "/v1/users?%s%slimit=%d%s%s", query, query[0] ? "&" : "", limit,
                 cursor[0] ? "&cursor=" : "", cursor);
        page = itest_expect_status_json(admin, "GET", path, NULL, 200);
        data = json_object_get(page, "data");
        next = json_object_get(page, "nextCursor");
        CHECK(json_is_array(data) && json_array_size(data) <= (size_t)limit, "%s: page", path);
        CHECK(json_is_null(next) || json_array_size(data) == (size_t)limit,
              "%s: a short page before the last", path);
        json_array_foreach(data, i, u)
        {
            no_secret(u);
            json_array_append_new(ids, json_string(itest_json_str(u, "id")));
        }
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
    OK(json_array_size(ids) == (size_t)PQntuples(res), "%s: the API lists %zu, SQL finds %d", what,
       json_array_size(ids), PQntuples(res));
    for (int i = 0; i < PQntuples(res); i++)
        OK(strcmp(json_string_value(json_array_get(ids, (size_t)i)), PQgetvalue(res, i, 0)) == 0,
           "%s: row %d differs", what, i);
    printf("  %-40s %d rows\n", what, PQntuples(res));
    PQclear(res);
}

static int audit_count(PGconn *db, const char *action, const char *resource_id)
{
    char q[256], *v;
    int n;
    snprintf(q, sizeof q,
             "SELECT count(*)::text FROM audit_logs WHERE action = '%s' AND resource = 'User'"
             " AND resource_id = $1",
             action);
    v = sql(db, q, resource_id);
    n = (int)strtol(v, NULL, 10);
    free(v);
    return n;
}

static char *audit_changes(PGconn *db, const char *action, const char *resource_id)
{
    char q[256];
    snprintf(q, sizeof q,
             "SELECT changes::text FROM audit_logs WHERE action = '%s' AND resource_id = $1"
             " ORDER BY created_at DESC LIMIT 1",
             action);
    return sql(db, q, resource_id);
}

int main(void)
{
    itest_tenant t;
    PGconn *db, *master;
    char hex[9], email[160], path[256], body[1024], *v;
    char admin_id[64], admin_tok[2200], customer_id[64], customer_tok[2200];
    char manager_id[64], manager_tok[2200], teller_id[64], teller_tok[2200];
    char system_id[64], sa2_id[64], sa2_tok[2200], extra[6][64], max_text[16];
    json_t *o, *ids;
    long count;

    itest_tenant_create(&t, "it-users", NULL, 0, "USD");
    db = itest_tenant_db(&t, NULL);
    master = itest_master_db();
    itest_random_hex(hex);

    /* The first SUPER_ADMIN comes with provisioning; here the superuser inserts it. */
    snprintf(email, sizeof email, "admin@%s.example", t.slug);
    itest_user_insert(db, email, "SUPER_ADMIN", ADMIN_PASSWORD, admin_id);
    itest_token_user(admin_tok, sizeof admin_tok, t.id, admin_id, "SUPER_ADMIN");
    v = sql(db, "SELECT id::text FROM users WHERE role = 'CUSTOMER'", NULL);
    snprintf(customer_id, sizeof customer_id, "%s", v);
    free(v);
    itest_token_user(customer_tok, sizeof customer_tok, t.id, customer_id, "CUSTOMER");
    v = sql(db, "SELECT id::text FROM users WHERE email LIKE 'system@%'", NULL);
    snprintf(system_id, sizeof system_id, "%s", v);
    free(v);

    /* ---- create */
    snprintf(email, sizeof email, "Manager.%s@Bank.Example", hex);
    o = create(admin_tok, email, "MANAGER", "Manager-Passw0rd-1", manager_id);
    for (char *p = email; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    OK(strcmp(itest_json_str(o, "email"), email) == 0, "the e-mail is not stored in lower case: %s",
       itest_json_str(o, "email"));
    OK(strcmp(itest_json_str(o, "role"), "MANAGER") == 0 &&
           strcmp(itest_json_str(o, "status"), "ACTIVE") == 0 &&
           strcmp(itest_json_str(o, "firstName"), "Fay") == 0 &&
           json_is_null(json_object_get(o, "phone")) && json_object_get(o, "createdAt") != NULL,
       "the created user reads wrong");
    no_secret(o);
    json_decref(o);
    OK(sql_is(db, "SELECT left(password_hash, 10) FROM users WHERE id = $1::uuid", manager_id,
              "$argon2id$"),
       "the password is not stored as an Argon2id hash");
    OK(audit_count(db, "CREATE_USER", manager_id) == 1, "no CREATE_USER audit row");
    v = audit_changes(db, "CREATE_USER", manager_id);
    OK(strstr(v, "\"role\"") != NULL && strstr(v, "\"email\"") != NULL &&
           strstr(v, "Manager-Passw0rd-1") == NULL && strstr(v, "argon2") == NULL &&
           strstr(v, "assword") == NULL,
       "CREATE_USER changes: %s", v);
    free(v);
    OK(sql_is(db,
              "SELECT count(*)::text FROM audit_logs WHERE action = 'CREATE_USER'"
              " AND resource_id = $1 AND user_id = (SELECT id::text FROM users WHERE email LIKE"
              " 'admin@%')",
              manager_id, "1"),
       "the audit row does not name the admin who acted");
    snprintf(email, sizeof email, "teller.%s@bank.example", hex);
    json_decref(create(admin_tok, email, "TELLER", TELLER_PASSWORD, teller_id));
    itest_token_user(manager_tok, sizeof manager_tok, t.id, manager_id, "MANAGER");
    itest_token_user(teller_tok, sizeof teller_tok, t.id, teller_id, "TELLER");

    /* ---- bad bodies */
    problem(admin_tok, "POST", "/v1/users",
            "{\"email\":\"x@y.example\",\"password\":\"Aa-1234567890\",\"firstName\":\"A\","
            "\"lastName\":\"B\",\"role\":\"TELLER\",\"isAdmin\":true}",
            422, "/problems/unknown-field");
    problem(admin_tok, "POST", "/v1/users",
            "{\"email\":\"x@y.example\",\"password\":\"Aa-1234567890\",\"firstName\":5,"
            "\"lastName\":\"B\",\"role\":\"TELLER\"}",
            422, "/problems/invalid-field");
    problem(admin_tok, "POST", "/v1/users", "{\"email\":", 400, "/problems/invalid-json");
    problem(admin_tok, "POST", "/v1/users",
            "{\"password\":\"Aa-1234567890\",\"firstName\":\"A\",\"lastName\":\"B\","
            "\"role\":\"TELLER\"}",
            422, "/problems/missing-field");
    problem(admin_tok, "POST", "/v1/users",
            "{\"email\":\"x@y.example\",\"password\":\"short\",\"firstName\":\"A\","
            "\"lastName\":\"B\",\"role\":\"TELLER\"}",
            422, "/problems/weak-password");
    problem(admin_tok, "POST", "/v1/users",
            "{\"email\":\"x@y.example\",\"password\":\"Aa-1234567890\",\"firstName\":\"A\","
            "\"lastName\":\"B\",\"role\":\"CUSTOMER\"}",
            422, "/problems/invalid-field");
    problem(admin_tok, "POST", "/v1/users",
            "{\"email\":\"x@y.example\",\"password\":\"Aa-1234567890\",\"firstName\":\"A\","
            "\"lastName\":\"B\",\"role\":\"OWNER\"}",
            422, "/problems/invalid-field");
    problem(admin_tok, "POST", "/v1/users",
            "{\"email\":\"apikey.x@bank.internal\",\"password\":\"Aa-1234567890\","
            "\"firstName\":\"A\",\"lastName\":\"B\",\"role\":\"TELLER\"}",
            422, "/problems/invalid-field");
    problem(admin_tok, "POST", "/v1/users",
            "{\"email\":\"not-an-email\",\"password\":\"Aa-1234567890\",\"firstName\":\"A\","
            "\"lastName\":\"B\",\"role\":\"TELLER\"}",
            422, "/problems/invalid-field");
    snprintf(body, sizeof body,
             "{\"email\":\"TELLER.%s@BANK.EXAMPLE\",\"password\":\"Aa-1234567890\","
             "\"firstName\":\"A\",\"lastName\":\"B\",\"role\":\"TELLER\"}",
             hex);
    problem(admin_tok, "POST", "/v1/users", body, 409, "/problems/conflict");
    {
        const char *headers[] = {NULL, NULL};
        char auth[2300], *raw = NULL;
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", admin_tok);
        headers[0] = auth;
        OK(itest_http("POST", "/v1/users", headers, "{}", &raw, NULL, 0) == 415,
           "a body without Content-Type: application/json was taken: %s", raw);
        free(raw);
    }
    OK(sql_is(db, "SELECT count(*)::text FROM users WHERE email = 'x@y.example'", NULL, "0"),
       "a refused request created a user");

    /* ---- the role matrix */
    {
        const char *refused[] = {customer_tok, teller_tok, manager_tok, t.api_key};
        const char *names[] = {"CUSTOMER", "TELLER", "MANAGER", "API key (MANAGER)"};
        for (size_t i = 0; i < 4; i++) {
            snprintf(path, sizeof path, "/v1/users/%s", teller_id);
            problem(refused[i], "GET", "/v1/users", NULL, 403, "/problems/forbidden");
            problem(refused[i], "POST", "/v1/users",
                    "{\"email\":\"z@y.example\",\"password\":\"Aa-1234567890\","
                    "\"firstName\":\"A\",\"lastName\":\"B\",\"role\":\"TELLER\"}",
                    403, "/problems/forbidden");
            problem(refused[i], "GET", path, NULL, 403, "/problems/forbidden");
            problem(refused[i], "PATCH", path, "{\"firstName\":\"X\"}", 403, "/problems/forbidden");
            problem(refused[i], "DELETE", path, NULL, 403, "/problems/forbidden");
            snprintf(path, sizeof path, "/v1/users/%s/deactivate", teller_id);
            problem(refused[i], "POST", path, NULL, 403, "/problems/forbidden");
            printf("  role %-20s refused on all six\n", names[i]);
        }
        OK(sql_is(db, "SELECT status::text FROM users WHERE id = $1::uuid", teller_id, "ACTIVE"),
           "a refused caller changed a user");
    }
    {
        const char *callers[] = {customer_tok, teller_tok, manager_tok, admin_tok};
        const char *who[] = {customer_id, teller_id, manager_id, admin_id};
        for (size_t i = 0; i < 4; i++) {
            o = itest_expect_status_json(callers[i], "GET", "/v1/users/me", NULL, 200);
            OK(strcmp(itest_json_str(o, "id"), who[i]) == 0, "/v1/users/me is someone else");
            no_secret(o);
            json_decref(o);
        }
        o = itest_expect_status_json(t.api_key, "GET", "/v1/users/me", NULL, 200);
        OK(strncmp(itest_json_str(o, "email"), "apikey.", 7) == 0,
           "an API key's /v1/users/me is %s", itest_json_str(o, "email"));
        json_decref(o);
    }

    /* ---- reads */
    snprintf(path, sizeof path, "/v1/users/%s", teller_id);
    o = itest_expect_status_json(admin_tok, "GET", path, NULL, 200);
    OK(strcmp(itest_json_str(o, "email"), email) == 0 &&
           strcmp(itest_json_str(o, "role"), "TELLER") == 0,
       "GET a user");
    json_decref(o);
    problem(admin_tok, "GET", "/v1/users/00000000-0000-4000-8000-000000000000", NULL, 404,
            "/problems/not-found");
    problem(admin_tok, "GET", "/v1/users/not-a-uuid", NULL, 404, "/problems/not-found");
    snprintf(path, sizeof path, "/v1/users/%s", system_id);
    problem(admin_tok, "GET", path, NULL, 404, "/problems/not-found");
    for (int i = 0; i < 6; i++) {
        snprintf(email, sizeof email, "extra%d.%s@bank.example", i, hex);
        json_decref(
            create(admin_tok, email, i % 2 ? "TELLER" : "MANAGER", "Extra-Passw0rd-1", extra[i]));
    }
    ids = walk(admin_tok, "", 3);
    expect_same_ids(ids, db,
                    "SELECT id::text FROM users WHERE deleted_at IS NULL AND NOT"
                    " (password_hash = '!' AND email LIKE '%.internal')"
                    " ORDER BY created_at DESC, id DESC",
                    NULL, "all users, 3 per page");
    {
        char *text = json_dumps(ids, 0);
        OK(strstr(text, system_id) == NULL, "the list shows the bank's system user");
        free(text);
    }
    json_decref(ids);
    ids = walk(admin_tok, "role=TELLER", 2);
    expect_same_ids(
        ids, db,
        "SELECT id::text FROM users WHERE deleted_at IS NULL AND role = 'TELLER' AND NOT"
        " (password_hash = '!' AND email LIKE '%.internal')"
        " ORDER BY created_at DESC, id DESC",
        NULL, "role=TELLER, 2 per page");
    json_decref(ids);
    problem(admin_tok, "GET", "/v1/users?role=BOSS", NULL, 400, "/problems/invalid-parameter");
    problem(admin_tok, "GET", "/v1/users?limit=0", NULL, 400, "/problems/invalid-parameter");
    problem(admin_tok, "GET", "/v1/users?limit=201", NULL, 400, "/problems/invalid-parameter");
    problem(admin_tok, "GET", "/v1/users?sort=name", NULL, 400, "/problems/unknown-parameter");
    problem(admin_tok, "GET", "/v1/users?cursor=AAAA", NULL, 400, "/problems/invalid-cursor");

    /* ---- update */
    snprintf(path, sizeof path, "/v1/users/%s", teller_id);
    o = itest_expect_status_json(admin_tok, "PATCH", path,
                                 "{\"firstName\":\"Tess\",\"phone\":\"+1 555 0100\"}", 200);
    OK(strcmp(itest_json_str(o, "firstName"), "Tess") == 0 &&
           strcmp(itest_json_str(o, "phone"), "+1 555 0100") == 0,
       "PATCH did not apply");
    json_decref(o);
    v = audit_changes(db, "UPDATE_USER", teller_id);
    {
        json_t *c = json_loads(v, 0, NULL);
        OK(c != NULL &&
               strcmp(itest_json_str(json_object_get(c, "firstName"), "before"), "Fay") == 0 &&
               strcmp(itest_json_str(json_object_get(c, "firstName"), "after"), "Tess") == 0 &&
               json_is_null(json_object_get(json_object_get(c, "phone"), "before")) &&
               json_object_get(c, "lastName") == NULL,
           "UPDATE_USER changes: %s", v);
        json_decref(c);
    }
    free(v);
    count = audit_count(db, "UPDATE_USER", teller_id);
    json_decref(
        itest_expect_status_json(admin_tok, "PATCH", path, "{\"firstName\":\"Tess\"}", 200));
    OK(audit_count(db, "UPDATE_USER", teller_id) == count, "a PATCH changing nothing was audited");
    problem(admin_tok, "PATCH", path, "{\"role\":\"CUSTOMER\"}", 422, "/problems/invalid-field");
    problem(admin_tok, "PATCH", path, "{\"status\":\"LOCKED\"}", 422, "/problems/invalid-field");
    problem(admin_tok, "PATCH", path, "{\"email\":\"new@bank.example\"}", 422,
            "/problems/unknown-field");
    problem(admin_tok, "PATCH", path, "{\"lastName\":null}", 422, "/problems/invalid-field");
    problem(admin_tok, "PATCH", path, "[1]", 400, "/problems/invalid-json");
    snprintf(path, sizeof path, "/v1/users/%s", customer_id);
    problem(admin_tok, "PATCH", path, "{\"role\":\"TELLER\"}", 422, "/problems/invalid-field");
    snprintf(path, sizeof path, "/v1/users/%s", extra[0]);
    o = itest_expect_status_json(admin_tok, "PATCH", path,
                                 "{\"role\":\"TELLER\",\"status\":\"SUSPENDED\",\"phone\":null}",
                                 200);
    OK(strcmp(itest_json_str(o, "role"), "TELLER") == 0 &&
           strcmp(itest_json_str(o, "status"), "SUSPENDED") == 0,
       "PATCH role and status");
    json_decref(o);

    /* ---- deactivate */
    snprintf(path, sizeof path, "/v1/users/%s/deactivate", extra[1]);
    o = itest_expect_status_json(admin_tok, "POST", path, NULL, 200);
    OK(strcmp(itest_json_str(o, "status"), "INACTIVE") == 0, "deactivate");
    json_decref(o);
    OK(audit_count(db, "DEACTIVATE_USER", extra[1]) == 1, "no DEACTIVATE_USER row");
    v = audit_changes(db, "DEACTIVATE_USER", extra[1]);
    OK(strstr(v, "\"status\"") != NULL && strstr(v, "INACTIVE") != NULL, "changes %s", v);
    free(v);

    /* ---- soft delete */
    snprintf(path, sizeof path, "/v1/users/%s", extra[2]);
    OK(itest_sys_call(admin_tok, "DELETE", path, NULL, NULL, NULL) == 204, "DELETE");
    problem(admin_tok, "GET", path, NULL, 404, "/problems/not-found");
    problem(admin_tok, "DELETE", path, NULL, 404, "/problems/not-found");
    problem(admin_tok, "PATCH", path, "{\"firstName\":\"Ghost\"}", 404, "/problems/not-found");
    OK(sql_is(db, "SELECT (deleted_at IS NOT NULL)::text FROM users WHERE id = $1::uuid", extra[2],
              "true"),
       "the deleted user's row is gone or not marked");
    OK(audit_count(db, "DELETE_USER", extra[2]) == 1, "no DELETE_USER row");
    ids = walk(admin_tok, "", 200);
    {
        char *text = json_dumps(ids, 0);
        OK(strstr(text, extra[2]) == NULL, "a deleted user is listed");
        free(text);
    }
    json_decref(ids);
    /* Its e-mail is free again. */
    v = sql(db, "SELECT email FROM users WHERE id = $1::uuid", extra[2]);
    snprintf(email, sizeof email, "%s", v);
    free(v);
    json_decref(create(admin_tok, email, "TELLER", "Extra-Passw0rd-1", extra[2]));

    /* ---- maxUsers: internal users (system@, apikey.*) and customers' users do not count (the
     * tenant has a customer: counting it would refuse the creation after the DELETE below) */
    v = sql(db,
            "SELECT count(*)::text FROM users WHERE deleted_at IS NULL AND role <> 'CUSTOMER'"
            " AND NOT (password_hash = '!' AND email LIKE '%.internal')",
            NULL);
    snprintf(max_text, sizeof max_text, "%s", v);
    free(v);
    {
        PGresult *res = PQexecParams(master, "UPDATE tenants SET max_users = $2::int WHERE id = $1",
                                     2, NULL, (const char *[]){t.id, max_text}, NULL, NULL, 0);
        CHECK(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQerrorMessage(master));
        PQclear(res);
    }
    sleep(6); /* the API's routing cache holds tenant rows for 5 s */
    snprintf(body, sizeof body,
             "{\"email\":\"over.%s@bank.example\",\"password\":\"Aa-1234567890\","
             "\"firstName\":\"A\",\"lastName\":\"B\",\"role\":\"TELLER\"}",
             hex);
    problem(admin_tok, "POST", "/v1/users", body, 409, "/problems/limit-reached");
    OK(sql_is(db, "SELECT count(*)::text FROM users WHERE email LIKE 'over.%'", NULL, "0"),
       "a user was created over the limit");
    snprintf(path, sizeof path, "/v1/users/%s", extra[3]);
    OK(itest_sys_call(admin_tok, "DELETE", path, NULL, NULL, NULL) == 204, "DELETE to free a place");
    o = itest_expect_status_json(admin_tok, "POST", "/v1/users", body, 201);
    json_decref(o);
    problem(admin_tok, "POST", "/v1/users",
            "{\"email\":\"over2@bank.example\",\"password\":\"Aa-1234567890\","
            "\"firstName\":\"A\",\"lastName\":\"B\",\"role\":\"TELLER\"}",
            409, "/problems/limit-reached");
    {
        PGresult *res = PQexecParams(master, "UPDATE tenants SET max_users = 100 WHERE id = $1", 1,
                                     NULL, (const char *[]){t.id}, NULL, NULL, 0);
        CHECK(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQerrorMessage(master));
        PQclear(res);
    }

    /* ---- the caller's password */
    problem(t.api_key, "POST", "/v1/users/me/password",
            "{\"currentPassword\":\"x\",\"newPassword\":\"" NEW_PASSWORD "\"}", 403,
            "/problems/forbidden");
    problem(teller_tok, "POST", "/v1/users/me/password",
            "{\"currentPassword\":\"Wrong-Passw0rd-1\",\"newPassword\":\"" NEW_PASSWORD "\"}", 403,
            "/problems/wrong-password");
    problem(teller_tok, "POST", "/v1/users/me/password",
            "{\"currentPassword\":\"" TELLER_PASSWORD "\",\"newPassword\":\"weak\"}", 422,
            "/problems/weak-password");
    problem(teller_tok, "POST", "/v1/users/me/password",
            "{\"currentPassword\":\"" TELLER_PASSWORD "\",\"newPassword\":\"" TELLER_PASSWORD "\"}",
            422, "/problems/weak-password");
    problem(teller_tok, "POST", "/v1/users/me/password",
            "{\"currentPassword\":\"" TELLER_PASSWORD "\",\"newPassword\":\"" NEW_PASSWORD
            "\",\"otp\":\"1\"}",
            422, "/problems/unknown-field");
    v = sql(db, "SELECT password_hash FROM users WHERE id = $1::uuid", teller_id);
    OK(lg_password_verify(v, TELLER_PASSWORD), "a refused change changed the password");
    free(v);
    OK(itest_sys_call(teller_tok, "POST", "/v1/users/me/password",
                  "{\"currentPassword\":\"" TELLER_PASSWORD "\",\"newPassword\":\"" NEW_PASSWORD
                  "\"}",
                  NULL, NULL) == 204,
       "the password change was refused");
    v = sql(db, "SELECT password_hash FROM users WHERE id = $1::uuid", teller_id);
    OK(strncmp(v, "$argon2id$", 10) == 0, "the new hash is not Argon2id: %.12s", v);
    OK(lg_password_verify(v, NEW_PASSWORD), "the new password does not verify");
    OK(!lg_password_verify(v, TELLER_PASSWORD), "the old password still verifies");
    free(v);
    OK(sql_is(db, "SELECT (password_changed_at IS NOT NULL)::text FROM users WHERE id = $1::uuid",
              teller_id, "true"),
       "password_changed_at not set");
    OK(audit_count(db, "CHANGE_PASSWORD", teller_id) == 1, "no CHANGE_PASSWORD row");
    v = audit_changes(db, "CHANGE_PASSWORD", teller_id);
    OK(strstr(v, "passwordChangedAt") != NULL && strstr(v, TELLER_PASSWORD) == NULL &&
           strstr(v, NEW_PASSWORD) == NULL && strstr(v, "argon2") == NULL,
       "CHANGE_PASSWORD changes: %s", v);
    free(v);
    OK(sql_is(db,
              "SELECT count(*)::text FROM audit_logs WHERE changes::text LIKE '%argon2%'"
              " OR metadata::text LIKE '%argon2%' OR changes::text LIKE '%Passw0rd%'",
              NULL, "0"),
       "an audit row holds a password or a hash");

    /* ---- the last active SUPER_ADMIN */
    snprintf(path, sizeof path, "/v1/users/%s", admin_id);
    problem(admin_tok, "PATCH", path, "{\"role\":\"MANAGER\"}", 409, "/problems/last-super-admin");
    problem(admin_tok, "PATCH", path, "{\"status\":\"SUSPENDED\"}", 409,
            "/problems/last-super-admin");
    problem(admin_tok, "DELETE", path, NULL, 409, "/problems/last-super-admin");
    snprintf(path, sizeof path, "/v1/users/%s/deactivate", admin_id);
    problem(admin_tok, "POST", path, NULL, 409, "/problems/last-super-admin");
    OK(sql_is(db, "SELECT role || ' ' || status FROM users WHERE id = $1::uuid", admin_id,
              "SUPER_ADMIN ACTIVE"),
       "the last SUPER_ADMIN was changed");
    /* The API may still hold maxUsers at its limit (routing cache): free a place. */
    snprintf(path, sizeof path, "/v1/users/%s", extra[4]);
    OK(itest_sys_call(admin_tok, "DELETE", path, NULL, NULL, NULL) == 204, "DELETE");
    snprintf(email, sizeof email, "sa2.%s@bank.example", hex);
    json_decref(create(admin_tok, email, "SUPER_ADMIN", "Second-Passw0rd-1", sa2_id));
    itest_token_user(sa2_tok, sizeof sa2_tok, t.id, sa2_id, "SUPER_ADMIN");
    /* With a second one, the first may step down; then the second is the last. */
    snprintf(path, sizeof path, "/v1/users/%s", admin_id);
    o = itest_expect_status_json(admin_tok, "PATCH", path, "{\"role\":\"MANAGER\"}", 200);
    OK(strcmp(itest_json_str(o, "role"), "MANAGER") == 0, "stepping down");
    json_decref(o);
    snprintf(path, sizeof path, "/v1/users/%s", sa2_id);
    problem(sa2_tok, "DELETE", path, NULL, 409, "/problems/last-super-admin");

    PQfinish(master);
    PQfinish(db);
    printf("%d passed, 0 failed\n", passed);
    return 0;
}
