/*
 * Postings: the double-entry rules and their application to a tenant database.
 *
 * Every transaction posts equal debits and credits. The bank's internal accounts give each
 * posting its second side (chart of accounts: 1000 cash, 1200 loans, 2000 customer deposits,
 * 2900 suspense, 4000 fee income, 5000 interest expense). Deposit accounts (SAVINGS, CHECKING,
 * FIXED_DEPOSIT, code 2000) are liabilities of the bank: they grow on the CREDIT side. LOAN
 * accounts (1200) and cash (1000) are assets, interest expense (5000) an expense: they grow on
 * the DEBIT side. Fee income (4000) grows on the CREDIT side.
 *
 *   type        DEBIT                          CREDIT
 *   DEPOSIT     cash 1000                      toAccount   (deposit: balance up; loan: repaid)
 *   WITHDRAWAL  fromAccount                    cash 1000   (deposit: balance down; loan: drawn)
 *   TRANSFER    fromAccount                    toAccount
 *   FEE         fromAccount                    fee income 4000
 *   INTEREST    interest expense 5000          toAccount
 *   REVERSAL    the original's CREDIT side     the original's DEBIT side (the mirror entries)
 *
 * An account's balance moves by +amount for an entry on its normal side and -amount otherwise;
 * balance_after is that running sum. Rules, checked before anything is written:
 *   - accounts exist, are not soft-deleted, and are customer accounts (not INTERNAL);
 *   - CLOSED and INACTIVE accounts take nothing; FROZEN accounts take no debits;
 *   - the command's currency equals each account's;
 *   - a debit may not take a deposit account's available balance below
 *     minimum_balance - overdraft_limit;
 *   - no balance may leave NUMERIC(15,2);
 *   - a REVERSAL names a COMPLETED transaction that is not itself a reversal and was not
 *     reversed before; it marks the original REVERSED and links the two.
 *
 * One batch is one PostgreSQL transaction:
 *   1. lock every account the batch touches (its customer accounts, the originals' accounts of
 *      its reversals, and the internal accounts its deposits, withdrawals, fees and interest
 *      post to, in their currencies) in id order - one fixed order, so concurrent batches
 *      cannot deadlock;
 *   2. under those locks, find which commands are already recorded (a redelivery or a zombie's
 *      duplicate: skipped, their recorded outcome is re-emitted) - a concurrent applier of the
 *      same command needs the same locks, so this check cannot race;
 *   3. decide every command in memory, in order, against the locked balances;
 *   4. write everything with four set-based statements (transactions, entries, balances,
 *      reversed originals), so a batch costs the same few round trips whatever its size.
 */
#include "postings.h"

#include "fault.h"
#include "ledger_sql.h"

#include "lg_crypto.h"
#include "lg_money.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GL_CASH "1000"
#define GL_FEE_INCOME "4000"
#define GL_INTEREST_EXPENSE "5000"

typedef struct {
    char id[LG_UUID_STRLEN];
    char number[40];
    int internal;
    char status[16];
    char currency[8];
    int64_t balance;
    int64_t available;
    int64_t minimum;
    int64_t overdraft;
    int credit_normal; /* normal side is CREDIT */
    char gl_code[8];
    int touched;
} account;

typedef struct {
    account *acct;
    lg_entry_type side;
    int64_t amount;
    int64_t balance_after;
} leg;

/* The original of a reversal, as found in the database or earlier in the batch. */
typedef struct {
    char id[LG_UUID_STRLEN];
    int found;
    char type[16];
    char status[16];
    char currency[8];
    int64_t amount;
    char from_id[LG_UUID_STRLEN];
    char to_id[LG_UUID_STRLEN];
    int reversed_in_batch;
    /* its entries: account id, side, amount */
    size_t n_entries;
    char entry_account[4][LG_UUID_STRLEN];
    lg_entry_type entry_side[4];
    int64_t entry_amount[4];
} original;

typedef struct {
    const lg_txn_command *cmd;
    int skip; /* already recorded, or a duplicate within the batch */
    int failed;
    const char *failure_code;
    char failure_reason[256];
    account *from;
    account *to;
    leg legs[4];
    size_t n_legs;
    original *orig;
} decision;

typedef struct {
    account *accounts;
    size_t n_accounts;
    original *originals;
    size_t n_originals;
    decision *decisions;
    size_t n;
    const char *const *positions; /* may be NULL */
    struct key_row *by_number;    /* the customer accounts by number */
    size_t n_by_number;
} batch;

/* A growable text[] literal for PostgreSQL ("{a,b,NULL}"); values are quoted. */
typedef struct {
    char *buf;
    size_t len, cap;
    int n;
} pg_array;

static int arr_grow(pg_array *a, size_t more)
{
    if (a->len + more + 2 > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        char *nb;
        while (a->len + more + 2 > cap)
            cap *= 2;
        nb = realloc(a->buf, cap);
        if (nb == NULL)
            return -1;
        a->buf = nb;
        a->cap = cap;
    }
    return 0;
}

static int arr_add(pg_array *a, const char *value)
{
    size_t vlen = value != NULL ? strlen(value) : 0;
    if (arr_grow(a, 2 * vlen + 8) != 0)
        return -1;
    if (a->len == 0)
        a->buf[a->len++] = '{';
    else
        a->buf[a->len++] = ',';
    if (value == NULL) {
        memcpy(a->buf + a->len, "NULL", 4);
        a->len += 4;
    } else {
        a->buf[a->len++] = '"';
        for (size_t i = 0; i < vlen; i++) {
            if (value[i] == '"' || value[i] == '\\')
                a->buf[a->len++] = '\\';
            a->buf[a->len++] = value[i];
        }
        a->buf[a->len++] = '"';
    }
    a->buf[a->len] = '\0';
    a->n++;
    return 0;
}

