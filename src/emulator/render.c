/*
 * Row-by-row rendering of band expressions. Each node evaluates a batch of
 * points (one output row) given in some CRS; loads transform the batch to
 * the band's CRS once per row (or not at all when the CRS is the same) and
 * read runs of consecutive native pixels with catalog_read_row, so the
 * common aligned case costs a few flops per pixel and one call per row.
 */
#include "emulator/render.h"

#include <gdal/ogr_srs_api.h>
#include <math.h>
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
};

#define XCACHE_SLOTS 4

struct xcache {
    int used;
    char crs[XCACHE_SLOTS][64];
    double *x[XCACHE_SLOTS], *y[XCACHE_SLOTS];
};

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
    if (!nd->sv || !nd->sm || !nd->sx || !nd->sy)
        return err_set(e, ERR_NOMEM, "out of memory");
    nd->scap = n;
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

static int render_load(struct ev_ctx *x, struct ev_node *nd, const struct pts *p, double *val,
                       uint8_t *mask, struct errbuf *e)
{
    const struct cat_band *cb = &nd->img->bands[nd->band];
    const double *a = cb->grid.affine;
    const double *px = p->x, *py = p->y;
    double det = a[0] * a[4] - a[1] * a[3];
    long i, run0 = 0, rrow = 0, rcol = 0, rlen = 0;
    int rc;

    if (det == 0)
        return err_set(e, ERR_INTERNAL, "band %s has a singular grid", cb->id);
    if (p->row_affine && strcmp(p->crs, cb->grid.crs) == 0) {
        /* Native pixel coordinates move linearly along the row. */
        double u0 = (a[4] * (p->x0 - a[2]) - a[1] * (p->y0 - a[5])) / det;
        double v0 = (-a[3] * (p->x0 - a[2]) + a[0] * (p->y0 - a[5])) / det;
        double du = (a[4] * p->dx - a[1] * p->dy) / det;
        double dv = (-a[3] * p->dx + a[0] * p->dy) / det;
        if (du == 1 && dv == 0) {
            /* Same pixel size and orientation: the row is one native run. */
            double fr = floor(v0), fc = floor(u0);
            long first = 0, last = p->n, r, c0;
            if (!(fr >= 0 && fr < cb->grid.height && fabs(fc) < 1e15)) {
                memset(val, 0, sizeof *val * (size_t)p->n);
                memset(mask, 0, sizeof *mask * (size_t)p->n);
                return 0;
            }
            r = (long)fr;
            c0 = (long)fc;
            if (c0 < 0)
                first = -c0 < p->n ? -c0 : p->n;
            if (c0 + last > cb->grid.width)
                last = cb->grid.width - c0 > first ? cb->grid.width - c0 : first;
            memset(val, 0, sizeof *val * (size_t)first);
            memset(mask, 0, sizeof *mask * (size_t)first);
            if (last > first)
                catalog_read_row(nd->img, nd->band, r, c0 + first, last - first, val + first,
                                 mask + first);
            memset(val + last, 0, sizeof *val * (size_t)(p->n - last));
            memset(mask + last, 0, sizeof *mask * (size_t)(p->n - last));
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
            if ((rc = scratch(x, nd, p->n, e)) ||
                (rc = to_crs(x, p, cb->grid.crs, nd->sx, nd->sy, e)))
                return rc;
            px = nd->sx;
            py = nd->sy;
            if (xc && xc->used < XCACHE_SLOTS && strlen(cb->grid.crs) < sizeof xc->crs[0]) {
                k = xc->used++;
                snprintf(xc->crs[k], sizeof xc->crs[k], "%s", cb->grid.crs);
                memcpy(xc->x[k], px, sizeof *px * (size_t)p->n);
                memcpy(xc->y[k], py, sizeof *py * (size_t)p->n);
            }
        }
    }
    for (i = 0; i < p->n; i++) {
        double dx = px[i] - a[2], dy = py[i] - a[5];
        double fc = floor((a[4] * dx - a[1] * dy) / det);
        double fr = floor((-a[3] * dx + a[0] * dy) / det);
        long c, r;
        if (!(fc >= 0 && fc < cb->grid.width && fr >= 0 && fr < cb->grid.height)) {
            val[i] = 0;   /* outside the band (or NaN): masked */
            mask[i] = 0;
            if (rlen) {
                catalog_read_row(nd->img, nd->band, rrow, rcol, rlen, val + run0, mask + run0);
                rlen = 0;
            }
            continue;
        }
        c = (long)fc;
        r = (long)fr;
        if (rlen && r == rrow && c == rcol + rlen) {
            rlen++;
            continue;
        }
        if (rlen)
            catalog_read_row(nd->img, nd->band, rrow, rcol, rlen, val + run0, mask + run0);
        run0 = i;
        rrow = r;
        rcol = c;
        rlen = 1;
    }
    if (rlen)
        catalog_read_row(nd->img, nd->band, rrow, rcol, rlen, val + run0, mask + run0);
    return 0;
}

static double cast_value(double v, const struct ev_node *nd)
{
    if (nd->cast.prec == EV_DOUBLE)
        return v;
    if (nd->cast.prec == EV_FLOAT)
        return isfinite(v) ? (double)(float)v : v;
    if (isnan(v))
        return 0;
    /* EE's casts clamp to the target range, then drop the fraction. */
    if (v < nd->cast.lo)
        return nd->cast.lo;
    if (v > nd->cast.hi)
        return nd->cast.hi;
    return trunc(v);
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return a < b ? -1 : a > b;
}

