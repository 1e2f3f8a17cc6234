/*
 * Element properties (propertyNames, toDictionary, typed gets, setMulti,
 * copyProperties), collection aggregates (aggregate_*), collection
 * plumbing (toList, merge, distinct, iterate) and the filters beyond the
 * comparisons of eval_funcs.c (string, list, calendar, range filters).
 */
#include "emulator/eval_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOMEM() err_set(e, ERR_NOMEM, "out of memory")

/* ---------------------------------------------------------- properties */

struct ev_value *ev_image_band_property(struct ev_ctx *x, const struct ev_image *img,
                                        const char *name)
{
    struct ev_value *v = NULL, tmp;
    struct errbuf e;
    json_object *info, *bands, *d;
    int i;

    if (strcmp(name, "system:band_names") == 0) {
        if (!(v = ev_list(x, img->nbands)))
            return NULL;
        for (i = 0; i < img->nbands; i++)
            if (!(v->items[i] = ev_str(x, img->bands[i].id)))
                return NULL;
        return v;
    }
    if (strcmp(name, "system:bands") != 0)
        return NULL;
    /* {band id: band info without its id}, from getInfo's bands. */
    memset(&tmp, 0, sizeof tmp);
    tmp.kind = EV_IMAGE;
    tmp.img = (struct ev_image *)img;
    e.msg[0] = 0;
    if (!(info = eval_getinfo(x, &tmp, &e)))
        return NULL;
    d = json_object_new_object();
    if (d && json_object_object_get_ex(info, "bands", &bands))
        for (i = 0; i < (int)json_object_array_length(bands); i++) {
            json_object *b = json_object_array_get_idx(bands, (size_t)i), *id = NULL;
            if (json_object_object_get_ex(b, "id", &id)) {
                const char *key = eval_strdup(x, json_object_get_string(id));
                json_object_object_del(b, "id");
                if (key)
                    json_object_object_add(d, key, json_object_get(b));
            }
        }
    json_object_put(info);
    v = d ? ev_from_json(x, d) : NULL;
    json_object_put(d);
    return v;
}

static int element_arg(const struct ev_args *a, const char *name, struct ev_value **el,
                       struct errbuf *e)
{
    int rc = ev_require(a, name, el, e);
    if (rc)
        return rc;
    if ((*el)->kind != EV_IMAGE && (*el)->kind != EV_FEATURE && (*el)->kind != EV_COLL)
        return ev_type_error(e, a, name, "Element", *el);
    return 0;
}

/* Appends the property names of an element to list l (room for them is
 * the caller's). */
static int add_names(struct ev_ctx *x, const struct ev_value *el, struct ev_value *l)
{
    int i;
    if (el->kind == EV_FEATURE) {
        for (i = 0; el->fprops && i < el->fprops->n; i++)
            if (!(l->items[l->n++] = ev_str(x, el->fprops->keys[i])))
                return -1;
        return 0;
    }
    {
        json_object *props = el->kind == EV_IMAGE ? el->img->props : el->coll->props;
        json_object_object_foreach(props, k, v) {
            (void)v;
            if (!(l->items[l->n++] = ev_str(x, k)))
                return -1;
        }
    }
    return 0;
}

static int prop_count(const struct ev_value *el)
{
    if (el->kind == EV_FEATURE)
        return el->fprops ? el->fprops->n : 0;
    return json_object_object_length(el->kind == EV_IMAGE ? el->img->props : el->coll->props);
}

/* Element.propertyNames: the properties, and for images also system:bands
 * and system:band_names, as EE lists them. */
static int f_property_names(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                            struct errbuf *e)
{
    struct ev_value *el = NULL;
    int rc = element_arg(a, "element", &el, e);
    if (rc)
        return rc;
    if (!(*o = ev_list(x, prop_count(el) + 4)))
        return NOMEM();
    (*o)->n = 0;
    if (el->kind == EV_COLL && el->coll->id) {
        if (!((*o)->items[(*o)->n++] = ev_str(x, "system:id")))
            return NOMEM();
    }
    if (add_names(x, el, *o) != 0)
        return NOMEM();
    if (el->kind == EV_IMAGE) {
        if (!((*o)->items[(*o)->n++] = ev_str(x, "system:bands")) ||
            !((*o)->items[(*o)->n++] = ev_str(x, "system:band_names")))
            return NOMEM();
    }
    return 0;
}

