/*
 * string.find, string.match, string.gmatch and string.gsub with a step
 * budget. Lua's own matcher backtracks without limit inside one C call, so
 * a pattern like ("a-"):rep(30) .. "b" against a long string runs for hours
 * and neither the count hook (it never fires in C) nor Ctrl-C (it works
 * through that hook) can stop it. This matcher implements the pattern
 * language of the Lua 5.4 reference manual (section 6.4.1) and behaves as
 * the stock functions do (results, init arguments, error messages), but
 * every few thousand steps it hands the work done to a charge callback,
 * which adds it to the recipe's instruction budget and raises an error
 * once that is spent or Ctrl-C was pressed.
 *
 * A step is one elementary action: trying a pattern item at a position,
 * entering the matcher, or comparing 64 bytes of a back-reference or
 * balance scan; it costs about what one Lua VM instruction costs.
 */
#define _GNU_SOURCE 1   /* memmem */
#include <lauxlib.h>
#include <lua.h>
#include <ctype.h>
#include <string.h>

#include "host/host_int.h"

#define PAT_MAXCAPTURES 32   /* as LUA_MAXCAPTURES */
#define PAT_MAXDEPTH 200     /* nested matcher calls before "pattern too complex" */
#define PAT_CHUNK 1024       /* steps between two calls of the charge callback */
#define CAP_OPEN (-1)        /* capture started, not yet closed */
#define CAP_POS (-2)         /* position capture "()" */
#define PAT_ESC '%'

struct pm {
    lua_State *L;
    const char *s0, *send;           /* subject */
    const char *pend;                /* end of the pattern */
    int depth;                       /* matcher calls left before "too complex" */
    int ncap;
    struct {
        const char *at;
        ptrdiff_t len;               /* or CAP_OPEN, CAP_POS */
    } cap[PAT_MAXCAPTURES];
    long left;                       /* steps before the next charge */
    const struct library_budget *budget;
};

static void pm_charge(struct pm *m)
{
    m->left = PAT_CHUNK;
    m->budget->charge(m->L, PAT_CHUNK, "pattern matching");
}

static inline void pm_step(struct pm *m, long n)
{
    m->left -= n;
    if (m->left <= 0)
        pm_charge(m);
}

static void pm_init(struct pm *m, lua_State *L, const struct library_budget *b, const char *s,
                    size_t ls, const char *p, size_t lp)
{
    m->L = L;
    m->s0 = s;
    m->send = s + ls;
    m->pend = p + lp;
    m->budget = b;
    m->left = PAT_CHUNK;
}

/* Before each attempt at a new position. */
static void pm_restart(struct pm *m)
{
    m->ncap = 0;
    m->depth = PAT_MAXDEPTH;
}

/* Does byte c belong to class letter k (%a, %D, ...)? Any other k stands
 * for itself ("%." is a dot). */
static int class_has(int c, int k)
{
    int in;
    switch (tolower(k)) {
    case 'a': in = isalpha(c); break;
    case 'c': in = iscntrl(c); break;
    case 'd': in = isdigit(c); break;
    case 'g': in = isgraph(c); break;
    case 'l': in = islower(c); break;
    case 'p': in = ispunct(c); break;
    case 's': in = isspace(c); break;
    case 'u': in = isupper(c); break;
    case 'w': in = isalnum(c); break;
    case 'x': in = isxdigit(c); break;
    case 'z': in = c == 0; break;    /* Lua 5.1's NUL class, still in Debian's 5.4 */
    default: return k == c;
    }
    if (isupper(k))
        return !in;
    return in != 0;
}

/* The end of the single-character class starting at p: "%x", "[set]" or
 * one byte. In a set the first byte after "[" or "[^" is a member even if
 * it is "]", and "%" protects the byte after it. */
