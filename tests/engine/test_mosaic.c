/*
 * Tile store + assembly: pieces stored out of order are read back with GDAL
 * at exact values; nothing exists at the output path before assembly; a
 * failed assembly leaves no file there; uncovered pixels get nodata; COG,
 * int8 and VRT outputs; pixel-interleaved records from memory or the
 * store; COG overview resampling; a piece proves its content (damaged,
 * truncated and old-format pieces are refused by name).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <gdal.h>

#include "../unit/check.h"
#include "core/mosaic.h"
#include "util/checksum.h"

#define GW 600
#define GH 500
#define NB 3

static char dir[256];

static double fval(int b, long x, long y)
{
    /* band 0 uint16, band 1 int16 (negative values), band 2 int16 */
    double v = (double)((x * 3 + y * 5 + b * 1000) % 30000);
    return b == 1 ? v - 20000 : v;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void make_tile(struct decoded_tile *t, long col, long row, long w, long h, int band0, int nb,
                      const enum spec_dtype *types)
{
    int b;
    long x, y;

    memset(t, 0, sizeof *t);
    t->width = w;
    t->height = h;
    t->nbands = nb;
    t->bands = calloc((size_t)nb, sizeof *t->bands);
    for (b = 0; b < nb; b++) {
        t->bands[b].type = types[b];
        t->bands[b].data = malloc((size_t)w * (size_t)h * spec_dtype_size(types[b]));
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                double v = fval(band0 + b, col + x, row + y);
                size_t i = (size_t)(y * w + x);
                switch (types[b]) {
                case SPEC_DTYPE_UINT16: ((uint16_t *)t->bands[b].data)[i] = (uint16_t)v; break;
                case SPEC_DTYPE_INT16: ((int16_t *)t->bands[b].data)[i] = (int16_t)v; break;
                case SPEC_DTYPE_INT8: ((int8_t *)t->bands[b].data)[i] = (int8_t)((long)v % 256 - 128); break;
                default: break;
                }
            }
    }
}

static void free_tile(struct decoded_tile *t)
{
    int b;
    for (b = 0; b < t->nbands; b++)
        free(t->bands[b].data);
    free(t->bands);
}

static const enum spec_dtype types3[NB] = {SPEC_DTYPE_UINT16, SPEC_DTYPE_INT16, SPEC_DTYPE_INT16};

/* Stores every 256x256 window of the grid except `skip`, in reverse order. */
static size_t store_all(const char *parts, struct mosaic_piece *pieces, size_t skip)
{
    size_t n = 0, i;
    long r, c;
    struct errbuf e;

    for (r = 0; r < GH; r += 256)
        for (c = 0; c < GW; c += 256) {
            struct mosaic_piece *p = &pieces[n];
            memset(p, 0, sizeof *p);
            p->tile_id = n;
            p->col = c;
            p->row = r;
            p->width = c + 256 > GW ? GW - c : 256;
            p->height = r + 256 > GH ? GH - r : 256;
            p->nbands = NB;
            n++;
        }
    for (i = n; i-- > 0;) {
        struct decoded_tile t;
        if (i == skip)
            continue;
        make_tile(&t, pieces[i].col, pieces[i].row, pieces[i].width, pieces[i].height, 0, NB, types3);
        CHECK(mosaic_store_piece(parts, &pieces[i], &t, NULL, 0, 0, &e) == 0);
        CHECK(pieces[i].type == SPEC_DTYPE_INT32);   /* union of uint16 and int16 */
        free_tile(&t);
    }
    if (skip < n) {
        pieces[skip] = pieces[n - 1];
        n--;
    }
    return n;
}

static void out_init(struct mosaic_out *o, const char *path)
{
    static const char *const names[NB] = {"B1", "B2", "B3"};
    static const struct spec_kv md[] = {{(char *)"EEFETCH_RECIPE", (char *)"test.lua"},
                                        {(char *)"CLOUD_COVER", (char *)"12.5"}};

    memset(o, 0, sizeof *o);
    o->path = path;
    snprintf(o->grid.crs, sizeof o->grid.crs, "EPSG:32610");
    o->grid.x0 = 500000;
    o->grid.y0 = 4200000;
    o->grid.sx = 30;
    o->grid.sy = -30;
    o->grid.width = GW;
    o->grid.height = GH;
    o->nbands = NB;
    o->band_names = names;
    o->dtype = SPEC_DTYPE_AUTO;
    o->has_nodata = 1;
    o->nodata = -32768;
    o->metadata = md;
    o->nmetadata = 2;
}

