/*
 * Datacube writer (see cube.h and docs/engine.md, "Datacubes"): the pieces
 * of a collection download, copied chunk by chunk into a Zarr v2 store or a
 * netCDF-4 file with GDAL's multidimensional API, CF-1.8 coordinates and
 * attributes, written under <path>.partial and renamed into place. Owns no
 * thread; the caller runs it after every tile is stored.
 */
#define _GNU_SOURCE 1   /* renameat2, syncfs */
#include "core/cube.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal.h>
#include <json-c/json.h>
#include <ogr_srs_api.h>

#include "core/pixtype.h"
#include "util/path.h"

#define GRID_MAPPING "spatial_ref"   /* the Zarr store's grid-mapping variable */

static const char *const reserved[] = {"time", "x", "y", "image_id", GRID_MAPPING};

int cube_reserved_name(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(name, reserved[i]) == 0)
            return 1;
    return 0;
}

/* ---- file-system helpers ---- */


static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

/* Removes a file or a whole directory tree (never following links). */
static int remove_tree(const char *path)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A leftover partial cube of an earlier run (a file, an empty directory or
 * a Zarr store) is removed; any other directory there is not ours. */
static int clear_partial(const char *partial, struct errbuf *e)
{
    struct stat st;
    char probe[4300];
    DIR *d;
    struct dirent *de;
    int empty = 1;

    if (lstat(partial, &st) != 0)
        return 0;
    if (S_ISDIR(st.st_mode)) {
        snprintf(probe, sizeof probe, "%s/.zgroup", partial);
        if ((d = opendir(partial)) != NULL) {
            while ((de = readdir(d)) != NULL)
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                    empty = 0;
            closedir(d);
        }
        if (!empty && access(probe, F_OK) != 0)
            return err_set(e, ERR_IO, "%s is a directory that is not a partial eefetch cube: move it away", partial);
    }
    if (remove_tree(partial) != 0)
        return err_set(e, ERR_IO, "cannot remove the leftover %s: %s", partial, strerror(errno));
    return 0;
}

/* ---- GDAL attribute helpers ---- */

static int attr_str(GDALMDArrayH a, GDALGroupH g, const char *name, const char *value)
{
    GDALExtendedDataTypeH t = GDALExtendedDataTypeCreateString(0);
    GDALAttributeH at = a ? GDALMDArrayCreateAttribute(a, name, 0, NULL, t, NULL)
                          : GDALGroupCreateAttribute(g, name, 0, NULL, t, NULL);
    int ok = at && GDALAttributeWriteString(at, value);

    if (at)
        GDALAttributeRelease(at);
    GDALExtendedDataTypeRelease(t);
    return ok ? 0 : -1;
}

static int attr_num(GDALMDArrayH a, const char *name, double value)
{
    GDALExtendedDataTypeH t = GDALExtendedDataTypeCreate(GDT_Float64);
    GDALAttributeH at = GDALMDArrayCreateAttribute(a, name, 0, NULL, t, NULL);
    int ok = at && GDALAttributeWriteDouble(at, value);

    if (at)
        GDALAttributeRelease(at);
    GDALExtendedDataTypeRelease(t);
    return ok ? 0 : -1;
}

/* ---- the writer ---- */

struct cube_writer {
    const struct cube_out *o;
    char partial[4200], dir[4096];
    enum spec_dtype atype;           /* the arrays' type (int8 is stored as int16) */
    size_t asz;
    GDALDatasetH ds;
    GDALGroupH root;
    GDALDimensionH dims[3];          /* time, y, x */
    GDALMDArrayH *vars;
    GDALExtendedDataTypeH edt;       /* atype */
    OGRSpatialReferenceH srs;
    char gm_name[256];               /* the grid-mapping variable */
    /* chunk assembly */
    long ncx, ncy;                   /* chunks across, down */
    unsigned char *written;          /* bit (band * nchunks + chunk): that chunk was written */
    unsigned char *chunk;            /* one chunk of atype */
    struct mosaic_pbuf *pb;          /* the pieces of one group, as read */
    unsigned char **conv;            /* ... widened to atype (NULL: same type) */
    size_t *convcap;
    size_t npb;
};

static void writer_close(struct cube_writer *w)
{
    size_t v;

    if (w->vars)
        for (v = 0; v < w->o->nvars; v++)
            if (w->vars[v])
                GDALMDArrayRelease(w->vars[v]);
    free(w->vars);
    w->vars = NULL;
    for (v = 0; v < 3; v++)
        if (w->dims[v]) {
            GDALDimensionRelease(w->dims[v]);
            w->dims[v] = NULL;
        }
    if (w->root) {
        GDALGroupRelease(w->root);
        w->root = NULL;
    }
    if (w->edt) {
        GDALExtendedDataTypeRelease(w->edt);
        w->edt = NULL;
    }
}

/* Closes the dataset; -1 when GDAL reported a failure while flushing
 * (GDALClose returns nothing before GDAL 3.7). Arrays write their last
 * chunk and their metadata when released, the Zarr store its consolidated
 * metadata when the dataset closes. */
static int writer_finish_gdal(struct cube_writer *w)
{
    int failed;

    CPLErrorReset();
    writer_close(w);
    if (w->ds)
        GDALClose(w->ds);
    w->ds = NULL;
    failed = CPLGetLastErrorType() >= CE_Failure;
    return failed ? -1 : 0;
}

static void writer_free(struct cube_writer *w)
{
    size_t i;

    writer_close(w);
    if (w->ds)
        GDALClose(w->ds);
    if (w->srs)
        OSRDestroySpatialReference(w->srs);
    for (i = 0; i < w->npb; i++) {
        mosaic_pbuf_free(&w->pb[i]);
        free(w->conv[i]);
    }
    free(w->pb);
    free(w->conv);
    free(w->convcap);
    free(w->written);
    free(w->chunk);
}

/* CF's name for the coordinates' unit. */
static void linear_unit(OGRSpatialReferenceH srs, char *out, size_t cap)
{
    char *name = NULL;
    double f = OSRGetLinearUnits(srs, &name);

    if (fabs(f - 1.0) < 1e-12)
        snprintf(out, cap, "m");
    else if (fabs(f - 0.3048006096012192) < 1e-12)
        snprintf(out, cap, "US_survey_foot");
    else if (fabs(f - 0.3048) < 1e-12)
        snprintf(out, cap, "ft");
    else
        snprintf(out, cap, "%s", name && *name ? name : "1");
}

