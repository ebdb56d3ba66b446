/* ledgerctl init, migrate and migrate status: the master database and every ACTIVE tenant's. */
#include "ctl.h"

#include "lg_config.h"
#include "lg_db.h"
#include "lg_migrate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/*
 * Tenant migrations at scale: every ACTIVE tenant (or one), --jobs at a time, each tenant in its
 * own connection so that a broken one fails alone. On a terminal a progress line is redrawn;
 * otherwise each tenant gets a plain line as it finishes. A summary table follows on stdout; the
 * exit status is 1 when any tenant failed.
 */
typedef enum { MIG_WAITING = 0, MIG_MIGRATED, MIG_CURRENT, MIG_PENDING, MIG_FAILED } mig_result;

static const char *const mig_names[] = {"waiting", "migrated", "current", "pending", "FAILED"};

typedef struct {
    lg_tenant tenant;
    char sealed[512];
    char key_id[64];
    mig_result result;
    char version[16];
    int applied;
    char detail[1100];
} mig_tenant;

typedef struct {
    mig_tenant *tenants;
    size_t n, next, done;
    int counts[5];
    int dry_run, status_only, tty;
    const lg_keyring *kr;
    pthread_mutex_t lock;
} mig_run;

static void mig_one(mig_run *run, mig_tenant *t)
{
    char dir[1024], err[1024], pending[256];
    PGconn *conn;
    snprintf(dir, sizeof dir, "%s/tenant", sql_dir());
    conn = lg_tenant_connect(run->kr, &t->tenant, t->sealed, t->key_id, err, sizeof err);
    if (conn == NULL) {
        t->result = MIG_FAILED;
        snprintf(t->detail, sizeof t->detail, "%s", err);
        return;
    }
    lg_db_exec(conn, "SET client_min_messages = warning", err, sizeof err);
    if (run->dry_run || run->status_only) {
        int n_pending = 0;
        if (lg_migrate_plan(conn, dir, pending, sizeof pending, &n_pending, t->version,
                            sizeof t->version, err, sizeof err) != 0) {
            t->result = MIG_FAILED;
            snprintf(t->detail, sizeof t->detail, "%s", err);
        } else {
            t->result = n_pending > 0 ? MIG_PENDING : MIG_CURRENT;
            t->applied = n_pending;
            snprintf(t->detail, sizeof t->detail, "%s%s", n_pending > 0 ? "would apply " : "",
                     pending);
        }
    } else {
        lg_migrate_report rep;
        if (lg_migrate_apply(conn, dir, &rep, err, sizeof err) != 0) {
            t->result = MIG_FAILED;
            snprintf(t->detail, sizeof t->detail, "%s", err);
        } else {
            t->result = rep.applied > 0 ? MIG_MIGRATED : MIG_CURRENT;
        }
        snprintf(t->version, sizeof t->version, "%s", rep.version);
        t->applied = rep.applied;
    }
    PQfinish(conn);
}

static void *mig_worker(void *arg)
{
    mig_run *run = arg;
    for (;;) {
        mig_tenant *t;
        pthread_mutex_lock(&run->lock);
        if (run->next == run->n) {
            pthread_mutex_unlock(&run->lock);
            return NULL;
        }
        t = &run->tenants[run->next++];
        pthread_mutex_unlock(&run->lock);
        mig_one(run, t);
        pthread_mutex_lock(&run->lock);
        run->done++;
        run->counts[t->result]++;
        if (!run->tty)
            fprintf(stderr, "  %-32s %-8s version %-4s %s\n", t->tenant.slug,
                    mig_names[t->result], t->version[0] != '\0' ? t->version : "-", t->detail);
        pthread_mutex_unlock(&run->lock);
    }
}

static void mig_progress(mig_run *run, int final)
{
    pthread_mutex_lock(&run->lock);
    fprintf(stderr, "\r  [%zu/%zu] %d migrated, %d current, %d pending, %d failed%s",
            run->done, run->n, run->counts[MIG_MIGRATED], run->counts[MIG_CURRENT],
            run->counts[MIG_PENDING], run->counts[MIG_FAILED], final ? "\n" : "");
    fflush(stderr);
    pthread_mutex_unlock(&run->lock);
}

static int load_tenants(PGconn *master, const char *slug, mig_run *run)
{
    char err[512];
    PGresult *res = lg_db_query(master,
                                "SELECT id, slug, db_host, db_port, db_name, db_user,"
                                " db_password, db_password_key_id, coalesce(db_sslmode, ''),"
                                " coalesce(db_sslrootcert, '') FROM tenants"
                                " WHERE status = 'ACTIVE' AND ($1::text IS NULL OR slug = $1)"
                                " ORDER BY slug",
                                1, (const char *[]){slug}, err, sizeof err);
    if (res == NULL) {
        ctl_error("listing tenants: %s", err);
        return -1;
    }
    run->n = (size_t)PQntuples(res);
    run->tenants = calloc(run->n + 1, sizeof *run->tenants);
    if (run->tenants == NULL) {
        PQclear(res);
        return -1;
    }
    for (size_t i = 0; i < run->n; i++) {
        mig_tenant *t = &run->tenants[i];
        int r = (int)i;
        snprintf(t->tenant.id, sizeof t->tenant.id, "%s", PQgetvalue(res, r, 0));
        snprintf(t->tenant.slug, sizeof t->tenant.slug, "%s", PQgetvalue(res, r, 1));
        snprintf(t->tenant.db_host, sizeof t->tenant.db_host, "%s", PQgetvalue(res, r, 2));
        snprintf(t->tenant.db_port, sizeof t->tenant.db_port, "%s", PQgetvalue(res, r, 3));
        snprintf(t->tenant.db_name, sizeof t->tenant.db_name, "%s", PQgetvalue(res, r, 4));
        snprintf(t->tenant.db_user, sizeof t->tenant.db_user, "%s", PQgetvalue(res, r, 5));
        snprintf(t->sealed, sizeof t->sealed, "%s", PQgetvalue(res, r, 6));
        snprintf(t->key_id, sizeof t->key_id, "%s", PQgetvalue(res, r, 7));
        snprintf(t->tenant.db_sslmode, sizeof t->tenant.db_sslmode, "%s", PQgetvalue(res, r, 8));
        snprintf(t->tenant.db_sslrootcert, sizeof t->tenant.db_sslrootcert, "%s",
                 PQgetvalue(res, r, 9));
    }
    PQclear(res);
    return 0;
}

