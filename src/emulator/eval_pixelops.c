/*
 * Per-pixel image algorithms beyond the four arithmetic operators: math
 * functions (sqrt, log, pow, min, ...), bitwise operators and shifts,
 * unitScale and clamp, resampling (Image.resample), terrain (slope, aspect,
 * hillshade), ImageCollection.toBands and Image.parseExpression (the text
 * itself is parsed in exprparse.c). Nothing here touches pixels: each
 * function builds pixel nodes that render.c evaluates.
 *
 * Type rules (see docs/emulator.md "Pixel operations"):
 *  - transcendental functions (sqrt, exp, log, trig, pow, atan2, hypot)
 *    and unitScale give float, double for a double input;
 *  - abs, signum, not, floor/ceil/round keep integers integers with the
 *    exact result range, and keep float and double as they are;
 *  - min, max and mod of two ints are int with the exact range, otherwise
 *    the wider precision;
 *  - bitwise operators and shifts give int with the range their result can
 *    take (64-bit beyond: sent as float64, as every wide int band).
 */
#include "emulator/eval_int.h"
#include "emulator/pixelops.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NOMEM() err_set(e, ERR_NOMEM, "out of memory")

/* Metres per degree on EE's sphere (radius 6378137 m). */
#define METERS_PER_DEGREE 111319.49079327357
#define INT64_RANGE 9223372036854775807.0

/* ------------------------------------------------------------- helpers */

static struct ev_node *node_new(struct ev_ctx *x, enum node_op op)
{
    struct ev_node *n = eval_alloc(x, sizeof *n);
    if (n)
        n->op = op;
    return n;
}

/* An image of n bands without properties (what arithmetic gives). */
static struct ev_image *image_new(struct ev_ctx *x, int n)
{
    struct ev_image *img = eval_alloc(x, sizeof *img);
    if (!img || !(img->bands = eval_alloc(x, sizeof *img->bands * (size_t)(n + 1))) ||
        !(img->props = eval_own_json(x, json_object_new_object())))
        return NULL;
    img->nbands = n;
    img->time_start = INT64_MIN;
    return img;
}

/* A copy keeping properties, footprint and time (not the asset id). */
static struct ev_image *image_derive(struct ev_ctx *x, const struct ev_image *src, int n)
{
    struct ev_image *img = image_new(x, n);
    if (!img)
        return NULL;
    img->props = src->props;
    img->footprint = src->footprint;
    img->time_start = src->time_start;
    return img;
}

static int image_out(struct ev_ctx *x, struct ev_image *img, struct ev_value **o,
                     struct errbuf *e)
{
    struct ev_value *v = img ? ev_new(x, EV_IMAGE) : NULL;
    if (!v)
        return NOMEM();
    v->img = img;
    *o = v;
    return 0;
}

static struct ev_dtype real_of(enum ev_prec p)
{
    return eval_px_dtype(p == EV_DOUBLE ? PX_F64 : PX_F32);
}

static struct ev_dtype int_range(double lo, double hi)
{
    struct ev_dtype d;
    d.prec = EV_INT;
    d.lo = lo;
    d.hi = hi;
    return d;
}

static int number_arg(const struct ev_args *a, const char *name, double *out,
                      struct errbuf *e)
{
    struct ev_value *v;
    int rc = ev_require(a, name, &v, e);
    if (rc)
        return rc;
    if (v->kind != EV_NUM)
        return ev_type_error(e, a, name, "Float", v);
    *out = v->num;
    return 0;
}

int ev_invoke(struct ev_ctx *x, const char *name, int depth, struct ev_value **out,
              struct errbuf *e, ...)
{
    const struct ev_algo *algo = ev_find_algo(name);
    const char *names[8];
    struct ev_value *vals[8];
    struct ev_args a;
    va_list ap;
    int n = 0;

