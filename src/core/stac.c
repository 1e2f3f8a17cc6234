/* STAC Item and Collection JSON for outputs (see stac.h and docs/engine.md). */
#include "core/stac.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <cpl_conv.h>
#include <cpl_error.h>
#include <ogr_srs_api.h>

#include "core/mosaic.h"
#include "util/timeutil.h"

/* ---- JSON values ---- */

/* A number written with the fewest digits that read back as the same
 * double (0.1, not 0.10000000000000001), so files stay readable and exact. */
static json_object *jnum(double v)
{
    char s[40];
    int prec;

    for (prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, v);
        if (strtod(s, NULL) == v)
            break;
    }
    return json_object_new_double_s(v, s);
}

static json_object *jtime(int64_t ms)
{
    char t[40];

    time_format_rfc3339(ms, t, sizeof t);
    return json_object_new_string(t);
}

/* Whether s is a JSON number exactly (RFC 8259 grammar), so "05.09" or
 * "1e" stay text and "12", "-0.5", "1e3" become numbers. */
static int is_json_number(const char *s, int *integer)
{
    const char *p = s;

    *integer = 1;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return 0;
    if (*p == '.') {
        *integer = 0;
        p++;
        if (*p < '0' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        *integer = 0;
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

static json_object *property_value(const char *v)
{
    int integer;

    if (v && is_json_number(v, &integer)) {
        char *end;

        errno = 0;
        if (integer) {
            long long n = strtoll(v, &end, 10);

            if (errno == 0 && *end == '\0')
                return json_object_new_int64(n);
        }
        errno = 0;
        {
            double d = strtod(v, &end);

            /* Keep the text as written: it reads back to the same double. */
            if (errno == 0 && *end == '\0' && isfinite(d))
                return json_object_new_double_s(d, v);
        }
    }
    return json_object_new_string(v ? v : "");
}

/* The raster extension's nodata: a number, or "nan", "inf", "-inf". */
static json_object *nodata_value(double v)
{
    if (isnan(v))
        return json_object_new_string("nan");
    if (isinf(v))
        return json_object_new_string(v > 0 ? "inf" : "-inf");
    return jnum(v);
}

static const char *stac_dtype(enum spec_dtype t)
{
    switch (t) {
    case SPEC_DTYPE_UINT8: return "uint8";
    case SPEC_DTYPE_INT8: return "int8";
    case SPEC_DTYPE_UINT16: return "uint16";
    case SPEC_DTYPE_INT16: return "int16";
    case SPEC_DTYPE_UINT32: return "uint32";
    case SPEC_DTYPE_INT32: return "int32";
    case SPEC_DTYPE_FLOAT32: return "float32";
    case SPEC_DTYPE_FLOAT64: return "float64";
    default: return NULL;
    }
}

/* ---- paths ---- */

/* path made absolute (against the current directory) and normalised
 * lexically ("." and ".." segments, repeated slashes). */
static int abs_path(const char *path, char *out, size_t cap, struct errbuf *e)
{
    char tmp[4096], cwd[4096];
    char *seg[512];
    size_t nseg = 0, i, n = 0;
    char *p, *save = NULL;

    if (path[0] == '/') {
        if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
            return err_set(e, ERR_LIMIT, "path is too long: %s", path);
    } else {
        if (!getcwd(cwd, sizeof cwd))
            return err_set(e, ERR_IO, "cannot read the current directory: %s", strerror(errno));
        if (snprintf(tmp, sizeof tmp, "%s/%s", cwd, path) >= (int)sizeof tmp)
            return err_set(e, ERR_LIMIT, "path is too long: %s", path);
    }
    for (p = strtok_r(tmp, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
        if (strcmp(p, ".") == 0)
            continue;
        if (strcmp(p, "..") == 0) {
            if (nseg > 0)
                nseg--;
            continue;
        }
        if (nseg == sizeof seg / sizeof seg[0])
            return err_set(e, ERR_LIMIT, "path has too many segments: %s", path);
        seg[nseg++] = p;
    }
    if (cap < 2)
        return err_set(e, ERR_LIMIT, "path buffer too small");
    out[0] = '\0';
    for (i = 0; i < nseg; i++) {
        int k = snprintf(out + n, cap - n, "/%s", seg[i]);

        if (k < 0 || (size_t)k >= cap - n)
            return err_set(e, ERR_LIMIT, "path is too long: %s", path);
        n += (size_t)k;
    }
    if (nseg == 0)
        snprintf(out, cap, "/");
    return 0;
}

int stac_relative_href(const char *from, const char *target, char *out, size_t cap,
                       struct errbuf *e)
{
    char a[4096], b[4096];
    const char *slash;
    size_t dirlen, common = 0, i, n = 0;
    int rc;

    if ((rc = abs_path(from, a, sizeof a, e)) != 0 || (rc = abs_path(target, b, sizeof b, e)) != 0)
        return rc;
    /* The folder of `from`: everything before its last '/'. */
    slash = strrchr(a, '/');
    dirlen = (size_t)(slash - a);
    /* Longest common prefix of whole segments of the folder and target. */
    for (i = 0; i <= dirlen; i++) {
        int end_a = i == dirlen || a[i] == '/';

        if (end_a && (b[i] == '/' || b[i] == '\0'))
            common = i;
        if (i == dirlen || a[i] != b[i])
            break;
    }
    /* One "../" per folder segment below the common part. */
    for (i = common; i < dirlen; i++) {
        if (a[i] == '/') {
            int k = snprintf(out + n, cap - n, "../");

            if (k < 0 || (size_t)k >= cap - n)
                return err_set(e, ERR_LIMIT, "href is too long");
            n += (size_t)k;
        }
    }
    if ((size_t)snprintf(out + n, cap - n, "%s", b + common + 1) >= cap - n)
        return err_set(e, ERR_LIMIT, "href is too long");
    return 0;
}

/* The JSON written under "<path>.partial", fsynced and renamed, and the
 * folder fsynced, so a reader sees either no file or the whole of it. */
static int write_json(const char *path, json_object *o, struct errbuf *e)
{
    char tmp[4096], dir[4096];
    const char *text = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
    const char *slash;
    FILE *f;
    int ok;

    if (!text)
        return err_set(e, ERR_NOMEM, "out of memory writing %s", path);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.partial", path) >= sizeof tmp)
        return err_set(e, ERR_LIMIT, "path is too long: %s", path);
    f = fopen(tmp, "w");
    if (!f)
        return err_set(e, ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok) {
        int err = errno;

        unlink(tmp);
        return err_set(e, ERR_IO, "cannot write %s: %s", tmp, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        int err = errno;

        unlink(tmp);
        return err_set(e, ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(err));
    }
    slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    if (mosaic_fsync_path(dir, 1) != 0)
        return err_set(e, ERR_IO, "cannot sync %s: %s", dir, strerror(errno));
    return 0;
}

/* ---- geometry ---- */

/* The grid's CRS with x = easting / longitude (traditional GIS order). */
static OGRSpatialReferenceH grid_srs(const struct grid *g, struct errbuf *e)
{
    OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
    int ok;

    /* GDAL's own message goes into ours, not to stderr. */
    CPLErrorReset();
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ok = s && OSRSetFromUserInput(s, g->crs) == OGRERR_NONE;
    CPLPopErrorHandler();
    if (!ok) {
        if (s)
            OSRDestroySpatialReference(s);
        err_set(e, ERR_USAGE, "STAC metadata: unknown CRS '%.200s' (%s)", g->crs,
                CPLGetLastErrorMsg()[0] ? CPLGetLastErrorMsg() : "not understood");
        return NULL;
    }
    OSRSetAxisMappingStrategy(s, OAMS_TRADITIONAL_GIS_ORDER);
    return s;
}

/* Transforms n points in place from the grid's CRS to WGS84 lon/lat. */
static int to_wgs84(const struct grid *g, double *x, double *y, int n, struct errbuf *e)
{
    OGRSpatialReferenceH src = grid_srs(g, e), dst = NULL;
    OGRCoordinateTransformationH ct = NULL;
    int rc = 0, ok;

    if (!src)
        return ERR_USAGE;
    dst = OSRNewSpatialReference(NULL);
    if (!dst || OSRImportFromEPSG(dst, 4326) != OGRERR_NONE) {
        rc = err_set(e, ERR_INTERNAL, "cannot build EPSG:4326");
        goto out;
    }
    OSRSetAxisMappingStrategy(dst, OAMS_TRADITIONAL_GIS_ORDER);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ct = OCTNewCoordinateTransformation(src, dst);
    ok = ct && OCTTransform(ct, n, x, y, NULL);
    CPLPopErrorHandler();
    if (!ok) {
        rc = err_set(e, ERR_USAGE, "STAC metadata: the grid's footprint in '%.200s' does not "
                     "transform to WGS84 longitude/latitude", g->crs);
        goto out;
    }
out:
    if (ct)
        OCTDestroyCoordinateTransformation(ct);
    if (dst)
        OSRDestroySpatialReference(dst);
    OSRDestroySpatialReference(src);
    return rc;
}

/* The grid rectangle in its CRS: xmin, ymin, xmax, ymax. */
static void grid_rect(const struct grid *g, double r[4])
{
    double xa = g->x0, xb = g->x0 + g->sx * (double)g->width;
    double ya = g->y0, yb = g->y0 + g->sy * (double)g->height;

    r[0] = fmin(xa, xb);
    r[1] = fmin(ya, yb);
    r[2] = fmax(xa, xb);
    r[3] = fmax(ya, yb);
}

int stac_grid_bbox(const struct grid *g, double bbox[4], struct errbuf *e)
{
    enum { N = STAC_EDGE_POINTS };
    double r[4], x[4 * N], y[4 * N];
    int i, k, rc;

    grid_rect(g, r);
    /* The four edges, each from corner to corner. */
    for (k = 0; k < N; k++) {
        double t = (double)k / (N - 1);

        x[k] = r[0] + t * (r[2] - r[0]);           /* bottom */
        y[k] = r[1];
        x[N + k] = r[0] + t * (r[2] - r[0]);       /* top */
        y[N + k] = r[3];
        x[2 * N + k] = r[0];                       /* left */
        y[2 * N + k] = r[1] + t * (r[3] - r[1]);
        x[3 * N + k] = r[2];                       /* right */
        y[3 * N + k] = r[1] + t * (r[3] - r[1]);
    }
    if ((rc = to_wgs84(g, x, y, 4 * N, e)) != 0)
        return rc;
    bbox[0] = bbox[2] = x[0];
    bbox[1] = bbox[3] = y[0];
    for (i = 1; i < 4 * N; i++) {
        bbox[0] = fmin(bbox[0], x[i]);
        bbox[1] = fmin(bbox[1], y[i]);
        bbox[2] = fmax(bbox[2], x[i]);
        bbox[3] = fmax(bbox[3], y[i]);
    }
    return 0;
}

/* GeoJSON Polygon of the grid's corners in lon/lat: upper-left, lower-left,
 * lower-right, upper-right, upper-left (counter-clockwise, RFC 7946). */
static json_object *footprint(const struct grid *g, struct errbuf *e)
{
    double r[4], x[5], y[5];
    json_object *geom, *rings, *ring;
    int i;

    grid_rect(g, r);
    x[0] = r[0], y[0] = r[3];
    x[1] = r[0], y[1] = r[1];
    x[2] = r[2], y[2] = r[1];
    x[3] = r[2], y[3] = r[3];
    x[4] = r[0], y[4] = r[3];
    if (to_wgs84(g, x, y, 5, e) != 0)
        return NULL;
    geom = json_object_new_object();
    rings = json_object_new_array();
    ring = json_object_new_array();
    for (i = 0; i < 5; i++) {
        json_object *pt = json_object_new_array();

        json_object_array_add(pt, jnum(x[i]));
        json_object_array_add(pt, jnum(y[i]));
        json_object_array_add(ring, pt);
    }
    json_object_array_add(rings, ring);
    json_object_object_add(geom, "type", json_object_new_string("Polygon"));
    json_object_object_add(geom, "coordinates", rings);
    return geom;
}

static json_object *num_array(const double *v, int n)
{
    json_object *a = json_object_new_array();
    int i;

    for (i = 0; i < n; i++)
        json_object_array_add(a, jnum(v[i]));
    return a;
}

/* proj:epsg (an integer, or null with proj:wkt2 for a CRS without an EPSG
 * code), proj:shape, proj:transform, proj:bbox. */
static int add_projection(json_object *props, const struct grid *g, struct errbuf *e)
{
    OGRSpatialReferenceH s = grid_srs(g, e);
    const char *auth, *code;
    double r[4], t[6];
    json_object *shape;

    if (!s)
        return ERR_USAGE;
    auth = OSRGetAuthorityName(s, NULL);
    code = OSRGetAuthorityCode(s, NULL);
    if (auth && code && strcmp(auth, "EPSG") == 0) {
        json_object_object_add(props, "proj:epsg", json_object_new_int(atoi(code)));
    } else {
        char *wkt = NULL;
        const char *opts[] = {"FORMAT=WKT2_2019", NULL};

        json_object_object_add(props, "proj:epsg", NULL);
        if (OSRExportToWktEx(s, &wkt, opts) == OGRERR_NONE && wkt)
            json_object_object_add(props, "proj:wkt2", json_object_new_string(wkt));
        CPLFree(wkt);
    }
    OSRDestroySpatialReference(s);
    shape = json_object_new_array();
    json_object_array_add(shape, json_object_new_int64(g->height));
    json_object_array_add(shape, json_object_new_int64(g->width));
    json_object_object_add(props, "proj:shape", shape);
    /* The extension's order is rasterio's Affine (a, b, c, d, e, f):
     * x = a*col + b*row + c, y = d*col + e*row + f; not GDAL's geotransform
     * order (c, a, b, f, d, e). */
    t[0] = g->sx, t[1] = 0, t[2] = g->x0;
    t[3] = 0, t[4] = g->sy, t[5] = g->y0;
    json_object_object_add(props, "proj:transform", num_array(t, 6));
    grid_rect(g, r);
    json_object_object_add(props, "proj:bbox", num_array(r, 4));
    return 0;
}

static void add_properties(json_object *props, const struct spec_kv *kv, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const char *k = kv[i].key;

        if (!k || !*k)
            continue;
        if (strncmp(k, "EEFETCH_", 8) == 0) {
            /* eefetch's provenance under its own prefix, as text. */
            char key[128];
            size_t j, m = 0;

            m = (size_t)snprintf(key, sizeof key, "eefetch:");
            for (j = 8; k[j] && m + 1 < sizeof key; j++)
                key[m++] = (char)(k[j] >= 'A' && k[j] <= 'Z' ? k[j] - 'A' + 'a' : k[j]);
            key[m] = '\0';
            json_object_object_add(props, key,
                                   json_object_new_string(kv[i].value ? kv[i].value : ""));
        } else {
            json_object_object_add(props, k, property_value(kv[i].value));
        }
    }
}

static json_object *band_arrays(const struct stac_band *b, size_t n, json_object **eo)
{
    json_object *raster = json_object_new_array();
    size_t i;

    *eo = json_object_new_array();
    for (i = 0; i < n; i++) {
        json_object *rb = json_object_new_object(), *eb = json_object_new_object();
        const char *dt = stac_dtype(b[i].dtype);

        if (dt)
            json_object_object_add(rb, "data_type", json_object_new_string(dt));
        if (b[i].has_nodata)
            json_object_object_add(rb, "nodata", nodata_value(b[i].nodata));
        if (b[i].has_scale) {
            json_object_object_add(rb, "scale", jnum(b[i].scale));
            json_object_object_add(rb, "offset", jnum(b[i].offset));
        }
        json_object_array_add(raster, rb);
        json_object_object_add(eb, "name", json_object_new_string(b[i].name ? b[i].name : ""));
        json_object_array_add(*eo, eb);
    }
    return raster;
}

static json_object *stac_link(const char *rel, const char *href, const char *type)
{
    json_object *l = json_object_new_object();

    json_object_object_add(l, "rel", json_object_new_string(rel));
    json_object_object_add(l, "href", json_object_new_string(href));
    if (type)
        json_object_object_add(l, "type", json_object_new_string(type));
    return l;
}

int stac_write_item(const struct stac_item *it, struct errbuf *e)
{
    json_object *o = NULL, *props, *geom, *assets, *asset, *links, *ext, *eo;
    double bbox[4];
    char href[4096];
    int64_t created = it->created_ms ? it->created_ms : time_now_ms();
    int rc;

    if (!it->path || !it->id || !it->asset_path || !it->grid)
        return err_set(e, ERR_INTERNAL, "STAC item without path, id, asset or grid");
    if ((rc = stac_grid_bbox(it->grid, bbox, e)) != 0 || !(geom = footprint(it->grid, e)))
        return err_prefix(e, rc ? rc : ERR_USAGE, "%s: ", it->path);
    o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string("Feature"));
    json_object_object_add(o, "stac_version", json_object_new_string(STAC_VERSION));
    ext = json_object_new_array();
    json_object_array_add(ext, json_object_new_string(STAC_EXT_PROJECTION));
    json_object_array_add(ext, json_object_new_string(STAC_EXT_RASTER));
    json_object_array_add(ext, json_object_new_string(STAC_EXT_EO));
    json_object_object_add(o, "stac_extensions", ext);
    json_object_object_add(o, "id", json_object_new_string(it->id));
    json_object_object_add(o, "geometry", geom);
    json_object_object_add(o, "bbox", num_array(bbox, 4));

    /* The image's properties first: the fields STAC defines win over an
     * image property of the same name. */
    props = json_object_new_object();
    add_properties(props, it->properties, it->nproperties);
    if (it->has_datetime)
        json_object_object_add(props, "datetime", jtime(it->datetime_ms));
    else if (it->has_range)
        json_object_object_add(props, "datetime", NULL);
    else
        json_object_object_add(props, "datetime", jtime(created));
    if (it->has_range) {
        json_object_object_add(props, "start_datetime", jtime(it->start_ms));
        json_object_object_add(props, "end_datetime", jtime(it->end_ms));
    }
    json_object_object_add(props, "created", jtime(created));
    if ((rc = add_projection(props, it->grid, e)) != 0) {
        json_object_put(props);
        json_object_put(o);
        return err_prefix(e, rc, "%s: ", it->path);
    }
    json_object_object_add(o, "properties", props);

    links = json_object_new_array();
    if (it->collection_path) {
        if ((rc = stac_relative_href(it->path, it->collection_path, href, sizeof href, e)) != 0) {
            json_object_put(links);
            json_object_put(o);
            return rc;
        }
        json_object_array_add(links, stac_link("root", href, "application/json"));
        json_object_array_add(links, stac_link("parent", href, "application/json"));
        json_object_array_add(links, stac_link("collection", href, "application/json"));
    }
    json_object_object_add(o, "links", links);

    if ((rc = stac_relative_href(it->path, it->asset_path, href, sizeof href, e)) != 0) {
        json_object_put(o);
        return rc;
    }
    asset = json_object_new_object();
    json_object_object_add(asset, "href", json_object_new_string(href));
    if (it->media_type)
        json_object_object_add(asset, "type", json_object_new_string(it->media_type));
    {
        json_object *roles = json_object_new_array();

        json_object_array_add(roles, json_object_new_string("data"));
        json_object_object_add(asset, "roles", roles);
    }
    json_object_object_add(asset, "raster:bands", band_arrays(it->bands, it->nbands, &eo));
    json_object_object_add(asset, "eo:bands", eo);
    assets = json_object_new_object();
    json_object_object_add(assets, "data", asset);
    json_object_object_add(o, "assets", assets);
    if (it->collection_id)
        json_object_object_add(o, "collection", json_object_new_string(it->collection_id));

    rc = write_json(it->path, o, e);
    json_object_put(o);
    return rc;
}

int stac_write_collection(const char *path, const char *id, const char *description,
                          const char *const *item_paths, size_t nitems,
                          const double bbox_wgs84[4], int64_t t0_ms, int64_t t1_ms,
                          struct errbuf *e)
{
    json_object *o, *extent, *spatial, *temporal, *boxes, *intervals, *iv, *links;
    const char *base;
    char href[4096];
    size_t i;
    int rc;

    if (!path || !id)
        return err_set(e, ERR_INTERNAL, "STAC collection without path or id");
    o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string("Collection"));
    json_object_object_add(o, "stac_version", json_object_new_string(STAC_VERSION));
    json_object_object_add(o, "stac_extensions", json_object_new_array());
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "description",
                           json_object_new_string(description ? description : id));
    /* The data's terms are those of the EE datasets it came from, which
     * differ between datasets: STAC 1.0.0's "various". */
    json_object_object_add(o, "license", json_object_new_string("various"));
    extent = json_object_new_object();
    spatial = json_object_new_object();
    boxes = json_object_new_array();
    json_object_array_add(boxes, num_array(bbox_wgs84, 4));
    json_object_object_add(spatial, "bbox", boxes);
    temporal = json_object_new_object();
    intervals = json_object_new_array();
    iv = json_object_new_array();
    json_object_array_add(iv, t0_ms <= t1_ms ? jtime(t0_ms) : NULL);
    json_object_array_add(iv, t0_ms <= t1_ms ? jtime(t1_ms) : NULL);
    json_object_array_add(intervals, iv);
    json_object_object_add(temporal, "interval", intervals);
    json_object_object_add(extent, "spatial", spatial);
    json_object_object_add(extent, "temporal", temporal);
    json_object_object_add(o, "extent", extent);

    links = json_object_new_array();
    base = strrchr(path, '/');
    snprintf(href, sizeof href, "./%s", base ? base + 1 : path);
    json_object_array_add(links, stac_link("root", href, "application/json"));
    for (i = 0; i < nitems; i++) {
        if ((rc = stac_relative_href(path, item_paths[i], href, sizeof href, e)) != 0) {
            json_object_put(links);
            json_object_put(o);
            return rc;
        }
        json_object_array_add(links, stac_link("item", href, "application/geo+json"));
    }
    json_object_object_add(o, "links", links);
    rc = write_json(path, o, e);
    json_object_put(o);
    return rc;
}
