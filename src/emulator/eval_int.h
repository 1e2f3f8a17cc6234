/* Internal interface between the evaluator's source files (eval*.c, ee_geom.c). */
#ifndef EEFETCH_EMULATOR_EVAL_INT_H
#define EEFETCH_EMULATOR_EVAL_INT_H

#include "emulator/eval.h"

/* Arguments of one function invocation, already evaluated. */
struct ev_args {
    const char *fname;
    int n;
    const char **names;
    struct ev_value **vals;
    int depth;
};

typedef int (*ev_fn)(struct ev_ctx *x, const struct ev_args *a, struct ev_value **out,
                     struct errbuf *e);

struct ev_algo {
    const char *name;
    ev_fn fn;
};

const struct ev_algo *ev_find_algo(const char *name);
const struct catalog *eval_catalog(const struct ev_ctx *x);
void *eval_own_ogr(struct ev_ctx *x, void *g);
char *eval_strdup(struct ev_ctx *x, const char *s);

struct ev_value *ev_new(struct ev_ctx *x, enum ev_kind k);
struct ev_value *ev_num(struct ev_ctx *x, double d);
struct ev_value *ev_str(struct ev_ctx *x, const char *s);
struct ev_value *ev_list(struct ev_ctx *x, int n);
struct ev_value *ev_dict(struct ev_ctx *x, int n);
struct ev_value *ev_from_json(struct ev_ctx *x, json_object *j);
const char *ev_type_name(const struct ev_value *v);

/* Argument access with EE's error wording. */
struct ev_value *ev_arg(const struct ev_args *a, const char *name);
int ev_require(const struct ev_args *a, const char *name, struct ev_value **out,
               struct errbuf *e);
int ev_type_error(struct errbuf *e, const struct ev_args *a, const char *arg,
                  const char *expected, const struct ev_value *got);

/* Calls a closure with positional arguments. */
int ev_call_func(struct ev_ctx *x, const struct ev_func *f, struct ev_value **args, int depth,
                 struct ev_value **out, struct errbuf *e);

/* Image-typed argument (numbers are promoted to constant images). */
int ev_image_arg(struct ev_ctx *x, const struct ev_args *a, const char *name, int required,
                 struct ev_image **out, struct errbuf *e);
/* Value to a JSON value for properties and getInfo (new reference). */
json_object *ev_to_json(struct ev_ctx *x, const struct ev_value *v, struct errbuf *e);

/* Projection / crsTransform arguments (eval_funcs.c). */
int ev_proj_from(struct ev_ctx *x, const struct ev_args *a, const char *name,
                 struct ev_proj *p, struct errbuf *e);
/* 1 when absent, 0 when parsed into af, negative on error. */
int ev_affine_from(const struct ev_args *a, const char *name, double *af, struct errbuf *e);
/* A number as EE's JSON shows it: integral values without a fraction. */
json_object *eval_number_json(double d);

/* Fails with a message naming the first argument of a that is not in
 * allowed (NULL-terminated). */
int ev_check_args(const struct ev_args *a, const char *const *allowed, struct errbuf *e);
/* A required Reducer argument. */
int ev_reducer_arg(const struct ev_args *a, const char *name, const struct ev_reducer **out,
                   struct errbuf *e);
/* An empty FeatureCollection with room for n features. */
struct ev_value *ev_feature_coll(struct ev_ctx *x, int n);
/* A feature with geometry g (or NULL), the properties of base (a dict or
 * NULL) and room for `extra` more, which ev_feature_set adds. */
struct ev_value *ev_feature_new(struct ev_ctx *x, struct ev_geom *g, const struct ev_value *base,
                                int extra);
void ev_feature_set(struct ev_value *f, const char *key, struct ev_value *v);
/* The value of key in dict d, or NULL. */
struct ev_value *ev_dict_get(const struct ev_value *d, const char *key);

/* The algorithm tables of each file (NULL-name terminated). */
extern const struct ev_algo ev_algos_values[];
extern const struct ev_algo ev_algos_image[];
extern const struct ev_algo ev_algos_vis[];
extern const struct ev_algo ev_algos_reduce[];   /* eval_reduce.c */
extern const struct ev_algo ev_algos_region[];   /* reduce_region.c */

#endif
