/*
 * Master key rotation without downtime. Two tenants (one per PostgreSQL server) take a deposit
 * each; `ledgerctl keys rotate` appends a key and re-seals every tenant's database password under
 * it; every tenant backend is then terminated, so the running API and worker must open new
 * connections with the re-sealed passwords - without a restart, deposits to both tenants complete
 * and reads answer, and both processes log that they reloaded the key file.
 *
 * Then the ciphertext (db_password and its key id) of tenant A is copied onto tenant B's row: it
 * is sealed for A, so it does not open for B. B becomes unroutable - its reads answer 503, a
 * deposit to it waits unapplied, both processes log "tenant <B> is unroutable" - while A carries
 * on and the API stays up. Restoring B's row repairs it: reads answer and the waiting deposit
 * completes.
 */
#include "itest.h"
#include "itest_system.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed;

#define OK(cond, ...)                                                                              \
    do {                                                                                           \
        CHECK(cond, __VA_ARGS__);                                                                  \
        passed++;                                                                                  \
    } while (0)

/* Ends every connection to the tenant's database on its server, as a restart would. */
static void terminate_backends(const itest_tenant *t, const char *admin_dsn_env)
{
    char db[80];
    PGconn *c = itest_tenant_db(t, admin_dsn_env);
    itest_tenant_db_name(t, db);
    itest_sql_exec(c,
                   "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                   " WHERE datname = $1 AND pid <> pg_backend_pid()",
                   db);
    PQfinish(c);
}

static void deposit(const itest_tenant *t, const char *amount, char id[64])
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"type\":\"DEPOSIT\",\"amount\":\"%s\",\"currency\":\"USD\",\"toAccount\":\"%s\"}",
             amount, t->account[0]);
    itest_submit(t, body, id);
}

/* GET the balance of t's account; returns the status (and the balance into out). */
static long balance(const itest_tenant *t, char *out, size_t out_size)
{
    char path[128];
    json_t *o = NULL;
    long status;
    snprintf(path, sizeof path, "/v1/accounts/%s/balance", t->account[0]);
    status = itest_sys_call(t->api_key, "GET", path, NULL, &o, NULL);
    snprintf(out, out_size, "%s",
             status == 200 ? itest_json_str(o, "balance") : itest_json_str(o, "type"));
    json_decref(o);
    return status;
}

/* Reads t's balance until it answers 200 (at most 10 tries). Returns 1 when it did. */
static int read_until_ok(const itest_tenant *t, char *out, size_t out_size)
{
    for (int i = 0; i < 10; i++) {
        if (balance(t, out, out_size) == 200)
            return 1;
        usleep(200000);
    }
    return 0;
}

/* The last key id of the key file: the active key. */
static void active_key_id(char out[64])
{
    FILE *f = fopen(itest_env("LEDGER_MASTER_KEY_FILE"), "r");
    char line[256];
    CHECK(f != NULL, "cannot read the key file");
    out[0] = '\0';
    while (fgets(line, sizeof line, f) != NULL)
        if (line[0] != '#' && sscanf(line, "%63s", out) != 1)
            out[0] = '\0';
    fclose(f);
}