    if (!algo)
        return err_set(e, ERR_INTERNAL, "no algorithm %s", name);
    va_start(ap, e);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k || n == 8)
            break;
        names[n] = k;
        vals[n++] = va_arg(ap, struct ev_value *);
    }
    va_end(ap);
    a.fname = name;
    a.n = n;
    a.names = names;
    a.vals = vals;
    a.depth = depth;
    a.op = algo->op;
    return algo->fn(x, &a, out, e);
}

/* ------------------------------------------------------- unary functions */

static struct ev_dtype dt_math1(int fn, struct ev_dtype d)
{
    double lo = d.lo, hi = d.hi;
    switch (fn) {
    case PX_ABS:
        if (d.prec != EV_INT)
            return d;
        return int_range(lo <= 0 && hi >= 0 ? 0 : fmin(fabs(lo), fabs(hi)),
                         fmax(fabs(lo), fabs(hi)));
    case PX_FLOOR: case PX_CEIL: case PX_ROUND: case PX_TRUNC:
        return d;
    case PX_NOT:
        return int_range(0, 1);
    case PX_SIGNUM:
        if (d.prec != EV_INT)
            return d;
        return int_range(lo < 0 ? -1 : lo > 0, hi > 0 ? 1 : hi < 0 ? -1 : 0);
    case PX_BITNOT:
        if (d.prec != EV_INT)
            return int_range(-INT64_RANGE, INT64_RANGE);
        return int_range(-hi - 1, -lo - 1);
    default:
        return real_of(d.prec);
    }
}

static int unary_image(struct ev_ctx *x, const struct ev_image *in, int fn,
                       struct ev_value **o, struct errbuf *e)
{
    struct ev_image *img = image_new(x, in->nbands);
    int i;
    if (!img)
        return NOMEM();
    for (i = 0; i < in->nbands; i++) {
        struct ev_band *b = &img->bands[i];
        *b = in->bands[i];
        b->dt = dt_math1(fn, in->bands[i].dt);
        if (!(b->node = node_new(x, NODE_MATH1)))
            return NOMEM();
        b->node->a = in->bands[i].node;
        b->node->fn = fn;
    }
    return image_out(x, img, o, e);
}

/* Image.sqrt and its kin: a->op is the enum px_fn. */
static int unary_fn(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                    struct errbuf *e)
{
    struct ev_image *in;
    int rc = ev_image_arg(x, a, "value", 1, &in, e);
    return rc ? rc : unary_image(x, in, a->op, o, e);
}

/* ------------------------------------------------------ binary functions */

/* Smallest k with 2^k > v (v >= 0), at most 63. */
static double bits_above(double v)
{
    int k = 0;
    while (k < 63 && ldexp(1.0, k) <= v)
        k++;
    return ldexp(1.0, k);
}

static void range4(double c0, double c1, double c2, double c3, double *lo, double *hi)
{
    *lo = fmin(fmin(c0, c1), fmin(c2, c3));
    *hi = fmax(fmax(c0, c1), fmax(c2, c3));
}

static struct ev_dtype dt_math2(int fn, struct ev_dtype p, struct ev_dtype q)
{
    enum ev_prec prec = p.prec > q.prec ? p.prec : q.prec;
    int ints = p.prec == EV_INT && q.prec == EV_INT;
    double lo, hi, m, b0, b1;

