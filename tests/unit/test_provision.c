/* Unit tests for src/common/lg_provision.c (what needs no database) and the row cursors of
 * src/common/lg_cursor.c that the users and tenants lists use. */
#include "lg_cursor.h"
#include "lg_provision.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char id_a[] = "0193a1b2-c3d4-8e5f-9a6b-7c8d9e0f1a2b";

/* Writes text to a temporary file; returns its path (static buffer). */
static const char *temp_file(const char *text)
{
    static char path[64];
    FILE *f;
    int fd;
    snprintf(path, sizeof path, "/tmp/lg_servers_XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

START_TEST(servers_file_names_each_server_with_its_conninfo)
{
    char err[256];
    const char *path = temp_file("# servers\n\n"
                                 "main host=127.0.0.1 port=5432 user=postgres password=a\n"
                                 "  second   host=10.0.0.2 port=6543 user=postgres password=b\n");
    lg_pg_servers *s = lg_pg_servers_load(path, err, sizeof err);
    unlink(path);
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_uint_eq(lg_pg_servers_count(s), 2);
    ck_assert_str_eq(lg_pg_servers_name(s, 0), "main");
    ck_assert_str_eq(lg_pg_servers_name(s, 1), "second");
    ck_assert_str_eq(lg_pg_servers_dsn(s, "second"),
                     "host=10.0.0.2 port=6543 user=postgres password=b");
    ck_assert_ptr_null(lg_pg_servers_dsn(s, "third"));
    ck_assert_str_eq(lg_pg_servers_find(s, "10.0.0.2", "6543"), "second");
    ck_assert_ptr_null(lg_pg_servers_find(s, "10.0.0.2", "5432"));
    lg_pg_servers_free(s);
}
END_TEST

START_TEST(servers_file_refuses_bad_lines_without_showing_them)
{
    const char *bad[] = {"main\n", "Main host=x\n", "main host=x\nmain host=y\n",
                         "main host=x port\n", "# nothing\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256];
        const char *path = temp_file(bad[i]);
        lg_pg_servers *s = lg_pg_servers_load(path, err, sizeof err);
        unlink(path);
        ck_assert_msg(s == NULL, "accepted \"%s\"", bad[i]);
        ck_assert_ptr_null(strstr(err, "host=y"));
    }
}
END_TEST

START_TEST(servers_file_missing_is_an_error)
{
    char err[256];
    ck_assert_ptr_null(lg_pg_servers_load("/nonexistent/servers", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/servers"));
}
END_TEST

START_TEST(slug_rules)
{
    ck_assert(lg_provision_slug_valid("abc-bank"));
    ck_assert(lg_provision_slug_valid("a"));
    ck_assert(!lg_provision_slug_valid(""));
    ck_assert(!lg_provision_slug_valid("-abc"));
    ck_assert(!lg_provision_slug_valid("abc-"));
    ck_assert(!lg_provision_slug_valid("ABC"));
    ck_assert(!lg_provision_slug_valid("a_b"));
    ck_assert(!lg_provision_slug_valid("abcdefghijabcdefghijabcdefghijabcdefghijx"));
    ck_assert(!lg_provision_slug_valid(NULL));
}
END_TEST

START_TEST(name_and_tier_rules)
{
    ck_assert(lg_provision_name_valid("ABC Bank plc"));
    ck_assert(!lg_provision_name_valid(""));
    ck_assert(!lg_provision_name_valid("line\nbreak"));
    ck_assert(lg_provision_tier_valid("premium_2"));
    ck_assert(!lg_provision_tier_valid("Premium"));
    ck_assert(!lg_provision_tier_valid(""));
}
END_TEST

START_TEST(row_cursor_round_trips_and_keeps_its_kind)
{
    char c[LG_CURSOR_STRLEN], id[LG_UUID_STRLEN];
    int64_t t = 0;
    ck_assert_int_eq(
        lg_cursor_encode_row(LG_CURSOR_KIND_USER, INT64_C(1795601730123456), id_a, c, sizeof c), 0);
    ck_assert_int_eq(lg_cursor_decode_row(LG_CURSOR_KIND_USER, c, &t, id), 0);
    ck_assert(t == INT64_C(1795601730123456));
    ck_assert_str_eq(id, id_a);
    ck_assert_int_eq(lg_cursor_decode_row(LG_CURSOR_KIND_TENANT, c, &t, id), -1);
    ck_assert_int_eq(lg_cursor_decode_txn(c, &t, id), -1);
    ck_assert_int_eq(lg_cursor_encode_txn(1, id_a, c, sizeof c), 0);
    ck_assert_int_eq(lg_cursor_decode_row(LG_CURSOR_KIND_USER, c, &t, id), -1);
    ck_assert_int_eq(lg_cursor_decode_row('T', c, &t, id), 0);
    ck_assert_int_eq(lg_cursor_encode_row('E', 1, id_a, c, sizeof c), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("provision");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;
    tcase_add_test(tc, servers_file_names_each_server_with_its_conninfo);
    tcase_add_test(tc, servers_file_refuses_bad_lines_without_showing_them);
    tcase_add_test(tc, servers_file_missing_is_an_error);
    tcase_add_test(tc, slug_rules);
    tcase_add_test(tc, name_and_tier_rules);
    tcase_add_test(tc, row_cursor_round_trips_and_keeps_its_kind);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
