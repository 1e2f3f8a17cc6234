/*
 * The tile engine (see engine.h and docs/engine.md): engine_run plans one
 * download, opens its store and journal, runs the workers and assembles the
 * output. Each of those steps lives in its own file (engine_int.h lists
 * them); this one holds the run's order, its shared lock and its end.
 */
#include "core/engine_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/ee.h"
#include "util/log.h"
#include "util/timeutil.h"

int engine_stop_requested(const struct engine *en)
{
    return en->o->stop && *en->o->stop;
}

/* Waits on the engine's condition variable (caller holds the lock) for at
 * most ms milliseconds. */
void engine_wait_locked(struct engine *en, int64_t ms)
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

void engine_emit(struct engine *en, enum engine_event_kind kind, size_t tile, long status, const char *msg)
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
    ev.tiles_done = en->sum->tiles_total - en->sched.tiles_left;
    ev.tiles_resumed = en->sum->tiles_resumed;
    ev.bytes = en->sum->bytes;
    ev.concurrency = en->sched.limit;
    ev.active = en->sched.active;
    ev.retries = en->sum->retries;
    ev.plan = &en->plan;
    ev.done = en->sched.done;
    en->o->on_event(&ev, en->o->ud);
}

static void fail_v(struct engine *en, int code, const char *fmt, va_list ap)
{
    if (en->fail.code)
        return;
    en->fail.code = code;
    __atomic_store_n(&en->fail.cancel, 1, __ATOMIC_RELAXED);
    vsnprintf(en->fail.err.msg, sizeof en->fail.err.msg, fmt, ap);
    pthread_cond_broadcast(&en->cv);
}

void engine_fail_locked(struct engine *en, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fail_v(en, code, fmt, ap);
    va_end(ap);
}

void engine_fail(struct engine *en, int code, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&en->mu);
    va_start(ap, fmt);
    fail_v(en, code, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&en->mu);
}

static void summarize_plan(const struct grid_plan *p, struct engine_summary *sum)
{
    sum->tiles_total = p->ntiles;
    sum->tiles_skipped = p->nskipped;
    sum->width = p->grid.width;
    sum->height = p->grid.height;
    sum->grid = p->grid;
    sum->tile_width = p->tile_w;
    sum->tile_height = p->tile_h;
    sum->band_group = p->band_group;
    sum->cells = p->ncells;
    sum->request_bytes = p->max_tile_bytes_used;
    memcpy(sum->plan_hash, p->hash, sizeof sum->plan_hash);
}

/* plan_only: the plan's cost, and what would stop the run before its first
 * request, said now. */
static void plan_only(struct engine *en, struct errbuf *e)
{
    const struct download_spec *s = en->s;

    en->sched.tiles_left = en->plan.ntiles;
    engine_plan_cost(en, en->sum);
    if (s->output && *s->output && engine_check_output_dir(s->output, e) < 0)
        snprintf(en->sum->problem, sizeof en->sum->problem, "%.1000s", e->msg);
    else if (engine_check_disk(en, e) < 0)
        snprintf(en->sum->problem, sizeof en->sum->problem, "%.1000s", e->msg);
    e->msg[0] = '\0';
    engine_emit(en, ENGINE_EV_PLANNED, 0, 0, NULL);
}

/* The journal and the tile store: what earlier runs finished, checked. */
static int open_store(struct engine *en, const char *jpath, struct journal_state *st, struct errbuf *e)
{
    const struct download_spec *s = en->s;
    int rc;

    if ((rc = journal_open(jpath, en->plan.hash, en->plan.ntiles, s->existing == SPEC_EXISTING_OVERWRITE,
                           &en->store.journal, st, e)) < 0)
        return rc;
    /* Pieces stored for another plan (overwrite, or its unfinished journal
     * was replaced) are no use to this one. */
    if ((s->existing == SPEC_EXISTING_OVERWRITE || st->replaced) && (rc = mosaic_parts_remove(en->store.parts, e)) < 0)
        return rc;
    if ((rc = mosaic_parts_create(en->store.parts, e)) < 0)
        return rc;
    if (st->nignored)
        log_warn("%s: %zu torn or corrupt journal line(s) ignored; those tiles are fetched again", jpath,
                 st->nignored);
    if ((rc = engine_verify_resumed(en, st, e)) < 0)
        return rc;
    rc = engine_sched_init(&en->sched, &en->plan, st->done, st->ndone);
    st->done = NULL;
    en->store.tiles = calloc(en->plan.ntiles ? en->plan.ntiles : 1, sizeof *en->store.tiles);
    if (rc < 0 || !en->store.tiles || engine_output_add_locked(en, st->pieces, st->npieces) < 0)
        return err_set(e, ERR_NOMEM, "out of memory");
    en->sum->tiles_resumed = st->ndone;
    engine_plan_cost(en, en->sum);
    if ((rc = engine_check_disk(en, e)) < 0 && en->sum->tiles_resumed == 0) {
        /* Nothing stored yet: leave no journal or empty store behind. */
        journal_close(en->store.journal);
        en->store.journal = NULL;
        journal_remove(jpath, NULL);
        mosaic_parts_remove(en->store.parts, NULL);
    }
    return rc;
}

