/*
 * NPY and GeoTIFF decoding. Fixtures come from numpy and GDAL's Python
 * bindings (fixtures_decode.py, an independent writer); their values are
 * recomputed here with the same formula. Every truncation of a valid body,
 * trailing bytes, and mismatched shape/names/types must be rejected.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gdal.h>

#include "../unit/check.h"
#include "core/decode.h"
#include "util/buf.h"

#define W 7
#define H 5

static double val(int b, long x, long y, char kind)
{
    double v = (double)((x * 7 + y * 13 + b * 31) % 100);
    if (kind == 'i')
        v -= 50;
    if (kind == 'f')
        v += 0.25;
    return v;
}

static double get(const struct decoded_band *band, size_t i)
{
    switch (band->type) {
    case SPEC_DTYPE_UINT8: return ((const uint8_t *)band->data)[i];
    case SPEC_DTYPE_INT8: return ((const int8_t *)band->data)[i];
    case SPEC_DTYPE_UINT16: return ((const uint16_t *)band->data)[i];
    case SPEC_DTYPE_INT16: return ((const int16_t *)band->data)[i];
    case SPEC_DTYPE_UINT32: return ((const uint32_t *)band->data)[i];
    case SPEC_DTYPE_INT32: return ((const int32_t *)band->data)[i];
    case SPEC_DTYPE_FLOAT32: return ((const float *)band->data)[i];
    case SPEC_DTYPE_FLOAT64: return ((const double *)band->data)[i];
    default: return -9999;
    }
}

static char kind_of(enum spec_dtype t)
{
    switch (t) {
    case SPEC_DTYPE_INT8:
    case SPEC_DTYPE_INT16:
    case SPEC_DTYPE_INT32: return 'i';
    case SPEC_DTYPE_FLOAT32:
    case SPEC_DTYPE_FLOAT64: return 'f';
    default: return 'u';
    }
}

static int values_ok(const struct decoded_tile *t)
{
    int b;
    long x, y;

    for (b = 0; b < t->nbands; b++)
        for (y = 0; y < H; y++)
            for (x = 0; x < W; x++)
                if (get(&t->bands[b], (size_t)(y * W + x)) != val(b, x, y, kind_of(t->bands[b].type)))
                    return 0;
    return 1;
}

static char dir[256];

static int load(const char *name, struct buf *b)
{
    char path[512];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    buf_init(b, 0);
    return buf_read_file(b, path);
}

static const char *const mixed_ids[] = {"B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8"};
static const enum spec_dtype mixed_types[] = {SPEC_DTYPE_UINT8,   SPEC_DTYPE_INT16,  SPEC_DTYPE_FLOAT32,
                                              SPEC_DTYPE_FLOAT64, SPEC_DTYPE_INT8,   SPEC_DTYPE_UINT32,
                                              SPEC_DTYPE_UINT16,  SPEC_DTYPE_INT32};

static void test_npy_valid(void)
{
    struct decode_expect x = {W, H, 8, mixed_ids, mixed_types, NULL};
    struct decoded_tile t;
    struct errbuf e;
    struct buf b;
    const char *files[] = {"mixed.npy", "mixed_v2.npy"};
    size_t k;

    for (k = 0; k < 2; k++) {
        CHECK(load(files[k], &b) == 0);
        CHECK(decode_npy(b.data, b.len, &x, &t, &e) == 0);
        CHECK(t.nbands == 8 && t.width == W && t.height == H);
        CHECK(values_ok(&t));
        decoded_tile_free(&t);
        /* Types unknown in advance: taken from the body. */
        x.types = NULL;
        CHECK(decode_npy(b.data, b.len, &x, &t, &e) == 0);
        CHECK(t.nbands == 8 && t.bands[3].type == SPEC_DTYPE_FLOAT64 && values_ok(&t));
        decoded_tile_free(&t);
        x.types = mixed_types;
        buf_free(&b);
    }

    {
        const char *ids[] = {"B1", "B2"};
        struct decode_expect xb = {W, H, 2, ids, NULL, NULL};
        CHECK(load("bigendian.npy", &b) == 0);
        CHECK(decode_npy(b.data, b.len, &xb, &t, &e) == 0);
        CHECK(t.bands[0].type == SPEC_DTYPE_UINT16 && t.bands[1].type == SPEC_DTYPE_FLOAT64);
        CHECK(values_ok(&t));
        decoded_tile_free(&t);
        buf_free(&b);
    }
    {
        struct decode_expect xs = {W, H, 1, NULL, NULL, NULL};
        CHECK(load("simple.npy", &b) == 0);
        CHECK(decode_npy(b.data, b.len, &xs, &t, &e) == 0);
        CHECK(t.bands[0].type == SPEC_DTYPE_FLOAT32 && values_ok(&t));
        decoded_tile_free(&t);
        buf_free(&b);
    }
}

