/*
 * The `eefetch.host` module: the C side of eefetch's Lua modules. JSON
 * decoding (json-c), value:compute for getInfo, the algorithm list (file,
 * on-disk cache per endpoint, or the endpoint), vector files through OGR and
 * bounded text reads for the recipe `require`. Errors are raised without a
 * location; the Lua callers add the recipe's file:line.
 */
#include <errno.h>
#include <cpl_conv.h>
#include <gdal.h>
#include <json-c/json.h>
#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/auth.h"
#include "core/backoff.h"
#include "core/engine.h"
#include "core/session.h"
#include "core/spec.h"
#include "emulator/emu.h"
#include "host/host_int.h"
#include "util/buf.h"
#include "util/ee.h"
#include "util/log.h"

#define ALGORITHMS_MAX_AGE_S (24 * 3600)
#define TEXT_MAX ((size_t)16 << 20)

/* Raises msg as a Lua error without a position prefix. */
static int raise_plain(lua_State *L, const char *msg)
{
    lua_pushstring(L, msg);
    return lua_error(L);
}

/* ---- JSON -> Lua ---------------------------------------------------- */

/* Stack slots (absolute) holding json.ARRAY, json.OBJECT and json.null. */
struct json_tags {
    int array, object, null;
};

/* [-0, +1, e]: raises "JSON nesting" (luaL_checkstack) or a memory
 * error; the caller keeps o in a box. */
static void push_json(lua_State *L, struct json_object *o, const struct json_tags *t, int depth)
{
    luaL_checkstack(L, 4, "JSON nesting");
    if (!o) {
        lua_pushvalue(L, t->null);
        return;
    }
    switch (json_object_get_type(o)) {
    case json_type_null:
        lua_pushvalue(L, t->null);
        break;
    case json_type_boolean:
        lua_pushboolean(L, json_object_get_boolean(o));
        break;
    case json_type_int:
        lua_pushinteger(L, (lua_Integer)json_object_get_int64(o));
        break;
    case json_type_double:
        lua_pushnumber(L, json_object_get_double(o));
        break;
    case json_type_string:
        lua_pushlstring(L, json_object_get_string(o), (size_t)json_object_get_string_len(o));
        break;
    case json_type_array: {
        size_t i, n = json_object_array_length(o);
        lua_createtable(L, (int)n, 0);
        for (i = 0; i < n; i++) {
            push_json(L, json_object_array_get_idx(o, i), t, depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_pushvalue(L, t->array);
        lua_setmetatable(L, -2);
        break;
    }
    case json_type_object: {
        lua_newtable(L);
        json_object_object_foreach(o, key, val) {
            lua_pushstring(L, key);
            push_json(L, val, t, depth + 1);
            lua_rawset(L, -3);
        }
        lua_pushvalue(L, t->object);
        lua_setmetatable(L, -2);
        break;
    }
    }
}

static void release_json(void *p)
{
    json_object_put(*(struct json_object **)p);
}

/* [-0, +1, m on success; -0, +0, m on failure]. The parsed tree sits in a
 * box while it is pushed: a memory error, or luaL_checkstack's "JSON
 * nesting", raises from the middle of push_json. */
int host_json_push(lua_State *L, const char *text, size_t len, struct errbuf *e)
{
    struct json_tokener *tok;
    struct json_object **o;
    struct json_tags tags;
    int top = lua_gettop(L);

    /* Include the terminating NUL: a bare number at the end of the text is
     * otherwise "incomplete" to json-c. Every caller passes a NUL-terminated
     * text (Lua strings and struct buf always are). */
    if (len >= (size_t)INT_MAX)
        return err_set(e, ERR_LIMIT, "JSON text of %zu bytes is too large", len);
    o = host_box_push(L, sizeof *o, release_json);            /* box */
    if (!(tok = json_tokener_new_ex(HOST_JSON_MAX_DEPTH))) {
        lua_settop(L, top);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    *o = json_tokener_parse_ex(tok, text, (int)len + 1);
    if (!*o && json_tokener_get_error(tok) != json_tokener_success) {
        if (json_tokener_get_error(tok) == json_tokener_error_depth)
            err_set(e, ERR_PARSE, "invalid JSON: nested deeper than %d levels", HOST_JSON_MAX_DEPTH);
        else
            err_set(e, ERR_PARSE, "invalid JSON: %s",
                    json_tokener_error_desc(json_tokener_get_error(tok)));
        json_tokener_free(tok);
        lua_settop(L, top);
        return ERR_PARSE;
    }
    json_tokener_free(tok);
    /* The tags live in eefetch.json (require runs in the real global env). */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "eefetch.json");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "ARRAY");
    lua_getfield(L, -2, "OBJECT");
    lua_getfield(L, -3, "null");
    tags.array = top + 3;
    tags.object = top + 4;
    tags.null = top + 5;
    push_json(L, *o, &tags, 0);
    host_box_release(o);
    /* stack: box json ARRAY OBJECT null value -> value */
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return 0;
}

/* json_decode(text) -> value. [-0, +1, e] */
static int l_json_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    struct errbuf e;

    if (host_json_push(L, s, len, &e) != 0)
        return raise_plain(L, e.msg);
    return 1;
}

