/*
 * Image algorithms. An image is a list of bands; each band carries EE's
 * pixel type (precision + range), its default projection and a pixel node
 * that render.c evaluates on a request grid. Nothing here touches pixels.
 *
 * Type rules (EE's as far as documented; see docs/emulator.md):
 *  - int op int stays int with the exact result range (uint16 + uint16 ->
 *    int [0, 131070]); divide always gives float (x / 0 = 0, as EE);
 *  - any float operand -> float, any double -> double;
 *  - normalizedDifference -> float (double for doubles); composites:
 *    see eval_reduce.c;
 *  - Image.constant of an integer is int [v, v], of a fraction float;
 *  - casts clamp to the target range and truncate toward zero.
 */
#include "emulator/eval_int.h"

#include <float.h>
#include <gdal/ogr_srs_api.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#define NOMEM() err_set(e, ERR_NOMEM, "out of memory")


/* Bounds on what one expression may build, far above EE's 1024 bands per
 * request, so that a small request cannot make the server allocate a lot. */
#define EV_MAX_BANDS 10000
#define EV_MAX_SELECTED 1000000LL

/* Metres per degree at the equator: EE's scale for geographic CRSs. */
#define METERS_PER_DEGREE 111319.49079327357

struct ev_dtype eval_px_dtype(enum px_type t)
{
    struct ev_dtype d = {EV_INT, 0, 0};
    switch (t) {
    case PX_U8: d.hi = 255; break;
    case PX_I8: d.lo = -128; d.hi = 127; break;
    case PX_U16: d.hi = 65535; break;
    case PX_I16: d.lo = -32768; d.hi = 32767; break;
    case PX_U32: d.hi = 4294967295.0; break;
    case PX_I32: d.lo = -2147483648.0; d.hi = 2147483647.0; break;
    case PX_F32: d.prec = EV_FLOAT; d.lo = -FLT_MAX; d.hi = FLT_MAX; break;
    case PX_F64: d.prec = EV_DOUBLE; d.lo = -DBL_MAX; d.hi = DBL_MAX; break;
    }
    return d;
}

/* GDAL's rule for EE int ranges (ee-api.md §2.4), widened to double when no
 * 32-bit type holds the range. */
enum px_type eval_dtype_px(const struct ev_dtype *dt)
{
    if (dt->prec == EV_FLOAT)
        return PX_F32;
    if (dt->prec == EV_DOUBLE)
        return PX_F64;
    if (dt->lo >= 0) {
        if (dt->hi <= 255)
            return PX_U8;
        if (dt->hi <= 65535)
            return PX_U16;
        if (dt->hi <= 4294967295.0)
            return PX_U32;
        return PX_F64;
    }
    if (dt->lo >= -128 && dt->hi <= 127)
        return PX_I8;
    if (dt->lo >= -32768 && dt->hi <= 32767)
        return PX_I16;
    if (dt->lo >= -2147483648.0 && dt->hi <= 2147483647.0)
        return PX_I32;
    return PX_F64;
}

static struct ev_node *node_new(struct ev_ctx *x, enum node_op op)
{
    struct ev_node *n = eval_alloc(x, sizeof *n);
    if (n)
        n->op = op;
    return n;
}

static struct ev_image *image_new(struct ev_ctx *x, int nbands)
{
    struct ev_image *img = eval_alloc(x, sizeof *img);
    if (!img || !(img->bands = eval_alloc(x, sizeof *img->bands * (size_t)(nbands + 1))))
        return NULL;
    img->nbands = nbands;
    img->time_start = INT64_MIN;
    return img;
}

static struct ev_value *image_value(struct ev_ctx *x, struct ev_image *img)
{
    struct ev_value *v = img ? ev_new(x, EV_IMAGE) : NULL;
    if (v)
        v->img = img;
    return v;
}

/* A copy that keeps properties, footprint and time but not the asset id. */
static struct ev_image *image_derive(struct ev_ctx *x, const struct ev_image *src, int nbands)
{
    struct ev_image *img = image_new(x, nbands);
    if (!img)
        return NULL;
    img->props = src->props;
    img->footprint = src->footprint;
    img->time_start = src->time_start;
    return img;
}

struct ev_value *eval_load_image(struct ev_ctx *x, const struct cat_image *ci)
{
    struct ev_image *img = image_new(x, ci->nbands);
    json_object *props = NULL, *fp = NULL, *t = NULL;
    int i;

