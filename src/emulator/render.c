/*
 * Row-by-row rendering of band expressions. Each node evaluates a batch of
 * points (one output row) given in some CRS; loads transform the batch to
 * the band's CRS once per row (or not at all when the CRS is the same) and
 * read the native pixels a row needs with as few catalog_read_row calls as
 * possible, so the common cases cost a few flops per pixel.
 *
 * A node used by several parents (the cloud mask shared by every band of an
 * image, a band read by several tests) keeps its last row: every batch of
 * points has an id, and a second request for the same id copies the row
 * instead of computing it again.
 */
#include "emulator/render.h"

#include <gdal/ogr_srs_api.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct pts {
    const char *crs;
    const double *x, *y;
    long n;
    /* Set when the points are one row of an affine grid: point i is
     * (x0 + i*dx, y0 + i*dy). Lets loads in the same CRS skip per-pixel
     * index arithmetic. */
    int row_affine;
    double x0, dx, y0, dy;
    /* Points of this row already transformed to other CRSs, shared by the
     * bands of one image (NULL below reproject). */
    struct xcache *cache;
    /* Unique id of this batch of points (render_id), for the memo of
     * shared nodes. */
    unsigned long gen;
    /* Scratch of the loads, shared by all of them (one request renders on
     * one thread, and a load uses it only while it runs). */
    struct load_scratch *ls;
};

/* Native column of each of n points and one native row span of 4n + 64
 * pixels. */
struct load_scratch {
    long *lc;
    double *lv;
    uint8_t *lm;
};

#define XCACHE_SLOTS 4

struct xcache {
    int used;
    char crs[XCACHE_SLOTS][64];
    double *x[XCACHE_SLOTS], *y[XCACHE_SLOTS];
};

/* Ids of render passes and point batches, unique in the process: requests
 * render concurrently, and an id never repeats, so a node's memo can never
 * be mistaken for another batch's. */
static atomic_ulong render_ids;

static unsigned long render_id(void)
{
    return atomic_fetch_add(&render_ids, 1) + 1;
}

static int render_node(struct ev_ctx *x, struct ev_node *nd, const struct pts *p, double *val,
                       uint8_t *mask, struct errbuf *e);

/* Per-node scratch, allocated on first use (rows all have one width). */
static int scratch(struct ev_ctx *x, struct ev_node *nd, long n, struct errbuf *e)
{
    long k = nd->op == NODE_WHERE ? 2 : nd->nkids > 1 ? nd->nkids : 1;
    long m = n > nd->nkids ? n : nd->nkids;
    if (nd->scap >= n)
        return 0;
    nd->sv = eval_alloc(x, sizeof *nd->sv * (size_t)(k * n));
    nd->sm = eval_alloc(x, sizeof *nd->sm * (size_t)(k * n));
    nd->sx = eval_alloc(x, sizeof *nd->sx * (size_t)m);
    nd->sy = eval_alloc(x, sizeof *nd->sy * (size_t)m);
    nd->sv_const = 0;
    if (!nd->sv || !nd->sm || !nd->sx || !nd->sy)
        return err_set(e, ERR_NOMEM, "out of memory");
    nd->scap = n;
    return 0;
}

/* Counts the parents of every node reachable from nd in this pass and
 * gives the shared ones a memo row of w values. */
static int count_refs(struct ev_ctx *x, struct ev_node *nd, unsigned long pass, long w,
                      struct errbuf *e)
{
    int rc = 0, k;
    if (!nd)
        return 0;
    if (nd->pass != pass) {
        nd->pass = pass;
        nd->nref = 0;
        nd->memo = 0;
        if ((rc = count_refs(x, nd->a, pass, w, e)) || (rc = count_refs(x, nd->b, pass, w, e)) ||
            (rc = count_refs(x, nd->c, pass, w, e)))
            return rc;
        for (k = 0; k < nd->nkids; k++)
            if ((rc = count_refs(x, nd->kids[k], pass, w, e)))
                return rc;
    }
    /* A constant costs less to fill than to copy: never kept. */
    if (++nd->nref < 2 || nd->op == NODE_CONST || nd->memo)
        return 0;
    if (nd->mcap < w) {
        nd->mv = eval_alloc(x, sizeof *nd->mv * (size_t)w);
        nd->mm = eval_alloc(x, sizeof *nd->mm * (size_t)w);
        if (!nd->mv || !nd->mm)
            return err_set(e, ERR_NOMEM, "out of memory");
        nd->mcap = w;
    }
    nd->memo = 1;
    nd->mgen = 0;   /* no id is 0 */
    return 0;
}

