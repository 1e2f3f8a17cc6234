/*
 * assets.get, :listImages and :listAssets over the catalog, in EE's
 * EarthEngineAsset shape (ee-api.md §2.4, §2.5).
 *
 * Catalog json objects are shared by every server thread and json-c caches
 * serialisations inside objects, so answers always hold deep copies.
 */
#include "emulator/assets.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

/* Folders have no version: an arbitrary fixed update time. Images and
 * collections show their version (system:version) as updateTime. */
#define ASSET_UPDATE_TIME "2024-01-01T00:00:00Z"
#define LIST_DEFAULT_PAGE 1000
#define LIST_MAX_PAGE 10000

static json_object *deep_copy(json_object *src)
{
    json_object *dst = NULL;

    if (!src)
        return NULL;
    if (json_object_deep_copy(src, &dst, NULL) != 0)
        return NULL;
    return dst;
}

/* EE's resource name for a catalog id (legacy-id conversion, ee-api.md §1.3). */
static void asset_name(const char *id, char *out, size_t cap)
{
    if (strncmp(id, "projects/", 9) == 0 && strstr(id, "/assets/"))
        snprintf(out, cap, "%s", id);
    else if (strncmp(id, "users/", 6) == 0 || strncmp(id, "projects/", 9) == 0)
        snprintf(out, cap, "projects/earthengine-legacy/assets/%s", id);
    else
        snprintf(out, cap, "projects/earthengine-public/assets/%s", id);
}

/* The display id: the name without "projects/X/assets/". */
static const char *asset_short_id(const char *name)
{
    const char *p = strstr(name, "/assets/");
    return strncmp(name, "projects/", 9) == 0 && p ? p + 8 : name;
}

static void add_time(json_object *o, const char *key, int64_t ms)
{
    char t[40];
    time_format_rfc3339(ms, t, sizeof t);
    json_object_object_add(o, key, json_object_new_string(t));
}

static json_object *grid_json(const struct ee_grid *g)
{
    json_object *o = json_object_new_object(), *at = json_object_new_object(),
                *dims = json_object_new_object();
    static const char *const keys[] = {"scaleX", "shearX", "translateX",
                                       "shearY", "scaleY", "translateY"};
    int i;

    if (strncmp(g->crs, "EPSG:", 5) == 0 || strncmp(g->crs, "SR-ORG:", 7) == 0)
        json_object_object_add(o, "crsCode", json_object_new_string(g->crs));
    else if (g->crs[0])
        json_object_object_add(o, "crsWkt", json_object_new_string(g->crs));
    for (i = 0; i < 6; i++)
        json_object_object_add(at, keys[i], json_object_new_double(g->affine[i]));
    json_object_object_add(o, "affineTransform", at);
    json_object_object_add(dims, "width", json_object_new_int64(g->width));
    json_object_object_add(dims, "height", json_object_new_int64(g->height));
    json_object_object_add(o, "dimensions", dims);
    return o;
}

static json_object *image_json(const struct cat_image *img, int basic)
{
    char name[512], size[32];
    json_object *o = json_object_new_object(), *bands, *props;
    int b;

    asset_name(img->id, name, sizeof name);
    json_object_object_add(o, "type", json_object_new_string("IMAGE"));
    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "id", json_object_new_string(asset_short_id(name)));
    add_time(o, "updateTime", img->version_us / 1000);
    if (img->start_ms || img->end_ms) {
        add_time(o, "startTime", img->start_ms);
        add_time(o, "endTime", img->end_ms);
    }
    if (basic)
        return o;
    props = deep_copy(img->properties);
    json_object_object_add(o, "properties", props ? props : json_object_new_object());
    if (img->footprint)
        json_object_object_add(o, "geometry", deep_copy(img->footprint));
    bands = json_object_new_array();
    for (b = 0; b < img->nbands; b++) {
        const struct cat_band *cb = &img->bands[b];
        json_object *jb = json_object_new_object();
        json_object_object_add(jb, "id", json_object_new_string(cb->id));
        json_object_object_add(jb, "dataType", px_ee_datatype(cb->type));
        json_object_object_add(jb, "grid", grid_json(&cb->grid));
        json_object_object_add(jb, "pyramidingPolicy", json_object_new_string("MEAN"));
        json_object_array_add(bands, jb);
    }
    json_object_object_add(o, "bands", bands);
    snprintf(size, sizeof size, "%lld", (long long)img->size_bytes);
    json_object_object_add(o, "sizeBytes", json_object_new_string(size));
    return o;
}

