/*
 * ledgerctl events tail: the reference audit consumer.
 *
 * It reads ledger.entries or txn.results (or any topic holding the product's events) with
 * isolation.level=read_committed, by manual assignment of every partition (no consumer group
 * joins, no offset is ever committed, so it disturbs nobody), decodes each value with the
 * product's Avro codec (single-object encoding: the C3 01 marker and the schema fingerprint say
 * which schema) and prints one JSON object per line on stdout:
 *
 *   {"topic":"ledger.entries","partition":3,"offset":17,"timestamp":"2026-11-25T15:00:20.812Z",
 *    "key":"<tenant_id>:<account_id>","headers":{"traceparent":"00-..."},
 *    "schema":"LedgerEntryEvent","event":{...}}
 *
 * A value that is not one of these events (a DLQ copy of an undecodable command, say) is
 * printed with "error" and the raw bytes ("value", or "valueBase64" when not UTF-8 text).
 *
 * Money is printed as decimal strings ("100.25"), times as RFC 3339 UTC with milliseconds.
 *
 * --verify checks what an audit consumer can check from the stream alone:
 *   - no event id repeats (a read_committed reader sees each event once);
 *   - per account, balanceAfter is the running sum: previous balanceAfter plus the amount for
 *     an entry on the account's normal side, minus it otherwise (assets 1xxx and expenses 5xxx
 *     grow on the DEBIT side, the others on the CREDIT side). An account's first entry starts
 *     its chain, except when the partition is read from its very first offset (low watermark
 *     0): then the chain starts at 0.00.
 * Events of one account share a key, hence a partition, but the bank's general-ledger accounts
 * take postings from commands applied by different workers, whose Kafka transactions may commit
 * in another order than their database transactions. An entry that does not follow its
 * account's chain is therefore held (at most VERIFY_MAX_PENDING per account) until the entry
 * it follows arrives; one still unchained when the tail ends is a break. Breaks are printed on
 * stderr naming the account, the partition and the offset, and the exit status is 1.
 */
#include "ctl.h"

#include "lg_avro.h"
#include "lg_config.h"
#include "lg_db.h"
#include "lg_kafka.h"
#include "lg_money.h"

#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VERIFY_MAX_PENDING 64
/* Hard bounds of the verification's memory: ids and accounts remembered. */
#define VERIFY_MAX_IDS      (64u * 1024u * 1024u)
#define VERIFY_MAX_ACCOUNTS (16u * 1024u * 1024u)
#define TAIL_MAX_PARTITIONS 4096

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* ------------------------------------------------------------------ string-keyed table */

/* An open-addressing table keyed by strings (event ids, account ids); SipHash (libsodium)
 * with a random key, so a crafted stream cannot degrade it. */
typedef struct {
    char *key; /* NULL: empty slot */
    void *value;
} slot;

typedef struct {
    slot *slots;
    size_t cap, n, max;
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
} table;

static void table_init(table *t, size_t max)
{
    memset(t, 0, sizeof *t);
    t->max = max;
    crypto_shorthash_keygen(t->hash_key);
}

static size_t table_index(const table *t, const char *key)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t v = 0;
    crypto_shorthash(h, (const unsigned char *)key, strlen(key), t->hash_key);
    for (size_t i = 0; i < sizeof h; i++)
        v = (v << 8) | h[i];
    return (size_t)(v & (t->cap - 1));
}

static slot *table_find(const table *t, const char *key)
{
    if (t->cap == 0)
        return NULL;
    for (size_t i = table_index(t, key);; i = (i + 1) & (t->cap - 1)) {
        if (t->slots[i].key == NULL)
            return NULL;
        if (strcmp(t->slots[i].key, key) == 0)
            return &t->slots[i];
    }
}

static int table_grow(table *t)
{
    size_t old_cap = t->cap, cap = old_cap == 0 ? 1024 : old_cap * 2;
    slot *old = t->slots;
    t->slots = calloc(cap, sizeof *t->slots);
    if (t->slots == NULL) {
        t->slots = old;
        return -1;
    }
    t->cap = cap;
    for (size_t j = 0; j < old_cap; j++) {
        size_t i;
        if (old[j].key == NULL)
            continue;
        for (i = table_index(t, old[j].key); t->slots[i].key != NULL; i = (i + 1) & (cap - 1))
            ;
        t->slots[i] = old[j];
    }
    free(old);
    return 0;
}