/* Copies p into (sx, sy) transformed to crs; failed points become NaN. */
static int to_crs(struct ev_ctx *x, const struct pts *p, const char *crs, double *sx, double *sy,
                  struct errbuf *e)
{
    void *ct;
    long i;
    memcpy(sx, p->x, sizeof *sx * (size_t)p->n);
    memcpy(sy, p->y, sizeof *sy * (size_t)p->n);
    if (strcmp(p->crs, crs) == 0)
        return 0;
    if (!(ct = eval_transform(x, p->crs, crs, e)))
        return ERR_USAGE;
    /* PROJ marks points it cannot transform with HUGE_VAL; checked below. */
    OCTTransform(ct, (int)p->n, sx, sy, NULL);
    for (i = 0; i < p->n; i++)
        if (!isfinite(sx[i]) || !isfinite(sy[i]) || fabs(sx[i]) > 1e300)
            sx[i] = sy[i] = NAN;
    return 0;
}

/* Points i0 .. i1-1 all fall in native row r at columns lc[i], between
 * cmin and cmax. A resampled grid (6.5 m on 10 m pixels) revisits or skips
 * columns, so the columns are read in one call and picked from there,
 * unless they spread much wider than the points (strong downsampling):
 * then runs of consecutive columns are read one call each. */
static void load_stretch(const struct ev_node *nd, const struct load_scratch *ls, long r,
                         long i0, long i1, long cmin, long cmax, double *val, uint8_t *mask)
{
    const long *lc = ls->lc;
    double *lv = ls->lv;
    uint8_t *lm = ls->lm;
    long i = i0;
    if (cmax - cmin + 1 <= 4 * (i1 - i0) + 64) {
        catalog_read_row(nd->img, nd->band, r, cmin, cmax - cmin + 1, lv, lm);
        for (i = i0; i < i1; i++) {
            val[i] = lv[lc[i] - cmin];
            mask[i] = lm[lc[i] - cmin];
        }
        return;
    }
    while (i < i1) {
        long j = i + 1;
        while (j < i1 && lc[j] == lc[j - 1] + 1)
            j++;
        catalog_read_row(nd->img, nd->band, r, lc[i], j - i, val + i, mask + i);
        i = j;
    }
}

/* Native column of point (px, py) in a band of affine a and size width x
 * height, and its row in *r; -1 and -1 outside the band (or NaN). For
 * u >= 0, floor(u) >= 0 and floor(u) < width exactly when u < width, and
 * truncation is floor, so no floor() call is needed (a slow library
 * sequence on baseline x86-64). */
static inline long exact_pixel(const double *a, double det, double px, double py, double width,
                               double height, long *r)
{
    double dx = px - a[2], dy = py - a[5];
    double u = (a[4] * dx - a[1] * dy) / det;
    double v = (-a[3] * dx + a[0] * dy) / det;
    if (!(u >= 0 && u < width && v >= 0 && v < height)) {
        *r = -1;
        return -1;
    }
    *r = (long)v;
    return (long)u;
}

#define STEP_EPS 1e-5

/* Whether d, u minus its truncation, puts u (|u| < 1e8) within STEP_EPS
 * of an integer. Negative u (-1 < d <= 0) always count as near, which is
 * only slower. near_integer(u) answers the same for any u, and says near
 * when it cannot tell. */
static inline int near_fraction(double d)
{
    return d < STEP_EPS || d > 1 - STEP_EPS;
}

static inline int near_integer(double u)
{
    return !(fabs(u) < 1e8) || near_fraction(fabs(u - (double)(long)u));
}