static const char *item_end(struct pm *m, const char *p)
{
    if (*p == PAT_ESC) {
        if (p + 1 >= m->pend)
            luaL_error(m->L, "malformed pattern (ends with '%%')");
        return p + 2;
    }
    if (*p != '[')
        return p + 1;
    p++;
    if (p < m->pend && *p == '^')
        p++;
    for (;;) {
        if (p >= m->pend)
            luaL_error(m->L, "malformed pattern (missing ']')");
        if (*p == PAT_ESC && p + 1 < m->pend)
            p += 2;
        else
            p++;
        if (p < m->pend && *p == ']')
            return p + 1;
    }
}

/* Is c in the set [..] spanning open (the "[") to close (its "]")? */
static int set_has(int c, const char *open, const char *close)
{
    const char *q = open + 1;
    int want = 1;
    if (*q == '^') {
        want = 0;
        q++;
    }
    while (q < close) {
        if (*q == PAT_ESC) {
            /* q[1] may be the closing "]" itself when a range ended in
             * "%" ("[a-%%]"): Lua then reads it as "%]", and so do we. */
            if (class_has(c, (unsigned char)q[1]))
                return want;
            q += 2;
        } else if (q + 2 < close && q[1] == '-') {
            if ((unsigned char)q[0] <= c && c <= (unsigned char)q[2])
                return want;
            q += 3;
        } else {
            if ((unsigned char)*q == c)
                return want;
            q++;
        }
    }
    return !want;
}

/* Does the byte at s match the class p..ep (ep = item_end(p))? */
static int item_has(struct pm *m, const char *s, const char *p, const char *ep)
{
    int c;
    pm_step(m, 1);
    if (s >= m->send)
        return 0;
    c = (unsigned char)*s;
    switch (*p) {
    case '.': return 1;
    case PAT_ESC: return class_has(c, (unsigned char)p[1]);
    case '[': return set_has(c, p, ep - 1);
    default: return (unsigned char)*p == c;
    }
}

static const char *pm_match(struct pm *m, const char *s, const char *p);

/* "*" and "+": the longest run first, then shorter ones. */
static const char *match_greedy(struct pm *m, const char *s, const char *p, const char *ep)
{
    ptrdiff_t n = 0;
    while (item_has(m, s + n, p, ep))
        n++;
    for (; n >= 0; n--) {
        const char *r = pm_match(m, s + n, ep + 1);
        if (r)
            return r;
    }
    return NULL;
}

/* "-": the shortest run first. */
static const char *match_lazy(struct pm *m, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *r = pm_match(m, s, ep + 1);
        if (r)
            return r;
        if (!item_has(m, s, p, ep))
            return NULL;
        s++;
    }
}

static const char *match_open(struct pm *m, const char *s, const char *p, ptrdiff_t kind)
{
    const char *r;
    if (m->ncap >= PAT_MAXCAPTURES)
        luaL_error(m->L, "too many captures");
    m->cap[m->ncap].at = s;
    m->cap[m->ncap].len = kind;
    m->ncap++;
    r = pm_match(m, s, p);
    if (!r)
        m->ncap--;
    return r;
}

static const char *match_close(struct pm *m, const char *s, const char *p)
{
    int i;
    const char *r;
    for (i = m->ncap - 1; i >= 0 && m->cap[i].len != CAP_OPEN; i--)
        ;
    if (i < 0)
        luaL_error(m->L, "invalid pattern capture");
    m->cap[i].len = s - m->cap[i].at;
    r = pm_match(m, s, p);
    if (!r)
        m->cap[i].len = CAP_OPEN;
    return r;
}

/* %1-%9: the text of a closed capture again. */
static const char *match_backref(struct pm *m, const char *s, int digit)
{
    int i = digit - '1';
    ptrdiff_t len;
    if (i < 0 || i >= m->ncap || m->cap[i].len == CAP_OPEN)
        luaL_error(m->L, "invalid capture index %%%d", i + 1);
    len = m->cap[i].len;
    if (len < 0)                     /* a position never matches text */
        return NULL;
    pm_step(m, 1 + len / 64);
    if (m->send - s >= len && memcmp(m->cap[i].at, s, (size_t)len) == 0)
        return s + len;
    return NULL;
}

