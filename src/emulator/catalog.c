/*
 * The synthetic catalog: SRTM, Sentinel-2 SR harmonized and Landsat 9 C2 L2
 * with real ids, bands, types and native grids (docs/emulator.md, "Catalog"),
 * plus local GeoTIFFs registered as assets. Built once, then read-only.
 * Pixels come from formula.c; local assets keep their pixels in memory.
 */
#include "emulator/catalog.h"

#include "emulator/formula.h"

#include <gdal.h>
#include <ogr_srs_api.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- pixel types ---------------------------------------------------------- */

size_t px_size(enum px_type t)
{
    static const size_t sz[] = {1, 1, 2, 2, 4, 4, 4, 8};
    return sz[t];
}

const char *px_npy_descr(enum px_type t)
{
    static const char *d[] = {"|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<f4", "<f8"};
    return d[t];
}

const char *px_name(enum px_type t)
{
    static const char *n[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float",
                              "double"};
    return n[t];
}

int px_range(enum px_type t, double *min, double *max)
{
    static const double lo[] = {0, -128, 0, -32768, 0, -2147483648.0};
    static const double hi[] = {255, 127, 65535, 32767, 4294967295.0, 2147483647.0};

    if (t == PX_F32 || t == PX_F64)
        return -1;
    *min = lo[t];
    *max = hi[t];
    return 0;
}

json_object *px_ee_datatype(enum px_type t)
{
    json_object *o = json_object_new_object(), *r;
    double lo, hi;

    if (!o)
        return NULL;
    if (px_range(t, &lo, &hi) != 0) {
        json_object_object_add(o, "precision",
                               json_object_new_string(t == PX_F32 ? "FLOAT" : "DOUBLE"));
        return o;
    }
    /* The ranges are each type's full range, so GDAL's range-to-type rule
     * (ee-api.md 2.4) maps them back to the same type. */
    json_object_object_add(o, "precision", json_object_new_string("INT"));
    r = json_object_new_object();
    if (!r) {
        json_object_put(o);
        return NULL;
    }
    json_object_object_add(r, "min", json_object_new_int64((int64_t)lo));
    json_object_object_add(r, "max", json_object_new_int64((int64_t)hi));
    json_object_object_add(o, "range", r);
    return o;
}

/* ---- catalog structure ---------------------------------------------------- */

enum img_kind { KIND_SRTM, KIND_SCENE, KIND_LOCAL };

struct band_priv {
    enum fm_out out;
    int slot;
    int64_t ulx2, vy2;   /* 2*ulx and 2*(10^7 - uly), metres */
    int64_t scale;       /* pixel size, metres */
    double *data;        /* local assets: width*height values */
    uint8_t *mask;
};

struct img_priv {
    enum img_kind kind;
    struct fm_scene scene;
    struct band_priv bands[CAT_MAX_BANDS];
};

#define NCOLL 3

struct catalog {
    struct cat_image **images;   /* sorted by id */
    size_t nimages, cap;
    int64_t until_ms;            /* members acquired at or after it are left out */
    struct cat_collection colls[NCOLL];
};

static const char S2_ID[] = "COPERNICUS/S2_SR_HARMONIZED";
static const char L9_ID[] = "LANDSAT/LC09/C02/T1_L2";
static const char CSP_ID[] = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED";
static const char SRTM_ID[] = "USGS/SRTMGL1_003";

/* 2023-01-01T00:00:00Z in days since the epoch. */
#define DAY0 19358L
#define DAY_MS 86400000LL
#define HOUR_MS 3600000LL

/* system:version is the ingestion time in microseconds. The synthetic
 * collections are "ingested" a fixed delay after acquisition (Cloud Score+
 * a few hours after its Sentinel-2 image), so versions are deterministic and
 * grow with the acquisition time; SRTM keeps one fixed version. */
#define SRTM_VERSION_US 1700000000000000LL
#define S2_INGEST_MS (2 * DAY_MS)
#define CSP_INGEST_MS (2 * DAY_MS + 3 * HOUR_MS)
#define L9_INGEST_MS (3 * DAY_MS)

static int64_t day_ms(int day)
{
    return (DAY0 + day) * DAY_MS;
}

static void day_ymd(int day, char *out, size_t cap, int dashes)
{
    /* Civil date from days since the epoch (proleptic Gregorian). */
    long z = DAY0 + day + 719468, era = z / 146097, doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    long d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    long y = yoe + era * 400 + (m <= 2);

    if (dashes)
        snprintf(out, cap, "%04ld-%02ld-%02ld", y, m, d);
    else
        snprintf(out, cap, "%04ld%02ld%02ld", y, m, d);
}

static int cat_push(struct catalog *c, struct cat_image *img)
{
    if (c->nimages == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 512;
        struct cat_image **p = realloc(c->images, cap * sizeof *p);

        if (!p)
            return ERR_NOMEM;
        c->images = p;
        c->cap = cap;
    }
    c->images[c->nimages++] = img;
    return 0;
}

