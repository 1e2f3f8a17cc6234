/*
 * Thumbnails and maps: projects.thumbnails.create / getPixels (what the
 * clients' getThumbURL and getDownloadURL call) and projects.maps.create /
 * tiles (getMapId). create checks the whole request (expression, bands,
 * visualization, grid, EE's limits) and stores its body under a new id
 * (thumbstore.h); getPixels and tiles compute the image again from it.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emulator/eval.h"
#include "emulator/handlers.h"
#include "emulator/pixreq.h"
#include "emulator/render.h"
#include "emulator/thumbstore.h"

/* Web-mercator half extent (EPSG:3857 metres) and tile size of EE maps. */
#define MERC_HALF 20037508.342789244
#define TILE_SIZE 256
#define TILE_MAX_ZOOM 30

enum tfmt { TF_GEOTIFF, TF_NPY, TF_PNG, TF_JPEG, TF_AUTO, TF_ZIP, TF_ZIP_PER_BAND };

struct prep {
    struct ev_ctx *x;
    struct ev_image *img;      /* the bands to output, in order */
    struct ee_grid grid;       /* the output grid (thumbnails) */
    struct ee_grid *band_grids;/* ZIPPED_GEO_TIFF_PER_BAND: one grid per band */
    enum tfmt f;
    char prefix[128];          /* file names inside zips */
};

static int display_format(enum tfmt f)
{
    return f == TF_PNG || f == TF_JPEG || f == TF_AUTO;
}

static int parse_format(const struct emu_request *q, json_object *body, int kind, enum tfmt *f,
                        struct emu_response *r)
{
    static const struct {
        const char *name;
        enum tfmt f;
    } names[] = {{"GEO_TIFF", TF_GEOTIFF}, {"NPY", TF_NPY}, {"PNG", TF_PNG}, {"JPEG", TF_JPEG},
                 {"AUTO_JPEG_PNG", TF_AUTO}, {"IMAGE_FILE_FORMAT_UNSPECIFIED", TF_AUTO},
                 {"ZIPPED_GEO_TIFF", TF_ZIP}, {"ZIPPED_GEO_TIFF_PER_BAND", TF_ZIP_PER_BAND}};
    json_object *j = NULL;
    const char *s;
    size_t i;

    *f = TF_AUTO;   /* the clients' default when no format is given */
    if (!json_object_object_get_ex(body, "fileFormat", &j) || !j)
        return 0;
    s = json_object_get_string(j);
    for (i = 0; i < sizeof names / sizeof *names; i++)
        if (s && strcmp(s, names[i].name) == 0) {
            *f = names[i].f;
            break;
        }
    if (i == sizeof names / sizeof *names) {
        if (s && (strcmp(s, "TF_RECORD_IMAGE") == 0 || strcmp(s, "MULTI_BAND_IMAGE_TILE") == 0))
            emu_error(r, 400, "File format %s is not supported for %s.", s,
                      kind == THUMB_KIND_MAP ? "maps" : "thumbnails");
        else
            emu_error(r, 400, "Invalid value at '%s.file_format' "
                      "(type.googleapis.com/google.earthengine.%s.ImageFileFormat), \"%s\"",
                      kind == THUMB_KIND_MAP ? "map" : "thumbnail",
                      q->version ? q->version : "v1", s ? s : "");
        return -1;
    }
    if (kind == THUMB_KIND_MAP && !display_format(*f)) {
        emu_error(r, 400, "File format %s is not supported for map tiles; use PNG, JPEG or "
                  "AUTO_JPEG_PNG.", s);
        return -1;
    }
    return 0;
}

static int json_number(json_object *j, double *d)
{
    enum json_type t = json_object_get_type(j);
    if (t == json_type_int || t == json_type_double) {
        *d = json_object_get_double(j);
        return 0;
    }
    if (t == json_type_string) {   /* proto3 JSON may quote numbers */
        char *end;
        *d = strtod(json_object_get_string(j), &end);
        return *end == 0 && end != json_object_get_string(j) ? 0 : -1;
    }
    return -1;
}

/* visualizationOptions {ranges[{min,max}], paletteColors[], gamma, opacity}:
 * Image.visualize of all the selected bands (1 or 3). */
