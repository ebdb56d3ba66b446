#include "itest_metrics.h"

#include "itest.h"

#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char *data;
    size_t len;
} buf;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    buf *b = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(b->data, b->len + n + 1);
    CHECK(grown != NULL, "out of memory");
    b->data = grown;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

long itest_http_url(const char *method, const char *url, const char *const *headers,
                    const char *request_body, char **body, char **response_headers)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    buf b = {NULL, 0}, hb = {NULL, 0};
    long status = 0;
    CURLcode rc;
    CHECK(c != NULL, "curl_easy_init");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        h = curl_slist_append(h, headers[i]);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (request_body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, request_body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(request_body));
    }
    rc = curl_easy_perform(c);
    CHECK(rc == CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (body != NULL)
        *body = b.data != NULL ? b.data : strdup("");
    else
        free(b.data);
    if (response_headers != NULL)
        *response_headers = hb.data != NULL ? hb.data : strdup("");
    else
        free(hb.data);
    return status;
}

void itest_header_value(const char *raw, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *line = raw; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            size_t len;
            while (*v == ' ')
                v++;
            len = end != NULL ? (size_t)(end - v) : strlen(v);
            while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == ' '))
                len--;
            snprintf(out, size, "%.*s", (int)len, v);
            return;
        }
        line = end != NULL ? end + 1 : NULL;
    }
}

/* ---- the strict exposition reader ---- */

#define MAX_FAMILIES 256

typedef struct {
    char name[128];
    char type[16];
    int help, typed, has_samples;
} family;

typedef struct {
    family f[MAX_FAMILIES];
    size_t n;
} families;

static family *family_get(families *fs, const char *name, int create)
{
    for (size_t i = 0; i < fs->n; i++)
        if (strcmp(fs->f[i].name, name) == 0)
            return &fs->f[i];
    if (!create)
        return NULL;
    CHECK(fs->n < MAX_FAMILIES, "too many metric families");
    memset(&fs->f[fs->n], 0, sizeof fs->f[fs->n]);
    snprintf(fs->f[fs->n].name, sizeof fs->f[fs->n].name, "%s", name);
    return &fs->f[fs->n++];
}

static size_t name_len(const char *s, int colon)
{
    size_t n = 0;
    if ((s[0] >= '0' && s[0] <= '9'))
        return 0;
    while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
           (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || (colon && s[n] == ':'))
        n++;
    return n;
}

static double parse_value(const char *text, int line_no)
{
    char *end = NULL;
    double v;
    if (strcmp(text, "+Inf") == 0)
        return INFINITY;
    if (strcmp(text, "-Inf") == 0)
        return -INFINITY;
    if (strcmp(text, "NaN") == 0)
        return NAN;
    v = strtod(text, &end);
    CHECK(end != text && *end == '\0', "line %d: \"%s\" is not a sample value", line_no, text);
    return v;
}

/* The family a sample name belongs to (a histogram's _bucket, _sum and _count). */
static family *owner(families *fs, const char *name, const char **suffix)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count", NULL};
    family *f = family_get(fs, name, 0);
    *suffix = "";
    if (f != NULL && f->typed)
        return f;
    for (size_t i = 0; suffixes[i] != NULL; i++) {
        size_t n = strlen(name), k = strlen(suffixes[i]);
        char base[128];
        if (n <= k || strcmp(name + n - k, suffixes[i]) != 0 || n - k >= sizeof base)
            continue;
        snprintf(base, sizeof base, "%.*s", (int)(n - k), name);
        f = family_get(fs, base, 0);
        if (f != NULL && strcmp(f->type, "histogram") == 0) {
            *suffix = suffixes[i];
            return f;
        }
    }
    return NULL;
}

typedef struct {
    char key[1024]; /* the series text without le */
    double last_le;
    double last_count;
    int seen_inf;
    double inf_count;
} hist_state;

