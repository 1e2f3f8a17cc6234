"""Batch export (image:export), operations and the Cloud Storage JSON API.

Requests are shaped as the official clients send them (ee-api.md §8): the
Python client's {"value": ...}-wrapped Int64 fields and the REST doc's bare
ones, requestId, fileExportOptions.cloudStorageDestination, geoTiffOptions.
Every exported pixel is read back with GDAL and compared with reference.py
(the independent model of the catalog); the split files' names and
geotransforms with the grid computed here. Object hashes are checked
against a CRC-32C written below in plain Python and hashlib's MD5, ranged
reads against the file's bytes.
"""

import base64
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse

import numpy as np
from osgeo import gdal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
from emulib import c, call, expr, load, select  # noqa: E402
import reference as ref  # noqa: E402

gdal.UseExceptions()
PROJ = "test-project"
EXPORT = "/v1/projects/%s/image:export" % PROJ
OPS = "/v1/projects/%s/operations" % PROJ
BUCKET = "exp-bucket"
D = 1 / 3600
S2_IMG = ref.S2 + "/20230105T183751_20230105T183750_T10SEG"
# SRTM on its own grid near San Francisco: 600 x 500 pixels from (C0, R0).
C0, R0 = 207000, 79560
SRTM_AFFINE = [D, 0, -180 - 0.5 * D + C0 * D, 0, -D, 60 + 0.5 * D - R0 * D]
W, H = 600, 500
MAXPIX_MSG = ("Exported too many pixels. Specified %d pixels (max: %d). Specify higher "
              "maxPixels value if you intend to export a large area.")


def need(cond, what):
    if not cond:
        raise AssertionError(what)


# ------------------------------------------------------------ CRC-32C, independently

def _crc_table():
    t = []
    for i in range(256):
        v = i
        for _ in range(8):
            v = (v >> 1) ^ 0x82F63B78 if v & 1 else v >> 1
        t.append(v)
    return t


CRC_TABLE = _crc_table()


def crc32c(data):
    v = 0xFFFFFFFF
    for b in data:
        v = CRC_TABLE[(v ^ b) & 0xFF] ^ (v >> 8)
    return v ^ 0xFFFFFFFF


def crc32c_b64(data):
    return base64.b64encode(crc32c(data).to_bytes(4, "big")).decode()


# ------------------------------------------------------------ requests

def export_body(expression, prefix, grid=None, tile=None, max_pixels=None, request_id=None,
                priority=None, geotiff=None, bucket=BUCKET, description="test_export"):
    gt = dict(geotiff or {})
    if tile:
        gt["tileDimensions"] = {"width": tile[0], "height": tile[1]}
    fo = {"fileFormat": "GEO_TIFF",
          "cloudStorageDestination": {"bucket": bucket, "filenamePrefix": prefix}}
    if gt:
        fo["geoTiffOptions"] = gt
    body = {"expression": expr(expression), "description": description,
            "fileExportOptions": fo}
    if grid:
        body["grid"] = grid
    if max_pixels is not None:
        body["maxPixels"] = max_pixels
    if request_id:
        body["requestId"] = request_id
    if priority is not None:
        body["priority"] = priority
    return body


def submit(emu, body, want=200):
    st, _, data = emu.post(EXPORT, body)
    need(st == want, "image:export answered %d, not %d: %s" % (st, want, data[:300]))
    return json.loads(data)


def get_op(emu, name):
    st, _, data = emu.get("/v1/" + name)
    need(st == 200, "operations.get %s: %d %s" % (name, st, data[:200]))
    return json.loads(data)


