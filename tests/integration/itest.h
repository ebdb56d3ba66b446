/*
 * Helpers for integration tests: the stack's coordinates from the environment (set by
 * scripts/test.sh through scripts/stack-env.sh), ledgerctl, HTTP with libcurl, SQL with libpq,
 * and Kafka with librdkafka. Every helper aborts the test with a message on an unexpected
 * failure, so tests read as a list of steps and assertions.
 */
#ifndef ITEST_H
#define ITEST_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            itest_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                              \
        }                                                                                    \
    } while (0)

void itest_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

/* A required environment variable. */
const char *itest_env(const char *name);

/* Runs ledgerctl with the given arguments (NULL-terminated); stdout goes to out (trimmed).
 * Returns the exit status. */
int itest_ledgerctl(char *out, size_t out_size, const char *arg, ...) __attribute__((sentinel));

/* A tenant made for one test: a unique slug, an API key, one customer with accounts. */
typedef struct {
    char slug[64];
    char id[64];
    char api_key[128];
    char customer[32];
    char account[4][32];
} itest_tenant;

/* Creates a tenant "<prefix>-<random>" on the server of admin_dsn_env (NULL: LEDGER_ADMIN_DSN)
 * with an API key (role TELLER), a customer and n_accounts CHECKING accounts in currency. */
void itest_tenant_create(itest_tenant *t, const char *prefix, const char *admin_dsn_env,
                         int n_accounts, const char *currency);

/* An HTTP exchange with producer-api. headers: NULL-terminated "Name: value" strings. Returns
 * the status; *body is malloc'd (caller frees). */
long itest_http(const char *method, const char *path, const char *const *headers,
                const char *request_body, char **body, char *content_type, size_t ct_size);

/* POSTs a transaction as tenant t; returns the status, fills id (on 202). */
long itest_post_txn(const itest_tenant *t, const char *json, const char *idempotency_key,
                    char *id, size_t id_size);

/* Polls GET /v1/transactions/{id} until its status is not PENDING or timeout_ms passes;
 * returns the final JSON (caller json_decref()s). */
json_t *itest_wait_txn(const itest_tenant *t, const char *id, int timeout_ms);

/* Posts a transaction as tenant t and checks that it was accepted (202); fills id[64]. */
void itest_submit(const itest_tenant *t, const char *json, char id[64]);

/* POSTs n transactions at once (one connection each, all in flight together) as tenant t;
 * statuses[i] gets each answer's status and ids[i] the id of each 202. */
void itest_submit_parallel(const itest_tenant *t, const char *const *bodies, size_t n,
                           char (*ids)[64], long *statuses);
/* The same with the i-th command sent as tenant who[i]. */
void itest_submit_parallel_as(const itest_tenant *const *who, const char *const *bodies, size_t n,
                              char (*ids)[64], long *statuses);

/* A string member of a JSON object; "" when it is missing or null. */
const char *itest_json_str(const json_t *o, const char *name);

/* Waits for transaction id's outcome and checks its status (COMPLETED, FAILED, REVERSED...);
 * returns the transaction's JSON (caller json_decref()s). */
json_t *itest_expect_status(const itest_tenant *t, const char *id, const char *status);

/* Opens one more account for t's customer: type (CHECKING, SAVINGS, FIXED_DEPOSIT, LOAN),
 * currency, and an overdraft limit and minimum balance as decimal strings (NULL: none). Writes
 * its number into out[32]. */
void itest_account_open(const itest_tenant *t, const char *type, const char *currency,
                        const char *overdraft_limit, const char *minimum_balance, char out[32]);

/* A connection to a tenant's database as the server's superuser (admin_dsn_env as above). */
PGconn *itest_tenant_db(const itest_tenant *t, const char *admin_dsn_env);
/* A connection to the master database. */
PGconn *itest_master_db(void);
/* Runs a query expected to return one value; returns it malloc'd. */
char *itest_sql_value(PGconn *conn, const char *sql, const char *param);

/* Runs a statement expected to succeed, with one optional parameter. Returns the number of
 * rows it affected. */
long itest_sql_exec(PGconn *conn, const char *sql, const char *param);

/* Sets an account's status (ACTIVE, INACTIVE, FROZEN, CLOSED) in the tenant database, as the
 * account management API would. */
void itest_account_set_status(PGconn *db, const char *account_number, const char *status);

/* An account's balance as text ("12.50"); malloc'd. */
char *itest_balance(PGconn *db, const char *account_number);

/* A transaction's ledger entries in posting order, as
 * "DEBIT GL-1000-USD 1000 100.00 100.00, CREDIT <account> 2000 100.00 100.00" (entry type,
 * account number, account code, amount, balance after); "" when it has none. malloc'd. */
char *itest_entries(PGconn *db, const char *transaction_id);

/* The tenant's database name (tenant_<slug> with '-' as '_') into out[80]. */
void itest_tenant_db_name(const itest_tenant *t, char out[80]);

/* Sum of the high watermarks of a topic's partitions. */
int64_t itest_topic_end(const char *topic);

/* Reads a topic from the start with isolation.level=read_committed until it has been quiet for
 * idle_ms; calls fn for each message whose key starts with key_prefix. Returns the count. */
typedef void (*itest_msg_fn)(const void *key, size_t key_len, const void *value,
                             size_t value_len, void *arg);
int itest_consume(const char *topic, const char *key_prefix, int idle_ms, itest_msg_fn fn,
                  void *arg);

/* Produces one message straight to a topic partition (acks=all), bypassing the API. */
void itest_produce(const char *topic, int partition, const char *key, const void *value,
                   size_t len);

/* Like itest_consume, with the whole message (headers included) given to fn. */
typedef void (*itest_kmsg_fn)(const void *rkmessage, void *arg); /* a rd_kafka_message_t */
int itest_consume_messages(const char *topic, const char *key_prefix, int idle_ms,
                           itest_kmsg_fn fn, void *arg);

/* Builds a valid TransactionCommand for tenant t->id (its user: the API key's user of the tenant
 * named t->slug), encoded. The caller frees *value. */
void itest_command(const itest_tenant *t, int type, const char *amount_minor_text,
                   const char *from, const char *to, char txn_id[64], void **value, size_t *len);

/* Milliseconds on a monotonic clock. */
int64_t itest_now_ms(void);

#endif
