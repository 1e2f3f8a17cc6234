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
    int op;   /* the table entry's op (struct ev_algo) */
};

typedef int (*ev_fn)(struct ev_ctx *x, const struct ev_args *a, struct ev_value **out,
                     struct errbuf *e);

/* One algorithm the evaluator serves. A family of operators that differ
 * only in what they compute (Image.add, Image.subtract, ...) is one
 * generic fn listed once per name with its own op (NODE_ADD, NODE_SUB),
 * which the fn reads as a->op; a function of its own leaves op 0. This
 * is the only way an algorithm is wired: no per-name wrapper functions. */
struct ev_algo {
    const char *name;
    ev_fn fn;
    int op;
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
/* Whether EE's signatures (data/algorithms-signatures.json) name this
 * function (algorithms.c). */
int algorithms_known(const char *name);

/* Shared between eval_funcs.c and the value files (eval_dates.c,
 * eval_lists.c, eval_props.c). */
int ev_to_millis(const struct ev_value *v, int64_t *ms);
/* -1, 0, 1, or -2 when the values are not comparable. */
int ev_compare_values(const struct ev_value *l, const struct ev_value *r);
int ev_filter_match(struct ev_ctx *x, const struct ev_filter *f, const struct ev_value *el);
/* The filters of eval_props.c (F_STR_CONTAINS and later). */
int ev_filter_match_more(struct ev_ctx *x, const struct ev_filter *f, const struct ev_value *el);
/* A property of an element (NULL when absent); a list item that is not an
 * element has one property, "item": itself. */
struct ev_value *ev_element_property(struct ev_ctx *x, const struct ev_value *el,
                                     const char *name);
/* system:bands / system:band_names of an image (eval_props.c). */
struct ev_value *ev_image_band_property(struct ev_ctx *x, const struct ev_image *img,
                                        const char *name);
struct ev_value *ev_new_coll(struct ev_ctx *x, const char *id, int n);
/* EE's equality of two values (numbers by value, lists and dictionaries
 * element by element). */
int ev_values_equal(const struct ev_value *p, const struct ev_value *q);

/* Typed arguments with EE's errors (eval_lists.c). An absent or null
 * optional argument leaves *out as given (the default). */
int ev_get_number(const struct ev_args *a, const char *name, int required, double *out,
                  struct errbuf *e);
int ev_get_string(const struct ev_args *a, const char *name, int required, const char **out,
                  struct errbuf *e);
int ev_get_list(const struct ev_args *a, const char *name, int required, struct ev_value **out,
                struct errbuf *e);
int ev_get_dict(const struct ev_args *a, const char *name, int required, struct ev_value **out,
                struct errbuf *e);
struct ev_value *ev_bool(struct ev_ctx *x, int b);
/* Folds function(item, state) over items from the "first" argument
 * (List.iterate, Collection.iterate). */
int ev_iterate(struct ev_ctx *x, const struct ev_args *a, struct ev_value **items, int n,
               struct ev_value **o, struct errbuf *e);

/* EE's date strings (ISO 8601, lenient: "2013-3-15", "2020-08-18 12:00",
 * an offset or Z), UTC unless the string names an offset. 0 or -1. */
int ev_parse_date(const char *s, int64_t *ms);

/* Calendar fields of a UTC instant (eval_dates.c), for Filter.calendarRange. */
enum ev_cal_field { CAL_YEAR, CAL_MONTH, CAL_WEEK, CAL_DAY_OF_YEAR, CAL_DAY_OF_MONTH,
                    CAL_DAY_OF_WEEK, CAL_HOUR, CAL_MINUTE, CAL_SECOND };
/* -1 for an unknown name. */
int ev_cal_field_parse(const char *name);
long ev_cal_field_value(int64_t ms, int field);

/* The algorithm tables of each file (NULL-name terminated). */
extern const struct ev_algo ev_algos_values[];
extern const struct ev_algo ev_algos_image[];
extern const struct ev_algo ev_algos_vis[];
extern const struct ev_algo ev_algos_pixelops[];

/* Image.parseExpression's parser (exprparse.c): the parsed text, which
 * expr_eval evaluates once the function is called with its images. */
struct expr_ast;
int expr_parse(struct ev_ctx *x, const char *text, struct expr_ast **out, struct errbuf *e);
int expr_eval(struct ev_ctx *x, const struct expr_ast *ast, const char *default_name,
              const char *const *names, struct ev_value **vals, int nvars, int free_bands,
              int depth, struct ev_value **out, struct errbuf *e);
/* Calls the algorithm `name` with named arguments (NULL-terminated
 * name, value pairs), as an invocation in the graph would. */
int ev_invoke(struct ev_ctx *x, const char *name, int depth, struct ev_value **out,
              struct errbuf *e, ...);
/* fn (enum px_fn2, pixelops.h) of two images with EE's band matching. */
int ev_image_math2(struct ev_ctx *x, const char *fname, struct ev_value *a, struct ev_value *b,
                   int fn, struct ev_value **out, struct errbuf *e);
extern const struct ev_algo ev_algos_reduce[];   /* eval_reduce.c */
extern const struct ev_algo ev_algos_region[];   /* reduce_region.c */
extern const struct ev_algo ev_algos_dates[];
extern const struct ev_algo ev_algos_lists[];
extern const struct ev_algo ev_algos_props[];

#endif
