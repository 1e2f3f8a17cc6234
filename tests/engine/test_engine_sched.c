/*
 * The engine's scheduler alone (engine_sched.c), without HTTP, threads or a
 * clock: the concurrency limit (slow start, then +1 per window, halved by a
 * 429 at most once a second), the retry budgets (the back-off delay itself
 * is tests/engine/test_backoff.c's), the order of due retries and fresh
 * tiles, splits down to the floor, the up-front split of later tiles and
 * the makespan split of fresh tiles while slots would idle. Expected values are
 * worked out by hand from docs/engine.md's rules.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/check.h"
#include "core/engine_int.h"

#define NTILES 4

/* Four 128x128 tiles in a row, block 64. */
static void make_plan(struct grid_plan *p, struct grid_tile *tiles)
{
    size_t i;

    memset(p, 0, sizeof *p);
    p->block = 64;
    p->tiles = tiles;
    p->ntiles = NTILES;
    for (i = 0; i < NTILES; i++) {
        memset(&tiles[i], 0, sizeof tiles[i]);
        tiles[i].id = i;
        tiles[i].col = (long)i * 128;
        tiles[i].width = 128;
        tiles[i].height = 128;
        tiles[i].nbands = 1;
    }
}

static void sched_for(struct engine_sched *s, const struct grid_plan *p, int workers, int initial,
                      int max_retries, int base_ms, int cap_ms)
{
    struct engine_sched_config c = {workers, initial, max_retries, base_ms, cap_ms, 0};

    CHECK(engine_sched_init(s, p, NULL, 0) == 0);
    engine_sched_configure(s, &c, 0);
}

/* At most `limit` tasks are out at once; the defaults of the limit. */
static void test_limit(void)
{
    struct grid_tile tiles[NTILES];
    struct grid_plan p;
    struct engine_sched s;
    struct engine_task t;
    int n = 0;

    make_plan(&p, tiles);
    sched_for(&s, &p, 40, 0, 0, 0, 0);
    CHECK(s.limit == ENGINE_INITIAL_CONCURRENCY && s.max_limit == 40);
    CHECK(s.max_retries == ENGINE_DEFAULT_RETRIES && s.base_ms == 1000 && s.cap_ms == 60000);
    engine_sched_free(&s);

    sched_for(&s, &p, 8, 0, 0, 0, 0);
    CHECK(s.limit == 8);   /* min(workers, 16) */
    engine_sched_free(&s);
    sched_for(&s, &p, 8, 20, 0, 0, 0);
    CHECK(s.limit == 8);   /* an initial level above the workers is cut to them */
    engine_sched_free(&s);

    sched_for(&s, &p, 2, 0, 0, 0, 0);
    while (engine_sched_take(&s, 0, &t))
        n++;
    CHECK(n == 2 && s.active == 2);
    engine_sched_release(&s);
    CHECK(engine_sched_take(&s, 0, &t) && t.t.id == 2);
    CHECK(!engine_sched_take(&s, 0, &t));
    engine_sched_free(&s);
}

/* Slow start: +1 per success until the first 429; 16 -> 40 in 24. */
static void test_slow_start(void)
{
    struct grid_tile tiles[NTILES];
    struct grid_plan p;
    struct engine_sched s;
    int i, grew = 0;

    make_plan(&p, tiles);
    sched_for(&s, &p, 40, 0, 0, 0, 0);
    for (i = 0; i < 24; i++)
        grew += engine_sched_success(&s);
    CHECK(grew == 24 && s.limit == 40);
    CHECK(engine_sched_success(&s) == 0 && s.limit == 40);   /* never above the workers */
    engine_sched_free(&s);
}

/* AIMD: a 429 halves the level, once a second at most; then +1 per
 * window of `limit` successes. */
static void test_aimd(void)
{
    struct grid_tile tiles[NTILES];
    struct grid_plan p;
    struct engine_sched s;
    int i;

    make_plan(&p, tiles);
    sched_for(&s, &p, 40, 0, 0, 0, 0);
    CHECK(engine_sched_throttled(&s, 0) == 1 && s.limit == 8 && !s.slow_start);   /* right at the start */
    CHECK(engine_sched_throttled(&s, 999) == 0 && s.limit == 8);   /* in flight at the old level */
    CHECK(engine_sched_throttled(&s, 1000) == 1 && s.limit == 4);
    for (i = 0; i < 3; i++)
        CHECK(engine_sched_success(&s) == 0);
    CHECK(engine_sched_success(&s) == 1 && s.limit == 5);
    for (i = 0; i < 4; i++)
        CHECK(engine_sched_success(&s) == 0);
    CHECK(engine_sched_success(&s) == 1 && s.limit == 6);
    /* A cut resets the window. */
    CHECK(engine_sched_success(&s) == 0);
    CHECK(engine_sched_throttled(&s, 5000) == 1 && s.limit == 3 && s.succ == 0);
    CHECK(engine_sched_throttled(&s, 6000) == 1 && s.limit == 1);
    CHECK(engine_sched_throttled(&s, 7000) == 0 && s.limit == 1);   /* never below one */
    engine_sched_free(&s);
}

