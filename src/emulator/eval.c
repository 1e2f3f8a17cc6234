/*
 * Expression graph evaluation: the per-request context (allocations,
 * coordinate transformations), ValueNode decoding, value references with
 * cycle and depth checks, closures, and the function table.
 * The functions themselves live in eval_funcs.c (values, collections,
 * filters, geometries) and eval_image.c (images).
 */
#include "emulator/eval_int.h"

#include <errno.h>
#include <gdal/cpl_error.h>
#include <gdal/ogr_api.h>
#include <gdal/ogr_srs_api.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The backend rejects expressions nested deeper than this (ee-api.md §5). */
#define EVAL_MAX_DEPTH 100
#define EVAL_MAX_XFORMS 16

struct owned {
    struct owned *next;
    int kind;          /* 0 memory, 1 json, 2 OGR geometry */
    void *p;
};

struct xform {
    char src[64], dst[64];
    OGRCoordinateTransformationH h;
};

struct named {
    const char *name;
    json_object *node;
    struct ev_value *memo;
    int busy;
};

struct ev_ctx {
    const struct catalog *cat;
    struct owned *owned;
    struct xform xf[EVAL_MAX_XFORMS];
    int nxf;
    struct named *names;
    int nnames;
};

int eval_ctx_new(struct ev_ctx **out, const struct catalog *cat)
{
    struct ev_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return ERR_NOMEM;
    x->cat = cat;
    *out = x;
    return 0;
}

void eval_ctx_free(struct ev_ctx *x)
{
    struct owned *o, *next;
    int i;

    if (!x)
        return;
    for (o = x->owned; o; o = next) {
        next = o->next;
        if (o->kind == 1)
            json_object_put(o->p);
        else if (o->kind == 2)
            OGR_G_DestroyGeometry(o->p);
        else
            free(o->p);
        free(o);
    }
    for (i = 0; i < x->nxf; i++)
        OCTDestroyCoordinateTransformation(x->xf[i].h);
    free(x->names);
    free(x);
}

const struct catalog *eval_catalog(const struct ev_ctx *x)
{
    return x->cat;
}

static int own(struct ev_ctx *x, int kind, void *p)
{
    struct owned *o = malloc(sizeof *o);
    if (!o)
        return ERR_NOMEM;
    o->kind = kind;
    o->p = p;
    o->next = x->owned;
    x->owned = o;
    return 0;
}

