/* producer-api routes: parse, authorise, then produce (writes) or query (reads). */
#include "api.h"
#include "api_claims.h"

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


/* BLAKE2b of the method, the path and the body as canonical JSON, so that a retry that only
 * reorders keys or whitespace still counts as the same request. */
static int request_fingerprint(api_request *r, char out[LG_HASH_HEXLEN])
{
    json_t *root = json_loadb(r->body != NULL ? r->body : "", r->body_len, 0, NULL);
    char *canonical, *text;
    size_t len;
    if (root == NULL)
        return -1;
    canonical = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(root);
    if (canonical == NULL)
        return -1;
    len = strlen(r->method) + strlen(r->url) + strlen(canonical) + 3;
    text = malloc(len);
    if (text == NULL) {
        free(canonical);
        return -1;
    }
    snprintf(text, len, "%s %s\n%s", r->method, r->url, canonical);
    lg_hash_hex(text, strlen(text), out);
    free(text);
    free(canonical);
    return 0;
}

enum { IDEM_NEW = 0, IDEM_REPLAY_PENDING = 1, IDEM_ANSWERED = 2, IDEM_FAILED = -1 };

/*
 * Claims an Idempotency-Key for this request (an IdempotencyRecord, kept 24 hours). The first
 * request with a key claims it. A later one with the same fingerprint is the same command: while
 * the worker has not recorded it yet it is produced again (the worker applies a transaction id
 * once, so concurrent duplicates collapse into one transaction); once recorded, its current
 * status is the answer. The same key with another request is refused with 422. grouped is what
 * the group commit made of the claim (api_claims.h): API_CLAIM_NEW, the record is committed;
 * API_CLAIM_EXISTS, the key was there; API_CLAIM_FALLBACK, claim it here, alone.
 */
static int idempotency_claim(api_request *r, const api_caller *caller, const char *key,
                             const char *txn_id, const char *ip, const char *fingerprint,
                             int grouped)
{
    char err[512], response[128];
    PGconn *db;
    PGresult *res;
    lg_problem p;
    int outcome = IDEM_FAILED;

    if (grouped == API_CLAIM_NEW)
        return IDEM_NEW;
    snprintf(response, sizeof response, "{\"id\":\"%s\",\"status\":\"PENDING\"}", txn_id);
    db = lg_router_acquire(r->server->router, caller->tenant.id, r->server->db_wait_ms, err,
                           sizeof err);
    if (db == NULL) {
        lg_log_error("tenant %s: %s", caller->tenant.slug, err);
        r->retry_after = 1;
        problem(r, 503, "/problems/unavailable", "Service unavailable",
                "the bank's database is not reachable right now; nothing was recorded; retry "
                "later with the same Idempotency-Key");
        return IDEM_FAILED;
    }
    res = grouped == API_CLAIM_EXISTS
              ? NULL
              : lg_db_query(db,
                      "INSERT INTO idempotency_records (idempotency_key, endpoint, method,"
                      " request_hash, transaction_id, response_status, response_body, user_id,"
                      " ip_address, expires_at) VALUES ($1, $2, $3, $4, $5, 202, $6::jsonb, $7,"
                      " $8, now() + interval '24 hours')"
                      " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                      8,
                      (const char *[]){key, r->url, r->method, fingerprint, txn_id, response,
                                       caller->user_id, ip},
                      err, sizeof err);
    if (res != NULL && PQntuples(res) == 1) {
        outcome = IDEM_NEW;
    } else if (res != NULL || grouped == API_CLAIM_EXISTS) {
        PQclear(res);
        res = lg_db_query(db,
                          "SELECT i.request_hash, t.status, i.transaction_id"
                          " FROM idempotency_records i"
                          " LEFT JOIN transactions t ON t.id = i.transaction_id"
                          " WHERE i.idempotency_key = $1",
                          1, (const char *[]){key}, err, sizeof err);
        if (res != NULL && PQntuples(res) == 1) {
            if (strcmp(PQgetvalue(res, 0, 0), fingerprint) != 0 ||
                strcmp(PQgetvalue(res, 0, 2), txn_id) != 0) {
                lg_problem_set(&p, 422, "/problems/idempotency-key-reused",
                               "Idempotency-Key reused", NULL,
                               "this Idempotency-Key was used with a different request; use a "
                               "new key for a new transaction");
                api_respond_problem(r, &p);
                outcome = IDEM_FAILED;
            } else if (PQgetisnull(res, 0, 1)) {
                outcome = IDEM_REPLAY_PENDING;
            } else {
                snprintf(r->location, sizeof r->location, "/v1/transactions/%s", txn_id);
                api_respond_json(r, 200,
                                 json_pack("{s:s, s:s, s:{s:s}}", "id", txn_id, "status",
                                           PQgetvalue(res, 0, 1), "links", "self", r->location));
                outcome = IDEM_ANSWERED;
            }
        } else if (res != NULL) {
            /* Claimed and purged in between: treat as a retry of a pending command. */
            outcome = IDEM_REPLAY_PENDING;
        }
    }
    if (res == NULL) {
        lg_log_error("tenant %s: idempotency record: %s", caller->tenant.slug, err);
        r->retry_after = 1;
        problem(r, 503, "/problems/unavailable", "Service unavailable",
                "the request could not be recorded; nothing was accepted; retry later with the "
                "same Idempotency-Key");
    }
    PQclear(res);
    lg_router_release(r->server->router, caller->tenant.id, db, res == NULL);
    return outcome;
}

