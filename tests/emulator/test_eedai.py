"""Conformance: the unmodified GDAL EEDAI driver (gdal_translate with EEDA_URL
pointing at the emulator) fetches synthetic assets and local GeoTIFF assets,
and every pixel is checked against an independent computation:
tests/emulator/reference.py for the synthetic catalog, the source file for
local assets."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from osgeo import gdal, osr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
import reference as ref  # noqa: E402

gdal.UseExceptions()

FAILURES = []
# GDAL's EEDAI driver retries 5xx answers for minutes (1 s, 4 s, 18 s, 77 s);
# after one failed fetch the remaining ones are skipped so a broken server
# fails this test quickly instead of timing out.
STATE = {"gdal_failed": False}
S2 = "COPERNICUS/S2_SR_HARMONIZED"
SRTM = "USGS/SRTMGL1_003"


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what)
    return cond


def gdal_env(emu):
    env = dict(os.environ)
    env.update({
        "EEDA_URL": emu.url + "/v1alpha/",
        "EEDA_BEARER": emu.token or "emulator-test-token",
        "GDAL_HTTP_MAX_RETRY": "0",
        "CPL_CURL_VERBOSE": "NO",
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_CACHEMAX": "256",
    })
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env.pop(k, None)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def band_types(emu, dataset):
    """Band data types of an EEDAI dataset as the driver reports them (gdalinfo)."""
    res = subprocess.run(["gdalinfo", "-json", dataset], env=gdal_env(emu), capture_output=True,
                         text=True, timeout=60)
    if not check(res.returncode == 0, "gdalinfo %s failed: %s" % (dataset, res.stderr.strip())):
        return []
    return [b["type"] for b in json.loads(res.stdout)["bands"]]


def translate(emu, dataset, srcwin, out, extra=()):
    """Runs gdal_translate against the emulator; returns the output as arrays."""
    if STATE["gdal_failed"]:
        check(False, "skipped %s after an earlier GDAL failure" % dataset)
        return None
    env = gdal_env(emu)
    cmd = ["gdal_translate", "-q", "-of", "GTiff"] + list(extra) + \
          ["-srcwin"] + [str(v) for v in srcwin] + [dataset, out]
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        STATE["gdal_failed"] = True
        check(False, "gdal_translate %s took over 60 s (retrying server errors?)" % dataset)
        return None
    if not check(res.returncode == 0, "gdal_translate %s failed: %s" % (dataset, res.stderr.strip())):
        STATE["gdal_failed"] = True
        return None
    ds = gdal.Open(out)
    bands = [ds.GetRasterBand(i + 1).ReadAsArray() for i in range(ds.RasterCount)]
    info = {
        "gt": ds.GetGeoTransform(),
        "descr": [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)],
        "types": [gdal.GetDataTypeName(ds.GetRasterBand(i + 1).DataType)
                  for i in range(ds.RasterCount)],
        "srs": ds.GetProjection(),
    }
    ds = None
    return bands, info


def gdal_gt(grid, col0, row0):
    """GDAL geotransform of a window of an EE native grid (no shear)."""
    sx, _, tx, _, sy, ty = grid["affine"]
    return (tx + col0 * sx, sx, 0.0, ty + row0 * sy, 0.0, sy)


def same_crs(wkt, crs):
    a = osr.SpatialReference()
    a.ImportFromWkt(wkt)
    b = osr.SpatialReference()
    b.SetFromUserInput(crs)
    return a.IsSame(b)


def check_against_reference(label, arrays, info, image_id, band_ids, srcwin, expect_type):
    col0, row0, w, h = srcwin
    check(len(arrays) == len(band_ids), "%s: %d bands, want %d" % (label, len(arrays), len(band_ids)))
    grid = ref.native_grid(image_id, band_ids[0])
    gt = gdal_gt(grid, col0, row0)
    check(all(abs(a - b) < 1e-9 * max(1.0, abs(b)) for a, b in zip(info["gt"], gt)),
          "%s: geotransform %r, want %r" % (label, info["gt"], gt))
    check(same_crs(info["srs"], grid["crs"]), "%s: CRS is not %s" % (label, grid["crs"]))
    for i, band in enumerate(band_ids):
        if i >= len(arrays):
            break
        got = arrays[i]
        check(info["types"][i] == expect_type[i] if isinstance(expect_type, list) else
              info["types"][i] == expect_type,
              "%s %s: type %s" % (label, band, info["types"][i]))
        values, mask = ref.native_pixels(image_id, band, col0, row0, w, h)
        want = np.where(mask, values, 0)
        check(got.shape == (h, w), "%s %s: shape %r" % (label, band, got.shape))
        if got.shape != (h, w):
            continue
        bad = np.count_nonzero(got.astype(np.float64) != want)
        check(bad == 0, "%s %s: %d of %d pixels differ from reference.py (first at %r)"
              % (label, band, bad, w * h,
                 tuple(np.argwhere(got.astype(np.float64) != want)[0]) if bad else None))
        check(np.count_nonzero(mask) > 0, "%s %s: window is all masked" % (label, band))


def test_srtm(emu, tmp):
    grid = ref.native_grid(SRTM, "elevation")
    sx, _, tx, _, sy, ty = grid["affine"]
    # A window around San Francisco Bay (lon -122.5, lat 37.8), and one that
    # crosses the equator and the prime meridian.
    for name, lon, lat in (("sf", -122.5, 37.8), ("gulf", -0.05, 0.05)):
        col0 = int((lon - tx) / sx)
        row0 = int((lat - ty) / sy)
        srcwin = (col0, row0, 300, 270)
        got = translate(emu, "EEDAI:" + SRTM, srcwin, os.path.join(tmp, "srtm_%s.tif" % name))
        if got:
            check(got[1]["descr"] == ["elevation"], "SRTM band description %r" % got[1]["descr"])
            check_against_reference("SRTM " + name, got[0], got[1], SRTM, ["elevation"], srcwin,
                                    "Int16")


def test_s2(emu, tmp):
    images = ref.collection(S2)
    if not check(len(images) > 0, "reference S2 collection is empty"):
        return
    img = images[len(images) // 3]["id"]
    if not img.startswith(S2 + "/"):
        img = S2 + "/" + img
    # 10 m bands: homogeneous uint16, GDAL asks for GEO_TIFF; then force NPY.
    b10 = ["B2", "B3", "B4", "B8"]
    srcwin = (1500, 2300, 300, 260)
    for enc in ("AUTO", "NPY"):
        got = translate(emu, "EEDAI:%s:%s" % (img, ",".join(b10)), srcwin,
                        os.path.join(tmp, "s2_10m_%s.tif" % enc), ["-oo", "PIXEL_ENCODING=" + enc])
        if got:
            check(got[1]["descr"] == b10, "S2 10 m band names %r" % got[1]["descr"])
            check_against_reference("S2 10m " + enc, got[0], got[1], img, b10, srcwin, "UInt16")
    # 20 m bands with SCL: mixed uint16/uint8, so GDAL uses NPY. The driver
    # sees the mixed types; a GeoTIFF output holds one type, so it is UInt16.
    b20 = ["B5", "B11", "SCL"]
    ds20 = "EEDAI:%s:%s" % (img, ",".join(b20))
    check(band_types(emu, ds20) == ["UInt16", "UInt16", "Byte"], "S2 20 m band types from EEDAI")
    srcwin = (700, 800, 260, 300)
    got = translate(emu, ds20, srcwin, os.path.join(tmp, "s2_20m.tif"))
    if got:
        check_against_reference("S2 20m", got[0], got[1], img, b20, srcwin, "UInt16")
    # 60 m bands.
    b60 = ["B1", "B9"]
    srcwin = (10, 20, 150, 140)
    got = translate(emu, "EEDAI:%s:%s" % (img, ",".join(b60)), srcwin,
                    os.path.join(tmp, "s2_60m.tif"))
    if got:
        check_against_reference("S2 60m", got[0], got[1], img, b60, srcwin, "UInt16")


def make_local(tmp):
    """Two local GeoTIFFs: int16 x2 bands in UTM, float32 in EPSG:4326."""
    rng = np.random.default_rng(20231105)
    drv = gdal.GetDriverByName("GTiff")
    srs = osr.SpatialReference()

    p1 = os.path.join(tmp, "local_int16.tif")
    ds = drv.Create(p1, 333, 271, 2, gdal.GDT_Int16)
    ds.SetGeoTransform((500000.0, 30.0, 0.0, 4200000.0, 0.0, -30.0))
    srs.ImportFromEPSG(32610)
    ds.SetProjection(srs.ExportToWkt())
    a1 = [rng.integers(-32768, 32767, size=(271, 333), dtype=np.int16) for _ in range(2)]
    for i, a in enumerate(a1):
        ds.GetRasterBand(i + 1).WriteArray(a)
    ds = None

    p2 = os.path.join(tmp, "local_float.tif")
    ds = drv.Create(p2, 257, 190, 1, gdal.GDT_Float32)
    ds.SetGeoTransform((11.25, 0.001, 0.0, 47.5, 0.0, -0.001))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    ds.SetProjection(srs.ExportToWkt())
    a2 = (rng.standard_normal(size=(190, 257)) * 1000).astype(np.float32)
    ds.GetRasterBand(1).WriteArray(a2)
    ds = None
    return (p1, a1), (p2, a2)


def test_local(emu, tmp, local):
    (p1, a1), (p2, a2) = local
    # Band names of local assets come from the catalog; ask the server.
    st, _, body = emu.get("/v1alpha/projects/earthengine-legacy/assets/users/test/local_int16")
    if not check(st == 200, "local asset metadata: %d %r" % (st, body[:200])):
        return
    meta = json.loads(body)
    names = [b["id"] for b in meta.get("bands", [])]
    check(len(names) == 2, "local int16 asset has 2 bands: %r" % names)
    for srcwin in ((0, 0, 333, 271), (17, 33, 200, 150)):
        got = translate(emu, "EEDAI:users/test/local_int16", srcwin,
                        os.path.join(tmp, "l1_%d.tif" % srcwin[0]))
        if not got:
            continue
        arrays, info = got
        c0, r0, w, h = srcwin
        check(info["gt"] == (500000.0 + 30.0 * c0, 30.0, 0.0, 4200000.0 - 30.0 * r0, 0.0, -30.0),
              "local geotransform %r" % (info["gt"],))
        check(info["types"] == ["Int16", "Int16"], "local types %r" % info["types"])
        for i in range(2):
            check(np.array_equal(arrays[i], a1[i][r0:r0 + h, c0:c0 + w]),
                  "local int16 band %d pixels differ from the source" % (i + 1))
    got = translate(emu, "EEDAI:users/test/local_float", (0, 0, 257, 190),
                    os.path.join(tmp, "l2.tif"), ["-oo", "PIXEL_ENCODING=NPY"])
    if got:
        check(got[1]["types"] == ["Float32"], "local float type %r" % got[1]["types"])
        check(np.array_equal(got[0][0], a2), "local float pixels differ from the source")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        local = make_local(tmp)
        log = os.path.join(tmp, "requests.jsonl")
        with emulib.Emulator("--request-log", log,
                             "--asset", "users/test/local_int16=" + local[0][0],
                             "--asset", "users/test/local_float=" + local[1][0]) as emu:
            test_srtm(emu, tmp)
            test_s2(emu, tmp)
            test_local(emu, tmp, local)
        with open(log) as f:
            lines = [json.loads(x) for x in f if x.strip()]
        pix = [x for x in lines if x["route"] == "assets.getPixels"]
        check(len(pix) > 0, "GDAL requested pixels through getPixels")
        check(all(x.get("grid") for x in pix), "every getPixels request carried a grid")
        bad = [x for x in lines if x["status"] != 200]
        check(not bad, "requests that failed: %r" % [(x["path"], x["status"], x.get("message"))
                                                    for x in bad[:5]])
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