/* ---- session -------------------------------------------------------- */

/* The project from the environment, in the documented order, when no
 * credentials could be resolved (a local emulator without auth). */
static const char *project_from_env(const char *given)
{
    static const char *const vars[] = {"EE_PROJECT", "EE_PROJECT_ID", "GOOGLE_CLOUD_QUOTA_PROJECT",
                                       "GOOGLE_CLOUD_PROJECT"};
    size_t i;

    if (given)
        return given;
    for (i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]) && *getenv(vars[i]))
            return getenv(vars[i]);
    return NULL;
}

static int host_no_project(const struct auth_info *info, struct errbuf *e)
{
    auth_project_help(info, e->msg, sizeof e->msg);
    return ERR_USAGE;
}

/* Sets h->endpoint, starting the in-process emulator first when asked. */
static int host_ensure_endpoint(struct host *h, struct errbuf *e)
{
    if (h->opts.emulator && !h->emu) {
        struct emu_config cfg;
        emu_config_default(&cfg);
        cfg.port = 0;
        if (emu_start(&cfg, &h->emu, e) != 0)
            return err_prefix(e, ERR_INTERNAL, "starting the emulator: ");
    }
    if (h->emu)
        snprintf(h->endpoint, sizeof h->endpoint, "%s", emu_base_url(h->emu));
    else if (h->opts.endpoint)
        snprintf(h->endpoint, sizeof h->endpoint, "%s", h->opts.endpoint);
    else
        snprintf(h->endpoint, sizeof h->endpoint, "%s", EE_ENDPOINT);
    return 0;
}

int host_ensure_session(struct host *h, struct errbuf *e)
{
    struct session_opts so;
    struct auth_info *info = &h->auth_info;
    const char *project;

    int rc;

    if (h->session)
        return 0;
    if ((rc = host_ensure_endpoint(h, e)) != 0)
        return rc;

    project = h->opts.project;
    memset(info, 0, sizeof *info);
    if (!h->emu) {
        /* Credentials and project are resolved once per run and shared by
         * every session (docs/auth.md lists the sources and the order). */
        struct auth_options ao;
        struct errbuf ae;
        memset(&ao, 0, sizeof ao);
        ao.credentials_file = h->opts.credentials;
        ao.project = h->opts.project;
        if (auth_resolve(&ao, &h->auth, info, &ae) == 0) {
            h->have_auth_info = 1;
            if (!info->project[0])
                return host_no_project(info, e);
            project = info->project;
        } else {
            h->auth = NULL;
            /* Only a local emulator started with --no-auth is worth talking
             * to without credentials; anywhere else stop here, before any
             * request, with what was looked for. */
            if (h->opts.credentials || !session_url_is_loopback(h->endpoint))
                return err_set(e, ERR_AUTH, "%s", ae.msg);
            log_debug("no credentials for %s: %s", h->endpoint, ae.msg);
            project = project_from_env(project);
        }
    }
    if (!project && h->emu)
        project = "eefetch-emulator";
    if (!project)
        return err_set(e, ERR_USAGE, "no Earth Engine project: give --project P (or set "
                                     "EE_PROJECT)");
    if (project != h->project)
        snprintf(h->project, sizeof h->project, "%s", project);

    memset(&so, 0, sizeof so);
    so.endpoint = h->endpoint;
    so.version = "v1";
    so.project = h->project;
    so.auth = h->auth;
    so.timeout_ms = EE_REQUEST_TIMEOUT_MS;
    so.should_abort = host_interrupted;
    if (session_create(&so, &h->session, e) != 0)
        return err_prefix(e, ERR_INTERNAL, "connecting to %s: ", h->endpoint);
    return 0;
}

