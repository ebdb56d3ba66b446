/*
 * Tenant provisioning and administration, shared by ledgerctl and the API's system plane so that
 * both do exactly the same thing.
 *
 * Provisioning a tenant, in order, each step written to tenant_audit_logs:
 *   1. a row in the master, PENDING, its database password sealed under the active master key
 *      with the tenant id as associated data                                     (CREATED)
 *   2. on the chosen PostgreSQL server, as its superuser: a role and a database of the tenant's
 *      own, CONNECT revoked from PUBLIC (no other tenant's role can even open it)
 *   3. as the tenant's role: the public schema closed to PUBLIC, the tenant migrations, the
 *      bank's system user, the bank as customer CUST-00000 and its internal general-ledger
 *      accounts (1000 cash, 2900 suspense, 4000 fee income, 5000 interest expense) per
 *      currency                                                                  (PROVISIONED)
 *   4. ACTIVE                                                                    (ACTIVATED)
 * A failure after step 1 undoes what this call created (database, role, row) and writes
 * PROVISIONING_FAILED, so the slug can be tried again.
 *
 * PostgreSQL servers: a file (LEDGER_PG_SERVERS_FILE) names the servers tenants may be placed
 * on, one per line: "<name> <libpq conninfo of a superuser>"; '#' starts a comment. It holds
 * superuser passwords: keep it mode 0600.
 */
#ifndef LG_PROVISION_H
#define LG_PROVISION_H

#include "lg_tenant.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>

#define LG_TENANT_NAME_MAX    200
#define LG_SLUG_MAX           40
#define LG_TIER_MAX           32
#define LG_CURRENCIES_MAX     16
#define LG_MAX_USERS_LIMIT    1000000
#define LG_MAX_ACCOUNTS_LIMIT 100000000

typedef enum {
    LG_PROVISION_OK = 0,
    LG_PROVISION_INVALID,     /* the request breaks a rule; err says which */
    LG_PROVISION_CONFLICT,    /* the slug or subdomain is taken; a status change not allowed */
    LG_PROVISION_NOT_FOUND,   /* no such tenant */
    LG_PROVISION_UNAVAILABLE, /* a database could not be reached; nothing was done */
    LG_PROVISION_FAILED       /* a step failed; what was created is undone */
} lg_provision_status;

/* ------------------------------------------------------------------ servers */

typedef struct lg_pg_servers lg_pg_servers;

/* Reads a servers file. Returns NULL with err (the file, the line, what is wrong; never a
 * password). Free with lg_pg_servers_free. */
lg_pg_servers *lg_pg_servers_load(const char *path, char *err, size_t err_size);
void lg_pg_servers_free(lg_pg_servers *s);
/* How many servers; the name of the i-th (file order). Borrowed. */
size_t lg_pg_servers_count(const lg_pg_servers *s);
const char *lg_pg_servers_name(const lg_pg_servers *s, size_t i);
/* The conninfo of the server called name, or NULL. Borrowed. */
const char *lg_pg_servers_dsn(const lg_pg_servers *s, const char *name);
/* The name of the server at host:port, or NULL. Borrowed. */
const char *lg_pg_servers_find(const lg_pg_servers *s, const char *host, const char *port);

/* ------------------------------------------------------------------ validation */

/* A slug or subdomain: 1 to 40 of a-z, 0-9 and '-', not starting or ending with '-'. */
int lg_provision_slug_valid(const char *s);
/* A tenant name: 1 to 200 bytes, no control characters. */
int lg_provision_name_valid(const char *s);
/* A subscription tier: 1 to 32 of a-z, 0-9, '-' and '_'. */
int lg_provision_tier_valid(const char *s);

/* ------------------------------------------------------------------ provisioning */

typedef struct {
    const char *slug;
    const char *name;
    const char *subdomain;    /* NULL: none */
    const char *currencies;   /* "USD,EUR"; NULL: "USD" */
    const char *admin_dsn;    /* a superuser of the server that gets the database */
    const char *sql_dir;      /* the sql/ folder; its tenant/ migrations are applied */
    const char *performed_by; /* tenants.created_by and the audit rows' performed_by */
    const char *metadata;     /* JSON object text for the CREATED row, or NULL */
    FILE *progress;           /* "migrating:" and the migration line, as ledgerctl prints them */
} lg_provision_request;

/*
 * Creates and provisions a tenant (see the top of this file) through master. On LG_PROVISION_OK
 * fills *out (id, slug, name, database coordinates; status ACTIVE). Otherwise err says what went
 * wrong for an operator; it may carry a PostgreSQL message (never a password), so an API logs it
 * rather than returning it.
 */
lg_provision_status lg_provision_tenant(PGconn *master, const lg_keyring *kr,
                                        const lg_provision_request *req, lg_tenant *out, char *err,
                                        size_t err_size);

/* ------------------------------------------------------------------ administration */

/* A change of a tenant's details; a NULL pointer or -1 leaves a field as it is. */
typedef struct {
    const char *name;
    const char *subdomain;
    int clear_subdomain; /* sets subdomain to NULL */
    long max_users;
    long max_accounts;
    const char *subscription_tier;
    json_t *settings; /* an object merged into settings key by key; a null value removes
                       * the key; "currencies" cannot be changed (borrowed) */
} lg_tenant_change;

/* An lg_tenant_change that changes nothing. */
void lg_tenant_change_init(lg_tenant_change *c);

/*
 * Applies a change in one master transaction with a TenantAuditLog row "UPDATED" whose metadata
 * is {"changes": {field: {"before", "after"}}} plus the members of metadata (borrowed, may be
 * NULL). Fields given with their current value are not changes; with no change at all nothing
 * is written. *changes (when not NULL) gets the changes object (new reference, possibly empty).
 */
lg_provision_status lg_provision_update(PGconn *master, const char *tenant_id,
                                        const lg_tenant_change *c, const char *performed_by,
                                        json_t *metadata, json_t **changes, char *err,
                                        size_t err_size);

/*
 * Moves a tenant to status in one master transaction with a TenantAuditLog row action (metadata
 * borrowed, may be NULL). Allowed: SUSPENDED -> ACTIVE, ACTIVE -> SUSPENDED, ACTIVE or
 * SUSPENDED -> INACTIVE; anything else is LG_PROVISION_CONFLICT with the current status in err.
 */
lg_provision_status lg_provision_set_status(PGconn *master, const char *tenant_id,
                                            const char *status, const char *action,
                                            const char *performed_by, json_t *metadata, char *err,
                                            size_t err_size);

/* Sets a tenant's TLS settings for its database (see lg_tenant): sslmode and sslrootcert, each
 * NULL to leave it, "" to clear it (the process-wide default then applies). One master
 * transaction with a TenantAuditLog row "UPDATED" ({"changes": {"dbSslmode": {"before",
 * "after"}, "dbSslrootcert": ...}}). The routers see it within their 5 s cache; pooled
 * connections keep their TLS until they are replaced. */
lg_provision_status lg_provision_set_db_tls(PGconn *master, const char *tenant_id,
                                            const char *sslmode, const char *sslrootcert,
                                            const char *performed_by, char *err, size_t err_size);

/* Writes a TenantAuditLog row; metadata is JSON object text or NULL. Returns 0 or -1 with err. */
int lg_provision_audit(PGconn *master, const char *tenant_id, const char *action,
                       const char *performed_by, const char *metadata, char *err, size_t err_size);

#endif
