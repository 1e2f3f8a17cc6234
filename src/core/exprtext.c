/*
 * Text-level rewrites of serialized expressions (see exprtext.h). The
 * scanner below only finds the two top-level members of an Expression and
 * the keys of its "values": containers are skipped by counting brackets
 * outside strings, so a graph of any depth or size costs one linear pass
 * and no stack. It does not validate the inside of the values; the server
 * parses the request and answers for that.
 */
#include "core/exprtext.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define UNMASK_NAME "eefetch_unmask"
#define SELECT_NAME "eefetch_select"

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Past the closing quote of the string that starts at p ('"'), or NULL. */
static const char *skip_string(const char *p)
{
    for (p++; *p; p++) {
        if (*p == '\\') {
            if (!*++p)
                return NULL;
        } else if (*p == '"') {
            return p + 1;
        } else if ((unsigned char)*p < 0x20) {
            return NULL;
        }
    }
    return NULL;
}

/* Past the JSON value that starts at p, or NULL when it is cut short. */
static const char *skip_value(const char *p)
{
    long depth = 0;

    do {
        switch (*p) {
        case '\0':
            return NULL;
        case '"':
            if (!(p = skip_string(p)))
                return NULL;
            continue;
        case '{':
        case '[':
            depth++;
            break;
        case '}':
        case ']':
            if (--depth < 0)
                return NULL;
            break;
        default:
            if (depth == 0) {   /* a number, true, false or null */
                const char *s = p;
                while (*p && !strchr(",:{}[]\" \t\r\n", *p))
                    p++;
                return p > s ? p : NULL;
            }
        }
        p++;
    } while (depth > 0);
    return p;
}

/* Walks the members of one object: m.p starts at its '{'. */
struct members {
    const char *p;
    int first;
    const char *key;          /* the key's text without its quotes, as written */
    size_t klen;
    const char *val, *vend;   /* the member's value */
};

static void members_init(struct members *m, const char *obj)
{
    m->p = obj + 1;
    m->first = 1;
}

/* 1 with the next member in m, 0 past the closing '}', -1 when malformed. */
static int members_next(struct members *m)
{
    const char *p = skip_ws(m->p), *kend;

    if (*p == '}') {
        m->p = p + 1;
        return 0;
    }
    if (!m->first) {
        if (*p != ',')
            return -1;
        p = skip_ws(p + 1);
    }
    m->first = 0;
    if (*p != '"' || !(kend = skip_string(p)))
        return -1;
    m->key = p + 1;
    m->klen = (size_t)(kend - p) - 2;
    p = skip_ws(kend);
    if (*p != ':')
        return -1;
    m->val = skip_ws(p + 1);
    if (!(m->vend = skip_value(m->val)))
        return -1;
    m->p = m->vend;
    return 1;
}

static int key_is(const struct members *m, const char *s)
{
    return m->klen == strlen(s) && memcmp(m->key, s, m->klen) == 0;
}