/* A property of any element, collections included (NULL when absent). */
static struct ev_value *any_property(struct ev_ctx *x, const struct ev_value *el, const char *name)
{
    json_object *j = NULL;
    if (el->kind != EV_COLL)
        return ev_element_property(x, el, name);
    if (strcmp(name, "system:id") == 0 && el->coll->id)
        return ev_str(x, el->coll->id);
    if (!json_object_object_get_ex(el->coll->props, name, &j))
        return NULL;
    return ev_from_json(x, j);
}

/* Element.toDictionary(element, properties?): by default every property
 * that is not a system: one; listed properties the element lacks are
 * left out. */
static int f_to_dictionary(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                           struct errbuf *e)
{
    struct ev_value *el = NULL, *names = NULL, *all = NULL;
    int rc, i;
    if ((rc = element_arg(a, "element", &el, e)) || (rc = ev_get_list(a, "properties", 0, &names, e)))
        return rc;
    if (!names) {
        if (!(all = ev_list(x, prop_count(el) + 1)))
            return NOMEM();
        all->n = 0;
        if (add_names(x, el, all) != 0)
            return NOMEM();
        names = all;
    }
    if (!(*o = ev_dict(x, names->n)))
        return NOMEM();
    (*o)->n = 0;
    for (i = 0; i < names->n; i++) {
        struct ev_value *v = NULL;
        if (names->items[i]->kind != EV_STR)
            return ev_type_error(e, a, "properties", "List<String>", names->items[i]);
        if (names == all && strncmp(names->items[i]->str, "system:", 7) == 0)
            continue;
        if (!(v = any_property(x, el, names->items[i]->str)))
            continue;
        (*o)->keys[(*o)->n] = names->items[i]->str;
        (*o)->items[(*o)->n++] = v;
    }
    return 0;
}

/* Element.getNumber, .getString, .getArray: a->op is the kind wanted
 * (EV_NUM, EV_STR, EV_LIST). */
static int typed_property(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                          struct errbuf *e)
{
    const enum ev_kind want = (enum ev_kind)a->op;
    const char *tname = want == EV_NUM ? "Number" : want == EV_STR ? "String" : "Array";
    struct ev_value *el = NULL;
    const char *p;
    int rc;
    if ((rc = element_arg(a, "object", &el, e)) || (rc = ev_get_string(a, "property", 1, &p, e)))
        return rc;
    if (!(*o = any_property(x, el, p)) || (*o)->kind == EV_NULL)
        return err_set(e, ERR_USAGE, "%s: Property '%s' is missing.", a->fname, p);
    if ((*o)->kind != want)
        return err_set(e, ERR_USAGE, "%s: Property '%s' is a %s, not a %s.", a->fname, p,
                       ev_type_name(*o), tname);
    return 0;
}

/* A copy of element el with properties set from dictionary d (d's keys in
 * `only` if given, none of those in `skip`). */
static int with_properties(struct ev_ctx *x, const struct ev_value *el, const struct ev_value *d,
                           const struct ev_value *only, const struct ev_value *skip,
                           int system_too, struct ev_value **o, struct errbuf *e)
{
    int i, k;
    if (!(*o = ev_new(x, el->kind)))
        return NOMEM();
    **o = *el;
    if (el->kind == EV_IMAGE) {
        struct ev_image *img = eval_alloc(x, sizeof *img);
        json_object *props = NULL;
        if (!img || json_object_deep_copy(el->img->props, &props, NULL) != 0 ||
            !eval_own_json(x, props))
            return NOMEM();
        *img = *el->img;
        img->props = props;
        (*o)->img = img;
    } else if (el->kind == EV_FEATURE) {
        struct ev_value *np = ev_dict(x, (el->fprops ? el->fprops->n : 0) + d->n);
        if (!np)
            return NOMEM();
        np->n = 0;
        for (i = 0; el->fprops && i < el->fprops->n; i++) {
            np->keys[np->n] = el->fprops->keys[i];
            np->items[np->n++] = el->fprops->items[i];
        }
        (*o)->fprops = np;
    } else {
        return err_set(e, ERR_USAGE, "Properties of a collection cannot be set here.");
    }
    for (i = 0; i < d->n; i++) {
        const char *key = d->keys[i];
        int listed = !only, skipped = 0;
        for (k = 0; only && k < only->n; k++)
            listed |= only->items[k]->kind == EV_STR && strcmp(only->items[k]->str, key) == 0;
        for (k = 0; skip && k < skip->n; k++)
            skipped |= skip->items[k]->kind == EV_STR && strcmp(skip->items[k]->str, key) == 0;
        if (!listed || skipped || (!system_too && !only && strncmp(key, "system:", 7) == 0))
            continue;
        if (el->kind == EV_IMAGE) {
            json_object *jv = NULL;
            if (d->items[i]->kind != EV_NULL && !(jv = ev_to_json(x, d->items[i], e)))
                return ERR_USAGE;
            json_object_object_add((*o)->img->props, key, jv);
            if (strcmp(key, "system:time_start") == 0)
                (*o)->img->time_start = jv ? json_object_get_int64(jv) : INT64_MIN;
        } else {
            struct ev_value *np = (*o)->fprops;
            for (k = 0; k < np->n && strcmp(np->keys[k], key) != 0; k++)
                ;
            if (k == np->n)
                np->keys[np->n++] = key;
            np->items[k] = d->items[i];
        }
    }
    return 0;
}

