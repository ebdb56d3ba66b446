/*
 * Customers and their accounts: what producer-api and ledgerctl share.
 *
 * Account numbers: 10 digits, the first nine random (the first never 0), the tenth a Luhn check
 * digit over them, so that a mistyped digit or two swapped neighbours are caught before a
 * lookup. Uniqueness is the database's (unique_account_number): callers insert with
 * ON CONFLICT DO NOTHING and draw again.
 *
 * KYC expiry: a VERIFIED customer whose identity document expired (idExpiryDate before today,
 * UTC; the document is valid through its expiry day) becomes EXPIRED. One set-based statement
 * finds them through a partial index and writes an AuditLog row per customer as the user
 * "system" in the same statement. The API runs it before it reads customers or decides on
 * them; `ledgerctl kyc expire` runs it for every tenant (e.g. nightly).
 */
#ifndef LG_ACCOUNTS_H
#define LG_ACCOUNTS_H

#include <libpq-fe.h>
#include <stddef.h>

#define LG_ACCOUNT_NUMBER_LEN 10

/* Writes a new random account number (LG_ACCOUNT_NUMBER_LEN digits and a NUL) into out. */
void lg_account_number_generate(char out[LG_ACCOUNT_NUMBER_LEN + 1]);

/* Is s a string of digits whose last digit is the Luhn check digit of the others? */
int lg_luhn_valid(const char *s);

/* Marks the tenant's expired KYC verifications EXPIRED (conn: the tenant database, outside or
 * inside a transaction). source ("api", "ledgerctl") and request_id (may be NULL) go to each
 * audit row's metadata. Returns the number of customers marked, or -1 with err. */
long lg_kyc_expire(PGconn *conn, const char *source, const char *request_id, char *err,
                   size_t err_size);

#endif
