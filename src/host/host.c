/*
 * The recipe-facing commands: run, plan, eval, repl. Parses the options they
 * share, sets up one host (Lua state, sandbox, optional in-process emulator)
 * and runs the recipe or snippet through the protected door in lstate.c.
 * Returns exit statuses; never exits.
 */
#include "host/host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/auth.h"
#include "core/progress.h"
#include "core/session.h"
#include "emulator/emu.h"
#include "host/host_int.h"
#include "util/buf.h"
#include "util/ee.h"
#include "util/log.h"
#include "util/path.h"

#define DEFAULT_MAX_MEMORY ((size_t)1024 << 20)
#define DEFAULT_MAX_INSTRUCTIONS 20000000000LL

static void usage(FILE *out, const char *cmd)
{
    const char *what =
        strcmp(cmd, "plan") == 0
            ? "Runs the recipe, but every download{} only plans: no pixel request, no file. For each\n"
              "download{} and plan{} it prints what the run would cost: output, grid, CRS, pixel size,\n"
              "requests, raw and output size, an estimated time and the disk needed and free, and a\n"
              "'problem:' line for what would stop the run (output directory missing or not\n"
              "writable, disk clearly too small). After a problem the exit status is 1.\n"
        : strcmp(cmd, "run") == 0
            ? "Runs the recipe: every download{} fetches and writes its output; plan{} prints its\n"
              "cost as under `eefetch plan`. A download stops before its first request when the\n"
              "disk clearly cannot hold its tile store (see --no-disk-check).\n"
        : strcmp(cmd, "eval") == 0
            ? "Runs a Lua snippet and shows the value of its last expression as the REPL does (an ee\n"
              "value is evaluated with getInfo); statements print nothing of their own.\n"
            : "An interactive Lua session with the recipe API (:help inside).\n";
    fprintf(out,
            "usage: eefetch %s %s[options]\n\n%s\n"
            "options:\n"
            "  --set key=value       a recipe parameter (read-only table `params`); repeatable\n"
            "  --endpoint URL        Earth Engine base URL (default " EE_ENDPOINT ")\n"
            "  --project P           Cloud project (else $EE_PROJECT, $GOOGLE_CLOUD_QUOTA_PROJECT,\n"
            "                        $GOOGLE_CLOUD_PROJECT, then the credentials' project)\n"
            "  --emulator            start the offline emulator in-process and use it\n"
            "  --algorithms FILE     take the algorithm list from FILE instead of the endpoint\n"
            "  --credentials FILE    credentials for the endpoint\n"
            "  --progress MODE       download progress on stderr: auto (a bar on a terminal, else a\n"
            "                        line every 10 s), bar, map (a bar and a live tile map), plain,\n"
            "                        json (one event per line), off\n"
            "  --overwrite           every download{} discards an existing output, journal and stored\n"
            "                        tiles and starts over (as overwrite = true)\n"
            "  --unsafe              no sandbox: the full Lua standard library, any input path\n"
            "                        (GDAL network access included), outputs anywhere\n"
            "  --output-dir DIR      write relative outputs under DIR instead of the recipe's\n"
            "                        folder (the base of every relative path a recipe names)\n"
            "  --max-memory MIB      the recipe's memory budget (default 1024)\n"
            "  --max-instructions N  the recipe's instruction budget (default 2e10; 0 = none)\n"
            "  -v, --verbose         more log output\n",
            cmd, strcmp(cmd, "run") == 0 || strcmp(cmd, "plan") == 0 ? "RECIPE.lua "
                 : strcmp(cmd, "eval") == 0 ? "'LUA CODE' " : "", what);
    if (strcmp(cmd, "run") == 0 || strcmp(cmd, "plan") == 0)
        fprintf(out,
                "  --json                print each plan as one JSON object on a line of its own\n"
                "                        (\"type\":\"plan\", the same fields as the block)\n"
                "  --no-disk-check       run even when the free disk is clearly too small (also\n"
                "                        EEFETCH_NO_DISK_CHECK=1)\n"
                "  --cancel-on-interrupt Ctrl-C cancels the export tasks still running (via =\n"
                "                        \"export\"); without it they run on and a rerun picks them up\n"
                "  --locked              every download{ collection = ... } takes exactly the images\n"
                "                        of the recipe's lock file (<recipe>.lock); an image gone or\n"
                "                        changed since is an error\n");
    if (strcmp(cmd, "plan") == 0)
        fprintf(out,
                "  --lock                write <recipe>.lock beside the recipe: the exact images (id,\n"
                "                        index, version) each collection download resolves to now\n");
}

