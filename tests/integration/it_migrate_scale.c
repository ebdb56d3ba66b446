/*
 * Migrations at scale: 200 tenants over two PostgreSQL servers, one of them broken. A new tenant
 * migration (a copy of sql/ with one more file, through LEDGER_SQL_DIR) is applied by
 * `ledgerctl migrate --jobs 4`: every working tenant is migrated, the broken one is named in the
 * summary with its reason, the exit status is 1, and a second run changes nothing more.
 */
#include "itest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TENANTS 200
#define CREATORS 4

static char prefix[32];

static void *create_some(void *arg)
{
    long k = (long)arg;
    for (long i = k; i < TENANTS; i += CREATORS) {
        char slug[64], out[128];
        int rc;
        snprintf(slug, sizeof slug, "%s-%03ld", prefix, i);
        rc = itest_ledgerctl(out, sizeof out, "tenant", "create", "--slug", slug, "--name",
                             "Scale Test Bank", "--admin-dsn",
                             itest_env(i % 2 ? "LEDGER_ADMIN_DSN_2" : "LEDGER_ADMIN_DSN"), NULL);
        CHECK(rc == 0, "creating %s exited %d", slug, rc);
    }
    return NULL;
}

int main(void)
{
    char sql_dir[256], cmd[1024], broken[64], *out, line[512];
    pthread_t th[CREATORS];
    PGconn *master;
    FILE *f;
    int rc, migrated = 0, failed = 0, broken_named = 0;
    int64_t t0 = itest_now_ms();

    snprintf(prefix, sizeof prefix, "scale%d", (int)(getpid() % 100000));
    for (long k = 0; k < CREATORS; k++)
        CHECK(pthread_create(&th[k], NULL, create_some, (void *)k) == 0, "pthread_create");
    for (int k = 0; k < CREATORS; k++)
        pthread_join(th[k], NULL);
    printf("%d tenants created over two servers in %lld ms\n", TENANTS,
           (long long)(itest_now_ms() - t0));

    /* One broken tenant: its own role may no longer connect to its database (other sessions,
     * such as the stack's worker, may hold connections open: renaming or dropping the database
     * would wait for them). */
    snprintf(broken, sizeof broken, "%s-007", prefix);
    {
        PGconn *admin = PQconnectdb(itest_env("LEDGER_ADMIN_DSN_2"));
        char sql[256];
        PGresult *r;
        CHECK(PQstatus(admin) == CONNECTION_OK, "%s", PQerrorMessage(admin));
        snprintf(sql, sizeof sql, "REVOKE CONNECT ON DATABASE tenant_%s_007 FROM tenant_%s_007",
                 prefix, prefix);
        r = PQexec(admin, sql);
        CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(admin));
        PQclear(r);
        PQfinish(admin);
    }

    /* A new migration, in a copy of the migrations folder. */
    {
        char tmp[] = "/tmp/ledger-migrate-scale-XXXXXX";
        CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
        snprintf(sql_dir, sizeof sql_dir, "%s/sql", tmp);
    }
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", LEDGER_SQL_SOURCE, sql_dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "%s/tenant/9000_scale_test.sql", sql_dir);
    f = fopen(cmd, "w");
    CHECK(f != NULL, "%s", cmd);
    fputs("CREATE TABLE scale_test_marker (id integer PRIMARY KEY);\n", f);
    fclose(f);
    setenv("LEDGER_SQL_DIR", sql_dir, 1);

    out = malloc(1 << 20);
    CHECK(out != NULL, "malloc");
    t0 = itest_now_ms();
    rc = itest_ledgerctl(out, 1 << 20, "migrate", "--jobs", "4", NULL);
    printf("migrate --jobs 4 over %d tenants: %lld ms, exit %d\n", TENANTS + 0,
           (long long)(itest_now_ms() - t0), rc);
    CHECK(rc == 1, "migrate exited %d with a broken tenant", rc);
    for (char *p = out; p != NULL && *p != '\0';) {
        char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        snprintf(line, sizeof line, "%.*s", (int)n, p);
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            migrated += strstr(line, " migrated ") != NULL;
            failed += strstr(line, " FAILED ") != NULL;
            broken_named += strncmp(line, broken, strlen(broken)) == 0 &&
                            strstr(line, " FAILED ") != NULL &&
                            strstr(line, "permission denied") != NULL;
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    CHECK(migrated == TENANTS - 1 && failed == 1 && broken_named == 1,
          "%d migrated, %d failed, broken named %d:\n%.2000s", migrated, failed, broken_named,
          out);

    /* Every working tenant has the new table; a second run migrates nothing. */
    master = itest_master_db();
    {
        itest_tenant t;
        memset(&t, 0, sizeof t);
        snprintf(t.slug, sizeof t.slug, "%s-%03d", prefix, 150);
        PGconn *db = itest_tenant_db(&t, "LEDGER_ADMIN_DSN");
        char *v = itest_sql_value(db, "SELECT to_regclass('scale_test_marker') IS NOT NULL", NULL);
        CHECK(strcmp(v, "t") == 0, "tenant %s lacks the new table", t.slug);
        free(v);
        PQfinish(db);
    }
    rc = itest_ledgerctl(out, 1 << 20, "migrate", "--jobs", "4", NULL);
    CHECK(rc == 1 && strstr(out, " 0 migrated, ") != NULL, "the second run: exit %d\n%.500s",
          rc, strstr(out, "tenant(s):") != NULL ? strstr(out, "tenant(s):") : out);

    /* Leave the stack as it was: the broken tenant's database back, the tenants inactive. */
    {
        PGconn *admin = PQconnectdb(itest_env("LEDGER_ADMIN_DSN_2"));
        char sql[256];
        snprintf(sql, sizeof sql, "GRANT CONNECT ON DATABASE tenant_%s_007 TO tenant_%s_007", prefix,
                 prefix);
        PQclear(PQexec(admin, sql));
        PQfinish(admin);
    }
    {
        char like[64];
        PGresult *r;
        snprintf(like, sizeof like, "%s-%%", prefix);
        r = PQexecParams(master, "UPDATE tenants SET status = 'INACTIVE' WHERE slug LIKE $1", 1,
                         NULL, (const char *[]){like}, NULL, NULL, 0);
        CHECK(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(master));
        PQclear(r);
    }
    PQfinish(master);
    unsetenv("LEDGER_SQL_DIR");
    snprintf(cmd, sizeof cmd, "rm -rf '%.*s'", (int)(strlen(sql_dir) - 4), sql_dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    free(out);
    printf("3 passed, 0 failed\n");
    return 0;
}
