/*
 * The retry policy alone (core/backoff.c), without HTTP or a clock: which
 * statuses are transient, the full-jitter delay and the Retry-After bound
 * of each policy, and the random source. Expected values are worked out by
 * hand from the rule in backoff.h and docs/engine.md.
 */
#include <stdint.h>
#include <string.h>

#include "../unit/check.h"
#include "core/backoff.h"

static const struct backoff tile = {BACKOFF_TILE_BASE_MS, BACKOFF_TILE_CAP_MS, BACKOFF_TILE_RETRY_AFTER_S};

/* Uniform in [0, min(cap, base * 2^attempt)], from rnd modulo the span + 1;
 * Retry-After when longer, at most the policy's bound. */
static void test_tile_delay(void)
{
    const struct backoff fast = {5, 50, BACKOFF_TILE_RETRY_AFTER_S};

    CHECK(backoff_delay_ms(&tile, 1, -1, 5000) == 5000 % 2001);
    CHECK(backoff_delay_ms(&tile, 1, -1, 2000) == 2000);
    CHECK(backoff_delay_ms(&tile, 2, -1, 4000) == 4000);
    CHECK(backoff_delay_ms(&tile, 2, -1, 4001) == 0);
    CHECK(backoff_delay_ms(&tile, 6, -1, UINT64_MAX) == (int64_t)(UINT64_MAX % 60001));   /* capped */
    CHECK(backoff_delay_ms(&tile, 100, -1, 60000) == 60000);   /* a huge count does not overflow */
    CHECK(backoff_delay_ms(&fast, 3, -1, 41) == 0);   /* span 40 */
    CHECK(backoff_delay_ms(&fast, 4, -1, 51) == 0);   /* span 80, capped at 50 */
    /* Retry-After: waited for when longer than the jitter, capped. */
    CHECK(backoff_delay_ms(&tile, 1, 5, 0) == 5000);
    CHECK(backoff_delay_ms(&tile, 1, 1, 1500) == 1500);   /* 1 s is not longer than 1.5 s */
    CHECK(backoff_delay_ms(&tile, 1, 2, 1500) == 2000);
    CHECK(backoff_delay_ms(&tile, 1, 999999999, 0) == 60000);
    CHECK(backoff_delay_ms(&tile, 1, 0, 7) == 7);   /* 0 or absent: the jitter */
    CHECK(backoff_delay_ms(&fast, 0, -1, 5) == 5);   /* attempt 0: span base */
    CHECK(backoff_delay_ms(&fast, -3, -1, 6) == 0);  /* no negative shift */
}

/* The other two policies: the same rule with their own numbers. */
static void test_other_policies(void)
{
    const struct backoff query = {BACKOFF_QUERY_BASE_MS, BACKOFF_QUERY_CAP_MS, BACKOFF_QUERY_RETRY_AFTER_S};
    const struct backoff gcs = {BACKOFF_GCS_BASE_MS, BACKOFF_GCS_CAP_MS, BACKOFF_GCS_RETRY_AFTER_S};
    static const int64_t spans[] = {500, 1000, 2000, 4000, 8000};
    int a;

    /* Spans 500 ms, 1, 2, 4, 8 s over the 5 retries of a query: at most
     * 15.5 s in all before its sixth and last request. */
    CHECK(BACKOFF_QUERY_TRIES == 6);
    for (a = 1; a < BACKOFF_QUERY_TRIES; a++) {
        CHECK(backoff_delay_ms(&query, a, -1, (uint64_t)spans[a - 1]) == spans[a - 1]);
        CHECK(backoff_delay_ms(&query, a, -1, (uint64_t)spans[a - 1] + 1) == 0);
    }
    CHECK(backoff_delay_ms(&query, 6, -1, 10000) == 10000);   /* span 16 s, capped at 10 s */
    CHECK(backoff_delay_ms(&query, 6, -1, 10001) == 0);
    CHECK(backoff_delay_ms(&query, 1, 20, 0) == 20000);
    CHECK(backoff_delay_ms(&query, 1, 999999999, 0) == 30000);
    CHECK(backoff_delay_ms(&gcs, 1, -1, 1000) == 1000);       /* the first span is 1 s */
    CHECK(backoff_delay_ms(&gcs, 7, -1, 30000) == 30000);     /* 64 s capped at 30 s */
    CHECK(backoff_delay_ms(&gcs, 7, -1, 30001) == 0);
    CHECK(backoff_delay_ms(&gcs, 1, 86400, 0) == 30000);
}

static void test_transient(void)
{
    static const long yes[] = {0, 408, 429, 500, 502, 503, 504};
    static const long no[] = {200, 204, 206, 400, 401, 403, 404, 409, 412, 501, 505, 507};
    size_t i;

    for (i = 0; i < sizeof yes / sizeof *yes; i++)
        CHECK(backoff_transient(yes[i]));
    for (i = 0; i < sizeof no / sizeof *no; i++)
        CHECK(!backoff_transient(no[i]));
}

/* xorshift64*: the same sequence from the same state (reproducible test
 * runs with engine_opts.seed), never stuck at 0, and seeds that differ. */
static void test_random(void)
{
    uint64_t a = 42, b = 42, z = 0, s1 = backoff_seed(), s2 = backoff_seed();
    uint64_t x1 = backoff_random(&a), x2 = backoff_random(&b);
    int i, zeros = 0;

    CHECK(x1 == x2 && a == b && a != 42);
    /* 42 >> 12 is 0: x = 42 ^ 42 << 25, then ^ x >> 27 = 42 ^ (42 << 25) ^ 2. */
    CHECK(a == ((42ULL ^ (42ULL << 25)) ^ ((42ULL ^ (42ULL << 25)) >> 27)));
    CHECK(x1 == a * 2685821657736338717ULL);
    for (i = 0; i < 100; i++)
        zeros += backoff_random(&z) == 0;
    CHECK(zeros == 0 && z != 0);
    CHECK(s1 != 0 && s2 != 0 && s1 != s2);
}

int main(void)
{
    test_tile_delay();
    test_other_policies();
    test_transient();
    test_random();
    return CHECK_DONE();
}