/* Inserts key (copied) when absent. Returns the slot (new: value NULL), or NULL when the table
 * is full (t->max) or out of memory. */
static slot *table_insert(table *t, const char *key, int *inserted)
{
    slot *s = table_find(t, key);
    size_t i;
    *inserted = 0;
    if (s != NULL)
        return s;
    if (t->n >= t->max)
        return NULL;
    if ((t->n + 1) * 2 > t->cap && table_grow(t) != 0)
        return NULL;
    for (i = table_index(t, key); t->slots[i].key != NULL; i = (i + 1) & (t->cap - 1))
        ;
    t->slots[i].key = strdup(key);
    if (t->slots[i].key == NULL)
        return NULL;
    t->n++;
    *inserted = 1;
    return &t->slots[i];
}

/* Frees the keys, and each value with free_value (may be NULL). */
static void table_free(table *t, void (*free_value)(void *))
{
    for (size_t i = 0; i < t->cap; i++) {
        free(t->slots[i].key);
        if (free_value != NULL)
            free_value(t->slots[i].value);
    }
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------ verification */

typedef struct {
    int64_t balance_after; /* signed minor units */
    int64_t delta;         /* what the entry adds to its account's balance */
    int32_t partition;
    int64_t offset;
} held_entry;

typedef struct {
    char number[64];
    int started;
    int64_t balance_after; /* the chain's current end */
    int n_pending;
    held_entry *pending; /* VERIFY_MAX_PENDING, allocated when the first entry is held */
} account_chain;

static void account_chain_free(void *p)
{
    account_chain *a = p;
    if (a != NULL)
        free(a->pending);
    free(a);
}

typedef struct {
    int enabled;
    table ids;      /* event ids seen */
    table accounts; /* account id -> account_chain */
    long breaks;
} verifier;

static void verify_break(verifier *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void verify_break(verifier *v, const char *fmt, ...)
{
    va_list ap;
    fputs("ledgerctl: verify: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    v->breaks++;
}

/* Assets (1xxx) and expenses (5xxx) grow on the DEBIT side; liabilities, equity and income on
 * the CREDIT side (src/common/lg_provision.c, src/ledger-worker/postings.c). */
static int debit_normal(const char *account_code)
{
    return account_code[0] == '1' || account_code[0] == '5';
}

/* Checks that an event id was not seen before. Returns 0, or -1 when memory is exhausted. */
static int verify_event_id(verifier *v, const char *event_id, const char *topic, int32_t partition,
                           int64_t offset)
{
    int inserted;
    slot *s = table_insert(&v->ids, event_id, &inserted);
    if (s == NULL) {
        ctl_error("verify: more than %zu event ids to remember", v->ids.max);
        return -1;
    }
    if (!inserted)
        verify_break(v, "event %s repeats at %s [%d] offset %lld", event_id, topic, (int)partition,
                     (long long)offset);
    s->value = (void *)1;
    return 0;
}

/* Moves held entries onto the chain while one follows its end. */
static void chain_drain(account_chain *a)
{
    int moved = 1;
    while (moved && a->n_pending > 0) {
        moved = 0;
        for (int i = 0; i < a->n_pending; i++) {
            if (a->pending[i].balance_after - a->pending[i].delta != a->balance_after)
                continue;
            a->balance_after = a->pending[i].balance_after;
            /* Keep the rest in arrival order: the oldest is reported first. */
            memmove(&a->pending[i], &a->pending[i + 1],
                    sizeof a->pending[0] * (size_t)(a->n_pending - i - 1));
            a->n_pending--;
            moved = 1;
            break;
        }
    }
}

static void report_held(verifier *v, const char *account_id, const account_chain *a,
                        const held_entry *h, const char *topic)
{
    char after[LG_MONEY_STRLEN], prev[LG_MONEY_STRLEN], expected[LG_MONEY_STRLEN];
    verify_break(v,
                 "account %s (%s): the entry at %s [%d] offset %lld has balanceAfter %s, which "
                 "does not follow the account's running balance %s (expected %s)",
                 a->number, account_id, topic, (int)h->partition, (long long)h->offset,
                 lg_money_format(h->balance_after, after, sizeof after),
                 lg_money_format(a->balance_after, prev, sizeof prev),
                 lg_money_format(a->balance_after + h->delta, expected, sizeof expected));
}

/* Adds a ledger entry to its account's chain. strict: the chain starts at 0.00. Returns 0, or
 * -1 when memory is exhausted. */
static int verify_entry(verifier *v, const lg_ledger_event *ev, const char *topic,
                        int32_t partition, int64_t offset, int strict)
{
    int inserted;
    slot *s = table_insert(&v->accounts, ev->account_id, &inserted);
    account_chain *a;
    held_entry h;
    if (s == NULL) {
        ctl_error("verify: more than %zu accounts to follow", v->accounts.max);
        return -1;
    }
    if (inserted) {
        s->value = calloc(1, sizeof(account_chain));
        if (s->value == NULL) {
            ctl_error("verify: out of memory");
            return -1;
        }
    }
    a = s->value;
    snprintf(a->number, sizeof a->number, "%s", ev->account_number);
    h.balance_after = ev->balance_after_minor;
    h.delta = ((ev->entry_type == LG_ENTRY_DEBIT) == debit_normal(ev->account_code))
                  ? ev->amount_minor
                  : -ev->amount_minor;
    h.partition = partition;
    h.offset = offset;
    if (!a->started) {
        a->started = 1;
        a->balance_after = strict ? 0 : h.balance_after - h.delta;
    }
    if (h.balance_after - h.delta == a->balance_after) {
        a->balance_after = h.balance_after;
        chain_drain(a);
        return 0;
    }
    if (a->pending == NULL) {
        a->pending = calloc(VERIFY_MAX_PENDING, sizeof *a->pending);
        if (a->pending == NULL) {
            ctl_error("verify: out of memory");
            return -1;
        }
    }
    if (a->n_pending == VERIFY_MAX_PENDING) {
        /* Too far out of order to be a reordering between workers: the oldest held entry
         * never followed the chain. Report it and let it go. */
        report_held(v, ev->account_id, a, &a->pending[0], topic);
        memmove(&a->pending[0], &a->pending[1], sizeof a->pending[0] * (VERIFY_MAX_PENDING - 1));
        a->n_pending--;
    }
    a->pending[a->n_pending++] = h;
    return 0;
}

/* At the end of the tail: every entry still held is a break. */
static void verify_finish(verifier *v, const char *topic)
{
    for (size_t i = 0; i < v->accounts.cap; i++) {
        account_chain *a = v->accounts.slots[i].value;
        if (a == NULL)
            continue;
        for (int j = 0; j < a->n_pending; j++)
            report_held(v, v->accounts.slots[i].key, a, &a->pending[j], topic);
    }
}

/* ------------------------------------------------------------------ printing */

/* RFC 3339 UTC with milliseconds. */
static json_t *json_time_ms(int64_t ms)
{
    char buf[40], out[48];
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL)
        return json_null();
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, sizeof out, "%s.%03dZ", buf, (int)(ms - (int64_t)secs * 1000));
    return json_string(out);
}

static json_t *json_money(int64_t minor)
{
    char buf[LG_MONEY_STRLEN];
    return json_string(lg_money_format(minor, buf, sizeof buf));
}

static json_t *json_opt(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *ledger_json(const lg_ledger_event *ev)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:o,s:s,s:o,s:o}", "eventId",
                     ev->event_id, "tenantId", ev->tenant_id, "entryId", ev->entry_id,
                     "transactionId", ev->transaction_id, "accountId", ev->account_id,
                     "accountNumber", ev->account_number, "entryType",
                     lg_entry_type_name(ev->entry_type), "amount", json_money(ev->amount_minor),
                     "currency", ev->currency, "balanceAfter", json_money(ev->balance_after_minor),
                     "accountCode", ev->account_code, "description", json_opt(ev->description),
                     "createdAt", json_time_ms(ev->created_at_ms));
}

