/* The download spec: defaults, release of owned strings, dtype tables. */
#include <stdlib.h>
#include <string.h>

#include "core/spec.h"
#include "../unit/check.h"

int main(void)
{
    struct download_spec s;
    enum spec_dtype t;

    spec_init(&s);
    CHECK(s.format == SPEC_FORMAT_GTIFF);
    CHECK(s.existing == SPEC_EXISTING_RESUME);
    CHECK(s.fetch_format == SPEC_FETCH_NPY);
    CHECK(s.grid.kind == SPEC_GRID_SCALE);

    s.expression = strdup("{\"result\":\"0\",\"values\":{}}");
    s.nbands = 2;
    s.bands = calloc(2, sizeof *s.bands);
    CHECK(s.bands != NULL);
    if (s.bands) {
        s.bands[0].id = strdup("B1");
        s.bands[1].id = strdup("B2");
    }
    s.nmetadata = 1;
    s.metadata = calloc(1, sizeof *s.metadata);
    if (s.metadata) {
        s.metadata[0].key = strdup("k");
        s.metadata[0].value = strdup("v");
    }
    s.grid.crs = strdup("EPSG:4326");
    s.output = strdup("out.tif");
    spec_free(&s);   /* ASan reports any leak */
    CHECK(s.bands == NULL && s.nbands == 0 && s.output == NULL);
    spec_free(&s);   /* idempotent */

    CHECK(spec_dtype_size(SPEC_DTYPE_UINT8) == 1);
    CHECK(spec_dtype_size(SPEC_DTYPE_INT16) == 2);
    CHECK(spec_dtype_size(SPEC_DTYPE_FLOAT64) == 8);
    CHECK(spec_dtype_size(SPEC_DTYPE_AUTO) == 0);
    CHECK_STR(spec_dtype_npy(SPEC_DTYPE_UINT16), "<u2");
    CHECK_STR(spec_dtype_npy(SPEC_DTYPE_INT8), "|i1");
    CHECK(spec_dtype_parse("double", &t) == 0 && t == SPEC_DTYPE_FLOAT64);
    CHECK(spec_dtype_parse("float", &t) == 0 && t == SPEC_DTYPE_FLOAT32);
    CHECK(spec_dtype_parse("int32", &t) == 0 && t == SPEC_DTYPE_INT32);
    CHECK(spec_dtype_parse("int64", &t) == -1);
    CHECK_STR(spec_dtype_name(SPEC_DTYPE_UINT32), "uint32");
    {
        enum spec_format f = SPEC_FORMAT_VRT;
        enum spec_compression c = SPEC_COMPRESS_NONE;
        CHECK(spec_format_parse("tif", &f) == 0 && f == SPEC_FORMAT_GTIFF);
        CHECK(spec_format_parse("cog", &f) == 0 && f == SPEC_FORMAT_COG);
        CHECK(spec_format_parse("netcdf", &f) == 0 && f == SPEC_FORMAT_NETCDF);
        CHECK(spec_format_parse("png", &f) == -1 && f == SPEC_FORMAT_NETCDF);
        CHECK(spec_compression_parse("lzw", &c) == 0 && c == SPEC_COMPRESS_LZW);
        CHECK(spec_compression_parse("default", &c) == 0 && c == SPEC_COMPRESS_DEFAULT);
        CHECK(spec_compression_parse("zip", &c) == -1);
    }
    return CHECK_DONE();
}
