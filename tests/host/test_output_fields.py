"""What an output says of itself, read back with GDAL, and what JSON
progress events say of their download:

- one image's properties as metadata items (EE_ID, EE_INDEX, EE_DATE in
  ISO 8601 from system:time_start, then every scalar property), checked
  against tests/emulator/reference.py's catalog;
- red/green/blue colour interpretation when the first three bands are the
  image's visible bands (S2 B4, B3, B2), none otherwise or with rgb = false;
- band descriptions in the VRT of a fishnet and in each cell;
- band_scale / band_offset as each band's GDAL scale and offset and in the
  STAC item's raster:bands;
- every --progress json event names its output, the download's number in
  the recipe and its line;
- every pixel request carries EE's workloadTag: the recipe's file name by
  default, the recipe's own with workload_tag, none with false.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

from osgeo import gdal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulator"))
import emulib  # noqa: E402
import reference as ref  # noqa: E402
from emulib import report, run_each  # noqa: E402

BIN = os.environ["EEFETCH_BIN"]
S2_POINT = "ee.Geometry.Point({-121.695, 37.305})"
RECIPE = """
download{ image = ee.Image("USGS/SRTMGL1_003"), region = {-122.5, 37.7, -122.45, 37.75},
          fishnet = {rows = 2, cols = 2}, format = "vrt", output = "dem.vrt" }
download{ image = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED"):filterBounds(%s):first(),
          region = {-121.70, 37.30, -121.69, 37.31}, bands = {"B4", "B3", "B2"}, output = "rgb.tif" }
download{ image = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED"):filterBounds(%s):first(),
          region = {-121.70, 37.30, -121.69, 37.31}, bands = {"B4", "B3", "B2"}, rgb = false,
          output = "plain.tif" }
download{ image = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED"):filterBounds(%s):first(),
          region = {-121.70, 37.30, -121.69, 37.31}, bands = {"B8", "B4", "B3"}, output = "cir.tif",
          band_scale = 0.0001, band_offset = {B4 = -0.1} }
""" % (S2_POINT, S2_POINT, S2_POINT)


def interps(path):
    ds = gdal.Open(path)
    return [gdal.GetColorInterpretationName(ds.GetRasterBand(i + 1).GetColorInterpretation())
            for i in range(ds.RasterCount)]


def first_s2():
    """The first 10SFG scene of the catalog (the filterBounds(...):first() above)."""
    return [m for m in ref.collection(ref.S2) if m["id"].endswith("T10SFG")][0]


def properties(d):
    md = gdal.Open(os.path.join(d, "rgb.tif")).GetMetadata()
    m = first_s2()
    want = {"EE_ID": m["id"], "EE_INDEX": m["id"].split("/")[-1],
            "EE_DATE": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m["start_ms"] / 1000)),
            "system_time_start": str(m["start_ms"])}
    for k, v in ref.properties(m["id"]).items():
        if not isinstance(v, (dict, list)) and not k.startswith("system:"):
            want[k] = str(int(v)) if isinstance(v, float) and v == int(v) else str(v)
    bad = {k: (md.get(k), v) for k, v in want.items() if md.get(k) != v}
    assert not bad, "metadata differs (got, want): %r" % bad
    dem = gdal.Open(os.path.join(d, "dem.vrt")).GetMetadata()
    assert dem.get("EE_ID") == "USGS/SRTMGL1_003" and dem.get("EE_DATE") == "2000-02-11T00:00:00Z", dem
    print("ok properties: %d items of the image's metadata, as the catalog has them" % len(want))


def colours(d):
    got = {n: interps(os.path.join(d, n)) for n in ("rgb.tif", "plain.tif", "cir.tif")}
    assert got["rgb.tif"] == ["Red", "Green", "Blue"], got
    assert got["plain.tif"][0] != "Red" and got["cir.tif"][0] != "Red", got
    print("ok colours: B4, B3, B2 are red, green, blue; rgb = false and B8, B4, B3 are not")


def scales(d):
    """band_scale / band_offset as GDAL's scale and offset, and in STAC."""
    ds = gdal.Open(os.path.join(d, "cir.tif"))
    got = [(ds.GetRasterBand(i + 1).GetScale(), ds.GetRasterBand(i + 1).GetOffset()) for i in range(3)]
    assert got == [(0.0001, 0.0), (0.0001, -0.1), (0.0001, 0.0)], got
    rgb = gdal.Open(os.path.join(d, "rgb.tif"))
    assert rgb.GetRasterBand(1).GetScale() in (None, 1.0), "a band with no scale stated has one"
    with open(os.path.join(d, "cir.json")) as f:
        bands = json.load(f)["assets"]["data"]["raster:bands"]
    assert [(b.get("scale"), b.get("offset")) for b in bands] == [(0.0001, 0), (0.0001, -0.1), (0.0001, 0)], bands
    print("ok scales: band_scale and band_offset in the GeoTIFF and its STAC item")


