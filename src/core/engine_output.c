/*
 * The engine's output: what the file(s) look like (bands, type, format,
 * provenance metadata), the assembler thread that streams finished tiles
 * into one file while others are still fetched, and the assembly after the
 * last tile (one file, or a file per fishnet cell under a VRT). The pixels
 * themselves are written by mosaic.c.
 */
#include "core/engine_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"
#include "util/path.h"

int engine_cell_path(const char *output, const struct grid_cell *c, char *out, size_t cap)
{
    char suffix[64];

    snprintf(suffix, sizeof suffix, "_r%d_c%d.tif", c->cell_row, c->cell_col);
    return path_with_suffix(output, suffix, out, cap);
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

int engine_output_describe(const struct engine *en, struct engine_out_desc *d, struct errbuf *e)
{
    const struct download_spec *s = en->s;
    struct mosaic_out *mo = &d->mo;
    size_t nmd = 0, i;

    memset(d, 0, sizeof *d);
    d->names = calloc(s->nbands, sizeof *d->names);
    if (!d->names || build_metadata(en, &d->md, &nmd, d->store) < 0)
        return err_set(e, ERR_NOMEM, "out of memory");
    for (i = 0; i < s->nbands; i++)
        d->names[i] = s->bands[i].name ? s->bands[i].name : s->bands[i].id;
    for (i = 0; i < s->nbands && !d->scales; i++)
        if (s->bands[i].has_scale) {
            d->scales = malloc(s->nbands * sizeof *d->scales);
            d->offsets = malloc(s->nbands * sizeof *d->offsets);
            if (!d->scales || !d->offsets)
                return err_set(e, ERR_NOMEM, "out of memory");
        }
    for (i = 0; d->scales && i < s->nbands; i++) {
        d->scales[i] = s->bands[i].has_scale ? s->bands[i].scale : NAN;
        d->offsets[i] = s->bands[i].has_scale ? s->bands[i].offset : 0.0;
    }
    mo->scales = d->scales;
    mo->offsets = d->offsets;
    mo->path = s->output;
    mo->grid = en->plan.grid;
    mo->nbands = (int)s->nbands;
    mo->mask_band = s->mask_band;
    mo->band_names = d->names;
    mo->rgb = s->rgb;
    mo->dtype = s->dtype;
    mo->has_nodata = s->has_nodata;
    mo->nodata = s->nodata;
    mo->format = s->format == SPEC_FORMAT_COG ? SPEC_FORMAT_COG : SPEC_FORMAT_GTIFF;
    mo->compression = s->compression;
    mo->compress_level = s->compress_level;
    mo->block = en->plan.block;
    mo->overview_resampling = s->overview_resampling;
    mo->band_interleave = en->plan.band_group < (int)s->nbands;
    mo->metadata = d->md;
    mo->nmetadata = nmd;
    return 0;
}

void engine_output_desc_free(struct engine_out_desc *d)
{
    free(d->scales);
    free(d->offsets);
    d->scales = d->offsets = NULL;
    free(d->md);
    free(d->names);
    d->md = NULL;
    d->names = NULL;
}

int engine_output_add_locked(struct engine *en, const struct mosaic_piece *p, size_t n)
{
    struct engine_output *o = &en->out;

    if (n == 0)
        return 0;
    if (o->nall + n > o->capall) {
        size_t ncap = o->capall ? o->capall : 64;
        struct mosaic_piece *np;
        while (ncap < o->nall + n)
            ncap *= 2;
        np = realloc(o->all, ncap * sizeof *np);
        if (!np)
            return ERR_NOMEM;
        o->all = np;
        if (o->held_max) {
            struct mosaic_pbuf *nm = realloc(o->mem, ncap * sizeof *nm);
            if (!nm)
                return ERR_NOMEM;
            memset(nm + o->capall, 0, (ncap - o->capall) * sizeof *nm);
            o->mem = nm;
        }
        o->capall = ncap;
    }
    memcpy(o->all + o->nall, p, n * sizeof *p);
    o->nall += n;
    return 0;
}

void engine_output_hand_over_locked(struct engine *en, struct mosaic_pbuf *held, size_t i)
{
    struct engine_output *o = &en->out;

    if (!o->writer || !o->held_max || o->held >= o->held_max || !held->mem)
        return;
    o->mem[i] = *held;
    o->held++;
    memset(held, 0, sizeof *held);
    if (o->npool)
        *held = o->pool[--o->npool];
}

/* A buffer the assembler is done with: kept for a worker, or freed. */
static void give_back_locked(struct engine_output *o, struct mosaic_pbuf *b)
{
    if (o->npool < o->pool_max)
        o->pool[o->npool++] = *b;
    else
        mosaic_pbuf_free(b);
    memset(b, 0, sizeof *b);
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
    if (en->req.unmasked)
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
 * is fetched) and filled while tiles arrive. A few tiles wait in memory
 * for the assembler (enough to keep it busy, and memory bounded with 40
 * workers too); beyond that it reads them back from the store. */
int engine_output_stream_open(struct engine *en, struct errbuf *e)
{
    struct engine_output *o = &en->out;
    struct engine_out_desc d;
    enum spec_dtype type = known_output_type(en);
    int rc;

    if (spec_files_per_cell(en->s) || type == SPEC_DTYPE_AUTO || en->s->layout == SPEC_LAYOUT_FILES ||
        en->s->layout == SPEC_LAYOUT_CUBE)
        return 0;
    if ((rc = engine_output_describe(en, &d, e)) == 0) {
        d.mo.dtype = type;
        CPLPushErrorHandlerEx(engine_gdal_handler, en);
        rc = mosaic_writer_open(&d.mo, &o->writer, e);
        CPLPopErrorHandler();
    }
    engine_output_desc_free(&d);
    if (rc < 0 || !o->writer)
        return rc;
    o->held_max = en->nworkers < ENGINE_HANDOFF_MAX ? (size_t)en->nworkers : ENGINE_HANDOFF_MAX;
    o->pool_max = o->held_max;
    o->pool = calloc(o->pool_max, sizeof *o->pool);
    o->mem = calloc(o->capall ? o->capall : 1, sizeof *o->mem);
    if (!o->pool || !o->mem)
        return err_set(e, ERR_NOMEM, "out of memory");
    return 0;
}

/* The assembler thread: copies finished tiles' pieces into the output in
 * the order they finish, until every tile is in or the run stops. Pieces
 * stay in the tile store until the output is complete, so a crash here
 * loses nothing: the next run assembles again from the store. */
void *engine_assembler_main(void *arg)
{
    struct engine *en = arg;
    struct engine_output *o = &en->out;
    struct errbuf e;

    CPLPushErrorHandlerEx(engine_gdal_handler, en);
    pthread_mutex_lock(&en->mu);
    for (;;) {
        if (en->fail.code || engine_stop_requested(en))
            break;
        if (o->assembled < o->nall) {
            struct mosaic_piece p = o->all[o->assembled];
            struct mosaic_pbuf b = {NULL, 0, 0, 0, 0};
            int rc;
            if (o->mem && o->mem[o->assembled].mem) {
                b = o->mem[o->assembled];
                memset(&o->mem[o->assembled], 0, sizeof b);
            }
            pthread_mutex_unlock(&en->mu);
            rc = b.mem ? mosaic_writer_add_mem(o->writer, &p, &b, &e)
                       : mosaic_writer_add(o->writer, en->store.parts, &p, &e);
            pthread_mutex_lock(&en->mu);
            if (b.mem) {
                o->held--;
                give_back_locked(o, &b);
            }
            if (rc < 0) {
                engine_fail_locked(en, rc, rc == ERR_PARSE ? "%s" ENGINE_DAMAGED_HINT : "%s", e.msg);
                break;
            }
            o->assembled++;
            continue;
        }
        if (en->sched.tiles_left == 0)
            break;
        /* Woken by each finished tile; the stop flag is polled. */
        engine_wait_locked(en, ENGINE_POLL_MS);
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

/* A file per fishnet cell, each of its own pieces, then a VRT over them. */
static int assemble_cells(struct engine *en, struct mosaic_out *mo, char **files, struct mosaic_piece *cellp,
                          struct errbuf *e)
{
    const struct download_spec *s = en->s;
    const struct engine_output *o = &en->out;
    size_t i, c;
    int rc;

    for (c = 0; c < en->plan.ncells; c++) {
        const struct grid_cell *cell = &en->plan.cells[c];
        char path[4096];
        size_t n = 0;
        if (engine_cell_path(s->output, cell, path, sizeof path) < 0 || !(files[c] = strdup(path)))
            return err_set(e, ERR_LIMIT, "cannot name the file of cell %zu", c);
        for (i = 0; i < o->nall; i++)
            if (en->plan.tiles[o->all[i].tile_id].cell == c)
                cellp[n++] = o->all[i];
        mo->path = files[c];
        mo->grid = en->plan.grid;
        mo->grid.x0 = en->plan.grid.x0 + (double)cell->col * en->plan.grid.sx;
        mo->grid.y0 = en->plan.grid.y0 + (double)cell->row * en->plan.grid.sy;
        mo->grid.width = cell->width;
        mo->grid.height = cell->height;
        mo->col_off = cell->col;
        mo->row_off = cell->row;
        if ((rc = mosaic_assemble(mo, en->store.parts, cellp, n, e)) < 0)
            return rc;
    }
    /* Last, over complete cells: a VRT at the output path means the whole
     * output is there. */
    return mosaic_write_vrt(s->output, (const char *const *)files, en->plan.ncells, mo, e);
}

/* A collection's file per image: each of the pieces holding its bands
 * (requests never cross images, so each piece is read once), with the
 * provenance and the image's own properties. */
static int assemble_parts(struct engine *en, struct mosaic_out *mo, struct mosaic_piece *partp, struct errbuf *e)
{
    const struct download_spec *s = en->s;
    const struct engine_output *o = &en->out;
    const struct spec_kv *prov = mo->metadata;
    const char *const *names = mo->band_names;
    const double *scales = mo->scales, *offsets = mo->offsets;
    size_t nprov = mo->nmetadata, i, k;
    struct spec_kv *md = NULL;
    int rc = 0;

    for (k = 0; k < s->nparts && rc == 0; k++) {
        const struct spec_part *pt = &s->parts[k];
        size_t n = 0;
        struct spec_kv *nmd = realloc(md, (nprov + pt->nmetadata + 1) * sizeof *md);
        if (!nmd) {
            rc = err_set(e, ERR_NOMEM, "out of memory");
            break;
        }
        md = nmd;
        memcpy(md, prov, nprov * sizeof *md);
        memcpy(md + nprov, pt->metadata, pt->nmetadata * sizeof *md);
        for (i = 0; i < o->nall; i++)
            if (o->all[i].band0 < pt->band0 + pt->nbands && o->all[i].band0 + o->all[i].nbands > pt->band0)
                partp[n++] = o->all[i];
        mo->path = pt->path;
        mo->band_off = pt->band0;
        mo->nbands = pt->nbands;
        mo->band_names = names + pt->band0;
        if (scales) {
            mo->scales = scales + pt->band0;
            mo->offsets = offsets + pt->band0;
        }
        mo->metadata = md;
        mo->nmetadata = nprov + pt->nmetadata;
        mo->band_interleave = 0;
        rc = mosaic_assemble(mo, en->store.parts, partp, n, e);
    }
    free(md);
    return rc;
}

int engine_output_assemble(struct engine *en, struct errbuf *e)
{
    struct engine_output *o = &en->out;
    struct engine_out_desc d;
    char **files = NULL;
    struct mosaic_piece *cellp = NULL;
    size_t i, c;
    int rc = 0;

    if (o->writer) {
        /* Streaming: the assembler thread has copied every piece. */
        struct mosaic_writer *w = o->writer;
        o->writer = NULL;
        return mosaic_writer_finish(w, e);
    }
    if ((rc = engine_output_describe(en, &d, e)) < 0)
        goto done;
    if (d.mo.dtype == SPEC_DTYPE_AUTO)   /* one type for every cell file */
        for (i = 0; i < o->nall; i++)
            if (!mask_only(en, &o->all[i]))
                d.mo.dtype = mosaic_type_union(d.mo.dtype, o->all[i].type);
    if (en->s->layout == SPEC_LAYOUT_FILES) {
        if (!(cellp = malloc((o->nall ? o->nall : 1) * sizeof *cellp)))
            rc = err_set(e, ERR_NOMEM, "out of memory");
        else
            rc = assemble_parts(en, &d.mo, cellp, e);
        goto done;
    }
    if (en->s->layout == SPEC_LAYOUT_CUBE) {
        rc = engine_output_cube(en, &d.mo, e);
        goto done;
    }
    if (!spec_files_per_cell(en->s)) {
        rc = mosaic_assemble(&d.mo, en->store.parts, o->all, o->nall, e);
        goto done;
    }
    files = calloc(en->plan.ncells, sizeof *files);
    cellp = malloc((o->nall ? o->nall : 1) * sizeof *cellp);
    if (!files || !cellp)
        rc = err_set(e, ERR_NOMEM, "out of memory");
    else
        rc = assemble_cells(en, &d.mo, files, cellp, e);
done:
    if (files)
        for (c = 0; c < en->plan.ncells; c++)
            free(files[c]);
    free(files);
    free(cellp);
    engine_output_desc_free(&d);
    return rc;
}

void engine_output_free(struct engine_output *o)
{
    size_t k;

    /* An unfinished output is dropped; its pieces are kept for the resume. */
    mosaic_writer_abort(o->writer);
    o->writer = NULL;
    if (o->mem) {
        for (k = 0; k < o->capall; k++)
            mosaic_pbuf_free(&o->mem[k]);
        free(o->mem);
    }
    while (o->npool > 0)
        mosaic_pbuf_free(&o->pool[--o->npool]);
    free(o->pool);
    free(o->all);
    memset(o, 0, sizeof *o);
}
