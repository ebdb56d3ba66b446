/* The scenarios' common steps: see chaos.h. */
#include "chaos.h"

#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FUND "1000.00"
#define FUND_MINOR 100000

void chaos_wait_assigned(itest_worker *w, const char *share)
{
    char text[64];
    snprintf(text, sizeof text, "assigned %s partition", share);
    CHECK(itest_worker_wait_log(w, text, 60000), "worker %s: no \"%s\" in 60 s (log: %s)",
          w->name, text, w->log);
}

void chaos_setup(chaos_run *c, const chaos_config *cfg)
{
    const char *share = NULL;
    memset(c, 0, sizeof *c);
    c->cfg = *cfg;
    CHECK(cfg->n_tenants > 0 && cfg->n_tenants <= CHAOS_MAX_TENANTS, "n_tenants");
    CHECK(cfg->n_workers >= 0 && cfg->n_workers <= CHAOS_MAX_WORKERS, "n_workers");
    CHECK(cfg->n_accounts >= 2 && cfg->n_accounts <= ITEST_MAX_ACCOUNTS, "n_accounts");
    c->started_ms = itest_now_ms();
    /* The scenario's tenants are new: its checks read only what is published from here on. */
    itest_consume_mark("txn.results");
    itest_consume_mark("ledger.entries");
    for (int i = 0; i < cfg->n_tenants; i++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "ch-%s-%d", cfg->name, i);
        for (char *p = prefix; *p != '\0'; p++)
            if (*p == '_')
                *p = '-'; /* slugs are a-z, 0-9 and '-' */
        itest_tenant_create(&c->tenant[i], prefix, i % 2 == 0 ? NULL : "LEDGER_ADMIN_DSN_2",
                            cfg->n_accounts, "USD");
        c->db[i] = itest_tenant_db(&c->tenant[i], i % 2 == 0 ? NULL : "LEDGER_ADMIN_DSN_2");
    }
    for (int w = 0; w < cfg->n_workers; w++) {
        char name[64];
        snprintf(name, sizeof name, "chaos_%s-%d", cfg->name, w + 1);
        itest_worker_start(&c->worker[w], name, w + 1, cfg->worker_env);
    }
    /* 12 partitions: all on one worker, 6 each on two; with more, wait for any assignment. */
    share = cfg->n_workers == 1 ? "12" : cfg->n_workers == 2 ? "6" : "";
    for (int w = 0; w < cfg->n_workers; w++)
        chaos_wait_assigned(&c->worker[w], share);
    for (int i = 0; i < cfg->n_tenants; i++) {
        itest_flow *f = &c->flow[i];
        itest_fund_accounts(&c->tenant[i], cfg->n_accounts, FUND, &f->accepted);
        f->t = &c->tenant[i];
        f->n_accounts = cfg->n_accounts;
        f->n_commands = cfg->commands_per_tenant;
        f->n_threads = cfg->threads_per_tenant > 0 ? cfg->threads_per_tenant : 2;
        f->paced_ms = cfg->flow_ms;
        f->max_amount_minor = 4000;
        f->retry_ms = cfg->retry_ms;
        f->retry_unanswered = cfg->retry_unanswered;
        f->resend_every = cfg->resend_every;
    }
    c->ready_ms = itest_now_ms();
    printf("%s: %d tenants, %d workers ready after %lld ms\n", cfg->name, cfg->n_tenants,
           cfg->n_workers, (long long)(itest_now_ms() - c->started_ms));
    fflush(stdout);
}

void chaos_flow_start(chaos_run *c)
{
    for (int i = 0; i < c->cfg.n_tenants; i++)
        itest_flow_start(&c->flow[i]);
}

int chaos_flows_done(chaos_run *c)
{
    for (int i = 0; i < c->cfg.n_tenants; i++)
        if (!itest_flow_done(&c->flow[i]))
            return 0;
    return 1;
}

/* Posts a probe transfer of 0.01 between tenant i's first two accounts (reverse: from the
 * second to the first), retrying refusals and unanswered requests with its key until one is
 * accepted (or fails the test after timeout_ms); keeps its id among the probes. */