/* The data axis (array dimension, 1-based: 2 = y, 3 = x) of each CRS axis,
 * from the axes' directions (EPSG:4326 is latitude first). */
static int set_axis_mapping(OGRSpatialReferenceH srs)
{
    int m[2] = {3, 2}, i;

    for (i = 0; i < 2 && i < OSRGetAxesCount(srs); i++) {
        OGRAxisOrientation or = OAO_Other;
        OSRGetAxis(srs, NULL, i, &or);
        if (or == OAO_North || or == OAO_South)
            m[i] = 2;
        else if (or == OAO_East || or == OAO_West)
            m[i] = 3;
    }
    if (m[0] == m[1])
        m[0] = 3, m[1] = 2;
    return OSRSetDataAxisToSRSAxisMapping(srs, 2, m) == OGRERR_NONE ? 0 : -1;
}

/* The Zarr store's grid mapping: a scalar variable with the CRS as WKT
 * (crs_wkt, CF; spatial_ref, GDAL and rioxarray), its EPSG code, and CF's
 * grid_mapping_name with parameters where the projection is one CF names
 * and eefetch maps (geographic, transverse Mercator (UTM), sinusoidal). */
static int zarr_grid_mapping(struct cube_writer *w, const char *wkt, struct errbuf *e)
{
    GDALExtendedDataTypeH t = GDALExtendedDataTypeCreate(GDT_Int32);
    GDALMDArrayH gm = GDALGroupCreateMDArray(w->root, GRID_MAPPING, 0, NULL, t, NULL);
    OGRSpatialReferenceH s = w->srs;
    const char *proj = OSRGetAttrValue(s, "PROJECTION", 0);
    int rc = 0, err = 0;

    GDALExtendedDataTypeRelease(t);
    if (!gm)
        return err_set(e, ERR_IO, "cannot create %s in %s: %s", GRID_MAPPING, w->partial, CPLGetLastErrorMsg());
    snprintf(w->gm_name, sizeof w->gm_name, "%s", GRID_MAPPING);
    err |= attr_str(gm, NULL, "crs_wkt", wkt);
    err |= attr_str(gm, NULL, "spatial_ref", wkt);
    if (OSRIsGeographic(s))
        err |= attr_str(gm, NULL, "grid_mapping_name", "latitude_longitude");
    else if (proj && strcmp(proj, "Transverse_Mercator") == 0) {
        err |= attr_str(gm, NULL, "grid_mapping_name", "transverse_mercator");
        err |= attr_num(gm, "scale_factor_at_central_meridian", OSRGetProjParm(s, "scale_factor", 1, NULL));
        err |= attr_num(gm, "longitude_of_central_meridian", OSRGetProjParm(s, "central_meridian", 0, NULL));
        err |= attr_num(gm, "latitude_of_projection_origin", OSRGetProjParm(s, "latitude_of_origin", 0, NULL));
    } else if (proj && strcmp(proj, "Sinusoidal") == 0) {
        err |= attr_str(gm, NULL, "grid_mapping_name", "sinusoidal");
        err |= attr_num(gm, "longitude_of_central_meridian", OSRGetProjParm(s, "longitude_of_center", 0, NULL));
    }
    if (!OSRIsGeographic(s) && proj) {
        err |= attr_num(gm, "false_easting", OSRGetProjParm(s, "false_easting", 0, NULL));
        err |= attr_num(gm, "false_northing", OSRGetProjParm(s, "false_northing", 0, NULL));
    }
    err |= attr_num(gm, "semi_major_axis", OSRGetSemiMajor(s, NULL));
    err |= attr_num(gm, "inverse_flattening", OSRGetInvFlattening(s, NULL));
    err |= attr_num(gm, "longitude_of_prime_meridian", OSRGetPrimeMeridian(s, NULL));
    if (OSRGetAuthorityName(s, NULL) && OSRGetAuthorityCode(s, NULL)) {
        char code[64];
        snprintf(code, sizeof code, "%s:%s", OSRGetAuthorityName(s, NULL), OSRGetAuthorityCode(s, NULL));
        err |= attr_str(gm, NULL, "crs_code", code);
    }
    if (err)
        rc = err_set(e, ERR_IO, "cannot describe the CRS in %s: %s", w->partial, CPLGetLastErrorMsg());
    GDALMDArrayRelease(gm);
    return rc;
}

/* A netCDF file's grid mapping is the driver's own (GDAL writes CF's
 * grid_mapping_name and parameters for every projection it knows, with
 * crs_wkt and spatial_ref) once a variable has the CRS: its name is in the
 * variable's grid_mapping attribute. Only the EPSG code is added. */
static int netcdf_grid_mapping(struct cube_writer *w, struct errbuf *e)
{
    GDALAttributeH at = GDALMDArrayGetAttribute(w->vars[0], "grid_mapping");
    const char *name = at ? GDALAttributeReadAsString(at) : NULL;
    GDALMDArrayH gm;
    int rc = 0;

    if (!name || !*name) {
        rc = err_set(e, ERR_IO, "GDAL's netCDF driver wrote no grid mapping for %s in %s", w->o->grid.crs,
                     w->partial);
        goto done;
    }
    snprintf(w->gm_name, sizeof w->gm_name, "%s", name);
    gm = GDALGroupOpenMDArray(w->root, name, NULL);
    if (gm && OSRGetAuthorityName(w->srs, NULL) && OSRGetAuthorityCode(w->srs, NULL)) {
        char code[64];
        snprintf(code, sizeof code, "%s:%s", OSRGetAuthorityName(w->srs, NULL), OSRGetAuthorityCode(w->srs, NULL));
        if (attr_str(gm, NULL, "crs_code", code) < 0)
            rc = err_set(e, ERR_IO, "cannot describe the CRS in %s: %s", w->partial, CPLGetLastErrorMsg());
    }
    if (gm)
        GDALMDArrayRelease(gm);
done:
    if (at)
        GDALAttributeRelease(at);
    return rc;
}

