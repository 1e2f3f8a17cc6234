/*
 * The tile engine: one download spec -> plan -> N workers, each with its own
 * EE session, fetching exact tiles with image:computePixels -> tile store ->
 * journal -> one assembled output. Failures are classified (docs/engine.md):
 * transient -> bounded full-jitter retries honouring Retry-After; splittable
 * -> quad split down to a floor; fatal -> every worker stops promptly.
 * Concurrency adapts (AIMD): it starts low, grows while requests succeed and
 * halves on 429. A stop flag (SIGINT) ends the run with ERR_INTERRUPTED and
 * a consistent journal, so the same spec resumes where it stopped.
 */
#ifndef EEFETCH_CORE_ENGINE_H
#define EEFETCH_CORE_ENGINE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/grid.h"
#include "core/spec.h"
#include "util/ee.h"
#include "util/err.h"

struct token_provider;

/* Threads, so the most requests ever in flight: EE's default per-project
 * quota. Not how many start: the adaptive limit begins below half of it and
 * climbs only while answers succeed, halving on 429 (engine_sched.c), so a
 * default run reaches the quota on an idle project and yields on a shared
 * one. */
#define ENGINE_DEFAULT_WORKERS EE_CONCURRENT_QUOTA
#define ENGINE_DEFAULT_RETRIES 6
/* Requests in flight at the start: under half of EE's default quota (40),
 * so a shared project is not flooded; slow start probes upward from it. */
#define ENGINE_INITIAL_CONCURRENCY 16
/* Stored tiles handed to the assembler in memory at most. */
#define ENGINE_HANDOFF_MAX 8
#define ENGINE_MAX_THROTTLED 30       /* 429 answers per tile before giving up */
#define ENGINE_SPLIT_FLOOR_PX 64      /* no split below 8x8-pixel pieces */
/* Smallest part, in EE-accounted bytes, of a fresh tile split to keep
 * request slots busy (the ramp, the last round): below about 2 MiB a
 * request's fixed latency outweighs its transfer (docs/engine.md,
 * "Makespan"), so smaller parts would cost more than the idle slots. */
#define ENGINE_MAKESPAN_MIN_BYTES (2u << 20)

enum engine_event_kind {
    ENGINE_EV_PLANNED,      /* the plan is known (tiles_total, tiles_resumed) */
    ENGINE_EV_TILE_DONE,    /* a tile is stored and journaled */
    ENGINE_EV_RETRY,        /* a transient failure; the piece will be retried */
    ENGINE_EV_SPLIT,        /* a splittable failure; the piece was split */
    ENGINE_EV_CONCURRENCY,  /* the concurrency limit changed */
    ENGINE_EV_ASSEMBLING,   /* all tiles fetched; writing the output */
    ENGINE_EV_TASK,         /* export: a task was submitted or changed state (task_*) */
    ENGINE_EV_OBJECT,       /* export: an exported file is downloaded and verified (object, bytes) */
};

struct engine_event {
    enum engine_event_kind kind;
    size_t tile_id;             /* TILE_DONE, RETRY, SPLIT */
    long http_status;           /* RETRY: 0 for transport/decode failures */
    const char *message;        /* RETRY, SPLIT: EE's message or the local error */
    size_t tiles_total, tiles_done, tiles_resumed;
    uint64_t bytes;             /* response bytes so far */
    int concurrency, active;
    uint64_t retries;
    /* For a live tile map: the plan (tile positions) and per plan tile a
     * non-zero byte once it is done. NULL when not known (plan only). Valid
     * during the callback only. */
    const struct grid_plan *plan;
    const unsigned char *done;
    /* TASK, OBJECT (export.h): the task's fishnet cell, its operation
     * name, state (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED...) and
     * EECU-seconds so far; OBJECT: the object's name and size. */
    size_t task;
    const char *task_name, *task_state, *task_request_id, *object;
    double task_eecu;
    uint64_t object_bytes;
    size_t tasks_total, tasks_done;
};

