/*
 * Reductions over regions: Image.reduceRegion, Image.reduceRegions and
 * Image.sample. The image is rendered (render.c) on a grid of the working
 * projection that covers the region's bounding box, a strip of rows at a
 * time; a pixel belongs to the region when its centre is inside the
 * polygon (for points: the pixel containing each point), and each band
 * contributes where it is unmasked. mean, sum, variance and stdDev weigh
 * pixels by the share of them the polygon covers, as EE's weighted
 * reducers do (docs/emulator.md, "Reducers and regions").
 */
#include "emulator/eval_int.h"

#include <gdal/ogr_api.h>
#include <gdal/ogr_srs_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emulator/render.h"

#define NOMEM() err_set(e, ERR_NOMEM, "out of memory")

#define METERS_PER_DEGREE 111319.49079327357
/* EE's default maxPixels for reduceRegion. */
#define DEFAULT_MAX_PIXELS 10000000.0
/* Emulator bounds, whatever maxPixels allows: pixels of one region's
 * bounding grid, values kept for medians and percentiles, features one
 * sample() makes. Each answers with a message naming the bound. */
#define REGION_MAX_PIXELS 250000000LL
#define REGION_MAX_VALUES 30000000LL
#define REGION_MAX_WIDTH 10000000L
#define SAMPLE_MAX_FEATURES 100000
/* Values rendered per strip (all bands together). */
#define STRIP_VALUES (1L << 21)

struct acc {
    int64_t n;                   /* pixels whose centre is in the region */
    double sum, mean, m2, min, max, first, last;
    double wsum, wtot, wmean, wm2;   /* weighted by the covered share */
    double *vals;
    int64_t nv, cap;
};

/* A region on a grid of the working projection. */
struct region {
    struct ee_grid g;           /* polygons: the grid covering the bounding box */
    const struct ev_geom *geom;
    void *to_ll;                /* grid CRS -> lon/lat; NULL when the grid is lon/lat */
    long *pc, *pr;              /* points: the grid pixel of each (g's origin) */
    int npts;
    int64_t *vpix;              /* polygons: grid pixels (r * width + c) holding a vertex */
    int nvpix;
    int64_t npix;               /* what maxPixels is compared with */
};

/* What a pass over the region's pixels does with each one. */
struct visit {
    int (*fn)(struct ev_ctx *x, struct visit *v, const struct raster *r, long idx, double lon,
              double lat, struct errbuf *e);
    const struct ev_image *img;
    const char *fname;
    /* the pixel being visited: its centre is in the region; the share of
     * it the region covers (weighted passes only, else 1) */
    int centre;
    double weight;
    int weighted;   /* also visit pixels partly covered whose centre is out */
    /* reduceRegion */
    struct acc *accs;
    int keep_values;
    int64_t nvalues;
    /* sample */
    struct ev_value *coll;
    double factor;
    uint64_t seed;
    int64_t candidate;
    int drop_nulls, geometries;
};

/* ---------------------------------------------------------- projection */

/* The projection reductions work in: crs (a Projection or a code), else
 * the first band's, else EPSG:4326 at 1 degree; crsTransform replaces its
 * transform, scale (metres; degrees at the equator for geographic CRSs)
 * makes it a north-up grid of that pixel size with origin 0, 0. */
static int work_proj(struct ev_ctx *x, const struct ev_args *a, const char *crs_name,
                     const char *transform_name, const struct ev_image *img, struct ev_proj *p,
                     struct errbuf *e)
{
    struct ev_value *crs = ev_arg(a, crs_name), *sc = ev_arg(a, "scale");
    int rc;

    memset(p, 0, sizeof *p);
    if (crs && crs->kind != EV_NULL) {
        if ((rc = ev_proj_from(x, a, crs_name, p, e)))
            return rc;
    } else if (img->nbands > 0 && img->bands[0].proj.crs[0]) {
        *p = img->bands[0].proj;
    } else {
        snprintf(p->crs, sizeof p->crs, "EPSG:4326");
        p->affine[0] = 1;
        p->affine[4] = 1;
    }
    p->width = p->height = 0;
    if (transform_name && (rc = ev_affine_from(a, transform_name, p->affine, e)) < 0)
        return rc;
    if (sc && sc->kind != EV_NULL) {
        double s;
        if (sc->kind != EV_NUM || !(sc->num > 0))
            return err_set(e, ERR_USAGE, "%s: scale must be a positive number.", a->fname);
        s = sc->num;
        if (eval_crs_geographic(x, p->crs) == 1)
            s /= METERS_PER_DEGREE;
        p->affine[0] = s;
        p->affine[4] = -s;
        p->affine[1] = p->affine[2] = p->affine[3] = p->affine[5] = 0;
    }
    if (!(p->affine[0] * p->affine[4] - p->affine[1] * p->affine[3] != 0))
        return err_set(e, ERR_USAGE, "%s: The transform is not invertible.", a->fname);
    return 0;
}

/* (u, v) grid coordinates of (px, py) under affine af. */
static void to_pixel(const double *af, double px, double py, double *u, double *v)
{
    double det = af[0] * af[4] - af[1] * af[3], dx = px - af[2], dy = py - af[5];
    *u = (af[4] * dx - af[1] * dy) / det;
    *v = (-af[3] * dx + af[0] * dy) / det;
}

