/*
 * Unit tests for src/common/lg_avro.c.
 *
 * The fingerprints and canonical forms below were computed independently with fastavro 1.13
 * (fastavro.schema.to_parsing_canonical_form and fingerprint(..., "CRC-64-AVRO")), which prints
 * the fingerprint's 8 bytes little-endian; the constants here are those bytes read as a uint64.
 */
#include "lg_avro.h"
#include "lg_money.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FP_COMMAND UINT64_C(0xecd0de631df154b4)
#define FP_RESULT  UINT64_C(0xc0330566abe6678c)
#define FP_LEDGER  UINT64_C(0xf4992ae4cca31f5d)

#define TENANT  "7c9e6679-7425-40de-944b-e07fc1f90ae7"
#define TXN     "4f1d2c3b-5a69-4788-9a0b-1c2d3e4f5a6b"
#define USER_ID "0b5e9c7a-2d41-4f8e-9b3a-6c7d8e9f0a1b"

static char err[512];

/* The structs hold char *, so test strings live in writable arrays. */
static char s_txn[] = TXN;
static char s_tenant[] = TENANT;
static char s_eur[] = "EUR";
static char s_acc_0001[] = "ACC-0001";
static char s_acc_0002[] = "ACC-0002";
static char s_rent_with_euro_sign[] = "Rent, March \xe2\x82\xac";
static char s_chq_778[] = "CHQ-778";
static char s_idem_42[] = "idem-42";
static char s_original_txn[] = "a1a2a3a4-b1b2-4c1c-8d1d-e1e2e3e4e5e6";
static char s_duplicate[] = "duplicate";
static char s_user_id[] = USER_ID;
static char s_203_0_113_7[] = "203.0.113.7";
static char s_ios_17[] = "ios-17";
static char s_req_9[] = "req-9";
static char s_usd[] = "USD";
static char s_empty[] = "";
static char s_e[] = "e";
static char s_t[] = "t";
static char s_x[] = "x";
static char s_txn_2024_000001[] = "TXN-2024-000001";
static char s_insufficient_funds[] = "INSUFFICIENT_FUNDS";
static char s_failure_reason[] = "available balance 10.00 is below 25.00";
static char s_gbp[] = "GBP";
static char s_2000[] = "2000";
static char s_salary[] = "salary";
static char s_c[] = "c";

static void setup(void)
{
    char init_err[256] = "";

    ck_assert_msg(lg_avro_init(init_err, sizeof(init_err)) == 0, "init: %s", init_err);
}

static void teardown(void)
{
    lg_avro_shutdown();
}

/* Bytes a test builds by hand; freed at the end of each test. */
typedef struct {
    unsigned char *data;
    size_t len;
} message;

static void message_free(message *m)
{
    free(m->data);
    m->data = NULL;
    m->len = 0;
}

/* A copy of m with bytes [at, at + cut) replaced by insert[0..insert_len). */
static message splice(const message *m, size_t at, size_t cut, const void *insert,
                      size_t insert_len)
{
    message out;

    ck_assert(at + cut <= m->len);
    out.len = m->len - cut + insert_len;
    out.data = malloc(out.len + 1);
    ck_assert_ptr_nonnull(out.data);
    memcpy(out.data, m->data, at);
    if (insert_len > 0)
        memcpy(out.data + at, insert, insert_len);
    memcpy(out.data + at + insert_len, m->data + at + cut, m->len - at - cut);
    return out;
}

static size_t zigzag_varint(int64_t value, unsigned char *out)
{
    uint64_t n = ((uint64_t)value << 1) ^ (uint64_t)(value >> 63);
    size_t len = 0;

    while (n & ~UINT64_C(0x7f)) {
        out[len++] = (unsigned char)((n & 0x7f) | 0x80);
        n >>= 7;
    }
    out[len++] = (unsigned char)n;
    return len;
}

static lg_txn_command full_command(void)
{
    lg_txn_command cmd = {
        .command_id = s_txn,
        .tenant_id = s_tenant,
        .transaction_id = s_txn,
        .type = LG_TXN_REVERSAL,
        .amount_minor = 125075,
        .currency = s_eur,
        .from_account = s_acc_0001,
        .to_account = s_acc_0002,
        .description = s_rent_with_euro_sign,
        .reference = s_chq_778,
        .idempotency_key = s_idem_42,
        .original_transaction_id = s_original_txn,
        .reason = s_duplicate,
        .requested_by = s_user_id,
        .requested_by_ip = s_203_0_113_7,
        .requested_by_device = s_ios_17,
        .request_id = s_req_9,
        .accepted_at_ms = INT64_C(1717171717171),
    };
    return cmd;
}

static lg_txn_command bare_command(void)
{
    lg_txn_command cmd = {
        .command_id = s_txn,
        .tenant_id = s_tenant,
        .transaction_id = s_txn,
        .type = LG_TXN_DEPOSIT,
        .amount_minor = 1,
        .currency = s_usd,
        .requested_by = s_user_id,
        .request_id = s_empty,
        .accepted_at_ms = -1,
    };
    return cmd;
}

static lg_txn_result full_result(void)
{
    lg_txn_result res = {
        .event_id = s_e,
        .tenant_id = s_t,
        .transaction_id = s_x,
        .transaction_ref = s_txn_2024_000001,
        .type = LG_TXN_WITHDRAWAL,
        .status = LG_RESULT_FAILED,
        .failure_code = s_insufficient_funds,
        .failure_reason = s_failure_reason,
        .processed_at_ms = INT64_C(1717171717999),
    };
    return res;
}

