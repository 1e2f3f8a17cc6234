/*
 * Non-image algorithms: numbers, strings, lists, dictionaries, dates,
 * geometries, features, projections, filters and collections; plus the
 * function table and getInfo conversion.
 */
#include "emulator/eval_int.h"

#include <gdal/cpl_conv.h>
#include <gdal/ogr_api.h>
#include <gdal/ogr_srs_api.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "emulator/handlers.h"

#define NOMEM() err_set(e, ERR_NOMEM, "out of memory")

/* ------------------------------------------------------------- helpers */

static int get_number(const struct ev_args *a, const char *name, int required, double dflt,
                      double *out, struct errbuf *e)
{
    struct ev_value *v = ev_arg(a, name);
    if (!v || v->kind == EV_NULL) {
        if (required)
            return err_set(e, ERR_USAGE, "%s: Parameter '%s' is required.", a->fname, name);
        *out = dflt;
        return 0;
    }
    if (v->kind != EV_NUM)
        return ev_type_error(e, a, name, "Number", v);
    *out = v->num;
    return 0;
}

static int get_list(const struct ev_args *a, const char *name, struct ev_value **out,
                    struct errbuf *e)
{
    int rc = ev_require(a, name, out, e);
    if (rc == 0 && (*out)->kind != EV_LIST)
        return ev_type_error(e, a, name, "List<Object>", *out);
    return rc;
}

static int get_coll(const struct ev_args *a, const char *name, struct ev_coll **out,
                    struct errbuf *e)
{
    struct ev_value *v;
    int rc = ev_require(a, name, &v, e);
    if (rc)
        return rc;
    if (v->kind != EV_COLL)
        return ev_type_error(e, a, name, "FeatureCollection", v);
    *out = v->coll;
    return 0;
}

int ev_to_millis(const struct ev_value *v, int64_t *ms)
{
    if (v->kind == EV_NUM) {
        if (!(fabs(v->num) < 9e18))
            return -1;
        *ms = (int64_t)v->num;
        return 0;
    }
    if (v->kind == EV_DATE) {
        *ms = v->t0;
        return 0;
    }
    if (v->kind == EV_STR)
        return ev_parse_date(v->str, ms);
    return -1;
}

/* -------------------------------------------------------------- numbers */

/* Number.add and its kin; a->op is the operator: + - * / and < > for min, max. */
static int num_binary(struct ev_ctx *x, const struct ev_args *a, struct ev_value **out,
                      struct errbuf *e)
{
    const char op = (char)a->op;
    struct ev_value *l, *r;
    double v = 0;
    int rc;

    if ((rc = ev_require(a, "left", &l, e)) || (rc = ev_require(a, "right", &r, e)))
        return rc;
    if (l->kind != EV_NUM)
        return ev_type_error(e, a, "left", "Number", l);
    if (r->kind != EV_NUM)
        return ev_type_error(e, a, "right", "Number", r);
    switch (op) {
    case '+': v = l->num + r->num; break;
    case '-': v = l->num - r->num; break;
    case '*': v = l->num * r->num; break;
    case '/': v = r->num == 0 ? 0 : l->num / r->num; break;   /* EE: x / 0 = 0 */
    case '<': v = fmin(l->num, r->num); break;
    case '>': v = fmax(l->num, r->num); break;
    }
    if (!(*out = ev_num(x, v)))
        return NOMEM();
    (*out)->is_int = l->is_int && r->is_int && op != '/' && v == floor(v);
    return 0;
}

/* Number.round and its kin; a->op is r(ound) f(loor) c(eil) a(bs) i(nt). */
static int num_unary(struct ev_ctx *x, const struct ev_args *a, struct ev_value **out,
                     struct errbuf *e)
{
    double v = 0;
    int rc = get_number(a, "input", 1, 0, &v, e);
    if (rc)
        return rc;
    switch (a->op) {
    case 'r': v = round(v); break;
    case 'f': v = floor(v); break;
    case 'c': v = ceil(v); break;
    case 'a': v = fabs(v); break;
    case 'i': v = trunc(v); break;
    }
    if (!(*out = ev_num(x, v)))
        return NOMEM();
    return 0;
}

/* -------------------------------------------------------------- strings */

static int f_string_cat(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    const char *s1, *s2;
    char *s;
    int rc;
    if ((rc = ev_get_string(a, "string1", 1, &s1, e)) || (rc = ev_get_string(a, "string2", 1, &s2, e)))
        return rc;
    if (!(s = eval_alloc(x, strlen(s1) + strlen(s2) + 1)))
        return NOMEM();
    strcpy(s, s1);
    strcat(s, s2);
    if (!(*o = ev_new(x, EV_STR)))
        return NOMEM();
    (*o)->str = s;
    return 0;
}

static int f_string(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                    struct errbuf *e)
{
    const char *s;
    int rc = ev_get_string(a, "input", 1, &s, e);
    (void)x;
    if (rc == 0)
        *o = ev_arg(a, "input");
    return rc;
}

static int f_string_length(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                           struct errbuf *e)
{
    const char *s;
    int rc = ev_get_string(a, "string", 1, &s, e);
    if (rc)
        return rc;
    return (*o = ev_num(x, (double)strlen(s))) ? 0 : NOMEM();
}

/* ---------------------------------------------------------------- lists */

static int f_list_size(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    struct ev_value *l;
    int rc = get_list(a, "list", &l, e);
    if (rc)
        return rc;
    return (*o = ev_num(x, l->n)) ? 0 : NOMEM();
}

static int f_list_get(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_value *l;
    double idx = 0;
    long i;
    int rc;
    (void)x;
    if ((rc = get_list(a, "list", &l, e)) || (rc = get_number(a, "index", 1, 0, &idx, e)))
        return rc;
    if (!(fabs(idx) < 1e9))
        idx = 1e9;   /* out of range either way */
    i = (long)idx;
    if (i < 0)
        i += l->n;
    if (i < 0 || i >= l->n)
        return err_set(e, ERR_USAGE, "List.get: List index must be between %d and %d. Found %ld.",
                       -l->n, l->n - 1, (long)idx);
    *o = l->items[i];
    return 0;
}

static int f_list_sequence(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                           struct errbuf *e)
{
    double start = 0, end = 0, step = 0, v;
    int rc, n, i;
    if ((rc = get_number(a, "start", 1, 0, &start, e)) ||
        (rc = get_number(a, "end", 0, start, &end, e)) ||
        (rc = get_number(a, "step", 0, 1, &step, e)))
        return rc;
    if (step == 0 || !isfinite(start) || !isfinite(end) || !isfinite(step) ||
        (end - start) / step > 1e6)
        return err_set(e, ERR_USAGE, "List.sequence: invalid step.");
    n = (end - start) / step < 0 ? 0 : (int)floor((end - start) / step) + 1;
    if (!(*o = ev_list(x, n)))
        return NOMEM();
    for (i = 0; i < n; i++) {
        v = start + step * i;
        if (!((*o)->items[i] = ev_num(x, v)))
            return NOMEM();
    }
    return 0;
}

static int f_list_cat(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_value *l1, *l2;
    int rc, i;
    if ((rc = get_list(a, "list", &l1, e)) || (rc = get_list(a, "other", &l2, e)))
        return rc;
    if (!(*o = ev_list(x, l1->n + l2->n)))
        return NOMEM();
    for (i = 0; i < l1->n; i++)
        (*o)->items[i] = l1->items[i];
    for (i = 0; i < l2->n; i++)
        (*o)->items[l1->n + i] = l2->items[i];
    return 0;
}

