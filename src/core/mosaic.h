/*
 * Output writing, in two stages (docs/engine.md explains why):
 *
 * 1. The tile store (mosaic_store.c). Each finished tile piece becomes a small file of raw
 *    pixels in a directory beside the output (<output>.eefetch-parts/),
 *    written under a temporary name, fsync'd and renamed, and its directory
 *    fsync'd. Only then is the tile journaled, so a kill -9 or power loss at
 *    any point can never leave a journaled tile without its pixels on disk.
 *    Pieces are independent files, so workers store them concurrently.
 * 2. Assembly (mosaic.c). One writer owns the output dataset: it creates a tiled
 *    GeoTIFF (BigTIFF when needed, ZSTD/DEFLATE with a predictor) under
 *    <output>.partial, copies pieces in at their offsets (while tiles are
 *    still being fetched, when the output type is known in advance); for a
 *    COG it also builds the overview levels as pieces arrive (overview.h)
 *    and at the end copies both into the COG layout (cogwrite.h; GDAL's COG
 *    driver for other resamplings or pieces that split the bands), then
 *    fsyncs and renames it to the output path. A file at the output path is
 *    therefore always complete; a failure removes the temporary files and
 *    leaves the output path alone.
 */
#ifndef EEFETCH_CORE_MOSAIC_H
#define EEFETCH_CORE_MOSAIC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <gdal.h>

#include "core/decode.h"
#include "core/grid.h"
#include "core/spec.h"
#include "util/err.h"

/* One stored piece: a window of the output grid and a band range, stored
 * as parts_dir/t<tile_id>_<k>.tif with pixel type `type`. */
struct mosaic_piece {
    size_t tile_id;
    int k;                   /* piece number within the tile (0 unless split) */
    long col, row, width, height;
    int band0, nbands;
    enum spec_dtype type;
};

/* The output file to assemble. */
struct mosaic_out {
    const char *path;                 /* final path */
    struct grid grid;                 /* the file's grid */
    long col_off, row_off;            /* the file's top-left pixel in the pieces' grid
                                         (non-zero for one fishnet cell) */
    int nbands;                       /* the pieces' bands (with a mask band, one more than the file's) */
    int band_off;                     /* the pieces' band of the file's first band (non-zero for
                                         one image of a collection); piece bands outside
                                         [band_off, band_off + nbands) are not this file's */
    int mask_band;                    /* 1: the pieces' last band (nbands - 1) is a 0/1 validity band,
                                         written as the file's internal per-dataset mask (255 where
                                         it is 1, else 0), not as a data band */
    const char *const *band_names;    /* band descriptions; NULL entries allowed */
    enum spec_dtype dtype;            /* AUTO: the union of the pieces' types */
    int has_nodata;
    double nodata;
    enum spec_format format;          /* GTIFF or COG */
    enum spec_compression compression;
    int compress_level;
    int block;                        /* block edge; 0 = 256 */
    const char *overview_resampling;  /* COG: GDAL resampling name; NULL = AVERAGE */
    int band_interleave;              /* 1: INTERLEAVE=BAND (pieces split the bands) */
    int rgb;                          /* 1: bands 1-3 are red, green, blue (colour interpretation) */
    const double *scales, *offsets;   /* per file band (NULL: none; a NaN scale: none for that
                                         band): GDAL's scale and offset */
    const struct spec_kv *metadata;   /* written as dataset metadata (provenance, EE properties) */
    size_t nmetadata;
};

/* Registers GDAL's drivers (idempotent). Call before starting threads. */
void mosaic_global_init(void);

/* "<output>.eefetch-parts" */
int mosaic_parts_dir(const char *output, char *out, size_t cap, struct errbuf *e);
/* Creates the parts directory when missing. */
int mosaic_parts_create(const char *parts_dir, struct errbuf *e);
/* Removes the parts directory and everything in it (after a successful
 * assembly, or when starting over). Missing is not an error. */
int mosaic_parts_remove(const char *parts_dir, struct errbuf *e);

/* 1 when the stored file of piece p exists, else 0. */
int mosaic_piece_exists(const char *parts_dir, const struct mosaic_piece *p);