static int f_set_multi(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    struct ev_value *el = NULL, *d = NULL;
    int rc;
    if ((rc = element_arg(a, "object", &el, e)) || (rc = ev_get_dict(a, "properties", 1, &d, e)))
        return rc;
    return with_properties(x, el, d, NULL, NULL, 1, o, e);
}

/* All properties of an element as a dictionary. */
static struct ev_value *props_dict(struct ev_ctx *x, const struct ev_value *el)
{
    struct ev_value *names = ev_list(x, prop_count(el) + 1), *d;
    int i;
    if (!names)
        return NULL;
    names->n = 0;
    if (add_names(x, el, names) != 0 || !(d = ev_dict(x, names->n)))
        return NULL;
    for (i = 0; i < names->n; i++) {
        d->keys[i] = names->items[i]->str;
        if (!(d->items[i] = any_property(x, el, names->items[i]->str)))
            return NULL;
    }
    return d;
}

/* Element.copyProperties(destination, source, properties?, exclude?): the
 * source's properties (by default all but the system: ones) set on the
 * destination. */
static int f_copy_properties(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                             struct errbuf *e)
{
    struct ev_value *dst = NULL, *src = NULL, *only = NULL, *skip = NULL, *d = NULL;
    int rc;
    if ((rc = element_arg(a, "destination", &dst, e)) || (rc = element_arg(a, "source", &src, e)) ||
        (rc = ev_get_list(a, "properties", 0, &only, e)) || (rc = ev_get_list(a, "exclude", 0, &skip, e)))
        return rc;
    if (src->kind == EV_COLL)
        return ev_type_error(e, a, "source", "Element", src);
    if (!(d = props_dict(x, src)))
        return NOMEM();
    return with_properties(x, dst, d, only, skip, 0, o, e);
}

/* ---------------------------------------------------------- aggregates */

static int coll_arg(const struct ev_args *a, const char *name, struct ev_coll **c, struct errbuf *e)
{
    struct ev_value *v = NULL;
    int rc = ev_require(a, name, &v, e);
    if (rc)
        return rc;
    if (v->kind != EV_COLL)
        return ev_type_error(e, a, name, "FeatureCollection", v);
    *c = v->coll;
    return 0;
}

/* The non-null values of a property over a collection, in order. */
static int prop_values(struct ev_ctx *x, const struct ev_args *a, struct ev_value ***vals, int *n,
                       struct errbuf *e)
{
    struct ev_coll *c = NULL;
    const char *p;
    int rc, i;
    if ((rc = coll_arg(a, "collection", &c, e)) || (rc = ev_get_string(a, "property", 1, &p, e)))
        return rc;
    if (!(*vals = eval_alloc(x, sizeof **vals * (size_t)(c->n + 1))))
        return NOMEM();
    *n = 0;
    for (i = 0; i < c->n; i++) {
        struct ev_value *v = ev_element_property(x, c->items[i], p);
        if (v && v->kind != EV_NULL)
            (*vals)[(*n)++] = v;
    }
    return 0;
}

