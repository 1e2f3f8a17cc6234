#!/usr/bin/python3
"""Writes the seed inputs of the fuzz corpora into tests/fuzz/corpus/<name>/.

    /usr/bin/python3 tests/fuzz/make_seeds.py

Seeds are valid inputs the decoders and parsers must accept (NPY written by
numpy, GeoTIFFs made by GDAL, EE error bodies, credential files of each
kind, expression graphs) plus a few near misses. Credential files carry a
throwaway RSA key generated here with openssl; no real secret is ever used.
Seeds are named seed-*; files found by fuzzing keep libFuzzer's hash names.
Run it again only to refresh the seeds: it overwrites seed-* files only.
"""

import io
import json
import os
import struct
import subprocess
import tempfile

import numpy as np
from osgeo import gdal

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

DTYPES = ["", "|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<f4", "<f8"]  # spec_dtype order


def write(name, fname, data):
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + fname), "wb") as f:
        f.write(data)


def prefix(w, h, nb, ids=False, affine=False, forced=0):
    """The 4-byte expectation header of the decoder targets (fuzz_tile.h)."""
    return bytes([w - 1, h - 1, nb - 1, (1 if ids else 0) | (2 if affine else 0) | forced << 4])


def npy_seeds():
    rng = np.random.default_rng(1)
    cases = [
        ("u1-1band", 4, 3, ["|u1"]),
        ("mixed-3band", 5, 2, ["|u1", "<i2", "<f4"]),
        ("f8-i4", 3, 3, ["<f8", "<i4"]),
        ("all4", 2, 2, ["<u2", "|i1", "<u4", "<f8"]),
    ]
    for tag, w, h, types in cases:
        dt = np.dtype([("b%d" % i, t) for i, t in enumerate(types)])
        a = np.zeros((h, w), dtype=dt)
        for i in range(len(types)):
            a["b%d" % i] = rng.integers(0, 100, size=(h, w)).astype(types[i])
        buf = io.BytesIO()
        np.save(buf, a)
        body = buf.getvalue()
        forced = DTYPES.index(types[0]) if len(set(types)) == 1 else 0
        write("npy", tag, prefix(w, h, len(types), ids=True, forced=forced) + body)
        write("npy", tag + "-noids", prefix(w, h, len(types)) + body)
    # Format version 2.0 (4-byte header length) and a big-endian field.
    a = np.zeros((2, 3), dtype=[("b0", ">i2")])
    a["b0"] = np.arange(6).reshape(2, 3)
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, version=(2, 0))
    write("npy", "v2-bigendian", prefix(3, 2, 1, ids=True) + buf.getvalue())
    # Near misses: truncated data, wrong shape.
    a = np.zeros((3, 4), dtype=[("b0", "|u1")])
    buf = io.BytesIO()
    np.save(buf, a)
    write("npy", "truncated", prefix(4, 3, 1) + buf.getvalue()[:-3])
    write("npy", "wrong-shape", prefix(3, 4, 1) + buf.getvalue())


