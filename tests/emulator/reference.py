"""Independent reference for the emulator's synthetic catalog.

A numpy implementation of docs/emulator.md ("Catalog" and "Pixel formulas"),
written from that text, so tests can check served pixels against something
other than the C code that produced them.

    import reference as ref
    ref.catalog_ids()
    ref.collection("COPERNICUS/S2_SR_HARMONIZED")       # [{id, start_ms, properties}]
    ref.native_grid(image_id, "B4")                     # {crs, affine (EE order), width, height}
    ref.native_pixels(image_id, "B4", col0, row0, w, h) # (float64 [h, w], bool mask)
    ref.sample(image_id, "B4", "EPSG:4326", affine, w, h)
    ref.cloud_percent(image_id)

Local GeoTIFF assets can be mirrored with ref.add_local(asset_id, path).
Needs numpy; sample() and add_local() also need osgeo (Debian's python3-gdal).
"""

import datetime
import functools
import os
import re

import numpy as np

SRTM = "USGS/SRTMGL1_003"
S2 = "COPERNICUS/S2_SR_HARMONIZED"
L9 = "LANDSAT/LC09/C02/T1_L2"
CSP = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"

_M64 = (1 << 64) - 1
_EPOCH_DAY_2023 = 19358  # 2023-01-01 in days since 1970-01-01

# ---------------------------------------------------------------- the hash H


def hash3(a, b, c):
    """H(a, b, c) of the doc, elementwise over integer arrays (uint64 result)."""
    a = np.atleast_1d(np.asarray(a, dtype=np.int64)).astype(np.uint64)
    b = np.atleast_1d(np.asarray(b, dtype=np.int64)).astype(np.uint64)
    c = np.atleast_1d(np.asarray(c, dtype=np.int64)).astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (a * np.uint64(0x9E3779B97F4A7C15) + b * np.uint64(0xC2B2AE3D27D4EB4F)
             + c * np.uint64(0x165667B19E3779F9))
        x ^= x >> np.uint64(32)
        x = x * np.uint64(0xD6E8FEB86659FD93)
        x ^= x >> np.uint64(29)
    return x


def hash3_int(a, b, c):
    """The same hash on Python integers (a second, scalar implementation)."""
    x = (a * 0x9E3779B97F4A7C15 + b * 0xC2B2AE3D27D4EB4F + c * 0x165667B19E3779F9) & _M64
    x ^= x >> 32
    x = (x * 0xD6E8FEB86659FD93) & _M64
    x ^= x >> 29
    return x

# ---------------------------------------------------------------- catalog tables


S2_TILES = [
    # tile, zone, ulx, uly, tod seconds, orbit
    ("10SEG", 10, 499960, 4200000, 18 * 3600 + 37 * 60 + 51, 70),
    ("10SFG", 10, 599960, 4200000, 18 * 3600 + 37 * 60 + 51, 70),
    ("32TQM", 32, 699960, 4700000, 10 * 3600 + 5 * 60 + 59, 22),
    ("33UUP", 33, 299960, 5400000, 10 * 3600 + 10 * 60 + 29, 22),
]
S2_BANDS = [("B1", 60), ("B2", 10), ("B3", 10), ("B4", 10), ("B5", 20), ("B6", 20),
            ("B7", 20), ("B8", 10), ("B8A", 20), ("B9", 60), ("B11", 20), ("B12", 20)]
SLOTS = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]

L9_SCENES = [
    # path, row, zone, ulx, uly, width, height, first day, tod seconds
    (44, 33, 10, 497385, 4424415, 7631, 7761, 6, 18 * 3600 + 45 * 60 + 48),
    (44, 34, 10, 458985, 4264515, 7621, 7751, 6, 18 * 3600 + 46 * 60 + 12),
    (191, 26, 33, 524085, 5473515, 7711, 7821, 2, 9 * 3600 + 48 * 60 + 33),
]
L9_SLOT = {"SR_B1": "B1", "SR_B2": "B2", "SR_B3": "B3", "SR_B4": "B4", "SR_B5": "B8A",
           "SR_B6": "B11", "SR_B7": "B12"}

