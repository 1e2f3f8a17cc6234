/* util/crc32c: the Castagnoli CRC against published vectors and a bitwise
 * reference, incremental use, and the base64 form Cloud Storage sends. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "util/crc32c.h"

/* One bit at a time, straight from the definition: independent of the
 * table code it checks. */
static uint32_t crc_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    int k;

    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    }
    return ~c;
}

int main(void)
{
    unsigned char buf[1000], zeros[32], ones[32];
    char b64[9];
    uint32_t v = 0;
    size_t i, cut;
    int ok = 1;

    CHECK(crc32c("123456789", 9) == 0xE3069283u);
    CHECK(crc32c("", 0) == 0);
    /* RFC 3720 (iSCSI) appendix B.4 vectors. */
    memset(zeros, 0, sizeof zeros);
    memset(ones, 0xFF, sizeof ones);
    CHECK(crc32c(zeros, 32) == 0x8A9136AAu);
    CHECK(crc32c(ones, 32) == 0x62A8AB43u);
    for (i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 37 + (i >> 3));
    for (i = 0; i < sizeof buf; i += 7)
        ok &= crc32c(buf + (i % 5), sizeof buf - i - (i % 5)) ==
              crc_bitwise(buf + (i % 5), sizeof buf - i - (i % 5));
    CHECK(ok);
    /* Pieces in order give the CRC of the whole, whatever the cuts. */
    for (cut = 0; cut <= 64; cut++)
        ok &= crc32c_update(crc32c(buf, cut), buf + cut, sizeof buf - cut) ==
              crc32c(buf, sizeof buf);
    CHECK(ok);

    /* Cloud Storage's form: base64 of the big-endian bytes. */
    crc32c_base64(0xE3069283u, b64);
    CHECK_STR(b64, "4waSgw==");
    crc32c_base64(0, b64);
    CHECK_STR(b64, "AAAAAA==");
    CHECK(crc32c_from_base64("4waSgw==", &v) == 0 && v == 0xE3069283u);
    for (i = 0; i < 200; i++) {
        uint32_t x = (uint32_t)(i * 2654435761u), y = 0;
        crc32c_base64(x, b64);
        ok &= crc32c_from_base64(b64, &y) == 0 && y == x;
    }
    CHECK(ok);
    CHECK(crc32c_from_base64("4waSgw=", &v) == -1);
    CHECK(crc32c_from_base64("4wa*gw==", &v) == -1);
    CHECK(crc32c_from_base64("4waSgx==", &v) == -1);
    CHECK(crc32c_from_base64(NULL, &v) == -1);
    return CHECK_DONE();
}
