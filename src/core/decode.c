/* NPY and GeoTIFF tile decoding with strict validation (see decode.h). */
#include "core/decode.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_error.h>
#include <cpl_vsi.h>
#include <gdal.h>

#include "core/pixtype.h"

void decoded_tile_free(struct decoded_tile *t)
{
    if (!t)
        return;
    free(t->bands);
    free(t->block);
    memset(t, 0, sizeof *t);
}

/* Allocates bands and one pixel block for them. */
static int tile_alloc(struct decoded_tile *t, long w, long h, int nbands, const enum spec_dtype *types,
                      struct errbuf *e)
{
    size_t total = 0, off = 0, npx = (size_t)w * (size_t)h;
    int b;

    memset(t, 0, sizeof *t);
    /* Each plane starts on an 8-byte boundary so it can be read as its type. */
    for (b = 0; b < nbands; b++)
        total += (npx * spec_dtype_size(types[b]) + 7) & ~(size_t)7;
    t->bands = calloc((size_t)nbands, sizeof *t->bands);
    t->block = malloc(total ? total : 1);
    if (!t->bands || !t->block) {
        decoded_tile_free(t);
        return err_set(e, ERR_NOMEM, "out of memory decoding a %ldx%ld tile", w, h);
    }
    t->width = w;
    t->height = h;
    t->nbands = nbands;
    for (b = 0; b < nbands; b++) {
        t->bands[b].type = types[b];
        t->bands[b].data = (char *)t->block + off;
        off += (npx * spec_dtype_size(types[b]) + 7) & ~(size_t)7;
    }
    return 0;
}

/* ---- NPY header: a Python dict literal ---- */

#define NPY_MAX_FIELDS 4096
#define NPY_NAME_MAX 256

struct npy_field {
    char name[NPY_NAME_MAX];
    enum spec_dtype type;
    int swap;              /* big-endian on the wire */
};

struct npy_header {
    int structured;
    struct npy_field *fields;   /* structured: one per field; simple: fields[0] */
    int nfields, cap;
    int fortran;
    long shape[3];
    int ndim;
};

struct cursor {
    const char *p, *end;
};

static void skip_ws(struct cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\t' || *c->p == '\r'))
        c->p++;
}

static int expect_char(struct cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 0;
    }
    return -1;
}

static int peek_char(struct cursor *c, char ch)
{
    skip_ws(c);
    return c->p < c->end && *c->p == ch;
}

/* A quoted Python string ('...' or "..."); backslash escapes one character. */
static int parse_str(struct cursor *c, char *out, size_t cap)
{
    char q;
    size_t n = 0;

    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return -1;
    q = *c->p++;
    while (c->p < c->end && *c->p != q) {
        char ch = *c->p++;
        if (ch == '\\') {
            if (c->p >= c->end)
                return -1;
            ch = *c->p++;
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = ch;
    }
    if (c->p >= c->end)
        return -1;
    c->p++;
    out[n] = '\0';
    return 0;
}

static int parse_long(struct cursor *c, long *v)
{
    long x = 0;
    int digits = 0;

    skip_ws(c);
    while (c->p < c->end && isdigit((unsigned char)*c->p)) {
        if (x > (LONG_MAX - 9) / 10)
            return -1;
        x = x * 10 + (*c->p - '0');
        c->p++;
        digits++;
    }
    if (!digits)
        return -1;
    if (c->p < c->end && *c->p == 'L')   /* Python 2 long literal */
        c->p++;
    *v = x;
    return 0;
}

/* numpy dtype string -> type; "<u2", "|u1", ">f8", "=i4". */
static int parse_dtype(const char *s, enum spec_dtype *t, int *swap)
{
    static const struct {
        const char *code;
        enum spec_dtype t;
    } codes[] = {
        {"u1", SPEC_DTYPE_UINT8}, {"i1", SPEC_DTYPE_INT8},   {"u2", SPEC_DTYPE_UINT16},
        {"i2", SPEC_DTYPE_INT16}, {"u4", SPEC_DTYPE_UINT32}, {"i4", SPEC_DTYPE_INT32},
        {"f4", SPEC_DTYPE_FLOAT32}, {"f8", SPEC_DTYPE_FLOAT64},
    };
    size_t i;
    char order;

    if (strlen(s) != 3)
        return -1;
    order = s[0];
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return -1;
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (strcmp(s + 1, codes[i].code) == 0) {
            /* '|' (no order) is only meaningful for one-byte types. */
            if (order == '|' && spec_dtype_size(codes[i].t) != 1)
                return -1;
            *t = codes[i].t;
            *swap = order == '>' && spec_dtype_size(codes[i].t) > 1;
            return 0;
        }
    }
    return -1;
}

