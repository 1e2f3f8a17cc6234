/*
 * Reducers and composites: Reducer.* values (a kind plus named outputs and
 * their parameters), the per-pixel composites of an ImageCollection
 * (ImageCollection.reduce, reduce.*, mosaic, qualityMosaic: pixel nodes
 * that render.c combines) and FeatureCollections made by the Collection
 * constructor. Reductions over regions live in reduce_region.c.
 *
 * Output types of composites (docs/emulator.md "Reducers and regions"):
 * mean, median, percentile, stdDev and variance give float (double for a
 * double input), and so do sampleStdDev and sampleVariance; count gives
 * int [0, 2^31 - 1]; sum of ints gives an int with the range n times the
 * input's; min, max, mode, first, last, mosaic and qualityMosaic keep the
 * union of the inputs' types.
 */
#include "emulator/eval_int.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define NOMEM() err_set(e, ERR_NOMEM, "out of memory")

/* A percentile list longer than this is surely a mistake (each output
 * becomes a band or a dictionary entry per band). */
#define RED_MAX_OUTPUTS 256

/* --------------------------------------------------------------- helpers */

/* EE rejects arguments a function does not declare; the wording is the
 * emulator's own (EE's server text for this case is not known). */
int ev_check_args(const struct ev_args *a, const char *const *allowed, struct errbuf *e)
{
    int i, k;
    for (i = 0; i < a->n; i++) {
        for (k = 0; allowed[k]; k++)
            if (strcmp(a->names[i], allowed[k]) == 0)
                break;
        if (!allowed[k]) {
            char list[512];
            size_t used = 0;
            list[0] = 0;
            for (k = 0; allowed[k] && used < sizeof list; k++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "",
                                         allowed[k]);
            return err_set(e, ERR_USAGE, "%s: Unrecognized argument '%s'. Valid arguments: %s.",
                           a->fname, a->names[i], k ? list : "none");
        }
    }
    return 0;
}

static const char *const NO_ARGS[] = {NULL};

static struct ev_value *reducer_value(struct ev_ctx *x, enum ev_reduce op, int nout)
{
    struct ev_value *v = ev_new(x, EV_REDUCER);
    struct ev_reducer *r = eval_alloc(x, sizeof *r);
    if (!v || !r || !(r->outs = eval_alloc(x, sizeof *r->outs * (size_t)(nout + 1))) ||
        !(r->out_op = eval_alloc(x, sizeof *r->out_op * (size_t)(nout + 1))) ||
        !(r->pct = eval_alloc(x, sizeof *r->pct * (size_t)(nout + 1))))
        return NULL;
    r->op = op;
    r->nout = nout;
    v->reducer = op;
    v->red = r;
    return v;
}

int ev_reducer_arg(const struct ev_args *a, const char *name, const struct ev_reducer **out,
                   struct errbuf *e)
{
    struct ev_value *v;
    int rc = ev_require(a, name, &v, e);
    if (rc)
        return rc;
    if (v->kind != EV_REDUCER || !v->red)
        return ev_type_error(e, a, name, "Reducer", v);
    *out = v->red;
    return 0;
}

/* ------------------------------------------------------------- reducers */

static const char *const HIST_ARGS[] = {"maxBuckets", "minBucketWidth", "maxRaw", NULL};
static const char *const MINMAX_ARGS[] = {"numInputs", NULL};

/* The reducers with one output: its name and the arguments EE's
 * constructor takes. allNonZero and anyNonZero give 1 where every (any)
 * unmasked input is non-zero, else 0: what geedim's fill mask reduces an
 * image's band masks with. frequencyHistogram serves regions only: a
 * dictionary of value -> count per band. */
static const struct {
    const char *out;
    const char *const *args;
} SIMPLE[] = {
    [RED_MEAN] = {"mean", NO_ARGS}, [RED_MEDIAN] = {"median", HIST_ARGS},
    [RED_MIN] = {"min", MINMAX_ARGS}, [RED_MAX] = {"max", MINMAX_ARGS},
    [RED_SUM] = {"sum", NO_ARGS}, [RED_COUNT] = {"count", NO_ARGS},
    [RED_ALL_NONZERO] = {"all", NO_ARGS}, [RED_ANY_NONZERO] = {"any", NO_ARGS},
    [RED_STDDEV] = {"stdDev", NO_ARGS}, [RED_VARIANCE] = {"variance", NO_ARGS},
    [RED_FIRST] = {"first", NO_ARGS}, [RED_LAST] = {"last", NO_ARGS},
    [RED_MODE] = {"mode", HIST_ARGS},
    [RED_SAMPLE_VARIANCE] = {"variance", NO_ARGS}, [RED_SAMPLE_STDDEV] = {"stdDev", NO_ARGS},
    [RED_FREQ_HISTOGRAM] = {"histogram", NO_ARGS},
};