/* The layout the byte-level tests rely on: one-byte strings, then a null union. */
static lg_txn_result bare_result(void)
{
    lg_txn_result res = {
        .event_id = s_e,
        .tenant_id = s_t,
        .transaction_id = s_x,
        .type = LG_TXN_FEE,
        .status = LG_RESULT_COMPLETED,
        .processed_at_ms = 0,
    };
    return res;
}
/* Offsets in the encoding of bare_result(): header, 3 x (length byte + 1 byte). */
#define RESULT_EVENT_ID_AT 10
#define RESULT_UNION_AT    16
#define RESULT_TYPE_AT     17
#define RESULT_STATUS_AT   18

static lg_ledger_event full_ledger(void)
{
    lg_ledger_event ev = {
        .event_id = s_txn,
        .tenant_id = s_tenant,
        .entry_id = s_txn,
        .transaction_id = s_txn,
        .account_id = s_user_id,
        .account_number = s_acc_0001,
        .entry_type = LG_ENTRY_CREDIT,
        .amount_minor = 99,
        .currency = s_gbp,
        .balance_after_minor = -LG_MONEY_MAX,
        .account_code = s_2000,
        .description = s_salary,
        .created_at_ms = INT64_C(1700000000000),
    };
    return ev;
}

/* A command whose amount starts at a known offset: header, 3 one-byte strings, enum. */
static lg_txn_command tiny_command(int64_t amount_minor)
{
    lg_txn_command cmd = bare_command();

    cmd.command_id = s_c;
    cmd.tenant_id = s_t;
    cmd.transaction_id = s_x;
    cmd.amount_minor = amount_minor;
    return cmd;
}
#define COMMAND_AMOUNT_AT 17

static message encode_command(const lg_txn_command *cmd)
{
    message m = {NULL, 0};
    void *out = NULL;

    ck_assert_msg(lg_avro_encode_command(cmd, &out, &m.len, err, sizeof(err)) == 0, "encode: %s",
                  err);
    m.data = out;
    return m;
}

static message encode_result(const lg_txn_result *res)
{
    message m = {NULL, 0};
    void *out = NULL;

    ck_assert_msg(lg_avro_encode_result(res, &out, &m.len, err, sizeof(err)) == 0, "encode: %s",
                  err);
    m.data = out;
    return m;
}

static message encode_ledger(const lg_ledger_event *ev)
{
    message m = {NULL, 0};
    void *out = NULL;

    ck_assert_msg(lg_avro_encode_ledger(ev, &out, &m.len, err, sizeof(err)) == 0, "encode: %s",
                  err);
    m.data = out;
    return m;
}

static void assert_same_string(const char *expected, const char *actual)
{
    if (expected == NULL)
        ck_assert_ptr_null(actual);
    else
        ck_assert_str_eq(expected, actual);
}

static void assert_same_command(const lg_txn_command *a, const lg_txn_command *b)
{
    assert_same_string(a->command_id, b->command_id);
    assert_same_string(a->tenant_id, b->tenant_id);
    assert_same_string(a->transaction_id, b->transaction_id);
    ck_assert_int_eq(a->type, b->type);
    ck_assert_int_eq(a->amount_minor, b->amount_minor);
    assert_same_string(a->currency, b->currency);
    assert_same_string(a->from_account, b->from_account);
    assert_same_string(a->to_account, b->to_account);
    assert_same_string(a->description, b->description);
    assert_same_string(a->reference, b->reference);
    assert_same_string(a->idempotency_key, b->idempotency_key);
    assert_same_string(a->original_transaction_id, b->original_transaction_id);
    assert_same_string(a->reason, b->reason);
    assert_same_string(a->requested_by, b->requested_by);
    assert_same_string(a->requested_by_ip, b->requested_by_ip);
    assert_same_string(a->requested_by_device, b->requested_by_device);
    assert_same_string(a->request_id, b->request_id);
    ck_assert_int_eq(a->accepted_at_ms, b->accepted_at_ms);
}

static void assert_same_result(const lg_txn_result *a, const lg_txn_result *b)
{
    assert_same_string(a->event_id, b->event_id);
    assert_same_string(a->tenant_id, b->tenant_id);
    assert_same_string(a->transaction_id, b->transaction_id);
    assert_same_string(a->transaction_ref, b->transaction_ref);
    ck_assert_int_eq(a->type, b->type);
    ck_assert_int_eq(a->status, b->status);
    assert_same_string(a->failure_code, b->failure_code);
    assert_same_string(a->failure_reason, b->failure_reason);
    ck_assert_int_eq(a->processed_at_ms, b->processed_at_ms);
}

static void assert_same_ledger(const lg_ledger_event *a, const lg_ledger_event *b)
{
    assert_same_string(a->event_id, b->event_id);
    assert_same_string(a->tenant_id, b->tenant_id);
    assert_same_string(a->entry_id, b->entry_id);
    assert_same_string(a->transaction_id, b->transaction_id);
    assert_same_string(a->account_id, b->account_id);
    assert_same_string(a->account_number, b->account_number);
    ck_assert_int_eq(a->entry_type, b->entry_type);
    ck_assert_int_eq(a->amount_minor, b->amount_minor);
    assert_same_string(a->currency, b->currency);
    ck_assert_int_eq(a->balance_after_minor, b->balance_after_minor);
    assert_same_string(a->account_code, b->account_code);
    assert_same_string(a->description, b->description);
    ck_assert_int_eq(a->created_at_ms, b->created_at_ms);
}

