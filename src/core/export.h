/*
 * Batch export (docs/export.md): the same download, computed by Earth
 * Engine's batch system instead of image:computePixels. One
 * image:export task per fishnet cell writes GeoTIFFs to Cloud Storage;
 * eefetch polls the tasks, downloads and verifies the files (gcs.h), cuts
 * them into the tile store exactly as interactive answers are stored, and
 * lets the tile engine assemble the output: GeoTIFF, COG or VRT with the
 * same pixels and metadata as an interactive run.
 *
 * Every task has a deterministic requestId (plan hash, cell, attempt), so
 * a retried or repeated submission never starts a second task; a journal
 * beside the output (<output>.eefetch-export) records the operations and
 * the verified files, so a rerun after any stop neither resubmits nor
 * downloads again what is done.
 */
#ifndef EEFETCH_CORE_EXPORT_H
#define EEFETCH_CORE_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/engine.h"
#include "core/grid.h"
#include "core/spec.h"
#include "util/err.h"

#define EXPORT_DEFAULT_MAX_TASKS 4
#define EXPORT_PENDING_CAP 3000       /* EE's pending tasks per project */
#define EXPORT_MAX_ATTEMPTS 3         /* a failed task is submitted again twice */
#define EXPORT_POLL_FIRST_MS 2000
#define EXPORT_POLL_CAP_MS 30000
#define EXPORT_REQUEST_ID_MAX 60      /* EE: at most 60 of [A-Za-z0-9-] */

/* via = "auto": export when the output's pixels exceed this, */
#define EXPORT_AUTO_BYTES ((uint64_t)16 << 30)
/* or the plan needs more requests than this, */
#define EXPORT_AUTO_REQUESTS 2000
/* or it reduces an image collection (a composite) and needs more than this. */
#define EXPORT_AUTO_COMPOSITE_REQUESTS 200

/* The task's requestId: "eefetch-<24 hex of the plan hash>-<8 hex of the
 * destination URI>-c<cell>-a<attempt>" (at most 60 characters): the same
 * plan, destination, cell and attempt always give the same id. Returns 0,
 * or -1 when it would not fit. */
int export_request_id(const char *plan_hash, const char *dest, size_t cell, int attempt, char *out, size_t cap);

/* Names an exported object: 1 for a split file <prefix>-RRRRRRRRRR-CCCCCCCCCC.tif
 * (the two 10-digit numbers in *a, *b, in the order of the name), 0 for the
 * single file <prefix>.tif, -1 for anything else (another cell's file). */
int export_parse_object(const char *name, const char *prefix, long *a, long *b);

/* The delay before poll number n (0 = the first) of a task: first, then
 * growing by half each time up to cap. */
int64_t export_poll_delay_ms(int n, int first_ms, int cap_ms);

/* via = "auto": 1 to export, 0 to download interactively, with the rule
 * that decided in why. raw_bytes: the output's pixel bytes. */
int export_choose(const struct download_spec *s, const struct grid_plan *p, uint64_t raw_bytes, char *why,
                  size_t cap);

/* Runs one download through export tasks. Same contract as engine_run
 * (o->spec->bucket is required); the summary also has the task counts and
 * EECU-seconds. A stop (o->stop) leaves the tasks running unless
 * o->cancel_on_interrupt; either way a rerun picks up where it stopped. */
int export_run(const struct engine_opts *o, struct engine_summary *sum, struct errbuf *e);

#endif
