/* Unit tests for lg_kafka_stats_read (src/common/lg_kafka.c): brokers up and consumer lag from
 * librdkafka's statistics JSON. */
#include "lg_kafka.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char rows[16][96];
    int n;
} lag_rows;

static void on_lag(const char *topic, const char *partition, long long lag, void *arg)
{
    lag_rows *r = arg;
    if (r->n < 16)
        snprintf(r->rows[r->n++], sizeof r->rows[0], "%s/%s=%lld", topic, partition, lag);
}

static int has_row(const lag_rows *r, const char *row)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->rows[i], row) == 0)
            return 1;
    return 0;
}

/* The shape librdkafka 2.0 writes (trimmed to the fields read). */
static const char stats[] =
    "{\"name\":\"rdkafka#consumer-1\",\"type\":\"consumer\","
    " \"brokers\":{"
    "  \"127.0.0.1:9092/bootstrap\":{\"name\":\"127.0.0.1:9092/bootstrap\",\"nodeid\":-1,"
    "    \"state\":\"UP\"},"
    "  \"127.0.0.1:9092/1\":{\"name\":\"127.0.0.1:9092/1\",\"nodeid\":1,\"state\":\"UP\"},"
    "  \"127.0.0.1:9093/2\":{\"name\":\"127.0.0.1:9093/2\",\"nodeid\":2,\"state\":\"DOWN\"}},"
    " \"topics\":{\"txn.commands\":{\"topic\":\"txn.commands\",\"partitions\":{"
    "  \"0\":{\"partition\":0,\"fetch_state\":\"active\",\"consumer_lag\":-1,"
    "    \"ls_offset\":10,\"hi_offset\":10,\"lo_offset\":0,\"app_offset\":7,"
    "    \"committed_offset\":-1001},"
    "  \"1\":{\"partition\":1,\"fetch_state\":\"active\",\"consumer_lag\":5,"
    "    \"ls_offset\":50,\"lo_offset\":0,\"app_offset\":45,\"committed_offset\":45},"
    "  \"2\":{\"partition\":2,\"fetch_state\":\"none\",\"consumer_lag\":-1,"
    "    \"ls_offset\":99,\"lo_offset\":0,\"app_offset\":-1001,\"committed_offset\":-1001},"
    "  \"3\":{\"partition\":3,\"fetch_state\":\"active\",\"consumer_lag\":-1,"
    "    \"ls_offset\":4,\"lo_offset\":0,\"app_offset\":-1001,\"committed_offset\":4},"
    "  \"4\":{\"partition\":4,\"fetch_state\":\"active\",\"consumer_lag\":-1,"
    "    \"ls_offset\":6,\"lo_offset\":2,\"app_offset\":-1001,\"committed_offset\":-1001},"
    "  \"5\":{\"partition\":5,\"fetch_state\":\"active\",\"consumer_lag\":-1,"
    "    \"ls_offset\":-1,\"lo_offset\":-1,\"app_offset\":-1001,\"committed_offset\":-1001},"
    "  \"6\":{\"partition\":6,\"fetch_state\":\"active\",\"consumer_lag\":40,"
    "    \"ls_offset\":50,\"lo_offset\":0,\"app_offset\":48,\"committed_offset\":10},"
    "  \"7\":{\"partition\":7,\"fetch_state\":\"active\",\"consumer_lag\":12,"
    "    \"ls_offset\":30,\"lo_offset\":0,\"app_offset\":-1001,\"committed_offset\":18},"
    "  \"-1\":{\"partition\":-1,\"fetch_state\":\"none\",\"consumer_lag\":-1}}}}}";

START_TEST(kafka_stats_counts_brokers_up)
{
    ck_assert_int_eq(lg_kafka_stats_read(stats, strlen(stats), NULL, NULL), 2);
}
END_TEST

START_TEST(kafka_stats_lag_from_the_last_stable_offset)
{
    lag_rows r;
    memset(&r, 0, sizeof r);
    lg_kafka_stats_read(stats, strlen(stats), on_lag, &r);
    ck_assert_msg(has_row(&r, "txn.commands/0=3"), "app_offset 7 of 10: lag 3");
    ck_assert_msg(has_row(&r, "txn.commands/1=5"), "app_offset 45 of 50: lag 5");
    ck_assert_msg(has_row(&r, "txn.commands/6=2"),
                  "the application's position, not a consumer_lag stale since the assignment");
    ck_assert_msg(has_row(&r, "txn.commands/7=12"),
                  "librdkafka's own consumer_lag before the application read anything");
    ck_assert_msg(has_row(&r, "txn.commands/3=0"), "from the committed offset before a fetch");
    ck_assert_msg(has_row(&r, "txn.commands/4=4"), "from the log start without any offset");
    /* not fetched (2), unknown end (5), the internal -1 partition: no row */
    ck_assert_int_eq(r.n, 6);
}
END_TEST

START_TEST(kafka_stats_refuses_what_is_not_statistics)
{
    ck_assert_int_eq(lg_kafka_stats_read("not json", 8, NULL, NULL), -1);
    ck_assert_int_eq(lg_kafka_stats_read("[1,2]", 5, NULL, NULL), -1);
    ck_assert_int_eq(lg_kafka_stats_read("{\"topics\":{}}", 13, NULL, NULL), -1);
    ck_assert_int_eq(lg_kafka_stats_read("{\"brokers\":{}}", 14, NULL, NULL), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kafka_stats");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;
    tcase_add_test(tc, kafka_stats_counts_brokers_up);
    tcase_add_test(tc, kafka_stats_lag_from_the_last_stable_offset);
    tcase_add_test(tc, kafka_stats_refuses_what_is_not_statistics);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