static int render_load(struct ev_ctx *x, struct ev_node *nd, const struct pts *p, double *val,
                       uint8_t *mask, struct errbuf *e)
{
    const struct cat_band *cb = &nd->img->bands[nd->band];
    const double *a = cb->grid.affine;
    const double *px = p->x, *py = p->y;
    double det = a[0] * a[4] - a[1] * a[3];
    double width = (double)cb->grid.width, height = (double)cb->grid.height;
    double u0 = 0, v0 = 0, du = 0, dv = 0;
    int stepped = 0, vnear;
    long i, n = p->n, seg = -1, seg_r = -1, cmin = 0, cmax = 0, *lc = p->ls->lc;
    int rc;

    if (det == 0)
        return err_set(e, ERR_INTERNAL, "band %s has a singular grid", cb->id);
    if (p->row_affine && strcmp(p->crs, cb->grid.crs) == 0) {
        /* Native pixel coordinates move linearly along the row. */
        double xm = fmax(fabs(p->x0), fabs(p->x0 + (double)n * p->dx)) + fabs(a[2]);
        double ym = fmax(fabs(p->y0), fabs(p->y0 + (double)n * p->dy)) + fabs(a[5]);
        u0 = (a[4] * (p->x0 - a[2]) - a[1] * (p->y0 - a[5])) / det;
        v0 = (-a[3] * (p->x0 - a[2]) + a[0] * (p->y0 - a[5])) / det;
        du = (a[4] * p->dx - a[1] * p->dy) / det;
        dv = (-a[3] * p->dx + a[0] * p->dy) / det;
        /* Rounding errors, in native pixels, stay below 1e8 * 2^-52 * a
         * few ops, far under STEP_EPS, when the coordinates are under 1e8
         * native pixels from 0 (any real grid). */
        stepped = (xm + ym) * (fabs(a[0]) + fabs(a[1]) + fabs(a[3]) + fabs(a[4])) / fabs(det) <
                  1e8;
        if (du == 1 && dv == 0) {
            /* Same pixel size and orientation: the row is one native run. */
            double fr = floor(v0), fc = floor(u0);
            long first = 0, last = n, r, c0;
            if (!(fr >= 0 && fr < cb->grid.height && fabs(fc) < 1e15)) {
                memset(val, 0, sizeof *val * (size_t)n);
                memset(mask, 0, sizeof *mask * (size_t)n);
                return 0;
            }
            r = (long)fr;
            c0 = (long)fc;
            if (c0 < 0)
                first = -c0 < n ? -c0 : n;
            if (c0 + last > cb->grid.width)
                last = cb->grid.width - c0 > first ? cb->grid.width - c0 : first;
            memset(val, 0, sizeof *val * (size_t)first);
            memset(mask, 0, sizeof *mask * (size_t)first);
            if (last > first)
                catalog_read_row(nd->img, nd->band, r, c0 + first, last - first, val + first,
                                 mask + first);
            memset(val + last, 0, sizeof *val * (size_t)(n - last));
            memset(mask + last, 0, sizeof *mask * (size_t)(n - last));
            return 0;
        }
    }
    if (strcmp(p->crs, cb->grid.crs) != 0) {
        struct xcache *xc = p->cache;
        int k = 0;
        if (xc)
            for (k = 0; k < xc->used; k++)
                if (strcmp(xc->crs[k], cb->grid.crs) == 0)
                    break;
        if (xc && k < xc->used) {
            px = xc->x[k];
            py = xc->y[k];
        } else {
            if ((rc = scratch(x, nd, n, e)) ||
                (rc = to_crs(x, p, cb->grid.crs, nd->sx, nd->sy, e)))
                return rc;
            px = nd->sx;
            py = nd->sy;
            if (xc && xc->used < XCACHE_SLOTS && strlen(cb->grid.crs) < sizeof xc->crs[0]) {
                k = xc->used++;
                snprintf(xc->crs[k], sizeof xc->crs[k], "%s", cb->grid.crs);
                memcpy(xc->x[k], px, sizeof *px * (size_t)n);
                memcpy(xc->y[k], py, sizeof *py * (size_t)n);
            }
        }
    }
    /* One pass: the native pixel (c, r) of each point, then stretches of
     * consecutive points in one native row are read together (seg).
     *
     * Along an affine row in the band's CRS the native coordinates (u, v)
     * are stepped (two divisions per point were most of the cost of a
     * resampled load); a stepped value that is not within STEP_EPS of an
     * integer has the same floor as the exact one, and the few that are get
     * the exact formula, so every pixel is the one the exact formula picks.
     * A stepped u in (-STEP_EPS, 0) truncates to 0 with a negative
     * remainder, which counts as near. */
    vnear = stepped && dv == 0 ? near_integer(v0) : 1;   /* v fixed: checked once */
    for (i = 0; i < n; i++) {
        long c = -1, r = -1;
        if (stepped) {
            double u = u0 + (double)i * du, v = v0 + (double)i * dv;
            if (u > -STEP_EPS && u < width + STEP_EPS && v > -STEP_EPS &&
                v < height + STEP_EPS) {
                c = (long)u;
                r = (long)v;
                if (near_fraction(u - (double)c) || (vnear && near_fraction(v - (double)r)))
                    c = exact_pixel(a, det, px[i], py[i], width, height, &r);
            }
        } else {
            c = exact_pixel(a, det, px[i], py[i], width, height, &r);
        }
        lc[i] = c;
        if (seg >= 0 && r != seg_r) {
            load_stretch(nd, p->ls, seg_r, seg, i, cmin, cmax, val, mask);
            seg = -1;
        }
        if (r < 0) {
            val[i] = 0;   /* outside the band (or NaN): masked */
            mask[i] = 0;
        } else if (seg < 0) {
            seg = i;
            seg_r = r;
            cmin = cmax = c;
        } else {
            cmin = c < cmin ? c : cmin;
            cmax = c > cmax ? c : cmax;
        }
    }
    if (seg >= 0)
        load_stretch(nd, p->ls, seg_r, seg, n, cmin, cmax, val, mask);
    return 0;
}

static void cast_row(const struct ev_node *nd, long n, double *val)
{
    double lo = nd->cast.lo, hi = nd->cast.hi;
    long i;
    switch (nd->cast.prec) {
    case EV_DOUBLE:
        return;
    case EV_FLOAT:
        for (i = 0; i < n; i++)
            if (isfinite(val[i]))
                val[i] = (double)(float)val[i];
        return;
    case EV_INT:
        /* EE's casts clamp to the target range, then drop the fraction. */
        for (i = 0; i < n; i++) {
            double v = val[i];
            val[i] = isnan(v) ? 0 : v < lo ? lo : v > hi ? hi : trunc(v);
        }
        return;
    }
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return a < b ? -1 : a > b;
}