    switch (fn) {
    case PX_XOR:
        return int_range(0, 1);
    case PX_MIN: case PX_MAX:
        if (!ints)
            return real_of(prec);
        return fn == PX_MIN ? int_range(fmin(p.lo, q.lo), fmin(p.hi, q.hi))
                            : int_range(fmax(p.lo, q.lo), fmax(p.hi, q.hi));
    case PX_MOD:
        if (!ints)
            return real_of(prec);
        m = fmax(fabs(q.lo), fabs(q.hi));
        m = m > 0 ? m - 1 : 0;
        return int_range(p.lo < 0 ? fmax(p.lo, -m) : 0, p.hi > 0 ? fmin(p.hi, m) : 0);
    case PX_FLOORDIV:
        if (!ints)
            return real_of(prec);
        m = fmax(fabs(p.lo), fabs(p.hi));
        if (p.lo >= 0 && q.lo >= 0)
            return int_range(0, p.hi);
        return int_range(-m, m);
    case PX_BITOR: case PX_BITXOR:
        if (ints && p.lo >= 0 && q.lo >= 0)
            return int_range(0, bits_above(fmax(p.hi, q.hi)) - 1);
        if (!ints)
            return int_range(-INT64_RANGE, INT64_RANGE);
        m = bits_above(fmax(fmax(fabs(p.lo), p.hi), fmax(fabs(q.lo), q.hi)));
        return int_range(-m, m - 1);
    case PX_LSHIFT: case PX_RSHIFT:
        if (!ints)
            return int_range(-INT64_RANGE, INT64_RANGE);
        b0 = fmin(fmax(q.lo, 0), 63);
        b1 = fmin(fmax(q.hi, 0), 63);
        if (fn == PX_LSHIFT)
            range4(ldexp(p.lo, (int)b0), ldexp(p.lo, (int)b1), ldexp(p.hi, (int)b0),
                   ldexp(p.hi, (int)b1), &lo, &hi);
        else
            range4(floor(ldexp(p.lo, -(int)b0)), floor(ldexp(p.lo, -(int)b1)),
                   floor(ldexp(p.hi, -(int)b0)), floor(ldexp(p.hi, -(int)b1)), &lo, &hi);
        return int_range(fmax(lo, -INT64_RANGE), fmin(hi, INT64_RANGE));
    default:   /* pow, atan2, hypot */
        return real_of(prec);
    }
}

/* EE's band matching: one band against all, or pairwise; names from the
 * longer input, image1's when equal; the first operand's projection. */
static int binary_images(struct ev_ctx *x, const char *fname, const struct ev_image *p,
                         const struct ev_image *q, int fn, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_image *img;
    int i, n;
    if (p->nbands != q->nbands && p->nbands != 1 && q->nbands != 1)
        return err_set(e, ERR_USAGE, "%s: Images must contain the same number of bands or only "
                       "1 band. Got %d and %d.", fname, p->nbands, q->nbands);
    n = p->nbands > q->nbands ? p->nbands : q->nbands;
    if (!(img = image_new(x, n)))
        return NOMEM();
    for (i = 0; i < n; i++) {
        const struct ev_band *bp = &p->bands[p->nbands == 1 ? 0 : i];
        const struct ev_band *bq = &q->bands[q->nbands == 1 ? 0 : i];
        struct ev_band *b = &img->bands[i];
        snprintf(b->id, sizeof b->id, "%s", (q->nbands > p->nbands ? bq : bp)->id);
        b->dt = dt_math2(fn, bp->dt, bq->dt);
        b->proj = bp->proj.crs[0] ? bp->proj : bq->proj;
        if (!(b->node = node_new(x, NODE_MATH2)))
            return NOMEM();
        b->node->a = bp->node;
        b->node->b = bq->node;
        b->node->fn = fn;
    }
    return image_out(x, img, o, e);
}

int ev_image_math2(struct ev_ctx *x, const char *fname, struct ev_value *a, struct ev_value *b,
                   int fn, struct ev_value **out, struct errbuf *e)
{
    if (a->kind != EV_IMAGE || b->kind != EV_IMAGE)
        return err_set(e, ERR_INTERNAL, "%s: operands must be images", fname);
    return binary_images(x, fname, a->img, b->img, fn, out, e);
}

/* Image.pow and its kin: a->op is the enum px_fn2. */
static int binary_fn(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                     struct errbuf *e)
{
    struct ev_image *p, *q;
    int rc;
    if ((rc = ev_image_arg(x, a, "image1", 1, &p, e)) ||
        (rc = ev_image_arg(x, a, "image2", 1, &q, e)))
        return rc;
    return binary_images(x, a->fname, p, q, a->op, o, e);
}

/* ------------------------------------------------- unitScale and clamp */

static struct ev_node *const_node(struct ev_ctx *x, double v)
{
    struct ev_node *n = node_new(x, NODE_CONST);
    if (n)
        n->value = v;
    return n;
}

