/*
 * Regression tests for what the fuzz targets (tests/fuzz/) found, one per finding, named after
 * the bug. The inputs are the ones the fuzzer saved (also kept in tests/fuzz/corpus/).
 */
#include "lg_crypto.h"
#include "lg_cursor.h"
#include "lg_jwt.h"
#include "lg_problem.h"
#include "lg_validate.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The problem+json of p parses, and carries a string detail (and its field, when it has one). */
static void assert_problem_json_complete(const lg_problem *p)
{
    char *text = lg_problem_json(p, "/v1/transactions");
    json_error_t jerr;
    json_t *doc;

    ck_assert_ptr_nonnull(text);
    doc = json_loads(text, 0, &jerr);
    ck_assert_msg(doc != NULL, "not JSON: %s", text);
    ck_assert_msg(json_is_string(json_object_get(doc, "detail")), "no detail in %s", text);
    ck_assert_msg(p->field[0] == '\0' || json_is_string(json_object_get(doc, "field")),
                  "no field in %s", text);
    json_decref(doc);
    free(text);
}

/* fuzz_txn_request: jansson's error text quotes the bytes near the error, here the middle of a
 * UTF-8 sequence; the detail was not UTF-8 and vanished from the 400 answer. */
START_TEST(problem_detail_survives_a_json_error_quoting_broken_utf8)
{
    static const unsigned char body[] = {
        0x7b, 0x22, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0x44, 0x45, 0x50, 0x4f, 0x53,
        0x49, 0x54, 0x22, 0x2c, 0x22, 0x61, 0x6d, 0x6f, 0x75, 0x6e, 0x74, 0x22, 0x3a, 0x22,
        0x5c, 0x75, 0x30, 0xc9, 0x9a, 0xc6, 0xdf, 0xa3, 0x8a, 0xcd, 0xcf, 0x61, 0x63, 0x20,
        0x5c, 0x75, 0x64, 0x38, 0x33, 0x64, 0x5c, 0x75, 0x64, 0x65, 0x30, 0x30, 0x22, 0x7d};
    lg_txn_command cmd;
    lg_problem p;

    ck_assert_int_eq(lg_validate_txn_request((const char *)body, sizeof body, &cmd, &p), -1);
    ck_assert_int_eq(p.status, 400);
    ck_assert_str_eq(p.type, "/problems/invalid-json");
    assert_problem_json_complete(&p);
}
END_TEST

/* The same through a field name: an unknown member is quoted with "%.64s" and kept in a 64-byte
 * field, both of which can cut a multi-byte character in two. */
START_TEST(problem_detail_survives_a_field_name_cut_inside_a_character)
{
    char body[256], name[80];
    lg_txn_command cmd;
    lg_problem p;

    memset(name, 'a', 63);
    memcpy(name + 63, "\xc3\xa9\xc3\xa9", 5); /* "éé": byte 64 is the middle of the first */
    snprintf(body, sizeof body, "{\"%s\": 1}", name);
    ck_assert_int_eq(lg_validate_txn_request(body, strlen(body), &cmd, &p), -1);
    ck_assert_int_eq(p.status, 422);
    ck_assert_str_eq(p.type, "/problems/unknown-field");
    assert_problem_json_complete(&p);
}
END_TEST

START_TEST(problem_set_keeps_valid_utf8_and_replaces_broken_bytes)
{
    lg_problem p;
    lg_problem_set(&p, 422, "/problems/x", "X", "caf\xc3\xa9", "ok \xe2\x82\xac bad \xff\xc3");
    ck_assert_str_eq(p.field, "caf\xc3\xa9");
    ck_assert_str_eq(p.detail, "ok \xe2\x82\xac bad ??");
    /* Surrogates and overlong forms are not UTF-8 either. */
    lg_problem_set(&p, 400, "/problems/x", "X", NULL, "\xed\xa0\x80|\xc0\xaf|\xf4\x90\x80\x80");
    ck_assert_str_eq(p.detail, "???|??|????");
    assert_problem_json_complete(&p);
}
END_TEST

/* fuzz_jwt: libsodium 1.0.18 reads some bytes above 0x7f as base64url characters, so a token
 * with such a byte in place of a '_' (the fuzzer's: 0xb8) still verified. */
