/*
 * Abuse of producer-api, each refused or timed out without hurting other clients. The test
 * starts a producer-api of its own with small limits (5 requests/s per credential with bursts
 * of 10, a 2 s connection time-out, 300 connections, 100 per IP address):
 *   1. a body announced as 1 GB gets 413 problem+json at once, before any of it is sent;
 *      a chunked body of 4 MB (no length announced) gets 413 too, and the server lives on;
 *   2. a slow client that never finishes its request headers is disconnected by the server
 *      after the time-out, and a normal request is served while it hangs;
 *   3. 2000 idle connections from one address (127.0.0.2): the server keeps at most the
 *      per-IP limit of them open, a normal client (127.0.0.1) is served while they are open,
 *      and the time-out closes the ones it kept;
 *   4. deeply nested JSON (30000 levels of arrays, 10000 of objects) is refused with 400
 *      /problems/invalid-json quickly, on the transactions and the management endpoints;
 *   5. rate limit: one API key's burst is served, then 429 /problems/rate-limited with
 *      Retry-After; another API key of the same bank is served meanwhile; after the wait the
 *      first key is served again.
 * Every step ends with the test's API answering /healthz.
 */
#include "itest.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RATE       "5"
#define BURST      10
#define TIMEOUT_S  2
#define PER_IP     100
#define IDLE_CONNS 2000

static int api_port;
static char api_url[128];


typedef struct {
    char *body;
    char retry_after[32];
} answer;

static size_t on_body(char *buf, size_t size, size_t n, void *arg)
{
    answer *a = arg;
    size_t len = size * n, old = a->body != NULL ? strlen(a->body) : 0;
    char *grown = realloc(a->body, old + len + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + old, buf, len);
    grown[old + len] = '\0';
    a->body = grown;
    return len;
}

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
    answer *a = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp(buf, "Retry-After:", 12) == 0)
        snprintf(a->retry_after, sizeof a->retry_after, "%.*s", (int)strcspn(buf + 12 + 1, "\r\n"),
                 buf + 12 + 1);
    return len;
}

/* An exchange with the test's API (key may be NULL; body NULL for a GET). Returns the status,
 * fills *a (a->body malloc'd) and the content type. */
