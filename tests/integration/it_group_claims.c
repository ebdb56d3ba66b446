/*
 * Group commit of Idempotency-Key claims (src/producer-api/api_claims.c): concurrent requests
 * of one tenant share one INSERT and one commit, and the Idempotency-Key contract holds inside
 * a group exactly as across groups:
 *   - 60 requests at once, 20 keys each sent by three requests; for half the keys the three
 *     bodies are the same: all three get the same id (202 or 200), one transaction per key;
 *   - for the other keys, one of the three requests carries another body: it is refused with
 *     422 unless it claimed the key first, in which case the two others are refused;
 *   - the records were written in fewer transactions than there are records (rows written by
 *     one statement share their xmin), so the claims were grouped.
 */
#include "itest.h"
#include "itest_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEYS 20
#define PER_KEY 3

typedef struct {
    const itest_tenant *t;
    char body[512];
    char key[96];
    int odd; /* the request of its key with another body */
    long status;
    char id[64];
} attempt;

static void *post_one(void *arg)
{
    attempt *a = arg;
    a->status = itest_post_txn(a->t, a->body, a->key, a->id, sizeof a->id);
    return NULL;
}

int main(void)
{
    itest_tenant t;
    static attempt at[KEYS * PER_KEY];
    pthread_t th[KEYS * PER_KEY];
    PGconn *db;
    char *v, *groups;
    int n = 0;
    char metrics_url[512];
    itest_prom before, after;
    double claims, commits;

    itest_tenant_create(&t, "it-grpclaim", NULL, 2, "USD");
    for (int k = 0; k < KEYS; k++) {
        for (int j = 0; j < PER_KEY; j++) {
            attempt *a = &at[k * PER_KEY + j];
            a->t = &t;
            a->odd = (k % 2 == 1) && j == PER_KEY - 1;
            snprintf(a->key, sizeof a->key, "grp-%s-%d", t.slug, k);
            snprintf(a->body, sizeof a->body,
                     "{\"type\":\"TRANSFER\",\"amount\":\"%d.%02d\",\"currency\":\"USD\","
                     "\"fromAccount\":\"%s\",\"toAccount\":\"%s\"}",
                     a->odd ? 7 : 1, k, t.account[0], t.account[1]);
        }
    }
    snprintf(metrics_url, sizeof metrics_url, "%s/metrics", itest_env("LEDGER_API_URL"));
    itest_prom_scrape(metrics_url, &before);
    for (int i = 0; i < KEYS * PER_KEY; i++)
        CHECK(pthread_create(&th[i], NULL, post_one, &at[i]) == 0, "pthread_create");
    for (int i = 0; i < KEYS * PER_KEY; i++)
        pthread_join(th[i], NULL);

    for (int k = 0; k < KEYS; k++) {
        attempt *a = &at[k * PER_KEY];
        int accepted = 0, refused = 0;
        const char *id = NULL;
        for (int j = 0; j < PER_KEY; j++) {
            if (a[j].status == 202 || a[j].status == 200) {
                CHECK(id == NULL || strcmp(id, a[j].id) == 0, "key %d: ids %s and %s", k, id,
                      a[j].id);
                id = a[j].id;
                accepted++;
            } else {
                CHECK(a[j].status == 422, "key %d request %d: status %ld", k, j, a[j].status);
                refused++;
            }
        }
        if (k % 2 == 0) {
            CHECK(accepted == PER_KEY, "key %d: %d of %d identical requests accepted", k, accepted,
                  PER_KEY);
        } else {
            /* Either the odd body claimed the key (the two others are refused) or it did not. */
            CHECK((accepted == PER_KEY - 1 && refused == 1 && a[PER_KEY - 1].status == 422) ||
                      (accepted == 1 && refused == PER_KEY - 1 &&
                       (a[PER_KEY - 1].status == 202 || a[PER_KEY - 1].status == 200)),
                  "key %d: %d accepted, %d refused", k, accepted, refused);
        }
        n++;
    }

    db = itest_tenant_db(&t, NULL);
    CHECK(itest_wait_recorded(db, KEYS, 30000) >= KEYS, "the worker did not record %d transactions",
          KEYS);
    sleep(1); /* a duplicate command still in flight would be applied by now */
    v = itest_sql_value(db,
                        "SELECT count(*)::text FROM transactions WHERE idempotency_key LIKE $1",
                        "grp-%");
    CHECK(strcmp(v, "20") == 0, "%s transactions for %d keys", v, KEYS);
    free(v);
    v = itest_sql_value(db, "SELECT count(*)::text FROM idempotency_records WHERE"
                            " idempotency_key LIKE $1", "grp-%");
    CHECK(strcmp(v, "20") == 0, "%s idempotency records for %d keys", v, KEYS);
    free(v);
    groups = itest_sql_value(db,
                             "SELECT count(DISTINCT xmin::text)::text FROM idempotency_records"
                             " WHERE idempotency_key LIKE $1",
                             "grp-%");
    CHECK(atoi(groups) < KEYS, "%s commits for %d concurrent claims: not grouped", groups, KEYS);
    printf("%d keys checked; %d records written in %s commits\n", n, KEYS, groups);
    /* Every claim went through a group (none fell back to a commit of its own), and the
     * histogram of claims per commit saw fewer commits than claims. */
    itest_prom_scrape(metrics_url, &after);
    claims = itest_prom_value(&after, "ledger_idempotency_claims_per_commit_sum") -
             itest_prom_value(&before, "ledger_idempotency_claims_per_commit_sum");
    commits = itest_prom_value(&after, "ledger_idempotency_claims_per_commit_count") -
              itest_prom_value(&before, "ledger_idempotency_claims_per_commit_count");
    CHECK(claims == KEYS * PER_KEY, "claims per commit: %.0f claims counted for %d requests",
          claims, KEYS * PER_KEY);
    CHECK(commits >= 1 && commits < claims, "claims per commit: %.0f commits for %.0f claims",
          commits, claims);
    printf("metrics: %.0f claims in %.0f commits\n", claims, commits);
    itest_prom_free(&before);
    itest_prom_free(&after);
    free(groups);
    PQfinish(db);
    printf("%d passed, 0 failed\n", n + 1);
    return 0;
}