/*
 * Where a reversal goes in the command stream: behind the other commands of the account it
 * debits (the original's credited account), so that it is applied in order with them. The
 * original must be recorded for that: while an id this API issued is still PENDING, the
 * reversal is refused with 409 (retry shortly); an id the tenant never had is produced keyed by
 * that id and fails with UNKNOWN_TRANSACTION. Returns 0 (account may be empty), or -1 with the
 * answer set.
 */
static int reversal_key_account(api_request *r, const api_caller *caller, const char *original,
                                char *account, size_t account_size)
{
    char err[512];
    PGconn *db = lg_router_acquire(r->server->router, caller->tenant.id, r->server->db_wait_ms,
                                   err, sizeof err);
    PGresult *res;
    account[0] = '\0';
    if (db == NULL) {
        lg_log_error("tenant %s: %s", caller->tenant.slug, err);
        r->retry_after = 1;
        problem(r, 503, "/problems/unavailable", "Service unavailable",
                "the bank's database is not reachable right now; nothing was accepted");
        return -1;
    }
    res = lg_db_query(db,
                      "SELECT coalesce(ta.account_number, fa.account_number, ''), false"
                      " FROM transactions t"
                      " LEFT JOIN accounts ta ON ta.id = t.to_account_id"
                      " LEFT JOIN accounts fa ON fa.id = t.from_account_id"
                      " WHERE t.id = $1"
                      " UNION ALL SELECT '', true FROM transactions_archive WHERE id = $1"
                      " LIMIT 1",
                      1, (const char *[]){original}, err, sizeof err);
    lg_router_release(r->server->router, caller->tenant.id, db, res == NULL);
    if (res == NULL) {
        lg_log_error("tenant %s: reading a reversal's original: %s", caller->tenant.slug, err);
        r->retry_after = 1;
        problem(r, 503, "/problems/unavailable", "Service unavailable",
                "the original transaction cannot be read right now; nothing was accepted");
        return -1;
    }
    if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
        PQclear(res);
        problem(r, 422, "/problems/original-archived", "Original transaction archived",
                "the transaction to reverse was moved to the archive and can no longer be"
                " reversed");
        return -1;
    }
    if (PQntuples(res) == 1) {
        snprintf(account, account_size, "%s", PQgetvalue(res, 0, 0));
    } else if (lg_txn_id_verify(r->server->keyring, caller->tenant.id, original)) {
        PQclear(res);
        r->retry_after = 1;
        problem(r, 409, "/problems/original-pending", "Original transaction pending",
                "the transaction to reverse is not processed yet; retry in a moment");
        return -1;
    }
    PQclear(res);
    return 0;
}

