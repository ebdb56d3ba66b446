#include "lg_provision.h"

#include "lg_db.h"
#include "lg_migrate.h"
#include "lg_validate.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define SERVERS_MAX     64
#define SERVER_NAME_MAX 32
#define CURRENCY_LEN    3

/* The bank's general-ledger accounts, per currency. Assets and expenses grow on the debit side;
 * liabilities and income on the credit side. */
static const struct {
    const char *gl_code;
    const char *normal_side;
} internal_accounts[] = {
    {"1000", "DEBIT"},  /* cash */
    {"2900", "CREDIT"}, /* suspense */
    {"4000", "CREDIT"}, /* fee income */
    {"5000", "DEBIT"},  /* interest expense */
};

/* ------------------------------------------------------------------ helpers */

/* Runs a statement; on failure returns NULL with err and the SQLSTATE in state ("" when the
 * connection broke). */
static PGresult *query(PGconn *conn, const char *sql, int n, const char *const *params,
                       char state[6], char *err, size_t err_size)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    const char *m;
    state[0] = '\0';
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    snprintf(state, 6, "%s", lg_db_sqlstate(res));
    m = PQerrorMessage(conn);
    snprintf(err, err_size, "%.*s", (int)strcspn(m, "\n"), m);
    PQclear(res);
    return NULL;
}

/* The status a failed statement on conn stands for. */
static lg_provision_status failure_of(PGconn *conn, const char *state)
{
    if (PQstatus(conn) != CONNECTION_OK || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0 || strcmp(state, "53300") == 0)
        return LG_PROVISION_UNAVAILABLE;
    if (strcmp(state, "23505") == 0)
        return LG_PROVISION_CONFLICT;
    if (strcmp(state, "23514") == 0 || strcmp(state, "22P02") == 0)
        return LG_PROVISION_INVALID;
    return LG_PROVISION_FAILED;
}

static void rollback(PGconn *conn)
{
    char err[256];
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
        lg_db_exec(conn, "ROLLBACK", err, sizeof err);
}

int lg_provision_audit(PGconn *master, const char *tenant_id, const char *action,
                       const char *performed_by, const char *metadata, char *err, size_t err_size)
{
    char state[6];
    PGresult *res =
        query(master,
              "INSERT INTO tenant_audit_logs (tenant_id, action, performed_by,"
              " metadata) VALUES ($1, $2, $3, $4::jsonb)",
              4, (const char *[]){tenant_id, action, performed_by, metadata}, state, err, err_size);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/* ------------------------------------------------------------------ servers */

typedef struct {
    char name[SERVER_NAME_MAX + 1];
    char *dsn;
    char host[256];
    char port[8];
} pg_server;

struct lg_pg_servers {
    pg_server servers[SERVERS_MAX];
    size_t n;
};

static int server_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > SERVER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '_'))
            return 0;
    return 1;
}

/* The host and port a conninfo connects to (libpq's defaults spelled out as ledgerctl always
 * did: 127.0.0.1 and 5432). Returns 0, or -1 when it is not a conninfo. */
static int server_coordinates(const char *dsn, char *host, size_t host_size, char *port,
                              size_t port_size)
{
    PQconninfoOption *info = PQconninfoParse(dsn, NULL);
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

/* The TLS settings of a conninfo (sslmode, sslrootcert; "" when it names none), which the
 * tenants placed on that server inherit. */
static void server_tls(const char *dsn, lg_tenant *t)
{
    PQconninfoOption *info = PQconninfoParse(dsn, NULL);
    t->db_sslmode[0] = '\0';
    t->db_sslrootcert[0] = '\0';
    if (info == NULL)
        return;
    for (PQconninfoOption *o = info; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "sslmode") == 0)
            snprintf(t->db_sslmode, sizeof t->db_sslmode, "%s", o->val);
        else if (strcmp(o->keyword, "sslrootcert") == 0)
            snprintf(t->db_sslrootcert, sizeof t->db_sslrootcert, "%s", o->val);
    }
    PQconninfoFree(info);
}

