/* Per-credential token buckets (api_ratelimit.h). */
#include "api_ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS          64
#define SLOTS_PER_SHARD 256 /* 16384 buckets, about 1.3 MB */
#define PROBE           8
#define KEY_MAX         48
#define MICRO           1000000LL /* tokens are counted in millionths */

typedef struct {
    char key[KEY_MAX]; /* "" when free */
    int64_t tokens;    /* micro-tokens */
    int64_t last_ns;   /* when tokens was last brought up to date */
} bucket;

typedef struct {
    pthread_mutex_t lock;
    bucket slots[SLOTS_PER_SHARD];
} shard;

struct api_ratelimit {
    int64_t rate;     /* tokens per second */
    int64_t capacity; /* micro-tokens */
    int64_t full_ns;  /* time for an empty bucket to fill */
    shard shards[SHARDS];
};

unsigned api_ratelimit_capacity(void)
{
    return SHARDS * SLOTS_PER_SHARD;
}

api_ratelimit *api_ratelimit_new(long rate_per_s, long burst)
{
    api_ratelimit *rl;
    if (rate_per_s <= 0)
        return NULL;
    rl = calloc(1, sizeof *rl);
    if (rl == NULL)
        return NULL;
    rl->rate = rate_per_s;
    rl->capacity = (int64_t)(burst > 0 ? burst : 1) * MICRO;
    rl->full_ns = rl->capacity / rl->rate * 1000 + 1; /* micro-tokens / (tokens/s) = us */
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&rl->shards[i].lock, NULL);
    return rl;
}

void api_ratelimit_free(api_ratelimit *rl)
{
    if (rl == NULL)
        return;
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_destroy(&rl->shards[i].lock);
    free(rl);
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The bucket's tokens brought up to now. */
static int64_t refilled(const api_ratelimit *rl, const bucket *b, int64_t now_ns)
{
    int64_t elapsed = now_ns - b->last_ns;
    if (elapsed <= 0)
        return b->tokens;
    if (elapsed >= rl->full_ns)
        return rl->capacity;
    /* elapsed < full_ns keeps elapsed * rate well inside int64 for any sane burst */
    elapsed = b->tokens + elapsed / 1000 * rl->rate;
    return elapsed < rl->capacity ? elapsed : rl->capacity;
}

int api_ratelimit_take(api_ratelimit *rl, const char *key, int64_t now_ns)
{
    uint64_t h;
    shard *sh;
    bucket *b = NULL, *oldest = NULL, *reusable = NULL;
    int64_t tokens;
    size_t start;
    int wait = 0;

    if (rl == NULL || key == NULL)
        return 0;
    h = hash(key);
    sh = &rl->shards[h % SHARDS];
    start = (size_t)(h / SHARDS) % SLOTS_PER_SHARD;
    pthread_mutex_lock(&sh->lock);
    for (size_t i = 0; i < PROBE; i++) {
        bucket *c = &sh->slots[(start + i) % SLOTS_PER_SHARD];
        if (c->key[0] != '\0' && strncmp(c->key, key, KEY_MAX - 1) == 0) {
            b = c;
            break;
        }
        if (reusable == NULL && (c->key[0] == '\0' || refilled(rl, c, now_ns) >= rl->capacity))
            reusable = c; /* free, or idle long enough to be full: forgetting it changes nothing */
        if (oldest == NULL || c->last_ns < oldest->last_ns)
            oldest = c;
    }
    if (b == NULL) {
        b = reusable != NULL ? reusable : oldest;
        strncpy(b->key, key, KEY_MAX - 1);
        b->key[KEY_MAX - 1] = '\0';
        b->tokens = rl->capacity;
        b->last_ns = now_ns;
    }
    tokens = refilled(rl, b, now_ns);
    b->last_ns = now_ns > b->last_ns ? now_ns : b->last_ns;
    if (tokens >= MICRO) {
        b->tokens = tokens - MICRO;
    } else {
        int64_t missing_us = (MICRO - tokens) / rl->rate; /* micro-tokens / (tokens/s) = us */
        b->tokens = tokens;
        wait = (int)((missing_us + 999999) / 1000000);
        if (wait < 1)
            wait = 1;
    }
    pthread_mutex_unlock(&sh->lock);
    return wait;
}
