/*
 * The expression evaluator through its handlers, without HTTP: constants,
 * arithmetic and type rules, casts, masks, value:compute shapes, EE's limits
 * and every kind of error. Expected values are worked out by hand here.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gdal/gdal.h>

#include "../unit/check.h"
#include "emulator/catalog.h"
#include "emulator/emu.h"
#include "emulator/handlers.h"

static struct catalog *cat;
static struct emu_config cfg;
static struct emu_ctx ctx;
static struct emu_response resp;

enum which { CP, GP, VC };

/* Runs one request; returns the HTTP status. */
static int run(enum which w, const char *asset, const char *body)
{
    struct emu_request q;
    /* deep enough for the nesting test (the server allows deep bodies too) */
    json_tokener *tok = json_tokener_new_ex(2000);
    json_object *j = tok ? json_tokener_parse_ex(tok, body, (int)strlen(body)) : NULL;

    memset(&q, 0, sizeof q);
    q.method = "POST";
    q.version = "v1";
    q.project = "p";
    q.asset = asset;
    q.body = body;
    q.body_len = strlen(body);
    q.json = j;
    buf_reset(&resp.body);
    resp.status = 0;
    resp.work_bytes = resp.work_images = 0;
    if (w == CP)
        handle_compute_pixels(&ctx, &q, &resp);
    else if (w == GP)
        handle_get_pixels(&ctx, &q, &resp);
    else
        handle_value_compute(&ctx, &q, &resp);
    json_object_put(j);
    json_tokener_free(tok);
    return resp.status;
}

static const char *message(void)
{
    static char msg[2048];
    json_object *j = json_tokener_parse(resp.body.data ? resp.body.data : ""), *err, *m;
    msg[0] = 0;
    if (j && json_object_object_get_ex(j, "error", &err) &&
        json_object_object_get_ex(err, "message", &m))
        snprintf(msg, sizeof msg, "%s", json_object_get_string(m));
    json_object_put(j);
    return msg;
}

/* NPY: returns a pointer to the data and the header text. */
static const unsigned char *npy_data(const char **hdr, size_t *hlen)
{
    const unsigned char *p = (const unsigned char *)resp.body.data;
    size_t n;
    if (resp.body.len < 10 || memcmp(p, "\x93NUMPY", 6) != 0)
        return NULL;
    n = (size_t)p[8] | (size_t)p[9] << 8;
    *hdr = (const char *)p + 10;
    *hlen = n;
    return p + 10 + n;
}

static int header_has(const char *needle)
{
    const char *h;
    size_t n, k, len = strlen(needle);
    if (!npy_data(&h, &n))
        return 0;
    for (k = 0; k + len <= n; k++)
        if (memcmp(h + k, needle, len) == 0)
            return 1;
    return 0;
}

#define GRID_4326(w, h)                                                                    \
    "\"grid\":{\"crsCode\":\"EPSG:4326\",\"affineTransform\":{\"scaleX\":0.5,"             \
    "\"translateX\":10,\"scaleY\":-0.5,\"translateY\":50},\"dimensions\":{\"width\":" #w    \
    ",\"height\":" #h "}}"

static char req[131072];

/* computePixels of a single-value expression node on a 4x3 EPSG:4326 grid. */
static int cp_node(const char *node, const char *fmt)
{
    snprintf(req, sizeof req, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":%s}},"
             "\"fileFormat\":\"%s\"," GRID_4326(4, 3) "}", node, fmt);
    return run(CP, NULL, req);
}

#define CONST(v) "{\"functionInvocationValue\":{\"functionName\":\"Image.constant\",\"arguments\":{\"value\":{\"constantValue\":" v "}}}}"
#define CALL2(f, a1, v1, a2, v2) "{\"functionInvocationValue\":{\"functionName\":\"" f "\",\"arguments\":{\"" a1 "\":" v1 ",\"" a2 "\":" v2 "}}}"
#define CALL1(f, a1, v1) "{\"functionInvocationValue\":{\"functionName\":\"" f "\",\"arguments\":{\"" a1 "\":" v1 "}}}"