int host_ensure_verified(struct host *h, struct errbuf *e)
{
    int rc = host_ensure_session(h, e);

    if (rc != 0 || h->verified || h->emu)
        return rc;
    /* One cheap call proves credentials and project before any tile,
     * getInfo or algorithm request, so a bad token or an unregistered
     * project is one clear message instead of a failure per worker. */
    rc = auth_verify(h->session, h->have_auth_info ? &h->auth_info : NULL, e);
    if (rc == 0)
        h->verified = 1;
    return rc;
}

/* A session of the host's endpoint for another project or token provider
 * (a download's own), released by the caller. */
static int session_for(struct host *h, struct token_provider *auth, const char *project, struct session **s,
                       struct errbuf *e)
{
    struct session_opts so;

    memset(&so, 0, sizeof so);
    so.endpoint = h->endpoint;
    so.version = "v1";
    so.project = project;
    so.auth = auth;
    so.timeout_ms = EE_REQUEST_TIMEOUT_MS;
    so.should_abort = host_interrupted;
    if (session_create(&so, s, e) != 0)
        return err_prefix(e, ERR_INTERNAL, "connecting to %s: ", h->endpoint);
    return 0;
}

/* The one check call of host_ensure_verified, for a download's own
 * credentials or project: a session of its own, used once. */
static int verify_with(struct host *h, struct token_provider *auth, const char *project,
                       const struct auth_info *info, struct errbuf *e)
{
    struct session *s;
    int rc;

    if ((rc = session_for(h, auth, project, &s, e)) != 0)
        return rc;
    rc = auth_verify(s, info, e);
    session_destroy(s);
    return rc;
}

int host_download_auth(struct host *h, const char *credentials, const char *project,
                       struct token_provider **own, char *project_out, size_t cap, struct errbuf *e)
{
    struct auth_options ao;
    struct auth_info info;
    char path[4096];
    int rc;

