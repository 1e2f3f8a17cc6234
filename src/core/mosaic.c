/* Output assembly: the tiled GeoTIFF or COG written from stored pieces
 * (see mosaic.h and docs/engine.md; the tile store is mosaic_store.c). */
#include "core/mosaic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <gdal_utils.h>
#include <ogr_srs_api.h>

#include "core/cogwrite.h"
#include "core/overview.h"
#include "core/pixtype.h"
#include "util/checksum.h"
#include "util/path.h"

/* ---- small file-system helpers ---- */

int mosaic_fsync_path(const char *path, int is_dir)
{
    int fd = open(path, is_dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}


void mosaic_global_init(void)
{
    GDALAllRegister();
    /* GDAL's block cache defaults to 5 % of RAM. Assembly writes each block
     * once, so a small cache does the same work with far less memory;
     * GDAL_CACHEMAX (environment or config) still wins. */
    if (!CPLGetConfigOption("GDAL_CACHEMAX", NULL))
        GDALSetCacheMax64((GIntBig)MOSAIC_CACHE_MB << 20);
}

/* GDAL's messages while a call runs are kept quiet (errors reach the
 * caller through errbuf), but the first report of a full disk or a file
 * size limit is remembered: libtiff's last message ("Write error at
 * scanline 256", "Error fetching directory count") is a consequence, and
 * the caller should name the cause. */
struct quiet {
    char full[256];
};

static void CPL_STDCALL quiet_handler(CPLErr cls, CPLErrorNum num, const char *msg)
{
    struct quiet *q = CPLGetErrorHandlerUserData();

    (void)cls;
    (void)num;
    if (q && !q->full[0] && msg &&
        (strstr(msg, "No space left on device") || strstr(msg, "Disk quota exceeded") ||
         strstr(msg, "File too large")))
        snprintf(q->full, sizeof q->full, "%s", msg);
}

/* GDALClose returns void before GDAL 3.7: a failed final write shows up
 * only as the last error. */
static int close_checked(GDALDatasetH ds)
{
    CPLErrorReset();
    GDALClose(ds);
    return CPLGetLastErrorType() >= CE_Failure ? -1 : 0;
}

/* ---- types ---- */

enum spec_dtype mosaic_type_union(enum spec_dtype a, enum spec_dtype b)
{
    enum spec_dtype u;

    if (a == b || b == SPEC_DTYPE_AUTO)
        return a;
    if (a == SPEC_DTYPE_AUTO)
        return b;
    /* int8 with anything else: int16 holds every int8 and uint8 value. */
    if (a == SPEC_DTYPE_INT8)
        a = SPEC_DTYPE_INT16;
    if (b == SPEC_DTYPE_INT8)
        b = SPEC_DTYPE_INT16;
    u = pixtype_from_gdal(GDALDataTypeUnion(pixtype_to_gdal(a), pixtype_to_gdal(b)));
    return u != SPEC_DTYPE_AUTO ? u : SPEC_DTYPE_FLOAT64;   /* e.g. Int64 for uint32+int32: float64 holds both exactly */
}

/* ---- creation options ---- */

static pthread_once_t zstd_once = PTHREAD_ONCE_INIT;
static int zstd_available;

static void probe_zstd(void)
{
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    const char *opts = drv ? GDALGetMetadataItem(drv, GDAL_DMD_CREATIONOPTIONLIST, NULL) : NULL;
    zstd_available = opts && strstr(opts, "ZSTD") != NULL;
}

/* Asked once: workers store pieces concurrently, and the driver's option
 * list may be built lazily on first request. */
static int have_zstd(void)
{
    pthread_once(&zstd_once, probe_zstd);
    return zstd_available;
}

static int is_float(enum spec_dtype t)
{
    return t == SPEC_DTYPE_FLOAT32 || t == SPEC_DTYPE_FLOAT64;
}

/* GTiff creation options. cog: spelled for the COG driver. */
static char **creation_options(enum spec_compression c, int level, enum spec_dtype t, int block, int band_il,
                               int cog)
{
    char **o = NULL;
    const char *name;
    char num[32];

    switch (c) {
    case SPEC_COMPRESS_NONE: name = "NONE"; break;
    case SPEC_COMPRESS_DEFLATE: name = "DEFLATE"; break;
    case SPEC_COMPRESS_ZSTD: name = "ZSTD"; break;
    case SPEC_COMPRESS_LZW: name = "LZW"; break;
    default: name = have_zstd() ? "ZSTD" : "DEFLATE"; break;
    }
    o = CSLSetNameValue(o, "COMPRESS", name);
    if (strcmp(name, "NONE") != 0) {
        /* Horizontal differencing for integers, floating-point predictor for floats. */
        if (cog)
            o = CSLSetNameValue(o, "PREDICTOR", is_float(t) ? "FLOATING_POINT" : "STANDARD");
        else
            o = CSLSetNameValue(o, "PREDICTOR", is_float(t) ? "3" : "2");
        /* ZSTD without a level: MOSAIC_ZSTD_LEVEL, not GDAL's 9. */
        if (level <= 0 && strcmp(name, "ZSTD") == 0)
            level = MOSAIC_ZSTD_LEVEL;
        if (level > 0) {
            snprintf(num, sizeof num, "%d", level);
            if (strcmp(name, "ZSTD") == 0)
                o = CSLSetNameValue(o, cog ? "LEVEL" : "ZSTD_LEVEL", num);
            else if (strcmp(name, "DEFLATE") == 0)
                o = CSLSetNameValue(o, cog ? "LEVEL" : "ZLEVEL", num);
        }
    }
    o = CSLSetNameValue(o, "BIGTIFF", "IF_SAFER");
    snprintf(num, sizeof num, "%d", block > 0 ? block : GRID_DEFAULT_BLOCK);
    if (cog) {
        o = CSLSetNameValue(o, "BLOCKSIZE", num);
    } else {
        o = CSLSetNameValue(o, "TILED", "YES");
        o = CSLSetNameValue(o, "BLOCKXSIZE", num);
        o = CSLSetNameValue(o, "BLOCKYSIZE", num);
        if (band_il)
            o = CSLSetNameValue(o, "INTERLEAVE", "BAND");
        if (t == SPEC_DTYPE_INT8)
            o = CSLSetNameValue(o, "PIXELTYPE", "SIGNEDBYTE");
    }
    return o;
}

/* ---- assembly ---- */

struct mosaic_writer {
    struct mosaic_out o;              /* o.path points at path; o.dtype is resolved */
    char path[4096], partial[4200], cogtmp[4200], dir[4096];
    GDALDatasetH ds;
    struct mosaic_pbuf pb;            /* a piece as read */
    unsigned char *conv;              /* ... converted to the output type */
    size_t convcap;
    int *bandmap;
    int ndata;                        /* data bands in the file (o.nbands - o.mask_band) */
    unsigned char *maskbuf;           /* a piece's mask band as 0/255 */
    size_t maskcap;
    struct ovr *ovr;                  /* COG: the overview levels being built (NULL: GDAL's COG
                                         driver makes the COG from the finished file) */
    char ovrbase[4200];               /* "<output>.partial-ovr": level k is <ovrbase><k> */
};

static int set_georef(GDALDatasetH ds, const struct grid *g, struct errbuf *e)
{
    double gt[6] = {g->x0, g->sx, 0, g->y0, 0, g->sy};
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    char *wkt = NULL;
    int rc = 0;

    if (!srs || OSRSetFromUserInput(srs, g->crs) != OGRERR_NONE || OSRExportToWkt(srs, &wkt) != OGRERR_NONE) {
        rc = err_set(e, ERR_USAGE, "cannot use CRS %.100s", g->crs);
        goto done;
    }
    if (GDALSetGeoTransform(ds, gt) != CE_None || GDALSetProjection(ds, wkt) != CE_None)
        rc = err_set(e, ERR_IO, "cannot georeference the output: %s", CPLGetLastErrorMsg());
done:
    CPLFree(wkt);
    if (srs)
        OSRDestroySpatialReference(srs);
    return rc;
}

/* Bands 1-3 as red, green, blue: GTiff writes it as PHOTOMETRIC=RGB (no
 * sidecar), the COG copy and a VRT keep it; viewers then show true colour
 * instead of the first band in grey. */
static void set_rgb(GDALDatasetH ds, const struct mosaic_out *o)
{
    static const GDALColorInterp ci[3] = {GCI_RedBand, GCI_GreenBand, GCI_BlueBand};
    int b;

    if (!o->rgb || GDALGetRasterCount(ds) < 3)
        return;
    for (b = 0; b < 3; b++)
        GDALSetRasterColorInterpretation(GDALGetRasterBand(ds, b + 1), ci[b]);
}

/* An uncompressed output's size is known: reserving its blocks beyond the
 * end of the file up front makes GDAL's appending writes much cheaper than
 * growing the file block by block (ext4's delayed allocation; several CPU
 * seconds per GiB on some virtual machines). What is not used is given
 * back by release_reserve. Best effort: failures only cost speed. */
static void reserve_output(const char *path, off_t bytes)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    (void)mosaic_prealloc(fd, 0, bytes + (1 << 20), 1);
    close(fd);
}

