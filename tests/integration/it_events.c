/*
 * ledgerctl events tail, the reference audit consumer:
 *   1. after two deposits and a transfer through the API, `events tail --from-beginning
 *      --idle-exit 3 --verify --tenant S` prints exactly the tenant's ledger entries (the ids,
 *      amounts and running balances the database holds) as JSON lines, with decimal strings,
 *      and exits 0; on txn.results it prints one COMPLETED result per transaction; --max N
 *      stops after N lines;
 *   2. on a private topic the test creates, a forged stream whose second entry has a wrong
 *      balanceAfter makes --verify exit 1 naming the account and the offset; a repeated entry
 *      id is named too; and the same genuine entries, even out of order, pass;
 *   3. a value that is no event (as in the DLQ) is printed with the error, the raw bytes and
 *      the headers, and fails --verify.
 */
#include "itest.h"
#include "lg_avro.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs ledgerctl with argv (NULL-terminated, after the program); stdout and stderr are read
 * into malloc'd strings. Returns the exit status. */
static int run_ctl(const char *const *args, char **out, char **err_out)
{
    char out_path[] = "/tmp/it_events_outXXXXXX", err_path[] = "/tmp/it_events_errXXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path), status = 0;
    const char *argv[32];
    int argc = 0;
    pid_t pid;
    CHECK(out_fd >= 0 && err_fd >= 0, "mkstemp");
    argv[argc++] = LEDGERCTL_PATH;
    for (; args[argc - 1] != NULL && argc < 31; argc++)
        argv[argc] = args[argc - 1];
    argv[argc] = NULL;
    pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    for (int k = 0; k < 2; k++) {
        int fd = k == 0 ? out_fd : err_fd;
        off_t size = lseek(fd, 0, SEEK_END);
        char *buf = malloc((size_t)size + 1);
        CHECK(buf != NULL && size >= 0, "reading output");
        CHECK(pread(fd, buf, (size_t)size, 0) == size, "reading output");
        buf[size] = '\0';
        *(k == 0 ? out : err_out) = buf;
        close(fd);
    }
    unlink(out_path);
    unlink(err_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* The JSON lines of text as an array (every line must be a JSON object). */
static json_t *json_lines(const char *text)
{
    json_t *a = json_array();
    const char *p = text;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        json_error_t je;
        json_t *o;
        if (n > 0) {
            o = json_loadb(p, n, 0, &je);
            CHECK(o != NULL && json_is_object(o), "not a JSON line: %.*s", (int)n, p);
            json_array_append_new(a, o);
        }
        p += n + (nl != NULL);
    }
    return a;
}

static const char *event_str(const json_t *line, const char *name)
{
    return itest_json_str(json_object_get(line, "event"), name);
}

static void create_topic(const char *name)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    rd_kafka_NewTopic_t *nt;
    rd_kafka_queue_t *q;
    rd_kafka_event_t *ev;
    const rd_kafka_CreateTopics_result_t *res;
    const rd_kafka_topic_result_t **tr;
    size_t n = 0;
    CHECK(rd_kafka_conf_set(conf, "bootstrap.servers", itest_env("LEDGER_KAFKA_BROKERS"), err,
                            sizeof err) == RD_KAFKA_CONF_OK,
          "conf: %s", err);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    CHECK(rk != NULL, "admin client: %s", err);
    nt = rd_kafka_NewTopic_new(name, 1, 1, err, sizeof err);
    CHECK(nt != NULL, "NewTopic: %s", err);
    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, 30000);
    CHECK(ev != NULL, "no answer to CreateTopics");
    res = rd_kafka_event_CreateTopics_result(ev);
    CHECK(res != NULL, "CreateTopics: %s", rd_kafka_event_error_string(ev));
    tr = rd_kafka_CreateTopics_result_topics(res, &n);
    CHECK(n == 1 && rd_kafka_topic_result_error(tr[0]) == RD_KAFKA_RESP_ERR_NO_ERROR,
          "creating %s: %s", name, n == 1 ? rd_kafka_topic_result_error_string(tr[0]) : "?");
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    /* Creation is asynchronous on the controller: let the metadata catch up. */
    itest_sleep_ms(1000);
}