lg_pg_servers *lg_pg_servers_load(const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    lg_pg_servers *s = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;

    if (f == NULL) {
        snprintf(err, err_size, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    while ((len = getline(&line, &cap, f)) >= 0) {
        char *p = line, *dsn;
        size_t name_len;
        pg_server *srv;
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        p += strspn(p, " \t");
        if (*p == '\0' || *p == '#')
            continue;
        name_len = strcspn(p, " \t");
        dsn = p + name_len;
        dsn += strspn(dsn, " \t");
        if (!server_name_ok(p, name_len) || *dsn == '\0') {
            snprintf(err, err_size,
                     "%s line %d: expected \"<name> <libpq conninfo>\" with a name of 1 to %d of "
                     "a-z, 0-9, '-', '_'",
                     path, lineno, SERVER_NAME_MAX);
            goto fail;
        }
        if (s->n == SERVERS_MAX) {
            snprintf(err, err_size, "%s: more than %d servers", path, SERVERS_MAX);
            goto fail;
        }
        srv = &s->servers[s->n];
        snprintf(srv->name, sizeof srv->name, "%.*s", (int)name_len, p);
        if (lg_pg_servers_dsn(s, srv->name) != NULL) {
            snprintf(err, err_size, "%s line %d: server %s appears twice", path, lineno, srv->name);
            goto fail;
        }
        if (server_coordinates(dsn, srv->host, sizeof srv->host, srv->port, sizeof srv->port) !=
            0) {
            snprintf(err, err_size, "%s line %d: the conninfo of server %s is not valid", path,
                     lineno, srv->name);
            goto fail;
        }
        srv->dsn = strdup(dsn);
        if (srv->dsn == NULL) {
            snprintf(err, err_size, "out of memory");
            goto fail;
        }
        s->n++;
    }
    if (s->n == 0) {
        snprintf(err, err_size, "%s names no server", path);
        goto fail;
    }
    free(line);
    fclose(f);
    return s;
fail:
    free(line);
    fclose(f);
    lg_pg_servers_free(s);
    return NULL;
}

void lg_pg_servers_free(lg_pg_servers *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        if (s->servers[i].dsn != NULL)
            explicit_bzero(s->servers[i].dsn, strlen(s->servers[i].dsn));
        free(s->servers[i].dsn);
    }
    free(s);
}

size_t lg_pg_servers_count(const lg_pg_servers *s)
{
    return s != NULL ? s->n : 0;
}

const char *lg_pg_servers_name(const lg_pg_servers *s, size_t i)
{
    return s != NULL && i < s->n ? s->servers[i].name : NULL;
}

const char *lg_pg_servers_dsn(const lg_pg_servers *s, const char *name)
{
    for (size_t i = 0; s != NULL && name != NULL && i < s->n; i++)
        if (strcmp(s->servers[i].name, name) == 0)
            return s->servers[i].dsn;
    return NULL;
}

const char *lg_pg_servers_find(const lg_pg_servers *s, const char *host, const char *port)
{
    for (size_t i = 0; s != NULL && i < s->n; i++)
        if (strcmp(s->servers[i].host, host) == 0 && strcmp(s->servers[i].port, port) == 0)
            return s->servers[i].name;
    return NULL;
}

/* ------------------------------------------------------------------ validation */

int lg_provision_slug_valid(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > LG_SLUG_MAX || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

int lg_provision_name_valid(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > LG_TENANT_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

int lg_provision_tier_valid(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > LG_TIER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '_'))
            return 0;
    return 1;
}

/* Splits "USD,EUR" into codes[][4]. Returns how many, or -1 with err. */
static int parse_currencies(const char *list, char codes[][CURRENCY_LEN + 1], char *err,
                            size_t err_size)
{
    int n = 0;
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        char code[8];
        if (n == LG_CURRENCIES_MAX) {
            snprintf(err, err_size, "at most %d currencies", LG_CURRENCIES_MAX);
            return -1;
        }
        snprintf(code, sizeof code, "%.*s", (int)(len < 7 ? len : 7), p);
        if (len != CURRENCY_LEN || !lg_currency_valid(code)) {
            snprintf(err, err_size, "\"%s\" is not an ISO 4217 code", code);
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (strcmp(codes[i], code) == 0) {
                snprintf(err, err_size, "%s is listed twice", code);
                return -1;
            }
        memcpy(codes[n], code, CURRENCY_LEN + 1);
        n++;
        if (p[len] == '\0')
            return n;
        p += len + 1;
    }
}

/* ------------------------------------------------------------------ provisioning */

/* The bank's system user, the bank as customer CUST-00000, and its internal accounts, in one
 * transaction of the tenant database. */
static int create_internal_accounts(PGconn *db, const char *tenant_name, const char *slug,
                                    char codes[][CURRENCY_LEN + 1], int n_codes, char *err,
                                    size_t err_size)
{
    char email[128], state[6], user_id[LG_UUID_STRLEN], customer_id[LG_UUID_STRLEN];
    PGresult *res;

    snprintf(email, sizeof email, "system@%s.internal", slug);
    if (lg_db_exec(db, "BEGIN", err, err_size) != 0)
        return -1;
    res = query(db,
                "INSERT INTO users (email, password_hash, first_name, last_name, role) "
                "VALUES ($1, '!', 'System', $2, 'SUPER_ADMIN') RETURNING id",
                2, (const char *[]){email, tenant_name}, state, err, err_size);
    if (res == NULL)
        goto fail;
    snprintf(user_id, sizeof user_id, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    res = query(db,
                "INSERT INTO customers (user_id, customer_number, customer_type,"
                " company_name, kyc_status, kyc_verified_at, kyc_verified_by) "
                "VALUES ($1, 'CUST-00000', 'CORPORATE', $2, 'VERIFIED', now(),"
                " 'provisioning') RETURNING id",
                2, (const char *[]){user_id, tenant_name}, state, err, err_size);
    if (res == NULL)
        goto fail;
    snprintf(customer_id, sizeof customer_id, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    for (int c = 0; c < n_codes; c++)
        for (size_t i = 0; i < sizeof internal_accounts / sizeof internal_accounts[0]; i++) {
            char number[96];
            snprintf(number, sizeof number, "GL-%s-%s", internal_accounts[i].gl_code, codes[c]);
            res =
                query(db,
                      "INSERT INTO accounts (account_number, account_type, customer_id,"
                      " currency, gl_code, normal_side, created_by) VALUES "
                      "($1, 'INTERNAL', $2, $3, $4, $5::entry_type, $6)",
                      6,
                      (const char *[]){number, customer_id, codes[c], internal_accounts[i].gl_code,
                                       internal_accounts[i].normal_side, user_id},
                      state, err, err_size);
            if (res == NULL)
                goto fail;
            PQclear(res);
        }
    if (lg_db_exec(db, "COMMIT", err, err_size) != 0)
        goto fail;
    return 0;
fail:
    rollback(db);
    return -1;
}

/* Runs one statement built from quoted identifiers on the admin connection. */
static int admin_exec(PGconn *admin, char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int admin_exec(PGconn *admin, char *err, size_t err_size, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    int rc;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    rc = lg_db_exec(admin, sql, err, err_size);
    explicit_bzero(sql, sizeof sql); /* it may hold the password literal */
    return rc;
}

/* Undoes a failed provisioning: what this call created, in reverse order. */
static void undo_provisioning(PGconn *master, PGconn *admin, const char *tenant_id,
                              const char *db_name, int created_db, int created_role,
                              const char *step, const char *performed_by)
{
    char err[512], meta[256];
    char *ident = admin != NULL ? lg_db_quote_ident(admin, db_name) : NULL;
    if (ident != NULL && created_db)
        admin_exec(admin, err, sizeof err, "DROP DATABASE IF EXISTS %s WITH (FORCE)", ident);
    if (ident != NULL && created_role)
        admin_exec(admin, err, sizeof err, "DROP ROLE IF EXISTS %s", ident);
    PQfreemem(ident);
    {
        char state[6];
        PGresult *res = query(master, "DELETE FROM tenants WHERE id = $1 AND status = 'PENDING'", 1,
                              (const char *[]){tenant_id}, state, err, sizeof err);
        PQclear(res);
    }
    {
        json_t *o = json_pack("{s:s}", "failedStep", step);
        char *text = json_dumps(o, JSON_COMPACT);
        snprintf(meta, sizeof meta, "%s", text != NULL ? text : "{}");
        free(text);
        json_decref(o);
    }
    lg_provision_audit(master, tenant_id, "PROVISIONING_FAILED", performed_by, meta, err,
                       sizeof err);
}

lg_provision_status lg_provision_tenant(PGconn *master, const lg_keyring *kr,
                                        const lg_provision_request *req, lg_tenant *out, char *err,
                                        size_t err_size)
{
    char codes[LG_CURRENCIES_MAX][CURRENCY_LEN + 1], currencies[LG_CURRENCIES_MAX * 4 + 1];
    char e[512], state[6], host[256], port[8], db_name[64], password[40], dir[1024];
    const char *currency_list = req->currencies != NULL ? req->currencies : "USD";
    const char *step = "recording the tenant";
    char *sealed = NULL, *ident = NULL, *lit = NULL;
    const char *key_id = NULL;
    PGconn *admin = NULL, *db = NULL;
    PGresult *res;
    lg_migrate_report rep;
    lg_provision_status rc = LG_PROVISION_FAILED;
    int n_codes, row_inserted = 0, created_role = 0, created_db = 0;
    size_t used = 0;

    memset(out, 0, sizeof *out);
    password[0] = '\0';
    if (err_size > 0)
        err[0] = '\0';
    if (!lg_provision_slug_valid(req->slug)) {
        snprintf(err, err_size,
                 "the slug must be 1 to %d of a-z, 0-9 and '-', not starting or "
                 "ending with '-'",
                 LG_SLUG_MAX);
        return LG_PROVISION_INVALID;
    }
    if (req->subdomain != NULL && !lg_provision_slug_valid(req->subdomain)) {
        snprintf(err, err_size, "the subdomain must be 1 to %d of a-z, 0-9 and '-'", LG_SLUG_MAX);
        return LG_PROVISION_INVALID;
    }
    if (!lg_provision_name_valid(req->name)) {
        snprintf(err, err_size, "the name must be 1 to %d characters", LG_TENANT_NAME_MAX);
        return LG_PROVISION_INVALID;
    }
    n_codes = parse_currencies(currency_list, codes, e, sizeof e);
    if (n_codes < 0) {
        snprintf(err, err_size, "currencies: %s", e);
        return LG_PROVISION_INVALID;
    }
    for (int i = 0; i < n_codes; i++)
        used += (size_t)snprintf(currencies + used, sizeof currencies - used, "%s%s",
                                 i > 0 ? "," : "", codes[i]);
    if (req->admin_dsn == NULL ||
        server_coordinates(req->admin_dsn, host, sizeof host, port, sizeof port) != 0) {
        snprintf(err, err_size,
                 "the server's admin conninfo is not a valid libpq connection "
                 "string");
        return LG_PROVISION_INVALID;
    }

    res = query(master, "SELECT slug = $1 FROM tenants WHERE slug = $1 OR subdomain = $2", 2,
                (const char *[]){req->slug, req->subdomain}, state, e, sizeof e);
    if (res == NULL) {
        snprintf(err, err_size, "reading tenants: %s", e);
        return failure_of(master, state);
    }
    if (PQntuples(res) > 0) {
        int slug_taken = 0;
        for (int i = 0; i < PQntuples(res); i++)
            slug_taken |= PQgetvalue(res, i, 0)[0] == 't';
        if (slug_taken)
            snprintf(err, err_size, "a tenant with slug \"%s\" exists", req->slug);
        else
            snprintf(err, err_size, "a tenant with subdomain \"%s\" exists", req->subdomain);
        PQclear(res);
        return LG_PROVISION_CONFLICT;
    }
    PQclear(res);
    admin = lg_db_connect(req->admin_dsn, e, sizeof e);
    if (admin == NULL) {
        snprintf(err, err_size, "admin connection: %s", e);
        return LG_PROVISION_UNAVAILABLE;
    }
    lg_db_exec(admin, "SET client_min_messages = warning", e, sizeof e);

    lg_uuid_random(out->id);
    snprintf(out->slug, sizeof out->slug, "%s", req->slug);
    snprintf(out->subdomain, sizeof out->subdomain, "%s",
             req->subdomain != NULL ? req->subdomain : "");
    snprintf(out->name, sizeof out->name, "%s", req->name);
    snprintf(out->db_host, sizeof out->db_host, "%s", host);
    snprintf(out->db_port, sizeof out->db_port, "%s", port);
    server_tls(req->admin_dsn, out);
    snprintf(db_name, sizeof db_name, "tenant_%s", req->slug);
    for (char *p = db_name; *p != '\0'; p++)
        if (*p == '-')
            *p = '_';
    snprintf(out->db_name, sizeof out->db_name, "%s", db_name);
    snprintf(out->db_user, sizeof out->db_user, "%s", db_name);
    out->status = LG_TENANT_PENDING;
    lg_random_password(password, sizeof password, 32);
    if (lg_secret_seal(kr, out->id, password, &sealed, &key_id, e, sizeof e) != 0) {
        snprintf(err, err_size, "%s", e);
        goto out;
    }
    res = query(master,
                "INSERT INTO tenants (id, name, slug, subdomain, db_host, db_port, db_name,"
                " db_user, db_password, db_password_key_id, settings, created_by, db_sslmode,"
                " db_sslrootcert) VALUES "
                "($1, $2, $3, $4, $5, $6::int, $7, $7, $8, $9,"
                " jsonb_build_object('currencies', string_to_array($10, ',')), $11,"
                " nullif($12, ''), nullif($13, ''))",
                13,
                (const char *[]){out->id, req->name, req->slug, req->subdomain, host, port, db_name,
                                 sealed, key_id, currencies, req->performed_by, out->db_sslmode,
                                 out->db_sslrootcert},
                state, e, sizeof e);
    if (res == NULL) {
        snprintf(err, err_size, "%s: %s", step, e);
        rc = failure_of(master, state);
        goto out;
    }
    PQclear(res);
    row_inserted = 1;
    if (lg_provision_audit(master, out->id, "CREATED", req->performed_by, req->metadata, e,
                           sizeof e) != 0) {
        snprintf(err, err_size, "%s: %s", step, e);
        goto out;
    }

    /* The role and the database. Identifiers are quoted; the password goes in as a literal. */
    step = "creating the tenant's database";
    ident = lg_db_quote_ident(admin, db_name);
    lit = PQescapeLiteral(admin, password, strlen(password));
    if (ident == NULL || lit == NULL) {
        snprintf(err, err_size, "%s: out of memory", step);
        goto out;
    }
    if (admin_exec(admin, e, sizeof e, "CREATE ROLE %s LOGIN PASSWORD %s", ident, lit) != 0) {
        snprintf(err, err_size, "%s: %s", step, e);
        goto out;
    }
    created_role = 1;
    if (admin_exec(admin, e, sizeof e, "CREATE DATABASE %s OWNER %s", ident, ident) != 0) {
        snprintf(err, err_size, "%s: %s", step, e);
        goto out;
    }
    created_db = 1;
    if (admin_exec(admin, e, sizeof e,
                   "REVOKE ALL ON DATABASE %s FROM PUBLIC; GRANT CONNECT ON DATABASE %s TO %s",
                   ident, ident, ident) != 0) {
        snprintf(err, err_size, "%s: %s", step, e);
        goto out;
    }
    explicit_bzero(password, sizeof password);

    /* From here on, as the tenant's own role, through the sealed password: what the API and
     * the worker will do. */
    step = "connecting as the tenant";
    db = lg_tenant_connect(kr, out, sealed, key_id, e, sizeof e);
    if (db == NULL) {
        snprintf(err, err_size, "%s: %s", step, e);
        goto out;
    }
    lg_db_exec(db, "SET client_min_messages = warning", e, sizeof e);
    /* The tenant database's public schema belongs to its own role only. */
    step = "closing the public schema";
    if (lg_db_exec(db, "REVOKE ALL ON SCHEMA public FROM PUBLIC", e, sizeof e) != 0) {
        snprintf(err, err_size, "%s: %s", step, e);
        goto out;
    }
    step = "migrating the tenant database";
    if (req->progress != NULL)
        fprintf(req->progress, "migrating:\n");
    {
        char label[96];
        snprintf(label, sizeof label, "tenant %s", req->slug);
        snprintf(dir, sizeof dir, "%s/tenant", req->sql_dir);
        if (lg_migrate_apply(db, dir, &rep, e, sizeof e) != 0) {
            if (req->progress != NULL)
                fprintf(req->progress, "  %-32s FAILED  %s\n", label, e);
            snprintf(err, err_size, "%s: %s", step, e);
            goto out;
        }
        if (req->progress != NULL)
            fprintf(req->progress, "  %-32s %s  version %s (%d applied, %d already)\n", label,
                    rep.applied > 0 ? "migrated" : "current ", rep.version, rep.applied,
                    rep.already);
    }
    step = "creating the internal accounts";
    if (create_internal_accounts(db, req->name, req->slug, codes, n_codes, e, sizeof e) != 0) {
        snprintf(err, err_size, "%s: %s", step, e);
        goto out;
    }
    step = "activating the tenant";
    if (lg_provision_audit(master, out->id, "PROVISIONED", req->performed_by,
                           "{\"migrations\": \"applied\", \"internalAccounts\": \"created\"}", e,
                           sizeof e) != 0 ||
        (res = query(master, "UPDATE tenants SET status = 'ACTIVE' WHERE id = $1", 1,
                     (const char *[]){out->id}, state, e, sizeof e)) == NULL) {
        snprintf(err, err_size, "%s: %s", step, e);
        goto out;
    }
    PQclear(res);
    out->status = LG_TENANT_ACTIVE;
    if (lg_provision_audit(master, out->id, "ACTIVATED", req->performed_by, NULL, e, sizeof e) !=
        0) {
        /* The tenant is ACTIVE and works; only its last audit row is missing. */
        snprintf(err, err_size, "the tenant is ACTIVE, but its ACTIVATED audit row failed: %s", e);
    }
    rc = LG_PROVISION_OK;
out:
    if (rc != LG_PROVISION_OK && row_inserted) {
        /* A step after the row failed: undo what this call made. */
        rc = PQstatus(master) != CONNECTION_OK || PQstatus(admin) != CONNECTION_OK
                 ? LG_PROVISION_UNAVAILABLE
                 : LG_PROVISION_FAILED;
        PQfinish(db);
        db = NULL;
        undo_provisioning(master, admin, out->id, db_name, created_db, created_role, step,
                          req->performed_by);
    }
    explicit_bzero(password, sizeof password);
    if (lit != NULL) {
        explicit_bzero(lit, strlen(lit));
        PQfreemem(lit);
    }
    PQfreemem(ident);
    free(sealed);
    PQfinish(db);
    PQfinish(admin);
    return rc;
}

/* ------------------------------------------------------------------ administration */

void lg_tenant_change_init(lg_tenant_change *c)
{
    memset(c, 0, sizeof *c);
    c->max_users = -1;
    c->max_accounts = -1;
}

static void add_change(json_t *changes, const char *field, json_t *before, json_t *after)
{
    json_object_set_new(changes, field, json_pack("{s:o, s:o}", "before", before, "after", after));
}

static json_t *text_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/* Checks a change before it touches the database. Returns 0, or -1 with err. */
static int change_valid(const lg_tenant_change *c, char *err, size_t err_size)
{
    if (c->name != NULL && !lg_provision_name_valid(c->name))
        snprintf(err, err_size, "name must be 1 to %d characters", LG_TENANT_NAME_MAX);
    else if (c->subdomain != NULL && !lg_provision_slug_valid(c->subdomain))
        snprintf(err, err_size, "subdomain must be 1 to %d of a-z, 0-9 and '-'", LG_SLUG_MAX);
    else if (c->max_users < -1 || c->max_users > LG_MAX_USERS_LIMIT)
        snprintf(err, err_size, "maxUsers must be 0 to %d", LG_MAX_USERS_LIMIT);
    else if (c->max_accounts < -1 || c->max_accounts > LG_MAX_ACCOUNTS_LIMIT)
        snprintf(err, err_size, "maxAccounts must be 0 to %d", LG_MAX_ACCOUNTS_LIMIT);
    else if (c->subscription_tier != NULL && !lg_provision_tier_valid(c->subscription_tier))
        snprintf(err, err_size, "subscriptionTier must be 1 to %d of a-z, 0-9, '-' and '_'",
                 LG_TIER_MAX);
    else if (c->settings != NULL && !json_is_object(c->settings))
        snprintf(err, err_size, "settings must be an object");
    else if (c->settings != NULL && json_object_get(c->settings, "currencies") != NULL)
        snprintf(err, err_size, "settings.currencies is fixed when the tenant is provisioned");
    else
        return 0;
    return -1;
}

lg_provision_status lg_provision_update(PGconn *master, const char *tenant_id,
                                        const lg_tenant_change *c, const char *performed_by,
                                        json_t *metadata, json_t **changes_out, char *err,
                                        size_t err_size)
{
    char e[512], state[6], users[24], accounts[24];
    PGresult *res = NULL;
    json_t *changes = json_object(), *settings = NULL, *meta = NULL;
    const char *name, *subdomain, *tier;
    char *settings_text = NULL, *meta_text = NULL;
    long old_users, old_accounts, new_users, new_accounts;
    lg_provision_status rc = LG_PROVISION_FAILED;

    if (changes_out != NULL)
        *changes_out = NULL;
    if (change_valid(c, err, err_size) != 0) {
        json_decref(changes);
        return LG_PROVISION_INVALID;
    }
    if (lg_db_exec(master, "BEGIN", e, sizeof e) != 0) {
        snprintf(err, err_size, "%s", e);
        json_decref(changes);
        return LG_PROVISION_UNAVAILABLE;
    }
    res = query(master,
                "SELECT name, subdomain, max_users, max_accounts, subscription_tier,"
                " coalesce(settings, '{}'::jsonb)::text FROM tenants WHERE id = $1 FOR UPDATE",
                1, (const char *[]){tenant_id}, state, e, sizeof e);
    if (res == NULL) {
        snprintf(err, err_size, "reading the tenant: %s", e);
        rc = failure_of(master, state);
        goto out;
    }
    if (PQntuples(res) == 0) {
        snprintf(err, err_size, "no such tenant");
        rc = LG_PROVISION_NOT_FOUND;
        goto out;
    }
    name = PQgetvalue(res, 0, 0);
    subdomain = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
    old_users = strtol(PQgetvalue(res, 0, 2), NULL, 10);
    old_accounts = strtol(PQgetvalue(res, 0, 3), NULL, 10);
    tier = PQgetvalue(res, 0, 4);
    settings = json_loads(PQgetvalue(res, 0, 5), 0, NULL);
    if (!json_is_object(settings)) {
        json_decref(settings);
        settings = json_object();
    }
    if (c->name != NULL && strcmp(c->name, name) != 0) {
        add_change(changes, "name", json_string(name), json_string(c->name));
        name = c->name;
    }
    if (c->clear_subdomain && subdomain != NULL) {
        add_change(changes, "subdomain", json_string(subdomain), json_null());
        subdomain = NULL;
    } else if (c->subdomain != NULL &&
               (subdomain == NULL || strcmp(c->subdomain, subdomain) != 0)) {
        add_change(changes, "subdomain", text_or_null(subdomain), json_string(c->subdomain));
        subdomain = c->subdomain;
    }
    new_users = c->max_users >= 0 ? c->max_users : old_users;
    if (new_users != old_users)
        add_change(changes, "maxUsers", json_integer(old_users), json_integer(new_users));
    new_accounts = c->max_accounts >= 0 ? c->max_accounts : old_accounts;
    if (new_accounts != old_accounts)
        add_change(changes, "maxAccounts", json_integer(old_accounts), json_integer(new_accounts));
    if (c->subscription_tier != NULL && strcmp(c->subscription_tier, tier) != 0) {
        add_change(changes, "subscriptionTier", json_string(tier),
                   json_string(c->subscription_tier));
        tier = c->subscription_tier;
    }
    if (c->settings != NULL) {
        json_t *merged = json_deep_copy(settings);
        const char *key;
        json_t *value;
        json_object_foreach(c->settings, key, value)
        {
            if (json_is_null(value))
                json_object_del(merged, key);
            else
                json_object_set(merged, key, value);
        }
        if (!json_equal(merged, settings))
            add_change(changes, "settings", json_incref(settings), json_incref(merged));
        json_decref(settings);
        settings = merged;
    }
    if (json_object_size(changes) == 0) {
        rc = LG_PROVISION_OK;
        goto out;
    }
    snprintf(users, sizeof users, "%ld", new_users);
    snprintf(accounts, sizeof accounts, "%ld", new_accounts);
    settings_text = json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS);
    {
        PGresult *u = query(
            master,
            "UPDATE tenants SET name = $2, subdomain = $3, max_users = $4::int,"
            " max_accounts = $5::int, subscription_tier = $6,"
            " settings = $7::jsonb WHERE id = $1",
            7, (const char *[]){tenant_id, name, subdomain, users, accounts, tier, settings_text},
            state, e, sizeof e);
        if (u == NULL) {
            rc = failure_of(master, state);
            if (rc == LG_PROVISION_CONFLICT)
                snprintf(err, err_size, "a tenant with subdomain \"%s\" exists",
                         subdomain != NULL ? subdomain : "");
            else
                snprintf(err, err_size, "updating the tenant: %s", e);
            goto out;
        }
        PQclear(u);
    }
    meta = metadata != NULL ? json_deep_copy(metadata) : json_object();
    json_object_set(meta, "changes", changes);
    meta_text = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
    if (lg_provision_audit(master, tenant_id, "UPDATED", performed_by, meta_text, e, sizeof e) !=
            0 ||
        lg_db_exec(master, "COMMIT", e, sizeof e) != 0) {
        snprintf(err, err_size, "recording the change: %s", e);
        rc = PQstatus(master) != CONNECTION_OK ? LG_PROVISION_UNAVAILABLE : LG_PROVISION_FAILED;
        goto out;
    }
    rc = LG_PROVISION_OK;
out:
    rollback(master);
    if (rc == LG_PROVISION_OK && changes_out != NULL)
        *changes_out = json_incref(changes);
    free(meta_text);
    free(settings_text);
    json_decref(meta);
    json_decref(settings);
    json_decref(changes);
    PQclear(res);
    return rc;
}

lg_provision_status lg_provision_set_status(PGconn *master, const char *tenant_id,
                                            const char *status, const char *action,
                                            const char *performed_by, json_t *metadata, char *err,
                                            size_t err_size)
{
    char e[512], state[6], from[16];
    PGresult *res;
    json_t *meta = NULL;
    char *meta_text = NULL;
    lg_provision_status rc = LG_PROVISION_FAILED;
    int allowed;

    if (lg_tenant_status_from_name(status) < 0) {
        snprintf(err, err_size, "unknown status %s", status);
        return LG_PROVISION_INVALID;
    }
    if (lg_db_exec(master, "BEGIN", e, sizeof e) != 0) {
        snprintf(err, err_size, "%s", e);
        return LG_PROVISION_UNAVAILABLE;
    }
    res = query(master, "SELECT status FROM tenants WHERE id = $1 FOR UPDATE", 1,
                (const char *[]){tenant_id}, state, e, sizeof e);
    if (res == NULL) {
        snprintf(err, err_size, "reading the tenant: %s", e);
        rc = failure_of(master, state);
        goto out;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        snprintf(err, err_size, "no such tenant");
        rc = LG_PROVISION_NOT_FOUND;
        goto out;
    }
    snprintf(from, sizeof from, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (strcmp(status, "ACTIVE") == 0)
        allowed = strcmp(from, "SUSPENDED") == 0;
    else if (strcmp(status, "SUSPENDED") == 0)
        allowed = strcmp(from, "ACTIVE") == 0;
    else if (strcmp(status, "INACTIVE") == 0)
        allowed = strcmp(from, "ACTIVE") == 0 || strcmp(from, "SUSPENDED") == 0;
    else
        allowed = 0;
    if (!allowed) {
        snprintf(err, err_size, "the tenant is %s; it cannot become %s", from, status);
        rc = LG_PROVISION_CONFLICT;
        goto out;
    }
    res = query(master, "UPDATE tenants SET status = $2::tenant_status WHERE id = $1", 2,
                (const char *[]){tenant_id, status}, state, e, sizeof e);
    if (res == NULL) {
        snprintf(err, err_size, "changing the status: %s", e);
        rc = failure_of(master, state);
        goto out;
    }
    PQclear(res);
    meta = metadata != NULL ? json_deep_copy(metadata) : json_object();
    json_object_set_new(meta, "from", json_string(from));
    json_object_set_new(meta, "to", json_string(status));
    meta_text = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
    if (lg_provision_audit(master, tenant_id, action, performed_by, meta_text, e, sizeof e) != 0 ||
        lg_db_exec(master, "COMMIT", e, sizeof e) != 0) {
        snprintf(err, err_size, "recording the change: %s", e);
        rc = PQstatus(master) != CONNECTION_OK ? LG_PROVISION_UNAVAILABLE : LG_PROVISION_FAILED;
        goto out;
    }
    rc = LG_PROVISION_OK;
out:
    rollback(master);
    free(meta_text);
    json_decref(meta);
    return rc;
}

lg_provision_status lg_provision_set_db_tls(PGconn *master, const char *tenant_id,
                                            const char *sslmode, const char *sslrootcert,
                                            const char *performed_by, char *err, size_t err_size)
{
    char e[512], state[6];
    PGresult *res = NULL;
    json_t *meta = NULL, *changes = NULL;
    char *meta_text = NULL;
    lg_tenant probe;
    lg_provision_status rc = LG_PROVISION_FAILED;

    if (sslmode != NULL && sslmode[0] != '\0' && !lg_tenant_sslmode_valid(sslmode)) {
        snprintf(err, err_size, "the sslmode must be disable, allow, prefer, require, verify-ca "
                                "or verify-full");
        return LG_PROVISION_INVALID;
    }
    if (sslrootcert != NULL && strlen(sslrootcert) >= sizeof probe.db_sslrootcert) {
        snprintf(err, err_size, "the sslrootcert path is too long");
        return LG_PROVISION_INVALID;
    }
    if (lg_db_exec(master, "BEGIN", e, sizeof e) != 0) {
        snprintf(err, err_size, "%s", e);
        return LG_PROVISION_UNAVAILABLE;
    }
    /* NULL leaves a setting as it is; "" clears it (back to the default). */
    res = query(master,
                "WITH old AS (SELECT db_sslmode, db_sslrootcert FROM tenants WHERE id = $1"
                " FOR UPDATE)"
                " UPDATE tenants t SET"
                " db_sslmode = CASE WHEN $2::text IS NULL THEN t.db_sslmode ELSE nullif($2, '') END,"
                " db_sslrootcert = CASE WHEN $3::text IS NULL THEN t.db_sslrootcert"
                " ELSE nullif($3, '') END"
                " FROM old WHERE t.id = $1"
                " RETURNING jsonb_build_object("
                " 'dbSslmode', jsonb_build_object('before', old.db_sslmode, 'after', t.db_sslmode),"
                " 'dbSslrootcert', jsonb_build_object('before', old.db_sslrootcert,"
                " 'after', t.db_sslrootcert))::text",
                3, (const char *[]){tenant_id, sslmode, sslrootcert}, state, e, sizeof e);
    if (res == NULL) {
        snprintf(err, err_size, "updating the tenant: %s", e);
        rc = failure_of(master, state);
        goto out;
    }
    if (PQntuples(res) == 0) {
        snprintf(err, err_size, "no such tenant");
        rc = LG_PROVISION_NOT_FOUND;
        goto out;
    }
    changes = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    meta = json_pack("{s:O}", "changes", changes);
    meta_text = meta != NULL ? json_dumps(meta, JSON_COMPACT) : NULL;
    if (meta_text == NULL) {
        snprintf(err, err_size, "out of memory");
        goto out;
    }
    if (lg_provision_audit(master, tenant_id, "UPDATED", performed_by, meta_text, e, sizeof e) !=
        0) {
        snprintf(err, err_size, "%s", e);
        goto out;
    }
    if (lg_db_exec(master, "COMMIT", e, sizeof e) != 0) {
        snprintf(err, err_size, "%s", e);
        rc = LG_PROVISION_UNAVAILABLE;
        goto out;
    }
    rc = LG_PROVISION_OK;
out:
    if (rc != LG_PROVISION_OK)
        lg_db_exec(master, "ROLLBACK", e, sizeof e);
    PQclear(res);
    free(meta_text);
    json_decref(meta);
    json_decref(changes);
    return rc;
}