static int parse_descr(struct cursor *c, struct npy_header *h, struct errbuf *e)
{
    char code[16];

    if (!peek_char(c, '[')) {
        h->structured = 0;
        h->fields = calloc(1, sizeof *h->fields);
        if (!h->fields)
            return err_set(e, ERR_NOMEM, "out of memory");
        h->nfields = 1;
        if (parse_str(c, code, sizeof code) < 0 ||
            parse_dtype(code, &h->fields[0].type, &h->fields[0].swap) < 0)
            return err_set(e, ERR_PARSE, "NPY: unsupported descr");
        return 0;
    }
    h->structured = 1;
    c->p++;
    for (;;) {
        struct npy_field *f;
        if (peek_char(c, ']')) {
            c->p++;
            break;
        }
        if (h->nfields >= NPY_MAX_FIELDS)
            return err_set(e, ERR_PARSE, "NPY: too many fields");
        if (h->nfields == h->cap) {
            int ncap = h->cap ? h->cap * 2 : 8;
            struct npy_field *nf = realloc(h->fields, (size_t)ncap * sizeof *nf);
            if (!nf)
                return err_set(e, ERR_NOMEM, "out of memory");
            h->fields = nf;
            h->cap = ncap;
        }
        f = &h->fields[h->nfields];
        memset(f, 0, sizeof *f);
        if (expect_char(c, '(') < 0 || parse_str(c, f->name, sizeof f->name) < 0 ||
            expect_char(c, ',') < 0 || parse_str(c, code, sizeof code) < 0)
            return err_set(e, ERR_PARSE, "NPY: malformed structured descr");
        if (parse_dtype(code, &f->type, &f->swap) < 0)
            return err_set(e, ERR_PARSE, "NPY: field '%.64s' has unsupported type '%s'", f->name, code);
        /* A third tuple element would be a sub-array shape: not EE's layout. */
        if (expect_char(c, ')') < 0)
            return err_set(e, ERR_PARSE, "NPY: malformed field '%.64s'", f->name);
        h->nfields++;
        if (expect_char(c, ',') < 0) {
            if (expect_char(c, ']') < 0)
                return err_set(e, ERR_PARSE, "NPY: malformed structured descr");
            break;
        }
    }
    if (h->nfields == 0)
        return err_set(e, ERR_PARSE, "NPY: structured descr without fields");
    return 0;
}

static int parse_shape(struct cursor *c, struct npy_header *h)
{
    if (expect_char(c, '(') < 0)
        return -1;
    h->ndim = 0;
    for (;;) {
        if (peek_char(c, ')')) {
            c->p++;
            return 0;
        }
        if (h->ndim >= 3 || parse_long(c, &h->shape[h->ndim]) < 0)
            return -1;
        h->ndim++;
        if (expect_char(c, ',') < 0)
            return expect_char(c, ')');
    }
}