/* A piece's header and pixels in one buffer aligned for direct I/O, so
 * that storing it is one write that bypasses the page cache (and the
 * assembler can take the same buffer). Zero-initialize; reuse freely. */
#define MOSAIC_ALIGN 4096
#define MOSAIC_PIECE_HEADER 64   /* bytes before the pixels in a piece (and a pbuf) */
struct mosaic_pbuf {
    unsigned char *mem;
    size_t cap;
    uint64_t sum;        /* checksum of the first sum_bytes pixel bytes, when summed */
    size_t sum_bytes;
    int summed;          /* set by mosaic_pbuf_move_in, used (and cleared) by the next store */
};
/* The buffer a piece of `bytes` of pixels needs: header, pixels and the
 * padding to a whole number of MOSAIC_ALIGN blocks. */
size_t mosaic_pbuf_size(size_t bytes);
/* Makes room for `bytes` of pixels (plus header and padding). 0 or ERR_NOMEM. */
int mosaic_pbuf_reserve(struct mosaic_pbuf *b, size_t bytes);
/* Where the pixels go: width x height x nbands values of the piece's type,
 * band-sequential planes or pixel-interleaved records (band fastest). */
void *mosaic_pbuf_pixels(const struct mosaic_pbuf *b);
/* 1 when the piece in b (as stored or read back) holds pixel-interleaved
 * records, 0 for band planes. */
int mosaic_pbuf_interleaved(const struct mosaic_pbuf *b);
/* 1 when b's header is intact (its checksum holds) and describes p. */
int mosaic_pbuf_describes(const struct mosaic_pbuf *b, const struct mosaic_piece *p);
void mosaic_pbuf_free(struct mosaic_pbuf *b);
/* Moves n bytes from src (which may lie inside b's memory, above the
 * pixels) to b's pixels and computes their checksum in the same pass, so
 * storing them does not read them again. */
void mosaic_pbuf_move_in(struct mosaic_pbuf *b, const void *src, size_t n);

/* Stores piece p durably from b's pixels (interleave: 1 pixel-interleaved,
 * 0 band planes) of p->type in host byte order; writes b's header, which
 * carries a checksum of the header and one of the pixels (taken from
 * mosaic_pbuf_move_in, or computed here in one pass). */
int mosaic_store_pbuf(const char *parts_dir, const struct mosaic_piece *p, int interleave, struct mosaic_pbuf *b,
                      struct errbuf *e);

/* Stores piece p (window and bands as in p, pixels in t) durably, converting
 * to p->type (AUTO: the union of t's band types; the type used is written
 * back to p->type). When mask is not NULL, pixels whose mask byte is 0
 * (outside a polygon region) are stored as `fill`, except in the piece's
 * last band when last_is_mask is set: that band is a validity band
 * (mosaic_out.mask_band) and gets 0, masked. Thread-safe for distinct
 * pieces. */
int mosaic_store_piece(const char *parts_dir, struct mosaic_piece *p, const struct decoded_tile *t,
                       const unsigned char *mask, double fill, int last_is_mask, struct errbuf *e);
/* A tiled GeoTIFF at path (replaced), created with GDAL's messages kept
 * quiet (the error says why), with an internal per-dataset mask when mask
 * is set; on failure nothing is left at path. */
int mosaic_gtiff_create(const char *path, long width, long height, int nbands, enum spec_dtype type, char **opts,
                        int mask, GDALDatasetH *out, struct errbuf *e);
/* The fill of mosaic_store_piece on band-sequential planes of `type`
 * already converted: pixels whose mask byte is 0 become `fill`, or 0 in the
 * last band when last_is_mask is set. */
void mosaic_fill_outside(void *planes, size_t npx, int nbands, enum spec_dtype type, const unsigned char *mask,
                         double fill, int last_is_mask);

/* GDAL's block cache when GDAL_CACHEMAX is not set, in MiB. */
#define MOSAIC_CACHE_MB 64
/* ZSTD level of outputs that name none: zstd's own default. On Sentinel-2
 * like reflectance (uint16, horizontal predictor) level 9, GDAL's default,
 * costs 2.2 times the CPU of level 3 for a file 4 % smaller (18.5 against
 * 8.5 CPU s per GiB here, docs/benchmarks.md), and compression is most of
 * the client's CPU on a 2-core machine that also fetches. */