    if (!img)
        return NULL;
    /* Deep copies: the catalog is shared between threads and json-c
     * caches serialisations inside objects. */
    if (ci->properties && json_object_deep_copy(ci->properties, &props, NULL) != 0)
        return NULL;
    if (!props)
        props = json_object_new_object();
    if (!eval_own_json(x, props))
        return NULL;
    if (!json_object_object_get_ex(props, "system:time_start", &t) && (ci->start_ms || ci->end_ms)) {
        json_object_object_add(props, "system:time_start", json_object_new_int64(ci->start_ms));
        json_object_object_add(props, "system:time_end", json_object_new_int64(ci->end_ms));
    }
    if (json_object_object_get_ex(props, "system:time_start", &t))
        img->time_start = json_object_get_int64(t);
    if (ci->footprint) {
        if (json_object_deep_copy(ci->footprint, &fp, NULL) != 0 || !eval_own_json(x, fp))
            return NULL;
    }
    /* The system properties EE gives every stored image: its id and version
     * (getInfo shows them as "id" and "version"), its stored size and its
     * footprint as a LinearRing (the outer ring of the polygon). */
    json_object_object_add(props, "system:id", json_object_new_string(ci->id));
    json_object_object_add(props, "system:version", json_object_new_int64(ci->version_us));
    json_object_object_add(props, "system:asset_size", json_object_new_int64(ci->size_bytes));
    if (fp) {
        json_object *coords = NULL, *ring, *lr;
        if (json_object_object_get_ex(fp, "coordinates", &coords) &&
            json_object_is_type(coords, json_type_array) &&
            (ring = json_object_array_get_idx(coords, 0)) != NULL &&
            (lr = json_object_new_object()) != NULL) {
            json_object_object_add(lr, "type", json_object_new_string("LinearRing"));
            json_object_object_add(lr, "coordinates", json_object_get(ring));
            json_object_object_add(props, "system:footprint", lr);
        }
    }
    img->props = props;
    img->footprint = fp;
    img->id = ci->id;
    for (i = 0; i < ci->nbands; i++) {
        struct ev_band *b = &img->bands[i];
        const struct ee_grid *g = &ci->bands[i].grid;
        snprintf(b->id, sizeof b->id, "%s", ci->bands[i].id);
        b->dt = eval_px_dtype(ci->bands[i].type);
        snprintf(b->proj.crs, sizeof b->proj.crs, "%s", g->crs);
        memcpy(b->proj.affine, g->affine, sizeof b->proj.affine);
        b->proj.width = g->width;
        b->proj.height = g->height;
        if (!(b->node = node_new(x, NODE_LOAD)))
            return NULL;
        b->node->img = ci;
        b->node->band = i;
    }
    return image_value(x, img);
}

static struct ev_image *constant_image(struct ev_ctx *x, double v)
{
    struct ev_image *img = image_new(x, 1);
    if (!img || !(img->props = eval_own_json(x, json_object_new_object())) ||
        !(img->bands[0].node = node_new(x, NODE_CONST)))
        return NULL;
    snprintf(img->bands[0].id, sizeof img->bands[0].id, "constant");
    img->bands[0].node->value = v;
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        img->bands[0].dt.prec = EV_INT;
        img->bands[0].dt.lo = img->bands[0].dt.hi = v;
    } else {
        img->bands[0].dt = eval_px_dtype(PX_F32);
    }
    return img;
}

int ev_image_arg(struct ev_ctx *x, const struct ev_args *a, const char *name, int required,
                 struct ev_image **out, struct errbuf *e)
{
    struct ev_value *v = ev_arg(a, name);
    *out = NULL;
    if (!v || v->kind == EV_NULL)
        return required ? err_set(e, ERR_USAGE, "%s: Parameter '%s' is required.", a->fname, name)
                        : 0;
    if (v->kind == EV_NUM) {   /* the server promotes numbers, like the clients do */
        if (!(*out = constant_image(x, v->num)))
            return NOMEM();
        return 0;
    }
    if (v->kind != EV_IMAGE)
        return ev_type_error(e, a, name, "Image<unknown bands>", v);
    *out = v->img;
    return 0;
}

/* ---------------------------------------------------------------- load */

static int f_load(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o, struct errbuf *e)
{
    struct ev_value *id;
    const struct cat_image *ci;
    int rc = ev_require(a, "id", &id, e);
    if (rc)
        return rc;
    if (id->kind != EV_STR)
        return ev_type_error(e, a, "id", "String", id);
    if (!(ci = catalog_image(eval_catalog(x), id->str)))
        return err_set(e, ERR_USAGE, "Image.load: Image asset '%s' not found (does not exist or "
                       "caller does not have access).", id->str);
    return (*o = eval_load_image(x, ci)) ? 0 : NOMEM();
}

