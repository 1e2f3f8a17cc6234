/*
 * COG outputs built as tiles arrive (overview.c, cogwrite.c): pieces of odd
 * sizes at odd offsets, added in reverse order with some left out (a
 * polygon region's skipped tiles), for integer and float types, nodata, a
 * mask band, RGB, every codec, a writer aborted halfway and started again
 * (a resumed run). check_cog.py then checks each file against
 * an independent computation: full resolution equal to the pieces, every
 * overview level the mean of the 2x2 valid pixels of the level above, the
 * masks, GDAL's LAYOUT=COG and GDAL's COG validator.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>

#include "../unit/check.h"
#include "core/cogwrite.h"
#include "core/mosaic.h"

static char dir[256];

struct cogcase {
    const char *name;
    long width, height, tw, th;       /* grid, piece size */
    int nbands;                       /* data bands */
    enum spec_dtype dtype;
    int has_nodata;
    double nodata;
    int mask;                         /* a validity band after the data bands */
    enum spec_compression comp;
    int rgb;
    int skip;                         /* leave out every skip-th piece (0: none) */
    int resume;                       /* a first writer takes half the pieces and is aborted
                                         (a stopped run); a second one assembles them all */
};

/* The pixel values: check_cog.py computes the same. */
static double value(const struct cogcase *c, int b, long x, long y)
{
    double v = (double)((x * 3 + y * 5 + b * 1000) % 30000);

    if (c->has_nodata && (x * 7 + y * 13) % 17 == 0)
        return c->nodata;
    switch (c->dtype) {
    case SPEC_DTYPE_UINT8: return fmod(v, 251);
    case SPEC_DTYPE_INT8: return fmod(v, 200) - 100;
    case SPEC_DTYPE_INT16: return v - 15000;
    case SPEC_DTYPE_FLOAT32:
    case SPEC_DTYPE_FLOAT64: return v / 7.0 - 1000;
    default: return v;
    }
}

