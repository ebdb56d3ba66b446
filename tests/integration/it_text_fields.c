/*
 * SQL metacharacters and Unicode edge cases in every free-text field a bank writes: customers
 * (first and last name, address lines, city, state, company name), users (first and last
 * name) and transactions (description, reference). Each value is either stored and returned
 * byte for byte (the database column holds exactly the bytes sent, GET answers them) or refused
 * with a problem+json 400/422 (413 for a body over the limit) and nothing stored. Values that
 * are not text at all (NUL as \u0000, invalid UTF-8, a lone surrogate) must be refused. At the
 * end every table is still there and counts what the accepted requests made. Quotes,
 * backslashes and SQL keywords must be accepted (a bank has customers named O'Brien).
 * Companies' names are the same kind of field as the address lines (one reader,
 * api_customers.c), checked through those of an individual customer.
 */
#include "itest.h"
#include "itest_mgmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    const char *literal; /* the JSON string as sent; NULL: json-encode value */
    const char *value;   /* the text expected stored; NULL when it must be refused */
} text_case;

static char long_ascii[5001], long_multibyte[101], long_desc[20001];

/* The first MUST_ACCEPT cases are ordinary text a bank meets (O'Brien; a reference quoting
 * SQL): refusing them would be a bug too. */
#define MUST_ACCEPT 6

