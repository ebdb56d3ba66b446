/* ledgerctl: tenants, migrations, keys, fixtures and verification of the ledger. */
#include "ctl.h"
#include "lg_provision.h"

#include "lg_avro.h"
#include "lg_config.h"
#include "lg_db.h"
#include "lg_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ledgerctl COMMAND [options]\n"
    "\n"
    "  keys generate --file PATH        create a master key file (mode 0600)\n"
    "  keys rotate --file PATH          add a new active key and re-seal every tenant secret\n"
    "  init                             create the master database and migrate it\n"
    "  migrate                          migrate the master and every ACTIVE tenant\n"
    "  tenant create --slug S --name N [--subdomain D] [--currencies USD,EUR]\n"
    "                [--admin-dsn DSN | --server NAME]\n"
    "                [--admin-email E [--admin-first-name F] [--admin-last-name L]]\n"
    "                                   create, provision and activate a tenant, with its first\n"
    "                                   SUPER_ADMIN when --admin-email is given (password on stdin)\n"
    "  tenant show --slug S             print a tenant (exit 1 when unknown)\n"
    "  tenant list                      list tenants\n"
    "  tenant update --slug S [--max-users N] [--max-accounts N] [--tier T] [--name N]\n"
    "                [--db-sslmode M] [--db-sslrootcert FILE]\n"
    "                                   change a tenant's limits, tier or name (audited)\n"
    "  tenant suspend|activate|deactivate --slug S [--reason TEXT]\n"
    "                                   change a tenant's status (audited)\n"
    "  admin create --email E --first-name F --last-name L [--role ADMIN]\n"
    "                                   a system administrator: SUPER_ADMIN, ADMIN or SUPPORT\n"
    "                                   (password on stdin)\n"
    "  user create --tenant S --email E --first-name F --last-name L [--role TELLER]\n"
    "                                   a bank's staff user: SUPER_ADMIN, MANAGER or TELLER\n"
    "                                   (password on stdin)\n"
    "  apikey create --tenant S --name N [--role TELLER]\n"
    "                                   issue an API key (printed once, stored hashed)\n"
    "  customer create --tenant S --first-name F --last-name L --email E\n"
    "                                   create a customer; prints the customer number\n"
    "  account open --tenant S --customer CUST-00001 --type CHECKING [--currency USD]\n"
    "               [--overdraft-limit 0.00] [--minimum-balance 0.00]\n"
    "                                   open an account; prints the account number\n"
    "  verify [--tenant S]              check the double-entry invariants; exit 1 on a break\n"
    "  kyc expire [--tenant S]          mark expired identity documents' customers EXPIRED\n"
    "  events tail [--topic ledger.entries|txn.results] [--from-beginning] [--max N]\n"
    "              [--idle-exit SECONDS] [--verify] [--tenant S]\n"
    "                                   print the events as JSON lines (read_committed); with\n"
    "                                   --verify check running balances and unique event ids\n"
    "  backup --dir DIR [--keep N] [--keep-days D] [--hook CMD] [--jobs J] [--tenant S]\n"
    "                                   pg_dump the master and every tenant into DIR/<UTC time>/\n"
    "                                   with manifest.json; keep the newest N / D days of\n"
    "                                   backups; CMD runs for each file (its path in $1 and\n"
    "                                   $LEDGER_BACKUP_FILE); J dumps at a time (default 2);\n"
    "                                   --tenant: the master and that tenant only\n"
    "  restore --tenant S --from DIR/<UTC time>\n"
    "                                   restore a tenant into a new database, check it, switch\n"
    "                                   to it; prints the old database's name (kept)\n"
    "  archive [--older-than 7y] [--tenant S] [--batch 1000] [--dry-run]\n"
    "                                   move settled transactions and their entries older than\n"
    "                                   7y, 18m, 30d or 12h into the archive tables\n"
    "\n"
    "Environment: LEDGER_MASTER_DSN (libpq conninfo of the master database),\n"
    "LEDGER_ADMIN_DSN (a superuser on the server that gets new databases),\n"
    "LEDGER_PG_SERVERS_FILE (lines \"<name> <superuser conninfo>\", for --server),\n"
    "LEDGER_MASTER_KEY_FILE (the master key file), LEDGER_KAFKA_BROKERS (for events),\n"
    "LEDGER_PG_BIN (the folder of pg_dump and pg_restore; default: PATH).\n";

