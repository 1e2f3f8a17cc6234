#include "util/path.h"

#include <stdio.h>
#include <string.h>

int path_dir(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    int n;

    if (!slash)
        n = snprintf(out, cap, ".");
    else if (slash == path)
        n = snprintf(out, cap, "/");
    else
        n = snprintf(out, cap, "%.*s", (int)(slash - path), path);
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

const char *path_base(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

size_t path_stem_len(const char *path)
{
    const char *base = path_base(path), *dot = strrchr(base, '.');

    return dot && dot > base ? (size_t)(dot - path) : strlen(path);
}

int path_with_suffix(const char *path, const char *suffix, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%.*s%s", (int)path_stem_len(path), path, suffix);

    return n >= 0 && (size_t)n < cap ? 0 : -1;
}
