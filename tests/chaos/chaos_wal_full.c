/*
 * Scenario: the disk under a PostgreSQL server's WAL fills up. scripts/chaos.sh walfull-up
 * starts a third server, walfull, whose pg_wal lives on a 96 MiB loop-mounted ext4 filesystem
 * (1 MiB segments). Two tenants: one on main, one on walfull; two workers; transfers flow through
 * the stack's API. Then the filesystem is filled to its last block while the transfers flow, and
 * the test makes the server switch WAL segments until it needs a new one: PostgreSQL cannot
 * write its WAL (it PANICs and restarts, or stops). It stays full for 8 s; meanwhile a transfer
 * of the main tenant is posted (it must be accepted: Kafka is unaffected). Then the filler is
 * removed, the server started again if it stopped, and a transfer of the walfull tenant must
 * complete. Afterwards every accepted command has exactly one outcome, every event appears
 * once, ledgerctl verify finds no partial transaction, and money is conserved. The walfull
 * tenant is then deactivated (its server goes with the test).
 *
 * Needs root (mount); skipped (77) otherwise. The server is stopped, the filesystem unmounted
 * and the loop device detached at exit whatever happens (and by scripts/test.sh).
 */
#include "chaos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FULL_MS     8000
#define MAIN_PROBES 12
#define WALFULL_DIR LEDGER_TEST_VAR "/pg-walfull"

static const char *const worker_env[] = {"LEDGER_RDKAFKA_SESSION_TIMEOUT_MS=6000", NULL};

static void teardown(void)
{
    chaos_sh("walfull-down", NULL);
}

/* A whole file, malloc'd ("" when it cannot be read). */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len = 0, n;
    char chunk[4096];
    if (f == NULL)
        return strdup("");
    for (;;) {
        char *grown;
        n = fread(chunk, 1, sizeof chunk, f);
        if (n == 0)
            break;
        grown = realloc(text, len + n + 1);
        CHECK(grown != NULL, "out of memory");
        text = grown;
        memcpy(text + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (text == NULL)
        return strdup("");
    text[len] = '\0';
    return text;
}

/* Lines of the walfull server's log containing text. */
static int pg_log_count(const char *text)
{
    char *log = read_text(WALFULL_DIR "/postgres.log");
    int n = 0;
    for (const char *p = strstr(log, text); p != NULL; p = strstr(p + 1, text))
        n++;
    free(log);
    return n;
}

/* Prints the walfull server's log lines that tell what it did about the full disk. */
static void pg_log_print(void)
{
    static const char *const words[] = {"PANIC",
                                        "No space left",
                                        "terminated by signal",
                                        "all server processes terminated",
                                        "database system is ready",
                                        "aborting startup",
                                        "shut down",
                                        NULL};
    char *log = read_text(WALFULL_DIR "/postgres.log");
    int printed = 0;
    for (char *p = log, *nl; *p != '\0' && printed < 40; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl == NULL)
            nl = p + strlen(p) - 1;
        else
            *nl = '\0';
        for (int w = 0; words[w] != NULL; w++)
            if (strstr(p, words[w]) != NULL) {
                printf("wal_full: postgres.log: %s\n", p);
                printed++;
                break;
            }
        if (nl[1] == '\0')
            break;
    }
    free(log);
}

