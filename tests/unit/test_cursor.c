/* Unit tests for src/common/lg_cursor.c. */
#include "lg_cursor.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char id_a[] = "0193a1b2-c3d4-8e5f-9a6b-7c8d9e0f1a2b";

START_TEST(cursor_txn_round_trips_time_and_id)
{
    const int64_t times[] = {0, 1, -1, INT64_C(1795601730123456), INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        char c[LG_CURSOR_STRLEN], id[LG_UUID_STRLEN];
        int64_t t = 42;
        ck_assert_int_eq(lg_cursor_encode_txn(times[i], id_a, c, sizeof c), 0);
        ck_assert_int_eq(lg_cursor_decode_txn(c, &t, id), 0);
        ck_assert_msg(t == times[i], "time %lld came back as %lld", (long long)times[i],
                      (long long)t);
        ck_assert_str_eq(id, id_a);
    }
}
END_TEST

START_TEST(cursor_txn_is_url_safe_base64_without_padding)
{
    char c[LG_CURSOR_STRLEN];
    ck_assert_int_eq(
        lg_cursor_encode_txn(INT64_C(-1), "ffffffff-ffff-ffff-ffff-ffffffffffff", c, sizeof c), 0);
    ck_assert_uint_eq(strlen(c), 34);
    ck_assert_uint_eq(strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                      34);
}
END_TEST

START_TEST(cursor_txn_encode_refuses_a_non_uuid)
{
    char c[LG_CURSOR_STRLEN];
    ck_assert_int_eq(lg_cursor_encode_txn(0, "not-a-uuid", c, sizeof c), -1);
    ck_assert_int_eq(lg_cursor_encode_txn(0, NULL, c, sizeof c), -1);
    ck_assert_int_eq(lg_cursor_encode_txn(0, id_a, c, 10), -1);
}
END_TEST

START_TEST(cursor_entry_round_trips_the_sequence)
{
    const int64_t seqs[] = {1, 255, 256, INT64_C(1) << 40, INT64_MAX};
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        char c[LG_CURSOR_STRLEN];
        int64_t s = 0;
        ck_assert_int_eq(lg_cursor_encode_entry(seqs[i], c, sizeof c), 0);
        ck_assert_uint_eq(strlen(c), 12);
        ck_assert_int_eq(lg_cursor_decode_entry(c, &s), 0);
        ck_assert_msg(s == seqs[i], "seq %lld came back as %lld", (long long)seqs[i], (long long)s);
    }
}
END_TEST

START_TEST(cursor_entry_decode_refuses_a_sequence_below_one)
{
    char c[LG_CURSOR_STRLEN];
    int64_t s = 7;
    ck_assert_int_eq(lg_cursor_encode_entry(0, c, sizeof c), 0);
    ck_assert_int_eq(lg_cursor_decode_entry(c, &s), -1);
    ck_assert_int_eq(lg_cursor_encode_entry(-5, c, sizeof c), 0);
    ck_assert_int_eq(lg_cursor_decode_entry(c, &s), -1);
    ck_assert_int_eq(s, 7);
}
END_TEST

START_TEST(cursor_decode_refuses_another_lists_cursor)
{
    char t[LG_CURSOR_STRLEN], e[LG_CURSOR_STRLEN], id[LG_UUID_STRLEN];
    int64_t v;
    ck_assert_int_eq(lg_cursor_encode_txn(5, id_a, t, sizeof t), 0);
    ck_assert_int_eq(lg_cursor_encode_entry(5, e, sizeof e), 0);
    ck_assert_int_eq(lg_cursor_decode_entry(t, &v), -1);
    ck_assert_int_eq(lg_cursor_decode_txn(e, &v, id), -1);
}
END_TEST

START_TEST(cursor_decode_refuses_damaged_text)
{
    char c[LG_CURSOR_STRLEN], bad[LG_CURSOR_STRLEN + 8], id[LG_UUID_STRLEN];
    int64_t v;
    ck_assert_int_eq(lg_cursor_encode_txn(123456, id_a, c, sizeof c), 0);
    /* Truncated, extended, padded, standard alphabet, a character outside the alphabet. */
    snprintf(bad, sizeof bad, "%.33s", c);
    ck_assert_int_eq(lg_cursor_decode_txn(bad, &v, id), -1);
    snprintf(bad, sizeof bad, "%sAA", c);
    ck_assert_int_eq(lg_cursor_decode_txn(bad, &v, id), -1);
    snprintf(bad, sizeof bad, "%s==", c);
    ck_assert_int_eq(lg_cursor_decode_txn(bad, &v, id), -1);
    snprintf(bad, sizeof bad, "%s", c);
    bad[5] = '+';
    ck_assert_int_eq(lg_cursor_decode_txn(bad, &v, id), -1);
    bad[5] = '.';
    ck_assert_int_eq(lg_cursor_decode_txn(bad, &v, id), -1);
    ck_assert_int_eq(lg_cursor_decode_txn("", &v, id), -1);
    ck_assert_int_eq(lg_cursor_decode_txn(NULL, &v, id), -1);
    ck_assert_int_eq(lg_cursor_decode_entry("not a cursor", &v), -1);
    memset(bad, 'A', sizeof bad - 1);
    bad[sizeof bad - 1] = '\0';
    ck_assert_int_eq(lg_cursor_decode_txn(bad, &v, id), -1);
}
END_TEST