static json_object *collection_json(const struct cat_collection *col)
{
    char name[512], size[32];
    json_object *o = json_object_new_object();
    int64_t t0 = 0, t1 = 0, bytes = 0;
    size_t i;

    asset_name(col->id, name, sizeof name);
    json_object_object_add(o, "type", json_object_new_string("IMAGE_COLLECTION"));
    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "id", json_object_new_string(asset_short_id(name)));
    if (col->version_us)
        add_time(o, "updateTime", col->version_us / 1000);
    else
        json_object_object_add(o, "updateTime", json_object_new_string(ASSET_UPDATE_TIME));
    json_object_object_add(o, "properties", json_object_new_object());
    for (i = 0; i < col->nimages; i++) {
        const struct cat_image *img = col->images[i];
        if (i == 0 || img->start_ms < t0)
            t0 = img->start_ms;
        if (i == 0 || img->end_ms > t1)
            t1 = img->end_ms;
        bytes += img->size_bytes;
    }
    if (col->nimages > 0) {
        add_time(o, "startTime", t0);
        add_time(o, "endTime", t1);
    }
    snprintf(size, sizeof size, "%lld", (long long)bytes);
    json_object_object_add(o, "sizeBytes", json_object_new_string(size));
    return o;
}

/* Looks an asset up by its full name under the path's project first, then by
 * its id alone (so "projects/any/assets/USGS/SRTMGL1_003" also resolves). */
static const struct cat_image *find_image(const struct emu_ctx *c, const struct emu_request *q)
{
    char full[768];
    const struct cat_image *img;

    snprintf(full, sizeof full, "projects/%s/assets/%s", q->project ? q->project : "", q->asset);
    img = catalog_image(c->cat, full);
    return img ? img : catalog_image(c->cat, q->asset);
}

static const struct cat_collection *find_collection(const struct emu_ctx *c,
                                                    const struct emu_request *q)
{
    char full[768];
    const struct cat_collection *col;

    snprintf(full, sizeof full, "projects/%s/assets/%s", q->project ? q->project : "", q->asset);
    col = catalog_collection(c->cat, full);
    return col ? col : catalog_collection(c->cat, q->asset);
}

/* ---- folders ------------------------------------------------------------------------------
 * The catalog has no folder objects: a folder is any proper prefix of asset
 * ids ending at a '/', like "COPERNICUS" or "users/me". */

static int is_folder(const struct catalog *cat, const char *id)
{
    size_t i, n = strlen(id);

    for (i = 0; i < catalog_count(cat); i++) {
        const char *other = catalog_image_at(cat, i)->id;
        if (strncmp(other, id, n) == 0 && other[n] == '/')
            return 1;
    }
    return 0;
}

static json_object *folder_json(const char *id)
{
    char name[512];
    json_object *o = json_object_new_object();

    asset_name(id, name, sizeof name);
    json_object_object_add(o, "type", json_object_new_string("FOLDER"));
    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "id", json_object_new_string(asset_short_id(name)));
    json_object_object_add(o, "updateTime", json_object_new_string(ASSET_UPDATE_TIME));
    return o;
}

/* The answer for one child id of a folder: collection, image or sub-folder. */
static json_object *child_json(const struct catalog *cat, const char *id, int basic)
{
    const struct cat_collection *col = catalog_collection(cat, id);
    const struct cat_image *img;

    if (col)
        return collection_json(col);
    img = catalog_image(cat, id);
    if (img)
        return image_json(img, basic);
    return folder_json(id);
}

static void not_found(const struct emu_request *q, struct emu_response *r)
{
    emu_error(r, 404, "Asset 'projects/%s/assets/%s' does not exist or doesn't allow this "
                      "operation.", q->project ? q->project : "", q->asset ? q->asset : "");
}

int handle_asset_get(const struct emu_ctx *c, const struct emu_request *q,
                     struct emu_response *r)
{
    const struct cat_image *img = find_image(c, q);
    const struct cat_collection *col;

    if (img) {
        emu_json(r, 200, image_json(img, 0));
        return 0;
    }
    col = find_collection(c, q);
    if (col) {
        emu_json(r, 200, collection_json(col));
        return 0;
    }
    if (is_folder(c->cat, q->asset)) {
        emu_json(r, 200, folder_json(q->asset));
        return 0;
    }
    not_found(q, r);
    return 0;
}

