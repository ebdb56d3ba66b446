/* The worker's test-only fault points: see fault.h. */
#include "fault.h"

#include "lg_config.h"
#include "lg_log.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long crash_after_batch; /* 0: never */
static long batches_after_pg;
static const char *stop_file; /* NULL: never */
static const char *instance;  /* LEDGER_WORKER_INSTANCE */

int wk_fault_init(char *err, size_t err_size)
{
    const char *path = lg_config_str("LEDGER_FAULT_WORKER_STOP_FILE", "");
    if (lg_config_int("LEDGER_FAULT_WORKER_CRASH_AFTER_PG_COMMIT", 0, 0, 1000000,
                      &crash_after_batch, err, err_size) != 0)
        return -1;
    stop_file = path[0] != '\0' ? path : NULL;
    instance = lg_config_str("LEDGER_WORKER_INSTANCE", "0");
    if (crash_after_batch > 0)
        lg_log_warn("fault injection: this worker exits after the PostgreSQL COMMIT of its "
                    "batch %ld, before its Kafka commit",
                    crash_after_batch);
    if (stop_file != NULL)
        lg_log_warn("fault injection: this worker stops itself when %s names a fault point",
                    stop_file);
    return 0;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 when the stop file exists and reads "<point> <instance>" for this point and this worker's
 * LEDGER_WORKER_INSTANCE (it is deleted then): one file can aim at one of several workers. */
static int stop_requested(const char *point)
{
    char text[64] = "", want[64];
    FILE *f;
    if (stop_file == NULL || access(stop_file, F_OK) != 0)
        return 0;
    f = fopen(stop_file, "r");
    if (f == NULL)
        return 0;
    if (fgets(text, sizeof text, f) == NULL)
        text[0] = '\0';
    fclose(f);
    text[strcspn(text, "\r\n")] = '\0';
    snprintf(want, sizeof want, "%s %s", point, instance);
    if (strcmp(text, want) != 0)
        return 0;
    return unlink(stop_file) == 0;
}

void wk_fault_point(wk_fault_where where, rd_kafka_t *producer, size_t n_commands)
{
    const char *point = where == WK_FAULT_BEFORE_PG ? "before-pg"
                        : where == WK_FAULT_IN_PG   ? "in-pg"
                                                    : "after-pg";
    if (where == WK_FAULT_AFTER_PG && crash_after_batch > 0 &&
        ++batches_after_pg == crash_after_batch) {
        /* The events reach the broker inside the open transaction, as they would a moment
         * before a real crash; only the offsets and the commit are missing. */
        if (producer != NULL)
            rd_kafka_flush(producer, 10000);
        lg_log_warn("fault injection: exiting after the PostgreSQL COMMIT of batch %ld (%zu "
                    "command(s)), before the Kafka commit",
                    batches_after_pg, n_commands);
        _exit(WK_FAULT_EXIT_CODE);
    }
    if (stop_requested(point)) {
        int64_t t0;
        if (producer != NULL)
            rd_kafka_flush(producer, 10000);
        lg_log_warn("fault injection: stopping (SIGSTOP) at %s of a batch of %zu command(s)",
                    point, n_commands);
        t0 = wall_ms();
        raise(SIGSTOP);
        lg_log_warn("fault injection: resumed at %s after %lld ms", point,
                    (long long)(wall_ms() - t0));
    }
}
