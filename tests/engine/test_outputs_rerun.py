"""Outputs of fishnets, and running a recipe again (CLI, in-process emulator).

1. split = true writes one GeoTIFF per cell and a VRT at `output` over them;
   the VRT opens in GDAL, reads the cells' pixels (placed by their own
   geotransforms, here in numpy) and the reference's (check_output.py).
2. split + quicklook: the preview is made from the VRT; a quick-look (or
   a VRT) that fails after the cells are complete loses nothing: the next
   run fetches no tile.
3. format = "vrt" without split cuts the fishnet on whole pixels (cells of
   720/3 x 540/2), not on 256-pixel block edges.
4. Reruns: a complete output of the same plan is skipped (exit 0, one log
   line naming it, tiles_resumed = tiles, tiles_fetched = 0, skipped = true)
   for a GeoTIFF, a COG and split cells; one of a different plan, or one
   eefetch did not write, is refused; a journal of a different plan that
   lists no finished tile (a first run that failed at its first request) is
   replaced without --overwrite.
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from osgeo import gdal

gdal.UseExceptions()
BIN = os.environ["EEFETCH_BIN"]
HERE = os.path.dirname(os.path.abspath(__file__))
S2 = "COPERNICUS/S2_SR_HARMONIZED/20230105T183751_20230105T183750_T10SEG"
AFF = [10, 0, 520000, 0, -10, 4180000]
fails = 0


reported = 0


def fail(msg):
    global fails
    fails += 1
    print("FAIL:", msg)


def passed(what):
    """Says "ok" unless something failed since the last report."""
    global reported
    if fails == reported:
        print("ok", what)
    reported = fails


RECIPE = """
local t = { image = ee.Image("%s"), crs = "EPSG:32610", crs_transform = { %s },
  dimensions = { tonumber(params.w or 300), 200 }, bands = { params.band or "B4" },
  max_tile_bytes = 128 * 128 * 3, output = params.out }
if params.rows then t.fishnet = { rows = tonumber(params.rows), cols = tonumber(params.cols) } end
if params.split then t.split = true end
if params.fmt then t.format = params.fmt end
if params.ql then t.quicklook = params.ql end
print(json.encode(download(t)))
""" % (S2, ", ".join(str(v) for v in AFF))


def run(tmp, **params):
    args = [BIN, "run", os.path.join(tmp, "r.lua"), "--emulator", "--progress", "off"]
    for k, v in params.items():
        args += ["--set", "%s=%s" % (k, v)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    res = None
    if r.returncode == 0:
        try:
            res = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            fail("no summary in %r" % r.stdout)
    return r, res


def ok_run(label, tmp, **params):
    r, res = run(tmp, **params)
    if r.returncode != 0 or res is None:
        fail("%s: exit %d: %s" % (label, r.returncode, r.stderr.strip()))
        return r, None
    return r, res


def read(path):
    ds = gdal.Open(path)
    return ds, ds.ReadAsArray()


def cells_mosaic(vrt_ds, cells):
    """The VRT's grid filled from the cell files alone, by geotransform."""
    gt = vrt_ds.GetGeoTransform()
    img = np.full((vrt_ds.RasterYSize, vrt_ds.RasterXSize), -1, dtype=np.int64)
    for c in cells:
        ds, a = read(c)
        cg = ds.GetGeoTransform()
        if cg[1] != gt[1] or cg[5] != gt[5]:
            fail("%s: pixel size %s differs from the VRT's %s" % (c, cg, gt))
        x = round((cg[0] - gt[0]) / gt[1])
        y = round((cg[3] - gt[3]) / gt[5])
        if (img[y:y + a.shape[0], x:x + a.shape[1]] != -1).any():
            fail("%s overlaps another cell" % c)
        img[y:y + a.shape[0], x:x + a.shape[1]] = a
    if (img == -1).any():
        fail("the cells leave %d pixels of the VRT uncovered" % int((img == -1).sum()))
    return img


def check_reference(label, path, w=300, h=200, band="B4"):
    r = subprocess.run([sys.executable, os.path.join(HERE, "check_output.py"), path, "EPSG:32610"]
                       + [str(v) for v in AFF] + [str(w), str(h), S2, band], capture_output=True, text=True)
    if r.returncode != 0:
        fail("%s: pixels differ from the reference: %s%s" % (label, r.stdout, r.stderr))


def no_leftovers(label, tmp):
    left = [n for n in os.listdir(tmp) if "eefetch-" in n or ".partial" in n or n.endswith(".tmp.png")]
    if left:
        fail("%s: leftovers: %s" % (label, left))


