"""Thumbnails (getThumbURL, getDownloadURL) and maps (getMapId) over HTTP.

Requests are built the way the official JS client serializes them
(ee.data.images.applyCrsAndTransform / applySelectionAndScale /
applyVisualization / buildDownloadIdImage); every pixel is checked against
reference.py (the catalog) and ref_vis.py (visualize, tiles), never against
the emulator's own code. PNG, JPEG and GeoTIFF bodies are decoded with GDAL.
"""

import concurrent.futures
import io
import json
import os
import sys
import tempfile
import zipfile

import numpy as np
from osgeo import gdal, osr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
from emulib import c, call, expr, load, select  # noqa: E402
import reference as ref  # noqa: E402
import ref_vis  # noqa: E402

gdal.UseExceptions()
FAILS = []
PROJ = "/v1/projects/test-project"
SRTM = ref.SRTM
M_PER_DEG = 111319.49079327357
S2_IMG = ref.S2 + "/20230105T183751_20230105T183750_T10SEG"


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


# ------------------------------------------------------------- the JS client's graphs

def rect_region(w, s, e, n):
    """ee.Geometry.Rectangle([w, s, e, n]) as the client sends it."""
    return call("GeometryConstructors.Polygon",
                coordinates=c([[[w, n], [w, s], [e, s], [e, n]]]), evenOdd=c(True))


def thumb_image(image, region, dimensions):
    """getThumbURL({region, dimensions}): Image.clipToBoundsAndScale."""
    args = {"input": image, "geometry": region}
    if isinstance(dimensions, int):
        args["maxDimension"] = c(dimensions)
    else:
        args["width"] = c(dimensions[0])
        args["height"] = c(dimensions[1])
    return call("Image.clipToBoundsAndScale", **args)


def visualize(image, **vis):
    return call("Image.visualize", image=image, **{k: c(v) for k, v in vis.items()})


def download_scale_image(image, crs, region, scale):
    """getDownloadURL({crs, region, scale}): setDefaultProjection + clipToBoundsAndScale."""
    img = call("Image.setDefaultProjection", image=image,
               crs=call("Projection", crs=c(crs)), crsTransform=c([1, 0, 0, 0, -1, 0]))
    return call("Image.clipToBoundsAndScale", input=img, geometry=region, scale=c(scale))


def download_exact_expr(image, crs, transform, w, h):
    """getDownloadURL({crs, crs_transform, dimensions}): reproject + a Rectangle in that
    projection (shared values "1" and "2", as the client deduplicates them)."""
    proj = call("Projection", crs=emulib.ref_("1"), transform=emulib.ref_("2"))
    img = call("Image.reproject", image=image, crs=call("Projection", crs=emulib.ref_("1")),
               crsTransform=emulib.ref_("2"))
    geom = call("GeometryConstructors.Rectangle", coordinates=c([0, 0, w, h]), crs=proj,
                geodesic=c(False))
    return expr(call("Image.clipToBoundsAndScale", input=img, geometry=geom),
                **{"1": c(crs), "2": c(transform)})


# ------------------------------------------------------------- HTTP helpers

def create(emu, expression, fmt, kind="thumbnails", **extra):
    body = {"expression": expression if "result" in expression else expr(expression),
            "fileFormat": fmt}
    body.update(extra)
    return emu.post(PROJ + "/" + kind + "?fields=name", body)


def fetch(emu, expression, fmt, **extra):
    """thumbnails.create then getPixels (without credentials, as a browser would)."""
    status, _, data = create(emu, expression, fmt, **extra)
    if status != 200:
        raise AssertionError("thumbnails.create %s: %d %s" % (fmt, status, data[:300]))
    name = json.loads(data)["name"]
    check(name.startswith("projects/test-project/thumbnails/"), "thumbnail name %r" % name)
    status, headers, body = emu.request("GET", "/v1/" + name + ":getPixels",
                                        headers={"Authorization": ""})
    if status != 200:
        raise AssertionError("getPixels %s: %d %s" % (fmt, status, body[:300]))
    return headers, body