/* Reads the output back and compares with fval; pixels in the skipped
 * window must be nodata. */
static void check_output(const char *path, long skip_col, long skip_row, int expect_cog)
{
    GDALDatasetH ds = GDALOpen(path, GA_ReadOnly);
    int32_t *row = malloc(GW * sizeof *row);
    long x, y, bad = 0;
    int b;
    double gt[6];

    CHECK(ds != NULL);
    if (!ds || !row) {
        free(row);
        return;
    }
    CHECK(GDALGetRasterXSize(ds) == GW && GDALGetRasterYSize(ds) == GH && GDALGetRasterCount(ds) == NB);
    CHECK(GDALGetGeoTransform(ds, gt) == CE_None && gt[0] == 500000 && gt[1] == 30 && gt[3] == 4200000 &&
          gt[5] == -30);
    CHECK(GDALGetRasterDataType(GDALGetRasterBand(ds, 1)) == GDT_Int32);
    CHECK_STR(GDALGetDescription(GDALGetRasterBand(ds, 2)), "B2");
    CHECK_STR(GDALGetMetadataItem(ds, "CLOUD_COVER", NULL), "12.5");
    {
        int has = 0;
        double nd = GDALGetRasterNoDataValue(GDALGetRasterBand(ds, 1), &has);
        CHECK(has && nd == -32768);
    }
    if (expect_cog) {
        const char *layout = GDALGetMetadataItem(ds, "LAYOUT", "IMAGE_STRUCTURE");
        CHECK(layout && strcmp(layout, "COG") == 0);
        CHECK(GDALGetOverviewCount(GDALGetRasterBand(ds, 1)) >= 1);
    }
    for (b = 0; b < NB; b++)
        for (y = 0; y < GH; y++) {
            if (GDALRasterIO(GDALGetRasterBand(ds, b + 1), GF_Read, 0, (int)y, GW, 1, row, GW, 1, GDT_Int32, 0,
                             0) != CE_None) {
                bad++;
                continue;
            }
            for (x = 0; x < GW; x++) {
                int in_skip = x >= skip_col && x < skip_col + 256 && y >= skip_row && y < skip_row + 256;
                double want = in_skip ? -32768 : fval(b, x, y);
                if (row[x] != want)
                    bad++;
            }
        }
    CHECK(bad == 0);
    free(row);
    GDALClose(ds);
}

static void test_gtiff_and_cog(void)
{
    char parts[512], out[512], partial[600];
    struct mosaic_piece pieces[16];
    struct mosaic_out o;
    struct errbuf e;
    size_t n;

    snprintf(out, sizeof out, "%s/out.tif", dir);
    snprintf(partial, sizeof partial, "%s.partial", out);
    CHECK(mosaic_parts_dir(out, parts, sizeof parts, &e) == 0);
    CHECK(mosaic_parts_create(parts, &e) == 0);
    n = store_all(parts, pieces, 4);   /* window (256, 256) left out */
    CHECK(n == 5);
    CHECK(!exists(out));               /* nothing at the output path before assembly */

    out_init(&o, out);
    CHECK(mosaic_assemble(&o, parts, pieces, n, &e) == 0);
    CHECK(exists(out) && !exists(partial));
    check_output(out, 256, 256, 0);

    /* Uncompressed: the blocks reserved past the end while writing are
     * given back (allocated space about the file's size, not 1 MiB more). */
    snprintf(out, sizeof out, "%s/out_none.tif", dir);
    o.path = out;
    o.compression = SPEC_COMPRESS_NONE;
    CHECK(mosaic_assemble(&o, parts, pieces, n, &e) == 0);
    check_output(out, 256, 256, 0);
    {
        struct stat st;
        CHECK(stat(out, &st) == 0);
        if ((long long)st.st_blocks * 512 > (long long)st.st_size + 65536)
            fprintf(stderr, "out_none.tif: %lld bytes allocated for %lld\n", (long long)st.st_blocks * 512,
                    (long long)st.st_size);
        CHECK((long long)st.st_blocks * 512 <= (long long)st.st_size + 65536);
    }
    o.compression = SPEC_COMPRESS_DEFAULT;

    /* COG from the same pieces. */
    snprintf(out, sizeof out, "%s/out_cog.tif", dir);
    o.path = out;
    o.format = SPEC_FORMAT_COG;
    CHECK(mosaic_assemble(&o, parts, pieces, n, &e) == 0);
    check_output(out, 256, 256, 1);

    /* A missing piece file: error, and nothing at the output path. */
    snprintf(out, sizeof out, "%s/out_fail.tif", dir);
    snprintf(partial, sizeof partial, "%s.partial", out);
    o.path = out;
    o.format = SPEC_FORMAT_GTIFF;
    pieces[n].tile_id = 999;
    pieces[n].k = 0;
    pieces[n].col = pieces[n].row = 256;
    pieces[n].width = 256;
    pieces[n].height = GH - 256;
    pieces[n].nbands = NB;
    pieces[n].type = SPEC_DTYPE_INT32;
    CHECK(mosaic_assemble(&o, parts, pieces, n + 1, &e) == ERR_PARSE);
    CHECK(!exists(out) && !exists(partial));

    CHECK(mosaic_parts_remove(parts, &e) == 0);
    CHECK(!exists(parts));
}

