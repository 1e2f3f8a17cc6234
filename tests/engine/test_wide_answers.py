#!/usr/bin/python3
"""Answers wider than the output: converted as they arrive, pixel-exact, in
bounded memory.

The recipe asks for SRTM elevation * 0.0625 - 340 written as uint16: EE (the
emulator) answers float64, 4 times the output's bytes, with fractions of
1/16 (ties among them) and negative values. `eefetch run` fetches it
through a small loopback proxy in front of `eefetch serve`:

* pixels: rellib's 512 x 512 grid in 56 tiles, 4 workers; the first answer
  of four tiles is damaged (NPY data cut short under a matching
  Content-Length, 16 trailing bytes, a header with another shape, a body
  that ends inside its header). Each is fetched again and the output equals
  an independent computation from tests/emulator/reference.py: round half
  away from zero, then clamp to 0..65535 (what GDAL does).
* memory: 16 tiles of 1024 x 1024 fetched by 16 workers; the proxy sends
  each answer but its last 64 KiB, waits until all 16 are that far (or 20
  s), then sends the rest, so 16 answers are in flight at once. A worker
  that receives an answer whole holds 16 x 8 MiB of float64 at that moment
  (peak RSS well over 190 MiB); converted as it arrives, each holds its
  uint16 piece (2 MiB). Peak RSS (wait4) may exceed the pixel case's (the
  same run with 4 workers and 128 x 128 tiles: what eefetch needs anyway,
  which differs between builds) by at most 80 MiB: 16 pieces of 2 MiB,
  GDAL's cache (16 MiB here) and room. Received whole, it exceeded it by
  200 MiB.
"""

import io
import os
import re
import sys
import tempfile
import threading

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reliability"))
import proxylib  # noqa: E402
import rellib  # noqa: E402

ALGORITHMS = os.path.join(rellib.SRC, "data", "algorithms-signatures.json")
SCALE, OFFSET = 0.0625, 340.0
RSS_GROWTH_MIB = 80
BIG = 4096           # the memory case's grid side: 16 tiles of 1024 x 1024
BIG_WORKERS = 16     # every tile in flight at once (the first concurrency level is 16)
TAIL = 64 << 10      # bytes held back until every answer of the memory case is that far


def window_of(g):
    a, d = g["affineTransform"], g["dimensions"]
    return (a["translateX"], a["translateY"], d["width"], d["height"])


def npy_dtype(data):
    """The field types of an NPY body's header, e.g. "<f8" (no pixel read)."""
    hlen = data[8] | data[9] << 8
    return ",".join(re.findall(r"'([<>|=][uif][1248])'", data[10:10 + hlen].decode("latin1")))


# ---- damaged answers -------------------------------------------------------

def header_end(data):
    return 10 + (data[8] | data[9] << 8)


def cut_data(data):
    return data[:len(data) - 1000]


def trailing(data):
    return data + bytes(16)


def other_shape(data):
    a = np.load(io.BytesIO(data))
    out = io.BytesIO()
    np.save(out, a[:-1])
    return out.getvalue()


def ends_in_header(data):
    return data[:header_end(data) - 20]


DAMAGE = [cut_data, trailing, other_shape, ends_in_header]


def damage_first(h, n, win, k, headers, data):
    """The first answer of the first four tiles asked for is damaged."""
    if k != 0 or n >= len(DAMAGE):
        return False
    h.answer(200, headers, DAMAGE[n](data))
    return True


def hold_tails(barrier):
    def mode(h, n, win, k, headers, data):
        h.send_response(200)
        for key, v in headers.items():
            h.send_header(key, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data[:len(data) - TAIL])
        h.wfile.flush()
        try:
            barrier.wait(timeout=20)
        except threading.BrokenBarrierError:
            pass
        h.wfile.write(data[len(data) - TAIL:])
        return True
    return mode


# ---- running ---------------------------------------------------------------

def recipe(path, out, size, workers, max_tile_bytes):
    a = rellib.AFFINE
    text = """local dem = ee.Image("%s"):select("%s")
download{
  image = dem:toDouble():multiply(%r):subtract(%r), bands = { "%s" }, crs = "%s",
  crs_transform = { %.17g, %.17g, %.17g, %.17g, %.17g, %.17g },
  dimensions = { %d, %d }, dtype = "uint16", max_tile_bytes = %d, workers = %d,
  nodata = false, output = "%s",
}
""" % (rellib.IMAGE, rellib.BAND, SCALE, OFFSET, rellib.BAND, rellib.CRS, *a, size, size, max_tile_bytes,
       workers, out)
    with open(path, "w") as f:
        f.write(text)
    return path


