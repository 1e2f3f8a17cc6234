/*
 * image:computePixels and assets:getPixels: request parsing (grid, bandIds,
 * fileFormat, region), EE's request limits, the memory model, rendering and
 * encoding. The evaluator (eval.h) builds the image; render.c computes it.
 */
#include <gdal/gdal.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "emulator/eval.h"
#include "emulator/handlers.h"
#include "emulator/pixreq.h"
#include "emulator/render.h"

enum fmt { FMT_NPY, FMT_GEOTIFF, FMT_PNG, FMT_JPEG, FMT_AUTO };

/* ---- request body checks, shared by every handler of an expression (pixreq.h) ---- */

int pixreq_check_fields(json_object *o, const char *where, const char *const *allowed,
                        struct emu_response *r)
{
    json_object_object_foreach(o, key, val) {
        const char *const *a;
        (void)val;
        for (a = allowed; *a; a++)
            if (strcmp(*a, key) == 0)
                break;
        if (!*a) {
            if (where)
                emu_error(r, 400, "Invalid JSON payload received. Unknown name \"%s\" at '%s': "
                          "Cannot find field.", key, where);
            else
                emu_error(r, 400, "Invalid JSON payload received. Unknown name \"%s\": Cannot "
                          "find field.", key);
            return -1;
        }
    }
    return 0;
}

int pixreq_check_body(json_object *body, const char *const *allowed, struct emu_response *r)
{
    if (!body || json_object_get_type(body) != json_type_object) {
        emu_error(r, 400, "Invalid JSON payload received.");
        return -1;
    }
    return pixreq_check_fields(body, NULL, allowed, r) || emu_check_workload_tag(body, r) ? -1 : 0;
}

int pixreq_require(json_object *body, const char *name, json_object **out,
                   struct emu_response *r)
{
    if (!json_object_object_get_ex(body, name, out) || !*out) {
        emu_error(r, 400, "%s is required.", name);
        return -1;
    }
    return 0;
}

static int parse_format(json_object *body, enum fmt *f, struct emu_response *r)
{
    json_object *j = NULL;
    const char *s;
    if (!json_object_object_get_ex(body, "fileFormat", &j)) {
        emu_error(r, 400, "fileFormat is required by the emulator (GEO_TIFF, NPY, PNG, JPEG or "
                  "AUTO_JPEG_PNG).");
        return -1;
    }
    s = json_object_get_string(j);
    if (s && strcmp(s, "NPY") == 0)
        *f = FMT_NPY;
    else if (s && strcmp(s, "GEO_TIFF") == 0)
        *f = FMT_GEOTIFF;
    else if (s && strcmp(s, "PNG") == 0)
        *f = FMT_PNG;
    else if (s && strcmp(s, "JPEG") == 0)
        *f = FMT_JPEG;
    else if (s && strcmp(s, "AUTO_JPEG_PNG") == 0)
        *f = FMT_AUTO;
    else {
        emu_error(r, 400, "File format '%s' is not supported by the emulator; use GEO_TIFF, NPY, "
                  "PNG, JPEG or AUTO_JPEG_PNG.", s ? s : "");
        return -1;
    }
    return 0;
}

static int json_num(json_object *o, const char *key, double *v)
{
    json_object *j = NULL;
    enum json_type t;
    if (!json_object_object_get_ex(o, key, &j))
        return 0;
    t = json_object_get_type(j);
    if (t == json_type_int || t == json_type_double) {
        *v = json_object_get_double(j);
        return 1;
    }
    if (t == json_type_string) {   /* proto3 JSON may quote numbers */
        char *end;
        *v = strtod(json_object_get_string(j), &end);
        return *end == 0 ? 1 : -1;
    }
    return -1;
}

