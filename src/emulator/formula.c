/*
 * Pixel formulas of the synthetic catalog (docs/emulator.md, "Pixel
 * formulas"). The text there is the contract: every constant below appears
 * in it, and tests compare these functions with an independent Python
 * implementation of the text.
 */
#include "emulator/formula.h"

#include <pthread.h>
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

/* The texture M (docs/emulator.md, "Texture and relief"): a periodic
 * TEX_N x TEX_N table of fine albedo noise and hillshade, and the sensor
 * noise table, stored twice in a row so a run of pixels reads it without
 * wrapping. Built once; read-only afterwards. */
#define TEX_SHIFT 10
#define TEX_N (1 << TEX_SHIFT)
#define TEX_MASK (TEX_N - 1)
#define NOISE_N 4096
#define NOISE_MASK (NOISE_N - 1)

static const int tex_octave[4] = {2, 4, 6, 8};   /* lattice spacing 2^s cells */
static uint8_t tex_lattice[4][(TEX_N >> 2) * (TEX_N >> 2)];
static uint16_t tex_m[TEX_N * TEX_N];
static uint8_t noise2[2 * NOISE_N];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* Adds weight * W_s(u, v) for u = 0 .. TEX_N-1 to acc: the value noise of
 * octave o on row v, times 2^2s (bilinear between lattice values, unscaled:
 * V_s = W_s >> 2s in the doc). Interpolating down the lattice columns first
 * and then along the row gives the same integers as the four-term formula. */
static void tex_row(int o, int v, int weight, int *acc)
{
    int s = tex_octave[o], S = 1 << s, n = TEX_N >> s;
    int j = v >> s, fy = v & (S - 1), j1 = (j + 1) & (n - 1), i, u;
    const uint8_t *g = tex_lattice[o];
    int col[TEX_N >> 2];

    for (i = 0; i < n; i++)
        col[i] = g[j * n + i] * (S - fy) + g[j1 * n + i] * fy;
    for (u = 0; u < TEX_N; u++) {
        int k = u >> s, fx = u & (S - 1);
        acc[u] += weight * (col[k] * (S - fx) + col[(k + 1) & (n - 1)] * fx);
    }
}

/* Row v (any integer; the texture is periodic) of the relief E the
 * hillshade is taken from: the octaves of 2.56 km, 640 m and 160 m weighted
 * 64, 16 and 4, kept at full precision before one final shift so the
 * hillshade has no quantisation steps. */
static void tex_relief_row(int v, int *e)
{
    int u;

    v &= TEX_MASK;
    for (u = 0; u < TEX_N; u++)
        e[u] = 0;
    tex_row(3, v, 1, e);
    tex_row(2, v, 4, e);
    tex_row(1, v, 16, e);
    for (u = 0; u < TEX_N; u++)
        e[u] >>= 10;
}

static void tables_build(void)
{
    static int erows[3][TEX_N], alb[TEX_N];
    int o, u, v, k;

    for (o = 0; o < 4; o++) {
        int s = tex_octave[o], n = TEX_N >> s, i, j;
        for (j = 0; j < n; j++)
            for (i = 0; i < n; i++)
                tex_lattice[o][j * n + i] = (uint8_t)(fm_hash(i, j, 100 + s) & 255);
    }
    /* Relief row r (-1 .. TEX_N) lives in erows[(r + 1) % 3], so each row
     * is computed once: row v needs rows v - 1 and v + 1. */
    tex_relief_row(-1, erows[0]);
    tex_relief_row(0, erows[1]);
    for (v = 0; v < TEX_N; v++) {
        const int *up = erows[v % 3], *down = erows[(v + 2) % 3];

        tex_relief_row(v + 1, erows[(v + 2) % 3]);
        for (u = 0; u < TEX_N; u++)
            alb[u] = 0;
        tex_row(0, v, 1, alb);
        for (u = 0; u < TEX_N; u++) {
            /* Fine albedo (the 40 m octave) and light from the north-west. */
            int m = 960 + (alb[u] >> 5) + up[(u - 1) & TEX_MASK] - down[(u + 1) & TEX_MASK];
            tex_m[v * TEX_N + u] = (uint16_t)(m < 256 ? 256 : m > 2047 ? 2047 : m);
        }
    }
    for (k = 0; k < NOISE_N; k++)
        noise2[k] = noise2[k + NOISE_N] = (uint8_t)(fm_hash(k, 0, 9000) & 7);
}

void fm_scene_init(struct fm_scene *s, int zone, int day)
{
    int l = (int)(fm_hash(zone, day, 7) % 10);
    int ph = (day + 351) % 365 - 182;

    pthread_once(&tables_once, tables_build);
    s->zone = zone;
    s->day = day;
    s->level = l <= 3 ? 0 : l <= 6 ? 1 : l <= 8 ? 2 : 3;
    s->sea = 182 - (ph < 0 ? -ph : ph);
}

