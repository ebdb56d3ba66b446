/* Unit tests for src/common/lg_money.c. */
#include "lg_money.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static int64_t parsed;
static char err[256];

static int parse(const char *text)
{
    parsed = -12345;
    err[0] = '\0';
    return lg_money_parse(text, &parsed, err, sizeof(err));
}

static int parse_signed(const char *text)
{
    parsed = -12345;
    err[0] = '\0';
    return lg_money_parse_signed(text, &parsed, err, sizeof(err));
}

/* A refusal leaves a readable reason and does not touch the output. */
static void assert_refused(const char *text, const char *reason_part)
{
    ck_assert_msg(parse(text) == -1, "\"%s\" was accepted as %lld", text, (long long)parsed);
    ck_assert_int_eq(parsed, -12345);
    ck_assert_msg(strstr(err, reason_part) != NULL, "\"%s\": reason \"%s\" lacks \"%s\"", text, err,
                  reason_part);
}

START_TEST(money_parse_reads_one_cent)
{
    ck_assert_int_eq(parse("0.01"), 0);
    ck_assert_int_eq(parsed, 1);
}
END_TEST

START_TEST(money_parse_reads_whole_and_one_digit_amounts)
{
    ck_assert_int_eq(parse("12"), 0);
    ck_assert_int_eq(parsed, 1200);
    ck_assert_int_eq(parse("12.5"), 0);
    ck_assert_int_eq(parsed, 1250);
    ck_assert_int_eq(parse("12.50"), 0);
    ck_assert_int_eq(parsed, 1250);
    ck_assert_int_eq(parse("1250.75"), 0);
    ck_assert_int_eq(parsed, 125075);
}
END_TEST

START_TEST(money_parse_accepts_zero_and_leading_zeros)
{
    ck_assert_int_eq(parse("0"), 0);
    ck_assert_int_eq(parsed, 0);
    ck_assert_int_eq(parse("0.00"), 0);
    ck_assert_int_eq(parsed, 0);
    ck_assert_int_eq(parse("007.10"), 0);
    ck_assert_int_eq(parsed, 710);
    ck_assert_int_eq(parse("00000000000000000000009999999999999.99"), 0);
    ck_assert_int_eq(parsed, LG_MONEY_MAX);
}
END_TEST

START_TEST(money_parse_rejects_an_exponent)
{
    assert_refused("1e3", "exponent");
    assert_refused("1E3", "exponent");
}
END_TEST

START_TEST(money_parse_rejects_three_fraction_digits)
{
    assert_refused("1.234", "more than two fraction digits");
    assert_refused("0.001", "more than two fraction digits");
}
END_TEST

START_TEST(money_parse_rejects_a_minus_sign_that_parse_signed_accepts)
{
    assert_refused("-5", "sign");
    ck_assert_int_eq(parse_signed("-5"), 0);
    ck_assert_int_eq(parsed, -500);
    ck_assert_int_eq(parse_signed("-12.30"), 0);
    ck_assert_int_eq(parsed, -1230);
    ck_assert_int_eq(parse_signed("-0.05"), 0);
    ck_assert_int_eq(parsed, -5);
    ck_assert_int_eq(parse_signed("12.30"), 0);
    ck_assert_int_eq(parsed, 1230);
}
END_TEST

START_TEST(money_parse_rejects_a_plus_sign)
{
    assert_refused("+5", "sign");
    ck_assert_int_eq(parse_signed("+5"), -1);
}
END_TEST

START_TEST(money_parse_signed_rejects_a_lone_or_double_minus)
{
    ck_assert_int_eq(parse_signed("-"), -1);
    ck_assert_int_eq(parsed, -12345);
    ck_assert_int_eq(parse_signed("--5"), -1);
    ck_assert_int_eq(parse_signed("-.5"), -1);
    ck_assert_int_eq(parse_signed("-10000000000000"), -1);
    ck_assert_int_eq(parse_signed("-9999999999999.99"), 0);
    ck_assert_int_eq(parsed, -LG_MONEY_MAX);
}
END_TEST

