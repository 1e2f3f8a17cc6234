/*
 * Rendering lazy images (eval.h) onto a request grid: every output pixel
 * centre is taken to each source band's CRS and the native pixel that
 * contains it is read (nearest neighbour), through the node tree of the
 * band's expression.
 */
#ifndef EEFETCH_EMULATOR_RENDER_H
#define EEFETCH_EMULATOR_RENDER_H

#include "emulator/eval.h"
#include "emulator/raster.h"

/* Renders every band of img onto grid (crs must be set) into out, which this
 * function allocates (free with raster_free). Masked pixels hold 0. */
int render_image(struct ev_ctx *x, const struct ev_image *img, const struct ee_grid *grid,
                 struct raster *out, struct errbuf *e);

/* Rendering walks a band's node tree recursively: fails (EE-style message
 * in e) when a tree is taller than the thread stack can take, which only a
 * chain of many thousands of operations reaches. Call before the two
 * functions around it. */
#define RENDER_MAX_DEPTH 20000
int render_check_depth(const struct ev_image *img, struct errbuf *e);

/* Work of rendering img on a grid of npix pixels: bytes of source pixels
 * read (every read of every image, composites included); *images is the
 * number of distinct catalog images read. */
int64_t render_work_bytes(const struct ev_image *img, int64_t npix, int64_t *images);

/* The p-th percentile (0..100) of t[0..cnt), cnt > 0, which it sorts;
 * has_nan when t holds NaNs. Linear between the two closest ranks. */
double render_percentile(double *t, int cnt, int has_nan, double p);
/* The most frequent value of t[0..cnt), cnt > 0, which it sorts (the
 * smallest of equally frequent values). */
double render_mode(double *t, int cnt, int has_nan);

#endif
