/*
 * Bad input gets a problem+json 4xx with a stable type, and changes nothing: no command reaches
 * Kafka and no row reaches the tenant database.
 */
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    const char *body; /* {acct}: the account number */
    long status;
    const char *type;
} bad_case;

static const bad_case cases[] = {
    {"not JSON", "{\"type\":", 400, "/problems/invalid-json"},
    {"an array", "[1,2]", 400, "/problems/invalid-json"},
    {"exponent amount",
     "{\"type\":\"DEPOSIT\",\"amount\":\"1e3\",\"currency\":\"USD\",\"toAccount\":\"{acct}\"}", 422,
     "/problems/invalid-amount"},
    {"negative amount",
     "{\"type\":\"DEPOSIT\",\"amount\":\"-5\",\"currency\":\"USD\",\"toAccount\":\"{acct}\"}", 422,
     "/problems/invalid-amount"},
    {"three fraction digits",
     "{\"type\":\"DEPOSIT\",\"amount\":\"1.234\",\"currency\":\"USD\",\"toAccount\":\"{acct}\"}", 422,
     "/problems/invalid-amount"},
    {"zero amount",
     "{\"type\":\"DEPOSIT\",\"amount\":\"0.00\",\"currency\":\"USD\",\"toAccount\":\"{acct}\"}", 422,
     "/problems/invalid-amount"},
    {"amount over NUMERIC(15,2)",
     "{\"type\":\"DEPOSIT\",\"amount\":\"10000000000000.00\",\"currency\":\"USD\","
     "\"toAccount\":\"{acct}\"}",
     422, "/problems/invalid-amount"},
    {"number instead of string",
     "{\"type\":\"DEPOSIT\",\"amount\":100,\"currency\":\"USD\",\"toAccount\":\"{acct}\"}", 422,
     "/problems/invalid-field"},
    {"unknown currency",
     "{\"type\":\"DEPOSIT\",\"amount\":\"5.00\",\"currency\":\"ABC\",\"toAccount\":\"{acct}\"}", 422,
     "/problems/invalid-currency"},
    {"unknown field",
     "{\"type\":\"DEPOSIT\",\"amount\":\"5.00\",\"currency\":\"USD\",\"toAccount\":\"{acct}\","
     "\"admin\":true}",
     422, "/problems/unknown-field"},
    {"missing toAccount", "{\"type\":\"DEPOSIT\",\"amount\":\"5.00\",\"currency\":\"USD\"}", 422,
     "/problems/missing-field"},
    {"unknown type",
     "{\"type\":\"GIFT\",\"amount\":\"5.00\",\"currency\":\"USD\",\"toAccount\":\"{acct}\"}", 422,
     "/problems/invalid-transaction-type"},
    {"SQL in the account number",
     "{\"type\":\"DEPOSIT\",\"amount\":\"5.00\",\"currency\":\"USD\","
     "\"toAccount\":\"1'; DROP TABLE accounts;--\"}",
     422, "/problems/invalid-field"},
    {"duplicate key",
     "{\"type\":\"DEPOSIT\",\"type\":\"DEPOSIT\",\"amount\":\"5.00\",\"currency\":\"USD\","
     "\"toAccount\":\"{acct}\"}",
     400, "/problems/invalid-json"},
};

/* Copies template into out with "{acct}" replaced by account. */
static void fill_account(char *out, size_t size, const char *template, const char *account)
{
    const char *hole = strstr(template, "{acct}");
    if (hole == NULL)
        snprintf(out, size, "%s", template);
    else
        snprintf(out, size, "%.*s%s%s", (int)(hole - template), template, account, hole + 6);
}

