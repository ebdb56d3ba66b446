/*
 * bench_load: an HTTP load generator for POST /v1/transactions (libcurl multi, keep-alive
 * connections), optionally timing each transfer to its TransactionResult on txn.results.
 *
 * Every request is a TRANSFER of a few cents between two accounts of one tenant, with a unique
 * Idempotency-Key; its transaction id is known before it is sent (the product's lg_txn_id_issue
 * over tenant and key, with the stack's key file), so a result is matched even when it is read
 * before the 202 is.
 *
 *   BENCH_SECONDS (10)       length of the load
 *   BENCH_CONNECTIONS (64)   keep-alive connections (= requests in flight at most)
 *   BENCH_RATE (0)           offered requests/s; 0: as fast as the API answers (closed loop).
 *                            Open loop: latency counts from the moment a request was due, so a
 *                            stalled server is not hidden (no coordinated omission).
 *   BENCH_HOT (0)            share of transfers debiting each tenant's first account
 *   BENCH_E2E (0)            1: read txn.results and report the end-to-end figures
 *   BENCH_DRAIN_WAIT (60)    seconds to wait for the last results after the load
 *   BENCH_RUN                tag making the idempotency keys unique across runs
 *   BENCH_IDEMPOTENCY (1)    0: no Idempotency-Key (no idempotency record: ingest without that
 *                            commit; the ids are then random, so no end-to-end figures)
 *   LEDGER_API_URL  LEDGER_KAFKA_BROKERS  LEDGER_MASTER_KEY_FILE  BENCH_TENANTS_FILE
 * Prints key=value lines for bench.sh; exits 1 when a request was not answered 202 or a result
 * was missing or not COMPLETED.
 */
#include "bench_common.h"

#include "lg_avro.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    CURL *easy;
    struct curl_slist *headers;
    char body[512];
    int64_t due_ns;
    int busy;
} conn;

static size_t discard(char *ptr, size_t size, size_t n, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * n;
}

