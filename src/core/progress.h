/*
 * Progress reporting for the tile engine: a one-line bar on a terminal,
 * periodic plain lines off a terminal, or one JSON object per event
 * (--progress json). Feed it the engine's events by passing
 * progress_on_event as engine_opts.on_event with the progress as ud.
 */
#ifndef EEFETCH_CORE_PROGRESS_H
#define EEFETCH_CORE_PROGRESS_H

#include <stdio.h>

#include "core/engine.h"

enum progress_mode {
    PROGRESS_AUTO = 0,   /* BAR when out is a terminal, else PLAIN */
    PROGRESS_BAR,        /* redrawn in place, at most 5 times a second */
    PROGRESS_PLAIN,      /* a line every 10 s and at the end */
    PROGRESS_JSON,       /* one JSON object per event, one per line */
    PROGRESS_OFF,
    PROGRESS_MAP,        /* BAR plus a live map of the tiles above it */
};

struct progress;

/* Parses "auto", "bar", "plain", "json", "off", "map". Returns 0 or -1. */
int progress_mode_parse(const char *s, enum progress_mode *m);

/* out is not closed by progress_destroy. Returns NULL when out of memory. */
struct progress *progress_create(enum progress_mode mode, FILE *out, const char *label);
/* Names the download in every JSON event: its output path, its number in
 * the recipe (1 for the first download{}) and the recipe line. */
void progress_set_source(struct progress *p, const char *output, int download, int line);
/* engine_opts.on_event callback (ud = the struct progress). */
void progress_on_event(const struct engine_event *ev, void *ud);
/* Final line: the summary (tiles, bytes, time, retries) and the outcome. */
void progress_finish(struct progress *p, const struct engine_summary *sum, int rc);
void progress_destroy(struct progress *p);

#endif
