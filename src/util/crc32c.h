/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum
 * Cloud Storage keeps for every object and sends in `x-goog-hash:
 * crc32c=...` and the JSON API's `crc32c` field: base64 of the four
 * big-endian bytes of the CRC. Used by the emulator's storage server and
 * by the client to verify downloaded objects.
 */
#ifndef EEFETCH_UTIL_CRC32C_H
#define EEFETCH_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC over p[0, n): start with crc = 0, feed pieces in order;
 * the result after the last piece is the CRC of the whole. Thread-safe. */
uint32_t crc32c_update(uint32_t crc, const void *p, size_t n);

/* CRC-32C of p[0, n). crc32c("123456789", 9) == 0xE3069283. */
uint32_t crc32c(const void *p, size_t n);

/* Writes Cloud Storage's form of crc (base64 of its big-endian bytes,
 * 8 characters with padding, e.g. "4waSgw==") and a NUL into out. */
void crc32c_base64(uint32_t crc, char out[9]);

/* Parses the form crc32c_base64 writes. Returns 0, or -1 when s is not
 * 8 base64 characters encoding four bytes. */
int crc32c_from_base64(const char *s, uint32_t *crc);

#endif
