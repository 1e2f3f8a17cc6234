"""The algorithm list comes from the endpoint once, is cached on disk per
endpoint ($XDG_CACHE_HOME/eefetch/algorithms-<hash>.json), is used from the
cache while fresh (even with the server gone), and is fetched again once it
is older than 24 hours."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ["EEFETCH_SRC"], "tests", "emulator"))
import emulib  # noqa: E402

BIN = emulib.binary()
CODE = 'print(ee.serialize(ee.Image("USGS/SRTMGL1_003"):add(1)))'


def run(endpoint, cache):
    # No credentials from the machine: HOME and the credential variables are
    # emptied, so nothing but the loopback server is ever contacted.
    env = dict(os.environ, XDG_CACHE_HOME=cache, HOME=cache, XDG_CONFIG_HOME=cache)
    for k in ("GOOGLE_APPLICATION_CREDENTIALS", "EE_ACCESS_TOKEN", "CLOUDSDK_CONFIG",
              "GCE_METADATA_HOST", "GCE_METADATA_ROOT"):
        env.pop(k, None)
    return subprocess.run([BIN, "eval", "--endpoint", endpoint, "--project", "my-project", CODE],
                          capture_output=True, text=True, timeout=60, env=env)


with tempfile.TemporaryDirectory() as cache:
    with emulib.Emulator("--no-auth") as emu:
        first = run(emu.url, cache)
        assert first.returncode == 0, first.stderr
        expr = json.loads(first.stdout)
        assert expr["values"]["0"]["functionInvocationValue"]["functionName"] == "Image.add", expr
        files = glob.glob(os.path.join(cache, "eefetch", "algorithms-*.json"))
        assert len(files) == 1, files
        with open(files[0]) as f:
            assert "algorithms/Image.add" in f.read()
        url = emu.url
    # Server gone: the fresh cache answers.
    second = run(url, cache)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    # Expired (25 h old): eefetch fetches again, and says where it failed.
    old = time.time() - 25 * 3600
    os.utime(files[0], (old, old))
    third = run(url, cache)
    assert third.returncode == 1, third
    assert "fetching the algorithm list from " + url in third.stderr, third.stderr
    assert "--algorithms FILE works offline" in third.stderr or "connect" in third.stderr.lower(), third.stderr
    # A different endpoint has its own cache entry.
    with emulib.Emulator("--no-auth") as emu:
        assert run(emu.url, cache).returncode == 0
    assert len(glob.glob(os.path.join(cache, "eefetch", "algorithms-*.json"))) == 2
print("algorithm cache ok")
