/*
 * Metrics: a small thread-safe registry of counters, gauges and histograms with label sets,
 * rendered in the Prometheus text exposition format 0.0.4.
 *
 * A family (lg_metric) has a name, a help text, a type and fixed label names; a series
 * (lg_series) is one family with one set of label values. A series, once created, lives as long
 * as the registry (except in a family reset with lg_metric_reset) and its pointer may be kept:
 * observing it costs a few atomic operations and never allocates. Looking a series up by its
 * label values takes the family's lock for a short scan.
 *
 * Every function accepts NULL for a registry, family or series and then does nothing, so a
 * program whose metrics failed to allocate keeps running.
 */
#ifndef LG_METRICS_H
#define LG_METRICS_H

#include <stddef.h>

typedef struct lg_metrics lg_metrics;
typedef struct lg_metric lg_metric;
typedef struct lg_series lg_series;

/* At most this many series per family: beyond it lookups return NULL (a guard against a label
 * that was never meant to be unbounded), and at most this many bytes in one label value
 * (longer values are cut). */
#define LG_METRICS_MAX_SERIES      2000
#define LG_METRICS_MAX_LABEL_VALUE 128
#define LG_METRICS_MAX_LABELS      4
#define LG_METRICS_MAX_BUCKETS     24

/* A new, empty registry; NULL when out of memory. Free with lg_metrics_free. */
lg_metrics *lg_metrics_new(void);
/* Frees the registry, its families and series. Accepts NULL. */
void lg_metrics_free(lg_metrics *m);

/*
 * Registers a family. name must match [a-zA-Z_:][a-zA-Z0-9_:]*, label_names is NULL-terminated
 * (NULL or empty for none; at most LG_METRICS_MAX_LABELS, each [a-zA-Z_][a-zA-Z0-9_]*, never
 * "le" for a histogram). The strings are copied. Registering a name twice returns the first
 * family. Returns NULL on a bad name or out of memory.
 */
lg_metric *lg_metrics_counter(lg_metrics *m, const char *name, const char *help,
                              const char *const *label_names);
lg_metric *lg_metrics_gauge(lg_metrics *m, const char *name, const char *help,
                            const char *const *label_names);
/* bounds: the upper bounds of the buckets, strictly increasing, finite, at most
 * LG_METRICS_MAX_BUCKETS; the +Inf bucket is implied. */
lg_metric *lg_metrics_histogram(lg_metrics *m, const char *name, const char *help,
                                const char *const *label_names, const double *bounds,
                                size_t n_bounds);

/* The series of the family with these label values (as many as the family has label names; NULL
 * for a family without labels), created on first use. NULL when the count is wrong, the family
 * is full, or out of memory. The pointer stays valid until lg_metric_reset or lg_metrics_free. */
lg_series *lg_metric_series(lg_metric *f, const char *const *label_values);

/* Counter: adds v (>= 0; a negative v is ignored). Gauge: adds v (may be negative). */
void lg_series_add(lg_series *s, double v);
/* Gauge: sets the value. */
void lg_series_set(lg_series *s, double v);
/* Histogram: records one observation. */
void lg_series_observe(lg_series *s, double v);
/* The current value of a counter or gauge, or a histogram's count. */
double lg_series_value(const lg_series *s);

/* Shorthands: look the series up and add / set / observe. */
void lg_metric_add(lg_metric *f, const char *const *label_values, double v);
void lg_metric_set(lg_metric *f, const char *const *label_values, double v);
void lg_metric_observe(lg_metric *f, const char *const *label_values, double v);

/* Removes every series of the family (for gauges rebuilt from a snapshot, such as consumer lag
 * per partition). Only for families whose series pointers nobody keeps. */
void lg_metric_reset(lg_metric *f);

/*
 * A collector: called (in registration order, under no lock of the registry) at the start of
 * every lg_metrics_render, to refresh gauges that are read from elsewhere rather than counted,
 * e.g. connection pool use. Returns 0, or -1 when the list is full (at most 8).
 */
typedef void (*lg_metrics_collector)(lg_metrics *m, void *arg);
int lg_metrics_add_collector(lg_metrics *m, lg_metrics_collector fn, void *arg);

/* The Prometheus text exposition (format 0.0.4) of every family that has at least one series,
 * in registration order. malloc'd (the caller frees), NULL when out of memory. */
char *lg_metrics_render(lg_metrics *m);

/* The product's version, for the ledger_build_info metric. */
#ifndef LEDGER_VERSION
#define LEDGER_VERSION "0.1.0"
#endif

/* The content type to serve the rendering with. */
#define LG_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The default duration buckets, in seconds (5 ms to 10 s). */
extern const double lg_metrics_duration_buckets[];
extern const size_t lg_metrics_duration_buckets_n;

#endif
