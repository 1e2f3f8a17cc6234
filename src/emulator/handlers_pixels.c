/* Placeholder until the evaluator lands: answers 501 UNIMPLEMENTED. */
#include "emulator/handlers.h"

int handle_compute_pixels(const struct emu_ctx *c, const struct emu_request *q,
                          struct emu_response *r)
{
    emu_error(r, 501, "image:computePixels is not implemented yet.");
    return 0;
}

int handle_get_pixels(const struct emu_ctx *c, const struct emu_request *q,
                      struct emu_response *r)
{
    emu_error(r, 501, "getPixels is not implemented yet.");
    return 0;
}

int handle_value_compute(const struct emu_ctx *c, const struct emu_request *q,
                         struct emu_response *r)
{
    emu_error(r, 501, "value:compute is not implemented yet.");
    return 0;
}

const char *const *eval_function_names(void)
{
    static const char *const none[] = {NULL};
    return none;
}