/* Sorts t[0..cnt): a stable insertion sort for the usual few values;
 * qsort (glibc's merge sort, also stable, so the same order) for many
 * values or NaNs, which compare equal to everything. */
static void sort_values(double *t, int cnt, int has_nan)
{
    int a, b;
    if (cnt > 16 || has_nan) {
        qsort(t, (size_t)cnt, sizeof *t, cmp_double);
        return;
    }
    for (a = 1; a < cnt; a++) {
        double v = t[a];
        for (b = a; b > 0 && t[b - 1] > v; b--)
            t[b] = t[b - 1];
        t[b] = v;
    }
}

/* Median of t[0..cnt), which it sorts. */
static double median_of(double *t, int cnt, int has_nan)
{
    sort_values(t, cnt, has_nan);
    /* Even counts: the mean of the two middle values. */
    return cnt % 2 ? t[cnt / 2] : (t[cnt / 2 - 1] + t[cnt / 2]) / 2;
}

double render_percentile(double *t, int cnt, int has_nan, double p)
{
    double pos, f;
    int lo;
    sort_values(t, cnt, has_nan);
    /* Linear interpolation between the two closest ranks (numpy's default;
     * p50 is then the median, the mean of the middle two for even counts). */
    pos = p / 100.0 * (cnt - 1);
    if (!(pos > 0))
        return t[0];
    if (pos >= cnt - 1)
        return t[cnt - 1];
    lo = (int)floor(pos);
    f = pos - lo;
    return f == 0 ? t[lo] : t[lo] + f * (t[lo + 1] - t[lo]);
}

/* Population variance of t[0..cnt) (EE's variance and stdDev divide by n). */
static double variance_of(const double *t, int cnt)
{
    double m = 0, ss = 0;
    int k;
    for (k = 0; k < cnt; k++)
        m += t[k];
    m /= cnt;
    for (k = 0; k < cnt; k++)
        ss += (t[k] - m) * (t[k] - m);
    return ss / cnt;
}

/* Most frequent value of t[0..cnt), which it sorts; the smallest of equally
 * frequent values. */
double render_mode(double *t, int cnt, int has_nan)
{
    int k, run = 1, best = 0;
    double m;
    sort_values(t, cnt, has_nan);
    m = t[0];
    for (k = 1; k <= cnt; k++) {
        if (k < cnt && t[k] == t[k - 1]) {
            run++;
            continue;
        }
        if (run > best) {
            best = run;
            m = t[k - 1];
        }
        run = 1;
    }
    return m;
}

/* qualityMosaic: per pixel, the value of the image whose quality band is
 * highest (the later image on ties, as mosaic puts later images on top). */
static void combine_quality(const struct ev_node *nd, long n, double *val, uint8_t *mask)
{
    const double *sv = nd->sv;
    const uint8_t *sm = nd->sm;
    long i, k, nk = nd->nkids / 2;
    for (i = 0; i < n; i++) {
        long best = -1;
        double q = 0;
        for (k = 0; k < nk; k++) {
            double qk = sv[(nk + k) * n + i];
            if (!sm[(nk + k) * n + i] || isnan(qk))
                continue;
            if (best < 0 || qk >= q) {
                best = k;
                q = qk;
            }
        }
        val[i] = best >= 0 ? sv[best * n + i] : 0;
        mask[i] = best >= 0 && sm[best * n + i];
    }
}