static int f_constant(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_value *v;
    struct ev_image *img;
    int rc = ev_require(a, "value", &v, e), i;
    if (rc)
        return rc;
    if (v->kind == EV_NUM)
        return (*o = image_value(x, constant_image(x, v->num))) ? 0 : NOMEM();
    if (v->kind != EV_LIST || v->n == 0)
        return ev_type_error(e, a, "value", "Object", v);
    if (v->n > EV_MAX_BANDS)
        return err_set(e, ERR_USAGE, "Image.constant: Too many bands (%d).", v->n);
    if (!(img = image_new(x, v->n)) || !(img->props = eval_own_json(x, json_object_new_object())))
        return NOMEM();
    for (i = 0; i < v->n; i++) {
        struct ev_image *one;
        if (v->items[i]->kind != EV_NUM)
            return ev_type_error(e, a, "value", "List<Number>", v->items[i]);
        if (!(one = constant_image(x, v->items[i]->num)))
            return NOMEM();
        img->bands[i] = one->bands[0];
        snprintf(img->bands[i].id, sizeof img->bands[i].id, "constant_%d", i);
    }
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

/* -------------------------------------------------------------- select */

/* EE matches band selectors as regular expressions against whole names. */
static int compile_selector(regex_t *re, const char *pattern, struct errbuf *e, const char *fname)
{
    char buf[300];
    if (snprintf(buf, sizeof buf, "^(%s)$", pattern) >= (int)sizeof buf)
        return err_set(e, ERR_USAGE, "%s: Pattern too long.", fname);
    if (regcomp(re, buf, REG_EXTENDED | REG_NOSUB) != 0)
        return err_set(e, ERR_USAGE, "%s: Invalid regular expression '%s'.", fname, pattern);
    return 0;
}

static int select_bands(struct ev_ctx *x, const struct ev_args *a, const struct ev_image *in,
                        const struct ev_value *sel, const struct ev_value *names,
                        struct ev_value **o, struct errbuf *e)
{
    struct ev_image *img;
    int *pick, npick = 0, i, k, m;

    if ((long long)in->nbands * (sel->n ? sel->n : 1) > EV_MAX_SELECTED)
        return err_set(e, ERR_USAGE, "%s: Too many band selections.", a->fname);
    if (!(pick = eval_alloc(x, sizeof *pick * (size_t)(in->nbands * (sel->n ? sel->n : 1) + 1))))
        return NOMEM();
    for (i = 0; i < sel->n; i++) {
        const struct ev_value *s = sel->items[i];
        regex_t re;
        int rc;
        if (s->kind == EV_NUM) {
            if (!(s->num >= 0 && s->num < in->nbands))
                return err_set(e, ERR_USAGE, "%s: Band index out of bounds: %g (the image has %d "
                               "bands).", a->fname, s->num, in->nbands);
            pick[npick++] = (int)s->num;
            continue;
        }
        if (s->kind != EV_STR)
            return ev_type_error(e, a, "bandSelectors", "List<Object>", s);
        if (in->nbands == 0)
            return err_set(e, ERR_USAGE, "%s: Band pattern '%s' was applied to an Image with no "
                           "bands.", a->fname, s->str);
        if ((rc = compile_selector(&re, s->str, e, a->fname)) != 0)
            return rc;
        for (k = 0, m = 0; k < in->nbands; k++)
            if (regexec(&re, in->bands[k].id, 0, NULL, 0) == 0) {
                pick[npick++] = k;
                m++;
            }
        regfree(&re);
        if (!m)
            return err_set(e, ERR_USAGE, "%s: Pattern '%s' did not match any bands.", a->fname,
                           s->str);
    }
    if (names && names->n != npick)
        return err_set(e, ERR_USAGE, "%s: Selected %d bands but %d new names were given.",
                       a->fname, npick, names->n);
    if (!(img = image_derive(x, in, npick)))
        return NOMEM();
    /* A selection of whole loaded bands is still the asset for getInfo's id. */
    img->id = in->id;
    for (i = 0; i < npick; i++) {
        img->bands[i] = in->bands[pick[i]];
        if (names) {
            if (names->items[i]->kind != EV_STR)
                return ev_type_error(e, a, "newNames", "List<String>", names->items[i]);
            snprintf(img->bands[i].id, sizeof img->bands[i].id, "%s", names->items[i]->str);
        }
    }
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

static int f_select(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                    struct errbuf *e)
{
    struct ev_image *in;
    struct ev_value *sel, *names = ev_arg(a, "newNames");
    int rc;
    if ((rc = ev_image_arg(x, a, "input", 1, &in, e)) || (rc = ev_require(a, "bandSelectors", &sel, e)))
        return rc;
    if (sel->kind == EV_STR || sel->kind == EV_NUM) {
        struct ev_value *l = ev_list(x, 1);
        if (!l)
            return NOMEM();
        l->items[0] = sel;
        sel = l;
    }
    if (sel->kind != EV_LIST)
        return ev_type_error(e, a, "bandSelectors", "List<Object>", sel);
    if (names && names->kind == EV_NULL)
        names = NULL;
    if (names && names->kind != EV_LIST)
        return ev_type_error(e, a, "newNames", "List<String>", names);
    return select_bands(x, a, in, sel, names, o, e);
}

static int f_rename(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                    struct errbuf *e)
{
    struct ev_image *in, *img;
    struct ev_value *names;
    int rc, i;
    if ((rc = ev_image_arg(x, a, "input", 1, &in, e)) || (rc = ev_require(a, "names", &names, e)))
        return rc;
    if (names->kind == EV_STR) {
        struct ev_value *l = ev_list(x, 1);
        if (!l)
            return NOMEM();
        l->items[0] = names;
        names = l;
    }
    if (names->kind != EV_LIST)
        return ev_type_error(e, a, "names", "List<String>", names);
    if (names->n != in->nbands)
        return err_set(e, ERR_USAGE, "Image.rename: Can't rename %d band%s to %d name%s.",
                       in->nbands, in->nbands == 1 ? "" : "s", names->n, names->n == 1 ? "" : "s");
    if (!(img = image_derive(x, in, in->nbands)))
        return NOMEM();
    for (i = 0; i < in->nbands; i++) {
        if (names->items[i]->kind != EV_STR)
            return ev_type_error(e, a, "names", "List<String>", names->items[i]);
        img->bands[i] = in->bands[i];
        snprintf(img->bands[i].id, sizeof img->bands[i].id, "%s", names->items[i]->str);
    }
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

static int f_add_bands(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    struct ev_image *d, *s, *img;
    struct ev_value *ow = ev_arg(a, "overwrite");
    int rc, i, k, n = 0, overwrite = ow && ow->kind == EV_BOOL && ow->b;
    if ((rc = ev_image_arg(x, a, "dstImg", 1, &d, e)) || (rc = ev_image_arg(x, a, "srcImg", 1, &s, e)))
        return rc;
    if (d->nbands + s->nbands > EV_MAX_BANDS)
        return err_set(e, ERR_USAGE, "Image.addBands: Too many bands (%d).",
                       d->nbands + s->nbands);
    if (!(img = image_derive(x, d, d->nbands + s->nbands)))
        return NOMEM();
    for (i = 0; i < d->nbands; i++)
        img->bands[n++] = d->bands[i];
    for (i = 0; i < s->nbands; i++) {
        for (k = 0; k < n; k++)
            if (strcmp(img->bands[k].id, s->bands[i].id) == 0)
                break;
        if (k < n && overwrite) {
            img->bands[k] = s->bands[i];
            continue;
        }
        img->bands[n] = s->bands[i];
        if (k < n) {
            /* A clashing name gets the first free "_1", "_2", ... suffix,
             * as EE does for ee.Image.cat(ee.Image(1), ee.Image(2)). */
            int suffix, j;
            for (suffix = 1;; suffix++) {
                snprintf(img->bands[n].id, sizeof img->bands[n].id, "%.50s_%d",
                         s->bands[i].id, suffix);
                for (j = 0; j < n; j++)
                    if (strcmp(img->bands[j].id, img->bands[n].id) == 0)
                        break;
                if (j == n)
                    break;
            }
        }
        n++;
    }
    img->nbands = n;
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

/* ---------------------------------------------------------- arithmetic */

static struct ev_dtype dt_binary(enum node_op op, struct ev_dtype p, struct ev_dtype q)
{
    struct ev_dtype d;
    double c[4];
    int i;

    if (op >= NODE_LT && op <= NODE_OR) {
        d.prec = EV_INT;   /* booleans: int [0, 1], sent as uint8 */
        d.lo = 0;
        d.hi = 1;
        return d;
    }
    d.prec = p.prec > q.prec ? p.prec : q.prec;
    if (op == NODE_BITAND) {
        d.prec = EV_INT;
        if (p.lo >= 0 && q.lo >= 0 && p.prec == EV_INT && q.prec == EV_INT) {
            d.lo = 0;
            d.hi = fmin(p.hi, q.hi);
        } else {
            d = eval_px_dtype(PX_I32);
        }
        return d;
    }
    if ((op == NODE_DIV || op == NODE_ND) && d.prec == EV_INT)
        d.prec = EV_FLOAT;
    if (d.prec != EV_INT)
        return eval_px_dtype(d.prec == EV_FLOAT ? PX_F32 : PX_F64);
    switch (op) {
    case NODE_ADD: d.lo = p.lo + q.lo; d.hi = p.hi + q.hi; break;
    case NODE_SUB: d.lo = p.lo - q.hi; d.hi = p.hi - q.lo; break;
    default:
        c[0] = p.lo * q.lo; c[1] = p.lo * q.hi; c[2] = p.hi * q.lo; c[3] = p.hi * q.hi;
        d.lo = d.hi = c[0];
        for (i = 1; i < 4; i++) {
            d.lo = fmin(d.lo, c[i]);
            d.hi = fmax(d.hi, c[i]);
        }
    }
    return d;
}

static const struct ev_proj *first_proj(const struct ev_band *p, const struct ev_band *q)
{
    return p->proj.crs[0] ? &p->proj : &q->proj;
}

/* Image.add and its kin (a->op: NODE_ADD ...). EE's band matching: one
 * band against all, or pairwise; names come from the longer input, or
 * image1's when equal. */
static int binary_image(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    const enum node_op op = (enum node_op)a->op;
    struct ev_image *p, *q, *img;
    int rc, i, n;
    if ((rc = ev_image_arg(x, a, "image1", 1, &p, e)) || (rc = ev_image_arg(x, a, "image2", 1, &q, e)))
        return rc;
    if (p->nbands != q->nbands && p->nbands != 1 && q->nbands != 1)
        return err_set(e, ERR_USAGE, "%s: Images must contain the same number of bands or only "
                       "1 band. Got %d and %d.", a->fname, p->nbands, q->nbands);
    n = p->nbands > q->nbands ? p->nbands : q->nbands;
    if (!(img = image_new(x, n)) || !(img->props = eval_own_json(x, json_object_new_object())))
        return NOMEM();
    for (i = 0; i < n; i++) {
        const struct ev_band *bp = &p->bands[p->nbands == 1 ? 0 : i];
        const struct ev_band *bq = &q->bands[q->nbands == 1 ? 0 : i];
        struct ev_band *b = &img->bands[i];
        snprintf(b->id, sizeof b->id, "%s", (q->nbands > p->nbands ? bq : bp)->id);
        b->dt = dt_binary(op, bp->dt, bq->dt);
        b->proj = *first_proj(bp, bq);
        if (!(b->node = node_new(x, op)))
            return NOMEM();
        b->node->a = bp->node;
        b->node->b = bq->node;
    }
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

static int find_band(const struct ev_image *img, const char *id)
{
    int i;
    for (i = 0; i < img->nbands; i++)
        if (strcmp(img->bands[i].id, id) == 0)
            return i;
    return -1;
}

static int f_normalized_difference(struct ev_ctx *x, const struct ev_args *a,
                                   struct ev_value **o, struct errbuf *e)
{
    struct ev_image *in, *img;
    struct ev_value *names = ev_arg(a, "bandNames");
    int rc, k[2] = {0, 1}, i;
    if ((rc = ev_image_arg(x, a, "input", 1, &in, e)))
        return rc;
    if (names && names->kind != EV_NULL) {
        if (names->kind != EV_LIST || names->n != 2)
            return err_set(e, ERR_USAGE, "Image.normalizedDifference: Need exactly two band "
                           "names.");
        for (i = 0; i < 2; i++) {
            if (names->items[i]->kind != EV_STR)
                return ev_type_error(e, a, "bandNames", "List<String>", names->items[i]);
            if ((k[i] = find_band(in, names->items[i]->str)) < 0)
                return err_set(e, ERR_USAGE, "Image.normalizedDifference: Pattern '%s' did not "
                               "match any bands.", names->items[i]->str);
        }
    } else if (in->nbands < 2) {
        return err_set(e, ERR_USAGE, "Image.normalizedDifference: Need at least two bands, the "
                       "image has %d.", in->nbands);
    }
    if (!(img = image_new(x, 1)) || !(img->props = eval_own_json(x, json_object_new_object())))
        return NOMEM();
    snprintf(img->bands[0].id, sizeof img->bands[0].id, "nd");
    img->bands[0].dt = dt_binary(NODE_ND, in->bands[k[0]].dt, in->bands[k[1]].dt);
    img->bands[0].proj = *first_proj(&in->bands[k[0]], &in->bands[k[1]]);
    if (!(img->bands[0].node = node_new(x, NODE_ND)))
        return NOMEM();
    img->bands[0].node->a = in->bands[k[0]].node;
    img->bands[0].node->b = in->bands[k[1]].node;
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

/* --------------------------------------------------------------- masks */

/* Widens d so it also holds the values of `by`: the higher precision wins;
 * two integer types take the union of their ranges. */
static void dtype_widen(struct ev_dtype *d, const struct ev_dtype *by)
{
    if (by->prec > d->prec) {
        *d = *by;
    } else if (d->prec == EV_INT) {   /* EV_INT is the lowest: by is an int too */
        d->lo = fmin(d->lo, by->lo);
        d->hi = fmax(d->hi, by->hi);
    }
}

/* Image.updateMask(image, mask) (a->op NODE_UPDMASK) and
 * Image.unmask(input, value?) (NODE_UNMASK). */
static int mask_like(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                     struct errbuf *e)
{
    const enum node_op op = (enum node_op)a->op;
    const int required = op == NODE_UPDMASK;
    const char *in_name = required ? "image" : "input", *other_name = required ? "mask" : "value";
    struct ev_image *in, *m, *img;
    struct ev_geom *foot = NULL;
    int rc, i;
    if ((rc = ev_image_arg(x, a, in_name, 1, &in, e)) ||
        (rc = ev_image_arg(x, a, other_name, required, &m, e)))
        return rc;
    if (!m && !(m = constant_image(x, 0)))   /* unmask() fills with 0 */
        return NOMEM();
    if (m->nbands != 1 && m->nbands != in->nbands)
        return err_set(e, ERR_USAGE, "%s: Mask must have the same number of bands as the image "
                       "or 1 band. Got %d and %d.", a->fname, in->nbands, m->nbands);
    if (op == NODE_UNMASK && in->footprint) {
        /* sameFootprint (default true): pixels outside the input's
         * footprint stay masked. */
        struct ev_value *sf = ev_arg(a, "sameFootprint");
        if (!(sf && sf->kind == EV_BOOL && !sf->b) &&
            !(foot = geom_from_geojson(x, in->footprint, 0, e)))
            return ERR_USAGE;
    }
    if (!(img = image_derive(x, in, in->nbands)))
        return NOMEM();
    for (i = 0; i < in->nbands; i++) {
        const struct ev_band *mb = &m->bands[m->nbands == 1 ? 0 : i];
        img->bands[i] = in->bands[i];
        if (!(img->bands[i].node = node_new(x, op)))
            return NOMEM();
        img->bands[i].node->a = in->bands[i].node;
        img->bands[i].node->b = mb->node;
        img->bands[i].node->geom = foot;
        if (op == NODE_UNMASK)   /* the fill value widens the range */
            dtype_widen(&img->bands[i].dt, &mb->dt);
    }
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

static int f_where(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                   struct errbuf *e)
{
    struct ev_image *in, *t, *v, *img;
    int rc, i;
    if ((rc = ev_image_arg(x, a, "input", 1, &in, e)) || (rc = ev_image_arg(x, a, "test", 1, &t, e)) ||
        (rc = ev_image_arg(x, a, "value", 1, &v, e)))
        return rc;
    if ((t->nbands != 1 && t->nbands != in->nbands) || (v->nbands != 1 && v->nbands != in->nbands))
        return err_set(e, ERR_USAGE, "Image.where: test and value must have 1 band or as many "
                       "bands as the input (%d).", in->nbands);
    if (!(img = image_derive(x, in, in->nbands)))
        return NOMEM();
    for (i = 0; i < in->nbands; i++) {
        const struct ev_band *vb = &v->bands[v->nbands == 1 ? 0 : i];
        img->bands[i] = in->bands[i];
        if (!(img->bands[i].node = node_new(x, NODE_WHERE)))
            return NOMEM();
        img->bands[i].node->a = in->bands[i].node;
        img->bands[i].node->b = t->bands[t->nbands == 1 ? 0 : i].node;
        img->bands[i].node->c = vb->node;
        dtype_widen(&img->bands[i].dt, &vb->dt);   /* the replacement values widen it */
    }
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

/* Image.mask(image, mask?): with a mask it is updateMask; without, the
 * image's mask as an unmasked image (0 masked, 1 valid), one band per
 * band, of type float [0, 1] as EE reports it. */
static int f_mask(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o, struct errbuf *e)
{
    struct ev_value *m = ev_arg(a, "mask");
    struct ev_image *in, *img;
    int rc, i;

    if (m && m->kind != EV_NULL) {
        struct ev_args update = *a;
        update.op = NODE_UPDMASK;
        return mask_like(x, &update, o, e);
    }
    if ((rc = ev_image_arg(x, a, "image", 1, &in, e)))
        return rc;
    if (!(img = image_derive(x, in, in->nbands)))
        return NOMEM();
    for (i = 0; i < in->nbands; i++) {
        img->bands[i] = in->bands[i];
        img->bands[i].dt.prec = EV_FLOAT;
        img->bands[i].dt.lo = 0;
        img->bands[i].dt.hi = 1;
        if (!(img->bands[i].node = node_new(x, NODE_GETMASK)))
            return NOMEM();
        img->bands[i].node->a = in->bands[i].node;
    }
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

static int geometry_arg(const struct ev_args *a, const char *name, int required,
                        struct ev_geom **g, struct errbuf *e)
{
    struct ev_value *v = ev_arg(a, name);
    *g = NULL;
    if (!v || v->kind == EV_NULL)
        return required ? err_set(e, ERR_USAGE, "%s: Parameter '%s' is required.", a->fname, name)
                        : 0;
    if ((v->kind != EV_GEOM && v->kind != EV_FEATURE) || !v->geom)
        return ev_type_error(e, a, name, "Geometry", v);
    *g = v->geom;
    return 0;
}

static int f_clip(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o, struct errbuf *e)
{
    struct ev_image *in, *img;
    struct ev_geom *g;
    int rc, i;
    if ((rc = ev_image_arg(x, a, "input", 1, &in, e)) || (rc = geometry_arg(a, "geometry", 1, &g, e)))
        return rc;
    if (!(img = image_derive(x, in, in->nbands)))
        return NOMEM();
    img->footprint = g->geojson;
    for (i = 0; i < in->nbands; i++) {
        img->bands[i] = in->bands[i];
        if (!(img->bands[i].node = node_new(x, NODE_CLIP)))
            return NOMEM();
        img->bands[i].node->a = in->bands[i].node;
        img->bands[i].node->geom = g;
    }
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

/* --------------------------------------------------------------- casts */

/* Image.toFloat and its kin: a->op is the enum px_type cast to. */
static int cast_image(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    const enum px_type t = (enum px_type)a->op;
    struct ev_image *in, *img;
    int rc, i;
    if ((rc = ev_image_arg(x, a, "value", 1, &in, e)))
        return rc;
    if (!(img = image_derive(x, in, in->nbands)))
        return NOMEM();
    for (i = 0; i < in->nbands; i++) {
        img->bands[i] = in->bands[i];
        img->bands[i].dt = eval_px_dtype(t);
        if (!(img->bands[i].node = node_new(x, NODE_CAST)))
            return NOMEM();
        img->bands[i].node->a = in->bands[i].node;
        img->bands[i].node->cast = img->bands[i].dt;
        img->bands[i].node->cast_px = t;
    }
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

/* ---------------------------------------------------------- projections */

/* crs + crsTransform or scale -> a grid (origin 0,0 for scale). Scale is in
 * metres; for geographic CRSs it is converted at the equator. */
static int grid_args(struct ev_ctx *x, const struct ev_args *a, struct ev_proj *p,
                     struct errbuf *e)
{
    struct ev_value *sc = ev_arg(a, "scale");
    int rc = ev_proj_from(x, a, "crs", p, e);
    if (rc)
        return rc;
    if ((rc = ev_affine_from(a, "crsTransform", p->affine, e)) < 0)
        return rc;
    if (sc && sc->kind != EV_NULL) {
        double s;
        if (sc->kind != EV_NUM || sc->num <= 0)
            return err_set(e, ERR_USAGE, "%s: scale must be a positive number.", a->fname);
        s = sc->num;
        if (eval_crs_geographic(x, p->crs) == 1)
            s /= METERS_PER_DEGREE;
        p->affine[0] = s;
        p->affine[4] = -s;
        p->affine[1] = p->affine[2] = p->affine[3] = p->affine[5] = 0;
    }
    if (p->affine[0] * p->affine[4] - p->affine[1] * p->affine[3] == 0)
        return err_set(e, ERR_USAGE, "%s: The transform is not invertible.", a->fname);
    return 0;
}

static int f_reproject(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    struct ev_image *in, *img;
    struct ev_proj p;
    int rc, i;
    if ((rc = ev_image_arg(x, a, "image", 1, &in, e)) || (rc = grid_args(x, a, &p, e)))
        return rc;
    if (!(img = image_derive(x, in, in->nbands)))
        return NOMEM();
    for (i = 0; i < in->nbands; i++) {
        img->bands[i] = in->bands[i];
        img->bands[i].proj = p;
        if (!(img->bands[i].node = node_new(x, NODE_REPROJECT)))
            return NOMEM();
        img->bands[i].node->a = in->bands[i].node;
        img->bands[i].node->grid = p;
    }
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

static int f_set_default_projection(struct ev_ctx *x, const struct ev_args *a,
                                     struct ev_value **o, struct errbuf *e)
{
    struct ev_image *in, *img;
    struct ev_proj p;
    int rc, i;
    if ((rc = ev_image_arg(x, a, "image", 1, &in, e)) || (rc = grid_args(x, a, &p, e)))
        return rc;
    if (!(img = image_derive(x, in, in->nbands)))
        return NOMEM();
    for (i = 0; i < in->nbands; i++) {
        img->bands[i] = in->bands[i];
        img->bands[i].proj = p;
    }
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

/* The bounds of g in proj's CRS (lon/lat corners transformed densely). */
static int geom_bounds_in(struct ev_ctx *x, const struct ev_geom *g, const char *crs, double *b,
                          struct errbuf *e)
{
    void *ct;
    double xs[41 * 4], ys[41 * 4];
    int i, n = 0, ok[41 * 4];

    if (strcmp(crs, "EPSG:4326") == 0) {
        memcpy(b, g->bbox, 4 * sizeof *b);
        return 0;
    }
    if (g->src_crs[0] && strcmp(g->src_crs, crs) == 0) {
        /* Given in this CRS (getDownloadURL's crs + crs_transform +
         * dimensions rectangle): its own bounds, not those of its lon/lat box. */
        memcpy(b, g->src_bbox, 4 * sizeof *b);
        return 0;
    }
    if (!(ct = eval_transform(x, "EPSG:4326", crs, e)))
        return ERR_USAGE;
    for (i = 0; i <= 40; i++) {
        double t = i / 40.0;
        double lx = g->bbox[0] + t * (g->bbox[2] - g->bbox[0]);
        double ly = g->bbox[1] + t * (g->bbox[3] - g->bbox[1]);
        xs[n] = lx; ys[n++] = g->bbox[1];
        xs[n] = lx; ys[n++] = g->bbox[3];
        xs[n] = g->bbox[0]; ys[n++] = ly;
        xs[n] = g->bbox[2]; ys[n++] = ly;
    }
    OCTTransformEx(ct, n, xs, ys, NULL, ok);
    b[0] = b[1] = HUGE_VAL;
    b[2] = b[3] = -HUGE_VAL;
    for (i = 0; i < n; i++)
        if (ok[i]) {
            b[0] = fmin(b[0], xs[i]);
            b[1] = fmin(b[1], ys[i]);
            b[2] = fmax(b[2], xs[i]);
            b[3] = fmax(b[3], ys[i]);
        }
    if (b[0] > b[2])
        return err_set(e, ERR_USAGE, "Unable to transform the geometry to %s.", crs);
    return 0;
}

int eval_geom_bounds(struct ev_ctx *x, const struct ev_geom *g, const char *crs, double *b,
                     struct errbuf *e)
{
    return geom_bounds_in(x, g, crs, b, e);
}

static int f_clip_to_bounds_and_scale(struct ev_ctx *x, const struct ev_args *a,
                                      struct ev_value **o, struct errbuf *e)
{
    struct ev_image *in, *img;
    struct ev_geom *g;
    struct ev_proj p;
    double b[4], w, h, sx, sy, wd, ht, md, sc;
    int rc, i;

    if ((rc = ev_image_arg(x, a, "input", 1, &in, e)) || (rc = geometry_arg(a, "geometry", 1, &g, e)))
        return rc;
    memset(&p, 0, sizeof p);
    if (in->nbands > 0 && in->bands[0].proj.crs[0])
        snprintf(p.crs, sizeof p.crs, "%s", in->bands[0].proj.crs);
    else
        snprintf(p.crs, sizeof p.crs, "EPSG:4326");
    if ((rc = geom_bounds_in(x, g, p.crs, b, e)))
        return rc;
    w = b[2] - b[0];
    h = b[3] - b[1];
    wd = ev_arg(a, "width") && ev_arg(a, "width")->kind == EV_NUM ? ev_arg(a, "width")->num : 0;
    ht = ev_arg(a, "height") && ev_arg(a, "height")->kind == EV_NUM ? ev_arg(a, "height")->num : 0;
    md = ev_arg(a, "maxDimension") && ev_arg(a, "maxDimension")->kind == EV_NUM
             ? ev_arg(a, "maxDimension")->num : 0;
    sc = ev_arg(a, "scale") && ev_arg(a, "scale")->kind == EV_NUM ? ev_arg(a, "scale")->num : 0;
    if (wd > 0 && ht > 0) {
        sx = w / wd;
        sy = h / ht;
    } else if (md > 0) {
        sx = sy = fmax(w, h) / md;
    } else if (sc > 0) {
        sx = sy = eval_crs_geographic(x, p.crs) == 1 ? sc / METERS_PER_DEGREE : sc;
    } else if (in->nbands > 0 && in->bands[0].proj.crs[0]) {
        sx = fabs(in->bands[0].proj.affine[0]);
        sy = fabs(in->bands[0].proj.affine[4]);
    } else {
        return err_set(e, ERR_USAGE, "Image.clipToBoundsAndScale: One of width/height, "
                       "maxDimension or scale is required.");
    }
    if (!(sx > 0) || !(sy > 0))
        return err_set(e, ERR_USAGE, "Image.clipToBoundsAndScale: The geometry is empty.");
    if (!(w / sx < 1e9 && h / sy < 1e9))
        return err_set(e, ERR_USAGE, "Image.clipToBoundsAndScale: The output would be too large.");
    p.affine[0] = sx;
    p.affine[2] = b[0];
    p.affine[4] = -sy;
    p.affine[5] = b[3];
    p.width = (long)ceil(w / sx - 1e-9);
    p.height = (long)ceil(h / sy - 1e-9);
    if (p.width < 1)
        p.width = 1;
    if (p.height < 1)
        p.height = 1;
    if (!(img = image_derive(x, in, in->nbands)))
        return NOMEM();
    for (i = 0; i < in->nbands; i++) {
        img->bands[i] = in->bands[i];
        img->bands[i].proj = p;
        if (!(img->bands[i].node = node_new(x, NODE_REPROJECT)))
            return NOMEM();
        img->bands[i].node->a = in->bands[i].node;
        img->bands[i].node->grid = p;
    }
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

static int f_band_names(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    struct ev_image *in;
    int rc, i;
    if ((rc = ev_image_arg(x, a, "image", 1, &in, e)))
        return rc;
    if (!(*o = ev_list(x, in->nbands)))
        return NOMEM();
    for (i = 0; i < in->nbands; i++)
        if (!((*o)->items[i] = ev_str(x, in->bands[i].id)))
            return NOMEM();
    return 0;
}

static int f_image_projection(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                              struct errbuf *e)
{
    struct ev_image *in;
    int rc;
    if ((rc = ev_image_arg(x, a, "image", 1, &in, e)))
        return rc;
    if (!(*o = ev_new(x, EV_PROJ)))
        return NOMEM();
    if (in->nbands > 0 && in->bands[0].proj.crs[0]) {
        (*o)->proj = in->bands[0].proj;
    } else {
        snprintf((*o)->proj.crs, sizeof (*o)->proj.crs, "EPSG:4326");
        (*o)->proj.affine[0] = 1;
        (*o)->proj.affine[4] = 1;
    }
    (*o)->proj.width = (*o)->proj.height = 0;
    return 0;
}

const struct ev_algo ev_algos_image[] = {
    {"Image.load", f_load, 0}, {"Image.constant", f_constant, 0}, {"Image.select", f_select, 0},
    {"Image.rename", f_rename, 0}, {"Image.addBands", f_add_bands, 0},
    {"Image.add", binary_image, NODE_ADD}, {"Image.subtract", binary_image, NODE_SUB},
    {"Image.multiply", binary_image, NODE_MUL}, {"Image.divide", binary_image, NODE_DIV},
    {"Image.lt", binary_image, NODE_LT}, {"Image.gt", binary_image, NODE_GT},
    {"Image.lte", binary_image, NODE_LTE}, {"Image.gte", binary_image, NODE_GTE},
    {"Image.eq", binary_image, NODE_EQ}, {"Image.neq", binary_image, NODE_NEQ},
    {"Image.and", binary_image, NODE_AND}, {"Image.or", binary_image, NODE_OR},
    {"Image.bitwiseAnd", binary_image, NODE_BITAND},
    {"Image.normalizedDifference", f_normalized_difference, 0},
    {"Image.updateMask", mask_like, NODE_UPDMASK}, {"Image.mask", f_mask, 0},
    {"Image.unmask", mask_like, NODE_UNMASK}, {"Image.clip", f_clip, 0},
    {"Image.where", f_where, 0},
    /* EE's short cast names (Image.float, Image.int, ...) are the toX ones. */
    {"Image.toFloat", cast_image, PX_F32}, {"Image.float", cast_image, PX_F32},
    {"Image.toDouble", cast_image, PX_F64}, {"Image.double", cast_image, PX_F64},
    {"Image.toInt8", cast_image, PX_I8}, {"Image.int8", cast_image, PX_I8},
    {"Image.toUint8", cast_image, PX_U8}, {"Image.uint8", cast_image, PX_U8},
    {"Image.toInt16", cast_image, PX_I16}, {"Image.int16", cast_image, PX_I16},
    {"Image.toUint16", cast_image, PX_U16}, {"Image.uint16", cast_image, PX_U16},
    {"Image.toInt32", cast_image, PX_I32}, {"Image.int32", cast_image, PX_I32},
    {"Image.toUint32", cast_image, PX_U32}, {"Image.uint32", cast_image, PX_U32},
    {"Image.toInt", cast_image, PX_I32}, {"Image.int", cast_image, PX_I32},
    {"Image.toByte", cast_image, PX_U8}, {"Image.byte", cast_image, PX_U8},
    {"Image.toShort", cast_image, PX_I16}, {"Image.short", cast_image, PX_I16},
    {"Image.reproject", f_reproject, 0},
    {"Image.setDefaultProjection", f_set_default_projection, 0},
    {"Image.clipToBoundsAndScale", f_clip_to_bounds_and_scale, 0},
    {"Image.bandNames", f_band_names, 0}, {"Image.projection", f_image_projection, 0},
    {NULL, NULL, 0},
};
