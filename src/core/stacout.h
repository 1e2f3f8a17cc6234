/*
 * STAC metadata of a finished download (docs/recipes.md, "STAC metadata"):
 * a STAC Item beside each output, named as the output with ".json", and
 * for a collection's files a STAC Collection over their Items.
 */
#ifndef EEFETCH_CORE_STACOUT_H
#define EEFETCH_CORE_STACOUT_H

#include <stddef.h>

#include "core/engine.h"
#include "core/spec.h"
#include "util/err.h"

/* Writes the Item(s) (and Collection) of a complete output. */
int stacout_write(const struct download_spec *s, const struct engine_summary *sum, struct errbuf *e);

/* The JSON that stacout_write writes last (the Item, or the Collection of
 * a collection's files): its presence says the metadata is complete. */
int stacout_path(const struct download_spec *s, char *out, size_t cap);

#endif
