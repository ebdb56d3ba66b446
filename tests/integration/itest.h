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

#define ITEST_MAX_ACCOUNTS 16

/* A tenant made for one test: a unique slug, an API key, one customer with accounts. */
typedef struct {
    char slug[64];
    char id[64];
    char api_key[128];
    char customer[32];
    char account[ITEST_MAX_ACCOUNTS][32];
    int n_accounts;
} itest_tenant;

/* Creates a tenant "<prefix>-<random>" on the server of admin_dsn_env (NULL: LEDGER_ADMIN_DSN)
 * with an API key (role TELLER), a customer and n_accounts (at most ITEST_MAX_ACCOUNTS)
 * CHECKING accounts in currency. */
void itest_tenant_create(itest_tenant *t, const char *prefix, const char *admin_dsn_env,
                         int n_accounts, const char *currency);

/* Opens one more CHECKING account for t's customer, with an overdraft limit ("50.00"; NULL:
 * none), appended to t->account; returns its number. */
const char *itest_account_add(itest_tenant *t, const char *currency,
                               const char *overdraft_limit);

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

/* The same; with tolerate set, a request that got no answer (connection refused or reset,
 * timeout) returns 0 instead of failing the test. */
long itest_post_txn_try(const itest_tenant *t, const char *json, const char *idempotency_key,
                        char *id, size_t id_size, int tolerate);

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
 * idle_ms; calls fn for each message whose key starts with key_prefix. Returns the count.
 * A negative idle_ms reads to the end of every partition as it is now (for when the producers
 * have stopped), or until it has been quiet for -idle_ms. */
typedef void (*itest_msg_fn)(const void *key, size_t key_len, const void *value,
                             size_t value_len, void *arg);
int itest_consume(const char *topic, const char *key_prefix, int idle_ms, itest_msg_fn fn,
                  void *arg);

/* From now on, itest_consume and its variants read topic from its current end (its high
 * watermarks now) instead of its beginning: for a test whose tenants are all new, what came
 * before belongs to other tests, and skipping it keeps the reads short late in the suite. */
void itest_consume_mark(const char *topic);

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

/* As itest_consume, with read_committed = 0 for isolation.level=read_uncommitted (which also
 * sees the events of aborted Kafka transactions). */
int itest_consume_isolation(const char *topic, const char *key_prefix, int idle_ms,
                            int read_committed, itest_msg_fn fn, void *arg);

/* Milliseconds on a monotonic clock. */
int64_t itest_now_ms(void);
void itest_sleep_ms(int ms);

/*
 * ledger-worker processes started by a test (LEDGER_WORKER_PATH), for the crash tests, which
 * run while the stack's own worker is stopped. A worker inherits the test's environment (the
 * stack's coordinates, the sanitizer options), gets LEDGER_WORKER_INSTANCE=instance and the
 * extra "NAME=value" settings of env (NULL-terminated, may be NULL), and writes its log to
 * ITEST_LOG_DIR/<name>.log (truncated on the first start of that name in this process, appended
 * on restarts). Workers never outlive the test: they die with the thread that started them
 * (PR_SET_PDEATHSIG: start them from the main thread), and an atexit handler stops those still
 * running (SIGTERM, then SIGKILL), on success and on failure alike.
 */
typedef struct {
    int pid; /* 0 when not running */
    int instance;
    char name[64];
    char log[512];
    long log_seen; /* itest_worker_wait_log: where the previous match ended */
    const char *const *env;
} itest_worker;

/* Starts a producer-api of the test's own (the program api_path) on 127.0.0.1:port with the
 * extra environment env ("NAME=value", NULL-terminated; NULL for none), its log in
 * ITEST_LOG_DIR/log_name, and waits until its /healthz answers 200 (fails the test otherwise).
 * Writes its base URL into url. It is stopped (SIGTERM) when the test exits; one at a time. */
void itest_api_start(const char *api_path, int port, const char *log_name, const char *const *env,
                     char *url, size_t url_size);
/* Stops it now (SIGTERM, waits). */
void itest_api_stop(void);

void itest_worker_start(itest_worker *w, const char *name, int instance,
                        const char *const *env);
/* Starts w again with the same name, instance and settings (after a kill or a stop). */
void itest_worker_restart(itest_worker *w);
/* Waits until a log line after the previous match contains text; returns 1, or 0 on timeout. */
int itest_worker_wait_log(itest_worker *w, const char *text, int timeout_ms);
/* SIGKILL, and reaps it. */
void itest_worker_kill(itest_worker *w);
/* SIGTERM, and waits up to timeout_ms for the exit; returns the exit status, 128 + the signal
 * when a signal ended it, or -1 when it had to be SIGKILLed after the timeout. */
