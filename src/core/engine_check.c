/*
 * What the engine checks before its first request, so a run that cannot
 * succeed stops at once and says why: the output's directory, a folder or
 * a finished output at the output path (of this plan: nothing to do), the
 * disk space the store and output need, the pieces a resume relies on.
 * And after a failure, whether a full disk was its cause.
 */
#include "core/engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util/log.h"
#include "util/path.h"

int engine_is_disk_full_msg(const char *m)
{
    return m && (strstr(m, "No space left on device") || strstr(m, "Disk quota exceeded") ||
                 strstr(m, "File too large"));
}

/* GDAL error handler of the engine's threads: quiet (errors reach the
 * caller through errbuf), but it remembers a full disk, because libtiff's
 * last message is often a consequence ("IO error writing directory"), not
 * the cause. */
void CPL_STDCALL engine_gdal_handler(CPLErr cls, CPLErrorNum num, const char *msg)
{
    struct engine *en = CPLGetErrorHandlerUserData();

    (void)cls;
    (void)num;
    /* The first such message is the cause worth showing. */
    if (en && engine_is_disk_full_msg(msg) && __atomic_exchange_n(&en->disk.full, 1, __ATOMIC_ACQ_REL) == 0)
        snprintf(en->disk.msg, sizeof en->disk.msg, "%s", msg);
}

/* A full disk shows up as ENOSPC or inside a GDAL/libtiff message; say so
 * plainly, and that nothing fetched is lost. */