static int command_is_empty(const lg_txn_command *cmd)
{
    static const lg_txn_command zero;

    return memcmp(cmd, &zero, sizeof(zero)) == 0;
}

/* Decoding m as a command fails with a reason containing reason_part and leaves *out empty. */
static void assert_command_refused(const message *m, const char *reason_part)
{
    lg_txn_command out;

    err[0] = '\0';
    ck_assert_msg(lg_avro_decode_command(m->data, m->len, &out, err, sizeof(err)) == -1,
                  "a corrupted command was accepted");
    ck_assert(command_is_empty(&out));
    ck_assert_msg(strstr(err, reason_part) != NULL, "reason \"%s\" lacks \"%s\"", err, reason_part);
}

static void assert_result_refused(const message *m, const char *reason_part)
{
    lg_txn_result out;
    static const lg_txn_result zero;

    err[0] = '\0';
    ck_assert_msg(lg_avro_decode_result(m->data, m->len, &out, err, sizeof(err)) == -1,
                  "a corrupted result was accepted");
    ck_assert(memcmp(&out, &zero, sizeof(zero)) == 0);
    ck_assert_msg(strstr(err, reason_part) != NULL, "reason \"%s\" lacks \"%s\"", err, reason_part);
}

/* ------------------------------------------------------------------------------------------- */

START_TEST(avro_fingerprints_match_fastavro)
{
    ck_assert_uint_eq(lg_avro_fingerprint_command(), FP_COMMAND);
    ck_assert_uint_eq(lg_avro_fingerprint_result(), FP_RESULT);
    ck_assert_uint_eq(lg_avro_fingerprint_ledger(), FP_LEDGER);
}
END_TEST

START_TEST(avro_rabin_of_primitive_schemas_matches_fastavro)
{
    ck_assert_uint_eq(lg_avro_rabin("", 0), UINT64_C(0xc15d213aa4d7a795));
    ck_assert_uint_eq(lg_avro_rabin("\"int\"", 5), UINT64_C(0x7275d51a3f395c8f));
    ck_assert_uint_eq(lg_avro_rabin("\"long\"", 6), UINT64_C(0xd054e14493f41db7));
    ck_assert_uint_eq(lg_avro_rabin("\"string\"", 8), UINT64_C(0x8f014872634503c7));
    ck_assert_uint_eq(lg_avro_rabin("\"null\"", 6), UINT64_C(0x63dd24e7cc258f8a));
    ck_assert_uint_eq(lg_avro_rabin("\"bytes\"", 7), UINT64_C(0x4fc016dac3201965));
    ck_assert_uint_eq(lg_avro_rabin("\"boolean\"", 9), UINT64_C(0x9f42fc78a4d4f764));
}
END_TEST

START_TEST(avro_canonical_form_of_transaction_result_matches_fastavro)
{
    static const char expected[] =
        "{\"name\":\"com.ledger.events.TransactionResult\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"eventId\",\"type\":\"string\"},"
        "{\"name\":\"tenantId\",\"type\":\"string\"},"
        "{\"name\":\"transactionId\",\"type\":\"string\"},"
        "{\"name\":\"transactionRef\",\"type\":[\"null\",\"string\"]},"
        "{\"name\":\"type\",\"type\":{\"name\":\"com.ledger.events.TransactionType\","
        "\"type\":\"enum\",\"symbols\":[\"DEPOSIT\",\"WITHDRAWAL\",\"TRANSFER\",\"FEE\","
        "\"INTEREST\",\"REVERSAL\"]}},"
        "{\"name\":\"status\",\"type\":{\"name\":\"com.ledger.events.ResultStatus\","
        "\"type\":\"enum\",\"symbols\":[\"COMPLETED\",\"FAILED\",\"REVERSED\"]}},"
        "{\"name\":\"failureCode\",\"type\":[\"null\",\"string\"]},"
        "{\"name\":\"failureReason\",\"type\":[\"null\",\"string\"]},"
        "{\"name\":\"processedAt\",\"type\":\"long\"}]}";
    char *canonical = lg_avro_canonical_form(lg_schema_TransactionResult_json);

    ck_assert_ptr_nonnull(canonical);
    ck_assert_str_eq(canonical, expected);
    ck_assert_uint_eq(lg_avro_rabin(canonical, strlen(canonical)), FP_RESULT);
    free(canonical);
}
END_TEST

static void assert_canonical(const char *schema, const char *expected)
{
    char *canonical = lg_avro_canonical_form(schema);

    ck_assert_msg(canonical != NULL, "no canonical form for %s", schema);
    ck_assert_str_eq(canonical, expected);
    free(canonical);
}

START_TEST(avro_canonical_form_strips_logical_types_to_primitives)
{
    assert_canonical("\"boolean\"", "\"boolean\"");
    assert_canonical("{\"type\":\"int\"}", "\"int\"");
    assert_canonical("{\"type\": \"string\", \"logicalType\": \"uuid\"}", "\"string\"");
    assert_canonical(
        "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":15,\"scale\":2}",
        "\"bytes\"");
}
END_TEST