def geotiff_seeds():
    gdal.UseExceptions()
    cases = [
        ("byte-1band", 4, 3, [gdal.GDT_Byte], None),
        ("int16-f32", 3, 2, [gdal.GDT_Int16, gdal.GDT_Float32], None),
        ("uint16-deflate", 5, 5, [gdal.GDT_UInt16], "DEFLATE"),
        ("f64-3band-tiled", 16, 16, [gdal.GDT_Float64] * 3, "LZW"),
    ]
    for tag, w, h, types, comp in cases:
        path = "/vsimem/seed.tif"
        opts = ["COMPRESS=" + comp] if comp else []
        if "tiled" in tag:
            opts += ["TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16"]
        # A GeoTIFF has one type for all bands: the first band's type.
        ds = gdal.GetDriverByName("GTiff").Create(path, w, h, len(types), types[0], opts)
        ds.SetGeoTransform([0, 1, 0, 0, 0, -1])
        ds.SetProjection('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]')
        for b in range(len(types)):
            band = ds.GetRasterBand(b + 1)
            band.WriteArray((np.arange(w * h).reshape(h, w) % 50 + b).astype(np.float64))
            band.SetDescription("b%d" % b)
        ds = None
        f = gdal.VSIFOpenL(path, "rb")
        gdal.VSIFSeekL(f, 0, 2)
        n = gdal.VSIFTellL(f)
        gdal.VSIFSeekL(f, 0, 0)
        body = gdal.VSIFReadL(1, n, f)
        gdal.VSIFCloseL(f)
        gdal.Unlink(path)
        write("geotiff", tag, prefix(w, h, len(types), affine=True) + body)
        write("geotiff", tag + "-nocheck", prefix(w, h, len(types)) + body)
    write("geotiff", "truncated", prefix(4, 3, 1) + body[: len(body) // 2])


def errbody_seeds():
    bodies = {
        "size": {"error": {"code": 400, "message": "Total request size (56623104 bytes) must be less than or equal to 50331648 bytes.", "status": "INVALID_ARGUMENT"}},
        "details": {"error": {"code": 403, "message": "Project p is not registered to use Earth Engine.", "status": "PERMISSION_DENIED",
                              "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "r", "domain": "d", "metadata": {}},
                                          {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "x", "url": "https://example.invalid"}]}]}},
        "notfound": {"error": {"code": 404, "message": "Not Found"}},
        "quota": {"error": {"code": 429, "message": "Quota exceeded for quota metric 'Number of read requests'.", "status": "RESOURCE_EXHAUSTED"}},
        "memory": {"error": {"code": 400, "message": "User memory limit exceeded.", "status": "INVALID_ARGUMENT"}},
        "timeout": {"error": {"code": 400, "message": "Computation timed out.", "status": "INVALID_ARGUMENT"}},
        "internal": {"error": {"code": 500, "message": "An internal error has occurred", "status": "INTERNAL"}},
        "oauth": {"error": "invalid_grant", "error_description": "Bad Request"},
        "oauth-bare": {"error": "unauthorized_client"},
        "message-not-string": {"error": {"code": 400, "message": 7}},
    }
    statuses = {"size": 2, "details": 4, "notfound": 5, "quota": 8, "memory": 2, "timeout": 2,
                "internal": 9, "oauth": 2, "oauth-bare": 3, "message-not-string": 2}
    for tag, body in bodies.items():
        write("errbody", tag, bytes([statuses[tag], 255]) + json.dumps(body).encode())
        write("errbody", tag + "-short", bytes([statuses[tag], 7]) + json.dumps(body).encode())
    write("errbody", "html", bytes([11, 80]) + b"<html><body>502 Bad Gateway</body></html>")
    write("errbody", "empty", bytes([10, 20]))
    write("errbody", "binary", bytes([9, 30]) + bytes(range(256)))


def credfile_seeds():
    with tempfile.TemporaryDirectory() as d:
        key = os.path.join(d, "k.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", key], check=True, capture_output=True)
        pem = open(key).read()
        pkcs1 = subprocess.run(["openssl", "rsa", "-in", key, "-traditional"], check=True,
                               capture_output=True, text=True).stdout
    sa = {"type": "service_account", "project_id": "fuzz-project", "private_key_id": "0123abcd",
          "private_key": pem, "client_email": "fuzz@fuzz-project.iam.gserviceaccount.com",
          "client_id": "1234567890", "token_uri": "http://127.0.0.1:1/token"}
    write("credfile", "service-account", json.dumps(sa, indent=2))
    write("credfile", "service-account-pkcs1", json.dumps(dict(sa, private_key=pkcs1)))
    write("credfile", "service-account-badkey", json.dumps(dict(sa, private_key="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")))
    write("credfile", "service-account-noemail", json.dumps({k: v for k, v in sa.items() if k != "client_email"}))
    au = {"type": "authorized_user", "client_id": "fuzz.apps.googleusercontent.com",
          "client_secret": "throwaway-secret", "refresh_token": "1//throwaway-refresh",
          "quota_project_id": "fuzz-project", "account": ""}
    write("credfile", "authorized-user", json.dumps(au))
    ee = {"client_id": "fuzz.apps.googleusercontent.com", "client_secret": "throwaway-secret",
          "refresh_token": "1//throwaway-refresh", "project": "fuzz-project",
          "scopes": ["https://www.googleapis.com/auth/earthengine",
                     "https://www.googleapis.com/auth/cloud-platform"]}
    write("credfile", "ee-user", json.dumps(ee))
    write("credfile", "ee-project-only", json.dumps({"project": "fuzz-project"}))
    write("credfile", "not-json", "refresh_token=abc\n")
    write("credfile", "array", "[1,2,3]")
    write("credfile", "empty", "")
    write("credfile", "wrong-types", json.dumps({"type": 5, "refresh_token": ["x"], "scopes": 3}))


