"""Deep and long expression graphs over HTTP (value:compute, computePixels).

EE's limit is on the JSON nesting of an expression (100 levels), not on the
length of a chain: the clients name a value instead of inlining it once the
nesting reaches 50, so a chain of thousands of calls is thousands of shallow
named values, and EE evaluates it. The emulator must do the same, keep
answering EE's 400 beyond 100 levels, and never let a hostile graph (calls
nested thousands deep, an image chain longer than it can render) take down
the server thread. Pixel values are checked against reference.py.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
from emulib import c, call, grid, load, select  # noqa: E402
import reference as ref  # noqa: E402

PROJ = "/v1/projects/test-project"
TOO_DEEP = "Expression nesting is too deep (more than 100 levels)."
chk = emulib.Checks()


def vref(name):
    return {"valueReference": name}


def compute(emu, expression):
    status, _, body = emu.post(PROJ + "/value:compute", {"expression": expression})
    return status, body


def nested_list(levels):
    v = 7
    for _ in range(levels):
        v = [v]
    return v


def number_chain(n):
    """ee.Number(1) + n chained add(1), every call its own named value."""
    values = {"v0": c(1)}
    for i in range(1, n + 1):
        values["v%d" % i] = call("Number.add", left=vref("v%d" % (i - 1)), right=c(1))
    return {"result": "v%d" % n, "values": values}


def nested_calls(n):
    """f0(1) where f_i(x) = f_{i+1}(x) and f_n(x) = x + 1: calls n deep."""
    values = {}
    for i in range(n):
        values["f%d" % i] = {"functionDefinitionValue": {"argumentNames": ["x"], "body": "b%d" % i}}
        values["b%d" % i] = {"functionInvocationValue": {
            "functionReference": "f%d" % (i + 1), "arguments": {"x": {"argumentReference": "x"}}}}
    values["f%d" % n] = {"functionDefinitionValue": {"argumentNames": ["x"], "body": "last"}}
    values["last"] = call("Number.add", left={"argumentReference": "x"}, right=c(1))
    values["r"] = {"functionInvocationValue": {"functionReference": "f0", "arguments": {"x": c(1)}}}
    return {"result": "r", "values": values}


def image_chain(n):
    values = {"i0": select(load(ref.SRTM), ["elevation"])}
    for i in range(1, n + 1):
        values["i%d" % i] = call("Image.add", image1=vref("i%d" % (i - 1)),
                                 image2=call("Image.constant", value=c(1)))
    return {"result": "i%d" % n, "values": values}


AFFINE = [1 / 3600, 0, -122.1, 0, -1 / 3600, 37.8]


def pixels(emu, expression):
    body = {"expression": expression, "fileFormat": "NPY",
            "grid": grid("EPSG:4326", AFFINE, 16, 12)}
    status, _, data = emu.post(PROJ + "/image:computePixels", body)
    return status, data


with emulib.Emulator("--no-auth") as emu:
    # Nesting: 100 levels answer, 101 get EE's 400 (expression, values, the
    # node and the constant's lists: 3 + lists levels).
    st, body = compute(emu, {"result": "0", "values": {"0": c(nested_list(97))}})
    chk.check(st == 200 and json.loads(body)["result"] == nested_list(97),
              "100 levels of nesting: %d %s" % (st, body[:200]))
    st, body = compute(emu, {"result": "0", "values": {"0": c(nested_list(98))}})
    chk.check(st == 400 and chk.ee_error(body, 400) == TOO_DEEP,
              "101 levels of nesting: %d %s" % (st, body[:200]))

    # Deeper than the server parses at all (512): the same 400.
    st, _, body = emu.post(PROJ + "/value:compute",
                           '{"expression":{"result":"0","values":{"0":{"constantValue":%s7%s}}}}'
                           % ("[" * 5000, "]" * 5000))
    chk.check(st == 400 and chk.ee_error(body, 400) == TOO_DEEP,
              "5000 levels of nesting: %d %s" % (st, body[:200]))

    # Long chains of shallow named values evaluate, whatever their length.
    for n in (1000, 20000):
        st, body = compute(emu, number_chain(n))
        chk.check(st == 200 and json.loads(body)["result"] == n + 1,
                  "a %d-call chain of named values: %d %s" % (n, st, body[:200]))

    # Calls nested a few deep are fine; thousands deep is refused, and the
    # server goes on answering.
    st, body = compute(emu, nested_calls(20))
    chk.check(st == 200 and json.loads(body)["result"] == 2, "calls 20 deep: %d %s" % (st, body[:200]))
    st, body = compute(emu, nested_calls(5000))
    chk.check(st == 400 and chk.ee_error(body, 400) == TOO_DEEP,
              "calls 5000 deep: %d %s" % (st, body[:200]))
    st, body = compute(emu, number_chain(3))
    chk.check(st == 200 and json.loads(body)["result"] == 4, "after the hostile graph: %d" % st)

    # A reference cycle through a long chain is still a cycle.
    cyc = number_chain(500)
    cyc["values"]["v0"] = call("Number.add", left=vref("v500"), right=c(1))
    st, body = compute(emu, cyc)
    chk.check(st == 400 and "refers to itself" in chk.ee_error(body, 400),
              "a 500-value cycle: %d %s" % (st, body[:200]))

    # Pixels of a 3000-call image chain: the elevation + 3000.
    st, data = pixels(emu, image_chain(3000))
    if chk.check(st == 200, "3000-call image chain: %d %s" % (st, data[:200])):
        arr = emulib.decode_npy(data)
        elev, mask = ref.sample(ref.SRTM, "elevation", "EPSG:4326", AFFINE, 16, 12)
        chk.check(mask.all() and (arr["elevation"] == elev + 3000).all(),
                  "3000-call image chain: pixels are not the elevation + 3000")
    # An image chain longer than the renderer takes: a 400, not a crash.
    st, data = pixels(emu, image_chain(25000))
    chk.check(st == 400 and "too complex" in chk.ee_error(data, 400),
              "25000-call image chain: %d %s" % (st, data[:200]))
    st, body = compute(emu, number_chain(3))
    chk.check(st == 200, "after the long image chain: %d" % st)

print("%d failure(s)" % len(chk.failures))
sys.exit(chk.finish())
