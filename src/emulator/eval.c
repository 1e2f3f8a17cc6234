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

/* The backend rejects expressions whose JSON nests deeper than this
 * (ee-api.md §3.2, §5); the clients keep theirs near 50 by naming a value
 * instead of inlining it, so a long chain is many shallow named values. */
#define EVAL_MAX_DEPTH 100
/* Bound on the evaluator's own recursion (nested ValueNodes, calls of
 * functions inside function bodies): references are evaluated without
 * recursion, so only a hostile graph comes near it, and it keeps the
 * server's thread stack safe whatever the request. */
#define EVAL_MAX_RECURSION 2000
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
    struct ev_value *memo;   /* the value outside every function body */
    int busy;                /* on the evaluation stack: a reference to it is a cycle */
    int *refs, nrefs;        /* the names this node references (indexes), once known */
    int refs_known;
};

struct ev_ctx {
    const struct catalog *cat;
    struct owned *owned;
    struct xform xf[EVAL_MAX_XFORMS];
    int nxf;
    struct named *names;
    int nnames;
    int64_t work_bytes, work_images;   /* pixels the evaluation rendered itself */
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
    for (i = 0; i < x->nnames; i++)
        free(x->names[i].refs);
    free(x->names);
    free(x);
}

const struct catalog *eval_catalog(const struct ev_ctx *x)
{
    return x->cat;
}

void eval_add_work(struct ev_ctx *x, int64_t bytes, int64_t images)
{
    x->work_bytes += bytes;
    x->work_images += images;
}