int pixreq_vis_options(struct ev_ctx *x, json_object *body, struct ev_image **img,
                       struct emu_response *r)
{
    json_object *vo = NULL;
    struct eval_vis_spec s;
    struct ev_image *out;
    struct errbuf e;
    const char *names[3];
    int i, n;

    if (!json_object_object_get_ex(body, "visualizationOptions", &vo) || !vo)
        return 0;
    if (json_object_get_type(vo) != json_type_object) {
        emu_error(r, 400, "Invalid JSON payload received. 'visualizationOptions' must be an "
                  "object.");
        return -1;
    }
    memset(&s, 0, sizeof s);
    s.fname = "visualizationOptions";
    if ((*img)->nbands != 1 && (*img)->nbands != 3) {
        emu_error(r, 400, "visualizationOptions need 1 or 3 bands, the image has %d; choose "
                  "them with bandIds.", (*img)->nbands);
        return -1;
    }
    for (i = 0; i < (*img)->nbands; i++)
        names[i] = (*img)->bands[i].id;
    s.bands = names;
    s.nbands = (*img)->nbands;
    json_object_object_foreach(vo, key, val) {
        if (strcmp(key, "ranges") == 0) {
            if (json_object_get_type(val) != json_type_array ||
                (n = (int)json_object_array_length(val)) > 3) {
                emu_error(r, 400, "visualizationOptions.ranges must be a list of 1 or 3 "
                          "{min, max} ranges.");
                return -1;
            }
            for (i = 0; i < n; i++) {
                json_object *rg = json_object_array_get_idx(val, i), *m = NULL;
                s.min[i] = 0;
                s.max[i] = 0;   /* proto3: a missing field is 0 */
                if (json_object_get_type(rg) != json_type_object ||
                    (json_object_object_get_ex(rg, "min", &m) && json_number(m, &s.min[i])) ||
                    (json_object_object_get_ex(rg, "max", &m) && json_number(m, &s.max[i]))) {
                    emu_error(r, 400, "visualizationOptions.ranges[%d] must be {min, max} "
                              "numbers.", i);
                    return -1;
                }
            }
            s.nmin = s.nmax = n;
        } else if (strcmp(key, "paletteColors") == 0) {
            if (json_object_get_type(val) != json_type_array) {
                emu_error(r, 400, "visualizationOptions.paletteColors must be a list of "
                          "strings.");
                return -1;
            }
            n = (int)json_object_array_length(val);
            if (!(s.palette = eval_alloc(x, sizeof *s.palette * (size_t)(n + 1)))) {
                emu_error(r, 500, "An internal error has occurred.");
                return -1;
            }
            for (i = 0; i < n; i++)
                if (!(s.palette[i] = json_object_get_string(json_object_array_get_idx(val, i)))) {
                    emu_error(r, 400, "visualizationOptions.paletteColors must be strings.");
                    return -1;
                }
            s.npalette = n;
        } else if (strcmp(key, "gamma") == 0 || strcmp(key, "opacity") == 0) {
            double d;
            if (json_number(val, &d)) {
                emu_error(r, 400, "visualizationOptions.%s must be a number.", key);
                return -1;
            }
            if (key[0] == 'g') {
                s.gamma[0] = d;
                s.ngamma = 1;
            } else {
                s.opacity = d;
                s.has_opacity = 1;
            }
        } else {
            emu_error(r, 400, "Invalid JSON payload received. Unknown name \"%s\" at "
                      "'visualizationOptions': Cannot find field.", key);
            return -1;
        }
    }
    if (eval_visualize(x, *img, &s, &out, &e) != 0) {
        emu_error(r, 400, "%s", e.msg);
        return -1;
    }
    *img = out;
    return 0;
}

/* Zip member names: filenamePrefix, else the image's id (its last path
 * segment, as EE names SRTMGL1_003.elevation.tif), else "download". */
static void file_prefix(json_object *body, const struct ev_image *img, char *out, size_t cap)
{
    json_object *j = NULL;
    const char *s = NULL, *slash;

    if (json_object_object_get_ex(body, "filenamePrefix", &j) && j &&
        json_object_get_type(j) == json_type_string && json_object_get_string(j)[0]) {
        snprintf(out, cap, "%s", json_object_get_string(j));
        return;
    }
    if (img->id)
        s = img->id;
    else if (img->props && json_object_object_get_ex(img->props, "system:id", &j) &&
             json_object_get_type(j) == json_type_string)
        s = json_object_get_string(j);
    if (!s || !*s) {
        snprintf(out, cap, "download");
        return;
    }
    if ((slash = strrchr(s, '/')) && slash[1])
        s = slash + 1;
    snprintf(out, cap, "%s", s);
}