static text_case cases[] = {
    {"quotes and backslashes", NULL, "O'Brien \"Quoted\" back\\slash"},
    {"DROP TABLE", NULL, "x'; DROP TABLE customers; --"},
    {"DELETE through a quote", NULL, "Robert'); DELETE FROM users WHERE ('1'='1"},
    {"pg_sleep", NULL, "1 OR 1=1; SELECT pg_sleep(5)--"},
    {"dollar quoting", NULL, "$$; DROP TABLE accounts; $$"},
    {"format and placeholders", NULL, "%s%n%x \\x00 $1 :name ? {}"},
    {"Arabic (RTL)", NULL,
     "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 "
     "\xd8\xa8\xd8\xa7\xd9\x84\xd8\xb9\xd8\xa7\xd9\x84\xd9\x85"},
    {"RTL override", NULL, "abc\xe2\x80\xaegnp.exe"},
    {"combining characters", NULL, "Zoe\xcc\x88 Jose\xcc\x81 n\xcc\x83"},
    {"emoji", NULL,
     "Savings \xf0\x9f\x92\xb0\xf0\x9f\x8f\xa6 "
     "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7"},
    {"CJK and Latin-1", NULL,
     "\xc3\x9cn\xc3\xaf"
     "c\xc3\xb8"
     "d\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"},
    {"NUL", "\"a\\u0000b\"", NULL},
    {"invalid UTF-8", "\"a\xc3\x28z\"", NULL},
    {"overlong UTF-8", "\"a\xc0\xafz\"", NULL},
    {"lone surrogate", "\"a\\ud800z\"", NULL},
    {"5000 characters", NULL, long_ascii},
    {"50 two-byte characters", NULL, long_multibyte},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static int checks;

/* The JSON text of case c's value. malloc'd. */
static char *literal(const text_case *c, const char *suffix)
{
    if (c->literal != NULL)
        return strdup(c->literal);
    {
        size_t n = strlen(c->value) + strlen(suffix) + 1;
        char *v = malloc(n), *out;
        json_t *s;
        CHECK(v != NULL, "malloc");
        snprintf(v, n, "%s%s", c->value, suffix);
        s = json_string(v);
        CHECK(s != NULL, "%s is not valid UTF-8 in the test", c->name);
        out = json_dumps(s, JSON_ENCODE_ANY);
        json_decref(s);
        free(v);
        return out;
    }
}

/* The answer is a refusal: 400/422 (413 over the size limit) problem+json. */
static void expect_refusal(const itest_resp *r, const char *what)
{
    CHECK(r->status == 400 || r->status == 422 || r->status == 413, "%s: %ld %s", what, r->status,
          r->body);
    CHECK(strncmp(r->content_type, "application/problem+json", 24) == 0, "%s: %s", what,
          r->content_type);
    CHECK(r->json != NULL && json_is_string(json_object_get(r->json, "type")), "%s: %s", what,
          r->body);
    checks++;
}

static void expect_text(const char *got, const char *want, const char *what)
{
    CHECK(got != NULL && strcmp(got, want) == 0, "%s: got \"%.60s\", sent \"%.60s\"", what,
          got != NULL ? got : "(null)", want);
    checks++;
}

static int accepted_customers, accepted_users, accepted_txns;

static void customer(const itest_tenant *t, PGconn *db, const char *staff, size_t i)
{
    static const char *const fields[] = {"firstName",    "lastName", "addressLine1",
                                         "addressLine2", "city",     "state"};
    static const char *const columns[] = {"u.first_name",    "u.last_name", "c.address_line1",
                                          "c.address_line2", "c.city",      "c.state"};
    const text_case *c = &cases[i];
    char *lit = literal(c, ""), *body, email[128], what[160], path[128], sql[256];
    size_t size = strlen(lit) * 6 + 1024, used;
    itest_resp r;
    (void)t;
    snprintf(email, sizeof email, "text-%zu-%lld@customers.example", i, (long long)itest_now_ms());
    body = malloc(size);
    CHECK(body != NULL, "malloc");
    used = (size_t)snprintf(
        body, size, "{\"email\":\"%s\",\"dateOfBirth\":\"1980-04-01\",\"country\":\"FR\"", email);
    for (size_t f = 0; f < 6; f++)
        used += (size_t)snprintf(body + used, size - used, ",\"%s\":%s", fields[f], lit);
    snprintf(body + used, size - used, "}");
    snprintf(what, sizeof what, "customer with %s", c->name);
    itest_mgmt_send(staff, "POST", "/v1/customers", body, NULL, &r);
    if (r.status == 201 && c->value != NULL) {
        const char *id = itest_mgmt_str(r.json, "id");
        itest_resp g;
        for (size_t f = 0; f < 6; f++) {
            char *stored;
            expect_text(itest_mgmt_str(r.json, fields[f]), c->value, what);
            snprintf(sql, sizeof sql,
                     "SELECT %s FROM customers c JOIN users u ON u.id = c.user_id"
                     " WHERE c.id = $1::uuid",
                     columns[f]);
            stored = itest_mgmt_value(db, sql, id, NULL);
            expect_text(stored, c->value, what);
            free(stored);
        }
        snprintf(path, sizeof path, "/v1/customers/%s", id);
        itest_mgmt_send(staff, "GET", path, NULL, NULL, &g);
        CHECK(g.status == 200, "%s: GET %ld", what, g.status);
        expect_text(itest_mgmt_str(g.json, "firstName"), c->value, what);
        expect_text(itest_mgmt_str(g.json, "city"), c->value, what);
        itest_mgmt_resp_free(&g);
        accepted_customers++;
        printf("  %-26s customer: stored and returned verbatim\n", c->name);
    } else {
        CHECK(c->value != NULL || r.status != 201, "%s: accepted %s", what, r.body);
        CHECK(i >= MUST_ACCEPT, "%s: refused %ld %s", what, r.status, r.body);
        expect_refusal(&r, what);
        CHECK(itest_mgmt_long(db, "SELECT count(*) FROM users WHERE email = $1", email, NULL) == 0,
              "%s: refused, yet stored", what);
        printf("  %-26s customer: %ld %s %.80s\n", c->name, r.status,
               itest_json_str(r.json, "type"), itest_json_str(r.json, "detail"));
    }
    itest_mgmt_resp_free(&r);
    free(body);
    free(lit);
}

static void user(PGconn *db, const char *admin, size_t i)
{
    const text_case *c = &cases[i];
    char *lit = literal(c, ""), *body, email[128], what[160];
    size_t size = strlen(lit) * 2 + 512;
    itest_resp r;
    snprintf(email, sizeof email, "text-user-%zu-%lld@bank.example", i, (long long)itest_now_ms());
    body = malloc(size);
    CHECK(body != NULL, "malloc");
    snprintf(body, size,
             "{\"email\":\"%s\",\"password\":\"Tr1cky-But-Str0ng-Passw0rd!\",\"role\":\"TELLER\","
             "\"firstName\":%s,\"lastName\":%s}",
             email, lit, lit);
    snprintf(what, sizeof what, "user with %s", c->name);
    itest_mgmt_send(admin, "POST", "/v1/users", body, NULL, &r);
    if (r.status == 201 && c->value != NULL) {
        char *stored = itest_mgmt_value(db,
                                        "SELECT first_name || '|' || last_name FROM users"
                                        " WHERE email = $1",
                                        email, NULL);
        size_t n = strlen(c->value) * 2 + 2;
        char *want = malloc(n);
        CHECK(want != NULL, "malloc");
        snprintf(want, n, "%s|%s", c->value, c->value);
        expect_text(itest_mgmt_str(r.json, "firstName"), c->value, what);
        expect_text(stored, want, what);
        free(stored);
        free(want);
        accepted_users++;
        printf("  %-26s user: stored and returned verbatim\n", c->name);
    } else {
        CHECK(c->value != NULL || r.status != 201, "%s: accepted %s", what, r.body);
        CHECK(i >= MUST_ACCEPT, "%s: refused %ld %s", what, r.status, r.body);
        expect_refusal(&r, what);
        CHECK(itest_mgmt_long(db, "SELECT count(*) FROM users WHERE email = $1", email, NULL) == 0,
              "%s: refused, yet stored", what);
        printf("  %-26s user: %ld %s %.80s\n", c->name, r.status, itest_json_str(r.json, "type"),
               itest_json_str(r.json, "detail"));
    }
    itest_mgmt_resp_free(&r);
    free(body);
    free(lit);
}

static void transaction(const itest_tenant *t, PGconn *db, size_t i)
{
    const text_case *c = &cases[i];
    char suffix[32], *desc = literal(c, ""), *ref, *body, idem[96], what[160];
    char idem_header[128];
    const char *headers[] = {idem_header, NULL};
    size_t size;
    itest_resp r;
    snprintf(suffix, sizeof suffix, " #%zu-%lld", i, (long long)itest_now_ms() % 100000);
    ref = literal(c, suffix);
    size = strlen(desc) + strlen(ref) + 512;
    body = malloc(size);
    CHECK(body != NULL, "malloc");
    snprintf(body, size,
             "{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"USD\",\"toAccount\":\"%s\","
             "\"description\":%s,\"reference\":%s}",
             t->account[0], desc, ref);
    snprintf(idem, sizeof idem, "text-%zu-%lld", i, (long long)itest_now_ms());
    snprintf(idem_header, sizeof idem_header, "Idempotency-Key: %s", idem);
    snprintf(what, sizeof what, "transaction with %s", c->name);
    itest_mgmt_send(t->api_key, "POST", "/v1/transactions", body, headers, &r);
    if (r.status == 202 && c->value != NULL) {
        char id[64], *stored;
        size_t n = strlen(c->value) + strlen(suffix) + 1;
        char *want_ref = malloc(n);
        json_t *done;
        CHECK(want_ref != NULL, "malloc");
        snprintf(want_ref, n, "%s%s", c->value, suffix);
        snprintf(id, sizeof id, "%s", itest_mgmt_str(r.json, "id"));
        done = itest_wait_txn(t, id, 30000);
        CHECK(strcmp(itest_json_str(done, "status"), "COMPLETED") == 0, "%s: %s", what,
              itest_json_str(done, "status"));
        expect_text(itest_json_str(done, "description"), c->value, what);
        expect_text(itest_json_str(done, "reference"), want_ref, what);
        stored = itest_mgmt_value(db, "SELECT description FROM transactions WHERE id = $1::uuid",
                                  id, NULL);
        expect_text(stored, c->value, what);
        free(stored);
        stored = itest_mgmt_value(db, "SELECT reference FROM transactions WHERE id = $1::uuid", id,
                                  NULL);
        expect_text(stored, want_ref, what);
        free(stored);
        json_decref(done);
        free(want_ref);
        accepted_txns++;
        printf("  %-26s transaction: stored and returned verbatim\n", c->name);
    } else {
        CHECK(c->value != NULL || r.status != 202, "%s: accepted %s", what, r.body);
        CHECK(i >= MUST_ACCEPT || c->value == long_desc, "%s: refused %ld %s", what, r.status,
              r.body);
        expect_refusal(&r, what);
        printf("  %-26s transaction: %ld %s %.80s\n", c->name, r.status,
               itest_json_str(r.json, "type"), itest_json_str(r.json, "detail"));
    }
    itest_mgmt_resp_free(&r);
    free(body);
    free(desc);
    free(ref);
}

/* E-mail addresses with quotes, SQL and non-ASCII letters: stored as sent (all lower case
 * here, so no normalisation can excuse a difference) or refused; never executed. */
static void emails(PGconn *db, const char *admin)
{
    static const char *const locals[] = {"o'brien",
                                         "x';drop-table-users;--",
                                         "a\\b",
                                         "\xc3\xbcn\xc3\xaf"
                                         "c\xc3\xb8"
                                         "de",
                                         "\"quoted\"",
                                         NULL};
    for (size_t i = 0; locals[i] != NULL; i++) {
        char email[160], what[200], *body;
        itest_resp r;
        snprintf(email, sizeof email, "%s.%lld@bank.example", locals[i], (long long)itest_now_ms());
        body = itest_mgmt_body(json_pack("{s:s, s:s, s:s, s:s, s:s}", "email", email, "password",
                                         "Tr1cky-But-Str0ng-Passw0rd!", "role", "TELLER",
                                         "firstName", "Eve", "lastName", "Mail"));
        snprintf(what, sizeof what, "e-mail %s", email);
        itest_mgmt_send(admin, "POST", "/v1/users", body, NULL, &r);
        if (r.status == 201) {
            char *stored =
                itest_mgmt_value(db, "SELECT email FROM users WHERE email = $1", email, NULL);
            expect_text(itest_mgmt_str(r.json, "email"), email, what);
            expect_text(stored, email, what);
            free(stored);
            printf("  e-mail %-26s stored and returned verbatim\n", locals[i]);
        } else {
            expect_refusal(&r, what);
            CHECK(itest_mgmt_long(db, "SELECT count(*) FROM users WHERE email = $1", email, NULL) ==
                      0,
                  "%s: refused, yet stored", what);
            printf("  e-mail %-26s %ld %s\n", locals[i], r.status, itest_json_str(r.json, "type"));
        }
        itest_mgmt_resp_free(&r);
        free(body);
    }
}

int main(void)
{
    itest_tenant t;
    itest_cred admin, staff;
    PGconn *db;
    long before_txns;

    memset(long_ascii, 'A', sizeof long_ascii - 1);
    memset(long_desc, 'D', sizeof long_desc - 1);
    for (size_t i = 0; i < 50; i++)
        memcpy(long_multibyte + 2 * i, "\xc3\xa9", 2);
    itest_tenant_create(&t, "text", NULL, 1, "USD");
    db = itest_tenant_db(&t, NULL);
    itest_mgmt_staff(&t, db, "SUPER_ADMIN", &admin);
    itest_mgmt_staff(&t, db, "MANAGER", &staff);
    before_txns = itest_mgmt_long(db, "SELECT count(*) FROM transactions", NULL, NULL);

    for (size_t i = 0; i < N_CASES; i++) {
        customer(&t, db, staff.bearer, i);
        user(db, admin.bearer, i);
        transaction(&t, db, i);
    }
    emails(db, admin.bearer);
    /* A 20000-character description: over the limit, refused. */
    {
        text_case big = {"20000 characters", NULL, long_desc};
        cases[0] = big;
        transaction(&t, db, 0);
    }

    /* Nothing was executed: the tables are there and hold what was accepted. */
    {
        static const char *const tables[] = {
            "customers", "users", "accounts", "transactions", "ledger_entries", "audit_logs", NULL};
        for (size_t i = 0; tables[i] != NULL; i++) {
            char *v = itest_mgmt_value(db, "SELECT coalesce(to_regclass($1)::text, 'missing')",
                                       tables[i], NULL);
            CHECK(strcmp(v, tables[i]) == 0, "table %s: %s", tables[i], v);
            free(v);
        }
    }
    CHECK(itest_mgmt_long(db, "SELECT count(*) FROM transactions", NULL, NULL) ==
              before_txns + accepted_txns,
          "transactions: %ld, want %ld",
          itest_mgmt_long(db, "SELECT count(*) FROM transactions", NULL, NULL),
          before_txns + accepted_txns);
    {
        PGconn *m = itest_master_db();
        char *v =
            itest_sql_value(m, "SELECT coalesce(to_regclass('tenants')::text, 'missing')", NULL);
        CHECK(strcmp(v, "tenants") == 0, "master tenants: %s", v);
        free(v);
        PQfinish(m);
    }
    printf("it_text_fields: %zu values x 3 endpoints; accepted verbatim: %d customers, %d users, "
           "%d transactions; %d checks\n",
           N_CASES, accepted_customers, accepted_users, accepted_txns, checks);
    PQfinish(db);
    return 0;
}
