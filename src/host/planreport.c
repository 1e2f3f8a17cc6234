/*
 * What a plan costs, told before anything is fetched: the grid, the
 * requests, the bytes, an estimated time and the disk the run needs, as a
 * readable block or one JSON line on stdout (eefetch plan, plan{}), and as
 * fields of the summary table a recipe gets back. The engine's plan step
 * supplies the numbers (struct engine_summary); this file only derives the
 * estimates and words them.
 */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <ogr_srs_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/engine.h"
#include "host/host_int.h"
#include "util/ee.h"
#include "util/path.h"

/* The latency model of docs/benchmarks.md (an assumption, not a
 * measurement: EE publishes no latency figures). */
#define PLAN_LATENCY_S 0.5
#define PLAN_LATENCY_PER_MIB_S 0.25
#define MIB 1048576.0

/* Ground size of a pixel in metres: a projected CRS's linear unit, or for
 * a geographic CRS the arc on the mean Earth sphere at the grid's centre
 * latitude. Returns 0 when the CRS is not understood. */
static int pixel_metres(const struct grid *g, double *mx, double *my)
{
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    int ok = 0;

    if (!srs)
        return 0;
    if (OSRSetFromUserInput(srs, g->crs) == OGRERR_NONE) {
        OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
        if (OSRIsGeographic(srs)) {
            const double r = 6371008.8;   /* mean Earth radius */
            double rad = OSRGetAngularUnits(srs, NULL);   /* radians per unit */
            double lat = (g->y0 + g->sy * (double)g->height / 2.0) * rad;
            *mx = fabs(g->sx) * rad * r * cos(lat);
            *my = fabs(g->sy) * rad * r;
            ok = 1;
        } else if (OSRIsProjected(srs)) {
            double f = OSRGetLinearUnits(srs, NULL);   /* metres per unit */
            *mx = fabs(g->sx) * f;
            *my = fabs(g->sy) * f;
            ok = f > 0;
        }
    }
    OSRDestroySpatialReference(srs);
    return ok;
}

void host_plan_cost(const struct download_spec *s, const struct engine_summary *sum, struct host_plan *p)
{
    double per_request, longest;
    int workers = s->workers > 0 ? s->workers : ENGINE_DEFAULT_WORKERS;
    size_t group = sum->band_group > 0 ? (size_t)sum->band_group : 1;

    memset(p, 0, sizeof *p);
    p->s = s;
    p->sum = sum;
    p->band_groups = (s->nbands + group - 1) / group;
    if (p->band_groups == 0)
        p->band_groups = 1;
    p->tiles = sum->tiles_total / p->band_groups;
    p->have_metres = pixel_metres(&sum->grid, &p->metres_x, &p->metres_y);
    p->bytes_per_pixel = sum->width > 0 && sum->height > 0
                             ? (double)sum->raw_bytes / ((double)sum->width * (double)sum->height) : 0;
    p->concurrency = workers < EE_CONCURRENT_QUOTA ? workers : EE_CONCURRENT_QUOTA;
    /* Each request takes the model's time; with C in flight the run takes
     * the sum over C, and never less than its longest request. */
    per_request = PLAN_LATENCY_S * (double)sum->tiles_total + PLAN_LATENCY_PER_MIB_S * (double)sum->fetch_bytes / MIB;
    longest = sum->tiles_total ? PLAN_LATENCY_S + PLAN_LATENCY_PER_MIB_S * (double)sum->largest_fetch / MIB : 0;
    p->seconds = fmax(per_request / p->concurrency, longest);
    p->seconds_quota = fmax(per_request / EE_CONCURRENT_QUOTA, longest);
    if (s->output && *s->output) {
        char dir[4096], *abs;
        (void)path_dir(s->output, dir, sizeof dir);
        /* Absolute when it exists, so "." says where. */
        abs = realpath(dir, NULL);
        snprintf(p->disk_dir, sizeof p->disk_dir, "%s", abs ? abs : dir);
        free(abs);
    }
}

static void fmt_bytes(char *out, size_t cap, double b)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;

    while (b >= 1024.0 && u < 5) {
        b /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(out, cap, "%.0f bytes", b);
    else
        snprintf(out, cap, "%.1f %s", b, units[u]);
}

