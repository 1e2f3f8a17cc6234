"""Per-pixel image algorithms (docs/emulator.md "Pixel operations") over the
catalog's Landsat 9 and SRTM images: math functions, bitwise operators,
unitScale, clamp, Image.expression (the official JS client's graph and an
eefetch recipe), Image.resample, Terrain.*, ImageCollection.toBands and
Image.linkCollection.

Every expected pixel comes from reference.py (the independent model of the
catalog) and numpy computations written here or in ref_pixelops.py; masks
are checked through Image.mask() of the result, output types through
getInfo (value:compute).
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from osgeo import gdal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
from emulib import c, call, expr, load, select, grid  # noqa: E402
import reference as ref  # noqa: E402
import ref_pixelops as rp  # noqa: E402

gdal.UseExceptions()
FAILS = []
PROJ = "/v1/projects/test-project"

L9IMG = ref.L9 + "/LC09_044034_20230107"
L9IMG2 = ref.L9 + "/LC09_044034_20230123"
# A 30 m window of scene 044/034 (upper-left 458985, 4264515), pixel-aligned.
C0, R0, W, H = 2000, 3000, 48, 36
L9AFF = [30, 0, 458985 + C0 * 30, 0, -30, 4264515 - R0 * 30]
L9GRID = grid("EPSG:32610", L9AFF, W, H)


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def npy(emu, expression, g, band_ids=None):
    body = {"expression": expression, "fileFormat": "NPY", "grid": g}
    if band_ids:
        body["bandIds"] = band_ids
    status, _, data = emu.post(PROJ + "/image:computePixels", body)
    if status != 200:
        raise AssertionError("computePixels: %d %s" % (status, data[:400]))
    return emulib.decode_npy(data)


def value(emu, expression):
    status, _, data = emu.post(PROJ + "/value:compute", {"expression": expression})
    if status != 200:
        raise AssertionError("value:compute: %d %s" % (status, data[:400]))
    return json.loads(data)["result"]


def error(emu, expression):
    """The message of a 400 from value:compute."""
    status, _, data = emu.post(PROJ + "/value:compute", {"expression": expression})
    check(status == 400, "expected 400, got %d: %s" % (status, data[:200]))
    return emulib.error_of(data)["message"] if status == 400 else ""


def expect(arr, name, want, mask, what, tol=0.0, dtype=None):
    if name not in arr.dtype.names:
        check(False, "%s: band %s missing (have %s)" % (what, name, arr.dtype.names))
        return
    got = arr[name].astype(np.float64)
    if dtype is not None:
        check(arr[name].dtype == np.dtype(dtype), "%s: dtype %s, want %s"
              % (what, arr[name].dtype, dtype))
    exp = np.where(mask, want, 0)
    bad = ~np.isclose(got, exp, rtol=tol, atol=tol) if tol else got != exp
    if bad.any():
        k = tuple(np.argwhere(bad)[0])
        check(False, "%s: %d of %d pixels differ (first at %s: got %r want %r)"
              % (what, int(bad.sum()), bad.size, k, got[k], exp[k]))


def pixel_type(info, band=0):
    return info["bands"][band]["data_type"]


def expect_type(emu, node, precision, lo=None, hi=None, what=""):
    t = pixel_type(value(emu, expr(node)))
    ok = t.get("precision") == precision
    if precision == "int":
        ok = ok and t.get("min") == lo and t.get("max") == hi
    check(ok, "%s: type %s, want %s [%s, %s]" % (what, t, precision, lo, hi))


def band(img, name):
    return select(load(img), [name])


def l9(name, img=L9IMG):
    return ref.native_pixels(img, name, C0, R0, W, H)


def with_mask(node):
    """node and its mask as bands "v" and "m"."""
    return call("Image.addBands", dstImg=call("Image.rename", input=node, names=c(["v"])),
                srcImg=call("Image.rename", input=call("Image.mask", image=node),
                            names=c(["m"])))


def expect_masked(emu, node, want, mask, what, tol=0.0, dtype=None):
    arr = npy(emu, expr(with_mask(node)), L9GRID)
    expect(arr, "v", want, mask, what, tol, dtype)
    expect(arr, "m", mask.astype(np.float64), np.ones_like(mask), what + " (mask)")


# ------------------------------------------------------------- math functions

def test_unary(emu):
    b4, m4 = l9("SR_B4")
    b5, _ = l9("SR_B5")
    # Half of the window masked (a value test), so masks are seen to pass.
    keep = b5 > np.median(b5)
    masked = call("Image.updateMask", image=band(L9IMG, "SR_B4"),
                  mask=call("Image.gt", image1=band(L9IMG, "SR_B5"), image2=c(float(np.median(b5)))))
    m = m4 & keep
    scaled = call("Image.multiply", image1=masked, image2=c(0.0001))
    s = (b4 * np.float32(0.0001)).astype(np.float32).astype(np.float64)
    f32 = lambda v: v.astype(np.float32).astype(np.float64)  # noqa: E731
    cases = [
        ("Image.sqrt", masked, np.sqrt(b4), "<f4"),
        ("Image.log", masked, np.log(b4), "<f4"),
        ("Image.log10", masked, np.log10(b4), "<f4"),
        ("Image.exp", scaled, np.exp(s), "<f4"),
        ("Image.floor", scaled, np.floor(s), "<f4"),
        ("Image.ceil", scaled, np.ceil(s), "<f4"),
        ("Image.round", call("Image.multiply", image1=masked, image2=c(0.001)),
         np.round(f32(b4 * 0.001) + 0.0), "<f4"),
        ("Image.sin", scaled, np.sin(s), "<f4"),
        ("Image.atan", scaled, np.arctan(s), "<f4"),
        ("Image.not", call("Image.subtract", image1=masked, image2=c(int(b4[0, 0]))),
         (b4 == b4[0, 0]).astype(float), "|u1"),
    ]
    for fn, node, want, dt in cases:
        expect_masked(emu, call(fn, value=node), f32(want) if dt == "<f4" else want, m, fn,
                      tol=2e-6 if dt == "<f4" else 0, dtype=dt)
    diff = call("Image.subtract", image1=masked, image2=band(L9IMG, "SR_B5"))
    expect_masked(emu, call("Image.abs", value=diff), np.abs(b4 - b5), m, "Image.abs",
                  dtype="<u2")
    expect_type(emu, call("Image.abs", value=diff), "int", 0, 65535, "abs type")
    expect_type(emu, call("Image.sqrt", value=band(L9IMG, "SR_B4")), "float", what="sqrt type")
    expect_type(emu, call("Image.sqrt", value=call("Image.toDouble", value=band(L9IMG, "SR_B4"))),
                "double", what="sqrt of double")
    expect_type(emu, call("Image.not", value=band(L9IMG, "SR_B4")), "int", 0, 1, "not type")
    expect_type(emu, call("Image.bitwiseNot", value=band(L9IMG, "SR_B4")), "int", -65536, -1,
                "bitwiseNot type")
    expect_masked(emu, call("Image.bitwiseNot", value=masked), -b4 - 1, m, "bitwiseNot",
                  dtype="<i4")
    # Names and properties: a unary function keeps band names, drops properties.
    info = value(emu, expr(call("Image.sqrt", value=band(L9IMG, "SR_B4"))))
    check([b["id"] for b in info["bands"]] == ["SR_B4"], "sqrt band name %s" % info["bands"])
    check(not info.get("properties"), "sqrt keeps no properties: %s" % info.get("properties"))


def test_binary(emu):
    b4, m4 = l9("SR_B4")
    b5, _ = l9("SR_B5")
    qa, _ = l9("QA_PIXEL")
    keep = b5 > np.median(b5)
    masked = call("Image.updateMask", image=band(L9IMG, "SR_B4"),
                  mask=call("Image.gt", image1=band(L9IMG, "SR_B5"), image2=c(float(np.median(b5)))))
    m = m4 & keep
    B5 = band(L9IMG, "SR_B5")
    QA = band(L9IMG, "QA_PIXEL")
    i4, i5, iq = b4.astype(np.int64), b5.astype(np.int64), qa.astype(np.int64)
    cases = [
        ("Image.min", masked, B5, np.minimum(b4, b5), "<u2", ("int", 0, 65535)),
        ("Image.max", masked, B5, np.maximum(b4, b5), "<u2", ("int", 0, 65535)),
        ("Image.mod", masked, c(7), i4 % 7, "|u1", ("int", 0, 6)),
        ("Image.bitwiseOr", masked, B5, i4 | i5, "<u2", ("int", 0, 65535)),
        ("Image.bitwiseXor", masked, B5, i4 ^ i5, "<u2", ("int", 0, 65535)),
        ("Image.leftShift", masked, c(2), i4 << 2, "<u4", ("int", 0, 262140)),
        ("Image.rightShift", call("Image.updateMask", image=QA, mask=masked), c(8), iq >> 8,
         "|u1", ("int", 0, 255)),
        ("Image.pow", call("Image.multiply", image1=masked, image2=c(0.0001)), c(2),
         (b4 * np.float32(0.0001)).astype(np.float32).astype(np.float64) ** 2, "<f4",
         ("float",)),
        ("Image.atan2", masked, B5, np.arctan2(b4, b5), "<f4", ("float",)),
        ("Image.hypot", masked, B5, np.hypot(b4, b5), "<f4", ("float",)),
    ]
    for fn, p, q, want, dt, typ in cases:
        node = call(fn, image1=p, image2=q)
        want = want.astype(np.float64)
        if dt == "<f4":
            want = want.astype(np.float32).astype(np.float64)
        expect_masked(emu, node, want, m, fn, tol=2e-6 if dt == "<f4" else 0, dtype=dt)
        expect_type(emu, node, *typ, what=fn + " type")
    # QA bits as users decode them: (QA >> 8) & 3 is the cloud confidence.
    conf = call("Image.bitwiseAnd", image1=call("Image.rightShift", image1=QA, image2=c(8)),
                image2=c(3))
    arr = npy(emu, expr(conf), L9GRID)
    expect(arr, "QA_PIXEL", (iq >> 8) & 3, np.ones_like(m4), "QA cloud confidence", dtype="|u1")
    # Band matching: a 2-band image against a 1-band one.
    two = select(load(L9IMG), ["SR_B4", "SR_B5"])
    arr = npy(emu, expr(call("Image.max", image1=two, image2=c(9000))), L9GRID)
    expect(arr, "SR_B4", np.maximum(b4, 9000), m4, "max 2 bands (1)")
    expect(arr, "SR_B5", np.maximum(b5, 9000), m4, "max 2 bands (2)")


def test_unit_scale_clamp(emu):
    b4, m4 = l9("SR_B4")
    node = call("Image.unitScale", input=band(L9IMG, "SR_B4"), low=c(7273), high=c(15000))
    arr = npy(emu, expr(node), L9GRID)
    expect(arr, "SR_B4", ((b4 - 7273) / (15000 - 7273)).astype(np.float32), m4, "unitScale",
           tol=2e-6, dtype="<f4")
    expect_type(emu, node, "float", what="unitScale type")
    node = call("Image.clamp", input=band(L9IMG, "SR_B4"), low=c(8500), high=c(9500))
    arr = npy(emu, expr(node), L9GRID)
    expect(arr, "SR_B4", np.clip(b4, 8500, 9500), m4, "clamp", dtype="<u2")
    expect_type(emu, node, "int", 8500, 9500, "clamp type")
    node = call("Image.clamp", input=band(L9IMG, "SR_B4"), low=c(8500.5), high=c(9500))
    arr = npy(emu, expr(node), L9GRID)
    expect(arr, "SR_B4", np.clip(b4, 8500.5, 9500), m4, "clamp fractional", dtype="<f4")


# ----------------------------------------------------------------- expression

# What the official JS client (npm @google/earthengine, ee.Serializer.
# toCloudApiJSON, run offline) sends for
#   img.expression('(NIR - RED) / (NIR + RED)',
#                  {NIR: img.select('SR_B5'), RED: img.select('SR_B4')})
JS_GRAPH = json.loads("""{"result":"0","values":{"0":{"functionInvocationValue":{"arguments":
{"DEFAULT_EXPRESSION_IMAGE":{"valueReference":"1"},"NIR":{"functionInvocationValue":{"arguments":
{"input":{"valueReference":"1"},"bandSelectors":{"constantValue":["SR_B5"]}},"functionName":
"Image.select"}},"RED":{"functionInvocationValue":{"arguments":{"input":{"valueReference":"1"},
"bandSelectors":{"constantValue":["SR_B4"]}},"functionName":"Image.select"}}},
"functionReference":"2"}},"1":{"functionInvocationValue":{"arguments":{"id":{"constantValue":
"LANDSAT/LC09/C02/T1_L2/LC09_044034_20230107"}},"functionName":"Image.load"}},"2":
{"functionInvocationValue":{"arguments":{"expression":{"constantValue":
"(NIR - RED) / (NIR + RED)"},"argName":{"valueReference":"3"},"vars":{"arrayValue":{"values":
[{"valueReference":"3"},{"constantValue":"NIR"},{"constantValue":"RED"}]}}},"functionName":
"Image.parseExpression"}},"3":{"constantValue":"DEFAULT_EXPRESSION_IMAGE"}}}""")


def expression(text, **images):
    """The graph the clients send for img.expression(text, images), img = L9IMG."""
    names = ["DEFAULT_EXPRESSION_IMAGE"] + sorted(images)
    args = {"DEFAULT_EXPRESSION_IMAGE": load(L9IMG)}
    args.update(images)
    fn = call("Image.parseExpression", expression=c(text), argName=c(names[0]),
              vars=c(names))
    return expr({"functionInvocationValue": {"functionReference": "f", "arguments": args}},
                f=fn)


def floordiv(a, b):
    return np.where(b == 0, 0, np.floor(a / np.where(b == 0, 1, b)))


def test_expression_js_client(emu):
    b4, m4 = l9("SR_B4")
    b5, _ = l9("SR_B5")
    arr = npy(emu, JS_GRAPH, L9GRID)
    # EE's guide: expression() divides two integers with floor division.
    expect(arr, "SR_B5", floordiv(b5 - b4, b5 + b4), m4, "JS client NDVI (ints)", dtype="<i4")
    info = value(emu, JS_GRAPH)
    check([b["id"] for b in info["bands"]] == ["SR_B5"], "expression band %s" % info["bands"])


def test_expression_language(emu):
    b4, m4 = l9("SR_B4")
    b5, _ = l9("SR_B5")
    qa, _ = l9("QA_PIXEL")
    NIR, RED = band(L9IMG, "SR_B5"), band(L9IMG, "SR_B4")
    f32 = lambda v: np.asarray(v, dtype=np.float32).astype(np.float64)  # noqa: E731
    nd = (b5 - b4) / (b5 + b4)
    cases = [
        # text, images, band, want, dtype, tolerance
        # 1.0 is image1 of the first operator: its name, "constant", wins.
        ("1.0 * (NIR - RED) / (NIR + RED)", dict(NIR=NIR, RED=RED), "constant", f32(nd), "<f4",
         2e-6),
        ("(b('SR_B5') - b('SR_B4')) / float(b('SR_B5') + b('SR_B4'))", {}, "SR_B5", f32(nd),
         "<f4", 2e-6),
        ("(b(4) - b(3)) * 2 - -b(3) % 7", {}, "SR_B5", (b5 - b4) * 2 - np.fmod(-b4, 7), "<i4", 0),
        ("2.5 * ((NIR - RED) / (NIR + 6 * RED - 7.5 * L.SR_B2 + 1))",
         dict(NIR=NIR, RED=RED, L=load(L9IMG)), "constant", None, "<f4", 2e-5),
        ("b('SR_B4') > 9000 && b('SR_B5') <= 12000 || !(b('SR_B4') != 8800)", {}, "SR_B4",
         ((b4 > 9000) & (b5 <= 12000)) | (b4 == 8800), "|u1", 0),
        ("b('SR_B4') > 9000 ^ b('SR_B5') > 12000", {}, "SR_B4", (b4 > 9000) != (b5 > 12000),
         "|u1", 0),
        ("b('SR_B4') > 9000 ? b('SR_B5') : 0", {}, "constant", np.where(b4 > 9000, b5, 0),
         "<u2", 0),
        ("ratio = sqrt(NIR) / max(RED, 1.0) + Math.PI", dict(NIR=NIR, RED=RED), "ratio",
         f32(np.sqrt(b5)) / b4 + np.pi, "<f8", 2e-6),
        ("I[3] * 2 + I['SR_B5'] - abs(b(3) - 9000)", dict(I=load(L9IMG)), "SR_B4",
         b4 * 2 + b5 - np.abs(b4 - 9000), "<i4", 0),
        ("10 / 20 + 10 * 1.0 / 20", {}, "constant", np.full(b4.shape, 0.5), "<f4", 0),
        ("(b('QA_PIXEL') % 4096) / 256", {}, "QA_PIXEL", floordiv(np.fmod(qa, 4096), 256),
         "<u2", 0),
    ]
    evi = 2.5 * ((f32(b5) - b4) / (b5 + 6 * b4 - 7.5 * l9("SR_B2")[0] + 1))
    for text, images, name, want, dt, tol in cases:
        if want is None:
            want = f32(evi)
        arr = npy(emu, expression(text, **images), L9GRID)
        mask = m4
        expect(arr, name, want, mask, "expression %r" % text, tol, dt)
    # Masks: an input's mask reaches the result.
    masked = call("Image.updateMask", image=band(L9IMG, "SR_B5"),
                  mask=call("Image.gt", image1=band(L9IMG, "SR_B4"), image2=c(9000)))
    g = expression("M - b('SR_B4')", M=masked)
    g["values"]["0"] = with_mask(g["values"]["0"])
    arr = npy(emu, g, L9GRID)
    expect(arr, "v", b5 - b4, b4 > 9000, "expression mask (values)")
    expect(arr, "m", (b4 > 9000).astype(float), np.ones_like(m4), "expression mask")
    # mapFreeVarsToDefaultImageBands: bare names are bands of the image.
    g = expression("SR_B5 - SR_B4")
    g["values"]["f"]["functionInvocationValue"]["arguments"]["mapFreeVarsToDefaultImageBands"] \
        = c(True)
    arr = npy(emu, g, L9GRID)
    expect(arr, "SR_B5", b5 - b4, m4, "free variables as bands")
    # Long and deep texts: a chain of 3000 additions works; nesting and
    # length have limits with their own messages.
    arr = npy(emu, expression("b('SR_B4')" + " + 1" * 3000), L9GRID)
    expect(arr, "SR_B4", b4 + 3000, m4, "3000 chained additions")
    msg = error(emu, expression("(" * 300 + "1" + ")" * 300))
    check("nested too deeply" in msg, "deep nesting: %r" % msg)
    msg = error(emu, expression("1" + " + 1" * 6000))
    check("longer than 20000 characters" in msg, "long text: %r" % msg)
    # Errors name the function and what was wrong.
    for text, images, words in (
            ("(b(1) + ", {}, "Syntax error"),
            ("b(1) + NIR2", dict(NIR=NIR), "Variable 'NIR2' is not defined"),
            ("frobnicate(b(1))", {}, "Unknown function 'frobnicate'"),
            ("b('SR_B9')", {}, "did not match any bands"),
            ("b(1) $ 2", {}, "Syntax error at character 6")):
        msg = error(emu, expression(text, **images))
        check(words in msg, "expression %r: message %r lacks %r" % (text, msg, words))
        check(msg.startswith("Image."), "expression %r: message %r names no function"
              % (text, msg))


RECIPE = """
local img = ee.Image("COPERNICUS/S2_SR_HARMONIZED/20230105T183751_20230105T183750_T10SEG")
local ndvi = img:expression("(b('B8') - b('B4')) / (b('B8') + b('B4'))")
local ndvi_f = img:expression("1.0 * (b('B8') - b('B4')) / (b('B8') + b('B4'))")
local nir = img:expression("NIR - b('B4')", { NIR = img:select("B8") })
download{ image = ndvi:addBands(ndvi_f):addBands(nir), region = geo.bbox(-122.42, 37.70, -122.40, 37.715),
  crs = "EPSG:32610", pixel_size = 10, output = params.out }
