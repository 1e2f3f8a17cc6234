/*
 * STAC Items and Collections (core/stac.c): written for an EPSG:4326 grid, a
 * UTM grid across its central meridian and a CRS without an EPSG code, read
 * back with json-c and checked field by field. The UTM footprint and bbox
 * are checked against an inverse transverse Mercator computed here (Snyder,
 * USGS Professional Paper 1395, eqs. 8-12 to 8-25), not with PROJ. Also
 * relative hrefs, the collection's links, nothing left behind by the atomic
 * write and the errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../unit/check.h"
#include "core/stac.h"

static char dir[256];

/* struct spec_kv holds char *: the literals are only read. */
#define KV(k, v) {(char *)(k), (char *)(v)}

static json_object *get(json_object *o, const char *path)
{
    /* "a.b.0.c": object keys and array indices. */
    char buf[256], *tok, *save = NULL;

    snprintf(buf, sizeof buf, "%s", path);
    for (tok = strtok_r(buf, ".", &save); tok && o; tok = strtok_r(NULL, ".", &save)) {
        if (json_object_is_type(o, json_type_array))
            o = json_object_array_get_idx(o, (size_t)atoi(tok));
        else if (!json_object_object_get_ex(o, tok, &o))
            o = NULL;
    }
    return o;
}

