/*
 * Grid planning: tiles partition the output grid exactly (every pixel and
 * band covered once), requests stay under EE's limits counted with the extra
 * mask byte, grids snap to multiples of the scale, polygon regions skip
 * tiles, fishnet cells snap, quad splits partition a tile.
 * Expected values are computed here from the rules, not by the planner.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <cpl_conv.h>
#include <gdal.h>
#include <ogr_srs_api.h>

#include "../unit/check.h"
#include "core/grid.h"

static void spec_basic(struct download_spec *s, size_t nbands, enum spec_dtype t)
{
    size_t i;
    char id[32];

    spec_init(s);
    s->expression = strdup("{\"result\":\"0\",\"values\":{\"0\":{\"constantValue\":1}}}");
    s->bands = calloc(nbands, sizeof *s->bands);
    s->nbands = nbands;
    for (i = 0; i < nbands; i++) {
        snprintf(id, sizeof id, "B%zu", i + 1);
        s->bands[i].id = strdup(id);
        s->bands[i].type = t;
    }
    s->output = strdup("out.tif");
}

static void spec_exact(struct download_spec *s, const char *crs, double x0, double y0, double px,
                       long w, long h)
{
    s->grid.kind = SPEC_GRID_EXACT;
    s->grid.crs = strdup(crs);
    s->grid.transform[0] = px;
    s->grid.transform[2] = x0;
    s->grid.transform[4] = -px;
    s->grid.transform[5] = y0;
    s->grid.width = w;
    s->grid.height = h;
}

/* Every (pixel, band) of the grid is covered by exactly one tile; tiles are
 * inside the grid and inside their cell; every request is under the budget. */
static void check_partition(const struct download_spec *s, const struct grid_plan *p)
{
    long W = p->grid.width, H = p->grid.height;
    size_t nb = s->nbands, i, bad = 0, total = (size_t)W * (size_t)H * nb;
    unsigned char *cov = calloc(total, 1);
    size_t *bb = calloc(nb, sizeof *bb);

    CHECK(cov != NULL && bb != NULL);
    if (!cov || !bb)
        goto done;
    for (i = 0; i < nb; i++)
        bb[i] = spec_dtype_size(s->bands[i].type);
    for (i = 0; i < p->ntiles; i++) {
        const struct grid_tile *t = &p->tiles[i];
        const struct grid_cell *c = &p->cells[t->cell];
        long x, y;
        int b;
        double ee[6];
        CHECK(t->id == i);
        CHECK(t->col >= c->col && t->row >= c->row && t->col + t->width <= c->col + c->width &&
              t->row + t->height <= c->row + c->height);
        CHECK(t->width <= GRID_MAX_SIDE && t->height <= GRID_MAX_SIDE && t->nbands <= GRID_MAX_BANDS);
        /* EE accounting, written out: w*h*sum(size+1). */
        {
            unsigned long long per = 0;
            for (b = t->band0; b < t->band0 + t->nbands; b++)
                per += (bb[b] ? bb[b] : 8) + 1;
            CHECK((unsigned long long)t->width * t->height * per <= p->max_bytes);
        }
        grid_window_affine(&p->grid, t->col, t->row, ee);
        CHECK(ee[0] == p->grid.sx && ee[4] == p->grid.sy && ee[1] == 0 && ee[3] == 0);
        CHECK(fabs(ee[2] - (p->grid.x0 + t->col * p->grid.sx)) <= 1e-9 * fabs(p->grid.sx));
        CHECK(fabs(ee[5] - (p->grid.y0 + t->row * p->grid.sy)) <= 1e-9 * fabs(p->grid.sy));
        for (y = t->row; y < t->row + t->height; y++)
            for (x = t->col; x < t->col + t->width; x++)
                for (b = t->band0; b < t->band0 + t->nbands; b++)
                    cov[((size_t)y * W + x) * nb + b]++;
    }
    if (p->nskipped == 0) {
        for (i = 0; i < total; i++)
            if (cov[i] != 1)
                bad++;
    } else {
        for (i = 0; i < total; i++)
            if (cov[i] > 1)
                bad++;
    }
    CHECK(bad == 0);
done:
    free(cov);
    free(bb);
}

