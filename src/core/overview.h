/*
 * Overview levels built while an output is assembled, for a COG (see
 * docs/engine.md, "COG output"). Level k (1..n) halves level k-1 (GDAL's
 * sizes: rounded down, at least 1): each pixel
 * is the mean of the valid pixels among the 2x2 of the level above (GDAL's
 * AVERAGE), a pixel with no valid input is nodata (and masked when the
 * output has a mask). Valid means: the mask says so when the output has a
 * mask band; else the value differs from nodata (and is not NaN).
 *
 * A block of level k is computed once every pixel of level k-1 under it has
 * arrived, written to its level's file (<base><k>, a tiled GeoTIFF with the
 * output's codec) and fed to level k+1. Only blocks still waiting for pixels
 * are held in memory, so memory follows the tiles in flight, not the size of
 * the output. Pixels that never arrive (skipped tiles) count as the fill the
 * full-resolution file reads there: nodata, masked, or 0 without either.
 */
#ifndef EEFETCH_CORE_OVERVIEW_H
#define EEFETCH_CORE_OVERVIEW_H

#include <stddef.h>

#include <gdal.h>

#include "core/spec.h"
#include "util/err.h"

struct ovr_desc {
    const char *base;                 /* level k's file is <base><k> */
    long width, height;               /* full resolution */
    int nbands;                       /* data bands */
    enum spec_dtype dtype;
    int block;                        /* block edge of the output and of every level */
    int mask;                         /* the output has a per-dataset mask */
    int has_nodata;
    double nodata;
    int rgb;                          /* bands 1-3 are red, green, blue */
    char **options;                   /* GTiff creation options of the level files */
};

struct ovr;

/* The number of levels GDAL's COG driver makes for a width x height image
 * in blocks of `block`: halve until the level fits in one block. */
int ovr_count(long width, long height, int block);

/* Creates the level files (none when the image fits in one block). */
int ovr_open(const struct ovr_desc *d, struct ovr **out, struct errbuf *e);
/* Adds a window of full-resolution pixels at (x, y), w x h, nbands values
 * of d->dtype with the given spacings in bytes; valid (NULL without a mask
 * band) points at the validity band, same type and spacings, 1 = valid. */
int ovr_add(struct ovr *o, long x, long y, long w, long h, const unsigned char *px, ptrdiff_t pix,
            ptrdiff_t line, ptrdiff_t band, const unsigned char *valid, struct errbuf *e);
/* Completes every level (pixels that never arrived count as fill) and
 * closes the level files. */
int ovr_finish(struct ovr *o, struct errbuf *e);
int ovr_levels(const struct ovr *o);
const char *ovr_path(const struct ovr *o, int k);   /* k in 1..ovr_levels */
/* Frees o; remove: also deletes the level files. */
void ovr_free(struct ovr *o, int remove);

#endif
