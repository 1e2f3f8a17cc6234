/*
 * Rasters and their encoders: NPY (structured array, ee-api.md 4.3),
 * GeoTIFF and PNG (both through GDAL, in /vsimem/). Conversion from the
 * double values to each band's type is the same everywhere: masked pixels
 * and NaN become 0, values are clamped to the type's range, integers are
 * rounded half away from zero (docs/emulator.md, "Pixel formulas").
 */
#include "emulator/raster.h"

#include <gdal.h>
#include <ogr_srs_api.h>
#include <cpl_string.h>
#include <cpl_vsi.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int alloc_bands(struct raster *r, long width, long height, int nbands, int zero)
{
    size_t np;
    int b;

    memset(r, 0, sizeof *r);
    if (width <= 0 || height <= 0 || nbands <= 0 ||
        (size_t)width > ((size_t)-1) / 16 / (size_t)height)
        return ERR_LIMIT;
    np = (size_t)width * (size_t)height;
    r->bands = calloc((size_t)nbands, sizeof *r->bands);
    if (!r->bands)
        return ERR_NOMEM;
    r->width = width;
    r->height = height;
    r->nbands = nbands;
    for (b = 0; b < nbands; b++) {
        r->bands[b].data = zero ? calloc(np, sizeof *r->bands[b].data)
                                : malloc(np * sizeof *r->bands[b].data);
        r->bands[b].mask = zero ? calloc(np, 1) : malloc(np);
        if (!r->bands[b].data || !r->bands[b].mask) {
            raster_free(r);
            return ERR_NOMEM;
        }
    }
    return 0;
}

int raster_alloc(struct raster *r, long width, long height, int nbands)
{
    return alloc_bands(r, width, height, nbands, 1);
}

int raster_alloc_uninit(struct raster *r, long width, long height, int nbands)
{
    return alloc_bands(r, width, height, nbands, 0);
}

void raster_free(struct raster *r)
{
    int b;

    if (!r)
        return;
    for (b = 0; b < r->nbands && r->bands; b++) {
        free(r->bands[b].data);
        free(r->bands[b].mask);
    }
    free(r->bands);
    r->bands = NULL;
    r->nbands = 0;
}

/* ---- conversion ----------------------------------------------------------- */

/* One converter per type, so the per-pixel loop has no type switch.
 * Rounding half away from zero is done by adding +-0.5 and truncating. */
#define DEFINE_CONV_UNSIGNED(name, T, HI)                                             \
    static void name(const double *src, const uint8_t *mask, size_t n, uint8_t *dst, \
                     size_t stride)                                                   \
    {                                                                                 \
        size_t i;                                                                     \
        for (i = 0; i < n; i++, dst += stride) {                                      \
            double v = mask[i] ? src[i] : 0;                                          \
            T x = !(v > 0) ? 0 : v >= (HI) ? (T)(HI) : (T)(v + 0.5);                  \
            memcpy(dst, &x, sizeof x);                                                \
        }                                                                             \
    }

#define DEFINE_CONV_SIGNED(name, T, LO, HI)                                           \
    static void name(const double *src, const uint8_t *mask, size_t n, uint8_t *dst, \
                     size_t stride)                                                   \
    {                                                                                 \
        size_t i;                                                                     \
        for (i = 0; i < n; i++, dst += stride) {                                      \
            double v = mask[i] ? src[i] : 0;                                          \
            T x = v != v ? 0 : v <= (LO) ? (T)(LO) : v >= (HI) ? (T)(HI)              \
                  : (T)(v + (v < 0 ? -0.5 : 0.5));                                    \
            memcpy(dst, &x, sizeof x);                                                \
        }                                                                             \
    }

DEFINE_CONV_UNSIGNED(conv_u8, uint8_t, 255.0)
DEFINE_CONV_UNSIGNED(conv_u16, uint16_t, 65535.0)
DEFINE_CONV_UNSIGNED(conv_u32, uint32_t, 4294967295.0)
DEFINE_CONV_SIGNED(conv_i8, int8_t, -128.0, 127.0)
DEFINE_CONV_SIGNED(conv_i16, int16_t, -32768.0, 32767.0)
DEFINE_CONV_SIGNED(conv_i32, int32_t, -2147483648.0, 2147483647.0)