void itest_prom_parse(const char *text, itest_prom *out)
{
    families *fs = calloc(1, sizeof *fs);
    hist_state *hs = calloc(1024, sizeof *hs);
    size_t n_hs = 0, cap = 0;
    int line_no = 0;
    const char *p = text;
    CHECK(fs != NULL && hs != NULL, "out of memory");
    memset(out, 0, sizeof *out);
    CHECK(text != NULL, "no exposition text");
    CHECK(*text == '\0' || text[strlen(text) - 1] == '\n',
          "the exposition must end with a line feed");
    while (*p != '\0') {
        const char *end = strchr(p, '\n');
        char line[2048], name[128], series[1024], key[1024], le[64] = "";
        size_t len = (size_t)(end - p), n;
        const char *q, *suffix;
        family *f;
        line_no++;
        CHECK(len < sizeof line, "line %d too long", line_no);
        memcpy(line, p, len);
        line[len] = '\0';
        p = end + 1;
        CHECK(len > 0, "line %d is empty", line_no);
        if (line[0] == '#') {
            int is_help = strncmp(line, "# HELP ", 7) == 0,
                is_type = strncmp(line, "# TYPE ", 7) == 0;
            CHECK(is_help || is_type, "line %d: a comment that is neither HELP nor TYPE: %s",
                  line_no, line);
            n = name_len(line + 7, 1);
            CHECK(n > 0 && n < sizeof name && line[7 + n] == ' ', "line %d: bad metric name: %s",
                  line_no, line);
            snprintf(name, sizeof name, "%.*s", (int)n, line + 7);
            f = family_get(fs, name, 1);
            CHECK(!f->has_samples, "line %d: %s after the samples of %s", line_no,
                  is_help ? "HELP" : "TYPE", name);
            if (is_help) {
                CHECK(!f->help, "line %d: second HELP for %s", line_no, name);
                for (q = line + 8 + n; *q != '\0'; q++)
                    if (*q == '\\') {
                        CHECK(q[1] == '\\' || q[1] == 'n', "line %d: bad escape in HELP", line_no);
                        q++;
                    }
                f->help = 1;
            } else {
                const char *type = line + 8 + n;
                CHECK(!f->typed, "line %d: second TYPE for %s", line_no, name);
                CHECK(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                          strcmp(type, "histogram") == 0 || strcmp(type, "summary") == 0 ||
                          strcmp(type, "untyped") == 0,
                      "line %d: unknown type %s", line_no, type);
                snprintf(f->type, sizeof f->type, "%s", type);
                f->typed = 1;
            }
            continue;
        }
        /* A sample: name[{label="value",...}] value */
        n = name_len(line, 1);
        CHECK(n > 0 && n < sizeof name, "line %d: bad metric name: %s", line_no, line);
        snprintf(name, sizeof name, "%.*s", (int)n, line);
        f = owner(fs, name, &suffix);
        CHECK(f != NULL, "line %d: sample of %s without a TYPE line before it", line_no, name);
        f->has_samples = 1;
        q = line + n;
        snprintf(key, sizeof key, "%s", name);
        if (*q == '{') {
            int first = 1;
            q++;
            snprintf(key + strlen(key), sizeof key - strlen(key), "{");
            while (*q != '}') {
                char lname[64], lvalue[512];
                size_t ln = name_len(q, 0), vl = 0;
                CHECK(first || *q == ',', "line %d: labels not separated by commas", line_no);
                if (!first) {
                    q++;
                    ln = name_len(q, 0);
                }
                CHECK(ln > 0 && ln < sizeof lname && q[ln] == '=' && q[ln + 1] == '"',
                      "line %d: bad label: %s", line_no, line);
                snprintf(lname, sizeof lname, "%.*s", (int)ln, q);
                q += ln + 2;
                while (*q != '"') {
                    CHECK(*q != '\0', "line %d: unterminated label value", line_no);
                    if (*q == '\\') {
                        CHECK(q[1] == '\\' || q[1] == '"' || q[1] == 'n',
                              "line %d: bad escape in a label value", line_no);
                        CHECK(vl + 2 < sizeof lvalue, "line %d: label value too long", line_no);
                        lvalue[vl++] = *q++;
                    }
                    CHECK(vl + 1 < sizeof lvalue, "line %d: label value too long", line_no);
                    lvalue[vl++] = *q++;
                }
                lvalue[vl] = '\0';
                q++;
                if (strcmp(lname, "le") == 0 && strcmp(suffix, "_bucket") == 0) {
                    snprintf(le, sizeof le, "%.63s", lvalue);
                } else {
                    snprintf(key + strlen(key), sizeof key - strlen(key), "%s%s=\"%s\"",
                             key[strlen(key) - 1] == '{' ? "" : ",", lname, lvalue);
                }
                first = 0;
            }
            q++;
            if (key[strlen(key) - 1] == '{')
                key[strlen(key) - 1] = '\0';
            else
                snprintf(key + strlen(key), sizeof key - strlen(key), "}");
        }
        CHECK(*q == ' ', "line %d: no space before the value: %s", line_no, line);
        q++;
        {
            double v;
            char value_text[64];
            const char *sp = strchr(q, ' ');
            /* An optional timestamp may follow; this exposition writes none. */
            CHECK(sp == NULL, "line %d: unexpected timestamp or trailing text: %s", line_no, line);
            snprintf(value_text, sizeof value_text, "%s", q);
            v = parse_value(value_text, line_no);
            if (strcmp(f->type, "counter") == 0)
                CHECK(v >= 0, "line %d: negative counter", line_no);
            if (strcmp(suffix, "_bucket") == 0) {
                /* Buckets of one series: le ascending, counts cumulative, +Inf last. */
                hist_state *h = NULL;
                double le_v;
                CHECK(le[0] != '\0', "line %d: a bucket without le", line_no);
                le_v = parse_value(le, line_no);
                for (size_t i = 0; i < n_hs; i++)
                    if (strcmp(hs[i].key, key) == 0)
                        h = &hs[i];
                if (h == NULL) {
                    CHECK(n_hs < 1024, "too many histogram series");
                    h = &hs[n_hs++];
                    snprintf(h->key, sizeof h->key, "%s", key);
                    h->last_le = -INFINITY;
                    h->last_count = 0;
                }
                CHECK(!h->seen_inf && le_v > h->last_le, "line %d: le not ascending", line_no);
                CHECK(v >= h->last_count, "line %d: buckets not cumulative", line_no);
                h->last_le = le_v;
                h->last_count = v;
                if (isinf(le_v)) {
                    h->seen_inf = 1;
                    h->inf_count = v;
                }
            } else if (strcmp(suffix, "_count") == 0) {
                char bucket_key[1024];
                const char *brace = strchr(key, '{');
                int found = 0;
                snprintf(bucket_key, sizeof bucket_key, "%.*s_bucket%s",
                         (int)(strlen(name) - strlen("_count")), name, brace != NULL ? brace : "");
                for (size_t i = 0; i < n_hs; i++)
                    if (strcmp(hs[i].key, bucket_key) == 0) {
                        found = 1;
                        CHECK(hs[i].seen_inf && hs[i].inf_count == v,
                              "line %d: _count %g differs from the +Inf bucket", line_no, v);
                    }
                CHECK(found, "line %d: _count without buckets", line_no);
            }
            if (strcmp(suffix, "_bucket") == 0)
                snprintf(series, sizeof series, "%.*s%sle=\"%s\"}",
                         (int)(strlen(key) - (strchr(key, '{') != NULL ? 1 : 0)), key,
                         strchr(key, '{') != NULL ? "," : "{", le);
            else
                snprintf(series, sizeof series, "%s", key);
            if (out->n == cap) {
                cap = cap == 0 ? 256 : cap * 2;
                out->series = realloc(out->series, cap * sizeof *out->series);
                out->values = realloc(out->values, cap * sizeof *out->values);
                CHECK(out->series != NULL && out->values != NULL, "out of memory");
            }
            for (size_t i = 0; i < out->n; i++)
                CHECK(strcmp(out->series[i], series) != 0, "line %d: series %s twice", line_no,
                      series);
            out->series[out->n] = strdup(series);
            out->values[out->n] = v;
            out->n++;
        }
    }
    for (size_t i = 0; i < n_hs; i++)
        CHECK(hs[i].seen_inf, "histogram %s has no +Inf bucket", hs[i].key);
    free(hs);
    free(fs);
}

