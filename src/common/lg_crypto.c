#include "lg_crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KEY_ID_MAX 32
#define MAX_KEYS 64

struct lg_keyring {
    size_t n;
    char ids[MAX_KEYS][KEY_ID_MAX + 2];
    unsigned char keys[MAX_KEYS][crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    unsigned char id_mac_key[crypto_auth_hmacsha256_KEYBYTES];
};

int lg_crypto_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

static int key_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > KEY_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
              (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_'))
            return 0;
    return 1;
}

lg_keyring *lg_keyring_load(const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    lg_keyring *kr = NULL;
    char line[256];
    int lineno = 0;

    if (f == NULL) {
        snprintf(err, err_size, "cannot open key file %s: %s", path, strerror(errno));
        return NULL;
    }
    kr = sodium_malloc(sizeof *kr);
    if (kr == NULL) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    memset(kr, 0, sizeof *kr);
    while (fgets(line, sizeof line, f) != NULL) {
        char id[KEY_ID_MAX + 2], hex[130];
        size_t bin_len = 0;
        lineno++;
        if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
            continue;
        if (sscanf(line, "%33s %129s", id, hex) != 2 || !key_id_ok(id) ||
            strlen(hex) != 2 * crypto_aead_xchacha20poly1305_ietf_KEYBYTES) {
            snprintf(err, err_size, "%s line %d: expected \"<key-id> <64 hex digits>\"", path,
                     lineno);
            goto fail;
        }
        if (kr->n == MAX_KEYS) {
            snprintf(err, err_size, "%s: more than %d keys", path, MAX_KEYS);
            goto fail;
        }
        if (sodium_hex2bin(kr->keys[kr->n], sizeof kr->keys[0], hex, strlen(hex), NULL, &bin_len,
                           NULL) != 0 ||
            bin_len != sizeof kr->keys[0]) {
            snprintf(err, err_size, "%s line %d: the key is not hex", path, lineno);
            goto fail;
        }
        sodium_memzero(hex, sizeof hex);
        for (size_t i = 0; i < kr->n; i++)
            if (strcmp(kr->ids[i], id) == 0) {
                snprintf(err, err_size, "%s line %d: key id %s appears twice", path, lineno, id);
                goto fail;
            }
        snprintf(kr->ids[kr->n], sizeof kr->ids[0], "%s", id);
        kr->n++;
    }
    if (kr->n == 0) {
        snprintf(err, err_size, "%s holds no key (create one with `ledgerctl keys generate`)",
                 path);
        goto fail;
    }
    /* The id MAC key stays with the first key so that ids survive key rotation. */
    crypto_kdf_derive_from_key(kr->id_mac_key, sizeof kr->id_mac_key, 1, "txnidmac", kr->keys[0]);
    fclose(f);
    return kr;
fail:
    fclose(f);
    lg_keyring_free(kr);
    return NULL;
}

void lg_keyring_free(lg_keyring *kr)
{
    if (kr != NULL)
        sodium_free(kr); /* sodium_free wipes the memory */
}

void lg_keyring_subkey(const lg_keyring *kr, const char context[8], unsigned char *out,
                       size_t out_len)
{
    /* Subkey ids: 1 is the transaction id MAC (txnidmac), 2 everything else by context. */
    crypto_kdf_derive_from_key(out, out_len, 2, context, kr->keys[0]);
}

const char *lg_keyring_active_id(const lg_keyring *kr)
{
    return kr->ids[kr->n - 1];
}

int lg_keyring_has(const lg_keyring *kr, const char *key_id)
{
    for (size_t i = 0; key_id != NULL && i < kr->n; i++)
        if (strcmp(kr->ids[i], key_id) == 0)
            return 1;
    return 0;
}

size_t lg_keyring_count(const lg_keyring *kr)
{
    return kr->n;
}

int lg_keyring_same_first_key(const lg_keyring *a, const lg_keyring *b)
{
    return strcmp(a->ids[0], b->ids[0]) == 0 &&
           sodium_memcmp(a->keys[0], b->keys[0], sizeof a->keys[0]) == 0;
}

static int write_key_line(int fd, const char *id, char *err, size_t err_size)
{
    unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    char hex[2 * sizeof key + 1];
    char line[KEY_ID_MAX + sizeof hex + 4];
    int n;
    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    n = snprintf(line, sizeof line, "%s %s\n", id, hex);
    sodium_memzero(key, sizeof key);
    sodium_memzero(hex, sizeof hex);
    if (write(fd, line, (size_t)n) != n) {
        snprintf(err, err_size, "cannot write the key file: %s", strerror(errno));
        sodium_memzero(line, sizeof line);
        return -1;
    }
    sodium_memzero(line, sizeof line);
    return 0;
}

static void new_key_id(char *out, size_t out_size)
{
    unsigned char r[4];
    char hex[9];
    time_t now = time(NULL);
    struct tm tm;
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(hex, sizeof hex, r, sizeof r);
    gmtime_r(&now, &tm);
    snprintf(out, out_size, "k%04d%02d%02d-%s", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, hex);
}

int lg_keyring_create_file(const char *path, char *err, size_t err_size)
{
    char id[KEY_ID_MAX + 1];
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    int rc;
    if (fd < 0) {
        snprintf(err, err_size, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    new_key_id(id, sizeof id);
    rc = write_key_line(fd, id, err, err_size);
    if (close(fd) != 0 && rc == 0) {
        snprintf(err, err_size, "cannot write %s: %s", path, strerror(errno));
        rc = -1;
    }
    return rc;
}

int lg_keyring_append_key(const char *path, char *new_id, size_t new_id_size, char *err,
                          size_t err_size)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    int rc;
    if (fd < 0) {
        snprintf(err, err_size, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    new_key_id(new_id, new_id_size);
    rc = write_key_line(fd, new_id, err, err_size);
    if (fsync(fd) != 0 && rc == 0) {
        snprintf(err, err_size, "cannot sync %s: %s", path, strerror(errno));
        rc = -1;
    }
    close(fd);
    return rc;
}

int lg_secret_seal(const lg_keyring *kr, const char *tenant_id, const char *plaintext,
                   char **sealed_b64, const char **key_id, char *err, size_t err_size)
{
    size_t pt_len = strlen(plaintext);
    size_t box_len = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + pt_len +
                     crypto_aead_xchacha20poly1305_ietf_ABYTES;
    unsigned char *box = malloc(box_len);
    unsigned long long ct_len = 0;
    size_t b64_len = sodium_base64_ENCODED_LEN(box_len, sodium_base64_VARIANT_ORIGINAL);
    char *b64;

    if (box == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    randombytes_buf(box, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        box + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &ct_len,
        (const unsigned char *)plaintext, pt_len, (const unsigned char *)tenant_id,
        strlen(tenant_id), NULL, box, kr->keys[kr->n - 1]);
    b64 = malloc(b64_len);
    if (b64 == NULL) {
        free(box);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    sodium_bin2base64(b64, b64_len, box, box_len, sodium_base64_VARIANT_ORIGINAL);
    free(box);
    *sealed_b64 = b64;
    *key_id = kr->ids[kr->n - 1];
    return 0;
}

int lg_secret_open(const lg_keyring *kr, const char *key_id, const char *tenant_id,
                   const char *sealed_b64, char **plaintext, char *err, size_t err_size)
{
    const unsigned char *key = NULL;
    size_t b64_len = strlen(sealed_b64);
    unsigned char *box = NULL;
    size_t box_len = 0;
    unsigned long long pt_len = 0;
    char *pt = NULL;

    *plaintext = NULL;
    for (size_t i = 0; i < kr->n; i++)
        if (strcmp(kr->ids[i], key_id) == 0)
            key = kr->keys[i];
    if (key == NULL) {
        snprintf(err, err_size, "the secret is sealed under key %s, which the key file lacks",
                 key_id);
        return -1;
    }
    box = malloc(b64_len + 1);
    if (box == NULL)
        goto bad;
    if (sodium_base642bin(box, b64_len + 1, sealed_b64, b64_len, NULL, &box_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        box_len < crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                      crypto_aead_xchacha20poly1305_ietf_ABYTES)
        goto bad;
    pt = malloc(box_len + 1);
    if (pt == NULL)
        goto bad;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            (unsigned char *)pt, &pt_len, NULL, box + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
            box_len - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
            (const unsigned char *)tenant_id, strlen(tenant_id), box, key) != 0)
        goto bad;
    pt[pt_len] = '\0';
    free(box);
    *plaintext = pt;
    return 0;
bad:
    free(box);
    free(pt);
    snprintf(err, err_size, "the sealed secret does not open: altered, or not this tenant's");
    return -1;
}

void lg_secret_free(char *secret)
{
    if (secret == NULL)
        return;
    sodium_memzero(secret, strlen(secret));
    free(secret);
}

static void uuid_format(const unsigned char b[16], char out[LG_UUID_STRLEN])
{
    static const char hexd[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hexd[b[i] >> 4];
        out[o++] = hexd[b[i] & 15];
    }
    out[o] = '\0';
}

static int uuid_parse(const char *s, unsigned char b[16])
{
    size_t bin_len = 0;
    if (!lg_uuid_valid(s))
        return -1;
    return (sodium_hex2bin(b, 16, s, 36, "-", &bin_len, NULL) == 0 && bin_len == 16) ? 0 : -1;
}

static void uuid_set_version(unsigned char b[16], unsigned version)
{
    b[6] = (unsigned char)((b[6] & 0x0f) | (version << 4));
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
}

void lg_uuid_random(char out[LG_UUID_STRLEN])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    uuid_set_version(b, 4);
    uuid_format(b, out);
}

void lg_uuid_derive(char out[LG_UUID_STRLEN], const char *const *parts, size_t n_parts)
{
    crypto_generichash_state st;
    unsigned char b[16];
    static const unsigned char sep = 0;
    crypto_generichash_init(&st, NULL, 0, sizeof b);
    for (size_t i = 0; i < n_parts; i++) {
        crypto_generichash_update(&st, (const unsigned char *)parts[i], strlen(parts[i]));
        crypto_generichash_update(&st, &sep, 1);
    }
    crypto_generichash_final(&st, b, sizeof b);
    uuid_set_version(b, 8);
    uuid_format(b, out);
}

int lg_uuid_valid(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* tag = HMAC-SHA256(id_mac_key, tenant_id || 0 || first 8 bytes)[0..8) */
static void txn_id_tag(const lg_keyring *kr, const char *tenant_id, const unsigned char head[8],
                       unsigned char tag[8])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    static const unsigned char sep = 0;
    crypto_auth_hmacsha256_init(&st, kr->id_mac_key, sizeof kr->id_mac_key);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)tenant_id, strlen(tenant_id));
    crypto_auth_hmacsha256_update(&st, &sep, 1);
    crypto_auth_hmacsha256_update(&st, head, 8);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(tag, mac, 8);
    tag[0] = (unsigned char)((tag[0] & 0x3f) | 0x80); /* the UUID variant bits */
}

void lg_txn_id_issue(const lg_keyring *kr, const char *tenant_id, const char *idempotency_key,
                     char out[LG_UUID_STRLEN])
{
    unsigned char b[16];
    if (idempotency_key != NULL) {
        crypto_generichash_state st;
        static const unsigned char sep = 0;
        crypto_generichash_init(&st, kr->id_mac_key, sizeof kr->id_mac_key, 8);
        crypto_generichash_update(&st, (const unsigned char *)tenant_id, strlen(tenant_id));
        crypto_generichash_update(&st, &sep, 1);
        crypto_generichash_update(&st, (const unsigned char *)idempotency_key,
                                  strlen(idempotency_key));
        crypto_generichash_final(&st, b, 8);
    } else {
        randombytes_buf(b, 8);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x80); /* version 8 */
    txn_id_tag(kr, tenant_id, b, b + 8);
    uuid_format(b, out);
}

int lg_txn_id_verify(const lg_keyring *kr, const char *tenant_id, const char *id)
{
    unsigned char b[16], tag[8];
    if (uuid_parse(id, b) != 0 || (b[6] >> 4) != 8)
        return 0;
    txn_id_tag(kr, tenant_id, b, tag);
    return sodium_memcmp(tag, b + 8, 8) == 0;
}

void lg_apikey_generate(char out[LG_APIKEY_STRLEN])
{
    unsigned char r[32];
    randombytes_buf(r, sizeof r);
    memcpy(out, "lk_", 3);
    sodium_bin2base64(out + 3, LG_APIKEY_STRLEN - 3, r, sizeof r,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(r, sizeof r);
}

void lg_hash_hex(const char *text, size_t len, char out[LG_HASH_HEXLEN])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)text, len, NULL, 0);
    sodium_bin2hex(out, LG_HASH_HEXLEN, h, sizeof h);
}

void lg_random_password(char *out, size_t out_size, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    if (n >= out_size)
        n = out_size - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
    out[n] = '\0';
}
