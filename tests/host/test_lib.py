"""The recipe library's checks (lua/eefetch/lib.lua): misuse gets a message
naming the function, the option and the recipe line; the library is
read-only to recipes; require "eefetch.lib" is the same library. (What each
function serializes is tested by the goldens, tests/host/golden_cases.txt.)"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulator"))
from emulib import report, run_each  # noqa: E402

BIN = os.environ["EEFETCH_BIN"]
ALGS = os.path.join(os.environ["EEFETCH_SRC"], "data", "algorithms-signatures.json")

CASES = [
    # (name, recipe line, text the error must contain)
    ("unknown option", 'lib.mask.s2_scl(ee.Image("a/b"), {snoww = true})',
     "lib.mask.s2_scl: unknown option 'snoww' (options: classes, snow)"),
    ("unknown sensor", 'lib.index.ndvi(ee.Image("a/b"), "modis")',
     "lib.index.ndvi: unknown sensor 'modis'"),
    ("band table", 'lib.index.evi(ee.Image("a/b"), {nir = "B8", red = "B4"})',
     "lib.index.evi: the band table has no 'blue' band name"),
    ("unknown index", 'lib.index.add(ee.Image("a/b"), {"ndvi", "xyz"}, "s2")',
     "lib.index.add: unknown index 'xyz'"),
    ("calendar date", 'lib.composite.calendar(ee.ImageCollection("a/b"), "2023-6-1", "2023-09-01")',
     "lib.composite.calendar: start must be a date 'YYYY-MM-DD', got 2023-6-1"),
    ("calendar season start", 'lib.composite.calendar(ee.ImageCollection("a/b"), "2023-01-01", "2023-09-01", {step = "season"})',
     "seasons start in December, March, June or September"),
    ("percentile range", 'lib.composite.percentile(ee.ImageCollection("a/b"), 150)',
     "lib.composite.percentile: the percentile must be a number in [0, 100]"),
    ("threshold range", 'lib.mask.s2_cloud_score(ee.ImageCollection("a/b"), {threshold = 60})',
     "threshold must be a number in [0, 1]"),
    ("read-only", 'lib.mask.s2_scl = function(img) return img end',
     "lib.mask is read-only (cannot set 's2_scl')"),
]


def run(tmp, text):
    path = os.path.join(tmp, "r.lua")
    with open(path, "w") as f:
        f.write(text)
    return subprocess.run([BIN, "run", path, "--algorithms", ALGS], capture_output=True, text=True,
                          timeout=60)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        def error_case(name, line, want):
            def check():
                r = run(tmp, "local x = 1\n" + line + "\n")
                out = r.stdout + r.stderr
                assert r.returncode != 0, "succeeded: " + out
                assert want in out, "message %r not in %r" % (want, out)
                assert "r.lua:2:" in out, "no recipe line in %r" % out
            check.__name__ = name
            return check

        def same_library():
            r = run(tmp, 'local L = require "eefetch.lib"\n'
                         'print(ee.serialize(L.index.ndvi(ee.Image("a/b"), "s2")) == '
                         'ee.serialize(lib.index.ndvi(ee.Image("a/b"), "s2")))\n')
            assert r.returncode == 0 and r.stdout.strip() == "true", r.stdout + r.stderr

        checks = [error_case(name, line, want) for name, line, want in CASES]
        checks.append(same_library)
        fails = []
        run_each(checks, fails)
        return report(fails)


if __name__ == "__main__":
    sys.exit(main())