static struct ev_node *op_node(struct ev_ctx *x, enum node_op op, int fn, struct ev_node *a,
                               struct ev_node *b)
{
    struct ev_node *n = a && b ? node_new(x, op) : NULL;
    if (n) {
        n->a = a;
        n->b = b;
        n->fn = fn;
    }
    return n;
}

/* (x - low) / (high - low), float (double for a double band); x / 0 is 0
 * as in divide. */
static int f_unit_scale(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    struct ev_image *in, *img;
    double lo, hi;
    int rc, i;
    if ((rc = ev_image_arg(x, a, "input", 1, &in, e)) || (rc = number_arg(a, "low", &lo, e)) ||
        (rc = number_arg(a, "high", &hi, e)))
        return rc;
    if (!(img = image_new(x, in->nbands)))
        return NOMEM();
    for (i = 0; i < in->nbands; i++) {
        struct ev_band *b = &img->bands[i];
        *b = in->bands[i];
        b->dt = real_of(b->dt.prec);
        b->node = op_node(x, NODE_DIV, 0, op_node(x, NODE_SUB, 0, b->node, const_node(x, lo)),
                          const_node(x, hi - lo));
        if (!b->node)
            return NOMEM();
    }
    return image_out(x, img, o, e);
}

/* min(max(x, low), high). An int band with whole bounds stays int with the
 * clamped range; otherwise float (double stays double). */
static int f_clamp(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                   struct errbuf *e)
{
    struct ev_image *in, *img;
    double lo, hi;
    int rc, i;
    if ((rc = ev_image_arg(x, a, "input", 1, &in, e)) || (rc = number_arg(a, "low", &lo, e)) ||
        (rc = number_arg(a, "high", &hi, e)))
        return rc;
    if (!(img = image_new(x, in->nbands)))
        return NOMEM();
    for (i = 0; i < in->nbands; i++) {
        struct ev_band *b = &img->bands[i];
        *b = in->bands[i];
        if (b->dt.prec == EV_INT && lo == floor(lo) && hi == floor(hi) && lo <= hi)
            b->dt = int_range(fmin(fmax(b->dt.lo, lo), hi), fmax(fmin(b->dt.hi, hi), lo));
        else if (b->dt.prec == EV_INT)
            b->dt = real_of(EV_FLOAT);
        b->node = op_node(x, NODE_MATH2, PX_MIN,
                          op_node(x, NODE_MATH2, PX_MAX, b->node, const_node(x, lo)),
                          const_node(x, hi));
        if (!b->node)
            return NOMEM();
    }
    return image_out(x, img, o, e);
}

/* ------------------------------------------------------------ resample */

static int f_resample(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_image *in, *img;
    struct ev_value *m = ev_arg(a, "mode");
    const char *mode = "bilinear";
    int rc, i, fn;
    if ((rc = ev_image_arg(x, a, "image", 1, &in, e)))
        return rc;
    if (m && m->kind != EV_NULL) {
        if (m->kind != EV_STR)
            return ev_type_error(e, a, "mode", "String", m);
        mode = m->str;
    }
    if (strcmp(mode, "bilinear") == 0)
        fn = PX_BILINEAR;
    else if (strcmp(mode, "bicubic") == 0)
        fn = PX_BICUBIC;
    else
        return err_set(e, ERR_USAGE, "Image.resample: Unknown resampling mode '%s'; expected "
                       "'bilinear' or 'bicubic'.", mode);
    if (!(img = image_derive(x, in, in->nbands)))
        return NOMEM();
    for (i = 0; i < in->nbands; i++) {
        struct ev_band *b = &img->bands[i];
        *b = in->bands[i];
        /* Without a projection (a constant) there is no grid to
         * interpolate on: the band is the same everywhere. */
        if (!b->proj.crs[0])
            continue;
        if (!(b->node = node_new(x, NODE_RESAMPLE)))
            return NOMEM();
        b->node->a = in->bands[i].node;
        b->node->grid = b->proj;
        b->node->fn = fn;
    }
    return image_out(x, img, o, e);
}

