#include "itest.h"

#include "lg_avro.h"
#include "lg_crypto.h"

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void itest_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "FAIL %s:%d: %s\n  ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

const char *itest_env(const char *name)
{
    const char *v = getenv(name);
    CHECK(v != NULL && v[0] != '\0', "%s is not set: run the integration tests with make test",
          name);
    return v;
}

int64_t itest_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int itest_ledgerctl(char *out, size_t out_size, const char *arg, ...)
{
    const char *argv[32];
    int argc = 0, pipefd[2], status = 0;
    size_t len = 0;
    va_list ap;
    pid_t pid;

    argv[argc++] = LEDGERCTL_PATH;
    va_start(ap, arg);
    for (const char *a = arg; a != NULL && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    CHECK(pipe(pipefd) == 0, "pipe");
    pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(pipefd[1]);
    for (;;) {
        char buf[4096];
        ssize_t n = read(pipefd[0], buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && out != NULL && len + 1 < out_size; i++)
            out[len++] = buf[i];
    }
    close(pipefd[0]);
    waitpid(pid, &status, 0);
    if (out != NULL && out_size > 0) {
        while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
            len--;
        out[len] = '\0';
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

void itest_tenant_create(itest_tenant *t, const char *prefix, const char *admin_dsn_env,
                         int n_accounts, const char *currency)
{
    unsigned char r[4];
    char hex[9], email[128];
    int rc;
    memset(t, 0, sizeof *t);
    CHECK(sodium_init() >= 0, "sodium_init");
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(hex, sizeof hex, r, sizeof r);
    snprintf(t->slug, sizeof t->slug, "%s-%s", prefix, hex);
    rc = itest_ledgerctl(t->id, sizeof t->id, "tenant", "create", "--slug", t->slug, "--name",
                         "Integration Test Bank", "--currencies", "USD,EUR", "--admin-dsn",
                         itest_env(admin_dsn_env != NULL ? admin_dsn_env : "LEDGER_ADMIN_DSN"),
                         NULL);
    CHECK(rc == 0, "ledgerctl tenant create %s exited %d", t->slug, rc);
    rc = itest_ledgerctl(t->api_key, sizeof t->api_key, "apikey", "create", "--tenant", t->slug,
                         "--name", "itest", "--role", "MANAGER", NULL);
    CHECK(rc == 0 && strncmp(t->api_key, "lk_", 3) == 0, "apikey create exited %d", rc);
    snprintf(email, sizeof email, "customer@%s.example", t->slug);
    rc = itest_ledgerctl(t->customer, sizeof t->customer, "customer", "create", "--tenant",
                         t->slug, "--first-name", "Test", "--last-name", "Customer", "--email",
                         email, NULL);
    CHECK(rc == 0 && strncmp(t->customer, "CUST-", 5) == 0, "customer create exited %d", rc);
    for (int i = 0; i < n_accounts && i < 4; i++) {
        rc = itest_ledgerctl(t->account[i], sizeof t->account[i], "account", "open", "--tenant",
                             t->slug, "--customer", t->customer, "--type", "CHECKING",
                             "--currency", currency, NULL);
        CHECK(rc == 0 && strlen(t->account[i]) == 10, "account open exited %d", rc);
    }
}

typedef struct {
    char *data;
    size_t len;
} growbuf;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    growbuf *b = userdata;
    size_t n = size * nmemb;
    char *nd = realloc(b->data, b->len + n + 1);
    if (nd == NULL)
        return 0;
    memcpy(nd + b->len, ptr, n);
    b->len += n;
    nd[b->len] = '\0';
    b->data = nd;
    return n;
}

long itest_http(const char *method, const char *path, const char *const *headers,
                const char *request_body, char **body, char *content_type, size_t ct_size)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    growbuf b = {NULL, 0};
    char url[1024];
    long status = 0;
    char *ct = NULL;
    CURLcode rc;

    CHECK(c != NULL, "curl_easy_init");
    snprintf(url, sizeof url, "%s%s", itest_env("LEDGER_API_URL"), path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        h = curl_slist_append(h, headers[i]);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (request_body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, request_body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(request_body));
    }
    rc = curl_easy_perform(c);
    CHECK(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (content_type != NULL && ct_size > 0)
        snprintf(content_type, ct_size, "%s", ct != NULL ? ct : "");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (body != NULL)
        *body = b.data != NULL ? b.data : strdup("");
    else
        free(b.data);
    return status;
}

long itest_post_txn(const itest_tenant *t, const char *json, const char *idempotency_key,
                    char *id, size_t id_size)
{
    char auth[200], idem[300];
    const char *headers[4] = {auth, "Content-Type: application/json", NULL, NULL};
    char *body = NULL;
    long status;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", t->api_key);
    if (idempotency_key != NULL) {
        snprintf(idem, sizeof idem, "Idempotency-Key: %s", idempotency_key);
        headers[2] = idem;
    }
    status = itest_http("POST", "/v1/transactions", headers, json, &body, NULL, 0);
    if (id != NULL && id_size > 0) {
        json_t *o = json_loads(body, 0, NULL);
        const char *v = o != NULL ? json_string_value(json_object_get(o, "id")) : NULL;
        snprintf(id, id_size, "%s", v != NULL ? v : "");
        json_decref(o);
    }
    free(body);
    return status;
}

json_t *itest_wait_txn(const itest_tenant *t, const char *id, int timeout_ms)
{
    char auth[200], path[128];
    const char *headers[] = {auth, NULL};
    int64_t deadline = itest_now_ms() + timeout_ms;
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", t->api_key);
    snprintf(path, sizeof path, "/v1/transactions/%s", id);
    for (;;) {
        char *body = NULL;
        long status = itest_http("GET", path, headers, NULL, &body, NULL, 0);
        json_t *o;
        const char *st;
        CHECK(status == 200, "GET %s answered %ld: %s", path, status, body);
        o = json_loads(body, 0, NULL);
        free(body);
        CHECK(o != NULL, "GET %s returned invalid JSON", path);
        st = json_string_value(json_object_get(o, "status"));
        CHECK(st != NULL, "GET %s has no status", path);
        if (strcmp(st, "PENDING") != 0 || itest_now_ms() > deadline)
            return o;
        json_decref(o);
        usleep(20000);
    }
}

void itest_submit(const itest_tenant *t, const char *json, char id[64])
{
    long status = itest_post_txn(t, json, NULL, id, 64);
    CHECK(status == 202 && strlen(id) == 36, "POST %s answered %ld", json, status);
}

void itest_submit_parallel(const itest_tenant *t, const char *const *bodies, size_t n,
                           char (*ids)[64], long *statuses)
{
    const itest_tenant **who = calloc(n, sizeof *who);
    CHECK(who != NULL, "out of memory");
    for (size_t i = 0; i < n; i++)
        who[i] = t;
    itest_submit_parallel_as(who, bodies, n, ids, statuses);
    free(who);
}

void itest_submit_parallel_as(const itest_tenant *const *who, const char *const *bodies, size_t n,
                              char (*ids)[64], long *statuses)
{
    CURLM *m = curl_multi_init();
    CURL **easy = calloc(n, sizeof *easy);
    growbuf *out = calloc(n, sizeof *out);
    struct curl_slist **h = calloc(n, sizeof *h);
    char auth[200], url[1024];
    int running = 0;

    CHECK(m != NULL && easy != NULL && out != NULL && h != NULL, "curl_multi_init");
    snprintf(url, sizeof url, "%s/v1/transactions", itest_env("LEDGER_API_URL"));
    for (size_t i = 0; i < n; i++) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", who[i]->api_key);
        h[i] = curl_slist_append(NULL, auth);
        h[i] = curl_slist_append(h[i], "Content-Type: application/json");
        h[i] = curl_slist_append(h[i], "Expect:");
        easy[i] = curl_easy_init();
        CHECK(easy[i] != NULL, "curl_easy_init");
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, h[i]);
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS, bodies[i]);
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDSIZE, (long)strlen(bodies[i]));
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, &out[i]);
        curl_multi_add_handle(m, easy[i]);
    }
    do {
        CHECK(curl_multi_perform(m, &running) == CURLM_OK, "curl_multi_perform");
        if (running > 0)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    } while (running > 0);
    for (CURLMsg *msg; (msg = curl_multi_info_read(m, &running)) != NULL;)
        CHECK(msg->msg != CURLMSG_DONE || msg->data.result == CURLE_OK, "parallel POST: %s",
              curl_easy_strerror(msg->data.result));
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_loads(out[i].data != NULL ? out[i].data : "", 0, NULL);
        const char *v = o != NULL ? json_string_value(json_object_get(o, "id")) : NULL;
        curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &statuses[i]);
        snprintf(ids[i], 64, "%s", statuses[i] == 202 && v != NULL ? v : "");
        json_decref(o);
        free(out[i].data);
        curl_multi_remove_handle(m, easy[i]);
        curl_easy_cleanup(easy[i]);
        curl_slist_free_all(h[i]);
    }
    curl_multi_cleanup(m);
    free(h);
    free(easy);
    free(out);
}