static int check_num_inputs(const struct ev_args *a, struct errbuf *e)
{
    struct ev_value *n = ev_arg(a, "numInputs");
    if (n && n->kind != EV_NULL && !(n->kind == EV_NUM && n->num == 1))
        return err_set(e, ERR_USAGE, "%s: the emulator lacks numInputs other than 1.", a->fname);
    return 0;
}

/* Reducer.mean and its kin (a->op: the enum ev_reduce, a row of SIMPLE). */
static int simple_reducer(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                          struct errbuf *e)
{
    const enum ev_reduce op = (enum ev_reduce)a->op;
    struct ev_reducer *r;
    int rc;
    if ((rc = ev_check_args(a, SIMPLE[op].args, e)))
        return rc;
    if (!(*o = reducer_value(x, op, 1)))
        return NOMEM();
    r = (struct ev_reducer *)(*o)->red;
    r->outs[0] = SIMPLE[op].out;
    r->out_op[0] = op;
    return SIMPLE[op].args == MINMAX_ARGS ? check_num_inputs(a, e) : 0;
}

static int f_min_max(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                     struct errbuf *e)
{
    struct ev_reducer *r;
    int rc;
    if ((rc = ev_check_args(a, NO_ARGS, e)))
        return rc;
    if (!(*o = reducer_value(x, RED_MINMAX, 2)))
        return NOMEM();
    r = (struct ev_reducer *)(*o)->red;
    r->outs[0] = "min";
    r->out_op[0] = RED_MIN;
    r->outs[1] = "max";
    r->out_op[1] = RED_MAX;
    return 0;
}

/* A list argument of strings (NULL when absent). */
static int string_list(const struct ev_args *a, const char *name, struct ev_value **out,
                       struct errbuf *e)
{
    struct ev_value *v = ev_arg(a, name);
    int i;
    *out = NULL;
    if (!v || v->kind == EV_NULL)
        return 0;
    if (v->kind != EV_LIST)
        return ev_type_error(e, a, name, "List<String>", v);
    for (i = 0; i < v->n; i++)
        if (v->items[i]->kind != EV_STR)
            return ev_type_error(e, a, name, "List<String>", v);
    *out = v;
    return 0;
}

static int f_percentile(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    static const char *const args[] = {"percentiles", "outputNames", "maxBuckets",
                                       "minBucketWidth", "maxRaw", NULL};
    struct ev_value *p, *names;
    struct ev_reducer *r;
    int rc, i;

    if ((rc = ev_check_args(a, args, e)) || (rc = ev_require(a, "percentiles", &p, e)) ||
        (rc = string_list(a, "outputNames", &names, e)))
        return rc;
    if (p->kind != EV_LIST)
        return ev_type_error(e, a, "percentiles", "List<Number>", p);
    if (p->n == 0 || p->n > RED_MAX_OUTPUTS)
        return err_set(e, ERR_USAGE, "Reducer.percentile: Expected between 1 and %d percentiles, "
                       "got %d.", RED_MAX_OUTPUTS, p->n);
    if (names && names->n != p->n)
        return err_set(e, ERR_USAGE, "Reducer.percentile: The number of output names (%d) does "
                       "not match the number of percentiles (%d).", names->n, p->n);
    if (!(*o = reducer_value(x, RED_PERCENTILE, p->n)))
        return NOMEM();
    r = (struct ev_reducer *)(*o)->red;
    for (i = 0; i < p->n; i++) {
        char nm[64];
        if (p->items[i]->kind != EV_NUM)
            return ev_type_error(e, a, "percentiles", "List<Number>", p);
        if (!(p->items[i]->num >= 0 && p->items[i]->num <= 100))
            return err_set(e, ERR_USAGE, "Reducer.percentile: Percentiles must be between 0 and "
                           "100, got %g.", p->items[i]->num);
        r->pct[i] = p->items[i]->num;
        r->out_op[i] = RED_PERCENTILE;
        snprintf(nm, sizeof nm, "p%.15g", r->pct[i]);
        if (!(r->outs[i] = names ? names->items[i]->str : eval_strdup(x, nm)))
            return NOMEM();
    }
    return 0;
}

