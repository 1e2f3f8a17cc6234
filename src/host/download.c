/*
 * download{} / plan{} on the C side: turns the table that recipe.lua has
 * already validated and normalized (plain strings, numbers and lists made
 * by eefetch's own code, never the user's table) into a download_spec and
 * runs the tile engine. The result goes back to Lua as a summary table.
 */
#include <ctype.h>

#include <gdal.h>
#include <lauxlib.h>
#include <lua.h>
#include <ogr_srs_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/engine.h"
#include "core/export.h"
#include "core/grid.h"
#include "core/mosaic.h"
#include "core/progress.h"
#include "core/quicklook.h"
#include "core/spec.h"
#include "core/stacout.h"
#include "host/host_int.h"
#include "util/log.h"
#include "util/platform.h"

/* The bindings below fill C structs from tables while lua_getfield and the
 * pushes can raise (a memory error under the recipe's budget): whatever
 * they allocate hangs from a struct that lives in a box (lbox.c), so an
 * error releases it. Stack effects are noted as in Lua's manual:
 * [-pop, +push, e] where e = may raise. */

/* A copy of the string field k of the table at t, or NULL when k is not a
 * string. Raises "out of memory" when the copy cannot be made, so a missing
 * field and a failed copy are never confused. [-0, +0, e] */
static char *dup_field(lua_State *L, int t, const char *k)
{
    char *r = NULL;
    if (lua_getfield(L, t, k) == LUA_TSTRING && !(r = strdup(lua_tostring(L, -1))))
        luaL_error(L, "out of memory");
    lua_pop(L, 1);
    return r;
}

/* [-0, +0, e] */
static int num_field(lua_State *L, int t, const char *k, double *out)
{
    int ok = lua_getfield(L, t, k) == LUA_TNUMBER;
    if (ok)
        *out = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return ok;
}

/* [-0, +0, e] */
static int bool_field(lua_State *L, int t, const char *k, int *out)
{
    int ok = lua_getfield(L, t, k) == LUA_TBOOLEAN;
    if (ok)
        *out = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return ok;
}

/* like = "ref.tif": the output grid of an existing GeoTIFF, so a download
 * lines up pixel for pixel. The path passes the sandbox first; reading the
 * grid is grid_spec_from_file's (core/grid.c), the one definition of what
 * a usable reference grid is. */
static int grid_from_file(struct host *h, const char *arg, struct download_spec *s, char *msg,
                          size_t cap)
{
    char path[4096];
    struct errbuf e;

    if (host_guard_input(h, "'like'", arg, path, sizeof path, &e) != 0 ||
        grid_spec_from_file(path, &s->grid, &e) != 0) {
        snprintf(msg, cap, "%.1000s", e.msg);
        return -1;
    }
    return 0;
}

/* Hex SHA-256 of a file (the recipe, for provenance), or NULL when it
 * cannot be read (the metadata item is then left out). */
static char *file_sha256(const char *path)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE], chunk[65536];
    unsigned int mdlen = 0, i;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    FILE *f = fopen(path, "rb");
    char *out = NULL;
    size_t n;
    int ok = ctx && f && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;

    while (ok && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ok = EVP_DigestUpdate(ctx, chunk, n) == 1;
    if (ok && !ferror(f) && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && (out = malloc(2 * mdlen + 1))) {
        for (i = 0; i < mdlen; i++) {
            out[2 * i] = hex[md[i] >> 4];
            out[2 * i + 1] = hex[md[i] & 15];
        }
        out[2 * mdlen] = '\0';
    }
    if (f)
        fclose(f);
    EVP_MD_CTX_free(ctx);
    return out;
}

/* A normalized region ({bbox = {4 numbers}} or {geojson = text, crs = ?})
 * at index r into a spec region (strings malloc'd, freed with the spec, or
 * by the box that holds out when a later call raises). [-0, +0, e] */
