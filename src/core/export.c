/*
 * Batch export (export.h, docs/export.md). The run, in order:
 *
 *   1. plan the download as the tile engine would (same grid, tiles, hash);
 *   2. per fishnet cell, POST image:export with the cell's PixelGrid and a
 *      deterministic requestId, at most max_tasks running at once;
 *   3. poll each operation with a growing delay (2 s up to 30 s);
 *   4. once a task succeeded, list its objects and download each one
 *      (ranged, resumable, CRC32C-checked: gcs.c);
 *   5. when every cell is in, read each tile's window from the files into
 *      the tile store and the tile journal -- the very pieces an
 *      interactive run would have stored -- and hand over to engine_run,
 *      which finds every tile done and assembles the output.
 *
 * The export journal (<output>.eefetch-export) is a text file, appended
 * and fsync'd line by line:
 *
 *   eefetch-export 1 <plan sha-256>
 *   S <cell> <attempt> <requestId> <operation name>     submitted
 *   E <cell> <attempt> <state> <eecu-seconds>            ended (SUCCEEDED, FAILED, CANCELLED)
 *   O <cell> <size> <crc32c or -> <object name>          downloaded and verified
 *
 * A line cut by a crash is ignored; at worst a task is submitted again
 * under the same requestId, which EE answers with the same operation.
 */
#include "core/export.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gdal.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/backoff.h"
#include "core/exprtext.h"
#include "core/gcs.h"
#include "core/journal.h"
#include "core/mosaic.h"
#include "core/pixtype.h"
#include "core/session.h"
#include "util/buf.h"
#include "util/ee.h"
#include "util/log.h"
#include "util/platform.h"
#include "util/timeutil.h"

/* ---- pure parts (unit-tested) ---- */

