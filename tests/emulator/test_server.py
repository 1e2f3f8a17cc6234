"""The emulator's HTTP layer: routing, EE error bodies, payload limit,
keep-alive, the concurrency quota, injected faults, the request log and the
serve command's life cycle. Everything goes over real loopback HTTP."""

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402

FAILURES = []
PAYLOAD_MSG = "Request payload size exceeds the limit: 10485760 bytes."


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what)


def ee_error(body, code, status):
    """Checks an EE error body and returns its message."""
    try:
        err = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        check(False, "not an EE error body: %r" % body[:200])
        return ""
    check(err.get("code") == code, "error code %r != %d" % (err.get("code"), code))
    check(err.get("status") == status, "error status %r != %s" % (err.get("status"), status))
    check(isinstance(err.get("message"), str) and err["message"], "error message missing")
    return err.get("message", "")


def test_routing(emu):
    for ver in ("v1", "v1beta", "v1alpha"):
        for project in ("my-project", "earthengine-legacy", "example.com:proj-x"):
            st, hd, body = emu.get("/%s/projects/%s/algorithms?alt=json&prettyPrint=false"
                                   "&key=k&fields=algorithms&quotaUser=u" % (ver, project))
            check(st == 200, "%s algorithms for %s: status %d" % (ver, project, st))
            check(hd.get("content-type", "").startswith("application/json"), "algorithms content type")
            doc = json.loads(body)
            check(isinstance(doc.get("algorithms"), list), "algorithms list shape")
        st, _, body = emu.get("/%s/projects/p/assets/NO/SUCH/ASSET" % ver)
        check(st == 404, "%s unknown asset: %d" % (ver, st))
        msg = ee_error(body, 404, "NOT_FOUND")
        check("NO/SUCH/ASSET" in msg, "404 message names the asset: %r" % msg)

    # Unknown routes: EE-style 404 JSON.
    for path in ("/v2/projects/p/algorithms", "/v1/foo", "/v1/projects/p/assets/X:frobnicate",
                 "/v1/projects/p/widgets", "/", "/v1/projects/"):
        st, _, body = emu.get(path)
        check(st == 404, "GET %s: %d" % (path, st))
        ee_error(body, 404, "NOT_FOUND")

    # Wrong methods: 405 with an EE body (and Allow).
    for method, path in (("GET", "/v1/projects/p/value:compute"),
                         ("POST", "/v1/projects/p/algorithms"),
                         ("GET", "/v1alpha/projects/p/assets/USGS/SRTMGL1_003:getPixels")):
        st, hd, body = emu.request(method, path, body=b"{}" if method == "POST" else None)
        check(st in (404, 405), "%s %s: %d" % (method, path, st))
        if st == 405:
            ee_error(body, 405, json.loads(body)["error"]["status"])
            check("allow" in hd, "405 has an Allow header")

    # An EE method the emulator lacks (DELETE is assets.delete): named, not 405.
    st, _, body = emu.request("DELETE", "/v1/projects/p/assets/USGS/SRTMGL1_003")
    check(st == 400, "DELETE asset: %d" % st)
    msg = ee_error(body, 400, "FAILED_PRECONDITION")
    check(msg.startswith("projects.assets.delete is an Earth Engine method the emulator lacks"),
          "DELETE asset message %r" % msg)


def test_json_errors(emu):
    for path in ("/v1/projects/p/value:compute", "/v1/projects/p/image:computePixels",
                 "/v1alpha/projects/earthengine-public/assets/USGS/SRTMGL1_003:getPixels"):
        st, _, body = emu.post(path, b'{"expression": {"result": ')
        check(st == 400, "truncated JSON to %s: %d" % (path, st))
        msg = ee_error(body, 400, "INVALID_ARGUMENT")
        check(msg.startswith("Invalid JSON payload received."), "JSON error text: %r" % msg)
        st, _, body = emu.post(path, b'{"a": nope}')
        check(st == 400, "bad token JSON: %d" % st)
        msg = ee_error(body, 400, "INVALID_ARGUMENT")
        check("offset" in msg, "JSON error names the offset: %r" % msg)
        st, _, body = emu.post(path, b'[1, 2]')
        check(st == 400, "JSON array body: %d" % st)
        st, _, body = emu.post(path, b'{"a": 1} trailing')
        check(st == 400, "trailing garbage: %d" % st)