/* ------------------------------------------------------------- terrain */

/* The elevation band: one named "elevation", else the only band. */
static int elevation_band(struct ev_ctx *x, const struct ev_args *a, const struct ev_image *in,
                          int *k, struct errbuf *e)
{
    int i;
    for (i = 0; i < in->nbands; i++)
        if (strcmp(in->bands[i].id, "elevation") == 0) {
            *k = i;
            break;
        }
    if (i == in->nbands) {
        if (in->nbands != 1)
            return err_set(e, ERR_USAGE, "%s: Expected a single band or a band named "
                           "'elevation'; the image has %d bands.", a->fname, in->nbands);
        *k = 0;
    }
    if (!in->bands[*k].proj.crs[0])
        return err_set(e, ERR_USAGE, "%s: The elevation band has no fixed projection (a "
                       "constant image); the emulator computes terrain on the input's own "
                       "grid only.", a->fname);
    if (eval_crs_geographic(x, in->bands[*k].proj.crs) < 0)
        return err_set(e, ERR_USAGE, "%s: Invalid CRS '%s'.", a->fname,
                       in->bands[*k].proj.crs);
    return 0;
}

static int terrain_band(struct ev_ctx *x, const struct ev_band *src, int fn, double az,
                        double el, struct ev_band *b, struct errbuf *e)
{
    static const char *names[] = {"slope", "aspect", "hillshade"};
    memset(b, 0, sizeof *b);
    snprintf(b->id, sizeof b->id, "%s", names[fn]);
    b->dt = fn == PX_HILLSHADE ? eval_px_dtype(PX_U8) : real_of(EV_FLOAT);
    b->proj = src->proj;
    if (!(b->node = node_new(x, NODE_TERRAIN)))
        return NOMEM();
    b->node->a = src->node;
    b->node->grid = src->proj;
    b->node->fn = fn;
    b->node->arg[0] = az;
    b->node->arg[1] = el;
    b->node->band = eval_crs_geographic(x, src->proj.crs) == 1;
    return 0;
}

/* Terrain.slope, .aspect, .hillshade: a->op is PX_SLOPE, PX_ASPECT, PX_HILLSHADE. */
static int terrain(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                   struct errbuf *e)
{
    struct ev_image *in, *img;
    struct ev_value *v;
    double az = 270, el = 45;
    int rc, k;
    if ((rc = ev_image_arg(x, a, "input", 1, &in, e)) || (rc = elevation_band(x, a, in, &k, e)))
        return rc;
    if ((v = ev_arg(a, "azimuth")) && v->kind != EV_NULL) {
        if (v->kind != EV_NUM)
            return ev_type_error(e, a, "azimuth", "Float", v);
        az = v->num;
    }
    if ((v = ev_arg(a, "elevation")) && v->kind != EV_NULL) {
        if (v->kind != EV_NUM)
            return ev_type_error(e, a, "elevation", "Float", v);
        el = v->num;
    }
    if (!(img = image_new(x, 1)))
        return NOMEM();
    if ((rc = terrain_band(x, &in->bands[k], a->op, az, el, &img->bands[0], e)))
        return rc;
    return image_out(x, img, o, e);
}

/* The input's bands and properties plus slope, aspect and hillshade
 * (azimuth 270, elevation 45). */
static int f_products(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_image *in, *img;
    int rc, k, i;
    if ((rc = ev_image_arg(x, a, "input", 1, &in, e)) || (rc = elevation_band(x, a, in, &k, e)))
        return rc;
    if (!(img = image_derive(x, in, in->nbands + 3)))
        return NOMEM();
    for (i = 0; i < in->nbands; i++)
        img->bands[i] = in->bands[i];
    for (i = 0; i < 3; i++)
        if ((rc = terrain_band(x, &in->bands[k], i, 270, 45, &img->bands[in->nbands + i], e)))
            return rc;
    return image_out(x, img, o, e);
}

/* ------------------------------------------------------------- toBands */

/* Every band of every image, named "<system:index>_<band>" (the image's
 * position when it has no system:index). */
