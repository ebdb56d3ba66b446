/*
 * ledgerctl admin, user: the people who log in before any of them can create the others.
 *
 *   admin create --email E --first-name F --last-name L [--role SUPER_ADMIN|ADMIN|SUPPORT]
 *       a system administrator (master database); TenantAuditLog SYSTEM_ADMIN_CREATED under the
 *       nil tenant id, the system plane's
 *   user create --tenant S --email E --first-name F --last-name L
 *               [--role SUPER_ADMIN|MANAGER|TELLER]
 *       a bank's staff user (its database); AuditLog CREATE_USER
 *
 * The password is read from standard input, one line (without echo on a terminal), never from
 * the command line, where other users of the machine could read it; a password the policy
 * refuses (lg_password_policy) creates nothing. It is stored as an Argon2id hash only.
 */
#include "ctl.h"

#include "lg_db.h"
#include "lg_password.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define SYSTEM_PLANE_ID "00000000-0000-0000-0000-000000000000"
#define NAME_MAX_LEN    100

int ctl_read_password(const char *prompt, char *out, size_t out_size)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO), echo_off = 0;
    char line[LG_PASSWORD_MAX + 3];
    char err[256] = "too long";
    size_t n;

    if (tty) {
        fprintf(stderr, "%s: ", prompt);
        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
        }
    }
    if (fgets(line, sizeof line, stdin) == NULL)
        line[0] = '\0';
    if (echo_off) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    n = strlen(line);
    if (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    else if (n == sizeof line - 1) {
        sodium_memzero(line, sizeof line);
        ctl_error("the password is longer than %d bytes", LG_PASSWORD_MAX);
        return -1;
    }
    if (n > 0 && line[n - 1] == '\r')
        line[--n] = '\0';
    if (lg_password_policy(line, err, sizeof err) != 0 || n + 1 > out_size) {
        sodium_memzero(line, sizeof line);
        ctl_error("password refused: %s", err);
        return -1;
    }
    memcpy(out, line, n + 1);
    sodium_memzero(line, sizeof line);
    return 0;
}