"""


def test_expression_recipe(emu):
    """docs/recipes.md's expression example, downloaded by a recipe through
    `eefetch run --emulator`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.lua")
        out = os.path.join(tmp, "ndvi.tif")
        with open(path, "w") as f:
            f.write(RECIPE)
        p = subprocess.run([emulib.binary(), "run", path, "--emulator", "--progress", "off",
                            "--set", "out=" + out], capture_output=True, text=True, timeout=300)
        if not check(p.returncode == 0, "recipe failed: %s" % (p.stdout + p.stderr)[-800:]):
            return
        ds = gdal.Open(out)
        gt = ds.GetGeoTransform()
        aff = [gt[1], gt[2], gt[0], gt[4], gt[5], gt[3]]
        w, h = ds.RasterXSize, ds.RasterYSize
        img = [m["id"] for m in ref.collection(ref.S2) if m["id"].endswith(
            "20230105T183751_20230105T183750_T10SEG")][0]
        b4, m = ref.sample(img, "B4", "EPSG:32610", aff, w, h)
        b8, _ = ref.sample(img, "B8", "EPSG:32610", aff, w, h)
        got = [ds.GetRasterBand(k + 1).ReadAsArray().astype(np.float64) for k in range(3)]
        # Pixels outside the region (a lon/lat box, not a UTM rectangle)
        # hold the file's nodata.
        inside = got[0] != ds.GetRasterBand(1).GetNoDataValue()
        check(inside.sum() > 0.8 * inside.size, "recipe: only %d of %d pixels in the region"
              % (int(inside.sum()), inside.size))
        want = [floordiv(b8 - b4, b8 + b4),
                ((b8 - b4) / (b8 + b4)).astype(np.float32).astype(np.float64), b8 - b4]
        for k, what in enumerate(("integer NDVI", "float NDVI", "NIR - B4")):
            bad = inside & ~np.isclose(got[k], np.where(m, want[k], 0), rtol=2e-6, atol=2e-6)
            check(not bad.any(), "recipe %s: %d pixels differ" % (what, int(bad.sum())))


