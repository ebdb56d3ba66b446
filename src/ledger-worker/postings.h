/*
 * Postings: how a batch of one tenant's commands becomes transactions and double-entry ledger
 * entries in that tenant's database, in one PostgreSQL transaction.
 */
#ifndef LG_POSTINGS_H
#define LG_POSTINGS_H

#include "lg_avro.h"
#include "lg_db.h"

#include <libpq-fe.h>
#include <stddef.h>

/* What was recorded for one command, as the events will carry it. */
typedef struct {
    lg_txn_result result;
    lg_ledger_event *entries;
    size_t n_entries;
    char *recorded_by; /* the position of the command message that recorded it; NULL: unknown */
} wk_outcome;

/*
 * Applies cmds (all of one tenant, in partition order) in one database transaction. Commands
 * already recorded (a redelivery, a zombie's duplicate, a client's retry) are skipped. A business
 * failure (insufficient funds, frozen account, ...) records that command as FAILED and leaves
 * the others alone. force_failure_code, when not NULL, fails every new command with that code and
 * force_failure_reason (a suspended tenant). positions[i] (may be NULL) names the message that
 * carried cmds[i] ("<topic>/<partition>/<offset>"); it is recorded with the transaction. Returns
 * LG_DB_OK, or LG_DB_RETRY / LG_DB_FATAL after rolling back, with err.
 */
lg_db_status wk_apply_batch(PGconn *db, const char *tenant_id, lg_txn_command *const *cmds,
                            const char *const *positions, size_t n,
                            const char *force_failure_code, const char *force_failure_reason,
                            char *err, size_t err_size);

/* Records one command as FAILED with PROCESSING_ERROR when it cannot be applied at all (so its
 * partition keeps moving). */
lg_db_status wk_record_processing_error(PGconn *db, const char *tenant_id,
                                        lg_txn_command *cmd, const char *position,
                                        const char *detail, char *err, size_t err_size);

/*
 * Reads what the database recorded for each command (its transaction and its entries), to be
 * emitted as events. out[i] corresponds to cmds[i]; a command with no recorded transaction gets
 * result.transaction_id NULL. recorded_by tells which message recorded it. Free with
 * wk_outcomes_free.
 */
lg_db_status wk_load_outcomes(PGconn *db, const char *tenant_id, lg_txn_command *const *cmds,
                              size_t n, wk_outcome *out, char *err, size_t err_size);
void wk_outcomes_free(wk_outcome *out, size_t n);

#endif
