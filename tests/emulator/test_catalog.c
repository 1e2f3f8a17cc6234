/*
 * Catalog checks: ids, grids, look-ups, properties and catalog_read_row at
 * the edges of grids.
 *
 * With arguments the same program is a small tool for the Python tests
 * (test_reference_catalog.py, test_encode.py), which compare the C catalog and
 * encoders with tests/emulator/reference.py without an HTTP server:
 *   test_catalog dump            stdin lines "ID BAND COL0 ROW0 W H" -> stdout
 *                                float64 values (h*w) then mask bytes (h*w)
 *   test_catalog list            one JSON object per image (id, times, bands, props)
 *   test_catalog encode FMT OUT ID COL0 ROW0 W H BAND...   native window -> file
 *   test_catalog special FMT OUT a raster of edge values and mixed types -> file
 *   test_catalog local ID PATH   registers a GeoTIFF, prints it as JSON, then
 *                                serves "dump" lines like dump
 */
#include "emulator/catalog.h"
#include "emulator/formula.h"
#include "emulator/raster.h"

#include "../unit/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char S2_IMG[] =
    "COPERNICUS/S2_SR_HARMONIZED/20230105T183751_20230105T183750_T10SEG";

static int band_index(const struct cat_image *img, const char *id)
{
    int b;

    for (b = 0; b < img->nbands; b++)
        if (strcmp(img->bands[b].id, id) == 0)
            return b;
    return -1;
}

/* ---- tool modes ----------------------------------------------------------- */

static int serve_dump(const struct catalog *c)
{
    char line[512], id[256], band[64];
    long col0, row0, w, h, r;

    while (fgets(line, sizeof line, stdin)) {
        const struct cat_image *img;
        double *val;
        uint8_t *mask;
        int b;

        if (sscanf(line, "%255s %63s %ld %ld %ld %ld", id, band, &col0, &row0, &w, &h) != 6)
            continue;
        img = catalog_image(c, id);
        b = img ? band_index(img, band) : -1;
        if (b < 0 || w <= 0 || h <= 0 || w * h > 50000000L) {
            fprintf(stderr, "dump: bad request %s", line);
            return 1;
        }
        val = malloc((size_t)(w * h) * sizeof *val);
        mask = malloc((size_t)(w * h));
        if (!val || !mask) {
            free(val);
            free(mask);
            return 1;
        }
        for (r = 0; r < h; r++)
            catalog_read_row(img, b, row0 + r, col0, w, val + r * w, mask + r * w);
        fwrite(val, sizeof *val, (size_t)(w * h), stdout);
        fwrite(mask, 1, (size_t)(w * h), stdout);
        fflush(stdout);
        free(val);
        free(mask);
    }
    return 0;
}

static json_object *image_json(const struct cat_image *img)
{
    json_object *o = json_object_new_object(), *bands = json_object_new_array();
    int b, k;

    json_object_object_add(o, "id", json_object_new_string(img->id));
    json_object_object_add(o, "collection",
                           img->collection ? json_object_new_string(img->collection->id) : NULL);
    json_object_object_add(o, "start_ms", json_object_new_int64(img->start_ms));
    json_object_object_add(o, "end_ms", json_object_new_int64(img->end_ms));
    json_object_object_add(o, "size_bytes", json_object_new_int64(img->size_bytes));
    for (b = 0; b < img->nbands; b++) {
        json_object *jb = json_object_new_object(), *aff = json_object_new_array();

        json_object_object_add(jb, "id", json_object_new_string(img->bands[b].id));
        json_object_object_add(jb, "type", json_object_new_string(px_name(img->bands[b].type)));
        json_object_object_add(jb, "dataType", px_ee_datatype(img->bands[b].type));
        json_object_object_add(jb, "crs", json_object_new_string(img->bands[b].grid.crs));
        for (k = 0; k < 6; k++)
            json_object_array_add(aff, json_object_new_double(img->bands[b].grid.affine[k]));
        json_object_object_add(jb, "affine", aff);
        json_object_object_add(jb, "width", json_object_new_int64(img->bands[b].grid.width));
        json_object_object_add(jb, "height", json_object_new_int64(img->bands[b].grid.height));
        json_object_array_add(bands, jb);
    }
    json_object_object_add(o, "bands", bands);
    json_object_object_add(o, "properties", json_object_get(img->properties));
    json_object_object_add(o, "footprint", json_object_get(img->footprint));
    return o;
}

