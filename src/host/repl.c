/*
 * The interactive REPL: readline line editing with persistent history and
 * tab completion, each line evaluated through the same protected door as a
 * recipe, results shown by lua/eefetch/repl.lua (getInfo, band tables).
 */
#include <lauxlib.h>
#include <lua.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host/host_int.h"
#include "util/platform.h"

static struct host *repl_host;

/* Ctrl-C at the prompt abandons the line being typed: the platform_stop_fn
 * of the REPL's own stop scope (evaluation installs its own, in host_pcall,
 * which clears the flag this Ctrl-C set before Lua runs). */
static void on_prompt_sigint(void)
{
    rl_free_line_state();
    rl_replace_line("", 0);
    rl_crlf();
    rl_on_new_line();
    rl_redisplay();
}

/* Pushes require("eefetch.repl")[name]. [-0, +1, e] */
static void push_repl_fn(lua_State *L, const char *name)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "eefetch.repl");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
}

/* complete_lua(text) -> repl.complete(env, text). [-1, +1, e]; run
 * through host_pcall, since completion happens outside any line. */
static int complete_lua(lua_State *L)
{
    const char *text = lua_tostring(L, 1);
    push_repl_fn(L, "complete");
    host_push_env(L);
    lua_pushstring(L, text);
    lua_call(L, 2, 1);
    return 1;
}

static char **matches;
static size_t nmatches, imatch;

static void free_matches(void)
{
    size_t i;
    for (i = imatch; i < nmatches; i++)
        free(matches[i]);
    free(matches);
    matches = NULL;
    nmatches = imatch = 0;
}

static char *generator(const char *text, int state)
{
    lua_State *L = repl_host->L;
    struct errbuf e;

    if (state == 0) {
        size_t i, n;
        free_matches();
        lua_pushcfunction(L, complete_lua);
        lua_pushstring(L, text);
        if (host_pcall(repl_host, 1, 1, &e) != 0 || !lua_istable(L, -1)) {
            lua_settop(L, 0);
            return NULL;
        }
        n = (size_t)lua_rawlen(L, -1);
        matches = calloc(n ? n : 1, sizeof *matches);
        for (i = 0; matches && i < n; i++) {
            /* Strings only: lua_tostring would convert a number in place,
             * an allocation that can raise, and this runs outside any
             * protected call; anything else has no text at all. */
            if (lua_rawgeti(L, -1, (lua_Integer)i + 1) == LUA_TSTRING &&
                (matches[nmatches] = strdup(lua_tostring(L, -1))) != NULL)
                nmatches++;
            lua_pop(L, 1);
        }
        lua_settop(L, 0);
    }
    if (imatch < nmatches)
        return matches[imatch++];   /* readline frees it */
    return NULL;
}

static char **attempt(const char *text, int start, int end)
{
    (void)start;
    (void)end;
    rl_completion_append_character = '\0';
    rl_attempted_completion_over = 1;
    return rl_completion_matches(text, generator);
}

/* mkdir -p with mode 0700 for what it creates: the state folder may not
 * exist yet on a fresh account (~/.local missing), and history written
 * into a missing folder is silently lost. */