def gdal_read(data, ext):
    path = "/vsimem/test_thumbnails_%d.%s" % (id(data), ext)
    gdal.FileFromMemBuffer(path, bytes(data))
    try:
        ds = gdal.Open(path)
        arr = ds.ReadAsArray()
        if arr.ndim == 2:
            arr = arr[None]
        return arr, ds.GetGeoTransform(can_return_null=True), ds
    finally:
        gdal.Unlink(path)


def srtm_on(affine, w, h):
    return ref.sample(SRTM, "elevation", "EPSG:4326", affine, w, h)


def near(got, want, what, max_off=1, share=0.999):
    """uint8 images equal but for a rare one-step rounding difference at a .5 boundary."""
    got = got.astype(np.int64)
    want = want.astype(np.int64)
    if not check(got.shape == want.shape, "%s: shape %s, want %s" % (what, got.shape, want.shape)):
        return
    d = np.abs(got - want)
    check(d.max() <= max_off and (d == 0).mean() >= share,
          "%s: %d pixels differ (max %d)" % (what, int((d != 0).sum()), int(d.max())))


# ------------------------------------------------------------- tests

def test_thumb_gray_png(emu):
    """getThumbURL({bands, min: '0', max: '1000', gamma: 1.5, dimensions: '64x32', region,
    format: 'png'}): a one-band gray PNG (vis-gray)."""
    region = rect_region(-122.5, 37.5, -122.0, 38.0)
    img = visualize(thumb_image(load(SRTM), region, (64, 32)), bands=["elevation"], min="0",
                    max="1000", gamma=1.5)
    headers, body = fetch(emu, img, "PNG")
    check(headers.get("content-type") == "image/png", "PNG content type %r" % headers)
    arr, _, ds = gdal_read(body, "png")
    check(ds.RasterCount == 1, "gray PNG has %d bands" % ds.RasterCount)
    vals, mask = srtm_on([0.5 / 64, 0, -122.5, 0, -0.5 / 32, 38.0], 64, 32)
    near(arr[0], ref_vis.stretch(vals, mask, 0, 1000, 1.5), "gray PNG")


def test_thumb_palette(emu):
    """getThumbURL({min: 0, max: 1000, palette: ['red', 'blue'], dimensions: 64, region})."""
    region = rect_region(-122.5, 37.5, -122.0, 38.0)
    img = visualize(thumb_image(load(SRTM), region, 64), min=0, max=1000,
                    palette=["red", "00ff00", "#0000FF", "orange"])
    _, body = fetch(emu, img, "PNG")
    arr, _, ds = gdal_read(body, "png")
    check(ds.RasterCount == 3, "palette PNG has %d bands" % ds.RasterCount)
    vals, mask = srtm_on([0.5 / 64, 0, -122.5, 0, -0.5 / 64, 38.0], 64, 64)
    want = ref_vis.palette(vals, mask, 0, 1000, ["red", "00ff00", "#0000FF", "orange"])
    for k in range(3):
        near(arr[k], want[k], "palette channel %d" % k)
    # The same through the REST visualizationOptions (ee.data.getThumbId with vis params).
    _, body = fetch(emu, thumb_image(load(SRTM), region, 64), "PNG",
                    visualizationOptions={"ranges": [{"min": 0, "max": 1000}],
                                          "paletteColors": ["red", "00ff00", "#0000FF",
                                                            "orange"]})
    arr2, _, _ = gdal_read(body, "png")
    check(arr2.shape == arr.shape and (arr2 == arr).all(), "visualizationOptions palette")


def s2_rgb_box():
    """A 2 km box inside tile 10SEG, and its 10 m grid."""
    x0, y0 = 520000.0, 4180000.0
    return x0, y0, [10.0, 0, x0, 0, -10.0, y0]


def s2_band(band, affine, w, h):
    return ref.sample(S2_IMG, band, "EPSG:32610", affine, w, h)


