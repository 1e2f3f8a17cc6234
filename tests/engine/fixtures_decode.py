"""Writes decoder fixtures with numpy and GDAL (an independent writer) into
the directory given as argv[1]. Pixel values follow val() below, which
test_decode.c recomputes on its own."""
import sys

import numpy as np
from osgeo import gdal, osr

W, H = 7, 5


def val(b, x, y, kind):
    base = (x * 7 + y * 13 + b * 31) % 100
    if kind == "i":
        base -= 50
    if kind == "f":
        base += 0.25
    return base


def structured(fields):
    a = np.zeros((H, W), dtype=fields)
    for b, (name, code) in enumerate(fields):
        kind = np.dtype(code).kind
        for y in range(H):
            for x in range(W):
                a[name][y, x] = val(b, x, y, kind)
    return a


def main(out):
    mixed = [("B1", "|u1"), ("B2", "<i2"), ("B3", "<f4"), ("B4", "<f8"), ("B5", "|i1"), ("B6", "<u4"),
             ("B7", "<u2"), ("B8", "<i4")]
    a = structured(mixed)
    np.save(out + "/mixed.npy", a)
    with open(out + "/mixed_v2.npy", "wb") as f:
        np.lib.format.write_array(f, a, version=(2, 0))
    np.save(out + "/bigendian.npy", structured([("B1", ">u2"), ("B2", ">f8")]))
    simple = np.zeros((H, W), dtype="<f4")
    for y in range(H):
        for x in range(W):
            simple[y, x] = val(0, x, y, "f")
    np.save(out + "/simple.npy", simple)

    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(out + "/tile.tif", W, H, 3, gdal.GDT_Int16)
    ds.SetGeoTransform((500000.0, 30.0, 0.0, 4200000.0, 0.0, -30.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32610)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(3):
        arr = np.array([[val(b, x, y, "i") for x in range(W)] for y in range(H)], dtype=np.int16)
        ds.GetRasterBand(b + 1).WriteArray(arr)
    ds = None


if __name__ == "__main__":
    main(sys.argv[1])
