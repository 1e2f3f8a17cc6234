/*
 * Visualization functions of the evaluator: Image.visualize (EE's 8-bit
 * stretch, gamma and palette rendering, also used for the REST
 * visualizationOptions of thumbnails and maps) and Image.slice.
 *
 * Each output channel is one NODE_VIS pixel node over one input band; its
 * parameters (struct ev_vis) live in the evaluation context.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emulator/eval_int.h"

#define NOMEM() err_set(e, ERR_NOMEM, "out of memory")

struct ev_vis {
    double min, max;       /* input values mapped to 0 and 255 */
    double gamma;          /* output = 255 * x^(1/gamma), x the stretched value in [0, 1] */
    int chan;              /* palette channel 0 red, 1 green, 2 blue */
    int npal;              /* palette colours, 0 = none */
    const unsigned char (*pal)[3];
};

/* ------------------------------------------------------------ colours */

/* CSS named colours (CSS Color Module Level 4), which EE's palettes accept
 * besides hexadecimal strings. */
static const struct {
    const char *name;
    unsigned rgb;
} css_colors[] = {
    {"aliceblue", 0xf0f8ff}, {"antiquewhite", 0xfaebd7}, {"aqua", 0x00ffff},
    {"aquamarine", 0x7fffd4}, {"azure", 0xf0ffff}, {"beige", 0xf5f5dc},
    {"bisque", 0xffe4c4}, {"black", 0x000000}, {"blanchedalmond", 0xffebcd},
    {"blue", 0x0000ff}, {"blueviolet", 0x8a2be2}, {"brown", 0xa52a2a},
    {"burlywood", 0xdeb887}, {"cadetblue", 0x5f9ea0}, {"chartreuse", 0x7fff00},
    {"chocolate", 0xd2691e}, {"coral", 0xff7f50}, {"cornflowerblue", 0x6495ed},
    {"cornsilk", 0xfff8dc}, {"crimson", 0xdc143c}, {"cyan", 0x00ffff},
    {"darkblue", 0x00008b}, {"darkcyan", 0x008b8b}, {"darkgoldenrod", 0xb8860b},
    {"darkgray", 0xa9a9a9}, {"darkgreen", 0x006400}, {"darkgrey", 0xa9a9a9},
    {"darkkhaki", 0xbdb76b}, {"darkmagenta", 0x8b008b}, {"darkolivegreen", 0x556b2f},
    {"darkorange", 0xff8c00}, {"darkorchid", 0x9932cc}, {"darkred", 0x8b0000},
    {"darksalmon", 0xe9967a}, {"darkseagreen", 0x8fbc8f}, {"darkslateblue", 0x483d8b},
    {"darkslategray", 0x2f4f4f}, {"darkslategrey", 0x2f4f4f}, {"darkturquoise", 0x00ced1},
    {"darkviolet", 0x9400d3}, {"deeppink", 0xff1493}, {"deepskyblue", 0x00bfff},
    {"dimgray", 0x696969}, {"dimgrey", 0x696969}, {"dodgerblue", 0x1e90ff},
    {"firebrick", 0xb22222}, {"floralwhite", 0xfffaf0}, {"forestgreen", 0x228b22},
    {"fuchsia", 0xff00ff}, {"gainsboro", 0xdcdcdc}, {"ghostwhite", 0xf8f8ff},
    {"gold", 0xffd700}, {"goldenrod", 0xdaa520}, {"gray", 0x808080},
    {"green", 0x008000}, {"greenyellow", 0xadff2f}, {"grey", 0x808080},
    {"honeydew", 0xf0fff0}, {"hotpink", 0xff69b4}, {"indianred", 0xcd5c5c},
    {"indigo", 0x4b0082}, {"ivory", 0xfffff0}, {"khaki", 0xf0e68c},
    {"lavender", 0xe6e6fa}, {"lavenderblush", 0xfff0f5}, {"lawngreen", 0x7cfc00},
    {"lemonchiffon", 0xfffacd}, {"lightblue", 0xadd8e6}, {"lightcoral", 0xf08080},
    {"lightcyan", 0xe0ffff}, {"lightgoldenrodyellow", 0xfafad2}, {"lightgray", 0xd3d3d3},
    {"lightgreen", 0x90ee90}, {"lightgrey", 0xd3d3d3}, {"lightpink", 0xffb6c1},
    {"lightsalmon", 0xffa07a}, {"lightseagreen", 0x20b2aa}, {"lightskyblue", 0x87cefa},
    {"lightslategray", 0x778899}, {"lightslategrey", 0x778899}, {"lightsteelblue", 0xb0c4de},
    {"lightyellow", 0xffffe0}, {"lime", 0x00ff00}, {"limegreen", 0x32cd32},
    {"linen", 0xfaf0e6}, {"magenta", 0xff00ff}, {"maroon", 0x800000},
    {"mediumaquamarine", 0x66cdaa}, {"mediumblue", 0x0000cd}, {"mediumorchid", 0xba55d3},
    {"mediumpurple", 0x9370db}, {"mediumseagreen", 0x3cb371}, {"mediumslateblue", 0x7b68ee},
    {"mediumspringgreen", 0x00fa9a}, {"mediumturquoise", 0x48d1cc},
    {"mediumvioletred", 0xc71585}, {"midnightblue", 0x191970}, {"mintcream", 0xf5fffa},
    {"mistyrose", 0xffe4e1}, {"moccasin", 0xffe4b5}, {"navajowhite", 0xffdead},
    {"navy", 0x000080}, {"oldlace", 0xfdf5e6}, {"olive", 0x808000},
    {"olivedrab", 0x6b8e23}, {"orange", 0xffa500}, {"orangered", 0xff4500},
    {"orchid", 0xda70d6}, {"palegoldenrod", 0xeee8aa}, {"palegreen", 0x98fb98},
    {"paleturquoise", 0xafeeee}, {"palevioletred", 0xdb7093}, {"papayawhip", 0xffefd5},
    {"peachpuff", 0xffdab9}, {"peru", 0xcd853f}, {"pink", 0xffc0cb},
    {"plum", 0xdda0dd}, {"powderblue", 0xb0e0e6}, {"purple", 0x800080},
    {"rebeccapurple", 0x663399}, {"red", 0xff0000}, {"rosybrown", 0xbc8f8f},
    {"royalblue", 0x4169e1}, {"saddlebrown", 0x8b4513}, {"salmon", 0xfa8072},
    {"sandybrown", 0xf4a460}, {"seagreen", 0x2e8b57}, {"seashell", 0xfff5ee},
    {"sienna", 0xa0522d}, {"silver", 0xc0c0c0}, {"skyblue", 0x87ceeb},
    {"slateblue", 0x6a5acd}, {"slategray", 0x708090}, {"slategrey", 0x708090},
    {"snow", 0xfffafa}, {"springgreen", 0x00ff7f}, {"steelblue", 0x4682b4},
    {"tan", 0xd2b48c}, {"teal", 0x008080}, {"thistle", 0xd8bfd8},
    {"tomato", 0xff6347}, {"turquoise", 0x40e0d0}, {"violet", 0xee82ee},
    {"wheat", 0xf5deb3}, {"white", 0xffffff}, {"whitesmoke", 0xf5f5f5},
    {"yellow", 0xffff00}, {"yellowgreen", 0x9acd32},
};

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
}

