/*
 * The worker's fault points, for the chaos tests only: compiled in with the CMake option
 * LEDGER_FAULT_INJECTION (the sanitizer build), absent from the release build - there this
 * header declares nothing and worker.c calls nothing.
 *
 * Two points in every batch:
 *   WK_FAULT_BEFORE_PG   the batch is polled and decoded, nothing is applied yet
 *   WK_FAULT_IN_PG       a tenant's PostgreSQL transaction of the batch holds the row locks of
 *                        the accounts it touches; nothing is written yet
 *   WK_FAULT_AFTER_PG    every tenant's PostgreSQL transaction of the batch has COMMITted and
 *                        its events are produced into the open Kafka transaction and flushed to
 *                        the broker; the offsets are not sent and the Kafka transaction is not
 *                        committed
 *
 * Settings (docs/CONFIGURATION.md, test-only):
 *   LEDGER_FAULT_WORKER_CRASH_AFTER_PG_COMMIT=N  _exit(WK_FAULT_EXIT_CODE) at WK_FAULT_AFTER_PG of
 *                                               the N-th batch: no Kafka abort, no clean-up, as
 *                                               a SIGKILL would leave it
 *   LEDGER_FAULT_WORKER_STOP_FILE=PATH          when PATH exists and holds "<point> <instance>"
 *                                               for the point reached ("before-pg", "in-pg" or
 *                                               "after-pg") and this LEDGER_WORKER_INSTANCE, the
 *                                               worker deletes it and stops itself (SIGSTOP)
 *                                               there, until a SIGCONT: a zombie on demand
 */
#ifndef WK_FAULT_H
#define WK_FAULT_H

#ifdef LEDGER_FAULT_INJECTION

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#define WK_FAULT_EXIT_CODE 86

typedef enum { WK_FAULT_BEFORE_PG, WK_FAULT_IN_PG, WK_FAULT_AFTER_PG } wk_fault_where;

/* Reads the settings; returns 0, or -1 with err filled on a bad value. */
int wk_fault_init(char *err, size_t err_size);

/* The fault point `where` of a batch of n_commands messages; producer (may be NULL before the
 * Kafka transaction) is flushed before an exit. Returns normally unless the process exits. */
void wk_fault_point(wk_fault_where where, rd_kafka_t *producer, size_t n_commands);

#endif
#endif