static void conv_f32(const double *src, const uint8_t *mask, size_t n, uint8_t *dst,
                     size_t stride)
{
    size_t i;

    for (i = 0; i < n; i++, dst += stride) {
        double v = mask[i] ? src[i] : 0;
        /* Out-of-range doubles saturate to +-FLT_MAX rather than inf. */
        float x = v != v ? 0.0f : v > 3.4028234663852886e38 ? 3.4028234663852886e38f
                  : v < -3.4028234663852886e38 ? -3.4028234663852886e38f : (float)v;
        memcpy(dst, &x, 4);
    }
}

static void conv_f64(const double *src, const uint8_t *mask, size_t n, uint8_t *dst,
                     size_t stride)
{
    size_t i;

    for (i = 0; i < n; i++, dst += stride) {
        double x = mask[i] && src[i] == src[i] ? src[i] : 0;
        memcpy(dst, &x, 8);
    }
}

/* Writes n pixels of one band as type t at dst, `stride` bytes apart. */
static void convert(const double *src, const uint8_t *mask, size_t n, enum px_type t,
                    uint8_t *dst, size_t stride)
{
    static void (*const fn[])(const double *, const uint8_t *, size_t, uint8_t *, size_t) = {
        conv_u8, conv_i8, conv_u16, conv_i16, conv_u32, conv_i32, conv_f32, conv_f64};

    fn[t](src, mask, n, dst, stride);
}

/* ---- NPY ------------------------------------------------------------------ */

/* EE's limit of bands per request; a header this long needs NPY 2.0's
 * four-byte length when it passes 65535 bytes. */
#define NPY_MAX_BANDS 1024

int encode_npy(const struct raster *r, struct buf *out, struct errbuf *e)
{
    struct buf hdr;
    int b, v2;
    size_t rec = 0, np, total, off, pre, len;
    uint8_t *base;

    if (r->nbands < 1 || r->nbands > NPY_MAX_BANDS)
        return err_set(e, ERR_USAGE, "NPY output needs 1 to %d bands, got %d", NPY_MAX_BANDS, r->nbands);
    buf_init(&hdr, 0);
    if (buf_printf(&hdr, "{'descr': [") != 0)
        goto nomem;
    for (b = 0; b < r->nbands; b++) {
        if (buf_printf(&hdr, "%s('%s', '%s')", b ? ", " : "", r->bands[b].id, px_npy_descr(r->bands[b].type)) != 0)
            goto nomem;
        rec += px_size(r->bands[b].type);
    }
    if (buf_printf(&hdr, "], 'fortran_order': False, 'shape': (%ld, %ld), }", r->height, r->width) != 0)
        goto nomem;
    /* preamble + header + padding + '\n' is a multiple of 64 */
    v2 = hdr.len + 64 > 65535;
    pre = v2 ? 12 : 10;
    while ((pre + hdr.len + 1) % 64 != 0)
        if (buf_append(&hdr, " ", 1) != 0)
            goto nomem;
    if (buf_append(&hdr, "\n", 1) != 0)
        goto nomem;
    len = hdr.len;
    np = (size_t)r->width * (size_t)r->height;
    total = pre + len + np * rec;
    if (buf_reserve(out, total) != 0) {
        buf_free(&hdr);
        return err_set(e, ERR_LIMIT, "NPY response of %zu bytes exceeds the buffer limit", total);
    }
    base = (uint8_t *)out->data + out->len;
    memcpy(base, v2 ? "\x93NUMPY\x02\x00" : "\x93NUMPY\x01\x00", 8);
    base[8] = (uint8_t)(len & 0xff);
    base[9] = (uint8_t)(len >> 8 & 0xff);
    if (v2) {
        base[10] = (uint8_t)(len >> 16 & 0xff);
        base[11] = (uint8_t)(len >> 24 & 0xff);
    }
    memcpy(base + pre, hdr.data, len);
    buf_free(&hdr);
    off = pre + len;
    /* Records are pixel-interleaved: convert a few thousand pixels of every
     * band at a time, so each block of output is written while it is still
     * in cache instead of streaming the whole body once per band. */
    {
        const size_t chunk = 4096;
        size_t p0;
        for (p0 = 0; p0 < np; p0 += chunk) {
            size_t n = np - p0 < chunk ? np - p0 : chunk, boff = off + p0 * rec;
            for (b = 0; b < r->nbands; b++) {
                convert(r->bands[b].data + p0, r->bands[b].mask + p0, n, r->bands[b].type,
                        base + boff, rec);
                boff += px_size(r->bands[b].type);
            }
        }
    }
    out->len += total;
    out->data[out->len] = '\0';
    return 0;
nomem:
    buf_free(&hdr);
    return err_set(e, ERR_NOMEM, "out of memory");
}

