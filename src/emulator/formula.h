/*
 * The integer pixel formulas of the synthetic catalog. docs/emulator.md
 * ("Pixel formulas") is the specification; tests/emulator/reference.py is an
 * independent implementation of that text. Everything here is pure integer
 * arithmetic on native pixel indices and two read-only tables, so a row
 * costs a few operations per pixel and no allocation.
 */
#ifndef EEFETCH_EMULATOR_FORMULA_H
#define EEFETCH_EMULATOR_FORMULA_H

#include <stdint.h>

/* The documented 64-bit hash H(a, b, c). */
uint64_t fm_hash(int64_t a, int64_t b, int64_t c);

/* SRTM: elevation of global native pixels (col0 .. col0+n-1, row), all
 * inside the grid. */
#define FM_SRTM_WIDTH 1296001L
#define FM_SRTM_HEIGHT 417601L
void fm_srtm_row(long row, long col0, long n, double *val);

/* Per-image constants of the optical scene model (Sentinel-2, Landsat). */
struct fm_scene {
    int zone;    /* UTM zone: hash salt shared by every image of the zone */
    int day;     /* D, days since 2023-01-01 */
    int level;   /* cloud level 0 clear .. 3 overcast */
    int sea;     /* seasonal factor 0..182 */
};

/* The first call also builds the texture and noise tables every scene
 * shares (once, thread-safe); fm_scene_row needs them. */
void fm_scene_init(struct fm_scene *s, int zone, int day);

/* What a band reports. */
enum fm_out {
    FM_OUT_S2,     /* surface reflectance x 10000 (Sentinel-2 B*) */
    FM_OUT_SCL,    /* Sentinel-2 scene classification */
    FM_OUT_L9SR,   /* Landsat C2 L2 SR digital number */
    FM_OUT_QA,     /* Landsat QA_PIXEL bits */
    FM_OUT_QA60,   /* Sentinel-2 QA60 bits */
    FM_OUT_RADSAT, /* Landsat QA_RADSAT bits */
    FM_OUT_ST,     /* Landsat C2 L2 surface temperature digital number */
    FM_OUT_CS,     /* Cloud Score+ cs, in [0, 1] */
    FM_OUT_CSCDF,  /* Cloud Score+ cs_cdf, in [0, 1] */
};

/* Spectral slot numbers of the reflectance tables (Sentinel-2 band order). */
enum { FM_B1, FM_B2, FM_B3, FM_B4, FM_B5, FM_B6, FM_B7, FM_B8, FM_B8A, FM_B9, FM_B11,
       FM_B12, FM_NSPECTRAL };

/* Scene class codes (Sentinel-2 SCL numbering). */
enum { FM_SHADOW = 3, FM_VEG = 4, FM_BARE = 5, FM_WATER = 6, FM_CLOUD_MED = 8, FM_CLOUD_HIGH = 9,
       FM_CIRRUS = 10 };

/* n pixels along one native row: the first pixel centre falls in 10 m cell
 * (gx0, gy) of the zone lattice, each next pixel `step` cells east. */
void fm_scene_row(const struct fm_scene *s, enum fm_out out, int slot, int64_t gx0,
                  int64_t step, int64_t gy, long n, double *val);

/* Scene class of one lattice cell. */
int fm_scene_class(const struct fm_scene *s, int64_t gx, int64_t gy);

/* Number of cloud cells (classes 8, 9, 10) among the nx * ny lattice cells
 * (gx0 + i*dx, gy0 + j*dy): the cloud percentages' sample counts. */
long fm_scene_cloud_count(const struct fm_scene *s, int64_t gx0, int64_t gy0, int64_t dx,
                          int64_t dy, long nx, long ny);

#endif
