/*
 * A computed raster on a request grid, and its encoders (NPY, GeoTIFF, PNG).
 * Values are held as doubles with a validity mask; encoders convert to each
 * band's type and write masked pixels as 0, as EE does.
 */
#ifndef EEFETCH_EMULATOR_RASTER_H
#define EEFETCH_EMULATOR_RASTER_H

#include "emulator/catalog.h"
#include "util/buf.h"
#include "util/err.h"

struct raster_band {
    char id[64];
    enum px_type type;
    double *data;      /* width*height values, row-major */
    uint8_t *mask;     /* width*height, 1 = valid */
};

struct raster {
    long width, height;
    int nbands;
    struct raster_band *bands;
    struct ee_grid grid;   /* crs is always set here */
};

/* Allocates bands (data zeroed, mask zeroed). Returns 0 or ERR_NOMEM. */
int raster_alloc(struct raster *r, long width, long height, int nbands);
/* The same without zeroing, for a caller that writes every value and mask
 * element (rendering does): zeroing 9 bytes per pixel per band was a third
 * of the server's time per request. */
int raster_alloc_uninit(struct raster *r, long width, long height, int nbands);
void raster_free(struct raster *r);

/* NPY v1.0 structured array, one field per band, shape (height, width). */
int encode_npy(const struct raster *r, struct buf *out, struct errbuf *e);
/* Single multi-band GeoTIFF georeferenced with r->grid. */
int encode_geotiff(const struct raster *r, struct buf *out, struct errbuf *e);
/* PNG: 1 or 3 uint8 bands (4 with alpha from the mask). */
int encode_png(const struct raster *r, struct buf *out, struct errbuf *e);

/* PNG or JPEG (driver "PNG" / "JPEG") of 1 to 4 bands, each written as
 * uint8 (values clamped to 0-255, rounded); a 2nd or 4th band is alpha. */
int encode_image8(const struct raster *r, const char *driver, struct buf *out, struct errbuf *e);
/* A zip archive of n files (names[i] holding files[i]), through GDAL. */
int encode_zip(const char *const *names, const struct buf *files, int n, struct buf *out,
               struct errbuf *e);

#endif