static json_t *result_json(const lg_txn_result *r)
{
    return json_pack("{s:s,s:s,s:s,s:o,s:s,s:s,s:o,s:o,s:o}", "eventId", r->event_id, "tenantId",
                     r->tenant_id, "transactionId", r->transaction_id, "transactionRef",
                     json_opt(r->transaction_ref), "type", lg_txn_type_name(r->type), "status",
                     lg_result_status_name(r->status), "failureCode", json_opt(r->failure_code),
                     "failureReason", json_opt(r->failure_reason), "processedAt",
                     json_time_ms(r->processed_at_ms));
}

/* Bytes as a JSON string when they are UTF-8 text, else base64 under "<name>Base64". */
static void set_bytes(json_t *o, const char *name, const void *p, size_t len)
{
    json_t *s;
    char *b64;
    size_t b64_len;
    char base64_name[64];
    if (p == NULL) {
        json_object_set_new(o, name, json_null());
        return;
    }
    s = json_stringn(p, len);
    if (s != NULL) {
        json_object_set_new(o, name, s);
        return;
    }
    b64_len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    b64 = malloc(b64_len);
    if (b64 == NULL)
        return;
    sodium_bin2base64(b64, b64_len, p, len, sodium_base64_VARIANT_ORIGINAL);
    snprintf(base64_name, sizeof base64_name, "%sBase64", name);
    json_object_set_new(o, base64_name, json_string(b64));
    free(b64);
}