# ------------------------------------------------------------------ resample

def test_resample(emu):
    for crs, aff, w, h in (
            ("EPSG:32610", [10, 0, 458985 + C0 * 30 + 3.3, 0, -10, 4264515 - R0 * 30 - 7.1], 40, 30),
            ("EPSG:32610", [7, 0, 458985 - 101, 0, -7, 4264515 - 50000], 36, 20),   # scene edge
            ("EPSG:4326", [0.0002, 0, -122.3, 0, -0.0002, 37.8], 40, 30)):
        g = grid(crs, aff, w, h)
        for mode in ("bilinear", "bicubic"):
            node = call("Image.resample", image=band(L9IMG, "SR_B4"), mode=c(mode))
            want, mask = rp.resample(L9IMG, "SR_B4", crs, aff, w, h, mode)
            arr = npy(emu, expr(call("Image.toFloat", value=node)), g)
            expect(arr, "SR_B4", want.astype(np.float32), mask, "resample %s %s" % (mode, crs),
                   tol=1e-4)
            # On the wire the band keeps its type: rounded interpolated values.
            arr = npy(emu, expr(node), g)
            expect(arr, "SR_B4", np.clip(np.floor(want + 0.5), 0, 65535), mask,
                   "resample %s %s uint16" % (mode, crs), tol=1.0, dtype="<u2")
            check(mask.any() and (not mask.all() or crs != "EPSG:32610" or aff[0] != 7),
                  "resample test grid %s sees both valid and masked pixels" % aff)
    # The default mode is bilinear; a pixel-aligned request is unchanged.
    arr = npy(emu, expr(call("Image.resample", image=band(L9IMG, "SR_B4"))), L9GRID)
    b4, m4 = l9("SR_B4")
    expect(arr, "SR_B4", b4, m4, "resample on the native grid")
    msg = error(emu, expr(call("Image.resample", image=band(L9IMG, "SR_B4"), mode=c("nearest"))))
    check("Image.resample" in msg and "nearest" in msg, "resample mode message %r" % msg)


