/*
 * The metrics registry (see lg_metrics.h).
 *
 * Values are doubles held as their IEEE-754 bits in C11 atomics: a counter or gauge is one
 * word, added to with a compare-and-swap loop; a histogram is one word per bucket (the count of
 * observations that fell in that bucket alone, not cumulative), a sum and nothing else: its
 * _count is the total of its buckets, so that a scrape racing an observation still shows
 * cumulative buckets whose +Inf bucket equals _count, as the format requires.
 *
 * Locks: the registry's lock guards its list of families and collectors; each family's lock
 * guards its list of series. Observations take no lock.
 */
#include "lg_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KIND_COUNTER = 0, KIND_GAUGE, KIND_HISTOGRAM };
static const char *const kind_names[] = {"counter", "gauge", "histogram"};

#define MAX_COLLECTORS 8

struct lg_series {
    struct lg_series *next;
    const lg_metric *family;
    char *values[LG_METRICS_MAX_LABELS];
    _Atomic uint64_t value_bits;                          /* counter, gauge */
    _Atomic uint64_t sum_bits;                            /* histogram */
    _Atomic uint64_t buckets[LG_METRICS_MAX_BUCKETS + 1]; /* the last is +Inf */
};

struct lg_metric {
    struct lg_metric *next;
    char *name;
    char *help;
    int kind;
    char *labels[LG_METRICS_MAX_LABELS];
    size_t n_labels;
    double bounds[LG_METRICS_MAX_BUCKETS];
    size_t n_bounds;
    pthread_mutex_t lock;
    lg_series *head, *tail;
    size_t n_series;
};

struct lg_metrics {
    pthread_mutex_t lock;
    lg_metric *head, *tail;
    struct {
        lg_metrics_collector fn;
        void *arg;
    } collectors[MAX_COLLECTORS];
    size_t n_collectors;
};

const double lg_metrics_duration_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                              0.5,   1,    2.5,   5,    10};
const size_t lg_metrics_duration_buckets_n =
    sizeof lg_metrics_duration_buckets / sizeof lg_metrics_duration_buckets[0];

