/*
 * Library functions that do unbounded work in one C call, made to report
 * it. Lua's count hook only fires between VM instructions, so inside
 * table.move({}, 1, 1e15, 1) (nil to nil: no memory is ever allocated),
 * table.sort of long equal strings (each comparison reads them whole) or
 * a loop of string.rep calls, neither the instruction budget nor Ctrl-C
 * (which works through that hook) can act. Each function here charges
 * its work to the same callback as the pattern matcher (lpattern.c):
 *
 *   string.rep   its own, filling the result by doubling copies; one step
 *                per 4 bytes produced (the cost is touching fresh memory,
 *                about an instruction's time per few bytes).
 *   table.move   Lua's, called on slices of 4096 elements (in the order
 *                Lua's own would move them); four steps per element (a
 *                read and a write through the table API).
 *   table.sort   Lua's; without a comparison function it gets a C one
 *                that compares with "<" as Lua's would and charges one
 *                step plus one per 64 bytes of the strings compared.
 *
 * Everything else reachable from a recipe is linear in memory the memory
 * budget already bounds (table.concat, string.format, utf8.*, load, json),
 * or calls back into Lua (sort with a comparison, gsub with a function).
 */
#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <string.h>

#include "host/host_int.h"

#define MOVE_SLICE 4096

static void charge(lua_State *L, long steps, const char *what)
{
    const struct library_budget *b = lua_touserdata(L, lua_upvalueindex(1));
    b->charge(L, steps, what);
}

/* string.rep(s, n [, sep]) as Lua 5.4's: the result is the first
 * n*#s + (n-1)*#sep bytes of (s..sep) repeated. */
static int bounded_rep(lua_State *L)
{
    size_t l, lsep, unit, total, filled;
    const char *s = luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    const char *sep = luaL_optlstring(L, 3, "", &lsep);
    /* Lua 5.4 keeps results of string.rep below INT_MAX bytes. */
    size_t maxsize = sizeof(size_t) < sizeof(int) ? (size_t)-1 : (size_t)INT_MAX;
    luaL_Buffer b;
    char *p;

    if (n <= 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    unit = l + lsep;
    if (unit < l || unit > maxsize / (size_t)n)
        return luaL_error(L, "resulting string too large");
    total = (size_t)n * l + (size_t)(n - 1) * lsep;
    if (total == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    charge(L, (long)(total / 4 < 1000000000 ? total / 4 : 1000000000), "string.rep");
    p = luaL_buffinitsize(L, &b, total);
    memcpy(p, s, l);
    filled = l;
    if (filled < total) {
        memcpy(p + l, sep, lsep);
        filled = unit;
    }
    /* filled stays a multiple of the period, so copying the prefix
     * continues the pattern; about 30 copies for a GiB, with Ctrl-C
     * looked at between them. */
    while (filled < total) {
        size_t k = filled < total - filled ? filled : total - filled;
        memcpy(p + filled, p, k);
        filled += k;
        charge(L, 0, "string.rep");
    }
    luaL_pushresultsize(&b, total);
    return 1;
}

/* A table argument as table.move reads it: a table, or anything with the
 * metamethod it needs (__index to read, __newindex to write). */
static void check_table_like(lua_State *L, int arg, const char *mm)
{
    if (lua_type(L, arg) == LUA_TTABLE)
        return;
    if (lua_getmetatable(L, arg)) {
        int has = lua_getfield(L, -1, mm) != LUA_TNIL;
        lua_pop(L, 2);
        if (has)
            return;
    }
    luaL_checktype(L, arg, LUA_TTABLE);
}

/* table.move(a1, f, e, t [, a2]) with Lua's checks and order, done by
 * Lua's own function one slice at a time (upvalue 2). */
static int bounded_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2);
    lua_Integer e = luaL_checkinteger(L, 3);
    lua_Integer t = luaL_checkinteger(L, 4);
    int tt = !lua_isnoneornil(L, 5) ? 5 : 1;
    lua_Integer n, done = 0;
    int down;

    check_table_like(L, 1, "__index");
    check_table_like(L, tt, "__newindex");
    if (e >= f) {
        luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
        n = e - f + 1;
        luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
        /* Lua moves from the last element down only when the destination
         * overlaps the source from above; slices follow the same order. */
        down = !(t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ)));
        while (done < n) {
            lua_Integer k = n - done < MOVE_SLICE ? n - done : MOVE_SLICE;
            lua_Integer off = down ? n - done - k : done;
            lua_pushvalue(L, lua_upvalueindex(2));
            lua_pushvalue(L, 1);
            lua_pushinteger(L, f + off);
            lua_pushinteger(L, f + off + k - 1);
            lua_pushinteger(L, t + off);
            lua_pushvalue(L, tt);
            lua_call(L, 5, 0);
            done += k;
            charge(L, 4 * (long)k, "table.move");
        }
    }
    lua_pushvalue(L, tt);
    return 1;
}

static long string_cost(lua_State *L, int i)
{
    size_t len = 0;
    if (lua_type(L, i) == LUA_TSTRING)
        lua_tolstring(L, i, &len);
    return (long)(len / 64);
}

/* The default order of table.sort: a < b, charged. */
static int sort_less(lua_State *L)
{
    charge(L, 1 + string_cost(L, 1) + string_cost(L, 2), "table.sort");
    lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPLT));
    return 1;
}

/* table.sort(t [, comp]): Lua's (upvalue 2), with sort_less (upvalue 3)
 * when no comparison is given. */
static int bounded_sort(lua_State *L)
{
    /* Argument errors here, where they name 'sort' as Lua's would. */
    check_table_like(L, 1, "__index");
    if (!lua_isnoneornil(L, 2) && luaL_len(L, 1) > 1)   /* Lua checks it only then */
        luaL_checktype(L, 2, LUA_TFUNCTION);
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        lua_pushvalue(L, lua_upvalueindex(3));
    }
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 0);
    return 0;
}

void host_bounded_install(lua_State *L, int string_idx, int table_idx,
                          const struct library_budget *budget)
{
    string_idx = lua_absindex(L, string_idx);
    table_idx = lua_absindex(L, table_idx);

    lua_pushlightuserdata(L, (void *)budget);
    lua_pushcclosure(L, bounded_rep, 1);
    lua_setfield(L, string_idx, "rep");

    lua_pushlightuserdata(L, (void *)budget);
    lua_getfield(L, table_idx, "move");
    lua_pushcclosure(L, bounded_move, 2);
    lua_setfield(L, table_idx, "move");

    lua_pushlightuserdata(L, (void *)budget);
    lua_getfield(L, table_idx, "sort");
    lua_pushlightuserdata(L, (void *)budget);
    lua_pushcclosure(L, sort_less, 1);
    lua_pushcclosure(L, bounded_sort, 3);
    lua_setfield(L, table_idx, "sort");
}
