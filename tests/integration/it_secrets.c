/*
 * No secret in logs, error bodies, audit rows or /metrics. The test knows every secret of a
 * bank and of the ledger: a user's password (and a second user's, created over the API), an
 * API key, the token a login issues (and its signature), a tenant database's password (a
 * tenant provisioned over the system API; the password unsealed with the master key), and the
 * master key file's keys. It makes failing and succeeding requests with each of them (logins
 * with a wrong and the right password, each secret sent as a bearer credential, a forged
 * token, a deposit that the worker applies, a refused password change), then searches the
 * API's and the worker's log files, every response (headers and body; the login's answer
 * alone may carry its own token), the tenants' audit_logs rows, the master's
 * tenant_audit_logs rows and both /metrics outputs for each secret, as text and, where a
 * secret is bytes or could be encoded, as base64, base64url and hex. None may appear.
 */
#include "itest.h"
#include "itest_auth.h"
#include "itest_metrics.h"
#include "itest_system.h"

#include "lg_crypto.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SECRETS 64

static struct {
    char *text;
    char what[64];
} secrets[MAX_SECRETS];
static int n_secrets;

/* Everything the API answered (headers and bodies), for the search. */
static char *transcript;
static size_t transcript_len;

static void keep(const char *what, const char *text)
{
    CHECK(n_secrets < MAX_SECRETS, "too many secrets");
    CHECK(strlen(text) >= 12, "secret %s is too short to search for", what);
    secrets[n_secrets].text = strdup(text);
    snprintf(secrets[n_secrets].what, sizeof secrets[n_secrets].what, "%s", what);
    n_secrets++;
}