static int parse_header(const char *s, size_t n, struct npy_header *h, struct errbuf *e)
{
    struct cursor c = {s, s + n};
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0, rc;
    char key[32];

    memset(h, 0, sizeof *h);
    if (expect_char(&c, '{') < 0)
        return err_set(e, ERR_PARSE, "NPY: header is not a dict");
    for (;;) {
        if (peek_char(&c, '}')) {
            c.p++;
            break;
        }
        if (parse_str(&c, key, sizeof key) < 0 || expect_char(&c, ':') < 0)
            return err_set(e, ERR_PARSE, "NPY: malformed header");
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            if ((rc = parse_descr(&c, h, e)) < 0)
                return rc;
            seen_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !seen_fortran) {
            skip_ws(&c);
            if ((size_t)(c.end - c.p) >= 4 && memcmp(c.p, "True", 4) == 0) {
                h->fortran = 1;
                c.p += 4;
            } else if ((size_t)(c.end - c.p) >= 5 && memcmp(c.p, "False", 5) == 0) {
                c.p += 5;
            } else {
                return err_set(e, ERR_PARSE, "NPY: bad fortran_order");
            }
            seen_fortran = 1;
        } else if (strcmp(key, "shape") == 0 && !seen_shape) {
            if (parse_shape(&c, h) < 0)
                return err_set(e, ERR_PARSE, "NPY: bad shape");
            seen_shape = 1;
        } else {
            return err_set(e, ERR_PARSE, "NPY: unexpected header key '%.31s'", key);
        }
        if (expect_char(&c, ',') < 0) {
            if (expect_char(&c, '}') < 0)
                return err_set(e, ERR_PARSE, "NPY: malformed header");
            break;
        }
    }
    skip_ws(&c);
    if (c.p != c.end)
        return err_set(e, ERR_PARSE, "NPY: trailing bytes after the header dict");
    if (!seen_descr || !seen_fortran || !seen_shape)
        return err_set(e, ERR_PARSE, "NPY: header lacks descr, fortran_order or shape");
    if (h->fortran)
        return err_set(e, ERR_PARSE, "NPY: Fortran-ordered arrays are not expected");
    return 0;
}

static void copy_swapped(unsigned char *dst, const unsigned char *src, size_t size, int swap)
{
    size_t i;

    if (!swap) {
        memcpy(dst, src, size);
        return;
    }
    for (i = 0; i < size; i++)
        dst[i] = src[size - 1 - i];
}

/* A checked NPY body: its layout and where its records start. */
struct npy_body {
    struct npy_header h;
    int nbands;
    enum spec_dtype *types;     /* per band */
    size_t *offs;               /* per band: byte offset within a record */
    size_t rec;                 /* record (pixel) size in bytes */
    size_t npx;
    const unsigned char *data;  /* npx records */
};

static void npy_body_free(struct npy_body *nb)
{
    free(nb->h.fields);
    free(nb->types);
    free(nb->offs);
    memset(nb, 0, sizeof *nb);
}

/* The preamble of an NPY body of len bytes: where its header dict starts
 * (hoff) and how long it is (hlen). */
static int npy_preamble(const unsigned char *p, size_t len, size_t *hoff, size_t *hlen, struct errbuf *e)
{
    if (len < 10 || memcmp(p, "\x93NUMPY", 6) != 0)
        return err_set(e, ERR_PARSE, "NPY: bad magic (not an NPY body)");
    if (p[6] == 1) {
        *hoff = 10;
        *hlen = (size_t)p[8] | (size_t)p[9] << 8;
    } else if (p[6] == 2 || p[6] == 3) {
        if (len < 12)
            return err_set(e, ERR_PARSE, "NPY: truncated preamble");
        *hoff = 12;
        *hlen = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
    } else {
        return err_set(e, ERR_PARSE, "NPY: unsupported format version %u.%u", p[6], p[7]);
    }
    if (*hlen > DECODE_NPY_MAX_HEADER)
        return err_set(e, ERR_PARSE, "NPY: header of %zu bytes is too large", *hlen);
    return 0;
}

/* Parses the header dict s[0, n) and checks it against x: everything but
 * the length of the data that follows. */