static double valid(long x, long y)
{
    return (x / 7 + y / 5) % 3 != 0 ? 1.0 : 0.0;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void run_case(const struct cogcase *c)
{
    char out[512], parts[512], cmd[1400];
    long nx = (c->width + c->tw - 1) / c->tw, ny = (c->height + c->th - 1) / c->th, i, n = nx * ny;
    int nb = c->nbands + (c->mask ? 1 : 0), b;
    struct mosaic_piece *pieces = calloc((size_t)n, sizeof *pieces);
    struct mosaic_writer *w = NULL;
    struct mosaic_out o;
    struct errbuf e;

    snprintf(out, sizeof out, "%s/%s.tif", dir, c->name);
    CHECK(mosaic_parts_dir(out, parts, sizeof parts, &e) == 0);
    CHECK(mosaic_parts_create(parts, &e) == 0);
    for (i = 0; i < n; i++) {
        struct mosaic_piece *p = &pieces[i];
        struct decoded_tile t;
        long x, y;
        p->tile_id = (size_t)i;
        p->col = (i % nx) * c->tw;
        p->row = (i / nx) * c->th;
        p->width = p->col + c->tw > c->width ? c->width - p->col : c->tw;
        p->height = p->row + c->th > c->height ? c->height - p->row : c->th;
        p->nbands = nb;
        p->type = c->dtype;
        memset(&t, 0, sizeof t);
        t.width = p->width;
        t.height = p->height;
        t.nbands = nb;
        t.bands = calloc((size_t)nb, sizeof *t.bands);
        for (b = 0; b < nb; b++) {
            double *d = malloc((size_t)(p->width * p->height) * sizeof *d);
            t.bands[b].type = SPEC_DTYPE_FLOAT64;
            t.bands[b].data = d;
            for (y = 0; y < p->height; y++)
                for (x = 0; x < p->width; x++)
                    d[y * p->width + x] =
                        b < c->nbands ? value(c, b, p->col + x, p->row + y) : valid(p->col + x, p->row + y);
        }
        CHECK(mosaic_store_piece(parts, p, &t, NULL, 0, 0, &e) == 0);
        for (b = 0; b < nb; b++)
            free(t.bands[b].data);
        free(t.bands);
    }

    memset(&o, 0, sizeof o);
    o.path = out;
    snprintf(o.grid.crs, sizeof o.grid.crs, "EPSG:32610");
    o.grid.x0 = 500000;
    o.grid.y0 = 4200000;
    o.grid.sx = 30;
    o.grid.sy = -30;
    o.grid.width = c->width;
    o.grid.height = c->height;
    o.nbands = nb;
    o.mask_band = c->mask;
    o.dtype = c->dtype;
    o.has_nodata = c->has_nodata;
    o.nodata = c->nodata;
    o.format = SPEC_FORMAT_COG;
    o.compression = c->comp;
    o.rgb = c->rgb;
    {
        static const struct spec_kv md[] = {{(char *)"EEFETCH_RECIPE", (char *)"cog.lua"}};
        static const char *const names[] = {"alpha", "beta", "gamma", "delta"};
        o.metadata = md;
        o.nmetadata = 1;
        o.band_names = names;
    }
    if (c->resume) {
        char tmp[700];
        CHECK(mosaic_writer_open(&o, &w, &e) == 0);
        for (i = 0; w && i < n / 2; i++)
            CHECK(mosaic_writer_add(w, parts, &pieces[i], &e) == 0);
        mosaic_writer_abort(w);
        w = NULL;
        snprintf(tmp, sizeof tmp, "%s.partial-ovr1", out);
        CHECK(!exists(tmp) && !exists(out));
    }
    /* Reverse order, as tiles may land: every block waits for its last piece. */
    CHECK(mosaic_writer_open(&o, &w, &e) == 0);
    for (i = n; w && i-- > 0;) {
        if (c->skip && i % c->skip == 1)
            continue;
        if (mosaic_writer_add(w, parts, &pieces[i], &e) != 0) {
            fprintf(stderr, "%s: %s\n", c->name, e.msg);
            CHECK(0);
        }
    }
    if (w && mosaic_writer_finish(w, &e) != 0) {
        fprintf(stderr, "%s: %s\n", c->name, e.msg);
        CHECK(0);
    }
    CHECK(exists(out));
    {
        /* No temporary left beside the output. */
        char tmp[700];
        snprintf(tmp, sizeof tmp, "%s.partial", out);
        CHECK(!exists(tmp));
        snprintf(tmp, sizeof tmp, "%s.partial-ovr1", out);
        CHECK(!exists(tmp));
        snprintf(tmp, sizeof tmp, "%s.partial-cog", out);
        CHECK(!exists(tmp));
    }
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/engine/check_cog.py %s %s %ld %ld %ld %ld %d %d %d %.17g %d %d %d",
             getenv("EEFETCH_SRC") ? getenv("EEFETCH_SRC") : "..", out,
             c->name, c->width, c->height, c->tw, c->th, c->nbands, (int)c->dtype, c->has_nodata, c->nodata,
             c->mask, c->rgb, c->skip);
    CHECK(system(cmd) == 0);
    CHECK(mosaic_parts_remove(parts, &e) == 0);
    free(pieces);
}

/* A BigTIFF source (as GDAL makes one for outputs past 4 GiB) gives a
 * BigTIFF COG with the same pixels at every level and in the mask. */