/* The grid of af whose pixel (0, 0) is af's pixel (c0, r0). */
static void sub_grid(struct ee_grid *out, const char *crs, const double *af, long c0, long r0,
                     long w, long h)
{
    memset(out, 0, sizeof *out);
    snprintf(out->crs, sizeof out->crs, "%s", crs);
    memcpy(out->affine, af, sizeof out->affine);
    out->affine[2] = af[2] + af[0] * (double)c0 + af[1] * (double)r0;
    out->affine[5] = af[5] + af[3] * (double)c0 + af[4] * (double)r0;
    out->width = w;
    out->height = h;
}

/* Lon/lat of each point of a Point or MultiPoint geometry. */
static int geom_points(struct ev_ctx *x, const struct ev_geom *g, double **lon, double **lat,
                       int *n, struct errbuf *e)
{
    OGRGeometryH h = g->ogr;
    int i, k = wkbFlatten(OGR_G_GetGeometryType(h)) == wkbPoint ? 1 : OGR_G_GetGeometryCount(h);
    *lon = eval_alloc(x, sizeof **lon * (size_t)(k + 1));
    *lat = eval_alloc(x, sizeof **lat * (size_t)(k + 1));
    if (!*lon || !*lat)
        return NOMEM();
    for (i = 0; i < k; i++) {
        OGRGeometryH p = wkbFlatten(OGR_G_GetGeometryType(h)) == wkbPoint ? h
                                                                        : OGR_G_GetGeometryRef(h, i);
        (*lon)[i] = OGR_G_GetX(p, 0);
        (*lat)[i] = OGR_G_GetY(p, 0);
    }
    *n = k;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t p = *(const int64_t *)a, q = *(const int64_t *)b;
    return p < q ? -1 : p > q;
}

/* The pixels of rg's grid that hold a vertex of its polygon, sorted: a
 * pixel can be partly covered with its corners and centre all outside. */
static int vertex_pixels(struct ev_ctx *x, struct region *rg, const char *crs, struct errbuf *e)
{
    const struct ev_geom *g = rg->geom;
    int n = g->ring_start[g->nrings], i, k = 0;
    double *px = eval_alloc(x, sizeof *px * (size_t)(n + 1));
    double *py = eval_alloc(x, sizeof *py * (size_t)(n + 1));
    int *ok = eval_alloc(x, sizeof *ok * (size_t)(n + 1));
    void *ct = NULL;

    rg->vpix = eval_alloc(x, sizeof *rg->vpix * (size_t)(n + 1));
    if (!px || !py || !ok || !rg->vpix)
        return NOMEM();
    for (i = 0; i < n; i++) {
        px[i] = g->pts[2 * i];
        py[i] = g->pts[2 * i + 1];
        ok[i] = 1;
    }
    if (strcmp(crs, "EPSG:4326") != 0) {
        if (!(ct = eval_transform(x, "EPSG:4326", crs, e)))
            return ERR_USAGE;
        OCTTransformEx(ct, n, px, py, NULL, ok);
    }
    for (i = 0; i < n; i++) {
        double u, v;
        if (!ok[i])
            continue;
        to_pixel(rg->g.affine, px[i], py[i], &u, &v);
        if (u >= 0 && v >= 0 && u < rg->g.width && v < rg->g.height)
            rg->vpix[k++] = (int64_t)floor(v) * rg->g.width + (int64_t)floor(u);
    }
    qsort(rg->vpix, (size_t)k, sizeof *rg->vpix, cmp_i64);
    rg->nvpix = k;
    return 0;
}