/* ---- GDAL helpers --------------------------------------------------------- */

static GDALDataType gdal_type(enum px_type t)
{
    static const GDALDataType g[] = {GDT_Byte,   GDT_Byte,    GDT_UInt16,  GDT_Int16,
                                     GDT_UInt32, GDT_Int32,   GDT_Float32, GDT_Float64};
    return g[t];
}

/* The common type of all bands: the narrowest type holding every band's
 * values (integers by range; any float makes it float32, or float64 when a
 * 32-bit integer or float64 band is present). */
static enum px_type common_type(const struct raster *r)
{
    double lo = 0, hi = 0, a, b;
    int i, any_f32 = 0, any_f64 = 0, any_32 = 0;
    static const enum px_type ints[] = {PX_U8, PX_I8, PX_U16, PX_I16, PX_U32, PX_I32};

    for (i = 0; i < r->nbands; i++) {
        enum px_type t = r->bands[i].type;

        if (i > 0 && t != r->bands[0].type)
            break;
    }
    if (i == r->nbands)
        return r->bands[0].type;
    for (i = 0; i < r->nbands; i++) {
        enum px_type t = r->bands[i].type;

        any_f32 |= t == PX_F32;
        any_f64 |= t == PX_F64;
        any_32 |= t == PX_U32 || t == PX_I32;
        if (px_range(t, &a, &b) == 0) {
            lo = fmin(lo, a);
            hi = fmax(hi, b);
        }
    }
    if (any_f64 || (any_f32 && any_32))
        return PX_F64;
    if (any_f32)
        return PX_F32;
    for (i = 0; i < 6; i++) {
        px_range(ints[i], &a, &b);
        if (a <= lo && b >= hi)
            return ints[i];
    }
    return PX_F64;
}

static atomic_ulong vsimem_seq;

/* Moves a /vsimem/ file's bytes into out and unlinks it. */
static int vsimem_take(const char *name, struct buf *out, struct errbuf *e)
{
    vsi_l_offset len = 0;
    GByte *data = VSIGetMemFileBuffer(name, &len, FALSE);
    int rc = 0;

    if (!data)
        rc = err_set(e, ERR_INTERNAL, "GDAL wrote no output");
    else if (buf_append(out, data, (size_t)len) != 0)
        rc = err_set(e, ERR_LIMIT, "encoded image of %llu bytes exceeds the buffer limit",
                     (unsigned long long)len);
    VSIUnlink(name);
    return rc;
}

static pthread_once_t gdal_once = PTHREAD_ONCE_INIT;

static void gdal_register(void)
{
    GDALAllRegister();
}

