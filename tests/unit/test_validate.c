/* Unit tests of the transaction request validator (src/common/lg_validate.c). */
#include "lg_validate.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int validate(const char *body, lg_txn_command *cmd, lg_problem *p)
{
    return lg_validate_txn_request(body, strlen(body), cmd, p);
}

static void expect_refusal(const char *body, int status, const char *type, const char *field)
{
    lg_txn_command cmd;
    lg_problem p;
    ck_assert_int_eq(validate(body, &cmd, &p), -1);
    ck_assert_int_eq(p.status, status);
    ck_assert_str_eq(p.type, type);
    if (field != NULL)
        ck_assert_str_eq(p.field, field);
    ck_assert_ptr_null(cmd.currency);
    ck_assert_ptr_null(cmd.to_account);
}

START_TEST(validate_accepts_a_deposit)
{
    lg_txn_command cmd;
    lg_problem p;
    ck_assert_int_eq(validate("{\"type\":\"DEPOSIT\",\"amount\":\"1250.75\",\"currency\":\"USD\","
                              "\"toAccount\":\"1234567890\",\"description\":\"salary\"}",
                              &cmd, &p),
                     0);
    ck_assert_int_eq(cmd.type, LG_TXN_DEPOSIT);
    ck_assert(cmd.amount_minor == 125075);
    ck_assert_str_eq(cmd.currency, "USD");
    ck_assert_str_eq(cmd.to_account, "1234567890");
    ck_assert_ptr_null(cmd.from_account);
    ck_assert_str_eq(cmd.description, "salary");
    lg_avro_free_command(&cmd);
}
END_TEST

START_TEST(validate_accepts_a_transfer_and_a_reversal)
{
    lg_txn_command cmd;
    lg_problem p;
    ck_assert_int_eq(validate("{\"type\":\"TRANSFER\",\"amount\":\"0.01\",\"currency\":\"EUR\","
                              "\"fromAccount\":\"111\",\"toAccount\":\"222\"}",
                              &cmd, &p),
                     0);
    ck_assert(cmd.amount_minor == 1);
    lg_avro_free_command(&cmd);
    ck_assert_int_eq(validate("{\"type\":\"REVERSAL\","
                              "\"originalTransactionId\":\"0b9a1bd6-2f00-8a61-8c1a-5cd1a1e0f7d1\","
                              "\"reason\":\"customer dispute\"}",
                              &cmd, &p),
                     0);
    ck_assert_int_eq(cmd.type, LG_TXN_REVERSAL);
    ck_assert_str_eq(cmd.reason, "customer dispute");
    lg_avro_free_command(&cmd);
}
END_TEST

START_TEST(validate_refuses_malformed_json)
{
    expect_refusal("{\"type\":", 400, "/problems/invalid-json", NULL);
    expect_refusal("[]", 400, "/problems/invalid-json", NULL);
    expect_refusal("", 400, "/problems/invalid-json", NULL);
    expect_refusal("{\"type\":\"DEPOSIT\",\"type\":\"FEE\"}", 400, "/problems/invalid-json", NULL);
}
END_TEST

START_TEST(validate_refuses_unknown_fields)
{
    expect_refusal("{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"USD\","
                   "\"toAccount\":\"1\",\"bonus\":\"yes\"}",
                   422, "/problems/unknown-field", "bonus");
}
END_TEST

START_TEST(validate_refuses_bad_amounts)
{
    const char *amounts[] = {"\"1e3\"", "\"1.234\"", "\"-5\"", "\" 5\"", "\"0\"", "\"0.00\"",
                             "\"10000000000000.00\"", "\"\"", "5", "null"};
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        char body[256];
        lg_txn_command cmd;
        lg_problem p;
        snprintf(body, sizeof body,
                 "{\"type\":\"DEPOSIT\",\"amount\":%s,\"currency\":\"USD\",\"toAccount\":\"1\"}",
                 amounts[i]);
        ck_assert_msg(validate(body, &cmd, &p) == -1, "amount %s accepted", amounts[i]);
        ck_assert_int_eq(p.status, 422);
        ck_assert_str_eq(p.field, "amount");
    }
}
END_TEST

START_TEST(validate_accepts_the_numeric_15_2_maximum)
{
    lg_txn_command cmd;
    lg_problem p;
    ck_assert_int_eq(validate("{\"type\":\"DEPOSIT\",\"amount\":\"9999999999999.99\","
                              "\"currency\":\"USD\",\"toAccount\":\"1\"}",
                              &cmd, &p),
                     0);
    ck_assert(cmd.amount_minor == INT64_C(999999999999999));
    lg_avro_free_command(&cmd);
}
END_TEST