static void test_constants(void)
{
    const char *h;
    size_t n;
    const unsigned char *d;
    int i;

    CHECK(cp_node(CONST("7"), "NPY") == 200);
    CHECK(header_has("('constant', '|u1')"));
    CHECK(header_has("(3, 4)"));
    d = npy_data(&h, &n);
    CHECK(d && resp.body.len == (size_t)(d - (const unsigned char *)resp.body.data) + 12);
    for (i = 0; d && i < 12; i++)
        CHECK(d[i] == 7);

    /* (3 + 4) * 2 = 14, int range [14, 14] -> uint8 */
    CHECK(cp_node(CALL2("Image.multiply", "image1", CALL2("Image.add", "image1", CONST("3"), "image2", CONST("4")),
                        "image2", CONST("2")), "NPY") == 200);
    d = npy_data(&h, &n);
    CHECK(d && d[0] == 14 && d[11] == 14);

    /* 3 - 4 = -1 -> int8 */
    CHECK(cp_node(CALL2("Image.subtract", "image1", CONST("3"), "image2", CONST("4")), "NPY") == 200);
    CHECK(header_has("'|i1'"));
    d = npy_data(&h, &n);
    CHECK(d && (signed char)d[5] == -1);

    /* divide is float: 7 / 2 = 3.5; x / 0 = 0 */
    CHECK(cp_node(CALL2("Image.divide", "image1", CONST("7"), "image2", CONST("2")), "NPY") == 200);
    CHECK(header_has("'<f4'"));
    d = npy_data(&h, &n);
    if (d) {
        float f;
        memcpy(&f, d + 4, 4);
        CHECK(f == 3.5f);
    }
    CHECK(cp_node(CALL2("Image.divide", "image1", CONST("7"), "image2", CONST("0")), "NPY") == 200);
    d = npy_data(&h, &n);
    if (d) {
        float f;
        memcpy(&f, d, 4);
        CHECK(f == 0.0f);
    }

    /* a multi-band constant: constant_0, constant_1 */
    CHECK(cp_node(CONST("[1, 300]"), "NPY") == 200);
    CHECK(header_has("('constant_0', '|u1'), ('constant_1', '<u2')"));
    d = npy_data(&h, &n);
    CHECK(d && d[0] == 1 && d[1] == 44 && d[2] == 1);   /* 300 = 0x012c */
}

static void test_casts(void)
{
    const char *h;
    size_t n;
    const unsigned char *d;

    /* clamp to the range */
    CHECK(cp_node(CALL1("Image.toUint8", "value", CONST("300")), "NPY") == 200);
    d = npy_data(&h, &n);
    CHECK(d && d[0] == 255);
    CHECK(cp_node(CALL1("Image.toUint8", "value", CONST("-3")), "NPY") == 200);
    d = npy_data(&h, &n);
    CHECK(d && d[0] == 0);
    /* truncate toward zero */
    CHECK(cp_node(CALL1("Image.toUint8", "value", CONST("2.9")), "NPY") == 200);
    d = npy_data(&h, &n);
    CHECK(d && d[0] == 2);
    CHECK(cp_node(CALL1("Image.toInt16", "value", CONST("-5.7")), "NPY") == 200);
    CHECK(header_has("'<i2'"));
    d = npy_data(&h, &n);
    if (d) {
        int16_t v;
        memcpy(&v, d, 2);
        CHECK(v == -5);
    }
    CHECK(cp_node(CALL1("Image.toDouble", "value", CONST("1")), "NPY") == 200);
    CHECK(header_has("'<f8'"));
    CHECK(cp_node(CALL1("Image.toInt32", "value", CONST("1")), "NPY") == 200);
    CHECK(header_has("'<i4'"));
    CHECK(cp_node(CALL1("Image.toUint16", "value", CONST("70000")), "NPY") == 200);
    d = npy_data(&h, &n);
    CHECK(d && d[0] == 0xff && d[1] == 0xff);
}

static void test_masks(void)
{
    const char *h;
    size_t n;
    const unsigned char *d;
    int i, zeros = 0;

    /* updateMask with 0 masks everything: zeros on the wire */
    CHECK(cp_node(CALL2("Image.updateMask", "image", CONST("5"), "mask", CONST("0")), "NPY") == 200);
    d = npy_data(&h, &n);
    for (i = 0; d && i < 12; i++)
        zeros += d[i] == 0;
    CHECK(zeros == 12);
    /* unmask fills masked pixels */
    CHECK(cp_node(CALL2("Image.unmask", "input",
                        CALL2("Image.updateMask", "image", CONST("5"), "mask", CONST("0")),
                        "value", CONST("9")), "NPY") == 200);
    d = npy_data(&h, &n);
    CHECK(d && d[0] == 9 && d[11] == 9);
    /* clip to a polygon covering the left half of the grid (lon 10..11) */
    CHECK(cp_node(CALL2("Image.clip", "input", CONST("5"), "geometry",
                        "{\"functionInvocationValue\":{\"functionName\":\"GeometryConstructors.Polygon\","
                        "\"arguments\":{\"coordinates\":{\"constantValue\":[[[10,48],[11,48],[11,51],[10,51]]]},"
                        "\"evenOdd\":{\"constantValue\":true}}}}"), "NPY") == 200);
    d = npy_data(&h, &n);
    /* columns 0,1 have centres at lon 10.25, 10.75: inside; 2,3 outside */
    CHECK(d && d[0] == 5 && d[1] == 5 && d[2] == 0 && d[3] == 0 && d[8] == 5 && d[11] == 0);
}

