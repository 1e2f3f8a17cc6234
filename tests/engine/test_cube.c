/*
 * Datacubes (core/cube): pieces of a 3-image x 2-variable stack, stored in
 * the tile store band-sequential (uint8 + int16 bands, widened) and
 * pixel-interleaved (float32 records), one tile split in four with a
 * quarter missing and one tile missing altogether, are assembled into Zarr
 * and netCDF cubes and read back with GDAL's multidimensional API: every
 * pixel against the formula val(), nodata (or 0) where no piece is, pixel
 * centre coordinates, times, image ids, chunks, fill value, scale/offset,
 * CRS, global attributes. Chunks that do not follow the tiles, int8 output,
 * rerun over a cube (replaced, plan tag read back by cube_existing), a
 * damaged piece (nothing published, no partial left), a foreign directory
 * at the path (refused, untouched) and bad variable names.
 *
 * With EEFETCH_CUBE_KEEP=<dir> the cubes are written there and kept, with
 * cubes.json describing them, for tests/engine/test_cube_xarray.py.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "../unit/check.h"
#include "core/cube.h"
#include "core/mosaic.h"

#define GW 70
#define GH 45
#define TW 32 /* tiles (and chunks) 32 x 16 */
#define TH 16
#define NT 3
#define NV 2
#define NBT (NT * NV)

static char dir[512];
static FILE *manifest;
static int nmanifest;

static const int64_t times[NT] = {1577836800000LL, 1580515200123LL, 1583020800000LL};
static const char *const ids[NT] = {"COPERNICUS/S2/20200101T000000_T33TUG", "COPERNICUS/S2/20200201_X", NULL};
static const char *const names[NV] = {"NDVI", "B4"};
static const double scales[NV] = {1, 0.5}, offsets[NV] = {0, 10};
static const struct spec_kv md[] = {{(char *)MOSAIC_PLAN_TAG, (char *)"plan-a"},
                                    {(char *)"EEFETCH_RECIPE", (char *)"stack.lua"},
                                    {(char *)"NOTE", (char *)"Zürich 5°"}};

/* The pixel value both sides know (tests/engine/test_cube_xarray.py too). */
static double val(int t, int v, long col, long row)
{
    return (double)((t * 31 + v * 17 + col * 3 + row * 5) % 251);
}

/* Where a piece is missing: bands 0-3 of the tile at (32, 16), bands 4-5
 * of the bottom-right quarter of the split tile at (0, 0). */
static int present(int band, long x, long y)
{
    if (band < 4)
        return !(x >= 32 && x < 64 && y >= 16 && y < 32);
    return !(x >= 16 && x < 32 && y >= 8 && y < 16);
}

static struct mosaic_piece pieces[64];
static size_t npieces;

/* Bands [0, 4): uint8 and int16 planes through mosaic_store_piece (stored
 * as int16, the union). */
static void store_planes(const char *parts, long col, long row, long w, long h, size_t id)
{
    static const enum spec_dtype types[4] = {SPEC_DTYPE_UINT8, SPEC_DTYPE_UINT8, SPEC_DTYPE_INT16, SPEC_DTYPE_INT16};
    struct decoded_band bands[4];
    struct decoded_tile t;
    struct mosaic_piece *p = &pieces[npieces++];
    struct errbuf e;
    long x, y;
    int b;

    memset(p, 0, sizeof *p);
    p->tile_id = id;
    p->col = col, p->row = row, p->width = w, p->height = h;
    p->band0 = 0, p->nbands = 4;
    memset(&t, 0, sizeof t);
    t.width = w, t.height = h, t.nbands = 4, t.bands = bands;
    for (b = 0; b < 4; b++) {
        bands[b].type = types[b];
        bands[b].data = malloc((size_t)(w * h) * spec_dtype_size(types[b]));
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                double v = val(b / NV, b % NV, col + x, row + y);
                if (types[b] == SPEC_DTYPE_UINT8)
                    ((uint8_t *)bands[b].data)[y * w + x] = (uint8_t)v;
                else
                    ((int16_t *)bands[b].data)[y * w + x] = (int16_t)v;
            }
    }
    CHECK(mosaic_store_piece(parts, p, &t, NULL, 0, 0, &e) == 0);
    CHECK(p->type == SPEC_DTYPE_INT16);
    for (b = 0; b < 4; b++)
        free(bands[b].data);
}

