/*
 * A download, as plain C data: what the Lua host hands to the tile engine.
 *
 * The host validates a recipe's `download{}` (or `plan{}`) table and fills a
 * `struct download_spec`; from then on no Lua type is involved, so workers,
 * the planner and the writer never see a lua_State. Every string here is
 * owned by the spec (malloc'd, NUL-terminated) and released by spec_free();
 * NULL means "not given" unless a field says otherwise. spec_init() sets the
 * documented defaults, so the host only fills what the recipe names.
 */
#ifndef EEFETCH_CORE_SPEC_H
#define EEFETCH_CORE_SPEC_H

#include <stddef.h>
#include <stdint.h>

/* Pixel types, in the same order and with the same sizes as EE/numpy. */
enum spec_dtype {
    SPEC_DTYPE_AUTO = 0,   /* not known / not forced: use what the server sends */
    SPEC_DTYPE_UINT8,      /* numpy |u1 */
    SPEC_DTYPE_INT8,       /* |i1 */
    SPEC_DTYPE_UINT16,     /* <u2 */
    SPEC_DTYPE_INT16,      /* <i2 */
    SPEC_DTYPE_UINT32,     /* <u4 */
    SPEC_DTYPE_INT32,      /* <i4 */
    SPEC_DTYPE_FLOAT32,    /* <f4 */
    SPEC_DTYPE_FLOAT64,    /* <f8 */
};

/* Output container. */
enum spec_format {
    SPEC_FORMAT_GTIFF = 0, /* one tiled GeoTIFF (BigTIFF when needed) */
    SPEC_FORMAT_COG,       /* one Cloud Optimized GeoTIFF, made at finalize */
    SPEC_FORMAT_VRT,       /* a VRT over one GeoTIFF per fishnet cell */
    SPEC_FORMAT_ZARR,      /* a collection's datacube: a Zarr directory (layout CUBE) */
    SPEC_FORMAT_NETCDF,    /* a collection's datacube: a NetCDF file (layout CUBE) */
};

/* What the bands are: one image, or the images of a collection stacked
 * band after band (image i's bands are parts[i]'s range of bands[]). */
enum spec_layout {
    SPEC_LAYOUT_IMAGE = 0, /* one image: the output as format says */
    SPEC_LAYOUT_FILES,     /* a collection, one GeoTIFF/COG per image at parts[i].path */
    SPEC_LAYOUT_STACK,     /* a collection as one multi-band file at output */
    SPEC_LAYOUT_CUBE,      /* a collection as a (time, y, x) datacube at output */
};

enum spec_compression {
    SPEC_COMPRESS_DEFAULT = 0, /* ZSTD when GDAL has it, else DEFLATE */
    SPEC_COMPRESS_NONE,
    SPEC_COMPRESS_DEFLATE,
    SPEC_COMPRESS_ZSTD,
    SPEC_COMPRESS_LZW,
};

/* Response format asked of computePixels for each tile. */
enum spec_fetch_format {
    SPEC_FETCH_NPY = 0,    /* default: typed, heterogeneous bands allowed */
    SPEC_FETCH_GEOTIFF,
};

/* What to do when the output or its journal already exists. */
enum spec_existing {
    SPEC_EXISTING_RESUME = 0, /* default: continue a journaled run of the same plan;
                                 refuse if the plan changed or a finished file exists */
    SPEC_EXISTING_OVERWRITE,  /* discard output, partial output and journal; start over */
    SPEC_EXISTING_SKIP,       /* a complete file at the output path: do nothing */
    SPEC_EXISTING_FAIL,       /* any existing output, partial file or journal is an error */
};

/* How the output grid is given. */
enum spec_grid_kind {
    SPEC_GRID_SCALE = 0,   /* crs + scale: extent from the region, snapped to the pixel grid */
    SPEC_GRID_EXACT,       /* crs + crs_transform + width/height: used as is */
    SPEC_GRID_TRANSFORM,   /* crs + crs_transform + region: the transform's pixel lattice
                              (pixel size and origin) cut to the region's extent, as EE
                              exports do with crsTransform and a region */
};

enum spec_region_kind {
    SPEC_REGION_NONE = 0,  /* only valid with SPEC_GRID_EXACT */
    SPEC_REGION_BBOX,      /* bbox[] in region.crs */
    SPEC_REGION_GEOJSON,   /* a GeoJSON Polygon/MultiPolygon geometry in region.crs */
};