def band_names(d):
    for name in ["dem.vrt"] + ["dem_r%d_c%d.tif" % (r, c) for r in range(2) for c in range(2)]:
        ds = gdal.Open(os.path.join(d, name))
        assert ds.GetRasterBand(1).GetDescription() == "elevation", name
    print("ok band names: the VRT and its four cells name their band")


def events(out):
    evs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert evs, "no JSON events"
    want_line = {"dem.vrt": 2, "rgb.tif": 4, "plain.tif": 6, "cir.tif": 9}
    seen = set()
    for ev in evs:
        o = ev.get("output")
        o = os.path.basename(o) if isinstance(o, str) else o
        if o not in want_line or ev.get("line") != want_line[o] or \
                ev.get("download") != list(want_line).index(o) + 1:
            raise AssertionError("event without its download: %r" % ev)
        seen.add(o)
    assert seen == set(want_line), seen
    assert sum(1 for ev in evs if ev["event"] == "finished") == 4
    print("ok events: %d JSON events, each with its output, download number and line" % len(evs))


TAG_RECIPE = """
download{ image = ee.Image("USGS/SRTMGL1_003"), region = {-122.5, 37.7, -122.45, 37.75}, output = "a.tif" }
download{ image = ee.Image("USGS/SRTMGL1_003"), region = {-122.5, 37.7, -122.45, 37.75}, output = "b.tif",
          workload_tag = "team-a" }
download{ image = ee.Image("USGS/SRTMGL1_003"), region = {-122.5, 37.7, -122.45, 37.75}, output = "c.tif",
          workload_tag = false }
"""


def workload_tags(d):
    rec = os.path.join(d, "My Recipe 2.lua")
    with open(rec, "w") as f:
        f.write(TAG_RECIPE)
    log = os.path.join(d, "tags.jsonl")
    with emulib.Emulator("--no-auth", "--request-log", log) as emu:
        r = subprocess.run([BIN, "run", rec, "--endpoint", emu.url, "--project", "p", "--progress", "off"],
                           capture_output=True, text=True, cwd=d, timeout=120)
        assert r.returncode == 0, r.stderr
    with open(log) as f:
        reqs = [json.loads(line) for line in f]
    tags = [q.get("workloadTag") for q in reqs if q.get("route") == "image.computePixels"]
    assert tags == ["my-recipe-2", "team-a", None], tags
    print("ok workload tags: %r" % tags)


def main():
    fails = []
    with tempfile.TemporaryDirectory(prefix="eefetch-fields-") as d:
        rec = os.path.join(d, "fields.lua")
        with open(rec, "w") as f:
            f.write(RECIPE)
        r = subprocess.run([BIN, "run", rec, "--emulator", "--progress", "json"], capture_output=True,
                           text=True, cwd=d, timeout=300)
        if r.returncode != 0:
            print(r.stdout, r.stderr)
            return 1
        run_each([properties, colours, band_names, scales], fails, d)
        run_each([events], fails, r.stderr)
        run_each([workload_tags], fails, d)
    return report(fails)


if __name__ == "__main__":
    sys.exit(main())