/* Sessions and concurrency from the options and the spec. */
static int configure(struct engine *en, int64_t t0, struct errbuf *e)
{
    const struct engine_opts *o = en->o;
    const struct download_spec *s = en->s;
    struct engine_sched_config c;

    en->endpoint = o->endpoint ? o->endpoint : s->endpoint ? s->endpoint : EE_ENDPOINT;
    en->project = o->project ? o->project : s->project;
    en->nworkers = s->workers > 0 ? s->workers : ENGINE_DEFAULT_WORKERS;
    if (en->nworkers > EE_CONCURRENT_QUOTA)
        log_warn("workers = %d exceeds Earth Engine's default quota of %d concurrent requests per "
                 "project; 429 answers will lower the concurrency",
                 en->nworkers, EE_CONCURRENT_QUOTA);
    memset(&c, 0, sizeof c);
    c.workers = en->nworkers;
    c.initial = o->initial_concurrency;
    c.max_retries = s->max_retries;
    c.base_ms = o->backoff_base_ms;
    c.cap_ms = o->backoff_cap_ms;
    /* Tiles a user sized (max_tile_bytes) are requested as planned. */
    if (!s->max_tile_bytes && !o->no_makespan_split && en->plan.tile_w > 0 && en->plan.tile_h > 0 &&
        en->plan.max_tile_bytes_used > 0) {
        double px_bytes = (double)en->plan.max_tile_bytes_used / ((double)en->plan.tile_w * en->plan.tile_h);
        c.makespan_min_px = (long long)ceil(ENGINE_MAKESPAN_MIN_BYTES / px_bytes);
    }
    engine_sched_configure(&en->sched, &c, t0);
    en->sum->max_concurrency = en->sched.limit;
    if (!en->project || !*en->project)
        return err_set(e, ERR_USAGE, "no Earth Engine project: set project in the recipe or with --project");
    return 0;
}

/* Fetches every tile still to fetch (streaming them into the output when
 * it can). */
static int fetch(struct engine *en, struct errbuf *e)
{
    pthread_condattr_t ca;
    int rc;

    if ((rc = engine_request_init(&en->req, en->s, en->plan.band_group, e)) < 0 ||
        (rc = engine_store_band_types(en, e)) < 0)
        return rc;
    if (pthread_mutex_init(&en->mu, NULL) != 0 || pthread_condattr_init(&ca) != 0)
        return err_set(e, ERR_INTERNAL, "cannot create a lock");
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&en->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        pthread_mutex_destroy(&en->mu);
        return err_set(e, ERR_INTERNAL, "cannot create a condition variable");
    }
    pthread_condattr_destroy(&ca);
    en->locks = 1;
    if ((rc = engine_output_stream_open(en, e)) < 0)
        return rc;
    rc = engine_workers_run(en, e);
    en->sum->makespan_splits = en->sched.makespan_splits;
    return rc;
}

/* Every tile is in: the output is written (or, streamed, closed), and the
 * journal and the pieces have done their job. */
static int finish(struct engine *en, const char *jpath, struct errbuf *e)
{
    int rc;

    if (!en->out.writer)
        engine_emit(en, ENGINE_EV_ASSEMBLING, 0, 0, NULL);
    /* GDAL's errors reach the caller through e; keep its default handler
     * from printing them a second time. (Handlers are per thread.) */
    CPLPushErrorHandlerEx(engine_gdal_handler, en);
    rc = engine_output_assemble(en, e);
    CPLPopErrorHandler();
    if (rc == ERR_PARSE && strlen(e->msg) + sizeof ENGINE_DAMAGED_HINT < sizeof e->msg)
        strcat(e->msg, ENGINE_DAMAGED_HINT);
    if (rc < 0)
        return rc;
    journal_close(en->store.journal);
    en->store.journal = NULL;
    if ((rc = journal_remove(jpath, e)) < 0)
        return rc;
    return mosaic_parts_remove(en->store.parts, e);
}

static void engine_free(struct engine *en)
{
    size_t t;

    journal_close(en->store.journal);
    if (en->locks) {
        pthread_cond_destroy(&en->cv);
        pthread_mutex_destroy(&en->mu);
    }
    engine_request_free(&en->req);
    for (t = 0; en->store.tiles && t < en->plan.ntiles; t++)
        free(en->store.tiles[t].pieces);
    free(en->store.tiles);
    free(en->store.band_type);
    free(en->store.band_declared);
    engine_output_free(&en->out);
    engine_sched_free(&en->sched);
    grid_plan_free(&en->plan);
}

int engine_run(const struct engine_opts *o, struct engine_summary *sum, struct errbuf *e)
{
    const struct download_spec *s = o->spec;
    struct engine en;
    struct journal_state st;
    char jpath[4096];
    int64_t t0 = time_mono_ms();
    int rc;

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
    summarize_plan(&en.plan, sum);
    if (o->plan_only) {
        plan_only(&en, e);
        rc = 0;
        goto done;
    }
    /* A plan needs no output (plan{} may leave it out); a download does. */
    if (!s->output || !*s->output) {
        rc = err_set(e, ERR_USAGE, "download: output is required");
        goto done;
    }
    if ((rc = engine_check_output_dir(s->output, e)) < 0 ||
        (rc = journal_path(s->output, jpath, sizeof jpath, e)) < 0 ||
        (rc = mosaic_parts_dir(s->output, en.store.parts, sizeof en.store.parts, e)) < 0 ||
        (rc = engine_check_output(&en, jpath, e)) < 0)
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
    if ((rc = open_store(&en, jpath, &st, e)) < 0 || (rc = configure(&en, t0, e)) < 0)
        goto done;
    engine_emit(&en, ENGINE_EV_PLANNED, 0, 0, NULL);
    if (en.sched.tiles_left == 0 || (rc = fetch(&en, e)) == 0)
        rc = finish(&en, jpath, e);
done:
    /* An unfinished output is dropped; its pieces are kept for the resume. */
    mosaic_writer_abort(en.out.writer);
    en.out.writer = NULL;
    engine_explain_disk_full(&en, rc, e);
    sum->seconds = (double)(time_mono_ms() - t0) / 1000.0;
    journal_state_free(&st);
    engine_free(&en);
    return rc;
}