/* Truncating a file to its own size frees blocks reserved past its end. */
static int release_reserve(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return -1;
    return truncate(path, st.st_size);
}

void mosaic_writer_abort(struct mosaic_writer *w)
{
    if (!w)
        return;
    if (w->ds)
        GDALClose(w->ds);
    ovr_free(w->ovr, 1);
    unlink(w->partial);
    unlink(w->cogtmp);
    mosaic_pbuf_free(&w->pb);
    free(w->conv);
    free(w->maskbuf);
    free(w->bandmap);
    free(w);
}

int mosaic_gtiff_create(const char *path, long width, long height, int nbands, enum spec_dtype type, char **opts,
                        int mask, GDALDatasetH *out, struct errbuf *e)
{
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    GDALDatasetH ds;
    CPLErr err;

    *out = NULL;
    if (!drv)
        return err_set(e, ERR_INTERNAL, "GDAL's GTiff driver is not registered");
    unlink(path);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALCreate(drv, path, (int)width, (int)height, nbands, pixtype_to_gdal(type), opts);
    CPLPopErrorHandler();
    if (!ds)
        return err_set(e, ERR_IO, "cannot create %s: %s", path, CPLGetLastErrorMsg());
    if (mask) {
        /* Inside the GeoTIFF (GDAL before 3.9 would write a .msk file
         * beside it, which the rename and the COG copy would leave behind).
         * Blocks no write touches read as 0 there: masked, like skipped
         * tiles. */
        CPLSetThreadLocalConfigOption("GDAL_TIFF_INTERNAL_MASK", "YES");
        err = GDALCreateDatasetMaskBand(ds, GMF_PER_DATASET);
        CPLSetThreadLocalConfigOption("GDAL_TIFF_INTERNAL_MASK", NULL);
        if (err != CE_None) {
            int rc = err_set(e, ERR_IO, "cannot create the mask of %s: %s", path, CPLGetLastErrorMsg());
            GDALClose(ds);
            unlink(path);
            return rc;
        }
    }
    *out = ds;
    return 0;
}

