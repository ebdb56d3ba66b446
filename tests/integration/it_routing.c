/*
 * Messages the worker cannot decode or route go to txn.commands.dlq with headers saying why,
 * and the partition keeps moving; commands of a SUSPENDED tenant fail with that reason; commands
 * of an INACTIVE tenant get a FAILED result. The commands are produced straight to Kafka, as a
 * misbehaving upstream or a stale producer would.
 */
#include "itest.h"
#include "lg_avro.h"
#include "lg_crypto.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PARTITION 5

typedef struct {
    const char *marker; /* the garbage payload to find */
    const char *ghost_txn;
    int garbage_found;
    int ghost_found;
    char garbage_reason[256];
    char ghost_reason[256];
} dlq_seen;

static void header(const rd_kafka_message_t *m, const char *name, char *out, size_t size)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t n = 0;
    out[0] = '\0';
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(h, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR)
        snprintf(out, size, "%.*s", (int)n, (const char *)v);
}

static void on_dlq(const void *msg, void *arg)
{
    const rd_kafka_message_t *m = msg;
    dlq_seen *s = arg;
    if (m->len == strlen(s->marker) && memcmp(m->payload, s->marker, m->len) == 0) {
        s->garbage_found++;
        header(m, "dlq-reason", s->garbage_reason, sizeof s->garbage_reason);
    } else {
        lg_txn_command c;
        char err[128];
        if (lg_avro_decode_command(m->payload, m->len, &c, err, sizeof err) == 0) {
            if (strcmp(c.transaction_id, s->ghost_txn) == 0) {
                s->ghost_found++;
                header(m, "dlq-reason", s->ghost_reason, sizeof s->ghost_reason);
            }
            lg_avro_free_command(&c);
        }
    }
}

typedef struct {
    const char *txn_id;
    int found;
    char code[64];
} result_seen;

static void on_result(const void *key, size_t key_len, const void *value, size_t len, void *arg)
{
    result_seen *r = arg;
    lg_txn_result res;
    char err[128];
    (void)key;
    (void)key_len;
    if (lg_avro_decode_result(value, len, &res, err, sizeof err) != 0)
        return;
    if (strcmp(res.transaction_id, r->txn_id) == 0) {
        r->found++;
        snprintf(r->code, sizeof r->code, "%s",
                 res.status == LG_RESULT_FAILED && res.failure_code ? res.failure_code : "");
    }
    lg_avro_free_result(&res);
}

