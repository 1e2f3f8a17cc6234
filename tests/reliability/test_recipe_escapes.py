#!/usr/bin/python3
"""A recipe from a stranger reaches no network and destroys no file.

Sandboxed (no --unsafe):
  1. geo.read and `like` read plain local files only: /vsicurl/, /vsis3/,
     URLs, DRIVER:connection strings and inline XML are refused, and a local
     OGR VRT or GDAL_WMS file that points at a server does not reach it.
     Every "server" is a python http.server on 127.0.0.1 that counts the
     requests it gets: it must get none. Under --unsafe the same recipe does
     reach it (so the counter does see GDAL's requests).
  2. outputs, quick-looks (and so cells, journals, stores beside the output)
     stay under the working directory, the recipe's folder or --output-dir:
     an absolute path elsewhere, "../", a symbolic link leading out, are
     refused before any pixel request; overwrite = true replaces only a file
     eefetch wrote, and a folder at the output path is refused before any
     pixel request. --unsafe writes anywhere and replaces anything.
  3. require does not follow a symbolic link out of the recipe's folder.
"""

import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rellib  # noqa: E402

BIN = rellib.BIN
fails = 0

GEOJSON = (b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
           b'"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}}]}')


class Counter(http.server.BaseHTTPRequestHandler):
    """Answers every GET with a small GeoJSON and counts the requests (and
    the connections, which a TLS client makes without a request line)."""
    hits = []
    conns = []

    def setup(self):
        Counter.conns.append(1)
        super().setup()

    def do_GET(self):
        Counter.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/geo+json")
        self.send_header("Content-Length", str(len(GEOJSON)))
        self.end_headers()
        self.wfile.write(GEOJSON)

    def do_HEAD(self):
        Counter.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(GEOJSON)))
        self.end_headers()

    def log_message(self, *args):
        pass


def check(name, cond, detail=""):
    global fails
    if cond:
        print("ok: %s" % name)
    else:
        fails += 1
        print("FAIL: %s %s" % (name, detail))


def run(args, cwd, env=None):
    p = subprocess.run([BIN] + args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=120, env=env)
    out = p.stdout.decode("utf-8", "replace")
    if any(m in out for m in rellib.SANITIZER_MARKS):
        check("no sanitizer report", False, out)
    return p.returncode, out


