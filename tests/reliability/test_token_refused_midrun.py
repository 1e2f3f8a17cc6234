"""A token that stops working mid-run and cannot be refreshed ends the run at
once with the credential problem named, instead of every tile retrying a
request that no retry can fix.

EE_ACCESS_TOKEN (a fixed token, which eefetch cannot refresh) from an
emulator whose tokens live 2 seconds: the check call and the first tiles
pass, then every request is refused with 401.
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulator"))
import emulib  # noqa: E402

BIN = emulib.binary()
ALGS = os.path.join(os.environ["EEFETCH_SRC"], "data", "algorithms-signatures.json")

RECIPE = """
download{ image = ee.Image("USGS/SRTMGL1_003"), crs = "EPSG:4326",
  crs_transform = { 1 / 3600, 0, -122.5, 0, -1 / 3600, 37.9 }, dimensions = { 1024, 1024 },
  bands = { "elevation" }, nodata = false, max_tile_bytes = 3 * 64 * 64, workers = 2,
  output = "out.tif" }
"""


def main():
    fails = []
    tmp = tempfile.mkdtemp(prefix="eefetch-token-midrun.")
    log = os.path.join(tmp, "requests.jsonl")
    with open(os.path.join(tmp, "r.lua"), "w") as f:
        f.write(RECIPE)
    with emulib.Emulator("--token-lifetime", "2", "--latency-ms", "20", "--request-log", log) as emu:
        env = dict(os.environ, EE_ACCESS_TOKEN=emu.mint_token(), EEFETCH_TOKEN_URI="")
        t0 = time.monotonic()
        r = subprocess.run([BIN, "run", "r.lua", "--endpoint", emu.url, "--project", "emu-project",
                            "--algorithms", ALGS, "--progress", "off"],
                           capture_output=True, text=True, timeout=300, env=env, cwd=tmp)
        secs = time.monotonic() - t0
    with open(log) as f:
        refused = sum('"status":401' in line for line in f)
    print("exit %d after %.1f s, %d requests refused with 401" % (r.returncode, secs, refused))
    if r.returncode == 0:
        fails.append("the run succeeded although its token expired (%s)" % r.stderr[-300:])
    if "cannot be refreshed" not in r.stderr and "rejected" not in r.stderr:
        fails.append("the error does not name the credential problem: %s" % r.stderr[-500:])
    # Retried, each worker's tile would come back up to 6 times with back-off
    # (about a minute); stopped at once, only the requests in flight meet a 401.
    if refused > 8 or secs > 30:
        fails.append("%d refused requests in %.1f s: the refusal was retried" % (refused, secs))
    for m in fails:
        print("FAIL:", m)
    print("%d failure(s)" % len(fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