static GDALMDArrayH coord_array(struct cube_writer *w, const char *name, GDALDimensionH dim, GDALDataType type,
                                const void *values, size_t n)
{
    GDALExtendedDataTypeH t = GDALExtendedDataTypeCreate(type);
    GDALMDArrayH a = GDALGroupCreateMDArray(w->root, name, 1, &dim, t, NULL);
    GUInt64 start = 0;
    size_t count = n;

    if (a && !GDALMDArrayWrite(a, &start, &count, NULL, NULL, t, values, values, n * GDALGetDataTypeSizeBytes(type))) {
        GDALMDArrayRelease(a);
        a = NULL;
    }
    GDALExtendedDataTypeRelease(t);
    /* What makes GDAL write a Zarr array's dimension name (xarray's
     * _ARRAY_DIMENSIONS); the netCDF driver has no such call and needs none. */
    CPLPushErrorHandler(CPLQuietErrorHandler);
    if (a)
        GDALDimensionSetIndexingVariable(dim, a);
    CPLPopErrorHandler();
    CPLErrorReset();
    return a;
}

/* The dataset (Zarr v2 with consolidated metadata, or netCDF-4 under CF),
 * its CRS and its three dimensions. *wkt (CPLFree) is the CRS's WKT. */
static int open_dataset(struct cube_writer *w, int zarr, char **wkt, struct errbuf *e)
{
    const struct cube_out *o = w->o;
    GDALDriverH drv = GDALGetDriverByName(zarr ? "Zarr" : "netCDF");
    char **dopts = NULL;
    int rc = 0;

    if (!drv)
        return err_set(e, ERR_INTERNAL, "GDAL has no %s driver", zarr ? "Zarr" : "netCDF");
    w->srs = OSRNewSpatialReference(NULL);
    if (!w->srs || OSRSetFromUserInput(w->srs, o->grid.crs) != OGRERR_NONE || OSRExportToWkt(w->srs, wkt) != OGRERR_NONE)
        return err_set(e, ERR_USAGE, "cannot use CRS %.100s", o->grid.crs);
    set_axis_mapping(w->srs);
    if (zarr) {
        dopts = CSLSetNameValue(dopts, "FORMAT", "ZARR_V2");
        dopts = CSLSetNameValue(dopts, "CREATE_ZMETADATA", "YES");
    } else {
        dopts = CSLSetNameValue(dopts, "FORMAT", "NC4");
        dopts = CSLSetNameValue(dopts, "CONVENTIONS", "CF-1.8");
    }
    CPLPushErrorHandler(CPLQuietErrorHandler);
    w->ds = GDALCreateMultiDimensional(drv, w->partial, NULL, dopts);
    CPLPopErrorHandler();
    CSLDestroy(dopts);
    if (!w->ds || !(w->root = GDALDatasetGetRootGroup(w->ds)))
        return err_set(e, ERR_IO, "cannot create %s: %s", w->partial, CPLGetLastErrorMsg());
    w->dims[0] = GDALGroupCreateDimension(w->root, "time", "TEMPORAL", NULL, o->ntimes, NULL);
    w->dims[1] = GDALGroupCreateDimension(w->root, "y", "HORIZONTAL_Y", NULL, (GUInt64)o->grid.height, NULL);
    w->dims[2] = GDALGroupCreateDimension(w->root, "x", "HORIZONTAL_X", NULL, (GUInt64)o->grid.width, NULL);
    if (!w->dims[0] || !w->dims[1] || !w->dims[2])
        rc = err_set(e, ERR_IO, "cannot create the dimensions of %s: %s", w->partial, CPLGetLastErrorMsg());
    return rc;
}

/* The time, y and x coordinates (pixel centres, in CRS units) into cv[0..2]
 * (GDALMDArrayRelease each that is not NULL). */