static const char *str(json_object *o, const char *path)
{
    json_object *v = get(o, path);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static double num(json_object *o, const char *path)
{
    json_object *v = get(o, path);
    if (!v || !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
        return NAN;
    return json_object_get_double(v);
}

static int is_null(json_object *o, const char *path)
{
    json_object *v;
    char buf[256], *dot;

    /* Present with a JSON null: the parent has the key and it holds NULL. */
    snprintf(buf, sizeof buf, "%s", path);
    dot = strrchr(buf, '.');
    if (!dot)
        return json_object_object_get_ex(o, buf, &v) && v == NULL;
    *dot = '\0';
    o = get(o, buf);
    return o && json_object_object_get_ex(o, dot + 1, &v) && v == NULL;
}

static size_t len(json_object *o, const char *path)
{
    json_object *v = get(o, path);
    return v && json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---- an independent UTM inverse (WGS84, northern hemisphere) ---- */

static void utm_inverse(int zone, double E, double N, double *lon, double *lat)
{
    const double a = 6378137.0, f = 1 / 298.257223563, k0 = 0.9996;
    double e2 = f * (2 - f), ep2 = e2 / (1 - e2), s = sqrt(1 - e2);
    double e1 = (1 - s) / (1 + s);
    double x = E - 500000.0, M = N / k0;
    double mu = M / (a * (1 - e2 / 4 - 3 * e2 * e2 / 64 - 5 * e2 * e2 * e2 / 256));
    double p1 = mu + (3 * e1 / 2 - 27 * pow(e1, 3) / 32) * sin(2 * mu) +
                (21 * e1 * e1 / 16 - 55 * pow(e1, 4) / 32) * sin(4 * mu) +
                (151 * pow(e1, 3) / 96) * sin(6 * mu) + (1097 * pow(e1, 4) / 512) * sin(8 * mu);
    double sp = sin(p1), cp = cos(p1), tp = tan(p1);
    double C1 = ep2 * cp * cp, T1 = tp * tp;
    double N1 = a / sqrt(1 - e2 * sp * sp), R1 = a * (1 - e2) / pow(1 - e2 * sp * sp, 1.5);
    double D = x / (N1 * k0);
    double phi = p1 - (N1 * tp / R1) *
                          (D * D / 2 -
                           (5 + 3 * T1 + 10 * C1 - 4 * C1 * C1 - 9 * ep2) * pow(D, 4) / 24 +
                           (61 + 90 * T1 + 298 * C1 + 45 * T1 * T1 - 252 * ep2 - 3 * C1 * C1) *
                               pow(D, 6) / 720);
    double lam = (D - (1 + 2 * T1 + C1) * pow(D, 3) / 6 +
                  (5 - 2 * C1 + 28 * T1 - 3 * C1 * C1 + 8 * ep2 + 24 * T1 * T1) * pow(D, 5) / 120) /
                 cp;

    *lat = phi * 180 / M_PI;
    *lon = (zone * 6 - 183) + lam * 180 / M_PI;
}

/* ---- items ---- */

static json_object *read_json(const char *path)
{
    json_object *o = json_object_from_file(path);
    CHECK(o != NULL);
    return o;
}

static void test_item_4326(void)
{
    struct grid g = {"EPSG:4326", -122.5, 37.9, 0.001, -0.001, 300, 200};
    struct stac_band bands[2] = {
        {"B4", SPEC_DTYPE_UINT16, 1, 0, 0, 0, 0},
        {"ndvi", SPEC_DTYPE_FLOAT32, 1, NAN, 1, 0.0001, -0.5},
    };
    struct spec_kv props[] = {
        KV("CLOUDY_PIXEL_PERCENTAGE", "4.16"),
        KV("PROCESSING_BASELINE", "05.09"),
        KV("SENSING_ORBIT_NUMBER", "70"),
        KV("MGRS_TILE", "10SEG"),
        KV("system:time_start", "1672943871000"),
        KV("EEFETCH_PLAN_SHA256", "1234"),
        KV("EEFETCH_VERSION", "0.9.0"),
        KV("datetime", "not the STAC field"),
    };
    struct stac_item it;
    struct errbuf e;
    char path[512], asset[512], partial[600];
    json_object *o;
    static const double ring[5][2] = {
        {-122.5, 37.9}, {-122.5, 37.7}, {-122.2, 37.7}, {-122.2, 37.9}, {-122.5, 37.9}};
    static const char *const ext[3] = {
        "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
        "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        "https://stac-extensions.github.io/eo/v1.1.0/schema.json"};
    int i;

    snprintf(path, sizeof path, "%s/s2_2023-01-05.json", dir);
    snprintf(asset, sizeof asset, "%s/s2_2023-01-05.tif", dir);
    memset(&it, 0, sizeof it);
    it.path = path;
    it.id = "s2_2023-01-05";
    it.asset_path = asset;
    it.media_type = STAC_MEDIA_COG;
    it.grid = &g;
    it.has_datetime = 1;
    it.datetime_ms = 1672943871000LL;   /* 2023-01-05T18:37:51Z */
    it.created_ms = 1700000000123LL;    /* 2023-11-14T22:13:20.123Z */
    it.bands = bands;
    it.nbands = 2;
    it.properties = props;
    it.nproperties = sizeof props / sizeof props[0];
    err_clear(&e);
    CHECK(stac_write_item(&it, &e) == 0);
    snprintf(partial, sizeof partial, "%s.partial", path);
    CHECK(!file_exists(partial));
    o = read_json(path);
    if (!o)
        return;
    CHECK_STR(str(o, "type"), "Feature");
    CHECK_STR(str(o, "stac_version"), "1.0.0");
    CHECK(len(o, "stac_extensions") == 3);
    for (i = 0; i < 3; i++) {
        char k[32];
        snprintf(k, sizeof k, "stac_extensions.%d", i);
        CHECK_STR(str(o, k), ext[i]);
    }
    CHECK_STR(str(o, "id"), "s2_2023-01-05");
    CHECK_STR(str(o, "geometry.type"), "Polygon");
    CHECK(len(o, "geometry.coordinates") == 1 && len(o, "geometry.coordinates.0") == 5);
    for (i = 0; i < 5; i++) {
        char k[64];
        snprintf(k, sizeof k, "geometry.coordinates.0.%d.0", i);
        CHECK(fabs(num(o, k) - ring[i][0]) < 1e-12);
        snprintf(k, sizeof k, "geometry.coordinates.0.%d.1", i);
        CHECK(fabs(num(o, k) - ring[i][1]) < 1e-12);
    }
    CHECK(len(o, "bbox") == 4);
    CHECK(fabs(num(o, "bbox.0") + 122.5) < 1e-12 && fabs(num(o, "bbox.1") - 37.7) < 1e-12 &&
          fabs(num(o, "bbox.2") + 122.2) < 1e-12 && fabs(num(o, "bbox.3") - 37.9) < 1e-12);
    /* properties */
    CHECK_STR(str(o, "properties.datetime"), "2023-01-05T18:37:51Z");
    CHECK(get(o, "properties.start_datetime") == NULL);
    CHECK_STR(str(o, "properties.created"), "2023-11-14T22:13:20.123Z");
    CHECK(json_object_is_type(get(o, "properties.proj:epsg"), json_type_int) &&
          num(o, "properties.proj:epsg") == 4326);
    CHECK(get(o, "properties.proj:wkt2") == NULL);
    CHECK(len(o, "properties.proj:shape") == 2 && num(o, "properties.proj:shape.0") == 200 &&
          num(o, "properties.proj:shape.1") == 300);
    CHECK(len(o, "properties.proj:transform") == 6);
    {
        const double t[6] = {0.001, 0, -122.5, 0, -0.001, 37.9};
        for (i = 0; i < 6; i++) {
            char k[64];
            snprintf(k, sizeof k, "properties.proj:transform.%d", i);
            CHECK(num(o, k) == t[i]);
        }
    }
    CHECK(len(o, "properties.proj:bbox") == 4 && num(o, "properties.proj:bbox.0") == -122.5 &&
          fabs(num(o, "properties.proj:bbox.1") - 37.7) < 1e-12 &&
          fabs(num(o, "properties.proj:bbox.2") + 122.2) < 1e-12 &&
          num(o, "properties.proj:bbox.3") == 37.9);
    /* image properties: JSON numbers become numbers, other text stays text */
    CHECK(json_object_is_type(get(o, "properties.CLOUDY_PIXEL_PERCENTAGE"), json_type_double) &&
          num(o, "properties.CLOUDY_PIXEL_PERCENTAGE") == 4.16);
    CHECK_STR(str(o, "properties.PROCESSING_BASELINE"), "05.09");
    CHECK(json_object_is_type(get(o, "properties.SENSING_ORBIT_NUMBER"), json_type_int) &&
          json_object_get_int64(get(o, "properties.SENSING_ORBIT_NUMBER")) == 70);
    CHECK_STR(str(o, "properties.MGRS_TILE"), "10SEG");
    CHECK(json_object_get_int64(get(o, "properties.system:time_start")) == 1672943871000LL);
    /* provenance under eefetch:, always text */
    CHECK_STR(str(o, "properties.eefetch:plan_sha256"), "1234");
    CHECK_STR(str(o, "properties.eefetch:version"), "0.9.0");
    CHECK(get(o, "properties.EEFETCH_VERSION") == NULL);
    /* asset */
    CHECK_STR(str(o, "assets.data.href"), "s2_2023-01-05.tif");
    CHECK_STR(str(o, "assets.data.type"), "image/tiff; application=geotiff; profile=cloud-optimized");
    CHECK(len(o, "assets.data.roles") == 1);
    CHECK_STR(str(o, "assets.data.roles.0"), "data");
    CHECK(len(o, "assets.data.raster:bands") == 2 && len(o, "assets.data.eo:bands") == 2);
    CHECK_STR(str(o, "assets.data.raster:bands.0.data_type"), "uint16");
    CHECK(json_object_is_type(get(o, "assets.data.raster:bands.0.nodata"), json_type_int) &&
          num(o, "assets.data.raster:bands.0.nodata") == 0);
    CHECK(get(o, "assets.data.raster:bands.0.scale") == NULL);
    CHECK_STR(str(o, "assets.data.raster:bands.1.data_type"), "float32");
    CHECK_STR(str(o, "assets.data.raster:bands.1.nodata"), "nan");
    CHECK(num(o, "assets.data.raster:bands.1.scale") == 0.0001);
    CHECK(num(o, "assets.data.raster:bands.1.offset") == -0.5);
    CHECK_STR(str(o, "assets.data.eo:bands.0.name"), "B4");
    CHECK_STR(str(o, "assets.data.eo:bands.1.name"), "ndvi");
    /* not in a collection */
    CHECK(len(o, "links") == 0 && get(o, "links") != NULL);
    CHECK(get(o, "collection") == NULL);
    json_object_put(o);
}

/* A 200 km x 200 km UTM 33N grid whose top edge crosses the central
 * meridian (15 E) 80 km from its left corner: the northernmost point of
 * the footprint is on that edge, not at a corner. */
static void test_item_utm(void)
{
    struct grid g = {"EPSG:32633", 420000, 5400000, 100, -100, 2000, 2000};
    struct stac_band band = {"elevation", SPEC_DTYPE_INT16, 1, -32768, 0, 0, 0};
    struct stac_item it;
    struct errbuf e;
    char path[512], asset[512];
    double want[4] = {1e9, 1e9, -1e9, -1e9}, corner_top = -1e9, lon, lat;
    double cx[5] = {420000, 420000, 620000, 620000, 420000};
    double cy[5] = {5400000, 5200000, 5200000, 5400000, 5400000};
    json_object *o;
    int i, k;

    snprintf(path, sizeof path, "%s/sub/dem.json", dir);
    snprintf(asset, sizeof asset, "%s/dem.tif", dir);
    snprintf(asset, sizeof asset, "%s/sub", dir);
    CHECK(mkdir(asset, 0777) == 0);
    snprintf(asset, sizeof asset, "%s/dem.tif", dir);
    memset(&it, 0, sizeof it);
    it.path = path;
    it.id = "dem";
    it.asset_path = asset;
    it.media_type = STAC_MEDIA_GEOTIFF;
    it.grid = &g;
    it.has_range = 1;                  /* a composite: no single time */
    it.start_ms = 1672531200000LL;     /* 2023-01-01 */
    it.end_ms = 1704067199000LL;       /* 2023-12-31T23:59:59Z */
    it.bands = &band;
    it.nbands = 1;
    err_clear(&e);
    CHECK(stac_write_item(&it, &e) == 0);
    o = read_json(path);
    if (!o)
        return;
    /* The bbox, from every 1 m along the edges. */
    for (k = 0; k <= 200000; k++) {
        double pts[4][2] = {{420000 + k, 5400000}, {420000 + k, 5200000},
                            {420000, 5200000 + k}, {620000, 5200000 + k}};
        for (i = 0; i < 4; i++) {
            utm_inverse(33, pts[i][0], pts[i][1], &lon, &lat);
            want[0] = fmin(want[0], lon);
            want[1] = fmin(want[1], lat);
            want[2] = fmax(want[2], lon);
            want[3] = fmax(want[3], lat);
        }
    }
    for (i = 0; i < 4; i++) {
        char key[16];
        snprintf(key, sizeof key, "bbox.%d", i);
        CHECK(fabs(num(o, key) - want[i]) < 1e-6);
        if (!(fabs(num(o, key) - want[i]) < 1e-6))
            fprintf(stderr, "bbox[%d] %.9f, want %.9f\n", i, num(o, key), want[i]);
    }
    /* the corners, and that the bulge past them was seen */
    for (i = 0; i < 5; i++) {
        char kx[64], ky[64];
        utm_inverse(33, cx[i], cy[i], &lon, &lat);
        snprintf(kx, sizeof kx, "geometry.coordinates.0.%d.0", i);
        snprintf(ky, sizeof ky, "geometry.coordinates.0.%d.1", i);
        CHECK(fabs(num(o, kx) - lon) < 1e-6 && fabs(num(o, ky) - lat) < 1e-6);
        corner_top = fmax(corner_top, lat);
    }
    CHECK(num(o, "bbox.3") > corner_top + 1e-3);
    CHECK(num(o, "properties.proj:epsg") == 32633);
    CHECK(num(o, "properties.proj:shape.0") == 2000 && num(o, "properties.proj:shape.1") == 2000);
    CHECK(num(o, "properties.proj:transform.0") == 100 && num(o, "properties.proj:transform.1") == 0 &&
          num(o, "properties.proj:transform.2") == 420000 &&
          num(o, "properties.proj:transform.3") == 0 &&
          num(o, "properties.proj:transform.4") == -100 &&
          num(o, "properties.proj:transform.5") == 5400000);
    CHECK(num(o, "properties.proj:bbox.0") == 420000 && num(o, "properties.proj:bbox.1") == 5200000 &&
          num(o, "properties.proj:bbox.2") == 620000 && num(o, "properties.proj:bbox.3") == 5400000);
    /* a range: datetime null, start and end */
    CHECK(is_null(o, "properties.datetime"));
    CHECK_STR(str(o, "properties.start_datetime"), "2023-01-01T00:00:00Z");
    CHECK_STR(str(o, "properties.end_datetime"), "2023-12-31T23:59:59Z");
    CHECK(str(o, "properties.created") != NULL);
    CHECK_STR(str(o, "assets.data.href"), "../dem.tif");
    CHECK_STR(str(o, "assets.data.type"), "image/tiff; application=geotiff");
    CHECK_STR(str(o, "assets.data.raster:bands.0.data_type"), "int16");
    CHECK(num(o, "assets.data.raster:bands.0.nodata") == -32768);
    json_object_put(o);
}

/* A CRS without an EPSG code: proj:epsg null and proj:wkt2; no datetime
 * nor range: datetime is the creation time. Infinite nodata as text. */
static void test_item_custom_crs(void)
{
    struct grid g = {"+proj=tmerc +lat_0=0 +lon_0=10 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m "
                     "+no_defs",
                     0, 100000, 1000, -1000, 10, 10};
    struct stac_band band = {"b1", SPEC_DTYPE_FLOAT64, 1, -INFINITY, 0, 0, 0};
    struct stac_item it;
    struct errbuf e;
    char path[512], asset[512];
    json_object *o;
    const char *wkt;

    snprintf(path, sizeof path, "%s/custom.json", dir);
    snprintf(asset, sizeof asset, "%s/custom.nc", dir);
    memset(&it, 0, sizeof it);
    it.path = path;
    it.id = "custom";
    it.asset_path = asset;
    it.media_type = STAC_MEDIA_NETCDF;
    it.grid = &g;
    it.created_ms = 1672531200000LL;
    it.bands = &band;
    it.nbands = 1;
    err_clear(&e);
    CHECK(stac_write_item(&it, &e) == 0);
    o = read_json(path);
    if (!o)
        return;
    CHECK(is_null(o, "properties.proj:epsg"));
    wkt = str(o, "properties.proj:wkt2");
    CHECK(wkt && strstr(wkt, "Transverse Mercator") != NULL);
    CHECK_STR(str(o, "properties.datetime"), "2023-01-01T00:00:00Z");
    CHECK_STR(str(o, "assets.data.raster:bands.0.nodata"), "-inf");
    CHECK_STR(str(o, "assets.data.raster:bands.0.data_type"), "float64");
    /* (0, 100 km) on a TM with lon_0 = 10 E: the upper-left corner is on
     * the central meridian, about 0.9 degrees north of the equator */
    CHECK(fabs(num(o, "geometry.coordinates.0.0.0") - 10) < 1e-9);
    CHECK(fabs(num(o, "geometry.coordinates.0.0.1") - 100000 / 110574.0) < 1e-3);
    json_object_put(o);
}

/* ---- collection ---- */

static void test_collection(void)
{
    struct grid g = {"EPSG:4326", 10, 50, 0.5, -0.5, 4, 4};
    struct stac_item it;
    struct errbuf e;
    char cpath[512], p1[512], p2[512], a1[512], a2[512], sub[512];
    const char *items[2];
    double bbox[4];
    json_object *o;

    snprintf(sub, sizeof sub, "%s/coll/2023", dir);
    snprintf(cpath, sizeof cpath, "%s/coll", dir);
    CHECK(mkdir(cpath, 0777) == 0 && mkdir(sub, 0777) == 0);
    snprintf(cpath, sizeof cpath, "%s/coll/series.json", dir);
    snprintf(p1, sizeof p1, "%s/coll/2023/a.json", dir);
    snprintf(a1, sizeof a1, "%s/coll/2023/a.tif", dir);
    snprintf(p2, sizeof p2, "%s/coll/b.json", dir);
    snprintf(a2, sizeof a2, "%s/coll/b.tif", dir);
    memset(&it, 0, sizeof it);
    it.grid = &g;
    it.has_datetime = 1;
    it.datetime_ms = 1672531200000LL;
    it.collection_id = "series";
    it.collection_path = cpath;
    it.path = p1, it.id = "a", it.asset_path = a1;
    err_clear(&e);
    CHECK(stac_write_item(&it, &e) == 0);
    it.path = p2, it.id = "b", it.asset_path = a2;
    CHECK(stac_write_item(&it, &e) == 0);
    o = read_json(p1);
    if (o) {
        CHECK_STR(str(o, "collection"), "series");
        CHECK(len(o, "links") == 3);
        CHECK_STR(str(o, "links.0.rel"), "root");
        CHECK_STR(str(o, "links.1.rel"), "parent");
        CHECK_STR(str(o, "links.2.rel"), "collection");
        CHECK_STR(str(o, "links.0.href"), "../series.json");
        CHECK_STR(str(o, "links.2.href"), "../series.json");
        CHECK_STR(str(o, "links.2.type"), "application/json");
        CHECK_STR(str(o, "assets.data.href"), "a.tif");
        CHECK(get(o, "assets.data.type") == NULL);
        json_object_put(o);
    }
    o = read_json(p2);
    if (o) {
        CHECK_STR(str(o, "links.1.href"), "series.json");
        json_object_put(o);
    }

    CHECK(stac_grid_bbox(&g, bbox, &e) == 0);
    CHECK(bbox[0] == 10 && bbox[1] == 48 && bbox[2] == 12 && bbox[3] == 50);
    items[0] = p1;
    items[1] = p2;
    CHECK(stac_write_collection(cpath, "series", "two dates", items, 2, bbox, 1672531200000LL,
                                1675209600000LL, &e) == 0);
    o = read_json(cpath);
    if (o) {
        CHECK_STR(str(o, "type"), "Collection");
        CHECK_STR(str(o, "stac_version"), "1.0.0");
        CHECK(get(o, "stac_extensions") && len(o, "stac_extensions") == 0);
        CHECK_STR(str(o, "id"), "series");
        CHECK_STR(str(o, "description"), "two dates");
        CHECK_STR(str(o, "license"), "various");
        CHECK(len(o, "extent.spatial.bbox") == 1 && num(o, "extent.spatial.bbox.0.0") == 10 &&
              num(o, "extent.spatial.bbox.0.1") == 48 && num(o, "extent.spatial.bbox.0.2") == 12 &&
              num(o, "extent.spatial.bbox.0.3") == 50);
        CHECK_STR(str(o, "extent.temporal.interval.0.0"), "2023-01-01T00:00:00Z");
        CHECK_STR(str(o, "extent.temporal.interval.0.1"), "2023-02-01T00:00:00Z");
        CHECK(len(o, "links") == 3);
        CHECK_STR(str(o, "links.0.rel"), "root");
        CHECK_STR(str(o, "links.0.href"), "./series.json");
        CHECK_STR(str(o, "links.1.rel"), "item");
        CHECK_STR(str(o, "links.1.href"), "2023/a.json");
        CHECK_STR(str(o, "links.1.type"), "application/geo+json");
        CHECK_STR(str(o, "links.2.href"), "b.json");
        json_object_put(o);
    }
    /* no known times: [null, null] */
    CHECK(stac_write_collection(cpath, "series", NULL, items, 0, bbox, 1, 0, &e) == 0);
    o = read_json(cpath);
    if (o) {
        json_object *iv = get(o, "extent.temporal.interval.0");
        CHECK(iv && json_object_array_length(iv) == 2 && json_object_array_get_idx(iv, 0) == NULL &&
              json_object_array_get_idx(iv, 1) == NULL);
        CHECK_STR(str(o, "description"), "series");
        CHECK(len(o, "links") == 1);
        json_object_put(o);
    }
}

/* ---- hrefs and errors ---- */

static void test_hrefs(void)
{
    static const char *const cases[][3] = {
        {"a/x.json", "a/x.tif", "x.tif"},
        {"x.json", "x.tif", "x.tif"},
        {"out/c.json", "out/2023/x.json", "2023/x.json"},
        {"out/2023/x.json", "out/c.json", "../c.json"},
        {"/a/b/c.json", "/a/d/e.tif", "../d/e.tif"},
        {"/a/b/c.json", "/x/y.tif", "../../x/y.tif"},
        {"a/./b/../x.json", "a/y.tif", "y.tif"},
        {"ab/x.json", "a/y.tif", "../a/y.tif"},
        {"a/x.json", "ab/y.tif", "../ab/y.tif"},
        {"/x.json", "/d/y.tif", "d/y.tif"},
    };
    char out[256];
    struct errbuf e;
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err_clear(&e);
        CHECK(stac_relative_href(cases[i][0], cases[i][1], out, sizeof out, &e) == 0);
        CHECK_STR(out, cases[i][2]);
    }
}

static void test_errors(void)
{
    struct grid g = {"EPSG:4326", 0, 1, 0.1, -0.1, 10, 10};
    struct grid bad = {"EPSG:999999", 0, 1, 0.1, -0.1, 10, 10};
    struct stac_item it;
    struct errbuf e;
    char path[512], asset[512];

    snprintf(path, sizeof path, "%s/missing/x.json", dir);
    snprintf(asset, sizeof asset, "%s/missing/x.tif", dir);
    memset(&it, 0, sizeof it);
    it.path = path, it.id = "x", it.asset_path = asset, it.grid = &g;
    err_clear(&e);
    CHECK(stac_write_item(&it, &e) == ERR_IO);
    CHECK(strstr(e.msg, "missing/x.json.partial") != NULL);
    CHECK(!file_exists(path));
    snprintf(path, sizeof path, "%s/bad.json", dir);
    it.path = path;
    it.grid = &bad;
    err_clear(&e);
    CHECK(stac_write_item(&it, &e) == ERR_USAGE);
    CHECK(strstr(e.msg, "EPSG:999999") != NULL && strstr(e.msg, "bad.json") != NULL);
    CHECK(!file_exists(path));
}

int main(void)
{
    char cmd[300];

    snprintf(dir, sizeof dir, "/tmp/eefetch-test-stac-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_item_4326();
    test_item_utm();
    test_item_custom_crs();
    test_collection();
    test_hrefs();
    test_errors();
    if (getenv("STAC_KEEP")) { printf("kept %s\n", dir); return CHECK_DONE(); }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_DONE();
}
