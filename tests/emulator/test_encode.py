"""Encoders (NPY, GeoTIFF, PNG) read back with numpy and osgeo.gdal.

The C side is test_catalog in its tool modes: "encode" writes a native window
of catalog bands (checked against reference.py), "special" writes a 4x4
raster of edge values (rounding, clamping, NaN, a masked pixel) whose
expected results are spelled out here from the documented conversion rule.
"""

import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from osgeo import gdal, osr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

gdal.UseExceptions()
FAILS = []

SPECIAL = [0, 1.5, 2.5, -2.5, -0.4, 254.5, 255.6, -129, 70000.2, -1e12, 1e12, float("nan"),
           12345.678, -7.5, 3.49999, 100]
RANGES = {"uint8": (0, 255), "int8": (-128, 127), "uint16": (0, 65535),
          "int16": (-32768, 32767), "uint32": (0, 4294967295),
          "int32": (-2147483648, 2147483647)}
S2_IMG = "COPERNICUS/S2_SR_HARMONIZED/20230209T183751_20230209T183750_T10SEG"


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL:", msg)


def tool():
    if os.environ.get("CATALOG_TOOL"):
        return os.environ["CATALOG_TOOL"]
    return os.path.join(os.environ.get("EEFETCH_BUILD", "build"), "tests", "emulator_test_catalog")


def run(*args):
    return subprocess.run([tool()] + [str(a) for a in args], capture_output=True, text=True)


def expected(v, t, masked):
    """The documented conversion: masked/NaN -> 0, clamp, round half away from zero."""
    if masked or math.isnan(v):
        return 0
    if t == "float32":
        return float(np.float32(min(max(v, -3.4028234663852886e38), 3.4028234663852886e38)))
    if t == "float64":
        return v
    lo, hi = RANGES[t]
    v = min(max(v, lo), hi)
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def check_npy_special(tmp):
    path = os.path.join(tmp, "special.npy")
    r = run("special", "npy", path)
    check(r.returncode == 0, "special npy: %s" % r.stderr)
    raw = open(path, "rb").read()
    check(raw[:8] == b"\x93NUMPY\x01\x00", "NPY v1.0 magic")
    hlen = raw[8] | raw[9] << 8
    check((10 + hlen) % 64 == 0, "NPY header padded to 64 bytes")
    check(raw[10 + hlen - 1:10 + hlen] == b"\n", "NPY header ends in newline")
    header = raw[10:10 + hlen].decode("ascii")
    check("'fortran_order': False" in header and "'shape': (4, 4)" in header, "NPY header dict")
    a = np.load(path)
    types = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"]
    check(a.shape == (4, 4), "NPY shape")
    check(list(a.dtype.names) == ["%s_%d" % (t.replace("float32", "float").replace("float64", "double"), i)
                                  for i, t in enumerate(types)], "NPY field names %s" % (a.dtype.names,))
    for i, t in enumerate(types):
        name = a.dtype.names[i]
        check(a.dtype[name] == np.dtype(t).newbyteorder("<"), "NPY dtype of %s" % name)
        got = a[name].ravel().tolist()
        want = [expected(v, t, k == 15) for k, v in enumerate(SPECIAL)]
        check(got == want, "NPY %s values %s, want %s" % (t, got, want))


def check_npy_window(tmp):
    path = os.path.join(tmp, "win.npy")
    bands = ["B2", "B3", "B4", "B8"]
    r = run("encode", "npy", path, S2_IMG, -7, 10970, 40, 30, *bands)
    check(r.returncode == 0, "encode npy window: %s" % r.stderr)
    a = np.load(path)
    check(a.shape == (30, 40) and list(a.dtype.names) == bands, "window NPY layout")
    for b in bands:
        v, m = ref.native_pixels(S2_IMG, b, -7, 10970, 40, 30)
        check(np.array_equal(a[b].astype(np.float64), np.where(m, v, 0)), "NPY window %s" % b)
    # Mixed types in one record: uint16 + uint8 on the 20 m grid.
    r = run("encode", "npy", path, S2_IMG, 100, 200, 64, 16, "B5", "SCL")
    a = np.load(path)
    check(a.dtype["B5"] == np.dtype("<u2") and a.dtype["SCL"] == np.dtype("u1"), "mixed dtypes")
    check(a.dtype.itemsize == 3, "record size is the sum of band sizes")
    for b in ("B5", "SCL"):
        v, m = ref.native_pixels(S2_IMG, b, 100, 200, 64, 16)
        check(np.array_equal(a[b].astype(np.float64), v), "mixed NPY %s" % b)


