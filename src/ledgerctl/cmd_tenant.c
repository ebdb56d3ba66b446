/*
 * ledgerctl tenant: create (and provision), show, list, update, and the lifecycle.
 *
 * Provisioning a tenant (src/common/lg_provision.c, which the API's system plane calls too): a
 * row in the master (PENDING, password sealed), a role and a database of its own on the chosen
 * server (CONNECT revoked from PUBLIC, so no other tenant's role can even open it), the tenant
 * migrations run as that role, the bank's internal accounts, then ACTIVE. Every step is written
 * to tenant_audit_logs.
 */
#include "ctl.h"

#include "lg_config.h"
#include "lg_db.h"
#include "lg_password.h"
#include "lg_provision.h"
#include "lg_validate.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The superuser conninfo of --server NAME, from LEDGER_PG_SERVERS_FILE; NULL after an error.
 * Free *servers with lg_pg_servers_free (the conninfo lives in it). */
static const char *server_dsn(const char *name, lg_pg_servers **servers)
{
    const char *dsn;
    *servers = ctl_servers("--server names one of its servers");
    if (*servers == NULL)
        return NULL;
    dsn = lg_pg_servers_dsn(*servers, name);
    if (dsn == NULL)
        ctl_error("no server \"%s\" in %s", name, lg_config_str("LEDGER_PG_SERVERS_FILE", ""));
    return dsn;
}