/* --------------------------------------------------------- dictionaries */

static int f_dictionary(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    struct ev_value *v = ev_arg(a, "input");
    if (!v || v->kind == EV_NULL)
        return (*o = ev_dict(x, 0)) ? 0 : NOMEM();
    if (v->kind != EV_DICT)
        return ev_type_error(e, a, "input", "Dictionary<Object>", v);
    *o = v;
    return 0;
}

static int f_dictionary_get(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                            struct errbuf *e)
{
    struct ev_value *d, *dflt = ev_arg(a, "defaultValue");
    const char *key;
    int rc, i;
    (void)x;
    if ((rc = ev_require(a, "dictionary", &d, e)) || (rc = ev_get_string(a, "key", 1, &key, e)))
        return rc;
    if (d->kind != EV_DICT)
        return ev_type_error(e, a, "dictionary", "Dictionary<Object>", d);
    for (i = 0; i < d->n; i++)
        if (strcmp(d->keys[i], key) == 0) {
            *o = d->items[i];
            return 0;
        }
    if (dflt) {
        *o = dflt;
        return 0;
    }
    return err_set(e, ERR_USAGE, "Dictionary.get: Dictionary does not contain key: '%s'.", key);
}

static int f_dictionary_keys(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                             struct errbuf *e)
{
    struct ev_value *d;
    int rc = ev_require(a, "dictionary", &d, e), i;
    if (rc)
        return rc;
    if (d->kind != EV_DICT)
        return ev_type_error(e, a, "dictionary", "Dictionary<Object>", d);
    if (!(*o = ev_list(x, d->n)))
        return NOMEM();
    for (i = 0; i < d->n; i++)
        if (!((*o)->items[i] = ev_str(x, d->keys[i])))
            return NOMEM();
    return 0;
}

/* ----------------------------------------------------------- geometries */

/* Applies an EE affine to every [x, y] pair of a coordinates tree (for
 * geometries given in a projection's pixel space, e.g. Rectangle with
 * crs = Image.projection(...)). */
static void coords_affine(json_object *c, const double *af)
{
    size_t i, n;
    if (json_object_get_type(c) != json_type_array)
        return;
    n = json_object_array_length(c);
    if (n >= 2 && json_object_get_type(json_object_array_get_idx(c, 0)) != json_type_array) {
        double px = json_object_get_double(json_object_array_get_idx(c, 0));
        double py = json_object_get_double(json_object_array_get_idx(c, 1));
        json_object_array_put_idx(c, 0, json_object_new_double(af[0] * px + af[1] * py + af[2]));
        json_object_array_put_idx(c, 1, json_object_new_double(af[3] * px + af[4] * py + af[5]));
        return;
    }
    for (i = 0; i < n; i++)
        coords_affine(json_object_array_get_idx(c, i), af);
}

/* Grows b (minx, miny, maxx, maxy) by every [x, y] pair of a coordinates tree. */
static void coords_bbox(json_object *c, double *b)
{
    size_t i, n;
    if (json_object_get_type(c) != json_type_array)
        return;
    n = json_object_array_length(c);
    if (n >= 2 && json_object_get_type(json_object_array_get_idx(c, 0)) != json_type_array) {
        double px = json_object_get_double(json_object_array_get_idx(c, 0));
        double py = json_object_get_double(json_object_array_get_idx(c, 1));
        b[0] = fmin(b[0], px);
        b[1] = fmin(b[1], py);
        b[2] = fmax(b[2], px);
        b[3] = fmax(b[3], py);
        return;
    }
    for (i = 0; i < n; i++)
        coords_bbox(json_object_array_get_idx(c, i), b);
}

static int json_number(json_object *j, double *d)
{
    enum json_type t = json_object_get_type(j);
    if (t != json_type_int && t != json_type_double)
        return -1;
    *d = json_object_get_double(j);
    return 0;
}

/* Accepts a list of [x,y] pairs or a flat [x0,y0,x1,y1,...] list; returns a
 * new json array of pairs, closed when `close` is set. */
static json_object *pairs_from(json_object *c, int close)
{
    json_object *out = json_object_new_array();
    size_t i, n = json_object_array_length(c);
    double x0, y0, xl = 0, yl = 0, px, py;
    int flat;

    if (!out || n == 0)
        goto fail;
    flat = json_object_get_type(json_object_array_get_idx(c, 0)) != json_type_array;
    if (flat && n % 2)
        goto fail;
    for (i = 0; i < n; i += flat ? 2 : 1) {
        json_object *p = json_object_new_array();
        if (flat) {
            if (json_number(json_object_array_get_idx(c, i), &px) ||
                json_number(json_object_array_get_idx(c, i + 1), &py)) {
                json_object_put(p);
                goto fail;
            }
        } else {
            json_object *q = json_object_array_get_idx(c, i);
            if (json_object_get_type(q) != json_type_array || json_object_array_length(q) < 2 ||
                json_number(json_object_array_get_idx(q, 0), &px) ||
                json_number(json_object_array_get_idx(q, 1), &py)) {
                json_object_put(p);
                goto fail;
            }
        }
        json_object_array_add(p, json_object_new_double(px));
        json_object_array_add(p, json_object_new_double(py));
        json_object_array_add(out, p);
        if (i == 0) {
            x0 = px;
            y0 = py;
        }
        xl = px;
        yl = py;
    }
    if (close && (xl != x0 || yl != y0)) {
        json_object *p = json_object_new_array();
        json_object_array_add(p, json_object_new_double(x0));
        json_object_array_add(p, json_object_new_double(y0));
        json_object_array_add(out, p);
    }
    return out;
fail:
    json_object_put(out);
    return NULL;
}

/* Builds an ev_geom from GeoJSON given in `proj` (NULL = lon/lat). Takes gj. */
static int geom_finish(struct ev_ctx *x, const struct ev_args *a, json_object *gj, int geodesic,
                       struct ev_value **o, struct errbuf *e)
{
    struct ev_value *crs = ev_arg(a, "crs");
    struct ev_geom *g;
    char src_crs[64] = "";
    double src_bbox[4] = {HUGE_VAL, HUGE_VAL, -HUGE_VAL, -HUGE_VAL};

    if (!eval_own_json(x, gj))
        return NOMEM();
    if (crs && crs->kind != EV_NULL) {
        const char *code = crs->kind == EV_PROJ ? crs->proj.crs : crs->kind == EV_STR ? crs->str : NULL;
        OGRGeometryH h;
        OGRCoordinateTransformationH ct;
        json_object *c = NULL;
        char *s;
        if (!code)
            return ev_type_error(e, a, "crs", "Projection", crs);
        if (crs->kind == EV_PROJ && json_object_object_get_ex(gj, "coordinates", &c))
            coords_affine(c, crs->proj.affine);
        if (strcmp(code, "EPSG:4326") != 0) {
            if (json_object_object_get_ex(gj, "coordinates", &c))
                coords_bbox(c, src_bbox);
            if (src_bbox[0] <= src_bbox[2])
                snprintf(src_crs, sizeof src_crs, "%s", code);
            if (!(ct = eval_transform(x, code, "EPSG:4326", e)))
                return ERR_USAGE;
            h = OGR_G_CreateGeometryFromJson(json_object_to_json_string(gj));
            if (!h || !eval_own_ogr(x, h))
                return err_set(e, ERR_USAGE, "%s: Invalid geometry.", a->fname);
            if (OGR_G_Transform(h, ct) != OGRERR_NONE)
                return err_set(e, ERR_USAGE, "%s: Unable to transform the geometry.", a->fname);
            s = OGR_G_ExportToJson(h);
            gj = s ? eval_own_json(x, json_tokener_parse(s)) : NULL;
            CPLFree(s);
            if (!gj)
                return NOMEM();
        }
    }
    if (!(g = geom_from_geojson(x, gj, geodesic, e)))
        return ERR_USAGE;
    if (src_crs[0]) {
        snprintf(g->src_crs, sizeof g->src_crs, "%s", src_crs);
        memcpy(g->src_bbox, src_bbox, sizeof g->src_bbox);
    }
    if (!(*o = ev_new(x, EV_GEOM)))
        return NOMEM();
    (*o)->geom = g;
    return 0;
}

