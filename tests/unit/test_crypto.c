/* Unit tests of keys, sealed secrets and issued ids (src/common/lg_crypto.c). */
#include "lg_crypto.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char key_path[64];
static lg_keyring *kr;

static void setup(void)
{
    char err[256];
    ck_assert_int_eq(lg_crypto_init(), 0);
    snprintf(key_path, sizeof key_path, "/tmp/lg-test-key-%d", (int)getpid());
    unlink(key_path);
    ck_assert_int_eq(lg_keyring_create_file(key_path, err, sizeof err), 0);
    kr = lg_keyring_load(key_path, err, sizeof err);
    ck_assert_ptr_nonnull(kr);
}

static void teardown(void)
{
    lg_keyring_free(kr);
    unlink(key_path);
}

START_TEST(secret_round_trips_for_its_tenant)
{
    char *sealed = NULL, *plain = NULL, err[256];
    const char *kid = NULL;
    ck_assert_int_eq(lg_secret_seal(kr, "tenant-a", "s3cret", &sealed, &kid, err, sizeof err), 0);
    ck_assert_ptr_null(strstr(sealed, "s3cret"));
    ck_assert_int_eq(lg_secret_open(kr, kid, "tenant-a", sealed, &plain, err, sizeof err), 0);
    ck_assert_str_eq(plain, "s3cret");
    lg_secret_free(plain);
    free(sealed);
}
END_TEST

START_TEST(secret_sealed_for_one_tenant_does_not_open_for_another)
{
    char *sealed = NULL, *plain = NULL, err[256];
    const char *kid = NULL;
    ck_assert_int_eq(lg_secret_seal(kr, "tenant-a", "s3cret", &sealed, &kid, err, sizeof err), 0);
    ck_assert_int_eq(lg_secret_open(kr, kid, "tenant-b", sealed, &plain, err, sizeof err), -1);
    ck_assert_ptr_null(plain);
    ck_assert_int_eq(lg_secret_open(kr, "no-such-key", "tenant-a", sealed, &plain, err,
                                    sizeof err),
                     -1);
    sealed[10] = sealed[10] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(lg_secret_open(kr, kid, "tenant-a", sealed, &plain, err, sizeof err), -1);
    free(sealed);
}
END_TEST

START_TEST(secret_survives_key_rotation)
{
    char *sealed = NULL, *plain = NULL, err[256], new_id[64];
    const char *kid = NULL, *kid2 = NULL;
    char old_kid[64];
    lg_keyring *kr2;
    ck_assert_int_eq(lg_secret_seal(kr, "t", "pw", &sealed, &kid, err, sizeof err), 0);
    snprintf(old_kid, sizeof old_kid, "%s", kid);
    ck_assert_int_eq(lg_keyring_append_key(key_path, new_id, sizeof new_id, err, sizeof err), 0);
    kr2 = lg_keyring_load(key_path, err, sizeof err);
    ck_assert_ptr_nonnull(kr2);
    ck_assert_str_eq(lg_keyring_active_id(kr2), new_id);
    ck_assert_int_eq(lg_secret_open(kr2, old_kid, "t", sealed, &plain, err, sizeof err), 0);
    ck_assert_str_eq(plain, "pw");
    lg_secret_free(plain);
    free(sealed);
    ck_assert_int_eq(lg_secret_seal(kr2, "t", "pw", &sealed, &kid2, err, sizeof err), 0);
    ck_assert_str_eq(kid2, new_id);
    free(sealed);
    lg_keyring_free(kr2);
}
END_TEST

START_TEST(keyring_refuses_a_malformed_file)
{
    char err[256];
    FILE *f = fopen(key_path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("k1 not-hex\n", f);
    fclose(f);
    ck_assert_ptr_null(lg_keyring_load(key_path, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "line 1"));
}
END_TEST

START_TEST(txn_id_verifies_only_for_its_tenant)
{
    char id[LG_UUID_STRLEN], forged[LG_UUID_STRLEN];
    lg_txn_id_issue(kr, "tenant-a", NULL, id);
    ck_assert(lg_uuid_valid(id));
    ck_assert_int_eq(id[14], '8'); /* version 8 */
    ck_assert(lg_txn_id_verify(kr, "tenant-a", id));
    ck_assert(!lg_txn_id_verify(kr, "tenant-b", id));
    memcpy(forged, id, sizeof forged);
    forged[35] = forged[35] == '0' ? '1' : '0';
    ck_assert(!lg_txn_id_verify(kr, "tenant-a", forged));
    ck_assert(!lg_txn_id_verify(kr, "tenant-a", "0b9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1"));
}
END_TEST

START_TEST(txn_id_is_deterministic_per_idempotency_key)
{
    char a[LG_UUID_STRLEN], b[LG_UUID_STRLEN], c[LG_UUID_STRLEN], d[LG_UUID_STRLEN];
    lg_txn_id_issue(kr, "tenant-a", "key-1", a);
    lg_txn_id_issue(kr, "tenant-a", "key-1", b);
    lg_txn_id_issue(kr, "tenant-a", "key-2", c);
    lg_txn_id_issue(kr, "tenant-b", "key-1", d);
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
    ck_assert_str_ne(a, d);
    ck_assert(lg_txn_id_verify(kr, "tenant-a", a));
    ck_assert(lg_txn_id_verify(kr, "tenant-b", d));
}
END_TEST

START_TEST(apikey_hash_is_stable_and_keys_differ)
{
    char k1[LG_APIKEY_STRLEN], k2[LG_APIKEY_STRLEN], h1[LG_HASH_HEXLEN], h2[LG_HASH_HEXLEN];
    lg_apikey_generate(k1);
    lg_apikey_generate(k2);
    ck_assert_str_ne(k1, k2);
    ck_assert_int_eq(strncmp(k1, "lk_", 3), 0);
    ck_assert_uint_eq(strlen(k1), 46);
    lg_hash_hex(k1, strlen(k1), h1);
    lg_hash_hex(k1, strlen(k1), h2);
    ck_assert_str_eq(h1, h2);
    ck_assert_uint_eq(strlen(h1), 64);
}
END_TEST

START_TEST(uuid_derive_is_deterministic)
{
    char a[LG_UUID_STRLEN], b[LG_UUID_STRLEN], c[LG_UUID_STRLEN];
    lg_uuid_derive(a, (const char *const[]){"t", "x", "entry", "0"}, 4);
    lg_uuid_derive(b, (const char *const[]){"t", "x", "entry", "0"}, 4);
    lg_uuid_derive(c, (const char *const[]){"t", "x", "entry", "1"}, 4);
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
    ck_assert(lg_uuid_valid(a));
    /* Part boundaries matter: ("ab","c") is not ("a","bc"). */
    lg_uuid_derive(a, (const char *const[]){"ab", "c"}, 2);
    lg_uuid_derive(b, (const char *const[]){"a", "bc"}, 2);
    ck_assert_str_ne(a, b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crypto");
    TCase *tc = tcase_create("crypto");
    SRunner *sr;
    int failed;
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, secret_round_trips_for_its_tenant);
    tcase_add_test(tc, secret_sealed_for_one_tenant_does_not_open_for_another);
    tcase_add_test(tc, secret_survives_key_rotation);
    tcase_add_test(tc, keyring_refuses_a_malformed_file);
    tcase_add_test(tc, txn_id_verifies_only_for_its_tenant);
    tcase_add_test(tc, txn_id_is_deterministic_per_idempotency_key);
    tcase_add_test(tc, apikey_hash_is_stable_and_keys_differ);
    tcase_add_test(tc, uuid_derive_is_deterministic);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