static int f_unweighted(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    static const char *const args[] = {"reducer", NULL};
    const struct ev_reducer *in;
    struct ev_reducer *r;
    int rc;
    if ((rc = ev_check_args(a, args, e)) || (rc = ev_reducer_arg(a, "reducer", &in, e)))
        return rc;
    if (!(*o = ev_new(x, EV_REDUCER)) || !(r = eval_alloc(x, sizeof *r)))
        return NOMEM();
    *r = *in;
    r->unweighted = 1;
    (*o)->reducer = r->op;
    (*o)->red = r;
    return 0;
}

static int f_set_outputs(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    static const char *const args[] = {"reducer", "outputs", NULL};
    const struct ev_reducer *in;
    struct ev_reducer *r;
    struct ev_value *names;
    int rc, i;
    if ((rc = ev_check_args(a, args, e)) || (rc = ev_reducer_arg(a, "reducer", &in, e)) ||
        (rc = string_list(a, "outputs", &names, e)))
        return rc;
    if (!names)
        return err_set(e, ERR_USAGE, "Reducer.setOutputs: Parameter 'outputs' is required.");
    if (names->n != in->nout)
        return err_set(e, ERR_USAGE, "Reducer.setOutputs: The reducer has %d outputs, but %d "
                       "names were given.", in->nout, names->n);
    if (!(*o = ev_new(x, EV_REDUCER)) || !(r = eval_alloc(x, sizeof *r)) ||
        !(r->outs = eval_alloc(x, sizeof *r->outs * (size_t)(in->nout + 1))))
        return NOMEM();
    r->op = in->op;
    r->nout = in->nout;
    r->out_op = in->out_op;
    r->pct = in->pct;
    r->unweighted = in->unweighted;
    for (i = 0; i < in->nout; i++)
        r->outs[i] = names->items[i]->str;
    (*o)->reducer = r->op;
    (*o)->red = r;
    return 0;
}

/* Reducer.combine: reducer1's outputs, then reducer2's with outputPrefix.
 * Only shared inputs: every reducer here takes one input, and without
 * sharing the combination would take two (one band each). */
static int f_combine(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                     struct errbuf *e)
{
    static const char *const args[] = {"reducer1", "reducer2", "outputPrefix", "sharedInputs",
                                       NULL};
    const struct ev_reducer *r1, *r2;
    struct ev_value *pre = ev_arg(a, "outputPrefix"), *sh = ev_arg(a, "sharedInputs");
    struct ev_reducer *r;
    const char *prefix = "";
    int rc, i, n;
    if ((rc = ev_check_args(a, args, e)) || (rc = ev_reducer_arg(a, "reducer1", &r1, e)) ||
        (rc = ev_reducer_arg(a, "reducer2", &r2, e)))
        return rc;
    if (pre && pre->kind != EV_NULL) {
        if (pre->kind != EV_STR)
            return ev_type_error(e, a, "outputPrefix", "String", pre);
        prefix = pre->str;
    }
    if (sh && sh->kind != EV_NULL && sh->kind != EV_BOOL)
        return ev_type_error(e, a, "sharedInputs", "Boolean", sh);
    if (!(sh && sh->kind == EV_BOOL && sh->b))
        return err_set(e, ERR_USAGE, "Reducer.combine: the emulator lacks combined reducers "
                       "without sharedInputs: pass sharedInputs = true.");
    n = r1->nout + r2->nout;
    if (n > RED_MAX_OUTPUTS)
        return err_set(e, ERR_USAGE, "Reducer.combine: Too many outputs (%d).", n);
    if (!(*o = reducer_value(x, r1->op, n)))
        return NOMEM();
    r = (struct ev_reducer *)(*o)->red;
    for (i = 0; i < n; i++) {
        const struct ev_reducer *from = i < r1->nout ? r1 : r2;
        int k = i < r1->nout ? i : i - r1->nout;
        char nm[160];
        r->out_op[i] = from->out_op[k];
        r->pct[i] = from->pct[k];
        snprintf(nm, sizeof nm, "%s%s", from == r2 ? prefix : "", from->outs[k]);
        if (!(r->outs[i] = eval_strdup(x, nm)))
            return NOMEM();
    }
    r->unweighted = r1->unweighted && r2->unweighted;
    return 0;
}

