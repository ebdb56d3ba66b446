/*
 * ledgerctl tenant: create (and provision), show, list.
 *
 * Provisioning a tenant: a row in the master (PENDING, password sealed), a role and a database of
 * its own on the chosen server (CONNECT revoked from PUBLIC, so no other tenant's role can even
 * open it), the tenant migrations run as that role, the bank's internal accounts, then ACTIVE.
 * Every step is written to tenant_audit_logs.
 */
#include "ctl.h"

#include "lg_config.h"
#include "lg_db.h"
#include "lg_password.h"
#include "lg_validate.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_migrate_tenant(PGconn *conn, const char *slug);

/* The bank's general-ledger accounts, per currency. Assets and expenses grow on the debit side;
 * liabilities and income on the credit side. */
static const struct {
    const char *gl_code;
    const char *name;
    const char *normal_side;
} internal_accounts[] = {
    {"1000", "Cash", "DEBIT"},
    {"2900", "Suspense", "CREDIT"},
    {"4000", "Fee income", "CREDIT"},
    {"5000", "Interest expense", "DEBIT"},
};

static int slug_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 40 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static int exec_params(PGconn *conn, const char *sql, int n, const char *const *params,
                       const char *what)
{
    char err[512];
    PGresult *res = lg_db_query(conn, sql, n, params, err, sizeof err);
    if (res == NULL) {
        ctl_error("%s: %s", what, err);
        return -1;
    }
    PQclear(res);
    return 0;
}

/* Creates the bank's system user, the bank as a customer, and its internal accounts. */
static int create_internal_accounts(PGconn *db, const char *tenant_name, const char *slug,
                                    const char *currencies)
{
    char err[512], email[128];
    char list[256];
    char *save = NULL;
    PGresult *res;
    const char *user_id, *customer_id;
    int rc = -1;

    snprintf(email, sizeof email, "system@%s.internal", slug);
    if (lg_db_exec(db, "BEGIN", err, sizeof err) != 0)
        goto fail;
    res = lg_db_query(db,
                      "INSERT INTO users (email, password_hash, first_name, last_name, role) "
                      "VALUES ($1, '!', 'System', $2, 'SUPER_ADMIN') RETURNING id",
                      2, (const char *[]){email, tenant_name}, err, sizeof err);
    if (res == NULL)
        goto fail;
    user_id = PQgetvalue(res, 0, 0);
    {
        PGresult *c = lg_db_query(db,
                                  "INSERT INTO customers (user_id, customer_number, customer_type,"
                                  " company_name, kyc_status, kyc_verified_at, kyc_verified_by) "
                                  "VALUES ($1, 'CUST-00000', 'CORPORATE', $2, 'VERIFIED', now(),"
                                  " 'provisioning') RETURNING id",
                                  2, (const char *[]){user_id, tenant_name}, err, sizeof err);
        if (c == NULL) {
            PQclear(res);
            goto fail;
        }
        customer_id = PQgetvalue(c, 0, 0);
        snprintf(list, sizeof list, "%s", currencies);
        for (char *cur = strtok_r(list, ",", &save); cur != NULL; cur = strtok_r(NULL, ",", &save)) {
            for (size_t i = 0; i < sizeof internal_accounts / sizeof internal_accounts[0]; i++) {
                char number[32];
                PGresult *a;
                snprintf(number, sizeof number, "GL-%s-%s", internal_accounts[i].gl_code, cur);
                a = lg_db_query(db,
                                "INSERT INTO accounts (account_number, account_type, customer_id,"
                                " currency, gl_code, normal_side, created_by) VALUES "
                                "($1, 'INTERNAL', $2, $3, $4, $5::entry_type, $6)",
                                6,
                                (const char *[]){number, customer_id, cur,
                                                 internal_accounts[i].gl_code,
                                                 internal_accounts[i].normal_side, user_id},
                                err, sizeof err);
                if (a == NULL) {
                    PQclear(c);
                    PQclear(res);
                    goto fail;
                }
                PQclear(a);
            }
        }
        PQclear(c);
    }
    PQclear(res);
    if (lg_db_exec(db, "COMMIT", err, sizeof err) != 0)
        goto fail;
    return 0;
fail:
    ctl_error("creating the internal accounts: %s", err);
    lg_db_exec(db, "ROLLBACK", err, sizeof err);
    return rc;
}

