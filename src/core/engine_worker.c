/*
 * The engine's threads: N workers, each with its own EE session, take tasks
 * from the scheduler, send one request at a time and act on its outcome
 * (store, retry later, split, or stop the run); beside them, when the output
 * is streamed, the assembler thread (engine_output.c).
 */
#include "core/engine_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/ee.h"
#include "util/timeutil.h"

void engine_worker_keep(struct engine_worker *w, struct http_result *res)
{
    w->res = *res;
    memset(res, 0, sizeof *res);
}

/* session_opts.should_abort: requests in flight are cancelled as soon as
 * the run is over (a fatal error or a stop) instead of running to their end
 * or their time-out. Read without the engine lock (from curl's callback). */
static int should_abort(void *ud)
{
    const struct engine *en = ud;

    return __atomic_load_n(&en->fail.cancel, __ATOMIC_RELAXED) || engine_stop_requested(en);
}

/* A transient failure: the piece is queued again after a back-off, or the
 * run fails when its budget is spent. */
static void retry_later(struct engine_worker *w, struct engine_task *t, long status, const char *msg,
                        long retry_after_s)
{
    struct engine *en = w->en;
    int64_t now = time_mono_ms();
    int rc;

    pthread_mutex_lock(&en->mu);
    en->sum->retries++;
    if (status == 429) {
        en->sum->http_429++;
        if (engine_sched_throttled(&en->sched, now))
            engine_emit(en, ENGINE_EV_CONCURRENCY, 0, 0, NULL);
    }
    rc = engine_sched_retry(&en->sched, t, status, retry_after_s, &w->rng, now);
    if (rc == ENGINE_RETRY_GIVE_UP) {
        char what[32] = "";
        if (status)
            snprintf(what, sizeof what, "HTTP %ld: ", status);
        engine_fail_locked(en, ERR_SERVER,
                           "tile %zu (pixels %ld,%ld size %ldx%ld): gave up after %d attempts; last error: %s%s",
                           t->t.id, t->t.col, t->t.row, t->t.width, t->t.height, t->attempts + t->throttled,
                           what, msg);
    } else if (rc < 0) {
        engine_fail_locked(en, ERR_NOMEM, "out of memory");
    } else {
        engine_emit(en, ENGINE_EV_RETRY, t->t.id, status, msg);
    }
    pthread_cond_broadcast(&en->cv);
    pthread_mutex_unlock(&en->mu);
}

/* A splittable failure: the parts are queued, or the run fails when the
 * piece is already at the floor. */
static void split_piece(struct engine_worker *w, struct engine_task *t, const char *msg)
{
    struct engine *en = w->en;
    int n;

    pthread_mutex_lock(&en->mu);
    n = engine_sched_split(&en->sched, t);
    if (n == 0) {
        /* Memory and time limits are the interactive ones: a batch export
         * has more of both. Where to say so is the download{} call. */
        const struct download_spec *s = en->s;
        char at[512] = "";
        if (s->recipe_path && s->recipe_line > 0)
            snprintf(at, sizeof at, " at %.400s:%d", s->recipe_path, s->recipe_line);
        engine_fail_locked(en, ERR_SERVER,
                           "tile %zu (pixels %ld,%ld size %ldx%ld) still fails after splitting: %s\n"
                           "hint: the computation is too heavy for an interactive request even on a tiny "
                           "tile; a batch export has more memory and time: add via = \"export\", bucket = "
                           "\"gs://<your-bucket>/<prefix>\" to download{}%s (docs/export.md), or simplify "
                           "the expression (fewer images or bands, a coarser scale)",
                           t->t.id, t->t.col, t->t.row, t->t.width, t->t.height, msg, at);
    } else {
        en->sum->splits++;
        if (n < 0)
            engine_fail_locked(en, ERR_NOMEM, "out of memory");
        engine_emit(en, ENGINE_EV_SPLIT, t->t.id, 400, msg);
    }
    pthread_cond_broadcast(&en->cv);
    pthread_mutex_unlock(&en->mu);
}

