/* Placeholder until emulator authentication lands: every request passes. */
#include "emulator/handlers.h"

int emu_auth_check(const struct emu_ctx *c, const struct emu_request *q,
                   struct emu_response *r)
{
    return 0;
}

int handle_token(const struct emu_ctx *c, const struct emu_request *q, struct emu_response *r)
{
    emu_error(r, 501, "token endpoint is not implemented yet.");
    return 0;
}

int handle_metadata_token(const struct emu_ctx *c, const struct emu_request *q,
                          struct emu_response *r)
{
    emu_error(r, 501, "metadata token endpoint is not implemented yet.");
    return 0;
}
