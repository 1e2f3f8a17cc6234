/*
 * eefetch command line: dispatches to the module that owns each command.
 * This is the only place that chooses the process exit status.
 */
#include <stdio.h>
#include <string.h>

#include "core/auth_cmd.h"
#include "emulator/emu.h"
#include "host/host.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"run", host_cmd_run, "run a recipe: eefetch run RECIPE.lua [--set key=value ...]"},
    {"plan", host_cmd_plan, "plan a recipe's downloads: size, requests, time and disk; fetches nothing"},
    {"eval", host_cmd_eval, "run a Lua snippet, show its last value: eefetch eval 'ee.Number(1):add(2)'"},
    {"repl", host_cmd_repl, "interactive Lua session with the ee module"},
    {"serve", emulator_cmd_serve, "run the offline Earth Engine emulator"},
    {"auth", auth_cmd_main, "show which credentials and project would be used"},
};

static void usage(FILE *out)
{
    size_t i;
    fprintf(out,
            "eefetch %s - download Google Earth Engine imagery at scale\n\n"
            "usage: eefetch COMMAND [options]\n\ncommands:\n",
            EEFETCH_VERSION);
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-7s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'eefetch COMMAND --help' describes a command's options.\n"
                 "Documentation: README.md and docs/ in the source tree.\n");
}

int main(int argc, char **argv)
{
    size_t i;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("eefetch %s\n", EEFETCH_VERSION);
        return 0;
    }
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "eefetch: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
