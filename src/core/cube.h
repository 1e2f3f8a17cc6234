/*
 * Datacubes: a collection download (a "stack" of images, each with the same
 * bands) written as one CF-1.8 Zarr v2 store or netCDF-4 file, one variable
 * per band with dimensions (time, y, x), through GDAL's multidimensional
 * API. The pieces come from the tile store (mosaic.h): band b of a piece is
 * image b / nvars, variable b % nvars. docs/engine.md ("Datacubes")
 * describes the layout.
 *
 * Like a GeoTIFF output, a cube is written under "<path>.partial" (a
 * directory for Zarr), synced and renamed into place only when complete: the
 * final path names either nothing, the previous complete cube, or the new
 * complete one. A failure removes the partial.
 */
#ifndef EEFETCH_CORE_CUBE_H
#define EEFETCH_CORE_CUBE_H

#include <stddef.h>
#include <stdint.h>

#include "core/grid.h"
#include "core/mosaic.h"
#include "core/spec.h"
#include "util/err.h"

enum cube_format { CUBE_ZARR, CUBE_NETCDF };

struct cube_out {
    const char *path;             /* final path: a .zarr directory or a .nc file */
    enum cube_format format;
    struct grid grid;             /* crs "EPSG:n" (or WKT), x0, y0 (top-left corner), sx, sy, width, height */
    size_t ntimes;                /* images */
    const int64_t *time_ms;       /* per image: system:time_start, ms since 1970-01-01 UTC */
    const char *const *image_ids; /* per image id (NULL, or NULL entries: none), the image_id coordinate */
    size_t nvars;                 /* bands per image */
    const char *const *var_names; /* variable names: non-empty, distinct, no '/', not a coordinate's name */
    enum spec_dtype dtype;        /* the variables' type (not AUTO); int8 is stored as int16 */
    int has_nodata;
    double nodata;                /* _FillValue; without it pixels no piece covers are 0 */
    const double *scale, *offset; /* per variable (NULL = none; a NaN scale: none for it):
                                     scale_factor, add_offset */
    long chunk_w, chunk_h;        /* chunks (1, chunk_h, chunk_w): the download's tile size */
    const struct spec_kv *metadata; /* global attributes (provenance, incl. MOSAIC_PLAN_TAG) */
    size_t nmetadata;
};

/* Names the cube's coordinates and grid mapping take; a variable may not
 * have one of them. */
int cube_reserved_name(const char *name);

/* Writes the cube at o->path from the stored pieces (any order, any band
 * ranges; each piece is checked with mosaic_piece_verify and widened to the
 * cube's type). Pixels no piece covers read as nodata (0 without nodata).
 * An existing cube at o->path (of any plan) is replaced atomically; a
 * directory there that is not an eefetch cube is refused (ERR_IO), never
 * removed. On failure nothing is left but what was at o->path before. */
int cube_assemble(const struct cube_out *o, const char *parts_dir, const struct mosaic_piece *pieces,
                  size_t npieces, struct errbuf *e);

/* What is at path, for a rerun: ABSENT, SAME_PLAN / OTHER_PLAN (a cube whose
 * global attribute MOSAIC_PLAN_TAG is / is not plan_hash) or FOREIGN
 * (anything else, or what GDAL cannot open as a multidimensional dataset). */
enum mosaic_existing cube_existing(const char *path, const char *plan_hash);

#endif
