"""The REST discovery document (GET /$discovery/rest?version=V and
/discovery/v1/apis/earthengine/V/rest): served for every version on both
paths, rooted at the URL the client used, and in step with the router: every
method it lists answers on its path (never 404). Then googleapiclient, the
official Python client's transport, builds its API from the served document
and calls value.compute, assets.get, assets.listAssets and image.computePixels
through it, as ee.Initialize does."""

import json
import os
import re
import sys
import urllib.parse

import httplib2
from googleapiclient import discovery, errors, model

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402

VERSIONS = ("v1", "v1beta", "v1alpha")
PROJECT = "emulated-project"
SRTM_NAME = "projects/earthengine-public/assets/USGS/SRTMGL1_003"
S2_NAME = "projects/earthengine-public/assets/COPERNICUS/S2_SR_HARMONIZED"
# Methods the emulator serves itself; every other method of the document must
# answer with the error that names it as lacking.
IMPLEMENTED = {
    "projects.algorithms.list", "projects.image.computePixels", "projects.value.compute",
    "projects.assets.get", "projects.assets.listImages", "projects.assets.listAssets",
    "projects.listAssets", "projects.assets.getPixels",
    "projects.thumbnails.create", "projects.thumbnails.getPixels", "projects.maps.create",
    "projects.maps.tiles.get", "projects.image.export", "projects.operations.get",
    "projects.operations.list", "projects.operations.cancel",
}
LACKS = "is an Earth Engine method the emulator lacks"

c = emulib.Checks()


def methods(doc, prefix=""):
    """(id, method dict) of every method, depth first."""
    for name, res in sorted(doc.get("resources", {}).items()):
        for mname, m in sorted(res.get("methods", {}).items()):
            yield m["id"], m
        yield from methods(res, prefix + name + ".")


def sample_value(param, overlong=False):
    """A value for a path parameter that its pattern accepts (overlong: one
    whose project or asset id is longer than the router takes)."""
    pat = param.get("pattern")
    if param.get("type") == "integer":
        return "1"
    if pat is None:
        return "x1"
    known = {"^projects/[^/]+$": "projects/" + PROJECT,
             "^projects/[^/]+/assets/.+$": SRTM_NAME}
    if overlong:
        known = {"^projects/[^/]+$": "projects/" + "p" * 300,
                 "^projects/[^/]+/assets/.+$": "projects/%s/assets/%sa" % (PROJECT, "a/" * 400)}
    if pat in known:
        value = known[pat]
    else:
        body = pat.lstrip("^").rstrip("$")
        value = body.replace("[^/]+", "x1").replace(".+", "a/b")
        value = value.replace("projects/x1", "projects/" + PROJECT, 1)
    c.check(re.fullmatch(pat, value) is not None,
            "sample %r does not match pattern %r" % (value, pat))
    return value


def concrete_path(m, overlong=False):
    def fill(match):
        name = match.group(1).lstrip("+")
        return sample_value(m["parameters"][name], overlong)
    return "/" + re.sub(r"\{([^}]+)\}", fill, m["path"])


def fetch_doc(emu, path, host=None):
    headers = {"Host": host} if host else None
    status, hdrs, body = emu.get(path, headers=headers)
    c.check(status == 200, "GET %s -> %d %r" % (path, status, body[:200]))
    c.check(hdrs.get("content-type", "").startswith("application/json"),
            "GET %s content type %r" % (path, hdrs.get("content-type")))
    return json.loads(body) if status == 200 else None


def check_doc(doc, version, root, where):
    c.check(doc.get("kind") == "discovery#restDescription", "%s: kind %r" % (where, doc.get("kind")))
    c.check(doc.get("name") == "earthengine", "%s: name %r" % (where, doc.get("name")))
    c.check(doc.get("version") == version, "%s: version %r" % (where, doc.get("version")))
    c.check(doc.get("id") == "earthengine:" + version, "%s: id %r" % (where, doc.get("id")))
    for key in ("rootUrl", "baseUrl"):
        c.check(doc.get(key) == root, "%s: %s %r, want %r" % (where, key, doc.get(key), root))
    c.check(doc.get("servicePath") == "", "%s: servicePath %r" % (where, doc.get("servicePath")))
    ids = set()
    for mid, m in methods(doc):
        ids.add(mid)
        for key in ("path", "flatPath"):
            c.check(m[key].startswith(version + "/"), "%s: %s %s %r" % (where, mid, key, m[key]))
    # What the Python client calls for Initialize, getInfo, downloads,
    # thumbnails, maps, listings and exports.
    for want in ("projects.value.compute", "projects.image.computePixels",
                 "projects.algorithms.list", "projects.assets.get", "projects.assets.listImages",
                 "projects.assets.listAssets", "projects.listAssets", "projects.assets.getPixels",
                 "projects.thumbnails.create", "projects.thumbnails.getPixels",
                 "projects.maps.create", "projects.maps.tiles.get", "projects.operations.get",
                 "projects.operations.list", "projects.image.export"):
        c.check("earthengine." + want in ids, "%s: no method %s" % (where, want))