# ------------------------------------------------------------------- terrain

EVEREST = (960930, 115243)


def srtm_grid(c0, r0):
    return [1 / 3600, 0, -180 - 0.5 / 3600 + c0 / 3600, 0, -1 / 3600, 60 + 0.5 / 3600 - r0 / 3600]


def test_terrain(emu):
    srtm = load(ref.SRTM)
    for crs, aff, w, h, what in (
            ("EPSG:4326", srtm_grid(EVEREST[0] - 40, EVEREST[1] - 30), 64, 48, "Everest native"),
            ("EPSG:4326", srtm_grid(200000, 0), 32, 8, "northern edge"),
            ("EPSG:32645", [25, 0, 486000, 0, -25, 3097000], 40, 32, "Everest UTM 45N")):
        want, mask = rp.terrain(ref.SRTM, "elevation", crs, aff, w, h)
        g = grid(crs, aff, w, h)
        for fn, name in (("Terrain.slope", "slope"), ("Terrain.aspect", "aspect")):
            arr = npy(emu, expr(call(fn, input=srtm)), g)
            expect(arr, name, want[name].astype(np.float32), mask, "%s %s" % (fn, what),
                   tol=1e-4, dtype="<f4")
        arr = npy(emu, expr(call("Terrain.hillshade", input=srtm)), g)
        expect(arr, "hillshade", want["hillshade"], mask, "hillshade " + what, tol=1.0,
               dtype="|u1")
        check(mask.any() and (what != "northern edge" or not mask[0].any()),
              "terrain %s: mask %d of %d" % (what, int(mask.sum()), mask.size))
    # products: the input's bands and properties plus the three products.
    info = value(emu, expr(call("Terrain.products", input=srtm)))
    check([b["id"] for b in info["bands"]] == ["elevation", "slope", "aspect", "hillshade"],
          "products bands %s" % [b["id"] for b in info["bands"]])
    check(info["properties"].get("system:index") == "SRTMGL1_003", "products properties")
    info2 = value(emu, expr(call("Terrain", input=srtm)))
    check(info2["bands"] == info["bands"], "Terrain is Terrain.products: %s" % info2["bands"])
    check(pixel_type(info, 3) == {"type": "PixelType", "precision": "int", "min": 0, "max": 255},
          "hillshade type %s" % pixel_type(info, 3))
    check(pixel_type(info, 1).get("precision") == "float", "slope type %s" % pixel_type(info, 1))
    # hillshade with its own sun
    aff = srtm_grid(EVEREST[0] - 20, EVEREST[1] - 20)
    want, mask = rp.terrain(ref.SRTM, "elevation", "EPSG:4326", aff, 24, 24, 135.0, 30.0)
    arr = npy(emu, expr(call("Terrain.hillshade", input=srtm, azimuth=c(135), elevation=c(30))),
              grid("EPSG:4326", aff, 24, 24))
    expect(arr, "hillshade", want["hillshade"], mask, "hillshade 135/30", tol=1.0)
    msg = error(emu, expr(call("Terrain.slope", input=load(L9IMG))))
    check("Terrain.slope" in msg and "elevation" in msg, "slope of 8 bands: %r" % msg)


