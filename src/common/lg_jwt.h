/*
 * Bearer tokens: standard JWTs (RFC 7519) signed with HMAC-SHA-256 ("HS256") by libsodium, under
 * a subkey of the keyring's first key. The server fixes the algorithm: a token whose header is
 * anything but {"alg":"HS256","typ":"JWT"} is refused, "none" included, before its signature is
 * even looked at. Claims: iss "ledger", sub (user id), iat, exp (required), jti, and either tid
 * (tenant id) with role (UserRole) for a tenant user, or sys=true with role (SystemRole) for a
 * system admin.
 */
#ifndef LG_JWT_H
#define LG_JWT_H

#include "lg_crypto.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define LG_JWT_MAX 2048

/* Signs claims (borrowed; "iss", "iat" and "jti" are added, "exp" = now + ttl_s). Returns a
 * malloc'd token, or NULL. */
char *lg_jwt_sign(const lg_keyring *kr, json_t *claims, int64_t ttl_s);

/* Verifies a token: exact header, signature, iss, exp (and nbf when present) against now_s.
 * Returns the claims (a new reference) or NULL with a reason in err (for logs, not callers). */
json_t *lg_jwt_verify(const lg_keyring *kr, const char *token, int64_t now_s, char *err,
                      size_t err_size);

#endif