static void combine(const struct ev_node *nd, long n, double *val, uint8_t *mask)
{
    const double *sv = nd->sv;
    const uint8_t *sm = nd->sm;
    long i, k, nk = nd->nkids;
    if (nd->reducer == RED_QUALITY) {
        combine_quality(nd, n, val, mask);
        return;
    }
    for (i = 0; i < n; i++) {
        double acc = 0, *tmp = nd->sx;
        int cnt = 0, has_nan = 0;
        if (nd->reducer == RED_MOSAIC || nd->reducer == RED_LAST || nd->reducer == RED_FIRST) {
            int first = nd->reducer == RED_FIRST;
            val[i] = 0;
            mask[i] = 0;
            /* mosaic: the last image is on top */
            for (k = first ? 0 : nk - 1; first ? k < nk : k >= 0; k += first ? 1 : -1)
                if (sm[k * n + i]) {
                    val[i] = sv[k * n + i];
                    mask[i] = 1;
                    break;
                }
            continue;
        }
        for (k = 0; k < nk; k++) {
            double v;
            if (!sm[k * n + i])
                continue;
            v = sv[k * n + i];
            switch (nd->reducer) {
            case RED_MIN: acc = cnt ? fmin(acc, v) : v; break;
            case RED_MAX: acc = cnt ? fmax(acc, v) : v; break;
            case RED_MEAN: case RED_SUM: acc += v; break;
            case RED_COUNT: break;
            default:
                tmp[cnt] = v;
                has_nan |= isnan(v);
                break;
            }
            cnt++;
        }
        /* No valid input: the output is masked, whatever the reducer
         * (count and sum too, as EE leaves such pixels masked). */
        if (!cnt) {
            val[i] = 0;
            mask[i] = 0;
            continue;
        }
        switch (nd->reducer) {
        case RED_MEAN: acc /= cnt; break;
        case RED_MEDIAN: acc = median_of(tmp, cnt, has_nan); break;
        case RED_COUNT: acc = cnt; break;
        case RED_PERCENTILE: acc = render_percentile(tmp, cnt, has_nan, nd->value); break;
        case RED_VARIANCE: acc = variance_of(tmp, cnt); break;
        case RED_STDDEV: acc = sqrt(variance_of(tmp, cnt)); break;
        case RED_MODE: acc = render_mode(tmp, cnt, has_nan); break;
        case RED_SAMPLE_VARIANCE:
        case RED_SAMPLE_STDDEV:
            if (cnt < 2) {   /* undefined for one value: masked */
                val[i] = 0;
                mask[i] = 0;
                continue;
            }
            acc = variance_of(tmp, cnt) * cnt / (cnt - 1);
            if (nd->reducer == RED_SAMPLE_STDDEV)
                acc = sqrt(acc);
            break;
        default: break;
        }
        val[i] = acc;
        mask[i] = 1;
    }
}

/* val, mask = val op b for a binary node; one loop per operator so each
 * is a plain loop the compiler can vectorise. bm is NULL when b is a
 * constant (valid everywhere). */
static void apply_binary(enum node_op op, long n, double *val, uint8_t *mask, const double *bv,
                         const uint8_t *bm)
{
    long i;
    switch (op) {
    case NODE_ADD:
        for (i = 0; i < n; i++) val[i] = val[i] + bv[i];
        break;
    case NODE_SUB:
        for (i = 0; i < n; i++) val[i] = val[i] - bv[i];
        break;
    case NODE_MUL:
        for (i = 0; i < n; i++) val[i] = val[i] * bv[i];
        break;
    case NODE_DIV:
        for (i = 0; i < n; i++) val[i] = bv[i] == 0 ? 0 : val[i] / bv[i];
        break;
    case NODE_ND:
        for (i = 0; i < n; i++) {
            double a = val[i], b = bv[i];
            val[i] = a + b == 0 ? 0 : (a - b) / (a + b);
        }
        break;
    case NODE_LT:
        for (i = 0; i < n; i++) val[i] = val[i] < bv[i];
        break;
    case NODE_GT:
        for (i = 0; i < n; i++) val[i] = val[i] > bv[i];
        break;
    case NODE_LTE:
        for (i = 0; i < n; i++) val[i] = val[i] <= bv[i];
        break;
    case NODE_GTE:
        for (i = 0; i < n; i++) val[i] = val[i] >= bv[i];
        break;
    case NODE_EQ:
        for (i = 0; i < n; i++) val[i] = val[i] == bv[i];
        break;
    case NODE_NEQ:
        for (i = 0; i < n; i++) val[i] = val[i] != bv[i];
        break;
    case NODE_AND:
        for (i = 0; i < n; i++) val[i] = (val[i] != 0) & (bv[i] != 0);
        break;
    case NODE_OR:
        for (i = 0; i < n; i++) val[i] = (val[i] != 0) | (bv[i] != 0);
        break;
    case NODE_BITAND:
        for (i = 0; i < n; i++) {
            double a = val[i], b = bv[i];
            val[i] = isfinite(a) && isfinite(b) && fabs(a) < 9.2e18 && fabs(b) < 9.2e18
                         ? (double)((long long)a & (long long)b) : 0;
        }
        break;
    case NODE_UPDMASK:
        if (!bm)
            for (i = 0; i < n; i++) mask[i] = (mask[i] != 0) & (bv[i] != 0);
        else
            for (i = 0; i < n; i++) mask[i] = (mask[i] != 0) & (bm[i] != 0) & (bv[i] != 0);
        return;
    case NODE_UNMASK:
        for (i = 0; i < n; i++)
            if (!mask[i]) {
                val[i] = bv[i];
                mask[i] = bm ? bm[i] : 1;
            }
        return;
    default:
        break;
    }
    /* & of the tests, not &&: the same 0 or 1 without a branch. Masks are
     * 0 or 1 everywhere, so a constant operand leaves them as they are. */
    if (bm)
        for (i = 0; i < n; i++)
            mask[i] = (mask[i] != 0) & (bm[i] != 0);
}