void *eval_alloc(struct ev_ctx *x, size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p)
        return NULL;
    if (own(x, 0, p) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

json_object *eval_own_json(struct ev_ctx *x, json_object *o)
{
    if (!o)
        return NULL;
    if (own(x, 1, o) != 0) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

void *eval_own_ogr(struct ev_ctx *x, void *g)
{
    if (!g)
        return NULL;
    if (own(x, 2, g) != 0) {
        OGR_G_DestroyGeometry(g);
        return NULL;
    }
    return g;
}

char *eval_strdup(struct ev_ctx *x, const char *s)
{
    size_t n = strlen(s);
    char *p = eval_alloc(x, n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

static int epsg_code(const char *crs)
{
    char *end;
    long v;
    if (strncmp(crs, "EPSG:", 5) != 0)
        return -1;
    v = strtol(crs + 5, &end, 10);
    if (*end || v <= 0 || v > INT_MAX)
        return -1;
    return (int)v;
}

static OGRSpatialReferenceH srs_new(const char *crs)
{
    int code = epsg_code(crs);
    OGRSpatialReferenceH s;
    if (code < 0)
        return NULL;
    s = OSRNewSpatialReference(NULL);
    if (!s)
        return NULL;
    /* An unknown code is the client's error, reported in the response;
     * keep PROJ's own complaint out of the server log. */
    CPLPushErrorHandler(CPLQuietErrorHandler);
    if (OSRImportFromEPSG(s, code) != OGRERR_NONE) {
        CPLPopErrorHandler();
        OSRDestroySpatialReference(s);
        return NULL;
    }
    CPLPopErrorHandler();
    /* x = easting/longitude, y = northing/latitude, whatever EPSG says. */
    OSRSetAxisMappingStrategy(s, OAMS_TRADITIONAL_GIS_ORDER);
    return s;
}

int eval_crs_valid(const char *crs)
{
    OGRSpatialReferenceH s = srs_new(crs);
    if (!s)
        return 0;
    OSRDestroySpatialReference(s);
    return 1;
}

int eval_crs_geographic(struct ev_ctx *x, const char *crs)
{
    OGRSpatialReferenceH s = srs_new(crs);
    int geo;
    (void)x;
    if (!s)
        return -1;
    geo = OSRIsGeographic(s) ? 1 : 0;
    OSRDestroySpatialReference(s);
    return geo;
}

void *eval_transform(struct ev_ctx *x, const char *src, const char *dst, struct errbuf *e)
{
    OGRSpatialReferenceH a = NULL, b = NULL;
    OGRCoordinateTransformationH h = NULL;
    int i;

    for (i = 0; i < x->nxf; i++)
        if (strcmp(x->xf[i].src, src) == 0 && strcmp(x->xf[i].dst, dst) == 0)
            return x->xf[i].h;
    if (x->nxf == EVAL_MAX_XFORMS) {
        err_set(e, ERR_LIMIT, "Too many distinct projections in one request.");
        return NULL;
    }
    a = srs_new(src);
    b = srs_new(dst);
    if (!a || !b) {
        err_set(e, ERR_USAGE, "Invalid CRS: '%s'. Only EPSG codes are supported.", a ? dst : src);
        goto done;
    }
    h = OCTNewCoordinateTransformation(a, b);
    if (!h) {
        err_set(e, ERR_USAGE, "Unable to transform from %s to %s.", src, dst);
        goto done;
    }
    snprintf(x->xf[x->nxf].src, sizeof x->xf[0].src, "%s", src);
    snprintf(x->xf[x->nxf].dst, sizeof x->xf[0].dst, "%s", dst);
    x->xf[x->nxf++].h = h;
done:
    if (a)
        OSRDestroySpatialReference(a);
    if (b)
        OSRDestroySpatialReference(b);
    return h;
}

/* ---------------------------------------------------------------- values */

struct ev_value *ev_new(struct ev_ctx *x, enum ev_kind k)
{
    struct ev_value *v = eval_alloc(x, sizeof *v);
    if (v)
        v->kind = k;
    return v;
}

struct ev_value *ev_num(struct ev_ctx *x, double d)
{
    struct ev_value *v = ev_new(x, EV_NUM);
    if (v) {
        v->num = d;
        v->is_int = d == floor(d) && fabs(d) < 9007199254740992.0;
    }
    return v;
}

struct ev_value *ev_str(struct ev_ctx *x, const char *s)
{
    struct ev_value *v = ev_new(x, EV_STR);
    if (v && !(v->str = eval_strdup(x, s)))
        return NULL;
    return v;
}

struct ev_value *ev_list(struct ev_ctx *x, int n)
{
    struct ev_value *v = ev_new(x, EV_LIST);
    if (v && !(v->items = eval_alloc(x, sizeof *v->items * (size_t)(n ? n : 1))))
        return NULL;
    if (v)
        v->n = n;
    return v;
}

struct ev_value *ev_dict(struct ev_ctx *x, int n)
{
    struct ev_value *v = ev_list(x, n);
    if (!v)
        return NULL;
    v->kind = EV_DICT;
    if (!(v->keys = eval_alloc(x, sizeof *v->keys * (size_t)(n ? n : 1))))
        return NULL;
    return v;
}

struct ev_value *ev_from_json(struct ev_ctx *x, json_object *j)
{
    struct ev_value *v;
    int i = 0, n;

    switch (json_object_get_type(j)) {
    case json_type_null:
        return ev_new(x, EV_NULL);
    case json_type_boolean:
        if ((v = ev_new(x, EV_BOOL)))
            v->b = json_object_get_boolean(j);
        return v;
    case json_type_int:
        if ((v = ev_num(x, (double)json_object_get_int64(j)))) {
            v->is_int = 1;
            v->has_i64 = 1;
            v->i64 = json_object_get_int64(j);
        }
        return v;
    case json_type_double:
        if ((v = ev_num(x, json_object_get_double(j))))
            v->is_int = 0;
        return v;
    case json_type_string:
        return ev_str(x, json_object_get_string(j));
    case json_type_array:
        n = (int)json_object_array_length(j);
        if (!(v = ev_list(x, n)))
            return NULL;
        for (i = 0; i < n; i++)
            if (!(v->items[i] = ev_from_json(x, json_object_array_get_idx(j, (size_t)i))))
                return NULL;
        return v;
    case json_type_object:
        n = json_object_object_length(j);
        if (!(v = ev_dict(x, n)))
            return NULL;
        {
            json_object_object_foreach(j, key, val) {
                if (!(v->keys[i] = eval_strdup(x, key)) || !(v->items[i] = ev_from_json(x, val)))
                    return NULL;
                i++;
            }
        }
        return v;
    }
    return NULL;
}

const char *ev_type_name(const struct ev_value *v)
{
    if (!v)
        return "null";
    switch (v->kind) {
    case EV_NULL: return "null";
    case EV_BOOL: return "Boolean";
    case EV_NUM: return v->is_int ? "Integer" : "Float";
    case EV_STR: return "String";
    case EV_LIST: return "List<Object>";
    case EV_DICT: return "Dictionary<Object>";
    case EV_DATE: return "Date";
    case EV_DRANGE: return "DateRange";
    case EV_GEOM: return "Geometry";
    case EV_FEATURE: return "Feature";
    case EV_FILTER: return "Filter";
    case EV_IMAGE: return "Image<unknown bands>";
    case EV_COLL: return "ImageCollection";
    case EV_PROJ: return "Projection";
    case EV_FUNC: return "Algorithm";
    case EV_REDUCER: return "Reducer";
    }
    return "Object";
}

int ev_type_error(struct errbuf *e, const struct ev_args *a, const char *arg,
                  const char *expected, const struct ev_value *got)
{
    return err_set(e, ERR_USAGE, "%s, argument '%s': Invalid type.\nExpected type: %s.\n"
                   "Actual type: %s.", a->fname, arg, expected, ev_type_name(got));
}

struct ev_value *ev_arg(const struct ev_args *a, const char *name)
{
    int i;
    for (i = 0; i < a->n; i++)
        if (strcmp(a->names[i], name) == 0)
            return a->vals[i];
    return NULL;
}

int ev_require(const struct ev_args *a, const char *name, struct ev_value **out, struct errbuf *e)
{
    struct ev_value *v = ev_arg(a, name);
    if (!v || v->kind == EV_NULL)
        return err_set(e, ERR_USAGE, "%s: Parameter '%s' is required.", a->fname, name);
    *out = v;
    return 0;
}

/* ------------------------------------------------------------ the graph */

struct env {
    const struct env *up;
    const struct ev_func *f;
    struct ev_value **args;
};

static int eval_node(struct ev_ctx *x, json_object *node, const struct env *env, int depth,
                     struct ev_value **out, struct errbuf *e);

static struct named *find_named(struct ev_ctx *x, const char *name)
{
    int i;
    for (i = 0; i < x->nnames; i++)
        if (strcmp(x->names[i].name, name) == 0)
            return &x->names[i];
    return NULL;
}

static int eval_named(struct ev_ctx *x, const char *name, const struct env *env, int depth,
                      struct ev_value **out, struct errbuf *e)
{
    struct named *nv = find_named(x, name);
    int rc;

    if (!nv)
        return err_set(e, ERR_USAGE, "Invalid expression: reference to undefined value '%s'.", name);
    /* Values outside every function body cannot depend on an argument, so
     * they are computed once; inside a body they are recomputed. */
    if (!env && nv->memo) {
        *out = nv->memo;
        return 0;
    }
    if (nv->busy)
        return err_set(e, ERR_USAGE, "Invalid expression: value '%s' refers to itself.", name);
    nv->busy = 1;
    rc = eval_node(x, nv->node, env, depth + 1, out, e);
    nv->busy = 0;
    if (rc == 0 && !env)
        nv->memo = *out;
    return rc;
}

int ev_call_func(struct ev_ctx *x, const struct ev_func *f, struct ev_value **args, int depth,
                 struct ev_value **out, struct errbuf *e)
{
    struct env env = {NULL, f, args};
    if (depth > EVAL_MAX_DEPTH)
        return err_set(e, ERR_USAGE, "Expression nesting is too deep (more than %d levels).",
                       EVAL_MAX_DEPTH);
    return eval_named(x, f->body, &env, depth, out, e);
}

static int call_closure(struct ev_ctx *x, const char *fname, const struct ev_func *f,
                        json_object *jargs, const struct env *env, int depth,
                        struct ev_value **out, struct errbuf *e)
{
    struct ev_value **args = eval_alloc(x, sizeof *args * (size_t)(f->nargs + 1));
    int i, rc;

    if (!args)
        return err_set(e, ERR_NOMEM, "out of memory");
    for (i = 0; i < f->nargs; i++) {
        json_object *an = NULL;
        if (jargs && json_object_object_get_ex(jargs, f->argnames[i], &an)) {
            if ((rc = eval_node(x, an, env, depth + 1, &args[i], e)) != 0)
                return rc;
        } else if (!(args[i] = ev_new(x, EV_NULL))) {
            return err_set(e, ERR_NOMEM, "out of memory");
        }
    }
    (void)fname;
    return ev_call_func(x, f, args, depth + 1, out, e);
}

static int eval_invocation(struct ev_ctx *x, json_object *inv, const struct env *env, int depth,
                           struct ev_value **out, struct errbuf *e)
{
    json_object *jname = NULL, *jref = NULL, *jargs = NULL;
    const struct ev_algo *algo;
    struct ev_args a;
    int i = 0, n, rc;

    if (json_object_get_type(inv) != json_type_object)
        return err_set(e, ERR_USAGE, "Invalid expression: functionInvocationValue must be an object.");
    json_object_object_get_ex(inv, "arguments", &jargs);
    if (jargs && json_object_get_type(jargs) != json_type_object)
        return err_set(e, ERR_USAGE, "Invalid expression: 'arguments' must be an object.");
    if (json_object_object_get_ex(inv, "functionReference", &jref)) {
        struct ev_value *fv;
        if (json_object_get_type(jref) != json_type_string)
            return err_set(e, ERR_USAGE, "Invalid expression: functionReference must be a string.");
        if ((rc = eval_named(x, json_object_get_string(jref), env, depth, &fv, e)) != 0)
            return rc;
        if (fv->kind != EV_FUNC)
            return err_set(e, ERR_USAGE, "Invalid expression: value '%s' is not a function.",
                           json_object_get_string(jref));
        return call_closure(x, json_object_get_string(jref), fv->func, jargs, env, depth, out, e);
    }
    if (!json_object_object_get_ex(inv, "functionName", &jname) ||
        json_object_get_type(jname) != json_type_string)
        return err_set(e, ERR_USAGE, "Invalid expression: functionInvocationValue needs a "
                       "functionName or a functionReference.");
    a.fname = json_object_get_string(jname);
    if (!(algo = ev_find_algo(a.fname)))
        return err_set(e, ERR_USAGE, "Unknown function: %s", a.fname);
    n = jargs ? json_object_object_length(jargs) : 0;
    a.n = n;
    a.names = eval_alloc(x, sizeof *a.names * (size_t)(n + 1));
    a.vals = eval_alloc(x, sizeof *a.vals * (size_t)(n + 1));
    a.depth = depth;
    if (!a.names || !a.vals)
        return err_set(e, ERR_NOMEM, "out of memory");
    if (jargs) {
        json_object_object_foreach(jargs, key, val) {
            a.names[i] = key;
            if ((rc = eval_node(x, val, env, depth + 1, &a.vals[i], e)) != 0)
                return rc;
            i++;
        }
    }
    return algo->fn(x, &a, out, e);
}

static int eval_node(struct ev_ctx *x, json_object *node, const struct env *env, int depth,
                     struct ev_value **out, struct errbuf *e)
{
    json_object *j;

    if (depth > EVAL_MAX_DEPTH)
        return err_set(e, ERR_USAGE, "Expression nesting is too deep (more than %d levels).",
                       EVAL_MAX_DEPTH);
    if (json_object_get_type(node) != json_type_object || json_object_object_length(node) != 1)
        return err_set(e, ERR_USAGE, "Invalid expression: a ValueNode must be an object with "
                       "exactly one field.");
    if (json_object_object_get_ex(node, "constantValue", &j)) {
        *out = ev_from_json(x, j);
    } else if (json_object_object_get_ex(node, "integerValue", &j)) {
        const char *s = json_object_get_string(j);
        char *end;
        long long v;
        errno = 0;   /* strtoll clamps out-of-range values; ERANGE tells */
        v = strtoll(s ? s : "", &end, 10);
        if (!s || !*s || *end || errno == ERANGE)
            return err_set(e, ERR_USAGE, "Invalid expression: bad integerValue '%s'.", s ? s : "");
        if ((*out = ev_num(x, (double)v))) {
            (*out)->is_int = 1;
            (*out)->has_i64 = 1;   /* exact beyond 2^53 for getInfo */
            (*out)->i64 = v;
        }
    } else if (json_object_object_get_ex(node, "bytesValue", &j)) {
        *out = ev_str(x, json_object_get_string(j));
    } else if (json_object_object_get_ex(node, "arrayValue", &j)) {
        json_object *vals = NULL;
        int i, n, rc;
        if (!json_object_object_get_ex(j, "values", &vals) ||
            json_object_get_type(vals) != json_type_array)
            return err_set(e, ERR_USAGE, "Invalid expression: arrayValue needs a 'values' list.");
        n = (int)json_object_array_length(vals);
        if (!(*out = ev_list(x, n)))
            return err_set(e, ERR_NOMEM, "out of memory");
        for (i = 0; i < n; i++)
            if ((rc = eval_node(x, json_object_array_get_idx(vals, (size_t)i), env, depth + 1,
                                &(*out)->items[i], e)) != 0)
                return rc;
    } else if (json_object_object_get_ex(node, "dictionaryValue", &j)) {
        json_object *vals = NULL;
        int i = 0, rc;
        if (!json_object_object_get_ex(j, "values", &vals) ||
            json_object_get_type(vals) != json_type_object)
            return err_set(e, ERR_USAGE, "Invalid expression: dictionaryValue needs 'values'.");
        if (!(*out = ev_dict(x, json_object_object_length(vals))))
            return err_set(e, ERR_NOMEM, "out of memory");
        {
            json_object_object_foreach(vals, key, val) {
                (*out)->keys[i] = key;
                if ((rc = eval_node(x, val, env, depth + 1, &(*out)->items[i], e)) != 0)
                    return rc;
                i++;
            }
        }
    } else if (json_object_object_get_ex(node, "functionDefinitionValue", &j)) {
        json_object *names = NULL, *body = NULL;
        struct ev_func *f;
        int i;
        if (!json_object_object_get_ex(j, "argumentNames", &names) ||
            json_object_get_type(names) != json_type_array ||
            !json_object_object_get_ex(j, "body", &body) ||
            json_object_get_type(body) != json_type_string)
            return err_set(e, ERR_USAGE, "Invalid expression: functionDefinitionValue needs "
                           "argumentNames and body.");
        if (!find_named(x, json_object_get_string(body)))
            return err_set(e, ERR_USAGE, "Invalid expression: function body '%s' is not defined.",
                           json_object_get_string(body));
        if (!(*out = ev_new(x, EV_FUNC)) || !(f = eval_alloc(x, sizeof *f)))
            return err_set(e, ERR_NOMEM, "out of memory");
        f->nargs = (int)json_object_array_length(names);
        f->body = json_object_get_string(body);
        if (!(f->argnames = eval_alloc(x, sizeof *f->argnames * (size_t)(f->nargs + 1))))
            return err_set(e, ERR_NOMEM, "out of memory");
        for (i = 0; i < f->nargs; i++) {
            json_object *an = json_object_array_get_idx(names, (size_t)i);
            if (json_object_get_type(an) != json_type_string)
                return err_set(e, ERR_USAGE, "Invalid expression: argument names must be strings.");
            f->argnames[i] = json_object_get_string(an);
        }
        (*out)->func = f;
    } else if (json_object_object_get_ex(node, "functionInvocationValue", &j)) {
        return eval_invocation(x, j, env, depth, out, e);
    } else if (json_object_object_get_ex(node, "argumentReference", &j)) {
        const char *name = json_object_get_string(j);
        const struct env *s;
        int i;
        for (s = env; s; s = s->up)
            for (i = 0; i < s->f->nargs; i++)
                if (strcmp(s->f->argnames[i], name ? name : "") == 0) {
                    *out = s->args[i];
                    return 0;
                }
        return err_set(e, ERR_USAGE, "Invalid expression: argument reference '%s' outside "
                       "of its function.", name ? name : "");
    } else if (json_object_object_get_ex(node, "valueReference", &j)) {
        if (json_object_get_type(j) != json_type_string)
            return err_set(e, ERR_USAGE, "Invalid expression: valueReference must be a string.");
        return eval_named(x, json_object_get_string(j), env, depth, out, e);
    } else {
        json_object_object_foreach(node, key, val) {
            (void)val;
            return err_set(e, ERR_USAGE, "Invalid expression: unknown ValueNode kind '%s'.", key);
        }
    }
    if (!*out)
        return err_set(e, ERR_NOMEM, "out of memory");
    return 0;
}

int eval_expression(struct ev_ctx *x, json_object *expr, struct ev_value **out, struct errbuf *e)
{
    json_object *result = NULL, *values = NULL;
    int i = 0;

    if (!expr || json_object_get_type(expr) != json_type_object)
        return err_set(e, ERR_USAGE, "Invalid expression: 'expression' must be an object.");
    if (!json_object_object_get_ex(expr, "result", &result) ||
        json_object_get_type(result) != json_type_string)
        return err_set(e, ERR_USAGE, "Invalid expression: missing 'result'.");
    if (!json_object_object_get_ex(expr, "values", &values) ||
        json_object_get_type(values) != json_type_object)
        return err_set(e, ERR_USAGE, "Invalid expression: missing 'values'.");
    free(x->names);
    x->nnames = json_object_object_length(values);
    x->names = calloc((size_t)x->nnames + 1, sizeof *x->names);
    if (!x->names)
        return err_set(e, ERR_NOMEM, "out of memory");
    {
        json_object_object_foreach(values, key, val) {
            x->names[i].name = key;
            x->names[i].node = val;
            i++;
        }
    }
    return eval_named(x, json_object_get_string(result), NULL, 0, out, e);
}
