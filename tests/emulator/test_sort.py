"""Collection.limit with a sort key (what the official clients' sort() and
limit(n, property, ascending) send): the emulator orders a collection by a
property, stable, in both directions, compared with an order computed here
from tests/emulator/reference.py."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

BIN = os.environ["EEFETCH_BIN"]
L9 = "LANDSAT/LC09/C02/T1_L2"
START, END = 1685577600000, 1693526400000      # 2023-06-01 .. 2023-09-01


def main():
    fails = []
    snippet = """
local c = ee.ImageCollection("%s"):filterDate("2023-06-01", "2023-09-01")
print(json.encode({
  up = c:sort("CLOUD_COVER"):aggregate_array("system:index"):getInfo(),
  down = c:sort("CLOUD_COVER", false):aggregate_array("system:index"):getInfo(),
  top3 = c:limit(3, "CLOUD_COVER", false):aggregate_array("system:index"):getInfo(),
  first2 = c:limit(2):aggregate_array("system:index"):getInfo(),
}))
""" % L9
    r = subprocess.run([BIN, "eval", "--emulator", snippet], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        print("FAIL: eval:", r.stderr)
        return 1
    got = json.loads(r.stdout.strip().splitlines()[-1])
    members = [m for m in ref.collection(L9) if START <= m["start_ms"] < END]
    index = [m["id"].rsplit("/", 1)[1] for m in members]
    cover = [m["properties"]["CLOUD_COVER"] for m in members]
    order = sorted(range(len(members)), key=lambda i: cover[i])            # stable
    down = sorted(range(len(members)), key=lambda i: -cover[i])            # stable, descending
    want = {"up": [index[i] for i in order], "down": [index[i] for i in down],
            "top3": [index[i] for i in down[:3]], "first2": index[:2]}
    for k, v in want.items():
        if got.get(k) != v:
            fails.append("%s: %r, want %r" % (k, got.get(k), v))
        else:
            print("ok", k)
    for m in fails:
        print("FAIL:", m)
    print("%d failure(s)" % len(fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
