/*
 * Internals of the Lua host shared by its files (not a public interface):
 * the per-command context, the state setup and the C functions recipes
 * reach through the `eefetch.host` module.
 */
#ifndef EEFETCH_HOST_HOST_INT_H
#define EEFETCH_HOST_HOST_INT_H

#include <lua.h>
#include <stddef.h>
#include <stdio.h>

#include "core/auth.h"
#include "core/engine.h"
#include "util/err.h"

struct buf;
struct session;
struct emu;
struct token_provider;

#define HOST_MAX_PARAMS 64

struct host_opts {
    const char *endpoint;      /* --endpoint, NULL = EE's default */
    const char *project;       /* --project */
    const char *algorithms;    /* --algorithms FILE */
    const char *credentials;   /* --credentials FILE */
    int emulator;              /* --emulator */
    int overwrite;             /* --overwrite: every download{} starts over */
    int json;                  /* --json: plans as one JSON object per line */
    int no_disk_check;         /* --no-disk-check or EEFETCH_NO_DISK_CHECK=1 */
    int cancel_on_interrupt;   /* --cancel-on-interrupt: Ctrl-C cancels running export tasks */
    int lock;                  /* plan --lock: write the recipe's lock file */
    int locked;                /* --locked: collections are the lock file's images */
    const char *progress;      /* --progress auto|bar|plain|json|off (NULL = auto) */
    int unsafe;                /* --unsafe */
    const char *output_dir;    /* --output-dir DIR: relative outputs go there; outputs may be under it */
    int verbose;
    size_t max_memory;         /* bytes */
    long long max_instructions;
    const char *params[HOST_MAX_PARAMS]; /* "key=value" */
    int nparams;
};

struct host {
    struct host_opts opts;
    lua_State *L;
    /* Memory accounting for the allocator. */
    size_t mem_used, mem_limit;
    /* Instruction budget (count hook). */
    long long instr_used;
    int budget_blown;
    char recipe_path[4096];    /* "" for eval/repl */
    char recipe_dir[4096];
    /* Server side, created on first use. */
    struct emu *emu;
    struct session *session;
    struct token_provider *auth;   /* NULL: no Authorization header */
    struct auth_info auth_info;    /* where credentials and project came from */
    int have_auth_info;
    int verified;                  /* the one check call succeeded */
    char endpoint[1024];
    char project[256];
    int plan_problems;             /* plans that found what would stop a run */
    int downloads;                 /* download{}/plan{} calls so far (progress events number them) */
};

/* lbox.c: a C resource held while a binding may still raise (see there).
 * host_box_push [-0, +1, m]: pushes a userdata whose zeroed storage of size
 * bytes is returned; release(storage) runs once, at host_box_release or
 * when the box is collected or closed after an error. */
void *host_box_push(lua_State *L, size_t size, void (*release)(void *));
/* Releases the box's content now; later calls and the collector do nothing. */
void host_box_release(void *storage);
/* A boxed, empty struct buf of at most max bytes. [-0, +1, m] */
struct buf *host_box_buf(lua_State *L, size_t max);

/* lstate.c */
int host_state_open(struct host *h, struct errbuf *e);
void host_state_close(struct host *h);
/* Runs a chunk (text) in the sandbox (or full env with --unsafe); chunkname
 * as for luaL_loadbuffer ("@file" or "=name"). Prints a located message
 * on failure. Returns 0 or ERR_USAGE (recipe error). When nresults is
 * LUA_MULTRET the results are left on the stack. */
int host_run_chunk(struct host *h, const char *code, size_t len, const char *chunkname,
                   int nresults, struct errbuf *e);
/* Calls the function on top of the stack (with nargs args below it)
 * protected, with traceback; resets the instruction budget first. */
int host_pcall(struct host *h, int nargs, int nresults, struct errbuf *e);
/* 1 once Ctrl-C was pressed during the current protected call: the abort
 * callback of the host's session, so a request in flight stops at once. */
int host_interrupted(void *ud);
void host_reset_budget(struct host *h);
/* Pushes the recipe environment (the REPL completes names from it). */
void host_push_env(lua_State *L);

/* lpattern.c: string.find, match, gmatch and gsub with a step budget.
 * charge(L, steps, what) is called every few thousand steps of matching
 * and may raise a Lua error to stop it (budget spent, Ctrl-C); what names
 * the work for that message ("pattern matching", "table.move", ...). */
struct library_budget {
    void (*charge)(lua_State *L, long steps, const char *what);
};
/* Sets the four functions in the table at idx; budget must outlive L. */
void host_patterns_install(lua_State *L, int idx, const struct library_budget *budget);

/* lbounded.c: string.rep, table.move and table.sort charging their work
 * to the same callback (set in the tables at string_idx and table_idx). */
void host_bounded_install(lua_State *L, int string_idx, int table_idx,
                          const struct library_budget *budget);