/* ------------------------------------------------------------------ the tail */

typedef struct {
    const char *topic;
    const char *tenant_id; /* NULL: every tenant */
    long max;              /* 0: no limit */
    long idle_exit_s;      /* 0: never */
    int from_beginning;
    int strict[TAIL_MAX_PARTITIONS]; /* partition read from its first offset */
    long printed, skipped, undecodable;
    verifier v;
} tail;

/* The first 10 bytes of a single-object encoded value name its schema. */
static uint64_t value_fingerprint(const unsigned char *p, size_t len)
{
    uint64_t fp = 0;
    if (len < 10 || p[0] != 0xC3 || p[1] != 0x01)
        return 0;
    for (int i = 9; i >= 2; i--)
        fp = (fp << 8) | p[i];
    return fp;
}

/* Decodes, filters, verifies and prints one message. Returns 0, or -1 on a fatal error. */
static int tail_message(tail *t, rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    uint64_t fp = value_fingerprint(m->payload, m->len);
    int strict = m->partition >= 0 && m->partition < TAIL_MAX_PARTITIONS && t->strict[m->partition];
    char err[256];
    json_t *line, *event = NULL;
    const char *schema = NULL, *tenant = NULL;
    lg_ledger_event ev;
    lg_txn_result r;
    int have_ev = 0, have_r = 0, rc = 0;
    char *text;

    err[0] = '\0';
    if (fp != 0 && fp == lg_avro_fingerprint_ledger()) {
        if (lg_avro_decode_ledger(m->payload, m->len, &ev, err, sizeof err) == 0) {
            have_ev = 1;
            schema = "LedgerEntryEvent";
            tenant = ev.tenant_id;
        }
    } else if (fp != 0 && fp == lg_avro_fingerprint_result()) {
        if (lg_avro_decode_result(m->payload, m->len, &r, err, sizeof err) == 0) {
            have_r = 1;
            schema = "TransactionResult";
            tenant = r.tenant_id;
        }
    } else {
        snprintf(err, sizeof err, "not a LedgerEntryEvent or TransactionResult (%s)",
                 fp != 0       ? "unknown schema fingerprint"
                 : m->len < 10 ? "shorter than the single-object header"
                               : "no single-object marker C3 01");
    }
    /* An undecodable value has no tenant: with --tenant it is shown only when its key names
     * the tenant. */
    if (t->tenant_id != NULL) {
        size_t n = strlen(t->tenant_id);
        int mine = tenant != NULL ? strcmp(tenant, t->tenant_id) == 0
                                  : m->key_len > n && memcmp(m->key, t->tenant_id, n) == 0 &&
                                        ((const char *)m->key)[n] == ':';
        if (!mine) {
            t->skipped++;
            goto done;
        }
    }

    if (t->v.enabled) {
        if (have_ev) {
            if (verify_event_id(&t->v, ev.event_id, topic, m->partition, m->offset) != 0 ||
                verify_entry(&t->v, &ev, topic, m->partition, m->offset, strict) != 0) {
                rc = -1;
                goto done;
            }
        } else if (have_r) {
            if (verify_event_id(&t->v, r.event_id, topic, m->partition, m->offset) != 0) {
                rc = -1;
                goto done;
            }
        } else {
            verify_break(&t->v, "undecodable event at %s [%d] offset %lld: %s", topic,
                         (int)m->partition, (long long)m->offset, err);
        }
    }

    if (have_ev)
        event = ledger_json(&ev);
    else if (have_r)
        event = result_json(&r);
    else
        t->undecodable++;
    line = json_pack("{s:s,s:i,s:I}", "topic", topic, "partition", (int)m->partition, "offset",
                     (json_int_t)m->offset);
    if (line == NULL) {
        json_decref(event);
        ctl_error("out of memory");
        rc = -1;
        goto done;
    }
    {
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        if (ts >= 0)
            json_object_set_new(line, "timestamp", json_time_ms(ts));
    }
    set_bytes(line, "key", m->key, m->key_len);
    {
        /* Headers: the request id and traceparent of events, the reason of a DLQ copy. */
        rd_kafka_headers_t *hdrs = NULL;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs != NULL) {
            json_t *h = json_object();
            const char *name;
            const void *val;
            size_t size;
            for (size_t i = 0;
                 rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
                 i++)
                set_bytes(h, name, val, size);
            json_object_set_new(line, "headers", h);
        }
    }
    if (event != NULL) {
        json_object_set_new(line, "schema", json_string(schema));
        json_object_set_new(line, "event", event);
    } else {
        json_object_set_new(line, "error", json_string(err));
        set_bytes(line, "value", m->payload, m->len);
    }
    text = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (text != NULL) {
        puts(text);
        fflush(stdout);
        free(text);
    }
    t->printed++;

