/*
 * Helpers of the management tests (it_customers.c, it_accounts.c): credentials of every role
 * (user tokens signed with the stack's master key, API keys written into the master), JSON
 * calls that keep the status, the body and the Location header, expectations that count what
 * they checked, and customers and accounts made through the API.
 */
#ifndef ITEST_MGMT_H
#define ITEST_MGMT_H

#include "itest.h"

#include <jansson.h>
#include <libpq-fe.h>

/* Checks that passed, for the "N passed, 0 failed" line. */
extern int itest_mgmt_passed;
#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        CHECK(cond, __VA_ARGS__);                                                                  \
        itest_mgmt_passed++;                                                                       \
    } while (0)

/* A credential: "Authorization: Bearer <bearer>" acting as user_id with role. */
typedef struct {
    char bearer[2048];
    char user_id[64];
    char role[16];
} itest_cred;

/* Inserts a user of role (SUPER_ADMIN, MANAGER, TELLER, CUSTOMER) into t's database (db: a
 * superuser connection to it) and signs a token for it. */
void itest_mgmt_staff(const itest_tenant *t, PGconn *db, const char *role, itest_cred *out);
/* A token for an existing user of t. */
void itest_mgmt_token(const itest_tenant *t, const char *user_id, const char *role,
                      itest_cred *out);
/* An API key of role for an existing user of t, written into the master database. */
void itest_mgmt_api_key(const itest_tenant *t, const char *user_id, const char *role,
                        itest_cred *out);

/* One HTTP exchange. */
typedef struct {
    long status;
    char *body;   /* malloc'd, "" when empty */
    json_t *json; /* the body parsed, or NULL */
    char content_type[128];
    char location[256];
} itest_resp;

/* Sends method path with bearer (NULL: no Authorization) and body (NULL: none; sent as
 * application/json), plus extra headers (NULL-terminated, may be NULL). */
void itest_mgmt_send(const char *bearer, const char *method, const char *path, const char *body,
                     const char *const *headers, itest_resp *out);
void itest_mgmt_resp_free(itest_resp *r);

/* Expects want_status and a JSON body (or none for 204); returns the JSON (caller
 * json_decref()s; NULL for 204). Counts one check. */
json_t *itest_mgmt_ok(const char *bearer, const char *method, const char *path, const char *body,
                      long want_status);
/* Expects a problem+json answer of want_status and want_type, with a title and a detail and no
 * SQL text. Counts one check. */
void itest_mgmt_problem(const char *bearer, const char *method, const char *path, const char *body,
                        long want_status, const char *want_type);

/* json_dumps of a packed object (the object is stolen); malloc'd. */
char *itest_mgmt_body(json_t *o);

/* A string member, or "" (never NULL). */
const char *itest_mgmt_str(const json_t *o, const char *name);

/* The single value of a query with up to two parameters; malloc'd ("" for NULL). */
char *itest_mgmt_value(PGconn *db, const char *sql, const char *p1, const char *p2);
/* ...as a number. */
long itest_mgmt_long(PGconn *db, const char *sql, const char *p1, const char *p2);

/* A customer made through the API by staff (an individual with a valid identity document);
 * manager (may be NULL) verifies its KYC. Fills id, number and user_id. */
typedef struct {
    char id[64];
    char number[32];
    char user_id[64];
    char email[128];
} itest_customer;
void itest_mgmt_customer(const char *staff, const char *manager, const char *tag,
                         itest_customer *c);

/* Opens an account through the API for customer_id; writes its number into number[32]. */
void itest_mgmt_open_account(const char *bearer, const char *customer_id, const char *type,
                             const char *currency, char number[32]);

/* Follows nextCursor from path (with or without a query) at page size limit; returns every
 * item (a new array). Every page but the last must be full; a row must never come twice. */
json_t *itest_mgmt_walk(const char *bearer, const char *path, int limit, int *pages);

/* The items' "id"s must equal the first column of sql's rows, in order. Counts one check. */
void itest_mgmt_same_rows(json_t *items, PGconn *db, const char *sql, const char *p1,
                          const char *what);

/* The date n days from today (UTC), YYYY-MM-DD, into out[11]. */
void itest_mgmt_date(int days_from_today, char out[11]);

#endif
