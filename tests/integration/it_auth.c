/*
 * Authentication end to end:
 *   - ledgerctl makes a tenant with its first SUPER_ADMIN, staff users and a system admin, each
 *     password read from stdin and refused when weak; the hashes are Argon2id;
 *   - POST /v1/auth/login by X-Tenant and by Host (subdomain, then slug); the token works on the
 *     bank's API with the user's role; wrong password, unknown e-mail, unknown tenant, deleted and
 *     inactive users all get the same 401 body after comparable work; last_login_at/ip recorded;
 *   - lockout after 5 failures (423 with Retry-After, even with the right password), unlock once
 *     locked_until has passed, a fresh count after an expired lock, an administrator's lock;
 *   - a hash made with weaker parameters is re-made at login;
 *   - tokens expired, tampered, signed with another key, alg none, of another tenant (X-Tenant,
 *     Host), of a deactivated user (within the cache time) are refused;
 *   - system admin login, its token refused on the bank's API and a bank's token on the system
 *     plane, the per-(e-mail, IP) throttle (429);
 *   - API keys: create (shown once), list (paged, without secrets), revoke (refused at once);
 *   - no password, hash, token or key appears in audit_logs or tenant_audit_logs.
 */
#include "itest.h"
#include "itest_auth.h"

#include "lg_password.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int checks;

#define ADMIN_PW    "Adm1n-correct-horse"
#define STAFF_PW    "Staff-battery-42"
#define SYSTEM_PW   "System-staple-4711"
#define WRONG_PW    "Wrong-password-99"
#define MAX_SECRETS 64

/* Every secret the test hands out or learns, to be searched for in the audit logs. */
static char *secrets[MAX_SECRETS];
static int n_secrets;

static void keep_secret(const char *s)
{
    CHECK(n_secrets < MAX_SECRETS, "too many secrets");
    secrets[n_secrets++] = strdup(s);
}

static char tenant_slug[64], tenant_sub[64], tenant_id[64];
static itest_tenant other; /* tenant B */

static void expect_status(itest_answer *a, long status, const char *type, const char *what)
{
    CHECK(a->status == status, "%s: status %ld, expected %ld: %s", what, a->status, status,
          a->body);
    if (type != NULL) {
        CHECK(strncmp(a->content_type, "application/problem+json", 24) == 0, "%s: content type %s",
              what, a->content_type);
        CHECK(strcmp(itest_answer_type(a), type) == 0, "%s: type %s, expected %s", what,
              itest_answer_type(a), type);
    }
    checks++;
}

/* One call, checked, freed. */
static void expect_call(const char *method, const char *path, const char *bearer,
                        const char *x_tenant, const char *host, const char *json, long status,
                        const char *type, const char *what)
{
    itest_answer a = itest_call(method, path, bearer, x_tenant, host, json);
    expect_status(&a, status, type, what);
    itest_answer_free(&a);
}

static char *tenant_value(const char *sql, const char *param)
{
    itest_tenant t;
    PGconn *db;
    char *v;
    memset(&t, 0, sizeof t);
    snprintf(t.slug, sizeof t.slug, "%s", tenant_slug);
    db = itest_tenant_db(&t, NULL);
    v = itest_sql_value(db, sql, param);
    PQfinish(db);
    return v;
}

static long tenant_exec(const char *sql, const char *param)
{
    itest_tenant t;
    PGconn *db;
    long n;
    memset(&t, 0, sizeof t);
    snprintf(t.slug, sizeof t.slug, "%s", tenant_slug);
    db = itest_tenant_db(&t, NULL);
    n = itest_sql_exec(db, sql, param);
    PQfinish(db);
    return n;
}

static void create_user(const char *email, const char *role)
{
    char id[64];
    int rc = itest_ledgerctl_stdin(STAFF_PW "\n", id, sizeof id, "user", "create", "--tenant",
                                   tenant_slug, "--email", email, "--first-name", "Test",
                                   "--last-name", role, "--role", role, NULL);
    CHECK(rc == 0 && strlen(id) == 36, "user create %s exited %d", email, rc);
}

/* ------------------------------------------------------------------ provisioning */

static void provision(void)
{
    unsigned char r[4];
    char hex[9], out[256], email[128];
    int rc;
    char *v;

    randombytes_buf(r, sizeof r);
    sodium_bin2hex(hex, sizeof hex, r, sizeof r);
    snprintf(tenant_slug, sizeof tenant_slug, "auth-%s", hex);
    snprintf(tenant_sub, sizeof tenant_sub, "a%s", hex);
    snprintf(email, sizeof email, "admin@%s.example", tenant_slug);

    /* A weak first password creates nothing. */
    rc =
        itest_ledgerctl_stdin("short\n", out, sizeof out, "tenant", "create", "--slug", tenant_slug,
                              "--name", "Auth Bank", "--subdomain", tenant_sub, "--admin-email",
                              email, "--admin-dsn", itest_env("LEDGER_ADMIN_DSN"), NULL);
    CHECK(rc != 0, "tenant create accepted a weak admin password");
    rc = itest_ledgerctl(out, sizeof out, "tenant", "show", "--slug", tenant_slug, NULL);
    CHECK(rc != 0, "a tenant was created despite the weak password");
    checks++;

    rc = itest_ledgerctl_stdin(ADMIN_PW "\n", tenant_id, sizeof tenant_id, "tenant", "create",
                               "--slug", tenant_slug, "--name", "Auth Bank", "--subdomain",
                               tenant_sub, "--admin-email", email, "--admin-dsn",
                               itest_env("LEDGER_ADMIN_DSN"), NULL);
    CHECK(rc == 0 && strlen(tenant_id) == 36, "tenant create --admin-email exited %d", rc);
    v = tenant_value("SELECT password_hash FROM users WHERE email = $1 AND role = 'SUPER_ADMIN'",
                     email);
    CHECK(strncmp(v, "$argon2id$", 10) == 0, "the admin's hash is %.12s...", v);
    keep_secret(v);
    free(v);
    v = tenant_value("SELECT count(*)::text FROM audit_logs WHERE action = 'CREATE_USER'"
                     " AND changes->'email'->>'after' = $1",
                     email);
    CHECK(strcmp(v, "1") == 0, "no CREATE_USER audit row for the first admin");
    free(v);
    {
        PGconn *m = itest_master_db();
        v = itest_sql_value(m,
                            "SELECT count(*)::text FROM tenant_audit_logs WHERE tenant_id = $1"
                            " AND action = 'ADMIN_USER_CREATED'",
                            tenant_id);
        CHECK(strcmp(v, "1") == 0, "no ADMIN_USER_CREATED tenant audit row");
        free(v);
        PQfinish(m);
    }
    checks++;

    /* Staff, with a weak password refused first. */
    snprintf(email, sizeof email, "weak@%s.example", tenant_slug);
    rc = itest_ledgerctl_stdin("alllowercaseletters\n", out, sizeof out, "user", "create",
                               "--tenant", tenant_slug, "--email", email, "--first-name", "W",
                               "--last-name", "Eak", "--role", "TELLER", NULL);
    CHECK(rc != 0, "user create accepted a one-class password");
    v = tenant_value("SELECT count(*)::text FROM users WHERE email = $1", email);
    CHECK(strcmp(v, "0") == 0, "a user was created despite the weak password");
    free(v);
    checks++;
    for (size_t i = 0; i < 6; i++) {
        static const char *const who[][2] = {{"manager", "MANAGER"}, {"teller", "TELLER"},
                                             {"lockme", "TELLER"},   {"inactive", "TELLER"},
                                             {"deleted", "TELLER"},  {"relock", "TELLER"}};
        snprintf(email, sizeof email, "%s@%s.example", who[i][0], tenant_slug);
        create_user(email, who[i][1]);
    }
    snprintf(email, sizeof email, "inactive@%s.example", tenant_slug);
    tenant_exec("UPDATE users SET status = 'INACTIVE' WHERE email = $1", email);
    snprintf(email, sizeof email, "deleted@%s.example", tenant_slug);
    tenant_exec("UPDATE users SET deleted_at = now() WHERE email = $1", email);

    itest_tenant_create(&other, "authb", NULL, 0, "USD");
    keep_secret(other.api_key);
}