START_TEST(avro_canonical_form_folds_namespaces_and_writes_repeated_types_by_name)
{
    /* Expected text from fastavro for the same schema. */
    assert_canonical(
        "{\"type\":\"record\",\"name\":\"Outer\",\"namespace\":\"a.b\",\"doc\":\"x\","
        "\"aliases\":[\"Z\"],\"fields\":["
        "{\"name\":\"f1\",\"type\":{\"type\":\"fixed\",\"name\":\"Hash\",\"size\":16},"
        "\"doc\":\"d\",\"default\":\"x\"},"
        "{\"name\":\"f2\",\"type\":\"Hash\"},"
        "{\"name\":\"f3\",\"type\":{\"type\":\"enum\",\"name\":\"c.d.Kind\","
        "\"symbols\":[\"A\",\"B\"]}},"
        "{\"name\":\"f4\",\"type\":{\"type\":\"array\",\"items\":\"c.d.Kind\"}},"
        "{\"name\":\"f5\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"record\","
        "\"name\":\"Inner\",\"namespace\":\"e\",\"fields\":[{\"name\":\"g\","
        "\"type\":[\"null\",\"long\"]}]}}},"
        "{\"name\":\"f6\",\"type\":\"e.Inner\"}]}",
        "{\"name\":\"a.b.Outer\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"f1\",\"type\":{\"name\":\"a.b.Hash\",\"type\":\"fixed\",\"size\":16}},"
        "{\"name\":\"f2\",\"type\":\"a.b.Hash\"},"
        "{\"name\":\"f3\",\"type\":{\"name\":\"c.d.Kind\",\"type\":\"enum\","
        "\"symbols\":[\"A\",\"B\"]}},"
        "{\"name\":\"f4\",\"type\":{\"type\":\"array\",\"items\":\"c.d.Kind\"}},"
        "{\"name\":\"f5\",\"type\":{\"type\":\"map\",\"values\":{\"name\":\"e.Inner\","
        "\"type\":\"record\",\"fields\":[{\"name\":\"g\",\"type\":[\"null\",\"long\"]}]}}},"
        "{\"name\":\"f6\",\"type\":\"e.Inner\"}]}");
}
END_TEST

START_TEST(avro_canonical_form_refuses_invalid_schemas)
{
    ck_assert_ptr_null(lg_avro_canonical_form(NULL));
    ck_assert_ptr_null(lg_avro_canonical_form("not json"));
    ck_assert_ptr_null(lg_avro_canonical_form("\"NoSuchType\""));
    ck_assert_ptr_null(lg_avro_canonical_form("{\"type\":\"record\",\"fields\":[]}"));
    ck_assert_ptr_null(lg_avro_canonical_form("{\"type\":\"enum\",\"name\":\"E\"}"));
    ck_assert_ptr_null(lg_avro_canonical_form("{\"type\":\"array\"}"));
    ck_assert_ptr_null(lg_avro_canonical_form("{\"type\":\"fixed\",\"name\":\"F\"}"));
    ck_assert_ptr_null(lg_avro_canonical_form("42"));
}
END_TEST

START_TEST(avro_encoding_starts_with_marker_and_little_endian_fingerprint)
{
    lg_txn_result res = bare_result();
    message m = encode_result(&res);
    static const unsigned char header[] = {0xC3, 0x01, 0x8c, 0x67, 0xe6,
                                           0xab, 0x66, 0x05, 0x33, 0xc0};
    /* Body: "e" "t" "x", null branch, FEE = 3, COMPLETED = 0, processedAt 0 (zig-zag). */
    static const unsigned char body[] = {0x02, 'e',  0x02, 't',  0x02, 'x',
                                         0x00, 0x06, 0x00, 0x00, 0x00, 0x00};

    ck_assert_uint_eq(m.len, sizeof(header) + sizeof(body));
    ck_assert(memcmp(m.data, header, sizeof(header)) == 0);
    ck_assert(memcmp(m.data + sizeof(header), body, sizeof(body)) == 0);
    message_free(&m);
}
END_TEST

START_TEST(avro_command_round_trips_with_all_optional_fields)
{
    lg_txn_command in = full_command();
    lg_txn_command out;
    message m = encode_command(&in);

    ck_assert_msg(lg_avro_decode_command(m.data, m.len, &out, err, sizeof(err)) == 0, "%s", err);
    assert_same_command(&in, &out);
    lg_avro_free_command(&out);
    message_free(&m);
}
END_TEST

START_TEST(avro_command_round_trips_with_optional_fields_null)
{
    lg_txn_command in = bare_command();
    lg_txn_command out;
    message m = encode_command(&in);

    ck_assert_msg(lg_avro_decode_command(m.data, m.len, &out, err, sizeof(err)) == 0, "%s", err);
    assert_same_command(&in, &out);
    lg_avro_free_command(&out);
    message_free(&m);
}
END_TEST