static int npy_layout(const char *s, size_t n, const struct decode_expect *x, struct npy_body *nb, struct errbuf *e)
{
    struct npy_header *h = &nb->h;
    int b, nbands, rc = 0;
    long W = x->width, H = x->height;

    memset(nb, 0, sizeof *nb);
    if ((rc = parse_header(s, n, h, e)) < 0)
        goto done;

    /* Layouts: structured (H, W) with one field per band (EE), or a simple
     * array (H, W) of one band / (H, W, B) pixel-interleaved. */
    if (h->structured) {
        nbands = h->nfields;
        if (h->ndim != 2) {
            rc = err_set(e, ERR_PARSE, "NPY: structured array of %d dimensions, expected 2", h->ndim);
            goto done;
        }
    } else {
        nbands = h->ndim == 3 ? (int)h->shape[2] : 1;
        if (h->ndim != 2 && h->ndim != 3) {
            rc = err_set(e, ERR_PARSE, "NPY: array of %d dimensions, expected 2 or 3", h->ndim);
            goto done;
        }
    }
    if (h->shape[0] != H || h->shape[1] != W) {
        rc = err_set(e, ERR_PARSE, "NPY: shape (%ld, %ld) does not match the tile (%ld, %ld)", h->shape[0],
                     h->shape[1], H, W);
        goto done;
    }
    if (nbands != x->nbands) {
        rc = err_set(e, ERR_PARSE, "NPY: %d bands, expected %d", nbands, x->nbands);
        goto done;
    }
    nb->nbands = nbands;
    nb->types = calloc((size_t)nbands, sizeof *nb->types);
    nb->offs = calloc((size_t)nbands, sizeof *nb->offs);
    if (!nb->types || !nb->offs) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    for (b = 0; b < nbands; b++) {
        const struct npy_field *f = h->structured ? &h->fields[b] : &h->fields[0];
        nb->types[b] = f->type;
        nb->offs[b] = nb->rec;
        nb->rec += spec_dtype_size(f->type);
        if (h->structured && x->band_ids && strcmp(f->name, x->band_ids[b]) != 0) {
            rc = err_set(e, ERR_PARSE, "NPY: field %d is '%.64s', expected band '%.64s'", b, f->name,
                         x->band_ids[b]);
            goto done;
        }
        if (x->types && x->types[b] != SPEC_DTYPE_AUTO && x->types[b] != f->type) {
            rc = err_set(e, ERR_PARSE, "NPY: band %d is %s, expected %s", b, spec_dtype_name(f->type),
                         spec_dtype_name(x->types[b]));
            goto done;
        }
    }
    nb->npx = (size_t)W * (size_t)H;
    if (nb->rec != 0 && nb->npx > SIZE_MAX / nb->rec)
        rc = err_set(e, ERR_PARSE, "NPY: tile too large");
done:
    if (rc < 0)
        npy_body_free(nb);
    return rc;
}

/* The check of the data's length (got bytes after the header). */
static int npy_data_length(const struct npy_body *nb, size_t got, struct errbuf *e)
{
    size_t need = nb->npx * nb->rec;

    if (got != need)
        return err_set(e, ERR_PARSE, "NPY: %zu data bytes, expected %zu (%s)", got, need,
                       got < need ? "truncated" : "trailing bytes");
    return 0;
}

/* Parses and checks an NPY body against x without copying any pixel. */
static int npy_body_open(const void *bytes, size_t len, const struct decode_expect *x, struct npy_body *nb,
                         struct errbuf *e)
{
    const unsigned char *p = bytes;
    size_t hoff, hlen;
    int rc;

    memset(nb, 0, sizeof *nb);
    if ((rc = npy_preamble(p, len, &hoff, &hlen, e)) < 0)
        return rc;
    if (hlen > len - hoff)
        return err_set(e, ERR_PARSE, "NPY: truncated header (%zu of %zu bytes)", len - hoff, hlen);
    if ((rc = npy_layout((const char *)p + hoff, hlen, x, nb, e)) < 0)
        return rc;
    if ((rc = npy_data_length(nb, len - hoff - hlen, e)) < 0) {
        npy_body_free(nb);
        return rc;
    }
    nb->data = p + hoff + hlen;
    return 0;
}

/* Copies field `off` of every record into a plane. The common sizes get
 * their own loops: a memcpy call per pixel costs more than the copy. */
