/*
 * The COG layout written from finished GeoTIFFs without decoding a pixel
 * (docs/engine.md, "COG output"): the full-resolution file and one file per
 * overview level, all tiled with the same block and codec, are copied tile
 * by tile, as compressed, into one file in the order GDAL's COG driver
 * writes: header and GDAL's structural metadata, every IFD (full resolution,
 * its mask, the overviews largest first, their masks), the tile offset and
 * size arrays, then the tiles from the smallest overview to full
 * resolution, each with its mask tile, each preceded by its size and
 * followed by its last 4 bytes. Tags are copied from the sources, so GDAL
 * reads the result as it reads the full-resolution file, with overviews.
 */
#ifndef EEFETCH_CORE_COGWRITE_H
#define EEFETCH_CORE_COGWRITE_H

#include "util/err.h"

/* Writes dst (created or truncated; not fsync'd) from main (a tiled
 * GeoTIFF, with its per-dataset mask as second directory when mask) and
 * levels[0..nlevels-1] (the overviews, largest first, likewise). */
int cogwrite_layout(const char *dst, const char *main, const char *const *levels, int nlevels, int mask,
                    struct errbuf *e);

#endif
