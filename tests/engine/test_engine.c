/*
 * The engine against the real emulator (in-process, loopback, port 0) over
 * real HTTP: every output is compared with tests/emulator/reference.py by
 * check_output.py, never with the code that produced it. Scenarios: a clean
 * run (NPY and GeoTIFF), injected 500/503/429/resets/truncations, memory
 * limit splits, a stop and resume, a changed plan, a fatal error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gdal.h>

#include "../unit/check.h"
#include "core/engine.h"
#include "core/mosaic.h"
#include "core/quicklook.h"
#include "emulator/emu.h"

#define SRTM_EXPR                                                                                          \
    "{\"result\":\"0\",\"values\":{\"0\":{\"functionInvocationValue\":{\"functionName\":\"Image.select\"," \
    "\"arguments\":{\"input\":{\"functionInvocationValue\":{\"functionName\":\"Image.load\",\"arguments\":" \
    "{\"id\":{\"constantValue\":\"USGS/SRTMGL1_003\"}}}},\"bandSelectors\":{\"constantValue\":"           \
    "[\"elevation\"]}}}}}}"

/* SRTM elevation masked where it is not above 950 m (about half of the
 * grid below), plus the 0/1 band elevation > 950 named eefetch_mask: what
 * the recipe layer asks for when no nodata value is free. */
#define MASK_THRESHOLD 950
#define MASKED_EXPR                                                                                           \
    "{\"result\":\"0\",\"values\":{\"0\":{\"functionInvocationValue\":{\"functionName\":\"Image.addBands\"," \
    "\"arguments\":{\"dstImg\":{\"valueReference\":\"1\"},\"srcImg\":{\"functionInvocationValue\":{"          \
    "\"functionName\":\"Image.rename\",\"arguments\":{\"input\":{\"functionInvocationValue\":{\"functionName\":" \
    "\"Image.toUint8\",\"arguments\":{\"value\":{\"valueReference\":\"3\"}}}},\"names\":{\"constantValue\":"   \
    "[\"eefetch_mask\"]}}}}}}},\"1\":{\"functionInvocationValue\":{\"functionName\":\"Image.updateMask\","        \
    "\"arguments\":{\"image\":{\"valueReference\":\"2\"},\"mask\":{\"valueReference\":\"3\"}}}},\"2\":{"      \
    "\"functionInvocationValue\":{\"functionName\":\"Image.select\",\"arguments\":{\"input\":{"                 \
    "\"functionInvocationValue\":{\"functionName\":\"Image.load\",\"arguments\":{\"id\":{\"constantValue\":"  \
    "\"USGS/SRTMGL1_003\"}}}},\"bandSelectors\":{\"constantValue\":[\"elevation\"]}}}},\"3\":{"                 \
    "\"functionInvocationValue\":{\"functionName\":\"Image.gt\",\"arguments\":{\"image1\":{"                    \
    "\"valueReference\":\"2\"},\"image2\":{\"constantValue\":950}}}}}}"

#define W 200
#define H 150

static char dir[256];
static const char *src_dir;
/* SRTM's native grid east of San Francisco (hills: every pixel non-zero and
 * varied); pixel edges on half arc-seconds. */
static const double AFF[6] = {1.0 / 3600, 0, -122.0 - 0.5 / 3600, 0, -1.0 / 3600, 37.9 + 0.5 / 3600};

static void spec_srtm(struct download_spec *s, const char *out)
{
    spec_init(s);
    s->expression = strdup(SRTM_EXPR);
    s->nbands = 1;
    s->bands = calloc(1, sizeof *s->bands);
    s->bands[0].id = strdup("elevation");
    s->bands[0].type = SPEC_DTYPE_INT16;
    s->grid.kind = SPEC_GRID_EXACT;
    s->grid.crs = strdup("EPSG:4326");
    memcpy(s->grid.transform, AFF, sizeof AFF);
    s->grid.width = W;
    s->grid.height = H;
    s->block_size = 64;
    s->max_tile_bytes = 64 * 64 * 3;   /* int16 + mask byte: 64x64 tiles, 12 of them */
    s->workers = 4;
    s->project = strdup("test-project");
    s->output = strdup(out);
}

