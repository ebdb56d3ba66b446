/*
 * Writes the seeds that only the product can make: Avro single-object values of the three
 * schemas (corpus/avro/, by lg_avro_encode_*) and bearer tokens signed under FUZZ_KEY_A
 * (corpus/jwt/, by lg_jwt_sign). Run by `scripts/fuzz.sh seeds`; the output is committed.
 *
 * usage: fuzz_gen_corpus <corpus-dir>
 */
#include "fuzz_keys.h"

#include "lg_avro.h"
#include "lg_crypto.h"
#include "lg_jwt.h"
#include "lg_money.h"

#include <jansson.h>
#include <string.h>

static const char *dir;

static int write_seed(const char *sub, const char *name, const void *data, size_t len)
{
    char path[1024];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "cannot write %s\n", path);
        if (f != NULL)
            fclose(f);
        return -1;
    }
    return fclose(f);
}

static int avro_seeds(void)
{
    char err[256];
    void *buf = NULL;
    size_t len = 0;
    int rc = 0;
    lg_txn_command full = {
        .command_id = "0b9a1bd6-2f00-8a61-8c1a-5cd1a1e0f7d1",
        .tenant_id = "1c9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1",
        .transaction_id = "0b9a1bd6-2f00-8a61-8c1a-5cd1a1e0f7d1",
        .type = LG_TXN_TRANSFER,
        .amount_minor = 125075,
        .currency = "USD",
        .from_account = "ACC-0001",
        .to_account = "ACC-0002",
        .description = "rent for November",
        .reference = "INV-42",
        .idempotency_key = "order-42-attempt-1",
        .requested_by = "2d9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1",
        .requested_by_ip = "10.0.0.7",
        .requested_by_device = "curl/7.88.1",
        .request_id = "req-1",
        .accepted_at_ms = 1764000000123,
    };
    lg_txn_command minimal = {
        .command_id = "c", .tenant_id = "t", .transaction_id = "x", .type = LG_TXN_DEPOSIT,
        .amount_minor = 1, .currency = "EUR", .to_account = "A", .requested_by = "u",
        .request_id = "r", .accepted_at_ms = 0,
    };
    lg_txn_command reversal = {
        .command_id = "c", .tenant_id = "t", .transaction_id = "x", .type = LG_TXN_REVERSAL,
        .original_transaction_id = "0b9a1bd6-2f00-8a61-8c1a-5cd1a1e0f7d1",
        .reason = "duplicate", .requested_by = "u", .request_id = "r", .accepted_at_ms = -1,
    };
    lg_txn_command biggest = minimal;
    lg_txn_result completed = {
        .event_id = "e1", .tenant_id = "t", .transaction_id = "x",
        .transaction_ref = "TXN-20261125-000042", .type = LG_TXN_WITHDRAWAL,
        .status = LG_RESULT_COMPLETED, .processed_at_ms = 1764000000999,
    };
    lg_txn_result failed = {
        .event_id = "e2", .tenant_id = "t", .transaction_id = "x", .type = LG_TXN_FEE,
        .status = LG_RESULT_FAILED, .failure_code = "INSUFFICIENT_FUNDS",
        .failure_reason = "available balance 10.00 is below 20.00", .processed_at_ms = 1,
    };
    lg_ledger_event debit = {
        .event_id = "e3", .tenant_id = "t", .entry_id = "n", .transaction_id = "x",
        .account_id = "a", .account_number = "ACC-0001", .entry_type = LG_ENTRY_DEBIT,
        .amount_minor = 125075, .currency = "USD", .balance_after_minor = -LG_MONEY_MAX,
        .account_code = "2000", .description = "transfer", .created_at_ms = 1764000000123,
    };
    lg_ledger_event credit = debit;

    biggest.amount_minor = LG_MONEY_MAX;
    credit.entry_type = LG_ENTRY_CREDIT;
    credit.balance_after_minor = LG_MONEY_MAX;
    credit.amount_minor = 128; /* a decimal that needs a second byte (sign bit) */
    credit.description = NULL;

#define SEED(encode, value, name)                                                            \
    do {                                                                                     \
        if (encode(&(value), &buf, &len, err, sizeof err) != 0 ||                            \
            write_seed("avro", name, buf, len) != 0) {                                       \
            fprintf(stderr, "%s: %s\n", name, err);                                          \
            rc = -1;                                                                         \
        }                                                                                    \
        free(buf);                                                                           \
        buf = NULL;                                                                          \
    } while (0)
    SEED(lg_avro_encode_command, full, "command-transfer-full.bin");
    SEED(lg_avro_encode_command, minimal, "command-deposit-minimal.bin");
    SEED(lg_avro_encode_command, reversal, "command-reversal.bin");
    SEED(lg_avro_encode_command, biggest, "command-max-amount.bin");
    SEED(lg_avro_encode_result, completed, "result-completed.bin");
    SEED(lg_avro_encode_result, failed, "result-failed.bin");
    SEED(lg_avro_encode_ledger, debit, "ledger-debit.bin");
    SEED(lg_avro_encode_ledger, credit, "ledger-credit.bin");
#undef SEED
    return rc;
}

static int jwt_seed(lg_keyring *kr, const char *name, json_t *claims)
{
    /* A century: the target verifies at a fixed instant, and the seeds must stay valid. */
    char *token = lg_jwt_sign(kr, claims, INT64_C(100) * 366 * 86400);
    int rc = token != NULL ? write_seed("jwt", name, token, strlen(token)) : -1;
    free(token);
    json_decref(claims);
    return rc;
}

int main(int argc, char **argv)
{
    char err[256];
    lg_keyring *kr;
    int rc = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    if (lg_crypto_init() != 0 || lg_avro_init(err, sizeof err) != 0) {
        fprintf(stderr, "init failed\n");
        return 1;
    }
    kr = fuzz_keyring(FUZZ_KEY_A);
    if (kr == NULL)
        return 1;
    rc |= avro_seeds();
    rc |= jwt_seed(kr, "teller.txt",
                   json_pack("{s:s, s:s, s:s}", "sub", "0b9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1",
                             "tid", "1c9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1", "role", "TELLER"));
    rc |= jwt_seed(kr, "system-admin.txt",
                   json_pack("{s:s, s:b, s:s}", "sub", "0b9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1",
                             "sys", 1, "role", "SUPER_ADMIN"));
    rc |= jwt_seed(kr, "customer-nbf.txt",
                   json_pack("{s:s, s:s, s:s, s:I}", "sub",
                             "0b9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1", "tid",
                             "1c9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1", "role", "CUSTOMER", "nbf",
                             (json_int_t)1700000000));
    lg_keyring_free(kr);
    lg_avro_shutdown();
    return rc != 0 ? 1 : 0;
}