/* "RRGGBB", "#RRGGBB", "RGB", "#RGB" or a CSS name, into rgb. */
int eval_parse_color(const char *s, unsigned char rgb[3])
{
    size_t n, i;
    const char *h = s[0] == '#' ? s + 1 : s;

    n = strlen(h);
    if (n == 6 || n == 3) {
        int d[6];
        for (i = 0; i < n; i++)
            if ((d[i] = hexval((unsigned char)h[i])) < 0)
                break;
        if (i == n) {
            for (i = 0; i < 3; i++)
                rgb[i] = (unsigned char)(n == 6 ? d[2 * i] * 16 + d[2 * i + 1]
                                                : d[i] * 17);
            return 0;
        }
    }
    if (s[0] != '#')
        for (i = 0; i < sizeof css_colors / sizeof *css_colors; i++)
            if (strcasecmp(css_colors[i].name, s) == 0) {
                rgb[0] = (unsigned char)(css_colors[i].rgb >> 16);
                rgb[1] = (unsigned char)(css_colors[i].rgb >> 8);
                rgb[2] = (unsigned char)css_colors[i].rgb;
                return 0;
            }
    return -1;
}

/* ------------------------------------------------------------ rendering */

void eval_vis_row(const struct ev_node *nd, long n, double *val, const uint8_t *mask)
{
    const struct ev_vis *v = nd->vis;
    double span = v->max - v->min, inv_g = 1.0 / v->gamma;
    long i;

    for (i = 0; i < n; i++) {
        double t, out;
        if (!mask[i]) {
            val[i] = 0;
            continue;
        }
        /* Stretch to [0, 1], clamped; NaN counts as the low end. */
        if (span != 0)
            t = (val[i] - v->min) / span;
        else
            t = val[i] > v->min ? 1 : 0;
        t = t > 0 ? (t < 1 ? t : 1) : 0;
        if (inv_g != 1)
            t = pow(t, inv_g);
        if (v->npal > 0) {
            /* Linear interpolation between neighbouring palette colours. */
            double p = t * (v->npal - 1);
            int k = (int)floor(p);
            if (k >= v->npal - 1)
                out = v->pal[v->npal - 1][v->chan];
            else
                out = v->pal[k][v->chan] +
                      (p - k) * (v->pal[k + 1][v->chan] - v->pal[k][v->chan]);
        } else {
            out = t * 255;
        }
        val[i] = floor(out + 0.5);
    }
}

