#include "itest_mgmt.h"

#include "lg_crypto.h"
#include "lg_jwt.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int itest_mgmt_passed;

static lg_keyring *keyring(void)
{
    static lg_keyring *kr;
    char err[256];
    if (kr == NULL) {
        CHECK(lg_crypto_init() == 0, "lg_crypto_init");
        kr = lg_keyring_load(itest_env("LEDGER_MASTER_KEY_FILE"), err, sizeof err);
        CHECK(kr != NULL, "keyring: %s", err);
    }
    return kr;
}

void itest_mgmt_token(const itest_tenant *t, const char *user_id, const char *role, itest_cred *out)
{
    json_t *claims = json_pack("{s:s, s:s, s:s}", "sub", user_id, "tid", t->id, "role", role);
    char *token = lg_jwt_sign(keyring(), claims, 3600);
    json_decref(claims);
    CHECK(token != NULL && strlen(token) < sizeof out->bearer, "signing a token");
    snprintf(out->bearer, sizeof out->bearer, "%s", token);
    snprintf(out->user_id, sizeof out->user_id, "%s", user_id);
    snprintf(out->role, sizeof out->role, "%s", role);
    free(token);
}

void itest_mgmt_staff(const itest_tenant *t, PGconn *db, const char *role, itest_cred *out)
{
    unsigned char r[6];
    char hex[13], email[160], *id;
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(hex, sizeof hex, r, sizeof r);
    snprintf(email, sizeof email, "%s.%s@staff.example", role, hex);
    for (char *p = email; *p != '\0'; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    id = itest_mgmt_value(db,
                          "INSERT INTO users (email, password_hash, first_name, last_name, role)"
                          " VALUES ($1, '!', 'Staff', 'Member', $2::user_role) RETURNING id",
                          email, role);
    itest_mgmt_token(t, id, role, out);
    free(id);
}

void itest_mgmt_api_key(const itest_tenant *t, const char *user_id, const char *role,
                        itest_cred *out)
{
    char hash[LG_HASH_HEXLEN], hex[33];
    unsigned char r[16];
    PGconn *master = itest_master_db();
    PGresult *res;
    CHECK(lg_crypto_init() == 0, "lg_crypto_init");
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(hex, sizeof hex, r, sizeof r);
    snprintf(out->bearer, sizeof out->bearer, "lk_itestmgmt%s", hex);
    lg_hash_hex(out->bearer, strlen(out->bearer), hash);
    res = PQexecParams(master,
                       "INSERT INTO api_keys (tenant_id, name, key_prefix, key_hash, role, user_id)"
                       " VALUES ($1, 'itest mgmt', 'lk_itestmg', $2, $3, $4)",
                       4, NULL, (const char *[]){t->id, hash, role, user_id}, NULL, NULL, 0);
    CHECK(PQresultStatus(res) == PGRES_COMMAND_OK, "api key: %s", PQerrorMessage(master));
    PQclear(res);
    PQfinish(master);
    snprintf(out->user_id, sizeof out->user_id, "%s", user_id);
    snprintf(out->role, sizeof out->role, "%s", role);
}

/* ------------------------------------------------------------------ HTTP */

typedef struct {
    char *data;
    size_t len;
} buffer;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    buffer *b = userdata;
    size_t n = size * nmemb;
    char *nd = realloc(b->data, b->len + n + 1);
    if (nd == NULL)
        return 0;
    memcpy(nd + b->len, ptr, n);
    b->len += n;
    nd[b->len] = '\0';
    b->data = nd;
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    itest_resp *r = userdata;
    size_t n = size * nmemb;
    if (n > 10 && strncasecmp(ptr, "Location:", 9) == 0) {
        size_t start = 9, end = n;
        while (start < n && ptr[start] == ' ')
            start++;
        while (end > start && (ptr[end - 1] == '\r' || ptr[end - 1] == '\n'))
            end--;
        snprintf(r->location, sizeof r->location, "%.*s", (int)(end - start), ptr + start);
    }
    return n;
}