static int tenant_create(int argc, char **argv)
{
    ctl_opt opts[] = {{"slug", NULL, 0},          {"name", NULL, 0},
                      {"subdomain", NULL, 0},     {"currencies", NULL, 0},
                      {"admin-dsn", NULL, 0},     {"server", NULL, 0},
                      {"admin-email", NULL, 0},   {"admin-first-name", NULL, 0},
                      {"admin-last-name", NULL, 0}, {NULL, NULL, 0}};
    const char *slug, *name, *subdomain, *currencies, *admin_dsn, *server;
    char err[512], list[256], *save = NULL;
    char admin_password[LG_PASSWORD_MAX + 1] = "", admin_id[LG_UUID_STRLEN];
    PGconn *master = NULL, *db = NULL;
    lg_keyring *kr = NULL;
    lg_pg_servers *servers = NULL;
    lg_provision_request req;
    lg_tenant t;
    PQconninfoOption *info;
    int rc = CTL_FAIL;

    if (ctl_parse(argc, argv, opts) != 0)
        return CTL_USAGE;
    slug = ctl_get(opts, "slug");
    name = ctl_get(opts, "name");
    subdomain = ctl_get(opts, "subdomain");
    currencies = ctl_get(opts, "currencies");
    admin_dsn = ctl_get(opts, "admin-dsn");
    server = ctl_get(opts, "server");
    if (currencies == NULL)
        currencies = "USD";
    if (admin_dsn != NULL && server != NULL) {
        ctl_error("give --admin-dsn or --server, not both");
        return CTL_USAGE;
    }
    if (admin_dsn == NULL && server == NULL)
        admin_dsn = lg_config_str("LEDGER_ADMIN_DSN", NULL);
    if (slug == NULL || name == NULL) {
        ctl_error("tenant create needs --slug and --name");
        return CTL_USAGE;
    }
    if (!lg_provision_slug_valid(slug)) {
        ctl_error("--slug must be 1 to 40 of a-z, 0-9 and '-', not starting or ending with '-'");
        return CTL_USAGE;
    }
    if (subdomain != NULL && !lg_provision_slug_valid(subdomain)) {
        ctl_error("--subdomain must be 1 to 40 of a-z, 0-9 and '-'");
        return CTL_USAGE;
    }
    if (name[0] == '\0' || strlen(name) > 200) {
        ctl_error("--name must be 1 to 200 characters");
        return CTL_USAGE;
    }
    snprintf(list, sizeof list, "%s", currencies);
    for (char *c = strtok_r(list, ",", &save); c != NULL; c = strtok_r(NULL, ",", &save))
        if (!lg_currency_valid(c)) {
            ctl_error("--currencies: \"%s\" is not an ISO 4217 code", c);
            return CTL_USAGE;
        }
    if (server != NULL && (admin_dsn = server_dsn(server, &servers)) == NULL) {
        lg_pg_servers_free(servers);
        return CTL_USAGE;
    }
    if (admin_dsn == NULL) {
        ctl_error("give --admin-dsn or set LEDGER_ADMIN_DSN (a superuser of the server that will "
                  "hold the tenant's database), or --server NAME");
        return CTL_USAGE;
    }
    if (ctl_get(opts, "admin-email") != NULL && !ctl_email_valid(ctl_get(opts, "admin-email"))) {
        ctl_error("--admin-email must be an e-mail address");
        lg_pg_servers_free(servers);
        return CTL_USAGE;
    }
    /* The first SUPER_ADMIN's password is read (and checked) before anything is created. */
    if (ctl_get(opts, "admin-email") != NULL &&
        ctl_read_password("password of the first SUPER_ADMIN", admin_password,
                          sizeof admin_password) != 0) {
        lg_pg_servers_free(servers);
        return CTL_USAGE;
    }
    info = PQconninfoParse(admin_dsn, NULL);
    if (info == NULL) {
        ctl_error("--admin-dsn is not a valid libpq connection string");
        lg_pg_servers_free(servers);
        return CTL_USAGE;
    }
    PQconninfoFree(info);

    master = ctl_master();
    kr = ctl_keyring();
    if (master == NULL || kr == NULL)
        goto out;
    memset(&req, 0, sizeof req);
    req.slug = slug;
    req.name = name;
    req.subdomain = subdomain;
    req.currencies = currencies;
    req.admin_dsn = admin_dsn;
    req.sql_dir = lg_config_str("LEDGER_SQL_DIR", LEDGER_SQL_DIR);
    req.performed_by = ctl_operator();
    req.progress = stderr;
    if (lg_provision_tenant(master, kr, &req, &t, err, sizeof err) != LG_PROVISION_OK) {
        ctl_error("%s", err);
        goto out;
    }
    if (err[0] != '\0')
        ctl_error("warning: %s", err);
    if (ctl_get(opts, "admin-email") != NULL) {
        json_t *m;
        char *meta;
        int failed;
        db = ctl_tenant_db(master, kr, slug, &t);
        if (db == NULL ||
            ctl_user_create(db, ctl_get(opts, "admin-email"),
                            ctl_get(opts, "admin-first-name") != NULL
                                ? ctl_get(opts, "admin-first-name")
                                : "Bank",
                            ctl_get(opts, "admin-last-name") != NULL
                                ? ctl_get(opts, "admin-last-name")
                                : "Administrator",
                            "SUPER_ADMIN", admin_password, admin_id) != 0)
            goto out;
        m = json_pack("{s:s, s:s, s:s}", "userId", admin_id, "email",
                      ctl_get(opts, "admin-email"), "role", "SUPER_ADMIN");
        meta = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(m);
        failed = ctl_tenant_audit(master, t.id, "ADMIN_USER_CREATED", meta) != 0;
        free(meta);
        if (failed)
            goto out;
    }
    fprintf(stderr, "tenant %s (%s) is ACTIVE, database %s on %s:%s\n", slug, name, t.db_name,
            t.db_host, t.db_port);
    printf("%s\n", t.id);
    rc = CTL_OK;
out:
    explicit_bzero(admin_password, sizeof admin_password);
    PQfinish(db);
    PQfinish(master);
    lg_keyring_free(kr);
    lg_pg_servers_free(servers);
    return rc;
}

static int tenant_show(int argc, char **argv)
{
    ctl_opt opts[] = {{"slug", NULL, 0}, {NULL, NULL, 0}};
    char err[512];
    PGconn *master;
    PGresult *res;
    int rc = CTL_FAIL;
    if (ctl_parse(argc, argv, opts) != 0 || ctl_get(opts, "slug") == NULL) {
        ctl_error("usage: ledgerctl tenant show --slug S");
        return CTL_USAGE;
    }
    master = ctl_master();
    if (master == NULL)
        return CTL_FAIL;
    res = lg_db_query(master,
                      "SELECT id, slug, name, status, db_host, db_port, db_name, max_users,"
                      " max_accounts, subscription_tier, created_at FROM tenants WHERE slug = $1",
                      1, (const char *[]){ctl_get(opts, "slug")}, err, sizeof err);
    if (res == NULL) {
        ctl_error("%s", err);
    } else if (PQntuples(res) == 0) {
        ctl_error("no tenant with slug \"%s\"", ctl_get(opts, "slug"));
    } else {
        for (int c = 0; c < PQnfields(res); c++)
            printf("%-18s %s\n", PQfname(res, c), PQgetvalue(res, 0, c));
        rc = CTL_OK;
    }
    PQclear(res);
    PQfinish(master);
    return rc;
}