static void make_src(const char *path, int w, int h, int k)
{
    char **opts = NULL;
    GDALDatasetH ds;
    uint16_t *px = malloc((size_t)w * (size_t)h * sizeof *px);
    unsigned char *m = malloc((size_t)w * (size_t)h);
    int x, y, b;

    opts = CSLSetNameValue(opts, "TILED", "YES");
    opts = CSLSetNameValue(opts, "BLOCKXSIZE", "256");
    opts = CSLSetNameValue(opts, "BLOCKYSIZE", "256");
    opts = CSLSetNameValue(opts, "COMPRESS", "ZSTD");
    opts = CSLSetNameValue(opts, "PREDICTOR", "2");
    opts = CSLSetNameValue(opts, "BIGTIFF", "YES");
    ds = GDALCreate(GDALGetDriverByName("GTiff"), path, w, h, 2, GDT_UInt16, opts);
    CHECK(ds != NULL);
    CPLSetThreadLocalConfigOption("GDAL_TIFF_INTERNAL_MASK", "YES");
    CHECK(GDALCreateDatasetMaskBand(ds, GMF_PER_DATASET) == CE_None);
    CPLSetThreadLocalConfigOption("GDAL_TIFF_INTERNAL_MASK", NULL);
    for (b = 0; b < 2; b++) {
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++)
                px[y * w + x] = (uint16_t)((x * 7 + y * 3 + b * 100 + k * 1000) % 65536);
        CHECK(GDALRasterIO(GDALGetRasterBand(ds, b + 1), GF_Write, 0, 0, w, h, px, w, h, GDT_UInt16, 0, 0) ==
              CE_None);
    }
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++)
            m[y * w + x] = (x + y + k) % 5 ? 255 : 0;
    CHECK(GDALRasterIO(GDALGetMaskBand(GDALGetRasterBand(ds, 1)), GF_Write, 0, 0, w, h, m, w, h, GDT_Byte, 0, 0) ==
          CE_None);
    GDALClose(ds);
    CSLDestroy(opts);
    free(px);
    free(m);
}

static long differences(GDALRasterBandH a, GDALRasterBandH b)
{
    int w = GDALGetRasterBandXSize(a), h = GDALGetRasterBandYSize(a);
    uint16_t *pa = malloc((size_t)w * (size_t)h * 2), *pb = malloc((size_t)w * (size_t)h * 2);
    long bad = 0, i;

    if (w != GDALGetRasterBandXSize(b) || h != GDALGetRasterBandYSize(b) ||
        GDALRasterIO(a, GF_Read, 0, 0, w, h, pa, w, h, GDT_UInt16, 0, 0) != CE_None ||
        GDALRasterIO(b, GF_Read, 0, 0, w, h, pb, w, h, GDT_UInt16, 0, 0) != CE_None)
        bad = -1;
    for (i = 0; bad >= 0 && i < (long)w * h; i++)
        bad += pa[i] != pb[i];
    free(pa);
    free(pb);
    return bad;
}

