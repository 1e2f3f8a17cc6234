/*
 * The quick-look PNG: an 8-bit preview of a finished output, read from the
 * output itself (any GDAL-readable file), and the check that a file at a
 * preview path is one eefetch made before it is replaced. Nothing here
 * takes part in a download; the host calls it once the output is complete.
 */
#include "core/quicklook.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_error.h>
#include <gdal.h>

enum mosaic_existing quicklook_existing(const char *png)
{
    struct stat st;
    GDALDatasetH ds;
    enum mosaic_existing r;

    if (lstat(png, &st) != 0)
        return MOSAIC_ABSENT;
    if (!S_ISREG(st.st_mode))
        return MOSAIC_FOREIGN;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALOpen(png, GA_ReadOnly);
    CPLPopErrorHandler();
    if (!ds)
        return MOSAIC_FOREIGN;
    r = GDALGetMetadataItem(ds, QUICKLOOK_TAG, NULL) ? MOSAIC_SAME_PLAN : MOSAIC_FOREIGN;
    GDALClose(ds);
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Stretches one band, read at the preview size, into bytes. Pixels equal to
 * nodata (or NaN) or masked by a per-dataset mask become 0; the others map
 * [p2, p98] onto 1..255 so that a valid dark pixel is never mistaken for
 * nodata. mk: scratch for the mask, w x h bytes. */
static int stretch_band(GDALRasterBandH b, int w, int h, unsigned char *out, double *vals,
                          double *sorted, unsigned char *mk, double range[2], struct errbuf *e)
{
    int has_nd = 0;
    double nd = GDALGetRasterNoDataValue(b, &has_nd), lo, hi;
    size_t i, n = (size_t)w * (size_t)h, nvalid = 0;

    if (GDALRasterIO(b, GF_Read, 0, 0, GDALGetRasterBandXSize(b), GDALGetRasterBandYSize(b), vals, w, h,
                     GDT_Float64, 0, 0) != CE_None)
        return err_set(e, ERR_IO, "quick-look: cannot read the output: %s", CPLGetLastErrorMsg());
    if (GDALGetMaskFlags(b) & GMF_PER_DATASET) {
        /* eefetch's mask band: masked pixels read as NaN from here on. */
        if (GDALRasterIO(GDALGetMaskBand(b), GF_Read, 0, 0, GDALGetRasterBandXSize(b),
                         GDALGetRasterBandYSize(b), mk, w, h, GDT_Byte, 0, 0) != CE_None)
            return err_set(e, ERR_IO, "quick-look: cannot read the output's mask: %s", CPLGetLastErrorMsg());
        for (i = 0; i < n; i++)
            if (!mk[i])
                vals[i] = NAN;
    }
    for (i = 0; i < n; i++)
        if (!isnan(vals[i]) && !(has_nd && vals[i] == nd))
            sorted[nvalid++] = vals[i];
    range[0] = range[1] = NAN;
    if (nvalid == 0) {
        memset(out, 0, n);
        return 0;
    }
    qsort(sorted, nvalid, sizeof *sorted, cmp_double);
    lo = sorted[nvalid * 2 / 100];
    hi = sorted[(nvalid - 1) * 98 / 100];
    range[0] = lo;
    range[1] = hi;
    for (i = 0; i < n; i++) {
        double v = vals[i];
        if (isnan(v) || (has_nd && v == nd)) {
            out[i] = 0;
        } else {
            double t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            out[i] = (unsigned char)(1.0 + t * 254.0 + 0.5);
        }
    }
    return 0;
}

/* ---- colour ramps (one band) ---- */

struct palette {
    const char *name;
    int n;
    unsigned char rgb[8][3];   /* evenly spaced from the low end to the high end */
};

static const struct palette palettes[] = {
    {"viridis", 5, {{0x44, 0x01, 0x54}, {0x3b, 0x52, 0x8b}, {0x21, 0x91, 0x8c}, {0x5e, 0xc9, 0x62},
                    {0xfd, 0xe7, 0x25}}},
    {"gray", 2, {{0, 0, 0}, {255, 255, 255}}},
    {"terrain", 5, {{0x1a, 0x98, 0x50}, {0x91, 0xcf, 0x60}, {0xfe, 0xe0, 0x8b}, {0xd8, 0xb3, 0x65},
                    {0xff, 0xff, 0xff}}},
    {"rdylgn", 5, {{0xd7, 0x30, 0x27}, {0xfc, 0x8d, 0x59}, {0xfe, 0xe0, 0x8b}, {0x91, 0xcf, 0x60},
                   {0x1a, 0x98, 0x50}}},
    {"magma", 5, {{0x00, 0x00, 0x04}, {0x51, 0x12, 0x7c}, {0xb7, 0x37, 0x79}, {0xfc, 0x89, 0x61},
                  {0xfc, 0xfd, 0xbf}}},
};

static const struct palette *palette_find(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof palettes / sizeof palettes[0]; i++)
        if (strcmp(palettes[i].name, name ? name : QUICKLOOK_DEFAULT_PALETTE) == 0)
            return &palettes[i];
    return NULL;
}