# ------------------------------------------------------------------- toBands

def test_to_bands(emu):
    coll = call("ImageCollection.fromImages", images={"arrayValue": {"values": [
        select(load(L9IMG), ["SR_B4", "QA_PIXEL"]), select(load(L9IMG2), ["SR_B4"])]}})
    node = call("ImageCollection.toBands", collection=coll)
    info = value(emu, expr(node))
    names = ["LC09_044034_20230107_SR_B4", "LC09_044034_20230107_QA_PIXEL",
             "LC09_044034_20230123_SR_B4"]
    check([b["id"] for b in info["bands"]] == names, "toBands names %s"
          % [b["id"] for b in info["bands"]])
    check(pixel_type(info, 0) == {"type": "PixelType", "precision": "int", "min": 0,
                                  "max": 65535}, "toBands type %s" % pixel_type(info, 0))
    arr = npy(emu, expr(node), L9GRID)
    for n, (img, b) in zip(names, ((L9IMG, "SR_B4"), (L9IMG, "QA_PIXEL"), (L9IMG2, "SR_B4"))):
        want, mask = l9(b, img)
        expect(arr, n, want, mask, "toBands " + n, dtype="<u2")
    # Images without system:index are numbered by position.
    coll = call("ImageCollection.fromImages", images={"arrayValue": {"values": [
        call("Image.constant", value=c(1)), call("Image.constant", value=c(2))]}})
    info = value(emu, expr(call("ImageCollection.toBands", collection=coll)))
    check([b["id"] for b in info["bands"]] == ["0_constant", "1_constant"],
          "toBands of constants %s" % [b["id"] for b in info["bands"]])


