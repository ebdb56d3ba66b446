/*
 * ledgerctl: the operator's tool. Each cmd_*.c file holds one family of commands; they share the
 * option parser and the connections below. Output: results on stdout (one value per line, so
 * scripts can capture them), everything for people on stderr. Exit 0 on success, 1 on a failure
 * of the operation, 2 on a usage error.
 */
#ifndef LEDGERCTL_CTL_H
#define LEDGERCTL_CTL_H

#include "lg_crypto.h"
#include "lg_tenant.h"

#include "lg_provision.h"

#include <libpq-fe.h>
#include <sys/types.h>
#include <time.h>

#define CTL_OK 0
#define CTL_FAIL 1
#define CTL_USAGE 2

/* --name value options of one command. */
typedef struct {
    const char *name;  /* without the dashes */
    const char *value; /* NULL when not given */
    int is_flag;       /* takes no value; value becomes "1" when present */
} ctl_opt;

/* Parses argv (after the command words) into opts. Returns 0, or -1 after printing the error. */
int ctl_parse(int argc, char **argv, ctl_opt *opts);
/* The value of an option, or NULL. */
const char *ctl_get(const ctl_opt *opts, const char *name);
/* Prints "ledgerctl: <message>" to stderr. */
void ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Connections from LEDGER_MASTER_DSN and the keyring from LEDGER_MASTER_KEY_FILE; NULL after an
 * error message. */
PGconn *ctl_master(void);

/* The PostgreSQL servers of LEDGER_PG_SERVERS_FILE (superuser conninfo per server); NULL after an
 * error message, which says why the command needs them (why: "tenant databases are dumped as
 * the superuser of their server"). Free with lg_pg_servers_free. */
lg_pg_servers *ctl_servers(const char *why);
lg_keyring *ctl_keyring(void);
/* A connection to a tenant's database, as the tenant's own role; fills *t. NULL after an error. */
PGconn *ctl_tenant_db(PGconn *master, const lg_keyring *kr, const char *slug, lg_tenant *t);
/* Writes a TenantAuditLog row; metadata is a JSON text or NULL. */
int ctl_tenant_audit(PGconn *master, const char *tenant_id, const char *action,
                     const char *metadata);
/* Runs fn on the tenant slug (when not NULL) or on every ACTIVE tenant, in slug order, with
 * its own master connection and keyring. Returns the number of tenants for which fn returned
 * non-zero (1 when the tenants cannot be listed), or -1 when master or keyring cannot be had. */
int ctl_each_tenant(const char *slug,
                    int (*fn)(PGconn *master, const lg_keyring *kr, const char *slug));

/* The operator's name for audit rows ($LEDGER_OPERATOR, else $USER, else "ledgerctl"). */
const char *ctl_operator(void);

/* Is s an acceptable e-mail address for a user (at most 254 characters, one '@', no spaces)? */
int ctl_email_valid(const char *s);
/* Reads a password from stdin (one line; no echo on a terminal, after prompt) into out and checks
 * it against the policy. Returns 0, or -1 after an error message. Wipe out after use. */
int ctl_read_password(const char *prompt, char *out, size_t out_size);
/* Creates a bank's user with a password (Argon2id) and its AuditLog row CREATE_USER, in one
 * transaction of the tenant database db; fills id. Returns 0, or -1 after an error message. */
int ctl_user_create(PGconn *db, const char *email, const char *first, const char *last,
                    const char *role, const char *password, char id[LG_UUID_STRLEN]);

/* ---- backups (cmd_backup.c), shared with restore */

/* The path of a PostgreSQL program: $LEDGER_PG_BIN/name, else name (found in PATH). */
void ctl_pg_program(const char *name, char *out, size_t out_size);
/* SHA-256 of a file as 64 lower-case hex digits (and its size). Returns 0 or -1 with err. */
int ctl_sha256_file(const char *path, char hex[65], long long *size, char *err, size_t err_size);
/* Splits a libpq conninfo into one without the password (dbname replaced when dbname is not
 * NULL) and the password ("" when none), so that a program gets the first on its command line
 * and the second through PGPASSWORD. Returns 0 or -1 with err. */
int ctl_conninfo_split(const char *dsn, const char *dbname, char *conninfo, size_t conninfo_size,
                       char *password, size_t password_size, char *err, size_t err_size);
/* Appends " key='value'" to a conninfo, quoted as libpq wants (nothing when out is too small). */
void ctl_conninfo_add(char *out, size_t out_size, const char *key, const char *value);
/* Starts argv (PATH searched) with PGPASSWORD=password (none when NULL) and its stderr in
 * stderr_path (when not NULL). Returns the pid, or -1. */
pid_t ctl_spawn(const char *const *argv, const char *password, const char *stderr_path);
/* Waits for pid; its exit status, 128 + signal when a signal ended it, -1 on error. */
int ctl_wait(pid_t pid);
/* The time a backup folder's name (YYYYMMDDTHHMMSSZ) stands for, or -1 for any other name. */
time_t ctl_backup_folder_time(const char *name);

/* ---- verify (cmd_verify.c) */

/* Checks the double-entry invariants of one tenant database (archived entries included) in one
 * snapshot; prints each break as "BREAK tenant=<label> ...". Returns the number of breaks, or
 * -1 with err when the checks cannot run. */
int ctl_verify_db(PGconn *db, const char *label, char *err, size_t err_size);

int cmd_keys(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_tenant(int argc, char **argv);
int cmd_apikey(int argc, char **argv);
int cmd_customer(int argc, char **argv);
int cmd_account(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_admin(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_kyc(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_archive(int argc, char **argv);

#endif