def check_documents(emu):
    root = "http://127.0.0.1:%d/" % emu.port
    for v in VERSIONS:
        for path in ("/$discovery/rest?version=%s&prettyPrint=false" % v,
                     "/discovery/v1/apis/earthengine/%s/rest" % v):
            doc = fetch_doc(emu, path)
            if doc:
                check_doc(doc, v, root, path)
    # The root follows the Host the client used (a name, another port).
    doc = fetch_doc(emu, "/$discovery/rest?version=v1", host="localhost:%d" % emu.port)
    if doc:
        c.check(doc["rootUrl"] == "http://localhost:%d/" % emu.port, "Host: rootUrl %r" % doc["rootUrl"])
    # No version: Google's default, v1.
    doc = fetch_doc(emu, "/$discovery/rest")
    if doc:
        c.check(doc["version"] == "v1", "no version: %r" % doc["version"])
    # A version EE does not have: EE's 404 error body.
    for path in ("/$discovery/rest?version=v2", "/discovery/v1/apis/earthengine/v2/rest"):
        status, _, body = emu.get(path)
        c.check(status == 404, "%s -> %d" % (path, status))
        c.check("v2" in c.ee_error(body, 404, "NOT_FOUND"), "%s: message %r" % (path, body))
    status, _, _ = emu.request("POST", "/$discovery/rest?version=v1", b"{}")
    c.check(status == 405, "POST discovery -> %d" % status)


def check_drift(emu):
    """Every method of every version's document answers on its own path with
    its own HTTP method: never 404 or 405. The emulator's own methods answer
    themselves; the others say which method the emulator lacks."""
    for v in VERSIONS:
        doc = fetch_doc(emu, "/$discovery/rest?version=%s" % v)
        if not doc:
            continue
        for mid, m in methods(doc):
            mid = mid[len("earthengine."):]
            path = concrete_path(m)
            body = b"{}" if m["httpMethod"] in ("POST", "PATCH") else None
            headers = {"Content-Type": "application/json"} if body else None
            status, _, data = emu.request(m["httpMethod"], path, body, headers)
            where = "%s %s %s" % (mid, m["httpMethod"], path)
            # A 404 is the router's only when it says the URL is unknown (an
            # unknown thumbnail or map id is a 404 of the method itself).
            c.check(status != 405 and not (status == 404 and b"was not found on this server" in data),
                    "%s -> %d %r" % (where, status, data[:200]))
            try:
                message = json.loads(data)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = ""
            if mid in IMPLEMENTED:
                c.check(LACKS not in message, "%s: %r" % (where, message))
                # A path the router refuses (an id too long) stays its 404:
                # the emulator has the method, the path is wrong.
                long_path = concrete_path(m, overlong=True)
                status, _, data = emu.request(m["httpMethod"], long_path, body, headers)
                c.check(status == 404 and LACKS.encode() not in data,
                        "%s with an overlong id -> %d %r" % (mid, status, data[:120]))
            else:
                c.check(status == 400, "%s -> %d, want 400" % (where, status))
                c.check(message.startswith(mid + " " + LACKS),
                        "%s: message %r does not name the method" % (where, message))


class BearerHttp:
    """httplib2 with the emulator's bearer token, recording each request URI
    (the role google_auth_httplib2.AuthorizedHttp plays in the EE client)."""

    def __init__(self, token):
        self.http = httplib2.Http(timeout=60)
        self.token = token
        self.uris = []

    def request(self, uri, method="GET", body=None, headers=None, **kw):
        headers = dict(headers or {})
        headers["Authorization"] = "Bearer " + self.token
        self.uris.append((method, uri))
        return self.http.request(uri, method, body=body, headers=headers, **kw)


def build(emu, version, url, raw=False):
    http = BearerHttp(emu.token)
    kw = dict(discoveryServiceUrl=url, http=http, cache_discovery=False)
    if raw:
        kw["model"] = model.RawModel()
    try:   # googleapiclient >= 2 fetches the document only when told to
        service = discovery.build("earthengine", version, static_discovery=False, **kw)
    except TypeError:
        service = discovery.build("earthengine", version, **kw)
    return service, http