static int parse_grid(json_object *body, struct grid_spec *gs, struct emu_response *r)
{
    json_object *jg = NULL, *j = NULL;
    static const char *const keys[] = {"scaleX", "shearX", "translateX",
                                       "shearY", "scaleY", "translateY"};
    double w = 0, h = 0;
    int i;

    memset(gs, 0, sizeof *gs);
    if (!json_object_object_get_ex(body, "grid", &jg) || !jg)
        return 0;
    if (json_object_get_type(jg) != json_type_object) {
        emu_error(r, 400, "Invalid JSON payload received. 'grid' must be a PixelGrid object.");
        return -1;
    }
    if (json_object_object_get_ex(jg, "crsWkt", &j)) {
        emu_error(r, 400, "grid.crsWkt is not supported by the emulator: only EPSG codes "
                  "(grid.crsCode \"EPSG:n\") are.");
        return -1;
    }
    if (json_object_object_get_ex(jg, "crsCode", &j)) {
        const char *s = json_object_get_string(j);
        if (!s || strncmp(s, "EPSG:", 5) != 0 || strlen(s) >= sizeof gs->g.crs ||
            !eval_crs_valid(s)) {
            emu_error(r, 400, "Invalid grid.crsCode '%s': only EPSG codes (\"EPSG:n\") are "
                      "supported.", s ? s : "");
            return -1;
        }
        snprintf(gs->g.crs, sizeof gs->g.crs, "%s", s);
        gs->has_crs = 1;
    }
    if (json_object_object_get_ex(jg, "affineTransform", &j)) {
        if (json_object_get_type(j) != json_type_object) {
            emu_error(r, 400, "Invalid JSON payload received. 'affineTransform' must be an "
                      "object.");
            return -1;
        }
        for (i = 0; i < 6; i++)   /* missing fields are 0, as in proto3 */
            if (json_num(j, keys[i], &gs->g.affine[i]) < 0 || !isfinite(gs->g.affine[i])) {
                emu_error(r, 400, "Invalid grid.affineTransform.%s.", keys[i]);
                return -1;
            }
        if (gs->g.affine[0] * gs->g.affine[4] - gs->g.affine[1] * gs->g.affine[3] == 0) {
            emu_error(r, 400, "Invalid grid.affineTransform: the transform is not invertible.");
            return -1;
        }
        gs->has_affine = 1;
    }
    if (json_object_object_get_ex(jg, "dimensions", &j)) {
        if (json_object_get_type(j) != json_type_object || json_num(j, "width", &w) < 0 ||
            json_num(j, "height", &h) < 0 || w != floor(w) || h != floor(h) || w < 1 || h < 1) {
            emu_error(r, 400, "Invalid grid.dimensions: width and height must be positive "
                      "integers.");
            return -1;
        }
        if (w > 1e9 || h > 1e9)
            w = h = 1e9;   /* far over the limit; reported below */
        gs->g.width = (long)w;
        gs->g.height = (long)h;
        gs->has_dims = 1;
    }
    return 0;
}

/* Keeps the bands named in bandIds, in that order. */
static int apply_band_ids(struct ev_ctx *x, json_object *body, struct ev_image *img,
                          struct emu_response *r)
{
    json_object *ids = NULL;
    struct ev_band *sel;
    size_t i, n;
    int k;

    if (!json_object_object_get_ex(body, "bandIds", &ids) || !ids)
        return 0;
    if (json_object_get_type(ids) != json_type_array) {
        emu_error(r, 400, "Invalid JSON payload received. 'bandIds' must be a list of strings.");
        return -1;
    }
    n = json_object_array_length(ids);
    if (n == 0)
        return 0;
    if (n > EE_MAX_BANDS) {
        emu_error(r, 400, "Number of bands (%zu) must be less than or equal to %d.", n,
                  EE_MAX_BANDS);
        return -1;
    }
    if (!(sel = eval_alloc(x, sizeof *sel * n))) {
        emu_error(r, 500, "An internal error has occurred.");
        return -1;
    }
    for (i = 0; i < n; i++) {
        const char *id = json_object_get_string(json_object_array_get_idx(ids, i));
        for (k = 0; k < img->nbands; k++)
            if (id && strcmp(img->bands[k].id, id) == 0)
                break;
        if (k == img->nbands) {
            emu_error(r, 400, "Image.select: Pattern '%s' did not match any bands.", id ? id : "");
            return -1;
        }
        sel[i] = img->bands[k];
    }
    img->bands = sel;
    img->nbands = (int)n;
    return 0;
}