static void test_formats(void)
{
    CHECK(cp_node(CONST("7"), "GEO_TIFF") == 200);
    if (resp.status != 200)
        fprintf(stderr, "GEO_TIFF: %s\n", message());
    CHECK(resp.body.len > 8 && (memcmp(resp.body.data, "II*", 3) == 0 ||
                                memcmp(resp.body.data, "MM", 2) == 0));
    CHECK(cp_node(CONST("7"), "PNG") == 200);
    CHECK(resp.body.len > 8 && memcmp(resp.body.data, "\x89PNG", 4) == 0);
    CHECK(cp_node(CONST("700"), "PNG") == 400);
    CHECK(strstr(message(), "PNG output needs 1 or 3 bands of type uint8") != NULL);
    CHECK(cp_node(CONST("7"), "JPEG") == 200);
    CHECK(resp.body.len > 8 && memcmp(resp.body.data, "\xff\xd8", 2) == 0);
    CHECK(cp_node(CONST("7"), "AUTO_JPEG_PNG") == 200);   /* opaque: JPEG */
    CHECK(resp.body.len > 8 && memcmp(resp.body.data, "\xff\xd8", 2) == 0);
    CHECK(cp_node(CONST("7"), "TF_RECORD_IMAGE") == 400);
    CHECK(strstr(message(), "'TF_RECORD_IMAGE'") != NULL);
}

static void test_limits(void)
{
    snprintf(req, sizeof req, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":" CONST("1.5")
             "}},\"fileFormat\":\"NPY\",\"grid\":{\"crsCode\":\"EPSG:4326\",\"affineTransform\":"
             "{\"scaleX\":1e-4,\"scaleY\":-1e-4},\"dimensions\":{\"width\":40000,\"height\":10}}}");
    CHECK(run(CP, NULL, req) == 400);
    CHECK_STR(message(), "Pixel grid dimensions (40000x10) must be less than or equal to 32768.");
    /* float: (4 + 1) bytes per pixel; 4096 x 4096 x 5 = 83886080 */
    snprintf(req, sizeof req, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":" CONST("1.5")
             "}},\"fileFormat\":\"NPY\",\"grid\":{\"crsCode\":\"EPSG:4326\",\"affineTransform\":"
             "{\"scaleX\":1e-4,\"scaleY\":-1e-4},\"dimensions\":{\"width\":4096,\"height\":4096}}}");
    CHECK(run(CP, NULL, req) == 400);
    CHECK_STR(message(), "Total request size (83886080 bytes) must be less than or equal to "
                         "50331648 bytes.");
    /* uint8 counts 2 bytes per pixel (the mask byte): 5793 x 4345 x 2 = 50341170 */
    snprintf(req, sizeof req, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":" CONST("1")
             "}},\"fileFormat\":\"NPY\",\"grid\":{\"crsCode\":\"EPSG:4326\",\"affineTransform\":"
             "{\"scaleX\":1e-4,\"scaleY\":-1e-4},\"dimensions\":{\"width\":5793,\"height\":4345}}}");
    CHECK(run(CP, NULL, req) == 400);
    CHECK_STR(message(), "Total request size (50341170 bytes) must be less than or equal to "
                         "50331648 bytes.");
}