static void deinterleave(unsigned char *dst, const unsigned char *src, size_t npx, size_t rec, size_t off,
                         size_t sz, int swap)
{
    size_t i;

    src += off;
    if (swap) {
        for (i = 0; i < npx; i++)
            copy_swapped(dst + i * sz, src + i * rec, sz, 1);
        return;
    }
    switch (sz) {
    case 1:
        for (i = 0; i < npx; i++)
            dst[i] = src[i * rec];
        break;
    case 2:
        for (i = 0; i < npx; i++)
            memcpy(dst + 2 * i, src + i * rec, 2);
        break;
    case 4:
        for (i = 0; i < npx; i++)
            memcpy(dst + 4 * i, src + i * rec, 4);
        break;
    case 8:
        for (i = 0; i < npx; i++)
            memcpy(dst + 8 * i, src + i * rec, 8);
        break;
    default:
        for (i = 0; i < npx; i++)
            memcpy(dst + i * sz, src + i * rec, sz);
        break;
    }
}

int decode_npy(const void *bytes, size_t len, const struct decode_expect *x,
               struct decoded_tile *out, struct errbuf *e)
{
    struct npy_body nb;
    int b, rc;

    memset(out, 0, sizeof *out);
    if ((rc = npy_body_open(bytes, len, x, &nb, e)) < 0)
        return rc;
    if ((rc = tile_alloc(out, x->width, x->height, nb.nbands, nb.types, e)) == 0)
        for (b = 0; b < nb.nbands; b++) {
            const struct npy_field *f = nb.h.structured ? &nb.h.fields[b] : &nb.h.fields[0];
            deinterleave(out->bands[b].data, nb.data, nb.npx, nb.rec, nb.offs[b], spec_dtype_size(nb.types[b]),
                         f->swap);
        }
    npy_body_free(&nb);
    return rc;
}

/* Whether the records are band-fastest planes of one type as they are, and
 * that type. */
static int npy_uniform(const struct npy_body *nb, enum spec_dtype *type)
{
    int b, uniform = nb->nbands > 0;

    *type = nb->nbands > 0 ? nb->types[0] : SPEC_DTYPE_AUTO;
    for (b = 0; b < nb->nbands; b++) {
        const struct npy_field *f = nb->h.structured ? &nb->h.fields[b] : &nb->h.fields[0];
        /* Packed records of one type in host order are band-fastest planes
         * as they are (a simple (H, W, B) array is the same layout). */
        if (nb->types[b] != *type || f->swap || nb->offs[b] != (size_t)b * spec_dtype_size(*type))
            uniform = 0;
    }
    return uniform;
}

int decode_npy_view(const void *bytes, size_t len, const struct decode_expect *x, struct decode_npy_view *v,
                    struct errbuf *e)
{
    struct npy_body nb;
    int rc;

    memset(v, 0, sizeof *v);
    if ((rc = npy_body_open(bytes, len, x, &nb, e)) < 0)
        return rc;
    v->data = nb.data;
    v->bytes = nb.npx * nb.rec;
    v->uniform = npy_uniform(&nb, &v->type);
    npy_body_free(&nb);
    return 0;
}

/* ---- NPY as it arrives ---- */

/* A preamble: magic, version and the header's length in 2 bytes (version
 * 1) or 4 (versions 2 and 3). */
#define NPY_PREAMBLE_MIN 10
#define NPY_PREAMBLE_MAX 12

struct decode_npy_stream {
    const struct decode_expect *x;
    struct decode_npy_sink sink;
    int rc;                       /* the first failure, sticky */
    struct errbuf err;            /* its message */
    /* Until the header is complete: the bytes so far (nothing else). */
    unsigned char *head;
    size_t head_len, head_cap, head_want;
    size_t hoff;                  /* where the header dict starts; 0 before the preamble is read */
    int have_header;
    struct npy_body nb;
    struct decode_npy_layout layout;
    /* After it: data bytes so far, and a record cut between two parts. */
    size_t got;
    unsigned char *carry;
    size_t carry_len, carry_cap;
};

int decode_npy_stream_create(struct decode_npy_stream **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : ERR_NOMEM;
}

static void stream_reset(struct decode_npy_stream *st)
{
    npy_body_free(&st->nb);
    memset(&st->layout, 0, sizeof st->layout);
    st->rc = 0;
    st->err.msg[0] = '\0';
    st->head_len = 0;
    st->head_want = NPY_PREAMBLE_MIN;
    st->hoff = 0;
    st->have_header = 0;
    st->got = 0;
    st->carry_len = 0;
}