int mosaic_writer_open(const struct mosaic_out *o, struct mosaic_writer **out, struct errbuf *e)
{
    struct mosaic_writer *w;
    char **opts = NULL;
    size_t i;
    int b, fast, rc = 0;

    *out = NULL;
    if (o->nbands - (o->mask_band ? 1 : 0) <= 0 || o->grid.width <= 0 || o->grid.height <= 0 ||
        o->dtype == SPEC_DTYPE_AUTO)
        return err_set(e, ERR_INTERNAL, "nothing to assemble");
    if (!(w = calloc(1, sizeof *w)) || !(w->bandmap = malloc((size_t)o->nbands * sizeof *w->bandmap))) {
        free(w);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    w->o = *o;
    w->ndata = o->nbands - (o->mask_band ? 1 : 0);
    snprintf(w->path, sizeof w->path, "%s", o->path);
    w->o.path = w->path;
    snprintf(w->partial, sizeof w->partial, "%s.partial", o->path);
    snprintf(w->cogtmp, sizeof w->cogtmp, "%s.partial-cog", o->path);
    snprintf(w->ovrbase, sizeof w->ovrbase, "%s.partial-ovr", o->path);
    (void)path_dir(o->path, w->dir, sizeof w->dir);

    /* A COG with AVERAGE overviews from pieces that carry all the bands is
     * built as tiles arrive: this file in the final codec, the overview
     * levels beside it (overview.h), and at the end the COG copied from both
     * without decoding (cogwrite.h). Any other COG is made by GDAL's COG
     * driver from this file once complete, so here only fast compression:
     * the final codec and level are the COG's. */
    fast = o->format == SPEC_FORMAT_COG && !o->band_interleave &&
           (!o->overview_resampling || strcasecmp(o->overview_resampling, "AVERAGE") == 0);
    if (o->format == SPEC_FORMAT_COG && !fast)
        opts = creation_options(SPEC_COMPRESS_DEFAULT, 1, o->dtype, o->block, o->band_interleave, 0);
    else
        opts = creation_options(o->compression, o->compress_level, o->dtype, o->block, o->band_interleave, 0);
    /* Blocks are compressed by a pool of threads, not by the assembler
     * itself, which then keeps up with the fetch. */
    if (opts && o->compression != SPEC_COMPRESS_NONE)
        opts = CSLSetNameValue(opts, "NUM_THREADS", "ALL_CPUS");
    if (!opts) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = mosaic_gtiff_create(w->partial, o->grid.width, o->grid.height, w->ndata, o->dtype, opts,
                                  o->mask_band, &w->ds, e)) < 0)
        goto done;
    if ((rc = set_georef(w->ds, &o->grid, e)) < 0)
        goto done;
    for (b = 0; b < w->ndata; b++) {
        GDALRasterBandH band = GDALGetRasterBand(w->ds, b + 1);
        if (o->band_names && o->band_names[b])
            GDALSetDescription(band, o->band_names[b]);
        /* Set before any write: blocks no piece touches are filled with it. */
        if (o->has_nodata)
            GDALSetRasterNoDataValue(band, o->nodata);
        if (o->scales && !isnan(o->scales[b])) {
            GDALSetRasterScale(band, o->scales[b]);
            GDALSetRasterOffset(band, o->offsets ? o->offsets[b] : 0.0);
        }
    }
    set_rgb(w->ds, o);
    for (i = 0; i < o->nmetadata; i++)
        GDALSetMetadataItem(w->ds, o->metadata[i].key, o->metadata[i].value, NULL);
    if (fast) {
        struct ovr_desc od = {
            .base = w->ovrbase, .width = o->grid.width, .height = o->grid.height, .nbands = w->ndata,
            .dtype = o->dtype, .block = o->block > 0 ? o->block : GRID_DEFAULT_BLOCK, .mask = o->mask_band,
            .has_nodata = o->has_nodata, .nodata = o->nodata, .rgb = o->rgb, .options = opts,
        };
        if ((rc = ovr_open(&od, &w->ovr, e)) < 0)
            goto done;
    }
    if ((o->format != SPEC_FORMAT_COG || fast) && o->compression == SPEC_COMPRESS_NONE) {
        /* Edge blocks are stored whole. */
        off_t bs = o->block > 0 ? o->block : GRID_DEFAULT_BLOCK;
        off_t bx = ((off_t)o->grid.width + bs - 1) / bs, by = ((off_t)o->grid.height + bs - 1) / bs;
        reserve_output(w->partial, bx * by * bs * bs * w->ndata * (off_t)spec_dtype_size(o->dtype));
    }
    /* Only meaningful while open: the caller's arrays may go away. */
    w->o.band_names = NULL;
    w->o.metadata = NULL;
    w->o.nmetadata = 0;