static int check_pixels(const char *out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/engine/check_output.py %s EPSG:4326 %.17g %.17g %.17g %.17g %.17g %.17g "
             "%d %d USGS/SRTMGL1_003 elevation",
             src_dir, out, AFF[0], AFF[1], AFF[2], AFF[3], AFF[4], AFF[5], W, H);
    return system(cmd) == 0;
}

/* Region: the triangle with corners at the grid's top-left corner, 170.25
 * pixels right of it and 120.25 pixels below it (no pixel centre on an edge). */
static int check_pixels_triangle(const char *out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/engine/check_output.py --triangle 170.25 120.25 -32768 %s EPSG:4326 "
             "%.17g %.17g %.17g %.17g %.17g %.17g %d %d USGS/SRTMGL1_003 elevation",
             src_dir, out, AFF[0], AFF[1], AFF[2], AFF[3], AFF[4], AFF[5], W, H);
    return system(cmd) == 0;
}

/* A spec_srtm spec made MASKED_EXPR's: elevation, then eefetch_mask as the
 * mask band. known_types: the bands' types given (int16, uint8), else left
 * to the answers. together: a budget that fetches both bands in one request
 * (a heterogeneous NPY); otherwise each band has its own requests. */
static void spec_mask(struct download_spec *s, int known_types, int together)
{
    free(s->expression);
    s->expression = strdup(MASKED_EXPR);
    free(s->bands[0].id);
    free(s->bands);
    s->nbands = 2;
    s->bands = calloc(2, sizeof *s->bands);
    s->bands[0].id = strdup("elevation");
    s->bands[1].id = strdup("eefetch_mask");
    if (known_types) {
        s->bands[0].type = SPEC_DTYPE_INT16;
        s->bands[1].type = SPEC_DTYPE_UINT8;
    }
    s->mask_band = 1;
    if (together)
        s->max_tile_bytes = 64 * 64 * 5;   /* int16 + uint8, a mask byte each */
}

/* check_mask.py on out (opts: its options, may be ""). */
static int check_mask(const char *out, const char *opts)
{
    char cmd[2600];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/engine/check_mask.py %s %s EPSG:4326 %.17g %.17g %.17g %.17g %.17g %.17g "
             "%d %d %d",
             src_dir, opts, out, AFF[0], AFF[1], AFF[2], AFF[3], AFF[4], AFF[5], W, H, MASK_THRESHOLD);
    return system(cmd) == 0;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* One scenario's fixture: the emulator's faults and limits and the output
 * (a file in dir). Fields left out are off: no fault, no limit, no log. */
struct fixture {
    const char *out;            /* file name in dir */
    const char *log;            /* the emulator's request log, a file name in dir */
    double p500, p503, p429, p_reset, p_truncate;   /* fault probabilities */
    long memory_limit;          /* bytes a computation may read */
    int concurrency_limit;      /* requests at once per project; 0: EE's quota */
    double latency_ms;          /* per request */
    int mask;                   /* spec_mask(types known, bands together) over spec_srtm */
};

/* What a scenario runs with and what it gets back. */
struct scenario {
    struct emu *emu;
    struct download_spec s;
    struct engine_opts o;
    struct engine_summary sum;
    struct errbuf e;
    char out[512];
    char log[512];
};

static struct emu *start_emu(const struct fixture *f, const char *log)
{
    struct emu_config cfg;
    struct emu *emu = NULL;
    struct errbuf e;

    emu_config_default(&cfg);
    cfg.request_log = log;
    cfg.port = 0;
    cfg.seed = 7;
    cfg.p_500 = f->p500;
    cfg.p_503 = f->p503;
    cfg.p_429 = f->p429;
    cfg.p_reset = f->p_reset;
    cfg.p_truncate = f->p_truncate;
    cfg.memory_limit_bytes = f->memory_limit;
    if (f->concurrency_limit)
        cfg.concurrency_limit = f->concurrency_limit;
    cfg.latency_base_ms = f->latency_ms;
    if (emu_start(&cfg, &emu, &e) != 0) {
        fprintf(stderr, "emulator: %s\n", e.msg);
        return NULL;
    }
    return emu;
}