/* A REVERSAL as the API builds it: no amount and no currency (they are the original's). */
START_TEST(avro_reversal_without_amount_or_currency_round_trips)
{
    lg_txn_command in = full_command();
    lg_txn_command out;
    message m;

    in.amount_minor = 0;
    in.currency = NULL;
    in.from_account = NULL;
    in.to_account = NULL;
    m = encode_command(&in);
    ck_assert_msg(lg_avro_decode_command(m.data, m.len, &out, err, sizeof(err)) == 0, "%s", err);
    assert_same_command(&in, &out);
    lg_avro_free_command(&out);
    message_free(&m);

    /* Any other type still needs its currency. */
    {
        lg_txn_command deposit = bare_command();
        void *buf = NULL;
        size_t len = 0;
        deposit.currency = NULL;
        ck_assert_int_eq(lg_avro_encode_command(&deposit, &buf, &len, err, sizeof(err)), -1);
        ck_assert_str_eq(err, "currency is required");
    }
}
END_TEST

START_TEST(avro_result_round_trips_with_all_optional_fields)
{
    lg_txn_result in = full_result();
    lg_txn_result out;
    message m = encode_result(&in);

    ck_assert_msg(lg_avro_decode_result(m.data, m.len, &out, err, sizeof(err)) == 0, "%s", err);
    assert_same_result(&in, &out);
    lg_avro_free_result(&out);
    message_free(&m);
}
END_TEST

START_TEST(avro_result_round_trips_with_optional_fields_null)
{
    lg_txn_result in = bare_result();
    lg_txn_result out;
    message m = encode_result(&in);

    ck_assert_msg(lg_avro_decode_result(m.data, m.len, &out, err, sizeof(err)) == 0, "%s", err);
    assert_same_result(&in, &out);
    lg_avro_free_result(&out);
    message_free(&m);
}
END_TEST

START_TEST(avro_ledger_round_trips_with_all_optional_fields)
{
    lg_ledger_event in = full_ledger();
    lg_ledger_event out;
    message m = encode_ledger(&in);

    ck_assert_msg(lg_avro_decode_ledger(m.data, m.len, &out, err, sizeof(err)) == 0, "%s", err);
    assert_same_ledger(&in, &out);
    lg_avro_free_ledger(&out);
    message_free(&m);
}
END_TEST

START_TEST(avro_ledger_round_trips_with_optional_fields_null)
{
    lg_ledger_event in = full_ledger();
    lg_ledger_event out;
    message m;

    in.description = NULL;
    in.entry_type = LG_ENTRY_DEBIT;
    m = encode_ledger(&in);
    ck_assert_msg(lg_avro_decode_ledger(m.data, m.len, &out, err, sizeof(err)) == 0, "%s", err);
    assert_same_ledger(&in, &out);
    lg_avro_free_ledger(&out);
    message_free(&m);
}
END_TEST

START_TEST(avro_every_truncation_of_a_valid_message_is_rejected)
{
    lg_txn_command cmd = full_command();
    lg_txn_result res = full_result();
    lg_ledger_event ev = full_ledger();
    message mc = encode_command(&cmd);
    message mr = encode_result(&res);
    message ml = encode_ledger(&ev);

    for (size_t len = 0; len < mc.len; len++) {
        lg_txn_command out;

        ck_assert_msg(lg_avro_decode_command(mc.data, len, &out, err, sizeof(err)) == -1,
                      "command prefix of %zu bytes accepted", len);
        ck_assert(command_is_empty(&out));
    }
    for (size_t len = 0; len < mr.len; len++) {
        lg_txn_result out;

        ck_assert_msg(lg_avro_decode_result(mr.data, len, &out, err, sizeof(err)) == -1,
                      "result prefix of %zu bytes accepted", len);
    }
    for (size_t len = 0; len < ml.len; len++) {
        lg_ledger_event out;

        ck_assert_msg(lg_avro_decode_ledger(ml.data, len, &out, err, sizeof(err)) == -1,
                      "ledger prefix of %zu bytes accepted", len);
    }
    message_free(&ml);
    message_free(&mr);
    message_free(&mc);
}
END_TEST

START_TEST(avro_truncation_error_names_the_field)
{
    lg_txn_result res = bare_result();
    message m = encode_result(&res);

    m.len = RESULT_TYPE_AT;
    assert_result_refused(&m, "truncated in type");
    message_free(&m);
}
END_TEST

START_TEST(avro_corrupted_marker_is_rejected)
{
    lg_txn_command cmd = full_command();
    message m = encode_command(&cmd);

    m.data[0] = 0xC4;
    assert_command_refused(&m, "marker C3 01");
    m.data[0] = 0xC3;
    m.data[1] = 0x00;
    assert_command_refused(&m, "marker C3 01");
    message_free(&m);
}
END_TEST

START_TEST(avro_fingerprint_of_another_schema_is_rejected)
{
    lg_txn_result res = full_result();
    message m = encode_result(&res);

    assert_command_refused(&m, "is a TransactionResult, not a TransactionCommand");
    message_free(&m);
}
END_TEST

START_TEST(avro_unknown_fingerprint_is_rejected)
{
    lg_txn_command cmd = full_command();
    message m = encode_command(&cmd);

    m.data[9] ^= 0x01;
    assert_command_refused(&m, "unknown schema fingerprint");
    message_free(&m);
}
END_TEST