/* ---- bounding boxes of GeoJSON ---------------------------------------------------------- */

static void bbox_extend(json_object *coords, double bb[4], int *any)
{
    size_t i, n;

    if (!json_object_is_type(coords, json_type_array))
        return;
    n = json_object_array_length(coords);
    if (n >= 2) {
        json_object *x = json_object_array_get_idx(coords, 0);
        json_object *y = json_object_array_get_idx(coords, 1);
        if ((json_object_is_type(x, json_type_double) || json_object_is_type(x, json_type_int)) &&
            (json_object_is_type(y, json_type_double) || json_object_is_type(y, json_type_int))) {
            double vx = json_object_get_double(x), vy = json_object_get_double(y);
            if (!*any) {
                bb[0] = bb[2] = vx;
                bb[1] = bb[3] = vy;
                *any = 1;
            }
            bb[0] = fmin(bb[0], vx);
            bb[1] = fmin(bb[1], vy);
            bb[2] = fmax(bb[2], vx);
            bb[3] = fmax(bb[3], vy);
            return;
        }
    }
    for (i = 0; i < n; i++)
        bbox_extend(json_object_array_get_idx(coords, i), bb, any);
}

/* Bounding box (lon/lat) of a GeoJSON geometry; -1 when it has no coordinates. */
static int geojson_bbox(json_object *g, double bb[4])
{
    json_object *v;
    int any = 0;

    if (!g)
        return -1;
    if (json_object_object_get_ex(g, "coordinates", &v))
        bbox_extend(v, bb, &any);
    if (json_object_object_get_ex(g, "geometries", &v) && json_object_is_type(v, json_type_array)) {
        size_t i;
        for (i = 0; i < json_object_array_length(v); i++) {
            double sub[4];
            if (geojson_bbox(json_object_array_get_idx(v, i), sub) == 0) {
                if (!any) {
                    memcpy(bb, sub, sizeof sub);
                    any = 1;
                }
                bb[0] = fmin(bb[0], sub[0]);
                bb[1] = fmin(bb[1], sub[1]);
                bb[2] = fmax(bb[2], sub[2]);
                bb[3] = fmax(bb[3], sub[3]);
            }
        }
    }
    return any ? 0 : -1;
}

static int bbox_intersects(const double a[4], const double b[4])
{
    return a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3];
}

static int image_intersects(const struct cat_image *img, const double bb[4])
{
    double fb[4];
    /* An image without a footprint covers everything it is asked about. */
    if (geojson_bbox(img->footprint, fb) != 0)
        return 1;
    return bbox_intersects(fb, bb);
}

/* ---- filter mini-language --------------------------------------------------------------- */

#define FILTER_MAX_TERMS 16

enum term_kind { TERM_START, TERM_END, TERM_INTERSECTS, TERM_PROP };
enum term_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

struct filter_term {
    enum term_kind kind;
    enum term_op op;
    char name[96];
    int is_num;
    double num;
    char str[256];
    int64_t ms;
    double bbox[4];
};

struct asset_filter {
    int n;
    struct filter_term t[FILTER_MAX_TERMS];
};

