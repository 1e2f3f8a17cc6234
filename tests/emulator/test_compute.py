"""computePixels / getPixels over HTTP, every pixel checked against reference.py.

Expected values come from reference.py (an independent numpy implementation of
the documented catalog formulas) and numpy arithmetic written here, never from
the emulator's own code.
"""

import os
import sys

import numpy as np
from osgeo import gdal, ogr, osr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
from emulib import c, call, expr, load, select, grid  # noqa: E402
import reference as ref  # noqa: E402

gdal.UseExceptions()
FAILS = []
S2 = ref.S2
PROJ = "/v1/projects/test-project"


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)


# ------------------------------------------------------------- graph builder


def compute(emu, expression, g=None, fmt="NPY", band_ids=None):
    body = {"expression": expression, "fileFormat": fmt}
    if g is not None:
        body["grid"] = g
    if band_ids:
        body["bandIds"] = band_ids
    status, _, data = emu.post(PROJ + "/image:computePixels", body)
    return status, data


def npy(emu, expression, g, band_ids=None):
    status, data = compute(emu, expression, g, "NPY", band_ids)
    if status != 200:
        raise AssertionError("computePixels: %d %s" % (status, data[:300]))
    return emulib.decode_npy(data)


def expect_band(arr, name, want, mask, what, tol=0.0, dtype=None):
    if name not in arr.dtype.names:
        check(False, "%s: band %s missing (have %s)" % (what, name, arr.dtype.names))
        return
    got = arr[name]
    if dtype is not None:
        check(got.dtype == np.dtype(dtype), "%s: dtype %s, want %s" % (what, got.dtype, dtype))
    exp = np.where(mask, want, 0)
    if tol:
        bad = ~np.isclose(got.astype(np.float64), exp, rtol=tol, atol=tol)
    else:
        bad = got.astype(np.float64) != exp
    check(not bad.any(), "%s: %d of %d pixels differ (first at %s: got %s want %s)" % (
        what, int(bad.sum()), bad.size, np.argwhere(bad)[0] if bad.any() else None,
        got[tuple(np.argwhere(bad)[0])] if bad.any() else None,
        exp[tuple(np.argwhere(bad)[0])] if bad.any() else None))


# One Sentinel-2 member over the San Francisco Bay tile (10SEG), early 2023.
S2_MEMBERS = ref.collection(S2)
SEG = [m for m in S2_MEMBERS if m["id"].endswith("T10SEG")]
IMG = SEG[0]["id"]
# UTM 10N grids inside 10SEG (its upper-left corner is 499960, 4200000).
UTM10 = [10, 0, 520000, 0, -10, 4180000]
UTM30 = [30, 0, 520005, 0, -30, 4180010]
G4326 = [0.0003, 0, -122.70, 0, -0.0003, 37.70]
G3857 = [25, 0, -13657000, 0, -25, 4537000]


def test_loads(emu):
    for crs, aff in [("EPSG:32610", UTM10), ("EPSG:32610", UTM30), ("EPSG:4326", G4326),
                     ("EPSG:3857", G3857)]:
        arr = npy(emu, expr(select(load(IMG), ["B4", "B8", "SCL"])), grid(crs, aff, 48, 40))
        check(arr.shape == (40, 48), "shape %s" % (arr.shape,))
        for b, dt in (("B4", "<u2"), ("B8", "<u2"), ("SCL", "|u1")):
            want, mask = ref.sample(IMG, b, crs, aff, 48, 40)
            expect_band(arr, b, want, mask, "load %s %s" % (crs, b), dtype=dt)
    # SRTM on its own grid (pixel-aligned, the fast path) and on UTM
    aff = [1 / 3600, 0, -122.5 - 0.5 / 3600, 0, -1 / 3600, 37.9 + 0.5 / 3600]
    arr = npy(emu, expr(load(ref.SRTM)), grid("EPSG:4326", aff, 64, 50))
    want, mask = ref.sample(ref.SRTM, "elevation", "EPSG:4326", aff, 64, 50)
    expect_band(arr, "elevation", want, mask, "srtm native", dtype="<i2")
    arr = npy(emu, expr(load(ref.SRTM)), grid("EPSG:32610", UTM30, 40, 30))
    want, mask = ref.sample(ref.SRTM, "elevation", "EPSG:32610", UTM30, 40, 30)
    expect_band(arr, "elevation", want, mask, "srtm utm")