static void test_limits(void)
{
    size_t one_u8 = 1, f32[3] = {4, 4, 4};
    long tw, th;
    int group;
    struct errbuf e;

    /* The mask byte: uint8 counts 2 bytes per pixel. */
    CHECK(grid_request_bytes(10, 10, &one_u8, 1) == 200);
    CHECK(grid_request_bytes(2, 3, f32, 3) == 2 * 3 * 15);

    /* A 256x256 uint8 block is 65536 naive bytes but 131072 EE bytes. */
    CHECK((group = 0) == 0 && grid_tile_size(&one_u8, 1, 65536, 256, 10000, 10000, &tw, &th, &group, &e) == 0);
    CHECK((unsigned long long)tw * th * 2 <= 65536);
    CHECK(tw > 100 && th > 100);

    /* Default budget, 3 float32 bands: square, block-aligned, under budget. */
    CHECK((group = 0) == 0 && grid_tile_size(f32, 3, 0, 256, 100000, 100000, &tw, &th, &group, &e) == 0);
    CHECK(tw % 256 == 0 && th % 256 == 0 && group == 3);
    CHECK((unsigned long long)tw * th * 15 <= GRID_DEFAULT_MAX_BYTES);
    CHECK((unsigned long long)(tw + 256) * (th + 256) * 15 > GRID_DEFAULT_MAX_BYTES);

    /* A narrow strip gives its budget to the long side, capped at 32768. */
    CHECK((group = 0) == 0 && grid_tile_size(&one_u8, 1, GRID_EE_MAX_BYTES, 256, 1, 1000000, &tw, &th, &group, &e) == 0);
    CHECK(tw == 1 && th == 32768);

    /* A small budget splits the bands first (one float32 band = 5 bytes)... */
    CHECK((group = 0) == 0 && grid_tile_size(f32, 3, 10, 256, 100, 100, &tw, &th, &group, &e) == 0);
    CHECK(group == 1 && (unsigned long long)tw * th * 5 <= 10);
    /* ...and a budget below one pixel of one band is a usage error. */
    CHECK((group = 0) == 0 && grid_tile_size(f32, 3, 4, 256, 100, 100, &tw, &th, &group, &e) == ERR_USAGE);
}

static void test_many_bands(void)
{
    struct download_spec s;
    struct grid_plan p;
    struct errbuf e;
    size_t i;
    int covered[2000] = {0};

    spec_basic(&s, 2000, SPEC_DTYPE_UINT8);
    spec_exact(&s, "EPSG:32610", 500000, 4200000, 30, 40, 30);
    CHECK(grid_plan_build(&s, &p, &e) == 0);
    CHECK(p.band_group <= GRID_MAX_BANDS);
    for (i = 0; i < p.ntiles; i++) {
        int b;
        for (b = p.tiles[i].band0; b < p.tiles[i].band0 + p.tiles[i].nbands; b++)
            covered[b]++;
    }
    for (i = 0; i < 2000; i++)
        CHECK(covered[i] == 1);
    check_partition(&s, &p);
    grid_plan_free(&p);
    spec_free(&s);
}

static void test_odd_sizes(void)
{
    static const long sizes[][2] = {{1, 1}, {1, 997}, {997, 1}, {997, 1009}, {257, 255}, {7919, 3}};
    size_t k;

    for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        struct download_spec s;
        struct grid_plan p;
        struct errbuf e;
        spec_basic(&s, 2, SPEC_DTYPE_INT16);
        spec_exact(&s, "EPSG:32633", 300000, 5000000, 10, sizes[k][0], sizes[k][1]);
        s.max_tile_bytes = 100000;   /* forces many tiles */
        CHECK(grid_plan_build(&s, &p, &e) == 0);
        CHECK(p.grid.width == sizes[k][0] && p.grid.height == sizes[k][1]);
        check_partition(&s, &p);
        grid_plan_free(&p);
        spec_free(&s);
    }
}

