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
        pick = np.nanargmax(np.where(np.isnan(nd), -np.inf, nd), axis=0)   # first of equal maxima
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


def main():
    fails = []
    with tempfile.TemporaryDirectory(prefix="eefetch-lib.") as tmp:
        run_each([s2_monthly_ndvi, s2_cloudfree_rgb, l9_greenest_ndvi], fails, tmp)
    return report(fails)


if __name__ == "__main__":
    sys.exit(main())
