/*
 * ledgerctl restore --tenant SLUG --from BACKUP: brings one tenant back from a backup folder of
 * `ledgerctl backup`, without touching its current database:
 *   1. the folder's manifest.json must be there (a folder without it is an incomplete backup)
 *      and name the tenant; the dump file's SHA-256 and size must match the manifest;
 *   2. a NEW database tenant_<slug>_r<UTC time> is created on the tenant's server (as its
 *      superuser, from LEDGER_PG_SERVERS_FILE), owned by the tenant's role, CONNECT revoked from
 *      PUBLIC as provisioning does, and pg_restore fills it;
 *   3. it is checked: its schema migration version is the manifest's, and the double-entry
 *      invariants of `ledgerctl verify` hold in it;
 *   4. in one master transaction, tenants.db_name switches to it and a TenantAuditLog row
 *      RESTORED records the backup, the old and the new database;
 *   5. the old database is fenced: the tenant's role loses CONNECT on it and its open sessions
 *      are ended, so that no pooled connection of a running API or worker keeps reading or
 *      writing it (they reconnect, and the router's cache, a few seconds, sends them to the new
 *      one). The old database is kept; its name is printed on stdout for the operator to drop.
 * A failure before step 4 drops the new database and leaves everything as it was.
 */
#include "ctl.h"

#include "lg_config.h"
#include "lg_db.h"
#include "lg_provision.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Runs one admin statement built from already-quoted identifiers. */
static int admin_exec(PGconn *admin, const char *sql, char *err, size_t err_size)
{
    return lg_db_exec(admin, sql, err, err_size);
}

/* The manifest entry for slug; fills file, sha256, size and version. Returns 0 or -1. */
static int manifest_entry(const char *from, const char *slug, char *file, size_t file_size,
                          char *sha256, long long *size, char *version, size_t version_size)
{
    char path[PATH_MAX];
    json_error_t jerr;
    json_t *m, *files, *f;
    size_t i;
    int rc = -1;
    snprintf(path, sizeof path, "%s/manifest.json", from);
    if (access(path, F_OK) != 0) {
        ctl_error("%s has no manifest.json: not a complete backup (an interrupted backup leaves "
                  "no manifest); choose another folder",
                  from);
        return -1;
    }
    m = json_load_file(path, 0, &jerr);
    if (m == NULL || json_integer_value(json_object_get(m, "format")) != 1) {
        ctl_error("%s: not a backup manifest of format 1 (%s)", path, m == NULL ? jerr.text : "");
        json_decref(m);
        return -1;
    }
    files = json_object_get(m, "files");
    json_array_foreach(files, i, f)
    {
        const char *s = json_string_value(json_object_get(f, "slug"));
        const char *name = json_string_value(json_object_get(f, "file"));
        const char *sum = json_string_value(json_object_get(f, "sha256"));
        const char *ver = json_string_value(json_object_get(f, "schemaVersion"));
        if (s == NULL || strcmp(s, slug) != 0 || json_is_null(json_object_get(f, "tenantId")))
            continue;
        if (name == NULL || sum == NULL || strlen(sum) != 64 || strchr(name, '/') != NULL) {
            ctl_error("%s: the entry of tenant %s is malformed", path, slug);
            goto out;
        }
        snprintf(file, file_size, "%s/%s", from, name);
        snprintf(sha256, 65, "%s", sum);
        snprintf(version, version_size, "%s", ver != NULL ? ver : "");
        *size = (long long)json_integer_value(json_object_get(f, "size"));
        rc = 0;
        goto out;
    }
    ctl_error("the backup in %s holds no dump of tenant %s", from, slug);
out:
    json_decref(m);
    return rc;
}

