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

/* Writes an 8-bit PNG preview of the raster at src (any GDAL-readable file:
 * the output GeoTIFF, COG or VRT) to png: bands 1-3 as RGB (one band as
 * grey), at most QUICKLOOK_MAX pixels a side, each band stretched
 * linearly between its 2nd and 98th percentile; nodata pixels and pixels a
 * per-dataset mask masks are black.
 * Written under a temporary name and renamed. */
int quicklook_write(const char *src, const char *png, struct errbuf *e);

#endif