static void fmt_seconds(char *out, size_t cap, double s)
{
    if (s < 1)
        snprintf(out, cap, "under 1 s");
    else if (s < 90)
        snprintf(out, cap, "about %.0f s", s);
    else if (s < 5400)
        snprintf(out, cap, "about %.0f min", s / 60.0);
    else if (s < 48 * 3600.0)
        snprintf(out, cap, "about %.0f h %.0f min", floor(s / 3600.0), floor(fmod(s, 3600.0) / 60.0));
    else
        snprintf(out, cap, "about %.1f days", s / 86400.0);
}

static const char *compression_name(enum spec_compression c)
{
    switch (c) {
    case SPEC_COMPRESS_NONE: return "none";
    case SPEC_COMPRESS_DEFLATE: return "deflate";
    case SPEC_COMPRESS_ZSTD: return "zstd";
    case SPEC_COMPRESS_LZW: return "lzw";
    default: return "default (zstd)";
    }
}

static void print_text(FILE *out, const struct host_plan *p, const char *where)
{
    const struct download_spec *s = p->s;
    const struct engine_summary *sum = p->sum;
    char a[64], b[64], c[64];
    size_t i;

    fprintf(out, "plan: %s%s%s%s\n", s->output ? s->output : "(no output)", where ? "  (" : "",
            where ? where : "", where ? ")" : "");
    fprintf(out, "  grid:       %ld x %ld pixels, %s\n", sum->width, sum->height, sum->grid.crs);
    if (p->have_metres)
        fprintf(out, "  pixel size: %.10g x %.10g CRS units (%.4g x %.4g m)\n", fabs(sum->grid.sx),
                fabs(sum->grid.sy), p->metres_x, p->metres_y);
    else
        fprintf(out, "  pixel size: %.10g x %.10g CRS units\n", fabs(sum->grid.sx), fabs(sum->grid.sy));
    if (s->layout != SPEC_LAYOUT_IMAGE && s->nparts > 0) {
        static const char *const layouts[] = {"image", "files", "stack", "cube"};
        fprintf(out, "  images:     %zu (layout %s", s->nparts, layouts[s->layout]);
        if (s->layout == SPEC_LAYOUT_FILES && s->parts[0].path)
            fprintf(out, ": %s ... %s", s->parts[0].path, s->parts[s->nparts - 1].path);
        fprintf(out, ")\n");
    }
    fprintf(out, "  bands:      %zu (", s->nbands);
    for (i = 0; i < s->nbands && i < 8; i++)
        fprintf(out, "%s%s", i ? " " : "", s->bands[i].name ? s->bands[i].name : s->bands[i].id);
    fprintf(out, "%s), %.0f bytes per pixel%s\n", s->nbands > 8 ? " ..." : "", p->bytes_per_pixel,
            sum->types_known ? "" : " (no dtype: a band of unknown type counted as 8 bytes)");
    fprintf(out, "  requests:   %zu = %zu tile(s) x %zu band group(s), up to %ld x %ld pixels each", sum->tiles_total,
            p->tiles, p->band_groups, sum->tile_width, sum->tile_height);
    if (sum->tiles_skipped)
        fprintf(out, "; %zu outside the region skipped", sum->tiles_skipped);
    fprintf(out, "\n");
    fmt_bytes(a, sizeof a, (double)sum->raw_bytes);
    fprintf(out, "  raw size:   %s (%ld x %ld pixels x %.0f bytes)\n", a, sum->width, sum->height, p->bytes_per_pixel);
    fmt_bytes(a, sizeof a, (double)sum->output_bytes);
    if (s->compression == SPEC_COMPRESS_NONE && s->format != SPEC_FORMAT_COG)
        fprintf(out, "  output:     %s (uncompressed)\n", a);
    else
        fprintf(out, "  output:     at most %s (uncompressed upper bound%s; compression %s)\n", a,
                s->format == SPEC_FORMAT_COG ? ", with overviews" : "", compression_name(s->compression));
    fmt_seconds(a, sizeof a, p->seconds);
    fmt_seconds(b, sizeof b, p->seconds_quota);
    fprintf(out, "  time:       %s with %d request(s) in flight (workers), %s at EE's default quota of %d; "
                 "an estimate from %.1f s + %.2f s per MiB per request (docs/benchmarks.md)\n",
            a, p->concurrency, b, EE_CONCURRENT_QUOTA, PLAN_LATENCY_S, PLAN_LATENCY_PER_MIB_S);
    fmt_bytes(a, sizeof a, (double)sum->disk_bytes);
    fmt_bytes(b, sizeof b, (double)sum->store_bytes);
    if (sum->disk_free >= 0) {
        fmt_bytes(c, sizeof c, (double)sum->disk_free);
        fprintf(out, "  disk:       up to %s in %s (tile store %s + output%s); %s free\n", a, p->disk_dir, b,
                s->format == SPEC_FORMAT_COG ? " and its GeoTIFF source" : "", c);
    } else {
        fprintf(out, "  disk:       up to %s (tile store %s + output%s); free space %s\n", a, b,
                s->format == SPEC_FORMAT_COG ? " and its GeoTIFF source" : "",
                s->output ? "unknown" : "not checked (no output)");
    }
    if (s->via != SPEC_VIA_INTERACTIVE)
        fprintf(out, "  via:        %s (%s)", sum->via_export ? "export" : "interactive", sum->via_reason);
    if (s->via != SPEC_VIA_INTERACTIVE && sum->via_export)
        fprintf(out, "; %zu task(s), one per fishnet cell, files through gs:// (docs/export.md)", sum->cells);
    if (s->via != SPEC_VIA_INTERACTIVE)
        fputc('\n', out);
    if (sum->problem[0])
        fprintf(out, "  problem:    %s\n", sum->problem);
}

