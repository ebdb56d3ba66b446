#include "itest_auth.h"

#include "lg_crypto.h"
#include "lg_jwt.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

int itest_ledgerctl_stdin(const char *input, char *out, size_t out_size, const char *arg, ...)
{
    const char *argv[32];
    int argc = 0, to_child[2], from_child[2], status = 0;
    size_t len = 0;
    va_list ap;
    pid_t pid;

    argv[argc++] = LEDGERCTL_PATH;
    va_start(ap, arg);
    for (const char *a = arg; a != NULL && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    CHECK(pipe(to_child) == 0 && pipe(from_child) == 0, "pipe");
    pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        close(to_child[0]);
        close(to_child[1]);
        close(from_child[0]);
        close(from_child[1]);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    if (input != NULL)
        CHECK(write(to_child[1], input, strlen(input)) == (ssize_t)strlen(input),
              "writing to ledgerctl");
    close(to_child[1]);
    for (;;) {
        char buf[4096];
        ssize_t n = read(from_child[0], buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && out != NULL && len + 1 < out_size; i++)
            out[len++] = buf[i];
    }
    close(from_child[0]);
    waitpid(pid, &status, 0);
    if (out != NULL && out_size > 0) {
        while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
            len--;
        out[len] = '\0';
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

typedef struct {
    char *data;
    size_t len;
} growbuf;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    growbuf *b = userdata;
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
    long *retry_after = userdata;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0)
        *retry_after = strtol(ptr + 12, NULL, 10);
    return n;
}

itest_answer itest_call(const char *method, const char *path, const char *bearer,
                        const char *x_tenant, const char *host, const char *json)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    growbuf b = {NULL, 0};
    char url[1024], line[4096];
    char *ct = NULL;
    itest_answer a;
    CURLcode rc;

    memset(&a, 0, sizeof a);
    CHECK(c != NULL, "curl_easy_init");
    snprintf(url, sizeof url, "%s%s", itest_env("LEDGER_API_URL"), path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a.retry_after);
    if (bearer != NULL) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", bearer);
        h = curl_slist_append(h, line);
    }
    if (x_tenant != NULL) {
        snprintf(line, sizeof line, "X-Tenant: %s", x_tenant);
        h = curl_slist_append(h, line);
    }
    if (host != NULL) {
        snprintf(line, sizeof line, "Host: %s", host);
        h = curl_slist_append(h, line);
    }
    if (json != NULL) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    rc = curl_easy_perform(c);
    CHECK(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(a.content_type, sizeof a.content_type, "%s", ct != NULL ? ct : "");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    a.body = b.data != NULL ? b.data : strdup("");
    return a;
}

void itest_answer_free(itest_answer *a)
{
    free(a->body);
    a->body = NULL;
}

const char *itest_answer_type(itest_answer *a)
{
    static char type[128];
    json_t *o = json_loads(a->body, 0, NULL);
    snprintf(type, sizeof type, "%s", itest_json_str(o, "type"));
    json_decref(o);
    return type;
}

itest_answer itest_login(int system, const char *x_tenant, const char *host, const char *email,
                         const char *password)
{
    json_t *o = json_pack("{s:s, s:s}", "email", email, "password", password);
    char *body = json_dumps(o, JSON_COMPACT);
    itest_answer a = itest_call("POST", system ? "/v1/system/auth/login" : "/v1/auth/login", NULL,
                                x_tenant, host, body);
    free(body);
    json_decref(o);
    return a;
}

char *itest_login_token(int system, const char *x_tenant, const char *host, const char *email,
                        const char *password)
{
    itest_answer a = itest_login(system, x_tenant, host, email, password);
    json_t *o;
    char *token;
    CHECK(a.status == 200, "login of %s answered %ld: %s", email, a.status, a.body);
    o = json_loads(a.body, 0, NULL);
    CHECK(o != NULL && json_string_value(json_object_get(o, "accessToken")) != NULL,
          "login of %s: no accessToken in %s", email, a.body);
    token = strdup(json_string_value(json_object_get(o, "accessToken")));
    json_decref(o);
    itest_answer_free(&a);
    return token;
}

json_t *itest_jwt_claims(const char *token)
{
    const char *dot1 = strchr(token, '.'), *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    unsigned char buf[4096];
    size_t len = 0;
    json_t *o;
    CHECK(dot1 != NULL && dot2 != NULL, "not a JWT: %s", token);
    CHECK(sodium_base642bin(buf, sizeof buf - 1, dot1 + 1, (size_t)(dot2 - dot1 - 1), NULL, &len,
                            NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0,
          "the payload of %s is not base64url", token);
    buf[len] = '\0';
    o = json_loads((const char *)buf, 0, NULL);
    CHECK(o != NULL, "the payload of %s is not JSON", token);
    return o;
}

static char *mint(const char *key_file, const char *claims_json, long ttl_s)
{
    char err[256];
    lg_keyring *kr;
    json_t *claims = json_loads(claims_json, 0, NULL);
    char *token;
    CHECK(sodium_init() >= 0, "sodium_init");
    kr = lg_keyring_load(key_file, err, sizeof err);
    CHECK(kr != NULL, "%s: %s", key_file, err);
    CHECK(claims != NULL, "claims %s are not JSON", claims_json);
    token = lg_jwt_sign(kr, claims, ttl_s);
    CHECK(token != NULL, "lg_jwt_sign");
    json_decref(claims);
    lg_keyring_free(kr);
    return token;
}

char *itest_jwt_mint(const char *claims_json, long ttl_s)
{
    return mint(itest_env("LEDGER_MASTER_KEY_FILE"), claims_json, ttl_s);
}

char *itest_jwt_mint_foreign(const char *claims_json, long ttl_s)
{
    char path[64], err[256];
    char *token;
    snprintf(path, sizeof path, "/tmp/itest-foreign-key-%d", (int)getpid());
    unlink(path);
    CHECK(lg_keyring_create_file(path, err, sizeof err) == 0, "%s", err);
    token = mint(path, claims_json, ttl_s);
    unlink(path);
    return token;
}

char *itest_b64url(const char *text)
{
    size_t n = sodium_base64_ENCODED_LEN(strlen(text), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(n);
    CHECK(out != NULL, "out of memory");
    sodium_bin2base64(out, n, (const unsigned char *)text, strlen(text),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}