/* Creates an in-memory (MEM) dataset of type t holding r's bands. */
static GDALDatasetH mem_dataset(const struct raster *r, enum px_type t, struct errbuf *e)
{
    GDALDriverH drv;

    /* Drivers are normally registered at start-up; once more here makes the
     * encoders usable on their own, and pthread_once keeps it race-free. */
    pthread_once(&gdal_once, gdal_register);
    drv = GDALGetDriverByName("MEM");
    GDALDatasetH ds;
    size_t np = (size_t)r->width * (size_t)r->height;
    uint8_t *tmp;
    int b;

    if (!drv) {
        err_set(e, ERR_INTERNAL, "GDAL MEM driver missing");
        return NULL;
    }
    if (r->width > 0x7fffffffL || r->height > 0x7fffffffL) {
        err_set(e, ERR_LIMIT, "raster too large");
        return NULL;
    }
    tmp = malloc(np * px_size(t));
    if (!tmp) {
        err_set(e, ERR_NOMEM, "out of memory");
        return NULL;
    }
    ds = GDALCreate(drv, "", (int)r->width, (int)r->height, r->nbands, gdal_type(t), NULL);
    if (!ds) {
        free(tmp);
        err_set(e, ERR_INTERNAL, "cannot create an in-memory raster: %s", CPLGetLastErrorMsg());
        return NULL;
    }
    for (b = 0; b < r->nbands; b++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, b + 1);

        convert(r->bands[b].data, r->bands[b].mask, np, t, tmp, px_size(t));
        if (GDALRasterIO(band, GF_Write, 0, 0, (int)r->width, (int)r->height, tmp,
                         (int)r->width, (int)r->height, gdal_type(t), 0, 0) != CE_None) {
            err_set(e, ERR_INTERNAL, "writing band %d: %s", b + 1, CPLGetLastErrorMsg());
            GDALClose(ds);
            free(tmp);
            return NULL;
        }
        GDALSetDescription(band, r->bands[b].id);
    }
    free(tmp);
    return ds;
}

static int georeference(GDALDatasetH ds, const struct ee_grid *g, struct errbuf *e)
{
    const double *a = g->affine;
    double gt[6] = {a[2], a[0], a[1], a[5], a[3], a[4]};
    OGRSpatialReferenceH srs;
    int rc = 0;

    if (GDALSetGeoTransform(ds, gt) != CE_None)
        return err_set(e, ERR_INTERNAL, "cannot set the geotransform");
    if (!g->crs[0])
        return 0;
    srs = OSRNewSpatialReference(NULL);
    if (!srs)
        return err_set(e, ERR_NOMEM, "out of memory");
    if (OSRSetFromUserInput(srs, g->crs) != OGRERR_NONE)
        rc = err_set(e, ERR_USAGE, "unknown CRS %s", g->crs);
    else if (GDALSetSpatialRef(ds, srs) != CE_None)
        rc = err_set(e, ERR_INTERNAL, "cannot set the CRS %s", g->crs);
    OSRDestroySpatialReference(srs);
    return rc;
}

/* CreateCopy of src into a unique /vsimem/ file with driver drv_name. */
static int copy_out(GDALDatasetH src, const char *drv_name, const char *ext, char **opts,
                    struct buf *out, struct errbuf *e)
{
    GDALDriverH drv = GDALGetDriverByName(drv_name);
    GDALDatasetH dst;
    char name[96];

    if (!drv)
        return err_set(e, ERR_INTERNAL, "GDAL %s driver missing", drv_name);
    snprintf(name, sizeof name, "/vsimem/eefetch_encode_%lu.%s",
             (unsigned long)atomic_fetch_add(&vsimem_seq, 1), ext);
    dst = GDALCreateCopy(drv, name, src, FALSE, opts, NULL, NULL);
    if (!dst) {
        VSIUnlink(name);
        return err_set(e, ERR_INTERNAL, "%s encoding failed: %s", drv_name, CPLGetLastErrorMsg());
    }
    GDALClose(dst);
    return vsimem_take(name, out, e);
}

/* ---- GeoTIFF -------------------------------------------------------------- */

