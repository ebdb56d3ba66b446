/*
 * Shared pieces of the benchmark programs (bench/): clocks, latency samples and percentiles,
 * the provisioned tenants (bench.sh writes them to a file), a map from transaction id to its
 * timestamps, and a TransactionResult reader that stamps each result as it becomes readable
 * (read_committed) on txn.results.
 *
 * Not product code: built only with -DLEDGER_BENCH=ON, never installed, never part of ctest.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include "lg_crypto.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Monotonic nanoseconds. */
int64_t bench_now_ns(void);
void bench_sleep_ns(int64_t ns);

/* An environment variable as a number, or def when unset. Exits on garbage. */
long bench_env_long(const char *name, long def);
double bench_env_double(const char *name, double def);
const char *bench_env_str(const char *name, const char *def);

/* Latency samples in nanoseconds. */
typedef struct {
    int64_t *v;
    size_t n, cap;
} bench_samples;

void bench_samples_add(bench_samples *s, int64_t ns);
/* Sorts in place; q in [0,1]; 0 when empty. Milliseconds. */
double bench_samples_pct_ms(bench_samples *s, double q);
void bench_samples_free(bench_samples *s);

/* One tenant: "<tenant-id> <slug> <user-id> <api-key> <account>,<account>,..." per line of the
 * file; the user is the API key's (commands record who requested them). */
typedef struct {
    char id[LG_UUID_STRLEN];
    char slug[64];
    char user_id[LG_UUID_STRLEN];
    char apikey[LG_APIKEY_STRLEN];
    char **accounts;
    size_t n_accounts;
} bench_tenant;

/* Reads the tenants file; returns the count (> 0) or -1 with a message on stderr. */
int bench_tenants_load(const char *path, bench_tenant **out);
void bench_tenants_free(bench_tenant *t, int n);

/* Picks (from, to) for one transfer: with probability hot the first account of the tenant
 * is debited; to is always another account. */
void bench_pick_accounts(const bench_tenant *t, double hot, unsigned *seed, const char **from,
                         const char **to);

/* Transaction id -> send and result timestamps; fixed capacity, thread-safe. */
typedef struct {
    char id[LG_UUID_STRLEN];
    int64_t sent_ns;   /* 0: not (yet) known as ours */
    int64_t result_ns; /* 0: no result yet */
    int status;        /* lg_result_status of the result */
} bench_entry;

typedef struct {
    bench_entry *slots;
    size_t cap;
    pthread_mutex_t mu;
    size_t n_results;   /* results for ids in the map */
    size_t n_completed; /* of which COMPLETED */
    int64_t first_result_ns, last_result_ns;
    bench_samples e2e; /* result_ns - sent_ns */
    /* Progress: result timestamps in arrival order, for steady-state windows. */
    bench_samples arrivals;
} bench_map;

int bench_map_init(bench_map *m, size_t expected);
void bench_map_free(bench_map *m);
/* Registers an id as ours, sent at sent_ns. */
void bench_map_sent(bench_map *m, const char *id, int64_t sent_ns);
/* Records a result; ignored when the id is not ours. */
void bench_map_result(bench_map *m, const char *id, int status, int64_t now_ns);
size_t bench_map_results(bench_map *m);

/* Reads txn.results from its current end (read_committed) on a thread of its own and feeds
 * bench_map_result. */
typedef struct {
    rd_kafka_t *rk;
    bench_map *map;
    pthread_t thread;
    volatile int stop;
    int started;
} bench_results_reader;

int bench_results_start(bench_results_reader *r, const char *brokers, bench_map *map);
void bench_results_stop(bench_results_reader *r);

/* The Avro payload of one TRANSFER command as producer-api would produce it, and its key. The
 * transaction id is issued with the product's function from the idempotency key. */
int bench_make_transfer(const lg_keyring *kr, const bench_tenant *t, const char *from,
                        const char *to, const char *idem, int64_t amount_minor,
                        char txn_id[LG_UUID_STRLEN], char *key, size_t key_size, void **payload,
                        size_t *payload_len);

/* VmRSS of a process in KiB, or -1. */
long bench_rss_kib(long pid);

#endif
