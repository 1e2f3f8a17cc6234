/* Placeholder until emulator authentication lands: every request passes. */
#include "emulator/handlers.h"

#include <stdlib.h>

struct emu_auth {
    int unused;
};

int emu_auth_create(const struct emu_config *cfg, struct emu_auth **out, struct errbuf *e)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}

void emu_auth_destroy(struct emu_auth *a)
{
    free(a);
}

int emu_auth_write_credentials(struct emu_auth *a, const char *dir, const char *base_url,
                               struct errbuf *e)
{
    return err_set(e, ERR_INTERNAL, "writing credentials is not implemented yet");
}

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