/* Fills the parts of the grid the request left out from the image's
 * default projection (that of its first band). */
static int complete_grid(struct grid_spec *gs, const struct ev_image *img,
                         struct emu_response *r)
{
    const struct ev_proj *p = img->nbands > 0 ? &img->bands[0].proj : NULL;
    int native = p && p->crs[0];

    if (!gs->has_crs) {
        if (!native) {
            emu_error(r, 400, "Unable to compute pixels of an image without a fixed projection: "
                      "give grid.crsCode, grid.affineTransform and grid.dimensions.");
            return -1;
        }
        snprintf(gs->g.crs, sizeof gs->g.crs, "%s", p->crs);
    }
    if (!gs->has_affine) {
        if (!native || strcmp(p->crs, gs->g.crs) != 0) {
            emu_error(r, 400, "grid.affineTransform is required for this image and CRS.");
            return -1;
        }
        memcpy(gs->g.affine, p->affine, sizeof gs->g.affine);
    }
    if (!gs->has_dims) {
        if (!native || p->width <= 0 || strcmp(p->crs, gs->g.crs) != 0 ||
            memcmp(p->affine, gs->g.affine, sizeof gs->g.affine) != 0) {
            if (native && p->width > 0)
                emu_error(r, 400, "grid.dimensions is required when the grid differs from the "
                          "image's own grid.");
            else
                emu_error(r, 400, "Unable to compute pixels of an unbounded image: give "
                          "grid.dimensions.");
            return -1;
        }
        gs->g.width = p->width;
        gs->g.height = p->height;
    }
    return 0;
}

/* getPixels' region: the grid becomes the region's bounding box in the
 * output CRS; with dimensions the box is rescaled to them, otherwise the
 * grid's pixel size is kept and the box is snapped outwards to its pixels. */
static int apply_region(struct ev_ctx *x, json_object *body, struct grid_spec *gs,
                        int dims_given, struct emu_response *r)
{
    json_object *jr = NULL;
    struct ev_geom *g;
    struct errbuf e;
    double b[4], *a = gs->g.affine;

    if (!json_object_object_get_ex(body, "region", &jr) || !jr)
        return 0;
    if (json_object_get_type(jr) != json_type_object || !(g = geom_from_geojson(x, jr, 0, &e))) {
        emu_error(r, 400, "Invalid region: it must be a GeoJSON geometry object.");
        return -1;
    }
    if (eval_geom_bounds(x, g, gs->g.crs, b, &e) != 0) {
        emu_error(r, 400, "Invalid region: %s", e.msg);
        return -1;
    }
    if (dims_given) {
        a[0] = (b[2] - b[0]) / (double)gs->g.width;
        a[4] = -(b[3] - b[1]) / (double)gs->g.height;
        a[1] = a[3] = 0;
        a[2] = b[0];
        a[5] = b[3];
        if (a[0] == 0 || a[4] == 0) {
            emu_error(r, 400, "Invalid region: its bounding box is empty.");
            return -1;
        }
    } else {
        double sx = a[0], sy = a[4], c0, c1, r0, r1;
        if (a[1] != 0 || a[3] != 0) {
            emu_error(r, 400, "region with a sheared grid is not supported by the emulator.");
            return -1;
        }
        c0 = floor((b[0] - a[2]) / sx);
        c1 = ceil((b[2] - a[2]) / sx);
        if (c0 > c1) {
            double t = c0;
            c0 = c1;
            c1 = t;
        }
        r0 = floor(((sy < 0 ? b[3] : b[1]) - a[5]) / sy);
        r1 = ceil(((sy < 0 ? b[1] : b[3]) - a[5]) / sy);
        a[2] += c0 * sx;
        a[5] += r0 * sy;
        gs->g.width = (long)fmax(1, fmin(1e9, c1 - c0));
        gs->g.height = (long)fmax(1, fmin(1e9, r1 - r0));
    }
    return 0;
}

