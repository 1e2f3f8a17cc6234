/* CRC-32C (see crc32c.h): slicing-by-8 over tables built once. */
#include "util/crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82F63B78u

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_build(void)
{
    uint32_t i, c;
    int k, s;

    for (i = 0; i < 256; i++) {
        c = i;
        for (k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][i] = c;
    }
    /* table[s][i]: the CRC of byte i followed by s zero bytes, so eight
     * bytes can be folded with eight independent lookups. */
    for (i = 0; i < 256; i++)
        for (s = 1; s < 8; s++)
            table[s][i] = (table[s - 1][i] >> 8) ^ table[0][table[s - 1][i] & 0xFF];
}

uint32_t crc32c_update(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *b = p;
    uint32_t c = ~crc;

    pthread_once(&table_once, table_build);
    while (n >= 8) {
        /* Byte order is explicit, so the result does not depend on the host. */
        uint32_t lo = c ^ ((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                           (uint32_t)b[3] << 24);
        uint32_t hi = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 |
                      (uint32_t)b[7] << 24;
        c = table[7][lo & 0xFF] ^ table[6][(lo >> 8) & 0xFF] ^ table[5][(lo >> 16) & 0xFF] ^
            table[4][lo >> 24] ^ table[3][hi & 0xFF] ^ table[2][(hi >> 8) & 0xFF] ^
            table[1][(hi >> 16) & 0xFF] ^ table[0][hi >> 24];
        b += 8;
        n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ table[0][(c ^ *b++) & 0xFF];
    return ~c;
}

uint32_t crc32c(const void *p, size_t n)
{
    return crc32c_update(0, p, n);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void crc32c_base64(uint32_t crc, char out[9])
{
    unsigned char v[4] = {(unsigned char)(crc >> 24), (unsigned char)(crc >> 16),
                          (unsigned char)(crc >> 8), (unsigned char)crc};

    out[0] = b64[v[0] >> 2];
    out[1] = b64[((v[0] & 3) << 4) | (v[1] >> 4)];
    out[2] = b64[((v[1] & 15) << 2) | (v[2] >> 6)];
    out[3] = b64[v[2] & 63];
    out[4] = b64[v[3] >> 2];
    out[5] = b64[(v[3] & 3) << 4];
    out[6] = '=';
    out[7] = '=';
    out[8] = '\0';
}

int crc32c_from_base64(const char *s, uint32_t *crc)
{
    uint32_t bits = 0;
    int i;

    if (!s || strlen(s) != 8 || s[6] != '=' || s[7] != '=')
        return -1;
    for (i = 0; i < 6; i++) {
        const char *q = s[i] ? strchr(b64, s[i]) : NULL;
        if (!q)
            return -1;
        /* 6 characters carry 36 bits: 32 of the CRC and 4 that must be 0. */
        if (i == 5) {
            if ((q - b64) & 15)
                return -1;
            bits = bits << 2 | (uint32_t)(q - b64) >> 4;
        } else {
            bits = bits << 6 | (uint32_t)(q - b64);
        }
    }
    *crc = bits;
    return 0;
}
