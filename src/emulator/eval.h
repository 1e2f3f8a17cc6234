/*
 * The emulator's expression evaluator: turns an EE Expression graph
 * ({"result": name, "values": {name: ValueNode}}) into values. Images are
 * lazy: each band is a tree of pixel nodes (struct ev_node) that render.c
 * evaluates only for the pixels of a request grid.
 *
 * Everything an evaluation allocates lives in its struct ev_ctx and is freed
 * by eval_ctx_free(), so an error anywhere simply unwinds to the handler.
 * A context belongs to one request and one thread.
 */
#ifndef EEFETCH_EMULATOR_EVAL_H
#define EEFETCH_EMULATOR_EVAL_H

#include <json-c/json.h>
#include <stdint.h>

#include "emulator/catalog.h"
#include "util/err.h"

struct ev_ctx;

enum ev_kind {
    EV_NULL, EV_BOOL, EV_NUM, EV_STR, EV_LIST, EV_DICT, EV_DATE, EV_DRANGE, EV_GEOM,
    EV_FEATURE, EV_FILTER, EV_IMAGE, EV_COLL, EV_PROJ, EV_FUNC, EV_REDUCER
};

/* EE pixel precision plus the value range, as getInfo reports them. */
enum ev_prec { EV_INT, EV_FLOAT, EV_DOUBLE };
struct ev_dtype {
    enum ev_prec prec;
    double lo, hi;
};

/* A projection: CRS plus EE-order affine; a bounded image also has dims. */
struct ev_proj {
    char crs[64];      /* empty: no default projection (constants, composites) */
    double affine[6];
    long width, height; /* 0: unbounded */
};

struct ev_geom {
    json_object *geojson;   /* lon/lat GeoJSON as getInfo returns it (owned by ctx) */
    void *ogr;              /* OGRGeometryH in EPSG:4326 (owned by ctx) */
    int geodesic;
    int is_point;
    /* Polygon rings flattened for point-in-polygon: ring r spans
     * pts[ring_start[r] .. ring_start[r+1]) as lon,lat pairs. */
    double *pts;
    int *ring_start;
    int nrings;
    double bbox[4];         /* minlon, minlat, maxlon, maxlat */
    /* A geometry given in another CRS (GeometryConstructors with crs): its
     * bounds there, exact, for clipToBoundsAndScale in that CRS. */
    char src_crs[64];       /* "" when given in lon/lat */
    double src_bbox[4];
};

enum node_op {
    NODE_LOAD, NODE_CONST, NODE_ADD, NODE_SUB, NODE_MUL, NODE_DIV, NODE_ND, NODE_CAST,
    NODE_LT, NODE_GT, NODE_LTE, NODE_GTE, NODE_EQ, NODE_NEQ, NODE_AND, NODE_OR, NODE_BITAND,
    NODE_UPDMASK, NODE_UNMASK, NODE_CLIP, NODE_REPROJECT, NODE_COMPOSITE, NODE_WHERE,
    NODE_GETMASK,  /* Image.mask(image): the mask as values, itself unmasked */
    NODE_VIS,      /* Image.visualize: one 8-bit output channel of a (eval_vis.c) */
    NODE_MATH1,    /* fn(a): per-pixel function (eval_pixelops.c, enum px_fn) */
    NODE_MATH2,    /* fn(a, b): per-pixel function of two operands */
    NODE_RESAMPLE, /* a sampled bilinearly or bicubically on grid (fn: 1, 2) */
    NODE_TERRAIN   /* slope / aspect / hillshade (fn) of a on grid, arg: sun */
};

/* Reducers (eval_reduce.c). A composite node reduces with one of them;
 * RED_MINMAX exists only as a reducer value (two outputs: min and max). */
enum ev_reduce { RED_MEDIAN, RED_MEAN, RED_MIN, RED_MAX, RED_MOSAIC,
                 RED_SUM, RED_COUNT, RED_STDDEV, RED_VARIANCE, RED_PERCENTILE,
                 RED_FIRST, RED_LAST, RED_QUALITY, RED_MINMAX,
                 RED_MODE, RED_SAMPLE_VARIANCE, RED_SAMPLE_STDDEV, RED_FREQ_HISTOGRAM,
                 RED_ALL_NONZERO, RED_ANY_NONZERO };

/* A Reducer value: its kind and its outputs in EE's order ("mean";
 * "p10", "p90"; "min", "max"), each output with the statistic it takes. */
