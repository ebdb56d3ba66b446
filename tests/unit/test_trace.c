/* Unit tests for src/common/lg_trace.c: W3C traceparent validation and request ids. */
#include "lg_trace.h"

#include <check.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define GOOD "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

START_TEST(trace_parse_accepts_the_w3c_example)
{
    lg_trace t;
    ck_assert_int_eq(lg_traceparent_parse(GOOD, &t), 1);
    ck_assert_str_eq(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    ck_assert_str_eq(t.parent_id, "00f067aa0ba902b7");
    ck_assert_str_eq(t.flags, "01");
}
END_TEST

START_TEST(trace_parse_refuses_malformed_traceparents)
{
    static const char *const bad[] = {
        "",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* version 01 */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* version ff */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  /* zero parent id */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  /* uppercase */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",   /* short trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", /* trailing */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",  /* flags not hex */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba9z2b7-01",  /* parent not hex */
        NULL};
    for (size_t i = 0; bad[i] != NULL; i++)
        ck_assert_msg(lg_traceparent_parse(bad[i], NULL) == 0, "accepted \"%s\"", bad[i]);
    ck_assert_int_eq(lg_traceparent_parse(NULL, NULL), 0);
}
END_TEST

START_TEST(trace_start_keeps_the_trace_and_makes_a_new_span)
{
    lg_trace t;
    lg_trace_start(GOOD, &t);
    ck_assert_str_eq(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    ck_assert_str_eq(t.parent_id, "00f067aa0ba902b7");
    ck_assert_str_ne(t.span_id, "00f067aa0ba902b7");
    ck_assert_int_eq(strlen(t.span_id), 16);
    ck_assert_int_eq(lg_traceparent_parse(t.traceparent, NULL), 1);
    ck_assert_int_eq(strncmp(t.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36), 0);
    ck_assert_str_eq(t.traceparent + 36 + 16, "-01");
    ck_assert_int_eq(strncmp(t.traceparent + 36, t.span_id, 16), 0);
}
END_TEST

START_TEST(trace_start_begins_a_new_trace_for_an_invalid_one)
{
    lg_trace a, b;
    lg_trace_start("00-00000000000000000000000000000000-00f067aa0ba902b7-01", &a);
    lg_trace_start(NULL, &b);
    ck_assert_str_eq(a.parent_id, "");
    ck_assert_int_eq(strlen(a.trace_id), 32);
    ck_assert_int_eq(lg_traceparent_parse(a.traceparent, NULL), 1);
    ck_assert_int_eq(lg_traceparent_parse(b.traceparent, NULL), 1);
    ck_assert_str_ne(a.trace_id, b.trace_id);
}
END_TEST

START_TEST(request_id_validation_and_generation)
{
    char id[33], other[33];
    char longest[LG_REQUEST_ID_MAX + 2];
    ck_assert_int_eq(lg_request_id_valid("req-42_a.b:c/d"), 1);
    ck_assert_int_eq(lg_request_id_valid(""), 0);
    ck_assert_int_eq(lg_request_id_valid("has space"), 0);
    ck_assert_int_eq(lg_request_id_valid("tab\there"), 0);
    ck_assert_int_eq(lg_request_id_valid("caf\xc3\xa9"), 0);
    memset(longest, 'a', sizeof longest);
    longest[LG_REQUEST_ID_MAX] = '\0';
    ck_assert_int_eq(lg_request_id_valid(longest), 1);
    longest[LG_REQUEST_ID_MAX] = 'a';
    longest[LG_REQUEST_ID_MAX + 1] = '\0';
    ck_assert_int_eq(lg_request_id_valid(longest), 0);
    lg_request_id_new(id);
    lg_request_id_new(other);
    ck_assert_int_eq(strlen(id), 32);
    ck_assert_int_eq(strspn(id, "0123456789abcdef"), 32);
    ck_assert_str_ne(id, other);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;
    if (sodium_init() < 0)
        return EXIT_FAILURE;
    tcase_add_test(tc, trace_parse_accepts_the_w3c_example);
    tcase_add_test(tc, trace_parse_refuses_malformed_traceparents);
    tcase_add_test(tc, trace_start_keeps_the_trace_and_makes_a_new_span);
    tcase_add_test(tc, trace_start_begins_a_new_trace_for_an_invalid_one);
    tcase_add_test(tc, request_id_validation_and_generation);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
