/* `eefetch auth`: shows which credential source and project would be used. */
#ifndef EEFETCH_CORE_AUTH_CMD_H
#define EEFETCH_CORE_AUTH_CMD_H

int auth_cmd_main(int argc, char **argv);

#endif