struct ev_reducer {
    enum ev_reduce op;
    int nout;
    const char **outs;             /* output names */
    enum ev_reduce *out_op;        /* per output: the single statistic */
    double *pct;                   /* per output: the percentile (RED_PERCENTILE) */
    int unweighted;                /* Reducer.unweighted (the emulator never weights) */
};

/* One band's pixel expression. Scratch buffers are filled by render.c. */
struct ev_node {
    enum node_op op;
    const struct cat_image *img;   /* LOAD */
    int band;                      /* LOAD; TERRAIN: 1 when grid is in degrees */
    double value;                  /* CONST; COMPOSITE with RED_PERCENTILE: the percentile */
    struct ev_node *a, *b;         /* operands; UNMASK: b = fill value */
    struct ev_node *c;             /* WHERE: a = input, b = test, c = value */
    struct ev_dtype cast;          /* CAST target */
    enum px_type cast_px;          /* CAST target storage type */
    struct ev_geom *geom;          /* CLIP */
    struct ev_proj grid;           /* REPROJECT; width>0 also masks outside */
    enum ev_reduce reducer;        /* COMPOSITE; RED_QUALITY: kids are n values, then n
                                    * quality bands */
    int fn;                        /* MATH1, MATH2, RESAMPLE, TERRAIN: which one */
    double arg[2];                 /* TERRAIN: hillshade azimuth, elevation */
    struct ev_node **kids;
    int nkids;
    /* render scratch (owned by ctx) */
    double *sv, *sx, *sy;
    uint8_t *sm;
    long scap;
    int sv_const;                  /* sv, sm hold the constant operand b */
    /* Sharing: a node with several parents (a mask used by every band)
     * keeps its last row so it is computed once per row (render.c). */
    unsigned long pass;            /* render pass that counted nref */
    int nref;
    int memo;                      /* nref > 1 in this pass: mv, mm are in use */
    double *mv;
    uint8_t *mm;
    long mcap;
    unsigned long mgen;            /* point set whose values mv, mm hold */
    int height;                    /* longest path to a leaf, once render_check_depth knows it */
    const struct ev_vis *vis;      /* VIS: stretch, gamma, palette, channel (eval_vis.c) */
};

struct ev_band {
    char id[64];
    struct ev_dtype dt;
    struct ev_node *node;
    struct ev_proj proj;
    /* Image.visualize(opacity): the alpha of valid pixels in PNG output.
     * Kept by operations that copy the band (select, clip, ...). */
    int has_opacity;
    double opacity;
};

struct ev_image {
    int nbands;
    struct ev_band *bands;
    json_object *props;            /* object (owned by ctx) */
    const char *id;                /* set only for an unmodified Image.load */
    json_object *footprint;        /* GeoJSON or NULL (unbounded); borrowed */
    int64_t time_start;            /* copy of system:time_start, or INT64_MIN */
};

struct ev_coll {
    const char *id;
    int n;
    struct ev_value **items;
    json_object *props;
    int features;                  /* a FeatureCollection (items are Features) */
};

enum ev_filter_op { F_DATE_RANGE, F_INTERSECTS, F_LT, F_GT, F_EQ, F_NEQ, F_LTE, F_GTE,
                    F_NOT, F_AND, F_OR,
                    /* eval_props.c */
                    F_STR_CONTAINS, F_STR_STARTS, F_STR_ENDS, F_LIST_CONTAINS, F_CALENDAR,
                    F_ALWAYS, F_NEVER, F_NOT_NULL, F_RANGE, F_MAX_DIFF };

struct ev_filter {
    enum ev_filter_op op;
    const char *left_field, *right_field;
    struct ev_value *left_value, *right_value;
    struct ev_filter **subs;
    int nsubs;
    /* CALENDAR: calendar field and inclusive range; RANGE: field in
     * [lo, hi]; MAX_DIFF: |left - right| <= lo; NOT_NULL: names in extra */
    int cal_field;
    double lo, hi;
    struct ev_value *extra;
};

struct ev_scope;

struct ev_func {
    int nargs;
    const char **argnames;
    const char *body;              /* key into Expression.values */
    /* A function the server built itself (Image.parseExpression): called
     * with the arguments in argnames order instead of evaluating a body. */
    int (*native)(struct ev_ctx *x, const struct ev_func *f, struct ev_value **args,
                  int depth, struct ev_value **out, struct errbuf *e);
    const void *data;
    /* The arguments of the calls it was defined in (a closure): its body may
     * reference them, e.g. an inner List.map callback using the outer
     * Collection.map element. NULL outside every function. */
    const struct ev_scope *closure;
};