    *own = NULL;
    if (!credentials && !project) {
        if ((rc = host_ensure_verified(h, e)) != 0)
            return rc;
        snprintf(project_out, cap, "%s", h->project);
        return 0;
    }
    if (!credentials || h->emu || h->opts.emulator) {
        /* The project alone: the command line's credentials (none for the
         * in-process emulator, which takes no token) with this project. */
        if ((rc = host_ensure_session(h, e)) != 0)
            return rc;
        if (!project)
            project = h->project;
        if (!auth_project_valid(project))
            return err_set(e, ERR_USAGE, "project '%s' (from the download's `project`) is not a valid Google Cloud "
                           "project ID: an ID has 6 to 30 lowercase letters, digits and hyphens and starts "
                           "with a letter; a project number is all digits", project);
        snprintf(project_out, cap, "%s", project);
        if (h->emu)
            return 0;
        if (strcmp(project, h->project) == 0)
            return host_ensure_verified(h, e);
        memset(&info, 0, sizeof info);
        if (h->have_auth_info)
            info = h->auth_info;
        snprintf(info.project, sizeof info.project, "%s", project);
        snprintf(info.project_from, sizeof info.project_from, "the download's `project`");
        return verify_with(h, h->auth, project, h->have_auth_info ? &info : NULL, e);
    }
    /* Its own credentials: resolved and checked like the command line's,
     * before its first tile. A relative path is the recipe's, like `like`. */
    if ((rc = host_guard_credentials(h, credentials, e)) != 0)
        return rc;
    if (credentials[0] == '/' || !h->recipe_dir[0])
        rc = snprintf(path, sizeof path, "%s", credentials);
    else
        rc = snprintf(path, sizeof path, "%s/%s", h->recipe_dir, credentials);
    if (rc < 0 || (size_t)rc >= sizeof path)
        return err_set(e, ERR_USAGE, "credentials: path too long");
    if ((rc = host_ensure_endpoint(h, e)) != 0)
        return rc;
    memset(&ao, 0, sizeof ao);
    ao.credentials_file = path;
    ao.project = project ? project : h->opts.project;
    if ((rc = auth_resolve(&ao, own, &info, e)) != 0)
        return err_prefix(e, rc, "the download's credentials: ");
    if ((rc = host_guard_token_uri(h, info.token_uri, path, e)) != 0) {
        auth_destroy(*own);
        *own = NULL;
        return rc;
    }
    if (!info.project[0]) {
        auth_destroy(*own);
        *own = NULL;
        return host_no_project(&info, e);
    }
    snprintf(project_out, cap, "%s", info.project);
    if ((rc = verify_with(h, *own, info.project, &info, e)) != 0) {
        auth_destroy(*own);
        *own = NULL;
    }
    return rc;
}

/* ---- value:compute -------------------------------------------------- */

/* getInfo and the algorithm list are one request each, but a busy project
 * answers 429 and EE's front end has its transient 5xx and resets like any
 * tile request: those are retried under the one policy of a question the
 * user waits on (core/backoff.h); every other answer is returned as it is.
 * body NULL: a GET of path. */
static int request_retried(struct session *sess, const char *path, const struct buf *body,
                           struct http_result *res, struct errbuf *e)
{
    return backoff_request(sess, path, body ? body->data : NULL, body ? body->len : 0, res, e);
}

static void release_http_result(void *p)
{
    http_result_free(p);
}

/* compute(expr [, credentials, project]) -> the answer's "result".
 * [-0, +1, e]: every argument is read before anything is allocated; the
 * answer lives in a box until it is in Lua, since pushing it can raise. */
static int l_compute(lua_State *L)
{
    struct host *h = host_from_lua(L);
    size_t len;
    const char *expr = luaL_checklstring(L, 1, &len);
    const char *cred = luaL_optstring(L, 2, NULL), *proj = luaL_optstring(L, 3, NULL);
    struct errbuf e;
    struct buf body;
    struct http_result *res;
    char msg[1024];
    int rc;
    struct token_provider *own = NULL;
    struct session *sess = NULL;
    char project[256] = "";

    lua_settop(L, 3);
    res = host_box_push(L, sizeof *res, release_http_result);   /* 4: box */

    /* A download's own credentials or project (host.compute(expr, credentials,
     * project)): the question is asked, and paid for, as that download. */
    if (cred || proj) {
        if ((rc = host_download_auth(h, cred, proj, &own, project, sizeof project, &e)) != 0)
            return raise_plain(L, e.msg);
        if ((rc = session_for(h, own ? own : h->auth, project, &sess, &e)) != 0) {
            auth_destroy(own);
            return raise_plain(L, e.msg);
        }
    } else if (host_ensure_verified(h, &e) != 0) {
        return raise_plain(L, e.msg);
    }
    buf_init(&body, 0);
    if (buf_append_str(&body, "{\"expression\":") != 0 || buf_append(&body, expr, len) != 0 ||
        buf_append_str(&body, "}") != 0) {
        buf_free(&body);
        session_destroy(sess);
        auth_destroy(own);
        return raise_plain(L, "out of memory");
    }
    rc = request_retried(sess ? sess : h->session, "value:compute", &body, res, &e);
    buf_free(&body);
    session_destroy(sess);
    auth_destroy(own);
    if (rc != 0) {
        host_box_release(res);
        lua_pushfstring(L, "getInfo: request to %s failed: %s", h->endpoint, e.msg);
        return lua_error(L);
    }
    if (res->status != 200) {
        int status = (int)res->status;
        session_error_message(res, msg, sizeof msg);
        host_box_release(res);
        lua_pushfstring(L, "getInfo: the server answered %d: %s", status, msg);
        return lua_error(L);
    }
    /* Parsed once, straight into Lua: an answer as deep as the one EE
     * gives for a deep value needs more than json-c's default depth. */
    rc = host_json_push(L, res->body.data ? res->body.data : "", res->body.len, &e);
    host_box_release(res);
    if (rc != 0) {
        lua_pushfstring(L, "getInfo: the server's answer is not JSON (%s)", e.msg);
        return lua_error(L);
    }
    if (lua_type(L, -1) != LUA_TTABLE || lua_getfield(L, -1, "result") == LUA_TNIL)
        return raise_plain(L, "getInfo: the server's answer has no \"result\"");
    return 1;
}