static int is_multiple(double v, double step)
{
    double k = v / step;
    return fabs(k - llround(k)) < 1e-6;
}

/* crs + scale with a lon/lat box: the grid is anchored at CRS (0,0) and
 * covers the projected box (corners and edge midpoints). */
static void check_scale_grid(const char *crs, double scale, const double bb[4])
{
    struct download_spec s;
    struct grid_plan p;
    struct errbuf e;

    spec_basic(&s, 1, SPEC_DTYPE_FLOAT32);
    s.grid.kind = SPEC_GRID_SCALE;
    s.grid.crs = strdup(crs);
    s.grid.scale = scale;
    s.region.kind = SPEC_REGION_BBOX;
    memcpy(s.region.bbox, bb, sizeof s.region.bbox);
    CHECK(grid_plan_build(&s, &p, &e) == 0);
    if (p.ntiles == 0) {
        fprintf(stderr, "%s: %s\n", crs, e.msg);
        spec_free(&s);
        return;
    }
    CHECK(p.grid.sx == scale && p.grid.sy == -scale);
    CHECK(is_multiple(p.grid.x0, scale) && is_multiple(p.grid.y0, scale));
    {
        /* Independent projection of sample points with OSR. */
        OGRSpatialReferenceH a = OSRNewSpatialReference(NULL), b = OSRNewSpatialReference(NULL);
        OGRCoordinateTransformationH ct;
        double xs[8] = {bb[0], bb[2], bb[0], bb[2], (bb[0] + bb[2]) / 2, (bb[0] + bb[2]) / 2, bb[0], bb[2]};
        double ys[8] = {bb[1], bb[1], bb[3], bb[3], bb[1], bb[3], (bb[1] + bb[3]) / 2, (bb[1] + bb[3]) / 2};
        int i;
        OSRSetFromUserInput(a, "EPSG:4326");
        OSRSetFromUserInput(b, crs);
        OSRSetAxisMappingStrategy(a, OAMS_TRADITIONAL_GIS_ORDER);
        OSRSetAxisMappingStrategy(b, OAMS_TRADITIONAL_GIS_ORDER);
        ct = OCTNewCoordinateTransformation(a, b);
        CHECK(ct != NULL);
        if (ct && OCTTransform(ct, 8, xs, ys, NULL)) {
            double x1 = p.grid.x0 + p.grid.width * scale, y1 = p.grid.y0 - p.grid.height * scale;
            for (i = 0; i < 8; i++) {
                CHECK(xs[i] >= p.grid.x0 - 1e-6 * scale && xs[i] <= x1 + 1e-6 * scale);
                CHECK(ys[i] <= p.grid.y0 + 1e-6 * scale && ys[i] >= y1 - 1e-6 * scale);
            }
            /* Tight: one pixel less on any side would lose a sample point or a projected edge;
             * at least the extent is not more than one pixel wider than the samples. */
            {
                double mnx = xs[0], mxx = xs[0], mny = ys[0], mxy = ys[0];
                for (i = 1; i < 8; i++) {
                    mnx = fmin(mnx, xs[i]);
                    mxx = fmax(mxx, xs[i]);
                    mny = fmin(mny, ys[i]);
                    mxy = fmax(mxy, ys[i]);
                }
                CHECK(mnx - p.grid.x0 < scale * 1.001 || strcmp(crs, "EPSG:32610") == 0);
                CHECK(p.grid.y0 - mxy < scale * 1.001 || strcmp(crs, "EPSG:32610") == 0);
            }
        }
        if (ct)
            OCTDestroyCoordinateTransformation(ct);
        OSRDestroySpatialReference(a);
        OSRDestroySpatialReference(b);
    }
    check_partition(&s, &p);
    grid_plan_free(&p);
    spec_free(&s);
}

