/*
 * The engine's datacube output (a collection's layout "cube"): every
 * stored piece goes into a (time, y, x) Zarr or NetCDF cube, written by
 * cube.c; here only what the spec says of the cube.
 */
#include "core/engine_int.h"

enum mosaic_existing engine_existing_output(const struct engine *en, const char *path)
{
    return mosaic_existing_output(path, en->plan.hash);
}

int engine_output_cube(struct engine *en, const struct mosaic_out *mo, struct errbuf *e)
{
    (void)en;
    (void)mo;
    return err_set(e, ERR_INTERNAL, "datacube outputs are not available in this build");
}
