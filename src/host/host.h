/*
 * The Lua host: the only module that includes lua.h. Entry points for the
 * recipe-facing commands.
 */
#ifndef EEFETCH_HOST_HOST_H
#define EEFETCH_HOST_HOST_H

/* Each returns a process exit status; argv[0] is the command name. */
int host_cmd_run(int argc, char **argv);
int host_cmd_plan(int argc, char **argv);
int host_cmd_eval(int argc, char **argv);
int host_cmd_repl(int argc, char **argv);

#endif
