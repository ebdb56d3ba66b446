/*
 * Passwords: Argon2id through libsodium's crypto_pwhash_str (the hash string carries its own
 * algorithm, parameters and salt). The cost is configurable (LEDGER_PWHASH_OPSLIMIT,
 * LEDGER_PWHASH_MEMLIMIT_KIB; defaults: 3 passes over 19 MiB, OWASP's Argon2id minimum), and a
 * hash made with other parameters is re-made at the next successful login.
 */
#ifndef LG_PASSWORD_H
#define LG_PASSWORD_H

#include <stddef.h>

#define LG_PASSWORD_HASH_MAX 128 /* crypto_pwhash_STRBYTES */
#define LG_PASSWORD_MIN 12
#define LG_PASSWORD_MAX 128

/* Hashes password into out (LG_PASSWORD_HASH_MAX bytes). Returns 0, or -1 (out of memory). */
int lg_password_hash(const char *password, char out[LG_PASSWORD_HASH_MAX]);

/* Does password match hash? A hash that is not an Argon2id string (e.g. "!" for an account
 * that cannot log in) never matches. */
int lg_password_verify(const char *hash, const char *password);

/* Was hash made with other parameters than the current ones? */
int lg_password_needs_rehash(const char *hash);

/* Checks a new password against the policy (LG_PASSWORD_MIN to LG_PASSWORD_MAX bytes, not all
 * one character class...). Returns 0, or -1 with a readable reason. */
int lg_password_policy(const char *password, char *err, size_t err_size);

#endif
