/*
 * Per-credential rate limiting: a token bucket per API key, user or system administrator
 * (keyed by the credential's id, never by its secret). A bucket holds up to `burst` tokens and
 * refills at `rate_per_s`; each request takes one. Buckets live in a fixed table (bounded
 * memory): a bucket idle long enough to be full again is the same as no bucket, so it is reused
 * freely; when a neighbourhood of the table is full of busy buckets, the one used longest ago
 * is evicted. The table is split into shards with a lock each, so request threads rarely meet.
 */
#ifndef API_RATELIMIT_H
#define API_RATELIMIT_H

#include <stdint.h>

typedef struct api_ratelimit api_ratelimit;

/* A limiter of rate_per_s requests per second with bursts of burst (rate_per_s 0: no limit,
 * NULL is returned and api_ratelimit_take always allows). */
api_ratelimit *api_ratelimit_new(long rate_per_s, long burst);
void api_ratelimit_free(api_ratelimit *rl);

/* Takes one token from the bucket of key (e.g. "k:<api key id>") at now_ns (CLOCK_MONOTONIC).
 * Returns 0 when the request may go on, or the seconds to wait (>= 1) before the next token. */
int api_ratelimit_take(api_ratelimit *rl, const char *key, int64_t now_ns);

/* How many buckets the table holds (its fixed capacity). */
unsigned api_ratelimit_capacity(void);

#endif