static int geodesic_arg(const struct ev_args *a, int dflt)
{
    struct ev_value *g = ev_arg(a, "geodesic");
    return g && g->kind == EV_BOOL ? g->b : dflt;
}

static int f_point(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o, struct errbuf *e)
{
    struct ev_value *c;
    json_object *gj, *coords;
    int rc;
    if ((rc = get_list(a, "coordinates", &c, e)))
        return rc;
    if (c->n != 2 || c->items[0]->kind != EV_NUM || c->items[1]->kind != EV_NUM)
        return err_set(e, ERR_USAGE, "%s: Invalid point coordinates.", a->fname);
    gj = json_object_new_object();
    coords = json_object_new_array();
    json_object_array_add(coords, json_object_new_double(c->items[0]->num));
    json_object_array_add(coords, json_object_new_double(c->items[1]->num));
    json_object_object_add(gj, "type", json_object_new_string("Point"));
    json_object_object_add(gj, "coordinates", coords);
    return geom_finish(x, a, gj, 0, o, e);
}

static int f_polygon(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                     struct errbuf *e)
{
    struct ev_value *c;
    json_object *jc = NULL, *gj, *rings;
    size_t i, n;
    int rc, nested;

    if ((rc = get_list(a, "coordinates", &c, e)))
        return rc;
    if (!(jc = ev_to_json(x, c, e)))
        return ERR_USAGE;
    rings = json_object_new_array();
    n = json_object_array_length(jc);
    /* [[[x,y],...]] = list of rings; [[x,y],...] or [x,y,...] = one ring */
    nested = n > 0 && json_object_get_type(json_object_array_get_idx(jc, 0)) == json_type_array &&
             json_object_array_length(json_object_array_get_idx(jc, 0)) > 0 &&
             json_object_get_type(json_object_array_get_idx(json_object_array_get_idx(jc, 0), 0)) ==
                 json_type_array;
    for (i = 0; i < (nested ? n : 1); i++) {
        json_object *ring = pairs_from(nested ? json_object_array_get_idx(jc, i) : jc, 1);
        if (!ring || json_object_array_length(ring) < 4) {
            json_object_put(ring);
            json_object_put(rings);
            json_object_put(jc);
            return err_set(e, ERR_USAGE, "%s: Invalid polygon coordinates.", a->fname);
        }
        json_object_array_add(rings, ring);
    }
    json_object_put(jc);
    gj = json_object_new_object();
    json_object_object_add(gj, "type", json_object_new_string("Polygon"));
    json_object_object_add(gj, "coordinates", rings);
    return geom_finish(x, a, gj, geodesic_arg(a, 1), o, e);
}

static int f_rectangle(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    struct ev_value *c;
    json_object *jc, *pairs, *gj, *rings, *ring;
    double v[4];
    int rc, i;
    static const int order[5][2] = {{0, 3}, {0, 1}, {2, 1}, {2, 3}, {0, 3}};

    if ((rc = get_list(a, "coordinates", &c, e)))
        return rc;
    if (!(jc = ev_to_json(x, c, e)))
        return ERR_USAGE;
    pairs = pairs_from(jc, 0);
    json_object_put(jc);
    if (!pairs || json_object_array_length(pairs) != 2) {
        json_object_put(pairs);
        return err_set(e, ERR_USAGE, "%s: Invalid rectangle coordinates.", a->fname);
    }
    for (i = 0; i < 4; i++)
        v[i] = json_object_get_double(json_object_array_get_idx(
            json_object_array_get_idx(pairs, (size_t)(i / 2)), (size_t)(i % 2)));
    json_object_put(pairs);
    ring = json_object_new_array();
    for (i = 0; i < 5; i++) {
        json_object *p = json_object_new_array();
        json_object_array_add(p, json_object_new_double(v[order[i][0]]));
        json_object_array_add(p, json_object_new_double(v[order[i][1]]));
        json_object_array_add(ring, p);
    }
    rings = json_object_new_array();
    json_object_array_add(rings, ring);
    gj = json_object_new_object();
    json_object_object_add(gj, "type", json_object_new_string("Polygon"));
    json_object_object_add(gj, "coordinates", rings);
    return geom_finish(x, a, gj, geodesic_arg(a, 1), o, e);
}

/* GeometryConstructors.LineString and .MultiPoint (a->op GEOM_MULTIPOINT):
 * both a list of points, which a line string needs two of. */
enum { GEOM_LINESTRING, GEOM_MULTIPOINT };
static int f_line_string(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_value *c;
    json_object *jc, *pairs, *gj;
    int rc, multipoint = a->op == GEOM_MULTIPOINT;
    const char *type = multipoint ? "MultiPoint" : "LineString";
    if ((rc = get_list(a, "coordinates", &c, e)))
        return rc;
    if (!(jc = ev_to_json(x, c, e)))
        return ERR_USAGE;
    pairs = pairs_from(jc, 0);
    json_object_put(jc);
    if (!pairs || json_object_array_length(pairs) < (multipoint ? 1u : 2u)) {
        json_object_put(pairs);
        return err_set(e, ERR_USAGE, "%s: Invalid coordinates.", a->fname);
    }
    gj = json_object_new_object();
    json_object_object_add(gj, "type", json_object_new_string(type));
    json_object_object_add(gj, "coordinates", pairs);
    return geom_finish(x, a, gj, multipoint ? 0 : geodesic_arg(a, 1), o, e);
}

static int f_multipolygon(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                          struct errbuf *e)
{
    struct ev_value *c;
    json_object *jc, *polys, *gj;
    size_t i, k, n;
    int rc;
    if ((rc = get_list(a, "coordinates", &c, e)))
        return rc;
    if (!(jc = ev_to_json(x, c, e)))
        return ERR_USAGE;
    polys = json_object_new_array();
    n = json_object_array_length(jc);
    for (i = 0; i < n; i++) {
        json_object *p = json_object_array_get_idx(jc, i), *rings = json_object_new_array();
        size_t nr = json_object_get_type(p) == json_type_array ? json_object_array_length(p) : 0;
        json_object_array_add(polys, rings);
        for (k = 0; k < nr; k++) {
            json_object *ring = pairs_from(json_object_array_get_idx(p, k), 1);
            if (!ring || json_object_array_length(ring) < 4) {
                json_object_put(ring);
                nr = 0;
                break;
            }
            json_object_array_add(rings, ring);
        }
        if (nr == 0) {
            json_object_put(polys);
            json_object_put(jc);
            return err_set(e, ERR_USAGE, "%s: Invalid polygon coordinates.", a->fname);
        }
    }
    json_object_put(jc);
    gj = json_object_new_object();
    json_object_object_add(gj, "type", json_object_new_string("MultiPolygon"));
    json_object_object_add(gj, "coordinates", polys);
    return geom_finish(x, a, gj, geodesic_arg(a, 1), o, e);
}

