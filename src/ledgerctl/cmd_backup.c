/*
 * ledgerctl backup: the master database and every tenant database dumped with pg_dump (custom
 * format, compressed) into DIR/<UTC time>/, one file per database, then manifest.json.
 *
 * The manifest is written last, to a temporary name and renamed, so a folder without
 * manifest.json is an incomplete backup (a crash, a full disk): restore refuses it and retention
 * never counts or removes it. manifest.json:
 *   {"format": 1, "createdAt": "2026-11-25T15:01:02Z", "pgDump": "pg_dump (PostgreSQL) 15.8",
 *    "complete": true, "failed": [],
 *    "files": [{"file": "tenant-acme.dump", "database": "tenant_acme", "tenantId": "...",
 *               "slug": "acme", "server": "main", "size": 12345, "sha256": "<64 hex>",
 *               "schemaVersion": "0008"}, ...]}
 * --tenant SLUG dumps the master and that tenant only (before a risky change to one bank).
 * The master's entry has slug "master" and tenantId null. "complete" is false (and "failed"
 * names the databases) when a dump or its hook failed; retention only runs after a complete one.
 *
 * Credentials: pg_dump gets a conninfo without the password on its command line (visible in
 * ps) and the password through PGPASSWORD in its own environment. The master is dumped with
 * LEDGER_MASTER_DSN, each tenant with the superuser of its server (LEDGER_PG_SERVERS_FILE), so the
 * dump holds every object whatever its owner. PostgreSQL programs come from LEDGER_PG_BIN (a
 * folder), else from PATH: pg_dump must be of the server's major version or newer.
 */
#include "ctl.h"

#include "lg_config.h"
#include "lg_db.h"
#include "lg_provision.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_JOBS 32
/* The longest backup folder path; file paths inside it get PATH_MAX. */
#define FOLDER_MAX 2048

/* ------------------------------------------------------------------ shared with restore */

void ctl_pg_program(const char *name, char *out, size_t out_size)
{
    const char *bin = lg_config_str("LEDGER_PG_BIN", NULL);
    if (bin != NULL && bin[0] != '\0')
        snprintf(out, out_size, "%s/%s", bin, name);
    else
        snprintf(out, out_size, "%s", name);
}

int ctl_sha256_file(const char *path, char hex[65], long long *size, char *err, size_t err_size)
{
    crypto_hash_sha256_state st;
    unsigned char buf[65536], digest[crypto_hash_sha256_BYTES];
    long long total = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = -1;
    if (fd < 0) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    crypto_hash_sha256_init(&st);
    for (;;) {
        n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, err_size, "reading %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
        total += n;
    }
    crypto_hash_sha256_final(&st, digest);
    sodium_bin2hex(hex, 65, digest, sizeof digest);
    if (size != NULL)
        *size = total;
    rc = 0;
out:
    close(fd);
    return rc;
}

void ctl_conninfo_add(char *out, size_t out_size, const char *key, const char *value)
{
    size_t len = strlen(out);
    if (len + strlen(key) + 2 * strlen(value) + 5 >= out_size)
        return;
    len += (size_t)snprintf(out + len, out_size - len, "%s%s='", len ? " " : "", key);
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '\'' || *p == '\\')
            out[len++] = '\\';
        out[len++] = *p;
    }
    out[len++] = '\'';
    out[len] = '\0';
}

int ctl_conninfo_split(const char *dsn, const char *dbname, char *conninfo, size_t conninfo_size,
                       char *password, size_t password_size, char *err, size_t err_size)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &perr);
    if (opts == NULL) {
        snprintf(err, err_size, "cannot parse a conninfo: %s", perr != NULL ? perr : "no memory");
        PQfreemem(perr);
        return -1;
    }
    conninfo[0] = '\0';
    password[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0')
            continue;
        if (strcmp(o->keyword, "password") == 0)
            snprintf(password, password_size, "%s", o->val);
        else if (strcmp(o->keyword, "dbname") != 0)
            ctl_conninfo_add(conninfo, conninfo_size, o->keyword, o->val);
    }
    if (dbname != NULL)
        ctl_conninfo_add(conninfo, conninfo_size, "dbname", dbname);
    PQconninfoFree(opts);
    return 0;
}

