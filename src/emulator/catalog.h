/*
 * The emulator's catalog: synthetic assets with real EE ids, band names, data
 * types and native grids, whose pixels come from integer formulas documented
 * in docs/emulator.md, plus local GeoTIFFs registered as assets.
 * The catalog is built once, then read-only and safe to share between threads.
 */
#ifndef EEFETCH_EMULATOR_CATALOG_H
#define EEFETCH_EMULATOR_CATALOG_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum px_type { PX_U8, PX_I8, PX_U16, PX_I16, PX_U32, PX_I32, PX_F32, PX_F64 };

size_t px_size(enum px_type t);
/* numpy dtype string: "|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<f4", "<f8" */
const char *px_npy_descr(enum px_type t);
/* EE's ImageBand dataType object ({"precision":"INT","range":{...}}); new ref. */
json_object *px_ee_datatype(enum px_type t);
/* Lower-case EE/GDAL-ish name: "uint8", "int16", "float", "double" ... */
const char *px_name(enum px_type t);
/* Value range of an integer type; -1 for float types. */
int px_range(enum px_type t, double *min, double *max);

/* A pixel grid as EE sends it (PixelGrid). */
struct ee_grid {
    char crs[64];      /* "EPSG:32610"; empty means "not given" (native) */
    double affine[6];  /* EE order: scaleX, shearX, translateX, shearY, scaleY, translateY */
    long width, height;
};

#define CAT_MAX_BANDS 24

struct cat_band {
    char id[32];
    enum px_type type;
    struct ee_grid grid;   /* the band's native grid */
};

struct cat_collection;

struct cat_image {
    char id[192];                        /* e.g. "USGS/SRTMGL1_003" */
    const struct cat_collection *collection; /* NULL for a standalone image */
    int64_t start_ms, end_ms;            /* endTime is exclusive; both 0 when unknown */
    int64_t version_us;                  /* system:version: ingestion time, microseconds */
    int nbands;
    struct cat_band bands[CAT_MAX_BANDS];
    /* properties and footprint are shared by all threads: read them, or
     * json_object_deep_copy them, but never serialise or modify them in place
     * (json-c caches the serialised string inside the object). */
    json_object *properties;             /* owned; includes system:index etc. */
    json_object *footprint;              /* owned GeoJSON geometry (lon/lat) */
    int64_t size_bytes;
    void *priv;                          /* formula parameters / local pixels */
};

struct cat_collection {
    char id[128];
    size_t nimages;
    struct cat_image **images;           /* sorted by start_ms, then id */
    int64_t version_us;                  /* the newest member's version; 0 when empty */
};

struct catalog;

int catalog_create(struct catalog **out, struct errbuf *e);
/* The catalog as it was before until_ms (epoch ms, exclusive): collection
 * members acquired at or after it do not exist (serve --catalog-until).
 * catalog_create is catalog_create_until(out, CATALOG_ALL, e). */
#define CATALOG_ALL INT64_MAX
int catalog_create_until(struct catalog **out, int64_t until_ms, struct errbuf *e);
void catalog_destroy(struct catalog *c);

/* Registers a local GeoTIFF as an image asset (pixels read into memory). */
int catalog_add_local(struct catalog *c, const char *asset_id, const char *path,
                      struct errbuf *e);

/* Look-ups accept short ids ("USGS/SRTMGL1_003") and full names
 * ("projects/earthengine-public/assets/USGS/SRTMGL1_003"). NULL if absent. */
const struct cat_image *catalog_image(const struct catalog *c, const char *id);
const struct cat_collection *catalog_collection(const struct catalog *c, const char *id);

/* All images (collection members included), sorted by id, for listings. */
size_t catalog_count(const struct catalog *c);
const struct cat_image *catalog_image_at(const struct catalog *c, size_t i);

/* Reads n consecutive native pixels of band b on native row `row`, starting
 * at native column col0. Pixels outside the band's grid or the image's
 * footprint have mask 0 (value 0). Thread-safe; never allocates. */
void catalog_read_row(const struct cat_image *img, int b, long row, long col0, long n,
                      double *val, uint8_t *mask);

#endif
