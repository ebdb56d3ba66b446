/*
 * TLS to PostgreSQL, per tenant. The test makes a CA and a server certificate for "localhost"
 * (openssl CLI), another CA that did not sign it, and starts a PostgreSQL server with ssl = on
 * (scripts/pg.sh start tls). Through the product's own connect function, lg_tenant_connect:
 *   verify-full with the right CA connects over TLS; with the wrong CA it refuses; to
 *   127.0.0.1, a name the certificate does not carry, it refuses; verify-ca there connects;
 *   require without a root certificate connects over TLS unverified; disable connects in clear.
 * Then end to end: a tenant provisioned on that server through a conninfo with sslmode
 * verify-full inherits it (master row), the API reads it over TLS (pg_stat_ssl), and
 * `ledgerctl tenant update --db-sslrootcert` to the wrong CA makes ledgerctl refuse to connect.
 */
#include "itest.h"

#include "lg_crypto.h"
#include "lg_tenant.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir[1024];

/* Runs a shell command in the test's folder. */
static void sh(const char *command)
{
    char cmd[4096];
    int rc;
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cd '%s' && %s", dir, dir, command);
    rc = system(cmd);
    CHECK(rc == 0, "%s: exit %d", cmd, rc);
}

static int pg_tls_try(const char *action)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/scripts/pg.sh %s tls >/dev/null 2>&1", LEDGER_SOURCE_DIR,
             action);
    return system(cmd);
}

static void pg_tls(const char *action)
{
    int rc = pg_tls_try(action);
    CHECK(rc == 0, "scripts/pg.sh %s tls: exit %d", action, rc);
}

/* Starts the TLS server. Its port lies in the ephemeral range, where a client socket of this
 * busy machine may hold it for a while: then the next ports are tried (the port goes into the
 * server's admin.dsn, which the test reads). */
static void pg_tls_start(void)
{
    long base = strtol(itest_env("LEDGER_PG_PORT"), NULL, 10) + 2;
    const char *set = getenv("LEDGER_PG_TLS_PORT");
    int rc = -1;
    if (set != NULL && set[0] != '\0')
        base = strtol(set, NULL, 10);
    for (int i = 0; i < 5 && rc != 0; i++) {
        char port[16];
        snprintf(port, sizeof port, "%ld", base + 100L * i);
        setenv("LEDGER_PG_TLS_PORT", port, 1);
        rc = pg_tls_try("start");
    }
    CHECK(rc == 0, "scripts/pg.sh start tls failed on 5 ports from %ld", base);
}

static void read_line(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "%s: %s", path, strerror(errno));
    CHECK(fgets(out, (int)size, f) != NULL, "%s is empty", path);
    out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

/* Connects as the probe role with the given TLS settings; returns the connection or NULL with
 * err. */
static PGconn *probe(const lg_keyring *kr, const lg_tenant *base, const char *sealed,
                     const char *key_id, const char *host, const char *sslmode,
                     const char *rootcert, char *err, size_t err_size)
{
    lg_tenant t = *base;
    snprintf(t.db_host, sizeof t.db_host, "%s", host);
    snprintf(t.db_sslmode, sizeof t.db_sslmode, "%s", sslmode);
    snprintf(t.db_sslrootcert, sizeof t.db_sslrootcert, "%s", rootcert);
    return lg_tenant_connect(kr, &t, sealed, key_id, err, err_size);
}

static int on_tls(PGconn *c)
{
    char *v = itest_sql_value(c, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                              NULL);
    int yes = strcmp(v, "true") == 0;
    free(v);
    return yes;
}

