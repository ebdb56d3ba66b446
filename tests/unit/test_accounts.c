/* Unit tests for src/common/lg_accounts.c: account numbers and their Luhn check digit. */
#include "lg_accounts.h"

#include <check.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

START_TEST(luhn_accepts_known_good_numbers)
{
    /* Published examples: a test card number, and the classic 79927398713. */
    ck_assert_int_eq(lg_luhn_valid("4539578763621486"), 1);
    ck_assert_int_eq(lg_luhn_valid("79927398713"), 1);
    ck_assert_int_eq(lg_luhn_valid("0000000000"), 1);
}
END_TEST

START_TEST(luhn_refuses_a_changed_digit_and_swapped_neighbours)
{
    ck_assert_int_eq(lg_luhn_valid("79927398710"), 0);
    ck_assert_int_eq(lg_luhn_valid("79927398714"), 0);
    ck_assert_int_eq(lg_luhn_valid("79927389713"), 0); /* 98 -> 89 */
}
END_TEST

START_TEST(luhn_refuses_what_is_not_digits)
{
    ck_assert_int_eq(lg_luhn_valid(NULL), 0);
    ck_assert_int_eq(lg_luhn_valid(""), 0);
    ck_assert_int_eq(lg_luhn_valid("0"), 0);
    ck_assert_int_eq(lg_luhn_valid("7992739871 3"), 0);
    ck_assert_int_eq(lg_luhn_valid("GL-1000-USD"), 0);
}
END_TEST

START_TEST(account_number_is_ten_digits_without_leading_zero_and_valid)
{
    ck_assert_int_ge(sodium_init(), 0);
    for (int i = 0; i < 10000; i++) {
        char n[LG_ACCOUNT_NUMBER_LEN + 1];
        lg_account_number_generate(n);
        ck_assert_uint_eq(strlen(n), 10);
        ck_assert_uint_eq(strspn(n, "0123456789"), 10);
        ck_assert_int_ne(n[0], '0');
        ck_assert_msg(lg_luhn_valid(n), "%s has a wrong check digit", n);
        /* Any single changed digit breaks it. */
        for (int pos = 0; pos < 10; pos++) {
            char m[LG_ACCOUNT_NUMBER_LEN + 1];
            memcpy(m, n, sizeof m);
            m[pos] = (char)('0' + (m[pos] - '0' + 1 + i % 9) % 10);
            ck_assert_msg(!lg_luhn_valid(m), "%s (from %s) passes", m, n);
        }
    }
}
END_TEST

static Suite *accounts_suite(void)
{
    Suite *s = suite_create("accounts");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, luhn_accepts_known_good_numbers);
    tcase_add_test(tc, luhn_refuses_a_changed_digit_and_swapped_neighbours);
    tcase_add_test(tc, luhn_refuses_what_is_not_digits);
    tcase_add_test(tc, account_number_is_ten_digits_without_leading_zero_and_valid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(accounts_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
