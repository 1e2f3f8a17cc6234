"""Downloads with `nodata` of expressions deeper than json-c's default
parsing depth (32), through `eefetch run --emulator`; every pixel is
compared with tests/emulator/reference.py, never with eefetch's own code.

- SRTM elevation + 1 chained 10 and 1000 times (`:add(1)`), nodata = 0:
  the values are elevation + n. The 1000-chain is serialized as many named
  values (nesting under EE's limit of 100) and evaluated by the emulator.
- A cloud-masked NDVI median (COPERNICUS/S2_SR_HARMONIZED filtered by
  bounds, date and properties, SCL-based updateMask, normalizedDifference,
  median, clip to a rectangle around the region: 34 levels) with
  nodata = -9999: pixels no clear image covers read -9999, the others the
  median of the clear NDVIs.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from osgeo import gdal

BIN = os.environ["EEFETCH_BIN"]
SRC = os.environ["EEFETCH_SRC"]
sys.path.insert(0, os.path.join(SRC, "tests", "emulator"))
import reference  # noqa: E402

gdal.UseExceptions()
fails = 0


def fail(msg):
    global fails
    fails += 1
    print("FAIL:", msg)


def run(tmp, recipe, **params):
    path = os.path.join(tmp, "r.lua")
    with open(path, "w") as f:
        f.write(recipe)
    args = [BIN, "run", path, "--emulator", "--progress", "off"]
    for k, v in params.items():
        args += ["--set", "%s=%s" % (k, v)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=900)
    return p.returncode, p.stdout + p.stderr


def read(path):
    ds = gdal.Open(path)
    gt = ds.GetGeoTransform()
    band = ds.GetRasterBand(1)
    arr = band.ReadAsArray().astype(np.float64)
    affine = [gt[1], gt[2], gt[0], gt[4], gt[5], gt[3]]   # EE order
    return arr, affine, ds.RasterXSize, ds.RasterYSize, band.GetNoDataValue()


CHAIN = """
local img = ee.Image("USGS/SRTMGL1_003")
for i = 1, tonumber(params.n) do img = img:add(1) end
download{ image = img, region = geo.bbox(-122.10, 37.75, -122.05, 37.79), crs = "EPSG:4326",
  pixel_size = 1 / 3600, bands = { "elevation" }, nodata = 0, output = params.out }
"""

NDVI = """
local ndvi = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED")
  :filterBounds(ee.Geometry.Point({ -122.43, 37.72 }))
  :filterDate("2023-02-03", "2023-02-15")
  :filter(ee.Filter.lt("CLOUDY_PIXEL_PERCENTAGE", 100))
  :filter(ee.Filter.eq("MGRS_TILE", "10SEG"))
  :map(function(img)
    local scl = img:select("SCL")
    local clear = scl:neq(3):And(scl:neq(8)):And(scl:neq(9)):And(scl:neq(10))
    return img:updateMask(clear):normalizedDifference({ "B8", "B4" }):rename("ndvi")
  end)
  :median()
  :clip(ee.Geometry.Rectangle({ -122.5, 37.65, -122.35, 37.8 }))
download{ image = ndvi, region = geo.bbox(-122.46, 37.70, -122.40, 37.75), crs = "EPSG:4326",
  pixel_size = 0.0002, bands = { "ndvi" }, nodata = -9999, output = params.out }
"""


def check_chain(tmp, n):
    out = os.path.join(tmp, "chain%d.tif" % n)
    rc, text = run(tmp, CHAIN, n=n, out=out)
    if rc != 0:
        fail("%d-chain with nodata: %s" % (n, text.strip()))
        return
    got, affine, w, h, nd = read(out)
    elev, mask = reference.sample("USGS/SRTMGL1_003", "elevation", "EPSG:4326", affine, w, h)
    want = np.where(mask, elev + n, 0)
    bad = np.count_nonzero(got != want)
    if nd != 0:
        fail("%d-chain: nodata tag %r, expected 0" % (n, nd))
    if not mask.all():
        fail("%d-chain: the region leaves the SRTM footprint" % n)
    if bad:
        fail("%d-chain: %d of %d pixels differ from elevation + %d" % (n, bad, got.size, n))
    else:
        print("ok: %d-chain with nodata = 0, %dx%d pixels = elevation + %d" % (n, w, h, n))


def check_ndvi(tmp):
    out = os.path.join(tmp, "ndvi.tif")
    rc, text = run(tmp, NDVI, out=out)
    if rc != 0:
        fail("NDVI median with nodata: %s" % text.strip())
        return
    got, affine, w, h, nd = read(out)
    start = reference._start_ms(33, 0)             # 2023-02-03T00:00Z
    stop = reference._start_ms(45, 0)              # 2023-02-15T00:00Z
    ids = [i["id"] for i in reference.collection("COPERNICUS/S2_SR_HARMONIZED")
           if start <= i["start_ms"] < stop and i["properties"]["MGRS_TILE"] == "10SEG"]
    stack, valid = [], []
    for iid in ids:
        b8, m8 = reference.sample(iid, "B8", "EPSG:4326", affine, w, h)
        b4, m4 = reference.sample(iid, "B4", "EPSG:4326", affine, w, h)
        scl, ms = reference.sample(iid, "SCL", "EPSG:4326", affine, w, h)
        s = b8 + b4
        stack.append(np.where(s == 0, 0, (b8 - b4) / np.where(s == 0, 1, s)))
        valid.append(m8 & m4 & ms & ~np.isin(scl, [3, 8, 9, 10]))
    stack = np.where(np.array(valid), np.array(stack), np.nan)
    covered = np.array(valid).any(axis=0)
    with np.errstate(all="ignore"):
        med = np.nanmedian(stack, axis=0)
    want = np.where(covered, med, -9999)
    if nd != -9999:
        fail("NDVI: nodata tag %r, expected -9999" % nd)
    nmasked = int(np.count_nonzero(~covered))
    if nmasked == 0 or nmasked == got.size:
        fail("NDVI: the reference has %d masked pixels of %d; the test needs both kinds"
             % (nmasked, got.size))
    bad_masked = np.count_nonzero(got[~covered] != -9999)
    bad_values = np.count_nonzero(np.abs(got[covered] - want[covered]) > 1e-6)
    if bad_masked:
        fail("NDVI: %d of %d pixels no clear image covers are not -9999" % (bad_masked, nmasked))
    if bad_values:
        fail("NDVI: %d pixels differ from the median of the clear NDVIs" % bad_values)
    if not bad_masked and not bad_values:
        print("ok: NDVI median, %d of %d pixels masked -> -9999, the rest the clear median"
              % (nmasked, got.size))


with tempfile.TemporaryDirectory(prefix="eefetch-deep-") as tmp:
    check_chain(tmp, 10)
    check_chain(tmp, 1000)
    check_ndvi(tmp)
print("%d failure(s)" % fails)
sys.exit(1 if fails else 0)
