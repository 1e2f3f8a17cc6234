/*
 * The engine's datacube output (a collection's layout "cube"): every
 * stored piece goes into a (time, y, x) Zarr or NetCDF cube written by
 * cube.c; here only what the spec says of the cube: one time step per
 * image (its parts[] entry), one variable per band of an image.
 */
#include "core/engine_int.h"

#include <stdlib.h>

#include "core/cube.h"

enum mosaic_existing engine_existing_output(const struct engine *en, const char *path)
{
    if (en->s->layout == SPEC_LAYOUT_CUBE)
        return cube_existing(path, en->plan.hash);
    return mosaic_existing_output(path, en->plan.hash);
}

int engine_output_cube(struct engine *en, const struct mosaic_out *mo, struct errbuf *e)
{
    const struct download_spec *s = en->s;
    struct cube_out co = {0};
    int64_t *times = NULL;
    const char **ids = NULL, **vars = NULL;
    size_t k, v, nvars = s->nparts ? (size_t)s->parts[0].nbands : 0;
    int rc;

    if (s->nparts == 0 || nvars == 0)
        return err_set(e, ERR_INTERNAL, "a datacube needs images");
    times = calloc(s->nparts, sizeof *times);
    ids = calloc(s->nparts, sizeof *ids);
    vars = calloc(nvars, sizeof *vars);
    if (!times || !ids || !vars) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    for (k = 0; k < s->nparts; k++) {
        if (!s->parts[k].has_time || s->parts[k].nbands != (int)nvars) {
            rc = err_set(e, ERR_USAGE, "image %zu of the cube has no time or another band count", k);
            goto done;
        }
        times[k] = s->parts[k].time_ms;
        ids[k] = s->parts[k].id;
    }
    for (v = 0; v < nvars; v++)
        vars[v] = mo->band_names[v];
    co.path = s->output;
    co.format = s->format == SPEC_FORMAT_NETCDF ? CUBE_NETCDF : CUBE_ZARR;
    co.grid = en->plan.grid;
    co.ntimes = s->nparts;
    co.time_ms = times;
    co.image_ids = ids;
    co.nvars = nvars;
    co.var_names = vars;
    co.dtype = mo->dtype;
    co.has_nodata = mo->has_nodata;
    co.nodata = mo->nodata;
    co.chunk_w = en->plan.tile_w;
    co.chunk_h = en->plan.tile_h;
    if (mo->scales) {
        /* one image's bands: the cube's variables (NaN: none) */
        co.scale = mo->scales;
        co.offset = mo->offsets;
    }
    co.metadata = mo->metadata;
    co.nmetadata = mo->nmetadata;
    rc = cube_assemble(&co, en->store.parts, en->out.all, en->out.nall, e);
done:
    free(times);
    free(ids);
    free(vars);
    return rc;
}
