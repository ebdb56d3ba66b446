#include "itest.h"

#include "lg_avro.h"
#include "lg_crypto.h"
#include "lg_money.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

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
    CHECK(n_accounts <= ITEST_MAX_ACCOUNTS, "at most %d accounts", ITEST_MAX_ACCOUNTS);
    for (int i = 0; i < n_accounts; i++)
        itest_account_add(t, currency, NULL);
}

const char *itest_account_add(itest_tenant *t, const char *currency,
                               const char *overdraft_limit)
{
    char *number;
    int rc;
    CHECK(t->n_accounts < ITEST_MAX_ACCOUNTS, "at most %d accounts", ITEST_MAX_ACCOUNTS);
    number = t->account[t->n_accounts];
    if (overdraft_limit != NULL)
        rc = itest_ledgerctl(number, sizeof t->account[0], "account", "open", "--tenant",
                             t->slug, "--customer", t->customer, "--type", "CHECKING",
                             "--currency", currency, "--overdraft-limit", overdraft_limit, NULL);
    else
        rc = itest_ledgerctl(number, sizeof t->account[0], "account", "open", "--tenant",
                             t->slug, "--customer", t->customer, "--type", "CHECKING",
                             "--currency", currency, NULL);
    CHECK(rc == 0 && strlen(number) == 10, "account open exited %d", rc);
    t->n_accounts++;
    return number;
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

/* One exchange; on a transport failure (refused, reset, timed out) returns 0 when tolerate is
 * set, fails the test otherwise. */
static long http_exchange(const char *method, const char *path, const char *const *headers,
                          const char *request_body, char **body, char *content_type,
                          size_t ct_size, int tolerate)
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
    CHECK(rc == CURLE_OK || tolerate, "%s %s: %s", method, path, curl_easy_strerror(rc));
    if (rc == CURLE_OK)
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

long itest_http(const char *method, const char *path, const char *const *headers,
                const char *request_body, char **body, char *content_type, size_t ct_size)
{
    return http_exchange(method, path, headers, request_body, body, content_type, ct_size, 0);
}

long itest_post_txn(const itest_tenant *t, const char *json, const char *idempotency_key,
                    char *id, size_t id_size)
{
    return itest_post_txn_try(t, json, idempotency_key, id, id_size, 0);
}

long itest_post_txn_try(const itest_tenant *t, const char *json, const char *idempotency_key,
                        char *id, size_t id_size, int tolerate)
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
    status = http_exchange("POST", "/v1/transactions", headers, json, &body, NULL, 0, tolerate);
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

static rd_kafka_t *consumer_new(const char *group, int read_committed)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    CHECK(rd_kafka_conf_set(conf, "bootstrap.servers", itest_env("LEDGER_KAFKA_BROKERS"), err,
                            sizeof err) == RD_KAFKA_CONF_OK &&
              rd_kafka_conf_set(conf, "group.id", group, err, sizeof err) == RD_KAFKA_CONF_OK &&
              rd_kafka_conf_set(conf, "isolation.level",
                                read_committed ? "read_committed" : "read_uncommitted", err,
                                sizeof err) == RD_KAFKA_CONF_OK &&
              rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) ==
                  RD_KAFKA_CONF_OK &&
              rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err) ==
                  RD_KAFKA_CONF_OK,
          "consumer conf: %s", err);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    CHECK(rk != NULL, "consumer: %s", err);
    return rk;
}

int64_t itest_topic_end(const char *topic)
{
    rd_kafka_t *rk = consumer_new("itest-watermarks", 1);
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

static int consume(const char *topic, const char *key_prefix, int idle_ms, int read_committed,
                   itest_msg_fn fn, itest_kmsg_fn kfn, void *arg);

/* Where reads of a marked topic start (itest_consume_mark): the high watermarks at the mark. */
#define MARK_TOPICS 8
#define MARK_PARTITIONS 64
static struct {
    char topic[64];
    int n;
    int64_t offset[MARK_PARTITIONS];
} marks[MARK_TOPICS];
static int n_marks;

void itest_consume_mark(const char *topic)
{
    rd_kafka_t *rk = consumer_new("itest-watermarks", 1);
    const struct rd_kafka_metadata *md = NULL;
    int m;
    for (m = 0; m < n_marks && strcmp(marks[m].topic, topic) != 0; m++)
        ;
    CHECK(m < MARK_TOPICS, "too many marked topics");
    if (m == n_marks)
        n_marks++;
    snprintf(marks[m].topic, sizeof marks[m].topic, "%s", topic);
    marks[m].n = 0;
    CHECK(rd_kafka_metadata(rk, 1, NULL, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR, "metadata");
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, topic) != 0)
            continue;
        for (int p = 0; p < md->topics[i].partition_cnt; p++) {
            int32_t id = md->topics[i].partitions[p].id;
            int64_t lo = 0, hi = 0;
            CHECK(id >= 0 && id < MARK_PARTITIONS, "%s: partition %d", topic, (int)id);
            CHECK(rd_kafka_query_watermark_offsets(rk, topic, id, &lo, &hi, 10000) ==
                      RD_KAFKA_RESP_ERR_NO_ERROR,
                  "watermarks of %s", topic);
            marks[m].offset[id] = hi;
            if (id + 1 > marks[m].n)
                marks[m].n = id + 1;
        }
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
}