static int numbers_of(const struct ev_args *a, struct ev_value **vals, int n, struct errbuf *e)
{
    int i;
    for (i = 0; i < n; i++)
        if (vals[i]->kind != EV_NUM)
            return err_set(e, ERR_USAGE, "%s: Expected a number, found %s.", a->fname,
                           ev_type_name(vals[i]));
    return 0;
}

static int f_agg_first(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    struct ev_coll *c = NULL;
    const char *p;
    int rc;
    if ((rc = coll_arg(a, "collection", &c, e)) || (rc = ev_get_string(a, "property", 1, &p, e)))
        return rc;
    *o = c->n ? ev_element_property(x, c->items[0], p) : NULL;
    if (!*o && !(*o = ev_new(x, EV_NULL)))
        return NOMEM();
    return 0;
}

static int f_agg_count(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    struct ev_value **v;
    int n = 0, rc = prop_values(x, a, &v, &n, e);
    return rc ? rc : (*o = ev_num(x, n)) ? 0 : NOMEM();
}

static int f_agg_count_distinct(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                                struct errbuf *e)
{
    struct ev_value **v;
    int n = 0, rc = prop_values(x, a, &v, &n, e), i, k, d = 0;
    if (rc)
        return rc;
    for (i = 0; i < n; i++) {
        for (k = 0; k < i && !ev_values_equal(v[k], v[i]); k++)
            ;
        d += k == i;
    }
    return (*o = ev_num(x, d)) ? 0 : NOMEM();
}

struct moments {
    int n;
    double sum, sum_sq, min, max;
};

static void moments_of(struct ev_value **v, int n, struct moments *m)
{
    int i;
    memset(m, 0, sizeof *m);
    m->n = n;
    m->min = INFINITY;
    m->max = -INFINITY;
    for (i = 0; i < n; i++) {
        m->sum += v[i]->num;
        m->sum_sq += v[i]->num * v[i]->num;
        m->min = fmin(m->min, v[i]->num);
        m->max = fmax(m->max, v[i]->num);
    }
}

/* Variance from the mean (two passes, for accuracy). */
static double sq_dev(struct ev_value **v, int n, double mean)
{
    double s = 0;
    int i;
    for (i = 0; i < n; i++)
        s += (v[i]->num - mean) * (v[i]->num - mean);
    return s;
}

/* AggregateFeatureCollection.min and its kin: a->op says which. */
enum agg_op { AGG_MIN, AGG_MAX, AGG_MEAN, AGG_SUM, AGG_PRODUCT, AGG_SAMPLE_SD, AGG_SAMPLE_VAR,
              AGG_TOTAL_SD, AGG_TOTAL_VAR };

static int f_agg_numeric(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    const enum agg_op op = (enum agg_op)a->op;
    struct ev_value **v;
    struct moments m;
    double r = 0, mean;
    int n = 0, rc = prop_values(x, a, &v, &n, e), i;
    if (rc || (rc = numbers_of(a, v, n, e)))
        return rc;
    moments_of(v, n, &m);
    mean = n ? m.sum / n : 0;
    if (n == 0 && (op == AGG_MIN || op == AGG_MAX || op == AGG_MEAN))
        return (*o = ev_new(x, EV_NULL)) ? 0 : NOMEM();   /* min/max/mean of nothing */
    switch (op) {
    case AGG_SUM: r = m.sum; break;
    case AGG_PRODUCT:
        for (r = 1, i = 0; i < n; i++)
            r *= v[i]->num;
        break;
    case AGG_MIN: r = m.min; break;
    case AGG_MAX: r = m.max; break;
    case AGG_MEAN: r = mean; break;
    case AGG_TOTAL_VAR:
    case AGG_TOTAL_SD:
        r = n ? sq_dev(v, n, mean) / n : 0;
        if (op == AGG_TOTAL_SD)
            r = sqrt(r);
        break;
    case AGG_SAMPLE_VAR:
    case AGG_SAMPLE_SD:
        r = n > 1 ? sq_dev(v, n, mean) / (n - 1) : 0;
        if (op == AGG_SAMPLE_SD)
            r = sqrt(r);
        break;
    }
    if (!(*o = ev_num(x, r)))
        return NOMEM();
    if (op != AGG_MIN && op != AGG_MAX && op != AGG_SUM && op != AGG_PRODUCT)
        (*o)->is_int = 0;
    return 0;
}

