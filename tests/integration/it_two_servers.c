/*
 * Tenants on two PostgreSQL servers, served by the same API and worker: deposits to a tenant on
 * the first server and to one on the second, sent together, both complete; each tenant's rows
 * are in its own database on its own server and nowhere else. Isolation between tenants:
 *   - a tenant's own database role, with its real credentials (the password sealed in the
 *     master, opened with the master key), connects to its own database but is refused by
 *     another tenant's database on the same server (CONNECT is revoked from PUBLIC), and does
 *     not exist at all on the other server;
 *   - through the API, one tenant's key cannot read, reverse or credit another tenant's
 *     transactions and accounts.
 */
#include "itest.h"

#include "lg_crypto.h"
#include "lg_tenant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed;

/* What the master says about a tenant: its server and role, and its database password. */
typedef struct {
    char port[16];
    char db[80];
    char role[80];
    char *password;
} placement;

static void placement_of(PGconn *master, lg_keyring *kr, const itest_tenant *t, placement *p)
{
    char err[256];
    PGresult *r = PQexecParams(master,
                               "SELECT db_port::text, db_name, db_user, db_password,"
                               " db_password_key_id FROM tenants WHERE id = $1",
                               1, NULL, (const char *[]){t->id}, NULL, NULL, 0);
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "tenant %s: %s", t->slug,
          PQerrorMessage(master));
    snprintf(p->port, sizeof p->port, "%s", PQgetvalue(r, 0, 0));
    snprintf(p->db, sizeof p->db, "%s", PQgetvalue(r, 0, 1));
    snprintf(p->role, sizeof p->role, "%s", PQgetvalue(r, 0, 2));
    CHECK(lg_secret_open(kr, PQgetvalue(r, 0, 4), t->id, PQgetvalue(r, 0, 3), &p->password, err,
                         sizeof err) == 0,
          "opening the database password of %s: %s", t->slug, err);
    PQclear(r);
}

/* Connects as role to dbname on the server at port, with password. */
static PGconn *connect_as(const char *port, const char *dbname, const char *role,
                          const char *password)
{
    const char *keys[] = {"host", "port", "dbname", "user", "password", "connect_timeout", NULL};
    const char *vals[] = {"127.0.0.1", port, dbname, role, password, "5", NULL};
    return PQconnectdbParams(keys, vals, 0);
}

/* A connection as the superuser of the server of admin_dsn_env, to its postgres database. */
static PGconn *server(const char *admin_dsn_env)
{
    PGconn *c = PQconnectdb(itest_env(admin_dsn_env));
    CHECK(PQstatus(c) == CONNECTION_OK, "%s: %s", admin_dsn_env, PQerrorMessage(c));
    return c;
}

