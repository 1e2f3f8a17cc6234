/*
 * The engine's pure request functions (engine_request.c): the failure
 * class of each answer, the JSON body of image:computePixels requests
 * (exact text for a band group, JSON escaping, EPSG and WKT grids, checked
 * again by parsing it with json-c), the unmask wrap with nodata, and the
 * bound on an answer's size, each worked out by hand from docs/engine.md.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/check.h"
#include "core/engine_int.h"

#define EXPR "{\"result\":\"0\",\"values\":{\"0\":{\"constantValue\":1}}}"

static void test_classify(void)
{
    CHECK(engine_classify(200, NULL) == ENGINE_OK);
    CHECK(engine_classify(429, "x") == ENGINE_TRANSIENT);
    CHECK(engine_classify(503, "x") == ENGINE_TRANSIENT);
    CHECK(engine_classify(0, "reset") == ENGINE_TRANSIENT);
    CHECK(engine_classify(400, "User memory limit exceeded.") == ENGINE_SPLITTABLE);
    CHECK(engine_classify(400, "Total request size (56623104 bytes) must be less than or equal to 50331648 bytes.") ==
          ENGINE_SPLITTABLE);
    CHECK(engine_classify(400, "Computation timed out.") == ENGINE_SPLITTABLE);
    CHECK(engine_classify(400, "Image.load: Image asset 'x' not found.") == ENGINE_FATAL);
    CHECK(engine_classify(401, "") == ENGINE_AUTH);
    CHECK(engine_classify(403, "Project p is not registered") == ENGINE_FATAL);
    /* The rest of the table in docs/engine.md. */
    CHECK(engine_classify(408, NULL) == ENGINE_TRANSIENT);
    CHECK(engine_classify(500, NULL) == ENGINE_TRANSIENT);
    CHECK(engine_classify(502, NULL) == ENGINE_TRANSIENT);
    CHECK(engine_classify(504, NULL) == ENGINE_TRANSIENT);
    CHECK(engine_classify(400, "Pixel grid dimensions (40000x40000) must be less than or equal to 32768.") ==
          ENGINE_SPLITTABLE);
    CHECK(engine_classify(400, "Too many concurrent aggregations.") == ENGINE_TRANSIENT);
    CHECK(engine_classify(400, NULL) == ENGINE_FATAL);
    CHECK(engine_classify(404, "User memory limit exceeded.") == ENGINE_FATAL);   /* only a 400 splits */
    CHECK(engine_classify(501, NULL) == ENGINE_FATAL);
}

/* Three bands, two per request: a "quote and a back\slash in ids. */
static void spec_three(struct download_spec *s)
{
    static const char *const ids[3] = {"a", "b\"c", "d\\e"};
    static const enum spec_dtype types[3] = {SPEC_DTYPE_INT16, SPEC_DTYPE_UINT8, SPEC_DTYPE_AUTO};
    int b;

    spec_init(s);
    s->expression = strdup(EXPR);
    s->nbands = 3;
    s->bands = calloc(3, sizeof *s->bands);
    for (b = 0; b < 3; b++) {
        s->bands[b].id = strdup(ids[b]);
        s->bands[b].type = types[b];
    }
}

static void test_prefixes(void)
{
    struct download_spec s;
    struct engine_request r;
    struct errbuf e;

    spec_three(&s);
    CHECK(engine_request_init(&r, &s, 2, &e) == 0);
    CHECK(r.nprefix == 2 && !r.unmasked);
    CHECK_STR(r.prefix[0], "{\"expression\":" EXPR ",\"fileFormat\":\"NPY\",\"bandIds\":[\"a\",\"b\\\"c\"],\"grid\":");
    CHECK_STR(r.prefix[1], "{\"expression\":" EXPR ",\"fileFormat\":\"NPY\",\"bandIds\":[\"d\\\\e\"],\"grid\":");
    engine_request_free(&r);

    s.fetch_format = SPEC_FETCH_GEOTIFF;
    CHECK(engine_request_init(&r, &s, 3, &e) == 0);
    CHECK(r.nprefix == 1);
    CHECK_STR(r.prefix[0],
              "{\"expression\":" EXPR ",\"fileFormat\":\"GEO_TIFF\",\"bandIds\":[\"a\",\"b\\\"c\",\"d\\\\e\"],\"grid\":");
    engine_request_free(&r);

    /* With nodata every request carries the one unmasked expression. */
    s.has_nodata = 1;
    s.nodata = -9999;
    CHECK(engine_request_init(&r, &s, 1, &e) == 0);
    CHECK(r.unmasked && r.nprefix == 3 && strstr(r.expression, "\"Image.unmask\"") && strstr(r.expression, "-9999"));
    CHECK(strncmp(r.prefix[0], "{\"expression\":", 14) == 0 && strstr(r.prefix[0], r.expression) &&
          strstr(r.prefix[2], r.expression));
    engine_request_free(&r);

    /* EE's workloadTag, when the spec has one, in every request. */
    s.has_nodata = 0;
    s.workload_tag = strdup("dem-2023_v1");
    CHECK(engine_request_init(&r, &s, 3, &e) == 0);
    CHECK_STR(r.prefix[0], "{\"expression\":" EXPR ",\"fileFormat\":\"GEO_TIFF\",\"bandIds\":[\"a\",\"b\\\"c\","
                           "\"d\\\\e\"],\"workloadTag\":\"dem-2023_v1\",\"grid\":");
    engine_request_free(&r);
    spec_free(&s);
}