done:
    if (have_ev)
        lg_avro_free_ledger(&ev);
    if (have_r)
        lg_avro_free_result(&r);
    return rc;
}

/* Assigns every partition of t->topic, from its first or past its last offset; marks the
 * partitions that start at offset 0 as strict. Returns 0, or -1 after an error message. */
static int tail_assign(tail *t, rd_kafka_t *rk)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, t->topic, NULL);
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t e;
    int rc = -1;

    if (rkt == NULL) {
        ctl_error("topic %s: %s", t->topic, rd_kafka_err2str(rd_kafka_last_error()));
        goto cleanup;
    }
    e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ctl_error("Kafka metadata for %s: %s (is LEDGER_KAFKA_BROKERS right?)", t->topic,
                  rd_kafka_err2str(e));
        goto cleanup;
    }
    if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topics[0].partition_cnt == 0) {
        ctl_error("topic %s: %s", t->topic,
                  md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "not found");
        goto cleanup;
    }
    parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t low = -1, high = -1;
        rd_kafka_topic_partition_list_add(parts, t->topic, p)->offset =
            t->from_beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
        if (t->from_beginning && p >= 0 && p < TAIL_MAX_PARTITIONS &&
            rd_kafka_query_watermark_offsets(rk, t->topic, p, &low, &high, 10000) ==
                RD_KAFKA_RESP_ERR_NO_ERROR)
            t->strict[p] = low == 0;
    }
    e = rd_kafka_assign(rk, parts);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ctl_error("assigning %s: %s", t->topic, rd_kafka_err2str(e));
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (parts != NULL)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    if (rkt != NULL)
        rd_kafka_topic_destroy(rkt);
    return rc;
}

static int tenant_id_of(const char *slug, char *out, size_t out_size)
{
    char err[512];
    PGconn *master = ctl_master();
    PGresult *res;
    int rc = -1;
    if (master == NULL)
        return -1;
    res = lg_db_query(master, "SELECT id::text FROM tenants WHERE slug = $1", 1,
                      (const char *[]){slug}, err, sizeof err);
    if (res == NULL)
        ctl_error("reading tenants: %s", err);
    else if (PQntuples(res) != 1)
        ctl_error("no tenant with slug \"%s\" (see `ledgerctl tenant list`)", slug);
    else {
        snprintf(out, out_size, "%s", PQgetvalue(res, 0, 0));
        rc = 0;
    }
    PQclear(res);
    PQfinish(master);
    return rc;
}

static int parse_long(const char *opt, const char *text, long min, long max, long *out)
{
    char *end = NULL;
    long v;
    if (text == NULL)
        return 0;
    v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < min || v > max) {
        ctl_error("--%s must be an integer from %ld to %ld, not \"%s\"", opt, min, max, text);
        return -1;
    }
    *out = v;
    return 0;
}

