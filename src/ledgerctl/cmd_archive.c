/*
 * ledgerctl archive [--older-than 7y] [--tenant SLUG] [--batch 1000] [--dry-run]: moves settled
 * transactions created before the cut-off (now minus DURATION, fixed once per tenant when the
 * command starts) and all their ledger entries into transactions_archive and
 * ledger_entries_archive (tenant migration 0008).
 *
 * Each batch is one database transaction:
 *   1. pick up to N transactions older than the cut-off, COMPLETED, FAILED or REVERSED, oldest
 *      first, FOR UPDATE SKIP LOCKED (a worker reversing one of them holds its lock: it is left
 *      for the next run), skipping any whose linked original or reversal is newer than the
 *      cut-off; then add the linked ones of those picked, so a reversal and its original move
 *      together;
 *   2. copy them into transactions_archive, move their entries (DELETE ... RETURNING into
 *      ledger_entries_archive), delete them from transactions.
 * Account balances are not touched: `ledgerctl verify` sums live and archived entries together.
 * A second run finds nothing to move; a run stopped half-way leaves whole batches moved.
 *
 * Reads: the API's reads see live rows only. An archived transaction is gone from
 * GET /v1/transactions and an account's ledger history; its rows stay in the archive tables for
 * audits (SQL). Choose a cut-off far beyond Kafka's retention of txn.commands and the 24-hour
 * life of idempotency records: the worker deduplicates against live transactions.
 */
#include "ctl.h"
#include "ctl_duration.h"

#include "lg_db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    char interval[32]; /* "7 years" */
    long batch;
    int dry_run;
    long long moved_txns, moved_entries;
} arch;