int encode_geotiff(const struct raster *r, struct buf *out, struct errbuf *e)
{
    enum px_type t;
    GDALDatasetH ds;
    char **opts = NULL;
    int rc;

    if (r->nbands < 1)
        return err_set(e, ERR_USAGE, "GeoTIFF output needs at least one band");
    t = common_type(r);
    ds = mem_dataset(r, t, e);
    if (!ds)
        return ERR_INTERNAL;
    rc = georeference(ds, &r->grid, e);
    if (!rc) {
        if (t == PX_I8)
            opts = CSLSetNameValue(opts, "PIXELTYPE", "SIGNEDBYTE");
        opts = CSLSetNameValue(opts, "INTERLEAVE", r->nbands > 1 ? "PIXEL" : "BAND");
        rc = copy_out(ds, "GTiff", "tif", opts, out, e);
        CSLDestroy(opts);
    }
    GDALClose(ds);
    return rc;
}

/* ---- PNG ------------------------------------------------------------------ */

int encode_png(const struct raster *r, struct buf *out, struct errbuf *e)
{
    struct raster tmp;
    GDALDatasetH ds;
    size_t np = (size_t)r->width * (size_t)r->height, i;
    int b, rc, alpha = 0;

    if (r->nbands != 1 && r->nbands != 3)
        return err_set(e, ERR_USAGE,
                       "PNG output needs 1 or 3 uint8 bands (got %d bands); use "
                       "visualizationOptions or select bands", r->nbands);
    for (b = 0; b < r->nbands; b++) {
        if (r->bands[b].type != PX_U8)
            return err_set(e, ERR_USAGE, "PNG output needs uint8 bands; band %s is %s",
                           r->bands[b].id, px_name(r->bands[b].type));
        for (i = 0; i < np && !alpha; i++)
            alpha = !r->bands[b].mask[i];
    }
    /* Masked pixels become transparent: an alpha band from the masks. */
    tmp = *r;
    if (alpha) {
        tmp.bands = calloc((size_t)r->nbands + 1, sizeof *tmp.bands);
        if (!tmp.bands)
            return err_set(e, ERR_NOMEM, "out of memory");
        memcpy(tmp.bands, r->bands, (size_t)r->nbands * sizeof *tmp.bands);
        tmp.nbands = r->nbands + 1;
        snprintf(tmp.bands[r->nbands].id, sizeof tmp.bands[r->nbands].id, "alpha");
        tmp.bands[r->nbands].type = PX_U8;
        tmp.bands[r->nbands].data = malloc(np * sizeof(double));
        tmp.bands[r->nbands].mask = malloc(np);
        if (!tmp.bands[r->nbands].data || !tmp.bands[r->nbands].mask) {
            rc = err_set(e, ERR_NOMEM, "out of memory");
            goto out;
        }
        for (i = 0; i < np; i++) {
            int valid = 1;

            for (b = 0; b < r->nbands; b++)
                valid &= r->bands[b].mask[i] != 0;
            tmp.bands[r->nbands].data[i] = valid ? 255 : 0;
            tmp.bands[r->nbands].mask[i] = 1;
        }
    }
    ds = mem_dataset(&tmp, PX_U8, e);
    if (!ds) {
        rc = ERR_INTERNAL;
        goto out;
    }
    rc = copy_out(ds, "PNG", "png", NULL, out, e);
    GDALClose(ds);
out:
    if (alpha) {
        free(tmp.bands[r->nbands].data);
        free(tmp.bands[r->nbands].mask);
        free(tmp.bands);
    }
    return rc;
}

/* ---- 8-bit display images (thumbnails, map tiles) ---------------------- */

int encode_image8(const struct raster *r, const char *driver, struct buf *out, struct errbuf *e)
{
    GDALDatasetH ds;
    char **opts = NULL;
    int rc, jpeg = strcmp(driver, "JPEG") == 0;

    if (r->nbands < 1 || r->nbands > 4)
        return err_set(e, ERR_USAGE, "%s output needs 1 to 4 bands, got %d", driver, r->nbands);
    /* Every band is written as uint8: values clamped to 0-255 and rounded. */
    ds = mem_dataset(r, PX_U8, e);
    if (!ds)
        return ERR_INTERNAL;
    if (jpeg)
        opts = CSLSetNameValue(opts, "QUALITY", "90");
    rc = copy_out(ds, driver, jpeg ? "jpg" : "png", opts, out, e);
    CSLDestroy(opts);
    GDALClose(ds);
    return rc;
}

