/* Placeholder until credential resolution lands. */
#include "core/auth_cmd.h"

#include <stdio.h>

int auth_cmd_main(int argc, char **argv)
{
    fprintf(stderr, "eefetch auth: not implemented yet\n");
    return 2;
}
