/* Unit tests for the per-credential token buckets of src/producer-api/api_ratelimit.c. */
#include "api_ratelimit.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define S 1000000000LL /* one second in ns */

START_TEST(burst_then_refused_with_the_wait)
{
    api_ratelimit *rl = api_ratelimit_new(2, 5); /* 2/s, burst 5 */
    int64_t t = 100 * S;
    ck_assert_ptr_nonnull(rl);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(api_ratelimit_take(rl, "k:a", t), 0);
    ck_assert_int_eq(api_ratelimit_take(rl, "k:a", t), 1); /* 0.5 s to the next token: 1 s */
    /* Another credential has a bucket of its own. */
    ck_assert_int_eq(api_ratelimit_take(rl, "k:b", t), 0);
    /* Half a second later one token is back, and only one. */
    ck_assert_int_eq(api_ratelimit_take(rl, "k:a", t + S / 2), 0);
    ck_assert_int_eq(api_ratelimit_take(rl, "k:a", t + S / 2), 1);
    /* After a long idle time the bucket is full again, never fuller than the burst. */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(api_ratelimit_take(rl, "k:a", t + 3600 * S), 0);
    ck_assert_int_ne(api_ratelimit_take(rl, "k:a", t + 3600 * S), 0);
    api_ratelimit_free(rl);
}
END_TEST

START_TEST(retry_after_covers_a_slow_rate)
{
    api_ratelimit *rl = api_ratelimit_new(1, 1);
    ck_assert_int_eq(api_ratelimit_take(rl, "u:x", 5 * S), 0);
    ck_assert_int_eq(api_ratelimit_take(rl, "u:x", 5 * S), 1);
    ck_assert_int_eq(api_ratelimit_take(rl, "u:x", 5 * S + S / 10), 1);
    ck_assert_int_eq(api_ratelimit_take(rl, "u:x", 6 * S), 0);
    api_ratelimit_free(rl);
}
END_TEST

START_TEST(zero_rate_means_no_limit)
{
    ck_assert_ptr_null(api_ratelimit_new(0, 10));
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(api_ratelimit_take(NULL, "k:a", 0), 0);
}
END_TEST

/* The busy credential keeps its (empty) bucket while idle credentials come and go. */
START_TEST(idle_buckets_are_reused_before_busy_ones)
{
    api_ratelimit *rl = api_ratelimit_new(1, 2);
    char key[48];
    int64_t t = 10 * S;
    ck_assert_int_eq(api_ratelimit_take(rl, "k:busy", t), 0);
    ck_assert_int_eq(api_ratelimit_take(rl, "k:busy", t), 0);
    /* Thousands of others, each used once long ago (full again, so freely reused), then
     * thousands used just before: when a neighbourhood is all busy, the least recently used
     * bucket goes, which is never the busy credential's. Memory stays the fixed table. */
    for (unsigned i = 0; i < api_ratelimit_capacity() * 2; i++) {
        snprintf(key, sizeof key, "k:old-%u", i);
        ck_assert_int_eq(api_ratelimit_take(rl, key, 1), 0);
    }
    for (unsigned i = 0; i < api_ratelimit_capacity() * 2; i++) {
        snprintf(key, sizeof key, "k:new-%u", i);
        ck_assert_int_eq(api_ratelimit_take(rl, key, t - S / 10), 0);
    }
    /* Still empty: it was not forgotten. */
    ck_assert_int_eq(api_ratelimit_take(rl, "k:busy", t), 1);
    api_ratelimit_free(rl);
}
END_TEST

typedef struct {
    api_ratelimit *rl;
    int allowed;
} worker_arg;

static void *take_many(void *arg)
{
    worker_arg *w = arg;
    for (int i = 0; i < 10000; i++)
        if (api_ratelimit_take(w->rl, "k:shared", 7 * S) == 0)
            w->allowed++;
    return NULL;
}

/* Threads sharing one credential at one instant get exactly the burst between them. */
START_TEST(threads_share_one_bucket_exactly)
{
    api_ratelimit *rl = api_ratelimit_new(1, 1000);
    pthread_t th[4];
    worker_arg w[4];
    int total = 0;
    for (int i = 0; i < 4; i++) {
        w[i].rl = rl;
        w[i].allowed = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, take_many, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += w[i].allowed;
    }
    ck_assert_int_eq(total, 1000);
    api_ratelimit_free(rl);
}
END_TEST

/* Not a timed assertion: prints what one take costs (docs/RELIABILITY.md quotes it). */
START_TEST(cost_of_a_take)
{
    api_ratelimit *rl = api_ratelimit_new(2000, 4000);
    struct timespec a, b;
    char key[48];
    double ns;
    int allowed = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 1000000; i++) {
        snprintf(key, sizeof key, "k:%08d-0000-4000-8000-000000000000", i % 1000);
        allowed += api_ratelimit_take(rl, key, (int64_t)i * 1000) == 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e6;
    printf("ratelimit: %.0f ns per take (1000 credentials, one thread, key formatting included)\n",
           ns);
    ck_assert_int_gt(allowed, 0);
    api_ratelimit_free(rl);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, burst_then_refused_with_the_wait);
    tcase_add_test(tc, retry_after_covers_a_slow_rate);
    tcase_add_test(tc, zero_rate_means_no_limit);
    tcase_add_test(tc, idle_buckets_are_reused_before_busy_ones);
    tcase_add_test(tc, threads_share_one_bucket_exactly);
    tcase_add_test(tc, cost_of_a_take);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
