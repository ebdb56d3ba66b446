#include "ledger_sql.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    const char *sql;
} statements[SQL_N_STATEMENTS] = {
    [SQL_ORIGINALS] =
        {"wk_originals",
         /* Entries come in posting order. The status read here may be stale: the relock,
          * once the accounts are locked, reads it again. */
         "SELECT t.id, t.type, t.status, t.currency, t.amount::text,"
         " coalesce(t.from_account_id::text, ''), coalesce(t.to_account_id::text, ''),"
         " e.account_id, e.entry_type, e.amount::text"
         " FROM transactions t LEFT JOIN ledger_entries e ON e.transaction_id = t.id"
         " WHERE t.id = ANY($1::uuid[]) ORDER BY t.id, e.entry_seq"},
    [SQL_LOCK_ACCOUNTS] =
        {"wk_lock_accounts",
         "SELECT id, account_number, account_type = 'INTERNAL', status, currency,"
         " balance::text, available_balance::text, minimum_balance::text,"
         " overdraft_limit::text, normal_side = 'CREDIT', gl_code"
         " FROM accounts"
         " WHERE deleted_at IS NULL AND (account_number = ANY($1::text[])"
         "   OR id = ANY($2::uuid[])"
         "   OR (account_type = 'INTERNAL' AND (currency, gl_code) IN"
         "     (SELECT c, g FROM unnest($3::text[], $4::text[]) AS u(c, g))))"
         " ORDER BY id FOR UPDATE"},
    [SQL_RELOCK_ORIGINALS] = {"wk_relock_originals",
                              "SELECT id, status FROM transactions WHERE id = ANY($1::uuid[])"
                              " ORDER BY id FOR UPDATE"},
    [SQL_RECORDED] = {"wk_recorded", "SELECT id FROM transactions WHERE id = ANY($1::uuid[])"},
    [SQL_INSERT_TRANSACTIONS] =
        {"wk_insert_transactions",
         /* transactionRef: TXN-<UTC date>-<sequence, at least six digits>. format's width
          * pads and never truncates (lpad would cut 1000000 to "100000", a duplicate). */
         "INSERT INTO transactions (id, transaction_ref, type, amount, currency,"
         " from_account_id, to_account_id, description, reference, status, failure_code,"
         " failure_reason, original_transaction_id, reversal_reason, idempotency_key,"
         " created_by, created_by_ip, created_by_device, created_at, processed_at,"
         " command_position)"
         " SELECT u.id, 'TXN-' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD') || '-' ||"
         "   translate(format('%6s', nextval('transaction_ref_seq')), ' ', '0'), u.type,"
         "   u.amount, u.currency, u.from_id, u.to_id, u.description, u.reference, u.status,"
         "   u.code, u.reason, u.orig, u.revreason, u.idem, u.created_by, u.ip, u.device,"
         "   to_timestamp(u.at), now(), u.pos"
         " FROM unnest($1::uuid[], $2::transaction_type[], $3::numeric[], $4::text[],"
         "   $5::uuid[], $6::uuid[], $7::text[], $8::text[], $9::transaction_status[],"
         "   $10::text[], $11::text[], $12::uuid[], $13::text[], $14::text[], $15::uuid[],"
         "   $16::text[], $17::text[], $18::numeric[], $19::text[]) WITH ORDINALITY"
         "   AS u(id, type, amount, currency, from_id, to_id, description, reference, status,"
         "        code, reason, orig, revreason, idem, created_by, ip, device, at, pos, ord)"
         " ORDER BY u.ord"},
    [SQL_INSERT_ENTRIES] =
        {"wk_insert_entries",
         "INSERT INTO ledger_entries (id, transaction_id, account_id, entry_type, amount,"
         " currency, balance_after, account_code, description)"
         " SELECT u.id, u.txn, u.acct, u.type, u.amount, u.currency, u.after, u.code, u.descr"
         " FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::entry_type[], $5::numeric[],"
         "   $6::text[], $7::numeric[], $8::text[], $9::text[]) WITH ORDINALITY"
         "   AS u(id, txn, acct, type, amount, currency, after, code, descr, ord)"
         " ORDER BY u.ord"},
    [SQL_UPDATE_BALANCES] = {"wk_update_balances",
                             "UPDATE accounts SET balance = u.balance, available_balance = u.avail"
                             " FROM unnest($1::uuid[], $2::numeric[], $3::numeric[])"
                             "   AS u(id, balance, avail) WHERE accounts.id = u.id"},
    [SQL_MARK_REVERSED] =
        {"wk_mark_reversed",
         "UPDATE transactions SET status = 'REVERSED', reversed_at = now(),"
         " reversal_reason = u.reason"
         " FROM unnest($1::uuid[], $2::text[]) AS u(id, reason)"
         " WHERE transactions.id = u.id AND transactions.status = 'COMPLETED'"},
    [SQL_OUTCOME_TRANSACTIONS] =
        {"wk_outcome_transactions",
         "SELECT id, transaction_ref, type, status, failure_code, failure_reason,"
         " (extract(epoch FROM processed_at) * 1000)::bigint, command_position"
         " FROM transactions WHERE id = ANY($1::uuid[])"},
    [SQL_OUTCOME_ENTRIES] =
        {"wk_outcome_entries",
         "SELECT e.id, e.transaction_id, e.account_id, a.account_number, e.entry_type,"
         " e.amount::text, e.currency, e.balance_after::text, e.account_code,"
         " e.description, (extract(epoch FROM e.created_at) * 1000)::bigint"
         " FROM ledger_entries e JOIN accounts a ON a.id = e.account_id"
         " WHERE e.transaction_id = ANY($1::uuid[]) ORDER BY e.entry_seq"},
};