enum spec_split {
    SPEC_SPLIT_NONE = 0,   /* fishnet cells only shape the work; one output file */
    SPEC_SPLIT_CELLS,      /* one file per cell (named <output stem>_r<row>_c<col>.tif) */
};

/* How the pixels are computed (docs/export.md). */
enum spec_via {
    SPEC_VIA_INTERACTIVE = 0, /* image:computePixels, tile by tile (the tile engine) */
    SPEC_VIA_EXPORT,          /* batch image:export tasks to Cloud Storage, then downloaded */
    SPEC_VIA_AUTO,            /* the plan chooses (export_choose, export.h) */
};

struct spec_band {
    char *id;              /* band id as the expression names it (required) */
    enum spec_dtype type;  /* SPEC_DTYPE_AUTO when not known before the first response */
    char *name;            /* the output's name for it (band description, cube
                              variable); NULL: id */
    int has_scale;         /* the recipe states value = stored * scale + offset: */
    double scale, offset;  /* written as the band's GDAL scale/offset, a cube's
                              scale_factor/add_offset and STAC's raster:bands */
};

struct spec_region {
    enum spec_region_kind kind;
    /* CRS of the coordinates below: "EPSG:n" or WKT. NULL means EPSG:4326
     * (longitude, latitude: traditional GIS axis order, x = lon). */
    char *crs;
    double bbox[4];        /* SPEC_REGION_BBOX: xmin, ymin, xmax, ymax */
    char *geojson;         /* SPEC_REGION_GEOJSON: the geometry object (not a Feature) */
};

struct spec_grid {
    enum spec_grid_kind kind;
    char *crs;             /* output CRS, "EPSG:n" (required) */
    /* SPEC_GRID_SCALE: pixel size in CRS units (> 0); x size = scale, y size = -scale.
     * The grid is anchored at CRS (0,0): pixel edges fall on multiples of scale. */
    double scale;
    /* SPEC_GRID_EXACT and SPEC_GRID_TRANSFORM: EE order [scaleX, shearX, translateX, shearY,
     * scaleY, translateY] (the same order as EE's crs_transform, not GDAL's geotransform);
     * EXACT also has the size in pixels. Shear must be 0. */
    double transform[6];
    long width, height;
};

/* Fishnet: either rows/cols (> 0 both) or a cell size in CRS units (> 0 both);
 * all zero means no fishnet (one cell). Cells are snapped to the pixel grid. */
struct spec_fishnet {
    int rows, cols;
    double cell_width, cell_height;
    enum spec_split split;
};

/* A metadata item written to the output (EE image properties, user tags). */
struct spec_kv {
    char *key;
    char *value;
};

/* One image of a collection download. */
struct spec_part {
    char *path;            /* LAYOUT_FILES: its output file; NULL otherwise */
    char *id;              /* system:id, or NULL */
    int band0, nbands;     /* its bands in bands[] */
    int has_time;
    int64_t time_ms;       /* system:time_start */
    struct spec_kv *metadata;  /* its properties, written into its file */
    size_t nmetadata;
};

struct download_spec {
    /* --- what --- */
    char *expression;      /* serialized EE expression JSON ({"result":..,"values":{..}}),
                              sent verbatim as computePixels' "expression" in every request */
    struct spec_band *bands;   /* bandIds, in output order (nbands >= 1) */
    size_t nbands;
    enum spec_dtype dtype;     /* output type; AUTO = the bands' own (widest if mixed) */
    int has_nodata;            /* 1: masked pixels and pixels outside a polygon get nodata */
    double nodata;
    /* 1: the last entry of bands[] is a 0/1 uint8 validity band (1 where every
     * data band is valid). It is requested, stored and resumed like the
     * others, but written as the output's GDAL per-dataset mask
     * (GMF_PER_DATASET, internal to the GeoTIFF: 255 valid, 0 masked), not as
     * a data band; pixels outside a polygon region are masked too. Needs
     * nbands >= 2; the host sets that band's type to uint8. */
    int mask_band;
    /* A collection (layout != IMAGE): its images, in order; NULL/0 for one
     * image. With LAYOUT_FILES, `output` names the job (its journal and
     * tile store) and each part has its file. */
    enum spec_layout layout;
    struct spec_part *parts;
    size_t nparts;
    int bands_per_request;     /* > 0: a request never holds more bands (and
                                  groups start at multiples of it); 0: planned */

