/* Pixel-grid planning (see grid.h and docs/engine.md). */
#include "core/grid.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_error.h>
#include <gdal.h>
#include <gdal_alg.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <openssl/evp.h>

#include "util/buf.h"

/* Tolerance, in pixels, when snapping coordinates to the pixel grid: a bound
 * that is a whole number of pixels up to floating-point noise stays put
 * instead of growing the grid by one pixel. */
#define SNAP_EPS 1e-6

uint64_t grid_request_bytes(long w, long h, const size_t *band_bytes, size_t nbands)
{
    uint64_t per_px = 0;
    size_t i;

    for (i = 0; i < nbands; i++)
        per_px += (uint64_t)(band_bytes[i] ? band_bytes[i] : GRID_UNKNOWN_BAND_BYTES) + 1;
    return (uint64_t)w * (uint64_t)h * per_px;
}

void grid_window_affine(const struct grid *g, long col, long row, double ee[6])
{
    ee[0] = g->sx;
    ee[1] = 0.0;
    ee[2] = g->x0 + (double)col * g->sx;
    ee[3] = 0.0;
    ee[4] = g->sy;
    ee[5] = g->y0 + (double)row * g->sy;
}

/* Largest EE-accounted bytes per pixel over the groups of `group` consecutive bands. */
static uint64_t worst_group_cost(const size_t *band_bytes, size_t nbands, size_t group)
{
    uint64_t worst = 0;
    size_t b0;

    for (b0 = 0; b0 < nbands; b0 += group) {
        size_t n = nbands - b0 < group ? nbands - b0 : group;
        uint64_t c = grid_request_bytes(1, 1, band_bytes + b0, n);
        if (c > worst)
            worst = c;
    }
    return worst;
}

static long align_down(long v, long a)
{
    return a > 1 ? v / a * a : v;
}

static long min_l(long a, long b)
{
    return a < b ? a : b;
}

int grid_tile_size(const size_t *band_bytes, size_t nbands, uint64_t max_bytes, int block,
                   long W, long H, long *tw, long *th, int *band_group, struct errbuf *e)
{
    size_t group, cap;
    uint64_t cost, max_px;
    long side, blk = block > 0 ? block : GRID_DEFAULT_BLOCK;

    if (nbands == 0)
        return err_set(e, ERR_USAGE, "no bands to download");
    if (W <= 0 || H <= 0)
        return err_set(e, ERR_USAGE, "empty grid (%ldx%ld)", W, H);
    if (max_bytes == 0)
        max_bytes = GRID_DEFAULT_MAX_BYTES;

    /* Fewer bands per request until one aligned block of them fits: a request
     * smaller than a block would make every write a partial-block rewrite. */
    cap = *band_group > 0 ? (size_t)*band_group : 0;
    group = nbands < GRID_MAX_BANDS ? nbands : GRID_MAX_BANDS;
    if (cap && cap < group)
        group = cap;
    while (group > 1 && worst_group_cost(band_bytes, nbands, group) * (uint64_t)blk * (uint64_t)blk >
                            max_bytes) {
        if (!cap) {
            group = (group + 1) / 2;
            continue;
        }
        /* the next smaller divisor of the cap */
        while (--group > 1 && cap % group != 0)
            ;
    }
    cost = worst_group_cost(band_bytes, nbands, group);
    max_px = max_bytes / cost;
    if (max_px == 0)
        return err_set(e, ERR_USAGE, "max_tile_bytes %llu is smaller than one pixel (%llu bytes)",
                       (unsigned long long)max_bytes, (unsigned long long)cost);

    if (max_px < (uint64_t)blk * (uint64_t)blk) {
        /* Even one band does not fit a block: give up alignment, stay under the budget. */
        side = (long)floor(sqrt((double)max_px));
        if (side < 1)
            side = 1;
        *tw = min_l(side, W);
        *th = min_l(min_l((long)(max_px / (uint64_t)*tw), GRID_MAX_SIDE), H);
    } else {
        side = align_down(min_l((long)floor(sqrt((double)max_px)), GRID_MAX_SIDE), blk);
        *tw = side;
        *th = side;
        /* A narrow (or short) area gives the unused budget to the other side. */
        if (W <= *tw) {
            *tw = W;
            *th = align_down(min_l((long)(max_px / (uint64_t)W), GRID_MAX_SIDE), blk);
            if (H <= *th)
                *th = H;
        } else if (H <= *th) {
            *th = H;
            *tw = align_down(min_l((long)(max_px / (uint64_t)H), GRID_MAX_SIDE), blk);
            if (W <= *tw)
                *tw = W;
        }
    }
    *band_group = (int)group;
    return 0;
}

