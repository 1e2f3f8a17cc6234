"""The recipe library's example recipes, run against the emulator, with
their pixels computed here from tests/emulator/reference.py and the mask
bits and formulas docs/recipes.md gives (not from eefetch's code):

- recipes/s2_cloudfree_rgb.lua: Cloud Score+ (cs >= 0.6) masked Sentinel-2
  reflectance (DN x 0.0001), per-pixel median of B4, B3, B2;
- recipes/l9_greenest_ndvi.lua: Landsat 9 masked by QA_PIXEL & 31 and
  QA_RADSAT, scaled (DN x 0.0000275 - 0.2), the scene of highest NDVI per pixel;
- recipes/s2_monthly_ndvi.lua: SCL-masked (0, 1, 3, 8, 9, 10) S2 NDVI, the
  median of each month, one file per month.
Pixels no scene sees clear must be nodata."""
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulator"))
import recipe_check as rc  # noqa: E402
from emulib import report, run_each  # noqa: E402
from recipe_check import ref  # noqa: E402

BIN = os.environ["EEFETCH_BIN"]
RECIPES = os.path.join(os.environ["EEFETCH_SRC"], "recipes")
BBOX = (-121.90, 37.30, -121.85, 37.34)
JUN, JUL, AUG, SEP = 1685577600000, 1688169600000, 1690848000000, 1693526400000


def run(recipe, tmp, *sets):
    args = [BIN, "run", os.path.join(RECIPES, recipe), "--emulator", "--progress", "off",
            "--output-dir", tmp]
    for s in sets:
        args += ["--set", s]
    r = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=tmp)
    assert r.returncode == 0, "%s failed: %s%s" % (recipe, r.stdout, r.stderr)
    return r


def scenes(coll, start, end):
    return [m for m in ref.collection(coll) if start <= m["start_ms"] < end]


def nanmedian(stack):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)       # all-NaN: never clear
        return np.nanmedian(np.array(stack), axis=0)


def last_argmax(stack):
    """Index of the largest non-NaN value along axis 0, the later one on ties
    (the emulator's documented qualityMosaic rule)."""
    s = np.where(np.isnan(stack), -np.inf, stack)[::-1]
    return stack.shape[0] - 1 - np.argmax(s, axis=0)


def check_file(path, want_bands, names=None):
    data, nodata, gt, got_names = rc.read(path)
    h, w = data.shape[1:]
    keep = rc.inner(BBOX, gt, w, h, 32610)
    fails = []
    if names is not None and got_names != names:
        fails.append("%s: band names %r, want %r" % (os.path.basename(path), got_names, names))
    for i, want in enumerate(want_bands(gt, w, h)):
        fails += rc.compare(data[i], nodata, want, keep, "%s band %d" % (os.path.basename(path), i + 1))
    assert not fails, "; ".join(fails)
    print("ok %s: %d x %d pixels match the reference" % (os.path.basename(path), w, h))


def s2_cloudfree_rgb(tmp):
    out = os.path.join(tmp, "rgb.tif")
    run("s2_cloudfree_rgb.lua", tmp, "out=" + out)

    def want(gt, w, h):
        aff = rc.ee_affine(gt)
        stacks = {b: [] for b in ("B4", "B3", "B2")}
        masked_somewhere = False
        for m in scenes(ref.S2, JUN, SEP):
            cs_id = ref.CSP + "/" + m["id"].rsplit("/", 1)[1]
            cs, cm = ref.sample(cs_id, "cs", "EPSG:32610", aff, w, h)
            if not cm.any():
                continue                           # not over the region: filterBounds drops it
            clear = cm & (cs >= 0.6)
            masked_somewhere |= bool((cm & ~clear).any())
            for b in stacks:
                v, _ = ref.sample(m["id"], b, "EPSG:32610", aff, w, h)
                stacks[b].append(np.where(clear, v * 0.0001, np.nan))
        assert masked_somewhere, "no scene has a masked pixel: the mask is not tested"
        return [nanmedian(stacks[b]) for b in ("B4", "B3", "B2")]

    check_file(out, want, ["B4", "B3", "B2"])