static void test_npy_invalid(void)
{
    struct decode_expect x = {W, H, 8, mixed_ids, mixed_types, NULL};
    struct decoded_tile t;
    struct errbuf e;
    struct buf b;
    size_t n, bad = 0;
    char *copy;

    CHECK(load("mixed.npy", &b) == 0);
    /* Every truncation is an error (ERR_PARSE), never a partial tile. */
    for (n = 0; n < b.len; n++)
        if (decode_npy(b.data, n, &x, &t, &e) != ERR_PARSE)
            bad++;
    CHECK(bad == 0);
    /* One trailing byte too many. */
    copy = malloc(b.len + 1);
    CHECK(copy != NULL);
    if (copy) {
        memcpy(copy, b.data, b.len);
        copy[b.len] = 0;
        CHECK(decode_npy(copy, b.len + 1, &x, &t, &e) == ERR_PARSE);
        CHECK(strstr(e.msg, "trailing") != NULL);
        /* Corrupt each header byte in turn: must never crash (ASan watches);
         * a decode that still succeeds must have the right values. */
        for (n = 0; n < 128 && n < b.len; n++) {
            int rc;
            memcpy(copy, b.data, b.len);
            copy[n] = copy[n] == 'X' ? 'Y' : 'X';
            rc = decode_npy(copy, b.len, &x, &t, &e);
            if (rc == 0) {
                CHECK(values_ok(&t));
                decoded_tile_free(&t);
            }
        }
        free(copy);
    }
    /* Wrong expectations. */
    x.width = W + 1;
    CHECK(decode_npy(b.data, b.len, &x, &t, &e) == ERR_PARSE && strstr(e.msg, "shape"));
    x.width = W;
    x.nbands = 7;
    CHECK(decode_npy(b.data, b.len, &x, &t, &e) == ERR_PARSE);
    x.nbands = 8;
    {
        const char *ids[] = {"B1", "B2", "B3", "B4", "B5", "B6", "B8", "B7"};
        x.band_ids = ids;
        CHECK(decode_npy(b.data, b.len, &x, &t, &e) == ERR_PARSE && strstr(e.msg, "expected band"));
        x.band_ids = mixed_ids;
    }
    {
        enum spec_dtype ty[8];
        memcpy(ty, mixed_types, sizeof ty);
        ty[1] = SPEC_DTYPE_UINT16;
        x.types = ty;
        CHECK(decode_npy(b.data, b.len, &x, &t, &e) == ERR_PARSE);
        x.types = mixed_types;
    }
    buf_free(&b);
}

/* Hand-built bodies: the preamble and header are written byte by byte. */
static size_t build_npy(unsigned char *out, size_t cap, int major, const char *hdr, size_t data_len)
{
    size_t hl = strlen(hdr), off = major == 1 ? 10 : 12, i;

    if (off + hl + data_len > cap)
        return 0;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    out[8] = (unsigned char)(hl & 0xff);
    out[9] = (unsigned char)(hl >> 8);
    if (major != 1) {
        out[10] = (unsigned char)(hl >> 16);
        out[11] = (unsigned char)(hl >> 24);
    }
    memcpy(out + off, hdr, hl);
    for (i = 0; i < data_len; i++)
        out[off + hl + i] = (unsigned char)i;
    return off + hl + data_len;
}

