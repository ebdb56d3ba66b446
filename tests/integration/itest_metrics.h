/*
 * Helpers for the observability tests: plain HTTP GETs by URL (with the response headers), and
 * a strict reader of the Prometheus text exposition format 0.0.4 that fails the test on any
 * line it cannot account for.
 */
#ifndef ITEST_METRICS_H
#define ITEST_METRICS_H

#include <stddef.h>

/* An HTTP exchange by full URL. headers: NULL-terminated "Name: value" strings (may be NULL).
 * Returns the status; *body (malloc'd) and *response_headers (malloc'd, the raw header lines)
 * when not NULL. */
long itest_http_url(const char *method, const char *url, const char *const *headers,
                    const char *request_body, char **body, char **response_headers);

/* The value of response header name (case-insensitive) from raw header lines, into out ("" when
 * absent). */
void itest_header_value(const char *raw, const char *name, char *out, size_t size);

/* A parsed exposition: every sample as its series text (the name and label block exactly as
 * written) and value. */
typedef struct {
    char **series;
    double *values;
    size_t n;
} itest_prom;

/* Parses text strictly: HELP and TYPE lines, TYPE before a family's samples and once, metric
 * and label names and label value escapes as the format allows, values that parse whole;
 * a histogram's buckets cumulative with le ascending, ending in +Inf equal to its _count.
 * Fails the test otherwise. */
void itest_prom_parse(const char *text, itest_prom *out);
void itest_prom_free(itest_prom *p);
/* The value of one series ("name{a=\"b\"}" as rendered, or "name"); 0 when absent. */
double itest_prom_value(const itest_prom *p, const char *series);
/* Is the series present? */
int itest_prom_has(const itest_prom *p, const char *series);
/* The sum over all series of a metric name (exactly that name, any labels). */
double itest_prom_sum(const itest_prom *p, const char *name);
/* Scrapes url (a /metrics) and parses it; the status must be 200 with the 0.0.4 content type. */
void itest_prom_scrape(const char *url, itest_prom *out);

#endif
