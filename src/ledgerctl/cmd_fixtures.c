/*
 * ledgerctl apikey, customer, account: the records an operator needs before the management API
 * exists for them (and for scripts that set up a demo or a test).
 */
#include "ctl.h"

#include "lg_accounts.h"
#include "lg_db.h"
#include "lg_money.h"
#include "lg_validate.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const user_roles[] = {"SUPER_ADMIN", "MANAGER", "TELLER", "CUSTOMER", NULL};
static const char *const account_types[] = {"SAVINGS", "CHECKING", "FIXED_DEPOSIT", "LOAN", NULL};

static int one_of(const char *v, const char *const *set)
{
    for (size_t i = 0; set[i] != NULL; i++)
        if (strcmp(v, set[i]) == 0)
            return 1;
    return 0;
}

/* A query that must return one row; prints the error. The caller PQclear()s. */
static PGresult *query_row(PGconn *conn, const char *sql, int n, const char *const *params,
                           const char *what)
{
    char err[512];
    PGresult *res = lg_db_query(conn, sql, n, params, err, sizeof err);
    if (res == NULL) {
        ctl_error("%s: %s", what, err);
        return NULL;
    }
    if (PQntuples(res) != 1) {
        ctl_error("%s: not found", what);
        PQclear(res);
        return NULL;
    }
    return res;
}

static int apikey_create(int argc, char **argv)
{
    ctl_opt opts[] = {{"tenant", NULL, 0}, {"name", NULL, 0}, {"role", NULL, 0}, {NULL, NULL, 0}};
    const char *slug, *name, *role;
    char key[LG_APIKEY_STRLEN], hash[LG_HASH_HEXLEN], email[160], prefix[12];
    PGconn *master = NULL, *db = NULL;
    lg_keyring *kr = NULL;
    PGresult *u = NULL, *k = NULL;
    lg_tenant t;
    int rc = CTL_FAIL;

    if (ctl_parse(argc, argv, opts) != 0)
        return CTL_USAGE;
    slug = ctl_get(opts, "tenant");
    name = ctl_get(opts, "name");
    role = ctl_get(opts, "role");
    if (role == NULL)
        role = "TELLER";
    if (slug == NULL || name == NULL) {
        ctl_error("apikey create needs --tenant and --name");
        return CTL_USAGE;
    }
    if (!one_of(role, user_roles) || strcmp(role, "CUSTOMER") == 0) {
        ctl_error("--role must be TELLER, MANAGER or SUPER_ADMIN");
        return CTL_USAGE;
    }
    if (strlen(name) == 0 || strlen(name) > 64 || strchr(name, '@') != NULL) {
        ctl_error("--name must be 1 to 64 characters, without '@'");
        return CTL_USAGE;
    }
    master = ctl_master();
    kr = ctl_keyring();
    if (master == NULL || kr == NULL || (db = ctl_tenant_db(master, kr, slug, &t)) == NULL)
        goto out;
    /* The key acts as a user of its own, so that transactions record who created them. */
    snprintf(email, sizeof email, "apikey.%s@%s.internal", name, slug);
    u = query_row(db,
                  "INSERT INTO users (email, password_hash, first_name, last_name, role) "
                  "VALUES ($1, '!', 'API key', $2, $3::user_role) RETURNING id",
                  3, (const char *[]){email, name, role}, "creating the key's user");
    if (u == NULL)
        goto out;
    lg_apikey_generate(key);
    lg_hash_hex(key, strlen(key), hash);
    snprintf(prefix, sizeof prefix, "%.10s", key);
    k = query_row(master,
                  "INSERT INTO api_keys (tenant_id, name, key_prefix, key_hash, role, user_id) "
                  "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                  6, (const char *[]){t.id, name, prefix, hash, role, PQgetvalue(u, 0, 0)},
                  "storing the key");
    if (k == NULL)
        goto out;
    ctl_tenant_audit(master, t.id, "API_KEY_ISSUED", NULL);
    fprintf(stderr, "API key %s for tenant %s, role %s (shown once; only its hash is kept)\n",
            name, slug, role);
    printf("%s\n", key);
    rc = CTL_OK;
out:
    sodium_memzero(key, sizeof key);
    PQclear(k);
    PQclear(u);
    PQfinish(db);
    PQfinish(master);
    lg_keyring_free(kr);
    return rc;
}