pid_t ctl_spawn(const char *const *argv, const char *password, const char *stderr_path)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid; /* the parent, or -1 */
    if (password != NULL && password[0] != '\0')
        setenv("PGPASSWORD", password, 1);
    else
        unsetenv("PGPASSWORD");
    if (stderr_path != NULL) {
        int fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
    }
    {
        /* execvp's prototype predates const; it does not change the strings. */
        union {
            const char *const *c;
            char *const *m;
        } args = {.c = argv};
        execvp(argv[0], args.m);
    }
    fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int ctl_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* The first line of a file (a program's stderr) into out, "" when none. */
static void first_lines(const char *path, char *out, size_t out_size)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    out[0] = '\0';
    if (f == NULL)
        return;
    n = fread(out, 1, out_size - 1, f);
    out[n] = '\0';
    fclose(f);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (out[i] == '\n')
            out[i] = ' ';
}

/* `pg_dump --version` into out. */
static int program_version(const char *program, char *out, size_t out_size)
{
    int fds[2];
    pid_t pid;
    ssize_t n;
    out[0] = '\0';
    if (pipe(fds) != 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        union {
            const char *const *c;
            char *const *m;
        } args = {.c = (const char *const[]){program, "--version", NULL}};
        execvp(program, args.m);
        _exit(127);
    }
    close(fds[1]);
    n = pid > 0 ? read(fds[0], out, out_size - 1) : -1;
    close(fds[0]);
    if (pid > 0 && ctl_wait(pid) != 0)
        n = -1;
    if (n <= 0) {
        out[0] = '\0';
        return -1;
    }
    out[n] = '\0';
    out[strcspn(out, "\n")] = '\0';
    return 0;
}

/* A backup folder's name: YYYYMMDDTHHMMSSZ. Returns its time, or -1 when name is not one. */
time_t ctl_backup_folder_time(const char *name)
{
    struct tm tm;
    const char *end;
    if (strlen(name) != 16 || name[8] != 'T' || name[15] != 'Z')
        return -1;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (name[i] < '0' || name[i] > '9'))
            return -1;
    memset(&tm, 0, sizeof tm);
    end = strptime(name, "%Y%m%dT%H%M%SZ", &tm);
    if (end == NULL || *end != '\0')
        return -1;
    return timegm(&tm);
}

/* ------------------------------------------------------------------ backup */

typedef struct {
    char file[96]; /* name inside the backup folder */
    char database[64];
    char tenant_id[64]; /* "" for the master */
    char slug[64];      /* "master" for the master */
    char server[64];
    char conninfo[1024]; /* without the password */
    char password[256];
    char version[16];
    char sha256[65];
    long long size;
    pid_t pid;
    int failed;
    char error[512];
} dump_job;