static int f_get_outputs(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    static const char *const args[] = {"reducer", NULL};
    const struct ev_reducer *r;
    int rc, i;
    if ((rc = ev_check_args(a, args, e)) || (rc = ev_reducer_arg(a, "reducer", &r, e)))
        return rc;
    if (!(*o = ev_list(x, r->nout)))
        return NOMEM();
    for (i = 0; i < r->nout; i++)
        if (!((*o)->items[i] = ev_str(x, r->outs[i])))
            return NOMEM();
    return 0;
}

/* ----------------------------------------------------------- composites */

static void dtype_union(struct ev_dtype *d, const struct ev_dtype *by)
{
    if (by->prec > d->prec) {
        *d = *by;
    } else if (d->prec == EV_INT) {
        d->lo = fmin(d->lo, by->lo);
        d->hi = fmax(d->hi, by->hi);
    }
}

/* The type of a composite band, given the union of its inputs' types. */
static struct ev_dtype composite_dtype(enum ev_reduce op, struct ev_dtype in, int n)
{
    struct ev_dtype d = in;
    switch (op) {
    case RED_MEAN: case RED_MEDIAN: case RED_PERCENTILE: case RED_STDDEV: case RED_VARIANCE:
    case RED_SAMPLE_VARIANCE: case RED_SAMPLE_STDDEV:
        if (in.prec != EV_DOUBLE)
            d = eval_px_dtype(PX_F32);
        break;
    case RED_COUNT:
        d.prec = EV_INT;
        d.lo = 0;
        d.hi = 2147483647.0;
        break;
    case RED_ALL_NONZERO: case RED_ANY_NONZERO:
        d.prec = EV_INT;
        d.lo = 0;
        d.hi = 1;
        break;
    case RED_SUM:
        if (in.prec == EV_INT) {
            d.lo = fmin(0, in.lo * n);
            d.hi = fmax(0, in.hi * n);
            if (d.lo < -9007199254740992.0 || d.hi > 9007199254740992.0)
                d = eval_px_dtype(PX_F64);
        }
        break;
    default:
        break;
    }
    return d;
}

static struct ev_value *image_of(struct ev_ctx *x, int nbands)
{
    struct ev_value *v = ev_new(x, EV_IMAGE);
    struct ev_image *img = eval_alloc(x, sizeof *img);
    if (!v || !img || !(img->bands = eval_alloc(x, sizeof *img->bands * (size_t)(nbands + 1))) ||
        !(img->props = eval_own_json(x, json_object_new_object())))
        return NULL;
    img->nbands = nbands;
    img->time_start = INT64_MIN;
    v->img = img;
    return v;
}

/* Checks that c holds only images with the same number of bands; *nb gets it. */
static int composite_inputs(const struct ev_args *a, const struct ev_coll *c, int *nb,
                            struct errbuf *e)
{
    int k;
    *nb = 0;
    for (k = 0; k < c->n; k++) {
        if (c->items[k]->kind != EV_IMAGE)
            return err_set(e, ERR_USAGE, "%s: The collection must contain only images.", a->fname);
        if (k == 0)
            *nb = c->items[k]->img->nbands;
        else if (c->items[k]->img->nbands != *nb)
            return err_set(e, ERR_USAGE, "%s: All images must have the same number of bands "
                           "(%d and %d).", a->fname, *nb, c->items[k]->img->nbands);
    }
    return 0;
}

/* One composite band: band i of every image of c, reduced with op. */
static int composite_band(struct ev_ctx *x, const struct ev_coll *c, int i, enum ev_reduce op,
                          double pct, const char *suffix, struct ev_band *b, struct errbuf *e)
{
    struct ev_node *n = eval_alloc(x, sizeof *n);
    struct ev_dtype dt;
    int k;
    if (!n || !(n->kids = eval_alloc(x, sizeof *n->kids * (size_t)(c->n + 1))))
        return NOMEM();
    n->op = NODE_COMPOSITE;
    n->reducer = op;
    n->value = pct;
    n->nkids = c->n;
    dt = c->items[0]->img->bands[i].dt;
    for (k = 0; k < c->n; k++) {
        n->kids[k] = c->items[k]->img->bands[i].node;
        dtype_union(&dt, &c->items[k]->img->bands[i].dt);
    }
    snprintf(b->id, sizeof b->id, "%.40s%s%.22s", c->items[0]->img->bands[i].id,
             suffix ? "_" : "", suffix ? suffix : "");
    b->dt = composite_dtype(op, dt, c->n);
    b->node = n;
    return 0;
}

