/*
 * What differs between operating systems, in one place: the stop flag that
 * Ctrl-C sets, terminal queries and advisory file locks. Everything else in
 * eefetch asks here instead of calling sigaction, ioctl or flock, so a
 * Windows port (SetConsoleCtrlHandler, GetConsoleScreenBufferInfo,
 * LockFileEx) rewrites platform.c and nothing else.
 *
 * The stop flag. There is one per process. Ctrl-C sets it while a stop
 * scope is installed; every part that can be stopped reads this flag: the
 * Lua hook that ends a recipe, the tile engine and export polling (through
 * platform_stop_flag()), requests blocked in curl (through their abort
 * callback) and the REPL. Scopes nest (the REPL prompt, a protected Lua
 * call inside it, a download inside that) and are restored in reverse
 * order; when the outermost scope ends, Ctrl-C does again what it did
 * before (for `eefetch run`, end the process).
 */
#ifndef EEFETCH_UTIL_PLATFORM_H
#define EEFETCH_UTIL_PLATFORM_H

#include <signal.h>

/* Called from the signal handler after the flag is set, so it may only do
 * what is safe there (set a flag, lua_sethook). NULL: only the flag. */
typedef void (*platform_stop_fn)(void);

/* What platform_stop_install() replaced; give it back to
 * platform_stop_restore(). */
struct platform_stop_scope {
    platform_stop_fn prev_fn;
    int depth;
};

/* Catches Ctrl-C until platform_stop_restore(scope): it sets the stop flag
 * and calls on_stop. A second Ctrl-C does the same again (the flag simply
 * stays set). The flag is left as it is. Returns 0, or ERR_INTERNAL when
 * the handler cannot be installed. */
int platform_stop_install(platform_stop_fn on_stop, struct platform_stop_scope *scope);
/* Ends the scope: the enclosing scope's on_stop is called again, or, for
 * the outermost, Ctrl-C does what it did before the first install. */
void platform_stop_restore(const struct platform_stop_scope *scope);
/* 1 once a stop was requested (Ctrl-C, or platform_stop_request). */
int platform_stop_requested(void);
/* Requests a stop without a signal (a restore of an earlier request). */
void platform_stop_request(void);
void platform_stop_clear(void);
/* The flag itself, for C code that polls it from other threads (the
 * engine's `stop`). */
volatile sig_atomic_t *platform_stop_flag(void);

/* ---- terminal ---- */

/* 1 when fd is a terminal. */
int platform_isatty(int fd);
/* The size of the terminal on fd: columns and rows in cells, and the
 * window's size in pixels where the terminal reports it (else 0). Returns
 * 0, or -1 when fd is no terminal or its size is unknown (all set to 0). */
struct platform_term_size {
    int cols, rows;
    int xpixels, ypixels;
};
int platform_terminal_size(int fd, struct platform_term_size *out);

/* ---- file locks ---- */

/* Takes an exclusive advisory lock on the open file fd without waiting; it
 * lasts until fd is closed. Returns 0, or -1 when another process holds it
 * (or the lock cannot be taken; errno says which). */
int platform_lock_try(int fd);

#endif