START_TEST(avro_enum_index_out_of_range_is_rejected)
{
    lg_txn_result res = bare_result();
    message m = encode_result(&res);

    ck_assert_int_eq(m.data[RESULT_TYPE_AT], 0x06); /* FEE = 3 */
    m.data[RESULT_TYPE_AT] = 0x0c;                  /* 6: one past REVERSAL */
    assert_result_refused(&m, "unknown enum index 6");
    m.data[RESULT_TYPE_AT] = 0x01; /* -1 */
    assert_result_refused(&m, "unknown enum index -1");
    m.data[RESULT_TYPE_AT] = 0x06;
    m.data[RESULT_STATUS_AT] = 0x06; /* 3: one past REVERSED */
    assert_result_refused(&m, "unknown enum index 3");
    message_free(&m);
}
END_TEST

START_TEST(avro_union_branch_out_of_range_is_rejected)
{
    lg_txn_result res = bare_result();
    message m = encode_result(&res);

    ck_assert_int_eq(m.data[RESULT_UNION_AT], 0x00);
    m.data[RESULT_UNION_AT] = 0x04; /* branch 2 of ["null","string"] */
    assert_result_refused(&m, "unknown union branch 2");
    message_free(&m);
}
END_TEST

START_TEST(avro_trailing_bytes_are_rejected)
{
    lg_txn_command cmd = full_command();
    message m = encode_command(&cmd);
    message longer = splice(&m, m.len, 0, "\x00", 1);

    assert_command_refused(&longer, "1 trailing bytes");
    message_free(&longer);
    message_free(&m);
}
END_TEST

START_TEST(avro_huge_string_length_is_rejected_before_allocation)
{
    lg_txn_result res = bare_result();
    message m = encode_result(&res);
    unsigned char varint[10];
    size_t n;
    message bad;

    /* eventId declares INT64_MAX bytes: avro-c would try to malloc that. */
    ck_assert_int_eq(m.data[RESULT_EVENT_ID_AT], 0x02);
    n = zigzag_varint(INT64_MAX, varint);
    ck_assert_uint_eq(n, 10);
    bad = splice(&m, RESULT_EVENT_ID_AT, 1, varint, n);
    assert_result_refused(&bad, "eventId declares 9223372036854775807 bytes");
    message_free(&bad);

    n = zigzag_varint(INT64_C(1) << 40, varint);
    bad = splice(&m, RESULT_EVENT_ID_AT, 1, varint, n);
    assert_result_refused(&bad, "eventId declares");
    message_free(&bad);

    n = zigzag_varint(-5, varint);
    bad = splice(&m, RESULT_EVENT_ID_AT, 1, varint, n);
    assert_result_refused(&bad, "negative length");
    message_free(&bad);
    message_free(&m);
}
END_TEST

START_TEST(avro_overlong_varint_is_rejected)
{
    lg_txn_result res = bare_result();
    message m = encode_result(&res);
    static const unsigned char eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                           0x80, 0x80, 0x80, 0x80, 0x00};
    static const unsigned char wide[] = {0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0x7f};
    message bad = splice(&m, RESULT_EVENT_ID_AT, 1, eleven, sizeof(eleven));

    assert_result_refused(&bad, "does not fit in 64 bits");
    message_free(&bad);
    bad = splice(&m, RESULT_EVENT_ID_AT, 1, wide, sizeof(wide));
    assert_result_refused(&bad, "does not fit in 64 bits");
    message_free(&bad);
    message_free(&m);
}
END_TEST

START_TEST(avro_string_with_nul_byte_is_rejected)
{
    lg_txn_result res = bare_result();
    message m = encode_result(&res);

    m.data[RESULT_EVENT_ID_AT + 1] = '\0';
    assert_result_refused(&m, "eventId contains a NUL byte");
    message_free(&m);
}
END_TEST

START_TEST(avro_decimal_edge_values_round_trip_in_fewest_bytes)
{
    static const struct {
        int64_t value;
        size_t len;
        unsigned char bytes[8];
    } cases[] = {
        {0, 1, {0x00}},
        {1, 1, {0x01}},
        {-1, 1, {0xff}},
        {127, 1, {0x7f}},
        {128, 2, {0x00, 0x80}},
        {-128, 1, {0x80}},
        {-129, 2, {0xff, 0x7f}},
        {32767, 2, {0x7f, 0xff}},
        {32768, 3, {0x00, 0x80, 0x00}},
        {LG_MONEY_MAX, 7, {0x03, 0x8d, 0x7e, 0xa4, 0xc6, 0x7f, 0xff}},
        {-LG_MONEY_MAX, 7, {0xfc, 0x72, 0x81, 0x5b, 0x39, 0x80, 0x01}},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lg_txn_command in = tiny_command(cases[i].value);
        lg_txn_command out;
        message m = encode_command(&in);

        ck_assert_uint_eq(m.data[COMMAND_AMOUNT_AT], cases[i].len * 2);
        ck_assert_msg(memcmp(m.data + COMMAND_AMOUNT_AT + 1, cases[i].bytes, cases[i].len) == 0,
                      "decimal %lld has unexpected bytes", (long long)cases[i].value);
        ck_assert_msg(lg_avro_decode_command(m.data, m.len, &out, err, sizeof(err)) == 0, "%s",
                      err);
        ck_assert_int_eq(out.amount_minor, cases[i].value);
        lg_avro_free_command(&out);
        message_free(&m);
    }
}
END_TEST