static int check_limits(const struct ee_grid *g, const struct ev_image *img,
                        struct emu_response *r)
{
    long long per_px = 0;
    int b;
    if (g->width > EE_MAX_GRID_SIDE || g->height > EE_MAX_GRID_SIDE) {
        emu_error(r, 400, "Pixel grid dimensions (%ldx%ld) must be less than or equal to %ld.",
                  g->width, g->height, EE_MAX_GRID_SIDE);
        return -1;
    }
    if (img->nbands > EE_MAX_BANDS) {
        emu_error(r, 400, "Number of bands (%d) must be less than or equal to %d.", img->nbands,
                  EE_MAX_BANDS);
        return -1;
    }
    if (img->nbands == 0) {
        emu_error(r, 400, "The image has no bands to compute.");
        return -1;
    }
    /* EE counts one extra mask byte per band and pixel. */
    for (b = 0; b < img->nbands; b++)
        per_px += (long long)px_size(eval_dtype_px(&img->bands[b].dt)) + 1;
    if ((long long)g->width * g->height * per_px > EE_MAX_REQUEST_BYTES) {
        emu_error(r, 400, "Total request size (%lld bytes) must be less than or equal to %lld "
                  "bytes.", (long long)g->width * g->height * per_px, EE_MAX_REQUEST_BYTES);
        return -1;
    }
    return 0;
}

static void register_drivers(void)
{
    GDALAllRegister();
}

static int render_and_encode(const struct emu_ctx *c, struct ev_ctx *x, const struct ev_image *img,
                             const struct ee_grid *g, enum fmt f, struct emu_response *r)
{
    struct raster ras;
    struct errbuf e;
    const char *ctype;
    int64_t images = 0, work;
    int b, rc;

    if ((rc = render_check_depth(img, &e)) != 0) {
        emu_error(r, 400, "%s", e.msg);
        return 0;
    }
    work = render_work_bytes(img, (int64_t)g->width * g->height, &images);
    r->work_bytes = work;
    r->work_images = images;
    if (c->cfg && c->cfg->memory_limit_bytes > 0 && work > c->cfg->memory_limit_bytes) {
        emu_error(r, 400, "User memory limit exceeded.");
        return 0;
    }
    if (f == FMT_PNG || f == FMT_JPEG || f == FMT_AUTO) {
        int ok = img->nbands == 1 || img->nbands == 3;
        for (b = 0; b < img->nbands; b++)
            ok = ok && eval_dtype_px(&img->bands[b].dt) == PX_U8;
        if (!ok) {
            emu_error(r, 400, "%s output needs 1 or 3 bands of type uint8 (this image has %d "
                      "band%s; the first is %s). Use NPY or GEO_TIFF, visualizationOptions, or "
                      "cast with toUint8().", f == FMT_PNG ? "PNG" : f == FMT_JPEG ? "JPEG"
                      : "AUTO_JPEG_PNG", img->nbands, img->nbands == 1 ? "" : "s",
                      px_name(eval_dtype_px(&img->bands[0].dt)));
            return 0;
        }
    }
    if ((rc = render_image(x, img, g, &ras, &e)) != 0) {
        if (rc == ERR_NOMEM)
            emu_error(r, 400, "User memory limit exceeded.");
        else
            emu_error(r, 400, "%s", e.msg);
        return 0;
    }
    /* The GeoTIFF and PNG encoders need GDAL's drivers, whoever started us. */
    if (f != FMT_NPY) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, register_drivers);
    }
    buf_reset(&r->body);
    ctype = f == FMT_NPY ? "application/octet-stream" : "image/tiff";
    rc = f == FMT_NPY ? encode_npy(&ras, &r->body, &e)
         : f == FMT_GEOTIFF ? encode_geotiff(&ras, &r->body, &e)
         : pixreq_encode_display(&ras, img, f == FMT_PNG ? PIXREQ_PNG : f == FMT_JPEG
                                                ? PIXREQ_JPEG : PIXREQ_AUTO, &r->body, &ctype, &e);
    raster_free(&ras);
    if (rc != 0) {
        emu_error(r, 500, "An internal error has occurred (%s).", e.msg);
        return 0;
    }
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "%s", ctype);
    return 0;
}

