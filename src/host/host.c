/* Placeholder host until the Lua host lands. */
#include "host/host.h"

#include <stdio.h>

static int not_yet(const char *cmd)
{
    fprintf(stderr, "eefetch %s: not implemented yet\n", cmd);
    return 2;
}

int host_cmd_run(int argc, char **argv) { return not_yet("run"); }
int host_cmd_plan(int argc, char **argv) { return not_yet("plan"); }
int host_cmd_eval(int argc, char **argv) { return not_yet("eval"); }
int host_cmd_repl(int argc, char **argv) { return not_yet("repl"); }