static const char *skip_ws(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

/* Reads a "..." or '...' literal into out (backslash escapes the next char). */
static const char *read_quoted(const char *p, char *out, size_t cap)
{
    char q = *p++;
    size_t n = 0;

    while (*p && *p != q) {
        if (*p == '\\' && p[1])
            p++;
        if (n + 1 >= cap)
            return NULL;
        out[n++] = *p++;
    }
    if (*p != q)
        return NULL;
    out[n] = '\0';
    return p + 1;
}

static const char *read_op(const char *p, enum term_op *op)
{
    if (strncmp(p, "<=", 2) == 0) { *op = OP_LE; return p + 2; }
    if (strncmp(p, ">=", 2) == 0) { *op = OP_GE; return p + 2; }
    if (strncmp(p, "!=", 2) == 0) { *op = OP_NE; return p + 2; }
    if (*p == '<') { *op = OP_LT; return p + 1; }
    if (*p == '>') { *op = OP_GT; return p + 1; }
    if (*p == '=' || *p == ':') { *op = OP_EQ; return p + 1; }
    return NULL;
}

static int parse_intersects(const char *geo, struct filter_term *t, char *msg, size_t cap)
{
    char buf[4096];
    size_t i;
    json_object *g;
    int rc;

    /* The Python client swaps the GeoJSON's double quotes for single ones. */
    snprintf(buf, sizeof buf, "%s", geo);
    for (i = 0; buf[i]; i++)
        if (buf[i] == '\'')
            buf[i] = '"';
    g = json_tokener_parse(buf);
    rc = geojson_bbox(g, t->bbox);
    json_object_put(g);
    if (rc != 0)
        snprintf(msg, cap, "Invalid geometry in filter: intersects(\"%.200s\").", geo);
    return rc;
}

static int parse_term(const char **pp, struct filter_term *t, char *msg, size_t cap)
{
    const char *p = skip_ws(*pp);
    char val[4096];
    size_t n = 0;

    memset(t, 0, sizeof *t);
    if (strncmp(p, "intersects(", 11) == 0) {
        p = skip_ws(p + 11);
        if ((*p != '"' && *p != '\'') || !(p = read_quoted(p, val, sizeof val)))
            goto bad;
        p = skip_ws(p);
        if (*p != ')')
            goto bad;
        t->kind = TERM_INTERSECTS;
        *pp = p + 1;
        return parse_intersects(val, t, msg, cap);
    }
    while (p[n] && (isalnum((unsigned char)p[n]) || strchr("_.:-", p[n])) && n + 1 < sizeof t->name) {
        /* ':' is also the "has" operator; only accept it inside a name when a
         * name character follows (system:index). */
        if (p[n] == ':' && !(isalnum((unsigned char)p[n + 1]) || p[n + 1] == '_'))
            break;
        n++;
    }
    if (n == 0)
        goto bad;
    memcpy(t->name, p, n);
    t->name[n] = '\0';
    p = skip_ws(p + n);
    if (!(p = read_op(p, &t->op)))
        goto bad;
    p = skip_ws(p);
    if (*p == '"' || *p == '\'') {
        if (!(p = read_quoted(p, t->str, sizeof t->str)))
            goto bad;
    } else {
        char *end;
        n = 0;
        while (p[n] && !isspace((unsigned char)p[n]) && p[n] != ')' && n + 1 < sizeof t->str)
            n++;
        if (n == 0)
            goto bad;
        memcpy(t->str, p, n);
        t->str[n] = '\0';
        t->num = strtod(t->str, &end);
        t->is_num = *end == '\0';
        p += n;
    }
    if (strcmp(t->name, "startTime") == 0 || strcmp(t->name, "endTime") == 0) {
        t->kind = strcmp(t->name, "startTime") == 0 ? TERM_START : TERM_END;
        if (time_parse_iso(t->str, &t->ms) != 0) {
            snprintf(msg, cap, "Invalid timestamp in filter: '%.100s'.", t->str);
            return -1;
        }
    } else {
        t->kind = TERM_PROP;
        if (strncmp(t->name, "properties.", 11) == 0)
            memmove(t->name, t->name + 11, strlen(t->name + 11) + 1);
    }
    *pp = p;
    return 0;
bad:
    snprintf(msg, cap, "Invalid filter: cannot parse '%.200s'.", *pp);
    return -1;
}

int asset_filter_parse(const char *text, struct asset_filter **out, char *msg, size_t cap)
{
    struct asset_filter *f = calloc(1, sizeof *f);
    const char *p = text;

    *out = NULL;
    if (!f) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    p = skip_ws(p);
    while (*p) {
        if (f->n == FILTER_MAX_TERMS) {
            snprintf(msg, cap, "Invalid filter: more than %d terms.", FILTER_MAX_TERMS);
            goto fail;
        }
        if (parse_term(&p, &f->t[f->n], msg, cap) != 0)
            goto fail;
        f->n++;
        p = skip_ws(p);
        if (*p == '\0')
            break;
        if (strncmp(p, "AND", 3) != 0 || !isspace((unsigned char)p[3])) {
            snprintf(msg, cap, "Invalid filter: expected AND at '%.100s'.", p);
            goto fail;
        }
        p = skip_ws(p + 3);
    }
    *out = f;
    return 0;
fail:
    free(f);
    return -1;
}

void asset_filter_free(struct asset_filter *f)
{
    free(f);
}

static int compare_ok(double cmp, enum term_op op)
{
    switch (op) {
    case OP_EQ: return cmp == 0;
    case OP_NE: return cmp != 0;
    case OP_LT: return cmp < 0;
    case OP_LE: return cmp <= 0;
    case OP_GT: return cmp > 0;
    case OP_GE: return cmp >= 0;
    }
    return 0;
}

static int term_match(const struct filter_term *t, const struct cat_image *img)
{
    json_object *v;

    switch (t->kind) {
    case TERM_START:
        return compare_ok((double)img->start_ms - (double)t->ms, t->op);
    case TERM_END:
        return compare_ok((double)img->end_ms - (double)t->ms, t->op);
    case TERM_INTERSECTS:
        return image_intersects(img, t->bbox);
    case TERM_PROP:
        if (!img->properties || !json_object_object_get_ex(img->properties, t->name, &v) || !v)
            return 0;
        if (t->is_num && (json_object_is_type(v, json_type_int) ||
                          json_object_is_type(v, json_type_double)))
            return compare_ok(json_object_get_double(v) - t->num, t->op);
        if (json_object_is_type(v, json_type_string))
            return compare_ok((double)strcmp(json_object_get_string(v), t->str), t->op);
        return 0;
    }
    return 0;
}

int asset_filter_match(const struct asset_filter *f, const struct cat_image *img)
{
    int i;

    for (i = 0; f && i < f->n; i++)
        if (!term_match(&f->t[i], img))
            return 0;
    return 1;
}

/* ---- listing ---------------------------------------------------------------------------- */

struct list_query {
    int64_t start_ms, end_ms;
    int has_start, has_end, has_region, basic;
    double region[4];
    struct asset_filter *filter;
    long page_size, offset;
};

static int parse_list_query(const struct emu_request *q, struct emu_response *r,
                            struct list_query *lq)
{
    const char *v;
    char msg[512];

    memset(lq, 0, sizeof *lq);
    lq->page_size = LIST_DEFAULT_PAGE;
    if ((v = q->query(q, "startTime")) && *v) {
        if (time_parse_iso(v, &lq->start_ms) != 0) {
            emu_error(r, 400, "Invalid value at 'start_time' (type.googleapis.com/"
                              "google.protobuf.Timestamp), Field 'startTime', Invalid time "
                              "format: %s", v);
            return -1;
        }
        lq->has_start = 1;
    }
    if ((v = q->query(q, "endTime")) && *v) {
        if (time_parse_iso(v, &lq->end_ms) != 0) {
            emu_error(r, 400, "Invalid value at 'end_time' (type.googleapis.com/"
                              "google.protobuf.Timestamp), Field 'endTime', Invalid time "
                              "format: %s", v);
            return -1;
        }
        lq->has_end = 1;
    }
    if ((v = q->query(q, "region")) && *v) {
        json_object *g = json_tokener_parse(v);
        int rc = geojson_bbox(g, lq->region);
        json_object_put(g);
        if (rc != 0) {
            emu_error(r, 400, "Invalid GeoJSON geometry in 'region'.");
            return -1;
        }
        lq->has_region = 1;
    }
    if ((v = q->query(q, "pageSize")) && *v) {
        char *end;
        lq->page_size = strtol(v, &end, 10);
        if (*end || lq->page_size < 0) {
            emu_error(r, 400, "Invalid value at 'page_size' (TYPE_INT32), \"%s\"", v);
            return -1;
        }
        if (lq->page_size == 0)
            lq->page_size = LIST_DEFAULT_PAGE;
        if (lq->page_size > LIST_MAX_PAGE)
            lq->page_size = LIST_MAX_PAGE;
    }
    if ((v = q->query(q, "pageToken")) && *v) {
        char *end;
        lq->offset = strtol(v, &end, 10);
        if (*end || lq->offset < 0) {
            emu_error(r, 400, "The page token is invalid.");
            return -1;
        }
    }
    if ((v = q->query(q, "view")) && strcmp(v, "BASIC") == 0)
        lq->basic = 1;
    if ((v = q->query(q, "filter")) && *v && asset_filter_parse(v, &lq->filter, msg, sizeof msg) != 0) {
        emu_error(r, 400, "%s", msg);
        return -1;
    }
    return 0;
}

/* listImages' startTime/endTime select images whose start lies in
 * [startTime, endTime), like ImageCollection.filterDate. */
static int list_match(const struct list_query *lq, const struct cat_image *img)
{
    if (lq->has_start && img->start_ms < lq->start_ms)
        return 0;
    if (lq->has_end && img->start_ms >= lq->end_ms)
        return 0;
    if (lq->has_region && !image_intersects(img, lq->region))
        return 0;
    return asset_filter_match(lq->filter, img);
}

/* Lists the direct children of a folder (prefix "" is the root). Catalog
 * ids are sorted, so the children under one name are consecutive. */
static int list_folder(const struct emu_ctx *c, const struct emu_request *q,
                       struct emu_response *r, const char *prefix)
{
    struct list_query lq;
    json_object *top, *arr;
    char child[sizeof ((struct cat_image *)0)->id], last[sizeof child];
    size_t i, n = strlen(prefix);
    long matched = 0;

    if (parse_list_query(q, r, &lq) != 0)
        return 0;
    asset_filter_free(lq.filter);   /* filters apply to images of collections only */
    top = json_object_new_object();
    arr = json_object_new_array();
    last[0] = '\0';
    for (i = 0; i < catalog_count(c->cat); i++) {
        const char *id = catalog_image_at(c->cat, i)->id, *rest, *slash;
        if (n && (strncmp(id, prefix, n) != 0 || id[n] != '/'))
            continue;
        rest = n ? id + n + 1 : id;
        slash = strchr(rest, '/');
        snprintf(child, sizeof child, "%.*s", (int)((slash ? (size_t)(slash - id) : strlen(id))), id);
        if (strcmp(child, last) == 0)
            continue;
        snprintf(last, sizeof last, "%s", child);
        if (matched >= lq.offset && matched < lq.offset + lq.page_size)
            json_object_array_add(arr, child_json(c->cat, child, lq.basic));
        matched++;
    }
    if (json_object_array_length(arr) > 0)
        json_object_object_add(top, "assets", arr);
    else
        json_object_put(arr);
    if (matched > lq.offset + lq.page_size) {
        char tok[32];
        snprintf(tok, sizeof tok, "%ld", lq.offset + lq.page_size);
        json_object_object_add(top, "nextPageToken", json_object_new_string(tok));
    }
    emu_json(r, 200, top);
    return 0;
}

static int list_collection(const struct emu_ctx *c, const struct emu_request *q,
                           struct emu_response *r, const char *key)
{
    const struct cat_collection *col;
    struct list_query lq;
    json_object *top, *arr;
    long matched = 0;
    size_t i;

    if (!q->asset)   /* the project root */
        return strcmp(key, "assets") == 0 ? list_folder(c, q, r, "")
                                          : (not_found(q, r), 0);
    col = find_collection(c, q);
    if (!col) {
        if (strcmp(key, "assets") == 0 && is_folder(c->cat, q->asset))
            return list_folder(c, q, r, q->asset);
        if (find_image(c, q))
            emu_error(r, 400, "Asset 'projects/%s/assets/%s' is not a folder or an image "
                              "collection.", q->project ? q->project : "", q->asset);
        else
            not_found(q, r);
        return 0;
    }
    if (parse_list_query(q, r, &lq) != 0)
        return 0;
    top = json_object_new_object();
    arr = json_object_new_array();
    for (i = 0; i < col->nimages; i++) {
        if (!list_match(&lq, col->images[i]))
            continue;
        if (matched >= lq.offset && matched < lq.offset + lq.page_size)
            json_object_array_add(arr, image_json(col->images[i], lq.basic));
        matched++;
        if (matched > lq.offset + lq.page_size)
            break;   /* one more than the page exists: a next page is due */
    }
    /* EE leaves empty lists out of its answers. */
    if (json_object_array_length(arr) > 0)
        json_object_object_add(top, key, arr);
    else
        json_object_put(arr);
    if (matched > lq.offset + lq.page_size) {
        char tok[32];
        snprintf(tok, sizeof tok, "%ld", lq.offset + lq.page_size);
        json_object_object_add(top, "nextPageToken", json_object_new_string(tok));
    }
    asset_filter_free(lq.filter);
    emu_json(r, 200, top);
    return 0;
}

int handle_list_images(const struct emu_ctx *c, const struct emu_request *q,
                       struct emu_response *r)
{
    return list_collection(c, q, r, "images");
}

int handle_list_assets(const struct emu_ctx *c, const struct emu_request *q,
                       struct emu_response *r)
{
    return list_collection(c, q, r, "assets");
}