def l9_greenest_ndvi(tmp):
    out = os.path.join(tmp, "greenest.tif")
    run("l9_greenest_ndvi.lua", tmp, "out=" + out)

    def want(gt, w, h):
        aff = rc.ee_affine(gt)
        ndvis, bands = [], {b: [] for b in ("SR_B4", "SR_B3", "SR_B2")}
        for m in scenes(ref.L9, JUN, SEP):
            qa, qm = ref.sample(m["id"], "QA_PIXEL", "EPSG:32610", aff, w, h)
            if not qm.any():
                continue
            sat, _ = ref.sample(m["id"], "QA_RADSAT", "EPSG:32610", aff, w, h)
            clear = qm & ((qa.astype(np.int64) & 31) == 0) & (sat == 0)
            sr = {}
            for b in ("SR_B5", "SR_B4", "SR_B3", "SR_B2"):
                v, _ = ref.sample(m["id"], b, "EPSG:32610", aff, w, h)
                sr[b] = v * 0.0000275 + -0.2
            with np.errstate(all="ignore"):
                nd = (sr["SR_B5"] - sr["SR_B4"]) / (sr["SR_B5"] + sr["SR_B4"])
            ndvis.append(np.where(clear, nd, np.nan))
            for b in bands:
                bands[b].append(np.where(clear, sr[b], np.nan))
        nd = np.array(ndvis)
        none = np.all(np.isnan(nd), axis=0)
        pick = last_argmax(nd)
        rows, cols = np.indices(pick.shape)
        out = [np.where(none, np.nan, nd[pick, rows, cols])]
        for b in ("SR_B4", "SR_B3", "SR_B2"):
            out.append(np.where(none, np.nan, np.array(bands[b])[pick, rows, cols]))
        return out

    check_file(out, want, ["NDVI", "SR_B4", "SR_B3", "SR_B2"])


def s2_monthly_ndvi(tmp):
    run("s2_monthly_ndvi.lua", tmp, "dir=" + tmp)
    masked = [0, 1, 3, 8, 9, 10]
    for label, start, end in (("2023-06", JUN, JUL), ("2023-07", JUL, AUG), ("2023-08", AUG, SEP)):
        def want(gt, w, h, start=start, end=end):
            aff = rc.ee_affine(gt)
            stack = []
            for m in scenes(ref.S2, start, end):
                scl, sm = ref.sample(m["id"], "SCL", "EPSG:32610", aff, w, h)
                if not sm.any():
                    continue
                b8, _ = ref.sample(m["id"], "B8", "EPSG:32610", aff, w, h)
                b4, _ = ref.sample(m["id"], "B4", "EPSG:32610", aff, w, h)
                clear = sm & ~np.isin(scl, masked)
                with np.errstate(all="ignore"):
                    stack.append(np.where(clear, (b8 - b4) / (b8 + b4), np.nan))
            return [nanmedian(stack)]
        check_file(os.path.join(tmp, "ndvi_%s.tif" % label), want)


FUNCTIONS = """
local region = geo.bbox(-121.90, 37.30, -121.885, 37.312)
local grid = { crs = "EPSG:32610", crs_transform = { 30, 0, 15, 0, -30, 15 } }
local l9 = ee.ImageCollection("LANDSAT/LC09/C02/T1_L2"):filterDate("2023-06-01", "2023-10-01")
  :filterBounds(region):map(function(img) return lib.scale.landsat_l2(lib.mask.landsat_l2(img)) end)
local function get(name, image)
  download{ image = image, region = region, crs = grid.crs, crs_transform = grid.crs_transform,
            dtype = "float32", output = name .. ".tif" }
end
get("medoid", lib.composite.medoid(l9, { "SR_B4", "SR_B5" }):select({ "SR_B4", "SR_B5" }))
get("first_valid", lib.composite.first_valid(l9):select({ "SR_B4" }))
local one = ee.Image("LANDSAT/LC09/C02/T1_L2/LC09_044034_20230616")
get("evi", lib.index.evi(lib.scale.landsat_l2(one), "landsat89"))
get("savi", lib.index.savi(lib.scale.landsat_l2(one), "landsat89"))
"""


