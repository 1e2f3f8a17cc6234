"""Independent reference for the emulator's reducers (docs/emulator.md,
"Reducers and regions"), built on reference.py's model of the catalog.

    import ref_reduce as rr
    vals, mask = rr.stack(ids, "B4", crs, affine, w, h)   # [n, h, w] float64, bool
    rr.composite("percentile", vals, mask, 10)            # (values, valid)
    grid = rr.cover(crs, base_affine, ring)               # a grid covering a polygon
    inside = rr.inside(crs, affine, w, h, ring)           # pixel centres in the polygon
    rr.stat("stdDev", values)                             # one region statistic

numpy and osgeo only; nothing here is taken from the emulator's C code.
"""

import numpy as np
from osgeo import osr

import reference as ref

METERS_PER_DEGREE = 111319.49079327357


def _srs(crs):
    s = osr.SpatialReference()
    s.SetFromUserInput(crs)
    s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return s


def transform(src, dst, x, y):
    """Points (arrays) from CRS src to dst, traditional GIS axis order."""
    if src == dst:
        return np.asarray(x, float), np.asarray(y, float)
    ct = osr.CoordinateTransformation(_srs(src), _srs(dst))
    x = np.asarray(x, float)
    pts = np.array(ct.TransformPoints(np.column_stack([x.ravel(), np.asarray(y, float).ravel()])))
    return pts[:, 0].reshape(x.shape), pts[:, 1].reshape(x.shape)


def centres(affine, w, h):
    """Pixel-centre coordinates [h, w] of a grid."""
    jj, ii = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    a = affine
    return a[0] * ii + a[1] * jj + a[2], a[3] * ii + a[4] * jj + a[5]


def in_ring(lon, lat, ring):
    """Even-odd point-in-polygon test of lon/lat arrays against one ring."""
    inside = np.zeros(np.shape(lon), dtype=bool)
    pts = list(ring)
    if pts[0] != pts[-1]:
        pts.append(pts[0])
    for (x1, y1), (x2, y2) in zip(pts[:-1], pts[1:]):
        crosses = (y1 > lat) != (y2 > lat)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = (x2 - x1) * (lat - y1) / (y2 - y1) + x1
        inside ^= crosses & (lon < xc)
    return inside


def inside(crs, affine, w, h, ring):
    """Which pixel centres of the grid fall inside the lon/lat polygon."""
    x, y = centres(affine, w, h)
    lon, lat = transform(crs, "EPSG:4326", x, y)
    return in_ring(lon, lat, ring)


def shares(crs, affine, w, h, ring):
    """The share of each pixel the polygon covers, as docs/emulator.md
    defines it: the fraction of the 16 x 16 sub-pixel centres inside. Only
    pixels near the boundary (the centre test changes within two pixels, or
    a vertex is in the pixel) are divided; the others are all in or out."""
    ins = inside(crs, affine, w, h, ring)
    near = np.zeros_like(ins)
    pad = np.pad(ins, 2, mode="edge")
    for dj in range(-2, 3):
        for di in range(-2, 3):
            near |= pad[2 + dj:2 + dj + h, 2 + di:2 + di + w] != ins
    vx, vy = transform("EPSG:4326", crs, [p[0] for p in ring], [p[1] for p in ring])
    a = affine
    for x, y in zip(vx, vy):
        c, r = int(np.floor((x - a[2]) / a[0])), int(np.floor((y - a[5]) / a[4]))
        if 0 <= c < w and 0 <= r < h:
            near[r, c] = True
    share = ins.astype(np.float64)
    rr_, cc = np.nonzero(near)
    if rr_.size:
        sub = (np.arange(16) + 0.5) / 16
        su, sv = np.meshgrid(sub, sub)
        u = cc[:, None] + su.ravel()[None, :]
        v = rr_[:, None] + sv.ravel()[None, :]
        x = a[0] * u + a[1] * v + a[2]
        y = a[3] * u + a[4] * v + a[5]
        lon, lat = transform(crs, "EPSG:4326", x, y)
        share[rr_, cc] = in_ring(lon, lat, ring).sum(axis=1) / 256.0
    return share


def wstat(op, v, wt):
    """A statistic weighted by wt (pixels with wt > 0): mean, sum, variance,
    stdDev (None where EE answers null)."""
    v = np.asarray(v, dtype=np.float64)
    wt = np.asarray(wt, dtype=np.float64)
    if op == "sum":
        return float((v * wt).sum())
    if wt.sum() == 0:
        return None
    m = (v * wt).sum() / wt.sum()
    if op == "mean":
        return float(m)
    var = (wt * (v - m) ** 2).sum() / wt.sum()
    return float(var if op == "variance" else np.sqrt(var))