int quicklook_palette_known(const char *name)
{
    return palette_find(name) != NULL;
}

/* The colour of a stretched byte 1..255 (t = (v - 1) / 254 along the ramp). */
static void ramp(const struct palette *p, unsigned char v, unsigned char out[3])
{
    double t = (double)(v - 1) / 254.0 * (p->n - 1), f;
    int k = (int)t, c;

    if (k >= p->n - 1)
        k = p->n - 2;
    f = t - k;
    for (c = 0; c < 3; c++)
        out[c] = (unsigned char)(p->rgb[k][c] + f * (p->rgb[k + 1][c] - p->rgb[k][c]) + 0.5);
}

/* ---- the legend strip: the ramp and its value range ---- */

/* 3 x 5 glyphs of what "%.4g" prints, one row per byte (bit 2 = left). */
static const struct {
    char c;
    unsigned char row[5];
} glyphs[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 1, 1}},
    {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}},
    {'+', {0, 2, 7, 2, 0}}, {'e', {0, 7, 7, 4, 7}}, {'n', {0, 6, 5, 5, 5}}, {'a', {0, 7, 1, 7, 7}},
};

#define LEGEND_RAMP 8      /* rows of the ramp */
#define LEGEND_H 24        /* rows of the strip: ramp, gap, text (2x scaled glyphs), gap */
#define GLYPH_SCALE 2

/* Draws text into an RGBA image of width w at (x, y), white. */
static void draw_text(unsigned char *rgba, int w, int h, int x, int y, const char *text)
{
    for (; *text; text++, x += 4 * GLYPH_SCALE) {
        size_t g;
        int r, c, dy, dx;
        for (g = 0; g < sizeof glyphs / sizeof glyphs[0] && glyphs[g].c != *text; g++)
            ;
        if (g == sizeof glyphs / sizeof glyphs[0])
            continue;
        for (r = 0; r < 5; r++)
            for (c = 0; c < 3; c++)
                if (glyphs[g].row[r] & (4 >> c))
                    for (dy = 0; dy < GLYPH_SCALE; dy++)
                        for (dx = 0; dx < GLYPH_SCALE; dx++) {
                            int px = x + c * GLYPH_SCALE + dx, py = y + r * GLYPH_SCALE + dy;
                            if (px >= 0 && px < w && py >= 0 && py < h)
                                memset(rgba + ((size_t)py * (size_t)w + (size_t)px) * 4, 255, 4);
                        }
    }
}

/* Rows h0 .. h0 + LEGEND_H of an RGBA image: the ramp from left to right,
 * then the low end's value at the left and the high end's at the right. */
static void draw_legend(unsigned char *rgba, int w, int h0, const struct palette *p, const double range[2])
{
    char lo[32], hi[32];
    int x, y, hh = h0 + LEGEND_H;

    for (y = h0; y < hh; y++)
        for (x = 0; x < w; x++) {
            unsigned char *px = rgba + ((size_t)y * (size_t)w + (size_t)x) * 4;
            if (y < h0 + LEGEND_RAMP) {
                ramp(p, (unsigned char)(1 + (w > 1 ? x * 254 / (w - 1) : 127)), px);
            } else {
                px[0] = px[1] = px[2] = 32;
            }
            px[3] = 255;
        }
    snprintf(lo, sizeof lo, "%.4g", range[0]);
    snprintf(hi, sizeof hi, "%.4g", range[1]);
    draw_text(rgba, w, hh, 2, h0 + LEGEND_RAMP + 3, lo);
    draw_text(rgba, w, hh, w - 2 - (int)strlen(hi) * 4 * GLYPH_SCALE, h0 + LEGEND_RAMP + 3, hi);
}

/* The PNG's pixels, RGBA: three stretched bands as they are, one band
 * through the palette; alpha 0 where a band is nodata or masked (stretched
 * to 0). A legend strip below one band's image when it is wide enough. */
static unsigned char *compose(const unsigned char *px, int nb, int w, int h, const struct palette *p,
                              const double range[2], int *out_h)
{
    int legend = nb == 1 && w >= QUICKLOOK_LEGEND_MIN_W && !isnan(range[0]);
    size_t n = (size_t)w * (size_t)h, i, plane = n;
    unsigned char *rgba;

    *out_h = h + (legend ? LEGEND_H : 0);
    if (!(rgba = calloc((size_t)w * (size_t)*out_h, 4)))
        return NULL;
    for (i = 0; i < n; i++) {
        unsigned char *o = rgba + i * 4;
        if (nb == 1) {
            if (px[i])
                ramp(p, px[i], o);
            o[3] = px[i] ? 255 : 0;
        } else {
            o[0] = px[i];
            o[1] = px[plane + i];
            o[2] = px[2 * plane + i];
            o[3] = px[i] && px[plane + i] && px[2 * plane + i] ? 255 : 0;
        }
    }
    if (legend)
        draw_legend(rgba, w, h, p, range);
    return rgba;
}

