/*
 * ledgerctl verify: the double-entry invariants of every ACTIVE tenant (or one):
 *   1. each transaction's debits equal its credits;
 *   2. each account's cached balance equals the sum of its entries, signed by its normal side;
 *   3. each entry's balance_after is the running sum of its account's entries in posting order;
 *   4. a COMPLETED or REVERSED transaction has entries, a FAILED or PENDING one has none.
 * Prints every break with the tenant and the rows, and exits 1 when there is any.
 */
#include "ctl.h"

#include "lg_db.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *what;
    const char *sql;
} checks[] = {
    {"debits differ from credits",
     "SELECT transaction_id::text,"
     " 'debits ' || sum(amount) FILTER (WHERE entry_type = 'DEBIT') ||"
     " ', credits ' || sum(amount) FILTER (WHERE entry_type = 'CREDIT')"
     " FROM ledger_entries GROUP BY transaction_id"
     " HAVING coalesce(sum(amount) FILTER (WHERE entry_type = 'DEBIT'), 0)"
     "   <> coalesce(sum(amount) FILTER (WHERE entry_type = 'CREDIT'), 0)"
     " LIMIT 100"},
    {"balance differs from the sum of entries",
     "SELECT a.account_number, 'balance ' || a.balance || ', entries sum to ' ||"
     " coalesce(s.total, 0)"
     " FROM accounts a LEFT JOIN ("
     "   SELECT e.account_id, sum(CASE WHEN e.entry_type = acc.normal_side THEN e.amount"
     "                                 ELSE -e.amount END) AS total"
     "   FROM ledger_entries e JOIN accounts acc ON acc.id = e.account_id"
     "   GROUP BY e.account_id) s ON s.account_id = a.id"
     " WHERE a.balance <> coalesce(s.total, 0) LIMIT 100"},
    {"balance_after is not the running sum",
     "SELECT id::text, 'balance_after ' || balance_after || ', running sum ' || running"
     " FROM (SELECT e.id, e.balance_after, sum(CASE WHEN e.entry_type = a.normal_side"
     "        THEN e.amount ELSE -e.amount END)"
     "        OVER (PARTITION BY e.account_id ORDER BY e.entry_seq) AS running"
     "       FROM ledger_entries e JOIN accounts a ON a.id = e.account_id) x"
     " WHERE balance_after <> running LIMIT 100"},
    {"status does not match the entries",
     "SELECT t.id::text, t.status || ' with ' || count(e.id) || ' entries'"
     " FROM transactions t LEFT JOIN ledger_entries e ON e.transaction_id = t.id"
     " GROUP BY t.id, t.status"
     " HAVING (t.status IN ('COMPLETED', 'REVERSED') AND count(e.id) = 0)"
     "     OR (t.status IN ('FAILED', 'PENDING', 'PROCESSING') AND count(e.id) > 0)"
     " LIMIT 100"},
};

static int verify_tenant(PGconn *master, const lg_keyring *kr, const char *slug)
{
    char err[512];
    lg_tenant t;
    PGconn *db = ctl_tenant_db(master, kr, slug, &t);
    int breaks = 0;
    if (db == NULL)
        return -1;
    /* One snapshot for all checks, so a worker posting meanwhile cannot cause a false break. */
    if (lg_db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, sizeof err) != 0) {
        ctl_error("tenant %s: %s", slug, err);
        PQfinish(db);
        return -1;
    }
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        PGresult *res = lg_db_query(db, checks[i].sql, 0, NULL, err, sizeof err);
        if (res == NULL) {
            ctl_error("tenant %s: %s", slug, err);
            breaks++;
            continue;
        }
        for (int r = 0; r < PQntuples(res); r++) {
            printf("BREAK tenant=%s check=\"%s\" row=%s %s\n", slug, checks[i].what,
                   PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
            breaks++;
        }
        PQclear(res);
    }
    lg_db_exec(db, "COMMIT", err, sizeof err);
    {
        PGresult *res = lg_db_query(db,
                                    "SELECT (SELECT count(*) FROM transactions),"
                                    " (SELECT count(*) FROM ledger_entries)",
                                    0, NULL, err, sizeof err);
        if (res != NULL) {
            fprintf(stderr, "tenant %-24s %s: %s transactions, %s entries\n", slug,
                    breaks ? "BROKEN" : "ok", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
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
