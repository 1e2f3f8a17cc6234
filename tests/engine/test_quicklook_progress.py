"""download{ quicklook = ... } and `eefetch run --progress json` through the
CLI (in-process emulator). The PNG is checked against the output with an
independent numpy computation of the documented stretch (bands 1-3 as RGB,
2nd..98th percentile onto 1..255, nodata 0, at most 1024 px a side); the
progress stream must be one JSON object per line ending in `finished`.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from osgeo import gdal

BIN = os.environ["EEFETCH_BIN"]
fails = 0


def fail(msg):
    global fails
    fails += 1
    print("FAIL:", msg)


RECIPE = """
local s2 = ee.Image("COPERNICUS/S2_SR_HARMONIZED/20230105T183751_20230105T183750_T10SEG")
local a = download{ image = s2, crs = "EPSG:32610", crs_transform = { 10, 0, 520000, 0, -10, 4180000 },
  dimensions = { 1500, 300 }, bands = { "B4", "B3", "B2" }, output = params.dir .. "/rgb.tif",
  quicklook = true }
local b = download{ image = ee.Image("USGS/SRTMGL1_003"), region = { type = "Polygon",
  coordinates = { { { -122.10, 37.90 }, { -121.95, 37.90 }, { -122.10, 37.80 }, { -122.10, 37.90 } } } },
  crs = "EPSG:4326", pixel_size = 1 / 1800, bands = { "elevation" }, nodata = -32768,
  output = params.dir .. "/dem.tif", quicklook = params.dir .. "/dem_preview.png" }