static void opts_for(struct engine_opts *o, const struct download_spec *s, struct emu *emu)
{
    memset(o, 0, sizeof *o);
    o->spec = s;
    o->endpoint = emu_base_url(emu);
    o->timeout_ms = 20000;
    o->backoff_base_ms = 5;   /* fast retries in tests */
    o->backoff_cap_ms = 50;
    o->seed = 42;
}

/* A new spec_srtm spec writing dir/name, with options for the emulator. */
static void scenario_spec(struct scenario *sc, const char *name)
{
    snprintf(sc->out, sizeof sc->out, "%s/%s", dir, name);
    spec_srtm(&sc->s, sc->out);
    opts_for(&sc->o, &sc->s, sc->emu);
}

/* The emulator of f and a spec for it; 0 (and a failed check) when the
 * emulator does not start. */
static int scenario_start(struct scenario *sc, const struct fixture *f)
{
    memset(sc, 0, sizeof *sc);
    if (f->log)
        snprintf(sc->log, sizeof sc->log, "%s/%s", dir, f->log);
    sc->emu = start_emu(f, f->log ? sc->log : NULL);
    CHECK(sc->emu != NULL);
    if (!sc->emu)
        return 0;
    scenario_spec(sc, f->out);
    if (f->mask)
        spec_mask(&sc->s, 1, 1);
    return 1;
}

/* The next spec on the same emulator. */
static void scenario_next(struct scenario *sc, const char *name)
{
    spec_free(&sc->s);
    scenario_spec(sc, name);
}

/* engine_run; a failure is shown under `what` (NULL: one is expected). */
static int scenario_run(struct scenario *sc, const char *what)
{
    int rc = engine_run(&sc->o, &sc->sum, &sc->e);

    if (rc != 0 && what)
        fprintf(stderr, "%s run: %s\n", what, sc->e.msg);
    return rc;
}

static void scenario_end(struct scenario *sc)
{
    spec_free(&sc->s);
    emu_stop(sc->emu);
}

static void test_clean(int geotiff)
{
    struct scenario sc;
    char out[32], log[32], j[600], cmd[2048];

    snprintf(out, sizeof out, "clean%d.tif", geotiff);
    snprintf(log, sizeof log, "clean%d.log", geotiff);
    if (!scenario_start(&sc, &(struct fixture){.out = out, .log = log}))
        return;
    snprintf(j, sizeof j, "%s.eefetch-journal", sc.out);
    if (geotiff)
        sc.s.fetch_format = SPEC_FETCH_GEOTIFF;
    CHECK(scenario_run(&sc, "clean") == 0);
    CHECK(sc.sum.tiles_total == 12 && sc.sum.tiles_fetched == 12 && sc.sum.requests == 12 && sc.sum.retries == 0);
    CHECK(exists(sc.out) && !exists(j));
    CHECK(check_pixels(sc.out));
    /* On the wire: exact sub-grids that partition the grid, under the budget. */
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/engine/check_requests.py %s %d %.17g %.17g %.17g %.17g %d %d elevation:2",
             src_dir, sc.log, 64 * 64 * 3, AFF[0], AFF[2], AFF[4], AFF[5], W, H);
    CHECK(system(cmd) == 0);
    /* Running again: the output is complete and of the same plan, so
     * nothing is done; with another plan it is not silently replaced. */
    CHECK(scenario_run(&sc, NULL) == 0 && sc.sum.skipped && sc.sum.requests == 0 && sc.sum.tiles_fetched == 0 &&
          sc.sum.tiles_resumed == 12);
    sc.s.max_tile_bytes = 32 * 32 * 3;
    CHECK(scenario_run(&sc, NULL) == ERR_USAGE && strstr(sc.e.msg, "different plan") && sc.sum.requests == 0);
    sc.s.max_tile_bytes = 64 * 64 * 3;
    sc.s.existing = SPEC_EXISTING_SKIP;
    CHECK(scenario_run(&sc, NULL) == 0 && sc.sum.requests == 0);
    sc.s.existing = SPEC_EXISTING_FAIL;
    CHECK(scenario_run(&sc, NULL) == ERR_USAGE && sc.sum.requests == 0);
    scenario_end(&sc);
}

