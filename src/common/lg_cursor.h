/*
 * Page cursors of the list endpoints: opaque to clients, they carry the sort key of the last row
 * of a page, so the next page starts strictly after it (keyset pagination: stable under inserts,
 * no OFFSET scans). Layout, before base64url without padding (libsodium):
 *
 *   transactions    'T' | created_at, int64 microseconds since the epoch, big-endian | id, 16 bytes
 *                   (25 bytes, 34 characters)
 *   ledger entries  'E' | entry_seq, int64 big-endian (9 bytes, 12 characters)
 *   other rows      kind | created_at | id, as transactions: users 'U', tenants 'N',
 *                   tenant audit log rows 'L', API keys 'K', customers 'C', accounts 'A'
 *
 * The kind byte keeps a cursor of one list from being read as another's. A cursor is not secret
 * and not signed: all it can do is start a page of the caller's own data at another point.
 */
#ifndef LG_CURSOR_H
#define LG_CURSOR_H

#include "lg_crypto.h"

#include <stddef.h>
#include <stdint.h>

/* Longer than any cursor this module writes, with a NUL. */
#define LG_CURSOR_STRLEN 48

/* Writes the cursor of a transaction row (id: a UUID string) into out[LG_CURSOR_STRLEN].
 * Returns 0, or -1 when id is not a UUID. */
int lg_cursor_encode_txn(int64_t created_at_us, const char *id, char *out, size_t out_size);

/* Reads a transaction cursor. Returns 0 and fills *created_at_us and id (lower case), or -1
 * for anything else: bad base64url, wrong length, another list's cursor. */
int lg_cursor_decode_txn(const char *cursor, int64_t *created_at_us, char id[LG_UUID_STRLEN]);

/* Writes the cursor of a ledger entry into out[LG_CURSOR_STRLEN]. Returns 0. */
int lg_cursor_encode_entry(int64_t entry_seq, char *out, size_t out_size);

/* Reads a ledger-entry cursor. Returns 0 and sets *entry_seq (> 0), or -1. */
int lg_cursor_decode_entry(const char *cursor, int64_t *entry_seq);

/* Kinds of the lists paged by (created_at, id) other than transactions. */
#define LG_CURSOR_KIND_USER         'U'
#define LG_CURSOR_KIND_TENANT       'N'
#define LG_CURSOR_KIND_TENANT_AUDIT 'L'
#define LG_CURSOR_KIND_API_KEY      'K'
#define LG_CURSOR_CUSTOMERS         'C'
#define LG_CURSOR_ACCOUNTS          'A'

/* Writes the cursor of a row of the list kind (LG_CURSOR_KIND_*) whose sort key is
 * (created_at, id). Returns 0, or -1 when id is not a UUID. */
int lg_cursor_encode_row(char kind, int64_t created_at_us, const char *id, char *out,
                         size_t out_size);

/* Reads a cursor of the list kind. Returns 0 and fills *created_at_us and id, or -1 for anything
 * else (another list's cursor included). */
int lg_cursor_decode_row(char kind, const char *cursor, int64_t *created_at_us,
                         char id[LG_UUID_STRLEN]);

#endif
