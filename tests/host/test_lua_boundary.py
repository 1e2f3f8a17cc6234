"""C resources at the Lua boundary: a binding that raises half-way (here a
memory error under a small --max-memory, the easiest raise to provoke from a
recipe) frees what it held. Each recipe fails inside the binding, after it
has taken its resources:

- geo.read of a large vector file: the dataset, feature and GeoJSON text
  being pushed (host.ogr_read);
- getInfo of a large answer: the HTTP answer and the parsed JSON tree
  (host.compute, host_json_push);
- the same error caught by pcall in the recipe, which then goes on: the
  next read succeeds under the same budget (the collector released what
  the failed one held).

The status and message are checked in every build; in the sanitizer build
(detect_leaks=1, see tests/CMakeLists.txt) LeakSanitizer must report
nothing, which is what catches a leak.
"""
import json
import os
import subprocess
import sys
import tempfile

BIN = os.environ["EEFETCH_BIN"]
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:", "Segmentation fault", "core dumped")
FEATURES = 20000   # about 4 MiB of GeoJSON text once in Lua


def run(d, name, text, *opts):
    path = os.path.join(d, name + ".lua")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([BIN, "run", path, *opts], cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=300)
    out = p.stdout.decode("utf-8", "replace")
    for mark in SANITIZER_MARKS:
        assert mark not in out, "%s: sanitizer report:\n%s" % (name, out[-4000:])
    return p.returncode, out


def main():
    with tempfile.TemporaryDirectory() as d:
        feats = [{"type": "Feature", "properties": {},
                  "geometry": {"type": "Polygon", "coordinates": [[[x, 1], [x + 1e-3, 1], [x + 1e-3, 1.001], [x, 1.001],
                                                                   [x, 1]]]}}
                 for x in (i * 1e-3 for i in range(FEATURES))]
        with open(os.path.join(d, "big.geojson"), "w") as f:
            json.dump({"type": "FeatureCollection", "features": feats}, f)
        with open(os.path.join(d, "small.geojson"), "w") as f:
            json.dump({"type": "FeatureCollection", "features": feats[:3]}, f)

        st, out = run(d, "ogr", 'local g = geo.read("big.geojson")\nprint(#g)\n', "--max-memory", "2")
        assert st == 1 and "geo.read: not enough memory" in out, (st, out[-2000:])
        print("geo.read: memory error half-way, nothing leaked", flush=True)

        st, out = run(d, "compute", "local v = ee.List.sequence(1, 200000):getInfo()\nprint(#v)\n",
                      "--emulator", "--max-memory", "3")
        assert st == 1 and "not enough memory" in out, (st, out[-2000:])
        print("getInfo: memory error while decoding the answer, nothing leaked", flush=True)

        st, out = run(d, "caught", 'local ok, err = pcall(geo.read, "big.geojson")\n'
                                   'print("caught", ok, err)\n'
                                   'print("then", geo.read("small.geojson") ~= nil)\n', "--max-memory", "2")
        assert st == 0 and "caught\tfalse" in out and "then\ttrue" in out, (st, out[-2000:])
        print("a caught error: the recipe goes on, the box is collected", flush=True)
    print("ok")


if __name__ == "__main__":
    main()
