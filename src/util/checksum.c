/* XXH64 (see checksum.h). */
#include "util/checksum.h"

#include <string.h>

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* Little-endian loads: the checksum of a stored file must not depend on
 * the host (memcpy compiles to one load). */
static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint32_t load32(const unsigned char *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t round64(uint64_t acc, uint64_t in)
{
    acc += in * P2;
    acc = rotl(acc, 31);
    return acc * P1;
}

static inline uint64_t merge64(uint64_t h, uint64_t v)
{
    h ^= round64(0, v);
    return h * P1 + P4;
}

struct lanes {
    uint64_t v[4];
};

static void lanes_init(struct lanes *l, uint64_t seed)
{
    l->v[0] = seed + P1 + P2;
    l->v[1] = seed + P2;
    l->v[2] = seed;
    l->v[3] = seed - P1;
}

/* The lanes' state after the stripes, the tail p[0, rest) and the length. */
static uint64_t finish(const struct lanes *l, int striped, uint64_t seed, const unsigned char *p, size_t rest,
                       size_t n)
{
    uint64_t h;

    if (striped) {
        h = rotl(l->v[0], 1) + rotl(l->v[1], 7) + rotl(l->v[2], 12) + rotl(l->v[3], 18);
        h = merge64(h, l->v[0]);
        h = merge64(h, l->v[1]);
        h = merge64(h, l->v[2]);
        h = merge64(h, l->v[3]);
    } else {
        h = seed + P5;
    }
    h += (uint64_t)n;
    for (; rest >= 8; p += 8, rest -= 8) {
        h ^= round64(0, load64(p));
        h = rotl(h, 27) * P1 + P4;
    }
    if (rest >= 4) {
        h ^= (uint64_t)load32(p) * P1;
        h = rotl(h, 23) * P2 + P3;
        p += 4;
        rest -= 4;
    }
    for (; rest > 0; p++, rest--) {
        h ^= (uint64_t)*p * P5;
        h = rotl(h, 11) * P1;
    }
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

uint64_t checksum64(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    size_t left = n;
    struct lanes l;

    lanes_init(&l, seed);
    for (; left >= 32; p += 32, left -= 32) {
        l.v[0] = round64(l.v[0], load64(p));
        l.v[1] = round64(l.v[1], load64(p + 8));
        l.v[2] = round64(l.v[2], load64(p + 16));
        l.v[3] = round64(l.v[3], load64(p + 24));
    }
    return finish(&l, n >= 32, seed, p, left, n);
}

uint64_t checksum64_move(void *dst, const void *src, size_t n, uint64_t seed)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    size_t left = n;
    struct lanes l;

    if (d > s && d < s + n) {
        /* Would overwrite bytes not yet read: two passes. */
        memmove(d, s, n);
        return checksum64(d, n, seed);
    }
    lanes_init(&l, seed);
    /* Each stripe is read whole before it is written, so a destination
     * below the source never clobbers bytes still to be read. */
    for (; left >= 32; d += 32, s += 32, left -= 32) {
        unsigned char w[32];
        memcpy(w, s, 32);
        memcpy(d, w, 32);
        l.v[0] = round64(l.v[0], load64(w));
        l.v[1] = round64(l.v[1], load64(w + 8));
        l.v[2] = round64(l.v[2], load64(w + 16));
        l.v[3] = round64(l.v[3], load64(w + 24));
    }
    if (left && d != s)
        memmove(d, s, left);
    return finish(&l, n >= 32, seed, d, left, n);
}