static int list_images(const struct catalog *c)
{
    size_t i;

    for (i = 0; i < catalog_count(c); i++) {
        json_object *o = image_json(catalog_image_at(c, i));

        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
    }
    return 0;
}

static int write_out(int (*enc)(const struct raster *, struct buf *, struct errbuf *),
                     const struct raster *r, const char *path)
{
    struct buf out;
    struct errbuf e;
    FILE *f;
    int rc;

    buf_init(&out, 0);
    rc = enc(r, &out, &e);
    if (rc) {
        fprintf(stderr, "encode: %s\n", e.msg);
        buf_free(&out);
        return 1;
    }
    f = fopen(path, "wb");
    if (!f || fwrite(out.data, 1, out.len, f) != out.len) {
        if (f)
            fclose(f);
        buf_free(&out);
        return 1;
    }
    fclose(f);
    buf_free(&out);
    return 0;
}

static int (*pick_encoder(const char *fmt))(const struct raster *, struct buf *, struct errbuf *)
{
    if (strcmp(fmt, "npy") == 0)
        return encode_npy;
    if (strcmp(fmt, "tif") == 0)
        return encode_geotiff;
    if (strcmp(fmt, "png") == 0)
        return encode_png;
    return NULL;
}

static int encode_window(const struct catalog *c, int argc, char **argv)
{
    const struct cat_image *img = catalog_image(c, argv[4]);
    long col0 = atol(argv[5]), row0 = atol(argv[6]), w = atol(argv[7]), h = atol(argv[8]), r;
    int nb = argc - 9, b, rc;
    struct raster ras;

    if (!img || nb < 1 || !pick_encoder(argv[2]) || raster_alloc(&ras, w, h, nb) != 0)
        return 1;
    for (b = 0; b < nb; b++) {
        int ib = band_index(img, argv[9 + b]);

        if (ib < 0) {
            raster_free(&ras);
            return 1;
        }
        snprintf(ras.bands[b].id, sizeof ras.bands[b].id, "%s", img->bands[ib].id);
        ras.bands[b].type = img->bands[ib].type;
        ras.grid = img->bands[ib].grid;
        for (r = 0; r < h; r++)
            catalog_read_row(img, ib, row0 + r, col0, w, ras.bands[b].data + r * w,
                             ras.bands[b].mask + r * w);
    }
    /* The window's own grid: the native affine moved to (col0, row0). */
    ras.grid.affine[2] += col0 * ras.grid.affine[0] + row0 * ras.grid.affine[1];
    ras.grid.affine[5] += col0 * ras.grid.affine[3] + row0 * ras.grid.affine[4];
    ras.grid.width = w;
    ras.grid.height = h;
    rc = write_out(pick_encoder(argv[2]), &ras, argv[3]);
    raster_free(&ras);
    return rc;
}

/* Values chosen to exercise rounding, clamping, NaN and masks; the expected
 * results are written out independently in test_encode.py. */
static const double special_vals[] = {0, 1.5, 2.5, -2.5, -0.4, 254.5, 255.6, -129, 70000.2,
                                      -1e12, 1e12, NAN, 12345.678, -7.5, 3.49999, 100};
#define NSPECIAL (sizeof special_vals / sizeof special_vals[0])

static int encode_special(int argc, char **argv)
{
    static const enum px_type all[] = {PX_U8, PX_I8, PX_U16, PX_I16, PX_U32,
                                       PX_I32, PX_F32, PX_F64};
    const char *fmt = argv[2];
    struct raster r;
    int nb, b, rc;
    size_t i;

    /* npy: every type; tif with "tif": mixed u16 + u8 (promotes to u16);
     * "tif-f": u8 + f32 (float32); "tif-i": i8 + u16 (int32). png: 3 x u8. */
    if (strcmp(fmt, "npy") == 0)
        nb = 8;
    else if (strcmp(fmt, "png") == 0)
        nb = 3;
    else
        nb = 2;
    if (raster_alloc(&r, 4, 4, nb) != 0)
        return 1;
    for (b = 0; b < nb; b++) {
        enum px_type t = strcmp(fmt, "npy") == 0 ? all[b] : PX_U8;

        if (strcmp(fmt, "tif") == 0)
            t = b ? PX_U8 : PX_U16;
        else if (strcmp(fmt, "tif-f") == 0)
            t = b ? PX_F32 : PX_U8;
        else if (strcmp(fmt, "tif-i") == 0)
            t = b ? PX_U16 : PX_I8;
        r.bands[b].type = t;
        snprintf(r.bands[b].id, sizeof r.bands[b].id, "%s_%d", px_name(t), b);
        for (i = 0; i < NSPECIAL; i++) {
            r.bands[b].data[i] = special_vals[i];
            r.bands[b].mask[i] = i != 15;   /* the last pixel is masked */
        }
    }
    snprintf(r.grid.crs, sizeof r.grid.crs, "EPSG:32633");
    r.grid.affine[0] = 20;
    r.grid.affine[1] = 0;
    r.grid.affine[2] = 300000;
    r.grid.affine[3] = 0;
    r.grid.affine[4] = -20;
    r.grid.affine[5] = 5400000;
    r.grid.width = 4;
    r.grid.height = 4;
    rc = write_out(pick_encoder(strncmp(fmt, "tif", 3) == 0 ? "tif" : fmt), &r, argv[3]);
    raster_free(&r);
    (void)argc;
    return rc;
}