/* A POST /v1/transactions parked while its Idempotency-Key is claimed (api_claims.c). */
typedef struct {
    api_caller caller;
    lg_txn_command cmd;
    char txn_id[LG_UUID_STRLEN];
    char fingerprint[LG_HASH_HEXLEN];
    char reversal_account[LG_ACCOUNT_NUMBER_MAX + 1];
    int claim; /* API_CLAIM_* */
} txn_pending;

static void txn_pending_free(void *state)
{
    txn_pending *t = state;
    lg_avro_free_command(&t->cmd);
    free(t);
}

/* Fills in the command's ids and provenance, encodes it and hands it to Kafka (the 202 leaves
 * with its delivery report). */
static void produce_transaction(api_request *r, const api_caller *caller, lg_txn_command *cmd,
                                const char *txn_id, const char *reversal_account)
{
    const char *idem = api_header(r, "Idempotency-Key");
    const char *traceparent = api_header(r, "traceparent");
    const char *user_agent = api_header(r, "User-Agent");
    char ip[64], key[LG_UUID_STRLEN + LG_ACCOUNT_NUMBER_MAX + 40], ua[256], err[256];
    const char *key_account;
    void *payload = NULL;
    size_t payload_len = 0;

    if (traceparent != NULL && strlen(traceparent) != 55)
        traceparent = NULL; /* not a W3C traceparent: do not carry it */
    snprintf(ua, sizeof ua, "%s", user_agent != NULL ? user_agent : "");
    cmd->command_id = strdup(txn_id);
    cmd->transaction_id = strdup(txn_id);
    cmd->tenant_id = strdup(caller->tenant.id);
    cmd->idempotency_key = dup_or_null(idem);
    cmd->requested_by = strdup(caller->user_id);
    cmd->requested_by_ip = dup_or_null(api_client_ip(r, ip, sizeof ip));
    cmd->requested_by_device = user_agent != NULL ? strdup(ua) : NULL;
    cmd->request_id = strdup(r->request_id);
    cmd->accepted_at_ms = now_ms();
    if (cmd->type == LG_TXN_REVERSAL) {
        key_account = reversal_account[0] != '\0' ? reversal_account
                                                    : cmd->original_transaction_id;
    } else {
        key_account = cmd->from_account != NULL ? cmd->from_account : cmd->to_account;
    }
    snprintf(key, sizeof key, "%s:%s", caller->tenant.id, key_account);
    if (lg_avro_encode_command(cmd, &payload, &payload_len, err, sizeof err) != 0) {
        lg_log_error("encoding a command: %s", err);
        problem(r, 500, "/problems/internal", "Internal error", "the command could not be encoded");
        return;
    }
    snprintf(r->location, sizeof r->location, "/v1/transactions/%s", txn_id);
    api_produce_command(r, key, payload, payload_len, txn_id, traceparent);
}

/* The Idempotency-Key's claim is decided: answer from the record, or produce. */
static void transaction_claimed(api_request *r, txn_pending *t)
{
    const char *idem = api_header(r, "Idempotency-Key");
    char ip[64];
    int claim;
    if (idem == NULL) { /* cannot happen: only keyed requests are parked */
        problem(r, 500, "/problems/internal", "Internal error", "the request lost its key");
        return;
    }
    claim = idempotency_claim(r, &t->caller, idem, t->txn_id, api_client_ip(r, ip, sizeof ip),
                              t->fingerprint, t->claim);
    if (claim == IDEM_FAILED || claim == IDEM_ANSWERED)
        return;
    produce_transaction(r, &t->caller, &t->cmd, t->txn_id, t->reversal_account);
}

/* api_claims.c resumed a parked POST /v1/transactions. */
static void transaction_resumed(api_request *r)
{
    txn_pending *t = r->resume_state;
    r->resume_state = NULL;
    r->free_state = NULL;
    transaction_claimed(r, t);
    txn_pending_free(t);
}