int ctl_email_valid(const char *s)
{
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n < 3 || n > 254 || at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static int one_of(const char *v, const char *const *set)
{
    for (size_t i = 0; set[i] != NULL; i++)
        if (strcmp(v, set[i]) == 0)
            return 1;
    return 0;
}

/* {"field": {"before": null, "after": value}, ...} for a new record; pairs end with NULL. */
static char *created_changes(const char *const *pairs)
{
    json_t *o = json_object();
    char *text;
    for (size_t i = 0; pairs[i] != NULL; i += 2)
        json_object_set_new(o, pairs[i], json_pack("{s:n, s:s}", "before", "after", pairs[i + 1]));
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

int ctl_user_create(PGconn *db, const char *email, const char *first, const char *last,
                    const char *role, const char *password, char id[LG_UUID_STRLEN])
{
    char hash[LG_PASSWORD_HASH_MAX], err[512], *changes = NULL, *meta = NULL;
    PGresult *res = NULL;
    json_t *m;
    int rc = -1;

    if (lg_password_hash(password, hash) != 0) {
        ctl_error("cannot hash the password (out of memory?)");
        return -1;
    }
    if (lg_db_exec(db, "BEGIN", err, sizeof err) != 0)
        goto fail;
    res =
        lg_db_query(db, "SELECT 1 FROM users WHERE lower(email) = lower($1) AND deleted_at IS NULL",
                    1, (const char *[]){email}, err, sizeof err);
    if (res == NULL)
        goto fail;
    if (PQntuples(res) > 0) {
        snprintf(err, sizeof err, "a user with the e-mail address %s exists", email);
        goto fail;
    }
    PQclear(res);
    res = lg_db_query(db,
                      "INSERT INTO users (email, password_hash, first_name, last_name, role,"
                      " password_changed_at) VALUES ($1, $2, $3, $4, $5::user_role, now())"
                      " RETURNING id",
                      5, (const char *[]){email, hash, first, last, role}, err, sizeof err);
    if (res == NULL)
        goto fail;
    snprintf(id, LG_UUID_STRLEN, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    changes = created_changes((const char *[]){"email", email, "firstName", first, "lastName", last,
                                               "role", role, "status", "ACTIVE", NULL});
    m = json_pack("{s:s, s:s}", "operator", ctl_operator(), "via", "ledgerctl");
    meta = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(m);
    res = lg_db_query(db,
                      "INSERT INTO audit_logs (action, resource, resource_id, changes, metadata)"
                      " VALUES ('CREATE_USER', 'User', $1, $2::jsonb, $3::jsonb)",
                      3, (const char *[]){id, changes, meta}, err, sizeof err);
    if (res == NULL || lg_db_exec(db, "COMMIT", err, sizeof err) != 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    ctl_error("creating the user: %s", err);
    lg_db_exec(db, "ROLLBACK", err, sizeof err);
out:
    sodium_memzero(hash, sizeof hash);
    free(changes);
    free(meta);
    PQclear(res);
    return rc;
}

/* The options every person has. Returns 0, or CTL_USAGE after a message. */
static int person_options(const ctl_opt *opts, const char *cmd, const char *const *roles,
                          const char *role)
{
    const char *email = ctl_get(opts, "email"), *first = ctl_get(opts, "first-name"),
               *last = ctl_get(opts, "last-name");
    if (email == NULL || first == NULL || last == NULL) {
        ctl_error("%s needs --email, --first-name and --last-name", cmd);
        return CTL_USAGE;
    }
    if (!ctl_email_valid(email)) {
        ctl_error("--email must be an e-mail address (at most 254 characters, no spaces)");
        return CTL_USAGE;
    }
    if (!name_ok(first) || !name_ok(last)) {
        ctl_error("--first-name and --last-name must be 1 to %d characters", NAME_MAX_LEN);
        return CTL_USAGE;
    }
    if (!one_of(role, roles)) {
        ctl_error("--role must be %s, %s or %s", roles[0], roles[1], roles[2]);
        return CTL_USAGE;
    }
    return 0;
}

static int admin_create(int argc, char **argv)
{
    static const char *const roles[] = {"SUPER_ADMIN", "ADMIN", "SUPPORT", NULL};
    ctl_opt opts[] = {{"email", NULL, 0},
                      {"first-name", NULL, 0},
                      {"last-name", NULL, 0},
                      {"role", NULL, 0},
                      {NULL, NULL, 0}};
    char password[LG_PASSWORD_MAX + 1], hash[LG_PASSWORD_HASH_MAX], err[512];
    const char *role;
    char *meta = NULL;
    PGconn *master = NULL;
    PGresult *res = NULL, *audit = NULL;
    json_t *m;
    int rc;

    if (ctl_parse(argc, argv, opts) != 0)
        return CTL_USAGE;
    role = ctl_get(opts, "role") != NULL ? ctl_get(opts, "role") : "ADMIN";
    rc = person_options(opts, "admin create", roles, role);
    if (rc != 0)
        return rc;
    if (ctl_read_password("password", password, sizeof password) != 0)
        return CTL_FAIL;
    rc = CTL_FAIL;
    if (lg_password_hash(password, hash) != 0) {
        ctl_error("cannot hash the password (out of memory?)");
        goto out;
    }
    master = ctl_master();
    if (master == NULL || lg_db_exec(master, "BEGIN", err, sizeof err) != 0)
        goto out;
    res = lg_db_query(master,
                      "INSERT INTO system_admins (email, password_hash, first_name, last_name,"
                      " role) VALUES ($1, $2, $3, $4, $5::system_role) RETURNING id",
                      5,
                      (const char *[]){ctl_get(opts, "email"), hash, ctl_get(opts, "first-name"),
                                       ctl_get(opts, "last-name"), role},
                      err, sizeof err);
    if (res == NULL) {
        if (strstr(err, "system_admins_email") != NULL)
            ctl_error("a system administrator with this e-mail address exists");
        else
            ctl_error("creating the administrator: %s", err);
        lg_db_exec(master, "ROLLBACK", err, sizeof err);
        goto out;
    }
    m = json_pack("{s:s, s:s, s:s}", "adminId", PQgetvalue(res, 0, 0), "email",
                  ctl_get(opts, "email"), "role", role);
    meta = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(m);
    audit =
        lg_db_query(master,
                    "INSERT INTO tenant_audit_logs (tenant_id, action, performed_by, metadata)"
                    " VALUES ($1, 'SYSTEM_ADMIN_CREATED', $2, $3::jsonb)",
                    3, (const char *[]){SYSTEM_PLANE_ID, ctl_operator(), meta}, err, sizeof err);
    if (audit == NULL || lg_db_exec(master, "COMMIT", err, sizeof err) != 0) {
        ctl_error("creating the administrator: %s", err);
        lg_db_exec(master, "ROLLBACK", err, sizeof err);
        goto out;
    }
    fprintf(stderr, "system administrator %s (%s) created\n", ctl_get(opts, "email"), role);
    printf("%s\n", PQgetvalue(res, 0, 0));
    rc = CTL_OK;
out:
    sodium_memzero(password, sizeof password);
    sodium_memzero(hash, sizeof hash);
    free(meta);
    PQclear(audit);
    PQclear(res);
    PQfinish(master);
    return rc;
}

static int user_create(int argc, char **argv)
{
    static const char *const roles[] = {"SUPER_ADMIN", "MANAGER", "TELLER", NULL};
    ctl_opt opts[] = {{"tenant", NULL, 0},    {"email", NULL, 0}, {"first-name", NULL, 0},
                      {"last-name", NULL, 0}, {"role", NULL, 0},  {NULL, NULL, 0}};
    char password[LG_PASSWORD_MAX + 1], id[LG_UUID_STRLEN];
    const char *role;
    PGconn *master = NULL, *db = NULL;
    lg_keyring *kr = NULL;
    lg_tenant t;
    int rc;

    if (ctl_parse(argc, argv, opts) != 0)
        return CTL_USAGE;
    role = ctl_get(opts, "role") != NULL ? ctl_get(opts, "role") : "TELLER";
    if (ctl_get(opts, "tenant") == NULL) {
        ctl_error("user create needs --tenant");
        return CTL_USAGE;
    }
    rc = person_options(opts, "user create", roles, role);
    if (rc != 0)
        return rc;
    if (ctl_read_password("password", password, sizeof password) != 0)
        return CTL_FAIL;
    rc = CTL_FAIL;
    master = ctl_master();
    kr = ctl_keyring();
    if (master == NULL || kr == NULL ||
        (db = ctl_tenant_db(master, kr, ctl_get(opts, "tenant"), &t)) == NULL)
        goto out;
    if (ctl_user_create(db, ctl_get(opts, "email"), ctl_get(opts, "first-name"),
                        ctl_get(opts, "last-name"), role, password, id) != 0)
        goto out;
    fprintf(stderr, "user %s (%s) created in tenant %s\n", ctl_get(opts, "email"), role, t.slug);
    printf("%s\n", id);
    rc = CTL_OK;
out:
    sodium_memzero(password, sizeof password);
    PQfinish(db);
    PQfinish(master);
    lg_keyring_free(kr);
    return rc;
}

int cmd_admin(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "create") == 0)
        return admin_create(argc - 1, argv + 1);
    ctl_error("usage: ledgerctl admin create --email E --first-name F --last-name L "
              "[--role SUPER_ADMIN|ADMIN|SUPPORT] < password");
    return CTL_USAGE;
}

int cmd_user(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "create") == 0)
        return user_create(argc - 1, argv + 1);
    ctl_error("usage: ledgerctl user create --tenant S --email E --first-name F --last-name L "
              "[--role SUPER_ADMIN|MANAGER|TELLER] < password");
    return CTL_USAGE;
}
