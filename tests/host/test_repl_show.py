"""The REPL in a pseudo-terminal against `eefetch serve`: thumbnails drawn in
the terminal (img:show, :show, collections with their dates, kitty mode),
top-level locals that persist between lines, history kept under a state
folder that does not exist yet, Ctrl-C during a running line, and :help with
the algorithm list's descriptions.

Colours are checked against an independent source: the same thumbnail
fetched over HTTP by this script (built the way the JS client's getThumbURL
builds it) and decoded with GDAL, or ref_vis.py's model of Image.visualize.
"""
import base64
import fcntl
import json
import os
import re
import stat
import struct
import sys
import tempfile
import termios

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "emulator"))
from test_repl import Repl  # noqa: E402
import emulib  # noqa: E402
from emulib import c, call, expr, load  # noqa: E402
import ref_vis  # noqa: E402
from osgeo import gdal  # noqa: E402

gdal.UseExceptions()
COLS, ROWS = 60, 50
SRC = os.environ.get("EEFETCH_SRC", os.path.join(HERE, "..", ".."))

CELL = re.compile(
    rb"\x1b\[38;2;(\d+);(\d+);(\d+)m\x1b\[48;2;(\d+);(\d+);(\d+)m\xe2\x96\x80"   # both halves
    rb"|\x1b\[0m\x1b\[38;2;(\d+);(\d+);(\d+)m\xe2\x96\x80"                        # upper only
    rb"|\x1b\[0m\x1b\[38;2;(\d+);(\d+);(\d+)m\xe2\x96\x84"                        # lower only
    rb"|\x1b\[0m ")                                                               # neither
LINE = re.compile(rb"((?:" + CELL.pattern + rb")+)\x1b\[0m\r?\n")


def cells(text):
    """Half-block rows -> list of pixel rows, each pixel (r, g, b) or None."""
    rows = []
    for m in LINE.finditer(text):
        top, bottom = [], []
        for cm in CELL.finditer(m.group(1)):
            g = cm.groups()
            if g[0] is not None:
                top.append(tuple(int(x) for x in g[0:3]))
                bottom.append(tuple(int(x) for x in g[3:6]))
            elif g[6] is not None:
                top.append(tuple(int(x) for x in g[6:9]))
                bottom.append(None)
            elif g[9] is not None:
                top.append(None)
                bottom.append(tuple(int(x) for x in g[9:12]))
            else:
                top.append(None)
                bottom.append(None)
        rows += [top, bottom]
    return rows


def png_pixels(png):
    """PNG bytes -> (w, h, pixel(x, y) -> (r, g, b) or None when alpha < 128)."""
    gdal.FileFromMemBuffer("/vsimem/t.png", png)
    ds = gdal.Open("/vsimem/t.png")
    a = ds.ReadAsArray()
    n, w, h = ds.RasterCount, ds.RasterXSize, ds.RasterYSize
    ds = None
    gdal.Unlink("/vsimem/t.png")
    if n == 1:
        a = a.reshape(1, h, w)

    def px(x, y):
        if n in (2, 4) and a[n - 1, y, x] < 128:
            return None
        if n <= 2:
            return (int(a[0, y, x]),) * 3
        return tuple(int(v) for v in a[:3, y, x])
    return w, h, px


def expected_rows(png, cols, rows):
    """The pixels the REPL should draw: nearest-neighbour scaling to fit
    cols - 1 cells across and (rows - 3) * 2 pixels down."""
    w, h, px = png_pixels(png)
    s = min(1.0, (cols - 1) / w, (rows - 3) * 2 / h)
    dw, dh = max(1, int(w * s)), max(1, int(h * s))
    out = [[px(int((x + 0.5) * w / dw), int((y + 0.5) * h / dh)) for x in range(dw)] for y in range(dh)]
    if dh % 2:
        out.append([None] * dw)
    return out


def thumbnail(emu, node):
    """thumbnails.create + getPixels, as getThumbURL({format: 'png'})."""
    st, _, body = emu.post("/v1/projects/test-project/thumbnails", {"expression": expr(node), "fileFormat": "PNG"})
    assert st == 200, body
    st, _, png = emu.get("/v1/" + json.loads(body)["name"] + ":getPixels")
    assert st == 200, png[:300]
    return png


def rect(w, s, e, n):
    return call("GeometryConstructors.Polygon", coordinates=c([[[w, n], [w, s], [e, s], [e, n]]]),
                evenOdd=c(True))


def thumb_graph(image, region, dims, **vis):
    """getThumbURL's graph: clipToBoundsAndScale, then visualize."""
    img = call("Image.clipToBoundsAndScale", input=image, geometry=region, maxDimension=c(dims))
    return call("Image.visualize", image=img, **{k: c(v) for k, v in vis.items()})


