/* The EE REST discovery document and the routes of its unimplemented methods (see discovery.h). */
#include "emulator/discovery.h"

#include <json-c/json.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const unsigned char emu_discovery_json[];
extern const size_t emu_discovery_json_len;

/* The version the embedded document's paths are written for. */
#define DOC_VERSION "v1"
#define DOC_MAX_METHODS 96
/* The document nests resources three deep (projects.maps.tiles); allow some more. */
#define DOC_MAX_DEPTH 8

struct doc_method {
    char id[96];          /* "projects.thumbnails.create" */
    char http[8];         /* "POST" */
    char path[160];       /* "v1/{+parent}/thumbnails" */
    size_t literal;       /* characters of the path outside parameters: more is more specific */
    int has_verb;         /* the path ends in ":verb" */
    int served;           /* the router serves it: its paths are the router's to judge */
    regex_t re;
};

struct discovery {
    struct doc_method m[DOC_MAX_METHODS];
    int n;
};

static const char *const versions[] = {"v1", "v1beta", "v1alpha"};

static json_object *doc_parse(void)
{
    json_tokener *tok = json_tokener_new();
    json_object *doc;

    if (!tok)
        return NULL;
    doc = json_tokener_parse_ex(tok, (const char *)emu_discovery_json,
                                (int)emu_discovery_json_len);
    json_tokener_free(tok);
    if (doc && !json_object_is_type(doc, json_type_object)) {
        json_object_put(doc);
        doc = NULL;
    }
    return doc;
}

static const char *obj_str(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

/* Appends s to the regex in out, escaping what ERE treats specially. */
static int re_literal(struct buf *out, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strchr(".[]{}()\\*+?^$|", s[i]) && buf_append(out, "\\", 1) != 0)
            return -1;
        if (buf_append(out, &s[i], 1) != 0)
            return -1;
    }
    return 0;
}

/* The regex of a parameter: its "pattern" without anchors, else one segment. */
static int re_param(struct buf *out, json_object *params, const char *name, size_t n)
{
    char key[64];
    json_object *p;
    const char *pat;
    size_t len;

    if (n >= sizeof key)
        return -1;
    memcpy(key, name, n);
    key[n] = '\0';
    pat = json_object_object_get_ex(params, key, &p) ? obj_str(p, "pattern") : NULL;
    if (!pat)
        return buf_append_str(out, "([^/]+)");
    len = strlen(pat);
    if (pat[0] == '^') {
        pat++;
        len--;
    }
    if (len > 0 && pat[len - 1] == '$')
        len--;
    if (buf_append(out, "(", 1) != 0 || buf_append(out, pat, len) != 0)
        return -1;
    return buf_append(out, ")", 1);
}

/* Appends a value for a path parameter that its pattern accepts: "x1" for
 * each segment, "a1" for a ".+" rest ("projects/x1/assets/a1"), "1" for an
 * integer. Returns -1 for a pattern it cannot fill. */
