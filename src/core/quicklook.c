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
                          double *sorted, unsigned char *mk, struct errbuf *e)
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
    if (nvalid == 0) {
        memset(out, 0, n);
        return 0;
    }
    qsort(sorted, nvalid, sizeof *sorted, cmp_double);
    lo = sorted[nvalid * 2 / 100];
    hi = sorted[(nvalid - 1) * 98 / 100];
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

int quicklook_write(const char *src, const char *png, struct errbuf *e)
{
    GDALDatasetH in = NULL, mem = NULL, outds;
    GDALDriverH memdrv, pngdrv;
    double *vals = NULL, *sorted = NULL;
    unsigned char *px = NULL, *mk = NULL;
    char tmp[4200];
    int w, h, W, H, nb, b, rc = 0;

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
                            vals, sorted, mk, e);
    if (rc != 0)
        goto done;
    memdrv = GDALGetDriverByName("MEM");
    pngdrv = GDALGetDriverByName("PNG");
    if (!memdrv || !pngdrv) {
        rc = err_set(e, ERR_INTERNAL, "quick-look: GDAL has no MEM or PNG driver");
        goto done;
    }
    mem = GDALCreate(memdrv, "", w, h, nb, GDT_Byte, NULL);
    if (!mem || GDALDatasetRasterIO(mem, GF_Write, 0, 0, w, h, px, w, h, GDT_Byte, nb, NULL, 0, 0, 0) !=
                    CE_None) {
        rc = err_set(e, ERR_INTERNAL, "quick-look: %s", CPLGetLastErrorMsg());
        goto done;
    }
    CPLErrorReset();
    GDALSetMetadataItem(mem, QUICKLOOK_TAG, "YES", NULL);
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
    return rc;
}