VEG = [250, 300, 500, 350, 900, 1700, 1900, 2000, 2100, 2300, 1600, 800]
SEASON = [0, 0, 100, 0, 200, 600, 800, 900, 900, 700, 0, 0]
BARE = [900, 1200, 1500, 1800, 2000, 2200, 2300, 2400, 2500, 2500, 3000, 2600]
WATER = [400, 500, 600, 400, 300, 200, 150, 150, 120, 100, 60, 40]
CLOUD = [7200, 7050, 6900, 6750, 6600, 6450, 6300, 6150, 6000, 5850, 5700, 5550]
QA = {3: 23824, 4: 21824, 5: 21824, 6: 21952, 8: 22024, 9: 22280, 10: 54532}
# Class-valued bands (docs/emulator.md, "Quality and score bands"), by class.
ST_BASE = {3: 42000, 4: 43000, 5: 46000, 6: 41000, 8: 38000, 9: 33000, 10: 40000}
CS_BASE = {3: 200, 4: 800, 5: 800, 6: 800, 8: 300, 9: 50, 10: 450}
CSCDF_BASE = {3: 150, 4: 850, 5: 850, 6: 850, 8: 250, 9: 20, 10: 500}
SHADOW_DX, SHADOW_DY = 40, 24

_LOCAL = {}


def _date(day):
    return datetime.date(2023, 1, 1) + datetime.timedelta(days=day)