static void image_free(struct cat_image *img)
{
    struct img_priv *p;
    int b;

    if (!img)
        return;
    p = img->priv;
    if (p) {
        for (b = 0; b < CAT_MAX_BANDS; b++) {
            free(p->bands[b].data);
            free(p->bands[b].mask);
        }
        free(p);
    }
    json_object_put(img->properties);
    json_object_put(img->footprint);
    free(img);
}

static struct cat_image *image_new(const char *id, enum img_kind kind)
{
    struct cat_image *img = calloc(1, sizeof *img);
    struct img_priv *p = calloc(1, sizeof *p);

    size_t n = strlen(id);

    /* Ids are built by the catalog itself; one that does not fit is a bug
     * to refuse, not to truncate into a wrong id. */
    if (!img || !p || n >= sizeof img->id || !(img->properties = json_object_new_object())) {
        free(img);
        free(p);
        return NULL;
    }
    memcpy(img->id, id, n + 1);
    p->kind = kind;
    img->priv = p;
    return img;
}

static void grid_set(struct ee_grid *g, const char *crs, double sx, double tx, double sy,
                     double ty, long w, long h)
{
    snprintf(g->crs, sizeof g->crs, "%s", crs);
    g->affine[0] = sx;
    g->affine[1] = 0;
    g->affine[2] = tx;
    g->affine[3] = 0;
    g->affine[4] = sy;
    g->affine[5] = ty;
    g->width = w;
    g->height = h;
}

static void band_add(struct cat_image *img, const char *id, enum px_type t)
{
    struct cat_band *b = &img->bands[img->nbands++];

    snprintf(b->id, sizeof b->id, "%s", id);
    b->type = t;
}

/* A UTM band of a scene: grid and the lattice constants of its pixel centres. */
static void scene_band(struct cat_image *img, const char *id, enum px_type t, enum fm_out out,
                       int slot, int zone, long ulx, long uly, long scale, long w, long h)
{
    struct img_priv *p = img->priv;
    struct band_priv *bp = &p->bands[img->nbands];
    char crs[32];

    snprintf(crs, sizeof crs, "EPSG:%d", 32600 + zone);
    grid_set(&img->bands[img->nbands].grid, crs, (double)scale, (double)ulx, -(double)scale,
             (double)uly, w, h);
    bp->out = out;
    bp->slot = slot;
    bp->ulx2 = 2 * (int64_t)ulx;
    bp->vy2 = 2 * (10000000 - (int64_t)uly);
    bp->scale = scale;
    band_add(img, id, t);
}

/* Lon/lat polygon of a projected rectangle (corners only), via OSR. */
static json_object *footprint_rect(int epsg, double x0, double y0, double x1, double y1,
                                   struct errbuf *e)
{
    OGRSpatialReferenceH src = OSRNewSpatialReference(NULL);
    OGRSpatialReferenceH dst = OSRNewSpatialReference(NULL);
    OGRCoordinateTransformationH ct = NULL;
    json_object *geom = NULL, *rings, *ring;
    double xs[5] = {x0, x0, x1, x1, x0}, ys[5] = {y0, y1, y1, y0, y0};
    int i;