int quicklook_write(const char *src, const char *png, const char *palette, struct errbuf *e)
{
    GDALDatasetH in = NULL, mem = NULL, outds;
    GDALDriverH memdrv, pngdrv;
    double *vals = NULL, *sorted = NULL, range[3][2];
    unsigned char *px = NULL, *mk = NULL, *rgba = NULL;
    const struct palette *pal = palette_find(palette);
    char tmp[4200], text[128];
    int w, h, H2, W, H, nb, b, rc = 0;

    if (!pal)
        return err_set(e, ERR_USAGE, "quick-look: unknown palette '%s'", palette);
    GDALAllRegister();
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.png", png) >= sizeof tmp)
        return err_set(e, ERR_USAGE, "quick-look path too long");
    in = GDALOpen(src, GA_ReadOnly);
    if (!in)
        return err_set(e, ERR_IO, "quick-look: cannot open %s: %s", src, CPLGetLastErrorMsg());
    W = GDALGetRasterXSize(in);
    H = GDALGetRasterYSize(in);
    nb = GDALGetRasterCount(in) >= 3 ? 3 : 1;
    /* Keep the aspect ratio; never upsample. */
    w = W;
    h = H;
    if (W >= H && W > QUICKLOOK_MAX) {
        w = QUICKLOOK_MAX;
        h = (int)((double)H * QUICKLOOK_MAX / W + 0.5);
    } else if (H > W && H > QUICKLOOK_MAX) {
        h = QUICKLOOK_MAX;
        w = (int)((double)W * QUICKLOOK_MAX / H + 0.5);
    }
    if (w < 1)
        w = 1;
    if (h < 1)
        h = 1;
    vals = malloc((size_t)w * (size_t)h * sizeof *vals);
    sorted = malloc((size_t)w * (size_t)h * sizeof *sorted);
    px = malloc((size_t)w * (size_t)h * (size_t)nb);
    mk = malloc((size_t)w * (size_t)h);
    if (!vals || !sorted || !px || !mk) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    for (b = 0; b < nb && rc == 0; b++)
        rc = stretch_band(GDALGetRasterBand(in, b + 1), w, h, px + (size_t)b * (size_t)w * (size_t)h,
                            vals, sorted, mk, range[b], e);
    if (rc != 0)
        goto done;
    if (!(rgba = compose(px, nb, w, h, pal, range[0], &H2))) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    memdrv = GDALGetDriverByName("MEM");
    pngdrv = GDALGetDriverByName("PNG");
    if (!memdrv || !pngdrv) {
        rc = err_set(e, ERR_INTERNAL, "quick-look: GDAL has no MEM or PNG driver");
        goto done;
    }
    mem = GDALCreate(memdrv, "", w, H2, 4, GDT_Byte, NULL);
    if (!mem || GDALDatasetRasterIO(mem, GF_Write, 0, 0, w, H2, rgba, w, H2, GDT_Byte, 4, NULL, 4, 4 * (GSpacing)w,
                                    1) != CE_None) {
        rc = err_set(e, ERR_INTERNAL, "quick-look: %s", CPLGetLastErrorMsg());
        goto done;
    }
    CPLErrorReset();
    GDALSetMetadataItem(mem, QUICKLOOK_TAG, "YES", NULL);
    /* What the colours mean, for a reader of the file. */
    for (b = 0; b < nb; b++) {
        char key[64];
        snprintf(key, sizeof key, "EEFETCH_QUICKLOOK_RANGE_%d", b + 1);
        snprintf(text, sizeof text, "%.17g %.17g", range[b][0], range[b][1]);
        GDALSetMetadataItem(mem, key, text, NULL);
    }
    if (nb == 1)
        GDALSetMetadataItem(mem, "EEFETCH_QUICKLOOK_PALETTE", pal->name, NULL);
    {
        /* The tag as a PNG text chunk (no .aux.xml beside the preview). */
        char opt[] = "WRITE_METADATA_AS_TEXT=YES";
        char *opts[] = {opt, NULL};
        outds = GDALCreateCopy(pngdrv, tmp, mem, FALSE, opts, NULL, NULL);
    }
    if (outds)
        GDALClose(outds); /* void in GDAL 3.6: a failed flush shows in the error state */
    if (!outds || CPLGetLastErrorType() >= CE_Failure) {
        rc = err_set(e, ERR_IO, "quick-look: cannot write %s: %s", png, CPLGetLastErrorMsg());
        goto done;
    }
    if (mosaic_fsync_path(tmp, 0) != 0 || rename(tmp, png) != 0) {
        rc = err_set(e, ERR_IO, "quick-look: cannot write %s: %s", png, strerror(errno));
        goto done;
    }
done:
    if (rc != 0)
        unlink(tmp);
    /* The PNG driver also writes an .aux.xml for the georeferencing it
     * cannot hold; a preview does not need it. */
    {
        char aux[4300];
        snprintf(aux, sizeof aux, "%s.aux.xml", tmp);
        unlink(aux);
    }
    if (mem)
        GDALClose(mem);
    if (in)
        GDALClose(in);
    free(vals);
    free(sorted);
    free(px);
    free(mk);
    free(rgba);
    return rc;
}
