"""Reducers: ImageCollection.reduce / reduce.* / qualityMosaic composites,
Image.reduceRegion, reduceRegions and sample over catalog images, and
their error texts.

Every expected value is computed here with numpy from reference.py (the
independent model of the catalog) through ref_reduce.py, never taken from
the emulator.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
from emulib import c, call, expr, load, select, grid  # noqa: E402
import reference as ref  # noqa: E402
import ref_reduce as rr  # noqa: E402

FAILS = []
PROJ = "/v1/projects/test-project"
S2, L9, SRTM = ref.S2, ref.L9, ref.SRTM


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def value(emu, node, **values):
    status, _, body = emu.post(PROJ + "/value:compute", {"expression": expr(node, **values)})
    if status != 200:
        raise AssertionError("value:compute %d: %s" % (status, body[:400]))
    return json.loads(body)["result"]


def error(emu, node, **values):
    status, _, body = emu.post(PROJ + "/value:compute", {"expression": expr(node, **values)})
    if status == 200:
        return None
    return emulib.error_of(body)["message"]


def npy(emu, expression, g):
    status, _, data = emu.post(PROJ + "/image:computePixels",
                               {"expression": expression, "fileFormat": "NPY", "grid": g})
    if status != 200:
        raise AssertionError("computePixels %d: %s" % (status, data[:400]))
    return emulib.decode_npy(data)


def close(a, b, tol=1e-9):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol * max(1.0, abs(b))


def polygon(ring):
    return call("GeometryConstructors.Polygon", coordinates=c([ring]), evenOdd=c(True))


def reducer(name, **args):
    return call("Reducer." + name, **args)


# ------------------------------------------------------------ composites

# Sentinel-2 members over 10SEG, January-February 2023, on a 30 m UTM grid.
START, END = 1672531200000, 1677628800000
MEMBERS = [m["id"] for m in ref.collection(S2)
           if START <= m["start_ms"] < END and m["id"].endswith("T10SEG")]
UTM30 = [30, 0, 520005, 0, -30, 4180010]
W, H = 20, 16
THRESH = 3000   # regions: B8 above it, the pixel is kept
# Composites: B8 above COMP_THRESH and west of CLIP_LON (a clip), so that
# some pixels keep every member, some a part and some none.
COMP_THRESH = 2450
CLIP_LON = -122.7685
CLIP_RING = [[-122.80, 37.70], [CLIP_LON, 37.70], [CLIP_LON, 37.80], [-122.80, 37.80]]


def masked_coll():
    """The members, each B4 and B8 masked where B8 <= COMP_THRESH and
    clipped to CLIP_RING."""
    coll = call("ImageCollection.load", id=c(S2))
    coll = call("Collection.filter", collection=coll, filter=call(
        "Filter.dateRangeContains", leftValue=call("DateRange", start=c(START), end=c(END)),
        rightField=c("system:time_start")))
    coll = call("Collection.filter", collection=coll, filter=call(
        "Filter.equals", leftField=c("MGRS_TILE"), rightValue=c("10SEG")))
    arg = {"argumentReference": "img"}
    return call("Collection.map", collection=coll, baseAlgorithm={"functionDefinitionValue": {
        "argumentNames": ["img"], "body": "body"}}), {
        "body": call("Image.clip", input=call(
            "Image.updateMask", image=select(arg, ["B4", "B8"]),
            mask=call("Image.gt", image1=select(arg, ["B8"]),
                      image2=call("Image.constant", value=c(COMP_THRESH)))),
            geometry=polygon(CLIP_RING))}


def ref_stack():
    b4, m4 = rr.stack(MEMBERS, "B4", "EPSG:32610", UTM30, W, H)
    b8, m8 = rr.stack(MEMBERS, "B8", "EPSG:32610", UTM30, W, H)
    keep = m4 & m8 & (b8 > COMP_THRESH) & rr.inside("EPSG:32610", UTM30, W, H, CLIP_RING)[None]
    return {"B4": (b4, keep), "B8": (b8, keep)}


def expect(arr, name, want, valid, what, tol=1e-5, dtype=None):
    if not check(name in arr.dtype.names, "%s: band %s missing (have %s)" % (what, name,
                                                                         arr.dtype.names)):
        return
    got = arr[name].astype(np.float64)
    if dtype is not None:
        check(arr[name].dtype == np.dtype(dtype), "%s: dtype %s, want %s" % (
            what, arr[name].dtype, dtype))
    exp = np.where(valid, want, 0)
    bad = ~np.isclose(got, exp, rtol=tol, atol=tol)
    check(not bad.any(), "%s: %d of %d pixels differ (first %s: got %s want %s)" % (
        what, bad.sum(), bad.size, np.argwhere(bad)[0] if bad.any() else None,
        got[tuple(np.argwhere(bad)[0])] if bad.any() else None,
        exp[tuple(np.argwhere(bad)[0])] if bad.any() else None))


def test_collection_reduce(emu):
    check(len(MEMBERS) >= 5, "enough members (%d)" % len(MEMBERS))
    coll, extra = masked_coll()
    st = ref_stack()
    keep = st["B4"][1]
    check(((keep.sum(axis=0) == 0).any() and (keep.sum(axis=0) == len(MEMBERS)).any()
           and ((keep.sum(axis=0) > 0) & (keep.sum(axis=0) < len(MEMBERS))).any()),
          "the masks leave some pixels with no, some with all and some with part of the values")
    g = grid("EPSG:32610", UTM30, W, H)
    n = len(MEMBERS)
    cases = [
        ("mean", {}, [("mean", "mean", None)], "<f4"),
        ("median", {}, [("median", "median", None)], "<f4"),
        ("min", {}, [("min", "min", None)], "<u2"),
        ("max", {}, [("max", "max", None)], "<u2"),
        ("sum", {}, [("sum", "sum", None)], "<u4" if n * 65535 <= 4294967295 else "<f8"),
        ("count", {}, [("count", "count", None)], "<u4"),
        ("stdDev", {}, [("stdDev", "stdDev", None)], "<f4"),
        ("variance", {}, [("variance", "variance", None)], "<f4"),
        ("first", {}, [("first", "first", None)], "<u2"),
        ("last", {}, [("last", "last", None)], "<u2"),
        ("mode", {}, [("mode", "mode", None)], "<u2"),
        ("sampleStdDev", {}, [("stdDev", "sampleStdDev", None)], "<f4"),
        ("sampleVariance", {}, [("variance", "sampleVariance", None)], "<f4"),
        ("minMax", {}, [("min", "min", None), ("max", "max", None)], "<u2"),
        ("percentile", {"percentiles": c([10, 50, 90])},
         [("p10", "percentile", 10), ("p50", "percentile", 50), ("p90", "percentile", 90)], "<f4"),
        ("percentile", {"percentiles": c([25]), "outputNames": c(["q1"])},
         [("q1", "percentile", 25)], "<f4"),
        ("combine", {"reducer1": reducer("mean"), "reducer2": reducer("stdDev"),
                     "outputPrefix": c("x_"), "sharedInputs": c(True)},
         [("mean", "mean", None), ("x_stdDev", "stdDev", None)], "<f4"),
    ]
    for name, args, outs, dt in cases:
        arr = npy(emu, expr(call("ImageCollection.reduce", collection=coll,
                                 reducer=reducer(name, **args)), **extra), g)
        want_names = ["%s_%s" % (b, o) for b in ("B4", "B8") for o, _, _ in outs]
        check(list(arr.dtype.names) == want_names, "%s: bands %s, want %s" % (
            name, arr.dtype.names, want_names))
        for b in ("B4", "B8"):
            vals, m = st[b]
            for out, op, p in outs:
                want, valid = rr.composite(op, vals, m, p)
                expect(arr, "%s_%s" % (b, out), want, valid, "reduce %s %s_%s" % (name, b, out),
                       dtype=dt)
    # masked where no member has a value, for count too
    arr = npy(emu, expr(call("Image.mask", image=call(
        "ImageCollection.reduce", collection=coll, reducer=reducer("count"))), **extra), g)
    check(np.array_equal(arr["B4_count"].astype(bool), keep.any(axis=0)),
          "count is masked exactly where every member is masked")
    # reduce.count / reduce.sum keep the band names
    for fn, op, dt in (("reduce.count", "count", "<u4"), ("reduce.sum", "sum", None),
                       ("reduce.mode", "mode", "<u2"),
                       ("reduce.mean", "mean", "<f4")):
        arr = npy(emu, expr(call(fn, collection=coll), **extra), g)
        check(list(arr.dtype.names) == ["B4", "B8"], "%s band names %s" % (fn, arr.dtype.names))
        want, valid = rr.composite(op, *st["B4"])
        expect(arr, "B4", want, valid, fn, dtype=dt)


def test_image_reduce(emu):
    img = MEMBERS[1]
    bands = ["B2", "B3", "B4", "B8"]
    g = grid("EPSG:32610", UTM30, W, H)
    vals = np.array([ref.sample(img, b, "EPSG:32610", UTM30, W, H)[0] for b in bands])
    mask = np.ones(vals.shape, dtype=bool)
    for name, args, outs, dt in (("max", {}, [("max", "max", None)], "<u2"),
                                 ("mean", {}, [("mean", "mean", None)], "<f4"),
                                 ("percentile", {"percentiles": c([25, 75])},
                                  [("p25", "percentile", 25), ("p75", "percentile", 75)], "<f4")):
        arr = npy(emu, expr(call("Image.reduce", image=select(load(img), bands),
                                 reducer=reducer(name, **args))), g)
        check(list(arr.dtype.names) == [o for o, _, _ in outs], "Image.reduce %s bands %s" % (
            name, arr.dtype.names))
        for out, op, p in outs:
            want, valid = rr.composite(op, vals, mask, p)
            expect(arr, out, want, valid, "Image.reduce " + out, dtype=dt)


def test_quality_mosaic(emu):
    coll, extra = masked_coll()
    st = ref_stack()
    g = grid("EPSG:32610", UTM30, W, H)
    arr = npy(emu, expr(call("ImageCollection.qualityMosaic", collection=coll,
                             qualityBand=c("B8")), **extra), g)
    check(list(arr.dtype.names) == ["B4", "B8"], "qualityMosaic bands %s" % (arr.dtype.names,))
    for b in ("B4", "B8"):
        want, ok = rr.quality_mosaic(st[b][0], st[b][1], st["B8"][0], st["B8"][1])
        expect(arr, b, want, ok, "qualityMosaic " + b, tol=0, dtype="<u2")
    msg = error(emu, call("ImageCollection.qualityMosaic", collection=coll, qualityBand=c("B9")),
                **extra)
    check(msg is not None and "qualityMosaic" in msg and "'B9'" in msg,
          "qualityMosaic with a missing band: %r" % msg)


def test_reduce_getinfo(emu):
    coll, extra = masked_coll()
    info = value(emu, call("ImageCollection.reduce", collection=coll, reducer=reducer(
        "percentile", percentiles=c([10, 90]), outputNames=c(["lo", "hi"]))), **extra)
    check([b["id"] for b in info["bands"]] == ["B4_lo", "B4_hi", "B8_lo", "B8_hi"],
          "percentile outputNames: %s" % [b["id"] for b in info["bands"]])
    check(info["bands"][0]["data_type"] == {"type": "PixelType", "precision": "float"},
          "percentile type %s" % info["bands"][0]["data_type"])
    info = value(emu, call("ImageCollection.reduce", collection=coll, reducer=reducer("count")),
                 **extra)
    check(info["bands"][0]["data_type"] == {"type": "PixelType", "precision": "int", "min": 0,
                                            "max": 2147483647},
          "count type %s" % info["bands"][0]["data_type"])
    check(value(emu, call("Reducer.getOutputs", reducer=reducer(
        "percentile", percentiles=c([5, 2.5])))) == ["p5", "p2.5"], "getOutputs")
    check(value(emu, call("Reducer.getOutputs", reducer=call(
        "Reducer.setOutputs", reducer=reducer("minMax"), outputs=c(["lo", "hi"])))) ==
          ["lo", "hi"], "setOutputs")


# --------------------------------------------------------------- regions

# A quadrilateral near San Francisco (SRTM; S2 10SEG; L9 044034).
RING = [[-122.45, 37.52], [-122.36, 37.55], [-122.38, 37.61], [-122.47, 37.58]]


def region_ref(image_id, bands, crs, base, ring, extra_mask=None):
    """{band: 1-D values} of the pixels of the working grid `base` whose
    centre is in the ring and whose band is valid, in row-major order; the
    number of centres in the ring; and {band: (values, weights)} of the
    pixels the ring covers in part, weighted by the covered share."""
    aff, w, h = rr.cover(crs, base, ring)
    ins = rr.inside(crs, aff, w, h, ring)
    share = rr.shares(crs, aff, w, h, ring)
    out, weighted, masks = {}, {}, {}
    for b in bands:
        masks[b] = ref.sample(image_id, b, crs, aff, w, h)
    for b in bands:
        v, m = masks[b]
        if extra_mask is not None:
            m = m & extra_mask(masks)
        out[b] = v[ins & m]
        keep = m & (share > 0)
        weighted[b] = (v[keep], share[keep])
    region_ref.weighted = weighted
    return out, int(ins.sum())


WEIGHTED = ("mean", "sum", "variance", "stdDev")


def want_stat(op, b, vals, p=None):
    """EE's rule: mean, sum, variance and stdDev weigh pixels by the share
    covered; the others take the pixels whose centre is in the region."""
    if op in WEIGHTED:
        return rr.wstat(op, *region_ref.weighted[b])
    return rr.stat(op, vals[b], p)


STATS = [("mean", {}, ["mean"]), ("count", {}, ["count"]), ("sum", {}, ["sum"]),
         ("min", {}, ["min"]), ("max", {}, ["max"]), ("stdDev", {}, ["stdDev"]),
         ("variance", {}, ["variance"]), ("median", {}, ["median"]),
         ("first", {}, ["first"]), ("last", {}, ["last"]),
         ("minMax", {}, ["min", "max"]),
         ("percentile", {"percentiles": c([10, 50, 90])}, ["p10", "p50", "p90"]),
         ("percentile", {"percentiles": c([75])}, ["p75"]),
         ("mode", {}, ["mode"]), ("sampleStdDev", {}, ["sampleStdDev"]),
         ("sampleVariance", {}, ["sampleVariance"]),
         ("combine", {"reducer1": call("Reducer.mean"), "reducer2": call("Reducer.stdDev"),
                      "sharedInputs": c(True)}, ["mean", "stdDev"])]


def check_region(emu, what, image, bands, vals, extra_args):
    for name, args, outs in STATS:
        got = value(emu, call("Image.reduceRegion", image=image, reducer=reducer(name, **args),
                              geometry=polygon(RING), **extra_args))
        want = {}
        for b in bands:
            for o in outs:
                key = b if len(outs) == 1 else "%s_%s" % (b, o)
                op = "percentile" if o.startswith("p") and o[1:].isdigit() else o
                want[key] = want_stat(op, b, vals, float(o[1:]) if op == "percentile" else None)
        check(set(got) == set(want), "%s %s: keys %s, want %s" % (what, name, sorted(got),
                                                                  sorted(want)))
        for k, v in want.items():
            check(close(got.get(k), v), "%s %s[%s]: %r, want %r" % (what, name, k, got.get(k), v))


def test_reduce_region_srtm(emu):
    base = rr.scale_affine("EPSG:4326", 90)
    vals, n = region_ref(SRTM, ["elevation"], "EPSG:4326", base, RING)
    check(n > 500 and vals["elevation"].size == n, "SRTM region has %d pixels" % n)
    check(np.ptp(vals["elevation"]) > 10, "SRTM region is not flat")
    check_region(emu, "srtm", load(SRTM), ["elevation"], vals, {"scale": c(90)})
    # unweighted(): the centre rule for the mean too, which differs here
    got = value(emu, call("Image.reduceRegion", image=load(SRTM), reducer=call(
        "Reducer.unweighted", reducer=reducer("mean")), geometry=polygon(RING), scale=c(90)))
    want = rr.stat("mean", vals["elevation"])
    check(close(got.get("elevation"), want), "unweighted mean %r, want %r" % (got, want))
    check(not close(want, want_stat("mean", "elevation", vals), 1e-6),
          "the weighted and the unweighted mean differ on this region")
    got = value(emu, call("Image.reduceRegion", image=load(SRTM),
                          reducer=reducer("frequencyHistogram"), geometry=polygon(RING),
                          scale=c(90)))
    check(got == {"elevation": rr.stat("frequencyHistogram", vals["elevation"])},
          "frequencyHistogram %r" % str(got)[:200])


def test_reduce_region_s2(emu):
    img = MEMBERS[0]
    bands = ["B4", "B8"]
    # crs + scale: a 20 m UTM grid with origin 0, 0
    vals, n = region_ref(img, bands, "EPSG:32610", rr.scale_affine("EPSG:32610", 20), RING)
    check(n > 1000, "S2 region has %d pixels" % n)
    check_region(emu, "s2 crs+scale", select(load(img), bands), bands, vals,
                 {"crs": c("EPSG:32610"), "scale": c(20)})
    # crs + crsTransform
    tr = [30, 0, 500010, 0, -30, 4200020]
    vals, _ = region_ref(img, bands, "EPSG:32610", tr, RING)
    check_region(emu, "s2 crsTransform", select(load(img), bands), bands, vals,
                 {"crs": c("EPSG:32610"), "crsTransform": c(tr)})
    # a mask: only pixels where B8 > THRESH count
    vals, _ = region_ref(img, bands, "EPSG:32610", rr.scale_affine("EPSG:32610", 20), RING,
                         extra_mask=lambda m: m["B8"][0] > THRESH)
    check(0 < vals["B4"].size < n, "the mask removes part of the region")
    masked = call("Image.updateMask", image=select(load(img), bands),
                  mask=call("Image.gt", image1=select(load(img), ["B8"]),
                            image2=call("Image.constant", value=c(THRESH))))
    check_region(emu, "s2 masked", masked, bands, vals, {"crs": c("EPSG:32610"), "scale": c(20)})


def test_reduce_region_l9(emu):
    members = [m["id"] for m in ref.collection(L9) if "044034" in m["id"]]
    img = members[3]
    bands = ["SR_B4", "SR_B5"]
    # no crs or scale: the first band's own 30 m grid
    vals, n = region_ref(img, bands, "EPSG:32610", ref.native_grid(img, "SR_B4")["affine"], RING)
    check(n > 500, "L9 region has %d pixels" % n)
    check_region(emu, "l9 native", select(load(img), bands), bands, vals, {})


def test_reduce_region_point(emu):
    lon, lat = -122.4123, 37.5567
    base = rr.scale_affine("EPSG:4326", 30)
    u, v = (lon - base[2]) / base[0], (lat - base[5]) / base[4]
    aff = [base[0], 0, base[2] + np.floor(u) * base[0], 0, base[4], base[5] + np.floor(v) * base[4]]
    want, m = ref.sample(SRTM, "elevation", "EPSG:4326", aff, 1, 1)
    pt = call("GeometryConstructors.Point", coordinates=c([lon, lat]))
    got = value(emu, call("Image.reduceRegion", image=load(SRTM), reducer=reducer("mean"),
                          geometry=pt, scale=c(30)))
    check(m[0, 0] and close(got.get("elevation"), want[0, 0]),
          "point mean %r, want %r" % (got, want[0, 0]))
    got = value(emu, call("Image.reduceRegion", image=load(SRTM), reducer=reducer("count"),
                          geometry=pt, scale=c(30)))
    check(got == {"elevation": 1}, "point count %r" % got)


def test_reduce_regions(emu):
    ring2 = [[-122.30, 37.50], [-122.25, 37.50], [-122.25, 37.54], [-122.30, 37.54]]
    fc = call("Collection", features={"arrayValue": {"values": [
        call("Feature", geometry=polygon(RING), metadata=c({"name": "a"})),
        call("Feature", geometry=polygon(ring2), metadata=c({"name": "b"}))]}})
    base = rr.scale_affine("EPSG:4326", 90)
    got = value(emu, call("Image.reduceRegions", image=load(SRTM), collection=fc,
                          reducer=reducer("mean"), scale=c(90)))
    check(got.get("type") == "FeatureCollection", "reduceRegions type %r" % got.get("type"))
    check(got.get("columns") == {"mean": "Float", "name": "String", "system:index": "String"},
          "columns %r" % got.get("columns"))
    feats = got.get("features", [])
    check([f.get("id") for f in feats] == ["0", "1"], "ids %r" % [f.get("id") for f in feats])
    for f, ring in zip(feats, (RING, ring2)):
        vals, _ = region_ref(SRTM, ["elevation"], "EPSG:4326", base, ring)
        check(close(f["properties"].get("mean"), want_stat("mean", "elevation", vals)),
              "reduceRegions mean %r" % f["properties"])
        check(f["geometry"]["type"] == "Polygon", "feature keeps its geometry")
    # a FeatureCollection stays one through filter and map, even empty
    rrs = call("Image.reduceRegions", image=load(SRTM), collection=fc, reducer=reducer("mean"),
               scale=c(90))
    only_b = call("Collection.filter", collection=rrs, filter=call(
        "Filter.equals", leftField=c("name"), rightValue=c("b")))
    got = value(emu, only_b)
    check(got.get("type") == "FeatureCollection" and [f["id"] for f in got["features"]] == ["1"],
          "filter keeps a FeatureCollection: %r" % str(got)[:200])
    none = call("Collection.filter", collection=rrs, filter=call(
        "Filter.equals", leftField=c("name"), rightValue=c("z")))
    got = value(emu, call("Collection.map", collection=none, baseAlgorithm={
        "functionDefinitionValue": {"argumentNames": ["f"], "body": "fbody"}}),
        fbody={"argumentReference": "f"})
    check(got == {"type": "FeatureCollection", "columns": {"system:index": "String"},
                  "features": []}, "an empty mapped FeatureCollection: %r" % got)
    # several bands: one property per band; several outputs: band_output
    img = MEMBERS[0]
    vals, _ = region_ref(img, ["B4", "B8"], "EPSG:32610", rr.scale_affine("EPSG:32610", 60), RING)
    got = value(emu, call("Image.reduceRegions", image=select(load(img), ["B4", "B8"]),
                          collection=fc, reducer=reducer("minMax"), crs=c("EPSG:32610"),
                          scale=c(60)))
    p = got["features"][0]["properties"]
    check(set(p) == {"name", "B4_min", "B4_max", "B8_min", "B8_max"}, "minMax keys %s" % sorted(p))
    check(close(p.get("B8_max"), rr.stat("max", vals["B8"])), "B8_max %r" % p.get("B8_max"))
    got = value(emu, call("Image.reduceRegions", image=select(load(img), ["B4", "B8"]),
                          collection=fc, reducer=reducer("count"), crs=c("EPSG:32610"),
                          scale=c(60)))
    p = got["features"][0]["properties"]
    check(p.get("B4") == vals["B4"].size, "count per band %r" % p)


def test_sample(emu):
    img = MEMBERS[0]
    bands = ["B4", "B8"]
    base = rr.scale_affine("EPSG:32610", 150)
    aff, w, h = rr.cover("EPSG:32610", base, RING)
    ins = rr.inside("EPSG:32610", aff, w, h, RING)
    b4, m4 = ref.sample(img, "B4", "EPSG:32610", aff, w, h)
    b8, m8 = ref.sample(img, "B8", "EPSG:32610", aff, w, h)
    keep = ins & m4 & m8 & (b8 > THRESH)
    masked = call("Image.updateMask", image=select(load(img), bands),
                  mask=call("Image.gt", image1=select(load(img), ["B8"]),
                            image2=call("Image.constant", value=c(THRESH))))
    proj = call("Projection", crs=c("EPSG:32610"))
    got = value(emu, call("Image.sample", image=masked, region=polygon(RING), scale=c(150),
                          projection=proj))
    feats = got["features"]
    check(len(feats) == int(keep.sum()), "sample: %d features, want %d" % (len(feats), keep.sum()))
    check(got["columns"] == {"B4": "Integer", "B8": "Integer", "system:index": "String"},
          "sample columns %r" % got["columns"])
    check([f["properties"].get("B4") for f in feats] == [int(x) for x in b4[keep]],
          "sample B4 values in row-major order")
    check(all(f["geometry"] is None for f in feats), "no geometries by default")
    # geometries: the pixel centres in lon/lat
    got = value(emu, call("Image.sample", image=masked, region=polygon(RING), scale=c(150),
                          projection=proj, geometries=c(True)))
    x, y = rr.centres(aff, w, h)
    lon, lat = rr.transform("EPSG:32610", "EPSG:4326", x[keep], y[keep])
    pts = np.array([f["geometry"]["coordinates"] for f in got["features"]])
    check(pts.shape == (int(keep.sum()), 2) and np.allclose(pts[:, 0], lon, atol=1e-9)
          and np.allclose(pts[:, 1], lat, atol=1e-9), "sample geometries at pixel centres")
    # dropNulls false: masked pixels stay, with null values
    got = value(emu, call("Image.sample", image=masked, region=polygon(RING), scale=c(150),
                          projection=proj, dropNulls=c(False)))
    feats = got["features"]
    check(len(feats) == int((ins & m4 & m8).sum()), "dropNulls false keeps every pixel")
    check(sum(1 for f in feats if f["properties"].get("B4") is None) ==
          int((ins & m4 & m8 & ~(b8 > THRESH)).sum()), "masked pixels are null")
    # factor: about that share of the pixels, reproducibly for one seed
    n = int(keep.sum())
    runs = [value(emu, call("Image.sample", image=masked, region=polygon(RING), scale=c(150),
                            projection=proj, factor=c(0.5), seed=c(s))) for s in (1, 1, 2)]
    k = [len(r["features"]) for r in runs]
    check(abs(k[0] - n / 2) < 4 * np.sqrt(n / 4), "factor 0.5 keeps %d of %d" % (k[0], n))
    check(runs[0] == runs[1], "the same seed samples the same pixels")
    check(runs[0] != runs[2], "another seed samples other pixels")
    got = value(emu, call("Image.sample", image=select(load(img), bands), region=polygon(RING),
                          scale=c(150), projection=proj, numPixels=c(100)))
    check(abs(len(got["features"]) - 100) < 40, "numPixels 100 gives %d" % len(got["features"]))


def test_errors(emu):
    # maxPixels: a lon/lat grid of 0.001 degree whose edges fall mid-pixel,
    # so the bounding box touches 102 x 102 pixels.
    rect = call("GeometryConstructors.Rectangle", coordinates=c(
        [-122.50005, 37.49995, -122.39995, 37.60005]), geodesic=c(False))
    tr = [0.001, 0, -180, 0, -0.001, 90]
    msg = error(emu, call("Image.reduceRegion", image=load(SRTM), reducer=reducer("mean"),
                          geometry=rect, crs=c("EPSG:4326"), crsTransform=c(tr),
                          maxPixels=c(10000)))
    check(msg == "Image.reduceRegion: Too many pixels in the region. Found 10404, but maxPixels "
          "allows only 10000.", "maxPixels message %r" % msg)
    # bestEffort: the next coarser grid (0.002 degree) fits
    got = value(emu, call("Image.reduceRegion", image=load(SRTM), reducer=reducer("count"),
                          geometry=rect, crs=c("EPSG:4326"), crsTransform=c(tr),
                          maxPixels=c(10000), bestEffort=c(True)))
    ring = [[-122.50005, 37.49995], [-122.39995, 37.49995], [-122.39995, 37.60005],
            [-122.50005, 37.60005]]
    aff, w, h = rr.cover("EPSG:4326", [0.002, 0, -180, 0, -0.002, 90], ring)
    want = int(rr.inside("EPSG:4326", aff, w, h, ring).sum())
    check(got == {"elevation": want}, "bestEffort count %r, want %d" % (got, want))
    msg = error(emu, reducer("percentile", percentile=c([10])))
    check(msg is not None and msg.startswith("Reducer.percentile: Unrecognized argument "
                                             "'percentile'."), "unknown argument: %r" % msg)
    msg = error(emu, call("Image.reduceRegion", image=load(SRTM), reducer=reducer("mean"),
                          geometry=rect, scales=c(30)))
    check(msg is not None and "Unrecognized argument 'scales'" in msg, "scales: %r" % msg)
    msg = error(emu, reducer("combine", reducer1=reducer("mean"), reducer2=reducer("count")))
    check(msg is not None and "sharedInputs" in msg, "combine without sharedInputs: %r" % msg)
    msg = error(emu, reducer("percentile", percentiles=c([120])))
    check(msg is not None and "between 0 and 100" in msg, "percentile 120: %r" % msg)
    msg = error(emu, call("Image.reduceRegion", image=load(SRTM), reducer=c(3), geometry=rect))
    check(msg == "Image.reduceRegion, argument 'reducer': Invalid type.\nExpected type: "
          "Reducer.\nActual type: Integer.", "reducer type: %r" % msg)
    # getInfo of more than 5000 features: EE's message
    msg = error(emu, call("Image.sample", image=load(SRTM), region=rect, scale=c(60)))
    check(msg == "Collection query aborted after accumulating over 5000 elements.",
          "5000 elements: %r" % msg)
    got = value(emu, call("Collection.size", collection=call(
        "Image.sample", image=load(SRTM), region=rect, scale=c(90))))
    check(isinstance(got, int) and got > 5000 // 9, "sample size %r" % got)


def test_lua_client():
    """The same functions through eefetch's own client (its API comes from
    algorithms.list): count() is reduce.count, FeatureCollection(list) is
    Collection, and results come back through getInfo."""
    import subprocess
    ring2 = [[-122.30, 37.50], [-122.25, 37.50], [-122.25, 37.54], [-122.30, 37.54]]
    snippet = """