static int f_feature(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                     struct errbuf *e)
{
    struct ev_value *g = ev_arg(a, "geometry"), *m = ev_arg(a, "metadata");
    if (g && g->kind != EV_NULL && g->kind != EV_GEOM && g->kind != EV_FEATURE)
        return ev_type_error(e, a, "geometry", "Geometry", g);
    if (m && m->kind != EV_NULL && m->kind != EV_DICT)
        return ev_type_error(e, a, "metadata", "Dictionary<Object>", m);
    if (!(*o = ev_new(x, EV_FEATURE)))
        return NOMEM();
    (*o)->geom = g && g->kind != EV_NULL ? g->geom : NULL;
    (*o)->fprops = m && m->kind == EV_DICT ? m : ev_dict(x, 0);
    return (*o)->fprops ? 0 : NOMEM();
}

static int f_error_margin(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                          struct errbuf *e)
{
    double v = 0;
    int rc = get_number(a, "value", 0, 0, &v, e);
    if (rc)
        return rc;
    return (*o = ev_num(x, v)) ? 0 : NOMEM();
}

/* ---------------------------------------------------------- projections */

int ev_proj_from(struct ev_ctx *x, const struct ev_args *a, const char *name,
                 struct ev_proj *p, struct errbuf *e)
{
    struct ev_value *v;
    int rc = ev_require(a, name, &v, e);
    (void)x;
    if (rc)
        return rc;
    memset(p, 0, sizeof *p);
    if (v->kind == EV_PROJ) {
        *p = v->proj;
        p->width = p->height = 0;
        return 0;
    }
    if (v->kind != EV_STR)
        return ev_type_error(e, a, name, "Projection", v);
    if (!eval_crs_valid(v->str))
        return err_set(e, ERR_USAGE, "%s: Invalid CRS '%s' (only EPSG codes are supported).",
                       a->fname, v->str);
    snprintf(p->crs, sizeof p->crs, "%s", v->str);
    p->affine[0] = 1;
    p->affine[4] = 1;
    return 0;
}

int ev_affine_from(const struct ev_args *a, const char *name, double *af, struct errbuf *e)
{
    struct ev_value *t = ev_arg(a, name);
    int i;
    if (!t || t->kind == EV_NULL)
        return 1;
    if (t->kind != EV_LIST || t->n != 6)
        return err_set(e, ERR_USAGE, "%s: '%s' must be a list of 6 numbers.", a->fname, name);
    for (i = 0; i < 6; i++) {
        if (t->items[i]->kind != EV_NUM)
            return err_set(e, ERR_USAGE, "%s: '%s' must be a list of 6 numbers.", a->fname, name);
        af[i] = t->items[i]->num;
    }
    return 0;
}

static int f_projection(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    struct ev_proj p;
    int rc = ev_proj_from(x, a, "crs", &p, e);
    if (rc)
        return rc;
    if ((rc = ev_affine_from(a, "transform", p.affine, e)) < 0)
        return rc;
    if (!(*o = ev_new(x, EV_PROJ)))
        return NOMEM();
    (*o)->proj = p;
    return 0;
}

static int f_projection_at_scale(struct ev_ctx *x, const struct ev_args *a,
                                 struct ev_value **o, struct errbuf *e)
{
    struct ev_proj p;
    double m = 0;
    int rc = ev_proj_from(x, a, "projection", &p, e);
    if (rc || (rc = get_number(a, "meters", 1, 0, &m, e)))
        return rc;
    if (m <= 0)
        return err_set(e, ERR_USAGE, "Projection.atScale: scale must be positive.");
    if (eval_crs_geographic(x, p.crs) == 1)
        m /= 111319.49079327357;   /* metres per degree at the equator */
    memset(p.affine, 0, sizeof p.affine);
    p.affine[0] = m;
    p.affine[4] = -m;
    if (!(*o = ev_new(x, EV_PROJ)))
        return NOMEM();
    (*o)->proj = p;
    return 0;
}

/* -------------------------------------------------------------- filters */

/* Filter.lessThan and its kin: a->op is the enum ev_filter_op. */
static int make_filter(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    const enum ev_filter_op op = (enum ev_filter_op)a->op;
    struct ev_filter *f = eval_alloc(x, sizeof *f);
    struct ev_value *lv = ev_arg(a, "leftValue"), *rv = ev_arg(a, "rightValue");
    int rc;

    if (!f || !(*o = ev_new(x, EV_FILTER)))
        return NOMEM();
    f->op = op;
    if ((rc = ev_get_string(a, "leftField", 0, &f->left_field, e)) ||
        (rc = ev_get_string(a, "rightField", 0, &f->right_field, e)))
        return rc;
    f->left_value = lv && lv->kind != EV_NULL ? lv : NULL;
    f->right_value = rv && rv->kind != EV_NULL ? rv : NULL;
    if (!f->left_field == !f->left_value || !f->right_field == !f->right_value)
        return err_set(e, ERR_USAGE, "%s: Exactly one of leftField and leftValue and one of "
                       "rightField and rightValue must be given.", a->fname);
    if (op == F_DATE_RANGE && f->left_value && f->left_value->kind != EV_DRANGE)
        return ev_type_error(e, a, "leftValue", "DateRange", f->left_value);
    (*o)->filter = f;
    return 0;
}

static int f_filter_not(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    struct ev_value *s;
    struct ev_filter *f = eval_alloc(x, sizeof *f);
    int rc = ev_require(a, "filter", &s, e);
    if (rc)
        return rc;
    if (s->kind != EV_FILTER)
        return ev_type_error(e, a, "filter", "Filter", s);
    if (!f || !(f->subs = eval_alloc(x, sizeof *f->subs)) || !(*o = ev_new(x, EV_FILTER)))
        return NOMEM();
    f->op = F_NOT;
    f->subs[0] = s->filter;
    f->nsubs = 1;
    (*o)->filter = f;
    return 0;
}

/* Filter.and, Filter.or: a->op is F_AND or F_OR. */
static int filter_list(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    struct ev_value *l;
    struct ev_filter *f = eval_alloc(x, sizeof *f);
    int rc = get_list(a, "filters", &l, e), i;
    if (rc)
        return rc;
    if (!f || !(f->subs = eval_alloc(x, sizeof *f->subs * (size_t)(l->n + 1))) ||
        !(*o = ev_new(x, EV_FILTER)))
        return NOMEM();
    for (i = 0; i < l->n; i++) {
        if (l->items[i]->kind != EV_FILTER)
            return ev_type_error(e, a, "filters", "List<Filter>", l->items[i]);
        f->subs[i] = l->items[i]->filter;
    }
    f->op = (enum ev_filter_op)a->op;
    f->nsubs = l->n;
    (*o)->filter = f;
    return 0;
}

/* A property of a collection element, as a value (NULL when absent). */
struct ev_value *ev_element_property(struct ev_ctx *x, const struct ev_value *el,
                                     const char *name)
{
    json_object *props = NULL, *j = NULL;
    int i;
    if (el->kind == EV_IMAGE) {
        props = el->img->props;
        if (strncmp(name, "system:band", 11) == 0)
            return ev_image_band_property(x, el->img, name);
    } else if (el->kind != EV_FEATURE) {
        /* List.filter tests list items that are not elements as "item". */
        return strcmp(name, "item") == 0 ? (struct ev_value *)el : NULL;
    }
    if (el->kind == EV_FEATURE && el->fprops) {
        for (i = 0; i < el->fprops->n; i++)
            if (strcmp(el->fprops->keys[i], name) == 0)
                return el->fprops->items[i];
        return NULL;
    }
    if (!props || !json_object_object_get_ex(props, name, &j))
        return NULL;
    return ev_from_json(x, j);
}