def test_select_rename(emu):
    # regex + index selectors, newNames, rename, bandIds ordering
    e = expr(call("Image.rename", input=call("Image.select", input=load(IMG),
                                              bandSelectors=c(["B[48]", 0]),
                                              newNames=c(["red", "nir", "aero"])),
                  names=c(["r", "n", "a"])))
    arr = npy(emu, e, grid("EPSG:32610", UTM10, 16, 16), band_ids=["n", "a"])
    check(arr.dtype.names == ("n", "a"), "bandIds order %s" % (arr.dtype.names,))
    want, mask = ref.sample(IMG, "B8", "EPSG:32610", UTM10, 16, 16)
    expect_band(arr, "n", want, mask, "select regex B8")
    want, mask = ref.sample(IMG, "B1", "EPSG:32610", UTM10, 16, 16)
    expect_band(arr, "a", want, mask, "select index 0")


def test_arithmetic(emu):
    g = grid("EPSG:32610", UTM30, 32, 24)
    b4, m4 = ref.sample(IMG, "B4", "EPSG:32610", UTM30, 32, 24)
    b8, m8 = ref.sample(IMG, "B8", "EPSG:32610", UTM30, 32, 24)
    sel4 = select(load(IMG), ["B4"])
    sel8 = select(load(IMG), ["B8"])
    m = m4 & m8
    arr = npy(emu, expr(call("Image.add", image1=sel4, image2=sel8)), g)
    expect_band(arr, "B4", b4 + b8, m, "add uint16+uint16", dtype="<u4")
    arr = npy(emu, expr(call("Image.subtract", image1=sel4, image2=sel8)), g)
    expect_band(arr, "B4", b4 - b8, m, "subtract", dtype="<i4")
    arr = npy(emu, expr(call("Image.multiply", image1=sel4,
                             image2=call("Image.constant", value=c(2.75e-05)))), g)
    expect_band(arr, "B4", (b4 * 2.75e-05).astype(np.float32), m4, "multiply float",
                tol=1e-6, dtype="<f4")
    arr = npy(emu, expr(call("Image.divide", image1=sel8, image2=sel4)), g)
    expect_band(arr, "B8", np.where(b4 == 0, 0, b8 / np.where(b4 == 0, 1, b4)), m, "divide",
                tol=1e-6, dtype="<f4")
    arr = npy(emu, expr(call("Image.normalizedDifference", input=load(IMG),
                             bandNames=c(["B8", "B4"]))), g)
    nd = np.where(b8 + b4 == 0, 0, (b8 - b4) / np.where(b8 + b4 == 0, 1, b8 + b4))
    expect_band(arr, "nd", nd, m, "normalizedDifference", tol=1e-6, dtype="<f4")
    # comparisons and logic give uint8 0/1
    for fn, want in (("Image.lt", b4 < b8), ("Image.gt", b4 > b8), ("Image.lte", b4 <= b8),
                     ("Image.gte", b4 >= b8), ("Image.eq", b4 == b8), ("Image.neq", b4 != b8),
                     ("Image.and", (b4 > 500) & (b8 > 500))):
        if fn == "Image.and":
            node = call(fn, image1=call("Image.gt", image1=sel4, image2=c(500)),
                        image2=call("Image.gt", image1=sel8, image2=c(500)))
        else:
            node = call(fn, image1=sel4, image2=sel8)
        arr = npy(emu, expr(node), g)
        expect_band(arr, "B4", want.astype(np.float64), m, fn, dtype="|u1")
    arr = npy(emu, expr(call("Image.bitwiseAnd", image1=sel4, image2=c(0x0F0F))), g)
    expect_band(arr, "B4", (b4.astype(np.int64) & 0x0F0F).astype(np.float64), m4, "bitwiseAnd",
                dtype="<u2")
    arr = npy(emu, expr(call("Image.where", input=sel4,
                             test=call("Image.gt", image1=sel8, image2=c(2000)), value=c(7))), g)
    expect_band(arr, "B4", np.where(m8 & (b8 > 2000), 7, b4), np.where(m8 & (b8 > 2000), True, m4),
                "where")
    # casts: clamp then truncate
    arr = npy(emu, expr(call("Image.toUint8", value=call("Image.divide", image1=sel4,
                                                          image2=call("Image.constant", value=c(7))))), g)
    want = np.clip(np.trunc(b4 / 7.0), 0, 255)
    expect_band(arr, "B4", want, m4, "toUint8", dtype="|u1")
    arr = npy(emu, expr(call("Image.toInt16", value=call("Image.multiply", image1=sel4,
                                                          image2=call("Image.constant", value=c(10))))), g)
    expect_band(arr, "B4", np.clip(b4 * 10, -32768, 32767), m4, "toInt16", dtype="<i2")
    arr = npy(emu, expr(call("Image.toFloat", value=sel4)), g)
    expect_band(arr, "B4", b4, m4, "toFloat", dtype="<f4")
    arr = npy(emu, expr(call("Image.toDouble", value=sel4)), g)
    expect_band(arr, "B4", b4, m4, "toDouble", dtype="<f8")
    arr = npy(emu, expr(call("Image.toUint16", value=sel4)), g)
    expect_band(arr, "B4", b4, m4, "toUint16", dtype="<u2")
    arr = npy(emu, expr(call("Image.toInt32", value=sel4)), g)
    expect_band(arr, "B4", b4, m4, "toInt32", dtype="<i4")


