"""Independent numpy model of Image.visualize and of EE's web-mercator map tiles,
as docs/emulator.md ("Thumbnails, downloads and maps") describes them.

    stretch(values, mask, lo, hi, gamma) -> uint8 array (0 where masked)
    palette(values, mask, lo, hi, colors, gamma) -> (r, g, b) uint8 arrays
    tile_affine(z, x, y) -> EE-order affine of a 256 x 256 EPSG:3857 tile
"""

import numpy as np

import reference  # noqa: F401  (the catalog model these checks sample from)

# The few CSS names the tests use, written out here (not taken from the emulator).
CSS = {"red": (255, 0, 0), "blue": (0, 0, 255), "lime": (0, 255, 0), "white": (255, 255, 255),
       "black": (0, 0, 0), "orange": (255, 165, 0), "blueviolet": (138, 43, 226)}

MERC = 20037508.342789244


def color(s):
    """'red', 'FF0000', '#ff0000', 'f00' -> (r, g, b)."""
    if s.lower() in CSS:
        return CSS[s.lower()]
    h = s[1:] if s.startswith("#") else s
    if len(h) == 3:
        h = "".join(ch * 2 for ch in h)
    return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))


def _unit(values, lo, hi, gamma):
    v = np.asarray(values, dtype=np.float64)
    if hi != lo:
        t = (v - lo) / (hi - lo)
    else:
        t = (v > lo).astype(np.float64)
    t = np.clip(np.nan_to_num(t, nan=0.0), 0.0, 1.0)
    if gamma != 1:
        t = t ** (1.0 / gamma)
    return t


def stretch(values, mask, lo, hi, gamma=1.0):
    """One gray or colour channel: 255 * ((v - lo) / (hi - lo))^(1/gamma), clamped, rounded."""
    out = np.floor(_unit(values, lo, hi, gamma) * 255 + 0.5)
    return np.where(mask, out, 0).astype(np.uint8)


def palette(values, mask, lo, hi, colors, gamma=1.0):
    """Linear interpolation between neighbouring palette colours."""
    cols = np.array([color(c) for c in colors], dtype=np.float64)
    n = len(cols)
    p = _unit(values, lo, hi, gamma) * (n - 1)
    k = np.minimum(np.floor(p).astype(np.int64), n - 1)
    k1 = np.minimum(k + 1, n - 1)
    f = p - k
    out = []
    for ch in range(3):
        v = cols[k, ch] + f * (cols[k1, ch] - cols[k, ch])
        out.append(np.where(mask, np.floor(v + 0.5), 0).astype(np.uint8))
    return tuple(out)


def tile_affine(z, x, y):
    size = 2 * MERC / 2 ** z
    return [size / 256, 0, -MERC + x * size, 0, -size / 256, MERC - y * size]


def lonlat_to_tile(lon, lat, z):
    """The tile containing a point (standard slippy-map formula)."""
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    lr = np.radians(lat)
    y = int((1 - np.log(np.tan(lr) + 1 / np.cos(lr)) / np.pi) / 2 * n)
    return x, y
