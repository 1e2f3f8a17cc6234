/*
 * What the engine sends and how it reads the answer's status: the JSON of
 * image:computePixels requests, the bound on an answer's size, and the
 * failure class of an HTTP answer. Pure functions over the spec and the
 * plan (tests/engine/test_engine_request.c); no thread, lock or I/O.
 */
#include "core/engine_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/backoff.h"
#include "core/exprtext.h"

enum engine_class engine_classify(long status, const char *message)
{
    static const char *const splittable[] = {"Total request size", "Pixel grid dimensions",
                                             "User memory limit exceeded", "Computation timed out"};
    size_t i;

    if (status == 200)
        return ENGINE_OK;
    if (backoff_transient(status))
        return ENGINE_TRANSIENT;
    if (status == 401)
        return ENGINE_AUTH;
    if (status == 400 && message) {
        for (i = 0; i < sizeof splittable / sizeof splittable[0]; i++)
            if (strstr(message, splittable[i]))
                return ENGINE_SPLITTABLE;
        /* EE's aggregation throttle: backing off helps, splitting does not. */
        if (strstr(message, "Too many concurrent aggregations"))
            return ENGINE_TRANSIENT;
    }
    return ENGINE_FATAL;
}

/* The constant part of every request of band group g: the expression is
 * serialized once and sent identically, so only "grid" differs between
 * requests (EE can reuse cached sub-computations). */
static char *prefix_of(const struct engine_request *r, const struct download_spec *s, size_t g)
{
    struct buf b;
    size_t i, b0 = g * (size_t)r->band_group;
    int rc = 0;

    buf_init(&b, 0);
    rc |= buf_append_str(&b, "{\"expression\":");
    rc |= buf_append_str(&b, r->expression);
    rc |= buf_printf(&b, ",\"fileFormat\":\"%s\",\"bandIds\":[",
                     s->fetch_format == SPEC_FETCH_GEOTIFF ? "GEO_TIFF" : "NPY");
    for (i = b0; i < s->nbands && i < b0 + (size_t)r->band_group; i++) {
        if (i > b0)
            rc |= buf_append(&b, ",", 1);
        rc |= exprtext_append_string(&b, s->bands[i].id);
    }
    rc |= buf_append_str(&b, "]");
    if (s->workload_tag && *s->workload_tag) {
        rc |= buf_append_str(&b, ",\"workloadTag\":");
        rc |= exprtext_append_string(&b, s->workload_tag);
    }
    rc |= buf_append_str(&b, ",\"grid\":");
    if (rc) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

int engine_request_init(struct engine_request *r, const struct download_spec *s, int band_group,
                        struct errbuf *e)
{
    size_t g;
    int rc;

    memset(r, 0, sizeof *r);
    r->band_group = band_group;
    if (s->has_nodata) {
        /* Pixels EE masks must arrive as nodata, not as the 0 NPY and
         * GeoTIFF carry for them: the expression's result goes through
         * Image.unmask(value = Image.constant(nodata), sameFootprint =
         * false), as other tools do. Rewritten once on the text (any size
         * or depth EE accepts), so every request carries the same
         * expression. */
        if ((rc = exprtext_wrap_unmask(s->expression, s->nodata, &r->expression, e)) < 0)
            return rc;
        r->unmasked = 1;
    } else if (!(r->expression = strdup(s->expression))) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    r->nprefix = (s->nbands + (size_t)band_group - 1) / (size_t)band_group;
    r->prefix = calloc(r->nprefix ? r->nprefix : 1, sizeof *r->prefix);
    if (!r->prefix)
        return err_set(e, ERR_NOMEM, "out of memory");
    for (g = 0; g < r->nprefix; g++)
        if (!(r->prefix[g] = prefix_of(r, s, g)))
            return err_set(e, ERR_NOMEM, "out of memory");
    return 0;
}

void engine_request_free(struct engine_request *r)
{
    size_t g;

    for (g = 0; r->prefix && g < r->nprefix; g++)
        free(r->prefix[g]);
    free(r->prefix);
    free(r->expression);
    memset(r, 0, sizeof *r);
}

int engine_request_grid(struct buf *b, const struct grid *g, long col, long row, long width, long height)
{
    double a[6];
    int rc = 0;

    grid_window_affine(g, col, row, a);
    if (strncmp(g->crs, "EPSG:", 5) == 0) {
        rc |= buf_printf(b, "{\"crsCode\":\"%s\"", g->crs);
    } else {
        rc |= buf_append_str(b, "{\"crsWkt\":");
        rc |= exprtext_append_string(b, g->crs);
    }
    rc |= buf_printf(b,
                     ",\"affineTransform\":{\"scaleX\":%.17g,\"shearX\":0,\"translateX\":%.17g,"
                     "\"shearY\":0,\"scaleY\":%.17g,\"translateY\":%.17g},"
                     "\"dimensions\":{\"width\":%ld,\"height\":%ld}}",
                     a[0], a[2], a[4], a[5], width, height);
    return rc ? ERR_NOMEM : 0;
}

int engine_request_body(const struct engine_request *r, const struct grid *g, const struct grid_tile *t,
                        struct buf *b)
{
    int rc = 0;

    buf_reset(b);
    rc |= buf_append_str(b, r->prefix[t->band0 / r->band_group]);
    rc |= engine_request_grid(b, g, t->col, t->row, t->width, t->height);
    rc |= buf_append_str(b, "}");
    return rc ? ERR_NOMEM : 0;
}

/* The largest answer a piece may have: its pixels (a band of unknown type,
 * one that unmasking may widen, the mask band and any band of a GeoTIFF,
 * whose bands share the widest type, at 8 bytes), plus the format's
 * overhead: a NPY header, a GeoTIFF's structure (tag tables of up to a
 * strip per row and band, a compression that did not pay), or an error
 * body. A larger answer is a server fault (transient), and memory per
 * request stays of the order of the tile, whatever the server sends. */
size_t engine_request_bound(const struct download_spec *s, int unmasked, const struct grid_tile *t)
{
    uint64_t px = (uint64_t)t->width * (uint64_t)t->height, raw = 0, bound;
    int b;

    for (b = 0; b < t->nbands; b++) {
        int g = t->band0 + b;
        enum spec_dtype ty = s->bands[g].type;
        int mask = s->mask_band && g == (int)s->nbands - 1;
        int wide = ty == SPEC_DTYPE_AUTO || unmasked || mask || s->fetch_format == SPEC_FETCH_GEOTIFF;
        raw += px * (wide ? 8 : spec_dtype_size(ty));
    }
    bound = raw + raw / 8 + ((uint64_t)64 << 10) + (256 + 32 * (uint64_t)t->height) * (uint64_t)t->nbands;
    return bound < SIZE_MAX ? (size_t)bound : SIZE_MAX;
}