/* Lays region geometry g on projection p. */
static int region_setup(struct ev_ctx *x, const char *fname, const struct ev_geom *g,
                        const struct ev_proj *p, struct region *rg, struct errbuf *e)
{
    const double *af = p->affine;
    double b[4], umin = HUGE_VAL, vmin = HUGE_VAL, umax = -HUGE_VAL, vmax = -HUGE_VAL;
    long c0, r0, c1, r1;
    int rc, i;

    memset(rg, 0, sizeof *rg);
    rg->geom = g;
    if (strcmp(p->crs, "EPSG:4326") != 0 &&
        !(rg->to_ll = eval_transform(x, p->crs, "EPSG:4326", e)))
        return ERR_USAGE;
    if (g->is_point) {
        double *lon, *lat;
        void *ct = NULL;
        if ((rc = geom_points(x, g, &lon, &lat, &rg->npts, e)))
            return rc;
        if (strcmp(p->crs, "EPSG:4326") != 0) {
            int *ok = eval_alloc(x, sizeof *ok * (size_t)(rg->npts + 1));
            if (!ok)
                return NOMEM();
            if (!(ct = eval_transform(x, "EPSG:4326", p->crs, e)))
                return ERR_USAGE;
            OCTTransformEx(ct, rg->npts, lon, lat, NULL, ok);
            for (i = 0; i < rg->npts; i++)
                if (!ok[i])
                    lon[i] = lat[i] = NAN;
        }
        rg->pc = eval_alloc(x, sizeof *rg->pc * (size_t)(rg->npts + 1));
        rg->pr = eval_alloc(x, sizeof *rg->pr * (size_t)(rg->npts + 1));
        if (!rg->pc || !rg->pr)
            return NOMEM();
        for (i = 0; i < rg->npts; i++) {
            double u, v;
            to_pixel(af, lon[i], lat[i], &u, &v);
            if (!(fabs(u) < 4e18 && fabs(v) < 4e18))
                return err_set(e, ERR_USAGE, "%s: A point of the geometry is outside the "
                               "projection's domain.", fname);
            rg->pc[i] = (long)floor(u);
            rg->pr[i] = (long)floor(v);
        }
        sub_grid(&rg->g, p->crs, af, 0, 0, 1, 1);
        rg->npix = rg->npts;
        return 0;
    }
    if (g->nrings == 0)
        return err_set(e, ERR_USAGE, "%s: The emulator reduces only polygons and points, not a "
                       "%s.", fname, OGR_G_GetGeometryName(g->ogr));
    if ((rc = eval_geom_bounds(x, g, p->crs, b, e)))
        return rc;
    for (i = 0; i < 4; i++) {
        double u, v;
        to_pixel(af, b[i & 1 ? 2 : 0], b[i & 2 ? 3 : 1], &u, &v);
        umin = fmin(umin, u);
        umax = fmax(umax, u);
        vmin = fmin(vmin, v);
        vmax = fmax(vmax, v);
    }
    if (!(umax - umin < 4e9 && vmax - vmin < 4e9 && fabs(umin) < 4e18 && fabs(vmin) < 4e18))
        rg->npix = INT64_MAX;   /* reported by the pixel limits */
    c0 = (long)floor(umin);
    r0 = (long)floor(vmin);
    c1 = (long)ceil(umax);
    r1 = (long)ceil(vmax);
    if (c1 <= c0)
        c1 = c0 + 1;
    if (r1 <= r0)
        r1 = r0 + 1;
    sub_grid(&rg->g, p->crs, af, c0, r0, c1 - c0, r1 - r0);
    if (rg->npix == 0)
        rg->npix = (int64_t)(c1 - c0) * (r1 - r0);
    return rg->npix <= REGION_MAX_PIXELS ? vertex_pixels(x, rg, p->crs, e) : 0;
}

/* The region of geometry g at projection p, with maxPixels (0: the
 * emulator's bound only) and bestEffort (coarser grids, each twice the
 * pixel size of the last, until the region fits). */
static int region_fit(struct ev_ctx *x, const char *fname, const struct ev_geom *g,
                      struct ev_proj *p, double max_pixels, int best_effort, struct region *rg,
                      struct errbuf *e)
{
    int rc, tries;
    for (tries = 0;; tries++) {
        if ((rc = region_setup(x, fname, g, p, rg, e)))
            return rc;
        if (!(max_pixels > 0) || (double)rg->npix <= max_pixels)
            break;
        if (!best_effort || tries == 60)
            return err_set(e, ERR_USAGE, "%s: Too many pixels in the region. Found %lld, but "
                           "maxPixels allows only %.0f.", fname, (long long)rg->npix,
                           max_pixels);
        p->affine[0] *= 2;
        p->affine[1] *= 2;
        p->affine[3] *= 2;
        p->affine[4] *= 2;
    }
    if (rg->npix > REGION_MAX_PIXELS)
        return err_set(e, ERR_USAGE, "%s: The region covers %lld pixels at this scale; the "
                       "emulator reduces at most %lld. Use a larger scale.", fname,
                       (long long)rg->npix, REGION_MAX_PIXELS);
    if (rg->g.width > REGION_MAX_WIDTH)
        return err_set(e, ERR_USAGE, "%s: The region is %ld pixels wide at this scale; the "
                       "emulator reduces at most %ld columns. Use a larger scale.", fname,
                       rg->g.width, REGION_MAX_WIDTH);
    return 0;
}

/* The region argument: a Geometry or Feature, or the footprint of the
 * image when absent. */
static int region_geom(struct ev_ctx *x, const struct ev_args *a, const char *name,
                       const struct ev_image *img, const struct ev_geom **g, struct errbuf *e)
{
    struct ev_value *v = ev_arg(a, name);
    struct ev_geom *fp;
    if (v && v->kind != EV_NULL) {
        if ((v->kind != EV_GEOM && v->kind != EV_FEATURE) || !v->geom)
            return ev_type_error(e, a, name, "Geometry", v);
        *g = v->geom;
        return 0;
    }
    if (!img->footprint)
        return err_set(e, ERR_USAGE, "%s: The image has no footprint (it is unbounded): give "
                       "'%s'.", a->fname, name);
    if (!(fp = geom_from_geojson(x, img->footprint, 0, e)))
        return ERR_USAGE;
    *g = fp;
    return 0;
}

/* --------------------------------------------------------------- passes */

/* Whether each corner (i, j), i = 0..width, of grid row j is in the region;
 * cx, cy, ok are scratch of width + 1. */
static void corner_row(const struct region *rg, long j, int *in, double *cx, double *cy, int *ok)
{
    const double *af = rg->g.affine;
    long w = rg->g.width, i;
    for (i = 0; i <= w; i++) {
        cx[i] = af[2] + af[0] * i + af[1] * j;
        cy[i] = af[5] + af[3] * i + af[4] * j;
        ok[i] = 1;
    }
    if (rg->to_ll)
        OCTTransformEx(rg->to_ll, (int)(w + 1), cx, cy, NULL, ok);
    for (i = 0; i <= w; i++)
        in[i] = ok[i] && geom_contains(rg->geom, cx[i], cy[i]);
}

