/* producer-api: accepts transaction commands over HTTP and publishes them to Kafka. */
#include "api.h"
#include "api_metrics.h"
#include "api_ratelimit.h"

#include "lg_avro.h"
#include "lg_config.h"
#include "lg_db.h"
#include "lg_log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct MHD_Daemon *api_daemon_start(api_server *server, const char *host, unsigned short port,
                                    unsigned int threads, char *err, size_t err_size);


/* Stopping the daemon closes every connection at once, answered or not: first give the
 * requests still being handled, and the answers the drain released (202s, 503s), up to
 * timeout_ms to finish and be sent. An idle keep-alive client holds its connection until the
 * timeout. */
static void wait_connections_closed(struct MHD_Daemon *daemon, int timeout_ms)
{
    const struct timespec tick = {0, 50 * 1000000L};
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (info == NULL || info->num_connections == 0)
            return;
        nanosleep(&tick, NULL);
    }
}

int main(void)
{
    char err[512], host[64];
    const char *listen, *colon, *brokers, *master_dsn, *key_file, *servers_file;
    long port, threads, pool_size, pool_total, idle_timeout, db_wait, tcp_timeout;
    long rate, burst, conn_timeout, max_conns, max_conns_ip;
    api_server server;
    struct MHD_Daemon *daemon = NULL;
    int rc = 1;

    sigset_t stop_signals;
    int sig = 0;

    memset(&server, 0, sizeof server);
    lg_log_init("producer-api");
    signal(SIGPIPE, SIG_IGN);
    /* Every thread inherits this mask, so SIGTERM and SIGINT reach only the sigwait below. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    if (lg_crypto_init() != 0 || lg_avro_init(err, sizeof err) != 0) {
        lg_log_error("cannot initialise: %s", err);
        return 1;
    }
    listen = lg_config_str("LEDGER_API_LISTEN", "127.0.0.1:8080");
    brokers = lg_config_str("LEDGER_KAFKA_BROKERS", "127.0.0.1:9092");
    master_dsn = lg_config_require("LEDGER_MASTER_DSN", err, sizeof err);
    key_file = master_dsn != NULL ? lg_config_require("LEDGER_MASTER_KEY_FILE", err, sizeof err)
                                  : NULL;
    if (api_metrics_init(&server, err, sizeof err) != 0)
        lg_log_warn("start-up: %s; /metrics will answer 503", err);
    if (master_dsn == NULL || key_file == NULL ||
        lg_config_int("LEDGER_API_THREADS", 16, 1, 64, &threads, err, sizeof err) != 0 ||
        lg_config_int("LEDGER_DB_POOL_PER_TENANT", 4, 1, 100, &pool_size, err, sizeof err) != 0 ||
        lg_config_int("LEDGER_DB_POOL_TOTAL", 100, 1, 10000, &pool_total, err, sizeof err) != 0 ||
        lg_config_int("LEDGER_DB_IDLE_TIMEOUT_S", 300, 0, 86400, &idle_timeout, err, sizeof err) !=
            0 ||
        lg_config_int("LEDGER_DB_WAIT_MS", 2000, 1, 60000, &db_wait, err, sizeof err) != 0 ||
        lg_config_int("LEDGER_PG_TCP_USER_TIMEOUT_MS", 10000, 0, 3600000, &tcp_timeout, err,
                      sizeof err) != 0 ||
        lg_config_int("LEDGER_API_RATE_PER_S", 2000, 0, 1000000, &rate, err, sizeof err) != 0 ||
        lg_config_int("LEDGER_API_RATE_BURST", 4000, 1, 10000000, &burst, err, sizeof err) !=
            0 ||
        lg_config_int("LEDGER_API_CONNECTION_TIMEOUT_S", 30, 1, 3600, &conn_timeout, err,
                      sizeof err) != 0 ||
        lg_config_int("LEDGER_API_MAX_CONNECTIONS", 10000, 1, 1000000, &max_conns, err,
                      sizeof err) != 0 ||
        lg_config_int("LEDGER_API_MAX_CONNECTIONS_PER_IP", 0, 0, 1000000, &max_conns_ip, err,
                      sizeof err) != 0 ||
        api_login_configure(err, sizeof err) != 0) {
        lg_log_error("configuration: %s", err);
        goto out;
    }
    lg_db_set_tcp_user_timeout_ms(tcp_timeout);
    colon = strrchr(listen, ':');
    port = colon != NULL ? strtol(colon + 1, NULL, 10) : 0;
    if (colon == NULL || port <= 0 || port > 65535 || (size_t)(colon - listen) >= sizeof host) {
        lg_log_error("configuration: LEDGER_API_LISTEN must be host:port, not \"%s\"", listen);
        goto out;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    server.db_wait_ms = (int)db_wait;
    server.conn_timeout_s = (unsigned int)conn_timeout;
    server.max_conns = (unsigned int)max_conns;
    server.max_conns_per_ip = (unsigned int)max_conns_ip;
    server.ratelimit = api_ratelimit_new(rate, burst);
    if (rate > 0 && server.ratelimit == NULL) {
        lg_log_error("start-up: cannot allocate the rate limiter");
        goto out;
    }
    server.sql_dir = lg_config_str("LEDGER_SQL_DIR", LEDGER_SQL_DIR);
    servers_file = lg_config_str("LEDGER_PG_SERVERS_FILE", NULL);
    if (servers_file != NULL &&
        (server.pg_servers = lg_pg_servers_load(servers_file, err, sizeof err)) == NULL) {
        lg_log_error("configuration: LEDGER_PG_SERVERS_FILE: %s", err);
        goto out;
    }
    server.keyring = lg_keyring_load(key_file, err, sizeof err);
    if (server.keyring == NULL ||
        (server.router = lg_router_new(master_dsn, server.keyring, (int)pool_size, err,
                                       sizeof err)) == NULL ||
        lg_router_set_pool_limits(server.router, (int)pool_total, (int)idle_timeout, err,
                                  sizeof err) != 0 ||
        lg_router_set_key_file(server.router, key_file, err, sizeof err) != 0 ||
        api_kafka_start(&server, brokers, err, sizeof err) != 0) {
        lg_log_error("start-up: %s", err);
        goto out;
    }
    if (server.metrics != NULL)
        api_metrics_pools(&server); /* pool use per tenant, once the router reports it */
    daemon = api_daemon_start(&server, host, (unsigned short)port, (unsigned int)threads, err,
                              sizeof err);
    if (daemon == NULL) {
        lg_log_error("start-up: %s", err);
        goto out;
    }
    lg_log_info("producer-api listening on %s, Kafka %s, %zu PostgreSQL server(s) for new tenants",
                listen, brokers, lg_pg_servers_count(server.pg_servers));
    sigwait(&stop_signals, &sig);

    /* Stop taking connections, let Kafka answer what is in flight (requests still being
     * handled get 503 instead of producing), stop the HTTP threads, and only then destroy the
     * producer they use (api_kafka_stop below). */
    lg_log_info("stopping: flushing in-flight commands");
    MHD_quiesce_daemon(daemon);
    api_kafka_drain(&server, 15000);
    wait_connections_closed(daemon, 5000);
    MHD_stop_daemon(daemon);
    rc = 0;
out:
    api_kafka_stop(&server, 0);
    lg_router_free(server.router);
    lg_keyring_free(server.keyring);
    lg_pg_servers_free(server.pg_servers);
    api_metrics_free(&server);
    api_ratelimit_free(server.ratelimit);
    lg_avro_shutdown();
    lg_log_info("producer-api stopped");
    return rc;
}