static void arr_free(pg_array *a)
{
    free(a->buf);
    memset(a, 0, sizeof *a);
}

/* Closes the literal for use; adding after this is not allowed. */
static const char *arr_done(pg_array *a)
{
    if (a->len == 0) {
        if (arr_grow(a, 2) != 0)
            return NULL;
        memcpy(a->buf, "{}", 3);
        a->len = 2;
        return a->buf;
    }
    if (arr_grow(a, 1) != 0)
        return NULL;
    a->buf[a->len++] = '}';
    a->buf[a->len] = '\0';
    return a->buf;
}

/* A sorted index of text keys (a result column, or command ids) with their row numbers: the
 * lookups of a batch are O(log n) instead of a scan of every row per command. Ties keep the
 * row order, so the rows of one key come out in the order the query returned them. */
typedef struct key_row {
    const char *key;
    int row;
} key_row;

static int key_row_cmp(const void *x, const void *y)
{
    const key_row *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    return c != 0 ? c : (a->row > b->row) - (a->row < b->row);
}

/* Indexes column col of res. Returns NULL when out of memory (or when res has no rows, with
 * *n == 0). */
static key_row *index_column(const PGresult *res, int col, size_t *n)
{
    key_row *ix;
    *n = (size_t)PQntuples(res);
    if (*n == 0)
        return NULL;
    ix = malloc(*n * sizeof *ix);
    if (ix == NULL)
        return NULL;
    for (size_t r = 0; r < *n; r++) {
        ix[r].key = PQgetvalue(res, (int)r, col);
        ix[r].row = (int)r;
    }
    qsort(ix, *n, sizeof *ix, key_row_cmp);
    return ix;
}

/* The first position of key in ix, or n when it is absent. */
static size_t index_find(const key_row *ix, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ix[mid].key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && strcmp(ix[lo].key, key) == 0 ? lo : n;
}

static int64_t money_of(const PGresult *res, int row, int col)
{
    int64_t v = 0;
    char e[64];
    lg_money_parse_signed(PQgetvalue(res, row, col), &v, e, sizeof e);
    return v;
}

static account *find_account_by_number(batch *b, const char *number)
{
    size_t at = index_find(b->by_number, b->n_by_number, number);
    return at < b->n_by_number ? &b->accounts[b->by_number[at].row] : NULL;
}

static account *find_account_by_id(batch *b, const char *id)
{
    for (size_t i = 0; i < b->n_accounts; i++)
        if (strcmp(b->accounts[i].id, id) == 0)
            return &b->accounts[i];
    return NULL;
}

static account *find_internal(batch *b, const char *gl_code, const char *currency)
{
    for (size_t i = 0; i < b->n_accounts; i++)
        if (b->accounts[i].internal && strcmp(b->accounts[i].gl_code, gl_code) == 0 &&
            strcmp(b->accounts[i].currency, currency) == 0)
            return &b->accounts[i];
    return NULL;
}

static original *find_original(batch *b, const char *id)
{
    for (size_t i = 0; i < b->n_originals; i++)
        if (strcmp(b->originals[i].id, id) == 0)
            return &b->originals[i];
    return NULL;
}

