/* Progress reporting (see progress.h). */
#include "core/progress.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"
#include "util/platform.h"
#include "util/timeutil.h"

struct progress {
    enum progress_mode mode;
    FILE *out;
    char label[128];
    char output[1024];       /* JSON events name their download: its output, */
    int download, line;      /* its number in the recipe and its line (0: unknown) */
    int64_t t0, last_draw;
    int drawn;               /* a bar line is on screen */
    int map_rows;            /* lines of tile map on screen above the bar */
    uint64_t bytes0;         /* bytes at the first event, for the rate */
};

int progress_mode_parse(const char *s, enum progress_mode *m)
{
    static const char *const names[] = {"auto", "bar", "plain", "json", "off", "map"};
    int i;

    for (i = 0; i < 6; i++)
        if (s && strcmp(s, names[i]) == 0) {
            *m = (enum progress_mode)i;
            return 0;
        }
    return -1;
}

struct progress *progress_create(enum progress_mode mode, FILE *out, const char *label)
{
    struct progress *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    if (mode == PROGRESS_AUTO)
        mode = platform_isatty(fileno(out)) ? PROGRESS_BAR : PROGRESS_PLAIN;
    p->mode = mode;
    p->out = out;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->t0 = time_mono_ms();
    p->last_draw = p->t0 - 60000;
    return p;
}

void progress_set_source(struct progress *p, const char *output, int download, int line)
{
    if (!p)
        return;
    snprintf(p->output, sizeof p->output, "%s", output ? output : "");
    p->download = download;
    p->line = line;
}

