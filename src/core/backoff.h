/*
 * The one retry policy of every request eefetch sends to Earth Engine or
 * Cloud Storage: which answers are worth asking again (backoff_transient)
 * and how long to wait before asking (backoff_delay_ms: full jitter over an
 * exponential span, or the server's Retry-After when that is longer, both
 * bounded). Callers differ only in the numbers below, and each set says why.
 * Pure functions apart from backoff_request (tests/engine/test_backoff.c).
 */
#ifndef EEFETCH_CORE_BACKOFF_H
#define EEFETCH_CORE_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct session;
struct http_result;

struct backoff {
    int base_ms;        /* retry n waits up to base_ms * 2^n ... */
    int cap_ms;         /* ... but never longer than cap_ms */
    int retry_after_s;  /* a server's Retry-After is obeyed up to this */
};

/* Tiles (engine_sched.c): a download of thousands of pieces runs for hours
 * and has other pieces to fetch meanwhile, so a piece may wait out a busy
 * minute; a server asking for days (Retry-After: 999999999) gets a minute.
 * engine_opts.backoff_base_ms / _cap_ms replace the first two (tests). */
#define BACKOFF_TILE_BASE_MS 1000
#define BACKOFF_TILE_CAP_MS 60000
#define BACKOFF_TILE_RETRY_AFTER_S 60

/* One question a user waits on before anything else can happen: the
 * credential check, getInfo, the algorithm list (backoff_request). Nothing
 * else runs meanwhile, so the waits are short (0.5 s, 1 s, ... at most
 * 10 s) and there are few of them; a Retry-After is obeyed up to half a
 * minute, since asking sooner only earns another 429. */
#define BACKOFF_QUERY_BASE_MS 250
#define BACKOFF_QUERY_CAP_MS 10000
#define BACKOFF_QUERY_RETRY_AFTER_S 30
#define BACKOFF_QUERY_TRIES 6          /* requests in all, the first included */

/* Cloud Storage (gcs.c: listing and ranged downloads of exported files) and
 * the submission of a batch task (export.c): work that runs in the
 * background of a long export, like tiles, but whose failures come in
 * bursts of seconds (a storage front end's 503s), not of a project's quota
 * minute. gcs_get_opts.backoff_ms and engine_opts.export_poll_ms (tests) replace
 * the base. */
#define BACKOFF_GCS_BASE_MS 500
#define BACKOFF_GCS_CAP_MS 30000
#define BACKOFF_GCS_RETRY_AFTER_S 30

/* Whether an HTTP status is worth asking again: no answer at all (0), a
 * timeout (408), a quota or rate refusal (429) and the front ends' passing
 * 5xx (500, 502, 503, 504). 501 and the other 5xx say the request itself
 * will not work. What else an answer's body makes transient (EE's
 * "Too many concurrent aggregations") is the tile engine's engine_classify. */
int backoff_transient(long status);

/* The wait before retry number attempt (1 = the first): uniform in
 * [0, min(cap_ms, base_ms * 2^attempt)], taken from rnd modulo the span + 1
 * (full jitter: many clients that failed together do not retry together);
 * a Retry-After (retry_after_s > 0) when it is longer, at most
 * b->retry_after_s. A huge attempt or Retry-After cannot overflow. */
int64_t backoff_delay_ms(const struct backoff *b, int attempt, long retry_after_s, uint64_t rnd);

/* The next number of a xorshift64* sequence in *state (never 0): enough
 * for jitter, and kept per thread or per loop so no lock is needed. */
uint64_t backoff_random(uint64_t *state);
/* A state for backoff_random that differs between calls and threads. */
uint64_t backoff_seed(void);

/* One request asked again on a transient failure, under the QUERY policy:
 * a POST of body (len bytes) to path, or a GET of path when body is NULL
 * (session_post / session_get). Returns as they do: 0 with the last answer
 * in res (any status: a transient one after BACKOFF_QUERY_TRIES requests),
 * ERR_HTTP after as many transport failures, another error at once. */
int backoff_request(struct session *s, const char *path, const char *body, size_t len, struct http_result *res,
                    struct errbuf *e);

#endif
