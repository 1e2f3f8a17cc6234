/* errbuf helpers: bounded formatting, never allocates. */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(struct errbuf *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int err_prefix(struct errbuf *e, int code, const char *fmt, ...)
{
    if (e) {
        char old[ERRBUF_SIZE];
        size_t n;
        va_list ap;
        memcpy(old, e->msg, sizeof old);
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        n = strlen(e->msg);
        snprintf(e->msg + n, sizeof e->msg - n, "%s", old);
    }
    return code;
}

void err_clear(struct errbuf *e)
{
    if (e)
        e->msg[0] = '\0';
}