def network_cases(t, port):
    base = "http://127.0.0.1:%d" % port
    with open(os.path.join(t, "ogr_vsicurl.vrt"), "w") as f:
        f.write('<OGRVRTDataSource><OGRVRTLayer name="a"><SrcDataSource>/vsicurl/%s/a.geojson'
                '</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>' % base)
    with open(os.path.join(t, "ogr_http.vrt"), "w") as f:
        f.write('<OGRVRTDataSource><OGRVRTLayer name="a"><SrcDataSource>%s/b.geojson'
                '</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>' % base)
    with open(os.path.join(t, "wms.xml"), "w") as f:
        f.write('<GDAL_WMS><Service name="WMS"><Version>1.1.1</Version><ServerUrl>%s/wms?</ServerUrl>'
                '<Layers>x</Layers><SRS>EPSG:4326</SRS></Service><DataWindow><UpperLeftX>-180</UpperLeftX>'
                '<UpperLeftY>90</UpperLeftY><LowerRightX>180</LowerRightX><LowerRightY>-90</LowerRightY>'
                '<SizeX>360</SizeX><SizeY>180</SizeY></DataWindow><BlockSizeX>360</BlockSizeX>'
                '<BlockSizeY>180</BlockSizeY></GDAL_WMS>' % base)
    inline = ('<OGRVRTDataSource><OGRVRTLayer name=\\"a\\"><SrcDataSource>%s/c.geojson</SrcDataSource>'
              '</OGRVRTLayer></OGRVRTDataSource>' % base)
    like = ('download{ image = ee.Image(1), like = "%s", bands = {"constant"}, output = "like.tif" }')
    # (name, recipe text, expected message when sandboxed, whether --unsafe reaches the server)
    cases = [
        ("geo.read /vsicurl/", 'print(geo.read("/vsicurl/%s/a.geojson"))' % base, "GDAL virtual file systems", True),
        ("geo.read /vsis3/", 'print(geo.read("/vsis3/bucket/a.geojson"))', "GDAL virtual file systems", True),
        ("geo.read /vsicurl_streaming/", 'print(geo.read("/vsicurl_streaming/%s/a.geojson"))' % base,
         "GDAL virtual file systems", True),
        ("geo.read URL", 'print(geo.read("%s/a.geojson"))' % base, "it is a URL", True),
        ("geo.read WFS:", 'print(geo.read("WFS:%s/wfs"))' % base, "not a local file", True),
        ("geo.read inline XML", 'print(geo.read("%s"))' % inline, "inline XML", True),
        ("geo.read OGR VRT of /vsicurl/", 'print(geo.read("ogr_vsicurl.vrt"))', "", True),
        ("geo.read OGR VRT of a URL", 'print(geo.read("ogr_http.vrt"))', "", True),
        ("like /vsicurl/", like % ("/vsicurl/%s/ref.tif" % base), "GDAL virtual file systems", True),
        ("like WMS:", like % ("WMS:%s/wms?" % base), "connection strings", True),
        ("like GDAL_WMS file", like % "wms.xml", "cannot open", False),
    ]
    env = dict(os.environ)
    # Where /vsis3/ would go: this loopback server, unsigned.
    env.update({"AWS_S3_ENDPOINT": "127.0.0.1:%d" % port, "AWS_HTTPS": "NO", "AWS_VIRTUAL_HOSTING": "FALSE",
                "AWS_NO_SIGN_REQUEST": "YES"})
    for i, (name, text, want, unsafe_reaches) in enumerate(cases):
        rec = os.path.join(t, "net%d.lua" % i)
        with open(rec, "w") as f:
            f.write(text + "\n")
        del Counter.hits[:]
        rc, out = run(["run", rec, "--emulator", "--progress", "off"], t, env)
        check("%s: refused" % name, rc == 1 and want in out and "net%d.lua:1:" % i in out, "(%d) %s" % (rc, out))
        check("%s: no request reached the server" % name, not Counter.hits, repr(Counter.hits))
        if unsafe_reaches:
            del Counter.hits[:]
            run(["run", rec, "--emulator", "--progress", "off", "--unsafe"], t, env)
            check("%s: --unsafe reaches the server" % name, Counter.hits, "(no request)")


DL = """download{ image = ee.Image(7):toByte(), bands = { "constant" }, region = { 10, 10, 10.5, 10.5 },
  crs = "EPSG:4326", pixel_size = 0.01, output = params.out, quicklook = params.ql,
  overwrite = params.ow == "1" or nil, split = params.split == "1", fishnet = params.split == "1" and { rows = 1, cols = 2 } or nil }
"""


def read(path):
    with open(path, "rb") as f:
        return f.read()


def pixel_requests(log):
    return len(rellib.pixel_requests(rellib.read_log(log)))