static void prep_free(struct prep *p)
{
    eval_ctx_free(p->x);
    p->x = NULL;
}

/* Everything but the pixels: the request is valid when this passes. */
static int prepare(const struct emu_ctx *c, const struct emu_request *q, json_object *body,
                   int kind, struct prep *p, struct emu_response *r)
{
    static const char *const thumb_fields[] = {"name", "expression", "fileFormat", "bandIds",
                                               "visualizationOptions", "grid", "filenamePrefix",
                                               "workloadTag", NULL};
    static const char *const map_fields[] = {"name", "expression", "fileFormat", "bandIds",
                                             "visualizationOptions", "workloadTag", NULL};
    struct grid_spec gs;
    struct ev_value *v;
    struct errbuf e;
    json_object *expr = NULL;
    int b;

    memset(p, 0, sizeof *p);
    memset(&gs, 0, sizeof gs);
    if (pixreq_check_body(body, kind == THUMB_KIND_MAP ? map_fields : thumb_fields, r) ||
        parse_format(q, body, kind, &p->f, r) ||
        (kind == THUMB_KIND_THUMBNAIL && pixreq_parse_grid(body, &gs, r)) ||
        pixreq_require(body, "expression", &expr, r))
        return -1;
    if (eval_ctx_new(&p->x, c->cat) != 0) {
        emu_error(r, 500, "An internal error has occurred.");
        return -1;
    }
    if (eval_expression(p->x, expr, &v, &e) != 0) {
        emu_error(r, 400, "%s", e.msg);
        goto fail;
    }
    if (v->kind != EV_IMAGE) {
        emu_error(r, 400, "The expression must evaluate to an Image, not %s.",
                  v->kind == EV_NULL ? "null" : v->kind == EV_COLL ? "an ImageCollection"
                                                                  : "another type");
        goto fail;
    }
    p->img = v->img;
    file_prefix(body, p->img, p->prefix, sizeof p->prefix);
    if (pixreq_band_ids(p->x, body, p->img, r) || pixreq_vis_options(p->x, body, &p->img, r))
        goto fail;
    if (display_format(p->f) && p->img->nbands != 1 && p->img->nbands != 3) {
        emu_error(r, 400, "PNG and JPEG output need 1 or 3 bands, the image has %d: select them "
                  "(bands) or visualize the image.", p->img->nbands);
        goto fail;
    }
    if (p->f == TF_NPY && p->img->nbands > 48) {
        emu_error(r, 400, "NPY output of more than 48 bands is not supported by the emulator.");
        goto fail;
    }
    if (kind == THUMB_KIND_MAP)
        return 0;
    if (p->f == TF_ZIP_PER_BAND && !(gs.has_crs && gs.has_affine && gs.has_dims)) {
        /* Each file on its band's own grid (getDownloadURL's per-band crs,
         * scale and region end up there). */
        long long total = 0;
        if (!(p->band_grids = eval_alloc(p->x, sizeof *p->band_grids *
                                                   (size_t)(p->img->nbands + 1)))) {
            emu_error(r, 500, "An internal error has occurred.");
            goto fail;
        }
        for (b = 0; b < p->img->nbands; b++) {
            struct ev_image one = *p->img;
            struct grid_spec g1 = gs;
            one.bands = &p->img->bands[b];
            one.nbands = 1;
            if (pixreq_complete_grid(&g1, &one, r) || pixreq_check_limits(&g1.g, &one, r))
                goto fail;
            p->band_grids[b] = g1.g;
            total += (long long)g1.g.width * g1.g.height *
                     (px_size(eval_dtype_px(&one.bands[0].dt)) + 1);
        }
        if (total > EE_MAX_REQUEST_BYTES) {
            emu_error(r, 400, "Total request size (%lld bytes) must be less than or equal to "
                      "%lld bytes.", total, EE_MAX_REQUEST_BYTES);
            goto fail;
        }
        return 0;
    }
    if (pixreq_complete_grid(&gs, p->img, r) || pixreq_check_limits(&gs.g, p->img, r))
        goto fail;
    p->grid = gs.g;
    return 0;
fail:
    prep_free(p);
    return -1;
}

