"""Checks an eefetch output written with a mask band (spec.mask_band) against
tests/emulator/reference.py.

usage: check_mask.py [--triangle A B] [--cog] [--quicklook PNG] OUTPUT CRS SX SHX TX SHY SY TY WIDTH HEIGHT
                     THRESHOLD

The download was SRTM elevation updateMask'ed by elevation > THRESHOLD, plus
the 0/1 band elevation > THRESHOLD as its mask band. OUTPUT must have one
data band (elevation) whose pixels equal the reference's where they are
valid, and a per-dataset mask (gdalinfo: "Mask Flags: PER_DATASET", inside
the file: no .msk beside it) that reads 255 exactly where the reference has
a pixel and its elevation exceeds THRESHOLD, 0 elsewhere.

--triangle A B: the region was the triangle with corners at the grid's
top-left corner, A pixels to its right and B pixels below it; pixels whose
centre (u, v) has u/A + v/B >= 1 are outside and must be masked.
--cog: OUTPUT is a COG whose mask has overviews too.
--quicklook PNG: the preview of OUTPUT (same size): masked pixels 0, others not.
"""
import os
import subprocess
import sys

import numpy as np
from osgeo import gdal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulator"))
import reference as ref  # noqa: E402


def main(argv):
    tri = None
    cog = False
    png = None
    args = argv[1:]
    while args and args[0].startswith("--"):
        if args[0] == "--triangle":
            tri = (float(args[1]), float(args[2]))
            args = args[3:]
        elif args[0] == "--cog":
            cog = True
            args = args[1:]
        elif args[0] == "--quicklook":
            png = args[1]
            args = args[2:]
        else:
            print("unknown option", args[0], file=sys.stderr)
            return 2
    out, crs = args[0], args[1]
    affine = [float(v) for v in args[2:8]]
    w, h = int(args[8]), int(args[9])
    threshold = float(args[10])
    fails = []

    ds = gdal.Open(out)
    if ds is None:
        print("cannot open", out, file=sys.stderr)
        return 1
    if (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) != (w, h, 1):
        print("size %dx%dx%d, want %dx%dx1" % (ds.RasterXSize, ds.RasterYSize, ds.RasterCount, w, h),
              file=sys.stderr)
        return 1
    band = ds.GetRasterBand(1)
    # (gdalbuildvrt does not copy band descriptions into a VRT)
    if not out.endswith(".vrt") and band.GetDescription() != "elevation":
        fails.append("band description %r" % band.GetDescription())
    if band.GetMaskFlags() != gdal.GMF_PER_DATASET:
        fails.append("mask flags %d, want GMF_PER_DATASET" % band.GetMaskFlags())
    info = subprocess.run(["gdalinfo", out], capture_output=True, text=True).stdout
    if "Mask Flags: PER_DATASET" not in info:
        fails.append("gdalinfo does not show 'Mask Flags: PER_DATASET'")
    if os.path.exists(out + ".msk") or ".msk" in info:
        fails.append("the mask is in a .msk file, not inside the GeoTIFF")

    vals, have = ref.sample("USGS/SRTMGL1_003", "elevation", crs, affine, w, h)
    valid = have & (vals > threshold)
    if tri is not None:
        v, u = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
        valid &= u / tri[0] + v / tri[1] < 1
    if valid.all() or not valid.any():
        fails.append("the case is degenerate: %d of %d pixels valid" % (int(valid.sum()), valid.size))
    mask = band.GetMaskBand().ReadAsArray()
    want_mask = np.where(valid, 255, 0)
    bad = mask != want_mask
    if bad.any():
        j = tuple(np.argwhere(bad)[0])
        fails.append("mask: %d of %d pixels differ, first at %s: got %d want %d"
                     % (int(bad.sum()), bad.size, j, mask[j], want_mask[j]))
    got = band.ReadAsArray().astype(np.float64)
    bad = valid & (got != vals)
    if bad.any():
        j = tuple(np.argwhere(bad)[0])
        fails.append("elevation: %d valid pixels differ, first at %s: got %s want %s"
                     % (int(bad.sum()), j, got[j], vals[j]))

    if cog:
        if ds.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") != "COG":
            fails.append("not a COG layout")
        if band.GetOverviewCount() < 1 or band.GetMaskBand().GetOverviewCount() < 1:
            fails.append("overviews: data %d, mask %d" % (band.GetOverviewCount(),
                                                           band.GetMaskBand().GetOverviewCount()))
    ds = None

    if png is not None:
        q = gdal.Open(png)
        if q is None or q.RasterXSize != w or q.RasterYSize not in (h, h + 24):
            fails.append("quick-look %s missing or not %dx%d" % (png, w, h))
        else:
            # alpha: 0 (transparent) exactly where the output is masked
            px = q.GetRasterBand(4).ReadAsArray(0, 0, w, h)
            if (px[~valid] != 0).any() or (px[valid] == 0).any():
                fails.append("quick-look: %d masked pixels not transparent, %d valid pixels transparent"
                             % (int((px[~valid] != 0).sum()), int((px[valid] == 0).sum())))

    for f in fails:
        print("%s: %s" % (out, f), file=sys.stderr)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