/* aggregate_stats: EE's keys (sorted as EE prints them). */
static int f_agg_stats(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    static const char *keys[] = {"max", "mean", "min", "sample_sd", "sample_var", "sum",
                                 "sum_sq", "total_count", "total_sd", "total_var", "valid_count",
                                 "weight_sum", "weighted_sum"};
    struct ev_value **v;
    struct moments m;
    struct ev_coll *c = NULL;
    double vals[13], mean, sd;
    int n = 0, rc = prop_values(x, a, &v, &n, e), i;
    if (rc || (rc = numbers_of(a, v, n, e)) || (rc = coll_arg(a, "collection", &c, e)))
        return rc;
    moments_of(v, n, &m);
    mean = n ? m.sum / n : 0;
    sd = sq_dev(v, n, mean);
    vals[0] = n ? m.max : 0;
    vals[1] = mean;
    vals[2] = n ? m.min : 0;
    vals[3] = n > 1 ? sqrt(sd / (n - 1)) : 0;
    vals[4] = n > 1 ? sd / (n - 1) : 0;
    vals[5] = m.sum;
    vals[6] = m.sum_sq;
    vals[7] = c->n;
    vals[8] = n ? sqrt(sd / n) : 0;
    vals[9] = n ? sd / n : 0;
    vals[10] = n;
    vals[11] = n;
    vals[12] = m.sum;
    if (!(*o = ev_dict(x, 13)))
        return NOMEM();
    for (i = 0; i < 13; i++) {
        (*o)->keys[i] = keys[i];
        if (!((*o)->items[i] = ev_num(x, vals[i])))
            return NOMEM();
    }
    return 0;
}