void decode_npy_stream_free(struct decode_npy_stream *st)
{
    if (!st)
        return;
    stream_reset(st);
    free(st->head);
    free(st->carry);
    free(st);
}

void decode_npy_stream_begin(struct decode_npy_stream *st, const struct decode_expect *x,
                             const struct decode_npy_sink *sink)
{
    stream_reset(st);
    st->x = x;
    st->sink = *sink;
}

static int stream_fail(struct decode_npy_stream *st, int rc, const struct errbuf *e)
{
    st->rc = rc;
    memcpy(st->err.msg, e->msg, sizeof st->err.msg);
    return rc;
}

/* Takes header bytes from *p: 0 while more are needed, 1 once the header
 * is complete and checked, < 0 on a bad one. Only header bytes are taken. */
static int stream_header(struct decode_npy_stream *st, const unsigned char **p, size_t *n, struct errbuf *e)
{
    size_t take, hoff, hlen;
    int rc;

    for (;;) {
        take = st->head_want - st->head_len < *n ? st->head_want - st->head_len : *n;
        if (st->head_len + take > st->head_cap) {
            size_t ncap = st->head_want > 4096 ? st->head_want : 4096;
            unsigned char *nh = realloc(st->head, ncap);
            if (!nh)
                return err_set(e, ERR_NOMEM, "out of memory");
            st->head = nh;
            st->head_cap = ncap;
        }
        if (take)
            memcpy(st->head + st->head_len, *p, take);
        st->head_len += take;
        *p += take;
        *n -= take;
        if (st->head_len < st->head_want)
            return 0;
        if (st->hoff)
            break;
        /* The preamble: 10 bytes, 12 from version 2 on. */
        if (st->head_len == NPY_PREAMBLE_MIN && (st->head[6] == 2 || st->head[6] == 3)) {
            st->head_want = NPY_PREAMBLE_MAX;
            continue;
        }
        if ((rc = npy_preamble(st->head, st->head_len, &hoff, &hlen, e)) < 0)
            return rc;
        st->hoff = hoff;
        st->head_want = hoff + hlen;
    }
    if ((rc = npy_layout((const char *)st->head + st->hoff, st->head_len - st->hoff, st->x, &st->nb, e)) < 0)
        return rc;
    if (st->nb.rec > st->carry_cap) {
        unsigned char *nc = realloc(st->carry, st->nb.rec);
        if (!nc)
            return err_set(e, ERR_NOMEM, "out of memory");
        st->carry = nc;
        st->carry_cap = st->nb.rec;
    }
    st->have_header = 1;
    st->layout.nbands = st->nb.nbands;
    st->layout.types = st->nb.types;
    st->layout.npx = st->nb.npx;
    st->layout.rec = st->nb.rec;
    st->layout.head = st->head;
    st->layout.head_bytes = st->head_len;
    st->layout.uniform = npy_uniform(&st->nb, &st->layout.type);
    return 1;
}

/* Whole records of the data bytes p[0, n) to the sink; a record cut at
 * the end waits in carry. Bytes past the last record are counted only. */
static int stream_data(struct decode_npy_stream *st, const unsigned char *p, size_t n, struct errbuf *e)
{
    size_t need = st->nb.npx * st->nb.rec, rec = st->nb.rec, first, k;
    int rc;

    if (st->got >= need || rec == 0) {
        st->got += n;
        return 0;
    }
    if (n > need - st->got) {
        /* Trailing bytes: counted (for the same message as a whole body),
         * never delivered. */
        size_t last = need - st->got;
        rc = stream_data(st, p, last, e);
        st->got += n - last;
        return rc;
    }
    first = st->got / rec;
    st->got += n;
    if (st->carry_len) {
        k = rec - st->carry_len < n ? rec - st->carry_len : n;
        memcpy(st->carry + st->carry_len, p, k);
        st->carry_len += k;
        p += k;
        n -= k;
        if (st->carry_len < rec)
            return 0;
        if ((rc = st->sink.records(st->sink.ud, st->carry, first, 1, e)) < 0)
            return rc;
        st->carry_len = 0;
        first++;
    }
    k = n / rec;
    if (k && (rc = st->sink.records(st->sink.ud, p, first, k, e)) < 0)
        return rc;
    memcpy(st->carry, p + k * rec, n - k * rec);
    st->carry_len = n - k * rec;
    return 0;
}

