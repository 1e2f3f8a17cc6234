/*
 * Tile responses -> typed per-band pixel buffers.
 *
 * computePixels answers with NPY (a structured array, one field per band,
 * pixel-interleaved) or GeoTIFF. Both decoders are pure functions over
 * (bytes, len) and an expectation of what the tile must be: any mismatch
 * (truncated body, trailing bytes, wrong shape, band names or types, wrong
 * geotransform) is ERR_PARSE, which the engine treats as a transient failure
 * and retries -- a mis-sized response is never written. They allocate only
 * the output and are safe to call from several threads at once.
 */
#ifndef EEFETCH_CORE_DECODE_H
#define EEFETCH_CORE_DECODE_H

#include <stddef.h>

#include "core/spec.h"
#include "util/err.h"

/* What the tile must look like. */
struct decode_expect {
    long width, height;
    int nbands;
    const char *const *band_ids;      /* NPY field names, in order; NULL: not checked */
    const enum spec_dtype *types;     /* per band; NULL or SPEC_DTYPE_AUTO: any supported type */
    const double *affine;             /* GeoTIFF: EE-order transform the file must carry; NULL: not checked */
};

struct decoded_band {
    enum spec_dtype type;
    void *data;                       /* width*height values, row-major, host byte order */
};

struct decoded_tile {
    long width, height;
    int nbands;
    struct decoded_band *bands;       /* nbands entries; data point into one block */
    void *block;                      /* the single pixel allocation */
};

/* Largest NPY header accepted (a 1024-band structured descr is ~30 KiB). */
#define DECODE_NPY_MAX_HEADER (1u << 20)

int decode_npy(const void *bytes, size_t len, const struct decode_expect *x,
               struct decoded_tile *out, struct errbuf *e);
/* The same checks as decode_npy without copying a pixel: where the records
 * are, and whether they can be stored as they are. uniform: every band has
 * `type` in host byte order and records are packed, so data is
 * pixel-interleaved (band fastest). data points into bytes. */
struct decode_npy_view {
    const void *data;
    size_t bytes;
    int uniform;
    enum spec_dtype type;
};
int decode_npy_view(const void *bytes, size_t len, const struct decode_expect *x, struct decode_npy_view *v,
                    struct errbuf *e);
/* GeoTIFF through GDAL's /vsimem/ (GDALAllRegister must have run). */
int decode_geotiff(const void *bytes, size_t len, const struct decode_expect *x,
                   struct decoded_tile *out, struct errbuf *e);
void decoded_tile_free(struct decoded_tile *t);

#endif