struct ev_value {
    enum ev_kind kind;
    int b;
    double num;
    int is_int;                    /* number came from an integer literal */
    int has_i64;                   /* i64 holds the exact value (integerValue) */
    int64_t i64;
    const char *str;
    int n;                         /* list / dict size */
    struct ev_value **items;
    const char **keys;             /* dict keys */
    int64_t t0, t1;                /* date (t0) / date range [t0, t1) */
    struct ev_geom *geom;          /* GEOM, FEATURE */
    struct ev_value *fprops;       /* FEATURE properties (dict) */
    struct ev_filter *filter;
    struct ev_image *img;
    struct ev_coll *coll;
    struct ev_proj proj;
    struct ev_func *func;
    enum ev_reduce reducer;
    const struct ev_reducer *red;  /* REDUCER: outputs and parameters */
};

struct ev_ctx;

int eval_ctx_new(struct ev_ctx **out, const struct catalog *cat);
void eval_ctx_free(struct ev_ctx *x);

/* Evaluates expr. On failure returns a negative code with EE's message in e
 * (e.g. "Image.select: Pattern 'B9' did not match any bands."). */
int eval_expression(struct ev_ctx *x, json_object *expr, struct ev_value **out,
                    struct errbuf *e);

/* Work of the pixels an evaluation renders itself (region reductions), in
 * render_work_bytes's terms, for the latency model of value:compute. */
void eval_add_work(struct ev_ctx *x, int64_t bytes, int64_t images);
void eval_work(const struct ev_ctx *x, int64_t *bytes, int64_t *images);

/* An image value for a catalog image (what Image.load returns). */
struct ev_value *eval_load_image(struct ev_ctx *x, const struct cat_image *img);

/* getInfo JSON for a value (new reference), or NULL with e set. */
json_object *eval_getinfo(struct ev_ctx *x, const struct ev_value *v, struct errbuf *e);

/* Storage type for a band's dtype (int ranges pick the smallest fitting type). */
enum px_type eval_dtype_px(const struct ev_dtype *dt);
struct ev_dtype eval_px_dtype(enum px_type t);

/* Context-owned allocation (zeroed); NULL when out of memory. */
void *eval_alloc(struct ev_ctx *x, size_t n);
/* Transformation cache: returns an OGRCoordinateTransformationH or NULL. */
void *eval_transform(struct ev_ctx *x, const char *src_crs, const char *dst_crs,
                     struct errbuf *e);
/* Whether crs is a usable "EPSG:n" code. */
int eval_crs_valid(const char *crs);
/* Bounding box of g in crs (minx, miny, maxx, maxy). */
int eval_geom_bounds(struct ev_ctx *x, const struct ev_geom *g, const char *crs, double *b,
                     struct errbuf *e);
/* Whether "EPSG:n" names a geographic CRS (degrees). -1 if invalid. */
int eval_crs_geographic(struct ev_ctx *x, const char *crs);
/* Registers an owned json object / OGR geometry with the context. */
json_object *eval_own_json(struct ev_ctx *x, json_object *o);

/* Image.visualize's parameters, as the function's arguments or a REST
 * request's visualizationOptions give them (counts 0 = not given). */
struct eval_vis_spec {
    const char *fname;              /* for messages: "Image.visualize", ... */
    const char **bands;
    int nbands;
    double min[3], max[3], gain[3], bias[3], gamma[3];
    int nmin, nmax, ngain, nbias, ngamma;
    const char **palette;
    int npalette;
    int has_opacity;
    double opacity;
    int force_rgb;
};

/* The 8-bit visualization of in (bands vis-red, vis-green, vis-blue, or
 * vis-gray for one band without palette): see docs/emulator.md. */
int eval_visualize(struct ev_ctx *x, const struct ev_image *in, const struct eval_vis_spec *s,
                   struct ev_image **out, struct errbuf *e);
/* A palette colour: "RRGGBB", "#RRGGBB", "RGB" or a CSS name. 0 or -1. */
int eval_parse_color(const char *s, unsigned char rgb[3]);

/* Image.visualize's per-row work for a NODE_VIS node (eval_vis.c): maps the
 * input values in val to one 8-bit channel, in place; masked pixels stay 0. */
void eval_vis_row(const struct ev_node *nd, long n, double *val, const uint8_t *mask);

/* Geometry helpers (ee_geom.c). */
struct ev_geom *geom_from_geojson(struct ev_ctx *x, json_object *gj, int geodesic,
                                  struct errbuf *e);
int geom_contains(const struct ev_geom *g, double lon, double lat);
int geom_intersects_geojson(const struct ev_geom *g, json_object *gj);

#endif
