/*
 * Number, String, List and Dictionary functions as EE has them, IsEqual,
 * and the typed-argument helpers the value files share.
 *
 * Strings are byte strings (EE counts UTF-16 units: the two agree on
 * ASCII). Regular expressions are POSIX extended ones, with Java's \d and
 * \D translated; EE runs Java's engine, which accepts more.
 */
#include "emulator/eval_int.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOMEM() err_set(e, ERR_NOMEM, "out of memory")
#define MAX_LIST 10000000   /* elements a list function may build */

/* ------------------------------------------------------------- helpers */

/* The argument `name`, or NULL when absent or null: then a missing required
 * argument is EE's error and an optional one leaves its default. */
static int present(const struct ev_args *a, const char *name, int required, struct ev_value **v,
                   struct errbuf *e)
{
    *v = ev_arg(a, name);
    if (*v && (*v)->kind == EV_NULL)
        *v = NULL;
    if (!*v && required)
        return err_set(e, ERR_USAGE, "%s: Parameter '%s' is required.", a->fname, name);
    return 0;
}

int ev_get_number(const struct ev_args *a, const char *name, int required, double *out,
                  struct errbuf *e)
{
    struct ev_value *v;
    int rc = present(a, name, required, &v, e);
    if (rc || !v)
        return rc;
    if (v->kind == EV_BOOL) {   /* EE's booleans are numbers 0 and 1 */
        *out = v->b;
        return 0;
    }
    if (v->kind != EV_NUM)
        return ev_type_error(e, a, name, "Number", v);
    *out = v->num;
    return 0;
}

int ev_get_string(const struct ev_args *a, const char *name, int required, const char **out,
                  struct errbuf *e)
{
    struct ev_value *v;
    int rc = present(a, name, required, &v, e);
    if (rc || !v)
        return rc;
    if (v->kind != EV_STR)
        return ev_type_error(e, a, name, "String", v);
    *out = v->str;
    return 0;
}

int ev_get_list(const struct ev_args *a, const char *name, int required, struct ev_value **out,
                struct errbuf *e)
{
    struct ev_value *v;
    int rc = present(a, name, required, &v, e);
    if (rc || !v)
        return rc;
    if (v->kind != EV_LIST)
        return ev_type_error(e, a, name, "List<Object>", v);
    *out = v;
    return 0;
}

int ev_get_dict(const struct ev_args *a, const char *name, int required, struct ev_value **out,
                struct errbuf *e)
{
    struct ev_value *v;
    int rc = present(a, name, required, &v, e);
    if (rc || !v)
        return rc;
    if (v->kind != EV_DICT)
        return ev_type_error(e, a, name, "Dictionary<Object>", v);
    *out = v;
    return 0;
}

struct ev_value *ev_bool(struct ev_ctx *x, int b)
{
    struct ev_value *v = ev_new(x, EV_BOOL);
    if (v)
        v->b = b != 0;
    return v;
}

static struct ev_value *int_num(struct ev_ctx *x, double d)
{
    struct ev_value *v = ev_num(x, d);
    return v;
}

static int get_index(const struct ev_args *a, const char *name, int required, long dflt,
                     long *out, struct errbuf *e)
{
    double d = (double)dflt;
    int rc = ev_get_number(a, name, required, &d, e);
    if (rc)
        return rc;
    if (!(fabs(d) < 2e9))
        d = d < 0 ? -2e9 : 2e9;
    *out = (long)floor(d);
    return 0;
}

