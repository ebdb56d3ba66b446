/*
 * The fault-injection scenarios (tests/chaos/chaos_*.c, ctest label "chaos"): each drives
 * transfers over REST for several tenants on both PostgreSQL servers, with ledger-workers of its
 * own, injects its fault while they flow, lets the system recover, then checks every tenant with
 * itest_check_exactly_once (one outcome per 202, nothing applied twice, every result and ledger
 * event exactly once for a read_committed consumer, ledgerctl verify, money conserved) and prints
 * one report line:
 *
 *   CHAOS <name>: accepted=N outcomes=N completed=N failed=N duplicates_prevented=N lost=0
 *                 faults=N recover_ms=N
 *
 * duplicates_prevented counts the chances the system had to apply a command twice and did not:
 * a client resending a command with its Idempotency-Key (after a 5xx, after no answer at all, or
 * on purpose), and results a worker re-emitted in a Kafka transaction that was then aborted
 * (read_uncommitted minus read_committed results). recover_ms is the longest time, over the
 * scenario's faults, from the end of a fault to the first new transfer answered 202 and
 * COMPLETED (chaos_recovered).
 *
 * Faults that need the shell (the broker, the PostgreSQL servers, the network, the disk) go
 * through scripts/chaos.sh (chaos_sh).
 */
#ifndef CHAOS_H
#define CHAOS_H

#include "itest.h"

#define CHAOS_MAX_TENANTS 8
#define CHAOS_MAX_WORKERS 4

typedef struct {
    const char *name;          /* the scenario, in the report line and the workers' log names */
    int n_tenants;             /* alternately on the main and the second server */
    int n_accounts;            /* per tenant, each funded with 1000.00 */
    int commands_per_tenant;   /* transfers per tenant */
    int flow_ms;               /* spread over this many milliseconds */
    int threads_per_tenant;    /* client threads per tenant */
    int retry_ms;              /* how long a client retries a refused command (0: 6 s) */
    int retry_unanswered;      /* retry a request that got no answer (the API died) */
    int resend_every;          /* every k-th command sent twice with its key (0: never) */
    int n_workers;             /* ledger-workers the scenario starts (instances 1..n) */
    const char *const *worker_env; /* their extra settings, NULL-terminated, may be NULL */
} chaos_config;

typedef struct {
    chaos_config cfg;
    itest_tenant tenant[CHAOS_MAX_TENANTS];
    PGconn *db[CHAOS_MAX_TENANTS];
    itest_flow flow[CHAOS_MAX_TENANTS];
    itest_idset probes[CHAOS_MAX_TENANTS]; /* probe transfers of chaos_recovered */
    itest_worker worker[CHAOS_MAX_WORKERS];
    int64_t started_ms, ready_ms; /* chaos_setup began, ended */
    int64_t recover_ms; /* the longest recovery measured */
    int faults;         /* faults injected (the scenario counts them) */
    int probes_sent;
} chaos_run;

/* Creates the tenants and their accounts, starts the workers and waits until they hold the 12
 * partitions between them, funds the accounts. */
void chaos_setup(chaos_run *c, const chaos_config *cfg);

/* Starts every tenant's flow of transfers. */
void chaos_flow_start(chaos_run *c);

/* 1 once every flow has had every command answered 202. */
int chaos_flows_done(chaos_run *c);

/* Sends a probe transfer for tenant i (retrying refusals for up to timeout_ms) until one is
 * answered 202 and reads COMPLETED; returns the milliseconds since since_ms and keeps the
 * longest in recover_ms. Probes move money between a tenant's accounts, so totals hold. */
int64_t chaos_recovered(chaos_run *c, int tenant, int64_t since_ms, int timeout_ms);

/* Joins the flows, waits until every accepted command is recorded, stops the workers (SIGTERM,
 * exit 0 expected), checks exactly-once for each tenant and prints the report line. Workers the
 * scenario stopped or killed itself must have been restarted before. */
void chaos_finish(chaos_run *c);

/* Runs scripts/chaos.sh with the arguments (NULL-terminated); returns its exit status. */
int chaos_sh(const char *arg, ...) __attribute__((sentinel));

/* Waits until worker w reports holding `share` partitions ("12", "6") after its previous
 * match, or fails the test after 60 s. */
void chaos_wait_assigned(itest_worker *w, const char *share);

/* 1 when worker w is stopped (SIGSTOP: state T in /proc), 0 otherwise. */
int chaos_worker_stopped(const itest_worker *w);

/* Takes every tenant's commands accepted so far (flows, funding and probes) and waits until
 * each of them has its row in the tenant database; fails the test after timeout_ms. Returns
 * the number of commands waited for. */
int chaos_wait_accepted_recorded(chaos_run *c, int timeout_ms);

/* Prints the lines of w's log from byte offset `from` on (at most max_lines), each prefixed
 * with prefix. Returns the number printed. */
int chaos_print_log(const itest_worker *w, long from, const char *prefix, int max_lines);

/* The size of w's log now (a position for chaos_print_log). */
long chaos_log_size(const itest_worker *w);

/* Posts one more probe transfer for tenant i (retrying refusals for up to 10 s) without
 * waiting for its outcome; its id joins the probes that chaos_finish checks. For keeping
 * batches coming once the flows have ended. */
void chaos_probe_send(chaos_run *c, int i);

/* 1 when a line of w's log after byte offset `from` contains text. */
int chaos_log_has(const itest_worker *w, long from, const char *text);

#endif