/* Numbers compare numerically, strings lexicographically, dates as ms;
 * returns -2 when the values are not comparable. */
int ev_compare_values(const struct ev_value *l, const struct ev_value *r)
{
    double a, b;
    int c;
    if (l->kind == EV_STR && r->kind == EV_STR) {
        c = strcmp(l->str, r->str);
        return c < 0 ? -1 : c > 0;
    }
    if ((l->kind == EV_NUM || l->kind == EV_DATE) && (r->kind == EV_NUM || r->kind == EV_DATE)) {
        a = l->kind == EV_NUM ? l->num : (double)l->t0;
        b = r->kind == EV_NUM ? r->num : (double)r->t0;
        return a < b ? -1 : a > b;
    }
    if (l->kind == EV_BOOL && r->kind == EV_BOOL)
        return l->b - r->b;
    return -2;
}

int ev_filter_match(struct ev_ctx *x, const struct ev_filter *f, const struct ev_value *el)
{
    const struct ev_value *l, *r;
    int i, c;

    switch (f->op) {
    case F_NOT:
        return !ev_filter_match(x, f->subs[0], el);
    case F_AND:
        for (i = 0; i < f->nsubs; i++)
            if (!ev_filter_match(x, f->subs[i], el))
                return 0;
        return 1;
    case F_OR:
        for (i = 0; i < f->nsubs; i++)
            if (ev_filter_match(x, f->subs[i], el))
                return 1;
        return 0;
    case F_STR_CONTAINS: case F_STR_STARTS: case F_STR_ENDS: case F_LIST_CONTAINS:
    case F_CALENDAR: case F_ALWAYS: case F_NEVER: case F_NOT_NULL: case F_RANGE:
    case F_MAX_DIFF:
        return ev_filter_match_more(x, f, el);
    case F_INTERSECTS: {
        const struct ev_value *g = f->right_value ? f->right_value : f->left_value;
        json_object *fp = el->kind == EV_IMAGE ? el->img->footprint
                          : el->geom ? el->geom->geojson : NULL;
        if (!g || !g->geom)
            return 1;
        return geom_intersects_geojson(g->geom, fp);
    }
    default:
        break;
    }
    l = f->left_field ? ev_element_property(x, el, f->left_field) : f->left_value;
    r = f->right_field ? ev_element_property(x, el, f->right_field) : f->right_value;
    if (!l || !r)
        return 0;   /* EE drops elements missing the property */
    if (f->op == F_DATE_RANGE) {
        const struct ev_value *range = l->kind == EV_DRANGE ? l : r, *t = range == l ? r : l;
        int64_t ms;
        if (range->kind != EV_DRANGE || ev_to_millis(t, &ms) != 0)
            return 0;
        return ms >= range->t0 && ms < range->t1;
    }
    c = ev_compare_values(l, r);
    if (c == -2)
        return f->op == F_NEQ;
    switch (f->op) {
    case F_LT: return c < 0;
    case F_GT: return c > 0;
    case F_EQ: return c == 0;
    case F_NEQ: return c != 0;
    case F_LTE: return c <= 0;
    case F_GTE: return c >= 0;
    default: return 0;
    }
}

/* ---------------------------------------------------------- collections */

struct ev_value *ev_new_coll(struct ev_ctx *x, const char *id, int n)
{
    struct ev_value *v = ev_new(x, EV_COLL);
    if (!v || !(v->coll = eval_alloc(x, sizeof *v->coll)) ||
        !(v->coll->items = eval_alloc(x, sizeof *v->coll->items * (size_t)(n + 1))) ||
        !(v->coll->props = eval_own_json(x, json_object_new_object())))
        return NULL;
    v->coll->id = id;
    return v;
}

static int f_ic_load(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                     struct errbuf *e)
{
    const struct cat_collection *c;
    const char *id;
    size_t i;
    int rc = ev_get_string(a, "id", 1, &id, e);
    if (rc)
        return rc;
    if (!(c = catalog_collection(eval_catalog(x), id)))
        return err_set(e, ERR_USAGE, "ImageCollection.load: ImageCollection asset '%s' not found "
                       "(does not exist or caller does not have access).", id);
    if (!(*o = ev_new_coll(x, c->id, (int)c->nimages)))
        return NOMEM();
    for (i = 0; i < c->nimages; i++) {
        struct ev_value *img = eval_load_image(x, c->images[i]);
        if (!img)
            return NOMEM();
        (*o)->coll->items[(*o)->coll->n++] = img;
    }
    return 0;
}

static int f_ic_from_images(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                            struct errbuf *e)
{
    struct ev_value *l;
    int rc = get_list(a, "images", &l, e), i;
    if (rc)
        return rc;
    if (!(*o = ev_new_coll(x, NULL, l->n)))
        return NOMEM();
    for (i = 0; i < l->n; i++) {
        if (l->items[i]->kind != EV_IMAGE)
            return ev_type_error(e, a, "images", "List<Image<unknown bands>>", l->items[i]);
        (*o)->coll->items[(*o)->coll->n++] = l->items[i];
    }
    return 0;
}

static int f_coll_filter(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_coll *c = NULL;
    struct ev_value *f;
    int rc, i;
    if ((rc = get_coll(a, "collection", &c, e)) || (rc = ev_require(a, "filter", &f, e)))
        return rc;
    if (f->kind != EV_FILTER)
        return ev_type_error(e, a, "filter", "Filter", f);
    if (!(*o = ev_new_coll(x, c->id, c->n)))
        return NOMEM();
    (*o)->coll->features = c->features;
    for (i = 0; i < c->n; i++)
        if (ev_filter_match(x, f->filter, c->items[i]))
            (*o)->coll->items[(*o)->coll->n++] = c->items[i];
    return 0;
}

static int f_coll_map(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_coll *c = NULL;
    struct ev_value *fn, *dn = ev_arg(a, "dropNulls"), *r;
    int rc, i, drop = dn && dn->kind == EV_BOOL && dn->b;
    if ((rc = get_coll(a, "collection", &c, e)) || (rc = ev_require(a, "baseAlgorithm", &fn, e)))
        return rc;
    if (fn->kind != EV_FUNC)
        return ev_type_error(e, a, "baseAlgorithm", "Algorithm", fn);
    if (fn->func->nargs < 1)
        return err_set(e, ERR_USAGE, "Collection.map: the mapped function takes no argument.");
    if (!(*o = ev_new_coll(x, c->id, c->n)))
        return NOMEM();
    (*o)->coll->features = c->features;   /* kept for an empty collection */
    for (i = 0; i < c->n; i++) {
        struct ev_value **args = eval_alloc(x, sizeof *args * (size_t)fn->func->nargs);
        int k;
        if (!args)
            return NOMEM();
        args[0] = c->items[i];
        for (k = 1; k < fn->func->nargs; k++)
            if (!(args[k] = ev_new(x, EV_NULL)))
                return NOMEM();
        if ((rc = ev_call_func(x, fn->func, args, a->depth + 1, &r, e)) != 0)
            return err_prefix(e, rc, "Collection.map: Error in map: ");
        if (r->kind == EV_NULL && drop)
            continue;
        if (r->kind != EV_IMAGE && r->kind != EV_FEATURE)
            return err_set(e, ERR_USAGE, "Collection.map: A mapped algorithm must return a "
                           "Feature or Image.");
        (*o)->coll->features = r->kind == EV_FEATURE;
        (*o)->coll->items[(*o)->coll->n++] = r;
    }
    return 0;
}

