"""The C catalog against tests/emulator/reference.py (the documented formulas).

No HTTP server: the C side is the test_catalog program in its tool modes
("list" prints every image as JSON, "dump" serves native pixel windows).
Checks ids, times, properties (cloud percentages included), band grids and
many pixels of every band of several images exactly, edges included.
"""

import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL:", msg)


def tool_path():
    if os.environ.get("CATALOG_TOOL"):
        return os.environ["CATALOG_TOOL"]
    return os.path.join(os.environ.get("EEFETCH_BUILD", "build"), "tests", "emulator_test_catalog")


class Dumper:
    def __init__(self, *args):
        self.p = subprocess.Popen([tool_path()] + list(args), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)

    def window(self, image_id, band, col0, row0, w, h):
        self.p.stdin.write(("%s %s %d %d %d %d\n" % (image_id, band, col0, row0, w, h)).encode())
        self.p.stdin.flush()
        raw = self.p.stdout.read(w * h * 9)
        assert len(raw) == w * h * 9, "short read from the tool"
        vals = np.frombuffer(raw[:w * h * 8], dtype="<f8").reshape(h, w)
        mask = np.frombuffer(raw[w * h * 8:], dtype=np.uint8).reshape(h, w).astype(bool)
        return vals, mask

    def close(self):
        self.p.stdin.close()
        check(self.p.wait() == 0, "tool exit status (sanitizer reports fail it)")


def compare_window(d, image_id, band, col0, row0, w, h):
    cv, cm = d.window(image_id, band, col0, row0, w, h)
    rv, rm = ref.native_pixels(image_id, band, col0, row0, w, h)
    same_mask = np.array_equal(cm, rm)
    same_vals = np.array_equal(cv, rv)
    if not (same_mask and same_vals):
        bad = np.argwhere((cv != rv) | (cm != rm))
        j, i = bad[0]
        check(False, "%s %s window (%d,%d %dx%d): %d differing pixels, first at (%d,%d): C %r/%r ref %r/%r"
              % (image_id, band, col0, row0, w, h, len(bad), i, j, cv[j, i], cm[j, i], rv[j, i], rm[j, i]))
    return cv, cm


def check_listing():
    out = subprocess.run([tool_path(), "list"], check=True, capture_output=True, text=True).stdout
    images = {}
    for line in out.splitlines():
        o = json.loads(line)
        images[o["id"]] = o
    check(sorted(images) == ref.image_ids(), "image ids differ from the reference")
    for iid, o in images.items():
        props = ref.properties(iid)
        check(o["start_ms"] == ref._image(iid)["start_ms"], "%s start_ms" % iid)
        check(o["properties"] == props,
              "%s properties: C %s ref %s" % (iid, o["properties"], props))
        check([b["id"] for b in o["bands"]] == ref.band_names(iid), "%s band names" % iid)
        for b in o["bands"]:
            g = ref.native_grid(iid, b["id"])
            check(b["crs"] == g["crs"] and b["width"] == g["width"] and b["height"] == g["height"],
                  "%s %s grid size/crs" % (iid, b["id"]))
            check(np.allclose(b["affine"], g["affine"], rtol=0, atol=1e-12),
                  "%s %s affine %s vs %s" % (iid, b["id"], b["affine"], g["affine"]))
            check(b["type"].replace("float", "float32") == ref.band_type(iid, b["id"])
                  or b["type"] == ref.band_type(iid, b["id"]), "%s %s type" % (iid, b["id"]))
        check(o["footprint"]["type"] == "Polygon", "%s footprint" % iid)
    # Collections: order and membership.
    for cid in (ref.S2, ref.L9):
        members = [m["id"] for m in ref.collection(cid)]
        check(all(images[m]["collection"] == cid for m in members), "%s membership" % cid)
    return images


def pick_by_level(coll, levels):
    picked = {}
    for m in ref.collection(coll):
        img = ref._image(m["id"])
        lv = ref.cloud_level(img["zone"], img["day"])
        if lv in levels and lv not in picked:
            picked[lv] = m["id"]
    return [picked[k] for k in sorted(picked)]