/* lbridge.c: fills the `eefetch.host` table on top of the stack. */
void host_bridge_register(lua_State *L, struct host *h);
int host_ensure_session(struct host *h, struct errbuf *e);
/* host_ensure_session plus, once per run, the cheap call that proves
 * credentials and project (not for the in-process emulator). Every path
 * that sends a real request goes through this. */
int host_ensure_verified(struct host *h, struct errbuf *e);
/* The token provider and project of one download{}: with neither
 * `credentials` nor `project` (NULL) the command line's, verified once
 * (*own = NULL); with a project alone, the command line's credentials for
 * that project; with credentials, a provider of their own (*own, for the
 * caller to auth_destroy) resolved and verified like the command line's.
 * Either way the one check call is made before the first tile. */
int host_download_auth(struct host *h, const char *credentials, const char *project,
                       struct token_provider **own, char *project_out, size_t cap, struct errbuf *e);
/* Pushes the Lua value of a JSON text (arrays/objects tagged for re-encoding).
 * Texts may nest HOST_JSON_MAX_DEPTH levels: getInfo answers are as deep as
 * the values they hold (a list built by a long chain), far past json-c's
 * default of 32; the bound keeps the recursive conversion off the stack's
 * limit. */
#define HOST_JSON_MAX_DEPTH 10000
int host_json_push(lua_State *L, const char *text, size_t len, struct errbuf *e);

/* guard.c: what a sandboxed recipe may touch (lifted by --unsafe). */
/* Closes GDAL's network access for this process (drivers of remote
 * services, /vsicurl-based file systems, CPLHTTPFetch). */
void host_guard_gdal(void);
/* arg (a recipe's input file, relative to the recipe's folder) as a path
 * in out; sandboxed, refuses anything but a plain local path of an
 * existing file or folder (/vsi..., URLs, DRIVER:strings, inline text). */
int host_guard_input(struct host *h, const char *what, const char *arg, char *out, size_t cap, struct errbuf *e);
/* A path a download writes (*path, malloc'd; rewritten under --output-dir
 * when relative): sandboxed, it must resolve (symbolic links and ".."
 * included) under --output-dir or else the working directory, or under the
 * recipe's folder, and no link named after it may lead elsewhere. */
int host_guard_output(struct host *h, const char *what, char **path, struct errbuf *e);
/* A download's `credentials` path: sandboxed, a plain local path only. */
int host_guard_credentials(struct host *h, const char *arg, struct errbuf *e);
/* Sandboxed, the token endpoint of a download's own credentials file must
 * be Google's (https) or loopback: the file came with the recipe and would
 * otherwise make eefetch contact any host it names. */
int host_guard_token_uri(struct host *h, const char *uri, const char *path, struct errbuf *e);
/* 0 when path resolves inside dir (a required module). */
int host_guard_module(const char *dir, const char *path, struct errbuf *e);

/* repl.c */
int host_repl(struct host *h);
/* Runs code and prints the values of its last expression to stdout as the
 * REPL shows them (ee values evaluated with getInfo); statements print
 * nothing. Returns 0, or an error status with the located message in e. */
int host_eval_show(struct host *h, const char *code, size_t len, const char *chunkname, struct errbuf *e);

/* termimg.c: thumbnail, term_image and term_mode in the `eefetch.host`
 * table on top of the stack (the REPL's img:show() and :show). */
void host_termimg_register(lua_State *L);

/* download.c: the `download` and `plan` functions for recipes. */
int host_download_lua(lua_State *L);
int host_plan_lua(lua_State *L);
int host_region_meets_lua(lua_State *L);
int host_lock_mode_lua(lua_State *L);
int host_lock_read_lua(lua_State *L);
int host_lock_write_lua(lua_State *L);

struct host *host_from_lua(lua_State *L);

/* planreport.c: what a plan costs (docs/recipes.md, "What a plan costs"). */
struct host_plan {
    const struct download_spec *s;
    const struct engine_summary *sum;
    size_t tiles, band_groups;       /* tiles = requests / band groups */
    int have_metres;
    double metres_x, metres_y;       /* pixel size on the ground */
    double bytes_per_pixel;          /* all bands */
    int concurrency;                 /* requests in flight: min(workers, 40) */
    double seconds, seconds_quota;   /* estimates at concurrency and at 40 */
    char disk_dir[4096];             /* where output and store go; "" without output */
};
void host_plan_cost(const struct download_spec *s, const struct engine_summary *sum, struct host_plan *p);
/* The readable block, or one JSON line; file:line names the call (file may be NULL). */
void host_plan_print(FILE *out, const struct host_plan *p, const char *file, int line, int json);
/* Sets the plan's fields in the table on top of the stack. */
void host_plan_push_fields(lua_State *L, const struct host_plan *p);

#endif
