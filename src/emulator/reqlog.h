/*
 * The emulator's JSON-lines request log (`serve --request-log FILE`): one
 * object per answered request, written before the answer is sent so a client
 * that has its answer can already read the line.
 */
#ifndef EEFETCH_EMULATOR_REQLOG_H
#define EEFETCH_EMULATOR_REQLOG_H

#include <json-c/json.h>
#include <stdint.h>

#include "util/err.h"

struct reqlog;

struct reqlog_entry {
    uint64_t id;           /* request number (the fault generator's counter) */
    const char *method;
    const char *path;
    const char *route;     /* router_name() */
    const char *project;   /* NULL when not a project route */
    const char *billed;    /* project the quota counted (X-Goog-User-Project or path), or NULL */
    const char *asset;     /* NULL when none */
    int status;            /* HTTP status; 0 when the connection was dropped */
    int64_t bytes;         /* response body bytes (promised, for truncation) */
    int64_t sent_bytes;    /* bytes actually sent */
    double ms;             /* time from request start to answer */
    const char *fault;     /* NULL, "429", "500", "503", "reset", "truncate" */
    json_object *request;  /* parsed POST body or NULL (grid, bandIds are copied) */
    const char *message;   /* error message of an error answer, or NULL */
};

/* Opens path for appending. */
int reqlog_open(const char *path, struct reqlog **out, struct errbuf *e);
void reqlog_close(struct reqlog *l);
/* Appends one line; thread-safe. Failures to write are ignored (logged once). */
void reqlog_write(struct reqlog *l, const struct reqlog_entry *en);

#endif