void engine_explain_disk_full(const struct engine *en, int rc, struct errbuf *e)
{
    char was[sizeof e->msg];

    if (rc >= 0 || rc == ERR_INTERRUPTED ||
        (!__atomic_load_n(&en->disk.full, __ATOMIC_RELAXED) && !engine_is_disk_full_msg(e->msg)))
        return;
    if (en->disk.msg[0] && !engine_is_disk_full_msg(e->msg))
        snprintf(was, sizeof was, "%.600s (%s)", e->msg, en->disk.msg);
    else
        snprintf(was, sizeof was, "%s", e->msg);
    snprintf(e->msg, sizeof e->msg,
             "the disk is full (or a file size limit was reached) while writing %.500s; nothing was written at "
             "that path. Tiles already fetched are kept in %.500s and its journal: free some space (the "
             "output needs about its own size again while it is assembled%s) and run the same recipe again "
             "to resume.\ndetail: %.400s",
             en->s->output, en->store.parts[0] ? en->store.parts : "the parts directory",
             en->s->format == SPEC_FORMAT_COG ? ", a COG twice: it is copied with its overviews from a GeoTIFF" : "",
             was);
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* The directory of the output must exist and be writable before anything
 * is fetched: otherwise the first failure would be a journal or GDAL error
 * far from its cause. */
int engine_check_output_dir(const char *output, struct errbuf *e)
{
    char dir[4096];
    struct stat st;

    if (path_dir(output, dir, sizeof dir) != 0)
        return err_set(e, ERR_USAGE, "output path too long");
    if (stat(dir, &st) != 0)
        return err_set(e, ERR_IO, "cannot write the output %s: its directory %s does not exist (%s)", output, dir,
                       strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return err_set(e, ERR_IO, "cannot write the output %s: %s is not a directory", output, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return err_set(e, ERR_IO, "cannot write the output %s: no permission to create files in %s (%s)", output,
                       dir, strerror(errno));
    return 0;
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

/* Cells of this plan that are all there but lack their VRT (a failure
 * between the last cell and the VRT) only get the VRT written. */
static int write_missing_vrt(const struct engine *en, struct errbuf *e)
{
    const struct download_spec *s = en->s;
    struct engine_out_desc d;
    const char **files = calloc(en->plan.ncells, sizeof *files);
    size_t c;
    int rc;

    memset(&d, 0, sizeof d);
    rc = files ? engine_output_describe(en, &d, e) : err_set(e, ERR_NOMEM, "out of memory");
    for (c = 0; rc == 0 && c < en->plan.ncells; c++) {
        char path[4096];
        if (engine_cell_path(s->output, &en->plan.cells[c], path, sizeof path) < 0 || !(files[c] = strdup(path)))
            rc = err_set(e, ERR_NOMEM, "out of memory");
    }
    if (rc == 0 && (rc = mosaic_write_vrt(s->output, files, en->plan.ncells, &d.mo, e)) == 0)
        log_info("%s: every cell file of this plan is there; wrote the VRT over them", s->output);
    for (c = 0; files && c < en->plan.ncells; c++)
        free((char *)files[c]);
    free(files);
    engine_output_desc_free(&d);
    return rc < 0 ? rc : 1;
}

/* A rerun with no journal: is the output already there? Returns 1 when the
 * output (for files per cell: the VRT and every cell file) is complete and
 * tagged with this very plan, so there is nothing to do; 0 when the run
 * goes ahead (nothing there, or cells of this plan without their VRT and
 * some missing); ERR_USAGE when what is there is another plan's or not
 * eefetch's. */
static int check_existing(const struct engine *en, struct errbuf *e)
{
    const struct download_spec *s = en->s;
    enum mosaic_existing x;
    size_t c, same = 0;

    if (s->layout == SPEC_LAYOUT_FILES) {
        /* A collection's files: all of this plan, nothing to do; any of
         * another plan, or not eefetch's, is not replaced unasked. */
        for (c = 0; c < s->nparts; c++) {
            x = mosaic_existing_output(s->parts[c].path, en->plan.hash);
            if (x == MOSAIC_OTHER_PLAN || x == MOSAIC_FOREIGN)
                return refuse_existing(s->parts[c].path, x, e);
            same += x == MOSAIC_SAME_PLAN;
        }
        return same == s->nparts;
    }
    x = engine_existing_output(en, s->output);

    if (x == MOSAIC_OTHER_PLAN || x == MOSAIC_FOREIGN)
        return refuse_existing(s->output, x, e);
    if (!spec_files_per_cell(s))
        return x == MOSAIC_SAME_PLAN;
    for (c = 0; c < en->plan.ncells; c++) {
        char path[4096];
        enum mosaic_existing cx;
        if (engine_cell_path(s->output, &en->plan.cells[c], path, sizeof path) < 0)
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
    return write_missing_vrt(en, e);
}

/* overwrite replaces eefetch's own outputs only (they carry the plan tag,
 * of any plan); a file without it, for files per cell at any cell path
 * too, is refused before anything is fetched. */
static int check_replaceable(const struct engine *en, struct errbuf *e)
{
    const struct download_spec *s = en->s;
    size_t c;

    for (c = 0; c < s->nparts && s->layout == SPEC_LAYOUT_FILES; c++)
        if (mosaic_existing_output(s->parts[c].path, en->plan.hash) == MOSAIC_FOREIGN)
            return err_set(e, ERR_USAGE,
                           "%s exists and was not written by eefetch (it has no " MOSAIC_PLAN_TAG " tag): "
                           "overwrite replaces only eefetch's own outputs; move it away or change output",
                           s->parts[c].path);
    for (c = 0; c <= (spec_files_per_cell(s) ? en->plan.ncells : 0); c++) {
        char path[4096];
        if (c == 0 && s->layout == SPEC_LAYOUT_FILES)
            continue;
        if (c == 0)
            snprintf(path, sizeof path, "%s", s->output);
        else if (engine_cell_path(s->output, &en->plan.cells[c - 1], path, sizeof path) < 0)
            return err_set(e, ERR_LIMIT, "cannot name the file of cell %zu", c - 1);
        if (engine_existing_output(en, path) == MOSAIC_FOREIGN)
            return err_set(e, ERR_USAGE,
                           "%s exists and was not written by eefetch (it has no " MOSAIC_PLAN_TAG " tag): "
                           "overwrite replaces only eefetch's own outputs; move it away or change output",
                           path);
    }
    return 0;
}

/* The output path under the spec's existing-output policy, the journal at
 * jpath and the parts directory (already named in en->store.parts): 1
 * when a finished output of this plan is there (nothing to do), 0 when the
 * run goes ahead, or the error. */
int engine_check_output(struct engine *en, const char *jpath, struct errbuf *e)
{
    const struct download_spec *s = en->s;
    struct stat ost;
    int rc;

    if (stat(s->output, &ost) == 0 && S_ISDIR(ost.st_mode) && s->format != SPEC_FORMAT_ZARR)
        return err_set(e, ERR_USAGE, "output %s is a folder; name a file in it", s->output);
    if (s->existing == SPEC_EXISTING_OVERWRITE && !en->o->overwrite_any && (rc = check_replaceable(en, e)) < 0)
        return rc;
    if (s->existing == SPEC_EXISTING_FAIL && (exists(s->output) || exists(jpath) || exists(en->store.parts)))
        return err_set(e, ERR_USAGE, "%s or its journal already exists", s->output);
    /* Without a journal, a file at the output path is a finished run's:
     * of this plan there is nothing to do (a recipe with many downloads
     * resumes where it stopped); anything else is not replaced unasked. */
    if (!exists(jpath) && s->existing != SPEC_EXISTING_OVERWRITE) {
        rc = s->existing == SPEC_EXISTING_SKIP ? exists(s->output) : check_existing(en, e);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Resuming: every piece of every journaled tile must prove its content
 * (size, header and checksums, mosaic_piece_verify) before the tile counts
 * as done. A tile with a missing, truncated, damaged or old-format piece
 * (an older eefetch wrote no checksum) is dropped from what the journal
 * says and fetched again in this run; its new journal line supersedes the
 * old one. Reads the whole store once. */
int engine_verify_resumed(struct engine *en, struct journal_state *st, struct errbuf *e)
{
    struct mosaic_pbuf pb = {NULL, 0, 0, 0, 0};
    struct errbuf pe;
    size_t k, n = 0, dropped = 0;
    int rc = 0;

    for (k = 0; k < st->npieces; k++) {
        const struct mosaic_piece *p = &st->pieces[k];
        if (!st->done[p->tile_id])
            continue;   /* another of its pieces failed already */
        rc = mosaic_piece_verify(en->store.parts, p, &pb, &pe);
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

/* Free bytes in the output's directory, or -1. */
static int64_t disk_free(const char *output)
{
    struct statvfs fs;
    char dir[4096];

    if (!output || !*output || path_dir(output, dir, sizeof dir) != 0)
        return -1;
    if (statvfs(dir, &fs) != 0)
        return -1;
    return (int64_t)((double)fs.f_bavail * (double)fs.f_frsize);
}

/* The cost of the plan and the disk the run needs beside the output: the
 * store keeps the raw pixels of every tile still to fetch (done flags,
 * NULL: all) until the output is complete; the output is written
 * meanwhile, and a COG is copied from a complete GeoTIFF, so both exist at
 * the end. */
void engine_plan_cost(const struct engine *en, struct engine_summary *sum)
{
    const struct download_spec *s = en->s;
    const unsigned char *done = en->sched.done;
    double all_hi, all_lo, store_hi = 0, store_lo = 0, out_lo = 0;
    double px = (double)en->plan.grid.width * (double)en->plan.grid.height;
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
        if (!done || !done[g->id]) {
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
    sum->disk_free = disk_free(s->output);
}

/* Before the first request: stop when the disk clearly cannot hold the
 * store (and an uncompressed output), rather than after an hour of
 * downloading; only warn when it merely may not (the output compresses,
 * and space may be freed meanwhile). o->no_disk_check turns the stop into
 * the warning. */
int engine_check_disk(const struct engine *en, struct errbuf *e)
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
                       en->s->output, (double)sum->disk_bytes_min / mib, en->sched.tiles_left,
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
