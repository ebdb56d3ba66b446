#include "lg_validate.h"

#include "lg_crypto.h"
#include "lg_money.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define P_INVALID_JSON "/problems/invalid-json"
#define P_UNKNOWN_FIELD "/problems/unknown-field"
#define P_MISSING_FIELD "/problems/missing-field"
#define P_INVALID_FIELD "/problems/invalid-field"
#define P_INVALID_AMOUNT "/problems/invalid-amount"
#define P_INVALID_CURRENCY "/problems/invalid-currency"
#define P_INVALID_TYPE "/problems/invalid-transaction-type"
#define P_INVALID_ACCOUNTS "/problems/invalid-accounts"

/* Active ISO 4217 alphabetic codes (funds and precious-metal codes excluded). */
static const char iso4217[] =
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN "
    "BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY "
    "KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP "
    "MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR "
    "RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT "
    "TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER "
    "ZAR ZMW ZWG";

int lg_currency_valid(const char *code)
{
    const char *hit;
    if (code == NULL || strlen(code) != 3)
        return 0;
    for (int i = 0; i < 3; i++)
        if (code[i] < 'A' || code[i] > 'Z')
            return 0;
    hit = strstr(iso4217, code);
    return hit != NULL && ((hit - iso4217) % 4) == 0;
}