/* The offset a read of topic's partition starts at: its mark, or the beginning. */
static int64_t start_offset(const char *topic, int32_t partition)
{
    for (int m = 0; m < n_marks; m++)
        if (strcmp(marks[m].topic, topic) == 0 && partition >= 0 && partition < marks[m].n)
            return marks[m].offset[partition];
    return RD_KAFKA_OFFSET_BEGINNING;
}

int itest_consume(const char *topic, const char *key_prefix, int idle_ms, itest_msg_fn fn,
                  void *arg)
{
    return consume(topic, key_prefix, idle_ms, 1, fn, NULL, arg);
}

int itest_consume_messages(const char *topic, const char *key_prefix, int idle_ms,
                           itest_kmsg_fn fn, void *arg)
{
    return consume(topic, key_prefix, idle_ms, 1, NULL, fn, arg);
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

int itest_consume_isolation(const char *topic, const char *key_prefix, int idle_ms,
                            int read_committed, itest_msg_fn fn, void *arg)
{
    return consume(topic, key_prefix, idle_ms, read_committed, fn, NULL, arg);
}

static int consume(const char *topic, const char *key_prefix, int idle_ms, int read_committed,
                   itest_msg_fn fn, itest_kmsg_fn kfn, void *arg)
{
    rd_kafka_t *rk = consumer_new("itest-reader", read_committed);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);
    int64_t last = itest_now_ms();
    int count = 0, n_parts = 0, n_at_end = 0, to_end = idle_ms < 0;
    char at_end[256] = {0};
    size_t prefix_len = strlen(key_prefix);

    if (to_end)
        idle_ms = -idle_ms;
    CHECK(rd_kafka_metadata(rk, 1, NULL, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR, "metadata");
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0)
            for (int p = 0; p < md->topics[i].partition_cnt; p++, n_parts++)
                rd_kafka_topic_partition_list_add(parts, topic, md->topics[i].partitions[p].id)
                    ->offset = start_offset(topic, md->topics[i].partitions[p].id);
    rd_kafka_metadata_destroy(md);
    CHECK(n_parts <= (int)sizeof at_end, "%s has %d partitions", topic, n_parts);
    CHECK(rd_kafka_assign(rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR, "assign %s", topic);
    rd_kafka_topic_partition_list_destroy(parts);
    while (itest_now_ms() - last < idle_ms && !(to_end && n_at_end == n_parts)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL)
            continue;
        if (m->partition >= 0 && m->partition < (int32_t)sizeof at_end) {
            /* The end of a partition as it is now; a later message moves it on again. */
            int eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
            n_at_end += eof - at_end[m->partition];
            at_end[m->partition] = (char)eof;
        }
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

void itest_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------------ ledger-worker processes */

#define MAX_WORKERS 64

static pthread_mutex_t workers_lock = PTHREAD_MUTEX_INITIALIZER;
static int live_pids[MAX_WORKERS];
static char logs_used[MAX_WORKERS][512];
static int n_logs_used;
static int atexit_registered;

static void live_set(int pid, int add)
{
    pthread_mutex_lock(&workers_lock);
    for (int i = 0; i < MAX_WORKERS; i++) {
        if (add && live_pids[i] == 0) {
            live_pids[i] = pid;
            break;
        }
        if (!add && live_pids[i] == pid) {
            live_pids[i] = 0;
            break;
        }
    }
    pthread_mutex_unlock(&workers_lock);
}

/* 1 when pid has exited (reaped now or before), with its status in *status when reaped now. */
static int reaped(int pid, int *status)
{
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
        if (status != NULL)
            *status = st;
        return 1;
    }
    return r < 0 && errno == ECHILD;
}

/* Whatever a test leaves running is stopped when it exits, failed or not: SIGTERM (a worker
 * leaves its consumer group cleanly, so the next test's workers do not wait for its session to
 * time out), then SIGKILL after 10 s. */
static void workers_atexit(void)
{
    int pids[MAX_WORKERS], n = 0;
    int64_t deadline = itest_now_ms() + 10000;
    pthread_mutex_lock(&workers_lock);
    for (int i = 0; i < MAX_WORKERS; i++)
        if (live_pids[i] != 0) {
            pids[n++] = live_pids[i];
            live_pids[i] = 0;
        }
    pthread_mutex_unlock(&workers_lock);
    for (int i = 0; i < n; i++) {
        fprintf(stderr, "stopping ledger-worker pid %d left running\n", pids[i]);
        kill(pids[i], SIGTERM);
    }
    for (int left = n; left > 0 && itest_now_ms() < deadline;) {
        left = 0;
        for (int i = 0; i < n; i++) {
            if (pids[i] != 0 && reaped(pids[i], NULL))
                pids[i] = 0;
            left += pids[i] != 0;
        }
        if (left > 0)
            itest_sleep_ms(50);
    }
    for (int i = 0; i < n; i++)
        if (pids[i] != 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
}

/* The environment of a worker: the test's, with LEDGER_WORKER_INSTANCE and w->env on top. Its
 * HTTP listener takes any free port (LEDGER_WORKER_LISTEN=127.0.0.1:0) unless w->env says
 * otherwise, so that several workers of one test, and the stack's, never collide. */
static char **worker_envp(const itest_worker *w)
{
    size_t n_env = 0, n_extra = 0, k = 0;
    char **envp;
    char instance[64];
    int listen_given = 0;
    while (environ[n_env] != NULL)
        n_env++;
    while (w->env != NULL && w->env[n_extra] != NULL)
        n_extra++;
    envp = calloc(n_env + n_extra + 3, sizeof *envp);
    CHECK(envp != NULL, "out of memory");
    for (size_t i = 0; i < n_env; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t name_len = eq != NULL ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
        int overridden = strncmp(environ[i], "LEDGER_WORKER_INSTANCE=", 23) == 0 ||
                         strncmp(environ[i], "LEDGER_WORKER_LISTEN=", 21) == 0;
        for (size_t j = 0; j < n_extra && !overridden; j++)
            overridden = strncmp(environ[i], w->env[j], name_len) == 0;
        if (!overridden)
            envp[k++] = strdup(environ[i]);
    }
    snprintf(instance, sizeof instance, "LEDGER_WORKER_INSTANCE=%d", w->instance);
    envp[k++] = strdup(instance);
    for (size_t j = 0; j < n_extra; j++) {
        listen_given |= strncmp(w->env[j], "LEDGER_WORKER_LISTEN=", 21) == 0;
        envp[k++] = strdup(w->env[j]);
    }
    if (!listen_given)
        envp[k++] = strdup("LEDGER_WORKER_LISTEN=127.0.0.1:0");
    envp[k] = NULL;
    return envp;
}

static void spawn_worker(itest_worker *w)
{
    char **envp = worker_envp(w);
    char *const argv[] = {(char *)(uintptr_t)LEDGER_WORKER_PATH, NULL};
    int fd, truncate = 1;
    pid_t parent = getpid(), pid;
    char line[256];

    mkdir(ITEST_LOG_DIR, 0755);
    pthread_mutex_lock(&workers_lock);
    for (int i = 0; i < n_logs_used && truncate; i++)
        truncate = strcmp(logs_used[i], w->log) != 0;
    if (truncate && n_logs_used < MAX_WORKERS)
        snprintf(logs_used[n_logs_used++], sizeof logs_used[0], "%s", w->log);
    if (!atexit_registered) {
        atexit(workers_atexit);
        atexit_registered = 1;
    }
    pthread_mutex_unlock(&workers_lock);
    fd = open(w->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
    CHECK(fd >= 0, "opening %s: %s", w->log, strerror(errno));
    snprintf(line, sizeof line, "=== start %s (instance %d)\n", w->name, w->instance);
    CHECK(write(fd, line, strlen(line)) == (ssize_t)strlen(line), "writing %s", w->log);
    if (truncate)
        w->log_seen = 0;
    else
        w->log_seen = lseek(fd, 0, SEEK_END);
    pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Only async-signal-safe calls from here to execve: the test may have threads. */
        int devnull = open("/dev/null", O_RDONLY);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        dup2(devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(fd);
    for (size_t i = 0; envp[i] != NULL; i++)
        free(envp[i]);
    free(envp);
    w->pid = (int)pid;
    live_set(w->pid, 1);
}

void itest_worker_start(itest_worker *w, const char *name, int instance,
                        const char *const *env)
{
    memset(w, 0, sizeof *w);
    snprintf(w->name, sizeof w->name, "%s", name);
    snprintf(w->log, sizeof w->log, "%s/%s.log", ITEST_LOG_DIR, name);
    w->instance = instance;
    w->env = env;
    spawn_worker(w);
}

void itest_worker_restart(itest_worker *w)
{
    CHECK(w->pid == 0, "worker %s is still running (pid %d)", w->name, w->pid);
    spawn_worker(w);
}

int itest_worker_wait_log(itest_worker *w, const char *text, int timeout_ms)
{
    int64_t deadline = itest_now_ms() + timeout_ms;
    for (;;) {
        FILE *f = fopen(w->log, "r");
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        long pos = w->log_seen;
        int status = 0;
        CHECK(f != NULL, "opening %s", w->log);
        fseek(f, pos, SEEK_SET);
        while ((len = getline(&line, &cap, f)) > 0 && line[len - 1] == '\n') {
            pos += len;
            if (strstr(line, text) != NULL) {
                w->log_seen = pos;
                free(line);
                fclose(f);
                return 1;
            }
        }
        free(line);
        fclose(f);
        if (w->pid != 0 && reaped(w->pid, &status)) {
            live_set(w->pid, 0);
            w->pid = 0;
            itest_fail(__FILE__, __LINE__, "worker alive",
                       "ledger-worker %s exited (status %d) while waiting for \"%s\" in %s",
                       w->name, status, text, w->log);
        }
        if (itest_now_ms() > deadline)
            return 0;
        itest_sleep_ms(50);
    }
}

void itest_worker_kill(itest_worker *w)
{
    CHECK(w->pid != 0, "worker %s is not running", w->name);
    kill(w->pid, SIGKILL);
    waitpid(w->pid, NULL, 0);
    live_set(w->pid, 0);
    w->pid = 0;
}

int itest_worker_stop(itest_worker *w, int timeout_ms)
{
    int64_t deadline = itest_now_ms() + timeout_ms;
    int status = 0, rc;
    CHECK(w->pid != 0, "worker %s is not running", w->name);
    kill(w->pid, SIGTERM);
    while (!reaped(w->pid, &status)) {
        if (itest_now_ms() > deadline) {
            kill(w->pid, SIGKILL);
            waitpid(w->pid, NULL, 0);
            live_set(w->pid, 0);
            w->pid = 0;
            return -1;
        }
        itest_sleep_ms(20);
    }
    rc = WIFEXITED(status)     ? WEXITSTATUS(status)
         : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                               : 255;
    live_set(w->pid, 0);
    w->pid = 0;
    return rc;
}

static int count_lines(const char *path, const char *text, char *first, size_t first_size)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    if (f == NULL)
        return 0;
    while (getline(&line, &cap, f) > 0)
        if (strstr(line, text) != NULL) {
            if (n == 0 && first != NULL)
                snprintf(first, first_size, "%s", line);
            n++;
        }
    free(line);
    fclose(f);
    return n;
}

int itest_worker_log_count(const itest_worker *w, const char *text)
{
    return count_lines(w->log, text, NULL, 0);
}

void itest_workers_check_logs(void)
{
    static const char *const reports[] = {"AddressSanitizer", "LeakSanitizer", "runtime error:",
                                          NULL};
    char first[1024];
    pthread_mutex_lock(&workers_lock);
    for (int i = 0; i < n_logs_used; i++)
        for (int k = 0; reports[k] != NULL; k++) {
            int n = count_lines(logs_used[i], reports[k], first, sizeof first);
            if (n > 0) {
                pthread_mutex_unlock(&workers_lock);
                itest_fail(__FILE__, __LINE__, "no sanitizer report",
                           "%s: %d line(s) with \"%s\", the first: %s", logs_used[i], n,
                           reports[k], first);
            }
        }
    pthread_mutex_unlock(&workers_lock);
}

/* ------------------------------------------------------------------ id sets */

static int id_cmp(const void *a, const void *b)
{
    return strcmp(((const itest_id *)a)->id, ((const itest_id *)b)->id);
}

void itest_idset_add(itest_idset *s, const char *id, int tag)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        itest_id *nv = realloc(s->v, cap * sizeof *nv);
        CHECK(nv != NULL, "out of memory");
        s->v = nv;
        s->cap = cap;
    }
    snprintf(s->v[s->n].id, sizeof s->v[0].id, "%s", id);
    s->v[s->n].count = 0;
    s->v[s->n].tag = tag;
    s->n++;
    s->sorted = 0;
}

itest_id *itest_idset_find(itest_idset *s, const char *id)
{
    itest_id key;
    if (!s->sorted) {
        if (s->n > 0)
            qsort(s->v, s->n, sizeof *s->v, id_cmp);
        s->sorted = 1;
    }
    snprintf(key.id, sizeof key.id, "%s", id);
    return s->n > 0 ? bsearch(&key, s->v, s->n, sizeof *s->v, id_cmp) : NULL;
}

void itest_idset_free(itest_idset *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------ transfer flows */

static void money_text(int64_t minor, char *buf, size_t size)
{
    snprintf(buf, size, "%lld.%02lld", (long long)(minor / 100), (long long)(minor % 100));
}

static void *flow_thread(void *arg)
{
    itest_flow *f = arg;
    pthread_mutex_t *lock = f->lock;
    for (;;) {
        char body[512], key[128], id[64] = "", amount[32];
        int k, from, to;
        long status = 0;
        pthread_mutex_lock(lock);
        k = f->next++;
        pthread_mutex_unlock(lock);
        if (k >= f->n_commands)
            break;
        if (f->paced_ms > 0) {
            int64_t at = f->started_ms + (int64_t)k * f->paced_ms / f->n_commands;
            int64_t now = itest_now_ms();
            if (at > now)
                itest_sleep_ms((int)(at - now));
        }
        from = (int)randombytes_uniform((uint32_t)f->n_accounts);
        to = (int)randombytes_uniform((uint32_t)f->n_accounts - 1);
        if (to >= from)
            to++;
        money_text(1 + (int64_t)randombytes_uniform((uint32_t)f->max_amount_minor), amount,
                   sizeof amount);
        snprintf(body, sizeof body,
                 "{\"type\":\"TRANSFER\",\"amount\":\"%s\",\"currency\":\"USD\","
                 "\"fromAccount\":\"%s\",\"toAccount\":\"%s\",\"description\":\"flow %d\"}",
                 amount, f->t->account[from], f->t->account[to], k);
        snprintf(key, sizeof key, "%s-flow-%d", f->t->slug, k);
        for (int sent = 0; sent < (f->resend_every > 0 && k % f->resend_every == 0 ? 2 : 1);
             sent++) {
            char first_id[64];
            int64_t first_failure = 0;
            int retry_ms = f->retry_ms > 0 ? f->retry_ms : 6000;
            snprintf(first_id, sizeof first_id, "%s", id);
            for (int attempt = 0;; attempt++) {
                int unanswered;
                status = itest_post_txn_try(f->t, body, key, id, sizeof id, f->retry_unanswered);
                /* A resend with the same key is answered 200 (with the current status) once
                 * the transaction is recorded, 202 while it is still pending. So is a retry
                 * after an attempt that got no answer or a 503: that attempt may have reached
                 * Kafka, and the command may be applied by now. */
                if (status == 202 || ((sent > 0 || attempt > 0) && status == 200))
                    break;
                if (first_failure == 0)
                    first_failure = itest_now_ms();
                unanswered = status == 0;
                CHECK((unanswered || (status >= 500 && !f->fail_on_5xx)) &&
                          itest_now_ms() - first_failure < retry_ms,
                      "POST of transfer %d answered %ld (attempt %d)", k, status, attempt + 1);
                pthread_mutex_lock(lock);
                if (unanswered)
                    f->n_unanswered++;
                else
                    f->n_retried_503++;
                pthread_mutex_unlock(lock);
                itest_sleep_ms(200);
            }
            CHECK(strlen(id) == 36, "transfer %d: no transaction id in the 202 body", k);
            CHECK(sent == 0 || strcmp(id, first_id) == 0,
                  "transfer %d sent again with its Idempotency-Key got id %s, first %s", k, id,
                  first_id);
            if (sent > 0) {
                pthread_mutex_lock(lock);
                f->n_resent++;
                pthread_mutex_unlock(lock);
            }
        }
        pthread_mutex_lock(lock);
        itest_idset_add(&f->accepted, id, 0);
        f->n_accepted++;
        pthread_mutex_unlock(lock);
    }
    pthread_mutex_lock(lock);
    if (--f->running == 0)
        f->ended_ms = itest_now_ms();
    pthread_mutex_unlock(lock);
    return NULL;
}

void itest_flow_start(itest_flow *f)
{
    pthread_t *th = calloc((size_t)f->n_threads, sizeof *th);
    pthread_mutex_t *lock = malloc(sizeof *lock);
    CHECK(th != NULL && lock != NULL, "out of memory");
    CHECK(f->n_accounts >= 2 && f->max_amount_minor > 0 && f->n_threads > 0, "flow settings");
    CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK, "curl_global_init");
    pthread_mutex_init(lock, NULL);
    f->threads = th;
    f->lock = lock;
    f->next = 0;
    f->running = f->n_threads;
    f->started_ms = itest_now_ms();
    for (int i = 0; i < f->n_threads; i++)
        CHECK(pthread_create(&th[i], NULL, flow_thread, f) == 0, "pthread_create");
}

int itest_flow_done(itest_flow *f)
{
    int done;
    pthread_mutex_lock(f->lock);
    done = f->running == 0;
    pthread_mutex_unlock(f->lock);
    return done;
}

void itest_flow_join(itest_flow *f)
{
    pthread_t *th = f->threads;
    for (int i = 0; i < f->n_threads; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(f->lock);
    free(f->lock);
    free(th);
    f->lock = NULL;
    f->threads = NULL;
    CHECK(f->n_accepted == f->n_commands, "%d of %d transfers accepted", f->n_accepted,
          f->n_commands);
}

void itest_fund_accounts(const itest_tenant *t, int n_accounts, const char *amount,
                         itest_idset *accepted)
{
    char ids[ITEST_MAX_ACCOUNTS][64];
    for (int i = 0; i < n_accounts; i++) {
        char body[256], key[128];
        long status;
        snprintf(body, sizeof body,
                 "{\"type\":\"DEPOSIT\",\"amount\":\"%s\",\"currency\":\"USD\","
                 "\"toAccount\":\"%s\",\"description\":\"funding\"}",
                 amount, t->account[i]);
        snprintf(key, sizeof key, "%s-fund-%d", t->slug, i);
        status = itest_post_txn(t, body, key, ids[i], sizeof ids[i]);
        CHECK(status == 202, "funding deposit %d answered %ld", i, status);
        if (accepted != NULL)
            itest_idset_add(accepted, ids[i], 0);
    }
    for (int i = 0; i < n_accounts; i++) {
        json_t *txn = itest_wait_txn(t, ids[i], 60000);
        const char *st = json_string_value(json_object_get(txn, "status"));
        CHECK(strcmp(st, "COMPLETED") == 0, "funding deposit %d is %s", i, st);
        json_decref(txn);
    }
}

int itest_wait_recorded(PGconn *db, int n, int timeout_ms)
{
    int64_t deadline = itest_now_ms() + timeout_ms;
    int count;
    for (;;) {
        char *v = itest_sql_value(db, "SELECT count(*)::text FROM transactions", NULL);
        count = atoi(v);
        free(v);
        if (count >= n || itest_now_ms() > deadline)
            return count;
        itest_sleep_ms(250);
    }
}

/* ------------------------------------------------------------------ exactly-once checks */

typedef struct {
    itest_idset *accepted;
    itest_idset *entries;
    int results, unknown, status_mismatch, bad_event_id;
    char first_unknown[64];
} eo_scan;

static void on_eo_result(const void *key, size_t key_len, const void *value, size_t len,
                         void *arg)
{
    eo_scan *s = arg;
    lg_txn_result r;
    char err[256];
    itest_id *e;
    (void)key;
    (void)key_len;
    CHECK(lg_avro_decode_result(value, len, &r, err, sizeof err) == 0, "result: %s", err);
    s->results++;
    e = itest_idset_find(s->accepted, r.transaction_id);
    if (e == NULL) {
        if (s->unknown++ == 0)
            snprintf(s->first_unknown, sizeof s->first_unknown, "%s", r.transaction_id);
    } else {
        int expect = e->tag == 'C' ? LG_RESULT_COMPLETED : e->tag == 'F' ? LG_RESULT_FAILED : -1;
        e->count++;
        s->status_mismatch += (int)r.status != expect;
    }
    lg_avro_free_result(&r);
}

static void on_eo_entry(const void *key, size_t key_len, const void *value, size_t len,
                        void *arg)
{
    eo_scan *s = arg;
    lg_ledger_event ev;
    char err[256];
    itest_id *e;
    (void)key;
    (void)key_len;
    CHECK(lg_avro_decode_ledger(value, len, &ev, err, sizeof err) == 0, "ledger: %s", err);
    s->results++;
    e = itest_idset_find(s->entries, ev.entry_id);
    if (e == NULL) {
        if (s->unknown++ == 0)
            snprintf(s->first_unknown, sizeof s->first_unknown, "%s", ev.entry_id);
    } else {
        e->count++;
    }
    s->bad_event_id += strcmp(ev.event_id, ev.entry_id) != 0;
    lg_avro_free_ledger(&ev);
}

void itest_check_exactly_once(const itest_tenant *t, PGconn *db, itest_idset *accepted,
                              int64_t funded_minor, itest_eo_figures *f)
{
    char prefix[80], err[256], out[4096], *v;
    int db_unknown = 0, db_missing = 0, db_not_final = 0, results_missing = 0,
        entries_missing = 0, other_failures = 0, rc;
    char first_other[128] = "";
    itest_idset entries = {0};
    eo_scan rs = {0}, es = {0};
    PGresult *res;
    int64_t customer_total = 0;

    memset(f, 0, sizeof *f);
    CHECK(lg_avro_init(err, sizeof err) == 0, "%s", err);
    snprintf(prefix, sizeof prefix, "%s:", t->id);
    f->accepted = (int)accepted->n;
    for (size_t i = 0; i < accepted->n; i++) {
        accepted->v[i].count = 0;
        accepted->v[i].tag = 0;
    }

    /* The tenant database: one final row per accepted id, nothing else. */
    res = PQexec(db, "SELECT id, status, coalesce(failure_code, '') FROM transactions");
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK, "transactions: %s", PQerrorMessage(db));
    for (int r = 0; r < PQntuples(res); r++) {
        itest_id *e = itest_idset_find(accepted, PQgetvalue(res, r, 0));
        const char *st = PQgetvalue(res, r, 1), *code = PQgetvalue(res, r, 2);
        if (strcmp(st, "FAILED") == 0 && strcmp(code, "INSUFFICIENT_FUNDS") != 0 &&
            other_failures++ == 0)
            snprintf(first_other, sizeof first_other, "%s: %s", PQgetvalue(res, r, 0), code);
        if (e == NULL) {
            db_unknown++;
            continue;
        }
        e->tag = strcmp(st, "COMPLETED") == 0 ? 'C' : strcmp(st, "FAILED") == 0 ? 'F' : 'X';
        f->completed += e->tag == 'C';
        f->failed += e->tag == 'F';
        db_not_final += e->tag == 'X';
    }
    PQclear(res);
    for (size_t i = 0; i < accepted->n; i++)
        db_missing += accepted->v[i].tag == 0;
    res = PQexec(db, "SELECT id FROM ledger_entries");
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK, "ledger_entries: %s", PQerrorMessage(db));
    for (int r = 0; r < PQntuples(res); r++)
        itest_idset_add(&entries, PQgetvalue(res, r, 0), 0);
    PQclear(res);
    f->entries = (int)entries.n;

    /* Kafka, as a read_committed consumer sees it. */
    rs.accepted = accepted;
    itest_consume("txn.results", prefix, -10000, on_eo_result, &rs);
    es.entries = &entries;
    itest_consume("ledger.entries", prefix, -10000, on_eo_entry, &es);
    f->results = rs.results;
    f->entry_events = es.results;
    for (size_t i = 0; i < accepted->n; i++) {
        results_missing += accepted->v[i].count == 0;
        if (accepted->v[i].count > 1 && f->result_duplicates < 5)
            printf("  transaction %s: %d results\n", accepted->v[i].id, accepted->v[i].count);
        if (accepted->v[i].count > 1)
            f->result_duplicates += accepted->v[i].count - 1;
        else if (accepted->v[i].count == 0 && results_missing <= 5)
            printf("  transaction %s: no result\n", accepted->v[i].id);
    }
    for (size_t i = 0; i < entries.n; i++) {
        entries_missing += entries.v[i].count == 0;
        if (entries.v[i].count > 1)
            f->entry_duplicates += entries.v[i].count - 1;
    }
    /* What a read_uncommitted consumer sees: the events of aborted batches too. */
    f->results_uncommitted = itest_consume_isolation("txn.results", prefix, -10000, 0, NULL, NULL);

    v = itest_sql_value(db, "SELECT coalesce(sum(balance), 0)::text FROM accounts"
                            " WHERE gl_code = '2000'", NULL);
    CHECK(lg_money_parse_signed(v, &customer_total, err, sizeof err) == 0, "%s: %s", v, err);
    free(v);
    rc = itest_ledgerctl(out, sizeof out, "verify", "--tenant", t->slug, NULL);

    printf("exactly once: %d accepted: %d COMPLETED, %d FAILED, %d missing, %d not final,"
           " %d unknown rows\n",
           f->accepted, f->completed, f->failed, db_missing, db_not_final, db_unknown);
    printf("  txn.results (read_committed): %d results, %d duplicate(s), %d missing,"
           " %d unknown, %d status mismatch(es); read_uncommitted sees %d\n",
           f->results, f->result_duplicates, results_missing, rs.unknown, rs.status_mismatch,
           f->results_uncommitted);
    printf("  ledger.entries (read_committed): %d events for %d entries, %d duplicate(s),"
           " %d missing, %d unknown, %d with eventId != entryId\n",
           f->entry_events, f->entries, f->entry_duplicates, entries_missing, es.unknown,
           es.bad_event_id);
    printf("  customer accounts hold %lld minor units, funded %lld; verify exited %d\n",
           (long long)customer_total, (long long)funded_minor, rc);
    fflush(stdout);

    CHECK(db_missing == 0 && db_not_final == 0 && db_unknown == 0,
          "%d accepted command(s) not recorded, %d not final, %d row(s) nobody sent", db_missing,
          db_not_final, db_unknown);
    CHECK(other_failures == 0, "%d transaction(s) FAILED for another reason than insufficient"
          " funds (first %s)", other_failures, first_other);
    CHECK(f->result_duplicates == 0 && results_missing == 0 && rs.unknown == 0,
          "txn.results: %d duplicate(s), %d missing, %d unknown (first %s)",
          f->result_duplicates, results_missing, rs.unknown, rs.first_unknown);
    CHECK(rs.status_mismatch == 0, "%d result(s) disagree with the database's status",
          rs.status_mismatch);
    CHECK(f->entry_duplicates == 0 && entries_missing == 0 && es.unknown == 0 &&
              es.bad_event_id == 0,
          "ledger.entries: %d duplicate(s), %d missing, %d unknown (first %s), %d bad event ids",
          f->entry_duplicates, entries_missing, es.unknown, es.first_unknown, es.bad_event_id);
    CHECK(rc == 0, "ledgerctl verify --tenant %s exited %d: %s", t->slug, rc, out);
    CHECK(customer_total == funded_minor, "customer accounts hold %lld, funded %lld",
          (long long)customer_total, (long long)funded_minor);
    itest_idset_free(&entries);
}

