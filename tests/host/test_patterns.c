/* eefetch's budgeted string.find/match/gmatch/gsub (src/host/lpattern.c):
 * the same results and errors as Lua 5.4's own functions on generated cases
 * (patterns_diff.lua), likewise string.rep, table.move and table.sort
 * (src/host/lbounded.c); a backtracking bomb and the other library bombs
 * are stopped by the budget after the steps they were given, while
 * ordinary patterns on long strings stay within a few steps per byte. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/check.h"
#include "host/host_int.h"

static long long steps_used, steps_limit;

static void test_charge(lua_State *L, long steps, const char *what)
{
    (void)what;
    steps_used += steps;
    if (steps_limit && steps_used > steps_limit)
        luaL_error(L, "budget spent");
}

static const struct library_budget test_budget = {test_charge};

/* Runs code with P (the budgeted functions) as its argument; returns the
 * error message or NULL, and leaves the first result in *ok (a boolean). */
static const char *run(lua_State *L, const char *code, int *ok)
{
    *ok = 0;
    if (luaL_loadstring(L, code) != LUA_OK)
        return lua_tostring(L, -1);
    lua_getglobal(L, "P");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        return lua_tostring(L, -1);
    *ok = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return NULL;
}

int main(void)
{
    lua_State *L = luaL_newstate();
    const char *src = getenv("EEFETCH_SRC");
    char path[4096];
    const char *err;
    int ok;

    luaL_openlibs(L);
    lua_newtable(L);
    host_patterns_install(L, -1, &test_budget);
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "move");
    lua_setfield(L, -3, "move");
    lua_getfield(L, -1, "sort");
    lua_setfield(L, -3, "sort");
    lua_pop(L, 1);
    host_bounded_install(L, -1, -1, &test_budget);   /* P.rep, P.move, P.sort */
    lua_setglobal(L, "P");

    /* 1. Differential test against the stock functions. */
    snprintf(path, sizeof path, "%s/tests/host/patterns_diff.lua", src ? src : ".");
    if (luaL_loadfile(L, path) != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        return 1;
    }
    lua_getglobal(L, "P");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        CHECK(0);
    } else {
        CHECK(lua_toboolean(L, -1));
        lua_pop(L, 1);
    }

    /* 2. The bomb: stopped once its budget is spent, with the charge
     * callback's error, for each function. */
    {
        static const char *bombs[] = {
            "local P = ... P.find(string.rep('a', 50000), string.rep('a-', 30) .. 'b')",
            "local P = ... P.match(string.rep('a', 50000), string.rep('a*', 30) .. 'b')",
            "local P = ... P.gsub(string.rep('a', 50000), string.rep('(a*)', 20) .. '%1b', '')",
            "local P = ... for x in P.gmatch(string.rep('a', 50000), string.rep('a?', 40) .. 'b') do end",
            "local P = ... P.find(string.rep('a', 30000), '(.*)(.*)(.*)%3%2%1b')",
            "local P = ... P.move({}, 1, 1e15, 1)",
            "local P = ... for i = 1, 1e6 do P.rep('ab', 5e6, ',') end",
            "local P = ... local s, t = string.rep('x', 1e6), {} for i = 1, 5000 do t[i] = s end P.sort(t)",
            NULL};
        int i;
        for (i = 0; bombs[i]; i++) {
            steps_used = 0;
            steps_limit = 20000000;
            err = run(L, bombs[i], &ok);
            CHECK(err && strstr(err, "budget spent"));
            CHECK(steps_used <= 2 * steps_limit);   /* stopped soon after */
            if (!err || !strstr(err, "budget spent"))
                fprintf(stderr, "bomb %d: %s\n", i, err ? err : "finished");
        }
    }

    /* 3. Ordinary patterns over 1 MB cost a few steps per byte. */
    steps_used = 0;
    steps_limit = 0;
    err = run(L,
              "local P = ... local s = string.rep('key=value; ', 100000) .. ' 2024-05-17 '\n"
              "local n = select(2, P.gsub(s, '(%w+)=(%w+)', '%2=%1'))\n"
              "local t = P.match(s, '^%s*(.-)%s*$')\n"
              "local d = P.match(s, '%d%d%d%d%-%d%d%-%d%d')\n"
              "return n == 100000 and #t == #s - 1 and d == '2024-05-17'",
              &ok);
    CHECK(err == NULL && ok);
    printf("ordinary patterns over 1.1 MB: %lld steps\n", steps_used);
    CHECK(steps_used < 40LL * 1100000);

    lua_close(L);
    return CHECK_DONE();
}
