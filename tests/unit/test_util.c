/* util/: bounded buffers, redaction, time conversion. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "util/buf.h"
#include "util/checksum.h"
#include "util/path.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"

static void test_buf(void)
{
    struct buf b;
    buf_init(&b, 16);
    CHECK(buf_append_str(&b, "hello ") == 0);
    CHECK(buf_printf(&b, "%d", 42) == 0);
    CHECK_STR(b.data, "hello 42");
    /* The bound holds and a failed append leaves the buffer unchanged. */
    CHECK(buf_append_str(&b, "0123456789") == ERR_LIMIT);
    CHECK_STR(b.data, "hello 42");
    CHECK(b.len == 8);
    buf_free(&b);
}

/* Aligned storage: every growth keeps the content, the alignment and a
 * capacity that is a whole number of blocks (direct I/O writes it). */
static void test_buf_aligned(void)
{
    struct buf b;
    char chunk[5000];
    size_t i;
    int ok = 1;

    memset(chunk, 'x', sizeof chunk);
    buf_init_aligned(&b, 0);
    for (i = 0; i < 40; i++) {
        chunk[0] = (char)('a' + i % 26);
        CHECK(buf_append(&b, chunk, sizeof chunk) == 0);
        ok &= (uintptr_t)b.data % BUF_ALIGN == 0 && b.cap % BUF_ALIGN == 0 && b.cap > b.len;
    }
    CHECK(ok);
    CHECK(b.len == 40 * sizeof chunk);
    for (i = 0; i < 40; i++)
        ok &= b.data[i * sizeof chunk] == (char)('a' + i % 26) && b.data[i * sizeof chunk + 1] == 'x';
    CHECK(ok);
    CHECK(b.data[b.len] == '\0');
    buf_reset(&b);
    CHECK(b.align && b.len == 0 && b.cap > 0);
    buf_free(&b);
}

static void test_redact(void)
{
    char s[256];
    log_add_secret("ya29.supersecrettoken");
    snprintf(s, sizeof s, "token ya29.supersecrettoken expired");
    log_redact(s, sizeof s);
    CHECK_STR(s, "token [redacted] expired");
    snprintf(s, sizeof s, "Authorization: Bearer abc.def-ghi");
    log_redact(s, sizeof s);
    CHECK_STR(s, "Authorization: Bearer [redacted]");
}

/* Many refreshed tokens must never push a long-lived secret out. */
static void test_redact_rotation(void)
{
    char s[256], tok[64];
    int i;
    log_add_secret("1//refresh-token-long-lived");
    for (i = 0; i < 500; i++) {
        snprintf(tok, sizeof tok, "ya29.access-%04d", i);
        log_add_transient_secret(tok);
    }
    snprintf(s, sizeof s, "rt=1//refresh-token-long-lived at=ya29.access-0499");
    log_redact(s, sizeof s);
    CHECK_STR(s, "rt=[redacted] at=[redacted]");
    snprintf(s, sizeof s, "ya29.supersecrettoken");
    log_redact(s, sizeof s);
    CHECK_STR(s, "[redacted]");
}

static void test_time(void)
{
    int64_t ms = 0;
    char out[64];
    CHECK(time_parse_iso("2023-01-01", &ms) == 0);
    CHECK(ms == 1672531200000LL);
    CHECK(time_parse_iso("2023-02-01T00:00:00Z", &ms) == 0);
    CHECK(ms == 1675209600000LL);
    CHECK(time_parse_iso("2023-02-01T01:00:00+01:00", &ms) == 0);
    CHECK(ms == 1675209600000LL);
    CHECK(time_parse_iso("2023-13-01", &ms) == -1);
    CHECK(time_parse_iso("2023-01-01junk", &ms) == -1);
    time_format_rfc3339(1672531200000LL, out, sizeof out);
    CHECK_STR(out, "2023-01-01T00:00:00Z");
    time_format_rfc3339(1672531200123LL, out, sizeof out);
    CHECK_STR(out, "2023-01-01T00:00:00.123Z");
}

/* XXH64's published test values (the empty input, short inputs, and one
 * longer than a 32-byte stripe), and the fused move giving the same sum
 * as a move then a sum, for every length and an overlapping shift. */
static void test_checksum(void)
{
    static const char spam[] = "Nobody inspects the spammish repetition";
    unsigned char a[300], b[300];
    size_t n, shift;
    int ok = 1;

    CHECK(checksum64("", 0, 0) == 0xEF46DB3751D8E999ULL);
    CHECK(checksum64("a", 1, 0) == 0xD24EC4F1A98C6E5BULL);
    CHECK(checksum64("abc", 3, 0) == 0x44BC2CF5AD770999ULL);
    CHECK(checksum64(spam, strlen(spam), 0) == 0xFBCEA83C8A378BF1ULL);
    for (n = 0; n < 200; n++)
        for (shift = 0; shift < 70; shift += 13) {
            size_t i;
            for (i = 0; i < sizeof a; i++)
                a[i] = b[i] = (unsigned char)(i * 131 + 7);
            memmove(b, b + shift, n);
            ok &= checksum64_move(a, a + shift, n, 5) == checksum64(b, n, 5) && memcmp(a, b, n) == 0;
        }
    CHECK(ok);
    /* One flipped bit changes the sum. */
    memcpy(a, b, sizeof a);
    a[150] ^= 4;
    CHECK(checksum64(a, sizeof a, 0) != checksum64(b, sizeof b, 0));
}

static void test_path(void)
{
    char out[32];

    CHECK(path_dir("a/b/c.tif", out, sizeof out) == 0 && strcmp(out, "a/b") == 0);
    CHECK(path_dir("c.tif", out, sizeof out) == 0 && strcmp(out, ".") == 0);
    CHECK(path_dir("/c.tif", out, sizeof out) == 0 && strcmp(out, "/") == 0);
    CHECK(path_dir("aaaaaaaa/b", out, 4) == -1);
    CHECK(strcmp(path_base("a/b/c.tif"), "c.tif") == 0 && strcmp(path_base("c"), "c") == 0);
    CHECK(path_stem_len("a/b.tif") == 3 && path_stem_len("a.b/c") == 5 && path_stem_len("x") == 1);
    CHECK(path_stem_len("dir/.hidden") == 11 && path_stem_len("s2_{date}.tif") == 9);
    CHECK(path_with_suffix("out/s2.zarr", ".json", out, sizeof out) == 0 && strcmp(out, "out/s2.json") == 0);
    CHECK(path_with_suffix("r.lua", ".lock", out, sizeof out) == 0 && strcmp(out, "r.lock") == 0);
    CHECK(path_with_suffix("abcdefgh.tif", ".json", out, 8) == -1);
}

int main(void)
{
    test_buf();
    test_buf_aligned();
    test_redact();
    test_redact_rotation();
    test_time();
    test_checksum();
    test_path();
    return CHECK_DONE();
}