static json_object *new_double(double v);

static void add_num(json_object *o, const char *k, double v)
{
    json_object_object_add(o, k, v == floor(v) && fabs(v) < 9e15 ? json_object_new_int64((int64_t)v) : new_double(v));
}

/* Doubles with 10 significant digits: 2.4, not 2.3999999999999999. */
static json_object *new_double(double v)
{
    char t[64];
    snprintf(t, sizeof t, "%.10g", v);
    if (!strpbrk(t, ".eEn"))
        strncat(t, ".0", sizeof t - strlen(t) - 1);
    return json_object_new_double_s(v, t);
}

/* The plan's cost fields, the one list both the JSON report and the Lua
 * result of plan mode are made from (host_plan_push_fields). Unknown values
 * are JSON nulls; the Lua side leaves them out. */
static json_object *plan_fields(const struct host_plan *p)
{
    const struct engine_summary *sum = p->sum;
    json_object *o = json_object_new_object(), *a;

    if (!o)
        return NULL;
    json_object_object_add(o, "crs", json_object_new_string(sum->grid.crs));
    a = json_object_new_array();
    json_object_array_add(a, new_double(fabs(sum->grid.sx)));
    json_object_array_add(a, new_double(fabs(sum->grid.sy)));
    json_object_object_add(o, "pixel_size", a);
    a = NULL;
    if (p->have_metres) {
        a = json_object_new_array();
        json_object_array_add(a, new_double(p->metres_x));
        json_object_array_add(a, new_double(p->metres_y));
    }
    json_object_object_add(o, "pixel_size_m", a);
    add_num(o, "bytes_per_pixel", p->bytes_per_pixel);
    json_object_object_add(o, "types_known", json_object_new_boolean(sum->types_known));
    add_num(o, "band_groups", (double)p->band_groups);
    a = json_object_new_array();
    json_object_array_add(a, json_object_new_int64(sum->tile_width));
    json_object_array_add(a, json_object_new_int64(sum->tile_height));
    json_object_object_add(o, "tile_size", a);
    if (p->s->layout != SPEC_LAYOUT_IMAGE) {
        static const char *const layouts[] = {"image", "files", "stack", "cube"};
        add_num(o, "images", (double)p->s->nparts);
        json_object_object_add(o, "layout", json_object_new_string(layouts[p->s->layout]));
    }
    add_num(o, "requests_planned", (double)sum->tiles_total);
    add_num(o, "raw_bytes", (double)sum->raw_bytes);
    add_num(o, "output_bytes_max", (double)sum->output_bytes);
    add_num(o, "concurrency", p->concurrency);
    add_num(o, "seconds_estimate", round(p->seconds * 10) / 10);
    add_num(o, "seconds_estimate_quota", round(p->seconds_quota * 10) / 10);
    add_num(o, "store_bytes", (double)sum->store_bytes);
    add_num(o, "disk_bytes", (double)sum->disk_bytes);
    if (sum->disk_free >= 0)
        add_num(o, "disk_free", (double)sum->disk_free);
    else
        json_object_object_add(o, "disk_free", NULL);
    json_object_object_add(o, "disk_dir", p->disk_dir[0] ? json_object_new_string(p->disk_dir) : NULL);
    json_object_object_add(o, "via", json_object_new_string(sum->via_export ? "export" : "interactive"));
    if (sum->via_reason[0])
        json_object_object_add(o, "via_reason", json_object_new_string(sum->via_reason));
    a = json_object_new_array();
    if (sum->problem[0])
        json_object_array_add(a, json_object_new_string(sum->problem));
    json_object_object_add(o, "problems", a);
    return o;
}