int grid_tile_split(const struct grid_tile *t, int align, struct grid_tile out[4])
{
    long wa, wb, ha, hb;
    int n = 0, i, j;

    /* Split point: the middle, moved down to a multiple of align when that
     * leaves both halves non-empty, so split parts stay block-aligned. */
    wa = t->width / 2;
    if (align > 1 && align_down(wa, align) > 0)
        wa = align_down(wa, align);
    ha = t->height / 2;
    if (align > 1 && align_down(ha, align) > 0)
        ha = align_down(ha, align);
    if (wa == 0)
        wa = t->width;   /* width 1: do not split horizontally */
    if (ha == 0)
        ha = t->height;
    wb = t->width - wa;
    hb = t->height - ha;
    if (wb == 0 && hb == 0)
        return 0;
    for (j = 0; j < 2; j++) {
        long h = j ? hb : ha;
        if (h == 0)
            continue;
        for (i = 0; i < 2; i++) {
            long w = i ? wb : wa;
            if (w == 0)
                continue;
            out[n] = *t;
            out[n].col = t->col + (i ? wa : 0);
            out[n].row = t->row + (j ? ha : 0);
            out[n].width = w;
            out[n].height = h;
            n++;
        }
    }
    return n;
}

/* ---- CRS and region geometry ---- */

static OGRSpatialReferenceH srs_new(const char *def, struct errbuf *e)
{
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);

    if (!srs) {
        err_set(e, ERR_NOMEM, "out of memory creating a spatial reference");
        return NULL;
    }
    /* Quiet handler: the message goes to the caller's errbuf, not stderr. */
    CPLPushErrorHandler(CPLQuietErrorHandler);
    if (OSRSetFromUserInput(srs, def) != OGRERR_NONE) {
        err_set(e, ERR_USAGE, "unknown CRS '%.200s': %s", def, CPLGetLastErrorMsg());
        CPLPopErrorHandler();
        OSRDestroySpatialReference(srs);
        return NULL;
    }
    CPLPopErrorHandler();
    /* x = easting/longitude, y = northing/latitude, whatever the EPSG
     * definition says: recipes and GeoJSON use that order. */
    OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
    return srs;
}

static OGRGeometryH bbox_polygon(const double bb[4])
{
    OGRGeometryH poly = OGR_G_CreateGeometry(wkbPolygon);
    OGRGeometryH ring = OGR_G_CreateGeometry(wkbLinearRing);

    if (!poly || !ring) {
        if (poly)
            OGR_G_DestroyGeometry(poly);
        if (ring)
            OGR_G_DestroyGeometry(ring);
        return NULL;
    }
    OGR_G_AddPoint_2D(ring, bb[0], bb[1]);
    OGR_G_AddPoint_2D(ring, bb[2], bb[1]);
    OGR_G_AddPoint_2D(ring, bb[2], bb[3]);
    OGR_G_AddPoint_2D(ring, bb[0], bb[3]);
    OGR_G_AddPoint_2D(ring, bb[0], bb[1]);
    OGR_G_AddGeometryDirectly(poly, ring);
    return poly;
}

/* The region as a geometry in the output CRS (the caller destroys it).
 * A bbox given in another CRS is densified first so that its curved image
 * (e.g. a lon/lat box in UTM) is enclosed by the envelope. */
static int region_geometry(const struct download_spec *s, OGRGeometryH *out, struct errbuf *e)
{
    OGRSpatialReferenceH src = NULL, dst = NULL;
    OGRCoordinateTransformationH ct = NULL;
    OGRGeometryH g = NULL;
    const char *src_def = s->region.crs ? s->region.crs : "EPSG:4326";
    int rc = 0;

    *out = NULL;
    if (s->region.kind == SPEC_REGION_BBOX) {
        const double *bb = s->region.bbox;
        if (!(bb[0] < bb[2]) || !(bb[1] < bb[3]))
            return err_set(e, ERR_USAGE, "region bbox must be {xmin, ymin, xmax, ymax} with min < max");
        g = bbox_polygon(bb);
        if (!g)
            return err_set(e, ERR_NOMEM, "out of memory building the region");
        OGR_G_Segmentize(g, fmax(bb[2] - bb[0], bb[3] - bb[1]) / 64.0);
    } else if (s->region.kind == SPEC_REGION_GEOJSON) {
        OGRwkbGeometryType t;
        if (!s->region.geojson)
            return err_set(e, ERR_USAGE, "region: missing GeoJSON geometry");
        g = OGR_G_CreateGeometryFromJson(s->region.geojson);
        if (!g)
            return err_set(e, ERR_USAGE, "region: not a GeoJSON geometry: %s", CPLGetLastErrorMsg());
        t = wkbFlatten(OGR_G_GetGeometryType(g));
        if (t != wkbPolygon && t != wkbMultiPolygon) {
            OGR_G_DestroyGeometry(g);
            return err_set(e, ERR_USAGE, "region: expected a Polygon or MultiPolygon, got %s",
                           OGRGeometryTypeToName(t));
        }
    } else {
        return err_set(e, ERR_USAGE, "a region is required with crs + scale");
    }

    src = srs_new(src_def, e);
    dst = src ? srs_new(s->grid.crs, e) : NULL;
    if (!src || !dst) {
        rc = ERR_USAGE;
        goto done;
    }
    if (!OSRIsSame(src, dst)) {
        ct = OCTNewCoordinateTransformation(src, dst);
        if (!ct) {
            rc = err_set(e, ERR_USAGE, "cannot transform the region from %.100s to %.100s: %s", src_def,
                         s->grid.crs, CPLGetLastErrorMsg());
            goto done;
        }
        if (OGR_G_Transform(g, ct) != OGRERR_NONE) {
            rc = err_set(e, ERR_USAGE, "the region cannot be projected to %.100s: %s", s->grid.crs,
                         CPLGetLastErrorMsg());
            goto done;
        }
    }
    *out = g;
    g = NULL;
done:
    if (g)
        OGR_G_DestroyGeometry(g);
    if (ct)
        OCTDestroyCoordinateTransformation(ct);
    if (src)
        OSRDestroySpatialReference(src);
    if (dst)
        OSRDestroySpatialReference(dst);
    return rc;
}

