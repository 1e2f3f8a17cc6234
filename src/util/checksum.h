/*
 * A fast 64-bit checksum of a byte range: XXH64 (Yann Collet's published
 * algorithm, written here from its specification). It detects damage to
 * stored data (flipped bits, torn or truncated writes), not tampering; at
 * several GB/s per core it costs a small fraction of the time the bytes
 * take to arrive.
 */
#ifndef EEFETCH_UTIL_CHECKSUM_H
#define EEFETCH_UTIL_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* XXH64 of p[0, n) with seed. */
uint64_t checksum64(const void *p, size_t n, uint64_t seed);

/* Moves src[0, n) to dst (dst <= src when they overlap, like a forward
 * memmove) and returns checksum64(dst, n, seed), in one pass over the
 * bytes instead of two. */
uint64_t checksum64_move(void *dst, const void *src, size_t n, uint64_t seed);

#endif