/* ------------------------------------------------------------ building */

static struct ev_image *image_like(struct ev_ctx *x, const struct ev_image *src, int nbands)
{
    struct ev_image *img = eval_alloc(x, sizeof *img);
    if (!img || !(img->bands = eval_alloc(x, sizeof *img->bands * (size_t)(nbands + 1))))
        return NULL;
    img->nbands = nbands;
    img->props = src->props;
    img->footprint = src->footprint;
    img->time_start = src->time_start;
    return img;
}

static struct ev_value *image_value(struct ev_ctx *x, struct ev_image *img)
{
    struct ev_value *v = img ? ev_new(x, EV_IMAGE) : NULL;
    if (v)
        v->img = img;
    return v;
}

/* Picks the n parameter values for band k (one value for all, or one each). */
static double per_band(const double *v, int nv, int k, double dflt)
{
    return nv == 0 ? dflt : nv == 1 ? v[0] : v[k];
}

int eval_visualize(struct ev_ctx *x, const struct ev_image *in, const struct eval_vis_spec *s,
                   struct ev_image **out, struct errbuf *e)
{
    static const char *const rgb_names[] = {"vis-red", "vis-green", "vis-blue"};
    const char *fn = s->fname;
    int src[3], nsrc, nout, i, k;
    unsigned char (*pal)[3] = NULL;
    struct ev_image *img;

    /* The bands to show: the named ones, else the first three (or the only one). */
    if (s->nbands > 0) {
        if (s->nbands != 1 && s->nbands != 3)
            return err_set(e, ERR_USAGE, "%s: Expected 1 or 3 bands to visualize, got %d.", fn,
                           s->nbands);
        for (i = 0; i < s->nbands; i++) {
            for (k = 0; k < in->nbands; k++)
                if (strcmp(in->bands[k].id, s->bands[i]) == 0)
                    break;
            if (k == in->nbands)
                return err_set(e, ERR_USAGE, "%s: Pattern '%s' did not match any bands.", fn,
                               s->bands[i]);
            src[i] = k;
        }
        nsrc = s->nbands;
    } else if (in->nbands >= 3) {
        nsrc = 3;
        for (i = 0; i < 3; i++)
            src[i] = i;
    } else if (in->nbands == 1) {
        nsrc = 1;
        src[0] = 0;
    } else {
        return err_set(e, ERR_USAGE, "%s: Expected 1 or 3 bands to visualize, the image has %d.",
                       fn, in->nbands);
    }
    if (s->npalette > 0 && nsrc != 1)
        return err_set(e, ERR_USAGE, "%s: Can't provide a palette when visualizing more than one "
                       "band.", fn);
    if ((s->nmin || s->nmax) && (s->ngain || s->nbias))
        return err_set(e, ERR_USAGE, "%s: Can't specify both gain/bias and min/max.", fn);
#define CHECK_COUNT(cnt, what)                                                              \
    if ((cnt) > 1 && (cnt) != nsrc)                                                         \
        return err_set(e, ERR_USAGE, "%s: %s must have 1 or %d values, got %d.", fn, what, \
                       nsrc, (cnt));
    CHECK_COUNT(s->nmin, "min")
    CHECK_COUNT(s->nmax, "max")
    CHECK_COUNT(s->ngain, "gain")
    CHECK_COUNT(s->nbias, "bias")
    CHECK_COUNT(s->ngamma, "gamma")
#undef CHECK_COUNT
    for (i = 0; i < s->ngamma; i++)
        if (!(s->gamma[i] > 0))
            return err_set(e, ERR_USAGE, "%s: gamma must be positive.", fn);
    if (s->has_opacity && !(s->opacity >= 0 && s->opacity <= 1))
        return err_set(e, ERR_USAGE, "%s: opacity must be between 0 and 1.", fn);
    if (s->npalette > 0) {
        if (!(pal = eval_alloc(x, sizeof *pal * (size_t)s->npalette)))
            return NOMEM();
        for (i = 0; i < s->npalette; i++)
            if (eval_parse_color(s->palette[i], pal[i]) != 0)
                return err_set(e, ERR_USAGE, "%s: Invalid color '%s' in the palette: use a CSS "
                               "color name or a hexadecimal RRGGBB string.", fn, s->palette[i]);
    }
    nout = s->npalette > 0 || nsrc == 3 || s->force_rgb ? 3 : 1;
    if (!(img = image_like(x, in, nout)))
        return NOMEM();
    for (i = 0; i < nout; i++) {
        int b = nsrc == 3 ? i : 0, from = src[b];
        const struct ev_band *ib = &in->bands[from];
        struct ev_band *ob = &img->bands[i];
        struct ev_vis *v = eval_alloc(x, sizeof *v);
        double lo, hi;

        if (!v || !(ob->node = eval_alloc(x, sizeof *ob->node)))
            return NOMEM();
        /* Defaults: the full range of an integer band's type, [0, 1] otherwise. */
        lo = ib->dt.prec == EV_INT ? ib->dt.lo : 0;
        hi = ib->dt.prec == EV_INT ? ib->dt.hi : 1;
        if (s->ngain || s->nbias) {
            /* v * gain + bias on the 0-255 scale, i.e. min = -bias / gain,
             * max = min + 255 / gain (the JS client's conversion). */
            double g = per_band(s->gain, s->ngain, b, 1), bi = per_band(s->bias, s->nbias, b, 0);
            if (g == 0)
                return err_set(e, ERR_USAGE, "%s: gain must not be 0.", fn);
            lo = -bi / g;
            hi = lo + (s->npalette > 0 ? s->npalette - 1 : 255) / g;
        } else {
            lo = per_band(s->min, s->nmin, b, s->nmin || s->nmax ? 0 : lo);
            hi = per_band(s->max, s->nmax, b, s->nmin || s->nmax ? 1 : hi);
        }
        v->min = lo;
        v->max = hi;
        v->gamma = per_band(s->gamma, s->ngamma, b, 1);
        v->chan = i;
        v->npal = s->npalette;
        v->pal = (const unsigned char (*)[3])pal;
        ob->node->op = NODE_VIS;
        ob->node->a = ib->node;
        ob->node->vis = v;
        snprintf(ob->id, sizeof ob->id, "%s", nout == 1 ? "vis-gray" : rgb_names[i]);
        ob->dt.prec = EV_INT;
        ob->dt.lo = 0;
        ob->dt.hi = 255;
        ob->proj = ib->proj;
        ob->has_opacity = s->has_opacity || ib->has_opacity;
        ob->opacity = s->has_opacity ? s->opacity : ib->opacity;
    }
    *out = img;
    return 0;
}

