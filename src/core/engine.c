/* The tile engine (see engine.h and docs/engine.md). */
#include "core/engine.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <cpl_error.h>

#include "core/decode.h"
#include "core/exprtext.h"
#include "core/journal.h"
#include "core/mosaic.h"
#include "core/session.h"
#include "util/buf.h"
#include "util/ee.h"
#include "util/log.h"
#include "util/timeutil.h"


/* A piece of work: a tile, or a part of a split tile. */
struct task {
    struct grid_tile t;     /* t.id is the planned tile it belongs to */
    int attempts;           /* transient failures so far (429s apart) */
    int throttled;          /* 429 answers so far */
    int level;              /* quad splits between the planned tile and this piece */
    int64_t not_before;     /* monotonic ms */
};

#define MAX_PRESPLIT 6          /* 4^6 pieces per tile at most */

struct tile_state {
    int outstanding;        /* pieces not stored yet */
    int next_k;             /* next piece number */
    struct mosaic_piece *pieces;
    int npieces, cap;
};

struct engine {
    const struct engine_opts *o;
    const struct download_spec *s;
    struct grid_plan plan;
    struct journal *journal;
    char parts[4096];
    const char *endpoint, *project;
    int max_retries, base_ms, cap_ms;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned char *done;    /* per tile */
    struct tile_state *ts;
    size_t next_fresh;      /* next planned tile never tried */
    struct task *retry;     /* retries and split parts */
    size_t nretry, capretry;
    size_t tiles_left;
    int active, limit, max_limit, succ;
    int slow_start;         /* 1 until the first 429 */
    int split_level;        /* splits a failing tile needed; fresh tiles start split */
    int64_t last_cut_ms;
    int fatal;              /* error code of the first fatal failure, 0 = none */
    struct errbuf fatal_err;
    int cancel;             /* atomic: set with fatal, read by sessions mid-transfer */
    int disk_full;          /* atomic: GDAL reported ENOSPC/EFBIG/EDQUOT while writing */
    char disk_full_msg[256];    /* that report, written once by whoever set disk_full */
    struct mosaic_piece *all;   /* pieces of finished tiles */
    size_t nall, capall;
    /* Streaming assembly: the assembler thread copies all[assembled..nall)
     * into the output while tiles are still being fetched. */
    struct mosaic_writer *writer;
    size_t assembled;
    /* Pixels handed to the assembler in memory: mem[i] belongs to all[i]
     * (mem NULL: read from the store). At most held_max held at once, and
     * spare buffers kept in pool for the workers' next tiles. */
    struct mosaic_pbuf *mem;
    size_t held, held_max;
    struct mosaic_pbuf *pool;
    size_t npool, pool_max;
    char **prefix;          /* request JSON up to "grid": per band group */
    char *expression;       /* the expression sent (s->expression, or it unmasked) */
    int unmasked;           /* the expression was wrapped in Image.unmask */
    /* Per band: the type its answers carry, declared (the image's info,
     * band_declared set) or that of the first answer; every later answer
     * must bring the same (under the lock). AUTO: none seen yet. */
    enum spec_dtype *band_type;
    unsigned char *band_declared;
    struct engine_summary *sum;
};

struct worker {
    struct engine *en;
    pthread_t thread;
    int started;
    uint64_t rng;
    struct buf body;
    struct mosaic_pbuf pb;  /* the piece being stored */
    struct http_result res; /* the last answer, for its buffer */
};

/* ---- classification ---- */

enum engine_class engine_classify(long status, const char *message)
{
    static const char *const splittable[] = {"Total request size", "Pixel grid dimensions",
                                             "User memory limit exceeded", "Computation timed out"};
    size_t i;

    if (status == 200)
        return ENGINE_OK;
    if (status == 0 || status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
        status == 504)
        return ENGINE_TRANSIENT;
    if (status == 401)
        return ENGINE_AUTH;
    if (status == 400 && message) {
        for (i = 0; i < sizeof splittable / sizeof splittable[0]; i++)
            if (strstr(message, splittable[i]))
                return ENGINE_SPLITTABLE;
        /* EE's aggregation throttle: backing off helps, splitting does not. */
        if (strstr(message, "Too many concurrent aggregations"))
            return ENGINE_TRANSIENT;
    }
    return ENGINE_FATAL;
}

/* ---- helpers ---- */

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: enough for jitter, and per-worker so no locking. */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ULL;
}

static int stop_requested(const struct engine *en)
{
    return en->o->stop && *en->o->stop;
}

/* Waits on the engine's condition variable (caller holds the lock) for at
 * most ms milliseconds. */
static void wait_locked(struct engine *en, int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&en->cv, &en->mu, &ts);
}

/* session_opts.should_abort: requests in flight are cancelled as soon as
 * the run is over (a fatal error or a stop) instead of running to their end
 * or their time-out. Read without the engine lock (from curl's callback). */
static int should_abort(void *ud)
{
    const struct engine *en = ud;

    return __atomic_load_n(&en->cancel, __ATOMIC_RELAXED) || stop_requested(en);
}

static void emit(struct engine *en, enum engine_event_kind kind, size_t tile, long status, const char *msg)
{
    struct engine_event ev;

    if (!en->o->on_event)
        return;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.tile_id = tile;
    ev.http_status = status;
    ev.message = msg;
    ev.tiles_total = en->sum->tiles_total;
    ev.tiles_done = en->sum->tiles_total - en->tiles_left;
    ev.tiles_resumed = en->sum->tiles_resumed;
    ev.bytes = en->sum->bytes;
    ev.concurrency = en->limit;
    ev.active = en->active;
    ev.retries = en->sum->retries;
    ev.plan = &en->plan;
    ev.done = en->done;
    en->o->on_event(&ev, en->o->ud);
}

static int is_disk_full_msg(const char *m)
{
    return m && (strstr(m, "No space left on device") || strstr(m, "Disk quota exceeded") ||
                 strstr(m, "File too large"));
}

/* GDAL error handler of the engine's threads: quiet (errors reach the
 * caller through errbuf), but it remembers a full disk, because libtiff's
 * last message is often a consequence ("IO error writing directory"), not
 * the cause. */
static void CPL_STDCALL on_gdal_error(CPLErr cls, CPLErrorNum num, const char *msg)
{
    struct engine *en = CPLGetErrorHandlerUserData();

    (void)cls;
    (void)num;
    /* The first such message is the cause worth showing. */
    if (en && is_disk_full_msg(msg) && __atomic_exchange_n(&en->disk_full, 1, __ATOMIC_ACQ_REL) == 0)
        snprintf(en->disk_full_msg, sizeof en->disk_full_msg, "%s", msg);
}