def output_cases(t):
    work = os.path.join(t, "work")           # the working directory, and the recipe's folder
    other = os.path.join(t, "other")         # somewhere else
    os.makedirs(work)
    os.makedirs(other)
    rec = os.path.join(work, "dl.lua")
    with open(rec, "w") as f:
        f.write(DL)
    os.symlink(other, os.path.join(work, "link"))
    log = os.path.join(t, "requests.log")
    with rellib.server(log) as emu:
        def dl(out, *extra, ql=None, ow=False, split=False, cwd=work):
            args = ["run", rec, "--endpoint", emu.url, "--project", "rel-project", "--progress", "off",
                    "--set", "out=" + out] + list(extra)
            if ql:
                args += ["--set", "ql=" + ql]
            if ow:
                args += ["--set", "ow=1"]
            if split:
                args += ["--set", "split=1"]
            before = pixel_requests(log)
            rc, text = run(args, cwd)
            return rc, text, pixel_requests(log) - before

        def refused(name, out, want, *extra, **kw):
            rc, text, n = dl(out, *extra, **kw)
            check("%s: refused" % name, rc == 1 and want in text and "dl.lua:1:" in text, "(%d) %s" % (rc, text))
            check("%s: no pixel request" % name, n == 0, "(%d requests)" % n)

        # Confinement.
        refused("absolute path elsewhere", os.path.join(other, "a.tif"), "outside the folders a recipe may write to")
        check("absolute path elsewhere: nothing written", not os.listdir(other), repr(os.listdir(other)))
        refused("../", "../a.tif", "outside the folders")
        check("../: nothing written", not os.path.exists(os.path.join(t, "a.tif")))
        refused("a link to a folder elsewhere", "link/a.tif", "outside the folders")
        refused("quicklook elsewhere", "q.tif", "outside the folders", ql=os.path.join(other, "q.png"))
        refused("split cells elsewhere", os.path.join(other, "s.vrt"), "outside the folders", split=True)
        os.symlink(os.path.join(other, "victim"), os.path.join(work, "j.tif.eefetch-journal"))
        refused("a link beside the output leading elsewhere", "j.tif", "symbolic link that leads outside")
        check("nothing written elsewhere", not os.listdir(other), repr(os.listdir(other)))
        rc, text, n = dl("inside.tif")
        check("a relative output in the working directory is written", rc == 0 and n > 0, text)
        rc, text, n = dl(os.path.join(other, "a.tif"), "--output-dir", other)
        check("--output-dir allows an absolute path under it", rc == 0 and os.path.exists(os.path.join(other, "a.tif")),
              text)
        rc, text, n = dl("rel.tif", "--output-dir", other)
        check("--output-dir holds relative outputs", rc == 0 and os.path.exists(os.path.join(other, "rel.tif")), text)
        os.makedirs(os.path.join(t, "sub"))
        rc, text, n = dl(os.path.join(work, "fromsub.tif"), cwd=os.path.join(t, "sub"))
        check("the recipe's folder is allowed from another working directory", rc == 0, text)
        rc, text, n = dl(os.path.join(other, "unsafe.tif"), "--unsafe")
        check("--unsafe writes elsewhere", rc == 0 and os.path.exists(os.path.join(other, "unsafe.tif")), text)

        # Overwrite replaces only eefetch's own files; a folder is never an output.
        with open(os.path.join(work, "notes.tif"), "w") as f:
            f.write("precious\n")
        refused("overwrite of a file eefetch did not write", "notes.tif", "overwrite replaces only eefetch's own",
                ow=True)
        check("the file is intact", read(os.path.join(work, "notes.tif")) == b"precious\n")
        os.makedirs(os.path.join(work, "folder.tif"))
        refused("a folder as output, with overwrite", "folder.tif", "is a folder", ow=True)
        refused("a folder as output", "folder.tif", "is a folder")
        with open(os.path.join(work, "cells_r0_c1.tif"), "w") as f:
            f.write("precious\n")
        refused("overwrite of a cell file eefetch did not write", "cells.vrt", "cells_r0_c1.tif exists and was not",
                ow=True, split=True)
        rc, text, n = dl("inside.tif", ow=True)
        check("overwrite replaces eefetch's own output", rc == 0 and n > 0, text)
        with open(os.path.join(work, "photo.png"), "w") as f:
            f.write("precious\n")
        refused("a quicklook over a file eefetch did not write", "ql.tif", "not a preview eefetch made",
                ql="photo.png")
        check("the quicklook's file is intact", read(os.path.join(work, "photo.png")) == b"precious\n")
        rc, text, n = dl("ql2.tif", ql="ql2.png")
        rc2, text2, n2 = dl("ql2.tif", ql="ql2.png", ow=True)
        check("a quicklook eefetch made is replaced", rc == 0 and rc2 == 0 and n2 > 0, text + text2)
        rc, text, n = dl("notes.tif", "--unsafe", ow=True)
        check("--unsafe overwrite replaces any file", rc == 0 and open(os.path.join(work, "notes.tif"), "rb").read(4)
              in (b"II*\x00", b"MM\x00*"), text)