static int customer_create(int argc, char **argv)
{
    ctl_opt opts[] = {{"tenant", NULL, 0}, {"first-name", NULL, 0}, {"last-name", NULL, 0},
                      {"email", NULL, 0},  {NULL, NULL, 0}};
    const char *slug = NULL, *first, *last, *email;
    char err[512];
    PGconn *master = NULL, *db = NULL;
    lg_keyring *kr = NULL;
    PGresult *u = NULL, *c = NULL;
    lg_tenant t;
    int rc = CTL_FAIL;

    if (ctl_parse(argc, argv, opts) != 0)
        return CTL_USAGE;
    slug = ctl_get(opts, "tenant");
    first = ctl_get(opts, "first-name");
    last = ctl_get(opts, "last-name");
    email = ctl_get(opts, "email");
    if (slug == NULL || first == NULL || last == NULL || email == NULL) {
        ctl_error("customer create needs --tenant, --first-name, --last-name and --email");
        return CTL_USAGE;
    }
    if (strchr(email, '@') == NULL || strlen(email) > 254) {
        ctl_error("--email must be an e-mail address");
        return CTL_USAGE;
    }
    master = ctl_master();
    kr = ctl_keyring();
    if (master == NULL || kr == NULL || (db = ctl_tenant_db(master, kr, slug, &t)) == NULL)
        goto out;
    if (lg_db_exec(db, "BEGIN", err, sizeof err) != 0)
        goto out;
    /* A customer signs in as a user of role CUSTOMER; the password is set when they enrol. */
    u = query_row(db,
                  "INSERT INTO users (email, password_hash, first_name, last_name, role) "
                  "VALUES ($1, '!', $2, $3, 'CUSTOMER') RETURNING id",
                  3, (const char *[]){email, first, last}, "creating the customer's user");
    if (u == NULL)
        goto out;
    c = query_row(db,
                  "INSERT INTO customers (user_id, customer_number) VALUES "
                  "($1, 'CUST-' || translate(format('%5s', nextval('customer_number_seq')), ' ', '0')) "
                  "RETURNING customer_number",
                  1, (const char *[]){PQgetvalue(u, 0, 0)}, "creating the customer");
    if (c == NULL || lg_db_exec(db, "COMMIT", err, sizeof err) != 0)
        goto out;
    printf("%s\n", PQgetvalue(c, 0, 0));
    rc = CTL_OK;
out:
    if (rc != CTL_OK && db != NULL)
        lg_db_exec(db, "ROLLBACK", err, sizeof err);
    PQclear(c);
    PQclear(u);
    PQfinish(db);
    PQfinish(master);
    lg_keyring_free(kr);
    return rc;
}

static int money_opt(const char *text, const char *name, char out[LG_MONEY_STRLEN])
{
    char err[128];
    int64_t v = 0;
    if (text != NULL && lg_money_parse(text, &v, err, sizeof err) != 0) {
        ctl_error("%s: %s", name, err);
        return -1;
    }
    lg_money_format(v, out, LG_MONEY_STRLEN);
    return 0;
}