static void test_faults(void)
{
    struct scenario sc;

    if (!scenario_start(&sc, &(struct fixture){.out = "faults.tif", .p500 = 0.15, .p503 = 0.1, .p429 = 0.1,
                                               .p_reset = 0.05, .p_truncate = 0.1}))
        return;
    sc.s.max_retries = 12;
    CHECK(scenario_run(&sc, "faults") == 0);
    CHECK(sc.sum.retries > 0 && sc.sum.requests == 12 + sc.sum.retries);
    CHECK(check_pixels(sc.out));
    scenario_end(&sc);
}

static void test_split(void)
{
    struct scenario sc;

    /* 64x64 int16 reads 8192 bytes of SRTM: over the limit; 32x32 is under. */
    if (!scenario_start(&sc, &(struct fixture){.out = "split.tif", .memory_limit = 5000}))
        return;
    CHECK(scenario_run(&sc, "split") == 0 && sc.sum.splits > 0 && sc.sum.tiles_fetched == 12);
    /* 12 tiles of 4 pieces each: once whole tiles are seen to fail, later
     * tiles start split, so far fewer than one failure per tile. */
    CHECK(sc.sum.requests - sc.sum.splits >= 12 && sc.sum.splits < 12);
    CHECK(check_pixels(sc.out));
    scenario_end(&sc);

    /* A limit no tile can meet: a fatal error with EE's message and a hint. */
    if (!scenario_start(&sc, &(struct fixture){.out = "split_fail.tif", .memory_limit = 1}))
        return;
    CHECK(scenario_run(&sc, NULL) == ERR_SERVER && strstr(sc.e.msg, "User memory limit exceeded") &&
          strstr(sc.e.msg, "hint"));
    CHECK(!exists(sc.out));
    scenario_end(&sc);
}

static volatile sig_atomic_t stop_flag;

static void stop_after_5(const struct engine_event *ev, void *ud)
{
    (void)ud;
    if (ev->kind == ENGINE_EV_TILE_DONE && ev->tiles_done >= 5)
        stop_flag = 1;
}

static void test_resume(void)
{
    struct scenario sc;
    char j[600];
    size_t first;

    if (!scenario_start(&sc, &(struct fixture){.out = "resume.tif"}))
        return;
    snprintf(j, sizeof j, "%s.eefetch-journal", sc.out);
    sc.s.workers = 1;
    sc.o.stop = &stop_flag;
    sc.o.on_event = stop_after_5;
    CHECK(scenario_run(&sc, NULL) == ERR_INTERRUPTED && strstr(sc.e.msg, "resume"));
    CHECK(!exists(sc.out) && exists(j));
    first = sc.sum.tiles_fetched;
    CHECK(first >= 5 && first < 12);

    /* A journaled tile whose stored piece is gone is fetched again. */
    {
        char piece[700];
        snprintf(piece, sizeof piece, "%s.eefetch-parts/t0_0.px", sc.out);
        CHECK(unlink(piece) == 0);
    }

    /* A changed plan is refused while the journal exists. */
    sc.s.block_size = 32;
    CHECK(scenario_run(&sc, NULL) == ERR_USAGE && strstr(sc.e.msg, "overwrite"));
    sc.s.block_size = 64;

    stop_flag = 0;
    sc.o.on_event = NULL;
    CHECK(scenario_run(&sc, "resume") == 0 && sc.sum.tiles_resumed == first - 1 &&
          sc.sum.tiles_fetched == 12 - first + 1);
    CHECK(sc.sum.requests == 12 - first + 1);
    CHECK(exists(sc.out) && !exists(j));
    CHECK(check_pixels(sc.out));
    scenario_end(&sc);
}

