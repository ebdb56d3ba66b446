#include "lg_db.h"

#include <stdio.h>
#include <string.h>

static void first_line(char *err, size_t err_size, const char *prefix, const char *msg)
{
    size_t n;
    snprintf(err, err_size, "%s%s", prefix, msg != NULL ? msg : "unknown error");
    n = strcspn(err, "\n");
    err[n] = '\0';
}

/* The TCP settings of every connection (lg_db.h); set once at start-up. */
static struct {
    long user_timeout_ms;
    char user_timeout[24], idle[24], interval[24];
} tcp = {10000, "10000", "5", "2"};

void lg_db_set_tcp_user_timeout_ms(long ms)
{
    long idle = ms / 2000, interval = ms / 4000;
    tcp.user_timeout_ms = ms > 0 ? ms : 0;
    snprintf(tcp.user_timeout, sizeof tcp.user_timeout, "%ld", tcp.user_timeout_ms);
    snprintf(tcp.idle, sizeof tcp.idle, "%ld", idle > 0 ? idle : 1);
    snprintf(tcp.interval, sizeof tcp.interval, "%ld", interval > 0 ? interval : 1);
}

void lg_db_tcp_params(const char **keys, const char **values, int *n)
{
    if (tcp.user_timeout_ms <= 0)
        return;
    keys[*n] = "keepalives";
    values[(*n)++] = "1";
    keys[*n] = "keepalives_idle";
    values[(*n)++] = tcp.idle;
    keys[*n] = "keepalives_interval";
    values[(*n)++] = tcp.interval;
    keys[*n] = "keepalives_count";
    values[(*n)++] = "3";
    keys[*n] = "tcp_user_timeout";
    values[(*n)++] = tcp.user_timeout;
}

PGconn *lg_db_connect(const char *conninfo, char *err, size_t err_size)
{
    /* Our settings first: conninfo, expanded from "dbname" after them, overrides any. */
    const char *keys[8] = {"connect_timeout"}, *values[8] = {"10"};
    int n = 1;
    PGconn *conn;
    lg_db_tcp_params(keys, values, &n);
    keys[n] = "dbname";
    values[n++] = conninfo;
    keys[n] = NULL;
    values[n] = NULL;
    conn = PQconnectdbParams(keys, values, 1);
    if (conn == NULL) {
        snprintf(err, err_size, "out of memory connecting to PostgreSQL");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        first_line(err, err_size, "cannot connect to PostgreSQL: ", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

int lg_db_exec(PGconn *conn, const char *sql, char *err, size_t err_size)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc != 0)
        first_line(err, err_size, "", PQerrorMessage(conn));
    PQclear(res);
    return rc;
}

PGresult *lg_db_query(PGconn *conn, const char *sql, int n_params, const char *const *params,
                      char *err, size_t err_size)
{
    PGresult *res = PQexecParams(conn, sql, n_params, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    first_line(err, err_size, "", PQerrorMessage(conn));
    PQclear(res);
    return NULL;
}

const char *lg_db_sqlstate(const PGresult *res)
{
    const char *s = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s != NULL ? s : "";
}

lg_db_status lg_db_classify(PGconn *conn, const PGresult *res)
{
    const char *state = lg_db_sqlstate(res);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
        return LG_DB_RETRY;
    if (res != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_PIPELINE_SYNC)
            return LG_DB_OK;
    }
    /* 40001 serialization_failure, 40P01 deadlock, 08xxx connection, 57P admin shutdown,
     * 53300 too many connections. */
    /* A unique violation is a race only on a transaction's own id: a concurrent applier of
     * the same command recorded it first, and redoing finds it recorded. Any other duplicate
     * (a reference, a key) would collide again on every retry: it is not retryable. */
    if (strcmp(state, "23505") == 0) {
        const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
        return constraint != NULL && strcmp(constraint, "transactions_pkey") == 0 ? LG_DB_RETRY
                                                                                  : LG_DB_FATAL;
    }
    /* 25P03: the server ended a session left idle in a transaction too long. */
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
        strncmp(state, "08", 2) == 0 || strcmp(state, "25P03") == 0 ||
        strncmp(state, "57P", 3) == 0 || strcmp(state, "53300") == 0)
        return LG_DB_RETRY;
    return LG_DB_FATAL;
}

int lg_db_begin_customer(PGconn *conn, const char *customer_user_id, int read_only, char *err,
                         size_t err_size)
{
    PGresult *res;
    if (customer_user_id == NULL || customer_user_id[0] == '\0') {
        snprintf(err, err_size, "no customer to scope the transaction to");
        return -1;
    }
    if (lg_db_exec(conn, read_only ? "BEGIN READ ONLY" : "BEGIN", err, err_size) != 0)
        return -1;
    /* is_local = true: the setting dies with the transaction. */
    res = lg_db_query(conn, "SELECT set_config('ledger.customer_user_id', $1::uuid::text, true)",
                      1, (const char *[]){customer_user_id}, err, err_size);
    if (res == NULL) {
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    PQclear(res);
    return 0;
}

char *lg_db_quote_ident(PGconn *conn, const char *ident)
{
    return PQescapeIdentifier(conn, ident, strlen(ident));
}
