/*
 * STAC metadata for outputs: one STAC 1.0.0 Item JSON beside each output
 * file and one Collection JSON over the Items of a job with several outputs
 * (docs/engine.md, "STAC metadata"). Plain C data in, files out: the host
 * decides names and fills the structs. Nothing is fetched (the extension
 * schema URLs are written as strings only).
 */
#ifndef EEFETCH_CORE_STAC_H
#define EEFETCH_CORE_STAC_H

#include <stddef.h>
#include <stdint.h>

#include "core/grid.h"
#include "core/spec.h"
#include "util/err.h"

#define STAC_VERSION "1.0.0"
#define STAC_EXT_PROJECTION "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
#define STAC_EXT_RASTER "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
#define STAC_EXT_EO "https://stac-extensions.github.io/eo/v1.1.0/schema.json"

/* Media types of the outputs eefetch writes. */
#define STAC_MEDIA_GEOTIFF "image/tiff; application=geotiff"
#define STAC_MEDIA_COG "image/tiff; application=geotiff; profile=cloud-optimized"
#define STAC_MEDIA_VRT "application/xml"
#define STAC_MEDIA_NETCDF "application/x-netcdf"
#define STAC_MEDIA_ZARR "application/vnd+zarr"

/* One band of the asset: raster:bands (data_type, nodata, scale, offset)
 * and eo:bands (name). */
struct stac_band {
    const char *name;
    enum spec_dtype dtype;     /* SPEC_DTYPE_AUTO: no data_type written */
    int has_nodata;
    double nodata;             /* NaN and infinities are written as "nan", "inf", "-inf" */
    int has_scale;
    double scale, offset;
};

struct stac_item {
    const char *path;            /* the JSON to write (temp name, fsync, rename) */
    const char *id;
    const char *asset_path;      /* the output file; its href is relative to path's folder */
    const char *media_type;      /* STAC_MEDIA_* or another; NULL = no "type" */
    const struct grid *grid;     /* the output grid: crs, x0, y0, sx, sy, width, height */
    /* Time: datetime = datetime_ms when has_datetime (an image's
     * system:time_start); start_datetime/end_datetime = [start_ms, end_ms]
     * when has_range. With a range and no datetime, "datetime" is null as the
     * spec asks; with neither, datetime is the creation time. */
    int has_datetime;
    int64_t datetime_ms;
    int has_range;
    int64_t start_ms, end_ms;
    int64_t created_ms;          /* "created"; 0 = now */
    const struct stac_band *bands;
    size_t nbands;
    /* Image properties (text; a value that is a JSON number is written as
     * that number) and eefetch provenance (EEFETCH_X becomes "eefetch:x",
     * always a string). */
    const struct spec_kv *properties;
    size_t nproperties;
    const char *collection_id;   /* NULL when not part of a collection */
    const char *collection_path; /* the Collection JSON (root/parent/collection links), or NULL */
};

/* Writes the Item. ERR_USAGE for a grid whose CRS OSR does not know or
 * whose footprint does not transform to WGS84, ERR_IO when the file cannot
 * be written (the path is named). Nothing is left at it->path on failure. */
int stac_write_item(const struct stac_item *it, struct errbuf *e);

/* Writes a Collection over the Items at item_paths (hrefs relative to the
 * collection's folder): extent bbox_wgs84 (west, south, east, north) and the
 * interval [t0_ms, t1_ms] (t0_ms > t1_ms: [null, null], not known). */
int stac_write_collection(const char *path, const char *id, const char *description,
                          const char *const *item_paths, size_t nitems,
                          const double bbox_wgs84[4], int64_t t0_ms, int64_t t1_ms,
                          struct errbuf *e);

/* The lon/lat bounding box (west, south, east, north) of a grid's
 * rectangle: each edge sampled at STAC_EDGE_POINTS points and transformed
 * with OSR, so an edge that bulges past its corners (a UTM grid across its
 * central meridian) is covered. Also what a caller unions into a
 * Collection's extent. */
#define STAC_EDGE_POINTS 129
int stac_grid_bbox(const struct grid *g, double bbox[4], struct errbuf *e);

/* The href of target relative to the folder of from (both file paths,
 * relative to the current directory or absolute), e.g. "a/x.json" and
 * "a/x.tif" -> "x.tif", "out/c.json" and "out/2023/x.json" -> "2023/x.json". */
int stac_relative_href(const char *from, const char *target, char *out, size_t cap,
                       struct errbuf *e);

#endif
