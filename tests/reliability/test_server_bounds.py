#!/usr/bin/python3
"""A broken server must not make eefetch wait forever or grow without bound.

Each case runs `eefetch run` (rellib's 512 x 512 int16 SRTM download, 56
tiles) against a small loopback server written here. It forwards every
request to `eefetch serve` (so getInfo, the image's info and the tiles are
the emulator's) and breaks some pixel answers on the way back:

* retry-after: the first tile answer is 429 with `Retry-After: 999999999`;
  the run waits at most the back-off cap (60 s) and finishes.
* trickle: the first tile answer's body comes at 1 byte/s; it is abandoned
  after the low-speed window (30 s) and fetched again, well before the
  300 s request timeout.
* too big: the first answers of four tiles are a 10 GB Content-Length, a
  gzip bomb (1 GiB of zeros in 1 MB), an endless chunked body and a second
  bomb; each is cut at the tile's bound and retried, the peak RSS of eefetch
  stays under 300 MB (the bound was 256 MiB per answer).
* always too big: one tile answers an endless body every time; the run
  ends with an error naming that tile and the bound.
* type change: from the seventh tile on, answers carry the band as float32
  instead of int16; the run stops with an error naming the band, the tile
  and both types instead of writing widened pixels.

Pixels of the runs that finish are checked against the reference.
"""

import concurrent.futures
import io
import json
import os
import re
import sys
import tempfile
import time
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxylib  # noqa: E402
import rellib  # noqa: E402

ALGORITHMS = os.path.join(rellib.SRC, "data", "algorithms-signatures.json")
RSS_LIMIT_KB = 300 * 1024