/* Retry budgets: max_retries transient failures, ENGINE_MAX_THROTTLED
 * 429s, counted apart. A due retry goes before fresh tiles, one not due
 * does not. */
static void test_retries(void)
{
    struct grid_tile tiles[NTILES];
    struct grid_plan p;
    struct engine_sched s;
    struct engine_task t, u;
    uint64_t rng = 42;
    int i;

    make_plan(&p, tiles);
    sched_for(&s, &p, 4, 0, 2, 5, 50);
    CHECK(engine_sched_take(&s, 0, &t) && t.t.id == 0);
    engine_sched_release(&s);
    /* Retry-After 5 s beats the 50 ms jitter. */
    CHECK(engine_sched_retry(&s, &t, 503, 5, &rng, 0) == ENGINE_RETRY_QUEUED);
    CHECK(t.attempts == 1 && t.throttled == 0 && t.not_before == 5000 && s.nretry == 1);
    CHECK(engine_sched_idle_ms(&s, 0) == ENGINE_POLL_MS);
    CHECK(engine_sched_idle_ms(&s, 4950) == 50);
    CHECK(engine_sched_idle_ms(&s, 6000) == 1);
    CHECK(engine_sched_take(&s, 4999, &u) && u.t.id == 1);   /* not due: a fresh tile */
    engine_sched_release(&s);
    CHECK(engine_sched_take(&s, 5000, &u) && u.t.id == 0 && u.attempts == 1 && s.nretry == 0);
    engine_sched_release(&s);
    CHECK(engine_sched_retry(&s, &u, 0, -1, &rng, 5000) == ENGINE_RETRY_QUEUED);
    CHECK(u.attempts == 2 && u.not_before >= 5000 && u.not_before <= 5050);
    s.nretry = 0;
    CHECK(engine_sched_retry(&s, &u, 500, -1, &rng, 6000) == ENGINE_RETRY_GIVE_UP && u.attempts == 3);

    /* 429s have their own budget and leave attempts alone. */
    memset(&u, 0, sizeof u);
    u.t = tiles[3];
    for (i = 0; i < ENGINE_MAX_THROTTLED; i++)
        CHECK(engine_sched_retry(&s, &u, 429, -1, &rng, 0) == ENGINE_RETRY_QUEUED);
    CHECK(u.attempts == 0 && u.throttled == ENGINE_MAX_THROTTLED);
    CHECK(engine_sched_retry(&s, &u, 429, -1, &rng, 0) == ENGINE_RETRY_GIVE_UP);
    engine_sched_free(&s);
}

/* The pieces' windows partition the tile: their areas add up and each
 * lies inside it. */
static int partitions(const struct grid_tile *tile, const struct grid_tile *parts, int n)
{
    long area = 0;
    int i;

    for (i = 0; i < n; i++) {
        if (parts[i].id != tile->id || parts[i].col < tile->col || parts[i].row < tile->row ||
            parts[i].col + parts[i].width > tile->col + tile->width ||
            parts[i].row + parts[i].height > tile->row + tile->height)
            return 0;
        area += parts[i].width * parts[i].height;
    }
    return area == tile->width * tile->height;
}

/* A split queues the quad parts and makes later fresh tiles start split
 * as deep; the tile is complete when its last piece is stored. */
static void test_split(void)
{
    struct grid_tile tiles[NTILES], got[16];
    struct grid_plan p;
    struct engine_sched s;
    struct engine_task t, u;
    int i, n = 0;

    make_plan(&p, tiles);
    sched_for(&s, &p, 16, 16, 0, 5, 50);
    CHECK(engine_sched_take(&s, 0, &t) && t.t.width == 128 && s.count[0].outstanding == 1);
    CHECK(engine_sched_split(&s, &t) == 4);
    CHECK(s.count[0].outstanding == 4 && s.split_level == 1 && s.nretry == 4);
    for (i = 0; i < 4; i++) {
        CHECK(engine_sched_take(&s, 0, &u) && u.level == 1 && u.t.width == 64 && u.t.height == 64);
        got[n++] = u.t;
    }
    CHECK(partitions(&tiles[0], got, n));
    /* The next fresh tile comes split already: one piece now, three queued. */
    CHECK(engine_sched_take(&s, 0, &u) && u.t.id == 1 && u.level == 1 && u.t.width == 64);
    CHECK(s.nretry == 3 && s.count[1].outstanding == 4);
    n = 0;
    got[n++] = u.t;
    while (s.nretry > 0 && engine_sched_take(&s, 0, &u))
        got[n++] = u.t;
    CHECK(n == 4 && partitions(&tiles[1], got, n));
    /* Stored pieces count down; numbers go up. */
    for (i = 0; i < 3; i++)
        CHECK(engine_sched_piece_stored(&s, 1) == 0);
    CHECK(engine_sched_piece_stored(&s, 1) == 1);
    CHECK(engine_sched_piece_number(&s, 1) == 0 && engine_sched_piece_number(&s, 1) == 1);
    engine_sched_tile_done(&s, 1);
    CHECK(s.done[1] && s.tiles_left == NTILES - 1);
    engine_sched_free(&s);

    /* The floor: 64 pixels are not split, 72 are. */
    sched_for(&s, &p, 8, 8, 0, 5, 50);
    memset(&t, 0, sizeof t);
    t.t.width = 8;
    t.t.height = 8;
    CHECK(engine_sched_split(&s, &t) == 0 && s.nretry == 0 && s.split_level == 0);
    t.t.width = 9;
    CHECK(engine_sched_split(&s, &t) == 4 && s.nretry == 4);
    /* Up-front splits stop at ENGINE_MAX_PRESPLIT levels. */
    t.level = ENGINE_MAX_PRESPLIT;
    t.t.width = 128;
    t.t.height = 128;
    CHECK(engine_sched_split(&s, &t) == 4 && s.split_level == 1);
    engine_sched_free(&s);
}