/* ---- ZIP ----------------------------------------------------------------- */

int encode_zip(const char *const *names, const struct buf *files, int n, struct buf *out,
               struct errbuf *e)
{
    char zip[96], member[256 + 128];
    int i, rc = 0;

    pthread_once(&gdal_once, gdal_register);
    snprintf(zip, sizeof zip, "/vsimem/eefetch_zip_%lu.zip",
             (unsigned long)atomic_fetch_add(&vsimem_seq, 1));
    /* GDAL's /vsizip/ appends each member written in turn to the archive. */
    for (i = 0; i < n && !rc; i++) {
        VSILFILE *f;
        snprintf(member, sizeof member, "/vsizip/%s/%s", zip, names[i]);
        if (!(f = VSIFOpenL(member, "wb")))
            rc = err_set(e, ERR_INTERNAL, "cannot add %s to a zip: %s", names[i],
                         CPLGetLastErrorMsg());
        else {
            if (VSIFWriteL(files[i].data, 1, files[i].len, f) != files[i].len)
                rc = err_set(e, ERR_INTERNAL, "cannot write %s into a zip", names[i]);
            if (VSIFCloseL(f) != 0 && !rc)
                rc = err_set(e, ERR_INTERNAL, "cannot finish %s in a zip", names[i]);
        }
    }
    if (rc) {
        VSIUnlink(zip);
        return rc;
    }
    return vsimem_take(zip, out, e);
}

/* ---- streamed GeoTIFF files (exports) -------------------------------------- */

struct tif_out {
    GDALDatasetH ds;
    char path[4096];        /* the file the caller asked for */
    char tmp[4200];         /* COG: the plain GeoTIFF written first */
    enum px_type type;
    int cog;
    long width, height;
    int nbands;
};

enum px_type raster_common_type(const struct raster *r)
{
    return common_type(r);
}

int tif_out_open(const char *path, const struct raster *shape, const struct tif_options *o,
                 struct tif_out **out, struct errbuf *e)
{
    GDALDriverH drv;
    struct tif_out *w;
    char **opts = NULL;
    char block[24];
    int b, rc;

    *out = NULL;
    pthread_once(&gdal_once, gdal_register);
    if (shape->nbands < 1 || shape->width < 1 || shape->height < 1 ||
        shape->width > 0x7fffffffL || shape->height > 0x7fffffffL)
        return err_set(e, ERR_USAGE, "a GeoTIFF file needs at least one band and pixel");
    if (!(drv = GDALGetDriverByName("GTiff")))
        return err_set(e, ERR_INTERNAL, "GDAL GTiff driver missing");
    if (!(w = calloc(1, sizeof *w)))
        return err_set(e, ERR_NOMEM, "out of memory");
    snprintf(w->path, sizeof w->path, "%s", path);
    w->type = common_type(shape);
    w->cog = o->cloud_optimized;
    w->width = shape->width;
    w->height = shape->height;
    w->nbands = shape->nbands;
    /* A COG is a copy of a complete file (its overviews and tile order need
     * all of it), so the pixels go to a plain GeoTIFF beside it first. */
    snprintf(w->tmp, sizeof w->tmp, "%s.plain.tif", path);
    snprintf(block, sizeof block, "%d", o->block > 0 ? o->block : 256);
    opts = CSLSetNameValue(opts, "TILED", "YES");
    opts = CSLSetNameValue(opts, "BLOCKXSIZE", block);
    opts = CSLSetNameValue(opts, "BLOCKYSIZE", block);
    opts = CSLSetNameValue(opts, "COMPRESS", "DEFLATE");
    opts = CSLSetNameValue(opts, "BIGTIFF", "IF_SAFER");
    opts = CSLSetNameValue(opts, "INTERLEAVE", shape->nbands > 1 ? "PIXEL" : "BAND");
    if (w->type == PX_I8)
        opts = CSLSetNameValue(opts, "PIXELTYPE", "SIGNEDBYTE");
    w->ds = GDALCreate(drv, w->cog ? w->tmp : w->path, (int)shape->width, (int)shape->height,
                       shape->nbands, gdal_type(w->type), opts);
    CSLDestroy(opts);
    if (!w->ds) {
        rc = err_set(e, ERR_IO, "cannot create %s: %s", w->cog ? w->tmp : w->path,
                     CPLGetLastErrorMsg());
        free(w);
        return rc;
    }
    if ((rc = georeference(w->ds, &shape->grid, e)) != 0) {
        tif_out_abort(w);
        return rc;
    }
    for (b = 0; b < shape->nbands; b++) {
        GDALRasterBandH band = GDALGetRasterBand(w->ds, b + 1);
        GDALSetDescription(band, shape->bands[b].id);
        if (o->has_nodata)
            GDALSetRasterNoDataValue(band, o->nodata);
    }
    *out = w;
    return 0;
}

