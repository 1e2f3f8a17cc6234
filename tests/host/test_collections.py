"""download{ collection = ... }: a year of Sentinel-2 scenes over a small
area (recipes/s2_year_series.lua, 73 images of tile 10SFG) against the
emulator, in each layout, with every image's pixels computed here from
tests/emulator/reference.py (nearest-neighbour sampling of each scene on the
output grid; masked pixels must be nodata):

- files: one GeoTIFF per image, named by date, with the image's properties;
- stack: one GeoTIFF, bands "<band>_<date>" in collection order;
- the job keeps requests in flight across image boundaries (request log:
  the in-flight count never drops to zero between the first request and
  the last);
- SIGKILL mid-way and a rerun: no tile the journal had is fetched again
  and the output is the same;
- cube: a Zarr store and a NetCDF file that xarray opens with (time, y, x)
  variables, pixel-centre coordinates, the images' times and _FillValue
  masking, every value against the reference;
- STAC: an Item beside each file (datetime, proj:*, raster:bands, the
  image's properties) and a Collection listing them;
- pinned recipes: plan --lock, then --locked takes exactly the locked
  images; a locked image missing from the server is an error naming it.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
from osgeo import gdal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulator"))
import emulib  # noqa: E402
import recipe_check as rc  # noqa: E402
from emulib import report, run_each  # noqa: E402
from recipe_check import ref  # noqa: E402

BIN = os.environ["EEFETCH_BIN"]
RECIPE = os.path.join(os.environ["EEFETCH_SRC"], "recipes", "s2_year_series.lua")
BANDS = ["B2", "B3", "B4", "B8"]
NODATA = -2147483648          # uint16 bands: int32 with its minimum (docs/recipes.md)
T0, T1 = 1672531200000, 1704067200000   # 2023


AREA = (-121.70, 37.30, -121.67, 37.32)


def scenes():
    """The S2 images the recipe's filters select, in collection order."""
    out = []
    for m in ref.collection(ref.S2):
        if not (T0 <= m["start_ms"] < T1):
            continue
        if "10SFG" in m["id"]:      # the area lies in 10SFG only (checked below by the count)
            out.append(m)
    return out


def args(emu, cwd, *extra):
    # The shipped recipe's relative outputs would land in its own folder
    # (the source tree): --output-dir puts them in the test's folder.
    return [BIN, "run", RECIPE, "--endpoint", emu.url, "--project", "coll-project", "--progress", "off",
            "--output-dir", cwd, *extra]


def run(emu, cwd, *extra, ok=True):
    r = subprocess.run(args(emu, cwd, *extra), capture_output=True, text=True, timeout=600, cwd=cwd)
    if ok:
        assert r.returncode == 0, "run failed: %s%s" % (r.stdout, r.stderr)
    return r


def want(image_id, band, gt, w, h):
    v, m = ref.sample(image_id, band, "EPSG:32610", rc.ee_affine(gt), w, h)
    return np.where(m, v, np.nan)


def check_image_bands(data, nodata, gt, image_id, what):
    h, w = data.shape[1:]
    # pixels safely inside the lon/lat rectangle (outside it they are nodata)
    keep = rc.inner(AREA, gt, w, h, 32610)
    fails = []
    for i, band in enumerate(BANDS):
        fails += rc.compare(data[i], nodata, want(image_id, band, gt, w, h), keep, "%s %s" % (what, band))
    return fails


def pixel_log(log):
    out = []
    with open(log) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("route") == "image.computePixels":
                out.append(r)
    return out


