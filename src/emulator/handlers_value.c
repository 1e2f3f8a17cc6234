/*
 * value:compute: evaluates an expression and answers {"result": ...} shaped
 * like EE's getInfo results (see eval_getinfo in eval_funcs.c).
 */
#include "emulator/eval.h"
#include "emulator/handlers.h"
#include "emulator/pixreq.h"

int handle_value_compute(const struct emu_ctx *c, const struct emu_request *q,
                         struct emu_response *r)
{
    static const char *const fields[] = {"expression", "workloadTag", NULL};
    struct ev_ctx *x = NULL;
    struct ev_value *v;
    struct errbuf e;
    json_object *expr = NULL, *res = NULL, *top;
    int rc;

    if (pixreq_check_body(q->json, fields, r) || pixreq_require(q->json, "expression", &expr, r))
        return 0;
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
