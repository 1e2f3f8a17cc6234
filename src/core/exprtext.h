/*
 * Rewrites of a serialized Earth Engine Expression done on its text, not on
 * a parsed tree: an expression may be up to EE's 10 MiB payload limit and
 * nested as deep as EE accepts, and a text rewrite has no depth limit, no
 * recursion and leaves every byte of the recipe's graph as it was.
 */
#ifndef EEFETCH_CORE_EXPRTEXT_H
#define EEFETCH_CORE_EXPRTEXT_H

#include <stddef.h>

#include "util/err.h"

struct buf;

/* Makes *out (malloc'd) the expression whose result is
 *   Image.unmask(input = <expr's result>, value = Image.constant(nodata),
 *                sameFootprint = false)
 * added as one more named value (the old result is referenced by name, so
 * the nesting depth does not grow). nodata must be finite. Returns 0, or
 * ERR_USAGE when expr is not {"result": "<name>", "values": {...}}. */
int exprtext_wrap_unmask(const char *expr, double nodata, char **out, struct errbuf *e);

/* The same with Image.select(input = <expr's result>, bandSelectors =
 * bands): a batch export writes every band of its image, so it is given
 * only the download's. */
int exprtext_wrap_select(const char *expr, const char *const *bands, size_t nbands, char **out, struct errbuf *e);

/* Appends s as a JSON string, quoted, '"', '\\' and control characters
 * escaped (band ids, a CRS's WKT, a bucket name: plain text, but quoted
 * and escaped anyway). 0, or buf_append's error when out of memory. */
int exprtext_append_string(struct buf *b, const char *s);

/* 1 when the expression calls one of the n functions fns (a
 * "functionName" whose value is one of them, at any depth), else 0. One
 * pass over the text, like the rewrites: no tree, no depth limit. */
int exprtext_invokes(const char *expr, const char *const *fns, size_t n);

#endif
