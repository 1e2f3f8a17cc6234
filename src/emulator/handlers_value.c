/*
 * value:compute: evaluates an expression and answers {"result": ...} shaped
 * like EE's getInfo results (see eval_getinfo in eval_funcs.c).
 */
#include <string.h>

#include "emulator/eval.h"
#include "emulator/handlers.h"

int handle_value_compute(const struct emu_ctx *c, const struct emu_request *q,
                         struct emu_response *r)
{
    struct ev_ctx *x = NULL;
    struct ev_value *v;
    struct errbuf e;
    json_object *expr = NULL, *res = NULL, *top;
    int rc;

    if (!q->json || json_object_get_type(q->json) != json_type_object) {
        emu_error(r, 400, "Invalid JSON payload received.");
        return 0;
    }
    {
        json_object_object_foreach(q->json, key, val) {
            (void)val;
            if (strcmp(key, "expression") != 0 && strcmp(key, "workloadTag") != 0) {
                emu_error(r, 400, "Invalid JSON payload received. Unknown name \"%s\": Cannot "
                          "find field.", key);
                return 0;
            }
        }
    }
    if (emu_check_workload_tag(q->json, r) != 0)
        return 0;
    if (!json_object_object_get_ex(q->json, "expression", &expr)) {
        emu_error(r, 400, "expression is required.");
        return 0;
    }
    if (eval_ctx_new(&x, c->cat) != 0) {
        emu_error(r, 500, "An internal error has occurred.");
        return 0;
    }
    rc = eval_expression(x, expr, &v, &e);
    /* reduceRegion and sample read images: they count for the latency model */
    eval_work(x, &r->work_bytes, &r->work_images);
    if (rc != 0) {
        emu_error(r, 400, "%s", e.msg);
    } else if (v->kind != EV_NULL && !(res = eval_getinfo(x, v, &e))) {
        emu_error(r, 400, "%s", e.msg);
    } else if (!(top = json_object_new_object())) {
        json_object_put(res);
        emu_error(r, 500, "An internal error has occurred.");
    } else {
        json_object_object_add(top, "result", res);
        emu_json(r, 200, top);
    }
    eval_ctx_free(x);
    return 0;
}
