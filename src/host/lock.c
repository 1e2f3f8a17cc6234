/*
 * Lock files of pinned recipes: `eefetch plan --lock` writes, beside the
 * recipe, the exact images every collection download resolved to
 * (<recipe stem>.lock, JSON made by collection.lua); `eefetch run
 * --locked` reads it back. Only the file's I/O is here: the recipe's
 * sandbox has no io library, and the path is the recipe's own, never one
 * a recipe chooses.
 */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "host/host_int.h"
#include "util/buf.h"
#include "util/path.h"

#define LOCK_MAX_BYTES ((size_t)64 << 20)

/* <recipe without .lua>.lock, or -1 without a recipe file. */
static int lock_path(const struct host *h, char *out, size_t cap)
{
    return h->recipe_path[0] ? path_with_suffix(h->recipe_path, ".lock", out, cap) : -1;
}

/* host.lock_mode(): "lock" (plan --lock), "locked" (--locked) or nil;
 * and the lock file's path. */
int host_lock_mode_lua(lua_State *L)
{
    struct host *h = host_from_lua(L);
    char path[4200];

    if (h->opts.lock)
        lua_pushliteral(L, "lock");
    else if (h->opts.locked)
        lua_pushliteral(L, "locked");
    else
        lua_pushnil(L);
    if (lock_path(h, path, sizeof path) == 0)
        lua_pushstring(L, path);
    else
        lua_pushnil(L);
    return 2;
}

/* host.lock_read(): the lock file's text, or nil and why. [-0, +1|2, e];
 * the text is boxed while it is pushed. */
int host_lock_read_lua(lua_State *L)
{
    struct host *h = host_from_lua(L);
    char path[4200];
    struct buf *b;

    if (lock_path(h, path, sizeof path) != 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "--locked needs a recipe file");
        return 2;
    }
    b = host_box_buf(L, LOCK_MAX_BYTES);
    if (buf_read_file(b, path) != 0) {
        int err = errno;
        host_box_release(b);
        lua_pushnil(L);
        lua_pushfstring(L, "cannot read the lock file %s (%s): make it with `eefetch plan --lock`", path,
                        strerror(err));
        return 2;
    }
    lua_pushlstring(L, b->data ? b->data : "", b->len);
    host_box_release(b);
    return 1;
}

/* host.lock_write(text): replaces the lock file whole (temporary name,
 * fsync, rename), so a stop never leaves half a lock. */
int host_lock_write_lua(lua_State *L)
{
    struct host *h = host_from_lua(L);
    size_t n;
    const char *text = luaL_checklstring(L, 1, &n);
    char path[4200], tmp[4300];
    FILE *f;
    int ok;

    if (lock_path(h, path, sizeof path) != 0)
        return luaL_error(L, "--lock needs a recipe file");
    snprintf(tmp, sizeof tmp, "%s.partial", path);
    if (!(f = fopen(tmp, "wb")))
        return luaL_error(L, "cannot write the lock file %s: %s", tmp, strerror(errno));
    ok = fwrite(text, 1, n, f) == n && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return luaL_error(L, "cannot write the lock file %s: %s", path, strerror(err));
    }
    lua_pushstring(L, path);
    return 1;
}
