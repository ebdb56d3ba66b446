/* Unit tests for the connection pools of src/common/lg_tenant.c: what needs no database (the
 * master is a closed port, so every acquire of a tenant fails before any tenant connection). */
#include "lg_tenant.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_MASTER "host=127.0.0.1 port=1 dbname=none user=none connect_timeout=1"

static int pools_seen;

static void count_pool(const char *tenant_id, int in_use, int idle, void *arg)
{
    (void)tenant_id;
    (void)in_use;
    (void)idle;
    (void)arg;
    pools_seen++;
}

START_TEST(pool_limits_refuse_nonsense)
{
    char err[256];
    lg_router *r = lg_router_new(NO_MASTER, NULL, 2, err, sizeof err);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(lg_router_set_pool_limits(r, 0, 300, err, sizeof err), -1);
    ck_assert_int_eq(lg_router_set_pool_limits(r, 10, -1, err, sizeof err), -1);
    ck_assert_int_eq(lg_router_pool_total(r, NULL, NULL), 100); /* the default, unchanged */
    ck_assert_int_eq(lg_router_set_pool_limits(r, 7, 0, err, sizeof err), 0);
    ck_assert_int_eq(lg_router_pool_total(r, NULL, NULL), 7);
    lg_router_free(r);
}
END_TEST

START_TEST(failed_acquire_gives_its_slot_back_and_the_empty_pool_goes)
{
    char err[256];
    int in_use = -1, idle = -1;
    lg_router *r = lg_router_new(NO_MASTER, NULL, 1, err, sizeof err);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(lg_router_set_pool_limits(r, 1, 300, err, sizeof err), 0);
    /* With one slot in total, a slot kept after a failure would make the second acquire wait
     * and time out instead of failing on the master again. */
    for (int i = 0; i < 2; i++) {
        err[0] = '\0';
        ck_assert_ptr_null(lg_router_acquire(r, "0193a1b2-c3d4-8e5f-9a6b-7c8d9e0f1a2b", 50, err,
                                             sizeof err));
        ck_assert_msg(strstr(err, "within") == NULL, "slot not given back: %s", err);
    }
    ck_assert_int_eq(lg_router_pool_total(r, &in_use, &idle), 1);
    ck_assert_int_eq(in_use, 0);
    ck_assert_int_eq(idle, 0);
    pools_seen = 0;
    lg_router_pool_stats(r, count_pool, NULL);
    ck_assert_int_eq(pools_seen, 1); /* the tenant's pool, empty; the master's is not shown */
    ck_assert_int_eq(lg_router_sweep(r), 0);
    pools_seen = 0;
    lg_router_pool_stats(r, count_pool, NULL);
    ck_assert_int_eq(pools_seen, 0); /* dropped by the sweep */
    lg_router_free(r);
}
END_TEST

START_TEST(sslmode_names_are_libpqs)
{
    const char *good[] = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_int_eq(lg_tenant_sslmode_valid(good[i]), 1);
    ck_assert_int_eq(lg_tenant_sslmode_valid("verify_full"), 0);
    ck_assert_int_eq(lg_tenant_sslmode_valid(""), 0);
    ck_assert_int_eq(lg_tenant_sslmode_valid(NULL), 0);
    ck_assert_int_eq(lg_tenant_sslmode_valid("REQUIRE"), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, pool_limits_refuse_nonsense);
    tcase_add_test(tc, failed_acquire_gives_its_slot_back_and_the_empty_pool_goes);
    tcase_add_test(tc, sslmode_names_are_libpqs);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