static int f_to_bands(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_value *cv;
    struct ev_coll *c;
    struct ev_image *img;
    int rc, k, i, n = 0;
    if ((rc = ev_require(a, "collection", &cv, e)))
        return rc;
    if (cv->kind != EV_COLL)
        return ev_type_error(e, a, "collection", "ImageCollection", cv);
    c = cv->coll;
    for (k = 0; k < c->n; k++) {
        if (c->items[k]->kind != EV_IMAGE)
            return err_set(e, ERR_USAGE, "ImageCollection.toBands: The collection must contain "
                           "only images.");
        n += c->items[k]->img->nbands;
        if (n > 10000)
            return err_set(e, ERR_USAGE, "ImageCollection.toBands: Too many bands (%d).", n);
    }
    if (!(img = image_new(x, n)))
        return NOMEM();
    n = 0;
    for (k = 0; k < c->n; k++) {
        const struct ev_image *m = c->items[k]->img;
        json_object *jx = NULL;
        char index[64];
        if (m->props && json_object_object_get_ex(m->props, "system:index", &jx) &&
            json_object_is_type(jx, json_type_string))
            snprintf(index, sizeof index, "%s", json_object_get_string(jx));
        else
            snprintf(index, sizeof index, "%d", k);
        for (i = 0; i < m->nbands; i++) {
            struct ev_band *b = &img->bands[n++];
            int w;
            *b = m->bands[i];
            w = snprintf(b->id, sizeof b->id, "%s_%s", index, m->bands[i].id);
            if (w < 0 || w >= (int)sizeof b->id)
                return err_set(e, ERR_USAGE, "ImageCollection.toBands: Band name '%s_%s' is "
                               "longer than the emulator's %d characters.", index,
                               m->bands[i].id, (int)sizeof b->id - 1);
        }
    }
    return image_out(x, img, o, e);
}

/* ------------------------------------------------------ linkCollection */

/* A string or a list of strings (NULL or null: an empty list). */
static int names_arg(struct ev_ctx *x, const struct ev_args *a, const char *name,
                     struct ev_value **out, struct errbuf *e)
{
    struct ev_value *v = ev_arg(a, name);
    int i;
    if (!v || v->kind == EV_NULL) {
        *out = ev_list(x, 0);
        return *out ? 0 : NOMEM();
    }
    if (v->kind == EV_STR) {
        if (!(*out = ev_list(x, 1)))
            return NOMEM();
        (*out)->items[0] = v;
        return 0;
    }
    if (v->kind != EV_LIST)
        return ev_type_error(e, a, name, "List<String>", v);
    for (i = 0; i < v->n; i++)
        if (v->items[i]->kind != EV_STR)
            return ev_type_error(e, a, name, "List<String>", v->items[i]);
    *out = v;
    return 0;
}

static int find_band(const struct ev_image *img, const char *id)
{
    int i;
    for (i = 0; i < img->nbands; i++)
        if (strcmp(img->bands[i].id, id) == 0)
            return i;
    return -1;
}

/* A band masked everywhere, for a linked band no image supplies. */
static int masked_band(struct ev_ctx *x, const char *id, struct ev_band *b, struct errbuf *e)
{
    memset(b, 0, sizeof *b);
    snprintf(b->id, sizeof b->id, "%s", id);
    b->dt = int_range(0, 0);
    if (!(b->node = op_node(x, NODE_UPDMASK, 0, const_node(x, 0), const_node(x, 0))))
        return NOMEM();
    return 0;
}

/* Image.linkCollection: the bands and properties named, taken from the
 * first image of the collection whose matchPropertyName property equals
 * the input's (EE: "arbitrary" among several), replacing bands and
 * properties of the same names; without a match the bands are masked
 * everywhere and the properties null. */