def test_masks(emu):
    g = grid("EPSG:32610", UTM30, 32, 24)
    b4, m4 = ref.sample(IMG, "B4", "EPSG:32610", UTM30, 32, 24)
    sel4 = select(load(IMG), ["B4"])
    over = call("Image.subtract", image1=sel4, image2=call("Image.constant", value=c(1000)))
    masked = call("Image.updateMask", image=sel4, mask=over)
    arr = npy(emu, expr(masked), g)
    keep = m4 & (b4 - 1000 != 0)
    expect_band(arr, "B4", b4, keep, "updateMask")
    arr = npy(emu, expr(call("Image.unmask", input=masked, value=call("Image.constant", value=c(7)))), g)
    expect_band(arr, "B4", np.where(keep, b4, 7), np.ones_like(keep), "unmask(7)")
    arr = npy(emu, expr(call("Image.unmask", input=masked)), g)
    expect_band(arr, "B4", np.where(keep, b4, 0), np.ones_like(keep), "unmask()")
    # across the west edge of the tile (x = 499960): sameFootprint (the default)
    # leaves pixels outside the image masked; sameFootprint=false fills them
    aff = [30, 0, 499000, 0, -30, 4150000]
    ge = grid("EPSG:32610", aff, 64, 4)
    w4, wm = ref.sample(IMG, "B4", "EPSG:32610", aff, 64, 4)
    check(wm[:, :30].sum() == 0 and wm[:, 34:].all(), "edge grid straddles the tile edge")
    arr = npy(emu, expr(call("Image.unmask", input=select(load(IMG), ["B4"]), value=c(7))), ge)
    expect_band(arr, "B4", w4, wm, "unmask sameFootprint")
    arr = npy(emu, expr(call("Image.unmask", input=select(load(IMG), ["B4"]), value=c(7),
                             sameFootprint=c(False))), ge)
    expect_band(arr, "B4", np.where(wm, w4, 7), np.ones_like(wm), "unmask sameFootprint=false")


def _centres_lonlat(crs, aff, w, h):
    jj, ii = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    x = aff[0] * ii + aff[1] * jj + aff[2]
    y = aff[3] * ii + aff[4] * jj + aff[5]
    src = osr.SpatialReference()
    src.SetFromUserInput(crs)
    dst = osr.SpatialReference()
    dst.ImportFromEPSG(4326)
    for s in (src, dst):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    pts = np.array(osr.CoordinateTransformation(src, dst).TransformPoints(
        np.column_stack([x.ravel(), y.ravel()])))
    return pts[:, 0].reshape(x.shape), pts[:, 1].reshape(x.shape)


def test_clip(emu):
    aff = [30, 0, 517000, 0, -30, 4179000]
    g = grid("EPSG:32610", aff, 40, 40)
    lon, lat = _centres_lonlat("EPSG:32610", aff, 40, 40)
    # a quadrilateral through points between pixel centres of the grid
    ring = [[lon[3, 4] + 1e-6, lat[3, 4] + 1e-6], [lon[8, 36] + 1e-6, lat[8, 36] + 1e-6],
            [lon[36, 30] + 1e-6, lat[36, 30] + 1e-6], [lon[30, 2] + 1e-6, lat[30, 2] + 1e-6]]
    poly = call("GeometryConstructors.Polygon", coordinates=c([ring]), evenOdd=c(True))
    arr = npy(emu, expr(call("Image.clip", input=select(load(IMG), ["B4"]), geometry=poly)), g)
    want, mask = ref.sample(IMG, "B4", "EPSG:32610", aff, 40, 40)
    geom = ogr.CreateGeometryFromJson('{"type":"Polygon","coordinates":[%s]}' % (ring + [ring[0]]))
    inside = np.array([[geom.Contains(ogr.CreateGeometryFromWkt("POINT (%r %r)" % (lon[j, i], lat[j, i])))
                        for i in range(40)] for j in range(40)])
    check(inside.any() and not inside.all(), "clip polygon covers part of the grid")
    expect_band(arr, "B4", want, mask & inside, "clip")