def run(tmp, name, mode, size, workers, max_tile_bytes, timeout=240):
    """(exit status, output text, peak RSS KiB, output path, proxy)."""
    d = tempfile.mkdtemp(prefix=name + "-", dir=tmp)
    out = os.path.join(d, "out.tif")
    rec = recipe(os.path.join(d, "r.lua"), out, size, workers, max_tile_bytes)
    with rellib.server(os.path.join(d, "requests.jsonl")) as emu:
        dtypes = set()
        proxy = proxylib.Proxy(emu, mode,
                               window_of, lambda data: dtypes.add(npy_dtype(data)))
        proxy.dtypes = dtypes
        env = {"GDAL_CACHEMAX": "16"}
        if os.environ.get("ASAN_OPTIONS"):
            # The sanitizer build: freed memory is not held in quarantine,
            # so RSS measures what is live, as in the normal build.
            env["ASAN_OPTIONS"] = os.environ["ASAN_OPTIONS"] + ":quarantine_size_mb=0"
        status, text, _, rss = proxylib.run_through(
            proxy, [rellib.BIN, "run", rec, "--endpoint", proxy.url, "--project", "rel-project",
                    "--algorithms", ALGORITHMS, "--progress", "off"], d, timeout, env)
    print("%s: exit %s, peak RSS %d MiB, %d pixel requests, answers %s" % (
        name, status, rss // 1024, proxy.npixels, sorted(proxy.dtypes)), flush=True)
    return status, text, rss, out, proxy


def expected(size):
    """Independent of eefetch: the reference's elevation through the
    expression in float64, rounded half away from zero, clamped to uint16."""
    import reference as ref
    vals, mask = ref.sample(rellib.IMAGE, rellib.BAND, rellib.CRS, rellib.AFFINE, size, size)
    raw = np.where(mask, vals * SCALE - OFFSET, 0.0)
    v = np.sign(raw) * np.floor(np.abs(raw) + 0.5)
    return raw, np.clip(v, 0, 65535)


def pixels(out, want):
    from osgeo import gdal
    ds = gdal.Open(out)
    if ds is None:
        print("%s: cannot open" % out)
        return False
    b = ds.GetRasterBand(1)
    if b.DataType != gdal.GDT_UInt16 or (ds.RasterXSize, ds.RasterYSize) != want.shape[::-1]:
        print("%s: %s %dx%d" % (out, gdal.GetDataTypeName(b.DataType), ds.RasterXSize, ds.RasterYSize))
        return False
    got = b.ReadAsArray().astype(np.float64)
    bad = got != want
    if bad.any():
        j = tuple(np.argwhere(bad)[0])
        print("%s: %d of %d pixels differ, first at %s: got %s want %s" % (out, bad.sum(), bad.size, j, got[j],
                                                                         want[j]))
    return not bad.any()


def main():
    c = rellib.Checker()
    tmp = tempfile.mkdtemp(prefix="eefetch-wide-answers.")

    # Pixels, with damaged answers fetched again.
    status, text, base_rss, out, proxy = run(tmp, "pixels", damage_first, rellib.W, 4, rellib.MAX_TILE_BYTES)
    c.check(status == 0, "pixels: exit %s: %s" % (status, text[-1500:]))
    c.check(proxy.dtypes == {"<f8"}, "pixels: the answers were %s, want float64 (<f8)" % proxy.dtypes)
    c.check(rellib.no_sanitizer_report(text), "pixels: sanitizer report: %s" % text[-2000:])
    raw, want = expected(rellib.W)
    frac = np.abs(np.modf(raw)[0])
    c.check((raw < 0).any() and (raw > 0).any() and (frac == 0.5).any() and ((frac != 0) & (frac != 0.5)).any(),
            "pixels: the reference has no negative values, ties or other fractions to round")
    c.check(status != 0 or pixels(out, want), "pixels: differ from the reference")
    damaged = [w for w, k in proxy.seen.items() if k > 1]
    c.check(len(damaged) >= len(DAMAGE) and proxy.npixels >= 56 + len(DAMAGE),
            "pixels: %d windows fetched again, %d requests; want every damaged answer fetched again"
            % (len(damaged), proxy.npixels))

    # Memory: 16 wide answers in flight at once.
    barrier = threading.Barrier(BIG_WORKERS)
    status, text, rss, out, proxy = run(tmp, "memory", hold_tails(barrier), BIG, BIG_WORKERS, 10 << 20)
    c.check(status == 0, "memory: exit %s: %s" % (status, text[-1500:]))
    c.check(proxy.npixels == 16, "memory: %d pixel requests, want 16 tiles of 1024 x 1024" % proxy.npixels)
    c.check(rellib.no_sanitizer_report(text), "memory: sanitizer report: %s" % text[-2000:])
    c.check(base_rss > 0 and rss < base_rss + RSS_GROWTH_MIB * 1024,
            "memory: peak RSS %d MiB with %d answers of 8 MiB in flight, want < %d MiB (the pixel case's %d + %d)"
            % (rss // 1024, BIG_WORKERS, base_rss // 1024 + RSS_GROWTH_MIB, base_rss // 1024, RSS_GROWTH_MIB))
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