/* Parses options; the one positional argument (recipe or code) goes to
 * *positional. Returns 0, 1 for --help, or -1 on a usage error. */
static int parse_opts(int argc, char **argv, struct host_opts *o, const char **positional)
{
    int i;

    memset(o, 0, sizeof *o);
    o->no_disk_check = getenv("EEFETCH_NO_DISK_CHECK") && strcmp(getenv("EEFETCH_NO_DISK_CHECK"), "") != 0 &&
                       strcmp(getenv("EEFETCH_NO_DISK_CHECK"), "0") != 0;
    o->max_memory = DEFAULT_MAX_MEMORY;
    o->max_instructions = DEFAULT_MAX_INSTRUCTIONS;
    *positional = NULL;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE()                                                          \
    do {                                                                      \
        if (!next) {                                                          \
            fprintf(stderr, "eefetch %s: %s needs a value\n", argv[0], a);    \
            return -1;                                                        \
        }                                                                     \
        i++;                                                                  \
    } while (0)
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            return 1;
        } else if (strcmp(a, "--set") == 0) {
            NEED_VALUE();
            if (o->nparams == HOST_MAX_PARAMS || !strchr(next, '=')) {
                fprintf(stderr, "eefetch %s: --set %s: expected key=value (at most %d)\n", argv[0],
                        next, HOST_MAX_PARAMS);
                return -1;
            }
            o->params[o->nparams++] = next;
        } else if (strcmp(a, "--endpoint") == 0) {
            NEED_VALUE();
            o->endpoint = next;
        } else if (strcmp(a, "--project") == 0) {
            NEED_VALUE();
            o->project = next;
        } else if (strcmp(a, "--algorithms") == 0) {
            NEED_VALUE();
            o->algorithms = next;
        } else if (strcmp(a, "--credentials") == 0) {
            NEED_VALUE();
            o->credentials = next;
        } else if (strcmp(a, "--emulator") == 0) {
            o->emulator = 1;
        } else if (strcmp(a, "--progress") == 0) {
            enum progress_mode m;
            NEED_VALUE();
            if (progress_mode_parse(next, &m) != 0) {
                fprintf(stderr, "eefetch %s: --progress takes auto, bar, map, plain, json or off\n", argv[0]);
                return -1;
            }
            o->progress = next;
        } else if (strcmp(a, "--overwrite") == 0) {
            o->overwrite = 1;
        } else if (strcmp(a, "--json") == 0 &&
                   (strcmp(argv[0], "plan") == 0 || strcmp(argv[0], "run") == 0)) {
            o->json = 1;
        } else if (strcmp(a, "--lock") == 0 && strcmp(argv[0], "plan") == 0) {
            o->lock = 1;
        } else if (strcmp(a, "--locked") == 0 &&
                   (strcmp(argv[0], "plan") == 0 || strcmp(argv[0], "run") == 0)) {
            o->locked = 1;
        } else if (strcmp(a, "--cancel-on-interrupt") == 0 && strcmp(argv[0], "run") == 0) {
            o->cancel_on_interrupt = 1;
        } else if (strcmp(a, "--no-disk-check") == 0 &&
                   (strcmp(argv[0], "plan") == 0 || strcmp(argv[0], "run") == 0)) {
            o->no_disk_check = 1;
        } else if (strcmp(a, "--unsafe") == 0) {
            o->unsafe = 1;
        } else if (strcmp(a, "--output-dir") == 0) {
            struct stat st;
            NEED_VALUE();
            if (stat(next, &st) != 0 || !S_ISDIR(st.st_mode)) {
                fprintf(stderr, "eefetch %s: --output-dir %s: no such folder\n", argv[0], next);
                return -1;
            }
            o->output_dir = next;
        } else if (strcmp(a, "--max-memory") == 0) {
            char *end;
            double mib;
            NEED_VALUE();
            mib = strtod(next, &end);
            if (*end || mib < 1) {
                fprintf(stderr, "eefetch %s: --max-memory takes MiB (>= 1)\n", argv[0]);
                return -1;
            }
            o->max_memory = (size_t)(mib * 1048576.0);
        } else if (strcmp(a, "--max-instructions") == 0) {
            char *end;
            double n;
            NEED_VALUE();
            n = strtod(next, &end);
            if (*end || n < 0) {
                fprintf(stderr, "eefetch %s: --max-instructions takes a count\n", argv[0]);
                return -1;
            }
            o->max_instructions = (long long)n;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            o->verbose = 1;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "eefetch %s: unknown option %s\n", argv[0], a);
            return -1;
        } else if (!*positional) {
            *positional = a;
        } else {
            fprintf(stderr, "eefetch %s: unexpected argument %s\n", argv[0], a);
            return -1;
        }
