/* Overview levels built while tiles arrive (overview.h). */
#include "core/overview.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>

#include "core/mosaic.h"
#include "core/pixtype.h"

/* A block of a level that is still waiting for pixels of the level above:
 * per pixel and band the sum and the count of valid inputs, per pixel the
 * inputs received. */
struct pend {
    long bx, by;
    size_t seen, expect;              /* input pixels received / under the block */
    double *sum;                      /* [band][B*B] */
    uint8_t *cnt;                     /* [band][B*B] */
    uint8_t *got;                     /* [B*B] */
};

struct level {
    long width, height, nbx, nby;
    long cw, ch;                      /* the pixels of the level above that this level covers */
    char path[4200];
    GDALDatasetH ds;
    unsigned char *done;              /* nbx * nby flags */
    struct pend **pend;
    size_t npend, cappend;
    unsigned char *vals;              /* a finished block, pixel-interleaved */
    uint8_t *maskbuf;                 /* its validity, 0 or 255 */
    double *row;                      /* one row of means */
};

struct ovr {
    struct ovr_desc d;
    int n;
    struct level *lv;                 /* lv[0] is full resolution (no file) */
    uint8_t *valid0;                  /* a full-resolution window's validity */
    size_t valid0cap;
    /* Finished blocks' memory, reused: a fresh block of several MiB would
     * otherwise cost page faults and zeroing by the kernel every time. */
    struct pend *spare[16];
    int nspare;
};

/* GDAL's overview size: rounded down, at least 1. */
static long half(long n)
{
    return n > 1 ? n / 2 : 1;
}

int ovr_count(long width, long height, int block)
{
    int n = 0;

    while (width > block || height > block) {
        width = half(width);
        height = half(height);
        n++;
    }
    return n;
}

int ovr_levels(const struct ovr *o)
{
    return o->n;
}

const char *ovr_path(const struct ovr *o, int k)
{
    return o->lv[k].path;
}

static void pend_free(struct pend *p)
{
    if (!p)
        return;
    free(p->sum);
    free(p->cnt);
    free(p->got);
    free(p);
}

void ovr_free(struct ovr *o, int remove)
{
    int k;
    size_t i;

    if (!o)
        return;
    for (k = 1; k <= o->n; k++) {
        struct level *l = &o->lv[k];
        if (l->ds)
            GDALClose(l->ds);
        if (remove && l->path[0])
            unlink(l->path);
        for (i = 0; i < l->npend; i++)
            pend_free(l->pend[i]);
        free(l->pend);
        free(l->done);
        free(l->vals);
        free(l->maskbuf);
        free(l->row);
    }
    while (o->nspare > 0)
        pend_free(o->spare[--o->nspare]);
    free(o->lv);
    free(o->valid0);
    free(o);
}