static int check_crs(const char *crs, struct errbuf *e)
{
    OGRSpatialReferenceH srs;

    if (!crs || !*crs)
        return err_set(e, ERR_USAGE, "crs is required");
    if (strlen(crs) >= sizeof(((struct grid *)0)->crs))
        return err_set(e, ERR_USAGE, "crs definition is too long");
    srs = srs_new(crs, e);
    if (!srs)
        return ERR_USAGE;
    OSRDestroySpatialReference(srs);
    return 0;
}

/* The region's extent widened to whole pixels of the lattice of an affine
 * (EE order, no shear): pixel edges at translateX + k * scaleX and
 * translateY + k * scaleY, as EE cuts an export's region with crsTransform. */
static int snap_transform(const OGREnvelope *env, const double t[6], struct grid *g, struct errbuf *e)
{
    double sx = t[0], sy = t[4];
    double kx0 = floor((env->MinX - t[2]) / sx + SNAP_EPS);
    double kx1 = ceil((env->MaxX - t[2]) / sx - SNAP_EPS);
    /* Rows count along scaleY: top is the bound first reached from translateY. */
    double top = sy < 0 ? env->MaxY : env->MinY, bottom = sy < 0 ? env->MinY : env->MaxY;
    double ky0 = floor((top - t[5]) / sy + SNAP_EPS);
    double ky1 = ceil((bottom - t[5]) / sy - SNAP_EPS);
    double w = kx1 - kx0, h = ky1 - ky0;

    if (!isfinite(w) || !isfinite(h))
        return err_set(e, ERR_USAGE, "the region has no finite extent in %.100s", g->crs);
    /* A degenerate region (a point or a line) still gets one pixel. */
    if (w < 1)
        w = 1;
    if (h < 1)
        h = 1;
    if (w > 1e9 || h > 1e9)
        return err_set(e, ERR_USAGE, "grid of %.0fx%.0f pixels is too large", w, h);
    g->sx = sx;
    g->sy = sy;
    g->x0 = t[2] + kx0 * sx;
    g->y0 = t[5] + ky0 * sy;
    g->width = (long)w;
    g->height = (long)h;
    return 0;
}

/* crs + scale: the lattice of pixel edges at multiples of scale from the
 * CRS origin, north up. */
static int snap_extent(const OGREnvelope *env, double scale, struct grid *g, struct errbuf *e)
{
    const double t[6] = {scale, 0, 0, 0, -scale, 0};
    return snap_transform(env, t, g, e);
}

int grid_region_meets(const struct spec_region *r, const char *crs, const double t[6], long w, long h,
                      struct errbuf *e)
{
    struct download_spec s;
    OGRGeometryH region = NULL, rect = NULL;
    double x[4], y[4], bb[4];
    int rc, i;