/* Prepares every statement in one round trip (pipeline mode): a tenant's first batch on a new
 * connection waits once, not once per statement. */
int wk_sql_prepare(PGconn *db, void *arg, char *err, size_t err_size)
{
    const long *idle_in_transaction_ms = arg;
    PGresult *res;
    int rc = 0, synced;
    if (idle_in_transaction_ms != NULL && *idle_in_transaction_ms > 0) {
        char sql[96];
        snprintf(sql, sizeof sql, "SET idle_in_transaction_session_timeout = %ld",
                 *idle_in_transaction_ms);
        res = PQexec(db, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            snprintf(err, err_size, "setting idle_in_transaction_session_timeout: %.*s",
                     (int)strcspn(PQerrorMessage(db), "\n"), PQerrorMessage(db));
            PQclear(res);
            return -1;
        }
        PQclear(res);
    }
    if (PQenterPipelineMode(db) != 1) {
        snprintf(err, err_size, "pipeline mode: %.*s", (int)strcspn(PQerrorMessage(db), "\n"),
                 PQerrorMessage(db));
        return -1;
    }
    for (int i = 0; i < SQL_N_STATEMENTS; i++) {
        if (PQsendPrepare(db, statements[i].name, statements[i].sql, 0, NULL) != 1) {
            snprintf(err, err_size, "preparing %s: %.*s", statements[i].name,
                     (int)strcspn(PQerrorMessage(db), "\n"), PQerrorMessage(db));
            rc = -1;
            break;
        }
    }
    synced = PQpipelineSync(db) == 1;
    if (!synced && rc == 0) {
        snprintf(err, err_size, "pipeline sync: %.*s", (int)strcspn(PQerrorMessage(db), "\n"),
                 PQerrorMessage(db));
        rc = -1;
    }
    /* One result (then NULL) per statement sent, then the sync's PGRES_PIPELINE_SYNC. */
    while (synced) {
        res = PQgetResult(db);
        if (res == NULL) {
            if (PQstatus(db) != CONNECTION_OK)
                break;
            continue;
        }
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            break;
        }
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
            snprintf(err, err_size, "preparing the worker's statements: %.*s",
                     (int)strcspn(PQresultErrorMessage(res), "\n"), PQresultErrorMessage(res));
            rc = -1;
        }
        PQclear(res);
    }
    if (PQexitPipelineMode(db) != 1 && rc == 0) {
        snprintf(err, err_size, "leaving pipeline mode: %.*s",
                 (int)strcspn(PQerrorMessage(db), "\n"), PQerrorMessage(db));
        rc = -1;
    }
    return rc;
}