/* Makespan splits: a fresh tile is taken in four parts (level 0, covering
 * it) while the limit climbs and in the last quarter round of fresh tiles;
 * never when the parts would be under makespan_min_px, never with
 * makespan_min_px 0, never while more fresh tiles than a quarter round are
 * left at the ceiling. */
static void test_makespan(void)
{
    static struct grid_tile tiles[64];
    struct grid_tile got[8];
    struct grid_plan p;
    struct engine_sched s;
    struct engine_sched_config c = {8, 4, 0, 0, 0, 64 * 64};
    struct engine_task t;
    int i, n;

    memset(&p, 0, sizeof p);
    p.block = 64;
    p.tiles = tiles;
    p.ntiles = 64;
    for (i = 0; i < 64; i++) {
        memset(&tiles[i], 0, sizeof tiles[i]);
        tiles[i].id = (size_t)i;
        tiles[i].col = (long)i * 128;
        tiles[i].width = 128;
        tiles[i].height = 128;
        tiles[i].nbands = 1;
    }
    /* The ramp (limit 4 of 8, slow start): four parts of tile 0. */
    CHECK(engine_sched_init(&s, &p, NULL, 0) == 0);
    engine_sched_configure(&s, &c, 0);
    n = 0;
    for (i = 0; i < 4; i++) {
        CHECK(engine_sched_take(&s, 0, &t) && t.t.id == 0 && t.level == 0 && t.t.width == 64);
        got[n++] = t.t;
    }
    CHECK(partitions(&tiles[0], got, n) && s.count[0].outstanding == 4 && s.makespan_splits == 1);
    CHECK(!engine_sched_take(&s, 0, &t));   /* the limit, 4 */
    /* At the ceiling, with fresh tiles for more than a round: whole tiles. */
    for (i = 0; i < 4; i++) {
        engine_sched_release(&s);
        engine_sched_success(&s);
    }
    CHECK(s.limit == 8);
    for (i = 0; i < 8; i++)
        CHECK(engine_sched_take(&s, 0, &t) && t.t.id == (size_t)i + 1 && t.t.width == 128);
    /* The last quarter round (fewer than 8 / 4 fresh tiles left): split. */
    s.next_fresh = 63;
    engine_sched_release(&s);
    CHECK(engine_sched_take(&s, 0, &t) && t.t.id == 63 && t.t.width == 64 && s.nretry == 3);
    CHECK(s.makespan_splits == 2);
    engine_sched_free(&s);

    /* At the ceiling, 2 fresh tiles for 8 slots: split. Parts under the
     * minimum: whole. makespan_min_px 0: whole. 3 fresh tiles: whole. */
    for (i = 0; i < 4; i++) {
        long long minpx = i == 1 ? 64 * 64 + 1 : i == 2 ? 0 : 64 * 64;
        struct engine_sched_config c2 = {8, 8, 0, 0, 0, minpx};
        p.ntiles = i == 3 ? 3 : 2;
        CHECK(engine_sched_init(&s, &p, NULL, 0) == 0);
        engine_sched_configure(&s, &c2, 0);
        CHECK(engine_sched_take(&s, 0, &t) && t.t.id == 0);
        CHECK(t.t.width == (i == 0 ? 64 : 128) && s.nretry == (i == 0 ? 3u : 0u));
        engine_sched_free(&s);
    }
    p.ntiles = 64;
}

/* A resumed run: journaled tiles are never taken again. */
static void test_resumed(void)
{
    struct grid_tile tiles[NTILES];
    struct grid_plan p;
    struct engine_sched s;
    struct engine_sched_config c = {4, 0, 0, 0, 0, 0};
    struct engine_task t;
    unsigned char *done = calloc(NTILES, 1);
    int n = 0;

    make_plan(&p, tiles);
    if (!done)
        return;
    done[0] = done[2] = 1;
    CHECK(engine_sched_init(&s, &p, done, 2) == 0 && s.tiles_left == 2);
    engine_sched_configure(&s, &c, 0);
    while (engine_sched_take(&s, 0, &t)) {
        CHECK(t.t.id == 1 || t.t.id == 3);
        n++;
    }
    CHECK(n == 2);
    engine_sched_free(&s);
}

int main(void)
{
    test_limit();
    test_slow_start();
    test_aimd();
    test_retries();
    test_split();
    test_makespan();
    test_resumed();
    return CHECK_DONE();
}
