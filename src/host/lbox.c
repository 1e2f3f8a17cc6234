/*
 * Boxes: C resources owned by Lua while a binding may still raise.
 *
 * Any call into the Lua API can raise: luaL_check* on a bad argument, a
 * lua_getfield or lua_pushstring under the recipe's memory budget (a memory
 * error), a luaL_checkstack. lua_error longjmps over the binding, so memory
 * or a GDAL handle kept in a C local leaks. A binding that must hold one
 * across such calls first pushes a box (before acquiring anything, so the
 * push itself may fail harmlessly), keeps the resource in the box's
 * storage, and releases it when done; when an error unwinds the stack
 * instead, the collector's __gc (or a to-be-closed variable's __close)
 * releases it. A released box is empty, so nothing is freed twice.
 */
#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>
#include <string.h>

#include "host/host_int.h"
#include "util/buf.h"

struct box {
    void (*release)(void *);
    int live;
    max_align_t storage[];   /* the caller's struct, zeroed */
};

static const char BOX_META[] = "eefetch.box";

static struct box *box_of(void *storage)
{
    return (struct box *)((char *)storage - offsetof(struct box, storage));
}

void host_box_release(void *storage)
{
    struct box *b = box_of(storage);
    if (b->live) {
        b->live = 0;
        b->release(storage);
    }
}

/* __gc and __close: [-0, +0, -] */
static int box_gc(lua_State *L)
{
    struct box *b = luaL_checkudata(L, 1, BOX_META);
    host_box_release(b->storage);
    return 0;
}

/* [-0, +1, m] */
void *host_box_push(lua_State *L, size_t size, void (*release)(void *))
{
    struct box *b = lua_newuserdatauv(L, sizeof *b + size, 0);

    memset(b, 0, sizeof *b + size);
    b->release = release;
    if (luaL_newmetatable(L, BOX_META)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    /* Armed last: a memory error above leaves a box with nothing to free. */
    b->live = 1;
    return b->storage;
}

static void release_buf(void *p)
{
    buf_free(p);
}

/* [-0, +1, m] */
struct buf *host_box_buf(lua_State *L, size_t max)
{
    struct buf *b = host_box_push(L, sizeof *b, release_buf);
    buf_init(b, max);
    return b;
}