/* The secret and its encodings: base64 and base64url of its bytes, and hex when asked. */
static void keep_forms(const char *what, const unsigned char *bytes, size_t len, int hex)
{
    char name[64];
    size_t b64 = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *out = malloc(b64 > 2 * len + 1 ? b64 : 2 * len + 1);
    CHECK(out != NULL, "malloc");
    sodium_bin2base64(out, b64, bytes, len, sodium_base64_VARIANT_ORIGINAL);
    snprintf(name, sizeof name, "%s (base64)", what);
    keep(name, out);
    sodium_bin2base64(out, b64, bytes, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(name, sizeof name, "%s (base64url)", what);
    keep(name, out);
    if (hex) {
        sodium_bin2hex(out, 2 * len + 1, bytes, len);
        snprintf(name, sizeof name, "%s (hex)", what);
        keep(name, out);
        for (char *p = out; *p != '\0'; p++)
            *p = (char)toupper((unsigned char)*p);
        snprintf(name, sizeof name, "%s (HEX)", what);
        keep(name, out);
    }
    free(out);
}

static void record(const char *text)
{
    size_t n = strlen(text);
    char *grown = realloc(transcript, transcript_len + n + 2);
    CHECK(grown != NULL, "realloc");
    transcript = grown;
    memcpy(transcript + transcript_len, text, n);
    transcript_len += n;
    transcript[transcript_len++] = '\n';
    transcript[transcript_len] = '\0';
}

/* One exchange; checks the status; records headers and body unless the answer is allowed to
 * hold a secret (a login's token). Returns the body (malloc'd). */
static char *req(const char *method, const char *path, const char *bearer, const char *x_tenant,
                 const char *json, long want, int keep_out)
{
    char url[512], auth[2200], tenant[160];
    const char *headers[4] = {NULL};
    int n = 0;
    char *body = NULL, *raw = NULL;
    long status;
    snprintf(url, sizeof url, "%s%s", itest_env("LEDGER_API_URL"), path);
    if (bearer != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        headers[n++] = auth;
    }
    if (x_tenant != NULL) {
        snprintf(tenant, sizeof tenant, "X-Tenant: %s", x_tenant);
        headers[n++] = tenant;
    }
    if (json != NULL)
        headers[n++] = "Content-Type: application/json";
    status = itest_http_url(method, url, headers, json, &body, &raw);
    CHECK(status == want, "%s %s: %ld, want %ld: %s", method, path, status, want,
          body != NULL ? body : "");
    if (!keep_out) {
        record(raw != NULL ? raw : "");
        record(body != NULL ? body : "");
    }
    free(raw);
    return body != NULL ? body : strdup("");
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s;
    long n;
    CHECK(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = malloc((size_t)n + 1);
    CHECK(s != NULL && fread(s, 1, (size_t)n, f) == (size_t)n, "reading %s", path);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Fails when any secret is in text (named where). */
static void search(const char *where, const char *text)
{
    for (int i = 0; i < n_secrets; i++)
        CHECK(strstr(text, secrets[i].text) == NULL, "%s holds %s (%.6s...)", where,
              secrets[i].what, secrets[i].text);
    printf("  %-34s %8zu bytes, none of %d secrets\n", where, strlen(text), n_secrets);
}

/* Fails when any row of the query (one text column per row, over all rows) holds a secret. */
static void search_rows(PGconn *db, const char *where, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    size_t total = 0;
    char *all;
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", where, PQerrorMessage(db));
    for (int i = 0; i < PQntuples(r); i++)
        total += strlen(PQgetvalue(r, i, 0)) + 1;
    all = calloc(1, total + 1);
    CHECK(all != NULL, "calloc");
    for (int i = 0; i < PQntuples(r); i++) {
        strcat(all, PQgetvalue(r, i, 0));
        strcat(all, "\n");
    }
    CHECK(PQntuples(r) > 0, "%s: no rows to search", where);
    search(where, all);
    free(all);
    PQclear(r);
}

int main(void)
{
    itest_tenant t;
    PGconn *db, *master;
    char hex[9], email[160], email2[200], user_id[64], admin_id[64], admin_mail[128];
    char sys_tok[2048], slug[64], body[1024], path[256];
    char password[64], password2[64], wrong[80], master_hex[80] = "", *token, *forged, *v, *answer;
    const char *log_dir;
    json_t *o;

    CHECK(sodium_init() >= 0, "sodium_init");
    itest_random_hex(hex);
    snprintf(password, sizeof password, "Pw-%s-Corr3ct-Horse!", hex);
    snprintf(password2, sizeof password2, "Sec0nd-%s-Battery$Staple", hex);
    snprintf(wrong, sizeof wrong, "%s-but-wrong", password);

    /* A bank, an API key, a SUPER_ADMIN with a known password. */
    itest_tenant_create(&t, "secrets", NULL, 1, "USD");
    db = itest_tenant_db(&t, NULL);
    snprintf(email, sizeof email, "root-%s@secrets.example", hex);
    itest_user_insert(db, email, "SUPER_ADMIN", password, user_id);
    keep("the API key", t.api_key);
    keep("the API key's secret part", t.api_key + 3);
    keep("the password", password);
    keep_forms("the password", (const unsigned char *)password, strlen(password), 0);
    keep("the second password", password2);
    keep("the wrong password", wrong);

    /* The master key file: "<key-id> <64 hex digits>" per line. */
    {
        char *file = read_file(itest_env("LEDGER_MASTER_KEY_FILE")), *save = NULL;
        int keys = 0;
        for (char *line = strtok_r(file, "\n", &save); line != NULL;
             line = strtok_r(NULL, "\n", &save)) {
            char kid[64], khex[80];
            unsigned char raw[32];
            size_t raw_len = 0;
            if (sscanf(line, "%63s %79s", kid, khex) != 2 || strlen(khex) != 64)
                continue;
            CHECK(sodium_hex2bin(raw, sizeof raw, khex, 64, NULL, &raw_len, NULL) == 0 &&
                      raw_len == 32,
                  "master key %s is not 64 hex digits", kid);
            keep("a master key (as in the file)", khex);
            snprintf(master_hex, sizeof master_hex, "%s", khex);
            keep_forms("a master key", raw, sizeof raw, 1);
            sodium_memzero(raw, sizeof raw);
            keys++;
        }
        CHECK(keys > 0, "no key in the master key file");
        free(file);
    }

    /* Logins: wrong password (401), right one (the token), each secret as a credential. */
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, wrong);
    free(req("POST", "/v1/auth/login", NULL, t.slug, body, 401, 0));
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    answer = req("POST", "/v1/auth/login", NULL, t.slug, body, 200, 1);
    o = json_loads(answer, 0, NULL);
    CHECK(o != NULL && json_is_string(json_object_get(o, "accessToken")), "login: %s", answer);
    token = strdup(itest_json_str(o, "accessToken"));
    json_decref(o);
    free(answer);
    keep("the token", token);
    keep("the token's signature", strrchr(token, '.') + 1);
    forged = strdup(token);
    forged[strlen(forged) - 2] = forged[strlen(forged) - 2] == 'A' ? 'B' : 'A';
    keep("a forged token", forged);

    free(req("GET", "/v1/auth/me", token, NULL, NULL, 200, 0));
    free(req("GET", "/v1/auth/me", t.api_key, NULL, NULL, 200, 0));
    free(req("GET", "/v1/auth/me", forged, NULL, NULL, 401, 0));
    free(req("GET", "/v1/auth/me", password, NULL, NULL, 401, 0));
    {
        char bad_key[160];
        snprintf(bad_key, sizeof bad_key, "%sx", t.api_key);
        keep("a wrong API key", bad_key);
        free(req("GET", "/v1/auth/me", bad_key, NULL, NULL, 401, 0));
    }
    /* A second user with a password, over the API; a password change refused. */
    snprintf(email2, sizeof email2, "teller-%s@secrets.example", hex);
    snprintf(body, sizeof body,
             "{\"email\":\"%s\",\"password\":\"%s\",\"firstName\":\"Tess\",\"lastName\":\"Teller\","
             "\"role\":\"TELLER\"}",
             email2, password2);
    free(req("POST", "/v1/users", token, NULL, body, 201, 0));
    snprintf(body, sizeof body, "{\"currentPassword\":\"%s\",\"newPassword\":\"%s\"}", wrong,
             password2);
    free(req("POST", "/v1/users/me/password", token, NULL, body, 403, 0));
    /* A deposit that the worker applies. */
    {
        char id[64], dep[256];
        snprintf(dep, sizeof dep,
                 "{\"type\":\"DEPOSIT\",\"amount\":\"12.34\",\"currency\":\"USD\","
                 "\"toAccount\":\"%s\",\"description\":\"secrets test\"}",
                 t.account[0]);
        itest_submit(&t, dep, id);
        json_decref(itest_expect_status(&t, id, "COMPLETED"));
    }

    /* A tenant provisioned over the system API: its database password, unsealed. */
    itest_system_admin("secrets", "SUPER_ADMIN", admin_id, admin_mail);
    itest_token_system(sys_tok, sizeof sys_tok, admin_id, "SUPER_ADMIN");
    keep("the system token", sys_tok);
    snprintf(slug, sizeof slug, "sec-%s", hex);
    snprintf(body, sizeof body, "{\"slug\":\"%s\",\"name\":\"Secret Bank\"}", slug);
    answer = req("POST", "/v1/system/tenants", sys_tok, NULL, body, 201, 0);
    free(answer);
    master = itest_master_db();
    {
        char err[256], *plain = NULL, *sealed, *kid, *id;
        lg_keyring *kr = lg_keyring_load(itest_env("LEDGER_MASTER_KEY_FILE"), err, sizeof err);
        CHECK(kr != NULL, "%s", err);
        id = itest_sql_value(master, "SELECT id::text FROM tenants WHERE slug = $1", slug);
        sealed = itest_sql_value(master, "SELECT db_password FROM tenants WHERE slug = $1", slug);
        kid =
            itest_sql_value(master, "SELECT db_password_key_id FROM tenants WHERE slug = $1", slug);
        CHECK(lg_secret_open(kr, kid, id, sealed, &plain, err, sizeof err) == 0, "%s", err);
        keep("the tenant's database password", plain);
        keep_forms("the tenant's database password", (const unsigned char *)plain, strlen(plain),
                   1);
        free(req("GET", "/v1/auth/me", plain, NULL, NULL, 401, 0));
        lg_secret_free(plain);
        lg_keyring_free(kr);
        snprintf(path, sizeof path, "/v1/system/tenants/%s", id);
        free(req("GET", path, sys_tok, NULL, NULL, 200, 0));
        snprintf(path, sizeof path, "/v1/system/tenants/%s/suspend", id);
        free(req("POST", path, sys_tok, NULL, "{\"reason\":\"secrets test\"}", 200, 0));
        snprintf(path, sizeof path, "/v1/system/tenants/%s/audit-logs", id);
        free(req("GET", path, sys_tok, NULL, NULL, 200, 0));
        free(id);
        free(sealed);
        free(kid);
    }
    /* The master key's hex as a credential, and in a body. */
    free(req("GET", "/v1/auth/me", master_hex, NULL, NULL, 401, 0));
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, wrong);
    free(req("POST", "/v1/auth/login", NULL, "no-such-bank-xyz", body, 401, 0));
    /* Both /metrics. */
    {
        char url[256], *m = NULL;
        snprintf(url, sizeof url, "%s/metrics", itest_env("LEDGER_API_URL"));
        CHECK(itest_http_url("GET", url, NULL, NULL, &m, NULL) == 200, "API /metrics");
        search("the API's /metrics", m);
        free(m);
        m = NULL;
        snprintf(url, sizeof url, "%s/metrics", itest_env("LEDGER_WORKER_URL"));
        CHECK(itest_http_url("GET", url, NULL, NULL, &m, NULL) == 200, "worker /metrics");
        search("the worker's /metrics", m);
        free(m);
    }
    itest_sleep_ms(500); /* the last log lines written */

    printf("searching for %d secrets:\n", n_secrets);
    search("the responses (headers and bodies)", transcript);
    log_dir = getenv("LEDGER_LOG_DIR") != NULL ? getenv("LEDGER_LOG_DIR") : LEDGER_TEST_VAR "/logs";
    {
        char file[512];
        snprintf(file, sizeof file, "%s/api.log", log_dir);
        v = read_file(file);
        CHECK(strstr(v, "/v1/auth/login") != NULL, "the API log has no login request: %s", file);
        search("the API's log", v);
        free(v);
        snprintf(file, sizeof file, "%s/worker.log", log_dir);
        v = read_file(file);
        search("the worker's log", v);
        free(v);
    }
    search_rows(db, "the bank's audit_logs", "SELECT audit_logs::text FROM audit_logs");
    search_rows(master, "tenant_audit_logs",
                "SELECT tenant_audit_logs::text FROM tenant_audit_logs");
    search_rows(master, "the master's tenants rows (sealed)", "SELECT tenants::text FROM tenants");

    PQfinish(db);
    PQfinish(master);
    free(token);
    free(forged);
    free(transcript);
    for (int i = 0; i < n_secrets; i++)
        free(secrets[i].text);
    printf("it_secrets: OK\n");
    return 0;
}