/* ---- algorithm list ------------------------------------------------- */

static uint64_t fnv1a(const char *s)
{
    uint64_t x = 1469598103934665603ULL;
    for (; *s; s++) {
        x ^= (unsigned char)*s;
        x *= 1099511628211ULL;
    }
    return x;
}

/* $XDG_CACHE_HOME/eefetch (or ~/.cache/eefetch), created when missing. */
static int cache_dir(char *out, size_t cap)
{
    const char *x = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char base[4096];

    if (x && *x)
        snprintf(base, sizeof base, "%s", x);
    else if (home && *home)
        snprintf(base, sizeof base, "%s/.cache", home);
    else
        return -1;
    mkdir(base, 0700);
    if ((size_t)snprintf(out, cap, "%s/eefetch", base) >= cap)
        return -1;
    if (mkdir(out, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int fetch_algorithms(struct host *h, struct buf *out, struct errbuf *e)
{
    char dir[4096], path[4600], tmp[4640], rpath[600], msg[1024];
    struct http_result res;
    struct stat st;
    int have_cache;

    if (h->opts.algorithms) {
        if (buf_read_file(out, h->opts.algorithms) != 0)
            return err_set(e, ERR_IO, "cannot read the algorithm list %s", h->opts.algorithms);
        return 0;
    }
    if (host_ensure_session(h, e) != 0)
        return ERR_USAGE;
    /* The in-process emulator's port changes every run: no cache for it. */
    have_cache = !h->emu && cache_dir(dir, sizeof dir) == 0;
    if (have_cache) {
        snprintf(path, sizeof path, "%s/algorithms-%016llx.json", dir,
                 (unsigned long long)fnv1a(h->endpoint));
        if (stat(path, &st) == 0 && time(NULL) - st.st_mtime < ALGORITHMS_MAX_AGE_S &&
            buf_read_file(out, path) == 0)
            return 0;
    }
    if (host_ensure_verified(h, e) != 0)
        return err_prefix(e, ERR_AUTH, "fetching the algorithm list from %s: ", h->endpoint);
    snprintf(rpath, sizeof rpath, "projects/%s/algorithms", h->project);
    if (request_retried(h->session, rpath, NULL, &res, e) != 0) {
        http_result_free(&res);
        return err_prefix(e, ERR_HTTP, "fetching the algorithm list from %s: ", h->endpoint);
    }
    if (res.status != 200) {
        session_error_message(&res, msg, sizeof msg);
        http_result_free(&res);
        return err_set(e, ERR_SERVER, "fetching the algorithm list from %s: %ld %s "
                       "(--algorithms FILE works offline)", h->endpoint, res.status, msg);
    }
    if (buf_append(out, res.body.data, res.body.len) != 0) {
        http_result_free(&res);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    http_result_free(&res);
    if (have_cache) {
        FILE *f;
        if ((size_t)snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= sizeof tmp)
            return 0;
        f = fopen(tmp, "wb");
        if (f) {
            int ok = fwrite(out->data, 1, out->len, f) == out->len;
            if (fclose(f) != 0 || !ok || rename(tmp, path) != 0)
                unlink(tmp);
        }
    }
    return 0;
}

/* algorithms() -> the decoded list. [-0, +1, e]; the text is boxed while
 * it is decoded into Lua. */
static int l_algorithms(lua_State *L)
{
    struct host *h = host_from_lua(L);
    struct errbuf e;
    struct buf *b;
    int rc;

    b = host_box_buf(L, (size_t)64 << 20);
    rc = fetch_algorithms(h, b, &e);
    if (rc == 0)
        rc = host_json_push(L, b->data ? b->data : "", b->len, &e);
    host_box_release(b);
    if (rc != 0)
        return raise_plain(L, e.msg);
    return 1;
}

/* ---- files ---------------------------------------------------------- */

/* read_text(path [, within]): the text of a file; with within (the recipe's
 * folder, for require) the file must resolve inside that folder, so a
 * symbolic link cannot lead a module out of it. [-0, +1|2, e] */
static int l_read_text(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *within = luaL_optstring(L, 2, NULL);
    struct errbuf e;
    struct buf *b;

    if (within && access(path, F_OK) == 0 && host_guard_module(within, path, &e) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, e.msg);
        return 2;
    }
    b = host_box_buf(L, TEXT_MAX);   /* pushing the text may raise */
    if (buf_read_file(b, path) != 0) {
        host_box_release(b);
        lua_pushnil(L);
        lua_pushfstring(L, "no file %s", path);
        return 2;
    }
    lua_pushlstring(L, b->data ? b->data : "", b->len);
    host_box_release(b);
    return 1;
}

/* What ogr_read holds while it pushes geometries (each push can raise a
 * memory error under the recipe's budget). */
struct ogr_hold {
    GDALDatasetH ds;
    OGRSpatialReferenceH wgs84;
    OGRCoordinateTransformationH ct;
    OGRFeatureH f;
    char *txt;
};

static void release_ogr(void *p)
{
    struct ogr_hold *o = p;

    CPLFree(o->txt);
    if (o->f)
        OGR_F_Destroy(o->f);
    if (o->ct)
        OCTDestroyCoordinateTransformation(o->ct);
    if (o->wgs84)
        OSRDestroySpatialReference(o->wgs84);
    if (o->ds)
        GDALClose(o->ds);
    memset(o, 0, sizeof *o);
}

/* ogr_read(path [, layer]) -> { geojson_text, ... } in EPSG:4326.
 * [-0, +1, e]: the dataset, transformation, feature and text being pushed
 * are in a box, released on return or by the error that unwinds. */
static int l_ogr_read(lua_State *L)
{
    struct host *h = host_from_lua(L);
    const char *arg = luaL_checkstring(L, 1);
    const char *layer_name = luaL_optstring(L, 2, NULL);
    char path[4096], err[1024] = "";
    struct errbuf e;
    struct ogr_hold *o;
    int nl, li, n = 0;

    if (host_guard_input(h, "", arg, path, sizeof path, &e) != 0)
        return raise_plain(L, e.msg);
    lua_settop(L, 2);
    o = host_box_push(L, sizeof *o, release_ogr);          /* 3: box */
    GDALAllRegister();
    o->ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (!o->ds) {
        lua_pushfstring(L, "cannot open %s as a vector file (GeoJSON, GeoPackage, Shapefile ...)", path);
        return lua_error(L);
    }
    o->wgs84 = OSRNewSpatialReference(NULL);
    OSRSetWellKnownGeogCS(o->wgs84, "WGS84");
    OSRSetAxisMappingStrategy(o->wgs84, OAMS_TRADITIONAL_GIS_ORDER);
    lua_newtable(L);                                        /* 4: the texts */
    nl = GDALDatasetGetLayerCount(o->ds);
    for (li = 0; li < nl && !err[0]; li++) {
        OGRLayerH layer = GDALDatasetGetLayer(o->ds, li);
        OGRSpatialReferenceH srs;

        if (layer_name && strcmp(OGR_L_GetName(layer), layer_name) != 0)
            continue;
        srs = OGR_L_GetSpatialRef(layer);
        if (srs && !OSRIsSame(srs, o->wgs84)) {
            OGRSpatialReferenceH src = OSRClone(srs);
            OSRSetAxisMappingStrategy(src, OAMS_TRADITIONAL_GIS_ORDER);
            o->ct = OCTNewCoordinateTransformation(src, o->wgs84);
            OSRDestroySpatialReference(src);
            if (!o->ct) {
                snprintf(err, sizeof err, "cannot transform layer %s to EPSG:4326", OGR_L_GetName(layer));
                break;
            }
        }
        OGR_L_ResetReading(layer);
        while ((o->f = OGR_L_GetNextFeature(layer)) != NULL) {
            OGRGeometryH g = OGR_F_GetGeometryRef(o->f);
            if (g) {
                if (o->ct && OGR_G_Transform(g, o->ct) != OGRERR_NONE) {
                    snprintf(err, sizeof err, "cannot transform a geometry of %.900s", path);
                    OGR_F_Destroy(o->f);
                    o->f = NULL;
                    break;
                }
                o->txt = OGR_G_ExportToJson(g);
                if (o->txt) {
                    lua_pushstring(L, o->txt);
                    lua_rawseti(L, -2, ++n);
                    CPLFree(o->txt);
                    o->txt = NULL;
                }
            }
            OGR_F_Destroy(o->f);
            o->f = NULL;
        }
        if (o->ct) {
            OCTDestroyCoordinateTransformation(o->ct);
            o->ct = NULL;
        }
    }
    host_box_release(o);
    if (err[0])
        return raise_plain(L, err);
    return 1;
}

/* [-0, +1, m] host.spec_names: {format = {...}, compression = {...},
 * dtype = {...}}, the words core/spec.c parses, for recipe.lua's schema. */
static void push_spec_names(lua_State *L)
{
    static const struct {
        const char *key;
        const char *(*at)(size_t);
    } lists[] = {{"format", spec_format_name_at},
                 {"compression", spec_compression_name_at},
                 {"dtype", spec_dtype_name_at}};
    size_t i, j;
    const char *name;

    lua_createtable(L, 0, 3);
    for (i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        lua_newtable(L);
        for (j = 0; (name = lists[i].at(j)) != NULL; j++) {
            lua_pushstring(L, name);
            lua_rawseti(L, -2, (lua_Integer)j + 1);
        }
        lua_setfield(L, -2, lists[i].key);
    }
}

void host_bridge_register(lua_State *L, struct host *h)
{
    static const luaL_Reg fns[] = {
        {"json_decode", l_json_decode},
        {"compute", l_compute},
        {"algorithms", l_algorithms},
        {"read_text", l_read_text},
        {"ogr_read", l_ogr_read},
        {"download", host_download_lua},
        {"plan", host_plan_lua},
        {"region_meets", host_region_meets_lua},
        {"lock_mode", host_lock_mode_lua},
        {"lock_read", host_lock_read_lua},
        {"lock_write", host_lock_write_lua},
        {NULL, NULL},
    };
    luaL_setfuncs(L, fns, 0);
    host_termimg_register(L);
    lua_pushstring(L, h->recipe_path);
    lua_setfield(L, -2, "recipe_path");
    lua_pushstring(L, h->recipe_dir[0] ? h->recipe_dir : ".");
    lua_setfield(L, -2, "recipe_dir");
    push_spec_names(L);
    lua_setfield(L, -2, "spec_names");
}