    /* --- where --- */
    struct spec_grid grid;
    struct spec_region region;
    struct spec_fishnet fishnet;

    /* --- output --- */
    char *output;              /* output path (required); VRT: the .vrt path */
    enum spec_format format;
    enum spec_compression compression;
    int compress_level;        /* 0 = driver default */
    char *overview_resampling; /* COG overviews: GDAL's name (AVERAGE, NEAREST, ...); NULL = AVERAGE */
    int block_size;            /* output block edge in pixels; 0 = 256. Tiles align to it. */
    enum spec_existing existing;
    struct spec_kv *metadata;  /* extra metadata items, written as GDAL metadata */
    size_t nmetadata;
    char *quicklook;           /* PNG preview path written after the output; NULL = none */
    char *quicklook_palette;   /* one band's colour ramp in the preview; NULL = the default */
    int no_stac;               /* 1: no STAC Item beside the output (stacout.h) */
    int rgb;                   /* 1: output bands 1-3 are red, green, blue (GDAL colour
                                  interpretation), so viewers show true colour */

    /* --- how --- */
    enum spec_fetch_format fetch_format;
    int workers;               /* max concurrent requests; 0 = default (8) */
    uint64_t max_tile_bytes;   /* EE-accounted bytes per request; 0 = default
                                  (50331648 minus a margin); see grid.h */
    int max_retries;           /* transient retries per tile; 0 = default (6) */
    enum spec_via via;
    char *bucket;              /* export: "gs://bucket/prefix" the tasks write to */
    int max_tasks;             /* export: tasks running at once; 0 = default (4) */
    int delete_exported;       /* export: delete the objects once the output is complete */

    /* --- who --- */
    char *project;             /* EE project; NULL = resolved by the auth module */
    char *endpoint;            /* base URL; NULL = the default EE endpoint */
    char *credentials;         /* credentials source name or key file path; NULL = auto */
    char *workload_tag;        /* EE's workloadTag on every request (attributes EECU cost);
                                  NULL = none. [a-z0-9], '-' and '_' inside, <= 63 chars */

    /* --- provenance --- */
    char *recipe_path;         /* the recipe file, for metadata and messages */
    char *recipe_hash;         /* hex SHA-256 of the recipe text */
    int recipe_line;           /* line of the download{} call, for messages; 0 unknown */
};

/* Zeroes s and sets the defaults documented above. */
void spec_init(struct download_spec *s);
/* Frees every owned string and array; s is left as after spec_init(). */
void spec_free(struct download_spec *s);

/* 1 when the download writes one file per fishnet cell and a VRT over
 * them at output (split, or format = VRT): cells then follow the fishnet
 * on whole pixels instead of output blocks. */
int spec_files_per_cell(const struct download_spec *s);

/* Bytes per pixel of a type (0 for AUTO). */
size_t spec_dtype_size(enum spec_dtype t);
/* numpy descr ("|u1", "<f4", ...) or NULL for AUTO. */
const char *spec_dtype_npy(enum spec_dtype t);
/* Lower-case name as recipes spell it ("uint8", "float32"...; "auto"). */
const char *spec_dtype_name(enum spec_dtype t);
/* Parses a recipe dtype name ("uint8", "int16", "float32", "float"=float32,
 * "double"=float64 ...). Returns 0 and sets *t, or -1 when unknown. */
int spec_dtype_parse(const char *name, enum spec_dtype *t);
/* Parses a recipe's format ("gtiff", "geotiff", "tif", "cog", "vrt", "zarr",
 * "netcdf") and compression ("default", "none", "deflate", "zstd", "lzw").
 * Returns 0 and sets *out, or -1 when unknown. */
int spec_format_parse(const char *name, enum spec_format *out);
int spec_compression_parse(const char *name, enum spec_compression *out);
/* The i-th name the parsers above (and spec_dtype_parse's own names, "auto"
 * first) accept, NULL past the last: the recipe schema lists these. */
const char *spec_format_name_at(size_t i);
const char *spec_compression_name_at(size_t i);
const char *spec_dtype_name_at(size_t i);

#endif