static int f_link_collection(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                             struct errbuf *e)
{
    struct ev_image *in, *img;
    struct ev_value *cv, *bands, *props, *mp = ev_arg(a, "matchPropertyName");
    const struct ev_image *match = NULL;
    const char *key = "system:index";
    json_object *want = NULL, *newprops = NULL;
    int rc, i, k, n;

    if ((rc = ev_image_arg(x, a, "input", 1, &in, e)) ||
        (rc = ev_require(a, "imageCollection", &cv, e)) ||
        (rc = names_arg(x, a, "linkedBands", &bands, e)) ||
        (rc = names_arg(x, a, "linkedProperties", &props, e)))
        return rc;
    if (cv->kind != EV_COLL)
        return ev_type_error(e, a, "imageCollection", "ImageCollection", cv);
    if (mp && mp->kind != EV_NULL) {
        if (mp->kind != EV_STR)
            return ev_type_error(e, a, "matchPropertyName", "String", mp);
        key = mp->str;
    }
    if (in->props && json_object_object_get_ex(in->props, key, &want) && want)
        for (k = 0; k < cv->coll->n && !match; k++) {
            const struct ev_value *m = cv->coll->items[k];
            json_object *have = NULL;
            if (m->kind == EV_IMAGE && m->img->props &&
                json_object_object_get_ex(m->img->props, key, &have) &&
                json_object_equal(have, want))
                match = m->img;
        }
    if (in->nbands + bands->n > 10000)
        return err_set(e, ERR_USAGE, "Image.linkCollection: Too many bands.");
    if (!(img = image_derive(x, in, in->nbands + bands->n)))
        return NOMEM();
    for (i = 0; i < in->nbands; i++)
        img->bands[i] = in->bands[i];
    n = in->nbands;
    for (i = 0; i < bands->n; i++) {
        const char *id = bands->items[i]->str;
        struct ev_band b;
        if (match) {
            if ((k = find_band(match, id)) < 0)
                return err_set(e, ERR_USAGE, "Image.linkCollection: Pattern '%s' did not match "
                               "any bands of the matching image.", id);
            b = match->bands[k];
        } else if ((rc = masked_band(x, id, &b, e))) {
            return rc;
        }
        if ((k = find_band(img, id)) >= 0 && k < n)
            img->bands[k] = b;
        else
            img->bands[n++] = b;
    }
    img->nbands = n;
    if (props->n) {
        /* The input's properties are shared with it: edit a copy. */
        if (json_object_deep_copy(in->props, &newprops, NULL) != 0 ||
            !eval_own_json(x, newprops))
            return NOMEM();
        for (i = 0; i < props->n; i++) {
            json_object *pv = NULL, *copy = NULL;
            if (match && match->props &&
                json_object_object_get_ex(match->props, props->items[i]->str, &pv) && pv &&
                json_object_deep_copy(pv, &copy, NULL) != 0)
                return NOMEM();
            json_object_object_add(newprops, props->items[i]->str, copy);
        }
        img->props = newprops;
    }
    return image_out(x, img, o, e);
}

/* ---------------------------------------------------------- expression */

struct parsed {
    struct expr_ast *ast;
    const char *arg_name;
    int free_bands;
};

static int call_parsed(struct ev_ctx *x, const struct ev_func *f, struct ev_value **args,
                       int depth, struct ev_value **out, struct errbuf *e)
{
    const struct parsed *p = f->data;
    return expr_eval(x, p->ast, p->arg_name, f->argnames, args, f->nargs, p->free_bands, depth,
                     out, e);
}

/* Image.parseExpression(expression, argName, vars): a function of the
 * variables `vars`, argName being the image b() reads. The text is parsed
 * here, so a syntax error is reported even if the function is never
 * called. */
