"""download{} and plan{} keys mean what they mean in Earth Engine.

- scale is metres: in EPSG:4326 the pixel is scale / 111319.49 degrees
  (metres per degree along the WGS84 equator); pixel_size is CRS units;
- crs and scale default to the image's own projection (the grid is the
  image's pixel lattice cut to the region), bands to all of its bands;
- a composite (EE's default projection) is refused with a suggestion;
- a masked pixel is never a valid value: a value no band can take becomes
  nodata by default (pixels checked against tests/emulator/reference.py);
- wrong band names, empty collections and swapped lon/lat get messages
  that say what to do.
Runs eefetch against the in-process emulator.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from osgeo import gdal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulator"))
import reference as ref  # noqa: E402

BIN = os.environ["EEFETCH_BIN"]
SRTM = "USGS/SRTMGL1_003"
S2 = "COPERNICUS/S2_SR_HARMONIZED/20230105T183751_20230105T183750_T10SEG"
BBOX = (-122.30007, 37.60007, -122.25007, 37.64007)   # no pixel centre on an edge
fails = []


def fail(msg):
    print("FAIL:", msg)
    fails.append(msg)


def run(tmp, name, text, mode="run"):
    path = os.path.join(tmp, name + ".lua")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([BIN, mode, path, "--emulator", "--progress", "off"], capture_output=True, text=True,
                       timeout=300, cwd=tmp)
    return r.returncode, r.stdout + r.stderr


def inside(gt, w, h):
    """Pixels whose centre is inside BBOX: the region; the rest is outside it."""
    x = gt[0] + (np.arange(w) + 0.5) * gt[1]
    y = gt[3] + (np.arange(h) + 0.5) * gt[5]
    return ((y[:, None] > BBOX[1]) & (y[:, None] < BBOX[3]) & (x[None, :] > BBOX[0]) & (x[None, :] < BBOX[2]))


def grid_of(path):
    ds = gdal.Open(path)
    gt = ds.GetGeoTransform()
    return ds, gt


def expect_error(tmp, name, text, *wants):
    rc, out = run(tmp, name, text, "plan")
    if rc == 0:
        fail("%s: succeeded: %s" % (name, out))
        return
    for w in wants:
        if w not in out:
            fail("%s: expected %r in: %s" % (name, w, out))
            return
    print("ok", name)


def main():
    tmp = tempfile.mkdtemp(prefix="eefetch-semantics.")
    bbox = "geo.bbox(%r, %r, %r, %r)" % BBOX

    # scale in metres on a geographic CRS; pixel_size in its units.
    rc, out = run(tmp, "metres", """
download{ image = ee.Image("%s"), region = %s, crs = "EPSG:4326", scale = 30, output = "m.tif" }
download{ image = ee.Image("%s"), region = %s, crs = "EPSG:4326", pixel_size = 1 / 3600, output = "p.tif" }
""" % (SRTM, bbox, SRTM, bbox))
    if rc != 0:
        fail("metres: " + out)
    else:
        deg = 30 / (2 * math.pi * 6378137.0 / 360)
        ds, gt = grid_of(os.path.join(tmp, "m.tif"))
        want_w = math.ceil(BBOX[2] / deg - 1e-6) - math.floor(BBOX[0] / deg + 1e-6)
        if abs(gt[1] - deg) > 1e-15 or ds.RasterXSize != want_w:
            fail("scale = 30 in EPSG:4326: pixel %r (want %r), width %d (want %d)"
                 % (gt[1], deg, ds.RasterXSize, want_w))
        else:
            print("ok scale is metres in EPSG:4326")
        ds, gt = grid_of(os.path.join(tmp, "p.tif"))
        if abs(gt[1] - 1 / 3600) > 1e-15:
            fail("pixel_size = 1/3600: pixel %r" % gt[1])
        else:
            print("ok pixel_size is CRS units")

    # The image's own projection: SRTM's lattice (edges at -180 - 0.5/3600 +
    # k/3600) and S2's 10 m UTM lattice; all bands by default.
    rc, out = run(tmp, "native", """
