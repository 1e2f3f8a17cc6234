"""recipes/l9_ndvi_summer.lua, the everyday job end to end: a cloud-masked
Landsat 9 NDVI summer median at 30 m over about 50 x 50 km, a 4 x 4 fishnet
with one file per cell and a VRT over them, with nodata.

- every cell and the VRT exist, the VRT reads the cells' pixels;
- the pixels are the median NDVI of the clear summer scenes, computed here
  from tests/emulator/reference.py (QA_PIXEL bits, scale factors), and the
  pixels no scene sees clear read as nodata (-9999) in GDAL;
- running it again is a no-op: exit 0, nothing fetched, files untouched.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np
from osgeo import gdal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulator"))
import reference as ref  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recipe_check as rc  # noqa: E402

BIN = os.environ["EEFETCH_BIN"]
RECIPE = os.path.join(os.environ["EEFETCH_SRC"], "recipes", "l9_ndvi_summer.lua")
BBOX = (-121.80, 37.20, -121.23, 37.65)
CLOUDY = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4)
fails = []


def fail(msg):
    print("FAIL:", msg)
    fails.append(msg)


def run(out, dates=None):
    extra = ["--set", "start=" + dates[0], "--set", "stop=" + dates[1]] if dates else []
    return subprocess.run([BIN, "run", RECIPE, "--emulator", "--progress", "off", "--set", "out=" + out,
                           "--output-dir", os.path.dirname(os.path.dirname(out))] + extra,
                          capture_output=True, text=True, timeout=600)


def reference_ndvi(gt, w, h, start, end):
    """Median NDVI of the clear scenes of [start, end) (ms) over the region, NaN where none is clear."""
    aff = [gt[1], 0, gt[0], 0, gt[5], gt[3]]
    lo = ref.collection("LANDSAT/LC09/C02/T1_L2")
    stack = []
    for m in lo:
        if not (start <= m["start_ms"] < end):
            continue
        qa, qm = ref.sample(m["id"], "QA_PIXEL", "EPSG:32610", aff, w, h)
        if not qm.any():
            continue      # not over the region (filterBounds drops it; no pixel would count)
        red, _ = ref.sample(m["id"], "SR_B4", "EPSG:32610", aff, w, h)
        nir, _ = ref.sample(m["id"], "SR_B5", "EPSG:32610", aff, w, h)
        red = red * 0.0000275 - 0.2
        nir = nir * 0.0000275 - 0.2
        with np.errstate(all="ignore"):
            nd = (nir - red) / (nir + red)
        clear = qm & ((qa.astype(np.int64) & CLOUDY) == 0)
        stack.append(np.where(clear, nd, np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)    # all-NaN pixels: never clear
        return np.nanmedian(np.array(stack), axis=0), len(stack)


def check_pixels(out, start, end, min_scenes, want_masked):
    """The VRT at out against the reference; returns the cell files."""
    cells = sorted(glob.glob(os.path.join(os.path.dirname(out), "ndvi_r*_c*.tif")))
    if len(cells) != 16:
        fail("%d cell files, want 16" % len(cells))
    ds = gdal.Open(out)
    if ds is None:
        fail("no VRT at %s" % out)
        return cells
    b = ds.GetRasterBand(1)
    gt = ds.GetGeoTransform()
    got = b.ReadAsArray()
    if b.GetNoDataValue() != -9999:
        fail("VRT nodata %r, want -9999" % b.GetNoDataValue())
    if (gt[0] - 15) % 30 != 0 or (gt[3] - 15) % 30 != 0 or gt[1] != 30 or gt[5] != -30:
        fail("grid %r is not Landsat's 30 m lattice" % (gt,))
    # The cells hold the same pixels at their place in the VRT.
    for c in cells:
        cd = gdal.Open(c)
        cg = cd.GetGeoTransform()
        x0 = int(round((cg[0] - gt[0]) / 30))
        y0 = int(round((gt[3] - cg[3]) / 30))
        part = got[y0:y0 + cd.RasterYSize, x0:x0 + cd.RasterXSize]
        if not np.array_equal(part, cd.GetRasterBand(1).ReadAsArray()):
            fail("%s differs from the VRT" % os.path.basename(c))
    want, n = reference_ndvi(gt, ds.RasterXSize, ds.RasterYSize, start, end)
    keep = rc.inner(BBOX, gt, ds.RasterXSize, ds.RasterYSize, 32610)
    valid = ~np.isnan(want)
    if n < min_scenes:
        fail("only %d scenes over the region in the reference" % n)
    if want_masked and not (keep & ~valid).any():
        fail("the region should have never-clear pixels")
    bad_nodata = keep & ~valid & (got != -9999)
    bad_value = keep & valid & ~np.isclose(got, want, rtol=0, atol=1e-6)
    if bad_nodata.any():
        fail("%d never-clear pixels are not nodata" % int(bad_nodata.sum()))
    if bad_value.any():
        i = tuple(np.argwhere(bad_value)[0])
        fail("%d pixels differ from the reference median, e.g. %r: %r vs %r"
             % (int(bad_value.sum()), i, got[i], want[i]))
    if not bad_nodata.any() and not bad_value.any():
        print("ok %s: %d pixels match the reference, %d never-clear pixels are nodata"
              % (os.path.basename(os.path.dirname(out)), int((keep & valid).sum()), int((keep & ~valid).sum())))
    return cells


def main():
    tmp = tempfile.mkdtemp(prefix="eefetch-l9.")
    try:
        checks(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def checks(tmp):
    # The summer median (2023-06-01 .. 2023-09-01).
    out = os.path.join(tmp, "summer", "ndvi.vrt")
    os.makedirs(os.path.dirname(out))
    r = run(out)
    if r.returncode != 0:
        fail("first run: " + r.stdout + r.stderr)
        return
    cells = check_pixels(out, 1685577600000, 1693526400000, 3, False)

    # One cloudy scene (2023-08-19, about 23 % cloud): its clouds are nodata.
    one = os.path.join(tmp, "cloudy", "ndvi.vrt")
    os.makedirs(os.path.dirname(one))
    r = run(one, ("2023-08-19", "2023-08-20"))
    if r.returncode != 0:
        fail("one-scene run: " + r.stdout + r.stderr)
    else:
        check_pixels(one, 1692403200000, 1692489600000, 1, True)

    # A second run is a no-op.
    stamps = {p: os.stat(p).st_mtime_ns for p in cells + [out] if os.path.exists(p)}
    r = run(out)
    if r.returncode != 0:
        fail("second run: " + r.stdout + r.stderr)
    elif "0 fetched" not in r.stdout:
        fail("second run fetched tiles: " + r.stdout)
    elif any(os.stat(p).st_mtime_ns != t for p, t in stamps.items()):
        fail("second run rewrote files")
    else:
        print("ok second run is a no-op")


if __name__ == "__main__":
    main()
    print("%d failure(s)" % len(fails))
    sys.exit(1 if fails else 0)
