"""Quotas, server time and injected faults of the emulator, as a client sees
them over loopback HTTP: the per-project concurrency limit (429 with EE's
body), latency, random 429/500/503, connection resets, truncated bodies, and
that a seed reproduces the same faults."""

import http.client
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402

C = emulib.Checks()
ALG = "/v1/projects/p/algorithms"


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
        C.check(len(ok) + len(limited) == 50, "only 200 and 429: %r" % sorted(r[0] for r in results))
        C.check(len(ok) >= 10, "at least the limit succeeds: %d" % len(ok))
        C.check(len(limited) >= 20, "over the limit gets 429: %d" % len(limited))
        # The admitted requests slept concurrently, not one after another.
        C.check(elapsed < 0.6 * 10 * 0.8, "slow requests ran concurrently (%.2f s)" % elapsed)
        for st, hd, body in limited[:3]:
            C.ee_error(body, 429, "RESOURCE_EXHAUSTED")
            C.check("retry-after" in hd, "429 has Retry-After")
        # Another project has its own quota, and slots come back after use.
        st, _, _ = emu.get("/v1/projects/other-project/algorithms")
        C.check(st == 200, "other project unaffected: %d" % st)
        st, _, _ = emu.get("/v1/projects/busy-project/algorithms")
        C.check(st == 200, "quota slots are released: %d" % st)

    # The default limit is 40: 40 parallel slow requests all succeed.
    with emulib.Emulator("--latency-ms", "400") as emu:
        results = []
        lock = threading.Lock()
        start = threading.Barrier(40)

        def one():
            start.wait()
            r = emu.get(ALG)
            with lock:
                results.append(r[0])

        threads = [threading.Thread(target=one) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        C.check(results.count(200) == 40, "40 concurrent requests under the default limit: %r"
                % sorted(results))


def test_billed_project():
    """The quota counts X-Goog-User-Project when sent, else the path project."""
    with emulib.Emulator("--latency-ms", "1500", "--concurrency", "1") as emu:
        held = []
        t = threading.Thread(target=lambda: held.append(emu.get("/v1/projects/busy-project/algorithms")[0]))
        t.start()
        time.sleep(0.5)
        st, _, body = emu.get("/v1/projects/elsewhere/algorithms",
                              headers={"X-Goog-User-Project": "busy-project"})
        C.check(st == 429, "billed to the busy project by header: %d" % st)
        t.join()
        C.check(held == [200], "the slot holder succeeded: %r" % held)


def test_latency():
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "log.jsonl")
        with emulib.Emulator("--no-auth", "--latency-ms", "300", "--request-log", log) as emu:
            t0 = time.monotonic()
            st, _, _ = emu.get(ALG)
            took = time.monotonic() - t0
            C.check(st == 200 and took >= 0.29, "--latency-ms 300: %.3f s" % took)
            # Token routes are not slowed down or faulted.
            t0 = time.monotonic()
            emu.get("/computeMetadata/v1/instance/service-accounts/default/token")
            C.check(time.monotonic() - t0 < 0.25, "token route has no modelled latency")
        with open(log) as f:
            lines = [json.loads(x) for x in f]
        C.check(lines[0]["ms"] >= 290, "log records the server time: %r" % lines[0]["ms"])


SRTM_PIXELS = "/v1alpha/projects/earthengine-public/assets/USGS/SRTMGL1_003:getPixels"


def srtm_request(width, height):
    """A getPixels body for an SRTM window at its native 1 arc-second grid."""
    s = 1.0 / 3600
    return {"fileFormat": "NPY", "bandIds": ["elevation"],
            "grid": {"affineTransform": {"scaleX": s, "shearX": 0, "translateX": 10.0,
                                         "shearY": 0, "scaleY": -s, "translateY": 46.0},
                     "dimensions": {"width": width, "height": height}}}


