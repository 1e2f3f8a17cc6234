/*
 * STAC metadata for a finished download: an Item beside each output file
 * (the output's name with ".json"), and for a collection's files a STAC
 * Collection over them. An Item describes the file as it was written: band
 * names, types, nodata, scale and offset are read back from the raster
 * with GDAL (a cube's from the spec); the times and properties come from
 * the images (system:time_start, their EE properties), the provenance from
 * the spec and the plan. stac.c writes the JSON.
 */
#include "core/stacout.h"

#include <gdal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/pixtype.h"
#include "core/stac.h"
#include "util/timeutil.h"
#include "util/path.h"

#define STACOUT_MAX_BANDS 4096

/* "<path without its extension>.json" (a ".zarr" directory too). */
static int json_path(const char *path, char *out, size_t cap)
{
    return path_with_suffix(path, ".json", out, cap);
}

/* The item id: the output's file name without its extension. */
static void item_id(const char *path, char *out, size_t cap)
{
    const char *base = path_base(path);

    snprintf(out, cap, "%.*s", (int)(path_stem_len(path) - (size_t)(base - path)), base);
}

struct bandset {
    struct stac_band b[STACOUT_MAX_BANDS];
    char names[STACOUT_MAX_BANDS][128];
    size_t n;
};

/* The bands of the raster at path, as GDAL reads them. */
static int bands_of_file(const char *path, struct bandset *bs, struct errbuf *e)
{
    GDALDatasetH ds;
    int i, n, ok;

    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALOpen(path, GA_ReadOnly);
    CPLPopErrorHandler();
    if (!ds)
        return err_set(e, ERR_IO, "cannot read %s back for its STAC item: %s", path, CPLGetLastErrorMsg());
    n = GDALGetRasterCount(ds);
    bs->n = 0;
    for (i = 0; i < n && i < STACOUT_MAX_BANDS; i++) {
        GDALRasterBandH band = GDALGetRasterBand(ds, i + 1);
        struct stac_band *b = &bs->b[bs->n];
        memset(b, 0, sizeof *b);
        snprintf(bs->names[bs->n], sizeof bs->names[0], "%s", GDALGetDescription(band));
        b->name = bs->names[bs->n][0] ? bs->names[bs->n] : NULL;
        b->dtype = pixtype_from_gdal(GDALGetRasterDataType(band));
        if (b->dtype == SPEC_DTYPE_UINT8) {
            const char *pt = GDALGetMetadataItem(band, "PIXELTYPE", "IMAGE_STRUCTURE");
            if (pt && strcmp(pt, "SIGNEDBYTE") == 0)
                b->dtype = SPEC_DTYPE_INT8;
        }
        b->nodata = GDALGetRasterNoDataValue(band, &ok);
        b->has_nodata = ok;
        b->scale = GDALGetRasterScale(band, &ok);
        b->has_scale = ok;
        b->offset = GDALGetRasterOffset(band, NULL);
        bs->n++;
    }
    GDALClose(ds);
    return 0;
}

/* A cube's variables: one image's bands, of the output type. */
static void bands_of_spec(const struct download_spec *s, struct bandset *bs)
{
    size_t i, n = s->nparts ? (size_t)s->parts[0].nbands : s->nbands;

    bs->n = 0;
    for (i = 0; i < n && i < STACOUT_MAX_BANDS; i++) {
        struct stac_band *b = &bs->b[bs->n++];
        memset(b, 0, sizeof *b);
        b->name = s->bands[i].name ? s->bands[i].name : s->bands[i].id;
        b->dtype = s->dtype;
        b->has_nodata = s->has_nodata;
        b->nodata = s->nodata;
        b->has_scale = s->bands[i].has_scale;
        b->scale = s->bands[i].scale;
        b->offset = s->bands[i].offset;
    }
}

/* Provenance items, then extra (an image's properties). */
static struct spec_kv *properties(const struct download_spec *s, const struct engine_summary *sum,
                                  const struct spec_kv *extra, size_t nextra, size_t *n)
{
    struct spec_kv *p = calloc(nextra + s->nmetadata + 4, sizeof *p);
    size_t k = 0, i;

    if (!p)
        return NULL;
    p[k].key = (char *)"EEFETCH_VERSION";
    p[k++].value = (char *)EEFETCH_VERSION;
    p[k].key = (char *)"EEFETCH_PLAN_SHA256";
    p[k++].value = (char *)sum->plan_hash;
    if (s->recipe_path) {
        p[k].key = (char *)"EEFETCH_RECIPE";
        p[k++].value = s->recipe_path;
    }
    if (s->recipe_hash) {
        p[k].key = (char *)"EEFETCH_RECIPE_SHA256";
        p[k++].value = s->recipe_hash;
    }
    for (i = 0; i < s->nmetadata; i++)
        p[k++] = s->metadata[i];
    for (i = 0; i < nextra; i++)
        p[k++] = extra[i];
    *n = k;
    return p;
}

static const char *media_of(const struct download_spec *s)
{
    switch (s->format) {
    case SPEC_FORMAT_COG: return STAC_MEDIA_COG;
    case SPEC_FORMAT_VRT: return STAC_MEDIA_VRT;
    case SPEC_FORMAT_ZARR: return STAC_MEDIA_ZARR;
    case SPEC_FORMAT_NETCDF: return STAC_MEDIA_NETCDF;
    default: return spec_files_per_cell(s) ? STAC_MEDIA_VRT : STAC_MEDIA_GEOTIFF;
    }
}

