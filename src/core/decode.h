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
/* An NPY body decoded as it arrives, in parts of any size, so that no
 * copy of the whole answer is ever held: the header is checked as soon as
 * it is complete (every check of decode_npy but the data's length), then
 * the records go to the sink as whole records, a record cut between two
 * parts being carried over. decode_npy_stream_end checks the length. Any
 * failure (ERR_PARSE as in decode_npy, with the same messages) is sticky:
 * later feeds and the end return it again. One stream serves one body at
 * a time and can be begun again for the next. */
struct decode_npy_layout {
    int nbands;
    const enum spec_dtype *types;   /* per band, as on the wire */
    size_t npx;                     /* records (pixels) */
    size_t rec;                     /* bytes per record */
    const void *head;               /* the preamble and header dict as received */
    size_t head_bytes;
    int uniform;                    /* as in decode_npy_view */
    enum spec_dtype type;
};
struct decode_npy_sink {
    /* The header is complete and checked; NULL: not told. */
    int (*header)(void *ud, const struct decode_npy_layout *l, struct errbuf *e);
    /* n whole records, the first of them record `first` of the tile, in
     * the body's layout (decode_npy_stream_band takes a band out). */
    int (*records)(void *ud, const void *recs, size_t first, size_t n, struct errbuf *e);
    void *ud;
};
struct decode_npy_stream;
int decode_npy_stream_create(struct decode_npy_stream **out);
void decode_npy_stream_free(struct decode_npy_stream *st);
/* x and what it points to must stay valid until the body's end. */
void decode_npy_stream_begin(struct decode_npy_stream *st, const struct decode_expect *x,
                             const struct decode_npy_sink *sink);
int decode_npy_stream_feed(struct decode_npy_stream *st, const void *bytes, size_t n, struct errbuf *e);
int decode_npy_stream_end(struct decode_npy_stream *st, struct errbuf *e);
/* The header once it is complete, else NULL. */
const struct decode_npy_layout *decode_npy_stream_layout(const struct decode_npy_stream *st);
/* Band `band` of n records into dst: n values of the band's type in host
 * byte order. */
void decode_npy_stream_band(const struct decode_npy_stream *st, const void *recs, size_t n, int band, void *dst);

/* GeoTIFF through GDAL's /vsimem/ (GDALAllRegister must have run). */
int decode_geotiff(const void *bytes, size_t len, const struct decode_expect *x,
                   struct decoded_tile *out, struct errbuf *e);
void decoded_tile_free(struct decoded_tile *t);

#endif