/* ------------------------------------------------------------ arguments */

/* A number, a list of numbers or a comma-separated string of numbers. */
static int number_list(const struct ev_args *a, const char *name, double *out, int cap, int *n,
                       struct errbuf *e)
{
    struct ev_value *v = ev_arg(a, name);
    int i;

    *n = 0;
    if (!v || v->kind == EV_NULL)
        return 0;
    if (v->kind == EV_NUM) {
        out[0] = v->num;
        *n = 1;
        return 0;
    }
    if (v->kind == EV_LIST) {
        if (v->n > cap)
            return err_set(e, ERR_USAGE, "%s: %s must have 1 or 3 values, got %d.", a->fname,
                           name, v->n);
        for (i = 0; i < v->n; i++) {
            if (v->items[i]->kind != EV_NUM)
                return ev_type_error(e, a, name, "List<Float>", v);
            out[i] = v->items[i]->num;
        }
        *n = v->n;
        return 0;
    }
    if (v->kind == EV_STR) {
        const char *p = v->str;
        while (*p) {
            char *end;
            if (*n == cap)
                return err_set(e, ERR_USAGE, "%s: %s must have 1 or 3 values.", a->fname, name);
            out[*n] = strtod(p, &end);
            if (end == p)
                return err_set(e, ERR_USAGE, "%s: Invalid %s '%s': expected numbers separated "
                               "by commas.", a->fname, name, v->str);
            (*n)++;
            p = end;
            while (isspace((unsigned char)*p))
                p++;
            if (*p == ',')
                p++;
            else if (*p)
                return err_set(e, ERR_USAGE, "%s: Invalid %s '%s': expected numbers separated "
                               "by commas.", a->fname, name, v->str);
        }
        return 0;
    }
    return ev_type_error(e, a, name, "Object", v);
}

