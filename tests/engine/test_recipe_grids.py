"""Recipe-level downloads through the CLI (`eefetch run`) against
`eefetch serve` with every fault switched on (429 bursts from a concurrency
limit of 2 plus random 429, 500, 503, connection resets, truncated bodies,
and a memory limit that forces splits). Every output pixel is compared with
tests/emulator/reference.py (check_output.py), never with eefetch's own code.

Grids: EPSG:4326 from a bbox and a scale (the expected grid computed here
from docs/engine.md's snapping formula) with a fishnet; UTM (EPSG:32610)
with mixed band types (uint8 + uint16) on a prime-sized grid; EPSG:3857 as a
1 x N column and as a COG; a triangle polygon region with nodata; fishnet
cells as one file each under a VRT.
"""
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

BIN = os.environ["EEFETCH_BIN"]
SRC = os.environ["EEFETCH_SRC"]
PY = "/usr/bin/python3"
CHECK = os.path.join(SRC, "tests", "engine", "check_output.py")
SRTM = "USGS/SRTMGL1_003"
S2 = "COPERNICUS/S2_SR_HARMONIZED/20230105T183751_20230105T183750_T10SEG"
fails = 0


def fail(msg):
    global fails
    fails += 1
    print("FAIL:", msg)


def start_server(tmp):
    log = os.path.join(tmp, "requests.jsonl")
    p = subprocess.Popen([BIN, "serve", "--port", "0", "--no-auth", "--seed", "11", "--concurrency", "2",
                          "--latency-ms", "20", "--fail-429", "0.05", "--fail-500", "0.08",
                          "--fail-503", "0.08", "--fail-reset", "0.08", "--fail-truncate", "0.08",
                          "--memory-limit", "100000", "--request-log", log],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
    if not m:
        p.kill()
        raise SystemExit("emulator did not start: " + line + p.stderr.read())
    return p, m.group(1), log


# 4326 + scale: the grid anchored at (0, 0), widened to whole pixels (docs/engine.md).
BBOX = (-122.10, 37.75, -121.90, 37.90)
S4326 = 1.0 / 1800      # pixel centres on whole arc-seconds: SRTM's native centres
c0 = math.floor(BBOX[0] / S4326 + 1e-6)
c1 = math.ceil(BBOX[2] / S4326 - 1e-6)
r0 = math.ceil(BBOX[3] / S4326 - 1e-6)
r1 = math.floor(BBOX[1] / S4326 + 1e-6)
A_AFF = [S4326, 0, c0 * S4326, 0, -S4326, r0 * S4326]
A_W, A_H = c1 - c0, r0 - r1

# An exact SRTM grid with pixel edges on half arc-seconds (no centre on a native edge).
T_AFF = [1.0 / 3600, 0, -122.0 - 0.5 / 3600, 0, -1.0 / 3600, 37.9 + 0.5 / 3600]
T_W, T_H, TA, TB = 300, 200, 170.25, 120.25
tx, ty = T_AFF[2], T_AFF[5]
TRI = [[tx, ty], [tx + TA * T_AFF[0], ty], [tx, ty + TB * T_AFF[4]], [tx, ty]]

RECIPE = """
local function dl(t) t.workers = 4; t.overwrite = true; return download(t) end
local dem = ee.Image("%(srtm)s"):select({ "elevation" })
local s2 = ee.Image("%(s2)s")
local out = params.dir .. "/"
local res = {}
res.a = dl{ image = dem, region = { %(bbox)s }, crs = "EPSG:4326", pixel_size = 1 / 1800,
            bands = { "elevation" }, fishnet = { rows = 2, cols = 2 }, max_tile_bytes = 256 * 256 * 3,
            output = out .. "a_4326.tif" }
res.b = dl{ image = s2, crs = "EPSG:32610", crs_transform = { 10, 0, 520000, 0, -10, 4180000 },
            dimensions = { 263, 389 }, bands = { "SCL", "B4", "B11" }, output = out .. "b_utm.tif" }
res.c = dl{ image = dem, crs = "EPSG:3857", crs_transform = { 30, 0, -13580010, 0, -30, 4545000 },
            dimensions = { 1, 701 }, bands = { "elevation" }, output = out .. "c_3857_col.tif" }
res.d = dl{ image = dem, crs = "EPSG:3857", crs_transform = { 50, 0, -13590000, 0, -50, 4550000 },
            dimensions = { 131, 97 }, bands = { "elevation" }, format = "cog", output = out .. "d_3857.tif" }
res.e = dl{ image = dem, crs = "EPSG:4326", crs_transform = { %(taff)s }, dimensions = { %(tw)d, %(th)d },
            region = { type = "Polygon", coordinates = { %(tri)s } }, nodata = -32768,
            max_tile_bytes = 256 * 256 * 3,
            bands = { "elevation" }, output = out .. "e_triangle.tif" }
res.f = dl{ image = s2, crs = "EPSG:32610", crs_transform = { 10, 0, 520000, 0, -10, 4180000 },
            dimensions = { 300, 200 }, bands = { "B4" }, fishnet = { rows = 2, cols = 3 }, split = true,
            format = "vrt", output = out .. "f_cells.vrt" }
print(json.encode(res))
""" % {
    "srtm": SRTM, "s2": S2, "bbox": ", ".join(repr(v) for v in BBOX),
    "taff": ", ".join(repr(v) for v in T_AFF), "tw": T_W, "th": T_H,
    "tri": "{ " + ", ".join("{ %r, %r }" % (x, y) for x, y in TRI) + " }",
}


def check(label, args):
    r = subprocess.run([PY, CHECK] + [str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        fail("%s: pixels differ from the reference: %s%s" % (label, r.stdout, r.stderr))
    else:
        print("ok", label)


def main():
    tmp = tempfile.mkdtemp(prefix="eefetch-recipe-grids.")
    server, url, log = start_server(tmp)
    try:
        path = os.path.join(tmp, "grids.lua")
        with open(path, "w") as f:
            f.write(RECIPE)
        t0 = time.time()
        r = subprocess.run([BIN, "run", path, "--endpoint", url, "--project", "test-project",
                            "--progress", "off", "--set", "dir=" + tmp],
                           capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, EEFETCH_TOKEN_URI="", EE_ACCESS_TOKEN="unused",
                                    XDG_CACHE_HOME=tmp))
        print("eefetch run: %.1f s" % (time.time() - t0))
        if r.returncode != 0:
            fail("eefetch run failed (%d): %s %s" % (r.returncode, r.stdout, r.stderr))
            return
        res = json.loads(r.stdout.strip().splitlines()[-1])
        if (res["a"]["width"], res["a"]["height"]) != (A_W, A_H):
            fail("4326 grid %dx%d, want %dx%d" % (res["a"]["width"], res["a"]["height"], A_W, A_H))
        check("EPSG:4326 bbox + scale, 2x2 fishnet", [os.path.join(tmp, "a_4326.tif"), "EPSG:4326"] + A_AFF
              + [A_W, A_H, SRTM, "elevation"])
        check("UTM 263x389, uint8 + uint16 bands", [os.path.join(tmp, "b_utm.tif"), "EPSG:32610",
              10, 0, 520000, 0, -10, 4180000, 263, 389, S2, "SCL", S2, "B4", S2, "B11"])
        check("EPSG:3857 1x701", [os.path.join(tmp, "c_3857_col.tif"), "EPSG:3857",
              30, 0, -13580010, 0, -30, 4545000, 1, 701, SRTM, "elevation"])
        check("EPSG:3857 131x97 COG", [os.path.join(tmp, "d_3857.tif"), "EPSG:3857",
              50, 0, -13590000, 0, -50, 4550000, 131, 97, SRTM, "elevation"])
        check("triangle polygon, nodata", ["--nodata", -32768, "--triangle", TA, TB, -32768,
              os.path.join(tmp, "e_triangle.tif"), "EPSG:4326"] + T_AFF + [T_W, T_H, SRTM, "elevation"])
        check("fishnet cells under a VRT", [os.path.join(tmp, "f_cells.vrt"), "EPSG:32610",
              10, 0, 520000, 0, -10, 4180000, 300, 200, S2, "B4"])
        cells = [n for n in os.listdir(tmp) if re.match(r"f_cells_r\d+_c\d+\.tif$", n)]
        if len(cells) != 6:
            fail("split cells: %d files, want 6: %s" % (len(cells), cells))
        if res["e"]["tiles_skipped"] < 1:
            fail("triangle: no tile was skipped: %s" % res["e"])
        # The faults really happened, and the run still produced exact outputs.
        faults, statuses = {}, {}
        with open(log) as f:
            for line in f:
                j = json.loads(line)
                if j.get("route") != "image.computePixels":
                    continue
                faults[j.get("fault")] = faults.get(j.get("fault"), 0) + 1
                statuses[j["status"]] = statuses.get(j["status"], 0) + 1
                if j["status"] == 400 and "memory" not in (j.get("message") or ""):
                    fail("unexpected 400: %s" % j.get("message"))
        print("faults:", faults, "statuses:", statuses)
        # Rates of 0.08 over ~65 requests make a missing fault kind a
        # < 1 % event whatever order the adaptive engine sends requests in.
        for k in ("429", "500", "503", "reset", "truncate"):
            if not faults.get(k):
                fail("no %s fault was injected; the test does not test it" % k)
        if not statuses.get(400):
            fail("no memory-limit answer; the split path was not exercised")
        left = [n for n in os.listdir(tmp) if "eefetch-" in n or n.endswith(".partial")]
        if left:
            fail("leftovers after complete runs: %s" % left)
    finally:
        server.terminate()
        server.wait()
        subprocess.run(["rm", "-rf", tmp])


main()
print("%d failure(s)" % fails)
sys.exit(1 if fails else 0)