static void test_npy_handmade(void)
{
    unsigned char body[1024];
    const char *ids[] = {"a", "b"};
    struct decode_expect x = {3, 2, 2, ids, NULL, NULL};
    struct decoded_tile t;
    struct errbuf e;
    size_t n;

    n = build_npy(body, sizeof body, 1,
                  "{'descr': [('a', '|u1'), ('b', '<u2')], 'fortran_order': False, 'shape': (2, 3), }\n",
                  18);
    CHECK(decode_npy(body, n, &x, &t, &e) == 0);
    if (t.nbands == 2) {
        /* Records are 3 bytes: a=byte 0, b=bytes 1..2 little-endian. */
        CHECK(((uint8_t *)t.bands[0].data)[1] == 3);
        CHECK(((uint16_t *)t.bands[1].data)[1] == (uint16_t)(4 | 5 << 8));
    }
    decoded_tile_free(&t);
    /* Double-quoted strings and no trailing comma are still Python literals. */
    n = build_npy(body, sizeof body, 2,
                  "{\"descr\": [(\"a\", \"|u1\"), (\"b\", \"<u2\")], \"fortran_order\": False, \"shape\": (2, 3)}",
                  18);
    CHECK(decode_npy(body, n, &x, &t, &e) == 0);
    decoded_tile_free(&t);

    n = build_npy(body, sizeof body, 1,
                  "{'descr': [('a', '|u1'), ('b', '<u2')], 'fortran_order': True, 'shape': (2, 3), }", 18);
    CHECK(decode_npy(body, n, &x, &t, &e) == ERR_PARSE);
    n = build_npy(body, sizeof body, 1,
                  "{'descr': [('a', '|u1'), ('b', '<i8')], 'fortran_order': False, 'shape': (2, 3), }", 27);
    CHECK(decode_npy(body, n, &x, &t, &e) == ERR_PARSE);
    n = build_npy(body, sizeof body, 1,
                  "{'descr': [('a', '|u1', (2,)), ('b', '<u2')], 'fortran_order': False, 'shape': (2, 3), }",
                  30);
    CHECK(decode_npy(body, n, &x, &t, &e) == ERR_PARSE);
    n = build_npy(body, sizeof body, 1, "{'descr': [('a', '|u1'), ('b', '<u2')], 'shape': (2, 3), }", 18);
    CHECK(decode_npy(body, n, &x, &t, &e) == ERR_PARSE);
    n = build_npy(body, sizeof body, 1,
                  "{'descr': [('a', '|u1'), ('b', '<u2')], 'fortran_order': False, 'shape': (2, 3, 1), }",
                  18);
    CHECK(decode_npy(body, n, &x, &t, &e) == ERR_PARSE);
    n = build_npy(body, sizeof body, 1,
                  "{'descr': [('a', '|u1'), ('b', '<u2')], 'fortran_order': False, 'shape': (2, 3), "
                  "'extra': 1}",
                  18);
    CHECK(decode_npy(body, n, &x, &t, &e) == ERR_PARSE);
    n = build_npy(body, sizeof body, 4, "{}", 0);
    CHECK(decode_npy(body, n, &x, &t, &e) == ERR_PARSE);
    /* A header length pointing past the body. */
    n = build_npy(body, sizeof body, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", 6);
    body[9] = 0x7f;
    CHECK(decode_npy(body, n, &x, &t, &e) == ERR_PARSE);
    CHECK(decode_npy("", 0, &x, &t, &e) == ERR_PARSE);
}

static void test_geotiff(void)
{
    double aff[6] = {30, 0, 500000, 0, -30, 4200000};
    enum spec_dtype ty[3] = {SPEC_DTYPE_INT16, SPEC_DTYPE_INT16, SPEC_DTYPE_INT16};
    struct decode_expect x = {W, H, 3, NULL, ty, aff};
    struct decoded_tile t;
    struct errbuf e;
    struct buf b;
    size_t n, bad = 0;

    CHECK(load("tile.tif", &b) == 0);
    CHECK(decode_geotiff(b.data, b.len, &x, &t, &e) == 0);
    CHECK(t.nbands == 3 && t.bands[0].type == SPEC_DTYPE_INT16 && values_ok(&t));
    decoded_tile_free(&t);
    /* The grid must be the tile's: one pixel off is rejected. */
    aff[2] += 30;
    CHECK(decode_geotiff(b.data, b.len, &x, &t, &e) == ERR_PARSE && strstr(e.msg, "geotransform"));
    aff[2] -= 30;
    x.height = H - 1;
    CHECK(decode_geotiff(b.data, b.len, &x, &t, &e) == ERR_PARSE);
    x.height = H;
    x.nbands = 2;
    CHECK(decode_geotiff(b.data, b.len, &x, &t, &e) == ERR_PARSE);
    x.nbands = 3;
    ty[2] = SPEC_DTYPE_UINT16;
    CHECK(decode_geotiff(b.data, b.len, &x, &t, &e) == ERR_PARSE);
    ty[2] = SPEC_DTYPE_INT16;
    /* Truncated bodies never decode. */
    for (n = 0; n < b.len; n += 7)
        if (decode_geotiff(b.data, n, &x, &t, &e) != ERR_PARSE)
            bad++;
    if (decode_geotiff(b.data, b.len - 1, &x, &t, &e) != ERR_PARSE)
        bad++;
    CHECK(bad == 0);
    buf_free(&b);
}

/* Random byte mutations of valid bodies (a deterministic generator): the
 * decoders must return an error or a tile, never crash or read out of
 * bounds (the sanitizer build checks). A cheap stand-in until the decoders
 * get a libFuzzer harness. */
static void test_mutations(void)
{
    static const char *const files[] = {"mixed.npy", "tile.tif"};
    const char *ids[8] = {"B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8"};
    uint64_t r = 0x9e3779b97f4a7c15ULL;
    size_t k;
    int i, ok = 0;

    for (k = 0; k < 2; k++) {
        struct decode_expect x = {W, H, k == 0 ? 8 : 3, k == 0 ? ids : NULL, NULL, NULL};
        struct buf b;
        char *copy;
        CHECK(load(files[k], &b) == 0);
        copy = malloc(b.len);
        if (!copy) {
            buf_free(&b);
            continue;
        }
        for (i = 0; i < (k == 0 ? 3000 : 300); i++) {
            struct decoded_tile t;
            struct errbuf e;
            size_t len = b.len, n, m;
            memcpy(copy, b.data, b.len);
            n = 1 + (size_t)(r % 4);
            for (m = 0; m < n; m++) {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                copy[r % b.len] = (char)(r >> 32);
            }
            if (r % 5 == 0)
                len = (size_t)(r >> 40) % b.len;   /* and sometimes a truncation */
            if ((k == 0 ? decode_npy(copy, len, &x, &t, &e) : decode_geotiff(copy, len, &x, &t, &e)) == 0) {
                ok++;
                decoded_tile_free(&t);
            }
        }
        free(copy);
        buf_free(&b);
    }
    CHECK(ok >= 0);
}

/* ---- NPY decoded as it arrives ---- */

/* What the stream's sink saw: planes of each band's own type, filled from
 * the records it was given (which must come in order, each once). */
struct collected {
    struct decoded_tile t;
    struct decoded_band bands[8];
    unsigned char *planes[8];
    int headers;
    size_t next;          /* the record the next call must start at */
    int out_of_order;
    struct decode_npy_stream *st;
};

static int on_header(void *ud, const struct decode_npy_layout *l, struct errbuf *e)
{
    struct collected *c = ud;
    int b;

    (void)e;
    c->headers++;
    if (l->nbands > 8)
        return ERR_PARSE;
    c->t.width = W;
    c->t.height = H;
    c->t.nbands = l->nbands;
    c->t.bands = c->bands;
    for (b = 0; b < l->nbands; b++) {
        c->planes[b] = calloc(l->npx, 8);
        c->bands[b].type = l->types[b];
        c->bands[b].data = c->planes[b];
        if (!c->planes[b])
            return ERR_NOMEM;
    }
    return 0;
}

static int on_records(void *ud, const void *recs, size_t first, size_t n, struct errbuf *e)
{
    struct collected *c = ud;
    int b;

    (void)e;
    if (first != c->next || n == 0)
        c->out_of_order = 1;
    c->next = first + n;
    for (b = 0; b < c->t.nbands; b++)
        decode_npy_stream_band(c->st, recs, n, b, c->planes[b] + first * spec_dtype_size(c->bands[b].type));
    return 0;
}

static void collected_free(struct collected *c)
{
    int b;

    for (b = 0; b < 8; b++)
        free(c->planes[b]);
    memset(c, 0, sizeof *c);
}

/* Feeds body[0, len) in parts of `step` bytes (0: parts of 1 to 40 bytes
 * from a generator), then ends the body. */
static int stream_all(struct decode_npy_stream *st, struct collected *c, const void *body, size_t len,
                      const struct decode_expect *x, size_t step, struct errbuf *e)
{
    struct decode_npy_sink sink = {on_header, on_records, c};
    const unsigned char *p = body;
    uint32_t r = 12345;
    size_t off = 0;
    int rc;

    memset(c, 0, sizeof *c);
    c->st = st;
    decode_npy_stream_begin(st, x, &sink);
    while (off < len) {
        size_t k = step;
        if (!k) {
            r = r * 1103515245u + 12345u;
            k = 1 + (r >> 16) % 40;
        }
        if (k > len - off)
            k = len - off;
        if ((rc = decode_npy_stream_feed(st, p + off, k, e)) < 0)
            return rc;
        off += k;
    }
    return decode_npy_stream_end(st, e);
}

static void test_npy_stream(void)
{
    static const size_t steps[] = {1, 2, 3, 7, 13, 0, 1u << 20};
    struct decode_expect x = {W, H, 8, mixed_ids, NULL, NULL};
    const char *ids2[] = {"B1", "B2"};
    struct decode_expect xb = {W, H, 2, ids2, NULL, NULL};
    struct decode_expect xs = {W, H, 1, NULL, NULL, NULL};
    struct {
        const char *file;
        const struct decode_expect *x;
    } cases[] = {{"mixed.npy", &x}, {"mixed_v2.npy", &x}, {"bigendian.npy", &xb}, {"simple.npy", &xs}};
    struct decode_npy_stream *st;
    struct collected c;
    struct decoded_tile t;
    struct errbuf e, e2;
    size_t k, s, n, bad = 0;
    struct buf b;
    char *copy;

    CHECK(decode_npy_stream_create(&st) == 0);
    if (!st)
        return;
    /* Any split of a valid body gives decode_npy's values, every record
     * once and in order, the header once. One stream serves them all. */
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        CHECK(load(cases[k].file, &b) == 0);
        for (s = 0; s < sizeof steps / sizeof steps[0]; s++) {
            int rc = stream_all(st, &c, b.data, b.len, cases[k].x, steps[s], &e);
            CHECK(rc == 0);
            if (rc != 0)
                fprintf(stderr, "%s in parts of %zu: %s\n", cases[k].file, steps[s], e.msg);
            CHECK(c.headers == 1 && !c.out_of_order && c.next == (size_t)W * H);
            CHECK(c.t.nbands == cases[k].x->nbands && values_ok(&c.t));
            CHECK(decode_npy_stream_layout(st) && decode_npy_stream_layout(st)->uniform == (k == 3));
            collected_free(&c);
        }
        buf_free(&b);
    }

    /* Every truncation, trailing bytes, and corrupted header bytes: the
     * same outcome and message as decode_npy on the whole body. */
    CHECK(load("mixed.npy", &b) == 0);
    for (n = 0; n < b.len; n++) {
        int rc = stream_all(st, &c, b.data, n, &x, n % 5 + 1, &e);
        int rw = decode_npy(b.data, n, &x, &t, &e2);
        if (rc != ERR_PARSE || rw != ERR_PARSE || strcmp(e.msg, e2.msg) != 0) {
            if (bad++ == 0)
                fprintf(stderr, "cut at %zu: stream %d '%s', whole %d '%s'\n", n, rc, e.msg, rw, e2.msg);
        }
        collected_free(&c);
    }
    CHECK(bad == 0);
    copy = malloc(b.len + 16);
    CHECK(copy != NULL);
    if (copy) {
        memcpy(copy, b.data, b.len);
        memset(copy + b.len, 0, 16);
        CHECK(stream_all(st, &c, copy, b.len + 16, &x, 3, &e) == ERR_PARSE);
        CHECK(decode_npy(copy, b.len + 16, &x, &t, &e2) == ERR_PARSE && strcmp(e.msg, e2.msg) == 0);
        CHECK(strstr(e.msg, "trailing") != NULL && c.next == (size_t)W * H);
        collected_free(&c);
        bad = 0;
        for (n = 0; n < 128 && n < b.len; n++) {
            int rc, rw;
            memcpy(copy, b.data, b.len);
            copy[n] = copy[n] == 'X' ? 'Y' : 'X';
            rc = stream_all(st, &c, copy, b.len, &x, 0, &e);
            rw = decode_npy(copy, b.len, &x, &t, &e2);
            if (rc != rw || (rc < 0 && strcmp(e.msg, e2.msg) != 0) || (rc == 0 && !values_ok(&c.t)))
                bad++;
            if (rw == 0)
                decoded_tile_free(&t);
            collected_free(&c);
        }
        CHECK(bad == 0);
        free(copy);
    }
    /* A wrong expectation is told as soon as the header is in: no record
     * reaches the sink, and later parts get the same error. */
    x.width = W + 1;
    {
        struct decode_npy_sink sink = {on_header, on_records, &c};
        size_t hdr = 10 + ((unsigned char)b.data[8] | (unsigned char)b.data[9] << 8);
        memset(&c, 0, sizeof c);
        c.st = st;
        decode_npy_stream_begin(st, &x, &sink);
        CHECK(decode_npy_stream_feed(st, b.data, hdr, &e) == ERR_PARSE && strstr(e.msg, "shape"));
        CHECK(decode_npy_stream_feed(st, b.data + hdr, b.len - hdr, &e) == ERR_PARSE && strstr(e.msg, "shape"));
        CHECK(decode_npy_stream_end(st, &e) == ERR_PARSE && strstr(e.msg, "shape"));
        CHECK(c.headers == 0 && c.next == 0);
        collected_free(&c);
    }
    x.width = W;
    buf_free(&b);
    decode_npy_stream_free(st);
}

int main(void)
{
    char cmd[1024];
    const char *src = getenv("EEFETCH_SRC");

    GDALAllRegister();
    snprintf(dir, sizeof dir, "/tmp/eefetch_decode_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/engine/fixtures_decode.py %s", src ? src : ".", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "fixture generation failed: %s\n", cmd);
        return 1;
    }
    test_npy_valid();
    test_npy_invalid();
    test_npy_handmade();
    test_npy_stream();
    test_geotiff();
    test_mutations();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_DONE();
}