int main(void)
{
    char admin_dsn[1024], ca[1200], other_ca[1200], err[1024], port[8], dsn[3072];
    char *sealed = NULL, out[4096];
    const char *key_id = NULL;
    lg_keyring *kr;
    lg_tenant base;
    PGconn *admin, *c;
    PQconninfoOption *info;

    CHECK(lg_crypto_init() == 0, "lg_crypto_init");
    unsetenv("PGSSLMODE");
    unsetenv("PGSSLROOTCERT");
    unsetenv("LEDGER_PG_SSLMODE");
    unsetenv("LEDGER_PG_SSLROOTCERT");
    snprintf(dir, sizeof dir, "%s/var/%s/pg-tls", LEDGER_SOURCE_DIR, itest_env("LEDGER_STACK"));
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    snprintf(other_ca, sizeof other_ca, "%s/other-ca.crt", dir);

    /* Certificates: a CA, a server certificate for localhost signed by it, another CA. */
    pg_tls("stop");
    sh("rm -f ./*.crt ./*.key ./*.csr ./*.srl ./*.ext");
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
       " -keyout ca.key -out ca.crt -days 2 -subj '/CN=Ledger Test CA' >/dev/null 2>&1"
       " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
       " -keyout other-ca.key -out other-ca.crt -days 2 -subj '/CN=Other CA' >/dev/null 2>&1"
       " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
       " -keyout server.key -out server.csr -subj '/CN=localhost' >/dev/null 2>&1"
       " && printf 'subjectAltName=DNS:localhost\\n' > server.ext"
       " && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial"
       " -out server.crt -days 2 -extfile server.ext >/dev/null 2>&1"
       " && chmod 644 ca.crt other-ca.crt && chmod 600 ca.key other-ca.key server.key");
    pg_tls_start();
    {
        char path[1200];
        snprintf(path, sizeof path, "%s/admin.dsn", dir);
        read_line(path, admin_dsn, sizeof admin_dsn);
    }
    info = PQconninfoParse(admin_dsn, NULL);
    CHECK(info != NULL, "admin.dsn is a conninfo");
    for (PQconninfoOption *o = info; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "port") == 0 && o->val != NULL)
            snprintf(port, sizeof port, "%s", o->val);
    PQconninfoFree(info);

    /* A role to connect as, its password sealed as a tenant's would be. */
    admin = PQconnectdb(admin_dsn);
    CHECK(PQstatus(admin) == CONNECTION_OK, "admin: %s", PQerrorMessage(admin));
    CHECK(on_tls(admin), "the admin connection (sslmode prefer) is over TLS");
    itest_sql_exec(admin, "DROP ROLE IF EXISTS tls_probe", NULL);
    itest_sql_exec(admin, "CREATE ROLE tls_probe LOGIN PASSWORD 'probe-Passw0rd-tls'", NULL);
    kr = lg_keyring_load(itest_env("LEDGER_MASTER_KEY_FILE"), err, sizeof err);
    CHECK(kr != NULL, "keyring: %s", err);
    memset(&base, 0, sizeof base);
    lg_uuid_random(base.id);
    snprintf(base.slug, sizeof base.slug, "tls-probe");
    snprintf(base.db_port, sizeof base.db_port, "%s", port);
    snprintf(base.db_name, sizeof base.db_name, "postgres");
    snprintf(base.db_user, sizeof base.db_user, "tls_probe");
    CHECK(lg_secret_seal(kr, base.id, "probe-Passw0rd-tls", &sealed, &key_id, err, sizeof err) ==
              0,
          "seal: %s", err);

    c = probe(kr, &base, sealed, key_id, "localhost", "verify-full", ca, err, sizeof err);
    CHECK(c != NULL, "verify-full, right CA, localhost: %s", err);
    CHECK(on_tls(c), "verify-full connection is over TLS");
    PQfinish(c);
    printf("verify-full + right CA: connected over TLS\n");

    c = probe(kr, &base, sealed, key_id, "localhost", "verify-full", other_ca, err, sizeof err);
    CHECK(c == NULL, "verify-full with a CA that did not sign the certificate must refuse");
    CHECK(strstr(err, "certificate") != NULL, "the reason names the certificate: %s", err);
    printf("verify-full + wrong CA: refused (%s)\n", err);

    c = probe(kr, &base, sealed, key_id, "127.0.0.1", "verify-full", ca, err, sizeof err);
    CHECK(c == NULL, "verify-full to a host name the certificate does not carry must refuse");
    CHECK(strstr(err, "does not match host name") != NULL, "reason: %s", err);
    printf("verify-full + wrong host name: refused (%s)\n", err);

    c = probe(kr, &base, sealed, key_id, "127.0.0.1", "verify-ca", ca, err, sizeof err);
    CHECK(c != NULL, "verify-ca checks the chain, not the name: %s", err);
    CHECK(on_tls(c), "verify-ca connection is over TLS");
    PQfinish(c);

    c = probe(kr, &base, sealed, key_id, "127.0.0.1", "require", "", err, sizeof err);
    CHECK(c != NULL, "require without a root certificate: %s", err);
    CHECK(on_tls(c), "require connects over TLS");
    PQfinish(c);

    c = probe(kr, &base, sealed, key_id, "localhost", "disable", "", err, sizeof err);
    CHECK(c != NULL, "disable: %s", err);
    CHECK(!on_tls(c), "disable connects in clear");
    PQfinish(c);
    printf("verify-ca, require, disable: as documented\n");

    /* The process-wide default applies when the tenant names none. */
    setenv("LEDGER_PG_SSLMODE", "verify-full", 1);
    setenv("LEDGER_PG_SSLROOTCERT", other_ca, 1);
    c = probe(kr, &base, sealed, key_id, "localhost", "", "", err, sizeof err);
    CHECK(c == NULL, "LEDGER_PG_SSLMODE verify-full with the wrong CA must refuse");
    c = probe(kr, &base, sealed, key_id, "localhost", "", ca, err, sizeof err);
    CHECK(c != NULL, "the tenant's own root certificate wins over the default: %s", err);
    PQfinish(c);
    unsetenv("LEDGER_PG_SSLMODE");
    unsetenv("LEDGER_PG_SSLROOTCERT");

    /* End to end: provisioning inherits the server conninfo's TLS settings. */
    {
        itest_tenant t;
        PGconn *master;
        char *row, db_name[80], sql[1300];
        int rc;
        snprintf(dsn, sizeof dsn, "%s host=localhost sslmode=verify-full sslrootcert=%s",
                 admin_dsn, ca);
        setenv("LEDGER_ADMIN_DSN_TLS", dsn, 1);
        itest_tenant_create(&t, "it-tls", "LEDGER_ADMIN_DSN_TLS", 1, "USD");
        master = itest_master_db();
        row = itest_sql_value(master,
                              "SELECT db_host || ' ' || db_sslmode || ' ' || db_sslrootcert"
                              " FROM tenants WHERE slug = $1",
                              t.slug);
        snprintf(sql, sizeof sql, "localhost verify-full %s", ca);
        CHECK(strcmp(row, sql) == 0, "the tenant row: '%s', expected '%s'", row, sql);
        free(row);
        {
            char *body = NULL, auth[200], path[128];
            const char *headers[] = {auth, NULL};
            long status;
            snprintf(auth, sizeof auth, "Authorization: Bearer %s", t.api_key);
            snprintf(path, sizeof path, "/v1/accounts/%s", t.account[0]);
            status = itest_http("GET", path, headers, NULL, &body, NULL, 0);
            CHECK(status == 200, "reading the TLS tenant through the API: %ld %s", status, body);
            free(body);
        }
        itest_tenant_db_name(&t, db_name);
        row = itest_sql_value(admin,
                              "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s"
                              " USING (pid) WHERE a.datname = $1 AND s.ssl",
                              db_name);
        CHECK(strtol(row, NULL, 10) >= 1, "the API's connection to the tenant is over TLS: %s",
              row);
        free(row);
        row = itest_sql_value(admin,
                              "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s"
                              " USING (pid) WHERE a.datname = $1 AND NOT s.ssl",
                              db_name);
        CHECK(strcmp(row, "0") == 0, "%s connection(s) to the tenant in clear", row);
        free(row);
        printf("provisioned on the TLS server: the API reads it over TLS\n");
        /* And keeps the TLS connection pooled: a second read reuses the same backend (an idle
         * TLS connection is not mistaken for a broken one). */
        {
            char *body = NULL, auth[200], path[128], *before, *after;
            const char *headers[] = {auth, NULL};
            const char *pids = "SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), '')"
                               " FROM pg_stat_activity WHERE datname = $1"
                               " AND application_name = 'ledger'";
            before = itest_sql_value(admin, pids, db_name);
            snprintf(auth, sizeof auth, "Authorization: Bearer %s", t.api_key);
            snprintf(path, sizeof path, "/v1/accounts/%s", t.account[0]);
            CHECK(itest_http("GET", path, headers, NULL, &body, NULL, 0) == 200, "second read");
            free(body);
            after = itest_sql_value(admin, pids, db_name);
            CHECK(before[0] != '\0' && strcmp(before, after) == 0,
                  "the API's TLS connections changed across reads: %s -> %s", before, after);
            free(before);
            free(after);
        }

        /* ledgerctl honours the row: a wrong CA refuses, the right one connects again. */
        rc = itest_ledgerctl(out, sizeof out, "tenant", "update", "--slug", t.slug,
                             "--db-sslrootcert", other_ca, NULL);
        CHECK(rc == 0, "tenant update --db-sslrootcert exited %d", rc);
        rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
        CHECK(rc != 0, "ledgerctl verify with the wrong CA must fail to connect");
        rc = itest_ledgerctl(out, sizeof out, "tenant", "update", "--slug", t.slug,
                             "--db-sslrootcert", ca, NULL);
        CHECK(rc == 0, "tenant update --db-sslrootcert exited %d", rc);
        rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
        CHECK(rc == 0, "ledgerctl verify with the right CA exited %d", rc);
        row = itest_sql_value(master,
                              "SELECT count(*) FROM tenant_audit_logs l JOIN tenants t"
                              " ON t.id = l.tenant_id WHERE t.slug = $1 AND l.action = 'UPDATED'",
                              t.slug);
        CHECK(strcmp(row, "2") == 0, "two UPDATED audit rows, got %s", row);
        free(row);
        PQfinish(master);
        printf("ledgerctl tenant update --db-sslrootcert: wrong CA refused, right CA connects\n");
    }

    itest_sql_exec(admin, "DROP ROLE IF EXISTS tls_probe", NULL);
    PQfinish(admin);
    free(sealed);
    lg_keyring_free(kr);
    /* The server stays up for tenants provisioned on it until test.sh stops the stack. */
    printf("it_pg_tls: OK\n");
    return 0;
}