static int coll_arg(const struct ev_args *a, struct ev_coll **c, struct errbuf *e)
{
    struct ev_value *v;
    int rc = ev_require(a, "collection", &v, e);
    if (rc)
        return rc;
    if (v->kind != EV_COLL || v->coll->features)
        return ev_type_error(e, a, "collection", "ImageCollection", v);
    *c = v->coll;
    return 0;
}

/* reduce.* and ImageCollection.mosaic (a->op: the enum ev_reduce): band
 * names unchanged. */
static int reduce_simple(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    const enum ev_reduce op = (enum ev_reduce)a->op;
    static const char *const args[] = {"collection", NULL};
    struct ev_coll *c = NULL;
    int rc, nb, i;
    if ((rc = ev_check_args(a, args, e)) || (rc = coll_arg(a, &c, e)) ||
        (rc = composite_inputs(a, c, &nb, e)))
        return rc;
    if (!(*o = image_of(x, nb)))
        return NOMEM();
    for (i = 0; i < nb; i++)
        if ((rc = composite_band(x, c, i, op, 0, NULL, &(*o)->img->bands[i], e)))
            return rc;
    return 0;
}

/* ImageCollection.reduce: one band per input band and reducer output,
 * named band_output (B4_mean, B4_p10, B4_p90), band by band. */
static int f_ic_reduce(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    static const char *const args[] = {"collection", "reducer", "parallelScale", NULL};
    const struct ev_reducer *r;
    struct ev_coll *c = NULL;
    int rc, nb, i, k;
    if ((rc = ev_check_args(a, args, e)) || (rc = coll_arg(a, &c, e)) ||
        (rc = ev_reducer_arg(a, "reducer", &r, e)) || (rc = composite_inputs(a, c, &nb, e)))
        return rc;
    for (k = 0; k < r->nout; k++)
        if (r->out_op[k] == RED_FREQ_HISTOGRAM)
            return err_set(e, ERR_USAGE, "ImageCollection.reduce: the emulator lacks array-valued "
                           "pixels (frequencyHistogram); use it with reduceRegion.");
    if (!(*o = image_of(x, nb * r->nout)))
        return NOMEM();
    for (i = 0; i < nb; i++)
        for (k = 0; k < r->nout; k++)
            if ((rc = composite_band(x, c, i, r->out_op[k], r->pct[k], r->outs[k],
                                     &(*o)->img->bands[i * r->nout + k], e)))
                return rc;
    return 0;
}

/* Image.reduce: the bands of each pixel reduced to one band per output,
 * named after the output (max; p10, p90). */
static int f_image_reduce(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                          struct errbuf *e)
{
    static const char *const args[] = {"image", "reducer", NULL};
    const struct ev_reducer *r;
    struct ev_image *img;
    int rc, i, k;
    if ((rc = ev_check_args(a, args, e)) || (rc = ev_image_arg(x, a, "image", 1, &img, e)) ||
        (rc = ev_reducer_arg(a, "reducer", &r, e)))
        return rc;
    for (k = 0; k < r->nout; k++)
        if (r->out_op[k] == RED_FREQ_HISTOGRAM)
            return err_set(e, ERR_USAGE, "Image.reduce: the emulator lacks array-valued pixels "
                           "(frequencyHistogram).");
    if (img->nbands == 0)
        return err_set(e, ERR_USAGE, "Image.reduce: The image has no bands.");
    if (!(*o = image_of(x, r->nout)))
        return NOMEM();
    for (k = 0; k < r->nout; k++) {
        struct ev_band *b = &(*o)->img->bands[k];
        struct ev_node *n = eval_alloc(x, sizeof *n);
        struct ev_dtype dt = img->bands[0].dt;
        if (!n || !(n->kids = eval_alloc(x, sizeof *n->kids * (size_t)(img->nbands + 1))))
            return NOMEM();
        n->op = NODE_COMPOSITE;
        n->reducer = r->out_op[k];
        n->value = r->pct[k];
        n->nkids = img->nbands;
        for (i = 0; i < img->nbands; i++) {
            n->kids[i] = img->bands[i].node;
            dtype_union(&dt, &img->bands[i].dt);
        }
        snprintf(b->id, sizeof b->id, "%s", r->outs[k]);
        b->dt = composite_dtype(r->out_op[k], dt, img->nbands);
        b->node = n;
        b->proj = img->bands[0].proj;   /* a per-pixel operation keeps the projection */
    }
    (*o)->img->props = img->props;
    (*o)->img->footprint = img->footprint;
    (*o)->img->time_start = img->time_start;
    return 0;
}

