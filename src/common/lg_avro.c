/*
 * The event codec. See lg_avro.h for the framing:
 *
 *   C3 01 | fingerprint, 8 bytes little-endian | Avro binary body
 *
 * Fingerprint: CRC-64-AVRO (the Avro specification's 64-bit Rabin fingerprint, EMPTY =
 * 0xc15d213aa4d7a795) of the schema's Parsing Canonical Form. avro-c 1.11 cannot produce the
 * canonical form, so lg_avro_canonical_form builds it with jansson from the spec's rules.
 *
 * Decoding never hands an unchecked body to avro-c. avro-c 1.11's memory reader allocates a
 * string or bytes value of whatever length the varint declares before it checks that many bytes
 * are left, so a corrupted length would ask malloc for up to 2^63 bytes. body_scan() first walks
 * the body with the schema and checks every varint, length, union branch and enum index against
 * the bytes that remain, and that the record ends exactly at the end of the buffer. Only a body
 * that passes is given to avro_value_read.
 *
 * Threads: lg_avro_init builds, once, each schema and its generic value class (avro-c reference
 * counts are atomic). Encoders and decoders create their own avro values, readers and writers per
 * call, so they may run concurrently. avro-c keeps its last error message in one global buffer;
 * the pre-scan makes avro-c failures on decode unreachable in practice, and the messages below do
 * not depend on it except for encoder failures that cannot happen with valid input.
 */
#include "lg_avro.h"
#include "lg_money.h"

#include <avro.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOE_MARKER_0   0xC3
#define SOE_MARKER_1   0x01
#define SOE_HEADER_LEN 10
/* A decimal(15,2) in minor units fits in 7 bytes; 8 is the most an int64 can take. */
#define DECIMAL_MAX_BYTES 8
/* Nesting bound for the pre-scan (our schemas nest two levels). */
#define SCAN_MAX_DEPTH 32

typedef struct {
    const char *name; /* record name, for messages */
    const char *json; /* embedded schema text */
    avro_schema_t schema;
    avro_value_iface_t *iface;
    uint64_t fingerprint;
} avro_codec;

enum { CODEC_COMMAND = 0, CODEC_RESULT, CODEC_LEDGER, CODEC_COUNT };

static avro_codec codecs[CODEC_COUNT] = {
    {"TransactionCommand", lg_schema_TransactionCommand_json, NULL, NULL, 0},
    {"TransactionResult", lg_schema_TransactionResult_json, NULL, NULL, 0},
    {"LedgerEntryEvent", lg_schema_LedgerEntryEvent_json, NULL, NULL, 0},
};
static int codecs_ready;

static const char *const txn_type_names[] = {"DEPOSIT", "WITHDRAWAL", "TRANSFER",
                                             "FEE",     "INTEREST",   "REVERSAL"};
static const char *const result_status_names[] = {"COMPLETED", "FAILED", "REVERSED"};
static const char *const entry_type_names[] = {"DEBIT", "CREDIT"};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

static void set_err(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------------------------------
 * CRC-64-AVRO
 */

#define RABIN_EMPTY UINT64_C(0xc15d213aa4d7a795)

static uint64_t rabin_table[256];
static pthread_once_t rabin_once = PTHREAD_ONCE_INIT;

static void rabin_build_table(void)
{
    for (int i = 0; i < 256; i++) {
        uint64_t fp = (uint64_t)i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (RABIN_EMPTY & (0 - (fp & 1)));
        rabin_table[i] = fp;
    }
}

uint64_t lg_avro_rabin(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t fp = RABIN_EMPTY;

    pthread_once(&rabin_once, rabin_build_table);
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ rabin_table[(fp ^ p[i]) & 0xff];
    return fp;
}

/* ---------------------------------------------------------------------------------------------
 * Parsing Canonical Form (Avro specification, "Parsing Canonical Form for Schemas"):
 * PRIMITIVES as plain names, FULLNAMES with the namespace folded in, STRIP to name, type,
 * fields, symbols, items, values and size, ORDER in that sequence, no whitespace. A named type
 * met again is written as its full name.
 */

static const char *const primitive_names[] = {"null",  "boolean", "int",   "long",
                                              "float", "double",  "bytes", "string"};

static int is_primitive(const char *name)
{
    for (size_t i = 0; i < COUNT_OF(primitive_names); i++)
        if (strcmp(name, primitive_names[i]) == 0)
            return 1;
    return 0;
}

/* The full name of name in namespace ns (NULL or "" for none). Caller frees. */
static char *pcf_full_name(const char *name, const char *ns)
{
    char *full;
    size_t len;

    if (strchr(name, '.') != NULL || ns == NULL || ns[0] == '\0')
        return strdup(name);
    len = strlen(ns) + 1 + strlen(name) + 1;
    full = malloc(len);
    if (full != NULL)
        snprintf(full, len, "%s.%s", ns, name);
    return full;
}

/* The namespace part of a full name ("" when none). Caller frees. */
static char *pcf_namespace_of(const char *full_name)
{
    const char *dot = strrchr(full_name, '.');

    if (dot == NULL)
        return strdup("");
    return strndup(full_name, (size_t)(dot - full_name));
}

static json_t *pcf_schema(json_t *defined, json_t *schema, const char *ns, int depth);

static json_t *pcf_named(json_t *defined, json_t *schema, const char *type, const char *ns,
                         int depth)
{
    json_t *name_js = json_object_get(schema, "name");
    json_t *ns_js = json_object_get(schema, "namespace");
    json_t *out = NULL;
    json_t *result = NULL;
    char *full = NULL;
    char *own_ns = NULL;
    const char *name;

    if (!json_is_string(name_js) || json_string_length(name_js) == 0)
        goto cleanup;
    name = json_string_value(name_js);
    if (strchr(name, '.') == NULL && json_is_string(ns_js))
        full = pcf_full_name(name, json_string_value(ns_js));
    else
        full = pcf_full_name(name, ns);
    if (full == NULL)
        goto cleanup;
    if (json_object_get(defined, full) != NULL) {
        result = json_string(full);
        goto cleanup;
    }
    /* Defined before its body, so that the body may refer to it. */
    if (json_object_set_new(defined, full, json_true()) != 0)
        goto cleanup;
    own_ns = pcf_namespace_of(full);
    if (own_ns == NULL)
        goto cleanup;

    out = json_object();
    if (out == NULL || json_object_set_new(out, "name", json_string(full)) != 0 ||
        json_object_set_new(out, "type", json_string(type)) != 0)
        goto cleanup;

    if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0) {
        json_t *fields = json_object_get(schema, "fields");
        json_t *fields_out = json_array();
        size_t i;
        json_t *field;

        if (fields_out == NULL || json_object_set_new(out, "fields", fields_out) != 0)
            goto cleanup;
        if (!json_is_array(fields))
            goto cleanup;
        json_array_foreach(fields, i, field)
        {
            json_t *fname = json_object_get(field, "name");
            json_t *ftype = json_object_get(field, "type");
            json_t *field_out;
            json_t *ftype_out;

            if (!json_is_string(fname) || ftype == NULL)
                goto cleanup;
            field_out = json_object();
            if (field_out == NULL || json_array_append_new(fields_out, field_out) != 0)
                goto cleanup;
            if (json_object_set_new(field_out, "name", json_string(json_string_value(fname))) != 0)
                goto cleanup;
            ftype_out = pcf_schema(defined, ftype, own_ns, depth + 1);
            if (ftype_out == NULL || json_object_set_new(field_out, "type", ftype_out) != 0)
                goto cleanup;
        }
    } else if (strcmp(type, "enum") == 0) {
        json_t *symbols = json_object_get(schema, "symbols");
        json_t *symbols_out = json_array();
        size_t i;
        json_t *symbol;

        if (symbols_out == NULL || json_object_set_new(out, "symbols", symbols_out) != 0)
            goto cleanup;
        if (!json_is_array(symbols))
            goto cleanup;
        json_array_foreach(symbols, i, symbol)
        {
            if (!json_is_string(symbol) ||
                json_array_append_new(symbols_out, json_string(json_string_value(symbol))) != 0)
                goto cleanup;
        }
    } else { /* fixed */
        json_t *size = json_object_get(schema, "size");

        if (!json_is_integer(size) || json_integer_value(size) < 0 ||
            json_object_set_new(out, "size", json_integer(json_integer_value(size))) != 0)
            goto cleanup;
    }
    result = out;
    out = NULL;

cleanup:
    json_decref(out);
    free(own_ns);
    free(full);
    return result;
}

