/*
 * ledgerctl verify: the double-entry invariants of every ACTIVE tenant (or one):
 *   1. each transaction's debits equal its credits;
 *   2. each account's cached balance equals the sum of its entries, signed by its normal side;
 *   3. each entry's balance_after is the running sum of its account's entries in posting order;
 *   4. a COMPLETED or REVERSED transaction has entries, a FAILED or PENDING one has none.
 * Archived transactions and entries (`ledgerctl archive`, tenant migration 0008) count: the sums
 * run over the live and the archive tables together, and no transaction may be in both.
 * Prints every break with the tenant and the rows, and exits 1 when there is any.
 */
#include "ctl.h"

#include "lg_db.h"

#include <stdio.h>
#include <string.h>

/* The entries and transactions the checks read: the live tables, and once tenant migration 0008
 * made them, the archive tables too (`ledgerctl archive` moves a transaction with all its entries,
 * and entry_seq with them, so the invariants hold over the union). */
#define LIVE_ENTRIES "ledger_entries"
#define LIVE_TXNS    "transactions"
#define ALL_ENTRIES                                                                                \
    "(SELECT id, transaction_id, account_id, entry_type, amount, balance_after, entry_seq"       \
    " FROM ledger_entries UNION ALL"                                                               \
    " SELECT id, transaction_id, account_id, entry_type, amount, balance_after, entry_seq"        \
    " FROM ledger_entries_archive)"
#define ALL_TXNS                                                                                   \
    "(SELECT id, status FROM transactions UNION ALL SELECT id, status FROM transactions_archive)"

#define CHECK_DEBITS(E)                                                                            \
    "SELECT transaction_id::text,"                                                                 \
    " 'debits ' || sum(amount) FILTER (WHERE entry_type = 'DEBIT') ||"                             \
    " ', credits ' || sum(amount) FILTER (WHERE entry_type = 'CREDIT')"                            \
    " FROM " E " le GROUP BY transaction_id"                                                       \
    " HAVING coalesce(sum(amount) FILTER (WHERE entry_type = 'DEBIT'), 0)"                         \
    "   <> coalesce(sum(amount) FILTER (WHERE entry_type = 'CREDIT'), 0)"                          \
    " LIMIT 100"
#define CHECK_BALANCE(E)                                                                           \
    "SELECT a.account_number, 'balance ' || a.balance || ', entries sum to ' ||"                   \
    " coalesce(s.total, 0)"                                                                        \
    " FROM accounts a LEFT JOIN ("                                                                 \
    "   SELECT e.account_id, sum(CASE WHEN e.entry_type = acc.normal_side THEN e.amount"           \
    "                                 ELSE -e.amount END) AS total"                                \
    "   FROM " E " e JOIN accounts acc ON acc.id = e.account_id"                                   \
    "   GROUP BY e.account_id) s ON s.account_id = a.id"                                           \
    " WHERE a.balance <> coalesce(s.total, 0) LIMIT 100"
#define CHECK_RUNNING(E)                                                                           \
    "SELECT id::text, 'balance_after ' || balance_after || ', running sum ' || running"            \
    " FROM (SELECT e.id, e.balance_after, sum(CASE WHEN e.entry_type = a.normal_side"              \
    "        THEN e.amount ELSE -e.amount END)"                                                    \
    "        OVER (PARTITION BY e.account_id ORDER BY e.entry_seq) AS running"                     \
    "       FROM " E " e JOIN accounts a ON a.id = e.account_id) x"                                \
    " WHERE balance_after <> running LIMIT 100"
#define CHECK_STATUS(T, E)                                                                         \
    "SELECT t.id::text, t.status || ' with ' || count(e.id) || ' entries'"                         \
    " FROM " T " t LEFT JOIN " E " e ON e.transaction_id = t.id"                                   \
    " GROUP BY t.id, t.status"                                                                     \
    " HAVING (t.status IN ('COMPLETED', 'REVERSED') AND count(e.id) = 0)"                          \
    "     OR (t.status IN ('FAILED', 'PENDING', 'PROCESSING') AND count(e.id) > 0)"                \
    " LIMIT 100"