int main(void)
{
    itest_tenant a, b;
    PGconn *master, *db_b;
    char id[64], before_key[64], after_key[64], text[64], needle[160];
    char *b_password, *b_key, *v;
    long status;
    int api_reloads, worker_reloads;

    itest_tenant_create(&a, "it-keys-a", NULL, 1, "USD");
    itest_tenant_create(&b, "it-keys-b", "LEDGER_ADMIN_DSN_2", 1, "USD");
    master = itest_master_db();

    /* The pools of the API and the worker hold connections opened with the old seal. */
    deposit(&a, "10.00", id);
    json_decref(itest_expect_status(&a, id, "COMPLETED"));
    deposit(&b, "20.00", id);
    json_decref(itest_expect_status(&b, id, "COMPLETED"));
    active_key_id(before_key);
    api_reloads = itest_log_count("api", "reloaded the key file");
    worker_reloads = itest_log_count("worker", "reloaded the key file");

    /* ---- rotate, then force new connections */
    OK(itest_ledgerctl(NULL, 0, "keys", "rotate", NULL) == 0, "ledgerctl keys rotate failed");
    active_key_id(after_key);
    OK(strcmp(before_key, after_key) != 0 && after_key[0] != '\0', "no new active key");
    v = itest_sql_value(master, "SELECT count(*)::text FROM tenants WHERE db_password_key_id <> $1",
                        after_key);
    OK(strcmp(v, "0") == 0, "%s tenant(s) are not re-sealed under the new key", v);
    free(v);
    terminate_backends(&a, NULL);
    terminate_backends(&b, "LEDGER_ADMIN_DSN_2");

    /* A read may meet a pooled connection the termination broke (503, and it is dropped); then
     * new connections open with the re-sealed passwords. */
    OK(read_until_ok(&a, text, sizeof text) && strcmp(text, "10.00") == 0,
       "tenant A after the rotation: %s", text);
    OK(read_until_ok(&b, text, sizeof text) && strcmp(text, "20.00") == 0,
       "tenant B after the rotation: %s", text);
    deposit(&a, "1.50", id);
    json_decref(itest_expect_status(&a, id, "COMPLETED"));
    passed++;
    deposit(&b, "2.50", id);
    json_decref(itest_expect_status(&b, id, "COMPLETED"));
    passed++;
    OK(balance(&a, text, sizeof text) == 200 && strcmp(text, "11.50") == 0,
       "tenant A after a deposit: %s", text);
    OK(balance(&b, text, sizeof text) == 200 && strcmp(text, "22.50") == 0,
       "tenant B after a deposit: %s", text);
    OK(itest_log_count("api", "reloaded the key file") > api_reloads,
       "the API did not log a key file reload");
    OK(itest_log_count("worker", "reloaded the key file") > worker_reloads,
       "the worker did not log a key file reload");

    /* ---- A's ciphertext on B's row does not open for B */
    b_password =
        itest_sql_value(master, "SELECT db_password FROM tenants WHERE id = $1::uuid", b.id);
    b_key =
        itest_sql_value(master, "SELECT db_password_key_id FROM tenants WHERE id = $1::uuid", b.id);
    {
        PGresult *res = PQexecParams(master,
                                     "UPDATE tenants SET (db_password, db_password_key_id) ="
                                     " (SELECT db_password, db_password_key_id FROM tenants"
                                     " WHERE id = $1::uuid) WHERE id = $2::uuid",
                                     2, NULL, (const char *[]){a.id, b.id}, NULL, NULL, 0);
        CHECK(PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdTuples(res), "1") == 0,
              "copying the ciphertext: %s", PQerrorMessage(master));
        PQclear(res);
    }
    terminate_backends(&b, "LEDGER_ADMIN_DSN_2");
    snprintf(needle, sizeof needle, "tenant %s is unroutable", b.slug);
    /* Pooled connections that the termination broke answer 503 and are dropped; then a new
     * one is tried, and the password does not open. */
    for (int i = 0; i < 10; i++) {
        status = balance(&b, text, sizeof text);
        OK(status == 503 && strcmp(text, "/problems/unavailable") == 0,
           "tenant B with A's ciphertext answered %ld %s", status, text);
        if (itest_log_count("api", needle) > 0)
            break;
    }
    OK(itest_log_count("api", needle) > 0, "the API did not log \"%s\"", needle);
    status = balance(&b, text, sizeof text);
    OK(status == 503, "tenant B with A's ciphertext answered %ld", status);
    OK(itest_http("GET", "/healthz", NULL, NULL, NULL, NULL, 0) == 200, "the API is down");
    OK(balance(&a, text, sizeof text) == 200 && strcmp(text, "11.50") == 0,
       "tenant A suffers from B's row: %s", text);
    /* A deposit to B is accepted (Kafka holds it) and waits: the worker cannot open B. */
    deposit(&b, "3.00", id);
    sleep(3);
    db_b = itest_tenant_db(&b, "LEDGER_ADMIN_DSN_2"); /* after the terminations */
    v = itest_sql_value(db_b, "SELECT count(*)::text FROM transactions WHERE id = $1::uuid", id);
    OK(strcmp(v, "0") == 0, "a deposit was applied to B with a password that does not open");
    free(v);
    OK(itest_log_count("worker", needle) > 0, "the worker did not log \"%s\"", needle);

    /* ---- restoring the row repairs B */
    {
        PGresult *res =
            PQexecParams(master,
                         "UPDATE tenants SET db_password = $2, db_password_key_id = $3"
                         " WHERE id = $1::uuid",
                         3, NULL, (const char *[]){b.id, b_password, b_key}, NULL, NULL, 0);
        CHECK(PQresultStatus(res) == PGRES_COMMAND_OK, "restoring: %s", PQerrorMessage(master));
        PQclear(res);
    }
    OK(read_until_ok(&b, text, sizeof text), "tenant B after the repair: %s", text);
    json_decref(itest_expect_status(&b, id, "COMPLETED"));
    passed++;
    OK(balance(&b, text, sizeof text) == 200 && strcmp(text, "25.50") == 0,
       "tenant B after the repair: %s", text);
    OK(itest_ledgerctl(NULL, 0, "verify", "--tenant", b.slug, NULL) == 0,
       "ledgerctl verify tenant B");

    free(b_password);
    free(b_key);
    PQfinish(db_b);
    PQfinish(master);
    printf("%d passed, 0 failed\n", passed);
    return 0;
}