/* Produces one forged LedgerEntryEvent for account "ACC-FORGED" of tenant tid. */
static void produce_entry(const char *topic, const char *tid, const char *entry_id,
                          lg_entry_type side, int64_t amount, int64_t balance_after)
{
    static const char account_id[] = "7d0b6a8e-3a52-4c1e-9d0e-2f1a4b5c6d7e";
    lg_ledger_event ev = {0};
    char err[256], key[128];
    void *buf = NULL;
    size_t len = 0;
    ev.event_id = (char *)(uintptr_t)entry_id;
    ev.tenant_id = (char *)(uintptr_t)tid;
    ev.entry_id = (char *)(uintptr_t)entry_id;
    ev.transaction_id = (char *)(uintptr_t) "5a4c9f7e-0d1b-4e2a-8c3d-6b7a8e9f0a1b";
    ev.account_id = (char *)(uintptr_t)account_id;
    ev.account_number = (char *)(uintptr_t) "ACC-FORGED";
    ev.entry_type = side;
    ev.amount_minor = amount;
    ev.currency = (char *)(uintptr_t) "USD";
    ev.balance_after_minor = balance_after;
    ev.account_code = (char *)(uintptr_t) "2000";
    ev.created_at_ms = 1764072000000;
    CHECK(lg_avro_encode_ledger(&ev, &buf, &len, err, sizeof err) == 0, "encode: %s", err);
    snprintf(key, sizeof key, "%s:%s", tid, account_id);
    itest_produce(topic, 0, key, buf, len);
    free(buf);
}

/* Produces one message with one header. */
static void produce_with_header(const char *topic, const char *key, const void *value, size_t len,
                                const char *hname, const char *hvalue)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    rd_kafka_resp_err_t e;
    CHECK(rd_kafka_conf_set(conf, "bootstrap.servers", itest_env("LEDGER_KAFKA_BROKERS"), err,
                            sizeof err) == RD_KAFKA_CONF_OK,
          "conf: %s", err);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    CHECK(rk != NULL, "producer: %s", err);
    e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                          RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE((void *)(uintptr_t)value, len),
                          RD_KAFKA_V_HEADER(hname, hvalue, (ssize_t)strlen(hvalue)),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    CHECK(e == RD_KAFKA_RESP_ERR_NO_ERROR, "produce: %s", rd_kafka_err2str(e));
    CHECK(rd_kafka_flush(rk, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR, "flush");
    rd_kafka_destroy(rk);
}

static void private_topic(char *out, size_t size, const char *what)
{
    unsigned r = (unsigned)getpid() ^ (unsigned)itest_now_ms();
    snprintf(out, size, "it-events-%s-%08x", what, r);
    create_topic(out);
}