/* %bxy: from x to its matching y. */
static const char *match_balance(struct pm *m, const char *s, const char *p)
{
    int depth = 1;
    const char *q;
    if (p + 1 >= m->pend)
        luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= m->send || *s != p[0])
        return NULL;
    for (q = s + 1; q < m->send; q++) {
        if (((q - s) & 63) == 0)
            pm_step(m, 1);
        if (*q == p[1]) {
            if (--depth == 0)
                return q + 1;
        } else if (*q == p[0]) {
            depth++;
        }
    }
    return NULL;
}

/* The end of the match of p (to the pattern's end) at s, or NULL. Calls
 * nest only where the manual's matcher must try alternatives; plain
 * sequences loop. */
static const char *pm_match(struct pm *m, const char *s, const char *p)
{
    if (m->depth-- == 0)
        luaL_error(m->L, "pattern too complex");
    pm_step(m, 1);
    for (;;) {
        const char *ep;
        if (p >= m->pend)
            break;
        if (*p == '(') {
            if (p + 1 < m->pend && p[1] == ')')
                s = match_open(m, s, p + 2, CAP_POS);
            else
                s = match_open(m, s, p + 1, CAP_OPEN);
            break;
        }
        if (*p == ')') {
            s = match_close(m, s, p + 1);
            break;
        }
        if (*p == '$' && p + 1 == m->pend) {
            if (s != m->send)
                s = NULL;
            break;
        }
        if (*p == PAT_ESC && p + 1 < m->pend) {
            char k = p[1];
            if (k == 'b') {
                s = match_balance(m, s, p + 2);
                if (!s)
                    break;
                p += 4;
                continue;
            }
            if (k == 'f') {
                int before, here;
                p += 2;
                if (p >= m->pend || *p != '[')
                    luaL_error(m->L, "missing '[' after '%%f' in pattern");
                ep = item_end(m, p);
                before = s == m->s0 ? 0 : (unsigned char)s[-1];
                here = s < m->send ? (unsigned char)*s : 0;
                pm_step(m, 1);
                if (set_has(before, p, ep - 1) || !set_has(here, p, ep - 1)) {
                    s = NULL;
                    break;
                }
                p = ep;
                continue;
            }
            if (k >= '0' && k <= '9') {
                s = match_backref(m, s, k);
                if (!s)
                    break;
                p += 2;
                continue;
            }
        }
        /* One character class, maybe with a quantifier. */
        ep = item_end(m, p);
        {
            char q = ep < m->pend ? *ep : 0;
            if (!item_has(m, s, p, ep)) {
                if (q == '*' || q == '?' || q == '-') {
                    p = ep + 1;
                    continue;
                }
                s = NULL;
                break;
            }
            if (q == '?') {
                const char *r = pm_match(m, s + 1, ep + 1);
                if (r) {
                    s = r;
                    break;
                }
                p = ep + 1;
                continue;
            }
            if (q == '+') {
                s = match_greedy(m, s + 1, p, ep);
                break;
            }
            if (q == '*') {
                s = match_greedy(m, s, p, ep);
                break;
            }
            if (q == '-') {
                s = match_lazy(m, s, p, ep);
                break;
            }
            s++;
            p = ep;
        }
    }
    m->depth++;
    return s;
}

/* Pushes capture i of the match s..e (i = 0 without captures: the whole
 * match). */