const char *itest_json_str(const json_t *o, const char *name)
{
    const char *v = json_string_value(json_object_get(o, name));
    return v != NULL ? v : "";
}

json_t *itest_expect_status(const itest_tenant *t, const char *id, const char *status)
{
    json_t *o = itest_wait_txn(t, id, 30000);
    CHECK(strcmp(itest_json_str(o, "status"), status) == 0,
          "transaction %s is %s (%s: %s), expected %s", id, itest_json_str(o, "status"),
          itest_json_str(o, "failureCode"), itest_json_str(o, "failureReason"), status);
    return o;
}

void itest_account_open(const itest_tenant *t, const char *type, const char *currency,
                        const char *overdraft_limit, const char *minimum_balance, char out[32])
{
    int rc = itest_ledgerctl(out, 32, "account", "open", "--tenant", t->slug, "--customer",
                             t->customer, "--type", type, "--currency", currency,
                             "--overdraft-limit", overdraft_limit != NULL ? overdraft_limit : "0",
                             "--minimum-balance", minimum_balance != NULL ? minimum_balance : "0",
                             NULL);
    CHECK(rc == 0 && strlen(out) == 10, "account open %s %s exited %d", type, currency, rc);
}

static PGconn *connect_with_db(const char *dsn, const char *dbname)
{
    const char *keys[] = {"dbname", "dbname", NULL};
    const char *vals[] = {dsn, dbname, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    CHECK(PQstatus(c) == CONNECTION_OK, "connecting to %s: %s", dbname, PQerrorMessage(c));
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

void itest_tenant_db_name(const itest_tenant *t, char out[80])
{
    snprintf(out, 80, "tenant_%s", t->slug);
    for (char *p = out; *p; p++)
        if (*p == '-')
            *p = '_';
}

PGconn *itest_tenant_db(const itest_tenant *t, const char *admin_dsn_env)
{
    char db[80];
    itest_tenant_db_name(t, db);
    return connect_with_db(itest_env(admin_dsn_env != NULL ? admin_dsn_env : "LEDGER_ADMIN_DSN"),
                           db);
}

PGconn *itest_master_db(void)
{
    PGconn *c = PQconnectdb(itest_env("LEDGER_MASTER_DSN"));
    CHECK(PQstatus(c) == CONNECTION_OK, "master: %s", PQerrorMessage(c));
    return c;
}

char *itest_sql_value(PGconn *conn, const char *sql, const char *param)
{
    PGresult *r = PQexecParams(conn, sql, param != NULL ? 1 : 0, NULL,
                               param != NULL ? (const char *[]){param} : NULL, NULL, NULL, 0);
    char *v;
    CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s", sql,
          PQerrorMessage(conn));
    v = strdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

long itest_sql_exec(PGconn *conn, const char *sql, const char *param)
{
    PGresult *r = PQexecParams(conn, sql, param != NULL ? 1 : 0, NULL,
                               param != NULL ? (const char *[]){param} : NULL, NULL, NULL, 0);
    long n;
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
          "%s: %s", sql, PQerrorMessage(conn));
    n = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return n;
}

void itest_account_set_status(PGconn *db, const char *account_number, const char *status)
{
    PGresult *r = PQexecParams(db,
                               "UPDATE accounts SET status = $2::account_status,"
                               " closed_at = CASE WHEN $2 = 'CLOSED' THEN now() END"
                               " WHERE account_number = $1",
                               2, NULL, (const char *[]){account_number, status}, NULL, NULL, 0);
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdTuples(r), "1") == 0,
          "setting account %s %s: %s", account_number, status, PQerrorMessage(db));
    PQclear(r);
}