    /* A spec that only lends the region and the target CRS (owned by the caller). */
    memset(&s, 0, sizeof s);
    s.region = *r;
    s.grid.crs = (char *)crs;
    /* A region that cannot be projected is an answer ("cannot tell"), not news for stderr. */
    CPLPushErrorHandler(CPLQuietErrorHandler);
    rc = region_geometry(&s, &region, e);
    CPLPopErrorHandler();
    if (rc < 0)
        return rc;
    for (i = 0; i < 4; i++) {
        double c = (i == 1 || i == 2) ? (double)w : 0, l = (i >= 2) ? (double)h : 0;
        x[i] = t[0] * c + t[1] * l + t[2];
        y[i] = t[3] * c + t[4] * l + t[5];
    }
    bb[0] = fmin(fmin(x[0], x[1]), fmin(x[2], x[3]));
    bb[2] = fmax(fmax(x[0], x[1]), fmax(x[2], x[3]));
    bb[1] = fmin(fmin(y[0], y[1]), fmin(y[2], y[3]));
    bb[3] = fmax(fmax(y[0], y[1]), fmax(y[2], y[3]));
    if (!(rect = bbox_polygon(bb))) {
        OGR_G_DestroyGeometry(region);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    rc = OGR_G_Intersects(region, rect) ? 1 : 0;
    OGR_G_DestroyGeometry(rect);
    OGR_G_DestroyGeometry(region);
    return rc;
}

int grid_crs_units(const char *crs, double metres, double *units, struct errbuf *e)
{
    OGRSpatialReferenceH srs;
    double per_unit;
    int rc = 0;

    if (!(metres > 0) || !isfinite(metres))
        return err_set(e, ERR_USAGE, "scale must be a positive number of metres");
    if (!(srs = srs_new(crs, e)))
        return ERR_USAGE;
    if (OSRIsGeographic(srs)) {
        /* EE: degrees = metres / (metres per degree along the equator of the
         * CRS's ellipsoid), e.g. 30 m -> 30 / 111319.49 degrees on WGS84. */
        OGRErr err = OGRERR_NONE;
        double a = OSRGetSemiMajor(srs, &err);
        double rad = OSRGetAngularUnits(srs, NULL);   /* radians per CRS unit */
        if (err != OGRERR_NONE || !(a > 0) || !(rad > 0))
            rc = err_set(e, ERR_USAGE, "the CRS '%.200s' has no ellipsoid to convert metres with; "
                                       "give pixel_size in its units", crs);
        per_unit = a * rad;
    } else {
        per_unit = OSRGetLinearUnits(srs, NULL);        /* metres per CRS unit */
        if (!(per_unit > 0))
            rc = err_set(e, ERR_USAGE, "the CRS '%.200s' has no linear unit; give pixel_size in its units", crs);
    }
    if (rc == 0)
        *units = metres / per_unit;
    OSRDestroySpatialReference(srs);
    return rc;
}

static int resolve_with(const struct download_spec *s, struct grid *g, OGRGeometryH *region_out,
                        struct errbuf *e)
{
    OGRGeometryH region = NULL;
    int rc;

    memset(g, 0, sizeof *g);
    if ((rc = check_crs(s->grid.crs, e)) < 0)
        return rc;
    snprintf(g->crs, sizeof g->crs, "%s", s->grid.crs);

