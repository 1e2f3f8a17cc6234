/* Progress output: JSON lines parse (json-c) with the event's fields; plain
 * and bar modes print the counts; the final summary line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../unit/check.h"
#include "core/progress.h"

static void feed(struct progress *p)
{
    struct engine_event ev;

    memset(&ev, 0, sizeof ev);
    ev.tiles_total = 12;
    ev.tiles_resumed = 2;
    ev.kind = ENGINE_EV_PLANNED;
    ev.tiles_done = 2;
    ev.concurrency = 4;
    progress_on_event(&ev, p);
    ev.kind = ENGINE_EV_RETRY;
    ev.tile_id = 5;
    ev.http_status = 503;
    ev.message = "The service is \"unavailable\".";
    ev.retries = 1;
    progress_on_event(&ev, p);
    ev.kind = ENGINE_EV_TILE_DONE;
    ev.tiles_done = 12;
    ev.bytes = 3 * 1048576;
    ev.message = NULL;
    progress_on_event(&ev, p);
    ev.kind = ENGINE_EV_ASSEMBLING;
    progress_on_event(&ev, p);
}

static char *slurp(FILE *f)
{
    long n;
    char *s;

    fflush(f);
    n = ftell(f);
    s = calloc((size_t)n + 1, 1);
    rewind(f);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        return NULL;
    }
    return s;
}

int main(void)
{
    struct engine_summary sum;
    struct progress *p;
    enum progress_mode m;
    FILE *f;
    char *text, *line, *save = NULL;
    int lines = 0;

    CHECK(progress_mode_parse("json", &m) == 0 && m == PROGRESS_JSON);
    CHECK(progress_mode_parse("fancy", &m) == -1);
    memset(&sum, 0, sizeof sum);
    sum.tiles_total = 12;
    sum.tiles_fetched = 10;
    sum.tiles_resumed = 2;
    sum.retries = 1;
    sum.bytes = 3 * 1048576;

    f = tmpfile();
    p = progress_create(PROGRESS_JSON, f, "dem");
    CHECK(p != NULL);
    feed(p);
    progress_finish(p, &sum, 0);
    progress_destroy(p);
    text = slurp(f);
    CHECK(text != NULL);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_object *o = json_tokener_parse(line), *v = NULL;
        CHECK(o != NULL);
        if (!o)
            continue;
        CHECK(json_object_object_get_ex(o, "event", &v));
        if (lines == 1) {
            CHECK_STR(json_object_get_string(v), "retry");
            CHECK(json_object_object_get_ex(o, "message", &v));
            CHECK_STR(json_object_get_string(v), "The service is \"unavailable\".");
            CHECK(json_object_object_get_ex(o, "status", &v) && json_object_get_int(v) == 503);
        }
        if (lines == 4) {
            CHECK_STR(json_object_get_string(v), "finished");
            CHECK(json_object_object_get_ex(o, "tiles_fetched", &v) && json_object_get_int(v) == 10);
        }
        json_object_put(o);
        lines++;
    }
    CHECK(lines == 5);
    free(text);
    fclose(f);

    f = tmpfile();
    p = progress_create(PROGRESS_PLAIN, f, NULL);
    feed(p);
    progress_finish(p, &sum, ERR_INTERRUPTED);
    progress_destroy(p);
    text = slurp(f);
    CHECK(text && strstr(text, "12/12 tiles, 3.0 MiB"));
    CHECK(text && strstr(text, "interrupted, run again to resume"));
    free(text);
    fclose(f);

    f = tmpfile();
    p = progress_create(PROGRESS_BAR, f, NULL);
    feed(p);
    progress_finish(p, &sum, 0);
    progress_destroy(p);
    text = slurp(f);
    CHECK(text && strstr(text, "\r[") && strstr(text, "] 12/12 tiles") && strstr(text, "ETA"));
    free(text);
    fclose(f);
    return CHECK_DONE();
}