/* ------------------------------------------------------------------ logins */

static char admin_email[128], teller_email[128];

static void login_succeeds(char **admin_token)
{
    char host[160], *v;
    json_t *claims, *me;
    itest_answer a;

    snprintf(admin_email, sizeof admin_email, "admin@%s.example", tenant_slug);
    snprintf(teller_email, sizeof teller_email, "teller@%s.example", tenant_slug);

    a = itest_login(0, tenant_slug, NULL, admin_email, ADMIN_PW);
    expect_status(&a, 200, NULL, "login by X-Tenant");
    {
        json_t *o = json_loads(a.body, 0, NULL);
        CHECK(o != NULL && strcmp(itest_json_str(o, "tokenType"), "Bearer") == 0 &&
                  json_integer_value(json_object_get(o, "expiresIn")) == 900 &&
                  json_object_size(o) == 3,
              "login answer %s", a.body);
        *admin_token = strdup(itest_json_str(o, "accessToken"));
        json_decref(o);
    }
    itest_answer_free(&a);
    keep_secret(*admin_token);
    claims = itest_jwt_claims(*admin_token);
    v = tenant_value("SELECT id::text FROM users WHERE email = $1", admin_email);
    CHECK(strcmp(itest_json_str(claims, "role"), "SUPER_ADMIN") == 0 &&
              strcmp(itest_json_str(claims, "tid"), tenant_id) == 0 &&
              strcmp(itest_json_str(claims, "sub"), v) == 0 &&
              json_integer_value(json_object_get(claims, "exp")) -
                      json_integer_value(json_object_get(claims, "iat")) ==
                  900,
          "token claims: role %s tid %s sub %s", itest_json_str(claims, "role"),
          itest_json_str(claims, "tid"), itest_json_str(claims, "sub"));
    json_decref(claims);
    free(v);
    checks++;

    /* The token opens the bank's API, as the user, with the user's role. */
    expect_call("GET", "/v1/transactions?limit=1", *admin_token, NULL, NULL, NULL, 200, NULL,
                "GET /v1/transactions with a user token");
    a = itest_call("GET", "/v1/auth/me", *admin_token, NULL, NULL, NULL);
    expect_status(&a, 200, NULL, "GET /v1/auth/me");
    me = json_loads(a.body, 0, NULL);
    CHECK(strcmp(itest_json_str(me, "role"), "SUPER_ADMIN") == 0 &&
              strcmp(itest_json_str(me, "kind"), "USER") == 0 &&
              strcmp(itest_json_str(me, "email"), admin_email) == 0 &&
              strcmp(itest_json_str(json_object_get(me, "tenant"), "slug"), tenant_slug) == 0,
          "me: %s", a.body);
    json_decref(me);
    itest_answer_free(&a);

    /* Recorded: when and from where. */
    v = tenant_value("SELECT coalesce(last_login_ip, '') || ' ' ||"
                     " (last_login_at > now() - interval '1 minute')::text"
                     " || ' ' || failed_login_attempts FROM users WHERE email = $1",
                     admin_email);
    CHECK(strcmp(v, "127.0.0.1 true 0") == 0, "last login ip, recent, failures: %s", v);
    free(v);
    checks++;

    /* The tenant by Host: its subdomain, else its slug; the e-mail's case does not matter. */
    snprintf(host, sizeof host, "%s.bank.test", tenant_sub);
    a = itest_login(0, NULL, host, teller_email, STAFF_PW);
    expect_status(&a, 200, NULL, "login by Host subdomain");
    itest_answer_free(&a);
    snprintf(host, sizeof host, "%s.bank.test:443", tenant_slug);
    {
        char upper[128];
        snprintf(upper, sizeof upper, "%s", teller_email);
        for (char *c = upper; *c != '@'; c++)
            *c = (char)(*c - 'a' + 'A');
        a = itest_login(0, NULL, host, upper, STAFF_PW);
    }
    expect_status(&a, 200, NULL, "login by Host slug, e-mail in upper case");
    itest_answer_free(&a);
    snprintf(host, sizeof host, "%s.bank.test", tenant_sub);
    a = itest_login(0, tenant_slug, host, teller_email, STAFF_PW);
    expect_status(&a, 200, NULL, "login with Host and X-Tenant agreeing");
    itest_answer_free(&a);
    a = itest_login(0, tenant_slug, "api.bank.test", teller_email, STAFF_PW);
    expect_status(&a, 200, NULL, "login with a Host that names no tenant and X-Tenant");
    itest_answer_free(&a);
    a = itest_login(0, other.slug, host, teller_email, STAFF_PW);
    expect_status(&a, 403, "/problems/tenant-mismatch", "login with Host and X-Tenant apart");
    itest_answer_free(&a);
    a = itest_login(0, NULL, NULL, teller_email, STAFF_PW);
    expect_status(&a, 400, "/problems/tenant-required", "login naming no tenant (an IP host)");
    itest_answer_free(&a);
    a = itest_login(0, NULL, "localhost", teller_email, STAFF_PW);
    expect_status(&a, 400, "/problems/tenant-required", "login naming no tenant (localhost)");
    itest_answer_free(&a);
}

static double elapsed_ms(int64_t start)
{
    return (double)(itest_now_ms() - start);
}