/* The share of pixel (i, j) the polygon covers, in 256ths as EE's 8-bit
 * weights: the sub-pixel centres of a 16 x 16 division that are inside. */
static double covered_share(const struct region *rg, long i, long j)
{
    const double *af = rg->g.affine;
    double px[256], py[256];
    int ok[256], a, b, k = 0, in = 0;
    for (b = 0; b < 16; b++)
        for (a = 0; a < 16; a++, k++) {
            double u = i + (a + 0.5) / 16, v = j + (b + 0.5) / 16;
            px[k] = af[2] + af[0] * u + af[1] * v;
            py[k] = af[5] + af[3] * u + af[4] * v;
            ok[k] = 1;
        }
    if (rg->to_ll)
        OCTTransformEx(rg->to_ll, 256, px, py, NULL, ok);
    for (k = 0; k < 256; k++)
        in += ok[k] && geom_contains(rg->geom, px[k], py[k]);
    return in / 256.0;
}

/* Calls v->fn for every pixel of the region, rendering the image a strip
 * of rows at a time (render == 0: geometry only, r is NULL). */
static int region_pass(struct ev_ctx *x, const struct region *rg, struct visit *v, int render,
                       struct errbuf *e)
{
    const struct ev_image *img = v->img;
    const double *af = rg->g.affine;
    long w = rg->g.width, h = rg->g.height, rows, j0, i;
    double *lon = NULL, *lat = NULL, *cx = NULL, *cy = NULL;
    int *ok = NULL, *top = NULL, *bot = NULL, *cok = NULL, rc = 0;
    struct raster ras;

    memset(&ras, 0, sizeof ras);
    v->centre = 1;
    v->weight = 1;
    if (render) {
        int64_t images = 0, bytes = render_work_bytes(img, rg->npix, &images);
        eval_add_work(x, bytes, images);
    }
    if (rg->npts > 0) {
        int k, q;
        double ll[2];
        for (k = 0; k < rg->npts; k++) {
            struct ee_grid one;
            /* a pixel given by two points is one pixel of the region */
            for (q = 0; q < k && q < 4096; q++)
                if (rg->pc[q] == rg->pc[k] && rg->pr[q] == rg->pr[k])
                    break;
            if (q < k)
                continue;
            sub_grid(&one, rg->g.crs, af, rg->pc[k], rg->pr[k], 1, 1);
            ll[0] = one.affine[2] + 0.5 * one.affine[0] + 0.5 * one.affine[1];
            ll[1] = one.affine[5] + 0.5 * one.affine[3] + 0.5 * one.affine[4];
            if (rg->to_ll)
                OCTTransform(rg->to_ll, 1, &ll[0], &ll[1], NULL);
            if (render && (rc = render_image(x, img, &one, &ras, e)))
                return rc;
            rc = v->fn(x, v, render ? &ras : NULL, 0, ll[0], ll[1], e);
            raster_free(&ras);
            if (rc)
                return rc;
        }
        return 0;
    }
    rows = STRIP_VALUES / (w * (img->nbands > 0 ? img->nbands : 1));
    if (rows < 1)
        rows = 1;
    lon = malloc(sizeof *lon * (size_t)w);
    lat = malloc(sizeof *lat * (size_t)w);
    ok = malloc(sizeof *ok * (size_t)w);
    top = malloc(sizeof *top * (size_t)(w + 1));
    bot = malloc(sizeof *bot * (size_t)(w + 1));
    cok = malloc(sizeof *cok * (size_t)(w + 1));
    cx = malloc(sizeof *cx * (size_t)(w + 1));
    cy = malloc(sizeof *cy * (size_t)(w + 1));
    if (!lon || !lat || !ok || !top || !bot || !cok || !cx || !cy) {
        rc = NOMEM();
        goto done;
    }
    for (j0 = 0; j0 < h; j0 += rows) {
        long sh = h - j0 < rows ? h - j0 : rows, j;
        struct ee_grid strip;
        sub_grid(&strip, rg->g.crs, af, 0, j0, w, sh);
        if (render && (rc = render_image(x, img, &strip, &ras, e)))
            goto done;
        for (j = 0; j < sh; j++) {
            for (i = 0; i < w; i++) {
                lon[i] = af[2] + af[0] * (i + 0.5) + af[1] * (j0 + j + 0.5);
                lat[i] = af[5] + af[3] * (i + 0.5) + af[4] * (j0 + j + 0.5);
                ok[i] = 1;
            }
            if (rg->to_ll)
                OCTTransformEx(rg->to_ll, (int)w, lon, lat, NULL, ok);
            if (v->weighted) {
                if (j0 + j == 0)
                    corner_row(rg, 0, top, cx, cy, cok);
                else
                    memcpy(top, bot, sizeof *top * (size_t)(w + 1));
                corner_row(rg, j0 + j + 1, bot, cx, cy, cok);
            }
            for (i = 0; i < w; i++) {
                v->centre = ok[i] && geom_contains(rg->geom, lon[i], lat[i]);
                v->weight = v->centre;
                if (v->weighted) {
                    int64_t key = (j0 + j) * w + i;
                    int n = top[i] + top[i + 1] + bot[i] + bot[i + 1] + v->centre;
                    int vertex = rg->nvpix > 0 && bsearch(&key, rg->vpix, (size_t)rg->nvpix,
                                                          sizeof key, cmp_i64) != NULL;
                    if (vertex || (n != 0 && n != 5))
                        v->weight = covered_share(rg, i, j0 + j);
                }
                if (!v->centre && !(v->weight > 0))
                    continue;
                if ((rc = v->fn(x, v, render ? &ras : NULL, j * w + i, lon[i], lat[i], e)))
                    goto done;
            }
        }
        raster_free(&ras);
    }
done:
    raster_free(&ras);
    free(lon);
    free(lat);
    free(ok);
    free(top);
    free(bot);
    free(cok);
    free(cx);
    free(cy);
    return rc;
}

