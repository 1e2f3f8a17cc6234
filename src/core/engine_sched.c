/*
 * The engine's scheduler: which piece runs next, how many run at once, when
 * a failed piece is tried again and how a too-heavy one is split. Plain
 * state with no lock, no clock and no I/O of its own: the engine calls it
 * under its lock with the time, and tests call it directly
 * (tests/engine/test_engine_sched.c).
 */
#include "core/engine_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/backoff.h"

int engine_sched_init(struct engine_sched *s, const struct grid_plan *plan, unsigned char *done, size_t ndone)
{
    size_t n = plan->ntiles ? plan->ntiles : 1;

    memset(s, 0, sizeof *s);
    s->plan = plan;
    s->done = done ? done : calloc(n, 1);
    s->count = calloc(n, sizeof *s->count);
    s->tiles_left = plan->ntiles - (done ? ndone : 0);
    return s->done && s->count ? 0 : ERR_NOMEM;
}

void engine_sched_free(struct engine_sched *s)
{
    free(s->done);
    free(s->count);
    free(s->retry);
    s->done = NULL;
    s->count = NULL;
    s->retry = NULL;
    s->nretry = s->capretry = 0;
}

void engine_sched_configure(struct engine_sched *s, const struct engine_sched_config *c, int64_t now)
{
    s->max_retries = c->max_retries > 0 ? c->max_retries : ENGINE_DEFAULT_RETRIES;
    s->base_ms = c->base_ms > 0 ? c->base_ms : BACKOFF_TILE_BASE_MS;
    s->cap_ms = c->cap_ms > 0 ? c->cap_ms : BACKOFF_TILE_CAP_MS;
    s->max_limit = c->workers;
    s->slow_start = 1;
    s->limit = c->initial > 0                          ? c->initial
               : c->workers < ENGINE_INITIAL_CONCURRENCY ? c->workers
                                                         : ENGINE_INITIAL_CONCURRENCY;
    if (s->limit > c->workers)
        s->limit = c->workers;
    s->last_cut_ms = now - 1000;
    s->makespan_min_px = c->makespan_min_px;
}

static int push(struct engine_sched *s, const struct engine_task *t)
{
    if (s->nretry == s->capretry) {
        size_t ncap = s->capretry ? s->capretry * 2 : 16;
        struct engine_task *n = realloc(s->retry, ncap * sizeof *n);
        if (!n)
            return ERR_NOMEM;
        s->retry = n;
        s->capretry = ncap;
    }
    s->retry[s->nretry++] = *t;
    return 0;
}

/* The quad split of a piece, or 0 parts when it is at the floor. */
static int split_parts(const struct engine_sched *s, const struct grid_tile *t, struct grid_tile parts[4])
{
    return (long long)t->width * t->height > ENGINE_SPLIT_FLOOR_PX ? grid_tile_split(t, s->plan->block, parts) : 0;
}

/* Once whole tiles have needed splitting (EE's memory or time limit), the
 * next fresh tiles are split as far up front instead of each failing once
 * first: fewer wasted requests. The pieces but `out` are queued. On
 * allocation failure the tile simply stays whole. */
static void presplit(struct engine_sched *s, struct engine_task *out)
{
    struct grid_tile *cur, *next, parts[4];
    size_t ncur = 1, nnext, i;
    int lvl, k, n;

    cur = malloc(sizeof *cur);
    if (!cur)
        return;
    cur[0] = out->t;
    for (lvl = 0; lvl < s->split_level; lvl++) {
        next = malloc(ncur * 4 * sizeof *next);
        if (!next) {
            free(cur);
            return;
        }
        nnext = 0;
        for (i = 0; i < ncur; i++) {
            n = split_parts(s, &cur[i], parts);
            if (n == 0)
                next[nnext++] = cur[i];
            for (k = 0; k < n; k++)
                next[nnext++] = parts[k];
        }
        free(cur);
        cur = next;
        ncur = nnext;
    }
    for (i = 1; i < ncur; i++) {
        struct engine_task p;
        memset(&p, 0, sizeof p);
        p.t = cur[i];
        p.level = s->split_level;
        if (push(s, &p) < 0) {
            /* Undo the parts queued so far (the last i-1 entries) and
             * leave the tile whole. */
            s->nretry -= i - 1;
            free(cur);
            return;
        }
    }
    out->t = cur[0];
    out->level = s->split_level;
    s->count[out->t.id].outstanding = (int)ncur;
    free(cur);
}

/* Whole tiles would leave request slots idle (called for a fresh tile just
 * taken): while the limit is still climbing (each answer opens a slot, so
 * shorter first requests reach the quota sooner), and in the last quarter
 * round of fresh tiles (this one included), whose four parts each can fill
 * the slots that would otherwise idle while the last whole tiles run alone.
 * Earlier, whole tiles keep every slot busy and pay the fixed latency once:
 * splitting them too would need more rounds, not fewer. */
static int slots_would_idle(const struct engine_sched *s)
{
    size_t fresh = s->plan->ntiles - s->next_fresh + 1;

    if (s->slow_start && s->limit < s->max_limit)
        return 1;
    return fresh <= (size_t)s->limit / 4;
}

/* Splits fresh tile `out` in four (its parts but `out` queued, due now) when
 * slots would idle and every part is at least makespan_min_px. The parts
 * are level 0: they say nothing about EE's limits. */
