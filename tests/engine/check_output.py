"""Checks an eefetch output file against tests/emulator/reference.py.

usage: check_output.py [--nodata V] [--triangle A B NODATA] OUTPUT CRS SX SHX TX SHY SY TY WIDTH HEIGHT
                       IMAGE BAND [IMAGE BAND ...]

Band i of OUTPUT must equal reference.sample(IMAGE_i, BAND_i, ...) on the
given grid, with masked pixels 0 (as EE sends them). Exit status 0 when every
pixel matches; the geotransform must be the grid's.

--nodata V: pixels the reference masks must be V (the download unmasked
them with its nodata value) instead of 0.

--triangle A B NODATA: the download's region was the triangle with corners at
the grid's top-left corner, A pixels to its right and B pixels below it; a
pixel whose centre (u, v) (in pixels from that corner) has u/A + v/B >= 1 is
outside and must be NODATA.
"""
import os
import sys

import numpy as np
from osgeo import gdal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulator"))
import reference as ref  # noqa: E402


def main(argv):
    tri = None
    fill = 0.0
    if len(argv) > 1 and argv[1] == "--nodata":
        fill = float(argv[2])
        argv = argv[:1] + argv[3:]
    if len(argv) > 1 and argv[1] == "--triangle":
        tri = (float(argv[2]), float(argv[3]), float(argv[4]))
        argv = argv[:1] + argv[5:]
    out, crs = argv[1], argv[2]
    affine = [float(v) for v in argv[3:9]]
    w, h = int(argv[9]), int(argv[10])
    pairs = argv[11:]
    ds = gdal.Open(out)
    if ds is None:
        print("cannot open", out, file=sys.stderr)
        return 1
    fails = 0
    gt = ds.GetGeoTransform()
    want_gt = (affine[2], affine[0], affine[1], affine[5], affine[3], affine[4])
    if any(abs(a - b) > 1e-9 * max(1.0, abs(b)) for a, b in zip(gt, want_gt)):
        print("geotransform %s, want %s" % (gt, want_gt), file=sys.stderr)
        fails += 1
    if (ds.RasterXSize, ds.RasterYSize) != (w, h) or ds.RasterCount != len(pairs) // 2:
        print("size %dx%dx%d, want %dx%dx%d" % (ds.RasterXSize, ds.RasterYSize, ds.RasterCount, w, h,
                                                len(pairs) // 2), file=sys.stderr)
        return 1
    for i in range(len(pairs) // 2):
        image, band = pairs[2 * i], pairs[2 * i + 1]
        vals, mask = ref.sample(image, band, crs, affine, w, h)
        want = np.where(mask, vals, fill)
        if tri is not None:
            v, u = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
            want = np.where(u / tri[0] + v / tri[1] < 1, want, tri[2])
        got = ds.GetRasterBand(i + 1).ReadAsArray().astype(np.float64)
        bad = got != want
        if bad.any():
            j = tuple(np.argwhere(bad)[0])
            print("band %d (%s %s): %d of %d pixels differ, first at %s: got %s want %s" % (
                i + 1, image, band, int(bad.sum()), bad.size, j, got[j], want[j]), file=sys.stderr)
            fails += 1
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