static int tenant_list(void)
{
    char err[512];
    PGconn *master = ctl_master();
    PGresult *res;
    if (master == NULL)
        return CTL_FAIL;
    res = lg_db_query(master,
                      "SELECT slug, status, db_host || ':' || db_port || '/' || db_name, name "
                      "FROM tenants ORDER BY slug",
                      0, NULL, err, sizeof err);
    if (res == NULL) {
        ctl_error("%s", err);
        PQfinish(master);
        return CTL_FAIL;
    }
    printf("%-24s %-10s %-36s %s\n", "SLUG", "STATUS", "DATABASE", "NAME");
    for (int i = 0; i < PQntuples(res); i++)
        printf("%-24s %-10s %-36s %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
               PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
    PQclear(res);
    PQfinish(master);
    return CTL_OK;
}

/* suspend, activate, deactivate: the lifecycle after provisioning, each written to the audit
 * log. A suspended tenant's API is closed and its queued commands fail; an inactive one is gone
 * from routing. */
static int tenant_set_status(int argc, char **argv, const char *status, const char *action)
{
    ctl_opt opts[] = {{"slug", NULL, 0}, {"reason", NULL, 0}, {NULL, NULL, 0}};
    char err[512];
    PGconn *master;
    PGresult *res;
    json_t *meta;
    char *meta_text;
    int rc = CTL_FAIL;
    if (ctl_parse(argc, argv, opts) != 0 || ctl_get(opts, "slug") == NULL) {
        ctl_error("usage: ledgerctl tenant %s --slug S [--reason TEXT]", argv[-1]);
        return CTL_USAGE;
    }
    master = ctl_master();
    if (master == NULL)
        return CTL_FAIL;
    res = lg_db_query(master,
                      "UPDATE tenants SET status = $2::tenant_status WHERE slug = $1"
                      " AND status IN ('ACTIVE', 'SUSPENDED') RETURNING id",
                      2, (const char *[]){ctl_get(opts, "slug"), status}, err, sizeof err);
    if (res == NULL) {
        ctl_error("%s", err);
    } else if (PQntuples(res) == 0) {
        ctl_error("no ACTIVE or SUSPENDED tenant with slug \"%s\"", ctl_get(opts, "slug"));
    } else {
        meta = json_pack("{s:s?}", "reason", ctl_get(opts, "reason"));
        meta_text = json_dumps(meta, JSON_COMPACT);
        if (ctl_tenant_audit(master, PQgetvalue(res, 0, 0), action, meta_text) == 0) {
            fprintf(stderr, "tenant %s is %s\n", ctl_get(opts, "slug"), status);
            rc = CTL_OK;
        }
        free(meta_text);
        json_decref(meta);
    }
    PQclear(res);
    PQfinish(master);
    return rc;
}

/* Reads a whole number option; -1 when absent. Returns 0, or -1 after an error message. */
static int long_opt(const ctl_opt *opts, const char *name, long max, long *out)
{
    const char *v = ctl_get(opts, name);
    char *end = NULL;
    *out = -1;
    if (v == NULL)
        return 0;
    *out = strtol(v, &end, 10);
    if (v[0] == '\0' || strspn(v, "0123456789") != strlen(v) || *end != '\0' || *out > max) {
        ctl_error("--%s must be a whole number from 0 to %ld", name, max);
        return -1;
    }
    return 0;
}

/* update: limits, tier and name, written to the audit log with their before and after. The API
 * and the worker see the change within their routing cache's 5 seconds. */
static int tenant_update(int argc, char **argv)
{
    ctl_opt opts[] = {{"slug", NULL, 0},       {"max-users", NULL, 0},
                      {"max-accounts", NULL, 0}, {"tier", NULL, 0},
                      {"name", NULL, 0},       {"db-sslmode", NULL, 0},
                      {"db-sslrootcert", NULL, 0}, {NULL, NULL, 0}};
    const char *sslmode, *sslrootcert;
    char err[512];
    const char *slug;
    lg_tenant_change c;
    json_t *changes = NULL;
    PGconn *master;
    PGresult *res;
    lg_provision_status st;
    int rc = CTL_FAIL;

    lg_tenant_change_init(&c);
    if (ctl_parse(argc, argv, opts) != 0 || (slug = ctl_get(opts, "slug")) == NULL) {
        ctl_error("usage: ledgerctl tenant update --slug S [--max-users N] [--max-accounts N] "
                  "[--tier T] [--name N] [--db-sslmode M] [--db-sslrootcert FILE]");
        return CTL_USAGE;
    }
    if (long_opt(opts, "max-users", LG_MAX_USERS_LIMIT, &c.max_users) != 0 ||
        long_opt(opts, "max-accounts", LG_MAX_ACCOUNTS_LIMIT, &c.max_accounts) != 0)
        return CTL_USAGE;
    c.subscription_tier = ctl_get(opts, "tier");
    c.name = ctl_get(opts, "name");
    if (c.subscription_tier != NULL && !lg_provision_tier_valid(c.subscription_tier)) {
        ctl_error("--tier must be 1 to %d of a-z, 0-9, '-' and '_'", LG_TIER_MAX);
        return CTL_USAGE;
    }
    if (c.name != NULL && !lg_provision_name_valid(c.name)) {
        ctl_error("--name must be 1 to %d characters", LG_TENANT_NAME_MAX);
        return CTL_USAGE;
    }
    sslmode = ctl_get(opts, "db-sslmode");
    sslrootcert = ctl_get(opts, "db-sslrootcert");
    if (sslmode != NULL && sslmode[0] != '\0' && !lg_tenant_sslmode_valid(sslmode)) {
        ctl_error("--db-sslmode must be disable, allow, prefer, require, verify-ca or "
                  "verify-full (\"\" for the default)");
        return CTL_USAGE;
    }
    master = ctl_master();
    if (master == NULL)
        return CTL_FAIL;
    res = lg_db_query(master, "SELECT id FROM tenants WHERE slug = $1", 1,
                      (const char *[]){slug}, err, sizeof err);
    if (res == NULL) {
        ctl_error("%s", err);
        goto out;
    }
    if (PQntuples(res) == 0) {
        ctl_error("no tenant with slug \"%s\"", slug);
        PQclear(res);
        goto out;
    }
    st = lg_provision_update(master, PQgetvalue(res, 0, 0), &c, ctl_operator(), NULL, &changes,
                             err, sizeof err);
    if (st == LG_PROVISION_OK && (sslmode != NULL || sslrootcert != NULL)) {
        st = lg_provision_set_db_tls(master, PQgetvalue(res, 0, 0), sslmode, sslrootcert,
                                     ctl_operator(), err, sizeof err);
        if (st == LG_PROVISION_OK)
            fprintf(stderr, "tenant %s: database TLS sslmode %s, sslrootcert %s\n", slug,
                    sslmode != NULL ? (sslmode[0] != '\0' ? sslmode : "(default)") : "unchanged",
                    sslrootcert != NULL ? (sslrootcert[0] != '\0' ? sslrootcert : "(default)")
                                        : "unchanged");
    }
    PQclear(res);
    if (st != LG_PROVISION_OK) {
        ctl_error("%s", err);
        goto out;
    }
    if (json_object_size(changes) == 0) {
        if (sslmode == NULL && sslrootcert == NULL)
            fprintf(stderr, "tenant %s: nothing to change\n", slug);
    } else {
        const char *field;
        json_t *change;
        json_object_foreach(changes, field, change)
        {
            char *before = json_dumps(json_object_get(change, "before"), JSON_ENCODE_ANY);
            char *after = json_dumps(json_object_get(change, "after"), JSON_ENCODE_ANY);
            fprintf(stderr, "tenant %s: %s %s -> %s\n", slug, field, before, after);
            free(before);
            free(after);
        }
    }
    rc = CTL_OK;
out:
    json_decref(changes);
    PQfinish(master);
    return rc;
}

int cmd_tenant(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "update") == 0)
        return tenant_update(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "suspend") == 0)
        return tenant_set_status(argc - 1, argv + 1, "SUSPENDED", "SUSPENDED");
    if (argc >= 1 && strcmp(argv[0], "activate") == 0)
        return tenant_set_status(argc - 1, argv + 1, "ACTIVE", "ACTIVATED");
    if (argc >= 1 && strcmp(argv[0], "deactivate") == 0)
        return tenant_set_status(argc - 1, argv + 1, "INACTIVE", "DEACTIVATED");
    if (argc >= 1 && strcmp(argv[0], "create") == 0)
        return tenant_create(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "show") == 0)
        return tenant_show(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "list") == 0)
        return tenant_list();
    ctl_error("usage: ledgerctl tenant create|show|list|update|suspend|activate|deactivate ...");
    return CTL_USAGE;
}