local a = download{ image = ee.Image("%s"), region = %s, output = "n_srtm.tif" }
local b = download{ image = ee.Image("%s"):select({"B4", "B3", "B2"}), region = %s, output = "n_s2.tif" }
""" % (SRTM, bbox, S2, bbox))
    if rc != 0:
        fail("native: " + out)
    else:
        ds, gt = grid_of(os.path.join(tmp, "n_srtm.tif"))
        native = ref.native_grid(SRTM, "elevation")["affine"]
        kx = (gt[0] - native[2]) / native[0]
        ky = (gt[3] - native[5]) / native[4]
        srs = ds.GetSpatialRef()
        if (abs(gt[1] - native[0]) > 1e-15 or abs(kx - round(kx)) > 1e-6 or abs(ky - round(ky)) > 1e-6
                or srs.GetAuthorityCode(None) != "4326"):
            fail("SRTM default grid %r is not on the native lattice %r" % (gt, native))
        else:
            print("ok SRTM default grid is its native lattice")
        # Every pixel as the independent model samples the native grid.
        aff = [gt[1], 0, gt[0], 0, gt[5], gt[3]]
        vals, mask = ref.sample(SRTM, "elevation", "EPSG:4326", aff, ds.RasterXSize, ds.RasterYSize)
        got = ds.GetRasterBand(1).ReadAsArray()
        mask &= inside(gt, ds.RasterXSize, ds.RasterYSize)
        if not np.array_equal(got[mask], vals[mask]):
            fail("SRTM default grid pixels differ from the reference")
        else:
            print("ok SRTM pixels on the default grid")
        ds, gt = grid_of(os.path.join(tmp, "n_s2.tif"))
        names = [ds.GetRasterBand(i + 1).GetDescription() for i in range(3)]
        if (gt[1] != 10 or gt[5] != -10 or (gt[0] - 499960) % 10 != 0 or (gt[3] - 4200000) % 10 != 0
                or ds.GetSpatialRef().GetAuthorityCode(None) != "32610" or names != ["B4", "B3", "B2"]):
            fail("S2 default grid/bands: %r %r %s" % (gt, names, ds.GetSpatialRef().GetAuthorityCode(None)))
        else:
            print("ok S2 default grid and bands")

    # A comparison is uint8 [0, 1]: 255 is free, so masked pixels are 255
    # and the file says so; elsewhere the values are the reference's.
    rc, out = run(tmp, "free", """
local dem = ee.Image("%s")
download{ image = dem:gt(100):updateMask(dem:lt(150)), region = %s, output = "free.tif" }
""" % (SRTM, bbox))
    if rc != 0:
        fail("free nodata: " + out)
    else:
        ds, gt = grid_of(os.path.join(tmp, "free.tif"))
        b = ds.GetRasterBand(1)
        aff = [gt[1], 0, gt[0], 0, gt[5], gt[3]]
        vals, mask = ref.sample(SRTM, "elevation", "EPSG:4326", aff, ds.RasterXSize, ds.RasterYSize)
        valid = mask & (vals < 150) & inside(gt, ds.RasterXSize, ds.RasterYSize)
        got = b.ReadAsArray()
        want = np.where(valid, (vals > 100).astype(np.uint8), 255)
        if b.GetNoDataValue() != 255 or not np.array_equal(got, want):
            fail("free nodata: nodata %r, %d pixels differ" % (b.GetNoDataValue(), int((got != want).sum())))
        elif valid.all() or not valid.any():
            fail("free nodata: the test region should have both valid and masked pixels")
        else:
            print("ok masked pixels are nodata 255 (uint8 [0,1])")

    # A float composite: masked pixels read as nodata (the type's lowest value).
    rc, out = run(tmp, "float", """
local dem = ee.Image("%s")
download{ image = dem:toFloat():divide(3):updateMask(dem:lt(150)), region = %s, output = "float.tif" }
""" % (SRTM, bbox))
    if rc != 0:
        fail("float nodata: " + out)
    else:
        ds, gt = grid_of(os.path.join(tmp, "float.tif"))
        b = ds.GetRasterBand(1)
        nd = b.GetNoDataValue()
        got = b.ReadAsArray()
        aff = [gt[1], 0, gt[0], 0, gt[5], gt[3]]
        vals, mask = ref.sample(SRTM, "elevation", "EPSG:4326", aff, ds.RasterXSize, ds.RasterYSize)
        valid = mask & (vals < 150) & inside(gt, ds.RasterXSize, ds.RasterYSize)
        if nd is None or np.any(got[~valid] != nd) or np.any(got[valid] == nd) or \
                not np.allclose(got[valid], vals[valid] / 3.0, rtol=1e-6):
            fail("float nodata: nodata %r" % nd)
        else:
            print("ok float masked pixels are nodata %r" % nd)

    # Floats written as uint16: any uint16 value may come of them, so no
    # value is free: masked pixels are in a GDAL mask band, valid zeros stay.
    rc, out = run(tmp, "nofree", """
