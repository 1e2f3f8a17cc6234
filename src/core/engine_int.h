/*
 * The engine's private parts; callers use engine.h. engine_run (engine.c)
 * drives one download through them, one file per concern:
 *
 *   engine_check.c    before the first request: the output path, outputs
 *                     already there, disk space, resumed pieces; afterwards
 *                     the disk-full message
 *   engine_request.c  request bodies, answer bounds, classification (pure)
 *   engine_sched.c    what runs next and how many at once: the queue,
 *                     retries and back-off, splits, slow start and AIMD
 *                     (pure state, no lock, no I/O: unit-tested alone)
 *   engine_worker.c   the worker threads: one request at a time, and what
 *                     its outcome leads to
 *   engine_store.c    answers into stored pieces, finished tiles into the
 *                     journal, the band type check
 *   engine_output.c   output description and metadata, the streaming
 *                     assembler thread, the final assembly
 *
 * struct engine is made of one part per file. Everything workers and the
 * assembler share is read and written under en->mu, except the fields
 * marked atomic.
 */
#ifndef EEFETCH_CORE_ENGINE_INT_H
#define EEFETCH_CORE_ENGINE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <cpl_error.h>

#include "core/engine.h"
#include "core/grid.h"
#include "core/journal.h"
#include "core/mosaic.h"
#include "core/session.h"
#include "util/buf.h"

#define ENGINE_MAX_PRESPLIT 6       /* 4^6 pieces per tile at most */
#define ENGINE_POLL_MS 100          /* the stop flag is polled, not signalled */

/* A stored piece found damaged while the output is assembled (it passed
 * the check when it was stored or resumed): the next run checks the store
 * again and fetches that tile again. */
#define ENGINE_DAMAGED_HINT "; run the same recipe again: it checks the stored tiles and fetches this one again"

/* ---- engine_sched.c ---- */

/* A piece of work: a tile, or a part of a split tile. */
struct engine_task {
    struct grid_tile t;     /* t.id is the planned tile it belongs to */
    int attempts;           /* transient failures so far (429s apart) */
    int throttled;          /* 429 answers so far */
    int level;              /* quad splits between the planned tile and this piece */
    int64_t not_before;     /* monotonic ms */
};

/* Per planned tile: its pieces not stored yet, and the next piece number. */
struct engine_tile_count {
    int outstanding;
    int next_k;
};

struct engine_sched {
    const struct grid_plan *plan;
    unsigned char *done;            /* per planned tile, owned: stored and journaled */
    struct engine_tile_count *count;    /* per planned tile */
    size_t next_fresh;              /* next planned tile never tried */
    size_t tiles_left;
    struct engine_task *retry;      /* retries and split parts */
    size_t nretry, capretry;
    int active;                     /* tasks taken and not released */
    int limit, max_limit;           /* tasks at once: now, and at most (the workers) */
    int succ;                       /* successes since the limit last grew */
    int slow_start;                 /* 1 until the first 429 */
    int split_level;                /* splits a failing tile needed; fresh tiles start split */
    long long makespan_min_px;      /* smallest makespan split part in pixels; 0: no such splits */
    size_t makespan_splits;         /* fresh tiles split to keep the slots busy */
    int64_t last_cut_ms;
    int max_retries, base_ms, cap_ms;
};

struct engine_sched_config {
    int workers;            /* the ceiling of the limit */
    int initial;            /* the first limit; 0: min(workers, ENGINE_INITIAL_CONCURRENCY) */
    int max_retries;        /* 0: ENGINE_DEFAULT_RETRIES */
    int base_ms, cap_ms;    /* back-off; 0: BACKOFF_TILE_BASE_MS, _CAP_MS (backoff.h) */
    long long makespan_min_px;  /* pixels of the smallest part a fresh tile is split into while
                                   slots would otherwise idle (the ramp, the last round); 0: never */
};

/* What becomes of a task after a transient failure. */
enum engine_sched_retry {
    ENGINE_RETRY_QUEUED,    /* queued, due at t->not_before */
    ENGINE_RETRY_GIVE_UP,   /* its budget is spent: the run fails */
};

/* done (ntiles flags, ndone set, or NULL: none) is taken over, also on
 * failure; free with engine_sched_free. */
