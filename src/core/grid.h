/*
 * Pixel-grid planning: a download spec becomes one output grid, snapped to
 * the pixel grid, cut into fishnet cells and then into tiles that are exact
 * sub-grids of it. Every tile is requested as crsCode + affineTransform +
 * dimensions on that one grid (never as region + scale), so adjacent tiles
 * abut with no seam, and tiles are sized with EE's accounting of one extra
 * mask byte per band-pixel. See docs/engine.md for the rules.
 */
#ifndef EEFETCH_CORE_GRID_H
#define EEFETCH_CORE_GRID_H

#include <stddef.h>
#include <stdint.h>

#include "core/spec.h"
#include "util/err.h"

#define GRID_EE_MAX_BYTES 50331648ULL  /* computePixels: 48 MiB, EE-accounted */
/* Default budget: EE's limit minus 1 MiB, in case the accounting has an
 * overhead we have not seen; spec.max_tile_bytes overrides it. */
#define GRID_DEFAULT_MAX_BYTES (GRID_EE_MAX_BYTES - 1048576ULL)
#define GRID_MAX_SIDE 32768L           /* pixels per tile side */
#define GRID_MAX_BANDS 1024            /* bands per request */
#define GRID_DEFAULT_BLOCK 256         /* output block edge, tiles align to it */
#define GRID_UNKNOWN_BAND_BYTES 8      /* a band of unknown type counts as float64 */
#define GRID_MAX_TILES 4000000         /* tile windows a plan may hold (about 150 TiB of pixels) */

/* A north-up pixel grid (no shear) in one CRS. */
struct grid {
    char crs[512];     /* "EPSG:n" as given (or WKT) */
    double x0, y0;     /* CRS coordinates of the top-left corner of pixel (0,0) */
    double sx, sy;     /* pixel size; sx > 0, sy normally < 0 */
    long width, height;
};

/* One request: a pixel window of the output grid and a group of bands. */
struct grid_tile {
    size_t id;         /* index in plan->tiles (stable for a given plan hash) */
    size_t cell;       /* fishnet cell index */
    long col, row;     /* top-left pixel in the output grid (not cell-relative) */
    long width, height;
    int band0, nbands; /* spec bands [band0, band0 + nbands) */
};

/* A fishnet cell: a pixel window of the output grid (one file with split="cells"). */
struct grid_cell {
    long col, row, width, height;
    int cell_row, cell_col;      /* position in the fishnet */
    size_t first_tile, ntiles;   /* its tiles in plan->tiles */
};

struct grid_plan {
    struct grid grid;
    int block;                   /* output block edge */
    long tile_w, tile_h;         /* nominal tile size (edge tiles are smaller) */
    int band_group;              /* bands per request */
    size_t nbands;
    uint64_t max_bytes;          /* the per-request budget used */
    uint64_t max_tile_bytes_used;/* largest EE-accounted size of a planned tile */
    struct grid_cell *cells;
    size_t ncells;
    struct grid_tile *tiles;     /* only tiles that touch the region */
    size_t ntiles;
    size_t nskipped;             /* tiles outside a polygon region, never requested */
    char hash[65];               /* SHA-256 (hex) of the plan's canonical text */
    char expr_hash[65];          /* SHA-256 (hex) of the serialized expression */
    void *region;                /* polygon region in the output CRS (OGRGeometryH), or NULL;
                                    read-only after planning */
};

/* Builds the whole plan from a spec. p is owned by the caller and released
 * with grid_plan_free (also after a failure). */
int grid_plan_build(const struct download_spec *s, struct grid_plan *p, struct errbuf *e);
void grid_plan_free(struct grid_plan *p);

/* like = "file.tif": fills g as an exact grid (SPEC_GRID_EXACT, crs
 * "EPSG:n", transform in EE order, width, height) copied from a raster
 * file, so a download lands pixel-for-pixel on an existing file's grid.
 * g->crs is malloc'd (freed by spec_free). ERR_USAGE when the file cannot be
 * opened, has no geotransform, has shear, or has a CRS without an EPSG code. */
int grid_spec_from_file(const char *path, struct spec_grid *g, struct errbuf *e);

/* The output grid alone. For SPEC_GRID_SCALE the region's extent, transformed
 * into the output CRS, is widened to whole pixels of a grid anchored at CRS
 * (0,0): x0 = floor(xmin/scale)*scale, top = ceil(ymax/scale)*scale. For
 * SPEC_GRID_TRANSFORM it is widened to whole pixels of the transform's own
 * lattice (its origin and pixel size). */
int grid_resolve(const struct download_spec *s, struct grid *g, struct errbuf *e);

/* Whether a region meets the rectangle of a w x h grid (EE affine t, no
 * shear assumed for the rectangle's corners) in crs: 1 yes, 0 no, or a
 * negative error when the region cannot be built or projected. */
int grid_region_meets(const struct spec_region *r, const char *crs, const double t[6], long w, long h,
                      struct errbuf *e);

/* EE's meaning of `scale`: a pixel size in metres, converted to the units
 * of crs. For a geographic CRS, degrees = metres / (metres per degree along
 * the equator of its ellipsoid, 111319.49 m for WGS84); for a projected
 * CRS, metres / (metres per CRS unit). ERR_USAGE for an unknown CRS. */
int grid_crs_units(const char *crs, double metres, double *units, struct errbuf *e);

/* EE-accounted size of a w x h request of the given bands:
 * w * h * sum(bytes_b + 1). */
uint64_t grid_request_bytes(long w, long h, const size_t *band_bytes, size_t nbands);

/* Chooses bands per request and a tile size for a (W x H) area so that every
 * request is <= max_bytes, <= GRID_MAX_SIDE a side and <= GRID_MAX_BANDS bands,
 * with sides multiples of block unless the area itself is smaller. On entry
 * *band_group > 0 caps the bands per request (a collection's bands per
 * image): groups then divide it, so no request crosses an image. */
int grid_tile_size(const size_t *band_bytes, size_t nbands, uint64_t max_bytes, int block,
                   long W, long H, long *tw, long *th, int *band_group, struct errbuf *e);

/* EE affineTransform (scaleX, shearX, translateX, shearY, scaleY, translateY)
 * of the window whose top-left pixel is (col,row) of g:
 * translateX = x0 + col*sx, translateY = y0 + row*sy. */
void grid_window_affine(const struct grid *g, long col, long row, double ee[6]);

/* Which pixels of tile t have their centre inside the plan's polygon
 * region: mask[y*width + x] = 1 inside, 0 outside. Sets *all_inside (and
 * leaves mask untouched) when the whole tile is inside or there is no
 * polygon. mask may be NULL to ask only that. Safe to call from several
 * threads. */
int grid_region_mask(const struct grid_plan *p, const struct grid_tile *t, unsigned char *mask,
                     int *all_inside, struct errbuf *e);

/* Quad split of a tile for the "splittable" failure class: halves each side
 * longer than 1 pixel (at a multiple of align when the side allows it).
 * Writes 4, 2 or 0 (a 1x1 tile) parts to out and returns the count. The parts
 * keep the tile's id, cell and bands and partition its window exactly. */
int grid_tile_split(const struct grid_tile *t, int align, struct grid_tile out[4]);

#endif