static int tool(int argc, char **argv)
{
    struct catalog *c;
    struct errbuf e;
    int rc = 1;

    if (catalog_create(&c, &e) != 0) {
        fprintf(stderr, "catalog: %s\n", e.msg);
        return 1;
    }
    if (strcmp(argv[1], "dump") == 0)
        rc = serve_dump(c);
    else if (strcmp(argv[1], "list") == 0)
        rc = list_images(c);
    else if (strcmp(argv[1], "encode") == 0 && argc >= 10)
        rc = encode_window(c, argc, argv);
    else if (strcmp(argv[1], "special") == 0 && argc == 4)
        rc = encode_special(argc, argv);
    else if (strcmp(argv[1], "local") == 0 && argc == 4) {
        if (catalog_add_local(c, argv[2], argv[3], &e) != 0) {
            printf("ERROR %s\n", e.msg);
            fflush(stdout);
            rc = 2;
        } else {
            json_object *o = image_json(catalog_image(c, argv[2]));

            printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
            fflush(stdout);
            json_object_put(o);
            rc = serve_dump(c);
        }
    } else
        fprintf(stderr, "usage: see the comment at the top of test_catalog.c\n");
    catalog_destroy(c);
    return rc;
}

/* ---- checks --------------------------------------------------------------- */

static void check_types(void)
{
    json_object *o = px_ee_datatype(PX_U16), *r, *v;

    CHECK(json_object_object_get_ex(o, "precision", &v));
    CHECK_STR(json_object_get_string(v), "INT");
    CHECK(json_object_object_get_ex(o, "range", &r));
    CHECK(json_object_object_get_ex(r, "max", &v) && json_object_get_int64(v) == 65535);
    json_object_put(o);
    o = px_ee_datatype(PX_F32);
    CHECK(json_object_object_get_ex(o, "precision", &v));
    CHECK_STR(json_object_get_string(v), "FLOAT");
    CHECK(!json_object_object_get_ex(o, "range", &r));
    json_object_put(o);
    CHECK_STR(px_npy_descr(PX_I16), "<i2");
    CHECK(px_size(PX_F64) == 8);
    /* Every integer type's announced range maps back to the same type under
     * GDAL's rule (ee-api.md 2.4). */
    {
        static const enum px_type ints[] = {PX_U8, PX_I8, PX_U16, PX_I16, PX_U32, PX_I32};
        size_t i;

        for (i = 0; i < sizeof ints / sizeof ints[0]; i++) {
            json_object *dt = px_ee_datatype(ints[i]), *rg = NULL, *jlo = NULL, *jhi = NULL;
            int64_t lo, hi;
            enum px_type back;

            json_object_object_get_ex(dt, "range", &rg);
            json_object_object_get_ex(rg, "min", &jlo);
            json_object_object_get_ex(rg, "max", &jhi);
            lo = json_object_get_int64(jlo);
            hi = json_object_get_int64(jhi);
            if (lo == -128 && hi == 127)
                back = PX_I8;
            else if (lo < -32768)
                back = PX_I32;
            else if (hi > 65535)
                back = PX_U32;
            else if (lo < 0)
                back = PX_I16;
            else if (hi > 255)
                back = PX_U16;
            else
                back = PX_U8;
            CHECK(back == ints[i]);
            json_object_put(dt);
        }
    }
}