/* ---------------------------------------------------------- reduceRegion */

static int acc_add(struct acc *ac, double val, int keep)
{
    double d;
    if (ac->n == 0) {
        ac->min = ac->max = ac->first = val;
    } else {
        ac->min = fmin(ac->min, val);
        ac->max = fmax(ac->max, val);
    }
    ac->last = val;
    ac->n++;
    ac->sum += val;
    d = val - ac->mean;   /* Welford: stable mean and variance in one pass */
    ac->mean += d / (double)ac->n;
    ac->m2 += d * (val - ac->mean);
    if (keep) {
        if (ac->nv == ac->cap) {
            int64_t cap = ac->cap ? 2 * ac->cap : 1024;
            double *nv = realloc(ac->vals, sizeof *nv * (size_t)cap);
            if (!nv)
                return ERR_NOMEM;
            ac->vals = nv;
            ac->cap = cap;
        }
        ac->vals[ac->nv++] = val;
    }
    return 0;
}

/* West's weighted running mean and variance. */
static void acc_weigh(struct acc *ac, double val, double w)
{
    double d = val - ac->wmean;
    ac->wtot += w;
    ac->wsum += w * val;
    ac->wmean += w / ac->wtot * d;
    ac->wm2 += w * d * (val - ac->wmean);
}

static int visit_reduce(struct ev_ctx *x, struct visit *v, const struct raster *r, long idx,
                        double lon, double lat, struct errbuf *e)
{
    int b;
    (void)x;
    (void)lon;
    (void)lat;
    for (b = 0; b < r->nbands; b++) {
        if (!r->bands[b].mask[idx])
            continue;
        if (v->weighted && v->weight > 0)
            acc_weigh(&v->accs[b], r->bands[b].data[idx], v->weight);
        if (!v->centre)
            continue;
        if (v->keep_values && ++v->nvalues > REGION_MAX_VALUES)
            return err_set(e, ERR_USAGE, "%s: The emulator keeps at most %lld values for medians, "
                           "modes, percentiles and histograms. Use a larger scale.", v->fname, REGION_MAX_VALUES);
        if (acc_add(&v->accs[b], r->bands[b].data[idx], v->keep_values))
            return NOMEM();
    }
    return 0;
}

/* {value: count} of the kept values, keys as EE prints them ("1",
 * "2.5"), in increasing value order. */
static struct ev_value *histogram_value(struct ev_ctx *x, struct acc *ac)
{
    struct ev_value *d;
    int64_t i, k = 0, distinct = 0;
    int has_nan = 0;
    for (i = 0; i < ac->nv; i++)
        has_nan |= isnan(ac->vals[i]);
    if (ac->nv > 0)
        render_percentile(ac->vals, (int)ac->nv, has_nan, 0);   /* sorts them */
    for (i = 0; i < ac->nv; i++)
        distinct += i == 0 || ac->vals[i] != ac->vals[i - 1];
    if (!(d = ev_dict(x, (int)distinct)))
        return NULL;
    d->n = 0;   /* counts the entries filled below */
    for (i = 0; i < ac->nv; i = k) {
        char key[40];
        for (k = i + 1; k < ac->nv && ac->vals[k] == ac->vals[i]; k++)
            ;
        snprintf(key, sizeof key, "%.15g", ac->vals[i]);
        if (!(d->keys[d->n] = eval_strdup(x, key)) || !(d->items[d->n] = ev_num(x, (double)(k - i))))
            return NULL;
        d->n++;
    }
    return d;
}