/* A cloud's shadow: the blob shifted SHADOW_DX cells east and SHADOW_DY
 * cells south; cirrus casts none. */
#define SHADOW_DX 40
#define SHADOW_DY 24

/* Per-row state: the parcel and the cloud cells only change every 64 and
 * 512 lattice cells, so their hashes are cached along the row. The second
 * cloud cell is the one the shadow test looks at (the pixel shifted back by
 * the shadow offset). */
struct cloud_cell {
    int64_t key;
    int cloudy;          /* the cell holds a blob */
    int cirrus;
    int64_t r2;          /* blob radius squared */
};

struct scene_cursor {
    int64_t pkey;
    uint64_t p;          /* parcel hash */
    int land;            /* the parcel's class away from rivers: 4, 5 or 6 (lake) */
    struct cloud_cell own, shadow;
};

static inline void cell_refresh(const struct fm_scene *s, struct cloud_cell *c, int64_t cx,
                                int64_t cy)
{
    if ((cx >> 9) != c->key) {
        uint64_t h = fm_hash(cx >> 9, cy >> 9, s->zone + 1000);
        int64_t r = level_rb[s->level] + (int64_t)((h >> 8) & 127);

        c->key = cx >> 9;
        c->cloudy = (int)(h & 255) < level_p[s->level];
        c->cirrus = ((h >> 16) & 7) == 0;
        c->r2 = r * r;
    }
}

/* The region value R (0..255) of parcel (px, py): value noise on a lattice
 * of 8 x 8 parcels (5.12 km), so neighbouring parcels share a landscape. */
static int region(int64_t px, int64_t py, int zone)
{
    int64_t i = px >> 3, j = py >> 3;
    int fx = (int)(px & 7), fy = (int)(py & 7);
    int g00 = (int)(fm_hash(i, j, zone + 2000) & 255);
    int g10 = (int)(fm_hash(i + 1, j, zone + 2000) & 255);
    int g01 = (int)(fm_hash(i, j + 1, zone + 2000) & 255);
    int g11 = (int)(fm_hash(i + 1, j + 1, zone + 2000) & 255);

    return (g00 * (8 - fx) * (8 - fy) + g10 * fx * (8 - fy) + g01 * (8 - fx) * fy +
            g11 * fx * fy) >> 6;
}

/* Lakes in the low regions, bare soil more common the higher R. */
static int parcel_class(uint64_t p, int r)
{
    if ((p & 7) == 0 && r < 112)
        return FM_WATER;
    return (int)((p >> 20) & 255) < 3 * (r - 112) ? FM_BARE : FM_VEG;
}

/* Offsets inside a cloud cell: ((x + drift) & 511) - 256, squared. */
static inline int64_t sq_off(int64_t v)
{
    int64_t d = (v & 511) - 256;
    return d * d;
}

/* The class of cell (gx, gy); refreshes the cursor's hashes. dy2 and dys2
 * are the squared row offsets in the own and the shadow cloud cell. */
static inline int pixel_class(const struct fm_scene *s, struct scene_cursor *k, int64_t gx,
                              int64_t gy, int64_t dy2, int64_t dys2)
{
    int64_t pk = gx >> 6, drift = 40 * (int64_t)s->day, cx = gx + drift;
    int64_t sx = cx - SHADOW_DX;

    if (pk != k->pkey) {
        k->pkey = pk;
        k->p = fm_hash(pk, gy >> 6, s->zone);
        k->land = parcel_class(k->p, region(pk, gy >> 6, s->zone));
    }
    cell_refresh(s, &k->own, cx, gy + 16 * (int64_t)s->day);
    cell_refresh(s, &k->shadow, sx, gy - SHADOW_DY + 16 * (int64_t)s->day);
    if (k->own.cloudy) {
        int64_t d2 = sq_off(cx) + dy2;
        if (d2 < k->own.r2)
            return k->own.cirrus ? FM_CIRRUS : 4 * d2 < k->own.r2 ? FM_CLOUD_HIGH : FM_CLOUD_MED;
    }
    if (k->shadow.cloudy && !k->shadow.cirrus && sq_off(sx) + dys2 < k->shadow.r2)
        return FM_SHADOW;
    if (((gx + gy) & 8191) < 96)
        return FM_WATER;
    return k->land;
}

static void cursor_init(struct scene_cursor *k)
{
    k->pkey = -1;
    k->p = 0;
    k->land = FM_VEG;
    k->own.key = k->shadow.key = -1;
    k->own.cloudy = k->shadow.cloudy = 0;
    k->own.cirrus = k->shadow.cirrus = 0;
    k->own.r2 = k->shadow.r2 = 0;
}

static inline int64_t dy2_of(const struct fm_scene *s, int64_t gy)
{
    return sq_off(gy + 16 * (int64_t)s->day);
}

