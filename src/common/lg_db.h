/*
 * PostgreSQL helpers over libpq: connect, run a statement, classify errors so that callers can
 * choose between retry and give up.
 */
#ifndef LG_DB_H
#define LG_DB_H

#include <libpq-fe.h>
#include <stddef.h>

typedef enum {
    LG_DB_OK = 0,
    LG_DB_RETRY,    /* deadlock, serialization failure, unique race, lost connection: redo */
    LG_DB_FATAL     /* anything else: a bug or a broken database */
} lg_db_status;

/* Connects; returns NULL and a readable reason (never the password) in err. */
PGconn *lg_db_connect(const char *conninfo, char *err, size_t err_size);

/* Runs sql (no parameters, may hold several statements). Returns 0 or -1 with err. */
int lg_db_exec(PGconn *conn, const char *sql, char *err, size_t err_size);

/* Runs a parameterised statement expecting tuples or a command status. Returns the result
 * (caller PQclear()s it) or NULL with err. */
PGresult *lg_db_query(PGconn *conn, const char *sql, int n_params, const char *const *params,
                      char *err, size_t err_size);

/* Classifies a failed result (or a broken connection when res is NULL). */
lg_db_status lg_db_classify(PGconn *conn, const PGresult *res);

/* The SQLSTATE of a result, or "" */
const char *lg_db_sqlstate(const PGresult *res);

/* Opens a transaction scoped to one customer (users.id of a CUSTOMER): row-level security
 * (tenant migration 0007) then shows and lets write only that customer's customers, accounts,
 * transactions and ledger entries, whatever the statements' WHERE clauses. read_only != 0 makes
 * it BEGIN READ ONLY. The scope ends with the transaction: COMMIT or ROLLBACK it before giving
 * the connection back (one given back in a transaction is closed, never pooled). Returns 0, or
 * -1 with err (the connection is then in no transaction, or broken). */
int lg_db_begin_customer(PGconn *conn, const char *customer_user_id, int read_only, char *err,
                         size_t err_size);

/* Quotes an identifier for SQL built from names (database, role); caller PQfreemem()s. */
char *lg_db_quote_ident(PGconn *conn, const char *ident);

#endif
