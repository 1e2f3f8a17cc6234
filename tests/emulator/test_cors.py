"""CORS: what a browser running the official JS client needs from the emulator.

The JS client in a web page sends Authorization, X-Goog-User-Project,
x-goog-api-client and a JSON Content-Type, so the browser first sends a
preflight (OPTIONS with Origin and Access-Control-Request-Method), without
credentials, and then reads the answer only if it names the page's origin.
Earth Engine's front end answers both; so must the emulator, with
authentication required (its default).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402

ORIGIN = "http://localhost:8000"
ASKED = "authorization,content-type,x-goog-api-client,x-goog-user-project"


def raw(emu, method, path, headers, body=None):
    """A request without the emulator's token unless the headers carry one."""
    c = emu.connection()
    try:
        c.request(method, path, body=body, headers=headers)
        resp = c.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        c.close()


def test_preflight(emu, fails):
    for path, method in (("/v1/projects/p/value:compute", "POST"),
                         ("/v1/projects/p/algorithms", "GET"),
                         ("/v1/projects/earthengine-public/assets/USGS/SRTMGL1_003:getPixels",
                          "POST"),
                         ("/token", "POST")):
        st, h, body = raw(emu, "OPTIONS", path, {
            "Origin": ORIGIN, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": ASKED})
        what = "preflight of %s %s" % (method, path)
        if st != 200:
            fails.append("%s: HTTP %d %r" % (what, st, body[:200]))
            continue
        if h.get("access-control-allow-origin") != ORIGIN:
            fails.append("%s: Allow-Origin %r" % (what, h.get("access-control-allow-origin")))
        if method not in h.get("access-control-allow-methods", "").split(","):
            fails.append("%s: Allow-Methods %r" % (what, h.get("access-control-allow-methods")))
        allowed = {x.strip().lower() for x in h.get("access-control-allow-headers", "").split(",")}
        if not set(ASKED.split(",")) <= allowed:
            fails.append("%s: Allow-Headers %r" % (what, h.get("access-control-allow-headers")))
        if "origin" not in h.get("vary", "").lower():
            fails.append("%s: no Vary: Origin" % what)
        if body:
            fails.append("%s: a body %r" % (what, body[:100]))


def test_answers(emu, fails):
    # The real request after the preflight: the answer names the origin and
    # lets the page read EE's own headers.
    st, h, body = raw(emu, "GET", "/v1/projects/p/algorithms",
                      {"Origin": ORIGIN, "Authorization": "Bearer " + emu.token})
    if st != 200 or h.get("access-control-allow-origin") != ORIGIN:
        fails.append("GET algorithms with Origin: %d, Allow-Origin %r" %
                     (st, h.get("access-control-allow-origin")))
    if "x-earth-engine-computation-profile" not in h.get(
            "access-control-expose-headers", "").lower():
        fails.append("Expose-Headers %r" % h.get("access-control-expose-headers"))
    # Errors too: the page must be able to read EE's error message.
    st, h, body = raw(emu, "POST", "/v1/projects/p/value:compute",
                      {"Origin": ORIGIN, "Content-Type": "application/json"},
                      json.dumps({"expression": emulib.expr(emulib.c(1))}))
    if st != 401 or h.get("access-control-allow-origin") != ORIGIN:
        fails.append("401 with Origin: %d, Allow-Origin %r" %
                     (st, h.get("access-control-allow-origin")))
    # Without Origin (not a browser) nothing changes.
    st, h, _ = raw(emu, "GET", "/v1/projects/p/algorithms",
                   {"Authorization": "Bearer " + emu.token})
    if st != 200 or any(k.startswith("access-control-") for k in h):
        fails.append("GET without Origin: %d, CORS headers %r" %
                     (st, [k for k in h if k.startswith("access-control-")]))
    # An OPTIONS that is not a preflight is still a wrong method.
    st, _, _ = raw(emu, "OPTIONS", "/v1/projects/p/value:compute", {})
    if st != 405:
        fails.append("OPTIONS without Origin: %d, want 405" % st)


def test_logged(emu, fails, log_path):
    with open(log_path) as f:
        lines = [json.loads(x) for x in f if x.strip()]
    pre = [x for x in lines if x["method"] == "OPTIONS" and x["status"] == 200]
    if len(pre) != 4:
        fails.append("request log: %d answered preflights, want 4" % len(pre))
    if any(x.get("billed_project") for x in pre):
        fails.append("request log: a preflight used a quota slot")


def main():
    fails = []
    log_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "eefetch-cors-%d.jsonl" % os.getpid())
    try:
        with emulib.Emulator("--request-log", log_path, "--concurrency", "1") as emu:
            emulib.run_each([test_preflight, test_answers], fails, emu, fails)
            test_logged(emu, fails, log_path)
    finally:
        if os.path.exists(log_path):
            os.unlink(log_path)
    return emulib.report(fails)


if __name__ == "__main__":
    sys.exit(main())