def files_layout(emu, log, d):
    imgs = scenes()
    n0 = len(pixel_log(log))
    r = run(emu, d)
    assert "%d images" % len(imgs) in r.stdout, r.stdout
    fails = []
    for m in imgs:
        date = time.strftime("%Y-%m-%d", time.gmtime(m["start_ms"] / 1000))
        path = os.path.join(d, "s2_%s.tif" % date)
        data, nodata, gt, names = rc.read(path)
        assert names == BANDS, names
        assert nodata == NODATA, nodata
        md = gdal.Open(path).GetMetadata()
        if md.get("EE_ID") != m["id"] or md.get("MGRS_TILE") != "10SFG" or \
                md.get("EE_DATE") != time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m["start_ms"] / 1000)):
            fails.append("%s: metadata %r" % (path, {k: md.get(k) for k in ("EE_ID", "EE_DATE", "MGRS_TILE")}))
        fails += check_image_bands(data, nodata, gt, m["id"], os.path.basename(path))
    assert not fails, "; ".join(fails[:5])
    print("ok files: %d images, every pixel of every band matches the reference" % len(imgs))

    # In flight across image boundaries: one request per image here, each
    # held 250 ms by the server. Sequential per-image downloads would leave
    # the server idle at every image boundary; one job keeps requests in
    # flight throughout (short idle moments come from journal fsyncs of
    # answers that land together, not from image boundaries).
    reqs = [q for q in pixel_log(log)[n0:] if q.get("status") == 200]
    assert len(reqs) == len(imgs), "%d pixel requests for %d images" % (len(reqs), len(imgs))
    spans = []
    for q in reqs:
        end = time.mktime(time.strptime(q["time"][:19], "%Y-%m-%dT%H:%M:%S")) + float("0." + q["time"][20:23])
        spans.append((end - q["ms"] / 1000.0, end))
    spans.sort()
    reach, idle = spans[0][1], 0.0
    for s, e in spans[1:]:
        idle += max(0.0, s - reach)
        reach = max(reach, e)
    span = reach - spans[0][0]
    busy = sum(e - s for s, e in spans)
    peak = max(sum(1 for s2, e2 in spans if s2 <= s < e2) for s, _ in spans)
    # Per-image downloads one after the other would average one request in
    # flight and idle at every boundary; this job averages several (8
    # workers) and is idle for moments at most (a loaded machine's fsyncs).
    print("concurrency: %d requests in %.2f s, idle %.3f s, mean %.1f and up to %d in flight" % (
        len(reqs), span, idle, busy / span, peak))
    assert idle < 0.2 * span, "no request in flight for %.3f s of %.3f s" % (idle, span)
    assert busy / span >= 3 and peak >= 6, "mean %.1f, at most %d requests in flight" % (busy / span, peak)
    print("ok concurrency")

    # STAC: an Item per file and a Collection over them.
    with open(os.path.join(d, "s2_collection.json")) as f:
        coll = json.load(f)
    items = [lk["href"] for lk in coll["links"] if lk["rel"] == "item"]
    assert coll["type"] == "Collection" and len(items) == len(imgs), "collection lists %d items" % len(items)
    for m, href in zip(imgs, items):
        with open(os.path.join(d, href)) as f:
            it = json.load(f)
        p = it["properties"]
        asset = it["assets"]["data"]
        date = time.strftime("%Y-%m-%d", time.gmtime(m["start_ms"] / 1000))
        want_dt = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m["start_ms"] / 1000))
        if (p["datetime"] != want_dt or asset["href"] != "s2_%s.tif" % date or p.get("proj:epsg") != 32610
                or p.get("EE_ID") != m["id"] or p.get("MGRS_TILE") != "10SFG"
                or [b["data_type"] for b in asset["raster:bands"]] != ["int32"] * 4
                or any(b["nodata"] != NODATA for b in asset["raster:bands"])
                or [b["name"] for b in asset["eo:bands"]] != BANDS):
            raise AssertionError("STAC item %s: %r" % (href, it))
    print("ok STAC: a Collection of %d Items, each with the image's date, properties and bands" % len(items))

    # A second run: every file is there, of this plan; nothing is fetched.
    n1 = len(pixel_log(log))
    r = run(emu, d)
    assert len(pixel_log(log)) == n1, "a rerun of a finished job fetched again"


def stack_layout(emu, log, d):
    imgs = scenes()
    out = os.path.join(d, "stack.tif")
    run(emu, d, "--set", "layout=stack", "--set", "out=" + out)
    data, nodata, gt, names = rc.read(out)
    wnames = []
    for m in imgs:
        date = time.strftime("%Y-%m-%d", time.gmtime(m["start_ms"] / 1000))
        wnames += ["%s_%s" % (b, date) for b in BANDS]
    assert names == wnames, "band names %r..." % names[:6]
    fails = []
    for k, m in enumerate(imgs):
        fails += check_image_bands(data[4 * k:4 * k + 4], nodata, gt, m["id"], "stack image %d" % k)
    ids = gdal.Open(out).GetMetadataItem("EE_IMAGE_IDS").split(",")
    if ids != [m["id"] for m in imgs]:
        fails.append("EE_IMAGE_IDS %r..." % ids[:2])
    assert not fails, "; ".join(fails[:5])
    print("ok stack: %d bands named <band>_<date>, every pixel matches the reference" % len(names))
    return out