int lg_account_number_valid(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > LG_ACCOUNT_NUMBER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

int lg_idempotency_key_valid(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > LG_IDEMPOTENCY_KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return 0;
    return 1;
}

static const char *const known_fields[] = {"type",        "amount",    "currency",
                                           "fromAccount", "toAccount", "description",
                                           "reference",   "originalTransactionId",
                                           "reason",      NULL};

/* Reads an optional string field into *out (malloc'd). max_len counts bytes. Returns -1 with p. */
static int opt_string(json_t *root, const char *name, size_t max_len, char **out, lg_problem *p)
{
    json_t *v = json_object_get(root, name);
    const char *s;
    size_t len;
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return lg_problem_set(p, 422, P_INVALID_FIELD, "Invalid field", name,
                              "%s must be a string", name);
    s = json_string_value(v);
    len = json_string_length(v);
    if (strlen(s) != len)
        return lg_problem_set(p, 422, P_INVALID_FIELD, "Invalid field", name,
                              "%s must not contain NUL characters", name);
    if (len > max_len)
        return lg_problem_set(p, 422, P_INVALID_FIELD, "Invalid field", name,
                              "%s is longer than %zu bytes", name, max_len);
    *out = strdup(s);
    return *out != NULL ? 0 : lg_problem_set(p, 500, "/problems/internal", "Internal error", NULL,
                                             "out of memory");
}

static int check_account(const char *field, const char *value, int required, int allowed,
                         const char *type_name, lg_problem *p)
{
    if (value == NULL && required)
        return lg_problem_set(p, 422, P_MISSING_FIELD, "Missing field", field,
                              "a %s needs %s", type_name, field);
    if (value != NULL && !allowed)
        return lg_problem_set(p, 422, P_INVALID_ACCOUNTS, "Invalid accounts", field,
                              "a %s takes no %s", type_name, field);
    if (value != NULL && !lg_account_number_valid(value))
        return lg_problem_set(p, 422, P_INVALID_FIELD, "Invalid field", field,
                              "%s must be 1 to %d characters of A-Z, 0-9 and '-'", field,
                              LG_ACCOUNT_NUMBER_MAX);
    return 0;
}

static int validate(json_t *root, lg_txn_command *cmd, lg_problem *p)
{
    const char *key;
    json_t *value;
    char *type_text = NULL, *amount_text = NULL;
    char e[128];
    int type, rc = -1;

    if (!json_is_object(root))
        return lg_problem_set(p, 400, P_INVALID_JSON, "Malformed request body", NULL,
                              "the body must be a JSON object");
    json_object_foreach(root, key, value)
    {
        int known = 0;
        for (size_t i = 0; known_fields[i] != NULL; i++)
            known |= strcmp(key, known_fields[i]) == 0;
        if (!known)
            return lg_problem_set(p, 422, P_UNKNOWN_FIELD, "Unknown field", key,
                                  "the field \"%.64s\" is not part of a transaction request", key);
    }
    if (opt_string(root, "type", 32, &type_text, p) != 0 ||
        opt_string(root, "amount", 64, &amount_text, p) != 0 ||
        opt_string(root, "currency", 8, &cmd->currency, p) != 0 ||
        opt_string(root, "fromAccount", 64, &cmd->from_account, p) != 0 ||
        opt_string(root, "toAccount", 64, &cmd->to_account, p) != 0 ||
        opt_string(root, "description", LG_DESCRIPTION_MAX, &cmd->description, p) != 0 ||
        opt_string(root, "reference", LG_REFERENCE_MAX, &cmd->reference, p) != 0 ||
        opt_string(root, "originalTransactionId", 64, &cmd->original_transaction_id, p) != 0 ||
        opt_string(root, "reason", LG_REASON_MAX, &cmd->reason, p) != 0)
        goto out;

    if (type_text == NULL) {
        lg_problem_set(p, 422, P_MISSING_FIELD, "Missing field", "type",
                       "type is required: DEPOSIT, WITHDRAWAL, TRANSFER, FEE, INTEREST or "
                       "REVERSAL");
        goto out;
    }
    type = lg_txn_type_from_name(type_text);
    if (type < 0) {
        lg_problem_set(p, 422, P_INVALID_TYPE, "Invalid transaction type", "type",
                       "type must be DEPOSIT, WITHDRAWAL, TRANSFER, FEE, INTEREST or REVERSAL");
        goto out;
    }
    cmd->type = (lg_txn_type)type;

    if (cmd->type == LG_TXN_REVERSAL) {
        if (amount_text != NULL || cmd->currency != NULL || cmd->from_account != NULL ||
            cmd->to_account != NULL) {
            lg_problem_set(p, 422, P_INVALID_FIELD, "Invalid field", NULL,
                           "a REVERSAL takes no amount, currency or accounts: they are the "
                           "original transaction's");
            goto out;
        }
        if (cmd->original_transaction_id == NULL || cmd->reason == NULL ||
            cmd->reason[0] == '\0') {
            lg_problem_set(p, 422, P_MISSING_FIELD, "Missing field",
                           cmd->original_transaction_id == NULL ? "originalTransactionId"
                                                                : "reason",
                           "a REVERSAL needs originalTransactionId and a reason");
            goto out;
        }
        if (!lg_uuid_valid(cmd->original_transaction_id)) {
            lg_problem_set(p, 422, P_INVALID_FIELD, "Invalid field", "originalTransactionId",
                           "originalTransactionId must be a transaction id (a lower-case UUID)");
            goto out;
        }
        rc = 0;
        goto out;
    }
    if (cmd->original_transaction_id != NULL || cmd->reason != NULL) {
        lg_problem_set(p, 422, P_INVALID_FIELD, "Invalid field",
                       cmd->reason != NULL ? "reason" : "originalTransactionId",
                       "only a REVERSAL takes originalTransactionId and reason");
        goto out;
    }
    if (amount_text == NULL) {
        lg_problem_set(p, 422, P_MISSING_FIELD, "Missing field", "amount",
                       "amount is required, as a decimal string such as \"100.00\"");
        goto out;
    }
    if (lg_money_parse(amount_text, &cmd->amount_minor, e, sizeof e) != 0) {
        lg_problem_set(p, 422, P_INVALID_AMOUNT, "Invalid amount", "amount", "%s", e);
        goto out;
    }
    if (cmd->amount_minor <= 0) {
        lg_problem_set(p, 422, P_INVALID_AMOUNT, "Invalid amount", "amount",
                       "amount must be greater than zero");
        goto out;
    }
    if (cmd->currency == NULL) {
        lg_problem_set(p, 422, P_MISSING_FIELD, "Missing field", "currency",
                       "currency is required (an ISO 4217 code such as \"USD\")");
        goto out;
    }
    if (!lg_currency_valid(cmd->currency)) {
        lg_problem_set(p, 422, P_INVALID_CURRENCY, "Invalid currency", "currency",
                       "currency must be an ISO 4217 code in capitals, such as \"USD\"");
        goto out;
    }
    {
        int need_from = cmd->type == LG_TXN_WITHDRAWAL || cmd->type == LG_TXN_FEE ||
                        cmd->type == LG_TXN_TRANSFER;
        int need_to = cmd->type == LG_TXN_DEPOSIT || cmd->type == LG_TXN_INTEREST ||
                      cmd->type == LG_TXN_TRANSFER;
        if (check_account("fromAccount", cmd->from_account, need_from, need_from, type_text, p) !=
                0 ||
            check_account("toAccount", cmd->to_account, need_to, need_to, type_text, p) != 0)
            goto out;
        if (cmd->type == LG_TXN_TRANSFER && strcmp(cmd->from_account, cmd->to_account) == 0) {
            lg_problem_set(p, 422, P_INVALID_ACCOUNTS, "Invalid accounts", "toAccount",
                           "a TRANSFER needs two different accounts");
            goto out;
        }
    }
    rc = 0;
out:
    free(type_text);
    free(amount_text);
    return rc;
}

int lg_validate_txn_request(const char *body, size_t len, lg_txn_command *cmd, lg_problem *p)
{
    json_error_t jerr;
    json_t *root;
    int rc;

    memset(cmd, 0, sizeof *cmd);
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return lg_problem_set(p, 400, P_INVALID_JSON, "Malformed request body", NULL,
                              "the body is not valid JSON: %s (at character %d)", jerr.text,
                              jerr.position);
    rc = validate(root, cmd, p);
    json_decref(root);
    if (rc != 0)
        lg_avro_free_command(cmd);
    return rc;
}