def wait_done(emu, name, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        op = get_op(emu, name)
        if op["done"]:
            return op
        time.sleep(0.05)
    raise AssertionError("%s not done within %d s" % (name, timeout))


def read_tif(path):
    ds = gdal.Open(path)
    arr = ds.ReadAsArray()
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    gt = ds.GetGeoTransform()
    band = ds.GetRasterBand(1)
    info = dict(gt=gt, type=gdal.GetDataTypeName(band.DataType), nodata=band.GetNoDataValue(),
                layout=ds.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE"),
                srs=ds.GetSpatialRef().GetAuthorityCode(None), bands=ds.RasterCount)
    ds = None
    return arr, info


def files_in(root, prefix):
    out = []
    for d, _, names in os.walk(root):
        for n in names:
            rel = os.path.relpath(os.path.join(d, n), root)
            if rel.startswith(prefix):
                out.append(rel)
    return sorted(out)


# ------------------------------------------------------------ tests on the fast server

def test_split_srtm(emu, bdir):
    """A 600x500 SRTM export in 256x256 files: names, geotransforms, every pixel."""
    grid = emulib.grid("EPSG:4326", SRTM_AFFINE, W, H)
    op = submit(emu, export_body(load(ref.SRTM), "split/srtm", grid=grid, tile=(256, 256),
                                 max_pixels={"value": str(W * H)}, request_id="split-1",
                                 geotiff={"tileSize": {"value": 128}}))
    md = op["metadata"]
    need(op["name"].startswith("projects/%s/operations/" % PROJ) and not op["done"],
         "operation %r" % op)
    need(md["@type"] == "type.googleapis.com/google.earthengine.v1.OperationMetadata" and
         md["type"] == "EXPORT_IMAGE" and md["state"] == "PENDING" and md["priority"] == 100 and
         md["description"] == "test_export" and "createTime" in md and "updateTime" in md,
         "metadata %r" % md)
    op = wait_done(emu, op["name"])
    need(op["metadata"]["state"] == "SUCCEEDED" and op["metadata"]["progress"] == 1 and
         op["response"] == {"@type": "type.googleapis.com/google.protobuf.Empty"} and
         "error" not in op, "finished %r" % op)
    need(op["metadata"]["batchEecuUsageSeconds"] == 0.5 * W * H / 1e6,
         "EECU %r" % op["metadata"].get("batchEecuUsageSeconds"))
    root = os.path.join(bdir, BUCKET)
    want = ["split/srtm-%010d-%010d.tif" % (r, c_) for r in (0, 256) for c_ in (0, 256, 512)]
    got = files_in(root, "split/")
    need(got == sorted(want), "files %r" % got)
    vals, mask = ref.sample(ref.SRTM, "elevation", "EPSG:4326", SRTM_AFFINE, W, H)
    expect = np.where(mask, vals, 0)
    for r in (0, 256):
        for c_ in (0, 256, 512):
            arr, info = read_tif(os.path.join(root, "split/srtm-%010d-%010d.tif" % (r, c_)))
            h, w = min(256, H - r), min(256, W - c_)
            need(arr.shape == (1, h, w), "file %d,%d shape %r" % (r, c_, arr.shape))
            gt = info["gt"]
            need(abs(gt[0] - (SRTM_AFFINE[2] + c_ * D)) < 1e-9 and
                 abs(gt[3] - (SRTM_AFFINE[5] - r * D)) < 1e-9 and abs(gt[1] - D) < 1e-15 and
                 abs(gt[5] + D) < 1e-15 and info["srs"] == "4326",
                 "file %d,%d geotransform %r srs %r" % (r, c_, gt, info["srs"]))
            need(info["type"] == "Int16", "file type %s" % info["type"])
            need(np.array_equal(arr[0], expect[r:r + h, c_:c_ + w]),
                 "file %d,%d pixels differ from the reference in %d places" %
                 (r, c_, int((arr[0] != expect[r:r + h, c_:c_ + w]).sum())))


def test_expression_grid(emu, bdir):
    """No grid: the expression sets it (Image.clipToBoundsAndScale, as the
    Python client folds region and dimensions in); one file, {prefix}.tif."""
    w, s, e, n = -122.5, 37.7, -122.4, 37.78
    region = call("GeometryConstructors.Polygon",
                  coordinates=c([[[w, n], [w, s], [e, s], [e, n]]]), evenOdd=c(True))
    img = call("Image.clipToBoundsAndScale", input=load(ref.SRTM), geometry=region,
               width=c(90), height=c(72))
    op = wait_done(emu, submit(emu, export_body(img, "clip/one", max_pixels="100000"))["name"])
    need(op["metadata"]["state"] == "SUCCEEDED", "state %r" % op)
    need(files_in(os.path.join(bdir, BUCKET), "clip/") == ["clip/one.tif"],
         "files %r" % files_in(os.path.join(bdir, BUCKET), "clip/"))
    arr, info = read_tif(os.path.join(bdir, BUCKET, "clip/one.tif"))
    aff = [(e - w) / 90, 0, w, 0, -(n - s) / 72, n]
    vals, mask = ref.sample(ref.SRTM, "elevation", "EPSG:4326", aff, 90, 72)
    need(arr.shape == (1, 72, 90), "shape %r" % (arr.shape,))
    need(np.allclose(info["gt"], [aff[2], aff[0], 0, aff[5], 0, aff[4]], atol=1e-12),
         "geotransform %r" % (info["gt"],))
    need(np.array_equal(arr[0], np.where(mask, vals, 0)), "pixels differ from the reference")


def test_band_types_union(emu, bdir):
    """int16 elevation + uint16 B4: EE writes one type for both, here Int32."""
    aff = [10, 0, 560000, 0, -10, 4180000]
    img = call("Image.addBands", dstImg=load(ref.SRTM), srcImg=select(load(S2_IMG), ["B4"]))
    grid = emulib.grid("EPSG:32610", aff, 40, 30)
    op = wait_done(emu, submit(emu, export_body(img, "types/mixed", grid=grid))["name"])
    need(op["metadata"]["state"] == "SUCCEEDED", "state %r" % op)
    arr, info = read_tif(os.path.join(bdir, BUCKET, "types/mixed.tif"))
    need(info["type"] == "Int32" and info["bands"] == 2, "type %s, %d bands" %
         (info["type"], info["bands"]))
    for b, (iid, band) in enumerate([(ref.SRTM, "elevation"), (S2_IMG, "B4")]):
        vals, mask = ref.sample(iid, band, "EPSG:32610", aff, 40, 30)
        need(np.array_equal(arr[b], np.where(mask, vals, 0)), "band %s differs" % band)


def test_nodata_cog_skip_empty(emu, bdir):
    """SRTM ends at 60N: masked pixels take noData, a file wholly north of it
    is skipped (skipEmptyFiles), the others are COGs."""
    top = 60 + 0.5 * D + 300 * D       # 300 rows north of SRTM's edge
    aff = [D, 0, -180 - 0.5 * D + C0 * D, 0, -D, top]
    grid = emulib.grid("EPSG:4326", aff, 256, 512)
    op = wait_done(emu, submit(emu, export_body(
        load(ref.SRTM), "nodata/edge", grid=grid, tile=(256, 256),
        geotiff={"cloudOptimized": True, "skipEmptyFiles": True,
                 "noData": {"floatValue": -9999}}))["name"])
    need(op["metadata"]["state"] == "SUCCEEDED", "state %r" % op)
    got = files_in(os.path.join(bdir, BUCKET), "nodata/")
    need(got == ["nodata/edge-0000000256-0000000000.tif"], "files %r" % got)
    arr, info = read_tif(os.path.join(bdir, BUCKET, got[0]))
    need(info["nodata"] == -9999 and info["layout"] == "COG", "nodata %r layout %r" %
         (info["nodata"], info["layout"]))
    sub = [aff[0], 0, aff[2], 0, aff[4], aff[5] - 256 * D]
    vals, mask = ref.sample(ref.SRTM, "elevation", "EPSG:4326", sub, 256, 256)
    need(not mask.all() and mask.any(), "the file should straddle SRTM's edge")
    need(np.array_equal(arr[0], np.where(mask, vals, -9999)), "pixels or noData differ")


def test_max_pixels(emu, bdir):
    grid = emulib.grid("EPSG:4326", SRTM_AFFINE, W, H)
    for mp in ({"value": "1000"}, "1000", 1000):
        op = wait_done(emu, submit(emu, export_body(load(ref.SRTM), "big/x", grid=grid,
                                                    max_pixels=mp))["name"])
        need(op["metadata"]["state"] == "FAILED" and op["done"], "state %r" % op)
        need(op["error"] == {"code": 3, "message": MAXPIX_MSG % (W * H, 1000)},
             "error %r" % op.get("error"))
    # The default is 1e8.
    big = emulib.grid("EPSG:4326", SRTM_AFFINE, 20000, 6000)
    op = wait_done(emu, submit(emu, export_body(load(ref.SRTM), "big/y", grid=big))["name"])
    need(op["error"]["message"] == MAXPIX_MSG % (20000 * 6000, 100000000), "default %r" % op)
    need(files_in(os.path.join(bdir, BUCKET), "big/") == [], "files written")


def test_refused_at_submit(emu, bdir):
    base = export_body(load(ref.SRTM), "x/y", grid=emulib.grid("EPSG:4326", SRTM_AFFINE, 8, 8))
    cases = [
        ("maxPixels", {"value": "many"}), ("priority", 10000), ("requestId", "no spaces"),
        ("requestId", "x" * 61), ("unknownField", 1),
    ]
    for key, val in cases:
        body = json.loads(json.dumps(base))
        body[key] = val
        st, _, data = emu.post(EXPORT, body)
        need(st == 400 and emulib.error_of(data)["status"] == "INVALID_ARGUMENT",
             "%s=%r answered %d %s" % (key, val, st, data[:200]))
    for prefix in ("../escape", "a//b", "/abs"):
        body = json.loads(json.dumps(base))
        body["fileExportOptions"]["cloudStorageDestination"]["filenamePrefix"] = prefix
        st, _, data = emu.post(EXPORT, body)
        need(st == 400, "prefix %r answered %d" % (prefix, st))
    body = json.loads(json.dumps(base))
    body["fileExportOptions"]["geoTiffOptions"] = {"tileDimensions": {"width": 300,
                                                                       "height": 256}}
    st, _, data = emu.post(EXPORT, body)
    need(st == 400 and "multiples of tileSize" in emulib.error_of(data)["message"],
         "tileDimensions %d %s" % (st, data[:200]))
    body = json.loads(json.dumps(base))
    body["expression"] = expr(c(3))
    st, _, _ = emu.post(EXPORT, body)
    need(st == 400, "a number exported as an image answered %d" % st)


def test_missing_bucket(emu, bdir):
    body = export_body(load(ref.SRTM), "x/y", grid=emulib.grid("EPSG:4326", SRTM_AFFINE, 8, 8),
                       bucket="no-such-bucket")
    op = wait_done(emu, submit(emu, body)["name"])
    need(op["metadata"]["state"] == "FAILED" and op["error"]["code"] == 7 and
         "no-such-bucket" in op["error"]["message"], "error %r" % op.get("error"))


def test_dedupe(emu, bdir):
    body = export_body(load(ref.SRTM), "dedupe/a", request_id="same-request-42",
                       grid=emulib.grid("EPSG:4326", SRTM_AFFINE, 16, 16))
    a = submit(emu, body)
    b = submit(emu, body)
    need(a["name"] == b["name"], "two operations for one requestId: %s %s" % (a["name"],
                                                                              b["name"]))
    wait_done(emu, a["name"])
    c_ = submit(emu, body)
    need(c_["name"] == a["name"] and c_["done"], "after completion: %r" % c_)
    st, _, data = emu.get(OPS + "?pageSize=1000")
    names = [o["name"] for o in json.loads(data).get("operations", [])]
    need(names.count(a["name"]) == 1, "listed %d times" % names.count(a["name"]))
    # A bare task id, as ee.data.getTaskStatus sends it: the legacy project.
    tid = a["name"].rsplit("/", 1)[1]
    need(get_op(emu, "projects/earthengine-legacy/operations/" + tid)["name"] == a["name"],
         "the task is not found through projects/earthengine-legacy")
    st, _, _ = emu.get("/v1/projects/other-project/operations/" + tid)
    need(st == 404, "another project's path found the task: %d" % st)
    # A different requestId starts a new task.
    body["requestId"] = "same-request-43"
    need(submit(emu, body)["name"] != a["name"], "a new requestId reused the operation")


def test_unknown_operation(emu, bdir):
    st, _, data = emu.get(OPS + "/NOSUCHOPERATION")
    need(st == 404 and emulib.error_of(data)["status"] == "NOT_FOUND", "get %d" % st)
    st, _, data = emu.post(OPS + "/NOSUCHOPERATION:cancel", {})
    need(st == 404, "cancel %d" % st)


# ------------------------------------------------------------ Cloud Storage

def gcs_get(emu, bucket, name, query="", headers=None, download=False):
    path = "/%sstorage/v1/b/%s/o/%s%s" % ("download/" if download else "", bucket,
                                          urllib.parse.quote(name, safe=""), query)
    return emu.get(path, headers=headers)


def test_storage(emu, bdir):
    root = os.path.join(bdir, BUCKET)
    names = files_in(root, "split/")
    need(len(names) == 6, "the split export's files are the test's objects: %r" % names)
    # Listing: prefix and pages of 4.
    seen, token = [], None
    for _ in range(5):
        q = "?prefix=split/&maxResults=4" + ("&pageToken=" + urllib.parse.quote(token)
                                              if token else "")
        st, _, data = emu.get("/storage/v1/b/%s/o%s" % (BUCKET, q))
        need(st == 200, "list %d %s" % (st, data[:200]))
        page = json.loads(data)
        need(page["kind"] == "storage#objects", "kind %r" % page.get("kind"))
        seen += page.get("items", [])
        token = page.get("nextPageToken")
        if not token:
            break
    need([o["name"] for o in seen] == names, "listed %r" % [o["name"] for o in seen])
    for o in seen:
        with open(os.path.join(root, o["name"]), "rb") as f:
            data = f.read()
        need(o["bucket"] == BUCKET and o["size"] == str(len(data)) and
             o["crc32c"] == crc32c_b64(data) and
             o["md5Hash"] == base64.b64encode(hashlib.md5(data).digest()).decode() and
             o["contentType"] == "image/tiff" and o["generation"].isdigit() and
             "updated" in o, "metadata of %s: %r" % (o["name"], o))
    # Delimiter: one prefix for the folder.
    st, _, data = emu.get("/storage/v1/b/%s/o?delimiter=/" % BUCKET)
    need("split/" in json.loads(data).get("prefixes", []), "prefixes %r" % data[:300])
    # Metadata of one object.
    name = names[1]
    with open(os.path.join(root, name), "rb") as f:
        blob = f.read()
    st, _, data = gcs_get(emu, BUCKET, name)
    need(st == 200 and json.loads(data)["crc32c"] == crc32c_b64(blob), "get %d" % st)
    md5 = base64.b64encode(hashlib.md5(blob).digest()).decode()
    # Downloads: whole, ranged, suffix, open-ended, both URL forms.
    for download, query in ((True, "?alt=media"), (False, "?alt=media")):
        st, h, data = gcs_get(emu, BUCKET, name, query, download=download)
        need(st == 200 and data == blob, "media %d (%d bytes)" % (st, len(data)))
        need(h.get("x-goog-hash") == "crc32c=%s,md5=%s" % (crc32c_b64(blob), md5),
             "x-goog-hash %r" % h.get("x-goog-hash"))
    size = len(blob)
    for rng, a, b in (("bytes=10-99", 10, 99), ("bytes=-50", size - 50, size - 1),
                      ("bytes=100-", 100, size - 1), ("bytes=0-%d" % (size + 500), 0, size - 1)):
        st, h, data = gcs_get(emu, BUCKET, name, "?alt=media", {"Range": rng}, download=True)
        need(st == 206 and data == blob[a:b + 1] and
             h.get("content-range") == "bytes %d-%d/%d" % (a, b, size) and
             h.get("x-goog-hash", "").startswith("crc32c=" + crc32c_b64(blob)),
             "%s: %d %r %d bytes" % (rng, st, h.get("content-range"), len(data)))
    st, h, _ = gcs_get(emu, BUCKET, name, "?alt=media", {"Range": "bytes=%d-" % size},
                       download=True)
    need(st == 416 and h.get("content-range") == "bytes */%d" % size, "past the end %d" % st)
    # Missing objects and buckets: Google's JSON error.
    st, _, data = gcs_get(emu, BUCKET, "split/none.tif")
    err = json.loads(data)["error"]
    need(st == 404 and err["code"] == 404 and err["errors"][0]["reason"] == "notFound",
         "missing object %d %r" % (st, err))
    st, _, _ = emu.get("/storage/v1/b/no-such-bucket/o")
    need(st == 404, "missing bucket %d" % st)
    # Without a token: 401, as every route.
    conn = emu.connection()
    conn.request("GET", "/storage/v1/b/%s/o" % BUCKET)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    need(resp.status == 401, "no token %d" % resp.status)
    # Delete.
    st, _, data = emu.request("DELETE", "/storage/v1/b/%s/o/%s" %
                              (BUCKET, urllib.parse.quote(name, safe="")))
    need(st == 204 and data == b"", "delete %d %r" % (st, data[:100]))
    need(not os.path.exists(os.path.join(root, name)), "file still there")
    st, _, _ = gcs_get(emu, BUCKET, name)
    need(st == 404, "deleted object answered %d" % st)
    st, _, _ = emu.request("DELETE", "/storage/v1/b/%s/o/%s" %
                           (BUCKET, urllib.parse.quote(name, safe="")))
    need(st == 404, "second delete %d" % st)


def test_request_log(emu, bdir, log):
    with open(log) as f:
        lines = [json.loads(x) for x in f]
    routes = {x["route"] for x in lines}
    for r in ("image.export", "operations.get", "operations.list", "operations.cancel",
              "storage.list", "storage.get", "storage.media", "storage.delete"):
        need(r in routes, "no %s in the request log" % r)
    ids = [x.get("requestId") for x in lines if x["route"] == "image.export"]
    need(ids.count("same-request-42") == 3 and "split-1" in ids, "requestIds %r" % ids)


# ------------------------------------------------------------ the slow server

def small(prefix, **kw):
    return export_body(load(ref.SRTM), prefix, grid=emulib.grid("EPSG:4326", SRTM_AFFINE, W, H),
                       **kw)


def test_states_and_queue(bdir):
    """--export-queue-ms 500, 3000 ms per Mpixel (900 ms for 600x500), one
    RUNNING task, three PENDING at most. A blocker task holds the one running
    slot while the others are submitted, so when it ends the queue holds all
    of them and the priority alone decides which runs next (without it, the
    first submitted becomes ready a few milliseconds before the next and may
    start first on a loaded machine)."""
    with emulib.Emulator("--bucket-dir", bdir, "--export-queue-ms", "500",
                         "--export-ms-per-mpixel", "3000", "--export-running", "1",
                         "--export-pending-limit", "3") as emu:
        t0 = time.monotonic()
        blocker = submit(emu, export_body(load(ref.SRTM), "q/blocker",
                                          grid=emulib.grid("EPSG:4326", SRTM_AFFINE, 2 * W, 2 * H)))
        while get_op(emu, blocker["name"])["metadata"]["state"] != "RUNNING":
            need(time.monotonic() - t0 < 60, "the blocker never ran")
            time.sleep(0.02)
        # The low task is sixteen times the pixels (14.4 s running), so a
        # poll on a slow or loaded (sanitizer) build still sees it RUNNING;
        # it is cancelled then, so its length costs no time.
        low = submit(emu, export_body(load(ref.SRTM), "q/low",
                                      grid=emulib.grid("EPSG:4326", SRTM_AFFINE, 4 * W, 4 * H),
                                      priority={"value": 10}))
        high = submit(emu, small("q/high", priority=500))
        third = submit(emu, small("q/third"))
        st, _, data = emu.post(EXPORT, small("q/fourth"))
        need(st == 429, "a fourth pending task answered %d" % st)
        err = emulib.error_of(data)
        need(err["status"] == "RESOURCE_EXHAUSTED" and
             err["message"] == "Too many tasks already in the queue (3). Please wait for some "
                               "of them to complete.", "429 %r" % err)
        # Cancel one while PENDING: CANCELLED at once.
        st, _, data = emu.post("/v1/%s:cancel" % third["name"], {})
        need(st == 200 and json.loads(data) == {}, "cancel %d %r" % (st, data))
        op = get_op(emu, third["name"])
        need(op["done"] and op["metadata"]["state"] == "CANCELLED" and
             op["error"]["code"] == 1, "cancelled %r" % op)
        # Pages of the list, newest first.
        st, _, data = emu.get(OPS + "?pageSize=2")
        page = json.loads(data)
        need([o["name"] for o in page["operations"]] == [third["name"], high["name"]] and
             page.get("nextPageToken"), "page 1 %r" % page)
        st, _, data = emu.get(OPS + "?pageSize=2&pageToken=" + page["nextPageToken"])
        page2 = json.loads(data)
        need([o["name"] for o in page2["operations"]] == [low["name"], blocker["name"]] and
             "nextPageToken" not in page2, "page 2 %r" % page2)
        # Progression of the high-priority task, which starts first.
        states, progress = [], []
        while True:
            op = get_op(emu, high["name"])
            s = op["metadata"]["state"]
            if not states or states[-1] != s:
                states.append(s)
            if s == "RUNNING":
                progress.append(op["metadata"]["progress"])
            if op["done"]:
                break
            need(time.monotonic() - t0 < 240, "no progress")
            time.sleep(0.03)
        need(states == ["PENDING", "RUNNING", "SUCCEEDED"], "states %r" % states)
        # Never backwards, below 1 while RUNNING; how many distinct values a
        # poll sees depends on the machine's pace (a sanitizer build renders
        # slower than the model and sits at 0.999), so it is not required.
        need(progress and progress == sorted(progress) and 0 <= progress[0] and progress[-1] < 1,
             "progress %r" % progress)
        md = op["metadata"]
        ms = lambda s: time.mktime(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) + \
            (float("0" + s[19:-1]) if len(s) > 20 else 0)  # noqa: E731
        need(ms(md["startTime"]) - ms(md["createTime"]) >= 0.45, "queued %r" % md)
        need(ms(md["endTime"]) - ms(md["startTime"]) >= 0.85, "ran %r" % md)
        # Cancel the other while RUNNING: CANCELLING, then CANCELLED.
        while True:
            lop = get_op(emu, low["name"])
            if lop["metadata"]["state"] == "RUNNING":
                break
            need(not lop["done"], "the low task ended (%s, started %s; the high one ended %s) before a "
                 "poll saw it RUNNING" % (lop["metadata"]["state"], lop["metadata"].get("startTime"),
                                          md["endTime"]))
            need(time.monotonic() - t0 < 240, "the low task never ran")
            time.sleep(0.02)
        time.sleep(0.2)
        emu.post("/v1/%s:cancel" % low["name"], {})
        s = get_op(emu, low["name"])["metadata"]["state"]
        need(s in ("CANCELLING", "CANCELLED"), "after cancel: %s" % s)
        op = wait_done(emu, low["name"])
        need(op["metadata"]["state"] == "CANCELLED" and op["error"]["code"] == 1 and
             0 < op["metadata"]["progress"] < 1, "cancelled while running %r" % op)
        # One RUNNING task at a time: the low one started after the high one ended.
        need(ms(op["metadata"]["startTime"]) >= ms(md["endTime"]),
             "the low-priority task ran beside the high one (limit 1): %r, %r" %
             (op["metadata"]["startTime"], md["endTime"]))


def failed_set(bdir, seed):
    with emulib.Emulator("--bucket-dir", bdir, "--export-fail", "0.5", "--seed", seed) as emu:
        names = [submit(emu, export_body(load(ref.SRTM), "f/%d" % i, grid=emulib.grid(
            "EPSG:4326", SRTM_AFFINE, 64, 64)))["name"] for i in range(10)]
        ops = [wait_done(emu, n) for n in names]
    out = []
    for i, op in enumerate(ops):
        if op["metadata"]["state"] == "FAILED":
            need(op["error"]["code"] == 13 and "internal error" in op["error"]["message"],
                 "fault error %r" % op["error"])
            out.append(i)
        else:
            need(op["metadata"]["state"] == "SUCCEEDED", "state %r" % op)
    return out


def test_failed_tasks(bdir):
    a = failed_set(bdir, 7)
    need(0 < len(a) < 10, "--export-fail 0.5 failed %d of 10 tasks" % len(a))
    need(failed_set(bdir, 7) == a, "the same seed failed other tasks")
    need(all(not os.path.exists(os.path.join(bdir, BUCKET, "f/%d.tif" % i)) for i in a),
         "a failed single-file task left its file")


def test_truncated_download(bdir):
    """--fail-truncate applies to object downloads: fewer bytes than promised."""
    blob = bytes(range(256)) * 64
    with open(os.path.join(bdir, BUCKET, "plain.bin"), "wb") as f:
        f.write(blob)
    with emulib.Emulator("--bucket-dir", bdir, "--fail-truncate", "1") as emu:
        conn = emu.connection()
        conn.request("GET", "/download/storage/v1/b/%s/o/plain.bin?alt=media" % BUCKET,
                     headers={"Authorization": "Bearer " + emu.token})
        resp = conn.getresponse()
        need(resp.status == 200 and resp.getheader("Content-Length") == str(len(blob)),
             "status %d length %r" % (resp.status, resp.getheader("Content-Length")))
        try:
            got = resp.read()
            need(False, "read %d of %d bytes without an error" % (len(got), len(blob)))
        except Exception as e:  # http.client.IncompleteRead
            part = getattr(e, "partial", b"")
            need(0 < len(part) < len(blob) and blob.startswith(part), "partial %d" % len(part))
        conn.close()


def main():
    fails = []
    bdir = tempfile.mkdtemp(prefix="eefetch-export-")
    log = os.path.join(bdir, "requests.jsonl")
    try:
        os.makedirs(os.path.join(bdir, BUCKET))
        with emulib.Emulator("--bucket-dir", bdir, "--request-log", log) as emu:
            emulib.run_each([test_split_srtm, test_expression_grid, test_band_types_union,
                             test_nodata_cog_skip_empty, test_max_pixels, test_refused_at_submit,
                             test_missing_bucket, test_dedupe, test_unknown_operation,
                             test_storage], fails, emu, bdir)
            emu.post(OPS + "/NOSUCHOPERATION:cancel", {})
        emulib.run_each([test_request_log], fails, None, bdir, log)
        emulib.run_each([test_states_and_queue, test_failed_tasks, test_truncated_download],
                        fails, bdir)
    finally:
        if os.environ.get("EEFETCH_KEEP_EXPORT_OUTPUT"):
            print("kept", bdir)
        else:
            shutil.rmtree(bdir, ignore_errors=True)
    return emulib.report(fails)


if __name__ == "__main__":
    sys.exit(main())