static void login_fails_alike(void)
{
    char email[128], *v;
    itest_answer wrong, unknown, a;
    double t_wrong = 1e9, t_unknown = 1e9;

    for (int i = 0; i < 3; i++) {
        int64_t t0 = itest_now_ms();
        wrong = itest_login(0, tenant_slug, NULL, teller_email, WRONG_PW);
        if (elapsed_ms(t0) < t_wrong)
            t_wrong = elapsed_ms(t0);
        snprintf(email, sizeof email, "nobody%d@%s.example", i, tenant_slug);
        t0 = itest_now_ms();
        unknown = itest_login(0, tenant_slug, NULL, email, WRONG_PW);
        if (elapsed_ms(t0) < t_unknown)
            t_unknown = elapsed_ms(t0);
        expect_status(&wrong, 401, "/problems/invalid-credentials", "wrong password");
        expect_status(&unknown, 401, "/problems/invalid-credentials", "unknown e-mail");
        CHECK(strcmp(wrong.body, unknown.body) == 0, "the bodies differ:\n  %s\n  %s", wrong.body,
              unknown.body);
        if (i < 2) {
            itest_answer_free(&unknown);
            itest_answer_free(&wrong);
        }
    }
    /* The unknown e-mail costs the same Argon2id work as a wrong password. */
    printf("  fastest wrong password %.0f ms, fastest unknown e-mail %.0f ms\n", t_wrong,
           t_unknown);
    CHECK(t_unknown >= 0.4 * t_wrong,
          "an unknown e-mail answers in %.0f ms, a wrong password in"
          " %.0f ms: no decoy hashing?",
          t_unknown, t_wrong);
    checks++;
    /* The three wrong passwords above count (then a success resets the count). */
    v = tenant_value("SELECT failed_login_attempts::text FROM users WHERE email = $1",
                     teller_email);
    CHECK(strcmp(v, "3") == 0, "failed_login_attempts is %s after 3 failures", v);
    free(v);
    checks++;

    a = itest_login(0, "no-such-bank-xyz", NULL, teller_email, WRONG_PW);
    expect_status(&a, 401, "/problems/invalid-credentials", "unknown tenant");
    CHECK(strcmp(a.body, wrong.body) == 0, "unknown tenant body %s", a.body);
    itest_answer_free(&a);
    snprintf(email, sizeof email, "inactive@%s.example", tenant_slug);
    a = itest_login(0, tenant_slug, NULL, email, STAFF_PW);
    expect_status(&a, 401, "/problems/invalid-credentials", "an INACTIVE user, right password");
    CHECK(strcmp(a.body, wrong.body) == 0, "inactive user body %s", a.body);
    itest_answer_free(&a);
    snprintf(email, sizeof email, "deleted@%s.example", tenant_slug);
    a = itest_login(0, tenant_slug, NULL, email, STAFF_PW);
    expect_status(&a, 401, "/problems/invalid-credentials", "a deleted user, right password");
    CHECK(strcmp(a.body, wrong.body) == 0, "deleted user body %s", a.body);
    itest_answer_free(&a);
    snprintf(email, sizeof email, "system@%s.internal", tenant_slug);
    a = itest_login(0, tenant_slug, NULL, email, "!");
    expect_status(&a, 401, "/problems/invalid-credentials", "a user without a password");
    itest_answer_free(&a);
    itest_answer_free(&unknown);
    itest_answer_free(&wrong);
    free(itest_login_token(0, tenant_slug, NULL, teller_email, STAFF_PW));
    v = tenant_value("SELECT failed_login_attempts::text FROM users WHERE email = $1",
                     teller_email);
    CHECK(strcmp(v, "0") == 0, "failed_login_attempts is %s after a success", v);
    free(v);
    checks++;

    /* Bodies that are not a login. */
    expect_call("POST", "/v1/auth/login", NULL, tenant_slug, NULL, "{\"email\":", 400,
                "/problems/invalid-json", "malformed JSON");
    expect_call("POST", "/v1/auth/login", NULL, tenant_slug, NULL, "[]", 400,
                "/problems/invalid-json", "not an object");
    expect_call("POST", "/v1/auth/login", NULL, tenant_slug, NULL,
                "{\"email\":\"a@b.c\",\"password\":\"x\",\"otp\":\"1\"}", 422,
                "/problems/unknown-field", "unknown field");
    expect_call("POST", "/v1/auth/login", NULL, tenant_slug, NULL,
                "{\"email\":\"a@b.c\",\"password\":12345}", 422, "/problems/invalid-field",
                "password of the wrong type");
    expect_call("POST", "/v1/auth/login", NULL, tenant_slug, NULL, "{\"email\":\"a@b.c\"}", 422,
                "/problems/missing-field", "no password");
    expect_call("GET", "/v1/auth/login", NULL, tenant_slug, NULL, NULL, 405,
                "/problems/method-not-allowed", "GET on the login");
    {
        itest_answer b = itest_call("POST", "/v1/auth/login", NULL, tenant_slug, NULL, NULL);
        expect_status(&b, 415, "/problems/unsupported-media-type", "a login without JSON");
        itest_answer_free(&b);
    }
}

