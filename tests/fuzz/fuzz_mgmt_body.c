/*
 * Fuzz target: the request bodies of the management endpoints, read by the two strict readers
 * the handlers use: api_body_strings (src/producer-api/api_body.c; logins, API keys) and
 * api_body_open with api_body_string/enum/int/object (src/producer-api/api_input.c; users,
 * tenants). The fields are those of POST /v1/users and POST /v1/auth/login.
 *
 * The server's two functions these readers call, the header lookup and the answer, are replaced
 * here (libmicrohttpd needs a live connection): Content-Type is always application/json, and a
 * problem answer is recorded for the checks. Properties:
 *   - a refusal is one problem+json (400 or 422), valid JSON with type, title, status, detail;
 *   - what is accepted obeys the field rules: only known members, strings within their bounds
 *     without NUL (and without control characters for api_body_string), required ones present.
 */
#include "fuzz_common.h"

#include "api.h"
#include "api_body.h"
#include "api_input.h"

static int answered;
static lg_problem answer;

const char *api_header(api_request *r, const char *name)
{
    (void)r;
    return strcmp(name, "Content-Type") == 0 ? "application/json" : NULL;
}

void api_respond_problem(api_request *r, const lg_problem *p)
{
    (void)r;
    FUZZ_ASSERT(!answered, "a request answered twice (%s after %s)", p->type, answer.type);
    answered = 1;
    answer = *p;
}

static void check_problem(const lg_problem *p)
{
    char *text = lg_problem_json(p, "/v1/users");
    json_error_t jerr;
    json_t *doc = text != NULL ? json_loads(text, 0, &jerr) : NULL;
    FUZZ_ASSERT(p->status == 400 || p->status == 422, "status %d (%s)", p->status, p->type);
    FUZZ_ASSERT(doc != NULL && json_is_string(json_object_get(doc, "type")) &&
                    json_is_string(json_object_get(doc, "title")) &&
                    json_is_string(json_object_get(doc, "detail")) &&
                    json_is_integer(json_object_get(doc, "status")),
                "bad problem+json: %s", text != NULL ? text : "(none)");
    FUZZ_ASSERT(p->field[0] == '\0' || json_is_string(json_object_get(doc, "field")),
                "problem+json lost its field: %s", text);
    json_decref(doc);
    free(text);
}

static void check_string(const char *v, size_t min_len, size_t max_len, int controls_ok)
{
    size_t n;
    if (v == NULL)
        return;
    n = strlen(v);
    FUZZ_ASSERT(n >= min_len && n <= max_len, "a value of %zu bytes accepted", n);
    for (size_t i = 0; !controls_ok && i < n; i++)
        FUZZ_ASSERT((unsigned char)v[i] >= 0x20 && v[i] != 0x7f, "a control character");
}

static void login_body(api_request *r)
{
    api_body_field fields[] = {{"email", 1, 254, NULL}, {"password", 1, 1024, NULL},
                               {"tenant", 0, 63, NULL}, {NULL, 0, 0, NULL}};
    lg_problem p;
    json_t *root = api_body_strings(r, fields, &p);
    if (root == NULL) {
        check_problem(&p);
        return;
    }
    FUZZ_ASSERT(fields[0].value != NULL && fields[1].value != NULL, "required field missing");
    for (api_body_field *f = fields; f->name != NULL; f++)
        if (f->value != NULL)
            check_string(f->value, 1, f->max_len, 1);
    json_decref(root);
}

static void user_body(api_request *r)
{
    static const char *const allowed[] = {"email", "firstName", "lastName", "role", "password",
                                          "maxSessions", "profile", NULL};
    static const char *const roles[] = {"CUSTOMER", "TELLER", "MANAGER", "SUPER_ADMIN", NULL};
    api_body b;
    const char *email, *first, *role;
    long max_sessions = -1;
    int has_int;

    answered = 0;
    if (api_body_open(&b, r, allowed) != 0) {
        FUZZ_ASSERT(answered && b.failed, "refused without an answer");
        check_problem(&answer);
        api_body_free(&b);
        return;
    }
    FUZZ_ASSERT(!answered && json_is_object(b.root), "opened but answered");
    email = api_body_string(&b, "email", 1, 3, 254);
    first = api_body_string(&b, "firstName", 0, 1, 100);
    role = api_body_enum(&b, "role", 1, roles);
    has_int = api_body_int(&b, "maxSessions", 1, 100, &max_sessions);
    (void)api_body_object(&b, "profile");
    if (b.failed) {
        FUZZ_ASSERT(answered, "failed without an answer");
        check_problem(&answer);
    } else {
        FUZZ_ASSERT(!answered && email != NULL && role != NULL, "required field missing");
        check_string(email, 3, 254, 0);
        check_string(first, 1, 100, 0);
        FUZZ_ASSERT(has_int == 0 || (max_sessions >= 1 && max_sessions <= 100), "maxSessions");
    }
    api_body_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    api_request r;
    memset(&r, 0, sizeof r);
    snprintf(r.method, sizeof r.method, "POST");
    snprintf(r.url, sizeof r.url, "/v1/users");
    r.body = fuzz_strndup(data, size);
    r.body_len = size;
    login_body(&r);
    user_body(&r);
    free(r.body);
    return 0;
}