def test_split_vrt(tmp):
    out = os.path.join(tmp, "s.vrt")
    _, res = ok_run("split", tmp, out=out, rows=2, cols=3, split=1)
    if not res:
        return
    cells = sorted(glob.glob(os.path.join(tmp, "s_r*_c*.tif")))
    if len(cells) != 6:
        fail("split: %d cell files, want 6" % len(cells))
    if not os.path.exists(out):
        fail("split: no VRT at %s (the summary names it: %s)" % (out, res.get("output")))
        return
    ds, a = read(out)
    if ds.GetDriver().ShortName != "VRT" or (ds.RasterXSize, ds.RasterYSize) != (300, 200):
        fail("split: %s is %s %dx%d" % (out, ds.GetDriver().ShortName, ds.RasterXSize, ds.RasterYSize))
        return
    if not np.array_equal(a, cells_mosaic(ds, cells)):
        fail("split: the VRT's pixels differ from the cells'")
    if ds.GetRasterBand(1).GetDescription() != "B4":
        fail("split: VRT band description %r" % ds.GetRasterBand(1).GetDescription())
    check_reference("split VRT", out)
    no_leftovers("split", tmp)
    passed("split: 6 cells and a VRT over them")

    # Again: complete and of the same plan, so skipped.
    r, res = ok_run("split rerun", tmp, out=out, rows=2, cols=3, split=1)
    if res and not (res.get("skipped") is True and res["tiles_fetched"] == 0
                    and res["tiles_resumed"] == res["tiles"]):
        fail("split rerun: not skipped: %s" % res)
    # A cell removed by hand: the output is no longer complete; refused
    # rather than silently half-skipped.
    os.unlink(cells[0])
    r, _ = run(tmp, out=out, rows=2, cols=3, split=1)
    if r.returncode == 0 or os.path.basename(cells[0]) not in r.stderr:
        fail("split, a cell missing: %d %s" % (r.returncode, r.stderr))
    passed("split rerun")


def test_split_quicklook(tmp):
    out = os.path.join(tmp, "q.vrt")
    png = os.path.join(tmp, "q.png")
    _, res = ok_run("split quicklook", tmp, out=out, rows=2, cols=2, split=1, ql=png)
    if res and (not os.path.exists(png) or gdal.Open(png).RasterXSize != 300):
        fail("split quicklook: no 300-pixel-wide PNG at %s" % png)
    # A preview that cannot be written (its directory is missing) fails the
    # run after the download is complete...
    bad = os.path.join(tmp, "missing", "q2.png")
    out2 = os.path.join(tmp, "q2.vrt")
    r, _ = run(tmp, out=out2, rows=2, cols=2, split=1, ql=bad)
    if r.returncode == 0:
        fail("split quicklook into a missing directory succeeded")
    # ...and the next run (the preview path fixed) fetches nothing again.
    png2 = os.path.join(tmp, "q2.png")
    _, res = ok_run("split quicklook rerun", tmp, out=out2, rows=2, cols=2, split=1, ql=png2)
    if res and res["tiles_fetched"] != 0:
        fail("split quicklook rerun fetched %d tiles again" % res["tiles_fetched"])
    if res and not os.path.exists(png2):
        fail("split quicklook rerun: no PNG")
    no_leftovers("split quicklook", tmp)
    passed("split quicklook")


def test_vrt_failure(tmp):
    """The VRT cannot be written (a directory holds its temporary name):
    the run fails with the cells complete, and keeps its journal and
    stored tiles, so the next run writes the VRT with nothing fetched."""
    out = os.path.join(tmp, "f.vrt")
    os.makedirs(out + ".partial/x")
    r, _ = run(tmp, out=out, rows=2, cols=2, split=1)
    if r.returncode == 0 or "cannot write the VRT" not in r.stderr or os.path.exists(out):
        fail("VRT failure: %d %s" % (r.returncode, r.stderr))
    subprocess.run(["rm", "-rf", out + ".partial"])
    _, res = ok_run("VRT failure, rerun", tmp, out=out, rows=2, cols=2, split=1)
    if res and (res["tiles_fetched"] != 0 or res["tiles_resumed"] != res["tiles"] or not os.path.exists(out)):
        fail("VRT failure, rerun: %s" % res)
    check_reference("VRT failure, rerun", out)
    no_leftovers("VRT failure", tmp)
    passed("a VRT that fails keeps the cells: the rerun fetches nothing")