def expr_seeds():
    load = {"functionInvocationValue": {"functionName": "Image.load",
                                        "arguments": {"id": {"constantValue": "USGS/SRTMGL1_003"}}}}
    select = {"result": "0", "values": {"0": {"functionInvocationValue": {"functionName": "Image.select", "arguments": {
        "bandSelectors": {"constantValue": ["elevation"]}, "input": load}}}}}
    poly = {"functionInvocationValue": {"functionName": "GeometryConstructors.Polygon", "arguments": {
        "coordinates": {"constantValue": [[[-122.5, 38.0], [-122.5, 37.5], [-122.0, 37.5], [-122.0, 38.0]]]},
        "evenOdd": {"constantValue": True}}}}
    daterange = {"functionInvocationValue": {"functionName": "DateRange", "arguments": {
        "end": {"constantValue": "2023-06-01"}, "start": {"constantValue": "2023-01-01"}}}}
    s2 = {"functionInvocationValue": {"functionName": "ImageCollection.load",
                                      "arguments": {"id": {"constantValue": "COPERNICUS/S2_SR_HARMONIZED"}}}}
    filtered = {"functionInvocationValue": {"functionName": "Collection.filter", "arguments": {
        "collection": s2,
        "filter": {"functionInvocationValue": {"functionName": "Filter.dateRangeContains", "arguments": {
            "leftValue": daterange, "rightField": {"constantValue": "system:time_start"}}}}}}}
    def call(fn, **args):
        return {"functionInvocationValue": {"functionName": fn, "arguments": args}}
    bounds = call("Filter.intersects", leftField={"constantValue": ".all"},
                  rightValue=call("Feature", geometry=poly))
    median = {"result": "0", "values": {"0": call(
        "reduce.median", collection=call("Collection.filter", collection=filtered, filter=bounds))}}
    mapped = {"result": "0", "values": {
        "1": {"functionInvocationValue": {"functionName": "Image.add", "arguments": {
            "image1": {"functionInvocationValue": {"functionName": "Image.multiply", "arguments": {
                "image1": {"argumentReference": "_MAPPING_VAR_0_0"},
                "image2": {"functionInvocationValue": {"functionName": "Image.constant", "arguments": {"value": {"constantValue": 2.75e-05}}}}}}},
            "image2": {"functionInvocationValue": {"functionName": "Image.constant", "arguments": {"value": {"constantValue": -0.2}}}}}}},
        "0": {"functionInvocationValue": {"functionName": "Collection.map", "arguments": {
            "baseAlgorithm": {"functionDefinitionValue": {"argumentNames": ["_MAPPING_VAR_0_0"], "body": "1"}},
            "collection": {"functionInvocationValue": {"functionName": "ImageCollection.load", "arguments": {"id": {"constantValue": "LANDSAT/LC09/C02/T1_L2"}}}}}}}}}
    dedup = {"result": "0", "values": {
        "1": {"functionInvocationValue": {"functionName": "Image.constant", "arguments": {"value": {"constantValue": 5}}}},
        "0": {"functionInvocationValue": {"functionName": "Image.mask", "arguments": {"image": {"valueReference": "1"}, "mask": {"valueReference": "1"}}}}}}
    strcat = {"result": "0", "values": {"1": {"constantValue": "USGS/SRTMGL1_003"}, "0": {"functionInvocationValue": {
        "functionName": "String.cat", "arguments": {"string1": {"valueReference": "1"}, "string2": {"valueReference": "1"}}}}}}
    number = {"result": "0", "values": {"0": {"functionInvocationValue": {"functionName": "Number.add", "arguments": {
        "left": {"constantValue": 40}, "right": {"integerValue": "2"}}}}}}
    cyclic = {"result": "0", "values": {"0": {"valueReference": "1"}, "1": {"valueReference": "0"}}}
    lists = {"result": "0", "values": {"0": {"arrayValue": {"values": [{"constantValue": 1}, {"dictionaryValue": {"values": {"a": {"constantValue": None}}}}]}}}}
    grid = {"dimensions": {"width": 8, "height": 8},
            "affineTransform": {"scaleX": 0.001, "shearX": 0, "translateX": -122.5, "shearY": 0, "scaleY": -0.001, "translateY": 38.0},
            "crsCode": "EPSG:4326"}
    for tag, e in [("select", select), ("median", median), ("map", mapped), ("dedup", dedup),
                   ("strcat", strcat), ("number", number), ("cyclic", cyclic), ("lists", lists)]:
        write("expr", "value-" + tag, json.dumps({"expression": e}))
    for tag, e in [("select", select), ("median", median), ("dedup", dedup)]:
        for fmt in ["NPY", "GEO_TIFF", "PNG"]:
            write("expr", "pixels-%s-%s" % (tag, fmt.lower()),
                  json.dumps({"expression": e, "fileFormat": fmt, "grid": grid}))
    write("expr", "pixels-bandids", json.dumps({"expression": select, "fileFormat": "NPY", "grid": grid,
                                                "bandIds": ["elevation"]}))
    write("expr", "pixels-huge-grid", json.dumps({"expression": select, "fileFormat": "NPY",
                                                  "grid": dict(grid, dimensions={"width": 100000, "height": 100000})}))
    write("expr", "pixels-negative", json.dumps({"expression": select, "fileFormat": "NPY",
                                                 "grid": dict(grid, dimensions={"width": -1, "height": 4})}))
    write("expr", "not-object", "[1,2]")
    write("expr", "unknown-field", json.dumps({"expresion": number}))


if __name__ == "__main__":
    npy_seeds()
    geotiff_seeds()
    errbody_seeds()
    credfile_seeds()
    expr_seeds()
