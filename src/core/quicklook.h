/*
 * Quick-look PNG previews of finished outputs (download{ quicklook = ... }).
 */
#ifndef EEFETCH_CORE_QUICKLOOK_H
#define EEFETCH_CORE_QUICKLOOK_H

#include "core/mosaic.h"
#include "util/err.h"

/* The metadata item (a PNG text chunk) that marks a quick-look eefetch made;
 * only such a file is replaced by a new one. */
#define QUICKLOOK_TAG "EEFETCH_QUICKLOOK"
/* MOSAIC_ABSENT, MOSAIC_SAME_PLAN (a preview eefetch made) or MOSAIC_FOREIGN. */
enum mosaic_existing quicklook_existing(const char *png);

/* Longest side of a quick-look PNG, in pixels. */
#define QUICKLOOK_MAX 1024

/* One band's default colour ramp, and the narrowest preview that gets a
 * legend strip. */
#define QUICKLOOK_DEFAULT_PALETTE "viridis"
#define QUICKLOOK_LEGEND_MIN_W 96

/* 1 when name (NULL: the default) is a palette quicklook_write knows:
 * viridis, gray, terrain, rdylgn, magma. */
int quicklook_palette_known(const char *name);

/* Writes an 8-bit RGBA PNG preview of the raster at src (any GDAL-readable
 * file: the output GeoTIFF, COG or VRT) to png, at most QUICKLOOK_MAX
 * pixels a side. Each band is stretched linearly between its 2nd and 98th
 * percentile onto 1..255; bands 1-3 are the red, green and blue channels,
 * one band is coloured through palette (NULL: the default) and gets a
 * legend strip below (the ramp, the low and high values) when the preview
 * is at least QUICKLOOK_LEGEND_MIN_W wide. Nodata pixels and pixels a
 * per-dataset mask masks are transparent (alpha 0). Text chunks record the
 * stretch (EEFETCH_QUICKLOOK_RANGE_<band>) and the palette. Written under a
 * temporary name and renamed. */
int quicklook_write(const char *src, const char *png, const char *palette, struct errbuf *e);

#endif
