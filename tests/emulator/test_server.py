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
import threading
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
                         ("DELETE", "/v1/projects/p/assets/USGS/SRTMGL1_003"),
                         ("GET", "/v1alpha/projects/p/assets/USGS/SRTMGL1_003:getPixels")):
        st, hd, body = emu.request(method, path, body=b"{}" if method == "POST" else None)
        check(st in (404, 405), "%s %s: %d" % (method, path, st))
        if st == 405:
            ee_error(body, 405, json.loads(body)["error"]["status"])
            check("allow" in hd, "405 has an Allow header")


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


def test_concurrency_limit():
    with emulib.Emulator("--latency-ms", "600", "--concurrency", "10") as emu:
        results = []
        lock = threading.Lock()
        start = threading.Barrier(50)

        def one():
            start.wait()
            r = emu.get("/v1/projects/busy-project/algorithms")
            with lock:
                results.append(r)

        threads = [threading.Thread(target=one) for _ in range(50)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        ok = [r for r in results if r[0] == 200]
        limited = [r for r in results if r[0] == 429]
        check(len(ok) + len(limited) == 50, "only 200 and 429: %r" % sorted(r[0] for r in results))
        check(len(ok) >= 10, "at least the limit succeeds: %d" % len(ok))
        check(len(limited) >= 20, "over the limit gets 429: %d" % len(limited))
        # The 10 admitted requests slept concurrently, not one after another.
        check(elapsed < 0.6 * 10 * 0.8, "slow requests ran concurrently (%.2f s)" % elapsed)
        for st, hd, body in limited[:3]:
            ee_error(body, 429, "RESOURCE_EXHAUSTED")
            check("retry-after" in hd, "429 has Retry-After")
        # Another project has its own quota.
        st, _, _ = emu.get("/v1/projects/other-project/algorithms")
        check(st == 200, "other project unaffected: %d" % st)


def statuses(emu, n):
    out = []
    for _ in range(n):
        try:
            st, _, body = emu.get("/v1/projects/p/algorithms")
            out.append(st)
        except (http.client.HTTPException, ConnectionError):
            out.append("drop")
    return out


def test_faults():
    with emulib.Emulator("--fail-500", "1") as emu:
        st, _, body = emu.get("/v1/projects/p/algorithms")
        check(st == 500, "--fail-500 1: %d" % st)
        ee_error(body, 500, "INTERNAL")
    with emulib.Emulator("--fail-503", "1") as emu:
        st, _, body = emu.get("/v1/projects/p/algorithms")
        check(st == 503, "--fail-503 1: %d" % st)
        ee_error(body, 503, "UNAVAILABLE")
    with emulib.Emulator("--fail-429", "1") as emu:
        st, _, body = emu.get("/v1/projects/p/algorithms")
        check(st == 429, "--fail-429 1: %d" % st)
        ee_error(body, 429, "RESOURCE_EXHAUSTED")
    with emulib.Emulator("--fail-reset", "1") as emu:
        try:
            st, _, _ = emu.get("/v1/projects/p/algorithms")
            check(False, "--fail-reset 1 answered %d" % st)
        except (http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine):
            pass
        # Token endpoints are not subject to faults.
        st, _, _ = emu.get("/computeMetadata/v1/instance/service-accounts/default/token")
        check(st != 0, "metadata token route answers under --fail-reset")
    with emulib.Emulator("--fail-truncate", "1") as emu:
        conn = emu.connection()
        try:
            conn.request("GET", "/v1/projects/p/algorithms")
            resp = conn.getresponse()
            check(resp.status == 200, "truncated answer status %d" % resp.status)
            promised = int(resp.getheader("Content-Length"))
            try:
                data = resp.read()
                check(False, "--fail-truncate 1 delivered %d of %d bytes" % (len(data), promised))
            except http.client.IncompleteRead as e:
                check(len(e.partial) < promised, "partial body shorter than Content-Length")
        finally:
            conn.close()

    # Reproducible: the same seed fails the same requests.
    args = ("--seed", "42", "--fail-500", "0.3", "--fail-503", "0.2")
    with emulib.Emulator(*args) as emu:
        first = statuses(emu, 30)
    with emulib.Emulator(*args) as emu:
        second = statuses(emu, 30)
    with emulib.Emulator("--seed", "43", "--fail-500", "0.3", "--fail-503", "0.2") as emu:
        other = statuses(emu, 30)
    check(first == second, "same seed, same faults: %r vs %r" % (first, second))
    check(first != other, "another seed gives other faults")
    check(set(first) == {200, 500, 503}, "a mix of statuses: %r" % first)


def test_request_log():
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "requests.jsonl")
        with emulib.Emulator("--request-log", log) as emu:
            grid = {"affineTransform": {"scaleX": 0.001, "shearX": 0, "translateX": 10.0,
                                        "shearY": 0, "scaleY": -0.001, "translateY": 45.0},
                    "dimensions": {"width": 64, "height": 32}}
            emu.post("/v1alpha/projects/earthengine-public/assets/USGS/SRTMGL1_003:getPixels",
                     {"fileFormat": "NPY", "bandIds": ["elevation"], "grid": grid})
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
    test_concurrency_limit()
    test_faults()
    test_request_log()
    test_lifecycle()
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