/* An answer other than 200, by its class. */
static void on_refusal(struct engine_worker *w, struct engine_task *t, const struct http_result *res)
{
    struct engine *en = w->en;
    char msg[1024];
    enum engine_class c;

    session_error_message(res, msg, sizeof msg);
    c = engine_classify(res->status, msg);
    if (c == ENGINE_TRANSIENT)
        retry_later(w, t, res->status, msg, res->retry_after_s);
    else if (c == ENGINE_SPLITTABLE)
        split_piece(w, t, msg);
    else if (c == ENGINE_AUTH)
        engine_fail(en, ERR_AUTH,
                    "Earth Engine refused the credentials (HTTP 401) even after a token refresh: %s\n"
                    "hint: check `eefetch auth`",
                    msg);
    else
        engine_fail(en, ERR_SERVER, "tile %zu (pixels %ld,%ld size %ldx%ld): HTTP %ld: %s", t->t.id, t->t.col,
                    t->t.row, t->t.width, t->t.height, res->status, msg);
}

/* A 200 answer, by what storing it gave. */
static void on_pixels(struct engine_worker *w, struct engine_task *t, struct http_result *res)
{
    struct engine *en = w->en;
    struct errbuf e;
    int rc = 0;

    switch (engine_store_answer(w, t, res, &rc, &e)) {
    case ENGINE_STORED:
        break;
    case ENGINE_REFETCH:
        retry_later(w, t, 0, e.msg, -1);
        break;
    case ENGINE_FAIL_RUN:
        engine_fail(en, rc, "%s", e.msg);
        break;
    case ENGINE_FAIL_TILE:
        if (rc == ERR_NOMEM)
            engine_fail(en, rc, "%s", e.msg);
        else
            engine_fail(en, rc, "tile %zu: %s", t->t.id, e.msg);
        break;
    }
}

static void handle_task(struct engine_worker *w, struct session *sess, struct engine_task *t)
{
    struct engine *en = w->en;
    struct http_result res;
    struct session_sink sink;
    struct errbuf e;
    int rc;

    /* The worker's body buffer, kept from request to request: the next
     * answer is written into memory that is already mapped. */
    res = w->res;
    memset(&w->res, 0, sizeof w->res);
    if (engine_request_body(&en->req, &en->plan.grid, &t->t, &w->body) < 0) {
        engine_worker_keep(w, &res);
        engine_fail(en, ERR_NOMEM, "out of memory");
        return;
    }
    /* An NPY answer is taken as it arrives (engine_store_sink): converted
     * on the fly when it is not of the output's type, so that a worker
     * never holds a wide answer whole. */
    if (engine_store_sink(w, t, &res, &sink) < 0) {
        engine_worker_keep(w, &res);
        engine_fail(en, ERR_NOMEM, "out of memory");
        return;
    }
    session_set_sink(sess, sink.write ? &sink : NULL);
    session_set_max_response(sess, engine_request_bound(en->s, en->req.unmasked, &t->t));
    rc = session_post_reuse(sess, "image:computePixels", w->body.data, w->body.len, &res, &e);
    session_set_sink(sess, NULL);
    pthread_mutex_lock(&en->mu);
    en->sum->requests++;
    if (rc == 0)
        en->sum->bytes += res.body.len;
    pthread_mutex_unlock(&en->mu);

    if (rc == ERR_INTERRUPTED) {
        /* Cancelled because the run is ending: nothing to retry or record. */
    } else if (rc == ERR_AUTH) {
        /* The token could not be had (refresh refused, key rejected): no
         * retry can fix that, every worker would meet the same answer. */
        engine_fail(en, ERR_AUTH, "%s\nhint: check `eefetch auth`", e.msg);
    } else if (rc < 0) {
        /* Transport: reset, timeout, refused. */
        retry_later(w, t, 0, e.msg, -1);
    } else if (res.status == 200) {
        on_pixels(w, t, &res);   /* gives res back to the worker */
        return;
    } else {
        on_refusal(w, t, &res);
    }
    engine_worker_keep(w, &res);
}

/* The worker's answer and piece buffers, given back to the system (only
 * the worker touches them). */