#undef NEED_VALUE
    }
    if (o->endpoint && o->emulator) {
        fprintf(stderr, "eefetch %s: give either --endpoint or --emulator\n", argv[0]);
        return -1;
    }
    return 0;
}

static void host_close(struct host *h)
{
    host_state_close(h);
    if (h->session)
        session_destroy(h->session);
    if (h->auth)
        auth_destroy(h->auth);
    if (h->emu)
        emu_stop(h->emu);
    free(h);
}

static struct host *host_open(const struct host_opts *o, const char *recipe)
{
    struct host *h = calloc(1, sizeof *h);
    struct errbuf e;

    if (!h) {
        fprintf(stderr, "eefetch: out of memory\n");
        return NULL;
    }
    h->opts = *o;
    if (!o->unsafe)
        host_guard_gdal();
    if (o->verbose)
        log_set_level(LOG_DEBUG);
    if (recipe) {
        snprintf(h->recipe_path, sizeof h->recipe_path, "%s", recipe);
        (void)path_dir(recipe, h->recipe_dir, sizeof h->recipe_dir);
    }
    if (o->emulator) {
        /* Started up front so that the recipe's first call is not slowed. */
        if (host_ensure_session(h, &e) != 0) {
            fprintf(stderr, "eefetch: %s\n", e.msg);
            free(h);
            return NULL;
        }
        log_debug("emulator at %s", h->endpoint);
    }
    if (host_state_open(h, &e) != 0) {
        fprintf(stderr, "eefetch: %s\n", e.msg);
        host_close(h);
        return NULL;
    }
    return h;
}

static void report(const struct errbuf *e)
{
    fprintf(stderr, "eefetch: %s\n", e->msg);
}

static int cmd_recipe(int argc, char **argv, int plan_only)
{
    struct host_opts o;
    const char *path;
    struct host *h;
    struct buf text;
    struct errbuf e;
    char chunk[4200];
    int rc = parse_opts(argc, argv, &o, &path);

    if (rc != 0 || !path) {
        usage(rc == 1 ? stdout : stderr, argv[0]);
        return rc == 1 ? 0 : 2;
    }
    buf_init(&text, (size_t)16 << 20);
    if (buf_read_file(&text, path) != 0) {
        fprintf(stderr, "eefetch: cannot read the recipe %s\n", path);
        buf_free(&text);
        return 2;
    }
    h = host_open(&o, path);
    if (!h) {
        buf_free(&text);
        return 1;
    }
    if (plan_only) {
        /* plan: download{} plans instead of fetching. */
        lua_pushboolean(h->L, 1);
        lua_setfield(h->L, LUA_REGISTRYINDEX, "eefetch.plan_only");
    }
    snprintf(chunk, sizeof chunk, "@%s", path);
    rc = host_run_chunk(h, text.data ? text.data : "", text.len, chunk, 0, &e);
    buf_free(&text);
    if (rc != 0) {
        report(&e);
    } else if (plan_only && h->plan_problems) {
        /* A plan is a check before a run: a script can rely on the status. */
        fprintf(stderr, "eefetch plan: %d download(s) would stop before fetching (see the 'problem' lines)\n",
                h->plan_problems);
        rc = 1;
    }
    host_close(h);
    return rc == 0 ? 0 : 1;
}

int host_cmd_run(int argc, char **argv) { return cmd_recipe(argc, argv, 0); }
int host_cmd_plan(int argc, char **argv) { return cmd_recipe(argc, argv, 1); }

int host_cmd_eval(int argc, char **argv)
{
    struct host_opts o;
    const char *code;
    struct host *h;
    struct errbuf e;
    int rc = parse_opts(argc, argv, &o, &code);

    if (rc != 0 || !code) {
        usage(rc == 1 ? stdout : stderr, argv[0]);
        return rc == 1 ? 0 : 2;
    }
    h = host_open(&o, NULL);
    if (!h)
        return 1;
    rc = host_eval_show(h, code, strlen(code), "=(eval)", &e);
    if (rc != 0)
        report(&e);
    host_close(h);
    return rc == 0 ? 0 : 1;
}

int host_cmd_repl(int argc, char **argv)
{
    struct host_opts o;
    const char *extra;
    struct host *h;
    int rc = parse_opts(argc, argv, &o, &extra);

    if (rc != 0 || extra) {
        usage(rc == 1 ? stdout : stderr, argv[0]);
        return rc == 1 ? 0 : 2;
    }
    h = host_open(&o, NULL);
    if (!h)
        return 1;
    rc = host_repl(h);
    host_close(h);
    return rc;
}
