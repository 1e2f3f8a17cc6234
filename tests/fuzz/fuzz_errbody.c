/*
 * Fuzz target: EE error bodies. The body goes through session_error_message
 * (core/session.h) into buffers of several sizes, and the message it gives
 * through engine_classify (core/engine.h) with a status from the input.
 * Input: [0] status selector, [1] output capacity selector, then the body.
 */
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "core/session.h"
#include "fuzz.h"

volatile unsigned long fuzz_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {0, 200, 400, 401, 403, 404, 408, 413, 429, 500, 502, 503, 504, 599};
    struct http_result res;
    char *out;
    size_t cap;
    long status;

    if (size < 2)
        return 0;
    status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
    /* 1..256 bytes, exact-size heap buffer: an overrun is an ASan report. */
    cap = 1 + (size_t)data[1];
    memset(&res, 0, sizeof res);
    res.status = status;
    res.retry_after_s = -1;
    buf_init(&res.body, 0);
    /* The session stores bodies NUL-terminated with their length; keep both,
     * embedded NULs included, as a server could send them. */
    if (buf_append(&res.body, data + 2, size - 2) != 0)
        goto done;
    out = malloc(cap);
    if (!out)
        goto done;
    session_error_message(&res, out, cap);
    if (strnlen(out, cap) == cap)
        abort();   /* not NUL-terminated within cap */
    fuzz_sink = (unsigned long)engine_classify(status, out);
    free(out);
done:
    http_result_free(&res);
    return 0;
}