static int f_parse_expression(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                              struct errbuf *e)
{
    struct ev_value *text, *arg, *vars, *fv = ev_arg(a, "mapFreeVarsToDefaultImageBands");
    struct parsed *p;
    struct ev_func *f;
    int rc, i;
    if ((rc = ev_require(a, "expression", &text, e)) || (rc = ev_require(a, "argName", &arg, e)) ||
        (rc = ev_require(a, "vars", &vars, e)))
        return rc;
    if (text->kind != EV_STR)
        return ev_type_error(e, a, "expression", "String", text);
    if (arg->kind != EV_STR)
        return ev_type_error(e, a, "argName", "String", arg);
    if (vars->kind != EV_LIST)
        return ev_type_error(e, a, "vars", "List<String>", vars);
    if (!(p = eval_alloc(x, sizeof *p)) || !(f = eval_alloc(x, sizeof *f)) ||
        !(f->argnames = eval_alloc(x, sizeof *f->argnames * (size_t)(vars->n + 1))))
        return NOMEM();
    for (i = 0; i < vars->n; i++) {
        if (vars->items[i]->kind != EV_STR)
            return ev_type_error(e, a, "vars", "List<String>", vars->items[i]);
        f->argnames[i] = vars->items[i]->str;
    }
    f->nargs = vars->n;
    if ((rc = expr_parse(x, text->str, &p->ast, e)))
        return rc;
    p->arg_name = arg->str;
    p->free_bands = fv && fv->kind == EV_BOOL && fv->b;
    f->native = call_parsed;
    f->data = p;
    if (!(*o = ev_new(x, EV_FUNC)))
        return NOMEM();
    (*o)->func = f;
    return 0;
}

const struct ev_algo ev_algos_pixelops[] = {
    {"Image.sqrt", unary_fn, PX_SQRT}, {"Image.exp", unary_fn, PX_EXP},
    {"Image.log", unary_fn, PX_LOG}, {"Image.log10", unary_fn, PX_LOG10},
    {"Image.abs", unary_fn, PX_ABS}, {"Image.floor", unary_fn, PX_FLOOR},
    {"Image.ceil", unary_fn, PX_CEIL}, {"Image.round", unary_fn, PX_ROUND},
    {"Image.not", unary_fn, PX_NOT}, {"Image.bitwiseNot", unary_fn, PX_BITNOT},
    {"Image.bitwise_not", unary_fn, PX_BITNOT}, {"Image.sin", unary_fn, PX_SIN},
    {"Image.cos", unary_fn, PX_COS}, {"Image.tan", unary_fn, PX_TAN},
    {"Image.asin", unary_fn, PX_ASIN}, {"Image.acos", unary_fn, PX_ACOS},
    {"Image.atan", unary_fn, PX_ATAN}, {"Image.sinh", unary_fn, PX_SINH},
    {"Image.cosh", unary_fn, PX_COSH}, {"Image.tanh", unary_fn, PX_TANH},
    {"Image.cbrt", unary_fn, PX_CBRT}, {"Image.signum", unary_fn, PX_SIGNUM},
    {"Image.pow", binary_fn, PX_POW}, {"Image.mod", binary_fn, PX_MOD},
    {"Image.min", binary_fn, PX_MIN}, {"Image.max", binary_fn, PX_MAX},
    {"Image.bitwiseOr", binary_fn, PX_BITOR}, {"Image.bitwise_or", binary_fn, PX_BITOR},
    {"Image.bitwiseXor", binary_fn, PX_BITXOR}, {"Image.bitwise_xor", binary_fn, PX_BITXOR},
    {"Image.leftShift", binary_fn, PX_LSHIFT}, {"Image.left_shift", binary_fn, PX_LSHIFT},
    {"Image.rightShift", binary_fn, PX_RSHIFT}, {"Image.right_shift", binary_fn, PX_RSHIFT},
    {"Image.atan2", binary_fn, PX_ATAN2}, {"Image.hypot", binary_fn, PX_HYPOT},
    {"Image.unitScale", f_unit_scale, 0}, {"Image.clamp", f_clamp, 0},
    {"Image.resample", f_resample, 0}, {"Terrain.slope", terrain, PX_SLOPE},
    {"Terrain.aspect", terrain, PX_ASPECT}, {"Terrain.hillshade", terrain, PX_HILLSHADE},
    {"Terrain.products", f_products, 0}, {"Terrain", f_products, 0},
    {"ImageCollection.toBands", f_to_bands, 0}, {"Image.linkCollection", f_link_collection, 0},
    {"Image.parseExpression", f_parse_expression, 0},
    {NULL, NULL, 0},
};
