/* Fuzz target: the GeoTIFF tile decoder (core/decode.h, through GDAL's
 * /vsimem/), expectation from the input's first bytes (fuzz_tile.h). */
#include <gdal.h>

#include "fuzz.h"
#include "fuzz_tile.h"

volatile unsigned long fuzz_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int registered;
    struct fuzz_tile_expect t;
    struct decoded_tile tile;
    struct errbuf e;

    if (!registered) {
        GDALAllRegister();
        registered = 1;
    }
    if (fuzz_tile_expect_read(data, size, &t) != 0)
        return 0;
    if (decode_geotiff(data + FUZZ_TILE_PREFIX, size - FUZZ_TILE_PREFIX, &t.x, &tile, &e) == 0) {
        fuzz_sink = fuzz_tile_touch(&tile);
        decoded_tile_free(&tile);
    }
    return 0;
}