START_TEST(jwt_refuses_a_high_byte_in_place_of_a_base64url_character)
{
    char key_path[64], err[256];
    lg_keyring *kr;
    json_t *claims, *ok;
    char *token;
    size_t n;
    int tried = 0;

    ck_assert_int_eq(lg_crypto_init(), 0);
    snprintf(key_path, sizeof key_path, "/tmp/lg-fuzzreg-key-%d", (int)getpid());
    unlink(key_path);
    ck_assert_int_eq(lg_keyring_create_file(key_path, err, sizeof err), 0);
    kr = lg_keyring_load(key_path, err, sizeof err);
    unlink(key_path);
    ck_assert_ptr_nonnull(kr);
    claims = json_pack("{s:s, s:s, s:s}", "sub", "0b9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1", "tid",
                       "1c9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1", "role", "TELLER");
    /* The fuzzer's alias was for '_': sign until the signature has one (about one token in
     * two does; each signing has a fresh jti). */
    token = NULL;
    for (int attempt = 0; attempt < 200; attempt++) {
        free(token);
        token = lg_jwt_sign(kr, claims, 3600);
        ck_assert_ptr_nonnull(token);
        if (strchr(strrchr(token, '.'), '_') != NULL)
            break;
    }
    json_decref(claims);
    ck_assert_ptr_nonnull(strchr(strrchr(token, '.'), '_'));
    ok = lg_jwt_verify(kr, token, (int64_t)time(NULL), err, sizeof err);
    ck_assert_ptr_nonnull(ok);
    json_decref(ok);

    /* Every position of every part, every high byte: nothing but the original verifies. */
    n = strlen(token);
    for (size_t i = 0; i < n; i++) {
        char saved = token[i];
        if (saved == '.')
            continue;
        for (int b = 0x80; b <= 0xff; b++) {
            json_t *c;
            token[i] = (char)b;
            c = lg_jwt_verify(kr, token, (int64_t)time(NULL), err, sizeof err);
            ck_assert_msg(c == NULL, "byte 0x%02x at %zu in place of '%c' verified", b, i, saved);
            tried++;
        }
        token[i] = saved;
    }
    ck_assert_int_gt(tried, 0);
    free(token);
    lg_keyring_free(kr);
}
END_TEST

/* fuzz_cursor: the same libsodium behaviour let a page cursor have other spellings
 * ("RQAA\x9dAAAAAAq" read as "RQAA_AAAAAAq"), against the module's promise of one. */
START_TEST(cursor_refuses_a_high_byte_in_place_of_a_base64url_character)
{
    char text[LG_CURSOR_STRLEN], id[LG_UUID_STRLEN];
    int64_t seq = 0, us = 0;

    ck_assert_int_eq(lg_crypto_init(), 0);
    ck_assert_int_eq(lg_cursor_decode_entry("RQAA_AAAAAAq", &seq), 0);
    ck_assert_int_eq(lg_cursor_decode_entry("RQAA\x9d" "AAAAAAq", &seq), -1);

    ck_assert_int_eq(lg_cursor_encode_entry(42, text, sizeof text), 0);
    for (size_t i = 0; text[i] != '\0'; i++) {
        char saved = text[i];
        for (int b = 0x80; b <= 0xff; b++) {
            text[i] = (char)b;
            ck_assert_msg(lg_cursor_decode_entry(text, &seq) == -1, "0x%02x at %zu read", b, i);
        }
        text[i] = saved;
    }
    ck_assert_int_eq(lg_cursor_encode_txn(1764000000123456, "0b9a1bd6-2f00-8a61-8c1a-5cd1a1e0f7d1",
                                          text, sizeof text),
                     0);
    for (size_t i = 0; text[i] != '\0'; i++) {
        char saved = text[i];
        for (int b = 0x80; b <= 0xff; b++) {
            text[i] = (char)b;
            ck_assert_msg(lg_cursor_decode_txn(text, &us, id) == -1, "0x%02x at %zu read", b, i);
        }
        text[i] = saved;
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fuzz_regressions");
    TCase *tc = tcase_create("fuzz_regressions");
    SRunner *sr;
    int failed;
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, problem_detail_survives_a_json_error_quoting_broken_utf8);
    tcase_add_test(tc, problem_detail_survives_a_field_name_cut_inside_a_character);
    tcase_add_test(tc, problem_set_keeps_valid_utf8_and_replaces_broken_bytes);
    tcase_add_test(tc, jwt_refuses_a_high_byte_in_place_of_a_base64url_character);
    tcase_add_test(tc, cursor_refuses_a_high_byte_in_place_of_a_base64url_character);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