int tif_out_write(struct tif_out *w, const struct raster *strip, long row0, struct errbuf *e)
{
    size_t np = (size_t)strip->width * (size_t)strip->height;
    uint8_t *tmp;
    int b, rc = 0;

    if (strip->nbands != w->nbands || strip->width != w->width || row0 < 0 ||
        row0 + strip->height > w->height)
        return err_set(e, ERR_INTERNAL, "strip does not fit the file");
    if (!(tmp = malloc(np * px_size(w->type))))
        return err_set(e, ERR_NOMEM, "out of memory");
    for (b = 0; b < strip->nbands && rc == 0; b++) {
        convert(strip->bands[b].data, strip->bands[b].mask, np, w->type, tmp, px_size(w->type));
        if (GDALRasterIO(GDALGetRasterBand(w->ds, b + 1), GF_Write, 0, (int)row0,
                         (int)strip->width, (int)strip->height, tmp, (int)strip->width,
                         (int)strip->height, gdal_type(w->type), 0, 0) != CE_None)
            rc = err_set(e, ERR_IO, "writing %s: %s", w->path, CPLGetLastErrorMsg());
    }
    free(tmp);
    return rc;
}

int tif_out_close(struct tif_out *w, struct errbuf *e)
{
    int rc = 0;

    /* GDALClose reports a failed final write only through the error state. */
    CPLErrorReset();
    GDALClose(w->ds);
    if (CPLGetLastErrorType() >= CE_Failure)
        rc = err_set(e, ERR_IO, "writing %s: %s", w->cog ? w->tmp : w->path,
                     CPLGetLastErrorMsg());
    w->ds = NULL;
    if (rc == 0 && w->cog) {
        GDALDriverH drv = GDALGetDriverByName("COG");
        GDALDatasetH src = GDALOpen(w->tmp, GA_ReadOnly), dst = NULL;
        char **opts = CSLSetNameValue(NULL, "COMPRESS", "DEFLATE");

        if (!drv)
            rc = err_set(e, ERR_INTERNAL, "GDAL COG driver missing");
        else if (!src)
            rc = err_set(e, ERR_IO, "cannot reopen %s: %s", w->tmp, CPLGetLastErrorMsg());
        else if (!(dst = GDALCreateCopy(drv, w->path, src, FALSE, opts, NULL, NULL)))
            rc = err_set(e, ERR_IO, "writing the COG %s: %s", w->path, CPLGetLastErrorMsg());
        if (dst) {
            CPLErrorReset();
            GDALClose(dst);
            if (CPLGetLastErrorType() >= CE_Failure && rc == 0)
                rc = err_set(e, ERR_IO, "writing the COG %s: %s", w->path, CPLGetLastErrorMsg());
        }
        if (src)
            GDALClose(src);
        CSLDestroy(opts);
        VSIUnlink(w->tmp);
    }
    if (rc != 0)
        VSIUnlink(w->path);
    free(w);
    return rc;
}

void tif_out_abort(struct tif_out *w)
{
    if (!w)
        return;
    if (w->ds)
        GDALClose(w->ds);
    VSIUnlink(w->cog ? w->tmp : w->path);
    free(w);
}