int engine_sched_init(struct engine_sched *s, const struct grid_plan *plan, unsigned char *done, size_t ndone);
void engine_sched_free(struct engine_sched *s);
void engine_sched_configure(struct engine_sched *s, const struct engine_sched_config *c, int64_t now);
/* Takes the next task that may run now (a due retry first, then a fresh
 * tile, split up front once tiles needed splitting, or split in four while
 * whole tiles would leave slots idle) when fewer than limit are active: 1
 * and *out, else 0. */
int engine_sched_take(struct engine_sched *s, int64_t now, struct engine_task *out);
void engine_sched_release(struct engine_sched *s);
/* How long a worker with nothing to do may sleep: until the next retry is
 * due, at most ENGINE_POLL_MS, at least 1. */
int64_t engine_sched_idle_ms(const struct engine_sched *s, int64_t now);
/* An answer with pixels: 1 when the limit grew. */
int engine_sched_success(struct engine_sched *s);
/* A 429: 1 when the limit was cut. */
int engine_sched_throttled(struct engine_sched *s, int64_t now);
/* Counts a transient failure (status 429 against its own budget) and
 * queues t again after the tile back-off (backoff.h), drawing from *rng;
 * ERR_NOMEM. */
int engine_sched_retry(struct engine_sched *s, struct engine_task *t, long status, long retry_after_s,
                       uint64_t *rng, int64_t now);
/* Splits t in parts and queues them: their count, 0 when t is too small
 * to split, ERR_NOMEM (some parts may be queued). */
int engine_sched_split(struct engine_sched *s, const struct engine_task *t);
/* The number of the next piece of tile `tile`. */
int engine_sched_piece_number(struct engine_sched *s, size_t tile);
/* A piece of tile `tile` is stored: 1 when it was its last. */
int engine_sched_piece_stored(struct engine_sched *s, size_t tile);
void engine_sched_tile_done(struct engine_sched *s, size_t tile);

/* ---- engine_request.c ---- */

struct engine_request {
    char **prefix;          /* request JSON up to "grid": per band group */
    size_t nprefix;
    int band_group;
    char *expression;       /* the expression sent (the spec's, or it unmasked) */
    int unmasked;           /* the expression was wrapped in Image.unmask */
};

int engine_request_init(struct engine_request *r, const struct download_spec *s, int band_group,
                        struct errbuf *e);
void engine_request_free(struct engine_request *r);
/* The body of the request for tile t of grid g, into b (reset first). */
int engine_request_body(const struct engine_request *r, const struct grid *g, const struct grid_tile *t,
                        struct buf *b);
/* The largest answer tile t may have. */
size_t engine_request_bound(const struct download_spec *s, int unmasked, const struct grid_tile *t);

/* ---- engine_check.c ---- */

/* Set from GDAL's messages on the engine's threads (atomic). */
struct engine_disk {
    int full;               /* GDAL reported ENOSPC/EFBIG/EDQUOT while writing */
    char msg[256];          /* that report, written once by whoever set full */
};

/* ---- engine_store.c ---- */

/* Per planned tile: its stored pieces until it is journaled. */
struct engine_tile_pieces {
    struct mosaic_piece *pieces;
    int npieces, cap;
};

struct engine_store {
    struct journal *journal;
    char parts[4096];
    struct engine_tile_pieces *tiles;
    /* Per band: the type its answers carry, declared (the image's info,
     * declared set) or that of the first answer; every later answer must
     * bring the same. AUTO: none seen yet. */
    enum spec_dtype *band_type;
    unsigned char *band_declared;
};

/* ---- engine_output.c ---- */

struct engine_output {
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
};

/* ---- engine.c: the whole ---- */

/* The first fatal failure ends the run. */
struct engine_fail {
    int code;               /* 0 = none */
    struct errbuf err;
    int cancel;             /* atomic: set with code, read by sessions mid-transfer */
};

struct engine {
    const struct engine_opts *o;
    const struct download_spec *s;
    struct engine_summary *sum;
    struct grid_plan plan;
    const char *endpoint, *project;     /* of every worker's session */
    int nworkers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int locks;                  /* mu and cv exist */
    struct engine_sched sched;
    struct engine_request req;
    struct engine_store store;
    struct engine_output out;
    struct engine_fail fail;
    struct engine_disk disk;
};

struct engine_worker {
    struct engine *en;
    pthread_t thread;
    int started;
    uint64_t rng;
    struct buf body;
    struct mosaic_pbuf pb;      /* the piece being stored */
    struct http_result res;     /* the last answer, for its buffer */
    struct engine_answer *ans;  /* the answer being received (engine_store.c) */
};