def cover(crs, base, ring, margin=2):
    """A grid of the north-up transform `base` covering the polygon, with a
    margin of pixels: (affine, w, h). Pixels outside the polygon do not
    change a region statistic, so the exact extent is not needed."""
    lon = np.array([p[0] for p in ring])
    lat = np.array([p[1] for p in ring])
    t = np.linspace(0, 1, 50)
    elon = np.concatenate([lon[i] + t * (lon[(i + 1) % len(lon)] - lon[i]) for i in range(len(lon))])
    elat = np.concatenate([lat[i] + t * (lat[(i + 1) % len(lat)] - lat[i]) for i in range(len(lat))])
    x, y = transform("EPSG:4326", crs, elon, elat)
    u = (x - base[2]) / base[0]
    v = (y - base[5]) / base[4]
    c0, c1 = int(np.floor(u.min())) - margin, int(np.ceil(u.max())) + margin
    r0, r1 = int(np.floor(v.min())) - margin, int(np.ceil(v.max())) + margin
    aff = [base[0], 0, base[2] + c0 * base[0], 0, base[4], base[5] + r0 * base[4]]
    return aff, c1 - c0, r1 - r0


def scale_affine(crs, scale):
    """The working transform of `scale` metres: origin 0, north up; degrees
    at the equator for EPSG:4326."""
    s = scale / METERS_PER_DEGREE if crs == "EPSG:4326" else scale
    return [s, 0, 0, 0, -s, 0]


def stack(ids, band, crs, affine, w, h):
    vals, masks = [], []
    for i in ids:
        v, m = ref.sample(i, band, crs, affine, w, h)
        vals.append(v)
        masks.append(m)
    return np.array(vals), np.array(masks)


def composite(op, vals, mask, p=None):
    """Per-pixel reduction of a stack [n, h, w] where mask is True: (values,
    valid). Population variance; percentiles interpolate linearly."""
    x = np.where(mask, vals, np.nan)
    valid = mask.any(axis=0)
    cnt = mask.sum(axis=0)
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if op == "mean":
                out = np.nanmean(x, axis=0)
            elif op == "median":
                out = np.nanmedian(x, axis=0)
            elif op == "min":
                out = np.nanmin(x, axis=0)
            elif op == "max":
                out = np.nanmax(x, axis=0)
            elif op == "sum":
                out = np.nansum(x, axis=0)
            elif op == "count":
                out = cnt.astype(float)
            elif op == "variance":
                out = np.nanvar(x, axis=0)
            elif op == "stdDev":
                out = np.nanstd(x, axis=0)
            elif op == "percentile":
                out = np.nanpercentile(x, p, axis=0)
            elif op in ("sampleVariance", "sampleStdDev"):
                out = np.nanvar(x, axis=0, ddof=1)
                if op == "sampleStdDev":
                    out = np.sqrt(out)
                valid = cnt >= 2
            elif op == "mode":
                out = np.zeros(vals.shape[1:])
                for j, i in np.ndindex(*out.shape):
                    out[j, i] = _mode(vals[:, j, i][mask[:, j, i]]) if mask[:, j, i].any() else 0
            elif op == "first":
                idx = np.argmax(mask, axis=0)
                out = np.take_along_axis(vals, idx[None], axis=0)[0]
            elif op == "last":
                n = mask.shape[0]
                idx = n - 1 - np.argmax(mask[::-1], axis=0)
                out = np.take_along_axis(vals, idx[None], axis=0)[0]
            else:
                raise ValueError(op)
    return np.where(valid, np.nan_to_num(out), 0), valid


def _mode(v):
    """The most frequent value, the smallest of equally frequent ones."""
    u, n = np.unique(v, return_counts=True)
    return u[np.argmax(n)]


def quality_mosaic(vals, vmask, quality, qmask):
    """Per pixel the value of the member with the highest quality (the later
    member on ties); masked where no quality value is valid or the chosen
    member's value is masked."""
    n = vals.shape[0]
    best = np.full(vals.shape[1:], -1)
    bq = np.full(vals.shape[1:], -np.inf)
    for k in range(n):
        better = qmask[k] & (quality[k] >= bq)
        best = np.where(better, k, best)
        bq = np.where(better, quality[k], bq)
    pick = np.clip(best, 0, None)
    out = np.take_along_axis(vals, pick[None], axis=0)[0]
    ok = (best >= 0) & np.take_along_axis(vmask, pick[None], axis=0)[0]
    return np.where(ok, out, 0), ok


def stat(op, v, p=None):
    """A region statistic of the 1-D array v (None where EE answers null)."""
    v = np.asarray(v, dtype=np.float64)
    if op == "count":
        return int(v.size)
    if op == "sum":
        return float(v.sum())
    if op == "frequencyHistogram":
        u, n = np.unique(v, return_counts=True)
        return {"%.15g" % a: int(b) for a, b in zip(u, n)}
    if v.size < (2 if op.startswith("sample") else 1):
        return None
    return float({"mean": np.mean, "min": np.min, "max": np.max, "variance": np.var,
                  "stdDev": np.std, "median": np.median, "mode": _mode,
                  "sampleVariance": lambda a: np.var(a, ddof=1),
                  "sampleStdDev": lambda a: np.std(a, ddof=1),
                  "first": lambda a: a[0], "last": lambda a: a[-1],
                  "percentile": lambda a: np.percentile(a, p)}[op](v))