static void probe_post(chaos_run *c, int i, int reverse, int timeout_ms, char id[64])
{
    const itest_tenant *t = &c->tenant[i];
    int64_t deadline = itest_now_ms() + timeout_ms;
    char body[512], key[128];
    long status;

    id[0] = '\0';
    snprintf(body, sizeof body,
             "{\"type\":\"TRANSFER\",\"amount\":\"0.01\",\"currency\":\"USD\","
             "\"fromAccount\":\"%s\",\"toAccount\":\"%s\",\"description\":\"probe\"}",
             t->account[reverse ? 1 : 0], t->account[reverse ? 0 : 1]);
    snprintf(key, sizeof key, "%s-probe-%d", t->slug, c->probes_sent++);
    for (;;) {
        status = itest_post_txn_try(t, body, key, id, 64, 1);
        if (status == 202 || status == 200)
            break;
        CHECK(status == 0 || status >= 500, "probe transfer answered %ld", status);
        CHECK(itest_now_ms() < deadline, "no probe transfer accepted in %d ms (last answer %ld)",
              timeout_ms, status);
        itest_sleep_ms(50);
    }
    itest_idset_add(&c->probes[i], id, 0);
}

int64_t chaos_recovered(chaos_run *c, int tenant, int64_t since_ms, int timeout_ms)
{
    int64_t deadline = itest_now_ms() + timeout_ms, took;
    char id[64];
    json_t *o;

    probe_post(c, tenant, 0, timeout_ms, id);
    o = itest_wait_txn(&c->tenant[tenant], id,
                       (int)(deadline - itest_now_ms() > 1000 ? deadline - itest_now_ms() : 1000));
    CHECK(strcmp(itest_json_str(o, "status"), "COMPLETED") == 0,
          "probe transfer %s ended %s", id, itest_json_str(o, "status"));
    json_decref(o);
    took = itest_now_ms() - since_ms;
    if (took > c->recover_ms)
        c->recover_ms = took;
    return took;
}

void chaos_finish(chaos_run *c)
{
    int accepted = 0, outcomes = 0, completed = 0, failed = 0, prevented = 0, lost = 0;
    int64_t flows_ended, recorded_at;
    FILE *report;

    for (int i = 0; i < c->cfg.n_tenants; i++)
        itest_flow_join(&c->flow[i]);
    flows_ended = itest_now_ms();
    for (int i = 0; i < c->cfg.n_tenants; i++) {
        itest_flow *f = &c->flow[i];
        int recorded;
        for (size_t p = 0; p < c->probes[i].n; p++)
            itest_idset_add(&f->accepted, c->probes[i].v[p].id, 0);
        recorded = itest_wait_recorded(c->db[i], (int)f->accepted.n, 120000);
        CHECK(recorded == (int)f->accepted.n,
              "tenant %s: %d of %zu accepted commands recorded after 120 s", c->tenant[i].slug,
              recorded, f->accepted.n);
    }
    recorded_at = itest_now_ms();
    for (int w = 0; w < c->cfg.n_workers; w++) {
        int rc;
        if (c->worker[w].pid == 0)
            continue;
        rc = itest_worker_stop(&c->worker[w], 30000);
        CHECK(rc == 0, "worker %s exited %d on SIGTERM (log: %s)", c->worker[w].name, rc,
              c->worker[w].log);
    }
    itest_workers_check_logs();

    for (int i = 0; i < c->cfg.n_tenants; i++) {
        itest_eo_figures f;
        itest_flow *fl = &c->flow[i];
        itest_check_exactly_once(&c->tenant[i], c->db[i], &fl->accepted,
                                 (int64_t)c->cfg.n_accounts * FUND_MINOR, &f);
        accepted += f.accepted;
        outcomes += f.completed + f.failed;
        completed += f.completed;
        failed += f.failed;
        lost += f.accepted - (f.completed + f.failed);
        prevented += fl->n_resent + fl->n_retried_503 + fl->n_unanswered +
                     (f.results_uncommitted - f.results);
        PQfinish(c->db[i]);
        c->db[i] = NULL;
        itest_idset_free(&fl->accepted);
        itest_idset_free(&c->probes[i]);
    }
    printf("%s: flows %lld ms, all recorded %lld ms after them, total %lld ms\n", c->cfg.name,
           (long long)(flows_ended - c->started_ms), (long long)(recorded_at - flows_ended),
           (long long)(itest_now_ms() - c->started_ms));
    printf("CHAOS %s: accepted=%d outcomes=%d completed=%d failed=%d duplicates_prevented=%d"
           " lost=%d faults=%d recover_ms=%lld\n",
           c->cfg.name, accepted, outcomes, completed, failed, prevented, lost, c->faults,
           (long long)c->recover_ms);
    CHECK(lost == 0, "%d accepted commands without an outcome", lost);
    fflush(stdout);
    /* scripts/test.sh prints this file after the chaos phase: one line per scenario. */
    report = fopen(ITEST_LOG_DIR "/chaos-report.txt", "a");
    if (report != NULL) {
        fprintf(report,
                "%-16s accepted=%d outcomes=%d completed=%d failed=%d duplicates_prevented=%d"
                " lost=%d faults=%d recover_ms=%lld (ms: setup %lld, flows %lld, settle %lld,"
                " checks %lld)\n",
                c->cfg.name, accepted, outcomes, completed, failed, prevented, lost, c->faults,
                (long long)c->recover_ms, (long long)(c->ready_ms - c->started_ms),
                (long long)(flows_ended - c->ready_ms), (long long)(recorded_at - flows_ended),
                (long long)(itest_now_ms() - recorded_at));
        fclose(report);
    }
}

