"""The REPL driven through a pseudo-terminal: tab completion of methods on a
value, history persisted across runs (HOME/XDG dirs in a temp dir), and
getInfo against the in-process emulator shown as a band table."""
import os
import pty
import re
import select
import sys
import tempfile
import time

BIN = os.environ["EEFETCH_BIN"]


class Repl:
    def __init__(self, env, *args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(BIN, [BIN, "repl", "--emulator", *args], env)
        self.out = b""
        self.expect(b"> ")

    def read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        self.out += data
        return True

    def expect(self, pattern, timeout=30):
        """Waits until pattern (bytes regex) appears after the last mark."""
        end = time.time() + timeout
        rx = re.compile(pattern)
        while time.time() < end:
            m = rx.search(self.out)
            if m:
                seen = self.out[:m.end()]
                self.out = self.out[m.end():]
                return seen
            if not self.read(0.2):
                continue
        raise AssertionError("timed out waiting for %r; got %r" % (pattern, self.out[-2000:]))

    def send(self, s):
        os.write(self.fd, s.encode())

    def close(self, timeout=30):
        """Ctrl-D, then waits (bounded) for the REPL to exit."""
        self.send("\x04")
        end = time.time() + timeout
        try:
            while time.time() < end:
                self.read(0.2)
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    return status
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
            raise AssertionError("the REPL did not exit after Ctrl-D; output: %r" % self.out[-2000:])
        finally:
            os.close(self.fd)


def main():
    with tempfile.TemporaryDirectory() as home:
        inputrc = os.path.join(home, "inputrc")
        with open(inputrc, "w") as f:
            f.write("set enable-bracketed-paste off\n")
        env = dict(os.environ)
        env.update({"HOME": home, "XDG_STATE_HOME": os.path.join(home, "state"),
                    "XDG_CACHE_HOME": os.path.join(home, "cache"), "TERM": "xterm",
                    "INPUTRC": inputrc})
        r = Repl(env)
        print("started", flush=True)
        # A value, then tab completion of its methods: "img:sel" + TAB -> "img:select".
        r.send('img = ee.Image("USGS/SRTMGL1_003")\r')
        r.expect(b"\n> ")
        r.send("img:sel\t")
        r.expect(b"img:select")
        r.send('("elevation")\r')
        # The value is evaluated (getInfo) and shown as a band table.
        seen = r.expect(rb"Image USGS/SRTMGL1_003 [^>]*\n> ")
        text = seen.decode(errors="replace")
        assert "Image USGS/SRTMGL1_003" in text, text
        assert re.search(r"elevation\s+int16\s+EPSG:4326\s+0\.000277", text), text
        # Completion of a class's functions.
        r.send("ee.Geometry.Rect\t")
        r.expect(b"ee.Geometry.Rectangle")
        r.send("\x15")  # clear the line
        # getInfo of a number prints it without boilerplate.
        r.send("ee.Number(40):add(2):getInfo()\r")
        r.expect(rb"\r?\n42\r?\n")
        # A collection is shown as a list of images with dates.
        r.send('ee.ImageCollection("LANDSAT/LC09/C02/T1_L2"):filterDate("2023-01-01", "2023-01-10")\r')
        seen = r.expect(rb"ImageCollection LANDSAT/LC09/C02/T1_L2 \(3 images\)[^>]*\n> ")
        seen = seen.decode(errors="replace")
        assert re.search(r"LC09_044033_20230107\s+2023-01-07 \d\d:\d\d:\d\d", seen), seen
        # An incomplete chunk continues on the next line.
        r.send("function twice(x)\r")
        r.expect(rb">> ")
        r.send("return x * 2 end\r")
        r.expect(rb"\n> ")
        r.send("twice(21)\r")
        r.expect(rb"\r?\n42\r?\n> ")
        # The recipe library's one-line help texts.
        r.send(":help lib.mask.s2_scl\r")
        r.expect(rb"lib.mask.s2_scl\(img, .*SCL class")
        r.send(":help lib\r")
        r.expect(rb"lib.index.ndvi\(img, sensor\)")
        r.expect(rb"\n> ")
        r.send("lib.index.ndvi(ee.Image('x'), 'modis')\r")
        r.expect(rb"unknown sensor 'modis'")
        # Errors are shown and the REPL keeps going.
        r.send("nosuch()\r")
        r.expect(rb"error: stdin:1: attempt to call a nil value")
        r.send(":help Image.select\r")
        r.expect(rb"Image.select\(input, bandSelectors, newNames\?\)")
        r.expect(rb"\n> ")
        status = r.close()
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status

        hist = os.path.join(home, "state", "eefetch", "repl_history")
        with open(hist) as f:
            saved = f.read()
        assert "ee.Number(40):add(2):getInfo()" in saved, saved

        # History persists: a new session recalls the last line with Up.
        r = Repl(env)
        r.send("\x1b[A")
        r.expect(rb":help Image.select")
        r.send("\x15\x1b[A\r")
        r.expect(rb"error: stdin:1: attempt to call a nil value")
        r.expect(rb"\n> ")
        status = r.close()
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    print("repl ok")


if __name__ == "__main__":
    main()
