"""Checks a COG written by test_cogwrite.c against an independent computation.

usage: check_cog.py FILE NAME WIDTH HEIGHT TW TH NBANDS DTYPE HAS_NODATA NODATA MASK RGB SKIP

The pieces were TW x TH windows of the grid in row-major order, piece i left
out when SKIP and i % SKIP == 1; data band b at (x, y) holds value() below,
the mask band (MASK) valid() below. Checks: GDAL reads LAYOUT=COG and the
file passes GDAL's COG validator; georeferencing, band names, metadata,
nodata, colour interpretation and mask flags; full resolution equal to the
pieces (the fill where a piece was left out); the overview count and sizes
of GDAL's COG driver (halved, rounded down, until one block holds a level); every overview level, and its mask, equal to the mean
of the valid pixels of each 2x2 of the level above (read from the file),
rounded half away from zero for integers.
"""
import math
import sys

import numpy as np
from osgeo import gdal

gdal.UseExceptions()

TYPES = {1: np.uint8, 2: np.int8, 3: np.uint16, 4: np.int16, 5: np.uint32, 6: np.int32,
         7: np.float32, 8: np.float64}


def value(dtype, has_nd, nd, b, x, y):
    v = ((x * 3 + y * 5 + b * 1000) % 30000).astype(np.float64)
    if dtype == np.uint8:
        v = np.fmod(v, 251)
    elif dtype == np.int8:
        v = np.fmod(v, 200) - 100
    elif dtype == np.int16:
        v = v - 15000
    elif dtype in (np.float32, np.float64):
        v = v / 7.0 - 1000
    if has_nd:
        v = np.where((x * 7 + y * 13) % 17 == 0, nd, v)
    return v


