"""Ctrl-C in each place it can land, all read from util/platform's one stop
flag (docs/architecture.md, "Platform"):

- `eefetch run`, two SIGINTs during a download: the engine stops once, the
  second is absorbed (no death by signal), status 1 with the engine's own
  message on how to resume, and the journal is kept.
- The REPL prompt: Ctrl-C abandons the half-typed line, prints nothing
  about an interruption, and does not leak into the next line (a getInfo
  right after it is answered, not aborted).
- The REPL during a download: the line fails with the engine's message
  ("error: ... run the same recipe again to resume"), not the bare
  "interrupted" of a stopped Lua line, and the REPL goes on.

Against `eefetch serve` with latency, so the download is still running when
the signal arrives.
"""
import os
import pty
import signal
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "host"))
import rellib  # noqa: E402
from test_repl import Repl  # noqa: E402

LATENCY_MS = "300"


def run_twice_interrupted(emu, log, d):
    out = os.path.join(d, "twice.tif")
    rec = rellib.recipe(os.path.join(d, "twice.lua"), out, workers=2)
    p = rellib.start(rec, emu)
    reached = rellib.wait_for(lambda: len(rellib.pixel_requests(rellib.read_log(log))) >= 4
                              or p.poll() is not None, 60)
    assert reached and p.poll() is None, "the download ended before it could be interrupted"
    p.send_signal(signal.SIGINT)
    p.send_signal(signal.SIGINT)
    text = p.communicate(timeout=60)[0].decode("utf-8", "replace")
    assert rellib.no_sanitizer_report(text), text[-2000:]
    assert p.returncode == 1, (p.returncode, text[-800:])
    assert "interrupted with" in text and "run the same recipe again to resume" in text, text[-800:]
    assert os.path.exists(out + ".eefetch-journal"), "no journal after two SIGINTs"
    print("run: two SIGINTs, status 1, journal kept", flush=True)


def start_repl(env, url, cwd):
    r = Repl.__new__(Repl)
    r.pid, r.fd = pty.fork()
    if r.pid == 0:
        os.chdir(cwd)
        os.execvpe(rellib.BIN, [rellib.BIN, "repl", "--endpoint", url, "--project", "rel-project",
                                "--progress", "off"], env)
    r.out = b""
    r.expect(b"> ")
    return r


def repl(emu, d):
    inputrc = os.path.join(d, "inputrc")
    with open(inputrc, "w") as f:
        f.write("set enable-bracketed-paste off\n")
    env = dict(os.environ)
    env.update({"HOME": d, "XDG_STATE_HOME": os.path.join(d, "state"), "XDG_CACHE_HOME": os.path.join(d, "cache"),
                "TERM": "xterm", "INPUTRC": inputrc})
    r = start_repl(env, emu.url, d)

    # At the prompt: the line is dropped, nothing was interrupted.
    r.send("error('this line must never run') --")
    r.expect(b"--")
    r.send("\x03")
    r.send("ee.Number(40):add(2):getInfo()\r")
    seen = r.expect(rb"\r?\n42\r?\n> ")
    assert b"interrupted" not in seen and b"never run" not in seen.split(b"\x03")[-1], seen

    # During a download: the engine's message, then the REPL goes on.
    r.send('download{ image = ee.Image("%s"), bands = {"%s"}, crs = "%s", crs_transform = {%s}, '
           'dimensions = {%d, %d}, max_tile_bytes = %d, workers = 2, nodata = false, output = "repl.tif" }\r'
           % (rellib.IMAGE, rellib.BAND, rellib.CRS, ", ".join("%.17g" % v for v in rellib.AFFINE),
              rellib.W, rellib.H, rellib.MAX_TILE_BYTES))
    assert rellib.wait_for(lambda: os.path.exists(os.path.join(d, "repl.tif.eefetch-journal")), 60), \
        "the REPL's download never started"
    r.send("\x03")
    seen = r.expect(rb"\r?\n> ", timeout=60)
    assert b"error: " in seen and b"run the same recipe again to resume" in seen, seen[-800:]
    r.send("1 + 1\r")
    r.expect(rb"\r?\n2\r?\n> ")
    status = r.close()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    print("repl: prompt Ctrl-C dropped the line; download Ctrl-C gave the engine's message", flush=True)


def main():
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "requests.log")
        with rellib.server(log, "--latency-ms", LATENCY_MS) as emu:
            run_twice_interrupted(emu, log, d)
            repl(emu, d)
    print("ok")


if __name__ == "__main__":
    main()