static int f_quality_mosaic(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                            struct errbuf *e)
{
    static const char *const args[] = {"collection", "qualityBand", NULL};
    struct ev_value *qv;
    struct ev_coll *c = NULL;
    struct ev_node **q;
    int rc, nb, i, k, b;
    if ((rc = ev_check_args(a, args, e)) || (rc = coll_arg(a, &c, e)) ||
        (rc = ev_require(a, "qualityBand", &qv, e)) || (rc = composite_inputs(a, c, &nb, e)))
        return rc;
    if (qv->kind != EV_STR)
        return ev_type_error(e, a, "qualityBand", "String", qv);
    if (!(q = eval_alloc(x, sizeof *q * (size_t)(c->n + 1))))
        return NOMEM();
    for (k = 0; k < c->n; k++) {
        const struct ev_image *img = c->items[k]->img;
        for (b = 0; b < img->nbands && strcmp(img->bands[b].id, qv->str) != 0; b++)
            ;
        if (b == img->nbands)
            return err_set(e, ERR_USAGE, "ImageCollection.qualityMosaic: Image %d of the "
                           "collection has no band '%s'.", k, qv->str);
        q[k] = img->bands[b].node;
    }
    if (!(*o = image_of(x, nb)))
        return NOMEM();
    for (i = 0; i < nb; i++) {
        struct ev_band *ob = &(*o)->img->bands[i];
        struct ev_node *n;
        if ((rc = composite_band(x, c, i, RED_QUALITY, 0, NULL, ob, e)))
            return rc;
        /* kids: the n values, then the n quality bands */
        n = ob->node;
        if (!(n->kids = eval_alloc(x, sizeof *n->kids * (size_t)(2 * c->n + 1))))
            return NOMEM();
        for (k = 0; k < c->n; k++) {
            n->kids[k] = c->items[k]->img->bands[i].node;
            n->kids[c->n + k] = q[k];
        }
        n->nkids = 2 * c->n;
    }
    return 0;
}

/* ------------------------------------------------------ FeatureCollection */

struct ev_value *ev_feature_coll(struct ev_ctx *x, int n)
{
    struct ev_value *v = ev_new(x, EV_COLL);
    if (!v || !(v->coll = eval_alloc(x, sizeof *v->coll)) ||
        !(v->coll->items = eval_alloc(x, sizeof *v->coll->items * (size_t)(n + 1))) ||
        !(v->coll->props = eval_own_json(x, json_object_new_object())))
        return NULL;
    v->coll->features = 1;
    return v;
}

/* A feature with geometry g (may be NULL) and properties: copies of the
 * n entries of base (may be NULL) plus room for extra more. */
struct ev_value *ev_feature_new(struct ev_ctx *x, struct ev_geom *g, const struct ev_value *base,
                                int extra)
{
    struct ev_value *f = ev_new(x, EV_FEATURE);
    int nb = base ? base->n : 0, i;
    if (!f || !(f->fprops = ev_dict(x, nb + extra)))
        return NULL;
    f->geom = g;
    for (i = 0; i < nb; i++) {
        f->fprops->keys[i] = base->keys[i];
        f->fprops->items[i] = base->items[i];
    }
    f->fprops->n = nb;   /* the caller appends up to `extra` entries */
    return f;
}

/* Sets (or replaces) a property of a feature made by ev_feature_new. */
void ev_feature_set(struct ev_value *f, const char *key, struct ev_value *v)
{
    int i;
    for (i = 0; i < f->fprops->n; i++)
        if (strcmp(f->fprops->keys[i], key) == 0) {
            f->fprops->items[i] = v;
            return;
        }
    f->fprops->keys[f->fprops->n] = key;
    f->fprops->items[f->fprops->n++] = v;
}