def _member_filter(start, end, tile, cloud_max):
    out = []
    for m in S2_MEMBERS:
        if not (start <= m["start_ms"] < end) or not m["id"].endswith("T" + tile):
            continue
        if m["properties"]["CLOUDY_PIXEL_PERCENTAGE"] < cloud_max:
            out.append(m)
    return out


def _filtered(start, end, cloud_max):
    coll = call("ImageCollection.load", id=c(S2))
    coll = call("Collection.filter", collection=coll, filter=call(
        "Filter.dateRangeContains",
        leftValue=call("DateRange", start=c(start), end=c(end)),
        rightField=c("system:time_start")))
    # a small rectangle deep inside 10SEG (away from its overlap with 10SFG)
    rect = call("GeometryConstructors.Polygon",
                coordinates=c([[[-122.75, 37.72], [-122.75, 37.68], [-122.70, 37.68], [-122.70, 37.72]]]),
                evenOdd=c(True))
    coll = call("Collection.filter", collection=coll, filter=call(
        "Filter.intersects", leftField=c(".all"), rightValue=call("Feature", geometry=rect)))
    coll = call("Collection.filter", collection=coll, filter=call(
        "Filter.lessThan", leftField=c("CLOUDY_PIXEL_PERCENTAGE"), rightValue=c(cloud_max)))
    return coll


def test_composites(emu):
    start, end = 1672531200000, 1677628800000   # 2023-01-01 .. 2023-03-01
    members = _member_filter(start, end, "10SEG", 60)
    check(len(members) >= 2, "at least two members pass the filters (%d)" % len(members))
    coll = _filtered("2023-01-01", "2023-03-01", 60)
    g = grid("EPSG:32610", UTM30, 24, 20)
    stack = []
    for m in members:
        v, mk = ref.sample(m["id"], "B4", "EPSG:32610", UTM30, 24, 20)
        stack.append(np.where(mk, v, np.nan))
    stack = np.array(stack)
    valid = ~np.isnan(stack).all(axis=0)
    with np.errstate(all="ignore"):
        for fn, want, dt in (("reduce.median", np.nanmedian(stack, axis=0), "<f4"),
                             ("reduce.mean", np.nanmean(stack, axis=0), "<f4"),
                             ("reduce.min", np.nanmin(stack, axis=0), "<u2"),
                             ("reduce.max", np.nanmax(stack, axis=0), "<u2")):
            arr = npy(emu, expr(call(fn, collection=call(
                "Collection.map", collection=coll,
                baseAlgorithm={"functionDefinitionValue": {"argumentNames": ["_MAPPING_VAR_0_0"],
                                                           "body": "1"}})),
                **{"1": select({"argumentReference": "_MAPPING_VAR_0_0"}, ["B4"])}), g)
            expect_band(arr, "B4", np.nan_to_num(want), valid, fn, tol=1e-5, dtype=dt)
    # mosaic: the last image in collection order is on top
    arr = npy(emu, expr(call("ImageCollection.mosaic", collection=coll)), g, band_ids=["B4"])
    top = np.zeros(stack.shape[1:])
    for layer in stack:
        top = np.where(np.isnan(layer), top, layer)
    expect_band(arr, "B4", top, valid, "mosaic")
    # size and aggregate_array agree with the reference filter
    status, _, body = emu.post(PROJ + "/value:compute", {"expression": expr(
        call("AggregateFeatureCollection.array", collection=coll, property=c("system:index")))})
    import json
    got = json.loads(body)["result"] if status == 200 else None
    check(got == [m["properties"]["system:index"] for m in members],
          "aggregate_array of filtered ids: %s" % (got,))


def test_map_first(emu):
    coll = _filtered("2023-01-01", "2023-03-01", 60)
    body = call("Image.add", image1=call("Image.multiply", image1={"argumentReference": "x"},
                                          image2=call("Image.constant", value=c(2))),
                image2=call("Image.constant", value=c(1)))
    mapped = call("Collection.map", collection=coll,
                  baseAlgorithm={"functionDefinitionValue": {"argumentNames": ["x"], "body": "1"}})
    g = grid("EPSG:32610", UTM30, 16, 16)
    arr = npy(emu, expr(call("Collection.first", collection=mapped), **{"1": body}), g,
              band_ids=["B2"])
    first = _member_filter(1672531200000, 1677628800000, "10SEG", 60)[0]
    want, mask = ref.sample(first["id"], "B2", "EPSG:32610", UTM30, 16, 16)
    expect_band(arr, "B2", want * 2 + 1, mask, "map then first")