def test_thumb_rgb_jpeg(emu):
    """Three bands, min/max per band, JPEG (within JPEG's loss) and AUTO_JPEG_PNG."""
    _, _, aff = s2_rgb_box()
    image = download_exact_expr(load(S2_IMG), "EPSG:32610", aff, 96, 80)
    vis = {"bands": ["B4", "B3", "B2"], "min": [0, 100, 200], "max": [3000, 3100, 3500]}
    e = dict(image)
    e["values"] = dict(image["values"])
    e["values"]["0"] = visualize(image["values"]["0"], **vis)
    headers, body = fetch(emu, e, "JPEG")
    check(body[:2] == b"\xff\xd8", "JPEG magic")
    arr, _, ds = gdal_read(body, "jpg")
    check(ds.RasterCount == 3, "JPEG bands %d" % ds.RasterCount)
    for k, b in enumerate(vis["bands"]):
        vals, mask = s2_band(b, aff, 96, 80)
        want = ref_vis.stretch(vals, mask, vis["min"][k], vis["max"][k]).astype(np.int64)
        d = np.abs(arr[k].astype(np.int64) - want)
        check(d.mean() < 3 and np.percentile(d, 99) < 16,
              "JPEG %s: mean error %.2f, 99%% %.1f" % (b, d.mean(), np.percentile(d, 99)))
    # Nothing masked: AUTO_JPEG_PNG picks JPEG.
    headers, body = fetch(emu, e, "AUTO_JPEG_PNG")
    check(body[:2] == b"\xff\xd8" and headers.get("content-type") == "image/jpeg",
          "AUTO without transparency is JPEG")
    # The same bands as NPY: exact, uint8, named vis-red/vis-green/vis-blue.
    _, body = fetch(emu, e, "NPY")
    arr = emulib.decode_npy(body)
    check(arr.dtype.names == ("vis-red", "vis-green", "vis-blue"), "names %r" % (arr.dtype.names,))
    for k, (name, b) in enumerate(zip(arr.dtype.names, vis["bands"])):
        vals, mask = s2_band(b, aff, 96, 80)
        check(arr[name].dtype == np.uint8, "vis dtype %s" % arr[name].dtype)
        near(arr[name], ref_vis.stretch(vals, mask, vis["min"][k], vis["max"][k]), "NPY " + name)


def test_transparency(emu):
    """Masked pixels: AUTO_JPEG_PNG gives a PNG with alpha 0 there; opacity scales alpha."""
    region = rect_region(-122.5, 37.5, -122.0, 38.0)
    dem = thumb_image(load(SRTM), region, (64, 32))
    masked = call("Image.updateMask", image=dem,
                  mask=call("Image.gt", image1=dem, image2=call("Image.constant", value=c(200))))
    headers, body = fetch(emu, visualize(masked, min=0, max=1000), "AUTO_JPEG_PNG")
    check(headers.get("content-type") == "image/png" and body[:4] == b"\x89PNG",
          "AUTO with transparency is PNG")
    arr, _, ds = gdal_read(body, "png")
    vals, mask = srtm_on([0.5 / 64, 0, -122.5, 0, -0.5 / 32, 38.0], 64, 32)
    valid = mask & (vals > 200)
    check(ds.RasterCount == 2, "gray + alpha: %d bands" % ds.RasterCount)
    if ds.RasterCount == 2:
        check(0 < valid.sum() < valid.size, "test data has masked and valid pixels")
        check((arr[1] == np.where(valid, 255, 0)).all(), "alpha follows the mask")
        near(arr[0], ref_vis.stretch(vals, valid, 0, 1000), "gray under alpha")
    _, body = fetch(emu, visualize(dem, min=0, max=1000, opacity=0.5), "PNG")
    arr, _, ds = gdal_read(body, "png")
    check(ds.RasterCount == 2 and (arr[-1] == 128).all(), "opacity 0.5 -> alpha 128")


