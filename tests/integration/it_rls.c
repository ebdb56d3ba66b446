/*
 * Row-level security (tenant migration 0007) as the tenant's own role: a transaction opened by
 * lg_db_begin_customer for customer A sees, with no WHERE clause at all, only A's customer row,
 * accounts, transactions and ledger entries, none of B's, and cannot write B's rows nor give
 * itself B's; a scope that is not a UUID fails instead of opening up; once the transaction ends
 * the same pooled connection sees everything again, as the staff paths and the worker do.
 */
#include "itest.h"

#include "lg_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long count(PGconn *db, const char *sql)
{
    char *v = itest_sql_value(db, sql, NULL);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

/* A statement that must fail with SQLSTATE state; rolls back to the savepoint after it. */
static void expect_refused(PGconn *db, const char *sql, const char *state)
{
    PGresult *res;
    itest_sql_exec(db, "SAVEPOINT s", NULL);
    res = PQexec(db, sql);
    CHECK(PQresultStatus(res) == PGRES_FATAL_ERROR, "%s: %s, expected an error", sql,
          PQresStatus(PQresultStatus(res)));
    CHECK(strcmp(lg_db_sqlstate(res), state) == 0, "%s: SQLSTATE %s, expected %s", sql,
          lg_db_sqlstate(res), state);
    PQclear(res);
    itest_sql_exec(db, "ROLLBACK TO SAVEPOINT s", NULL);
}

static void set_role_tenant(PGconn *db, const itest_tenant *t)
{
    char name[80], sql[200];
    PGresult *res;
    itest_tenant_db_name(t, name);
    /* The provisioned role has the database's name. */
    snprintf(sql, sizeof sql, "SET ROLE \"%s\"", name);
    res = PQexec(db, sql);
    CHECK(PQresultStatus(res) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(db));
    PQclear(res);
    CHECK(count(db, "SELECT (current_user = current_database())::int") == 1,
          "running as the tenant's role");
}

int main(void)
{
    itest_tenant a, b;
    char id[64], json[256], email[128], err[512], sql[512];
    char *a_user, *b_user, *b_customer_id;
    long all_customers, all_accounts, all_txns, all_entries;
    long a_accounts, a_txns, a_entries;
    PGconn *db;
    json_t *txn;
    int rc;

    itest_tenant_create(&a, "it-rls", NULL, 2, "USD");
    /* Customer B of the same tenant, with one account. */
    b = a;
    b.n_accounts = 0;
    snprintf(email, sizeof email, "second@%s.example", a.slug);
    rc = itest_ledgerctl(b.customer, sizeof b.customer, "customer", "create", "--tenant", a.slug,
                         "--first-name", "Other", "--last-name", "Customer", "--email", email,
                         NULL);
    CHECK(rc == 0 && strncmp(b.customer, "CUST-", 5) == 0, "customer create exited %d", rc);
    itest_account_add(&b, "USD", NULL);

    /* Money in: a deposit to each of A's accounts and to B's, and a transfer from A to B. */
    for (int i = 0; i < 2; i++) {
        snprintf(json, sizeof json,
                 "{\"type\":\"DEPOSIT\",\"amount\":\"100.00\",\"currency\":\"USD\","
                 "\"toAccount\":\"%s\"}",
                 a.account[i]);
        itest_submit(&a, json, id);
        json_decref(itest_expect_status(&a, id, "COMPLETED"));
    }
    snprintf(json, sizeof json,
             "{\"type\":\"DEPOSIT\",\"amount\":\"50.00\",\"currency\":\"USD\","
             "\"toAccount\":\"%s\"}",
             b.account[0]);
    itest_submit(&a, json, id);
    json_decref(itest_expect_status(&a, id, "COMPLETED"));
    snprintf(json, sizeof json,
             "{\"type\":\"TRANSFER\",\"amount\":\"25.00\",\"currency\":\"USD\","
             "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
             a.account[0], b.account[0]);
    itest_submit(&a, json, id);
    txn = itest_expect_status(&a, id, "COMPLETED");
    json_decref(txn);

    db = itest_tenant_db(&a, NULL);
    a_user = itest_sql_value(db, "SELECT user_id FROM customers WHERE customer_number = $1",
                             a.customer);
    b_user = itest_sql_value(db, "SELECT user_id FROM customers WHERE customer_number = $1",
                             b.customer);
    b_customer_id = itest_sql_value(db, "SELECT id FROM customers WHERE customer_number = $1",
                                    b.customer);
    set_role_tenant(db, &a);

    /* Unscoped, as the staff paths and the worker: everything. */
    all_customers = count(db, "SELECT count(*) FROM customers");
    all_accounts = count(db, "SELECT count(*) FROM accounts");
    all_txns = count(db, "SELECT count(*) FROM transactions");
    all_entries = count(db, "SELECT count(*) FROM ledger_entries");
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM accounts a JOIN customers c ON c.id = a.customer_id"
             " WHERE c.customer_number = '%s'",
             a.customer);
    a_accounts = count(db, sql);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM transactions t WHERE EXISTS (SELECT 1 FROM accounts a"
             " JOIN customers c ON c.id = a.customer_id WHERE c.customer_number = '%s'"
             " AND a.id IN (t.from_account_id, t.to_account_id))",
             a.customer);
    a_txns = count(db, sql);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM ledger_entries e JOIN accounts a ON a.id = e.account_id"
             " JOIN customers c ON c.id = a.customer_id WHERE c.customer_number = '%s'",
             a.customer);
    a_entries = count(db, sql);
    CHECK(all_customers >= 3 && a_accounts == 2 && a_txns == 3 && a_entries == 3,
          "unscoped: %ld customers, A has %ld accounts, %ld transactions, %ld entries",
          all_customers, a_accounts, a_txns, a_entries);
    CHECK(all_accounts > a_accounts && all_txns > a_txns && all_entries > a_entries,
          "unscoped sees more than A's rows");

    /* Scoped to A: no WHERE clause, only A's rows. */
    CHECK(lg_db_begin_customer(db, a_user, 0, err, sizeof err) == 0, "scope: %s", err);
    CHECK(count(db, "SELECT count(*) FROM customers") == 1, "A sees one customer row");
    {
        char *who = itest_sql_value(db, "SELECT user_id FROM customers", NULL);
        CHECK(strcmp(who, a_user) == 0, "the customer row A sees is A's (%s)", who);
        free(who);
    }
    CHECK(count(db, "SELECT count(*) FROM accounts") == a_accounts, "A sees its %ld accounts",
          a_accounts);
    CHECK(count(db, "SELECT count(*) FROM transactions") == a_txns, "A sees its %ld transactions",
          a_txns);
    CHECK(count(db, "SELECT count(*) FROM ledger_entries") == a_entries,
          "A sees its %ld ledger entries", a_entries);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM accounts WHERE account_number = '%s' OR customer_id = '%s'",
             b.account[0], b_customer_id);
    CHECK(count(db, sql) == 0, "none of B's accounts");
    CHECK(count(db, "SELECT count(*) FROM accounts WHERE account_type = 'INTERNAL'") == 0,
          "none of the bank's own accounts");

    /* Writes: B's rows are out of reach, and A cannot make a row B's. */
    snprintf(sql, sizeof sql, "UPDATE accounts SET status = 'FROZEN' WHERE account_number = '%s'",
             b.account[0]);
    CHECK(itest_sql_exec(db, sql, NULL) == 0, "updating B's account changes no row");
    CHECK(itest_sql_exec(db, "UPDATE customers SET city = 'x' WHERE user_id <> current_setting("
                             "'ledger.customer_user_id')::uuid",
                             NULL) == 0,
          "updating another customer changes no row");
    snprintf(sql, sizeof sql, "UPDATE customers SET user_id = '%s'", b_user);
    expect_refused(db, sql, "42501");
    snprintf(sql, sizeof sql, "UPDATE accounts SET customer_id = '%s'", b_customer_id);
    expect_refused(db, sql, "42501");
    /* A scope that is not a customer's id fails; it never falls open. */
    itest_sql_exec(db, "SAVEPOINT s2", NULL);
    itest_sql_exec(db, "SELECT set_config('ledger.customer_user_id', 'everyone', true)", NULL);
    {
        PGresult *res = PQexec(db, "SELECT count(*) FROM accounts");
        CHECK(PQresultStatus(res) == PGRES_FATAL_ERROR, "a malformed scope must fail: %s",
              PQresStatus(PQresultStatus(res)));
        PQclear(res);
    }
    itest_sql_exec(db, "ROLLBACK TO SAVEPOINT s2", NULL);
    CHECK(count(db, "SELECT count(*) FROM accounts") == a_accounts, "still A's accounts only");
    itest_sql_exec(db, "COMMIT", NULL);

    /* The scope ended with the transaction: the same connection sees everything again. */
    CHECK(count(db, "SELECT count(*) FROM accounts") == all_accounts, "unscoped again");
    CHECK(count(db, "SELECT count(*) FROM customers") == all_customers, "all customers again");
    CHECK(count(db, "SELECT count(*) FROM ledger_entries") == all_entries, "all entries again");
    /* A scope for a user with no customer row sees nothing. */
    CHECK(lg_db_begin_customer(db, "00000000-0000-4000-8000-000000000000", 1, err, sizeof err) ==
              0,
          "scope: %s", err);
    CHECK(count(db, "SELECT count(*) FROM accounts") == 0, "an unknown customer sees nothing");
    itest_sql_exec(db, "ROLLBACK", NULL);

    printf("it_rls: A sees %ld of %ld accounts, %ld of %ld transactions, %ld of %ld entries\n",
           a_accounts, all_accounts, a_txns, all_txns, a_entries, all_entries);
    free(a_user);
    free(b_user);
    free(b_customer_id);
    PQfinish(db);
    printf("it_rls: OK\n");
    return 0;
}