/* ---- rendering and encoding ---------------------------------------------- */

static int render(const struct emu_ctx *c, struct ev_ctx *x, const struct ev_image *img,
                  const struct ee_grid *g, struct raster *ras, struct emu_response *r)
{
    struct errbuf e;
    int64_t images = 0, work;
    int rc;

    if (render_check_depth(img, &e) != 0) {
        emu_error(r, 400, "%s", e.msg);
        return -1;
    }
    work = render_work_bytes(img, (int64_t)g->width * g->height, &images);
    r->work_bytes += work;
    r->work_images += images;
    if (c->cfg && c->cfg->memory_limit_bytes > 0 && r->work_bytes > c->cfg->memory_limit_bytes) {
        emu_error(r, 400, "User memory limit exceeded.");
        return -1;
    }
    if ((rc = render_image(x, img, g, ras, &e)) != 0) {
        if (rc == ERR_NOMEM)
            emu_error(r, 400, "User memory limit exceeded.");
        else
            emu_error(r, 400, "%s", e.msg);
        return -1;
    }
    return 0;
}

/* PNG or JPEG of 1 or 3 bands, values clamped to 0-255. PNG gets an alpha
 * band where pixels are masked or visualize's opacity is below 1; AUTO
 * picks PNG exactly then, JPEG otherwise. */
static int encode_display(const struct raster *ras, const struct ev_image *img, enum tfmt f,
                          struct buf *out, const char **ctype, struct errbuf *e)
{
    size_t np = (size_t)ras->width * (size_t)ras->height, i;
    double opacity = 1;
    struct raster tmp;
    double *alpha = NULL;
    uint8_t *amask = NULL;
    int b, need_alpha = 0, rc;

    for (b = 0; b < img->nbands; b++)
        if (img->bands[b].has_opacity && img->bands[b].opacity < opacity)
            opacity = img->bands[b].opacity;
    need_alpha = opacity < 1;
    for (b = 0; b < ras->nbands && !need_alpha; b++)
        for (i = 0; i < np && !need_alpha; i++)
            need_alpha = !ras->bands[b].mask[i];
    if (f == TF_AUTO)
        f = need_alpha ? TF_PNG : TF_JPEG;
    *ctype = f == TF_PNG ? "image/png" : "image/jpeg";
    tmp = *ras;
    if (f == TF_PNG && need_alpha) {
        double a = floor(255 * opacity + 0.5);
        tmp.bands = calloc((size_t)ras->nbands + 1, sizeof *tmp.bands);
        alpha = malloc(np * sizeof *alpha);
        amask = malloc(np);
        if (!tmp.bands || !alpha || !amask) {
            rc = err_set(e, ERR_NOMEM, "out of memory");
            goto out;
        }
        memcpy(tmp.bands, ras->bands, (size_t)ras->nbands * sizeof *tmp.bands);
        for (i = 0; i < np; i++) {
            int valid = 1;
            for (b = 0; b < ras->nbands; b++)
                valid &= ras->bands[b].mask[i] != 0;
            alpha[i] = valid ? a : 0;
            amask[i] = 1;
        }
        snprintf(tmp.bands[ras->nbands].id, sizeof tmp.bands[ras->nbands].id, "alpha");
        tmp.bands[ras->nbands].type = PX_U8;
        tmp.bands[ras->nbands].data = alpha;
        tmp.bands[ras->nbands].mask = amask;
        tmp.nbands = ras->nbands + 1;
    }
    rc = encode_image8(&tmp, f == TF_PNG ? "PNG" : "JPEG", out, e);
out:
    if (tmp.bands != ras->bands)
        free(tmp.bands);
    free(alpha);
    free(amask);
    return rc;
}

int pixreq_encode_display(const struct raster *ras, const struct ev_image *img,
                          enum pixreq_display f, struct buf *out, const char **ctype,
                          struct errbuf *e)
{
    return encode_display(ras, img, f == PIXREQ_PNG ? TF_PNG : f == PIXREQ_JPEG ? TF_JPEG
                                                                                : TF_AUTO,
                          out, ctype, e);
}