static void test_fatal(void)
{
    struct scenario sc;
    char *p;

    if (!scenario_start(&sc, &(struct fixture){.out = "fatal.tif"}))
        return;
    p = strstr(sc.s.expression, "SRTMGL1_003");
    memcpy(p, "SRTMGL1_XXX", 11);
    CHECK(scenario_run(&sc, NULL) == ERR_SERVER && strstr(sc.e.msg, "HTTP 4") != NULL);
    CHECK(sc.sum.requests < 12);   /* stopped promptly, not one failure per tile */
    CHECK(!exists(sc.out));
    scenario_end(&sc);
}

/* The triangle region of check_pixels_triangle as GeoJSON, into s. */
static void triangle_region(struct download_spec *s)
{
    char gj[512];
    double x0 = AFF[2], y0 = AFF[5], px = AFF[0];

    snprintf(gj, sizeof gj,
             "{\"type\":\"Polygon\",\"coordinates\":[[[%.17g,%.17g],[%.17g,%.17g],[%.17g,%.17g],[%.17g,%.17g]]]}",
             x0, y0, x0 + 170.25 * px, y0, x0, y0 - 120.25 * px, x0, y0);
    s->region.kind = SPEC_REGION_GEOJSON;
    s->region.geojson = strdup(gj);
}

static void test_polygon(void)
{
    struct scenario sc;

    if (!scenario_start(&sc, &(struct fixture){.out = "polygon.tif"}))
        return;
    triangle_region(&sc.s);
    sc.s.has_nodata = 1;
    sc.s.nodata = -32768;
    /* Of the 4x3 tiles of 64 px, those whose top-left corner (c, r) has
     * c/170.25 + r/120.25 >= 1 lie wholly outside: (192,0), (128,64), (192,64)
     * and the whole row at 128. */
    CHECK(scenario_run(&sc, "polygon") == 0 && sc.sum.tiles_skipped == 7 && sc.sum.tiles_total == 5 &&
          sc.sum.requests == 5);
    CHECK(check_pixels_triangle(sc.out));
    scenario_end(&sc);
}

static int journal_records(const char *path)
{
    FILE *f = fopen(path, "r");
    int c, n = 0;

    if (!f)
        return 0;
    while ((c = fgetc(f)) != EOF)
        if (c == '\n')
            n++;
    fclose(f);
    return n > 0 ? n - 1 : 0;   /* minus the header */
}

/* kill -9 in the middle of a run (a child process with its own emulator),
 * then the same spec again: only unfinished tiles are fetched and the
 * pixels are those of an uninterrupted run. */
static void test_kill9(int mask)
{
    struct fixture f = {.out = mask ? "kill9_mask.tif" : "kill9.tif", .mask = mask};
    struct scenario sc;
    char out[512], j[600];
    pid_t pid;
    int status = 0, waited = 0;

    snprintf(out, sizeof out, "%s/%s", dir, f.out);
    snprintf(j, sizeof j, "%s.eefetch-journal", out);
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        f.latency_ms = 40;   /* slow enough to be killed mid-run */
        memset(&sc, 0, sizeof sc);
        if (!(sc.emu = start_emu(&f, NULL)))
            _exit(3);
        scenario_spec(&sc, f.out);
        if (mask)
            spec_mask(&sc.s, 1, 1);
        sc.s.workers = 2;
        engine_run(&sc.o, &sc.sum, &sc.e);
        _exit(4);   /* not reached when killed in time */
    }
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    while (journal_records(j) < 4 && waited < 20000) {
        usleep(5000);
        waited += 5;
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(!exists(out) && exists(j));

    if (!scenario_start(&sc, &f))
        return;
    CHECK(scenario_run(&sc, "after kill -9") == 0 && sc.sum.tiles_resumed >= 4 && sc.sum.tiles_resumed < 12);
    CHECK(sc.sum.tiles_fetched == 12 - sc.sum.tiles_resumed && sc.sum.requests == sc.sum.tiles_fetched);
    CHECK(mask ? check_mask(sc.out, "") : check_pixels(sc.out));
    scenario_end(&sc);
}

static int min_concurrency;

static void track_concurrency(const struct engine_event *ev, void *ud)
{
    (void)ud;
    if (ev->kind == ENGINE_EV_CONCURRENCY && ev->concurrency < min_concurrency)
        min_concurrency = ev->concurrency;
}