int main(void)
{
    chaos_run c;
    const chaos_config cfg = {
        .name = "wal_full",
        .n_tenants = 2,
        .n_accounts = 6,
        .commands_per_tenant = 200,
        .flow_ms = 20000,
        .threads_per_tenant = 2,
        .retry_ms = 120000,
        .retry_unanswered = 1,
        .resend_every = 25,
        .n_workers = 2,
        .worker_env = worker_env,
    };
    char *dsn, out[256], main_probe[MAIN_PROBES][64], key[128], body[512];
    PGconn *admin = NULL;
    int64_t t0, freed, recover, full_ms = -1, next_probe = 0, main_slowest = 0;
    int64_t main_posted[MAIN_PROBES], main_done[MAIN_PROBES];
    int n_main = 0, main_completed = 0;
    long status;
    json_t *o;
    int enospc0;

    if (chaos_sh("walfull-check", NULL) != 0) {
        printf("wal_full: skipped (needs root, losetup, mkfs.ext4, fallocate)\n");
        return 77;
    }
    atexit(teardown); /* registered first: runs after the workers are stopped */
    CHECK(chaos_sh("walfull-up", NULL) == 0, "scripts/chaos.sh walfull-up failed");
    dsn = read_text(WALFULL_DIR "/admin.dsn");
    dsn[strcspn(dsn, "\n")] = '\0';
    CHECK(dsn[0] != '\0', "no admin.dsn for the walfull server");
    /* The scenario's "second server" is walfull: chaos_setup places tenant 1 there. */
    CHECK(setenv("LEDGER_ADMIN_DSN_2", dsn, 1) == 0, "setenv");
    chaos_setup(&c, &cfg);
    chaos_flow_start(&c);
    itest_sleep_ms(3000);

    enospc0 = pg_log_count("No space left on device");
    t0 = itest_now_ms();
    CHECK(chaos_sh("walfull-fill", NULL) == 0, "scripts/chaos.sh walfull-fill failed");
    c.faults++;
    /* New WAL segments until one cannot be made (the flows write WAL between the switches). */
    while (pg_log_count("No space left on device") == enospc0) {
        CHECK(itest_now_ms() - t0 < 60000, "PostgreSQL still writes its WAL 60 s after the "
                                           "disk filled");
        if (admin == NULL || PQstatus(admin) != CONNECTION_OK) {
            PQfinish(admin);
            admin = PQconnectdb(dsn);
        }
        if (PQstatus(admin) == CONNECTION_OK)
            PQclear(PQexec(admin, "SELECT pg_switch_wal()"));
        itest_sleep_ms(200);
    }
    PQfinish(admin);
    full_ms = itest_now_ms() - t0;
    printf("wal_full: WAL disk filled %lld ms into the flow; PostgreSQL hit ENOSPC %lld ms "
           "later\n",
           (long long)(t0 - c.flow[0].started_ms), (long long)full_ms);

    /* While it is full: commands of the main tenant are accepted (Kafka and main are fine);
     * whether they complete before the disk has room again is reported (a worker retrying a
     * command of the walfull tenant holds the other commands of its batch). */
    while (itest_now_ms() - t0 < full_ms + FULL_MS) {
        if (n_main < MAIN_PROBES && itest_now_ms() >= next_probe) {
            /* From each account in turn: their keys spread over the partitions (workers). */
            snprintf(body, sizeof body,
                     "{\"type\":\"TRANSFER\",\"amount\":\"0.01\",\"currency\":\"USD\","
                     "\"fromAccount\":\"%s\",\"toAccount\":\"%s\",\"description\":\"probe\"}",
                     c.tenant[0].account[n_main % cfg.n_accounts],
                     c.tenant[0].account[(n_main + 1) % cfg.n_accounts]);
            snprintf(key, sizeof key, "%s-probe-full-%d", c.tenant[0].slug, n_main);
            main_posted[n_main] = itest_now_ms();
            status = itest_post_txn_try(&c.tenant[0], body, key, main_probe[n_main],
                                        sizeof main_probe[0], 1);
            CHECK(status == 202,
                  "a transfer of the main tenant answered %ld while the WAL disk "
                  "of the other server is full",
                  status);
            itest_idset_add(&c.probes[0], main_probe[n_main], 0);
            main_done[n_main++] = -1;
            next_probe = itest_now_ms() + 700;
        }
        for (int i = 0; i < n_main; i++) {
            if (main_done[i] >= 0)
                continue;
            o = itest_wait_txn(&c.tenant[0], main_probe[i], 1);
            if (strcmp(itest_json_str(o, "status"), "PENDING") != 0)
                main_done[i] = itest_now_ms() - main_posted[i];
            json_decref(o);
        }
        itest_sleep_ms(100);
    }
    for (int i = 0; i < n_main; i++)
        if (main_done[i] >= 0) {
            main_completed++;
            if (main_done[i] > main_slowest)
                main_slowest = main_done[i];
        }
    printf("wal_full: main tenant: %d of %d transfers posted while the disk was full completed "
           "before it had room again (slowest %lld ms)\n",
           main_completed, n_main, (long long)main_slowest);
    freed = itest_now_ms();
    CHECK(chaos_sh("walfull-free", NULL) == 0, "scripts/chaos.sh walfull-free failed");
    CHECK(chaos_sh("walfull-start", NULL) == 0, "scripts/chaos.sh walfull-start failed");
    PQreset(c.db[1]); /* the crash ended it */
    CHECK(PQstatus(c.db[1]) == CONNECTION_OK, "reconnecting to the walfull server: %s",
          PQerrorMessage(c.db[1]));
    printf("wal_full: disk full for %lld ms, server running again %lld ms after the filler "
           "went\n",
           (long long)(freed - t0), (long long)(itest_now_ms() - freed));
    recover = chaos_recovered(&c, 1, freed, 120000);
    printf("wal_full: first transfer of the walfull tenant through %lld ms after the filler "
           "went\n",
           (long long)recover);
    pg_log_print();

    chaos_finish(&c);
    CHECK(itest_ledgerctl(out, sizeof out, "tenant", "deactivate", "--slug", c.tenant[1].slug,
                          "--reason", "chaos scenario wal_full: its server is gone", NULL) == 0,
          "ledgerctl tenant deactivate %s: %s", c.tenant[1].slug, out);
    free(dsn);
    printf("1 passed, 0 failed\n");
    return 0;
}
