/*
 * Pixel formulas of the synthetic catalog (docs/emulator.md, "Pixel
 * formulas"). The text there is the contract: every constant below appears
 * in it, and tests compare these functions with an independent Python
 * implementation of the text.
 */
#include "emulator/formula.h"

#include <stdlib.h>

uint64_t fm_hash(int64_t a, int64_t b, int64_t c)
{
    /* Unsigned arithmetic wraps modulo 2^64 by definition, which is exactly
     * what the documented hash asks for (and what numpy's uint64 does). */
    uint64_t x = (uint64_t)a * 0x9E3779B97F4A7C15ULL + (uint64_t)b * 0xC2B2AE3D27D4EB4FULL +
                 (uint64_t)c * 0x165667B19E3779F9ULL;
    x ^= x >> 32;
    x *= 0xD6E8FEB86659FD93ULL;
    x ^= x >> 29;
    return x;
}

/* Triangle wave of period p (a power of two) for x >= 0: 0 .. p/2. */
static inline long tri(long x, long p)
{
    long m = (x & (p - 1)) - p / 2;
    return m < 0 ? -m : m;
}

void fm_srtm_row(long row, long col0, long n, double *val)
{
    long i, r = row;
    long b = tri(r + 3000, 8192) >> 1;
    long dr = labs(r - 115243);

    for (i = 0; i < n; i++) {
        long c = col0 + i;
        long v = (tri(c, 16384) >> 1) + b + tri(c + 2 * r, 2048) + (tri(3 * c + r, 1024) >> 1) +
                 (tri(5 * c + 7 * r, 256) >> 2) - 3500;
        long cone = 12400 - ((labs(c - 960930) + dr) >> 2);

        if (cone > 0)
            v += cone;
        if (v < 0)
            v = 0;
        if (v > 8848)
            v = 8848;
        val[i] = (double)v;
    }
}

/* Reflectance x 10000 of the surface classes, in spectral-slot order
 * B1 B2 B3 B4 B5 B6 B7 B8 B8A B9 B11 B12. */
static const int refl_veg[FM_NSPECTRAL] = {250, 300, 500, 350, 900, 1700, 1900, 2000, 2100,
                                           2300, 1600, 800};
static const int season_veg[FM_NSPECTRAL] = {0, 0, 100, 0, 200, 600, 800, 900, 900, 700, 0, 0};
static const int refl_bare[FM_NSPECTRAL] = {900, 1200, 1500, 1800, 2000, 2200, 2300, 2400,
                                            2500, 2500, 3000, 2600};
static const int refl_water[FM_NSPECTRAL] = {400, 500, 600, 400, 300, 200, 150, 150, 120,
                                             100, 60, 40};
static const int refl_cloud[FM_NSPECTRAL] = {7200, 7050, 6900, 6750, 6600, 6450, 6300, 6150,
                                             6000, 5850, 5700, 5550};

static const int level_p[4] = {0, 48, 128, 256};
static const int level_rb[4] = {0, 64, 128, 300};

void fm_scene_init(struct fm_scene *s, int zone, int day)
{
    int l = (int)(fm_hash(zone, day, 7) % 10);
    int ph = (day + 351) % 365 - 182;

    s->zone = zone;
    s->day = day;
    s->level = l <= 3 ? 0 : l <= 6 ? 1 : l <= 8 ? 2 : 3;
    s->sea = 182 - (ph < 0 ? -ph : ph);
}

/* Per-row state: the parcel and the cloud cell only change every 64 and 512
 * lattice cells, so their hashes are cached along the row. */
struct scene_cursor {
    int64_t pkey, ckey;
    uint64_t p;          /* parcel hash */
    int cell_cloudy;     /* the cloud cell holds a blob */
    int cirrus;
    int64_t r2;          /* blob radius squared */
};

