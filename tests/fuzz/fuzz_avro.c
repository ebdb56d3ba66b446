/*
 * Fuzz target: the Avro single-object decoders (src/common/lg_avro.c) for the three schemas,
 * TransactionCommand, TransactionResult and LedgerEntryEvent: what the worker and any consumer
 * run on bytes read from Kafka.
 *
 * Every input goes to all three decoders (the fingerprint in the header picks which one may
 * accept it). Properties:
 *   - a refusal says why and leaves the struct empty;
 *   - what a decoder accepts re-encodes, the re-encoding decodes to the same fields, and
 *     encoding that again gives the same bytes (decode -> encode -> decode is stable);
 *   - the header of an accepted value is C3 01 and the schema's fingerprint;
 *   - decimals stay within NUMERIC(15,2) and enums within their symbols.
 */
#include "fuzz_common.h"

#include "lg_avro.h"
#include "lg_money.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    (void)argc;
    (void)argv;
    if (lg_avro_init(err, sizeof err) != 0)
        abort();
    return 0;
}

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void check_header(const uint8_t *data, size_t size, uint64_t fingerprint)
{
    uint64_t fp = 0;
    FUZZ_ASSERT(size >= 10 && data[0] == 0xC3 && data[1] == 0x01, "accepted without a marker");
    for (int i = 7; i >= 0; i--)
        fp = (fp << 8) | data[2 + i];
    FUZZ_ASSERT(fp == fingerprint, "accepted under another fingerprint");
}

static int command_equal(const lg_txn_command *a, const lg_txn_command *b)
{
    return same(a->command_id, b->command_id) && same(a->tenant_id, b->tenant_id) &&
           same(a->transaction_id, b->transaction_id) && a->type == b->type &&
           a->amount_minor == b->amount_minor && same(a->currency, b->currency) &&
           same(a->from_account, b->from_account) && same(a->to_account, b->to_account) &&
           same(a->description, b->description) && same(a->reference, b->reference) &&
           same(a->idempotency_key, b->idempotency_key) &&
           same(a->original_transaction_id, b->original_transaction_id) &&
           same(a->reason, b->reason) && same(a->requested_by, b->requested_by) &&
           same(a->requested_by_ip, b->requested_by_ip) &&
           same(a->requested_by_device, b->requested_by_device) &&
           same(a->request_id, b->request_id) && a->accepted_at_ms == b->accepted_at_ms;
}

static int result_equal(const lg_txn_result *a, const lg_txn_result *b)
{
    return same(a->event_id, b->event_id) && same(a->tenant_id, b->tenant_id) &&
           same(a->transaction_id, b->transaction_id) &&
           same(a->transaction_ref, b->transaction_ref) && a->type == b->type &&
           a->status == b->status && same(a->failure_code, b->failure_code) &&
           same(a->failure_reason, b->failure_reason) &&
           a->processed_at_ms == b->processed_at_ms;
}

static int ledger_equal(const lg_ledger_event *a, const lg_ledger_event *b)
{
    return same(a->event_id, b->event_id) && same(a->tenant_id, b->tenant_id) &&
           same(a->entry_id, b->entry_id) && same(a->transaction_id, b->transaction_id) &&
           same(a->account_id, b->account_id) && same(a->account_number, b->account_number) &&
           a->entry_type == b->entry_type && a->amount_minor == b->amount_minor &&
           same(a->currency, b->currency) && a->balance_after_minor == b->balance_after_minor &&
           same(a->account_code, b->account_code) && same(a->description, b->description) &&
           a->created_at_ms == b->created_at_ms;
}

static int is_empty(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

/* The checks are the same for the three types: one macro instead of three copies. */
#define CHECK_CODEC(T, decode, encode, release, equal, fingerprint, extra)                      \
    do {                                                                                      \
        T v, back, again;                                                                     \
        void *b1 = NULL, *b2 = NULL;                                                          \
        size_t n1 = 0, n2 = 0;                                                                \
        char err[256] = "";                                                                   \
        if (decode(data, size, &v, err, sizeof err) != 0) {                                   \
            FUZZ_ASSERT(err[0] != '\0', "%s refused without a reason", #decode);              \
            FUZZ_ASSERT(is_empty(&v, sizeof v), "%s left data behind", #decode);              \
            break;                                                                            \
        }                                                                                     \
        check_header(data, size, fingerprint());                                              \
        extra;                                                                                \
        FUZZ_ASSERT(encode(&v, &b1, &n1, err, sizeof err) == 0, "%s: %s", #encode, err);     \
        FUZZ_ASSERT(decode(b1, n1, &back, err, sizeof err) == 0, "re-decode: %s", err);       \
        FUZZ_ASSERT(equal(&v, &back), "%s: decode->encode->decode changed a field", #T);      \
        FUZZ_ASSERT(encode(&back, &b2, &n2, err, sizeof err) == 0, "%s: %s", #encode, err);   \
        FUZZ_ASSERT(n1 == n2 && memcmp(b1, b2, n1) == 0, "%s: encoding is not stable", #T);   \
        FUZZ_ASSERT(decode(b2, n2, &again, err, sizeof err) == 0, "third decode: %s", err);   \
        release(&again);                                                                      \
        release(&back);                                                                       \
        release(&v);                                                                          \
        free(b1);                                                                             \
        free(b2);                                                                             \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    CHECK_CODEC(lg_txn_command, lg_avro_decode_command, lg_avro_encode_command,
                lg_avro_free_command, command_equal, lg_avro_fingerprint_command,
                FUZZ_ASSERT((int)v.type >= 0 && v.type <= LG_TXN_REVERSAL &&
                                v.amount_minor >= -LG_MONEY_MAX &&
                                v.amount_minor <= LG_MONEY_MAX && v.command_id != NULL &&
                                v.tenant_id != NULL && v.transaction_id != NULL,
                            "command out of range"));
    CHECK_CODEC(lg_txn_result, lg_avro_decode_result, lg_avro_encode_result, lg_avro_free_result,
                result_equal, lg_avro_fingerprint_result,
                FUZZ_ASSERT((int)v.type >= 0 && v.type <= LG_TXN_REVERSAL &&
                                (int)v.status >= 0 && v.status <= LG_RESULT_REVERSED &&
                                v.event_id != NULL,
                            "result out of range"));
    CHECK_CODEC(lg_ledger_event, lg_avro_decode_ledger, lg_avro_encode_ledger,
                lg_avro_free_ledger, ledger_equal, lg_avro_fingerprint_ledger,
                FUZZ_ASSERT((int)v.entry_type >= 0 && v.entry_type <= LG_ENTRY_CREDIT &&
                                v.amount_minor >= -LG_MONEY_MAX &&
                                v.amount_minor <= LG_MONEY_MAX &&
                                v.balance_after_minor >= -LG_MONEY_MAX &&
                                v.balance_after_minor <= LG_MONEY_MAX,
                            "ledger event out of range"));
    return 0;
}