/* Bands [4, 6): float32 pixel-interleaved records through mosaic_store_pbuf. */
static void store_records(const char *parts, long col, long row, long w, long h, size_t id, int k)
{
    struct mosaic_piece *p = &pieces[npieces++];
    struct mosaic_pbuf pb = {NULL, 0, 0, 0, 0};
    struct errbuf e;
    float *px;
    long x, y;
    int b;

    memset(p, 0, sizeof *p);
    p->tile_id = id, p->k = k;
    p->col = col, p->row = row, p->width = w, p->height = h;
    p->band0 = 4, p->nbands = 2;
    p->type = SPEC_DTYPE_FLOAT32;
    CHECK(mosaic_pbuf_reserve(&pb, (size_t)(w * h * 2) * sizeof(float)) == 0);
    px = mosaic_pbuf_pixels(&pb);
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++)
            for (b = 0; b < 2; b++)
                px[(y * w + x) * 2 + b] = (float)val((4 + b) / NV, (4 + b) % NV, col + x, row + y);
    CHECK(mosaic_store_pbuf(parts, p, 1, &pb, &e) == 0);
    CHECK(mosaic_pbuf_interleaved(&pb) == 1);
    mosaic_pbuf_free(&pb);
}

static void store_all(const char *parts)
{
    size_t id = 0;
    long c, r;

    npieces = 0;
    for (r = 0; r < GH; r += TH)
        for (c = 0; c < GW; c += TW, id += 2) {
            long w = c + TW > GW ? GW - c : TW, h = r + TH > GH ? GH - r : TH;
            if (!(c == 32 && r == 16))
                store_planes(parts, c, r, w, h, id);
            if (c == 0 && r == 0) {
                /* split in four, the last quarter never arrived */
                store_records(parts, 0, 0, 16, 8, id + 1, 0);
                store_records(parts, 16, 0, 16, 8, id + 1, 1);
                store_records(parts, 0, 8, 16, 8, id + 1, 2);
            } else {
                store_records(parts, c, r, w, h, id + 1, 0);
            }
        }
}

static void out_init(struct cube_out *o, const char *path, enum cube_format f, const char *crs, enum spec_dtype t)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    o->format = f;
    snprintf(o->grid.crs, sizeof o->grid.crs, "%s", crs);
    if (strcmp(crs, "EPSG:4326") == 0) {
        o->grid.x0 = 12.0, o->grid.y0 = 42.0, o->grid.sx = 0.001, o->grid.sy = -0.001;
    } else {
        o->grid.x0 = 500000, o->grid.y0 = 4650000, o->grid.sx = 30, o->grid.sy = -30;
    }
    o->grid.width = GW, o->grid.height = GH;
    o->ntimes = NT, o->time_ms = times, o->image_ids = ids;
    o->nvars = NV, o->var_names = names;
    o->dtype = t;
    o->chunk_w = TW, o->chunk_h = TH;
    o->metadata = md, o->nmetadata = sizeof md / sizeof md[0];
}

static void manifest_cube(const char *name, const struct cube_out *o)
{
    if (!manifest)
        return;
    fprintf(manifest,
            "%s{\"name\":\"%s\",\"format\":\"%s\",\"crs\":\"%s\",\"x0\":%.17g,\"y0\":%.17g,\"sx\":%.17g,"
            "\"sy\":%.17g,\"dtype\":\"%s\",\"has_nodata\":%d,\"nodata\":%.17g,\"scaled\":%d,\"chunk_w\":%ld,"
            "\"chunk_h\":%ld}",
            nmanifest++ ? ",\n" : "", name, o->format == CUBE_ZARR ? "zarr" : "netcdf", o->grid.crs,
            o->grid.x0, o->grid.y0, o->grid.sx, o->grid.sy, spec_dtype_name(o->dtype), o->has_nodata, o->nodata,
            o->scale != NULL, o->chunk_w, o->chunk_h);
}

static GDALMDArrayH open_array(GDALGroupH root, const char *name)
{
    GDALMDArrayH a = GDALGroupOpenMDArray(root, name, NULL);
    CHECK(a != NULL);
    return a;
}

/* An array's attribute; GDAL's Zarr driver shows "units" as the array's
 * unit only. */
static const char *unit_of(GDALMDArrayH a, char *buf, size_t cap)
{
    GDALAttributeH at = a ? GDALMDArrayGetAttribute(a, "units") : NULL;
    const char *s = at ? GDALAttributeReadAsString(at) : a ? GDALMDArrayGetUnit(a) : NULL;
    snprintf(buf, cap, "%s", s ? s : "(none)");
    if (at)
        GDALAttributeRelease(at);
    return buf;
}

