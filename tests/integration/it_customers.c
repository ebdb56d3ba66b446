/*
 * Customers (KYC) over REST, against the real stack:
 *   1. create with every field of the source design (individual and corporate), the User made
 *      with it (Argon2id password, or "!" without one), the audit row without a secret, and
 *      CUST-nnnnn numbers that grow past CUST-99999 without truncation;
 *   2. read: staff any, a CUSTOMER only its own ("me"); update with before/after in the audit
 *      log, riskLevel reserved to managers, one user per e-mail address;
 *   3. KYC decisions (managers, from PENDING only, complete data only), re-opening on new
 *      identity data, EXPIRED when read (audited as "system") and by `ledgerctl kyc expire`;
 *   4. the list walked page by page over some hundred customers, filters, against SQL;
 *      ?include=accounts equal to SQL and read with one query per page, not one per customer
 *      (the tenant database's transaction counter tells);
 *   5. soft delete: refused while an account holds money or is frozen; zero-balance accounts
 *      close with the customer, whose user then signs in no more;
 *   6. the role matrix of every endpoint; bad input of every kind answered with problem+json and
 *      changing nothing; SQL metacharacters stored verbatim; another tenant's customer not found.
 */
#include "itest_mgmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Everything of the tenant's customers, users and audit log, to prove nothing changed. */
static char *fingerprint(PGconn *db)
{
    return itest_mgmt_value(
        db,
        "SELECT md5(coalesce((SELECT string_agg(c::text, '|' ORDER BY c.id) FROM customers c), '')"
        " || coalesce((SELECT string_agg(u::text, '|' ORDER BY u.id) FROM users u), '')"
        " || coalesce((SELECT string_agg(a::text, '|' ORDER BY a.id) FROM accounts a), '')"
        " || (SELECT count(*) FROM audit_logs) || (SELECT last_value FROM customer_number_seq))",
        NULL, NULL);
}

/* Runs a statement with up to two parameters; returns the rows it affected. */
static long exec2(PGconn *db, const char *sql, const char *p1, const char *p2)
{
    const char *params[2] = {p1, p2};
    PGresult *r = PQexecParams(db, sql,
                               p2 != NULL   ? 2
                               : p1 != NULL ? 1
                                            : 0,
                               NULL, params, NULL, NULL, 0);
    long n;
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s",
          sql, PQerrorMessage(db));
    n = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return n;
}

/* The newest audit row of action on resource_id: {"userId", "changes", "metadata"}. */
static json_t *audit_row(PGconn *db, const char *action, const char *resource_id)
{
    char *v = itest_mgmt_value(db,
                               "SELECT json_build_object('userId', user_id, 'changes', changes,"
                               " 'metadata', metadata)::text FROM audit_logs WHERE action = $1"
                               " AND resource_id = $2 ORDER BY created_at DESC LIMIT 1",
                               action, resource_id);
    json_t *o = json_loads(v, 0, NULL);
    CHECK(o != NULL, "audit row %s %s: %s", action, resource_id, v);
    free(v);
    return o;
}

/* changes.<field> must be exactly {"before": before, "after": after} (JSON texts). */
static void expect_change(json_t *audit, const char *field, const char *before, const char *after)
{
    json_t *c = json_object_get(json_object_get(audit, "changes"), field);
    json_t *want_b = json_loads(before, JSON_DECODE_ANY, NULL);
    json_t *want_a = json_loads(after, JSON_DECODE_ANY, NULL);
    char *text = c != NULL ? json_dumps(c, JSON_COMPACT) : strdup("(none)");
    EXPECT(c != NULL && json_object_size(c) == 2 &&
               json_equal(json_object_get(c, "before"), want_b) &&
               json_equal(json_object_get(c, "after"), want_a),
           "audit change of %s: %s, expected %s -> %s", field, text, before, after);
    free(text);
    json_decref(want_b);
    json_decref(want_a);
}

static long audit_count(PGconn *db, const char *action, const char *resource_id)
{
    return itest_mgmt_long(db,
                           "SELECT count(*) FROM audit_logs WHERE action = $1 AND resource_id = $2",
                           action, resource_id);
}

/* Expects status (and for 401/403/404 the problem type) for one credential. */
static void expect_status(const char *bearer, const char *method, const char *path,
                          const char *body, long want)
{
    if (want == 401)
        itest_mgmt_problem(bearer, method, path, body, 401, "/problems/unauthenticated");
    else if (want == 403)
        itest_mgmt_problem(bearer, method, path, body, 403, "/problems/forbidden");
    else if (want == 404)
        itest_mgmt_problem(bearer, method, path, body, 404, "/problems/not-found");
    else
        json_decref(itest_mgmt_ok(bearer, method, path, body, want));
}

/* The tenant database's committed transactions, read from another database of its server (so
 * that reading does not count) once PostgreSQL has flushed every backend's counters: an idle
 * backend flushes within 10 s. */
static long commits_settled(PGconn *server, const char *dbname)
{
    PGresult *res;
    long n;
    sleep(11);
    PQclear(PQexec(server, "SELECT pg_stat_clear_snapshot()"));
    res = PQexecParams(server, "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", 1,
                       NULL, (const char *[]){dbname}, NULL, NULL, 0);
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1, "pg_stat_database: %s",
          PQerrorMessage(server));
    n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

/* Sets a customer's document expiry date (YYYY-MM-DD) behind the API's back: time passing. */
static void set_expiry(PGconn *db, const char *customer_id, const char *date)
{
    EXPECT(exec2(db,
                 "UPDATE customers SET id_expiry_date = ($2::date)::timestamp AT TIME ZONE 'UTC'"
                 " WHERE id = $1",
                 customer_id, date) == 1,
           "setting the expiry of %s", customer_id);
}

static const char *kyc_of(PGconn *db, const char *customer_id, char *buf, size_t size)
{
    char *v =
        itest_mgmt_value(db, "SELECT kyc_status FROM customers WHERE id = $1", customer_id, NULL);
    snprintf(buf, size, "%s", v);
    free(v);
    return buf;
}