int main(void)
{
    itest_tenant t;
    char dep0[64], dep1[64], xfer[64], body[256], err[256];
    char *out = NULL, *errout = NULL, *v;
    json_t *lines, *txn;
    PGconn *db;
    int rc, n_entries = 0;

    CHECK(lg_avro_init(err, sizeof err) == 0, "%s", err);
    itest_tenant_create(&t, "it-events", NULL, 2, "USD");
    snprintf(
        body, sizeof body,
        "{\"type\":\"DEPOSIT\",\"amount\":\"100.25\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
        t.account[0]);
    itest_submit(&t, body, dep0);
    snprintf(
        body, sizeof body,
        "{\"type\":\"DEPOSIT\",\"amount\":\"50.00\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
        t.account[1]);
    itest_submit(&t, body, dep1);
    snprintf(body, sizeof body,
             "{\"type\":\"TRANSFER\",\"amount\":\"30.10\",\"currency\":\"USD\","
             "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
             t.account[0], t.account[1]);
    itest_submit(&t, body, xfer);
    json_decref(itest_expect_status(&t, dep0, "COMPLETED"));
    json_decref(itest_expect_status(&t, dep1, "COMPLETED"));
    txn = itest_expect_status(&t, xfer, "COMPLETED");
    json_decref(txn);

    /* 1. The tenant's ledger entries, verified. */
    {
        const char *args[] = {"events",      "tail", "--from-beginning",
                              "--idle-exit", "3",    "--verify",
                              "--tenant",    t.slug, NULL};
        char got_ids[2048] = "";
        int transfer_seen = 0;
        rc = run_ctl(args, &out, &errout);
        CHECK(rc == 0, "events tail --verify exited %d: %s", rc, errout);
        lines = json_lines(out);
        n_entries = (int)json_array_size(lines);
        CHECK(n_entries == 6, "%d ledger entries printed, expected 6:\n%s", n_entries, out);
        for (size_t i = 0; i < json_array_size(lines); i++) {
            json_t *l = json_array_get(lines, i);
            const char *tx = event_str(l, "transactionId");
            CHECK(strcmp(itest_json_str(l, "topic"), "ledger.entries") == 0, "topic");
            CHECK(json_is_integer(json_object_get(l, "partition")) &&
                      json_is_integer(json_object_get(l, "offset")),
                  "no Kafka coordinates: %s", out);
            CHECK(strcmp(itest_json_str(l, "schema"), "LedgerEntryEvent") == 0, "schema");
            CHECK(strcmp(event_str(l, "tenantId"), t.id) == 0, "another tenant's event");
            CHECK(strcmp(tx, dep0) == 0 || strcmp(tx, dep1) == 0 || strcmp(tx, xfer) == 0,
                  "an entry of transaction %s", tx);
            /* Money as decimal strings, never numbers. */
            CHECK(json_is_string(json_object_get(json_object_get(l, "event"), "amount")) &&
                      json_is_string(json_object_get(json_object_get(l, "event"), "balanceAfter")),
                  "amounts are not strings");
            if (strcmp(tx, xfer) == 0) {
                const char *acct = event_str(l, "accountNumber");
                if (strcmp(acct, t.account[0]) == 0) {
                    CHECK(strcmp(event_str(l, "entryType"), "DEBIT") == 0 &&
                              strcmp(event_str(l, "amount"), "30.10") == 0 &&
                              strcmp(event_str(l, "balanceAfter"), "70.15") == 0,
                          "transfer debit: %s", out);
                    transfer_seen |= 1;
                } else if (strcmp(acct, t.account[1]) == 0) {
                    CHECK(strcmp(event_str(l, "entryType"), "CREDIT") == 0 &&
                              strcmp(event_str(l, "balanceAfter"), "80.10") == 0,
                          "transfer credit: %s", out);
                    transfer_seen |= 2;
                }
            }
        }
        CHECK(transfer_seen == 3, "the transfer's two entries are missing: %s", out);
        /* The printed entry ids are the database's, in the same order of ids. */
        db = itest_tenant_db(&t, NULL);
        {
            const char *ids[6];
            for (size_t i = 0; i < 6; i++)
                ids[i] = event_str(json_array_get(lines, i), "entryId");
            for (size_t i = 0; i < 6; i++)
                for (size_t j = i + 1; j < 6; j++)
                    if (strcmp(ids[j], ids[i]) < 0) {
                        const char *x = ids[i];
                        ids[i] = ids[j];
                        ids[j] = x;
                    }
            for (size_t i = 0; i < 6; i++) {
                strncat(got_ids, ids[i], sizeof got_ids - strlen(got_ids) - 1);
                if (i < 5)
                    strncat(got_ids, ",", sizeof got_ids - strlen(got_ids) - 1);
            }
        }
        {
            char tx_list[256];
            snprintf(tx_list, sizeof tx_list, "%s,%s,%s", dep0, dep1, xfer);
            v = itest_sql_value(db,
                                "SELECT string_agg(id::text, ',' ORDER BY id::text) FROM"
                                " ledger_entries WHERE transaction_id::text ="
                                " ANY(string_to_array($1, ','))",
                                tx_list);
        }
        CHECK(strcmp(v, got_ids) == 0, "entry ids printed %s, in the database %s", got_ids, v);
        free(v);
        PQfinish(db);
        CHECK(strstr(errout, "0 breaks") != NULL, "verify summary: %s", errout);
        json_decref(lines);
        free(out);
        free(errout);
    }

    /* txn.results: one COMPLETED result per transaction. */
    {
        const char *args[] = {"events",           "tail",        "--topic", "txn.results",
                              "--from-beginning", "--idle-exit", "3",       "--verify",
                              "--tenant",         t.slug,        NULL};
        rc = run_ctl(args, &out, &errout);
        CHECK(rc == 0, "events tail txn.results exited %d: %s", rc, errout);
        lines = json_lines(out);
        CHECK(json_array_size(lines) == 3, "%zu results:\n%s", json_array_size(lines), out);
        for (size_t i = 0; i < 3; i++) {
            json_t *l = json_array_get(lines, i);
            CHECK(strcmp(itest_json_str(l, "schema"), "TransactionResult") == 0, "schema");
            CHECK(strcmp(event_str(l, "status"), "COMPLETED") == 0, "status: %s", out);
            CHECK(strncmp(event_str(l, "transactionRef"), "TXN-", 4) == 0, "ref: %s", out);
        }
        json_decref(lines);
        free(out);
        free(errout);
    }

    /* --max 2 stops after two lines. */
    {
        const char *args[] = {"events",      "tail", "--from-beginning", "--max", "2",
                              "--idle-exit", "10",   "--tenant",         t.slug,  NULL};
        rc = run_ctl(args, &out, &errout);
        CHECK(rc == 0, "--max exited %d: %s", rc, errout);
        lines = json_lines(out);
        CHECK(json_array_size(lines) == 2, "--max 2 printed %zu lines", json_array_size(lines));
        json_decref(lines);
        free(out);
        free(errout);
    }

    /* 2. A forged stream: the second entry claims 150.00 after 100.00 + 20.00. */
    {
        char topic[96];
        const char *args[] = {"events",      "tail", "--topic",  topic, "--from-beginning",
                              "--idle-exit", "3",    "--verify", NULL};
        private_topic(topic, sizeof topic, "forged");
        produce_entry(topic, t.id, "0f6e2d1c-0000-4000-8000-000000000001", LG_ENTRY_CREDIT, 10000,
                      10000);
        produce_entry(topic, t.id, "0f6e2d1c-0000-4000-8000-000000000002", LG_ENTRY_CREDIT, 2000,
                      15000);
        rc = run_ctl(args, &out, &errout);
        CHECK(rc == 1, "a forged balanceAfter passed --verify (exit %d): %s", rc, errout);
        CHECK(strstr(errout, "account ACC-FORGED") != NULL && strstr(errout, "offset 1") != NULL &&
                  strstr(errout, "150.00") != NULL && strstr(errout, "expected 120.00") != NULL,
              "the break does not name the account and offset: %s", errout);
        lines = json_lines(out);
        CHECK(json_array_size(lines) == 2, "forged stream: %zu lines", json_array_size(lines));
        json_decref(lines);
        free(out);
        free(errout);
    }

    /* A repeated entry id is named. */
    {
        char topic[96];
        const char *args[] = {"events",      "tail", "--topic",  topic, "--from-beginning",
                              "--idle-exit", "3",    "--verify", NULL};
        private_topic(topic, sizeof topic, "repeat");
        produce_entry(topic, t.id, "0f6e2d1c-0000-4000-8000-000000000003", LG_ENTRY_CREDIT, 10000,
                      10000);
        produce_entry(topic, t.id, "0f6e2d1c-0000-4000-8000-000000000003", LG_ENTRY_CREDIT, 10000,
                      20000);
        rc = run_ctl(args, &out, &errout);
        CHECK(rc == 1, "a repeated event passed --verify (exit %d): %s", rc, errout);
        CHECK(strstr(errout, "event 0f6e2d1c-0000-4000-8000-000000000003 repeats") != NULL &&
                  strstr(errout, "offset 1") != NULL,
              "the repeat is not named: %s", errout);
        free(out);
        free(errout);
    }

    /* Genuine entries committed out of order (two workers' transactions) still verify; a
     * debit on a deposit account lowers it. */
    {
        char topic[96];
        const char *args[] = {"events",      "tail", "--topic",  topic, "--from-beginning",
                              "--idle-exit", "3",    "--verify", NULL};
        private_topic(topic, sizeof topic, "reordered");
        produce_entry(topic, t.id, "0f6e2d1c-0000-4000-8000-000000000005", LG_ENTRY_CREDIT, 2000,
                      12000);
        produce_entry(topic, t.id, "0f6e2d1c-0000-4000-8000-000000000004", LG_ENTRY_CREDIT, 10000,
                      10000);
        produce_entry(topic, t.id, "0f6e2d1c-0000-4000-8000-000000000006", LG_ENTRY_DEBIT, 2050,
                      9950);
        rc = run_ctl(args, &out, &errout);
        CHECK(rc == 0, "a consistent reordered stream failed --verify (exit %d): %s", rc, errout);
        free(out);
        free(errout);
    }

    /* A value that is no event (as in the DLQ) is printed with the error, its raw bytes in
     * base64 and its headers; --verify counts it as a break. */
    {
        char topic[96];
        static const unsigned char junk[] = {0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0xFF};
        const char *args[] = {"events",           "tail",        "--topic", topic,
                              "--from-beginning", "--idle-exit", "3",       NULL};
        const char *vargs[] = {"events",      "tail", "--topic",  topic, "--from-beginning",
                               "--idle-exit", "3",    "--verify", NULL};
        json_t *l;
        private_topic(topic, sizeof topic, "junk");
        produce_with_header(topic, "k1", junk, sizeof junk, "dlq-reason", "undecodable");
        rc = run_ctl(args, &out, &errout);
        CHECK(rc == 0, "tail of a junk value exited %d: %s", rc, errout);
        lines = json_lines(out);
        CHECK(json_array_size(lines) == 1, "junk: %s", out);
        l = json_array_get(lines, 0);
        CHECK(strstr(itest_json_str(l, "error"), "fingerprint") != NULL, "error: %s", out);
        CHECK(strcmp(itest_json_str(l, "valueBase64"), "wwEBAgMEBQYHCP8=") == 0, "raw value: %s",
              out);
        CHECK(strcmp(itest_json_str(json_object_get(l, "headers"), "dlq-reason"), "undecodable") ==
                  0,
              "headers: %s", out);
        json_decref(lines);
        free(out);
        free(errout);
        rc = run_ctl(vargs, &out, &errout);
        CHECK(rc == 1 && strstr(errout, "undecodable event") != NULL,
              "--verify accepted a junk value (exit %d): %s", rc, errout);
        free(out);
        free(errout);
    }

    lg_avro_shutdown();
    printf("1 passed, 0 failed\n");
    return 0;
}