static int f_coll_first(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    struct ev_coll *c = NULL;
    int rc = get_coll(a, "collection", &c, e);
    if (rc)
        return rc;
    if (c->n == 0)
        return (*o = ev_new(x, EV_NULL)) ? 0 : NOMEM();
    *o = c->items[0];
    return 0;
}

static int f_coll_size(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    struct ev_coll *c = NULL;
    int rc = get_coll(a, "collection", &c, e);
    if (rc)
        return rc;
    return (*o = ev_num(x, c->n)) ? 0 : NOMEM();
}

/* Order of two sort keys: numbers by value, strings by bytes, numbers
 * before strings; an element without the property sorts after the others
 * whatever the direction. */
static int key_cmp(const struct ev_value *p, const struct ev_value *q, int ascending)
{
    int r;

    if (!p || !q)
        return (p == NULL) - (q == NULL);
    if (p->kind == EV_NUM && q->kind == EV_NUM)
        r = (p->num > q->num) - (p->num < q->num);
    else if (p->kind == EV_STR && q->kind == EV_STR)
        r = strcmp(p->str, q->str);
    else
        r = (p->kind == EV_STR) - (q->kind == EV_STR);
    return ascending ? r : -r;
}

/* Collection.limit(collection, limit, key, ascending): what sort() and
 * limit() send. With a key the elements are ordered by that property
 * (stable: equal keys keep their order), then the first `limit` kept. */
static int f_coll_limit(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    struct ev_coll *c = NULL;
    struct ev_value *asc = ev_arg(a, "ascending"), **keys = NULL, **items = NULL;
    const char *key = NULL;
    double lim = 0;
    int rc, i, j, n, up = !(asc && asc->kind == EV_BOOL && !asc->b);
    if ((rc = get_coll(a, "collection", &c, e)) || (rc = get_number(a, "limit", 0, -1, &lim, e)) ||
        (rc = ev_get_string(a, "key", 0, &key, e)))
        return rc;
    n = !(lim >= 0) || lim > c->n ? c->n : (int)lim;
    if (!(*o = ev_new_coll(x, c->id, n)))
        return NOMEM();
    (*o)->coll->features = c->features;
    items = c->items;
    if (key && c->n > 1) {
        /* Insertion sort on a copy: collections here are small, and it is stable. */
        items = eval_alloc(x, sizeof *items * (size_t)c->n);
        keys = eval_alloc(x, sizeof *keys * (size_t)c->n);
        if (!items || !keys)
            return NOMEM();
        for (i = 0; i < c->n; i++) {
            struct ev_value *it = c->items[i], *k = ev_element_property(x, it, key);
            for (j = i; j > 0 && key_cmp(keys[j - 1], k, up) > 0; j--) {
                items[j] = items[j - 1];
                keys[j] = keys[j - 1];
            }
            items[j] = it;
            keys[j] = k;
        }
    }
    for (i = 0; i < n; i++)
        (*o)->coll->items[(*o)->coll->n++] = items[i];
    return 0;
}

static int f_aggregate_array(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                             struct errbuf *e)
{
    struct ev_coll *c = NULL;
    const char *p;
    int rc, i;
    if ((rc = get_coll(a, "collection", &c, e)) || (rc = ev_get_string(a, "property", 1, &p, e)))
        return rc;
    if (!(*o = ev_list(x, c->n)))
        return NOMEM();
    (*o)->n = 0;
    for (i = 0; i < c->n; i++) {
        struct ev_value *v = ev_element_property(x, c->items[i], p);
        if (v)   /* elements without the property are skipped, as in EE */
            (*o)->items[(*o)->n++] = v;
    }
    return 0;
}

static int f_element_get(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_value *el;
    const char *p;
    int rc;
    if ((rc = ev_require(a, "object", &el, e)) || (rc = ev_get_string(a, "property", 1, &p, e)))
        return rc;
    if (el->kind == EV_COLL) {
        json_object *j = NULL;
        if (strcmp(p, "system:id") == 0 && el->coll->id)
            return (*o = ev_str(x, el->coll->id)) ? 0 : NOMEM();
        if (!json_object_object_get_ex(el->coll->props, p, &j))
            return (*o = ev_new(x, EV_NULL)) ? 0 : NOMEM();
        return (*o = ev_from_json(x, j)) ? 0 : NOMEM();
    }
    if (el->kind != EV_IMAGE && el->kind != EV_FEATURE)
        return ev_type_error(e, a, "object", "Element", el);
    *o = ev_element_property(x, el, p);
    if (!*o && !(*o = ev_new(x, EV_NULL)))
        return NOMEM();
    return 0;
}

static int f_element_set(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_value *el, *v = ev_arg(a, "value");
    const char *key;
    json_object *props = NULL, *jv = NULL;
    int rc;
    if ((rc = ev_require(a, "object", &el, e)) || (rc = ev_get_string(a, "key", 1, &key, e)))
        return rc;
    if (v && v->kind != EV_NULL && !(jv = ev_to_json(x, v, e)))
        return ERR_USAGE;
    if (el->kind == EV_IMAGE) {
        struct ev_image *img = eval_alloc(x, sizeof *img);
        if (!img || json_object_deep_copy(el->img->props, &props, NULL) != 0 ||
            !eval_own_json(x, props) || !(*o = ev_new(x, EV_IMAGE))) {
            json_object_put(jv);
            return NOMEM();
        }
        *img = *el->img;
        json_object_object_add(props, key, jv);
        img->props = props;
        if (strcmp(key, "system:time_start") == 0 && jv)
            img->time_start = json_object_get_int64(jv);
        (*o)->img = img;
        return 0;
    }
    json_object_put(jv);
    if (el->kind == EV_FEATURE) {
        struct ev_value *d = ev_dict(x, el->fprops->n + 1);
        int i, n = 0;
        if (!d || !(*o = ev_new(x, EV_FEATURE)))
            return NOMEM();
        for (i = 0; i < el->fprops->n; i++)
            if (strcmp(el->fprops->keys[i], key) != 0) {
                d->keys[n] = el->fprops->keys[i];
                d->items[n++] = el->fprops->items[i];
            }
        d->keys[n] = key;
        d->items[n++] = v ? v : ev_new(x, EV_NULL);
        d->n = n;
        **o = *el;
        (*o)->fprops = d;
        return d->items[n - 1] ? 0 : NOMEM();
    }
    return ev_type_error(e, a, "object", "Element", el);
}

/* If(condition, trueCase, falseCase): EE's truthiness (0, "", null, false
 * and empty lists are false). Both cases are evaluated, as arguments are. */
static int f_if(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o, struct errbuf *e)
{
    struct ev_value *c = ev_arg(a, "condition"), *t = ev_arg(a, "trueCase"),
                    *f = ev_arg(a, "falseCase");
    int truth = 0;
    if (c) {
        switch (c->kind) {
        case EV_NULL: truth = 0; break;
        case EV_BOOL: truth = c->b; break;
        case EV_NUM: truth = c->num != 0; break;
        case EV_STR: truth = c->str[0] != 0; break;
        case EV_LIST: case EV_DICT: truth = c->n > 0; break;
        default: truth = 1; break;
        }
    }
    *o = truth ? t : f;
    if (!*o && !(*o = ev_new(x, EV_NULL)))
        return NOMEM();
    (void)e;
    return 0;
}