static int server_coordinates(const char *admin_dsn, char *host, size_t host_size, char *port,
                              size_t port_size)
{
    PQconninfoOption *info = PQconninfoParse(admin_dsn, NULL);
    if (info == NULL)
        return -1;
    snprintf(host, host_size, "127.0.0.1");
    snprintf(port, port_size, "5432");
    for (PQconninfoOption *o = info; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            snprintf(host, host_size, "%s", o->val);
        else if (strcmp(o->keyword, "port") == 0)
            snprintf(port, port_size, "%s", o->val);
    }
    PQconninfoFree(info);
    return 0;
}

static int tenant_create(int argc, char **argv)
{
    ctl_opt opts[] = {{"slug", NULL, 0},         {"name", NULL, 0},
                      {"subdomain", NULL, 0},    {"currencies", NULL, 0},
                      {"admin-dsn", NULL, 0},    {"admin-email", NULL, 0},
                      {"admin-first-name", NULL, 0}, {"admin-last-name", NULL, 0},
                      {NULL, NULL, 0}};
    const char *slug, *name, *subdomain, *currencies, *admin_dsn;
    char err[512], tenant_id[LG_UUID_STRLEN], db_name[64], password[40], host[256], port[8];
    char list[256], *save = NULL;
    char admin_password[LG_PASSWORD_MAX + 1] = "", admin_id[LG_UUID_STRLEN];
    char *sealed = NULL;
    const char *key_id = NULL;
    PGconn *master = NULL, *admin = NULL, *db = NULL;
    lg_keyring *kr = NULL;
    lg_tenant t;
    int rc = CTL_FAIL;

    if (ctl_parse(argc, argv, opts) != 0)
        return CTL_USAGE;
    slug = ctl_get(opts, "slug");
    name = ctl_get(opts, "name");
    subdomain = ctl_get(opts, "subdomain");
    currencies = ctl_get(opts, "currencies");
    admin_dsn = ctl_get(opts, "admin-dsn");
    if (currencies == NULL)
        currencies = "USD";
    if (admin_dsn == NULL)
        admin_dsn = lg_config_str("LEDGER_ADMIN_DSN", NULL);
    if (slug == NULL || name == NULL) {
        ctl_error("tenant create needs --slug and --name");
        return CTL_USAGE;
    }
    if (!slug_ok(slug)) {
        ctl_error("--slug must be 1 to 40 of a-z, 0-9 and '-', not starting or ending with '-'");
        return CTL_USAGE;
    }
    if (subdomain != NULL && !slug_ok(subdomain)) {
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
    if (admin_dsn == NULL) {
        ctl_error("give --admin-dsn or set LEDGER_ADMIN_DSN (a superuser of the server that will "
                  "hold the tenant's database)");
        return CTL_USAGE;
    }
    if (server_coordinates(admin_dsn, host, sizeof host, port, sizeof port) != 0) {
        ctl_error("--admin-dsn is not a valid libpq connection string");
        return CTL_USAGE;
    }

    /* The first SUPER_ADMIN, checked before anything is created. */
    if (ctl_get(opts, "admin-email") != NULL && !ctl_email_valid(ctl_get(opts, "admin-email"))) {
        ctl_error("--admin-email must be an e-mail address");
        return CTL_USAGE;
    }
    if (ctl_get(opts, "admin-email") != NULL &&
        ctl_read_password("password of the first SUPER_ADMIN", admin_password,
                          sizeof admin_password) != 0)
        return CTL_FAIL;

    master = ctl_master();
    kr = ctl_keyring();
    if (master == NULL || kr == NULL)
        goto out;
    {
        PGresult *res = lg_db_query(master, "SELECT 1 FROM tenants WHERE slug = $1", 1,
                                    (const char *[]){slug}, err, sizeof err);
        int exists = res == NULL || PQntuples(res) > 0;
        PQclear(res);
        if (exists) {
            ctl_error(res == NULL ? "reading tenants: %s" : "a tenant with slug \"%s\" exists",
                      res == NULL ? err : slug);
            goto out;
        }
    }
    admin = lg_db_connect(admin_dsn, err, sizeof err);
    if (admin == NULL) {
        ctl_error("admin connection: %s", err);
        goto out;
    }

    lg_uuid_random(tenant_id);
    snprintf(db_name, sizeof db_name, "tenant_%s", slug);
    for (char *p = db_name; *p != '\0'; p++)
        if (*p == '-')
            *p = '_';
    lg_random_password(password, sizeof password, 32);
    if (lg_secret_seal(kr, tenant_id, password, &sealed, &key_id, err, sizeof err) != 0) {
        ctl_error("%s", err);
        goto out;
    }
    if (exec_params(master,
                    "INSERT INTO tenants (id, name, slug, subdomain, db_host, db_port, db_name,"
                    " db_user, db_password, db_password_key_id, settings, created_by) VALUES "
                    "($1, $2, $3, $4, $5, $6::int, $7, $7, $8, $9,"
                    " jsonb_build_object('currencies', string_to_array($10, ',')), $11)",
                    11,
                    (const char *[]){tenant_id, name, slug, subdomain, host, port, db_name, sealed,
                                     key_id, currencies, ctl_operator()},
                    "recording the tenant") != 0 ||
        ctl_tenant_audit(master, tenant_id, "CREATED", NULL) != 0)
        goto out;

    /* The role and the database. Identifiers are quoted; the password goes in as a literal. */
    {
        char *ident = lg_db_quote_ident(admin, db_name);
        char *lit = PQescapeLiteral(admin, password, strlen(password));
        char sql[1024];
        int ok;
        snprintf(sql, sizeof sql, "CREATE ROLE %s LOGIN PASSWORD %s", ident, lit);
        ok = lg_db_exec(admin, sql, err, sizeof err) == 0;
        if (ok) {
            snprintf(sql, sizeof sql, "CREATE DATABASE %s OWNER %s", ident, ident);
            ok = lg_db_exec(admin, sql, err, sizeof err) == 0;
        }
        if (ok) {
            snprintf(sql, sizeof sql,
                     "REVOKE ALL ON DATABASE %s FROM PUBLIC; GRANT CONNECT ON DATABASE %s TO %s",
                     ident, ident, ident);
            ok = lg_db_exec(admin, sql, err, sizeof err) == 0;
        }
        PQfreemem(ident);
        PQfreemem(lit);
        explicit_bzero(sql, sizeof sql);
        if (!ok) {
            ctl_error("creating the tenant's database: %s", err);
            goto out;
        }
    }
    explicit_bzero(password, sizeof password);

    db = ctl_tenant_db(master, kr, slug, &t);
    if (db == NULL)
        goto out;
    /* The tenant database's public schema belongs to its own role only. */
    if (lg_db_exec(db, "REVOKE ALL ON SCHEMA public FROM PUBLIC", err, sizeof err) != 0) {
        ctl_error("%s", err);
        goto out;
    }
    fprintf(stderr, "migrating:\n");
    if (ctl_migrate_tenant(db, slug) != 0 ||
        create_internal_accounts(db, name, slug, currencies) != 0)
        goto out;
    if (ctl_get(opts, "admin-email") != NULL) {
        json_t *m;
        char *meta;
        int failed;
        if (ctl_user_create(db, ctl_get(opts, "admin-email"),
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
        failed = ctl_tenant_audit(master, tenant_id, "ADMIN_USER_CREATED", meta) != 0;
        free(meta);
        if (failed)
            goto out;
    }
    if (ctl_tenant_audit(master, tenant_id, "PROVISIONED",
                         "{\"migrations\": \"applied\", \"internalAccounts\": \"created\"}") != 0 ||
        exec_params(master, "UPDATE tenants SET status = 'ACTIVE' WHERE id = $1", 1,
                    (const char *[]){tenant_id}, "activating the tenant") != 0 ||
        ctl_tenant_audit(master, tenant_id, "ACTIVATED", NULL) != 0)
        goto out;
    fprintf(stderr, "tenant %s (%s) is ACTIVE, database %s on %s:%s\n", slug, name, db_name, host,
            port);
    printf("%s\n", tenant_id);
    rc = CTL_OK;
out:
    explicit_bzero(password, sizeof password);
    explicit_bzero(admin_password, sizeof admin_password);
    free(sealed);
    PQfinish(db);
    PQfinish(admin);
    PQfinish(master);
    lg_keyring_free(kr);
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

int cmd_tenant(int argc, char **argv)
{
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
    ctl_error("usage: ledgerctl tenant create|show|list|suspend|activate|deactivate ...");
    return CTL_USAGE;
}