static void lockout(void)
{
    char email[128], *v;
    itest_answer a;

    snprintf(email, sizeof email, "lockme@%s.example", tenant_slug);
    for (int i = 1; i <= 4; i++) {
        a = itest_login(0, tenant_slug, NULL, email, WRONG_PW);
        expect_status(&a, 401, "/problems/invalid-credentials", "failure before the lock");
        itest_answer_free(&a);
    }
    a = itest_login(0, tenant_slug, NULL, email, WRONG_PW);
    expect_status(&a, 423, "/problems/account-locked", "the fifth failure locks");
    CHECK(a.retry_after > 890 && a.retry_after <= 900, "Retry-After %ld after locking",
          a.retry_after);
    itest_answer_free(&a);
    v = tenant_value("SELECT status || ' ' || failed_login_attempts || ' ' ||"
                     " (locked_until BETWEEN now() + interval '890 seconds'"
                     " AND now() + interval '900 seconds')::text FROM users WHERE email = $1",
                     email);
    CHECK(strcmp(v, "LOCKED 5 true") == 0, "after 5 failures: %s", v);
    free(v);
    a = itest_login(0, tenant_slug, NULL, email, STAFF_PW);
    expect_status(&a, 423, "/problems/account-locked", "the right password while locked");
    CHECK(a.retry_after > 0 && a.retry_after <= 900, "Retry-After %ld while locked", a.retry_after);
    itest_answer_free(&a);
    v = tenant_value("SELECT count(*)::text FROM audit_logs WHERE action = 'ACCOUNT_LOCKED'"
                     " AND resource_id = (SELECT id::text FROM users WHERE email = $1)"
                     " AND changes->'status'->>'after' = 'LOCKED'",
                     email);
    CHECK(strcmp(v, "1") == 0, "%s ACCOUNT_LOCKED audit rows", v);
    free(v);

    /* Once locked_until has passed, the right password unlocks. */
    tenant_exec("UPDATE users SET locked_until = now() - interval '1 second' WHERE email = $1",
                email);
    a = itest_login(0, tenant_slug, NULL, email, STAFF_PW);
    expect_status(&a, 200, NULL, "the right password after the lock");
    itest_answer_free(&a);
    v = tenant_value("SELECT status || ' ' || failed_login_attempts || ' ' ||"
                     " (locked_until IS NULL)::text FROM users WHERE email = $1",
                     email);
    CHECK(strcmp(v, "ACTIVE 0 true") == 0, "after unlocking: %s", v);
    free(v);

    /* After an expired lock a wrong password starts a new count instead of locking again. */
    snprintf(email, sizeof email, "relock@%s.example", tenant_slug);
    tenant_exec("UPDATE users SET status = 'LOCKED', failed_login_attempts = 5,"
                " locked_until = now() - interval '1 second' WHERE email = $1",
                email);
    a = itest_login(0, tenant_slug, NULL, email, WRONG_PW);
    expect_status(&a, 401, "/problems/invalid-credentials", "a wrong password after a lock");
    itest_answer_free(&a);
    v = tenant_value("SELECT status || ' ' || failed_login_attempts FROM users WHERE email = $1",
                     email);
    CHECK(strcmp(v, "ACTIVE 1") == 0, "a failure after an expired lock: %s", v);
    free(v);

    /* Locked by an administrator (no locked_until): no way in, no Retry-After. */
    tenant_exec("UPDATE users SET status = 'LOCKED', locked_until = NULL WHERE email = $1", email);
    a = itest_login(0, tenant_slug, NULL, email, STAFF_PW);
    expect_status(&a, 423, "/problems/account-locked", "an administrator's lock");
    CHECK(a.retry_after == 0, "Retry-After %ld on an open-ended lock", a.retry_after);
    itest_answer_free(&a);
}

static void rehash(void)
{
    char weak[LG_PASSWORD_HASH_MAX], email[128], *after, *v;
    itest_tenant t;
    PGconn *db;

    /* A hash made with weaker parameters than the API's (its defaults). */
    setenv("LEDGER_PWHASH_OPSLIMIT", "1", 1);
    setenv("LEDGER_PWHASH_MEMLIMIT_KIB", "8192", 1);
    CHECK(lg_password_hash(STAFF_PW, weak) == 0, "hashing");
    unsetenv("LEDGER_PWHASH_OPSLIMIT");
    unsetenv("LEDGER_PWHASH_MEMLIMIT_KIB");
    CHECK(lg_password_needs_rehash(weak), "the weak hash %s does not need a rehash", weak);
    keep_secret(weak);
    snprintf(email, sizeof email, "rehash@%s.example", tenant_slug);
    memset(&t, 0, sizeof t);
    snprintf(t.slug, sizeof t.slug, "%s", tenant_slug);
    db = itest_tenant_db(&t, NULL);
    {
        PGresult *r = PQexecParams(db,
                                   "INSERT INTO users (email, password_hash, first_name,"
                                   " last_name, role) VALUES ($1, $2, 'Re', 'Hash', 'TELLER')",
                                   2, NULL, (const char *[]){email, weak}, NULL, NULL, 0);
        CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "insert: %s", PQerrorMessage(db));
        PQclear(r);
    }
    free(itest_login_token(0, tenant_slug, NULL, email, STAFF_PW));
    after = itest_sql_value(db, "SELECT password_hash FROM users WHERE email = $1", email);
    keep_secret(after);
    CHECK(strcmp(after, weak) != 0 && strncmp(after, "$argon2id$", 10) == 0 &&
              strstr(after, "m=19456,t=3") != NULL && !lg_password_needs_rehash(after),
          "the hash after login: %s", after);
    CHECK(lg_password_verify(after, STAFF_PW), "the new hash does not verify the password");
    v = itest_sql_value(db,
                        "SELECT count(*)::text FROM audit_logs WHERE action = 'LOGIN'"
                        " AND resource_id = (SELECT id::text FROM users WHERE email = $1)"
                        " AND metadata->>'passwordRehashed' = 'true'",
                        email);
    CHECK(strcmp(v, "1") == 0, "no LOGIN audit row saying the hash was re-made");
    free(v);
    /* The new hash works, and is kept at the next login. */
    free(itest_login_token(0, tenant_slug, NULL, email, STAFF_PW));
    v = itest_sql_value(db, "SELECT password_hash FROM users WHERE email = $1", email);
    CHECK(strcmp(v, after) == 0, "the hash changed again at the second login");
    free(v);
    free(after);
    PQfinish(db);
    checks++;
}

/* ------------------------------------------------------------------ tokens */

static char *replace_part(const char *token, int index, const char *text)
{
    const char *dot1 = strchr(token, '.'), *dot2 = strchr(dot1 + 1, '.');
    char *b64 = itest_b64url(text != NULL ? text : ""),
         *out = malloc(strlen(token) + strlen(b64) + 8);
    size_t size = strlen(token) + strlen(b64) + 8;
    if (index == 0)
        snprintf(out, size, "%s%s", b64, dot1);
    else if (index == 1)
        snprintf(out, size, "%.*s.%s%s", (int)(dot1 - token), token, b64, dot2);
    else
        snprintf(out, size, "%.*s.", (int)(dot2 - token), token);
    free(b64);
    return out;
}