static int write_coords(struct cube_writer *w, GDALMDArrayH cv[3], struct errbuf *e)
{
    const struct cube_out *o = w->o;
    double *xs = malloc((size_t)o->grid.width * sizeof *xs), *ys = malloc((size_t)o->grid.height * sizeof *ys);
    long k;
    int rc = 0;

    if (!xs || !ys) {
        free(xs);
        free(ys);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    for (k = 0; k < o->grid.width; k++)
        xs[k] = o->grid.x0 + ((double)k + 0.5) * o->grid.sx;
    for (k = 0; k < o->grid.height; k++)
        ys[k] = o->grid.y0 + ((double)k + 0.5) * o->grid.sy;
    cv[0] = coord_array(w, "time", w->dims[0], GDT_Int64, o->time_ms, o->ntimes);
    cv[1] = coord_array(w, "y", w->dims[1], GDT_Float64, ys, (size_t)o->grid.height);
    cv[2] = coord_array(w, "x", w->dims[2], GDT_Float64, xs, (size_t)o->grid.width);
    if (!cv[0] || !cv[1] || !cv[2])
        rc = err_set(e, ERR_IO, "cannot write the coordinates of %s: %s", w->partial, CPLGetLastErrorMsg());
    free(xs);
    free(ys);
    return rc;
}

/* The image_id coordinate along time. Zarr: fixed-length unicode ("<U n",
 * numpy's str); netCDF: NC_STRING. */
static int write_image_ids(struct cube_writer *w, int zarr, struct errbuf *e)
{
    const struct cube_out *o = w->o;
    size_t maxlen = 1, i, count = o->ntimes;
    const char **ids = malloc(o->ntimes * sizeof *ids);
    GDALExtendedDataTypeH st;
    GDALMDArrayH iv;
    GUInt64 start = 0;
    char **aopts;
    int rc = 0;

    if (!ids)
        return err_set(e, ERR_NOMEM, "out of memory");
    for (i = 0; i < o->ntimes; i++) {
        ids[i] = o->image_ids[i] ? o->image_ids[i] : "";
        if (strlen(ids[i]) > maxlen)
            maxlen = strlen(ids[i]);
    }
    st = GDALExtendedDataTypeCreateString(zarr ? maxlen : 0);
    aopts = zarr ? CSLSetNameValue(NULL, "STRING_FORMAT", "UNICODE") : NULL;
    iv = GDALGroupCreateMDArray(w->root, "image_id", 1, &w->dims[0], st, aopts);
    CSLDestroy(aopts);
    if (!iv || !GDALMDArrayWrite(iv, &start, &count, NULL, NULL, st, ids, ids, o->ntimes * sizeof *ids) ||
        attr_str(iv, NULL, "long_name", "Earth Engine image ID") < 0)
        rc = err_set(e, ERR_IO, "cannot write the image ids into %s: %s", w->partial, CPLGetLastErrorMsg());
    if (iv)
        GDALMDArrayRelease(iv);
    GDALExtendedDataTypeRelease(st);
    free(ids);
    return rc;
}

/* One variable per band, chunked like the download's tiles, one image per
 * chunk, with nodata, scale, offset, CRS and name set before any write. */
static int create_variables(struct cube_writer *w, int zarr, struct errbuf *e)
{
    const struct cube_out *o = w->o;
    char **aopts = NULL, num[96];
    size_t v;
    int rc = 0;

    w->edt = GDALExtendedDataTypeCreate(pixtype_to_gdal(w->atype));
    snprintf(num, sizeof num, "1,%ld,%ld", o->chunk_h, o->chunk_w);
    aopts = CSLSetNameValue(aopts, "BLOCKSIZE", num);
    if (zarr) {
        /* zstd in blosc with byte shuffle: what numcodecs reads, compact for typed data. */
        aopts = CSLSetNameValue(aopts, "COMPRESS", "BLOSC");
        aopts = CSLSetNameValue(aopts, "BLOSC_CNAME", "zstd");
        aopts = CSLSetNameValue(aopts, "BLOSC_CLEVEL", "5");
        aopts = CSLSetNameValue(aopts, "BLOSC_SHUFFLE", "BYTE");
    } else {
        aopts = CSLSetNameValue(aopts, "COMPRESS", "DEFLATE");
        aopts = CSLSetNameValue(aopts, "ZLEVEL", "4");
    }
    if (!(w->vars = calloc(o->nvars, sizeof *w->vars)))
        rc = err_set(e, ERR_NOMEM, "out of memory");
    for (v = 0; rc == 0 && v < o->nvars; v++) {
        GDALMDArrayH a = GDALGroupCreateMDArray(w->root, o->var_names[v], 3, w->dims, w->edt, aopts);
        int err = 0;
        if (!(w->vars[v] = a)) {
            rc = err_set(e, ERR_IO, "cannot create variable %s in %s: %s", o->var_names[v], w->partial,
                         CPLGetLastErrorMsg());
            break;
        }
        /* Before any write: chunks no piece touches read as it. */
        if (o->has_nodata && !GDALMDArraySetNoDataValueAsDouble(a, o->nodata))
            err = 1;
        /* a NaN scale: this variable states none */
        if (o->scale && !isnan(o->scale[v]) && !GDALMDArraySetScale(a, o->scale[v]))
            err = 1;
        if (o->offset && o->scale && !isnan(o->scale[v]) && !GDALMDArraySetOffset(a, o->offset[v]))
            err = 1;
        /* Zarr: GDAL's own _CRS attribute (how GDAL georeferences a Zarr
         * array); netCDF: the CF grid mapping variable and attribute. */
        if (!GDALMDArraySetSpatialRef(a, w->srs))
            err = 1;
        err |= attr_str(a, NULL, "long_name", o->var_names[v]) < 0;
        if (err)
            rc = err_set(e, ERR_IO, "cannot set the attributes of %s in %s: %s", o->var_names[v], w->partial,
                         CPLGetLastErrorMsg());
    }
    CSLDestroy(aopts);
    return rc;
}

/* The grid mapping and the image ids are coordinates of every variable
 * (xarray keeps them with each variable it selects). */
static int link_coordinates(struct cube_writer *w, int zarr, const char *wkt, struct errbuf *e)
{
    const struct cube_out *o = w->o;
    char coords[300];
    size_t v;
    int rc;

    if ((rc = zarr ? zarr_grid_mapping(w, wkt, e) : netcdf_grid_mapping(w, e)) < 0)
        return rc;
    snprintf(coords, sizeof coords, "%s%s", o->image_ids ? "image_id " : "", w->gm_name);
    for (v = 0; v < o->nvars; v++)
        if ((zarr && attr_str(w->vars[v], NULL, "grid_mapping", w->gm_name) < 0) ||
            attr_str(w->vars[v], NULL, "coordinates", coords) < 0)
            return err_set(e, ERR_IO, "cannot set the attributes of %s in %s: %s", o->var_names[v], w->partial,
                           CPLGetLastErrorMsg());
    return 0;
}

/* The coordinates' CF attributes and the global ones. Last: the netCDF
 * driver writes its own coordinate attributes when a variable gets a CRS,
 * these are the ones meant. */
static int write_attributes(struct cube_writer *w, GDALMDArrayH cv[3], struct errbuf *e)
{
    const struct cube_out *o = w->o;
    GDALMDArrayH tv = cv[0], yv = cv[1], xv = cv[2];
    int geo = OSRIsGeographic(w->srs), err = 0;
    char unit[64];
    size_t i;

    if (geo)
        snprintf(unit, sizeof unit, "degrees_east");
    else
        linear_unit(w->srs, unit, sizeof unit);
    err |= attr_str(xv, NULL, "standard_name", geo ? "longitude" : "projection_x_coordinate");
    err |= attr_str(xv, NULL, "long_name", geo ? "longitude of the pixel centre" : "x coordinate of the pixel centre");
    err |= attr_str(xv, NULL, "units", unit);
    err |= attr_str(xv, NULL, "axis", "X");
    if (geo)
        snprintf(unit, sizeof unit, "degrees_north");
    err |= attr_str(yv, NULL, "standard_name", geo ? "latitude" : "projection_y_coordinate");
    err |= attr_str(yv, NULL, "long_name", geo ? "latitude of the pixel centre" : "y coordinate of the pixel centre");
    err |= attr_str(yv, NULL, "units", unit);
    err |= attr_str(yv, NULL, "axis", "Y");
    /* system:time_start is milliseconds since the epoch, UTC, on the
     * proleptic Gregorian calendar (JavaScript's Date). */
    err |= attr_str(tv, NULL, "standard_name", "time");
    err |= attr_str(tv, NULL, "long_name", "image start time (system:time_start)");
    err |= attr_str(tv, NULL, "units", "milliseconds since 1970-01-01 00:00:00");
    err |= attr_str(tv, NULL, "calendar", "proleptic_gregorian");
    err |= attr_str(tv, NULL, "axis", "T");

    err |= attr_str(NULL, w->root, "Conventions", "CF-1.8");
    for (i = 0; i < o->nmetadata; i++)
        if (strcmp(o->metadata[i].key, "Conventions") != 0)
            err |= attr_str(NULL, w->root, o->metadata[i].key, o->metadata[i].value);
    return err ? err_set(e, ERR_IO, "cannot write the attributes of %s: %s", w->partial, CPLGetLastErrorMsg()) : 0;
}

/* Dimensions, coordinates, variables, grid mapping and attributes, in the
 * order the drivers need them. */
static int writer_create(struct cube_writer *w, struct errbuf *e)
{
    const int zarr = w->o->format == CUBE_ZARR;
    GDALMDArrayH cv[3] = {NULL, NULL, NULL};
    char *wkt = NULL;
    int rc, i;

    if ((rc = open_dataset(w, zarr, &wkt, e)) == 0 && (rc = write_coords(w, cv, e)) == 0 &&
        (!w->o->image_ids || (rc = write_image_ids(w, zarr, e)) == 0) && (rc = create_variables(w, zarr, e)) == 0 &&
        (rc = link_coordinates(w, zarr, wkt, e)) == 0)
        rc = write_attributes(w, cv, e);
    for (i = 0; i < 3; i++)
        if (cv[i])
            GDALMDArrayRelease(cv[i]);
    CPLFree(wkt);
    return rc;
}

/* ---- pixels ---- */

/* A piece overlapping a chunk. Groups (same chunk, same band range: the
 * parts of one tile) are copied together, band by band, so that a chunk is
 * written whole and once in the common case. */
struct entry {
    long chunk;
    size_t piece;
};

static int cmp_entry(const void *a, const void *b, void *arg)
{
    const struct entry *p = a, *q = b;
    const struct mosaic_piece *pieces = arg, *pp = &pieces[p->piece], *qp = &pieces[q->piece];

    if (p->chunk != q->chunk)
        return p->chunk < q->chunk ? -1 : 1;
    if (pp->band0 != qp->band0)
        return pp->band0 < qp->band0 ? -1 : 1;
    if (pp->nbands != qp->nbands)
        return pp->nbands < qp->nbands ? -1 : 1;
    return p->piece < q->piece ? -1 : p->piece > q->piece;
}

static int bit_get(const unsigned char *bits, size_t i)
{
    return (bits[i / 8] >> (i % 8)) & 1;
}

static void bit_set(unsigned char *bits, size_t i)
{
    bits[i / 8] |= (unsigned char)(1u << (i % 8));
}

static int grow_group(struct cube_writer *w, size_t n)
{
    struct mosaic_pbuf *pb;
    unsigned char **conv;
    size_t *cap;

    if (n <= w->npb)
        return 0;
    if (!(pb = realloc(w->pb, n * sizeof *pb)))
        return -1;
    w->pb = pb;
    if (!(conv = realloc(w->conv, n * sizeof *conv)))
        return -1;
    w->conv = conv;
    if (!(cap = realloc(w->convcap, n * sizeof *cap)))
        return -1;
    w->convcap = cap;
    memset(w->pb + w->npb, 0, (n - w->npb) * sizeof *pb);
    memset(w->conv + w->npb, 0, (n - w->npb) * sizeof *conv);
    memset(w->convcap + w->npb, 0, (n - w->npb) * sizeof *cap);
    w->npb = n;
    return 0;
}

static void fill_chunk(struct cube_writer *w, size_t n)
{
    double fill = w->o->has_nodata ? w->o->nodata : 0;
    size_t i;

    mosaic_convert_values(&fill, SPEC_DTYPE_FLOAT64, w->chunk, w->atype, 1);
    for (i = 1; i < n; i++)
        memcpy(w->chunk + i * w->asz, w->chunk, w->asz);
}

/* One chunk of one band (image band / nvars, variable band % nvars) from
 * or to w->chunk. */
static int chunk_io(struct cube_writer *w, size_t band, long cx0, long cy0, long cw, long ch, int write,
                    struct errbuf *e)
{
    const struct cube_out *o = w->o;
    GUInt64 start[3] = {band / o->nvars, (GUInt64)cy0, (GUInt64)cx0};
    size_t count[3] = {1, (size_t)ch, (size_t)cw}, bytes = (size_t)cw * (size_t)ch * w->asz;
    GDALMDArrayH a = w->vars[band % o->nvars];
    int ok = write ? GDALMDArrayWrite(a, start, count, NULL, NULL, w->edt, w->chunk, w->chunk, bytes)
                   : GDALMDArrayRead(a, start, count, NULL, NULL, w->edt, w->chunk, w->chunk, bytes);

    if (!ok)
        return err_set(e, ERR_IO, "cannot %s %s[%zu] %s %s: %s", write ? "write" : "read back",
                       o->var_names[band % o->nvars], band / o->nvars, write ? "into" : "of", w->partial,
                       CPLGetLastErrorMsg());
    return 0;
}

/* int8 cubes are int16 arrays: wider pieces are converted to int16 and
 * clamped to int8's range, as the store would have converted them to int8. */
static int needs_conversion(const struct cube_writer *w, const struct mosaic_piece *p)
{
    return p->type != w->atype || (w->o->dtype == SPEC_DTYPE_INT8 && p->type != SPEC_DTYPE_INT8);
}

static void clamp_int8(int16_t *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        v[i] = v[i] < INT8_MIN ? INT8_MIN : v[i] > INT8_MAX ? INT8_MAX : v[i];
}

/* Copies the pieces of one group into their chunk, band by band. */
static int write_group(struct cube_writer *w, const struct mosaic_piece *pieces, const struct entry *g, size_t n,
                       const char *parts_dir, struct errbuf *e)
{
    const struct cube_out *o = w->o;
    const struct mosaic_piece *p0 = &pieces[g[0].piece];
    long c = g[0].chunk, cx0 = (c % w->ncx) * o->chunk_w, cy0 = (c / w->ncx) * o->chunk_h;
    long cw = o->grid.width - cx0 < o->chunk_w ? o->grid.width - cx0 : o->chunk_w;
    long ch = o->grid.height - cy0 < o->chunk_h ? o->grid.height - cy0 : o->chunk_h;
    size_t nchunks = (size_t)w->ncx * (size_t)w->ncy, i, covered = 0;
    int b, rc;

    if (grow_group(w, n) < 0)
        return err_set(e, ERR_NOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        const struct mosaic_piece *p = &pieces[g[i].piece];
        size_t nv = (size_t)p->width * (size_t)p->height * (size_t)p->nbands;
        long ix0 = p->col > cx0 ? p->col : cx0, iy0 = p->row > cy0 ? p->row : cy0;
        long ix1 = p->col + p->width < cx0 + cw ? p->col + p->width : cx0 + cw;
        long iy1 = p->row + p->height < cy0 + ch ? p->row + p->height : cy0 + ch;
        if ((rc = mosaic_piece_verify(parts_dir, p, &w->pb[i], e)) < 0)
            return rc;
        covered += (size_t)(ix1 - ix0) * (size_t)(iy1 - iy0);
        if (needs_conversion(w, p)) {
            if (nv * w->asz > w->convcap[i]) {
                unsigned char *nc = realloc(w->conv[i], nv * w->asz);
                if (!nc)
                    return err_set(e, ERR_NOMEM, "out of memory");
                w->conv[i] = nc;
                w->convcap[i] = nv * w->asz;
            }
            mosaic_convert_values(mosaic_pbuf_pixels(&w->pb[i]), p->type, w->conv[i], w->atype, nv);
            if (o->dtype == SPEC_DTYPE_INT8)
                clamp_int8((int16_t *)w->conv[i], nv);
        }
    }
    for (b = p0->band0; b < p0->band0 + p0->nbands; b++) {
        size_t bit = (size_t)b * nchunks + (size_t)c;
        int seen = bit_get(w->written, bit);
        /* A chunk another group wrote already (pieces that do not follow
         * the chunk grid) is completed, not replaced. */
        if (seen && (rc = chunk_io(w, (size_t)b, cx0, cy0, cw, ch, 0, e)) < 0)
            return rc;
        if (!seen && covered < (size_t)cw * (size_t)ch)
            fill_chunk(w, (size_t)cw * (size_t)ch);
        for (i = 0; i < n; i++) {
            const struct mosaic_piece *p = &pieces[g[i].piece];
            const unsigned char *px = needs_conversion(w, p) ? w->conv[i] : mosaic_pbuf_pixels(&w->pb[i]);
            int il = mosaic_pbuf_interleaved(&w->pb[i]), pb = b - p->band0;
            long ix0 = p->col > cx0 ? p->col : cx0, iy0 = p->row > cy0 ? p->row : cy0;
            long ix1 = p->col + p->width < cx0 + cw ? p->col + p->width : cx0 + cw;
            long iy1 = p->row + p->height < cy0 + ch ? p->row + p->height : cy0 + ch;
            long y, x;
            for (y = iy0; y < iy1; y++) {
                unsigned char *dst = w->chunk + ((size_t)(y - cy0) * (size_t)cw + (size_t)(ix0 - cx0)) * w->asz;
                size_t pix = (size_t)(y - p->row) * (size_t)p->width + (size_t)(ix0 - p->col);
                if (!il) {
                    const unsigned char *src =
                        px + ((size_t)pb * (size_t)p->width * (size_t)p->height + pix) * w->asz;
                    memcpy(dst, src, (size_t)(ix1 - ix0) * w->asz);
                } else {
                    for (x = 0; x < ix1 - ix0; x++)
                        memcpy(dst + (size_t)x * w->asz,
                               px + ((pix + (size_t)x) * (size_t)p->nbands + (size_t)pb) * w->asz, w->asz);
                }
            }
        }
        if ((rc = chunk_io(w, (size_t)b, cx0, cy0, cw, ch, 1, e)) < 0)
            return rc;
        bit_set(w->written, bit);
    }
    return 0;
}

static int write_pixels(struct cube_writer *w, const char *parts_dir, const struct mosaic_piece *pieces,
                        size_t npieces, struct errbuf *e)
{
    const struct cube_out *o = w->o;
    size_t nbt = o->ntimes * o->nvars, nchunks, nent = 0, i, j, b;
    struct entry *ent = NULL;
    long cx, cy;
    int rc = 0;

    w->ncx = (o->grid.width + o->chunk_w - 1) / o->chunk_w;
    w->ncy = (o->grid.height + o->chunk_h - 1) / o->chunk_h;
    nchunks = (size_t)w->ncx * (size_t)w->ncy;
    /* One bit per chunk of every band: up to 1 GiB for 2^33 chunks (a
     * thousand images of ten bands over a million tiles). */
    if (nbt > ((size_t)1 << 33) / nchunks)
        return err_set(e, ERR_LIMIT, "a cube of %zu images x %zu bands in %zu chunks each is more than eefetch "
                       "writes (2^33 chunks): split the collection or use larger tiles", o->ntimes, o->nvars,
                       nchunks);
    for (i = 0; i < npieces; i++) {
        const struct mosaic_piece *p = &pieces[i];
        if (p->col < 0 || p->row < 0 || p->width <= 0 || p->height <= 0 || p->col + p->width > o->grid.width ||
            p->row + p->height > o->grid.height || p->band0 < 0 || p->nbands <= 0 ||
            (size_t)p->band0 + (size_t)p->nbands > nbt || p->type == SPEC_DTYPE_AUTO)
            return err_set(e, ERR_INTERNAL, "tile %zu lies outside the cube", p->tile_id);
        nent += (size_t)((p->col + p->width - 1) / o->chunk_w - p->col / o->chunk_w + 1) *
                (size_t)((p->row + p->height - 1) / o->chunk_h - p->row / o->chunk_h + 1);
    }
    if (!(w->written = calloc((nbt * nchunks + 7) / 8, 1)) ||
        !(w->chunk = malloc((size_t)o->chunk_w * (size_t)o->chunk_h * w->asz)) ||
        !(ent = malloc((nent ? nent : 1) * sizeof *ent))) {
        rc = err_set(e, ERR_NOMEM, "out of memory for a cube of %zu bands of %zu chunks", nbt, nchunks);
        goto done;
    }
    nent = 0;
    for (i = 0; i < npieces; i++) {
        const struct mosaic_piece *p = &pieces[i];
        for (cy = p->row / o->chunk_h; cy <= (p->row + p->height - 1) / o->chunk_h; cy++)
            for (cx = p->col / o->chunk_w; cx <= (p->col + p->width - 1) / o->chunk_w; cx++) {
                ent[nent].chunk = cy * w->ncx + cx;
                ent[nent++].piece = i;
            }
    }
    qsort_r(ent, nent, sizeof *ent, cmp_entry, (void *)pieces);
    for (i = 0; i < nent; i = j) {
        const struct mosaic_piece *p = &pieces[ent[i].piece];
        for (j = i + 1; j < nent && ent[j].chunk == ent[i].chunk && pieces[ent[j].piece].band0 == p->band0 &&
                        pieces[ent[j].piece].nbands == p->nbands;
             j++)
            ;
        if ((rc = write_group(w, pieces, ent + i, j - i, parts_dir, e)) < 0)
            goto done;
    }
    /* Without nodata, chunks no piece touched are written as 0: neither
     * format would read them as 0 otherwise (Zarr without a fill_value
     * reads as uninitialised memory in zarr-python, netCDF as its default
     * fill value). With nodata the fill value says it. */
    if (!o->has_nodata)
        for (b = 0; b < nbt; b++)
            for (j = 0; j < nchunks; j++)
                if (!bit_get(w->written, b * nchunks + j)) {
                    long c = (long)j, cx0 = (c % w->ncx) * o->chunk_w, cy0 = (c / w->ncx) * o->chunk_h;
                    long cw = o->grid.width - cx0 < o->chunk_w ? o->grid.width - cx0 : o->chunk_w;
                    long ch = o->grid.height - cy0 < o->chunk_h ? o->grid.height - cy0 : o->chunk_h;
                    fill_chunk(w, (size_t)cw * (size_t)ch);
                    if ((rc = chunk_io(w, b, cx0, cy0, cw, ch, 1, e)) < 0)
                        goto done;
                }
done:
    free(ent);
    return rc;
}

/* ---- finishing ---- */

/* One UTF-8 character at s (n bytes left): its length, and its code point
 * in *cp (U+FFFD for a malformed sequence, which then counts one byte). */
static size_t utf8_next(const unsigned char *s, size_t n, unsigned long *cp)
{
    size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0, i;
    unsigned long c;

    if (len == 0 || s[0] >= 0xF8 || len > n) {
        *cp = 0xFFFD;
        return 1;
    }
    c = s[0] & (0x7Fu >> len);
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    *cp = c > 0x10FFFF ? 0xFFFD : c;
    return len;
}

/* Writes obj to path as ASCII-only JSON: every other character as a \u
 * escape (a surrogate pair above U+FFFF). zarr-python 2.13 (Debian 12's)
 * reads .zmetadata as ASCII, and GDAL writes UTF-8 as is: the "°" in the
 * _CRS attribute's WKT2 of every UTM zone, or any non-ASCII metadata value,
 * would make xarray fail to open the store. Outside strings JSON is ASCII,
 * so escaping every non-ASCII byte sequence is exact. */
static int write_json_ascii(const char *path, json_object *obj)
{
    const unsigned char *s =
        (const unsigned char *)json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    char tmp[4400];
    size_t n = strlen((const char *)s), i = 0;
    FILE *f;
    int rc = 0;

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(f = fopen(tmp, "w")))
        return -1;
    while (i < n) {
        unsigned long cp;
        if (s[i] < 0x80) {
            fputc(s[i++], f);
            continue;
        }
        i += utf8_next(s + i, n - i, &cp);
        if (cp > 0xFFFF)
            fprintf(f, "\\u%04lx\\u%04lx", 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF));
        else
            fprintf(f, "\\u%04lx", cp);
    }
    if (fclose(f) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc < 0)
        unlink(tmp);
    return rc;
}

