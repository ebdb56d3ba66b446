#include "itest_system.h"

#include "lg_crypto.h"
#include "lg_jwt.h"
#include "lg_password.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lg_keyring *keyring(void)
{
    static lg_keyring *kr;
    char err[512];
    if (kr == NULL) {
        CHECK(lg_crypto_init() == 0, "sodium_init");
        kr = lg_keyring_load(itest_env("LEDGER_MASTER_KEY_FILE"), err, sizeof err);
        CHECK(kr != NULL, "key file: %s", err);
    }
    return kr;
}

static void mint(char *out, size_t out_size, json_t *claims)
{
    char *token = lg_jwt_sign(keyring(), claims, 3600);
    json_decref(claims);
    CHECK(token != NULL, "lg_jwt_sign");
    CHECK(strlen(token) < out_size, "token too long");
    snprintf(out, out_size, "%s", token);
    free(token);
}

void itest_token_user(char *out, size_t out_size, const char *tenant_id, const char *user_id,
                      const char *role)
{
    mint(out, out_size,
         json_pack("{s:s, s:s, s:s}", "sub", user_id, "tid", tenant_id, "role", role));
}

void itest_token_system(char *out, size_t out_size, const char *admin_id, const char *role)
{
    mint(out, out_size, json_pack("{s:s, s:b, s:s}", "sub", admin_id, "sys", 1, "role", role));
}

void itest_random_hex(char out[9])
{
    unsigned char r[4];
    CHECK(sodium_init() >= 0, "sodium_init");
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(out, 9, r, sizeof r);
}

void itest_system_admin(const char *prefix, const char *role, char id[64], char email[128])
{
    char hex[9], *v;
    PGconn *m = itest_master_db();
    PGresult *res;
    itest_random_hex(hex);
    snprintf(email, 128, "%s-%s@ledger.example", prefix, hex);
    res = PQexecParams(
        m,
        "INSERT INTO system_admins (email, password_hash, first_name, last_name,"
        " role) VALUES ($1, '!', 'Test', $2::text, $2::system_role) RETURNING id::text",
        2, NULL, (const char *[]){email, role}, NULL, NULL, 0);
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK, "inserting a system admin: %s",
          PQerrorMessage(m));
    v = PQgetvalue(res, 0, 0);
    snprintf(id, 64, "%s", v);
    PQclear(res);
    PQfinish(m);
}

void itest_user_insert(PGconn *db, const char *email, const char *role, const char *password,
                       char id[64])
{
    char hash[LG_PASSWORD_HASH_MAX] = "!";
    PGresult *res;
    CHECK(lg_crypto_init() == 0, "sodium_init");
    if (password != NULL)
        CHECK(lg_password_hash(password, hash) == 0, "hashing a password");
    res = PQexecParams(db,
                       "INSERT INTO users (email, password_hash, first_name, last_name, role)"
                       " VALUES ($1, $2, 'Test', $3::text, $3::user_role) RETURNING id::text",
                       3, NULL, (const char *[]){email, hash, role}, NULL, NULL, 0);
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK, "inserting user %s: %s", email,
          PQerrorMessage(db));
    snprintf(id, 64, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}

long itest_sys_call(const char *credential, const char *method, const char *path, const char *body,
                json_t **json, char **raw)
{
    char auth[2200], *text = NULL;
    const char *headers[3] = {NULL, NULL, NULL};
    int n = 0;
    long status;
    if (credential != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", credential);
        headers[n++] = auth;
    }
    if (body != NULL)
        headers[n++] = "Content-Type: application/json";
    status = itest_http(method, path, headers, body, &text, NULL, 0);
    if (json != NULL)
        *json = text[0] != '\0' ? json_loads(text, 0, NULL) : NULL;
    if (raw != NULL)
        *raw = text;
    else
        free(text);
    return status;
}

void itest_expect_problem(const char *credential, const char *method, const char *path,
                          const char *body, long status, const char *type)
{
    char auth[2200], ct[128], *text = NULL;
    const char *headers[3] = {NULL, NULL, NULL};
    int n = 0;
    long got;
    json_t *o;
    const char *t;
    if (credential != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", credential);
        headers[n++] = auth;
    }
    if (body != NULL)
        headers[n++] = "Content-Type: application/json";
    got = itest_http(method, path, headers, body, &text, ct, sizeof ct);
    o = json_loads(text, 0, NULL);
    t = o != NULL ? json_string_value(json_object_get(o, "type")) : NULL;
    CHECK(got == status, "%s %s: status %ld, expected %ld: %s", method, path, got, status, text);
    CHECK(strncmp(ct, "application/problem+json", 24) == 0, "%s %s: content type %s", method, path,
          ct);
    CHECK(t != NULL && strcmp(t, type) == 0, "%s %s: type %s, expected %s", method, path,
          t != NULL ? t : "(none)", type);
    CHECK(json_string_value(json_object_get(o, "title")) != NULL &&
              json_string_value(json_object_get(o, "detail")) != NULL,
          "%s %s: a problem without title or detail", method, path);
    CHECK(strstr(text, "SELECT") == NULL && strstr(text, "ERROR:") == NULL &&
              strstr(text, "INSERT") == NULL && strstr(text, "::") == NULL,
          "%s %s: SQL in the problem: %s", method, path, text);
    json_decref(o);
    free(text);
}

json_t *itest_expect_status_json(const char *credential, const char *method, const char *path,
                                 const char *body, long status)
{
    char *raw = NULL;
    json_t *o = NULL;
    long got = itest_sys_call(credential, method, path, body, &o, &raw);
    CHECK(got == status, "%s %s: status %ld, expected %ld: %s", method, path, got, status, raw);
    CHECK(status == 204 ? raw[0] == '\0' : o != NULL, "%s %s: body %s", method, path, raw);
    free(raw);
    return o;
}

const char *itest_var_dir(void)
{
    static char dir[1024];
    const char *key = itest_env("LEDGER_MASTER_KEY_FILE");
    const char *slash = strrchr(key, '/');
    CHECK(slash != NULL, "LEDGER_MASTER_KEY_FILE is not a path");
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - key), key);
    return dir;
}

int itest_log_count(const char *name, const char *needle)
{
    char path[1200], *line = NULL;
    size_t cap = 0;
    int n = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/logs/%s.log", itest_var_dir(), name);
    f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    while (getline(&line, &cap, f) >= 0)
        if (strstr(line, needle) != NULL)
            n++;
    free(line);
    fclose(f);
    return n;
}
