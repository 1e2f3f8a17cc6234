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

/* The one type a multi-band file stores: the bands' own when they agree,
 * else the narrowest type holding every band's values. */
enum px_type raster_common_type(const struct raster *r);

/* Streamed GeoTIFF files, for exports: the pixels arrive in strips of full
 * rows so a file may be far larger than memory. Written tiled (block x
 * block), DEFLATE, with one type for every band (raster_common_type).
 * cloud_optimized: the file becomes a COG when closed (copied from a plain
 * GeoTIFF written beside it as PATH.plain.tif). */
struct tif_options {
    int cloud_optimized;
    int has_nodata;
    double nodata;
    int block;
};
struct tif_out;
/* shape gives the file's size, grid and bands (id, type); no pixels. */
int tif_out_open(const char *path, const struct raster *shape, const struct tif_options *o,
                 struct tif_out **out, struct errbuf *e);
/* Writes strip (the file's width, any height) at row row0. Masked pixels
 * are written as 0: a caller wanting noData there sets the values first. */
int tif_out_write(struct tif_out *w, const struct raster *strip, long row0, struct errbuf *e);
/* Finishes the file and frees w; on failure the file is removed. */
int tif_out_close(struct tif_out *w, struct errbuf *e);
/* Frees w and removes what was written. */
void tif_out_abort(struct tif_out *w);

#endif
