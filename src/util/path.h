/*
 * Splitting file paths, one definition for every module: the folder a file
 * is in, its name, and its name without the extension. Plain string work
 * (no file system access, no normalisation).
 */
#ifndef EEFETCH_UTIL_PATH_H
#define EEFETCH_UTIL_PATH_H

#include <stddef.h>

/* The folder of path: "." when it has none, "/" for a file at the root.
 * Returns 0, or -1 when it does not fit cap (out is then truncated). */
int path_dir(const char *path, char *out, size_t cap);

/* The last component of path (a pointer into it). */
const char *path_base(const char *path);

/* The length of path without the extension of its last component
 * ("a/b.tif" -> 3, "a.b/c" -> 5, "x" -> 1). */
size_t path_stem_len(const char *path);

/* "<path without its extension><suffix>" into out: 0, or -1 when it does
 * not fit. */
int path_with_suffix(const char *path, const char *suffix, char *out, size_t cap);

#endif
