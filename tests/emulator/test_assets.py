"""assets.get, :listImages and :listAssets over HTTP, checked against
tests/emulator/reference.py (ids, grids, times, properties) and, for a local
GeoTIFF asset, against the file itself."""

import datetime
import json
import os
import sys
import tempfile
import urllib.parse

import numpy as np
from osgeo import gdal, osr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
import reference as ref  # noqa: E402

gdal.UseExceptions()

FAILURES = []
S2 = "COPERNICUS/S2_SR_HARMONIZED"
SRTM = "USGS/SRTMGL1_003"
PUBLIC = "projects/earthengine-public/assets/"
INT_RANGES = {"uint8": (0, 255), "int16": (-32768, 32767), "uint16": (0, 65535)}


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what)
    return cond


def ms_of(rfc3339):
    t = datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    return int(round(t.timestamp() * 1000))


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")


def get_json(emu, path):
    st, _, body = emu.get(path)
    check(st == 200, "GET %s: %d %r" % (path, st, body[:300]))
    return json.loads(body) if st == 200 else None


def check_grid(label, band_json, grid):
    g = band_json.get("grid", {})
    check(g.get("crsCode") == grid["crs"], "%s crs %r != %r" % (label, g.get("crsCode"), grid["crs"]))
    at = g.get("affineTransform", {})
    got = [at.get(k, 0.0) for k in ("scaleX", "shearX", "translateX", "shearY", "scaleY", "translateY")]
    check(all(abs(a - b) <= 1e-12 * max(1.0, abs(b)) for a, b in zip(got, grid["affine"])),
          "%s affine %r != %r" % (label, got, grid["affine"]))
    dims = g.get("dimensions", {})
    check(dims.get("width") == grid["width"] and dims.get("height") == grid["height"],
          "%s dimensions %r != %dx%d" % (label, dims, grid["width"], grid["height"]))


def check_datatype(label, dt, kind):
    if kind in INT_RANGES:
        lo, hi = INT_RANGES[kind]
        check(dt.get("precision") == "INT", "%s precision %r" % (label, dt))
        rng = dt.get("range", {})
        check(rng.get("min", 0) == lo and rng.get("max") == hi, "%s range %r" % (label, rng))


def test_srtm(emu):
    for path in ("/v1/projects/earthengine-public/assets/" + SRTM,
                 "/v1alpha/projects/my-project/assets/" + SRTM + "?alt=json&prettyPrint=false"):
        a = get_json(emu, path)
        if not a:
            continue
        check(a.get("type") == "IMAGE", "SRTM type %r" % a.get("type"))
        check(a.get("name") == PUBLIC + SRTM, "SRTM name %r" % a.get("name"))
        check(a.get("id") == SRTM, "SRTM id %r" % a.get("id"))
        bands = a.get("bands", [])
        check([b.get("id") for b in bands] == ["elevation"], "SRTM bands %r" % bands)
        if bands:
            check_grid("SRTM", bands[0], ref.native_grid(SRTM, "elevation"))
            check_datatype("SRTM", bands[0].get("dataType", {}), "int16")
        check(isinstance(a.get("sizeBytes"), str) and a["sizeBytes"].isdigit(),
              "sizeBytes is a decimal string: %r" % a.get("sizeBytes"))
        check(isinstance(a.get("properties"), dict), "SRTM properties")
        check(isinstance(a.get("geometry"), dict) and "type" in a["geometry"], "SRTM geometry")


