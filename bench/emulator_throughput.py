#!/usr/bin/python3
"""Emulator throughput: NPY MiB/s of getPixels over one keep-alive connection.

    /usr/bin/python3 bench/emulator_throughput.py [--bin build/eefetch] [--requests 40]
        [--scale 6.5] [--median]

Starts `eefetch serve --port 0`, then asks for a 4-band uint16 1024x1024
window (Sentinel-2 10 m bands B2, B3, B4, B8) of one image again and again,
each time at another position of the tile, on a single HTTP/1.1 connection.
Reports the response rate in MiB/s and the server's CPU time per request
(from /proc), which is what the target (>= 300 MiB/s on one core) is about.

--scale S asks image:computePixels for the same image on the benchmark's
W1 grid (EPSG:32610, S metres, anchored at 499960, 4200000), so S = 6.5
measures the oversampled path of W1. --median asks instead for W2's
expression (bench/recipes/w2_median.lua: the SCL-masked median of the July
2023 scenes of tile 10SEG, bands B2 B3 B4 B8 B11, 10 m) and reports server
CPU seconds per tile. Both expressions are serialized by `eefetch run`, as
the benchmark's client does. Not part of the test run.
"""

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

S2 = "COPERNICUS/S2_SR_HARMONIZED"
BANDS = ["B2", "B3", "B4", "B8"]
SIZE = 1024
W1_IMAGE = S2 + "/20230105T183751_20230105T183750_T10SEG"
W2_BANDS = ["B2", "B3", "B4", "B8", "B11"]
EXPR_LUA = """
local coll = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED")
  :filter(ee.Filter.eq("MGRS_TILE", "10SEG"))
  :filterDate("2023-07-01", "2023-08-01")
  :filter(ee.Filter.lt("CLOUDY_PIXEL_PERCENTAGE", 30))
local masked = coll:map(function(img)
  local scl = img:select("SCL")
  local clear = scl:neq(3):And(scl:neq(8)):And(scl:neq(9)):And(scl:neq(10))
  return img:select({ "B2", "B3", "B4", "B8", "B11" }):updateMask(clear)
end)
print(ee.serialize(masked:median()))
print(ee.serialize(ee.Image("%s")))
""" % W1_IMAGE


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def start(binary):
    proc = subprocess.Popen([binary, "serve", "--port", "0", "--no-auth"], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    m = re.search(r"listening on http://([0-9.]+):(\d+)", line)
    if not m:
        proc.kill()
        sys.exit("emulator did not start: %r" % line)
    return proc, m.group(1), int(m.group(2))


def expressions(binary, here):
    """(W2 median, W1 image) expressions as eefetch's client serializes them."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "expr.lua")
        with open(path, "w") as f:
            f.write(EXPR_LUA)
        out = subprocess.run([binary, "run", path, "--algorithms",
                              os.path.join(here, "..", "data", "algorithms-signatures.json")],
                             check=True, stdout=subprocess.PIPE).stdout.decode().split("\n")
    return json.loads(out[0]), json.loads(out[1])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get("EEFETCH_BIN",
                                                    os.path.join(here, "..", "build", "eefetch")))
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--scale", type=float, help="computePixels on the W1 grid at this pixel size (m)")
    ap.add_argument("--median", action="store_true", help="computePixels of W2's masked median")
    args = ap.parse_args()
    bands = W2_BANDS if args.median else BANDS
    expr = None
    if args.median or args.scale:
        w2, w1 = expressions(args.bin, here)
        expr = w2 if args.median else w1

    proc, host, port = start(args.bin)
    conn = http.client.HTTPConnection(host, port, timeout=120)
    try:
        conn.request("GET", "/v1/projects/bench/assets/%s:listImages?pageSize=1" % S2)
        resp = conn.getresponse()
        images = json.loads(resp.read()).get("images", [])
        if resp.status != 200 or not images:
            sys.exit("cannot list %s (status %d)" % (S2, resp.status))
        image = images[0]
        b2 = [b for b in image["bands"] if b["id"] == "B2"][0]["grid"]
        at = b2["affineTransform"]
        path = "/v1alpha/projects/bench/assets/%s:getPixels" % image["id"]
        tiles_x = b2["dimensions"]["width"] // SIZE
        tiles_y = b2["dimensions"]["height"] // SIZE

        if expr is not None:
            # The benchmark's grid: 109.8 km from the tile's upper-left corner.
            scale = args.scale or 10.0
            at = {"scaleX": scale, "translateX": 499960.0, "scaleY": -scale,
                  "translateY": 4200000.0}
            path = "/v1/projects/bench/image:computePixels"
            tiles_x = tiles_y = int(109800 / scale) // SIZE

        def body(i):
            cx, cy = i % tiles_x, (i // tiles_x) % tiles_y
            if expr is not None:
                return json.dumps({
                    "expression": expr, "fileFormat": "NPY", "bandIds": bands,
                    "grid": {"crsCode": "EPSG:32610",
                             "affineTransform": {"scaleX": at["scaleX"], "shearX": 0,
                                                 "translateX": at["translateX"] + cx * SIZE * at["scaleX"],
                                                 "shearY": 0, "scaleY": at["scaleY"],
                                                 "translateY": at["translateY"] + cy * SIZE * at["scaleY"]},
                             "dimensions": {"width": SIZE, "height": SIZE}}}).encode()
            return json.dumps({
                "fileFormat": "NPY", "bandIds": BANDS,
                "grid": {"crsCode": b2["crsCode"],
                         "affineTransform": {"scaleX": at["scaleX"], "shearX": 0,
                                             "translateX": at["translateX"] + cx * SIZE * at["scaleX"],
                                             "shearY": 0, "scaleY": at["scaleY"],
                                             "translateY": at["translateY"] + cy * SIZE * at["scaleY"]},
                         "dimensions": {"width": SIZE, "height": SIZE}}}).encode()

        # Warm-up (page-in, first allocations), not measured.
        conn.request("POST", path, body=body(0), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            sys.exit("getPixels failed: %d %s" % (resp.status, data[:300]))
        expect = SIZE * SIZE * (4 if args.median else 2) * len(bands)
        if len(data) < expect:
            sys.exit("short NPY answer: %d bytes" % len(data))

        # Read into one preallocated buffer: the client should cost less
        # than the server it measures.
        sink = bytearray(len(data))
        view = memoryview(sink)
        total = 0
        cpu0, t0, client0 = cpu_seconds(proc.pid), time.monotonic(), time.process_time()
        for i in range(1, args.requests + 1):
            conn.request("POST", path, body=body(i), headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            if resp.status != 200:
                sys.exit("getPixels failed: %d %s" % (resp.status, resp.read()[:300]))
            n = int(resp.getheader("Content-Length"))
            got = 0
            while got < n:
                k = resp.readinto(view[got:n])
                if not k:
                    sys.exit("short answer: %d of %d bytes" % (got, n))
                got += k
            total += got
        wall = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        client_cpu = time.process_time() - client0
    finally:
        conn.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    mib = total / (1024.0 * 1024.0)
    what = ("W2 masked median (computePixels)" if args.median else
            "%s (computePixels at %g m)" % (W1_IMAGE, args.scale) if args.scale else image["id"])
    print("image        %s" % what)
    print("requests     %d x %dx%d x %d bands %s (NPY, %.2f MiB each), one keep-alive connection"
          % (args.requests, SIZE, SIZE, len(bands), "float32" if args.median else "uint16",
             mib / args.requests))
    print("wall         %.2f s  -> %.0f MiB/s" % (wall, mib / wall))
    print("server CPU   %.2f s  -> %.0f MiB/s per server CPU second, %.1f ms CPU per request"
          % (cpu, mib / cpu if cpu > 0 else float("inf"), 1000 * cpu / args.requests))
    if args.median:
        print("server CPU   %.3f s per %dx%d tile" % (cpu / args.requests, SIZE, SIZE))
    print("client CPU   %.2f s" % client_cpu)


if __name__ == "__main__":
    main()