def _hms(sec):
    return "%02d%02d%02d" % (sec // 3600, sec // 60 % 60, sec % 60)


def _start_ms(day, tod):
    return (_EPOCH_DAY_2023 + day) * 86400000 + tod * 1000


@functools.lru_cache(maxsize=None)
def _images():
    """id -> description dict for every synthetic image."""
    out = {}
    out[SRTM] = dict(kind="srtm", id=SRTM, start_ms=950227200000, coll=None,
                     properties={"system:index": "SRTMGL1_003",
                                 "system:time_start": 950227200000,
                                 "system:time_end": 951177600000})
    for tile, zone, ulx, uly, tod, orbit in S2_TILES:
        for k in range(73):
            day = 4 + 5 * k
            d = _date(day).strftime("%Y%m%d")
            index = "%sT%s_%sT%s_T%s" % (d, _hms(tod), d, _hms(tod - 1), tile)
            ms = _start_ms(day, tod)
            out[S2 + "/" + index] = dict(
                kind="s2", id=S2 + "/" + index, coll=S2, zone=zone, day=day, ulx=ulx, uly=uly,
                start_ms=ms, k=k,
                properties={"system:index": index, "system:time_start": ms,
                            "system:time_end": ms, "MGRS_TILE": tile,
                            "SPACECRAFT_NAME": "Sentinel-2B" if k % 2 else "Sentinel-2A",
                            "SENSING_ORBIT_NUMBER": orbit,
                            "SENSING_ORBIT_DIRECTION": "DESCENDING",
                            "PROCESSING_BASELINE": "05.09"})
            out[CSP + "/" + index] = dict(
                kind="csp", id=CSP + "/" + index, coll=CSP, zone=zone, day=day, ulx=ulx, uly=uly,
                start_ms=ms, k=k,
                properties={"system:index": index, "system:time_start": ms, "system:time_end": ms})
    for path, row, zone, ulx, uly, w, h, first, tod in L9_SCENES:
        for day in range(first, 365, 16):
            pr = "%03d%03d" % (path, row)
            index = "LC09_%s_%s" % (pr, _date(day).strftime("%Y%m%d"))
            ms = _start_ms(day, tod)
            out[L9 + "/" + index] = dict(
                kind="l9", id=L9 + "/" + index, coll=L9, zone=zone, day=day, ulx=ulx, uly=uly,
                width=w, height=h, start_ms=ms,
                properties={"system:index": index, "system:time_start": ms,
                            "system:time_end": ms, "WRS_PATH": path, "WRS_ROW": row,
                            "SPACECRAFT_ID": "LANDSAT_9", "SENSOR_ID": "OLI_TIRS",
                            "COLLECTION_CATEGORY": "T1",
                            "DATE_ACQUIRED": _date(day).isoformat(),
                            "LANDSAT_PRODUCT_ID": "LC09_L2SP_%s_%s_%s_02_T1" % (
                                pr, _date(day).strftime("%Y%m%d"),
                                _date(day + 2).strftime("%Y%m%d"))})
    return out


def _short(image_id):
    m = re.match(r"^projects/[^/]+/assets/(.*)$", image_id)
    if image_id in _LOCAL or image_id in _images() or not m:
        return image_id
    return m.group(1)


def _image(image_id):
    sid = _short(image_id)
    if sid in _LOCAL:
        return _LOCAL[sid]
    try:
        return _images()[sid]
    except KeyError:
        raise KeyError("no such image: %s" % image_id) from None


def catalog_ids():
    """Standalone image ids and collection ids."""
    return [SRTM, S2, L9, CSP] + sorted(_LOCAL)


def image_ids():
    """Every image id (collection members included)."""
    return sorted(_images())


def collection(coll_id):
    """Members of a collection as [{id, start_ms, properties}] sorted by time, then id."""
    cid = _short(coll_id)
    if cid not in (S2, L9, CSP):
        raise KeyError("no such collection: %s" % coll_id)
    imgs = [i for i in _images().values() if i["coll"] == cid]
    imgs.sort(key=lambda i: (i["start_ms"], i["id"]))
    return [dict(id=i["id"], start_ms=i["start_ms"], properties=properties(i["id"]))
            for i in imgs]


def properties(image_id):
    """Properties including the cloud percentages."""
    img = _image(image_id)
    props = dict(img["properties"])
    if img["kind"] == "s2":
        pct = cloud_percent(image_id)
        props["CLOUDY_PIXEL_PERCENTAGE"] = pct
        props["CLOUD_COVERAGE_ASSESSMENT"] = pct
    elif img["kind"] == "l9":
        pct = cloud_percent(image_id)
        props["CLOUD_COVER"] = pct
        props["CLOUD_COVER_LAND"] = pct
    return props


def band_names(image_id):
    img = _image(image_id)
    if img["kind"] == "srtm":
        return ["elevation"]
    if img["kind"] == "s2":
        return [b for b, _ in S2_BANDS] + ["SCL", "QA60"]
    if img["kind"] == "l9":
        return ["SR_B%d" % i for i in range(1, 8)] + ["ST_B10", "QA_PIXEL", "QA_RADSAT"]
    if img["kind"] == "csp":
        return ["cs", "cs_cdf"]
    return [b["id"] for b in img["bands"]]


def band_type(image_id, band):
    """numpy-style type name: 'int16', 'uint16', 'uint8', ..."""
    img = _image(image_id)
    if img["kind"] == "srtm":
        return "int16"
    if img["kind"] == "s2":
        return "uint8" if band == "SCL" else "uint16"
    if img["kind"] == "l9":
        return "uint16"
    if img["kind"] == "csp":
        return "float32"
    return _local_band(img, band)["type"]


def _scale(img, band):
    if img["kind"] == "l9":
        return 30
    if img["kind"] == "csp":
        return 10
    if band == "SCL":
        return 20
    if band == "QA60":
        return 60
    return dict(S2_BANDS)[band]


def native_grid(image_id, band):
    img = _image(image_id)
    if band not in band_names(image_id):
        raise KeyError("image %s has no band %s" % (image_id, band))
    if img["kind"] == "srtm":
        return dict(crs="EPSG:4326",
                    affine=[1 / 3600, 0, -180 - 0.5 / 3600, 0, -1 / 3600, 60 + 0.5 / 3600],
                    width=1296001, height=417601)
    if img["kind"] == "local":
        b = _local_band(img, band)
        return dict(crs=img["crs"], affine=list(img["affine"]), width=b["data"].shape[1],
                    height=b["data"].shape[0])
    s = _scale(img, band)
    if img["kind"] in ("s2", "csp"):
        w = h = 109800 // s
    else:
        w, h = img["width"], img["height"]
    return dict(crs="EPSG:%d" % (32600 + img["zone"]),
                affine=[s, 0, img["ulx"], 0, -s, img["uly"]], width=w, height=h)

# ---------------------------------------------------------------- formulas


def _tri(x, p):
    return np.abs((x & (p - 1)) - p // 2)


def srtm_elevation(c, r):
    """Elevation at native pixel indices (int64 arrays, inside the grid)."""
    c = np.asarray(c, dtype=np.int64)
    r = np.asarray(r, dtype=np.int64)
    base = ((_tri(c, 16384) >> 1) + (_tri(r + 3000, 8192) >> 1) + _tri(c + 2 * r, 2048)
            + (_tri(3 * c + r, 1024) >> 1) + (_tri(5 * c + 7 * r, 256) >> 2) - 3500)
    cone = 12400 - ((np.abs(c - 960930) + np.abs(r - 115243)) >> 2)
    return np.clip(base + np.maximum(cone, 0), 0, 8848)


def cloud_level(zone, day):
    l = hash3_int(zone, day, 7) % 10
    return 0 if l <= 3 else 1 if l <= 6 else 2 if l <= 8 else 3


def season(day):
    ph = (day + 351) % 365 - 182
    return 182 - abs(ph)


def lattice_cells(ulx, uly, s, c, r):
    """(gx, gy) lattice cells of pixel centres (c, r) of a grid with pixel size s."""
    c = np.asarray(c, dtype=np.int64)
    r = np.asarray(r, dtype=np.int64)
    gx = (2 * ulx + s * (2 * c + 1)) // 20
    gy = (2 * (10000000 - uly) + s * (2 * r + 1)) // 20
    return gx, gy


TEX_N = 1024      # the texture's period in lattice cells
NOISE_N = 4096    # the sensor noise table's length


def _octave_w(s):
    """W_s(u, v) of the doc on the TEX_N x TEX_N torus: int64 [v, u]."""
    S, n = 1 << s, TEX_N >> s
    jj, ii = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    g = (hash3(ii.ravel(), jj.ravel(), np.full(n * n, 100 + s)) & np.uint64(255))
    g = g.astype(np.int64).reshape(n, n)  # g[j, i] = H(i, j, 100 + s) & 255
    u = np.arange(TEX_N, dtype=np.int64)
    i, f = u >> s, u & (S - 1)
    i1 = (i + 1) % n
    fx, fy = f[None, :], f[:, None]
    return (g[i[:, None], i[None, :]] * (S - fx) * (S - fy)
            + g[i[:, None], i1[None, :]] * fx * (S - fy)
            + g[i1[:, None], i[None, :]] * (S - fx) * fy
            + g[i1[:, None], i1[None, :]] * fx * fy)


@functools.lru_cache(maxsize=None)
def texture():
    """(M [v, u] int64 TEX_N x TEX_N, NZ int64 [NOISE_N]): the texture with
    relief and the sensor noise table of docs/emulator.md."""
    e = (_octave_w(8) + 4 * _octave_w(6) + 16 * _octave_w(4)) >> 10
    # E(u - 1, v - 1) - E(u + 1, v + 1): light from the north-west.
    sh = np.roll(e, (1, 1), axis=(0, 1)) - np.roll(e, (-1, -1), axis=(0, 1))
    m = np.clip(960 + (_octave_w(2) >> 5) + sh, 256, 2047)
    nz = (hash3(np.arange(NOISE_N), 0, 9000) & np.uint64(7)).astype(np.int64)
    return m, nz


def region(zone, px, py):
    """R (0..255) of parcels (px, py): value noise on a lattice of 8 x 8 parcels."""
    i, j = px >> 3, py >> 3
    fx, fy = px & 7, py & 7
    zz = np.full(np.shape(px), zone + 2000)

    def g(a, b):
        return (hash3(a, b, zz).reshape(np.shape(px)) & np.uint64(255)).astype(np.int64)

    return (g(i, j) * (8 - fx) * (8 - fy) + g(i + 1, j) * fx * (8 - fy)
            + g(i, j + 1) * (8 - fx) * fy + g(i + 1, j + 1) * fx * fy) >> 6


def scene_classes(zone, day, gx, gy):
    """(class, surface class, parcel hash) arrays for lattice cells."""
    gx = np.asarray(gx, dtype=np.int64)
    gy = np.asarray(gy, dtype=np.int64)
    p = hash3(gx >> 6, gy >> 6, np.full(gx.shape, zone)).reshape(gx.shape)
    r = region(zone, gx >> 6, gy >> 6)
    lake = ((p & np.uint64(7)) == 0) & (r < 112)
    water = (((gx + gy) & 8191) < 96) | lake
    bare = ((p >> np.uint64(20)) & np.uint64(255)).astype(np.int64) < 3 * (r - 112)
    surface = np.where(water, 6, np.where(bare, 5, 4))
    level = cloud_level(zone, day)
    P = [0, 48, 128, 256][level]
    RB = [0, 64, 128, 300][level]
    cx = gx + 40 * day
    cy = gy + 16 * day
    h = hash3(cx >> 9, cy >> 9, np.full(gx.shape, zone + 1000)).reshape(gx.shape)
    dx = (cx & 511) - 256
    dy = (cy & 511) - 256
    d2 = dx * dx + dy * dy
    R = RB + ((h >> np.uint64(8)) & np.uint64(127)).astype(np.int64)
    cloud = ((h & np.uint64(255)).astype(np.int64) < P) & (d2 < R * R)
    cirrus = ((h >> np.uint64(16)) & np.uint64(7)) == 0
    # Shadow: the cell shifted back by the shadow offset is inside a blob
    # that is not cirrus.
    sx = cx - SHADOW_DX
    sy = cy - SHADOW_DY
    hs = hash3(sx >> 9, sy >> 9, np.full(gx.shape, zone + 1000)).reshape(gx.shape)
    sdx = (sx & 511) - 256
    sdy = (sy & 511) - 256
    RS = RB + ((hs >> np.uint64(8)) & np.uint64(127)).astype(np.int64)
    shadow = (((hs & np.uint64(255)).astype(np.int64) < P) & (sdx * sdx + sdy * sdy < RS * RS)
              & (((hs >> np.uint64(16)) & np.uint64(7)) != 0))
    cls = np.where(cloud, np.where(cirrus, 10, np.where(4 * d2 < R * R, 9, 8)),
                   np.where(shadow, 3, surface))
    return cls, surface, p


def reflectance(zone, day, slot, gx, gy):
    """Reflectance x 10000 of spectral slot name `slot` at lattice cells."""
    gx = np.asarray(gx, dtype=np.int64)
    gy = np.asarray(gy, dtype=np.int64)
    i = SLOTS.index(slot)
    cls, surface, p = scene_classes(zone, day, gx, gy)
    m_tab, nz_tab = texture()
    m = m_tab[gy & (TEX_N - 1), gx & (TEX_N - 1)]
    mc = m_tab[(gy + 16 * day) & (TEX_N - 1), (gx + 40 * day) & (TEX_N - 1)] >> 2
    off = (hash3(gy, np.full(gy.shape, day), np.full(gy.shape, 9100 + 16 * zone + i))
           .reshape(gy.shape) & np.uint64(NOISE_N - 1)).astype(np.int64)
    nz = nz_tab[(gx + off) & (NOISE_N - 1)]
    f = ((p >> np.uint64(8)) & np.uint64(255)).astype(np.int64)
    veg = VEG[i] + (SEASON[i] * season(day)) // 182 + f
    land = np.where(surface == 5, BARE[i] + f, veg)
    surf = np.where(surface == 6, WATER[i] + (m >> 6), (land * m) >> 10)
    v = np.where(cls == 9, CLOUD[i] + mc,
                 np.where(cls == 8, (surf + CLOUD[i] + mc) >> 1,
                          np.where(cls == 10, surf + 1500,
                                   np.where(cls == 3, surf >> 1, surf))))
    return v + nz, cls


def cloud_percent(image_id):
    """CLOUDY_PIXEL_PERCENTAGE (Sentinel-2) or CLOUD_COVER (Landsat)."""
    return _cloud_percent(_short(image_id))


@functools.lru_cache(maxsize=None)
def _cloud_percent(image_id):
    img = _image(image_id)
    if img["kind"] == "s2":
        idx = np.arange(30, 10980, 60)
        s, w, h = 10, 10980, 10980
    elif img["kind"] == "l9":
        s, w, h = 30, img["width"], img["height"]
        idx = None
    else:
        raise KeyError("%s has no cloud percentage" % image_id)
    cols = idx if idx is not None else np.arange(20, w, 40)
    rows = idx if idx is not None else np.arange(20, h, 40)
    cc, rr = np.meshgrid(cols, rows)
    gx, gy = lattice_cells(img["ulx"], img["uly"], s, cc, rr)
    cls, _, _ = scene_classes(img["zone"], img["day"], gx, gy)
    n = cls.size
    ncloud = int(np.count_nonzero(cls >= 8))
    return (ncloud * 10000 // n) / 100


def cloud_fraction(image_id):
    """Cloud share in [0, 1] (the percentage / 100)."""
    return cloud_percent(image_id) / 100


def _pixels_at(img, band, c, r):
    """Values at in-grid native pixel indices (int64 arrays of one shape)."""
    if img["kind"] == "srtm":
        return srtm_elevation(c, r).astype(np.float64)
    if img["kind"] == "local":
        return _local_band(img, band)["data"][r, c]
    s = _scale(img, band)
    gx, gy = lattice_cells(img["ulx"], img["uly"], s, c, r)
    zone, day = img["zone"], img["day"]
    if band == "SCL":
        return scene_classes(zone, day, gx, gy)[0].astype(np.float64)
    if band in ("QA_PIXEL", "QA60", "QA_RADSAT", "ST_B10", "cs", "cs_cdf"):
        cls = scene_classes(zone, day, gx, gy)[0]
        t = (13 * gx + 7 * gy) & 127
        out = np.zeros(cls.shape, dtype=np.float64)
        if band == "QA_PIXEL":
            for k, v in QA.items():
                out[cls == k] = v
        elif band == "QA60":
            out[(cls == 8) | (cls == 9)] = 1024
            out[cls == 10] = 2048
        elif band == "QA_RADSAT":
            out[(cls == 5) & (t >= 120)] = 1
        elif band == "ST_B10":
            for k, v in ST_BASE.items():
                out[cls == k] = v + 4 * t[cls == k]
        else:
            base = CS_BASE if band == "cs" else CSCDF_BASE
            for k, v in base.items():
                out[cls == k] = (v + t[cls == k]) / 1000.0
            out = out.astype(np.float32).astype(np.float64)
        return out
    if img["kind"] == "l9":
        v, _ = reflectance(zone, day, L9_SLOT[band], gx, gy)
        return (7273 + (v * 40) // 11).astype(np.float64)
    v, _ = reflectance(zone, day, band, gx, gy)
    return v.astype(np.float64)


def _values_masks(img, band, c, r, grid):
    inside = (c >= 0) & (c < grid["width"]) & (r >= 0) & (r < grid["height"])
    vals = np.zeros(c.shape, dtype=np.float64)
    mask = np.zeros(c.shape, dtype=bool)
    if inside.any():
        v = _pixels_at(img, band, c[inside], r[inside])
        vals[inside] = v
        if img["kind"] == "local":
            mask[inside] = _local_band(img, band)["mask"][r[inside], c[inside]]
            vals[~mask] = 0
        else:
            mask[inside] = True
    return vals, mask


def native_pixels(image_id, band, col0, row0, w, h):
    """(values float64 [h, w], mask bool [h, w]) of a native window; outside -> masked 0."""
    img = _image(image_id)
    grid = native_grid(image_id, band)
    r, c = np.meshgrid(np.arange(row0, row0 + h, dtype=np.int64),
                       np.arange(col0, col0 + w, dtype=np.int64), indexing="ij")
    return _values_masks(img, band, c, r, grid)


def sample(image_id, band, crs, affine, width, height):
    """Nearest-neighbour sampling on a request grid (EE affine order).

    Each output pixel centre is transformed (traditional GIS axis order) into
    the band's native CRS; the native pixel containing it gives the value.
    """
    from osgeo import osr

    img = _image(image_id)
    grid = native_grid(image_id, band)
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
    # Invert the native affine (no shear on synthetic grids; general 2x2 inverse).
    det = a[0] * a[4] - a[1] * a[3]
    dxv, dyv = x - a[2], y - a[5]
    u = (a[4] * dxv - a[1] * dyv) / det
    v = (-a[3] * dxv + a[0] * dyv) / det
    ok = np.isfinite(u) & np.isfinite(v)
    c = np.where(ok, np.floor(np.where(ok, u, 0)), -1).astype(np.int64)
    r = np.where(ok, np.floor(np.where(ok, v, 0)), -1).astype(np.int64)
    return _values_masks(img, band, c, r, grid)

# ---------------------------------------------------------------- local assets


def _local_band(img, band):
    for b in img["bands"]:
        if b["id"] == band:
            return b
    raise KeyError("image %s has no band %s" % (img["id"], band))


def add_local(asset_id, path):
    """Mirrors `--asset asset_id=path` (read with osgeo.gdal)."""
    from osgeo import gdal, osr

    ds = gdal.Open(path)
    gt = ds.GetGeoTransform()
    srs = osr.SpatialReference(wkt=ds.GetProjection())
    if srs.GetAuthorityName(None) != "EPSG":
        srs.AutoIdentifyEPSG()
    bands = []
    names = {gdal.GDT_Byte: "uint8", gdal.GDT_UInt16: "uint16", gdal.GDT_Int16: "int16",
             gdal.GDT_UInt32: "uint32", gdal.GDT_Int32: "int32", gdal.GDT_Float32: "float32",
             gdal.GDT_Float64: "float64"}
    for i in range(ds.RasterCount):
        b = ds.GetRasterBand(i + 1)
        data = b.ReadAsArray().astype(np.float64)
        mask = ~np.isnan(data)
        nd = b.GetNoDataValue()
        if nd is not None:
            mask &= data != nd
        data = np.where(mask, data, 0.0)
        t = names[b.DataType]
        if t == "uint8" and b.GetMetadataItem("PIXELTYPE", "IMAGE_STRUCTURE") == "SIGNEDBYTE":
            t = "int8"
        bands.append(dict(id=b.GetDescription() or "b%d" % (i + 1), type=t, data=data,
                          mask=mask))
    _LOCAL[asset_id] = dict(kind="local", id=asset_id, coll=None, start_ms=0, bands=bands,
                            version=os.stat(path).st_mtime_ns // 1000,
                            crs="EPSG:%s" % srs.GetAuthorityCode(None),
                            affine=[gt[1], gt[2], gt[0], gt[4], gt[5], gt[3]],
                            properties={"system:index": asset_id.rsplit("/", 1)[-1]})
