/*
 * Fuzz target: the body of POST /v1/transactions, as the API reads it (lg_validate_txn_request
 * in src/common/lg_validate.c), and what happens to an accepted body next: it is completed with
 * ids and encoded as a TransactionCommand (lg_avro.c), which the worker decodes.
 *
 * Properties:
 *   - a refusal is a 400 or 422 whose problem+json body is valid JSON with type, title, status
 *     and detail, and leaves the command empty;
 *   - an accepted command obeys every rule the validator promises (positive amount within
 *     NUMERIC(15,2), ISO currency, the accounts its type needs and no others, valid account
 *     numbers, a REVERSAL with a UUID and a reason and no amount);
 *   - the accepted command encodes, and decodes to the same fields.
 */
#include "fuzz_common.h"

#include "lg_avro.h"
#include "lg_crypto.h"
#include "lg_money.h"
#include "lg_validate.h"

#include <jansson.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    (void)argc;
    (void)argv;
    if (lg_crypto_init() != 0 || lg_avro_init(err, sizeof err) != 0)
        abort();
    return 0;
}

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void check_problem(const lg_problem *p)
{
    char *text;
    json_t *doc;
    json_error_t jerr;

    FUZZ_ASSERT(p->status == 400 || p->status == 422, "status %d", p->status);
    FUZZ_ASSERT(p->type != NULL && strncmp(p->type, "/problems/", 10) == 0, "type");
    text = lg_problem_json(p, "/v1/transactions");
    FUZZ_ASSERT(text != NULL, "problem+json not serialised");
    doc = json_loads(text, 0, &jerr);
    FUZZ_ASSERT(doc != NULL, "problem+json is not JSON: %s", text);
    FUZZ_ASSERT(json_is_string(json_object_get(doc, "type")) &&
                    json_is_string(json_object_get(doc, "title")) &&
                    json_is_integer(json_object_get(doc, "status")) &&
                    json_is_string(json_object_get(doc, "detail")),
                "problem+json lacks a member: %s (detail \"%s\", field \"%s\")", text, p->detail,
                p->field);
    FUZZ_ASSERT(p->field[0] == '\0' || json_is_string(json_object_get(doc, "field")),
                "problem+json lost its field: %s (field \"%s\")", text, p->field);
    json_decref(doc);
    free(text);
}

static void check_accepted(lg_txn_command *cmd)
{
    int needs_from = cmd->type == LG_TXN_WITHDRAWAL || cmd->type == LG_TXN_FEE ||
                     cmd->type == LG_TXN_TRANSFER;
    int needs_to = cmd->type == LG_TXN_DEPOSIT || cmd->type == LG_TXN_INTEREST ||
                   cmd->type == LG_TXN_TRANSFER;
    lg_txn_command back;
    void *buf = NULL;
    size_t len = 0;
    char err[256];

    FUZZ_ASSERT(cmd->type >= LG_TXN_DEPOSIT && cmd->type <= LG_TXN_REVERSAL, "type %d",
                (int)cmd->type);
    if (cmd->type == LG_TXN_REVERSAL) {
        FUZZ_ASSERT(cmd->amount_minor == 0 && cmd->currency == NULL &&
                        cmd->from_account == NULL && cmd->to_account == NULL,
                    "a REVERSAL carries an amount, currency or account");
        FUZZ_ASSERT(lg_uuid_valid(cmd->original_transaction_id), "original id");
        FUZZ_ASSERT(cmd->reason != NULL && cmd->reason[0] != '\0' &&
                        strlen(cmd->reason) <= LG_REASON_MAX,
                    "reason");
    } else {
        FUZZ_ASSERT(cmd->amount_minor > 0 && cmd->amount_minor <= LG_MONEY_MAX, "amount %lld",
                    (long long)cmd->amount_minor);
        FUZZ_ASSERT(lg_currency_valid(cmd->currency), "currency");
        FUZZ_ASSERT(cmd->original_transaction_id == NULL && cmd->reason == NULL,
                    "only a REVERSAL has an original");
        FUZZ_ASSERT(needs_from == (cmd->from_account != NULL), "fromAccount presence");
        FUZZ_ASSERT(needs_to == (cmd->to_account != NULL), "toAccount presence");
        FUZZ_ASSERT(cmd->from_account == NULL || lg_account_number_valid(cmd->from_account),
                    "fromAccount");
        FUZZ_ASSERT(cmd->to_account == NULL || lg_account_number_valid(cmd->to_account),
                    "toAccount");
        FUZZ_ASSERT(cmd->type != LG_TXN_TRANSFER ||
                        strcmp(cmd->from_account, cmd->to_account) != 0,
                    "a TRANSFER to the same account");
    }
    FUZZ_ASSERT(cmd->description == NULL || strlen(cmd->description) <= LG_DESCRIPTION_MAX,
                "description");
    FUZZ_ASSERT(cmd->reference == NULL || strlen(cmd->reference) <= LG_REFERENCE_MAX,
                "reference");

    /* What post_transaction adds before encoding. */
    cmd->command_id = strdup("0b9a1bd6-2f00-8a61-8c1a-5cd1a1e0f7d1");
    cmd->transaction_id = strdup("0b9a1bd6-2f00-8a61-8c1a-5cd1a1e0f7d1");
    cmd->tenant_id = strdup("1c9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1");
    cmd->requested_by = strdup("2d9a1bd6-2f00-4a61-8c1a-5cd1a1e0f7d1");
    cmd->request_id = strdup("req-fuzz");
    cmd->accepted_at_ms = 1764000000000;
    FUZZ_ASSERT(lg_avro_encode_command(cmd, &buf, &len, err, sizeof err) == 0,
                "an accepted command does not encode: %s", err);
    FUZZ_ASSERT(lg_avro_decode_command(buf, len, &back, err, sizeof err) == 0,
                "an encoded command does not decode: %s", err);
    FUZZ_ASSERT(back.type == cmd->type && back.amount_minor == cmd->amount_minor &&
                    same(back.currency, cmd->currency) &&
                    same(back.from_account, cmd->from_account) &&
                    same(back.to_account, cmd->to_account) &&
                    same(back.description, cmd->description) &&
                    same(back.reference, cmd->reference) &&
                    same(back.original_transaction_id, cmd->original_transaction_id) &&
                    same(back.reason, cmd->reason),
                "the decoded command differs from the accepted one");
    lg_avro_free_command(&back);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lg_txn_command cmd;
    lg_problem p;

    memset(&p, 0, sizeof p);
    if (lg_validate_txn_request((const char *)data, size, &cmd, &p) == 0) {
        check_accepted(&cmd);
    } else {
        lg_txn_command empty;
        memset(&empty, 0, sizeof empty);
        FUZZ_ASSERT(memcmp(&cmd, &empty, sizeof cmd) == 0, "a refused command is not empty");
        check_problem(&p);
    }
    lg_avro_free_command(&cmd);
    return 0;
}