static int fail(decision *d, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(decision *d, const char *code, const char *fmt, ...)
{
    va_list ap;
    d->failed = 1;
    d->failure_code = code;
    va_start(ap, fmt);
    vsnprintf(d->failure_reason, sizeof d->failure_reason, fmt, ap);
    va_end(ap);
    d->n_legs = 0;
    return -1;
}

/* Resolves a customer account named by a command and checks what every use requires. */
static int customer_account(batch *b, decision *d, const char *number, account **out)
{
    account *a = find_account_by_number(b, number);
    *out = a;
    if (a == NULL)
        return fail(d, "UNKNOWN_ACCOUNT", "account %s does not exist", number);
    if (strcmp(a->status, "CLOSED") == 0)
        return fail(d, "ACCOUNT_CLOSED", "account %s is closed", number);
    if (strcmp(a->status, "INACTIVE") == 0)
        return fail(d, "ACCOUNT_INACTIVE", "account %s is inactive", number);
    if (strcmp(a->currency, d->cmd->currency) != 0)
        return fail(d, "CURRENCY_MISMATCH", "account %s holds another currency than the command",
                    number);
    return 0;
}

static void add_leg(decision *d, account *a, lg_entry_type side, int64_t amount)
{
    d->legs[d->n_legs].acct = a;
    d->legs[d->n_legs].side = side;
    d->legs[d->n_legs].amount = amount;
    d->n_legs++;
}

/* Checks the legs against the balance rules and, when they hold, applies them in memory. */
static int post_legs(decision *d)
{
    int64_t delta[4], new_balance[4];
    for (size_t i = 0; i < d->n_legs; i++) {
        leg *l = &d->legs[i];
        account *a = l->acct;
        int on_normal = (l->side == LG_ENTRY_CREDIT) == (a->credit_normal != 0);
        /* The same account may appear twice in one transaction only in a reversal of a
         * transfer to itself, which validation forbids; legs are independent. */
        delta[i] = on_normal ? l->amount : -l->amount;
        if (l->side == LG_ENTRY_DEBIT && !a->internal && strcmp(a->status, "FROZEN") == 0)
            return fail(d, "ACCOUNT_FROZEN", "account %s is frozen and takes no debits",
                        a->number);
        if (lg_money_add(a->balance, delta[i], &new_balance[i]) != 0)
            return fail(d, "AMOUNT_OVER_LIMIT",
                        "the balance of account %s would exceed the largest amount the ledger "
                        "holds (9999999999999.99)",
                        a->number);
        if (l->side == LG_ENTRY_DEBIT && !a->internal && a->credit_normal) {
            int64_t available = a->available + delta[i];
            if (available < a->minimum - a->overdraft)
                return fail(d, "INSUFFICIENT_FUNDS",
                            a->overdraft > 0 || a->minimum > 0
                                ? "account %s lacks the funds: the debit would pass its "
                                  "minimum balance and overdraft limit"
                                : "account %s lacks the funds for this debit",
                            a->number);
        }
    }
    for (size_t i = 0; i < d->n_legs; i++) {
        account *a = d->legs[i].acct;
        a->balance = new_balance[i];
        a->available += delta[i];
        a->touched = 1;
        d->legs[i].balance_after = a->balance;
    }
    return 0;
}

static void decide(batch *b, decision *d, const char *force_code, const char *force_reason)
{
    const lg_txn_command *c = d->cmd;
    account *internal = NULL;

    if (force_code != NULL) {
        fail(d, force_code, "%s", force_reason);
        return;
    }
    switch (c->type) {
    case LG_TXN_DEPOSIT:
    case LG_TXN_INTEREST:
        if (c->to_account == NULL) {
            fail(d, "INVALID_COMMAND", "%s", "the command names no account to credit");
            return;
        }
        if (customer_account(b, d, c->to_account, &d->to) != 0)
            return;
        internal = find_internal(b, c->type == LG_TXN_DEPOSIT ? GL_CASH : GL_INTEREST_EXPENSE,
                                 c->currency);
        if (internal == NULL) {
            fail(d, "CURRENCY_NOT_SUPPORTED", "the bank keeps no %s ledger", c->currency);
            return;
        }
        add_leg(d, internal, LG_ENTRY_DEBIT, c->amount_minor);
        add_leg(d, d->to, LG_ENTRY_CREDIT, c->amount_minor);
        break;
    case LG_TXN_WITHDRAWAL:
    case LG_TXN_FEE:
        if (c->from_account == NULL) {
            fail(d, "INVALID_COMMAND", "%s", "the command names no account to debit");
            return;
        }
        if (customer_account(b, d, c->from_account, &d->from) != 0)
            return;
        internal = find_internal(b, c->type == LG_TXN_WITHDRAWAL ? GL_CASH : GL_FEE_INCOME,
                                 c->currency);
        if (internal == NULL) {
            fail(d, "CURRENCY_NOT_SUPPORTED", "the bank keeps no %s ledger", c->currency);
            return;
        }
        add_leg(d, d->from, LG_ENTRY_DEBIT, c->amount_minor);
        add_leg(d, internal, LG_ENTRY_CREDIT, c->amount_minor);
        break;
    case LG_TXN_TRANSFER:
        if (c->from_account == NULL || c->to_account == NULL ||
            strcmp(c->from_account, c->to_account) == 0) {
            fail(d, "INVALID_COMMAND", "%s", "a transfer needs two different accounts");
            return;
        }
        if (customer_account(b, d, c->from_account, &d->from) != 0 ||
            customer_account(b, d, c->to_account, &d->to) != 0)
            return;
        add_leg(d, d->from, LG_ENTRY_DEBIT, c->amount_minor);
        add_leg(d, d->to, LG_ENTRY_CREDIT, c->amount_minor);
        break;
    case LG_TXN_REVERSAL: {
        original *o = c->original_transaction_id != NULL
                          ? find_original(b, c->original_transaction_id)
                          : NULL;
        d->orig = o;
        if (o == NULL || !o->found) {
            fail(d, "UNKNOWN_TRANSACTION", "transaction %s does not exist",
                 c->original_transaction_id != NULL ? c->original_transaction_id : "(none)");
            return;
        }
        if (strcmp(o->type, "REVERSAL") == 0) {
            fail(d, "NOT_REVERSIBLE", "transaction %s is itself a reversal", o->id);
            return;
        }
        if (strcmp(o->status, "REVERSED") == 0 || o->reversed_in_batch) {
            fail(d, "ALREADY_REVERSED", "transaction %s was reversed before", o->id);
            return;
        }
        if (strcmp(o->status, "COMPLETED") != 0) {
            fail(d, "NOT_REVERSIBLE", "transaction %s did not complete, so there is nothing to "
                 "reverse", o->id);
            return;
        }
        d->from = o->to_id[0] != '\0' ? find_account_by_id(b, o->to_id) : NULL;
        d->to = o->from_id[0] != '\0' ? find_account_by_id(b, o->from_id) : NULL;
        for (size_t i = 0; i < o->n_entries; i++) {
            account *a = find_account_by_id(b, o->entry_account[i]);
            if (a == NULL) {
                fail(d, "UNKNOWN_ACCOUNT", "an account of transaction %s no longer exists",
                     o->id);
                return;
            }
            if (!a->internal && (strcmp(a->status, "CLOSED") == 0 ||
                                 strcmp(a->status, "INACTIVE") == 0)) {
                fail(d, strcmp(a->status, "CLOSED") == 0 ? "ACCOUNT_CLOSED" : "ACCOUNT_INACTIVE",
                     "account %s no longer takes postings", a->number);
                return;
            }
            add_leg(d, a,
                    o->entry_side[i] == LG_ENTRY_DEBIT ? LG_ENTRY_CREDIT : LG_ENTRY_DEBIT,
                    o->entry_amount[i]);
        }
        break;
    }
    }
    if (post_legs(d) == 0 && c->type == LG_TXN_REVERSAL)
        d->orig->reversed_in_batch = 1;
}

/* The internal account a command type posts to (with the command's currency), or NULL: a
 * TRANSFER touches customer accounts only, and a REVERSAL the original's accounts, which are
 * locked by id. A batch locks only these, so batches of plain transfers never queue on the
 * bank's internal accounts. */
static const char *internal_gl(lg_txn_type type)
{
    switch (type) {
    case LG_TXN_DEPOSIT:
    case LG_TXN_WITHDRAWAL:
        return GL_CASH;
    case LG_TXN_FEE:
        return GL_FEE_INCOME;
    case LG_TXN_INTEREST:
        return GL_INTEREST_EXPENSE;
    case LG_TXN_TRANSFER:
    case LG_TXN_REVERSAL:
        break;
    }
    return NULL;
}

static void batch_free(batch *b)
{
    free(b->accounts);
    free(b->by_number);
    free(b->originals);
    free(b->decisions);
}

/* Registers the originals of the batch's reversals (to be read by SQL_ORIGINALS). Returns the
 * number of originals, or -1 when out of memory. */
static int collect_originals(batch *b, pg_array *want)
{
    size_t n_rev = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->decisions[i].cmd->type == LG_TXN_REVERSAL &&
            b->decisions[i].cmd->original_transaction_id != NULL)
            n_rev++;
    if (n_rev == 0)
        return 0;
    b->originals = calloc(n_rev, sizeof *b->originals);
    if (b->originals == NULL)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        const lg_txn_command *c = b->decisions[i].cmd;
        if (c->type != LG_TXN_REVERSAL || c->original_transaction_id == NULL ||
            find_original(b, c->original_transaction_id) != NULL)
            continue;
        snprintf(b->originals[b->n_originals++].id, LG_UUID_STRLEN, "%s",
                 c->original_transaction_id);
        arr_add(want, c->original_transaction_id);
    }
    return (int)b->n_originals;
}

