"""Long chains and big expressions on every host path, against the
in-process emulator (`--emulator`):

- ee.serialize of chains of 1000 and 10000 calls nests at most 54 JSON
  levels (the official clients' rule: a value is named, not inlined, once
  the nesting reaches 50; EE rejects more than 100), with no Lua stack error;
- getInfo of ee.Number(1) + 1000 and + 10000 chained :add(1), also inside a
  mapped function, gives the sum; the REPL shows it; tostring describes it;
- an answer nested 300 levels deep (a list in a list ...) reaches Lua;
- a 5 MB expression (a 300000-number list) goes through getInfo, plan{} and
  download{}, whose pixels are checked against tests/emulator/reference.py.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from osgeo import gdal

BIN = os.environ["EEFETCH_BIN"]
SRC = os.environ["EEFETCH_SRC"]
ALGS = os.path.join(SRC, "data", "algorithms-signatures.json")
sys.path.insert(0, os.path.join(SRC, "tests", "emulator"))
import reference  # noqa: E402

gdal.UseExceptions()
fails = 0


def fail(msg):
    global fails
    fails += 1
    print("FAIL:", msg)


def run(args, stdin=None, timeout=600):
    p = subprocess.run([BIN] + args, input=stdin, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def nesting(text):
    """Deepest bracket nesting of a JSON text (no recursion, any depth)."""
    depth = deepest = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "}]":
            depth -= 1
    return deepest


CHAIN = "local x = ee.Number(1) for i = 1, %d do x = x:add(1) end "

# Serialization: nesting under EE's limit, every value reachable.
for n in (1000, 10000):
    rc, out, err = run(["eval", "--algorithms", ALGS, CHAIN % n + "print(ee.serialize(x))"])
    if rc != 0:
        fail("serialize %d-chain: %s" % (n, err.strip()))
        continue
    text = out.strip()
    d = nesting(text)
    expr = json.loads(text)
    if d > 54:
        fail("serialize %d-chain: nests %d levels, the clients keep under 55" % (n, d))
    refs = text.count('"valueReference"')
    if len(expr["values"]) < 2 or refs < n // 18:
        fail("serialize %d-chain: %d values, %d references" % (n, len(expr["values"]), refs))
    else:
        print("ok: %d-chain serializes to %d named values nested %d levels" % (n, len(expr["values"]), d))

# getInfo, plain and inside a mapped function.
for n in (1000, 10000):
    rc, out, err = run(["eval", "--emulator", CHAIN % n + "print(x:getInfo())"])
    if rc != 0 or out.strip() != str(n + 1):
        fail("getInfo %d-chain: %r %s" % (n, out, err.strip()))
    else:
        print("ok: getInfo of ee.Number(1) + %d chained :add(1) = %d" % (n, n + 1))

MAPPED = """
local l = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED"):filterDate("2023-01-05", "2023-01-06")
  :map(function(img)
    local x = ee.Number(img:get("CLOUDY_PIXEL_PERCENTAGE"))
    for i = 1, 1000 do x = x:add(1) end
    return img:set("x", x)
  end):aggregate_array("x")
print(json.encode(l:getInfo()))
"""
rc, out, err = run(["eval", "--emulator", MAPPED])
want = sorted(i["properties"]["CLOUDY_PIXEL_PERCENTAGE"] + 1000
              for i in reference.collection("COPERNICUS/S2_SR_HARMONIZED")
              if reference._start_ms(4, 0) <= i["start_ms"] < reference._start_ms(5, 0))
got = sorted(json.loads(out)) if rc == 0 else None
if not want or got is None or len(got) != len(want) or any(abs(a - b) > 1e-9 for a, b in zip(got, want)):
    fail("1000-chain inside map: got %r, want %r %s" % (got, want, err.strip()))
else:
    print("ok: a 1000-chain inside a mapped function, %d images" % len(want))

# The REPL shows a 10000-chain's value and describes it.
rc, out, err = run(["repl", "--emulator"],
                   stdin=(CHAIN % 10000).replace("local x", "x") + "\nx\ntostring(x)\n")
if "\n10001\n" not in out or "ee.Number<Number.add>" not in out:
    fail("REPL 10000-chain: %s %s" % (out[-300:], err.strip()))
else:
    print("ok: the REPL shows a 10000-chain")

# A deep answer: 300 nested lists.
rc, out, err = run(["eval", "--emulator",
                    "local x = ee.List({7}) for i = 1, 300 do x = ee.List({x}) end "
                    "local r, d = x:getInfo(), 0 while type(r) == 'table' do r = r[1] d = d + 1 end "
                    "print(d, r)"])
if rc != 0 or out.split() != ["301", "7"]:
    fail("answer nested 301 deep: %r %s" % (out, err.strip()))
else:
    print("ok: an answer nested 301 levels deep")

# A 5 MB expression: getInfo, plan{}, download{} (the list rides along as a
# property; the pixels are the elevation).
BIG = """
local big = {}
for i = 1, 300000 do big[i] = i + 0.123456789 end
local img = ee.Image("USGS/SRTMGL1_003"):set("big", ee.List(big))
print("bytes", #ee.serialize(img))
print("size", ee.List(big):size():getInfo())
local spec = { image = img, region = geo.bbox(-122.10, 37.75, -122.08, 37.77), crs = "EPSG:4326",
  pixel_size = 1 / 3600, bands = { "elevation" }, output = params.out }
print("plan", plan(spec).tiles)
print("tiles", download(spec).tiles)
"""
with tempfile.TemporaryDirectory(prefix="eefetch-big-") as tmp:
    recipe = os.path.join(tmp, "big.lua")
    with open(recipe, "w") as f:
        f.write(BIG)
    tif = os.path.join(tmp, "big.tif")
    rc, out, err = run(["run", recipe, "--emulator", "--progress", "off", "--set", "out=" + tif])
    lines = dict(l.split(None, 1) for l in out.splitlines() if len(l.split()) == 2)
    if rc != 0 or lines.get("size") != "300000" or int(lines.get("bytes", 0)) < 4 << 20:
        fail("5 MB expression: %r %s" % (out, err.strip()))
    else:
        ds = gdal.Open(tif)
        gt = ds.GetGeoTransform()
        got = ds.GetRasterBand(1).ReadAsArray().astype(np.float64)
        elev, mask = reference.sample("USGS/SRTMGL1_003", "elevation", "EPSG:4326",
                                      [gt[1], gt[2], gt[0], gt[4], gt[5], gt[3]],
                                      ds.RasterXSize, ds.RasterYSize)
        bad = np.count_nonzero(got != np.where(mask, elev, 0))
        if bad:
            fail("5 MB expression: %d pixels differ from the elevation" % bad)
        else:
            print("ok: a %s-byte expression through getInfo, plan{} and download{} (%s tiles)"
                  % (lines["bytes"], lines["tiles"]))

print("%d failure(s)" % fails)
sys.exit(1 if fails else 0)