static int account_open(int argc, char **argv)
{
    ctl_opt opts[] = {{"tenant", NULL, 0},          {"customer", NULL, 0},
                      {"type", NULL, 0},            {"currency", NULL, 0},
                      {"overdraft-limit", NULL, 0}, {"minimum-balance", NULL, 0},
                      {NULL, NULL, 0}};
    const char *slug, *customer, *type, *currency;
    char overdraft[LG_MONEY_STRLEN], minimum[LG_MONEY_STRLEN], number[LG_ACCOUNT_NUMBER_LEN + 1], err[512];
    PGconn *master = NULL, *db = NULL;
    lg_keyring *kr = NULL;
    PGresult *c = NULL, *a = NULL;
    lg_tenant t;
    int rc = CTL_FAIL;

    if (ctl_parse(argc, argv, opts) != 0)
        return CTL_USAGE;
    slug = ctl_get(opts, "tenant");
    customer = ctl_get(opts, "customer");
    type = ctl_get(opts, "type");
    currency = ctl_get(opts, "currency");
    if (currency == NULL)
        currency = "USD";
    if (slug == NULL || customer == NULL || type == NULL) {
        ctl_error("account open needs --tenant, --customer and --type");
        return CTL_USAGE;
    }
    if (!one_of(type, account_types)) {
        ctl_error("--type must be SAVINGS, CHECKING, FIXED_DEPOSIT or LOAN");
        return CTL_USAGE;
    }
    if (!lg_currency_valid(currency)) {
        ctl_error("--currency must be an ISO 4217 code such as USD");
        return CTL_USAGE;
    }
    if (money_opt(ctl_get(opts, "overdraft-limit"), "--overdraft-limit", overdraft) != 0 ||
        money_opt(ctl_get(opts, "minimum-balance"), "--minimum-balance", minimum) != 0)
        return CTL_USAGE;
    master = ctl_master();
    kr = ctl_keyring();
    if (master == NULL || kr == NULL || (db = ctl_tenant_db(master, kr, slug, &t)) == NULL)
        goto out;
    c = query_row(db,
                  "SELECT c.id, (SELECT id FROM users WHERE email LIKE 'system@%' AND "
                  "role = 'SUPER_ADMIN' ORDER BY created_at LIMIT 1) FROM customers c "
                  "WHERE c.customer_number = $1 AND c.deleted_at IS NULL",
                  1, (const char *[]){customer}, "finding the customer");
    if (c == NULL)
        goto out;
    for (int attempt = 0; attempt < 5 && a == NULL; attempt++) {
        lg_account_number_generate(number);
        a = lg_db_query(db,
                        "INSERT INTO accounts (account_number, account_type, customer_id, "
                        "currency, overdraft_limit, minimum_balance, gl_code, normal_side, "
                        "created_by) VALUES ($1, $2::account_type, $3, $4, $5, $6, "
                        "CASE WHEN $2 = 'LOAN' THEN '1200' ELSE '2000' END, "
                        "CASE WHEN $2 = 'LOAN' THEN 'DEBIT' ELSE 'CREDIT' END::entry_type, $7) "
                        "ON CONFLICT (account_number) DO NOTHING RETURNING account_number",
                        7,
                        (const char *[]){number, type, PQgetvalue(c, 0, 0), currency, overdraft,
                                         minimum, PQgetvalue(c, 0, 1)},
                        err, sizeof err);
        if (a == NULL) {
            ctl_error("opening the account: %s", err);
            goto out;
        }
        if (PQntuples(a) == 0) {
            PQclear(a);
            a = NULL;
        }
    }
    if (a == NULL) {
        ctl_error("opening the account: no free account number after 5 tries");
        goto out;
    }
    printf("%s\n", PQgetvalue(a, 0, 0));
    rc = CTL_OK;
out:
    PQclear(a);
    PQclear(c);
    PQfinish(db);
    PQfinish(master);
    lg_keyring_free(kr);
    return rc;
}

int cmd_apikey(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "create") == 0)
        return apikey_create(argc - 1, argv + 1);
    ctl_error("usage: ledgerctl apikey create --tenant S --name N [--role TELLER]");
    return CTL_USAGE;
}

int cmd_customer(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "create") == 0)
        return customer_create(argc - 1, argv + 1);
    ctl_error("usage: ledgerctl customer create --tenant S --first-name F --last-name L "
              "--email E");
    return CTL_USAGE;
}

int cmd_account(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "open") == 0)
        return account_open(argc - 1, argv + 1);
    ctl_error("usage: ledgerctl account open --tenant S --customer N --type T [--currency C]");
    return CTL_USAGE;
}