static void print_json(FILE *out, const struct host_plan *p, const char *file, int line)
{
    const struct download_spec *s = p->s;
    const struct engine_summary *sum = p->sum;
    json_object *o = json_object_new_object(), *a, *fields = plan_fields(p);
    size_t i;

    if (!o || !fields) {
        json_object_put(o);
        json_object_put(fields);
        return;
    }
    json_object_object_add(o, "type", json_object_new_string("plan"));
    json_object_object_add(o, "output", s->output ? json_object_new_string(s->output) : NULL);
    json_object_object_add(o, "recipe", file ? json_object_new_string(file) : NULL);
    add_num(o, "line", line);
    add_num(o, "width", (double)sum->width);
    add_num(o, "height", (double)sum->height);
    a = json_object_new_array();
    for (i = 0; i < s->nbands; i++)
        json_object_array_add(a, json_object_new_string(s->bands[i].id));
    json_object_object_add(o, "bands", a);
    add_num(o, "tiles", (double)sum->tiles_total);
    add_num(o, "tiles_skipped", (double)sum->tiles_skipped);
    json_object_object_foreach(fields, key, val)
        json_object_object_add(o, key, json_object_get(val));
    json_object_put(fields);
    fprintf(out, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

void host_plan_print(FILE *out, const struct host_plan *p, const char *file, int line, int json)
{
    char where[4200];

    if (json) {
        print_json(out, p, file, line);
    } else {
        if (file)
            snprintf(where, sizeof where, "%s:%d", file, line);
        print_text(out, p, file ? where : NULL);
    }
    fflush(out);
}

/* A scalar, or an array of scalars, of plan_fields() as a Lua value. */
static void push_field(lua_State *L, json_object *v)
{
    size_t i, n;

    switch (json_object_get_type(v)) {
    case json_type_boolean:
        lua_pushboolean(L, json_object_get_boolean(v));
        break;
    case json_type_int:
        lua_pushinteger(L, (lua_Integer)json_object_get_int64(v));
        break;
    case json_type_double:
        lua_pushnumber(L, json_object_get_double(v));
        break;
    case json_type_array:
        n = json_object_array_length(v);
        lua_createtable(L, (int)n, 0);
        for (i = 0; i < n; i++) {
            push_field(L, json_object_array_get_idx(v, i));
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    default:
        lua_pushstring(L, json_object_get_string(v));
        break;
    }
}

void host_plan_push_fields(lua_State *L, const struct host_plan *p)
{
    json_object *fields = plan_fields(p);

    if (!fields)
        return;
    json_object_object_foreach(fields, key, val) {
        if (!val)
            continue;               /* unknown: left out of the Lua table */
        push_field(L, val);
        lua_setfield(L, -2, key);
    }
    json_object_put(fields);
}