static inline int64_t dys2_of(const struct fm_scene *s, int64_t gy)
{
    return sq_off(gy - SHADOW_DY + 16 * (int64_t)s->day);
}

int fm_scene_class(const struct fm_scene *s, int64_t gx, int64_t gy)
{
    struct scene_cursor k;

    cursor_init(&k);
    return pixel_class(s, &k, gx, gy, dy2_of(s, gy), dys2_of(s, gy));
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

/* Values of the class-valued bands, indexed by class (0 .. 10). */
static const double qa_value[11] = {0, 0, 0, 23824, 21824, 21824, 21952, 0, 22024, 22280, 54532};
static const int st_base[11] = {0, 0, 0, 42000, 43000, 46000, 41000, 0, 38000, 33000, 40000};
static const int cs_base[11] = {0, 0, 0, 200, 800, 800, 800, 0, 300, 50, 450};
static const int cscdf_base[11] = {0, 0, 0, 150, 850, 850, 850, 0, 250, 20, 500};

/* A class-valued band's value; t is the cell's texture (13 gx + 7 gy) & 127. */
static inline double class_value(enum fm_out out, int cls, int32_t t)
{
    switch (out) {
    case FM_OUT_SCL: return (double)cls;
    case FM_OUT_QA: return qa_value[cls];
    case FM_OUT_QA60: return cls == FM_CLOUD_MED || cls == FM_CLOUD_HIGH ? 1024 : cls == FM_CIRRUS ? 2048 : 0;
    case FM_OUT_RADSAT: return cls == FM_BARE && t >= 120 ? 1 : 0;
    case FM_OUT_ST: return st_base[cls] + 4 * t;
    /* Stored as float32, as the product is: computations see float32 values. */
    case FM_OUT_CS: return (double)(float)((cs_base[cls] + t) / 1000.0);
    case FM_OUT_CSCDF: return (double)(float)((cscdf_base[cls] + t) / 1000.0);
    default: return 0;
    }
}

static inline int is_class_out(enum fm_out out)
{
    return out != FM_OUT_S2 && out != FM_OUT_L9SR;
}

/* Band constants for one image, spectral slot and row: the class values,
 * the row of the texture under the ground (mrow, index gx & TEX_MASK) and
 * under the clouds (crow, index (gx + drift) & TEX_MASK), and the row's
 * sensor noise (nrow, index gx & NOISE_MASK). */
struct slot_consts {
    int veg, bare, water, cloud;
    const uint16_t *mrow, *crow;
    const uint8_t *nrow;
};

/* A run of pixels in one parcel where a cloud or a shadow may fall: the
 * class is worked out per pixel, with the parcel and cell constants
 * hoisted. */
static void mixed_run(enum fm_out out, const struct slot_consts *sc, const struct scene_cursor *k,
                      int64_t gx, int64_t step, int64_t gy, int64_t dy2, int64_t dys2,
                      int64_t drift, long n, double *val)
{
    uint64_t p = k->p;
    int land_cls = k->land == FM_WATER ? FM_VEG : k->land, lake = k->land == FM_WATER;
    int64_t landv = (land_cls == FM_BARE ? sc->bare : sc->veg) + (int64_t)((p >> 8) & 255);
    int own = k->own.cloudy, cirrus = k->own.cirrus;
    int shadow = k->shadow.cloudy && !k->shadow.cirrus;
    int64_t r2 = k->own.r2, rs2 = k->shadow.r2;
    long j;

    for (j = 0; j < n; j++) {
        int64_t x = gx + j * step, d2 = sq_off(x + drift) + dy2;
        int32_t t = (int32_t)((13 * x + 7 * gy) & 127);
        int water = lake || ((x + gy) & 8191) < 96;
        int cls = own && d2 < r2 ? (cirrus ? FM_CIRRUS : 4 * d2 < r2 ? FM_CLOUD_HIGH : FM_CLOUD_MED)
                  : shadow && sq_off(x + drift - SHADOW_DX) + dys2 < rs2 ? FM_SHADOW
                  : water ? FM_WATER : land_cls;
        int64_t m, surf, v;

        if (is_class_out(out)) {
            val[j] = class_value(out, cls, t);
            continue;
        }
        m = sc->mrow[x & TEX_MASK];
        surf = water ? sc->water + (m >> 6) : (landv * m) >> 10;
        switch (cls) {
        case FM_CLOUD_HIGH: v = sc->cloud + (sc->crow[(x + drift) & TEX_MASK] >> 2); break;
        case FM_CLOUD_MED: v = (surf + sc->cloud + (sc->crow[(x + drift) & TEX_MASK] >> 2)) >> 1; break;
        case FM_CIRRUS: v = surf + 1500; break;
        case FM_SHADOW: v = surf >> 1; break;
        default: v = surf; break;
        }
        v += sc->nrow[x & NOISE_MASK];
        val[j] = out == FM_OUT_L9SR ? (double)(7273 + v * 40 / 11) : (double)v;
    }
}

/* A run of pixels in one parcel where neither a cloud nor a shadow falls:
 * the class only depends on the river test, so the reflectance loop is
 * branch-free integer arithmetic the compiler can vectorise. 32-bit ints
 * suffice: lattice cells stay below 2^21, land values below 2^12 and the
 * texture below 2^11. A parcel (64 cells) never straddles a texture or
 * noise period, so at step 1 both tables are read as contiguous runs. */
static void clear_run(enum fm_out out, const struct slot_consts *sc, const struct scene_cursor *k,
                      int64_t gx, int64_t step, int64_t gy, long n, double *val)
{
    int32_t x = (int32_t)gx, st = (int32_t)step, y = (int32_t)gy, y7 = (int32_t)(7 * gy);
    int lake = k->land == FM_WATER;
    long j;

    if (is_class_out(out)) {
        for (j = 0; j < n; j++) {
            int32_t xj = x + (int32_t)j * st, t = (13 * xj + y7) & 127;
            val[j] = class_value(out, ((xj + y) & 8191) < 96 ? FM_WATER : k->land, t);
        }
        return;
    }
    {
        int32_t landv = (int32_t)((k->land == FM_BARE ? sc->bare : sc->veg) +
                                  (int)((k->p >> 8) & 255));
        int32_t water = sc->water, l9 = out == FM_OUT_L9SR;

        if (st == 1) {
            const uint16_t *m = sc->mrow + (x & TEX_MASK);
            const uint8_t *z = sc->nrow + (x & NOISE_MASK);
            for (j = 0; j < n; j++) {
                int32_t xj = x + (int32_t)j, mj = m[j];
                int32_t v = (lake || ((xj + y) & 8191) < 96) ? water + (mj >> 6) : (landv * mj) >> 10;
                v += z[j];
                val[j] = l9 ? 7273 + v * 40 / 11 : v;
            }
            return;
        }
        for (j = 0; j < n; j++) {
            int32_t xj = x + (int32_t)j * st, mj = sc->mrow[xj & TEX_MASK];
            int32_t v = (lake || ((xj + y) & 8191) < 96) ? water + (mj >> 6) : (landv * mj) >> 10;
            v += sc->nrow[xj & NOISE_MASK];
            val[j] = l9 ? 7273 + v * 40 / 11 : v;
        }
    }
}

/* Pixels from x up to the end of its 2^shift-cell block, at `step` cells each. */
static inline long left_in_block(int64_t x, int shift, int64_t step)
{
    return (long)((((x >> shift) + 1) * ((int64_t)1 << shift) - x + step - 1) / step);
}

void fm_scene_row(const struct fm_scene *s, enum fm_out out, int slot, int64_t gx0,
                  int64_t step, int64_t gy, long n, double *val)
{
    struct scene_cursor k;
    struct slot_consts sc = {0, 0, 0, 0, NULL, NULL, NULL};
    int64_t dy2 = dy2_of(s, gy), dys2 = dys2_of(s, gy), drift = 40 * (int64_t)s->day;
    long i = 0;

    if (!is_class_out(out)) {
        sc.veg = refl_veg[slot] + season_veg[slot] * s->sea / 182;
        sc.bare = refl_bare[slot];
        sc.water = refl_water[slot];
        sc.cloud = refl_cloud[slot];
        sc.mrow = tex_m + ((gy & TEX_MASK) << TEX_SHIFT);
        sc.crow = tex_m + (((gy + 16 * (int64_t)s->day) & TEX_MASK) << TEX_SHIFT);
        sc.nrow = noise2 + (fm_hash(gy, s->day, 9100 + 16 * s->zone + slot) & NOISE_MASK);
    }
    cursor_init(&k);
    while (i < n) {
        int64_t gx = gx0 + i * step, cx = gx + drift;
        /* Pixels left in this parcel (64 cells) and in the own and shadow
         * cloud cells (512). */
        long len = left_in_block(gx, 6, step), nc = left_in_block(cx, 9, step);
        long ns = left_in_block(cx - SHADOW_DX, 9, step);

        if (nc < len)
            len = nc;
        if (ns < len)
            len = ns;
        if (len > n - i)
            len = n - i;
        pixel_class(s, &k, gx, gy, dy2, dys2);   /* refreshes the parcel and cell hashes */
        if (!k.own.cloudy && !(k.shadow.cloudy && !k.shadow.cirrus))
            clear_run(out, &sc, &k, gx, step, gy, len, val + i);
        else
            mixed_run(out, &sc, &k, gx, step, gy, dy2, dys2, drift, len, val + i);
        i += len;
    }
}