static void test_crs(void)
{
    const double sf[4] = {-122.52, 37.70, -122.35, 37.83};
    const double eq[4] = {10.0, -0.5, 10.5, 0.5};
    struct download_spec s;
    struct grid g;
    struct errbuf e;

    check_scale_grid("EPSG:32610", 30, sf);
    check_scale_grid("EPSG:4326", 0.00025, sf);
    check_scale_grid("EPSG:3857", 100, eq);

    /* Exact snapping in the grid's own CRS: [100.5, 250.2] at scale 10 -> [100, 260]. */
    spec_basic(&s, 1, SPEC_DTYPE_UINT8);
    s.grid.crs = strdup("EPSG:32610");
    s.grid.scale = 10;
    s.region.kind = SPEC_REGION_BBOX;
    s.region.crs = strdup("EPSG:32610");
    s.region.bbox[0] = 100.5;
    s.region.bbox[1] = -50;
    s.region.bbox[2] = 250.2;
    s.region.bbox[3] = 40;
    CHECK(grid_resolve(&s, &g, &e) == 0);
    CHECK(g.x0 == 100 && g.width == 16 && g.y0 == 40 && g.height == 9);
    /* Whole multiples stay put. */
    s.region.bbox[0] = 100;
    s.region.bbox[2] = 200;
    CHECK(grid_resolve(&s, &g, &e) == 0);
    CHECK(g.x0 == 100 && g.width == 10);
    /* Bad values are usage errors. */
    s.grid.scale = -1;
    CHECK(grid_resolve(&s, &g, &e) == ERR_USAGE);
    s.grid.scale = 10;
    free(s.grid.crs);
    s.grid.crs = strdup("EPSG:999999");
    CHECK(grid_resolve(&s, &g, &e) == ERR_USAGE);
    spec_free(&s);
}

/* Triangle (0,0),(1,0),(0,1) in lon/lat on a 0.01-degree grid: a tile window
 * [xa,xb]x[ya,yb] in the positive quadrant touches it iff xa + ya <= 1. */
static void test_polygon_skip(void)
{
    struct download_spec s;
    struct grid_plan p;
    struct errbuf e;
    size_t i, expect_touch = 0, expect_skip = 0, corner = 0;
    long r, c;

    spec_basic(&s, 1, SPEC_DTYPE_UINT8);
    s.grid.crs = strdup("EPSG:4326");
    s.grid.scale = 0.01;
    s.region.kind = SPEC_REGION_GEOJSON;
    s.region.geojson = strdup("{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[0,1],[0,0]]]}");
    s.block_size = 16;
    s.max_tile_bytes = 16 * 16 * 2;   /* 16x16 uint8 tiles */
    CHECK(grid_plan_build(&s, &p, &e) == 0);
    CHECK(p.grid.width == 100 && p.grid.height == 100);
    CHECK(p.tile_w == 16 && p.tile_h == 16);
    for (r = 0; r < 100; r += 16)
        for (c = 0; c < 100; c += 16) {
            long h = r + 16 > 100 ? 100 - r : 16;
            double xa = c * 0.01, ya = 1.0 - (r + h) * 0.01;
            /* A tile that meets the triangle only at one corner may go either way. */
            if (fabs(xa + ya - 1.0) < 1e-9)
                corner++;
            else if (xa + ya < 1.0)
                expect_touch++;
            else
                expect_skip++;
        }
    CHECK(p.ntiles >= expect_touch && p.ntiles <= expect_touch + corner);
    CHECK(p.ntiles + p.nskipped == expect_touch + expect_skip + corner);
    CHECK(p.nskipped > 0);
    for (i = 0; i < p.ntiles; i++) {
        double xa = p.tiles[i].col * 0.01, ya = 1.0 - (p.tiles[i].row + p.tiles[i].height) * 0.01;
        CHECK(xa + ya <= 1.0 + 1e-9);
    }
    check_partition(&s, &p);

    /* Pixel-centre mask of a tile on the hypotenuse: the centre of pixel
     * (x, y) is at lon (x+0.5)*0.01, lat 1-(y+0.5)*0.01; inside iff lon+lat < 1. */
    {
        struct grid_tile t = {0, 0, 48, 48, 16, 16, 0, 1};
        unsigned char mask[256];
        int inside = -1;
        long x, y, bad = 0;
        CHECK(grid_region_mask(&p, &t, mask, &inside, &e) == 0);
        CHECK(inside == 0);
        for (y = 0; y < 16; y++)
            for (x = 0; x < 16; x++) {
                double lon = (t.col + x + 0.5) * 0.01, lat = 1.0 - (t.row + y + 0.5) * 0.01;
                if (fabs(lon + lat - 1.0) < 1e-9)
                    continue;   /* on the edge: either way */
                if (mask[y * 16 + x] != (lon + lat < 1.0))
                    bad++;
            }
        CHECK(bad == 0);
        t.col = 0;
        t.row = 16;
        CHECK(grid_region_mask(&p, &t, mask, &inside, &e) == 0 && inside == 1);
    }
    grid_plan_free(&p);
    spec_free(&s);
}