void itest_mgmt_send(const char *bearer, const char *method, const char *path, const char *body,
                     const char *const *headers, itest_resp *out)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    buffer b = {NULL, 0};
    char url[2048], auth[2200];
    char *ct = NULL;
    CURLcode rc;

    memset(out, 0, sizeof *out);
    CHECK(c != NULL, "curl_easy_init");
    snprintf(url, sizeof url, "%s%s", itest_env("LEDGER_API_URL"), path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    if (bearer != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        h = curl_slist_append(h, auth);
    }
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        h = curl_slist_append(h, headers[i]);
    if (body != NULL) {
        int has_ct = 0;
        for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
            has_ct |= strncasecmp(headers[i], "Content-Type:", 13) == 0;
        if (!has_ct)
            h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    rc = curl_easy_perform(c);
    CHECK(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(out->content_type, sizeof out->content_type, "%s", ct != NULL ? ct : "");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    out->body = b.data != NULL ? b.data : strdup("");
    out->json = json_loads(out->body, 0, NULL);
}

void itest_mgmt_resp_free(itest_resp *r)
{
    free(r->body);
    json_decref(r->json);
    r->body = NULL;
    r->json = NULL;
}

json_t *itest_mgmt_ok(const char *bearer, const char *method, const char *path, const char *body,
                      long want_status)
{
    itest_resp r;
    json_t *o;
    itest_mgmt_send(bearer, method, path, body, NULL, &r);
    CHECK(r.status == want_status, "%s %s: status %ld, expected %ld: %s", method, path, r.status,
          want_status, r.body);
    if (want_status == 204) {
        CHECK(r.body[0] == '\0', "%s %s: 204 with a body: %s", method, path, r.body);
        itest_mgmt_resp_free(&r);
        itest_mgmt_passed++;
        return NULL;
    }
    CHECK(strncmp(r.content_type, "application/json", 16) == 0 && r.json != NULL,
          "%s %s: content type %s, body %s", method, path, r.content_type, r.body);
    if (want_status == 201)
        CHECK(r.location[0] == '/', "%s %s: 201 without Location", method, path);
    o = json_incref(r.json);
    itest_mgmt_resp_free(&r);
    itest_mgmt_passed++;
    return o;
}

void itest_mgmt_problem(const char *bearer, const char *method, const char *path, const char *body,
                        long want_status, const char *want_type)
{
    itest_resp r;
    const char *type;
    itest_mgmt_send(bearer, method, path, body, NULL, &r);
    type = json_string_value(json_object_get(r.json, "type"));
    CHECK(r.status == want_status, "%s %s %s: status %ld, expected %ld (%s)", method, path,
          body != NULL ? body : "", r.status, want_status, r.body);
    CHECK(strncmp(r.content_type, "application/problem+json", 24) == 0, "%s %s: content type %s",
          method, path, r.content_type);
    CHECK(type != NULL && strcmp(type, want_type) == 0, "%s %s %s: type %s, expected %s", method,
          path, body != NULL ? body : "", type != NULL ? type : "(none)", want_type);
    CHECK(json_string_value(json_object_get(r.json, "title")) != NULL &&
              json_string_value(json_object_get(r.json, "detail")) != NULL,
          "%s %s: no title or detail", method, path);
    CHECK(strstr(r.body, "SELECT") == NULL && strstr(r.body, "INSERT") == NULL &&
              strstr(r.body, "UPDATE ") == NULL && strstr(r.body, "ERROR:") == NULL &&
              strstr(r.body, "syntax") == NULL && strstr(r.body, "::") == NULL,
          "%s %s: SQL in the problem: %s", method, path, r.body);
    itest_mgmt_resp_free(&r);
    itest_mgmt_passed++;
}

char *itest_mgmt_body(json_t *o)
{
    char *s;
    CHECK(o != NULL, "json_pack failed");
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

const char *itest_mgmt_str(const json_t *o, const char *name)
{
    const char *v = json_string_value(json_object_get(o, name));
    return v != NULL ? v : "";
}

/* ------------------------------------------------------------------ SQL */

char *itest_mgmt_value(PGconn *db, const char *sql, const char *p1, const char *p2)
{
    const char *params[2] = {p1, p2};
    int n = p2 != NULL ? 2 : p1 != NULL ? 1 : 0;
    PGresult *r = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
    char *v;
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s (%d rows)", sql,
          PQerrorMessage(db), PQntuples(r));
    v = strdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

long itest_mgmt_long(PGconn *db, const char *sql, const char *p1, const char *p2)
{
    char *v = itest_mgmt_value(db, sql, p1, p2);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

/* ------------------------------------------------------------------ fixtures */

void itest_mgmt_date(int days_from_today, char out[11])
{
    time_t when = time(NULL) + (time_t)days_from_today * 86400;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

void itest_mgmt_customer(const char *staff, const char *manager, const char *tag, itest_customer *c)
{
    unsigned char r[5];
    char hex[11], path[128], expiry[11], *body;
    json_t *o;
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(hex, sizeof hex, r, sizeof r);
    itest_mgmt_date(3 * 365, expiry);
    snprintf(c->email, sizeof c->email, "%s.%s@customers.example", tag, hex);
    body = itest_mgmt_body(
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "email", c->email,
                  "firstName", "Test", "lastName", tag, "dateOfBirth", "1980-04-01", "nationality",
                  "FR", "idType", "NATIONAL_ID", "idNumber", hex, "idExpiryDate", expiry,
                  "addressLine1", "1 Rue de la Paix", "city", "Paris", "country", "FR"));
    o = itest_mgmt_ok(staff, "POST", "/v1/customers", body, 201);
    free(body);
    snprintf(c->id, sizeof c->id, "%s", itest_mgmt_str(o, "id"));
    snprintf(c->number, sizeof c->number, "%s", itest_mgmt_str(o, "customerNumber"));
    snprintf(c->user_id, sizeof c->user_id, "%s", itest_mgmt_str(o, "userId"));
    json_decref(o);
    if (manager != NULL) {
        snprintf(path, sizeof path, "/v1/customers/%s/kyc", c->id);
        o = itest_mgmt_ok(manager, "POST", path, "{\"status\":\"VERIFIED\"}", 200);
        CHECK(strcmp(itest_mgmt_str(o, "kycStatus"), "VERIFIED") == 0, "KYC of %s", c->id);
        json_decref(o);
    }
}

void itest_mgmt_open_account(const char *bearer, const char *customer_id, const char *type,
                             const char *currency, char number[32])
{
    char *body = itest_mgmt_body(json_pack("{s:s, s:s, s:s}", "customerId", customer_id,
                                           "accountType", type, "currency", currency));
    json_t *o = itest_mgmt_ok(bearer, "POST", "/v1/accounts", body, 201);
    free(body);
    snprintf(number, 32, "%s", itest_mgmt_str(o, "accountNumber"));
    CHECK(strlen(number) == 10, "account number %s", number);
    json_decref(o);
}

json_t *itest_mgmt_walk(const char *bearer, const char *path, int limit, int *pages)
{
    json_t *all = json_array(), *seen = json_object();
    char url[1024], cursor[128] = "";
    *pages = 0;
    for (;;) {
        json_t *page, *data, *next, *item;
        size_t i;
        snprintf(url, sizeof url, "%s%climit=%d%s%s", path, strchr(path, '?') ? '&' : '?', limit,
                 cursor[0] ? "&cursor=" : "", cursor);
        page = itest_mgmt_ok(bearer, "GET", url, NULL, 200);
        itest_mgmt_passed--; /* counted once per walk, below */
        data = json_object_get(page, "data");
        next = json_object_get(page, "nextCursor");
        CHECK(json_is_array(data), "%s: no data array", url);
        CHECK(next != NULL && (json_is_null(next) || json_is_string(next)),
              "%s: nextCursor is neither a string nor null", url);
        CHECK(json_array_size(data) <= (size_t)limit, "%s: %zu rows on a page of %d", url,
              json_array_size(data), limit);
        CHECK(json_is_null(next) || json_array_size(data) == (size_t)limit,
              "%s: a short page before the last", url);
        json_array_foreach(data, i, item)
        {
            const char *id = itest_mgmt_str(item, "id");
            CHECK(json_object_get(seen, id) == NULL, "%s: %s listed twice", url, id);
            json_object_set_new(seen, id, json_true());
            json_array_append(all, item);
        }
        (*pages)++;
        CHECK(*pages < 10000, "%s: the walk does not end", path);
        if (json_is_null(next)) {
            json_decref(page);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(page);
    }
    json_decref(seen);
    itest_mgmt_passed++;
    return all;
}

void itest_mgmt_same_rows(json_t *items, PGconn *db, const char *sql, const char *p1,
                          const char *what)
{
    PGresult *res = PQexecParams(db, sql, p1 != NULL ? 1 : 0, NULL,
                                 p1 != NULL ? (const char *[]){p1} : NULL, NULL, NULL, 0);
    int rows;
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", what, PQerrorMessage(db));
    rows = PQntuples(res);
    CHECK(rows > 0, "%s: the database has no such rows; the case proves nothing", what);
    CHECK(json_array_size(items) == (size_t)rows,
          "%s: the API listed %zu rows, the database has %d", what, json_array_size(items), rows);
    for (int i = 0; i < rows; i++) {
        const char *id = itest_mgmt_str(json_array_get(items, (size_t)i), "id");
        CHECK(strcmp(id, PQgetvalue(res, i, 0)) == 0, "%s: row %d is %s, the database has %s", what,
              i, id, PQgetvalue(res, i, 0));
    }
    PQclear(res);
    printf("  %-52s %4d rows\n", what, rows);
    itest_mgmt_passed++;
}