/* --------------------------------------------------------------- table */

const struct ev_algo ev_algos_values[] = {
    {"Number.add", num_binary, '+'}, {"Number.subtract", num_binary, '-'},
    {"Number.multiply", num_binary, '*'}, {"Number.divide", num_binary, '/'},
    {"Number.min", num_binary, '<'}, {"Number.max", num_binary, '>'},
    {"Number.round", num_unary, 'r'}, {"Number.floor", num_unary, 'f'},
    {"Number.ceil", num_unary, 'c'}, {"Number.abs", num_unary, 'a'}, {"Number.int", num_unary, 'i'},
    {"Number.toInt", num_unary, 'i'}, {"String", f_string, 0}, {"String.cat", f_string_cat, 0},
    {"String.length", f_string_length, 0}, {"List.size", f_list_size, 0},
    {"List.length", f_list_size, 0}, {"List.get", f_list_get, 0},
    {"List.sequence", f_list_sequence, 0}, {"List.cat", f_list_cat, 0},
    {"Dictionary", f_dictionary, 0}, {"Dictionary.get", f_dictionary_get, 0},
    {"Dictionary.keys", f_dictionary_keys, 0}, {"GeometryConstructors.Point", f_point, 0},
    {"GeometryConstructors.Polygon", f_polygon, 0},
    {"GeometryConstructors.Rectangle", f_rectangle, 0},
    {"GeometryConstructors.LineString", f_line_string, GEOM_LINESTRING},
    {"GeometryConstructors.MultiPoint", f_line_string, GEOM_MULTIPOINT},
    {"GeometryConstructors.MultiPolygon", f_multipolygon, 0},
    {"Projection.atScale", f_projection_at_scale, 0}, {"Feature", f_feature, 0},
    {"ErrorMargin", f_error_margin, 0}, {"Projection", f_projection, 0},
    {"Filter.dateRangeContains", make_filter, F_DATE_RANGE},
    {"Filter.intersects", make_filter, F_INTERSECTS}, {"Filter.lessThan", make_filter, F_LT},
    {"Filter.greaterThan", make_filter, F_GT}, {"Filter.equals", make_filter, F_EQ},
    {"Filter.notEquals", make_filter, F_NEQ}, {"Filter.lessThanOrEquals", make_filter, F_LTE},
    {"Filter.greaterThanOrEquals", make_filter, F_GTE}, {"Filter.eq", make_filter, F_EQ},
    {"Filter.neq", make_filter, F_NEQ}, {"Filter.lt", make_filter, F_LT},
    {"Filter.lte", make_filter, F_LTE}, {"Filter.gt", make_filter, F_GT},
    {"Filter.gte", make_filter, F_GTE}, {"Filter.not", f_filter_not, 0},
    {"Filter.and", filter_list, F_AND}, {"Filter.or", filter_list, F_OR},
    {"ImageCollection.load", f_ic_load, 0}, {"ImageCollection.fromImages", f_ic_from_images, 0},
    {"Collection.filter", f_coll_filter, 0}, {"Collection.map", f_coll_map, 0},
    {"Collection.first", f_coll_first, 0}, {"Collection.size", f_coll_size, 0},
    {"Collection.limit", f_coll_limit, 0},
    {"AggregateFeatureCollection.array", f_aggregate_array, 0}, {"Element.get", f_element_get, 0},
    {"Image.get", f_element_get, 0}, {"Element.set", f_element_set, 0}, {"If", f_if, 0},
    {NULL, NULL, 0},
};

const struct ev_algo *ev_find_algo(const char *name)
{
    const struct ev_algo *tables[] = {ev_algos_values, ev_algos_image, ev_algos_vis,
                                      ev_algos_pixelops, ev_algos_reduce, ev_algos_region,
                                      ev_algos_dates, ev_algos_lists, ev_algos_props};
    size_t t;
    const struct ev_algo *a;
    for (t = 0; t < sizeof tables / sizeof *tables; t++)
        for (a = tables[t]; a->name; a++)
            if (strcmp(a->name, name) == 0)
                return a;
    return NULL;
}

static const char **fn_names;

/* The list is as long as the tables: a fixed array would silently drop the
 * names past its end from algorithms.list. */
static void fill_names(void)
{
    const struct ev_algo *tables[] = {ev_algos_values, ev_algos_image, ev_algos_vis,
                                      ev_algos_pixelops, ev_algos_reduce, ev_algos_region,
                                      ev_algos_dates, ev_algos_lists, ev_algos_props};
    size_t t, n = 0;
    const struct ev_algo *a;

    for (t = 0; t < sizeof tables / sizeof *tables; t++)
        for (a = tables[t]; a->name; a++)
            n++;
    if (!(fn_names = malloc((n + 1) * sizeof *fn_names)))
        return;   /* algorithms.list then lists nothing */
    n = 0;
    for (t = 0; t < sizeof tables / sizeof *tables; t++)
        for (a = tables[t]; a->name; a++)
            fn_names[n++] = a->name;
    fn_names[n] = NULL;
}

const char *const *eval_function_names(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fill_names);
    return fn_names;
}

/* -------------------------------------------------------------- getInfo */

json_object *eval_number_json(double d)
{
    if (d == floor(d) && fabs(d) < 9007199254740992.0)
        return json_object_new_int64((int64_t)d);
    return json_object_new_double(d);
}

static json_object *dtype_json(const struct ev_dtype *dt)
{
    json_object *o = json_object_new_object();
    static const char *prec[] = {"int", "float", "double"};
    json_object_object_add(o, "type", json_object_new_string("PixelType"));
    json_object_object_add(o, "precision", json_object_new_string(prec[dt->prec]));
    if (dt->prec == EV_INT) {
        json_object_object_add(o, "min", eval_number_json(dt->lo));
        json_object_object_add(o, "max", eval_number_json(dt->hi));
    }
    return o;
}

static json_object *affine_json(const double *af)
{
    json_object *t = json_object_new_array();
    int i;
    for (i = 0; i < 6; i++)
        json_object_array_add(t, eval_number_json(af[i]));
    return t;
}

static json_object *image_info(const struct ev_image *img)
{
    json_object *o = json_object_new_object(), *bands = json_object_new_array(), *props;
    int i;
    json_object_object_add(o, "type", json_object_new_string("Image"));
    for (i = 0; i < img->nbands; i++) {
        const struct ev_band *b = &img->bands[i];
        json_object *jb = json_object_new_object();
        static const double deg[6] = {1, 0, 0, 0, 1, 0};
        json_object_object_add(jb, "id", json_object_new_string(b->id));
        json_object_object_add(jb, "data_type", dtype_json(&b->dt));
        if (b->proj.width > 0) {
            json_object *d = json_object_new_array();
            json_object_array_add(d, json_object_new_int64(b->proj.width));
            json_object_array_add(d, json_object_new_int64(b->proj.height));
            json_object_object_add(jb, "dimensions", d);
        }
        /* No default projection: EE reports EPSG:4326 with a 1-degree scale. */
        json_object_object_add(jb, "crs", json_object_new_string(b->proj.crs[0] ? b->proj.crs
                                                                                : "EPSG:4326"));
        json_object_object_add(jb, "crs_transform",
                               affine_json(b->proj.crs[0] ? b->proj.affine : deg));
        json_object_array_add(bands, jb);
    }
    json_object_object_add(o, "bands", bands);
    /* EE shows system:id and system:version beside the properties, as "id"
     * and "version", and the other properties under "properties". */
    props = json_object_new_object();
    json_object_object_foreach(img->props, k, v) {
        if (strcmp(k, "system:id") == 0)
            json_object_object_add(o, "id", json_object_get(v));
        else if (strcmp(k, "system:version") == 0)
            json_object_object_add(o, "version", json_object_get(v));
        else
            json_object_object_add(props, k, json_object_get(v));
    }
    json_object_object_add(o, "properties", props);
    return o;
}

