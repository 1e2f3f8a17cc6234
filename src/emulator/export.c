/*
 * Batch exports (see export.h): the task table, its worker threads, the
 * image:export and operations handlers, and writing a task's GeoTIFF files
 * into the bucket folder. A task is rendered in strips of rows through
 * render.c and written through encode.c's streamed GeoTIFF writer, so an
 * export may be far larger than an interactive request. Every file appears
 * under its final name only once complete (temporary name, then rename).
 */
#include "emulator/export.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "emulator/eval.h"
#include "emulator/faults.h"
#include "emulator/pixreq.h"
#include "emulator/raster.h"
#include "emulator/render.h"
#include "util/log.h"
#include "util/timeutil.h"

/* Tasks kept: every unfinished one, and finished ones up to this many
 * (the oldest finished are forgotten first, as EE forgets old tasks). */
#define EXPORT_KEEP_DONE 10000
/* Bounds of what unfinished tasks hold, over all projects (each project is
 * also held to its --export-pending-limit): their number and the bytes of
 * their requests, which are kept until the task ends. */
#define EXPORT_MAX_UNFINISHED 65536
#define EXPORT_MAX_HELD_BYTES (1LL << 30)
/* Pixels rendered at a time (one strip of full rows of a file). */
#define STRIP_PIXELS (1L << 20)
/* Default file side when geoTiffOptions.tileDimensions is absent: square
 * files of at most 2^30 bytes uncompressed, a multiple of 256, at most
 * 32768 (the emulator's choice; EE's default split is not documented). */
#define DEFAULT_FILE_BYTES (1LL << 30)
/* EE's per-file limit, as its error names it. */
#define EE_MAX_FILE_BYTES 17179869184LL
/* The deterministic EECU model: seconds per million pixel-bands. */
#define EECU_S_PER_MPIXEL_BAND 0.5
/* gRPC codes of Operation.error. */
#define RPC_CANCELLED 1
#define RPC_INVALID_ARGUMENT 3
#define RPC_PERMISSION_DENIED 7
#define RPC_INTERNAL 13

enum task_state { T_PENDING, T_RUNNING, T_CANCELLING, T_SUCCEEDED, T_FAILED, T_CANCELLED };

static const char *const state_names[] = {"PENDING",   "RUNNING", "CANCELLING",
                                          "SUCCEEDED", "FAILED",  "CANCELLED"};

struct task {
    uint64_t seq;             /* creation order, from 1 */
    char id[32];
    char project[160];
    char request_id[64];
    char description[256];
    char bucket[64];
    char prefix[1024];
    int priority;
    char *body;               /* the request, as received */
    enum task_state state;
    double progress;          /* 0..1 */
    double eecu_s;
    int64_t create_ms, update_ms, start_ms, end_ms;   /* wall clock */
    int64_t ready_mono;       /* monotonic ms when it may start */
    int fail_fault;           /* --export-fail chose this task */
    int err_code;
    char err_msg[600];
};

struct export_queue {
    const struct emu_config *cfg;
    const struct catalog *cat;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct task **tasks;      /* by seq, oldest first */
    size_t ntasks, cap;
    uint64_t next_seq;
    size_t unfinished;        /* tasks not done */
    long long held_bytes;     /* request bytes they hold */
    int nworkers;
    pthread_t workers[EXPORT_MAX_WORKERS];
    int stopping;
};

/* ---- small helpers --------------------------------------------------------- */

static void task_free(struct task *t)
{
    if (t) {
        free(t->body);
        free(t);
    }
}

static int done_state(enum task_state s)
{
    return s == T_SUCCEEDED || s == T_FAILED || s == T_CANCELLED;
}

/* Operation ids: 24 characters of [A-Z2-7], from the seed and the task
 * number (distinct for every task of a server). */
static void make_id(uint64_t seed, uint64_t seq, char out[25])
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    struct fault_rng r;
    uint64_t a, b;
    int i;

    fault_rng_init(&r, seed ^ 0x5851f42d4c957f2dULL, seq);
    a = fault_rng_next(&r);
    b = seq;
    for (i = 0; i < 12; i++, a >>= 5)
        out[i] = al[a & 31];
    /* The last 12 characters spell the sequence number: never two alike. */
    for (i = 23; i >= 12; i--, b >>= 5)
        out[i] = al[b & 31];
    out[24] = '\0';
}

/* An Int64Value as the clients send it: a number, a decimal string, or
 * {"value": either}. Returns 0, 1 when absent, -1 when malformed. */
static int int64_field(json_object *o, const char *key, long long *out)
{
    json_object *j = NULL, *v = NULL;
    const char *s;
    char *end;
    double d;

    if (!json_object_object_get_ex(o, key, &j) || !j)
        return 1;
    if (json_object_get_type(j) == json_type_object) {
        if (!json_object_object_get_ex(j, "value", &v) || !v || json_object_object_length(j) != 1)
            return -1;
        j = v;
    }
    switch (json_object_get_type(j)) {
    case json_type_int:
        *out = (long long)json_object_get_int64(j);
        return 0;
    case json_type_double:
        d = json_object_get_double(j);
        if (d != floor(d) || fabs(d) > 9.2e18)
            return -1;
        *out = (long long)d;
        return 0;
    case json_type_string:
        s = json_object_get_string(j);
        errno = 0;
        *out = strtoll(s, &end, 10);
        if (errno || end == s || *end) {
            /* "1e10" is what some clients make of a float maxPixels. */
            d = strtod(s, &end);
            if (end == s || *end || d != floor(d) || fabs(d) > 9.2e18)
                return -1;
            *out = (long long)d;
        }
        return 0;
    default:
        return -1;
    }
}

