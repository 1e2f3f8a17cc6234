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


def check_png(label, tif, png, want_bands, want_size):
    p = gdal.Open(png)
    if p is None:
        fail("%s: no PNG at %s" % (label, png))
        return
    if (p.RasterXSize, p.RasterYSize, p.RasterCount) != want_size + (want_bands,):
        fail("%s: PNG %dx%dx%d, want %s x %d" % (label, p.RasterXSize, p.RasterYSize, p.RasterCount,
                                                  want_size, want_bands))
        return
    for i, want in enumerate(expected(tif, p.RasterXSize, p.RasterYSize)):
        got = p.GetRasterBand(i + 1).ReadAsArray().astype(np.float64)
        bad = np.abs(got - want) > 1
        if bad.any():
            fail("%s: band %d: %d pixels differ from the stretch" % (label, i + 1, int(bad.sum())))
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
        check_png("grey quick-look with nodata", tmp + "/dem.tif", tmp + "/dem_preview.png", 1,
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