def add_expression(a, b):
    return {"result": "0", "values": {"0": {"functionInvocationValue": {
        "functionName": "Number.add",
        "arguments": {"left": {"constantValue": a}, "right": {"constantValue": b}}}}}}


def check_googleapiclient(emu):
    base = "http://127.0.0.1:%d" % emu.port
    # The EE client's discovery URL; googleapiclient fills {apiVersion}.
    svc, http = build(emu, "v1", base + "/$discovery/rest?version={apiVersion}&prettyPrint=false")
    c.check(http.uris and http.uris[0][1].startswith(base + "/$discovery/rest?version=v1"),
            "discovery fetched from %r" % (http.uris[:1],))
    projects = svc.projects()

    res = projects.value().compute(project="projects/" + PROJECT, prettyPrint=False,
                                   body={"expression": add_expression(40, 2)}).execute()
    c.check(res == {"result": 40 + 2}, "value.compute through googleapiclient: %r" % (res,))
    c.check(http.uris[-1] == ("POST", base + "/v1/projects/%s/value:compute?prettyPrint=false&alt=json"
                              % PROJECT), "value.compute request %r" % (http.uris[-1],))

    got = projects.assets().get(name=SRTM_NAME, prettyPrint=False).execute()
    status, _, raw = emu.get("/v1/" + SRTM_NAME)
    c.check(status == 200 and got == json.loads(raw), "assets.get through googleapiclient: %r" % (got,))
    c.check(got.get("id") == "USGS/SRTMGL1_003" and got.get("type") == "IMAGE", "assets.get %r" % (got,))
    # Reserved expansion: the asset name's slashes reach the server as slashes.
    c.check(http.uris[-1][1].startswith(base + "/v1/" + SRTM_NAME + "?"),
            "assets.get request %r" % (http.uris[-1],))

    # Query parameters the document declares (filter and view are what
    # ee.data.listImages / listAssets send).
    flt = 'startTime >= "2023-06-01T00:00:00Z" AND endTime < "2023-06-10T00:00:00Z"'
    got = projects.assets().listAssets(parent=S2_NAME, pageSize=3, filter=flt, view="BASIC").execute()
    q = "pageSize=3&filter=%s&view=BASIC" % urllib.parse.quote(flt)
    status, _, raw = emu.get("/v1/%s:listAssets?%s" % (S2_NAME, q))
    c.check(status == 200 and got == json.loads(raw), "listAssets through googleapiclient: %r" % (got,))
    c.check(len(got.get("assets", [])) == 3, "listAssets: %d assets" % len(got.get("assets", [])))

    # A method the emulator lacks surfaces as an HTTP error naming it.
    try:
        projects.videoThumbnails().create(parent="projects/" + PROJECT, body={}).execute()
        c.check(False, "videoThumbnails.create succeeded")
    except errors.HttpError as e:
        c.check(e.resp.status == 400 and b"projects.videoThumbnails.create " + LACKS.encode() in e.content,
                "videoThumbnails.create: %d %r" % (e.resp.status, e.content[:200]))

    # googleapiclient's own discovery URL form, another version, and the raw
    # model the EE client uses for pixels.
    svc, http = build(emu, "v1alpha", base + "/discovery/v1/apis/{api}/{apiVersion}/rest", raw=True)
    grid = {"crsCode": "EPSG:4326", "dimensions": {"width": 8, "height": 4},
            "affineTransform": {"scaleX": 0.01, "shearX": 0, "translateX": -122.5,
                                "shearY": 0, "scaleY": -0.01, "translateY": 37.6}}
    req = {"expression": {"result": "0", "values": {"0": {"functionInvocationValue": {
        "functionName": "Image.load", "arguments": {"id": {"constantValue": "USGS/SRTMGL1_003"}}}}}},
        "fileFormat": "NPY", "grid": grid}
    got = svc.projects().image().computePixels(project="projects/" + PROJECT, body=req).execute()
    status, _, raw = emu.post("/v1alpha/projects/%s/image:computePixels" % PROJECT, req)
    c.check(status == 200 and got == raw, "computePixels through googleapiclient: %d, %d vs %d bytes"
            % (status, len(got), len(raw)))
    # (googleapiclient 1.7 leaves an empty '?' on a request without query)
    c.check((http.uris[-1][0], http.uris[-1][1].rstrip("?")) ==
            ("POST", base + "/v1alpha/projects/%s/image:computePixels" % PROJECT),
            "computePixels request %r" % (http.uris[-1],))


def main():
    with emulib.Emulator() as emu:
        check_documents(emu)
        check_drift(emu)
        check_googleapiclient(emu)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