START_TEST(cursor_decode_refuses_non_canonical_trailing_bits)
{
    /* 9 bytes encode to 12 characters with no spare bits; 25 bytes to 34 with 4 spare bits.
     * Changing the last character of a transaction cursor in its spare bits alone must fail. */
    char c[LG_CURSOR_STRLEN], id[LG_UUID_STRLEN];
    int64_t v;
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t last;
    ck_assert_int_eq(lg_cursor_encode_txn(0, id_a, c, sizeof c), 0);
    last = (size_t)(strchr(alphabet, c[33]) - alphabet);
    ck_assert_uint_eq(last & 15, 0);
    c[33] = alphabet[last | 1];
    ck_assert_int_eq(lg_cursor_decode_txn(c, &v, id), -1);
}
END_TEST

START_TEST(cursor_keyset_round_trips_and_keeps_to_its_kind)
{
    char c[LG_CURSOR_STRLEN], id[LG_UUID_STRLEN], txn[LG_CURSOR_STRLEN];
    int64_t t = 0;
    ck_assert_int_eq(lg_cursor_encode_row('K', INT64_C(1795601730123456), id_a, c, sizeof c),
                     0);
    ck_assert_int_eq(lg_cursor_decode_row('K', c, &t, id), 0);
    ck_assert(t == INT64_C(1795601730123456));
    ck_assert_str_eq(id, id_a);
    /* Another list's cursor, and the transactions' kind, are refused. */
    ck_assert_int_eq(lg_cursor_decode_row('U', c, &t, id), -1);
    ck_assert_int_eq(lg_cursor_encode_txn(1, id_a, txn, sizeof txn), 0);
    ck_assert_int_eq(lg_cursor_decode_row('K', txn, &t, id), -1);
    ck_assert_int_eq(lg_cursor_decode_txn(c, &t, id), -1);
    ck_assert_int_eq(lg_cursor_encode_row('K', 1, "nope", c, sizeof c), -1);
}
END_TEST

START_TEST(cursor_customer_and_account_rows_keep_lists_apart)
{
    char c[LG_CURSOR_STRLEN], a[LG_CURSOR_STRLEN], t[LG_CURSOR_STRLEN], id[LG_UUID_STRLEN];
    int64_t v = 0;
    ck_assert_int_eq(lg_cursor_encode_row(LG_CURSOR_CUSTOMERS, 77, id_a, c, sizeof c), 0);
    ck_assert_int_eq(lg_cursor_encode_row(LG_CURSOR_ACCOUNTS, 77, id_a, a, sizeof a), 0);
    ck_assert_int_eq(lg_cursor_encode_txn(77, id_a, t, sizeof t), 0);
    ck_assert_int_eq(lg_cursor_decode_row(LG_CURSOR_CUSTOMERS, c, &v, id), 0);
    ck_assert_int_eq(v, 77);
    ck_assert_str_eq(id, id_a);
    /* The same key in three lists gives three cursors, each refused by the other lists. */
    ck_assert_str_ne(c, a);
    ck_assert_str_ne(c, t);
    ck_assert_int_eq(lg_cursor_decode_row(LG_CURSOR_ACCOUNTS, c, &v, id), -1);
    ck_assert_int_eq(lg_cursor_decode_row(LG_CURSOR_CUSTOMERS, a, &v, id), -1);
    ck_assert_int_eq(lg_cursor_decode_row(LG_CURSOR_CUSTOMERS, t, &v, id), -1);
    ck_assert_int_eq(lg_cursor_decode_txn(c, &v, id), -1);
    ck_assert_int_eq(lg_cursor_decode_entry(c, &v), -1);
    /* The entry kind is not a row kind. */
    ck_assert_int_eq(lg_cursor_encode_row('E', 77, id_a, c, sizeof c), -1);
}
END_TEST

static Suite *cursor_suite(void)
{
    Suite *s = suite_create("cursor");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, cursor_txn_round_trips_time_and_id);
    tcase_add_test(tc, cursor_txn_is_url_safe_base64_without_padding);
    tcase_add_test(tc, cursor_txn_encode_refuses_a_non_uuid);
    tcase_add_test(tc, cursor_entry_round_trips_the_sequence);
    tcase_add_test(tc, cursor_entry_decode_refuses_a_sequence_below_one);
    tcase_add_test(tc, cursor_decode_refuses_another_lists_cursor);
    tcase_add_test(tc, cursor_decode_refuses_damaged_text);
    tcase_add_test(tc, cursor_decode_refuses_non_canonical_trailing_bits);
    tcase_add_test(tc, cursor_keyset_round_trips_and_keeps_to_its_kind);
    tcase_add_test(tc, cursor_customer_and_account_rows_keep_lists_apart);
    suite_add_tcase(s, tc);
    return s;
}



int main(void)
{
    SRunner *sr = srunner_create(cursor_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
