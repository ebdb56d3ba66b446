#include "bench_common.h"

#include "lg_avro.h"
#include "lg_kafka.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void bench_sleep_ns(int64_t ns)
{
    struct timespec ts;
    if (ns <= 0)
        return;
    ts.tv_sec = (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

long bench_env_long(const char *name, long def)
{
    const char *v = getenv(name);
    char *end;
    long n;
    if (v == NULL || v[0] == '\0')
        return def;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0') {
        fprintf(stderr, "%s: not a number: %s\n", name, v);
        exit(2);
    }
    return n;
}

double bench_env_double(const char *name, double def)
{
    const char *v = getenv(name);
    char *end;
    double d;
    if (v == NULL || v[0] == '\0')
        return def;
    d = strtod(v, &end);
    if (*end != '\0') {
        fprintf(stderr, "%s: not a number: %s\n", name, v);
        exit(2);
    }
    return d;
}

const char *bench_env_str(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : def;
}

void bench_samples_add(bench_samples *s, int64_t ns)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        int64_t *v = realloc(s->v, cap * sizeof *v);
        if (v == NULL)
            return; /* a lost sample, not a crash */
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = ns;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

double bench_samples_pct_ms(bench_samples *s, double q)
{
    size_t i;
    if (s->n == 0)
        return 0;
    qsort(s->v, s->n, sizeof *s->v, cmp_i64);
    i = (size_t)(q * (double)(s->n - 1) + 0.5);
    return (double)s->v[i] / 1e6;
}

void bench_samples_free(bench_samples *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

int bench_tenants_load(const char *path, bench_tenant **out)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    bench_tenant *ts = NULL;
    int n = 0;
    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    while (getline(&line, &cap, f) > 0) {
        char id[64], slug[64], user[64], key[128], *accts;
        bench_tenant *t;
        size_t len;
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        accts = malloc(strlen(line) + 1);
        if (accts == NULL || sscanf(line, "%63s %63s %63s %127s %s", id, slug, user, key, accts) != 5) {
            fprintf(stderr, "%s: bad line: %s\n", path, line);
            free(accts);
            n = -1;
            break;
        }
        t = realloc(ts, (size_t)(n + 1) * sizeof *ts);
        if (t == NULL) {
            free(accts);
            n = -1;
            break;
        }
        ts = t;
        t = &ts[n++];
        memset(t, 0, sizeof *t);
        snprintf(t->id, sizeof t->id, "%.36s", id);
        snprintf(t->slug, sizeof t->slug, "%.63s", slug);
        snprintf(t->user_id, sizeof t->user_id, "%.36s", user);
        snprintf(t->apikey, sizeof t->apikey, "%.63s", key);
        len = strlen(accts);
        for (size_t i = 0, start = 0; i <= len; i++) {
            if (accts[i] != ',' && accts[i] != '\0')
                continue;
            accts[i] = '\0';
            if (i > start) {
                char **a = realloc(t->accounts, (t->n_accounts + 1) * sizeof *a);
                if (a == NULL)
                    break;
                t->accounts = a;
                t->accounts[t->n_accounts++] = strdup(accts + start);
            }
            start = i + 1;
        }
        free(accts);
        if (t->n_accounts < 2) {
            fprintf(stderr, "%s: tenant %s needs at least two accounts\n", path, slug);
            n = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    if (n == 0)
        fprintf(stderr, "%s: no tenants\n", path);
    if (n <= 0) {
        bench_tenants_free(ts, n < 0 ? 0 : n);
        return -1;
    }
    *out = ts;
    return n;
}

void bench_tenants_free(bench_tenant *t, int n)
{
    for (int i = 0; t != NULL && i < n; i++) {
        for (size_t k = 0; k < t[i].n_accounts; k++)
            free(t[i].accounts[k]);
        free(t[i].accounts);
    }
    free(t);
}

void bench_pick_accounts(const bench_tenant *t, double hot, unsigned *seed, const char **from,
                         const char **to)
{
    size_t f, d;
    if ((double)rand_r(seed) / ((double)RAND_MAX + 1.0) < hot)
        f = 0;
    else
        f = (size_t)rand_r(seed) % t->n_accounts;
    d = (f + 1 + (size_t)rand_r(seed) % (t->n_accounts - 1)) % t->n_accounts;
    *from = t->accounts[f];
    *to = t->accounts[d];
}

/* FNV-1a of the id. */
static size_t slot_of(const bench_map *m, const char *id)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = id; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (size_t)(h % m->cap);
}

int bench_map_init(bench_map *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    m->cap = expected * 2 + 1024;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (m->slots == NULL)
        return -1;
    pthread_mutex_init(&m->mu, NULL);
    return 0;
}

void bench_map_free(bench_map *m)
{
    if (m->slots == NULL)
        return;
    free(m->slots);
    pthread_mutex_destroy(&m->mu);
    bench_samples_free(&m->e2e);
    bench_samples_free(&m->arrivals);
    memset(m, 0, sizeof *m);
}

/* Under the lock: the slot of id, or an empty one for it; NULL when full. */
static bench_entry *find(bench_map *m, const char *id, int create)
{
    size_t i = slot_of(m, id);
    for (size_t k = 0; k < m->cap; k++, i = (i + 1) % m->cap) {
        bench_entry *e = &m->slots[i];
        if (e->id[0] == '\0') {
            if (!create)
                return NULL;
            snprintf(e->id, sizeof e->id, "%s", id);
            return e;
        }
        if (strcmp(e->id, id) == 0)
            return e;
    }
    return NULL;
}

void bench_map_sent(bench_map *m, const char *id, int64_t sent_ns)
{
    bench_entry *e;
    pthread_mutex_lock(&m->mu);
    e = find(m, id, 1);
    if (e != NULL)
        e->sent_ns = sent_ns;
    pthread_mutex_unlock(&m->mu);
}

void bench_map_result(bench_map *m, const char *id, int status, int64_t now_ns)
{
    bench_entry *e;
    pthread_mutex_lock(&m->mu);
    e = find(m, id, 0);
    if (e != NULL && e->sent_ns != 0 && e->result_ns == 0) {
        e->result_ns = now_ns;
        e->status = status;
        m->n_results++;
        if (status == LG_RESULT_COMPLETED)
            m->n_completed++;
        if (m->first_result_ns == 0)
            m->first_result_ns = now_ns;
        m->last_result_ns = now_ns;
        bench_samples_add(&m->e2e, now_ns - e->sent_ns);
        bench_samples_add(&m->arrivals, now_ns);
    }
    pthread_mutex_unlock(&m->mu);
}

size_t bench_map_results(bench_map *m)
{
    size_t n;
    pthread_mutex_lock(&m->mu);
    n = m->n_results;
    pthread_mutex_unlock(&m->mu);
    return n;
}

static void *results_main(void *arg)
{
    bench_results_reader *r = arg;
    char err[256];
    while (!r->stop) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(r->rk, 100);
        lg_txn_result res;
        int64_t now;
        if (msg == NULL)
            continue;
        now = bench_now_ns();
        if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            lg_avro_decode_result(msg->payload, msg->len, &res, err, sizeof err) == 0) {
            bench_map_result(r->map, res.transaction_id, (int)res.status, now);
            lg_avro_free_result(&res);
        }
        rd_kafka_message_destroy(msg);
    }
    return NULL;
}