/* The item of one output file (part: one image of a collection, or NULL). */
static int write_item(const struct download_spec *s, const struct engine_summary *sum, const char *path,
                      const struct spec_part *part, const char *coll_id, const char *coll_path,
                      char *json_out, size_t json_cap, struct bandset *bs, struct errbuf *e)
{
    struct stac_item it;
    struct spec_kv *props;
    char id[512];
    size_t nprops = 0, k;
    int rc;

    if (json_path(path, json_out, json_cap) != 0)
        return err_set(e, ERR_LIMIT, "the STAC item's path for %s is too long", path);
    rc = s->layout == SPEC_LAYOUT_CUBE ? (bands_of_spec(s, bs), 0) : bands_of_file(path, bs, e);
    if (rc < 0)
        return rc;
    if (!(props = properties(s, sum, part ? part->metadata : NULL, part ? part->nmetadata : 0, &nprops)))
        return err_set(e, ERR_NOMEM, "out of memory");
    item_id(path, id, sizeof id);
    memset(&it, 0, sizeof it);
    it.path = json_out;
    it.id = id;
    it.asset_path = path;
    it.media_type = media_of(s);
    it.grid = &sum->grid;
    if (part && part->has_time) {
        it.has_datetime = 1;
        it.datetime_ms = part->time_ms;
    } else if (!part && s->nparts > 0) {
        /* a stack or cube: the images' time span */
        it.has_range = 1;
        it.start_ms = INT64_MAX;
        it.end_ms = INT64_MIN;
        for (k = 0; k < s->nparts; k++) {
            if (!s->parts[k].has_time)
                continue;
            if (s->parts[k].time_ms < it.start_ms)
                it.start_ms = s->parts[k].time_ms;
            if (s->parts[k].time_ms > it.end_ms)
                it.end_ms = s->parts[k].time_ms;
        }
        it.has_range = it.start_ms <= it.end_ms;
    }
    it.bands = bs->b;
    it.nbands = bs->n;
    it.properties = props;
    it.nproperties = nprops;
    it.collection_id = coll_id;
    it.collection_path = coll_path;
    rc = stac_write_item(&it, e);
    free(props);
    return rc;
}

/* A collection's files: "<template with each {field} as 'collection'>.json". */
static int collection_path(const char *template, char *out, size_t cap)
{
    char tmp[4096];
    size_t n = 0;
    const char *p;

    for (p = template; *p && n + 16 < sizeof tmp; p++) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        if (close) {
            memcpy(tmp + n, "collection", 10);
            n += 10;
            p = close;
        } else {
            tmp[n++] = *p;
        }
    }
    tmp[n] = '\0';
    return *p ? -1 : json_path(tmp, out, cap);
}

static int write_collection(const struct download_spec *s, const struct engine_summary *sum, struct bandset *bs,
                            struct errbuf *e)
{
    char cpath[4200], cid[512], desc[4400];
    char **items = calloc(s->nparts, sizeof *items);
    double bbox[4];
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    size_t k;
    int rc = 0;

    if (!items)
        return err_set(e, ERR_NOMEM, "out of memory");
    if (collection_path(s->output, cpath, sizeof cpath) != 0) {
        rc = err_set(e, ERR_LIMIT, "the STAC collection's path for %s is too long", s->output);
        goto done;
    }
    item_id(cpath, cid, sizeof cid);
    for (k = 0; k < s->nparts && rc == 0; k++) {
        char j[4200];
        if ((rc = write_item(s, sum, s->parts[k].path, &s->parts[k], cid, cpath, j, sizeof j, bs, e)) == 0 &&
            !(items[k] = strdup(j)))
            rc = err_set(e, ERR_NOMEM, "out of memory");
        if (s->parts[k].has_time) {
            t0 = s->parts[k].time_ms < t0 ? s->parts[k].time_ms : t0;
            t1 = s->parts[k].time_ms > t1 ? s->parts[k].time_ms : t1;
        }
    }
    if (rc == 0 && (rc = stac_grid_bbox(&sum->grid, bbox, e)) == 0) {
        snprintf(desc, sizeof desc, "%zu images downloaded by eefetch as %s", s->nparts, s->output);
        rc = stac_write_collection(cpath, cid, desc, (const char *const *)items, s->nparts, bbox, t0, t1, e);
    }
done:
    for (k = 0; k < s->nparts; k++)
        free(items[k]);
    free(items);
    return rc;
}

int stacout_path(const struct download_spec *s, char *out, size_t cap)
{
    return s->layout == SPEC_LAYOUT_FILES ? collection_path(s->output, out, cap) : json_path(s->output, out, cap);
}

int stacout_write(const struct download_spec *s, const struct engine_summary *sum, struct errbuf *e)
{
    struct bandset *bs = malloc(sizeof *bs);
    struct engine_summary full = *sum;
    char j[4200];
    int rc;

    if (!bs)
        return err_set(e, ERR_NOMEM, "out of memory");
    full.grid.width = sum->width;
    full.grid.height = sum->height;
    if (s->layout == SPEC_LAYOUT_FILES)
        rc = write_collection(s, &full, bs, e);
    else
        rc = write_item(s, &full, s->output, NULL, NULL, NULL, j, sizeof j, bs, e);
    free(bs);
    return rc;
}
