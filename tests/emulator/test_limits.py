"""EE's request limits and the memory model over HTTP, with EE's messages.

Sizes are computed here from the documented rule W*H*sum(bytes_b + 1).
"""

import json
import os
import sys

import numpy as np
from osgeo import gdal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
import reference as ref  # noqa: E402
from emulib import c, call, expr, grid, load, select  # noqa: E402

gdal.UseExceptions()
FAILS = []
CP = "/v1/projects/test-project/image:computePixels"
IMG = ref.collection(ref.S2)[0]["id"]


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)


def post(emu, node, g, fmt="NPY", **extra):
    body = {"expression": expr(node), "fileFormat": fmt}
    if g is not None:
        body["grid"] = g
    body.update(extra)
    status, _, data = emu.post(CP, body)
    msg = emulib.error_of(data)["message"] if status != 200 else None
    return status, msg, data


def test_sizes(emu):
    four = select(load(IMG), ["B2", "B3", "B4", "B8"])
    # 4 x uint16: (2 + 1) * 4 = 12 bytes per pixel
    w, h = 2048, 2049
    st, msg, _ = post(emu, four, grid("EPSG:32610", [10, 0, 500000, 0, -10, 4190000], w, h))
    check(st == 400 and msg == "Total request size (%d bytes) must be less than or equal to "
          "50331648 bytes." % (w * h * 12), "size limit: %s" % msg)
    # just under: 2048 x 2048 x 12 = 50331648 is allowed (checked without rendering it
    # all: a memory limit below the work answers first, after the size check)
    st, msg, _ = post(emu, call("Image.constant", value=c(1)),
                      grid("EPSG:4326", [1e-4, 0, 0, 0, -1e-4, 0], 32769, 1))
    check(st == 400 and msg == "Pixel grid dimensions (32769x1) must be less than or equal to "
          "32768.", "dimension limit: %s" % msg)
    st, msg, _ = post(emu, call("Image.constant", value=c(list(range(1025)))),
                      grid("EPSG:4326", [1, 0, 0, 0, -1, 0], 1, 1))
    check(st == 400 and msg == "Number of bands (1025) must be less than or equal to 1024.",
          "band limit: %s" % msg)


def test_formats(emu):
    three = call("Image.rename", input=select(load(IMG), ["SCL", "SCL", "SCL"]),
                 names=c(["r", "g", "b"]))
    aff = [20, 0, 520000, 0, -20, 4180000]
    st, msg, data = post(emu, three, grid("EPSG:32610", aff, 16, 12), "PNG")
    check(st == 200 and data[:4] == b"\x89PNG", "PNG of 3 uint8 bands: %s" % msg)
    if st == 200:
        gdal.FileFromMemBuffer("/vsimem/l.png", data)
        ds = gdal.Open("/vsimem/l.png")
        want, mask = ref.sample(IMG, "SCL", "EPSG:32610", aff, 16, 12)
        got = ds.GetRasterBand(1).ReadAsArray()
        check((got == np.where(mask, want, 0)).all(), "PNG pixels")
        ds = None
        gdal.Unlink("/vsimem/l.png")
    st, msg, _ = post(emu, select(load(IMG), ["B4"]), grid("EPSG:32610", aff, 4, 4), "PNG")
    check(st == 400 and "PNG output needs 1 or 3 bands of type uint8" in msg, "PNG of uint16")
    st, msg, _ = post(emu, select(load(IMG), ["B4"]), grid("EPSG:32610", aff, 4, 4), "TF_RECORD_IMAGE")
    check(st == 400 and "TF_RECORD_IMAGE" in msg, "unsupported format: %s" % msg)


def test_memory(extra):
    coll = call("Collection.filter", collection=call("ImageCollection.load", id=c(ref.S2)),
                filter=call("Filter.equals", leftField=c("MGRS_TILE"), rightValue=c("10SEG")))
    med = call("reduce.median", collection=call(
        "Collection.map", collection=coll,
        baseAlgorithm={"functionDefinitionValue": {"argumentNames": ["i"], "body": "1"}}))
    n = sum(1 for m in ref.collection(ref.S2) if m["id"].endswith("T10SEG"))
    g = grid("EPSG:32610", [10, 0, 520000, 0, -10, 4180000], 64, 64)
    body = {"expression": {"result": "0", "values": {
        "0": med, "1": select({"argumentReference": "i"}, ["B4"])}}, "fileFormat": "NPY",
        "grid": g}
    work = 64 * 64 * 2 * n   # one uint16 read per image and pixel
    with emulib.Emulator("--memory-limit", str(work - 1), *extra) as emu:
        st, _, data = emu.post(CP, body)
        check(st == 400 and emulib.error_of(data)["message"] == "User memory limit exceeded.",
              "memory limit just below the work (%d)" % st)
        # a single image fits
        st, _, _ = emu.post(CP, {"expression": expr(select(load(IMG), ["B4"])),
                                 "fileFormat": "NPY", "grid": g})
        check(st == 200, "single image under the memory limit (%d)" % st)
    with emulib.Emulator("--memory-limit", str(work), *extra) as emu:
        st, _, data = emu.post(CP, body)
        check(st == 200, "memory limit equal to the work (%d)" % st)