int bench_results_start(bench_results_reader *r, const char *brokers, bench_map *map)
{
    char err[512], group[64];
    rd_kafka_conf_t *conf;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    int rc = -1;

    memset(r, 0, sizeof *r);
    r->map = map;
    snprintf(group, sizeof group, "bench-results-%ld", (long)getpid());
    conf = lg_kafka_consumer_conf(brokers, group, err, sizeof err);
    if (conf == NULL) {
        fprintf(stderr, "results reader: %s\n", err);
        return -1;
    }
    r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (r->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "results reader: %s\n", err);
        return -1;
    }
    rd_kafka_poll_set_consumer(r->rk);
    {
        rd_kafka_topic_t *t = rd_kafka_topic_new(r->rk, LG_TOPIC_RESULTS, NULL);
        rd_kafka_resp_err_t e = rd_kafka_metadata(r->rk, 0, t, &md, 10000);
        rd_kafka_topic_destroy(t);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1) {
            fprintf(stderr, "results reader: metadata: %s\n", rd_kafka_err2str(e));
            goto out;
        }
    }
    parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int64_t lo, hi;
        int32_t p = md->topics[0].partitions[i].id;
        /* The end as a read_committed reader sees it: the last stable offset. */
        if (rd_kafka_query_watermark_offsets(r->rk, LG_TOPIC_RESULTS, p, &lo, &hi, 10000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "results reader: watermarks of partition %d\n", p);
            goto out;
        }
        rd_kafka_topic_partition_list_add(parts, LG_TOPIC_RESULTS, p)->offset = hi;
    }
    if (rd_kafka_assign(r->rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "results reader: assign failed\n");
        goto out;
    }
    if (pthread_create(&r->thread, NULL, results_main, r) != 0)
        goto out;
    r->started = 1;
    rc = 0;
out:
    if (parts != NULL)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    if (rc != 0) {
        rd_kafka_destroy(r->rk);
        r->rk = NULL;
    }
    return rc;
}

void bench_results_stop(bench_results_reader *r)
{
    if (r->started) {
        r->stop = 1;
        pthread_join(r->thread, NULL);
    }
    if (r->rk != NULL) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    r->rk = NULL;
    r->started = 0;
}

int bench_make_transfer(const lg_keyring *kr, const bench_tenant *t, const char *from,
                        const char *to, const char *idem, int64_t amount_minor,
                        char txn_id[LG_UUID_STRLEN], char *key, size_t key_size, void **payload,
                        size_t *payload_len)
{
    char err[256], request_id[LG_UUID_STRLEN];
    struct timespec ts;
    lg_txn_command cmd;
    memset(&cmd, 0, sizeof cmd);
    lg_txn_id_issue(kr, t->id, idem, txn_id);
    lg_uuid_random(request_id);
    clock_gettime(CLOCK_REALTIME, &ts);
    /* The fields producer-api fills for a TRANSFER from an API key (api_routes.c). */
    cmd.command_id = txn_id;
    cmd.transaction_id = txn_id;
    cmd.tenant_id = (char *)(uintptr_t)t->id;
    cmd.type = LG_TXN_TRANSFER;
    cmd.amount_minor = amount_minor;
    cmd.currency = (char *)(uintptr_t) "USD";
    cmd.from_account = (char *)(uintptr_t)from;
    cmd.to_account = (char *)(uintptr_t)to;
    cmd.description = (char *)(uintptr_t) "bench transfer";
    cmd.idempotency_key = (char *)(uintptr_t)idem;
    cmd.requested_by = (char *)(uintptr_t)t->user_id;
    cmd.requested_by_ip = (char *)(uintptr_t) "127.0.0.1";
    cmd.requested_by_device = (char *)(uintptr_t) "ledger-bench";
    cmd.request_id = request_id;
    cmd.accepted_at_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    snprintf(key, key_size, "%s:%s", t->id, from);
    if (lg_avro_encode_command(&cmd, payload, payload_len, err, sizeof err) != 0) {
        fprintf(stderr, "encoding a command: %s\n", err);
        return -1;
    }
    return 0;
}

long bench_rss_kib(long pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}