static const struct {
    const char *what;
    const char *live_sql;    /* before tenant migration 0008 */
    const char *archive_sql; /* with the archive tables */
} checks[] = {
    {"debits differ from credits", CHECK_DEBITS(LIVE_ENTRIES), CHECK_DEBITS(ALL_ENTRIES)},
    {"balance differs from the sum of entries", CHECK_BALANCE(LIVE_ENTRIES),
     CHECK_BALANCE(ALL_ENTRIES)},
    {"balance_after is not the running sum", CHECK_RUNNING(LIVE_ENTRIES),
     CHECK_RUNNING(ALL_ENTRIES)},
    {"status does not match the entries", CHECK_STATUS(LIVE_TXNS, LIVE_ENTRIES),
     CHECK_STATUS(ALL_TXNS, ALL_ENTRIES)},
    /* A transaction is either live or archived, never both (archive moves, never copies). */
    {"transaction both live and archived", NULL,
     "SELECT t.id::text, 'in transactions and transactions_archive'"
     " FROM transactions t JOIN transactions_archive x ON x.id = t.id LIMIT 100"},
};

int ctl_verify_db(PGconn *db, const char *label, char *err, size_t err_size)
{
    PGresult *res;
    int breaks = 0, archived;
    /* One snapshot for all checks, so a worker posting meanwhile cannot cause a false break. */
    if (lg_db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, err_size) != 0)
        return -1;
    res = lg_db_query(db,
                      "SELECT to_regclass('ledger_entries_archive') IS NOT NULL"
                      " AND to_regclass('transactions_archive') IS NOT NULL",
                      0, NULL, err, err_size);
    if (res == NULL) {
        lg_db_exec(db, "ROLLBACK", err, err_size);
        return -1;
    }
    archived = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        const char *sql = archived ? checks[i].archive_sql : checks[i].live_sql;
        char e[512];
        if (sql == NULL)
            continue;
        res = lg_db_query(db, sql, 0, NULL, e, sizeof e);
        if (res == NULL) {
            ctl_error("tenant %s: %s", label, e);
            breaks++;
            /* The snapshot's transaction is aborted: the remaining checks could not run. */
            break;
        }
        for (int r = 0; r < PQntuples(res); r++) {
            printf("BREAK tenant=%s check=\"%s\" row=%s %s\n", label, checks[i].what,
                   PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
            breaks++;
        }
        PQclear(res);
    }
    lg_db_exec(db, "ROLLBACK", err, err_size);
    return breaks;
}

static int verify_tenant(PGconn *master, const lg_keyring *kr, const char *slug)
{
    char err[512];
    lg_tenant t;
    PGconn *db = ctl_tenant_db(master, kr, slug, &t);
    int breaks;
    if (db == NULL)
        return -1;
    breaks = ctl_verify_db(db, slug, err, sizeof err);
    if (breaks < 0) {
        ctl_error("tenant %s: %s", slug, err);
        PQfinish(db);
        return -1;
    }
    {
        PGresult *res = lg_db_query(db,
                                    "SELECT (SELECT count(*) FROM transactions),"
                                    " (SELECT count(*) FROM ledger_entries),"
                                    " CASE WHEN to_regclass('transactions_archive') IS NULL"
                                    " THEN '' ELSE (SELECT ' (' || count(*) || ' archived)'"
                                    " FROM transactions_archive) END",
                                    0, NULL, err, sizeof err);
        if (res == NULL) {
            /* to_regclass is planned away only at run time: fall back to the plain counts. */
            res = lg_db_query(db,
                              "SELECT (SELECT count(*) FROM transactions),"
                              " (SELECT count(*) FROM ledger_entries), ''",
                              0, NULL, err, sizeof err);
        }
        if (res != NULL) {
            fprintf(stderr, "tenant %-24s %s: %s transactions%s, %s entries\n", slug,
                    breaks ? "BROKEN" : "ok", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2),
                    PQgetvalue(res, 0, 1));
            PQclear(res);
        }
    }
    PQfinish(db);
    return breaks;
}

int cmd_verify(int argc, char **argv)
{
    ctl_opt opts[] = {{"tenant", NULL, 0}, {NULL, NULL, 0}};
    int broken;

    if (ctl_parse(argc, argv, opts) != 0)
        return CTL_USAGE;
    broken = ctl_each_tenant(ctl_get(opts, "tenant"), verify_tenant);
    if (broken < 0)
        return CTL_FAIL;
    if (broken)
        fprintf(stderr, "verify: %d tenant(s) with breaks\n", broken);
    return broken ? CTL_FAIL : CTL_OK;
}
