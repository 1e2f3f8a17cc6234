/* Tile store and output assembly (see mosaic.h and docs/engine.md). */
#include "core/mosaic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <gdal_utils.h>
#include <ogr_srs_api.h>

/* Rows of doubles moved per GDAL call: bounds assembly memory to ~8 MiB
 * per band whatever the tile size. */
#define CHUNK_VALUES ((size_t)1 << 20)

/* ---- small file-system helpers ---- */

static int fsync_path(const char *path, int is_dir)
{
    int fd = open(path, is_dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* The directory part of path ("." when none). */
static void dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

void mosaic_global_init(void)
{
    GDALAllRegister();
}

int mosaic_parts_dir(const char *output, char *out, size_t cap, struct errbuf *e)
{
    if ((size_t)snprintf(out, cap, "%s.eefetch-parts", output) >= cap)
        return err_set(e, ERR_LIMIT, "output path is too long");
    return 0;
}

int mosaic_parts_create(const char *parts_dir, struct errbuf *e)
{
    char parent[4096];

    if (mkdir(parts_dir, 0777) != 0) {
        if (errno == EEXIST)
            return 0;
        return err_set(e, ERR_IO, "cannot create %s: %s", parts_dir, strerror(errno));
    }
    /* The directory's name must be durable before any journal line can
     * refer to a piece inside it. */
    dir_of(parts_dir, parent, sizeof parent);
    if (fsync_path(parent, 1) != 0)
        return err_set(e, ERR_IO, "cannot sync %s: %s", parent, strerror(errno));
    return 0;
}

int mosaic_parts_remove(const char *parts_dir, struct errbuf *e)
{
    DIR *d = opendir(parts_dir);
    struct dirent *de;
    char path[4096];

    if (!d)
        return errno == ENOENT ? 0 : err_set(e, ERR_IO, "cannot open %s: %s", parts_dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", parts_dir, de->d_name) < sizeof path)
            unlink(path);
    }
    closedir(d);
    if (rmdir(parts_dir) != 0 && errno != ENOENT)
        return err_set(e, ERR_IO, "cannot remove %s: %s", parts_dir, strerror(errno));
    return 0;
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

static GDALDataType gdal_type(enum spec_dtype t)
{
    switch (t) {
    case SPEC_DTYPE_UINT8:
    case SPEC_DTYPE_INT8: return GDT_Byte;   /* int8: Byte + PIXELTYPE=SIGNEDBYTE */
    case SPEC_DTYPE_UINT16: return GDT_UInt16;
    case SPEC_DTYPE_INT16: return GDT_Int16;
    case SPEC_DTYPE_UINT32: return GDT_UInt32;
    case SPEC_DTYPE_INT32: return GDT_Int32;
    case SPEC_DTYPE_FLOAT32: return GDT_Float32;
    case SPEC_DTYPE_FLOAT64: return GDT_Float64;
    default: return GDT_Unknown;
    }
}

enum spec_dtype mosaic_type_union(enum spec_dtype a, enum spec_dtype b)
{
    static const struct {
        GDALDataType g;
        enum spec_dtype t;
    } back[] = {{GDT_Byte, SPEC_DTYPE_UINT8},     {GDT_UInt16, SPEC_DTYPE_UINT16},
                {GDT_Int16, SPEC_DTYPE_INT16},    {GDT_UInt32, SPEC_DTYPE_UINT32},
                {GDT_Int32, SPEC_DTYPE_INT32},    {GDT_Float32, SPEC_DTYPE_FLOAT32},
                {GDT_Float64, SPEC_DTYPE_FLOAT64}};
    GDALDataType u;
    size_t i;

    if (a == b || b == SPEC_DTYPE_AUTO)
        return a;
    if (a == SPEC_DTYPE_AUTO)
        return b;
    /* int8 with anything else: int16 holds every int8 and uint8 value. */
    if (a == SPEC_DTYPE_INT8)
        a = SPEC_DTYPE_INT16;
    if (b == SPEC_DTYPE_INT8)
        b = SPEC_DTYPE_INT16;
    u = GDALDataTypeUnion(gdal_type(a), gdal_type(b));
    for (i = 0; i < sizeof back / sizeof back[0]; i++)
        if (back[i].g == u)
            return back[i].t;
    return SPEC_DTYPE_FLOAT64;   /* e.g. Int64 for uint32+int32: float64 holds both exactly */
}

static void to_double(const void *src, enum spec_dtype t, size_t n, double *out)
{
    size_t i;

    switch (t) {
    case SPEC_DTYPE_UINT8: for (i = 0; i < n; i++) out[i] = ((const uint8_t *)src)[i]; break;
    case SPEC_DTYPE_INT8: for (i = 0; i < n; i++) out[i] = ((const int8_t *)src)[i]; break;
    case SPEC_DTYPE_UINT16: for (i = 0; i < n; i++) out[i] = ((const uint16_t *)src)[i]; break;
    case SPEC_DTYPE_INT16: for (i = 0; i < n; i++) out[i] = ((const int16_t *)src)[i]; break;
    case SPEC_DTYPE_UINT32: for (i = 0; i < n; i++) out[i] = ((const uint32_t *)src)[i]; break;
    case SPEC_DTYPE_INT32: for (i = 0; i < n; i++) out[i] = ((const int32_t *)src)[i]; break;
    case SPEC_DTYPE_FLOAT32: for (i = 0; i < n; i++) out[i] = ((const float *)src)[i]; break;
    case SPEC_DTYPE_FLOAT64: memcpy(out, src, n * sizeof *out); break;
    default: memset(out, 0, n * sizeof *out); break;
    }
}

/* Writes rows from doubles; GDAL rounds and clamps to the band type, except
 * int8, which GDAL 3.6 stores as Byte: converted here. */
static int write_rows(GDALRasterBandH band, enum spec_dtype t, long x, long y, long w, long rows, double *buf)
{
    if (t == SPEC_DTYPE_INT8) {
        int8_t *b8 = (int8_t *)buf;   /* in place: int8 i is written before double i+1 is read */
        size_t i, n = (size_t)w * (size_t)rows;
        for (i = 0; i < n; i++) {
            double v = buf[i];
            v = isnan(v) ? 0 : v < -128 ? -128 : v > 127 ? 127 : round(v);
            b8[i] = (int8_t)v;
        }
        return GDALRasterIO(band, GF_Write, (int)x, (int)y, (int)w, (int)rows, b8, (int)w, (int)rows,
                            GDT_Byte, 0, 0) == CE_None ? 0 : -1;
    }
    return GDALRasterIO(band, GF_Write, (int)x, (int)y, (int)w, (int)rows, buf, (int)w, (int)rows,
                        GDT_Float64, 0, 0) == CE_None ? 0 : -1;
}

static int read_rows(GDALRasterBandH band, enum spec_dtype t, long x, long y, long w, long rows, double *buf)
{
    size_t n = (size_t)w * (size_t)rows, i;

    if (t == SPEC_DTYPE_INT8) {
        /* Read the bytes into the tail of buf, then widen from the front:
         * byte i sits at offset 7n + i, double i at 8i <= 7n + i. */
        int8_t *b8 = (int8_t *)buf + 7 * n;
        if (GDALRasterIO(band, GF_Read, (int)x, (int)y, (int)w, (int)rows, b8, (int)w, (int)rows, GDT_Byte, 0,
                         0) != CE_None)
            return -1;
        for (i = 0; i < n; i++)
            buf[i] = b8[i];
        return 0;
    }
    return GDALRasterIO(band, GF_Read, (int)x, (int)y, (int)w, (int)rows, buf, (int)w, (int)rows, GDT_Float64,
                        0, 0) == CE_None ? 0 : -1;
}

static long chunk_rows(long w, long h)
{
    long r = (long)(CHUNK_VALUES / (size_t)(w > 0 ? w : 1));
    return r < 1 ? 1 : r > h ? h : r;
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

/* ---- the tile store ---- */

static void piece_path(const char *dir, const struct mosaic_piece *p, char *out, size_t cap)
{
    snprintf(out, cap, "%s/t%zu_%d.tif", dir, p->tile_id, p->k);
}

int mosaic_piece_exists(const char *parts_dir, const struct mosaic_piece *p)
{
    char path[4096];
    struct stat st;

    piece_path(parts_dir, p, path, sizeof path);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int mosaic_store_piece(const char *parts_dir, struct mosaic_piece *p, const struct decoded_tile *t,
                       const unsigned char *mask, double fill, struct errbuf *e)
{
    char path[4096], tmp[4200];
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    GDALDatasetH ds = NULL;
    char **opts = NULL;
    double *buf = NULL;
    long rows, y;
    int b, rc = 0;

    if (t->width != p->width || t->height != p->height || t->nbands != p->nbands)
        return err_set(e, ERR_INTERNAL, "piece %zu/%d: tile %ldx%ldx%d does not match %ldx%ldx%d", p->tile_id,
                       p->k, t->width, t->height, t->nbands, p->width, p->height, p->nbands);
    if (!drv)
        return err_set(e, ERR_INTERNAL, "GDAL's GTiff driver is not registered");
    if (p->type == SPEC_DTYPE_AUTO)
        for (b = 0; b < t->nbands; b++)
            p->type = mosaic_type_union(p->type, t->bands[b].type);
    piece_path(parts_dir, p, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);

    /* Fast compression: pieces are read once more, at assembly. */
    opts = creation_options(SPEC_COMPRESS_DEFAULT, 1, p->type, 256, 1, 0);
    rows = chunk_rows(p->width, p->height);
    buf = malloc((size_t)rows * (size_t)p->width * sizeof *buf);
    if (!buf || !opts) {
        rc = err_set(e, ERR_NOMEM, "out of memory storing tile %zu", p->tile_id);
        goto done;
    }
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALCreate(drv, tmp, (int)p->width, (int)p->height, p->nbands, gdal_type(p->type), opts);
    CPLPopErrorHandler();
    if (!ds) {
        rc = err_set(e, ERR_IO, "cannot create %s: %s", tmp, CPLGetLastErrorMsg());
        goto done;
    }
    for (b = 0; b < p->nbands; b++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, b + 1);
        size_t sz = spec_dtype_size(t->bands[b].type);
        for (y = 0; y < p->height; y += rows) {
            long n = y + rows > p->height ? p->height - y : rows;
            to_double((const char *)t->bands[b].data + (size_t)y * (size_t)p->width * sz, t->bands[b].type,
                      (size_t)n * (size_t)p->width, buf);
            if (mask) {
                const unsigned char *m = mask + (size_t)y * (size_t)p->width;
                size_t i;
                for (i = 0; i < (size_t)n * (size_t)p->width; i++)
                    if (!m[i])
                        buf[i] = fill;
            }
            if (write_rows(band, p->type, 0, y, p->width, n, buf) < 0) {
                rc = err_set(e, ERR_IO, "cannot write %s: %s", tmp, CPLGetLastErrorMsg());
                goto done;
            }
        }
    }
    if (close_checked(ds) < 0) {
        ds = NULL;
        rc = err_set(e, ERR_IO, "cannot finish %s: %s", tmp, CPLGetLastErrorMsg());
        goto done;
    }
    ds = NULL;
    /* Durable before it has its real name, and the name durable before the
     * caller journals the tile. */
    if (fsync_path(tmp, 0) != 0 || rename(tmp, path) != 0 || fsync_path(parts_dir, 1) != 0) {
        rc = err_set(e, ERR_IO, "cannot store %s: %s", path, strerror(errno));
        goto done;
    }
done:
    if (ds)
        GDALClose(ds);
    if (rc < 0)
        unlink(tmp);
    CSLDestroy(opts);
    free(buf);
    return rc;
}

/* ---- assembly ---- */

static int cmp_piece(const void *a, const void *b)
{
    const struct mosaic_piece *p = a, *q = b;

    if (p->row != q->row)
        return p->row < q->row ? -1 : 1;
    if (p->col != q->col)
        return p->col < q->col ? -1 : 1;
    return p->band0 < q->band0 ? -1 : p->band0 > q->band0;
}

/* Copies one piece file into the output at its offset. */
static int copy_piece(GDALDatasetH out, const struct mosaic_out *o, const char *parts_dir,
                      const struct mosaic_piece *p, double *buf, struct errbuf *e)
{
    char path[4096];
    GDALDatasetH src;
    long rows = chunk_rows(p->width, p->height), y;
    long dx = p->col - o->col_off, dy = p->row - o->row_off;
    int b, rc = 0;

    if (dx < 0 || dy < 0 || dx + p->width > o->grid.width || dy + p->height > o->grid.height ||
        p->band0 < 0 || p->band0 + p->nbands > o->nbands)
        return err_set(e, ERR_INTERNAL, "tile %zu lies outside the output", p->tile_id);
    piece_path(parts_dir, p, path, sizeof path);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    src = GDALOpen(path, GA_ReadOnly);
    CPLPopErrorHandler();
    if (!src)
        return err_set(e, ERR_IO, "tile %zu: cannot open its stored pixels %s: %s", p->tile_id, path,
                       CPLGetLastErrorMsg());
    if (GDALGetRasterXSize(src) != p->width || GDALGetRasterYSize(src) != p->height ||
        GDALGetRasterCount(src) != p->nbands) {
        rc = err_set(e, ERR_IO, "tile %zu: stored pixels %s have the wrong size", p->tile_id, path);
        goto done;
    }
    for (b = 0; b < p->nbands; b++) {
        GDALRasterBandH sb = GDALGetRasterBand(src, b + 1);
        GDALRasterBandH db = GDALGetRasterBand(out, p->band0 + b + 1);
        for (y = 0; y < p->height; y += rows) {
            long n = y + rows > p->height ? p->height - y : rows;
            if (read_rows(sb, p->type, 0, y, p->width, n, buf) < 0 ||
                write_rows(db, o->dtype, dx, dy + y, p->width, n, buf) < 0) {
                rc = err_set(e, ERR_IO, "tile %zu: copy failed: %s", p->tile_id, CPLGetLastErrorMsg());
                goto done;
            }
        }
    }
done:
    GDALClose(src);
    return rc;
}

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

int mosaic_assemble(const struct mosaic_out *o, const char *parts_dir, const struct mosaic_piece *pieces,
                    size_t npieces, struct errbuf *e)
{
    char partial[4200], cogtmp[4200], dir[4096];
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    GDALDatasetH ds = NULL;
    struct mosaic_piece *sorted = NULL;
    struct mosaic_out oo = *o;
    char **opts = NULL;
    double *buf = NULL;
    size_t i;
    int b, rc = 0;

    snprintf(partial, sizeof partial, "%s.partial", o->path);
    snprintf(cogtmp, sizeof cogtmp, "%s.partial-cog", o->path);
    dir_of(o->path, dir, sizeof dir);
    if (!drv)
        return err_set(e, ERR_INTERNAL, "GDAL's GTiff driver is not registered");
    if (o->nbands <= 0 || o->grid.width <= 0 || o->grid.height <= 0)
        return err_set(e, ERR_INTERNAL, "nothing to assemble");
    if (oo.dtype == SPEC_DTYPE_AUTO) {
        for (i = 0; i < npieces; i++)
            oo.dtype = mosaic_type_union(oo.dtype, pieces[i].type);
        if (oo.dtype == SPEC_DTYPE_AUTO)
            oo.dtype = SPEC_DTYPE_FLOAT32;   /* no pixels at all: any type holds nodata */
    }

    /* Row-major order: each output block is filled while it is in GDAL's cache. */
    sorted = malloc((npieces ? npieces : 1) * sizeof *sorted);
    buf = malloc(CHUNK_VALUES * sizeof *buf);
    opts = creation_options(oo.compression, oo.compress_level, oo.dtype, oo.block, oo.band_interleave, 0);
    if (!sorted || !buf || !opts) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    if (npieces)
        memcpy(sorted, pieces, npieces * sizeof *sorted);
    qsort(sorted, npieces, sizeof *sorted, cmp_piece);

    unlink(partial);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALCreate(drv, partial, (int)o->grid.width, (int)o->grid.height, o->nbands, gdal_type(oo.dtype),
                    opts);
    CPLPopErrorHandler();
    if (!ds) {
        rc = err_set(e, ERR_IO, "cannot create %s: %s", partial, CPLGetLastErrorMsg());
        goto done;
    }
    if ((rc = set_georef(ds, &o->grid, e)) < 0)
        goto done;
    for (b = 0; b < o->nbands; b++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, b + 1);
        if (o->band_names && o->band_names[b])
            GDALSetDescription(band, o->band_names[b]);
        /* Set before any write: blocks no piece touches are filled with it. */
        if (o->has_nodata)
            GDALSetRasterNoDataValue(band, o->nodata);
    }
    for (i = 0; i < o->nmetadata; i++)
        GDALSetMetadataItem(ds, o->metadata[i].key, o->metadata[i].value, NULL);
    for (i = 0; i < npieces; i++)
        if ((rc = copy_piece(ds, &oo, parts_dir, &sorted[i], buf, e)) < 0)
            goto done;
    if (close_checked(ds) < 0) {
        ds = NULL;
        rc = err_set(e, ERR_IO, "cannot finish %s: %s", partial, CPLGetLastErrorMsg());
        goto done;
    }
    ds = NULL;

    if (o->format == SPEC_FORMAT_COG) {
        GDALDriverH cog = GDALGetDriverByName("COG");
        GDALDatasetH src, dst;
        char **copts;
        if (!cog) {
            rc = err_set(e, ERR_INTERNAL, "GDAL has no COG driver (GDAL >= 3.1 needed)");
            goto done;
        }
        copts = creation_options(oo.compression, oo.compress_level, oo.dtype, oo.block, 0, 1);
        CPLPushErrorHandler(CPLQuietErrorHandler);
        src = GDALOpen(partial, GA_ReadOnly);
        dst = src ? GDALCreateCopy(cog, cogtmp, src, FALSE, copts, NULL, NULL) : NULL;
        CPLPopErrorHandler();
        CSLDestroy(copts);
        if (src)
            GDALClose(src);
        if (!dst || close_checked(dst) < 0) {
            rc = err_set(e, ERR_IO, "cannot write the COG %s: %s", cogtmp, CPLGetLastErrorMsg());
            goto done;
        }
        unlink(partial);
        if (rename(cogtmp, partial) != 0) {
            rc = err_set(e, ERR_IO, "cannot rename %s: %s", cogtmp, strerror(errno));
            goto done;
        }
    }
    /* The output path only ever names a complete, durable file. */
    if (fsync_path(partial, 0) != 0 || rename(partial, o->path) != 0 || fsync_path(dir, 1) != 0) {
        rc = err_set(e, ERR_IO, "cannot finish %s: %s", o->path, strerror(errno));
        goto done;
    }
done:
    if (ds)
        GDALClose(ds);
    if (rc < 0) {
        unlink(partial);
        unlink(cogtmp);
    }
    CSLDestroy(opts);
    free(sorted);
    free(buf);
    return rc;
}

int mosaic_write_vrt(const char *vrt_path, const char *const *files, size_t nfiles, struct errbuf *e)
{
    char tmp[4200], dir[4096];
    GDALDatasetH ds;
    int usage = 0, rc = 0;

    snprintf(tmp, sizeof tmp, "%s.partial", vrt_path);
    dir_of(vrt_path, dir, sizeof dir);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALBuildVRT(tmp, (int)nfiles, NULL, files, NULL, &usage);
    CPLPopErrorHandler();
    if (!ds)
        return err_set(e, ERR_IO, "cannot build the VRT %s: %s", vrt_path, CPLGetLastErrorMsg());
    if (close_checked(ds) < 0) {
        rc = err_set(e, ERR_IO, "cannot write the VRT %s: %s", vrt_path, CPLGetLastErrorMsg());
        goto done;
    }
    if (fsync_path(tmp, 0) != 0 || rename(tmp, vrt_path) != 0 || fsync_path(dir, 1) != 0)
        rc = err_set(e, ERR_IO, "cannot finish %s: %s", vrt_path, strerror(errno));
done:
    if (rc < 0)
        unlink(tmp);
    return rc;
}

/* ---- quick-look PNG ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Stretches one band, read at the preview size, into bytes. Pixels equal to
 * nodata (or NaN) become 0; the others map [p2, p98] onto 1..255 so that a
 * valid dark pixel is never mistaken for nodata. */
static int quicklook_band(GDALRasterBandH b, int w, int h, unsigned char *out, double *vals,
                          double *sorted, struct errbuf *e)
{
    int has_nd = 0;
    double nd = GDALGetRasterNoDataValue(b, &has_nd), lo, hi;
    size_t i, n = (size_t)w * (size_t)h, nvalid = 0;

    if (GDALRasterIO(b, GF_Read, 0, 0, GDALGetRasterBandXSize(b), GDALGetRasterBandYSize(b), vals, w, h,
                     GDT_Float64, 0, 0) != CE_None)
        return err_set(e, ERR_IO, "quick-look: cannot read the output: %s", CPLGetLastErrorMsg());
    for (i = 0; i < n; i++)
        if (!isnan(vals[i]) && !(has_nd && vals[i] == nd))
            sorted[nvalid++] = vals[i];
    if (nvalid == 0) {
        memset(out, 0, n);
        return 0;
    }
    qsort(sorted, nvalid, sizeof *sorted, cmp_double);
    lo = sorted[nvalid * 2 / 100];
    hi = sorted[(nvalid - 1) * 98 / 100];
    for (i = 0; i < n; i++) {
        double v = vals[i];
        if (isnan(v) || (has_nd && v == nd)) {
            out[i] = 0;
        } else {
            double t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            out[i] = (unsigned char)(1.0 + t * 254.0 + 0.5);
        }
    }
    return 0;
}

int mosaic_quicklook(const char *src, const char *png, struct errbuf *e)
{
    GDALDatasetH in = NULL, mem = NULL, outds;
    GDALDriverH memdrv, pngdrv;
    double *vals = NULL, *sorted = NULL;
    unsigned char *px = NULL;
    char tmp[4200];
    int w, h, W, H, nb, b, rc = 0;

    GDALAllRegister();
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.png", png) >= sizeof tmp)
        return err_set(e, ERR_USAGE, "quick-look path too long");
    in = GDALOpen(src, GA_ReadOnly);
    if (!in)
        return err_set(e, ERR_IO, "quick-look: cannot open %s: %s", src, CPLGetLastErrorMsg());
    W = GDALGetRasterXSize(in);
    H = GDALGetRasterYSize(in);
    nb = GDALGetRasterCount(in) >= 3 ? 3 : 1;
    /* Keep the aspect ratio; never upsample. */
    w = W;
    h = H;
    if (W >= H && W > MOSAIC_QUICKLOOK_MAX) {
        w = MOSAIC_QUICKLOOK_MAX;
        h = (int)((double)H * MOSAIC_QUICKLOOK_MAX / W + 0.5);
    } else if (H > W && H > MOSAIC_QUICKLOOK_MAX) {
        h = MOSAIC_QUICKLOOK_MAX;
        w = (int)((double)W * MOSAIC_QUICKLOOK_MAX / H + 0.5);
    }
    if (w < 1)
        w = 1;
    if (h < 1)
        h = 1;
    vals = malloc((size_t)w * (size_t)h * sizeof *vals);
    sorted = malloc((size_t)w * (size_t)h * sizeof *sorted);
    px = malloc((size_t)w * (size_t)h * (size_t)nb);
    if (!vals || !sorted || !px) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    for (b = 0; b < nb && rc == 0; b++)
        rc = quicklook_band(GDALGetRasterBand(in, b + 1), w, h, px + (size_t)b * (size_t)w * (size_t)h,
                            vals, sorted, e);
    if (rc != 0)
        goto done;
    memdrv = GDALGetDriverByName("MEM");
    pngdrv = GDALGetDriverByName("PNG");
    if (!memdrv || !pngdrv) {
        rc = err_set(e, ERR_INTERNAL, "quick-look: GDAL has no MEM or PNG driver");
        goto done;
    }
    mem = GDALCreate(memdrv, "", w, h, nb, GDT_Byte, NULL);
    if (!mem || GDALDatasetRasterIO(mem, GF_Write, 0, 0, w, h, px, w, h, GDT_Byte, nb, NULL, 0, 0, 0) !=
                    CE_None) {
        rc = err_set(e, ERR_INTERNAL, "quick-look: %s", CPLGetLastErrorMsg());
        goto done;
    }
    CPLErrorReset();
    outds = GDALCreateCopy(pngdrv, tmp, mem, FALSE, NULL, NULL, NULL);
    if (outds)
        GDALClose(outds); /* void in GDAL 3.6: a failed flush shows in the error state */
    if (!outds || CPLGetLastErrorType() >= CE_Failure) {
        rc = err_set(e, ERR_IO, "quick-look: cannot write %s: %s", png, CPLGetLastErrorMsg());
        goto done;
    }
    if (fsync_path(tmp, 0) != 0 || rename(tmp, png) != 0) {
        rc = err_set(e, ERR_IO, "quick-look: cannot write %s: %s", png, strerror(errno));
        goto done;
    }
done:
    if (rc != 0)
        unlink(tmp);
    /* The PNG driver also writes an .aux.xml for the georeferencing it
     * cannot hold; a preview does not need it. */
    {
        char aux[4300];
        snprintf(aux, sizeof aux, "%s.aux.xml", tmp);
        unlink(aux);
    }
    if (mem)
        GDALClose(mem);
    if (in)
        GDALClose(in);
    free(vals);
    free(sorted);
    free(px);
    return rc;
}
