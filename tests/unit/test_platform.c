/* util/platform: the one stop flag (a real SIGINT raised at this process),
 * nested stop scopes and their restore, terminal queries and file locks. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "util/platform.h"

static volatile sig_atomic_t outer_calls, inner_calls, before_calls;

static void on_outer(void)
{
    outer_calls++;
}

static void on_inner(void)
{
    inner_calls++;
}

/* What SIGINT did before any scope: the test's own handler, so a Ctrl-C
 * that reaches it after the restore is seen instead of ending the test. */
static void before_handler(int sig)
{
    (void)sig;
    before_calls++;
}

static void test_stop_flag(void)
{
    struct platform_stop_scope outer, inner;
    struct sigaction sa, now;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = before_handler;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGINT, &sa, NULL) == 0);

    platform_stop_clear();
    CHECK(!platform_stop_requested());
    CHECK(platform_stop_install(on_outer, &outer) == 0);
    /* Installing leaves the flag alone. */
    CHECK(!platform_stop_requested());
    raise(SIGINT);
    CHECK(platform_stop_requested());
    CHECK(outer_calls == 1 && before_calls == 0);
    /* A second Ctrl-C: the same again, nothing more. */
    raise(SIGINT);
    CHECK(platform_stop_requested() && outer_calls == 2);
    platform_stop_clear();
    CHECK(!platform_stop_requested());

    /* The flag the engine polls from its threads is the same flag. */
    CHECK(*platform_stop_flag() == 0);
    platform_stop_request();
    CHECK(*platform_stop_flag() != 0);
    platform_stop_clear();
    CHECK(*platform_stop_flag() == 0);

    /* Nested: only the innermost callback runs; the restore brings the
     * outer one back. A NULL callback sets the flag alone. */
    CHECK(platform_stop_install(on_inner, &inner) == 0);
    raise(SIGINT);
    CHECK(platform_stop_requested() && inner_calls == 1 && outer_calls == 2);
    platform_stop_restore(&inner);
    platform_stop_clear();
    CHECK(platform_stop_install(NULL, &inner) == 0);
    raise(SIGINT);
    CHECK(platform_stop_requested() && inner_calls == 1 && outer_calls == 2);
    platform_stop_restore(&inner);
    platform_stop_clear();
    raise(SIGINT);
    CHECK(platform_stop_requested() && outer_calls == 3 && inner_calls == 1);
    platform_stop_clear();

    /* The outermost restore gives SIGINT back to what it was. */
    platform_stop_restore(&outer);
    CHECK(sigaction(SIGINT, NULL, &now) == 0 && now.sa_handler == before_handler);
    raise(SIGINT);
    CHECK(before_calls == 1 && !platform_stop_requested() && outer_calls == 3);
    signal(SIGINT, SIG_DFL);
}

static void test_terminal(void)
{
    struct platform_term_size ts;
    int p[2];

    CHECK(pipe(p) == 0);
    CHECK(!platform_isatty(p[0]));
    memset(&ts, 0x55, sizeof ts);
    CHECK(platform_terminal_size(p[1], &ts) == -1);
    CHECK(ts.cols == 0 && ts.rows == 0 && ts.xpixels == 0 && ts.ypixels == 0);
    close(p[0]);
    close(p[1]);
}

/* A lock is per open file: a second open of the same file, even in this
 * process, cannot take it until the first is closed. */
static void test_lock(void)
{
    char path[] = "/tmp/eefetch-platform-lock-XXXXXX";
    int a = mkstemp(path), b;

    CHECK(a >= 0);
    b = open(path, O_RDWR);
    CHECK(b >= 0);
    CHECK(platform_lock_try(a) == 0);
    CHECK(platform_lock_try(b) == -1);
    close(a);
    CHECK(platform_lock_try(b) == 0);
    close(b);
    unlink(path);
}

int main(void)
{
    test_stop_flag();
    test_terminal();
    test_lock();
    return CHECK_DONE();
}