int handle_compute_pixels(const struct emu_ctx *c, const struct emu_request *q,
                          struct emu_response *r)
{
    static const char *const fields[] = {"expression", "fileFormat", "grid", "bandIds",
                                         "visualizationOptions", "workloadTag", NULL};
    struct ev_ctx *x = NULL;
    struct ev_value *v;
    struct grid_spec gs;
    struct errbuf e;
    json_object *expr = NULL;
    enum fmt f;

    if (pixreq_check_body(q->json, fields, r) || parse_format(q->json, &f, r) ||
        parse_grid(q->json, &gs, r) || pixreq_require(q->json, "expression", &expr, r))
        return 0;
    if (eval_ctx_new(&x, c->cat) != 0) {
        emu_error(r, 500, "An internal error has occurred.");
        return 0;
    }
    if (eval_expression(x, expr, &v, &e) != 0) {
        emu_error(r, 400, "%s", e.msg);
    } else if (v->kind != EV_IMAGE) {
        emu_error(r, 400, "The expression must evaluate to an Image, not %s.",
                  v->kind == EV_NULL ? "null" : v->kind == EV_COLL ? "an ImageCollection"
                                                                  : "another type");
    } else if (apply_band_ids(x, q->json, v->img, r) == 0 &&
               pixreq_vis_options(x, q->json, &v->img, r) == 0 &&
               complete_grid(&gs, v->img, r) == 0 &&
               check_limits(&gs.g, v->img, r) == 0) {
        render_and_encode(c, x, v->img, &gs.g, f, r);
    }
    eval_ctx_free(x);
    return 0;
}

int handle_get_pixels(const struct emu_ctx *c, const struct emu_request *q,
                      struct emu_response *r)
{
    static const char *const fields[] = {"fileFormat", "grid", "region", "bandIds",
                                         "visualizationOptions", "workloadTag", NULL};
    struct ev_ctx *x = NULL;
    struct ev_value *v;
    struct grid_spec gs;
    const struct cat_image *ci;
    enum fmt f;

    if (pixreq_check_body(q->json, fields, r) || parse_format(q->json, &f, r) ||
        parse_grid(q->json, &gs, r))
        return 0;
    if (!q->asset || !(ci = catalog_image(c->cat, q->asset))) {
        emu_error(r, 404, "Asset '%s' not found (does not exist or caller does not have access).",
                  q->asset ? q->asset : "");
        return 0;
    }
    if (eval_ctx_new(&x, c->cat) != 0) {
        emu_error(r, 500, "An internal error has occurred.");
        return 0;
    }
    if (!(v = eval_load_image(x, ci))) {
        emu_error(r, 500, "An internal error has occurred.");
    } else if (apply_band_ids(x, q->json, v->img, r) == 0 &&
               pixreq_vis_options(x, q->json, &v->img, r) == 0) {
        int dims_given = gs.has_dims;
        if (json_object_object_get_ex(q->json, "region", NULL) && !dims_given) {
            /* placeholder: apply_region derives the size from the region */
            gs.has_dims = 1;
            gs.g.width = gs.g.height = 1;
        }
        if (complete_grid(&gs, v->img, r) == 0 &&
            apply_region(x, q->json, &gs, dims_given, r) == 0 &&
            check_limits(&gs.g, v->img, r) == 0)
            render_and_encode(c, x, v->img, &gs.g, f, r);
    }
    eval_ctx_free(x);
    return 0;
}

/* ---- shared with the thumbnail and map handlers (pixreq.h) ---- */

int pixreq_parse_grid(json_object *body, struct grid_spec *gs, struct emu_response *r)
{
    return parse_grid(body, gs, r);
}

int pixreq_band_ids(struct ev_ctx *x, json_object *body, struct ev_image *img,
                    struct emu_response *r)
{
    return apply_band_ids(x, body, img, r);
}

int pixreq_complete_grid(struct grid_spec *gs, const struct ev_image *img,
                         struct emu_response *r)
{
    return complete_grid(gs, img, r);
}

int pixreq_check_limits(const struct ee_grid *g, const struct ev_image *img,
                        struct emu_response *r)
{
    return check_limits(g, img, r);
}