static void worker_drop_buffers(struct engine_worker *w)
{
    http_result_free(&w->res);
    buf_init_aligned(&w->res.body, 0);
    mosaic_pbuf_free(&w->pb);
}

static void *worker_main(void *arg)
{
    struct engine_worker *w = arg;
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
        engine_fail(en, ERR_USAGE, "%s", e.msg);
        return NULL;
    }
    /* Storing pieces: GDAL's errors come back in the fatal message. */
    CPLPushErrorHandlerEx(engine_gdal_handler, en);
    pthread_mutex_lock(&en->mu);
    for (;;) {
        struct engine_task t;
        int64_t now = time_mono_ms();

        if (en->fail.code || en->sched.tiles_left == 0 || engine_stop_requested(en))
            break;
        if (engine_sched_take(&en->sched, now, &t)) {
            pthread_mutex_unlock(&en->mu);
            handle_task(w, sess, &t);
            pthread_mutex_lock(&en->mu);
            engine_sched_release(&en->sched);
            pthread_cond_broadcast(&en->cv);
            continue;
        }
        if (w->res.body.cap || w->pb.mem) {
            /* Nothing to do: a worker that waits keeps no buffer, so memory
             * stays bounded by the requests in flight, also while the
             * concurrency limit is below the number of workers. */
            pthread_mutex_unlock(&en->mu);
            worker_drop_buffers(w);
            pthread_mutex_lock(&en->mu);
            continue;
        }
        /* Sleep until a retry is due, something changes, or the stop flag
         * is to be polled again. */
        engine_wait_locked(en, engine_sched_idle_ms(&en->sched, now));
    }
    pthread_cond_broadcast(&en->cv);
    pthread_mutex_unlock(&en->mu);
    CPLPopErrorHandler();
    session_destroy(sess);
    return NULL;
}

static void workers_join(struct engine_worker *workers, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        if (workers[i].started)
            pthread_join(workers[i].thread, NULL);
        buf_free(&workers[i].body);
        mosaic_pbuf_free(&workers[i].pb);
        http_result_free(&workers[i].res);
        engine_store_sink_free(&workers[i]);
    }
}

int engine_workers_run(struct engine *en, struct errbuf *e)
{
    const struct engine_opts *o = en->o;
    struct engine_worker *workers = calloc((size_t)en->nworkers, sizeof *workers);
    pthread_t assembler;
    int i, assembler_started;

    if (!workers)
        return err_set(e, ERR_NOMEM, "out of memory");
    if (en->out.writer && pthread_create(&assembler, NULL, engine_assembler_main, en) != 0) {
        free(workers);
        return err_set(e, ERR_INTERNAL, "cannot start the assembler thread");
    }
    assembler_started = en->out.writer != NULL;
    for (i = 0; i < en->nworkers; i++) {
        workers[i].en = en;
        workers[i].rng = (o->seed ? o->seed : (uint64_t)time_now_ms()) * 2654435761ULL + (uint64_t)i * 97 + 1;
        buf_init(&workers[i].body, 0);
        buf_init_aligned(&workers[i].res.body, 0);
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            engine_fail(en, ERR_INTERNAL, "cannot start worker threads");
            break;
        }
        workers[i].started = 1;
    }
    workers_join(workers, en->nworkers);
    free(workers);
    if (assembler_started) {
        /* Tiles are all in (or the run is over): what the assembler still
         * copies is the assembly step. */
        pthread_mutex_lock(&en->mu);
        if (!en->fail.code && en->sched.tiles_left == 0)
            engine_emit(en, ENGINE_EV_ASSEMBLING, 0, 0, NULL);
        pthread_mutex_unlock(&en->mu);
        pthread_join(assembler, NULL);
    }
    if (en->fail.code) {
        memcpy(e->msg, en->fail.err.msg, sizeof e->msg);
        return en->fail.code;
    }
    if (en->sched.tiles_left > 0)
        return err_set(e, ERR_INTERRUPTED,
                       "interrupted with %zu of %zu tiles done; run the same recipe again to resume",
                       en->plan.ntiles - en->sched.tiles_left, en->plan.ntiles);
    return 0;
}