/* The canonical form of one schema node as a new reference, or NULL when it is not valid. */
static json_t *pcf_schema(json_t *defined, json_t *schema, const char *ns, int depth)
{
    if (depth > SCAN_MAX_DEPTH)
        return NULL;

    if (json_is_string(schema)) {
        const char *name = json_string_value(schema);
        json_t *result = NULL;
        char *full;

        if (is_primitive(name))
            return json_string(name);
        full = pcf_full_name(name, ns);
        if (full != NULL && json_object_get(defined, full) != NULL)
            result = json_string(full);
        free(full);
        return result;
    }

    if (json_is_array(schema)) {
        json_t *branches = json_array();
        size_t i;
        json_t *branch;

        if (branches == NULL)
            return NULL;
        json_array_foreach(schema, i, branch)
        {
            json_t *branch_out = pcf_schema(defined, branch, ns, depth + 1);

            if (branch_out == NULL || json_array_append_new(branches, branch_out) != 0) {
                json_decref(branches);
                return NULL;
            }
        }
        return branches;
    }

    if (json_is_object(schema)) {
        json_t *type_js = json_object_get(schema, "type");
        const char *type;

        if (!json_is_string(type_js))
            return NULL;
        type = json_string_value(type_js);
        if (is_primitive(type))
            return json_string(type);
        if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0 ||
            strcmp(type, "enum") == 0 || strcmp(type, "fixed") == 0)
            return pcf_named(defined, schema, type, ns, depth);
        if (strcmp(type, "array") == 0 || strcmp(type, "map") == 0) {
            const char *key = type[0] == 'a' ? "items" : "values";
            json_t *inner = json_object_get(schema, key);
            json_t *inner_out;
            json_t *out;

            if (inner == NULL)
                return NULL;
            inner_out = pcf_schema(defined, inner, ns, depth + 1);
            if (inner_out == NULL)
                return NULL;
            out = json_object();
            if (out == NULL || json_object_set_new(out, "type", json_string(type)) != 0 ||
                json_object_set_new(out, key, inner_out) != 0) {
                json_decref(out);
                return NULL;
            }
            return out;
        }
        /* {"type": "SomeNamedType"}: a reference written as an object. */
        return pcf_schema(defined, type_js, ns, depth + 1);
    }
    return NULL;
}

char *lg_avro_canonical_form(const char *schema_json)
{
    json_t *schema = NULL;
    json_t *defined = NULL;
    json_t *canonical = NULL;
    char *text = NULL;
    json_error_t jerr;

    if (schema_json == NULL)
        goto cleanup;
    schema = json_loads(schema_json, JSON_DECODE_ANY, &jerr);
    if (schema == NULL)
        goto cleanup;
    defined = json_object();
    if (defined == NULL)
        goto cleanup;
    canonical = pcf_schema(defined, schema, NULL, 0);
    if (canonical == NULL)
        goto cleanup;
    /* Compact: no whitespace; jansson writes non-ASCII as UTF-8 and keeps insertion order. */
    text = json_dumps(canonical, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);

cleanup:
    json_decref(canonical);
    json_decref(defined);
    json_decref(schema);
    return text;
}

/* ---------------------------------------------------------------------------------------------
 * Pre-scan of an Avro binary body against a schema (see the note at the top).
 */

