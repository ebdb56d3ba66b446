/*
 * Versioned SQL migrations. A directory holds files named NNNN_name.sql, applied in order; each
 * database records what it applied in schema_migrations (version, name, checksum, applied_at).
 * Applying is idempotent: applied versions are skipped; an applied file whose checksum changed is
 * an error (migrations are append-only). Each file runs in its own transaction, under an advisory
 * lock so two runs never migrate one database at once.
 */
#ifndef LG_MIGRATE_H
#define LG_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

typedef struct {
    int applied;        /* files applied by this call */
    int already;        /* files found already applied */
    char version[16];   /* the database's version after the call, "" when none */
} lg_migrate_report;

/* Lists, without changing anything, the versions of dir not yet applied to conn
 * ("0002,0003" into pending, "" when none), their count, and the current version. */
int lg_migrate_plan(PGconn *conn, const char *dir, char *pending, size_t pending_size,
                    int *n_pending, char *version, size_t version_size, char *err,
                    size_t err_size);

/* Applies the pending migrations of dir to conn. Returns 0 or -1 with err. */
int lg_migrate_apply(PGconn *conn, const char *dir, lg_migrate_report *report, char *err,
                     size_t err_size);

#endif