def test_visualize_forms(emu):
    """gain/bias, forceRgbOutput, CSS names, 3-digit hex, Image.slice."""
    _, _, aff = s2_rgb_box()
    base = download_exact_expr(load(S2_IMG), "EPSG:32610", aff, 40, 30)

    def with_top(node):
        e = dict(base)
        e["values"] = dict(base["values"])
        e["values"]["0"] = node
        return e

    top = base["values"]["0"]
    vals, mask = s2_band("B8", aff, 40, 30)
    # gain 0.05, bias -10 == min 200, max 200 + 255 / 0.05
    _, body = fetch(emu, with_top(visualize(top, bands="B8", gain=0.05, bias=-10,
                                            forceRgbOutput=True)), "NPY")
    arr = emulib.decode_npy(body)
    want = ref_vis.stretch(vals, mask, 200, 200 + 255 / 0.05)
    check(arr.dtype.names == ("vis-red", "vis-green", "vis-blue"), "forceRgbOutput names")
    for n in arr.dtype.names:
        near(arr[n], want, "gain/bias " + n)
    _, body = fetch(emu, with_top(visualize(top, bands=["B8"], min=0, max=4000,
                                            palette="blueviolet,white,f00")), "NPY")
    arr = emulib.decode_npy(body)
    want = ref_vis.palette(vals, mask, 0, 4000, ["blueviolet", "white", "f00"])
    for k, n in enumerate(("vis-red", "vis-green", "vis-blue")):
        near(arr[n], want[k], "CSS palette " + n)
    # Image.slice(start, end) and a negative start.
    names = ref.band_names(S2_IMG)
    _, body = fetch(emu, with_top(call("Image.slice", image=top, start=c(2), end=c(4))), "NPY")
    arr = emulib.decode_npy(body)
    check(list(arr.dtype.names) == names[2:4], "slice(2, 4) %r" % (arr.dtype.names,))
    for n in arr.dtype.names:
        v, m = s2_band(n, aff, 40, 30)
        check((arr[n] == np.where(m, v, 0)).all(), "slice band %s values" % n)
    _, body = fetch(emu, with_top(call("Image.slice", image=top, start=c(-2))), "NPY")
    check(list(emulib.decode_npy(body).dtype.names) == names[-2:], "slice(-2)")


