/* Unit tests for src/common/lg_time.c. */
#include "lg_time.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static int64_t parsed;
static char err[256];

static int parse(const char *text)
{
    parsed = -12345;
    err[0] = '\0';
    return lg_time_parse_rfc3339(text, &parsed, err, sizeof err);
}

static void assert_parses(const char *text, int64_t want_us)
{
    ck_assert_msg(parse(text) == 0, "\"%s\" was refused: %s", text, err);
    ck_assert_msg(parsed == want_us, "\"%s\" parsed as %lld, expected %lld", text,
                  (long long)parsed, (long long)want_us);
}

static void assert_refused(const char *text, const char *reason_part)
{
    ck_assert_msg(parse(text) == -1, "\"%s\" was accepted as %lld", text, (long long)parsed);
    ck_assert_int_eq(parsed, -12345);
    ck_assert_msg(strstr(err, reason_part) != NULL, "\"%s\": reason \"%s\" lacks \"%s\"", text, err,
                  reason_part);
}

START_TEST(time_parse_reads_utc_instants)
{
    assert_parses("2026-11-25T10:15:30Z", INT64_C(1795601730) * 1000000);
    assert_parses("1970-01-01T00:00:00Z", 0);
    assert_parses("2024-02-29T23:59:59Z", INT64_C(1709251199) * 1000000);
    assert_parses("1969-12-31T23:59:59Z", -1000000);
    assert_parses("2026-11-25t10:15:30z", INT64_C(1795601730) * 1000000);
}
END_TEST

START_TEST(time_parse_applies_the_offset)
{
    assert_parses("2026-11-25T11:15:30+01:00", INT64_C(1795601730) * 1000000);
    assert_parses("2026-11-25T04:45:30-05:30", INT64_C(1795601730) * 1000000);
    assert_parses("2026-11-25T10:15:30+00:00", INT64_C(1795601730) * 1000000);
}
END_TEST

START_TEST(time_parse_reads_a_space_as_the_plus_of_the_offset)
{
    assert_parses("2026-11-25T11:15:30 01:00", INT64_C(1795601730) * 1000000);
}
END_TEST

START_TEST(time_parse_keeps_microseconds_and_rounds_finer_fractions_up)
{
    assert_parses("1970-01-01T00:00:00.5Z", 500000);
    assert_parses("1970-01-01T00:00:00.123456Z", 123456);
    assert_parses("1970-01-01T00:00:00.123456000Z", 123456);
    assert_parses("1970-01-01T00:00:00.1234561Z", 123457);
    assert_parses("1970-01-01T00:00:00.000000001Z", 1);
    assert_parses("1970-01-01T00:00:59.9999999Z", 60000000);
}
END_TEST

START_TEST(time_parse_accepts_the_first_and_last_years)
{
    assert_parses("0001-01-01T00:00:00Z", INT64_C(-62135596800) * 1000000);
    assert_parses("9999-12-31T23:59:59.999999Z", INT64_C(253402300799) * 1000000 + 999999);
}
END_TEST

START_TEST(time_parse_rejects_instants_outside_the_years_1_to_9999)
{
    assert_refused("0000-12-31T23:59:59Z", "year");
    assert_refused("0001-01-01T00:30:00+01:00", "outside");
    assert_refused("9999-12-31T23:30:00-01:00", "outside");
}
END_TEST

START_TEST(time_parse_rejects_a_missing_offset)
{
    assert_refused("2026-11-25T10:15:30", "RFC 3339");
    assert_refused("2026-11-25T10:15:30.5", "offset");
    assert_refused("2026-11-25T10:15:30+0100", "offset");
    assert_refused("2026-11-25T10:15:30+01", "offset");
}
END_TEST

START_TEST(time_parse_rejects_dates_and_other_shapes)
{
    assert_refused("2026-11-25", "RFC 3339");
    assert_refused("", "RFC 3339");
    assert_refused("2026-11-25 10:15:30Z", "RFC 3339");
    assert_refused("20261125T101530Z", "RFC 3339");
    assert_refused("2026-1-25T10:15:30Z", "RFC 3339");
    assert_refused("2026-11-25T10:15:3aZ", "RFC 3339");
    assert_refused("+026-11-25T10:15:30Z", "RFC 3339");
    assert_refused("1795601730", "RFC 3339");
    assert_refused("2026-11-25T10:15:30ZZ", "offset");
    assert_refused("2026-11-25T10:15:30Z ", "offset");
    assert_refused("2026-11-25T10:15:30.Z", "fraction");
    assert_refused("2026-11-25T10:15:30.1234567890Z", "fraction");
    assert_refused("2026-11-25T10:15:30.000000000000000000000000000000Z", "longer than 40");
}
END_TEST