def check_pixels():
    d = Dumper("dump")
    s2 = pick_by_level(ref.S2, {0, 1, 2, 3})
    check(len(s2) == 4, "Sentinel-2 has images of every cloud level")
    s2.append("projects/earthengine-public/assets/" + ref.collection(ref.S2)[-1]["id"])
    for iid in s2:
        for band in ref.band_names(iid):
            g = ref.native_grid(iid, band)
            W, H = g["width"], g["height"]
            compare_window(d, iid, band, -5, -3, 70, 20)              # upper-left corner
            compare_window(d, iid, band, W - 40, H - 10, 60, 16)      # lower-right corner
            compare_window(d, iid, band, W // 3, H // 2, 300, 30)     # interior
        # A wide SCL strip, so clouds of moderate images show up in it.
        compare_window(d, iid, "SCL", 0, 2000, 5490, 4)
    # Cloud Score+: the images of two S2 dates (float32 scores).
    for iid in s2[1:3]:
        cid = ref.CSP + "/" + iid.rsplit("/", 1)[1]
        for band in ref.band_names(cid):
            compare_window(d, cid, band, -3, -2, 60, 10)
            compare_window(d, cid, band, 4000, 5000, 600, 6)
    l9 = pick_by_level(ref.L9, {0, 1, 2, 3})
    for iid in l9:
        for band in ref.band_names(iid):
            g = ref.native_grid(iid, band)
            compare_window(d, iid, band, -2, -2, 50, 12)
            compare_window(d, iid, band, g["width"] - 30, g["height"] - 5, 40, 10)
            compare_window(d, iid, band, 1234, 4321, 700, 8)
    dem = ref.SRTM
    for (c0, r0, w, h) in [(960930 - 200, 115243 - 5, 400, 10),   # the summit
                           (-4, -2, 40, 8), (1296001 - 30, 417601 - 4, 40, 8),
                           (432000, 200000, 500, 6),                # 60 W, 4 S: negative lon/lat
                           (100000, 50000, 300, 5)]:
        compare_window(d, dem, "elevation", c0, r0, w, h)
    v, m = d.window(dem, "elevation", 960930, 115243, 1, 1)
    check(v[0, 0] == 8848 and m[0, 0], "the summit is 8848 m")
    d.close()


def check_clouds_visible():
    """Cloud classes are bright in the data; clear and overcast dates exist."""
    pcts = [m["properties"]["CLOUDY_PIXEL_PERCENTAGE"] for m in ref.collection(ref.S2)]
    check(min(pcts) == 0 and max(pcts) > 90, "S2 has clear and overcast dates")
    check(sum(p == 0 for p in pcts) > len(pcts) // 5, "many clear S2 dates")
    iid = pick_by_level(ref.S2, {2})[0]
    d = Dumper("dump")
    scl, _ = d.window(iid, "SCL", 0, 0, 5490, 40)
    b2, _ = d.window(iid, "B5", 0, 0, 5490, 40)    # B5 shares SCL's 20 m grid
    d.close()
    cloud = np.isin(scl, [8, 9])
    shadow = scl == 3
    check(shadow.any(), "cloud shadows (SCL 3) in a cloudy image")
    if shadow.any():
        clear = np.isin(scl, [4, 5])
        check(np.median(b2[shadow]) < np.median(b2[clear]), "shadows are dark")
    if cloud.any():
        check(b2[cloud].min() > b2[~np.isin(scl, [8, 9, 10])].max() * 0.9 or
              np.median(b2[cloud]) > 2 * np.median(b2[~cloud]), "clouds are bright")
    # Landsat QA bits agree with the cloud percentage sign.
    for m in ref.collection(ref.L9):
        if m["properties"]["CLOUD_COVER"] > 50:
            iid = m["id"]
            break
    d = Dumper("dump")
    qa, _ = d.window(iid, "QA_PIXEL", 0, 0, 7000, 3)
    d.close()
    check(np.any((qa.astype(np.int64) & 8) != 0), "cloud bit 3 set in a cloudy Landsat scene")


def check_sample_self():
    """reference.sample on a native grid equals native_pixels."""
    iid = ref.collection(ref.S2)[10]["id"]
    g = ref.native_grid(iid, "B4")
    a = list(g["affine"])
    a[2] += 100 * a[0]
    a[5] += 50 * a[4]
    v1, m1 = ref.sample(iid, "B4", g["crs"], a, 30, 20)
    v2, m2 = ref.native_pixels(iid, "B4", 100, 50, 30, 20)
    check(np.array_equal(v1, v2) and np.array_equal(m1, m2), "sample on the native grid")
    # A lon/lat request grid over the tile: sampled values are native values.
    v3, m3 = ref.sample(iid, "B4", "EPSG:4326", [0.001, 0, -122.5, 0, -0.001, 37.6], 20, 10)
    check(m3.all() and v3.min() > 0, "sample across CRSs is inside the tile")


def main():
    check_listing()
    check_pixels()
    check_clouds_visible()
    check_sample_self()
    print("%d failures" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
