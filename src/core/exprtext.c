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

int exprtext_wrap_unmask(const char *expr, double nodata, char **out, struct errbuf *e)
{
    const char *result = NULL, *rend = NULL, *values = NULL, *vend = NULL;
    struct members top, vals;
    struct buf b;
    char name[64], num[64];
    long used = -1;   /* highest UNMASK_NAME suffix taken (0: the bare name) */
    int r, rc = 0;

    *out = NULL;
    if (!isfinite(nodata))
        return err_set(e, ERR_USAGE, "nodata must be a finite number (Earth Engine's JSON has no "
                                     "NaN or infinity)");
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

    /* A name no value of the graph has, so the rewrite never shadows one. */
    members_init(&vals, values);
    while ((r = members_next(&vals)) == 1) {
        size_t n = strlen(UNMASK_NAME);
        if (vals.klen < n || memcmp(vals.key, UNMASK_NAME, n) != 0)
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
        snprintf(name, sizeof name, UNMASK_NAME);
    else
        snprintf(name, sizeof name, UNMASK_NAME "_%ld", used + 1);
    format_number(nodata, num, sizeof num);

    buf_init(&b, 0);
    rc |= buf_printf(&b, "{\"result\":\"%s\",\"values\":{\"%s\":{\"functionInvocationValue\":{"
                         "\"functionName\":\"Image.unmask\",\"arguments\":{\"input\":{\"valueReference\":",
                     name, name);
    rc |= buf_append(&b, result, (size_t)(rend - result));
    rc |= buf_printf(&b, "},\"value\":{\"functionInvocationValue\":{\"functionName\":\"Image.constant\","
                         "\"arguments\":{\"value\":{\"constantValue\":%s}}}},"
                         "\"sameFootprint\":{\"constantValue\":false}}}}",
                     num);
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
