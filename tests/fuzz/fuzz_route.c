/*
 * Fuzz target: how the API routes a request before any handler runs: the route tables of every
 * module (matched by api_route_match, src/producer-api/api_route_match.c, through
 * api_route_roles in api_dispatch.c), path parameter extraction, the tenant label of a Host
 * header (api_host_label) and Idempotency-Key validation (lg_idempotency_key_valid).
 *
 * Input: up to four lines, "<method> <path>", Host, X-Tenant, Idempotency-Key.
 * Properties:
 *   - a path matches a pattern only with one non-empty, '/'-free parameter per "{}", and putting
 *     the parameters back into the pattern gives the path again, byte for byte;
 *   - the parameters fit the request's URL buffer, and api_route_roles answers the roles of the
 *     first route whose method and pattern match (0 when none does);
 *   - a Host label is 1 to 63 of a-z, 0-9, '-', is the lower-cased text before the first '.',
 *     and an IPv4 address, a bracketed IPv6 literal or a single label gives none;
 *   - an Idempotency-Key is accepted exactly when it is 1 to 255 printable ASCII characters
 *     without spaces, and then the same key as X-Tenant never touches the routing above.
 */
#include "fuzz_common.h"

#include "api.h"
#include "api_route_match.h"
#include "lg_validate.h"

#include <arpa/inet.h>

static const api_route_def *const *tables(void)
{
    static const api_route_def *const t[] = {api_routes_auth,      api_routes_apikeys,
                                             api_routes_users,     api_routes_system,
                                             api_routes_customers, api_routes_accounts,
                                             NULL};
    return t;
}

/* Rebuilds a path from a pattern and its parameters into out. Returns 0, or -1 when it does
 * not fit. */
static int rebuild(const char *pattern, const char *const *params, char *out, size_t out_size)
{
    size_t used = 0;
    int i = 0;
    while (*pattern != '\0') {
        const char *piece = pattern;
        size_t len = 1;
        if (pattern[0] == '{' && pattern[1] == '}') {
            piece = params[i++];
            len = strlen(piece);
            pattern += 2;
        } else {
            pattern++;
        }
        if (used + len + 1 > out_size)
            return -1;
        memcpy(out + used, piece, len);
        used += len;
    }
    out[used] = '\0';
    return 0;
}

static int holes(const char *pattern)
{
    int n = 0;
    for (const char *s = strstr(pattern, "{}"); s != NULL; s = strstr(s + 2, "{}"))
        n++;
    return n;
}

static void check_routes(const char *method, const char *path)
{
    api_request r;
    char buf[sizeof r.url], again[2 * sizeof r.url];
    const char *params[API_MAX_PATH_PARAMS + 1];
    unsigned expected = 0;
    int found = 0, n;

    memset(&r, 0, sizeof r);
    if (strlen(method) >= sizeof r.method || strlen(path) >= sizeof r.url)
        return; /* the server refuses these before routing */
    snprintf(r.method, sizeof r.method, "%s", method);
    snprintf(r.url, sizeof r.url, "%s", path);
    for (const api_route_def *const *t = tables(); *t != NULL; t++)
        for (const api_route_def *d = *t; d->method != NULL; d++) {
            if (!api_route_match(d->pattern, path, buf, sizeof buf, params, API_MAX_PATH_PARAMS,
                                 &n))
                continue;
            FUZZ_ASSERT(n == holes(d->pattern), "%s matched %s with %d parameters", path,
                        d->pattern, n);
            for (int i = 0; i < n; i++)
                FUZZ_ASSERT(params[i][0] != '\0' && strchr(params[i], '/') == NULL &&
                                params[i] >= buf && params[i] < buf + sizeof buf,
                            "parameter %d of %s is \"%s\"", i, path, params[i]);
            FUZZ_ASSERT(rebuild(d->pattern, params, again, sizeof again) == 0 &&
                            strcmp(again, path) == 0,
                        "%s matched %s but rebuilds as %s", path, d->pattern, again);
            if (!found && strcmp(d->method, method) == 0) {
                found = 1;
                expected = d->roles;
            }
        }
    FUZZ_ASSERT(api_route_roles(&r) == expected, "roles of %s %s", method, path);
}

static void check_host(const char *host)
{
    char label[64];
    struct in_addr a4;
    size_t first;

    memset(label, 0x55, sizeof label);
    if (!api_host_label(host, label))
        return;
    first = strlen(label);
    FUZZ_ASSERT(first >= 1 && first <= 63, "label length %zu", first);
    FUZZ_ASSERT(strspn(label, "abcdefghijklmnopqrstuvwxyz0123456789-") == first,
                "label \"%s\" has another character", label);
    FUZZ_ASSERT(host[0] != '[' && strncasecmp(host, label, first) == 0 && host[first] == '.' &&
                    host[first + 1] != '\0' && host[first + 1] != ':',
                "label \"%s\" is not the first label of \"%s\"", label, host);
    {
        char name[256];
        size_t n = strcspn(host, ":");
        FUZZ_ASSERT(n < sizeof name, "a Host of %zu bytes gave a label", n);
        memcpy(name, host, n);
        name[n] = '\0';
        FUZZ_ASSERT(inet_pton(AF_INET, name, &a4) != 1, "an IPv4 address gave a label");
    }
}

static void check_idempotency_key(const char *key)
{
    size_t n = strlen(key);
    int ok = n >= 1 && n <= LG_IDEMPOTENCY_KEY_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = key[i] >= 0x21 && key[i] <= 0x7e;
    FUZZ_ASSERT(lg_idempotency_key_valid(key) == ok, "Idempotency-Key \"%s\": %d", key, ok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    char *line[4] = {NULL, NULL, NULL, NULL};
    char *s = text;
    char *sp;

    for (int i = 0; i < 4 && s != NULL; i++) {
        char *nl = strchr(s, '\n');
        line[i] = s;
        if (nl != NULL)
            *nl = '\0';
        s = nl != NULL ? nl + 1 : NULL;
    }
    sp = strchr(line[0], ' ');
    if (sp != NULL) {
        *sp = '\0';
        check_routes(line[0], sp + 1);
    } else {
        check_routes("GET", line[0]);
    }
    check_host(line[1] != NULL ? line[1] : line[0]);
    if (line[2] != NULL) /* X-Tenant: a slug is looked up only when it fits */
        check_host(line[2]);
    check_idempotency_key(line[3] != NULL ? line[3] : line[0]);
    free(text);
    return 0;
}