static void tokens(const char *admin_token)
{
    char claims[512], host[160], *user_id, *t, *t2;
    json_t *c;
    char *payload;
    int64_t start;

    user_id = tenant_value("SELECT id::text FROM users WHERE email = $1", admin_email);
    snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"tid\":\"%s\",\"role\":\"SUPER_ADMIN\"}",
             user_id, tenant_id);

    t = itest_jwt_mint(claims, 60);
    expect_call("GET", "/v1/auth/me", t, NULL, NULL, NULL, 200, NULL, "a minted token");
    free(t);
    t = itest_jwt_mint(claims, -5);
    expect_call("GET", "/v1/auth/me", t, NULL, NULL, NULL, 401, "/problems/unauthenticated",
                "an expired token");
    free(t);
    t = itest_jwt_mint_foreign(claims, 60);
    expect_call("GET", "/v1/auth/me", t, NULL, NULL, NULL, 401, "/problems/unauthenticated",
                "a token signed with another key");
    free(t);

    /* Tampered: the payload of a real token changed (another role), the signature kept. */
    c = itest_jwt_claims(admin_token);
    json_object_set_new(c, "role", json_string("MANAGER"));
    json_object_set_new(c, "exp", json_integer(json_integer_value(json_object_get(c, "exp")) + 1));
    payload = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    t = replace_part(admin_token, 1, payload);
    expect_call("GET", "/v1/auth/me", t, NULL, NULL, NULL, 401, "/problems/unauthenticated",
                "a tampered payload");
    free(t);
    /* alg none: the same payload, no signature. */
    t2 = replace_part(admin_token, 0, "{\"alg\":\"none\",\"typ\":\"JWT\"}");
    t = replace_part(t2, 2, NULL);
    expect_call("GET", "/v1/auth/me", t, NULL, NULL, NULL, 401, "/problems/unauthenticated",
                "alg none");
    free(t);
    free(t2);
    free(payload);
    json_decref(c);
    snprintf(claims, sizeof claims,
             "{\"sub\":\"%s\",\"sys\":true,\"tid\":\"%s\",\"role\":\"SUPER_ADMIN\"}", user_id,
             tenant_id);
    t = itest_jwt_mint(claims, 60);
    expect_call("GET", "/v1/auth/me", t, NULL, NULL, NULL, 401, "/problems/unauthenticated",
                "a system claim with a tenant");
    free(t);
    expect_call("GET", "/v1/auth/me", "not.a.token", NULL, NULL, NULL, 401,
                "/problems/unauthenticated", "garbage");

    /* Another tenant: by X-Tenant, by Host, and a token claiming the other tenant. */
    expect_call("GET", "/v1/transactions?limit=1", admin_token, other.slug, NULL, NULL, 403,
                "/problems/tenant-mismatch", "a token of A with X-Tenant B");
    snprintf(host, sizeof host, "%s.bank.test", other.slug);
    expect_call("GET", "/v1/transactions?limit=1", admin_token, NULL, host, NULL, 403,
                "/problems/tenant-mismatch", "a token of A at B's host");
    expect_call("GET", "/v1/auth/me", other.api_key, NULL, NULL, NULL, 200, NULL, "B's key");
    snprintf(host, sizeof host, "%s.bank.test", tenant_sub);
    expect_call("GET", "/v1/transactions?limit=1", other.api_key, NULL, host, NULL, 403,
                "/problems/tenant-mismatch", "B's API key at A's host");
    expect_call("GET", "/v1/transactions?limit=1", admin_token, tenant_slug, host, NULL, 200, NULL,
                "a token of A at A's host with X-Tenant A");
    expect_call("GET", "/v1/transactions?limit=1", admin_token, NULL, "api.bank.test", NULL, 200,
                NULL, "a token of A at a host that names no tenant");
    snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"tid\":\"%s\",\"role\":\"SUPER_ADMIN\"}",
             user_id, other.id);
    t = itest_jwt_mint(claims, 60);
    expect_call("GET", "/v1/auth/me", t, NULL, NULL, NULL, 401, "/problems/unauthenticated",
                "A's user claimed in tenant B");
    free(t);
    free(user_id);

    /* A role the route does not allow. */
    t = itest_login_token(0, tenant_slug, NULL, teller_email, STAFF_PW);
    keep_secret(t);
    expect_call("POST", "/v1/api-keys", t, NULL, NULL, "{\"name\":\"x\",\"role\":\"TELLER\"}", 403,
                "/problems/forbidden", "a TELLER creating an API key");
    expect_call("GET", "/v1/api-keys", t, NULL, NULL, NULL, 403, "/problems/forbidden",
                "a TELLER listing API keys");

    /* A deactivated user's token stops within the cache time (10 s). */
    expect_call("GET", "/v1/auth/me", t, NULL, NULL, NULL, 200, NULL, "the teller's token");
    tenant_exec("UPDATE users SET status = 'INACTIVE' WHERE email = $1", teller_email);
    start = itest_now_ms();
    for (;;) {
        itest_answer a = itest_call("GET", "/v1/transactions?limit=1", t, NULL, NULL, NULL);
        long status = a.status;
        itest_answer_free(&a);
        if (status == 401)
            break;
        CHECK(status == 200, "a deactivated user's token answered %ld", status);
        CHECK(itest_now_ms() - start < 15000, "a deactivated user's token works after 15 s");
        usleep(250000);
    }
    printf("  a deactivated user's token refused after %.1f s\n",
           (double)(itest_now_ms() - start) / 1000.0);
    checks++;
    tenant_exec("UPDATE users SET status = 'ACTIVE' WHERE email = $1", teller_email);
    free(t);
}

/* ------------------------------------------------------------------ system admins */

