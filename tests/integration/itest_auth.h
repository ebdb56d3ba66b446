/*
 * Helpers for the authentication tests: ledgerctl with a password on its stdin, HTTP with a
 * bearer, X-Tenant and Host of the test's choosing (and the answer's Retry-After), logins, and
 * tokens minted or read with the stack's own key.
 */
#ifndef ITEST_AUTH_H
#define ITEST_AUTH_H

#include "itest.h"

#include <jansson.h>
#include <stddef.h>

/* Runs ledgerctl with input written to its stdin; stdout goes to out (trimmed). Returns the exit
 * status. */
int itest_ledgerctl_stdin(const char *input, char *out, size_t out_size, const char *arg, ...)
    __attribute__((sentinel));

/* An answer: status, body (malloc'd, NUL-terminated), Retry-After (0 when absent) and content
 * type. Free with itest_answer_free. */
typedef struct {
    long status;
    char *body;
    long retry_after;
    char content_type[128];
} itest_answer;

/* One exchange with producer-api. bearer, x_tenant, host and json (sent as application/json)
 * may be NULL. */
itest_answer itest_call(const char *method, const char *path, const char *bearer,
                        const char *x_tenant, const char *host, const char *json);
void itest_answer_free(itest_answer *a);

/* The body's "type" ("" when none); borrowed from a parse kept in a. */
const char *itest_answer_type(itest_answer *a);

/* POST /v1/auth/login (system: /v1/system/auth/login) with {"email", "password"}. */
itest_answer itest_login(int system, const char *x_tenant, const char *host, const char *email,
                         const char *password);

/* Logs in (expects 200) and returns the access token, malloc'd. */
char *itest_login_token(int system, const char *x_tenant, const char *host, const char *email,
                        const char *password);

/* The claims of a token, decoded without checking the signature (caller json_decref()s). */
json_t *itest_jwt_claims(const char *token);

/* A token signed with the stack's key (LEDGER_MASTER_KEY_FILE), claims a JSON object text, valid
 * for ttl_s (negative: already expired). malloc'd. */
char *itest_jwt_mint(const char *claims_json, long ttl_s);

/* The same, signed with a key of a keyring of its own (not the stack's). malloc'd. */
char *itest_jwt_mint_foreign(const char *claims_json, long ttl_s);

/* base64url (no padding) of text into a malloc'd string. */
char *itest_b64url(const char *text);

#endif
