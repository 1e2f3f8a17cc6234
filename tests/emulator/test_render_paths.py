"""Rendering shortcuts against reference.py: every pixel must be the one the
documented nearest-neighbour rule picks.

- Resampled grids in a band's own CRS (the 6.5 m W1 benchmark grid, finer
  and coarser scales, flipped and sheared grids, grids that leave the
  image): the renderer steps native coordinates along a row and reads one
  native span per row, so pixel centres that fall exactly on native pixel
  edges (4 m and 5 m on 10 m, 1/7200 degree on SRTM's 1/3600) are included.
- Nodes shared by several parents (a cloud mask used by every band, a band
  read twice, one load under a reproject and outside it) are computed once
  per row; results must not depend on it.

Expected values come from reference.py and numpy, never from the emulator.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
from emulib import c, call, expr, load, select, grid  # noqa: E402
import reference as ref  # noqa: E402

FAILS = []
S2 = ref.S2
PROJ = "/v1/projects/test-project"
SEG = [m for m in ref.collection(S2) if m["id"].endswith("T10SEG")]
IMG = SEG[0]["id"]


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)


def npy(emu, expression, g, band_ids=None):
    body = {"expression": expression, "fileFormat": "NPY", "grid": g}
    if band_ids:
        body["bandIds"] = band_ids
    status, _, data = emu.post(PROJ + "/image:computePixels", body)
    if status != 200:
        raise AssertionError("computePixels: %d %s" % (status, data[:300]))
    return emulib.decode_npy(data)


def expect_band(arr, name, want, mask, what):
    if name not in arr.dtype.names:
        check(False, "%s: band %s missing (have %s)" % (what, name, arr.dtype.names))
        return
    got = arr[name].astype(np.float64)
    exp = np.where(mask, want, 0)
    bad = got != exp
    first = tuple(np.argwhere(bad)[0]) if bad.any() else None
    check(not bad.any(), "%s: %d of %d pixels differ (first at %s: got %s want %s)" % (
        what, int(bad.sum()), bad.size, first, got[first] if first else None,
        exp[first] if first else None))


def test_resampled_grids(emu):
    a = ref.native_grid(IMG, "B4")["affine"]   # 10 m; B11 and SCL are 20 m
    x0, y0 = a[2], a[5]
    grids = {
        # W1's grid: 6.5 m from the tile's corner, first window and one
        # that starts left of and above the image
        "6.5 m": [6.5, 0, x0, 0, -6.5, y0],
        "6.5 m over the edge": [6.5, 0, x0 - 6.5 * 7, 0, -6.5, y0 + 6.5 * 3],
        # centres exactly on native edges: u = 0.4 i, v = 0.4 j
        "4 m on edges": [4, 0, x0 - 2, 0, -4, y0 + 2],
        # u = 0.5 i + 0.25 on B4, ties every other pixel on the 20 m bands
        "5 m": [5, 0, x0 + 50000 - 2.5, 0, -5, y0 - 40000 + 2.5],
        "20/3 m": [20 / 3, 0, x0 + 1234, 0, -20 / 3, y0 - 5678],
        "2.5 m": [2.5, 0, x0 + 30000, 0, -2.5, y0 - 30000],
        "25 m": [25, 0, x0 + 100, 0, -25, y0 - 100],
        # far wider native span than the row: read as runs
        "97 m": [97, 0, x0 - 970, 0, -97, y0 - 970],
        "flipped x": [-6.5, 0, x0 + 6.5 * 300, 0, -6.5, y0 - 1000],
        "north up flipped y": [6.5, 0, x0 + 2000, 0, 6.5, y0 - 3000],
        "sheared": [6.5, 1.3, x0 + 500, 0.7, -6.5, y0 - 500],
        "rotated on edges": [4, 2, x0 - 3, 2, -4, y0 + 1],
    }
    for name, aff in grids.items():
        w, h = 300, 24
        arr = npy(emu, expr(select(load(IMG), ["B4", "B11", "SCL"])),
                  grid("EPSG:32610", aff, w, h))
        for b in ("B4", "B11", "SCL"):
            want, mask = ref.sample(IMG, b, "EPSG:32610", aff, w, h)
            expect_band(arr, b, want, mask, "%s %s" % (name, b))
    # SRTM (1/3600 degree): 1/7200 puts half the centres on native edges
    for name, aff in (("srtm 1/7200", [1 / 7200, 0, -122.5, 0, -1 / 7200, 37.9]),
                      ("srtm 2.6/3600", [2.6 / 3600, 0, -122.51, 0, -2.6 / 3600, 37.83])):
        arr = npy(emu, expr(load(ref.SRTM)), grid("EPSG:4326", aff, 400, 12))
        want, mask = ref.sample(ref.SRTM, "elevation", "EPSG:4326", aff, 400, 12)
        expect_band(arr, "elevation", want, mask, name)


def _masked_median_expr(members, bands):
    """W2's shape: per image, bands masked by one SCL test shared by all."""
    images = {"arrayValue": {"values": [load(m["id"]) for m in members]}}
    coll = call("ImageCollection.fromImages", images=images)
    x = {"argumentReference": "img"}
    scl = select(x, ["SCL"])
    clear = call("Image.and", image1=call("Image.and", image1=call(
        "Image.neq", image1=scl, image2=call("Image.constant", value=c(8))), image2=call(
        "Image.neq", image1=scl, image2=call("Image.constant", value=c(9)))), image2=call(
        "Image.neq", image1=scl, image2=call("Image.constant", value=c(10))))
    body = call("Image.updateMask", image=select(x, bands), mask=clear)
    mapped = call("Collection.map", collection=coll, baseAlgorithm={
        "functionDefinitionValue": {"argumentNames": ["img"], "body": "1"}})
    return expr(call("reduce.median", collection=mapped), **{"1": body})