/* Reads SQL_ORIGINALS: the originals found, with their entries; their accounts (internal ones
 * included) go to ids, so that the lock covers them. */
static void read_originals(batch *b, const PGresult *res, pg_array *ids)
{
    for (int r = 0; r < PQntuples(res); r++) {
        original *o = find_original(b, PQgetvalue(res, r, 0));
        if (o == NULL)
            continue;
        if (!o->found) {
            o->found = 1;
            snprintf(o->type, sizeof o->type, "%s", PQgetvalue(res, r, 1));
            snprintf(o->status, sizeof o->status, "%s", PQgetvalue(res, r, 2));
            snprintf(o->currency, sizeof o->currency, "%s", PQgetvalue(res, r, 3));
            o->amount = money_of(res, r, 4);
            snprintf(o->from_id, sizeof o->from_id, "%s", PQgetvalue(res, r, 5));
            snprintf(o->to_id, sizeof o->to_id, "%s", PQgetvalue(res, r, 6));
        }
        if (!PQgetisnull(res, r, 7) && o->n_entries < 4) {
            snprintf(o->entry_account[o->n_entries], LG_UUID_STRLEN, "%s", PQgetvalue(res, r, 7));
            o->entry_side[o->n_entries] =
                strcmp(PQgetvalue(res, r, 8), "DEBIT") == 0 ? LG_ENTRY_DEBIT : LG_ENTRY_CREDIT;
            o->entry_amount[o->n_entries] = money_of(res, r, 9);
            arr_add(ids, o->entry_account[o->n_entries]);
            o->n_entries++;
        }
    }
}

/* A reversal whose original sits earlier in the same batch: the original's decision gives its
 * entries. Called after the earlier commands are decided. */
static void original_from_batch(batch *b, size_t upto, original *o)
{
    for (size_t j = 0; j < upto; j++) {
        decision *e = &b->decisions[j];
        if (e->skip || strcmp(e->cmd->transaction_id, o->id) != 0)
            continue;
        o->found = 1;
        snprintf(o->type, sizeof o->type, "%s", lg_txn_type_name(e->cmd->type));
        snprintf(o->status, sizeof o->status, "%s", e->failed ? "FAILED" : "COMPLETED");
        snprintf(o->currency, sizeof o->currency, "%s",
                 e->cmd->currency != NULL ? e->cmd->currency : "");
        o->amount = e->cmd->amount_minor;
        snprintf(o->from_id, sizeof o->from_id, "%s", e->from != NULL ? e->from->id : "");
        snprintf(o->to_id, sizeof o->to_id, "%s", e->to != NULL ? e->to->id : "");
        o->n_entries = e->n_legs;
        for (size_t k = 0; k < e->n_legs; k++) {
            snprintf(o->entry_account[k], LG_UUID_STRLEN, "%s", e->legs[k].acct->id);
            o->entry_side[k] = e->legs[k].side;
            o->entry_amount[k] = e->legs[k].amount;
        }
    }
}