def test_s2_image(emu):
    images = ref.collection(S2)
    if not check(len(images) >= 4, "reference S2 collection: %d images" % len(images)):
        return
    want = images[len(images) // 2]
    full = want["id"] if want["id"].startswith(S2 + "/") else S2 + "/" + want["id"]
    a = get_json(emu, "/v1/projects/earthengine-public/assets/" + full)
    if not a:
        return
    check(a.get("type") == "IMAGE", "S2 image type")
    check(a.get("name") == PUBLIC + full, "S2 name %r" % a.get("name"))
    check(a.get("id") == full, "S2 id %r" % a.get("id"))
    check(ms_of(a.get("startTime", "1970-01-01T00:00:00Z")) == want["start_ms"],
          "S2 startTime %r vs %d" % (a.get("startTime"), want["start_ms"]))
    check("endTime" in a, "S2 endTime")
    bands = {b["id"]: b for b in a.get("bands", [])}
    expect = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12", "SCL", "QA60"]
    check(sorted(bands) == sorted(expect), "S2 bands %r" % sorted(bands))
    for bid in expect:
        if bid in bands:
            check_grid("S2 " + bid, bands[bid], ref.native_grid(full, bid))
            check_datatype("S2 " + bid, bands[bid].get("dataType", {}),
                           "uint8" if bid == "SCL" else "uint16")
    scales = {bid: abs(bands[bid]["grid"]["affineTransform"]["scaleX"]) for bid in bands}
    check(scales.get("B2") == 10 and scales.get("B5") == 20 and scales.get("B1") == 60,
          "S2 native scales %r" % scales)
    props = a.get("properties", {})
    for k, v in want.get("properties", {}).items():
        if k in props:
            check(props[k] == v, "S2 property %s: %r != %r" % (k, props[k], v))
    check("CLOUDY_PIXEL_PERCENTAGE" in props, "S2 has CLOUDY_PIXEL_PERCENTAGE")
    check(a.get("geometry", {}).get("type") in ("Polygon", "MultiPolygon"), "S2 footprint")


def test_s2_collection(emu):
    a = get_json(emu, "/v1beta/projects/earthengine-public/assets/" + S2)
    if a:
        check(a.get("type") == "IMAGE_COLLECTION", "collection type %r" % a.get("type"))
        check(a.get("name") == PUBLIC + S2, "collection name %r" % a.get("name"))
        check("bands" not in a, "a collection has no bands")


def list_all(emu, path, key, page_size):
    out, token, pages = [], None, 0
    while True:
        sep = "&" if "?" in path else "?"
        q = path + sep + "pageSize=%d" % page_size + ("&pageToken=" + token if token else "")
        doc = get_json(emu, q)
        if doc is None:
            return out
        out += doc.get(key, [])
        pages += 1
        token = doc.get("nextPageToken")
        if not token or pages > 1000:
            return out


def tile_bbox(image_id, cache={}):
    """lon/lat bounding box of an S2 image's B2 grid, from reference.py + OSR."""
    g = ref.native_grid(image_id, "B2")
    key = (g["crs"], tuple(g["affine"]), g["width"], g["height"])
    if key not in cache:
        src = osr.SpatialReference()
        src.SetFromUserInput(g["crs"])
        dst = osr.SpatialReference()
        dst.ImportFromEPSG(4326)
        for s in (src, dst):
            s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        ct = osr.CoordinateTransformation(src, dst)
        sx, _, tx, _, sy, ty = g["affine"]
        pts = []
        for u in np.linspace(0, g["width"], 9):
            for v in np.linspace(0, g["height"], 9):
                pts.append(ct.TransformPoint(tx + sx * u, ty + sy * v)[:2])
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        cache[key] = (min(xs), min(ys), max(xs), max(ys))
    return cache[key]


def test_list_images(emu):
    coll = ref.collection(S2)
    ref_ids = [c["id"] if c["id"].startswith(S2 + "/") else S2 + "/" + c["id"] for c in coll]
    base = "/v1/projects/earthengine-public/assets/%s:listImages" % S2
    full = list_all(emu, base, "images", 10000)
    check([x["id"] for x in full] == ref_ids,
          "listImages ids/order differ from reference (%d vs %d)" % (len(full), len(ref_ids)))
    paged = list_all(emu, base, "images", 7)
    check([x["id"] for x in paged] == ref_ids, "pages of 7 concatenate to the full list")
    check(all(x.get("type") == "IMAGE" and x.get("bands") for x in full[:3]), "listed images are full")

    # startTime/endTime: images starting in [t0, t1).
    t0, t1 = coll[len(coll) // 4]["start_ms"], coll[len(coll) // 2]["start_ms"]
    q = base + "?startTime=%s&endTime=%s" % (iso(t0 - t0 % 1000), iso(t1 - t1 % 1000))
    got = [x["id"] for x in list_all(emu, q, "images", 50)]
    want = [i for i, c in zip(ref_ids, coll) if t0 - t0 % 1000 <= c["start_ms"] < t1 - t1 % 1000]
    check(got == want and want, "time window: %d images, want %d" % (len(got), len(want)))

    # region: a small polygon; images whose tile box intersects it.
    first = tile_bbox(ref_ids[0])
    cx, cy = (first[0] + first[2]) / 2, (first[1] + first[3]) / 2
    poly = {"type": "Polygon", "coordinates": [[[cx - .01, cy - .01], [cx + .01, cy - .01],
                                                [cx + .01, cy + .01], [cx - .01, cy + .01],
                                                [cx - .01, cy - .01]]]}
    q = base + "?region=" + urllib.parse.quote(json.dumps(poly))
    got = [x["id"] for x in list_all(emu, q, "images", 1000)]

    def hits(i):
        b = tile_bbox(i)
        return b[0] <= cx + .01 and cx - .01 <= b[2] and b[1] <= cy + .01 and cy - .01 <= b[3]
    want = [i for i in ref_ids if hits(i)]
    check(got == want and 0 < len(want) < len(ref_ids),
          "region filter: %d images, want %d of %d" % (len(got), len(want), len(ref_ids)))

    # The Python client's listAssets filter.
    lo, hi = coll[5]["start_ms"], coll[-5]["start_ms"]
    flt = ('startTime >= "%s" AND startTime < "%s" AND '
           'intersects("{\'type\':\'Point\',\'coordinates\':[%r,%r]}") AND '
           'properties.CLOUDY_PIXEL_PERCENTAGE < 30') % (iso(lo - lo % 1000), iso(hi - hi % 1000), cx, cy)
    q = "/v1/projects/earthengine-public/assets/%s:listAssets?filter=%s" % (S2, urllib.parse.quote(flt))
    got = [x["id"] for x in list_all(emu, q, "assets", 1000)]
    want = [i for i, c in zip(ref_ids, coll)
            if lo - lo % 1000 <= c["start_ms"] < hi - hi % 1000
            and c["properties"].get("CLOUDY_PIXEL_PERCENTAGE", 100) < 30
            and tile_bbox(i)[0] <= cx <= tile_bbox(i)[2] and tile_bbox(i)[1] <= cy <= tile_bbox(i)[3]]
    check(got == want and want, "listAssets filter: %d images, want %d" % (len(got), len(want)))

    st, _, body = emu.get(base.replace(S2, "NO/SUCH_COLLECTION"))
    check(st == 404, "listImages of an unknown collection: %d" % st)
    st, _, body = emu.get(base + "?pageToken=bogus")
    check(st == 400, "bad page token: %d" % st)
    st, _, body = emu.get("/v1/projects/p/assets/%s:listAssets?filter=%s"
                          % (S2, urllib.parse.quote("startTime >>= 3")))
    check(st == 400, "bad filter: %d" % st)


def test_folders(emu):
    a = get_json(emu, "/v1/projects/earthengine-public/assets/COPERNICUS")
    if a:
        check(a.get("type") == "FOLDER" and a.get("name") == PUBLIC + "COPERNICUS",
              "COPERNICUS is a folder: %r" % a)
    doc = get_json(emu, "/v1/projects/earthengine-public/assets/COPERNICUS:listAssets")
    if doc:
        kids = [(x["type"], x["id"]) for x in doc.get("assets", [])]
        check(("IMAGE_COLLECTION", S2) in kids, "COPERNICUS lists the S2 collection: %r" % kids)
    root = list_all(emu, "/v1/projects/earthengine-public:listAssets", "assets", 1)
    ids = [x["id"] for x in root]
    check("USGS" in ids and "COPERNICUS" in ids, "root folders %r" % ids)
    check(len(ids) == len(set(ids)), "root entries are unique: %r" % ids)
    doc = get_json(emu, "/v1/projects/earthengine-public/assets/USGS:listAssets")
    if doc:
        kids = [(x["type"], x["id"]) for x in doc.get("assets", [])]
        check(("IMAGE", SRTM) in kids, "USGS lists SRTM as an image: %r" % kids)


def test_unknown(emu):
    for path in ("/v1/projects/earthengine-public/assets/NO/SUCH/ASSET",
                 "/v1/projects/earthengine-public/assets/%s/20990101T000000_20990101T000000_T10SEG" % S2):
        st, _, body = emu.get(path)
        check(st == 404, "unknown asset %s: %d" % (path, st))
        try:
            err = json.loads(body)["error"]
            check(err["code"] == 404 and err["status"] == "NOT_FOUND", "404 body %r" % err)
            check("does not exist" in err["message"], "404 message %r" % err["message"])
        except (ValueError, KeyError):
            check(False, "404 body is not EE's: %r" % body[:200])


def test_local(tmp):
    path = os.path.join(tmp, "dem.tif")
    ds = gdal.GetDriverByName("GTiff").Create(path, 120, 80, 1, gdal.GDT_UInt16)
    ds.SetGeoTransform((300000.0, 20.0, 0.0, 5100000.0, 0.0, -20.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds.SetProjection(srs.ExportToWkt())
    ds.GetRasterBand(1).WriteArray(np.arange(120 * 80, dtype=np.uint16).reshape(80, 120))
    ds = None
    with emulib.Emulator("--asset", "users/test/dem=" + path) as emu:
        for p in ("/v1/projects/earthengine-legacy/assets/users/test/dem",
                  "/v1alpha/projects/anything/assets/users/test/dem"):
            a = get_json(emu, p)
            if not a:
                continue
            check(a.get("type") == "IMAGE", "local type")
            check(a.get("name") == "projects/earthengine-legacy/assets/users/test/dem",
                  "local name %r" % a.get("name"))
            check(a.get("id") == "users/test/dem", "local id %r" % a.get("id"))
            bands = a.get("bands", [])
            check(len(bands) == 1, "local bands %r" % bands)
            if bands:
                check_grid("local", bands[0], {"crs": "EPSG:32632",
                                               "affine": [20.0, 0.0, 300000.0, 0.0, -20.0, 5100000.0],
                                               "width": 120, "height": 80})
                check_datatype("local", bands[0].get("dataType", {}), "uint16")


def main():
    with emulib.Emulator() as emu:
        test_srtm(emu)
        test_s2_image(emu)
        test_s2_collection(emu)
        test_list_images(emu)
        test_folders(emu)
        test_unknown(emu)
    with tempfile.TemporaryDirectory() as tmp:
        test_local(tmp)
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