local ic = ee.ImageCollection("%s"):filterDate("2023-01-01", "2023-03-01")
  :filter(ee.Filter.eq("MGRS_TILE", "10SEG")):select({"B4", "B8"})
local srtm = ee.Image("%s")
local poly = ee.Geometry.Polygon({%s})
local fc = ee.FeatureCollection({ee.Feature(poly, {name = "a"}),
                                 ee.Feature(ee.Geometry.Polygon({%s}), {name = "b"})})
print(json.encode({
  count = ic:count():bandNames():getInfo(),
  pct = ic:reduce(ee.Reducer.percentile({10, 90})):bandNames():getInfo(),
  region = srtm:reduceRegion({reducer = ee.Reducer.minMax(), geometry = poly,
                              scale = 90}):getInfo(),
  means = srtm:reduceRegions({collection = fc, reducer = ee.Reducer.mean(), scale = 90})
            :aggregate_array("mean"):getInfo(),
}))
""" % (S2, SRTM, json.dumps(RING).replace("[", "{").replace("]", "}"),
       json.dumps(ring2).replace("[", "{").replace("]", "}"))
    r = subprocess.run([emulib.binary(), "eval", "--emulator", snippet], capture_output=True,
                       text=True, timeout=300)
    if not check(r.returncode == 0, "eval: %s" % r.stderr[-500:]):
        return
    got = json.loads(r.stdout.strip().splitlines()[-1])
    check(got["count"] == ["B4", "B8"], "count() band names %r" % got["count"])
    check(got["pct"] == ["B4_p10", "B4_p90", "B8_p10", "B8_p90"], "percentile names %r" % got["pct"])
    base = rr.scale_affine("EPSG:4326", 90)
    v1, _ = region_ref(SRTM, ["elevation"], "EPSG:4326", base, RING)
    m1 = want_stat("mean", "elevation", v1)
    v2, _ = region_ref(SRTM, ["elevation"], "EPSG:4326", base, ring2)
    m2 = want_stat("mean", "elevation", v2)
    check(got["region"] == {"elevation_min": rr.stat("min", v1["elevation"]),
                            "elevation_max": rr.stat("max", v1["elevation"])},
          "minMax through the client %r" % got["region"])
    check(len(got["means"]) == 2 and close(got["means"][0], m1) and close(got["means"][1], m2),
          "reduceRegions means through the client %r" % got["means"])


def test_latency_model():
    """A region reduction reads images: value:compute answers no sooner than
    --latency-per-image-ms times the images it read."""
    import time
    coll, extra = masked_coll()
    node = call("Image.reduceRegion", image=call("reduce.mean", collection=coll),
                reducer=reducer("count"), geometry=polygon(CLIP_RING), scale=c(500),
                crs=c("EPSG:32610"))
    with emulib.Emulator("--latency-per-image-ms", "150") as emu:
        t0 = time.monotonic()
        got = value(emu, node, **extra)
        took = time.monotonic() - t0
        check(took >= 0.15 * len(MEMBERS), "reduceRegion over %d images took %.2f s" % (
            len(MEMBERS), took))
        check(got.get("B4", 0) > 0, "the reduction counted pixels: %r" % got)
        t0 = time.monotonic()
        value(emu, call("Number.add", left=c(1), right=c(2)))
        check(time.monotonic() - t0 < 0.15 * len(MEMBERS), "a number costs no image time")


def main():
    with emulib.Emulator("--no-auth") as emu:
        emulib.run_each([test_collection_reduce, test_image_reduce, test_quality_mosaic, test_reduce_getinfo,
                         test_reduce_region_srtm, test_reduce_region_s2, test_reduce_region_l9,
                         test_reduce_region_point, test_reduce_regions, test_sample,
                         test_errors], FAILS, emu)
    emulib.run_each([test_lua_client, test_latency_model], FAILS)
    return emulib.report(FAILS)


if __name__ == "__main__":
    sys.exit(main())