static void test_int8_and_vrt(void)
{
    char parts[512], a[512], b[512], vrt[512];
    const enum spec_dtype t8[1] = {SPEC_DTYPE_INT8};
    struct mosaic_piece p;
    struct decoded_tile t;
    struct mosaic_out o;
    struct errbuf e;
    const char *files[2];
    int k;

    snprintf(parts, sizeof parts, "%s/int8.eefetch-parts", dir);
    CHECK(mosaic_parts_create(parts, &e) == 0);
    snprintf(a, sizeof a, "%s/cell_a.tif", dir);
    snprintf(b, sizeof b, "%s/cell_b.tif", dir);
    for (k = 0; k < 2; k++) {
        memset(&p, 0, sizeof p);
        p.tile_id = (size_t)k;
        p.col = k * 40;
        p.width = 40;
        p.height = 30;
        p.nbands = 1;
        make_tile(&t, p.col, 0, 40, 30, 0, 1, t8);
        CHECK(mosaic_store_piece(parts, &p, &t, NULL, 0, 0, &e) == 0);
        CHECK(p.type == SPEC_DTYPE_INT8);
        free_tile(&t);
        /* One file per cell, each with its own grid. */
        memset(&o, 0, sizeof o);
        o.path = k ? b : a;
        snprintf(o.grid.crs, sizeof o.grid.crs, "EPSG:4326");
        o.grid.x0 = 10 + k * 40 * 0.01;
        o.grid.y0 = 50;
        o.grid.sx = 0.01;
        o.grid.sy = -0.01;
        o.grid.width = 40;
        o.grid.height = 30;
        o.col_off = k * 40;
        o.nbands = 1;
        o.dtype = SPEC_DTYPE_INT8;
        CHECK(mosaic_assemble(&o, parts, &p, 1, &e) == 0);
    }
    {
        GDALDatasetH ds = GDALOpen(a, GA_ReadOnly);
        int8_t px[40];
        long bad = 0, x;
        CHECK(ds != NULL);
        if (ds) {
            const char *pt = GDALGetMetadataItem(GDALGetRasterBand(ds, 1), "PIXELTYPE", "IMAGE_STRUCTURE");
            CHECK(pt && strcmp(pt, "SIGNEDBYTE") == 0);
            CHECK(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 7, 40, 1, px, 40, 1, GDT_Byte, 0, 0) ==
                  CE_None);
            for (x = 0; x < 40; x++)
                if (px[x] != (int8_t)((long)fval(0, x, 7) % 256 - 128))
                    bad++;
            CHECK(bad == 0);
            GDALClose(ds);
        }
    }
    snprintf(vrt, sizeof vrt, "%s/cells.vrt", dir);
    files[0] = a;
    files[1] = b;
    CHECK(mosaic_write_vrt(vrt, files, 2, NULL, &e) == 0);
    {
        GDALDatasetH ds = GDALOpen(vrt, GA_ReadOnly);
        CHECK(ds != NULL);
        if (ds) {
            CHECK(GDALGetRasterXSize(ds) == 80 && GDALGetRasterYSize(ds) == 30);
            GDALClose(ds);
        }
    }
    CHECK(mosaic_parts_remove(parts, &e) == 0);
}