static const char *string_field(json_object *o, const char *key)
{
    json_object *j = NULL;
    if (!o || !json_object_object_get_ex(o, key, &j) || !j ||
        json_object_get_type(j) != json_type_string)
        return NULL;
    return json_object_get_string(j);
}

static json_object *object_field(json_object *o, const char *key)
{
    json_object *j = NULL;
    if (!o || !json_object_object_get_ex(o, key, &j) || !j ||
        json_object_get_type(j) != json_type_object)
        return NULL;
    return j;
}

static json_object *parse_json(const char *s)
{
    json_tokener *tok = json_tokener_new_ex(EMU_JSON_DEPTH);
    json_object *j = tok ? json_tokener_parse_ex(tok, s, (int)strlen(s)) : NULL;
    if (tok)
        json_tokener_free(tok);
    return j;
}

/* ---- request checks -------------------------------------------------------- */

struct export_opts {
    long long max_pixels;
    int priority;
    const char *request_id, *description, *bucket, *prefix;
    int cog, skip_empty, has_nodata;
    double nodata;
    long tile_w, tile_h;       /* 0: the default split */
    int block;                 /* geoTiffOptions.tileSize */
};

static int check_name(const char *s, size_t max)
{
    size_t i, n = strlen(s);
    if (n > max)
        return -1;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return -1;
    return 0;
}

static int number_value(json_object *j, double *d)
{
    enum json_type t = json_object_get_type(j);
    if (t == json_type_int || t == json_type_double) {
        *d = json_object_get_double(j);
        return 0;
    }
    if (t == json_type_string) {
        char *end;
        *d = strtod(json_object_get_string(j), &end);
        return *end || end == json_object_get_string(j) ? -1 : 0;
    }
    return -1;
}

/* geoTiffOptions {cloudOptimized, tileDimensions {width, height},
 * skipEmptyFiles, tileSize, noData {floatValue | intValue ...}}. */
static int parse_geotiff_options(json_object *g, struct export_opts *o, struct emu_response *r)
{
    static const char *const fields[] = {"cloudOptimized", "tileDimensions", "skipEmptyFiles",
                                         "tileSize", "noData", NULL};
    json_object *j = NULL, *td, *nd;
    long long v;
    int rc;

    if (pixreq_check_fields(g, "file_export_options.geo_tiff_options", fields, r))
        return -1;
    if (json_object_object_get_ex(g, "cloudOptimized", &j) && j)
        o->cog = json_object_get_boolean(j);
    if (json_object_object_get_ex(g, "skipEmptyFiles", &j) && j)
        o->skip_empty = json_object_get_boolean(j);
    if ((rc = int64_field(g, "tileSize", &v)) < 0 || (rc == 0 && (v < 1 || v > 32768))) {
        emu_error(r, 400, "geoTiffOptions.tileSize must be an integer from 1 to 32768.");
        return -1;
    }
    if (rc == 0 && v > 0)
        o->block = (int)v;
    if ((td = object_field(g, "tileDimensions"))) {
        long long w = 0, h = 0;
        if (int64_field(td, "width", &w) != 0 || int64_field(td, "height", &h) != 0 || w < 1 ||
            h < 1 || w > 1000000000LL || h > 1000000000LL) {
            emu_error(r, 400, "geoTiffOptions.tileDimensions needs a positive width and height.");
            return -1;
        }
        if (w % o->block || h % o->block) {
            emu_error(r, 400, "geoTiffOptions.tileDimensions (%lldx%lld) must be multiples of "
                      "tileSize (%d).", w, h, o->block);
            return -1;
        }
        o->tile_w = (long)w;
        o->tile_h = (long)h;
    }
    if ((nd = object_field(g, "noData"))) {
        json_object_object_foreach(nd, key, val) {
            if (number_value(val, &o->nodata) != 0) {
                emu_error(r, 400, "geoTiffOptions.noData.%s must be a number.", key);
                return -1;
            }
            o->has_nodata = 1;
        }
    }
    return 0;
}