done:
    CSLDestroy(opts);
    if (rc < 0) {
        mosaic_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* Writes a piece's validity band (values of the output type at src, with
 * the piece's pixel and line spacing) into the file's mask: 255 where it is
 * exactly 1, 0 elsewhere (0 from EE, outside a polygon, or any other value a
 * fill may have put there). */
static double mask_value(const void *src, enum spec_dtype t)
{
    double v;

    mosaic_convert_values(src, t, &v, SPEC_DTYPE_FLOAT64, 1);
    return v;
}

static int write_mask(struct mosaic_writer *w, const struct mosaic_piece *p, const unsigned char *src,
                      GSpacing pix, GSpacing line, long dx, long dy, struct errbuf *e)
{
    size_t n = (size_t)p->width * (size_t)p->height, x, y;
    GDALRasterBandH mb = GDALGetMaskBand(GDALGetRasterBand(w->ds, 1));

    if (n > w->maskcap) {
        unsigned char *nm = realloc(w->maskbuf, n);
        if (!nm)
            return err_set(e, ERR_NOMEM, "out of memory");
        w->maskbuf = nm;
        w->maskcap = n;
    }
    for (y = 0; y < (size_t)p->height; y++)
        for (x = 0; x < (size_t)p->width; x++)
            w->maskbuf[y * (size_t)p->width + x] =
                mask_value(src + y * (size_t)line + x * (size_t)pix, w->o.dtype) == 1.0 ? 255 : 0;
    if (!mb || GDALRasterIO(mb, GF_Write, (int)dx, (int)dy, (int)p->width, (int)p->height, w->maskbuf,
                            (int)p->width, (int)p->height, GDT_Byte, 0, 0) != CE_None)
        return err_set(e, ERR_IO, "tile %zu: cannot write its mask into %s: %s", p->tile_id, w->partial,
                       CPLGetLastErrorMsg());
    return 0;
}

int mosaic_writer_add_mem(struct mosaic_writer *w, const struct mosaic_piece *p, const struct mosaic_pbuf *b,
                          struct errbuf *e)
{
    const struct mosaic_out *o = &w->o;
    long dx = p->col - o->col_off, dy = p->row - o->row_off;
    size_t sz = spec_dtype_size(o->dtype), n = (size_t)p->width * (size_t)p->height * (size_t)p->nbands;
    const unsigned char *px = mosaic_pbuf_pixels(b);
    GSpacing pix, line, band;
    int bi, ndata, skip, first, nb, rc;

    if (dx < 0 || dy < 0 || dx + p->width > o->grid.width || dy + p->height > o->grid.height || p->band0 < 0 ||
        (o->band_off == 0 && p->band0 + p->nbands > o->nbands))
        return err_set(e, ERR_INTERNAL, "tile %zu lies outside the output", p->tile_id);
    /* The piece's bands that are this file's: from piece band `skip` on,
     * nb of them, at file band `first`. */
    skip = p->band0 < o->band_off ? o->band_off - p->band0 : 0;
    first = p->band0 + skip - o->band_off;
    nb = p->nbands - skip < o->nbands - first ? p->nbands - skip : o->nbands - first;
    if (nb <= 0)
        return 0;
    if (!mosaic_pbuf_describes(b, p))
        return err_set(e, ERR_INTERNAL, "tile %zu: its pixels in memory do not match the piece", p->tile_id);
    if (p->type != o->dtype) {
        /* AUTO outputs are the union of the pieces' types: widen here,
         * with the same rules as the store. */
        if (n * sz > w->convcap) {
            unsigned char *nc = realloc(w->conv, n * sz);
            if (!nc)
                return err_set(e, ERR_NOMEM, "out of memory");
            w->conv = nc;
            w->convcap = n * sz;
        }
        mosaic_convert_values(px, p->type, w->conv, o->dtype, n);
        px = w->conv;
    }
    if (mosaic_pbuf_interleaved(b)) {
        pix = (GSpacing)sz * p->nbands;
        line = pix * p->width;
        band = (GSpacing)sz;
    } else {
        pix = (GSpacing)sz;
        line = pix * p->width;
        band = line * p->height;
    }
    px += (size_t)skip * (size_t)band;
    /* The data bands of the piece; a mask band is the file's last. */
    ndata = first + nb <= w->ndata ? nb : w->ndata - first;
    for (bi = 0; bi < ndata; bi++)
        w->bandmap[bi] = first + bi + 1;
    /* int8 goes in as GDT_Byte: GDAL 3.6 stores it as Byte with
     * PIXELTYPE=SIGNEDBYTE and the bits are the same. */
    if (ndata > 0 &&
        GDALDatasetRasterIOEx(w->ds, GF_Write, (int)dx, (int)dy, (int)p->width, (int)p->height, (void *)px,
                              (int)p->width, (int)p->height, pixtype_to_gdal(o->dtype), ndata, w->bandmap, pix, line,
                              band, NULL) != CE_None)
        return err_set(e, ERR_IO, "tile %zu: cannot write it into %s: %s", p->tile_id, w->partial,
                       CPLGetLastErrorMsg());
    if (ndata < nb && (rc = write_mask(w, p, px + (size_t)ndata * (size_t)band, pix, line, dx, dy, e)) < 0)
        return rc;
    if (w->ovr && (first != 0 || nb != o->nbands)) {
        /* Pieces that split the bands: GDAL's COG driver makes the
         * overviews from the finished file instead. */
        ovr_free(w->ovr, 1);
        w->ovr = NULL;
    }
    if (w->ovr)
        return ovr_add(w->ovr, dx, dy, p->width, p->height, px, pix, line, band,
                       o->mask_band ? px + (size_t)ndata * (size_t)band : NULL, e);
    return 0;
}

int mosaic_writer_add(struct mosaic_writer *w, const char *parts_dir, const struct mosaic_piece *p,
                      struct errbuf *e)
{
    int rc = mosaic_piece_verify(parts_dir, p, &w->pb, e);

    return rc < 0 ? rc : mosaic_writer_add_mem(w, p, &w->pb, e);
}

int mosaic_writer_finish(struct mosaic_writer *w, struct errbuf *e)
{
    const struct mosaic_out *o = &w->o;
    int rc = 0;

    if (close_checked(w->ds) < 0) {
        w->ds = NULL;
        rc = err_set(e, ERR_IO, "cannot finish %s: %s", w->partial, CPLGetLastErrorMsg());
        goto done;
    }
    w->ds = NULL;
    if (release_reserve(w->partial) != 0) {
        rc = err_set(e, ERR_IO, "cannot finish %s: %s", w->partial, strerror(errno));
        goto done;
    }
    if (w->ovr) {
        const char *levels[64];
        int k, n = ovr_levels(w->ovr);
        if (n > 64) {   /* 2^64 pixels a side: not an image */
            rc = err_set(e, ERR_INTERNAL, "%d overview levels", n);
            goto done;
        }
        if ((rc = ovr_finish(w->ovr, e)) < 0)
            goto done;
        for (k = 1; k <= n; k++)
            levels[k - 1] = ovr_path(w->ovr, k);
        rc = cogwrite_layout(w->cogtmp, w->partial, levels, n, o->mask_band, e);
        ovr_free(w->ovr, 1);
        w->ovr = NULL;
        if (rc < 0)
            goto done;
        unlink(w->partial);
        if (rename(w->cogtmp, w->partial) != 0) {
            rc = err_set(e, ERR_IO, "cannot rename %s: %s", w->cogtmp, strerror(errno));
            goto done;
        }
    } else if (o->format == SPEC_FORMAT_COG) {
        GDALDriverH cog = GDALGetDriverByName("COG");
        GDALDatasetH src, dst;
        struct quiet q;
        char **copts;
        int failed;
        if (!cog) {
            rc = err_set(e, ERR_INTERNAL, "GDAL has no COG driver (GDAL >= 3.1 needed)");
            goto done;
        }
        copts = creation_options(o->compression, o->compress_level, o->dtype, o->block, 0, 1);
        /* Overviews and compression of a whole file: every core helps. */
        copts = CSLSetNameValue(copts, "NUM_THREADS", "ALL_CPUS");
        /* The mean, like Earth Engine's default pyramiding policy (and a
         * fraction of the cost of GDAL's default, cubic). */
        copts = CSLSetNameValue(copts, "RESAMPLING", o->overview_resampling ? o->overview_resampling : "AVERAGE");
        memset(&q, 0, sizeof q);
        CPLPushErrorHandlerEx(quiet_handler, &q);
        src = GDALOpen(w->partial, GA_ReadOnly);
        dst = src ? GDALCreateCopy(cog, w->cogtmp, src, FALSE, copts, NULL, NULL) : NULL;
        failed = !dst || close_checked(dst) < 0;
        if (src)
            GDALClose(src);
        CPLPopErrorHandler();
        CSLDestroy(copts);
        if (failed) {
            /* The cause first when it was a full disk: libtiff's last
             * message is its consequence ("Write error at scanline"). */
            rc = err_set(e, ERR_IO, "cannot write the COG %s: %s%s%s", w->cogtmp,
                         q.full[0] ? q.full : CPLGetLastErrorMsg(), q.full[0] ? "; then: " : "",
                         q.full[0] ? CPLGetLastErrorMsg() : "");
            goto done;
        }
        unlink(w->partial);
        if (rename(w->cogtmp, w->partial) != 0) {
            rc = err_set(e, ERR_IO, "cannot rename %s: %s", w->cogtmp, strerror(errno));
            goto done;
        }
    }
    /* The output path only ever names a complete, durable file. */
    if (mosaic_fsync_path(w->partial, 0) != 0 || rename(w->partial, w->path) != 0 || mosaic_fsync_path(w->dir, 1) != 0)
        rc = err_set(e, ERR_IO, "cannot finish %s: %s", w->path, strerror(errno));
done:
    if (rc < 0) {
        mosaic_writer_abort(w);
        return rc;
    }
    mosaic_pbuf_free(&w->pb);
    free(w->conv);
    free(w->maskbuf);
    free(w->bandmap);
    free(w);
    return 0;
}

static int cmp_piece(const void *a, const void *b)
{
    const struct mosaic_piece *p = a, *q = b;

    if (p->row != q->row)
        return p->row < q->row ? -1 : 1;
    if (p->col != q->col)
        return p->col < q->col ? -1 : 1;
    return p->band0 < q->band0 ? -1 : p->band0 > q->band0;
}

int mosaic_assemble(const struct mosaic_out *o, const char *parts_dir, const struct mosaic_piece *pieces,
                    size_t npieces, struct errbuf *e)
{
    struct mosaic_writer *w = NULL;
    struct mosaic_piece *sorted = NULL;
    struct mosaic_out oo = *o;
    size_t i;
    int rc = 0;

    if (oo.dtype == SPEC_DTYPE_AUTO) {
        for (i = 0; i < npieces; i++)
            oo.dtype = mosaic_type_union(oo.dtype, pieces[i].type);
        if (oo.dtype == SPEC_DTYPE_AUTO)
            oo.dtype = SPEC_DTYPE_FLOAT32;   /* no pixels at all: any type holds nodata */
    }
    /* Row-major order: each output block is filled while it is in GDAL's cache. */
    if (!(sorted = malloc((npieces ? npieces : 1) * sizeof *sorted)))
        return err_set(e, ERR_NOMEM, "out of memory");
    if (npieces)
        memcpy(sorted, pieces, npieces * sizeof *sorted);
    qsort(sorted, npieces, sizeof *sorted, cmp_piece);
    if ((rc = mosaic_writer_open(&oo, &w, e)) < 0)
        goto done;
    for (i = 0; i < npieces; i++)
        if ((rc = mosaic_writer_add(w, parts_dir, &sorted[i], e)) < 0) {
            mosaic_writer_abort(w);
            goto done;
        }
    rc = mosaic_writer_finish(w, e);
done:
    free(sorted);
    return rc;
}

int mosaic_write_vrt(const char *vrt_path, const char *const *files, size_t nfiles, const struct mosaic_out *desc,
                     struct errbuf *e)
{
    char tmp[4200], dir[4096];
    GDALDatasetH ds;
    size_t i;
    int b, usage = 0, rc = 0;

    snprintf(tmp, sizeof tmp, "%s.partial", vrt_path);
    (void)path_dir(vrt_path, dir, sizeof dir);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALBuildVRT(tmp, (int)nfiles, NULL, files, NULL, &usage);
    CPLPopErrorHandler();
    if (!ds)
        return err_set(e, ERR_IO, "cannot build the VRT %s: %s", vrt_path, CPLGetLastErrorMsg());
    /* The same band names and provenance as the cells: the VRT is the
     * output a rerun checks (its plan hash). */
    for (b = 0; desc && desc->band_names && b < desc->nbands && b < GDALGetRasterCount(ds); b++)
        if (desc->band_names[b])
            GDALSetDescription(GDALGetRasterBand(ds, b + 1), desc->band_names[b]);
    for (b = 0; desc && desc->scales && b < desc->nbands && b < GDALGetRasterCount(ds); b++)
        if (!isnan(desc->scales[b])) {
            GDALSetRasterScale(GDALGetRasterBand(ds, b + 1), desc->scales[b]);
            GDALSetRasterOffset(GDALGetRasterBand(ds, b + 1), desc->offsets ? desc->offsets[b] : 0.0);
        }
    if (desc)
        set_rgb(ds, desc);
    for (i = 0; desc && i < desc->nmetadata; i++)
        GDALSetMetadataItem(ds, desc->metadata[i].key, desc->metadata[i].value, NULL);
    if (close_checked(ds) < 0) {
        rc = err_set(e, ERR_IO, "cannot write the VRT %s: %s", vrt_path, CPLGetLastErrorMsg());
        goto done;
    }
    if (mosaic_fsync_path(tmp, 0) != 0 || rename(tmp, vrt_path) != 0 || mosaic_fsync_path(dir, 1) != 0)
        rc = err_set(e, ERR_IO, "cannot finish %s: %s", vrt_path, strerror(errno));
done:
    if (rc < 0)
        unlink(tmp);
    return rc;
}

enum mosaic_existing mosaic_existing_output(const char *path, const char *plan_hash)
{
    struct stat st;
    GDALDatasetH ds;
    const char *tag;
    enum mosaic_existing r;

    if (stat(path, &st) != 0)
        return MOSAIC_ABSENT;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALOpen(path, GA_ReadOnly);
    CPLPopErrorHandler();
    if (!ds)
        return MOSAIC_FOREIGN;
    tag = GDALGetMetadataItem(ds, MOSAIC_PLAN_TAG, NULL);
    r = !tag ? MOSAIC_FOREIGN : strcmp(tag, plan_hash) == 0 ? MOSAIC_SAME_PLAN : MOSAIC_OTHER_PLAN;
    GDALClose(ds);
    return r;
}