char *itest_balance(PGconn *db, const char *account_number)
{
    return itest_sql_value(db, "SELECT balance::text FROM accounts WHERE account_number = $1",
                           account_number);
}

char *itest_entries(PGconn *db, const char *transaction_id)
{
    return itest_sql_value(db,
                           "SELECT string_agg(e.entry_type || ' ' || a.account_number || ' ' ||"
                           " e.account_code || ' ' || e.amount || ' ' || e.balance_after, ', '"
                           " ORDER BY e.entry_seq)"
                           " FROM ledger_entries e JOIN accounts a ON a.id = e.account_id"
                           " WHERE e.transaction_id = $1",
                           transaction_id);
}

static rd_kafka_t *consumer_new(const char *group)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    CHECK(rd_kafka_conf_set(conf, "bootstrap.servers", itest_env("LEDGER_KAFKA_BROKERS"), err,
                            sizeof err) == RD_KAFKA_CONF_OK &&
              rd_kafka_conf_set(conf, "group.id", group, err, sizeof err) == RD_KAFKA_CONF_OK &&
              rd_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof err) ==
                  RD_KAFKA_CONF_OK &&
              rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) ==
                  RD_KAFKA_CONF_OK,
          "consumer conf: %s", err);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    CHECK(rk != NULL, "consumer: %s", err);
    return rk;
}

