/*
 * The decoder targets read their expectation from the first four bytes of the
 * input, so that the fuzzer explores shapes and type checks as well as the
 * body: [0] width-1 (mod 16), [1] height-1 (mod 16), [2] bands-1 (mod 4),
 * [3] flags: bit 0 checks band ids "b0".."b3", bit 1 checks the affine
 * {1,0,0,0,-1,0} (GeoTIFF), bits 4-7 a forced type for every band (mod 9,
 * 0 = any). The rest is the response body. make_seeds.py writes seeds in
 * this layout.
 */
#ifndef EEFETCH_FUZZ_TILE_H
#define EEFETCH_FUZZ_TILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/decode.h"

#define FUZZ_TILE_PREFIX 4

struct fuzz_tile_expect {
    struct decode_expect x;
    enum spec_dtype types[4];
    double affine[6];
};

static inline int fuzz_tile_expect_read(const uint8_t *data, size_t size, struct fuzz_tile_expect *t)
{
    static const char *const ids[4] = {"b0", "b1", "b2", "b3"};
    enum spec_dtype forced;

    if (size < FUZZ_TILE_PREFIX)
        return -1;
    t->x.width = 1 + data[0] % 16;
    t->x.height = 1 + data[1] % 16;
    t->x.nbands = 1 + data[2] % 4;
    t->x.band_ids = (data[3] & 1) ? ids : NULL;
    forced = (enum spec_dtype)((data[3] >> 4) % 9);
    for (int i = 0; i < 4; i++)
        t->types[i] = forced;
    t->x.types = forced != SPEC_DTYPE_AUTO ? t->types : NULL;
    t->affine[0] = 1;
    t->affine[1] = 0;
    t->affine[2] = 0;
    t->affine[3] = 0;
    t->affine[4] = -1;
    t->affine[5] = 0;
    t->x.affine = (data[3] & 2) ? t->affine : NULL;
    return 0;
}

/* Touches every decoded pixel, so that a tile whose buffers are shorter than
 * its shape claims is caught by ASan. */
static inline unsigned fuzz_tile_touch(const struct decoded_tile *t)
{
    static const size_t sizes[] = {0, 1, 1, 2, 2, 4, 4, 4, 8};
    unsigned sum = 0;

    for (int b = 0; b < t->nbands; b++) {
        const unsigned char *p = t->bands[b].data;
        size_t n = (size_t)t->width * (size_t)t->height * sizes[t->bands[b].type % 9];
        for (size_t i = 0; i < n; i++)
            sum += p[i];
    }
    return sum;
}

#endif