static void test_errors(void)
{
    struct emu_request q;

    /* malformed JSON: the server passes json = NULL */
    memset(&q, 0, sizeof q);
    q.body = "{not json";
    buf_reset(&resp.body);
    handle_compute_pixels(&ctx, &q, &resp);
    CHECK(resp.status == 400);
    CHECK(strstr(message(), "Invalid JSON payload") != NULL);

    CHECK(cp_node(CALL1("Image.frobnicate", "value", CONST("1")), "NPY") == 400);
    CHECK_STR(message(), "Unknown function: Image.frobnicate");
    CHECK(cp_node(CALL2("Image.add", "image1", "{\"constantValue\":\"x\"}", "image2", CONST("1")),
                  "NPY") == 400);
    CHECK_STR(message(), "Image.add, argument 'image1': Invalid type.\nExpected type: "
                         "Image<unknown bands>.\nActual type: String.");
    CHECK(cp_node(CALL1("Image.add", "image1", CONST("1")), "NPY") == 400);
    CHECK_STR(message(), "Image.add: Parameter 'image2' is required.");
    CHECK(cp_node(CALL1("Image.load", "id", "{\"constantValue\":\"NOPE/NOPE\"}"), "NPY") == 400);
    CHECK_STR(message(), "Image.load: Image asset 'NOPE/NOPE' not found (does not exist or caller "
                         "does not have access).");
    CHECK(cp_node(CALL2("Image.select", "input", CONST("1"), "bandSelectors",
                        "{\"constantValue\":[\"B99\"]}"), "NPY") == 400);
    CHECK_STR(message(), "Image.select: Pattern 'B99' did not match any bands.");
    CHECK(cp_node("{\"bogusValue\":1}", "NPY") == 400);
    CHECK(strstr(message(), "bogusValue") != NULL);
    CHECK(cp_node("{\"valueReference\":\"0\"}", "NPY") == 400);
    CHECK(strstr(message(), "refers to itself") != NULL);
    CHECK(cp_node("{\"valueReference\":\"9\"}", "NPY") == 400);
    CHECK(cp_node("{\"argumentReference\":\"x\"}", "NPY") == 400);
    CHECK(cp_node("{\"constantValue\":5}", "NPY") == 400);
    CHECK(strstr(message(), "must evaluate to an Image") != NULL);

    /* a 150-deep chain of additions */
    {
        char *deep = malloc(65536), *p;
        int i;
        p = deep;
        for (i = 0; i < 150; i++)
            p += sprintf(p, "{\"functionInvocationValue\":{\"functionName\":\"Image.add\","
                         "\"arguments\":{\"image2\":%s,\"image1\":", CONST("1"));
        p += sprintf(p, "%s", CONST("1"));
        for (i = 0; i < 150; i++)
            p += sprintf(p, "}}}");
        CHECK(cp_node(deep, "NPY") == 400);
        CHECK(strstr(message(), "too deep") != NULL);
        if (!strstr(message(), "too deep"))
            fprintf(stderr, "deep: %s\n", message());
        free(deep);
    }

    /* grids */
    snprintf(req, sizeof req, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":" CONST("1")
             "}},\"fileFormat\":\"NPY\"}");
    CHECK(run(CP, NULL, req) == 400);
    CHECK(strstr(message(), "without a fixed projection") != NULL);
    snprintf(req, sizeof req, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":" CONST("1")
             "}},\"fileFormat\":\"NPY\",\"grid\":{\"crsWkt\":\"GEOGCS[]\"}}");
    CHECK(run(CP, NULL, req) == 400);
    CHECK(strstr(message(), "only EPSG codes") != NULL);
    snprintf(req, sizeof req, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":" CONST("1")
             "}},\"fileFormat\":\"NPY\",\"grid\":{\"crsCode\":\"EPSG:999999\"}}");
    CHECK(run(CP, NULL, req) == 400);
    snprintf(req, sizeof req, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":" CONST("1")
             "}},\"fileFormat\":\"NPY\",\"grid\":{\"crsCode\":\"EPSG:4326\",\"affineTransform\":"
             "{\"scaleX\":1,\"scaleY\":-1},\"dimensions\":{\"width\":-3,\"height\":2}}}");
    CHECK(run(CP, NULL, req) == 400);
    snprintf(req, sizeof req, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":" CONST("1")
             "}},\"fileFormat\":\"NPY\",\"nonsense\":1}");
    CHECK(run(CP, NULL, req) == 400);
    CHECK_STR(message(), "Invalid JSON payload received. Unknown name \"nonsense\": Cannot find field.");
    /* bandIds naming an unknown band */
    snprintf(req, sizeof req, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":" CONST("1")
             "}},\"fileFormat\":\"NPY\",\"bandIds\":[\"B1\"]," GRID_4326(2, 2) "}");
    CHECK(run(CP, NULL, req) == 400);
    CHECK_STR(message(), "Image.select: Pattern 'B1' did not match any bands.");
}

