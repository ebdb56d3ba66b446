/* producer-api routes: parse, authorise, then produce (writes) or query (reads). */
#include "api.h"

#include "lg_avro.h"
#include "lg_db.h"
#include "lg_log.h"
#include "lg_money.h"
#include "lg_validate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void problem(api_request *r, int status, const char *type, const char *title,
                    const char *detail)
{
    lg_problem p;
    lg_problem_set(&p, status, type, title, NULL, "%s", detail);
    api_respond_problem(r, &p);
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static const char *client_ip(api_request *r, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    buf[0] = '\0';
    if (ci != NULL && ci->client_addr != NULL && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr,
                  buf, (socklen_t)size);
    return buf[0] != '\0' ? buf : NULL;
}

/* POST /v1/transactions */
static void post_transaction(api_request *r)
{
    api_caller caller;
    lg_problem p;
    lg_txn_command cmd;
    const char *idem = api_header(r, "Idempotency-Key");
    const char *traceparent = api_header(r, "traceparent");
    const char *user_agent = api_header(r, "User-Agent");
    const char *content_type = api_header(r, "Content-Type");
    char txn_id[LG_UUID_STRLEN], ip[64], key[LG_UUID_STRLEN + LG_ACCOUNT_NUMBER_MAX + 40];
    char ua[256], err[256];
    const char *key_account;
    void *payload = NULL;
    size_t payload_len = 0;

    if (api_authenticate(r, &caller, &p) != 0) {
        api_respond_problem(r, &p);
        return;
    }
    if (content_type == NULL || strncmp(content_type, "application/json", 16) != 0) {
        problem(r, 415, "/problems/unsupported-media-type", "Unsupported media type",
                "send the command as Content-Type: application/json");
        return;
    }
    if (idem != NULL && !lg_idempotency_key_valid(idem)) {
        problem(r, 400, "/problems/invalid-idempotency-key", "Invalid Idempotency-Key",
                "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces");
        return;
    }
    if (traceparent != NULL && strlen(traceparent) != 55)
        traceparent = NULL; /* not a W3C traceparent: do not carry it */
    if (lg_validate_txn_request(r->body != NULL ? r->body : "", r->body_len, &cmd, &p) != 0) {
        api_respond_problem(r, &p);
        return;
    }
    lg_txn_id_issue(r->server->keyring, caller.tenant.id, idem, txn_id);
    snprintf(ua, sizeof ua, "%s", user_agent != NULL ? user_agent : "");
    cmd.command_id = strdup(txn_id);
    cmd.transaction_id = strdup(txn_id);
    cmd.tenant_id = strdup(caller.tenant.id);
    cmd.idempotency_key = dup_or_null(idem);
    cmd.requested_by = strdup(caller.user_id);
    cmd.requested_by_ip = dup_or_null(client_ip(r, ip, sizeof ip));
    cmd.requested_by_device = user_agent != NULL ? strdup(ua) : NULL;
    cmd.request_id = strdup(r->request_id);
    cmd.accepted_at_ms = now_ms();
    if (cmd.type == LG_TXN_REVERSAL) {
        /* The original's accounts are unknown here: reversals of one transaction stay in
         * order with each other. */
        key_account = cmd.original_transaction_id;
    } else {
        key_account = cmd.from_account != NULL ? cmd.from_account : cmd.to_account;
    }
    snprintf(key, sizeof key, "%s:%s", caller.tenant.id, key_account);
    if (lg_avro_encode_command(&cmd, &payload, &payload_len, err, sizeof err) != 0) {
        lg_log_error("encoding a command: %s", err);
        lg_avro_free_command(&cmd);
        problem(r, 500, "/problems/internal", "Internal error", "the command could not be encoded");
        return;
    }
    lg_avro_free_command(&cmd);
    snprintf(r->location, sizeof r->location, "/v1/transactions/%s", txn_id);
    api_produce_command(r, key, payload, payload_len, txn_id, traceparent);
}

static void get_ready(api_request *r)
{
    char err[256];
    PGconn *m = lg_router_acquire_master(r->server->router, 1000, err, sizeof err);
    const struct rd_kafka_metadata *md = NULL;
    int kafka_ok = rd_kafka_metadata(r->server->producer, 0, NULL, &md, 2000) ==
                   RD_KAFKA_RESP_ERR_NO_ERROR;
    int db_ok = m != NULL && lg_db_exec(m, "SELECT 1", err, sizeof err) == 0;
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    lg_router_release_master(r->server->router, m, !db_ok);
    api_respond_json(r, db_ok && kafka_ok ? 200 : 503,
                     json_pack("{s:s, s:s, s:s}", "status", db_ok && kafka_ok ? "ready" : "not ready",
                               "database", db_ok ? "ok" : "unreachable", "kafka",
                               kafka_ok ? "ok" : "unreachable"));
}

void api_route(api_request *r)
{
    static const char txn_prefix[] = "/v1/transactions/";
    int is_get = strcmp(r->method, "GET") == 0;
    int is_post = strcmp(r->method, "POST") == 0;

    if (strcmp(r->url, "/healthz") == 0 && is_get) {
        api_respond_json(r, 200, json_pack("{s:s}", "status", "ok"));
    } else if (strcmp(r->url, "/readyz") == 0 && is_get) {
        get_ready(r);
    } else if (strcmp(r->url, "/v1/transactions") == 0) {
        if (is_post)
            post_transaction(r);
        else if (is_get)
            api_list_transactions(r);
        else
            problem(r, 405, "/problems/method-not-allowed", "Method not allowed",
                    "use POST to submit a transaction, GET to find or list transactions");
    } else if (strncmp(r->url, txn_prefix, sizeof txn_prefix - 1) == 0 &&
               strchr(r->url + sizeof txn_prefix - 1, '/') == NULL) {
        if (is_get)
            api_get_transaction(r, r->url + sizeof txn_prefix - 1);
        else
            problem(r, 405, "/problems/method-not-allowed", "Method not allowed",
                    "use GET to read a transaction");
    } else if (strncmp(r->url, "/v1/accounts/", 13) == 0) {
        api_account_reads(r);
    } else {
        problem(r, 404, "/problems/not-found", "Not found", "no such resource");
    }
}