def cube_layout(emu, d):
    import xarray as xr

    imgs = scenes()
    for name, opener in (("s2.zarr", xr.open_zarr), ("s2.nc", xr.open_dataset)):
        out = os.path.join(d, name)
        run(emu, d, "--set", "layout=cube", "--set", "out=" + out)
        ds = opener(out)
        try:
            assert list(ds.data_vars) == BANDS, list(ds.data_vars)
            assert ds["B2"].dims == ("time", "y", "x"), ds["B2"].dims
            times = ds["time"].values.astype("datetime64[ms]").astype(np.int64)
            assert list(times) == [m["start_ms"] for m in imgs], "times %r" % times[:3]
            x, y = ds["x"].values, ds["y"].values
            # pixel centres, 10 m apart: the geotransform of the grid
            gt = (x[0] - 5.0, 10.0, 0.0, y[0] + 5.0, 0.0, -10.0)
            assert np.allclose(np.diff(x), 10) and np.allclose(np.diff(y), -10), "coordinates"
            assert "grid_mapping" in ds["B2"].attrs or "grid_mapping" in ds["B2"].encoding, "no grid_mapping"
            h, w = len(y), len(x)
            keep = rc.inner(AREA, gt, w, h, 32610)
            fails = []
            for k, m in enumerate(imgs):
                for band in BANDS:
                    got = ds[band].isel(time=k).values
                    ref_ = want(m["id"], band, gt, w, h)
                    ok = np.where(np.isnan(ref_), np.isnan(got), got == ref_)
                    if not ok[keep].all():
                        fails.append("%s %s image %d: %d pixels differ" % (name, band, k, int((~ok[keep]).sum())))
            assert not fails, "; ".join(fails[:4])
        finally:
            ds.close()
        print("ok cube %s: %d times x %d variables, coordinates and every pixel match" % (name, len(imgs),
                                                                                           len(BANDS)))


ERROR_CASES = [
    # (what, recipe body, text the error must contain)
    ("empty collection",
     'download{ collection = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED"):filterDate("2030-01-01", '
     '"2030-02-01"), region = {-121.70, 37.30, -121.69, 37.31}, output = "e_{date}.tif" }',
     "the collection is empty"),
    ("no field in the template",
     'download{ collection = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED"):filterDate("2023-01-01", '
     '"2023-01-11"), region = {-121.70, 37.30, -121.69, 37.31}, bands = {"B2"}, output = "same.tif" }',
     "names each image's file by a template"),
    ("two images on one path",
     'download{ collection = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED"):filterDate("2023-01-01", '
     '"2023-01-11"):filter(ee.Filter.eq("MGRS_TILE", "10SFG")), region = {-121.70, 37.30, -121.69, 37.31}, '
     'bands = {"B2"}, output = "s2_{MGRS_TILE}.tif" }',
     "would both be written to"),
    ("a band one image lacks",
     'download{ collection = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED"):filterDate("2023-01-01", '
     '"2023-01-11"), region = {-121.70, 37.30, -121.69, 37.31}, bands = {"B2", "NDVI"}, output = "x_{n}.tif" }',
     "has no band 'NDVI'"),
    ("no time for {date}",
     'download{ collection = ee.ImageCollection({ee.Image(1), ee.Image(2)}), crs = "EPSG:32610", scale = 10, '
     'region = {-121.70, 37.30, -121.69, 37.31}, output = "c_{date}.tif" }',
     "has no system:time_start"),
    ("no time for a cube",
     'download{ collection = ee.ImageCollection({ee.Image(1), ee.Image(2)}), layout = "cube", '
     'crs = "EPSG:32610", scale = 10, region = {-121.70, 37.30, -121.69, 37.31}, output = "c.zarr" }',
     "a datacube's time axis needs one"),
    ("image and collection",
     'download{ image = ee.Image(1), collection = ee.ImageCollection({ee.Image(1)}), output = "x.tif", '
     'region = {0, 0, 1, 1} }',
     "either 'image' or 'collection'"),
]


def errors(emu, d):
    fails = []
    for what, body, text in ERROR_CASES:
        rec = os.path.join(d, "bad.lua")
        with open(rec, "w") as f:
            f.write(body + "\n")
        r = subprocess.run([BIN, "run", rec, "--endpoint", emu.url, "--project", "p", "--progress", "off"],
                           capture_output=True, text=True, cwd=d, timeout=120)
        if r.returncode == 0 or text not in r.stderr or "bad.lua:1:" not in r.stderr:
            fails.append("%s: status %d, stderr %r" % (what, r.returncode, r.stderr[-300:]))
    assert not fails, "; ".join(fails)
    print("ok errors: %d bad collection downloads each refused with the line and the reason" % len(ERROR_CASES))