/* Pixel-interleaved records stored with mosaic_store_pbuf come back exact,
 * whether assembly reads them from the store or takes the buffer; a COG's
 * overviews are the mean by default (a 0/1000 checkerboard averages to
 * 500 everywhere, which nearest or cubic would not give) and NEAREST when
 * asked. */
static void test_records_and_overviews(void)
{
    enum { W = 512, H = 512 };
    char parts[512], out[512];
    struct mosaic_piece p;
    struct mosaic_pbuf pb = {NULL, 0, 0, 0, 0};
    struct mosaic_writer *w = NULL;
    struct mosaic_out o;
    struct errbuf e;
    uint16_t *rec;
    long x, y;
    int k;

    snprintf(parts, sizeof parts, "%s/rec.eefetch-parts", dir);
    CHECK(mosaic_parts_create(parts, &e) == 0);
    memset(&p, 0, sizeof p);
    p.width = W;
    p.height = H;
    p.nbands = 2;
    p.type = SPEC_DTYPE_UINT16;
    CHECK(mosaic_pbuf_reserve(&pb, (size_t)W * H * 2 * sizeof *rec) == 0);
    rec = mosaic_pbuf_pixels(&pb);
    for (y = 0; y < H; y++)
        for (x = 0; x < W; x++) {
            rec[2 * (y * W + x)] = (uint16_t)(((x + y) & 1) ? 1000 : 0);
            rec[2 * (y * W + x) + 1] = (uint16_t)(x + 100 * (y % 600));
        }
    CHECK(mosaic_store_pbuf(parts, &p, 1, &pb, &e) == 0);
    CHECK(mosaic_piece_exists(parts, &p));

    for (k = 0; k < 2; k++) {
        GDALDatasetH ds;
        memset(&o, 0, sizeof o);
        snprintf(out, sizeof out, "%s/rec%d.tif", dir, k);
        o.path = out;
        snprintf(o.grid.crs, sizeof o.grid.crs, "EPSG:32610");
        o.grid.x0 = 500000;
        o.grid.y0 = 4200000;
        o.grid.sx = 10;
        o.grid.sy = -10;
        o.grid.width = W;
        o.grid.height = H;
        o.nbands = 2;
        o.format = SPEC_FORMAT_COG;
        if (k == 0) {
            /* From the store, into the pieces' own type. */
            o.dtype = SPEC_DTYPE_AUTO;
            CHECK(mosaic_assemble(&o, parts, &p, 1, &e) == 0);
        } else {
            /* From memory, widened to int32, nearest overviews. */
            o.dtype = SPEC_DTYPE_INT32;
            o.overview_resampling = "NEAREST";
            CHECK(mosaic_writer_open(&o, &w, &e) == 0);
            CHECK(w && mosaic_writer_add_mem(w, &p, &pb, &e) == 0);
            CHECK(w && mosaic_writer_finish(w, &e) == 0);
        }
        ds = GDALOpen(out, GA_ReadOnly);
        CHECK(ds != NULL);
        if (!ds)
            continue;
        {
            GDALRasterBandH b1 = GDALGetRasterBand(ds, 1), b2 = GDALGetRasterBand(ds, 2), ov;
            int32_t *px = malloc((size_t)W * H * sizeof *px);
            long bad = 0, i, n;
            CHECK(GDALGetRasterDataType(b1) == (k == 0 ? GDT_UInt16 : GDT_Int32));
            CHECK(GDALRasterIO(b1, GF_Read, 0, 0, W, H, px, W, H, GDT_Int32, 0, 0) == CE_None);
            for (y = 0; y < H; y++)
                for (x = 0; x < W; x++)
                    bad += px[y * W + x] != (((x + y) & 1) ? 1000 : 0);
            CHECK(GDALRasterIO(b2, GF_Read, 0, 0, W, H, px, W, H, GDT_Int32, 0, 0) == CE_None);
            for (y = 0; y < H; y++)
                for (x = 0; x < W; x++)
                    bad += px[y * W + x] != x + 100 * (y % 600);
            CHECK(bad == 0);
            CHECK(GDALGetOverviewCount(b1) >= 1);
            ov = GDALGetOverviewCount(b1) >= 1 ? GDALGetOverview(b1, 0) : NULL;
            if (ov) {
                n = (long)GDALGetRasterBandXSize(ov) * GDALGetRasterBandYSize(ov);
                CHECK(GDALGetRasterBandXSize(ov) == W / 2);
                CHECK(GDALRasterIO(ov, GF_Read, 0, 0, W / 2, H / 2, px, W / 2, H / 2, GDT_Int32, 0, 0) ==
                      CE_None);
                for (bad = 0, i = 0; i < n; i++)
                    bad += k == 0 ? px[i] != 500 : px[i] != 0 && px[i] != 1000;
                if (bad)
                    fprintf(stderr, "overview %d: %ld unexpected values, first %d\n", k, bad, px[0]);
                CHECK(bad == 0);
            }
            free(px);
        }
        GDALClose(ds);
    }
    mosaic_pbuf_free(&pb);
    CHECK(mosaic_parts_remove(parts, &e) == 0);
}

