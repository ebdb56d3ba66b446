/*
 * Group commit of Idempotency-Key claims (api_claims.c): the concurrent claims of one tenant
 * are written by one INSERT ... ON CONFLICT DO NOTHING and one commit, instead of one commit
 * each.
 */
#ifndef LG_API_CLAIMS_H
#define LG_API_CLAIMS_H

#include "api.h"

enum { API_CLAIM_PARAMS = 8 };

/* The outcome of api_claim_group. */
enum {
    API_CLAIM_FALLBACK = -1, /* not written (group commit off, or the group's statement failed):
                              * claim alone, as without group commit */
    API_CLAIM_EXISTS = 0,    /* the key was claimed before (or earlier in the same group) */
    API_CLAIM_NEW = 1        /* this request claimed the key; the record is committed */
};

/*
 * Queues the claim of an idempotency record with the concurrent claims of the same tenant and
 * parks r (suspends its connection). params: key, endpoint, method, request hash, transaction
 * id, response body (JSON), user id, IP address (the columns of idempotency_records; copied).
 * Once the group holding the claim has committed (or failed), *outcome is set (API_CLAIM_*)
 * and the connection resumes: then(r) runs on an HTTP thread in place of the handler, with
 * r->resume_state as the caller left it. Returns 0 when parked, -1 when the claim must be made
 * on this thread (group commit off, or out of memory).
 */
int api_claim_submit(api_request *r, const lg_tenant *tenant,
                     const char *const params[API_CLAIM_PARAMS], int *outcome,
                     void (*then)(api_request *r));

#endif