static double num(json_object *o, const char *a, const char *b)
{
    json_object *x = NULL, *y = NULL;

    if (!json_object_object_get_ex(o, a, &x) || !json_object_object_get_ex(x, b, &y))
        return NAN;
    return json_object_get_double(y);
}

/* The grid part: tile (col 2, row 4, 10 x 20) of a grid at (-122, 38)
 * with pixels 0.5 x -0.25: translateX = -122 + 2 * 0.5 = -121,
 * translateY = 38 + 4 * -0.25 = 37. */
static void test_body(void)
{
    struct download_spec s;
    struct engine_request r;
    struct grid g;
    struct grid_tile t;
    struct buf b;
    struct errbuf e;
    json_object *root, *grid = NULL, *ids = NULL;

    spec_three(&s);
    CHECK(engine_request_init(&r, &s, 2, &e) == 0);
    memset(&g, 0, sizeof g);
    snprintf(g.crs, sizeof g.crs, "EPSG:4326");
    g.x0 = -122;
    g.y0 = 38;
    g.sx = 0.5;
    g.sy = -0.25;
    memset(&t, 0, sizeof t);
    t.col = 2;
    t.row = 4;
    t.width = 10;
    t.height = 20;
    t.band0 = 2;
    t.nbands = 1;
    buf_init(&b, 0);
    CHECK(engine_request_body(&r, &g, &t, &b) == 0);
    CHECK_STR(b.data, "{\"expression\":" EXPR ",\"fileFormat\":\"NPY\",\"bandIds\":[\"d\\\\e\"],\"grid\":"
                      "{\"crsCode\":\"EPSG:4326\",\"affineTransform\":{\"scaleX\":0.5,\"shearX\":0,"
                      "\"translateX\":-121,\"shearY\":0,\"scaleY\":-0.25,\"translateY\":37},"
                      "\"dimensions\":{\"width\":10,\"height\":20}}}");
    root = json_tokener_parse(b.data);
    CHECK(root != NULL);
    if (root) {
        CHECK(json_object_object_get_ex(root, "grid", &grid));
        CHECK(num(grid, "affineTransform", "translateX") == -121 && num(grid, "affineTransform", "translateY") == 37);
        CHECK(num(grid, "dimensions", "width") == 10 && num(grid, "dimensions", "height") == 20);
        CHECK(json_object_object_get_ex(root, "bandIds", &ids) && json_object_array_length(ids) == 1);
        CHECK_STR(json_object_get_string(json_object_array_get_idx(ids, 0)), "d\\e");
        json_object_put(root);
    }

    /* A CRS without an EPSG code goes as WKT, escaped; the same buffer is
     * reset for the next request. */
    snprintf(g.crs, sizeof g.crs, "LOCAL_CS[\"x\"]");
    t.band0 = 0;
    t.nbands = 2;
    CHECK(engine_request_body(&r, &g, &t, &b) == 0);
    root = json_tokener_parse(b.data);
    CHECK(root && json_object_object_get_ex(root, "grid", &grid));
    if (root) {
        json_object *wkt = NULL;
        CHECK(json_object_object_get_ex(grid, "crsWkt", &wkt));
        CHECK_STR(json_object_get_string(wkt), "LOCAL_CS[\"x\"]");
        CHECK(json_object_object_get_ex(root, "bandIds", &ids) && json_object_array_length(ids) == 2);
        json_object_put(root);
    }
    buf_free(&b);
    engine_request_free(&r);
    spec_free(&s);
}

/* bound = raw + raw/8 + 64 KiB + (256 + 32 * height) * bands, raw at the
 * bands' sizes, 8 bytes where the size is not sure. */
static void test_bound(void)
{
    struct download_spec s;
    struct grid_tile t;

    spec_three(&s);
    memset(&t, 0, sizeof t);
    t.width = 10;
    t.height = 20;
    t.band0 = 0;
    t.nbands = 2;   /* int16 + uint8: 200 * 3 = 600 */
    CHECK(engine_request_bound(&s, 0, &t) == 600 + 75 + 65536 + (256 + 640) * 2);
    /* Unmasking may widen, a GeoTIFF has one type: 8 bytes a band. */
    CHECK(engine_request_bound(&s, 1, &t) == 3200 + 400 + 65536 + (256 + 640) * 2);
    s.fetch_format = SPEC_FETCH_GEOTIFF;
    CHECK(engine_request_bound(&s, 0, &t) == 3200 + 400 + 65536 + (256 + 640) * 2);
    s.fetch_format = SPEC_FETCH_NPY;
    /* A type not known yet counts 8 bytes, and so does the mask band. */
    t.band0 = 1;
    t.nbands = 2;   /* uint8 + unknown: 200 + 1600 */
    CHECK(engine_request_bound(&s, 0, &t) == 1800 + 225 + 65536 + (256 + 640) * 2);
    s.bands[2].type = SPEC_DTYPE_UINT8;
    s.mask_band = 1;
    CHECK(engine_request_bound(&s, 0, &t) == 1800 + 225 + 65536 + (256 + 640) * 2);
    spec_free(&s);
}

int main(void)
{
    test_classify();
    test_prefixes();
    test_body();
    test_bound();
    return CHECK_DONE();
}