static void push_capture(struct pm *m, int i, const char *s, const char *e)
{
    if (i >= m->ncap) {
        if (i != 0)
            luaL_error(m->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(m->L, s, (size_t)(e - s));
        return;
    }
    if (m->cap[i].len == CAP_OPEN)
        luaL_error(m->L, "unfinished capture");
    if (m->cap[i].len == CAP_POS)
        lua_pushinteger(m->L, (lua_Integer)(m->cap[i].at - m->s0) + 1);
    else
        lua_pushlstring(m->L, m->cap[i].at, (size_t)m->cap[i].len);
}

/* Pushes all captures (s NULL: none for a match without captures, as
 * find wants). */
static int push_captures(struct pm *m, const char *s, const char *e)
{
    int i, n = (m->ncap == 0 && s) ? 1 : m->ncap;
    luaL_checkstack(m->L, n, "too many captures");
    for (i = 0; i < n; i++)
        push_capture(m, i, s, e);
    return n;
}

/* A start position as the string functions read it: 1-based, negative
 * from the end, clamped to 1 below. */
static size_t start_pos(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 1;
    return len + (size_t)pos + 1;
}

static int has_specials(const char *p, size_t lp)
{
    size_t i;
    for (i = 0; i < lp; i++)
        if (p[i] && strchr("^$*+?.([%-", p[i]))
            return 1;
    return 0;
}

/* Plain search in time linear in both lengths (never quadratic, which a
 * long needle of repeated bytes would make a naive search). */
static const char *find_plain(const char *s, size_t ls, const char *p, size_t lp)
{
    size_t i, k;
    if (lp == 0)
        return s;
    if (lp > ls)
        return NULL;
    /* Two candidates at most per byte: memchr to the first byte, then
     * memcmp; a long run of near-misses is what makes this quadratic, so
     * fall back to the C library's linear memmem for long needles. */
    if (lp > 64)
        return memmem(s, ls, p, lp);
    for (i = 0; i + lp <= ls; i = k + 1) {
        const char *c = memchr(s + i, p[0], ls - lp - i + 1);
        if (!c)
            return NULL;
        k = (size_t)(c - s);
        if (memcmp(c + 1, p + 1, lp - 1) == 0)
            return c;
    }
    return NULL;
}

static const struct library_budget *budget_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static int find_or_match(lua_State *L, int find)
{
    size_t ls, lp, init;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *at;
    struct pm m;
    int anchor;

    init = start_pos(luaL_optinteger(L, 3, 1), ls);
    if (init > ls + 1) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
        const char *r = find_plain(s + init - 1, ls - init + 1, p, lp);
        if (!r) {
            luaL_pushfail(L);
            return 1;
        }
        lua_pushinteger(L, (lua_Integer)(r - s) + 1);
        lua_pushinteger(L, (lua_Integer)(r - s) + (lua_Integer)lp);
        return 2;
    }
    anchor = lp > 0 && *p == '^';
    if (anchor) {
        p++;
        lp--;
    }
    pm_init(&m, L, budget_of(L), s, ls, p, lp);
    at = s + init - 1;
    for (;;) {
        const char *e;
        pm_restart(&m);
        e = pm_match(&m, at, p);
        if (e) {
            if (!find)
                return push_captures(&m, at, e);
            lua_pushinteger(L, (lua_Integer)(at - s) + 1);
            lua_pushinteger(L, (lua_Integer)(e - s));
            return push_captures(&m, NULL, NULL) + 2;
        }
        if (anchor || at >= m.send)
            break;
        at++;
    }
    luaL_pushfail(L);
    return 1;
}

static int pat_find(lua_State *L)
{
    return find_or_match(L, 1);
}

static int pat_match(lua_State *L)
{
    return find_or_match(L, 0);
}

/* gmatch's iterator. Upvalues: budget, subject, pattern, state. */
struct gm_state {
    size_t pos;        /* where the next attempt starts (may be len + 1) */
    size_t last;       /* end of the last match, or (size_t)-1 */
};

static int gmatch_next(lua_State *L)
{
    size_t ls, lp;
    const char *s = lua_tolstring(L, lua_upvalueindex(2), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(3), &lp);
    struct gm_state *g = lua_touserdata(L, lua_upvalueindex(4));
    struct pm m;

    pm_init(&m, L, budget_of(L), s, ls, p, lp);
    for (; g->pos <= ls; g->pos++) {
        const char *e;
        pm_restart(&m);
        e = pm_match(&m, s + g->pos, p);
        if (e && (size_t)(e - s) != g->last) {
            const char *at = s + g->pos;
            g->pos = g->last = (size_t)(e - s);
            return push_captures(&m, at, e);
        }
    }
    return 0;
}

