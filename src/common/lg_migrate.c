#include "lg_migrate.h"

#include "lg_crypto.h"
#include "lg_db.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MIGRATIONS 512
#define MAX_MIGRATION_BYTES (4 * 1024 * 1024)
/* pg_advisory_lock key: "ledger-migrate" as a number, one lock per database. */
#define MIGRATE_LOCK_KEY "7221180393"

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int is_migration_name(const char *name)
{
    size_t n = strlen(name);
    if (n < 9 || strcmp(name + n - 4, ".sql") != 0)
        return 0;
    for (int i = 0; i < 4; i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    return name[4] == '_';
}

static char *read_file(const char *path, size_t *len, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;
    if (f == NULL) {
        snprintf(err, err_size, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || size > MAX_MIGRATION_BYTES ||
        fseek(f, 0, SEEK_SET) != 0) {
        snprintf(err, err_size, "cannot read %s (or larger than %d bytes)", path,
                 MAX_MIGRATION_BYTES);
        goto out;
    }
    buf = malloc((size_t)size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        snprintf(err, err_size, "cannot read %s", path);
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[size] = '\0';
    *len = (size_t)size;
out:
    fclose(f);
    return buf;
}

static int apply_one(PGconn *conn, const char *dir, const char *file, lg_migrate_report *report,
                     char *err, size_t err_size)
{
    char path[1024], version[5], checksum[LG_HASH_HEXLEN], e[512];
    const char *name = file + 5;
    size_t len = 0;
    char *sql;
    PGresult *res;
    int rc = -1;

    memcpy(version, file, 4);
    version[4] = '\0';
    snprintf(path, sizeof path, "%s/%s", dir, file);
    sql = read_file(path, &len, err, err_size);
    if (sql == NULL)
        return -1;
    lg_hash_hex(sql, len, checksum);

    res = lg_db_query(conn, "SELECT checksum FROM schema_migrations WHERE version = $1", 1,
                      (const char *[]){version}, e, sizeof e);
    if (res == NULL) {
        snprintf(err, err_size, "reading schema_migrations: %s", e);
        goto out;
    }
    if (PQntuples(res) == 1) {
        if (strcmp(PQgetvalue(res, 0, 0), checksum) != 0) {
            snprintf(err, err_size,
                     "migration %s was changed after it was applied (checksum differs); "
                     "add a new migration instead",
                     file);
            PQclear(res);
            goto out;
        }
        PQclear(res);
        report->already++;
        rc = 0;
        goto out;
    }
    PQclear(res);

    if (lg_db_exec(conn, "BEGIN", e, sizeof e) != 0 || lg_db_exec(conn, sql, e, sizeof e) != 0) {
        snprintf(err, err_size, "migration %s failed: %s", file, e);
        lg_db_exec(conn, "ROLLBACK", e, sizeof e);
        goto out;
    }
    res = lg_db_query(conn,
                      "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                      3, (const char *[]){version, name, checksum}, e, sizeof e);
    if (res == NULL || lg_db_exec(conn, "COMMIT", e, sizeof e) != 0) {
        snprintf(err, err_size, "recording migration %s failed: %s", file, e);
        PQclear(res);
        lg_db_exec(conn, "ROLLBACK", e, sizeof e);
        goto out;
    }
    PQclear(res);
    report->applied++;
    rc = 0;
out:
    free(sql);
    return rc;
}

/* The migration files of dir, sorted; *files malloc'd (free each and the array). */
static int list_files(const char *dir, char ***files, size_t *n, char *err, size_t err_size)
{
    char **out = calloc(MAX_MIGRATIONS, sizeof *out);
    struct dirent *de;
    DIR *d;
    *n = 0;
    if (out == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    d = opendir(dir);
    if (d == NULL) {
        snprintf(err, err_size, "cannot open migrations folder %s: %s", dir, strerror(errno));
        free(out);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (!is_migration_name(de->d_name))
            continue;
        if (*n == MAX_MIGRATIONS || (out[*n] = strdup(de->d_name)) == NULL) {
            snprintf(err, err_size, "too many migrations in %s", dir);
            closedir(d);
            for (size_t i = 0; i < *n; i++)
                free(out[i]);
            free(out);
            return -1;
        }
        (*n)++;
    }
    closedir(d);
    qsort(out, *n, sizeof out[0], name_cmp);
    for (size_t i = 1; i < *n; i++)
        if (strncmp(out[i - 1], out[i], 4) == 0) {
            snprintf(err, err_size, "%s and %s share a version number; renumber one", out[i - 1],
                     out[i]);
            for (size_t j = 0; j < *n; j++)
                free(out[j]);
            free(out);
            return -1;
        }
    *files = out;
    return 0;
}

static void free_files(char **files, size_t n)
{
    for (size_t i = 0; files != NULL && i < n; i++)
        free(files[i]);
    free(files);
}

int lg_migrate_plan(PGconn *conn, const char *dir, char *pending, size_t pending_size,
                    int *n_pending, char *version, size_t version_size, char *err,
                    size_t err_size)
{
    char **files = NULL, e[512];
    size_t n = 0, used = 0;
    PGresult *res;
    int has_table;

    pending[0] = '\0';
    version[0] = '\0';
    *n_pending = 0;
    if (list_files(dir, &files, &n, err, err_size) != 0)
        return -1;
    res = lg_db_query(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL, e,
                      sizeof e);
    if (res == NULL) {
        snprintf(err, err_size, "%s", e);
        free_files(files, n);
        return -1;
    }
    has_table = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    res = has_table ? lg_db_query(conn, "SELECT version FROM schema_migrations ORDER BY version",
                                  0, NULL, e, sizeof e)
                    : NULL;
    if (has_table && res == NULL) {
        snprintf(err, err_size, "%s", e);
        free_files(files, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int applied = 0;
        for (int r = 0; res != NULL && r < PQntuples(res) && !applied; r++)
            applied = strncmp(PQgetvalue(res, r, 0), files[i], 4) == 0;
        if (applied) {
            snprintf(version, version_size, "%.4s", files[i]);
            continue;
        }
        if (used + 6 < pending_size)
            used += (size_t)snprintf(pending + used, pending_size - used, "%s%.4s",
                                     used > 0 ? "," : "", files[i]);
        (*n_pending)++;
    }
    PQclear(res);
    free_files(files, n);
    return 0;
}

int lg_migrate_apply(PGconn *conn, const char *dir, lg_migrate_report *report, char *err,
                     size_t err_size)
{
    char **files = NULL;
    size_t n = 0;
    char e[512];
    PGresult *res;
    int rc = -1;

    memset(report, 0, sizeof *report);
    if (list_files(dir, &files, &n, err, err_size) != 0)
        return -1;

    if (lg_db_exec(conn,
                   "SET client_min_messages = warning;"
                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   " version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                   " applied_at timestamptz NOT NULL DEFAULT now())",
                   e, sizeof e) != 0 ||
        lg_db_exec(conn, "SET lock_timeout = '60s'", e, sizeof e) != 0) {
        snprintf(err, err_size, "preparing schema_migrations: %s", e);
        goto out;
    }
    /* One run at a time per database; a second run waits up to lock_timeout, then reports. */
    if (lg_db_exec(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", e, sizeof e) != 0) {
        snprintf(err, err_size,
                 "another migration run holds this database's migration lock (waited 60 s)");
        goto out;
    }
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = apply_one(conn, dir, files[i], report, err, err_size);
    lg_db_exec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", e, sizeof e);
    lg_db_exec(conn, "RESET lock_timeout", e, sizeof e);

    res = lg_db_query(conn, "SELECT coalesce(max(version), '') FROM schema_migrations", 0, NULL, e,
                      sizeof e);
    if (res != NULL) {
        snprintf(report->version, sizeof report->version, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    }
out:
    free_files(files, n);
    return rc;
}