/* Collection(features): ee.FeatureCollection(list) and
 * ee.FeatureCollection(geometry or feature) in the clients. Features
 * without a system:index get their position, as EE numbers them. */
static int f_collection(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    static const char *const args[] = {"features", NULL};
    struct ev_value *l;
    int rc, i;
    if ((rc = ev_check_args(a, args, e)) || (rc = ev_require(a, "features", &l, e)))
        return rc;
    if (l->kind != EV_LIST)
        return ev_type_error(e, a, "features", "List<Element>", l);
    if (!(*o = ev_feature_coll(x, l->n)))
        return NOMEM();
    for (i = 0; i < l->n; i++) {
        struct ev_value *it = l->items[i], *f, *idx;
        char id[32];
        if (it->kind != EV_FEATURE && it->kind != EV_GEOM)
            return ev_type_error(e, a, "features", "List<Element>", l);
        if (!(f = ev_feature_new(x, it->geom, it->kind == EV_FEATURE ? it->fprops : NULL, 1)))
            return NOMEM();
        snprintf(id, sizeof id, "%d", i);
        if (!ev_dict_get(f->fprops, "system:index")) {
            if (!(idx = ev_str(x, id)))
                return NOMEM();
            ev_feature_set(f, "system:index", idx);
        }
        (*o)->coll->items[(*o)->coll->n++] = f;
    }
    return 0;
}

struct ev_value *ev_dict_get(const struct ev_value *d, const char *key)
{
    int i;
    if (!d || d->kind != EV_DICT)
        return NULL;
    for (i = 0; i < d->n; i++)
        if (strcmp(d->keys[i], key) == 0)
            return d->items[i];
    return NULL;
}

/* ------------------------------------------------------------------ table */

const struct ev_algo ev_algos_reduce[] = {
    {"Reducer.mean", simple_reducer, RED_MEAN}, {"Reducer.median", simple_reducer, RED_MEDIAN},
    {"Reducer.min", simple_reducer, RED_MIN}, {"Reducer.max", simple_reducer, RED_MAX},
    {"Reducer.sum", simple_reducer, RED_SUM}, {"Reducer.count", simple_reducer, RED_COUNT},
    {"Reducer.allNonZero", simple_reducer, RED_ALL_NONZERO},
    {"Reducer.anyNonZero", simple_reducer, RED_ANY_NONZERO},
    {"Reducer.stdDev", simple_reducer, RED_STDDEV},
    {"Reducer.variance", simple_reducer, RED_VARIANCE}, {"Reducer.percentile", f_percentile, 0},
    {"Reducer.minMax", f_min_max, 0}, {"Reducer.first", simple_reducer, RED_FIRST},
    {"Reducer.last", simple_reducer, RED_LAST}, {"Reducer.mode", simple_reducer, RED_MODE},
    {"Reducer.sampleVariance", simple_reducer, RED_SAMPLE_VARIANCE},
    {"Reducer.sampleStdDev", simple_reducer, RED_SAMPLE_STDDEV},
    {"Reducer.frequencyHistogram", simple_reducer, RED_FREQ_HISTOGRAM},
    {"Reducer.unweighted", f_unweighted, 0}, {"Reducer.setOutputs", f_set_outputs, 0},
    {"Reducer.getOutputs", f_get_outputs, 0}, {"Reducer.combine", f_combine, 0},
    {"reduce.median", reduce_simple, RED_MEDIAN}, {"reduce.mean", reduce_simple, RED_MEAN},
    {"reduce.min", reduce_simple, RED_MIN}, {"reduce.max", reduce_simple, RED_MAX},
    {"reduce.sum", reduce_simple, RED_SUM}, {"reduce.count", reduce_simple, RED_COUNT},
    {"reduce.mode", reduce_simple, RED_MODE}, {"ImageCollection.mosaic", reduce_simple, RED_MOSAIC},
    {"ImageCollection.qualityMosaic", f_quality_mosaic, 0},
    {"ImageCollection.reduce", f_ic_reduce, 0}, {"Image.reduce", f_image_reduce, 0},
    {"Collection", f_collection, 0},
    {NULL, NULL, 0},
};