static struct ev_value *acc_value(struct ev_ctx *x, struct acc *ac, enum ev_reduce op, double pct,
                                  int weighted)
{
    if (weighted && (op == RED_MEAN || op == RED_SUM || op == RED_VARIANCE || op == RED_STDDEV)) {
        if (op == RED_SUM)
            return ev_num(x, ac->wsum);
        if (!(ac->wtot > 0))
            return ev_new(x, EV_NULL);
        if (op == RED_MEAN)
            return ev_num(x, ac->wmean);
        return ev_num(x, op == RED_VARIANCE ? ac->wm2 / ac->wtot : sqrt(ac->wm2 / ac->wtot));
    }
    if (op == RED_COUNT) {
        struct ev_value *v = ev_num(x, (double)ac->n);
        if (v) {
            v->has_i64 = 1;
            v->i64 = ac->n;
        }
        return v;
    }
    if (op == RED_SUM)
        return ev_num(x, ac->sum);
    if (op == RED_FREQ_HISTOGRAM)   /* {} when no pixel */
        return histogram_value(x, ac);
    if (ac->n == 0)   /* no pixel: EE answers null */
        return ev_new(x, EV_NULL);
    switch (op) {
    case RED_MEAN: return ev_num(x, ac->mean);
    case RED_MIN: return ev_num(x, ac->min);
    case RED_MAX: return ev_num(x, ac->max);
    case RED_FIRST: return ev_num(x, ac->first);
    case RED_LAST: return ev_num(x, ac->last);
    case RED_VARIANCE: return ev_num(x, ac->m2 / (double)ac->n);
    case RED_STDDEV: return ev_num(x, sqrt(ac->m2 / (double)ac->n));
    case RED_SAMPLE_VARIANCE:
    case RED_SAMPLE_STDDEV:
        if (ac->n < 2)
            return ev_new(x, EV_NULL);
        return ev_num(x, op == RED_SAMPLE_VARIANCE ? ac->m2 / (double)(ac->n - 1)
                                                   : sqrt(ac->m2 / (double)(ac->n - 1)));
    case RED_MODE: {
        int has_nan = 0;
        int64_t i;
        for (i = 0; i < ac->nv; i++)
            has_nan |= isnan(ac->vals[i]);
        return ev_num(x, render_mode(ac->vals, (int)ac->nv, has_nan));
    }
    case RED_MEDIAN:
    case RED_PERCENTILE: {
        int has_nan = 0;
        int64_t i;
        for (i = 0; i < ac->nv; i++)
            has_nan |= isnan(ac->vals[i]);
        return ev_num(x, render_percentile(ac->vals, (int)ac->nv, has_nan,
                                           op == RED_MEDIAN ? 50 : pct));
    }
    default:
        return ev_new(x, EV_NULL);
    }
}

/* The name of output k of band b: the band's name for a single output
 * (reduceRegion), the output's name for a single band (reduceRegions),
 * band_output otherwise. */
static const char *out_key(struct ev_ctx *x, const struct ev_image *img, int b,
                           const struct ev_reducer *r, int k, int regions)
{
    char buf[160];
    if (regions && img->nbands == 1)
        return r->outs[k];
    if (r->nout == 1)
        return img->bands[b].id;
    snprintf(buf, sizeof buf, "%s_%s", img->bands[b].id, r->outs[k]);
    return eval_strdup(x, buf);
}

static int reducer_usable(const char *fname, const struct ev_reducer *r, struct errbuf *e)
{
    int k;
    for (k = 0; k < r->nout; k++)
    {
        if (r->out_op[k] == RED_MOSAIC || r->out_op[k] == RED_QUALITY)
            return err_set(e, ERR_USAGE, "%s: This reducer cannot reduce regions.", fname);
        if (r->out_op[k] == RED_ALL_NONZERO || r->out_op[k] == RED_ANY_NONZERO)
            return err_set(e, ERR_USAGE, "%s: the emulator lacks allNonZero and anyNonZero in region "
                           "reductions (they work in ImageCollection.reduce and Image.reduce).", fname);
    }
    return 0;
}

/* Reduces img over g; adds the outputs to f (a feature, regions = 1) or
 * fills the dictionary *out. */
static int reduce_one(struct ev_ctx *x, const char *fname, const struct ev_image *img,
                      const struct ev_reducer *r, const struct ev_geom *g, struct ev_proj p,
                      double max_pixels, int best_effort, struct ev_value *f,
                      struct ev_value **out, struct errbuf *e)
{
    struct visit v;
    struct region rg;
    int rc, b, k;

    memset(&v, 0, sizeof v);
    v.fn = visit_reduce;
    v.img = img;
    v.fname = fname;
    for (k = 0; k < r->nout; k++) {
        enum ev_reduce op = r->out_op[k];
        v.keep_values |= op == RED_MEDIAN || op == RED_PERCENTILE || op == RED_MODE ||
                         op == RED_FREQ_HISTOGRAM;
        /* EE weighs these by the covered share unless unweighted() */
        v.weighted |= !r->unweighted && (op == RED_MEAN || op == RED_SUM ||
                                         op == RED_VARIANCE || op == RED_STDDEV);
    }
    if ((rc = reducer_usable(fname, r, e)) ||
        (rc = region_fit(x, fname, g, &p, max_pixels, best_effort, &rg, e)))
        return rc;
    if (!(v.accs = calloc((size_t)img->nbands + 1, sizeof *v.accs)))
        return NOMEM();
    rc = region_pass(x, &rg, &v, 1, e);
    if (rc == 0 && !f && !(*out = ev_dict(x, img->nbands * r->nout)))
        rc = NOMEM();
    if (rc == 0 && !f)
        (*out)->n = 0;
    for (b = 0; rc == 0 && b < img->nbands; b++)
        for (k = 0; rc == 0 && k < r->nout; k++) {
            const char *key = out_key(x, img, b, r, k, f != NULL);
            struct ev_value *val = acc_value(x, &v.accs[b], r->out_op[k], r->pct[k], v.weighted);
            if (!key || !val) {
                rc = NOMEM();
            } else if (f) {
                ev_feature_set(f, key, val);
            } else {
                (*out)->keys[(*out)->n] = key;
                (*out)->items[(*out)->n++] = val;
            }
        }
    for (b = 0; b < img->nbands; b++)
        free(v.accs[b].vals);
    free(v.accs);
    return rc;
}

