/*
 * The worker's SQL: named statements prepared once per tenant connection, and a small pipeline
 * runner (libpq pipeline mode) that sends several statements in one round trip and collects
 * their results. A batch costs two or three round trips whatever its size.
 */
#ifndef LG_LEDGER_SQL_H
#define LG_LEDGER_SQL_H

#include "lg_db.h"

#include <libpq-fe.h>
#include <stddef.h>

enum {
    SQL_ORIGINALS = 0,   /* $1 uuid[]: reversal originals and their entries */
    SQL_LOCK_ACCOUNTS,   /* $1 numbers, $2 ids, $3 currencies: lock in id order */
    SQL_RELOCK_ORIGINALS, /* $1 uuid[]: lock the originals, fresh status */
    SQL_RECORDED,        /* $1 uuid[]: which transactions exist */
    SQL_INSERT_TRANSACTIONS,
    SQL_INSERT_ENTRIES,
    SQL_UPDATE_BALANCES,
    SQL_MARK_REVERSED,
    SQL_OUTCOME_TRANSACTIONS,
    SQL_OUTCOME_ENTRIES,
    SQL_N_STATEMENTS,
    SQL_RAW = -1 /* a plain statement given as text, without parameters */
};

/* Prepares every statement on a new connection (the router's on-connect hook). arg: NULL, or
 * a long holding the session's idle_in_transaction_session_timeout in milliseconds (0: none),
 * so that a worker frozen inside a batch's transaction (a zombie) cannot hold its accounts'
 * row locks, and with them every other worker, for longer than that. */
int wk_sql_prepare(PGconn *db, void *arg, char *err, size_t err_size);

#define PIPELINE_MAX 8
#define PIPELINE_MAX_PARAMS 20

typedef struct {
    int statement;       /* SQL_* or SQL_RAW */
    const char *raw_sql; /* for SQL_RAW */
    int n_params;
    const char *params[PIPELINE_MAX_PARAMS];
} wk_step;

typedef struct {
    wk_step steps[PIPELINE_MAX];
    PGresult *results[PIPELINE_MAX];
    size_t n;
} wk_pipeline;

/* Adds a step; returns the step for its parameters. */
wk_step *wk_pipeline_add(wk_pipeline *p, int statement, const char *raw_sql);

/* Sends every step in one pipeline and reads every result. Returns LG_DB_OK when all
 * succeeded; otherwise the classification of the first failure, with err. Results stay in
 * p->results (NULL for steps that were not reached) until wk_pipeline_clear. */
lg_db_status wk_pipeline_run(PGconn *db, wk_pipeline *p, const char *what, char *err,
                             size_t err_size);
void wk_pipeline_clear(wk_pipeline *p);

#endif
