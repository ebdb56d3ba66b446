/*
 * Point-in-time recovery, for real (deploy/postgresql/PITR.md): a PostgreSQL server of its own
 * with WAL archiving on (scripts/pg.sh start pitr), a tenant database migrated with sql/tenant
 * and ledger rows (a transaction and its two ledger entries each):
 *   batch A, then a base backup (pg.sh basebackup pitr),
 *   batch B, then the recovery target time is recorded,
 *   batch C, then a WAL switch, waiting until the archiver has copied the segment;
 * then a copy is recovered to the target time (pg.sh recover pitr-restored pitr TIME: the base
 * backup, restore_command, recovery_target_time, promote). Asserted via libpq on the copy: A and
 * B are there (B only through the archived WAL), C is not, the copy accepts writes (promoted),
 * and the double-entry sums of what it holds balance. Both servers are stopped at exit.
 */
#include "itest.h"
#include "lg_migrate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[512];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[4096];
    int rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    rc = system(cmd);
    CHECK(rc == 0, "%s exited %d", cmd, rc);
}

static void stop_servers(void)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "%s/scripts/pg.sh stop pitr-restored >/dev/null 2>&1; "
             "%s/scripts/pg.sh stop pitr >/dev/null 2>&1",
             root, root);
    if (system(cmd) != 0)
        fprintf(stderr, "stopping the pitr servers failed\n");
}

/* The conninfo of server name's superuser, for database db. */
static PGconn *connect_to(const char *name, const char *db, int tries)
{
    char path[1200], dsn[1024], full[1200];
    FILE *f;
    PGconn *c = NULL;
    snprintf(path, sizeof path, "%s/var/%s/pg-%s/admin.dsn", root,
             getenv("LEDGER_STACK") != NULL ? getenv("LEDGER_STACK") : "test", name);
    f = fopen(path, "r");
    CHECK(f != NULL && fgets(dsn, sizeof dsn, f) != NULL, "cannot read %s", path);
    fclose(f);
    dsn[strcspn(dsn, "\n")] = '\0';
    snprintf(full, sizeof full, "%s dbname=%s", dsn, db);
    for (int i = 0; i < tries; i++) {
        c = PQconnectdb(full);
        if (PQstatus(c) == CONNECTION_OK)
            return c;
        PQfinish(c);
        c = NULL;
        itest_sleep_ms(250);
    }
    c = PQconnectdb(full);
    CHECK(PQstatus(c) == CONNECTION_OK, "connecting to %s/%s: %s", name, db, PQerrorMessage(c));
    return c;
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    CHECK(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK,
          "%s: %s", sql, PQerrorMessage(c));
    PQclear(res);
}

/* A batch of n deposits of 10.00 into the customer account, each a transaction with its two
 * entries (cash DEBIT, customer CREDIT), refs <batch>-1..n. */
static void post_batch(PGconn *c, const char *batch, int n)
{
    for (int i = 1; i <= n; i++) {
        char ref[32];
        const char *params[1] = {ref};
        PGresult *res;
        snprintf(ref, sizeof ref, "%s-%d", batch, i);
        res = PQexecParams(
            c,
            "WITH t AS (INSERT INTO transactions (id, transaction_ref, type, amount, status,"
            "   to_account_id, created_by, processed_at)"
            " SELECT gen_random_uuid(), $1, 'DEPOSIT', 10.00, 'COMPLETED', a.id, a.created_by, "
            "now()"
            " FROM accounts a WHERE a.account_number = 'PITR-0001' RETURNING id),"
            " cash AS (UPDATE accounts SET balance = balance + 10, available_balance ="
            "   available_balance + 10 WHERE account_number = 'GL-1000-USD' RETURNING id, balance),"
            " cust AS (UPDATE accounts SET balance = balance + 10, available_balance ="
            "   available_balance + 10 WHERE account_number = 'PITR-0001' RETURNING id, balance)"
            " INSERT INTO ledger_entries (id, transaction_id, account_id, entry_type, amount,"
            "   balance_after, account_code)"
            " SELECT gen_random_uuid(), t.id, cash.id, 'DEBIT'::entry_type, 10.00, cash.balance, "
            "'1000'"
            " FROM t, cash UNION ALL"
            " SELECT gen_random_uuid(), t.id, cust.id, 'CREDIT', 10.00, cust.balance, '2000'"
            " FROM t, cust",
            1, NULL, params, NULL, NULL, 0);
        CHECK(PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdTuples(res), "2") == 0,
              "posting %s: %s", ref, PQerrorMessage(c));
        PQclear(res);
    }
}

