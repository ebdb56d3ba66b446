/*
 * Connection pools of producer-api, against a second producer-api that this test starts with
 * small limits (one connection per tenant, two in total, a 300 ms wait, a 2 s idle time-out)
 * and its own application_name (PGAPPNAME), so that its connections can be counted in
 * pg_stat_activity apart from the stack's API and worker:
 *   1. the total bound holds across tenants: reading as a third tenant closes an idle
 *      connection of another one rather than opening a third;
 *   2. idle connections are closed after the time-out, with no traffic at all;
 *   3. a request that cannot get a connection within the wait gets 503 problem+json with
 *      Retry-After (its tenant's one connection is held by a read blocked on a table lock);
 *   4. after a restart of the PostgreSQL server holding a tenant (scripts/pg.sh stop/start
 *      second), reads through both APIs and a deposit through the worker succeed with no
 *      process restarted.
 */
#include "itest.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define APPNAME "ledger-it-pool"

static char api_url[128];


static size_t on_body(char *buf, size_t size, size_t n, void *arg)
{
    char **body = arg;
    size_t len = size * n, old = *body != NULL ? strlen(*body) : 0;
    char *grown = realloc(*body, old + len + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + old, buf, len);
    grown[old + len] = '\0';
    *body = grown;
    return len;
}

static void start_api(int port)
{
    itest_api_start(PRODUCER_API_PATH, port, "it_pool-api.log",
                    (const char *const[]){"LEDGER_DB_POOL_PER_TENANT=1", "LEDGER_DB_POOL_TOTAL=2",
                                          "LEDGER_DB_WAIT_MS=300", "LEDGER_DB_IDLE_TIMEOUT_S=2",
                                          "PGAPPNAME=" APPNAME, NULL},
                    api_url, sizeof api_url);
}

typedef struct {
    char retry_after[32];
} headers_seen;

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
    headers_seen *h = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp(buf, "Retry-After:", 12) == 0)
        snprintf(h->retry_after, sizeof h->retry_after, "%.*s", (int)strcspn(buf + 12, "\r\n"),
                 buf + 12);
    return len;
}

/* GET base + /v1/accounts/<number> as t. Returns the status; fills the Retry-After and the
 * content type; *body malloc'd when body != NULL. */
