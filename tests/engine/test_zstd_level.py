#!/usr/bin/env python3
"""The default codec's level (mosaic.h, MOSAIC_ZSTD_LEVEL): a GeoTIFF with
compression "default" is ZSTD at level 3, not GDAL's 9.

GDAL does not record the level, so the output is compared by size with
copies of itself that GDAL writes at levels 3 and 9 with the same blocks,
predictor and internal mask: it must be the level-3 copy's size (within
0.5 %), and the two copies must differ (the scene is not trivially
compressible) so the check can fail.
"""
import os
import shutil
import subprocess
import sys
import tempfile

from osgeo import gdal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "emulator"))
import emulib  # noqa: E402

gdal.UseExceptions()

RECIPE = """download{
  image = ee.Image("COPERNICUS/S2_SR_HARMONIZED/20230105T183751_20230105T183750_T10SEG"),
  bands = { "B2", "B3", "B4", "B8" }, crs = "EPSG:32610",
  crs_transform = { 10, 0, 520000, 0, -10, 4170000 }, dimensions = { 1024, 1024 },
  compression = "default", output = "out.tif",
}
"""


def copy_at(src, dst, level):
    gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", "YES")
    try:
        gdal.Translate(dst, src, creationOptions=[
            "TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "COMPRESS=ZSTD", "PREDICTOR=2",
            "ZSTD_LEVEL=%d" % level])
    finally:
        gdal.SetConfigOption("GDAL_TIFF_INTERNAL_MASK", None)
    return os.path.getsize(dst)


def main():
    tmp = tempfile.mkdtemp(prefix="eefetch-zstd-")
    fails = []
    try:
        with open(os.path.join(tmp, "r.lua"), "w") as f:
            f.write(RECIPE)
        p = subprocess.run([emulib.binary(), "run", "--emulator", os.path.join(tmp, "r.lua")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=300)
        out = os.path.join(tmp, "out.tif")
        if p.returncode != 0 or not os.path.exists(out):
            fails.append("eefetch run failed (%d): %s" % (p.returncode, p.stdout.decode()[-1500:]))
        else:
            ds = gdal.Open(out)
            comp = ds.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE")
            ds = None
            size = os.path.getsize(out)
            s3 = copy_at(out, os.path.join(tmp, "l3.tif"), 3)
            s9 = copy_at(out, os.path.join(tmp, "l9.tif"), 9)
            if comp != "ZSTD":
                fails.append("codec %s, want ZSTD" % comp)
            if not s9 < s3 * 0.99:
                fails.append("levels 3 and 9 give %d and %d bytes: too close to tell apart" % (s3, s9))
            if abs(size - s3) > 0.005 * s3:
                fails.append("output %d bytes, level 3 copy %d, level 9 copy %d: not level 3" % (size, s3, s9))
            print("output %d bytes, level 3 %d, level 9 %d" % (size, s3, s9))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in fails:
        print("FAIL: " + f)
    print("ok" if not fails else "FAILED (%d)" % len(fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