static pid_t own_api_pid;

void itest_api_stop(void)
{
    if (own_api_pid > 0) {
        kill(own_api_pid, SIGTERM);
        waitpid(own_api_pid, NULL, 0);
        own_api_pid = 0;
    }
}

static size_t discard_body(char *buf, size_t size, size_t n, void *arg)
{
    (void)buf;
    (void)arg;
    return size * n;
}

void itest_api_start(const char *api_path, int port, const char *log_name, const char *const *env,
                     char *url, size_t url_size)
{
    char listen[64], log[512], health[192];
    CHECK(own_api_pid == 0, "itest_api_start: an API of the test's own is already running");
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(url, url_size, "http://%s", listen);
    snprintf(health, sizeof health, "http://%s/healthz", listen);
    snprintf(log, sizeof log, "%s/%s", ITEST_LOG_DIR, log_name);
    CHECK(mkdir(ITEST_LOG_DIR, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", ITEST_LOG_DIR,
          strerror(errno));
    own_api_pid = fork();
    CHECK(own_api_pid >= 0, "fork: %s", strerror(errno));
    if (own_api_pid == 0) {
        FILE *f;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        f = freopen(log, "w", stderr);
        if (f == NULL || dup2(fileno(stderr), STDOUT_FILENO) < 0)
            _exit(126);
        setenv("LEDGER_API_LISTEN", listen, 1);
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            if (putenv((char *)(uintptr_t)env[i]) != 0)
                _exit(126);
        execl(api_path, "producer-api", (char *)NULL);
        _exit(127);
    }
    atexit(itest_api_stop);
    for (int i = 0; i < 200; i++) {
        CURL *c = curl_easy_init();
        long status = 0;
        curl_easy_setopt(c, CURLOPT_URL, health);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 2L);
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        if (status == 200)
            return;
        itest_sleep_ms(100);
    }
    CHECK(0, "the test's producer-api did not come up on %s (log %s)", url, log);
}

int itest_worker_exited(itest_worker *w)
{
    int status = 0;
    if (w->pid == 0)
        return -1;
    if (!reaped(w->pid, &status))
        return -1;
    live_set(w->pid, 0);
    w->pid = 0;
    return WIFEXITED(status)     ? WEXITSTATUS(status)
           : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                 : 255;
}

void itest_flow_counts(itest_flow *f, int *accepted, int *retried_503, int *unanswered)
{
    pthread_mutex_lock(f->lock);
    if (accepted != NULL)
        *accepted = f->n_accepted;
    if (retried_503 != NULL)
        *retried_503 = f->n_retried_503;
    if (unanswered != NULL)
        *unanswered = f->n_unanswered;
    pthread_mutex_unlock(f->lock);
}

void itest_api_kill(void)
{
    CHECK(own_api_pid > 0, "itest_api_kill: no API of the test's own is running");
    kill(own_api_pid, SIGKILL);
    waitpid(own_api_pid, NULL, 0);
    own_api_pid = 0;
}

void itest_api_term(void)
{
    CHECK(own_api_pid > 0, "itest_api_term: no API of the test's own is running");
    kill(own_api_pid, SIGTERM);
}