/* Everything that makes EE answer 400 at submission. */
static int parse_request(json_object *body, struct export_opts *o, struct emu_response *r)
{
    static const char *const fields[] = {"expression", "description", "maxPixels", "grid",
                                         "requestId", "workloadTag", "priority", "maxWorkers",
                                         "fileExportOptions", "assetExportOptions", NULL};
    static const char *const file_fields[] = {"fileFormat", "driveDestination",
                                              "cloudStorageDestination", "gcsDestination",
                                              "geoTiffOptions", "tfRecordOptions", NULL};
    static const char *const gcs_fields[] = {"bucket", "filenamePrefix", "permissions",
                                             "bucketCorsUris", NULL};
    json_object *fo, *dest, *gt, *j = NULL;
    long long v;
    int rc;
    const char *fmt;

    memset(o, 0, sizeof *o);
    o->max_pixels = EXPORT_DEFAULT_MAX_PIXELS;
    o->priority = 100;
    o->block = 256;
    if (pixreq_check_body(body, fields, r) || pixreq_require(body, "expression", &j, r))
        return -1;
    if ((rc = int64_field(body, "maxPixels", &v)) < 0 || (rc == 0 && v < 1)) {
        emu_error(r, 400, "Invalid value at 'max_pixels' (type.googleapis.com/"
                  "google.protobuf.Int64Value): want a positive integer.");
        return -1;
    }
    if (rc == 0)
        o->max_pixels = v;
    if ((rc = int64_field(body, "priority", &v)) < 0 || (rc == 0 && (v < 0 || v > 9999))) {
        emu_error(r, 400, "priority must be an integer between 0 and 9999.");
        return -1;
    }
    if (rc == 0)
        o->priority = (int)v;
    o->request_id = string_field(body, "requestId");
    if (o->request_id && check_name(o->request_id, 60) != 0) {
        emu_error(r, 400, "Invalid requestId '%.80s': use at most 60 characters a..z, A..Z, "
                  "0-9 or '-'.", o->request_id);
        return -1;
    }
    o->description = string_field(body, "description");
    if (!o->description || !*o->description)
        o->description = "myExportImageTask";
    if (object_field(body, "assetExportOptions")) {
        emu_error(r, 400, "Exports to Earth Engine assets (assetExportOptions) are not supported "
                  "by the emulator; export to Cloud Storage (fileExportOptions."
                  "cloudStorageDestination).");
        return -1;
    }
    if (!(fo = object_field(body, "fileExportOptions"))) {
        emu_error(r, 400, "fileExportOptions is required.");
        return -1;
    }
    if (pixreq_check_fields(fo, "file_export_options", file_fields, r))
        return -1;
    fmt = string_field(fo, "fileFormat");
    if (fmt && strcmp(fmt, "GEO_TIFF") != 0) {
        emu_error(r, 400, "File format %s is not supported by the emulator's exports; use "
                  "GEO_TIFF.", fmt);
        return -1;
    }
    if (object_field(fo, "driveDestination")) {
        emu_error(r, 400, "Exports to Google Drive are not supported by the emulator; use "
                  "cloudStorageDestination.");
        return -1;
    }
    if (!(dest = object_field(fo, "cloudStorageDestination")) &&
        !(dest = object_field(fo, "gcsDestination"))) {
        emu_error(r, 400, "fileExportOptions.cloudStorageDestination is required.");
        return -1;
    }
    if (pixreq_check_fields(dest, "file_export_options.cloud_storage_destination", gcs_fields,
                            r))
        return -1;
    o->bucket = string_field(dest, "bucket");
    if (!o->bucket || !storage_bucket_name_ok(o->bucket)) {
        emu_error(r, 400, "Invalid Cloud Storage bucket name '%s'.", o->bucket ? o->bucket : "");
        return -1;
    }
    o->prefix = string_field(dest, "filenamePrefix");
    if (!o->prefix || !*o->prefix)
        o->prefix = o->description;
    {
        /* The names of the files must be valid object names. */
        char probe[1100];
        size_t n = strlen(o->prefix);
        snprintf(probe, sizeof probe, "%s%s", o->prefix,
                 n && o->prefix[n - 1] == '/' ? "x" : "");
        if (n > 1000 || !storage_object_name_ok(probe)) {
            emu_error(r, 400, "Invalid filenamePrefix '%.200s': it must make valid object "
                      "names (no '.', '..' or empty path segments).", o->prefix);
            return -1;
        }
    }
    if (object_field(fo, "tfRecordOptions")) {
        emu_error(r, 400, "tfRecordOptions is only for TF_RECORD_IMAGE exports.");
        return -1;
    }
    if ((gt = object_field(fo, "geoTiffOptions")) && parse_geotiff_options(gt, o, r))
        return -1;
    return 0;
}

/* ---- the operation resource ------------------------------------------------ */

static void add_time(json_object *m, const char *key, int64_t ms)
{
    char s[40];
    time_format_rfc3339(ms, s, sizeof s);
    json_object_object_add(m, key, json_object_new_string(s));
}

/* The Operation of t (caller holds the lock). */
static json_object *operation_json(const struct task *t)
{
    json_object *op = json_object_new_object(), *m = json_object_new_object();
    json_object *uris = json_object_new_array();
    char buf[1200];
    const char *slash = strrchr(t->prefix, '/');

    snprintf(buf, sizeof buf, "projects/%s/operations/%s", t->project, t->id);
    json_object_object_add(op, "name", json_object_new_string(buf));
    json_object_object_add(m, "@type", json_object_new_string(
                                           "type.googleapis.com/google.earthengine.v1."
                                           "OperationMetadata"));
    json_object_object_add(m, "state", json_object_new_string(state_names[t->state]));
    json_object_object_add(m, "description", json_object_new_string(t->description));
    json_object_object_add(m, "priority", json_object_new_int(t->priority));
    add_time(m, "createTime", t->create_ms);
    add_time(m, "updateTime", t->update_ms);
    if (t->start_ms)
        add_time(m, "startTime", t->start_ms);
    if (t->end_ms)
        add_time(m, "endTime", t->end_ms);
    json_object_object_add(m, "type", json_object_new_string("EXPORT_IMAGE"));
    if (t->start_ms) {
        json_object_object_add(m, "attempt", json_object_new_int(1));
        json_object_object_add(m, "progress", json_object_new_double(t->progress));
        json_object_object_add(m, "batchEecuUsageSeconds", json_object_new_double(t->eecu_s));
    }
    /* The folder of the files, as EE links it in the Cloud console. */
    snprintf(buf, sizeof buf, "https://console.developers.google.com/storage/browser/%s/%.*s",
             t->bucket, slash ? (int)(slash - t->prefix + 1) : 0, t->prefix);
    json_object_array_add(uris, json_object_new_string(buf));
    json_object_object_add(m, "destinationUris", uris);
    json_object_object_add(op, "metadata", m);
    json_object_object_add(op, "done", json_object_new_boolean(done_state(t->state)));
    if (t->state == T_SUCCEEDED) {
        json_object *resp = json_object_new_object();
        json_object_object_add(resp, "@type", json_object_new_string(
                                                  "type.googleapis.com/google.protobuf.Empty"));
        json_object_object_add(op, "response", resp);
    } else if (t->state == T_FAILED || t->state == T_CANCELLED) {
        json_object *err = json_object_new_object();
        json_object_object_add(err, "code", json_object_new_int(t->err_code));
        json_object_object_add(err, "message", json_object_new_string(t->err_msg));
        json_object_object_add(op, "error", err);
    }
    return op;
}