static int render_op(struct ev_ctx *x, struct ev_node *nd, const struct pts *p, double *val,
                     uint8_t *mask, struct errbuf *e)
{
    long i, n = p->n;
    int rc, k;

    switch (nd->op) {
    case NODE_LOAD:
        return render_load(x, nd, p, val, mask, e);
    case NODE_CONST:
        for (i = 0; i < n; i++) {
            val[i] = nd->value;
            mask[i] = 1;
        }
        return 0;
    case NODE_ADD: case NODE_SUB: case NODE_MUL: case NODE_DIV: case NODE_ND:
    case NODE_LT: case NODE_GT: case NODE_LTE: case NODE_GTE: case NODE_EQ: case NODE_NEQ:
    case NODE_AND: case NODE_OR: case NODE_BITAND:
    case NODE_UPDMASK: case NODE_UNMASK: {
        /* sameFootprint: no fill outside the input's footprint; the fill's
         * mask is edited below, so it cannot be a kept constant. */
        int foot = nd->op == NODE_UNMASK && nd->geom;
        if ((rc = scratch(x, nd, n, e)) || (rc = render_node(x, nd->a, p, val, mask, e)))
            return rc;
        if (nd->b->op == NODE_CONST && !foot) {
            /* A constant operand (scl != 3) is the same for every row. */
            if (!nd->sv_const) {
                for (i = 0; i < nd->scap; i++) {
                    nd->sv[i] = nd->b->value;
                    nd->sm[i] = 1;
                }
                nd->sv_const = 1;
            }
        } else {
            nd->sv_const = 0;
            if ((rc = render_node(x, nd->b, p, nd->sv, nd->sm, e)))
                return rc;
        }
        if (foot) {
            if ((rc = to_crs(x, p, "EPSG:4326", nd->sx, nd->sy, e)))
                return rc;
            for (i = 0; i < n; i++)
                if (!mask[i] && !(isfinite(nd->sx[i]) &&
                                  geom_contains(nd->geom, nd->sx[i], nd->sy[i])))
                    nd->sm[i] = 0;
        }
        apply_binary(nd->op, n, val, mask, nd->sv, nd->sv_const ? NULL : nd->sm);
        return 0;
    }
    case NODE_CAST:
        if ((rc = render_node(x, nd->a, p, val, mask, e)))
            return rc;
        cast_row(nd, n, val);
        return 0;
    case NODE_VIS:
        if ((rc = render_node(x, nd->a, p, val, mask, e)))
            return rc;
        eval_vis_row(nd, n, val, mask);
        return 0;
    case NODE_GETMASK:
        if ((rc = render_node(x, nd->a, p, val, mask, e)))
            return rc;
        for (i = 0; i < n; i++) {
            val[i] = mask[i] ? 1.0 : 0.0;
            mask[i] = 1;
        }
        return 0;
    case NODE_CLIP:
        if ((rc = scratch(x, nd, n, e)) || (rc = render_node(x, nd->a, p, val, mask, e)) ||
            (rc = to_crs(x, p, "EPSG:4326", nd->sx, nd->sy, e)))
            return rc;
        for (i = 0; i < n; i++)
            if (mask[i] && !(isfinite(nd->sx[i]) && geom_contains(nd->geom, nd->sx[i], nd->sy[i])))
                mask[i] = 0;
        return 0;
    case NODE_REPROJECT: {
        const double *a = nd->grid.affine;
        double det = a[0] * a[4] - a[1] * a[3];
        struct pts q;
        if ((rc = scratch(x, nd, n, e)) || (rc = to_crs(x, p, nd->grid.crs, nd->sx, nd->sy, e)))
            return rc;
        /* Snap every point to the centre of its pixel in the target grid. */
        for (i = 0; i < n; i++) {
            double dx = nd->sx[i] - a[2], dy = nd->sy[i] - a[5];
            double c = floor((a[4] * dx - a[1] * dy) / det) + 0.5;
            double r = floor((-a[3] * dx + a[0] * dy) / det) + 0.5;
            nd->sm[i] = isfinite(c) && isfinite(r) &&
                        (nd->grid.width <= 0 || (c > 0 && c < nd->grid.width && r > 0 &&
                                                 r < nd->grid.height));
            nd->sx[i] = a[0] * c + a[1] * r + a[2];
            nd->sy[i] = a[3] * c + a[4] * r + a[5];
        }
        memset(&q, 0, sizeof q);
        q.crs = nd->grid.crs;
        q.x = nd->sx;
        q.y = nd->sy;
        q.n = n;
        q.gen = render_id();
        q.ls = p->ls;
        if ((rc = render_node(x, nd->a, &q, val, mask, e)))
            return rc;
        for (i = 0; i < n; i++)
            if (!nd->sm[i])
                mask[i] = 0;
        return 0;
    }
    case NODE_WHERE:
        if ((rc = scratch(x, nd, n, e)) || (rc = render_node(x, nd->a, p, val, mask, e)) ||
            (rc = render_node(x, nd->b, p, nd->sv, nd->sm, e)) ||
            (rc = render_node(x, nd->c, p, nd->sv + n, nd->sm + n, e)))
            return rc;
        for (i = 0; i < n; i++)
            if (nd->sm[i] && nd->sv[i] != 0) {   /* where the test is true */
                val[i] = nd->sv[n + i];
                mask[i] = nd->sm[n + i];
            }
        return 0;
    case NODE_COMPOSITE:
        if ((rc = scratch(x, nd, n, e)))
            return rc;
        for (k = 0; k < nd->nkids; k++)
            if ((rc = render_node(x, nd->kids[k], p, nd->sv + (long)k * n, nd->sm + (long)k * n, e)))
                return rc;
        combine(nd, n, val, mask);
        return 0;
    }
    return err_set(e, ERR_INTERNAL, "unknown pixel node");
}