def test_payload_limit(emu):
    big = b"{" + b" " * (10485761 - 2) + b"}"
    check(len(big) == 10485761, "payload size")
    st, _, body = emu.post("/v1/projects/p/value:compute", big)
    check(st == 400, "payload over the limit: %d" % st)
    msg = ee_error(body, 400, "INVALID_ARGUMENT")
    check(msg == PAYLOAD_MSG, "payload message: %r" % msg)
    # Exactly at the limit is accepted by the HTTP layer (the handler answers).
    ok = b"{" + b" " * (10485760 - 2) + b"}"
    st, _, body = emu.post("/v1/projects/p/value:compute", ok)
    check(PAYLOAD_MSG.encode() not in body, "payload at the limit must pass the HTTP layer")
    # A client that asks for "100 Continue" is refused before sending the body.
    import socket
    sock = socket.create_connection((emu.host, emu.port), timeout=30)
    try:
        sock.sendall(b"POST /v1/projects/p/value:compute HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 10485761\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        check(resp.status == 400, "Expect: 100-continue over the limit: %d" % resp.status)
        msg = ee_error(resp.read(), 400, "INVALID_ARGUMENT")
        check(msg == PAYLOAD_MSG, "early refusal message: %r" % msg)
    finally:
        sock.close()
    # The connection stays usable after a refused payload.
    conn = emu.connection()
    try:
        st, _, _ = emu.post("/v1/projects/p/value:compute", big, conn=conn)
        check(st == 400, "payload on kept connection: %d" % st)
        st, _, _ = emu.get("/v1/projects/p/algorithms", conn=conn)
        check(st == 200, "request after a refused payload: %d" % st)
    finally:
        conn.close()


def test_keep_alive(emu):
    conn = emu.connection()
    try:
        socks = []
        for i in range(6):
            path = "/v1/projects/p/algorithms" if i % 2 == 0 else "/v1/projects/p/assets/NOPE"
            st, hd, _ = emu.get(path, conn=conn)
            check(st in (200, 404), "keep-alive request %d: %d" % (i, st))
            check(hd.get("connection", "").lower() != "close", "server closed a keep-alive connection")
            socks.append(conn.sock)
        check(all(s is socks[0] and s is not None for s in socks),
              "all requests used one connection")
    finally:
        conn.close()


def test_request_log():
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "requests.jsonl")
        with emulib.Emulator("--no-auth", "--request-log", log) as emu:
            grid = {"affineTransform": {"scaleX": 0.001, "shearX": 0, "translateX": 10.0,
                                        "shearY": 0, "scaleY": -0.001, "translateY": 45.0},
                    "dimensions": {"width": 64, "height": 32}}
            emu.post("/v1alpha/projects/earthengine-public/assets/USGS/SRTMGL1_003:getPixels",
                     {"fileFormat": "NPY", "bandIds": ["elevation"], "grid": grid},
                     headers={"X-Goog-User-Project": "my-billing-project"})
            emu.get("/v1/projects/p/algorithms")
            emu.get("/v1beta/projects/p/nothing-here")
            with open(log) as f:
                lines = [json.loads(line) for line in f if line.strip()]
        check(len(lines) == 3, "three log lines: %d" % len(lines))
        if len(lines) == 3:
            px, alg, nf = lines
            for ln in lines:
                for key in ("time", "method", "path", "project", "status", "bytes", "ms", "fault"):
                    check(key in ln, "log line has %s: %r" % (key, ln))
            check(px["method"] == "POST" and px["project"] == "earthengine-public",
                  "pixel line: %r" % px)
            check(px["asset"] == "USGS/SRTMGL1_003", "pixel line asset")
            check(px.get("billed_project") == "my-billing-project", "billed project %r"
                  % px.get("billed_project"))
            check(alg.get("billed_project") == "p", "path project billed without the header")
            check(px.get("grid") == grid, "pixel line carries the grid: %r" % px.get("grid"))
            check(px.get("width") == 64 and px.get("height") == 32, "pixel line dims")
            check(px.get("bandIds") == ["elevation"], "pixel line bands")
            check(alg["status"] == 200 and alg["fault"] is None, "algorithms line: %r" % alg)
            check(nf["status"] == 404, "not-found line: %r" % nf)


def test_lifecycle():
    exe = emulib.binary()
    out = subprocess.run([exe, "serve", "--help"], capture_output=True, text=True, timeout=20)
    check(out.returncode == 0, "serve --help exits 0")
    for opt in ("--port", "--seed", "--concurrency", "--latency-ms", "--latency-per-mib-ms",
                "--latency-per-image-ms", "--memory-limit", "--fail-500", "--fail-503",
                "--fail-reset", "--fail-truncate", "--request-log", "--asset", "--require-auth",
                "--token-lifetime", "--projects", "--credentials-dir", "--write-credentials"):
        check(opt in out.stdout, "--help documents %s" % opt)
    out = subprocess.run([exe, "serve", "--no-such-option"], capture_output=True, text=True,
                         timeout=20)
    check(out.returncode == 2, "unknown option exits 2 (got %d)" % out.returncode)
    out = subprocess.run([exe, "serve", "--fail-500", "2"], capture_output=True, text=True,
                         timeout=20)
    check(out.returncode == 2, "probability out of range exits 2")

    emu = emulib.Emulator().start()
    check(emu.port and emu.port > 0, "--port 0 picked a port")
    check(emu.url == "http://127.0.0.1:%d" % emu.port, "url %r" % emu.url)
    status = emu.stop()   # SIGTERM; emulib checks the status is 0
    check(status == 0, "SIGTERM exit status %r" % status)

    # IPv6 loopback, when the machine has it.
    import socket
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        probe.bind(("::1", 0))
        probe.close()
        have_v6 = True
    except OSError:
        have_v6 = False
    if have_v6:
        with emulib.Emulator("--bind", "::1") as emu6:
            check(emu6.url == "http://[::1]:%d" % emu6.port, "IPv6 url %r" % emu6.url)
            st, _, _ = emu6.get("/v1/projects/p/algorithms")
            check(st == 200, "request over ::1: %d" % st)
    out = subprocess.run([exe, "serve", "--bind", "localhost"], capture_output=True, text=True,
                         timeout=20)
    check(out.returncode == 1 and "numeric" in out.stderr, "--bind wants a numeric address")

    # SIGINT with an open idle keep-alive connection still stops promptly.
    emu = emulib.Emulator().start()
    conn = emu.connection()
    conn.request("GET", "/v1/projects/p/algorithms")
    conn.getresponse().read()
    t0 = time.monotonic()
    emu.proc.send_signal(signal.SIGINT)
    rc = emu.proc.wait(timeout=20)
    check(rc == 0, "SIGINT exit status %d" % rc)
    check(time.monotonic() - t0 < 10, "stopped promptly with an idle connection")
    conn.close()
    emu.stop()


def main():
    with emulib.Emulator() as emu:
        test_routing(emu)
        test_json_errors(emu)
        test_payload_limit(emu)
        test_keep_alive(emu)
    test_request_log()
    test_lifecycle()
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
