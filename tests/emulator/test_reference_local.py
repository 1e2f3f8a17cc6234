"""Local GeoTIFF assets: catalog_add_local against the file itself.

Writes real GeoTIFFs with osgeo.gdal, registers them through test_catalog's
"local" tool mode and compares bands, types, grid, properties and pixels
(nodata and NaN masked) with what GDAL reads from the file (reference.add_local).
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from osgeo import gdal, osr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

gdal.UseExceptions()
FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL:", msg)


def tool():
    if os.environ.get("CATALOG_TOOL"):
        return os.environ["CATALOG_TOOL"]
    return os.path.join(os.environ.get("EEFETCH_BUILD", "build"), "tests", "emulator_test_catalog")


def write_tif(path, srs_input, bands):
    """bands: list of (gdal type, array, nodata or None, description or None)."""
    h, w = bands[0][1].shape
    ds = gdal.GetDriverByName("GTiff").Create(path, w, h, len(bands), bands[0][0])
    ds.SetGeoTransform((500000.0, 30.0, 0.0, 4200000.0, 0.0, -30.0))
    srs = osr.SpatialReference()
    srs.SetFromUserInput(srs_input)
    ds.SetProjection(srs.ExportToWkt())
    ds.SetMetadata({"SOURCE": "test", "YEAR": "2021"})
    for i, (_, arr, nd, desc) in enumerate(bands):
        b = ds.GetRasterBand(i + 1)
        b.WriteArray(arr)
        if nd is not None:
            b.SetNoDataValue(nd)
        if desc:
            b.SetDescription(desc)
    ds = None


def session(asset_id, path, windows):
    p = subprocess.Popen([tool(), "local", asset_id, path], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    first = p.stdout.readline().decode()
    if first.startswith("ERROR"):
        p.stdin.close()
        check(p.wait() == 2, "tool exit status after a refused asset")
        return first, []
    out = []
    for (name, band, c0, r0, w, h) in windows:
        p.stdin.write(("%s %s %d %d %d %d\n" % (name, band, c0, r0, w, h)).encode())
        p.stdin.flush()
        raw = p.stdout.read(w * h * 9)
        vals = np.frombuffer(raw[:w * h * 8], dtype="<f8").reshape(h, w)
        mask = np.frombuffer(raw[w * h * 8:], dtype=np.uint8).reshape(h, w).astype(bool)
        out.append((vals, mask))
    p.stdin.close()
    check(p.wait() == 0, "tool exit status (sanitizer reports fail it)")
    return json.loads(first), out


def main():
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(5)
        dem = rng.integers(-500, 3000, size=(37, 53)).astype(np.int16)
        dem[3, 4] = -9999
        ndvi = rng.random((37, 53)).astype(np.float32)
        ndvi[10, 10] = np.nan
        path = os.path.join(tmp, "dem.tif")
        write_tif(path, "EPSG:32610", [(gdal.GDT_Int16, dem, -9999, None),
                                       (gdal.GDT_Float32, ndvi, None, "ndvi")])
        # Float32 dataset type for band 2 needs its own file type; GTiff has one type
        # per file, so write the float band as its own asset.
        path2 = os.path.join(tmp, "ndvi.tif")
        write_tif(path2, "EPSG:4326", [(gdal.GDT_Float32, ndvi, None, "ndvi")])
        ds = gdal.Open(path2, gdal.GA_Update)
        ds.SetGeoTransform((-122.5, 0.001, 0.0, 37.8, 0.0, -0.001))
        ds = None

        windows = [("users/me/dem", "b1", 0, 0, 53, 37),
                   ("projects/earthengine-legacy/assets/users/me/dem", "b1", -3, -2, 20, 10),
                   ("users/me/dem", "ndvi", 40, 30, 20, 10)]
        info, got = session("users/me/dem", path, windows)
        ref.add_local("users/me/dem", path)
        check(isinstance(info, dict), "local asset registered: %s" % info)
        if isinstance(info, dict):
            check([b["id"] for b in info["bands"]] == ["b1", "ndvi"], "band names")
            check(info["bands"][0]["type"] == "int16", "int16 band type (file type of band 1)")
            b0 = info["bands"][0]
            check(b0["crs"] == "EPSG:32610" and b0["affine"] == [30, 0, 500000, 0, -30, 4200000]
                  and b0["width"] == 53 and b0["height"] == 37, "local grid %s" % b0)
            check(info["properties"].get("SOURCE") == "test" and
                  info["properties"].get("system:index") == "dem", "local properties")
            check(info["footprint"]["type"] == "Polygon", "local footprint")
            for (name, band, c0, r0, w, h), (v, m) in zip(windows, got):
                rv, rm = ref.native_pixels(name, band, c0, r0, w, h)
                check(np.array_equal(m, rm) and np.array_equal(v, rv),
                      "local pixels %s %s (%d,%d)" % (name, band, c0, r0))
            check(not got[0][1][3, 4] and got[0][1][3, 5], "nodata is masked")
        info, got = session("users/me/ndvi", path2, [("users/me/ndvi", "ndvi", 8, 8, 5, 5)])
        check(isinstance(info, dict) and info["bands"][0]["type"] == "float"
              and info["bands"][0]["crs"] == "EPSG:4326", "float32 asset in EPSG:4326")
        if got:
            ref.add_local("users/me/ndvi", path2)
            rv, rm = ref.native_pixels("users/me/ndvi", "ndvi", 8, 8, 5, 5)
            check(np.array_equal(got[0][0], rv) and np.array_equal(got[0][1], rm) and not rm[2, 2],
                  "float pixels, NaN masked")
        # A CRS without an EPSG code is refused with a clear message.
        path3 = os.path.join(tmp, "custom.tif")
        write_tif(path3, "+proj=tmerc +lat_0=0 +lon_0=17.3 +k=0.9991 +x_0=123456 +y_0=0 "
                         "+ellps=bessel +units=m +no_defs",
                  [(gdal.GDT_Byte, np.ones((4, 4), dtype=np.uint8), None, None)])
        info, _ = session("users/me/custom", path3, [])
        check(isinstance(info, str) and "EPSG" in info, "custom CRS refused: %r" % info)
        info, _ = session("users/me/missing", os.path.join(tmp, "nope.tif"), [])
        check(isinstance(info, str) and "nope.tif" in info, "missing file named: %r" % info)
    print("%d failures" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