START_TEST(money_parse_rejects_surrounding_spaces)
{
    assert_refused(" 5", "whitespace");
    assert_refused("5 ", "whitespace");
    assert_refused("5\n", "whitespace");
    assert_refused("5 000", "whitespace");
}
END_TEST

START_TEST(money_parse_rejects_empty_and_lone_decimal_point)
{
    assert_refused("", "empty");
    assert_refused(".", "no digits before the decimal point");
}
END_TEST

START_TEST(money_parse_rejects_a_trailing_decimal_point)
{
    assert_refused("5.", "no digits after the decimal point");
}
END_TEST

START_TEST(money_parse_rejects_a_leading_decimal_point)
{
    assert_refused(".5", "no digits before the decimal point");
}
END_TEST

START_TEST(money_parse_rejects_other_characters)
{
    assert_refused("1,000.00", "','");
    assert_refused("5.0.0", "more than one decimal point");
    assert_refused("5.x", "unexpected character 'x'");
    assert_refused("abc", "unexpected character 'a'");
    assert_refused("0x10", "unexpected character 'x'");
    assert_refused("5\t", "whitespace");
    assert_refused(NULL, "missing");
}
END_TEST

START_TEST(money_parse_accepts_the_numeric_15_2_maximum)
{
    ck_assert_int_eq(parse("9999999999999.99"), 0);
    ck_assert_int_eq(parsed, LG_MONEY_MAX);
    ck_assert_int_eq(parsed, INT64_C(999999999999999));
}
END_TEST

START_TEST(money_parse_rejects_one_cent_over_the_maximum)
{
    /* 9999999999999.99 + 0.01 */
    assert_refused("10000000000000.00", "above the maximum");
    assert_refused("10000000000000", "above the maximum");
}
END_TEST

START_TEST(money_parse_rejects_huge_numbers_without_overflow)
{
    assert_refused("99999999999999999999999", "above the maximum");
    assert_refused("18446744073709551616", "above the maximum");
    assert_refused("9223372036854775808", "above the maximum");
}
END_TEST

START_TEST(money_parse_rejects_overlong_text)
{
    char text[200];

    memset(text, '0', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    assert_refused(text, "longer than 64 characters");
}
END_TEST

START_TEST(money_parse_rejects_non_ascii_digits)
{
    assert_refused("\xd9\xa5", "non-ASCII");      /* ARABIC-INDIC DIGIT FIVE */
    assert_refused("\xef\xbc\x95", "non-ASCII");  /* FULLWIDTH DIGIT FIVE */
    assert_refused("1\xef\xbc\x95", "non-ASCII"); /* 1 then FULLWIDTH DIGIT FIVE */
    assert_refused("1.\xd9\xa5", "non-ASCII");    /* in the fraction */
    assert_refused("\xe0\xa5\xab", "non-ASCII");  /* DEVANAGARI DIGIT FIVE */
}
END_TEST

START_TEST(money_parse_tolerates_a_null_or_tiny_error_buffer)
{
    int64_t out = 0;
    char tiny[4];

    ck_assert_int_eq(lg_money_parse("1.234", &out, NULL, 0), -1);
    ck_assert_int_eq(lg_money_parse("1.234", &out, tiny, sizeof(tiny)), -1);
    ck_assert_int_eq(strlen(tiny), 3);
}
END_TEST

static const char *format(int64_t minor_units)
{
    static char buf[LG_MONEY_STRLEN];

    return lg_money_format(minor_units, buf, sizeof(buf));
}

START_TEST(money_format_writes_two_fraction_digits)
{
    ck_assert_str_eq(format(0), "0.00");
    ck_assert_str_eq(format(5), "0.05");
    ck_assert_str_eq(format(-5), "-0.05");
    ck_assert_str_eq(format(100), "1.00");
    ck_assert_str_eq(format(125075), "1250.75");
    ck_assert_str_eq(format(-125075), "-1250.75");
}
END_TEST

START_TEST(money_format_writes_the_extremes)
{
    ck_assert_str_eq(format(LG_MONEY_MAX), "9999999999999.99");
    ck_assert_str_eq(format(-LG_MONEY_MAX), "-9999999999999.99");
    ck_assert_str_eq(format(INT64_MIN), "-92233720368547758.08");
    ck_assert_str_eq(format(INT64_MAX), "92233720368547758.07");
}
END_TEST

START_TEST(money_format_output_parses_back)
{
    static const int64_t values[] = {0, 1, 5, 99, 100, 125075, LG_MONEY_MAX, -1, -LG_MONEY_MAX};

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        ck_assert_int_eq(parse_signed(format(values[i])), 0);
        ck_assert_int_eq(parsed, values[i]);
    }
}
END_TEST