static void expect_problem(long status, const char *body, const char *ct, long want_status,
                           const char *want_type, const char *name)
{
    json_t *o = json_loads(body, 0, NULL);
    const char *type = o != NULL ? json_string_value(json_object_get(o, "type")) : NULL;
    CHECK(status == want_status, "%s: status %ld, expected %ld (%s)", name, status, want_status,
          body);
    CHECK(strncmp(ct, "application/problem+json", 24) == 0, "%s: content type %s", name, ct);
    CHECK(type != NULL && strcmp(type, want_type) == 0, "%s: type %s, expected %s", name,
          type != NULL ? type : "(none)", want_type);
    CHECK(json_string_value(json_object_get(o, "title")) != NULL &&
              json_string_value(json_object_get(o, "detail")) != NULL,
          "%s: no title or detail", name);
    CHECK(strstr(body, "SELECT") == NULL && strstr(body, "INSERT") == NULL,
          "%s: SQL text in the error", name);
    json_decref(o);
}

int main(void)
{
    itest_tenant t;
    char auth[200], ct[128], body[1024];
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    int64_t commands_before, commands_after;
    PGconn *db;
    char *v;
    int n = 0;

    itest_tenant_create(&t, "it-malformed", NULL, 1, "USD");
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", t.api_key);
    commands_before = itest_topic_end("txn.commands");

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *resp = NULL;
        long status;
        fill_account(body, sizeof body, cases[i].body, t.account[0]);
        status = itest_http("POST", "/v1/transactions", headers, body, &resp, ct, sizeof ct);
        expect_problem(status, resp, ct, cases[i].status, cases[i].type, cases[i].name);
        free(resp);
        n++;
    }
    /* Credentials: none, unknown, and another tenant named by X-Tenant. */
    {
        const char *no_auth[] = {"Content-Type: application/json", NULL};
        const char *bad_auth[] = {"Authorization: Bearer lk_not-a-real-key",
                                  "Content-Type: application/json", NULL};
        const char *wrong_tenant[] = {auth, "X-Tenant: some-other-bank",
                                      "Content-Type: application/json", NULL};
        char *resp = NULL;
        long status;
        snprintf(body, sizeof body,
                 "{\"type\":\"DEPOSIT\",\"amount\":\"5.00\",\"currency\":\"USD\","
                 "\"toAccount\":\"%s\"}",
                 t.account[0]);
        status = itest_http("POST", "/v1/transactions", no_auth, body, &resp, ct, sizeof ct);
        expect_problem(status, resp, ct, 401, "/problems/unauthenticated", "no credential");
        free(resp);
        status = itest_http("POST", "/v1/transactions", bad_auth, body, &resp, ct, sizeof ct);
        expect_problem(status, resp, ct, 401, "/problems/unauthenticated", "unknown key");
        free(resp);
        status = itest_http("POST", "/v1/transactions", wrong_tenant, body, &resp, ct, sizeof ct);
        expect_problem(status, resp, ct, 403, "/problems/tenant-mismatch", "wrong X-Tenant");
        free(resp);
        n += 3;
    }
    /* A body over the limit. */
    {
        size_t big = 70 * 1024;
        char *huge = malloc(big + 1);
        char *resp = NULL;
        long status;
        CHECK(huge != NULL, "malloc");
        memset(huge, ' ', big);
        huge[0] = '{';
        huge[big - 1] = '}';
        huge[big] = '\0';
        status = itest_http("POST", "/v1/transactions", headers, huge, &resp, ct, sizeof ct);
        expect_problem(status, resp, ct, 413, "/problems/body-too-large", "huge body");
        free(resp);
        free(huge);
        n++;
    }

    commands_after = itest_topic_end("txn.commands");
    CHECK(commands_after == commands_before, "%lld command(s) reached Kafka",
          (long long)(commands_after - commands_before));
    db = itest_tenant_db(&t, NULL);
    v = itest_sql_value(db, "SELECT count(*)::text FROM transactions", NULL);
    CHECK(strcmp(v, "0") == 0, "%s transaction row(s) written", v);
    free(v);
    v = itest_sql_value(db, "SELECT count(*)::text FROM ledger_entries", NULL);
    CHECK(strcmp(v, "0") == 0, "%s ledger row(s) written", v);
    free(v);
    PQfinish(db);
    printf("%d passed, 0 failed\n", n);
    return 0;
}