void itest_prom_free(itest_prom *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->series[i]);
    free(p->series);
    free(p->values);
    memset(p, 0, sizeof *p);
}

int itest_prom_has(const itest_prom *p, const char *series)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->series[i], series) == 0)
            return 1;
    return 0;
}

double itest_prom_value(const itest_prom *p, const char *series)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->series[i], series) == 0)
            return p->values[i];
    return 0;
}

double itest_prom_sum(const itest_prom *p, const char *name)
{
    double sum = 0;
    size_t n = strlen(name);
    for (size_t i = 0; i < p->n; i++)
        if (strncmp(p->series[i], name, n) == 0 &&
            (p->series[i][n] == '\0' || p->series[i][n] == '{'))
            sum += p->values[i];
    return sum;
}

void itest_prom_scrape(const char *url, itest_prom *out)
{
    char *body = NULL, *headers = NULL, ct[128];
    long status = itest_http_url("GET", url, NULL, NULL, &body, &headers);
    CHECK(status == 200, "GET %s answered %ld: %s", url, status, body);
    itest_header_value(headers, "Content-Type", ct, sizeof ct);
    CHECK(strncmp(ct, "text/plain; version=0.0.4", 25) == 0, "GET %s: content type %s", url, ct);
    itest_prom_parse(body, out);
    free(body);
    free(headers);
}