/* The scalar grid-mapping variable needs xarray's "_ARRAY_DIMENSIONS": []
 * (GDAL 3.6 writes the key only for arrays with dimensions, and xarray
 * refuses a store with an array without it). */
static void add_empty_dims(json_object *attrs)
{
    if (attrs && json_object_is_type(attrs, json_type_object) &&
        !json_object_object_get_ex(attrs, "_ARRAY_DIMENSIONS", NULL))
        json_object_object_add(attrs, "_ARRAY_DIMENSIONS", json_object_new_array());
}

static int fix_json_file(const char *path, const char *gm_key, int is_gm, struct errbuf *e)
{
    json_object *obj, *md, *gm;
    int rc = 0;

    if (access(path, F_OK) != 0)
        return 0;
    if (!(obj = json_object_from_file(path)))
        return err_set(e, ERR_IO, "cannot read back %s (GDAL's Zarr metadata)", path);
    if (gm_key && json_object_object_get_ex(obj, "metadata", &md) && json_object_object_get_ex(md, gm_key, &gm))
        add_empty_dims(gm);
    if (is_gm)
        add_empty_dims(obj);
    if (write_json_ascii(path, obj) < 0)
        rc = err_set(e, ERR_IO, "cannot rewrite %s: %s", path, strerror(errno));
    json_object_put(obj);
    return rc;
}