static int mkdirs(char *path)
{
    char *p;
    struct stat st;

    for (p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            *p = '/';
            return -1;
        }
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -1;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

/* $XDG_STATE_HOME/eefetch/repl_history (or ~/.local/state/...), its
 * folders created; "" when there is nowhere to keep it (said once). */
static void history_path(char *out, size_t cap)
{
    const char *st = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    char dir[4096];
    int n;

    out[0] = 0;
    if (st && *st)
        n = snprintf(dir, sizeof dir, "%s/eefetch", st);
    else if (home && *home)
        n = snprintf(dir, sizeof dir, "%s/.local/state/eefetch", home);
    else
        return;
    if (n < 0 || (size_t)n >= sizeof dir)
        return;
    if (mkdirs(dir) != 0) {
        fprintf(stderr, "eefetch: history is not kept: cannot create %s: %s\n", dir, strerror(errno));
        return;
    }
    if ((size_t)snprintf(out, cap, "%s/repl_history", dir) >= cap)
        out[0] = 0;
}

/* Prints each result left on the stack (from index base+1) via repl.show.
 * [-(top-base), +0, -]: each show is its own protected call. */
static void show_results(struct host *h, int base)
{
    lua_State *L = h->L;
    int i, top = lua_gettop(L);
    struct errbuf e;

    for (i = base + 1; i <= top; i++) {
        push_repl_fn(L, "show");
        lua_pushvalue(L, i);
        if (host_pcall(h, 1, 1, &e) != 0) {
            if (host_interrupted(NULL)) {
                fprintf(stdout, "interrupted\n");
                break;
            }
            fprintf(stdout, "(cannot show: %s)\n", e.msg);
        } else
            fprintf(stdout, "%s\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
        lua_settop(L, top);
    }
    lua_settop(L, base);
    fflush(stdout);
}

/* 1 when text compiles as a Lua chunk (nothing runs). [-0, +0, -]:
 * luaL_loadbufferx reports a memory error instead of raising it. */
static int compiles(lua_State *L, const char *text, size_t len)
{
    int ok = luaL_loadbufferx(L, text, len, "=check", "t") == LUA_OK;
    lua_pop(L, 1);
    return ok;
}

/* How many statement boundaries, from the end, are tried as the start of a
 * last expression: enough for any snippet typed by hand. */
#define SHOWN_MAX_SPLITS 64

/* The text that runs code and returns the values to show: "return CODE"
 * when CODE is an expression list; else CODE with its last statement
 * returned when that statement alone is an expression list ("a = 1; a");
 * else NULL (run CODE as it is: statements show nothing but what they
 * return). The split is only taken at a newline or ';' where both sides
 * compile on their own, so it never lands inside a block or a string, and
 * line numbers are kept. The result is malloc'd. */
static char *shown_form(lua_State *L, const char *code, size_t n, size_t *outlen)
{
    char *t = malloc(n + 8);
    size_t i;
    int tries = 0;

    if (!t)
        return NULL;
    memcpy(t, "return ", 7);
    memcpy(t + 7, code, n);
    t[n + 7] = '\0';
    if (compiles(L, t, n + 7)) {
        *outlen = n + 7;
        return t;
    }
    for (i = n; i > 0 && tries < SHOWN_MAX_SPLITS; i--) {
        size_t k;
        if (code[i - 1] != '\n' && code[i - 1] != ';')
            continue;
        for (k = i; k < n && strchr(" \t\r\n;", code[k]); k++)
            ;
        if (k == n)
            continue;   /* nothing but blanks after it */
        tries++;
        /* The tail alone, as "return TAIL"... */
        memcpy(t, "return ", 7);
        memcpy(t + 7, code + i, n - i);
        if (!compiles(L, t, n - i + 7) || !compiles(L, code, i))
            continue;
        /* ...and both together, the prefix's locals in scope. */
        memcpy(t, code, i);
        memcpy(t + i, "return ", 7);
        memcpy(t + i + 7, code + i, n - i);
        t[n + 7] = '\0';
        if (compiles(L, t, n + 7)) {
            *outlen = n + 7;
            return t;
        }
    }
    free(t);
    return NULL;
}

int host_eval_show(struct host *h, const char *code, size_t len, const char *chunkname, struct errbuf *e)
{
    lua_State *L = h->L;
    int rc, base = lua_gettop(L);
    size_t tlen = 0;
    char *text = shown_form(L, code, len, &tlen);

    rc = host_run_chunk(h, text ? text : code, text ? tlen : len, chunkname, LUA_MULTRET, e);
    free(text);
    if (rc != 0) {
        lua_settop(L, base);
        return rc;
    }
    show_results(h, base);
    return 0;
}

/* A failed line: "interrupted" alone after Ctrl-C (where Lua happened to
 * be is of no use), else the located message. */
static void report_error(const struct errbuf *e)
{
    if (host_interrupted(NULL))
        fprintf(stdout, "interrupted\n");
    else
        fprintf(stdout, "error: %s\n", e->msg);
    fflush(stdout);
}

/* Evaluates one input (host_eval_show). Returns 1 when the input is
 * incomplete (more lines needed). */
static int eval_input(struct host *h, const char *code)
{
    lua_State *L = h->L;
    struct errbuf e;
    size_t n = strlen(code);

    if (luaL_loadbufferx(L, code, n, "=stdin", "t") != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        int more = msg && strstr(msg, "<eof>");
        lua_pop(L, 1);
        /* "x" alone does not compile as a statement but is complete. */
        if (more) {
            char *ret = malloc(n + 8);
            if (ret) {
                memcpy(ret, "return ", 7);
                memcpy(ret + 7, code, n + 1);
                more = !compiles(L, ret, n + 7);
                free(ret);
            }
            if (more)
                return 1;
        }
    } else {
        lua_pop(L, 1);
    }
    {
        /* Top-level locals become the session's globals (repl.persist_locals). */
        const char *run = code;
        size_t rn = n;
        int top = lua_gettop(L);
        push_repl_fn(L, "persist_locals");
        lua_pushlstring(L, code, n);
        if (host_pcall(h, 1, 1, &e) == 0 && lua_isstring(L, -1))
            run = lua_tolstring(L, -1, &rn);
        if (host_eval_show(h, run, rn, "=stdin", &e) != 0)
            report_error(&e);
        lua_settop(L, top);
    }
    return 0;
}

int host_repl(struct host *h)
{
    char hist[4200];
    char *line;
    size_t cap = 0, len = 0;
    char *acc = NULL;
    struct platform_stop_scope scope;

    repl_host = h;
    rl_readline_name = "eefetch";
    rl_attempted_completion_function = attempt;
    rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(,+-*/%^#~[";
    history_path(hist, sizeof hist);
    /* append_history() needs an existing file: create it on first use. */
    if (hist[0] && read_history(hist) != 0)
        write_history(hist);
    (void)platform_stop_install(on_prompt_sigint, &scope);
    printf("eefetch %s REPL (Lua 5.4). :help for help, Ctrl-D to quit.\n", EEFETCH_VERSION);
    fflush(stdout);
    while ((line = readline(acc ? ">> " : "> ")) != NULL) {
        size_t n = strlen(line);
        if (!acc && (strcmp(line, ":quit") == 0 || strcmp(line, ":q") == 0)) {
            free(line);
            break;
        }
        if (n && line[0] != ' ') {
            add_history(line);
            if (hist[0])
                append_history(1, hist);
        }
        if (!acc && strncmp(line, ":help", 5) == 0) {
            struct errbuf e;
            const char *arg = line + 5;
            while (*arg == ' ')
                arg++;
            push_repl_fn(h->L, "help");
            lua_pushstring(h->L, arg);
            if (host_pcall(h, 1, 1, &e) == 0)
                printf("%s\n", lua_tostring(h->L, -1));
            lua_settop(h->L, 0);
            fflush(stdout);
            free(line);
            continue;
        }
        if (!acc && strncmp(line, ":show", 5) == 0 && (line[5] == ' ' || line[5] == 0)) {
            struct errbuf e;
            push_repl_fn(h->L, "show_command");
            host_push_env(h->L);
            lua_pushstring(h->L, line + 5);
            if (host_pcall(h, 2, 1, &e) != 0)
                report_error(&e);
            else if (lua_isstring(h->L, -1))
                printf("%s\n", lua_tostring(h->L, -1));
            lua_settop(h->L, 0);
            fflush(stdout);
            free(line);
            continue;
        }
        if (len + n + 2 > cap) {
            char *p = realloc(acc, len + n + 2 + 256);
            if (!p) {
                free(line);
                break;
            }
            acc = p;
            cap = len + n + 2 + 256;
        }
        memcpy(acc + len, line, n);
        len += n;
        acc[len++] = '\n';
        acc[len] = 0;
        free(line);
        if (eval_input(h, acc) == 0) {
            free(acc);
            acc = NULL;
            len = cap = 0;
        }
    }
    free(acc);
    free_matches();
    platform_stop_restore(&scope);
    if (hist[0])
        history_truncate_file(hist, 1000);
    printf("\n");
    return 0;
}