def test_survives_garbage(emu):
    for raw in (b"", b"{", b"[]", b"{\"expression\": 5, \"fileFormat\": \"NPY\"}",
                json.dumps({"expression": {"result": "0", "values": {"0": {"functionInvocationValue":
                            {"functionName": "Image.select", "arguments": {
                                "input": {"constantValue": 1}, "bandSelectors": {
                                    "constantValue": ["("]}}}}}}, "fileFormat": "NPY",
                            "grid": grid("EPSG:4326", [1, 0, 0, 0, -1, 0], 1, 1)}).encode(),
                json.dumps({"expression": {"result": "0", "values": {"0": {"functionInvocationValue":
                            {"functionName": "Image.clip", "arguments": {
                                "input": {"constantValue": 1}, "geometry": {
                                    "functionInvocationValue": {
                                        "functionName": "GeometryConstructors.Polygon",
                                        "arguments": {"coordinates": {"constantValue": [[1]]}}}}}}}}},
                            "fileFormat": "NPY"}).encode()):
        st, _, _ = emu.post(CP, raw)
        check(st == 400, "garbage %r -> %d" % (raw[:40], st))
    st, _, _ = emu.post(CP, {"expression": expr(call("Image.constant", value=c(1))),
                             "fileFormat": "NPY", "grid": grid("EPSG:4326", [1, 0, 0, 0, -1, 0], 2, 2)})
    check(st == 200, "alive after garbage")


def _mutate(node, rng):
    """A random structural change somewhere in a JSON tree."""
    junk = [None, 0, -1, 1e308, "x", "", [], {}, [1, "a"], {"constantValue": None},
            {"valueReference": "nope"}, {"argumentReference": "q"}, {"integerValue": "zz"},
            {"functionInvocationValue": {"functionName": "Image.constant"}},
            {"arrayValue": {"values": 5}}, {"dictionaryValue": {"values": []}},
            {"functionDefinitionValue": {"argumentNames": [1], "body": 2}}]
    if isinstance(node, dict) and node and rng.random() < 0.7:
        k = rng.choice(sorted(node))
        r = rng.random()
        if r < 0.2:
            del node[k]
        elif r < 0.5:
            node[k] = rng.choice(junk)
        else:
            _mutate(node[k], rng)
    elif isinstance(node, list) and node:
        i = rng.randrange(len(node))
        if rng.random() < 0.5:
            node[i] = rng.choice(junk)
        else:
            _mutate(node[i], rng)


def test_fuzz(emu):
    """Mutated expressions and grids get 200 or 400, never a crash or a 5xx."""
    import copy
    import random
    rng = random.Random(1234)
    coll = call("Collection.filter", collection=call("ImageCollection.load", id=c(ref.S2)),
                filter=call("Filter.and", filters={"arrayValue": {"values": [
                    call("Filter.equals", leftField=c("MGRS_TILE"), rightValue=c("10SEG")),
                    call("Filter.dateRangeContains", leftValue=call("DateRange", start=c("2023-01-01"),
                                                                   end=c("2023-01-20")),
                         rightField=c("system:time_start"))]}}))
    seeds = [
        expr(call("Image.normalizedDifference", input=load(IMG), bandNames=c(["B8", "B4"]))),
        expr(call("reduce.median", collection=call("Collection.map", collection=coll,
             baseAlgorithm={"functionDefinitionValue": {"argumentNames": ["i"], "body": "1"}})),
             **{"1": call("Image.clip", input=select({"argumentReference": "i"}, ["B.*"]),
                          geometry=call("GeometryConstructors.Polygon", coordinates=c(
                              [[[-122.8, 37.8], [-122.6, 37.8], [-122.6, 37.6]]])))}),
        expr(call("Image.clipToBoundsAndScale", input=call("Image.reproject", image=load(IMG),
             crs=c("EPSG:3857"), scale=c(40)), geometry=call("GeometryConstructors.Rectangle",
             coordinates=c([-122.7, 37.6, -122.6, 37.7])), maxDimension=c(20))),
        expr(call("ImageCollection.mosaic", collection=coll)),
    ]
    g = grid("EPSG:32610", [30, 0, 520000, 0, -30, 4180000], 16, 16)
    bad = 0
    for n in range(240):
        e = copy.deepcopy(seeds[n % len(seeds)])
        for _ in range(rng.randint(1, 3)):
            _mutate(e, rng)
        body = {"expression": e, "fileFormat": rng.choice(["NPY", "GEO_TIFF", "PNG"])}
        gg = copy.deepcopy(g)
        if n % 5 == 0:
            _mutate(gg, rng)
        body["grid"] = gg
        path = CP if n % 2 else "/v1/projects/test-project/value:compute"
        if path != CP:
            body = {"expression": e}
        st, _, data = emu.post(path, body)
        if st not in (200, 400):
            bad += 1
            print("fuzz %d: %d %s" % (n, st, data[:200]), file=sys.stderr)
    check(bad == 0, "fuzzed requests answered 200/400 (%d did not)" % bad)
    st, _, _ = emu.post(CP, {"expression": expr(call("Image.constant", value=c(1))),
                             "fileFormat": "NPY", "grid": grid("EPSG:4326", [1, 0, 0, 0, -1, 0], 2, 2)})
    check(st == 200, "alive after fuzzing")


def main():
    with emulib.Emulator() as emu:
        emulib.run_each([test_sizes, test_formats, test_survives_garbage, test_fuzz], FAILS, emu)
    emulib.run_each([test_memory], FAILS, ())
    return emulib.report(FAILS)


if __name__ == "__main__":
    sys.exit(main())