static void test_bigtiff(void)
{
    char src[3][512], out[512], cmd[800];
    const char *levels[2] = {src[1], src[2]};
    unsigned char magic[4] = {0};
    struct errbuf e;
    GDALDatasetH cog, s[3];
    FILE *f;
    int k, b;

    for (k = 0; k < 3; k++) {
        snprintf(src[k], sizeof src[k], "%s/big%d.tif", dir, k);
        make_src(src[k], 600 >> k, 520 >> k, k);
    }
    snprintf(out, sizeof out, "%s/big_cog.tif", dir);
    if (cogwrite_layout(out, src[0], levels, 2, 1, &e) != 0) {
        fprintf(stderr, "bigtiff: %s\n", e.msg);
        CHECK(0);
        return;
    }
    f = fopen(out, "rb");
    CHECK(f && fread(magic, 1, 4, f) == 4 && magic[2] == 43);   /* BigTIFF */
    if (f)
        fclose(f);
    cog = GDALOpen(out, GA_ReadOnly);
    CHECK(cog != NULL);
    if (!cog)
        return;
    CHECK_STR(GDALGetMetadataItem(cog, "LAYOUT", "IMAGE_STRUCTURE"), "COG");
    for (k = 0; k < 3; k++)
        s[k] = GDALOpen(src[k], GA_ReadOnly);
    for (b = 1; b <= 2; b++) {
        GDALRasterBandH cb = GDALGetRasterBand(cog, b);
        CHECK(GDALGetOverviewCount(cb) == 2);
        CHECK(differences(cb, GDALGetRasterBand(s[0], b)) == 0);
        for (k = 1; k < 3 && GDALGetOverviewCount(cb) == 2; k++)
            CHECK(differences(GDALGetOverview(cb, k - 1), GDALGetRasterBand(s[k], b)) == 0);
    }
    CHECK(GDALGetMaskFlags(GDALGetRasterBand(cog, 1)) == GMF_PER_DATASET);
    CHECK(differences(GDALGetMaskBand(GDALGetRasterBand(cog, 1)), GDALGetMaskBand(GDALGetRasterBand(s[0], 1))) == 0);
    CHECK(differences(GDALGetMaskBand(GDALGetOverview(GDALGetRasterBand(cog, 1), 1)),
                      GDALGetMaskBand(GDALGetRasterBand(s[2], 1))) == 0);
    for (k = 0; k < 3; k++)
        GDALClose(s[k]);
    GDALClose(cog);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 /usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py "
             "--full-check=yes -q %s",
             out);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    static const struct cogcase cases[] = {
        /* name, w, h, tw, th, bands, type, nodata?, nodata, mask, codec, rgb, skip, resume */
        {"u16_zstd", 1001, 777, 333, 250, 4, SPEC_DTYPE_UINT16, 0, 0, 0, SPEC_COMPRESS_ZSTD, 0, 0, 0},
        {"u16_skip", 1001, 777, 256, 256, 4, SPEC_DTYPE_UINT16, 0, 0, 0, SPEC_COMPRESS_DEFAULT, 0, 3, 0},
        {"f32_nodata_deflate", 900, 1100, 300, 275, 2, SPEC_DTYPE_FLOAT32, 1, -9999, 0, SPEC_COMPRESS_DEFLATE, 0, 4, 0},
        {"i16_mask_lzw", 777, 555, 200, 185, 1, SPEC_DTYPE_INT16, 0, 0, 1, SPEC_COMPRESS_LZW, 0, 5, 0},
        {"u8_rgb_none", 640, 600, 256, 256, 3, SPEC_DTYPE_UINT8, 0, 0, 0, SPEC_COMPRESS_NONE, 1, 0, 0},
        {"i8_nodata", 530, 300, 265, 150, 1, SPEC_DTYPE_INT8, 1, -128, 0, SPEC_COMPRESS_ZSTD, 0, 0, 0},
        {"f64_nan_mask", 600, 520, 256, 256, 2, SPEC_DTYPE_FLOAT64, 1, NAN, 1, SPEC_COMPRESS_ZSTD, 0, 0, 0},
        {"small", 200, 100, 128, 100, 1, SPEC_DTYPE_UINT16, 1, 0, 0, SPEC_COMPRESS_ZSTD, 0, 0, 0},
        {"one_row", 600, 1, 256, 1, 1, SPEC_DTYPE_INT32, 0, 0, 0, SPEC_COMPRESS_ZSTD, 0, 0, 0},
        {"u32_513", 513, 300, 171, 150, 1, SPEC_DTYPE_UINT32, 1, 7, 0, SPEC_COMPRESS_DEFLATE, 0, 2, 0},
        {"u16_resumed", 1300, 700, 512, 512, 2, SPEC_DTYPE_UINT16, 1, 0, 1, SPEC_COMPRESS_DEFAULT, 0, 0, 1},
    };
    char cmd[300];
    size_t i;

    mosaic_global_init();
    snprintf(dir, sizeof dir, "/tmp/eefetch_cogwrite_XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    for (i = 0; i < sizeof cases / sizeof *cases; i++)
        run_case(&cases[i]);
    test_bigtiff();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (getenv("EEFETCH_TEST_KEEP"))   /* to look at the files */
        fprintf(stderr, "kept %s\n", dir);
    else if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_DONE();
}