static uint64_t to_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static void atomic_add_double(_Atomic uint64_t *cell, double v)
{
    uint64_t old = atomic_load_explicit(cell, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(cell, &old, to_bits(from_bits(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

static int valid_name(const char *s, int allow_colon)
{
    if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s != '\0'; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || (allow_colon && c == ':');
        if (!ok)
            return 0;
    }
    return 1;
}

lg_metrics *lg_metrics_new(void)
{
    lg_metrics *m = calloc(1, sizeof *m);
    if (m != NULL)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void series_free(lg_series *s)
{
    for (size_t i = 0; i < LG_METRICS_MAX_LABELS; i++)
        free(s->values[i]);
    free(s);
}

static void family_free(lg_metric *f)
{
    lg_series *s = f->head;
    while (s != NULL) {
        lg_series *next = s->next;
        series_free(s);
        s = next;
    }
    for (size_t i = 0; i < f->n_labels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void lg_metrics_free(lg_metrics *m)
{
    lg_metric *f;
    if (m == NULL)
        return;
    f = m->head;
    while (f != NULL) {
        lg_metric *next = f->next;
        family_free(f);
        f = next;
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static lg_metric *family_new(lg_metrics *m, int kind, const char *name, const char *help,
                             const char *const *label_names, const double *bounds, size_t n_bounds)
{
    lg_metric *f = NULL, *existing;
    size_t n_labels = 0;

    if (m == NULL || !valid_name(name, 1) || n_bounds > LG_METRICS_MAX_BUCKETS)
        return NULL;
    while (label_names != NULL && label_names[n_labels] != NULL) {
        if (n_labels == LG_METRICS_MAX_LABELS || !valid_name(label_names[n_labels], 0) ||
            strncmp(label_names[n_labels], "__", 2) == 0 ||
            (kind == KIND_HISTOGRAM && strcmp(label_names[n_labels], "le") == 0))
            return NULL;
        n_labels++;
    }
    for (size_t i = 0; i < n_bounds; i++)
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            return NULL;

    pthread_mutex_lock(&m->lock);
    for (existing = m->head; existing != NULL; existing = existing->next)
        if (strcmp(existing->name, name) == 0)
            break;
    if (existing != NULL) {
        pthread_mutex_unlock(&m->lock);
        return existing->kind == kind ? existing : NULL;
    }
    f = calloc(1, sizeof *f);
    if (f == NULL)
        goto fail;
    pthread_mutex_init(&f->lock, NULL);
    f->kind = kind;
    f->name = strdup(name);
    f->help = strdup(help != NULL ? help : "");
    if (f->name == NULL || f->help == NULL)
        goto fail;
    for (size_t i = 0; i < n_labels; i++) {
        f->labels[i] = strdup(label_names[i]);
        if (f->labels[i] == NULL)
            goto fail;
        f->n_labels = i + 1;
    }
    if (n_bounds > 0)
        memcpy(f->bounds, bounds, n_bounds * sizeof *bounds);
    f->n_bounds = n_bounds;
    if (m->tail != NULL)
        m->tail->next = f;
    else
        m->head = f;
    m->tail = f;
    pthread_mutex_unlock(&m->lock);
    /* A family without labels has one series from the start: it is exposed as 0, not absent. */
    if (n_labels == 0)
        lg_metric_series(f, NULL);
    return f;
fail:
    pthread_mutex_unlock(&m->lock);
    if (f != NULL)
        family_free(f);
    return NULL;
}

lg_metric *lg_metrics_counter(lg_metrics *m, const char *name, const char *help,
                              const char *const *label_names)
{
    return family_new(m, KIND_COUNTER, name, help, label_names, NULL, 0);
}

lg_metric *lg_metrics_gauge(lg_metrics *m, const char *name, const char *help,
                            const char *const *label_names)
{
    return family_new(m, KIND_GAUGE, name, help, label_names, NULL, 0);
}

lg_metric *lg_metrics_histogram(lg_metrics *m, const char *name, const char *help,
                                const char *const *label_names, const double *bounds,
                                size_t n_bounds)
{
    return family_new(m, KIND_HISTOGRAM, name, help, label_names, bounds, n_bounds);
}

lg_series *lg_metric_series(lg_metric *f, const char *const *label_values)
{
    size_t n = 0;
    lg_series *s = NULL;

    if (f == NULL)
        return NULL;
    while (label_values != NULL && n <= f->n_labels && label_values[n] != NULL)
        n++;
    if (n != f->n_labels)
        return NULL;
    pthread_mutex_lock(&f->lock);
    /* A stored value is the given one cut to LG_METRICS_MAX_LABEL_VALUE bytes: comparing that
     * many bytes finds it without copying anything on the hot path. */
    for (s = f->head; s != NULL; s = s->next) {
        size_t i = 0;
        while (i < n && strncmp(s->values[i], label_values[i], LG_METRICS_MAX_LABEL_VALUE) == 0)
            i++;
        if (i == n)
            goto out;
    }
    if (f->n_series >= LG_METRICS_MAX_SERIES)
        goto out; /* s is NULL */
    s = calloc(1, sizeof *s);
    if (s == NULL)
        goto out;
    s->family = f;
    for (size_t i = 0; i < n; i++) {
        s->values[i] = strndup(label_values[i], LG_METRICS_MAX_LABEL_VALUE);
        if (s->values[i] == NULL) {
            series_free(s);
            s = NULL;
            goto out;
        }
    }
    if (f->tail != NULL)
        f->tail->next = s;
    else
        f->head = s;
    f->tail = s;
    f->n_series++;
out:
    pthread_mutex_unlock(&f->lock);
    return s;
}

void lg_series_add(lg_series *s, double v)
{
    if (s == NULL || s->family->kind == KIND_HISTOGRAM || isnan(v))
        return;
    if (s->family->kind == KIND_COUNTER && !(v >= 0))
        return;
    atomic_add_double(&s->value_bits, v);
}

void lg_series_set(lg_series *s, double v)
{
    if (s == NULL || s->family->kind != KIND_GAUGE)
        return;
    atomic_store_explicit(&s->value_bits, to_bits(v), memory_order_relaxed);
}

void lg_series_observe(lg_series *s, double v)
{
    size_t b = 0;
    const lg_metric *f;
    if (s == NULL || s->family->kind != KIND_HISTOGRAM || isnan(v))
        return;
    f = s->family;
    while (b < f->n_bounds && v > f->bounds[b])
        b++;
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    atomic_add_double(&s->sum_bits, v);
}

double lg_series_value(const lg_series *s)
{
    uint64_t count = 0;
    if (s == NULL)
        return 0;
    if (s->family->kind != KIND_HISTOGRAM)
        return from_bits(atomic_load_explicit(&s->value_bits, memory_order_relaxed));
    for (size_t b = 0; b <= s->family->n_bounds; b++)
        count += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
    return (double)count;
}

void lg_metric_add(lg_metric *f, const char *const *label_values, double v)
{
    lg_series_add(lg_metric_series(f, label_values), v);
}

void lg_metric_set(lg_metric *f, const char *const *label_values, double v)
{
    lg_series_set(lg_metric_series(f, label_values), v);
}

void lg_metric_observe(lg_metric *f, const char *const *label_values, double v)
{
    lg_series_observe(lg_metric_series(f, label_values), v);
}

void lg_metric_reset(lg_metric *f)
{
    lg_series *s;
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    s = f->head;
    f->head = f->tail = NULL;
    f->n_series = 0;
    pthread_mutex_unlock(&f->lock);
    while (s != NULL) {
        lg_series *next = s->next;
        series_free(s);
        s = next;
    }
}

int lg_metrics_add_collector(lg_metrics *m, lg_metrics_collector fn, void *arg)
{
    int rc = -1;
    if (m == NULL || fn == NULL)
        return -1;
    pthread_mutex_lock(&m->lock);
    if (m->n_collectors < MAX_COLLECTORS) {
        m->collectors[m->n_collectors].fn = fn;
        m->collectors[m->n_collectors].arg = arg;
        m->n_collectors++;
        rc = 0;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* A sample value as the format writes it: integers without a fraction, other numbers in the
 * shortest form that reads back exactly, and NaN, +Inf, -Inf. */
static void put_number(FILE *out, double v)
{
    char text[40];
    if (isnan(v)) {
        fputs("NaN", out);
        return;
    }
    if (isinf(v)) {
        fputs(v > 0 ? "+Inf" : "-Inf", out);
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        fprintf(out, "%.0f", v);
        return;
    }
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(text, sizeof text, "%.*g", precision, v);
        if (strtod(text, NULL) == v)
            break;
    }
    fputs(text, out);
}

/* HELP text: backslash and line feed escaped. Label values: also the double quote. */
static void put_escaped(FILE *out, const char *s, int quote)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else if (quote && *s == '"')
            fputs("\\\"", out);
        else
            fputc(*s, out);
    }
}

/* name{labels[,le="bound"]} */
static void put_series_name(FILE *out, const lg_metric *f, const lg_series *s, const char *suffix,
                            const double *le, int le_inf)
{
    int any = 0;
    fputs(f->name, out);
    fputs(suffix, out);
    for (size_t i = 0; i < f->n_labels; i++) {
        fprintf(out, "%s%s=\"", any ? "," : "{", f->labels[i]);
        put_escaped(out, s->values[i], 1);
        fputc('"', out);
        any = 1;
    }
    if (le != NULL || le_inf) {
        fprintf(out, "%sle=\"", any ? "," : "{");
        if (le_inf)
            fputs("+Inf", out);
        else
            put_number(out, *le);
        fputc('"', out);
        any = 1;
    }
    if (any)
        fputc('}', out);
    fputc(' ', out);
}

static void render_family(FILE *out, lg_metric *f)
{
    pthread_mutex_lock(&f->lock);
    if (f->head == NULL)
        goto out;
    fprintf(out, "# HELP %s ", f->name);
    put_escaped(out, f->help, 0);
    fprintf(out, "\n# TYPE %s %s\n", f->name, kind_names[f->kind]);
    for (const lg_series *s = f->head; s != NULL; s = s->next) {
        uint64_t cumulative = 0;
        if (f->kind != KIND_HISTOGRAM) {
            put_series_name(out, f, s, "", NULL, 0);
            put_number(out, from_bits(atomic_load_explicit(&s->value_bits, memory_order_relaxed)));
            fputc('\n', out);
            continue;
        }
        for (size_t b = 0; b <= f->n_bounds; b++) {
            cumulative += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
            put_series_name(out, f, s, "_bucket", b < f->n_bounds ? &f->bounds[b] : NULL,
                            b == f->n_bounds);
            fprintf(out, "%llu\n", (unsigned long long)cumulative);
        }
        put_series_name(out, f, s, "_sum", NULL, 0);
        put_number(out, from_bits(atomic_load_explicit(&s->sum_bits, memory_order_relaxed)));
        fputc('\n', out);
        put_series_name(out, f, s, "_count", NULL, 0);
        fprintf(out, "%llu\n", (unsigned long long)cumulative);
    }
out:
    pthread_mutex_unlock(&f->lock);
}

char *lg_metrics_render(lg_metrics *m)
{
    char *text = NULL;
    size_t len = 0, n_collectors;
    FILE *out;

    if (m == NULL)
        return NULL;
    pthread_mutex_lock(&m->lock);
    n_collectors = m->n_collectors;
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < n_collectors; i++)
        m->collectors[i].fn(m, m->collectors[i].arg);

    out = open_memstream(&text, &len);
    if (out == NULL)
        return NULL;
    /* Lock order: the registry's, then a family's (nothing takes them the other way). */
    pthread_mutex_lock(&m->lock);
    for (lg_metric *f = m->head; f != NULL; f = f->next)
        render_family(out, f);
    pthread_mutex_unlock(&m->lock);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
