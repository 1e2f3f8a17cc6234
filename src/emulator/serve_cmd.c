/*
 * `eefetch serve`: runs the emulator in the foreground until SIGINT or
 * SIGTERM. The signals are blocked before the server threads start (they
 * inherit the mask) and collected with sigwait, so no handler runs inside a
 * server thread.
 */
#include "emulator/emu.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emulator/handlers.h"
#include "util/log.h"
#include "util/timeutil.h"

/* Every pixel request allocates tens of MiB (rasters, the encoded body) and
 * frees them again. With glibc's defaults those blocks are mmap'ed and
 * unmapped each time, so the kernel zeroes fresh pages for every request,
 * which cost more CPU than computing the pixels. Keeping freed memory in the
 * heap for reuse trades a higher resident size (the peak stays mapped) for
 * about 2.5x the throughput. Done by the serve command only: it is a
 * process-wide setting. */
static void tune_malloc(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
#endif
}

static void serve_usage(FILE *out)
{
    fprintf(out,
        "usage: eefetch serve [options]\n"
        "\n"
        "Runs the offline Earth Engine REST emulator (docs/emulator.md).\n"
        "\n"
        "  --bind ADDR                 numeric address to listen on (default 127.0.0.1)\n"
        "  --port N                    port; 0 picks a free one (default 8080)\n"
        "  --seed N                    seed of every random fault (default 0)\n"
        "  --concurrency N             concurrent requests per project before 429 (default 40; 0 = no limit)\n"
        "  --latency-ms MS             server time per request (default 0)\n"
        "  --latency-per-mib-ms MS     extra server time per MiB of response (default 0)\n"
        "  --latency-per-image-ms MS   extra server time per image read or reduced (default 0)\n"
        "  --memory-limit BYTES        work above it fails with 'User memory limit exceeded.'\n"
        "                              (suffixes K, M, G = KiB, MiB, GiB; default 0 = off)\n"
        "  --fail-429 P                probability of a random 429 per request (default 0)\n"
        "  --fail-500 P                probability of a 500 per request\n"
        "  --fail-503 P                probability of a 503 per request\n"
        "  --fail-reset P              probability that the connection is closed without an answer\n"
        "  --fail-truncate P           probability that the body is cut short (Content-Length kept)\n"
        "  --request-log FILE          append one JSON line per request to FILE\n"
        "  --bucket-dir DIR            Cloud Storage buckets: bucket B is the folder DIR/B\n"
        "                              (exports write there; default: none, exports fail)\n"
        "  --export-running N          export tasks RUNNING at once per project (default 2)\n"
        "  --export-pending-limit N    PENDING tasks per project before image:export answers\n"
        "                              429 (default 3000)\n"
        "  --export-queue-ms MS        least time a task stays PENDING (default 0)\n"
        "  --export-ms-per-mpixel MS   modelled running time per million pixels (default 0)\n"
        "  --export-fail P             probability that an export task FAILS (default 0)\n"
        "  --asset ID=PATH             serve a local GeoTIFF as image asset ID (repeatable, up to %d)\n"
        "  --catalog-until YYYY-MM-DD  collections hold only images acquired on or before\n"
        "                              that day (UTC), as if queried then (default: all)\n"
        "  --require-auth / --no-auth  whether EE routes need a bearer token (default: yes)\n"
        "  --token-lifetime SECONDS    lifetime of issued tokens (default 3600)\n"
        "  --projects A,B              registered projects; others get 403 (default: any)\n"
        "  --credentials-dir DIR       where trusted keys live\n"
        "  --write-credentials DIR     write credentials this server trusts into DIR once up\n"
        "  --verbose                   log requests and server details to stderr\n"
        "  --help                      this text\n"
        "\n"
        "Prints 'eefetch emulator listening on http://ADDR:PORT' once ready; stops on\n"
        "SIGINT or SIGTERM with status 0.\n",
        EMU_MAX_ASSETS);
}

static int parse_double(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(v, &end);
    if (errno || end == v || *end || d < lo || d > hi) {
        fprintf(stderr, "eefetch serve: %s wants a number in [%g, %g], got '%s'\n", opt, lo, hi, v);
        return -1;
    }
    *out = d;
    return 0;
}

static int parse_int(const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi) {
        fprintf(stderr, "eefetch serve: %s wants an integer in [%ld, %ld], got '%s'\n", opt, lo,
                hi, v);
        return -1;
    }
    *out = n;
    return 0;
}