static void region_from_table(lua_State *L, int r, struct spec_region *out)
{
    lua_Integer i;

    if (lua_getfield(L, r, "bbox") == LUA_TTABLE) {
        out->kind = SPEC_REGION_BBOX;
        for (i = 1; i <= 4; i++) {
            lua_rawgeti(L, -1, i);
            out->bbox[i - 1] = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    if ((out->geojson = dup_field(L, r, "geojson")) != NULL)
        out->kind = SPEC_REGION_GEOJSON;
    out->crs = dup_field(L, r, "crs");
}

/* host.region_meets(region, crs, transform, {w, h}): whether a normalized
 * region meets an image's footprint rectangle (true/false), or nil when
 * that cannot be told (the region does not project into the image's CRS). */
static void release_region(void *p)
{
    struct spec_region *r = p;
    free(r->geojson);
    free(r->crs);
}

/* [-0, +1, e]: the arguments are checked first; the region's strings are
 * boxed while the table is read. */
int host_region_meets_lua(lua_State *L)
{
    struct spec_region *r;
    struct errbuf e;
    double t[6];
    long w, h;
    int i, rc;
    const char *crs;

    luaL_checktype(L, 1, LUA_TTABLE);
    crs = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_checktype(L, 4, LUA_TTABLE);
    lua_settop(L, 4);
    for (i = 0; i < 6; i++) {
        lua_rawgeti(L, 3, i + 1);
        t[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    lua_rawgeti(L, 4, 1);
    w = (long)lua_tointeger(L, -1);
    lua_rawgeti(L, 4, 2);
    h = (long)lua_tointeger(L, -1);
    lua_pop(L, 2);
    r = host_box_push(L, sizeof *r, release_region);     /* 5: box */
    region_from_table(L, 1, r);
    rc = grid_region_meets(r, crs, t, w, h, &e);
    host_box_release(r);
    if (rc < 0)
        lua_pushnil(L);
    else
        lua_pushboolean(L, rc);
    return 1;
}

/* A list of {key, value} string pairs at the top of the stack (a
 * non-string is ""). Each pair is counted before its copies are made, so
 * the spec frees whatever was copied when this fails. [-0, +0, -] */
static int kv_list(lua_State *L, struct spec_kv **out, size_t *n)
{
    lua_Integer i, len = (lua_Integer)lua_rawlen(L, -1);

    *n = 0;
    if (len == 0)
        return 0;
    if (!(*out = calloc((size_t)len, sizeof **out)))
        return -1;
    for (i = 1; i <= len; i++) {
        struct spec_kv *kv = &(*out)[(*n)++];
        const char *k, *v;
        lua_rawgeti(L, -1, i);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
        v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        kv->key = strdup(k);
        kv->value = strdup(v);
        lua_pop(L, 3);
        if (!kv->key || !kv->value)
            return -1;
    }
    return 0;
}

/* A collection's layout and images (recipe.lua's `collection_parts`:
 * {layout =, bands_per_image =, parts = {{path =, id =, band0 =, nbands =,
 * time_ms =, metadata = {{k, v}...}}...}}). Returns 0, or -1 with msg.
 * [-0, +0, e]: pushes collection_parts (c), its parts list and each part in
 * turn, then its names; all popped on every return. */
static int fill_collection(lua_State *L, int t, struct download_spec *s, char *msg, size_t cap)
{
    lua_Integer i, n;
    double d;
    char *str;
    int c;

    if (lua_getfield(L, t, "collection_parts") != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    c = lua_gettop(L);
    str = dup_field(L, c, "layout");
    s->layout = !str ? SPEC_LAYOUT_IMAGE
                : strcmp(str, "files") == 0 ? SPEC_LAYOUT_FILES
                : strcmp(str, "stack") == 0 ? SPEC_LAYOUT_STACK : SPEC_LAYOUT_CUBE;
    free(str);
    if (num_field(L, c, "bands_per_image", &d))
        s->bands_per_request = (int)d;
    lua_getfield(L, c, "parts");
    n = (lua_Integer)lua_rawlen(L, -1);
    if (n > 0 && !(s->parts = calloc((size_t)n, sizeof *s->parts)))
        goto nomem;
    for (i = 1; i <= n; i++) {
        struct spec_part *pt = &s->parts[s->nparts++];
        int p;
        lua_rawgeti(L, -1, i);
        p = lua_gettop(L);
        pt->path = dup_field(L, p, "path");
        pt->id = dup_field(L, p, "id");
        if (num_field(L, p, "band0", &d))
            pt->band0 = (int)d;
        if (num_field(L, p, "nbands", &d))
            pt->nbands = (int)d;
        if (num_field(L, p, "time_ms", &d)) {
            pt->has_time = 1;
            pt->time_ms = (int64_t)d;
        }
        lua_getfield(L, p, "metadata");
        if (lua_istable(L, -1) && kv_list(L, &pt->metadata, &pt->nmetadata) != 0)
            goto nomem;
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    /* Output band names (stack: "<band>_<date>"; cube: the variables). */
    if (lua_getfield(L, c, "names") == LUA_TTABLE)
        for (i = 1; i <= (lua_Integer)s->nbands; i++) {
            lua_rawgeti(L, -1, i);
            if (lua_type(L, -1) == LUA_TSTRING && !(s->bands[i - 1].name = strdup(lua_tostring(L, -1))))
                goto nomem;
            lua_pop(L, 1);
        }
    lua_pop(L, 2);
    return 0;
nomem:
    lua_settop(L, c - 1);
    snprintf(msg, cap, "out of memory");
    return -1;
}

/* Fills s from the normalized table at index t. Returns 0, or -1 with msg.
 * [-0, +0, e]: every field is pushed, copied into s and popped before the
 * next; s must live in a box, since any lua_getfield may raise. */
static int fill_spec(lua_State *L, int t, struct host *h, struct download_spec *s, char *msg, size_t cap)
{
    double d;
    int b;
    lua_Integer i, n;
    char *str;

    s->expression = dup_field(L, t, "expression");
    s->output = dup_field(L, t, "output");
    s->project = dup_field(L, t, "project");
    s->credentials = dup_field(L, t, "credentials");
    s->workload_tag = dup_field(L, t, "workload_tag");
    s->quicklook = dup_field(L, t, "quicklook");
    s->quicklook_palette = dup_field(L, t, "quicklook_palette");
    s->recipe_path = h->recipe_path[0] ? strdup(h->recipe_path) : NULL;
    if (h->recipe_path[0])
        s->recipe_hash = file_sha256(h->recipe_path);
    if (num_field(L, t, "line", &d))
        s->recipe_line = (int)d;

    /* bands */
    lua_getfield(L, t, "bands");
    n = (lua_Integer)lua_rawlen(L, -1);
    s->bands = calloc((size_t)n, sizeof *s->bands);
    if (!s->bands) {
        lua_pop(L, 1);
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    for (i = 1; i <= n; i++) {
        struct spec_band *band = &s->bands[s->nbands++];
        /* recipe.lua gives names only; a hole would be a bug there. */
        if (lua_rawgeti(L, -1, i) != LUA_TSTRING) {
            lua_pop(L, 2);
            snprintf(msg, cap, "internal error: band %d of the download is not a name", (int)i);
            return -1;
        }
        band->type = SPEC_DTYPE_AUTO;
        if (!(band->id = strdup(lua_tostring(L, -1)))) {
            lua_pop(L, 2);
            snprintf(msg, cap, "out of memory");
            return -1;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    /* dtype, format and compression are names recipe.lua's schema admitted,
     * each one the engine parses (tests/host/test_download_schema.sh):
     * the schema is their one check. */
    if ((str = dup_field(L, t, "dtype")) != NULL) {
        (void)spec_dtype_parse(str, &s->dtype);
        free(str);
    }
    if (num_field(L, t, "nodata", &d)) {
        s->has_nodata = 1;
        s->nodata = d;
    }
    if (bool_field(L, t, "mask_band", &b) && b && s->nbands > 0) {
        s->mask_band = 1;   /* the last band, computed as uint8: planned at its size */
        s->bands[s->nbands - 1].type = SPEC_DTYPE_UINT8;
    }

    /* grid: `scale` is metres (EE's meaning), `pixel_size` CRS units */
    s->grid.crs = dup_field(L, t, "crs");
    if (num_field(L, t, "pixel_size", &d)) {
        s->grid.kind = SPEC_GRID_SCALE;
        s->grid.scale = d;
    } else if (num_field(L, t, "scale", &d)) {
        struct errbuf ce;
        s->grid.kind = SPEC_GRID_SCALE;
        if (grid_crs_units(s->grid.crs ? s->grid.crs : "", d, &s->grid.scale, &ce) != 0) {
            snprintf(msg, cap, "%.900s", ce.msg);
            return -1;
        }
    }
    if (lua_getfield(L, t, "crs_transform") == LUA_TTABLE) {
        s->grid.kind = SPEC_GRID_TRANSFORM;
        for (i = 1; i <= 6; i++) {
            lua_rawgeti(L, -1, i);
            s->grid.transform[i - 1] = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
        if (lua_getfield(L, t, "dimensions") == LUA_TTABLE) {
            s->grid.kind = SPEC_GRID_EXACT;
            lua_rawgeti(L, -1, 1);
            s->grid.width = (long)lua_tointeger(L, -1);
            lua_rawgeti(L, -2, 2);
            s->grid.height = (long)lua_tointeger(L, -1);
            lua_pop(L, 2);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    if ((str = dup_field(L, t, "like")) != NULL) {
        int rc = grid_from_file(h, str, s, msg, cap);
        free(str);
        if (rc != 0)
            return -1;
    }

    /* region */
    if (lua_getfield(L, t, "region") == LUA_TTABLE)
        region_from_table(L, lua_gettop(L), &s->region);
    lua_pop(L, 1);

    /* output */
    if ((str = dup_field(L, t, "format")) != NULL) {
        (void)spec_format_parse(str, &s->format);
        free(str);
    }
    if ((str = dup_field(L, t, "compression")) != NULL) {
        (void)spec_compression_parse(str, &s->compression);
        free(str);
    }
    if ((str = dup_field(L, t, "overviews")) != NULL) {
        /* recipe.lua allows GDAL's resampling names only, in lower case */
        char *c;
        for (c = str; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        s->overview_resampling = str;
    }
    if (lua_getfield(L, t, "fishnet") == LUA_TTABLE) {
        int f = lua_gettop(L);
        if (num_field(L, f, "rows", &d))
            s->fishnet.rows = (int)d;
        if (num_field(L, f, "cols", &d))
            s->fishnet.cols = (int)d;
        if (num_field(L, f, "cell_width", &d))
            s->fishnet.cell_width = d;
        if (num_field(L, f, "cell_height", &d))
            s->fishnet.cell_height = d;
    }
    lua_pop(L, 1);
    if (bool_field(L, t, "split", &b) && b)
        s->fishnet.split = SPEC_SPLIT_CELLS;
    if (num_field(L, t, "workers", &d))
        s->workers = (int)d;
    if (num_field(L, t, "max_tile_bytes", &d))
        s->max_tile_bytes = (uint64_t)d;
    if (bool_field(L, t, "overwrite", &b))
        s->existing = b ? SPEC_EXISTING_OVERWRITE : SPEC_EXISTING_FAIL;
    if (bool_field(L, t, "resume", &b) && b)
        s->existing = SPEC_EXISTING_RESUME;
    if (bool_field(L, t, "stac", &b))
        s->no_stac = !b;
    if (bool_field(L, t, "rgb", &b))
        s->rgb = b;
    /* value = stored * scale + offset, per output band (recipe.lua aligns them) */
    if (lua_getfield(L, t, "band_scales") == LUA_TTABLE)
        for (i = 1; i <= (lua_Integer)s->nbands; i++) {
            if (lua_rawgeti(L, -1, i) == LUA_TTABLE) {
                lua_rawgeti(L, -1, 1);
                lua_rawgeti(L, -2, 2);
                s->bands[i - 1].has_scale = 1;
                s->bands[i - 1].scale = lua_tonumber(L, -2);
                s->bands[i - 1].offset = lua_tonumber(L, -1);
                lua_pop(L, 2);
            }
            lua_pop(L, 1);
        }
    lua_pop(L, 1);
    /* The image's properties (one image) or its images' ids (a stack, a cube). */
    if (lua_getfield(L, t, "metadata_items") == LUA_TTABLE && kv_list(L, &s->metadata, &s->nmetadata) != 0) {
        lua_pop(L, 1);
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    lua_pop(L, 1);
    if ((str = dup_field(L, t, "via")) != NULL) {
        s->via = strcmp(str, "export") == 0 ? SPEC_VIA_EXPORT
                 : strcmp(str, "auto") == 0 ? SPEC_VIA_AUTO : SPEC_VIA_INTERACTIVE;
        free(str);
    }
    s->bucket = dup_field(L, t, "bucket");
    if (num_field(L, t, "max_tasks", &d))
        s->max_tasks = (int)d;
    if (bool_field(L, t, "delete_exported", &b))
        s->delete_exported = b;
    if (h->opts.overwrite)
        s->existing = SPEC_EXISTING_OVERWRITE;
    return fill_collection(L, t, s, msg, cap);
}

/* A quick-look is written over whatever is at its path: only a preview
 * eefetch made is replaced (its QUICKLOOK_TAG says so). */
static int quicklook_replaceable(const char *png, struct errbuf *e)
{
    struct stat st;
    enum mosaic_existing x;

    if (lstat(png, &st) != 0)
        return 0;
    if (S_ISDIR(st.st_mode))
        return err_set(e, ERR_USAGE, "quicklook %s is a folder; name a file", png);
    x = quicklook_existing(png);
    if (x == MOSAIC_FOREIGN)
        return err_set(e, ERR_USAGE, "quicklook %s exists and is not a preview eefetch made (it has no "
                       QUICKLOOK_TAG " tag); it is not replaced: move it away or name another quicklook",
                       png);
    return 0;
}

/* A collection's files are outputs like any other: inside the recipe's
 * folder unless --unsafe. */
static int guard_parts(struct host *h, struct download_spec *s, struct errbuf *e)
{
    size_t i;

    for (i = 0; i < s->nparts; i++)
        if (s->parts[i].path && host_guard_output(h, "output", &s->parts[i].path, e) != 0)
            return -1;
    return 0;
}

/* via = "auto": 1 export, 0 interactive (why says by which rule), or an
 * error. The plan decides: its size and requests (export.h's rule). */
static int choose_via(const struct download_spec *s, char *why, size_t cap, struct errbuf *e)
{
    struct grid_plan p;
    uint64_t raw = 0;
    size_t b;
    int rc;

    memset(&p, 0, sizeof p);
    if ((rc = grid_plan_build(s, &p, e)) < 0) {
        grid_plan_free(&p);
        return rc;
    }
    for (b = 0; b < s->nbands; b++) {
        size_t sz = spec_dtype_size(s->dtype != SPEC_DTYPE_AUTO ? s->dtype : s->bands[b].type);
        raw += (uint64_t)p.grid.width * (uint64_t)p.grid.height * (sz ? sz : 4);
    }
    rc = export_choose(s, &p, raw, why, cap);
    grid_plan_free(&p);
    if (rc && (!s->bucket || !*s->bucket)) {
        size_t n = strlen(why);
        snprintf(why + n, cap - n, "; but no bucket is given: interactive");
        rc = 0;
    }
    return rc;
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static void release_spec(void *p)
{
    spec_free(p);
}

/* download{} and plan{}: [-0, +1, e]. The spec is boxed from the first
 * field read to the summary table; own_auth and the progress display are
 * released before each raise. */
static int run(lua_State *L, int plan_only)
{
    struct host *h = host_from_lua(L);
    struct download_spec *spec;
    struct engine_opts eo;
    struct engine_summary sum;
    struct host_plan cost;
    struct errbuf e;
    struct progress *prog = NULL;
    enum progress_mode mode = PROGRESS_AUTO;
    char msg[1024] = "", project[256] = "";
    struct token_provider *own_auth = NULL;
    struct platform_stop_scope scope;
    int stop_before;
    char why[256] = "";
    int rc, via_export;

    luaL_checktype(L, 1, LUA_TTABLE);
    h->downloads++;
    lua_getfield(L, LUA_REGISTRYINDEX, "eefetch.plan_only");
    plan_only = plan_only || lua_toboolean(L, -1);
    lua_pop(L, 1);
    spec = host_box_push(L, sizeof *spec, release_spec);   /* the spec's box */
    spec_init(spec);
    if (fill_spec(L, 1, h, spec, msg, sizeof msg) != 0) {
        host_box_release(spec);
        lua_pushstring(L, msg);
        return lua_error(L);
    }
    /* Where it writes, before anything is asked of the server. */
    if ((spec->output && *spec->output && host_guard_output(h, "output", &spec->output, &e) != 0) ||
        (spec->quicklook && *spec->quicklook && host_guard_output(h, "quicklook", &spec->quicklook, &e) != 0) ||
        (spec->quicklook && !plan_only && !h->opts.unsafe && quicklook_replaceable(spec->quicklook, &e) != 0) ||
        guard_parts(h, spec, &e) != 0) {
        host_box_release(spec);
        lua_pushstring(L, e.msg);
        return lua_error(L);
    }
    /* Credentials and project (the download's own, else the command
     * line's) are proven before the first tile; a plan sends nothing. */
    if (!plan_only &&
        (rc = host_download_auth(h, spec->credentials, spec->project, &own_auth, project, sizeof project, &e)) != 0) {
        host_box_release(spec);
        if (rc == ERR_INTERRUPTED) {
            /* Ctrl-C also armed the hook that raises a bare "interrupted";
             * this message says more. */
            lua_sethook(L, NULL, 0, 0);
            return luaL_error(L, "interrupted before any tile was requested; run the same "
                                 "recipe again to resume");
        }
        lua_pushstring(L, e.msg);
        return lua_error(L);
    }
    memset(&eo, 0, sizeof eo);
    memset(&sum, 0, sizeof sum);
    eo.spec = spec;
    eo.endpoint = h->endpoint[0] ? h->endpoint : NULL;
    eo.project = project[0] ? project : h->project[0] ? h->project : NULL;
    eo.plan_only = plan_only;
    eo.no_disk_check = h->opts.no_disk_check;
    eo.overwrite_any = h->opts.unsafe;
    eo.auth = own_auth ? own_auth : h->auth;
    eo.stop = platform_stop_flag();
    if (h->opts.progress)
        progress_mode_parse(h->opts.progress, &mode);
    if (!plan_only && mode != PROGRESS_OFF) {
        char label[4200];
        if (spec->layout != SPEC_LAYOUT_IMAGE)
            snprintf(label, sizeof label, "%s (%zu images)", spec->output, spec->nparts);
        else
            snprintf(label, sizeof label, "%s", spec->output);
        prog = progress_create(mode, stderr, label);
        if (!prog) {
            host_box_release(spec);
            auth_destroy(own_auth);
            return luaL_error(L, "out of memory");
        }
        progress_set_source(prog, spec->output, h->downloads, spec->recipe_line);
        eo.on_event = progress_on_event;
        eo.ud = prog;
    }
    eo.cancel_on_interrupt = h->opts.cancel_on_interrupt;
    {
        /* Tests poll the emulator's tasks faster, ask for split files and
         * for small ranges (docs/export.md, "Testing"). */
        const char *v = getenv("EEFETCH_EXPORT_POLL_MS");
        if (v && atoi(v) > 0)
            eo.export_poll_ms = atoi(v);
        v = getenv("EEFETCH_EXPORT_FILE_DIM");
        if (v && atol(v) > 0)
            eo.export_file_dim = atol(v);
        v = getenv("EEFETCH_EXPORT_RANGE_BYTES");
        if (v && atol(v) > 0)
            eo.export_range_bytes = (size_t)atol(v);
    }
    via_export = spec->via == SPEC_VIA_EXPORT;
    if (spec->via == SPEC_VIA_AUTO && (rc = choose_via(spec, why, sizeof why, &e)) < 0) {
        host_box_release(spec);
        auth_destroy(own_auth);
        progress_destroy(prog);
        lua_pushstring(L, e.msg);
        return lua_error(L);
    } else if (spec->via == SPEC_VIA_AUTO) {
        via_export = rc;
    } else if (spec->via == SPEC_VIA_EXPORT) {
        snprintf(why, sizeof why, "via = \"export\"");
    }
    /* Ctrl-C during the run stops the engine (workers finish or abandon
     * their tile, the journal stays consistent) and the run ends with the
     * engine's own message, which says how to resume; a second Ctrl-C only
     * sets the flag again. The protected call's hook is not armed by it: a
     * Ctrl-C that came before the run is the hook's, and is handed back. */
    stop_before = platform_stop_requested();
    platform_stop_clear();
    (void)platform_stop_install(NULL, &scope);
    rc = via_export ? export_run(&eo, &sum, &e) : engine_run(&eo, &sum, &e);
    sum.via_export = via_export;
    snprintf(sum.via_reason, sizeof sum.via_reason, "%s", why);
    platform_stop_restore(&scope);
    if (stop_before)
        platform_stop_request();
    else
        platform_stop_clear();
    auth_destroy(own_auth);
    if (prog) {
        progress_finish(prog, &sum, rc);
        progress_destroy(prog);
    }
    /* From the output path: for files per cell that is the VRT over them.
     * A skipped (complete) output keeps its preview; a missing one (its
     * first run failed making it) is made now, with nothing fetched. */
    if (rc == 0 && !plan_only && spec->quicklook && !(sum.skipped && access(spec->quicklook, F_OK) == 0))
        rc = quicklook_write(spec->output, spec->quicklook, spec->quicklook_palette, &e);
    /* STAC beside the output: after a run, or when a complete output
     * lacks it (a run stopped between the two). */
    if (rc == 0 && !plan_only && !spec->no_stac) {
        char sp[4200];
        if (!sum.skipped || stacout_path(spec, sp, sizeof sp) != 0 || access(sp, F_OK) != 0)
            rc = stacout_write(spec, &sum, &e);
    }
    if (rc != 0) {
        host_box_release(spec);
        lua_pushstring(L, e.msg);
        return lua_error(L);
    }
    lua_newtable(L);
    set_int(L, "tiles", (lua_Integer)sum.tiles_total);
    if (spec->layout != SPEC_LAYOUT_IMAGE)
        set_int(L, "images", (lua_Integer)spec->nparts);
    set_int(L, "tiles_skipped", (lua_Integer)sum.tiles_skipped);
    set_int(L, "tiles_resumed", (lua_Integer)sum.tiles_resumed);
    set_int(L, "tiles_fetched", (lua_Integer)sum.tiles_fetched);
    lua_pushboolean(L, sum.skipped);
    lua_setfield(L, -2, "skipped");
    set_int(L, "requests", (lua_Integer)sum.requests);
    set_int(L, "retries", (lua_Integer)sum.retries);
    set_int(L, "makespan_splits", (lua_Integer)sum.makespan_splits);
    set_int(L, "bytes", (lua_Integer)sum.bytes);
    set_int(L, "width", (lua_Integer)sum.width);
    set_int(L, "tile_width", (lua_Integer)sum.tile_width);
    set_int(L, "tile_height", (lua_Integer)sum.tile_height);
    set_int(L, "height", (lua_Integer)sum.height);
    lua_pushnumber(L, sum.seconds);
    lua_setfield(L, -2, "seconds");
    lua_pushstring(L, sum.via_export ? "export" : "interactive");
    lua_setfield(L, -2, "via");
    if (sum.via_export) {
        set_int(L, "tasks", (lua_Integer)sum.tasks);
        set_int(L, "tasks_submitted", (lua_Integer)sum.tasks_submitted);
        set_int(L, "tasks_resumed", (lua_Integer)sum.tasks_resumed);
        set_int(L, "objects", (lua_Integer)sum.objects);
        lua_pushnumber(L, sum.eecu_seconds);
        lua_setfield(L, -2, "eecu_seconds");
    }
    lua_pushstring(L, sum.plan_hash);
    lua_setfield(L, -2, "plan_hash");
    /* Under plan too: the path the run would write (a recipe may print it). */
    if (spec->output) {
        lua_pushstring(L, spec->output);
        lua_setfield(L, -2, "output");
    }
    if (spec->quicklook) {
        lua_pushstring(L, spec->quicklook);
        lua_setfield(L, -2, "quicklook");
    }
    host_plan_cost(spec, &sum, &cost);
    host_plan_push_fields(L, &cost);
    if (plan_only) {
        char *file = dup_field(L, 1, "file");
        host_plan_print(stdout, &cost, file, spec->recipe_line, h->opts.json);
        free(file);
        if (sum.problem[0])
            h->plan_problems++;
    }
    host_box_release(spec);
    return 1;
}

int host_download_lua(lua_State *L) { return run(L, 0); }
int host_plan_lua(lua_State *L) { return run(L, 1); }