def check_geotiff(tmp):
    path = os.path.join(tmp, "win.tif")
    r = run("encode", "tif", path, S2_IMG, 300, 400, 50, 20, "B5", "SCL")
    check(r.returncode == 0, "encode tif: %s" % r.stderr)
    ds = gdal.Open(path)
    check(ds.RasterXSize == 50 and ds.RasterYSize == 20 and ds.RasterCount == 2, "tif size")
    gt = ds.GetGeoTransform()
    check(gt == (499960 + 300 * 20, 20, 0, 4200000 - 400 * 20, 0, -20), "tif geotransform %s" % (gt,))
    srs = osr.SpatialReference(wkt=ds.GetProjection())
    check(srs.GetAuthorityCode(None) == "32610", "tif CRS")
    for i, b in enumerate(("B5", "SCL")):
        band = ds.GetRasterBand(i + 1)
        check(band.DataType == gdal.GDT_UInt16, "mixed u16+u8 promoted to uint16")
        check(band.GetDescription() == b, "band description %s" % b)
        v, _ = ref.native_pixels(S2_IMG, b, 300, 400, 50, 20)
        check(np.array_equal(band.ReadAsArray().astype(np.float64), v), "tif values %s" % b)
    ds = None
    # SRTM: int16, lon/lat, window crossing the west edge (masked -> 0).
    r = run("encode", "tif", path, ref.SRTM, -3, 1000, 20, 5, "elevation")
    ds = gdal.Open(path)
    band = ds.GetRasterBand(1)
    check(band.DataType == gdal.GDT_Int16, "SRTM tif is int16")
    gt = ds.GetGeoTransform()
    check(abs(gt[0] - (-180 - 0.5 / 3600 - 3 / 3600)) < 1e-12 and abs(gt[1] - 1 / 3600) < 1e-15,
          "SRTM geotransform %s" % (gt,))
    check(osr.SpatialReference(wkt=ds.GetProjection()).GetAuthorityCode(None) == "4326", "SRTM CRS")
    v, m = ref.native_pixels(ref.SRTM, "elevation", -3, 1000, 20, 5)
    check(np.array_equal(band.ReadAsArray().astype(np.float64), np.where(m, v, 0)), "SRTM tif values")
    ds = None
    # Promotion rules on the special raster.
    for fmt, want, types in (("tif", gdal.GDT_UInt16, ("uint16", "uint8")),
                             ("tif-f", gdal.GDT_Float32, ("uint8", "float32")),
                             ("tif-i", gdal.GDT_Int32, ("int8", "uint16"))):
        p = os.path.join(tmp, fmt + ".tif")
        r = run("special", fmt, p)
        check(r.returncode == 0, "special %s: %s" % (fmt, r.stderr))
        ds = gdal.Open(p)
        for i in range(2):
            band = ds.GetRasterBand(i + 1)
            check(band.DataType == want, "%s band %d type %s" % (fmt, i, gdal.GetDataTypeName(band.DataType)))
            common = {gdal.GDT_UInt16: "uint16", gdal.GDT_Float32: "float32", gdal.GDT_Int32: "int32"}[want]
            got = band.ReadAsArray().ravel().tolist()
            want_vals = [expected(v, common, k == 15) for k, v in enumerate(SPECIAL)]
            check(got == want_vals, "%s band %d values %s want %s" % (fmt, i, got, want_vals))
        check(ds.GetGeoTransform() == (300000, 20, 0, 5400000, 0, -20), "special geotransform")
        ds = None


def check_png(tmp):
    path = os.path.join(tmp, "s.png")
    r = run("special", "png", path)
    check(r.returncode == 0, "special png: %s" % r.stderr)
    ds = gdal.Open(path)
    check(ds.RasterCount == 4, "PNG with a masked pixel has an alpha band")
    want = [expected(v, "uint8", k == 15) for k, v in enumerate(SPECIAL)]
    for i in range(3):
        check(ds.GetRasterBand(i + 1).ReadAsArray().ravel().tolist() == want, "PNG band %d" % i)
    alpha = ds.GetRasterBand(4).ReadAsArray().ravel().tolist()
    check(alpha == [255] * 15 + [0], "PNG alpha from the mask")
    ds = None
    r = run("encode", "png", path, S2_IMG, 0, 0, 30, 10, "SCL")
    check(r.returncode == 0, "SCL png: %s" % r.stderr)
    ds = gdal.Open(path)
    v, _ = ref.native_pixels(S2_IMG, "SCL", 0, 0, 30, 10)
    check(ds.RasterCount == 1 and np.array_equal(ds.GetRasterBand(1).ReadAsArray(), v),
          "single-band PNG")
    ds = None
    r = run("encode", "png", path, S2_IMG, 0, 0, 30, 10, "B2")
    check(r.returncode != 0 and "uint8" in r.stderr, "PNG refuses uint16: %r" % r.stderr)
    r = run("encode", "png", path, S2_IMG, 0, 0, 30, 10, "SCL", "SCL")
    check(r.returncode != 0 and "1 or 3" in r.stderr, "PNG refuses 2 bands: %r" % r.stderr)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        check_npy_special(tmp)
        check_npy_window(tmp)
        check_geotiff(tmp)
        check_png(tmp)
    print("%d failures" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