def test_reproject(emu):
    # reproject to 60 m (origin 0,0), then sample on a 10 m grid aligned to it
    e = expr(call("Image.reproject", image=select(load(IMG), ["B4"]),
                  crs=call("Projection", crs=c("EPSG:32610")), scale=c(60)))
    aff10 = [10, 0, 540000, 0, -10, 4140000]
    arr = npy(emu, e, grid("EPSG:32610", aff10, 36, 24))
    aff60 = [60, 0, 540000, 0, -60, 4140000]
    want, mask = ref.sample(IMG, "B4", "EPSG:32610", aff60, 6, 4)
    want = np.repeat(np.repeat(want, 6, axis=0), 6, axis=1)
    mask = np.repeat(np.repeat(mask, 6, axis=0), 6, axis=1)
    expect_band(arr, "B4", want, mask, "reproject 60 m")


def test_clip_to_bounds_and_scale(emu):
    rect = call("GeometryConstructors.Rectangle", coordinates=c([-122.6, 37.5, -122.5, 37.58]),
                geodesic=c(False))
    e = expr(call("Image.clipToBoundsAndScale", input=load(ref.SRTM), geometry=rect,
                  width=c(50), height=c(40)))
    status, data = compute(emu, e, None, "NPY")   # no grid: the image is bounded now
    check(status == 200, "clipToBoundsAndScale without grid: %d %s" % (status, data[:200]))
    if status == 200:
        arr = emulib.decode_npy(data)
        aff = [0.1 / 50, 0, -122.6, 0, -0.08 / 40, 37.58]
        want, mask = ref.sample(ref.SRTM, "elevation", "EPSG:4326", aff, 50, 40)
        check(arr.shape == (40, 50), "clipToBoundsAndScale shape %s" % (arr.shape,))
        expect_band(arr, "elevation", want, mask, "clipToBoundsAndScale")


def test_geotiff(emu):
    g = grid("EPSG:32610", UTM30, 20, 10)
    status, data = compute(emu, expr(select(load(IMG), ["B4", "B3"])), g, "GEO_TIFF")
    check(status == 200, "GEO_TIFF status %d" % status)
    if status != 200:
        return
    gdal.FileFromMemBuffer("/vsimem/cp.tif", data)
    ds = gdal.Open("/vsimem/cp.tif")
    check(ds.RasterCount == 2 and ds.RasterXSize == 20 and ds.RasterYSize == 10, "tif size")
    check(np.allclose(ds.GetGeoTransform(), [520005, 30, 0, 4180010, 0, -30]), "tif geotransform")
    for i, b in enumerate(["B4", "B3"]):
        want, mask = ref.sample(IMG, b, "EPSG:32610", UTM30, 20, 10)
        got = ds.GetRasterBand(i + 1).ReadAsArray()
        check((got == np.where(mask, want, 0)).all(), "tif band %s" % b)
    ds = None
    gdal.Unlink("/vsimem/cp.tif")


def test_get_pixels(emu):
    # GDAL's form: no crsCode (native CRS), bandIds
    path = "/v1alpha/projects/earthengine-public/assets/%s:getPixels" % IMG
    aff = [20, 0, 530000, 0, -20, 4170000]
    body = {"fileFormat": "NPY", "bandIds": ["B5", "B2"],
            "grid": {"affineTransform": dict(zip(["scaleX", "shearX", "translateX", "shearY",
                                                  "scaleY", "translateY"], aff)),
                     "dimensions": {"width": 30, "height": 20}}}
    status, _, data = emu.post(path, body)
    check(status == 200, "getPixels status %d %s" % (status, data[:200]))
    if status == 200:
        arr = emulib.decode_npy(data)
        check(arr.dtype.names == ("B5", "B2"), "getPixels band order")
        for b in ("B5", "B2"):
            want, mask = ref.sample(IMG, b, "EPSG:32610", aff, 30, 20)
            expect_band(arr, b, want, mask, "getPixels " + b)
    # region: bounding box in the output CRS, rescaled to the dimensions
    body = {"fileFormat": "NPY", "bandIds": ["elevation"],
            "region": {"type": "Polygon", "coordinates": [[[-122.5, 37.5], [-122.4, 37.5],
                                                           [-122.4, 37.6], [-122.5, 37.6],
                                                           [-122.5, 37.5]]]},
            "grid": {"crsCode": "EPSG:4326", "dimensions": {"width": 25, "height": 20}}}
    status, _, data = emu.post("/v1/projects/p/assets/%s:getPixels" % ref.SRTM, body)
    check(status == 200, "getPixels region status %d %s" % (status, data[:200]))
    if status == 200:
        arr = emulib.decode_npy(data)
        aff = [0.1 / 25, 0, -122.5, 0, -0.1 / 20, 37.6]
        want, mask = ref.sample(ref.SRTM, "elevation", "EPSG:4326", aff, 25, 20)
        expect_band(arr, "elevation", want, mask, "getPixels region")
    status, _, data = emu.post("/v1/projects/p/assets/NOPE/NOPE:getPixels", {"fileFormat": "NPY"})
    check(status == 404, "getPixels unknown asset %d" % status)