/* A mask band (mosaic_out.mask_band): the pieces' last band becomes the
 * file's internal per-dataset mask, 255 where it is 1. Left: uint8 records
 * (data, mask) from the store; right: planes with a polygon mask, whose
 * outside pixels get the fill in the data band and 0 in the mask band;
 * bottom rows: no piece at all, masked. */
static void test_mask_band(void)
{
    enum { MW = 64, MH = 48, PH = 32 };
    char parts[512], out[512], msk[600];
    struct mosaic_piece p[2];
    struct mosaic_pbuf pb = {NULL, 0, 0, 0, 0};
    struct decoded_tile t;
    struct mosaic_out o;
    struct errbuf e;
    unsigned char *rec, data[32 * PH], valid[32 * PH], inside[32 * PH], got[MW * MH], gotm[MW * MH];
    long x, y, bad = 0;

    snprintf(parts, sizeof parts, "%s/mask.eefetch-parts", dir);
    CHECK(mosaic_parts_create(parts, &e) == 0);
    memset(p, 0, sizeof p);
    p[0].tile_id = 0;
    p[0].width = 32;
    p[0].height = PH;
    p[0].nbands = 2;
    p[0].type = SPEC_DTYPE_UINT8;
    CHECK(mosaic_pbuf_reserve(&pb, 32 * PH * 2) == 0);
    rec = mosaic_pbuf_pixels(&pb);
    for (y = 0; y < PH; y++)
        for (x = 0; x < 32; x++) {
            rec[2 * (y * 32 + x)] = (unsigned char)((x + y) % 200 + 1);
            rec[2 * (y * 32 + x) + 1] = x % 3 != 0;
        }
    CHECK(mosaic_store_pbuf(parts, &p[0], 1, &pb, &e) == 0);
    p[1] = p[0];
    p[1].tile_id = 1;
    p[1].col = 32;
    p[1].type = SPEC_DTYPE_AUTO;
    for (y = 0; y < PH; y++)
        for (x = 0; x < 32; x++) {
            data[y * 32 + x] = (unsigned char)((x + 32 + y) % 200 + 1);
            valid[y * 32 + x] = (x + 32) % 3 != 0;
            inside[y * 32 + x] = x < 16;
        }
    memset(&t, 0, sizeof t);
    t.width = 32;
    t.height = PH;
    t.nbands = 2;
    t.bands = calloc(2, sizeof *t.bands);
    t.bands[0].type = t.bands[1].type = SPEC_DTYPE_UINT8;
    t.bands[0].data = data;
    t.bands[1].data = valid;
    CHECK(mosaic_store_piece(parts, &p[1], &t, inside, 7, 1, &e) == 0);
    free(t.bands);

    snprintf(out, sizeof out, "%s/mask.tif", dir);
    memset(&o, 0, sizeof o);
    o.path = out;
    snprintf(o.grid.crs, sizeof o.grid.crs, "EPSG:32610");
    o.grid.x0 = 500000;
    o.grid.y0 = 4200000;
    o.grid.sx = 10;
    o.grid.sy = -10;
    o.grid.width = MW;
    o.grid.height = MH;
    o.nbands = 2;
    o.mask_band = 1;
    o.dtype = SPEC_DTYPE_UINT8;
    o.block = 16;
    CHECK(mosaic_assemble(&o, parts, p, 2, &e) == 0);
    snprintf(msk, sizeof msk, "%s.msk", out);
    CHECK(!exists(msk));
    {
        GDALDatasetH ds = GDALOpen(out, GA_ReadOnly);
        GDALRasterBandH b = ds ? GDALGetRasterBand(ds, 1) : NULL;
        CHECK(ds && GDALGetRasterCount(ds) == 1 && GDALGetMaskFlags(b) == GMF_PER_DATASET);
        if (ds) {
            CHECK(GDALRasterIO(b, GF_Read, 0, 0, MW, MH, got, MW, MH, GDT_Byte, 0, 0) == CE_None);
            CHECK(GDALRasterIO(GDALGetMaskBand(b), GF_Read, 0, 0, MW, MH, gotm, MW, MH, GDT_Byte, 0, 0) ==
                  CE_None);
            for (y = 0; y < MH; y++)
                for (x = 0; x < MW; x++) {
                    int in = y < PH && x < 48, ok = in && x % 3 != 0;
                    long i = y * MW + x;
                    bad += gotm[i] != (ok ? 255 : 0);
                    if (y < PH)
                        bad += got[i] != (in ? (x + y) % 200 + 1 : 7);
                }
            if (bad)
                fprintf(stderr, "mask band: %ld pixels differ\n", bad);
            CHECK(bad == 0);
            GDALClose(ds);
        }
    }
    mosaic_pbuf_free(&pb);
    CHECK(mosaic_parts_remove(parts, &e) == 0);
}