print(json.encode({ a = a.quicklook, b = b.quicklook }))
"""


def expected(tif, w, h):
    ds = gdal.Open(tif)
    nb = 3 if ds.RasterCount >= 3 else 1
    out = []
    for i in range(nb):
        band = ds.GetRasterBand(i + 1)
        v = band.ReadAsArray(buf_xsize=w, buf_ysize=h).astype(np.float64)
        nd = band.GetNoDataValue()
        valid = ~np.isnan(v) if nd is None else (~np.isnan(v) & (v != nd))
        s = np.sort(v[valid])
        lo, hi = s[len(s) * 2 // 100], s[(len(s) - 1) * 98 // 100]
        t = np.clip((v - lo) / (hi - lo), 0, 1) if hi > lo else np.full(v.shape, 0.5)
        out.append(np.where(valid, np.floor(1 + t * 254 + 0.5), 0))
    return out


# The documented viridis ramp (docs/recipes.md): evenly spaced control points.
VIRIDIS = np.array([[0x44, 0x01, 0x54], [0x3b, 0x52, 0x8b], [0x21, 0x91, 0x8c], [0x5e, 0xc9, 0x62],
                    [0xfd, 0xe7, 0x25]], dtype=np.float64)
LEGEND_H = 24


def viridis(v):
    """RGB of stretched bytes 1..255 (t = (v - 1) / 254 along the ramp)."""
    t = (v - 1) / 254.0 * (len(VIRIDIS) - 1)
    k = np.minimum(np.floor(t).astype(int), len(VIRIDIS) - 2)
    f = (t - k)[..., None]
    return np.floor(VIRIDIS[k] + f * (VIRIDIS[k + 1] - VIRIDIS[k]) + 0.5)


def check_png(label, tif, png, nbands, want_size):
    """An RGBA PNG: three bands as the stretch gives them, or one band through
    the viridis ramp with a legend strip below; alpha 0 exactly at nodata."""
    p = gdal.Open(png)
    if p is None:
        fail("%s: no PNG at %s" % (label, png))
        return
    w, h = want_size
    want_h = h + (LEGEND_H if nbands == 1 and w >= 96 else 0)
    if (p.RasterXSize, p.RasterYSize, p.RasterCount) != (w, want_h, 4):
        fail("%s: PNG %dx%dx%d, want %dx%dx4" % (label, p.RasterXSize, p.RasterYSize, p.RasterCount, w, want_h))
        return
    got = np.stack([p.GetRasterBand(i + 1).ReadAsArray(0, 0, w, h).astype(np.float64) for i in range(4)])
    want = expected(tif, w, h)
    valid = want[0] > 0
    for k in range(1, len(want)):
        valid &= want[k] > 0
    if (got[3][valid] != 255).any() or (got[3][~valid] != 0).any():
        fail("%s: alpha is not 255 at valid pixels and 0 at nodata" % label)
        return
    if nbands == 3:
        bad = [int((np.abs(got[i] - want[i]) > 1).sum()) for i in range(3)]
    else:
        rgb = viridis(np.where(valid, want[0], 1))
        bad = [int(((np.abs(got[i] - rgb[..., i]) > 2) & valid).sum()) for i in range(3)]
    if any(bad):
        fail("%s: %r pixels differ from the stretch" % (label, bad))
        return
    if nbands == 1 and want_h > h:
        rng = [float(x) for x in p.GetMetadataItem("EEFETCH_QUICKLOOK_RANGE_1").split()]
        src = gdal.Open(tif)   # kept: a band outlives no dataset in GDAL's Python
        v = src.GetRasterBand(1)
        a = v.ReadAsArray(buf_xsize=w, buf_ysize=h).astype(np.float64)
        nd = v.GetNoDataValue()
        s_ = np.sort(a[a != nd] if nd is not None else a.ravel())
        if rng != [s_[len(s_) * 2 // 100], s_[(len(s_) - 1) * 98 // 100]]:
            fail("%s: legend range %r is not the 2nd and 98th percentile" % (label, rng))
            return
        strip = np.stack([p.GetRasterBand(i + 1).ReadAsArray(0, h, w, 8) for i in range(3)])
        if not (np.abs(strip[:, 0, 0] - VIRIDIS[0]) <= 2).all() or \
                not (np.abs(strip[:, 0, w - 1] - VIRIDIS[-1]) <= 2).all():
            fail("%s: the legend ramp does not run from the low to the high colour" % label)
            return
        text = np.stack([p.GetRasterBand(i + 1).ReadAsArray(0, h + 8, w, LEGEND_H - 8) for i in range(3)])
        if not (text == 255).all(axis=0).any() or not (text == 32).all(axis=0).any():
            fail("%s: no value text on the legend strip" % label)
            return
    print("ok", label)


def main():
    tmp = tempfile.mkdtemp(prefix="eefetch-quicklook.")
    try:
        path = os.path.join(tmp, "r.lua")
        with open(path, "w") as f:
            f.write(RECIPE)
        r = subprocess.run([BIN, "run", path, "--emulator", "--progress", "json", "--set", "dir=" + tmp],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            fail("run failed: %s %s" % (r.stdout, r.stderr))
            return
        got = json.loads(r.stdout.strip().splitlines()[-1])
        if got != {"a": tmp + "/rgb.png", "b": tmp + "/dem_preview.png"}:
            fail("quicklook paths in the summary: %s" % got)
        check_png("RGB quick-look, 1500x300 -> 1024x205", tmp + "/rgb.tif", tmp + "/rgb.png", 3, (1024, 205))
        ds = gdal.Open(tmp + "/dem.tif")
        check_png("one band through viridis, a legend, nodata transparent", tmp + "/dem.tif", tmp + "/dem_preview.png", 1,
                  (ds.RasterXSize, ds.RasterYSize))
        if [n for n in os.listdir(tmp) if ".tmp" in n or n.endswith(".aux.xml")]:
            fail("temporary files left: %s" % os.listdir(tmp))
        events = []
        for line in r.stderr.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                fail("--progress json: a line that is not JSON: %r" % line)
        kinds = [ev.get("event") for ev in events]
        fin = [ev for ev in events if ev.get("event") == "finished"]
        if len(fin) != 2 or any(ev.get("status") != 0 for ev in fin) or "planned" not in kinds \
                or "tile_done" not in kinds:
            fail("--progress json events: %s" % kinds)
        else:
            print("ok --progress json: %d events" % len(events))
        check_map(tmp)
    finally:
        subprocess.run(["rm", "-rf", tmp])


MAP_RECIPE = """
download{ image = ee.Image("USGS/SRTMGL1_003"), region = { type = "Polygon",
  coordinates = { { { -122.10, 37.90 }, { -121.60, 37.90 }, { -122.10, 37.60 }, { -122.10, 37.90 } } } },
  crs = "EPSG:4326", pixel_size = 1 / 3600, bands = { "elevation" }, max_tile_bytes = 256 * 256 * 3,
  output = params.dir .. "/map.tif" }
"""


def check_map(tmp):
    """--progress map: the last map drawn (above the last bar) shows every
    tile done ('#') and the tiles outside the triangle as blanks."""
    path = os.path.join(tmp, "map.lua")
    with open(path, "w") as f:
        f.write(MAP_RECIPE)
    r = subprocess.run([BIN, "run", path, "--emulator", "--progress", "map", "--set", "dir=" + tmp],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        fail("map run failed: %s" % r.stderr)
        return
    ups = list(re.finditer(r"\033\[(\d+)A", r.stderr))
    final = []
    if ups:
        n = int(ups[-1].group(1))
        final = [ln.replace("\033[K", "") for ln in r.stderr[ups[-1].end():].split("\n")[:n]]
    width = len(final[0]) if final else 0
    # Every tile done; the corner outside the triangle has no tiles (blank);
    # the top-left tile is inside.
    if len(final) < 2 or width < 2 or any(len(ln) != width for ln in final) \
            or any(set(ln) - set("# ") for ln in final) or " " not in "".join(final) \
            or not final[0].startswith("#"):
        fail("--progress map: last map %r" % final)
    else:
        print("ok --progress map:", final)


main()
print("%d failure(s)" % fails)
sys.exit(1 if fails else 0)