#define MOSAIC_ZSTD_LEVEL 3

/* An output being assembled. Not thread-safe: one thread owns it. */
struct mosaic_writer;

/* Creates o->path's temporary file (o->dtype must not be AUTO). The
 * arrays o points to are needed during this call only. */
int mosaic_writer_open(const struct mosaic_out *o, struct mosaic_writer **w, struct errbuf *e);
/* Reads stored piece p into b and checks it: the file has the size p
 * needs, its header describes p and both checksums hold. 0 when intact;
 * ERR_PARSE when the piece is missing, truncated, written by an older
 * eefetch (no checksum) or damaged, with a message that names the tile,
 * the file and what is wrong (the tile must be fetched again); ERR_NOMEM. */
int mosaic_piece_verify(const char *parts_dir, const struct mosaic_piece *p, struct mosaic_pbuf *b,
                        struct errbuf *e);

/* Copies stored piece p into the output at its place (any order). Pieces
 * whose type is narrower than the output's are widened. A piece that fails
 * mosaic_piece_verify is not written: ERR_PARSE. */
int mosaic_writer_add(struct mosaic_writer *w, const char *parts_dir, const struct mosaic_piece *p,
                      struct errbuf *e);
/* The same from a buffer that mosaic_store_pbuf stored (no read). */
int mosaic_writer_add_mem(struct mosaic_writer *w, const struct mosaic_piece *p, const struct mosaic_pbuf *b,
                          struct errbuf *e);
/* Closes the file, makes the COG when asked (temporaries
 * <output>.partial-ovr<k> and .partial-cog, removed), and renames it to the output
 * path. Frees w, also on failure (then nothing is left at the path). */
int mosaic_writer_finish(struct mosaic_writer *w, struct errbuf *e);
/* Drops an unfinished output and its temporary files; frees w. */
void mosaic_writer_abort(struct mosaic_writer *w);

/* Assembles pieces (any order) into o->path. Pixels of the grid that no
 * piece covers get the nodata value (0 without nodata). */
int mosaic_assemble(const struct mosaic_out *o, const char *parts_dir, const struct mosaic_piece *pieces,
                    size_t npieces, struct errbuf *e);

/* Writes a VRT at vrt_path over complete files (one per fishnet cell),
 * under a temporary name, fsync'd and renamed. desc (may be NULL) gives
 * band names and dataset metadata (provenance) to write into it. */
int mosaic_write_vrt(const char *vrt_path, const char *const *files, size_t nfiles, const struct mosaic_out *desc,
                     struct errbuf *e);

/* The metadata item that names the plan an output was written for (the
 * plan's SHA-256, grid.h): a rerun compares it with its own plan. */
#define MOSAIC_PLAN_TAG "EEFETCH_PLAN_SHA256"

/* What is at an output path, for a rerun. */
enum mosaic_existing {
    MOSAIC_ABSENT = 0,       /* nothing */
    MOSAIC_SAME_PLAN,        /* an eefetch output whose plan tag is plan_hash */
    MOSAIC_OTHER_PLAN,       /* an eefetch output of another plan */
    MOSAIC_FOREIGN,          /* a file without the tag (or GDAL cannot open it) */
};
/* Reads the plan tag of the raster at path (a GeoTIFF, COG or VRT; a VRT's
 * sources are not opened) and compares it with plan_hash. */
enum mosaic_existing mosaic_existing_output(const char *path, const char *plan_hash);

/* fsync of a file (or, is_dir, a directory) by name: 0 or -1 (errno). */
int mosaic_fsync_path(const char *path, int is_dir);
/* Reserves [off, off + len) of fd's file: 0 or -1 (errno). keep_size:
 * beyond the end of the file without changing its size (a later truncate
 * gives back what was not used). */
int mosaic_prealloc(int fd, off_t off, off_t len, int keep_size);

/* Converts n values of type st to type dt with the store's rules
 * (integers rounded half away from zero and clamped, NaN as 0). */
void mosaic_convert_values(const void *src, enum spec_dtype st, void *dst, enum spec_dtype dt, size_t n);

/* The smallest type that holds both (AUTO is the identity). */
enum spec_dtype mosaic_type_union(enum spec_dtype a, enum spec_dtype b);

#endif