/* engine.c */
int engine_stop_requested(const struct engine *en);
void engine_wait_locked(struct engine *en, int64_t ms);
void engine_emit(struct engine *en, enum engine_event_kind kind, size_t tile, long status, const char *msg);
/* Records the first fatal failure (caller holds the lock). */
void engine_fail_locked(struct engine *en, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, taking the lock. */
void engine_fail(struct engine *en, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* engine_check.c */
int engine_is_disk_full_msg(const char *m);
void CPL_STDCALL engine_gdal_handler(CPLErr cls, CPLErrorNum num, const char *msg);
int engine_check_output(struct engine *en, const char *jpath, struct errbuf *e);
int engine_verify_resumed(struct engine *en, struct journal_state *st, struct errbuf *e);
void engine_plan_cost(const struct engine *en, struct engine_summary *sum);
int engine_check_disk(const struct engine *en, struct errbuf *e);
int engine_check_output_dir(const char *output, struct errbuf *e);
void engine_explain_disk_full(const struct engine *en, int rc, struct errbuf *e);

/* engine_worker.c */
/* Runs the workers (and the assembler when streaming) until every tile is
 * in, a fatal error or a stop: 0, the fatal error, or ERR_INTERRUPTED. */
int engine_workers_run(struct engine *en, struct errbuf *e);
/* Gives a finished request's result back to its worker for reuse. */
void engine_worker_keep(struct engine_worker *w, struct http_result *res);

/* engine_store.c */
enum engine_outcome {
    ENGINE_STORED,          /* the piece is stored (and its tile journaled when complete) */
    ENGINE_REFETCH,         /* a bad answer (truncated, mis-sized): fetch again */
    ENGINE_FAIL_RUN,        /* fatal; the message names the tile */
    ENGINE_FAIL_TILE,       /* fatal; the message needs the tile */
};
int engine_store_band_types(struct engine *en, struct errbuf *e);
/* Before task t's request: *sink receives its answer (session_set_sink)
 * into res or straight into a piece, or has no write when the answer is to
 * be received whole (GeoTIFF). Only ERR_NOMEM fails. */
int engine_store_sink(struct engine_worker *w, const struct engine_task *t, struct http_result *res,
                      struct session_sink *sink);
void engine_store_sink_free(struct engine_worker *w);
/* A 200 answer of task t: stores it. res goes back to the worker. */
enum engine_outcome engine_store_answer(struct engine_worker *w, const struct engine_task *t,
                                        struct http_result *res, int *rc, struct errbuf *e);

/* engine_output.c */
int engine_cell_path(const char *output, const struct grid_cell *c, char *out, size_t cap);
/* The description of the output file(s) shared by every file the run
 * writes, with the band names and metadata it points to. */
struct engine_out_desc {
    struct mosaic_out mo;
    const char **names;
    double *scales, *offsets;   /* per band; NULL when no band states one */
    struct spec_kv *md;
    char store[6][160];     /* provenance values */
};
/* d is freed with engine_output_desc_free, also after a failure. */
int engine_output_describe(const struct engine *en, struct engine_out_desc *d, struct errbuf *e);
void engine_output_desc_free(struct engine_out_desc *d);
/* What is at an output path of this run (a datacube or a raster). */
enum mosaic_existing engine_existing_output(const struct engine *en, const char *path);
/* Writes a collection's datacube from every stored piece. */
int engine_output_cube(struct engine *en, const struct mosaic_out *mo, struct errbuf *e);
/* Pieces of finished tiles, for the assembly (caller holds the lock). */
int engine_output_add_locked(struct engine *en, const struct mosaic_piece *p, size_t n);
/* Hands *held, just stored as the only piece of a tile whose piece is
 * all[i], to the assembler, and puts a spare buffer (or none) in its
 * place (caller holds the lock). */
void engine_output_hand_over_locked(struct engine *en, struct mosaic_pbuf *held, size_t i);
/* Opens the output for streaming when one file of a known type is written,
 * with held_max pieces in memory at most. */
int engine_output_stream_open(struct engine *en, struct errbuf *e);
void *engine_assembler_main(void *arg);
int engine_output_assemble(struct engine *en, struct errbuf *e);
void engine_output_free(struct engine_output *out);

#endif