static int parse_bytes(const char *opt, const char *v, int64_t *out)
{
    char *end;
    unsigned long long n;
    int64_t mult = 1;

    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno || end == v || v[0] == '-')
        goto bad;
    if (*end == 'K' || *end == 'k')
        mult = 1024;
    else if (*end == 'M' || *end == 'm')
        mult = 1024 * 1024;
    else if (*end == 'G' || *end == 'g')
        mult = 1024 * 1024 * 1024;
    else if (*end)
        goto bad;
    if (mult > 1 && end[1] && strcmp(end + 1, "iB") != 0 && strcmp(end + 1, "B") != 0)
        goto bad;
    if (n > (unsigned long long)INT64_MAX / (unsigned long long)mult)
        goto bad;
    *out = (int64_t)n * mult;
    return 0;
bad:
    fprintf(stderr, "eefetch serve: %s wants a byte count (e.g. 104857600 or 100M), got '%s'\n",
            opt, v);
    return -1;
}

/* "YYYY-MM-DD" -> epoch ms of the next day's midnight UTC (the exclusive end
 * of that day). Exactly that form: a time of day would be ambiguous. */
static int parse_until(const char *opt, const char *v, int64_t *out)
{
    char back[40];
    int64_t ms = 0;
    int i;

    for (i = 0; i < 10; i++)
        if (!v[i] || (i == 4 || i == 7 ? v[i] != '-' : (v[i] < '0' || v[i] > '9')))
            break;
    /* Formatting the date back refuses days a month does not have. */
    if (i == 10 && !v[10] && time_parse_iso(v, &ms) == 0)
        time_format_rfc3339(ms, back, sizeof back);
    else
        back[0] = '\0';
    if (i < 10 || strncmp(back, v, 10) != 0) {
        fprintf(stderr, "eefetch serve: %s wants a date YYYY-MM-DD, got '%s'\n", opt, v);
        return -1;
    }
    *out = ms + 86400000LL;
    return 0;
}

struct serve_opts {
    struct emu_config cfg;
    const char *write_credentials;
    int verbose;
};