static json_object *geom_info(const struct ev_geom *g)
{
    json_object *o = json_object_new_object();
    json_object_object_foreach(g->geojson, k, v) json_object_object_add(o, k, json_object_get(v));
    if (!g->is_point)
        json_object_object_add(o, "geodesic", json_object_new_boolean(g->geodesic));
    return o;
}

/* A feature as EE shows it: its system:index becomes "id", the other
 * properties stay in "properties". */
static json_object *feature_info(struct ev_ctx *x, const struct ev_value *v, struct errbuf *e)
{
    json_object *o = json_object_new_object(), *props = json_object_new_object();
    const struct ev_value *d = v->fprops;
    int i;
    json_object_object_add(o, "type", json_object_new_string("Feature"));
    json_object_object_add(o, "geometry", v->geom ? geom_info(v->geom) : NULL);
    for (i = 0; d && i < d->n; i++) {
        json_object *c = NULL;
        if (strcmp(d->keys[i], "system:index") == 0 && d->items[i]->kind == EV_STR) {
            json_object_object_add(o, "id", json_object_new_string(d->items[i]->str));
            continue;
        }
        if (d->items[i]->kind != EV_NULL && !(c = ev_to_json(x, d->items[i], e))) {
            json_object_put(props);
            json_object_put(o);
            return NULL;
        }
        json_object_object_add(props, d->keys[i], c);
    }
    json_object_object_add(o, "properties", props);
    return o;
}

/* getInfo refuses collections larger than this, with EE's message. */
#define GETINFO_MAX_ELEMENTS 5000

/* {"type": "FeatureCollection", "columns": {name: type}, "features": [...]}:
 * columns name every property of any feature with the type of its first
 * value, and system:index (a String), as EE lists them. */
static json_object *feature_coll_info(struct ev_ctx *x, const struct ev_coll *c, struct errbuf *e)
{
    json_object *o, *cols, *feats;
    int i, k;
    if (c->n > GETINFO_MAX_ELEMENTS) {
        err_set(e, ERR_USAGE, "Collection query aborted after accumulating over %d elements.",
                GETINFO_MAX_ELEMENTS);
        return NULL;
    }
    o = json_object_new_object();
    cols = json_object_new_object();
    feats = json_object_new_array();
    json_object_object_add(o, "type", json_object_new_string("FeatureCollection"));
    json_object_object_add(o, "columns", cols);
    if (json_object_object_length(c->props) > 0)
        json_object_object_add(o, "properties", json_object_get(c->props));
    json_object_object_add(o, "features", feats);
    for (i = 0; i < c->n; i++) {
        const struct ev_value *f = c->items[i];
        json_object *fj = ev_to_json(x, f, e);
        if (!fj) {
            json_object_put(o);
            return NULL;
        }
        json_object_array_add(feats, fj);
        for (k = 0; f->kind == EV_FEATURE && f->fprops && k < f->fprops->n; k++) {
            const struct ev_value *p = f->fprops->items[k];
            if (p->kind == EV_NULL || json_object_object_get_ex(cols, f->fprops->keys[k], NULL))
                continue;
            json_object_object_add(cols, f->fprops->keys[k],
                                   json_object_new_string(ev_type_name(p)));
        }
    }
    if (!json_object_object_get_ex(cols, "system:index", NULL))
        json_object_object_add(cols, "system:index", json_object_new_string("String"));
    return o;
}

json_object *ev_to_json(struct ev_ctx *x, const struct ev_value *v, struct errbuf *e)
{
    json_object *o = NULL;
    int i;

    switch (v->kind) {
    case EV_NULL: return NULL;   /* json-c's null; callers treat NULL from EV_NULL as null */
    case EV_BOOL: return json_object_new_boolean(v->b);
    case EV_NUM: return v->has_i64 ? json_object_new_int64(v->i64) : eval_number_json(v->num);
    case EV_STR: return json_object_new_string(v->str);
    case EV_LIST:
        o = json_object_new_array();
        for (i = 0; i < v->n; i++) {
            json_object *c = NULL;
            if (v->items[i]->kind != EV_NULL && !(c = ev_to_json(x, v->items[i], e))) {
                json_object_put(o);
                return NULL;
            }
            json_object_array_add(o, c);
        }
        return o;
    case EV_DICT:
        o = json_object_new_object();
        for (i = 0; i < v->n; i++) {
            json_object *c = NULL;
            if (v->items[i]->kind != EV_NULL && !(c = ev_to_json(x, v->items[i], e))) {
                json_object_put(o);
                return NULL;
            }
            json_object_object_add(o, v->keys[i], c);
        }
        return o;
    case EV_DATE:
        o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string("Date"));
        json_object_object_add(o, "value", json_object_new_int64(v->t0));
        return o;
    case EV_DRANGE:
        o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string("DateRange"));
        {
            json_object *d = json_object_new_array();
            json_object_array_add(d, json_object_new_int64(v->t0));
            json_object_array_add(d, json_object_new_int64(v->t1));
            json_object_object_add(o, "dates", d);
        }
        return o;
    case EV_GEOM:
        return geom_info(v->geom);
    case EV_FEATURE:
        return feature_info(x, v, e);
    case EV_IMAGE:
        return image_info(v->img);
    case EV_COLL: {
        json_object *feats;
        if (v->coll->features)
            return feature_coll_info(x, v->coll, e);
        feats = json_object_new_array();
        o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string("ImageCollection"));
        json_object_object_add(o, "bands", json_object_new_array());
        if (v->coll->id) {
            /* A collection's version is its catalog entry's (the newest
             * member's), whatever filters made this value from it. */
            const struct cat_collection *cc = catalog_collection(eval_catalog(x), v->coll->id);

            json_object_object_add(o, "id", json_object_new_string(v->coll->id));
            json_object_object_add(o, "version", json_object_new_int64(cc ? cc->version_us : 0));
        }
        json_object_object_add(o, "properties", json_object_get(v->coll->props));
        for (i = 0; i < v->coll->n; i++) {
            json_object *c = ev_to_json(x, v->coll->items[i], e);
            if (!c) {
                json_object_put(feats);
                json_object_put(o);
                return NULL;
            }
            json_object_array_add(feats, c);
        }
        json_object_object_add(o, "features", feats);
        return o;
    }
    case EV_PROJ:
        o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string("Projection"));
        json_object_object_add(o, "crs", json_object_new_string(v->proj.crs[0] ? v->proj.crs
                                                                               : "EPSG:4326"));
        json_object_object_add(o, "transform", affine_json(v->proj.affine));
        return o;
    case EV_FILTER:
    case EV_FUNC:
    case EV_REDUCER:
        break;
    }
    err_set(e, ERR_USAGE, "A %s cannot be converted to JSON.", ev_type_name(v));
    return NULL;
}

json_object *eval_getinfo(struct ev_ctx *x, const struct ev_value *v, struct errbuf *e)
{
    return ev_to_json(x, v, e);
}
