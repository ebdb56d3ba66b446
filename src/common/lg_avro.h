/*
 * The event codec: TransactionCommand, TransactionResult and LedgerEntryEvent (schemas/avro/),
 * encoded with Avro single-object encoding:
 *
 *   +------+------+--------------------------------+---------------------------+
 *   | 0xC3 | 0x01 | CRC-64-AVRO fingerprint (8 B,  | Avro binary encoding of   |
 *   |      |      | little-endian) of the schema's | the record                |
 *   |      |      | Parsing Canonical Form         |                           |
 *   +------+------+--------------------------------+---------------------------+
 *
 * so that any Avro library can decode a value with the .avsc files. Decimal fields
 * (logicalType decimal, precision 15, scale 2) are big-endian two's-complement unscaled values
 * (minor units), in the fewest bytes that hold them. Timestamps are milliseconds since the epoch.
 *
 * Both programs use this one module. Strings in the structs are NUL-terminated and owned by the
 * struct; free with the matching lg_avro_free_* (which accepts NULL members).
 */
#ifndef LG_AVRO_H
#define LG_AVRO_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    LG_TXN_DEPOSIT = 0,
    LG_TXN_WITHDRAWAL,
    LG_TXN_TRANSFER,
    LG_TXN_FEE,
    LG_TXN_INTEREST,
    LG_TXN_REVERSAL
} lg_txn_type;

typedef enum { LG_RESULT_COMPLETED = 0, LG_RESULT_FAILED, LG_RESULT_REVERSED } lg_result_status;

typedef enum { LG_ENTRY_DEBIT = 0, LG_ENTRY_CREDIT } lg_entry_type;

typedef struct {
    char *command_id;
    char *tenant_id;
    char *transaction_id;
    lg_txn_type type;
    int64_t amount_minor;
    char *currency;
    char *from_account;            /* NULL when absent */
    char *to_account;              /* NULL when absent */
    char *description;             /* NULL when absent */
    char *reference;               /* NULL when absent */
    char *idempotency_key;         /* NULL when absent */
    char *original_transaction_id; /* NULL when absent */
    char *reason;                  /* NULL when absent */
    char *requested_by;
    char *requested_by_ip;     /* NULL when absent */
    char *requested_by_device; /* NULL when absent */
    char *request_id;
    int64_t accepted_at_ms;
} lg_txn_command;

typedef struct {
    char *event_id;
    char *tenant_id;
    char *transaction_id;
    char *transaction_ref; /* NULL when absent */
    lg_txn_type type;
    lg_result_status status;
    char *failure_code;   /* NULL when absent */
    char *failure_reason; /* NULL when absent */
    int64_t processed_at_ms;
} lg_txn_result;

typedef struct {
    char *event_id;
    char *tenant_id;
    char *entry_id;
    char *transaction_id;
    char *account_id;
    char *account_number;
    lg_entry_type entry_type;
    int64_t amount_minor;
    char *currency;
    int64_t balance_after_minor;
    char *account_code;
    char *description; /* NULL when absent */
    int64_t created_at_ms;
} lg_ledger_event;

/* Loads the three schemas and computes their fingerprints. Call once before any other function
 * (thread-safe after that); a second call while initialised does nothing and returns 0.
 * Returns 0, or -1 with the reason in err. */
int lg_avro_init(char *err, size_t err_size);
/* Releases what lg_avro_init built. */
void lg_avro_shutdown(void);

/* The 64-bit Rabin fingerprint (CRC-64-AVRO) of a schema's Parsing Canonical Form. */
uint64_t lg_avro_fingerprint_command(void);
uint64_t lg_avro_fingerprint_result(void);
uint64_t lg_avro_fingerprint_ledger(void);

/* Exposed for tests: the Parsing Canonical Form of a JSON schema text (caller frees with free()),
 * or NULL when the text is not a valid schema. */
char *lg_avro_canonical_form(const char *schema_json);
/* Exposed for tests: CRC-64-AVRO of len bytes. */
uint64_t lg_avro_rabin(const void *data, size_t len);

/*
 * Encoders: write the single-object encoding into a newly malloc'd buffer (*out, *out_len; the
 * caller frees with free()). Return 0, or -1 with the reason in err (a required string missing).
 */
int lg_avro_encode_command(const lg_txn_command *cmd, void **out, size_t *out_len, char *err,
                           size_t err_size);
int lg_avro_encode_result(const lg_txn_result *res, void **out, size_t *out_len, char *err,
                          size_t err_size);
int lg_avro_encode_ledger(const lg_ledger_event *ev, void **out, size_t *out_len, char *err,
                          size_t err_size);

/*
 * Decoders: fill *out (zeroed first) from a single-object encoded buffer. Refuse a wrong marker,
 * an unknown fingerprint, truncated or trailing bytes, out-of-range enums and decimals, and
 * strings that are not NUL-free. Return 0, or -1 with the reason in err (*out is then empty).
 */
int lg_avro_decode_command(const void *buf, size_t len, lg_txn_command *out, char *err,
                           size_t err_size);
int lg_avro_decode_result(const void *buf, size_t len, lg_txn_result *out, char *err,
                          size_t err_size);
int lg_avro_decode_ledger(const void *buf, size_t len, lg_ledger_event *out, char *err,
                          size_t err_size);

void lg_avro_free_command(lg_txn_command *cmd);
void lg_avro_free_result(lg_txn_result *res);
void lg_avro_free_ledger(lg_ledger_event *ev);

/* Symbol names ("DEPOSIT", "COMPLETED", "DEBIT") and their inverses (-1 when unknown). */
const char *lg_txn_type_name(lg_txn_type t);
int lg_txn_type_from_name(const char *name);
const char *lg_result_status_name(lg_result_status s);
const char *lg_entry_type_name(lg_entry_type t);

/* The embedded schema texts (generated from schemas/avro by the build). */
extern const char lg_schema_TransactionCommand_json[];
extern const char lg_schema_TransactionResult_json[];
extern const char lg_schema_LedgerEntryEvent_json[];

#endif