L9IMG3 = ref.L9 + "/LC09_044034_20230208"


def test_link_collection(emu):
    def images(*nodes):
        return {"arrayValue": {"values": list(nodes)}}
    coll = call("ImageCollection.fromImages", images=images(
        select(load(L9IMG2), ["SR_B5"]), select(load(L9IMG), ["SR_B5", "QA_PIXEL"])))
    node = call("Image.linkCollection", input=band(L9IMG, "SR_B4"), imageCollection=coll,
                linkedBands=c(["SR_B5"]), linkedProperties=c(["WRS_PATH", "CLOUD_COVER"]))
    info = value(emu, expr(node))
    check([b["id"] for b in info["bands"]] == ["SR_B4", "SR_B5"], "linkCollection bands %s"
          % [b["id"] for b in info["bands"]])
    props = ref.properties(L9IMG)
    check(info["properties"].get("WRS_PATH") == 44 and
          info["properties"].get("CLOUD_COVER") == props["CLOUD_COVER"] and
          info["properties"].get("system:index") == props["system:index"],
          "linkCollection properties %s" % info["properties"])
    arr = npy(emu, expr(node), L9GRID)
    for b in ("SR_B4", "SR_B5"):
        want, mask = l9(b)
        expect(arr, b, want, mask, "linkCollection " + b)
    # No image with the input's system:index: the band is masked, the
    # property null.
    node = call("Image.linkCollection", input=band(L9IMG3, "SR_B4"), imageCollection=coll,
                linkedBands=c("SR_B5"), linkedProperties=c("CLOUD_COVER"))
    info = value(emu, expr(node))
    check("CLOUD_COVER" in info["properties"] and info["properties"]["CLOUD_COVER"] is None,
          "linkCollection without a match: properties %s" % info["properties"])
    arr = npy(emu, expr(with_mask(call("Image.select", input=node, bandSelectors=c(["SR_B5"])))),
              L9GRID)
    expect(arr, "m", np.zeros((H, W)), np.ones((H, W), bool), "linkCollection unmatched mask")
    # Another match property, and a band that replaces the input's own.
    other = call("ImageCollection.fromImages", images=images(select(load(L9IMG2), ["SR_B4"])))
    node = call("Image.linkCollection", input=select(load(L9IMG), ["SR_B4", "SR_B5"]),
                imageCollection=other, linkedBands=c(["SR_B4"]), matchPropertyName=c("WRS_PATH"))
    arr = npy(emu, expr(node), L9GRID)
    check(arr.dtype.names == ("SR_B4", "SR_B5"), "linkCollection replace: %s" % (arr.dtype.names,))
    want, mask = l9("SR_B4", L9IMG2)
    expect(arr, "SR_B4", want, mask, "linkCollection replaced band")
    want, mask = l9("SR_B5")
    expect(arr, "SR_B5", want, mask, "linkCollection kept band")