/* A project quota of 2 concurrent requests and 8 requests at once: 429s
 * (with Retry-After: 1) cut the concurrency, the download still completes. */
static void test_aimd(void)
{
    struct scenario sc;

    if (!scenario_start(&sc, &(struct fixture){.out = "aimd.tif", .concurrency_limit = 2, .latency_ms = 30}))
        return;
    sc.s.workers = 8;
    sc.s.max_retries = 20;
    sc.o.initial_concurrency = 8;
    sc.o.on_event = track_concurrency;
    min_concurrency = 8;
    CHECK(scenario_run(&sc, "aimd") == 0 && sc.sum.http_429 > 0);
    CHECK(min_concurrency < 8);
    /* Backoff here is at most 50 ms: only Retry-After explains a second. */
    CHECK(sc.sum.seconds >= 1.0);
    CHECK(check_pixels(sc.out));
    scenario_end(&sc);
}

/* No 429s: slow start takes the level from 16 to all 40 workers within the
 * first two dozen answers (plain +1 per window would need several hundred,
 * far more than the 35 tiles here). */
static void test_slow_start(void)
{
    struct scenario sc;

    if (!scenario_start(&sc, &(struct fixture){.out = "slowstart.tif", .latency_ms = 20}))
        return;
    sc.s.block_size = 32;
    sc.s.max_tile_bytes = 32 * 32 * 3;
    sc.s.workers = 40;
    CHECK(scenario_run(&sc, "slow start") == 0 && sc.sum.http_429 == 0 && sc.sum.tiles_total == 35);
    if (sc.sum.max_concurrency != 40)
        fprintf(stderr, "slow start reached %d of 40\n", sc.sum.max_concurrency);
    CHECK(sc.sum.max_concurrency == 40);
    CHECK(check_pixels(sc.out));
    scenario_end(&sc);
}

/* Three Sentinel-2 bands of mixed types (uint8 SCL, uint16 B4 and B11) on a
 * UTM grid, with a budget that puts SCL+B4 in one request (a heterogeneous
 * NPY) and B11 in another: band groups are stitched into one file. */
static void test_band_groups(void)
{
    static const char *img = "COPERNICUS/S2_SR_HARMONIZED/20230105T183751_20230105T183750_T10SEG";
    static const double utm[6] = {10, 0, 520000, 0, -10, 4180000};
    static const char *const ids[3] = {"SCL", "B4", "B11"};
    static const enum spec_dtype types[3] = {SPEC_DTYPE_UINT8, SPEC_DTYPE_UINT16, SPEC_DTYPE_UINT16};
    struct scenario sc;
    char expr[1024], cmd[2048];
    int b;

    if (!scenario_start(&sc, &(struct fixture){.out = "bands.tif", .log = "bands.log"}))
        return;
    snprintf(expr, sizeof expr,
             "{\"result\":\"0\",\"values\":{\"0\":{\"functionInvocationValue\":{\"functionName\":"
             "\"Image.select\",\"arguments\":{\"input\":{\"functionInvocationValue\":{\"functionName\":"
             "\"Image.load\",\"arguments\":{\"id\":{\"constantValue\":\"%s\"}}}},\"bandSelectors\":"
             "{\"constantValue\":[\"SCL\",\"B4\",\"B11\"]}}}}}}",
             img);
    free(sc.s.expression);
    sc.s.expression = strdup(expr);
    free(sc.s.bands[0].id);
    free(sc.s.bands);
    sc.s.nbands = 3;
    sc.s.bands = calloc(3, sizeof *sc.s.bands);
    for (b = 0; b < 3; b++) {
        sc.s.bands[b].id = strdup(ids[b]);
        sc.s.bands[b].type = types[b];
    }
    free(sc.s.grid.crs);
    sc.s.grid.crs = strdup("EPSG:32610");
    memcpy(sc.s.grid.transform, utm, sizeof utm);
    sc.s.max_tile_bytes = 64 * 64 * 5;   /* SCL+B4 = 2+3 bytes a pixel; B11 alone */
    sc.s.format = SPEC_FORMAT_COG;
    CHECK(scenario_run(&sc, "band groups") == 0 && sc.sum.band_group == 2 && sc.sum.tiles_total == 24 &&
          sc.sum.requests == 24);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/engine/check_output.py %s EPSG:32610 10 0 520000 0 -10 4180000 %d %d "
             "%s SCL %s B4 %s B11",
             src_dir, sc.out, W, H, img, img, img);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/engine/check_requests.py %s %d 10 520000 -10 4180000 %d %d SCL:1 B4:2 B11:2",
             src_dir, sc.log, 64 * 64 * 5, W, H);
    CHECK(system(cmd) == 0);
    scenario_end(&sc);
}