static void system_admins(const char *admin_token)
{
    unsigned char r[4];
    char hex[9], email[128], email2[128], id[64], out[128], *token, *v;
    json_t *claims;
    itest_answer a, unknown;
    PGconn *m;
    int rc;

    randombytes_buf(r, sizeof r);
    sodium_bin2hex(hex, sizeof hex, r, sizeof r);
    snprintf(email, sizeof email, "ops-%s@ledger.example", hex);
    snprintf(email2, sizeof email2, "ops2-%s@ledger.example", hex);
    rc = itest_ledgerctl_stdin("password\n", out, sizeof out, "admin", "create", "--email", email,
                               "--first-name", "Op", "--last-name", "Erator", "--role", "ADMIN",
                               NULL);
    CHECK(rc != 0, "admin create accepted a weak password");
    rc = itest_ledgerctl_stdin(SYSTEM_PW "\n", id, sizeof id, "admin", "create", "--email", email,
                               "--first-name", "Op", "--last-name", "Erator", "--role", "ADMIN",
                               NULL);
    CHECK(rc == 0 && strlen(id) == 36, "admin create exited %d", rc);
    rc = itest_ledgerctl_stdin(SYSTEM_PW "\n", out, sizeof out, "admin", "create", "--email", email,
                               "--first-name", "Op", "--last-name", "Again", NULL);
    CHECK(rc != 0, "a second admin with the same e-mail was created");
    rc = itest_ledgerctl_stdin(SYSTEM_PW "\n", out, sizeof out, "admin", "create", "--email",
                               email2, "--first-name", "Sup", "--last-name", "Port", "--role",
                               "SUPPORT", NULL);
    CHECK(rc == 0, "admin create (SUPPORT) exited %d", rc);
    m = itest_master_db();
    v = itest_sql_value(m, "SELECT password_hash FROM system_admins WHERE id = $1", id);
    CHECK(strncmp(v, "$argon2id$", 10) == 0, "the system admin's hash is %.12s...", v);
    keep_secret(v);
    free(v);
    checks++;

    token = itest_login_token(1, NULL, NULL, email, SYSTEM_PW);
    keep_secret(token);
    claims = itest_jwt_claims(token);
    CHECK(json_is_true(json_object_get(claims, "sys")) &&
              strcmp(itest_json_str(claims, "role"), "ADMIN") == 0 &&
              strcmp(itest_json_str(claims, "sub"), id) == 0 &&
              json_object_get(claims, "tid") == NULL,
          "system token claims");
    json_decref(claims);
    a = itest_call("GET", "/v1/system/auth/me", token, NULL, NULL, NULL);
    expect_status(&a, 200, NULL, "GET /v1/system/auth/me");
    CHECK(strstr(a.body, "\"role\":\"ADMIN\"") != NULL &&
              strstr(a.body, "\"kind\":\"SYSTEM_ADMIN\"") != NULL &&
              strstr(a.body, "\"tenant\":null") != NULL,
          "system me: %s", a.body);
    itest_answer_free(&a);
    v = itest_sql_value(m,
                        "SELECT (last_login_at > now() - interval '1 minute')::text"
                        " FROM system_admins WHERE id = $1",
                        id);
    CHECK(strcmp(v, "true") == 0, "system_admins.last_login_at not recorded");
    free(v);

    /* The planes do not mix. */
    expect_call("GET", "/v1/transactions?limit=1", token, NULL, NULL, NULL, 403,
                "/problems/forbidden", "a system token on the bank's transactions");
    expect_call("GET", "/v1/auth/me", token, NULL, NULL, NULL, 403, "/problems/forbidden",
                "a system token on a tenant route");
    expect_call("POST", "/v1/api-keys", token, tenant_slug, NULL,
                "{\"name\":\"x\",\"role\":\"TELLER\"}", 403, "/problems/forbidden",
                "a system token creating a bank's API key");
    expect_call("GET", "/v1/system/auth/me", admin_token, NULL, NULL, NULL, 403,
                "/problems/forbidden", "a bank's token on the system plane");
    expect_call("GET", "/v1/system/auth/me", other.api_key, NULL, NULL, NULL, 403,
                "/problems/forbidden", "a bank's API key on the system plane");

    /* Failures look alike, and are throttled per (e-mail, IP). */
    a = itest_login(1, NULL, NULL, email2, WRONG_PW);
    expect_status(&a, 401, "/problems/invalid-credentials", "system: wrong password");
    unknown = itest_login(1, NULL, NULL, "nobody@ledger.example", WRONG_PW);
    expect_status(&unknown, 401, "/problems/invalid-credentials", "system: unknown e-mail");
    CHECK(strcmp(a.body, unknown.body) == 0, "system bodies differ:\n  %s\n  %s", a.body,
          unknown.body);
    itest_answer_free(&a);
    itest_answer_free(&unknown);
    for (int i = 2; i <= 4; i++) {
        a = itest_login(1, NULL, NULL, email2, WRONG_PW);
        expect_status(&a, 401, "/problems/invalid-credentials", "system: failure");
        itest_answer_free(&a);
    }
    a = itest_login(1, NULL, NULL, email2, WRONG_PW);
    expect_status(&a, 429, "/problems/too-many-attempts", "system: the fifth failure");
    CHECK(a.retry_after > 0 && a.retry_after <= 900, "Retry-After %ld", a.retry_after);
    itest_answer_free(&a);
    a = itest_login(1, NULL, NULL, email2, SYSTEM_PW);
    expect_status(&a, 429, "/problems/too-many-attempts", "system: right password, throttled");
    itest_answer_free(&a);
    /* Another admin from the same address is not held back. */
    free(itest_login_token(1, NULL, NULL, email, SYSTEM_PW));
    checks++;

    v = itest_sql_value(m,
                        "SELECT (SELECT count(*) FROM tenant_audit_logs"
                        "  WHERE action = 'SYSTEM_ADMIN_CREATED' AND metadata->>'adminId' = $1)"
                        " || ' ' || (SELECT count(*) FROM tenant_audit_logs"
                        "  WHERE action = 'SYSTEM_ADMIN_LOGIN' AND metadata->>'adminId' = $1)",
                        id);
    CHECK(strcmp(v, "1 2") == 0, "system audit rows (created, logins): %s", v);
    free(v);
    v = itest_sql_value(m,
                        "SELECT count(*)::text FROM tenant_audit_logs"
                        " WHERE action = 'SYSTEM_ADMIN_LOGIN_FAILED' AND performed_by = $1",
                        email2);
    CHECK(strcmp(v, "5") == 0, "%s SYSTEM_ADMIN_LOGIN_FAILED rows (5 checked, 1 throttled)", v);
    free(v);
    checks++;
    PQfinish(m);
    free(token);
}

/* ------------------------------------------------------------------ API keys */

static char *create_key(const char *admin_token, const char *name, const char *role, char id[64])
{
    char body[256];
    itest_answer a;
    json_t *o;
    char *key;
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"role\":\"%s\"}", name, role);
    a = itest_call("POST", "/v1/api-keys", admin_token, NULL, NULL, body);
    expect_status(&a, 201, NULL, "POST /v1/api-keys");
    o = json_loads(a.body, 0, NULL);
    CHECK(o != NULL && strncmp(itest_json_str(o, "key"), "lk_", 3) == 0 &&
              strcmp(itest_json_str(o, "role"), role) == 0 &&
              strcmp(itest_json_str(o, "name"), name) == 0 &&
              strncmp(itest_json_str(o, "key"), itest_json_str(o, "prefix"), 10) == 0 &&
              json_is_null(json_object_get(o, "revokedAt")),
          "created key: %s", a.body);
    key = strdup(itest_json_str(o, "key"));
    snprintf(id, 64, "%s", itest_json_str(o, "id"));
    json_decref(o);
    itest_answer_free(&a);
    keep_secret(key);
    return key;
}

/*
 * What another process's revocation looks like here (the row changes, this process's cache does
 * not know): the key stops within the cache time (10 s). And last_used_at is written at most once
 * a minute: a key last stamped 30 s ago keeps its stamp when it is loaded again, one stamped 2
 * minutes ago gets a new one.
 */