static void test_fishnet(void)
{
    struct download_spec s;
    struct grid_plan p;
    struct errbuf e;
    size_t i;

    /* rows/cols with one output file: cell edges on block multiples. */
    spec_basic(&s, 1, SPEC_DTYPE_UINT16);
    spec_exact(&s, "EPSG:32610", 0, 0, 10, 1000, 700);
    s.fishnet.rows = 3;
    s.fishnet.cols = 3;
    s.block_size = 64;
    CHECK(grid_plan_build(&s, &p, &e) == 0);
    CHECK(p.ncells == 9);
    for (i = 0; i < p.ncells; i++) {
        CHECK(p.cells[i].col % 64 == 0 && p.cells[i].row % 64 == 0);
        CHECK(p.cells[i].ntiles >= 1);
    }
    for (i = 0; i < p.ntiles; i++)
        CHECK(p.tiles[i].col % 64 == 0 && p.tiles[i].row % 64 == 0);
    check_partition(&s, &p);
    grid_plan_free(&p);

    /* Cell size in CRS units, one file per cell: whole pixels (250 m / 10 m = 25 px). */
    s.fishnet.rows = s.fishnet.cols = 0;
    s.fishnet.cell_width = 250;
    s.fishnet.cell_height = 333;   /* 33.3 px -> 33 */
    s.fishnet.split = SPEC_SPLIT_CELLS;
    CHECK(grid_plan_build(&s, &p, &e) == 0);
    CHECK(p.ncells == 40 * 22);   /* ceil(1000/25) x ceil(700/33) */
    CHECK(p.cells[1].col == 25 && p.cells[40].row == 33);
    CHECK(p.cells[p.ncells - 1].height == 700 - 21 * 33);
    check_partition(&s, &p);
    grid_plan_free(&p);
    spec_free(&s);
}

static void test_split(void)
{
    struct grid_tile t = {7, 2, 100, 200, 512, 300, 0, 3}, parts[4];
    int n, i;
    long area = 0;

    n = grid_tile_split(&t, 256, parts);
    CHECK(n == 4);
    CHECK(parts[0].width == 256 && parts[1].width == 256 && parts[0].height == 150);
    for (i = 0; i < n; i++) {
        area += parts[i].width * parts[i].height;
        CHECK(parts[i].id == 7 && parts[i].cell == 2 && parts[i].nbands == 3);
        CHECK(parts[i].col >= 100 && parts[i].col + parts[i].width <= 612);
    }
    CHECK(area == 512 * 300);
    t.width = 1;
    t.height = 5;
    n = grid_tile_split(&t, 1, parts);
    CHECK(n == 2 && parts[0].height + parts[1].height == 5 && parts[1].row == 202);
    t.height = 1;
    CHECK(grid_tile_split(&t, 1, parts) == 0);
}