/* A list of strings or one comma-separated string, into context-owned copies. */
static int string_list(struct ev_ctx *x, const struct ev_args *a, const char *name,
                       const char ***out, int *n, struct errbuf *e)
{
    struct ev_value *v = ev_arg(a, name);
    int i;

    *n = 0;
    *out = NULL;
    if (!v || v->kind == EV_NULL)
        return 0;
    if (v->kind == EV_LIST) {
        if (!(*out = eval_alloc(x, sizeof **out * (size_t)(v->n + 1))))
            return NOMEM();
        for (i = 0; i < v->n; i++) {
            if (v->items[i]->kind != EV_STR)
                return ev_type_error(e, a, name, "List<String>", v);
            (*out)[i] = v->items[i]->str;
        }
        *n = v->n;
        return 0;
    }
    if (v->kind == EV_STR) {
        char *copy = eval_strdup(x, v->str), *tok, *save = NULL;
        int cap = 1;
        const char *p;
        if (!copy)
            return NOMEM();
        for (p = v->str; *p; p++)
            cap += *p == ',';
        if (!(*out = eval_alloc(x, sizeof **out * (size_t)(cap + 1))))
            return NOMEM();
        for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            while (isspace((unsigned char)*tok))
                tok++;
            for (i = (int)strlen(tok); i > 0 && isspace((unsigned char)tok[i - 1]); i--)
                tok[i - 1] = '\0';
            if (*tok)
                (*out)[(*n)++] = tok;
        }
        return 0;
    }
    return ev_type_error(e, a, name, "Object", v);
}

static int f_visualize(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    struct eval_vis_spec s;
    struct ev_image *in, *img;
    struct ev_value *v;
    int rc;

    memset(&s, 0, sizeof s);
    s.fname = a->fname;
    if ((rc = ev_image_arg(x, a, "image", 1, &in, e)) ||
        (rc = string_list(x, a, "bands", &s.bands, &s.nbands, e)) ||
        (rc = number_list(a, "min", s.min, 3, &s.nmin, e)) ||
        (rc = number_list(a, "max", s.max, 3, &s.nmax, e)) ||
        (rc = number_list(a, "gain", s.gain, 3, &s.ngain, e)) ||
        (rc = number_list(a, "bias", s.bias, 3, &s.nbias, e)) ||
        (rc = number_list(a, "gamma", s.gamma, 3, &s.ngamma, e)) ||
        (rc = string_list(x, a, "palette", &s.palette, &s.npalette, e)))
        return rc;
    if ((v = ev_arg(a, "opacity")) && v->kind != EV_NULL) {
        if (v->kind != EV_NUM)
            return ev_type_error(e, a, "opacity", "Float", v);
        s.has_opacity = 1;
        s.opacity = v->num;
    }
    if ((v = ev_arg(a, "forceRgbOutput")) && v->kind != EV_NULL) {
        if (v->kind != EV_BOOL && v->kind != EV_NUM)
            return ev_type_error(e, a, "forceRgbOutput", "Boolean", v);
        s.force_rgb = v->kind == EV_BOOL ? v->b : v->num != 0;
    }
    if ((rc = eval_visualize(x, in, &s, &img, e)))
        return rc;
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

/* Image.slice(image, start, end?): bands [start, end) by index; negative
 * indexes count from the end, as in Python. */
static int f_slice(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                   struct errbuf *e)
{
    struct ev_image *in, *img;
    struct ev_value *sv, *ev;
    long start, end, n;
    int rc, i;

    if ((rc = ev_image_arg(x, a, "image", 1, &in, e)) || (rc = ev_require(a, "start", &sv, e)))
        return rc;
    if (sv->kind != EV_NUM || sv->num != floor(sv->num))
        return ev_type_error(e, a, "start", "Integer", sv);
    ev = ev_arg(a, "end");
    if (ev && ev->kind != EV_NULL && (ev->kind != EV_NUM || ev->num != floor(ev->num)))
        return ev_type_error(e, a, "end", "Integer", ev);
    n = in->nbands;
    start = (long)fmax(fmin(sv->num, (double)n), -(double)n - 1);
    end = ev && ev->kind == EV_NUM ? (long)fmax(fmin(ev->num, (double)n), -(double)n - 1) : n;
    if (start < 0)
        start = start + n < 0 ? 0 : start + n;
    if (end < 0)
        end = end + n < 0 ? 0 : end + n;
    if (end < start)
        end = start;
    if (!(img = image_like(x, in, (int)(end - start))))
        return NOMEM();
    for (i = 0; i < img->nbands; i++)
        img->bands[i] = in->bands[start + i];
    return (*o = image_value(x, img)) ? 0 : NOMEM();
}

const struct ev_algo ev_algos_vis[] = {
    {"Image.visualize", f_visualize, 0}, {"Image.slice", f_slice, 0},
    {NULL, NULL, 0},
};
