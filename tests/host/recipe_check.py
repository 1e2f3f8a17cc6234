"""Helpers shared by the tests that check a recipe's output file against
tests/emulator/reference.py: the file's grid and pixels, and the pixels
safely inside a lon/lat region (its edges are curved in UTM, so pixels near
them are left out of comparisons)."""
import os
import sys

import numpy as np
from osgeo import gdal, osr

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulator"))
import reference as ref  # noqa: E402,F401  (re-exported for the tests)


def read(path):
    """(bands float64 [n, h, w], nodata, geotransform, band descriptions)."""
    ds = gdal.Open(path)
    if ds is None:
        raise AssertionError("no raster at %s" % path)
    data = ds.ReadAsArray().astype(np.float64)
    if data.ndim == 2:
        data = data[None]
    b = ds.GetRasterBand(1)
    names = [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]
    return data, b.GetNoDataValue(), ds.GetGeoTransform(), names


def ee_affine(gt):
    """GDAL geotransform -> EE's affine order."""
    return [gt[1], gt[2], gt[0], gt[4], gt[5], gt[3]]


def inner(bbox, gt, w, h, epsg, margin_px=3):
    """Pixels whose centre lies inside the lon/lat bbox by more than a margin."""
    src = osr.SpatialReference()
    src.ImportFromEPSG(epsg)
    ll = osr.SpatialReference()
    ll.ImportFromEPSG(4326)
    for s in (src, ll):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(src, ll)
    jj, ii = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    x = gt[0] + ii * gt[1]
    y = gt[3] + jj * gt[5]
    pts = np.array(ct.TransformPoints(np.column_stack([x.ravel(), y.ravel()])))
    lon = pts[:, 0].reshape(x.shape)
    lat = pts[:, 1].reshape(x.shape)
    m = margin_px * abs(gt[1]) / 111000.0
    return (lon > bbox[0] + 1.3 * m) & (lon < bbox[2] - 1.3 * m) & (lat > bbox[1] + m) & (lat < bbox[3] - m)


def compare(got, nodata, want, keep, what, atol=1e-6):
    """got: one band; want: reference with NaN where the pixel is masked.
    Returns a list of failure messages (empty when all agree)."""
    valid = ~np.isnan(want)
    fails = []
    bad_nodata = keep & ~valid & (got != nodata)
    bad_value = keep & valid & ~np.isclose(got, want, rtol=0, atol=atol)
    if bad_nodata.any():
        fails.append("%s: %d masked pixels are not nodata" % (what, int(bad_nodata.sum())))
    if bad_value.any():
        i = tuple(np.argwhere(bad_value)[0])
        fails.append("%s: %d pixels differ from the reference, e.g. %r: %r vs %r"
                     % (what, int(bad_value.sum()), i, got[i], want[i]))
    if not (keep & valid).any():
        fails.append("%s: no valid pixel to compare" % what)
    return fails
