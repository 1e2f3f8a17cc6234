"""What `eefetch plan` tells about a download's cost, checked against numbers
computed here from the spec: grid, pixel size in CRS units and metres,
requests, raw and output size, the time estimate of the documented model
(0.5 s + 0.25 s per MiB per request), disk needed and free. The readable
block, `--json` (one object per download) and the summary table agree; a
missing output directory and a disk far too small are problem lines (exit
status 1), and `run` stops on the latter before its first request unless
told not to check."""
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

BIN = os.environ["EEFETCH_BIN"]
MIB = 1048576.0
fails = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        fails.append(what)


def eefetch(*args, env=None, cwd=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([BIN, *args], capture_output=True, text=True, env=e, cwd=cwd, timeout=600)
    return p.returncode, p.stdout, p.stderr


def plans(stdout):
    return [json.loads(l) for l in stdout.splitlines() if l.startswith('{"type":"plan"')]


def main():
    tmp = tempfile.mkdtemp(prefix="eefetch-plan-cost.")
    os.chdir(tmp)

    # A. An exact UTM grid, three uint16 bands, a COG: everything is known.
    w, h, bpp = 1024, 768, 3 * 2
    with open("a.lua", "w") as f:
        f.write('''
local img = ee.Image(1):toUint16():rename("b1"):addBands(ee.Image(2):toUint16():rename("b2"))
  :addBands(ee.Image(3):toUint16():rename("b3"))
local spec = { image = img, crs = "EPSG:32610", crs_transform = { 20, 0, 500000, 0, -20, 4200000 },
  dimensions = { 1024, 768 }, bands = { "b1", "b2", "b3" }, dtype = "uint16", nodata = 0,
  max_tile_bytes = 589824, format = "cog", output = "out/a.tif", overwrite = true, workers = 8 }
if params.run then
  local r = download(spec)
  print(string.format("RUN requests=%d retries=%d", r.requests, r.retries))
else
  local r = plan(spec)
  print("LUA " .. json.encode({ raw = r.raw_bytes, req = r.requests_planned, m = r.pixel_size_m,
        bg = r.band_groups, est = r.seconds_estimate, disk = r.disk_bytes, problems = r.problems }))
end
''')
    os.mkdir("out")
    rc, out, err = eefetch("plan", "a.lua", "--emulator", "--json")
    check(rc == 0, "plan A exits 0 (%d: %s)" % (rc, err.strip()[-300:]))
    p = plans(out)
    check(len(p) == 1, "plan A: one JSON object (%d)" % len(p))
    p = p[0] if p else {}
    raw = w * h * bpp
    check((p.get("width"), p.get("height"), p.get("crs")) == (w, h, "EPSG:32610"), "A grid %r" % p)
    check(p.get("pixel_size") == [20, 20] and p.get("pixel_size_m") == [20, 20], "A pixel size")
    check(p.get("bytes_per_pixel") == bpp and p.get("types_known") is True, "A bytes per pixel")
    check(p.get("raw_bytes") == raw, "A raw bytes %r == %d" % (p.get("raw_bytes"), raw))
    check(p.get("output_bytes_max") == raw * 4 // 3, "A output upper bound: raw + a third for overviews")
    n = p.get("requests_planned", 0)
    check(n == p.get("tiles") and n % p.get("band_groups", 0) == 0 and n > 1, "A requests = tiles x groups")
    tw, th = (p.get("tile_size") or [0, 0])
    # The largest request is within max_tile_bytes and the tiles cover the grid.
    check(0 < tw <= w and 0 < th <= h and tw * th * bpp // p.get("band_groups", 1) <= 589824 and
          math.ceil(w / tw) * math.ceil(h / th) * p.get("band_groups", 0) == p.get("tiles"),
          "A tile_size %r" % p.get("tile_size"))
    # EE accounting: every request within max_tile_bytes, so at least this many.
    check(n >= math.ceil(w * h * 3 * (2 + 1) / 589824), "A enough requests for max_tile_bytes")
    # No tile is skipped, so the pixels of all requests are the raw bytes;
    # with 8 workers the sum dominates the longest request here.
    model = (0.5 * n + 0.25 * raw / MIB) / 8
    check(abs(p.get("seconds_estimate", -1) - model) <= 0.06, "A time estimate %r ~ %.3f" % (
        p.get("seconds_estimate"), model))
    check(p.get("concurrency") == 8 and p.get("seconds_estimate_quota", 99) <= max(model * 8 / 40, 0.5 + 0.25 * 589824 / 3 / MIB) + 0.06,
          "A estimate at 40 in flight")
    store = p.get("store_bytes", 0)
    check(raw <= store <= raw + n * (4096 + 64), "A tile store %d for %d raw bytes" % (store, raw))
    check(p.get("disk_bytes") == store + raw * 4 // 3 + raw, "A disk: store + COG + its GeoTIFF source")
    st = os.statvfs("out")
    free = st.f_bavail * st.f_frsize
    check(abs(p.get("disk_free", 0) - free) <= max(free * 0.02, 64 * MIB), "A disk free %r ~ %d" % (p.get("disk_free"), free))
    check(p.get("disk_dir") == os.path.realpath("out") and p.get("problems") == [], "A disk dir, no problem")
    # The summary table has the same numbers.
    lua = [l for l in out.splitlines() if l.startswith("LUA ")]
    t = json.loads(lua[0][4:]) if lua else {}
    check(t.get("raw") == raw and t.get("req") == n and t.get("m") == [20, 20] and
          t.get("est") == p.get("seconds_estimate") and t.get("disk") == p.get("disk_bytes") and
          t.get("bg") == p.get("band_groups") and t.get("problems") == [], "A summary table %r" % t)
    # The readable block says the same.
    rc, out, err = eefetch("plan", "a.lua", "--emulator")
    for label, want in (("plan:", "out/a.tif"), ("grid:", "1024 x 768 pixels, EPSG:32610"),
                        ("pixel size:", "20 x 20 CRS units (20 x 20 m)"),
                        ("requests:", "%d = %d tile(s) x %d band group(s)" % (n, n // p["band_groups"], p["band_groups"])),
                        ("raw size:", "4.5 MiB (1024 x 768 pixels x 6 bytes)"),
                        ("output:", "at most 6.0 MiB (uncompressed upper bound"),
                        ("time:", "with 8 request(s) in flight (workers)"), ("time:", "estimate"),
                        ("disk:", "in %s" % os.path.realpath("out"))):
        check(re.search(r"^\s*" + re.escape(label) + r"\s+.*" + re.escape(want), out, re.M) is not None,
              "A block line %s %s" % (label, want))
    check("problem:" not in out, "A block: no problem line")
    # The run makes exactly the planned requests.
    rc, out, err = eefetch("run", "a.lua", "--emulator", "--set", "run=1", "--progress", "off")
    m = re.search(r"RUN requests=(\d+) retries=(\d+)", out)
    check(rc == 0 and m and int(m.group(1)) == n and m.group(2) == "0", "A run made the %d planned requests (%s %s)" % (
        n, out.strip()[-200:], err.strip()[-300:]))

    # B. Geographic grid, uncompressed GeoTIFF: metres from the degrees at
    # the grid's centre latitude, the output exactly the raw size.
    with open("b.lua", "w") as f:
        f.write('''plan{ image = ee.Image("USGS/SRTMGL1_003"), region = geo.bbox(-122.52, 37.70, -122.35, 37.83),
  crs = "EPSG:4326", pixel_size = 1 / 3600, bands = { "elevation" }, dtype = "int16", nodata = -32768,
  compression = "none",
  output = "b.tif" }
''')
    rc, out, err = eefetch("plan", "b.lua", "--emulator", "--json")
    p = (plans(out) or [{}])[0]
    check(rc == 0 and (p.get("width"), p.get("height")) == (612, 468), "B grid %r %r" % (p.get("width"), p.get("height")))
    check(p.get("raw_bytes") == 612 * 468 * 2 == p.get("output_bytes_max"), "B uncompressed output = raw")
    lat = math.radians(37.83 - 468 / 3600 / 2)
    d = 1 / 3600
    # Haversine distance of one pixel step east and north, on the mean sphere.
    r = 6371008.8
    east = 2 * r * math.asin(math.cos(lat) * math.sin(math.radians(d) / 2))
    north = r * math.radians(d)
    pm = p.get("pixel_size_m") or [0, 0]
    check(abs(pm[0] - east) / east < 1e-4 and abs(pm[1] - north) / north < 1e-4,
          "B pixel size in metres %r ~ (%.3f, %.3f)" % (pm, east, north))
    n = p.get("requests_planned", 0)
    model = max((0.5 * n + 0.25 * 612 * 468 * 2 / MIB) / 8, 0.5 + 0.25 * 612 * 468 * 2 / n / MIB)
    check(n == 1 and abs(p.get("seconds_estimate", -1) - model) <= 0.06, "B one request, estimate %r ~ %.2f" % (
        p.get("seconds_estimate"), model))

    # C. plan{} without output: no disk to check, no problem; the band's
    # type is known from the image (a constant 1 is uint8).
    with open("c.lua", "w") as f:
        f.write('plan{ image = ee.Image(1), region = { 0, 0, 1, 1 }, crs = "EPSG:4326", pixel_size = 0.01, '
                'bands = { "constant" } }\n')
    rc, out, err = eefetch("plan", "c.lua", "--emulator", "--json")
    p = (plans(out) or [{}])[0]
    check(rc == 0 and p.get("output") is None and p.get("disk_free") is None and p.get("problems") == [] and
          p.get("types_known") is True and p.get("bytes_per_pixel") == 1, "C no output %r" % p)
    # No `workers` key: the estimate is for the default, EE's quota.
    check(p.get("concurrency") == 40, "C default concurrency %r" % p.get("concurrency"))

    # D. The output directory does not exist: a problem line, status 1.
    with open("d.lua", "w") as f:
        f.write('plan{ image = ee.Image(1), region = { 0, 0, 1, 1 }, crs = "EPSG:4326", pixel_size = 0.01, '
                'bands = { "constant" }, output = "missing/d.tif" }\n')
    rc, out, err = eefetch("plan", "d.lua", "--emulator")
    check(rc == 1 and re.search(r"^\s*problem:\s+cannot write the output missing/d.tif: its directory missing "
                                r"does not exist", out, re.M) is not None and "would stop before fetching" in err,
          "D missing directory is a problem (%d): %s" % (rc, out[-300:]))

    # E. A disk far too small: the store alone (known float64 pixels) is
    # twice the free space.
    st = os.statvfs(tmp)
    free = st.f_bavail * st.f_frsize
    side = math.ceil(math.sqrt(2 * free / 8))
    if side > 4_000_000:
        print("skip E: %d bytes free is too much to outgrow with a plan" % free)
    else:
        with open("e.lua", "w") as f:
            f.write('''download{ image = ee.Image("USGS/SRTMGL1_003"):toDouble():rename("b1"), crs = "EPSG:4326",
  crs_transform = { 1e-5, 0, 0, 0, -1e-5, 1 }, dimensions = { %d, %d }, bands = { "b1" }, dtype = "float64",
  output = "e.tif", overwrite = true }
''' % (side, side))
        rc, out, err = eefetch("plan", "e.lua", "--emulator", "--json")
        p = (plans(out) or [{}])[0]
        probs = p.get("problems") or [""]
        check(rc == 1 and p.get("raw_bytes") == side * side * 8 and "not enough free disk for e.tif" in probs[0],
              "E plan reports the disk (%d): %s" % (rc, probs))
        # Every computation on this server runs out of memory: a run that
        # goes ahead fails at its first tile, after asking for pixels.
        srv = subprocess.Popen([BIN, "serve", "--port", "0", "--no-auth", "--request-log", "log.jsonl",
                                "--memory-limit", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            port = re.search(r"listening on http://127.0.0.1:(\d+)", srv.stdout.readline()).group(1)
            ep = ["--endpoint", "http://127.0.0.1:" + port, "--project", "emu-proj", "--progress", "off",
                  "--algorithms", os.path.join(os.environ["EEFETCH_SRC"], "data/algorithms-signatures.json")]

            def pixel_requests():
                time.sleep(0.2)
                with open("log.jsonl") as f:
                    return sum('"route":"image.computePixels"' in l for l in f)

            rc, out, err = eefetch("run", "e.lua", *ep)
            check(rc == 1 and "e.lua:1: not enough free disk for e.tif" in err and "EEFETCH_NO_DISK_CHECK=1" in err
                  and pixel_requests() == 0, "E run stops before any request (%d): %s" % (rc, err[-400:]))
            check(not os.path.exists("e.tif.eefetch-journal") and not os.path.exists("e.tif.eefetch-parts"),
                  "E the stopped run left no journal or store")
            for how, extra, env in (("--no-disk-check", ["--no-disk-check"], None),
                                    ("EEFETCH_NO_DISK_CHECK=1", [], {"EEFETCH_NO_DISK_CHECK": "1"})):
                before = pixel_requests()
                rc, out, err = eefetch("run", "e.lua", *ep, *extra, env=env)
                check(rc == 1 and "not enough free disk" not in err and "memory limit" in err and
                      pixel_requests() > before, "E %s runs anyway (%d): %s" % (how, rc, err[-300:]))
        finally:
            srv.terminate()
            srv.wait(timeout=30)

    subprocess.run(["rm", "-rf", tmp])
    print("%d failure(s)" % len(fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