static int events_tail(int argc, char **argv)
{
    ctl_opt opts[] = {{"topic", NULL, 0},     {"from-beginning", NULL, 1}, {"max", NULL, 0},
                      {"idle-exit", NULL, 0}, {"verify", NULL, 1},         {"tenant", NULL, 0},
                      {NULL, NULL, 0}};
    char err[512], group[96], tenant_id[64];
    unsigned char rnd[8];
    tail *t = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    int rc = CTL_FAIL;
    int64_t last_activity;
    struct sigaction sa;

    if (ctl_parse(argc, argv, opts) != 0)
        return CTL_USAGE;
    t = calloc(1, sizeof *t);
    if (t == NULL) {
        ctl_error("out of memory");
        return CTL_FAIL;
    }
    t->topic = ctl_get(opts, "topic") != NULL ? ctl_get(opts, "topic") : LG_TOPIC_LEDGER;
    t->from_beginning = ctl_get(opts, "from-beginning") != NULL;
    t->v.enabled = ctl_get(opts, "verify") != NULL;
    if (parse_long("max", ctl_get(opts, "max"), 1, 1000000000L, &t->max) != 0 ||
        parse_long("idle-exit", ctl_get(opts, "idle-exit"), 1, 86400L * 365, &t->idle_exit_s) !=
            0) {
        rc = CTL_USAGE;
        goto cleanup;
    }
    table_init(&t->v.ids, VERIFY_MAX_IDS);
    table_init(&t->v.accounts, VERIFY_MAX_ACCOUNTS);
    if (ctl_get(opts, "tenant") != NULL) {
        if (tenant_id_of(ctl_get(opts, "tenant"), tenant_id, sizeof tenant_id) != 0)
            goto cleanup;
        t->tenant_id = tenant_id;
    }

    /* Its own throw-away group id: librdkafka wants one, but with manual assignment the
     * consumer never joins the group and commits nothing. */
    randombytes_buf(rnd, sizeof rnd);
    snprintf(group, sizeof group, "ledgerctl-events-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
             rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    conf = lg_kafka_consumer_conf(lg_config_str("LEDGER_KAFKA_BROKERS", "127.0.0.1:9092"), group,
                                  err, sizeof err);
    if (conf == NULL) {
        ctl_error("Kafka configuration: %s", err);
        goto cleanup;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == NULL) {
        ctl_error("Kafka consumer: %s", err);
        goto cleanup;
    }
    conf = NULL; /* rd_kafka_new took it */
    if (tail_assign(t, rk) != 0)
        goto cleanup;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    rc = CTL_OK;
    last_activity = (int64_t)time(NULL);
    while (!stop_requested && (t->max == 0 || t->printed < t->max)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m == NULL) {
            if (t->idle_exit_s > 0 && (int64_t)time(NULL) - last_activity >= t->idle_exit_s)
                break;
            continue;
        }
        last_activity = (int64_t)time(NULL);
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_resp_err_t e = m->err;
            ctl_error("Kafka: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            if (e == RD_KAFKA_RESP_ERR__FATAL || e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                rc = CTL_FAIL;
                break;
            }
            continue;
        }
        if (tail_message(t, m) != 0) {
            rd_kafka_message_destroy(m);
            rc = CTL_FAIL;
            break;
        }
        rd_kafka_message_destroy(m);
    }
    if (t->v.enabled) {
        verify_finish(&t->v, t->topic);
        fprintf(stderr,
                "ledgerctl: verify: %ld events printed, %zu accounts followed, %ld break%s\n",
                t->printed, t->v.accounts.n, t->v.breaks, t->v.breaks == 1 ? "" : "s");
        if (t->v.breaks > 0)
            rc = CTL_FAIL;
    }

cleanup:
    if (rk != NULL) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    if (t != NULL) {
        table_free(&t->v.ids, NULL);
        table_free(&t->v.accounts, account_chain_free);
        free(t);
    }
    return rc;
}

int cmd_events(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "tail") == 0)
        return events_tail(argc - 1, argv + 1);
    ctl_error("usage: ledgerctl events tail [--topic ledger.entries|txn.results] "
              "[--from-beginning] [--max N] [--idle-exit SECONDS] [--verify] [--tenant SLUG]");
    return CTL_USAGE;
}