int main(void)
{
    itest_tenant t, other;
    itest_cred teller, teller_key, manager, admin, grace_cred, grace_key, other_manager;
    itest_customer plain, spare[4], gone, fresh[4], other_cust;
    PGconn *db, *other_db;
    char path[512], kyc_path[512], buf[128], *body, *v, *before;
    char yesterday[11], today[11], future[11];
    char grace_id[64], grace_user[64], grace_number[32], corp_id[64];
    json_t *o, *grace, *items;
    int pages;

    itest_tenant_create(&t, "it-cust", NULL, 0, "USD");
    itest_tenant_create(&other, "it-cust-b", "LEDGER_ADMIN_DSN_2", 0, "USD");
    db = itest_tenant_db(&t, NULL);
    other_db = itest_tenant_db(&other, "LEDGER_ADMIN_DSN_2");
    itest_mgmt_staff(&t, db, "TELLER", &teller);
    itest_mgmt_staff(&t, db, "MANAGER", &manager);
    itest_mgmt_staff(&t, db, "SUPER_ADMIN", &admin);
    itest_mgmt_api_key(&t, teller.user_id, "TELLER", &teller_key);
    itest_mgmt_staff(&other, other_db, "MANAGER", &other_manager);
    itest_mgmt_date(-1, yesterday);
    itest_mgmt_date(0, today);
    itest_mgmt_date(2000, future);

    /* ---------------------------------------------------------------- 1. create */
    body = itest_mgmt_body(json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
        " s:s, s:s, s:s}",
        "email", "Grace.Hopper@Example.COM", "firstName", "Grace", "lastName", "Hopper", "phone",
        "+1 (555) 010-2030", "password", "Cobol-1959-Navy", "customerType", "INDIVIDUAL",
        "dateOfBirth", "1906-12-09", "gender", "FEMALE", "nationality", "US", "idType", "PASSPORT",
        "idNumber", "P-1234567", "idExpiryDate", future, "addressLine1", "1 Navy Yard",
        "addressLine2", "Building 7", "city", "Arlington", "state", "VA", "postalCode", "22202",
        "country", "US", "taxId", "123-45-6789", "riskLevel", "MEDIUM"));
    grace = itest_mgmt_ok(teller.bearer, "POST", "/v1/customers", body, 201);
    free(body);
    {
        const char *want[][2] = {{"email", "grace.hopper@example.com"},
                                 {"firstName", "Grace"},
                                 {"lastName", "Hopper"},
                                 {"phone", "+1 (555) 010-2030"},
                                 {"customerType", "INDIVIDUAL"},
                                 {"dateOfBirth", "1906-12-09"},
                                 {"gender", "FEMALE"},
                                 {"nationality", "US"},
                                 {"idType", "PASSPORT"},
                                 {"idNumber", "P-1234567"},
                                 {"idExpiryDate", future},
                                 {"addressLine1", "1 Navy Yard"},
                                 {"addressLine2", "Building 7"},
                                 {"city", "Arlington"},
                                 {"state", "VA"},
                                 {"postalCode", "22202"},
                                 {"country", "US"},
                                 {"taxId", "123-45-6789"},
                                 {"riskLevel", "MEDIUM"},
                                 {"kycStatus", "PENDING"}};
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
            EXPECT(strcmp(itest_mgmt_str(grace, want[i][0]), want[i][1]) == 0,
                   "created customer: %s is \"%s\", expected \"%s\"", want[i][0],
                   itest_mgmt_str(grace, want[i][0]), want[i][1]);
        EXPECT(json_is_null(json_object_get(grace, "companyName")) &&
                   json_is_null(json_object_get(grace, "registrationNumber")) &&
                   json_is_null(json_object_get(grace, "kycVerifiedAt")) &&
                   json_is_null(json_object_get(grace, "kycVerifiedBy")),
               "a new individual has no company and no KYC decision");
        EXPECT(json_object_size(grace) == 29 && json_object_get(grace, "password") == NULL,
               "a customer has %zu fields", json_object_size(grace));
    }
    snprintf(grace_id, sizeof grace_id, "%s", itest_mgmt_str(grace, "id"));
    snprintf(grace_user, sizeof grace_user, "%s", itest_mgmt_str(grace, "userId"));
    snprintf(grace_number, sizeof grace_number, "%s", itest_mgmt_str(grace, "customerNumber"));
    EXPECT(strlen(grace_number) == 10 && strncmp(grace_number, "CUST-", 5) == 0 &&
               strspn(grace_number + 5, "0123456789") == 5,
           "customerNumber %s is not CUST-nnnnn", grace_number);
    /* Stored: dates at midnight UTC; the user a CUSTOMER with an Argon2id hash. */
    v = itest_mgmt_value(db,
                         "SELECT to_char(c.date_of_birth AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"
                         " || ' ' || u.role || ' ' || left(u.password_hash, 10) || ' ' ||"
                         " c.customer_number FROM customers c JOIN users u ON u.id = c.user_id"
                         " WHERE c.id = $1",
                         grace_id, NULL);
    snprintf(path, sizeof path, "1906-12-09 00:00 CUSTOMER $argon2id$ %s", grace_number);
    EXPECT(strcmp(v, path) == 0, "stored as %s", v);
    free(v);
    {
        json_t *a = audit_row(db, "CREATE_CUSTOMER", grace_id);
        char *text = json_dumps(a, JSON_COMPACT), want[128];
        EXPECT(strcmp(itest_mgmt_str(a, "userId"), teller.user_id) == 0, "audit user %s",
               itest_mgmt_str(a, "userId"));
        expect_change(a, "firstName", "null", "\"Grace\"");
        expect_change(a, "email", "null", "\"grace.hopper@example.com\"");
        snprintf(want, sizeof want, "\"%s\"", future);
        expect_change(a, "idExpiryDate", "null", want);
        snprintf(want, sizeof want, "\"%s\"", grace_number);
        expect_change(a, "customerNumber", "null", want);
        expect_change(a, "kycStatus", "null", "\"PENDING\"");
        EXPECT(json_object_get(json_object_get(a, "changes"), "companyName") == NULL,
               "an unset field is no change");
        EXPECT(strstr(text, "Cobol-1959-Navy") == NULL && strstr(text, "argon2") == NULL &&
                   strstr(text, "assword") == NULL,
               "a secret in the audit log: %s", text);
        EXPECT(json_is_true(json_object_get(json_object_get(a, "metadata"), "loginEnabled")),
               "loginEnabled");
        free(text);
        json_decref(a);
    }
    /* A company, created with an API key; SQL metacharacters are data. */
    body = itest_mgmt_body(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "email",
                                     "treasury@acme.example", "firstName", "Wile E.", "lastName",
                                     "O'Coyote", "customerType", "CORPORATE", "companyName",
                                     "Acme'); DROP TABLE customers;--", "registrationNumber",
                                     "HRB 12345", "taxId", "DE123456789", "country", "DE"));
    o = itest_mgmt_ok(teller_key.bearer, "POST", "/v1/customers", body, 201);
    free(body);
    snprintf(corp_id, sizeof corp_id, "%s", itest_mgmt_str(o, "id"));
    EXPECT(strcmp(itest_mgmt_str(o, "companyName"), "Acme'); DROP TABLE customers;--") == 0 &&
               strcmp(itest_mgmt_str(o, "lastName"), "O'Coyote") == 0,
           "the company's name came back as %s", itest_mgmt_str(o, "companyName"));
    json_decref(o);
    v = itest_mgmt_value(db,
                         "SELECT c.company_name || '|' || u.password_hash || '|' ||"
                         " (SELECT count(*) FROM customers) FROM customers c JOIN users u"
                         " ON u.id = c.user_id WHERE c.id = $1",
                         corp_id, NULL);
    EXPECT(strncmp(v, "Acme'); DROP TABLE customers;--|!|", 34) == 0,
           "stored verbatim, no password, the table still there: %s", v);
    free(v);
    {
        json_t *a = audit_row(db, "CREATE_CUSTOMER", corp_id);
        EXPECT(json_is_false(json_object_get(json_object_get(a, "metadata"), "loginEnabled")),
               "a customer without a password cannot sign in yet");
        json_decref(a);
    }
    itest_mgmt_problem(teller.bearer, "POST", "/v1/customers",
                       "{\"email\":\"c1@x.example\",\"firstName\":\"A\",\"lastName\":\"B\","
                       "\"customerType\":\"CORPORATE\"}",
                       422, "/problems/missing-field");
    itest_mgmt_problem(teller.bearer, "POST", "/v1/customers",
                       "{\"email\":\"c2@x.example\",\"firstName\":\"A\",\"lastName\":\"B\","
                       "\"companyName\":\"Solo Ltd\"}",
                       422, "/problems/invalid-field");
    itest_mgmt_problem(teller.bearer, "POST", "/v1/customers",
                       "{\"email\":\"GRACE.hopper@example.com\",\"firstName\":\"A\","
                       "\"lastName\":\"B\"}",
                       409, "/problems/email-taken");
    /* Numbers are padded to five digits, never cut: after CUST-99999 comes CUST-100000. */
    exec2(db, "SELECT setval('customer_number_seq', 99999)", NULL, NULL);
    itest_mgmt_customer(teller.bearer, NULL, "sixdigits", &plain);
    EXPECT(strcmp(plain.number, "CUST-100000") == 0, "after CUST-99999 came %s", plain.number);
    printf("create: individual, corporate, numbers past CUST-99999\n");

    /* ---------------------------------------------------------------- 2. read and update */
    snprintf(path, sizeof path, "/v1/customers/%s", grace_id);
    o = itest_mgmt_ok(teller.bearer, "GET", path, NULL, 200);
    EXPECT(json_equal(o, grace), "GET differs from the POST answer");
    json_decref(o);
    itest_mgmt_token(&t, grace_user, "CUSTOMER", &grace_cred);
    itest_mgmt_api_key(&t, grace_user, "CUSTOMER", &grace_key);
    o = itest_mgmt_ok(grace_cred.bearer, "GET", path, NULL, 200);
    EXPECT(json_equal(o, grace), "the customer's own view differs");
    json_decref(o);
    o = itest_mgmt_ok(grace_key.bearer, "GET", "/v1/customers/me", NULL, 200);
    EXPECT(json_equal(o, grace), "/v1/customers/me differs");
    json_decref(o);
    snprintf(path, sizeof path, "/v1/customers/%s", corp_id);
    itest_mgmt_problem(grace_cred.bearer, "GET", path, NULL, 404, "/problems/not-found");
    itest_mgmt_problem(grace_key.bearer, "GET", path, NULL, 404, "/problems/not-found");
    itest_mgmt_problem(grace_cred.bearer, "GET",
                       "/v1/customers/00000000-0000-4000-8000-000000000000", NULL, 404,
                       "/problems/not-found");
    itest_mgmt_problem(grace_cred.bearer, "GET", "/v1/customers", NULL, 403, "/problems/forbidden");
    itest_mgmt_problem(teller.bearer, "GET", "/v1/customers/me", NULL, 404, "/problems/not-found");
    /* The bank itself (CUST-00000) is no customer of this resource. */
    v = itest_mgmt_value(db, "SELECT id FROM customers WHERE customer_number = 'CUST-00000'", NULL,
                         NULL);
    snprintf(path, sizeof path, "/v1/customers/%s", v);
    itest_mgmt_problem(admin.bearer, "GET", path, NULL, 404, "/problems/not-found");
    itest_mgmt_problem(admin.bearer, "PATCH", path, "{\"city\":\"X\"}", 404, "/problems/not-found");
    free(v);

    snprintf(path, sizeof path, "/v1/customers/%s", grace_id);
    o = itest_mgmt_ok(teller.bearer, "PATCH", path,
                      "{\"addressLine1\":\"2 Navy Yard\",\"phone\":null}", 200);
    EXPECT(strcmp(itest_mgmt_str(o, "addressLine1"), "2 Navy Yard") == 0 &&
               json_is_null(json_object_get(o, "phone")) &&
               strcmp(itest_mgmt_str(o, "city"), "Arlington") == 0,
           "PATCH result");
    json_decref(o);
    {
        json_t *a = audit_row(db, "UPDATE_CUSTOMER", grace_id);
        EXPECT(json_object_size(json_object_get(a, "changes")) == 2,
               "two fields changed, the audit row has %zu",
               json_object_size(json_object_get(a, "changes")));
        expect_change(a, "addressLine1", "\"1 Navy Yard\"", "\"2 Navy Yard\"");
        expect_change(a, "phone", "\"+1 (555) 010-2030\"", "null");
        EXPECT(strcmp(itest_mgmt_str(a, "userId"), teller.user_id) == 0, "audit user");
        json_decref(a);
    }
    itest_mgmt_problem(teller.bearer, "PATCH", path, "{\"riskLevel\":\"HIGH\"}", 403,
                       "/problems/forbidden");
    v = itest_mgmt_value(db, "SELECT risk_level FROM customers WHERE id = $1", grace_id, NULL);
    EXPECT(strcmp(v, "MEDIUM") == 0, "a refused change of riskLevel left %s", v);
    free(v);
    o = itest_mgmt_ok(manager.bearer, "PATCH", path, "{\"riskLevel\":\"HIGH\"}", 200);
    EXPECT(strcmp(itest_mgmt_str(o, "riskLevel"), "HIGH") == 0, "riskLevel by a manager");
    json_decref(o);
    itest_mgmt_problem(teller.bearer, "PATCH", path, "{\"email\":\"Treasury@ACME.example\"}", 409,
                       "/problems/email-taken");
    {
        long n = itest_mgmt_long(db, "SELECT count(*) FROM audit_logs", NULL, NULL);
        o = itest_mgmt_ok(teller.bearer, "PATCH", path, "{}", 200);
        json_decref(o);
        o = itest_mgmt_ok(teller.bearer, "PATCH", path, "{\"city\":\"Arlington\"}", 200);
        json_decref(o);
        EXPECT(itest_mgmt_long(db, "SELECT count(*) FROM audit_logs", NULL, NULL) == n,
               "a PATCH that changes nothing wrote an audit row");
    }
    itest_mgmt_problem(grace_cred.bearer, "PATCH", path, "{\"city\":\"Boston\"}", 403,
                       "/problems/forbidden");
    printf("read and update: own record only for a customer, audited changes\n");

    /* ---------------------------------------------------------------- 3. KYC */
    snprintf(kyc_path, sizeof kyc_path, "/v1/customers/%s/kyc", grace_id);
    itest_mgmt_problem(teller.bearer, "POST", kyc_path, "{\"status\":\"VERIFIED\"}", 403,
                       "/problems/forbidden");
    itest_mgmt_problem(grace_cred.bearer, "POST", kyc_path, "{\"status\":\"VERIFIED\"}", 403,
                       "/problems/forbidden");
    snprintf(path, sizeof path, "/v1/customers/%s/kyc", corp_id);
    itest_mgmt_problem(manager.bearer, "POST", path, "{\"status\":\"VERIFIED\"}", 422,
                       "/problems/kyc-incomplete");
    o = itest_mgmt_ok(manager.bearer, "POST", kyc_path, "{\"status\":\"VERIFIED\"}", 200);
    EXPECT(strcmp(itest_mgmt_str(o, "kycStatus"), "VERIFIED") == 0 &&
               strcmp(itest_mgmt_str(o, "kycVerifiedBy"), manager.user_id) == 0 &&
               strlen(itest_mgmt_str(o, "kycVerifiedAt")) == 24,
           "verified: %s by %s at %s", itest_mgmt_str(o, "kycStatus"),
           itest_mgmt_str(o, "kycVerifiedBy"), itest_mgmt_str(o, "kycVerifiedAt"));
    json_decref(o);
    v = itest_mgmt_value(db,
                         "SELECT kyc_status || ' ' || kyc_verified_by || ' ' ||"
                         " (kyc_verified_at > now() - interval '1 minute') FROM customers"
                         " WHERE id = $1",
                         grace_id, NULL);
    snprintf(buf, sizeof buf, "VERIFIED %.36s true", manager.user_id);
    EXPECT(strcmp(v, buf) == 0, "stored KYC decision: %s", v);
    free(v);
    {
        json_t *a = audit_row(db, "VERIFY_KYC", grace_id);
        char want[128];
        expect_change(a, "kycStatus", "\"PENDING\"", "\"VERIFIED\"");
        snprintf(want, sizeof want, "\"%s\"", manager.user_id);
        expect_change(a, "kycVerifiedBy", "null", want);
        EXPECT(strcmp(itest_mgmt_str(a, "userId"), manager.user_id) == 0, "audit user");
        json_decref(a);
    }
    itest_mgmt_problem(manager.bearer, "POST", kyc_path, "{\"status\":\"VERIFIED\"}", 409,
                       "/problems/invalid-kyc-transition");
    itest_mgmt_problem(manager.bearer, "POST", kyc_path,
                       "{\"status\":\"REJECTED\",\"reason\":\"second thoughts\"}", 409,
                       "/problems/invalid-kyc-transition");
    itest_mgmt_problem(manager.bearer, "POST", kyc_path, "{\"status\":\"EXPIRED\"}", 422,
                       "/problems/invalid-field");
    itest_mgmt_problem(manager.bearer, "POST", kyc_path, "{\"status\":\"PENDING\"}", 422,
                       "/problems/invalid-field");
    itest_mgmt_problem(manager.bearer, "POST", kyc_path, "{\"status\":\"verified\"}", 422,
                       "/problems/invalid-field");
    /* A rejection (with a reason) is final until the identity data changes. */
    for (int i = 0; i < 4; i++)
        itest_mgmt_customer(teller.bearer, NULL, "spare", &spare[i]);
    snprintf(path, sizeof path, "/v1/customers/%s/kyc", spare[0].id);
    itest_mgmt_problem(admin.bearer, "POST", path, "{\"status\":\"REJECTED\"}", 422,
                       "/problems/missing-field");
    o = itest_mgmt_ok(admin.bearer, "POST", path,
                      "{\"status\":\"REJECTED\",\"reason\":\"document unreadable\"}", 200);
    EXPECT(strcmp(itest_mgmt_str(o, "kycStatus"), "REJECTED") == 0 &&
               strcmp(itest_mgmt_str(o, "kycVerifiedBy"), admin.user_id) == 0,
           "rejected by the super admin");
    json_decref(o);
    {
        json_t *a = audit_row(db, "REJECT_KYC", spare[0].id);
        EXPECT(strcmp(itest_mgmt_str(json_object_get(a, "metadata"), "reason"),
                      "document unreadable") == 0,
               "the reason of a rejection is audited");
        json_decref(a);
    }
    itest_mgmt_problem(manager.bearer, "POST", path, "{\"status\":\"VERIFIED\"}", 409,
                       "/problems/invalid-kyc-transition");
    snprintf(path, sizeof path, "/v1/customers/%s", spare[0].id);
    o = itest_mgmt_ok(teller.bearer, "PATCH", path, "{\"idNumber\":\"NEW-0001\"}", 200);
    EXPECT(strcmp(itest_mgmt_str(o, "kycStatus"), "PENDING") == 0 &&
               json_is_null(json_object_get(o, "kycVerifiedAt")) &&
               json_is_null(json_object_get(o, "kycVerifiedBy")),
           "new identity data re-opens KYC: %s", itest_mgmt_str(o, "kycStatus"));
    json_decref(o);
    {
        json_t *a = audit_row(db, "UPDATE_CUSTOMER", spare[0].id);
        expect_change(a, "kycStatus", "\"REJECTED\"", "\"PENDING\"");
        json_decref(a);
    }
    snprintf(path, sizeof path, "/v1/customers/%s/kyc", spare[0].id);
    json_decref(itest_mgmt_ok(manager.bearer, "POST", path, "{\"status\":\"VERIFIED\"}", 200));
    /* An address change does not re-open it. */
    snprintf(path, sizeof path, "/v1/customers/%s", spare[0].id);
    o = itest_mgmt_ok(teller.bearer, "PATCH", path, "{\"city\":\"Lyon\"}", 200);
    EXPECT(strcmp(itest_mgmt_str(o, "kycStatus"), "VERIFIED") == 0,
           "an address change re-opened KYC");
    json_decref(o);
    /* A document that has expired cannot be verified. */
    snprintf(path, sizeof path, "/v1/customers/%s", spare[1].id);
    body = itest_mgmt_body(json_pack("{s:s}", "idExpiryDate", yesterday));
    json_decref(itest_mgmt_ok(teller.bearer, "PATCH", path, body, 200));
    free(body);
    snprintf(path, sizeof path, "/v1/customers/%s/kyc", spare[1].id);
    itest_mgmt_problem(manager.bearer, "POST", path, "{\"status\":\"VERIFIED\"}", 422,
                       "/problems/kyc-incomplete");
    printf("KYC: decisions from PENDING only, re-opened by new identity data\n");

    /* ---------------------------------------------------------------- EXPIRED */
    /* spare[2] and spare[3] verified; Grace's document expired yesterday, spare[2]'s today. */
    for (int i = 2; i < 4; i++) {
        snprintf(path, sizeof path, "/v1/customers/%s/kyc", spare[i].id);
        json_decref(itest_mgmt_ok(manager.bearer, "POST", path, "{\"status\":\"VERIFIED\"}", 200));
    }
    set_expiry(db, grace_id, yesterday);
    set_expiry(db, spare[2].id, today);
    snprintf(path, sizeof path, "/v1/customers/%s", grace_id);
    o = itest_mgmt_ok(teller.bearer, "GET", path, NULL, 200);
    EXPECT(strcmp(itest_mgmt_str(o, "kycStatus"), "EXPIRED") == 0,
           "a verification whose document expired yesterday reads %s",
           itest_mgmt_str(o, "kycStatus"));
    json_decref(o);
    EXPECT(strcmp(kyc_of(db, grace_id, buf, sizeof buf), "EXPIRED") == 0, "stored %s", buf);
    {
        json_t *a = audit_row(db, "EXPIRE_KYC", grace_id);
        expect_change(a, "kycStatus", "\"VERIFIED\"", "\"EXPIRED\"");
        EXPECT(strcmp(itest_mgmt_str(a, "userId"), "system") == 0 &&
                   strcmp(itest_mgmt_str(json_object_get(a, "metadata"), "source"), "api") == 0,
               "EXPIRE_KYC is done by \"system\" (%s)", itest_mgmt_str(a, "userId"));
        json_decref(a);
    }
    json_decref(itest_mgmt_ok(grace_cred.bearer, "GET", "/v1/customers/me", NULL, 200));
    EXPECT(audit_count(db, "EXPIRE_KYC", grace_id) == 1, "the expiry was audited %ld times",
           audit_count(db, "EXPIRE_KYC", grace_id));
    snprintf(path, sizeof path, "/v1/customers/%s", spare[2].id);
    o = itest_mgmt_ok(teller.bearer, "GET", path, NULL, 200);
    EXPECT(strcmp(itest_mgmt_str(o, "kycStatus"), "VERIFIED") == 0,
           "a document is valid through its expiry day: %s", itest_mgmt_str(o, "kycStatus"));
    json_decref(o);
    items = itest_mgmt_walk(teller.bearer, "/v1/customers?kycStatus=EXPIRED", 5, &pages);
    EXPECT(json_array_size(items) == 1 &&
               strcmp(itest_mgmt_str(json_array_get(items, 0), "id"), grace_id) == 0,
           "kycStatus=EXPIRED lists %zu customers", json_array_size(items));
    json_decref(items);
    itest_mgmt_problem(manager.bearer, "POST", kyc_path, "{\"status\":\"VERIFIED\"}", 409,
                       "/problems/invalid-kyc-transition");
    /* The operator's sweep, with no API read in between. */
    set_expiry(db, spare[3].id, yesterday);
    {
        char out[256], want[128];
        int rc = itest_ledgerctl(out, sizeof out, "kyc", "expire", "--tenant", t.slug, NULL);
        snprintf(want, sizeof want, "%s 1", t.slug);
        EXPECT(rc == 0 && strcmp(out, want) == 0, "ledgerctl kyc expire: exit %d, \"%s\"", rc, out);
        json_t *a;
        EXPECT(strcmp(kyc_of(db, spare[3].id, buf, sizeof buf), "EXPIRED") == 0,
               "after ledgerctl kyc expire: %s", buf);
        a = audit_row(db, "EXPIRE_KYC", spare[3].id);
        EXPECT(strcmp(itest_mgmt_str(json_object_get(a, "metadata"), "source"), "ledgerctl") == 0,
               "the sweep's source");
        json_decref(a);
        rc = itest_ledgerctl(out, sizeof out, "kyc", "expire", "--tenant", t.slug, NULL);
        snprintf(want, sizeof want, "%s 0", t.slug);
        EXPECT(rc == 0 && strcmp(out, want) == 0, "a second sweep: exit %d, \"%s\"", rc, out);
    }
    /* A renewed document is decided again. */
    snprintf(path, sizeof path, "/v1/customers/%s", grace_id);
    body = itest_mgmt_body(json_pack("{s:s}", "idExpiryDate", future));
    o = itest_mgmt_ok(teller.bearer, "PATCH", path, body, 200);
    free(body);
    EXPECT(strcmp(itest_mgmt_str(o, "kycStatus"), "PENDING") == 0, "renewed: %s",
           itest_mgmt_str(o, "kycStatus"));
    json_decref(o);
    json_decref(itest_mgmt_ok(manager.bearer, "POST", kyc_path, "{\"status\":\"VERIFIED\"}", 200));
    printf("EXPIRED: on read (audited as system), by ledgerctl, renewed by a new document\n");

    /* ---------------------------------------------------------------- 4. lists */
    /* 300 customers in two statements: each half shares one created_at, so page boundaries
     * fall inside ties that only the id orders. */
    for (int half = 0; half < 2; half++) {
        char lo[16], hi[16];
        snprintf(lo, sizeof lo, "%d", half * 150 + 1);
        snprintf(hi, sizeof hi, "%d", half * 150 + 150);
        EXPECT(exec2(db,
                     "WITH n AS (SELECT g FROM generate_series($1::int, $2::int) g),"
                     " u AS (INSERT INTO users (email, password_hash, first_name, last_name, role)"
                     " SELECT 'bulk' || g || '@bulk.example', '!', 'Bulk', 'No ' || g, 'CUSTOMER'"
                     " FROM n RETURNING id, email)"
                     " INSERT INTO customers (user_id, customer_number, customer_type,"
                     " company_name, kyc_status, risk_level)"
                     " SELECT u.id, 'CUST-' || translate(format('%5s',"
                     " nextval('customer_number_seq')), ' ', '0'),"
                     " (CASE WHEN g % 5 = 0 THEN 'CORPORATE' ELSE 'INDIVIDUAL' END)::customer_type,"
                     " CASE WHEN g % 5 = 0 THEN 'Bulk Co ' || g END,"
                     " (ARRAY['PENDING', 'VERIFIED', 'REJECTED'])[g % 3 + 1]::kyc_status,"
                     " (ARRAY['LOW', 'MEDIUM', 'HIGH'])[(g / 3) % 3 + 1]::risk_level"
                     " FROM u JOIN n ON u.email = 'bulk' || n.g || '@bulk.example'",
                     lo, hi) == 150,
               "inserting customers %s to %s", lo, hi);
    }
