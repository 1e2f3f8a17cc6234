/* Placeholder server until the HTTP layer lands. */
#include "emulator/emu.h"

#include <stdio.h>
#include <string.h>

void emu_config_default(struct emu_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->bind = "127.0.0.1";
    cfg->concurrency_limit = 40;
    cfg->token_lifetime_s = 3600;
}

int emu_start(const struct emu_config *cfg, struct emu **out, struct errbuf *e)
{
    return err_set(e, ERR_INTERNAL, "the emulator is not implemented yet");
}

int emu_port(const struct emu *s)
{
    return 0;
}

const char *emu_base_url(const struct emu *s)
{
    return "";
}

void emu_stop(struct emu *s)
{
}

int emulator_cmd_serve(int argc, char **argv)
{
    fprintf(stderr, "eefetch serve: not implemented yet\n");
    return 2;
}