/* render_op, through the memo for shared nodes. */
static int render_node(struct ev_ctx *x, struct ev_node *nd, const struct pts *p, double *val,
                       uint8_t *mask, struct errbuf *e)
{
    int rc;
    if (nd->memo && nd->mgen == p->gen) {
        memcpy(val, nd->mv, sizeof *val * (size_t)p->n);
        memcpy(mask, nd->mm, sizeof *mask * (size_t)p->n);
        return 0;
    }
    if ((rc = render_op(x, nd, p, val, mask, e)))
        return rc;
    if (nd->memo) {
        memcpy(nd->mv, val, sizeof *val * (size_t)p->n);
        memcpy(nd->mm, mask, sizeof *mask * (size_t)p->n);
        nd->mgen = p->gen;
    }
    return 0;
}

int render_image(struct ev_ctx *x, const struct ev_image *img, const struct ee_grid *grid,
                 struct raster *out, struct errbuf *e)
{
    const double *a = grid->affine;
    long w = grid->width, h = grid->height, i, j;
    double *px = NULL, *py = NULL;
    unsigned long pass = render_id();
    struct pts p;
    struct xcache xc;
    struct load_scratch ls;
    int b, rc, k;

    memset(out, 0, sizeof *out);
    /* Every node writes all n values and masks of its row (loads write 0
     * and mask 0 outside their band), so the planes need no zeroing. */
    if ((rc = raster_alloc_uninit(out, w, h, img->nbands)) != 0)
        return err_set(e, ERR_NOMEM, "out of memory for a %ldx%ld raster", w, h);
    out->grid = *grid;
    for (b = 0; b < img->nbands; b++) {
        snprintf(out->bands[b].id, sizeof out->bands[b].id, "%s", img->bands[b].id);
        out->bands[b].type = eval_dtype_px(&img->bands[b].dt);
        if ((rc = count_refs(x, img->bands[b].node, pass, w ? w : 1, e)) != 0)
            goto fail;
    }
    px = malloc(sizeof *px * (size_t)(w ? w : 1));
    py = malloc(sizeof *py * (size_t)(w ? w : 1));
    ls.lc = eval_alloc(x, sizeof *ls.lc * (size_t)(w ? w : 1));
    ls.lv = eval_alloc(x, sizeof *ls.lv * (size_t)(4 * w + 64));
    ls.lm = eval_alloc(x, sizeof *ls.lm * (size_t)(4 * w + 64));
    if (!ls.lc || !ls.lv || !ls.lm) {
        free(px);
        px = NULL;   /* reported just below */
    }
    memset(&xc, 0, sizeof xc);
    for (k = 0; k < XCACHE_SLOTS; k++) {
        xc.x[k] = eval_alloc(x, sizeof *px * (size_t)(w ? w : 1));
        xc.y[k] = eval_alloc(x, sizeof *py * (size_t)(w ? w : 1));
        if (!xc.x[k] || !xc.y[k]) {
            free(px);
            px = NULL;   /* reported just below */
        }
    }
    if (!px || !py) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto fail;
    }
    memset(&p, 0, sizeof p);
    p.crs = grid->crs;
    p.x = px;
    p.y = py;
    p.n = w;
    p.row_affine = 1;
    p.dx = a[0];
    p.dy = a[3];
    p.cache = &xc;
    p.ls = &ls;
    for (j = 0; j < h; j++) {
        for (i = 0; i < w; i++) {
            px[i] = a[0] * (i + 0.5) + a[1] * (j + 0.5) + a[2];
            py[i] = a[3] * (i + 0.5) + a[4] * (j + 0.5) + a[5];
        }
        xc.used = 0;   /* a new row: nothing transformed yet */
        p.gen = render_id();
        p.x0 = a[0] * 0.5 + a[1] * (j + 0.5) + a[2];
        p.y0 = a[3] * 0.5 + a[4] * (j + 0.5) + a[5];
        for (b = 0; b < img->nbands; b++) {
            double *v = out->bands[b].data + j * w;
            uint8_t *m = out->bands[b].mask + j * w;
            if ((rc = render_node(x, img->bands[b].node, &p, v, m, e)) != 0)
                goto fail;
            if (img->bands[b].node->op == NODE_LOAD)
                continue;   /* catalog reads are finite and 0 where masked */
            for (i = 0; i < w; i++)   /* EE sends masked pixels as 0 */
                if (!m[i] || !isfinite(v[i]))
                    v[i] = 0;
        }
    }
    free(px);
    free(py);
    return 0;