/* Reads SQL_LOCK_ACCOUNTS: the locked accounts, in id order. */
static int read_accounts(batch *b, const PGresult *res)
{
    b->n_accounts = (size_t)PQntuples(res);
    b->accounts = calloc(b->n_accounts + 1, sizeof *b->accounts);
    if (b->accounts == NULL)
        return -1;
    for (int r = 0; r < PQntuples(res); r++) {
        account *a = &b->accounts[r];
        snprintf(a->id, sizeof a->id, "%s", PQgetvalue(res, r, 0));
        snprintf(a->number, sizeof a->number, "%s", PQgetvalue(res, r, 1));
        a->internal = PQgetvalue(res, r, 2)[0] == 't';
        snprintf(a->status, sizeof a->status, "%s", PQgetvalue(res, r, 3));
        snprintf(a->currency, sizeof a->currency, "%s", PQgetvalue(res, r, 4));
        a->balance = money_of(res, r, 5);
        a->available = money_of(res, r, 6);
        a->minimum = money_of(res, r, 7);
        a->overdraft = money_of(res, r, 8);
        a->credit_normal = PQgetvalue(res, r, 9)[0] == 't';
        snprintf(a->gl_code, sizeof a->gl_code, "%s", PQgetvalue(res, r, 10));
    }
    b->by_number = malloc((b->n_accounts + 1) * sizeof *b->by_number);
    if (b->by_number == NULL)
        return -1;
    for (size_t i = 0; i < b->n_accounts; i++) {
        if (b->accounts[i].internal)
            continue;
        b->by_number[b->n_by_number].key = b->accounts[i].number;
        b->by_number[b->n_by_number++].row = (int)i;
    }
    if (b->n_by_number > 0)
        qsort(b->by_number, b->n_by_number, sizeof *b->by_number, key_row_cmp);
    return 0;
}

/* Reads SQL_RELOCK_ORIGINALS: a concurrent reversal may have committed since SQL_ORIGINALS. */
static void read_relocked_originals(batch *b, const PGresult *res)
{
    /* An original read a moment ago but gone at the re-lock was moved to the archive
     * (`ledgerctl archive`) in between: it is no longer a live transaction to reverse. */
    for (size_t i = 0; i < b->n_originals; i++) {
        original *o = &b->originals[i];
        int relocked = 0;
        for (int r = 0; r < PQntuples(res) && !relocked; r++)
            relocked = strcmp(PQgetvalue(res, r, 0), o->id) == 0;
        if (!relocked)
            o->found = 0;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        original *o = find_original(b, PQgetvalue(res, r, 0));
        if (o != NULL && o->found)
            snprintf(o->status, sizeof o->status, "%s", PQgetvalue(res, r, 1));
    }
}

/* Reads SQL_RECORDED: commands already recorded, and repeats within the batch, are skipped.
 * Returns -1 when out of memory. */
static int read_recorded(batch *b, const PGresult *res)
{
    size_t n_rec = 0;
    key_row *rec = index_column(res, 0, &n_rec);
    key_row *mine = b->n > 0 ? malloc(b->n * sizeof *mine) : NULL;
    int rc = -1;

    if ((n_rec > 0 && rec == NULL) || (b->n > 0 && mine == NULL))
        goto out;
    for (size_t i = 0; i < b->n; i++) {
        mine[i].key = b->decisions[i].cmd->transaction_id;
        mine[i].row = (int)i;
    }
    if (b->n > 0)
        qsort(mine, b->n, sizeof *mine, key_row_cmp);
    /* Sorted by (id, position): every command but the first of its id is a repeat. */
    for (size_t x = 0; x < b->n; x++) {
        decision *d = &b->decisions[mine[x].row];
        d->skip = (x > 0 && strcmp(mine[x - 1].key, mine[x].key) == 0) ||
                  index_find(rec, n_rec, mine[x].key) < n_rec;
    }
    rc = 0;
out:
    free(rec);
    free(mine);
    return rc;
}