int decode_npy_stream_feed(struct decode_npy_stream *st, const void *bytes, size_t n, struct errbuf *e)
{
    const unsigned char *p = bytes;
    int rc;

    if (st->rc < 0)
        return err_set(e, st->rc, "%s", st->err.msg);
    if (!st->have_header) {
        if ((rc = stream_header(st, &p, &n, e)) < 0)
            return stream_fail(st, rc, e);
        if (rc == 0)
            return 0;
        if (st->sink.header && (rc = st->sink.header(st->sink.ud, &st->layout, e)) < 0)
            return stream_fail(st, rc, e);
    }
    if (n && (rc = stream_data(st, p, n, e)) < 0)
        return stream_fail(st, rc, e);
    return 0;
}

int decode_npy_stream_end(struct decode_npy_stream *st, struct errbuf *e)
{
    struct npy_body nb;
    int rc;

    if (st->rc < 0)
        return err_set(e, st->rc, "%s", st->err.msg);
    if (!st->have_header) {
        /* A body that ends within its header: the whole-body check says
         * what is wrong with it, in the same words. */
        if ((rc = npy_body_open(st->head, st->head_len, st->x, &nb, e)) == 0) {
            npy_body_free(&nb);
            rc = err_set(e, ERR_PARSE, "NPY: truncated body");
        }
        return stream_fail(st, rc, e);
    }
    if ((rc = npy_data_length(&st->nb, st->got, e)) < 0)
        return stream_fail(st, rc, e);
    return 0;
}

const struct decode_npy_layout *decode_npy_stream_layout(const struct decode_npy_stream *st)
{
    return st->have_header ? &st->layout : NULL;
}

void decode_npy_stream_band(const struct decode_npy_stream *st, const void *recs, size_t n, int band, void *dst)
{
    const struct npy_field *f = st->nb.h.structured ? &st->nb.h.fields[band] : &st->nb.h.fields[0];

    deinterleave(dst, recs, n, st->nb.rec, st->nb.offs[band], spec_dtype_size(st->nb.types[band]), f->swap);
}

/* ---- GeoTIFF ---- */

/* GDAL < 3.7 exposes a signed byte band as Byte with PIXELTYPE=SIGNEDBYTE. */
static enum spec_dtype band_type(GDALRasterBandH band)
{
    GDALDataType t = GDALGetRasterDataType(band);
    const char *pt;

    if (t == GDT_Byte) {
        pt = GDALGetMetadataItem(band, "PIXELTYPE", "IMAGE_STRUCTURE");
        if (pt && strcmp(pt, "SIGNEDBYTE") == 0)
            return SPEC_DTYPE_INT8;
    }
    return pixtype_from_gdal(t);
}

static int same(double a, double b, double scale)
{
    return fabs(a - b) <= 1e-6 * fabs(scale) + 1e-12;
}

int decode_geotiff(const void *bytes, size_t len, const struct decode_expect *x,
                   struct decoded_tile *out, struct errbuf *e)
{
    static atomic_ulong seq;
    char name[96];
    VSILFILE *mem;
    GDALDatasetH ds = NULL;
    enum spec_dtype *types = NULL;
    static const char *const drivers[] = {"GTiff", NULL};
    int b, nb, rc = 0;