fail:
    free(px);
    free(py);
    raster_free(out);
    return rc;
}

struct img_set {
    const struct cat_image **p;
    int64_t n, cap;
};

/* Counts each catalog image once per request, however many bands it gives. */
static void count_image(struct img_set *s, const struct cat_image *img, int64_t *images)
{
    int64_t i;
    for (i = 0; i < s->n; i++)
        if (s->p[i] == img)
            return;
    (*images)++;
    if (s->n == s->cap) {
        int64_t cap = s->cap ? 2 * s->cap : 64;
        const struct cat_image **np = realloc(s->p, sizeof *np * (size_t)cap);
        if (!np)
            return;   /* only the count of later images can repeat */
        s->p = np;
        s->cap = cap;
    }
    s->p[s->n++] = img;
}

static int64_t node_work(const struct ev_node *nd, int64_t npix, struct img_set *s,
                         int64_t *images)
{
    int64_t w = 0;
    int k;
    if (!nd)
        return 0;
    switch (nd->op) {
    case NODE_LOAD:
        count_image(s, nd->img, images);
        return npix * (int64_t)px_size(nd->img->bands[nd->band].type);
    case NODE_COMPOSITE:
        for (k = 0; k < nd->nkids; k++)
            w += node_work(nd->kids[k], npix, s, images);
        return w;
    default:
        return node_work(nd->a, npix, s, images) + node_work(nd->b, npix, s, images) +
               node_work(nd->c, npix, s, images);
    }
}

/* The i-th operand of nd (a, b, c, then kids), or NULL past the last. */
static struct ev_node *operand(const struct ev_node *nd, int i, int *more)
{
    *more = i < 3 + nd->nkids;
    if (i == 0)
        return nd->a;
    if (i == 1)
        return nd->b;
    if (i == 2)
        return nd->c;
    return *more ? nd->kids[i - 3] : NULL;
}

/* Heights by an explicit post-order walk (no recursion: the tree may be as
 * tall as the request is long), cached in the nodes. */
static int node_height(struct ev_node *root, int limit, struct errbuf *e)
{
    struct ev_node **stack;
    int *next, sp = 0, cap = 64, rc = 0;

    if (!root || root->height)
        return 0;
    stack = malloc(sizeof *stack * (size_t)cap);
    next = malloc(sizeof *next * (size_t)cap);
    if (!stack || !next) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    stack[0] = root;
    next[sp++] = 0;
    while (sp > 0) {
        struct ev_node *nd = stack[sp - 1], *kid = NULL;
        int more = 1;
        while (more) {
            kid = operand(nd, next[sp - 1]++, &more);
            if (kid && !kid->height)
                break;
            kid = NULL;
        }
        if (kid) {
            if (sp >= limit) {
                rc = err_set(e, ERR_USAGE, "Computation is too complex: an image band is a chain "
                             "of more than %d operations.", limit);
                goto done;
            }
            if (sp == cap) {
                struct ev_node **ns;
                int *nn;
                cap *= 2;
                if (!(ns = realloc(stack, sizeof *ns * (size_t)cap))) {
                    rc = err_set(e, ERR_NOMEM, "out of memory");
                    goto done;
                }
                stack = ns;
                if (!(nn = realloc(next, sizeof *nn * (size_t)cap))) {
                    rc = err_set(e, ERR_NOMEM, "out of memory");
                    goto done;
                }
                next = nn;
            }
            stack[sp] = kid;
            next[sp++] = 0;
            continue;
        }
        {
            int i, h = 0;
            for (i = 0, more = 1; more; i++) {
                struct ev_node *k = operand(nd, i, &more);
                if (k && k->height > h)
                    h = k->height;
            }
            nd->height = h + 1;
        }
        sp--;
    }
    if (root->height > limit)
        rc = err_set(e, ERR_USAGE, "Computation is too complex: an image band is a chain of more "
                     "than %d operations.", limit);
done:
    free(stack);
    free(next);
    return rc;
}

int render_check_depth(const struct ev_image *img, struct errbuf *e)
{
    int b, rc;
    for (b = 0; b < img->nbands; b++)
        if ((rc = node_height(img->bands[b].node, RENDER_MAX_DEPTH, e)) != 0)
            return rc;
    return 0;
}

int64_t render_work_bytes(const struct ev_image *img, int64_t npix, int64_t *images)
{
    struct img_set s = {NULL, 0, 0};
    int64_t w = 0;
    int b;
    *images = 0;
    for (b = 0; b < img->nbands; b++)
        w += node_work(img->bands[b].node, npix, &s, images);
    free(s.p);
    return w;
}