/* The tiny command's amount (one byte, value 1) replaced by a bytes value of len bytes. */
static message with_amount_bytes(const unsigned char *bytes, size_t len)
{
    lg_txn_command cmd = tiny_command(1);
    message m = encode_command(&cmd);
    unsigned char field[32];
    message out;
    size_t n;

    ck_assert_int_eq(m.data[COMMAND_AMOUNT_AT], 0x02);
    n = zigzag_varint((int64_t)len, field);
    if (len > 0)
        memcpy(field + n, bytes, len);
    out = splice(&m, COMMAND_AMOUNT_AT, 2, field, n + len);
    message_free(&m);
    return out;
}

START_TEST(avro_decimal_that_is_empty_is_rejected)
{
    message m = with_amount_bytes(NULL, 0);

    assert_command_refused(&m, "amount is an empty decimal");
    message_free(&m);
}
END_TEST

START_TEST(avro_decimal_longer_than_eight_bytes_is_rejected)
{
    static const unsigned char nine[9] = {0, 0, 0, 0, 0, 0, 0, 0, 1};
    message m = with_amount_bytes(nine, sizeof(nine));

    assert_command_refused(&m, "amount is a decimal of 9 bytes");
    message_free(&m);
}
END_TEST

START_TEST(avro_decimal_beyond_numeric_15_2_is_rejected)
{
    /* LG_MONEY_MAX + 1 and -(LG_MONEY_MAX + 1) */
    static const unsigned char over[] = {0x03, 0x8d, 0x7e, 0xa4, 0xc6, 0x80, 0x00};
    static const unsigned char under[] = {0xfc, 0x72, 0x81, 0x5b, 0x39, 0x80, 0x00};
    static const unsigned char int64_min[] = {0x80, 0, 0, 0, 0, 0, 0, 0};
    message m = with_amount_bytes(over, sizeof(over));

    assert_command_refused(&m, "outside NUMERIC(15,2)");
    message_free(&m);
    m = with_amount_bytes(under, sizeof(under));
    assert_command_refused(&m, "outside NUMERIC(15,2)");
    message_free(&m);
    m = with_amount_bytes(int64_min, sizeof(int64_min));
    assert_command_refused(&m, "outside NUMERIC(15,2)");
    message_free(&m);
}
END_TEST