int64_t itest_topic_end(const char *topic)
{
    rd_kafka_t *rk = consumer_new("itest-watermarks");
    const struct rd_kafka_metadata *md = NULL;
    int64_t total = 0;
    CHECK(rd_kafka_metadata(rk, 1, NULL, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR, "metadata");
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, topic) != 0)
            continue;
        for (int p = 0; p < md->topics[i].partition_cnt; p++) {
            int64_t lo = 0, hi = 0;
            CHECK(rd_kafka_query_watermark_offsets(rk, topic, md->topics[i].partitions[p].id, &lo,
                                                   &hi, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR,
                  "watermarks of %s", topic);
            total += hi;
        }
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return total;
}

static int consume(const char *topic, const char *key_prefix, int idle_ms, itest_msg_fn fn,
                   itest_kmsg_fn kfn, void *arg);

int itest_consume(const char *topic, const char *key_prefix, int idle_ms, itest_msg_fn fn,
                  void *arg)
{
    return consume(topic, key_prefix, idle_ms, fn, NULL, arg);
}

int itest_consume_messages(const char *topic, const char *key_prefix, int idle_ms,
                           itest_kmsg_fn fn, void *arg)
{
    return consume(topic, key_prefix, idle_ms, NULL, fn, arg);
}

void itest_produce(const char *topic, int partition, const char *key, const void *value,
                   size_t len)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    rd_kafka_resp_err_t e;
    size_t key_len = key != NULL ? strlen(key) : 0;
    CHECK(rd_kafka_conf_set(conf, "bootstrap.servers", itest_env("LEDGER_KAFKA_BROKERS"), err,
                            sizeof err) == RD_KAFKA_CONF_OK &&
              rd_kafka_conf_set(conf, "acks", "all", err, sizeof err) == RD_KAFKA_CONF_OK,
          "producer conf: %s", err);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    CHECK(rk != NULL, "producer: %s", err);
    e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                          RD_KAFKA_V_KEY(key, key_len),
                          RD_KAFKA_V_VALUE((void *)(uintptr_t)value, len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    CHECK(e == RD_KAFKA_RESP_ERR_NO_ERROR, "produce: %s", rd_kafka_err2str(e));
    CHECK(rd_kafka_flush(rk, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR, "flush to %s", topic);
    rd_kafka_destroy(rk);
}

void itest_command(const itest_tenant *t, int type, const char *amount_minor_text,
                   const char *from, const char *to, char txn_id[64], void **value, size_t *len)
{
    PGconn *m = itest_master_db();
    char *user = itest_sql_value(m,
                                 "SELECT user_id::text FROM api_keys WHERE tenant_id ="
                                 " (SELECT id FROM tenants WHERE slug = $1)"
                                 " ORDER BY created_at LIMIT 1",
                                 t->slug);
    char err[256], uuid[LG_UUID_STRLEN];
    lg_txn_command c;
    PQfinish(m);
    lg_uuid_random(uuid);
    snprintf(txn_id, 64, "%s", uuid);
    memset(&c, 0, sizeof c);
    c.command_id = uuid;
    c.transaction_id = uuid;
    c.tenant_id = (char *)(uintptr_t)t->id;
    c.type = (lg_txn_type)type;
    c.amount_minor = strtoll(amount_minor_text, NULL, 10);
    c.currency = (char *)(uintptr_t) "USD";
    c.from_account = (char *)(uintptr_t)from;
    c.to_account = (char *)(uintptr_t)to;
    c.requested_by = user;
    c.request_id = uuid;
    c.accepted_at_ms = 1700000000000;
    CHECK(lg_avro_encode_command(&c, value, len, err, sizeof err) == 0, "encode: %s", err);
    free(user);
}

static int consume(const char *topic, const char *key_prefix, int idle_ms, itest_msg_fn fn,
                   itest_kmsg_fn kfn, void *arg)
{
    rd_kafka_t *rk = consumer_new("itest-reader");
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);
    int64_t last = itest_now_ms();
    int count = 0;
    size_t prefix_len = strlen(key_prefix);

    CHECK(rd_kafka_metadata(rk, 1, NULL, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR, "metadata");
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0)
            for (int p = 0; p < md->topics[i].partition_cnt; p++)
                rd_kafka_topic_partition_list_add(parts, topic, md->topics[i].partitions[p].id)
                    ->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    CHECK(rd_kafka_assign(rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR, "assign %s", topic);
    rd_kafka_topic_partition_list_destroy(parts);
    while (itest_now_ms() - last < idle_ms) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            last = itest_now_ms();
            if (m->key_len >= prefix_len && memcmp(m->key, key_prefix, prefix_len) == 0) {
                count++;
                if (fn != NULL)
                    fn(m->key, m->key_len, m->payload, m->len, arg);
                if (kfn != NULL)
                    kfn(m, arg);
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return count;
}