typedef struct {
    const unsigned char *p;
    size_t left;
    char *err;
    size_t err_size;
} body_scan;

/* A zig-zag varint of at most 10 bytes whose value fits in int64. */
static int scan_long(body_scan *s, const char *what, int64_t *out)
{
    uint64_t raw = 0;

    for (int i = 0; i < 10; i++) {
        unsigned char b;

        if (s->left == 0) {
            set_err(s->err, s->err_size, "message is truncated in %s", what);
            return -1;
        }
        b = *s->p++;
        s->left--;
        if (i == 9 && b > 0x01) {
            set_err(s->err, s->err_size, "varint in %s does not fit in 64 bits", what);
            return -1;
        }
        raw |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *out = (int64_t)(raw >> 1) ^ -(int64_t)(raw & 1);
            return 0;
        }
    }
    set_err(s->err, s->err_size, "varint in %s is longer than 10 bytes", what);
    return -1;
}

static int scan_skip(body_scan *s, const char *what, size_t n)
{
    if (n > s->left) {
        set_err(s->err, s->err_size, "message is truncated in %s", what);
        return -1;
    }
    s->p += n;
    s->left -= n;
    return 0;
}

static int scan_value(body_scan *s, avro_schema_t schema, const char *what, int depth)
{
    int64_t n;

    if (depth > SCAN_MAX_DEPTH) {
        set_err(s->err, s->err_size, "schema nests deeper than %d levels", SCAN_MAX_DEPTH);
        return -1;
    }
    switch (avro_typeof(schema)) {
    case AVRO_NULL:
        return 0;
    case AVRO_BOOLEAN:
        if (s->left == 0) {
            set_err(s->err, s->err_size, "message is truncated in %s", what);
            return -1;
        }
        if (*s->p > 1) {
            set_err(s->err, s->err_size, "%s is not a boolean (byte 0x%02x)", what, *s->p);
            return -1;
        }
        return scan_skip(s, what, 1);
    case AVRO_INT32:
        if (scan_long(s, what, &n) != 0)
            return -1;
        if (n < INT32_MIN || n > INT32_MAX) {
            set_err(s->err, s->err_size, "%s does not fit in an Avro int", what);
            return -1;
        }
        return 0;
    case AVRO_INT64:
        return scan_long(s, what, &n);
    case AVRO_FLOAT:
        return scan_skip(s, what, 4);
    case AVRO_DOUBLE:
        return scan_skip(s, what, 8);
    case AVRO_STRING:
    case AVRO_BYTES:
        if (scan_long(s, what, &n) != 0)
            return -1;
        if (n < 0) {
            set_err(s->err, s->err_size, "%s has a negative length (%" PRId64 ")", what, n);
            return -1;
        }
        if ((uint64_t)n > s->left) {
            set_err(s->err, s->err_size,
                    "%s declares %" PRId64 " bytes but only %zu remain in the message", what, n,
                    s->left);
            return -1;
        }
        if (avro_typeof(schema) == AVRO_STRING && memchr(s->p, '\0', (size_t)n) != NULL) {
            set_err(s->err, s->err_size, "%s contains a NUL byte", what);
            return -1;
        }
        return scan_skip(s, what, (size_t)n);
    case AVRO_FIXED:
        return scan_skip(s, what, (size_t)avro_schema_fixed_size(schema));
    case AVRO_ENUM:
        if (scan_long(s, what, &n) != 0)
            return -1;
        if (n < 0 || n >= avro_schema_enum_number_of_symbols(schema)) {
            set_err(s->err, s->err_size,
                    "%s has unknown enum index %" PRId64 " (%s has %d symbols)", what, n,
                    avro_schema_type_name(schema), avro_schema_enum_number_of_symbols(schema));
            return -1;
        }
        return 0;
    case AVRO_UNION:
        if (scan_long(s, what, &n) != 0)
            return -1;
        if (n < 0 || (uint64_t)n >= avro_schema_union_size(schema)) {
            set_err(s->err, s->err_size, "%s has unknown union branch %" PRId64, what, n);
            return -1;
        }
        return scan_value(s, avro_schema_union_branch(schema, (int)n), what, depth + 1);
    case AVRO_RECORD: {
        size_t count = avro_schema_record_size(schema);

        for (size_t i = 0; i < count; i++) {
            avro_schema_t field = avro_schema_record_field_get_by_index(schema, (int)i);
            const char *field_name = avro_schema_record_field_name(schema, (int)i);

            if (scan_value(s, field, field_name, depth + 1) != 0)
                return -1;
        }
        return 0;
    }
    case AVRO_LINK:
        return scan_value(s, avro_schema_link_target(schema), what, depth + 1);
    case AVRO_ARRAY:
    case AVRO_MAP:
    default:
        /* Not used by our schemas; lg_avro_init refuses a schema that has them. */
        set_err(s->err, s->err_size, "%s has a type the codec does not support", what);
        return -1;
    }
}