static long get_account(const char *base, const itest_tenant *t, const char *number,
                        headers_seen *h, char *ct, size_t ct_size, char **body)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    char url[256], auth[200];
    char *got = NULL, *type = NULL;
    long status = 0;
    headers_seen ignored;
    CURLcode rc;
    if (h == NULL)
        h = &ignored;
    memset(h, 0, sizeof *h);
    snprintf(url, sizeof url, "%s/v1/accounts/%s", base, number);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", t->api_key);
    hl = curl_slist_append(hl, auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
    rc = curl_easy_perform(c);
    CHECK(rc == CURLE_OK, "GET %s: %s", url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
    if (ct != NULL)
        snprintf(ct, ct_size, "%s", type != NULL ? type : "");
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (body != NULL)
        *body = got != NULL ? got : strdup("");
    else
        free(got);
    return status;
}

/* The test's API's connections: to every tenant database on both servers (db_name NULL), or
 * to one database. */
static int api_conns(const char *db_name)
{
    int n = 0;
    const char *servers[] = {"LEDGER_ADMIN_DSN", "LEDGER_ADMIN_DSN_2"};
    for (int i = 0; i < 2; i++) {
        PGconn *c = PQconnectdb(itest_env(servers[i]));
        char param[256];
        char *v;
        CHECK(PQstatus(c) == CONNECTION_OK, "connecting to %s: %s", servers[i],
              PQerrorMessage(c));
        snprintf(param, sizeof param, "%s|%s", APPNAME, db_name != NULL ? db_name : "");
        v = itest_sql_value(c,
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE application_name = split_part($1, '|', 1)"
                            " AND datname <> 'ledger_master'"
                            " AND (split_part($1, '|', 2) = '' OR datname = split_part($1, '|', 2))",
                            param);
        n += (int)strtol(v, NULL, 10);
        free(v);
        PQfinish(c);
    }
    return n;
}

typedef struct {
    const itest_tenant *t;
    long status;
} blocked_read;

static void *read_in_background(void *arg)
{
    blocked_read *b = arg;
    b->status = get_account(api_url, b->t, b->t->account[0], NULL, NULL, 0, NULL);
    return NULL;
}

static void pg_second(const char *action)
{
    char cmd[1024];
    int rc;
    snprintf(cmd, sizeof cmd, "%s/scripts/pg.sh %s second >/dev/null 2>&1", LEDGER_SOURCE_DIR,
             action);
    rc = system(cmd);
    CHECK(rc == 0, "scripts/pg.sh %s second: exit %d", action, rc);
}

int main(void)
{
    itest_tenant a, b, c, d;
    char db_a[80], db_c[80], ct[128], *body = NULL;
    headers_seen h;
    long status;
    int n, api_port;
    int64_t t0;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    api_port = (int)strtol(itest_env("LEDGER_API_PORT"), NULL, 10) + 11;
    itest_tenant_create(&a, "it-pool-a", NULL, 1, "USD");
    itest_tenant_create(&b, "it-pool-b", NULL, 1, "USD");
    itest_tenant_create(&c, "it-pool-c", NULL, 1, "USD");
    itest_tenant_create(&d, "it-pool-d", "LEDGER_ADMIN_DSN_2", 1, "USD");
    itest_tenant_db_name(&a, db_a);
    itest_tenant_db_name(&c, db_c);
    start_api(api_port);

    /* 1. The total bound: two tenants fill it; a third takes the oldest idle connection. */
    CHECK(get_account(api_url, &a, a.account[0], NULL, NULL, 0, NULL) == 200, "read as a");
    CHECK(get_account(api_url, &b, b.account[0], NULL, NULL, 0, NULL) == 200, "read as b");
    n = api_conns(NULL);
    CHECK(n == 2, "two tenants read: %d connection(s), expected 2", n);
    CHECK(get_account(api_url, &c, c.account[0], NULL, NULL, 0, NULL) == 200, "read as c");
    n = api_conns(NULL);
    CHECK(n == 2, "a third tenant read with a total of 2: %d connection(s), expected 2", n);
    CHECK(api_conns(db_c) == 1, "c reads through a connection of its own");
    CHECK(api_conns(db_a) == 0, "a's idle connection (the oldest) was closed to make room");
    CHECK(get_account(api_url, &d, d.account[0], NULL, NULL, 0, NULL) == 200, "read as d");
    n = api_conns(NULL);
    CHECK(n == 2, "a fourth tenant, on the other server: %d connection(s), expected 2", n);
    printf("total bound: 4 tenants read through at most 2 connections\n");

    /* 2. Idle eviction, with no traffic at all. */
    t0 = itest_now_ms();
    while ((n = api_conns(NULL)) > 0 && itest_now_ms() - t0 < 10000)
        itest_sleep_ms(250);
    CHECK(n == 0, "%d connection(s) still open 10 s after the last request (time-out 2 s)", n);
    printf("idle eviction: all connections closed %lld ms after the last request\n",
           (long long)(itest_now_ms() - t0));

    /* 3. The wait ends in a 503 with Retry-After. One read of a holds a's only connection,
     * blocked on a lock the test holds; the next read of a cannot get one. */
    {
        PGconn *sup = itest_tenant_db(&a, NULL);
        blocked_read br = {&a, 0};
        pthread_t th;
        /* Warm the API's caches (the API key, the tenant row) so that the blocked read holds
         * the connection in the read itself. */
        CHECK(get_account(api_url, &a, a.account[0], NULL, NULL, 0, NULL) == 200, "warm a");
        itest_sql_exec(sup, "BEGIN", NULL);
        itest_sql_exec(sup, "LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE", NULL);
        CHECK(pthread_create(&th, NULL, read_in_background, &br) == 0, "thread");
        t0 = itest_now_ms();
        while (itest_now_ms() - t0 < 5000) {
            char *waiting = itest_sql_value(
                sup,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
                " AND wait_event_type = 'Lock'",
                APPNAME);
            int w = (int)strtol(waiting, NULL, 10);
            free(waiting);
            if (w == 1)
                break;
            itest_sleep_ms(50);
        }
        t0 = itest_now_ms();
        status = get_account(api_url, &a, a.account[0], &h, ct, sizeof ct, &body);
        CHECK(status == 503, "a read with the pool exhausted: %ld %s", status, body);
        CHECK(strstr(ct, "application/problem+json") != NULL, "content type %s", ct);
        CHECK(atoi(h.retry_after) >= 1, "Retry-After: '%s'", h.retry_after);
        CHECK(strstr(body, "\"status\"") != NULL && strstr(body, "503") != NULL, "body %s", body);
        CHECK(itest_now_ms() - t0 < 5000, "the 503 came after %lld ms",
              (long long)(itest_now_ms() - t0));
        printf("exhausted pool: 503 problem+json, Retry-After %s, after %lld ms\n",
               h.retry_after, (long long)(itest_now_ms() - t0));
        free(body);
        body = NULL;
        itest_sql_exec(sup, "ROLLBACK", NULL);
        pthread_join(th, NULL);
        CHECK(br.status == 200, "the blocked read completes once the lock is gone: %ld",
              br.status);
        PQfinish(sup);
        CHECK(get_account(api_url, &a, a.account[0], NULL, NULL, 0, NULL) == 200,
              "a reads again");
    }

    /* 4. A restart of the server under d: pooled connections of both APIs and of the worker
     * are now broken; the next reads and a deposit must succeed, no process restarted. */
    {
        char id[64];
        json_t *txn;
        CHECK(get_account(api_url, &d, d.account[0], NULL, NULL, 0, NULL) == 200, "read d");
        CHECK(get_account(itest_env("LEDGER_API_URL"), &d, d.account[0], NULL, NULL, 0, NULL) ==
                  200,
              "read d through the stack's API");
        /* A checkpoint first, so that the shutdown's own is short: after a test that wrote a
         * lot (migrate_scale) it can outlast pg_ctl's wait. */
        {
            PGconn *c2 = PQconnectdb(itest_env("LEDGER_ADMIN_DSN_2"));
            CHECK(PQstatus(c2) == CONNECTION_OK, "second server: %s", PQerrorMessage(c2));
            itest_sql_exec(c2, "CHECKPOINT", NULL);
            PQfinish(c2);
        }
        pg_second("stop");
        status = get_account(api_url, &d, d.account[0], &h, ct, sizeof ct, &body);
        CHECK(status == 503, "a read with d's server down: %ld %s", status, body);
        CHECK(strstr(ct, "application/problem+json") != NULL, "content type %s", ct);
        CHECK(atoi(h.retry_after) >= 1, "Retry-After: '%s'", h.retry_after);
        free(body);
        body = NULL;
        pg_second("start");
        t0 = itest_now_ms();
        status = get_account(api_url, &d, d.account[0], NULL, NULL, 0, &body);
        CHECK(status == 200, "first read of d after the restart (test API): %ld %s", status,
              body);
        free(body);
        body = NULL;
        status = get_account(itest_env("LEDGER_API_URL"), &d, d.account[0], NULL, NULL, 0, &body);
        CHECK(status == 200, "first read of d after the restart (stack API): %ld %s", status,
              body);
        free(body);
        body = NULL;
        {
            char json[256];
            snprintf(json, sizeof json,
                     "{\"type\":\"DEPOSIT\",\"toAccount\":\"%s\",\"amount\":\"10.00\","
                     "\"currency\":\"USD\"}",
                     d.account[0]);
            itest_submit(&d, json, id);
        }
        txn = itest_expect_status(&d, id, "COMPLETED");
        json_decref(txn);
        printf("restart: reads and a deposit of the tenant succeed %lld ms after its server "
               "came back\n",
               (long long)(itest_now_ms() - t0));
    }

    itest_api_stop();
    curl_global_cleanup();
    printf("it_pool: OK\n");
    return 0;
}