int export_request_id(const char *plan_hash, const char *dest, size_t cell, int attempt, char *out, size_t cap)
{
    /* FNV-1a of the destination: the same plan exported to another bucket
     * or prefix is another task, not EE's answer for the first one. */
    uint64_t h = 0xcbf29ce484222325ULL;
    const unsigned char *p;
    int n;

    for (p = (const unsigned char *)(dest ? dest : ""); *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    n = snprintf(out, cap, "eefetch-%.24s-%08x-c%zu-a%d", plan_hash, (unsigned)(h ^ (h >> 32)), cell, attempt);
    return n < 0 || (size_t)n >= cap || n > EXPORT_REQUEST_ID_MAX ? -1 : 0;
}

/* Ten digits at p, into *v: 0, or -1. */
static int ten_digits(const char *p, long *v)
{
    long r = 0;
    int i;

    for (i = 0; i < 10; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        r = r * 10 + (p[i] - '0');
    }
    *v = r;
    return 0;
}

int export_parse_object(const char *name, const char *prefix, long *a, long *b)
{
    size_t pl = strlen(prefix);
    const char *p;

    if (strncmp(name, prefix, pl) != 0)
        return -1;
    p = name + pl;
    if (strcmp(p, ".tif") == 0)
        return 0;
    /* -(\d{10})-?(\d{10})\.tif$ */
    if (*p++ != '-' || ten_digits(p, a) != 0)
        return -1;
    p += 10;
    if (*p == '-')
        p++;
    if (ten_digits(p, b) != 0)
        return -1;
    return strcmp(p + 10, ".tif") == 0 ? 1 : -1;
}

int64_t export_poll_delay_ms(int n, int first_ms, int cap_ms)
{
    double d = first_ms;
    int i;

    for (i = 0; i < n && d < cap_ms; i++)
        d *= 1.5;
    return d > cap_ms ? cap_ms : (int64_t)d;
}

/* An expression that reduces a collection: a composite, heavy per pixel. */
static int is_composite(const char *expr)
{
    static const char *const f[] = {"ImageCollection.reduce", "ImageCollection.median", "ImageCollection.mean",
                                    "ImageCollection.mosaic", "ImageCollection.qualityMosaic", "reduce.median",
                                    "reduce.mean"};

    return expr && exprtext_invokes(expr, f, sizeof f / sizeof *f);
}

int export_choose(const struct download_spec *s, const struct grid_plan *p, uint64_t raw_bytes, char *why,
                  size_t cap)
{
    if (raw_bytes > EXPORT_AUTO_BYTES) {
        snprintf(why, cap, "export: the output is %.1f GiB, over %llu GiB", (double)raw_bytes / 1073741824.0,
                 (unsigned long long)(EXPORT_AUTO_BYTES >> 30));
        return 1;
    }
    if (p->ntiles > EXPORT_AUTO_REQUESTS) {
        snprintf(why, cap, "export: the plan needs %zu requests, over %d", p->ntiles, EXPORT_AUTO_REQUESTS);
        return 1;
    }
    if (p->ntiles > EXPORT_AUTO_COMPOSITE_REQUESTS && is_composite(s->expression)) {
        snprintf(why, cap, "export: a composite (it reduces an image collection) over %zu requests, over %d",
                 p->ntiles, EXPORT_AUTO_COMPOSITE_REQUESTS);
        return 1;
    }
    snprintf(why, cap, "interactive: %.2f GiB in %zu requests (export from %llu GiB, %d requests, or %d for a "
                       "composite)",
             (double)raw_bytes / 1073741824.0, p->ntiles, (unsigned long long)(EXPORT_AUTO_BYTES >> 30),
             EXPORT_AUTO_REQUESTS, EXPORT_AUTO_COMPOSITE_REQUESTS);
    return 0;
}

/* ---- the run ---- */

enum task_phase {
    TASK_NEW = 0,      /* to submit (attempt says which) */
    TASK_RUNNING,      /* submitted, not ended */
    TASK_SUCCEEDED,    /* ended well; its files are to download */
    TASK_DOWNLOADED,   /* every file is here and verified */
};

struct task {
    size_t cell;
    int attempt;
    enum task_phase phase;
    char request_id[64];
    char name[512];          /* operation name */
    char state[24];
    double eecu;
    int polls;
    int64_t next_ms;         /* next poll (or submission retry) */
    int submit_tries;
    char prefix[1100];       /* filenamePrefix */
};

struct objrec {
    size_t cell;
    char name[1024];
};

struct xrun {
    const struct engine_opts *o;
    const struct download_spec *s;
    struct engine_summary *sum;
    struct grid_plan plan;
    char bucket[256], prefix[1024];
    char jpath[4200], dir[4200];
    char gcs[1024];
    FILE *journal;
    struct task *tasks;
    size_t ntasks;
    struct objrec *objs;     /* verified objects */
    size_t nobjs, capobjs;
    struct session *sess;
    struct session_opts so;
    char *expression;        /* select (+ unmask) of the spec's */
    int first_ms, cap_ms;
    struct backoff retry;    /* submissions and Cloud Storage reads */
    uint64_t rng;            /* their jitter */
    uint64_t bytes;
    size_t filled;           /* tiles cut from the files by this run */
    int lock_fd;             /* holds the export journal's lock; -1 */
};

static void emit_task(struct xrun *x, const struct task *t, const char *object, uint64_t obytes,
                      enum engine_event_kind kind)
{
    struct engine_event ev;
    size_t i;

    if (!x->o->on_event)
        return;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.task = t->cell;
    ev.task_name = t->name;
    ev.task_request_id = t->request_id;
    ev.task_state = t->state[0] ? t->state : "PENDING";
    ev.task_eecu = t->eecu;
    ev.object = object;
    ev.object_bytes = obytes;
    ev.bytes = x->bytes;
    ev.tasks_total = x->ntasks;
    for (i = 0; i < x->ntasks; i++)
        ev.tasks_done += x->tasks[i].phase >= TASK_SUCCEEDED;
    ev.tiles_total = x->plan.ntiles;
    x->o->on_event(&ev, x->o->ud);
}

static int stop_requested(const struct xrun *x)
{
    return x->o->stop && *x->o->stop;
}

static int journal_line(struct xrun *x, struct errbuf *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int journal_line(struct xrun *x, struct errbuf *e, const char *fmt, ...)
{
    va_list ap;
    int bad;

    va_start(ap, fmt);
    bad = vfprintf(x->journal, fmt, ap) < 0;
    va_end(ap);
    if (bad || fflush(x->journal) != 0 || fdatasync(fileno(x->journal)) != 0)
        return err_set(e, ERR_IO, "cannot write %s: %s", x->jpath, strerror(errno));
    return 0;
}

static struct task *task_of(struct xrun *x, size_t cell)
{
    return cell < x->ntasks ? &x->tasks[cell] : NULL;
}

static int add_obj(struct xrun *x, size_t cell, const char *name)
{
    size_t i;

    for (i = 0; i < x->nobjs; i++)
        if (x->objs[i].cell == cell && strcmp(x->objs[i].name, name) == 0)
            return 0;
    if (x->nobjs == x->capobjs) {
        size_t nc = x->capobjs ? x->capobjs * 2 : 16;
        struct objrec *o = realloc(x->objs, nc * sizeof *o);
        if (!o)
            return -1;
        x->objs = o;
        x->capobjs = nc;
    }
    x->objs[x->nobjs].cell = cell;
    snprintf(x->objs[x->nobjs].name, sizeof x->objs[x->nobjs].name, "%s", name);
    x->nobjs++;
    return 0;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Where a verified object is kept locally. */
static void local_path(const struct xrun *x, const char *object, char *out, size_t cap)
{
    if (snprintf(out, cap, "%s/%s", x->dir, base_name(object)) >= (int)cap)
        out[0] = '\0';   /* paths are bounded well below; an empty path fails to open */
}

/* Replays the journal; a journal of another plan is set aside (its tasks
 * wrote other files). */
static int journal_load(struct xrun *x, int overwrite, struct errbuf *e)
{
    char head[256], line[2400];
    FILE *f;
    int same = 0;

    /* One run per output at a time: the lock is taken before the journal
     * is read or replaced. */
    x->lock_fd = open(x->jpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (x->lock_fd < 0)
        return err_set(e, ERR_IO, "cannot open %s: %s", x->jpath, strerror(errno));
    if (platform_lock_try(x->lock_fd) != 0)
        return err_set(e, ERR_USAGE, "%s is in use by another eefetch run (of the same output)", x->jpath);
    f = fopen(x->jpath, "r");

    if (f && !overwrite) {
        snprintf(head, sizeof head, "eefetch-export 1 %s\n", x->plan.hash);
        if (fgets(line, sizeof line, f) && strcmp(line, head) == 0)
            same = 1;
        else
            log_warn("%s belongs to another plan (the recipe changed): its tasks are not reused", x->jpath);
        while (same && fgets(line, sizeof line, f)) {
            size_t cell, len = strlen(line);
            int attempt;
            char a[512], b[1100], c[64], st[24];
            struct task *t;
            double eecu;
            unsigned long long size;

            if (len == 0 || line[len - 1] != '\n')
                break;   /* cut by a crash */
            line[len - 1] = '\0';
            if (sscanf(line, "S %zu %d %63s %511s", &cell, &attempt, c, a) == 4 && (t = task_of(x, cell))) {
                t->attempt = attempt;
                snprintf(t->request_id, sizeof t->request_id, "%s", c);
                memcpy(t->name, a, sizeof t->name);
                t->phase = TASK_RUNNING;
                t->state[0] = '\0';
            } else if (sscanf(line, "E %zu %d %23s %lf", &cell, &attempt, st, &eecu) == 4 &&
                       (t = task_of(x, cell)) && attempt == t->attempt) {
                memcpy(t->state, st, sizeof t->state);
                t->eecu = eecu;
                if (strcmp(st, "SUCCEEDED") == 0) {
                    t->phase = TASK_SUCCEEDED;
                } else {
                    /* failed or cancelled: the next attempt, under a new requestId */
                    t->phase = TASK_NEW;
                    t->attempt = attempt + 1;
                    t->name[0] = '\0';
                }
            } else if (sscanf(line, "O %zu %llu %63s %1099s", &cell, &size, c, b) == 4 && task_of(x, cell)) {
                char lp[4400];
                local_path(x, b, lp, sizeof lp);
                if (access(lp, R_OK) == 0 && add_obj(x, cell, b) != 0) {
                    fclose(f);
                    return err_set(e, ERR_NOMEM, "out of memory");
                }
            }
        }
    }
    if (f)
        fclose(f);
    x->journal = fopen(x->jpath, same ? "a" : "w");
    if (!x->journal)
        return err_set(e, ERR_IO, "cannot write %s: %s", x->jpath, strerror(errno));
    if (!same)
        return journal_line(x, e, "eefetch-export 1 %s\n", x->plan.hash);
    return 0;
}

/* The ExportImageRequest of a cell: the expression with the download's
 * bands (and nodata), and the cell's PixelGrid in the `grid` field, as
 * computePixels gets it: the server computes exactly the cell's pixels. */
static int request_body(struct xrun *x, const struct task *t, struct buf *b)
{
    const struct grid_cell *c = &x->plan.cells[t->cell];
    int rc = 0;

    buf_reset(b);
    rc |= buf_append_str(b, "{\"expression\":");
    rc |= buf_append_str(b, x->expression);
    rc |= buf_printf(b, ",\"description\":\"eefetch-%.12s-c%zu\",\"requestId\":\"%s\",\"maxPixels\":\"%lld\"",
                     x->plan.hash, t->cell, t->request_id, (long long)c->width * c->height + 1);
    rc |= buf_append_str(b, ",\"grid\":");
    rc |= engine_request_grid(b, &x->plan.grid, c->col, c->row, c->width, c->height);
    rc |= buf_append_str(b, ",\"fileExportOptions\":{\"fileFormat\":\"GEO_TIFF\",\"cloudStorageDestination\":{"
                            "\"bucket\":");
    rc |= exprtext_append_string(b, x->bucket);
    rc |= buf_append_str(b, ",\"filenamePrefix\":");
    rc |= exprtext_append_string(b, t->prefix);
    rc |= buf_append_str(b, "},\"geoTiffOptions\":{\"cloudOptimized\":false");
    /* Files of at most this side (a multiple of the internal tiles, 256
     * by default; a smaller side brings its own tileSize). */
    if (x->o->export_file_dim > 0)
        rc |= buf_printf(b, ",\"tileDimensions\":{\"width\":%ld,\"height\":%ld}", x->o->export_file_dim,
                         x->o->export_file_dim);
    if (x->o->export_file_dim > 0 && x->o->export_file_dim % 256)
        rc |= buf_printf(b, ",\"tileSize\":%ld", x->o->export_file_dim);
    rc |= buf_append_str(b, "}}}");
    return rc ? ERR_NOMEM : 0;
}

/* The Operation in an answer: state, eecu, done, error message. */
struct opinfo {
    char name[512];
    char state[24];
    double eecu;
    int done, failed;
    char error[512];
};

static int parse_operation(const char *body, struct opinfo *op)
{
    struct json_object *root = json_tokener_parse(body ? body : ""), *v, *md, *err;

    memset(op, 0, sizeof *op);
    if (!root)
        return -1;
    if (json_object_object_get_ex(root, "name", &v) && json_object_is_type(v, json_type_string))
        snprintf(op->name, sizeof op->name, "%s", json_object_get_string(v));
    if (json_object_object_get_ex(root, "done", &v))
        op->done = json_object_get_boolean(v);
    if (json_object_object_get_ex(root, "metadata", &md)) {
        if (json_object_object_get_ex(md, "state", &v) && json_object_is_type(v, json_type_string))
            snprintf(op->state, sizeof op->state, "%s", json_object_get_string(v));
        if (json_object_object_get_ex(md, "batchEecuUsageSeconds", &v))
            op->eecu = json_object_get_double(v);
    }
    if (json_object_object_get_ex(root, "error", &err)) {
        op->failed = 1;
        if (json_object_object_get_ex(err, "message", &v))
            snprintf(op->error, sizeof op->error, "%s", json_object_get_string(v));
    }
    if (op->done && !op->state[0])
        snprintf(op->state, sizeof op->state, "%s", op->failed ? "FAILED" : "SUCCEEDED");
    if (op->done && op->failed && strcmp(op->state, "CANCELLED") != 0)
        snprintf(op->state, sizeof op->state, "FAILED");
    if (!op->state[0])
        snprintf(op->state, sizeof op->state, "PENDING");
    json_object_put(root);
    return op->name[0] ? 0 : -1;
}

/* A submission that failed transiently is sent again after the back-off
 * (not the poll schedule: no task exists yet to be polled). */
static void retry_later(struct xrun *x, struct task *t, long retry_after_s)
{
    t->next_ms = time_mono_ms() + backoff_delay_ms(&x->retry, ++t->submit_tries, retry_after_s,
                                                   backoff_random(&x->rng));
}

/* A task that ended badly: the next attempt (new requestId), or the end of
 * the run after EXPORT_MAX_ATTEMPTS. */
static int task_failed(struct xrun *x, struct task *t, const char *why, struct errbuf *e)
{
    /* What no second attempt changes: the bucket, the account's rights. */
    if (strstr(why, "Unable to write to bucket") || strstr(why, "permission") || strstr(why, "PERMISSION_DENIED"))
        return err_set(e, ERR_SERVER, "export task %s (fishnet cell %zu) failed: %s\nhint: the account needs "
                       "write access to gs://%s (docs/export.md); the task is not submitted again",
                       t->name, t->cell, why, x->bucket);
    if (t->attempt + 1 >= EXPORT_MAX_ATTEMPTS)
        return err_set(e, ERR_SERVER,
                       "export task %s (fishnet cell %zu) failed %d times; the last: %s%s", t->name, t->cell,
                       EXPORT_MAX_ATTEMPTS, why,
                       strstr(why, "memory") || strstr(why, "timed out")
                           ? "\nhint: batch tasks have more memory and time than interactive requests, but not "
                             "without bound: simplify the expression or use a finer fishnet (smaller tasks)"
                           : "");
    log_warn("export task %s (cell %zu) ended %s: %s; submitting it again", t->name, t->cell, t->state, why);
    t->attempt++;
    t->phase = TASK_NEW;
    t->name[0] = '\0';
    t->polls = 0;
    t->submit_tries = 0;
    t->next_ms = 0;
    return 0;
}

static int submit(struct xrun *x, struct task *t, struct errbuf *e)
{
    struct buf body;
    struct http_result res;
    struct opinfo op;
    char msg[1024];
    int rc;

    if (export_request_id(x->plan.hash, x->s->bucket, t->cell, t->attempt, t->request_id,
                          sizeof t->request_id) != 0)
        return err_set(e, ERR_INTERNAL, "requestId too long");
    buf_init(&body, 0);
    if ((rc = request_body(x, t, &body)) != 0) {
        buf_free(&body);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    rc = session_post(x->sess, "image:export", body.data, body.len, &res, e);
    buf_free(&body);
    x->sum->requests++;
    if (rc == ERR_INTERRUPTED) {
        http_result_free(&res);
        return rc;
    }
    if (rc == ERR_HTTP || (rc == 0 && backoff_transient(res.status))) {
        /* The same requestId next time: EE starts at most one task for it. */
        long retry_after_s = rc == 0 ? res.retry_after_s : -1;
        session_error_message(&res, msg, sizeof msg);
        log_debug("image:export for cell %zu: %s; retrying", t->cell, rc ? e->msg : msg);
        http_result_free(&res);
        x->sum->retries++;
        if (t->submit_tries >= ENGINE_DEFAULT_RETRIES + 4)
            return err_set(e, ERR_SERVER, "image:export for fishnet cell %zu keeps failing: %s", t->cell,
                           rc ? e->msg : msg);
        retry_later(x, t, retry_after_s);
        return 0;
    }
    if (rc == 0 && res.status != 200) {
        session_error_message(&res, msg, sizeof msg);
        rc = err_set(e, res.status == 401 ? ERR_AUTH : ERR_SERVER,
                     "image:export for fishnet cell %zu: HTTP %ld: %s%s", t->cell, res.status, msg,
                     res.status == 403 ? "\nhint: the account needs permission to write to gs://"
                                         " the bucket (docs/export.md)"
                                       : "");
    } else if (rc == 0 && parse_operation(res.body.data, &op) != 0) {
        rc = err_set(e, ERR_PARSE, "image:export for fishnet cell %zu: the answer is not an Operation", t->cell);
    }
    http_result_free(&res);
    if (rc)
        return rc;
    snprintf(t->name, sizeof t->name, "%s", op.name);
    snprintf(t->state, sizeof t->state, "%s", op.state);
    t->phase = TASK_RUNNING;
    t->polls = 0;
    t->next_ms = time_mono_ms() + export_poll_delay_ms(0, x->first_ms, x->cap_ms);
    x->sum->tasks_submitted++;
    if ((rc = journal_line(x, e, "S %zu %d %s %s\n", t->cell, t->attempt, t->request_id, t->name)) != 0)
        return rc;
    emit_task(x, t, NULL, 0, ENGINE_EV_TASK);
    return 0;
}

static int op_url(const struct xrun *x, const char *name, const char *suffix, struct buf *url)
{
    buf_reset(url);
    return buf_printf(url, "%s/%s/%s%s", session_base(x->sess), session_version(x->sess), name, suffix);
}

static int poll_task(struct xrun *x, struct task *t, struct errbuf *e)
{
    struct buf url;
    struct http_result res;
    struct opinfo op;
    char msg[1024], old[24];
    int rc;

    buf_init(&url, 0);
    if (op_url(x, t->name, "", &url) != 0) {
        buf_free(&url);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    rc = session_request_url(x->sess, "GET", url.data, NULL, 0, NULL, &res, e);
    buf_free(&url);
    x->sum->requests++;
    t->next_ms = time_mono_ms() + export_poll_delay_ms(++t->polls, x->first_ms, x->cap_ms);
    if (rc == ERR_INTERRUPTED) {
        http_result_free(&res);
        return rc;
    }
    if (rc == ERR_HTTP || (rc == 0 && backoff_transient(res.status))) {
        http_result_free(&res);
        x->sum->retries++;
        return 0;   /* polled again later */
    }
    if (rc == 0 && res.status == 404) {
        http_result_free(&res);
        snprintf(t->state, sizeof t->state, "UNKNOWN");
        if ((rc = journal_line(x, e, "E %zu %d UNKNOWN 0\n", t->cell, t->attempt)) != 0)
            return rc;
        return task_failed(x, t, "Earth Engine does not know the operation (HTTP 404)", e);
    }
    if (rc == 0 && res.status != 200) {
        session_error_message(&res, msg, sizeof msg);
        rc = err_set(e, ERR_SERVER, "polling %s: HTTP %ld: %s", t->name, res.status, msg);
    } else if (rc == 0 && parse_operation(res.body.data, &op) != 0) {
        rc = err_set(e, ERR_PARSE, "polling %s: the answer is not an Operation", t->name);
    }
    http_result_free(&res);
    if (rc)
        return rc;
    snprintf(old, sizeof old, "%s", t->state);
    snprintf(t->state, sizeof t->state, "%s", op.state);
    t->eecu = op.eecu;
    if (!op.done) {
        if (strcmp(old, t->state) != 0)
            emit_task(x, t, NULL, 0, ENGINE_EV_TASK);
        return 0;
    }
    if ((rc = journal_line(x, e, "E %zu %d %s %.3f\n", t->cell, t->attempt, t->state, t->eecu)) != 0)
        return rc;
    x->sum->eecu_seconds += t->eecu;
    emit_task(x, t, NULL, 0, ENGINE_EV_TASK);
    if (!op.failed) {
        t->phase = TASK_SUCCEEDED;
        return 0;
    }
    return task_failed(x, t, op.error[0] ? op.error : t->state, e);
}

/* Lists a succeeded task's files and downloads those not verified yet. */
static int download_task(struct xrun *x, struct task *t, struct errbuf *e)
{
    struct gcs_object *objs = NULL;
    struct gcs_get_opts go;
    size_t n, i, mine = 0;
    int rc;

    if ((rc = gcs_list(x->sess, x->gcs, x->bucket, t->prefix, &objs, &n, e)) != 0)
        return rc;
    memset(&go, 0, sizeof go);
    go.so = &x->so;
    go.base = x->gcs;
    go.stop = x->o->stop;
    go.bytes = &x->bytes;
    go.backoff_ms = x->retry.base_ms;
    go.range_bytes = x->o->export_range_bytes;
    for (i = 0; i < n && rc == 0; i++) {
        long ra, rb;
        size_t k;
        int have = 0;
        char lp[4400];

        if (export_parse_object(objs[i].name, t->prefix, &ra, &rb) < 0)
            continue;   /* another cell's (c1 is a prefix of c10) */
        mine++;
        for (k = 0; k < x->nobjs; k++)
            have |= x->objs[k].cell == t->cell && strcmp(x->objs[k].name, objs[i].name) == 0;
        if (have)
            continue;
        local_path(x, objs[i].name, lp, sizeof lp);
        if ((rc = gcs_download(&go, x->bucket, &objs[i], lp, e)) != 0)
            break;
        if (add_obj(x, t->cell, objs[i].name) != 0) {
            rc = err_set(e, ERR_NOMEM, "out of memory");
            break;
        }
        x->sum->objects++;
        x->sum->object_bytes += objs[i].size;
        if ((rc = journal_line(x, e, "O %zu %" PRIu64 " %s %s\n", t->cell, objs[i].size,
                               objs[i].crc32c[0] ? objs[i].crc32c : "-", objs[i].name)) != 0)
            break;
        emit_task(x, t, objs[i].name, objs[i].size, ENGINE_EV_OBJECT);
    }
    free(objs);
    if (rc == 0 && mine == 0) {
        /* EE answered an earlier run's requestId with its finished task,
         * whose files are gone (delete_exported, or removed by hand): the
         * next attempt is a new task. */
        char why[2400];
        snprintf(why, sizeof why, "it succeeded but gs://%s/%s* holds none of its files", x->bucket, t->prefix);
        if ((rc = journal_line(x, e, "E %zu %d GONE %.3f\n", t->cell, t->attempt, t->eecu)) == 0)
            rc = task_failed(x, t, why, e);
        return rc;
    }
    if (rc == 0)
        t->phase = TASK_DOWNLOADED;
    return rc;
}

/* Ctrl-C: the tasks still running are cancelled (--cancel-on-interrupt) or
 * left to finish; either way the journal lets a rerun continue. */
static void interrupted(struct xrun *x)
{
    size_t i, running = 0;
    struct errbuf e;

    for (i = 0; i < x->ntasks; i++) {
        struct task *t = &x->tasks[i];
        struct buf url;
        struct http_result res;
        if (t->phase != TASK_RUNNING)
            continue;
        running++;
        if (!x->o->cancel_on_interrupt)
            continue;
        buf_init(&url, 0);
        if (op_url(x, t->name, ":cancel", &url) == 0 &&
            session_request_url(x->sess, "POST", url.data, "{}", 2, NULL, &res, &e) == 0 &&
            (res.status == 200 || res.status == 204)) {
            snprintf(t->state, sizeof t->state, "CANCELLED");
            journal_line(x, &e, "E %zu %d CANCELLED %.3f\n", t->cell, t->attempt, t->eecu);
            emit_task(x, t, NULL, 0, ENGINE_EV_TASK);
            log_info("cancelled export task %s (cell %zu)", t->name, t->cell);
        } else {
            log_warn("could not cancel export task %s: cancel it in the Code Editor's Tasks tab", t->name);
        }
        http_result_free(&res);
        buf_free(&url);
    }
    if (running && !x->o->cancel_on_interrupt)
        log_warn("%zu export task(s) are still running on Earth Engine (they are not cancelled without "
                 "--cancel-on-interrupt); run the same recipe again to pick them up and download their files",
                 running);
}

/* The export's expression: the download's bands, masked pixels as nodata. */
static int make_expression(struct xrun *x, struct errbuf *e)
{
    const char **ids = calloc(x->s->nbands ? x->s->nbands : 1, sizeof *ids);
    char *sel = NULL;
    size_t i;
    int rc;

    if (!ids)
        return err_set(e, ERR_NOMEM, "out of memory");
    for (i = 0; i < x->s->nbands; i++)
        ids[i] = x->s->bands[i].id;
    rc = exprtext_wrap_select(x->s->expression, ids, x->s->nbands, &sel, e);
    free(ids);
    if (rc)
        return rc;
    if (!x->s->has_nodata) {
        x->expression = sel;
        return 0;
    }
    rc = exprtext_wrap_unmask(sel, x->s->nodata, &x->expression, e);
    free(sel);
    return rc;
}

/* ---- the files into the tile store ---- */

struct xfile {
    GDALDatasetH ds;
    long col, row, width, height;   /* in the output grid */
    enum spec_dtype type;
    char path[4400];
};


static int open_file(struct xrun *x, const struct grid_cell *c, const char *object, struct xfile *f,
                     struct errbuf *e)
{
    const struct grid *g = &x->plan.grid;
    double gt[6], fc, fr;
    GDALRasterBandH b;
    int nb;

    local_path(x, object, f->path, sizeof f->path);
    if (!(f->ds = GDALOpenEx(f->path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL)))
        return err_set(e, ERR_PARSE, "%s (gs://%s/%s) is not a GeoTIFF GDAL can read", f->path, x->bucket, object);
    nb = GDALGetRasterCount(f->ds);
    if (GDALGetGeoTransform(f->ds, gt) != CE_None)
        return err_set(e, ERR_PARSE, "%s has no geotransform", f->path);
    if (nb != (int)x->s->nbands)
        return err_set(e, ERR_PARSE, "%s has %d bands; the download has %zu", f->path, nb, x->s->nbands);
    if (fabs(gt[1] - g->sx) > 1e-9 * fabs(g->sx) || fabs(gt[5] - g->sy) > 1e-9 * fabs(g->sy) || gt[2] != 0 ||
        gt[4] != 0)
        return err_set(e, ERR_PARSE, "%s has pixels of %.17g x %.17g; the output grid's are %.17g x %.17g", f->path,
                       gt[1], gt[5], g->sx, g->sy);
    fc = (gt[0] - g->x0) / g->sx;
    fr = (gt[3] - g->y0) / g->sy;
    f->col = lround(fc);
    f->row = lround(fr);
    f->width = GDALGetRasterXSize(f->ds);
    f->height = GDALGetRasterYSize(f->ds);
    if (fabs(fc - (double)f->col) > 1e-6 || fabs(fr - (double)f->row) > 1e-6)
        return err_set(e, ERR_PARSE, "%s does not lie on the output grid: its corner is %.6f, %.6f pixels from it",
                       f->path, fc, fr);
    if (f->col < c->col || f->row < c->row || f->col + f->width > c->col + c->width ||
        f->row + f->height > c->row + c->height)
        return err_set(e, ERR_PARSE, "%s (pixels %ld,%ld size %ldx%ld) is not inside its fishnet cell (%ld,%ld size "
                       "%ldx%ld)", f->path, f->col, f->row, f->width, f->height, c->col, c->row, c->width, c->height);
    b = GDALGetRasterBand(f->ds, 1);
    f->type = pixtype_from_gdal(GDALGetRasterDataType(b));
    if (f->type == SPEC_DTYPE_AUTO)
        return err_set(e, ERR_PARSE, "%s has pixels of type %s, which eefetch does not write", f->path,
                       GDALGetDataTypeName(GDALGetRasterDataType(b)));
    if (f->type == SPEC_DTYPE_UINT8) {
        const char *pt = GDALGetMetadataItem(b, "PIXELTYPE", "IMAGE_STRUCTURE");
        if (pt && strcmp(pt, "SIGNEDBYTE") == 0)
            f->type = SPEC_DTYPE_INT8;
    }
    return 0;
}

static void fill_values(void *p, enum spec_dtype t, size_t n, double v)
{
    size_t i;

    for (i = 0; i < n; i++)
        mosaic_convert_values(&v, SPEC_DTYPE_FLOAT64, (char *)p + i * spec_dtype_size(t), t, 1);
}

/* One tile from the cell's files into the store and the tile journal. */
static int store_tile(struct xrun *x, struct journal *j, const char *parts, const struct grid_tile *t,
                      struct xfile *fs, size_t nf, struct errbuf *e)
{
    const struct download_spec *s = x->s;
    enum spec_dtype type = fs[0].type;
    size_t esz = spec_dtype_size(type), plane = (size_t)t->width * (size_t)t->height, i;
    struct decoded_tile dt;
    struct mosaic_piece p;
    unsigned char *mask = NULL;
    int inside = 1, rc = 0, b, *bandmap;
    int last_is_mask = s->mask_band && t->band0 + t->nbands == (int)s->nbands;

    memset(&dt, 0, sizeof dt);
    dt.width = t->width;
    dt.height = t->height;
    dt.nbands = t->nbands;
    dt.bands = calloc((size_t)t->nbands, sizeof *dt.bands);
    dt.block = malloc(plane * esz * (size_t)t->nbands);
    bandmap = calloc((size_t)t->nbands, sizeof *bandmap);
    if (!dt.bands || !dt.block || !bandmap) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    for (b = 0; b < t->nbands; b++) {
        dt.bands[b].type = type;
        dt.bands[b].data = (char *)dt.block + (size_t)b * plane * esz;
        bandmap[b] = t->band0 + b + 1;
    }
    /* Pixels no file covers (a skipped empty file) are masked: nodata. */
    fill_values(dt.block, type, plane * (size_t)t->nbands, s->has_nodata ? s->nodata : 0);
    for (i = 0; i < nf; i++) {
        struct xfile *f = &fs[i];
        long c0 = t->col > f->col ? t->col : f->col, r0 = t->row > f->row ? t->row : f->row;
        long c1 = t->col + t->width < f->col + f->width ? t->col + t->width : f->col + f->width;
        long r1 = t->row + t->height < f->row + f->height ? t->row + t->height : f->row + f->height;
        char *dst;
        if (c0 >= c1 || r0 >= r1)
            continue;
        if (f->type != type) {
            rc = err_set(e, ERR_PARSE, "%s has pixels of type %s, another file of the cell %s", f->path,
                         spec_dtype_name(f->type), spec_dtype_name(type));
            goto done;
        }
        dst = (char *)dt.block + ((size_t)(r0 - t->row) * (size_t)t->width + (size_t)(c0 - t->col)) * esz;
        if (GDALDatasetRasterIOEx(f->ds, GF_Read, (int)(c0 - f->col), (int)(r0 - f->row), (int)(c1 - c0),
                                  (int)(r1 - r0), dst, (int)(c1 - c0), (int)(r1 - r0), pixtype_to_gdal(type), t->nbands,
                                  bandmap, (GSpacing)esz, (GSpacing)(esz * (size_t)t->width),
                                  (GSpacing)(esz * plane), NULL) != CE_None) {
            rc = err_set(e, ERR_PARSE, "reading %s: %s", f->path, CPLGetLastErrorMsg());
            goto done;
        }
    }
    memset(&p, 0, sizeof p);
    p.tile_id = t->id;
    p.col = t->col;
    p.row = t->row;
    p.width = t->width;
    p.height = t->height;
    p.band0 = t->band0;
    p.nbands = t->nbands;
    p.type = s->dtype;
    if (last_is_mask && p.type == SPEC_DTYPE_AUTO)
        p.type = type;
    if (x->plan.region) {
        if (!(mask = malloc(plane))) {
            rc = err_set(e, ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((rc = grid_region_mask(&x->plan, t, mask, &inside, e)) < 0)
            goto done;
    }
    if ((rc = mosaic_store_piece(parts, &p, &dt, inside ? NULL : mask, s->has_nodata ? s->nodata : 0, last_is_mask,
                                 e)) < 0)
        goto done;
    rc = journal_append(j, t->id, &p, 1, e);
done:
    free(mask);
    free(bandmap);
    decoded_tile_free(&dt);
    return rc;
}

/* Every tile still missing from the tile store, cut from the files. */
static int fill_store(struct xrun *x, struct errbuf *e)
{
    char jpath[4200], parts[4200];
    struct journal *j = NULL;
    struct journal_state st;
    struct xfile *fs = NULL;
    size_t c, i, nf;
    int rc;

    memset(&st, 0, sizeof st);
    if ((rc = journal_path(x->s->output, jpath, sizeof jpath, e)) < 0 ||
        (rc = mosaic_parts_dir(x->s->output, parts, sizeof parts, e)) < 0 ||
        (rc = journal_open(jpath, x->plan.hash, x->plan.ntiles, 0, &j, &st, e)) < 0)
        goto done;
    if (st.replaced && (rc = mosaic_parts_remove(parts, e)) < 0)
        goto done;
    if ((rc = mosaic_parts_create(parts, e)) < 0)
        goto done;
    if (!(fs = calloc(x->nobjs ? x->nobjs : 1, sizeof *fs))) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    for (c = 0; c < x->plan.ncells && rc == 0; c++) {
        const struct grid_cell *cell = &x->plan.cells[c];
        nf = 0;
        for (i = 0; i < x->nobjs && rc == 0; i++) {
            long a, b;
            struct xfile *f = &fs[nf];
            if (x->objs[i].cell != c)
                continue;
            nf++;
            if ((rc = open_file(x, cell, x->objs[i].name, f, e)) != 0)
                break;
            /* The geotransform places the file; the name's offsets (row
             * then column, by what is known of EE's naming) only confirm. */
            if (export_parse_object(x->objs[i].name, x->tasks[c].prefix, &a, &b) == 1 &&
                !(a == f->row - cell->row && b == f->col - cell->col) &&
                !(a == f->col - cell->col && b == f->row - cell->row))
                log_warn("%s: its name says offsets %ld, %ld in the cell, its geotransform %ld, %ld; placed by "
                         "the geotransform", f->path, a, b, f->row - cell->row, f->col - cell->col);
        }
        for (i = 0; rc == 0 && i < cell->ntiles; i++) {
            const struct grid_tile *t = &x->plan.tiles[cell->first_tile + i];
            if (st.done && st.done[t->id])
                continue;
            if (nf == 0) {
                rc = err_set(e, ERR_INTERNAL, "fishnet cell %zu has no exported file", c);
                break;
            }
            if (stop_requested(x)) {
                rc = err_set(e, ERR_INTERRUPTED, "interrupted");
                break;
            }
            if ((rc = store_tile(x, j, parts, t, fs, nf, e)) == 0)
                x->filled++;
        }
        for (i = 0; i < nf; i++)
            if (fs[i].ds)
                GDALClose(fs[i].ds);
        memset(fs, 0, sizeof *fs * (x->nobjs ? x->nobjs : 1));
    }
done:
    free(fs);
    journal_close(j);
    journal_state_free(&st);
    return rc;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[4600];

    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int setup(struct xrun *x, struct errbuf *e)
{
    const struct engine_opts *o = x->o;
    const struct download_spec *s = x->s;
    const char *endpoint = o->endpoint ? o->endpoint : s->endpoint ? s->endpoint : EE_ENDPOINT;
    const char *project = o->project ? o->project : s->project;
    size_t c;
    int rc;

    if (!s->bucket || !*s->bucket)
        return err_set(e, ERR_USAGE, "via = \"export\" needs bucket = \"gs://<bucket>/<prefix>\"");
    if ((rc = gcs_parse_uri(s->bucket, x->bucket, sizeof x->bucket, x->prefix, sizeof x->prefix, e)) != 0)
        return rc;
    if (!project || !*project)
        return err_set(e, ERR_USAGE, "no Earth Engine project: set project in the recipe or with --project");
    if (gcs_base_for(endpoint, x->gcs, sizeof x->gcs) != 0)
        return err_set(e, ERR_USAGE, "endpoint too long");
    x->first_ms = o->export_poll_ms > 0 ? o->export_poll_ms : EXPORT_POLL_FIRST_MS;
    x->cap_ms = o->export_poll_ms > 0 ? o->export_poll_ms * 15 : EXPORT_POLL_CAP_MS;
    /* The Cloud Storage policy; a faster poll (tests) shortens it alike,
     * its first retry never waiting longer than the first poll. */
    x->retry.base_ms = x->first_ms / 2 < BACKOFF_GCS_BASE_MS ? (x->first_ms + 1) / 2 : BACKOFF_GCS_BASE_MS;
    x->retry.cap_ms = x->cap_ms < BACKOFF_GCS_CAP_MS ? x->cap_ms : BACKOFF_GCS_CAP_MS;
    x->retry.retry_after_s = BACKOFF_GCS_RETRY_AFTER_S;
    x->rng = o->seed ? o->seed : backoff_seed();
    memset(&x->so, 0, sizeof x->so);
    x->so.endpoint = endpoint;
    x->so.project = project;
    x->so.auth = o->auth;
    x->so.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : EE_REQUEST_TIMEOUT_MS;
    if ((rc = session_create(&x->so, &x->sess, e)) != 0)
        return rc;
    x->ntasks = x->plan.ncells;
    if (!(x->tasks = calloc(x->ntasks ? x->ntasks : 1, sizeof *x->tasks)))
        return err_set(e, ERR_NOMEM, "out of memory");
    for (c = 0; c < x->ntasks; c++) {
        struct task *t = &x->tasks[c];
        t->cell = c;
        /* <prefix>/eefetch-<plan>-c<cell>: the plan's files never mix with
         * another download's */
        snprintf(t->prefix, sizeof t->prefix, "%s%seefetch-%.16s-c%zu", x->prefix, x->prefix[0] ? "/" : "",
                 x->plan.hash, c);
    }
    if (snprintf(x->jpath, sizeof x->jpath, "%s.eefetch-export", s->output) >= (int)sizeof x->jpath ||
        snprintf(x->dir, sizeof x->dir, "%s.eefetch-export.d", s->output) >= (int)sizeof x->dir)
        return err_set(e, ERR_USAGE, "output path too long");
    if (s->existing == SPEC_EXISTING_OVERWRITE)
        remove_dir(x->dir);
    if (mkdir(x->dir, 0755) != 0 && errno != EEXIST)
        return err_set(e, ERR_IO, "cannot create %s: %s", x->dir, strerror(errno));
    if ((rc = journal_load(x, s->existing == SPEC_EXISTING_OVERWRITE, e)) != 0)
        return rc;
    return make_expression(x, e);
}

/* Submits, polls and downloads until every cell's files are here. */
static int run_tasks(struct xrun *x, struct errbuf *e)
{
    const struct download_spec *s = x->s;
    int max_tasks = s->max_tasks > 0 ? s->max_tasks : EXPORT_DEFAULT_MAX_TASKS;
    size_t i;
    int rc = 0;

    if (max_tasks > EXPORT_PENDING_CAP)
        max_tasks = EXPORT_PENDING_CAP;
    for (i = 0; i < x->ntasks; i++) {
        struct task *t = &x->tasks[i];
        if (t->phase == TASK_RUNNING || t->phase == TASK_SUCCEEDED)
            x->sum->tasks_resumed++;
        if (t->phase >= TASK_SUCCEEDED)
            x->sum->eecu_seconds += t->eecu;
        if (t->phase != TASK_NEW)
            emit_task(x, t, NULL, 0, ENGINE_EV_TASK);
    }
    /* A succeeded task whose files are all here was downloaded by an
     * earlier run; download_task finds that out by listing. */
    for (;;) {
        int64_t now = time_mono_ms(), next = now + 200;
        int running = 0, left = 0;

        if (stop_requested(x)) {
            interrupted(x);
            return err_set(e, ERR_INTERRUPTED, "interrupted");
        }
        for (i = 0; i < x->ntasks; i++)
            running += x->tasks[i].phase == TASK_RUNNING;
        for (i = 0; i < x->ntasks && rc == 0; i++) {
            struct task *t = &x->tasks[i];
            if (t->phase != TASK_DOWNLOADED)
                left++;
            if (t->phase == TASK_NEW && running < max_tasks && t->next_ms <= now) {
                rc = submit(x, t, e);
                running += t->phase == TASK_RUNNING;
            } else if (t->phase == TASK_RUNNING && t->next_ms <= now) {
                rc = poll_task(x, t, e);
            }
            if (rc == 0 && t->phase == TASK_SUCCEEDED)
                rc = download_task(x, t, e);
            if ((t->phase == TASK_RUNNING || t->phase == TASK_NEW) && t->next_ms < next && t->next_ms > now)
                next = t->next_ms;
        }
        if (rc == ERR_INTERRUPTED || (rc == 0 && stop_requested(x))) {
            interrupted(x);
            return err_set(e, ERR_INTERRUPTED, "interrupted");
        }
        if (rc) {
            size_t n = 0;
            for (i = 0; i < x->ntasks; i++)
                n += x->tasks[i].phase == TASK_RUNNING;
            if (n)
                log_warn("%zu other export task(s) keep running on Earth Engine; a rerun of the same recipe "
                         "picks them up", n);
            return rc;
        }
        if (left == 0)
            return 0;
        /* Sleep in short steps: a stop is noticed within 100 ms. */
        while (!stop_requested(x) && time_mono_ms() < next) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

static void delete_objects(struct xrun *x)
{
    size_t i;
    struct errbuf e;

    for (i = 0; i < x->nobjs; i++)
        if (gcs_delete(x->sess, x->gcs, x->bucket, x->objs[i].name, &e) != 0)
            log_warn("could not delete gs://%s/%s: %s", x->bucket, x->objs[i].name, e.msg);
}

/* What the engine answers alone, with no task: a file at the output under
 * resume = false or existing = skip (the engine's rules, before any task is
 * submitted), or an output complete already with no export under way.
 * 1: hand the run to the engine as it is; 0: export; or ERR_USAGE for
 * resume = false with an unfinished export. */
static int engine_alone(const struct xrun *x, struct errbuf *e)
{
    const struct download_spec *s = x->s;
    char jp[4200];

    snprintf(jp, sizeof jp, "%s.eefetch-export", s->output);
    if (s->existing == SPEC_EXISTING_FAIL && access(jp, F_OK) == 0)
        return err_set(e, ERR_USAGE, "%s exists (an unfinished export of this output) and resume = false; "
                       "remove it or drop resume = false to continue it", jp);
    if ((s->existing == SPEC_EXISTING_FAIL || s->existing == SPEC_EXISTING_SKIP) && access(s->output, F_OK) == 0)
        return 1;
    return s->existing != SPEC_EXISTING_OVERWRITE &&
           mosaic_existing_output(s->output, x->plan.hash) == MOSAIC_SAME_PLAN && access(jp, F_OK) != 0;
}

/* overwrite: the tile store is refilled from the files, so an older run's
 * journal and pieces go, and eefetch's old output with them. */
static void clear_old_store(const struct xrun *x)
{
    const char *out = x->s->output;
    char jp[4200], parts[4200];
    struct errbuf ig;

    if (journal_path(out, jp, sizeof jp, &ig) == 0)
        journal_remove(jp, NULL);
    if (mosaic_parts_dir(out, parts, sizeof parts, &ig) == 0)
        mosaic_parts_remove(parts, NULL);
    if (x->o->overwrite_any || mosaic_existing_output(out, x->plan.hash) != MOSAIC_FOREIGN)
        unlink(out);
}

static void emit_assembling(const struct xrun *x)
{
    struct engine_event ev;

    if (!x->o->on_event)
        return;
    memset(&ev, 0, sizeof ev);
    ev.kind = ENGINE_EV_ASSEMBLING;
    ev.tiles_total = x->plan.ntiles;
    ev.bytes = x->bytes;
    x->o->on_event(&ev, x->o->ud);
}

/* Every tile is stored and journaled: the engine takes it from there, as
 * a resumed run, and the export's traces go once the output is written. */
static int hand_over(struct xrun *x, struct engine_summary *sum, struct errbuf *e)
{
    struct download_spec resume = *x->s;
    struct engine_opts eo = *x->o;
    int rc;

    resume.existing = SPEC_EXISTING_RESUME;
    eo.spec = &resume;
    rc = engine_run(&eo, sum, e);
    /* The engine found them stored: they were fetched by this run all the same. */
    if (sum->tiles_resumed >= x->filled) {
        sum->tiles_resumed -= x->filled;
        sum->tiles_fetched += x->filled;
    }
    if (rc == 0) {
        if (x->s->delete_exported)
            delete_objects(x);
        fclose(x->journal);
        x->journal = NULL;
        unlink(x->jpath);
        remove_dir(x->dir);
    }
    return rc;
}

/* The export's own counts into the run's summary, whatever the outcome. */
static void summarize(const struct xrun *x, const struct engine_summary *xs, struct engine_summary *sum,
                      int64_t t0)
{
    sum->via_export = 1;
    sum->tasks = x->ntasks;
    sum->tasks_submitted = xs->tasks_submitted;
    sum->tasks_resumed = xs->tasks_resumed;
    sum->objects = xs->objects;
    sum->object_bytes = xs->object_bytes;
    sum->eecu_seconds = xs->eecu_seconds;
    sum->requests += xs->requests;
    sum->retries += xs->retries;
    sum->bytes += x->bytes;
    sum->seconds = (double)(time_mono_ms() - t0) / 1000.0;
}

static void xrun_free(struct xrun *x)
{
    if (x->journal)
        fclose(x->journal);
    if (x->lock_fd >= 0)
        close(x->lock_fd);
    session_destroy(x->sess);
    free(x->tasks);
    free(x->objs);
    free(x->expression);
    grid_plan_free(&x->plan);
}

int export_run(const struct engine_opts *o, struct engine_summary *sum, struct errbuf *e)
{
    const struct download_spec *s = o->spec;
    struct xrun x;
    struct engine_summary xs;
    int64_t t0 = time_mono_ms();
    int rc;

    memset(&x, 0, sizeof x);
    x.lock_fd = -1;
    memset(sum, 0, sizeof *sum);
    memset(&xs, 0, sizeof xs);
    x.o = o;
    x.s = s;
    x.sum = &xs;
    mosaic_global_init();
    if (o->plan_only || !s->output || !*s->output) {
        rc = engine_run(o, sum, e);
        sum->via_export = 1;
        sum->tasks = sum->cells;   /* one task per fishnet cell */
        return rc;
    }
    if ((rc = grid_plan_build(s, &x.plan, e)) < 0)
        goto done;
    if ((rc = engine_alone(&x, e)) > 0) {
        grid_plan_free(&x.plan);
        rc = engine_run(o, sum, e);
        sum->via_export = 1;
        return rc;
    }
    if (rc < 0 || (rc = setup(&x, e)) != 0 || (rc = run_tasks(&x, e)) != 0)
        goto done;
    if (s->existing == SPEC_EXISTING_OVERWRITE)
        clear_old_store(&x);
    emit_assembling(&x);
    if ((rc = fill_store(&x, e)) == 0)
        rc = hand_over(&x, sum, e);
done:
    summarize(&x, &xs, sum, t0);
    xrun_free(&x);
    return rc;
}