static void combine(const struct ev_node *nd, long n, double *val, uint8_t *mask)
{
    long i, k, nk = nd->nkids;
    for (i = 0; i < n; i++) {
        double acc = 0, *tmp = nd->sx;
        int cnt = 0;
        if (nd->reducer == RED_MOSAIC) {
            val[i] = 0;
            mask[i] = 0;
            for (k = nk - 1; k >= 0; k--)   /* the last image is on top */
                if (nd->sm[k * n + i]) {
                    val[i] = nd->sv[k * n + i];
                    mask[i] = 1;
                    break;
                }
            continue;
        }
        for (k = 0; k < nk; k++) {
            double v;
            if (!nd->sm[k * n + i])
                continue;
            v = nd->sv[k * n + i];
            switch (nd->reducer) {
            case RED_MIN: acc = cnt ? fmin(acc, v) : v; break;
            case RED_MAX: acc = cnt ? fmax(acc, v) : v; break;
            case RED_MEAN: acc += v; break;
            default: tmp[cnt] = v; break;
            }
            cnt++;
        }
        if (!cnt) {
            val[i] = 0;
            mask[i] = 0;
            continue;
        }
        if (nd->reducer == RED_MEAN) {
            acc /= cnt;
        } else if (nd->reducer == RED_MEDIAN) {
            /* Even counts: the mean of the two middle values. */
            qsort(tmp, (size_t)cnt, sizeof *tmp, cmp_double);
            acc = cnt % 2 ? tmp[cnt / 2] : (tmp[cnt / 2 - 1] + tmp[cnt / 2]) / 2;
        }
        val[i] = acc;
        mask[i] = 1;
    }
}

static int render_node(struct ev_ctx *x, struct ev_node *nd, const struct pts *p, double *val,
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
    case NODE_UPDMASK: case NODE_UNMASK:
        if ((rc = scratch(x, nd, n, e)) || (rc = render_node(x, nd->a, p, val, mask, e)) ||
            (rc = render_node(x, nd->b, p, nd->sv, nd->sm, e)))
            return rc;
        if (nd->op == NODE_UNMASK && nd->geom) {
            /* sameFootprint: no fill outside the input's footprint */
            if ((rc = to_crs(x, p, "EPSG:4326", nd->sx, nd->sy, e)))
                return rc;
            for (i = 0; i < n; i++)
                if (!mask[i] && !(isfinite(nd->sx[i]) &&
                                  geom_contains(nd->geom, nd->sx[i], nd->sy[i])))
                    nd->sm[i] = 0;
        }
        for (i = 0; i < n; i++) {
            double a = val[i], b = nd->sv[i];
            switch (nd->op) {
            case NODE_ADD: val[i] = a + b; break;
            case NODE_SUB: val[i] = a - b; break;
            case NODE_MUL: val[i] = a * b; break;
            case NODE_DIV: val[i] = b == 0 ? 0 : a / b; break;
            case NODE_ND: val[i] = a + b == 0 ? 0 : (a - b) / (a + b); break;
            case NODE_LT: val[i] = a < b; break;
            case NODE_GT: val[i] = a > b; break;
            case NODE_LTE: val[i] = a <= b; break;
            case NODE_GTE: val[i] = a >= b; break;
            case NODE_EQ: val[i] = a == b; break;
            case NODE_NEQ: val[i] = a != b; break;
            case NODE_AND: val[i] = a != 0 && b != 0; break;
            case NODE_OR: val[i] = a != 0 || b != 0; break;
            case NODE_BITAND:
                val[i] = isfinite(a) && isfinite(b) && fabs(a) < 9.2e18 && fabs(b) < 9.2e18
                             ? (double)((long long)a & (long long)b) : 0;
                break;
            case NODE_UPDMASK:
                mask[i] = mask[i] && nd->sm[i] && b != 0;
                continue;
            case NODE_UNMASK:
                if (!mask[i]) {
                    val[i] = b;
                    mask[i] = nd->sm[i];
                }
                continue;
            default: break;
            }
            mask[i] = mask[i] && nd->sm[i];
        }
        return 0;
    case NODE_CAST:
        if ((rc = render_node(x, nd->a, p, val, mask, e)))
            return rc;
        for (i = 0; i < n; i++)
            val[i] = cast_value(val[i], nd);
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

int render_image(struct ev_ctx *x, const struct ev_image *img, const struct ee_grid *grid,
                 struct raster *out, struct errbuf *e)
{
    const double *a = grid->affine;
    long w = grid->width, h = grid->height, i, j;
    double *px = NULL, *py = NULL;
    struct pts p;
    struct xcache xc;
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
    }
    px = malloc(sizeof *px * (size_t)(w ? w : 1));
    py = malloc(sizeof *py * (size_t)(w ? w : 1));
    memset(&xc, 0, sizeof xc);
    for (k = 0; k < XCACHE_SLOTS; k++) {
        xc.x[k] = eval_alloc(x, sizeof *px * (size_t)(w ? w : 1));
        xc.y[k] = eval_alloc(x, sizeof *py * (size_t)(w ? w : 1));
        if (!xc.x[k] || !xc.y[k])
            px = NULL;   /* reported just below */
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
    for (j = 0; j < h; j++) {
        for (i = 0; i < w; i++) {
            px[i] = a[0] * (i + 0.5) + a[1] * (j + 0.5) + a[2];
            py[i] = a[3] * (i + 0.5) + a[4] * (j + 0.5) + a[5];
        }
        xc.used = 0;   /* a new row: nothing transformed yet */
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
