/* Unit tests for src/common/lg_metrics.c: the Prometheus text rendering and concurrent use. */
#include "lg_metrics.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void assert_has_line(const char *text, const char *line)
{
    const char *p = text;
    size_t n = strlen(line);
    while (p != NULL && *p != '\0') {
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    ck_abort_msg("no line \"%s\" in:\n%s", line, text);
}

START_TEST(metrics_counter_renders_help_type_and_labels)
{
    lg_metrics *m = lg_metrics_new();
    lg_metric *c = lg_metrics_counter(m, "ledger_http_requests_total", "HTTP requests answered.",
                                      (const char *[]){"route", "method", "status", NULL});
    char *text;
    lg_metric_add(c, (const char *[]){"/v1/transactions", "POST", "202", NULL}, 1);
    lg_metric_add(c, (const char *[]){"/v1/transactions", "POST", "202", NULL}, 2);
    lg_metric_add(c, (const char *[]){"/healthz", "GET", "200", NULL}, 1);
    text = lg_metrics_render(m);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(
        text, "# HELP ledger_http_requests_total HTTP requests answered.\n"
              "# TYPE ledger_http_requests_total counter\n"
              "ledger_http_requests_total{route=\"/v1/transactions\",method=\"POST\","
              "status=\"202\"} 3\n"
              "ledger_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1\n");
    free(text);
    lg_metrics_free(m);
}
END_TEST

START_TEST(metrics_escape_help_and_label_values)
{
    lg_metrics *m = lg_metrics_new();
    lg_metric *c =
        lg_metrics_counter(m, "x_total", "a \\ back\nslash", (const char *[]){"v", NULL});
    char *text;
    lg_metric_add(c, (const char *[]){"q\"uote\\back\nline", NULL}, 1);
    text = lg_metrics_render(m);
    assert_has_line(text, "# HELP x_total a \\\\ back\\nslash");
    assert_has_line(text, "x_total{v=\"q\\\"uote\\\\back\\nline\"} 1");
    free(text);
    lg_metrics_free(m);
}
END_TEST

START_TEST(metrics_histogram_buckets_are_cumulative_with_inf_sum_count)
{
    static const double bounds[] = {0.1, 1, 2.5};
    lg_metrics *m = lg_metrics_new();
    lg_metric *h =
        lg_metrics_histogram(m, "d_seconds", "Durations.", (const char *[]){"r", NULL}, bounds, 3);
    lg_series *s = lg_metric_series(h, (const char *[]){"a", NULL});
    char *text;
    lg_series_observe(s, 0.05);
    lg_series_observe(s, 0.1); /* le is inclusive */
    lg_series_observe(s, 0.5);
    lg_series_observe(s, 3);
    lg_series_observe(s, 100);
    text = lg_metrics_render(m);
    assert_has_line(text, "# TYPE d_seconds histogram");
    assert_has_line(text, "d_seconds_bucket{r=\"a\",le=\"0.1\"} 2");
    assert_has_line(text, "d_seconds_bucket{r=\"a\",le=\"1\"} 3");
    assert_has_line(text, "d_seconds_bucket{r=\"a\",le=\"2.5\"} 3");
    assert_has_line(text, "d_seconds_bucket{r=\"a\",le=\"+Inf\"} 5");
    assert_has_line(text, "d_seconds_sum{r=\"a\"} 103.65");
    assert_has_line(text, "d_seconds_count{r=\"a\"} 5");
    ck_assert(lg_series_value(s) == 5);
    free(text);
    lg_metrics_free(m);
}
END_TEST

START_TEST(metrics_family_without_labels_shows_zero_and_gauge_goes_down)
{
    lg_metrics *m = lg_metrics_new();
    lg_metric *c = lg_metrics_counter(m, "errors_total", "Errors.", NULL);
    lg_metric *g = lg_metrics_gauge(m, "in_flight", "In flight.", NULL);
    lg_metric *empty =
        lg_metrics_counter(m, "by_reason_total", "By reason.", (const char *[]){"reason", NULL});
    char *text = lg_metrics_render(m);
    (void)c;
    (void)empty;
    assert_has_line(text, "errors_total 0");
    assert_has_line(text, "in_flight 0");
    /* A labelled family with no series yet is left out, HELP and TYPE included. */
    ck_assert_ptr_null(strstr(text, "by_reason_total"));
    free(text);
    lg_metric_add(g, NULL, 3);
    lg_metric_add(g, NULL, -1);
    lg_metric_add(c, NULL, -5); /* a counter never goes down */
    text = lg_metrics_render(m);
    assert_has_line(text, "in_flight 2");
    assert_has_line(text, "errors_total 0");
    free(text);
    lg_metric_set(g, NULL, 0.25);
    text = lg_metrics_render(m);
    assert_has_line(text, "in_flight 0.25");
    free(text);
    lg_metrics_free(m);
}
END_TEST

START_TEST(metrics_refuse_bad_names_and_wrong_label_counts)
{
    lg_metrics *m = lg_metrics_new();
    lg_metric *c;
    static const double bad_bounds[] = {1, 1};
    ck_assert_ptr_null(lg_metrics_counter(m, "9lives", "", NULL));
    ck_assert_ptr_null(lg_metrics_counter(m, "has space", "", NULL));
    ck_assert_ptr_null(lg_metrics_counter(m, "ok_total", "", (const char *[]){"bad-label", NULL}));
    ck_assert_ptr_null(lg_metrics_histogram(m, "h", "", (const char *[]){"le", NULL}, NULL, 0));
    ck_assert_ptr_null(lg_metrics_histogram(m, "h2", "", NULL, bad_bounds, 2));
    c = lg_metrics_counter(m, "two_total", "", (const char *[]){"a", "b", NULL});
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(lg_metric_series(c, (const char *[]){"x", NULL}));
    ck_assert_ptr_null(lg_metric_series(c, (const char *[]){"x", "y", "z", NULL}));
    ck_assert_ptr_nonnull(lg_metric_series(c, (const char *[]){"x", "y", NULL}));
    /* The same name again is the same family; as another type it is refused. */
    ck_assert_ptr_eq(lg_metrics_counter(m, "two_total", "", (const char *[]){"a", "b", NULL}), c);
    ck_assert_ptr_null(lg_metrics_gauge(m, "two_total", "", NULL));
    lg_metrics_free(m);
}
END_TEST

START_TEST(metrics_series_per_family_are_bounded)
{
    lg_metrics *m = lg_metrics_new();
    lg_metric *c = lg_metrics_counter(m, "many_total", "", (const char *[]){"id", NULL});
    char id[32];
    for (int i = 0; i < LG_METRICS_MAX_SERIES; i++) {
        snprintf(id, sizeof id, "%d", i);
        ck_assert_ptr_nonnull(lg_metric_series(c, (const char *[]){id, NULL}));
    }
    ck_assert_ptr_null(lg_metric_series(c, (const char *[]){"one-more", NULL}));
    /* An existing series is still found. */
    ck_assert_ptr_nonnull(lg_metric_series(c, (const char *[]){"7", NULL}));
    lg_metric_reset(c);
    ck_assert_ptr_nonnull(lg_metric_series(c, (const char *[]){"one-more", NULL}));
    lg_metrics_free(m);
}
END_TEST

static void collector(lg_metrics *m, void *arg)
{
    int *calls = arg;
    lg_metric *g = lg_metrics_gauge(m, "pool_in_use", "", (const char *[]){"tenant", NULL});
    (*calls)++;
    lg_metric_set(g, (const char *[]){"t1", NULL}, *calls);
}

START_TEST(metrics_long_label_values_are_cut_and_still_found)
{
    lg_metrics *m = lg_metrics_new();
    lg_metric *c = lg_metrics_counter(m, "cut_total", "", (const char *[]){"v", NULL});
    char longer[LG_METRICS_MAX_LABEL_VALUE + 40], cut[LG_METRICS_MAX_LABEL_VALUE + 1];
    lg_series *a, *b;
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    memcpy(cut, longer, LG_METRICS_MAX_LABEL_VALUE);
    cut[LG_METRICS_MAX_LABEL_VALUE] = '\0';
    a = lg_metric_series(c, (const char *[]){longer, NULL});
    b = lg_metric_series(c, (const char *[]){cut, NULL});
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(a, b);
    /* a prefix of the value is another series */
    cut[10] = '\0';
    ck_assert_ptr_ne(lg_metric_series(c, (const char *[]){cut, NULL}), a);
    lg_metrics_free(m);
}
END_TEST

START_TEST(metrics_collectors_run_before_each_render)
{
    lg_metrics *m = lg_metrics_new();
    int calls = 0;
    char *text;
    ck_assert_int_eq(lg_metrics_add_collector(m, collector, &calls), 0);
    free(lg_metrics_render(m));
    text = lg_metrics_render(m);
    ck_assert_int_eq(calls, 2);
    assert_has_line(text, "pool_in_use{tenant=\"t1\"} 2");
    free(text);
    lg_metrics_free(m);
}
END_TEST

#define THREADS    4
#define PER_THREAD 50000

typedef struct {
    lg_metrics *m;
    lg_metric *counter, *histogram;
    int index;
} worker_arg;

static void *hammer(void *p)
{
    worker_arg *a = p;
    char label[16];
    for (int i = 0; i < PER_THREAD; i++) {
        /* Half the threads look the series up every time (and race to create it). */
        snprintf(label, sizeof label, "k%d", i % 3);
        lg_metric_add(a->counter, (const char *[]){label, NULL}, 1);
        lg_metric_observe(a->histogram, (const char *[]){"x", NULL}, (i % 10) * 0.1);
        if (i % 5000 == 0)
            free(lg_metrics_render(a->m));
    }
    return NULL;
}

START_TEST(metrics_concurrent_updates_lose_nothing)
{
    static const double bounds[] = {0.25, 0.5};
    lg_metrics *m = lg_metrics_new();
    pthread_t t[THREADS];
    worker_arg args[THREADS];
    lg_metric *c = lg_metrics_counter(m, "hits_total", "", (const char *[]){"k", NULL});
    lg_metric *h = lg_metrics_histogram(m, "v", "", (const char *[]){"l", NULL}, bounds, 2);
    double total = 0;
    char *text, line[128];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){m, c, h, i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int k = 0; k < 3; k++) {
        char label[16];
        snprintf(label, sizeof label, "k%d", k);
        total += lg_series_value(lg_metric_series(c, (const char *[]){label, NULL}));
    }
    ck_assert(total == (double)THREADS * PER_THREAD);
    text = lg_metrics_render(m);
    snprintf(line, sizeof line, "v_count{l=\"x\"} %d", THREADS * PER_THREAD);
    assert_has_line(text, line);
    snprintf(line, sizeof line, "v_bucket{l=\"x\",le=\"+Inf\"} %d", THREADS * PER_THREAD);
    assert_has_line(text, line);
    /* 0.0, 0.1, 0.2 of every ten observations are <= 0.25 */
    snprintf(line, sizeof line, "v_bucket{l=\"x\",le=\"0.25\"} %d", THREADS * PER_THREAD * 3 / 10);
    assert_has_line(text, line);
    /* exactly three series, however the threads raced to create them */
    ck_assert_ptr_nonnull(strstr(text, "hits_total{k=\"k2\"}"));
    ck_assert_ptr_null(strstr(strstr(text, "hits_total{k=\"k0\"}") + 1, "hits_total{k=\"k0\"}"));
    free(text);
    lg_metrics_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, metrics_counter_renders_help_type_and_labels);
    tcase_add_test(tc, metrics_escape_help_and_label_values);
    tcase_add_test(tc, metrics_histogram_buckets_are_cumulative_with_inf_sum_count);
    tcase_add_test(tc, metrics_family_without_labels_shows_zero_and_gauge_goes_down);
    tcase_add_test(tc, metrics_refuse_bad_names_and_wrong_label_counts);
    tcase_add_test(tc, metrics_series_per_family_are_bounded);
    tcase_add_test(tc, metrics_long_label_values_are_cut_and_still_found);
    tcase_add_test(tc, metrics_collectors_run_before_each_render);
    tcase_add_test(tc, metrics_concurrent_updates_lose_nothing);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