static inline int pixel_class(const struct fm_scene *s, struct scene_cursor *k, int64_t gx,
                              int64_t gy, int64_t dy2)
{
    int64_t pk = gx >> 6, cx = gx + 40 * (int64_t)s->day, ck = cx >> 9;

    if (pk != k->pkey) {
        k->pkey = pk;
        k->p = fm_hash(pk, gy >> 6, s->zone);
    }
    if (ck != k->ckey) {
        uint64_t h = fm_hash(ck, (gy + 16 * (int64_t)s->day) >> 9, s->zone + 1000);
        int64_t r = level_rb[s->level] + (int64_t)((h >> 8) & 127);

        k->ckey = ck;
        k->cell_cloudy = (int)(h & 255) < level_p[s->level];
        k->cirrus = ((h >> 16) & 7) == 0;
        k->r2 = r * r;
    }
    if (k->cell_cloudy) {
        int64_t dx = (cx & 511) - 256, d2 = dx * dx + dy2;

        if (d2 < k->r2)
            return k->cirrus ? FM_CIRRUS : 4 * d2 < k->r2 ? FM_CLOUD_HIGH : FM_CLOUD_MED;
    }
    if (((gx + gy) & 8191) < 96 || (k->p & 15) == 0)
        return FM_WATER;
    return (k->p & 3) == 1 ? FM_BARE : FM_VEG;
}

static void cursor_init(struct scene_cursor *k)
{
    k->pkey = -1;
    k->ckey = -1;
    k->p = 0;
    k->cell_cloudy = 0;
    k->cirrus = 0;
    k->r2 = 0;
}

static inline int64_t dy2_of(const struct fm_scene *s, int64_t gy)
{
    int64_t dy = ((gy + 16 * (int64_t)s->day) & 511) - 256;
    return dy * dy;
}

int fm_scene_class(const struct fm_scene *s, int64_t gx, int64_t gy)
{
    struct scene_cursor k;

    cursor_init(&k);
    return pixel_class(s, &k, gx, gy, dy2_of(s, gy));
}

long fm_scene_cloud_count(const struct fm_scene *s, int64_t gx0, int64_t gy0, int64_t dx,
                          int64_t dy, long nx, long ny)
{
    int64_t drift = 40 * (int64_t)s->day;
    long i, j, n = 0;

    if (s->level == 0)
        return 0;
    for (j = 0; j < ny; j++) {
        int64_t gy = gy0 + j * dy, cy = gy + 16 * (int64_t)s->day, dyc = (cy & 511) - 256;
        int64_t ckey = -1, r2 = 0;
        int cloudy = 0;

        for (i = 0; i < nx; i++) {
            int64_t cx = gx0 + i * dx + drift, ddx = (cx & 511) - 256;

            /* Only the cloud cell matters here; its hash is cached along the row. */
            if ((cx >> 9) != ckey) {
                uint64_t h = fm_hash(cx >> 9, cy >> 9, s->zone + 1000);
                int64_t r = level_rb[s->level] + (int64_t)((h >> 8) & 127);

                ckey = cx >> 9;
                cloudy = (int)(h & 255) < level_p[s->level];
                r2 = r * r;
            }
            n += cloudy && ddx * ddx + dyc * dyc < r2;
        }
    }
    return n;
}

static const double qa_value[11] = {0, 0, 0, 0, 21824, 21824, 21952, 0, 22024, 22280, 54532};

/* Band constants for one image and spectral slot. */
struct slot_consts {
    int veg, bare, water, cloud;
};

/* A run of pixels in one parcel and one cloud cell that holds a blob: the
 * general formula with the parcel and cell constants hoisted. */
static void cloud_run(enum fm_out out, const struct slot_consts *sc, const struct scene_cursor *k,
                      int64_t gx, int64_t step, int64_t gy, int64_t dy2, int64_t drift, long n,
                      double *val)
{
    uint64_t p = k->p;
    int lake = (p & 15) == 0, bare = (p & 3) == 1;
    int land_cls = bare ? FM_BARE : FM_VEG;
    int64_t landv = (bare ? sc->bare : sc->veg) + (int64_t)((p >> 8) & 511), r2 = k->r2;
    long j;

    if (out == FM_OUT_SCL || out == FM_OUT_QA) {
        for (j = 0; j < n; j++) {
            int64_t x = gx + j * step, dx = ((x + drift) & 511) - 256, d2 = dx * dx + dy2;
            int water = lake || ((x + gy) & 8191) < 96;
            int cls = d2 < r2 ? (k->cirrus ? FM_CIRRUS : 4 * d2 < r2 ? FM_CLOUD_HIGH
                                                                     : FM_CLOUD_MED)
                              : water ? FM_WATER : land_cls;

            val[j] = out == FM_OUT_SCL ? (double)cls : qa_value[cls];
        }
        return;
    }
    {
        /* 32-bit, branch-free: cells < 2^21, d2 < 2^18, values < 2^14. */
        int32_t x = (int32_t)gx, st = (int32_t)step, y = (int32_t)gy, y7 = (int32_t)(7 * gy);
        int32_t dr = (int32_t)(drift & 511), dy2i = (int32_t)dy2, r2i = (int32_t)r2;
        int32_t water = sc->water, land = (int32_t)landv, cloud = sc->cloud;
        int cirrus = k->cirrus, l9 = out == FM_OUT_L9SR;

        for (j = 0; j < n; j++) {
            int32_t xj = x + (int32_t)j * st, t = (13 * xj + y7) & 127;
            int32_t dx = ((xj + dr) & 511) - 256, d2 = dx * dx + dy2i;
            int32_t surf = (lake || ((xj + y) & 8191) < 96) ? water + (t >> 2) : land + t;
            int32_t cl = cirrus ? surf + 1500
                         : 4 * d2 < r2i ? cloud + t : (surf + cloud + t) >> 1;
            int32_t v = d2 < r2i ? cl : surf;

            val[j] = l9 ? 7273 + v * 40 / 11 : v;
        }
    }
}

