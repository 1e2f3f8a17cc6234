"""Golden test: eefetch's `ee` serializes every chain of the corpus exactly
as the official JS client does (tests/host/goldens, made by
scripts/gen-goldens.sh). One eefetch run evaluates the whole corpus offline
(--algorithms), then each result is compared as a JSON value."""
import glob
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_compare import canonical, same  # noqa: E402

SRC = os.environ["EEFETCH_SRC"]
BIN = os.environ["EEFETCH_BIN"]
ALGS = os.path.join(SRC, "data", "algorithms-signatures.json")

goldens = []
for path in sorted(glob.glob(os.path.join(SRC, "tests", "host", "goldens", "*.json"))):
    with open(path) as f:
        goldens.append(json.load(f))
assert len(goldens) >= 80, "the corpus has %d cases, expected at least 80" % len(goldens)

lines = ["local function emit(name, fn)",
         "  local ok, r = pcall(function() return ee.serialize(fn()) end)",
         "  print(name .. '\\t' .. (ok and 'OK' or 'ERROR') .. '\\t' .. tostring(r):gsub('\\n', ' '))",
         "end"]
for g in goldens:
    lines.append("emit(%s, function() return %s end)" % (json.dumps(g["name"]), g["lua"]))

with tempfile.TemporaryDirectory() as tmp:
    driver = os.path.join(tmp, "corpus.lua")
    with open(driver, "w") as f:
        f.write("\n".join(lines) + "\n")
    proc = subprocess.run([BIN, "run", driver, "--algorithms", ALGS],
                          capture_output=True, text=True, timeout=120)
if proc.returncode != 0:
    print(proc.stdout)
    print(proc.stderr)
    sys.exit("eefetch run failed with status %d" % proc.returncode)

got = {}
for line in proc.stdout.splitlines():
    name, status, text = line.split("\t", 2)
    got[name] = (status, text)

failures = 0
for g in goldens:
    status, text = got.get(g["name"], ("MISSING", ""))
    if status != "OK":
        failures += 1
        print("FAIL %s: %s %s" % (g["name"], status, text))
        continue
    actual = json.loads(text)
    if not same(actual, g["expression"]):
        failures += 1
        print("FAIL %s: serialization differs\n  lua: %s\n  expected: %s\n  actual:   %s" % (
            g["name"], g["lua"], json.dumps(canonical(g["expression"]), sort_keys=True),
            json.dumps(canonical(actual), sort_keys=True)))

# The comparison must be able to fail: every golden differs from its
# neighbour's serialization.
for a, b in zip(goldens, goldens[1:] + goldens[:1]):
    if same(a["expression"], b["expression"]):
        continue
    status, text = got.get(b["name"], ("MISSING", ""))
    if status == "OK" and same(json.loads(text), a["expression"]):
        failures += 1
        print("FAIL comparator accepted %s for %s" % (b["name"], a["name"]))

print("%d goldens, %d failures" % (len(goldens), failures))
sys.exit(1 if failures else 0)
