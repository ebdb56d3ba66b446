/*
 * ledger-worker: applies transaction commands from Kafka to the tenants' ledgers.
 *
 * Beside the consume loop, an HTTP listener (LEDGER_WORKER_LISTEN, default 127.0.0.1:9091; `off`
 * for none; port 0 for any free port, which the log names) answers /healthz (the process is
 * alive), /readyz (Kafka reachable and this worker in its consumer group, and the master
 * database reachable; 503 otherwise) and /metrics (Prometheus text).
 */
#include "worker.h"

#include "fault.h"
#include "ledger_sql.h"

#include "lg_avro.h"
#include "lg_config.h"
#include "lg_db.h"
#include "lg_http.h"
#include "lg_log.h"
#include "lg_pool_metrics.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

typedef struct {
    lg_router *router;
    lg_metrics *metrics;
    wk_health *health;
} http_context;

/* GET /healthz, /readyz, /metrics (on the listener's thread). */
static int on_http(const char *method, const char *path, char **body, const char **content_type,
                   void *arg)
{
    http_context *c = arg;
    (void)method;
    *content_type = "application/json";
    if (strcmp(path, "/healthz") == 0) {
        *body = strdup("{\"status\":\"ok\"}");
        return 200;
    }
    if (strcmp(path, "/readyz") == 0) {
        char err[256];
        int brokers_up = atomic_load(&c->health->brokers_up);
        int in_group = atomic_load(&c->health->in_group);
        /* Before the first statistics, an assignment is the proof that Kafka answered. */
        int kafka_ok = brokers_up > 0 || (brokers_up < 0 && in_group);
        PGconn *m = lg_router_acquire_master(c->router, 1000, err, sizeof err);
        int db_ok = m != NULL && lg_db_exec(m, "SELECT 1", err, sizeof err) == 0;
        int ready;
        json_t *answer;
        lg_router_release_master(c->router, m, !db_ok);
        ready = kafka_ok && in_group && db_ok;
        answer =
            json_pack("{s:s, s:s, s:s, s:i}", "status", ready ? "ready" : "not ready", "database",
                      db_ok ? "ok" : "unreachable", "kafka", kafka_ok ? "ok" : "unreachable",
                      "assignedPartitions", atomic_load(&c->health->assigned));
        json_object_set_new(answer, "consumerGroup",
                            json_string(in_group ? "joined" : "not joined"));
        *body = json_dumps(answer, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(answer);
        return ready ? 200 : 503;
    }
    if (strcmp(path, "/metrics") == 0) {
        *body = lg_metrics_render(c->metrics);
        *content_type = LG_METRICS_CONTENT_TYPE;
        return *body != NULL ? 200 : 503;
    }
    *body = strdup("{\"title\":\"Not found\"}");
    return 404;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(void)
{
    char err[512], host[128], txn_id[256];
    const char *master_dsn, *key_file, *instance;
    long batch_max, batch_wait, tenant_threads, pool, pool_total, idle_timeout, db_wait,
        purge_interval, stats_interval, tcp_timeout, idle_in_transaction_ms;
    wk_config cfg;
    wk_health health;
    http_context http_ctx;
    lg_http *http = NULL;
    const char *listen;
    lg_keyring *kr = NULL;
    struct sigaction sa;
    int rc = 1;

    memset(&cfg, 0, sizeof cfg);
    atomic_init(&health.in_group, 0);
    atomic_init(&health.assigned, 0);
    atomic_init(&health.brokers_up, -1);
    cfg.health = &health;
    lg_log_init("ledger-worker");
    if (lg_crypto_init() != 0 || lg_avro_init(err, sizeof err) != 0) {
        lg_log_error("cannot initialise: %s", err);
        return 1;
    }
    master_dsn = lg_config_require("LEDGER_MASTER_DSN", err, sizeof err);
    key_file = master_dsn != NULL ? lg_config_require("LEDGER_MASTER_KEY_FILE", err, sizeof err)
                                  : NULL;
    if (master_dsn == NULL || key_file == NULL ||
        lg_config_int("LEDGER_WORKER_BATCH_MAX", 500, 1, 10000, &batch_max, err, sizeof err) != 0 ||
        lg_config_int("LEDGER_WORKER_BATCH_WAIT_MS", 5, 0, 1000, &batch_wait, err, sizeof err) !=
            0 ||
        lg_config_int("LEDGER_DB_POOL_PER_TENANT", 2, 1, 100, &pool, err, sizeof err) != 0 ||
        lg_config_int("LEDGER_DB_POOL_TOTAL", 100, 1, 10000, &pool_total, err, sizeof err) != 0 ||
        lg_config_int("LEDGER_DB_IDLE_TIMEOUT_S", 300, 0, 86400, &idle_timeout, err, sizeof err) !=
            0 ||
        lg_config_int("LEDGER_DB_WAIT_MS", 5000, 1, 60000, &db_wait, err, sizeof err) != 0 ||
        lg_config_int("LEDGER_PG_TCP_USER_TIMEOUT_MS", 10000, 0, 3600000, &tcp_timeout, err,
                      sizeof err) != 0 ||
        lg_config_int("LEDGER_WORKER_PURGE_INTERVAL_S", 600, 1, 86400, &purge_interval, err,
                      sizeof err) != 0 ||
        lg_config_int("LEDGER_WORKER_STATS_INTERVAL_MS", 2000, 0, 600000, &stats_interval, err,
                      sizeof err) != 0 ||
        lg_config_int("LEDGER_WORKER_TENANT_THREADS", 4, 1, WK_TENANT_THREADS_MAX,
                      &tenant_threads, err, sizeof err) != 0 ||
        lg_config_int("LEDGER_WORKER_IDLE_IN_TRANSACTION_TIMEOUT_MS", 10000, 0, 3600000,
                      &idle_in_transaction_ms, err, sizeof err) != 0) {
        lg_log_error("configuration: %s", err);
        goto out;
    }
    lg_db_set_tcp_user_timeout_ms(tcp_timeout);
#ifdef LEDGER_FAULT_INJECTION
    if (wk_fault_init(err, sizeof err) != 0) {
        lg_log_error("configuration: %s", err);
        goto out;
    }
#endif
    /* A stable transactional id per worker instance: a restarted instance fences its former
     * self. Two live workers must not share one. */
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    instance = lg_config_str("LEDGER_WORKER_INSTANCE", "0");
    snprintf(txn_id, sizeof txn_id, "%s",
             lg_config_str("LEDGER_WORKER_TRANSACTIONAL_ID", ""));
    if (txn_id[0] == '\0')
        snprintf(txn_id, sizeof txn_id, "ledger-worker-%s-%s", host, instance);
    cfg.brokers = lg_config_str("LEDGER_KAFKA_BROKERS", "127.0.0.1:9092");
    cfg.group_id = lg_config_str("LEDGER_WORKER_GROUP", "ledger-worker");
    cfg.transactional_id = txn_id;
    cfg.batch_max = (int)batch_max;
    cfg.batch_wait_ms = (int)batch_wait;
    cfg.db_wait_ms = (int)db_wait;
    cfg.tenant_threads = (int)tenant_threads;
    cfg.purge_interval_s = (int)purge_interval;
    cfg.stats_interval_ms = (int)stats_interval;
    listen = lg_config_str("LEDGER_WORKER_LISTEN", "127.0.0.1:9091");
    cfg.metrics = lg_metrics_new();
    if (cfg.metrics != NULL) {
        wk_metrics_register(cfg.metrics);
        lg_metric_set(lg_metrics_gauge(cfg.metrics, "ledger_build_info",
                                       "Always 1; the labels say which program and version.",
                                       (const char *[]){"program", "version", NULL}),
                      (const char *[]){"ledger-worker", LEDGER_VERSION, NULL}, 1);
    }
    kr = lg_keyring_load(key_file, err, sizeof err);
    if (kr == NULL ||
        (cfg.router = lg_router_new(master_dsn, kr, (int)pool, err, sizeof err)) == NULL ||
        lg_router_set_pool_limits(cfg.router, (int)pool_total, (int)idle_timeout, err,
                                  sizeof err) != 0 ||
        lg_router_set_key_file(cfg.router, key_file, err, sizeof err) != 0) {
        lg_log_error("start-up: %s", err);
        goto out;
    }
    cfg.keyring = kr;
    /* A frozen worker (a zombie) must not keep its batch's row locks, and with them the other
     * workers, for longer than this: the server ends its session, its late writes are redone
     * and find the commands recorded. */
    lg_router_set_on_connect(cfg.router, wk_sql_prepare, &idle_in_transaction_ms);
    if (cfg.metrics != NULL && lg_pool_metrics_register(cfg.metrics, cfg.router) != 0)
        lg_log_warn("metrics: cannot register the connection pools' collector");
    if (strcmp(listen, "off") != 0) {
        char where[96];
        http_ctx.router = cfg.router;
        http_ctx.metrics = cfg.metrics;
        http_ctx.health = &health;
        http = lg_http_start(listen, on_http, &http_ctx, err, sizeof err);
        if (http == NULL) {
            lg_log_error("configuration: LEDGER_WORKER_LISTEN: %s", err);
            goto out;
        }
        snprintf(where, sizeof where, "%.*s:%u", (int)(strrchr(listen, ':') - listen), listen,
                 (unsigned)lg_http_port(http));
        lg_log_kv(LG_LOG_INFO, (const char *[]){"listen", where, NULL},
                  "ledger-worker serving /healthz, /readyz and /metrics on %s", where);
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    rc = wk_run(&cfg, &stop) == 0 ? 0 : 1;
out:
    lg_http_stop(http);
    lg_router_free(cfg.router);
    lg_metrics_free(cfg.metrics);
    lg_keyring_free(kr);
    lg_avro_shutdown();
    lg_log_info("ledger-worker stopped");
    return rc;
}