static long count_refs(PGconn *c, const char *prefix)
{
    char *v = itest_sql_value(c,
                              "SELECT count(*) FROM transactions t JOIN ledger_entries e"
                              " ON e.transaction_id = t.id WHERE t.transaction_ref LIKE $1 || '-%'",
                              prefix);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

int main(void)
{
    char dir[1200], err[512], target[64], *v;
    lg_migrate_report rep;
    PGconn *admin, *db, *copy;
    int64_t t0 = itest_now_ms();

    /* The checkout: LEDGER_SQL_SOURCE is <root>/sql. */
    snprintf(root, sizeof root, "%s", LEDGER_SQL_SOURCE);
    *strrchr(root, '/') = '\0';
    atexit(stop_servers);
    stop_servers();
    {
        const char *stack = getenv("LEDGER_STACK") != NULL ? getenv("LEDGER_STACK") : "test";
        sh("rm -rf %s/var/%s/pg-pitr %s/var/%s/pg-pitr-restored", root, stack, root, stack);
    }
    sh("%s/scripts/pg.sh start pitr >/dev/null", root);

    /* A tenant database: the tenant migrations, a bank user, a customer, two accounts. */
    admin = connect_to("pitr", "postgres", 1);
    exec_ok(admin, "SET client_min_messages = warning");
    exec_ok(admin, "CREATE DATABASE pitr_tenant");
    PQfinish(admin);
    db = connect_to("pitr", "pitr_tenant", 1);
    exec_ok(db, "SET client_min_messages = warning");
    snprintf(dir, sizeof dir, "%s/tenant", LEDGER_SQL_SOURCE);
    CHECK(lg_migrate_apply(db, dir, &rep, err, sizeof err) == 0, "migrating: %s", err);
    exec_ok(db,
            "WITH u AS (INSERT INTO users (email, password_hash, first_name, last_name, role)"
            " VALUES ('system@pitr.example', 'x', 'Bank', 'System', 'SUPER_ADMIN') RETURNING id),"
            " c AS (INSERT INTO customers (user_id, customer_number) SELECT id, 'CUST-00000'"
            " FROM u RETURNING id)"
            " INSERT INTO accounts (account_number, account_type, customer_id, created_by,"
            "   gl_code, normal_side)"
            " SELECT 'GL-1000-USD', 'INTERNAL'::account_type, c.id, u.id, '1000',"
            " 'DEBIT'::entry_type FROM u, c UNION ALL"
            " SELECT 'PITR-0001', 'CHECKING', c.id, u.id, '2000', 'CREDIT' FROM u, c");

    /* A before the base backup, B after it, the target, C after the target. */
    post_batch(db, "A", 3);
    sh("%s/scripts/pg.sh basebackup pitr >/dev/null 2>&1", root);
    post_batch(db, "B", 4);
    v = itest_sql_value(db, "SELECT clock_timestamp()::text", NULL);
    snprintf(target, sizeof target, "%s", v);
    free(v);
    itest_sleep_ms(300);
    post_batch(db, "C", 5);
    /* The segment holding B and C goes to the archive now, not at archive_timeout. */
    v = itest_sql_value(db, "SELECT pg_walfile_name(pg_switch_wal())", NULL);
    {
        int64_t deadline = itest_now_ms() + 30000;
        for (;;) {
            char *done = itest_sql_value(db,
                                         "SELECT (coalesce(last_archived_wal, '') >= $1)::text"
                                         " FROM pg_stat_archiver",
                                         v);
            int ok = strcmp(done, "true") == 0;
            free(done);
            if (ok)
                break;
            CHECK(itest_now_ms() < deadline, "WAL segment %s not archived within 30 s", v);
            itest_sleep_ms(200);
        }
    }
    free(v);
    CHECK(count_refs(db, "A") == 6 && count_refs(db, "B") == 8 && count_refs(db, "C") == 10,
          "the source lacks rows");
    PQfinish(db);

    /* Recover a copy to the target time. */
    sh("%s/scripts/pg.sh recover pitr-restored pitr '%s' >/dev/null 2>&1", root, target);
    copy = connect_to("pitr-restored", "pitr_tenant", 120);
    {
        int64_t deadline = itest_now_ms() + 30000;
        for (;;) {
            char *in_recovery = itest_sql_value(copy, "SELECT pg_is_in_recovery()::text", NULL);
            int done = strcmp(in_recovery, "false") == 0;
            free(in_recovery);
            if (done)
                break;
            CHECK(itest_now_ms() < deadline, "the copy was not promoted within 30 s");
            itest_sleep_ms(200);
        }
    }
    CHECK(count_refs(copy, "A") == 6, "batch A (in the base backup) missing: %ld entries",
          count_refs(copy, "A"));
    CHECK(count_refs(copy, "B") == 8, "batch B (archived WAL before the target) missing: %ld",
          count_refs(copy, "B"));
    CHECK(count_refs(copy, "C") == 0, "batch C (after the target) present: %ld entries",
          count_refs(copy, "C"));
    v = itest_sql_value(copy, "SELECT balance::text FROM accounts WHERE account_number = $1",
                        "PITR-0001");
    CHECK(strcmp(v, "70.00") == 0, "the customer balance is %s, not 70.00 (A + B)", v);
    free(v);
    v = itest_sql_value(copy,
                        "SELECT (sum(amount) FILTER (WHERE entry_type = 'DEBIT') ="
                        " sum(amount) FILTER (WHERE entry_type = 'CREDIT'))::text"
                        " FROM ledger_entries",
                        NULL);
    CHECK(strcmp(v, "true") == 0, "debits differ from credits in the copy");
    free(v);
    /* Promoted: it takes writes. */
    post_batch(copy, "D", 1);
    PQfinish(copy);
    printf("point-in-time recovery to %s: ok in %lld ms\n", target,
           (long long)(itest_now_ms() - t0));
    return 0;
}