/* Parses argv (argv[0] is "serve"). Returns 0, 1 for --help, or -1. */
static int parse_args(int argc, char **argv, struct serve_opts *o)
{
    int i;

    emu_config_default(&o->cfg);
    /* Like EE, every EE route needs a bearer token unless --no-auth. */
    o->cfg.require_auth = 1;
    o->cfg.port = 8080;
    for (i = 1; i < argc; i++) {
        char name[64];
        const char *arg = argv[i], *val = NULL, *eq;
        long n;
        int need_value;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "eefetch serve: unexpected argument '%s'\n", arg);
            return -1;
        }
        eq = strchr(arg, '=');
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
        need_value = !(strcmp(name, "--require-auth") == 0 || strcmp(name, "--no-auth") == 0 ||
                       strcmp(name, "--verbose") == 0);
        if (need_value) {
            if (eq)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                fprintf(stderr, "eefetch serve: %s needs a value\n", name);
                return -1;
            }
        }

        if (strcmp(name, "--bind") == 0) {
            o->cfg.bind = val;
        } else if (strcmp(name, "--port") == 0) {
            if (parse_int(name, val, 0, 65535, &n) != 0)
                return -1;
            o->cfg.port = (int)n;
        } else if (strcmp(name, "--seed") == 0) {
            char *end;
            errno = 0;
            o->cfg.seed = strtoull(val, &end, 0);
            if (errno || end == val || *end) {
                fprintf(stderr, "eefetch serve: --seed wants an integer, got '%s'\n", val);
                return -1;
            }
        } else if (strcmp(name, "--concurrency") == 0) {
            if (parse_int(name, val, 0, 1000000, &n) != 0)
                return -1;
            o->cfg.concurrency_limit = (int)n;
        } else if (strcmp(name, "--latency-ms") == 0) {
            if (parse_double(name, val, 0, 3600e3, &o->cfg.latency_base_ms) != 0)
                return -1;
        } else if (strcmp(name, "--latency-per-mib-ms") == 0) {
            if (parse_double(name, val, 0, 3600e3, &o->cfg.latency_per_mib_ms) != 0)
                return -1;
        } else if (strcmp(name, "--latency-per-image-ms") == 0) {
            if (parse_double(name, val, 0, 3600e3, &o->cfg.latency_per_image_ms) != 0)
                return -1;
        } else if (strcmp(name, "--memory-limit") == 0) {
            if (parse_bytes(name, val, &o->cfg.memory_limit_bytes) != 0)
                return -1;
        } else if (strcmp(name, "--fail-429") == 0) {
            if (parse_double(name, val, 0, 1, &o->cfg.p_429) != 0)
                return -1;
        } else if (strcmp(name, "--fail-500") == 0) {
            if (parse_double(name, val, 0, 1, &o->cfg.p_500) != 0)
                return -1;
        } else if (strcmp(name, "--fail-503") == 0) {
            if (parse_double(name, val, 0, 1, &o->cfg.p_503) != 0)
                return -1;
        } else if (strcmp(name, "--fail-reset") == 0) {
            if (parse_double(name, val, 0, 1, &o->cfg.p_reset) != 0)
                return -1;
        } else if (strcmp(name, "--fail-truncate") == 0) {
            if (parse_double(name, val, 0, 1, &o->cfg.p_truncate) != 0)
                return -1;
        } else if (strcmp(name, "--request-log") == 0) {
            o->cfg.request_log = val;
        } else if (strcmp(name, "--bucket-dir") == 0) {
            o->cfg.bucket_dir = val;
        } else if (strcmp(name, "--export-running") == 0) {
            if (parse_int(name, val, 1, 16, &n) != 0)
                return -1;
            o->cfg.export_running_limit = (int)n;
        } else if (strcmp(name, "--export-pending-limit") == 0) {
            if (parse_int(name, val, 1, 1000000, &n) != 0)
                return -1;
            o->cfg.export_pending_limit = (int)n;
        } else if (strcmp(name, "--export-queue-ms") == 0) {
            if (parse_double(name, val, 0, 86400e3, &o->cfg.export_queue_ms) != 0)
                return -1;
        } else if (strcmp(name, "--export-ms-per-mpixel") == 0) {
            if (parse_double(name, val, 0, 86400e3, &o->cfg.export_ms_per_mpixel) != 0)
                return -1;
        } else if (strcmp(name, "--export-fail") == 0) {
            if (parse_double(name, val, 0, 1, &o->cfg.p_export_fail) != 0)
                return -1;
        } else if (strcmp(name, "--asset") == 0) {
            if (o->cfg.nassets == EMU_MAX_ASSETS) {
                fprintf(stderr, "eefetch serve: at most %d --asset options\n", EMU_MAX_ASSETS);
                return -1;
            }
            o->cfg.assets[o->cfg.nassets++] = val;
        } else if (strcmp(name, "--catalog-until") == 0) {
            if (parse_until(name, val, &o->cfg.catalog_until_ms) != 0)
                return -1;
            o->cfg.has_catalog_until = 1;
        } else if (strcmp(name, "--require-auth") == 0) {
            o->cfg.require_auth = 1;
        } else if (strcmp(name, "--no-auth") == 0) {
            o->cfg.require_auth = 0;
        } else if (strcmp(name, "--verbose") == 0) {
            o->verbose = 1;
        } else if (strcmp(name, "--token-lifetime") == 0) {
            if (parse_int(name, val, 1, 86400 * 365, &n) != 0)
                return -1;
            o->cfg.token_lifetime_s = (int)n;
        } else if (strcmp(name, "--projects") == 0) {
            o->cfg.projects = val;
        } else if (strcmp(name, "--credentials-dir") == 0) {
            o->cfg.credentials_dir = val;
        } else if (strcmp(name, "--write-credentials") == 0) {
            o->write_credentials = val;
        } else {
            fprintf(stderr, "eefetch serve: unknown option '%s' (see eefetch serve --help)\n", name);
            return -1;
        }
    }
    return 0;
}

int emulator_cmd_serve(int argc, char **argv)
{
    struct serve_opts o;
    struct errbuf e;
    struct emu *s = NULL;
    sigset_t set;
    int rc, sig = 0, status = 0;

    memset(&o, 0, sizeof o);
    rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        serve_usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    if (o.verbose)
        log_set_level(LOG_DEBUG);
    tune_malloc();

    /* Block the stop signals here, before any server thread exists, so that
     * every thread inherits the mask and only sigwait below sees them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    err_clear(&e);
    if (emu_start(&o.cfg, &s, &e) != 0) {
        fprintf(stderr, "eefetch serve: %s\n", e.msg);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        return 1;
    }
    if (o.write_credentials) {
        if (emu_write_credentials(s, o.write_credentials, &e) != 0) {
            fprintf(stderr, "eefetch serve: --write-credentials: %s\n", e.msg);
            status = 1;
            goto stop;
        }
        printf("eefetch emulator wrote credentials to %s\n", o.write_credentials);
    }
    printf("eefetch emulator listening on %s\n", emu_base_url(s));
    fflush(stdout);

    while (sigwait(&set, &sig) != 0)
        ;
    log_debug("eefetch serve: signal %d, stopping", sig);
stop:
    emu_stop(s);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return status;
}
