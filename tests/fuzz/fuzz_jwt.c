/*
 * Fuzz target: bearer credentials. The token verifier (lg_jwt_verify, src/common/lg_jwt.c) and
 * the Authorization header reader (api_bearer_parse, src/producer-api/api_route_match.c).
 *
 * The seed tokens are signed under FUZZ_KEY_A (fuzz_keys.h, tests/fuzz/gen_corpus.c), so the
 * fuzzer mutates tokens that verify. Properties:
 *   - nothing verifies under FUZZ_KEY_B, which signed nothing: a fuzzed token never verifies;
 *   - a token that verifies under FUZZ_KEY_A is the one canonical encoding of what was signed:
 *     each part is canonical base64url (no second spelling of the same bytes), the header is
 *     exactly {"alg":"HS256","typ":"JWT"}, and changing any one character of it (header, payload
 *     or signature) makes it fail;
 *   - verified claims have iss "ledger", sub and role strings and an exp in the future;
 *   - the header reader gives an API key exactly for "Bearer lk_...", the credential is the text
 *     after "Bearer ", and nothing longer than the limit passes.
 */
#include "fuzz_common.h"
#include "fuzz_keys.h"

#include "api_route_match.h"
#include "lg_jwt.h"

#include <sodium.h>

static lg_keyring *key_a, *key_b;
static const int64_t now_s = 1764000000; /* 2025-11-24; the seeds expire in 2125 */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (lg_crypto_init() != 0)
        abort();
    key_a = fuzz_keyring(FUZZ_KEY_A);
    key_b = fuzz_keyring(FUZZ_KEY_B);
    if (key_a == NULL || key_b == NULL)
        abort();
    return 0;
}

static int canonical_b64url(const char *part, size_t len)
{
    unsigned char bin[LG_JWT_MAX];
    char again[LG_JWT_MAX * 2];
    size_t bin_len = 0;
    const char *end = NULL;
    if (sodium_base642bin(bin, sizeof bin, part, len, NULL, &bin_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != part + len)
        return 0;
    sodium_bin2base64(again, sizeof again, bin, bin_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return strlen(again) == len && memcmp(again, part, len) == 0;
}

static void check_verified(char *token, json_t *claims)
{
    static const char header_b64[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
    char *dot1 = strchr(token, '.'), *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    size_t n = strlen(token);
    char err[256];
    json_t *v;

    FUZZ_ASSERT(dot1 != NULL && dot2 != NULL, "verified without three parts");
    FUZZ_ASSERT((size_t)(dot1 - token) == strlen(header_b64) &&
                    memcmp(token, header_b64, strlen(header_b64)) == 0,
                "verified with another header");
    FUZZ_ASSERT(canonical_b64url(dot1 + 1, (size_t)(dot2 - dot1 - 1)) &&
                    canonical_b64url(dot2 + 1, n - (size_t)(dot2 + 1 - token)),
                "verified a non-canonical base64url spelling");
    v = json_object_get(claims, "iss");
    FUZZ_ASSERT(json_is_string(v) && strcmp(json_string_value(v), "ledger") == 0, "iss");
    v = json_object_get(claims, "exp");
    FUZZ_ASSERT(json_is_integer(v) && json_integer_value(v) > now_s, "exp");
    FUZZ_ASSERT(json_is_string(json_object_get(claims, "sub")) &&
                    json_is_string(json_object_get(claims, "role")),
                "sub/role");
    /* Any one changed character breaks it (a few positions, each to a neighbour). */
    for (size_t i = 0; i < n; i += 1 + n / 16) {
        char saved = token[i];
        json_t *c;
        if (saved == '.')
            continue;
        token[i] = saved == 'A' ? 'B' : 'A';
        c = lg_jwt_verify(key_a, token, now_s, err, sizeof err);
        FUZZ_ASSERT(c == NULL, "a token with character %zu changed still verifies", i);
        token[i] = saved;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *token = fuzz_strndup(data, size);
    char *auth = malloc(size + 8);
    char err[256] = "";
    const char *credential = NULL;
    json_t *claims;
    int kind;

    if (auth == NULL)
        abort();
    claims = lg_jwt_verify(key_b, token, now_s, err, sizeof err);
    FUZZ_ASSERT(claims == NULL, "a token verified under a key that signed nothing");
    FUZZ_ASSERT(err[0] != '\0', "refused without a reason");

    claims = lg_jwt_verify(key_a, token, now_s, err, sizeof err);
    if (claims != NULL) {
        FUZZ_ASSERT(json_is_object(claims), "claims are not an object");
        check_verified(token, claims);
        json_decref(claims);
    }

    /* The Authorization header around the same bytes. */
    memcpy(auth, "Bearer ", 7);
    memcpy(auth + 7, token, strlen(token) + 1);
    kind = api_bearer_parse(auth, LG_JWT_MAX, &credential);
    if (strlen(token) == 0 || strlen(token) > LG_JWT_MAX) {
        FUZZ_ASSERT(kind == API_BEARER_NONE && credential == NULL, "bad length accepted");
    } else {
        FUZZ_ASSERT(credential == auth + 7, "credential is not the text after Bearer");
        FUZZ_ASSERT(kind == (strncmp(token, "lk_", 3) == 0 ? API_BEARER_API_KEY
                                                           : API_BEARER_TOKEN),
                    "credential kind %d", kind);
    }
    /* The raw input as a whole header: only "Bearer " opens it. */
    kind = api_bearer_parse(token, LG_JWT_MAX, &credential);
    FUZZ_ASSERT(kind == API_BEARER_NONE || strncmp(token, "Bearer ", 7) == 0,
                "a header without \"Bearer \" gave a credential");
    free(auth);
    free(token);
    return 0;
}