#define LIVE_CUSTOMERS                                                                             \
    "SELECT c.id FROM customers c JOIN users u ON u.id = c.user_id WHERE c.deleted_at IS NULL"     \
    " AND c.customer_number <> 'CUST-00000'"
    items = itest_mgmt_walk(teller.bearer, "/v1/customers", 7, &pages);
    itest_mgmt_same_rows(items, db, LIVE_CUSTOMERS " ORDER BY c.created_at DESC, c.id DESC", NULL,
                         "all customers, 7 per page");
    EXPECT(json_array_size(items) > 300 && pages == (int)(json_array_size(items) + 6) / 7,
           "%zu customers on %d pages", json_array_size(items), pages);
    json_decref(items);
    items = itest_mgmt_walk(teller_key.bearer, "/v1/customers?kycStatus=VERIFIED&riskLevel=HIGH",
                            11, &pages);
    itest_mgmt_same_rows(items, db,
                         LIVE_CUSTOMERS " AND c.kyc_status = 'VERIFIED' AND c.risk_level = 'HIGH'"
                                        " ORDER BY c.created_at DESC, c.id DESC",
                         NULL, "kycStatus=VERIFIED&riskLevel=HIGH");
    json_decref(items);
    items = itest_mgmt_walk(manager.bearer, "/v1/customers?customerType=CORPORATE", 9, &pages);
    itest_mgmt_same_rows(items, db,
                         LIVE_CUSTOMERS " AND c.customer_type = 'CORPORATE'"
                                        " ORDER BY c.created_at DESC, c.id DESC",
                         NULL, "customerType=CORPORATE");
    json_decref(items);
    snprintf(path, sizeof path, "/v1/customers?customerNumber=%s", grace_number);
    items = itest_mgmt_walk(teller.bearer, path, 50, &pages);
    EXPECT(json_array_size(items) == 1 &&
               strcmp(itest_mgmt_str(json_array_get(items, 0), "id"), grace_id) == 0,
           "customerNumber filter");
    json_decref(items);
    items = itest_mgmt_walk(teller.bearer, "/v1/customers?email=GRACE.Hopper%40example.com", 50,
                            &pages);
    EXPECT(json_array_size(items) == 1 &&
               strcmp(itest_mgmt_str(json_array_get(items, 0), "id"), grace_id) == 0,
           "email filter");
    json_decref(items);
    o = itest_mgmt_ok(teller.bearer, "GET", "/v1/customers", NULL, 200);
    EXPECT(json_array_size(json_object_get(o, "data")) == 50 &&
               json_is_string(json_object_get(o, "nextCursor")),
           "the default page is 50 rows and a cursor");
    json_decref(o);
    o = itest_mgmt_ok(teller.bearer, "GET", "/v1/customers?limit=200", NULL, 200);
    EXPECT(json_array_size(json_object_get(o, "data")) == 200, "limit=200");
    json_decref(o);

    /* ?include=accounts: every customer's live accounts, newest first, as SQL has them. */
    EXPECT(exec2(db,
                 "INSERT INTO accounts (account_number, account_type, customer_id, currency,"
                 " created_by)"
                 " SELECT '7' || lpad((row_number() OVER (ORDER BY c.id, k))::text, 9, '0'),"
                 " (CASE WHEN k = 1 THEN 'SAVINGS' ELSE 'CHECKING' END)::account_type, c.id,"
                 " 'USD', c.user_id FROM customers c, generate_series(1, 2) k"
                 " WHERE c.customer_number LIKE 'CUST-1%' AND c.deleted_at IS NULL AND"
                 " (substr(c.customer_number, 6)::int % 4 = 0 OR"
                 " (k = 1 AND substr(c.customer_number, 6)::int % 4 = 1))",
                 NULL, NULL) > 100,
           "opening accounts by SQL");
    exec2(db, "UPDATE accounts SET deleted_at = now() WHERE account_number = '7000000001'", NULL,
          NULL);
    items = itest_mgmt_walk(teller.bearer, "/v1/customers?include=accounts", 60, &pages);
    {
        PGresult *res =
            PQexec(db, "SELECT c.id, coalesce(string_agg(a.account_number, ','"
                       " ORDER BY a.created_at DESC, a.id DESC), '')"
                       " FROM customers c LEFT JOIN accounts a ON a.customer_id = c.id"
                       " AND a.deleted_at IS NULL AND a.account_type <> 'INTERNAL'"
                       " WHERE c.deleted_at IS NULL AND c.customer_number <> 'CUST-00000'"
                       " GROUP BY c.id");
        json_t *want = json_object(), *item;
        size_t i, with_accounts = 0;
        CHECK(PQresultStatus(res) == PGRES_TUPLES_OK, "accounts by customer: %s",
              PQerrorMessage(db));
        for (int r = 0; r < PQntuples(res); r++)
            json_object_set_new(want, PQgetvalue(res, r, 0), json_string(PQgetvalue(res, r, 1)));
        PQclear(res);
        EXPECT(json_array_size(items) == json_object_size(want), "%zu customers listed, %zu exist",
               json_array_size(items), json_object_size(want));
        json_array_foreach(items, i, item)
        {
            json_t *accounts = json_object_get(item, "accounts"), *a;
            char got[256] = "";
            size_t j;
            CHECK(json_is_array(accounts), "customer %s has no accounts array",
                  itest_mgmt_str(item, "id"));
            json_array_foreach(accounts, j, a)
            {
                size_t used = strlen(got);
                snprintf(got + used, sizeof got - used, "%s%s", j > 0 ? "," : "",
                         itest_mgmt_str(a, "accountNumber"));
                CHECK(strcmp(itest_mgmt_str(a, "customerId"), itest_mgmt_str(item, "id")) == 0 &&
                          strcmp(itest_mgmt_str(a, "balance"), "0.00") == 0 &&
                          strcmp(itest_mgmt_str(a, "status"), "ACTIVE") == 0,
                      "an embedded account of %s is wrong", itest_mgmt_str(item, "id"));
            }
            with_accounts += json_array_size(accounts) > 0;
            CHECK(strcmp(got, itest_mgmt_str(want, itest_mgmt_str(item, "id"))) == 0,
                  "customer %s: accounts %s, the database has %s", itest_mgmt_str(item, "id"), got,
                  itest_mgmt_str(want, itest_mgmt_str(item, "id")));
        }
        EXPECT(with_accounts > 100, "only %zu customers with accounts: the case proves little",
               with_accounts);
        printf("  include=accounts: %zu customers, %zu with accounts, equal to SQL\n",
               json_array_size(items), with_accounts);
        json_decref(want);
    }
    json_decref(items);
    o = itest_mgmt_ok(teller.bearer, "GET", "/v1/customers?limit=3", NULL, 200);
    EXPECT(json_object_get(json_array_get(json_object_get(o, "data"), 0), "accounts") == NULL,
           "accounts embedded without include");
    json_decref(o);
    /* One query for the accounts of a whole page: a page of 200 customers must cost a handful
     * of statements, where one query per customer would cost over 200. The control reads 50
     * customers one by one, to show the counter sees the API's statements. */
    {
        PGconn *server = PQconnectdb(itest_env("LEDGER_ADMIN_DSN"));
        char dbname[80];
        long c0, c1, c2;
        CHECK(PQstatus(server) == CONNECTION_OK, "server: %s", PQerrorMessage(server));
        itest_tenant_db_name(&t, dbname);
        c0 = commits_settled(server, dbname);
        o = itest_mgmt_ok(teller_key.bearer, "GET", "/v1/customers?include=accounts&limit=200",
                          NULL, 200);
        EXPECT(json_array_size(json_object_get(o, "data")) == 200, "a page of 200");
        json_decref(o);
        c1 = commits_settled(server, dbname);
        snprintf(path, sizeof path, "/v1/customers/%s?include=accounts", grace_id);
        for (int i = 0; i < 50; i++)
            json_decref(itest_mgmt_ok(teller_key.bearer, "GET", path, NULL, 200));
        c2 = commits_settled(server, dbname);
        printf("  statements: %ld for a page of 200 with accounts, %ld for 50 single reads\n",
               c1 - c0, c2 - c1);
        EXPECT(c2 - c1 >= 100, "the counter saw only %ld statements for 50 reads", c2 - c1);
        EXPECT(c1 - c0 <= 25, "a page of 200 customers with accounts took %ld statements", c1 - c0);
        PQfinish(server);
    }
    printf("lists: pages, filters, include=accounts in one query\n");

    /* ---------------------------------------------------------------- 5. delete */
    itest_mgmt_customer(teller.bearer, manager.bearer, "gone", &gone);
    {
        char a1[32], a2[32], txn[64], deposit[256], withdraw[256];
        snprintf(path, sizeof path, "/v1/customers/%s", gone.id);
        itest_mgmt_open_account(teller.bearer, gone.id, "CHECKING", "USD", a1);
        itest_mgmt_open_account(teller.bearer, gone.id, "SAVINGS", "USD", a2);
        snprintf(deposit, sizeof deposit,
                 "{\"type\":\"DEPOSIT\",\"amount\":\"50.00\",\"currency\":\"USD\","
                 "\"toAccount\":\"%s\"}",
                 a1);
        itest_submit(&t, deposit, txn);
        json_decref(itest_expect_status(&t, txn, "COMPLETED"));
        snprintf(buf, sizeof buf, "/v1/accounts/%s/freeze", a2);
        json_decref(itest_mgmt_ok(manager.bearer, "POST", buf, NULL, 200));
        itest_mgmt_problem(teller.bearer, "DELETE", path, NULL, 403, "/problems/forbidden");
        itest_mgmt_problem(manager.bearer, "DELETE", path, NULL, 409,
                           "/problems/customer-has-balance");
        snprintf(withdraw, sizeof withdraw,
                 "{\"type\":\"WITHDRAWAL\",\"amount\":\"50.00\",\"currency\":\"USD\","
                 "\"fromAccount\":\"%s\"}",
                 a1);
        itest_submit(&t, withdraw, txn);
        json_decref(itest_expect_status(&t, txn, "COMPLETED"));
        itest_mgmt_problem(manager.bearer, "DELETE", path, NULL, 409, "/problems/account-frozen");
        snprintf(buf, sizeof buf, "/v1/accounts/%s/unfreeze", a2);
        json_decref(itest_mgmt_ok(manager.bearer, "POST", buf, NULL, 200));
        itest_mgmt_problem(manager.bearer, "DELETE", path, "{}", 400, "/problems/invalid-json");
        EXPECT(itest_mgmt_ok(manager.bearer, "DELETE", path, NULL, 204) == NULL, "deleted");
        v = itest_mgmt_value(db,
                             "SELECT string_agg(a.status || ' ' || (a.closed_at IS NOT NULL) ||"
                             " ' ' || (a.deleted_at IS NOT NULL), ',') || ' ' ||"
                             " (c.deleted_at IS NOT NULL) || ' ' || (u.deleted_at IS NOT NULL)"
                             " FROM customers c JOIN users u ON u.id = c.user_id"
                             " JOIN accounts a ON a.customer_id = c.id WHERE c.id = $1"
                             " GROUP BY c.deleted_at, u.deleted_at",
                             gone.id, NULL);
        EXPECT(strcmp(v, "CLOSED true true,CLOSED true true true true") == 0,
               "after the delete: %s", v);
        free(v);
        {
            json_t *a = audit_row(db, "DELETE_CUSTOMER", gone.id);
            json_t *closed = json_object_get(json_object_get(a, "metadata"), "accountsClosed");
            EXPECT(json_array_size(closed) == 2, "accountsClosed has %zu", json_array_size(closed));
            json_decref(a);
            v = itest_mgmt_value(db, "SELECT id FROM accounts WHERE account_number = $1", a2, NULL);
            a = audit_row(db, "DELETE_ACCOUNT", v);
            expect_change(a, "status", "\"ACTIVE\"", "\"CLOSED\"");
            EXPECT(strcmp(itest_mgmt_str(json_object_get(a, "metadata"), "cause"),
                          "DELETE_CUSTOMER") == 0,
                   "the account's deletion names its cause");
            json_decref(a);
            free(v);
        }
        itest_mgmt_problem(teller.bearer, "GET", path, NULL, 404, "/problems/not-found");
        itest_mgmt_problem(manager.bearer, "DELETE", path, NULL, 404, "/problems/not-found");
        snprintf(buf, sizeof buf, "/v1/accounts/%s", a1);
        itest_mgmt_problem(teller.bearer, "GET", buf, NULL, 404, "/problems/not-found");
        snprintf(buf, sizeof buf, "/v1/accounts/%s/balance", a1);
        itest_mgmt_problem(teller.bearer, "GET", buf, NULL, 404, "/problems/not-found");
        snprintf(buf, sizeof buf, "/v1/customers?customerNumber=%s", gone.number);
        o = itest_mgmt_ok(teller.bearer, "GET", buf, NULL, 200);
        EXPECT(json_array_size(json_object_get(o, "data")) == 0, "a deleted customer is listed");
        json_decref(o);
        /* Its user signs in no more: a token for it is refused (user lookups are cached a few
         * seconds). */
        {
            itest_cred gone_cred;
            int64_t deadline = itest_now_ms() + 20000;
            itest_resp r;
            itest_mgmt_token(&t, gone.user_id, "CUSTOMER", &gone_cred);
            for (;;) {
                itest_mgmt_send(gone_cred.bearer, "GET", "/v1/customers/me", NULL, NULL, &r);
                if (r.status == 401 || itest_now_ms() > deadline)
                    break;
                itest_mgmt_resp_free(&r);
                usleep(500000);
            }
            EXPECT(r.status == 401, "a deleted customer's token answered %ld", r.status);
            itest_mgmt_resp_free(&r);
        }
    }
    printf("delete: refused with money or a frozen account, then soft with its accounts\n");

    /* ---------------------------------------------------------------- 6. roles */
    for (int i = 0; i < 4; i++)
        itest_mgmt_customer(teller.bearer, NULL, "fresh", &fresh[i]);
    {
        /* CUSTOMER, TELLER (token), TELLER (API key), MANAGER, SUPER_ADMIN, nobody. */
        const char *who[] = {grace_cred.bearer, teller.bearer, teller_key.bearer,
                             manager.bearer,    admin.bearer,  NULL};
        char own[128], others[128], patch_corp[128];
        snprintf(own, sizeof own, "/v1/customers/%s", grace_id);
        snprintf(others, sizeof others, "/v1/customers/%s", corp_id);
        snprintf(patch_corp, sizeof patch_corp, "/v1/customers/%s", corp_id);
        for (int r = 0; r < 6; r++) {
            const char *b = who[r];
            int staff = r >= 1 && r <= 4, mgr = r >= 3 && r <= 4;
            long none = 401;
            char email_body[256], kyc[128], del[128];
            snprintf(email_body, sizeof email_body,
                     "{\"email\":\"role%d@roles.example\",\"firstName\":\"R\",\"lastName\":\"%d\"}",
                     r, r);
            expect_status(b, "POST", "/v1/customers", email_body,
                          b == NULL ? none
                          : staff   ? 201
                                    : 403);
            expect_status(b, "GET", "/v1/customers?limit=2", NULL,
                          b == NULL ? none
                          : staff   ? 200
                                    : 403);
            expect_status(b, "GET", own, NULL, b == NULL ? none : 200);
            expect_status(b, "GET", others, NULL, b == NULL ? none : staff ? 200 : 404);
            expect_status(b, "PATCH", patch_corp, "{\"city\":\"Berlin\"}",
                          b == NULL ? none
                          : staff   ? 200
                                    : 403);
            /* The managers decide on (fresh[0], fresh[1]) and delete (fresh[2], fresh[3]) a
             * customer each; the others are refused on fresh[2] and fresh[3]. */
            snprintf(kyc, sizeof kyc, "/v1/customers/%s/kyc", fresh[mgr ? r - 3 : 2].id);
            expect_status(b, "POST", kyc, "{\"status\":\"VERIFIED\"}",
                          b == NULL ? none
                          : mgr     ? 200
                                    : 403);
            snprintf(del, sizeof del, "/v1/customers/%s", fresh[mgr ? r - 1 : 3].id);
            expect_status(b, "DELETE", del, NULL, b == NULL ? none : mgr ? 204 : 403);
        }
        EXPECT(audit_count(db, "VERIFY_KYC", fresh[2].id) == 0 &&
                   audit_count(db, "VERIFY_KYC", fresh[0].id) == 1 &&
                   audit_count(db, "VERIFY_KYC", fresh[1].id) == 1,
               "refused KYC decisions left a trace");
        {
            json_t *a = audit_row(db, "DELETE_CUSTOMER", fresh[3].id);
            EXPECT(audit_count(db, "DELETE_CUSTOMER", fresh[3].id) == 1 &&
                       strcmp(itest_mgmt_str(a, "userId"), admin.user_id) == 0,
                   "fresh[3] was deleted by %s", itest_mgmt_str(a, "userId"));
            json_decref(a);
        }
    }
    printf("roles: 7 endpoints x 6 callers\n");

    /* ---------------------------------------------------------------- bad input */
    before = fingerprint(db);
    {
        char big[70000];
        const char *plain_path = "/v1/customers";
        static const struct {
            const char *method, *path_kind, *body;
            long status;
            const char *type;
        } bad[] = {
            {"POST", "list", "not json", 400, "/problems/invalid-json"},
            {"POST", "list", "[1,2]", 400, "/problems/invalid-json"},
            {"POST", "list", "", 400, "/problems/invalid-json"},
            {"POST", "list", "{\"email\":\"a@b.example\",\"email\":\"c@d.example\"}", 400,
             "/problems/invalid-json"},
            {"POST", "list",
             "{\"firstName\":\"a\\u0000b\",\"lastName\":\"B\",\"email\":\"x@y.example\"}", 400,
             "/problems/invalid-json"},
            {"POST", "list", "{\"firstName\":\"A\",\"lastName\":\"B\"}", 422,
             "/problems/missing-field"},
            {"POST", "list", "{\"email\":\"x@y.example\",\"lastName\":\"B\"}", 422,
             "/problems/missing-field"},
            {"POST", "list", "{\"email\":\"x@y.example\",\"firstName\":123,\"lastName\":\"B\"}",
             422, "/problems/invalid-field"},
            {"POST", "list", "{\"email\":[\"x@y.example\"],\"firstName\":\"A\",\"lastName\":\"B\"}",
             422, "/problems/invalid-field"},
            {"POST", "list", "{\"email\":\"x@y.example\",\"firstName\":\"\",\"lastName\":\"B\"}",
             422, "/problems/invalid-field"},
            {"POST", "list", "{\"email\":\"x@y.example\",\"firstName\":\"   \",\"lastName\":\"B\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\\nB\",\"lastName\":\"B\"}", 422,
             "/problems/invalid-field"},
            {"POST", "list", "{\"email\":\"x@y.example\",\"firstName\":null,\"lastName\":\"B\"}",
             422, "/problems/invalid-field"},
            {"POST", "list", "{\"email\":\"not-an-email\",\"firstName\":\"A\",\"lastName\":\"B\"}",
             422, "/problems/invalid-field"},
            {"POST", "list", "{\"email\":\"a@localhost\",\"firstName\":\"A\",\"lastName\":\"B\"}",
             422, "/problems/invalid-field"},
            {"POST", "list", "{\"email\":\"a b@c.example\",\"firstName\":\"A\",\"lastName\":\"B\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\","
             "\"dateOfBirth\":\"2026-02-30\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\","
             "\"dateOfBirth\":\"1990/01/01\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\","
             "\"dateOfBirth\":\"2999-01-01\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\","
             "\"idExpiryDate\":\"tomorrow\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\",\"gender\":\"F\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\","
             "\"nationality\":\"USA\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\","
             "\"nationality\":\"us\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\",\"country\":"
             "\"XX\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\",\"idType\":"
             "\"SSN\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\","
             "\"riskLevel\":\"EXTREME\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\","
             "\"customerType\":\"PERSON\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\",\"phone\":"
             "\"12ab\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\","
             "\"postalCode\":\"<script>\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\","
             "\"idNumber\":\"1'; DROP TABLE x;--\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\","
             "\"password\":\"short\"}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\",\"password\":12}",
             422, "/problems/invalid-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\",\"nickname\":"
             "\"C\"}",
             422, "/problems/unknown-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\","
             "\"kycStatus\":\"VERIFIED\"}",
             422, "/problems/unknown-field"},
            {"POST", "list",
             "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\","
             "\"customerNumber\":\"CUST-00001\"}",
             422, "/problems/unknown-field"},
            {"PATCH", "grace", "{", 400, "/problems/invalid-json"},
            {"PATCH", "grace", "{\"email\":null}", 422, "/problems/invalid-field"},
            {"PATCH", "grace", "{\"lastName\":null}", 422, "/problems/invalid-field"},
            {"PATCH", "grace", "{\"riskLevel\":null}", 422, "/problems/invalid-field"},
            {"PATCH", "grace", "{\"dateOfBirth\":\"1990-13-01\"}", 422, "/problems/invalid-field"},
            {"PATCH", "grace", "{\"city\":7}", 422, "/problems/invalid-field"},
            {"PATCH", "grace", "{\"companyName\":\"Not a company\"}", 422,
             "/problems/invalid-field"},
            {"PATCH", "grace", "{\"password\":\"Another-Passw0rd\"}", 422,
             "/problems/unknown-field"},
            {"PATCH", "grace", "{\"kycVerifiedBy\":\"me\"}", 422, "/problems/unknown-field"},
            {"PATCH", "grace", "{\"userId\":\"00000000-0000-4000-8000-000000000000\"}", 422,
             "/problems/unknown-field"},
            {"PATCH", "nobody", "{\"city\":\"X\"}", 404, "/problems/not-found"},
            {"PATCH", "junk", "{\"city\":\"X\"}", 404, "/problems/not-found"},
            {"POST", "kyc", "{}", 422, "/problems/missing-field"},
            {"POST", "kyc", "{\"status\":1}", 422, "/problems/invalid-field"},
            {"POST", "kyc", "{\"status\":\"VERIFIED\",\"note\":\"x\"}", 422,
             "/problems/unknown-field"},
            {"POST", "kyc", "nope", 400, "/problems/invalid-json"},
            {"DELETE", "junk", NULL, 404, "/problems/not-found"},
            {"DELETE", "nobody", NULL, 404, "/problems/not-found"},
            {"GET", "junk", NULL, 404, "/problems/not-found"},
            {"PUT", "grace", "{}", 405, "/problems/method-not-allowed"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            const char *p = plain_path;
            char target[160];
            if (strcmp(bad[i].path_kind, "grace") == 0)
                snprintf(target, sizeof target, "/v1/customers/%s", grace_id);
            else if (strcmp(bad[i].path_kind, "kyc") == 0)
                snprintf(target, sizeof target, "/v1/customers/%s/kyc", spare[1].id);
            else if (strcmp(bad[i].path_kind, "nobody") == 0)
                snprintf(target, sizeof target,
                         "/v1/customers/00000000-0000-4000-8000-00000000beef");
            else if (strcmp(bad[i].path_kind, "junk") == 0)
                snprintf(target, sizeof target, "/v1/customers/1%%27%%20OR%%201=1");
            else
                snprintf(target, sizeof target, "%s", plain_path);
            p = target;
            itest_mgmt_problem(manager.bearer, bad[i].method, p, bad[i].body, bad[i].status,
                               bad[i].type);
        }
        /* Oversized: one field past its limit; a body past the API's limit. */
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        {
            char *long_name =
                itest_mgmt_body(json_pack("{s:s, s:s#, s:s}", "email", "x@y.example", "firstName",
                                          big, (int)101, "lastName", "B"));
            itest_mgmt_problem(manager.bearer, "POST", "/v1/customers", long_name, 422,
                               "/problems/invalid-field");
            free(long_name);
            long_name = itest_mgmt_body(json_pack("{s:s#}", "addressLine1", big, (int)201));
            snprintf(path, sizeof path, "/v1/customers/%s", grace_id);
            itest_mgmt_problem(manager.bearer, "PATCH", path, long_name, 422,
                               "/problems/invalid-field");
            free(long_name);
            long_name = itest_mgmt_body(json_pack("{s:s}", "addressLine1", big));
            itest_mgmt_problem(manager.bearer, "POST", "/v1/customers", long_name, 413,
                               "/problems/body-too-large");
            free(long_name);
        }
        {
            itest_resp r;
            const char *text_plain[] = {"Content-Type: text/plain", NULL};
            itest_mgmt_send(manager.bearer, "POST", "/v1/customers",
                            "{\"email\":\"x@y.example\",\"firstName\":\"A\",\"lastName\":\"B\"}",
                            text_plain, &r);
            EXPECT(r.status == 415, "text/plain answered %ld", r.status);
            itest_mgmt_resp_free(&r);
        }
        {
            static const char *const params[] = {
                "kycStatus=DONE", "riskLevel=low",
                "customerType=",  "include=users",
                "limit=0",        "limit=201",
                "limit=x",        "foo=1",
                "cursor=xyz",     "customerNumber=1%27%3BDROP",
                "email=nope",     "kycStatus=PENDING&kycStatus=VERIFIED"};
            for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
                itest_resp r;
                snprintf(path, sizeof path, "/v1/customers?%s", params[i]);
                itest_mgmt_send(manager.bearer, "GET", path, NULL, NULL, &r);
                EXPECT(r.status == 400 &&
                           strncmp(r.content_type, "application/problem+json", 24) == 0,
                       "GET %s answered %ld", path, r.status);
                itest_mgmt_resp_free(&r);
            }
        }
        /* A cursor of the account list is not one of the customer list. */
        o = itest_mgmt_ok(manager.bearer, "GET", "/v1/accounts?limit=1", NULL, 200);
        CHECK(json_is_string(json_object_get(o, "nextCursor")), "no account cursor");
        snprintf(path, sizeof path, "/v1/customers?cursor=%s", itest_mgmt_str(o, "nextCursor"));
        json_decref(o);
        itest_mgmt_problem(manager.bearer, "GET", path, NULL, 400, "/problems/invalid-cursor");
    }
    v = fingerprint(db);
    EXPECT(strcmp(before, v) == 0, "bad requests changed the tenant's data");
    free(v);
    free(before);
    printf("bad input: refused with problem+json, nothing changed\n");

    /* ---------------------------------------------------------------- isolation */
    itest_mgmt_customer(other_manager.bearer, other_manager.bearer, "othertenant", &other_cust);
    before = fingerprint(other_db);
    {
        const char *callers[] = {manager.bearer, admin.bearer, t.api_key, grace_cred.bearer};
        for (size_t i = 0; i < 4; i++) {
            itest_resp r;
            snprintf(path, sizeof path, "/v1/customers/%s", other_cust.id);
            itest_mgmt_send(callers[i], "GET", path, NULL, NULL, &r);
            EXPECT(r.status == 404 && strstr(r.body, "othertenant") == NULL &&
                       strstr(r.body, other_cust.email) == NULL,
                   "another tenant's customer: %ld %s", r.status, r.body);
            itest_mgmt_resp_free(&r);
        }
        itest_mgmt_problem(manager.bearer, "PATCH", path, "{\"city\":\"Hijacked\"}", 404,
                           "/problems/not-found");
        itest_mgmt_problem(manager.bearer, "DELETE", path, NULL, 404, "/problems/not-found");
        snprintf(path, sizeof path, "/v1/customers/%s/kyc", other_cust.id);
        itest_mgmt_problem(manager.bearer, "POST", path,
                           "{\"status\":\"REJECTED\",\"reason\":\"x\"}", 404,
                           "/problems/not-found");
        snprintf(path, sizeof path, "/v1/customers?customerNumber=%s", other_cust.number);
        o = itest_mgmt_ok(manager.bearer, "GET", path, NULL, 200);
        EXPECT(json_array_size(json_object_get(o, "data")) == 0 ||
                   strcmp(itest_mgmt_str(json_array_get(json_object_get(o, "data"), 0), "email"),
                          other_cust.email) != 0,
               "tenant A's list shows tenant B's customer");
        json_decref(o);
        {
            itest_resp r;
            char header[128];
            const char *h[] = {header, NULL};
            snprintf(header, sizeof header, "X-Tenant: %s", other.slug);
            itest_mgmt_send(manager.bearer, "GET", "/v1/customers", NULL, h, &r);
            EXPECT(r.status == 403 && strstr(r.body, "/problems/tenant-mismatch") != NULL,
                   "X-Tenant of another tenant: %ld", r.status);
            itest_mgmt_resp_free(&r);
        }
    }
    v = fingerprint(other_db);
    EXPECT(strcmp(before, v) == 0, "tenant A's credentials changed tenant B's data");
    free(v);
    free(before);
    printf("isolation: another tenant's customers are not found\n");

    /* No audit row of the whole run holds a password or a hash. */
    EXPECT(itest_mgmt_long(db,
                           "SELECT count(*) FROM audit_logs WHERE concat(changes::text,"
                           " metadata::text) ~* '(argon2|password|Cobol-1959-Navy)'",
                           NULL, NULL) == 0,
           "a secret in the audit log");
    {
        char out[512];
        int rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
        EXPECT(rc == 0, "ledgerctl verify: %s", out);
    }
    json_decref(grace);
    PQfinish(db);
    PQfinish(other_db);
    printf("%d passed, 0 failed\n", itest_mgmt_passed);
    return 0;
}