    if (!src || !dst || OSRImportFromEPSG(src, epsg) != OGRERR_NONE ||
        OSRImportFromEPSG(dst, 4326) != OGRERR_NONE) {
        err_set(e, ERR_INTERNAL, "cannot build the spatial reference EPSG:%d", epsg);
        goto out;
    }
    OSRSetAxisMappingStrategy(src, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(dst, OAMS_TRADITIONAL_GIS_ORDER);
    ct = OCTNewCoordinateTransformation(src, dst);
    if (!ct || !OCTTransform(ct, 5, xs, ys, NULL)) {
        err_set(e, ERR_INTERNAL, "cannot transform EPSG:%d to EPSG:4326", epsg);
        goto out;
    }
    geom = json_object_new_object();
    rings = json_object_new_array();
    ring = json_object_new_array();
    if (!geom || !rings || !ring) {
        json_object_put(geom);
        json_object_put(rings);
        json_object_put(ring);
        geom = NULL;
        err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < 5; i++) {
        json_object *pt = json_object_new_array();

        json_object_array_add(pt, json_object_new_double(xs[i]));
        json_object_array_add(pt, json_object_new_double(ys[i]));
        json_object_array_add(ring, pt);
    }
    json_object_array_add(rings, ring);
    json_object_object_add(geom, "type", json_object_new_string("Polygon"));
    json_object_object_add(geom, "coordinates", rings);
out:
    if (ct)
        OCTDestroyCoordinateTransformation(ct);
    OSRDestroySpatialReference(src);
    OSRDestroySpatialReference(dst);
    return geom;
}

static void prop_str(struct cat_image *img, const char *k, const char *v)
{
    json_object_object_add(img->properties, k, json_object_new_string(v));
}

static void prop_int(struct cat_image *img, const char *k, int64_t v)
{
    json_object_object_add(img->properties, k, json_object_new_int64(v));
}

/* Percentages carry two decimals; serialise them as written ("4.16", not
 * "4.1600000000000001"), which parses back to the same double. */
static void prop_pct(struct cat_image *img, const char *k, double v)
{
    char s[32];

    snprintf(s, sizeof s, "%.2f", v);
    json_object_object_add(img->properties, k, json_object_new_double_s(v, s));
}

static void props_time(struct cat_image *img, const char *index)
{
    prop_str(img, "system:index", index);
    prop_int(img, "system:time_start", img->start_ms);
    prop_int(img, "system:time_end", img->end_ms);
}

/* The documented cloud percentage: share of classes 8, 9, 10 on a lattice of
 * band b's pixels (col, row) = (off + k*step), two decimals, truncated. */
static double cloud_percent(const struct cat_image *img, int b, long step, long off)
{
    const struct img_priv *p = img->priv;
    const struct band_priv *bp = &p->bands[b];
    const struct ee_grid *g = &img->bands[b].grid;
    long nx = (g->width - off + step - 1) / step, ny = (g->height - off + step - 1) / step;
    int64_t gx0 = (bp->ulx2 + bp->scale * (2 * off + 1)) / 20;
    int64_t gy0 = (bp->vy2 + bp->scale * (2 * off + 1)) / 20;
    /* Lattice cells of pixels (off + i*step) advance by step*scale/10. */
    int64_t d = step * bp->scale / 10;
    long n = nx * ny, cloudy;

    if (n <= 0)
        return 0.0;
    cloudy = fm_scene_cloud_count(&p->scene, gx0, gy0, d, d, nx, ny);
    return (double)(cloudy * 10000 / n) / 100.0;
}

/* ---- SRTM ----------------------------------------------------------------- */

static int add_srtm(struct catalog *c, struct errbuf *e)
{
    struct cat_image *img = image_new(SRTM_ID, KIND_SRTM);
    int rc;

    if (!img)
        return err_set(e, ERR_NOMEM, "out of memory");
    /* Pixel centres on whole arc-seconds: the first column is centred on
     * 180 W and the first row on 60 N, as on the real asset. */
    grid_set(&img->bands[0].grid, "EPSG:4326", 1.0 / 3600, -180.0 - 0.5 / 3600, -1.0 / 3600,
             60.0 + 0.5 / 3600, FM_SRTM_WIDTH, FM_SRTM_HEIGHT);
    band_add(img, "elevation", PX_I16);
    img->start_ms = 950227200000LL;  /* 2000-02-11 */
    img->end_ms = 951177600000LL;    /* 2000-02-22 */
    img->version_us = SRTM_VERSION_US;
    props_time(img, "SRTMGL1_003");
    img->size_bytes = (int64_t)FM_SRTM_WIDTH * FM_SRTM_HEIGHT * 2 / 3;
    img->footprint = footprint_rect(4326, -180, 60, 180, -56, e);
    if (!img->footprint || !img->properties) {
        image_free(img);
        return err_prefix(e, ERR_INTERNAL, "SRTM footprint: ");
    }
    rc = cat_push(c, img);
    if (rc) {
        image_free(img);
        return err_set(e, rc, "out of memory");
    }
    return 0;
}

/* ---- Sentinel-2 ----------------------------------------------------------- */

struct s2_tile {
    const char *name;      /* MGRS tile without the leading T */
    int zone;
    long ulx, uly;         /* upper-left corner, metres */
    int tod;               /* datatake time of day, seconds */
    int orbit;             /* relative orbit */
};

static const struct s2_tile s2_tiles[] = {
    {"10SEG", 10, 499960, 4200000, 18 * 3600 + 37 * 60 + 51, 70},
    {"10SFG", 10, 599960, 4200000, 18 * 3600 + 37 * 60 + 51, 70},
    {"32TQM", 32, 699960, 4700000, 10 * 3600 + 5 * 60 + 59, 22},
    {"33UUP", 33, 299960, 5400000, 10 * 3600 + 10 * 60 + 29, 22},
};

static const struct {
    const char *id;
    int slot;
    int scale;
} s2_bands[] = {
    {"B1", FM_B1, 60},   {"B2", FM_B2, 10},   {"B3", FM_B3, 10},   {"B4", FM_B4, 10},
    {"B5", FM_B5, 20},   {"B6", FM_B6, 20},   {"B7", FM_B7, 20},   {"B8", FM_B8, 10},
    {"B8A", FM_B8A, 20}, {"B9", FM_B9, 60},   {"B11", FM_B11, 20}, {"B12", FM_B12, 20},
};

#define S2_TILE_M 109800L
#define S2_FIRST_DAY 4    /* 2023-01-05 */
#define S2_STEP_DAYS 5
#define LAST_DAY 364      /* 2023-12-31 */

static void hms(int tod, char *out, size_t cap)
{
    unsigned t = (unsigned)tod % 86400u;

    snprintf(out, cap, "%02u%02u%02u", t / 3600, t / 60 % 60, t % 60);
}

static int add_csp_image(struct catalog *c, const struct s2_tile *t, const struct cat_image *s2,
                         const char *index, struct errbuf *e);

static int add_s2_image(struct catalog *c, const struct s2_tile *t, int k,
                        const json_object *fp, struct errbuf *e)
{
    int day = S2_FIRST_DAY + S2_STEP_DAYS * k;
    char date[40], t1[16], t2[16], index[192], id[256];
    struct cat_image *img;
    struct img_priv *p;
    size_t i;
    int64_t bytes = 0;
    double pct;

    day_ymd(day, date, sizeof date, 0);
    hms(t->tod, t1, sizeof t1);
    hms(t->tod - 1, t2, sizeof t2);
    snprintf(index, sizeof index, "%sT%s_%sT%s_T%s", date, t1, date, t2, t->name);
    snprintf(id, sizeof id, "%s/%s", S2_ID, index);
    img = image_new(id, KIND_SCENE);
    if (!img)
        return err_set(e, ERR_NOMEM, "out of memory");
    p = img->priv;
    fm_scene_init(&p->scene, t->zone, day);
    for (i = 0; i < sizeof s2_bands / sizeof s2_bands[0]; i++) {
        long s = s2_bands[i].scale, n = S2_TILE_M / s;

        scene_band(img, s2_bands[i].id, PX_U16, FM_OUT_S2, s2_bands[i].slot, t->zone, t->ulx,
                   t->uly, s, n, n);
        bytes += n * n * 2;
    }
    scene_band(img, "SCL", PX_U8, FM_OUT_SCL, 0, t->zone, t->ulx, t->uly, 20, S2_TILE_M / 20,
               S2_TILE_M / 20);
    bytes += (S2_TILE_M / 20) * (S2_TILE_M / 20);
    scene_band(img, "QA60", PX_U16, FM_OUT_QA60, 0, t->zone, t->ulx, t->uly, 60, S2_TILE_M / 60,
               S2_TILE_M / 60);
    bytes += (S2_TILE_M / 60) * (S2_TILE_M / 60) * 2;
    img->size_bytes = bytes / 2;
    img->start_ms = day_ms(day) + t->tod * 1000LL;
    img->end_ms = img->start_ms;
    img->version_us = (img->start_ms + S2_INGEST_MS) * 1000;
    props_time(img, index);
    /* Cloud share on the 10 m pixels (30 + 60i, 30 + 60j) of B2 (band 1). */
    pct = cloud_percent(img, 1, 60, 30);
    prop_pct(img, "CLOUDY_PIXEL_PERCENTAGE", pct);
    prop_pct(img, "CLOUD_COVERAGE_ASSESSMENT", pct);
    prop_str(img, "MGRS_TILE", t->name);
    prop_str(img, "SPACECRAFT_NAME", k % 2 ? "Sentinel-2B" : "Sentinel-2A");
    prop_int(img, "SENSING_ORBIT_NUMBER", t->orbit);
    prop_str(img, "SENSING_ORBIT_DIRECTION", "DESCENDING");
    prop_str(img, "PROCESSING_BASELINE", "05.09");
    if (json_object_deep_copy((json_object *)fp, &img->footprint, NULL) != 0) {
        image_free(img);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (cat_push(c, img) != 0) {
        image_free(img);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    return add_csp_image(c, t, img, index, e);
}

/* The Cloud Score+ image of an S2 image: the same system:index, times and
 * footprint, bands cs and cs_cdf (float, 10 m) from the same scene model. */
static int add_csp_image(struct catalog *c, const struct s2_tile *t, const struct cat_image *s2,
                         const char *index, struct errbuf *e)
{
    char id[256];
    struct cat_image *img;
    struct img_priv *p;
    long n = S2_TILE_M / 10;

    snprintf(id, sizeof id, "%s/%s", CSP_ID, index);
    img = image_new(id, KIND_SCENE);
    if (!img)
        return err_set(e, ERR_NOMEM, "out of memory");
    p = img->priv;
    p->scene = ((const struct img_priv *)s2->priv)->scene;
    scene_band(img, "cs", PX_F32, FM_OUT_CS, 0, t->zone, t->ulx, t->uly, 10, n, n);
    scene_band(img, "cs_cdf", PX_F32, FM_OUT_CSCDF, 0, t->zone, t->ulx, t->uly, 10, n, n);
    img->size_bytes = n * n * 2;
    img->start_ms = s2->start_ms;
    img->end_ms = s2->end_ms;
    img->version_us = (img->start_ms + CSP_INGEST_MS) * 1000;
    props_time(img, index);
    if (json_object_deep_copy(s2->footprint, &img->footprint, NULL) != 0) {
        image_free(img);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (cat_push(c, img) != 0) {
        image_free(img);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    return 0;
}

static int add_s2(struct catalog *c, struct errbuf *e)
{
    size_t t;
    int k, rc = 0;

    for (t = 0; t < sizeof s2_tiles / sizeof s2_tiles[0] && !rc; t++) {
        const struct s2_tile *tl = &s2_tiles[t];
        json_object *fp = footprint_rect(32600 + tl->zone, tl->ulx, tl->uly,
                                         tl->ulx + S2_TILE_M, tl->uly - S2_TILE_M, e);

        if (!fp)
            return err_prefix(e, ERR_INTERNAL, "tile %s: ", tl->name);
        for (k = 0; S2_FIRST_DAY + S2_STEP_DAYS * k <= LAST_DAY && !rc; k++) {
            /* Dates ascend: the first one past the cut ends the tile. */
            if (day_ms(S2_FIRST_DAY + S2_STEP_DAYS * k) + tl->tod * 1000LL >= c->until_ms)
                break;
            rc = add_s2_image(c, tl, k, fp, e);
        }
        json_object_put(fp);
    }
    return rc;
}

/* ---- Landsat 9 ------------------------------------------------------------ */

struct l9_scene {
    int path, row, zone;
    long ulx, uly, w, h;   /* 30 m grid */
    int first_day;         /* first acquisition in 2023 (day index) */
    int tod;
};

static const struct l9_scene l9_scenes[] = {
    {44, 33, 10, 497385, 4424415, 7631, 7761, 6, 18 * 3600 + 45 * 60 + 48},
    {44, 34, 10, 458985, 4264515, 7621, 7751, 6, 18 * 3600 + 46 * 60 + 12},
    {191, 26, 33, 524085, 5473515, 7711, 7821, 2, 9 * 3600 + 48 * 60 + 33},
};

static const struct {
    const char *id;
    int slot;
} l9_bands[] = {
    {"SR_B1", FM_B1}, {"SR_B2", FM_B2},   {"SR_B3", FM_B3},   {"SR_B4", FM_B4},
    {"SR_B5", FM_B8A}, {"SR_B6", FM_B11}, {"SR_B7", FM_B12},
};

#define L9_STEP_DAYS 16

static int add_l9_image(struct catalog *c, const struct l9_scene *s, int day,
                        const json_object *fp, struct errbuf *e)
{
    char date[40], date2[40], pr[16], index[128], id[192], product[192];
    struct cat_image *img;
    struct img_priv *p;
    size_t i;
    double pct;

    day_ymd(day, date, sizeof date, 0);
    day_ymd(day + 2, date2, sizeof date2, 0);
    snprintf(pr, sizeof pr, "%03d%03d", s->path, s->row);
    snprintf(index, sizeof index, "LC09_%s_%s", pr, date);
    snprintf(id, sizeof id, "%s/%s", L9_ID, index);
    snprintf(product, sizeof product, "LC09_L2SP_%s_%s_%s_02_T1", pr, date, date2);
    img = image_new(id, KIND_SCENE);
    if (!img)
        return err_set(e, ERR_NOMEM, "out of memory");
    p = img->priv;
    fm_scene_init(&p->scene, s->zone, day);
    for (i = 0; i < sizeof l9_bands / sizeof l9_bands[0]; i++)
        scene_band(img, l9_bands[i].id, PX_U16, FM_OUT_L9SR, l9_bands[i].slot, s->zone, s->ulx,
                   s->uly, 30, s->w, s->h);
    scene_band(img, "ST_B10", PX_U16, FM_OUT_ST, 0, s->zone, s->ulx, s->uly, 30, s->w, s->h);
    scene_band(img, "QA_PIXEL", PX_U16, FM_OUT_QA, 0, s->zone, s->ulx, s->uly, 30, s->w, s->h);
    scene_band(img, "QA_RADSAT", PX_U16, FM_OUT_RADSAT, 0, s->zone, s->ulx, s->uly, 30, s->w, s->h);
    img->size_bytes = (int64_t)s->w * s->h * 2 * img->nbands / 2;
    img->start_ms = day_ms(day) + s->tod * 1000LL;
    img->end_ms = img->start_ms;
    img->version_us = (img->start_ms + L9_INGEST_MS) * 1000;
    props_time(img, index);
    pct = cloud_percent(img, 0, 40, 20);
    prop_pct(img, "CLOUD_COVER", pct);
    prop_pct(img, "CLOUD_COVER_LAND", pct);
    prop_int(img, "WRS_PATH", s->path);
    prop_int(img, "WRS_ROW", s->row);
    prop_str(img, "SPACECRAFT_ID", "LANDSAT_9");
    prop_str(img, "SENSOR_ID", "OLI_TIRS");
    prop_str(img, "COLLECTION_CATEGORY", "T1");
    prop_str(img, "LANDSAT_PRODUCT_ID", product);
    day_ymd(day, date, sizeof date, 1);
    prop_str(img, "DATE_ACQUIRED", date);
    if (json_object_deep_copy((json_object *)fp, &img->footprint, NULL) != 0) {
        image_free(img);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (cat_push(c, img) != 0) {
        image_free(img);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    return 0;
}

static int add_l9(struct catalog *c, struct errbuf *e)
{
    size_t i;
    int day, rc = 0;

    for (i = 0; i < sizeof l9_scenes / sizeof l9_scenes[0] && !rc; i++) {
        const struct l9_scene *s = &l9_scenes[i];
        json_object *fp = footprint_rect(32600 + s->zone, s->ulx, s->uly, s->ulx + 30 * s->w,
                                         s->uly - 30 * s->h, e);

        if (!fp)
            return err_prefix(e, ERR_INTERNAL, "WRS %d/%d: ", s->path, s->row);
        for (day = s->first_day; day <= LAST_DAY && !rc; day += L9_STEP_DAYS) {
            if (day_ms(day) + s->tod * 1000LL >= c->until_ms)
                break;
            rc = add_l9_image(c, s, day, fp, e);
        }
        json_object_put(fp);
    }
    return rc;
}

/* ---- index ---------------------------------------------------------------- */

static int cmp_id(const void *a, const void *b)
{
    const struct cat_image *x = *(const struct cat_image *const *)a;
    const struct cat_image *y = *(const struct cat_image *const *)b;
    return strcmp(x->id, y->id);
}

static int cmp_time(const void *a, const void *b)
{
    const struct cat_image *x = *(const struct cat_image *const *)a;
    const struct cat_image *y = *(const struct cat_image *const *)b;

    if (x->start_ms != y->start_ms)
        return x->start_ms < y->start_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Fills the collections from the images whose id starts with "<coll>/". */
static int build_collections(struct catalog *c, struct errbuf *e)
{
    static const char *ids[NCOLL] = {S2_ID, L9_ID, CSP_ID};
    int k;
    size_t i;

    for (k = 0; k < NCOLL; k++) {
        struct cat_collection *cl = &c->colls[k];
        size_t len = strlen(ids[k]);

        snprintf(cl->id, sizeof cl->id, "%s", ids[k]);
        cl->images = calloc(c->nimages ? c->nimages : 1, sizeof *cl->images);
        if (!cl->images)
            return err_set(e, ERR_NOMEM, "out of memory");
        for (i = 0; i < c->nimages; i++) {
            struct cat_image *img = c->images[i];

            if (strncmp(img->id, ids[k], len) == 0 && img->id[len] == '/') {
                img->collection = cl;
                cl->images[cl->nimages++] = img;
                if (img->version_us > cl->version_us)
                    cl->version_us = img->version_us;
            }
        }
        qsort(cl->images, cl->nimages, sizeof *cl->images, cmp_time);
    }
    return 0;
}

int catalog_create(struct catalog **out, struct errbuf *e)
{
    return catalog_create_until(out, CATALOG_ALL, e);
}

int catalog_create_until(struct catalog **out, int64_t until_ms, struct errbuf *e)
{
    struct catalog *c = calloc(1, sizeof *c);
    int rc;

    *out = NULL;
    if (!c)
        return err_set(e, ERR_NOMEM, "out of memory");
    c->until_ms = until_ms;
    rc = add_srtm(c, e);
    if (!rc)
        rc = add_s2(c, e);
    if (!rc)
        rc = add_l9(c, e);
    if (!rc)
        rc = build_collections(c, e);
    if (rc) {
        catalog_destroy(c);
        return rc;
    }
    qsort(c->images, c->nimages, sizeof *c->images, cmp_id);
    *out = c;
    return 0;
}

void catalog_destroy(struct catalog *c)
{
    size_t i;
    int k;

    if (!c)
        return;
    for (i = 0; i < c->nimages; i++)
        image_free(c->images[i]);
    for (k = 0; k < NCOLL; k++)
        free(c->colls[k].images);
    free(c->images);
    free(c);
}

size_t catalog_count(const struct catalog *c)
{
    return c->nimages;
}

const struct cat_image *catalog_image_at(const struct catalog *c, size_t i)
{
    return i < c->nimages ? c->images[i] : NULL;
}

/* "projects/<p>/assets/<id>" -> "<id>"; NULL when id is not of that form. */
static const char *strip_name(const char *id)
{
    const char *s;

    if (strncmp(id, "projects/", 9) != 0)
        return NULL;
    s = strchr(id + 9, '/');
    if (!s || strncmp(s, "/assets/", 8) != 0)
        return NULL;
    return s + 8;
}

static const struct cat_image *find_exact(const struct catalog *c, const char *id)
{
    size_t lo = 0, hi = c->nimages;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(c->images[mid]->id, id);

        if (d == 0)
            return c->images[mid];
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const struct cat_image *catalog_image(const struct catalog *c, const char *id)
{
    const struct cat_image *img;
    const char *rest;

    if (!c || !id)
        return NULL;
    img = find_exact(c, id);
    if (!img && (rest = strip_name(id)) != NULL)
        img = find_exact(c, rest);
    return img;
}

const struct cat_collection *catalog_collection(const struct catalog *c, const char *id)
{
    const char *rest;
    int k;

    if (!c || !id)
        return NULL;
    rest = strip_name(id);
    for (k = 0; k < NCOLL; k++)
        if (strcmp(c->colls[k].id, id) == 0 || (rest && strcmp(c->colls[k].id, rest) == 0))
            return &c->colls[k];
    return NULL;
}

/* ---- local GeoTIFF assets ------------------------------------------------- */

static int gdal_px_type(GDALRasterBandH band, enum px_type *t)
{
    const char *pt;

    switch (GDALGetRasterDataType(band)) {
    case GDT_Byte:
        pt = GDALGetMetadataItem(band, "PIXELTYPE", "IMAGE_STRUCTURE");
        *t = pt && strcmp(pt, "SIGNEDBYTE") == 0 ? PX_I8 : PX_U8;
        return 0;
    case GDT_UInt16: *t = PX_U16; return 0;
    case GDT_Int16: *t = PX_I16; return 0;
    case GDT_UInt32: *t = PX_U32; return 0;
    case GDT_Int32: *t = PX_I32; return 0;
    case GDT_Float32: *t = PX_F32; return 0;
    case GDT_Float64: *t = PX_F64; return 0;
    default:
        /* 64-bit integers do not fit a double exactly, complex types have no
         * EE equivalent. */
        return -1;
    }
}

/* EPSG code of the dataset's CRS, or 0 when it has none. */
static int dataset_epsg(GDALDatasetH ds)
{
    OGRSpatialReferenceH srs = GDALGetSpatialRef(ds);
    const char *name, *code;

    if (!srs)
        return 0;
    srs = OSRClone(srs);
    if (!srs)
        return 0;
    name = OSRGetAuthorityName(srs, NULL);
    if (!name || strcmp(name, "EPSG") != 0) {
        OSRAutoIdentifyEPSG(srs);
        name = OSRGetAuthorityName(srs, NULL);
    }
    code = name && strcmp(name, "EPSG") == 0 ? OSRGetAuthorityCode(srs, NULL) : NULL;
    {
        int epsg = code ? atoi(code) : 0;

        OSRDestroySpatialReference(srs);
        return epsg;
    }
}

#define LOCAL_MAX_BYTES ((int64_t)2 << 30)

static int local_bands(struct cat_image *img, GDALDatasetH ds, const char *path,
                       struct errbuf *e)
{
    struct img_priv *p = img->priv;
    long w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    int nb = GDALGetRasterCount(ds), b;
    size_t np = (size_t)w * (size_t)h, i;

    if (nb < 1 || nb > CAT_MAX_BANDS)
        return err_set(e, ERR_USAGE, "%s: %d bands (1 to %d are supported)", path, nb,
                       CAT_MAX_BANDS);
    if ((int64_t)np * nb * 9 > LOCAL_MAX_BYTES)
        return err_set(e, ERR_LIMIT, "%s: %ldx%ld with %d bands is too large to hold in memory",
                       path, w, h, nb);
    for (b = 0; b < nb; b++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, b + 1);
        struct band_priv *bp = &p->bands[b];
        struct cat_band *cb = &img->bands[b];
        const char *desc = GDALGetDescription(band);
        int has_nd = 0;
        double nd = GDALGetRasterNoDataValue(band, &has_nd);

        if (gdal_px_type(band, &cb->type) != 0)
            return err_set(e, ERR_USAGE, "%s: band %d has unsupported type %s", path, b + 1,
                           GDALGetDataTypeName(GDALGetRasterDataType(band)));
        if (desc && *desc)
            snprintf(cb->id, sizeof cb->id, "%s", desc);
        else
            snprintf(cb->id, sizeof cb->id, "b%d", b + 1);
        bp->data = malloc(np * sizeof *bp->data);
        bp->mask = malloc(np);
        if (!bp->data || !bp->mask)
            return err_set(e, ERR_NOMEM, "out of memory reading %s", path);
        if (GDALRasterIO(band, GF_Read, 0, 0, (int)w, (int)h, bp->data, (int)w, (int)h,
                         GDT_Float64, 0, 0) != CE_None)
            return err_set(e, ERR_IO, "%s: cannot read band %d: %s", path, b + 1,
                           CPLGetLastErrorMsg());
        for (i = 0; i < np; i++) {
            double v = bp->data[i];
            int ok = !isnan(v) && !(has_nd && v == nd);

            bp->mask[i] = (uint8_t)ok;
            if (!ok)
                bp->data[i] = 0;
        }
        img->nbands = b + 1;
    }
    return 0;
}

static int local_grid(struct cat_image *img, GDALDatasetH ds, const char *path,
                      struct errbuf *e)
{
    double gt[6], xs[4], ys[4], x0, y0, x1, y1;
    long w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    int epsg = dataset_epsg(ds), b, i;
    char crs[32];

    if (GDALGetGeoTransform(ds, gt) != CE_None)
        return err_set(e, ERR_USAGE, "%s: no geotransform", path);
    if (!epsg)
        return err_set(e, ERR_USAGE,
                       "%s: its CRS has no EPSG code (the emulator serves grids as EPSG codes)",
                       path);
    snprintf(crs, sizeof crs, "EPSG:%d", epsg);
    for (b = 0; b < img->nbands; b++) {
        struct ee_grid *g = &img->bands[b].grid;

        snprintf(g->crs, sizeof g->crs, "%s", crs);
        /* GDAL [tx, sx, shx, ty, shy, sy] -> EE [sx, shx, tx, shy, sy, ty]. */
        g->affine[0] = gt[1];
        g->affine[1] = gt[2];
        g->affine[2] = gt[0];
        g->affine[3] = gt[4];
        g->affine[4] = gt[5];
        g->affine[5] = gt[3];
        g->width = w;
        g->height = h;
    }
    for (i = 0; i < 4; i++) {
        double u = (i == 1 || i == 2) ? (double)w : 0, v = i >= 2 ? (double)h : 0;

        xs[i] = gt[0] + gt[1] * u + gt[2] * v;
        ys[i] = gt[3] + gt[4] * u + gt[5] * v;
    }
    x0 = fmin(fmin(xs[0], xs[1]), fmin(xs[2], xs[3]));
    x1 = fmax(fmax(xs[0], xs[1]), fmax(xs[2], xs[3]));
    y0 = fmax(fmax(ys[0], ys[1]), fmax(ys[2], ys[3]));
    y1 = fmin(fmin(ys[0], ys[1]), fmin(ys[2], ys[3]));
    img->footprint = footprint_rect(epsg, x0, y0, x1, y1, e);
    return img->footprint ? 0 : err_prefix(e, ERR_USAGE, "%s: ", path);
}

static void local_props(struct cat_image *img, GDALDatasetH ds, const char *asset_id)
{
    char **md = GDALGetMetadata(ds, NULL);
    const char *base = strrchr(asset_id, '/');
    int i;

    for (i = 0; md && md[i]; i++) {
        const char *eq = strchr(md[i], '=');
        char key[128];

        if (!eq || eq == md[i] || (size_t)(eq - md[i]) >= sizeof key)
            continue;
        memcpy(key, md[i], (size_t)(eq - md[i]));
        key[eq - md[i]] = '\0';
        prop_str(img, key, eq + 1);
    }
    prop_str(img, "system:index", base ? base + 1 : asset_id);
}

int catalog_add_local(struct catalog *c, const char *asset_id, const char *path,
                      struct errbuf *e)
{
    struct cat_image *img = NULL;
    GDALDatasetH ds = NULL;
    struct stat st;
    int rc;

    if (!asset_id || !*asset_id || strlen(asset_id) >= sizeof img->id)
        return err_set(e, ERR_USAGE, "invalid asset id");
    if (find_exact(c, asset_id))
        return err_set(e, ERR_USAGE, "asset %s already exists", asset_id);
    GDALAllRegister();
    ds = GDALOpen(path, GA_ReadOnly);
    if (!ds)
        return err_set(e, ERR_IO, "cannot open %s: %s", path, CPLGetLastErrorMsg());
    img = image_new(asset_id, KIND_LOCAL);
    if (!img) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = local_bands(img, ds, path, e);
    if (!rc)
        rc = local_grid(img, ds, path, e);
    if (rc)
        goto out;
    local_props(img, ds, asset_id);
    img->size_bytes = 0;
    img->version_us = SRTM_VERSION_US;
    if (stat(path, &st) == 0) {
        img->size_bytes = (int64_t)st.st_size;
        /* Like an upload, the version is when the file was written: a
         * rewritten file is a new version. */
        img->version_us = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
    }
    rc = cat_push(c, img);
    if (rc) {
        rc = err_set(e, rc, "out of memory");
        goto out;
    }
    img = NULL;
    qsort(c->images, c->nimages, sizeof *c->images, cmp_id);
out:
    image_free(img);
    if (ds)
        GDALClose(ds);
    return rc;
}

/* ---- pixels --------------------------------------------------------------- */

void catalog_read_row(const struct cat_image *img, int b, long row, long col0, long n,
                      double *val, uint8_t *mask)
{
    const struct img_priv *p = img->priv;
    const struct ee_grid *g;
    const struct band_priv *bp;
    long lo, hi, i;

    if (b < 0 || b >= img->nbands || row < 0 || row >= img->bands[b].grid.height) {
        memset(val, 0, (size_t)n * sizeof *val);
        memset(mask, 0, (size_t)n);
        return;
    }
    g = &img->bands[b].grid;
    bp = &p->bands[b];
    /* [lo, hi): the part of the request inside the grid, relative to col0. */
    lo = col0 < 0 ? -col0 : 0;
    if (lo > n)
        lo = n;
    hi = g->width - col0;
    if (hi > n)
        hi = n;
    if (hi < lo)
        hi = lo;
    for (i = 0; i < lo; i++) {
        val[i] = 0;
        mask[i] = 0;
    }
    for (i = hi; i < n; i++) {
        val[i] = 0;
        mask[i] = 0;
    }
    if (hi == lo)
        return;
    switch (p->kind) {
    case KIND_SRTM:
        fm_srtm_row(row, col0 + lo, hi - lo, val + lo);
        memset(mask + lo, 1, (size_t)(hi - lo));
        break;
    case KIND_SCENE: {
        long c0 = col0 + lo;
        int64_t gx0 = (bp->ulx2 + bp->scale * (2 * c0 + 1)) / 20;
        int64_t gy = (bp->vy2 + bp->scale * (2 * row + 1)) / 20;

        fm_scene_row(&p->scene, bp->out, bp->slot, gx0, bp->scale / 10, gy, hi - lo, val + lo);
        memset(mask + lo, 1, (size_t)(hi - lo));
        break;
    }
    case KIND_LOCAL: {
        size_t off = (size_t)row * (size_t)g->width + (size_t)(col0 + lo);

        memcpy(val + lo, bp->data + off, (size_t)(hi - lo) * sizeof *val);
        memcpy(mask + lo, bp->mask + off, (size_t)(hi - lo));
        break;
    }
    }
}