int main(void)
{
    const char *url_base = bench_env_str("LEDGER_API_URL", "http://127.0.0.1:8080");
    const char *brokers = bench_env_str("LEDGER_KAFKA_BROKERS", "127.0.0.1:9092");
    const char *tenants_file = bench_env_str("BENCH_TENANTS_FILE", NULL);
    const char *key_file = bench_env_str("LEDGER_MASTER_KEY_FILE", NULL);
    const char *run = bench_env_str("BENCH_RUN", "load");
    long seconds = bench_env_long("BENCH_SECONDS", 10);
    long n_conns = bench_env_long("BENCH_CONNECTIONS", 64);
    double rate = bench_env_double("BENCH_RATE", 0);
    double hot = bench_env_double("BENCH_HOT", 0);
    int idempotency = (int)bench_env_long("BENCH_IDEMPOTENCY", 1);
    int e2e = idempotency ? (int)bench_env_long("BENCH_E2E", 0) : 0;
    long drain_wait = bench_env_long("BENCH_DRAIN_WAIT", 60);
    char err[512], url[512];
    bench_tenant *tenants = NULL;
    int n_tenants = 0, rc = 1;
    lg_keyring *kr = NULL;
    bench_map map;
    bench_results_reader reader;
    bench_samples lat;
    conn *conns = NULL;
    CURLM *multi = NULL;
    long issued = 0, accepted = 0, other = 0, transport = 0, late = 0;
    long status_counts[6] = {0};
    int64_t t0, t_end, next_due, t_done;
    unsigned seed = 7;
    size_t expected;

    memset(&map, 0, sizeof map);
    memset(&reader, 0, sizeof reader);
    memset(&lat, 0, sizeof lat);
    if (tenants_file == NULL || key_file == NULL || n_conns < 1) {
        fprintf(stderr, "bench_load: set BENCH_TENANTS_FILE and LEDGER_MASTER_KEY_FILE\n");
        return 2;
    }
    if (lg_crypto_init() != 0 || lg_avro_init(err, sizeof err) != 0 ||
        curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "init failed\n");
        return 1;
    }
    kr = lg_keyring_load(key_file, err, sizeof err);
    if (kr == NULL) {
        fprintf(stderr, "key file: %s\n", err);
        goto out;
    }
    n_tenants = bench_tenants_load(tenants_file, &tenants);
    if (n_tenants <= 0)
        goto out;
    expected = (size_t)((rate > 0 ? rate : 50000.0) * (double)seconds * 1.2) + 1000;
    if (bench_map_init(&map, expected) != 0)
        goto out;
    if (e2e && bench_results_start(&reader, brokers, &map) != 0)
        goto out;
    snprintf(url, sizeof url, "%s/v1/transactions", url_base);
    conns = calloc((size_t)n_conns, sizeof *conns);
    multi = curl_multi_init();
    if (conns == NULL || multi == NULL)
        goto out;
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, n_conns);
    for (long i = 0; i < n_conns; i++) {
        conns[i].easy = curl_easy_init();
        if (conns[i].easy == NULL)
            goto out;
        curl_easy_setopt(conns[i].easy, CURLOPT_URL, url);
        curl_easy_setopt(conns[i].easy, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(conns[i].easy, CURLOPT_PRIVATE, &conns[i]);
        curl_easy_setopt(conns[i].easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(conns[i].easy, CURLOPT_TIMEOUT_MS, 30000L);
        curl_easy_setopt(conns[i].easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    }

    t0 = bench_now_ns();
    t_end = t0 + seconds * 1000000000LL;
    next_due = t0;
    for (;;) {
        int running = 0, left;
        CURLMsg *m;
        int64_t now = bench_now_ns();
        int any_busy = 0;
        /* Start what is due on free connections. */
        for (long i = 0; i < n_conns && now < t_end; i++) {
            conn *c = &conns[i];
            const bench_tenant *t;
            const char *from, *to;
            char idem[96], auth[128], idem_h[128], txn_id[LG_UUID_STRLEN];
            if (c->busy)
                continue;
            if (rate > 0 && next_due > now)
                break;
            t = &tenants[issued % n_tenants];
            bench_pick_accounts(t, hot, &seed, &from, &to);
            snprintf(idem, sizeof idem, "bench-%s-%ld", run, issued);
            snprintf(auth, sizeof auth, "Authorization: Bearer %s", t->apikey);
            snprintf(idem_h, sizeof idem_h, "Idempotency-Key: %s", idem);
            snprintf(c->body, sizeof c->body,
                     "{\"type\":\"TRANSFER\",\"amount\":\"0.%02ld\",\"currency\":\"USD\","
                     "\"fromAccount\":\"%s\",\"toAccount\":\"%s\",\"description\":\"bench "
                     "transfer\"}",
                     1 + issued % 99, from, to);
            curl_slist_free_all(c->headers);
            c->headers = curl_slist_append(NULL, auth);
            if (idempotency)
                c->headers = curl_slist_append(c->headers, idem_h);
            c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
            c->headers = curl_slist_append(c->headers, "Expect:");
            curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
            curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
            c->due_ns = rate > 0 ? next_due : now;
            if (rate > 0) {
                if (now - next_due > 1000000LL)
                    late++;
                next_due += (int64_t)(1e9 / rate);
            }
            if (e2e) {
                lg_txn_id_issue(kr, t->id, idem, txn_id);
                bench_map_sent(&map, txn_id, c->due_ns);
            }
            c->busy = 1;
            curl_multi_add_handle(multi, c->easy);
            issued++;
        }
        curl_multi_perform(multi, &running);
        while ((m = curl_multi_info_read(multi, &left)) != NULL) {
            conn *c;
            long code = 0;
            if (m->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            if (m->data.result != CURLE_OK) {
                transport++;
            } else {
                curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
                if (code == 202) {
                    accepted++;
                    bench_samples_add(&lat, bench_now_ns() - c->due_ns);
                } else {
                    other++;
                }
                if (code >= 100 && code < 600)
                    status_counts[code / 100]++;
            }
            curl_multi_remove_handle(multi, m->easy_handle);
            c->busy = 0;
        }
        for (long i = 0; i < n_conns; i++)
            any_busy |= conns[i].busy;
        if (bench_now_ns() >= t_end && !any_busy)
            break;
        {
            int64_t wait_ns = rate > 0 ? next_due - bench_now_ns() : 1000000LL;
            int wait_ms = wait_ns <= 0 ? 0 : (int)(wait_ns / 1000000LL);
            curl_multi_poll(multi, NULL, 0, wait_ms > 10 ? 10 : wait_ms, NULL);
        }
    }
    t_done = bench_now_ns();
    printf("http_requests=%ld\nhttp_202=%ld\nhttp_other=%ld\nhttp_transport_errors=%ld\n",
           issued, accepted, other, transport);
    printf("http_4xx=%ld\nhttp_5xx=%ld\n", status_counts[4], status_counts[5]);
    printf("offered_per_s=%.0f\nlate_starts=%ld\n", rate, late);
    printf("ingest_req_per_s=%.0f\n", (double)accepted / ((double)(t_done - t0) / 1e9));
    printf("ingest_p50_ms=%.2f\ningest_p99_ms=%.2f\ningest_p999_ms=%.2f\n",
           bench_samples_pct_ms(&lat, 0.50), bench_samples_pct_ms(&lat, 0.99),
           bench_samples_pct_ms(&lat, 0.999));
    rc = other == 0 && transport == 0 && accepted > 0 ? 0 : 1;
    if (e2e) {
        int64_t deadline = bench_now_ns() + drain_wait * 1000000000LL;
        size_t in_window = 0;
        while (bench_map_results(&map) < (size_t)accepted && bench_now_ns() < deadline)
            bench_sleep_ns(50000000LL);
        bench_results_stop(&reader);
        for (size_t i = 0; i < map.arrivals.n; i++)
            if (map.arrivals.v[i] <= t_done)
                in_window++;
        printf("e2e_results=%zu\ne2e_completed=%zu\n", map.n_results, map.n_completed);
        /* Results readable while the load ran, per second of load: the sustained rate. */
        printf("e2e_transfers_per_s=%.0f\n", (double)in_window / ((double)(t_done - t0) / 1e9));
        printf("e2e_all_done_s=%.2f\n", (double)(map.last_result_ns - t0) / 1e9);
        printf("e2e_p50_ms=%.2f\ne2e_p99_ms=%.2f\ne2e_p999_ms=%.2f\n",
               bench_samples_pct_ms(&map.e2e, 0.50), bench_samples_pct_ms(&map.e2e, 0.99),
               bench_samples_pct_ms(&map.e2e, 0.999));
        if (map.n_results != (size_t)accepted || map.n_completed != map.n_results) {
            fprintf(stderr, "bench_load: %ld accepted, %zu results, %zu COMPLETED\n", accepted,
                    map.n_results, map.n_completed);
            rc = 1;
        }
    }
    if (rc != 0)
        fprintf(stderr, "bench_load: %ld sent, %ld answered 202, %ld otherwise, %ld failed\n",
                issued, accepted, other, transport);
out:
    bench_results_stop(&reader);
    for (long i = 0; conns != NULL && i < n_conns; i++) {
        if (conns[i].easy != NULL)
            curl_easy_cleanup(conns[i].easy);
        curl_slist_free_all(conns[i].headers);
    }
    free(conns);
    if (multi != NULL)
        curl_multi_cleanup(multi);
    bench_samples_free(&lat);
    bench_map_free(&map);
    bench_tenants_free(tenants, n_tenants > 0 ? n_tenants : 0);
    lg_keyring_free(kr);
    lg_avro_shutdown();
    curl_global_cleanup();
    return rc;
}
