/*
 * Fuzz target: the emulator's expression evaluator, through its handlers as
 * the server calls them. The input is a request body; it is parsed as the
 * server parses it (json-c, depth 512) and sent to value:compute and, when it
 * is an object, to image:computePixels. The catalog is built once.
 *
 * The emulator's own limits keep each run small: EE's request-size limits
 * apply, and the memory model is set to 2 MiB of work so that a fuzzed grid
 * is refused ("User memory limit exceeded.") before anything is rendered.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "emulator/catalog.h"
#include "emulator/emu.h"
#include "emulator/handlers.h"
#include "fuzz.h"

#define FUZZ_EXPR_DEPTH 512
#define FUZZ_EXPR_WORK_LIMIT (2 << 20)

volatile unsigned long fuzz_sink;

static struct catalog *cat;
static struct emu_config cfg;
static struct emu_ctx ctx;

static void release(void)
{
    catalog_destroy(cat);
    cat = NULL;
}

static int setup(void)
{
    struct errbuf e;

    if (cat)
        return 0;
    if (catalog_create(&cat, &e) != 0)
        abort();   /* the harness cannot run without its catalog */
    emu_config_default(&cfg);
    cfg.memory_limit_bytes = FUZZ_EXPR_WORK_LIMIT;
    ctx.cat = cat;
    ctx.cfg = &cfg;
    ctx.auth = NULL;
    atexit(release);
    return 0;
}

static void run(int (*handler)(const struct emu_ctx *, const struct emu_request *,
                               struct emu_response *),
                const char *body, size_t len, json_object *json)
{
    struct emu_request q;
    struct emu_response r;

    memset(&q, 0, sizeof q);
    memset(&r, 0, sizeof r);
    q.method = "POST";
    q.version = "v1";
    q.project = "fuzz";
    q.body = body;
    q.body_len = len;
    q.json = json;
    buf_init(&r.body, 0);
    handler(&ctx, &q, &r);
    /* Every answer is a status and, for errors, EE's JSON error body. */
    if (r.status < 200 || r.status > 599)
        abort();
    fuzz_sink += r.body.len;
    buf_free(&r.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_tokener *tok;
    json_object *json;
    char *body;

    setup();
    body = malloc(size + 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    tok = json_tokener_new_ex(FUZZ_EXPR_DEPTH);
    if (!tok) {
        free(body);
        return 0;
    }
    json = json_tokener_parse_ex(tok, body, (int)size);
    if (json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(json);
        json = NULL;   /* the server answers 400 before any handler runs */
    }
    if (json) {
        run(handle_value_compute, body, size, json);
        if (json_object_is_type(json, json_type_object))
            run(handle_compute_pixels, body, size, json);
    }
    json_object_put(json);
    json_tokener_free(tok);
    free(body);
    return 0;
}