/* Records the first fatal failure (caller holds the lock). */
static void set_fatal_locked(struct engine *en, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_fatal_locked(struct engine *en, int code, const char *fmt, ...)
{
    va_list ap;

    if (en->fatal)
        return;
    en->fatal = code;
    __atomic_store_n(&en->cancel, 1, __ATOMIC_RELAXED);
    va_start(ap, fmt);
    vsnprintf(en->fatal_err.msg, sizeof en->fatal_err.msg, fmt, ap);
    va_end(ap);
    pthread_cond_broadcast(&en->cv);
}

static int push_retry_locked(struct engine *en, const struct task *t)
{
    if (en->nretry == en->capretry) {
        size_t ncap = en->capretry ? en->capretry * 2 : 16;
        struct task *n = realloc(en->retry, ncap * sizeof *n);
        if (!n)
            return ERR_NOMEM;
        en->retry = n;
        en->capretry = ncap;
    }
    en->retry[en->nretry++] = *t;
    return 0;
}

static int add_all_locked(struct engine *en, const struct mosaic_piece *p, size_t n)
{
    if (n == 0)
        return 0;
    if (en->nall + n > en->capall) {
        size_t ncap = en->capall ? en->capall : 64;
        struct mosaic_piece *np;
        while (ncap < en->nall + n)
            ncap *= 2;
        np = realloc(en->all, ncap * sizeof *np);
        if (!np)
            return ERR_NOMEM;
        en->all = np;
        if (en->held_max) {
            struct mosaic_pbuf *nm = realloc(en->mem, ncap * sizeof *nm);
            if (!nm)
                return ERR_NOMEM;
            memset(nm + en->capall, 0, (ncap - en->capall) * sizeof *nm);
            en->mem = nm;
        }
        en->capall = ncap;
    }
    memcpy(en->all + en->nall, p, n * sizeof *p);
    en->nall += n;
    return 0;
}

/* Once whole tiles have needed splitting (EE's memory or time limit), the
 * next fresh tiles are split as far up front instead of each failing once
 * first: fewer wasted requests. The pieces but `out` are queued. On
 * allocation failure the tile simply stays whole. */
static void presplit_locked(struct engine *en, struct task *out)
{
    struct grid_tile *cur, *next, parts[4];
    size_t ncur = 1, nnext, i;
    int lvl, k, n;

    cur = malloc(sizeof *cur);
    if (!cur)
        return;
    cur[0] = out->t;
    for (lvl = 0; lvl < en->split_level; lvl++) {
        next = malloc(ncur * 4 * sizeof *next);
        if (!next) {
            free(cur);
            return;
        }
        nnext = 0;
        for (i = 0; i < ncur; i++) {
            n = (long long)cur[i].width * cur[i].height > ENGINE_SPLIT_FLOOR_PX
                    ? grid_tile_split(&cur[i], en->plan.block, parts)
                    : 0;
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
        struct task p;
        memset(&p, 0, sizeof p);
        p.t = cur[i];
        p.level = en->split_level;
        if (push_retry_locked(en, &p) < 0) {
            /* Undo the parts queued so far (the last i-1 entries) and
             * leave the tile whole. */
            en->nretry -= i - 1;
            free(cur);
            return;
        }
    }
    out->t = cur[0];
    out->level = en->split_level;
    en->ts[out->t.id].outstanding = (int)ncur;
    free(cur);
}

/* Takes the next task that may run now: a due retry first, then a fresh tile. */
static int pick_locked(struct engine *en, int64_t now, struct task *out)
{
    size_t i;

    for (i = 0; i < en->nretry; i++) {
        if (en->retry[i].not_before <= now) {
            *out = en->retry[i];
            en->retry[i] = en->retry[--en->nretry];
            return 1;
        }
    }
    while (en->next_fresh < en->plan.ntiles && en->done[en->next_fresh])
        en->next_fresh++;
    if (en->next_fresh < en->plan.ntiles) {
        memset(out, 0, sizeof *out);
        out->t = en->plan.tiles[en->next_fresh++];
        en->ts[out->t.id].outstanding = 1;
        en->ts[out->t.id].next_k = 0;
        if (en->split_level > 0)
            presplit_locked(en, out);
        return 1;
    }
    return 0;
}

/* Slow start, then AIMD, as TCP does: until the first 429 every success
 * adds one (the level doubles each round trip, so a 40-worker run reaches
 * its ceiling after ~40 answers instead of ~800); after it, +1 per window
 * of `limit` successes. A 429 halves the level (at most once a second,
 * because requests already in flight at the old level will see 429s too
 * and must not cut it again). */
static void on_success_locked(struct engine *en)
{
    if (en->limit >= en->max_limit)
        return;
    if (en->slow_start || ++en->succ >= en->limit) {
        en->succ = 0;
        en->limit++;
        if (en->limit > en->sum->max_concurrency)
            en->sum->max_concurrency = en->limit;
        emit(en, ENGINE_EV_CONCURRENCY, 0, 0, NULL);
        pthread_cond_broadcast(&en->cv);
    }
}

static void on_429_locked(struct engine *en, int64_t now)
{
    en->sum->http_429++;
    en->slow_start = 0;
    if (now - en->last_cut_ms < 1000)
        return;
    en->last_cut_ms = now;
    en->succ = 0;
    if (en->limit > 1) {
        en->limit /= 2;
        emit(en, ENGINE_EV_CONCURRENCY, 0, 0, NULL);
    }
}

/* ---- request JSON ---- */

static int append_json_string(struct buf *b, const char *s)
{
    int rc = buf_append(b, "\"", 1);

    for (; rc == 0 && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            rc = buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            rc = buf_printf(b, "\\u%04x", c);
        else
            rc = buf_append(b, s, 1);
    }
    return rc ? rc : buf_append(b, "\"", 1);
}

/* The constant part of every request of a band group: the expression is
 * serialized once and sent identically, so only "grid" differs between
 * requests (EE can reuse cached sub-computations). */
static int build_prefixes(struct engine *en, struct errbuf *e)
{
    const struct download_spec *s = en->s;
    size_t ngroups = (s->nbands + (size_t)en->plan.band_group - 1) / (size_t)en->plan.band_group, g;

    en->prefix = calloc(ngroups, sizeof *en->prefix);
    if (!en->prefix)
        return err_set(e, ERR_NOMEM, "out of memory");
    for (g = 0; g < ngroups; g++) {
        struct buf b;
        size_t i, b0 = g * (size_t)en->plan.band_group;
        int rc = 0;
        buf_init(&b, 0);
        rc |= buf_append_str(&b, "{\"expression\":");
        rc |= buf_append_str(&b, en->expression);
        rc |= buf_printf(&b, ",\"fileFormat\":\"%s\",\"bandIds\":[",
                         s->fetch_format == SPEC_FETCH_GEOTIFF ? "GEO_TIFF" : "NPY");
        for (i = b0; i < s->nbands && i < b0 + (size_t)en->plan.band_group; i++) {
            if (i > b0)
                rc |= buf_append(&b, ",", 1);
            rc |= append_json_string(&b, s->bands[i].id);
        }
        rc |= buf_append_str(&b, "],\"grid\":");
        if (rc) {
            buf_free(&b);
            return err_set(e, ERR_NOMEM, "out of memory");
        }
        en->prefix[g] = buf_steal(&b, NULL);
    }
    return 0;
}

static int build_body(const struct engine *en, const struct grid_tile *t, struct buf *b)
{
    double a[6];
    int rc = 0;

    grid_window_affine(&en->plan.grid, t->col, t->row, a);
    buf_reset(b);
    rc |= buf_append_str(b, en->prefix[t->band0 / en->plan.band_group]);
    if (strncmp(en->plan.grid.crs, "EPSG:", 5) == 0) {
        rc |= buf_printf(b, "{\"crsCode\":\"%s\"", en->plan.grid.crs);
    } else {
        rc |= buf_append_str(b, "{\"crsWkt\":");
        rc |= append_json_string(b, en->plan.grid.crs);
    }
    rc |= buf_printf(b,
                     ",\"affineTransform\":{\"scaleX\":%.17g,\"shearX\":0,\"translateX\":%.17g,"
                     "\"shearY\":0,\"scaleY\":%.17g,\"translateY\":%.17g},"
                     "\"dimensions\":{\"width\":%ld,\"height\":%ld}}}",
                     a[0], a[2], a[4], a[5], t->width, t->height);
    return rc ? ERR_NOMEM : 0;
}

/* ---- outcomes ---- */

static void transient(struct worker *w, struct task *t, long status, const char *msg, long retry_after_s)
{
    struct engine *en = w->en;
    int64_t now = time_mono_ms(), delay, span;
    int shift;

    pthread_mutex_lock(&en->mu);
    en->sum->retries++;
    if (status == 429)
        on_429_locked(en, now);
    /* A 429 says "later", not "broken": it has its own, larger budget so a
     * busy project slows a download down instead of failing it. */
    if (status == 429)
        t->throttled++;
    else
        t->attempts++;
    if (t->attempts > en->max_retries || t->throttled > ENGINE_MAX_THROTTLED) {
        char what[32] = "";
        if (status)
            snprintf(what, sizeof what, "HTTP %ld: ", status);
        set_fatal_locked(en, ERR_SERVER,
                         "tile %zu (pixels %ld,%ld size %ldx%ld): gave up after %d attempts; last error: %s%s",
                         t->t.id, t->t.col, t->t.row, t->t.width, t->t.height, t->attempts + t->throttled,
                         what, msg);
    } else {
        /* Full jitter: uniform in [0, min(cap, base * 2^attempt)]. */
        shift = t->attempts + t->throttled < 20 ? t->attempts + t->throttled : 20;
        span = (int64_t)en->base_ms << shift;
        if (span > en->cap_ms)
            span = en->cap_ms;
        delay = span > 0 ? (int64_t)(rng_next(&w->rng) % (uint64_t)(span + 1)) : 0;
        /* Retry-After is honoured up to ENGINE_MAX_RETRY_AFTER_S: a server
         * asking for days (or 999999999 s) must not park the run for that
         * long. Compared in seconds, so a huge value cannot overflow. */
        if (retry_after_s > 0 && retry_after_s > delay / 1000)
            delay = (int64_t)(retry_after_s < ENGINE_MAX_RETRY_AFTER_S ? retry_after_s : ENGINE_MAX_RETRY_AFTER_S) *
                    1000;
        t->not_before = now + delay;
        if (push_retry_locked(en, t) < 0)
            set_fatal_locked(en, ERR_NOMEM, "out of memory");
        else
            emit(en, ENGINE_EV_RETRY, t->t.id, status, msg);
    }
    pthread_cond_broadcast(&en->cv);
    pthread_mutex_unlock(&en->mu);
}

static void split(struct worker *w, struct task *t, const char *msg)
{
    struct engine *en = w->en;
    struct grid_tile parts[4];
    int n = 0, i;

    if ((long long)t->t.width * t->t.height > ENGINE_SPLIT_FLOOR_PX)
        n = grid_tile_split(&t->t, en->plan.block, parts);
    pthread_mutex_lock(&en->mu);
    if (n == 0) {
        set_fatal_locked(en, ERR_SERVER,
                         "tile %zu (pixels %ld,%ld size %ldx%ld) still fails after splitting: %s\n"
                         "hint: the computation is too heavy even for a tiny tile; simplify the "
                         "expression (fewer images or bands, a coarser scale), or export it to an asset "
                         "first",
                         t->t.id, t->t.col, t->t.row, t->t.width, t->t.height, msg);
    } else {
        en->ts[t->t.id].outstanding += n - 1;
        en->sum->splits++;
        if (t->level + 1 > en->split_level && t->level + 1 <= MAX_PRESPLIT)
            en->split_level = t->level + 1;
        for (i = 0; i < n; i++) {
            struct task p;
            memset(&p, 0, sizeof p);
            p.t = parts[i];
            p.level = t->level + 1;
            if (push_retry_locked(en, &p) < 0) {
                set_fatal_locked(en, ERR_NOMEM, "out of memory");
                break;
            }
        }
        emit(en, ENGINE_EV_SPLIT, t->t.id, 400, msg);
    }
    pthread_cond_broadcast(&en->cv);
    pthread_mutex_unlock(&en->mu);
}

/* Hands *held, just stored as the only piece of a tile whose piece is
 * all[i], to the assembler, and puts a spare buffer (or none) in its
 * place. Caller holds the lock. */
static void hand_over_locked(struct engine *en, struct mosaic_pbuf *held, size_t i)
{
    if (!en->writer || !en->held_max || en->held >= en->held_max || !held->mem)
        return;
    en->mem[i] = *held;
    en->held++;
    memset(held, 0, sizeof *held);
    if (en->npool)
        *held = en->pool[--en->npool];
}

/* A buffer the assembler is done with: kept for a worker, or freed. */
static void give_back_locked(struct engine *en, struct mosaic_pbuf *b)
{
    if (en->npool < en->pool_max)
        en->pool[en->npool++] = *b;
    else
        mosaic_pbuf_free(b);
    memset(b, 0, sizeof *b);
}

/* A piece is stored: when it was the tile's last, journal the tile. held:
 * the buffer holding the stored piece, which the assembler may take. */
static void piece_done(struct worker *w, const struct task *t, const struct mosaic_piece *p,
                       struct mosaic_pbuf *held)
{
    struct engine *en = w->en;
    struct tile_state *ts = &en->ts[t->t.id];
    struct errbuf e;
    int complete = 0, rc = 0;

    pthread_mutex_lock(&en->mu);
    if (ts->npieces == ts->cap) {
        int ncap = ts->cap ? ts->cap * 2 : 1;
        struct mosaic_piece *np = realloc(ts->pieces, (size_t)ncap * sizeof *np);
        if (!np) {
            set_fatal_locked(en, ERR_NOMEM, "out of memory");
            pthread_mutex_unlock(&en->mu);
            return;
        }
        ts->pieces = np;
        ts->cap = ncap;
    }
    ts->pieces[ts->npieces++] = *p;
    complete = --ts->outstanding == 0;
    pthread_mutex_unlock(&en->mu);
    if (!complete)
        return;

    /* No other thread touches a tile whose pieces are all stored. */
    rc = journal_append(en->journal, t->t.id, ts->pieces, ts->npieces, &e);
    pthread_mutex_lock(&en->mu);
    if (rc < 0) {
        set_fatal_locked(en, rc, "%s", e.msg);
    } else if (add_all_locked(en, ts->pieces, (size_t)ts->npieces) < 0) {
        set_fatal_locked(en, ERR_NOMEM, "out of memory");
    } else {
        if (held && ts->npieces == 1)
            hand_over_locked(en, held, en->nall - 1);
        en->done[t->t.id] = 1;
        en->tiles_left--;
        en->sum->tiles_fetched++;
        emit(en, ENGINE_EV_TILE_DONE, t->t.id, 200, NULL);
    }
    free(ts->pieces);
    ts->pieces = NULL;
    ts->npieces = ts->cap = 0;
    pthread_cond_broadcast(&en->cv);
    pthread_mutex_unlock(&en->mu);
}

/* Stores a piece; pixels of a tile that straddles a polygon region's edge
 * get nodata (0 without nodata) outside the polygon, and 0 (masked) in a
 * mask band. */
static int store_masked(struct engine *en, const struct grid_tile *t, struct mosaic_piece *p,
                        const struct decoded_tile *dt, struct errbuf *e)
{
    unsigned char *mask = NULL;
    int last_is_mask = en->s->mask_band && t->band0 + t->nbands == (int)en->s->nbands;
    int inside = 1, rc, b;

    /* The 0/1 mask band fits any type: the piece takes its data bands'
     * type, so a mask band never widens the output (int8 + uint8 would). */
    if (last_is_mask && p->type == SPEC_DTYPE_AUTO && dt->nbands > 1)
        for (b = 0; b < dt->nbands - 1; b++)
            p->type = mosaic_type_union(p->type, dt->bands[b].type);

    if (en->plan.region) {
        mask = malloc((size_t)t->width * (size_t)t->height);
        if (!mask)
            return err_set(e, ERR_NOMEM, "out of memory");
        if ((rc = grid_region_mask(&en->plan, t, mask, &inside, e)) < 0) {
            free(mask);
            return rc;
        }
    }
    rc = mosaic_store_piece(en->parts, p, dt, inside ? NULL : mask, en->s->has_nodata ? en->s->nodata : 0,
                            last_is_mask, e);
    free(mask);
    return rc;
}

static void fail_tile(struct engine *en, const struct task *t, int rc, const struct errbuf *e)
{
    pthread_mutex_lock(&en->mu);
    if (rc == ERR_NOMEM)
        set_fatal_locked(en, rc, "%s", e->msg);
    else
        set_fatal_locked(en, rc, "tile %zu: %s", t->t.id, e->msg);
    pthread_mutex_unlock(&en->mu);
}

/* The largest answer a piece may have: its pixels (a band of unknown type,
 * one that unmasking may widen, the mask band and any band of a GeoTIFF,
 * whose bands share the widest type, at 8 bytes), plus the format's
 * overhead: a NPY header, a GeoTIFF's structure (tag tables of up to a
 * strip per row and band, a compression that did not pay), or an error
 * body. A larger answer is a server fault (transient), and memory per
 * request stays of the order of the tile, whatever the server sends. */
static size_t answer_bound(const struct engine *en, const struct grid_tile *t)
{
    const struct download_spec *s = en->s;
    uint64_t px = (uint64_t)t->width * (uint64_t)t->height, raw = 0, bound;
    int b;

    for (b = 0; b < t->nbands; b++) {
        int g = t->band0 + b;
        enum spec_dtype ty = s->bands[g].type;
        int mask = s->mask_band && g == (int)s->nbands - 1;
        uint64_t size = ty == SPEC_DTYPE_AUTO || en->unmasked || mask || s->fetch_format == SPEC_FETCH_GEOTIFF
                            ? 8
                            : spec_dtype_size(ty);
        raw += px * size;
    }
    bound = raw + raw / 8 + ((uint64_t)64 << 10) + (256 + 32 * (uint64_t)t->height) * (uint64_t)t->nbands;
    return bound < SIZE_MAX ? (size_t)bound : SIZE_MAX;
}

/* Every answer of a band must bring the type declared for it or, when none
 * was, the type of its first answer: a server that changes a band's type
 * mid-run would otherwise widen the output silently (earlier tiles were
 * stored in the old type). The mask band's 0/1 fit any type, so it is not
 * checked. Fatal, naming band, tile and both types. */
static int check_band_types(struct engine *en, const struct task *t, const enum spec_dtype *got,
                            struct errbuf *e)
{
    const struct download_spec *s = en->s;
    int b, rc = 0;

    pthread_mutex_lock(&en->mu);
    for (b = 0; b < t->t.nbands && rc == 0; b++) {
        int g = t->t.band0 + b;
        if (s->mask_band && g == (int)s->nbands - 1)
            continue;
        if (en->band_type[g] == SPEC_DTYPE_AUTO)
            en->band_type[g] = got[b];
        else if (en->band_type[g] != got[b])
            rc = err_set(e, ERR_SERVER,
                         "tile %zu (pixels %ld,%ld size %ldx%ld): band '%s' came as %s, but %s %s; "
                         "the server changed the band's type during the run, and the tiles would not "
                         "agree\nhint: the server's answers are inconsistent; tiles already stored are "
                         "kept, so the same recipe run again resumes",
                         t->t.id, t->t.col, t->t.row, t->t.width, t->t.height, s->bands[g].id,
                         spec_dtype_name(got[b]),
                         en->band_declared[g] ? "the image's info declares it" : "earlier tiles had it as",
                         spec_dtype_name(en->band_type[g]));
    }
    pthread_mutex_unlock(&en->mu);
    return rc;
}

/* A fatal error whose message is complete (it names the tile). */
static void fail_run(struct engine *en, int rc, const struct errbuf *e)
{
    pthread_mutex_lock(&en->mu);
    set_fatal_locked(en, rc, "%s", e->msg);
    pthread_mutex_unlock(&en->mu);
}

/* A new piece of task t: its window, bands and number. */
static void piece_init(struct engine *en, const struct task *t, struct mosaic_piece *p)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_lock(&en->mu);
    on_success_locked(en);
    p->k = en->ts[t->t.id].next_k++;
    pthread_mutex_unlock(&en->mu);
    p->tile_id = t->t.id;
    p->col = t->t.col;
    p->row = t->t.row;
    p->width = t->t.width;
    p->height = t->t.height;
    p->band0 = t->t.band0;
    p->nbands = t->t.nbands;
    p->type = en->s->dtype;
}

/* The common case of an NPY answer: every band already has the piece's
 * type and no pixel needs masking, so the records are stored as they
 * arrived, without decoding them into planes. Returns 1 when the answer
 * needs the general path (decode_npy + store_masked), 0 when the piece is
 * stored, < 0 on failure (ERR_PARSE: a bad answer, to be fetched again). */
static int store_npy_direct(struct worker *w, const struct task *t, struct http_result *res,
                            const struct decode_expect *x, struct errbuf *e)
{
    struct engine *en = w->en;
    struct buf *body = &res->body;
    struct decode_npy_view v;
    struct mosaic_piece p;
    int rc;

    if ((rc = decode_npy_view(res->body.data, res->body.len, x, &v, e)) < 0)
        return rc;
    if (v.uniform) {
        enum spec_dtype got[GRID_MAX_BANDS];
        int b;
        for (b = 0; b < t->t.nbands; b++)
            got[b] = v.type;
        if ((rc = check_band_types(en, t, got, e)) < 0)
            return rc;
    }
    if (!v.uniform || (en->s->dtype != SPEC_DTYPE_AUTO && en->s->dtype != v.type))
        return 1;
    if (en->plan.region) {
        int inside = 1;
        if ((rc = grid_region_mask(&en->plan, &t->t, NULL, &inside, e)) < 0)
            return rc;
        if (!inside)
            return 1;
    }
    piece_init(en, t, &p);
    p.type = v.type;
    if (body->align && body->cap >= mosaic_pbuf_size(v.bytes)) {
        /* The answer's own buffer becomes the piece: the records move
         * down over the NPY header (one copy, no second buffer per worker),
         * are written without the page cache, and may then go to the
         * assembler as they are, the worker taking a spare buffer. */
        struct mosaic_pbuf in_place = {(unsigned char *)body->data, body->cap, 0, 0, 0};
        /* The checksum is taken in the same pass as the move. */
        mosaic_pbuf_move_in(&in_place, v.data, v.bytes);
        body->len = 0;
        if ((rc = mosaic_store_pbuf(en->parts, &p, 1, &in_place, e)) < 0)
            return rc;
        piece_done(w, t, &p, &in_place);
        body->data = (char *)in_place.mem;
        body->cap = in_place.cap;
        if (body->data)
            body->data[0] = '\0';
        return 0;
    }
    if (mosaic_pbuf_reserve(&w->pb, v.bytes) != 0)
        return err_set(e, ERR_NOMEM, "out of memory");
    mosaic_pbuf_move_in(&w->pb, v.data, v.bytes);
    if ((rc = mosaic_store_pbuf(en->parts, &p, 1, &w->pb, e)) < 0)
        return rc;
    piece_done(w, t, &p, &w->pb);
    return 0;
}

/* Gives a finished request's result back to its worker for reuse. */
static void keep_result(struct worker *w, struct http_result *res)
{
    w->res = *res;
    memset(res, 0, sizeof *res);
}

static void handle_task(struct worker *w, struct session *sess, struct task *t)
{
    struct engine *en = w->en;
    const struct download_spec *s = en->s;
    struct http_result res;
    struct errbuf e;
    char msg[1024];
    int rc;

    /* The worker's body buffer, kept from request to request: the next
     * answer is written into memory that is already mapped. */
    res = w->res;
    memset(&w->res, 0, sizeof w->res);
    if (build_body(en, &t->t, &w->body) < 0) {
        pthread_mutex_lock(&en->mu);
        set_fatal_locked(en, ERR_NOMEM, "out of memory");
        pthread_mutex_unlock(&en->mu);
        return;
    }
    session_set_max_response(sess, answer_bound(en, &t->t));
    rc = session_post_reuse(sess, "image:computePixels", w->body.data, w->body.len, &res, &e);
    pthread_mutex_lock(&en->mu);
    en->sum->requests++;
    if (rc == 0)
        en->sum->bytes += res.body.len;
    pthread_mutex_unlock(&en->mu);

    if (rc == ERR_INTERRUPTED) {
        /* Cancelled because the run is ending: nothing to retry or record. */
        keep_result(w, &res);
        return;
    } else if (rc == ERR_AUTH) {
        /* The token could not be had (refresh refused, key rejected): no
         * retry can fix that, every worker would meet the same answer. */
        pthread_mutex_lock(&en->mu);
        set_fatal_locked(en, ERR_AUTH, "%s\nhint: check `eefetch auth`", e.msg);
        pthread_mutex_unlock(&en->mu);
    } else if (rc < 0) {
        /* Transport: reset, timeout, refused. */
        transient(w, t, 0, e.msg, -1);
    } else if (res.status == 200) {
        const char *ids[GRID_MAX_BANDS];
        enum spec_dtype types[GRID_MAX_BANDS];
        double aff[6];
        struct decode_expect x;
        struct decoded_tile dt;
        int b;

        for (b = 0; b < t->t.nbands; b++)
            ids[b] = s->bands[t->t.band0 + b].id;
        grid_window_affine(&en->plan.grid, t->t.col, t->t.row, aff);
        x.width = t->t.width;
        x.height = t->t.height;
        x.nbands = t->t.nbands;
        x.band_ids = ids;
        /* Any type decodes; check_band_types then holds each band to its
         * declared or first type (not the mask band: its 0/1 fit any
         * type), with an error that names them. */
        x.types = NULL;
        x.affine = aff;
        if (s->fetch_format != SPEC_FETCH_GEOTIFF) {
            rc = store_npy_direct(w, t, &res, &x, &e);
            if (rc <= 0) {
                keep_result(w, &res);
                if (rc == ERR_PARSE)
                    transient(w, t, 0, e.msg, -1);   /* truncated or mis-sized: fetched again */
                else if (rc == ERR_SERVER)
                    fail_run(en, rc, &e);            /* a band's type changed */
                else if (rc < 0)
                    fail_tile(en, t, rc, &e);
                return;
            }
        }
        rc = s->fetch_format == SPEC_FETCH_GEOTIFF ? decode_geotiff(res.body.data, res.body.len, &x, &dt, &e)
                                                   : decode_npy(res.body.data, res.body.len, &x, &dt, &e);
        /* Off the common path the answer is decoded into planes and then
         * converted into a piece: freeing it here keeps two copies per
         * worker at most, not three. */
        http_result_free(&res);
        buf_init_aligned(&res.body, 0);
        keep_result(w, &res);
        if (rc == ERR_NOMEM) {
            pthread_mutex_lock(&en->mu);
            set_fatal_locked(en, rc, "%s", e.msg);
            pthread_mutex_unlock(&en->mu);
            return;
        }
        if (rc < 0) {
            /* Truncated or mis-sized: never written, fetched again. */
            transient(w, t, 0, e.msg, -1);
            return;
        }
        for (b = 0; b < dt.nbands && b < t->t.nbands; b++)
            types[b] = dt.bands[b].type;
        if ((rc = check_band_types(en, t, types, &e)) < 0) {
            decoded_tile_free(&dt);
            fail_run(en, rc, &e);
            return;
        }
        {
            struct mosaic_piece p;
            piece_init(en, t, &p);
            rc = store_masked(en, &t->t, &p, &dt, &e);
            decoded_tile_free(&dt);
            if (rc < 0) {
                fail_tile(en, t, rc, &e);
                return;
            }
            piece_done(w, t, &p, NULL);
        }
        return;
    } else {
        enum engine_class c;
        session_error_message(&res, msg, sizeof msg);
        c = engine_classify(res.status, msg);
        if (c == ENGINE_TRANSIENT) {
            transient(w, t, res.status, msg, res.retry_after_s);
        } else if (c == ENGINE_SPLITTABLE) {
            split(w, t, msg);
        } else {
            pthread_mutex_lock(&en->mu);
            if (c == ENGINE_AUTH)
                set_fatal_locked(en, ERR_AUTH,
                                 "Earth Engine refused the credentials (HTTP 401) even after a token "
                                 "refresh: %s\nhint: check `eefetch auth`",
                                 msg);
            else
                set_fatal_locked(en, ERR_SERVER, "tile %zu (pixels %ld,%ld size %ldx%ld): HTTP %ld: %s",
                                 t->t.id, t->t.col, t->t.row, t->t.width, t->t.height, res.status, msg);
            pthread_mutex_unlock(&en->mu);
        }
    }
    keep_result(w, &res);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct engine *en = w->en;
    struct session_opts so;
    struct session *sess = NULL;
    struct errbuf e;

    memset(&so, 0, sizeof so);
    so.endpoint = en->endpoint;
    so.project = en->project;
    so.auth = en->o->auth;
    so.timeout_ms = en->o->timeout_ms > 0 ? en->o->timeout_ms : EE_REQUEST_TIMEOUT_MS;
    so.should_abort = should_abort;
    so.abort_ud = en;
    if (session_create(&so, &sess, &e) < 0) {
        pthread_mutex_lock(&en->mu);
        set_fatal_locked(en, ERR_USAGE, "%s", e.msg);
        pthread_mutex_unlock(&en->mu);
        return NULL;
    }
    /* Storing pieces: GDAL's errors come back in the fatal message. */
    CPLPushErrorHandlerEx(on_gdal_error, en);
    pthread_mutex_lock(&en->mu);
    for (;;) {
        struct task t;
        int64_t now = time_mono_ms(), wait_ms = 100;
        size_t i;

        if (en->fatal || en->tiles_left == 0 || stop_requested(en))
            break;
        if (en->active < en->limit && pick_locked(en, now, &t)) {
            en->active++;
            pthread_mutex_unlock(&en->mu);
            handle_task(w, sess, &t);
            pthread_mutex_lock(&en->mu);
            en->active--;
            pthread_cond_broadcast(&en->cv);
            continue;
        }
        /* Sleep until a retry is due, something changes, or 100 ms pass
         * (the stop flag is polled, not signalled). */
        for (i = 0; i < en->nretry; i++)
            if (en->retry[i].not_before - now < wait_ms)
                wait_ms = en->retry[i].not_before - now;
        if (wait_ms < 1)
            wait_ms = 1;
        wait_locked(en, wait_ms);
    }
    pthread_cond_broadcast(&en->cv);
    pthread_mutex_unlock(&en->mu);
    CPLPopErrorHandler();
    session_destroy(sess);
    return NULL;
}

/* ---- output ---- */

static int cell_path(const char *output, const struct grid_cell *c, char *out, size_t cap)
{
    const char *dot = strrchr(output, '.'), *slash = strrchr(output, '/');
    int stem = (int)strlen(output);

    if (dot && (!slash || dot > slash))
        stem = (int)(dot - output);
    return (size_t)snprintf(out, cap, "%.*s_r%d_c%d.tif", stem, output, c->cell_row, c->cell_col) < cap ? 0 : -1;
}

/* Provenance + the spec's own metadata. Strings live in store. */
static int build_metadata(const struct engine *en, struct spec_kv **out, size_t *n, char store[6][160])
{
    const struct download_spec *s = en->s;
    struct spec_kv *md = calloc(s->nmetadata + 6, sizeof *md);
    size_t k = 0, i;

    if (!md)
        return ERR_NOMEM;
    snprintf(store[0], 160, "%s", EEFETCH_VERSION);
    snprintf(store[1], 160, "%s", en->plan.expr_hash);
    snprintf(store[2], 160, "%s", en->plan.hash);
    time_format_rfc3339(time_now_ms(), store[3], 160);
    md[k].key = (char *)"EEFETCH_VERSION";
    md[k++].value = store[0];
    md[k].key = (char *)"EEFETCH_EXPRESSION_SHA256";
    md[k++].value = store[1];
    md[k].key = (char *)MOSAIC_PLAN_TAG;
    md[k++].value = store[2];
    md[k].key = (char *)"EEFETCH_CREATED";
    md[k++].value = store[3];
    if (s->recipe_path) {
        md[k].key = (char *)"EEFETCH_RECIPE";
        md[k++].value = s->recipe_path;
    }
    if (s->recipe_hash) {
        md[k].key = (char *)"EEFETCH_RECIPE_SHA256";
        md[k++].value = s->recipe_hash;
    }
    for (i = 0; i < s->nmetadata; i++)
        md[k++] = s->metadata[i];
    *out = md;
    *n = k;
    return 0;
}

/* The description of the output file(s) shared by every file the run
 * writes. names and md are allocated here; the caller frees them. */
static int output_describe(const struct engine *en, struct mosaic_out *mo, const char ***names,
                           struct spec_kv **md, char store[6][160], struct errbuf *e)
{
    const struct download_spec *s = en->s;
    size_t nmd = 0, i;

    *names = calloc(s->nbands, sizeof **names);
    if (!*names || build_metadata(en, md, &nmd, store) < 0)
        return err_set(e, ERR_NOMEM, "out of memory");
    for (i = 0; i < s->nbands; i++)
        (*names)[i] = s->bands[i].id;
    memset(mo, 0, sizeof *mo);
    mo->path = s->output;
    mo->grid = en->plan.grid;
    mo->nbands = (int)s->nbands;
    mo->mask_band = s->mask_band;
    mo->band_names = *names;
    mo->dtype = s->dtype;
    mo->has_nodata = s->has_nodata;
    mo->nodata = s->nodata;
    mo->format = s->format == SPEC_FORMAT_COG ? SPEC_FORMAT_COG : SPEC_FORMAT_GTIFF;
    mo->compression = s->compression;
    mo->compress_level = s->compress_level;
    mo->block = en->plan.block;
    mo->overview_resampling = s->overview_resampling;
    mo->band_interleave = en->plan.band_group < (int)s->nbands;
    mo->metadata = *md;
    mo->nmetadata = nmd;
    return 0;
}

/* The output type when it is known before any answer: the spec's dtype,
 * or the bands' common type when every band's is known and no unmask can
 * widen it. AUTO otherwise: the pieces' union, known only at the end. */
static enum spec_dtype known_output_type(const struct engine *en)
{
    enum spec_dtype t = SPEC_DTYPE_AUTO;
    size_t b;

    if (en->s->dtype != SPEC_DTYPE_AUTO)
        return en->s->dtype;
    if (en->unmasked)
        return SPEC_DTYPE_AUTO;
    for (b = 0; b < en->s->nbands - (en->s->mask_band ? 1 : 0); b++) {
        if (en->s->bands[b].type == SPEC_DTYPE_AUTO)
            return SPEC_DTYPE_AUTO;
        t = mosaic_type_union(t, en->s->bands[b].type);
    }
    return t;
}

/* Streaming assembly is possible for one output file of a known type:
 * the file is created now (so an unwritable output fails before anything
 * is fetched) and filled while tiles arrive. */
static int stream_open(struct engine *en, struct errbuf *e)
{
    struct mosaic_out mo;
    struct spec_kv *md = NULL;
    const char **names = NULL;
    char store[6][160];
    enum spec_dtype type = known_output_type(en);
    int rc;

    if (spec_files_per_cell(en->s) || type == SPEC_DTYPE_AUTO)
        return 0;
    if ((rc = output_describe(en, &mo, &names, &md, store, e)) == 0) {
        mo.dtype = type;
        CPLPushErrorHandlerEx(on_gdal_error, en);
        rc = mosaic_writer_open(&mo, &en->writer, e);
        CPLPopErrorHandler();
    }
    free(md);
    free(names);
    return rc;
}

/* A stored piece found damaged while the output is assembled (it passed
 * the check when it was stored or resumed): the next run checks the store
 * again and fetches that tile again. */
#define DAMAGED_HINT "; run the same recipe again: it checks the stored tiles and fetches this one again"

/* The assembler thread: copies finished tiles' pieces into the output in
 * the order they finish, until every tile is in or the run stops. Pieces
 * stay in the tile store until the output is complete, so a crash here
 * loses nothing: the next run assembles again from the store. */
static void *assembler_main(void *arg)
{
    struct engine *en = arg;
    struct errbuf e;

    CPLPushErrorHandlerEx(on_gdal_error, en);
    pthread_mutex_lock(&en->mu);
    for (;;) {
        if (en->fatal || stop_requested(en))
            break;
        if (en->assembled < en->nall) {
            struct mosaic_piece p = en->all[en->assembled];
            struct mosaic_pbuf b = {NULL, 0, 0, 0, 0};
            int rc;
            if (en->mem && en->mem[en->assembled].mem) {
                b = en->mem[en->assembled];
                memset(&en->mem[en->assembled], 0, sizeof b);
            }
            pthread_mutex_unlock(&en->mu);
            rc = b.mem ? mosaic_writer_add_mem(en->writer, &p, &b, &e)
                       : mosaic_writer_add(en->writer, en->parts, &p, &e);
            pthread_mutex_lock(&en->mu);
            if (b.mem) {
                en->held--;
                give_back_locked(en, &b);
            }
            if (rc < 0) {
                set_fatal_locked(en, rc, rc == ERR_PARSE ? "%s" DAMAGED_HINT : "%s", e.msg);
                break;
            }
            en->assembled++;
            continue;
        }
        if (en->tiles_left == 0)
            break;
        /* Woken by each finished tile; the stop flag is polled. */
        wait_locked(en, 100);
    }
    pthread_mutex_unlock(&en->mu);
    CPLPopErrorHandler();
    return NULL;
}

/* A piece of the mask band alone (its own band group): its uint8 says
 * nothing about the data's type. */
static int mask_only(const struct engine *en, const struct mosaic_piece *p)
{
    return en->s->mask_band && p->nbands == 1 && p->band0 == (int)en->s->nbands - 1;
}

static int assemble(struct engine *en, struct errbuf *e)
{
    const struct download_spec *s = en->s;
    struct mosaic_out mo;
    struct spec_kv *md = NULL;
    const char **names = NULL;
    char store[6][160];
    char **files = NULL;
    struct mosaic_piece *cellp = NULL;
    size_t i, c;
    int rc = 0;

    if (en->writer) {
        /* Streaming: the assembler thread has copied every piece. */
        struct mosaic_writer *w = en->writer;
        en->writer = NULL;
        return mosaic_writer_finish(w, e);
    }
    if ((rc = output_describe(en, &mo, &names, &md, store, e)) < 0)
        goto done;
    if (mo.dtype == SPEC_DTYPE_AUTO)   /* one type for every cell file */
        for (i = 0; i < en->nall; i++)
            if (!mask_only(en, &en->all[i]))
                mo.dtype = mosaic_type_union(mo.dtype, en->all[i].type);

    if (!spec_files_per_cell(s)) {
        rc = mosaic_assemble(&mo, en->parts, en->all, en->nall, e);
        goto done;
    }
    files = calloc(en->plan.ncells, sizeof *files);
    cellp = malloc((en->nall ? en->nall : 1) * sizeof *cellp);
    if (!files || !cellp) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    for (c = 0; c < en->plan.ncells; c++) {
        const struct grid_cell *cell = &en->plan.cells[c];
        char path[4096];
        size_t n = 0;
        if (cell_path(s->output, cell, path, sizeof path) < 0 || !(files[c] = strdup(path))) {
            rc = err_set(e, ERR_LIMIT, "cannot name the file of cell %zu", c);
            goto done;
        }
        for (i = 0; i < en->nall; i++)
            if (en->plan.tiles[en->all[i].tile_id].cell == c)
                cellp[n++] = en->all[i];
        mo.path = files[c];
        mo.grid = en->plan.grid;
        mo.grid.x0 = en->plan.grid.x0 + (double)cell->col * en->plan.grid.sx;
        mo.grid.y0 = en->plan.grid.y0 + (double)cell->row * en->plan.grid.sy;
        mo.grid.width = cell->width;
        mo.grid.height = cell->height;
        mo.col_off = cell->col;
        mo.row_off = cell->row;
        if ((rc = mosaic_assemble(&mo, en->parts, cellp, n, e)) < 0)
            goto done;
    }
    /* Last, over complete cells: a VRT at the output path means the whole
     * output is there. */
    rc = mosaic_write_vrt(s->output, (const char *const *)files, en->plan.ncells, &mo, e);
done:
    if (files)
        for (c = 0; c < en->plan.ncells; c++)
            free(files[c]);
    free(files);
    free(cellp);
    free(md);
    free(names);
    return rc;
}

/* ---- the run ---- */

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Why a file at an output path is not replaced without the user's word. */
static int refuse_existing(const char *path, enum mosaic_existing x, struct errbuf *e)
{
    if (x == MOSAIC_OTHER_PLAN)
        return err_set(e, ERR_USAGE,
                       "%s was written by eefetch for a different plan (the recipe's image, grid, bands or "
                       "output options changed since); it is not replaced: use overwrite = true in download{} "
                       "(or --overwrite) to replace it, or change output",
                       path);
    return err_set(e, ERR_USAGE,
                   "%s exists and was not written by eefetch (it has no " MOSAIC_PLAN_TAG " tag); it is not "
                   "replaced: move it away, change output, or use overwrite = true in download{} (or "
                   "--overwrite) to replace it",
                   path);
}

/* A rerun with no journal: is the output already there? Returns 1 when the
 * output (for files per cell: the VRT and every cell file) is complete and
 * tagged with this very plan, so there is nothing to do; 0 when the run
 * goes ahead (nothing there, or cells of this plan without their VRT and
 * some missing); ERR_USAGE when what is there is another plan's or not
 * eefetch's. Cells of this plan that are all there but lack their VRT (a
 * failure between the last cell and the VRT) only get the VRT written. */
static int check_existing(struct engine *en, struct errbuf *e)
{
    const struct download_spec *s = en->s;
    enum mosaic_existing x = mosaic_existing_output(s->output, en->plan.hash);
    size_t c, same = 0;
    int rc;

    if (x == MOSAIC_OTHER_PLAN || x == MOSAIC_FOREIGN)
        return refuse_existing(s->output, x, e);
    if (!spec_files_per_cell(s))
        return x == MOSAIC_SAME_PLAN;
    for (c = 0; c < en->plan.ncells; c++) {
        char path[4096];
        enum mosaic_existing cx;
        if (cell_path(s->output, &en->plan.cells[c], path, sizeof path) < 0)
            return err_set(e, ERR_LIMIT, "cannot name the file of cell %zu", c);
        cx = mosaic_existing_output(path, en->plan.hash);
        if (cx == MOSAIC_OTHER_PLAN || cx == MOSAIC_FOREIGN)
            return refuse_existing(path, cx, e);
        if (cx == MOSAIC_SAME_PLAN)
            same++;
        else if (x == MOSAIC_SAME_PLAN)
            return err_set(e, ERR_USAGE,
                           "%s is a finished VRT of this plan, but its cell file %s is missing: remove %s (or "
                           "use overwrite = true in download{}, or --overwrite) to download it again",
                           s->output, path, s->output);
    }
    if (x == MOSAIC_SAME_PLAN)
        return 1;
    if (same < en->plan.ncells)
        return 0;
    {
        struct mosaic_out mo;
        struct spec_kv *md = NULL;
        const char **names = NULL, **files = calloc(en->plan.ncells, sizeof *files);
        char store[6][160];
        rc = files ? output_describe(en, &mo, &names, &md, store, e) : err_set(e, ERR_NOMEM, "out of memory");
        for (c = 0; rc == 0 && c < en->plan.ncells; c++) {
            char path[4096];
            if (cell_path(s->output, &en->plan.cells[c], path, sizeof path) < 0 || !(files[c] = strdup(path)))
                rc = err_set(e, ERR_NOMEM, "out of memory");
        }
        if (rc == 0 && (rc = mosaic_write_vrt(s->output, files, en->plan.ncells, &mo, e)) == 0)
            log_info("%s: every cell file of this plan is there; wrote the VRT over them", s->output);
        for (c = 0; files && c < en->plan.ncells; c++)
            free((char *)files[c]);
        free(files);
        free(md);
        free(names);
    }
    return rc < 0 ? rc : 1;
}

/* overwrite replaces eefetch's own outputs only (they carry the plan tag,
 * of any plan); a file without it, for files per cell at any cell path
 * too, is refused before anything is fetched. */
static int check_replaceable(const struct engine *en, struct errbuf *e)
{
    const struct download_spec *s = en->s;
    size_t c;

    for (c = 0; c <= (spec_files_per_cell(s) ? en->plan.ncells : 0); c++) {
        char path[4096];
        if (c == 0)
            snprintf(path, sizeof path, "%s", s->output);
        else if (cell_path(s->output, &en->plan.cells[c - 1], path, sizeof path) < 0)
            return err_set(e, ERR_LIMIT, "cannot name the file of cell %zu", c - 1);
        if (mosaic_existing_output(path, en->plan.hash) == MOSAIC_FOREIGN)
            return err_set(e, ERR_USAGE,
                           "%s exists and was not written by eefetch (it has no " MOSAIC_PLAN_TAG " tag): "
                           "overwrite replaces only eefetch's own outputs; move it away or change output",
                           path);
    }
    return 0;
}

/* The directory of the output must exist and be writable before anything
 * is fetched: otherwise the first failure would be a journal or GDAL error
 * far from its cause. */
static int check_output_dir(const char *output, struct errbuf *e)
{
    char dir[4096];
    const char *slash = strrchr(output, '/');
    struct stat st;

    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == output)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - output) >= sizeof dir)
        return err_set(e, ERR_USAGE, "output path too long");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - output), output);
    if (stat(dir, &st) != 0)
        return err_set(e, ERR_IO, "cannot write the output %s: its directory %s does not exist (%s)", output,
                       dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return err_set(e, ERR_IO, "cannot write the output %s: %s is not a directory", output, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return err_set(e, ERR_IO, "cannot write the output %s: no permission to create files in %s (%s)", output,
                       dir, strerror(errno));
    return 0;
}

/* Bytes per pixel of spec bands [b0, b0 + n): *hi counts a band of unknown
 * type as 8 bytes, *lo as 1. Returns 1 when every type is known. */
static int band_bytes(const struct download_spec *s, size_t b0, size_t n, double *hi, double *lo)
{
    size_t b;
    int known = 1;

    *hi = *lo = 0;
    for (b = b0; b < b0 + n && b < s->nbands; b++) {
        enum spec_dtype t = s->dtype != SPEC_DTYPE_AUTO ? s->dtype : s->bands[b].type;
        if (t == SPEC_DTYPE_AUTO) {
            known = 0;
            *hi += GRID_UNKNOWN_BAND_BYTES;
            *lo += 1;
        } else {
            *hi += (double)spec_dtype_size(t);
            *lo += (double)spec_dtype_size(t);
        }
    }
    return known;
}

/* The cost of the plan and the disk the run needs beside the output: the
 * store keeps the raw pixels of every tile still to fetch (en->done, NULL:
 * all) until the output is complete; the output is written meanwhile, and a
 * COG is copied from a complete GeoTIFF, so both exist at the end. */
static void plan_cost(const struct engine *en, struct engine_summary *sum)
{
    const struct download_spec *s = en->s;
    double all_hi, all_lo, store_hi = 0, store_lo = 0, out_lo = 0;
    double px = (double)en->plan.grid.width * (double)en->plan.grid.height;
    struct statvfs fs;
    char dir[4096];
    const char *slash;
    size_t t;

    sum->types_known = band_bytes(s, 0, s->nbands, &all_hi, &all_lo);
    sum->raw_bytes = (uint64_t)(px * all_hi);
    sum->fetch_bytes = sum->largest_fetch = 0;
    for (t = 0; t < en->plan.ntiles; t++) {
        const struct grid_tile *g = &en->plan.tiles[t];
        double hi, lo, n = (double)g->width * (double)g->height;
        band_bytes(s, (size_t)g->band0, (size_t)g->nbands, &hi, &lo);
        sum->fetch_bytes += (uint64_t)(n * hi);
        if ((uint64_t)(n * hi) > sum->largest_fetch)
            sum->largest_fetch = (uint64_t)(n * hi);
        if (!en->done || !en->done[g->id]) {
            store_hi += (double)mosaic_pbuf_size((size_t)(n * hi));
            store_lo += (double)mosaic_pbuf_size((size_t)(n * lo));
        }
    }
    sum->store_bytes = (uint64_t)store_hi;
    if (s->format == SPEC_FORMAT_COG) {
        sum->output_bytes = (uint64_t)(px * all_hi * 4.0 / 3.0);   /* overviews add at most a third */
        sum->disk_bytes = sum->store_bytes + sum->output_bytes + sum->raw_bytes;
    } else {
        sum->output_bytes = sum->raw_bytes;
        sum->disk_bytes = sum->store_bytes + sum->output_bytes;
        if (s->compression == SPEC_COMPRESS_NONE)
            out_lo = px * all_lo;
    }
    /* Compressed output may take almost nothing: only what is certain. */
    sum->disk_bytes_min = (uint64_t)(store_lo + out_lo);
    sum->disk_free = -1;
    if (!s->output || !*s->output)
        return;
    slash = strrchr(s->output, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == s->output ? 1 : (int)(slash - s->output), s->output);
    if (statvfs(dir, &fs) == 0)
        sum->disk_free = (int64_t)((double)fs.f_bavail * (double)fs.f_frsize);
}

/* Before the first request: stop when the disk clearly cannot hold the
 * store (and an uncompressed output), rather than after an hour of
 * downloading; only warn when it merely may not (the output compresses,
 * and space may be freed meanwhile). o->no_disk_check turns the stop into
 * the warning. */
static int check_disk_space(const struct engine *en, struct errbuf *e)
{
    const struct engine_summary *sum = en->sum;
    double mib = 1048576.0;

    if (sum->disk_free < 0)
        return 0;
    if ((uint64_t)sum->disk_free < sum->disk_bytes_min && !en->o->no_disk_check)
        return err_set(e, ERR_IO,
                       "not enough free disk for %s: the run needs at least %.1f MiB beside it (the tile store keeps "
                       "the raw pixels of the %zu tile(s) still to fetch until the output is complete%s), and only "
                       "%.1f MiB are free. Free some space or write the output elsewhere (eefetch plan shows the "
                       "sizes); --no-disk-check or EEFETCH_NO_DISK_CHECK=1 runs anyway",
                       en->s->output, (double)sum->disk_bytes_min / mib, en->tiles_left,
                       en->s->compression == SPEC_COMPRESS_NONE && en->s->format != SPEC_FORMAT_COG
                           ? ", plus the uncompressed output" : "",
                       (double)sum->disk_free / mib);
    if ((uint64_t)sum->disk_free < sum->disk_bytes && !en->o->plan_only)
        log_warn("%s needs up to %.1f MiB of free space beside it (tile store %.1f MiB, raw pixels kept until the "
                 "output is complete, plus the output, at most %.1f MiB uncompressed); only %.1f MiB are free",
                 en->s->output, (double)sum->disk_bytes / mib, (double)sum->store_bytes / mib,
                 (double)sum->output_bytes / mib, (double)sum->disk_free / mib);
    return 0;
}

/* A full disk shows up as ENOSPC or inside a GDAL/libtiff message; say so
 * plainly, and that nothing fetched is lost. */
static void explain_disk_full(const struct engine *en, int rc, struct errbuf *e)
{
    char was[sizeof e->msg];

    if (rc >= 0 || rc == ERR_INTERRUPTED ||
        (!__atomic_load_n(&en->disk_full, __ATOMIC_RELAXED) && !is_disk_full_msg(e->msg)))
        return;
    if (en->disk_full_msg[0] && !is_disk_full_msg(e->msg))
        snprintf(was, sizeof was, "%.600s (%s)", e->msg, en->disk_full_msg);
    else
        snprintf(was, sizeof was, "%s", e->msg);
    snprintf(e->msg, sizeof e->msg,
             "the disk is full (or a file size limit was reached) while writing %.500s; nothing was written at "
             "that path. Tiles already fetched are kept in %.500s and its journal: free some space (the "
             "output needs about its own size again while it is assembled%s) and run the same recipe again "
             "to resume.\ndetail: %.400s",
             en->s->output, en->parts[0] ? en->parts : "the parts directory",
             en->s->format == SPEC_FORMAT_COG ? ", a COG twice: it is copied with its overviews from a GeoTIFF"
                                              : "",
             was);
}

/* Resuming: every piece of every journaled tile must prove its content
 * (size, header and checksums, mosaic_piece_verify) before the tile counts
 * as done. A tile with a missing, truncated, damaged or old-format piece
 * (an older eefetch wrote no checksum) is dropped from what the journal
 * says and fetched again in this run; its new journal line supersedes the
 * old one. Reads the whole store once. */
static int verify_resumed(struct engine *en, struct journal_state *st, struct errbuf *e)
{
    struct mosaic_pbuf pb = {NULL, 0, 0, 0, 0};
    struct errbuf pe;
    size_t k, n = 0, dropped = 0;
    int rc = 0;

    for (k = 0; k < st->npieces; k++) {
        const struct mosaic_piece *p = &st->pieces[k];
        if (!st->done[p->tile_id])
            continue;   /* another of its pieces failed already */
        rc = mosaic_piece_verify(en->parts, p, &pb, &pe);
        if (rc == ERR_NOMEM) {
            err_set(e, rc, "%s", pe.msg);
            goto done;
        }
        if (rc < 0) {
            /* Each one named, up to a point: an old store has thousands. */
            if (dropped < 10)
                log_warn("%s; fetching tile %zu again", pe.msg, p->tile_id);
            st->done[p->tile_id] = 0;
            st->ndone--;
            dropped++;
        }
    }
    rc = 0;
    if (dropped > 10)
        log_warn("%zu journaled tiles in all had stored pixels that are missing, damaged or without a checksum; "
                 "fetching them again", dropped);
    for (k = 0; k < st->npieces; k++)
        if (st->done[st->pieces[k].tile_id])
            st->pieces[n++] = st->pieces[k];
    st->npieces = n;
done:
    mosaic_pbuf_free(&pb);
    return rc;
}

int engine_run(const struct engine_opts *o, struct engine_summary *sum, struct errbuf *e)
{
    const struct download_spec *s = o->spec;
    struct engine en;
    struct journal_state st;
    struct worker *workers = NULL;
    pthread_condattr_t ca;
    char jpath[4096];
    int64_t t0 = time_mono_ms();
    pthread_t assembler;
    int nworkers, i, rc = 0, locks = 0, assembler_started = 0;

    memset(&en, 0, sizeof en);
    memset(&st, 0, sizeof st);
    memset(sum, 0, sizeof *sum);
    en.o = o;
    en.s = s;
    en.sum = sum;
    /* Here on the calling thread, before any worker starts. */
    mosaic_global_init();
    if ((rc = grid_plan_build(s, &en.plan, e)) < 0)
        return rc;
    sum->tiles_total = en.plan.ntiles;
    sum->tiles_skipped = en.plan.nskipped;
    sum->width = en.plan.grid.width;
    sum->height = en.plan.grid.height;
    sum->grid = en.plan.grid;
    sum->tile_width = en.plan.tile_w;
    sum->tile_height = en.plan.tile_h;
    sum->band_group = en.plan.band_group;
    sum->cells = en.plan.ncells;
    sum->request_bytes = en.plan.max_tile_bytes_used;
    memcpy(sum->plan_hash, en.plan.hash, sizeof sum->plan_hash);
    if (o->plan_only) {
        en.tiles_left = en.plan.ntiles;
        plan_cost(&en, sum);
        /* What would stop the run before its first request, said now. */
        if (s->output && *s->output && check_output_dir(s->output, e) < 0)
            snprintf(sum->problem, sizeof sum->problem, "%.1000s", e->msg);
        else if (check_disk_space(&en, e) < 0)
            snprintf(sum->problem, sizeof sum->problem, "%.1000s", e->msg);
        e->msg[0] = '\0';
        emit(&en, ENGINE_EV_PLANNED, 0, 0, NULL);
        goto done;
    }
    /* A plan needs no output (plan{} may leave it out); a download does. */
    if (!s->output || !*s->output) {
        rc = err_set(e, ERR_USAGE, "download: output is required");
        goto done;
    }

    if ((rc = check_output_dir(s->output, e)) < 0 || (rc = journal_path(s->output, jpath, sizeof jpath, e)) < 0 ||
        (rc = mosaic_parts_dir(s->output, en.parts, sizeof en.parts, e)) < 0)
        goto done;
    {
        struct stat ost;
        if (stat(s->output, &ost) == 0 && S_ISDIR(ost.st_mode)) {
            rc = err_set(e, ERR_USAGE, "output %s is a folder; name a file in it", s->output);
            goto done;
        }
    }
    if (s->existing == SPEC_EXISTING_OVERWRITE && !o->overwrite_any && (rc = check_replaceable(&en, e)) < 0)
        goto done;
    if (s->existing == SPEC_EXISTING_FAIL && (exists(s->output) || exists(jpath) || exists(en.parts))) {
        rc = err_set(e, ERR_USAGE, "%s or its journal already exists", s->output);
        goto done;
    }
    /* Without a journal, a file at the output path is a finished run's:
     * of this plan there is nothing to do (a recipe with many downloads
     * resumes where it stopped); anything else is not replaced unasked. */
    if (!exists(jpath) && s->existing != SPEC_EXISTING_OVERWRITE) {
        rc = s->existing == SPEC_EXISTING_SKIP ? exists(s->output) : check_existing(&en, e);
        if (rc < 0)
            goto done;
        if (rc == 1) {
            log_info("%s is complete and of the same plan: skipped (overwrite = true or --overwrite "
                     "downloads it again)",
                     s->output);
            sum->tiles_resumed = en.plan.ntiles;
            sum->skipped = 1;
            rc = 0;
            goto done;
        }
    }
    if ((rc = journal_open(jpath, en.plan.hash, en.plan.ntiles, s->existing == SPEC_EXISTING_OVERWRITE,
                           &en.journal, &st, e)) < 0)
        goto done;
    /* Pieces stored for another plan (overwrite, or its unfinished journal
     * was replaced) are no use to this one. */
    if ((s->existing == SPEC_EXISTING_OVERWRITE || st.replaced) && (rc = mosaic_parts_remove(en.parts, e)) < 0)
        goto done;
    if ((rc = mosaic_parts_create(en.parts, e)) < 0)
        goto done;
    if (st.nignored)
        log_warn("%s: %zu torn or corrupt journal line(s) ignored; those tiles are fetched again", jpath,
                 st.nignored);

    if ((rc = verify_resumed(&en, &st, e)) < 0)
        goto done;
    en.done = st.done;
    st.done = NULL;
    en.ts = calloc(en.plan.ntiles ? en.plan.ntiles : 1, sizeof *en.ts);
    if (!en.ts || add_all_locked(&en, st.pieces, st.npieces) < 0) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    sum->tiles_resumed = st.ndone;
    en.tiles_left = en.plan.ntiles - st.ndone;
    plan_cost(&en, sum);
    if ((rc = check_disk_space(&en, e)) < 0) {
        /* Nothing stored yet: leave no journal or empty store behind. */
        if (sum->tiles_resumed == 0) {
            journal_close(en.journal);
            en.journal = NULL;
            journal_remove(jpath, NULL);
            mosaic_parts_remove(en.parts, NULL);
        }
        goto done;
    }

    en.endpoint = o->endpoint ? o->endpoint : s->endpoint ? s->endpoint : EE_ENDPOINT;
    en.project = o->project ? o->project : s->project;
    en.max_retries = s->max_retries > 0 ? s->max_retries : ENGINE_DEFAULT_RETRIES;
    en.base_ms = o->backoff_base_ms > 0 ? o->backoff_base_ms : 1000;
    en.cap_ms = o->backoff_cap_ms > 0 ? o->backoff_cap_ms : 60000;
    nworkers = s->workers > 0 ? s->workers : ENGINE_DEFAULT_WORKERS;
    if (nworkers > EE_CONCURRENT_QUOTA)
        log_warn("workers = %d exceeds Earth Engine's default quota of %d concurrent requests per "
                 "project; 429 answers will lower the concurrency",
                 nworkers, EE_CONCURRENT_QUOTA);
    en.max_limit = nworkers;
    en.slow_start = 1;
    en.limit = o->initial_concurrency > 0 ? o->initial_concurrency
               : nworkers < ENGINE_INITIAL_CONCURRENCY ? nworkers : ENGINE_INITIAL_CONCURRENCY;
    if (en.limit > nworkers)
        en.limit = nworkers;
    sum->max_concurrency = en.limit;
    en.last_cut_ms = t0 - 1000;
    if (!en.project || !*en.project) {
        rc = err_set(e, ERR_USAGE, "no Earth Engine project: set project in the recipe or with --project");
        goto done;
    }
    emit(&en, ENGINE_EV_PLANNED, 0, 0, NULL);

    if (en.tiles_left > 0) {
        if (s->has_nodata) {
            /* Pixels EE masks must arrive as nodata, not as the 0 NPY and
             * GeoTIFF carry for them: the expression's result goes through
             * Image.unmask(value = Image.constant(nodata), sameFootprint =
             * false), as other tools do. Rewritten once on the text (any
             * size or depth EE accepts), so every request carries the same
             * expression. */
            if ((rc = exprtext_wrap_unmask(s->expression, s->nodata, &en.expression, e)) < 0)
                goto done;
            en.unmasked = 1;
        } else if (!(en.expression = strdup(s->expression))) {
            rc = err_set(e, ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((rc = build_prefixes(&en, e)) < 0)
            goto done;
        en.band_type = calloc(s->nbands ? s->nbands : 1, sizeof *en.band_type);
        en.band_declared = calloc(s->nbands ? s->nbands : 1, 1);
        if (!en.band_type || !en.band_declared) {
            rc = err_set(e, ERR_NOMEM, "out of memory");
            goto done;
        }
        for (size_t b = 0; b < s->nbands; b++) {
            /* Unmasking may widen a band's type (EE unions the ranges): its
             * first answer decides then. */
            if (s->bands[b].type != SPEC_DTYPE_AUTO && !en.unmasked) {
                en.band_type[b] = s->bands[b].type;
                en.band_declared[b] = 1;
            }
        }
        if (pthread_mutex_init(&en.mu, NULL) != 0 || pthread_condattr_init(&ca) != 0) {
            rc = err_set(e, ERR_INTERNAL, "cannot create a lock");
            goto done;
        }
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        if (pthread_cond_init(&en.cv, &ca) != 0) {
            pthread_condattr_destroy(&ca);
            pthread_mutex_destroy(&en.mu);
            rc = err_set(e, ERR_INTERNAL, "cannot create a condition variable");
            goto done;
        }
        pthread_condattr_destroy(&ca);
        locks = 1;
        workers = calloc((size_t)nworkers, sizeof *workers);
        if (!workers) {
            rc = err_set(e, ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((rc = stream_open(&en, e)) < 0)
            goto done;
        if (en.writer) {
            /* A few tiles wait in memory for the assembler (enough to keep
             * it busy, and memory bounded with 40 workers too); beyond
             * that it reads them back from the store. */
            en.held_max = nworkers < ENGINE_HANDOFF_MAX ? (size_t)nworkers : ENGINE_HANDOFF_MAX;
            en.pool_max = en.held_max;
            en.pool = calloc(en.pool_max, sizeof *en.pool);
            en.mem = calloc(en.capall ? en.capall : 1, sizeof *en.mem);
            if (!en.pool || !en.mem) {
                rc = err_set(e, ERR_NOMEM, "out of memory");
                goto done;
            }
        }
        if (en.writer && pthread_create(&assembler, NULL, assembler_main, &en) != 0) {
            rc = err_set(e, ERR_INTERNAL, "cannot start the assembler thread");
            goto done;
        }
        assembler_started = en.writer != NULL;
        for (i = 0; i < nworkers; i++) {
            workers[i].en = &en;
            workers[i].rng = (o->seed ? o->seed : (uint64_t)time_now_ms()) * 2654435761ULL + (uint64_t)i * 97 + 1;
            buf_init(&workers[i].body, 0);
            buf_init_aligned(&workers[i].res.body, 0);
            if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
                pthread_mutex_lock(&en.mu);
                set_fatal_locked(&en, ERR_INTERNAL, "cannot start worker threads");
                pthread_mutex_unlock(&en.mu);
                break;
            }
            workers[i].started = 1;
        }
        for (i = 0; i < nworkers; i++) {
            if (workers[i].started)
                pthread_join(workers[i].thread, NULL);
            buf_free(&workers[i].body);
            mosaic_pbuf_free(&workers[i].pb);
            http_result_free(&workers[i].res);
        }
        if (assembler_started) {
            /* Tiles are all in (or the run is over): what the assembler
             * still copies is the assembly step. */
            pthread_mutex_lock(&en.mu);
            if (!en.fatal && en.tiles_left == 0)
                emit(&en, ENGINE_EV_ASSEMBLING, 0, 0, NULL);
            pthread_mutex_unlock(&en.mu);
            pthread_join(assembler, NULL);
            assembler_started = 0;
        }
        if (en.fatal) {
            rc = en.fatal;
            memcpy(e->msg, en.fatal_err.msg, sizeof e->msg);
            goto done;
        }
        if (en.tiles_left > 0) {
            rc = err_set(e, ERR_INTERRUPTED,
                         "interrupted with %zu of %zu tiles done; run the same recipe again to resume",
                         en.plan.ntiles - en.tiles_left, en.plan.ntiles);
            goto done;
        }
    }

    if (!en.writer)
        emit(&en, ENGINE_EV_ASSEMBLING, 0, 0, NULL);
    /* GDAL's errors reach the caller through e; keep its default handler
     * from printing them a second time. (Handlers are per thread.) */
    CPLPushErrorHandlerEx(on_gdal_error, &en);
    rc = assemble(&en, e);
    CPLPopErrorHandler();
    if (rc == ERR_PARSE && strlen(e->msg) + sizeof DAMAGED_HINT < sizeof e->msg)
        strcat(e->msg, DAMAGED_HINT);
    if (rc < 0)
        goto done;
    journal_close(en.journal);
    en.journal = NULL;
    /* The output is complete: the journal and the pieces have done their job. */
    if ((rc = journal_remove(jpath, e)) < 0 || (rc = mosaic_parts_remove(en.parts, e)) < 0)
        goto done;
done:
    if (assembler_started) {
        /* Only when starting workers failed: make the assembler stop. */
        pthread_mutex_lock(&en.mu);
        set_fatal_locked(&en, rc < 0 ? rc : ERR_INTERNAL, "%s", e->msg);
        pthread_mutex_unlock(&en.mu);
        pthread_join(assembler, NULL);
    }
    /* An unfinished output is dropped; its pieces are kept for the resume. */
    mosaic_writer_abort(en.writer);
    explain_disk_full(&en, rc, e);
    sum->seconds = (double)(time_mono_ms() - t0) / 1000.0;
    journal_close(en.journal);
    journal_state_free(&st);
    if (locks) {
        pthread_cond_destroy(&en.cv);
        pthread_mutex_destroy(&en.mu);
    }
    if (en.prefix) {
        size_t g, ng = (s->nbands + (size_t)en.plan.band_group - 1) / (size_t)en.plan.band_group;
        for (g = 0; g < ng; g++)
            free(en.prefix[g]);
        free(en.prefix);
    }
    if (en.ts) {
        size_t t;
        for (t = 0; t < en.plan.ntiles; t++)
            free(en.ts[t].pieces);
        free(en.ts);
    }
    if (en.mem) {
        size_t k;
        for (k = 0; k < en.capall; k++)
            mosaic_pbuf_free(&en.mem[k]);
        free(en.mem);
    }
    while (en.npool > 0)
        mosaic_pbuf_free(&en.pool[--en.npool]);
    free(en.pool);
    free(workers);
    free(en.expression);
    free(en.band_type);
    free(en.band_declared);
    free(en.retry);
    free(en.done);
    free(en.all);
    grid_plan_free(&en.plan);
    return rc;
}