/* A run of pixels in one parcel and a cloud-free cloud cell: the class only
 * depends on the river test, so the loop is branch-free integer arithmetic
 * the compiler can vectorise. 32-bit ints suffice: lattice cells stay below
 * 2^21 and t, w below 2^13. */
static void clear_run(enum fm_out out, const struct slot_consts *sc, uint64_t p, int64_t gx,
                      int64_t step, int64_t gy, long n, double *val)
{
    int32_t x = (int32_t)gx, st = (int32_t)step, y = (int32_t)gy, y7 = (int32_t)(7 * gy);
    int lake = (p & 15) == 0, bare = (p & 3) == 1;
    long j;

    if (out == FM_OUT_SCL || out == FM_OUT_QA) {
        double land = lake ? (out == FM_OUT_SCL ? FM_WATER : qa_value[FM_WATER])
                           : (out == FM_OUT_SCL ? (bare ? FM_BARE : FM_VEG) : qa_value[FM_VEG]);
        double water = out == FM_OUT_SCL ? FM_WATER : qa_value[FM_WATER];

        for (j = 0; j < n; j++) {
            int32_t xj = x + (int32_t)j * st;
            val[j] = ((xj + y) & 8191) < 96 ? water : land;
        }
        return;
    }
    {
        int32_t landv = (int32_t)((bare ? sc->bare : sc->veg) + (int)((p >> 8) & 511));
        int32_t water = sc->water;

        for (j = 0; j < n; j++) {
            int32_t xj = x + (int32_t)j * st, t = (13 * xj + y7) & 127;
            int32_t v = (lake || ((xj + y) & 8191) < 96) ? water + (t >> 2) : landv + t;

            if (out == FM_OUT_L9SR)
                v = 7273 + v * 40 / 11;
            val[j] = v;
        }
    }
}

void fm_scene_row(const struct fm_scene *s, enum fm_out out, int slot, int64_t gx0,
                  int64_t step, int64_t gy, long n, double *val)
{
    struct scene_cursor k;
    struct slot_consts sc = {0, 0, 0, 0};
    int64_t dy2 = dy2_of(s, gy), drift = 40 * (int64_t)s->day;
    long i = 0;

    if (out == FM_OUT_S2 || out == FM_OUT_L9SR) {
        sc.veg = refl_veg[slot] + season_veg[slot] * s->sea / 182;
        sc.bare = refl_bare[slot];
        sc.water = refl_water[slot];
        sc.cloud = refl_cloud[slot];
    }
    cursor_init(&k);
    while (i < n) {
        int64_t gx = gx0 + i * step, cx = gx + drift;
        /* Pixels left in this parcel (64 cells) and in this cloud cell (512). */
        long np = (long)((((gx >> 6) + 1) * 64 - gx + step - 1) / step);
        long nc = (long)((((cx >> 9) + 1) * 512 - cx + step - 1) / step);
        long len = np < nc ? np : nc;

        if (len > n - i)
            len = n - i;
        pixel_class(s, &k, gx, gy, dy2);   /* refreshes the parcel and cell hashes */
        if (!k.cell_cloudy)
            clear_run(out, &sc, k.p, gx, step, gy, len, val + i);
        else
            cloud_run(out, &sc, &k, gx, step, gy, dy2, drift, len, val + i);
        i += len;
    }
}