def reduce_level(vals, valid, dtype, has_nd, nd):
    """Level k+1 from level k: vals (bands, h, w) float64, valid the same shape."""
    nb, h, w = vals.shape
    # GDAL's sizes: rounded down (an odd last row or column is left out), at least 1.
    h2, w2 = max(h // 2, 1), max(w // 2, 1)
    pv = np.zeros((nb, 2 * h2, 2 * w2))
    pm = np.zeros((nb, 2 * h2, 2 * w2), dtype=bool)
    hh, ww = min(h, 2 * h2), min(w, 2 * w2)
    pv[:, :hh, :ww] = np.where(valid, vals, 0)[:, :hh, :ww]
    pm[:, :hh, :ww] = valid[:, :hh, :ww]
    s = pv.reshape(nb, h2, 2, w2, 2).sum(axis=(2, 4))
    c = pm.reshape(nb, h2, 2, w2, 2).sum(axis=(2, 4))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / c
    if np.issubdtype(dtype, np.integer):
        mean = np.where(mean >= 0, np.floor(mean + 0.5), np.ceil(mean - 0.5))
        info = np.iinfo(dtype)
        mean = np.clip(mean, info.min, info.max)
    none = nd if has_nd else (math.nan if not np.issubdtype(dtype, np.integer) else 0)
    mean = np.where(c > 0, mean, none)
    return mean.astype(dtype).astype(np.float64), (c > 0).any(axis=0)


def validity(vals, mask, has_nd, nd):
    v = ~np.isnan(vals)
    if mask is not None:
        return v & (mask != 0)[None, :, :]
    if has_nd and not math.isnan(nd):
        v &= vals != nd
    return v


def same(a, b, dtype):
    if np.issubdtype(dtype, np.integer):
        return np.array_equal(a, b)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    return np.allclose(a, b, rtol=rtol, atol=0, equal_nan=True)


def main(argv):
    path, name = argv[1], argv[2]
    width, height, tw, th, nbands, dt = (int(v) for v in argv[3:9])
    has_nd, nd, mask, rgb, skip = int(argv[9]), float(argv[10]), int(argv[11]), int(argv[12]), int(argv[13])
    dtype = TYPES[dt]
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)

    from osgeo_utils.samples import validate_cloud_optimized_geotiff as vcog
    warnings, errors, _ = vcog.validate(path, full_check=True)
    check(not errors, "COG validator: %s" % errors)
    check(not warnings, "COG validator warnings: %s" % warnings)

    ds = gdal.Open(path)
    check(ds.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG", "LAYOUT is not COG")
    check(ds.RasterXSize == width and ds.RasterYSize == height and ds.RasterCount == nbands, "size or bands")
    check(ds.GetGeoTransform() == (500000, 30, 0, 4200000, 0, -30), "geotransform %s" % (ds.GetGeoTransform(),))
    check("32610" in ds.GetProjection() or "UTM zone 10N" in ds.GetProjection(), "CRS")
    check(ds.GetMetadataItem("EEFETCH_RECIPE") == "cog.lua", "dataset metadata")
    check(ds.GetRasterBand(1).GetDescription() == "alpha", "band description")
    check(gdal.GetDataTypeName(ds.GetRasterBand(1).DataType) ==
          {np.int8: "Byte"}.get(dtype, gdal.GetDataTypeName(gdal.GetDataTypeByName(
              {np.uint8: "Byte", np.uint16: "UInt16", np.int16: "Int16", np.uint32: "UInt32", np.int32: "Int32",
               np.float32: "Float32", np.float64: "Float64"}.get(dtype, "Byte")))), "data type")
    if dtype == np.int8:
        check(ds.GetRasterBand(1).GetMetadataItem("PIXELTYPE", "IMAGE_STRUCTURE") == "SIGNEDBYTE", "int8")
    nd_read = ds.GetRasterBand(1).GetNoDataValue()
    if has_nd:
        check(nd_read is not None and (nd_read == nd or (math.isnan(nd) and math.isnan(nd_read))), "nodata")
    else:
        check(nd_read is None, "no nodata expected")
    if rgb:
        check([ds.GetRasterBand(b + 1).GetColorInterpretation() for b in range(3)] ==
              [gdal.GCI_RedBand, gdal.GCI_GreenBand, gdal.GCI_BlueBand], "RGB colour interpretation")
    if mask:
        check(ds.GetRasterBand(1).GetMaskFlags() == gdal.GMF_PER_DATASET, "mask flags")

    # Full resolution: the pieces, and the fill where one was left out.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.int64)
    nx = (width + tw - 1) // tw
    piece = (yy // th) * nx + (xx // tw)
    left_out = (piece % skip == 1) if skip else np.zeros_like(piece, dtype=bool)
    fill = nd if has_nd else 0
    level = np.stack([ds.GetRasterBand(b + 1).ReadAsArray().astype(np.float64) for b in range(nbands)])
    want = np.stack([value(dtype, has_nd, nd, b, xx, yy) for b in range(nbands)])
    want = np.where(left_out[None], fill, want).astype(dtype).astype(np.float64)
    check(same(level, want, dtype), "full resolution differs from the pieces")
    lmask = None
    if mask:
        lmask = ds.GetRasterBand(1).GetMaskBand().ReadAsArray()
        wmask = np.where(left_out, 0, np.where((xx // 7 + yy // 5) % 3 != 0, 255, 0))
        check(np.array_equal(lmask, wmask), "full-resolution mask")

    # Overview levels as GDAL's COG driver chooses them.
    sizes, w, h = [], width, height
    while w > 256 or h > 256:
        w, h = max(w // 2, 1), max(h // 2, 1)
        sizes.append((w, h))
    band1 = ds.GetRasterBand(1)
    check(band1.GetOverviewCount() == len(sizes), "overview count %d, want %d" % (band1.GetOverviewCount(),
                                                                               len(sizes)))
    for k, (w, h) in enumerate(sizes[:band1.GetOverviewCount()]):
        ovs = [ds.GetRasterBand(b + 1).GetOverview(k) for b in range(nbands)]
        check((ovs[0].XSize, ovs[0].YSize) == (w, h), "overview %d size" % (k + 1))
        got = np.stack([o.ReadAsArray().astype(np.float64) for o in ovs])
        exp, exp_mask = reduce_level(level, validity(level, lmask, has_nd, nd), dtype, has_nd, nd)
        if got.shape != exp.shape or not same(got, exp, dtype):
            bad = np.argwhere(~np.isclose(got, exp, equal_nan=True)) if got.shape == exp.shape else []
            check(False, "overview %d differs at %d pixels, first %s: got %s want %s" % (
                k + 1, len(bad), bad[0] if len(bad) else None, got[tuple(bad[0])] if len(bad) else None,
                exp[tuple(bad[0])] if len(bad) else None))
        if mask:
            om = ovs[0].GetMaskBand().ReadAsArray()
            check(np.array_equal(om, np.where(exp_mask, 255, 0)), "overview %d mask" % (k + 1))
            lmask = om
        level = got

    for f in failures:
        print("%s: %s" % (name, f), file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
