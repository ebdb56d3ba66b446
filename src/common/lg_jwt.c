#include "lg_jwt.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The header this server writes and the only one it accepts, byte for byte once decoded. */
static const char jwt_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static char *b64url(const void *data, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(n);
    if (out != NULL)
        sodium_bin2base64(out, n, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

/* The base64url alphabet. libsodium 1.0.18 compares characters as signed values, so some bytes
 * above 0x7f decode as if they were '_' or '-': a token with one of them in place of the real
 * character would verify too. Only the alphabet is let through to the decoder. */
static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Decodes base64url (no padding) of len characters; *out is malloc'd and NUL-terminated. */
static int unb64url(const char *text, size_t len, unsigned char **out, size_t *out_len)
{
    unsigned char *buf;
    const char *end = NULL;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\0' || strchr(b64url_alphabet, text[i]) == NULL)
            return -1;
    buf = malloc(len + 1);
    if (buf == NULL)
        return -1;
    if (sodium_base642bin(buf, len + 1, text, len, NULL, out_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != text + len) {
        free(buf);
        return -1;
    }
    buf[*out_len] = '\0';
    *out = buf;
    return 0;
}

char *lg_jwt_sign(const lg_keyring *kr, json_t *claims, int64_t ttl_s)
{
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES], mac[crypto_auth_hmacsha256_BYTES];
    char jti[LG_UUID_STRLEN];
    json_t *c = json_deep_copy(claims);
    char *payload_json, *header_b64, *payload_b64, *sig_b64, *token = NULL;
    size_t len;
    int64_t now = (int64_t)time(NULL);

    if (c == NULL)
        return NULL;
    lg_uuid_random(jti);
    json_object_set_new(c, "iss", json_string("ledger"));
    json_object_set_new(c, "iat", json_integer(now));
    json_object_set_new(c, "exp", json_integer(now + ttl_s));
    json_object_set_new(c, "jti", json_string(jti));
    payload_json = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(c);
    header_b64 = b64url(jwt_header, sizeof jwt_header - 1);
    payload_b64 = payload_json != NULL ? b64url(payload_json, strlen(payload_json)) : NULL;
    free(payload_json);
    if (header_b64 == NULL || payload_b64 == NULL)
        goto out;
    len = strlen(header_b64) + strlen(payload_b64) + 2;
    token = malloc(len + 128);
    if (token == NULL)
        goto out;
    snprintf(token, len, "%s.%s", header_b64, payload_b64);
    lg_keyring_subkey(kr, "jwtsign_", key, sizeof key);
    crypto_auth_hmacsha256(mac, (const unsigned char *)token, strlen(token), key);
    sodium_memzero(key, sizeof key);
    sig_b64 = b64url(mac, sizeof mac);
    if (sig_b64 == NULL) {
        free(token);
        token = NULL;
        goto out;
    }
    snprintf(token + strlen(token), 128, ".%s", sig_b64);
    free(sig_b64);
out:
    free(header_b64);
    free(payload_b64);
    return token;
}

json_t *lg_jwt_verify(const lg_keyring *kr, const char *token, int64_t now_s, char *err,
                      size_t err_size)
{
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES], mac[crypto_auth_hmacsha256_BYTES];
    unsigned char *header = NULL, *payload = NULL, *sig = NULL;
    size_t header_len = 0, payload_len = 0, sig_len = 0, n = token != NULL ? strlen(token) : 0;
    const char *dot1, *dot2;
    json_t *claims = NULL, *v;
    json_error_t jerr;

    if (n == 0 || n > LG_JWT_MAX) {
        snprintf(err, err_size, "no token, or longer than %d bytes", LG_JWT_MAX);
        return NULL;
    }
    dot1 = strchr(token, '.');
    dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL) {
        snprintf(err, err_size, "not three dot-separated parts");
        return NULL;
    }
    if (unb64url(token, (size_t)(dot1 - token), &header, &header_len) != 0 ||
        header_len != sizeof jwt_header - 1 || memcmp(header, jwt_header, header_len) != 0) {
        snprintf(err, err_size, "the header is not {\"alg\":\"HS256\",\"typ\":\"JWT\"}");
        goto fail;
    }
    if (unb64url(dot2 + 1, n - (size_t)(dot2 + 1 - token), &sig, &sig_len) != 0 ||
        sig_len != sizeof mac) {
        snprintf(err, err_size, "the signature is malformed");
        goto fail;
    }
    lg_keyring_subkey(kr, "jwtsign_", key, sizeof key);
    crypto_auth_hmacsha256(mac, (const unsigned char *)token, (size_t)(dot2 - token), key);
    sodium_memzero(key, sizeof key);
    if (sodium_memcmp(mac, sig, sizeof mac) != 0) {
        snprintf(err, err_size, "the signature does not verify");
        goto fail;
    }
    if (unb64url(dot1 + 1, (size_t)(dot2 - dot1 - 1), &payload, &payload_len) != 0) {
        snprintf(err, err_size, "the payload is malformed");
        goto fail;
    }
    claims = json_loadb((const char *)payload, payload_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(claims)) {
        snprintf(err, err_size, "the payload is not a JSON object");
        goto fail;
    }
    v = json_object_get(claims, "iss");
    if (!json_is_string(v) || strcmp(json_string_value(v), "ledger") != 0) {
        snprintf(err, err_size, "wrong issuer");
        goto fail;
    }
    v = json_object_get(claims, "exp");
    if (!json_is_integer(v) || json_integer_value(v) <= now_s) {
        snprintf(err, err_size, "expired, or no exp");
        goto fail;
    }
    v = json_object_get(claims, "nbf");
    if (v != NULL && (!json_is_integer(v) || json_integer_value(v) > now_s)) {
        snprintf(err, err_size, "not valid yet");
        goto fail;
    }
    if (!json_is_string(json_object_get(claims, "sub")) ||
        !json_is_string(json_object_get(claims, "role"))) {
        snprintf(err, err_size, "no sub or role");
        goto fail;
    }
    free(header);
    free(payload);
    free(sig);
    return claims;
fail:
    json_decref(claims);
    free(header);
    free(payload);
    free(sig);
    return NULL;
}
