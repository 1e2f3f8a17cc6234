/*
 * Micro-benchmark: catalog_read_row + encode_npy for a 1024x1024 tile of
 * four uint16 Sentinel-2 bands (B2 B3 B4 B8), one thread, no HTTP. Rates use
 * the process CPU time, so other load on a shared machine does not count.
 * Not part of the test run. Build and run from the source tree:
 *
 *   cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Isrc $(pkg-config --cflags gdal json-c) \
 *      bench/emulator_catalog.c src/emulator/catalog.c src/emulator/formula.c \
 *      src/emulator/encode.c src/util/err.c src/util/buf.c \
 *      $(pkg-config --libs gdal json-c) -lm -o /tmp/bench_catalog && /tmp/bench_catalog
 */
#include "emulator/catalog.h"
#include "emulator/raster.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static const char *bands[] = {"B2", "B3", "B4", "B8"};
    const char *id = argc > 1 ? argv[1]
                              : "COPERNICUS/S2_SR_HARMONIZED/20230110T183751_20230110T183750_T10SEG";
    struct catalog *c;
    struct errbuf e;
    struct raster r;
    struct buf out;
    const struct cat_image *img;
    long tiles = 0, bytes = 0, row;
    double t0, t_read = 0, t_enc = 0;
    int b, k;

    if (catalog_create(&c, &e) != 0 || !(img = catalog_image(c, id))) {
        fprintf(stderr, "catalog: %s\n", c ? "image not found" : e.msg);
        return 1;
    }
    if (raster_alloc(&r, 1024, 1024, 4) != 0)
        return 1;
    buf_init(&out, 0);
    for (k = 0; k < 40; k++) {
        long col0 = 1024 * (k % 10), row0 = 1024 * (k / 10);

        t0 = now_s();
        for (b = 0; b < 4; b++) {
            int ib;

            for (ib = 0; ib < img->nbands && strcmp(img->bands[ib].id, bands[b]) != 0; ib++)
                ;
            snprintf(r.bands[b].id, sizeof r.bands[b].id, "%s", bands[b]);
            r.bands[b].type = PX_U16;
            for (row = 0; row < 1024; row++)
                catalog_read_row(img, ib, row0 + row, col0, 1024, r.bands[b].data + row * 1024,
                                 r.bands[b].mask + row * 1024);
        }
        t_read += now_s() - t0;
        t0 = now_s();
        buf_reset(&out);
        if (encode_npy(&r, &out, &e) != 0) {
            fprintf(stderr, "encode: %s\n", e.msg);
            return 1;
        }
        t_enc += now_s() - t0;
        bytes += (long)out.len;
        tiles++;
    }
    printf("%ld tiles of 1024x1024x4 uint16: read %.1f ms/tile, encode %.1f ms/tile, "
           "%.0f MiB/s of NPY\n", tiles, 1e3 * t_read / tiles, 1e3 * t_enc / tiles,
           bytes / (t_read + t_enc) / (1 << 20));
    buf_free(&out);
    raster_free(&r);
    catalog_destroy(c);
    return 0;
}
