/*
 * Error reporting shared by every module: a fixed-size message buffer owned
 * by the caller. Functions return 0 on success or a negative code and, on
 * failure, leave a human-readable message in the errbuf they were given.
 */
#ifndef EEFETCH_UTIL_ERR_H
#define EEFETCH_UTIL_ERR_H

#include <stddef.h>

enum err_code {
    ERR_OK = 0,
    ERR_USAGE = -1,     /* bad command line or recipe value */
    ERR_IO = -2,        /* file system */
    ERR_NOMEM = -3,
    ERR_PARSE = -4,     /* malformed JSON, NPY, TIFF, key file ... */
    ERR_HTTP = -5,      /* transport failure */
    ERR_SERVER = -6,    /* the server answered with an error */
    ERR_AUTH = -7,
    ERR_INTERRUPTED = -8,
    ERR_LIMIT = -9,     /* a bound was exceeded */
    ERR_INTERNAL = -10,
};

#define ERRBUF_SIZE 2048

struct errbuf {
    char msg[ERRBUF_SIZE];
};

/* Formats a message into e (when e is not NULL) and returns code, so that a
 * failing path can be written as `return err_set(e, ERR_IO, "...", ...);`. */
int err_set(struct errbuf *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with more context ("tile 3: " + old). */
int err_prefix(struct errbuf *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void err_clear(struct errbuf *e);

#endif