local dem = ee.Image("%s")
download{ image = dem:toFloat():updateMask(dem:lt(150)), region = %s, dtype = "uint16", output = "nofree.tif" }
""" % (SRTM, bbox))
    if rc != 0:
        fail("no free value: " + out)
    else:
        ds, gt = grid_of(os.path.join(tmp, "nofree.tif"))
        b = ds.GetRasterBand(1)
        aff = [gt[1], 0, gt[0], 0, gt[5], gt[3]]
        vals, mask = ref.sample(SRTM, "elevation", "EPSG:4326", aff, ds.RasterXSize, ds.RasterYSize)
        valid = mask & (vals < 150) & inside(gt, ds.RasterXSize, ds.RasterYSize)
        m = b.GetMaskBand().ReadAsArray()
        got = b.ReadAsArray()
        if (b.GetNoDataValue() is not None or b.GetMaskFlags() != gdal.GMF_PER_DATASET or ds.RasterCount != 1
                or not np.array_equal(m != 0, valid)
                or not np.array_equal(got[valid], np.clip(vals[valid], 0, 65535))):
            fail("no free value: nodata %r, mask flags %r, %d bands, %d mask pixels wrong"
                 % (b.GetNoDataValue(), b.GetMaskFlags(), ds.RasterCount, int(((m != 0) != valid).sum())))
        elif not (valid & (got == 0)).any():
            fail("no free value: the region should have valid zeros")
        else:
            print("ok no free value: a mask band, valid zeros kept")

    # nodata = false: EE's zeros, no tag.
    rc, out = run(tmp, "nonodata", """
local dem = ee.Image("%s")
download{ image = dem:gt(100):updateMask(dem:lt(150)), region = %s, nodata = false, output = "zero.tif" }
""" % (SRTM, bbox))
    if rc != 0:
        fail("nodata = false: " + out)
    else:
        zds = gdal.Open(os.path.join(tmp, "zero.tif"))
        b = zds.GetRasterBand(1)
        if b.GetNoDataValue() is not None or zds.RasterCount != 1:
            fail("nodata = false wrote a nodata tag %r" % b.GetNoDataValue())
        else:
            print("ok nodata = false")

    expect_error(tmp, "composite", """
plan{ image = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED"):median(), region = %s, bands = {"B4"} }
""" % bbox, "composite", "crs = \"EPSG:32610\", scale = 10")
    expect_error(tmp, "wrong_band", """
plan{ image = ee.Image("%s"), region = %s, bands = {"B04"} }
""" % (S2, bbox), "wrong_band.lua:2:", "band 'B04' is not in the image; its bands are: B1, B2, B3, B4")
    expect_error(tmp, "select_pattern", """
plan{ image = ee.Image("%s"):select("B04"), region = %s }
""" % (S2, bbox), "Pattern 'B04' did not match any bands", "Its bands are: B1, B2")
    expect_error(tmp, "empty_filter", """
local c = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED"):filterDate("2023-06-01", "2023-07-01")
plan{ image = c:filter(ee.Filter.lt("CLOUDY_PIXEL_PERCENTAGE", -1)):median(), region = %s,
      crs = "EPSG:32610", scale = 10 }
""" % bbox, "empty_filter.lua:3:", "the collection is empty", "CLOUDY_PIXEL_PERCENTAGE")
    expect_error(tmp, "empty_dates", """
local c = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED"):filterDate("1990-01-01", "1990-02-01")
plan{ image = c:first(), region = %s }
""" % bbox, "empty_dates.lua:3:", "the image is null", "the date filter")
    expect_error(tmp, "swapped", """
plan{ image = ee.Image("%s"), region = {37.60, -122.30, 37.64, -122.25} }
""" % SRTM, "swapped.lua:2:", "longitude comes first")

    expect_error(tmp, "degrees_as_metres", """
plan{ image = ee.Image("%s"), region = %s, crs = "EPSG:4326", scale = 1 / 3600 }
""" % (SRTM, bbox), "degrees_as_metres.lua:2:", "too large to plan", "scale is metres")
    expect_error(tmp, "outside", """
plan{ image = ee.Image("%s"), region = geo.bbox(10, 45, 11, 46) }
""" % S2, "outside.lua:2:", "the region does not intersect the image")
    expect_error(tmp, "swapped_footprint", """
local img = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED"):filter(ee.Filter.eq("MGRS_TILE", "32TQM")):first()
plan{ image = img, region = geo.bbox(41.8, 12.0, 41.9, 12.1) }
""", "swapped_footprint.lua:3:", "with longitude and latitude swapped it would")
    rc, out = run(tmp, "meets", """
local img = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED"):filter(ee.Filter.eq("MGRS_TILE", "32TQM")):first()
print(plan{ image = img, region = geo.bbox(12.0, 41.8, 12.1, 41.9), bands = {"B4"} }.width)
""", "plan")
    if rc != 0:
        fail("a region inside the image: " + out)
    else:
        print("ok a region inside the image plans")

    print("%d failure(s)" % len(fails))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