int cmd_restore(int argc, char **argv)
{
    ctl_opt opts[] = {{"tenant", NULL, 0}, {"from", NULL, 0}, {NULL, NULL, 0}};
    const char *slug, *from;
    char file[PATH_MAX], want_sum[65], got_sum[65], version[16], err[512], e[512];
    char tenant_id[64], role[64], old_db[64], host[256], port[16], new_db[64], stamp[32];
    char conninfo[1024], password[256], dbarg[1100], pg_restore[PATH_MAX], errpath[PATH_MAX];
    char sql[1024], metadata[1024];
    long long want_size = 0, got_size = 0;
    lg_pg_servers *servers = NULL;
    const char *server, *admin_dsn;
    PGconn *master = NULL, *admin = NULL, *restored = NULL;
    PGresult *res = NULL;
    char *q_new = NULL, *q_old = NULL, *q_role = NULL;
    int rc = CTL_FAIL, created = 0, switched = 0;
    time_t now = time(NULL);
    struct tm tm;

    password[0] = '\0';
    errpath[0] = '\0';
    if (ctl_parse(argc, argv, opts) != 0)
        return CTL_USAGE;
    slug = ctl_get(opts, "tenant");
    from = ctl_get(opts, "from");
    if (slug == NULL || from == NULL) {
        ctl_error("restore needs --tenant SLUG and --from BACKUP_FOLDER");
        return CTL_USAGE;
    }
    if (!lg_provision_slug_valid(slug)) {
        ctl_error("\"%s\" is not a tenant slug", slug);
        return CTL_USAGE;
    }

    /* 1. The manifest and the file. */
    if (manifest_entry(from, slug, file, sizeof file, want_sum, &want_size, version,
                       sizeof version) != 0)
        return CTL_FAIL;
    if (ctl_sha256_file(file, got_sum, &got_size, err, sizeof err) != 0) {
        ctl_error("%s", err);
        return CTL_FAIL;
    }
    if (strcmp(got_sum, want_sum) != 0 || got_size != want_size) {
        ctl_error("%s is damaged: its SHA-256 is %s (%lld bytes) but the manifest says %s "
                  "(%lld bytes); nothing was restored",
                  file, got_sum, got_size, want_sum, want_size);
        return CTL_FAIL;
    }

    servers = ctl_servers("the new database is created as the superuser of the tenant's server");
    if (servers == NULL)
        return CTL_FAIL;
    master = ctl_master();
    if (master == NULL)
        goto out;
    res = lg_db_query(master,
                      "SELECT id, db_user, db_name, db_host, db_port FROM tenants WHERE slug = $1",
                      1, (const char *[]){slug}, err, sizeof err);
    if (res == NULL || PQntuples(res) != 1) {
        ctl_error(res == NULL ? "reading tenants: %s" : "no tenant with slug \"%s\"",
                  res == NULL ? err : slug);
        goto out;
    }
    snprintf(tenant_id, sizeof tenant_id, "%s", PQgetvalue(res, 0, 0));
    snprintf(role, sizeof role, "%s", PQgetvalue(res, 0, 1));
    snprintf(old_db, sizeof old_db, "%s", PQgetvalue(res, 0, 2));
    snprintf(host, sizeof host, "%s", PQgetvalue(res, 0, 3));
    snprintf(port, sizeof port, "%s", PQgetvalue(res, 0, 4));
    PQclear(res);
    res = NULL;
    server = lg_pg_servers_find(servers, host, port);
    admin_dsn = server != NULL ? lg_pg_servers_dsn(servers, server) : NULL;
    if (admin_dsn == NULL) {
        ctl_error("no server for %s:%s (tenant %s) in %s", host, port, slug, lg_config_str("LEDGER_PG_SERVERS_FILE", ""));
        goto out;
    }
    admin = lg_db_connect(admin_dsn, err, sizeof err);
    if (admin == NULL) {
        ctl_error("server %s: %s", server, err);
        goto out;
    }
    lg_db_exec(admin, "SET client_min_messages = warning", e, sizeof e);

    /* 2. The new database: tenant_<slug>_r<time>, at most 63 bytes (slugs have at most 40). */
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
    snprintf(new_db, sizeof new_db, "tenant_%s_r%s", slug, stamp);
    for (char *p = new_db; *p != '\0'; p++)
        if (*p == '-')
            *p = '_';
    q_new = lg_db_quote_ident(admin, new_db);
    q_old = lg_db_quote_ident(admin, old_db);
    q_role = lg_db_quote_ident(admin, role);
    if (q_new == NULL || q_old == NULL || q_role == NULL) {
        ctl_error("out of memory");
        goto out;
    }
    snprintf(sql, sizeof sql, "CREATE DATABASE %s OWNER %s", q_new, q_role);
    if (admin_exec(admin, sql, err, sizeof err) != 0) {
        ctl_error("creating database %s on %s: %s", new_db, server, err);
        goto out;
    }
    created = 1;
    snprintf(sql, sizeof sql,
             "REVOKE ALL ON DATABASE %s FROM PUBLIC; GRANT CONNECT ON DATABASE %s TO %s", q_new,
             q_new, q_role);
    if (admin_exec(admin, sql, err, sizeof err) != 0) {
        ctl_error("closing database %s: %s", new_db, err);
        goto out;
    }
    fprintf(stderr, "restoring %s into %s on %s\n", file, new_db, server);
    ctl_pg_program("pg_restore", pg_restore, sizeof pg_restore);
    if (ctl_conninfo_split(admin_dsn, new_db, conninfo, sizeof conninfo, password, sizeof password,
                           err, sizeof err) != 0) {
        ctl_error("server %s: %s", server, err);
        goto out;
    }
    snprintf(dbarg, sizeof dbarg, "--dbname=%s", conninfo);
    {
        char tmpl[] = "/tmp/ledgerctl-restore-XXXXXX";
        int fd = mkstemp(tmpl);
        pid_t pid;
        int code;
        if (fd >= 0) {
            close(fd);
            snprintf(errpath, sizeof errpath, "%s", tmpl);
        }
        pid = ctl_spawn((const char *const[]){pg_restore, "--exit-on-error", "--single-transaction",
                                              dbarg, file, NULL},
                        password, errpath[0] ? errpath : NULL);
        code = pid < 0 ? 127 : ctl_wait(pid);
        if (code != 0) {
            char msg[600] = "";
            FILE *f = errpath[0] ? fopen(errpath, "r") : NULL;
            if (f != NULL) {
                size_t n = fread(msg, 1, sizeof msg - 1, f);
                msg[n] = '\0';
                fclose(f);
            }
            ctl_error("pg_restore exited with %d: %s", code, msg);
            goto out;
        }
    }

    /* 3. The restored database must be the backup's schema and keep the invariants. */
    {
        char dsn[1400];
        snprintf(dsn, sizeof dsn, "%s", conninfo);
        if (password[0] != '\0')
            ctl_conninfo_add(dsn, sizeof dsn, "password", password);
        restored = lg_db_connect(dsn, err, sizeof err);
        if (restored == NULL) {
            ctl_error("connecting to %s: %s", new_db, err);
            goto out;
        }
    }
    res = lg_db_query(restored, "SELECT coalesce(max(version), '') FROM schema_migrations", 0, NULL,
                      err, sizeof err);
    if (res == NULL || strcmp(PQgetvalue(res, 0, 0), version) != 0) {
        ctl_error("%s: schema version %s, but the manifest says %s", new_db,
                  res != NULL ? PQgetvalue(res, 0, 0) : err, version);
        goto out;
    }
    PQclear(res);
    res = NULL;
    {
        int breaks = ctl_verify_db(restored, slug, err, sizeof err);
        if (breaks != 0) {
            ctl_error(breaks < 0 ? "checking %s: %s"
                                 : "%s breaks the ledger's invariants (above)%s",
                      new_db, breaks < 0 ? err : "");
            goto out;
        }
    }
    PQfinish(restored);
    restored = NULL;

    /* 4. The switch, with its audit row, in one master transaction. */
    snprintf(metadata, sizeof metadata, "%s", "{}");
    {
        json_t *md = json_pack("{s:s, s:s, s:s, s:s, s:s}", "backup", from, "oldDatabase", old_db,
                               "newDatabase", new_db, "server", server, "schemaVersion", version);
        char *text = md != NULL ? json_dumps(md, JSON_COMPACT) : NULL;
        if (text != NULL)
            snprintf(metadata, sizeof metadata, "%s", text);
        free(text);
        json_decref(md);
    }
    if (lg_db_exec(master, "BEGIN", err, sizeof err) != 0) {
        ctl_error("master: %s", err);
        goto out;
    }
    res = lg_db_query(master, "UPDATE tenants SET db_name = $2 WHERE id = $1 AND db_name = $3", 3,
                      (const char *[]){tenant_id, new_db, old_db}, err, sizeof err);
    if (res == NULL || strcmp(PQcmdTuples(res), "1") != 0) {
        ctl_error("switching tenant %s: %s", slug,
                  res == NULL ? err : "its database changed meanwhile");
        lg_db_exec(master, "ROLLBACK", e, sizeof e);
        goto out;
    }
    PQclear(res);
    res = NULL;
    if (ctl_tenant_audit(master, tenant_id, "RESTORED", metadata) != 0 ||
        lg_db_exec(master, "COMMIT", err, sizeof err) != 0) {
        lg_db_exec(master, "ROLLBACK", e, sizeof e);
        ctl_error("switching tenant %s failed; nothing changed", slug);
        goto out;
    }
    switched = 1;

    /* 5. Fence the old database: no new sessions of the tenant's role, none left open. */
    snprintf(sql, sizeof sql, "REVOKE CONNECT ON DATABASE %s FROM %s", q_old, q_role);
    if (admin_exec(admin, sql, err, sizeof err) != 0)
        ctl_error("warning: cannot revoke CONNECT on the old database %s: %s", old_db, err);
    res = lg_db_query(admin,
                      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                      " WHERE datname = $1 AND pid <> pg_backend_pid()",
                      1, (const char *[]){old_db}, err, sizeof err);
    if (res == NULL)
        ctl_error("warning: cannot end the sessions on %s: %s", old_db, err);
    else
        fprintf(stderr, "ended %s session(s) on the old database\n", PQgetvalue(res, 0, 0));
    PQclear(res);
    res = NULL;
    fprintf(stderr,
            "tenant %s now uses %s (schema %s); the old database is kept, drop it when done:\n",
            slug, new_db, version);
    printf("%s\n", old_db);
    rc = CTL_OK;
out:
    PQclear(res);
    PQfinish(restored);
    if (created && !switched && admin != NULL) {
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", q_new);
        if (admin_exec(admin, sql, e, sizeof e) != 0)
            ctl_error("cannot drop the unfinished database %s: %s", new_db, e);
        else
            fprintf(stderr, "dropped the unfinished database %s\n", new_db);
    }
    if (errpath[0])
        unlink(errpath);
    PQfreemem(q_new);
    PQfreemem(q_old);
    PQfreemem(q_role);
    PQfinish(admin);
    PQfinish(master);
    lg_pg_servers_free(servers);
    explicit_bzero(password, sizeof password);
    return rc;
}
