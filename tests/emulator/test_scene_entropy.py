"""The optical scenes compress like real imagery and look like a landscape.

docs/emulator.md ("Texture and relief", "Sensor noise", "Surface class"):
served Sentinel-2 pixels equal reference.py, four 10 m bands of a 1024 x
1024 window compress with ZSTD level 9 (predictor 2) to 30-60 % of their raw
size (real reflectance: a third to a half; the scenes without texture took
1.5 %), the sensor noise differs between dates, land cover is spatially
correlated (a bare field's neighbours are bare more often than fields on
average), vegetation keeps a high NDVI, shadows are dark and SCL marks every
cloud and shadow pixel.
"""

import os
import sys

import numpy as np
from osgeo import gdal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
import reference as ref  # noqa: E402

gdal.UseExceptions()
FAILS = []
TILE = "T10SEG"
BANDS = ["B2", "B3", "B4", "B8"]
UL = (499960, 4200000)


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, flush=True)


def s2_id(date):
    return "%s/%sT183751_%sT183750_%s" % (ref.S2, date, date, TILE)


def get_pixels(emu, image_id, bands, col0, row0, w, h, scale=10):
    """Bands of a window of the tile's 10 m grid (scale: pixel size in m)."""
    body = {"fileFormat": "NPY", "bandIds": bands,
            "grid": emulib.grid("EPSG:32610", [scale, 0, UL[0] + col0 * scale, 0, -scale,
                                               UL[1] - row0 * scale], w, h)}
    status, _, data = emu.post("/v1alpha/projects/p/assets/%s:getPixels" % image_id, body)
    if status != 200:
        raise AssertionError("getPixels %s: %d %s" % (image_id, status, data[:300]))
    a = emulib.decode_npy(data)
    return {b: a[b].astype(np.int64) for b in bands}


def zstd_ratio(arrays):
    """Size of a tiled uint16 GeoTIFF (ZSTD 9, predictor 2) / raw size."""
    h, w = arrays[0].shape
    path = "/vsimem/entropy.tif"
    ds = gdal.GetDriverByName("GTiff").Create(
        path, w, h, len(arrays), gdal.GDT_UInt16,
        ["COMPRESS=ZSTD", "PREDICTOR=2", "ZSTD_LEVEL=9", "TILED=YES"])
    for i, a in enumerate(arrays):
        ds.GetRasterBand(i + 1).WriteArray(a.astype(np.uint16))
    ds = None
    size = gdal.VSIStatL(path).size
    gdal.Unlink(path)
    return size / (h * w * 2 * len(arrays))


def test_compression(emu):
    """The reference's pixels, compressed, take a realistic share of raw."""
    for date in ("20230105", "20230430"):
        iid = s2_id(date)
        px = get_pixels(emu, iid, BANDS, 2000, 3000, 1024, 1024)
        for b in BANDS:
            rv, _ = ref.native_pixels(iid, b, 2000, 3000, 1024, 1024)
            check(np.array_equal(px[b], rv.astype(np.int64)), "%s %s differs from reference.py"
                  % (iid, b))
        r = zstd_ratio([px[b] for b in BANDS])
        print("%s: ZSTD-9 %.1f %% of raw" % (iid, 100 * r))
        check(0.30 <= r <= 0.60, "%s compresses to %.1f %% of raw, not 30-60 %%" % (iid, 100 * r))


def test_noise_per_date(emu):
    """Two clear dates of the same ground differ by the sensor noise alone."""
    clear = [m["id"] for m in ref.collection(ref.S2)
             if TILE in m["id"] and m["properties"]["CLOUDY_PIXEL_PERCENTAGE"] == 0]
    a, b = clear[0], clear[1]
    pa = get_pixels(emu, a, ["B2", "SCL"], 500, 500, 256, 256)
    pb = get_pixels(emu, b, ["B2", "SCL"], 500, 500, 256, 256)
    same = (pa["SCL"] == pb["SCL"])
    d = (pa["B2"] - pb["B2"])[same]
    # B2 has no seasonal term: the same cell differs only by the noise (0..7).
    check(np.abs(d).max() <= 7, "%s vs %s: B2 differs by more than the noise" % (a, b))
    check(len(np.unique(d)) >= 10, "%s vs %s: B2 noise does not vary (%s)" % (a, b, np.unique(d)))


def test_landscape(emu):
    """Correlated land cover, vegetation NDVI, dark shadows, SCL agreement."""
    # Field classes of a 120 x 120 field block (64 cells each), from the
    # reference's classes of each field's centre cell.
    img = ref._image(s2_id("20230105"))
    py, px = np.meshgrid(np.arange(120), np.arange(120), indexing="ij")
    gx0, gy0 = ref.lattice_cells(img["ulx"], img["uly"], 10, 0, 0)
    _, surf, _ = ref.scene_classes(img["zone"], img["day"], (gx0 // 64 + px) * 64 + 40,
                                   (gy0 // 64 + py) * 64 + 40)
    bare = surf == 5
    share = bare.mean()
    nb = np.concatenate([bare[:, 1:][bare[:, :-1]], bare[1:, :][bare[:-1, :]]]).mean()
    check(0.1 < share < 0.6, "bare fields %.2f of all" % share)
    check(nb > share + 0.15, "a bare field's neighbours are bare %.2f, all fields %.2f: "
          "land cover is not correlated" % (nb, share))

    # July: vegetation is green; the cloudy date has shadows darker than the ground.
    july = [m["id"] for m in ref.collection(ref.S2)
            if TILE in m["id"] and "202307" in m["id"]]
    px_ = get_pixels(emu, july[0], ["B4", "B8"], 0, 0, 1024, 1024)
    cls, _ = ref.native_pixels(july[0], "SCL", 0, 0, 512, 512)
    veg = np.repeat(np.repeat(cls == 4, 2, axis=0), 2, axis=1)  # 20 m SCL on the 10 m grid
    nir, red = px_["B8"].astype(float), px_["B4"].astype(float)
    ndvi = (nir - red) / (nir + red)
    check(veg.any() and np.median(ndvi[veg]) > 0.6,
          "NDVI of vegetation in July: median %.2f" % np.median(ndvi[veg]))

    iid = s2_id("20230430")
    p = get_pixels(emu, iid, ["B5", "SCL"], 0, 0, 2745, 2745, scale=20)
    scl, b5 = p["SCL"], p["B5"]
    shadow, clear = scl == 3, np.isin(scl, [4, 5])
    cloud = np.isin(scl, [8, 9])
    check(shadow.any() and cloud.any(), "%s has clouds and shadows" % iid)
    if shadow.any():
        check(np.median(b5[shadow]) < 0.6 * np.median(b5[clear]), "shadows are dark")
    if cloud.any():
        check(np.median(b5[cloud]) > 2 * np.median(b5[clear]), "clouds are bright")
    rs, _ = ref.native_pixels(iid, "SCL", 0, 0, 2745, 2745)
    check(np.array_equal(scl, rs.astype(np.int64)), "SCL differs from reference.py")


def main():
    with emulib.Emulator("--no-auth") as emu:
        emulib.run_each([test_compression, test_noise_per_date, test_landscape], FAILS, emu)
    return emulib.report(FAILS)


if __name__ == "__main__":
    sys.exit(main())
