/*
 * Geometries for the evaluator: GeoJSON in lon/lat, an OGR geometry for
 * intersection tests, and flattened rings for fast point-in-polygon tests
 * (Image.clip tests every output pixel centre, so OGR per pixel is too slow).
 */
#include "emulator/eval_int.h"

#include <gdal/ogr_api.h>
#include <math.h>
#include <string.h>

static int count_points(OGRGeometryH g, int *rings, int *pts)
{
    OGRwkbGeometryType t = wkbFlatten(OGR_G_GetGeometryType(g));
    int i, n;

    if (t == wkbPolygon) {
        n = OGR_G_GetGeometryCount(g);
        for (i = 0; i < n; i++) {
            (*rings)++;
            *pts += OGR_G_GetPointCount(OGR_G_GetGeometryRef(g, i));
        }
        return 1;
    }
    if (t == wkbMultiPolygon || t == wkbGeometryCollection) {
        int any = 0;
        n = OGR_G_GetGeometryCount(g);
        for (i = 0; i < n; i++)
            any |= count_points(OGR_G_GetGeometryRef(g, i), rings, pts);
        return any;
    }
    return 0;
}

static void copy_rings(OGRGeometryH g, struct ev_geom *out, int *r, int *p)
{
    OGRwkbGeometryType t = wkbFlatten(OGR_G_GetGeometryType(g));
    int i, k, n;

    if (t == wkbPolygon) {
        n = OGR_G_GetGeometryCount(g);
        for (i = 0; i < n; i++) {
            OGRGeometryH ring = OGR_G_GetGeometryRef(g, i);
            int np = OGR_G_GetPointCount(ring);
            out->ring_start[(*r)++] = *p;
            for (k = 0; k < np; k++) {
                out->pts[2 * *p] = OGR_G_GetX(ring, k);
                out->pts[2 * *p + 1] = OGR_G_GetY(ring, k);
                (*p)++;
            }
        }
    } else if (t == wkbMultiPolygon || t == wkbGeometryCollection) {
        n = OGR_G_GetGeometryCount(g);
        for (i = 0; i < n; i++)
            copy_rings(OGR_G_GetGeometryRef(g, i), out, r, p);
    }
}

struct ev_geom *geom_from_geojson(struct ev_ctx *x, json_object *gj, int geodesic,
                                  struct errbuf *e)
{
    struct ev_geom *g = eval_alloc(x, sizeof *g);
    OGRGeometryH h;
    OGREnvelope env;
    int rings = 0, pts = 0, r = 0, p = 0;

    if (!g) {
        err_set(e, ERR_NOMEM, "out of memory");
        return NULL;
    }
    h = OGR_G_CreateGeometryFromJson(json_object_to_json_string_ext(gj, JSON_C_TO_STRING_PLAIN));
    if (!h || !eval_own_ogr(x, h)) {
        err_set(e, ERR_USAGE, "Invalid GeoJSON geometry.");
        return NULL;
    }
    g->ogr = h;
    g->geojson = gj;
    g->geodesic = geodesic;
    g->is_point = wkbFlatten(OGR_G_GetGeometryType(h)) == wkbPoint ||
                  wkbFlatten(OGR_G_GetGeometryType(h)) == wkbMultiPoint;
    OGR_G_GetEnvelope(h, &env);
    g->bbox[0] = env.MinX;
    g->bbox[1] = env.MinY;
    g->bbox[2] = env.MaxX;
    g->bbox[3] = env.MaxY;
    if (count_points(h, &rings, &pts)) {
        g->pts = eval_alloc(x, sizeof *g->pts * 2 * (size_t)(pts + 1));
        g->ring_start = eval_alloc(x, sizeof *g->ring_start * (size_t)(rings + 1));
        if (!g->pts || !g->ring_start) {
            err_set(e, ERR_NOMEM, "out of memory");
            return NULL;
        }
        copy_rings(h, g, &r, &p);
        g->ring_start[r] = p;
        g->nrings = r;
    }
    return g;
}

/* Even-odd rule over every ring: holes and multi-polygon parts both work. */
int geom_contains(const struct ev_geom *g, double lon, double lat)
{
    int r, i, j, inside = 0;

    if (lon < g->bbox[0] || lon > g->bbox[2] || lat < g->bbox[1] || lat > g->bbox[3])
        return 0;
    for (r = 0; r < g->nrings; r++) {
        int s = g->ring_start[r], end = g->ring_start[r + 1];
        for (i = s, j = end - 1; i < end; j = i++) {
            double xi = g->pts[2 * i], yi = g->pts[2 * i + 1];
            double xj = g->pts[2 * j], yj = g->pts[2 * j + 1];
            if (((yi > lat) != (yj > lat)) && lon < (xj - xi) * (lat - yi) / (yj - yi) + xi)
                inside = !inside;
        }
    }
    return inside;
}

int geom_intersects_geojson(const struct ev_geom *g, json_object *gj)
{
    OGRGeometryH h;
    int hit;

    if (!gj)
        return 1;   /* an unbounded footprint intersects everything */
    h = OGR_G_CreateGeometryFromJson(json_object_to_json_string_ext(gj, JSON_C_TO_STRING_PLAIN));
    if (!h)
        return 0;
    hit = OGR_G_Intersects(h, g->ogr) ? 1 : 0;
    OGR_G_DestroyGeometry(h);
    return hit;
}