/* 0 when every type in the schema is one scan_value handles. */
static int schema_supported(avro_schema_t schema, int depth)
{
    if (depth > SCAN_MAX_DEPTH)
        return -1;
    switch (avro_typeof(schema)) {
    case AVRO_NULL:
    case AVRO_BOOLEAN:
    case AVRO_INT32:
    case AVRO_INT64:
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
    case AVRO_STRING:
    case AVRO_BYTES:
    case AVRO_FIXED:
    case AVRO_ENUM:
    case AVRO_LINK:
        return 0;
    case AVRO_UNION:
        for (size_t i = 0; i < avro_schema_union_size(schema); i++)
            if (schema_supported(avro_schema_union_branch(schema, (int)i), depth + 1) != 0)
                return -1;
        return 0;
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(schema); i++)
            if (schema_supported(avro_schema_record_field_get_by_index(schema, (int)i),
                                 depth + 1) != 0)
                return -1;
        return 0;
    default:
        return -1;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Init and names
 */

int lg_avro_init(char *err, size_t err_size)
{
    int rc = -1;

    if (codecs_ready)
        return 0;
    for (int i = 0; i < CODEC_COUNT; i++) {
        avro_codec *c = &codecs[i];
        char *canonical = lg_avro_canonical_form(c->json);

        if (canonical == NULL) {
            set_err(err, err_size, "schema %s is not a valid Avro schema", c->name);
            goto cleanup;
        }
        c->fingerprint = lg_avro_rabin(canonical, strlen(canonical));
        free(canonical);

        if (avro_schema_from_json_length(c->json, strlen(c->json), &c->schema) != 0) {
            set_err(err, err_size, "avro-c cannot load schema %s: %s", c->name, avro_strerror());
            goto cleanup;
        }
        if (schema_supported(c->schema, 0) != 0) {
            set_err(err, err_size, "schema %s uses a type the codec does not support", c->name);
            goto cleanup;
        }
        c->iface = avro_generic_class_from_schema(c->schema);
        if (c->iface == NULL) {
            set_err(err, err_size, "avro-c cannot build a value class for %s: %s", c->name,
                    avro_strerror());
            goto cleanup;
        }
    }
    codecs_ready = 1;
    rc = 0;

cleanup:
    if (rc != 0)
        lg_avro_shutdown();
    return rc;
}

void lg_avro_shutdown(void)
{
    for (int i = CODEC_COUNT - 1; i >= 0; i--) {
        avro_codec *c = &codecs[i];

        if (c->iface != NULL)
            avro_value_iface_decref(c->iface);
        if (c->schema != NULL)
            avro_schema_decref(c->schema);
        c->iface = NULL;
        c->schema = NULL;
        c->fingerprint = 0;
    }
    codecs_ready = 0;
}

uint64_t lg_avro_fingerprint_command(void)
{
    return codecs[CODEC_COMMAND].fingerprint;
}

uint64_t lg_avro_fingerprint_result(void)
{
    return codecs[CODEC_RESULT].fingerprint;
}

uint64_t lg_avro_fingerprint_ledger(void)
{
    return codecs[CODEC_LEDGER].fingerprint;
}

const char *lg_txn_type_name(lg_txn_type t)
{
    if ((unsigned)t >= COUNT_OF(txn_type_names))
        return NULL;
    return txn_type_names[t];
}

int lg_txn_type_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < COUNT_OF(txn_type_names); i++)
        if (strcmp(name, txn_type_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *lg_result_status_name(lg_result_status s)
{
    if ((unsigned)s >= COUNT_OF(result_status_names))
        return NULL;
    return result_status_names[s];
}

const char *lg_entry_type_name(lg_entry_type t)
{
    if ((unsigned)t >= COUNT_OF(entry_type_names))
        return NULL;
    return entry_type_names[t];
}

/* ---------------------------------------------------------------------------------------------
 * Field setters (encode)
 */

static int field_of(avro_value_t *rec, const char *name, avro_value_t *field, char *err,
                    size_t err_size)
{
    if (avro_value_get_by_name(rec, name, field, NULL) != 0) {
        set_err(err, err_size, "schema has no field %s", name);
        return -1;
    }
    return 0;
}

static int put_string(avro_value_t *rec, const char *name, const char *value, char *err,
                      size_t err_size)
{
    avro_value_t field;

    if (value == NULL) {
        set_err(err, err_size, "%s is required", name);
        return -1;
    }
    if (field_of(rec, name, &field, err, err_size) != 0)
        return -1;
    if (avro_value_set_string(&field, value) != 0) {
        set_err(err, err_size, "cannot set %s", name);
        return -1;
    }
    return 0;
}

static int put_optional_string(avro_value_t *rec, const char *name, const char *value, char *err,
                               size_t err_size)
{
    avro_value_t field;
    avro_value_t branch;

    if (field_of(rec, name, &field, err, err_size) != 0)
        return -1;
    if (value == NULL) {
        if (avro_value_set_branch(&field, 0, &branch) != 0 || avro_value_set_null(&branch) != 0) {
            set_err(err, err_size, "cannot set %s to null", name);
            return -1;
        }
        return 0;
    }
    if (avro_value_set_branch(&field, 1, &branch) != 0 ||
        avro_value_set_string(&branch, value) != 0) {
        set_err(err, err_size, "cannot set %s", name);
        return -1;
    }
    return 0;
}

static int put_enum(avro_value_t *rec, const char *name, int value, size_t symbol_count, char *err,
                    size_t err_size)
{
    avro_value_t field;

    if (value < 0 || (size_t)value >= symbol_count) {
        set_err(err, err_size, "%s has an unknown value %d", name, value);
        return -1;
    }
    if (field_of(rec, name, &field, err, err_size) != 0)
        return -1;
    if (avro_value_set_enum(&field, value) != 0) {
        set_err(err, err_size, "cannot set %s", name);
        return -1;
    }
    return 0;
}

static int put_long(avro_value_t *rec, const char *name, int64_t value, char *err, size_t err_size)
{
    avro_value_t field;

    if (field_of(rec, name, &field, err, err_size) != 0)
        return -1;
    if (avro_value_set_long(&field, value) != 0) {
        set_err(err, err_size, "cannot set %s", name);
        return -1;
    }
    return 0;
}

/* Big-endian two's complement in the fewest bytes that hold the value. */
static int put_decimal(avro_value_t *rec, const char *name, int64_t minor_units, char *err,
                       size_t err_size)
{
    unsigned char bytes[DECIMAL_MAX_BYTES];
    avro_value_t field;
    size_t n = 1;

    if (minor_units > LG_MONEY_MAX || minor_units < -LG_MONEY_MAX) {
        set_err(err, err_size, "%s is outside NUMERIC(15,2) (+/- 9999999999999.99)", name);
        return -1;
    }
    /* |minor_units| < 2^50, so n stays below 8 and the shift below is defined. */
    while (minor_units >= (INT64_C(1) << (8 * n - 1)) || minor_units < -(INT64_C(1) << (8 * n - 1)))
        n++;
    for (size_t i = 0; i < n; i++)
        bytes[n - 1 - i] = (unsigned char)((uint64_t)minor_units >> (8 * i));
    if (field_of(rec, name, &field, err, err_size) != 0)
        return -1;
    if (avro_value_set_bytes(&field, bytes, n) != 0) {
        set_err(err, err_size, "cannot set %s", name);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Field getters (decode). Strings are copied with malloc; the struct owns them.
 */

static int take_string_value(avro_value_t *value, const char *name, char **dst, char *err,
                             size_t err_size)
{
    const char *str = NULL;
    size_t size = 0;

    if (avro_value_get_string(value, &str, &size) != 0 || str == NULL || size == 0) {
        set_err(err, err_size, "cannot read %s", name);
        return -1;
    }
    /* size counts the terminating NUL; the pre-scan refused embedded NULs. */
    if (strlen(str) != size - 1) {
        set_err(err, err_size, "%s contains a NUL byte", name);
        return -1;
    }
    *dst = malloc(size);
    if (*dst == NULL) {
        set_err(err, err_size, "out of memory reading %s", name);
        return -1;
    }
    memcpy(*dst, str, size);
    return 0;
}

static int take_string(avro_value_t *rec, const char *name, char **dst, char *err, size_t err_size)
{
    avro_value_t field;

    if (field_of(rec, name, &field, err, err_size) != 0)
        return -1;
    return take_string_value(&field, name, dst, err, err_size);
}

static int take_optional_string(avro_value_t *rec, const char *name, char **dst, char *err,
                                size_t err_size)
{
    avro_value_t field;
    avro_value_t branch;
    int discriminant;

    if (field_of(rec, name, &field, err, err_size) != 0)
        return -1;
    if (avro_value_get_discriminant(&field, &discriminant) != 0 ||
        avro_value_get_current_branch(&field, &branch) != 0) {
        set_err(err, err_size, "cannot read %s", name);
        return -1;
    }
    if (discriminant == 0) {
        *dst = NULL;
        return 0;
    }
    return take_string_value(&branch, name, dst, err, err_size);
}

static int take_enum(avro_value_t *rec, const char *name, size_t symbol_count, int *dst, char *err,
                     size_t err_size)
{
    avro_value_t field;
    int value;

    if (field_of(rec, name, &field, err, err_size) != 0)
        return -1;
    if (avro_value_get_enum(&field, &value) != 0) {
        set_err(err, err_size, "cannot read %s", name);
        return -1;
    }
    if (value < 0 || (size_t)value >= symbol_count) {
        set_err(err, err_size, "%s has an unknown enum index %d", name, value);
        return -1;
    }
    *dst = value;
    return 0;
}

static int take_long(avro_value_t *rec, const char *name, int64_t *dst, char *err, size_t err_size)
{
    avro_value_t field;

    if (field_of(rec, name, &field, err, err_size) != 0)
        return -1;
    if (avro_value_get_long(&field, dst) != 0) {
        set_err(err, err_size, "cannot read %s", name);
        return -1;
    }
    return 0;
}

static int take_decimal(avro_value_t *rec, const char *name, int64_t *dst, char *err,
                        size_t err_size)
{
    avro_value_t field;
    const void *buf = NULL;
    const unsigned char *bytes;
    size_t size = 0;
    uint64_t raw;
    int64_t value;

    if (field_of(rec, name, &field, err, err_size) != 0)
        return -1;
    if (avro_value_get_bytes(&field, &buf, &size) != 0) {
        set_err(err, err_size, "cannot read %s", name);
        return -1;
    }
    if (size == 0) {
        set_err(err, err_size, "%s is an empty decimal", name);
        return -1;
    }
    if (size > DECIMAL_MAX_BYTES) {
        set_err(err, err_size, "%s is a decimal of %zu bytes; at most %d are accepted", name, size,
                DECIMAL_MAX_BYTES);
        return -1;
    }
    bytes = buf;
    raw = (bytes[0] & 0x80) ? UINT64_MAX : 0; /* sign extension */
    for (size_t i = 0; i < size; i++)
        raw = (raw << 8) | bytes[i];
    /* Two's complement back to int64 without relying on implementation-defined conversion. */
    value = raw > (uint64_t)INT64_MAX ? -(int64_t)(~raw) - 1 : (int64_t)raw;
    if (value > LG_MONEY_MAX || value < -LG_MONEY_MAX) {
        set_err(err, err_size, "%s is outside NUMERIC(15,2) (+/- 9999999999999.99)", name);
        return -1;
    }
    *dst = value;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Framing
 */

typedef int (*fill_fn)(avro_value_t *rec, const void *src, char *err, size_t err_size);
typedef int (*extract_fn)(avro_value_t *rec, void *dst, char *err, size_t err_size);

static int encode_with(const avro_codec *c, fill_fn fill, const void *src, void **out,
                       size_t *out_len, char *err, size_t err_size)
{
    avro_value_t rec;
    int have_rec = 0;
    avro_writer_t writer = NULL;
    unsigned char *buf = NULL;
    size_t body_size = 0;
    int rc = -1;

    if (out == NULL || out_len == NULL) {
        set_err(err, err_size, "no output buffer given");
        return -1;
    }
    *out = NULL;
    *out_len = 0;
    if (!codecs_ready) {
        set_err(err, err_size, "lg_avro_init has not been called");
        return -1;
    }
    if (src == NULL) {
        set_err(err, err_size, "no %s given", c->name);
        return -1;
    }
    if (avro_generic_value_new(c->iface, &rec) != 0) {
        set_err(err, err_size, "cannot create a %s value", c->name);
        goto cleanup;
    }
    have_rec = 1;
    if (fill(&rec, src, err, err_size) != 0)
        goto cleanup;
    if (avro_value_sizeof(&rec, &body_size) != 0) {
        set_err(err, err_size, "cannot size the %s body", c->name);
        goto cleanup;
    }
    buf = malloc(SOE_HEADER_LEN + body_size);
    if (buf == NULL) {
        set_err(err, err_size, "out of memory encoding %s", c->name);
        goto cleanup;
    }
    buf[0] = SOE_MARKER_0;
    buf[1] = SOE_MARKER_1;
    for (int i = 0; i < 8; i++)
        buf[2 + i] = (unsigned char)(c->fingerprint >> (8 * i));
    writer = avro_writer_memory((const char *)buf + SOE_HEADER_LEN, (int64_t)body_size);
    if (writer == NULL) {
        set_err(err, err_size, "cannot create an avro writer");
        goto cleanup;
    }
    if (avro_value_write(writer, &rec) != 0 || avro_writer_tell(writer) != (int64_t)body_size) {
        set_err(err, err_size, "cannot write the %s body: %s", c->name, avro_strerror());
        goto cleanup;
    }
    *out = buf;
    *out_len = SOE_HEADER_LEN + body_size;
    buf = NULL;
    rc = 0;

cleanup:
    if (writer != NULL)
        avro_writer_free(writer);
    free(buf);
    if (have_rec)
        avro_value_decref(&rec);
    return rc;
}

static const char *codec_name_for(uint64_t fingerprint)
{
    for (int i = 0; i < CODEC_COUNT; i++)
        if (codecs[i].fingerprint == fingerprint)
            return codecs[i].name;
    return NULL;
}

static int decode_with(const avro_codec *c, extract_fn extract, const void *buf, size_t len,
                       void *dst, char *err, size_t err_size)
{
    const unsigned char *bytes = buf;
    avro_reader_t reader = NULL;
    avro_value_t rec;
    int have_rec = 0;
    uint64_t fingerprint = 0;
    const char *other;
    body_scan scan;
    int rc = -1;

    if (!codecs_ready) {
        set_err(err, err_size, "lg_avro_init has not been called");
        return -1;
    }
    if (buf == NULL) {
        set_err(err, err_size, "no message given");
        return -1;
    }
    if (len < SOE_HEADER_LEN) {
        set_err(err, err_size,
                "message of %zu bytes is shorter than the %d-byte Avro single-object header", len,
                SOE_HEADER_LEN);
        return -1;
    }
    if (bytes[0] != SOE_MARKER_0 || bytes[1] != SOE_MARKER_1) {
        set_err(err, err_size,
                "message does not start with the Avro single-object marker C3 01 (found %02X "
                "%02X)",
                bytes[0], bytes[1]);
        return -1;
    }
    for (int i = 7; i >= 0; i--)
        fingerprint = (fingerprint << 8) | bytes[2 + i];
    if (fingerprint != c->fingerprint) {
        other = codec_name_for(fingerprint);
        if (other != NULL)
            set_err(err, err_size, "message is a %s, not a %s", other, c->name);
        else
            set_err(err, err_size,
                    "message has unknown schema fingerprint 0x%016" PRIx64
                    "; expected %s (0x%016" PRIx64 ")",
                    fingerprint, c->name, c->fingerprint);
        return -1;
    }

    scan.p = bytes + SOE_HEADER_LEN;
    scan.left = len - SOE_HEADER_LEN;
    scan.err = err;
    scan.err_size = err_size;
    if (scan_value(&scan, c->schema, c->name, 0) != 0)
        return -1;
    if (scan.left != 0) {
        set_err(err, err_size, "message has %zu trailing bytes after the %s record", scan.left,
                c->name);
        return -1;
    }

    reader =
        avro_reader_memory((const char *)bytes + SOE_HEADER_LEN, (int64_t)(len - SOE_HEADER_LEN));
    if (reader == NULL) {
        set_err(err, err_size, "cannot create an avro reader");
        goto cleanup;
    }
    if (avro_generic_value_new(c->iface, &rec) != 0) {
        set_err(err, err_size, "cannot create a %s value", c->name);
        goto cleanup;
    }
    have_rec = 1;
    if (avro_value_read(reader, &rec) != 0) {
        set_err(err, err_size, "cannot read the %s body: %s", c->name, avro_strerror());
        goto cleanup;
    }
    if (extract(&rec, dst, err, err_size) != 0)
        goto cleanup;
    rc = 0;

cleanup:
    if (have_rec)
        avro_value_decref(&rec);
    if (reader != NULL)
        avro_reader_free(reader);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * TransactionCommand
 */

/* A REVERSAL names no amount or currency (they are the original's, which the worker reads), but
 * the schema's currency is a plain string: such a command travels with currency "" and amount
 * 0, and decodes back to a NULL currency. Every other type still requires its currency. */
static const char *command_currency(const lg_txn_command *cmd)
{
    if (cmd->currency == NULL && cmd->type == LG_TXN_REVERSAL)
        return "";
    return cmd->currency;
}

static int fill_command(avro_value_t *rec, const void *src, char *err, size_t err_size)
{
    const lg_txn_command *cmd = src;

    if (put_string(rec, "commandId", cmd->command_id, err, err_size) != 0 ||
        put_string(rec, "tenantId", cmd->tenant_id, err, err_size) != 0 ||
        put_string(rec, "transactionId", cmd->transaction_id, err, err_size) != 0 ||
        put_enum(rec, "type", (int)cmd->type, COUNT_OF(txn_type_names), err, err_size) != 0 ||
        put_decimal(rec, "amount", cmd->amount_minor, err, err_size) != 0 ||
        put_string(rec, "currency", command_currency(cmd), err, err_size) != 0 ||
        put_optional_string(rec, "fromAccount", cmd->from_account, err, err_size) != 0 ||
        put_optional_string(rec, "toAccount", cmd->to_account, err, err_size) != 0 ||
        put_optional_string(rec, "description", cmd->description, err, err_size) != 0 ||
        put_optional_string(rec, "reference", cmd->reference, err, err_size) != 0 ||
        put_optional_string(rec, "idempotencyKey", cmd->idempotency_key, err, err_size) != 0 ||
        put_optional_string(rec, "originalTransactionId", cmd->original_transaction_id, err,
                            err_size) != 0 ||
        put_optional_string(rec, "reason", cmd->reason, err, err_size) != 0 ||
        put_string(rec, "requestedBy", cmd->requested_by, err, err_size) != 0 ||
        put_optional_string(rec, "requestedByIp", cmd->requested_by_ip, err, err_size) != 0 ||
        put_optional_string(rec, "requestedByDevice", cmd->requested_by_device, err, err_size) !=
            0 ||
        put_string(rec, "requestId", cmd->request_id, err, err_size) != 0 ||
        put_long(rec, "acceptedAt", cmd->accepted_at_ms, err, err_size) != 0)
        return -1;
    return 0;
}

static int extract_command(avro_value_t *rec, void *dst, char *err, size_t err_size)
{
    lg_txn_command *cmd = dst;
    int type = 0;

    if (take_string(rec, "commandId", &cmd->command_id, err, err_size) != 0 ||
        take_string(rec, "tenantId", &cmd->tenant_id, err, err_size) != 0 ||
        take_string(rec, "transactionId", &cmd->transaction_id, err, err_size) != 0 ||
        take_enum(rec, "type", COUNT_OF(txn_type_names), &type, err, err_size) != 0 ||
        take_decimal(rec, "amount", &cmd->amount_minor, err, err_size) != 0 ||
        take_string(rec, "currency", &cmd->currency, err, err_size) != 0 ||
        take_optional_string(rec, "fromAccount", &cmd->from_account, err, err_size) != 0 ||
        take_optional_string(rec, "toAccount", &cmd->to_account, err, err_size) != 0 ||
        take_optional_string(rec, "description", &cmd->description, err, err_size) != 0 ||
        take_optional_string(rec, "reference", &cmd->reference, err, err_size) != 0 ||
        take_optional_string(rec, "idempotencyKey", &cmd->idempotency_key, err, err_size) != 0 ||
        take_optional_string(rec, "originalTransactionId", &cmd->original_transaction_id, err,
                             err_size) != 0 ||
        take_optional_string(rec, "reason", &cmd->reason, err, err_size) != 0 ||
        take_string(rec, "requestedBy", &cmd->requested_by, err, err_size) != 0 ||
        take_optional_string(rec, "requestedByIp", &cmd->requested_by_ip, err, err_size) != 0 ||
        take_optional_string(rec, "requestedByDevice", &cmd->requested_by_device, err, err_size) !=
            0 ||
        take_string(rec, "requestId", &cmd->request_id, err, err_size) != 0 ||
        take_long(rec, "acceptedAt", &cmd->accepted_at_ms, err, err_size) != 0)
        return -1;
    cmd->type = (lg_txn_type)type;
    if (cmd->type == LG_TXN_REVERSAL && cmd->currency[0] == '\0') {
        free(cmd->currency);
        cmd->currency = NULL;
    }
    return 0;
}

int lg_avro_encode_command(const lg_txn_command *cmd, void **out, size_t *out_len, char *err,
                           size_t err_size)
{
    return encode_with(&codecs[CODEC_COMMAND], fill_command, cmd, out, out_len, err, err_size);
}

int lg_avro_decode_command(const void *buf, size_t len, lg_txn_command *out, char *err,
                           size_t err_size)
{
    if (out == NULL) {
        set_err(err, err_size, "no TransactionCommand to fill");
        return -1;
    }
    memset(out, 0, sizeof(*out));
    if (decode_with(&codecs[CODEC_COMMAND], extract_command, buf, len, out, err, err_size) != 0) {
        lg_avro_free_command(out);
        return -1;
    }
    return 0;
}

void lg_avro_free_command(lg_txn_command *cmd)
{
    if (cmd == NULL)
        return;
    free(cmd->command_id);
    free(cmd->tenant_id);
    free(cmd->transaction_id);
    free(cmd->currency);
    free(cmd->from_account);
    free(cmd->to_account);
    free(cmd->description);
    free(cmd->reference);
    free(cmd->idempotency_key);
    free(cmd->original_transaction_id);
    free(cmd->reason);
    free(cmd->requested_by);
    free(cmd->requested_by_ip);
    free(cmd->requested_by_device);
    free(cmd->request_id);
    memset(cmd, 0, sizeof(*cmd));
}

/* ---------------------------------------------------------------------------------------------
 * TransactionResult
 */

static int fill_result(avro_value_t *rec, const void *src, char *err, size_t err_size)
{
    const lg_txn_result *res = src;

    if (put_string(rec, "eventId", res->event_id, err, err_size) != 0 ||
        put_string(rec, "tenantId", res->tenant_id, err, err_size) != 0 ||
        put_string(rec, "transactionId", res->transaction_id, err, err_size) != 0 ||
        put_optional_string(rec, "transactionRef", res->transaction_ref, err, err_size) != 0 ||
        put_enum(rec, "type", (int)res->type, COUNT_OF(txn_type_names), err, err_size) != 0 ||
        put_enum(rec, "status", (int)res->status, COUNT_OF(result_status_names), err, err_size) !=
            0 ||
        put_optional_string(rec, "failureCode", res->failure_code, err, err_size) != 0 ||
        put_optional_string(rec, "failureReason", res->failure_reason, err, err_size) != 0 ||
        put_long(rec, "processedAt", res->processed_at_ms, err, err_size) != 0)
        return -1;
    return 0;
}

static int extract_result(avro_value_t *rec, void *dst, char *err, size_t err_size)
{
    lg_txn_result *res = dst;
    int type = 0;
    int status = 0;

    if (take_string(rec, "eventId", &res->event_id, err, err_size) != 0 ||
        take_string(rec, "tenantId", &res->tenant_id, err, err_size) != 0 ||
        take_string(rec, "transactionId", &res->transaction_id, err, err_size) != 0 ||
        take_optional_string(rec, "transactionRef", &res->transaction_ref, err, err_size) != 0 ||
        take_enum(rec, "type", COUNT_OF(txn_type_names), &type, err, err_size) != 0 ||
        take_enum(rec, "status", COUNT_OF(result_status_names), &status, err, err_size) != 0 ||
        take_optional_string(rec, "failureCode", &res->failure_code, err, err_size) != 0 ||
        take_optional_string(rec, "failureReason", &res->failure_reason, err, err_size) != 0 ||
        take_long(rec, "processedAt", &res->processed_at_ms, err, err_size) != 0)
        return -1;
    res->type = (lg_txn_type)type;
    res->status = (lg_result_status)status;
    return 0;
}

int lg_avro_encode_result(const lg_txn_result *res, void **out, size_t *out_len, char *err,
                          size_t err_size)
{
    return encode_with(&codecs[CODEC_RESULT], fill_result, res, out, out_len, err, err_size);
}

int lg_avro_decode_result(const void *buf, size_t len, lg_txn_result *out, char *err,
                          size_t err_size)
{
    if (out == NULL) {
        set_err(err, err_size, "no TransactionResult to fill");
        return -1;
    }
    memset(out, 0, sizeof(*out));
    if (decode_with(&codecs[CODEC_RESULT], extract_result, buf, len, out, err, err_size) != 0) {
        lg_avro_free_result(out);
        return -1;
    }
    return 0;
}

void lg_avro_free_result(lg_txn_result *res)
{
    if (res == NULL)
        return;
    free(res->event_id);
    free(res->tenant_id);
    free(res->transaction_id);
    free(res->transaction_ref);
    free(res->failure_code);
    free(res->failure_reason);
    memset(res, 0, sizeof(*res));
}

/* ---------------------------------------------------------------------------------------------
 * LedgerEntryEvent
 */

static int fill_ledger(avro_value_t *rec, const void *src, char *err, size_t err_size)
{
    const lg_ledger_event *ev = src;

    if (put_string(rec, "eventId", ev->event_id, err, err_size) != 0 ||
        put_string(rec, "tenantId", ev->tenant_id, err, err_size) != 0 ||
        put_string(rec, "entryId", ev->entry_id, err, err_size) != 0 ||
        put_string(rec, "transactionId", ev->transaction_id, err, err_size) != 0 ||
        put_string(rec, "accountId", ev->account_id, err, err_size) != 0 ||
        put_string(rec, "accountNumber", ev->account_number, err, err_size) != 0 ||
        put_enum(rec, "entryType", (int)ev->entry_type, COUNT_OF(entry_type_names), err,
                 err_size) != 0 ||
        put_decimal(rec, "amount", ev->amount_minor, err, err_size) != 0 ||
        put_string(rec, "currency", ev->currency, err, err_size) != 0 ||
        put_decimal(rec, "balanceAfter", ev->balance_after_minor, err, err_size) != 0 ||
        put_string(rec, "accountCode", ev->account_code, err, err_size) != 0 ||
        put_optional_string(rec, "description", ev->description, err, err_size) != 0 ||
        put_long(rec, "createdAt", ev->created_at_ms, err, err_size) != 0)
        return -1;
    return 0;
}

static int extract_ledger(avro_value_t *rec, void *dst, char *err, size_t err_size)
{
    lg_ledger_event *ev = dst;
    int entry_type = 0;

    if (take_string(rec, "eventId", &ev->event_id, err, err_size) != 0 ||
        take_string(rec, "tenantId", &ev->tenant_id, err, err_size) != 0 ||
        take_string(rec, "entryId", &ev->entry_id, err, err_size) != 0 ||
        take_string(rec, "transactionId", &ev->transaction_id, err, err_size) != 0 ||
        take_string(rec, "accountId", &ev->account_id, err, err_size) != 0 ||
        take_string(rec, "accountNumber", &ev->account_number, err, err_size) != 0 ||
        take_enum(rec, "entryType", COUNT_OF(entry_type_names), &entry_type, err, err_size) != 0 ||
        take_decimal(rec, "amount", &ev->amount_minor, err, err_size) != 0 ||
        take_string(rec, "currency", &ev->currency, err, err_size) != 0 ||
        take_decimal(rec, "balanceAfter", &ev->balance_after_minor, err, err_size) != 0 ||
        take_string(rec, "accountCode", &ev->account_code, err, err_size) != 0 ||
        take_optional_string(rec, "description", &ev->description, err, err_size) != 0 ||
        take_long(rec, "createdAt", &ev->created_at_ms, err, err_size) != 0)
        return -1;
    ev->entry_type = (lg_entry_type)entry_type;
    return 0;
}

int lg_avro_encode_ledger(const lg_ledger_event *ev, void **out, size_t *out_len, char *err,
                          size_t err_size)
{
    return encode_with(&codecs[CODEC_LEDGER], fill_ledger, ev, out, out_len, err, err_size);
}

int lg_avro_decode_ledger(const void *buf, size_t len, lg_ledger_event *out, char *err,
                          size_t err_size)
{
    if (out == NULL) {
        set_err(err, err_size, "no LedgerEntryEvent to fill");
        return -1;
    }
    memset(out, 0, sizeof(*out));
    if (decode_with(&codecs[CODEC_LEDGER], extract_ledger, buf, len, out, err, err_size) != 0) {
        lg_avro_free_ledger(out);
        return -1;
    }
    return 0;
}

void lg_avro_free_ledger(lg_ledger_event *ev)
{
    if (ev == NULL)
        return;
    free(ev->event_id);
    free(ev->tenant_id);
    free(ev->entry_id);
    free(ev->transaction_id);
    free(ev->account_id);
    free(ev->account_number);
    free(ev->currency);
    free(ev->account_code);
    free(ev->description);
    memset(ev, 0, sizeof(*ev));
}