START_TEST(validate_refuses_bad_currencies)
{
    expect_refusal("{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"usd\","
                   "\"toAccount\":\"1\"}",
                   422, "/problems/invalid-currency", "currency");
    expect_refusal("{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"XYZ\","
                   "\"toAccount\":\"1\"}",
                   422, "/problems/invalid-currency", "currency");
    expect_refusal("{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"toAccount\":\"1\"}", 422,
                   "/problems/missing-field", "currency");
    ck_assert(lg_currency_valid("JPY"));
    ck_assert(!lg_currency_valid("SD "));
    ck_assert(!lg_currency_valid("D J")); /* a space-aligned match inside the table */
}
END_TEST

START_TEST(validate_requires_the_accounts_of_each_type)
{
    expect_refusal("{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"USD\"}", 422,
                   "/problems/missing-field", "toAccount");
    expect_refusal("{\"type\":\"WITHDRAWAL\",\"amount\":\"1.00\",\"currency\":\"USD\","
                   "\"toAccount\":\"1\"}",
                   422, "/problems/missing-field", "fromAccount");
    expect_refusal("{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"USD\","
                   "\"toAccount\":\"1\",\"fromAccount\":\"2\"}",
                   422, "/problems/invalid-accounts", "fromAccount");
    expect_refusal("{\"type\":\"TRANSFER\",\"amount\":\"1.00\",\"currency\":\"USD\","
                   "\"fromAccount\":\"1\",\"toAccount\":\"1\"}",
                   422, "/problems/invalid-accounts", "toAccount");
    expect_refusal("{\"type\":\"FEE\",\"amount\":\"1.00\",\"currency\":\"USD\","
                   "\"fromAccount\":\"1 OR 1=1\"}",
                   422, "/problems/invalid-field", "fromAccount");
}
END_TEST

START_TEST(validate_refuses_a_reversal_without_reason_or_with_an_amount)
{
    expect_refusal("{\"type\":\"REVERSAL\","
                   "\"originalTransactionId\":\"0b9a1bd6-2f00-8a61-8c1a-5cd1a1e0f7d1\"}",
                   422, "/problems/missing-field", "reason");
    expect_refusal("{\"type\":\"REVERSAL\",\"amount\":\"1.00\","
                   "\"originalTransactionId\":\"0b9a1bd6-2f00-8a61-8c1a-5cd1a1e0f7d1\","
                   "\"reason\":\"x\"}",
                   422, "/problems/invalid-field", NULL);
    expect_refusal("{\"type\":\"REVERSAL\",\"originalTransactionId\":\"42\",\"reason\":\"x\"}",
                   422, "/problems/invalid-field", "originalTransactionId");
}
END_TEST

START_TEST(validate_refuses_oversized_text)
{
    char body[1024];
    char desc[LG_DESCRIPTION_MAX + 2];
    memset(desc, 'a', sizeof desc - 1);
    desc[sizeof desc - 1] = '\0';
    snprintf(body, sizeof body,
             "{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"USD\",\"toAccount\":\"1\","
             "\"description\":\"%s\"}",
             desc);
    expect_refusal(body, 422, "/problems/invalid-field", "description");
    expect_refusal("{\"type\":\"DEPOSIT\",\"amount\":\"1.00\",\"currency\":\"USD\","
                   "\"toAccount\":\"1\",\"description\":\"a\\u0000b\"}",
                   400, "/problems/invalid-json", NULL);
}
END_TEST

START_TEST(validate_checks_idempotency_keys)
{
    ck_assert(lg_idempotency_key_valid("order-42"));
    ck_assert(!lg_idempotency_key_valid(""));
    ck_assert(!lg_idempotency_key_valid("has space"));
    ck_assert(!lg_idempotency_key_valid("caf\xc3\xa9"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("validate");
    TCase *tc = tcase_create("requests");
    SRunner *sr;
    int failed;
    tcase_add_test(tc, validate_accepts_a_deposit);
    tcase_add_test(tc, validate_accepts_a_transfer_and_a_reversal);
    tcase_add_test(tc, validate_refuses_malformed_json);
    tcase_add_test(tc, validate_refuses_unknown_fields);
    tcase_add_test(tc, validate_refuses_bad_amounts);
    tcase_add_test(tc, validate_accepts_the_numeric_15_2_maximum);
    tcase_add_test(tc, validate_refuses_bad_currencies);
    tcase_add_test(tc, validate_requires_the_accounts_of_each_type);
    tcase_add_test(tc, validate_refuses_a_reversal_without_reason_or_with_an_amount);
    tcase_add_test(tc, validate_refuses_oversized_text);
    tcase_add_test(tc, validate_checks_idempotency_keys);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
