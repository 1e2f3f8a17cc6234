/* Placeholder encoders until the raster encoders land. */
#include "emulator/raster.h"

#include <stdlib.h>

int raster_alloc(struct raster *r, long width, long height, int nbands)
{
    return err_set(NULL, ERR_INTERNAL, "unimplemented");
}

void raster_free(struct raster *r)
{
}

int encode_npy(const struct raster *r, struct buf *out, struct errbuf *e)
{
    return err_set(e, ERR_INTERNAL, "NPY encoding is not implemented yet");
}

int encode_geotiff(const struct raster *r, struct buf *out, struct errbuf *e)
{
    return err_set(e, ERR_INTERNAL, "GeoTIFF encoding is not implemented yet");
}

int encode_png(const struct raster *r, struct buf *out, struct errbuf *e)
{
    return err_set(e, ERR_INTERNAL, "PNG encoding is not implemented yet");
}