static long call(const char *method, const char *path, const char *key, const char *body, answer *a,
                 char *ct, size_t ct_size)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    char url[512], auth[256];
    char *type = NULL;
    long status = 0;
    CURLcode rc;
    memset(a, 0, sizeof *a);
    snprintf(url, sizeof url, "%s%s", api_url, path);
    if (key != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        hl = curl_slist_append(hl, auth);
    }
    hl = curl_slist_append(hl, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    rc = curl_easy_perform(c);
    CHECK(rc == CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
    if (ct != NULL)
        snprintf(ct, ct_size, "%s", type != NULL ? type : "");
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (a->body == NULL)
        a->body = strdup("");
    return status;
}

/* The problem's type, checked to be a problem+json body with the given status. */
static void expect_problem(long status, const answer *a, const char *ct, long want,
                           const char *type, const char *what)
{
    json_error_t jerr;
    json_t *p;
    CHECK(status == want, "%s: status %ld, want %ld (%s)", what, status, want, a->body);
    CHECK(strncmp(ct, "application/problem+json", 24) == 0, "%s: content type %s", what, ct);
    p = json_loads(a->body, 0, &jerr);
    CHECK(p != NULL, "%s: body is not JSON: %s", what, a->body);
    CHECK(strcmp(itest_json_str(p, "type"), type) == 0, "%s: type %s, want %s", what,
          itest_json_str(p, "type"), type);
    CHECK(json_integer_value(json_object_get(p, "status")) == want, "%s: status member", what);
    json_decref(p);
}

/* A normal client (127.0.0.1) is served: GET /healthz answers 200 within 5 s. Returns ms. */
static long healthy(const char *when)
{
    answer a;
    int64_t t0 = itest_now_ms();
    long status = call("GET", "/healthz", NULL, NULL, &a, NULL, 0);
    long ms = (long)(itest_now_ms() - t0);
    CHECK(status == 200, "%s: /healthz answered %ld", when, status);
    CHECK(ms < 5000, "%s: /healthz took %ld ms", when, ms);
    free(a.body);
    return ms;
}

static void start_api(void)
{
    char per_ip[64], timeout[64];
    snprintf(per_ip, sizeof per_ip, "LEDGER_API_MAX_CONNECTIONS_PER_IP=%d", PER_IP);
    snprintf(timeout, sizeof timeout, "LEDGER_API_CONNECTION_TIMEOUT_S=%d", TIMEOUT_S);
    itest_api_start(PRODUCER_API_PATH, api_port, "it_abuse-api.log",
                    (const char *const[]){"LEDGER_API_RATE_PER_S=" RATE,
                                          "LEDGER_API_RATE_BURST=10", timeout,
                                          "LEDGER_API_MAX_CONNECTIONS=300", per_ip, NULL},
                    api_url, sizeof api_url);
}

/* A TCP connection to the test's API from the address from (NULL: any). Blocking unless
 * nonblock; returns the socket. */
static int connect_from(const char *from, int nonblock)
{
    struct sockaddr_in to, me;
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    CHECK(fd >= 0, "socket: %s", strerror(errno));
    if (from != NULL) {
        memset(&me, 0, sizeof me);
        me.sin_family = AF_INET;
        CHECK(inet_pton(AF_INET, from, &me.sin_addr) == 1, "address %s", from);
        CHECK(bind(fd, (struct sockaddr *)&me, sizeof me) == 0, "bind %s: %s", from,
              strerror(errno));
    }
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons((unsigned short)api_port);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    CHECK(connect(fd, (struct sockaddr *)&to, sizeof to) == 0 || errno == EINPROGRESS,
          "connect: %s", strerror(errno));
    return fd;
}

/* Reads what the server sends on fd until it closes or timeout_ms pass; returns the bytes
 * read (into buf, NUL-terminated) and sets *closed. */
static int64_t first_byte_ms; /* when read_until_close got its first byte */

static size_t read_until_close(int fd, char *buf, size_t size, int timeout_ms, int *closed)
{
    size_t got = 0;
    first_byte_ms = 0;
    int64_t end = itest_now_ms() + timeout_ms;
    *closed = 0;
    while (itest_now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;
        if (poll(&p, 1, (int)(end - itest_now_ms())) <= 0)
            continue;
        n = recv(fd, buf + got, size - 1 - got, 0);
        if (n <= 0) {
            *closed = 1;
            break;
        }
        if (got == 0)
            first_byte_ms = itest_now_ms();
        got += (size_t)n;
        if (got + 1 >= size)
            break;
    }
    buf[got] = '\0';
    return got;
}

static void huge_bodies(const itest_tenant *t)
{
    char req[512], buf[8192];
    int fd, closed;
    int64_t t0;
    long ms;
    size_t n;

    /* Announced as 1 GB: answered before a byte of it is sent. */
    fd = connect_from(NULL, 0);
    n = (size_t)snprintf(req, sizeof req,
                         "POST /v1/transactions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                         "Content-Length: 1000000000\r\n\r\n",
                         t->api_key);
    t0 = itest_now_ms();
    CHECK(send(fd, req, n, 0) == (ssize_t)n, "send: %s", strerror(errno));
    read_until_close(fd, buf, sizeof buf, 5000, &closed);
    ms = (long)(first_byte_ms - t0);
    close(fd);
    CHECK(strncmp(buf, "HTTP/1.1 413", 12) == 0, "1 GB announced: answer %.80s", buf);
    CHECK(strstr(buf, "application/problem+json") != NULL, "1 GB announced: %s", buf);
    CHECK(strstr(buf, "/problems/body-too-large") != NULL, "1 GB announced: %s", buf);
    CHECK(closed, "1 GB announced: the server kept the connection open to read the body");
    printf("abuse: 1 GB body announced: 413 in %ld ms, connection closed, no body read\n", ms);

    /* Chunked, 4 MB, no length announced: read and dropped past 64 KiB, then 413. */
    {
        static char chunk[65536];
        char head[32];
        memset(chunk, '[', sizeof chunk);
        fd = connect_from(NULL, 0);
        n = (size_t)snprintf(req, sizeof req,
                             "POST /v1/transactions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n",
                             t->api_key);
        t0 = itest_now_ms();
        CHECK(send(fd, req, n, 0) == (ssize_t)n, "send: %s", strerror(errno));
        for (int i = 0; i < 64; i++) {
            size_t hn = (size_t)snprintf(head, sizeof head, "%zx\r\n", sizeof chunk);
            if (send(fd, head, hn, MSG_NOSIGNAL) != (ssize_t)hn ||
                send(fd, chunk, sizeof chunk, MSG_NOSIGNAL) != (ssize_t)sizeof chunk ||
                send(fd, "\r\n", 2, MSG_NOSIGNAL) != 2)
                break; /* the server may answer and close early */
        }
        (void)send(fd, "0\r\n\r\n", 5, MSG_NOSIGNAL);
        read_until_close(fd, buf, sizeof buf, 10000, &closed);
        ms = (long)(first_byte_ms - t0);
        close(fd);
        CHECK(strncmp(buf, "HTTP/1.1 413", 12) == 0, "4 MB chunked: answer %.80s", buf);
        CHECK(strstr(buf, "/problems/body-too-large") != NULL, "4 MB chunked: %s", buf);
        printf("abuse: 4 MB chunked body: 413 after %ld ms (at most 64 KiB kept)\n", ms);
    }
    healthy("after the huge bodies");
}

static void slow_client(void)
{
    const char *part = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    char buf[1024];
    int fd = connect_from(NULL, 0), closed;
    int64_t t0 = itest_now_ms();
    long ms, normal_ms;
    CHECK(send(fd, part, strlen(part), 0) == (ssize_t)strlen(part), "send: %s", strerror(errno));
    normal_ms = healthy("while a slow client hangs");
    read_until_close(fd, buf, sizeof buf, 15000, &closed);
    ms = (long)(itest_now_ms() - t0);
    close(fd);
    CHECK(closed, "the slow client was not disconnected within 15 s");
    CHECK(ms >= (TIMEOUT_S * 1000) - 200 && ms <= (TIMEOUT_S * 1000) + 3000,
          "the slow client was disconnected after %ld ms, the time-out is %d s", ms, TIMEOUT_S);
    CHECK(strstr(buf, "200 OK") == NULL, "the unfinished request was answered: %s", buf);
    printf("abuse: slow client (headers never finished) closed after %ld ms (time-out %d s); "
           "normal request meanwhile %ld ms\n",
           ms, TIMEOUT_S, normal_ms);
}

static void idle_connections(void)
{
    static int fds[IDLE_CONNS];
    int open_now = 0, open_later = 0;
    long normal_ms;
    char c;
    struct rlimit rl;

    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit");
    if (rl.rlim_cur < IDLE_CONNS + 256) {
        rl.rlim_cur = rl.rlim_max;
        CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= IDLE_CONNS + 256,
              "RLIMIT_NOFILE %lu is below %d", (unsigned long)rl.rlim_cur, IDLE_CONNS + 256);
    }
    for (int i = 0; i < IDLE_CONNS; i++)
        fds[i] = connect_from("127.0.0.2", 1);
    itest_sleep_ms(500); /* let the server accept (and refuse) them */
    normal_ms = healthy("while 2000 idle connections are open");
    for (int i = 0; i < IDLE_CONNS; i++) {
        ssize_t n = recv(fds[i], &c, 1, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            open_now++;
    }
    printf("abuse: %d idle connections from 127.0.0.2: %d held open by the server "
           "(per-IP limit %d); normal request meanwhile %ld ms\n",
           IDLE_CONNS, open_now, PER_IP, normal_ms);
    CHECK(open_now <= PER_IP, "the server holds %d idle connections of one address, limit %d",
          open_now, PER_IP);
    CHECK(open_now > 0, "no idle connection was accepted at all");
    itest_sleep_ms((TIMEOUT_S + 2) * 1000);
    for (int i = 0; i < IDLE_CONNS; i++) {
        ssize_t n = recv(fds[i], &c, 1, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            open_later++;
        close(fds[i]);
    }
    printf("abuse: %d s later: %d still open\n", TIMEOUT_S + 2, open_later);
    CHECK(open_later == 0, "%d idle connections outlived the %d s time-out", open_later, TIMEOUT_S);
    healthy("after the idle connections");
}

static char *nested(const char *open, size_t depth, const char *close_)
{
    size_t lo = strlen(open), lc = strlen(close_);
    char *s = malloc(depth * (lo + lc) + 1), *p = s;
    CHECK(s != NULL, "malloc");
    for (size_t i = 0; i < depth; i++, p += lo)
        memcpy(p, open, lo);
    for (size_t i = 0; i < depth; i++, p += lc)
        memcpy(p, close_, lc);
    *p = '\0';
    return s;
}

static void nested_json(const itest_tenant *t, const char *other_key)
{
    struct {
        const char *path, *open, *close_;
        size_t depth;
        const char *key;
    } cases[] = {
        {"/v1/transactions", "[", "]", 30000, t->api_key},
        {"/v1/transactions", "{\"a\":", "}", 10000, t->api_key},
        {"/v1/customers", "{\"a\":", "}", 10000, other_key},
        {"/v1/api-keys", "[", "]", 30000, other_key},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = nested(cases[i].open, cases[i].depth, cases[i].close_), ct[128], what[128];
        answer a;
        int64_t t0 = itest_now_ms();
        long status = call("POST", cases[i].path, cases[i].key, body, &a, ct, sizeof ct);
        long ms = (long)(itest_now_ms() - t0);
        snprintf(what, sizeof what, "%zu levels of %s on %s", cases[i].depth, cases[i].open,
                 cases[i].path);
        expect_problem(status, &a, ct, 400, "/problems/invalid-json", what);
        CHECK(ms < 2000, "%s took %ld ms", what, ms);
        printf("abuse: %s (%zu bytes): 400 in %ld ms\n", what, strlen(body), ms);
        free(a.body);
        free(body);
        itest_sleep_ms(250); /* keep within the rate limit (5/s) */
    }
    healthy("after the nested JSON");
}

static void rate_limit(const itest_tenant *t, const char *other_key)
{
    char path[128], ct[128];
    answer a;
    int ok = 0, limited = 0, first_limited = -1, retry = 0;
    int64_t t0;
    long ms, status;

    itest_sleep_ms(3000); /* both buckets full again */
    snprintf(path, sizeof path, "/v1/accounts/%s", t->account[0]);
    t0 = itest_now_ms();
    for (int i = 0; i < 40; i++) {
        status = call("GET", path, t->api_key, NULL, &a, ct, sizeof ct);
        if (status == 200) {
            ok++;
        } else {
            expect_problem(status, &a, ct, 429, "/problems/rate-limited", "over the rate");
            CHECK(a.retry_after[0] != '\0', "429 without Retry-After");
            retry = atoi(a.retry_after);
            CHECK(retry >= 1 && retry <= 2, "Retry-After %s", a.retry_after);
            if (first_limited < 0)
                first_limited = i;
            limited++;
        }
        free(a.body);
    }
    ms = (long)(itest_now_ms() - t0);
    printf("abuse: 40 requests in %ld ms with one API key: %d served, %d refused with 429 "
           "(first at request %d, Retry-After %d)\n",
           ms, ok, limited, first_limited + 1, retry);
    CHECK(first_limited == BURST, "the first 429 came at request %d, the burst is %d",
          first_limited + 1, BURST);
    CHECK(ok <= BURST + 5 * (ms / 1000 + 1), "%d served in %ld ms at 5/s, burst %d", ok, ms, BURST);
    CHECK(limited >= 40 - BURST - 5 * (int)(ms / 1000 + 1), "only %d refused", limited);

    /* Another credential of the same bank is not touched. */
    for (int i = 0; i < 5; i++) {
        status = call("GET", "/v1/customers?limit=1", other_key, NULL, &a, ct, sizeof ct);
        CHECK(status == 200, "the other API key got %ld while the first was limited: %s", status,
              a.body);
        free(a.body);
    }
    /* After the wait the first key is served again. */
    itest_sleep_ms(retry * 1000 + 100);
    status = call("GET", path, t->api_key, NULL, &a, ct, sizeof ct);
    CHECK(status == 200, "after Retry-After the first key got %ld: %s", status, a.body);
    free(a.body);
    healthy("after the rate limit");
}

int main(void)
{
    itest_tenant t;
    char other_key[256];
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    api_port =
        (int)strtol(itest_env("LEDGER_API_PORT"), NULL, 10) + 7; /* +11 is it_pool, +12 Kafka */
    itest_tenant_create(&t, "abuse", NULL, 1, "USD");
    /* A second API key of the same bank, a SUPER_ADMIN's (for the management endpoints). */
    rc = itest_ledgerctl(other_key, sizeof other_key, "apikey", "create", "--tenant", t.slug,
                         "--name", "abuse-admin", "--role", "SUPER_ADMIN", NULL);
    CHECK(rc == 0 && strncmp(other_key, "lk_", 3) == 0, "apikey create: %d %s", rc, other_key);
    start_api();

    huge_bodies(&t);
    slow_client();
    idle_connections();
    nested_json(&t, other_key);
    rate_limit(&t, other_key);

    itest_api_stop();
    printf("it_abuse: OK\n");
    return 0;
}