/* Renders and encodes a prepared thumbnail into r. */
static void thumbnail_answer(const struct emu_ctx *c, struct prep *p, struct emu_response *r)
{
    struct raster ras;
    struct errbuf e;
    const char *ctype = "application/octet-stream";
    int rc = 0, b;

    buf_reset(&r->body);
    if (p->f == TF_ZIP_PER_BAND) {
        int n = p->img->nbands;
        struct buf *files = calloc((size_t)n + 1, sizeof *files);
        char **names = calloc((size_t)n + 1, sizeof *names);
        for (b = 0; b < n && files && names; b++) {
            struct ev_image one = *p->img;
            const struct ee_grid *g = p->band_grids ? &p->band_grids[b] : &p->grid;
            size_t len = strlen(p->prefix) + strlen(p->img->bands[b].id) + 6;
            one.bands = &p->img->bands[b];
            one.nbands = 1;
            buf_init(&files[b], 0);
            if (render(c, p->x, &one, g, &ras, r) != 0)
                break;
            rc = encode_geotiff(&ras, &files[b], &e);
            raster_free(&ras);
            if (rc || !(names[b] = malloc(len))) {
                emu_error(r, 500, "An internal error has occurred (%s).",
                          rc ? e.msg : "out of memory");
                break;
            }
            snprintf(names[b], len, "%s.%s.tif", p->prefix, p->img->bands[b].id);
        }
        if (!files || !names)
            emu_error(r, 500, "An internal error has occurred.");
        else if (b == n && (rc = encode_zip((const char *const *)names, files, n, &r->body,
                                            &e)) != 0)
            emu_error(r, 500, "An internal error has occurred (%s).", e.msg);
        else if (b == n)
            r->status = 200;
        for (b = 0; b < n && files && names; b++) {
            buf_free(&files[b]);
            free(names[b]);
        }
        free(files);
        free(names);
        if (r->status == 200)
            snprintf(r->content_type, sizeof r->content_type, "application/zip");
        return;
    }
    if (render(c, p->x, p->img, &p->grid, &ras, r) != 0)
        return;
    switch (p->f) {
    case TF_NPY:
        rc = encode_npy(&ras, &r->body, &e);
        break;
    case TF_GEOTIFF:
        rc = encode_geotiff(&ras, &r->body, &e);
        ctype = "image/tiff";
        break;
    case TF_ZIP: {
        struct buf tif;
        char name[160];
        const char *names[1] = {name};
        buf_init(&tif, 0);
        snprintf(name, sizeof name, "%s.tif", p->prefix);
        rc = encode_geotiff(&ras, &tif, &e);
        if (!rc)
            rc = encode_zip(names, &tif, 1, &r->body, &e);
        buf_free(&tif);
        ctype = "application/zip";
        break;
    }
    default:
        rc = encode_display(&ras, p->img, p->f, &r->body, &ctype, &e);
        break;
    }
    raster_free(&ras);
    if (rc) {
        emu_error(r, 500, "An internal error has occurred (%s).", e.msg);
        return;
    }
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "%s", ctype);
}

/* ---- endpoints ------------------------------------------------------------ */

static int create(const struct emu_ctx *c, const struct emu_request *q, struct emu_response *r,
                  int kind)
{
    struct prep p;
    char id[THUMB_ID_LEN + 1], name[THUMB_ID_LEN + 200];
    json_object *o;

    if (prepare(c, q, q->json, kind, &p, r) != 0)
        return 0;
    prep_free(&p);
    if (!c->thumbs || thumbstore_put(c->thumbs, kind, q->project, q->body ? q->body : "{}",
                                     q->body ? q->body_len : 2, id) != 0) {
        emu_error(r, 500, "An internal error has occurred (cannot keep the request).");
        return 0;
    }
    snprintf(name, sizeof name, "projects/%s/%s/%s", q->project,
             kind == THUMB_KIND_MAP ? "maps" : "thumbnails", id);
    o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(name));
    emu_json(r, 200, o);
    return 0;
}

int handle_thumbnail_create(const struct emu_ctx *c, const struct emu_request *q,
                            struct emu_response *r)
{
    return create(c, q, r, THUMB_KIND_THUMBNAIL);
}

int handle_map_create(const struct emu_ctx *c, const struct emu_request *q,
                      struct emu_response *r)
{
    return create(c, q, r, THUMB_KIND_MAP);
}