int ovr_open(const struct ovr_desc *d, struct ovr **out, struct errbuf *e)
{
    size_t bb = (size_t)d->block * (size_t)d->block, sz = spec_dtype_size(d->dtype);
    struct ovr *o;
    int k, b, rc = 0;

    *out = NULL;
    if (!(o = calloc(1, sizeof *o)))
        return err_set(e, ERR_NOMEM, "out of memory");
    o->d = *d;
    o->d.base = NULL;
    o->d.options = NULL;
    o->n = ovr_count(d->width, d->height, d->block);
    if (!(o->lv = calloc((size_t)o->n + 1, sizeof *o->lv))) {
        free(o);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    o->lv[0].width = d->width;
    o->lv[0].height = d->height;
    for (k = 1; k <= o->n; k++) {
        struct level *l = &o->lv[k];
        l->width = half(o->lv[k - 1].width);
        l->height = half(o->lv[k - 1].height);
        /* An odd last column or row of the level above is left out, as in
         * GDAL's sizes; a level of 1 pixel takes the 1 above it. */
        l->cw = 2 * l->width < o->lv[k - 1].width ? 2 * l->width : o->lv[k - 1].width;
        l->ch = 2 * l->height < o->lv[k - 1].height ? 2 * l->height : o->lv[k - 1].height;
        l->nbx = (l->width + d->block - 1) / d->block;
        l->nby = (l->height + d->block - 1) / d->block;
        snprintf(l->path, sizeof l->path, "%s%d", d->base, k);
        if (!(l->done = calloc((size_t)(l->nbx * l->nby), 1)) || !(l->vals = malloc(bb * (size_t)d->nbands * sz)) ||
            !(l->maskbuf = malloc(bb)) || !(l->row = malloc((size_t)d->block * (size_t)d->nbands * sizeof *l->row))) {
            rc = err_set(e, ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((rc = mosaic_gtiff_create(l->path, l->width, l->height, d->nbands, d->dtype, d->options, d->mask,
                                      &l->ds, e)) < 0)
            goto done;
        for (b = 0; b < d->nbands; b++) {
            GDALRasterBandH band = GDALGetRasterBand(l->ds, b + 1);
            if (d->has_nodata)
                GDALSetRasterNoDataValue(band, d->nodata);
            if (d->rgb && b < 3 && d->nbands >= 3)
                GDALSetRasterColorInterpretation(band, b == 0 ? GCI_RedBand : b == 1 ? GCI_GreenBand : GCI_BlueBand);
        }
    }
done:
    if (rc < 0) {
        ovr_free(o, 1);
        return rc;
    }
    *out = o;
    return 0;
}

/* The waiting block (bx, by) of level k, made when missing. */
static struct pend *pend_get(struct ovr *o, int k, long bx, long by)
{
    struct level *l = &o->lv[k];
    size_t bb = (size_t)o->d.block * (size_t)o->d.block, i;
    long B = o->d.block, x1, y1;
    struct pend *p;

    for (i = 0; i < l->npend; i++)
        if (l->pend[i]->bx == bx && l->pend[i]->by == by)
            return l->pend[i];
    if (l->npend == l->cappend) {
        size_t nc = l->cappend ? 2 * l->cappend : 16;
        struct pend **np = realloc(l->pend, nc * sizeof *np);
        if (!np)
            return NULL;
        l->pend = np;
        l->cappend = nc;
    }
    if (o->nspare > 0) {
        p = o->spare[--o->nspare];
        memset(p->sum, 0, bb * (size_t)o->d.nbands * sizeof *p->sum);
        memset(p->cnt, 0, bb * (size_t)o->d.nbands);
        memset(p->got, 0, bb);
        p->seen = 0;
    } else if (!(p = calloc(1, sizeof *p)) || !(p->sum = calloc(bb * (size_t)o->d.nbands, sizeof *p->sum)) ||
               !(p->cnt = calloc(bb * (size_t)o->d.nbands, 1)) || !(p->got = calloc(bb, 1))) {
        pend_free(p);
        return NULL;
    }
    p->bx = bx;
    p->by = by;
    x1 = 2 * (bx + 1) * B < l->cw ? 2 * (bx + 1) * B : l->cw;
    y1 = 2 * (by + 1) * B < l->ch ? 2 * (by + 1) * B : l->ch;
    p->expect = (size_t)(x1 - 2 * bx * B) * (size_t)(y1 - 2 * by * B);
    l->pend[l->npend++] = p;
    return p;
}

static void pend_drop(struct ovr *o, struct level *l, struct pend *p)
{
    size_t i;

    for (i = 0; i < l->npend; i++)
        if (l->pend[i] == p) {
            l->pend[i] = l->pend[--l->npend];
            break;
        }
    if (o->nspare < (int)(sizeof o->spare / sizeof *o->spare))
        o->spare[o->nspare++] = p;
    else
        pend_free(p);
}

static int feed(struct ovr *o, int k, long x0, long y0, long w, long h, const unsigned char *px, ptrdiff_t pix,
                ptrdiff_t line, ptrdiff_t band, const uint8_t *valid, struct errbuf *e);

/* Means to the output type: integers rounded half away from zero, as the
 * store converts (a mean of values of a type is within its range; a
 * pixel without input holds nodata or 0 there). */
#define STORE(T)                                                                                               \
    for (i = 0; i < n; i++)                                                                                    \
        ((T *)dst)[i] = (T)(src[i] < 0 ? src[i] - 0.5 : src[i] + 0.5);                                         \
    break

static void store_row(const double *src, void *dst, enum spec_dtype t, size_t n)
{
    size_t i;

    switch (t) {
    case SPEC_DTYPE_UINT8: STORE(uint8_t);
    case SPEC_DTYPE_INT8: STORE(int8_t);
    case SPEC_DTYPE_UINT16: STORE(uint16_t);
    case SPEC_DTYPE_INT16: STORE(int16_t);
    case SPEC_DTYPE_UINT32: STORE(uint32_t);
    case SPEC_DTYPE_INT32: STORE(int32_t);
    case SPEC_DTYPE_FLOAT32:
        for (i = 0; i < n; i++)
            ((float *)dst)[i] = (float)src[i];
        break;
    default: memcpy(dst, src, n * sizeof *src); break;
    }
}

/* Block p of level k has all its inputs (or the output is complete): its
 * means go to the level's file and on to level k+1. */
static int finish_block(struct ovr *o, int k, struct pend *p, struct errbuf *e)
{
    struct level *l = &o->lv[k];
    long B = o->d.block, x0 = p->bx * B, y0 = p->by * B, x, y;
    long w = l->width - x0 < B ? l->width - x0 : B, h = l->height - y0 < B ? l->height - y0 : B;
    size_t bb = (size_t)B * (size_t)B, sz = spec_dtype_size(o->d.dtype), nb = (size_t)o->d.nbands, b;
    /* Inputs that never arrived read as the fill; it counts as valid only
     * without a mask and without nodata (then it is 0). */
    int fill_valid = !o->d.mask && !o->d.has_nodata;
    int is_float = o->d.dtype == SPEC_DTYPE_FLOAT32 || o->d.dtype == SPEC_DTYPE_FLOAT64;
    double none = o->d.has_nodata && (is_float || !isnan(o->d.nodata)) ? o->d.nodata : is_float ? NAN : 0.0;
    int rc;

    for (y = 0; y < h; y++) {
        /* Inputs under a pixel: 2 x 2, but 1 above a level 1 pixel wide. */
        long iy = 2 * (y0 + y) + 2 <= l->ch ? 2 : 1;
        for (x = 0; x < w; x++) {
            size_t q = (size_t)y * (size_t)B + (size_t)x;
            long ix = 2 * (x0 + x) + 2 <= l->cw ? 2 : 1;
            int missing = (int)(ix * iy) - p->got[q], any = 0;
            if (missing < 0)
                missing = 0;
            for (b = 0; b < nb; b++) {
                unsigned c = p->cnt[b * bb + q] + (fill_valid ? (unsigned)missing : 0u);
                l->row[(size_t)x * nb + b] = c ? p->sum[b * bb + q] / c : none;
                any |= c != 0;
            }
            l->maskbuf[y * w + x] = any ? 255 : 0;
        }
        store_row(l->row, l->vals + (size_t)y * (size_t)w * nb * sz, o->d.dtype, (size_t)w * nb);
    }
    if (GDALDatasetRasterIO(l->ds, GF_Write, (int)x0, (int)y0, (int)w, (int)h, l->vals, (int)w, (int)h,
                            pixtype_to_gdal(o->d.dtype), (int)nb, NULL, (int)(sz * nb), (int)(sz * nb * (size_t)w),
                            (int)sz) != CE_None)
        return err_set(e, ERR_IO, "cannot write overview level %d into %s: %s", k, l->path, CPLGetLastErrorMsg());
    if (o->d.mask &&
        GDALRasterIO(GDALGetMaskBand(GDALGetRasterBand(l->ds, 1)), GF_Write, (int)x0, (int)y0, (int)w, (int)h,
                     l->maskbuf, (int)w, (int)h, GDT_Byte, 0, 0) != CE_None)
        return err_set(e, ERR_IO, "cannot write the mask of overview level %d into %s: %s", k, l->path,
                       CPLGetLastErrorMsg());
    l->done[p->by * l->nbx + p->bx] = 1;
    pend_drop(o, l, p);
    if (k == o->n)
        return 0;
    rc = feed(o, k + 1, x0, y0, w, h, l->vals, (ptrdiff_t)(sz * nb), (ptrdiff_t)(sz * nb * (size_t)w),
              (ptrdiff_t)sz, o->d.mask ? l->maskbuf : NULL, e);
    return rc;
}

/* Sums the window's pixels into the waiting blocks of level k, one loop
 * per pixel type. valid: per pixel, row stride w (as given), non-zero = valid; NULL:
 * valid unless nodata or NaN. */
#define ACCUMULATE(T)                                                                                          \
    for (yy = cy0; yy < cy1; yy++) {                                                                           \
        const unsigned char *r = px + (yy - y0) * line;                                                        \
        const uint8_t *vr = valid ? valid + (size_t)(yy - y0) * (size_t)vstride : NULL;                        \
        size_t qrow = (size_t)((yy >> 1) - by * B) * (size_t)B;                                                \
        for (xx = cx0; xx < cx1; xx++) {                                                                       \
            size_t q = qrow + (size_t)((xx >> 1) - bx * B);                                                    \
            const unsigned char *s = r + (xx - x0) * pix;                                                      \
            p->got[q]++;                                                                                       \
            if (vr && !vr[xx - x0])                                                                            \
                continue;                                                                                      \
            for (b = 0; b < nb; b++) {                                                                         \
                double v = (double)*(const T *)(const void *)(s + b * band);                                   \
                if (v != v || (!vr && has_nd && v == nd))                                                      \
                    continue;                                                                                  \
                p->sum[(size_t)b * bb + q] += v;                                                               \
                p->cnt[(size_t)b * bb + q]++;                                                                  \
            }                                                                                                  \
        }                                                                                                      \
    }

static int feed(struct ovr *o, int k, long x0, long y0, long w, long h, const unsigned char *px, ptrdiff_t pix,
                ptrdiff_t line, ptrdiff_t band, const uint8_t *valid, struct errbuf *e)
{
    long B = o->d.block, bx, by, xx, yy, bx0, bx1, by0, by1, vstride = w;   /* valid's row stride */
    size_t bb = (size_t)B * (size_t)B;
    int nb = o->d.nbands, b, has_nd = o->d.has_nodata, rc;
    double nd = o->d.nodata;

    /* Only the pixels this level covers. */
    if (x0 + w > o->lv[k].cw)
        w = o->lv[k].cw - x0;
    if (y0 + h > o->lv[k].ch)
        h = o->lv[k].ch - y0;
    if (w <= 0 || h <= 0)
        return 0;
    bx0 = (x0 >> 1) / B, bx1 = ((x0 + w - 1) >> 1) / B, by0 = (y0 >> 1) / B, by1 = ((y0 + h - 1) >> 1) / B;

    for (by = by0; by <= by1; by++)
        for (bx = bx0; bx <= bx1; bx++) {
            long cx0 = x0 > 2 * bx * B ? x0 : 2 * bx * B, cx1 = x0 + w < 2 * (bx + 1) * B ? x0 + w : 2 * (bx + 1) * B;
            long cy0 = y0 > 2 * by * B ? y0 : 2 * by * B, cy1 = y0 + h < 2 * (by + 1) * B ? y0 + h : 2 * (by + 1) * B;
            struct pend *p;
            if (o->lv[k].done[by * o->lv[k].nbx + bx])
                continue;   /* pixels given twice (a piece added again): the block is written */
            if (!(p = pend_get(o, k, bx, by)))
                return err_set(e, ERR_NOMEM, "out of memory");
            switch (o->d.dtype) {
            case SPEC_DTYPE_UINT8: ACCUMULATE(uint8_t) break;
            case SPEC_DTYPE_INT8: ACCUMULATE(int8_t) break;
            case SPEC_DTYPE_UINT16: ACCUMULATE(uint16_t) break;
            case SPEC_DTYPE_INT16: ACCUMULATE(int16_t) break;
            case SPEC_DTYPE_UINT32: ACCUMULATE(uint32_t) break;
            case SPEC_DTYPE_INT32: ACCUMULATE(int32_t) break;
            case SPEC_DTYPE_FLOAT32: ACCUMULATE(float) break;
            default: ACCUMULATE(double) break;
            }
            p->seen += (size_t)(cx1 - cx0) * (size_t)(cy1 - cy0);
            if (p->seen >= p->expect && (rc = finish_block(o, k, p, e)) < 0)
                return rc;
        }
    return 0;
}

/* The validity band's values (1 = valid, as the writer's mask) as bytes. */
#define VALIDITY(T)                                                                                            \
    for (j = 0; j < (size_t)h; j++)                                                                            \
        for (i = 0; i < (size_t)w; i++)                                                                        \
            o->valid0[j * (size_t)w + i] =                                                                     \
                *(const T *)(const void *)(valid + (ptrdiff_t)j * line + (ptrdiff_t)i * pix) == (T)1

int ovr_add(struct ovr *o, long x, long y, long w, long h, const unsigned char *px, ptrdiff_t pix,
            ptrdiff_t line, ptrdiff_t band, const unsigned char *valid, struct errbuf *e)
{
    size_t n = (size_t)w * (size_t)h, i, j;

    if (o->n == 0 || w <= 0 || h <= 0)
        return 0;
    if (valid) {
        if (n > o->valid0cap) {
            uint8_t *nv = realloc(o->valid0, n);
            if (!nv)
                return err_set(e, ERR_NOMEM, "out of memory");
            o->valid0 = nv;
            o->valid0cap = n;
        }
        switch (o->d.dtype) {
        case SPEC_DTYPE_UINT8: VALIDITY(uint8_t); break;
        case SPEC_DTYPE_INT8: VALIDITY(int8_t); break;
        case SPEC_DTYPE_UINT16: VALIDITY(uint16_t); break;
        case SPEC_DTYPE_INT16: VALIDITY(int16_t); break;
        case SPEC_DTYPE_UINT32: VALIDITY(uint32_t); break;
        case SPEC_DTYPE_INT32: VALIDITY(int32_t); break;
        case SPEC_DTYPE_FLOAT32: VALIDITY(float); break;
        default: VALIDITY(double); break;
        }
    }
    return feed(o, 1, x, y, w, h, px, pix, line, band, valid ? o->valid0 : NULL, e);
}

int ovr_finish(struct ovr *o, struct errbuf *e)
{
    int k, rc;
    long bx, by;

    for (k = 1; k <= o->n; k++) {
        struct level *l = &o->lv[k];
        for (by = 0; by < l->nby; by++)
            for (bx = 0; bx < l->nbx; bx++) {
                struct pend *p;
                if (l->done[by * l->nbx + bx])
                    continue;
                if (!(p = pend_get(o, k, bx, by)))
                    return err_set(e, ERR_NOMEM, "out of memory");
                if ((rc = finish_block(o, k, p, e)) < 0)
                    return rc;
            }
    }
    for (k = 1; k <= o->n; k++) {
        GDALDatasetH ds = o->lv[k].ds;
        o->lv[k].ds = NULL;
        CPLErrorReset();
        GDALClose(ds);
        if (CPLGetLastErrorType() >= CE_Failure)
            return err_set(e, ERR_IO, "cannot finish %s: %s", o->lv[k].path, CPLGetLastErrorMsg());
    }
    return 0;
}
