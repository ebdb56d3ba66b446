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

/* Connects; returns NULL and a readable reason (never the password) in err. The connection
 * gets the TCP settings of lg_db_tcp_params and connect_timeout=10 unless conninfo sets them. */
PGconn *lg_db_connect(const char *conninfo, char *err, size_t err_size);

/*
 * A connection whose peer went silent (a network cut that drops packets, a server host that
 * vanished) must fail, not hang: libpq waits on its socket without a time limit, and by the
 * kernel's defaults a request sent is retransmitted for about 15 minutes, and a connection that
 * waits for an answer that never comes (no keepalives) waits for ever - with a worker's batch,
 * and its partitions, behind it. Every connection therefore asks for TCP keepalives and
 * TCP_USER_TIMEOUT: with tcp_user_timeout_ms = T, a connection with data unacknowledged, or
 * keepalive probes unanswered, for T ms is closed by the kernel, and libpq reports it as a lost
 * connection (retryable). keepalives_idle is T/2, keepalives_interval T/4 (at least 1 s
 * each), 3 probes. A busy server does not trip it: its kernel acknowledges and answers probes
 * while a long statement runs.
 *
 * lg_db_set_tcp_user_timeout_ms sets T for the process (LEDGER_PG_TCP_USER_TIMEOUT_MS; 0 turns
 * the settings off, libpq and the kernel defaults then apply); call it at start-up, before any
 * thread connects. Default 10000.
 */
void lg_db_set_tcp_user_timeout_ms(long ms);

/* Appends the keyword/value pairs above to keys/values (from index *n, at most 5 pairs: room
 * for them is the caller's) and advances *n. The values are static strings. */
void lg_db_tcp_params(const char **keys, const char **values, int *n);

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