wk_step *wk_pipeline_add(wk_pipeline *p, int statement, const char *raw_sql)
{
    wk_step *s = &p->steps[p->n++];
    memset(s, 0, sizeof *s);
    s->statement = statement;
    s->raw_sql = raw_sql;
    return s;
}

void wk_pipeline_clear(wk_pipeline *p)
{
    for (size_t i = 0; i < PIPELINE_MAX; i++) {
        PQclear(p->results[i]);
        p->results[i] = NULL;
    }
    p->n = 0;
}

static void first_line(char *err, size_t err_size, const char *what, const char *msg)
{
    snprintf(err, err_size, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
}

lg_db_status wk_pipeline_run(PGconn *db, wk_pipeline *p, const char *what, char *err,
                             size_t err_size)
{
    lg_db_status st = LG_DB_OK;
    PGresult *r;

    if (PQenterPipelineMode(db) != 1) {
        first_line(err, err_size, what, PQerrorMessage(db));
        return lg_db_classify(db, NULL) == LG_DB_RETRY ? LG_DB_RETRY : LG_DB_FATAL;
    }
    for (size_t i = 0; i < p->n; i++) {
        const wk_step *s = &p->steps[i];
        int sent = s->statement == SQL_RAW
                       ? PQsendQueryParams(db, s->raw_sql, 0, NULL, NULL, NULL, NULL, 0)
                       : PQsendQueryPrepared(db, statements[s->statement].name, s->n_params,
                                             s->params, NULL, NULL, 0);
        if (!sent) {
            first_line(err, err_size, what, PQerrorMessage(db));
            st = LG_DB_RETRY; /* a send fails on a broken connection */
            break;
        }
    }
    if (st == LG_DB_OK && !PQpipelineSync(db)) {
        first_line(err, err_size, what, PQerrorMessage(db));
        st = LG_DB_RETRY;
    }
    if (st != LG_DB_OK) {
        /* The connection is in an unknown state: the caller releases it as broken. */
        return st;
    }
    /* One result (then NULL) per step, then the sync. */
    for (size_t i = 0; i < p->n; i++) {
        r = PQgetResult(db);
        if (r == NULL) {
            first_line(err, err_size, what, PQerrorMessage(db));
            return LG_DB_RETRY;
        }
        p->results[i] = r;
        if (st == LG_DB_OK && PQresultStatus(r) != PGRES_COMMAND_OK &&
            PQresultStatus(r) != PGRES_TUPLES_OK) {
            st = PQresultStatus(r) == PGRES_PIPELINE_ABORTED ? LG_DB_RETRY
                                                              : lg_db_classify(db, r);
            first_line(err, err_size, what, PQresultErrorMessage(r));
        }
        while ((r = PQgetResult(db)) != NULL) /* end of this step's results */
            PQclear(r);
    }
    r = PQgetResult(db);
    if (PQresultStatus(r) != PGRES_PIPELINE_SYNC && st == LG_DB_OK) {
        first_line(err, err_size, what, PQerrorMessage(db));
        st = LG_DB_RETRY;
    }
    PQclear(r);
    if (PQexitPipelineMode(db) != 1 && st == LG_DB_OK) {
        first_line(err, err_size, what, PQerrorMessage(db));
        st = LG_DB_RETRY;
    }
    return st;
}