def test_work_knobs():
    # Server time per MiB of answer: 1024x512 int16 is 1 MiB (+ the NPY header).
    with emulib.Emulator("--latency-per-mib-ms", "500") as emu:
        t0 = time.monotonic()
        st, _, body = emu.post(SRTM_PIXELS, srtm_request(1024, 512))
        took = time.monotonic() - t0
        C.check(st == 200 and len(body) > 1 << 20, "1 MiB getPixels: %d" % st)
        C.check(took >= 0.49, "--latency-per-mib-ms 500 on 1 MiB: %.3f s" % took)
        t0 = time.monotonic()
        emu.post(SRTM_PIXELS, srtm_request(16, 16))
        C.check(time.monotonic() - t0 < 0.3, "a tiny answer is not slowed down")
    # Server time per image read.
    with emulib.Emulator("--latency-per-image-ms", "400") as emu:
        t0 = time.monotonic()
        st, _, _ = emu.post(SRTM_PIXELS, srtm_request(32, 32))
        took = time.monotonic() - t0
        C.check(st == 200 and took >= 0.39, "--latency-per-image-ms 400: %d, %.3f s" % (st, took))
        t0 = time.monotonic()
        emu.get(ALG)
        C.check(time.monotonic() - t0 < 0.3, "no image, no per-image time")
    # The memory limit reaches the evaluator.
    with emulib.Emulator("--memory-limit", "1M") as emu:
        st, _, body = emu.post(SRTM_PIXELS, srtm_request(1024, 1024))
        C.check(st == 400, "work over --memory-limit: %d" % st)
        if st == 400:
            msg = C.ee_error(body, 400, "INVALID_ARGUMENT")
            C.check(msg == "User memory limit exceeded.", "memory message %r" % msg)
        st, _, _ = emu.post(SRTM_PIXELS, srtm_request(64, 64))
        C.check(st == 200, "small work under --memory-limit: %d" % st)


def statuses(emu, n):
    out = []
    for _ in range(n):
        try:
            st, _, _ = emu.get(ALG)
            out.append(st)
        except (http.client.HTTPException, ConnectionError):
            out.append("drop")
    return out


def test_each_fault():
    with emulib.Emulator("--fail-500", "1") as emu:
        st, _, body = emu.get(ALG)
        C.check(st == 500, "--fail-500 1: %d" % st)
        C.ee_error(body, 500, "INTERNAL")
    with emulib.Emulator("--fail-503", "1") as emu:
        st, _, body = emu.get(ALG)
        C.check(st == 503, "--fail-503 1: %d" % st)
        C.ee_error(body, 503, "UNAVAILABLE")
    with emulib.Emulator("--fail-429", "1") as emu:
        st, hd, body = emu.get(ALG)
        C.check(st == 429, "--fail-429 1: %d" % st)
        C.ee_error(body, 429, "RESOURCE_EXHAUSTED")
        C.check("retry-after" in hd, "random 429 has Retry-After")
    with emulib.Emulator("--fail-reset", "1") as emu:
        for path in (ALG, "/v1/projects/p/assets/USGS/SRTMGL1_003"):
            try:
                st, _, _ = emu.get(path)
                C.check(False, "--fail-reset 1 answered %d" % st)
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    http.client.BadStatusLine):
                pass
        st, _, _ = emu.get("/computeMetadata/v1/instance/service-accounts/default/token")
        C.check(st > 0, "token route answers under --fail-reset")
    with emulib.Emulator("--no-auth", "--fail-truncate", "1") as emu:
        for path in (ALG, "/v1/projects/p/assets/USGS/SRTMGL1_003"):
            conn = emu.connection()
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                C.check(resp.status == 200, "truncated answer status %d" % resp.status)
                promised = int(resp.getheader("Content-Length"))
                try:
                    data = resp.read()
                    C.check(False, "--fail-truncate 1 delivered %d of %d bytes" % (len(data), promised))
                except http.client.IncompleteRead as e:
                    C.check(len(e.partial) < promised, "partial body shorter than Content-Length")
            finally:
                conn.close()


def test_reproducible():
    args = ("--fail-500", "0.25", "--fail-503", "0.15", "--fail-reset", "0.1",
            "--fail-truncate", "0.1")
    with emulib.Emulator("--seed", "42", *args) as emu:
        first = statuses(emu, 40)
    with emulib.Emulator("--seed", "42", *args) as emu:
        second = statuses(emu, 40)
    with emulib.Emulator("--seed", "43", *args) as emu:
        other = statuses(emu, 40)
    C.check(first == second, "same seed, same faults: %r vs %r" % (first, second))
    C.check(first != other, "another seed gives other faults")
    C.check({200, 500, 503, "drop"} <= set(first), "a mix of outcomes: %r" % first)
    # Probabilities are honoured roughly (40 requests: wide bounds).
    C.check(3 <= first.count(500) <= 20, "500 rate: %r" % first)


def main():
    test_concurrency_limit()
    test_billed_project()
    test_latency()
    test_work_knobs()
    test_each_fault()
    test_reproducible()
    return C.finish()


if __name__ == "__main__":
    sys.exit(main())