static void check_lookups(const struct catalog *c)
{
    const struct cat_image *img = catalog_image(c, "USGS/SRTMGL1_003");
    const struct cat_collection *s2, *l9;
    size_t i;

    CHECK(img != NULL);
    CHECK(img == catalog_image(c, "projects/earthengine-public/assets/USGS/SRTMGL1_003"));
    CHECK(catalog_image(c, "USGS/SRTMGL1_00") == NULL);
    CHECK(catalog_image(c, "projects/earthengine-public/assets/") == NULL);
    CHECK(catalog_image(c, "") == NULL);
    CHECK(img && img->collection == NULL && img->nbands == 1);
    if (img) {
        CHECK_STR(img->bands[0].id, "elevation");
        CHECK(img->bands[0].type == PX_I16);
        CHECK_STR(img->bands[0].grid.crs, "EPSG:4326");
        CHECK(img->bands[0].grid.width == 1296001 && img->bands[0].grid.height == 417601);
        CHECK(fabs(img->bands[0].grid.affine[2] + 180.000138888889) < 1e-9);
    }
    s2 = catalog_collection(c, "COPERNICUS/S2_SR_HARMONIZED");
    CHECK(s2 && s2 == catalog_collection(
                        c, "projects/earthengine-public/assets/COPERNICUS/S2_SR_HARMONIZED"));
    CHECK(catalog_collection(c, "USGS/SRTMGL1_003") == NULL);
    CHECK(s2 && s2->nimages == 292);
    for (i = 1; s2 && i < s2->nimages; i++)
        CHECK(s2->images[i - 1]->start_ms <= s2->images[i]->start_ms);
    img = catalog_image(c, S2_IMG);
    CHECK(img && s2 && img->collection == s2);
    if (img) {
        json_object *v;
        int b = band_index(img, "B4"), b1 = band_index(img, "B1"), scl = band_index(img, "SCL");

        CHECK(img->nbands == 14);
        CHECK(band_index(img, "QA60") == 13 && img->bands[13].grid.width == 1830 &&
              img->bands[13].type == PX_U16);
        CHECK(b == 3 && b1 == 0 && scl == 12 && band_index(img, "B8A") == 8);
        CHECK(img->bands[b].grid.width == 10980 && img->bands[b].grid.affine[0] == 10);
        CHECK(img->bands[b].grid.affine[2] == 499960 && img->bands[b].grid.affine[5] == 4200000);
        CHECK(img->bands[b1].grid.width == 1830 && img->bands[b1].grid.affine[4] == -60);
        CHECK(img->bands[scl].type == PX_U8 && img->bands[scl].grid.width == 5490);
        CHECK_STR(img->bands[b].grid.crs, "EPSG:32610");
        CHECK(img->start_ms == 1672943871000LL);   /* 2023-01-05T18:37:51Z */
        CHECK(json_object_object_get_ex(img->properties, "system:index", &v));
        CHECK_STR(json_object_get_string(v),
                  "20230105T183751_20230105T183750_T10SEG");
        CHECK(json_object_object_get_ex(img->properties, "CLOUDY_PIXEL_PERCENTAGE", &v));
        CHECK(json_object_object_get_ex(img->footprint, "type", &v));
        CHECK_STR(json_object_get_string(v), "Polygon");
    }
    {
        char full[256];

        snprintf(full, sizeof full, "projects/earthengine-public/assets/%s", S2_IMG);
        CHECK(catalog_image(c, full) == catalog_image(c, S2_IMG));
    }
    l9 = catalog_collection(c, "LANDSAT/LC09/C02/T1_L2");
    CHECK(l9 && l9->nimages == 69);
    img = catalog_image(c, "LANDSAT/LC09/C02/T1_L2/LC09_044034_20230107");
    CHECK(img && img->collection == l9 && img->nbands == 10);
    if (img) {
        CHECK_STR(img->bands[7].id, "ST_B10");
        CHECK_STR(img->bands[8].id, "QA_PIXEL");
        CHECK_STR(img->bands[9].id, "QA_RADSAT");
        CHECK(img->bands[0].grid.affine[0] == 30 && img->bands[0].grid.affine[2] == 458985);
    }
    /* Every image is findable by id, and the listing is sorted by id. */
    for (i = 0; i < catalog_count(c); i++) {
        CHECK(catalog_image(c, catalog_image_at(c, i)->id) == catalog_image_at(c, i));
        if (i)
            CHECK(strcmp(catalog_image_at(c, i - 1)->id, catalog_image_at(c, i)->id) < 0);
    }
    /* Cloud Score+: one image per S2 image, the same system:index. */
    {
        const struct cat_collection *csp =
            catalog_collection(c, "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED");
        const struct cat_image *cs = catalog_image(
            c, "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED/20230105T183751_20230105T183750_T10SEG");

        CHECK(csp && csp->nimages == 292);
        CHECK(cs && cs->nbands == 2 && cs->bands[0].type == PX_F32 &&
              cs->bands[0].grid.width == 10980 && cs->start_ms == 1672943871000LL);
    }
    CHECK(catalog_count(c) == 1 + 292 + 69 + 292);
}

