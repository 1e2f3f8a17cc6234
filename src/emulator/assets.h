/*
 * Metadata endpoints of the emulator: assets.get, :listImages, :listAssets
 * (with EE's filter mini-language) and the algorithms list.
 */
#ifndef EEFETCH_EMULATOR_ASSETS_H
#define EEFETCH_EMULATOR_ASSETS_H

#include "emulator/handlers.h"
#include "util/buf.h"

int handle_asset_get(const struct emu_ctx *c, const struct emu_request *q,
                     struct emu_response *r);
int handle_list_images(const struct emu_ctx *c, const struct emu_request *q,
                       struct emu_response *r);
int handle_list_assets(const struct emu_ctx *c, const struct emu_request *q,
                       struct emu_response *r);

/* Renders the algorithms.list answer ({"algorithms":[...]}) for the
 * algorithms the evaluator implements (eval_function_names()). */
int algorithms_render(struct buf *out, struct errbuf *e);

/* The filter mini-language of :listAssets / :listImages (ee-api.md §2.5):
 * terms joined by AND, each `startTime OP "RFC3339"`, `endTime OP "..."`,
 * `intersects("GeoJSON")` or `[properties.]NAME OP VALUE`, OP one of
 * = != < <= > >=. */
struct asset_filter;

int asset_filter_parse(const char *text, struct asset_filter **out, char *msg, size_t cap);
int asset_filter_match(const struct asset_filter *f, const struct cat_image *img);
void asset_filter_free(struct asset_filter *f);

#endif