int chaos_sh(const char *arg, ...)
{
    const char *argv[16];
    int n = 0, status = 0;
    va_list ap;
    pid_t pid;

    argv[n++] = "bash";
    argv[n++] = LEDGER_CHAOS_SH;
    va_start(ap, arg);
    for (const char *a = arg; a != NULL && n < 15; a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    fflush(stdout);
    pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        execvp("bash", (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int chaos_worker_stopped(const itest_worker *w)
{
    char path[64], text[512], *close_paren;
    FILE *f;
    size_t n;
    if (w->pid == 0)
        return 0;
    snprintf(path, sizeof path, "/proc/%d/stat", w->pid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    /* "pid (comm) S ...": the state follows the last ')' */
    close_paren = strrchr(text, ')');
    return close_paren != NULL && close_paren[1] == ' ' && close_paren[2] == 'T';
}

int chaos_wait_accepted_recorded(chaos_run *c, int timeout_ms)
{
    int64_t deadline = itest_now_ms() + timeout_ms;
    int total = 0;
    for (int i = 0; i < c->cfg.n_tenants; i++) {
        itest_flow *f = &c->flow[i];
        size_t n = 0, cap = 64, len = 1;
        char *ids = malloc(cap);
        CHECK(ids != NULL, "out of memory");
        ids[0] = '{';
        if (f->lock != NULL)
            pthread_mutex_lock(f->lock);
        for (size_t k = 0; k < f->accepted.n + c->probes[i].n; k++) {
            const char *id = k < f->accepted.n ? f->accepted.v[k].id
                                               : c->probes[i].v[k - f->accepted.n].id;
            size_t idl = strlen(id);
            if (len + idl + 3 > cap) {
                char *grown;
                cap = (cap + idl + 3) * 2;
                grown = realloc(ids, cap);
                CHECK(grown != NULL, "out of memory");
                ids = grown;
            }
            if (n > 0)
                ids[len++] = ',';
            memcpy(ids + len, id, idl);
            len += idl;
            n++;
        }
        if (f->lock != NULL)
            pthread_mutex_unlock(f->lock);
        ids[len++] = '}';
        ids[len] = '\0';
        for (;;) {
            char *v = itest_sql_value(
                c->db[i], "SELECT count(*)::text FROM transactions WHERE id = ANY($1::uuid[])",
                ids);
            long recorded = strtol(v, NULL, 10);
            free(v);
            if (recorded >= (long)n)
                break;
            CHECK(itest_now_ms() < deadline,
                  "tenant %s: %ld of %zu accepted commands recorded after %d ms",
                  c->tenant[i].slug, recorded, n, timeout_ms);
            itest_sleep_ms(100);
        }
        free(ids);
        total += (int)n;
    }
    return total;
}

long chaos_log_size(const itest_worker *w)
{
    struct stat st;
    return stat(w->log, &st) == 0 ? (long)st.st_size : 0;
}

/* Reads w's log from byte offset from: prints up to max_lines lines with prefix (prefix NULL:
 * none), or stops at the first line containing find (find NULL: none). Returns the lines
 * printed, or 1 when find was found (0 otherwise). */
static int scan_log(const itest_worker *w, long from, const char *prefix, int max_lines,
                    const char *find)
{
    FILE *f = fopen(w->log, "r");
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    if (f == NULL)
        return 0;
    fseek(f, from, SEEK_SET);
    while (getline(&line, &cap, f) > 0) {
        if (find != NULL && strstr(line, find) != NULL) {
            n = 1;
            break;
        }
        if (prefix != NULL && n < max_lines) {
            printf("%s%s", prefix, line);
            n++;
        } else if (find == NULL) {
            break;
        }
    }
    free(line);
    fclose(f);
    fflush(stdout);
    return n;
}

int chaos_print_log(const itest_worker *w, long from, const char *prefix, int max_lines)
{
    return scan_log(w, from, prefix, max_lines, NULL);
}

void chaos_probe_send(chaos_run *c, int i)
{
    char id[64];
    probe_post(c, i, 1, 10000, id);
}

int chaos_log_has(const itest_worker *w, long from, const char *text)
{
    return scan_log(w, from, NULL, 0, text);
}