/* The live table's columns, quoted and comma-separated, into out. */
static int columns_of(PGconn *db, const char *table, char *out, size_t out_size, char *err,
                      size_t err_size)
{
    PGresult *res = lg_db_query(db,
                                "SELECT string_agg(quote_ident(column_name), ', '"
                                " ORDER BY ordinal_position) FROM information_schema.columns"
                                " WHERE table_schema = current_schema() AND table_name = $1",
                                1, (const char *[]){table}, err, err_size);
    if (res == NULL)
        return -1;
    snprintf(out, out_size, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (out[0] == '\0') {
        snprintf(err, err_size, "no table %s", table);
        return -1;
    }
    return 0;
}

/* May transaction t move? Settled, older than the cut-off $1, and so is any original or reversal
 * linked to it. */
#define ELIGIBLE                                                                                   \
    " t.created_at < $1::timestamptz"                                                              \
    " AND t.status IN ('COMPLETED', 'FAILED', 'REVERSED')"                                         \
    " AND NOT EXISTS (SELECT 1 FROM transactions r"                                                \
    "   WHERE (r.original_transaction_id = t.id OR r.id = t.original_transaction_id)"              \
    "   AND (r.created_at >= $1::timestamptz"                                                      \
    "        OR r.status NOT IN ('COMPLETED', 'FAILED', 'REVERSED')))"
/* The transactions a batch takes: $1 cut-off, $2 batch size. */
#define PICK                                                                                       \
    "INSERT INTO archive_batch (id)"                                                               \
    " SELECT t.id FROM transactions t WHERE" ELIGIBLE                                              \
    " ORDER BY t.created_at LIMIT $2::integer FOR UPDATE OF t SKIP LOCKED"
/* ...and the linked originals or reversals of those (old enough, by the rule above). */
#define PICK_LINKED                                                                                \
    "INSERT INTO archive_batch (id)"                                                               \
    " SELECT r.id FROM transactions r JOIN archive_batch b"                                        \
    "   ON r.original_transaction_id = b.id"                                                       \
    "   OR r.id = (SELECT original_transaction_id FROM transactions WHERE id = b.id)"              \
    " WHERE r.created_at < $1::timestamptz FOR UPDATE OF r"                                        \
    " ON CONFLICT (id) DO NOTHING"

static int archive_tenant(PGconn *master, const lg_keyring *kr, const char *slug)
{
    char err[512], e[256], cutoff[64], txn_cols[2048], entry_cols[1024], sql[8192], batch[24];
    lg_tenant t;
    PGconn *db = ctl_tenant_db(master, kr, slug, &t);
    PGresult *res = NULL;
    long long txns = 0, entries = 0;
    int rc = -1;
    if (db == NULL)
        return -1;
    res = lg_db_query(db,
                      "SELECT to_regclass('transactions_archive') IS NOT NULL,"
                      " (now() - $1::interval)::text",
                      1, (const char *[]){arch.interval}, err, sizeof err);
    if (res == NULL)
        goto fail;
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        snprintf(err, sizeof err, "no archive tables: run `ledgerctl migrate` first");
        goto fail;
    }
    snprintf(cutoff, sizeof cutoff, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    res = NULL;

    if (arch.dry_run) {
        res = lg_db_query(db,
                          "WITH c AS (SELECT t.id FROM transactions t WHERE" ELIGIBLE ")"
                          " SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM ledger_entries"
                          " WHERE transaction_id IN (SELECT id FROM c))",
                          1, (const char *[]){cutoff}, err, sizeof err);
        if (res == NULL)
            goto fail;
        printf("%s would-move %s %s\n", slug, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
        fprintf(stderr,
                "tenant %-24s dry run: %s transaction(s) and %s entries created before %s "
                "would move\n",
                slug, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), cutoff);
        rc = 0;
        goto out;
    }

    if (columns_of(db, "transactions", txn_cols, sizeof txn_cols, err, sizeof err) != 0 ||
        columns_of(db, "ledger_entries", entry_cols, sizeof entry_cols, err, sizeof err) != 0)
        goto fail;
    if (lg_db_exec(db,
                   "CREATE TEMP TABLE IF NOT EXISTS archive_batch (id uuid PRIMARY KEY)"
                   " ON COMMIT DELETE ROWS",
                   err, sizeof err) != 0)
        goto fail;
    snprintf(batch, sizeof batch, "%ld", arch.batch);
    for (;;) {
        long n_txns;
        if (lg_db_exec(db, "BEGIN", err, sizeof err) != 0)
            goto fail;
        res = lg_db_query(db, PICK, 2, (const char *[]){cutoff, batch}, err, sizeof err);
        if (res == NULL)
            goto rollback;
        PQclear(res);
        res = lg_db_query(db, PICK_LINKED, 1, (const char *[]){cutoff}, err, sizeof err);
        if (res == NULL)
            goto rollback;
        PQclear(res);
        snprintf(sql, sizeof sql,
                 "INSERT INTO transactions_archive (%s) SELECT %s FROM transactions"
                 " WHERE id IN (SELECT id FROM archive_batch)",
                 txn_cols, txn_cols);
        res = lg_db_query(db, sql, 0, NULL, err, sizeof err);
        if (res == NULL)
            goto rollback;
        n_txns = strtol(PQcmdTuples(res), NULL, 10);
        PQclear(res);
        res = NULL;
        if (n_txns == 0) {
            lg_db_exec(db, "ROLLBACK", e, sizeof e);
            break;
        }
        snprintf(sql, sizeof sql,
                 "WITH moved AS (DELETE FROM ledger_entries"
                 " WHERE transaction_id IN (SELECT id FROM archive_batch) RETURNING %s)"
                 " INSERT INTO ledger_entries_archive (%s) SELECT %s FROM moved",
                 entry_cols, entry_cols, entry_cols);
        res = lg_db_query(db, sql, 0, NULL, err, sizeof err);
        if (res == NULL)
            goto rollback;
        entries += strtoll(PQcmdTuples(res), NULL, 10);
        PQclear(res);
        res = lg_db_query(db, "DELETE FROM transactions WHERE id IN (SELECT id FROM archive_batch)",
                          0, NULL, err, sizeof err);
        if (res == NULL)
            goto rollback;
        PQclear(res);
        res = NULL;
        if (lg_db_exec(db, "COMMIT", err, sizeof err) != 0)
            goto fail;
        txns += n_txns;
        fprintf(stderr, "tenant %-24s moved %lld transaction(s) so far\n", slug, txns);
    }
    /* Entries counted only for committed batches: the last, empty batch moved none. */
    printf("%s moved %lld %lld\n", slug, txns, entries);
    fprintf(stderr,
            "tenant %-24s archived %lld transaction(s) and %lld entries created before %s\n", slug,
            txns, entries, cutoff);
    arch.moved_txns += txns;
    arch.moved_entries += entries;
    rc = 0;
    goto out;
rollback:
    lg_db_exec(db, "ROLLBACK", e, sizeof e);
fail:
    ctl_error("tenant %s: archiving stopped after %lld transaction(s): %s", slug, txns, err);
out:
    PQclear(res);
    PQfinish(db);
    return rc;
}

int cmd_archive(int argc, char **argv)
{
    ctl_opt opts[] = {{"older-than", NULL, 0},
                      {"tenant", NULL, 0},
                      {"batch", NULL, 0},
                      {"dry-run", NULL, 1},
                      {NULL, NULL, 0}};
    const char *older, *batch;
    int failed;

    if (ctl_parse(argc, argv, opts) != 0)
        return CTL_USAGE;
    older = ctl_get(opts, "older-than");
    if (older == NULL)
        older = "7y";
    if (ctl_duration_parse(older, arch.interval, sizeof arch.interval) != 0) {
        ctl_error("--older-than \"%s\" is not a duration: write a whole number and a unit, "
                  "y (years), m (months), d (days) or h (hours), e.g. 7y, 18m, 30d, 12h",
                  older);
        return CTL_USAGE;
    }
    arch.batch = 1000;
    batch = ctl_get(opts, "batch");
    if (batch != NULL) {
        char *end;
        errno = 0;
        arch.batch = strtol(batch, &end, 10);
        if (errno != 0 || end == batch || *end != '\0' || arch.batch < 1 || arch.batch > 100000) {
            ctl_error("--batch must be a whole number from 1 to 100000, not \"%s\"", batch);
            return CTL_USAGE;
        }
    }
    arch.dry_run = ctl_get(opts, "dry-run") != NULL;
    failed = ctl_each_tenant(ctl_get(opts, "tenant"), archive_tenant);
    if (failed < 0)
        return CTL_FAIL;
    if (!arch.dry_run)
        fprintf(stderr, "archive: %lld transaction(s), %lld entries moved; %d tenant(s) failed\n",
                arch.moved_txns, arch.moved_entries, failed);
    return failed ? CTL_FAIL : CTL_OK;
}