    memset(out, 0, sizeof *out);
    if (len < 8 || (memcmp(bytes, "II*\0", 4) != 0 && memcmp(bytes, "MM\0*", 4) != 0 &&
                    memcmp(bytes, "II+\0", 4) != 0 && memcmp(bytes, "MM\0+", 4) != 0))
        return err_set(e, ERR_PARSE, "GeoTIFF: not a TIFF body");
    snprintf(name, sizeof name, "/vsimem/eefetch_decode_%lu.tif", (unsigned long)atomic_fetch_add(&seq, 1));
    /* GDAL only reads the buffer (the dataset is opened read-only). */
    mem = VSIFileFromMemBuffer(name, (GByte *)(uintptr_t)bytes, (vsi_l_offset)len, FALSE);
    if (!mem)
        return err_set(e, ERR_NOMEM, "GeoTIFF: cannot map the response");
    VSIFCloseL(mem);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALOpenEx(name, GDAL_OF_RASTER | GDAL_OF_READONLY, drivers, NULL, NULL);
    if (!ds) {
        rc = err_set(e, ERR_PARSE, "GeoTIFF: cannot open: %s", CPLGetLastErrorMsg());
        goto done;
    }
    if (GDALGetRasterXSize(ds) != x->width || GDALGetRasterYSize(ds) != x->height) {
        rc = err_set(e, ERR_PARSE, "GeoTIFF: %dx%d pixels, expected %ldx%ld", GDALGetRasterXSize(ds),
                     GDALGetRasterYSize(ds), x->width, x->height);
        goto done;
    }
    nb = GDALGetRasterCount(ds);
    if (nb != x->nbands) {
        rc = err_set(e, ERR_PARSE, "GeoTIFF: %d bands, expected %d", nb, x->nbands);
        goto done;
    }
    if (x->affine) {
        double gt[6];
        const double *a = x->affine;
        if (GDALGetGeoTransform(ds, gt) != CE_None) {
            rc = err_set(e, ERR_PARSE, "GeoTIFF: no geotransform");
            goto done;
        }
        /* GDAL order: translateX, scaleX, shearX, translateY, shearY, scaleY. */
        if (!same(gt[0], a[2], a[0]) || !same(gt[1], a[0], a[0]) || !same(gt[2], a[1], a[0]) ||
            !same(gt[3], a[5], a[4]) || !same(gt[4], a[3], a[4]) || !same(gt[5], a[4], a[4])) {
            rc = err_set(e, ERR_PARSE,
                         "GeoTIFF: geotransform (%.17g, %.17g, %.17g, %.17g) is not the tile's grid "
                         "(%.17g, %.17g, %.17g, %.17g)",
                         gt[0], gt[1], gt[3], gt[5], a[2], a[0], a[5], a[4]);
            goto done;
        }
    }
    types = calloc((size_t)nb, sizeof *types);
    if (!types) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    for (b = 0; b < nb; b++) {
        types[b] = band_type(GDALGetRasterBand(ds, b + 1));
        if (types[b] == SPEC_DTYPE_AUTO) {
            rc = err_set(e, ERR_PARSE, "GeoTIFF: band %d has an unsupported type %s", b + 1,
                         GDALGetDataTypeName(GDALGetRasterDataType(GDALGetRasterBand(ds, b + 1))));
            goto done;
        }
        if (x->types && x->types[b] != SPEC_DTYPE_AUTO && x->types[b] != types[b]) {
            rc = err_set(e, ERR_PARSE, "GeoTIFF: band %d is %s, expected %s", b + 1,
                         spec_dtype_name(types[b]), spec_dtype_name(x->types[b]));
            goto done;
        }
    }
    if ((rc = tile_alloc(out, x->width, x->height, nb, types, e)) < 0)
        goto done;
    for (b = 0; b < nb; b++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, b + 1);
        if (GDALRasterIO(band, GF_Read, 0, 0, (int)x->width, (int)x->height, out->bands[b].data,
                         (int)x->width, (int)x->height, pixtype_to_gdal(types[b]), 0, 0) != CE_None) {
            rc = err_set(e, ERR_PARSE, "GeoTIFF: band %d unreadable (truncated?): %s", b + 1,
                         CPLGetLastErrorMsg());
            goto done;
        }
    }
    rc = 0;
done:
    if (ds)
        GDALClose(ds);
    CPLPopErrorHandler();
    VSIUnlink(name);
    free(types);
    if (rc < 0)
        decoded_tile_free(out);
    return rc;
}
