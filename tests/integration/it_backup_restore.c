/*
 * ledgerctl backup and restore, against the running stack:
 *   - a full backup dumps the master and every tenant, its manifest names each file with the
 *     file's real SHA-256 and size, and the hook ran once per file with its path;
 *   - deposits and a transfer via the API, a backup, then more commands and a damaged balance
 *     (verify fails); restore brings the tenant back into a new database: `ledgerctl verify`
 *     passes, the API serves the backed-up balances once its cache expires, the worker applies a
 *     new deposit to the restored database, the old database is kept but fenced (no CONNECT for
 *     the tenant's role), and the master has a RESTORED audit row;
 *   - a dump whose bytes changed is refused (checksum) and a folder without manifest.json is
 *     refused, both with a clear message and without any change;
 *   - a failing hook makes the backup fail and the manifest say it is not complete; so does a
 *     tenant that cannot be dumped, while the others are still dumped;
 *   - retention (--keep, --keep-days) removes only older complete backups, never the newest,
 *     an incomplete backup or a folder that is not a backup.
 */
#include "itest.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs ledgerctl through the shell (arguments are plain words here) with stderr and stdout
 * together in out; returns the exit status. */
static int ctl(char *out, size_t out_size, const char *args)
{
    char cmd[4096];
    size_t n;
    FILE *p;
    int status;
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", LEDGERCTL_PATH, args);
    p = popen(cmd, "r");
    CHECK(p != NULL, "cannot run %s", cmd);
    n = fread(out, 1, out_size - 1, p);
    out[n] = '\0';
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* The tenant's current database name, from the master. */
static void current_db(const itest_tenant *t, char out[80])
{
    PGconn *m = itest_master_db();
    char *name = itest_sql_value(m, "SELECT db_name FROM tenants WHERE slug = $1", t->slug);
    snprintf(out, 80, "%s", name);
    free(name);
    PQfinish(m);
}

/* A superuser connection to database name on the main server. */
static PGconn *db_named(const char *name)
{
    char dsn[1024];
    PGconn *c;
    snprintf(dsn, sizeof dsn, "%s dbname=%s", itest_env("LEDGER_ADMIN_DSN"), name);
    c = PQconnectdb(dsn);
    CHECK(PQstatus(c) == CONNECTION_OK, "connecting to %s: %s", name, PQerrorMessage(c));
    return c;
}

/* GET /v1/accounts/{number}/balance's "balance", malloc'd, or NULL when not 200. */
static char *api_balance(const itest_tenant *t, const char *account)
{
    char path[128], auth[200], *body = NULL, *out = NULL;
    const char *headers[] = {auth, NULL};
    long status;
    json_t *o;
    snprintf(path, sizeof path, "/v1/accounts/%s/balance", account);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", t->api_key);
    status = itest_http("GET", path, headers, NULL, &body, NULL, 0);
    o = status == 200 ? json_loads(body, 0, NULL) : NULL;
    if (o != NULL && json_string_value(json_object_get(o, "balance")) != NULL)
        out = strdup(json_string_value(json_object_get(o, "balance")));
    json_decref(o);
    free(body);
    return out;
}

static void deposit(const itest_tenant *t, const char *account, const char *amount)
{
    char body[256], id[64];
    snprintf(body, sizeof body,
             "{\"type\":\"DEPOSIT\",\"amount\":\"%s\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
             amount, account);
    itest_submit(t, body, id);
    json_decref(itest_expect_status(t, id, "COMPLETED"));
}

/* The last line of out (a backup's folder: ledgerctl prints it on stdout, last). */
static void last_line(const char *out, const char *prefix, char *line, size_t line_size)
{
    const char *p = out, *found = NULL;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            found = p;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    CHECK(found != NULL, "no line starting with %s in: %s", prefix, out);
    snprintf(line, line_size, "%.*s", (int)strcspn(found, "\n"), found);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;
    if (f == NULL)
        return 0;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Complete backup folders (with manifest.json) in dir. */
static int count_backups(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    CHECK(d != NULL, "cannot open %s", dir);
    while ((e = readdir(d)) != NULL) {
        char path[1024];
        if (strlen(e->d_name) != 16 || e->d_name[8] != 'T')
            continue;
        snprintf(path, sizeof path, "%s/%s/manifest.json", dir, e->d_name);
        n += access(path, F_OK) == 0;
    }
    closedir(d);
    return n;
}

int main(void)
{
    itest_tenant t;
    char root[] = "/tmp/it-backup-XXXXXX", out[65536], args[4096], folder[512], path[1200];
    char bal0[32], bal1[32], old_db[80], new_db[80], hooklog[1100], *v;
    json_t *m, *f;
    size_t i;
    int rc, found_master = 0, found_tenant = 0;
    PGconn *db, *master;

    CHECK(mkdtemp(root) != NULL, "mkdtemp");
    itest_tenant_create(&t, "it-bkp", NULL, 2, "USD");
    deposit(&t, t.account[0], "100.00");
    deposit(&t, t.account[1], "40.00");
    {
        char body[256], id[64];
        snprintf(body, sizeof body,
                 "{\"type\":\"TRANSFER\",\"amount\":\"30.25\",\"currency\":\"USD\","
                 "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
                 t.account[0], t.account[1]);
        itest_submit(&t, body, id);
        json_decref(itest_expect_status(&t, id, "COMPLETED"));
    }
    db = itest_tenant_db(&t, NULL);
    v = itest_balance(db, t.account[0]);
    snprintf(bal0, sizeof bal0, "%s", v);
    free(v);
    v = itest_balance(db, t.account[1]);
    snprintf(bal1, sizeof bal1, "%s", v);
    free(v);
    CHECK(strcmp(bal0, "69.75") == 0 && strcmp(bal1, "70.25") == 0, "balances %s %s", bal0, bal1);

    /* 1. A full backup, with a hook that records each file. */
    snprintf(hooklog, sizeof hooklog, "%s/hook.log", root);
    snprintf(args, sizeof args,
             "backup --dir %s/full --jobs 4 --hook 'echo \"$1 $LEDGER_BACKUP_SLUG\" >> %s'", root,
             hooklog);
    rc = ctl(out, sizeof out, args);
    CHECK(rc == 0, "full backup exited %d: %s", rc, out);
    last_line(out, root, folder, sizeof folder);
    snprintf(path, sizeof path, "%s/manifest.json", folder);
    m = json_load_file(path, 0, NULL);
    CHECK(m != NULL, "no manifest in %s", folder);
    CHECK(json_is_true(json_object_get(m, "complete")), "manifest not complete");
    CHECK(json_integer_value(json_object_get(m, "format")) == 1, "manifest format");
    CHECK(strstr(json_string_value(json_object_get(m, "pgDump")), "pg_dump") != NULL,
          "no pg_dump version");
    json_array_foreach(json_object_get(m, "files"), i, f)
    {
        char file[1200], hex[65], cmd[1400];
        const char *slug = json_string_value(json_object_get(f, "slug"));
        FILE *p;
        snprintf(file, sizeof file, "%s/%s", folder, json_string_value(json_object_get(f, "file")));
        /* The checksum is the file's real SHA-256 (coreutils, independent of the tool). */
        snprintf(cmd, sizeof cmd, "sha256sum '%s'", file);
        p = popen(cmd, "r");
        CHECK(p != NULL && fscanf(p, "%64s", hex) == 1, "sha256sum %s", file);
        pclose(p);
        CHECK(strcmp(hex, json_string_value(json_object_get(f, "sha256"))) == 0,
              "%s: manifest sha256 differs from the file's", file);
        found_master += strcmp(slug, "master") == 0;
        if (strcmp(slug, t.slug) == 0) {
            found_tenant++;
            CHECK(strcmp(json_string_value(json_object_get(f, "schemaVersion")), "0008") >= 0,
                  "schema version %s", json_string_value(json_object_get(f, "schemaVersion")));
            CHECK(strcmp(json_string_value(json_object_get(f, "tenantId")), t.id) == 0,
                  "tenant id");
        }
    }
    CHECK(found_master == 1 && found_tenant == 1, "manifest: master %d, tenant %d", found_master,
          found_tenant);
    CHECK(count_lines(hooklog) == (int)json_array_size(json_object_get(m, "files")),
          "hook ran %d times for %zu files", count_lines(hooklog),
          json_array_size(json_object_get(m, "files")));
    json_decref(m);
    printf("full backup: %s\n", folder);

    /* 2. Life goes on after the backup: more commands, then damage. */
    deposit(&t, t.account[0], "500.00");
    deposit(&t, t.account[1], "1.00");
    itest_sql_exec(db, "UPDATE accounts SET balance = balance + 7 WHERE account_number = $1",
                   t.account[1]);
    rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
    CHECK(rc == 1, "verify of the damaged tenant exited %d", rc);
    PQfinish(db);

    /* 3. A damaged copy of the backup is refused, and so is a folder without a manifest. */
    snprintf(
        args, sizeof args,
        "cp -r %s %s/damaged && printf 'X' | dd of=%s/damaged/tenant-%s.dump bs=1 seek=200 "
        "conv=notrunc 2>/dev/null && mkdir %s/nomanifest && cp %s/tenant-%s.dump %s/nomanifest/",
        folder, root, root, t.slug, root, folder, t.slug, root);
    CHECK(system(args) == 0, "preparing damaged copies");
    current_db(&t, old_db);
    snprintf(args, sizeof args, "restore --tenant %s --from %s/damaged", t.slug, root);
    rc = ctl(out, sizeof out, args);
    CHECK(rc == 1 && strstr(out, "damaged") != NULL && strstr(out, "SHA-256") != NULL,
          "restore of a damaged dump exited %d: %s", rc, out);
    snprintf(args, sizeof args, "restore --tenant %s --from %s/nomanifest", t.slug, root);
    rc = ctl(out, sizeof out, args);
    CHECK(rc == 1 && strstr(out, "no manifest.json") != NULL,
          "restore without a manifest exited %d: %s", rc, out);
    current_db(&t, new_db);
    CHECK(strcmp(old_db, new_db) == 0, "a refused restore changed the database to %s", new_db);

    /* 4. The real restore. */
    snprintf(args, sizeof args, "restore --tenant %s --from %s", t.slug, folder);
    rc = ctl(out, sizeof out, args);
    CHECK(rc == 0, "restore exited %d: %s", rc, out);
    CHECK(strstr(out, old_db) != NULL, "restore did not print the old database %s: %s", old_db,
          out);
    current_db(&t, new_db);
    CHECK(strcmp(new_db, old_db) != 0, "tenant still on %s", old_db);
    rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
    CHECK(rc == 0, "verify after the restore exited %d: %s", rc, out);

    db = db_named(new_db);
    v = itest_balance(db, t.account[0]);
    CHECK(strcmp(v, bal0) == 0, "restored balance %s, backed up %s", v, bal0);
    free(v);
    v = itest_balance(db, t.account[1]);
    CHECK(strcmp(v, bal1) == 0, "restored balance %s, backed up %s", v, bal1);
    free(v);

    /* The old database is kept, but the tenant's role can no longer open it. */
    {
        PGconn *admin = db_named("postgres");
        char *kept =
            itest_sql_value(admin, "SELECT count(*) FROM pg_database WHERE datname = $1", old_db);
        char *can;
        CHECK(strcmp(kept, "1") == 0, "the old database %s is gone", old_db);
        free(kept);
        /* Provisioning granted CONNECT to the tenant's role explicitly; restore revokes it. */
        can = itest_sql_value(admin,
                              "SELECT count(*) FROM pg_database d, aclexplode(d.datacl) a"
                              " WHERE d.datname = $1 AND a.privilege_type = 'CONNECT'"
                              " AND a.grantee = d.datdba",
                              old_db);
        CHECK(strcmp(can, "0") == 0, "the tenant's role still has CONNECT on %s", old_db);
        free(can);
        PQfinish(admin);
    }
    master = itest_master_db();
    v = itest_sql_value(master,
                        "SELECT count(*) FROM tenant_audit_logs WHERE action = 'RESTORED'"
                        " AND tenant_id = $1::uuid",
                        t.id);
    CHECK(strcmp(v, "1") == 0, "%s RESTORED audit rows", v);
    free(v);
    PQfinish(master);

    /* The API serves the restored balances once its tenant cache expires. */
    {
        int64_t deadline = itest_now_ms() + 30000;
        char *b0 = NULL, *b1 = NULL;
        for (;;) {
            free(b0);
            free(b1);
            b0 = api_balance(&t, t.account[0]);
            b1 = api_balance(&t, t.account[1]);
            if (b0 != NULL && b1 != NULL && strcmp(b0, bal0) == 0 && strcmp(b1, bal1) == 0)
                break;
            CHECK(itest_now_ms() < deadline, "the API still serves %s and %s, not %s and %s",
                  b0 ? b0 : "(error)", b1 ? b1 : "(error)", bal0, bal1);
            itest_sleep_ms(500);
        }
        free(b0);
        free(b1);
    }
    /* The worker posts into the restored database. */
    deposit(&t, t.account[0], "0.25");
    v = itest_balance(db, t.account[0]);
    CHECK(strcmp(v, "70.00") == 0, "after a deposit into the restored database: %s", v);
    free(v);
    PQfinish(db);
    rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t.slug, NULL);
    CHECK(rc == 0, "verify after a new deposit exited %d", rc);

    /* 5. A failing hook: the backup fails and its manifest says incomplete. */
    snprintf(args, sizeof args, "backup --dir %s/hookfail --tenant %s --hook 'exit 3'", root,
             t.slug);
    rc = ctl(out, sizeof out, args);
    CHECK(rc == 1 && strstr(out, "hook exited with 3") != NULL, "failing hook: %d %s", rc, out);
    last_line(out, root, folder, sizeof folder);
    snprintf(path, sizeof path, "%s/manifest.json", folder);
    m = json_load_file(path, 0, NULL);
    CHECK(m != NULL && json_is_false(json_object_get(m, "complete")) &&
              json_array_size(json_object_get(m, "failed")) == 2,
          "the manifest of a backup with failed hooks");
    json_decref(m);

    /* 5b. A tenant that cannot be dumped (its server missing from the servers file) is reported
     * and the others are still dumped: exit 1, the manifest says incomplete and names it. */
    {
        itest_tenant t2;
        char servers[1100], slug2[64];
        FILE *sf;
        int has_master = 0;
        itest_tenant_create(&t2, "it-bkp2", "LEDGER_ADMIN_DSN_2", 1, "USD");
        snprintf(slug2, sizeof slug2, "%s", t2.slug);
        snprintf(servers, sizeof servers, "%s/servers-main-only", root);
        sf = fopen(servers, "w");
        CHECK(sf != NULL, "cannot write %s", servers);
        fprintf(sf, "main %s\n", itest_env("LEDGER_ADMIN_DSN"));
        fclose(sf);
        {
            char cmd[4096];
            FILE *p;
            size_t n;
            int status;
            snprintf(cmd, sizeof cmd,
                     "LEDGER_PG_SERVERS_FILE=%s %s backup --dir %s/partial --tenant %s 2>&1",
                     servers, LEDGERCTL_PATH, root, slug2);
            p = popen(cmd, "r");
            CHECK(p != NULL, "popen");
            n = fread(out, 1, sizeof out - 1, p);
            out[n] = '\0';
            status = pclose(p);
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        }
        CHECK(rc == 1 && strstr(out, slug2) != NULL && strstr(out, "no server") != NULL,
              "backup with an unreachable tenant exited %d: %s", rc, out);
        last_line(out, root, folder, sizeof folder);
        snprintf(path, sizeof path, "%s/manifest.json", folder);
        m = json_load_file(path, 0, NULL);
        CHECK(m != NULL && json_is_false(json_object_get(m, "complete")), "partial manifest");
        json_array_foreach(json_object_get(m, "files"), i, f) has_master +=
            strcmp(json_string_value(json_object_get(f, "slug")), "master") == 0;
        CHECK(has_master == 1 && json_array_size(json_object_get(m, "files")) == 1,
              "the master was not dumped beside the failed tenant");
        f = json_array_get(json_object_get(m, "failed"), 0);
        CHECK(json_array_size(json_object_get(m, "failed")) == 1 &&
                  strcmp(json_string_value(json_object_get(f, "slug")), slug2) == 0,
              "the manifest does not name the failed tenant");
        json_decref(m);
    }

    /* 6. Retention. Beside the backups: an incomplete one (no manifest), an old complete one,
     * and a folder that is not a backup at all. */
    snprintf(args, sizeof args,
             "mkdir -p %s/ret/20200101T000000Z %s/ret/20200101T000001Z %s/ret/notes && "
             "echo '{\"format\":1,\"complete\":true,\"files\":[]}' > "
             "%s/ret/20200101T000001Z/manifest.json && touch %s/ret/notes/keep.txt",
             root, root, root, root, root);
    CHECK(system(args) == 0, "preparing the retention folder");
    for (int k = 0; k < 3; k++) {
        snprintf(args, sizeof args, "backup --dir %s/ret --tenant %s --keep 2", root, t.slug);
        rc = ctl(out, sizeof out, args);
        CHECK(rc == 0, "backup %d with --keep 2 exited %d: %s", k, rc, out);
    }
    last_line(out, root, folder, sizeof folder);
    snprintf(path, sizeof path, "%s/ret", root);
    CHECK(count_backups(path) == 2, "%d complete backups after --keep 2", count_backups(path));
    CHECK(is_dir(folder), "the newest backup %s was removed", folder);
    snprintf(path, sizeof path, "%s/ret/20200101T000000Z", root);
    CHECK(is_dir(path), "retention removed an incomplete backup");
    snprintf(path, sizeof path, "%s/ret/notes/keep.txt", root);
    CHECK(access(path, F_OK) == 0, "retention touched a folder that is not a backup");
    /* --keep-days: the old complete backup goes, recent ones stay. */
    snprintf(args, sizeof args,
             "mkdir -p %s/days/20200101T000001Z && "
             "echo '{\"format\":1,\"complete\":true,\"files\":[]}' > "
             "%s/days/20200101T000001Z/manifest.json",
             root, root);
    CHECK(system(args) == 0, "preparing the keep-days folder");
    snprintf(args, sizeof args, "backup --dir %s/days --tenant %s --keep-days 30", root, t.slug);
    rc = ctl(out, sizeof out, args);
    CHECK(rc == 0, "backup with --keep-days exited %d: %s", rc, out);
    snprintf(path, sizeof path, "%s/days/20200101T000001Z", root);
    CHECK(!is_dir(path), "a backup older than 30 days was kept");
    snprintf(path, sizeof path, "%s/days", root);
    CHECK(count_backups(path) == 1, "%d backups after --keep-days", count_backups(path));
    /* Bad options change nothing. */
    snprintf(args, sizeof args, "backup --dir %s/days --keep 0", root);
    CHECK(ctl(out, sizeof out, args) == 2, "--keep 0 accepted: %s", out);

    snprintf(args, sizeof args, "rm -rf %s", root);
    CHECK(system(args) == 0, "cleaning up");
    printf("backup and restore: ok (old database %s, restored into %s)\n", old_db, new_db);
    return 0;
}