int main(void)
{
    itest_tenant t, sus, gone;
    itest_tenant ghost;
    char marker[96], key[128], txn_ok[64], txn_ghost[64], txn_sus[64], txn_gone[64], err[128];
    void *value;
    size_t len;
    json_t *o;
    dlq_seen seen = {0};
    int rc;

    CHECK(lg_avro_init(err, sizeof err) == 0, "%s", err);
    itest_tenant_create(&t, "it-routing", NULL, 1, "USD");

    /* Garbage, then a command of a tenant that does not exist, then a good deposit, all on one
     * partition: the good one must still be applied. */
    snprintf(marker, sizeof marker, "not an avro message %s", t.slug);
    snprintf(key, sizeof key, "%s:garbage", t.id);
    itest_produce("txn.commands", PARTITION, key, marker, strlen(marker));
    ghost = t;
    lg_uuid_random(ghost.id); /* no such tenant */
    itest_command(&ghost, LG_TXN_DEPOSIT, "100", NULL, t.account[0], txn_ghost, &value, &len);
    itest_produce("txn.commands", PARTITION, "ghost", value, len);
    free(value);
    itest_command(&t, LG_TXN_DEPOSIT, "4200", NULL, t.account[0], txn_ok, &value, &len);
    itest_produce("txn.commands", PARTITION, key, value, len);
    free(value);

    /* A command produced past the API carries an id the API did not issue: it reads 404 until
     * the worker records it, so wait for the row first. */
    {
        PGconn *db = itest_tenant_db(&t, NULL);
        int64_t deadline = itest_now_ms() + 15000;
        char *v = NULL;
        do {
            free(v);
            usleep(50000);
            v = itest_sql_value(db, "SELECT count(*)::text FROM transactions WHERE id = $1::uuid",
                                txn_ok);
        } while (strcmp(v, "1") != 0 && itest_now_ms() < deadline);
        CHECK(strcmp(v, "1") == 0, "the command after the bad ones was not recorded");
        free(v);
        PQfinish(db);
    }
    o = itest_wait_txn(&t, txn_ok, 15000);
    CHECK(strcmp(json_string_value(json_object_get(o, "status")), "COMPLETED") == 0,
          "the command after the bad ones is %s", json_string_value(json_object_get(o, "status")));
    json_decref(o);

    seen.marker = marker;
    seen.ghost_txn = txn_ghost;
    itest_consume_messages("txn.commands.dlq", "", 2000, on_dlq, &seen);
    CHECK(seen.garbage_found == 1, "the undecodable message is in the DLQ %d times",
          seen.garbage_found);
    CHECK(strstr(seen.garbage_reason, "undecodable") != NULL, "reason: %s", seen.garbage_reason);
    CHECK(seen.ghost_found == 1, "the unroutable command is in the DLQ %d times",
          seen.ghost_found);
    CHECK(strstr(seen.ghost_reason, "unknown tenant") != NULL, "reason: %s", seen.ghost_reason);

    /* A suspended tenant: its queued commands are recorded FAILED with TENANT_SUSPENDED. */
    itest_tenant_create(&sus, "it-suspended", NULL, 1, "USD");
    rc = itest_ledgerctl(NULL, 0, "tenant", "suspend", "--slug", sus.slug, "--reason", "test",
                         NULL);
    CHECK(rc == 0, "suspend exited %d", rc);
    sleep(6); /* the routing cache keeps a tenant row for 5 s */
    itest_command(&sus, LG_TXN_DEPOSIT, "500", NULL, sus.account[0], txn_sus, &value, &len);
    snprintf(key, sizeof key, "%s:%s", sus.id, sus.account[0]);
    itest_produce("txn.commands", PARTITION, key, value, len);
    free(value);
    {
        PGconn *db = itest_tenant_db(&sus, NULL);
        int64_t deadline = itest_now_ms() + 15000;
        char *v = NULL;
        do {
            free(v);
            usleep(100000);
            v = itest_sql_value(db,
                                "SELECT coalesce(max(status || ' ' || failure_code), '')"
                                " FROM transactions WHERE id = $1::uuid",
                                txn_sus);
        } while (v[0] == '\0' && itest_now_ms() < deadline);
        CHECK(strcmp(v, "FAILED TENANT_SUSPENDED") == 0, "suspended tenant's command: '%s'", v);
        free(v);
        v = itest_sql_value(db, "SELECT balance::text FROM accounts WHERE account_number = $1",
                            sus.account[0]);
        CHECK(strcmp(v, "0.00") == 0, "a suspended tenant's balance moved to %s", v);
        free(v);
        PQfinish(db);
    }

    /* An inactive tenant: a FAILED result with TENANT_INACTIVE, nothing written. */
    itest_tenant_create(&gone, "it-inactive", NULL, 1, "USD");
    rc = itest_ledgerctl(NULL, 0, "tenant", "deactivate", "--slug", gone.slug, NULL);
    CHECK(rc == 0, "deactivate exited %d", rc);
    sleep(6);
    itest_command(&gone, LG_TXN_DEPOSIT, "500", NULL, gone.account[0], txn_gone, &value, &len);
    snprintf(key, sizeof key, "%s:%s", gone.id, gone.account[0]);
    itest_produce("txn.commands", PARTITION, key, value, len);
    free(value);
    {
        result_seen r = {txn_gone, 0, ""};
        char prefix[80];
        int64_t deadline = itest_now_ms() + 15000;
        snprintf(prefix, sizeof prefix, "%s:", gone.id);
        while (r.found == 0 && itest_now_ms() < deadline)
            itest_consume("txn.results", prefix, 1500, on_result, &r);
        CHECK(r.found == 1, "%d results for the inactive tenant's command", r.found);
        CHECK(strcmp(r.code, "TENANT_INACTIVE") == 0, "failure code '%s'", r.code);
    }
    lg_avro_shutdown();
    printf("4 passed, 0 failed\n");
    return 0;
}