static void test_union(void)
{
    CHECK(mosaic_type_union(SPEC_DTYPE_UINT8, SPEC_DTYPE_INT8) == SPEC_DTYPE_INT16);
    CHECK(mosaic_type_union(SPEC_DTYPE_UINT16, SPEC_DTYPE_INT16) == SPEC_DTYPE_INT32);
    CHECK(mosaic_type_union(SPEC_DTYPE_AUTO, SPEC_DTYPE_FLOAT32) == SPEC_DTYPE_FLOAT32);
    CHECK(mosaic_type_union(SPEC_DTYPE_INT32, SPEC_DTYPE_FLOAT32) == SPEC_DTYPE_FLOAT64);
    CHECK(mosaic_type_union(SPEC_DTYPE_UINT32, SPEC_DTYPE_INT32) == SPEC_DTYPE_FLOAT64);
}

/* Rewrites byte off of a stored piece file (xor with flip), or cuts the
 * file to len when flip is 0. */
static void damage(const char *path, long off, int flip, long len)
{
    FILE *f = fopen(path, "r+b");
    int c;

    CHECK(f != NULL);
    if (!f)
        return;
    if (flip) {
        fseek(f, off, SEEK_SET);
        c = fgetc(f);
        fseek(f, off, SEEK_SET);
        fputc(c ^ flip, f);
    }
    fclose(f);
    if (!flip)
        CHECK(truncate(path, len) == 0);
}

/* Every stored piece is checked when read (mosaic_piece_verify): a flipped
 * pixel bit, a flipped layout bit in the header, a truncated file, a
 * version 1 piece (no checksum: its header_sum is 0 and its version 1) and
 * a missing file are each refused with ERR_PARSE and a message naming the
 * tile, the file and the fault; an intact piece passes; assembling a
 * damaged piece leaves nothing at the output path. */