struct engine_summary {
    size_t tiles_total;         /* planned tiles (excluding skipped ones) */
    size_t tiles_skipped;       /* outside a polygon region, never requested */
    size_t tiles_resumed;       /* already done by an earlier run */
    size_t tiles_fetched;       /* done by this run */
    uint64_t requests, retries, splits, http_429;
    uint64_t makespan_splits;   /* fresh tiles split in four to keep the request slots busy */
    uint64_t bytes;             /* response bytes */
    double seconds;
    int max_concurrency;        /* highest concurrency limit reached */
    long width, height;         /* output grid */
    struct grid grid;           /* output grid: CRS, origin, pixel size */
    long tile_width, tile_height;   /* nominal tile size */
    int band_group;             /* bands per request */
    size_t cells;               /* fishnet cells */
    uint64_t request_bytes;     /* largest EE-accounted request of the plan */
    char plan_hash[65];
    int skipped;                /* the output was already complete, of the same plan: nothing done */
    /* What the plan costs (filled by the plan step, also with plan_only).
     * A band whose type is unknown before the first answer (no dtype) counts
     * as 8 bytes here and as 1 byte in disk_bytes_min. */
    int types_known;            /* every band's type is known: sizes are exact */
    uint64_t raw_bytes;         /* width x height x the bands' bytes */
    uint64_t fetch_bytes;       /* pixel bytes of all planned requests */
    uint64_t largest_fetch;     /* pixel bytes of the largest planned request */
    uint64_t store_bytes;       /* tile store for the tiles still to fetch */
    uint64_t output_bytes;      /* the output at most (uncompressed; a COG with overviews) */
    uint64_t disk_bytes;        /* peak disk beside the output: store + output (+ a COG's source) */
    uint64_t disk_bytes_min;    /* what the run needs there at the very least */
    int64_t disk_free;          /* free bytes in the output's directory; -1: unknown */
    char problem[1024];         /* plan_only: what would stop a run before any request, or "" */
    /* Batch export (export.h); all 0 for an interactive download. */
    int via_export;             /* the pixels came (or, plan_only, would come) from export tasks */
    char via_reason[256];       /* why (via = "auto" says which rule chose) */
    size_t tasks, tasks_submitted, tasks_resumed;
    uint64_t objects, object_bytes;
    double eecu_seconds;        /* the tasks' batchEecuUsageSeconds, summed */
};

struct engine_opts {
    const struct download_spec *spec;
    const char *endpoint;           /* base URL; NULL: spec->endpoint, else EE's */
    const char *project;            /* NULL: spec->project */
    struct token_provider *auth;    /* shared by all sessions; NULL = no Authorization */
    long timeout_ms;                /* per request; 0 = 300000 */
    int plan_only;                  /* plan and summarize; no request, no file */
    int no_disk_check;              /* run even when the disk is clearly too small */
    int overwrite_any;              /* overwrite also replaces files eefetch did not write (--unsafe) */
    volatile sig_atomic_t *stop;    /* set (e.g. by SIGINT) to stop promptly; may be NULL */
    int initial_concurrency;        /* 0: min(workers, ENGINE_INITIAL_CONCURRENCY) */
    int no_makespan_split;          /* request the planned tiles only (tests that count requests) */
    int backoff_base_ms;            /* 0: 1000 */
    int backoff_cap_ms;             /* 0: 60000 */
    uint64_t seed;                  /* jitter; 0: from the clock */
    /* Batch export (export.h). */
    int cancel_on_interrupt;        /* a stop cancels unfinished tasks (else they run on) */
    int export_poll_ms;             /* first poll delay; 0: EXPORT_POLL_FIRST_MS (cap 15x it) */
    long export_file_dim;           /* > 0: geoTiffOptions.tileDimensions (split files) */
    size_t export_range_bytes;      /* bytes per ranged read of an exported file; 0: GCS_RANGE_BYTES */
    /* Called from worker threads with the engine lock held: it must be quick
     * and must not call into Lua (progress_on_event fits). */
    void (*on_event)(const struct engine_event *ev, void *ud);
    void *ud;
};

/* Runs (or with plan_only, plans) one download. Returns 0 when the output is
 * complete; ERR_INTERRUPTED after a stop (resumable); ERR_SERVER / ERR_AUTH /
 * ERR_USAGE / ERR_IO with the tile and EE's message in e otherwise. The
 * summary is filled as far as the run got. */
int engine_run(const struct engine_opts *o, struct engine_summary *sum, struct errbuf *e);

/* The failure class of an HTTP answer (exposed for tests and docs). */
enum engine_class {
    ENGINE_OK,
    ENGINE_TRANSIENT,
    ENGINE_SPLITTABLE,
    ENGINE_AUTH,
    ENGINE_FATAL,
};
enum engine_class engine_classify(long status, const char *message);

struct buf;
/* Appends the PixelGrid JSON of the window (col, row, width x height) of
 * g: {"crsCode" or "crsWkt", "affineTransform", "dimensions"}, as both
 * image:computePixels (engine_request.c) and image:export (export.c) take
 * it, so the server computes exactly those pixels. 0 or ERR_NOMEM. */
int engine_request_grid(struct buf *b, const struct grid *g, long col, long row, long width, long height);

#endif