static long count_of(PGconn *c, const char *sql, const char *param)
{
    char *v = itest_sql_value(c, sql, param);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

static void deposit_body(char *body, size_t size, const char *amount, const char *account)
{
    snprintf(body, size,
             "{\"type\":\"DEPOSIT\",\"amount\":\"%s\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
             amount, account);
}

int main(void)
{
    itest_tenant a, b, c; /* a and c on the first server, b on the second */
    placement pa, pb, pc;
    char err[256], body_a[256], body_b[256], ids[8][64];
    long st[8];
    lg_keyring *kr;
    PGconn *master, *s1, *s2, *dba, *dbb, *conn;

    CHECK(lg_crypto_init() == 0, "lg_crypto_init");
    kr = lg_keyring_load(itest_env("LEDGER_MASTER_KEY_FILE"), err, sizeof err);
    CHECK(kr != NULL, "master key: %s", err);
    itest_tenant_create(&a, "it-two-a", NULL, 1, "USD");
    itest_tenant_create(&b, "it-two-b", "LEDGER_ADMIN_DSN_2", 1, "USD");
    itest_tenant_create(&c, "it-two-c", NULL, 1, "USD");
    master = itest_master_db();
    placement_of(master, kr, &a, &pa);
    placement_of(master, kr, &b, &pb);
    placement_of(master, kr, &c, &pc);
    s1 = server("LEDGER_ADMIN_DSN");
    s2 = server("LEDGER_ADMIN_DSN_2");

    /* The master routes a and c to one server, b to the other. */
    {
        char *port1 = itest_sql_value(s1, "SHOW port", NULL);
        char *port2 = itest_sql_value(s2, "SHOW port", NULL);
        CHECK(strcmp(port1, port2) != 0, "the two servers share port %s", port1);
        CHECK(strcmp(pa.port, port1) == 0 && strcmp(pc.port, port1) == 0,
              "a and c are routed to ports %s and %s, not %s", pa.port, pc.port, port1);
        CHECK(strcmp(pb.port, port2) == 0, "b is routed to port %s, not %s", pb.port, port2);
        free(port1);
        free(port2);
    }

    /* Deposits to both, all in flight together: the worker applies each in its own database. */
    deposit_body(body_a, sizeof body_a, "11.00", a.account[0]);
    deposit_body(body_b, sizeof body_b, "22.00", b.account[0]);
    {
        /* Two tenants, each with its own key, eight commands at once (a's first four). */
        const itest_tenant *who[8] = {&a, &a, &a, &a, &b, &b, &b, &b};
        const char *bodies[8] = {body_a, body_a, body_a, body_a, body_b, body_b, body_b, body_b};
        itest_submit_parallel_as(who, bodies, 8, ids, st);
    }
    for (int i = 0; i < 8; i++) {
        CHECK(st[i] == 202, "deposit %d answered %ld", i, st[i]);
        json_decref(itest_expect_status(i < 4 ? &a : &b, ids[i], "COMPLETED"));
    }
    dba = itest_tenant_db(&a, NULL);
    dbb = itest_tenant_db(&b, "LEDGER_ADMIN_DSN_2");
    {
        char *v = itest_balance(dba, a.account[0]);
        CHECK(strcmp(v, "44.00") == 0, "a's balance is %s", v);
        free(v);
        v = itest_balance(dbb, b.account[0]);
        CHECK(strcmp(v, "88.00") == 0, "b's balance is %s", v);
        free(v);
    }
    passed++;

    /* Each tenant's rows live in its own database, on its own server, and nowhere else. */
    for (int i = 0; i < 8; i++) {
        PGconn *own = i < 4 ? dba : dbb, *other = i < 4 ? dbb : dba;
        CHECK(count_of(own, "SELECT count(*) FROM transactions WHERE id = $1", ids[i]) == 1,
              "transaction %s is not in its tenant's database", ids[i]);
        CHECK(count_of(own, "SELECT count(*) FROM ledger_entries WHERE transaction_id = $1",
                       ids[i]) == 2,
              "transaction %s has no entries in its tenant's database", ids[i]);
        CHECK(count_of(other, "SELECT count(*) FROM transactions WHERE id = $1", ids[i]) == 0,
              "transaction %s is also in the other tenant's database", ids[i]);
    }
    CHECK(count_of(s1, "SELECT count(*) FROM pg_database WHERE datname = $1", pa.db) == 1 &&
              count_of(s2, "SELECT count(*) FROM pg_database WHERE datname = $1", pa.db) == 0,
          "a's database %s is not on the first server only", pa.db);
    CHECK(count_of(s2, "SELECT count(*) FROM pg_database WHERE datname = $1", pb.db) == 1 &&
              count_of(s1, "SELECT count(*) FROM pg_database WHERE datname = $1", pb.db) == 0,
          "b's database %s is not on the second server only", pb.db);
    CHECK(count_of(s2, "SELECT count(*) FROM pg_roles WHERE rolname = $1", pa.role) == 0 &&
              count_of(s1, "SELECT count(*) FROM pg_roles WHERE rolname = $1", pb.role) == 0,
          "a tenant's role exists on the other server");
    passed++;

    /* The roles: a's own credentials open a's database, and nothing else. */
    CHECK(strcmp(pa.role, pc.role) != 0 && strcmp(pa.db, pc.db) != 0,
          "a and c share a role or a database");
    CHECK(count_of(s1,
                   "SELECT count(*) FROM pg_database WHERE datname = $1"
                   " AND NOT has_database_privilege('public', oid, 'CONNECT')",
                   pc.db) == 1,
          "PUBLIC may connect to %s", pc.db);
    {
        PGresult *r = PQexecParams(s1,
                                   "SELECT has_database_privilege($1, $2, 'CONNECT')::text,"
                                   " has_database_privilege($1, $3, 'CONNECT')::text",
                                   3, NULL, (const char *[]){pa.role, pa.db, pc.db}, NULL, NULL, 0);
        CHECK(PQresultStatus(r) == PGRES_TUPLES_OK, "has_database_privilege: %s",
              PQerrorMessage(s1));
        CHECK(strcmp(PQgetvalue(r, 0, 0), "true") == 0 && strcmp(PQgetvalue(r, 0, 1), "false") == 0,
              "CONNECT of %s: on its own database %s, on %s's %s", pa.role, PQgetvalue(r, 0, 0),
              c.slug, PQgetvalue(r, 0, 1));
        PQclear(r);
    }
    conn = connect_as(pa.port, pa.db, pa.role, pa.password);
    CHECK(PQstatus(conn) == CONNECTION_OK, "a's role cannot open its own database: %s",
          PQerrorMessage(conn));
    CHECK(count_of(conn, "SELECT count(*) FROM transactions", NULL) == 4,
          "a's role sees another number of transactions");
    PQfinish(conn);
    conn = connect_as(pa.port, pc.db, pa.role, pa.password);
    CHECK(PQstatus(conn) != CONNECTION_OK, "a's role opened c's database %s", pc.db);
    CHECK(strstr(PQerrorMessage(conn), "permission denied for database") != NULL,
          "a's role was refused by c's database, but not for want of CONNECT: %s",
          PQerrorMessage(conn));
    PQfinish(conn);
    /* c's role, the other way round; and b's role does not exist on the first server. */
    conn = connect_as(pc.port, pa.db, pc.role, pc.password);
    CHECK(PQstatus(conn) != CONNECTION_OK &&
              strstr(PQerrorMessage(conn), "permission denied for database") != NULL,
          "c's role on a's database: %s", PQerrorMessage(conn));
    PQfinish(conn);
    conn = connect_as(pa.port, pa.db, pb.role, pb.password);
    CHECK(PQstatus(conn) != CONNECTION_OK, "b's role opened a's database on the first server");
    PQfinish(conn);
    conn = connect_as(pb.port, pb.db, pa.role, pa.password);
    CHECK(PQstatus(conn) != CONNECTION_OK, "a's role opened b's database on the second server");
    PQfinish(conn);
    passed++;

    /* Through the API: a's key knows nothing of b's transactions and accounts. */
    {
        char auth[200], path[128], body[512], id[64], *resp = NULL;
        const char *h[] = {auth, NULL};
        long status;
        json_t *o;
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", a.api_key);
        snprintf(path, sizeof path, "/v1/transactions/%s", ids[4]);
        status = itest_http("GET", path, h, NULL, &resp, NULL, 0);
        CHECK(status == 404, "a's key read b's transaction: %ld %s", status, resp);
        free(resp);
        snprintf(body, sizeof body,
                 "{\"type\":\"REVERSAL\",\"originalTransactionId\":\"%s\",\"reason\":\"x\"}",
                 ids[4]);
        itest_submit(&a, body, id);
        o = itest_expect_status(&a, id, "FAILED");
        CHECK(strcmp(itest_json_str(o, "failureCode"), "UNKNOWN_TRANSACTION") == 0,
              "a reversing b's transaction: %s", itest_json_str(o, "failureCode"));
        json_decref(o);
        json_decref(itest_expect_status(&b, ids[4], "COMPLETED"));
        deposit_body(body, sizeof body, "1.00", b.account[0]);
        itest_submit(&a, body, id);
        o = itest_expect_status(&a, id, "FAILED");
        CHECK(strcmp(itest_json_str(o, "failureCode"), "UNKNOWN_ACCOUNT") == 0,
              "a crediting b's account: %s", itest_json_str(o, "failureCode"));
        json_decref(o);
        {
            char *v = itest_balance(dbb, b.account[0]);
            CHECK(strcmp(v, "88.00") == 0, "b's balance moved to %s", v);
            free(v);
        }
    }
    passed++;

    {
        char out[4096];
        CHECK(itest_ledgerctl(out, sizeof out, "verify", "--tenant", a.slug, NULL) == 0,
              "verify a: %s", out);
        CHECK(itest_ledgerctl(out, sizeof out, "verify", "--tenant", b.slug, NULL) == 0,
              "verify b: %s", out);
    }
    lg_secret_free(pa.password);
    lg_secret_free(pb.password);
    lg_secret_free(pc.password);
    lg_keyring_free(kr);
    PQfinish(dba);
    PQfinish(dbb);
    PQfinish(s1);
    PQfinish(s2);
    PQfinish(master);
    printf("%d passed, 0 failed\n", passed);
    return 0;
}
