/* Unit tests of bearer tokens (lg_jwt.c) and password hashing (lg_password.c). */
#include "lg_jwt.h"
#include "lg_password.h"

#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char key_path[64];
static lg_keyring *kr;

static void setup(void)
{
    char err[256];
    ck_assert_int_eq(lg_crypto_init(), 0);
    snprintf(key_path, sizeof key_path, "/tmp/lg-auth-key-%d", (int)getpid());
    unlink(key_path);
    ck_assert_int_eq(lg_keyring_create_file(key_path, err, sizeof err), 0);
    kr = lg_keyring_load(key_path, err, sizeof err);
    ck_assert_ptr_nonnull(kr);
    setenv("LEDGER_PWHASH_MEMLIMIT_KIB", "8192", 1); /* fast tests */
    setenv("LEDGER_PWHASH_OPSLIMIT", "1", 1);
}

static void teardown(void)
{
    lg_keyring_free(kr);
    unlink(key_path);
}

static char *token_for(const char *role, int64_t ttl)
{
    json_t *claims = json_pack("{s:s, s:s, s:s}", "sub", "0b9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1",
                               "tid", "1c9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1", "role", role);
    char *t = lg_jwt_sign(kr, claims, ttl);
    json_decref(claims);
    return t;
}

/* Replaces the part `index` (0 header, 1 payload) of token with base64url(text). */
static char *with_part(const char *token, int index, const char *text)
{
    size_t out_size = strlen(token) + 600;
    char b64[512], *out = malloc(out_size);
    const char *dot1 = strchr(token, '.'), *dot2 = strchr(dot1 + 1, '.');
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)text, strlen(text),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (index == 0)
        snprintf(out, out_size, "%s%s", b64, dot1);
    else
        snprintf(out, out_size, "%.*s.%s%s", (int)(dot1 - token), token, b64, dot2);
    return out;
}

START_TEST(jwt_round_trips)
{
    char err[128];
    char *t = token_for("TELLER", 60);
    json_t *c = lg_jwt_verify(kr, t, (int64_t)time(NULL), err, sizeof err);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(json_string_value(json_object_get(c, "role")), "TELLER");
    ck_assert_str_eq(json_string_value(json_object_get(c, "iss")), "ledger");
    json_decref(c);
    free(t);
}
END_TEST

START_TEST(jwt_refuses_an_expired_token)
{
    char err[128];
    char *t = token_for("TELLER", 60);
    ck_assert_ptr_null(lg_jwt_verify(kr, t, (int64_t)time(NULL) + 61, err, sizeof err));
    free(t);
}
END_TEST

START_TEST(jwt_refuses_alg_none_and_other_algorithms)
{
    char err[128];
    char *t = token_for("TELLER", 60);
    const char *headers[] = {"{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
                             "{\"typ\":\"JWT\",\"alg\":\"HS256\"}", "{\"alg\":\"HS256\"}"};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char *forged = with_part(t, 0, headers[i]);
        ck_assert_ptr_null(lg_jwt_verify(kr, forged, (int64_t)time(NULL), err, sizeof err));
        free(forged);
    }
    /* alg none with an empty signature */
    {
        char *forged = with_part(t, 0, "{\"alg\":\"none\",\"typ\":\"JWT\"}");
        *(strrchr(forged, '.') + 1) = '\0';
        ck_assert_ptr_null(lg_jwt_verify(kr, forged, (int64_t)time(NULL), err, sizeof err));
        free(forged);
    }
    free(t);
}
END_TEST

START_TEST(jwt_refuses_a_tampered_payload)
{
    char err[128];
    char *t = token_for("TELLER", 60);
    char *forged = with_part(t, 1,
                             "{\"exp\":9999999999,\"iss\":\"ledger\",\"role\":\"SUPER_ADMIN\","
                             "\"sub\":\"0b9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1\"}");
    ck_assert_ptr_null(lg_jwt_verify(kr, forged, (int64_t)time(NULL), err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "signature"));
    free(forged);
    free(t);
}
END_TEST

START_TEST(jwt_refuses_a_token_signed_with_another_key)
{
    char err[128], other_path[80];
    lg_keyring *other;
    char *t;
    snprintf(other_path, sizeof other_path, "%s-other", key_path);
    unlink(other_path);
    ck_assert_int_eq(lg_keyring_create_file(other_path, err, sizeof err), 0);
    other = lg_keyring_load(other_path, err, sizeof err);
    {
        json_t *claims = json_pack("{s:s, s:s}", "sub", "x", "role", "TELLER");
        t = lg_jwt_sign(other, claims, 60);
        json_decref(claims);
    }
    ck_assert_ptr_null(lg_jwt_verify(kr, t, (int64_t)time(NULL), err, sizeof err));
    free(t);
    lg_keyring_free(other);
    unlink(other_path);
}
END_TEST

START_TEST(jwt_refuses_garbage)
{
    char err[128];
    const char *bad[] = {"", "a", "a.b", "a.b.c", "a.b.c.d", "....", "eyJ.eyJ.sig"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_ptr_null(lg_jwt_verify(kr, bad[i], (int64_t)time(NULL), err, sizeof err));
}
END_TEST

START_TEST(password_hash_is_argon2id_and_verifies)
{
    char hash[LG_PASSWORD_HASH_MAX];
    ck_assert_int_eq(lg_password_hash("Correct-Horse-9", hash), 0);
    ck_assert_int_eq(strncmp(hash, "$argon2id$", 10), 0);
    ck_assert(lg_password_verify(hash, "Correct-Horse-9"));
    ck_assert(!lg_password_verify(hash, "Correct-Horse-8"));
    ck_assert(!lg_password_verify("!", "anything"));
    ck_assert(!lg_password_needs_rehash(hash));
    setenv("LEDGER_PWHASH_OPSLIMIT", "2", 1);
    ck_assert(lg_password_needs_rehash(hash));
}
END_TEST

START_TEST(password_policy_refuses_weak_passwords)
{
    char err[128];
    ck_assert_int_eq(lg_password_policy("short1A!", err, sizeof err), -1);
    ck_assert_int_eq(lg_password_policy("alllowercaseletters", err, sizeof err), -1);
    ck_assert_int_eq(lg_password_policy("Long-enough-pass1", err, sizeof err), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("auth");
    SRunner *sr;
    int failed;
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, jwt_round_trips);
    tcase_add_test(tc, jwt_refuses_an_expired_token);
    tcase_add_test(tc, jwt_refuses_alg_none_and_other_algorithms);
    tcase_add_test(tc, jwt_refuses_a_tampered_payload);
    tcase_add_test(tc, jwt_refuses_a_token_signed_with_another_key);
    tcase_add_test(tc, jwt_refuses_garbage);
    tcase_add_test(tc, password_hash_is_argon2id_and_verifies);
    tcase_add_test(tc, password_policy_refuses_weak_passwords);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