/* SRTM ends at 60 N: with a nodata value, pixels EE masks (north of it)
 * arrive as nodata instead of 0, via the unmasked expression. */
static void test_masked_nodata(void)
{
    static const double north[6] = {1.0 / 3600, 0, 10 - 0.5 / 3600, 0, -1.0 / 3600, 60.02 + 0.5 / 3600};
    struct scenario sc;
    char cmd[2048];

    if (!scenario_start(&sc, &(struct fixture){.out = "masked.tif"}))
        return;
    memcpy(sc.s.grid.transform, north, sizeof north);
    sc.s.has_nodata = 1;
    sc.s.nodata = -32768;
    CHECK(scenario_run(&sc, "masked") == 0);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/engine/check_output.py --nodata -32768 %s EPSG:4326 %.17g %.17g %.17g "
             "%.17g %.17g %.17g %d %d USGS/SRTMGL1_003 elevation",
             src_dir, sc.out, north[0], north[1], north[2], north[3], north[4], north[5], W, H);
    CHECK(system(cmd) == 0);
    scenario_end(&sc);
}

/* A 2x2 fishnet with a file per cell under a VRT at s->output. */
static void cells_vrt(struct download_spec *s)
{
    s->fishnet.rows = 2;
    s->fishnet.cols = 2;
    s->fishnet.split = SPEC_SPLIT_CELLS;
    s->format = SPEC_FORMAT_VRT;
}

/* fishnet 2x2 with split = "cells" and a VRT: four files, each on its own
 * piece of the grid, and a VRT over them that reads as the whole grid. */
static void test_cells_vrt(void)
{
    struct scenario sc;
    char cell[600];
    int r, c;

    if (!scenario_start(&sc, &(struct fixture){.out = "cells.vrt"}))
        return;
    cells_vrt(&sc.s);
    CHECK(scenario_run(&sc, "cells") == 0 && sc.sum.cells == 4);
    for (r = 0; r < 2; r++)
        for (c = 0; c < 2; c++) {
            snprintf(cell, sizeof cell, "%s/cells_r%d_c%d.tif", dir, r, c);
            CHECK(exists(cell));
        }
    CHECK(check_pixels(sc.out));
    scenario_end(&sc);
}

/* A mask band (spec.mask_band): the last band, 0/1, becomes the output's
 * internal per-dataset mask and the file has only the data band. Through
 * the streaming assembler (types known) with a stop and a resume, after
 * the last tile (types from the answers) as a COG with a polygon region and
 * the mask in requests of its own, from GeoTIFF answers (one type for both
 * bands), and as cells under a VRT; the quick-look shows masked pixels
 * black. */