def test_vrt_cells_follow_fishnet(tmp):
    out = os.path.join(tmp, "v.vrt")
    _, res = ok_run("vrt", tmp, out=out, rows=2, cols=3, fmt="vrt", w=720)
    if not res:
        return
    sizes = {}
    for c in glob.glob(os.path.join(tmp, "v_r*_c*.tif")):
        ds = gdal.Open(c)
        sizes[os.path.basename(c)] = (ds.RasterXSize, ds.RasterYSize)
    want = {"v_r%d_c%d.tif" % (r, c): (240, 100) for r in range(2) for c in range(3)}
    if sizes != want:
        fail("format = vrt: cells %s, want %s" % (sorted(sizes.items()), sorted(want.items())))
    else:
        passed("format = vrt: cells follow the fishnet")
    ds, a = read(out)
    if not np.array_equal(a, cells_mosaic(ds, sorted(glob.glob(os.path.join(tmp, "v_r*_c*.tif"))))):
        fail("format = vrt: VRT pixels differ from the cells'")
    check_reference("format = vrt", out, w=720)


def test_reruns(tmp):
    for label, extra in (("gtiff", {}), ("cog", {"fmt": "cog"})):
        out = os.path.join(tmp, "re_%s.tif" % label)
        _, first = ok_run(label, tmp, out=out, **extra)
        if not first:
            continue
        mtime = os.stat(out).st_mtime_ns
        r, res = ok_run(label + " rerun", tmp, out=out, **extra)
        if not res:
            continue
        if not (res.get("skipped") is True and res["tiles_fetched"] == 0 and res["tiles_resumed"] == res["tiles"]
                and res["tiles"] == first["tiles"] and res["requests"] == 0):
            fail("%s rerun: summary %s" % (label, res))
        lines = [ln for ln in r.stderr.splitlines() if out in ln]
        if len(lines) != 1 or "skip" not in lines[0]:
            fail("%s rerun: want one log line naming the output, got %r" % (label, r.stderr))
        if os.stat(out).st_mtime_ns != mtime:
            fail("%s rerun: the output was rewritten" % label)
        # A different plan (another band): refused, the file kept.
        r, _ = run(tmp, out=out, band="B3", **extra)
        if r.returncode == 0 or "different plan" not in r.stderr or "overwrite" not in r.stderr:
            fail("%s, different plan: %d %s" % (label, r.returncode, r.stderr))
        if os.stat(out).st_mtime_ns != mtime:
            fail("%s, different plan: the output was touched" % label)
        passed("%s rerun" % label)

    # A file eefetch did not write (no provenance) is refused.
    out = os.path.join(tmp, "foreign.tif")
    gdal.Translate(out, os.path.join(tmp, "re_gtiff.tif"), options="-co PROFILE=BASELINE")
    ds = gdal.Open(out, gdal.GA_Update)
    ds.SetMetadata({})
    ds = None
    r, _ = run(tmp, out=out)
    if r.returncode == 0 or "not written by eefetch" not in r.stderr:
        fail("foreign file: %d %s" % (r.returncode, r.stderr))
    else:
        passed("a file eefetch did not write is refused")

    # A first run that fails at its first request leaves a journal with no
    # finished tile; the fixed recipe (another plan) simply replaces it.
    # The failure: a server whose every computation runs out of memory
    # (the recipe itself passes every check made before the first tile).
    out = os.path.join(tmp, "fixed.tif")
    srv = subprocess.Popen([BIN, "serve", "--port", "0", "--no-auth", "--memory-limit", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", srv.stdout.readline()).group(1)
        args = [BIN, "run", os.path.join(tmp, "r.lua"), "--endpoint", url, "--project", "p", "--progress", "off",
                "--set", "out=" + out, "--set", "band=B3"]
        r = subprocess.run(args, capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, EEFETCH_TOKEN_URI="", EE_ACCESS_TOKEN="unused"))
    finally:
        srv.kill()
        srv.wait()
    if r.returncode == 0 or not os.path.exists(out + ".eefetch-journal"):
        fail("memory-limited run: want a failure that leaves a journal: %d %s" % (r.returncode, r.stderr))
    _, res = ok_run("fixed recipe", tmp, out=out)
    if res and res["tiles_fetched"] != res["tiles"]:
        fail("fixed recipe: %s" % res)
    check_reference("fixed recipe", out)
    no_leftovers("reruns", tmp)
    passed("a journal of another plan with no finished tile is replaced")


def main():
    tmp = tempfile.mkdtemp(prefix="eefetch-outputs.")
    try:
        with open(os.path.join(tmp, "r.lua"), "w") as f:
            f.write(RECIPE)
        test_split_vrt(tmp)
        test_split_quicklook(tmp)
        test_vrt_failure(tmp)
        test_vrt_cells_follow_fishnet(tmp)
        test_reruns(tmp)
    finally:
        subprocess.run(["rm", "-rf", tmp])
    print("%d failure(s)" % fails)
    return 1 if fails else 0


sys.exit(main())