def library_functions(tmp):
    """medoid, first_valid, EVI and SAVI on a small Landsat 9 region."""
    with open(os.path.join(tmp, "functions.lua"), "w") as f:
        f.write(FUNCTIONS)
    r = subprocess.run([BIN, "run", os.path.join(tmp, "functions.lua"), "--emulator", "--progress", "off"],
                       capture_output=True, text=True, timeout=900, cwd=tmp)
    assert r.returncode == 0, "functions.lua failed: " + r.stdout + r.stderr
    bbox = (-121.90, 37.30, -121.885, 37.312)
    _, _, gt, _ = rc.read(os.path.join(tmp, "medoid.tif"))

    def scaled(iid, aff, w, h, bands):
        qa, qm = ref.sample(iid, "QA_PIXEL", "EPSG:32610", aff, w, h)
        sat, _ = ref.sample(iid, "QA_RADSAT", "EPSG:32610", aff, w, h)
        clear = qm & ((qa.astype(np.int64) & 31) == 0) & (sat == 0)
        return clear, {b: ref.sample(iid, b, "EPSG:32610", aff, w, h)[0] * 0.0000275 + -0.2 for b in bands}

    def stack(gt, w, h):
        aff = rc.ee_affine(gt)
        out = []
        for m in scenes(ref.L9, JUN, 1696118400000):          # 2023-06-01 .. 2023-10-01
            clear, sr = scaled(m["id"], aff, w, h, ("SR_B4", "SR_B5"))
            if ref.sample(m["id"], "QA_PIXEL", "EPSG:32610", aff, w, h)[1].any():
                out.append({b: np.where(clear, v, np.nan) for b, v in sr.items()})
        return out

    def medoid(gt, w, h):
        st = stack(gt, w, h)
        b4 = np.array([s["SR_B4"] for s in st])
        b5 = np.array([s["SR_B5"] for s in st])
        score = -((b4 - nanmedian(b4)) ** 2 + (b5 - nanmedian(b5)) ** 2)
        pick = last_argmax(score)
        none = np.all(np.isnan(score), axis=0)
        rows, cols = np.indices(pick.shape)
        return [np.where(none, np.nan, b[pick, rows, cols]) for b in (b4, b5)]

    def first_valid(gt, w, h):
        b4 = np.array([s["SR_B4"] for s in stack(gt, w, h)])
        first = np.argmax(~np.isnan(b4), axis=0)
        rows, cols = np.indices(first.shape)
        return [b4[first, rows, cols]]

    def index(kind):
        def want(gt, w, h):
            aff = rc.ee_affine(gt)
            _, sr = scaled("LANDSAT/LC09/C02/T1_L2/LC09_044034_20230616", aff, w, h,
                           ("SR_B2", "SR_B4", "SR_B5"))
            nir, red, blue = sr["SR_B5"], sr["SR_B4"], sr["SR_B2"]
            if kind == "evi":
                return [2.5 * ((nir - red) / (nir + 6 * red - 7.5 * blue + 1))]
            return [(nir - red) / (nir + red + 0.5) * 1.5]
        return want

    fails = []
    for name, want in (("medoid", medoid), ("first_valid", first_valid), ("evi", index("evi")),
                       ("savi", index("savi"))):
        data, nodata, g, _ = rc.read(os.path.join(tmp, name + ".tif"))
        h, w = data.shape[1:]
        keep = rc.inner(bbox, g, w, h, 32610, margin_px=1)
        for i, wb in enumerate(want(g, w, h)):
            fails += rc.compare(data[i], nodata, wb, keep, "%s band %d" % (name, i + 1), atol=2e-6)
    assert not fails, "; ".join(fails)
    print("ok medoid, first_valid, EVI, SAVI match the reference")


def main():
    fails = []
    with tempfile.TemporaryDirectory(prefix="eefetch-lib.") as tmp:
        run_each([s2_monthly_ndvi, s2_cloudfree_rgb, l9_greenest_ndvi, library_functions], fails, tmp)
    return report(fails)


if __name__ == "__main__":
    sys.exit(main())