static const char *ms_text(int64_t ms, char *buf, size_t size)
{
    snprintf(buf, size, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
    return buf;
}

/* The arrays of one batch's writes; they live until the pipeline has run. */
enum { T_ID, T_TYPE, T_AMOUNT, T_CUR, T_FROM, T_TO, T_DESC, T_REF, T_STATUS, T_CODE, T_REASON,
       T_ORIG, T_REVREASON, T_IDEM, T_BY, T_IP, T_DEV, T_AT, T_POS, T_N };
enum { E_ID, E_TXN, E_ACCT, E_TYPE, E_AMOUNT, E_CUR, E_AFTER, E_CODE, E_DESC, E_N };
enum { A_ID, A_BAL, A_AVAIL, A_N };

typedef struct {
    pg_array t[T_N], e[E_N], a[A_N], rev, rev_reason;
} writes;

static void writes_free(writes *w)
{
    for (int i = 0; i < T_N; i++)
        arr_free(&w->t[i]);
    for (int i = 0; i < E_N; i++)
        arr_free(&w->e[i]);
    for (int i = 0; i < A_N; i++)
        arr_free(&w->a[i]);
    arr_free(&w->rev);
    arr_free(&w->rev_reason);
}

/* Turns the batch's decisions into the set-based writes, added to the pipeline. */
static void plan_writes(const char *tenant_id, batch *b, writes *w, wk_pipeline *p)
{
    char money[LG_MONEY_STRLEN], at[32];
    wk_step *s;

    for (size_t i = 0; i < b->n; i++) {
        decision *d = &b->decisions[i];
        const lg_txn_command *c = d->cmd;
        int64_t amount = c->amount_minor;
        const char *currency = c->currency;
        if (d->skip)
            continue;
        if (c->type == LG_TXN_REVERSAL && d->orig != NULL && d->orig->found) {
            amount = d->orig->amount;
            currency = d->orig->currency;
        }
        arr_add(&w->t[T_ID], c->transaction_id);
        arr_add(&w->t[T_TYPE], lg_txn_type_name(c->type));
        /* A reversal of an unknown transaction has no amount: record the least positive one
         * so that the row satisfies amount > 0; it is FAILED and posts nothing. */
        arr_add(&w->t[T_AMOUNT], lg_money_format(amount > 0 ? amount : 1, money, sizeof money));
        arr_add(&w->t[T_CUR], currency != NULL && currency[0] != '\0' ? currency : "XXX");
        arr_add(&w->t[T_FROM], d->from != NULL ? d->from->id : NULL);
        arr_add(&w->t[T_TO], d->to != NULL ? d->to->id : NULL);
        arr_add(&w->t[T_DESC], c->description);
        arr_add(&w->t[T_REF], c->reference);
        arr_add(&w->t[T_STATUS], d->failed ? "FAILED" : "COMPLETED");
        arr_add(&w->t[T_CODE], d->failed ? d->failure_code : NULL);
        arr_add(&w->t[T_REASON], d->failed ? d->failure_reason : NULL);
        arr_add(&w->t[T_ORIG], c->original_transaction_id);
        arr_add(&w->t[T_REVREASON], c->type == LG_TXN_REVERSAL ? c->reason : NULL);
        arr_add(&w->t[T_IDEM], c->idempotency_key);
        arr_add(&w->t[T_BY], c->requested_by);
        arr_add(&w->t[T_IP], c->requested_by_ip);
        arr_add(&w->t[T_DEV], c->requested_by_device);
        arr_add(&w->t[T_AT], ms_text(c->accepted_at_ms, at, sizeof at));
        arr_add(&w->t[T_POS], b->positions != NULL ? b->positions[i] : NULL);
        if (!d->failed && c->type == LG_TXN_REVERSAL) {
            arr_add(&w->rev, d->orig->id);
            arr_add(&w->rev_reason, c->reason);
        }
        for (size_t k = 0; !d->failed && k < d->n_legs; k++) {
            leg *l = &d->legs[k];
            char entry_id[LG_UUID_STRLEN], idx[24];
            snprintf(idx, sizeof idx, "%zu", k);
            lg_uuid_derive(entry_id,
                           (const char *const[]){tenant_id, c->transaction_id, "entry", idx}, 4);
            arr_add(&w->e[E_ID], entry_id);
            arr_add(&w->e[E_TXN], c->transaction_id);
            arr_add(&w->e[E_ACCT], l->acct->id);
            arr_add(&w->e[E_TYPE], lg_entry_type_name(l->side));
            arr_add(&w->e[E_AMOUNT], lg_money_format(l->amount, money, sizeof money));
            arr_add(&w->e[E_CUR], l->acct->currency);
            arr_add(&w->e[E_AFTER], lg_money_format(l->balance_after, money, sizeof money));
            arr_add(&w->e[E_CODE], l->acct->gl_code);
            arr_add(&w->e[E_DESC], c->description);
        }
    }
    for (size_t i = 0; i < b->n_accounts; i++) {
        account *acc = &b->accounts[i];
        if (!acc->touched)
            continue;
        arr_add(&w->a[A_ID], acc->id);
        arr_add(&w->a[A_BAL], lg_money_format(acc->balance, money, sizeof money));
        arr_add(&w->a[A_AVAIL], lg_money_format(acc->available, money, sizeof money));
    }
    if (w->t[T_ID].n > 0) {
        s = wk_pipeline_add(p, SQL_INSERT_TRANSACTIONS, NULL);
        s->n_params = T_N;
        for (int i = 0; i < T_N; i++)
            s->params[i] = arr_done(&w->t[i]);
    }
    if (w->e[E_ID].n > 0) {
        s = wk_pipeline_add(p, SQL_INSERT_ENTRIES, NULL);
        s->n_params = E_N;
        for (int i = 0; i < E_N; i++)
            s->params[i] = arr_done(&w->e[i]);
    }
    if (w->a[A_ID].n > 0) {
        s = wk_pipeline_add(p, SQL_UPDATE_BALANCES, NULL);
        s->n_params = A_N;
        for (int i = 0; i < A_N; i++)
            s->params[i] = arr_done(&w->a[i]);
    }
    if (w->rev.n > 0) {
        s = wk_pipeline_add(p, SQL_MARK_REVERSED, NULL);
        s->n_params = 2;
        s->params[0] = arr_done(&w->rev);
        s->params[1] = arr_done(&w->rev_reason);
    }
}

static lg_db_status rollback(PGconn *db, lg_db_status st)
{
    PGresult *res;
    if (PQstatus(db) != CONNECTION_OK)
        return st;
    res = PQexec(db, "ROLLBACK");
    PQclear(res);
    return st;
}

/*
 * The round trips of a batch:
 *   [BEGIN, originals]                  only when the batch holds reversals
 *   [BEGIN,] lock accounts, [relock originals,] recorded commands
 *   decide every command in memory
 *   insert transactions, insert entries, update balances, [mark reversed,] COMMIT
 */
lg_db_status wk_apply_batch(PGconn *db, const char *tenant_id, lg_txn_command *const *cmds,
                            const char *const *positions, size_t n,
                            const char *force_failure_code, const char *force_failure_reason,
                            char *err, size_t err_size)
{
    batch b;
    pg_array numbers = {0}, ids = {0}, currencies = {0}, gl_codes = {0}, want = {0},
             txn_ids = {0};
    wk_pipeline p;
    writes w;
    wk_step *s;
    lg_db_status st = LG_DB_OK;
    int began = 0, n_originals;

    memset(&b, 0, sizeof b);
    memset(&p, 0, sizeof p);
    memset(&w, 0, sizeof w);
    b.n = n;
    b.positions = positions;
    b.decisions = calloc(n, sizeof *b.decisions);
    if (b.decisions == NULL) {
        snprintf(err, err_size, "out of memory");
        return LG_DB_FATAL;
    }
    for (size_t i = 0; i < n; i++) {
        const lg_txn_command *c = cmds[i];
        b.decisions[i].cmd = c;
        if (c->from_account != NULL)
            arr_add(&numbers, c->from_account);
        if (c->to_account != NULL)
            arr_add(&numbers, c->to_account);
        if (c->currency != NULL && c->currency[0] != '\0' && internal_gl(c->type) != NULL) {
            arr_add(&currencies, c->currency);
            arr_add(&gl_codes, internal_gl(c->type));
        }
        arr_add(&txn_ids, c->transaction_id);
    }
    n_originals = collect_originals(&b, &want);
    if (n_originals < 0) {
        snprintf(err, err_size, "out of memory");
        st = LG_DB_FATAL;
        goto out;
    }
    if (n_originals > 0) {
        wk_pipeline_add(&p, SQL_RAW, "BEGIN");
        s = wk_pipeline_add(&p, SQL_ORIGINALS, NULL);
        s->n_params = 1;
        s->params[0] = arr_done(&want);
        began = 1;
        st = wk_pipeline_run(db, &p, "reading reversal originals", err, err_size);
        if (st != LG_DB_OK)
            goto fail;
        read_originals(&b, p.results[1], &ids);
        wk_pipeline_clear(&p);
    }

    if (!began)
        wk_pipeline_add(&p, SQL_RAW, "BEGIN");
    s = wk_pipeline_add(&p, SQL_LOCK_ACCOUNTS, NULL);
    s->n_params = 4;
    s->params[0] = arr_done(&numbers);
    s->params[1] = arr_done(&ids);
    s->params[2] = arr_done(&currencies);
    s->params[3] = arr_done(&gl_codes);
    if (n_originals > 0) {
        s = wk_pipeline_add(&p, SQL_RELOCK_ORIGINALS, NULL);
        s->n_params = 1;
        s->params[0] = want.buf;
    }
    s = wk_pipeline_add(&p, SQL_RECORDED, NULL);
    s->n_params = 1;
    s->params[0] = arr_done(&txn_ids);
    began = 1;
    st = wk_pipeline_run(db, &p, "locking accounts", err, err_size);
    if (st != LG_DB_OK)
        goto fail;
    {
        size_t k = n_originals > 0 ? 0 : 1; /* skip the BEGIN */
        if (read_accounts(&b, p.results[k]) != 0) {
            snprintf(err, err_size, "out of memory");
            st = LG_DB_FATAL;
            goto fail;
        }
        if (n_originals > 0)
            read_relocked_originals(&b, p.results[++k]);
        if (read_recorded(&b, p.results[k + 1]) != 0) {
            snprintf(err, err_size, "out of memory");
            st = LG_DB_FATAL;
            goto fail;
        }
    }
    wk_pipeline_clear(&p);
#ifdef LEDGER_FAULT_INJECTION
    wk_fault_point(WK_FAULT_IN_PG, NULL, n);
#endif

    for (size_t i = 0; i < n; i++) {
        decision *d = &b.decisions[i];
        if (d->skip)
            continue;
        if (d->cmd->type == LG_TXN_REVERSAL && d->cmd->original_transaction_id != NULL) {
            original *o = find_original(&b, d->cmd->original_transaction_id);
            if (o != NULL && !o->found)
                original_from_batch(&b, i, o);
        }
        decide(&b, d, force_failure_code, force_failure_reason);
    }

    plan_writes(tenant_id, &b, &w, &p);
    wk_pipeline_add(&p, SQL_RAW, "COMMIT");
    st = wk_pipeline_run(db, &p, "recording the batch", err, err_size);
    if (st == LG_DB_OK)
        goto out;
    if (PQresultStatus(p.results[p.n - 1]) == PGRES_FATAL_ERROR) {
        /* The COMMIT itself failed: nothing was written. A lost connection during COMMIT may
         * have committed: either way redoing the batch is safe (recorded commands are
         * skipped). */
        st = LG_DB_RETRY;
    }
fail:
    if (began)
        rollback(db, st);
out:
    wk_pipeline_clear(&p);
    writes_free(&w);
    arr_free(&numbers);
    arr_free(&ids);
    arr_free(&currencies);
    arr_free(&gl_codes);
    arr_free(&want);
    arr_free(&txn_ids);
    batch_free(&b);
    return st;
}

lg_db_status wk_record_processing_error(PGconn *db, const char *tenant_id,
                                        lg_txn_command *cmd, const char *position,
                                        const char *detail, char *err, size_t err_size)
{
    char reason[256];
    snprintf(reason, sizeof reason, "the command could not be processed: %s", detail);
    return wk_apply_batch(db, tenant_id, (lg_txn_command *const[]){cmd},
                          (const char *const[]){position}, 1, "PROCESSING_ERROR", reason, err,
                          err_size);
}

static int64_t ms_of(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static char *text_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

lg_db_status wk_load_outcomes(PGconn *db, const char *tenant_id, lg_txn_command *const *cmds,
                              size_t n, wk_outcome *out, char *err, size_t err_size)
{
    pg_array ids = {0};
    const PGresult *t, *e;
    wk_pipeline p;
    wk_step *s;
    lg_db_status st = LG_DB_OK;
    const char *param;
    key_row *t_ix = NULL, *e_ix = NULL;
    size_t n_t = 0, n_e = 0;

    memset(out, 0, n * sizeof *out);
    memset(&p, 0, sizeof p);
    for (size_t i = 0; i < n; i++)
        arr_add(&ids, cmds[i]->transaction_id);
    param = arr_done(&ids);
    /* One snapshot for both reads, one round trip. */
    wk_pipeline_add(&p, SQL_RAW, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    s = wk_pipeline_add(&p, SQL_OUTCOME_TRANSACTIONS, NULL);
    s->n_params = 1;
    s->params[0] = param;
    s = wk_pipeline_add(&p, SQL_OUTCOME_ENTRIES, NULL);
    s->n_params = 1;
    s->params[0] = param;
    wk_pipeline_add(&p, SQL_RAW, "COMMIT");
    st = wk_pipeline_run(db, &p, "reading outcomes", err, err_size);
    if (st != LG_DB_OK) {
        rollback(db, st);
        goto out;
    }
    t = p.results[1];
    e = p.results[2];

    t_ix = index_column(t, 0, &n_t);
    e_ix = index_column(e, 1, &n_e);
    if ((n_t > 0 && t_ix == NULL) || (n_e > 0 && e_ix == NULL)) {
        snprintf(err, err_size, "out of memory");
        st = LG_DB_FATAL;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        wk_outcome *o = &out[i];
        const char *txn_id = cmds[i]->transaction_id;
        size_t at = index_find(t_ix, n_t, txn_id), first;
        int row;
        if (at == n_t)
            continue;
        row = t_ix[at].row;
        {
            char event_id[LG_UUID_STRLEN];
            const char *status = PQgetvalue(t, row, 3);
            lg_uuid_derive(event_id, (const char *const[]){tenant_id, txn_id, "result"}, 3);
            o->result.event_id = strdup(event_id);
            o->result.tenant_id = strdup(tenant_id);
            o->result.transaction_id = strdup(txn_id);
            o->result.transaction_ref = text_or_null(t, row, 1);
            o->result.type = (lg_txn_type)lg_txn_type_from_name(PQgetvalue(t, row, 2));
            o->result.status = strcmp(status, "FAILED") == 0     ? LG_RESULT_FAILED
                               : strcmp(status, "REVERSED") == 0 ? LG_RESULT_REVERSED
                                                                 : LG_RESULT_COMPLETED;
            o->result.failure_code = text_or_null(t, row, 4);
            o->result.failure_reason = text_or_null(t, row, 5);
            o->result.processed_at_ms = ms_of(t, row, 6);
            o->recorded_by = text_or_null(t, row, 7);
        }
        first = index_find(e_ix, n_e, txn_id);
        for (size_t x = first; x < n_e && strcmp(e_ix[x].key, txn_id) == 0; x++)
            o->n_entries++;
        if (o->n_entries == 0)
            continue;
        o->entries = calloc(o->n_entries, sizeof *o->entries);
        if (o->entries == NULL) {
            o->n_entries = 0;
            snprintf(err, err_size, "out of memory");
            st = LG_DB_FATAL;
            goto out;
        }
        for (size_t k = 0; k < o->n_entries; k++) {
            int r = e_ix[first + k].row; /* entry_seq order: ties keep the row order */
            lg_ledger_event *ev = &o->entries[k];
            ev->event_id = strdup(PQgetvalue(e, r, 0));
            ev->tenant_id = strdup(tenant_id);
            ev->entry_id = strdup(PQgetvalue(e, r, 0));
            ev->transaction_id = strdup(txn_id);
            ev->account_id = strdup(PQgetvalue(e, r, 2));
            ev->account_number = strdup(PQgetvalue(e, r, 3));
            ev->entry_type =
                strcmp(PQgetvalue(e, r, 4), "DEBIT") == 0 ? LG_ENTRY_DEBIT : LG_ENTRY_CREDIT;
            ev->amount_minor = money_of(e, r, 5);
            ev->currency = strdup(PQgetvalue(e, r, 6));
            ev->balance_after_minor = money_of(e, r, 7);
            ev->account_code = strdup(PQgetvalue(e, r, 8));
            ev->description = text_or_null(e, r, 9);
            ev->created_at_ms = ms_of(e, r, 10);
        }
    }
out:
    free(t_ix);
    free(e_ix);
    wk_pipeline_clear(&p);
    arr_free(&ids);
    return st;
}

void wk_outcomes_free(wk_outcome *out, size_t n)
{
    for (size_t i = 0; out != NULL && i < n; i++) {
        lg_avro_free_result(&out[i].result);
        for (size_t k = 0; k < out[i].n_entries; k++)
            lg_avro_free_ledger(&out[i].entries[k]);
        free(out[i].entries);
        out[i].entries = NULL;
        free(out[i].recorded_by);
        out[i].recorded_by = NULL;
        out[i].n_entries = 0;
    }
}