int ev_values_equal(const struct ev_value *p, const struct ev_value *q)
{
    int i, j;
    if (p == q)
        return 1;
    if (!p || !q)
        return 0;
    if ((p->kind == EV_NUM || p->kind == EV_BOOL) && (q->kind == EV_NUM || q->kind == EV_BOOL))
        return (p->kind == EV_NUM ? p->num : p->b) == (q->kind == EV_NUM ? q->num : q->b) &&
               p->kind == q->kind;
    if (p->kind != q->kind)
        return 0;
    switch (p->kind) {
    case EV_NULL: return 1;
    case EV_STR: return strcmp(p->str, q->str) == 0;
    case EV_DATE: return p->t0 == q->t0;
    case EV_DRANGE: return p->t0 == q->t0 && p->t1 == q->t1;
    case EV_LIST:
        if (p->n != q->n)
            return 0;
        for (i = 0; i < p->n; i++)
            if (!ev_values_equal(p->items[i], q->items[i]))
                return 0;
        return 1;
    case EV_DICT:
        if (p->n != q->n)
            return 0;
        for (i = 0; i < p->n; i++) {
            for (j = 0; j < q->n; j++)
                if (strcmp(p->keys[i], q->keys[j]) == 0)
                    break;
            if (j == q->n || !ev_values_equal(p->items[i], q->items[j]))
                return 0;
        }
        return 1;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------- numbers */

static int num2(const struct ev_args *a, double *l, double *r, struct errbuf *e)
{
    int rc;
    if ((rc = ev_get_number(a, "left", 1, l, e)) || (rc = ev_get_number(a, "right", 1, r, e)))
        return rc;
    return 0;
}

static int64_t to_i64(double d)
{
    if (!(d == d))
        return 0;
    if (d >= 9.2e18)
        return INT64_MAX;
    if (d <= -9.2e18)
        return INT64_MIN;
    return (int64_t)d;
}

/* Number.pow and its kin: a->op says which. */
enum num_op2 { N2_POW, N2_MOD, N2_ATAN2, N2_HYPOT, N2_EQ, N2_NEQ, N2_LT, N2_LTE, N2_GT, N2_GTE,
               N2_AND, N2_OR, N2_FIRST, N2_FIRST_NONZERO, N2_BITAND, N2_BITOR, N2_BITXOR,
               N2_LSHIFT, N2_RSHIFT };

static int num_binary(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    double l = 0, r = 0, v = 0;
    int rc = num2(a, &l, &r, e);
    int64_t il = to_i64(l), ir = to_i64(r);
    if (rc)
        return rc;
    switch ((enum num_op2)a->op) {
    case N2_POW: v = pow(l, r); break;
    case N2_MOD: v = r == 0 ? 0 : fmod(l, r); break;   /* Java's %: sign of left */
    case N2_ATAN2: v = atan2(l, r); break;
    case N2_HYPOT: v = hypot(l, r); break;
    case N2_EQ: v = l == r; break;
    case N2_NEQ: v = l != r; break;
    case N2_LT: v = l < r; break;
    case N2_LTE: v = l <= r; break;
    case N2_GT: v = l > r; break;
    case N2_GTE: v = l >= r; break;
    case N2_AND: v = l != 0 && r != 0; break;
    case N2_OR: v = l != 0 || r != 0; break;
    case N2_FIRST: v = l; break;
    case N2_FIRST_NONZERO: v = l != 0 ? l : r; break;
    case N2_BITAND: v = (double)(il & ir); break;
    case N2_BITOR: v = (double)(il | ir); break;
    case N2_BITXOR: v = (double)(il ^ ir); break;
    case N2_LSHIFT: v = ir < 0 || ir > 63 ? 0 : (double)(int64_t)((uint64_t)il << ir); break;
    case N2_RSHIFT: v = ir < 0 || ir > 63 ? (il < 0 ? -1 : 0) : (double)(il >> ir); break;
    }
    if (!(*o = ev_num(x, v)))
        return NOMEM();
    return 0;
}

static double gamma_fn(double v) { return tgamma(v); }
static double sign_fn(double v) { return v > 0 ? 1 : v < 0 ? -1 : v; }
static double not_fn(double v) { return v == 0; }
static double bnot_fn(double v) { return (double)~to_i64(v); }
static double bitcount_fn(double v)
{
    uint64_t u = (uint64_t)to_i64(v);
    int n = 0;
    while (u) {
        n += (int)(u & 1);
        u >>= 1;
    }
    return n;
}

/* Number.sqrt and its kin: a->op is the index of the function here. */
enum num_op1 { N1_SQRT, N1_LOG, N1_LOG10, N1_EXP, N1_SIN, N1_COS, N1_TAN, N1_ASIN, N1_ACOS,
               N1_ATAN, N1_SINH, N1_COSH, N1_TANH, N1_CBRT, N1_ERF, N1_ERFC, N1_GAMMA,
               N1_SIGNUM, N1_NOT, N1_BITNOT, N1_BITCOUNT, N1_COUNT };
static double (*const unary_fns[N1_COUNT])(double) = {
    [N1_SQRT] = sqrt, [N1_LOG] = log, [N1_LOG10] = log10, [N1_EXP] = exp, [N1_SIN] = sin,
    [N1_COS] = cos, [N1_TAN] = tan, [N1_ASIN] = asin, [N1_ACOS] = acos, [N1_ATAN] = atan,
    [N1_SINH] = sinh, [N1_COSH] = cosh, [N1_TANH] = tanh, [N1_CBRT] = cbrt, [N1_ERF] = erf,
    [N1_ERFC] = erfc, [N1_GAMMA] = gamma_fn, [N1_SIGNUM] = sign_fn, [N1_NOT] = not_fn,
    [N1_BITNOT] = bnot_fn, [N1_BITCOUNT] = bitcount_fn,
};

static int num_unary(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                     struct errbuf *e)
{
    double v = 0;
    int rc = ev_get_number(a, "input", 1, &v, e);
    if (rc)
        return rc;
    return (*o = ev_num(x, unary_fns[a->op](v))) ? 0 : NOMEM();
}

/* Number.toInt8 and its kin (a->op): clamp to the type's range, then drop
 * the fraction (as EE documents for ee.Number.toUint8); floats keep the
 * value (float32's nearest for NC_FLOAT). byte, short and long are uint8,
 * int16 and int64. */
enum num_cast_op { NC_INT8, NC_UINT8, NC_INT16, NC_UINT16, NC_INT32, NC_UINT32, NC_INT64, NC_FLOAT,
                   NC_DOUBLE };

static int num_cast(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                    struct errbuf *e)
{
    static const double range[][2] = {
        [NC_INT8] = {-128, 127}, [NC_UINT8] = {0, 255}, [NC_INT16] = {-32768, 32767},
        [NC_UINT16] = {0, 65535}, [NC_INT32] = {-2147483648.0, 2147483647.0},
        [NC_UINT32] = {0, 4294967295.0},
        [NC_INT64] = {-9223372036854775808.0, 9223372036854775807.0},
    };
    const int t = a->op, real = t == NC_FLOAT || t == NC_DOUBLE;
    double v = 0;
    int rc = ev_get_number(a, "input", 1, &v, e);
    if (rc)
        return rc;
    if (t == NC_FLOAT) {
        v = (float)v;
    } else if (!real) {
        if (!(v == v))
            v = 0;
        v = trunc(v < range[t][0] ? range[t][0] : v > range[t][1] ? range[t][1] : v);
    }
    if (!(*o = ev_num(x, v)))
        return NOMEM();
    if (real)
        (*o)->is_int = 0;
    return 0;
}

static int f_num_clamp(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    double v = 0, lo = 0, hi = 0;
    int rc;
    if ((rc = ev_get_number(a, "number", 1, &v, e)) || (rc = ev_get_number(a, "min", 1, &lo, e)) ||
        (rc = ev_get_number(a, "max", 1, &hi, e)))
        return rc;
    v = v < lo ? lo : v > hi ? hi : v;
    return (*o = ev_num(x, v)) ? 0 : NOMEM();
}

/* A number as Java's String.valueOf shows EE's numbers: integers without a
 * fraction, others as the shortest decimal that reads back the same. */
static void number_text(double v, char *out, size_t cap)
{
    int p;
    if (v == floor(v) && fabs(v) < 1e18) {
        snprintf(out, cap, "%lld", (long long)v);
        return;
    }
    for (p = 1; p <= 17; p++) {
        snprintf(out, cap, "%.*g", p, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* Number.format(pattern = "%s"): one Java format conversion (%s %d %f %e
 * %g %x %o, with flags, width and precision) amid literal text. */
static int f_num_format(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    const char *pat = "%s", *p;
    char out[1024], spec[64], conv;
    size_t n = 0, k;
    double v = 0;
    int rc, used = 0;

    if ((rc = ev_get_number(a, "number", 1, &v, e)) || (rc = ev_get_string(a, "pattern", 0, &pat, e)))
        return rc;
    out[0] = 0;
    for (p = pat; *p && n + 1 < sizeof out;) {
        if (*p != '%') {
            out[n++] = *p++;
            continue;
        }
        if (p[1] == '%') {
            out[n++] = '%';
            p += 2;
            continue;
        }
        if (p[1] == 'n') {
            out[n++] = '\n';
            p += 2;
            continue;
        }
        k = strspn(p + 1, "-#+ 0,(123456789.");
        if (k + 6 > sizeof spec || !p[1 + k] || used)
            return err_set(e, ERR_USAGE, "%s: Invalid format pattern '%s'.", a->fname, pat);
        conv = p[1 + k];
        memcpy(spec, p, k + 1);
        spec[k + 1] = 0;
        if (strchr(spec, ','))   /* grouping: not supported, dropped */
            memmove(strchr(spec, ','), strchr(spec, ',') + 1, strlen(strchr(spec, ',')));
        used = 1;
        p += k + 2;
        /* spec holds only '%', flags, width and precision (checked above),
         * and the conversion appended below matches the argument's type. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        {
            char piece[512];
            switch (conv) {
            case 's': case 'S': {
                char t[64];
                number_text(v, t, sizeof t);
                strcat(spec, "s");
                snprintf(piece, sizeof piece, spec, t);
                break;
            }
            case 'd':
                strcat(spec, "lld");
                snprintf(piece, sizeof piece, spec, (long long)to_i64(v));
                break;
            case 'x': case 'X': case 'o':
                snprintf(spec + strlen(spec), sizeof spec - strlen(spec), "ll%c", conv);
                snprintf(piece, sizeof piece, spec, (unsigned long long)to_i64(v));
                break;
            case 'f': case 'e': case 'E': case 'g': case 'G': case 'a':
                snprintf(spec + strlen(spec), sizeof spec - strlen(spec), "%c", conv);
                snprintf(piece, sizeof piece, spec, v);
                break;
            default:
                return err_set(e, ERR_USAGE, "%s: Invalid format pattern '%s'.", a->fname, pat);
            }
            k = strlen(piece);
            if (n + k + 1 >= sizeof out)
                return err_set(e, ERR_USAGE, "%s: The formatted number is too long.", a->fname);
            memcpy(out + n, piece, k);
            n += k;
        }
#pragma GCC diagnostic pop
    }
    out[n] = 0;
    return (*o = ev_str(x, out)) ? 0 : NOMEM();
}

static int f_num_parse(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    const char *s;
    char *end;
    double radix = 10, v;
    int rc;
    if ((rc = ev_get_string(a, "input", 1, &s, e)) || (rc = ev_get_number(a, "radix", 0, &radix, e)))
        return rc;
    errno = 0;
    if (radix == 10) {
        v = strtod(s, &end);
    } else {
        if (radix < 2 || radix > 36)
            return err_set(e, ERR_USAGE, "%s: radix %g is out of range [2, 36].", a->fname, radix);
        v = (double)strtoll(s, &end, (int)radix);
    }
    if (!*s || *end || errno == ERANGE || isspace((unsigned char)*s))
        return err_set(e, ERR_USAGE, "%s: Unable to parse '%s' as a number.", a->fname, s);
    return (*o = ev_num(x, v)) ? 0 : NOMEM();
}

/* ------------------------------------------------------------- strings */

static int new_str(struct ev_ctx *x, const char *s, size_t n, struct ev_value **o,
                   struct errbuf *e)
{
    char *p = eval_alloc(x, n + 1);
    if (!p || !(*o = ev_new(x, EV_STR)))
        return NOMEM();
    memcpy(p, s, n);
    p[n] = 0;
    (*o)->str = p;
    return 0;
}

/* Compiles a Java-style pattern as POSIX ERE (\d, \D translated). */
static int regex_compile(const struct ev_args *a, regex_t *re, const char *pat, const char *flags,
                         struct errbuf *e)
{
    size_t n = strlen(pat), i, k = 0;
    char *t = malloc(n * 5 + 1);
    int rc, cflags = REG_EXTENDED;
    if (!t)
        return NOMEM();
    for (i = 0; i < n; i++) {
        if (pat[i] == '\\' && (pat[i + 1] == 'd' || pat[i + 1] == 'D')) {
            memcpy(t + k, pat[i + 1] == 'd' ? "[0-9]" : "[^0-9]", pat[i + 1] == 'd' ? 5 : 6);
            k += pat[i + 1] == 'd' ? 5 : 6;
            i++;
        } else {
            t[k++] = pat[i];
        }
    }
    t[k] = 0;
    if (flags && strchr(flags, 'i'))
        cflags |= REG_ICASE;
    rc = regcomp(re, t, cflags);
    free(t);
    if (rc != 0)
        return err_set(e, ERR_USAGE, "%s: Invalid regular expression '%s'.", a->fname, pat);
    return 0;
}

static int f_str_slice(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    const char *s;
    long start = 0, end, len;
    int rc;
    if ((rc = ev_get_string(a, "string", 1, &s, e)))
        return rc;
    len = (long)strlen(s);
    if ((rc = get_index(a, "start", 1, 0, &start, e)) || (rc = get_index(a, "end", 0, len, &end, e)))
        return rc;
    /* negative indexes count from the end; out-of-range ones are clamped */
    if (start < 0)
        start += len;
    if (end < 0)
        end += len;
    start = start < 0 ? 0 : start > len ? len : start;
    end = end < start ? start : end > len ? len : end;
    return new_str(x, s + start, (size_t)(end - start), o, e);
}

/* String.index, .rindex (a->op 1: the last match). */
static int str_find(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                    struct errbuf *e)
{
    const int last = a->op;
    const char *s, *pat, *p, *hit = NULL;
    int rc;
    if ((rc = ev_get_string(a, "target", 1, &s, e)) || (rc = ev_get_string(a, "pattern", 1, &pat, e)))
        return rc;
    for (p = s; (p = strstr(p, pat)) != NULL; p++) {
        hit = p;
        if (!last || !*p)
            break;
    }
    return (*o = ev_num(x, hit ? (double)(hit - s) : -1)) ? 0 : NOMEM();
}

/* String.replace(input, regex, replacement, flags): the first match, or
 * all with flag 'g'; $0..$9 in the replacement are groups (Java). */
static int f_str_replace(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    const char *s, *pat, *rep, *flags = "";
    regex_t re;
    regmatch_t m[10];
    char *out = NULL;
    size_t n = 0, cap = 0, len, pos = 0, copied = 0;
    int rc, all;

    if ((rc = ev_get_string(a, "input", 1, &s, e)) || (rc = ev_get_string(a, "regex", 1, &pat, e)) ||
        (rc = ev_get_string(a, "replacement", 1, &rep, e)) ||
        (rc = ev_get_string(a, "flags", 0, &flags, e)))
        return rc;
    if ((rc = regex_compile(a, &re, pat, flags, e)))
        return rc;
    all = strchr(flags, 'g') != NULL;
    len = strlen(s);
#define PUT(src, len_)                                                                 \
    do {                                                                               \
        size_t l_ = (len_);                                                            \
        if (n + l_ + 1 > cap) {                                                        \
            size_t nc = (n + l_ + 1) * 2;                                              \
            char *np = nc > (1u << 26) ? NULL : realloc(out, nc);                      \
            if (!np) {                                                                 \
                free(out);                                                             \
                regfree(&re);                                                          \
                return err_set(e, ERR_USAGE, "%s: The result is too long.", a->fname); \
            }                                                                          \
            out = np;                                                                  \
            cap = nc;                                                                  \
        }                                                                              \
        memcpy(out + n, (src), l_);                                                    \
        n += l_;                                                                       \
    } while (0)
    while (pos <= len && regexec(&re, s + pos, 10, m, pos ? REG_NOTBOL : 0) == 0) {
        size_t ms = pos + (size_t)m[0].rm_so, me = pos + (size_t)m[0].rm_eo;
        const char *r;
        PUT(s + copied, ms - copied);
        for (r = rep; *r; r++) {
            if (*r == '$' && isdigit((unsigned char)r[1])) {
                int g = r[1] - '0';
                if (m[g].rm_so >= 0 && g <= (int)re.re_nsub)
                    PUT(s + pos + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
                r++;
            } else if (*r == '\\' && r[1]) {
                PUT(r + 1, 1);
                r++;
            } else {
                PUT(r, 1);
            }
        }
        copied = me;
        if (me == ms) {   /* an empty match: the next character is kept, then on */
            if (ms >= len)
                break;
            PUT(s + ms, 1);
            copied = ms + 1;
            pos = ms + 1;
        } else {
            pos = me;
        }
        if (!all)
            break;
    }
    PUT(s + copied, len - copied);
#undef PUT
    regfree(&re);
    rc = new_str(x, out ? out : "", n, o, e);
    free(out);
    return rc;
}

/* String.split(string, regex, flags): Java's split: a zero-width match at
 * the start makes no empty leading string, trailing empty strings are
 * dropped, and an input without a match is returned whole. */
static int f_str_split(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    const char *s, *pat, *flags = "";
    regex_t re;
    regmatch_t m;
    struct ev_value **parts;
    size_t len, pos = 0, index = 0;
    int rc = 0, n = 0, i, matched = 0;

    if ((rc = ev_get_string(a, "string", 1, &s, e)) || (rc = ev_get_string(a, "regex", 1, &pat, e)) ||
        (rc = ev_get_string(a, "flags", 0, &flags, e)))
        return rc;
    len = strlen(s);
    if (!(parts = eval_alloc(x, sizeof *parts * (len + 2))))
        return NOMEM();
    if ((rc = regex_compile(a, &re, pat, flags, e)))
        return rc;
    while (pos <= len && regexec(&re, s + pos, 1, &m, pos ? REG_NOTBOL : 0) == 0) {
        size_t ms = pos + (size_t)m.rm_so, me = pos + (size_t)m.rm_eo;
        if (me == ms) {
            if (ms >= len)
                break;
            if (ms == 0) {
                pos = 1;
                continue;
            }
            me = ms;
            pos = ms + 1;
        } else {
            pos = me;
        }
        matched = 1;
        if ((rc = new_str(x, s + index, ms - index, &parts[n++], e)))
            break;
        index = me;
    }
    regfree(&re);
    if (rc || (rc = new_str(x, s + index, len - index, &parts[n++], e)))
        return rc;
    while (matched && n > 0 && parts[n - 1]->str[0] == 0)
        n--;
    if (!(*o = ev_list(x, n)))
        return NOMEM();
    for (i = 0; i < n; i++)
        (*o)->items[i] = parts[i];
    return 0;
}

/* String.match(input, regex, flags): the first match and its groups, or
 * with flag 'g' every match (JavaScript's String.match). */
static int f_str_match(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    const char *s, *pat, *flags = "";
    regex_t re;
    regmatch_t m[10];
    struct ev_value *l = NULL;
    size_t len, pos = 0;
    int rc = 0, i, all;

    if ((rc = ev_get_string(a, "input", 1, &s, e)) || (rc = ev_get_string(a, "regex", 1, &pat, e)) ||
        (rc = ev_get_string(a, "flags", 0, &flags, e)))
        return rc;
    if ((rc = regex_compile(a, &re, pat, flags, e)))
        return rc;
    all = strchr(flags, 'g') != NULL;
    len = strlen(s);
    if (!(l = ev_list(x, (int)len + 11))) {
        regfree(&re);
        return NOMEM();
    }
    l->n = 0;
    while (pos <= len && regexec(&re, s + pos, 10, m, pos ? REG_NOTBOL : 0) == 0) {
        if (!all) {
            for (i = 0; i <= (int)re.re_nsub && i < 10 && rc == 0; i++) {
                if (m[i].rm_so >= 0)
                    rc = new_str(x, s + pos + m[i].rm_so, (size_t)(m[i].rm_eo - m[i].rm_so),
                                 &l->items[l->n++], e);
                else if (!(l->items[l->n++] = ev_new(x, EV_NULL)))
                    rc = NOMEM();
            }
            break;
        }
        if ((rc = new_str(x, s + pos + m[0].rm_so, (size_t)(m[0].rm_eo - m[0].rm_so),
                          &l->items[l->n++], e)))
            break;
        pos += m[0].rm_eo > m[0].rm_so ? (size_t)m[0].rm_eo : (size_t)m[0].rm_so + 1;
    }
    regfree(&re);
    if (rc)
        return rc;
    *o = l;
    return 0;
}

/* String.toUpperCase, .toLowerCase (a->op 1: upper). */
static int str_case(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                    struct errbuf *e)
{
    const int upper = a->op;
    const char *s;
    char *t;
    size_t i;
    int rc = ev_get_string(a, "string", 1, &s, e);
    if (rc)
        return rc;
    if (!(*o = ev_str(x, s)))
        return NOMEM();
    for (t = (char *)(*o)->str, i = 0; t[i]; i++)
        t[i] = (char)(upper ? toupper((unsigned char)t[i]) : tolower((unsigned char)t[i]));
    return 0;
}

static int f_str_trim(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    const char *s;
    size_t n;
    int rc = ev_get_string(a, "string", 1, &s, e);
    if (rc)
        return rc;
    while ((unsigned char)*s <= ' ' && *s)
        s++;
    n = strlen(s);
    while (n > 0 && (unsigned char)s[n - 1] <= ' ')
        n--;
    return new_str(x, s, n, o, e);
}

/* Java's compareTo: the difference of the first differing characters, or
 * of the lengths. */
static int f_str_compare(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    const unsigned char *p, *q;
    const char *s1, *s2;
    int rc;
    if ((rc = ev_get_string(a, "string1", 1, &s1, e)) || (rc = ev_get_string(a, "string2", 1, &s2, e)))
        return rc;
    for (p = (const unsigned char *)s1, q = (const unsigned char *)s2; *p && *p == *q; p++, q++)
        ;
    if (*p && *q)
        return (*o = int_num(x, (double)*p - *q)) ? 0 : NOMEM();
    return (*o = int_num(x, (double)strlen((const char *)p) - (double)strlen((const char *)q)))
               ? 0 : NOMEM();
}

static int f_str_equals(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    const char *s;
    struct ev_value *t = ev_arg(a, "target");
    int rc = ev_get_string(a, "reference", 1, &s, e);
    if (rc)
        return rc;
    return (*o = ev_bool(x, t && t->kind == EV_STR && strcmp(t->str, s) == 0)) ? 0 : NOMEM();
}

static int f_str_decode_json(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                             struct errbuf *e)
{
    const char *s;
    json_object *j;
    enum json_tokener_error jerr;
    int rc = ev_get_string(a, "string", 1, &s, e);
    if (rc)
        return rc;
    j = json_tokener_parse_verbose(s, &jerr);
    if (!j && jerr != json_tokener_success)
        return err_set(e, ERR_USAGE, "%s: Invalid JSON: %s", a->fname,
                       json_tokener_error_desc(jerr));
    *o = j ? ev_from_json(x, j) : ev_new(x, EV_NULL);
    json_object_put(j);
    return *o ? 0 : NOMEM();
}

static int f_str_encode_json(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                             struct errbuf *e)
{
    struct ev_value *v = ev_arg(a, "object");
    json_object *j = NULL;
    if (v && v->kind != EV_NULL && !(j = ev_to_json(x, v, e)))
        return ERR_USAGE;
    *o = ev_str(x, j ? json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE)
                     : "null");
    json_object_put(j);
    return *o ? 0 : NOMEM();
}

/* --------------------------------------------------------------- lists */

static int list_arg(const struct ev_args *a, struct ev_value **l, struct errbuf *e)
{
    return ev_get_list(a, "list", 1, l, e);
}

static int copy_list(struct ev_ctx *x, const struct ev_value *l, int extra, struct ev_value **o,
                     struct errbuf *e)
{
    int i;
    if (l->n + extra > MAX_LIST)
        return err_set(e, ERR_USAGE, "List is too long (more than %d elements).", MAX_LIST);
    if (!(*o = ev_list(x, l->n + extra)))
        return NOMEM();
    for (i = 0; i < l->n; i++)
        (*o)->items[i] = l->items[i];
    (*o)->n = l->n;
    return 0;
}

static int null_value(struct ev_ctx *x, const struct ev_args *a, const char *name,
                      struct ev_value **v, struct errbuf *e)
{
    *v = ev_arg(a, name);
    if (!*v && !(*v = ev_new(x, EV_NULL)))
        return NOMEM();
    return 0;
}

static int index_of(const struct ev_value *l, const struct ev_value *v, int from)
{
    int i;
    for (i = from; i < l->n; i++)
        if (ev_values_equal(l->items[i], v))
            return i;
    return -1;
}

static int f_list_map(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_value *l, *fn, *dn = ev_arg(a, "dropNulls"), *r;
    int rc, i, k, drop = dn && dn->kind == EV_BOOL && dn->b;
    if ((rc = list_arg(a, &l, e)) || (rc = ev_require(a, "baseAlgorithm", &fn, e)))
        return rc;
    if (fn->kind != EV_FUNC)
        return ev_type_error(e, a, "baseAlgorithm", "Algorithm", fn);
    if (!(*o = ev_list(x, l->n)))
        return NOMEM();
    (*o)->n = 0;
    for (i = 0; i < l->n; i++) {
        struct ev_value **args = eval_alloc(x, sizeof *args * (size_t)(fn->func->nargs + 1));
        if (!args)
            return NOMEM();
        args[0] = l->items[i];
        for (k = 1; k < fn->func->nargs; k++)
            if (!(args[k] = ev_new(x, EV_NULL)))
                return NOMEM();
        if ((rc = ev_call_func(x, fn->func, args, a->depth + 1, &r, e)) != 0)
            return err_prefix(e, rc, "List.map: ");
        if (r->kind == EV_NULL && drop)
            continue;
        (*o)->items[(*o)->n++] = r;
    }
    return 0;
}

/* List.iterate(list, function(item, state), first) and Collection.iterate. */
int ev_iterate(struct ev_ctx *x, const struct ev_args *a, struct ev_value **items, int n,
               struct ev_value **o, struct errbuf *e)
{
    struct ev_value *fn = NULL, *acc = NULL;
    int rc, i, k;
    if ((rc = ev_require(a, "function", &fn, e)) || (rc = null_value(x, a, "first", &acc, e)))
        return rc;
    if (fn->kind != EV_FUNC)
        return ev_type_error(e, a, "function", "Algorithm", fn);
    if (fn->func->nargs < 2)
        return err_set(e, ERR_USAGE, "%s: The iterated function must take two arguments.",
                       a->fname);
    for (i = 0; i < n; i++) {
        struct ev_value **args = eval_alloc(x, sizeof *args * (size_t)(fn->func->nargs + 1));
        if (!args)
            return NOMEM();
        args[0] = items[i];
        args[1] = acc;
        for (k = 2; k < fn->func->nargs; k++)
            if (!(args[k] = ev_new(x, EV_NULL)))
                return NOMEM();
        if ((rc = ev_call_func(x, fn->func, args, a->depth + 1, &acc, e)) != 0)
            return rc;
    }
    *o = acc;
    return 0;
}

static int f_list_iterate(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                          struct errbuf *e)
{
    struct ev_value *l = NULL;
    int rc = list_arg(a, &l, e);
    return rc ? rc : ev_iterate(x, a, l->items, l->n, o, e);
}

static int f_list_filter(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_value *l = NULL, *f = NULL;
    int rc, i;
    if ((rc = list_arg(a, &l, e)) || (rc = ev_require(a, "filter", &f, e)))
        return rc;
    if (f->kind != EV_FILTER)
        return ev_type_error(e, a, "filter", "Filter", f);
    if (!(*o = ev_list(x, l->n)))
        return NOMEM();
    (*o)->n = 0;
    for (i = 0; i < l->n; i++)
        if (ev_filter_match(x, f->filter, l->items[i]))
            (*o)->items[(*o)->n++] = l->items[i];
    return 0;
}

/* List.slice(start, end, step): negative indexes count from the end, and
 * indexes past the ends are clamped. */
static int f_list_slice(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    struct ev_value *l = NULL;
    long start = 0, end, step = 1, i;
    int rc;
    if ((rc = list_arg(a, &l, e)))
        return rc;
    if ((rc = get_index(a, "start", 1, 0, &start, e)) || (rc = get_index(a, "end", 0, l->n, &end, e)) ||
        (rc = get_index(a, "step", 0, 1, &step, e)))
        return rc;
    if (step <= 0)
        return err_set(e, ERR_USAGE, "%s: step must be positive.", a->fname);
    if (start < 0)
        start += l->n;
    if (end < 0)
        end += l->n;
    start = start < 0 ? 0 : start > l->n ? l->n : start;
    end = end < start ? start : end > l->n ? l->n : end;
    if (!(*o = ev_list(x, (int)((end - start + step - 1) / step))))
        return NOMEM();
    (*o)->n = 0;
    for (i = start; i < end; i += step)
        (*o)->items[(*o)->n++] = l->items[i];
    return 0;
}

static int f_list_contains(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                           struct errbuf *e)
{
    struct ev_value *l = NULL, *v = NULL;
    int rc;
    if ((rc = list_arg(a, &l, e)) || (rc = null_value(x, a, "element", &v, e)))
        return rc;
    return (*o = ev_bool(x, index_of(l, v, 0) >= 0)) ? 0 : NOMEM();
}

static int f_list_contains_all(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                               struct errbuf *e)
{
    struct ev_value *l = NULL, *other = NULL;
    int rc, i, all = 1;
    if ((rc = list_arg(a, &l, e)) || (rc = ev_get_list(a, "other", 1, &other, e)))
        return rc;
    for (i = 0; i < other->n && all; i++)
        all = index_of(l, other->items[i], 0) >= 0;
    return (*o = ev_bool(x, all)) ? 0 : NOMEM();
}

static int f_list_index_of(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                           struct errbuf *e)
{
    struct ev_value *l = NULL, *v = NULL;
    int rc;
    if ((rc = list_arg(a, &l, e)) || (rc = null_value(x, a, "element", &v, e)))
        return rc;
    return (*o = ev_num(x, index_of(l, v, 0))) ? 0 : NOMEM();
}

static int f_list_frequency(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                            struct errbuf *e)
{
    struct ev_value *l = NULL, *v = NULL;
    int rc, i, n = 0;
    if ((rc = list_arg(a, &l, e)) || (rc = null_value(x, a, "element", &v, e)))
        return rc;
    for (i = 0; i < l->n; i++)
        n += ev_values_equal(l->items[i], v);
    return (*o = ev_num(x, n)) ? 0 : NOMEM();
}

static int sublist_at(const struct ev_value *l, const struct ev_value *t, int i)
{
    int k;
    if (i + t->n > l->n)
        return 0;
    for (k = 0; k < t->n; k++)
        if (!ev_values_equal(l->items[i + k], t->items[k]))
            return 0;
    return 1;
}

/* List.indexOfSublist, .lastIndexOfSublist (a->op 1: the last). */
static int sublist(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                   struct errbuf *e)
{
    const int last = a->op;
    struct ev_value *l = NULL, *t = NULL;
    int rc, i, hit = -1;
    if ((rc = list_arg(a, &l, e)) || (rc = ev_get_list(a, "target", 1, &t, e)))
        return rc;
    for (i = 0; i + t->n <= l->n; i++)
        if (sublist_at(l, t, i)) {
            hit = i;
            if (!last)
                break;
        }
    return (*o = ev_num(x, hit)) ? 0 : NOMEM();
}

static int flatten_into(struct ev_ctx *x, const struct ev_value *l, struct ev_value *out,
                        int depth, struct errbuf *e)
{
    int i, rc;
    if (depth > 100)
        return err_set(e, ERR_USAGE, "List.flatten: the list is nested too deeply.");
    for (i = 0; i < l->n; i++) {
        if (l->items[i]->kind == EV_LIST) {
            if ((rc = flatten_into(x, l->items[i], out, depth + 1, e)))
                return rc;
        } else {
            if (out->n >= MAX_LIST)
                return err_set(e, ERR_USAGE, "List is too long (more than %d elements).", MAX_LIST);
            out->items[out->n++] = l->items[i];
        }
    }
    return 0;
}

static int count_leaves(const struct ev_value *l, int depth)
{
    int i, n = 0;
    if (depth > 100)
        return 0;
    for (i = 0; i < l->n; i++)
        n += l->items[i]->kind == EV_LIST ? count_leaves(l->items[i], depth + 1) : 1;
    return n;
}

static int f_list_flatten(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                          struct errbuf *e)
{
    struct ev_value *l = NULL;
    int rc = list_arg(a, &l, e);
    if (rc)
        return rc;
    if (!(*o = ev_list(x, count_leaves(l, 0))))
        return NOMEM();
    (*o)->n = 0;
    return flatten_into(x, l, *o, 0, e);
}

static int f_list_distinct(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                           struct errbuf *e)
{
    struct ev_value *l = NULL;
    int rc = list_arg(a, &l, e), i;
    if (rc)
        return rc;
    if (!(*o = ev_list(x, l->n)))
        return NOMEM();
    (*o)->n = 0;
    for (i = 0; i < l->n; i++)
        if (index_of(*o, l->items[i], 0) < 0)
            (*o)->items[(*o)->n++] = l->items[i];
    return 0;
}

/* Sort order of mixed values: null, booleans, numbers, strings, then the
 * rest in list order. */
static int sort_rank(const struct ev_value *v)
{
    switch (v->kind) {
    case EV_NULL: return 0;
    case EV_BOOL: return 1;
    case EV_NUM: return 2;
    case EV_STR: return 3;
    case EV_DATE: return 4;
    default: return 5;
    }
}

static int sort_cmp(const struct ev_value *p, const struct ev_value *q)
{
    int rp = sort_rank(p), rq = sort_rank(q);
    if (rp != rq)
        return rp - rq;
    switch (p->kind) {
    case EV_BOOL: return p->b - q->b;
    case EV_NUM: return (p->num > q->num) - (p->num < q->num);
    case EV_STR: return strcmp(p->str, q->str);
    case EV_DATE: return (p->t0 > q->t0) - (p->t0 < q->t0);
    default: return 0;
    }
}

/* List.sort(list, keys?): ascending and stable; with keys, the list takes
 * the order the keys sort into. */
static int f_list_sort(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    struct ev_value *l = NULL, *keys = NULL, **k, **v;
    int rc, i, j;
    if ((rc = list_arg(a, &l, e)) || (rc = ev_get_list(a, "keys", 0, &keys, e)))
        return rc;
    if (keys && keys->n != l->n)
        return err_set(e, ERR_USAGE, "%s: The keys and the list must have the same length "
                       "(%d and %d).", a->fname, keys->n, l->n);
    if ((rc = copy_list(x, l, 0, o, e)))
        return rc;
    k = eval_alloc(x, sizeof *k * (size_t)(l->n + 1));
    v = (*o)->items;
    if (!k)
        return NOMEM();
    for (i = 0; i < l->n; i++)
        k[i] = keys ? keys->items[i] : l->items[i];
    /* merge-free insertion sort would be quadratic: use a stable merge sort */
    {
        struct ev_value **tk = eval_alloc(x, sizeof *tk * (size_t)(l->n + 1));
        struct ev_value **tv = eval_alloc(x, sizeof *tv * (size_t)(l->n + 1));
        int width;
        if (!tk || !tv)
            return NOMEM();
        for (width = 1; width < l->n; width *= 2) {
            for (i = 0; i < l->n; i += 2 * width) {
                int mid = i + width < l->n ? i + width : l->n;
                int hi = i + 2 * width < l->n ? i + 2 * width : l->n, p = i, q = mid;
                for (j = i; j < hi; j++) {
                    if (p < mid && (q >= hi || sort_cmp(k[p], k[q]) <= 0)) {
                        tk[j] = k[p];
                        tv[j] = v[p++];
                    } else {
                        tk[j] = k[q];
                        tv[j] = v[q++];
                    }
                }
            }
            memcpy(k, tk, sizeof *k * (size_t)l->n);
            memcpy(v, tv, sizeof *v * (size_t)l->n);
        }
    }
    return 0;
}

static int f_list_zip(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_value *l = NULL, *other = NULL;
    int rc, i, n;
    if ((rc = list_arg(a, &l, e)) || (rc = ev_get_list(a, "other", 1, &other, e)))
        return rc;
    n = l->n < other->n ? l->n : other->n;
    if (!(*o = ev_list(x, n)))
        return NOMEM();
    for (i = 0; i < n; i++) {
        struct ev_value *p = ev_list(x, 2);
        if (!p)
            return NOMEM();
        p->items[0] = l->items[i];
        p->items[1] = other->items[i];
        (*o)->items[i] = p;
    }
    return 0;
}

static int f_list_unzip(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    struct ev_value *l = NULL;
    int rc = list_arg(a, &l, e), i, k, n = INT_MAX;
    if (rc)
        return rc;
    for (i = 0; i < l->n; i++) {
        if (l->items[i]->kind != EV_LIST)
            return err_set(e, ERR_USAGE, "%s: The elements of the list must be lists.", a->fname);
        n = l->items[i]->n < n ? l->items[i]->n : n;
    }
    if (l->n == 0)
        n = 0;
    if (!(*o = ev_list(x, n)))
        return NOMEM();
    for (k = 0; k < n; k++) {
        struct ev_value *col = ev_list(x, l->n);
        if (!col)
            return NOMEM();
        for (i = 0; i < l->n; i++)
            col->items[i] = l->items[i]->items[k];
        (*o)->items[k] = col;
    }
    return 0;
}

static int f_list_add(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_value *l = NULL, *v = NULL;
    int rc;
    if ((rc = list_arg(a, &l, e)) || (rc = null_value(x, a, "element", &v, e)) ||
        (rc = copy_list(x, l, 1, o, e)))
        return rc;
    (*o)->items[(*o)->n++] = v;
    return 0;
}

static int list_pos(const struct ev_args *a, const struct ev_value *l, const char *name,
                    int allow_end, long *pos, struct errbuf *e)
{
    int rc = get_index(a, name, 1, 0, pos, e);
    if (rc)
        return rc;
    if (*pos < 0)
        *pos += l->n;
    if (*pos < 0 || *pos > l->n - (allow_end ? 0 : 1))
        return err_set(e, ERR_USAGE, "%s: Index %ld is out of bounds for a list of %d elements.",
                       a->fname, *pos, l->n);
    return 0;
}

static int f_list_insert(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_value *l = NULL, *v = NULL;
    long pos = 0, i;
    int rc;
    if ((rc = list_arg(a, &l, e)) || (rc = null_value(x, a, "element", &v, e)) ||
        (rc = list_pos(a, l, "index", 1, &pos, e)) || (rc = copy_list(x, l, 1, o, e)))
        return rc;
    for (i = l->n; i > pos; i--)
        (*o)->items[i] = (*o)->items[i - 1];
    (*o)->items[pos] = v;
    (*o)->n = l->n + 1;
    return 0;
}

static int f_list_set(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_value *l = NULL, *v = NULL;
    long pos = 0;
    int rc;
    if ((rc = list_arg(a, &l, e)) || (rc = null_value(x, a, "element", &v, e)) ||
        (rc = list_pos(a, l, "index", 0, &pos, e)) || (rc = copy_list(x, l, 0, o, e)))
        return rc;
    (*o)->items[pos] = v;
    return 0;
}

static int f_list_remove(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_value *l = NULL, *v = NULL;
    int rc, i, k, n = 0;
    if ((rc = list_arg(a, &l, e)) || (rc = null_value(x, a, "element", &v, e)) ||
        (rc = copy_list(x, l, 0, o, e)))
        return rc;
    k = index_of(l, v, 0);
    for (i = 0; i < l->n; i++)
        if (i != k)
            (*o)->items[n++] = l->items[i];
    (*o)->n = n;
    return 0;
}

static int f_list_remove_all(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                             struct errbuf *e)
{
    struct ev_value *l = NULL, *other = NULL;
    int rc, i, n = 0;
    if ((rc = list_arg(a, &l, e)) || (rc = ev_get_list(a, "other", 1, &other, e)) ||
        (rc = copy_list(x, l, 0, o, e)))
        return rc;
    for (i = 0; i < l->n; i++)
        if (index_of(other, l->items[i], 0) < 0)
            (*o)->items[n++] = l->items[i];
    (*o)->n = n;
    return 0;
}

/* List.replace, .replaceAll (a->op 1: every match). */
static int list_replace(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                        struct errbuf *e)
{
    const int all = a->op;
    struct ev_value *l = NULL, *ov = NULL, *nv = NULL;
    int rc, i;
    if ((rc = list_arg(a, &l, e)) || (rc = null_value(x, a, "oldval", &ov, e)) ||
        (rc = null_value(x, a, "newval", &nv, e)) || (rc = copy_list(x, l, 0, o, e)))
        return rc;
    for (i = 0; i < l->n; i++)
        if (ev_values_equal(l->items[i], ov)) {
            (*o)->items[i] = nv;
            if (!all)
                break;
        }
    return 0;
}

static int f_list_reverse(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                          struct errbuf *e)
{
    struct ev_value *l = NULL;
    int rc, i;
    if ((rc = list_arg(a, &l, e)) || (rc = copy_list(x, l, 0, o, e)))
        return rc;
    for (i = 0; i < l->n; i++)
        (*o)->items[i] = l->items[l->n - 1 - i];
    return 0;
}

static int f_list_rotate(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_value *l = NULL;
    long d = 0;
    int rc, i;
    if ((rc = list_arg(a, &l, e)) || (rc = get_index(a, "distance", 1, 0, &d, e)) ||
        (rc = copy_list(x, l, 0, o, e)))
        return rc;
    for (i = 0; i < l->n; i++)   /* Java's Collections.rotate: element i moves to i + d */
        (*o)->items[((i + d) % l->n + l->n) % l->n] = l->items[i];
    return 0;
}

static int f_list_swap(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    struct ev_value *l = NULL, *t = NULL;
    long p = 0, q = 0;
    int rc;
    if ((rc = list_arg(a, &l, e)) || (rc = list_pos(a, l, "pos1", 0, &p, e)) ||
        (rc = list_pos(a, l, "pos2", 0, &q, e)) || (rc = copy_list(x, l, 0, o, e)))
        return rc;
    t = (*o)->items[p];
    (*o)->items[p] = (*o)->items[q];
    (*o)->items[q] = t;
    return 0;
}

static int f_list_repeat(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_value *v = NULL;
    long n = 0, i;
    int rc;
    if ((rc = null_value(x, a, "value", &v, e)) || (rc = get_index(a, "count", 1, 0, &n, e)))
        return rc;
    if (n < 0 || n > MAX_LIST)
        return err_set(e, ERR_USAGE, "%s: count %ld is out of range.", a->fname, n);
    if (!(*o = ev_list(x, (int)n)))
        return NOMEM();
    for (i = 0; i < n; i++)
        (*o)->items[i] = v;
    return 0;
}

static int f_list_splice(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_value *l = NULL, *other = NULL;
    long start = 0, count = 0, i;
    int rc, n = 0;
    if ((rc = list_arg(a, &l, e)) || (rc = get_index(a, "start", 1, 0, &start, e)) ||
        (rc = get_index(a, "count", 1, 0, &count, e)) || (rc = ev_get_list(a, "other", 0, &other, e)))
        return rc;
    if (start < 0)
        start += l->n;
    start = start < 0 ? 0 : start > l->n ? l->n : start;
    count = count < 0 ? 0 : count > l->n - start ? l->n - start : count;
    if (!(*o = ev_list(x, l->n + (other ? other->n : 0))))
        return NOMEM();
    for (i = 0; i < start; i++)
        (*o)->items[n++] = l->items[i];
    for (i = 0; other && i < other->n; i++)
        (*o)->items[n++] = other->items[i];
    for (i = start + count; i < l->n; i++)
        (*o)->items[n++] = l->items[i];
    (*o)->n = n;
    return 0;
}

static int f_list_equals(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_value *l = NULL, *other = NULL;
    int rc;
    if ((rc = list_arg(a, &l, e)) || (rc = ev_get_list(a, "other", 1, &other, e)))
        return rc;
    return (*o = ev_bool(x, ev_values_equal(l, other))) ? 0 : NOMEM();
}

/* The text of a value in List.join and String concatenation. */
static int value_text(struct ev_ctx *x, const struct ev_value *v, char *buf, size_t cap,
                      const char **out, struct errbuf *e)
{
    json_object *j;
    switch (v->kind) {
    case EV_STR: *out = v->str; return 0;
    case EV_NUM: number_text(v->num, buf, cap); *out = buf; return 0;
    case EV_BOOL: *out = v->b ? "true" : "false"; return 0;
    case EV_NULL: *out = "null"; return 0;
    default:
        if (!(j = ev_to_json(x, v, e)))
            return ERR_USAGE;
        snprintf(buf, cap, "%s", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        json_object_put(j);
        *out = buf;
        return 0;
    }
}

static int f_list_join(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    struct ev_value *l = NULL;
    const char *sep = "", *t;
    char num[4096], *out = NULL;
    size_t n = 0, cap = 0, k, sl;
    int rc, i;
    if ((rc = list_arg(a, &l, e)) || (rc = ev_get_string(a, "separator", 0, &sep, e)))
        return rc;
    sl = strlen(sep);
    for (i = 0; i < l->n; i++) {
        if ((rc = value_text(x, l->items[i], num, sizeof num, &t, e)))
            break;
        k = strlen(t) + (i ? sl : 0);
        if (n + k + 1 > cap) {
            size_t nc = (n + k + 1) * 2;
            char *np = nc > (1u << 26) ? NULL : realloc(out, nc);
            if (!np) {
                rc = err_set(e, ERR_USAGE, "%s: The result is too long.", a->fname);
                break;
            }
            out = np;
            cap = nc;
        }
        if (i) {
            memcpy(out + n, sep, sl);
            n += sl;
        }
        memcpy(out + n, t, strlen(t));
        n += strlen(t);
    }
    if (rc == 0)
        rc = new_str(x, out ? out : "", n, o, e);
    free(out);
    return rc;
}

/* List.getNumber, .getString: a->op is the kind wanted (EV_NUM, EV_STR). */
static int list_typed_get(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                          struct errbuf *e)
{
    const enum ev_kind want = (enum ev_kind)a->op;
    const char *tname = want == EV_NUM ? "Number" : "String";
    struct ev_value *l = NULL;
    long pos = 0;
    int rc;
    (void)x;
    if ((rc = list_arg(a, &l, e)) || (rc = list_pos(a, l, "index", 0, &pos, e)))
        return rc;
    *o = l->items[pos];
    if ((*o)->kind != want)
        return err_set(e, ERR_USAGE, "%s: Expected a %s at index %ld, found %s.", a->fname, tname,
                       pos, ev_type_name(*o));
    return 0;
}

/* -------------------------------------------------------- dictionaries */

static int dict_find(const struct ev_value *d, const char *key)
{
    int i;
    for (i = 0; i < d->n; i++)
        if (strcmp(d->keys[i], key) == 0)
            return i;
    return -1;
}

static int dict_copy(struct ev_ctx *x, const struct ev_value *d, int extra, struct ev_value **o,
                     struct errbuf *e)
{
    int i;
    if (!(*o = ev_dict(x, d->n + extra)))
        return NOMEM();
    for (i = 0; i < d->n; i++) {
        (*o)->keys[i] = d->keys[i];
        (*o)->items[i] = d->items[i];
    }
    (*o)->n = d->n;
    return 0;
}

static void dict_put(struct ev_value *d, const char *key, struct ev_value *v)
{
    int i = dict_find(d, key);
    if (i < 0) {
        i = d->n++;
        d->keys[i] = key;
    }
    d->items[i] = v;
}

static int f_dict_set(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_value *d = NULL, *v = NULL;
    const char *key;
    int rc;
    if ((rc = ev_get_dict(a, "dictionary", 1, &d, e)) || (rc = ev_get_string(a, "key", 1, &key, e)) ||
        (rc = null_value(x, a, "value", &v, e)) || (rc = dict_copy(x, d, 1, o, e)))
        return rc;
    dict_put(*o, key, v);
    return 0;
}

static int f_dict_contains(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                           struct errbuf *e)
{
    struct ev_value *d = NULL;
    const char *key;
    int rc;
    if ((rc = ev_get_dict(a, "dictionary", 1, &d, e)) || (rc = ev_get_string(a, "key", 1, &key, e)))
        return rc;
    return (*o = ev_bool(x, dict_find(d, key) >= 0)) ? 0 : NOMEM();
}

static int f_dict_size(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    struct ev_value *d = NULL;
    int rc = ev_get_dict(a, "dictionary", 1, &d, e);
    return rc ? rc : (*o = ev_num(x, d->n)) ? 0 : NOMEM();
}

static int key_list(const struct ev_args *a, const char *name, int required,
                    struct ev_value **l, struct errbuf *e)
{
    int rc = ev_get_list(a, name, required, l, e), i;
    for (i = 0; rc == 0 && *l && i < (*l)->n; i++)
        if ((*l)->items[i]->kind != EV_STR)
            return ev_type_error(e, a, name, "List<String>", (*l)->items[i]);
    return rc;
}

static int f_dict_values(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_value *d = NULL, *keys = NULL;
    int rc, i, k;
    if ((rc = ev_get_dict(a, "dictionary", 1, &d, e)) || (rc = key_list(a, "keys", 0, &keys, e)))
        return rc;
    if (!keys) {
        if (!(*o = ev_list(x, d->n)))
            return NOMEM();
        for (i = 0; i < d->n; i++)
            (*o)->items[i] = d->items[i];
        return 0;
    }
    if (!(*o = ev_list(x, keys->n)))
        return NOMEM();
    for (i = 0; i < keys->n; i++) {
        if ((k = dict_find(d, keys->items[i]->str)) < 0)
            return err_set(e, ERR_USAGE, "%s: Dictionary does not contain key: '%s'.", a->fname,
                           keys->items[i]->str);
        (*o)->items[i] = d->items[k];
    }
    return 0;
}

static int f_dict_combine(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                          struct errbuf *e)
{
    struct ev_value *d1, *d2, *ow = ev_arg(a, "overwrite");
    int rc, i, overwrite = !(ow && ow->kind == EV_BOOL && !ow->b);
    if ((rc = ev_get_dict(a, "first", 1, &d1, e)) || (rc = ev_get_dict(a, "second", 1, &d2, e)) ||
        (rc = dict_copy(x, d1, d2->n, o, e)))
        return rc;
    for (i = 0; i < d2->n; i++)
        if (overwrite || dict_find(*o, d2->keys[i]) < 0)
            dict_put(*o, d2->keys[i], d2->items[i]);
    return 0;
}

/* Keys of d matched by selectors (names or regular expressions matching
 * the whole key), in d's order; sets *missing to a selector that matched
 * nothing. */
static int dict_pick(const struct ev_args *a, const struct ev_value *d, const struct ev_value *sel,
                     char *pick, const char **missing, struct errbuf *e)
{
    int i, k, rc;
    *missing = NULL;
    for (i = 0; i < sel->n; i++) {
        regex_t re;
        char *anch;
        size_t n = strlen(sel->items[i]->str);
        int hit = 0;
        if (!(anch = malloc(n + 5)))
            return NOMEM();
        snprintf(anch, n + 5, "^(%s)$", sel->items[i]->str);
        rc = regex_compile(a, &re, anch, "", e);
        free(anch);
        if (rc) {   /* not a pattern: a plain name */
            k = dict_find(d, sel->items[i]->str);
            if (k >= 0)
                pick[k] = hit = 1;
        } else {
            for (k = 0; k < d->n; k++)
                if (regexec(&re, d->keys[k], 0, NULL, 0) == 0 ||
                    strcmp(d->keys[k], sel->items[i]->str) == 0)
                    pick[k] = hit = 1;
            regfree(&re);
        }
        if (!hit && !*missing)
            *missing = sel->items[i]->str;
    }
    return 0;
}

/* Dictionary.select, .remove (a->op 1: keep the selected keys). */
static int dict_select(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                       struct errbuf *e)
{
    const int keep = a->op;
    struct ev_value *d, *sel, *im = ev_arg(a, "ignoreMissing");
    const char *missing;
    char *pick;
    int rc, i;
    if ((rc = ev_get_dict(a, "dictionary", 1, &d, e)) || (rc = key_list(a, "selectors", 1, &sel, e)))
        return rc;
    if (!(pick = eval_alloc(x, (size_t)d->n + 1)))
        return NOMEM();
    if ((rc = dict_pick(a, d, sel, pick, &missing, e)))
        return rc;
    if (missing && !(im && im->kind == EV_BOOL && im->b))
        return err_set(e, ERR_USAGE, "%s: Key '%s' not found in the dictionary.", a->fname,
                       missing);
    if (!(*o = ev_dict(x, d->n)))
        return NOMEM();
    (*o)->n = 0;
    for (i = 0; i < d->n; i++)
        if (!pick[i] == !keep) {
            (*o)->keys[(*o)->n] = d->keys[i];
            (*o)->items[(*o)->n++] = d->items[i];
        }
    return 0;
}

static int f_dict_rename(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                         struct errbuf *e)
{
    struct ev_value *d, *from, *to, *ow = ev_arg(a, "overwrite");
    int rc, i, k, overwrite = ow && ow->kind == EV_BOOL && ow->b;
    if ((rc = ev_get_dict(a, "dictionary", 1, &d, e)) || (rc = key_list(a, "from", 1, &from, e)) ||
        (rc = key_list(a, "to", 1, &to, e)))
        return rc;
    if (from->n != to->n)
        return err_set(e, ERR_USAGE, "%s: 'from' and 'to' must have the same length.", a->fname);
    if ((rc = dict_copy(x, d, 0, o, e)))
        return rc;
    for (i = 0; i < from->n; i++) {
        if ((k = dict_find(*o, from->items[i]->str)) < 0)
            return err_set(e, ERR_USAGE, "%s: Key '%s' not found in the dictionary.", a->fname,
                           from->items[i]->str);
        if (dict_find(*o, to->items[i]->str) >= 0 && strcmp(from->items[i]->str, to->items[i]->str)) {
            int t = dict_find(*o, to->items[i]->str);
            if (!overwrite)
                return err_set(e, ERR_USAGE, "%s: Key '%s' already exists in the dictionary.",
                               a->fname, to->items[i]->str);
            (*o)->items[t] = (*o)->items[k];
            memmove(&(*o)->keys[k], &(*o)->keys[k + 1], sizeof *(*o)->keys * (size_t)((*o)->n - k - 1));
            memmove(&(*o)->items[k], &(*o)->items[k + 1],
                    sizeof *(*o)->items * (size_t)((*o)->n - k - 1));
            (*o)->n--;
            continue;
        }
        (*o)->keys[k] = to->items[i]->str;
    }
    return 0;
}

static int f_dict_from_lists(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                             struct errbuf *e)
{
    struct ev_value *keys = NULL, *vals = NULL;
    int rc, i;
    if ((rc = key_list(a, "keys", 1, &keys, e)) || (rc = ev_get_list(a, "values", 1, &vals, e)))
        return rc;
    if (keys->n != vals->n)
        return err_set(e, ERR_USAGE, "%s: Mismatched lengths: %d keys, %d values.", a->fname,
                       keys->n, vals->n);
    if (!(*o = ev_dict(x, keys->n)))
        return NOMEM();
    (*o)->n = 0;
    for (i = 0; i < keys->n; i++)
        dict_put(*o, keys->items[i]->str, vals->items[i]);
    return 0;
}

static int f_dict_map(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_value *d = NULL, *fn = NULL;
    int rc, i, k;
    if ((rc = ev_get_dict(a, "dictionary", 1, &d, e)) || (rc = ev_require(a, "baseAlgorithm", &fn, e)))
        return rc;
    if (fn->kind != EV_FUNC)
        return ev_type_error(e, a, "baseAlgorithm", "Algorithm", fn);
    if (fn->func->nargs < 2)
        return err_set(e, ERR_USAGE, "%s: The mapped function must take a key and a value.",
                       a->fname);
    if ((rc = dict_copy(x, d, 0, o, e)))
        return rc;
    for (i = 0; i < d->n; i++) {
        struct ev_value **args = eval_alloc(x, sizeof *args * (size_t)(fn->func->nargs + 1));
        if (!args || !(args[0] = ev_str(x, d->keys[i])))
            return NOMEM();
        args[1] = d->items[i];
        for (k = 2; k < fn->func->nargs; k++)
            if (!(args[k] = ev_new(x, EV_NULL)))
                return NOMEM();
        if ((rc = ev_call_func(x, fn->func, args, a->depth + 1, &(*o)->items[i], e)) != 0)
            return rc;
    }
    return 0;
}

/* Dictionary.getNumber, .getString: a->op is the kind wanted (EV_NUM, EV_STR). */
static int dict_typed_get(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                          struct errbuf *e)
{
    const enum ev_kind want = (enum ev_kind)a->op;
    const char *tname = want == EV_NUM ? "Number" : "String";
    struct ev_value *d = NULL;
    const char *key;
    int rc, k;
    (void)x;
    if ((rc = ev_get_dict(a, "dictionary", 1, &d, e)) || (rc = ev_get_string(a, "key", 1, &key, e)))
        return rc;
    if ((k = dict_find(d, key)) < 0)
        return err_set(e, ERR_USAGE, "%s: Dictionary does not contain key: '%s'.", a->fname, key);
    *o = d->items[k];
    if ((*o)->kind != want)
        return err_set(e, ERR_USAGE, "%s: Expected a %s for key '%s', found %s.", a->fname, tname,
                       key, ev_type_name(*o));
    return 0;
}

/* IsEqual(left, right): deep equality of two values. */
static int f_is_equal(struct ev_ctx *x, const struct ev_args *a, struct ev_value **o,
                      struct errbuf *e)
{
    struct ev_value *l = NULL, *r = NULL;
    int rc;
    if ((rc = null_value(x, a, "left", &l, e)) || (rc = null_value(x, a, "right", &r, e)))
        return rc;
    return (*o = ev_bool(x, ev_values_equal(l, r))) ? 0 : NOMEM();
}

const struct ev_algo ev_algos_lists[] = {
    {"Number.pow", num_binary, N2_POW}, {"Number.mod", num_binary, N2_MOD},
    {"Number.atan2", num_binary, N2_ATAN2}, {"Number.hypot", num_binary, N2_HYPOT},
    {"Number.eq", num_binary, N2_EQ}, {"Number.neq", num_binary, N2_NEQ},
    {"Number.lt", num_binary, N2_LT}, {"Number.lte", num_binary, N2_LTE},
    {"Number.gt", num_binary, N2_GT}, {"Number.gte", num_binary, N2_GTE},
    {"Number.and", num_binary, N2_AND}, {"Number.or", num_binary, N2_OR},
    {"Number.first", num_binary, N2_FIRST}, {"Number.firstNonZero", num_binary, N2_FIRST_NONZERO},
    {"Number.first_nonzero", num_binary, N2_FIRST_NONZERO},
    {"Number.bitwiseAnd", num_binary, N2_BITAND}, {"Number.bitwise_and", num_binary, N2_BITAND},
    {"Number.bitwiseOr", num_binary, N2_BITOR}, {"Number.bitwise_or", num_binary, N2_BITOR},
    {"Number.bitwiseXor", num_binary, N2_BITXOR}, {"Number.bitwise_xor", num_binary, N2_BITXOR},
    {"Number.leftShift", num_binary, N2_LSHIFT}, {"Number.left_shift", num_binary, N2_LSHIFT},
    {"Number.rightShift", num_binary, N2_RSHIFT}, {"Number.right_shift", num_binary, N2_RSHIFT},
    {"Number.sqrt", num_unary, N1_SQRT}, {"Number.log", num_unary, N1_LOG},
    {"Number.log10", num_unary, N1_LOG10}, {"Number.exp", num_unary, N1_EXP},
    {"Number.sin", num_unary, N1_SIN}, {"Number.cos", num_unary, N1_COS},
    {"Number.tan", num_unary, N1_TAN}, {"Number.asin", num_unary, N1_ASIN},
    {"Number.acos", num_unary, N1_ACOS}, {"Number.atan", num_unary, N1_ATAN},
    {"Number.sinh", num_unary, N1_SINH}, {"Number.cosh", num_unary, N1_COSH},
    {"Number.tanh", num_unary, N1_TANH}, {"Number.cbrt", num_unary, N1_CBRT},
    {"Number.erf", num_unary, N1_ERF}, {"Number.erfc", num_unary, N1_ERFC},
    {"Number.gamma", num_unary, N1_GAMMA}, {"Number.signum", num_unary, N1_SIGNUM},
    {"Number.not", num_unary, N1_NOT}, {"Number.bitwiseNot", num_unary, N1_BITNOT},
    {"Number.bitwise_not", num_unary, N1_BITNOT}, {"Number.bitCount", num_unary, N1_BITCOUNT},
    {"Number.int8", num_cast, NC_INT8}, {"Number.toInt8", num_cast, NC_INT8},
    {"Number.uint8", num_cast, NC_UINT8}, {"Number.toUint8", num_cast, NC_UINT8},
    {"Number.int16", num_cast, NC_INT16}, {"Number.toInt16", num_cast, NC_INT16},
    {"Number.uint16", num_cast, NC_UINT16}, {"Number.toUint16", num_cast, NC_UINT16},
    {"Number.int32", num_cast, NC_INT32}, {"Number.toInt32", num_cast, NC_INT32},
    {"Number.uint32", num_cast, NC_UINT32}, {"Number.toUint32", num_cast, NC_UINT32},
    {"Number.int64", num_cast, NC_INT64}, {"Number.toInt64", num_cast, NC_INT64},
    {"Number.long", num_cast, NC_INT64}, {"Number.toLong", num_cast, NC_INT64},
    {"Number.byte", num_cast, NC_UINT8}, {"Number.toByte", num_cast, NC_UINT8},
    {"Number.short", num_cast, NC_INT16}, {"Number.toShort", num_cast, NC_INT16},
    {"Number.float", num_cast, NC_FLOAT}, {"Number.toFloat", num_cast, NC_FLOAT},
    {"Number.double", num_cast, NC_DOUBLE}, {"Number.toDouble", num_cast, NC_DOUBLE},
    {"Number.clamp", f_num_clamp, 0}, {"Number.format", f_num_format, 0},
    {"Number.parse", f_num_parse, 0}, {"String.slice", f_str_slice, 0},
    {"String.index", str_find, 0}, {"String.rindex", str_find, 1},
    {"String.replace", f_str_replace, 0}, {"String.split", f_str_split, 0},
    {"String.match", f_str_match, 0}, {"String.toUpperCase", str_case, 1},
    {"String.toLowerCase", str_case, 0}, {"String.trim", f_str_trim, 0},
    {"String.compareTo", f_str_compare, 0}, {"String.equals", f_str_equals, 0},
    {"String.decodeJSON", f_str_decode_json, 0}, {"String.encodeJSON", f_str_encode_json, 0},
    {"List.map", f_list_map, 0}, {"List.iterate", f_list_iterate, 0},
    {"List.filter", f_list_filter, 0}, {"List.slice", f_list_slice, 0},
    {"List.contains", f_list_contains, 0}, {"List.containsAll", f_list_contains_all, 0},
    {"List.indexOf", f_list_index_of, 0}, {"List.frequency", f_list_frequency, 0},
    {"List.indexOfSublist", sublist, 0}, {"List.lastIndexOfSubList", sublist, 1},
    {"List.flatten", f_list_flatten, 0}, {"List.distinct", f_list_distinct, 0},
    {"List.sort", f_list_sort, 0}, {"List.zip", f_list_zip, 0}, {"List.unzip", f_list_unzip, 0},
    {"List.add", f_list_add, 0}, {"List.insert", f_list_insert, 0}, {"List.set", f_list_set, 0},
    {"List.remove", f_list_remove, 0}, {"List.removeAll", f_list_remove_all, 0},
    {"List.replace", list_replace, 0}, {"List.replaceAll", list_replace, 1},
    {"List.reverse", f_list_reverse, 0}, {"List.rotate", f_list_rotate, 0},
    {"List.swap", f_list_swap, 0}, {"List.repeat", f_list_repeat, 0},
    {"List.splice", f_list_splice, 0}, {"List.equals", f_list_equals, 0},
    {"List.join", f_list_join, 0}, {"List.getNumber", list_typed_get, EV_NUM},
    {"List.getString", list_typed_get, EV_STR}, {"Dictionary.set", f_dict_set, 0},
    {"Dictionary.contains", f_dict_contains, 0}, {"Dictionary.size", f_dict_size, 0},
    {"Dictionary.values", f_dict_values, 0}, {"Dictionary.combine", f_dict_combine, 0},
    {"Dictionary.select", dict_select, 1}, {"Dictionary.remove", dict_select, 0},
    {"Dictionary.rename", f_dict_rename, 0}, {"Dictionary.fromLists", f_dict_from_lists, 0},
    {"Dictionary.map", f_dict_map, 0}, {"Dictionary.getNumber", dict_typed_get, EV_NUM},
    {"Dictionary.getString", dict_typed_get, EV_STR}, {"IsEqual", f_is_equal, 0},
    {NULL, NULL, 0},
};