static void makespan_split(struct engine_sched *s, struct engine_task *out)
{
    struct grid_tile parts[4];
    int n, k;

    if (s->makespan_min_px <= 0 || !slots_would_idle(s))
        return;
    n = grid_tile_split(&out->t, s->plan->block, parts);
    if (n != 4)
        return;
    for (k = 0; k < n; k++)
        if ((long long)parts[k].width * parts[k].height < s->makespan_min_px)
            return;
    for (k = 1; k < n; k++) {
        struct engine_task p;
        memset(&p, 0, sizeof p);
        p.t = parts[k];
        if (push(s, &p) < 0) {
            s->nretry -= (size_t)(k - 1);
            return;
        }
    }
    out->t = parts[0];
    s->count[out->t.id].outstanding = n;
    s->makespan_splits++;
}

/* A due retry first, then a fresh tile. */
static int pick(struct engine_sched *s, int64_t now, struct engine_task *out)
{
    size_t i;

    for (i = 0; i < s->nretry; i++) {
        if (s->retry[i].not_before <= now) {
            *out = s->retry[i];
            s->retry[i] = s->retry[--s->nretry];
            return 1;
        }
    }
    while (s->next_fresh < s->plan->ntiles && s->done[s->next_fresh])
        s->next_fresh++;
    if (s->next_fresh < s->plan->ntiles) {
        memset(out, 0, sizeof *out);
        out->t = s->plan->tiles[s->next_fresh++];
        s->count[out->t.id].outstanding = 1;
        s->count[out->t.id].next_k = 0;
        if (s->split_level > 0)
            presplit(s, out);
        else
            makespan_split(s, out);
        return 1;
    }
    return 0;
}

int engine_sched_take(struct engine_sched *s, int64_t now, struct engine_task *out)
{
    if (s->active >= s->limit || !pick(s, now, out))
        return 0;
    s->active++;
    return 1;
}

void engine_sched_release(struct engine_sched *s)
{
    s->active--;
}

int64_t engine_sched_idle_ms(const struct engine_sched *s, int64_t now)
{
    int64_t ms = ENGINE_POLL_MS;
    size_t i;

    for (i = 0; i < s->nretry; i++)
        if (s->retry[i].not_before - now < ms)
            ms = s->retry[i].not_before - now;
    return ms < 1 ? 1 : ms;
}

/* Slow start, then AIMD, as TCP does: until the first 429 every success
 * adds one (the level doubles each round trip, so a 40-worker run reaches
 * its ceiling after ~40 answers instead of ~800); after it, +1 per window
 * of `limit` successes. */
int engine_sched_success(struct engine_sched *s)
{
    if (s->limit >= s->max_limit)
        return 0;
    if (s->slow_start || ++s->succ >= s->limit) {
        s->succ = 0;
        s->limit++;
        return 1;
    }
    return 0;
}

/* A 429 halves the level, at most once a second, because requests
 * already in flight at the old level will see 429s too and must not cut
 * it again. */
int engine_sched_throttled(struct engine_sched *s, int64_t now)
{
    s->slow_start = 0;
    if (now - s->last_cut_ms < 1000)
        return 0;
    s->last_cut_ms = now;
    s->succ = 0;
    if (s->limit > 1) {
        s->limit /= 2;
        return 1;
    }
    return 0;
}

int engine_sched_retry(struct engine_sched *s, struct engine_task *t, long status, long retry_after_s,
                       uint64_t *rng, int64_t now)
{
    /* A 429 says "later", not "broken": it has its own, larger budget so a
     * busy project slows a download down instead of failing it. */
    if (status == 429)
        t->throttled++;
    else
        t->attempts++;
    if (t->attempts > s->max_retries || t->throttled > ENGINE_MAX_THROTTLED)
        return ENGINE_RETRY_GIVE_UP;
    t->not_before = now + backoff_delay_ms(&(struct backoff){s->base_ms, s->cap_ms, BACKOFF_TILE_RETRY_AFTER_S},
                                           t->attempts + t->throttled, retry_after_s, backoff_random(rng));
    return push(s, t) < 0 ? ERR_NOMEM : ENGINE_RETRY_QUEUED;
}

int engine_sched_split(struct engine_sched *s, const struct engine_task *t)
{
    struct grid_tile parts[4];
    int n = split_parts(s, &t->t, parts), i;

    if (n == 0)
        return 0;
    s->count[t->t.id].outstanding += n - 1;
    if (t->level + 1 > s->split_level && t->level + 1 <= ENGINE_MAX_PRESPLIT)
        s->split_level = t->level + 1;
    for (i = 0; i < n; i++) {
        struct engine_task p;
        memset(&p, 0, sizeof p);
        p.t = parts[i];
        p.level = t->level + 1;
        if (push(s, &p) < 0)
            return ERR_NOMEM;
    }
    return n;
}

int engine_sched_piece_number(struct engine_sched *s, size_t tile)
{
    return s->count[tile].next_k++;
}

int engine_sched_piece_stored(struct engine_sched *s, size_t tile)
{
    return --s->count[tile].outstanding == 0;
}

void engine_sched_tile_done(struct engine_sched *s, size_t tile)
{
    s->done[tile] = 1;
    s->tiles_left--;
}