/* The shortest decimal text that reads back as v (v finite). */
static void format_number(double v, char *out, size_t cap)
{
    int prec;

    if (v == floor(v) && fabs(v) < 9e15) {   /* an integer literal keeps EE's integer types */
        snprintf(out, cap, "%lld", (long long)v);
        return;
    }
    for (prec = 15; prec < 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
    snprintf(out, cap, "%.17g", v);
}

/* *out = {"result": N, "values": {N: fn(input = <expr's result>, <args>),
 * <expr's values>}} where N is `base` or `base_<k>`, a name no value of
 * the graph has (so the rewrite never shadows one). args is the text of
 * the other arguments, starting with a comma. */
static int wrap_call(const char *expr, const char *base, const char *fn, const char *args, char **out,
                     struct errbuf *e)
{
    const char *result = NULL, *rend = NULL, *values = NULL, *vend = NULL;
    struct members top, vals;
    struct buf b;
    char name[64];
    size_t n = strlen(base);
    long used = -1;   /* highest base suffix taken (0: the bare name) */
    int r, rc = 0;

    *out = NULL;
    expr = skip_ws(expr);
    if (*expr != '{')
        goto malformed;
    members_init(&top, expr);
    while ((r = members_next(&top)) == 1) {
        if (key_is(&top, "result") && *top.val == '"') {
            result = top.val;
            rend = top.vend;
        } else if (key_is(&top, "values") && *top.val == '{') {
            values = top.val;
            vend = top.vend;
        }
    }
    if (r < 0 || !result || !values || *skip_ws(top.p) != '\0')
        goto malformed;

    members_init(&vals, values);
    while ((r = members_next(&vals)) == 1) {
        if (vals.klen < n || memcmp(vals.key, base, n) != 0)
            continue;
        if (vals.klen == n) {
            used = used < 0 ? 0 : used;
        } else if (vals.key[n] == '_' && vals.klen - n - 1 <= 9) {
            char digits[16];
            long k;
            memcpy(digits, vals.key + n + 1, vals.klen - n - 1);
            digits[vals.klen - n - 1] = '\0';
            k = strtol(digits, NULL, 10);
            used = k > used ? k : used;
        }
    }
    if (r < 0)
        goto malformed;
    if (used < 0)
        snprintf(name, sizeof name, "%s", base);
    else
        snprintf(name, sizeof name, "%s_%ld", base, used + 1);

    buf_init(&b, 0);
    rc |= buf_printf(&b, "{\"result\":\"%s\",\"values\":{\"%s\":{\"functionInvocationValue\":{"
                         "\"functionName\":\"%s\",\"arguments\":{\"input\":{\"valueReference\":",
                     name, name, fn);
    rc |= buf_append(&b, result, (size_t)(rend - result));
    rc |= buf_append_str(&b, "}");
    rc |= buf_append_str(&b, args);
    rc |= buf_append_str(&b, "}}}");
    /* The old values, as written: the text between the braces of "values". */
    {
        const char *in = skip_ws(values + 1), *in_end = vend - 1;
        if (in < in_end) {
            rc |= buf_append(&b, ",", 1);
            rc |= buf_append(&b, in, (size_t)(in_end - in));
        }
    }
    rc |= buf_append(&b, "}}", 2);
    if (rc) {
        buf_free(&b);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    *out = buf_steal(&b, NULL);
    return 0;

malformed:
    return err_set(e, ERR_USAGE, "the serialized expression is not {\"result\": ..., \"values\": {...}}");
}

int exprtext_wrap_unmask(const char *expr, double nodata, char **out, struct errbuf *e)
{
    char args[256], num[64];

    *out = NULL;
    if (!isfinite(nodata))
        return err_set(e, ERR_USAGE, "nodata must be a finite number (Earth Engine's JSON has no "
                                     "NaN or infinity)");
    format_number(nodata, num, sizeof num);
    snprintf(args, sizeof args,
             ",\"value\":{\"functionInvocationValue\":{\"functionName\":\"Image.constant\","
             "\"arguments\":{\"value\":{\"constantValue\":%s}}}},"
             "\"sameFootprint\":{\"constantValue\":false}",
             num);
    return wrap_call(expr, UNMASK_NAME, "Image.unmask", args, out, e);
}

int exprtext_append_string(struct buf *b, const char *s)
{
    int rc = buf_append(b, "\"", 1);
    for (; *s && rc == 0; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            rc = buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            rc = buf_printf(b, "\\u%04x", c);
        else
            rc = buf_append(b, s, 1);
    }
    return rc ? rc : buf_append(b, "\"", 1);
}

int exprtext_wrap_select(const char *expr, const char *const *bands, size_t nbands, char **out, struct errbuf *e)
{
    struct buf a;
    size_t i;
    int rc = 0;

    buf_init(&a, 0);
    rc |= buf_append_str(&a, ",\"bandSelectors\":{\"constantValue\":[");
    for (i = 0; i < nbands; i++) {
        if (i)
            rc |= buf_append(&a, ",", 1);
        rc |= exprtext_append_string(&a, bands[i]);
    }
    rc |= buf_append_str(&a, "]}");
    if (rc) {
        buf_free(&a);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    rc = wrap_call(expr, SELECT_NAME, "Image.select", a.data, out, e);
    buf_free(&a);
    return rc;
}

int exprtext_invokes(const char *expr, const char *const *fns, size_t n)
{
    const char *p = expr, *q;
    size_t i;

    /* String by string: a "functionName" key, its ':' and the string
     * after it name a call; the same words inside any other string (a
     * band id, a constant) do not. */
    while (p && (p = strchr(p, '"'))) {
        if (!(q = skip_string(p)))
            return 0;
        if ((size_t)(q - p) == sizeof "\"functionName\"" - 1 && memcmp(p, "\"functionName\"", (size_t)(q - p)) == 0 &&
            *(q = skip_ws(q)) == ':' && *(q = skip_ws(q + 1)) == '"') {
            const char *end = skip_string(q);
            if (!end)
                return 0;
            for (i = 0; i < n; i++)
                if (strlen(fns[i]) == (size_t)(end - q - 2) && memcmp(q + 1, fns[i], (size_t)(end - q - 2)) == 0)
                    return 1;
            q = end;
        }
        p = q;
    }
    return 0;
}