static int parse_count(const char *text, const char *what, long max, long *out)
{
    char *end;
    long v;
    if (text == NULL)
        return 0;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > max) {
        ctl_error("%s must be a whole number from 1 to %ld, not \"%s\"", what, max, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* The schema migration version of the database conninfo + password, or "" */
static void schema_version(const dump_job *j, char *out, size_t out_size)
{
    char dsn[1400], err[256];
    PGconn *db;
    PGresult *res;
    out[0] = '\0';
    snprintf(dsn, sizeof dsn, "%s", j->conninfo);
    if (j->password[0] != '\0')
        ctl_conninfo_add(dsn, sizeof dsn, "password", j->password);
    db = lg_db_connect(dsn, err, sizeof err);
    if (db == NULL)
        return;
    res = lg_db_query(db, "SELECT coalesce(max(version), '') FROM schema_migrations", 0, NULL, err,
                      sizeof err);
    if (res != NULL && PQntuples(res) == 1)
        snprintf(out, out_size, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(db);
}

/* Lists the master and every tenant that has a database. Returns the count, -1 after errors. */
static int plan_jobs(PGconn *master, const lg_pg_servers *servers, const char *only, dump_job **out)
{
    char err[512];
    const char *master_dsn = lg_config_str("LEDGER_MASTER_DSN", "");
    PGresult *res = lg_db_query(master,
                                "SELECT id, slug, db_host, db_port, db_name FROM tenants"
                                " WHERE status <> 'PENDING' AND ($1::text IS NULL OR slug = $1)"
                                " ORDER BY slug",
                                1, (const char *[]){only}, err, sizeof err);
    dump_job *jobs;
    int n = 0;
    if (res == NULL) {
        ctl_error("listing tenants: %s", err);
        return -1;
    }
    if (only != NULL && PQntuples(res) == 0) {
        ctl_error("no tenant with slug \"%s\" and a database", only);
        PQclear(res);
        return -1;
    }
    jobs = calloc((size_t)PQntuples(res) + 1, sizeof *jobs);
    if (jobs == NULL) {
        PQclear(res);
        ctl_error("out of memory");
        return -1;
    }
    {
        dump_job *m = &jobs[n++];
        snprintf(m->file, sizeof m->file, "master.dump");
        snprintf(m->database, sizeof m->database, "%s", PQdb(master));
        snprintf(m->slug, sizeof m->slug, "master");
        {
            const char *s = servers != NULL
                                ? lg_pg_servers_find(servers, PQhost(master), PQport(master))
                                : NULL;
            snprintf(m->server, sizeof m->server, "%s", s != NULL ? s : "master");
        }
        if (ctl_conninfo_split(master_dsn, PQdb(master), m->conninfo, sizeof m->conninfo,
                               m->password, sizeof m->password, err, sizeof err) != 0) {
            ctl_error("LEDGER_MASTER_DSN: %s", err);
            goto fail;
        }
    }
    for (int i = 0; i < PQntuples(res); i++) {
        dump_job *j = &jobs[n++];
        const char *host = PQgetvalue(res, i, 2), *port = PQgetvalue(res, i, 3);
        const char *name = servers != NULL ? lg_pg_servers_find(servers, host, port) : NULL;
        snprintf(j->tenant_id, sizeof j->tenant_id, "%s", PQgetvalue(res, i, 0));
        snprintf(j->slug, sizeof j->slug, "%s", PQgetvalue(res, i, 1));
        snprintf(j->database, sizeof j->database, "%s", PQgetvalue(res, i, 4));
        snprintf(j->file, sizeof j->file, "tenant-%s.dump", j->slug);
        if (name == NULL) {
            j->failed = 1;
            snprintf(j->error, sizeof j->error, "no server for %s:%s in LEDGER_PG_SERVERS_FILE",
                     host, port);
            continue;
        }
        snprintf(j->server, sizeof j->server, "%s", name);
        if (ctl_conninfo_split(lg_pg_servers_dsn(servers, name), j->database, j->conninfo,
                               sizeof j->conninfo, j->password, sizeof j->password, err,
                               sizeof err) != 0) {
            j->failed = 1;
            snprintf(j->error, sizeof j->error, "server %s: %.400s", name, err);
        }
    }
    PQclear(res);
    *out = jobs;
    return n;
fail:
    PQclear(res);
    free(jobs);
    return -1;
}

static void start_dump(dump_job *j, const char *folder, const char *pg_dump)
{
    char path[PATH_MAX], errpath[PATH_MAX], dbarg[1100];
    snprintf(path, sizeof path, "%s/%s", folder, j->file);
    snprintf(errpath, sizeof errpath, "%s/.%s.log", folder, j->file);
    snprintf(dbarg, sizeof dbarg, "--dbname=%s", j->conninfo);
    schema_version(j, j->version, sizeof j->version);
    j->pid = ctl_spawn((const char *const[]){pg_dump, "--format=custom", "--compress=6", "--file",
                                             path, dbarg, NULL},
                       j->password, errpath);
    if (j->pid < 0) {
        j->failed = 1;
        snprintf(j->error, sizeof j->error, "cannot start %.300s: %s", pg_dump, strerror(errno));
    }
}

/* After pg_dump exited with rc: checksum, size, hook. */
static void finish_dump(dump_job *j, int rc, const char *folder, const char *hook)
{
    char path[PATH_MAX], errpath[PATH_MAX], err[400];
    snprintf(path, sizeof path, "%s/%s", folder, j->file);
    snprintf(errpath, sizeof errpath, "%s/.%s.log", folder, j->file);
    if (rc != 0) {
        char msg[400];
        first_lines(errpath, msg, sizeof msg);
        j->failed = 1;
        snprintf(j->error, sizeof j->error, "pg_dump exited with %d: %s", rc, msg);
        unlink(path);
        unlink(errpath);
        return;
    }
    unlink(errpath);
    if (ctl_sha256_file(path, j->sha256, &j->size, err, sizeof err) != 0) {
        j->failed = 1;
        snprintf(j->error, sizeof j->error, "%s", err);
        return;
    }
    if (hook != NULL) {
        pid_t pid;
        setenv("LEDGER_BACKUP_FILE", path, 1);
        setenv("LEDGER_BACKUP_DIR", folder, 1);
        setenv("LEDGER_BACKUP_DATABASE", j->database, 1);
        setenv("LEDGER_BACKUP_SLUG", j->slug, 1);
        pid = ctl_spawn(
            (const char *const[]){"/bin/sh", "-c", hook, "ledger-backup-hook", path, NULL}, NULL,
            NULL);
        rc = pid < 0 ? 127 : ctl_wait(pid);
        if (rc != 0) {
            j->failed = 1;
            snprintf(j->error, sizeof j->error, "the hook exited with %d for %.400s", rc, path);
        }
    }
}

static int write_manifest(const char *folder, const char *created, const char *pg_version,
                          const dump_job *jobs, int n, int complete)
{
    char tmp[PATH_MAX], path[PATH_MAX];
    json_t *m = json_object(), *files = json_array(), *failed = json_array();
    int fd, rc = -1;
    for (int i = 0; i < n; i++) {
        const dump_job *j = &jobs[i];
        if (j->failed) {
            json_array_append_new(failed, json_pack("{s:s, s:s, s:s}", "slug", j->slug, "database",
                                                    j->database, "error", j->error));
            continue;
        }
        json_array_append_new(
            files, json_pack("{s:s, s:s, s:o, s:s, s:s, s:I, s:s, s:s}", "file", j->file,
                             "database", j->database, "tenantId",
                             j->tenant_id[0] ? json_string(j->tenant_id) : json_null(), "slug",
                             j->slug, "server", j->server, "size", (json_int_t)j->size, "sha256",
                             j->sha256, "schemaVersion", j->version));
    }
    json_object_set_new(m, "format", json_integer(1));
    json_object_set_new(m, "createdAt", json_string(created));
    json_object_set_new(m, "pgDump", json_string(pg_version));
    json_object_set_new(m, "complete", json_boolean(complete));
    json_object_set_new(m, "failed", failed);
    json_object_set_new(m, "files", files);
    snprintf(tmp, sizeof tmp, "%s/.manifest.json.tmp", folder);
    snprintf(path, sizeof path, "%s/manifest.json", folder);
    if (json_dump_file(m, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
        ctl_error("writing %s failed", tmp);
        goto out;
    }
    /* On disk before the rename makes the backup count as complete. */
    fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        ctl_error("syncing %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto out;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        ctl_error("renaming %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    rc = 0;
out:
    json_decref(m);
    return rc;
}

/* Removes a backup folder: its regular files, then the folder. Nothing else is touched. */
static int remove_backup(const char *dir, const char *name)
{
    char folder[PATH_MAX], path[PATH_MAX + 260];
    DIR *d;
    struct dirent *e;
    snprintf(folder, sizeof folder, "%s/%s", dir, name);
    d = opendir(folder);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", folder, e->d_name);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
            unlink(path);
    }
    closedir(d);
    return rmdir(folder);
}

static int cmp_names_desc(const void *a, const void *b)
{
    return strcmp(*(char *const *)b, *(char *const *)a);
}

/* Retention: complete backups (a dated folder with manifest.json that says complete) beyond the
 * newest keep, or older than keep_days, are removed; never current. */
static int apply_retention(const char *dir, const char *current, long keep, long keep_days)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int failures = 0;
    time_t now = time(NULL);
    long rank = 0;
    if (d == NULL) {
        ctl_error("retention: %s: %s", dir, strerror(errno));
        return 1;
    }
    while ((e = readdir(d)) != NULL) {
        char manifest[PATH_MAX];
        json_t *m;
        int complete;
        if (ctl_backup_folder_time(e->d_name) < 0)
            continue;
        snprintf(manifest, sizeof manifest, "%s/%s/manifest.json", dir, e->d_name);
        m = json_load_file(manifest, 0, NULL);
        complete = m != NULL && json_is_true(json_object_get(m, "complete"));
        json_decref(m);
        if (!complete)
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
            if (grown == NULL)
                break;
            names = grown;
        }
        names[n] = strdup(e->d_name);
        if (names[n] != NULL)
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names_desc);
    for (size_t i = 0; i < n; i++) {
        int is_current = strcmp(names[i], current) == 0;
        time_t t = ctl_backup_folder_time(names[i]);
        int beyond = keep > 0 && rank >= keep;
        int too_old = keep_days > 0 && now - t > (time_t)keep_days * 86400;
        rank++;
        if (is_current || !(beyond || too_old))
            continue;
        if (remove_backup(dir, names[i]) != 0) {
            ctl_error("retention: cannot remove %s/%s: %s", dir, names[i], strerror(errno));
            failures++;
        } else {
            fprintf(stderr, "removed old backup %s/%s\n", dir, names[i]);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return failures;
}

int cmd_backup(int argc, char **argv)
{
    ctl_opt opts[] = {{"dir", NULL, 0},  {"keep", NULL, 0}, {"keep-days", NULL, 0},
                      {"hook", NULL, 0}, {"jobs", NULL, 0}, {"tenant", NULL, 0},
                      {NULL, NULL, 0}};
    const char *dir, *hook;
    long keep = 0, keep_days = 0, n_parallel = 2;
    char pg_dump[PATH_MAX], pg_version[128], name[32], created[32], folder[FOLDER_MAX];
    lg_pg_servers *servers = NULL;
    PGconn *master = NULL;
    dump_job *jobs = NULL;
    int n = 0, failures = 0, rc = CTL_FAIL, running = 0, next = 0;
    time_t now;
    struct tm tm;

    if (ctl_parse(argc, argv, opts) != 0)
        return CTL_USAGE;
    /* Dumps hold every customer's data: readable by the operator only. */
    umask(077);
    dir = ctl_get(opts, "dir");
    hook = ctl_get(opts, "hook");
    if (dir == NULL || dir[0] == '\0') {
        ctl_error("backup needs --dir DIR");
        return CTL_USAGE;
    }
    if (strlen(dir) > FOLDER_MAX - 32) {
        ctl_error("--dir is longer than %d bytes", FOLDER_MAX - 32);
        return CTL_USAGE;
    }
    if (parse_count(ctl_get(opts, "keep"), "--keep", 100000, &keep) != 0 ||
        parse_count(ctl_get(opts, "keep-days"), "--keep-days", 36500, &keep_days) != 0 ||
        parse_count(ctl_get(opts, "jobs"), "--jobs", MAX_JOBS, &n_parallel) != 0)
        return CTL_USAGE;
    ctl_pg_program("pg_dump", pg_dump, sizeof pg_dump);
    if (program_version(pg_dump, pg_version, sizeof pg_version) != 0) {
        ctl_error("cannot run %s (set LEDGER_PG_BIN to the PostgreSQL bin folder)", pg_dump);
        return CTL_FAIL;
    }
    servers = ctl_servers("tenant databases are dumped as the superuser of their server");
    if (servers == NULL)
        return CTL_FAIL;
    master = ctl_master();
    if (master == NULL)
        goto out;
    n = plan_jobs(master, servers, ctl_get(opts, "tenant"), &jobs);
    if (n < 0)
        goto out;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        ctl_error("cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    /* A new folder per backup; two backups within one second wait for the next. */
    for (int attempt = 0;; attempt++) {
        now = time(NULL);
        gmtime_r(&now, &tm);
        strftime(name, sizeof name, "%Y%m%dT%H%M%SZ", &tm);
        strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(folder, sizeof folder, "%s/%s", dir, name);
        if (mkdir(folder, 0700) == 0)
            break;
        if (errno != EEXIST || attempt >= 3) {
            ctl_error("cannot create %s: %s", folder, strerror(errno));
            goto out;
        }
        sleep(1);
    }
    fprintf(stderr, "backup into %s (%d database(s), %ld at a time)\n", folder, n, n_parallel);

    /* Up to n_parallel pg_dump processes at once. */
    while (next < n || running > 0) {
        while (next < n && running < n_parallel) {
            dump_job *j = &jobs[next++];
            if (j->failed)
                continue;
            start_dump(j, folder, pg_dump);
            if (!j->failed)
                running++;
        }
        if (running > 0) {
            int status;
            pid_t pid = wait(&status);
            if (pid < 0)
                break;
            for (int i = 0; i < n; i++)
                if (jobs[i].pid == pid) {
                    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
                    jobs[i].pid = 0;
                    running--;
                    finish_dump(&jobs[i], code, folder, hook);
                    fprintf(stderr, "  %-32s %s\n", jobs[i].slug,
                            jobs[i].failed ? jobs[i].error : "dumped");
                }
        }
    }
    for (int i = 0; i < n; i++)
        if (jobs[i].failed) {
            failures++;
            ctl_error("%s (%s): %s", jobs[i].slug, jobs[i].database, jobs[i].error);
        }
    if (write_manifest(folder, created, pg_version, jobs, n, failures == 0) != 0)
        goto out;
    printf("%s\n", folder);
    fprintf(stderr, "backup %s: %d database(s) dumped, %d failed\n",
            failures ? "INCOMPLETE" : "complete", n - failures, failures);
    if (failures == 0 && (keep > 0 || keep_days > 0))
        failures += apply_retention(dir, name, keep, keep_days);
    rc = failures ? CTL_FAIL : CTL_OK;
out:
    if (jobs != NULL)
        for (int i = 0; i < n; i++)
            sodium_memzero(jobs[i].password, sizeof jobs[i].password);
    free(jobs);
    PQfinish(master);
    lg_pg_servers_free(servers);
    return rc;
}