def credentials_cases(t, port):
    """A download's own credentials file names its token endpoint: only
    Google's or a loopback one. Here https://0.0.0.0:PORT, which Linux
    connects to this machine (the counter), so not even the --unsafe run
    leaves it."""
    d = os.path.join(t, "cred")
    os.makedirs(d)
    pem = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout.decode()
    import json
    with open(os.path.join(d, "key.json"), "w") as f:
        json.dump({"type": "service_account", "project_id": "rel-project", "private_key_id": "k1",
                   "private_key": pem, "client_email": "x@rel-project.iam.gserviceaccount.com",
                   "client_id": "1", "token_uri": "https://0.0.0.0:%d/token" % port}, f)
    os.chmod(os.path.join(d, "key.json"), 0o600)
    with open(os.path.join(d, "r.lua"), "w") as f:
        f.write('download{ image = ee.Image(1), bands = { "constant" }, region = { 0, 0, 0.1, 0.1 }, '
                'crs = "EPSG:4326", pixel_size = 0.01, credentials = "key.json", output = "c.tif" }\n')
    log = os.path.join(t, "cred-requests.log")
    with rellib.server(log) as emu:
        args = ["run", os.path.join(d, "r.lua"), "--endpoint", emu.url, "--project", "rel-project",
                "--progress", "off"]
        del Counter.conns[:]
        rc, out = run(args, d)
        check("credentials with a foreign token_uri: refused",
              rc == 1 and "not to Google's token endpoint" in out and "r.lua:1:" in out, out)
        check("credentials with a foreign token_uri: no connection", not Counter.conns, repr(Counter.conns))
        check("credentials with a foreign token_uri: no pixel request", pixel_requests(log) == 0)
        del Counter.conns[:]
        run(args + ["--unsafe"], d)
        check("credentials with a foreign token_uri: --unsafe connects", Counter.conns, "(no connection)")
        for bad in ("/vsicurl/http://127.0.0.1:%d/key.json" % port, "http://127.0.0.1:%d/key.json" % port):
            with open(os.path.join(d, "r2.lua"), "w") as f:
                f.write('download{ image = ee.Image(1), bands = { "constant" }, region = { 0, 0, 0.1, 0.1 }, '
                        'crs = "EPSG:4326", pixel_size = 0.01, credentials = "%s", output = "c2.tif" }\n' % bad)
            del Counter.hits[:]
            rc, out = run(["run", os.path.join(d, "r2.lua")] + args[2:], d)
            check("credentials %s: refused" % bad[:10], rc == 1 and "is not a local file" in out, out)
            check("credentials %s: no request reached the server" % bad[:10], not Counter.hits, repr(Counter.hits))


def require_cases(t):
    r = os.path.join(t, "req")
    outside = os.path.join(t, "outside")
    os.makedirs(os.path.join(r, "lib"))
    os.makedirs(outside)
    with open(os.path.join(outside, "secret.lua"), "w") as f:
        f.write("return { x = 42 }\n")
    os.symlink(os.path.join(outside, "secret.lua"), os.path.join(r, "lib", "s.lua"))
    os.symlink(outside, os.path.join(r, "away"))
    with open(os.path.join(r, "lib", "fine.lua"), "w") as f:
        f.write("return { x = 7 }\n")
    for name, mod in (("a file link", "lib.s"), ("a folder link", "away.secret")):
        rec = os.path.join(r, "r_%s.lua" % mod.replace(".", "_"))
        with open(rec, "w") as f:
            f.write('print("got", require("%s").x)\n' % mod)
        rc, out = run(["run", rec], r)
        check("require through %s: refused" % name, rc == 1 and "outside the recipe's folder" in out, out)
        rc, out = run(["run", rec, "--unsafe"], r)
        check("require through %s: --unsafe follows it" % name, rc == 0 and "got\t42" in out, out)
    rec = os.path.join(r, "r_fine.lua")
    with open(rec, "w") as f:
        f.write('print("got", require("lib.fine").x)\n')
    rc, out = run(["run", rec], t)
    check("require of a module in the recipe's folder", rc == 0 and "got\t7" in out, out)


def main():
    t = tempfile.mkdtemp(prefix="eefetch-escapes-")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        network_cases(t, srv.server_address[1])
        output_cases(t)
        credentials_cases(t, srv.server_address[1])
        require_cases(t)
    finally:
        srv.shutdown()
        shutil.rmtree(t, ignore_errors=True)
    print("%d failure(s)" % fails)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
