/* JSON-lines request log (see reqlog.h). */
#include "emulator/reqlog.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/timeutil.h"

struct reqlog {
    FILE *f;
    pthread_mutex_t lock;
    int failed;
};

int reqlog_open(const char *path, struct reqlog **out, struct errbuf *e)
{
    struct reqlog *l = calloc(1, sizeof *l);

    if (!l)
        return err_set(e, ERR_NOMEM, "out of memory");
    l->f = fopen(path, "a");
    if (!l->f) {
        int saved = errno;
        free(l);
        return err_set(e, ERR_IO, "cannot open request log %s: %s", path, strerror(saved));
    }
    if (pthread_mutex_init(&l->lock, NULL) != 0) {
        fclose(l->f);
        free(l);
        return err_set(e, ERR_INTERNAL, "cannot create request log lock");
    }
    *out = l;
    return 0;
}

void reqlog_close(struct reqlog *l)
{
    if (!l)
        return;
    fclose(l->f);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static void add_str(json_object *o, const char *key, const char *v)
{
    json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

/* Copies the request fields the tests check: which grid and bands, and an
 * export's requestId. */
static void add_request_fields(json_object *o, json_object *req)
{
    static const char *const keys[] = {"grid", "bandIds", "fileFormat", "region", "requestId"};
    json_object *v;
    size_t i;

    if (!req || !json_object_is_type(req, json_type_object))
        return;
    for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_object_object_get_ex(req, keys[i], &v))
            json_object_object_add(o, keys[i], json_object_get(v));
    /* Grid dimensions at top level as well, for quick filtering. */
    if (json_object_object_get_ex(req, "grid", &v)) {
        json_object *dims, *w, *h;
        if (json_object_object_get_ex(v, "dimensions", &dims) &&
            json_object_object_get_ex(dims, "width", &w) &&
            json_object_object_get_ex(dims, "height", &h)) {
            json_object_object_add(o, "width", json_object_new_int64(json_object_get_int64(w)));
            json_object_object_add(o, "height", json_object_new_int64(json_object_get_int64(h)));
        }
    }
}

void reqlog_write(struct reqlog *l, const struct reqlog_entry *en)
{
    char when[40];
    json_object *o;
    const char *line;

    if (!l)
        return;
    o = json_object_new_object();
    if (!o)
        return;
    time_format_rfc3339(time_now_ms(), when, sizeof when);
    add_str(o, "time", when);
    json_object_object_add(o, "id", json_object_new_int64((int64_t)en->id));
    add_str(o, "method", en->method);
    add_str(o, "path", en->path);
    add_str(o, "route", en->route);
    add_str(o, "project", en->project);
    add_str(o, "billed_project", en->billed);
    add_str(o, "asset", en->asset);
    json_object_object_add(o, "status", json_object_new_int(en->status));
    json_object_object_add(o, "bytes", json_object_new_int64(en->bytes));
    json_object_object_add(o, "sent_bytes", json_object_new_int64(en->sent_bytes));
    json_object_object_add(o, "ms", json_object_new_double((double)(int64_t)(en->ms * 1000.0) / 1000.0));
    add_str(o, "fault", en->fault);
    if (en->message)
        add_str(o, "message", en->message);
    add_request_fields(o, en->request);

    line = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    pthread_mutex_lock(&l->lock);
    if (fprintf(l->f, "%s\n", line) < 0 || fflush(l->f) != 0) {
        if (!l->failed)
            log_warn("emulator: cannot write the request log: %s", strerror(errno));
        l->failed = 1;
    }
    pthread_mutex_unlock(&l->lock);
    json_object_put(o);
}