static const char *attr_string(GDALAttributeH at, char *buf, size_t cap)
{
    const char *s = at ? GDALAttributeReadAsString(at) : NULL;
    snprintf(buf, cap, "%s", s ? s : "(none)");
    if (at)
        GDALAttributeRelease(at);
    return buf;
}

/* Reads a cube back with GDAL and checks everything about it. */
static void check_cube(const struct cube_out *o, long chunk_w, long chunk_h)
{
    GDALDatasetH ds = GDALOpenEx(o->path, GDAL_OF_MULTIDIM_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    GDALGroupH root;
    GDALMDArrayH a;
    GDALExtendedDataTypeH f64 = GDALExtendedDataTypeCreate(GDT_Float64);
    GDALExtendedDataTypeH i64 = GDALExtendedDataTypeCreate(GDT_Int64);
    GDALExtendedDataTypeH str = GDALExtendedDataTypeCreateString(0);
    double *buf = malloc(sizeof(double) * NT * GH * GW), fill = o->has_nodata ? o->nodata : 0;
    char s[1024], gm[256];
    int64_t tv[NT];
    char *idv[NT];
    GUInt64 st[3] = {0, 0, 0};
    size_t cnt[3] = {NT, GH, GW}, n;
    long x, y, bad = 0;
    int t, v, has;

    CHECK(ds != NULL);
    if (!ds) {
        fprintf(stderr, "cannot open %s\n", o->path);
        free(buf);
        return;
    }
    root = GDALDatasetGetRootGroup(ds);
    CHECK_STR(attr_string(GDALGroupGetAttribute(root, "Conventions"), s, sizeof s), "CF-1.8");
    CHECK_STR(attr_string(GDALGroupGetAttribute(root, MOSAIC_PLAN_TAG), s, sizeof s), md[0].value);
    CHECK_STR(attr_string(GDALGroupGetAttribute(root, "NOTE"), s, sizeof s), "Zürich 5°");

    a = open_array(root, "time");
    cnt[0] = NT;
    CHECK(a && GDALMDArrayRead(a, st, cnt, NULL, NULL, i64, tv, tv, sizeof tv));
    CHECK(memcmp(tv, times, sizeof tv) == 0);
    CHECK_STR(unit_of(a, s, sizeof s), "milliseconds since 1970-01-01 00:00:00");
    if (a)
        GDALMDArrayRelease(a);
    a = open_array(root, "x");
    cnt[0] = GW;
    CHECK(a && GDALMDArrayRead(a, st, cnt, NULL, NULL, f64, buf, buf, sizeof(double) * GW));
    for (x = 0; x < GW; x++)
        if (fabs(buf[x] - (o->grid.x0 + (x + 0.5) * o->grid.sx)) > 1e-9)
            bad++;
    /* (GDAL's Zarr driver hides standard_name: test_cube_xarray.py checks it there) */
    if (o->format == CUBE_NETCDF)
        CHECK_STR(attr_string(a ? GDALMDArrayGetAttribute(a, "standard_name") : NULL, s, sizeof s),
                  o->grid.sx < 1 ? "longitude" : "projection_x_coordinate");
    CHECK_STR(unit_of(a, s, sizeof s), o->grid.sx < 1 ? "degrees_east" : "m");
    if (a)
        GDALMDArrayRelease(a);
    a = open_array(root, "y");
    cnt[0] = GH;
    CHECK(a && GDALMDArrayRead(a, st, cnt, NULL, NULL, f64, buf, buf, sizeof(double) * GH));
    for (y = 0; y < GH; y++)
        if (fabs(buf[y] - (o->grid.y0 + (y + 0.5) * o->grid.sy)) > 1e-9)
            bad++;
    CHECK(bad == 0);
    if (a)
        GDALMDArrayRelease(a);
    a = open_array(root, "image_id");
    cnt[0] = NT;
    memset(idv, 0, sizeof idv);
    CHECK(a && GDALMDArrayRead(a, st, cnt, NULL, NULL, str, idv, idv, sizeof idv));
    for (t = 0; t < NT; t++) {
        CHECK_STR(idv[t], ids[t] ? ids[t] : "");
        CPLFree(idv[t]);
    }
    if (a)
        GDALMDArrayRelease(a);

    for (v = 0; v < NV; v++) {
        GUInt64 *bs;
        OGRSpatialReferenceH srs;
        a = open_array(root, names[v]);
        if (!a)
            continue;
        bs = GDALMDArrayGetBlockSize(a, &n);
        CHECK(n == 3 && bs[0] == 1 && (long)bs[1] == chunk_h && (long)bs[2] == chunk_w);
        CPLFree(bs);
        {
            double nd = GDALMDArrayGetNoDataValueAsDouble(a, &has);
            CHECK(has == o->has_nodata && (!has || nd == o->nodata));
        }
        if (o->scale) {
            CHECK(GDALMDArrayGetScale(a, &has) == scales[v] && has);
            CHECK(GDALMDArrayGetOffset(a, &has) == offsets[v] && has);
        }
        /* The CRS: GDAL's own reading of it (netCDF: the CF grid mapping;
         * Zarr: its _CRS), and the CF grid mapping variable's crs_wkt. */
        srs = GDALMDArrayGetSpatialRef(a);
        CHECK(srs != NULL);
        if (srs) {
            CHECK_STR(OSRGetAuthorityCode(srs, NULL), strchr(o->grid.crs, ':') + 1);
            OSRDestroySpatialReference(srs);
        }
        attr_string(GDALMDArrayGetAttribute(a, "grid_mapping"), gm, sizeof gm);
        {
            GDALMDArrayH g = GDALGroupOpenMDArray(root, gm, NULL);
            CHECK(g != NULL);
            if (g) {
                CHECK(strstr(attr_string(GDALMDArrayGetAttribute(g, "crs_wkt"), s, sizeof s),
                             strchr(o->grid.crs, ':') + 1) != NULL);
                CHECK_STR(attr_string(GDALMDArrayGetAttribute(g, "crs_code"), s, sizeof s), o->grid.crs);
                CHECK_STR(attr_string(GDALMDArrayGetAttribute(g, "grid_mapping_name"), s, sizeof s),
                          o->grid.sx < 1 ? "latitude_longitude" : "transverse_mercator");
                GDALMDArrayRelease(g);
            }
        }
        cnt[0] = NT, cnt[1] = GH, cnt[2] = GW;
        CHECK(GDALMDArrayRead(a, st, cnt, NULL, NULL, f64, buf, buf, sizeof(double) * NT * GH * GW));
        bad = 0;
        for (t = 0; t < NT; t++)
            for (y = 0; y < GH; y++)
                for (x = 0; x < GW; x++) {
                    double want = present(t * NV + v, x, y) ? val(t, v, x, y) : fill;
                    if (o->dtype == SPEC_DTYPE_INT8 && want > 127)
                        want = 127;   /* clamped by the store's conversion */
                    if (buf[((size_t)t * GH + (size_t)y) * GW + (size_t)x] != want) {
                        if (bad++ < 3)
                            fprintf(stderr, "%s %s t%d (%ld,%ld): %g, want %g\n", o->path, names[v], t, x, y,
                                    buf[((size_t)t * GH + (size_t)y) * GW + (size_t)x], want);
                    }
                }
        CHECK(bad == 0);
        GDALMDArrayRelease(a);
    }
    GDALGroupRelease(root);
    GDALClose(ds);
    GDALExtendedDataTypeRelease(f64);
    GDALExtendedDataTypeRelease(i64);
    GDALExtendedDataTypeRelease(str);
    free(buf);
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void test_cubes(const char *parts)
{
    char path[700], partial[800];
    struct cube_out o;
    struct errbuf e;

    /* a: Zarr, UTM, float32 with nodata and scale/offset */
    snprintf(path, sizeof path, "%s/a.zarr", dir);
    snprintf(partial, sizeof partial, "%s.partial", path);
    out_init(&o, path, CUBE_ZARR, "EPSG:32633", SPEC_DTYPE_FLOAT32);
    o.has_nodata = 1, o.nodata = -9999;
    o.scale = scales, o.offset = offsets;
    CHECK(cube_existing(path, "plan-a") == MOSAIC_ABSENT);
    CHECK(cube_assemble(&o, parts, pieces, npieces, &e) == 0);
    check_cube(&o, TW, TH);
    CHECK(!exists(partial));
    CHECK(cube_existing(path, "plan-a") == MOSAIC_SAME_PLAN);
    CHECK(cube_existing(path, "plan-b") == MOSAIC_OTHER_PLAN);
    manifest_cube("a.zarr", &o);

    /* b: netCDF, geographic, int16 without nodata (missing pixels are 0,
     * float32 records narrowed) */
    snprintf(path, sizeof path, "%s/b.nc", dir);
    snprintf(partial, sizeof partial, "%s.partial", path);
    out_init(&o, path, CUBE_NETCDF, "EPSG:4326", SPEC_DTYPE_INT16);
    CHECK(cube_assemble(&o, parts, pieces, npieces, &e) == 0);
    check_cube(&o, TW, TH);
    CHECK(!exists(partial));
    CHECK(cube_existing(path, "plan-a") == MOSAIC_SAME_PLAN);
    manifest_cube("b.nc", &o);

    /* c: Zarr chunks that do not follow the tiles (pieces span chunks, a
     * chunk is completed from several groups), no nodata */
    snprintf(path, sizeof path, "%s/c.zarr", dir);
    out_init(&o, path, CUBE_ZARR, "EPSG:32633", SPEC_DTYPE_UINT16);
    o.chunk_w = 20, o.chunk_h = 12;
    CHECK(cube_assemble(&o, parts, pieces, npieces, &e) == 0);
    check_cube(&o, 20, 12);
    manifest_cube("c.zarr", &o);

    /* d: int8 (stored as int16), netCDF with nodata, chunks larger than
     * the grid (cut to it) */
    snprintf(path, sizeof path, "%s/d.nc", dir);
    out_init(&o, path, CUBE_NETCDF, "EPSG:32633", SPEC_DTYPE_INT8);
    o.has_nodata = 1, o.nodata = -128;
    o.chunk_w = 512, o.chunk_h = 512;
    CHECK(cube_assemble(&o, parts, pieces, npieces, &e) == 0);
    check_cube(&o, GW, GH);
    manifest_cube("d.nc", &o);
}

/* A rerun over a cube replaces it (any plan); a damaged piece publishes
 * nothing and leaves no partial; a directory that is not a cube is refused
 * and left alone; bad names are refused before anything is written. */
static void test_replace_and_failures(const char *parts)
{
    char path[700], partial[800], foreign[700], keep[900], bad_parts[700], src[800], cmd[2200];
    struct spec_kv md2[3];
    struct cube_out o;
    struct errbuf e;
    struct mosaic_piece bp;
    FILE *f;
    const char *const dup[NV] = {"B4", "B4"}, *const res[NV] = {"NDVI", "time"};

    snprintf(path, sizeof path, "%s/r.zarr", dir);
    snprintf(partial, sizeof partial, "%s.partial", path);
    out_init(&o, path, CUBE_ZARR, "EPSG:32633", SPEC_DTYPE_FLOAT32);
    CHECK(cube_assemble(&o, parts, pieces, npieces, &e) == 0);
    memcpy(md2, md, sizeof md2);
    md2[0].value = (char *)"plan-b";
    o.metadata = md2;
    o.has_nodata = 1, o.nodata = -1;
    CHECK(cube_assemble(&o, parts, pieces, npieces, &e) == 0);
    CHECK(cube_existing(path, "plan-b") == MOSAIC_SAME_PLAN);
    CHECK(!exists(partial));
    o.metadata = md;   /* check_cube compares with md's plan tag */
    md2[0].value = (char *)"plan-a";
    o.metadata = md2;
    /* the netCDF rerun path: a file replaced by rename */
    {
        char nc[700];
        struct cube_out on;
        snprintf(nc, sizeof nc, "%s/r.nc", dir);
        out_init(&on, nc, CUBE_NETCDF, "EPSG:32633", SPEC_DTYPE_FLOAT32);
        CHECK(cube_assemble(&on, parts, pieces, npieces, &e) == 0);
        on.metadata = md2;
        md2[0].value = (char *)"plan-c";
        CHECK(cube_assemble(&on, parts, pieces, npieces, &e) == 0);
        CHECK(cube_existing(nc, "plan-c") == MOSAIC_SAME_PLAN);
    }

    /* a damaged piece: the previous cube stays, no partial */
    snprintf(bad_parts, sizeof bad_parts, "%s/bad-parts", dir);
    CHECK(mosaic_parts_create(bad_parts, &e) == 0);
    snprintf(cmd, sizeof cmd, "cp %s/* %s/", parts, bad_parts);
    CHECK(system(cmd) == 0);
    bp = pieces[npieces - 1];
    snprintf(src, sizeof src, "%s/t%zu_%d.px", bad_parts, bp.tile_id, bp.k);
    f = fopen(src, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, MOSAIC_PIECE_HEADER + 5, SEEK_SET);
        fputc(0x5a, f);
        fclose(f);
    }
    o.metadata = md;
    CHECK(cube_assemble(&o, bad_parts, pieces, npieces, &e) == ERR_PARSE);
    CHECK(strstr(e.msg, "damaged") != NULL);
    CHECK(!exists(partial));
    CHECK(cube_existing(path, "plan-b") == MOSAIC_SAME_PLAN);
    /* a first run failing leaves nothing at all */
    snprintf(path, sizeof path, "%s/never.nc", dir);
    snprintf(partial, sizeof partial, "%s.partial", path);
    out_init(&o, path, CUBE_NETCDF, "EPSG:32633", SPEC_DTYPE_FLOAT32);
    CHECK(cube_assemble(&o, bad_parts, pieces, npieces, &e) == ERR_PARSE);
    CHECK(!exists(path) && !exists(partial));

    /* a foreign directory at the path, and one at the partial's name */
    snprintf(foreign, sizeof foreign, "%s/f.zarr", dir);
    snprintf(keep, sizeof keep, "%s/mine.txt", foreign);
    CHECK(mkdir(foreign, 0777) == 0);
    f = fopen(keep, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    CHECK(cube_existing(foreign, "plan-a") == MOSAIC_FOREIGN);
    out_init(&o, foreign, CUBE_ZARR, "EPSG:32633", SPEC_DTYPE_FLOAT32);
    CHECK(cube_assemble(&o, parts, pieces, npieces, &e) == ERR_IO);
    CHECK(strstr(e.msg, "not an eefetch cube") != NULL);
    CHECK(exists(keep));
    snprintf(path, sizeof path, "%s/g.zarr", dir);
    snprintf(partial, sizeof partial, "%s/g.zarr.partial", dir);
    CHECK(rename(foreign, partial) == 0);
    out_init(&o, path, CUBE_ZARR, "EPSG:32633", SPEC_DTYPE_FLOAT32);
    CHECK(cube_assemble(&o, parts, pieces, npieces, &e) == ERR_IO);
    CHECK(strstr(e.msg, "not a partial eefetch cube") != NULL);
    CHECK(!exists(path));
    snprintf(keep, sizeof keep, "%s/mine.txt", partial);
    CHECK(exists(keep));
    /* a leftover partial cube of a killed run is replaced */
    snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s/r.zarr %s", partial, dir, partial);
    CHECK(system(cmd) == 0);
    CHECK(cube_assemble(&o, parts, pieces, npieces, &e) == 0);
    CHECK(!exists(partial) && cube_existing(path, "plan-a") == MOSAIC_SAME_PLAN);

    /* names */
    o.var_names = dup;
    CHECK(cube_assemble(&o, parts, pieces, npieces, &e) == ERR_USAGE);
    CHECK(strstr(e.msg, "both named \"B4\"") != NULL);
    o.var_names = res;
    CHECK(cube_assemble(&o, parts, pieces, npieces, &e) == ERR_USAGE);
    CHECK(strstr(e.msg, "\"time\"") != NULL);
    CHECK(cube_existing(path, "plan-a") == MOSAIC_SAME_PLAN);
}

int main(void)
{
    const char *keep = getenv("EEFETCH_CUBE_KEEP");
    char parts[700], cmd[800];
    struct errbuf e;

    GDALAllRegister();
    if (keep && *keep) {
        snprintf(dir, sizeof dir, "%s", keep);
    } else {
        snprintf(dir, sizeof dir, "/tmp/eefetch_cube_XXXXXX");
        if (!mkdtemp(dir))
            return 1;
    }
    snprintf(parts, sizeof parts, "%s/parts", dir);
    CHECK(mosaic_parts_create(parts, &e) == 0);
    store_all(parts);
    CHECK(npieces == 9 - 1 + 9 + 2);
    if (keep && *keep) {
        snprintf(cmd, sizeof cmd, "%s/cubes.json", dir);
        manifest = fopen(cmd, "w");
        if (manifest) {
            size_t i;
            fprintf(manifest, "{\"cubes\":[\n");
            test_cubes(parts);
            fprintf(manifest, "],\n\"pieces\":[\n");
            for (i = 0; i < npieces; i++)
                fprintf(manifest, "%s[%ld,%ld,%ld,%ld,%d,%d]", i ? ",\n" : "", pieces[i].col, pieces[i].row,
                        pieces[i].width, pieces[i].height, pieces[i].band0, pieces[i].nbands);
            fprintf(manifest, "]}\n");
            fclose(manifest);
            manifest = NULL;
        }
        return CHECK_DONE();
    }
    test_cubes(parts);
    test_replace_and_failures(parts);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_DONE();
}