/* POST /v1/transactions */
static void post_transaction(api_request *r)
{
    const char *idem = api_header(r, "Idempotency-Key");
    const char *content_type = api_header(r, "Content-Type");
    char ip[64], response[128];
    lg_problem p;
    txn_pending *t = calloc(1, sizeof *t);

    if (t == NULL) {
        problem(r, 500, "/problems/internal", "Internal error", "out of memory");
        return;
    }
    if (api_authenticate(r, &t->caller, &p) != 0) {
        api_respond_problem(r, &p);
        free(t);
        return;
    }
    if (content_type == NULL || strncmp(content_type, "application/json", 16) != 0) {
        problem(r, 415, "/problems/unsupported-media-type", "Unsupported media type",
                "send the command as Content-Type: application/json");
        free(t);
        return;
    }
    if (idem != NULL && !lg_idempotency_key_valid(idem)) {
        problem(r, 400, "/problems/invalid-idempotency-key", "Invalid Idempotency-Key",
                "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces");
        free(t);
        return;
    }
    if (lg_validate_txn_request(r->body != NULL ? r->body : "", r->body_len, &t->cmd, &p) != 0) {
        api_respond_problem(r, &p);
        free(t);
        return;
    }
    if (api_txn_authorize(r, &t->caller, &t->cmd) != 0 ||
        (t->cmd.type == LG_TXN_REVERSAL &&
         reversal_key_account(r, &t->caller, t->cmd.original_transaction_id, t->reversal_account,
                              sizeof t->reversal_account) != 0)) {
        txn_pending_free(t);
        return;
    }
    lg_txn_id_issue(r->server->keyring, t->caller.tenant.id, idem, t->txn_id);
    if (idem == NULL) {
        produce_transaction(r, &t->caller, &t->cmd, t->txn_id, t->reversal_account);
        txn_pending_free(t);
        return;
    }
    if (request_fingerprint(r, t->fingerprint) != 0) {
        problem(r, 500, "/problems/internal", "Internal error", "the request cannot be read");
        txn_pending_free(t);
        return;
    }
    /* Parked until the claim commits with the tenant's concurrent claims (api_claims.c). */
    snprintf(response, sizeof response, "{\"id\":\"%s\",\"status\":\"PENDING\"}", t->txn_id);
    r->resume_state = t;
    r->free_state = txn_pending_free;
    if (api_claim_submit(r, &t->caller.tenant,
                         (const char *const[]){idem, r->url, r->method, t->fingerprint,
                                               t->txn_id, response, t->caller.user_id,
                                               api_client_ip(r, ip, sizeof ip)},
                         &t->claim, transaction_resumed) == 0)
        return;
    r->resume_state = NULL;
    r->free_state = NULL;
    t->claim = API_CLAIM_FALLBACK; /* group commit off: claim on this thread */
    transaction_claimed(r, t);
    txn_pending_free(t);
}

static void get_ready(api_request *r)
{
    char err[256];
    PGconn *m = lg_router_acquire_master(r->server->router, 1000, err, sizeof err);
    int kafka_ok = api_kafka_ready(r->server, 2000);
    int db_ok = m != NULL && lg_db_exec(m, "SELECT 1", err, sizeof err) == 0;
    lg_router_release_master(r->server->router, m, !db_ok);
    api_respond_json(r, db_ok && kafka_ok ? 200 : 503,
                     json_pack("{s:s, s:s, s:s}", "status", db_ok && kafka_ok ? "ready" : "not ready",
                               "database", db_ok ? "ok" : "unreachable", "kafka",
                               kafka_ok ? "ok" : "unreachable"));
}

int api_dispatch(api_request *r);

void api_route(api_request *r)
{
    static const char txn_prefix[] = "/v1/transactions/";
    if (api_dispatch(r))
        return;
    int is_get = strcmp(r->method, "GET") == 0;
    int is_post = strcmp(r->method, "POST") == 0;

    if (strcmp(r->url, "/healthz") == 0 && is_get) {
        api_respond_json(r, 200, json_pack("{s:s}", "status", "ok"));
    } else if (strcmp(r->url, "/readyz") == 0 && is_get) {
        get_ready(r);
#ifdef LEDGER_FAULT_INJECTION
    } else if (strcmp(r->url, "/v1/_faults/kafka-fatal") == 0 && is_post) {
        api_caller caller;
        lg_problem p;
        if (api_authenticate(r, &caller, &p) != 0) {
            api_respond_problem(r, &p);
            return;
        }
        api_kafka_inject_fatal(r->server);
        api_respond_json(r, 200, json_pack("{s:s}", "injected", "kafka-fatal"));
#endif
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