static void test_mask_band(void)
{
    struct scenario sc;
    char png[600], opts[700], cell[600];
    size_t first;
    int r, c;

    /* One GeoTIFF, streamed; stopped after 5 tiles and resumed. */
    if (!scenario_start(&sc, &(struct fixture){.out = "mask.tif", .mask = 1}))
        return;
    sc.s.workers = 1;
    sc.o.stop = &stop_flag;
    sc.o.on_event = stop_after_5;
    stop_flag = 0;
    CHECK(scenario_run(&sc, NULL) == ERR_INTERRUPTED && !exists(sc.out));
    first = sc.sum.tiles_fetched;
    stop_flag = 0;
    sc.o.on_event = NULL;
    CHECK(scenario_run(&sc, "mask") == 0 && sc.sum.band_group == 2 && sc.sum.tiles_resumed == first &&
          sc.sum.tiles_fetched == 12 - first);
    snprintf(png, sizeof png, "%s/mask.png", dir);
    CHECK(quicklook_write(sc.out, png, NULL, &sc.e) == 0);
    snprintf(opts, sizeof opts, "--quicklook %s", png);
    CHECK(check_mask(sc.out, opts));

    /* A COG assembled after the last tile, the mask band fetched on its
     * own, pixels outside a triangle masked too. */
    scenario_next(&sc, "mask_cog.tif");
    spec_mask(&sc.s, 0, 0);
    sc.s.format = SPEC_FORMAT_COG;
    triangle_region(&sc.s);
    CHECK(scenario_run(&sc, "mask COG") == 0 && sc.sum.band_group == 1 && sc.sum.tiles_skipped > 0 &&
          sc.sum.tiles_total % 2 == 0);
    CHECK(check_mask(sc.out, "--cog --triangle 170.25 120.25"));

    /* GeoTIFF answers have one type for all bands: the mask band arrives
     * as int16 and is still the mask. */
    scenario_next(&sc, "mask_gt.tif");
    spec_mask(&sc.s, 1, 1);
    sc.s.fetch_format = SPEC_FETCH_GEOTIFF;
    CHECK(scenario_run(&sc, "mask geotiff") == 0);
    CHECK(check_mask(sc.out, ""));

    /* Cells under a VRT: each file has its mask, and so does the VRT. */
    scenario_next(&sc, "mask_cells.vrt");
    spec_mask(&sc.s, 1, 1);
    cells_vrt(&sc.s);
    CHECK(scenario_run(&sc, "mask cells") == 0 && sc.sum.cells == 4);
    for (r = 0; r < 2; r++)
        for (c = 0; c < 2; c++) {
            GDALDatasetH ds;
            snprintf(cell, sizeof cell, "%s/mask_cells_r%d_c%d.tif", dir, r, c);
            ds = GDALOpen(cell, GA_ReadOnly);
            CHECK(ds && GDALGetRasterCount(ds) == 1 &&
                  GDALGetMaskFlags(GDALGetRasterBand(ds, 1)) == GMF_PER_DATASET);
            if (ds)
                GDALClose(ds);
        }
    snprintf(png, sizeof png, "%s/mask_cells.png", dir);
    CHECK(quicklook_write(sc.out, png, NULL, &sc.e) == 0);
    snprintf(opts, sizeof opts, "--quicklook %s", png);
    CHECK(check_mask(sc.out, opts));
    scenario_end(&sc);
}

static void test_plan_only(void)
{
    struct download_spec s;
    struct engine_opts o;
    struct engine_summary sum;
    struct errbuf e;
    char out[512];

    snprintf(out, sizeof out, "%s/plan.tif", dir);
    spec_srtm(&s, out);
    memset(&o, 0, sizeof o);
    o.spec = &s;
    o.plan_only = 1;
    CHECK(engine_run(&o, &sum, &e) == 0);
    CHECK(sum.tiles_total == 12 && sum.requests == 0 && sum.tile_width == 64 && sum.tile_height == 64);
    CHECK(sum.band_group == 1 && sum.cells == 1 && sum.request_bytes == 64 * 64 * 3);
    CHECK(sum.width == W && sum.height == H && strcmp(sum.grid.crs, "EPSG:4326") == 0);
    CHECK(!exists(out) && strlen(sum.plan_hash) == 64);
    spec_free(&s);
}

int main(void)
{
    char cmd[300];

    src_dir = getenv("EEFETCH_SRC");
    if (!src_dir)
        src_dir = ".";
    GDALAllRegister();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(dir, sizeof dir, "/tmp/eefetch_engine_XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    test_kill9(0);   /* first: fork() before this process starts any thread */
    test_kill9(1);
    test_clean(0);
    test_clean(1);
    test_faults();
    test_split();
    test_resume();
    test_fatal();
    test_polygon();
    test_aimd();
    test_slow_start();
    test_plan_only();
    test_band_groups();
    test_masked_nodata();
    test_cells_vrt();
    test_mask_band();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    curl_global_cleanup();
    return CHECK_DONE();
}