static void check_rows(const struct catalog *c)
{
    const struct cat_image *img = catalog_image(c, S2_IMG), *dem;
    double v[64];
    uint8_t m[64];
    int i, ok;

    if (!img)
        return;
    /* Left edge: 3 masked, then valid. */
    catalog_read_row(img, 3, 0, -3, 8, v, m);
    CHECK(m[0] == 0 && m[2] == 0 && v[1] == 0 && m[3] == 1 && m[7] == 1);
    /* Right edge of the 10 m grid. */
    catalog_read_row(img, 3, 10979, 10975, 10, v, m);
    CHECK(m[4] == 1 && m[5] == 0 && m[9] == 0 && v[9] == 0);
    /* Rows outside, bad band index. */
    catalog_read_row(img, 3, -1, 0, 4, v, m);
    CHECK(m[0] == 0 && m[3] == 0);
    catalog_read_row(img, 3, 10980, 0, 4, v, m);
    CHECK(m[0] == 0);
    catalog_read_row(img, 99, 0, 0, 4, v, m);
    CHECK(m[0] == 0);
    /* Entirely left or right of the grid. */
    catalog_read_row(img, 0, 5, -100, 10, v, m);
    CHECK(m[0] == 0 && m[9] == 0);
    catalog_read_row(img, 0, 5, 1830, 10, v, m);
    CHECK(m[0] == 0 && m[9] == 0);
    /* Values stay within the type and SCL uses the documented classes. */
    catalog_read_row(img, 12, 100, 0, 64, v, m);
    for (i = 0, ok = 1; i < 64; i++)
        ok &= v[i] == 4 || v[i] == 5 || v[i] == 6 || v[i] == 8 || v[i] == 9 || v[i] == 10;
    CHECK(ok);
    /* A row read in two pieces equals the row read at once. */
    {
        double a[40], b2[40];
        uint8_t ma[40], mb[40];

        catalog_read_row(img, 1, 777, 1000, 40, a, ma);
        catalog_read_row(img, 1, 777, 1000, 17, b2, mb);
        catalog_read_row(img, 1, 777, 1017, 23, b2 + 17, mb + 17);
        CHECK(memcmp(a, b2, sizeof a) == 0 && memcmp(ma, mb, sizeof ma) == 0);
    }
    dem = catalog_image(c, "USGS/SRTMGL1_003");
    if (dem) {
        /* The summit of the documented pyramid is clamped at 8848 m. */
        catalog_read_row(dem, 0, 115243, 960930, 1, v, m);
        CHECK(m[0] == 1 && v[0] == 8848);
        catalog_read_row(dem, 0, 417600, 1295990, 20, v, m);
        CHECK(m[10] == 1 && m[11] == 0 && v[11] == 0);
        for (i = 0, ok = 1; i < 11; i++)
            ok &= v[i] >= 0 && v[i] <= 8848;
        CHECK(ok);
    }
}

static void check_hash(void)
{
    /* The hash on its documented definition, computed by hand once. */
    uint64_t x = 1 * 0x9E3779B97F4A7C15ULL + 2 * 0xC2B2AE3D27D4EB4FULL + 3 * 0x165667B19E3779F9ULL;

    x ^= x >> 32;
    x *= 0xD6E8FEB86659FD93ULL;
    x ^= x >> 29;
    CHECK(fm_hash(1, 2, 3) == x);
    CHECK(fm_hash(-1, 0, 0) == fm_hash((int64_t)-1, 0, 0));
}

static void check_local_errors(struct catalog *c)
{
    struct errbuf e;

    CHECK(catalog_add_local(c, "users/me/none", "/nonexistent/x.tif", &e) < 0);
    CHECK(strstr(e.msg, "/nonexistent/x.tif") != NULL);
    CHECK(catalog_add_local(c, "USGS/SRTMGL1_003", "/nonexistent/x.tif", &e) < 0);
}

int main(int argc, char **argv)
{
    struct catalog *c;
    struct errbuf e;

    if (argc > 1)
        return tool(argc, argv);
    check_types();
    check_hash();
    CHECK(catalog_create(&c, &e) == 0);
    if (c) {
        check_lookups(c);
        check_rows(c);
        check_local_errors(c);
        catalog_destroy(c);
    }
    return CHECK_DONE();
}
