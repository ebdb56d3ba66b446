#include "lg_cursor.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define KIND_TXN   'T'
#define KIND_ENTRY 'E'
#define TXN_LEN    25
#define ENTRY_LEN  9

static void put_i64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(u & 0xff);
        u >>= 8;
    }
}

static int64_t get_i64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | p[i];
    return (int64_t)u;
}

static int encode(const unsigned char *bin, size_t len, char *out, size_t out_size)
{
    if (out_size < LG_CURSOR_STRLEN ||
        sodium_base64_encoded_len(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING) > out_size)
        return -1;
    sodium_bin2base64(out, out_size, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return 0;
}

/* Decodes exactly want bytes of the given kind; refuses trailing or non-canonical text. */
static int decode(const char *cursor, unsigned char *bin, size_t want, char kind)
{
    size_t bin_len = 0, len;
    if (cursor == NULL)
        return -1;
    len = strnlen(cursor, LG_CURSOR_STRLEN);
    if (len == 0 || len >= LG_CURSOR_STRLEN)
        return -1;
    /* libsodium 1.0.18 reads some bytes above 0x7f as base64url characters: only the alphabet
     * reaches it, so that a cursor has one spelling. */
    if (strspn(cursor, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != len)
        return -1;
    if (sodium_base642bin(bin, want, cursor, len, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    return bin_len == want && bin[0] == (unsigned char)kind ? 0 : -1;
}

int lg_cursor_encode_txn(int64_t created_at_us, const char *id, char *out, size_t out_size)
{
    return lg_cursor_encode_row(KIND_TXN, created_at_us, id, out, out_size);
}

int lg_cursor_decode_txn(const char *cursor, int64_t *created_at_us, char id[LG_UUID_STRLEN])
{
    return lg_cursor_decode_row(KIND_TXN, cursor, created_at_us, id);
}

int lg_cursor_encode_row(char kind, int64_t created_at_us, const char *id, char *out,
                         size_t out_size)
{
    unsigned char bin[TXN_LEN];
    size_t id_len = 0;
    if (!lg_uuid_valid(id) || kind == KIND_ENTRY)
        return -1;
    bin[0] = (unsigned char)kind;
    put_i64(bin + 1, created_at_us);
    if (sodium_hex2bin(bin + 9, 16, id, 36, "-", &id_len, NULL) != 0 || id_len != 16)
        return -1;
    return encode(bin, sizeof bin, out, out_size);
}

int lg_cursor_decode_row(char kind, const char *cursor, int64_t *created_at_us,
                         char id[LG_UUID_STRLEN])
{
    unsigned char bin[TXN_LEN];
    char hex[33];
    if (kind == KIND_ENTRY || decode(cursor, bin, sizeof bin, kind) != 0)
        return -1;
    sodium_bin2hex(hex, sizeof hex, bin + 9, 16);
    memcpy(id, hex, 8);
    id[8] = '-';
    memcpy(id + 9, hex + 8, 4);
    id[13] = '-';
    memcpy(id + 14, hex + 12, 4);
    id[18] = '-';
    memcpy(id + 19, hex + 16, 4);
    id[23] = '-';
    memcpy(id + 24, hex + 20, 12);
    id[36] = '\0';
    *created_at_us = get_i64(bin + 1);
    return 0;
}

int lg_cursor_encode_entry(int64_t entry_seq, char *out, size_t out_size)
{
    unsigned char bin[ENTRY_LEN];
    bin[0] = KIND_ENTRY;
    put_i64(bin + 1, entry_seq);
    return encode(bin, sizeof bin, out, out_size);
}

int lg_cursor_decode_entry(const char *cursor, int64_t *entry_seq)
{
    unsigned char bin[ENTRY_LEN];
    int64_t seq;
    if (decode(cursor, bin, sizeof bin, KIND_ENTRY) != 0)
        return -1;
    seq = get_i64(bin + 1);
    if (seq <= 0)
        return -1;
    *entry_seq = seq;
    return 0;
}

