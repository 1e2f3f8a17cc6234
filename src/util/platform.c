/*
 * POSIX implementation of util/platform.h: SIGINT through sigaction, the
 * terminal through isatty and TIOCGWINSZ, locks through flock. The only
 * file of eefetch's own C (the emulator's `serve` aside, which waits for
 * its signals with sigwait) that names a signal, an ioctl or a lock call.
 */
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/err.h"
#include "util/platform.h"

/* ---- the stop flag --------------------------------------------------- */

/* Polled by worker threads as well as the main thread; a sig_atomic_t
 * written by the handler and read through a volatile pointer is what the
 * engine has always been given. */
static volatile sig_atomic_t stop_flag;
/* The innermost scope's callback. Written only by the main thread, and
 * only between scopes; a pointer store is a single store everywhere
 * eefetch runs, so the handler sees the old or the new one. */
static volatile platform_stop_fn stop_fn;
static int stop_depth;
static struct sigaction os_prev;   /* what SIGINT did before the outermost scope */

static void on_sigint(int sig)
{
    platform_stop_fn fn = stop_fn;
    (void)sig;
    stop_flag = 1;
    if (fn)
        fn();
}

int platform_stop_install(platform_stop_fn on_stop, struct platform_stop_scope *scope)
{
    scope->prev_fn = stop_fn;
    scope->depth = stop_depth;
    if (stop_depth == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        /* No SA_RESTART: a blocking call on the main thread returns EINTR
         * and the caller looks at the flag sooner. */
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        stop_fn = on_stop;
        if (sigaction(SIGINT, &sa, &os_prev) != 0) {
            stop_fn = scope->prev_fn;
            return ERR_INTERNAL;
        }
    } else {
        stop_fn = on_stop;
    }
    stop_depth++;
    return 0;
}

void platform_stop_restore(const struct platform_stop_scope *scope)
{
    int was = stop_depth;   /* 0: the install failed, nothing to give back */

    stop_fn = scope->prev_fn;
    stop_depth = scope->depth;
    if (was > 0 && stop_depth == 0)
        sigaction(SIGINT, &os_prev, NULL);
}

int platform_stop_requested(void)
{
    return stop_flag != 0;
}

void platform_stop_request(void)
{
    stop_flag = 1;
}

void platform_stop_clear(void)
{
    stop_flag = 0;
}

volatile sig_atomic_t *platform_stop_flag(void)
{
    return &stop_flag;
}

/* ---- terminal -------------------------------------------------------- */

int platform_isatty(int fd)
{
    return isatty(fd) == 1;
}

int platform_terminal_size(int fd, struct platform_term_size *out)
{
    struct winsize ws;

    memset(out, 0, sizeof *out);
    memset(&ws, 0, sizeof ws);
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0)
        return -1;
    out->cols = ws.ws_col;
    out->rows = ws.ws_row;
    out->xpixels = ws.ws_xpixel;
    out->ypixels = ws.ws_ypixel;
    return 0;
}

/* ---- file locks ------------------------------------------------------ */

int platform_lock_try(int fd)
{
    return flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : -1;
}