int cmd_migrate(int argc, char **argv)
{
    ctl_opt opts[] = {{"master-only", NULL, 1}, {"all-tenants", NULL, 1}, {"jobs", NULL, 0},
                      {"dry-run", NULL, 1},     {"tenant", NULL, 0},      {NULL, NULL, 0}};
    mig_run run;
    PGconn *master;
    lg_keyring *kr = NULL;
    pthread_t threads[64];
    long jobs = 4;
    size_t n_threads;
    int status_only = argc >= 1 && strcmp(argv[0], "status") == 0;

    memset(&run, 0, sizeof run);
    if (ctl_parse(argc - status_only, argv + status_only, opts) != 0)
        return CTL_USAGE;
    if (ctl_get(opts, "jobs") != NULL) {
        char *end = NULL;
        jobs = strtol(ctl_get(opts, "jobs"), &end, 10);
        if (end == NULL || *end != '\0' || jobs < 1 || jobs > 64) {
            ctl_error("--jobs must be 1 to 64");
            return CTL_USAGE;
        }
    }
    run.dry_run = ctl_get(opts, "dry-run") != NULL;
    run.status_only = status_only;
    master = ctl_master();
    if (master == NULL)
        return CTL_FAIL;
    if (!status_only) {
        if (run.dry_run) {
            char dir[1024], err[512], pending[256], version[16];
            int n_pending = 0;
            snprintf(dir, sizeof dir, "%s/master", sql_dir());
            if (lg_migrate_plan(master, dir, pending, sizeof pending, &n_pending, version,
                                sizeof version, err, sizeof err) != 0) {
                ctl_error("master: %s", err);
                PQfinish(master);
                return CTL_FAIL;
            }
            fprintf(stderr, "  %-32s %-8s version %-4s %s%s\n", "master",
                    n_pending > 0 ? "pending" : "current", version[0] ? version : "-",
                    n_pending > 0 ? "would apply " : "", pending);
        } else {
            fprintf(stderr, "migrating:\n");
            if (migrate_conn(master, "master", "master") != 0) {
                PQfinish(master);
                return CTL_FAIL;
            }
        }
        if (ctl_get(opts, "master-only") != NULL) {
            PQfinish(master);
            return CTL_OK;
        }
    }
    kr = ctl_keyring();
    if (kr == NULL || load_tenants(master, ctl_get(opts, "tenant"), &run) != 0) {
        lg_keyring_free(kr);
        PQfinish(master);
        return CTL_FAIL;
    }
    PQfinish(master);
    run.kr = kr;
    run.tty = isatty(2);
    pthread_mutex_init(&run.lock, NULL);
    n_threads = (size_t)jobs < run.n ? (size_t)jobs : run.n;
    for (size_t i = 0; i < n_threads; i++)
        pthread_create(&threads[i], NULL, mig_worker, &run);
    while (run.tty && n_threads > 0) {
        size_t done;
        pthread_mutex_lock(&run.lock);
        done = run.done;
        pthread_mutex_unlock(&run.lock);
        mig_progress(&run, 0);
        if (done == run.n)
            break;
        usleep(200000);
    }
    for (size_t i = 0; i < n_threads; i++)
        pthread_join(threads[i], NULL);
    if (run.tty)
        mig_progress(&run, 1);

    printf("%-32s %-8s %-7s %-7s %s\n", "TENANT", "RESULT", "VERSION",
           status_only || run.dry_run ? "PENDING" : "APPLIED", "DETAIL");
    for (size_t i = 0; i < run.n; i++) {
        const mig_tenant *t = &run.tenants[i];
        printf("%-32s %-8s %-7s %-7d %s\n", t->tenant.slug, mig_names[t->result],
               t->version[0] != '\0' ? t->version : "-", t->applied, t->detail);
    }
    printf("%zu tenant(s): %d migrated, %d already current, %d pending, %d failed\n", run.n,
           run.counts[MIG_MIGRATED], run.counts[MIG_CURRENT], run.counts[MIG_PENDING],
           run.counts[MIG_FAILED]);
    pthread_mutex_destroy(&run.lock);
    free(run.tenants);
    lg_keyring_free(kr);
    return run.counts[MIG_FAILED] > 0 ? CTL_FAIL : CTL_OK;
}