static void test_piece_checks(void)
{
    enum { W = 40, H = 30 };
    static const struct {
        long off;
        int flip;
        long len;
        const char *says;
    } cases[] = {
        {MOSAIC_PIECE_HEADER + 1234, 0x10, 0, "are damaged (their checksum does not hold)"},
        {MOSAIC_PIECE_HEADER + W * H * 2 * 2 - 1, 0x80, 0, "are damaged (their checksum does not hold)"},
        {20, 1, 0, "header of its stored pixels"},                  /* interleave 1 -> 0 */
        {0, 0, MOSAIC_PIECE_HEADER + 1000, "are truncated (1064 bytes, the piece needs 4864)"},
        {8, 3, 0, "written by an older eefetch, without a checksum"}, /* version 2 -> 1 */
        {-1, 0, 0, "cannot open its stored pixels"},
    };
    char parts[512], path[600], out[512];
    struct mosaic_pbuf pb = {NULL, 0, 0, 0, 0}, rb = {NULL, 0, 0, 0, 0};
    struct mosaic_piece p;
    struct mosaic_out o;
    struct errbuf e;
    uint16_t *rec;
    size_t c, i;

    snprintf(parts, sizeof parts, "%s/sum.eefetch-parts", dir);
    snprintf(path, sizeof path, "%s/t7_0.px", parts);
    CHECK(mosaic_parts_create(parts, &e) == 0);
    memset(&p, 0, sizeof p);
    p.tile_id = 7;
    p.width = W;
    p.height = H;
    p.nbands = 2;
    p.type = SPEC_DTYPE_UINT16;
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        CHECK(mosaic_pbuf_reserve(&pb, (size_t)W * H * 2 * 2) == 0);
        rec = mosaic_pbuf_pixels(&pb);
        for (i = 0; i < (size_t)W * H * 2; i++)
            rec[i] = (uint16_t)(i * 7 + c);
        CHECK(mosaic_store_pbuf(parts, &p, 1, &pb, &e) == 0);
        CHECK(mosaic_piece_verify(parts, &p, &rb, &e) == 0);
        CHECK(memcmp(mosaic_pbuf_pixels(&rb), rec, (size_t)W * H * 2 * 2) == 0);
        if (cases[c].off < 0)
            unlink(path);
        else
            damage(path, cases[c].off, cases[c].flip, cases[c].len);
        err_clear(&e);
        CHECK(mosaic_piece_verify(parts, &p, &rb, &e) == ERR_PARSE);
        CHECK(strstr(e.msg, "tile 7: ") == e.msg && strstr(e.msg, "t7_0.px") && strstr(e.msg, cases[c].says));
        if (!strstr(e.msg, cases[c].says))
            fprintf(stderr, "case %zu: %s\n", c, e.msg);
        if (c == 0) {
            /* Assembly refuses it too, and leaves no output. */
            memset(&o, 0, sizeof o);
            snprintf(out, sizeof out, "%s/sum.tif", dir);
            o.path = out;
            snprintf(o.grid.crs, sizeof o.grid.crs, "EPSG:32610");
            o.grid.x0 = 500000;
            o.grid.y0 = 4200000;
            o.grid.sx = 10;
            o.grid.sy = -10;
            o.grid.width = W;
            o.grid.height = H;
            o.nbands = 2;
            o.dtype = SPEC_DTYPE_UINT16;
            CHECK(mosaic_assemble(&o, parts, &p, 1, &e) == ERR_PARSE);
            CHECK(!exists(out));
        }
    }
    /* The fused move and checksum (the in-place NPY path) stores what a
     * plain store stores: the piece verifies. */
    rec = mosaic_pbuf_pixels(&pb);
    CHECK(pb.cap >= MOSAIC_PIECE_HEADER + 200 + (size_t)W * H * 2 * 2);
    memmove((unsigned char *)rec + 200, rec, (size_t)W * H * 2 * 2);   /* as an NPY header would sit */
    mosaic_pbuf_move_in(&pb, (unsigned char *)rec + 200, (size_t)W * H * 2 * 2);
    CHECK(pb.summed && pb.sum == checksum64(rec, (size_t)W * H * 2 * 2, 0));
    CHECK(mosaic_store_pbuf(parts, &p, 1, &pb, &e) == 0);
    CHECK(mosaic_piece_verify(parts, &p, &rb, &e) == 0);
    mosaic_pbuf_free(&pb);
    mosaic_pbuf_free(&rb);
    CHECK(mosaic_parts_remove(parts, &e) == 0);
}

int main(void)
{
    char cmd[600];

    GDALAllRegister();
    snprintf(dir, sizeof dir, "/tmp/eefetch_mosaic_XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    test_union();
    test_gtiff_and_cog();
    test_int8_and_vrt();
    test_records_and_overviews();
    test_mask_band();
    test_piece_checks();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_DONE();
}