static int pat_gmatch(lua_State *L)
{
    size_t ls, init;
    struct gm_state *g;

    luaL_checklstring(L, 1, &ls);
    luaL_checkstring(L, 2);
    init = start_pos(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls)
        init = ls + 1;             /* past the end: no match at all */
    lua_settop(L, 2);
    g = lua_newuserdatauv(L, sizeof *g, 0);
    g->pos = init;
    g->last = (size_t)-1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_pushcclosure(L, gmatch_next, 4);
    return 1;
}

/* Appends the replacement string (argument 3) for the match s..e. */
static void add_template(struct pm *m, luaL_Buffer *b, const char *s, const char *e)
{
    size_t l;
    const char *t = lua_tolstring(m->L, 3, &l);
    const char *end = t + l;
    while (t < end) {
        const char *pc = memchr(t, PAT_ESC, (size_t)(end - t));
        if (!pc) {
            luaL_addlstring(b, t, (size_t)(end - t));
            break;
        }
        luaL_addlstring(b, t, (size_t)(pc - t));
        pc++;
        if (pc < end && *pc == PAT_ESC) {
            luaL_addchar(b, PAT_ESC);
        } else if (pc < end && *pc == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (pc < end && isdigit((unsigned char)*pc)) {
            push_capture(m, *pc - '1', s, e);
            luaL_tolstring(m->L, -1, NULL);   /* a position becomes its digits */
            lua_remove(m->L, -2);
            luaL_addvalue(b);
        } else {
            luaL_error(m->L, "invalid use of '%c' in replacement string", PAT_ESC);
        }
        t = pc + 1;
    }
}

/* Appends the replacement of the match s..e; returns 1 if it replaced. */
static int add_replacement(struct pm *m, luaL_Buffer *b, const char *s, const char *e, int kind)
{
    lua_State *L = m->L;
    if (kind == LUA_TFUNCTION) {
        int n;
        lua_pushvalue(L, 3);
        n = push_captures(m, s, e);
        lua_call(L, n, 1);
    } else if (kind == LUA_TTABLE) {
        push_capture(m, 0, s, e);
        lua_gettable(L, 3);
    } else {
        add_template(m, b, s, e);
        return 1;
    }
    if (!lua_toboolean(L, -1)) {         /* false or nil: keep the match */
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return 0;
    }
    if (!lua_isstring(L, -1))
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

static int pat_gsub(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *at = s, *last = NULL;
    int kind = lua_type(L, 3);
    lua_Integer max_n = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    lua_Integer n = 0;
    int anchor, changed = 0;
    luaL_Buffer b;
    struct pm m;

    luaL_argexpected(L, kind == LUA_TNUMBER || kind == LUA_TSTRING || kind == LUA_TFUNCTION ||
                     kind == LUA_TTABLE, 3, "string/function/table");
    anchor = lp > 0 && *p == '^';
    if (anchor) {
        p++;
        lp--;
    }
    luaL_buffinit(L, &b);
    pm_init(&m, L, budget_of(L), s, ls, p, lp);
    while (n < max_n) {
        const char *e;
        pm_restart(&m);
        e = pm_match(&m, at, p);
        if (e && e != last) {
            n++;
            changed |= add_replacement(&m, &b, at, e, kind);
            at = last = e;
        } else if (at < m.send) {
            luaL_addchar(&b, *at++);
        } else {
            break;
        }
        if (anchor)
            break;
    }
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, at, (size_t)(m.send - at));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

void host_patterns_install(lua_State *L, int idx, const struct library_budget *budget)
{
    static const luaL_Reg fns[] = {
        {"find", pat_find}, {"match", pat_match}, {"gmatch", pat_gmatch}, {"gsub", pat_gsub},
        {NULL, NULL}};
    int i;
    idx = lua_absindex(L, idx);
    for (i = 0; fns[i].name; i++) {
        lua_pushlightuserdata(L, (void *)budget);
        lua_pushcclosure(L, fns[i].func, 1);
        lua_setfield(L, idx, fns[i].name);
    }
}
