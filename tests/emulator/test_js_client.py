"""The official Earth Engine JS client against `eefetch serve`, over real HTTP.

tests/emulator/js_client.js runs @google/earthengine (the npm package, a
pinned version, installed by scripts/setup-js-client.sh) in the machine's
node, the way its users run it: the service-account key the emulator wrote
(--write-credentials), ee.data.authenticateViaPrivateKey, ee.initialize with
the emulator's URL, then getInfo, computePixels, getDownloadURL,
getThumbURL, ee.data.listImages, reduceRegion and a batch export
(Export.image.toCloudStorage, polled with ee.data.getTaskStatus, into the
emulator's --bucket-dir). This file builds the plan,
runs the script once and checks every part separately against EE's
behaviour: values against what EE answers, pixels against reference.py
(the independent model of the catalog). A part that fails does not hide the
others; the test fails if any does.

The client is looked for in EEFETCH_JS_CLIENT (a folder with
node_modules/@google/earthengine), else SRC/build/js-client; when it is not
there the test installs it with npm (scripts/setup-js-client.sh), and fails
saying so when npm cannot. EEFETCH_KEEP_JS_OUTPUT=1 keeps the plan, every
answer the client got and the emulator's request log (the folder is printed).
"""

import fcntl
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
from osgeo import gdal, osr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
import reference as ref  # noqa: E402

gdal.UseExceptions()
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("EEFETCH_SRC", os.path.abspath(os.path.join(HERE, "..", "..")))
PROJECT = "emulated-project"

S2_IMG = "COPERNICUS/S2_SR_HARMONIZED/20230105T183751_20230105T183750_T10SEG"
L9_IMG = "LANDSAT/LC09/C02/T1_L2/LC09_044033_20230107"

# SRTM on its own grid near San Francisco: pixel (C0, R0) is the upper left.
D = 1 / 3600
C0, R0 = 207000, 79560                 # lon -122.5, lat 37.9
SRTM_W, SRTM_H = 64, 48
SRTM_AFFINE = [D, 0, -180 - 0.5 * D + C0 * D, 0, -D, 60 + 0.5 * D - R0 * D]
# S2 10SEG, 10 m bands, on the native grid (ulx 499960, uly 4200000).
S2_AFFINE = [10, 0, 560000, 0, -10, 4180000]
S2_W, S2_H = 40, 30
# Landsat 9 scene 44/33 (ulx 497385, uly 4424415), 30 m, on the native grid.
L9_AFFINE = [30, 0, 497385 + 30 * 900, 0, -30, 4424415 - 30 * 1200]
L9_W, L9_H = 32, 24


def js_list(v):
    return json.dumps(v)


# ------------------------------------------------------------ the JS client