static int sample_param(struct buf *out, json_object *params, const char *name, size_t n)
{
    char key[64];
    json_object *p;
    const char *pat, *type;

    if (n >= sizeof key)
        return -1;
    memcpy(key, name, n);
    key[n] = '\0';
    if (!json_object_object_get_ex(params, key, &p))
        return -1;
    type = obj_str(p, "type");
    pat = obj_str(p, "pattern");
    if (!pat)
        return buf_append_str(out, type && strcmp(type, "integer") == 0 ? "1" : "x1");
    if (*pat == '^')
        pat++;
    while (*pat && strcmp(pat, "$") != 0) {
        if (strncmp(pat, "[^/]+", 5) == 0) {
            if (buf_append_str(out, "x1") != 0)
                return -1;
            pat += 5;
        } else if (strncmp(pat, ".+", 2) == 0) {
            if (buf_append_str(out, "a1") != 0)
                return -1;
            pat += 2;
        } else if (strchr(".[]{}()\\*+?^$|", *pat)) {
            return -1;
        } else if (buf_append(out, pat++, 1) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Whether the router itself serves this method: a sample path of the method
 * is routed (ROUTE_OK) for its HTTP method. Routes the router gains later are
 * found the same way, with no list to keep in step. */
static int method_served(const struct doc_method *dm, json_object *params)
{
    struct buf path;
    struct route rt;
    const char *p = dm->path;
    int served = 0, ok = 1;

    buf_init(&path, 4096);
    if (buf_append(&path, "/", 1) != 0)
        ok = 0;
    while (ok && *p) {
        const char *open = strchr(p, '{'), *close;
        size_t n = open ? (size_t)(open - p) : strlen(p);

        if (buf_append(&path, p, n) != 0 || (open && !(close = strchr(open, '}')))) {
            ok = 0;
            break;
        }
        if (!open)
            break;
        open += open[1] == '+' ? 2 : 1;
        if (sample_param(&path, params, open, (size_t)(close - open)) != 0)
            ok = 0;
        p = close + 1;
    }
    if (ok && path.data && regexec(&dm->re, path.data, 0, NULL, 0) == 0)
        served = router_match(dm->http, path.data, &rt) == ROUTE_OK;
    buf_free(&path);
    return served;
}

/* Compiles a method's path template ("v1/{+name}:getPixels") into a regex
 * over request paths of any served version. */
static int method_compile(struct doc_method *dm, json_object *params, struct errbuf *e)
{
    struct buf re;
    const char *p = dm->path + strlen(DOC_VERSION "/"), *last_close = NULL;
    int rc = 0;

    buf_init(&re, 0);
    if (buf_append_str(&re, "^/(v1|v1beta|v1alpha)/") != 0)
        rc = -1;
    dm->literal = 0;
    while (rc == 0 && *p) {
        const char *open = strchr(p, '{'), *close;
        size_t n = open ? (size_t)(open - p) : strlen(p);

        if (re_literal(&re, p, n) != 0) {
            rc = -1;
            break;
        }
        dm->literal += n;
        if (!open)
            break;
        close = strchr(open, '}');
        if (!close) {
            rc = err_set(e, ERR_PARSE, "discovery method %s: unclosed '{' in path %s", dm->id,
                         dm->path);
            break;
        }
        open += open[1] == '+' ? 2 : 1;
        if (re_param(&re, params, open, (size_t)(close - open)) != 0) {
            rc = -1;
            break;
        }
        last_close = close;
        p = close + 1;
    }
    if (rc == 0 && buf_append(&re, "$", 1) != 0)
        rc = -1;
    if (rc == -1)
        rc = err_set(e, ERR_PARSE, "discovery method %s: bad path %s", dm->id, dm->path);
    if (rc == 0 && regcomp(&dm->re, re.data, REG_EXTENDED | REG_NOSUB) != 0)
        rc = err_set(e, ERR_PARSE, "discovery method %s: cannot compile /%s", dm->id, re.data);
    dm->has_verb = last_close ? strchr(last_close, ':') != NULL : strchr(dm->path, ':') != NULL;
    buf_free(&re);
    return rc;
}

static int add_method(struct discovery *d, json_object *m, struct errbuf *e)
{
    struct doc_method *dm;
    const char *id = obj_str(m, "id"), *http = obj_str(m, "httpMethod"), *path = obj_str(m, "path");
    json_object *params = NULL;

    if (!id || !http || !path)
        return err_set(e, ERR_PARSE, "a discovery method lacks id, httpMethod or path");
    if (strncmp(path, DOC_VERSION "/", strlen(DOC_VERSION "/")) != 0)
        return err_set(e, ERR_PARSE, "discovery method %s: path %s is not under " DOC_VERSION "/",
                       id, path);
    if (d->n >= DOC_MAX_METHODS)
        return err_set(e, ERR_LIMIT, "the discovery document has more than %d methods",
                       DOC_MAX_METHODS);
    if (strncmp(id, "earthengine.", 12) == 0)
        id += 12;
    dm = &d->m[d->n];
    if ((size_t)snprintf(dm->id, sizeof dm->id, "%s", id) >= sizeof dm->id ||
        (size_t)snprintf(dm->http, sizeof dm->http, "%s", http) >= sizeof dm->http ||
        (size_t)snprintf(dm->path, sizeof dm->path, "%s", path) >= sizeof dm->path)
        return err_set(e, ERR_LIMIT, "discovery method %s: a field is too long", id);
    json_object_object_get_ex(m, "parameters", &params);
    if (method_compile(dm, params, e) != 0)
        return -1;
    dm->served = method_served(dm, params);
    d->n++;
    return 0;
}

static int collect(struct discovery *d, json_object *node, int depth, struct errbuf *e)
{
    json_object *methods, *resources;

    if (depth > DOC_MAX_DEPTH)
        return err_set(e, ERR_LIMIT, "the discovery document nests resources too deep");
    if (json_object_object_get_ex(node, "methods", &methods)) {
        json_object_object_foreach(methods, name, m) {
            (void)name;
            if (add_method(d, m, e) != 0)
                return -1;
        }
    }
    if (json_object_object_get_ex(node, "resources", &resources)) {
        json_object_object_foreach(resources, name, sub) {
            (void)name;
            if (collect(d, sub, depth + 1, e) != 0)
                return -1;
        }
    }
    return 0;
}

int discovery_create(struct discovery **out, struct errbuf *e)
{
    struct discovery *d;
    json_object *doc;
    int rc;

    *out = NULL;
    d = calloc(1, sizeof *d);
    if (!d)
        return err_set(e, ERR_NOMEM, "out of memory");
    doc = doc_parse();
    rc = doc ? collect(d, doc, 0, e)
             : err_set(e, ERR_PARSE, "the embedded discovery document is not valid JSON");
    json_object_put(doc);
    if (rc != 0) {
        discovery_destroy(d);
        return rc;
    }
    *out = d;
    return 0;
}

void discovery_destroy(struct discovery *d)
{
    int i;

    if (!d)
        return;
    for (i = 0; i < d->n; i++)
        regfree(&d->m[i].re);
    free(d);
}

/* Rewrites "v1/..." paths of every method to version. */
static int rewrite_paths(json_object *node, const char *version, int depth)
{
    static const char *const keys[] = {"path", "flatPath"};
    json_object *methods, *resources;
    char path[256];
    size_t k, skip = strlen(DOC_VERSION "/");

    if (depth > DOC_MAX_DEPTH)
        return -1;
    if (json_object_object_get_ex(node, "methods", &methods)) {
        json_object_object_foreach(methods, name, m) {
            (void)name;
            for (k = 0; k < sizeof keys / sizeof keys[0]; k++) {
                const char *p = obj_str(m, keys[k]);
                if (!p || strncmp(p, DOC_VERSION "/", skip) != 0)
                    continue;
                if ((size_t)snprintf(path, sizeof path, "%s/%s", version, p + skip) >= sizeof path)
                    return -1;
                json_object_object_add(m, keys[k], json_object_new_string(path));
            }
        }
    }
    if (json_object_object_get_ex(node, "resources", &resources)) {
        json_object_object_foreach(resources, name, sub) {
            (void)name;
            if (rewrite_paths(sub, version, depth + 1) != 0)
                return -1;
        }
    }
    return 0;
}

int discovery_render(const char *version, const char *root_url, struct buf *out,
                     struct errbuf *e)
{
    json_object *doc = doc_parse();   /* per request: no json-c object is shared between threads */
    char id[64];
    int rc = 0;

    if (!doc)
        return err_set(e, ERR_PARSE, "the embedded discovery document is not valid JSON");
    snprintf(id, sizeof id, "earthengine:%s", version);
    json_object_object_add(doc, "id", json_object_new_string(id));
    json_object_object_add(doc, "version", json_object_new_string(version));
    json_object_object_add(doc, "rootUrl", json_object_new_string(root_url));
    json_object_object_add(doc, "baseUrl", json_object_new_string(root_url));
    json_object_object_add(doc, "mtlsRootUrl", json_object_new_string(root_url));
    json_object_object_add(doc, "servicePath", json_object_new_string(""));
    json_object_object_add(doc, "basePath", json_object_new_string(""));
    if (rewrite_paths(doc, version, 0) != 0)
        rc = err_set(e, ERR_LIMIT, "a discovery path is too long");
    buf_reset(out);
    if (rc == 0 && buf_append_str(out, json_object_to_json_string_ext(
                                           doc, JSON_C_TO_STRING_PLAIN |
                                                    JSON_C_TO_STRING_NOSLASHESCAPE)) != 0)
        rc = err_set(e, ERR_NOMEM, "out of memory");
    json_object_put(doc);
    return rc;
}

/* The project of "/{v}/projects/{p}/..." or "/{v}/projects/{p}:verb". */
static void path_project(const char *path, struct route *rt)
{
    const char *p = strstr(path, "/projects/"), *end;
    size_t n;

    if (!p)
        return;
    p += 10;
    end = strchr(p, '/');
    if (!end) {
        end = strrchr(p, ':');
        if (!end)
            end = p + strlen(p);
    }
    n = (size_t)(end - p);
    if (n > 0 && n < sizeof rt->project) {
        memcpy(rt->project, p, n);
        rt->project[n] = '\0';
    }
}

enum route_result discovery_route(const struct discovery *d, const char *method,
                                  const char *path, struct route *rt)
{
    const struct doc_method *best = NULL, *other = NULL;
    const char *last = strrchr(path, '/');
    int path_has_verb = last && strchr(last, ':') != NULL;
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    size_t i;
    int k;

    if (!d)
        return ROUTE_NOT_FOUND;
    for (k = 0; k < d->n; k++) {
        const struct doc_method *m = &d->m[k];
        /* "{+name}" patterns end in ".+": a path ending in ":verb" belongs to
         * the method with that verb, not to the verb-less get/delete. */
        if (path_has_verb && !m->has_verb)
            continue;
        if (regexec(&m->re, path, 0, NULL, 0) != 0)
            continue;
        /* A path of a method the router serves, with its HTTP method, that
         * the router refused (an id too long, ...): the router's 404 stands. */
        if (m->served && strcmp(m->http, want) == 0)
            return ROUTE_NOT_FOUND;
        if (m->served)
            continue;
        if (strcmp(m->http, want) == 0) {
            if (!best || m->literal > best->literal)
                best = m;
        } else if (!other || m->literal > other->literal) {
            other = m;
        }
    }
    if (!best && !other)
        return ROUTE_NOT_FOUND;
    memset(rt, 0, sizeof *rt);
    for (i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        size_t n = strlen(versions[i]);
        if (strncmp(path + 1, versions[i], n) == 0 && path[1 + n] == '/')
            snprintf(rt->version, sizeof rt->version, "%s", versions[i]);
    }
    path_project(path, rt);
    rt->ee = 1;
    rt->kind = ROUTE_UNIMPLEMENTED;
    if (!best) {
        rt->method = other->http;
        snprintf(rt->method_id, sizeof rt->method_id, "%s", other->id);
        return ROUTE_BAD_METHOD;
    }
    rt->method = best->http;
    snprintf(rt->method_id, sizeof rt->method_id, "%s", best->id);
    return ROUTE_OK;
}

/* The root URL the client reached us at: its Host header when that is a
 * plain host[:port], else the address the server listens on. */
static void root_url(const struct emu_ctx *c, const struct emu_request *q, char *out, size_t cap)
{
    const char *host = q->header ? q->header(q, "Host") : NULL;
    size_t n = host ? strlen(host) : 0;

    if (n > 0 && n < 200 &&
        strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") == n)
        snprintf(out, cap, "http://%s/", host);
    else
        snprintf(out, cap, "%s/", c->base_url ? c->base_url : "http://127.0.0.1");
}

int handle_discovery(const struct emu_ctx *c, const struct emu_request *q,
                     struct emu_response *r)
{
    const char *version = q->version ? q->version : q->query ? q->query(q, "version") : NULL;
    char root[256];
    struct errbuf e;
    size_t i;

    /* The Python client always names one; Google's default is v1. */
    if (!version || !*version)
        version = "v1";
    for (i = 0; i < sizeof versions / sizeof versions[0]; i++)
        if (strcmp(version, versions[i]) == 0)
            break;
    if (i == sizeof versions / sizeof versions[0]) {
        emu_error(r, 404, "No discovery document for earthengine version '%.64s': the emulator "
                          "serves v1, v1beta and v1alpha.", version);
        return 0;
    }
    root_url(c, q, root, sizeof root);
    if (discovery_render(versions[i], root, &r->body, &e) != 0) {
        emu_error(r, 500, "An internal error has occurred (%s).", e.msg);
        return 0;
    }
    r->status = 200;
    snprintf(r->content_type, sizeof r->content_type, "application/json; charset=UTF-8");
    return 0;
}

/* 400 FAILED_PRECONDITION (gRPC's HTTP mapping of that status), not 501:
 * googleapiclient retries every 5xx, so the Python client would wait through
 * five backed-off retries (about 20 s) before showing this message. */
int handle_unimplemented(const struct emu_ctx *c, const struct emu_request *q,
                         struct emu_response *r)
{
    char msg[512];
    json_object *err, *top;

    (void)c;
    snprintf(msg, sizeof msg, "%s is an Earth Engine method the emulator lacks (%s %s).",
             q->method_id && *q->method_id ? q->method_id : "This method", q->method,
             q->path ? q->path : "");
    err = json_object_new_object();
    top = json_object_new_object();
    if (!err || !top) {
        json_object_put(err);
        json_object_put(top);
        emu_error(r, 500, "An internal error has occurred.");
        return 0;
    }
    json_object_object_add(err, "code", json_object_new_int(400));
    json_object_object_add(err, "message", json_object_new_string(msg));
    json_object_object_add(err, "status", json_object_new_string("FAILED_PRECONDITION"));
    json_object_object_add(top, "error", err);
    emu_json(r, 400, top);
    return 0;
}