START_TEST(money_add_sums_within_range)
{
    int64_t out = 0;

    ck_assert_int_eq(lg_money_add(100, 25, &out), 0);
    ck_assert_int_eq(out, 125);
    ck_assert_int_eq(lg_money_add(LG_MONEY_MAX, -LG_MONEY_MAX, &out), 0);
    ck_assert_int_eq(out, 0);
    ck_assert_int_eq(lg_money_add(LG_MONEY_MAX - 1, 1, &out), 0);
    ck_assert_int_eq(out, LG_MONEY_MAX);
}
END_TEST

START_TEST(money_add_refuses_leaving_numeric_15_2)
{
    int64_t out = 42;

    ck_assert_int_eq(lg_money_add(LG_MONEY_MAX, 1, &out), -1);
    ck_assert_int_eq(lg_money_add(-LG_MONEY_MAX, -1, &out), -1);
    ck_assert_int_eq(out, 42);
}
END_TEST

START_TEST(money_add_refuses_int64_overflow)
{
    int64_t out = 42;

    ck_assert_int_eq(lg_money_add(INT64_MAX, 1, &out), -1);
    ck_assert_int_eq(lg_money_add(INT64_MIN, -1, &out), -1);
    ck_assert_int_eq(lg_money_add(INT64_MAX, INT64_MAX, &out), -1);
    ck_assert_int_eq(out, 42);
}
END_TEST

static Suite *money_suite(void)
{
    Suite *s = suite_create("money");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, money_parse_reads_one_cent);
    tcase_add_test(tc, money_parse_reads_whole_and_one_digit_amounts);
    tcase_add_test(tc, money_parse_accepts_zero_and_leading_zeros);
    tcase_add_test(tc, money_parse_rejects_an_exponent);
    tcase_add_test(tc, money_parse_rejects_three_fraction_digits);
    tcase_add_test(tc, money_parse_rejects_a_minus_sign_that_parse_signed_accepts);
    tcase_add_test(tc, money_parse_rejects_a_plus_sign);
    tcase_add_test(tc, money_parse_signed_rejects_a_lone_or_double_minus);
    tcase_add_test(tc, money_parse_rejects_surrounding_spaces);
    tcase_add_test(tc, money_parse_rejects_empty_and_lone_decimal_point);
    tcase_add_test(tc, money_parse_rejects_a_trailing_decimal_point);
    tcase_add_test(tc, money_parse_rejects_a_leading_decimal_point);
    tcase_add_test(tc, money_parse_rejects_other_characters);
    tcase_add_test(tc, money_parse_accepts_the_numeric_15_2_maximum);
    tcase_add_test(tc, money_parse_rejects_one_cent_over_the_maximum);
    tcase_add_test(tc, money_parse_rejects_huge_numbers_without_overflow);
    tcase_add_test(tc, money_parse_rejects_overlong_text);
    tcase_add_test(tc, money_parse_rejects_non_ascii_digits);
    tcase_add_test(tc, money_parse_tolerates_a_null_or_tiny_error_buffer);
    tcase_add_test(tc, money_format_writes_two_fraction_digits);
    tcase_add_test(tc, money_format_writes_the_extremes);
    tcase_add_test(tc, money_format_output_parses_back);
    tcase_add_test(tc, money_add_sums_within_range);
    tcase_add_test(tc, money_add_refuses_leaving_numeric_15_2);
    tcase_add_test(tc, money_add_refuses_int64_overflow);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(money_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
