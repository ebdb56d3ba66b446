/* ledger-worker: applies transaction commands from Kafka to the tenants' ledgers. */
#include "worker.h"

#include "ledger_sql.h"

#include "lg_avro.h"
#include "lg_config.h"
#include "lg_log.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(void)
{
    char err[512], host[128], txn_id[256];
    const char *master_dsn, *key_file, *instance;
    long batch_max, batch_wait, pool, pool_total, idle_timeout, db_wait, purge_interval;
    wk_config cfg;
    lg_keyring *kr = NULL;
    struct sigaction sa;
    int rc = 1;

    memset(&cfg, 0, sizeof cfg);
    lg_log_init("ledger-worker");
    if (lg_crypto_init() != 0 || lg_avro_init(err, sizeof err) != 0) {
        lg_log_error("cannot initialise: %s", err);
        return 1;
    }
    master_dsn = lg_config_require("LEDGER_MASTER_DSN", err, sizeof err);
    key_file = master_dsn != NULL ? lg_config_require("LEDGER_MASTER_KEY_FILE", err, sizeof err)
                                  : NULL;
    if (master_dsn == NULL || key_file == NULL ||
        lg_config_int("LEDGER_WORKER_BATCH_MAX", 500, 1, 10000, &batch_max, err, sizeof err) !=
            0 ||
        lg_config_int("LEDGER_WORKER_BATCH_WAIT_MS", 5, 0, 1000, &batch_wait, err, sizeof err) !=
            0 ||
        lg_config_int("LEDGER_DB_POOL_PER_TENANT", 2, 1, 100, &pool, err, sizeof err) != 0 ||
        lg_config_int("LEDGER_DB_POOL_TOTAL", 100, 1, 10000, &pool_total, err, sizeof err) != 0 ||
        lg_config_int("LEDGER_DB_IDLE_TIMEOUT_S", 300, 0, 86400, &idle_timeout, err, sizeof err) !=
            0 ||
        lg_config_int("LEDGER_DB_WAIT_MS", 5000, 1, 60000, &db_wait, err, sizeof err) != 0 ||
        lg_config_int("LEDGER_WORKER_PURGE_INTERVAL_S", 600, 1, 86400, &purge_interval, err,
                      sizeof err) != 0) {
        lg_log_error("configuration: %s", err);
        goto out;
    }
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
    cfg.purge_interval_s = (int)purge_interval;
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
    lg_router_set_on_connect(cfg.router, wk_sql_prepare, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    rc = wk_run(&cfg, &stop) == 0 ? 0 : 1;
out:
    lg_router_free(cfg.router);
    lg_keyring_free(kr);
    lg_avro_shutdown();
    lg_log_info("ledger-worker stopped");
    return rc;
}