/* The Zarr store's metadata files made readable by xarray and zarr-python
 * 2.13: the consolidated .zmetadata and every .zattrs (root and arrays). */
static int zarr_fix_metadata(struct cube_writer *w, struct errbuf *e)
{
    char path[4600], key[300];
    DIR *d;
    struct dirent *de;
    int rc;

    snprintf(key, sizeof key, "%s/.zattrs", w->gm_name);
    snprintf(path, sizeof path, "%s/.zmetadata", w->partial);
    if ((rc = fix_json_file(path, key, 0, e)) < 0)
        return rc;
    snprintf(path, sizeof path, "%s/.zattrs", w->partial);
    if ((rc = fix_json_file(path, NULL, 0, e)) < 0)
        return rc;
    if (!(d = opendir(w->partial)))
        return err_set(e, ERR_IO, "cannot list %s: %s", w->partial, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s/.zattrs", w->partial, de->d_name);
        if ((rc = fix_json_file(path, NULL, strcmp(de->d_name, w->gm_name) == 0, e)) < 0)
            break;
    }
    closedir(d);
    return rc;
}

/* Makes the partial durable: a Zarr store is many files, synced with one
 * syncfs of their file system instead of an fsync each. */
static int sync_partial(const struct cube_writer *w, struct errbuf *e)
{
    int fd, rc = 0;

    if (w->o->format == CUBE_NETCDF)
        return mosaic_fsync_path(w->partial, 0) == 0 ? 0
                                                       : err_set(e, ERR_IO, "cannot sync %s: %s", w->partial,
                                                                 strerror(errno));
    if ((fd = open(w->partial, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return err_set(e, ERR_IO, "cannot open %s: %s", w->partial, strerror(errno));
    if (syncfs(fd) != 0 || fsync(fd) != 0)
        rc = err_set(e, ERR_IO, "cannot sync %s: %s", w->partial, strerror(errno));
    close(fd);
    return rc;
}

/* Renames the complete partial to the final path. A cube there already is
 * swapped out in one step (renameat2 RENAME_EXCHANGE: a directory cannot be
 * renamed over a non-empty one) and then removed; where the file system
 * cannot swap, it is moved aside first. */
static int publish(const struct cube_writer *w, struct errbuf *e)
{
    const char *path = w->o->path;
    char aside[4300];
    struct stat st;

    if (lstat(path, &st) != 0) {
        if (rename(w->partial, path) != 0)
            return err_set(e, ERR_IO, "cannot rename %s to %s: %s", w->partial, path, strerror(errno));
    } else if (renameat2(AT_FDCWD, w->partial, AT_FDCWD, path, RENAME_EXCHANGE) == 0) {
        /* The previous cube is now at the partial's name. The new one is in
         * place: what cannot be removed now, the next run removes. */
        if (mosaic_fsync_path(w->dir, 1) != 0)
            return err_set(e, ERR_IO, "cannot sync %s: %s", w->dir, strerror(errno));
        remove_tree(w->partial);
    } else {
        snprintf(aside, sizeof aside, "%s.previous", w->partial);
        if (remove_tree(aside) != 0 || rename(path, aside) != 0 || rename(w->partial, path) != 0)
            return err_set(e, ERR_IO, "cannot replace %s: %s", path, strerror(errno));
        remove_tree(aside);
    }
    if (mosaic_fsync_path(w->dir, 1) != 0)
        return err_set(e, ERR_IO, "cannot sync %s: %s", w->dir, strerror(errno));
    return 0;
}

static int check_out(const struct cube_out *o, struct errbuf *e)
{
    size_t v, u;

    if (!o->path || !*o->path || o->ntimes == 0 || o->nvars == 0 || !o->time_ms || !o->var_names ||
        o->dtype == SPEC_DTYPE_AUTO || o->grid.width <= 0 || o->grid.height <= 0 || o->chunk_w <= 0 ||
        o->chunk_h <= 0)
        return err_set(e, ERR_INTERNAL, "nothing to assemble into a cube");
    if (strlen(o->path) > 4000)
        return err_set(e, ERR_LIMIT, "output path is too long");
    for (v = 0; v < o->nvars; v++) {
        const char *n = o->var_names[v];
        if (!n || !*n || strchr(n, '/') || n[0] == '.')
            return err_set(e, ERR_USAGE, "band %zu: \"%s\" cannot name a cube variable (empty, starts with '.' or "
                           "holds '/'): rename the band", v, n ? n : "");
        if (cube_reserved_name(n))
            return err_set(e, ERR_USAGE, "band %zu: \"%s\" is the name of one of the cube's coordinates (time, x, "
                           "y, image_id, spatial_ref): rename the band", v, n);
        for (u = 0; u < v; u++)
            if (strcmp(o->var_names[u], n) == 0)
                return err_set(e, ERR_USAGE, "bands %zu and %zu are both named \"%s\": a cube needs distinct band "
                               "names", u, v, n);
    }
    return 0;
}

int cube_assemble(const struct cube_out *o, const char *parts_dir, const struct mosaic_piece *pieces,
                  size_t npieces, struct errbuf *e)
{
    struct cube_out oo;
    struct cube_writer w;
    struct stat st;
    int rc;

    if ((rc = check_out(o, e)) < 0)
        return rc;
    /* A chunk larger than the grid only wastes memory in every reader. */
    oo = *o;
    if (oo.chunk_w > oo.grid.width)
        oo.chunk_w = oo.grid.width;
    if (oo.chunk_h > oo.grid.height)
        oo.chunk_h = oo.grid.height;
    memset(&w, 0, sizeof w);
    w.o = &oo;
    w.atype = oo.dtype == SPEC_DTYPE_INT8 ? SPEC_DTYPE_INT16 : oo.dtype;   /* GDAL 3.6 has no Int8 */
    w.asz = spec_dtype_size(w.atype);
    snprintf(w.partial, sizeof w.partial, "%s.partial", oo.path);
    (void)path_dir(oo.path, w.dir, sizeof w.dir);
    /* Replacing a directory means removing it: only an eefetch cube's. */
    if (lstat(oo.path, &st) == 0 && S_ISDIR(st.st_mode) && cube_existing(oo.path, "") == MOSAIC_FOREIGN)
        return err_set(e, ERR_IO, "%s is a directory that is not an eefetch cube: move it away or choose another "
                       "output", oo.path);
    if ((rc = clear_partial(w.partial, e)) < 0)
        return rc;
    /* GDAL's messages reach the caller through e, not stderr. */
    CPLPushErrorHandler(CPLQuietErrorHandler);
    if ((rc = writer_create(&w, e)) < 0 || (rc = write_pixels(&w, parts_dir, pieces, npieces, e)) < 0)
        goto done;
    if (writer_finish_gdal(&w) < 0) {
        rc = err_set(e, ERR_IO, "cannot finish %s: %s", w.partial, CPLGetLastErrorMsg());
        goto done;
    }
    if (oo.format == CUBE_ZARR && (rc = zarr_fix_metadata(&w, e)) < 0)
        goto done;
    if ((rc = sync_partial(&w, e)) < 0)
        goto done;
    rc = publish(&w, e);
done:
    writer_free(&w);
    CPLPopErrorHandler();
    if (rc < 0)
        remove_tree(w.partial);
    return rc;
}

enum mosaic_existing cube_existing(const char *path, const char *plan_hash)
{
    struct stat st;
    GDALDatasetH ds;
    GDALGroupH root = NULL;
    GDALAttributeH at = NULL;
    const char *tag = NULL;
    enum mosaic_existing r;

    if (lstat(path, &st) != 0)
        return MOSAIC_ABSENT;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    ds = GDALOpenEx(path, GDAL_OF_MULTIDIM_RASTER | GDAL_OF_READONLY, NULL, NULL, NULL);
    if (ds && (root = GDALDatasetGetRootGroup(ds)) != NULL && (at = GDALGroupGetAttribute(root, MOSAIC_PLAN_TAG)))
        tag = GDALAttributeReadAsString(at);
    r = !tag ? MOSAIC_FOREIGN : plan_hash && strcmp(tag, plan_hash) == 0 ? MOSAIC_SAME_PLAN : MOSAIC_OTHER_PLAN;
    if (at)
        GDALAttributeRelease(at);
    if (root)
        GDALGroupRelease(root);
    if (ds)
        GDALClose(ds);
    CPLPopErrorHandler();
    return r;
}