def client_dir():
    """Folder holding node_modules/@google/earthengine; installs it when absent."""
    folder = os.environ.get("EEFETCH_JS_CLIENT") or os.path.join(SRC, "build", "js-client")
    setup = os.path.join(SRC, "scripts", "setup-js-client.sh")
    os.makedirs(folder, exist_ok=True)
    # One installer at a time (the release and sanitizer suites share the folder).
    with open(os.path.join(folder, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(["bash", setup, folder], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=600)
    if proc.returncode != 0:
        raise SystemExit("FAIL: the official JS client (npm @google/earthengine) is not "
                         "installed in %s and installing it failed:\n%s\nRun "
                         "scripts/setup.sh --js-client (or scripts/setup-js-client.sh %s) "
                         "with access to the npm registry, or set EEFETCH_JS_CLIENT to a "
                         "folder that has it." %
                         (folder, proc.stdout.decode(errors="replace")[-2000:], folder))
    return folder


# ------------------------------------------------------------ the plan


def plan_parts():
    srtm_ref, _ = ref.sample(ref.SRTM, "elevation", "EPSG:4326", SRTM_AFFINE, SRTM_W, SRTM_H)
    lo, hi = float(srtm_ref.min()), float(srtm_ref.max())
    tile_ref, _ = ref.sample(ref.SRTM, "elevation", "EPSG:3857", tile_affine(*TILE), 256, 256)
    tlo, thi = float(tile_ref.min()), float(tile_ref.max())
    srtm_grid = emulib.grid("EPSG:4326", SRTM_AFFINE, SRTM_W, SRTM_H)
    s2_grid = emulib.grid("EPSG:32610", S2_AFFINE, S2_W, S2_H)
    # reduceRegion: the rectangle's edges are SRTM pixel edges, so every
    # pixel is wholly in or out and weighted and unweighted means agree.
    x0 = SRTM_AFFINE[2]
    y1 = SRTM_AFFINE[5]
    x1, y0 = x0 + SRTM_W * D, y1 - SRTM_H * D
    srtm = "ee.Image('USGS/SRTMGL1_003')"
    return [
        dict(name="image_info", kind="getInfo", js=srtm),
        dict(name="collection_info", kind="getInfo",
             js="ee.ImageCollection('COPERNICUS/S2_SR_HARMONIZED')"
                ".filterDate('2023-01-01', '2023-01-15')"
                ".filterBounds(ee.Geometry.Point([-122.3, 37.8]))"),
        dict(name="error", kind="getInfoError", js="ee.Image('NOT/THERE').bandNames()"),
        dict(name="number", kind="getInfoSync", js="ee.Number(7).divide(2).add(1)"),
        dict(name="dictionary", kind="getInfo",
             js="ee.Dictionary({band: %s.bandNames().get(0), six: ee.Number(2).multiply(3),"
                " list: [1, 2, 'x'], nested: {a: true}})" % srtm),
        dict(name="compute_geotiff", kind="computePixels", js=srtm, fileFormat="GEO_TIFF",
             grid=srtm_grid, file="compute.tif"),
        dict(name="compute_npy", kind="computePixels",
             js="ee.Image('%s').select(['B4', 'B3', 'B2'])" % S2_IMG, fileFormat="NPY",
             grid=s2_grid, file="compute.npy"),
        dict(name="download_geotiff", kind="downloadURL", js=srtm, file="download.tif",
             params=dict(format="GEO_TIFF", crs="EPSG:4326", crs_transform=SRTM_AFFINE,
                         dimensions=[SRTM_W, SRTM_H])),
        dict(name="download_zip_per_band", kind="downloadURL", js="ee.Image('%s')" % L9_IMG,
             file="per_band.zip",
             params=dict(name="l9", filePerBand=True, bands=["SR_B4", "SR_B3"],
                         crs="EPSG:32610", crs_transform=L9_AFFINE, dimensions=[L9_W, L9_H])),
        dict(name="download_zip", kind="downloadURL", js="ee.Image('%s')" % L9_IMG,
             file="one.zip",
             params=dict(name="l9", format="ZIPPED_GEO_TIFF", filePerBand=False,
                         bands=["SR_B4", "SR_B3"], crs="EPSG:32610", crs_transform=L9_AFFINE,
                         dimensions=[L9_W, L9_H])),
        dict(name="download_npy", kind="downloadURL", js="ee.Image('%s')" % S2_IMG,
             file="download.npy",
             params=dict(format="NPY", bands=["B8", "B4"], crs="EPSG:32610",
                         crs_transform=S2_AFFINE, dimensions=[S2_W, S2_H])),
        dict(name="thumb_png", kind="thumbURL", js=srtm, file="thumb.png",
             params=dict(format="png", min=lo, max=hi, crs="EPSG:4326",
                         crs_transform=SRTM_AFFINE, dimensions=[SRTM_W, SRTM_H]),
             vis=[lo, hi]),
        dict(name="thumb_jpeg", kind="thumbURL", js="ee.Image('%s')" % S2_IMG, file="thumb.jpg",
             params=dict(format="jpg", bands=["B4", "B3", "B2"], min=0, max=3000,
                         region=THUMB_REGION, dimensions=64)),
        dict(name="map_tile", kind="mapTile", js=srtm, file="tile.img",
             params=dict(min=tlo, max=thi), z=TILE[0], x=TILE[1], y=TILE[2], vis=[tlo, thi]),
        dict(name="get_asset", kind="getAsset", id=ref.SRTM),
        dict(name="list_images", kind="listImages", parent="COPERNICUS/S2_SR_HARMONIZED",
             params=dict(startTime="2023-01-01T00:00:00Z", endTime="2023-01-11T00:00:00Z")),
        dict(name="reduce_region", kind="evaluate",
             js="%s.reduceRegion({reducer: ee.Reducer.mean(), geometry: "
                "ee.Geometry.Rectangle([%r, %r, %r, %r], null, false), crs: 'EPSG:4326', "
                "crsTransform: %s, maxPixels: 1e9})" % (srtm, x0, y0, x1, y1,
                                                        js_list(SRTM_AFFINE))),
        dict(name="export_gcs", kind="exportToCloudStorage", js=srtm,
             params=dict(description="js_srtm", bucket=JS_BUCKET, fileNamePrefix="js/srtm",
                         crs="EPSG:4326", crsTransform=SRTM_AFFINE,
                         dimensions="%dx%d" % (SRTM_W, SRTM_H), maxPixels=1e6)),
    ]


JS_BUCKET = "js-bucket"


# The web-mercator tile (z, x, y) over San Francisco; at zoom 13 a tile
# pixel (about 15 m there) is finer than SRTM's, so EE reads full-resolution
# pixels, not a pyramid level.
TILE = (13, 1308, 3163)


def tile_affine(z, x, y):
    half = math.pi * 6378137
    res = 2 * half / 256 / 2 ** z
    return [res, 0, -half + x * 256 * res, 0, -res, half - y * 256 * res]


# A lon/lat rectangle inside S2 tile 10SEG (GeoJSON, as users pass it).
THUMB_REGION = {"type": "Polygon", "coordinates": [[[-122.35, 37.7], [-122.35, 37.75],
                                                    [-122.3, 37.75], [-122.3, 37.7],
                                                    [-122.35, 37.7]]]}


# ------------------------------------------------------------ checks


def need(cond, what):
    if not cond:
        raise AssertionError(what)


def part(results, name):
    r = results.get(name)
    need(r is not None, "%s: no result from the JS client" % name)
    need(r["ok"], "%s: the JS client failed: %s" % (name, r.get("error")))
    return r


def read_raster(data_or_path, suffix=".tif"):
    """(array [bands, h, w], geotransform, projection EPSG code) of an image file."""
    if isinstance(data_or_path, (bytes, bytearray)):
        name = "/vsimem/jsclient-%d%s" % (id(data_or_path), suffix)
        gdal.FileFromMemBuffer(name, bytes(data_or_path))
    else:
        name = data_or_path
    ds = gdal.Open(name)
    try:
        arr = ds.ReadAsArray()
        if arr.ndim == 2:
            arr = arr[np.newaxis]
        srs = ds.GetSpatialRef()
        epsg = None
        if srs is not None:
            srs.AutoIdentifyEPSG()
            epsg = srs.GetAuthorityCode(None)
        types = [gdal.GetDataTypeName(ds.GetRasterBand(i + 1).DataType)
                 for i in range(ds.RasterCount)]
        descs = [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]
        return arr, ds.GetGeoTransform(), epsg, types, descs
    finally:
        ds = None
        if name.startswith("/vsimem/"):
            gdal.Unlink(name)


def gdal_gt(affine):
    sx, shx, tx, shy, sy, ty = affine
    return (tx, sx, shx, ty, shy, sy)


def check_geotiff(arr_gt, affine, epsg, what):
    arr, gt, code, _, _ = arr_gt
    need(np.allclose(gt, gdal_gt(affine), rtol=0, atol=1e-9),
         "%s: geotransform %r, want %r" % (what, gt, gdal_gt(affine)))
    need(code == str(epsg), "%s: EPSG %r, want %s" % (what, code, epsg))
    return arr


def expect_pixels(got, img, band, crs, affine, w, h, what):
    want, mask = ref.sample(img, band, crs, affine, w, h)
    need(mask.all(), "%s: the reference grid leaves the image (test bug)" % what)
    need(got.shape == (h, w), "%s: shape %r, want %r" % (what, got.shape, (h, w)))
    bad = got.astype(np.float64) != want
    need(not bad.any(), "%s: %d of %d pixels differ from reference.py (first at %r: %r, want "
         "%r)" % (what, bad.sum(), bad.size, tuple(np.argwhere(bad)[0]) if bad.any() else None,
                  got[tuple(np.argwhere(bad)[0])] if bad.any() else None,
                  want[tuple(np.argwhere(bad)[0])] if bad.any() else None))


def check_initialize(r, ctx):
    p = part(r, "initialize")
    need(p["value"]["token"], "initialize: no bearer token after authenticateViaPrivateKey")
    need(p["value"]["project"] == PROJECT, "initialize: project %r" % p["value"]["project"])
    log = ctx["log"]
    grants = [e for e in log if e["route"] == "token" and e["status"] == 200]
    need(grants, "initialize: no token grant in the request log")
    algs = [e for e in log if e["route"] == "algorithms.list"]
    need(algs and algs[0]["status"] == 200,
         "initialize: algorithms.list %r" % [(e["path"], e["status"]) for e in algs])
    need(algs[0]["project"] == PROJECT and algs[0]["billed_project"] == PROJECT,
         "initialize: algorithms.list of project %r billed to %r" %
         (algs[0]["project"], algs[0]["billed_project"]))


def check_image_info(r, ctx):
    v = part(r, "image_info")["value"]
    need(v.get("type") == "Image" and v.get("id") == ref.SRTM, "image_info: %r" % (
        {k: v.get(k) for k in ("type", "id")},))
    b = v["bands"]
    need([x["id"] for x in b] == ["elevation"], "image_info: bands %r" % b)
    g = ref.native_grid(ref.SRTM, "elevation")
    need(b[0]["crs"] == "EPSG:4326", "image_info: crs %r" % b[0]["crs"])
    need(np.allclose(b[0]["crs_transform"], g["affine"], rtol=0, atol=1e-12),
         "image_info: crs_transform %r" % b[0]["crs_transform"])
    need(b[0]["dimensions"] == [g["width"], g["height"]], "image_info: dimensions %r" %
         b[0]["dimensions"])
    need(b[0]["data_type"] == {"type": "PixelType", "precision": "int", "min": -32768,
                               "max": 32767}, "image_info: data_type %r" % b[0]["data_type"])
    need(v["properties"].get("system:time_start") == 950227200000,
         "image_info: system:time_start %r" % v["properties"].get("system:time_start"))


def footprint_contains(img_id, lon, lat):
    g = ref.native_grid(img_id, "B2")
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromEPSG(4326)
    dst.SetFromUserInput(g["crs"])
    for s in (src, dst):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    x, y, _ = osr.CoordinateTransformation(src, dst).TransformPoint(lon, lat)
    a = g["affine"]
    return (a[2] <= x <= a[2] + a[0] * g["width"] and
            a[5] + a[4] * g["height"] <= y <= a[5])


def check_collection_info(r, ctx):
    v = part(r, "collection_info")["value"]
    need(v.get("type") == "ImageCollection", "collection_info: type %r" % v.get("type"))
    t0, t1 = 1672531200000, 1673740800000     # 2023-01-01, 2023-01-15
    want = [m for m in ref.collection(ref.S2) if t0 <= m["start_ms"] < t1 and
            footprint_contains(m["id"], -122.3, 37.8)]
    need(len(want) == 2, "collection_info: the reference selects %d images (test bug)" %
         len(want))
    got = [f.get("id") for f in v.get("features", [])]
    need(got == [m["id"] for m in want], "collection_info: images %r, want %r" %
         (got, [m["id"] for m in want]))
    for f, m in zip(v["features"], want):
        props = f.get("properties", {})
        for k in ("system:index", "system:time_start", "CLOUDY_PIXEL_PERCENTAGE", "MGRS_TILE"):
            need(props.get(k) == m["properties"][k], "collection_info: %s %s = %r, want %r" %
                 (m["id"], k, props.get(k), m["properties"][k]))
        need([b["id"] for b in f.get("bands", [])] == ref.band_names(m["id"]),
             "collection_info: bands of %s" % m["id"])


def check_error(r, ctx):
    v = part(r, "error")["value"]
    want = ("Image.load: Image asset 'NOT/THERE' not found (does not exist or caller does not "
            "have access).")
    need(v == want, "error: %r, want %r" % (v, want))


def check_number(r, ctx):
    v = part(r, "number")["value"]
    need(v == 4.5, "number: %r, want 4.5" % v)


def check_dictionary(r, ctx):
    v = part(r, "dictionary")["value"]
    want = {"band": "elevation", "six": 6, "list": [1, 2, "x"], "nested": {"a": True}}
    need(v == want, "dictionary: %r, want %r" % (v, want))


def check_compute_geotiff(r, ctx):
    p = part(r, "compute_geotiff")
    arr = check_geotiff(read_raster(os.path.join(ctx["out"], p["file"])), SRTM_AFFINE, 4326,
                        "compute_geotiff")
    need(arr.shape[0] == 1, "compute_geotiff: %d bands" % arr.shape[0])
    expect_pixels(arr[0], ref.SRTM, "elevation", "EPSG:4326", SRTM_AFFINE, SRTM_W, SRTM_H,
                  "compute_geotiff")


def check_compute_npy(r, ctx):
    p = part(r, "compute_npy")
    with open(os.path.join(ctx["out"], p["file"]), "rb") as f:
        arr = emulib.decode_npy(f.read())
    need(arr.dtype.names == ("B4", "B3", "B2"), "compute_npy: fields %r" % (arr.dtype.names,))
    for b in arr.dtype.names:
        need(arr[b].dtype == np.dtype("<u2"), "compute_npy: %s is %s" % (b, arr[b].dtype))
        expect_pixels(arr[b], S2_IMG, b, "EPSG:32610", S2_AFFINE, S2_W, S2_H,
                      "compute_npy " + b)


def check_download_geotiff(r, ctx):
    p = part(r, "download_geotiff")
    arr = check_geotiff(read_raster(os.path.join(ctx["out"], p["file"])), SRTM_AFFINE, 4326,
                        "download_geotiff")
    need(arr.shape[0] == 1, "download_geotiff: %d bands" % arr.shape[0])
    expect_pixels(arr[0], ref.SRTM, "elevation", "EPSG:4326", SRTM_AFFINE, SRTM_W, SRTM_H,
                  "download_geotiff")


def zip_members(path, what):
    need(zipfile.is_zipfile(path), "%s: not a zip file (%r...)" % (
        what, open(path, "rb").read(80)))
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def check_download_zip_per_band(r, ctx):
    p = part(r, "download_zip_per_band")
    members = zip_members(os.path.join(ctx["out"], p["file"]), "download_zip_per_band")
    need(sorted(members) == ["l9.SR_B3.tif", "l9.SR_B4.tif"],
         "download_zip_per_band: members %r, want l9.SR_B3.tif, l9.SR_B4.tif" % sorted(members))
    for band in ("SR_B4", "SR_B3"):
        arr = check_geotiff(read_raster(members["l9.%s.tif" % band]), L9_AFFINE, 32610,
                            "download_zip_per_band " + band)
        need(arr.shape[0] == 1, "download_zip_per_band %s: %d bands" % (band, arr.shape[0]))
        expect_pixels(arr[0], L9_IMG, band, "EPSG:32610", L9_AFFINE, L9_W, L9_H,
                      "download_zip_per_band " + band)


def check_download_zip(r, ctx):
    p = part(r, "download_zip")
    members = zip_members(os.path.join(ctx["out"], p["file"]), "download_zip")
    need(sorted(members) == ["l9.tif"], "download_zip: members %r, want l9.tif" %
         sorted(members))
    got = read_raster(members["l9.tif"])
    arr = check_geotiff(got, L9_AFFINE, 32610, "download_zip")
    need(arr.shape[0] == 2, "download_zip: %d bands" % arr.shape[0])
    for i, band in enumerate(("SR_B4", "SR_B3")):
        expect_pixels(arr[i], L9_IMG, band, "EPSG:32610", L9_AFFINE, L9_W, L9_H,
                      "download_zip " + band)


def check_download_npy(r, ctx):
    p = part(r, "download_npy")
    with open(os.path.join(ctx["out"], p["file"]), "rb") as f:
        arr = emulib.decode_npy(f.read())
    need(arr.dtype.names == ("B8", "B4"), "download_npy: fields %r" % (arr.dtype.names,))
    for b in arr.dtype.names:
        expect_pixels(arr[b], S2_IMG, b, "EPSG:32610", S2_AFFINE, S2_W, S2_H,
                      "download_npy " + b)


def visualized(values, lo, hi):
    return np.clip(np.round((values - lo) / (hi - lo) * 255), 0, 255)


def check_thumb_png(r, ctx):
    p = part(r, "thumb_png")
    path = os.path.join(ctx["out"], p["file"])
    need(open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n", "thumb_png: not a PNG")
    arr, _, _, types, _ = read_raster(path, ".png")
    need(set(types) == {"Byte"}, "thumb_png: band types %r" % types)
    need(arr.shape[1:] == (SRTM_H, SRTM_W), "thumb_png: %dx%d, want %dx%d" % (
        arr.shape[2], arr.shape[1], SRTM_W, SRTM_H))
    lo, hi = next(x["vis"] for x in ctx["parts"] if x["name"] == "thumb_png")
    want_v, _ = ref.sample(ref.SRTM, "elevation", "EPSG:4326", SRTM_AFFINE, SRTM_W, SRTM_H)
    want = visualized(want_v, lo, hi)
    # Grey (1 band), grey + alpha, RGB or RGBA: every colour channel is the
    # visualized elevation (min/max stretch to 0..255; rounding may differ
    # by one), any alpha is opaque (no pixel is masked).
    colour = arr[:3] if arr.shape[0] in (3, 4) else arr[:1]
    if arr.shape[0] in (2, 4):
        need((arr[-1] == 255).all(), "thumb_png: transparent pixels")
    for i, ch in enumerate(colour):
        diff = np.abs(ch.astype(np.float64) - want)
        need(diff.max() <= 1, "thumb_png: channel %d differs from the stretched reference by "
             "up to %d" % (i, diff.max()))


def check_thumb_jpeg(r, ctx):
    p = part(r, "thumb_jpeg")
    path = os.path.join(ctx["out"], p["file"])
    need(open(path, "rb").read(3) == b"\xff\xd8\xff", "thumb_jpeg: not a JPEG")
    arr, _, _, types, _ = read_raster(path, ".jpg")
    need(arr.shape[0] == 3 and set(types) == {"Byte"}, "thumb_jpeg: %d bands of %r" %
         (arr.shape[0], types))
    # The region's bounding box in the image's projection (B4: EPSG:32610,
    # 10 m), scaled so that its longer side is 64 pixels.
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromEPSG(4326)
    dst.ImportFromEPSG(32610)
    for s in (src, dst):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(src, dst)
    pts = np.array([ct.TransformPoint(x, y)[:2] for x, y in THUMB_REGION["coordinates"][0]])
    (xmin, ymin), (xmax, ymax) = pts.min(axis=0), pts.max(axis=0)
    scale = max(xmax - xmin, ymax - ymin) / 64
    w, h = round((xmax - xmin) / scale), round((ymax - ymin) / scale)
    need(max(arr.shape[1:]) == 64 and abs(arr.shape[2] - w) <= 1 and abs(arr.shape[1] - h) <= 1,
         "thumb_jpeg: %dx%d, want %dx%d (+-1)" % (arr.shape[2], arr.shape[1], w, h))
    # JPEG is lossy and the exact grid is the server's choice: compare each
    # channel's mean with the reference's over the box.
    affine = [scale, 0, xmin, 0, -scale, ymax]
    for i, band in enumerate(("B4", "B3", "B2")):
        v, _ = ref.sample(S2_IMG, band, "EPSG:32610", affine, w, h)
        want = visualized(v, 0, 3000).mean()
        got = arr[i].astype(np.float64).mean()
        need(abs(got - want) <= 4, "thumb_jpeg: mean of %s %.1f, want %.1f (+-4)" %
             (band, got, want))


def check_map_tile(r, ctx):
    p = part(r, "map_tile")
    path = os.path.join(ctx["out"], p["file"])
    need("/v1/" + p["mapid"] + "/tiles/%d/%d/%d" % TILE in p["url"],
         "map_tile: URL %r for map %r" % (p["url"], p["mapid"]))
    # getMap sends no format: AUTO_JPEG_PNG, a JPEG when every pixel is
    # opaque (as here), else a PNG.
    head = open(path, "rb").read(8)
    is_png = head == b"\x89PNG\r\n\x1a\n"
    need(is_png or head[:3] == b"\xff\xd8\xff", "map_tile: neither PNG nor JPEG: %r" % head)
    arr, _, _, _, _ = read_raster(path, ".png" if is_png else ".jpg")
    need(arr.shape[1:] == (256, 256), "map_tile: %r, want 256 x 256" % (arr.shape[1:],))
    lo, hi = next(x["vis"] for x in ctx["parts"] if x["name"] == "map_tile")
    v, _ = ref.sample(ref.SRTM, "elevation", "EPSG:3857", tile_affine(*TILE), 256, 256)
    want = visualized(v, lo, hi)
    colour = arr[:3] if arr.shape[0] in (3, 4) else arr[:1]
    if arr.shape[0] in (2, 4):
        need((arr[-1] == 255).all(), "map_tile: transparent pixels")
    for i, ch in enumerate(colour):
        diff = np.abs(ch.astype(np.float64) - want)
        if is_png:
            need(diff.max() <= 1, "map_tile: channel %d differs from the stretched reference "
                 "by up to %d (%d pixels by more than 1)" % (i, diff.max(), (diff > 1).sum()))
        else:   # lossy: on average within 2 levels of the stretched reference
            need(diff.mean() <= 2, "map_tile: channel %d differs from the stretched reference "
                 "by %.2f on average" % (i, diff.mean()))


def check_get_asset(r, ctx):
    # ee.data.getAsset turns the EarthEngineAsset into the client's older
    # getInfo-like shape (type "Image", bands with data_type, crs, ...).
    v = part(r, "get_asset")["value"]
    need(v.get("type") == "Image" and v.get("id") == ref.SRTM,
         "get_asset: %r" % ({k: v.get(k) for k in ("type", "id")},))
    need(v.get("properties", {}).get("system:time_start") == 950227200000,
         "get_asset: system:time_start %r" % v.get("properties", {}).get("system:time_start"))
    b = v.get("bands", [])
    need([x.get("id") for x in b] == ["elevation"] and b[0].get("crs") == "EPSG:4326" and
         b[0].get("dimensions") == [1296001, 417601],
         "get_asset: bands %r" % (b,))


def check_list_images(r, ctx):
    v = part(r, "list_images")["value"]
    t0, t1 = 1672531200000, 1673395200000     # 2023-01-01, 2023-01-11
    want = sorted(m["id"] for m in ref.collection(ref.S2) if t0 <= m["start_ms"] < t1)
    need(len(want) == 8, "list_images: the reference selects %d images (test bug)" % len(want))
    images = v.get("images", [])
    got = sorted(i.get("id") for i in images)
    need(got == want, "list_images: ids %r, want %r" % (got, want))
    for i in images:
        need(i.get("type") == "IMAGE", "list_images: %s type %r" % (i.get("id"), i.get("type")))
        need(i.get("name") == "projects/earthengine-public/assets/" + i.get("id", ""),
             "list_images: name %r" % i.get("name"))
    need("nextPageToken" not in v, "list_images: the client left a nextPageToken %r" %
         v.get("nextPageToken"))


def check_reduce_region(r, ctx):
    v = part(r, "reduce_region")["value"]
    vals, mask = ref.native_pixels(ref.SRTM, "elevation", C0, R0, SRTM_W, SRTM_H)
    want = float(vals[mask].mean())
    need(isinstance(v, dict) and set(v) == {"elevation"}, "reduce_region: %r" % (v,))
    need(abs(v["elevation"] - want) <= 1e-9 * max(1.0, abs(want)),
         "reduce_region: mean %r, want %r" % (v["elevation"], want))


def check_export_gcs(r, ctx):
    v = part(r, "export_gcs")["value"]
    st = v["status"]
    need(st.get("state") == "COMPLETED" and st.get("task_type") in (None, "EXPORT_IMAGE") and
         st.get("description") == "js_srtm", "export_gcs: status %r" % st)
    need(v["states"][-1] == "COMPLETED" and set(v["states"]) <= {"READY", "RUNNING", "COMPLETED"},
         "export_gcs: states %r" % v["states"])
    need(any(n.endswith("/operations/" + v["taskId"]) for n in v["listed"]),
         "export_gcs: listOperations lacks the task: %r" % v["listed"][:5])
    exports = [e for e in ctx["log"] if e["route"] == "image.export"]
    need(len(exports) == 1 and exports[0]["status"] == 200 and exports[0].get("requestId"),
         "export_gcs: image.export in the log %r" % exports)
    path = os.path.join(ctx["buckets"], JS_BUCKET, "js", "srtm.tif")
    need(os.path.exists(path), "export_gcs: no %s" % path)
    arr = check_geotiff(read_raster(path), SRTM_AFFINE, 4326, "export_gcs")
    expect_pixels(arr[0], ref.SRTM, "elevation", "EPSG:4326", SRTM_AFFINE, SRTM_W, SRTM_H,
                  "export_gcs")


CHECKS = [check_initialize, check_image_info, check_collection_info, check_error, check_number,
          check_dictionary, check_compute_geotiff, check_compute_npy, check_download_geotiff,
          check_download_zip_per_band, check_download_zip, check_download_npy, check_thumb_png,
          check_thumb_jpeg, check_map_tile, check_get_asset, check_list_images, check_reduce_region,
          check_export_gcs]


def run_session(node, folder, work, name, parts, *serve_args):
    """Runs js_client.js with these parts against a fresh emulator started
    with serve_args; returns (results, request log, output folder) or raises."""
    creds = os.path.join(work, name + "-creds")
    out = os.path.join(work, name)
    log_path = os.path.join(work, name + "-requests.jsonl")
    with emulib.Emulator("--write-credentials", creds, "--request-log", log_path,
                         *serve_args) as emu:
        plan = {"base": emu.url, "key": os.path.join(creds, "service-account.json"),
                "project": PROJECT, "parts": parts}
        plan_path = os.path.join(work, name + "-plan.json")
        with open(plan_path, "w") as f:
            json.dump(plan, f)
        env = dict(os.environ, NODE_PATH=os.path.join(folder, "node_modules"))
        # The client's synchronous requests leave helper files in the
        # working directory: run it in the scratch folder.
        proc = subprocess.run([node, os.path.join(HERE, "js_client.js"), plan_path, out],
                              cwd=work, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=900)
        text = proc.stdout.decode(errors="replace")
        if text.strip():
            print(text[-4000:])
        if proc.returncode != 0 or not os.path.exists(os.path.join(out, "results.json")):
            raise AssertionError("js_client.js (%s) exited with status %d" %
                                 (name, proc.returncode))
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    with open(log_path) as f:
        log = [json.loads(line) for line in f if line.strip()]
    return results, log, out


# Tokens of 4 s: the client refreshes on its timer, and a request after
# expiry (asynchronous or synchronous) gets a new token first.
TOKEN_PARTS = [
    dict(name="after_expiry", kind="getInfo", js="ee.Number(2).multiply(21)", waitMs=6000),
    dict(name="sync_after_expiry", kind="getInfoSync", js="ee.String('a').cat('b')",
         waitMs=6000),
]


def check_token_refresh(r, log):
    need(part(r, "after_expiry")["value"] == 42, "token refresh: %r" % r["after_expiry"])
    need(part(r, "sync_after_expiry")["value"] == "ab",
         "token refresh (synchronous): %r" % r["sync_after_expiry"])
    grants = [e for e in log if e["route"] == "token" and e["status"] == 200]
    need(len(grants) >= 3, "token refresh: %d token grants in 12 s of 4 s tokens" % len(grants))
    refused = [(e["route"], e["status"]) for e in log if e["status"] != 200]
    need(not refused, "token refresh: requests refused %r" % refused)


def main():
    node = shutil.which("node")
    if not node:
        print("FAIL: node is not installed (scripts/setup.sh installs it); the JS client "
              "test needs it")
        return 1
    folder = client_dir()
    work = tempfile.mkdtemp(prefix="eefetch-jsclient-")
    fails = []
    try:
        parts = plan_parts()
        buckets = os.path.join(work, "buckets")
        os.makedirs(os.path.join(buckets, JS_BUCKET))
        try:
            results, log, out = run_session(node, folder, work, "main", parts,
                                            "--bucket-dir", buckets)
        except AssertionError as e:
            print("FAIL:", e)
            return 1
        ctx = {"out": out, "log": log, "parts": parts, "buckets": buckets}
        emulib.run_each(CHECKS, fails, results, ctx)
        for c in CHECKS:
            name = c.__name__[len("check_"):]
            print("%-22s %s" % (name, "FAIL" if any(f.startswith(c.__name__ + ":")
                                                    for f in fails) else "ok"))
        try:
            results, log, _ = run_session(node, folder, work, "tokens", TOKEN_PARTS,
                                          "--token-lifetime", "4")
            emulib.run_each([check_token_refresh], fails, results, log)
        except AssertionError as e:
            fails.append("check_token_refresh: %s" % e)
        print("%-22s %s" % ("token_refresh", "FAIL" if any(
            f.startswith("check_token_refresh:") for f in fails) else "ok"))
    finally:
        if os.environ.get("EEFETCH_KEEP_JS_OUTPUT"):
            print("kept the plans, the answers and the request logs in", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return emulib.report(fails)


if __name__ == "__main__":
    sys.exit(main())