/* The stored request of an id, parsed; NULL with a 404 in r when unknown. */
static json_object *lookup(const struct emu_ctx *c, const struct emu_request *q, int kind,
                           struct emu_response *r)
{
    char *body = c->thumbs && q->asset ? thumbstore_get(c->thumbs, kind, q->project, q->asset)
                                       : NULL;
    json_object *j;

    if (!body) {
        emu_error(r, 404, "%s 'projects/%s/%s/%s' was not found: it does not exist or has "
                  "expired (ids are kept %d hours).", kind == THUMB_KIND_MAP ? "Map" : "Thumbnail",
                  q->project ? q->project : "", kind == THUMB_KIND_MAP ? "maps" : "thumbnails",
                  q->asset ? q->asset : "", (int)(THUMB_TTL_MS / 3600000));
        return NULL;
    }
    /* Parsed as the server parsed it when it came in: expressions nest
     * deeper than json-c's default of 32 levels. */
    {
        json_tokener *tok = json_tokener_new_ex(EMU_JSON_DEPTH);
        j = tok ? json_tokener_parse_ex(tok, body, (int)strlen(body)) : NULL;
        if (tok)
            json_tokener_free(tok);
    }
    free(body);
    if (!j)
        emu_error(r, 500, "An internal error has occurred.");
    return j;
}

int handle_thumbnail_pixels(const struct emu_ctx *c, const struct emu_request *q,
                            struct emu_response *r)
{
    json_object *body = lookup(c, q, THUMB_KIND_THUMBNAIL, r);
    struct prep p;

    if (!body)
        return 0;
    if (prepare(c, q, body, THUMB_KIND_THUMBNAIL, &p, r) == 0) {
        thumbnail_answer(c, &p, r);
        prep_free(&p);
    }
    json_object_put(body);
    return 0;
}

/* "z/x/y" with 0 <= x, y < 2^z, z <= TILE_MAX_ZOOM. */
static int parse_tile(const char *s, long *z, long *x, long *y)
{
    char *end;
    long v[3];
    int i;

    for (i = 0; i < 3; i++) {
        if (!s || *s < '0' || *s > '9')
            return -1;
        v[i] = strtol(s, &end, 10);
        if (*end != (i < 2 ? '/' : '\0'))
            return -1;
        s = end + 1;
    }
    if (v[0] > TILE_MAX_ZOOM || v[1] >= (1L << v[0]) || v[2] >= (1L << v[0]))
        return -1;
    *z = v[0];
    *x = v[1];
    *y = v[2];
    return 0;
}

int handle_map_tile(const struct emu_ctx *c, const struct emu_request *q,
                    struct emu_response *r)
{
    json_object *body;
    struct prep p;
    struct ee_grid g;
    struct raster ras;
    struct errbuf e;
    const char *ctype = "image/png";
    long z, tx, ty;
    double size;

    if (parse_tile(q->verb, &z, &tx, &ty) != 0) {
        emu_error(r, 400, "Invalid tile coordinates '%s': want {zoom}/{x}/{y} with zoom 0 to "
                  "%d and x, y from 0 to 2^zoom - 1.", q->verb ? q->verb : "", TILE_MAX_ZOOM);
        return 0;
    }
    if (!(body = lookup(c, q, THUMB_KIND_MAP, r)))
        return 0;
    if (prepare(c, q, body, THUMB_KIND_MAP, &p, r) == 0) {
        memset(&g, 0, sizeof g);
        snprintf(g.crs, sizeof g.crs, "EPSG:3857");
        size = 2 * MERC_HALF / (double)(1L << z);
        g.affine[0] = size / TILE_SIZE;
        g.affine[2] = -MERC_HALF + (double)tx * size;
        g.affine[4] = -size / TILE_SIZE;
        g.affine[5] = MERC_HALF - (double)ty * size;
        g.width = g.height = TILE_SIZE;
        if (render(c, p.x, p.img, &g, &ras, r) == 0) {
            buf_reset(&r->body);
            if (encode_display(&ras, p.img, p.f, &r->body, &ctype, &e) != 0) {
                emu_error(r, 500, "An internal error has occurred (%s).", e.msg);
            } else {
                r->status = 200;
                snprintf(r->content_type, sizeof r->content_type, "%s", ctype);
            }
            raster_free(&ras);
        }
        prep_free(&p);
    }
    json_object_put(body);
    return 0;
}