static void key_cache_and_last_use(const char *admin_token, PGconn *m, const char *id2,
                                   const char *k2, const char *id3, const char *k3)
{
    char id4[64], *k4;
    int64_t start;

    k4 = create_key(admin_token, "external", "TELLER", id4);
    expect_call("GET", "/v1/auth/me", k2, NULL, NULL, NULL, 200, NULL, "key 2");
    expect_call("GET", "/v1/auth/me", k3, NULL, NULL, NULL, 200, NULL, "key 3");
    expect_call("GET", "/v1/auth/me", k4, NULL, NULL, NULL, 200, NULL, "key 4");
    itest_sql_exec(m,
                   "UPDATE api_keys SET last_used_at = now() - interval '30 seconds'"
                   " WHERE id = $1",
                   id2);
    itest_sql_exec(m,
                   "UPDATE api_keys SET last_used_at = now() - interval '2 minutes'"
                   " WHERE id = $1",
                   id3);
    itest_sql_exec(m, "UPDATE api_keys SET revoked_at = now() WHERE id = $1", id4);
    start = itest_now_ms();
    for (;;) {
        itest_answer b = itest_call("GET", "/v1/auth/me", k4, NULL, NULL, NULL);
        long status = b.status;
        itest_answer_free(&b);
        if (status == 401)
            break;
        CHECK(status == 200, "a key revoked elsewhere answered %ld", status);
        CHECK(itest_now_ms() - start < 12000, "a key revoked elsewhere works after 12 s");
        usleep(250000);
    }
    printf("  a key revoked by another process refused after %.1f s\n",
           (double)(itest_now_ms() - start) / 1000.0);
    checks++;
    /* By now the cache has let go of keys 2 and 3 too: the next use loads them. */
    while (itest_now_ms() - start < 11000)
        usleep(100000);
    expect_call("GET", "/v1/auth/me", k2, NULL, NULL, NULL, 200, NULL, "key 2 again");
    expect_call("GET", "/v1/auth/me", k3, NULL, NULL, NULL, 200, NULL, "key 3 again");
    {
        PGresult *r = PQexecParams(m,
                                   "SELECT (SELECT (last_used_at < now() - interval '25 seconds')"
                                   "  FROM api_keys WHERE id = $1)::text || ' ' ||"
                                   " (SELECT (last_used_at > now() - interval '10 seconds')"
                                   "  FROM api_keys WHERE id = $2)::text",
                                   2, NULL, (const char *[]){id2, id3}, NULL, NULL, 0);
        CHECK(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(m));
        CHECK(strcmp(PQgetvalue(r, 0, 0), "true true") == 0,
              "last_used_at (kept within a minute, renewed after): %s", PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    checks++;
    free(k4);
}

static void api_keys(const char *admin_token)
{
    char id1[64], id2[64], id3[64], path[256], *k1, *k2, *k3, *v;
    itest_answer a;
    json_t *page, *page2;
    PGconn *m = itest_master_db();

    k1 = create_key(admin_token, "core-banking", "TELLER", id1);
    k2 = create_key(admin_token, "reports", "MANAGER", id2);
    k3 = create_key(admin_token, "admin robot", "SUPER_ADMIN", id3);
    v = itest_sql_value(m, "SELECT key_hash FROM api_keys WHERE id = $1", id1);
    keep_secret(v);
    CHECK(strcmp(v, k1) != 0, "the key is stored in clear");
    free(v);

    a = itest_call("GET", "/v1/auth/me", k1, NULL, NULL, NULL);
    expect_status(&a, 200, NULL, "the new key");
    CHECK(strstr(a.body, "\"kind\":\"API_KEY\"") != NULL &&
              strstr(a.body, "\"role\":\"TELLER\"") != NULL && strstr(a.body, id1) != NULL,
          "key me: %s", a.body);
    itest_answer_free(&a);
    expect_call("GET", "/v1/transactions?limit=1", k1, NULL, NULL, NULL, 200, NULL,
                "the new key on transactions");
    v = itest_sql_value(m, "SELECT (last_used_at IS NOT NULL)::text FROM api_keys WHERE id = $1",
                        id1);
    CHECK(strcmp(v, "true") == 0, "last_used_at not stamped after a use");
    free(v);
    /* A SUPER_ADMIN key manages keys too. */
    expect_call("GET", "/v1/api-keys", k3, NULL, NULL, NULL, 200, NULL, "a SUPER_ADMIN key");

    /* Refused bodies. */
    expect_call("POST", "/v1/api-keys", admin_token, NULL, NULL,
                "{\"name\":\"c\",\"role\":\"CUSTOMER\"}", 422, "/problems/invalid-field",
                "a CUSTOMER key");
    expect_call("POST", "/v1/api-keys", admin_token, NULL, NULL,
                "{\"name\":\"c\",\"role\":\"TELLER\",\"scope\":\"all\"}", 422,
                "/problems/unknown-field", "an unknown field");
    expect_call("POST", "/v1/api-keys", admin_token, NULL, NULL, "{\"role\":\"TELLER\"}", 422,
                "/problems/missing-field", "no name");
    expect_call("POST", "/v1/api-keys", admin_token, NULL, NULL, "{\"name\":1,\"role\":\"TELLER\"}",
                422, "/problems/invalid-field", "a number as name");

    /* The list: newest first, two per page, no secret. */
    a = itest_call("GET", "/v1/api-keys?limit=2", admin_token, NULL, NULL, NULL);
    expect_status(&a, 200, NULL, "GET /v1/api-keys?limit=2");
    page = json_loads(a.body, 0, NULL);
    CHECK(strstr(a.body, k1) == NULL && strstr(a.body, k2) == NULL && strstr(a.body, k3) == NULL &&
              strstr(a.body, "\"key\"") == NULL && strstr(a.body, "Hash") == NULL,
          "the list shows a secret: %s", a.body);
    CHECK(json_array_size(json_object_get(page, "data")) == 2 &&
              strcmp(itest_json_str(json_array_get(json_object_get(page, "data"), 0), "id"), id3) ==
                  0 &&
              strcmp(itest_json_str(json_array_get(json_object_get(page, "data"), 1), "id"), id2) ==
                  0 &&
              json_is_string(json_object_get(page, "nextCursor")),
          "first page: %s", a.body);
    itest_answer_free(&a);
    snprintf(path, sizeof path, "/v1/api-keys?limit=2&cursor=%s",
             itest_json_str(page, "nextCursor"));
    a = itest_call("GET", path, admin_token, NULL, NULL, NULL);
    expect_status(&a, 200, NULL, "the second page");
    page2 = json_loads(a.body, 0, NULL);
    CHECK(json_array_size(json_object_get(page2, "data")) == 1 &&
              strcmp(itest_json_str(json_array_get(json_object_get(page2, "data"), 0), "id"),
                     id1) == 0 &&
              json_is_null(json_object_get(page2, "nextCursor")),
          "second page: %s", a.body);
    {
        json_t *k = json_array_get(json_object_get(page2, "data"), 0);
        const char *fields[] = {"id",        "name",       "prefix",   "role",
                                "createdAt", "lastUsedAt", "revokedAt"};
        for (size_t i = 0; i < 7; i++)
            CHECK(json_object_get(k, fields[i]) != NULL, "a key without %s", fields[i]);
        CHECK(json_object_size(k) == 7, "a listed key has %zu fields", json_object_size(k));
    }
    itest_answer_free(&a);
    json_decref(page2);
    json_decref(page);
    expect_call("GET", "/v1/api-keys?cursor=AAAA", admin_token, NULL, NULL, NULL, 400,
                "/problems/invalid-cursor", "a bad cursor");
    expect_call("GET", "/v1/api-keys?limit=0", admin_token, NULL, NULL, NULL, 400,
                "/problems/invalid-parameter", "limit 0");
    expect_call("GET", "/v1/api-keys?role=TELLER", admin_token, NULL, NULL, NULL, 400,
                "/problems/unknown-parameter", "an unknown parameter");
    /* Another bank's keys are not this bank's. */
    a = itest_call("GET", "/v1/api-keys", other.api_key, NULL, NULL, NULL);
    CHECK(a.status == 403, "B's MANAGER key listed keys: %ld", a.status);
    itest_answer_free(&a);

    /* Revoke: refused at once (this process forgets the key). */
    snprintf(path, sizeof path, "/v1/api-keys/%s", id1);
    expect_call("DELETE", path, admin_token, NULL, NULL, NULL, 204, NULL, "revoke");
    expect_call("GET", "/v1/transactions?limit=1", k1, NULL, NULL, NULL, 401,
                "/problems/unauthenticated", "a revoked key, right after the revocation");
    expect_call("DELETE", path, admin_token, NULL, NULL, NULL, 204, NULL, "revoke again");
    v = itest_sql_value(m, "SELECT (revoked_at IS NOT NULL)::text FROM api_keys WHERE id = $1",
                        id1);
    CHECK(strcmp(v, "true") == 0, "revoked_at not set");
    free(v);
    {
        char *user_id = itest_sql_value(m, "SELECT user_id::text FROM api_keys WHERE id = $1", id1);
        v = tenant_value("SELECT status::text FROM users WHERE id = $1::uuid", user_id);
        CHECK(strcmp(v, "INACTIVE") == 0, "a revoked key's user is %s", v);
        free(v);
        free(user_id);
    }
    expect_call("DELETE", "/v1/api-keys/00000000-0000-4000-8000-000000000000", admin_token, NULL,
                NULL, NULL, 404, "/problems/not-found", "revoke an unknown key");
    expect_call("DELETE", "/v1/api-keys/not-a-uuid", admin_token, NULL, NULL, NULL, 404,
                "/problems/not-found", "revoke a malformed id");
    {
        char *other_key_id = itest_sql_value(
            m, "SELECT id::text FROM api_keys WHERE tenant_id = $1 LIMIT 1", other.id);
        snprintf(path, sizeof path, "/v1/api-keys/%s", other_key_id);
        expect_call("DELETE", path, admin_token, NULL, NULL, NULL, 404, "/problems/not-found",
                    "revoke another bank's key");
        free(other_key_id);
    }
    expect_call("GET", "/v1/auth/me", other.api_key, NULL, NULL, NULL, 200, NULL,
                "B's key still works");

    key_cache_and_last_use(admin_token, m, id2, k2, id3, k3);

    v = tenant_value("SELECT (SELECT count(*) FROM audit_logs WHERE action = 'CREATE_API_KEY')"
                     " || ' ' || (SELECT count(*) FROM audit_logs WHERE action = 'REVOKE_API_KEY'"
                     "  AND changes ? 'revokedAt')",
                     NULL);
    CHECK(strcmp(v, "4 1") == 0, "API key audit rows (created, revoked): %s", v);
    free(v);
    checks++;
    free(k1);
    free(k2);
    free(k3);
    PQfinish(m);
}

/* ------------------------------------------------------------------ audit */

static void audit_keeps_no_secret(void)
{
    itest_tenant t;
    PGconn *db, *m = itest_master_db();
    char *v;
    const char *passwords[] = {ADMIN_PW, STAFF_PW, SYSTEM_PW, WRONG_PW};

    memset(&t, 0, sizeof t);
    snprintf(t.slug, sizeof t.slug, "%s", tenant_slug);
    db = itest_tenant_db(&t, NULL);
    for (size_t i = 0; i < 4; i++)
        keep_secret(passwords[i]);
    {
        PGresult *r = PQexec(db, "SELECT password_hash FROM users WHERE password_hash <> '!'");
        CHECK(PQresultStatus(r) == PGRES_TUPLES_OK, "hashes: %s", PQerrorMessage(db));
        for (int i = 0; i < PQntuples(r); i++)
            keep_secret(PQgetvalue(r, i, 0));
        PQclear(r);
    }
    v = itest_sql_value(db,
                        "SELECT (SELECT count(*) FROM audit_logs WHERE action = 'LOGIN')"
                        " || ' ' || (SELECT count(*) FROM audit_logs WHERE action = 'LOGIN_FAILED')"
                        " || ' ' || (SELECT count(*) FROM audit_logs"
                        "  WHERE action = 'ACCOUNT_LOCKED')",
                        NULL);
    printf("  audit_logs: LOGIN, LOGIN_FAILED, ACCOUNT_LOCKED = %s\n", v);
    {
        long login = 0, failed = 0, lockedn = 0;
        CHECK(sscanf(v, "%ld %ld %ld", &login, &failed, &lockedn) == 3 && login >= 8 &&
                  failed >= 15 && lockedn == 1,
              "audit rows: %s", v);
    }
    free(v);
    for (int i = 0; i < n_secrets; i++) {
        v = itest_sql_value(db,
                            "SELECT count(*)::text FROM audit_logs"
                            " WHERE strpos(audit_logs::text, $1) > 0",
                            secrets[i]);
        CHECK(strcmp(v, "0") == 0, "audit_logs holds secret %d (%.6s...)", i, secrets[i]);
        free(v);
        v = itest_sql_value(m,
                            "SELECT count(*)::text FROM tenant_audit_logs"
                            " WHERE strpos(tenant_audit_logs::text, $1) > 0",
                            secrets[i]);
        CHECK(strcmp(v, "0") == 0, "tenant_audit_logs holds secret %d (%.6s...)", i, secrets[i]);
        free(v);
    }
    printf("  %d secrets searched for in audit_logs and tenant_audit_logs\n", n_secrets);
    checks++;
    PQfinish(db);
    PQfinish(m);
}

int main(void)
{
    char *admin_token = NULL;

    CHECK(sodium_init() >= 0, "sodium_init");
    provision();
    login_succeeds(&admin_token);
    login_fails_alike();
    lockout();
    rehash();
    tokens(admin_token);
    system_admins(admin_token);
    api_keys(admin_token);
    audit_keeps_no_secret();
    free(admin_token);
    for (int i = 0; i < n_secrets; i++)
        free(secrets[i]);
    printf("%d passed, 0 failed\n", checks);
    return 0;
}
