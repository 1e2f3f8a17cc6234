"""Helpers of the CLI-level reliability suite (tests/reliability/test_*.py).

Every scenario downloads the same small multi-tile image with `eefetch run`
against `eefetch serve` on loopback: SRTM elevation on an exact 512 x 512
EPSG:4326 grid (aligned with the native one, so no sample is a tie) where the emulator's synthetic terrain varies (about 1600
distinct values), cut into tens of tiles by a small max_tile_bytes. Pixels
are checked against tests/emulator/reference.py (check_output.py), requests
against the server's request log.
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("EEFETCH_SRC", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "emulator"))
import emulib  # noqa: E402

BIN = emulib.binary()
IMAGE, BAND = "USGS/SRTMGL1_003", "elevation"
CRS = "EPSG:4326"
S = 1.0 / 3600
AFFINE = [S, 0.0, 94.0 - S / 2, 0.0, -S, 28.05 + S / 2]   # on native pixel edges; EE order: scaleX shearX translateX shearY scaleY translateY
W = H = 512
MAX_TILE_BYTES = 49152                       # int16 + mask byte: 56 tiles of at most 128 x 128
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:", "Segmentation fault", "core dumped")


def recipe(path, output, workers=4, max_tile_bytes=MAX_TILE_BYTES, compression="default", fmt="gtiff"):
    """Writes the recipe to path; output is relative to the recipe or absolute."""
    text = """local dem = ee.Image("%s")
download{
  image = dem, bands = { "%s" }, crs = "%s",
  crs_transform = { %.17g, %.17g, %.17g, %.17g, %.17g, %.17g },
  dimensions = { %d, %d }, max_tile_bytes = %d, workers = %d,
  compression = "%s", format = "%s", output = "%s",
  nodata = false,   -- one band per request: the windows below are the tiles (test_engine covers mask bands)
}
""" % (IMAGE, BAND, CRS, *AFFINE, W, H, max_tile_bytes, workers, compression, fmt, output)
    with open(path, "w") as f:
        f.write(text)
    return path


def server(log, *extra):
    """An emulator (context manager) logging every request to log."""
    return emulib.Emulator("--no-auth", "--request-log", log, *extra)


def run_args(rec, emu):
    return [BIN, "run", rec, "--endpoint", emu.url, "--project", "rel-project"]


def run(rec, emu, timeout=120):
    """Runs the recipe to its end: (status, stdout + stderr)."""
    p = subprocess.run(run_args(rec, emu), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def start(rec, emu):
    """Starts the recipe in the background (its output goes to a pipe)."""
    return subprocess.Popen(run_args(rec, emu), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)


def check_pixels(out):
    """True when every pixel of out equals the reference (prints why not)."""
    cmd = ["/usr/bin/python3", os.path.join(SRC, "tests", "engine", "check_output.py"), out, CRS]
    cmd += ["%.17g" % v for v in AFFINE] + [str(W), str(H), IMAGE, BAND]
    return subprocess.run(cmd).returncode == 0


_REFERENCE = None


def reference():
    """The expected pixels (masked ones 0, as EE sends them), computed once."""
    global _REFERENCE
    import numpy as np
    import reference as ref
    if _REFERENCE is None:
        vals, mask = ref.sample(IMAGE, BAND, CRS, AFFINE, W, H)
        _REFERENCE = np.where(mask, vals, 0.0)
    return _REFERENCE


def pixels_exact(out):
    """check_pixels without a subprocess: the reference is computed once per
    test process (reference.sample, the same formulas), then compared."""
    from osgeo import gdal
    import numpy as np
    want = reference()
    ds = gdal.Open(out)
    if ds is None or (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) != (W, H, 1):
        print("%s: missing or wrong size" % out)
        return False
    gt = ds.GetGeoTransform()
    want_gt = (AFFINE[2], AFFINE[0], AFFINE[1], AFFINE[5], AFFINE[3], AFFINE[4])
    if any(abs(a - b) > 1e-9 * max(1.0, abs(b)) for a, b in zip(gt, want_gt)):
        print("%s: geotransform %s, want %s" % (out, gt, want_gt))
        return False
    got = ds.GetRasterBand(1).ReadAsArray().astype(np.float64)
    bad = int((got != want).sum())
    if bad:
        print("%s: %d of %d pixels differ from the reference" % (out, bad, W * H))
    return bad == 0


def same_pixels(a, b):
    """True when two rasters have bit-identical bands, size and geotransform."""
    from osgeo import gdal
    import numpy as np
    da, db = gdal.Open(a), gdal.Open(b)
    if da is None or db is None:
        return False
    if (da.RasterXSize, da.RasterYSize, da.RasterCount) != (db.RasterXSize, db.RasterYSize, db.RasterCount):
        return False
    if da.GetGeoTransform() != db.GetGeoTransform():
        return False
    for i in range(1, da.RasterCount + 1):
        ba, bb = da.GetRasterBand(i), db.GetRasterBand(i)
        if ba.DataType != bb.DataType or not np.array_equal(ba.ReadAsArray(), bb.ReadAsArray()):
            return False
    return True


def read_log(path):
    """The request log's lines as dicts (a torn last line is skipped)."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return out


def pixel_requests(entries):
    return [r for r in entries if r.get("route") == "image.computePixels"]


def window(r):
    """(col, row, w, h) of a logged pixel request in the output grid."""
    a = r["grid"]["affineTransform"]
    d = r["grid"]["dimensions"]
    col = round((a["translateX"] - AFFINE[2]) / AFFINE[0])
    row = round((a["translateY"] - AFFINE[5]) / AFFINE[4])
    return (col, row, d["width"], d["height"])


def fetched(entries):
    """Windows of the pixel requests answered 200 (each one counted)."""
    return [window(r) for r in pixel_requests(entries) if r.get("status") == 200]


def journal_windows(path):
    """Windows of the pieces the journal lists as finished: {(col, row, w, h)}.

    Format (src/core/journal.h): a header line, then
    T <tile> <n> (<k> <col> <row> <w> <h> <band0> <nbands> <type>){n} #<check>
    A line without its newline (torn) is not counted."""
    out = set()
    with open(path) as f:
        lines = f.read().split("\n")
    for line in lines[1:-1]:
        t = line.split()
        if not t or t[0] != "T":
            continue
        n = int(t[2])
        for i in range(n):
            k = 3 + 7 * i
            out.add((int(t[k + 1]), int(t[k + 2]), int(t[k + 3]), int(t[k + 4])))
    return out


def wait_for(pred, timeout, step=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def no_sanitizer_report(text):
    return not any(m in text for m in SANITIZER_MARKS)


class Checker:
    """Collects failures; exit status 1 when any."""

    def __init__(self):
        self.fails = 0

    def check(self, cond, what):
        if not cond:
            self.fails += 1
            print("FAIL:", what, flush=True)
        return cond

    def finish(self):
        print("%s" % ("FAILED (%d)" % self.fails if self.fails else "ok"), flush=True)
        return 1 if self.fails else 0