static int number_arg(const struct ev_args *a, const char *name, double dflt, double *out,
                      struct errbuf *e)
{
    struct ev_value *v = ev_arg(a, name);
    *out = dflt;
    if (!v || v->kind == EV_NULL)
        return 0;
    if (v->kind != EV_NUM)
        return ev_type_error(e, a, name, "Number", v);
    *out = v->num;
    return 0;
}

static int bool_arg(const struct ev_args *a, const char *name, int dflt, int *out,
                    struct errbuf *e)
{
    struct ev_value *v = ev_arg(a, name);
    *out = dflt;
    if (!v || v->kind == EV_NULL)
        return 0;
    if (v->kind != EV_BOOL)
        return ev_type_error(e, a, name, "Boolean", v);
    *out = v->b;
    return 0;
}

static int f_reduce_region(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                           struct errbuf *e)
{
    static const char *const args[] = {"image", "reducer", "geometry", "scale", "crs",
                                       "crsTransform", "bestEffort", "maxPixels", "tileScale",
                                       NULL};
    const struct ev_reducer *r;
    const struct ev_geom *g;
    struct ev_image *img;
    struct ev_proj p;
    double max_pixels, tile;
    int rc, best;

    if ((rc = ev_check_args(a, args, e)) || (rc = ev_image_arg(x, a, "image", 1, &img, e)) ||
        (rc = ev_reducer_arg(a, "reducer", &r, e)) ||
        (rc = region_geom(x, a, "geometry", img, &g, e)) ||
        (rc = work_proj(x, a, "crs", "crsTransform", img, &p, e)) ||
        (rc = number_arg(a, "maxPixels", DEFAULT_MAX_PIXELS, &max_pixels, e)) ||
        (rc = number_arg(a, "tileScale", 1, &tile, e)) ||
        (rc = bool_arg(a, "bestEffort", 0, &best, e)))
        return rc;
    if (!(max_pixels >= 1))
        return err_set(e, ERR_USAGE, "Image.reduceRegion: maxPixels must be at least 1.");
    if ((rc = render_check_depth(img, e)))
        return rc;
    return reduce_one(x, a->fname, img, r, g, p, max_pixels, best, NULL, o, e);
}

static int f_reduce_regions(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                            struct errbuf *e)
{
    static const char *const args[] = {"image", "collection", "reducer", "scale", "crs",
                                       "crsTransform", "tileScale", "maxPixelsPerRegion", NULL};
    const struct ev_reducer *r;
    struct ev_value *cv;
    struct ev_image *img;
    struct ev_proj p;
    double max_pixels, tile;
    int rc, i;

    if ((rc = ev_check_args(a, args, e)) || (rc = ev_image_arg(x, a, "image", 1, &img, e)) ||
        (rc = ev_require(a, "collection", &cv, e)) ||
        (rc = ev_reducer_arg(a, "reducer", &r, e)) ||
        (rc = work_proj(x, a, "crs", "crsTransform", img, &p, e)) ||
        (rc = number_arg(a, "maxPixelsPerRegion", 0, &max_pixels, e)) ||
        (rc = number_arg(a, "tileScale", 1, &tile, e)))
        return rc;
    if (cv->kind != EV_COLL || !cv->coll->features)
        return ev_type_error(e, a, "collection", "FeatureCollection", cv);
    if ((rc = render_check_depth(img, e)))
        return rc;
    if (!(*o = ev_feature_coll(x, cv->coll->n)))
        return NOMEM();
    for (i = 0; i < cv->coll->n; i++) {
        const struct ev_value *in = cv->coll->items[i];
        struct ev_value *f;
        if (in->kind != EV_FEATURE || !in->geom)
            return err_set(e, ERR_USAGE, "Image.reduceRegions: Feature %d of the collection has "
                           "no geometry.", i);
        if (!(f = ev_feature_new(x, in->geom, in->fprops, img->nbands * r->nout)))
            return NOMEM();
        if ((rc = reduce_one(x, a->fname, img, r, in->geom, p, max_pixels, 0, f, NULL, e)))
            return rc;
        (*o)->coll->items[(*o)->coll->n++] = f;
    }
    return 0;
}

/* ----------------------------------------------------------------- sample */