static const char *kind_name(enum engine_event_kind k)
{
    switch (k) {
    case ENGINE_EV_PLANNED: return "planned";
    case ENGINE_EV_TILE_DONE: return "tile_done";
    case ENGINE_EV_RETRY: return "retry";
    case ENGINE_EV_SPLIT: return "split";
    case ENGINE_EV_CONCURRENCY: return "concurrency";
    case ENGINE_EV_ASSEMBLING: return "assembling";
    case ENGINE_EV_TASK: return "task";
    case ENGINE_EV_OBJECT: return "object";
    }
    return "?";
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* The fields every JSON event starts with: what happened, when, and which
 * download of the recipe it belongs to. */
static void json_head(struct progress *p, const char *event, int64_t now)
{
    fprintf(p->out, "{\"event\":\"%s\",\"t\":%.3f", event, (double)(now - p->t0) / 1000.0);
    if (p->output[0]) {
        fputs(",\"output\":", p->out);
        json_string(p->out, p->output);
    }
    if (p->download > 0)
        fprintf(p->out, ",\"download\":%d", p->download);
    if (p->line > 0)
        fprintf(p->out, ",\"line\":%d", p->line);
}

/* "1:02:03" or "2:03"; "--:--" when unknown. */
static void fmt_duration(double s, char *out, size_t cap)
{
    long t;

    if (!(s >= 0) || s > 360000) {
        snprintf(out, cap, "--:--");
        return;
    }
    t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(out, cap, "%ld:%02ld", t / 60, t % 60);
}

#define MAP_COLS 64
#define MAP_ROWS 16

/* The live tile map: the output grid scaled to at most MAP_COLS x MAP_ROWS
 * characters (one per tile when the tiles are fewer), each showing the
 * tiles whose centre falls in it: '#' all done, '+' some, '.' none, ' ' no
 * tile (outside a polygon region). Redrawn in place above the bar. */
static void draw_map(struct progress *p, const struct engine_event *ev)
{
    const struct grid_plan *pl = ev->plan;
    unsigned short total[MAP_ROWS][MAP_COLS], done[MAP_ROWS][MAP_COLS];
    long tcols, trows;
    int mc, mr, r, c;
    size_t i;

    if (!pl || !ev->done || pl->ntiles == 0 || pl->grid.width <= 0 || pl->grid.height <= 0 || pl->tile_w <= 0 ||
        pl->tile_h <= 0)
        return;
    tcols = (pl->grid.width + pl->tile_w - 1) / pl->tile_w;
    trows = (pl->grid.height + pl->tile_h - 1) / pl->tile_h;
    mc = tcols < MAP_COLS ? (int)tcols : MAP_COLS;
    mr = trows < MAP_ROWS ? (int)trows : MAP_ROWS;
    memset(total, 0, sizeof total);
    memset(done, 0, sizeof done);
    for (i = 0; i < pl->ntiles; i++) {
        const struct grid_tile *t = &pl->tiles[i];
        /* One character per nominal tile when they fit, else scaled. */
        c = tcols <= MAP_COLS ? (int)(t->col / pl->tile_w)
                              : (int)((double)(t->col + t->width / 2) * mc / (double)pl->grid.width);
        r = trows <= MAP_ROWS ? (int)(t->row / pl->tile_h)
                              : (int)((double)(t->row + t->height / 2) * mr / (double)pl->grid.height);
        c = c < 0 ? 0 : c >= mc ? mc - 1 : c;
        r = r < 0 ? 0 : r >= mr ? mr - 1 : r;
        if (total[r][c] < 65535) {
            total[r][c]++;
            done[r][c] += ev->done[i] ? 1 : 0;
        }
    }
    fputc('\r', p->out);
    if (p->map_rows)
        fprintf(p->out, "\033[%dA", p->map_rows);
    for (r = 0; r < mr; r++) {
        for (c = 0; c < mc; c++)
            fputc(!total[r][c] ? ' ' : done[r][c] == total[r][c] ? '#' : done[r][c] ? '+' : '.', p->out);
        fputs("\033[K\n", p->out);
    }
    p->map_rows = mr;
}

static void draw(struct progress *p, const struct engine_event *ev, int64_t now, int bar)
{
    double secs = (double)(now - p->t0) / 1000.0;
    double mib = (double)ev->bytes / 1048576.0;
    double rate = secs > 0 ? (double)(ev->bytes - p->bytes0) / 1048576.0 / secs : 0;
    size_t todo = ev->tiles_total - ev->tiles_resumed, fetched = ev->tiles_done - ev->tiles_resumed;
    double eta = fetched > 0 ? secs * (double)(todo - fetched) / (double)fetched : -1;
    char eta_s[32];
    int width = 24, filled = ev->tiles_total ? (int)((double)width * ev->tiles_done / ev->tiles_total) : 0, i;

    fmt_duration(eta, eta_s, sizeof eta_s);
    if (bar) {
        if (p->mode == PROGRESS_MAP)
            draw_map(p, ev);
        fputc('\r', p->out);
        if (p->label[0])
            fprintf(p->out, "%s ", p->label);
        fputc('[', p->out);
        for (i = 0; i < width; i++)
            fputc(i < filled ? '#' : '.', p->out);
        fprintf(p->out, "] %zu/%zu tiles  %.1f MiB  %.1f MiB/s  ETA %s  conc %d  retries %llu \033[K",
                ev->tiles_done, ev->tiles_total, mib, rate, eta_s, ev->concurrency,
                (unsigned long long)ev->retries);
        p->drawn = 1;
    } else {
        fprintf(p->out, "%s%s%zu/%zu tiles, %.1f MiB, %.1f MiB/s, ETA %s, concurrency %d, retries %llu\n",
                p->label, p->label[0] ? ": " : "", ev->tiles_done, ev->tiles_total, mib, rate, eta_s,
                ev->concurrency, (unsigned long long)ev->retries);
    }
    fflush(p->out);
}

/* Export tasks change state seldom: one line (or JSON object) each. */
static void task_event(struct progress *p, const struct engine_event *ev, int64_t now)
{
    if (p->mode == PROGRESS_JSON) {
        fprintf(p->out, "{\"event\":\"%s\",\"t\":%.3f,\"task\":%zu,\"operation\":", kind_name(ev->kind),
                (double)(now - p->t0) / 1000.0, ev->task);
        json_string(p->out, ev->task_name ? ev->task_name : "");
        fprintf(p->out, ",\"request_id\":");
        json_string(p->out, ev->task_request_id ? ev->task_request_id : "");
        fprintf(p->out, ",\"state\":");
        json_string(p->out, ev->task_state ? ev->task_state : "");
        fprintf(p->out, ",\"eecu_seconds\":%.3f,\"tasks_done\":%zu,\"tasks_total\":%zu,\"bytes\":%llu",
                ev->task_eecu, ev->tasks_done, ev->tasks_total, (unsigned long long)ev->bytes);
        if (ev->kind == ENGINE_EV_OBJECT) {
            fprintf(p->out, ",\"object\":");
            json_string(p->out, ev->object ? ev->object : "");
            fprintf(p->out, ",\"object_bytes\":%llu", (unsigned long long)ev->object_bytes);
        }
        fputs("}\n", p->out);
    } else {
        if (p->drawn) {
            fputc('\n', p->out);
            p->drawn = 0;
        }
        if (ev->kind == ENGINE_EV_OBJECT)
            fprintf(p->out, "%s%sexport cell %zu: downloaded %s (%.1f MiB)\n", p->label, p->label[0] ? ": " : "",
                    ev->task, ev->object ? ev->object : "", (double)ev->object_bytes / 1048576.0);
        else
            fprintf(p->out, "%s%sexport task %zu/%zu (cell %zu) %s %s, %.1f EECU-s\n", p->label,
                    p->label[0] ? ": " : "", ev->tasks_done, ev->tasks_total, ev->task,
                    ev->task_state ? ev->task_state : "", ev->task_name ? ev->task_name : "", ev->task_eecu);
    }
    fflush(p->out);
}

void progress_on_event(const struct engine_event *ev, void *ud)
{
    struct progress *p = ud;
    int64_t now;

    if (!p || p->mode == PROGRESS_OFF)
        return;
    now = time_mono_ms();
    if (ev->kind == ENGINE_EV_PLANNED)
        p->bytes0 = ev->bytes;
    if (ev->kind == ENGINE_EV_TASK || ev->kind == ENGINE_EV_OBJECT) {
        task_event(p, ev, now);
        return;
    }
    if (p->mode == PROGRESS_JSON) {
        json_head(p, kind_name(ev->kind), now);
        fprintf(p->out, ",\"tiles_done\":%zu,\"tiles_total\":%zu,"
                        "\"tiles_resumed\":%zu,\"bytes\":%llu,\"concurrency\":%d,\"active\":%d,\"retries\":%llu",
                ev->tiles_done, ev->tiles_total, ev->tiles_resumed, (unsigned long long)ev->bytes, ev->concurrency,
                ev->active, (unsigned long long)ev->retries);
        if (ev->kind == ENGINE_EV_TILE_DONE || ev->kind == ENGINE_EV_RETRY || ev->kind == ENGINE_EV_SPLIT)
            fprintf(p->out, ",\"tile\":%zu", ev->tile_id);
        if (ev->kind == ENGINE_EV_RETRY || ev->kind == ENGINE_EV_SPLIT) {
            fprintf(p->out, ",\"status\":%ld,\"message\":", ev->http_status);
            json_string(p->out, ev->message);
        }
        fputs("}\n", p->out);
        fflush(p->out);
        return;
    }
    if (p->mode == PROGRESS_BAR || p->mode == PROGRESS_MAP) {
        if (now - p->last_draw >= 200 || ev->kind == ENGINE_EV_ASSEMBLING) {
            p->last_draw = now;
            draw(p, ev, now, 1);
        }
    } else if (now - p->last_draw >= 10000 || ev->kind == ENGINE_EV_ASSEMBLING) {
        p->last_draw = now;
        draw(p, ev, now, 0);
    }
}

void progress_finish(struct progress *p, const struct engine_summary *sum, int rc)
{
    char dur[32];

    if (!p || p->mode == PROGRESS_OFF)
        return;
    if (p->mode == PROGRESS_JSON) {
        json_head(p, "finished", time_mono_ms());
        fprintf(p->out,
                ",\"status\":%d,\"tiles_total\":%zu,\"tiles_fetched\":%zu,"
                "\"tiles_resumed\":%zu,\"tiles_skipped\":%zu,\"requests\":%llu,\"retries\":%llu,"
                "\"splits\":%llu,\"http_429\":%llu,\"bytes\":%llu,\"seconds\":%.3f,\"max_concurrency\":%d",
                rc, sum->tiles_total, sum->tiles_fetched, sum->tiles_resumed, sum->tiles_skipped,
                (unsigned long long)sum->requests, (unsigned long long)sum->retries,
                (unsigned long long)sum->splits, (unsigned long long)sum->http_429,
                (unsigned long long)sum->bytes, sum->seconds, sum->max_concurrency);
        if (sum->via_export)
            fprintf(p->out, ",\"via\":\"export\",\"tasks\":%zu,\"tasks_submitted\":%zu,\"tasks_resumed\":%zu,"
                            "\"objects\":%llu,\"object_bytes\":%llu,\"eecu_seconds\":%.3f",
                    sum->tasks, sum->tasks_submitted, sum->tasks_resumed, (unsigned long long)sum->objects,
                    (unsigned long long)sum->object_bytes, sum->eecu_seconds);
        fputs("}\n", p->out);
        fflush(p->out);
        return;
    }
    if (p->drawn)
        fputc('\n', p->out);
    fmt_duration(sum->seconds, dur, sizeof dur);
    fprintf(p->out,
            "%s%s%zu tiles (%zu fetched, %zu resumed, %zu outside the region), %.1f MiB in %s, "
            "%llu retries, %llu splits%s\n",
            p->label, p->label[0] ? ": " : "", sum->tiles_total, sum->tiles_fetched, sum->tiles_resumed,
            sum->tiles_skipped, (double)sum->bytes / 1048576.0, dur, (unsigned long long)sum->retries,
            (unsigned long long)sum->splits,
            rc == ERR_INTERRUPTED ? " - interrupted, run again to resume"
            : rc != 0             ? " - failed"
            : sum->skipped        ? " - complete already, skipped"
                                  : "");
    if (sum->via_export)
        fprintf(p->out, "%s%sexport: %zu task(s) (%zu submitted by this run, %zu resumed), %llu file(s), %.1f MiB "
                        "from Cloud Storage, %.1f EECU-seconds\n",
                p->label, p->label[0] ? ": " : "", sum->tasks, sum->tasks_submitted, sum->tasks_resumed,
                (unsigned long long)sum->objects, (double)sum->object_bytes / 1048576.0, sum->eecu_seconds);
    fflush(p->out);
}

void progress_destroy(struct progress *p)
{
    free(p);
}
