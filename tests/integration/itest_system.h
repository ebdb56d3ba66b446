/*
 * Test helpers for the users, system-plane and key-rotation tests: bearer tokens minted with the
 * stack's key file (as a login would issue them), system admins and tenant users inserted as the
 * superuser (where no endpoint creates them), JSON calls, and problem checks.
 */
#ifndef ITEST_SYSTEM_H
#define ITEST_SYSTEM_H

#include "itest.h"

#include <jansson.h>
#include <libpq-fe.h>

/* A token for tenant user user_id of tenant tenant_id with role (claims sub, tid, role), valid
 * for an hour, into out (at least 2048 bytes). */
void itest_token_user(char *out, size_t out_size, const char *tenant_id, const char *user_id,
                      const char *role);
/* A token for system admin admin_id with role (claims sub, sys=true, role). */
void itest_token_system(char *out, size_t out_size, const char *admin_id, const char *role);

/* Inserts a system admin (role SUPER_ADMIN, ADMIN or SUPPORT) with a unique e-mail
 * "<prefix>-<random>@ledger.example" into the master; fills id[64] and email[128]. */
void itest_system_admin(const char *prefix, const char *role, char id[64], char email[128]);

/* Inserts a user into a tenant database as the superuser: password NULL stores '!' (cannot log
 * in), else its Argon2id hash. Fills id[64]. */
void itest_user_insert(PGconn *db, const char *email, const char *role, const char *password,
                       char id[64]);

/* Eight random hex digits into out[9]. */
void itest_random_hex(char out[9]);

/* A call with "Authorization: Bearer <credential>" (none when NULL) and, with a body,
 * "Content-Type: application/json". Returns the status; *json gets the parsed body (NULL when
 * empty or not JSON; caller json_decref()s), *raw (when not NULL) the body text (caller frees). */
long itest_sys_call(const char *credential, const char *method, const char *path, const char *body,
                json_t **json, char **raw);

/* Calls and checks the answer is a problem+json with status and type, without SQL text. */
void itest_expect_problem(const char *credential, const char *method, const char *path,
                          const char *body, long status, const char *type);

/* Calls and checks the status; returns the parsed body (caller json_decref()s; NULL for 204). */
json_t *itest_expect_status_json(const char *credential, const char *method, const char *path,
                                 const char *body, long status);

/* The stack's var folder (where master.key, logs/ and run/ are). */
const char *itest_var_dir(void);

/* How many lines of the log file logs/<name>.log hold needle. */
int itest_log_count(const char *name, const char *needle);

#endif
