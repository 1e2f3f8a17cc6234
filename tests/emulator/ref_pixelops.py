"""Independent numpy models of the emulator's pixel operations that read
neighbouring pixels: Image.resample (bilinear, bicubic) and Terrain.slope /
aspect / hillshade. Built on reference.py's catalog model; written from the
text of docs/emulator.md ("Pixel operations"), not from the C code.
"""

import numpy as np
from osgeo import osr

import reference as ref

METERS_PER_DEGREE = 111319.49079327357


def native_coords(image_id, band, crs, affine, width, height):
    """Fractional native pixel coordinates (u, v) of every request pixel
    centre: native pixel (c, r) covers [c, c+1) x [r, r+1)."""
    grid = ref.native_grid(image_id, band)
    sx, shx, tx, shy, sy, ty = affine
    jj, ii = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    x = sx * ii + shx * jj + tx
    y = shy * ii + sy * jj + ty
    if crs != grid["crs"]:
        src = osr.SpatialReference()
        src.SetFromUserInput(crs)
        dst = osr.SpatialReference()
        dst.SetFromUserInput(grid["crs"])
        for s_ in (src, dst):
            s_.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        ct = osr.CoordinateTransformation(src, dst)
        pts = np.array(ct.TransformPoints(np.column_stack([x.ravel(), y.ravel()])))
        x = pts[:, 0].reshape(x.shape)
        y = pts[:, 1].reshape(y.shape)
    a = grid["affine"]
    det = a[0] * a[4] - a[1] * a[3]
    u = (a[4] * (x - a[2]) - a[1] * (y - a[5])) / det
    v = (-a[3] * (x - a[2]) + a[0] * (y - a[5])) / det
    return u, v


def pixels(image_id, band, c, r):
    """(values, mask) at integer native pixel indices (any shape)."""
    img = ref._image(image_id)
    grid = ref.native_grid(image_id, band)
    return ref._values_masks(img, band, c.astype(np.int64), r.astype(np.int64), grid)


def _keys(t):
    t = np.abs(t)
    return np.where(t <= 1, 1.5 * t ** 3 - 2.5 * t ** 2 + 1,
                    np.where(t < 2, -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2, 0.0))


def resample(image_id, band, crs, affine, width, height, mode="bilinear"):
    """Interpolated values: taps around each point weighted by distance to
    their centres, masked taps left out and the rest renormalised; a point
    is valid where the native pixel containing it is."""
    u, v = native_coords(image_id, band, crs, affine, width, height)
    n = 2 if mode == "bilinear" else 4
    c0 = np.floor(u - 0.5) - (n // 2 - 1)
    r0 = np.floor(v - 0.5) - (n // 2 - 1)
    acc = np.zeros(u.shape)
    wsum = np.zeros(u.shape)
    for ty in range(n):
        for tx in range(n):
            c, r = c0 + tx, r0 + ty
            val, m = pixels(image_id, band, c, r)
            du, dv = u - (c + 0.5), v - (r + 0.5)
            if n == 2:
                w = (1 - np.abs(du)) * (1 - np.abs(dv))
            else:
                w = _keys(du) * _keys(dv)
            acc += np.where(m, w * val, 0)
            wsum += np.where(m, w, 0)
    _, nn = pixels(image_id, band, np.floor(u), np.floor(v))
    mask = nn & (wsum != 0)
    return np.where(mask, acc / np.where(wsum == 0, 1, wsum), 0), mask


def terrain(image_id, band, crs, affine, width, height, azimuth=270.0, elevation=45.0):
    """dict slope, aspect, hillshade (degrees, degrees, 0..255) and the mask,
    from the 4-connected neighbours of the native pixel holding each point
    (central differences; geographic grids in metres on a 6378137 m
    sphere)."""
    grid = ref.native_grid(image_id, band)
    a = grid["affine"]
    u, v = native_coords(image_id, band, crs, affine, width, height)
    c, r = np.floor(u), np.floor(v)
    zc, mc = pixels(image_id, band, c, r)
    ze, me = pixels(image_id, band, c + 1, r)
    zw, mw = pixels(image_id, band, c - 1, r)
    zn, mn = pixels(image_id, band, c, r - 1)
    zs, ms = pixels(image_id, band, c, r + 1)
    mask = mc & me & mw & mn & ms
    # Only north-up grids without shear here: x east along columns, y north
    # against rows.
    assert a[1] == 0 and a[3] == 0 and a[4] < 0
    dzdx = (ze - zw) / (2 * a[0])
    dzdy = (zs - zn) / (2 * a[4])
    if grid["crs"] == "EPSG:4326":
        lat = np.radians(a[4] * (r + 0.5) + a[5])
        dzdx = dzdx / (METERS_PER_DEGREE * np.cos(lat))
        dzdy = dzdy / METERS_PER_DEGREE
    slope = np.arctan(np.sqrt(dzdx ** 2 + dzdy ** 2))
    flat = (dzdx == 0) & (dzdy == 0)
    aspect = np.where(flat, 0.0, np.arctan2(-dzdx, -dzdy))
    aspect = np.where(aspect < 0, aspect + 2 * np.pi, aspect)
    zen = np.radians(90 - elevation)
    hs = 255 * (np.cos(zen) * np.cos(slope)
                + np.sin(zen) * np.sin(slope) * np.cos(np.radians(azimuth) - aspect))
    hs = np.where(hs > 0, np.floor(hs + 0.5), 0)
    return dict(slope=np.degrees(slope), aspect=np.degrees(aspect), hillshade=hs), mask
