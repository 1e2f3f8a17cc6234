/* Fuzz target: the NPY tile decoder (core/decode.h), expectation from the
 * input's first bytes (fuzz_tile.h). The same body also goes through the
 * streaming decoder in parts (of 1 to 23 bytes, from the input's size): it
 * must reach the same outcome with the same message, else abort. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "fuzz_tile.h"

volatile unsigned long fuzz_sink;

struct stream_sink {
    struct decode_npy_stream *st;
    const struct decode_npy_layout *l;
    double scratch[64];
};

static int on_header(void *ud, const struct decode_npy_layout *l, struct errbuf *e)
{
    struct stream_sink *s = ud;

    (void)e;
    s->l = l;
    return 0;
}

/* Every band of every record is taken out, so that records shorter than
 * the layout claims are caught by ASan. */
static int on_records(void *ud, const void *recs, size_t first, size_t n, struct errbuf *e)
{
    struct stream_sink *s = ud;
    const unsigned char *r = recs;
    int b;

    (void)e;
    (void)first;
    while (n > 0) {
        size_t k = n < 64 ? n : 64;
        for (b = 0; b < s->l->nbands; b++) {
            decode_npy_stream_band(s->st, r, k, b, s->scratch);
            fuzz_sink += *(const unsigned char *)s->scratch;
        }
        r += k * s->l->rec;
        n -= k;
    }
    return 0;
}

static int stream(const uint8_t *body, size_t len, const struct decode_expect *x, size_t part, struct errbuf *e)
{
    struct stream_sink s;
    struct decode_npy_sink sink = {on_header, on_records, &s};
    size_t off = 0;
    int rc = 0;

    memset(&s, 0, sizeof s);
    if (decode_npy_stream_create(&s.st) != 0)
        abort();
    decode_npy_stream_begin(s.st, x, &sink);
    while (off < len && rc == 0) {
        size_t k = part < len - off ? part : len - off;
        rc = decode_npy_stream_feed(s.st, body + off, k, e);
        off += k;
    }
    if (rc == 0)
        rc = decode_npy_stream_end(s.st, e);
    decode_npy_stream_free(s.st);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_tile_expect t;
    struct decoded_tile tile;
    struct errbuf e, es;
    int rc, rs;

    if (fuzz_tile_expect_read(data, size, &t) != 0)
        return 0;
    rc = decode_npy(data + FUZZ_TILE_PREFIX, size - FUZZ_TILE_PREFIX, &t.x, &tile, &e);
    if (rc == 0) {
        fuzz_sink = fuzz_tile_touch(&tile);
        decoded_tile_free(&tile);
    }
    rs = stream(data + FUZZ_TILE_PREFIX, size - FUZZ_TILE_PREFIX, &t.x, 1 + size % 23, &es);
    if (rs != rc || (rc < 0 && strcmp(e.msg, es.msg) != 0))
        abort();
    return 0;
}