/* The task of an operation name. The clients name a task given by its bare
 * id (ee.data.getTaskStatus(id), Task.status()) as
 * projects/earthengine-legacy/operations/ID, which EE resolves whatever
 * project started it; the emulator does the same. Caller holds the lock. */
static struct task *find_task(struct export_queue *q, const char *project, const char *id)
{
    int any = strcmp(project, "earthengine-legacy") == 0;
    size_t i;
    for (i = 0; i < q->ntasks; i++)
        if (strcmp(q->tasks[i]->id, id) == 0 &&
            (any || strcmp(q->tasks[i]->project, project) == 0))
            return q->tasks[i];
    return NULL;
}

static void finish(struct export_queue *q, struct task *t, enum task_state s, int code,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Ends t; its request is no longer needed. Caller holds the lock. */
static void finish(struct export_queue *q, struct task *t, enum task_state s, int code,
                   const char *fmt, ...)
{
    va_list ap;

    if (t->body) {
        q->held_bytes -= (long long)strlen(t->body);
        free(t->body);
        t->body = NULL;
    }
    q->unfinished--;
    t->state = s;
    t->err_code = code;
    t->err_msg[0] = '\0';
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(t->err_msg, sizeof t->err_msg, fmt, ap);
        va_end(ap);
    }
    t->end_ms = t->update_ms = time_now_ms();
    if (s == T_SUCCEEDED)
        t->progress = 1;
}

/* ---- running a task -------------------------------------------------------- */

struct run {
    struct export_queue *q;
    struct task *t;
    char dir[4096];           /* bucket folder */
    int64_t start_mono;
    double model_ms;          /* modelled running time */
    long long total_px, done_px;
    int nbands;
};

/* 1 when the task should stop (cancel or server stop). */
static int should_stop(struct run *u)
{
    int stop;
    pthread_mutex_lock(&u->q->mu);
    stop = u->q->stopping || u->t->state == T_CANCELLING;
    pthread_mutex_unlock(&u->q->mu);
    return stop;
}

/* Records progress and sleeps until the model's time for it has come. */
static void advance(struct run *u, long long px)
{
    double frac;
    int64_t target;

    u->done_px += px;
    frac = u->total_px > 0 ? (double)u->done_px / (double)u->total_px : 1;
    pthread_mutex_lock(&u->q->mu);
    /* A task reaches 1 only once SUCCEEDED. */
    u->t->progress = fmin(frac, 0.999);
    u->t->eecu_s = EECU_S_PER_MPIXEL_BAND * (double)u->done_px * u->nbands / 1e6;
    u->t->update_ms = time_now_ms();
    pthread_mutex_unlock(&u->q->mu);
    target = u->start_mono + (int64_t)(u->model_ms * frac);
    while (time_mono_ms() < target && !should_stop(u)) {
        int64_t left = target - time_mono_ms();
        time_sleep_ms(left < 20 ? left : 20);
    }
}

/* mkdir -p of the folders in rel (relative to base), not the last segment. */
static int make_parents(const char *base, const char *rel, struct errbuf *e)
{
    char path[4096];
    size_t n = strlen(base), i;

    if (snprintf(path, sizeof path, "%s/%s", base, rel) >= (int)sizeof path)
        return err_set(e, ERR_LIMIT, "path too long");
    for (i = n + 1; path[i]; i++)
        if (path[i] == '/') {
            path[i] = '\0';
            if (mkdir(path, 0777) != 0 && errno != EEXIST)
                return err_set(e, ERR_IO, "cannot create %s: %s", path, strerror(errno));
            path[i] = '/';
        }
    return 0;
}

/* Renders one file (the sub-grid at row0, col0 of w x h pixels) into
 * name. Returns 0, 1 when skipped (empty and skipEmptyFiles), -1 with e
 * set, -2 when stopped. */