def start(env, url, *extra):
    r = Repl.__new__(Repl)
    import pty
    r.pid, r.fd = pty.fork()
    if r.pid == 0:
        os.execvpe(env["EEFETCH_BIN"], [env["EEFETCH_BIN"], "repl", "--endpoint", url,
                                        "--project", "test-project", *extra], env)
    fcntl.ioctl(r.fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    r.out = b""
    r.expect(b"> ")
    return r


def main():
    with tempfile.TemporaryDirectory() as home, emulib.Emulator("--no-auth") as emu:
        inputrc = os.path.join(home, "inputrc")
        with open(inputrc, "w") as f:
            f.write("set enable-bracketed-paste off\nset horizontal-scroll-mode on\n")
        state = os.path.join(home, "fresh", "deeper", "state")
        env = {k: v for k, v in os.environ.items()
               if k not in ("GOOGLE_APPLICATION_CREDENTIALS", "EE_PROJECT", "COLUMNS", "LINES",
                            "KITTY_WINDOW_ID", "TERM_PROGRAM")}
        env.update({"HOME": home, "XDG_STATE_HOME": state, "XDG_CONFIG_HOME": os.path.join(home, "config"),
                    "TERM": "xterm", "INPUTRC": inputrc, "CLOUDSDK_CONFIG": os.path.join(home, "gcloud")})
        env["EEFETCH_BIN"] = os.environ["EEFETCH_BIN"]
        r = start(env, emu.url)

        # Locals persist from line to line; blocks keep theirs; strings are not touched.
        r.send("local a = 2\r")
        r.expect(b"\n> ")
        r.send("a * 3\r")
        r.expect(rb"\r?\n6\r?\n> ")
        r.send('local x, y <const>, s = 1, 2, "local q = 1"\r')
        r.expect(b"\n> ")
        r.send("x + y, s, q\r")
        r.expect(rb'\r?\n3\r?\n"local q = 1"\r?\nnil\r?\n> ')
        r.send("local function fact(n) if n < 2 then return 1 end return n * fact(n - 1) end\r")
        r.expect(b"\n> ")
        r.send("do local inner = 5 end local z\r")
        r.expect(b"\n> ")
        r.send("fact(5), inner, z\r")
        r.expect(rb"\r?\n120\r?\nnil\r?\nnil\r?\n> ")

        # A constant image through a two-colour palette: ref_vis gives its colour.
        pr, pg, pb = ref_vis.palette([1.0], [True], 0, 2, ["ff0000", "00ff00"])
        want = (int(pr[0]), int(pg[0]), int(pb[0]))
        r.send('one = ee.Image(1)\r')
        r.expect(b"\n> ")
        r.send('one:show{min = 0, max = 2, palette = {"ff0000", "00ff00"}, region = {0, 0, 1, 1}, '
               'dimensions = 4}\r')
        seen = r.expect(rb"\x1b\[0m\r?\n> ")
        px = cells(seen)
        assert len(px) == 4 and all(len(row) == 4 for row in px), px
        assert all(p == want for row in px for p in row), (want, px)

        # SRTM north of 59N, half outside its footprint (masked: drawn as the
        # terminal's background), scaled to the terminal's 60 columns.
        region = (-123.0, 59.0, -121.0, 61.0)
        r.send("srtm = ee.Image('USGS/SRTMGL1_003')\r")
        r.expect(b"\n> ")
        r.send(":show srtm, {min = 0, max = 3000, palette = {'000000', 'ffffff'}, region = {%g, %g, %g, %g}, "
               "dimensions = 64}\r" % region)
        seen = r.expect(rb"\x1b\[0m\r?\n> ", timeout=120)
        got = cells(seen)
        png = thumbnail(emu, thumb_graph(load("USGS/SRTMGL1_003"), rect(*region), 64, min=0, max=3000,
                                         palette=["000000", "ffffff"]))
        want_rows = expected_rows(png, COLS, ROWS)
        assert len(got) == len(want_rows) and len(got[0]) == COLS - 1, (len(got), len(got[0]), len(want_rows))
        assert got == want_rows, "half blocks differ from the server's thumbnail"
        colours = {p for row in got for p in row if p}
        masked = sum(p is None for row in got for p in row)
        assert len(colours) > 10 and masked > 0, (len(colours), masked)

        # Kitty graphics: the RGBA pixels themselves.
        r.send(':show one:visualize{min = 0, max = 2, palette = {"ff0000", "00ff00"}}, '
               '{region = {0, 0, 1, 1}, dimensions = 3} --mode kitty\r')
        seen = r.expect(rb"\x1b\\\r?\n> ")
        m = re.search(rb"\x1b_Ga=T,f=32,s=(\d+),v=(\d+),m=0;([A-Za-z0-9+/=]+)\x1b\\", seen)
        assert m and (int(m.group(1)), int(m.group(2))) == (3, 3), seen[-400:]
        assert base64.b64decode(m.group(3)) == bytes(want + (255,)) * 9

        # Sixel: the colour's place in the 6x6x6 cube, defined once, then one
        # band of six pixel rows (three drawn: '?' + 0b111 = 'F').
        r.send(':show one:visualize{min = 0, max = 2, palette = {"ff0000", "00ff00"}}, '
               '{region = {0, 0, 1, 1}, dimensions = 3} --mode sixel\r')
        seen = r.expect(rb"\x1b\\\r?\n> ")
        k = sum(((v * 5 + 127) // 255) * m for v, m in zip(want, (36, 6, 1)))
        lv = [((v * 5 + 127) // 255) * 20 for v in want]
        sixel = (b'\x1bP0;1;0q"1;1;3;3#%d;2;%d;%d;%d#%dFFF$-\x1b\\' % (k, lv[0], lv[1], lv[2], k))
        assert sixel in seen, (sixel, seen[-300:])

        # A collection: its first images side by side, their dates below.
        r.send("l9 = ee.ImageCollection('LANDSAT/LC09/C02/T1_L2'):filterDate('2023-01-01', '2023-01-10')\r")
        r.expect(b"\n> ")
        r.send("l9:show{bands = {'SR_B4', 'SR_B3', 'SR_B2'}, min = 7000, max = 20000, dimensions = 12, count = 3}\r")
        seen = r.expect(rb"\r?\n> ", timeout=120)
        got = cells(seen)
        st, _, body = emu.post(emulib.VALUE_PATH, {"expression": expr(call(
            "Collection.limit", collection=call("Collection.filter", collection=call(
                "ImageCollection.load", id=c("LANDSAT/LC09/C02/T1_L2")), filter=call(
                "Filter.dateRangeContains", leftValue=call("DateRange", start=c("2023-01-01"),
                                                           end=c("2023-01-10")), rightField=c("system:time_start"))),
            limit=c(3)))})
        assert st == 200, body
        ids = [f["id"] for f in json.loads(body)["result"]["features"]]
        dates = ["%s-%s-%s" % (d[:4], d[4:6], d[6:8]) for d in (re.search(r"_(\d{8})$", i).group(1) for i in ids)]
        text = seen.decode("utf-8", "replace")
        assert re.search(r"\n%s\s+%s\s+%s\r?\n" % tuple(dates), text), (dates, text[-300:])
        assert len(got) >= 2 and len(got[0]) > 3 * 10, [len(row) for row in got]

        # Ctrl-C stops a running line; the REPL goes on.
        r.send("while true do end\r")
        import time
        time.sleep(1.0)
        r.send("\x03")
        seen = r.expect(rb"\r?\n> ")
        assert b"interrupted" in seen and b"error" not in seen, seen
        r.send("a + 1\r")
        r.expect(rb"\r?\n3\r?\n> ")
        status = r.close()
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status

        # History went into folders created for it, private.
        hist = os.path.join(state, "eefetch", "repl_history")
        with open(hist) as f:
            assert "local a = 2" in f.read()
        assert stat.S_IMODE(os.stat(os.path.join(state, "eefetch")).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(state).st_mode) == 0o700

        # :help shows the description the algorithm list carries (EE's list
        # has one per algorithm and argument; the emulator's has none).
        with open(os.path.join(SRC, "data", "algorithms-signatures.json")) as f:
            algs = json.load(f)
        for a in algs["algorithms"]:
            if a["name"] == "algorithms/Image.normalizedDifference":
                a["description"] = ("Computes the normalized difference between two bands: "
                                    "(first - second) / (first + second).")
                a["arguments"][1]["description"] = "A list of names of the two bands to use."
        listing = os.path.join(home, "algorithms.json")
        with open(listing, "w") as f:
            json.dump(algs, f)
        r = start(env, emu.url, "--algorithms", listing)
        r.send(":help Image.normalizedDifference\r")
        seen = r.expect(rb"\n> ").decode()
        assert "Image.normalizedDifference(input, bandNames?) -> Image" in seen, seen
        assert re.search(r"Computes the normalized difference between two bands:\s+\(first - second\)", seen), seen
        assert re.search(r"bandNames \(List, optional\)\r?\n\s+A list of names of the two bands", seen), seen
        status = r.close()
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    print("repl show ok")


if __name__ == "__main__":
    main()