def test_listed(emu):
    status, _, data = emu.get(PROJ + "/algorithms")
    names = {a["name"] for a in json.loads(data)["algorithms"]}
    for n in ("Image.parseExpression", "Image.pow", "Image.rightShift", "Image.resample",
              "Terrain.slope", "Terrain.products", "ImageCollection.toBands", "Image.unitScale",
              "Image.clamp", "Image.bitwiseNot"):
        check("algorithms/" + n in names or n in names, "algorithms.list lacks %s" % n)


def test_work():
    """The memory model counts every native pixel a neighbourhood reads:
    5 per pixel for terrain, 4 for bilinear, 16 for bicubic."""
    g = grid("EPSG:4326", srtm_grid(EVEREST[0], EVEREST[1]), 32, 32)
    srtm = load(ref.SRTM)
    for node, reads, bytes_ in ((call("Terrain.slope", input=srtm), 5, 2),
                                (call("Image.resample", image=srtm), 4, 2),
                                (call("Image.resample", image=srtm, mode=c("bicubic")), 16, 2)):
        work = 32 * 32 * bytes_ * reads
        for limit, want in ((work - 1, 400), (work, 200)):
            with emulib.Emulator("--memory-limit", str(limit)) as emu:
                status, _, data = emu.post(PROJ + "/image:computePixels",
                                           {"expression": expr(node), "fileFormat": "NPY",
                                            "grid": g})
                check(status == want, "%s, memory limit %d (work %d): %d %s"
                      % (node["functionInvocationValue"]["functionName"], limit, work, status,
                         data[:120]))


def main():
    with emulib.Emulator() as emu:
        emulib.run_each([test_unary, test_binary, test_unit_scale_clamp,
                         test_expression_js_client, test_expression_language,
                         test_expression_recipe, test_resample, test_terrain, test_to_bands,
                         test_link_collection, test_listed], FAILS, emu)
    emulib.run_each([test_work], FAILS)
    return emulib.report(FAILS)


if __name__ == "__main__":
    sys.exit(main())