/* aggregate_histogram: {value as text: count}. */
static int f_agg_histogram(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                           struct errbuf *e)
{
    struct ev_value **v;
    int n = 0, rc = prop_values(x, a, &v, &n, e), i, k;
    if (rc)
        return rc;
    if (!(*o = ev_dict(x, n)))
        return NOMEM();
    (*o)->n = 0;
    for (i = 0; i < n; i++) {
        char buf[64];
        const char *key;
        json_object *j;
        if (v[i]->kind == EV_STR) {
            key = v[i]->str;
        } else {
            if (!(j = ev_to_json(x, v[i], e)))
                return ERR_USAGE;
            snprintf(buf, sizeof buf, "%s", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
            json_object_put(j);
            key = buf;
        }
        for (k = 0; k < (*o)->n && strcmp((*o)->keys[k], key) != 0; k++)
            ;
        if (k == (*o)->n) {
            if (!((*o)->keys[k] = eval_strdup(x, key)) || !((*o)->items[k] = ev_num(x, 0)))
                return NOMEM();
            (*o)->n++;
        }
        (*o)->items[k]->num += 1;
    }
    return 0;
}

/* --------------------------------------------------------- collections */

static int f_to_list(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                     struct errbuf *e)
{
    struct ev_coll *c = NULL;
    double count = 0, offset = 0;
    int rc, i, n, off;
    if ((rc = coll_arg(a, "collection", &c, e)) || (rc = ev_get_number(a, "count", 1, &count, e)) ||
        (rc = ev_get_number(a, "offset", 0, &offset, e)))
        return rc;
    if (count < 0 || offset < 0)
        return err_set(e, ERR_USAGE, "%s: count and offset must not be negative.", a->fname);
    off = offset > c->n ? c->n : (int)offset;
    n = count > c->n - off ? c->n - off : (int)count;
    if (!(*o = ev_list(x, n)))
        return NOMEM();
    for (i = 0; i < n; i++)
        (*o)->items[i] = c->items[off + i];
    return 0;
}

static int f_merge(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                   struct errbuf *e)
{
    struct ev_coll *c1 = NULL, *c2 = NULL;
    int rc, i;
    if ((rc = coll_arg(a, "collection1", &c1, e)) || (rc = coll_arg(a, "collection2", &c2, e)))
        return rc;
    if (!(*o = ev_new_coll(x, NULL, c1->n + c2->n)))
        return NOMEM();
    for (i = 0; i < c1->n; i++)
        (*o)->coll->items[(*o)->coll->n++] = c1->items[i];
    for (i = 0; i < c2->n; i++)
        (*o)->coll->items[(*o)->coll->n++] = c2->items[i];
    return 0;
}

/* Collection.distinct(collection, properties): the first element of each
 * distinct combination of the properties' values. */
static int f_distinct(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_coll *c = NULL;
    struct ev_value *p = NULL, **keys;
    const char **names;
    int rc, i, k, j, np;
    if ((rc = coll_arg(a, "collection", &c, e)) || (rc = ev_require(a, "properties", &p, e)))
        return rc;
    np = p->kind == EV_LIST ? p->n : 1;
    if (!(names = eval_alloc(x, sizeof *names * (size_t)(np + 1))) ||
        !(keys = eval_alloc(x, sizeof *keys * (size_t)(np * c->n + 1))))
        return NOMEM();
    for (k = 0; k < np; k++) {
        struct ev_value *s = p->kind == EV_LIST ? p->items[k] : p;
        if (s->kind != EV_STR)
            return ev_type_error(e, a, "properties", "List<String>", s);
        names[k] = s->str;
    }
    if (!(*o = ev_new_coll(x, c->id, c->n)))
        return NOMEM();
    for (i = 0; i < c->n; i++) {
        struct ev_value **ki = keys + (size_t)(*o)->coll->n * np;
        int dup = 0;
        for (k = 0; k < np; k++)
            ki[k] = ev_element_property(x, c->items[i], names[k]);
        for (j = 0; j < (*o)->coll->n && !dup; j++) {
            int same = 1;
            for (k = 0; k < np && same; k++)
                same = ev_values_equal(keys[(size_t)j * np + k], ki[k]);
            dup = same;
        }
        if (!dup)
            (*o)->coll->items[(*o)->coll->n++] = c->items[i];
    }
    return 0;
}

static int f_coll_iterate(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                          struct errbuf *e)
{
    struct ev_coll *c = NULL;
    int rc = coll_arg(a, "collection", &c, e);
    return rc ? rc : ev_iterate(x, a, c->items, c->n, o, e);
}

/* ------------------------------------------------------------- filters */

static int new_filter(struct ev_ctx *x, enum ev_filter_op op, struct ev_filter **f,
                      struct ev_value **o, struct errbuf *e)
{
    if (!(*f = eval_alloc(x, sizeof **f)) || !(*o = ev_new(x, EV_FILTER)))
        return NOMEM();
    (*f)->op = op;
    (*o)->filter = *f;
    return 0;
}

/* Filter.inList's op: listContains with the sides exchanged. */
#define FILTER_SIDES_SWAPPED 0x1000

/* A binary filter (Filter.stringContains and its kin): exactly one of
 * leftField/leftValue and of rightField/rightValue. a->op is the enum
 * ev_filter_op, plus FILTER_SIDES_SWAPPED. */
static int binary_filter(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    const int swap = (a->op & FILTER_SIDES_SWAPPED) != 0;
    const enum ev_filter_op op = (enum ev_filter_op)(a->op & ~FILTER_SIDES_SWAPPED);
    struct ev_filter *f;
    struct ev_value *lv = ev_arg(a, "leftValue"), *rv = ev_arg(a, "rightValue");
    const char *lf = NULL, *rf = NULL;
    int rc;
    if ((rc = ev_get_string(a, "leftField", 0, &lf, e)) ||
        (rc = ev_get_string(a, "rightField", 0, &rf, e)) || (rc = new_filter(x, op, &f, o, e)))
        return rc;
    lv = lv && lv->kind != EV_NULL ? lv : NULL;
    rv = rv && rv->kind != EV_NULL ? rv : NULL;
    if (!lf == !lv || !rf == !rv)
        return err_set(e, ERR_USAGE, "%s: Exactly one of leftField and leftValue and one of "
                       "rightField and rightValue must be given.", a->fname);
    f->left_field = swap ? rf : lf;
    f->left_value = swap ? rv : lv;
    f->right_field = swap ? lf : rf;
    f->right_value = swap ? lv : rv;
    return 0;
}

static int f_max_difference(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                            struct errbuf *e)
{
    struct ev_args filter = *a;
    double d = 0;
    int rc;
    filter.op = F_MAX_DIFF;
    if ((rc = ev_get_number(a, "difference", 1, &d, e)) ||
        (rc = binary_filter(x, &filter, o, e)))
        return rc;
    (*o)->filter->lo = d;
    return 0;
}

/* Filter.calendarRange(start, end = start, field = "day_of_year"): on the
 * element's system:time_start in UTC, both ends inclusive; end < start
 * wraps (value >= start or value <= end). */
static int calendar(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                    struct errbuf *e)
{
    static const char *fields[] = {"year", "month", "hour", "minute", "day_of_year",
                                   "day_of_month", "day_of_week"};
    struct ev_filter *f;
    const char *field = "day_of_year";
    double start = 0, end;
    size_t i;
    int rc;
    if ((rc = ev_get_number(a, "start", 1, &start, e)))
        return rc;
    end = start;
    if ((rc = ev_get_number(a, "end", 0, &end, e)) || (rc = ev_get_string(a, "field", 0, &field, e)))
        return rc;
    for (i = 0; i < sizeof fields / sizeof *fields; i++)
        if (strcmp(field, fields[i]) == 0)
            break;
    if (i == sizeof fields / sizeof *fields)
        return err_set(e, ERR_USAGE, "%s: Unknown calendar field '%s'. Options are: year, month, "
                       "hour, minute, day_of_year, day_of_month and day_of_week.", a->fname, field);
    if ((rc = new_filter(x, F_CALENDAR, &f, o, e)))
        return rc;
    f->cal_field = ev_cal_field_parse(field);
    f->lo = start;
    f->hi = end;
    return 0;
}

static int f_day_of_year(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    double end = 0;
    int rc = ev_get_number(a, "end", 1, &end, e);   /* required here, unlike calendarRange */
    return rc ? rc : calendar(x, a, o, e);
}

static int f_always(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                    struct errbuf *e)
{
    struct ev_filter *f;
    (void)a;
    return new_filter(x, F_ALWAYS, &f, o, e);
}

static int f_never(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                   struct errbuf *e)
{
    struct ev_filter *f;
    (void)a;
    return new_filter(x, F_NEVER, &f, o, e);
}

static int f_not_null(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_filter *f;
    struct ev_value *l = NULL;
    int rc, i;
    if ((rc = ev_get_list(a, "properties", 1, &l, e)))
        return rc;
    for (i = 0; i < l->n; i++)
        if (l->items[i]->kind != EV_STR)
            return ev_type_error(e, a, "properties", "List<String>", l->items[i]);
    if ((rc = new_filter(x, F_NOT_NULL, &f, o, e)))
        return rc;
    f->extra = l;
    return 0;
}

static int f_range_contains(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                            struct errbuf *e)
{
    struct ev_filter *f;
    struct ev_value *lo = NULL, *hi = NULL;
    const char *field;
    int rc;
    if ((rc = ev_get_string(a, "field", 1, &field, e)) || (rc = ev_require(a, "minValue", &lo, e)) ||
        (rc = ev_require(a, "maxValue", &hi, e)) || (rc = new_filter(x, F_RANGE, &f, o, e)))
        return rc;
    f->left_field = field;
    f->left_value = lo;
    f->right_value = hi;
    return 0;
}

int ev_filter_match_more(struct ev_ctx *x, const struct ev_filter *f, const struct ev_value *el)
{
    const struct ev_value *l, *r;
    int i;

    switch (f->op) {
    case F_ALWAYS: return 1;
    case F_NEVER: return 0;
    case F_NOT_NULL:
        for (i = 0; i < f->extra->n; i++) {
            const struct ev_value *v = ev_element_property(x, el, f->extra->items[i]->str);
            if (!v || v->kind == EV_NULL)
                return 0;
        }
        return 1;
    case F_CALENDAR: {
        const struct ev_value *t = ev_element_property(x, el, "system:time_start");
        long v;
        int64_t ms;
        if (!t || ev_to_millis(t, &ms) != 0)
            return 0;
        v = ev_cal_field_value(ms, f->cal_field);
        if (f->hi < f->lo)
            return v >= f->lo || v <= f->hi;
        return v >= f->lo && v <= f->hi;
    }
    case F_RANGE: {
        const struct ev_value *v = ev_element_property(x, el, f->left_field);
        int c1, c2;
        if (!v)
            return 0;
        c1 = ev_compare_values(f->left_value, v);
        c2 = ev_compare_values(v, f->right_value);
        return c1 != -2 && c2 != -2 && c1 <= 0 && c2 <= 0;
    }
    default:
        break;
    }
    l = f->left_field ? ev_element_property(x, el, f->left_field) : f->left_value;
    r = f->right_field ? ev_element_property(x, el, f->right_field) : f->right_value;
    if (!l || !r)
        return 0;
    switch (f->op) {
    case F_STR_CONTAINS:
    case F_STR_STARTS:
    case F_STR_ENDS: {
        size_t ln, rn;
        if (l->kind != EV_STR || r->kind != EV_STR)
            return 0;
        ln = strlen(l->str);
        rn = strlen(r->str);
        if (f->op == F_STR_CONTAINS)
            return strstr(l->str, r->str) != NULL;
        if (rn > ln)
            return 0;
        return memcmp(f->op == F_STR_STARTS ? l->str : l->str + ln - rn, r->str, rn) == 0;
    }
    case F_LIST_CONTAINS:
        if (l->kind != EV_LIST)
            return 0;
        for (i = 0; i < l->n; i++)
            if (ev_values_equal(l->items[i], r))
                return 1;
        return 0;
    case F_MAX_DIFF:
        if (l->kind != EV_NUM || r->kind != EV_NUM)
            return 0;
        return fabs(l->num - r->num) <= f->lo;
    default:
        return 0;
    }
}

const struct ev_algo ev_algos_props[] = {
    {"Element.propertyNames", f_property_names, 0}, {"Element.toDictionary", f_to_dictionary, 0},
    {"Element.getNumber", typed_property, EV_NUM}, {"Element.getString", typed_property, EV_STR},
    {"Element.getArray", typed_property, EV_LIST}, {"Element.setMulti", f_set_multi, 0},
    {"Element.copyProperties", f_copy_properties, 0},
    {"Image.copyProperties", f_copy_properties, 0},
    {"AggregateFeatureCollection.first", f_agg_first, 0},
    {"AggregateFeatureCollection.count", f_agg_count, 0},
    {"AggregateFeatureCollection.count_distinct", f_agg_count_distinct, 0},
    {"AggregateFeatureCollection.min", f_agg_numeric, AGG_MIN},
    {"AggregateFeatureCollection.max", f_agg_numeric, AGG_MAX},
    {"AggregateFeatureCollection.mean", f_agg_numeric, AGG_MEAN},
    {"AggregateFeatureCollection.sum", f_agg_numeric, AGG_SUM},
    {"AggregateFeatureCollection.product", f_agg_numeric, AGG_PRODUCT},
    {"AggregateFeatureCollection.sample_sd", f_agg_numeric, AGG_SAMPLE_SD},
    {"AggregateFeatureCollection.sample_var", f_agg_numeric, AGG_SAMPLE_VAR},
    {"AggregateFeatureCollection.total_sd", f_agg_numeric, AGG_TOTAL_SD},
    {"AggregateFeatureCollection.total_var", f_agg_numeric, AGG_TOTAL_VAR},
    {"AggregateFeatureCollection.stats", f_agg_stats, 0},
    {"AggregateFeatureCollection.histogram", f_agg_histogram, 0},
    {"Collection.toList", f_to_list, 0}, {"Collection.merge", f_merge, 0},
    {"ImageCollection.merge", f_merge, 0}, {"Collection.distinct", f_distinct, 0},
    {"Collection.iterate", f_coll_iterate, 0},
    {"Filter.stringContains", binary_filter, F_STR_CONTAINS},
    {"Filter.stringStartsWith", binary_filter, F_STR_STARTS},
    {"Filter.stringEndsWith", binary_filter, F_STR_ENDS},
    {"Filter.listContains", binary_filter, F_LIST_CONTAINS},
    {"Filter.inList", binary_filter, F_LIST_CONTAINS | FILTER_SIDES_SWAPPED},
    {"Filter.maxDifference", f_max_difference, 0}, {"Filter.calendarRange", calendar, 0},
    {"Filter.dayOfYear", f_day_of_year, 0}, {"Filter.always", f_always, 0},
    {"Filter.never", f_never, 0}, {"Filter.notNull", f_not_null, 0},
    {"Filter.rangeContains", f_range_contains, 0},
    {NULL, NULL, 0},
};