int itest_worker_stop(itest_worker *w, int timeout_ms);
/* Lines of w's log containing text. */
int itest_worker_log_count(const itest_worker *w, const char *text);
/* Fails the test when the log of any worker started by this process has a sanitizer report. */
void itest_workers_check_logs(void);
/* When w has exited: reaps it (w->pid becomes 0) and returns its exit status (128 + the signal
 * when a signal ended it); -1 while it runs (or when it was not running). */
int itest_worker_exited(itest_worker *w);

/* A set of ids (transaction or entry ids) with a count and a tag per id. Not thread-safe. */
typedef struct {
    char id[40];
    int count;
    int tag;
} itest_id;
typedef struct {
    itest_id *v;
    size_t n, cap;
    int sorted;
} itest_idset;
void itest_idset_add(itest_idset *s, const char *id, int tag);
/* The element, or NULL (sorts the set on first use after an add). */
itest_id *itest_idset_find(itest_idset *s, const char *id);
void itest_idset_free(itest_idset *s);

/*
 * A flow of TRANSFER commands among t's first n_accounts accounts, posted by n_threads client
 * threads (libcurl), each command with its own Idempotency-Key; a 503 is retried with the same
 * key (the same transaction id) unless fail_on_5xx. paced_ms > 0 spreads the commands evenly
 * over that many milliseconds. Amounts are random, 0.01 to max_amount_minor cents. With
 * resend_every = k > 0, every k-th command is posted a second time with the same key once it
 * was accepted, as a client that lost the 202 would: the answer must be the same id, and the
 * command must still take effect and be reported once. A client keeps retrying a refused
 * command (5xx, or no answer at all with retry_unanswered) for retry_ms (0: 6 s) with the same
 * key before the test fails.
 */
typedef struct {
    const itest_tenant *t;
    int n_accounts;
    int n_commands;
    int n_threads;
    int paced_ms;
    int64_t max_amount_minor;
    int fail_on_5xx;
    int resend_every;
    int retry_ms;
    int retry_unanswered;
    /* filled as the flow runs (read them after itest_flow_join) */
    itest_idset accepted; /* ids answered 202 */
    int n_accepted, n_retried_503, n_resent, n_unanswered;
    /* internal */
    int next, running;
    int64_t started_ms, ended_ms;
    void *threads;
    void *lock;
} itest_flow;

void itest_flow_start(itest_flow *f);
/* 1 once every command was answered 202. */
int itest_flow_done(itest_flow *f);
void itest_flow_join(itest_flow *f);

/* Deposits amount ("1000.00") into each of t's first n_accounts accounts, waits until each is
 * COMPLETED, and adds their ids to accepted (when not NULL). */
void itest_fund_accounts(const itest_tenant *t, int n_accounts, const char *amount,
                         itest_idset *accepted);

/* Waits until the tenant database holds n transactions; returns the count it reached. */
int itest_wait_recorded(PGconn *db, int n, int timeout_ms);

/*
 * The exactly-once checks, once the workers are stopped: every accepted id has exactly one row
 * in transactions, COMPLETED or FAILED (the transfer flows fail only for insufficient funds,
 * never with a processing error), and the table holds nothing else; a read_committed
 * consumer of txn.results sees exactly one TransactionResult per accepted id (with the status
 * the database recorded) and none for another id of the tenant; ledger.entries carries exactly
 * one LedgerEntryEvent per ledger_entries row (event id = entry id) and none other; `ledgerctl
 * verify --tenant` exits 0; the customer accounts hold funded_minor in total.
 */
typedef struct {
    int accepted, completed, failed;
    int results, result_duplicates;
    int entries, entry_events, entry_duplicates;
    int results_uncommitted; /* seen read_uncommitted: includes aborted re-emissions */
} itest_eo_figures;
void itest_check_exactly_once(const itest_tenant *t, PGconn *db, itest_idset *accepted,
                              int64_t funded_minor, itest_eo_figures *f);

/* A running flow's counters so far, read under its lock (each pointer may be NULL). */
void itest_flow_counts(itest_flow *f, int *accepted, int *retried_503, int *unanswered);

/* SIGKILLs the test's own producer-api (itest_api_start) and reaps it: requests in flight get
 * no answer. Another can be started at once. */
void itest_api_kill(void);
/* Sends SIGTERM to the test's own producer-api without waiting (itest_api_stop then waits). */
void itest_api_term(void);

#endif
