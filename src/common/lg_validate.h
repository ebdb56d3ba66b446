/*
 * Validation of transaction requests (POST /v1/transactions), before anything is produced.
 * The HTTP layer hands over the raw body; what comes back is either a command ready to be
 * completed with ids and caller details, or a problem that says what is wrong.
 */
#ifndef LG_VALIDATE_H
#define LG_VALIDATE_H

#include "lg_avro.h"
#include "lg_problem.h"

#include <stddef.h>

#define LG_DESCRIPTION_MAX 500
#define LG_REFERENCE_MAX 100
#define LG_REASON_MAX 500
#define LG_ACCOUNT_NUMBER_MAX 34
#define LG_IDEMPOTENCY_KEY_MAX 255

/*
 * Parses and validates a JSON body:
 *   {"type": "DEPOSIT"|"WITHDRAWAL"|"TRANSFER"|"FEE"|"INTEREST"|"REVERSAL",
 *    "amount": "1250.75", "currency": "USD", "fromAccount": "...", "toAccount": "...",
 *    "description": "...", "reference": "...", "originalTransactionId": "uuid", "reason": "..."}
 * Which accounts a type needs: DEPOSIT and INTEREST credit toAccount; WITHDRAWAL and FEE debit
 * fromAccount; TRANSFER needs both, and they differ; REVERSAL needs originalTransactionId and
 * reason and takes no amount, currency or accounts (they are the original's).
 * Unknown fields are refused. On success fills the request fields of *cmd (type, amount_minor,
 * currency, from_account, to_account, description, reference, original_transaction_id, reason;
 * all malloc'd, freed by lg_avro_free_command) and returns 0. On failure returns -1 with *p set
 * (status 400 for unreadable JSON, 422 for a well-formed body that breaks a rule) and *cmd empty.
 */
int lg_validate_txn_request(const char *body, size_t len, lg_txn_command *cmd, lg_problem *p);

/* Is code an active ISO 4217 alphabetic currency code? */
int lg_currency_valid(const char *code);

/* Is s an acceptable account number (1 to 34 of A-Z, 0-9, '-')? */
int lg_account_number_valid(const char *s);

/* Is s an acceptable Idempotency-Key (1 to 255 printable ASCII characters)? */
int lg_idempotency_key_valid(const char *s);

#endif