def test_download_geotiff_npy(emu):
    """getDownloadURL({scale: 30, crs: 'EPSG:4326', region, format}) and the exact
    crs + crs_transform + dimensions form in UTM."""
    region = rect_region(-122.3, 37.7, -122.2, 37.8)
    img = download_scale_image(select(load(SRTM), ["elevation"]), "EPSG:4326", region, 30)
    s = 30 / M_PER_DEG
    w = int(np.ceil(0.1 / s - 1e-9))
    aff = [s, 0, -122.3, 0, -s, 37.8]
    vals, mask = srtm_on(aff, w, w)
    want = np.where(mask, vals, 0)
    headers, body = fetch(emu, img, "GEO_TIFF")
    arr, gt, ds = gdal_read(body, "tif")
    check(headers.get("content-type") == "image/tiff", "GeoTIFF content type")
    check((ds.RasterXSize, ds.RasterYSize) == (w, w), "GeoTIFF size %dx%d, want %d" %
          (ds.RasterXSize, ds.RasterYSize, w))
    check(np.allclose(gt, (aff[2], aff[0], 0, aff[5], 0, aff[4]), rtol=0, atol=1e-9),
          "GeoTIFF transform %r" % (gt,))
    srs = osr.SpatialReference(wkt=ds.GetProjection())
    check(srs.GetAuthorityCode(None) == "4326", "GeoTIFF CRS")
    check(arr[0].shape == want.shape and (arr[0] == want).all(), "GeoTIFF pixels")
    _, body = fetch(emu, img, "NPY")
    arr = emulib.decode_npy(body)
    check(arr.dtype.names == ("elevation",) and (arr["elevation"] == want).all(), "NPY pixels")
    # crs + crs_transform + dimensions: exactly that grid, also in UTM.
    aff = [30.0, 0, 500010.0, 0, -30.0, 4190000.0]
    _, body = fetch(emu, download_exact_expr(load(S2_IMG), "EPSG:32610", aff, 64, 48),
                    "GEO_TIFF", bandIds=["B4", "B8"])
    arr, gt, ds = gdal_read(body, "tif")
    check((ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (64, 48, 2),
          "exact grid size %dx%dx%d" % (ds.RasterXSize, ds.RasterYSize, ds.RasterCount))
    check(tuple(gt) == (500010.0, 30.0, 0.0, 4190000.0, 0.0, -30.0), "exact grid %r" % (gt,))
    for k, b in enumerate(("B4", "B8")):
        v, m = s2_band(b, aff, 64, 48)
        check(arr[k].shape == v.shape and (arr[k] == np.where(m, v, 0)).all(), "UTM %s" % b)


def test_zips(emu, tmp):
    """ZIPPED_GEO_TIFF(_PER_BAND): member names and contents."""
    _, _, aff = s2_rgb_box()
    exact = download_exact_expr(load(S2_IMG), "EPSG:32610", aff, 32, 24)
    want = {}
    for b in ("B4", "B8"):
        v, m = s2_band(b, aff, 32, 24)
        want[b] = np.where(m, v, 0)
    headers, body = fetch(emu, exact, "ZIPPED_GEO_TIFF_PER_BAND", bandIds=["B4", "B8"])
    check(headers.get("content-type") == "application/zip", "zip content type")
    z = zipfile.ZipFile(io.BytesIO(body))
    check(z.testzip() is None, "zip CRC")
    check(z.namelist() == ["download.B4.tif", "download.B8.tif"], "per-band names %r" %
          z.namelist())
    for n in z.namelist():
        arr, gt, _ = gdal_read(z.read(n), "tif")
        b = n.split(".")[1]
        check(arr.shape == (1, 24, 32) and (arr[0] == want[b]).all(), "zip member %s" % n)
        check(tuple(gt) == (aff[2], 10.0, 0.0, aff[5], 0.0, -10.0), "member grid %r" % (gt,))
    _, body = fetch(emu, exact, "ZIPPED_GEO_TIFF", bandIds=["B4", "B8"], filenamePrefix="scene")
    z = zipfile.ZipFile(io.BytesIO(body))
    check(z.namelist() == ["scene.tif"], "single-file name %r" % z.namelist())
    arr, _, _ = gdal_read(z.read("scene.tif"), "tif")
    check(arr.shape == (2, 24, 32) and (arr[0] == want["B4"]).all() and
          (arr[1] == want["B8"]).all(), "single-file contents")
    # getDownloadURL({bands: [{id: 'B4', scale: 10}, {id: 'B8', scale: 20}], crs, region}):
    # one select + transforms per band, joined with addBands; each file on its own grid.
    region = rect_region(-122.21, 37.78, -122.2, 37.79)
    per = [download_scale_image(select(load(S2_IMG), [b]), "EPSG:4326", region, sc)
           for b, sc in (("B4", 10), ("B8", 20))]
    joined = call("Image.addBands", dstImg=per[0], srcImg=per[1], overwrite=c(True))
    _, body = fetch(emu, joined, "ZIPPED_GEO_TIFF_PER_BAND", bandIds=["B4", "B8"])
    z = zipfile.ZipFile(io.BytesIO(body))
    check(z.namelist() == ["download.B4.tif", "download.B8.tif"], "addBands names %r" %
          z.namelist())
    for b, sc in (("B4", 10), ("B8", 20)):
        d = sc / M_PER_DEG
        n = int(np.ceil(0.01 / d - 1e-9))
        aff = [d, 0, -122.21, 0, -d, 37.79]
        v, m = ref.sample(S2_IMG, b, "EPSG:4326", aff, n, n)
        arr, gt, _ = gdal_read(z.read("download.%s.tif" % b), "tif")
        check(arr.shape == (1, n, n), "per-band %s shape %s, want %d" % (b, arr.shape, n))
        if arr.shape == (1, n, n):
            same = (arr[0] == np.where(m, v, 0)).mean()
            check(same > 0.999, "per-band %s: %.4f of pixels equal" % (b, same))
        check(np.allclose(gt, (aff[2], d, 0, aff[5], 0, -d), rtol=0, atol=1e-12),
              "per-band %s grid %r" % (b, gt))
    # A loaded image is named after its id's last segment (EE: SRTMGL1_003.elevation.tif);
    # per-band files keep each band's own grid.
    path = os.path.join(tmp, "small.tif")
    ds = gdal.GetDriverByName("GTiff").Create(path, 30, 20, 2, gdal.GDT_UInt16)
    ds.SetGeoTransform((300000.0, 20.0, 0.0, 5100000.0, 0.0, -20.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds.SetProjection(srs.ExportToWkt())
    for k in range(2):
        ds.GetRasterBand(k + 1).WriteArray((np.arange(600, dtype=np.uint16) * (k + 2))
                                           .reshape(20, 30))
    ds = None
    ref.add_local("users/test/small", path)
    with emulib.Emulator("--asset", "users/test/small=" + path) as emu2:
        _, body = fetch(emu2, load("users/test/small"), "ZIPPED_GEO_TIFF_PER_BAND")
        z = zipfile.ZipFile(io.BytesIO(body))
        names = ref.band_names("users/test/small")
        check(z.namelist() == ["small.%s.tif" % b for b in names], "id-named members %r" %
              z.namelist())
        for k, b in enumerate(names):
            arr, gt, _ = gdal_read(z.read("small.%s.tif" % b), "tif")
            check((arr[0] == np.arange(600).reshape(20, 30) * (k + 2)).all(), "local " + b)
            check(tuple(gt) == (300000.0, 20.0, 0.0, 5100000.0, 0.0, -20.0), "local grid")


def test_map_tile(emu):
    """getMapId({min, max, palette}) and one 256 x 256 web-mercator tile."""
    img = visualize(load(SRTM), min=0, max=800, palette=["black", "lime", "white"])
    status, _, data = create(emu, img, "AUTO_JPEG_PNG", kind="maps")
    if not check(status == 200, "maps.create %d %s" % (status, data[:200])):
        return
    name = json.loads(data)["name"]
    check(name.startswith("projects/test-project/maps/"), "map name %r" % name)
    z = 10
    tx, ty = ref_vis.lonlat_to_tile(-122.25, 37.75, z)
    status, headers, body = emu.request("GET", "/v1/%s/tiles/%d/%d/%d" % (name, z, tx, ty),
                                        headers={"Authorization": ""})
    if not check(status == 200, "tile %d %s" % (status, body[:200])):
        return
    check(headers.get("content-type") == "image/jpeg", "opaque AUTO tile is JPEG: %r" %
          headers.get("content-type"))
    # Exact pixels through a PNG map of the same image.
    status, _, data = create(emu, img, "PNG", kind="maps")
    name = json.loads(data)["name"]
    status, headers, body = emu.get("/v1/%s/tiles/%d/%d/%d" % (name, z, tx, ty))
    arr, _, ds = gdal_read(body, "png")
    check((ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (256, 256, 3), "tile shape")
    vals, mask = ref.sample(SRTM, "elevation", "EPSG:3857", ref_vis.tile_affine(z, tx, ty),
                            256, 256)
    want = ref_vis.palette(vals, mask, 0, 800, ["black", "lime", "white"])
    for k in range(3):
        near(arr[k], want[k], "tile channel %d" % k)
    for bad in ("%d/%d/%d" % (z, 1 << z, ty), "31/0/0", "a/b/c", "1/2"):
        status, _, body = emu.get("/v1/%s/tiles/%s" % (name, bad))
        check(status in (400, 404), "bad tile %s answered %d" % (bad, status))
    status, _, body = emu.get("/v1/projects/test-project/maps/%s-%s/tiles/1/0/0" %
                              ("0" * 32, "0" * 32))
    check(status == 404, "unknown map %d" % status)


def test_compute_pixels_vis(emu):
    """computePixels and getPixels take visualizationOptions, JPEG and AUTO_JPEG_PNG too."""
    _, _, aff = s2_rgb_box()
    g = emulib.grid("EPSG:32610", aff, 48, 40)
    vo = {"ranges": [{"min": 0, "max": 3000}], "gamma": 0.8}
    body = {"expression": expr(load(S2_IMG)), "fileFormat": "NPY", "grid": g,
            "bandIds": ["B4", "B3", "B2"], "visualizationOptions": vo}
    status, _, data = emu.post(PROJ + "/image:computePixels", body)
    if check(status == 200, "computePixels with visualizationOptions: %d %s" % (status, data[:200])):
        arr = emulib.decode_npy(data)
        for n, b in zip(("vis-red", "vis-green", "vis-blue"), ("B4", "B3", "B2")):
            v, m = s2_band(b, aff, 48, 40)
            near(arr[n], ref_vis.stretch(v, m, 0, 3000, 0.8), "computePixels vis " + n)
    body["fileFormat"] = "JPEG"
    status, headers, data = emu.post(PROJ + "/image:computePixels", body)
    check(status == 200 and data[:2] == b"\xff\xd8" and headers.get("content-type") ==
          "image/jpeg", "computePixels JPEG: %d" % status)
    body["fileFormat"] = "AUTO_JPEG_PNG"
    body["visualizationOptions"] = dict(vo, opacity=0.25)
    status, headers, data = emu.post(PROJ + "/image:computePixels", body)
    if check(status == 200 and data[:4] == b"\x89PNG", "computePixels AUTO with opacity: %d"
             % status):
        arr, _, ds = gdal_read(data, "png")
        check(ds.RasterCount == 4 and (arr[3] == 64).all(), "alpha 64 from opacity 0.25")
    # assets:getPixels with a palette.
    body = {"fileFormat": "PNG", "grid": g, "bandIds": ["B8"],
            "visualizationOptions": {"ranges": [{"min": 500, "max": 4000}],
                                     "paletteColors": ["000000", "FF0000", "FFFF00"]}}
    status, _, data = emu.post(PROJ + "/assets/" + S2_IMG + ":getPixels", body)
    if check(status == 200, "getPixels with a palette: %d %s" % (status, data[:200])):
        arr, _, _ = gdal_read(data, "png")
        v, m = s2_band("B8", aff, 48, 40)
        want = ref_vis.palette(v, m, 500, 4000, ["000000", "FF0000", "FFFF00"])
        for k in range(3):
            near(arr[k], want[k], "getPixels palette channel %d" % k)


def test_errors(emu):
    cx = emulib.Checks()
    region = rect_region(-122.5, 37.5, -122.0, 38.0)
    small = thumb_image(load(SRTM), region, 16)
    # Unknown id, another project's id, a bad format.
    status, _, body = emu.get(PROJ + "/thumbnails/%s-%s:getPixels" % ("ab" * 16, "cd" * 16))
    check(status == 404, "unknown thumbnail %d" % status)
    msg = cx.ee_error(body, 404, "NOT_FOUND")
    check("not found" in msg.lower(), "unknown thumbnail message %r" % msg)
    status, _, data = create(emu, small, "NPY")
    tid = json.loads(data)["name"].rsplit("/", 1)[1]
    status, _, body = emu.get("/v1/projects/other-project/thumbnails/%s:getPixels" % tid)
    check(status == 404, "thumbnail of another project %d" % status)
    status, _, body = create(emu, small, "BMP")
    check(status == 400, "bad format %d" % status)
    msg = cx.ee_error(body, 400, "INVALID_ARGUMENT")
    check(msg == "Invalid value at 'thumbnail.file_format' "
          "(type.googleapis.com/google.earthengine.v1.ImageFileFormat), \"BMP\"",
          "bad format message %r" % msg)
    # Limits, checked when the id is created (getDownloadURL raises them).
    big = call("Image.clipToBoundsAndScale", input=load(S2_IMG), geometry=region,
               width=c(4000), height=c(2000))
    status, _, body = create(emu, big, "ZIPPED_GEO_TIFF", bandIds=["B2", "B3", "B4"])
    msg = cx.ee_error(body, 400)
    want = 4000 * 2000 * 3 * 3
    check(msg == "Total request size (%d bytes) must be less than or equal to 50331648 bytes."
          % want, "size limit message %r" % msg)
    wide = call("Image.clipToBoundsAndScale", input=load(SRTM), geometry=region,
                width=c(40000), height=c(10))
    status, _, body = create(emu, wide, "GEO_TIFF")
    msg = cx.ee_error(body, 400)
    check(msg == "Pixel grid dimensions (40000x10) must be less than or equal to 32768.",
          "grid limit message %r" % msg)
    # Display formats need 1 or 3 bands; visualize's own errors.
    two = call("Image.clipToBoundsAndScale", input=load(S2_IMG), geometry=region, width=c(8),
               height=c(8))
    status, _, body = create(emu, two, "PNG", bandIds=["B2", "B3"])
    msg = cx.ee_error(body, 400)
    check("1 or 3 bands" in msg, "PNG of 2 bands: %r" % msg)
    status, _, body = create(emu, visualize(two, bands=["B2", "B3", "B4"], palette=["red", "blue"]),
                             "PNG")
    msg = cx.ee_error(body, 400)
    check(msg.startswith("Image.visualize:") and "palette" in msg, "palette on 3 bands %r" % msg)
    status, _, body = create(emu, visualize(small, palette=["red", "notacolor"]), "PNG")
    msg = cx.ee_error(body, 400)
    check("notacolor" in msg, "bad colour %r" % msg)
    status, _, body = create(emu, visualize(small, min=[0, 1], max=1000), "PNG")
    check(status == 400, "min of 2 values for 1 band: %d" % status)
    # Creating needs credentials; the returned URL does not.
    status, _, body = emu.request("POST", PROJ + "/thumbnails",
                                  json.dumps({"expression": expr(small),
                                              "fileFormat": "PNG"}).encode(),
                                  headers={"Authorization": "",
                                           "Content-Type": "application/json"})
    check(status == 401, "create without token %d" % status)
    FAILS.extend(cx.failures)


def test_store_bounds(emu):
    """Many ids from many threads at once, then eviction of the oldest past 4096."""
    region = rect_region(-122.5, 37.5, -122.0, 38.0)
    small = thumb_image(load(SRTM), region, 4)
    status, _, data = create(emu, small, "NPY")
    first = json.loads(data)["name"]

    def one(_):
        conn = emu.connection()
        try:
            st, _, d = emu.post(PROJ + "/thumbnails",
                                {"expression": expr(small), "fileFormat": "NPY"}, conn=conn)
            if st != 200:
                return "create %d" % st
            name = json.loads(d)["name"]
            st, _, body = emu.get("/v1/" + name + ":getPixels", conn=conn)
            return None if st == 200 and body[:6] == b"\x93NUMPY" else "get %d" % st
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        errs = [r for r in pool.map(one, range(64)) if r]
    check(not errs, "concurrent thumbnails: %r" % errs[:5])
    status, _, _ = emu.get("/v1/" + first + ":getPixels")
    check(status == 200, "first id still there before the bound: %d" % status)
    conn = emu.connection()
    body = json.dumps({"expression": expr(small), "fileFormat": "NPY"})
    last = None
    for _ in range(4096):
        st, _, d = emu.post(PROJ + "/thumbnails", body, conn=conn)
        if st != 200:
            check(False, "create during fill: %d" % st)
            break
        last = json.loads(d)["name"]
    conn.close()
    status, _, _ = emu.get("/v1/" + first + ":getPixels")
    check(status == 404, "oldest id evicted past 4096: %d" % status)
    status, _, _ = emu.get("/v1/" + last + ":getPixels")
    check(status == 200, "newest id kept: %d" % status)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        with emulib.Emulator() as emu:
            emulib.run_each([test_thumb_gray_png, test_thumb_palette, test_thumb_rgb_jpeg,
                             test_transparency, test_visualize_forms, test_download_geotiff_npy,
                             test_map_tile, test_compute_pixels_vis, test_errors,
                             test_store_bounds], FAILS, emu)
            emulib.run_each([test_zips], FAILS, emu, tmp)
    return emulib.report(FAILS)


if __name__ == "__main__":
    sys.exit(main())
