#!/usr/bin/env python3
"""Makespan splits, end to end (docs/engine.md, "Makespan").

A 2048 x 2048 int16 download is one planned tile (a band of unknown type
counts 8 bytes + 1, so the tile is about 38 MB of EE's 48 MiB). With 4
workers and nothing else to do, 3 slots would idle while it runs alone, so
the engine requests it in four 1024 x 1024 parts. Checked from the
emulator's request log: 4 answered requests, each a quarter, together
covering the grid exactly once; the summary's makespan_splits is 1; every
pixel equals reference.py's. The same recipe with max_tile_bytes gets its
one planned tile as one request (a user's tiling is kept), and the parts'
floor: a grid whose quarters would be under 2 MiB is one request.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from osgeo import gdal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reliability"))
sys.path.insert(0, os.path.join(HERE, "..", "emulator"))
import rellib  # noqa: E402
import reference as ref  # noqa: E402

gdal.UseExceptions()


def recipe(path, out, n, extra=""):
    a = rellib.AFFINE
    with open(path, "w") as f:
        f.write("""local r = download{
  image = ee.Image("%s"), bands = { "%s" }, crs = "%s",
  crs_transform = { %.17g, %.17g, %.17g, %.17g, %.17g, %.17g },
  dimensions = { %d, %d }, workers = 4, nodata = false, output = "%s",%s
}
print("SUMMARY " .. json.encode(r))
""" % (rellib.IMAGE, rellib.BAND, rellib.CRS, *a, n, n, out, extra))


def run_case(tmp, name, n, extra=""):
    d = os.path.join(tmp, name)
    os.mkdir(d)
    out, log, rec = os.path.join(d, "out.tif"), os.path.join(d, "req.jsonl"), os.path.join(d, "r.lua")
    recipe(rec, out, n, extra)
    with rellib.server(log) as emu:
        p = subprocess.run(rellib.run_args(rec, emu), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=300)
    text = p.stdout.decode("utf-8", "replace")
    summary = {}
    for line in text.splitlines():
        if line.startswith("SUMMARY "):
            summary = json.loads(line[8:])
    reqs = [r for r in rellib.pixel_requests(rellib.read_log(log)) if r.get("status") == 200]
    return p.returncode, text, summary, reqs, out


def main():
    t = rellib.Checker()
    tmp = tempfile.mkdtemp(prefix="eefetch-makespan-")
    try:
        n = 2048
        rc, text, summary, reqs, out = run_case(tmp, "split", n)
        t.check(rc == 0, "split run: exit %d: %s" % (rc, text[-1500:]))
        t.check(summary.get("tiles") == 1, "one planned tile, got %s" % summary.get("tiles"))
        t.check(summary.get("makespan_splits") == 1, "makespan_splits %s, want 1" % summary.get("makespan_splits"))
        wins = sorted(rellib.window(r) for r in reqs)
        t.check(wins == sorted([(0, 0, 1024, 1024), (1024, 0, 1024, 1024), (0, 1024, 1024, 1024),
                                (1024, 1024, 1024, 1024)]),
                "requests %s, want the four quarters" % wins)
        if rc == 0:
            vals, mask = ref.sample(rellib.IMAGE, rellib.BAND, rellib.CRS, rellib.AFFINE, n, n)
            want = np.where(mask, vals, 0.0)
            ds = gdal.Open(out)   # kept: a band outlives no dataset
            got = ds.GetRasterBand(1).ReadAsArray().astype(np.float64)
            ds = None
            bad = int((got != want).sum())
            t.check(bad == 0, "%d of %d pixels differ from reference.py" % (bad, n * n))

        rc, text, summary, reqs, _ = run_case(tmp, "user_tiles", n, " max_tile_bytes = 48000000,")
        t.check(rc == 0, "max_tile_bytes run: exit %d: %s" % (rc, text[-1500:]))
        t.check(len(reqs) == 1 and summary.get("makespan_splits") == 0,
                "max_tile_bytes: %d requests, makespan_splits %s; want 1 and 0" % (len(reqs),
                                                                                summary.get("makespan_splits")))

        # 768 x 768 x 9 bytes = 5.3 MB: its quarters would be under 2 MiB.
        rc, text, summary, reqs, _ = run_case(tmp, "small", 768)
        t.check(rc == 0 and len(reqs) == 1 and summary.get("makespan_splits") == 0,
                "small tile: exit %d, %d requests, makespan_splits %s; want one whole request" % (
                    rc, len(reqs), summary.get("makespan_splits")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