void eval_work(const struct ev_ctx *x, int64_t *bytes, int64_t *images)
{
    *bytes = x->work_bytes;
    *images = x->work_images;
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
    case EV_COLL: return v->coll && v->coll->features ? "FeatureCollection" : "ImageCollection";
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

/* The arguments of one call, chained to those of the calls its function
 * was defined in. Context-owned, so closures may outlive the call. */
struct ev_scope {
    const struct ev_scope *up;
    const struct ev_func *f;
    struct ev_value **args;
};

struct env {
    const struct ev_scope *scope;
    struct ev_value **memo;   /* per name: its value during this call */
};

static int eval_node(struct ev_ctx *x, json_object *node, const struct env *env, int depth,
                     struct ev_value **out, struct errbuf *e);

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

static struct named *find_named(struct ev_ctx *x, const char *name)
{
    struct named key;
    key.name = name;
    return bsearch(&key, x->names, (size_t)x->nnames, sizeof *x->names, cmp_named);
}

static int too_deep(struct errbuf *e)
{
    return err_set(e, ERR_USAGE, "Expression nesting is too deep (more than %d levels).",
                   EVAL_MAX_DEPTH);
}

/* 1 when the JSON value o nests more than limit levels (o itself is level 1). */
static int nests_deeper(json_object *o, int limit)
{
    enum json_type t = json_object_get_type(o);

    if (t != json_type_object && t != json_type_array)
        return 0;
    if (limit <= 0)
        return 1;
    if (t == json_type_object) {
        json_object_object_foreach(o, k, v) {
            (void)k;
            if (nests_deeper(v, limit - 1))
                return 1;
        }
    } else {
        size_t i, n = json_object_array_length(o);
        for (i = 0; i < n; i++)
            if (nests_deeper(json_object_array_get_idx(o, i), limit - 1))
                return 1;
    }
    return 0;
}

static int add_ref(struct ev_ctx *x, struct named *nv, const char *name, int *cap)
{
    struct named *t = name ? find_named(x, name) : NULL;
    if (!t)
        return 0;   /* eval_node reports an undefined name where it is used */
    if (nv->nrefs == *cap) {
        int ncap = *cap ? *cap * 2 : 4;
        int *p = realloc(nv->refs, sizeof *p * (size_t)ncap);
        if (!p)
            return ERR_NOMEM;
        nv->refs = p;
        *cap = ncap;
    }
    nv->refs[nv->nrefs++] = (int)(t - x->names);
    return 0;
}

/* Collects the names a ValueNode needs before it can be computed: its
 * valueReferences and functionReferences, not the bodies of the functions
 * it defines (those run only when called). The node's depth was checked. */
static int scan_refs(struct ev_ctx *x, struct named *nv, json_object *node, int *cap)
{
    json_object *j, *r;
    int rc = 0;

    if (json_object_get_type(node) != json_type_object)
        return 0;
    if (json_object_object_get_ex(node, "valueReference", &j)) {
        rc = add_ref(x, nv, json_object_get_string(j), cap);
    } else if (json_object_object_get_ex(node, "arrayValue", &j)) {
        if (json_object_object_get_ex(j, "values", &r) && json_object_get_type(r) == json_type_array) {
            size_t i, n = json_object_array_length(r);
            for (i = 0; rc == 0 && i < n; i++)
                rc = scan_refs(x, nv, json_object_array_get_idx(r, i), cap);
        }
    } else if (json_object_object_get_ex(node, "dictionaryValue", &j)) {
        if (json_object_object_get_ex(j, "values", &r) && json_object_get_type(r) == json_type_object) {
            json_object_object_foreach(r, k, v) {
                (void)k;
                if ((rc = scan_refs(x, nv, v, cap)) != 0)
                    break;
            }
        }
    } else if (json_object_object_get_ex(node, "functionInvocationValue", &j) &&
               json_object_get_type(j) == json_type_object) {
        if (json_object_object_get_ex(j, "functionReference", &r))
            rc = add_ref(x, nv, json_object_get_string(r), cap);
        if (rc == 0 && json_object_object_get_ex(j, "arguments", &r) &&
            json_object_get_type(r) == json_type_object) {
            json_object_object_foreach(r, k, v) {
                (void)k;
                if ((rc = scan_refs(x, nv, v, cap)) != 0)
                    break;
            }
        }
    }
    return rc;
}

static int refs_of(struct ev_ctx *x, struct named *nv, struct errbuf *e)
{
    int cap = 0;
    if (nv->refs_known)
        return 0;
    if (scan_refs(x, nv, nv->node, &cap) != 0)
        return err_set(e, ERR_NOMEM, "out of memory");
    nv->refs_known = 1;
    return 0;
}

/* Where the value of name i is kept: values computed outside every function
 * body hold for the whole request; inside a body, for this call only. */
static struct ev_value *memo_get(const struct ev_ctx *x, const struct env *env, int i)
{
    if (x->names[i].memo)
        return x->names[i].memo;
    return env ? env->memo[i] : NULL;
}

static void memo_set(struct ev_ctx *x, const struct env *env, int i, struct ev_value *v)
{
    if (env)
        env->memo[i] = v;
    else
        x->names[i].memo = v;
}

/* Evaluates a named value. A chain of references (a long chain of calls,
 * which the clients serialize as many named values) is followed with an
 * explicit stack, not by recursion: every name a value references is
 * computed first, deepest first, so the recursion of eval_node stays
 * within the (depth-checked) JSON of one value. */
static int eval_named(struct ev_ctx *x, const char *name, const struct env *env, int depth,
                      struct ev_value **out, struct errbuf *e)
{
    struct named *nv = find_named(x, name);
    int *stack = NULL, *cursor = NULL, sp = 0, cap = 0, rc = 0, i;

    if (!nv)
        return err_set(e, ERR_USAGE, "Invalid expression: reference to undefined value '%s'.", name);
    i = (int)(nv - x->names);
    if ((*out = memo_get(x, env, i)))
        return 0;
    if (nv->busy)
        return err_set(e, ERR_USAGE, "Invalid expression: value '%s' refers to itself.", name);
    cap = 16;
    stack = malloc(sizeof *stack * (size_t)cap);
    cursor = malloc(sizeof *cursor * (size_t)cap);
    if (!stack || !cursor) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    stack[sp] = i;
    cursor[sp++] = 0;
    nv->busy = 1;
    while (sp > 0) {
        struct named *t = &x->names[stack[sp - 1]];
        struct ev_value *v = NULL;
        int next = -1;

        if ((rc = refs_of(x, t, e)) != 0)
            goto done;
        while (cursor[sp - 1] < t->nrefs) {
            int r = t->refs[cursor[sp - 1]++];
            if (memo_get(x, env, r))
                continue;
            if (x->names[r].busy) {
                rc = err_set(e, ERR_USAGE, "Invalid expression: value '%s' refers to itself.",
                             x->names[r].name);
                goto done;
            }
            next = r;
            break;
        }
        if (next >= 0) {
            if (sp == cap) {
                int ncap = cap * 2, *ns, *nc;
                if (!(ns = realloc(stack, sizeof *ns * (size_t)ncap))) {
                    rc = err_set(e, ERR_NOMEM, "out of memory");
                    goto done;
                }
                stack = ns;
                if (!(nc = realloc(cursor, sizeof *nc * (size_t)ncap))) {
                    rc = err_set(e, ERR_NOMEM, "out of memory");
                    goto done;
                }
                cursor = nc;
                cap = ncap;
            }
            x->names[next].busy = 1;
            stack[sp] = next;
            cursor[sp++] = 0;
            continue;
        }
        /* Everything it references is known: its own evaluation recurses
         * only within its JSON and the calls it makes. */
        rc = eval_node(x, t->node, env, depth + 1, &v, e);
        t->busy = 0;
        sp--;
        if (rc != 0)
            goto done;
        memo_set(x, env, (int)(t - x->names), v);
    }
    *out = memo_get(x, env, i);
done:
    while (sp > 0)
        x->names[stack[--sp]].busy = 0;
    free(stack);
    free(cursor);
    return rc;
}

int ev_call_func(struct ev_ctx *x, const struct ev_func *f, struct ev_value **args, int depth,
                 struct ev_value **out, struct errbuf *e)
{
    struct env env = {NULL, NULL};
    struct ev_scope *sc;
    int rc;

    if (depth > EVAL_MAX_RECURSION)
        return too_deep(e);
    if (f->native)
        return f->native(x, f, args, depth, out, e);
    if (!(sc = eval_alloc(x, sizeof *sc)))
        return err_set(e, ERR_NOMEM, "out of memory");
    sc->up = f->closure;
    sc->f = f;
    sc->args = args;
    env.scope = sc;
    if (!(env.memo = calloc((size_t)x->nnames + 1, sizeof *env.memo)))
        return err_set(e, ERR_NOMEM, "out of memory");
    rc = eval_named(x, f->body, &env, depth, out, e);
    free(env.memo);
    return rc;
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
    if (!(algo = ev_find_algo(a.fname))) {
        /* EE has it but the emulator does not: say so, rather than
         * pretending the name is wrong. */
        if (algorithms_known(a.fname))
            return err_set(e, ERR_USAGE, "%s: the emulator does not implement this algorithm.",
                           a.fname);
        return err_set(e, ERR_USAGE, "Unknown function: %s", a.fname);
    }
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
    a.op = algo->op;
    return algo->fn(x, &a, out, e);
}

static int eval_node(struct ev_ctx *x, json_object *node, const struct env *env, int depth,
                     struct ev_value **out, struct errbuf *e)
{
    json_object *j;

    if (depth > EVAL_MAX_RECURSION)
        return too_deep(e);
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
        f->closure = env ? env->scope : NULL;
        (*out)->func = f;
    } else if (json_object_object_get_ex(node, "functionInvocationValue", &j)) {
        return eval_invocation(x, j, env, depth, out, e);
    } else if (json_object_object_get_ex(node, "argumentReference", &j)) {
        const char *name = json_object_get_string(j);
        const struct ev_scope *s;
        int i;
        for (s = env ? env->scope : NULL; s; s = s->up)
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
    if (nests_deeper(expr, EVAL_MAX_DEPTH))
        return too_deep(e);
    for (i = 0; i < x->nnames; i++)
        free(x->names[i].refs);
    free(x->names);
    i = 0;
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
    qsort(x->names, (size_t)x->nnames, sizeof *x->names, cmp_named);
    return eval_named(x, json_object_get_string(result), NULL, 0, out, e);
}