    if (s->region.kind != SPEC_REGION_NONE) {
        if ((rc = region_geometry(s, &region, e)) < 0)
            return rc;
    }
    if (s->grid.kind == SPEC_GRID_EXACT || s->grid.kind == SPEC_GRID_TRANSFORM) {
        const double *t = s->grid.transform;
        if (t[1] != 0 || t[3] != 0) {
            rc = err_set(e, ERR_USAGE, "crs_transform with shear is not supported");
            goto fail;
        }
        if (!(t[0] > 0) || t[4] == 0 || !isfinite(t[2]) || !isfinite(t[5])) {
            rc = err_set(e, ERR_USAGE, "crs_transform needs scaleX > 0 and scaleY != 0");
            goto fail;
        }
        if (s->grid.kind == SPEC_GRID_TRANSFORM) {
            OGREnvelope env;
            if (!region) {
                rc = err_set(e, ERR_USAGE, "a region is required with crs_transform and no dimensions");
                goto fail;
            }
            OGR_G_GetEnvelope(region, &env);
            if ((rc = snap_transform(&env, t, g, e)) < 0)
                goto fail;
            goto done;
        }
        /* GDAL sizes are ints: stay well inside them. */
        if (s->grid.width > 1000000000L || s->grid.height > 1000000000L) {
            rc = err_set(e, ERR_USAGE, "dimensions %ldx%ld are too large", s->grid.width, s->grid.height);
            goto fail;
        }
        if (s->grid.width <= 0 || s->grid.height <= 0) {
            rc = err_set(e, ERR_USAGE, "dimensions must be positive (got %ldx%ld)", s->grid.width,
                         s->grid.height);
            goto fail;
        }
        g->sx = t[0];
        g->sy = t[4];
        g->x0 = t[2];
        g->y0 = t[5];
        g->width = s->grid.width;
        g->height = s->grid.height;
    } else {
        OGREnvelope env;
        if (!(s->grid.scale > 0) || !isfinite(s->grid.scale)) {
            rc = err_set(e, ERR_USAGE, "scale must be a positive number");
            goto fail;
        }
        if (!region) {
            rc = err_set(e, ERR_USAGE, "a region is required with crs + scale");
            goto fail;
        }
        OGR_G_GetEnvelope(region, &env);
        if ((rc = snap_extent(&env, s->grid.scale, g, e)) < 0)
            goto fail;
    }
done:
    if (region_out)
        *region_out = region;
    else if (region)
        OGR_G_DestroyGeometry(region);
    return 0;
fail:
    if (region)
        OGR_G_DestroyGeometry(region);
    return rc;
}

int grid_resolve(const struct download_spec *s, struct grid *g, struct errbuf *e)
{
    return resolve_with(s, g, NULL, e);
}

int grid_spec_from_file(const char *path, struct spec_grid *g, struct errbuf *e)
{
    GDALDatasetH ds;
    OGRSpatialReferenceH srs = NULL;
    double gt[6];
    const char *auth, *code;
    char crs[64];
    int rc = 0;

    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALOpenEx(path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    CPLPopErrorHandler();
    if (!ds)
        return err_set(e, ERR_USAGE, "like: cannot open %.1000s as a raster", path);
    if (GDALGetGeoTransform(ds, gt) != CE_None) {
        rc = err_set(e, ERR_USAGE, "like: %.1000s has no geotransform", path);
        goto done;
    }
    if (gt[2] != 0 || gt[4] != 0) {
        rc = err_set(e, ERR_USAGE, "like: %.1000s has a rotated (sheared) grid, which is not supported", path);
        goto done;
    }
    srs = GDALGetSpatialRef(ds) ? OSRClone(GDALGetSpatialRef(ds)) : NULL;
    if (srs)
        OSRAutoIdentifyEPSG(srs);
    auth = srs ? OSRGetAuthorityName(srs, NULL) : NULL;
    code = srs ? OSRGetAuthorityCode(srs, NULL) : NULL;
    if (!auth || !code || strcmp(auth, "EPSG") != 0) {
        rc = err_set(e, ERR_USAGE, "like: the CRS of %.1000s has no EPSG code; give crs and crs_transform", path);
        goto done;
    }
    snprintf(crs, sizeof crs, "EPSG:%s", code);
    free(g->crs);
    g->crs = strdup(crs);
    if (!g->crs) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    g->kind = SPEC_GRID_EXACT;
    /* GDAL order -> EE order. */
    g->transform[0] = gt[1];
    g->transform[1] = gt[2];
    g->transform[2] = gt[0];
    g->transform[3] = gt[4];
    g->transform[4] = gt[5];
    g->transform[5] = gt[3];
    g->width = GDALGetRasterXSize(ds);
    g->height = GDALGetRasterYSize(ds);
done:
    if (srs)
        OSRDestroySpatialReference(srs);
    GDALClose(ds);
    return rc;
}

/* ---- fishnet ---- */

/* Cut [0,len) into parts with boundaries on multiples of align (the ends are
 * 0 and len). Either `parts` equal parts or parts of `part_px` pixels. */
static int axis_bounds(long len, int parts, long part_px, long align, long **out, size_t *nout)
{
    long *b;
    size_t n = 0, cap;
    long v;

    if (align < 1)
        align = 1;
    if (part_px > 0) {
        long step = (part_px + align - 1) / align * align;
        cap = (size_t)(len / step) + 2;
        b = malloc(cap * sizeof *b);
        if (!b)
            return ERR_NOMEM;
        for (v = 0; v < len; v += step)
            b[n++] = v;
    } else {
        int i;
        if (parts < 1)
            parts = 1;
        cap = (size_t)parts + 1;
        b = malloc(cap * sizeof *b);
        if (!b)
            return ERR_NOMEM;
        for (i = 0; i < parts; i++) {
            v = (long)llround((double)len * i / parts);
            v = (v + align / 2) / align * align;   /* nearest multiple of align */
            if (v >= len)
                break;
            if (n == 0 || v > b[n - 1])
                b[n++] = v;
        }
    }
    b[n++] = len;
    *out = b;
    *nout = n;
    return 0;
}

int grid_region_mask(const struct grid_plan *p, const struct grid_tile *t, unsigned char *mask,
                     int *all_inside, struct errbuf *e)
{
    double ee[6], bb[4], gt[6];
    OGRGeometryH rect = NULL, geom = NULL;
    GDALDatasetH ds = NULL;
    GDALDriverH mem = GDALGetDriverByName("MEM");
    int band = 1, rc = 0;
    double burn = 1;

    *all_inside = 1;
    if (!p->region)
        return 0;
    grid_window_affine(&p->grid, t->col, t->row, ee);
    bb[0] = ee[2];
    bb[2] = ee[2] + (double)t->width * ee[0];
    bb[1] = fmin(ee[5], ee[5] + (double)t->height * ee[4]);
    bb[3] = fmax(ee[5], ee[5] + (double)t->height * ee[4]);
    rect = bbox_polygon(bb);
    if (!rect)
        return err_set(e, ERR_NOMEM, "out of memory");
    if (OGR_G_Contains((OGRGeometryH)p->region, rect))
        goto done;
    *all_inside = 0;
    if (!mask)
        goto done;
    if (!mem) {
        rc = err_set(e, ERR_INTERNAL, "GDAL's MEM driver is not registered");
        goto done;
    }
    /* Each caller rasterizes its own copy: nothing shared is modified. */
    geom = OGR_G_Clone((OGRGeometryH)p->region);
    ds = GDALCreate(mem, "", (int)t->width, (int)t->height, 1, GDT_Byte, NULL);
    if (!geom || !ds) {
        rc = err_set(e, ERR_NOMEM, "out of memory rasterizing the region");
        goto done;
    }
    gt[0] = ee[2];
    gt[1] = ee[0];
    gt[2] = 0;
    gt[3] = ee[5];
    gt[4] = 0;
    gt[5] = ee[4];
    GDALSetGeoTransform(ds, gt);
    /* GDAL's default rule burns a pixel when its centre is inside. */
    if (GDALRasterizeGeometries(ds, 1, &band, 1, &geom, NULL, NULL, &burn, NULL, NULL, NULL) != CE_None ||
        GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Read, 0, 0, (int)t->width, (int)t->height, mask,
                     (int)t->width, (int)t->height, GDT_Byte, 0, 0) != CE_None)
        rc = err_set(e, ERR_INTERNAL, "cannot rasterize the region: %s", CPLGetLastErrorMsg());
done:
    if (ds)
        GDALClose(ds);
    if (geom)
        OGR_G_DestroyGeometry(geom);
    OGR_G_DestroyGeometry(rect);
    return rc;
}

/* ---- the plan ---- */

static int hash_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;

    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return ERR_INTERNAL;
    for (i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* The canonical text of everything that decides tile ids and pixels: two
 * specs with the same text produce the same tiles, so a journal written for
 * one is valid for the other. Worker count, retries and credentials are
 * deliberately absent. */
static int plan_text(const struct download_spec *s, const struct grid_plan *p, struct buf *b)
{
    size_t i;
    int rc = 0;

    rc |= buf_printf(b, "eefetch-plan 1\ncrs %s\n", p->grid.crs);
    rc |= buf_printf(b, "grid %.17g %.17g %.17g %.17g %ld %ld\n", p->grid.x0, p->grid.y0, p->grid.sx,
                     p->grid.sy, p->grid.width, p->grid.height);
    rc |= buf_printf(b, "expression %s\n", p->expr_hash);
    for (i = 0; i < s->nbands; i++)
        rc |= buf_printf(b, "band %s %s\n", s->bands[i].id, spec_dtype_name(s->bands[i].type));
    rc |= buf_printf(b, "dtype %s\nnodata %d %.17g\nfetch %d\nformat %d\ncompression %d %d\n",
                     spec_dtype_name(s->dtype), s->has_nodata, s->has_nodata ? s->nodata : 0.0,
                     (int)s->fetch_format, (int)s->format, (int)s->compression, s->compress_level);
    rc |= buf_printf(b, "tiling %d %ld %ld %d\nfishnet %d %d %.17g %.17g %d\n", p->block, p->tile_w,
                     p->tile_h, p->band_group, s->fishnet.rows, s->fishnet.cols, s->fishnet.cell_width,
                     s->fishnet.cell_height, (int)s->fishnet.split);
    rc |= buf_printf(b, "region %d %s\n", (int)s->region.kind,
                     s->region.kind == SPEC_REGION_GEOJSON && s->region.geojson ? s->region.geojson : "");
    /* Only when set, so plans without a mask band keep their hashes. */
    if (s->mask_band)
        rc |= buf_printf(b, "mask_band 1\n");
    if (s->layout != SPEC_LAYOUT_IMAGE) {
        rc |= buf_printf(b, "layout %d %zu %d\n", (int)s->layout, s->nparts, s->bands_per_request);
        for (i = 0; i < s->nparts; i++)
            rc |= buf_printf(b, "part %d %d %s\n", s->parts[i].band0, s->parts[i].nbands,
                             s->parts[i].path ? s->parts[i].path : "");
        for (i = 0; i < s->nbands; i++)
            if (s->bands[i].name)
                rc |= buf_printf(b, "name %zu %s\n", i, s->bands[i].name);
    }
    rc |= buf_printf(b, "tiles %zu\n", p->ntiles);
    return rc ? ERR_NOMEM : 0;
}

static int tile_touches(OGRGeometryH region, const struct grid *g, const struct grid_tile *t)
{
    double ee[6], bb[4];
    OGRGeometryH rect;
    int hit;

    grid_window_affine(g, t->col, t->row, ee);
    bb[0] = ee[2];
    bb[2] = ee[2] + (double)t->width * ee[0];
    bb[1] = ee[5] + (double)t->height * ee[4];
    bb[3] = ee[5];
    if (bb[1] > bb[3]) {
        double tmp = bb[1];
        bb[1] = bb[3];
        bb[3] = tmp;
    }
    rect = bbox_polygon(bb);
    if (!rect)
        return -1;
    hit = OGR_G_Intersects(region, rect) ? 1 : 0;
    OGR_G_DestroyGeometry(rect);
    return hit;
}

void grid_plan_free(struct grid_plan *p)
{
    if (!p)
        return;
    if (p->region)
        OGR_G_DestroyGeometry((OGRGeometryH)p->region);
    free(p->cells);
    free(p->tiles);
    memset(p, 0, sizeof *p);
}

/* Fishnet cells. With one output file their edges are moved to block
 * multiples so tiles stay block-aligned; a file per cell (split or a VRT)
 * only needs whole pixels (each file has its own block grid). *maxw and
 * *maxh: the largest cell. */
static int plan_cells(const struct download_spec *s, struct grid_plan *p, long *maxw, long *maxh, struct errbuf *e)
{
    long align = spec_files_per_cell(s) ? 1 : p->block, cw_px = 0, ch_px = 0;
    long *cb = NULL, *rb = NULL;
    size_t ncb = 0, nrb = 0, i, j;
    int rc = 0;

    if (s->fishnet.cell_width > 0 || s->fishnet.cell_height > 0) {
        if (!(s->fishnet.cell_width > 0) || !(s->fishnet.cell_height > 0))
            return err_set(e, ERR_USAGE, "fishnet cell size needs both width and height > 0");
        cw_px = (long)llround(s->fishnet.cell_width / fabs(p->grid.sx));
        ch_px = (long)llround(s->fishnet.cell_height / fabs(p->grid.sy));
        if (cw_px < 1)
            cw_px = 1;
        if (ch_px < 1)
            ch_px = 1;
    }
    if (axis_bounds(p->grid.width, s->fishnet.cols, cw_px, align, &cb, &ncb) < 0 ||
        axis_bounds(p->grid.height, s->fishnet.rows, ch_px, align, &rb, &nrb) < 0) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    p->ncells = (ncb - 1) * (nrb - 1);
    p->cells = calloc(p->ncells, sizeof *p->cells);
    if (!p->cells) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    for (j = 0; j + 1 < nrb; j++) {
        for (i = 0; i + 1 < ncb; i++) {
            struct grid_cell *c = &p->cells[j * (ncb - 1) + i];
            c->col = cb[i];
            c->row = rb[j];
            c->width = cb[i + 1] - cb[i];
            c->height = rb[j + 1] - rb[j];
            c->cell_row = (int)j;
            c->cell_col = (int)i;
            if (c->width > *maxw)
                *maxw = c->width;
            if (c->height > *maxh)
                *maxh = c->height;
        }
    }
done:
    free(cb);
    free(rb);
    return rc;
}

/* A grid this large is a unit mistake (a pixel size in degrees given as
 * metres), not a download: refuse it before planning millions of tiles. */
static int check_windows(const struct grid_plan *p, struct errbuf *e)
{
    double windows =
        ceil((double)p->grid.width / (double)p->tile_w) * ceil((double)p->grid.height / (double)p->tile_h);

    if (windows > GRID_MAX_TILES)
        return err_set(e, ERR_USAGE,
                       "the grid is %ld x %ld pixels of %.6g x %.6g %s units, over %.0f tiles: too large to "
                       "plan; check the pixel size (scale is metres, pixel_size is CRS units)",
                       p->grid.width, p->grid.height, p->grid.sx, fabs(p->grid.sy), p->grid.crs,
                       (double)GRID_MAX_TILES);
    return 0;
}

/* The band groups of window t, appended to p->tiles (*cap: its room). */
static int add_window(struct grid_plan *p, size_t *cap, struct grid_tile t, const size_t *band_bytes)
{
    int b0;

    for (b0 = 0; b0 < (int)p->nbands; b0 += p->band_group) {
        uint64_t bytes;
        if (p->ntiles == *cap) {
            size_t ncap = *cap ? *cap * 2 : 64;
            struct grid_tile *nt = realloc(p->tiles, ncap * sizeof *nt);
            if (!nt)
                return ERR_NOMEM;
            p->tiles = nt;
            *cap = ncap;
        }
        t.id = p->ntiles;
        t.band0 = b0;
        t.nbands = (int)min_l(p->band_group, (long)p->nbands - b0);
        bytes = grid_request_bytes(t.width, t.height, band_bytes + b0, (size_t)t.nbands);
        if (bytes > p->max_tile_bytes_used)
            p->max_tile_bytes_used = bytes;
        p->tiles[p->ntiles++] = t;
    }
    return 0;
}

/* Tiles: per cell, row-major windows anchored at the cell origin, and for
 * each window its band groups; windows that miss a polygon region are
 * skipped. */
static int plan_tiles(struct grid_plan *p, OGRGeometryH region, const size_t *band_bytes, struct errbuf *e)
{
    size_t i, cap = 0;

    for (i = 0; i < p->ncells; i++) {
        struct grid_cell *c = &p->cells[i];
        long r, q;
        c->first_tile = p->ntiles;
        for (r = 0; r < c->height; r += p->tile_h) {
            for (q = 0; q < c->width; q += p->tile_w) {
                struct grid_tile t;
                int touch = 1;
                memset(&t, 0, sizeof t);
                t.cell = i;
                t.col = c->col + q;
                t.row = c->row + r;
                t.width = min_l(p->tile_w, c->width - q);
                t.height = min_l(p->tile_h, c->height - r);
                if (region && (touch = tile_touches(region, &p->grid, &t)) < 0)
                    return err_set(e, ERR_NOMEM, "out of memory");
                if (!touch)
                    p->nskipped += (p->nbands + (size_t)p->band_group - 1) / (size_t)p->band_group;
                else if (add_window(p, &cap, t, band_bytes) < 0)
                    return err_set(e, ERR_NOMEM, "out of memory");
            }
        }
        c->ntiles = p->ntiles - c->first_tile;
    }
    return 0;
}

int grid_plan_build(const struct download_spec *s, struct grid_plan *p, struct errbuf *e)
{
    OGRGeometryH region = NULL;
    size_t *band_bytes = NULL, i;
    long maxw = 0, maxh = 0;
    struct buf text;
    int rc;

    memset(p, 0, sizeof *p);
    buf_init(&text, 0);
    if (!s->expression || !*s->expression)
        return err_set(e, ERR_USAGE, "download: no image expression");
    if (s->nbands == 0)
        return err_set(e, ERR_USAGE, "download: no bands");
    if (s->mask_band && s->nbands < 2)
        return err_set(e, ERR_USAGE, "download: a mask band needs at least one data band before it");
    if ((rc = hash_hex(s->expression, strlen(s->expression), p->expr_hash)) < 0)
        return err_set(e, rc, "cannot hash the expression");
    if ((rc = resolve_with(s, &p->grid, &region, e)) < 0)
        return rc;
    /* Only a polygon region skips tiles: a bbox means the whole rectangle. */
    if (region && s->region.kind != SPEC_REGION_GEOJSON) {
        OGR_G_DestroyGeometry(region);
        region = NULL;
    }

    p->block = s->block_size > 0 ? s->block_size : GRID_DEFAULT_BLOCK;
    p->nbands = s->nbands;
    p->max_bytes = s->max_tile_bytes ? s->max_tile_bytes : GRID_DEFAULT_MAX_BYTES;
    if (p->max_bytes > GRID_EE_MAX_BYTES) {
        rc = err_set(e, ERR_USAGE, "max_tile_bytes %llu exceeds Earth Engine's limit of %llu bytes",
                     (unsigned long long)p->max_bytes, (unsigned long long)GRID_EE_MAX_BYTES);
        goto done;
    }
    band_bytes = calloc(s->nbands, sizeof *band_bytes);
    if (!band_bytes) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < s->nbands; i++)
        band_bytes[i] = spec_dtype_size(s->bands[i].type);
    p->band_group = s->bands_per_request;
    if ((rc = plan_cells(s, p, &maxw, &maxh, e)) < 0 ||
        (rc = grid_tile_size(band_bytes, s->nbands, p->max_bytes, p->block, maxw, maxh, &p->tile_w, &p->tile_h,
                             &p->band_group, e)) < 0 ||
        (rc = check_windows(p, e)) < 0 || (rc = plan_tiles(p, region, band_bytes, e)) < 0)
        goto done;
    if ((rc = plan_text(s, p, &text)) < 0 || (rc = hash_hex(text.data, text.len, p->hash)) < 0) {
        rc = err_set(e, rc, "cannot hash the plan");
        goto done;
    }
    p->region = region;   /* kept for grid_region_mask */
    region = NULL;
    rc = 0;
done:
    if (region)
        OGR_G_DestroyGeometry(region);
    free(band_bytes);
    buf_free(&text);
    if (rc < 0)
        grid_plan_free(p);
    return rc;
}