def kill_and_resume(d, expected):
    """The stack again, killed once the server has answered some tiles."""
    log = os.path.join(d, "kill.jsonl")
    out = os.path.join(d, "killed.tif")
    with emulib.Emulator("--no-auth", "--request-log", log, "--latency-ms", 100) as emu:
        p = subprocess.Popen(args(emu, d, "--set", "layout=stack", "--set", "out=" + out,
                                  "--set", "tile_bytes=1500000"),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=d)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and \
                sum(1 for q in pixel_log(log) if q.get("status") == 200) < 10:
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
        p.wait()
        journal = out + ".eefetch-journal"
        assert os.path.exists(journal) and not os.path.exists(out), "no journal after the kill"
        before = sum(1 for q in pixel_log(log) if q.get("status") == 200)
        run(emu, d, "--set", "layout=stack", "--set", "out=" + out, "--set", "tile_bytes=1500000")
        total = sum(1 for q in pixel_log(log) if q.get("status") == 200)
    planned = workers = None
    with emulib.Emulator("--no-auth") as emu:
        r = subprocess.run([BIN, "plan", RECIPE, "--endpoint", emu.url, "--project", "p", "--json", "--output-dir", d,
                            "--set", "layout=stack", "--set", "out=" + out, "--set", "tile_bytes=1500000"],
                           capture_output=True, text=True, cwd=d)
        for line in r.stdout.splitlines():
            if line.startswith("{"):
                planned = json.loads(line).get("requests_planned")
                workers = json.loads(line).get("concurrency")
    assert planned, "no plan (status %d): %s%s" % (r.returncode, r.stdout[-300:], r.stderr[-500:])
    refetched = total - planned
    # Only tiles in flight at the kill (answered but not yet journaled) may
    # be fetched twice: at most the workers' count (the plan's concurrency).
    assert workers and 0 <= refetched <= workers, \
        "%d of at most %s tiles fetched twice (planned %d, fetched %d, %d before the kill)" % (
            refetched, workers, planned, total, before)
    assert rc.read(out)[0].tobytes() == rc.read(expected)[0].tobytes(), "the resumed stack differs"
    print("ok kill -9 after %d of %d tiles: resumed, %d fetched twice, same pixels" % (
        before, planned, refetched))


def lock(d):
    rec = os.path.join(d, "pinned.lua")
    with open(RECIPE) as f:
        text = f.read()
    with open(rec, "w") as f:
        f.write(text)
    lockfile = os.path.join(d, "pinned.lock")
    with emulib.Emulator("--no-auth", "--catalog-until", "2023-06-30") as emu:
        r = subprocess.run([BIN, "plan", rec, "--lock", "--endpoint", emu.url, "--project", "p",
                            "--set", "layout=stack", "--set", "out=locked.tif"],
                           capture_output=True, text=True, cwd=d)
        assert r.returncode == 0, r.stdout + r.stderr
    with open(lockfile) as f:
        locked = json.load(f)["downloads"][0]["images"]
    want_ids = [m["id"] for m in scenes() if m["start_ms"] < 1688169600000]
    assert [x["id"] for x in locked] == want_ids, "locked %d images, want %d" % (len(locked), len(want_ids))
    # The full catalog (images up to December): --locked takes the locked ones.
    with emulib.Emulator("--no-auth") as emu:
        r = subprocess.run([BIN, "run", rec, "--locked", "--endpoint", emu.url, "--project", "p",
                            "--progress", "off", "--set", "layout=stack", "--set", "out=locked.tif"],
                           capture_output=True, text=True, cwd=d)
        assert r.returncode == 0, r.stdout + r.stderr
        ids = gdal.Open(os.path.join(d, "locked.tif")).GetMetadataItem("EE_IMAGE_IDS").split(",")
        assert ids == want_ids, "--locked downloaded %d images, want the %d locked" % (len(ids), len(want_ids))
    # A catalog that lacks some locked images: an error naming the first.
    with emulib.Emulator("--no-auth", "--catalog-until", "2023-03-31") as emu:
        r = subprocess.run([BIN, "run", rec, "--locked", "--endpoint", emu.url, "--project", "p",
                            "--progress", "off", "--set", "layout=stack", "--set", "out=locked.tif",
                            "--overwrite"],
                           capture_output=True, text=True, cwd=d)
        first_gone = [i for i in want_ids if i.split("/")[-1] >= "20230401"][0]
        assert r.returncode != 0 and "locked image %s no longer exists" % first_gone in r.stderr, r.stderr
        assert os.path.exists(os.path.join(d, "locked.tif")), "the refused run removed the earlier output"
    print("ok lock: %d images pinned; --locked ignores newer ones; a missing one is named" % len(want_ids))


def main():
    fails = []
    assert len(scenes()) == 73
    with tempfile.TemporaryDirectory(prefix="eefetch-coll-") as d:
        log = os.path.join(d, "requests.jsonl")
        with emulib.Emulator("--no-auth", "--request-log", log, "--latency-ms", 250) as emu:
            run_each([files_layout], fails, emu, log, d)
            run_each([cube_layout], fails, emu, d)
            run_each([errors], fails, emu, d)
            stack = None
            try:
                stack = stack_layout(emu, log, d)
            except Exception as exc:
                fails.append("stack_layout: %r" % exc)
                print("FAIL: stack_layout: %r" % exc, file=sys.stderr)
        if stack:
            run_each([kill_and_resume], fails, d, stack)
        run_each([lock], fails, d)
    return report(fails)


if __name__ == "__main__":
    sys.exit(main())