def gzip_bomb():
    """1 GiB of zeros, gzip-compressed (about 1 MB)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zero = bytes(1 << 20)
    parts = [c.compress(zero) for _ in range(1024)]
    parts.append(c.flush())
    return b"".join(parts)


def window_of(g):
    """A request's window in pixels of the recipe's grid."""
    a, d = g["affineTransform"], g["dimensions"]
    return (round((a["translateX"] - rellib.AFFINE[2]) / rellib.AFFINE[0]),
            round((a["translateY"] - rellib.AFFINE[5]) / rellib.AFFINE[4]),
            d["width"], d["height"])


# ---- the broken answers -------------------------------------------------

def ee_error(code, message):
    return json.dumps({"error": {"code": code, "message": message, "status": "X"}}).encode()


def retry_after_once(h, n, win, k, headers, data):
    if n != 0:
        return False
    h.send_response(429)
    h.send_header("Retry-After", "999999999")
    h.send_header("Content-Type", "application/json")
    body = ee_error(429, "Quota exceeded (test)")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)
    return True


def trickle_first(h, n, win, k, headers, data):
    if n != 0:
        return False
    h.send_response(200)
    for key, v in headers.items():
        h.send_header(key, v)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.flush()
    for i in range(len(data)):
        h.wfile.write(data[i:i + 1])
        h.wfile.flush()
        time.sleep(1.0)
    return True


def send_endless_chunked(h):
    h.send_response(200)
    h.send_header("Content-Type", "application/octet-stream")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    chunk = b"%x\r\n" % (1 << 16) + bytes(1 << 16) + b"\r\n"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:
        h.wfile.write(chunk)
    h.close_connection = True


def too_big(bomb):
    def mode(h, n, win, k, headers, data):
        if k != 0 or n > 3:
            return False
        if n == 0:          # a 10 GB Content-Length, then data as fast as it goes
            h.send_response(200)
            h.send_header("Content-Type", "application/octet-stream")
            h.send_header("Content-Length", str(10 << 30))
            h.end_headers()
            block = bytes(1 << 16)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 120:
                h.wfile.write(block)
            h.close_connection = True
        elif n == 2:
            send_endless_chunked(h)
        else:               # gzip bomb
            h.send_response(200)
            h.send_header("Content-Type", "application/octet-stream")
            h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(bomb)))
            h.end_headers()
            h.wfile.write(bomb)
        return True
    return mode


def always_too_big(target):
    """Every answer for the window of the third pixel request (kept in target)."""
    def mode(h, n, win, k, headers, data):
        with h.server.lock:
            if n == 2:
                target.append(win)
            if win not in target:
                return False
        send_endless_chunked(h)
        return True
    return mode


def type_change(h, n, win, k, headers, data):
    if n < 6:
        return False
    a = np.load(io.BytesIO(data))
    b = np.zeros(a.shape, dtype=[(rellib.BAND, "<f4")])
    b[rellib.BAND] = a[rellib.BAND].astype(np.float32) + 0.25
    out = io.BytesIO()
    np.save(out, b)
    h.answer(200, headers, out.getvalue())
    return True


# ---- running ------------------------------------------------------------

def run_case(tmp, name, mode, timeout):
    """(exit status or None on time-out, output text, seconds, peak RSS KiB)."""
    d = tempfile.mkdtemp(prefix=name + "-", dir=tmp)
    out = os.path.join(d, "out.tif")
    rec = rellib.recipe(os.path.join(d, "r.lua"), out, workers=4)
    with rellib.server(os.path.join(d, "requests.jsonl")) as emu:
        proxy = proxylib.Proxy(emu, mode, window_of)
        status, text, secs, rss = proxylib.run_through(
            proxy, [rellib.BIN, "run", rec, "--endpoint", proxy.url, "--project", "rel-project",
                    "--algorithms", ALGORITHMS, "--progress", "off"], d, timeout)
    return status, text, secs, rss, out


def main():
    c = rellib.Checker()
    tmp = tempfile.mkdtemp(prefix="eefetch-server-bounds.")
    bomb = gzip_bomb()
    target = []
    cases = [
        ("retry-after", retry_after_once, 150),
        ("trickle", trickle_first, 150),
        ("too-big", too_big(bomb), 150),
        ("always-too-big", always_too_big(target), 200),
        ("type-change", type_change, 150),
    ]
    if sys.argv[1:]:    # a few cases by name, e.g. while changing one bound
        cases = [case for case in cases if case[0] in sys.argv[1:]]
    with concurrent.futures.ThreadPoolExecutor(len(cases)) as ex:
        futs = {name: ex.submit(run_case, tmp, name, mode, limit) for name, mode, limit in cases}
        res = {name: f.result() for name, f in futs.items()}

    for name, (status, text, secs, rss, out) in res.items():
        print("%s: exit %s after %.1f s, peak RSS %d MiB" % (name, status, secs, rss // 1024), flush=True)
        c.check(status is not None, "%s: still running after its time limit" % name)
        c.check(rellib.no_sanitizer_report(text), "%s: sanitizer report: %s" % (name, text[-2000:]))

    if "retry-after" in res:
        status, text, secs, rss, out = res["retry-after"]
        c.check(status == 0 and secs < 110, "retry-after: exit %s after %.0f s: %s" % (status, secs, text[-800:]))
        c.check(status != 0 or rellib.pixels_exact(out), "retry-after: pixels")

    if "trickle" in res:
        status, text, secs, rss, out = res["trickle"]
        c.check(status == 0 and secs < 110, "trickle: exit %s after %.0f s: %s" % (status, secs, text[-800:]))
        c.check(status != 0 or rellib.pixels_exact(out), "trickle: pixels")

    if "too-big" in res:
        status, text, secs, rss, out = res["too-big"]
        c.check(status == 0, "too-big: exit %s: %s" % (status, text[-800:]))
        c.check(status != 0 or rellib.pixels_exact(out), "too-big: pixels")
        c.check(rss < RSS_LIMIT_KB, "too-big: peak RSS %d MiB, want < %d" % (rss // 1024, RSS_LIMIT_KB // 1024))

    if "always-too-big" in res:
        status, text, secs, rss, out = res["always-too-big"]
        tile = target and re.search(r"tile \d+ \(pixels %d,%d size %dx%d\)" % target[0], text)
        bound = re.search(r"larger than (\d+) bytes", text)
        c.check(status not in (None, 0) and tile and bound and int(bound.group(1)) < (1 << 20),
                "always-too-big: want an error naming the tile and the bound, exit %s: %s" % (status, text[-800:]))
        c.check(rss < RSS_LIMIT_KB, "always-too-big: peak RSS %d MiB" % (rss // 1024))
        c.check(not os.path.exists(out), "always-too-big: an output was written")

    if "type-change" in res:
        status, text, secs, rss, out = res["type-change"]
        c.check(status not in (None, 0) and "elevation" in text and "int16" in text and "float32" in text
                and re.search(r"tile \d+", text),
                "type-change: want an error naming band, tile and both types, exit %s: %s" % (status, text[-800:]))
        c.check(not os.path.exists(out), "type-change: an output was written")
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
