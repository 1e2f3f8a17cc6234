/*
 * The retry policy (see backoff.h): what is transient, how long to wait,
 * and the retried one-shot request that the credential check, getInfo and
 * the algorithm list share.
 */
#include "core/backoff.h"

#include <string.h>
#include <time.h>

#include "core/session.h"
#include "util/log.h"
#include "util/timeutil.h"

int backoff_transient(long status)
{
    return status == 0 || status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
           status == 504;
}

int64_t backoff_delay_ms(const struct backoff *b, int attempt, long retry_after_s, uint64_t rnd)
{
    int shift = attempt < 20 ? (attempt > 0 ? attempt : 0) : 20;
    int64_t span = (int64_t)b->base_ms << shift, delay;

    if (span > b->cap_ms)
        span = b->cap_ms;
    delay = span > 0 ? (int64_t)(rnd % (uint64_t)(span + 1)) : 0;
    /* Compared in seconds, so a huge Retry-After cannot overflow. */
    if (retry_after_s > 0 && retry_after_s > delay / 1000)
        delay = (int64_t)(retry_after_s < b->retry_after_s ? retry_after_s : b->retry_after_s) * 1000;
    return delay;
}

uint64_t backoff_random(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ULL;
}

uint64_t backoff_seed(void)
{
    static uint64_t calls;
    uint64_t n = __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    uint64_t s = ((uint64_t)time_now_ms() ^ (n * 0x9e3779b97f4a7c15ULL)) * 2654435761ULL + n;

    return s ? s : 1;
}

int backoff_request(struct session *s, const char *path, const char *body, size_t len, struct http_result *res,
                    struct errbuf *e)
{
    static const struct backoff query = {BACKOFF_QUERY_BASE_MS, BACKOFF_QUERY_CAP_MS, BACKOFF_QUERY_RETRY_AFTER_S};
    uint64_t rng = backoff_seed();
    int attempt, rc;

    for (attempt = 1;; attempt++) {
        int64_t wait;
        struct timespec ts;

        memset(res, 0, sizeof *res);
        rc = body ? session_post(s, path, body, len, res, e) : session_get(s, path, res, e);
        if (attempt == BACKOFF_QUERY_TRIES || (rc != 0 && rc != ERR_HTTP) ||
            (rc == 0 && !backoff_transient(res->status)))
            return rc;
        wait = backoff_delay_ms(&query, attempt, rc == 0 ? res->retry_after_s : -1, backoff_random(&rng));
        if (rc)
            log_debug("%s: %s; retrying in %lld ms", path, e->msg, (long long)wait);
        else
            log_debug("%s: HTTP %ld; retrying in %lld ms", path, res->status, (long long)wait);
        http_result_free(res);
        /* One sleep, not resumed after a signal: Ctrl-C ends the wait. */
        ts.tv_sec = (time_t)(wait / 1000);
        ts.tv_nsec = (long)(wait % 1000) * 1000000L;
        nanosleep(&ts, NULL);
    }
}
