/* Unit tests for src/ledgerctl/ctl_duration.c. */
#include "ctl_duration.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char interval[32];

static void assert_parses(const char *text, const char *want)
{
    snprintf(interval, sizeof interval, "untouched");
    ck_assert_msg(ctl_duration_parse(text, interval, sizeof interval) == 0, "\"%s\" refused", text);
    ck_assert_str_eq(interval, want);
}

static void assert_refused(const char *text)
{
    snprintf(interval, sizeof interval, "untouched");
    ck_assert_msg(ctl_duration_parse(text, interval, sizeof interval) == -1,
                  "\"%s\" accepted as %s", text, interval);
    ck_assert_str_eq(interval, "untouched");
}

START_TEST(duration_parse_reads_each_unit)
{
    assert_parses("7y", "7 years");
    assert_parses("18m", "18 months");
    assert_parses("30d", "30 days");
    assert_parses("12h", "12 hours");
    assert_parses("1h", "1 hours");
}
END_TEST

START_TEST(duration_parse_accepts_the_largest_values)
{
    assert_parses("200y", "200 years");
    assert_parses("2400m", "2400 months");
    assert_parses("73000d", "73000 days");
    assert_parses("1752000h", "1752000 hours");
}
END_TEST

START_TEST(duration_parse_rejects_values_above_200_years)
{
    assert_refused("201y");
    assert_refused("2401m");
    assert_refused("73001d");
    assert_refused("1752001h");
    assert_refused("999999999y");
}
END_TEST

START_TEST(duration_parse_rejects_zero_signs_fractions_and_leading_zeros)
{
    assert_refused("0d");
    assert_refused("00d");
    assert_refused("07d");
    assert_refused("-3d");
    assert_refused("+3d");
    assert_refused("1.5y");
    assert_refused("1,5y");
}
END_TEST

START_TEST(duration_parse_rejects_other_shapes)
{
    assert_refused(NULL);
    assert_refused("");
    assert_refused("7");
    assert_refused("y");
    assert_refused("7x");
    assert_refused("7Y");
    assert_refused("7yy");
    assert_refused("7y1d");
    assert_refused(" 7d");
    assert_refused("7d ");
    assert_refused("7 d");
    assert_refused("7days");
    assert_refused("0x10d");
}
END_TEST

static Suite *duration_suite(void)
{
    Suite *s = suite_create("ctl_duration");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, duration_parse_reads_each_unit);
    tcase_add_test(tc, duration_parse_accepts_the_largest_values);
    tcase_add_test(tc, duration_parse_rejects_values_above_200_years);
    tcase_add_test(tc, duration_parse_rejects_zero_signs_fractions_and_leading_zeros);
    tcase_add_test(tc, duration_parse_rejects_other_shapes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(duration_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
