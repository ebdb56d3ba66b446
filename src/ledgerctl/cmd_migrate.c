/* ledgerctl init and migrate: the master database and every ACTIVE tenant's. */
#include "ctl.h"

#include "lg_config.h"
#include "lg_db.h"
#include "lg_migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *sql_dir(void)
{
    return lg_config_str("LEDGER_SQL_DIR", LEDGER_SQL_DIR);
}

static int migrate_conn(PGconn *conn, const char *which, const char *label)
{
    char dir[1024], err[1024];
    lg_migrate_report rep;
    snprintf(dir, sizeof dir, "%s/%s", sql_dir(), which);
    if (lg_migrate_apply(conn, dir, &rep, err, sizeof err) != 0) {
        fprintf(stderr, "  %-32s FAILED  %s\n", label, err);
        return -1;
    }
    fprintf(stderr, "  %-32s %s  version %s (%d applied, %d already)\n", label,
            rep.applied > 0 ? "migrated" : "current ", rep.version, rep.applied, rep.already);
    return 0;
}

int cmd_init(int argc, char **argv)
{
    ctl_opt opts[] = {{"admin-dsn", NULL, 0}, {NULL, NULL, 0}};
    char err[512];
    const char *admin_dsn, *master_dsn;
    PQconninfoOption *info, *o;
    const char *dbname = NULL;
    PGconn *admin, *master;
    PGresult *res;
    int rc = CTL_FAIL;

    if (ctl_parse(argc, argv, opts) != 0)
        return CTL_USAGE;
    admin_dsn = ctl_get(opts, "admin-dsn");
    if (admin_dsn == NULL)
        admin_dsn = lg_config_require("LEDGER_ADMIN_DSN", err, sizeof err);
    master_dsn = lg_config_require("LEDGER_MASTER_DSN", err, sizeof err);
    if (admin_dsn == NULL || master_dsn == NULL) {
        ctl_error("%s", err);
        return CTL_USAGE;
    }
    info = PQconninfoParse(master_dsn, NULL);
    if (info == NULL) {
        ctl_error("LEDGER_MASTER_DSN is not a valid libpq connection string");
        return CTL_USAGE;
    }
    for (o = info; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "dbname") == 0 && o->val != NULL)
            dbname = o->val;
    if (dbname == NULL) {
        ctl_error("LEDGER_MASTER_DSN names no dbname");
        PQconninfoFree(info);
        return CTL_USAGE;
    }
    admin = lg_db_connect(admin_dsn, err, sizeof err);
    if (admin == NULL) {
        ctl_error("admin connection: %s", err);
        PQconninfoFree(info);
        return CTL_FAIL;
    }
    res = lg_db_query(admin, "SELECT 1 FROM pg_database WHERE datname = $1", 1,
                      (const char *[]){dbname}, err, sizeof err);
    if (res != NULL && PQntuples(res) == 0) {
        char *ident = lg_db_quote_ident(admin, dbname);
        char sql[512];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", ident);
        PQfreemem(ident);
        if (lg_db_exec(admin, sql, err, sizeof err) != 0) {
            ctl_error("creating the master database: %s", err);
            goto out;
        }
        fprintf(stderr, "created the master database %s\n", dbname);
    } else if (res == NULL) {
        ctl_error("%s", err);
        goto out;
    }
    master = ctl_master();
    if (master == NULL)
        goto out;
    fprintf(stderr, "migrating:\n");
    rc = migrate_conn(master, "master", "master") == 0 ? CTL_OK : CTL_FAIL;
    PQfinish(master);
out:
    PQclear(res);
    PQfinish(admin);
    PQconninfoFree(info);
    return rc;
}

int cmd_migrate(int argc, char **argv)
{
    ctl_opt opts[] = {{"master-only", NULL, 1}, {NULL, NULL, 0}};
    char err[512];
    PGconn *master;
    lg_keyring *kr = NULL;
    PGresult *res = NULL;
    int failed = 0, n = 0;

    if (ctl_parse(argc, argv, opts) != 0)
        return CTL_USAGE;
    master = ctl_master();
    if (master == NULL)
        return CTL_FAIL;
    fprintf(stderr, "migrating:\n");
    if (migrate_conn(master, "master", "master") != 0) {
        PQfinish(master);
        return CTL_FAIL;
    }
    if (ctl_get(opts, "master-only") != NULL) {
        PQfinish(master);
        return CTL_OK;
    }
    kr = ctl_keyring();
    if (kr == NULL) {
        PQfinish(master);
        return CTL_FAIL;
    }
    res = lg_db_query(master, "SELECT slug FROM tenants WHERE status = 'ACTIVE' ORDER BY slug", 0,
                      NULL, err, sizeof err);
    if (res == NULL) {
        ctl_error("listing tenants: %s", err);
        failed = 1;
    }
    for (int i = 0; res != NULL && i < PQntuples(res); i++) {
        const char *slug = PQgetvalue(res, i, 0);
        char label[96];
        lg_tenant t;
        PGconn *conn = ctl_tenant_db(master, kr, slug, &t);
        snprintf(label, sizeof label, "tenant %s", slug);
        n++;
        if (conn == NULL || migrate_conn(conn, "tenant", label) != 0)
            failed++;
        PQfinish(conn);
    }
    fprintf(stderr, "%d tenant(s), %d failed\n", n, failed);
    PQclear(res);
    lg_keyring_free(kr);
    PQfinish(master);
    return failed ? CTL_FAIL : CTL_OK;
}
