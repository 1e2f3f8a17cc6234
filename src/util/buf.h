/*
 * A growable byte buffer with a hard upper bound, so that no response,
 * request or file read can grow memory without limit.
 */
#ifndef EEFETCH_UTIL_BUF_H
#define EEFETCH_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;     /* always NUL-terminated when not NULL */
    size_t len;
    size_t cap;
    size_t max;     /* appends that would pass this fail; 0 = BUF_DEFAULT_MAX */
    int align;      /* storage starts on a BUF_ALIGN boundary, cap a multiple of it */
};

#define BUF_DEFAULT_MAX ((size_t)1 << 30)
#define BUF_ALIGN 4096


/* Initialises an empty buffer that may grow up to max bytes (0: default). */
void buf_init(struct buf *b, size_t max);
/* The same, with storage aligned for direct I/O (see struct buf.align). */
void buf_init_aligned(struct buf *b, size_t max);
/* Appends n bytes. Returns 0, or ERR_NOMEM / ERR_LIMIT leaving b unchanged. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Makes room for n more bytes without changing len. */
int buf_reserve(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* Frees the storage; b can be reused after buf_init. */
void buf_free(struct buf *b);
/* Hands the storage to the caller (who frees it) and resets b. */
char *buf_steal(struct buf *b, size_t *len);

/* Reads a whole file into b (bounded by b->max). */
int buf_read_file(struct buf *b, const char *path);

#endif