def test_shared_mask_median(emu):
    members = SEG[:5]
    bands = ["B2", "B4", "B8", "B11"]
    for name, aff in (("10 m", [10, 0, 520000, 0, -10, 4180000]),
                      ("6.5 m", [6.5, 0, 530003, 0, -6.5, 4170007])):
        w, h = 64, 48
        arr = npy(emu, _masked_median_expr(members, bands), grid("EPSG:32610", aff, w, h))
        scl = []
        for m in members:
            s, sm = ref.sample(m["id"], "SCL", "EPSG:32610", aff, w, h)
            scl.append(sm & (s != 8) & (s != 9) & (s != 10))
        for b in bands:
            stack = []
            for m, ok in zip(members, scl):
                v, mk = ref.sample(m["id"], b, "EPSG:32610", aff, w, h)
                stack.append(np.where(mk & ok, v, np.nan))
            stack = np.array(stack)
            valid = ~np.isnan(stack).all(axis=0)
            with np.errstate(all="ignore"):
                want = np.nan_to_num(np.nanmedian(stack, axis=0))
            # medians of integers are integers or halves: exact in float32
            expect_band(arr, b, want, valid, "masked median %s %s" % (name, b))
        check(valid.any(),
              "masked median %s: some pixels valid" % name)


def test_shared_nodes(emu):
    aff = [6.5, 0, 525000, 0, -6.5, 4175000]
    w, h = 80, 30
    g = grid("EPSG:32610", aff, w, h)
    b4 = select(load(IMG), ["B4"])
    b4_ref = {"valueReference": "1"}
    # one load node used twice by one expression and by two bands
    e = expr(call("Image.addBands", dstImg=call("Image.rename", input=call(
        "Image.multiply", image1=b4_ref, image2=b4_ref), names=c(["sq"])),
        srcImg=call("Image.rename", input=call("Image.subtract", image1=b4_ref,
                                               image2=call("Image.constant", value=c(100))),
                    names=c(["minus"]))), **{"1": b4})
    arr = npy(emu, e, g)
    want, mask = ref.sample(IMG, "B4", "EPSG:32610", aff, w, h)
    expect_band(arr, "sq", want * want, mask, "shared load squared")
    expect_band(arr, "minus", want - 100, mask, "shared load minus 100")
    # the same load inside a reproject (other points) and outside it
    r60 = call("Image.reproject", image=b4_ref, crs=call("Projection", crs=c("EPSG:32610")),
               scale=c(60))
    e = expr(call("Image.add", image1=b4_ref, image2=r60), **{"1": b4})
    arr = npy(emu, e, g)
    # the 60 m grid has its origin at 0, 0: each point takes the centre of
    # its 60 m cell, sampled as a one-pixel grid there
    jj, ii = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    x = aff[0] * ii + aff[2]
    y = aff[4] * jj + aff[5]
    cx = (np.floor(x / 60) + 0.5) * 60
    cy = (np.floor(y / -60) + 0.5) * -60
    r = np.zeros((h, w))
    rm = np.zeros((h, w), dtype=bool)
    for j in range(h):
        for i in range(w):
            v, mk = ref.sample(IMG, "B4", "EPSG:32610", [1, 0, cx[j, i] - 0.5, 0, -1,
                                                         cy[j, i] + 0.5], 1, 1)
            r[j, i], rm[j, i] = v[0, 0], mk[0, 0]
    expect_band(arr, "B4", want + r, mask & rm, "shared load inside and outside reproject")


def main():
    with emulib.Emulator() as emu:
        emulib.run_each([test_resampled_grids, test_shared_mask_median, test_shared_nodes], FAILS, emu)
    return emulib.report(FAILS)


if __name__ == "__main__":
    sys.exit(main())