START_TEST(avro_decimal_in_non_minimal_bytes_is_accepted)
{
    static const unsigned char padded[] = {0x00, 0x00, 0x01, 0x2c};   /* 300 */
    static const unsigned char negative[] = {0xff, 0xff, 0xff, 0xfe}; /* -2 */
    lg_txn_command out;
    message m = with_amount_bytes(padded, sizeof(padded));

    ck_assert_msg(lg_avro_decode_command(m.data, m.len, &out, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(out.amount_minor, 300);
    lg_avro_free_command(&out);
    message_free(&m);
    m = with_amount_bytes(negative, sizeof(negative));
    ck_assert_msg(lg_avro_decode_command(m.data, m.len, &out, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(out.amount_minor, -2);
    lg_avro_free_command(&out);
    message_free(&m);
}
END_TEST

START_TEST(avro_encoder_refuses_a_missing_required_string)
{
    lg_txn_command cmd = full_command();
    void *out = (void *)&cmd;
    size_t len = 99;

    cmd.request_id = NULL;
    ck_assert_int_eq(lg_avro_encode_command(&cmd, &out, &len, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "requestId is required");
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(avro_encoder_refuses_amounts_beyond_numeric_15_2)
{
    lg_txn_command cmd = full_command();
    lg_ledger_event ev = full_ledger();
    void *out = NULL;
    size_t len = 0;

    cmd.amount_minor = LG_MONEY_MAX + 1;
    ck_assert_int_eq(lg_avro_encode_command(&cmd, &out, &len, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "amount is outside NUMERIC(15,2)"));
    ev.balance_after_minor = INT64_MIN;
    ck_assert_int_eq(lg_avro_encode_ledger(&ev, &out, &len, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "balanceAfter is outside NUMERIC(15,2)"));
    ck_assert_ptr_null(out);
}
END_TEST

START_TEST(avro_encoder_refuses_an_unknown_enum_value)
{
    lg_txn_result res = full_result();
    void *out = NULL;
    size_t len = 0;

    res.status = (lg_result_status)7;
    ck_assert_int_eq(lg_avro_encode_result(&res, &out, &len, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "status has an unknown value 7"));
    ck_assert_ptr_null(out);
}
END_TEST

START_TEST(avro_enum_names_map_both_ways)
{
    ck_assert_str_eq(lg_txn_type_name(LG_TXN_DEPOSIT), "DEPOSIT");
    ck_assert_str_eq(lg_txn_type_name(LG_TXN_REVERSAL), "REVERSAL");
    ck_assert_ptr_null(lg_txn_type_name((lg_txn_type)6));
    ck_assert_int_eq(lg_txn_type_from_name("TRANSFER"), LG_TXN_TRANSFER);
    ck_assert_int_eq(lg_txn_type_from_name("transfer"), -1);
    ck_assert_int_eq(lg_txn_type_from_name(NULL), -1);
    ck_assert_str_eq(lg_result_status_name(LG_RESULT_COMPLETED), "COMPLETED");
    ck_assert_str_eq(lg_result_status_name(LG_RESULT_REVERSED), "REVERSED");
    ck_assert_ptr_null(lg_result_status_name((lg_result_status)3));
    ck_assert_str_eq(lg_entry_type_name(LG_ENTRY_DEBIT), "DEBIT");
    ck_assert_str_eq(lg_entry_type_name(LG_ENTRY_CREDIT), "CREDIT");
    ck_assert_ptr_null(lg_entry_type_name((lg_entry_type)2));
}
END_TEST

START_TEST(avro_free_functions_accept_null_and_empty_structs)
{
    lg_txn_command cmd;
    lg_txn_result res;
    lg_ledger_event ev;

    memset(&cmd, 0, sizeof(cmd));
    memset(&res, 0, sizeof(res));
    memset(&ev, 0, sizeof(ev));
    lg_avro_free_command(NULL);
    lg_avro_free_result(NULL);
    lg_avro_free_ledger(NULL);
    lg_avro_free_command(&cmd);
    lg_avro_free_result(&res);
    lg_avro_free_ledger(&ev);
}
END_TEST

#define CODEC_THREADS    4
#define CODEC_ITERATIONS 300

static void *round_trip_many(void *arg)
{
    char thread_err[256];
    long failures = 0;

    (void)arg;
    for (int i = 0; i < CODEC_ITERATIONS; i++) {
        lg_ledger_event in = full_ledger();
        lg_ledger_event out;
        void *buf = NULL;
        size_t len = 0;

        in.amount_minor = i;
        if (lg_avro_encode_ledger(&in, &buf, &len, thread_err, sizeof(thread_err)) != 0) {
            failures++;
            continue;
        }
        if (lg_avro_decode_ledger(buf, len, &out, thread_err, sizeof(thread_err)) != 0 ||
            out.amount_minor != i || strcmp(out.account_number, in.account_number) != 0)
            failures++;
        lg_avro_free_ledger(&out);
        free(buf);
    }
    return (void *)failures;
}

START_TEST(avro_codec_round_trips_from_several_threads)
{
    pthread_t threads[CODEC_THREADS];

    for (int i = 0; i < CODEC_THREADS; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, round_trip_many, NULL), 0);
    for (int i = 0; i < CODEC_THREADS; i++) {
        void *failures = NULL;

        ck_assert_int_eq(pthread_join(threads[i], &failures), 0);
        ck_assert_int_eq((long)failures, 0);
    }
}
END_TEST

static Suite *avro_suite(void)
{
    Suite *s = suite_create("avro");
    TCase *tc = tcase_create("codec");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, avro_fingerprints_match_fastavro);
    tcase_add_test(tc, avro_rabin_of_primitive_schemas_matches_fastavro);
    tcase_add_test(tc, avro_canonical_form_of_transaction_result_matches_fastavro);
    tcase_add_test(tc, avro_canonical_form_strips_logical_types_to_primitives);
    tcase_add_test(tc, avro_canonical_form_folds_namespaces_and_writes_repeated_types_by_name);
    tcase_add_test(tc, avro_canonical_form_refuses_invalid_schemas);
    tcase_add_test(tc, avro_encoding_starts_with_marker_and_little_endian_fingerprint);
    tcase_add_test(tc, avro_command_round_trips_with_all_optional_fields);
    tcase_add_test(tc, avro_command_round_trips_with_optional_fields_null);
    tcase_add_test(tc, avro_reversal_without_amount_or_currency_round_trips);
    tcase_add_test(tc, avro_result_round_trips_with_all_optional_fields);
    tcase_add_test(tc, avro_result_round_trips_with_optional_fields_null);
    tcase_add_test(tc, avro_ledger_round_trips_with_all_optional_fields);
    tcase_add_test(tc, avro_ledger_round_trips_with_optional_fields_null);
    tcase_add_test(tc, avro_every_truncation_of_a_valid_message_is_rejected);
    tcase_add_test(tc, avro_truncation_error_names_the_field);
    tcase_add_test(tc, avro_corrupted_marker_is_rejected);
    tcase_add_test(tc, avro_fingerprint_of_another_schema_is_rejected);
    tcase_add_test(tc, avro_unknown_fingerprint_is_rejected);
    tcase_add_test(tc, avro_enum_index_out_of_range_is_rejected);
    tcase_add_test(tc, avro_union_branch_out_of_range_is_rejected);
    tcase_add_test(tc, avro_trailing_bytes_are_rejected);
    tcase_add_test(tc, avro_huge_string_length_is_rejected_before_allocation);
    tcase_add_test(tc, avro_overlong_varint_is_rejected);
    tcase_add_test(tc, avro_string_with_nul_byte_is_rejected);
    tcase_add_test(tc, avro_decimal_edge_values_round_trip_in_fewest_bytes);
    tcase_add_test(tc, avro_decimal_that_is_empty_is_rejected);
    tcase_add_test(tc, avro_decimal_longer_than_eight_bytes_is_rejected);
    tcase_add_test(tc, avro_decimal_beyond_numeric_15_2_is_rejected);
    tcase_add_test(tc, avro_decimal_in_non_minimal_bytes_is_accepted);
    tcase_add_test(tc, avro_encoder_refuses_a_missing_required_string);
    tcase_add_test(tc, avro_encoder_refuses_amounts_beyond_numeric_15_2);
    tcase_add_test(tc, avro_encoder_refuses_an_unknown_enum_value);
    tcase_add_test(tc, avro_enum_names_map_both_ways);
    tcase_add_test(tc, avro_free_functions_accept_null_and_empty_structs);
    tcase_add_test(tc, avro_codec_round_trips_from_several_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(avro_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