START_TEST(time_parse_rejects_impossible_calendar_values)
{
    assert_refused("2026-13-01T00:00:00Z", "month");
    assert_refused("2026-00-01T00:00:00Z", "month");
    assert_refused("2026-02-29T00:00:00Z", "no day 29");
    assert_refused("1900-02-29T00:00:00Z", "no day 29");
    assert_refused("2026-04-31T00:00:00Z", "no day 31");
    assert_refused("2026-11-00T00:00:00Z", "no day 00");
    assert_refused("2026-11-25T24:00:00Z", "time of day");
    assert_refused("2026-11-25T23:60:00Z", "time of day");
    assert_refused("2026-11-25T23:59:60Z", "time of day");
    assert_refused("2026-11-25T10:15:30+24:00", "offset");
    assert_refused("2026-11-25T10:15:30+01:60", "offset");
    ck_assert_int_eq(parse("2000-02-29T00:00:00Z"), 0);
}
END_TEST

START_TEST(time_parse_tolerates_null_text_and_a_null_error_buffer)
{
    int64_t v = 7;
    ck_assert_int_eq(lg_time_parse_rfc3339(NULL, &v, NULL, 0), -1);
    ck_assert_int_eq(lg_time_parse_rfc3339("nonsense", &v, NULL, 0), -1);
    ck_assert_int_eq(v, 7);
}
END_TEST

START_TEST(time_format_pg_writes_microseconds_in_utc)
{
    char buf[LG_TIME_PG_STRLEN];
    ck_assert_str_eq(lg_time_format_pg(0, buf, sizeof buf), "1970-01-01 00:00:00.000000+00");
    ck_assert_str_eq(lg_time_format_pg(INT64_C(1795601730) * 1000000 + 42, buf, sizeof buf),
                     "2026-11-25 10:15:30.000042+00");
    ck_assert_str_eq(lg_time_format_pg(-1, buf, sizeof buf), "1969-12-31 23:59:59.999999+00");
    ck_assert_str_eq(lg_time_format_pg(INT64_C(1709251199) * 1000000, buf, sizeof buf),
                     "2024-02-29 23:59:59.000000+00");
}
END_TEST

START_TEST(time_format_pg_refuses_instants_outside_the_years_1_to_9999)
{
    char buf[LG_TIME_PG_STRLEN];
    ck_assert_ptr_nonnull(lg_time_format_pg(INT64_C(-62135596800) * 1000000, buf, sizeof buf));
    ck_assert_str_eq(buf, "0001-01-01 00:00:00.000000+00");
    ck_assert_ptr_null(lg_time_format_pg(INT64_C(-62135596800) * 1000000 - 1, buf, sizeof buf));
    ck_assert_ptr_null(lg_time_format_pg(INT64_C(253402300800) * 1000000, buf, sizeof buf));
    ck_assert_ptr_null(lg_time_format_pg(INT64_MIN, buf, sizeof buf));
    ck_assert_ptr_null(lg_time_format_pg(INT64_MAX, buf, sizeof buf));
    ck_assert_ptr_null(lg_time_format_pg(0, buf, 10));
}
END_TEST

START_TEST(time_format_pg_and_parse_agree_across_the_calendar)
{
    char buf[LG_TIME_PG_STRLEN], iso[LG_TIME_PG_STRLEN];
    /* Every 997th day from 0001 to 9999, at an odd time of day. */
    for (int64_t us = INT64_C(-62135596800) * 1000000 + 3723000042;
         us < INT64_C(253402300799) * 1000000; us += INT64_C(997) * 86400 * 1000000) {
        ck_assert_ptr_nonnull(lg_time_format_pg(us, buf, sizeof buf));
        /* "YYYY-MM-DD HH:MM:SS.ffffff+00" -> "YYYY-MM-DDTHH:MM:SS.ffffffZ" */
        memcpy(iso, buf, 26);
        iso[10] = 'T';
        iso[26] = 'Z';
        iso[27] = '\0';
        ck_assert_msg(parse(iso) == 0 && parsed == us, "%s: %s", iso, err);
    }
}
END_TEST

static Suite *time_suite(void)
{
    Suite *s = suite_create("time");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, time_parse_reads_utc_instants);
    tcase_add_test(tc, time_parse_applies_the_offset);
    tcase_add_test(tc, time_parse_reads_a_space_as_the_plus_of_the_offset);
    tcase_add_test(tc, time_parse_keeps_microseconds_and_rounds_finer_fractions_up);
    tcase_add_test(tc, time_parse_accepts_the_first_and_last_years);
    tcase_add_test(tc, time_parse_rejects_instants_outside_the_years_1_to_9999);
    tcase_add_test(tc, time_parse_rejects_a_missing_offset);
    tcase_add_test(tc, time_parse_rejects_dates_and_other_shapes);
    tcase_add_test(tc, time_parse_rejects_impossible_calendar_values);
    tcase_add_test(tc, time_parse_tolerates_null_text_and_a_null_error_buffer);
    tcase_add_test(tc, time_format_pg_writes_microseconds_in_utc);
    tcase_add_test(tc, time_format_pg_refuses_instants_outside_the_years_1_to_9999);
    tcase_add_test(tc, time_format_pg_and_parse_agree_across_the_calendar);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(time_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