void ctl_error(const char *fmt, ...)
{
    va_list ap;
    fputs("ledgerctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int ctl_parse(int argc, char **argv, ctl_opt *opts)
{
    for (int i = 0; i < argc; i++) {
        ctl_opt *o = NULL;
        if (strncmp(argv[i], "--", 2) != 0) {
            ctl_error("unexpected argument \"%s\"", argv[i]);
            return -1;
        }
        for (ctl_opt *c = opts; c->name != NULL; c++)
            if (strcmp(c->name, argv[i] + 2) == 0)
                o = c;
        if (o == NULL) {
            ctl_error("unknown option %s", argv[i]);
            return -1;
        }
        if (o->is_flag) {
            o->value = "1";
            continue;
        }
        if (i + 1 >= argc) {
            ctl_error("%s needs a value", argv[i]);
            return -1;
        }
        o->value = argv[++i];
    }
    return 0;
}

const char *ctl_get(const ctl_opt *opts, const char *name)
{
    for (const ctl_opt *c = opts; c->name != NULL; c++)
        if (strcmp(c->name, name) == 0)
            return c->value;
    return NULL;
}

const char *ctl_operator(void)
{
    return lg_config_str("LEDGER_OPERATOR", lg_config_str("USER", "ledgerctl"));
}

lg_pg_servers *ctl_servers(const char *why)
{
    char err[512];
    const char *path = lg_config_str("LEDGER_PG_SERVERS_FILE", NULL);
    lg_pg_servers *servers;
    if (path == NULL) {
        ctl_error("LEDGER_PG_SERVERS_FILE is not set (lines \"<name> <superuser conninfo>\"): %s",
                  why);
        return NULL;
    }
    servers = lg_pg_servers_load(path, err, sizeof err);
    if (servers == NULL)
        ctl_error("%s", err);
    return servers;
}

PGconn *ctl_master(void)
{
    char err[512];
    const char *dsn = lg_config_require("LEDGER_MASTER_DSN", err, sizeof err);
    PGconn *conn;
    if (dsn == NULL) {
        ctl_error("%s", err);
        return NULL;
    }
    conn = lg_db_connect(dsn, err, sizeof err);
    if (conn == NULL)
        ctl_error("master database: %s", err);
    else
        lg_db_exec(conn, "SET client_min_messages = warning", err, sizeof err);
    return conn;
}

lg_keyring *ctl_keyring(void)
{
    char err[512];
    const char *path = lg_config_require("LEDGER_MASTER_KEY_FILE", err, sizeof err);
    lg_keyring *kr;
    if (path == NULL) {
        ctl_error("%s", err);
        return NULL;
    }
    kr = lg_keyring_load(path, err, sizeof err);
    if (kr == NULL)
        ctl_error("%s", err);
    return kr;
}

PGconn *ctl_tenant_db(PGconn *master, const lg_keyring *kr, const char *slug, lg_tenant *t)
{
    char err[512], sealed[512], key_id[64];
    PGresult *res = lg_db_query(master,
                                "SELECT id, slug, name, status, db_host, db_port, db_name, "
                                "db_user, db_password, db_password_key_id, "
                                "coalesce(db_sslmode, ''), coalesce(db_sslrootcert, '') FROM tenants "
                                "WHERE slug = $1",
                                1, (const char *[]){slug}, err, sizeof err);
    PGconn *conn;
    if (res == NULL) {
        ctl_error("reading tenants: %s", err);
        return NULL;
    }
    if (PQntuples(res) != 1) {
        ctl_error("no tenant with slug \"%s\" (see `ledgerctl tenant list`)", slug);
        PQclear(res);
        return NULL;
    }
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", PQgetvalue(res, 0, 0));
    snprintf(t->slug, sizeof t->slug, "%s", PQgetvalue(res, 0, 1));
    snprintf(t->name, sizeof t->name, "%s", PQgetvalue(res, 0, 2));
    t->status = (lg_tenant_status)lg_tenant_status_from_name(PQgetvalue(res, 0, 3));
    snprintf(t->db_host, sizeof t->db_host, "%s", PQgetvalue(res, 0, 4));
    snprintf(t->db_port, sizeof t->db_port, "%s", PQgetvalue(res, 0, 5));
    snprintf(t->db_name, sizeof t->db_name, "%s", PQgetvalue(res, 0, 6));
    snprintf(t->db_user, sizeof t->db_user, "%s", PQgetvalue(res, 0, 7));
    snprintf(sealed, sizeof sealed, "%s", PQgetvalue(res, 0, 8));
    snprintf(key_id, sizeof key_id, "%s", PQgetvalue(res, 0, 9));
    snprintf(t->db_sslmode, sizeof t->db_sslmode, "%s", PQgetvalue(res, 0, 10));
    snprintf(t->db_sslrootcert, sizeof t->db_sslrootcert, "%s", PQgetvalue(res, 0, 11));
    PQclear(res);
    conn = lg_tenant_connect(kr, t, sealed, key_id, err, sizeof err);
    if (conn == NULL)
        ctl_error("%s", err);
    else
        lg_db_exec(conn, "SET client_min_messages = warning", err, sizeof err);
    return conn;
}

int ctl_each_tenant(const char *slug,
                    int (*fn)(PGconn *master, const lg_keyring *kr, const char *slug))
{
    char err[512];
    PGconn *master = ctl_master();
    lg_keyring *kr = master != NULL ? ctl_keyring() : NULL;
    int failed = 0;
    if (kr == NULL) {
        PQfinish(master);
        return -1;
    }
    if (slug != NULL) {
        failed = fn(master, kr, slug) != 0;
    } else {
        PGresult *res = lg_db_query(master,
                                    "SELECT slug FROM tenants WHERE status = 'ACTIVE' "
                                    "ORDER BY slug",
                                    0, NULL, err, sizeof err);
        if (res == NULL) {
            ctl_error("%s", err);
            failed = 1;
        }
        for (int i = 0; res != NULL && i < PQntuples(res); i++)
            if (fn(master, kr, PQgetvalue(res, i, 0)) != 0)
                failed++;
        PQclear(res);
    }
    lg_keyring_free(kr);
    PQfinish(master);
    return failed;
}

int ctl_tenant_audit(PGconn *master, const char *tenant_id, const char *action,
                     const char *metadata)
{
    char err[512];
    PGresult *res = lg_db_query(master,
                                "INSERT INTO tenant_audit_logs (tenant_id, action, performed_by, "
                                "metadata) VALUES ($1, $2, $3, $4::jsonb)",
                                4, (const char *[]){tenant_id, action, ctl_operator(), metadata},
                                err, sizeof err);
    if (res == NULL) {
        ctl_error("writing the tenant audit log: %s", err);
        return -1;
    }
    PQclear(res);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } commands[] = {{"keys", cmd_keys},         {"init", cmd_init},
                    {"migrate", cmd_migrate},   {"tenant", cmd_tenant},
                    {"apikey", cmd_apikey},     {"customer", cmd_customer},
                    {"account", cmd_account},   {"verify", cmd_verify},
                    {"admin", cmd_admin},       {"user", cmd_user},
                    {"backup", cmd_backup},     {"restore", cmd_restore},
                    {"archive", cmd_archive},   {"kyc", cmd_kyc},
                    {"events", cmd_events}};
    char err[256];

    lg_log_init("ledgerctl");
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CTL_USAGE : CTL_OK;
    }
    if (lg_crypto_init() != 0 || lg_avro_init(err, sizeof err) != 0) {
        ctl_error("cannot initialise: %s", err);
        return CTL_FAIL;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            int rc = commands[i].run(argc - 2, argv + 2);
            lg_avro_shutdown();
            return rc;
        }
    ctl_error("unknown command \"%s\"\n\n%s", argv[1], usage);
    lg_avro_shutdown();
    return CTL_USAGE;
}