/* A uniform number in [0, 1) from (seed, i): splitmix64. */
static double unit_hash(uint64_t seed, uint64_t i)
{
    uint64_t z = seed * 0x9E3779B97F4A7C15ULL + i + 0x632BE59BD9B4E019ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static int visit_count(struct ev_ctx *x, struct visit *v, const struct raster *r, long idx,
                       double lon, double lat, struct errbuf *e)
{
    (void)x;
    (void)r;
    (void)idx;
    (void)lon;
    (void)lat;
    (void)e;
    v->candidate++;
    return 0;
}

static int visit_sample(struct ev_ctx *x, struct visit *v, const struct raster *r, long idx,
                        double lon, double lat, struct errbuf *e)
{
    struct ev_value *f, *idv;
    struct ev_geom *g = NULL;
    char id[32];
    int b;

    if (v->factor < 1 && unit_hash(v->seed, (uint64_t)v->candidate++) >= v->factor)
        return 0;
    if (v->drop_nulls)
        for (b = 0; b < r->nbands; b++)
            if (!r->bands[b].mask[idx])
                return 0;
    if (v->coll->coll->n == SAMPLE_MAX_FEATURES)
        return err_set(e, ERR_USAGE, "%s: The emulator samples at most %d pixels. Use a larger "
                       "scale, a factor or numPixels.", v->fname, SAMPLE_MAX_FEATURES);
    if (v->geometries) {
        json_object *pt = json_object_new_object(), *c = json_object_new_array();
        json_object_array_add(c, json_object_new_double(lon));
        json_object_array_add(c, json_object_new_double(lat));
        json_object_object_add(pt, "type", json_object_new_string("Point"));
        json_object_object_add(pt, "coordinates", c);
        if (!eval_own_json(x, pt) || !(g = geom_from_geojson(x, pt, 0, e)))
            return NOMEM();
    }
    snprintf(id, sizeof id, "%d", v->coll->coll->n);
    if (!(f = ev_feature_new(x, g, NULL, r->nbands + 1)) || !(idv = ev_str(x, id)))
        return NOMEM();
    for (b = 0; b < r->nbands; b++) {
        struct ev_value *val = r->bands[b].mask[idx] ? ev_num(x, r->bands[b].data[idx])
                                                     : ev_new(x, EV_NULL);
        if (!val)
            return NOMEM();
        if (val->kind == EV_NUM)   /* the column type follows the band's */
            val->is_int = v->img->bands[b].dt.prec == EV_INT;
        ev_feature_set(f, v->img->bands[b].id, val);
    }
    ev_feature_set(f, "system:index", idv);
    /* the collection grows in chunks: sample sizes are not known in advance */
    if (v->coll->coll->n % 1024 == 0) {
        struct ev_value **items = eval_alloc(x, sizeof *items * (size_t)(v->coll->coll->n + 1025));
        if (!items)
            return NOMEM();
        memcpy(items, v->coll->coll->items, sizeof *items * (size_t)v->coll->coll->n);
        v->coll->coll->items = items;
    }
    v->coll->coll->items[v->coll->coll->n++] = f;
    return 0;
}

static int f_sample(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                    struct errbuf *e)
{
    static const char *const args[] = {"image", "region", "scale", "projection", "factor",
                                       "numPixels", "seed", "dropNulls", "tileScale",
                                       "geometries", NULL};
    const struct ev_geom *g;
    struct ev_image *img;
    struct ev_proj p;
    struct region rg;
    struct visit v;
    double factor, num, seed, tile;
    int rc;

    memset(&v, 0, sizeof v);
    if ((rc = ev_check_args(a, args, e)) || (rc = ev_image_arg(x, a, "image", 1, &img, e)) ||
        (rc = region_geom(x, a, "region", img, &g, e)) ||
        (rc = work_proj(x, a, "projection", NULL, img, &p, e)) ||
        (rc = number_arg(a, "factor", -1, &factor, e)) ||
        (rc = number_arg(a, "numPixels", -1, &num, e)) ||
        (rc = number_arg(a, "seed", 0, &seed, e)) ||
        (rc = number_arg(a, "tileScale", 1, &tile, e)) ||
        (rc = bool_arg(a, "dropNulls", 1, &v.drop_nulls, e)) ||
        (rc = bool_arg(a, "geometries", 0, &v.geometries, e)))
        return rc;
    if (factor != -1 && num != -1)
        return err_set(e, ERR_USAGE, "Image.sample: Only one of 'factor' and 'numPixels' may be "
                       "given.");
    if (factor != -1 && !(factor > 0 && factor <= 1))
        return err_set(e, ERR_USAGE, "Image.sample: factor must be in (0, 1], got %g.", factor);
    if (num != -1 && !(num >= 0))
        return err_set(e, ERR_USAGE, "Image.sample: numPixels must not be negative.");
    if ((rc = render_check_depth(img, e)) ||
        (rc = region_fit(x, a->fname, g, &p, 0, 0, &rg, e)))
        return rc;
    v.img = img;
    v.fname = a->fname;
    v.seed = (uint64_t)(int64_t)seed;
    v.factor = factor == -1 ? 1 : factor;
    if (num != -1) {   /* numPixels: the factor that gives about that many */
        v.fn = visit_count;
        if ((rc = region_pass(x, &rg, &v, 0, e)))
            return rc;
        v.factor = v.candidate > 0 ? num / (double)v.candidate : 1;
        v.candidate = 0;
    }
    if (!(v.coll = ev_feature_coll(x, 0)))
        return NOMEM();
    v.fn = visit_sample;
    if ((rc = region_pass(x, &rg, &v, 1, e)))
        return rc;
    *o = v.coll;
    return 0;
}

const struct ev_algo ev_algos_region[] = {
    {"Image.reduceRegion", f_reduce_region, 0}, {"Image.reduceRegions", f_reduce_regions, 0},
    {"Image.sample", f_sample, 0},
    {NULL, NULL, 0},
};
