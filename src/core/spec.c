/* The download spec: defaults, release, and pixel type tables. */
#include "core/spec.h"

#include <stdlib.h>
#include <string.h>

void spec_init(struct download_spec *s)
{
    /* Every default is the zero value of its field (see spec.h), so a
     * zeroed spec is a valid "nothing given" spec. */
    memset(s, 0, sizeof *s);
}

void spec_free(struct download_spec *s)
{
    size_t i;

    if (!s)
        return;
    free(s->expression);
    for (i = 0; i < s->nbands; i++) {
        free(s->bands[i].id);
        free(s->bands[i].name);
    }
    free(s->bands);
    for (i = 0; i < s->nparts; i++) {
        size_t k;
        free(s->parts[i].path);
        free(s->parts[i].id);
        for (k = 0; k < s->parts[i].nmetadata; k++) {
            free(s->parts[i].metadata[k].key);
            free(s->parts[i].metadata[k].value);
        }
        free(s->parts[i].metadata);
    }
    free(s->parts);
    free(s->grid.crs);
    free(s->overview_resampling);
    free(s->region.crs);
    free(s->region.geojson);
    free(s->output);
    free(s->quicklook);
    free(s->quicklook_palette);
    for (i = 0; i < s->nmetadata; i++) {
        free(s->metadata[i].key);
        free(s->metadata[i].value);
    }
    free(s->metadata);
    free(s->project);
    free(s->endpoint);
    free(s->credentials);
    free(s->workload_tag);
    free(s->bucket);
    free(s->recipe_path);
    free(s->recipe_hash);
    spec_init(s);
}

static const struct {
    enum spec_dtype t;
    size_t size;
    const char *npy;
    const char *name;
} dtypes[] = {
    {SPEC_DTYPE_AUTO, 0, NULL, "auto"},
    {SPEC_DTYPE_UINT8, 1, "|u1", "uint8"},
    {SPEC_DTYPE_INT8, 1, "|i1", "int8"},
    {SPEC_DTYPE_UINT16, 2, "<u2", "uint16"},
    {SPEC_DTYPE_INT16, 2, "<i2", "int16"},
    {SPEC_DTYPE_UINT32, 4, "<u4", "uint32"},
    {SPEC_DTYPE_INT32, 4, "<i4", "int32"},
    {SPEC_DTYPE_FLOAT32, 4, "<f4", "float32"},
    {SPEC_DTYPE_FLOAT64, 8, "<f8", "float64"},
};

#define NDTYPES (sizeof dtypes / sizeof dtypes[0])

int spec_files_per_cell(const struct download_spec *s)
{
    return s->fishnet.split == SPEC_SPLIT_CELLS || s->format == SPEC_FORMAT_VRT;
}

size_t spec_dtype_size(enum spec_dtype t)
{
    return (size_t)t < NDTYPES ? dtypes[t].size : 0;
}

const char *spec_dtype_npy(enum spec_dtype t)
{
    return (size_t)t < NDTYPES ? dtypes[t].npy : NULL;
}

const char *spec_dtype_name(enum spec_dtype t)
{
    return (size_t)t < NDTYPES ? dtypes[t].name : "?";
}

/* The words a recipe may give for `format` and `compression`: the one list
 * of each, which the recipe schema reads too (spec_*_name_at). */
static const struct {
    const char *name;
    enum spec_format f;
} format_names[] = {{"gtiff", SPEC_FORMAT_GTIFF}, {"geotiff", SPEC_FORMAT_GTIFF}, {"tif", SPEC_FORMAT_GTIFF},
                    {"cog", SPEC_FORMAT_COG},     {"vrt", SPEC_FORMAT_VRT},         {"zarr", SPEC_FORMAT_ZARR},
                    {"netcdf", SPEC_FORMAT_NETCDF}};
/* the same order as enum spec_compression */
static const char *const compression_names[] = {"default", "none", "deflate", "zstd", "lzw"};

#define NFORMATS (sizeof format_names / sizeof format_names[0])
#define NCOMPRESSIONS (sizeof compression_names / sizeof compression_names[0])

int spec_format_parse(const char *name, enum spec_format *out)
{
    size_t i;

    for (i = 0; name && i < NFORMATS; i++)
        if (strcmp(name, format_names[i].name) == 0) {
            *out = format_names[i].f;
            return 0;
        }
    return -1;
}

int spec_compression_parse(const char *name, enum spec_compression *out)
{
    size_t i;

    for (i = 0; name && i < NCOMPRESSIONS; i++)
        if (strcmp(name, compression_names[i]) == 0) {
            *out = (enum spec_compression)i;
            return 0;
        }
    return -1;
}

const char *spec_format_name_at(size_t i)
{
    return i < NFORMATS ? format_names[i].name : NULL;
}

const char *spec_compression_name_at(size_t i)
{
    return i < NCOMPRESSIONS ? compression_names[i] : NULL;
}

const char *spec_dtype_name_at(size_t i)
{
    return i < NDTYPES ? dtypes[i].name : NULL;
}

int spec_dtype_parse(const char *name, enum spec_dtype *t)
{
    size_t i;

    if (!name)
        return -1;
    /* EE's own names for the wide float types. */
    if (strcmp(name, "float") == 0) {
        *t = SPEC_DTYPE_FLOAT32;
        return 0;
    }
    if (strcmp(name, "double") == 0) {
        *t = SPEC_DTYPE_FLOAT64;
        return 0;
    }
    for (i = 0; i < NDTYPES; i++) {
        if (strcmp(name, dtypes[i].name) == 0) {
            *t = dtypes[i].t;
            return 0;
        }
    }
    return -1;
}