def test_local_asset():
    """A local GeoTIFF served whole (no grid) and on a grid, checked with GDAL."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dem.tif")
        ds = gdal.GetDriverByName("GTiff").Create(path, 30, 20, 2, gdal.GDT_Int16)
        ds.SetGeoTransform([600000, 50, 0, 4500000, 0, -50])
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(32633)
        ds.SetProjection(srs.ExportToWkt())
        rng = np.random.default_rng(7)
        data = [rng.integers(-500, 3000, size=(20, 30)).astype(np.int16) for _ in range(2)]
        for i in range(2):
            ds.GetRasterBand(i + 1).WriteArray(data[i])
        ds = None
        with emulib.Emulator("--asset", "users/me/dem=" + path) as emu:
            # no grid: the whole image on its own grid
            status, raw = compute(emu, expr(load("users/me/dem")), None, "NPY")
            check(status == 200, "local asset without grid: %d %s" % (status, raw[:200]))
            if status == 200:
                arr = emulib.decode_npy(raw)
                check(arr.dtype.names == ("b1", "b2") and arr.shape == (20, 30), "local shape")
                for i, b in enumerate(("b1", "b2")):
                    expect_band(arr, b, data[i], np.ones((20, 30), bool), "local " + b, dtype="<i2")
            # getPixels without grid: the native grid, native size
            status, _, raw = emu.post("/v1/projects/p/assets/users/me/dem:getPixels",
                                      {"fileFormat": "NPY", "bandIds": ["b2"]})
            check(status == 200, "local getPixels without grid: %d" % status)
            if status == 200:
                expect_band(emulib.decode_npy(raw), "b2", data[1], np.ones((20, 30), bool),
                            "local getPixels")
            # a shifted, finer grid: nearest neighbour, outside masked
            aff = [25, 0, 599900, 0, -25, 4500100]
            arr = npy(emu, expr(call("Image.add", image1=select(load("users/me/dem"), ["b1"]),
                                     image2=c(1))), grid("EPSG:32633", aff, 70, 50))
            col = np.floor((599900 + 25 * (np.arange(70) + 0.5) - 600000) / 50).astype(int)
            row = np.floor((4500000 - (4500100 - 25 * (np.arange(50) + 0.5))) / 50).astype(int)
            rr, cc = np.meshgrid(row, col, indexing="ij")
            inside = (rr >= 0) & (rr < 20) & (cc >= 0) & (cc < 30)
            want = np.where(inside, data[0][np.clip(rr, 0, 19), np.clip(cc, 0, 29)] + 1, 0)
            expect_band(arr, "b1", want, inside, "local on a finer grid")
            status, _, raw = emu.post(PROJ + "/image:computePixels", {
                "expression": expr(load("users/me/dem")), "fileFormat": "NPY",
                "grid": {"affineTransform": {"scaleX": 10, "scaleY": -10}}})
            check(status == 400 and "grid.dimensions is required" in
                  emulib.error_of(raw)["message"], "dimensions required off the native grid")


def main():
    emulib.run_each([test_local_asset], FAILS)
    with emulib.Emulator() as emu:
        emulib.run_each([test_loads, test_select_rename, test_arithmetic, test_masks, test_clip,
                         test_composites, test_map_first, test_reproject, test_clip_to_bounds_and_scale,
                         test_geotiff, test_get_pixels], FAILS, emu)
    return emulib.report(FAILS)


if __name__ == "__main__":
    sys.exit(main())