static int write_file(struct run *u, struct ev_ctx *x, const struct ev_image *img,
                      const struct ee_grid *g, const struct export_opts *o, long row0, long col0,
                      long w, long h, const char *name, struct errbuf *e)
{
    static atomic_ulong tmp_seq;
    char final[4200], tmp[4300];
    const char *slash = strrchr(name, '/');
    struct raster shape, strip;
    struct tif_out *out = NULL;
    struct tif_options to;
    long rows, r0;
    int b, any = 0, rc;
    size_t i, np;

    memset(&shape, 0, sizeof shape);
    if (snprintf(final, sizeof final, "%s/%s", u->dir, name) >= (int)sizeof final ||
        snprintf(tmp, sizeof tmp, "%s/%.*s%s%lu-%s.tif", u->dir,
                 slash ? (int)(slash - name + 1) : 0, name, STORAGE_TMP_PREFIX,
                 (unsigned long)atomic_fetch_add(&tmp_seq, 1), u->t->id) >= (int)sizeof tmp)
        return err_set(e, ERR_LIMIT, "file name too long: %s/%s", u->dir, name), -1;
    if (make_parents(u->dir, name, e) != 0)
        return -1;
    shape.width = w;
    shape.height = h;
    shape.nbands = img->nbands;
    shape.grid = *g;
    shape.grid.affine[2] = g->affine[2] + col0 * g->affine[0] + row0 * g->affine[1];
    shape.grid.affine[5] = g->affine[5] + col0 * g->affine[3] + row0 * g->affine[4];
    shape.grid.width = w;
    shape.grid.height = h;
    if (!(shape.bands = calloc((size_t)img->nbands, sizeof *shape.bands)))
        return err_set(e, ERR_NOMEM, "out of memory"), -1;
    for (b = 0; b < img->nbands; b++) {
        snprintf(shape.bands[b].id, sizeof shape.bands[b].id, "%s", img->bands[b].id);
        shape.bands[b].type = eval_dtype_px(&img->bands[b].dt);
    }
    memset(&to, 0, sizeof to);
    to.cloud_optimized = o->cog;
    to.has_nodata = o->has_nodata;
    to.nodata = o->nodata;
    to.block = o->block;
    if (tif_out_open(tmp, &shape, &to, &out, e) != 0) {
        free(shape.bands);
        return -1;
    }
    rows = STRIP_PIXELS / w;
    if (rows < 1)
        rows = 1;
    rc = 0;
    for (r0 = 0; r0 < h && rc == 0; r0 += rows) {
        struct ee_grid sg = shape.grid;
        long sh = h - r0 < rows ? h - r0 : rows;

        if (should_stop(u)) {
            rc = -2;
            break;
        }
        sg.affine[2] = shape.grid.affine[2] + r0 * shape.grid.affine[1];
        sg.affine[5] = shape.grid.affine[5] + r0 * shape.grid.affine[4];
        sg.height = sh;
        if (render_image(x, img, &sg, &strip, e) != 0) {
            rc = -1;
            break;
        }
        np = (size_t)w * (size_t)sh;
        for (b = 0; b < strip.nbands; b++) {
            strip.bands[b].type = shape.bands[b].type;
            for (i = 0; i < np; i++) {
                if (strip.bands[b].mask[i]) {
                    any = 1;
                } else if (o->has_nodata) {
                    strip.bands[b].data[i] = o->nodata;
                    strip.bands[b].mask[i] = 1;
                }
            }
        }
        if (tif_out_write(out, &strip, r0, e) != 0)
            rc = -1;
        raster_free(&strip);
        if (rc == 0)
            advance(u, (long long)np);
    }
    free(shape.bands);
    if (rc != 0) {
        tif_out_abort(out);
        return rc;
    }
    if (tif_out_close(out, e) != 0)
        return -1;
    if (!any && o->skip_empty) {
        unlink(tmp);
        return 1;
    }
    if (rename(tmp, final) != 0) {
        err_set(e, ERR_IO, "cannot publish %s: %s", final, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* The default file side (see DEFAULT_FILE_BYTES). */
static long default_side(long long bytes_per_px)
{
    long side = (long)sqrt((double)DEFAULT_FILE_BYTES / (double)(bytes_per_px > 0 ? bytes_per_px
                                                                                   : 1));
    side -= side % 256;
    if (side < 256)
        side = 256;
    return side > 32768 ? 32768 : side;
}

/* Runs t (not holding the lock); leaves its final state. */
static void run_task(struct export_queue *q, struct task *t)
{
    struct run u;
    struct export_opts o;
    struct emu_response er;
    struct grid_spec gs;
    struct ev_ctx *x = NULL;
    struct ev_value *v;
    struct errbuf e;
    json_object *body = parse_json(t->body), *expr = NULL;
    struct raster shape;
    struct stat st;
    long tw, th, row, col, nfiles = 0, fi = 0;
    long long px, bpp;
    int b, rc = 0;
    enum task_state fin = T_SUCCEEDED;
    int code = 0;
    char msg[600] = "";

    memset(&u, 0, sizeof u);
    memset(&er, 0, sizeof er);
    memset(&gs, 0, sizeof gs);
    memset(&shape, 0, sizeof shape);
    buf_init(&er.body, 0);
    u.q = q;
    u.t = t;
    u.start_mono = time_mono_ms();
    err_clear(&e);

#define FAIL(c, ...)                                  \
    do {                                              \
        fin = T_FAILED;                               \
        code = (c);                                   \
        snprintf(msg, sizeof msg, __VA_ARGS__);       \
        goto out;                                     \
    } while (0)

    if (!body || parse_request(body, &o, &er) != 0)
        FAIL(RPC_INTERNAL, "An internal error has occurred.");
    json_object_object_get_ex(body, "expression", &expr);
    if (eval_ctx_new(&x, q->cat) != 0)
        FAIL(RPC_INTERNAL, "An internal error has occurred.");
    if (eval_expression(x, expr, &v, &e) != 0)
        FAIL(RPC_INVALID_ARGUMENT, "%.590s", e.msg);
    if (v->kind != EV_IMAGE)
        FAIL(RPC_INVALID_ARGUMENT, "The expression must evaluate to an Image.");
    if (pixreq_parse_grid(body, &gs, &er) != 0 || pixreq_complete_grid(&gs, v->img, &er) != 0) {
        json_object *top = parse_json(er.body.data ? er.body.data : "{}"), *err, *m;
        const char *s = top && json_object_object_get_ex(top, "error", &err) &&
                                json_object_object_get_ex(err, "message", &m)
                            ? json_object_get_string(m) : "Invalid grid.";
        snprintf(msg, sizeof msg, "%s", s);
        json_object_put(top);
        fin = T_FAILED;
        code = RPC_INVALID_ARGUMENT;
        goto out;
    }
    if (v->img->nbands < 1)
        FAIL(RPC_INVALID_ARGUMENT, "The image has no bands to export.");
    if (v->img->nbands > EE_MAX_BANDS)
        FAIL(RPC_INVALID_ARGUMENT, "Number of bands (%d) must be less than or equal to %d.",
             v->img->nbands, EE_MAX_BANDS);
    if ((rc = render_check_depth(v->img, &e)) != 0)
        FAIL(RPC_INVALID_ARGUMENT, "%.590s", e.msg);
    px = (long long)gs.g.width * gs.g.height;
    if (px > o.max_pixels)
        FAIL(RPC_INVALID_ARGUMENT, "Exported too many pixels. Specified %lld pixels (max: %lld). "
             "Specify higher maxPixels value if you intend to export a large area.",
             px, o.max_pixels);
    /* The bucket: it must exist (EE checks write access when the task runs). */
    if (!q->cfg->bucket_dir ||
        snprintf(u.dir, sizeof u.dir, "%s/%s", q->cfg->bucket_dir, o.bucket) >= (int)sizeof u.dir ||
        stat(u.dir, &st) != 0 || !S_ISDIR(st.st_mode))
        FAIL(RPC_PERMISSION_DENIED, "Unable to write to bucket %s: the bucket does not exist or "
             "the caller lacks storage.objects.create permission on it.", o.bucket);
    /* One type for all bands, as EE writes them. */
    shape.nbands = v->img->nbands;
    if (!(shape.bands = calloc((size_t)shape.nbands, sizeof *shape.bands)))
        FAIL(RPC_INTERNAL, "An internal error has occurred.");
    for (b = 0; b < shape.nbands; b++)
        shape.bands[b].type = eval_dtype_px(&v->img->bands[b].dt);
    bpp = (long long)px_size(raster_common_type(&shape)) * shape.nbands;
    free(shape.bands);
    tw = o.tile_w ? o.tile_w : default_side(bpp);
    th = o.tile_h ? o.tile_h : default_side(bpp);
    if (o.tile_w && (long long)tw * th * bpp >= EE_MAX_FILE_BYTES)
        FAIL(RPC_INVALID_ARGUMENT, "File dimensions are too large for the number of bands and "
             "data type: the total file size requested is %lld bytes before compression (%lld "
             "bytes per pixel), but must be less than %lld bytes.",
             (long long)tw * th * bpp, bpp, EE_MAX_FILE_BYTES);
    u.total_px = px;
    u.nbands = v->img->nbands;
    u.model_ms = q->cfg->export_ms_per_mpixel * (double)px / 1e6;
    nfiles = ((gs.g.height + th - 1) / th) * ((gs.g.width + tw - 1) / tw);
    for (row = 0; row < gs.g.height; row += th)
        for (col = 0; col < gs.g.width; col += tw) {
            char name[1200];
            long w = gs.g.width - col < tw ? gs.g.width - col : tw;
            long h = gs.g.height - row < th ? gs.g.height - row : th;

            /* --export-fail: the chosen task fails half way through. */
            if (t->fail_fault && fi >= nfiles / 2)
                FAIL(RPC_INTERNAL, "An internal error has occurred. (Error code: 13)");
            if (nfiles == 1)
                snprintf(name, sizeof name, "%s.tif", o.prefix);
            else
                snprintf(name, sizeof name, "%s-%010ld-%010ld.tif", o.prefix, row, col);
            rc = write_file(&u, x, v->img, &gs.g, &o, row, col, w, h, name, &e);
            if (rc == -2)
                goto out;
            if (rc < 0)
                FAIL(RPC_INTERNAL, "%.590s", e.msg);
            fi++;
        }
out:
#undef FAIL
    eval_ctx_free(x);
    json_object_put(body);
    buf_free(&er.body);
    pthread_mutex_lock(&q->mu);
    if (t->state == T_CANCELLING || (rc == -2 && fin == T_SUCCEEDED))
        finish(q, t, T_CANCELLED, RPC_CANCELLED, "Cancelled.");
    else if (fin == T_FAILED)
        finish(q, t, T_FAILED, code, "%s", msg);
    else
        finish(q, t, T_SUCCEEDED, 0, NULL);
    t->eecu_s = EECU_S_PER_MPIXEL_BAND * (double)u.done_px * u.nbands / 1e6;
    log_debug("emulator: export %s of project %s %s%s%s", t->id, t->project,
              state_names[t->state], t->err_msg[0] ? ": " : "", t->err_msg);
    pthread_mutex_unlock(&q->mu);
}

/* ---- the workers ------------------------------------------------------------ */

/* The next task to start: ready, its project under the RUNNING limit,
 * highest priority first, then oldest. One pass to count the running tasks
 * per project (there are at most EXPORT_MAX_WORKERS), one to choose, so a
 * queue of thousands costs two scans. Caller holds the lock. */
static struct task *pick(struct export_queue *q)
{
    const char *proj[EXPORT_MAX_WORKERS];
    int count[EXPORT_MAX_WORKERS], nproj = 0, limit, k;
    struct task *best = NULL;
    int64_t now = time_mono_ms();
    size_t i;

    limit = q->cfg->export_running_limit > 0 ? q->cfg->export_running_limit : 2;
    for (i = 0; i < q->ntasks; i++) {
        struct task *t = q->tasks[i];
        if (t->state != T_RUNNING && t->state != T_CANCELLING)
            continue;
        for (k = 0; k < nproj && strcmp(proj[k], t->project) != 0; k++)
            ;
        if (k == nproj) {
            if (nproj == EXPORT_MAX_WORKERS)
                continue;   /* cannot happen: each worker runs one task */
            proj[nproj] = t->project;
            count[nproj++] = 0;
        }
        count[k]++;
    }
    for (i = 0; i < q->ntasks; i++) {
        struct task *t = q->tasks[i];
        if (t->state != T_PENDING || t->ready_mono > now || (best && t->priority <= best->priority))
            continue;
        for (k = 0; k < nproj && strcmp(proj[k], t->project) != 0; k++)
            ;
        if (k < nproj && count[k] >= limit)
            continue;
        best = t;
    }
    return best;
}

static void *worker_main(void *arg)
{
    struct export_queue *q = arg;

    pthread_mutex_lock(&q->mu);
    while (!q->stopping) {
        struct task *t = pick(q);
        if (!t) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&q->cv, &q->mu, &ts);
            continue;
        }
        t->state = T_RUNNING;
        t->start_ms = t->update_ms = time_now_ms();
        pthread_mutex_unlock(&q->mu);
        run_task(q, t);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int export_create(const struct emu_config *cfg, const struct catalog *cat,
                  struct export_queue **out, struct errbuf *e)
{
    struct export_queue *q = calloc(1, sizeof *q);
    int i, n;

    *out = NULL;
    if (!q)
        return err_set(e, ERR_NOMEM, "out of memory");
    q->cfg = cfg;
    q->cat = cat;
    q->next_seq = 1;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    n = cfg->export_running_limit > 0 ? cfg->export_running_limit : 2;
    if (n > EXPORT_MAX_WORKERS)
        n = EXPORT_MAX_WORKERS;
    for (i = 0; i < n; i++) {
        if (pthread_create(&q->workers[i], NULL, worker_main, q) != 0) {
            export_destroy(q);
            return err_set(e, ERR_INTERNAL, "cannot start an export worker thread");
        }
        q->nworkers++;
    }
    *out = q;
    return 0;
}

void export_destroy(struct export_queue *q)
{
    size_t i;
    int w;

    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (w = 0; w < q->nworkers; w++)
        pthread_join(q->workers[w], NULL);
    for (i = 0; i < q->ntasks; i++)
        task_free(q->tasks[i]);
    free(q->tasks);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

/* ---- handlers ---------------------------------------------------------------- */

/* Forgets the oldest finished tasks past EXPORT_KEEP_DONE. Caller holds
 * the lock. */
static void trim_done(struct export_queue *q)
{
    size_t i, j, done = 0;

    for (i = 0; i < q->ntasks; i++)
        done += done_state(q->tasks[i]->state);
    for (i = 0, j = 0; i < q->ntasks; i++) {
        if (done > EXPORT_KEEP_DONE && done_state(q->tasks[i]->state)) {
            task_free(q->tasks[i]);
            done--;
            continue;
        }
        q->tasks[j++] = q->tasks[i];
    }
    q->ntasks = j;
}

int handle_image_export(const struct emu_ctx *c, const struct emu_request *q,
                        struct emu_response *r)
{
    struct export_queue *xq = c->exports;
    struct export_opts o;
    struct ev_ctx *x = NULL;
    struct ev_value *v;
    struct errbuf e;
    json_object *expr = NULL;
    struct task *t;
    struct fault_rng rng;
    size_t i;
    int pending = 0, limit;

    if (!xq) {
        emu_error(r, 500, "An internal error has occurred.");
        return 0;
    }
    if (!q->json || parse_request(q->json, &o, r) != 0)
        return 0;
    /* The expression must be an image: EE refuses others at submission. */
    json_object_object_get_ex(q->json, "expression", &expr);
    if (eval_ctx_new(&x, c->cat) != 0) {
        emu_error(r, 500, "An internal error has occurred.");
        return 0;
    }
    if (eval_expression(x, expr, &v, &e) != 0) {
        emu_error(r, 400, "%s", e.msg);
        eval_ctx_free(x);
        return 0;
    }
    if (v->kind != EV_IMAGE) {
        emu_error(r, 400, "The expression must evaluate to an Image to export it as an image.");
        eval_ctx_free(x);
        return 0;
    }
    eval_ctx_free(x);

    pthread_mutex_lock(&xq->mu);
    /* The same non-empty requestId from the same project: the same task. */
    if (o.request_id && *o.request_id)
        for (i = 0; i < xq->ntasks; i++)
            if (strcmp(xq->tasks[i]->request_id, o.request_id) == 0 &&
                strcmp(xq->tasks[i]->project, q->project) == 0) {
                emu_json(r, 200, operation_json(xq->tasks[i]));
                pthread_mutex_unlock(&xq->mu);
                return 0;
            }
    limit = c->cfg->export_pending_limit > 0 ? c->cfg->export_pending_limit : EXPORT_PENDING_CAP;
    for (i = 0; i < xq->ntasks; i++)
        pending += xq->tasks[i]->state == T_PENDING && strcmp(xq->tasks[i]->project,
                                                              q->project) == 0;
    if (pending >= limit) {
        pthread_mutex_unlock(&xq->mu);
        emu_error(r, 429, "Too many tasks already in the queue (%d). Please wait for some of "
                  "them to complete.", limit);
        return 0;
    }
    if (xq->unfinished >= EXPORT_MAX_UNFINISHED ||
        xq->held_bytes + (long long)q->body_len > EXPORT_MAX_HELD_BYTES) {
        pthread_mutex_unlock(&xq->mu);
        emu_error(r, 429, "Too many tasks already in the queue (%zu in all projects). Please "
                  "wait for some of them to complete.", xq->unfinished);
        return 0;
    }
    trim_done(xq);
    if (xq->ntasks == xq->cap) {
        size_t cap = xq->cap ? xq->cap * 2 : 64;
        struct task **nt = realloc(xq->tasks, cap * sizeof *nt);
        if (!nt) {
            pthread_mutex_unlock(&xq->mu);
            emu_error(r, 500, "An internal error has occurred.");
            return 0;
        }
        xq->tasks = nt;
        xq->cap = cap;
    }
    t = calloc(1, sizeof *t);
    if (!t || !(t->body = strdup(q->body ? q->body : "{}"))) {
        free(t);
        pthread_mutex_unlock(&xq->mu);
        emu_error(r, 500, "An internal error has occurred.");
        return 0;
    }
    t->seq = xq->next_seq++;
    make_id(c->cfg->seed, t->seq, t->id);
    snprintf(t->project, sizeof t->project, "%s", q->project);
    snprintf(t->request_id, sizeof t->request_id, "%s", o.request_id ? o.request_id : "");
    snprintf(t->description, sizeof t->description, "%s", o.description);
    snprintf(t->bucket, sizeof t->bucket, "%s", o.bucket);
    snprintf(t->prefix, sizeof t->prefix, "%s", o.prefix);
    t->priority = o.priority;
    t->state = T_PENDING;
    t->create_ms = t->update_ms = time_now_ms();
    t->ready_mono = time_mono_ms() + (int64_t)c->cfg->export_queue_ms;
    fault_rng_init(&rng, c->cfg->seed ^ 0x243f6a8885a308d3ULL, t->seq);
    t->fail_fault = fault_rng_uniform(&rng) < c->cfg->p_export_fail;
    xq->tasks[xq->ntasks++] = t;
    xq->unfinished++;
    xq->held_bytes += (long long)strlen(t->body);
    emu_json(r, 200, operation_json(t));
    pthread_cond_broadcast(&xq->cv);
    pthread_mutex_unlock(&xq->mu);
    return 0;
}

static void not_found(const struct emu_request *q, struct emu_response *r)
{
    emu_error(r, 404, "Operation projects/%s/operations/%s not found.", q->project,
              q->asset ? q->asset : "");
}

int handle_operation_get(const struct emu_ctx *c, const struct emu_request *q,
                         struct emu_response *r)
{
    struct task *t;

    pthread_mutex_lock(&c->exports->mu);
    t = find_task(c->exports, q->project, q->asset ? q->asset : "");
    if (t)
        emu_json(r, 200, operation_json(t));
    pthread_mutex_unlock(&c->exports->mu);
    if (!t)
        not_found(q, r);
    return 0;
}

int handle_operation_cancel(const struct emu_ctx *c, const struct emu_request *q,
                            struct emu_response *r)
{
    struct task *t;

    pthread_mutex_lock(&c->exports->mu);
    t = find_task(c->exports, q->project, q->asset ? q->asset : "");
    if (t && t->state == T_PENDING)
        finish(c->exports, t, T_CANCELLED, RPC_CANCELLED, "Cancelled.");
    else if (t && t->state == T_RUNNING) {
        t->state = T_CANCELLING;   /* the worker stops at its next strip */
        t->update_ms = time_now_ms();
    }
    pthread_mutex_unlock(&c->exports->mu);
    if (!t)
        not_found(q, r);
    else
        emu_json(r, 200, json_object_new_object());
    return 0;
}

/* pageToken: the sequence number of the first task of the page (tasks are
 * listed newest first, so new tasks never shift a page). */
int handle_operation_list(const struct emu_ctx *c, const struct emu_request *q,
                          struct emu_response *r)
{
    struct export_queue *xq = c->exports;
    const char *ps = q->query ? q->query(q, "pageSize") : NULL;
    const char *pt = q->query ? q->query(q, "pageToken") : NULL;
    json_object *top, *ops;
    unsigned long long from = ~0ULL;
    long size = 100;
    char *end;
    size_t i;
    int n = 0;

    if (ps && *ps) {
        size = strtol(ps, &end, 10);
        if (*end || size < 0) {
            emu_error(r, 400, "Invalid value at 'page_size' (TYPE_INT32), \"%s\"", ps);
            return 0;
        }
        if (size == 0)
            size = 100;
        if (size > 1000)
            size = 1000;
    }
    if (pt && *pt) {
        from = strtoull(pt, &end, 10);
        if (*end || from == 0) {
            emu_error(r, 400, "Invalid page token '%.80s'.", pt);
            return 0;
        }
    }
    top = json_object_new_object();
    ops = json_object_new_array();
    pthread_mutex_lock(&xq->mu);
    for (i = xq->ntasks; i-- > 0;) {
        struct task *t = xq->tasks[i];
        if (t->seq > from || strcmp(t->project, q->project) != 0)
            continue;
        if (n == size) {
            char tok[32];
            snprintf(tok, sizeof tok, "%llu", (unsigned long long)t->seq);
            json_object_object_add(top, "nextPageToken", json_object_new_string(tok));
            break;
        }
        json_object_array_add(ops, operation_json(t));
        n++;
    }
    pthread_mutex_unlock(&xq->mu);
    /* Google omits empty repeated fields. */
    if (n > 0)
        json_object_object_add(top, "operations", ops);
    else
        json_object_put(ops);
    emu_json(r, 200, top);
    return 0;
}