static void test_memory(void)
{
    cfg.memory_limit_bytes = 1000;
    /* constants read no source pixels: no work */
    CHECK(cp_node(CONST("1"), "NPY") == 200);
    CHECK(resp.work_bytes == 0);
    snprintf(req, sizeof req, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":"
             CALL1("Image.load", "id", "{\"constantValue\":\"USGS/SRTMGL1_003\"}")
             "}},\"fileFormat\":\"NPY\",\"grid\":{\"crsCode\":\"EPSG:4326\",\"affineTransform\":"
             "{\"scaleX\":0.001,\"translateX\":-122.5,\"scaleY\":-0.001,\"translateY\":38},"
             "\"dimensions\":{\"width\":32,\"height\":32}}}");
    CHECK(run(CP, NULL, req) == 400);
    CHECK_STR(message(), "User memory limit exceeded.");
    CHECK(resp.work_bytes == 32 * 32 * 2);
    cfg.memory_limit_bytes = 0;
    CHECK(run(CP, NULL, req) == 200);
    CHECK(resp.work_images == 1);
}

static void test_value(void)
{
    json_object *j, *res = NULL, *b, *t;

    CHECK(run(VC, NULL, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":{\"functionInvocationValue\":"
                        "{\"functionName\":\"Number.add\",\"arguments\":{\"left\":{\"constantValue\":1},"
                        "\"right\":{\"constantValue\":2}}}}}}}") == 200);
    CHECK_STR(resp.body.data, "{\"result\":3}");
    CHECK(run(VC, NULL, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":" CALL1("Date", "value",
                        "{\"constantValue\":\"2023-01-02\"}") "}}}") == 200);
    CHECK_STR(resp.body.data, "{\"result\":{\"type\":\"Date\",\"value\":1672617600000}}");
    CHECK(run(VC, NULL, "{\"expression\":{\"result\":\"0\",\"values\":{\"1\":{\"constantValue\":\"ab\"},"
                        "\"0\":" CALL2("String.cat", "string1", "{\"valueReference\":\"1\"}", "string2",
                        "{\"valueReference\":\"1\"}") "}}}") == 200);
    CHECK_STR(resp.body.data, "{\"result\":\"abab\"}");
    CHECK(run(VC, NULL, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":" CALL2("List.get", "list",
                        "{\"arrayValue\":{\"values\":[{\"constantValue\":4},{\"integerValue\":\"5\"}]}}",
                        "index", "{\"constantValue\":1}") "}}}") == 200);
    CHECK_STR(resp.body.data, "{\"result\":5}");
    /* getInfo of a constant image */
    CHECK(run(VC, NULL, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":" CONST("5") "}}}") == 200);
    j = json_tokener_parse(resp.body.data);
    CHECK(j && json_object_object_get_ex(j, "result", &res));
    if (res) {
        CHECK(json_object_object_get_ex(res, "type", &t) && strcmp(json_object_get_string(t), "Image") == 0);
        CHECK(json_object_object_get_ex(res, "bands", &b) && json_object_array_length(b) == 1);
        b = json_object_array_get_idx(b, 0);
        CHECK_STR(json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN),
                  "{\"id\":\"constant\",\"data_type\":{\"type\":\"PixelType\",\"precision\":\"int\","
                  "\"min\":5,\"max\":5},\"crs\":\"EPSG:4326\",\"crs_transform\":[1,0,0,0,1,0]}");
    }
    json_object_put(j);
    /* functions: a closure called through functionReference */
    CHECK(run(VC, NULL, "{\"expression\":{\"result\":\"0\",\"values\":{"
                        "\"f\":{\"functionDefinitionValue\":{\"argumentNames\":[\"a\"],\"body\":\"b\"}},"
                        "\"b\":" CALL2("Number.multiply", "left", "{\"argumentReference\":\"a\"}", "right",
                        "{\"constantValue\":10}") ","
                        "\"0\":{\"functionInvocationValue\":{\"functionReference\":\"f\",\"arguments\":"
                        "{\"a\":{\"constantValue\":4}}}}}}}") == 200);
    CHECK_STR(resp.body.data, "{\"result\":40}");
    CHECK(run(VC, NULL, "{\"expression\":{\"result\":\"0\",\"values\":{\"0\":{\"constantValue\":null}}}}") == 200);
    CHECK_STR(resp.body.data, "{\"result\":null}");
}

int main(void)
{
    struct errbuf e;
    GDALAllRegister();   /* as the server does before its threads start */
    if (catalog_create(&cat, &e) != 0) {
        fprintf(stderr, "catalog: %s\n", e.msg);
        return 1;
    }
    emu_config_default(&cfg);
    ctx.cat = cat;
    ctx.cfg = &cfg;
    buf_init(&resp.body, 0);
    test_constants();
    test_casts();
    test_masks();
    test_formats();
    test_limits();
    test_errors();
    test_memory();
    test_value();
    buf_free(&resp.body);
    catalog_destroy(cat);
    return CHECK_DONE();
}
