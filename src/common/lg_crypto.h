/*
 * Secrets and identifiers, all with libsodium.
 *
 * Keyring: the master keys live in a file (LEDGER_MASTER_KEY_FILE), never in a database. One key
 * per line, "<key-id> <64 hex digits>"; the last line is the active key, older lines stay to open
 * what they sealed until `ledgerctl keys rotate` has re-sealed it. '#' starts a comment.
 *
 * Sealed secrets (tenant database passwords): XChaCha20-Poly1305 (IETF) under the active key with
 * the tenant id as associated data, stored as base64(nonce || ciphertext) beside the key id, so
 * that a ciphertext copied to another tenant's row does not open.
 *
 * Transaction ids: UUIDs (version 8) whose last 8 bytes are a MAC of the tenant id and the first
 * 8 bytes, under a subkey of the keyring's first key, so the API can tell an id it issued (PENDING
 * until the worker records it) from a made-up one (404) without a database write.
 */
#ifndef LG_CRYPTO_H
#define LG_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define LG_UUID_STRLEN 37 /* 36 characters and a NUL */
#define LG_HASH_HEXLEN 65 /* BLAKE2b-256 as hex and a NUL */
#define LG_APIKEY_STRLEN 64

typedef struct lg_keyring lg_keyring;

/* Initialises libsodium. Returns 0 or -1. Call once at start-up. */
int lg_crypto_init(void);

/* Loads a keyring file. Returns NULL with the reason in err. Free with lg_keyring_free. */
lg_keyring *lg_keyring_load(const char *path, char *err, size_t err_size);
void lg_keyring_free(lg_keyring *kr);
/* The active key's id. Borrowed from kr. */
const char *lg_keyring_active_id(const lg_keyring *kr);

/* Does kr hold the key key_id? */
int lg_keyring_has(const lg_keyring *kr, const char *key_id);
/* How many keys kr holds. */
size_t lg_keyring_count(const lg_keyring *kr);
/* Do a and b start with the same key (same id, same bytes)? The token and transaction-id subkeys
 * come from the first key, so a reloaded key file may be adopted only when this holds. */
int lg_keyring_same_first_key(const lg_keyring *a, const lg_keyring *b);

/* Writes a new keyring file with one fresh key (mode 0600). Fails if the file exists. */
int lg_keyring_create_file(const char *path, char *err, size_t err_size);
/* Appends a fresh key to the file, which becomes the active key once reloaded. */
int lg_keyring_append_key(const char *path, char *new_id, size_t new_id_size, char *err,
                          size_t err_size);

/* Seals plaintext for tenant_id under the active key. *sealed_b64 is malloc'd (caller frees);
 * *key_id is borrowed from kr. Returns 0 or -1. */
int lg_secret_seal(const lg_keyring *kr, const char *tenant_id, const char *plaintext,
                   char **sealed_b64, const char **key_id, char *err, size_t err_size);
/* Opens a sealed secret; *plaintext is malloc'd (caller frees with lg_secret_free). Fails when the
 * key id is unknown, the data was altered, or it was sealed for another tenant. */
int lg_secret_open(const lg_keyring *kr, const char *key_id, const char *tenant_id,
                   const char *sealed_b64, char **plaintext, char *err, size_t err_size);
/* Wipes and frees a secret. Accepts NULL. */
void lg_secret_free(char *secret);

/* A subkey of the keyring's first key for one purpose (context: 8 characters), e.g. the token
 * signing key. The first key stays in the file across rotations, so these subkeys do too. */
void lg_keyring_subkey(const lg_keyring *kr, const char context[8], unsigned char *out,
                       size_t out_len);

/* A random UUID (version 4) into out[LG_UUID_STRLEN]. */
void lg_uuid_random(char out[LG_UUID_STRLEN]);
/* A deterministic UUID (version 8) from a BLAKE2b hash of the given parts (NUL-separated). */
void lg_uuid_derive(char out[LG_UUID_STRLEN], const char *const *parts, size_t n_parts);
/* Is s a canonical lower-case UUID string? */
int lg_uuid_valid(const char *s);

/* A new transaction id for tenant_id. With an idempotency key, the id is derived from tenant and
 * key (the same key always gives the same id); otherwise its first half is random. */
void lg_txn_id_issue(const lg_keyring *kr, const char *tenant_id, const char *idempotency_key,
                     char out[LG_UUID_STRLEN]);
/* Did lg_txn_id_issue make this id for this tenant? */
int lg_txn_id_verify(const lg_keyring *kr, const char *tenant_id, const char *id);

/* A new API key ("lk_" and 43 base64url characters) into out[LG_APIKEY_STRLEN]. */
void lg_apikey_generate(char out[LG_APIKEY_STRLEN]);
/* BLAKE2b-256 of text as lower-case hex. */
void lg_hash_hex(const char *text, size_t len, char out[LG_HASH_HEXLEN]);
/* A random password of n alphanumeric characters (n < out_size). */
void lg_random_password(char *out, size_t out_size, size_t n);

#endif