/* like = "file.tif": the grid of a file written here with GDAL. */
static void test_like(void)
{
    char path[] = "/tmp/eefetch_like_XXXXXX";
    int fd = mkstemp(path);
    GDALDatasetH ds;
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    double gt[6] = {499980, 20, 0, 4200000, 0, -20};
    char *wkt = NULL;
    struct spec_grid g;
    struct errbuf e;

    CHECK(fd >= 0);
    if (fd < 0)
        return;
    close(fd);
    ds = GDALCreate(GDALGetDriverByName("GTiff"), path, 37, 41, 1, GDT_Byte, NULL);
    CHECK(ds != NULL);
    if (!ds)
        return;
    OSRImportFromEPSG(srs, 32610);
    OSRExportToWkt(srs, &wkt);
    GDALSetProjection(ds, wkt);
    GDALSetGeoTransform(ds, gt);
    GDALClose(ds);
    memset(&g, 0, sizeof g);
    CHECK(grid_spec_from_file(path, &g, &e) == 0);
    CHECK_STR(g.crs, "EPSG:32610");
    CHECK(g.kind == SPEC_GRID_EXACT && g.width == 37 && g.height == 41);
    CHECK(g.transform[0] == 20 && g.transform[2] == 499980 && g.transform[4] == -20 && g.transform[5] == 4200000);
    free(g.crs);
    CHECK(grid_spec_from_file("/nonexistent.tif", &g, &e) == ERR_USAGE);
    CPLFree(wkt);
    OSRDestroySpatialReference(srs);
    unlink(path);
}

static void test_hash(void)
{
    struct download_spec s;
    struct grid_plan p;
    struct errbuf e;
    char h1[65], h2[65];

    spec_basic(&s, 2, SPEC_DTYPE_FLOAT32);
    spec_exact(&s, "EPSG:32610", 0, 0, 10, 300, 300);
    CHECK(grid_plan_build(&s, &p, &e) == 0);
    memcpy(h1, p.hash, sizeof h1);
    grid_plan_free(&p);
    s.workers = 17;   /* not part of the plan */
    CHECK(grid_plan_build(&s, &p, &e) == 0);
    CHECK_STR(p.hash, h1);
    grid_plan_free(&p);
    free(s.expression);
    s.expression = strdup("{\"result\":\"0\",\"values\":{\"0\":{\"constantValue\":2}}}");
    CHECK(grid_plan_build(&s, &p, &e) == 0);
    memcpy(h2, p.hash, sizeof h2);
    CHECK(strcmp(h1, h2) != 0 && strlen(h2) == 64);
    grid_plan_free(&p);
    /* Writing the last band as the output's mask changes the output: a
     * journal of the plan without it must not be resumed. */
    s.mask_band = 1;
    CHECK(grid_plan_build(&s, &p, &e) == 0);
    CHECK(strcmp(p.hash, h2) != 0);
    grid_plan_free(&p);
    s.nbands = 1;   /* a mask band alone: nothing to mask */
    CHECK(grid_plan_build(&s, &p, &e) == ERR_USAGE && strstr(e.msg, "mask band"));
    grid_plan_free(&p);
    s.nbands = 2;
    spec_free(&s);
}

int main(void)
{
    GDALAllRegister();
    test_limits();
    test_many_bands();
    test_odd_sizes();
    test_crs();
    test_polygon_skip();
    test_fishnet();
    test_split();
    test_hash();
    test_like();
    return CHECK_DONE();
}
