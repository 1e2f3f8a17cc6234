#!/usr/bin/python3
"""The eefetch benchmark: W1-W3 against the emulator's EE model, plus GDAL EEDAI on W1.

    /usr/bin/python3 bench/run_bench.py --bin build-bench/eefetch [--quick] [--workdir DIR]
                                        [--rss-big]

Run through scripts/bench.sh, which builds the binary first. Starts
`eefetch serve` with the latency and quota model below, runs each workload with
`eefetch run` under /usr/bin/time -v, reads the emulator's request log, fetches
part of W1 with `gdal_translate` through GDAL's EEDAI driver, then writes
bench/results/<date>-<commit>.json and regenerates the results section of
docs/benchmarks.md. Only loopback is used. Outputs are deleted after each
measurement. Not part of the test run; tests/unit/test_bench_doc.py imports
its pure functions (importing it runs nothing).
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
MIB = 1024.0 * 1024.0
GIB = MIB * 1024.0

# The server model (docs/benchmarks.md, "The model"): EE's default quota of 40
# concurrent requests per project, and per request a base latency plus time
# per MiB of response plus time per image read or reduced.
MODEL = {"concurrency": 40, "latency_ms": 500.0, "latency_per_mib_ms": 250.0,
         "latency_per_image_ms": 50.0}

RSS_WORKERS = 8
# --rss-big: uncompressed W1 at about 20 GiB of raw output for the RSS
# flatness target. 53000 pixels of 2.06 m span 109.2 km, inside the 109.8 km
# Sentinel-2 tile; 53000^2 x 4 bands x 2 B = 20.9 GiB.
RSS_BIG_SIZE = 53000
RSS_BIG_SCALE = 2.06
# Disk the big run needs per byte of raw output: the crash-safe piece store
# and the output being assembled exist side by side until the end.
RSS_BIG_DISK_FACTOR = 2.2
S2_IMAGE = "COPERNICUS/S2_SR_HARMONIZED/20230105T183751_20230105T183750_T10SEG"
W1_BANDS = ["B2", "B3", "B4", "B8"]

# Sizes. Default: the benchmark's required sizes (W1 >= 2 GiB, W2 >= 1 GiB, W3 >= 400 cells);
# quick: small versions of the same workloads for trying things out.
SIZES = {
    # W2 is the whole Sentinel-2 tile (10980 x 10980 x 5 bands, 1.12 GiB).
    "default": {"w1": 16880, "w1_scale": 6.5, "w1_small": 8448, "w2": (10980, 10980),
                "w3": (20, 21, 256), "eedai": 2048},
    "quick": {"w1": 4096, "w1_scale": 6.5, "w1_small": 2048, "w2": (1024, 1024),
              "w3": (10, 10, 256), "eedai": 1024},
}


def log(*a):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *a, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
    return {"nproc": os.cpu_count(), "cpu": model, "memory_gib": round(mem_kb / MIB, 1),
            "kernel": platform.release(), "loadavg_start": os.getloadavg()[0]}


def git(*args):
    r = sh(["git", "-C", SRC] + list(args))
    return r.stdout.strip() if r.returncode == 0 else ""


class Emulator:
    """`eefetch serve` on a free loopback port with the model and a request log."""

    def __init__(self, binary, workdir):
        self.log_path = os.path.join(workdir, "requests.jsonl")
        self.creds = os.path.join(workdir, "creds")
        cmd = [binary, "serve", "--port", "0", "--seed", "1",
               "--concurrency", str(MODEL["concurrency"]),
               "--latency-ms", str(MODEL["latency_ms"]),
               "--latency-per-mib-ms", str(MODEL["latency_per_mib_ms"]),
               "--latency-per-image-ms", str(MODEL["latency_per_image_ms"]),
               "--request-log", self.log_path, "--write-credentials", self.creds]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     stderr=open(os.path.join(workdir, "serve.err"), "w"))
        self.url = None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                break
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                break
        if not self.url:
            self.stop()
            raise SystemExit("the emulator did not start (see %s/serve.err)" % workdir)
        # Wait for the credential files written once the server is up.
        for _ in range(100):
            if os.path.exists(os.path.join(self.creds, "service-account.json")):
                break
            time.sleep(0.1)

    def token(self):
        """An access token from the emulator's token endpoint (refresh-token
        grant with the credentials it wrote), for GDAL's EEDA_BEARER."""
        with open(os.path.join(self.creds, "authorized_user.json")) as f:
            cred = json.load(f)
        body = urllib.parse.urlencode({
            "grant_type": "refresh_token", "client_id": cred["client_id"],
            "client_secret": cred["client_secret"], "refresh_token": cred["refresh_token"]})
        req = urllib.request.Request(cred.get("token_uri") or self.url + "/token",
                                     data=body.encode(), method="POST")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=30) as resp:
            return json.load(resp)["access_token"]

    def log_lines(self):
        try:
            with open(self.log_path) as f:
                return f.readlines()
        except FileNotFoundError:
            return []

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def parse_time_v(text):
    """Wall, user, sys and max RSS from /usr/bin/time -v output."""
    def field(name):
        m = re.search(r"^\s*%s:\s*(.+)$" % re.escape(name), text, re.M)
        return m.group(1).strip() if m else None
    wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)") or "0:0"
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part)
    return {"wall_s": secs, "user_s": float(field("User time (seconds)") or 0),
            "sys_s": float(field("System time (seconds)") or 0),
            "max_rss_mib": int(field("Maximum resident set size (kbytes)") or 0) / 1024.0}


def parse_log_time(s):
    # RFC 3339 as the emulator writes it: the fraction is left out on whole seconds.
    s = s.rstrip("Z")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in s else "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(s, fmt).replace(tzinfo=datetime.timezone.utc).timestamp()


def request_model_ms(model, nbytes, images):
    """Modelled server time of one answered request, in ms (docs/benchmarks.md,
    "The model")."""
    return (model["latency_ms"] + model["latency_per_mib_ms"] * nbytes / MIB
            + model["latency_per_image_ms"] * images)


def ideal_time(sum_ms, longest_ms, concurrency):
    """The model's lower bound on a run's time in seconds, and which bound
    applies. Each request holds a quota slot for its modelled time, so with the
    quota full all the time the work takes sum / concurrency ("quota"); and no
    schedule finishes before its longest single request ("longest_request"),
    which is the larger when a run has few long requests (W2's default run: 16
    requests of 5.75 s against 40 slots)."""
    quota_s = sum_ms / 1000.0 / concurrency
    longest_s = longest_ms / 1000.0
    if longest_s > quota_s:
        return longest_s, "longest_request"
    return quota_s, "quota"


def analyse_requests(lines, images_per_request, model=MODEL):
    """Counts, modelled server time and peak concurrency of one run's requests."""
    pix = [json.loads(x) for x in lines]
    pix = [d for d in pix if d.get("route") in ("image.computePixels", "assets.getPixels")]
    ok = [d for d in pix if d["status"] == 200]
    per_request = [request_model_ms(model, d["bytes"], images_per_request) for d in ok]
    # Requests in flight over time: each spans [answer time - ms, answer time].
    events = []
    for d in pix:
        end = parse_log_time(d["time"])
        events.append((end - d["ms"] / 1000.0, 1))
        events.append((end, -1))
    events.sort()
    cur = peak = 0
    for _, step in events:
        cur += step
        peak = max(peak, cur)
    last = max((parse_log_time(d["time"]) for d in pix), default=None)
    return {
        "pixel_requests": len(pix), "ok": len(ok),
        "http_429": sum(1 for d in pix if d["status"] == 429),
        "other_errors": sum(1 for d in pix if d["status"] not in (200, 429)),
        "response_mib": sum(d["bytes"] for d in ok) / MIB,
        "tile_mib_max": max((d["bytes"] for d in ok), default=0) / MIB,
        "server_ms_model": sum(per_request), "server_ms_model_max": max(per_request, default=0),
        "server_ms_measured": sum(d["ms"] for d in ok),
        "peak_in_flight": peak, "last_answer": last,
    }


def run_eefetch(binary, emu, recipe, sets, out, images_per_request, raw_bytes, label):
    """One `eefetch run` under /usr/bin/time -v; returns its measurements."""
    before = len(emu.log_lines())
    cpu0 = emu.cpu()
    cmd = ["/usr/bin/time", "-v", binary, "run", os.path.join(HERE, "recipes", recipe),
           "--endpoint", emu.url, "--credentials",
           os.path.join(emu.creds, "service-account.json"), "--set", "out=" + out,
           "--output-dir", os.path.dirname(os.path.abspath(out))]
    for k, v in sets.items():
        cmd += ["--set", "%s=%s" % (k, v)]
    env = dict(os.environ)
    # GDAL's block cache defaults to 5 % of RAM; bound it so peak RSS shows
    # eefetch's own memory (docs/engine.md measures the same way).
    env["GDAL_CACHEMAX"] = "64"
    env["NO_PROXY"] = "127.0.0.1,localhost,::1"
    log("%s: %s" % (label, " ".join("%s=%s" % kv for kv in sets.items())))
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    t1 = time.time()
    emu_cpu = emu.cpu() - cpu0
    if r.returncode != 0:
        log("%s FAILED (exit %d): %s" % (label, r.returncode, r.stderr[-2000:]))
        return {"label": label, "error": r.stderr.strip().splitlines()[-1:] or ["exit %d" % r.returncode]}
    summary = {}
    images = None
    for line in r.stdout.splitlines():
        if line.startswith("EEFETCH_BENCH_SUMMARY "):
            summary = json.loads(line.split(" ", 1)[1])
        if line.startswith("EEFETCH_BENCH_IMAGES "):
            images = int(line.split()[1])
    if images_per_request is None:
        images_per_request = images or 1
    tv = parse_time_v(r.stderr)
    rq = analyse_requests(emu.log_lines()[before:], images_per_request)
    out_bytes = os.path.getsize(out) if os.path.exists(out) else 0
    res = workload_result(label, sets, raw_bytes, out_bytes, tv, rq, emu_cpu, summary,
                          images_per_request, t0, t1, os.cpu_count())
    log("%s: %.1f s, %.1f MiB/s, ideal %.1f s (%s, ratio %.2f), %.1f CPU s/GiB, RSS %.0f MiB, "
        "%d requests, %d x 429, %s retries" % (
            label, res["wall_s"], res["mib_per_s"], res["ideal_s"], res["ideal_bound"],
            res["ratio_to_ideal"], res["cpu_s_per_gib"], res["max_rss_mib"],
            rq["pixel_requests"], rq["http_429"], res["retries"]))
    return res


def workload_result(label, sets, raw_bytes, out_bytes, tv, rq, emu_cpu, summary,
                    images_per_request, t0, t1, cores):
    """One workload's figures from its measurements: tv from parse_time_v, rq
    from analyse_requests, t0 / t1 the run's start and end (epoch seconds)."""
    cpu = tv["user_s"] + tv["sys_s"]
    ideal, bound = ideal_time(rq["server_ms_model"], rq["server_ms_model_max"],
                              MODEL["concurrency"])
    fetch_s = (rq["last_answer"] - t0) if rq["last_answer"] else None
    res = {
        "label": label, "settings": sets, "raw_gib": raw_bytes / GIB,
        "output_file_mib": out_bytes / MIB, "wall_s": tv["wall_s"],
        "mib_per_s": raw_bytes / MIB / tv["wall_s"] if tv["wall_s"] else None,
        "cpu_s": cpu, "cpu_s_per_gib": cpu / (raw_bytes / GIB),
        "emulator_cpu_s": emu_cpu, "max_rss_mib": tv["max_rss_mib"],
        "requests": summary.get("requests"), "retries": summary.get("retries"),
        "tiles": summary.get("tiles"), "images_per_request": images_per_request,
        "makespan_splits": summary.get("makespan_splits"),
        "tile_px": (summary.get("tile_width") or 0) * (summary.get("tile_height") or 0),
        "out_bytes_per_px": (raw_bytes / (summary["width"] * summary["height"])
                             if summary.get("width") and summary.get("height") else None),
        "fetch_s": fetch_s, "assemble_s": (t1 - rq["last_answer"]) if rq["last_answer"] else None,
        "ideal_s": ideal, "ideal_bound": bound,
        "ratio_to_ideal": ideal / tv["wall_s"] if tv["wall_s"] else None,
        "fetch_ratio_to_ideal": ideal / fetch_s if fetch_s else None,
        # Average requests in flight while fetching (server time / fetch time):
        # the ideal assumes the quota, 40.
        "mean_in_flight": rq["server_ms_measured"] / 1000.0 / fetch_s if fetch_s else None,
        # What 2 cores can do at best: all CPU spent (client + emulator) spread
        # over every core, or the model's ideal, whichever is longer.
        "machine_bound_s": max(ideal, (cpu + emu_cpu) / cores),
    }
    res.update({k: v for k, v in rq.items() if k != "last_answer"})
    return res


def run_eedai(emu, side, workdir, w1_raw_bytes):
    """gdal_translate through EEDAI: a side x side window of W1's image at 10 m."""
    out = os.path.join(workdir, "eedai.tif")
    env = dict(os.environ)
    env.update({"EEDA_URL": emu.url + "/v1alpha/", "EEDA_BEARER": emu.token(),
                "GDAL_CACHEMAX": "256", "CPL_CURL_VERBOSE": "NO",
                "NO_PROXY": "127.0.0.1,localhost,::1"})
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env.pop(k, None)
    ds = "EEDAI:%s:%s" % (S2_IMAGE, ",".join(W1_BANDS))
    cmd = ["/usr/bin/time", "-v", "gdal_translate", "-q", "-srcwin", "0", "0", str(side),
           str(side), "-co", "TILED=YES", "-co", "COMPRESS=ZSTD", "-co", "BIGTIFF=IF_SAFER",
           ds, out]
    before = len(emu.log_lines())
    log("EEDAI: %dx%d window of %s" % (side, side, S2_IMAGE))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        log("EEDAI FAILED: %s" % r.stderr[-2000:])
        return {"error": r.stderr.strip().splitlines()[-1:]}
    tv = parse_time_v(r.stderr)
    rq = analyse_requests(emu.log_lines()[before:], 1)
    raw = side * side * 2 * len(W1_BANDS)
    rate = raw / MIB / tv["wall_s"]
    res = {"window": [side, side], "raw_mib": raw / MIB, "wall_s": tv["wall_s"],
           "mib_per_s": rate, "cpu_s": tv["user_s"] + tv["sys_s"],
           "max_rss_mib": tv["max_rss_mib"],
           "extrapolated_w1_s": tv["wall_s"] * w1_raw_bytes / raw}
    res.update({k: v for k, v in rq.items() if k != "last_answer"})
    os.remove(out)
    log("EEDAI: %.1f s for %.0f MiB (%.2f MiB/s), %d requests, %d x 429" % (
        tv["wall_s"], raw / MIB, rate, rq["pixel_requests"], rq["http_429"]))
    return res


def run_js_peer(binary, emu, n, scale, workdir, concurrency=40):
    """bench/js_peer.js: the official JS client fetching W1's grid with
    computePixels in the tiles eefetch plans for it (its plan's tile_size),
    `concurrency` requests in flight."""
    node = shutil.which("node")
    folder = os.path.join(os.path.dirname(os.path.abspath(binary)), "js-client")
    if not node:
        return {"error": ["node is not installed (scripts/setup.sh installs it)"]}
    r = subprocess.run(["bash", os.path.join(SRC, "scripts", "setup-js-client.sh"), folder],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": ["the JS client could not be installed: " + r.stderr.strip()[-300:]]}
    out = os.path.join(workdir, "plan.tif")
    r = subprocess.run([binary, "plan", os.path.join(HERE, "recipes", "w1_asset.lua"), "--json",
                        "--endpoint", emu.url, "--credentials",
                        os.path.join(emu.creds, "service-account.json"), "--output-dir", workdir,
                        "--set", "size=%d" % n, "--set", "scale=%g" % scale, "--set", "out=" + out],
                       capture_output=True, text=True)
    plan = [json.loads(x) for x in r.stdout.splitlines() if x.startswith('{"type":"plan"')]
    if r.returncode != 0 or not plan:
        return {"error": ["eefetch plan failed: " + r.stderr.strip()[-300:]]}
    key = os.path.join(emu.creds, "service-account.json")
    with open(key) as f:
        project = json.load(f).get("project_id") or "bench-project"
    cfg = {"base": emu.url, "key": key, "project": project, "image": S2_IMAGE, "bands": W1_BANDS, "crs": "EPSG:32610",
           "transform": [scale, 0, 499960, 0, -scale, 4200000], "width": n, "height": n,
           "tile": plan[0]["tile_size"], "concurrency": concurrency}
    cfg_path = os.path.join(workdir, "js_peer.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    before = len(emu.log_lines())
    log("JS client: %dx%d of W1 in %dx%d tiles, %d in flight" % (n, n, cfg["tile"][0], cfg["tile"][1],
                                                               concurrency))
    env = dict(os.environ, NODE_PATH=os.path.join(folder, "node_modules"),
               NO_PROXY="127.0.0.1,localhost,::1")
    cmd = ["/usr/bin/time", "-v", node, os.path.join(HERE, "js_peer.js"), cfg_path]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [x for x in r.stdout.splitlines() if x.startswith("{")]
    if r.returncode != 0 or not lines:
        log("JS client FAILED: %s" % r.stderr[-1000:])
        return {"error": r.stderr.strip().splitlines()[-1:] or ["no result"]}
    res = json.loads(lines[-1])
    tv = parse_time_v(r.stderr)
    rq = analyse_requests(emu.log_lines()[before:], 1)
    raw = n * n * 2 * len(W1_BANDS)
    res.update({"raw_gib": raw / GIB, "tile": cfg["tile"], "concurrency": concurrency,
                "process_wall_s": tv["wall_s"], "cpu_s": tv["user_s"] + tv["sys_s"],
                "max_rss_mib": tv["max_rss_mib"], "peak_in_flight": rq["peak_in_flight"],
                "mib_per_s": raw / MIB / res["wall_s"]})
    log("JS client: %.1f s fetching (%.1f s with start-up), %d requests, %d x 429" % (
        res["wall_s"], tv["wall_s"], res["requests"], res["http_429"]))
    return res


def scratch_needed_gib(mode, big_raw_bytes):
    """Free space the run needs under its scratch directory, in GiB. Outputs
    are deleted after each measurement, so the largest single run counts."""
    need = 12.0 if mode == "default" else 2.0
    if big_raw_bytes:
        need = max(need, RSS_BIG_DISK_FACTOR * big_raw_bytes / GIB)
    return need


def disk_refusal(path, free_bytes, mode, big_raw_bytes):
    """None when free_bytes under path is enough, else the message that says
    why the run refuses to start."""
    need = scratch_needed_gib(mode, big_raw_bytes)
    free = free_bytes / GIB
    if free >= need:
        return None
    if big_raw_bytes and need > scratch_needed_gib(mode, 0):
        return ("--rss-big needs about %.1f GiB free under %s (%.1f GiB of raw output x %.1f: "
                "the crash-safe piece store plus the output), only %.1f GiB is free; "
                "give --workdir on a larger disk" % (need, path, big_raw_bytes / GIB,
                                                     RSS_BIG_DISK_FACTOR, free))
    return "only %.1f GiB free under %s, the %s run needs about %.0f GiB" % (
        free, path, mode, need)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workdir", default=None, help="scratch directory for outputs")
    ap.add_argument("--only", default="", help="comma-separated subset: w1,rss,eedai,js,w2,w3,profile")
    ap.add_argument("--w2-full", action="store_true",
                    help="W2 at full size (the default now; kept for old command lines)")
    ap.add_argument("--no-profile", action="store_true", help="skip the perf profile")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    ap.add_argument("--docs", action="store_true",
                    help="rewrite docs/benchmarks.md after a --quick run too")
    ap.add_argument("--rss-big", action="store_true",
                    help="also run uncompressed W1 at about 20 GiB (%d x %d at %g m, %d workers) "
                    "for the RSS flatness target; needs %.1f x its raw size free under the "
                    "scratch directory (about 46 GiB) and refuses to start otherwise"
                    % (RSS_BIG_SIZE, RSS_BIG_SIZE, RSS_BIG_SCALE, RSS_WORKERS,
                       RSS_BIG_DISK_FACTOR))
    ap.add_argument("--rss-big-size", type=int, default=RSS_BIG_SIZE, metavar="N",
                    help="side of the --rss-big output in pixels (default %d), to try the "
                    "option out at a small size" % RSS_BIG_SIZE)
    args = ap.parse_args()
    mode = "quick" if args.quick else "default"
    size = dict(SIZES[mode])
    if args.w2_full:
        size["w2"] = (10980, 10980)
    only = set(filter(None, args.only.split(",")))
    if args.rss_big and only:
        only.add("rss")   # the big run is compared with the two RSS runs
    want = lambda k: not only or k in only  # noqa: E731
    big_n = args.rss_big_size
    big_raw = big_n * big_n * 2 * len(W1_BANDS) if args.rss_big else 0
    if args.rss_big and big_n * RSS_BIG_SCALE > 109800:
        raise SystemExit("--rss-big-size %d at %g m leaves the 109.8 km Sentinel-2 tile"
                         % (big_n, RSS_BIG_SCALE))

    scratch = args.workdir or tempfile.gettempdir()
    refusal = disk_refusal(scratch, shutil.disk_usage(scratch).free, mode, big_raw)
    if refusal:
        raise SystemExit(refusal)
    workdir = tempfile.mkdtemp(prefix="eefetch-bench-", dir=args.workdir)

    started = datetime.datetime.now(datetime.timezone.utc)
    result = {"mode": mode, "date": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
              "commit": git("rev-parse", "--short", "HEAD"),
              # Changes to tracked files other than this page and the results.
              "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":!docs/benchmarks.md", ":!bench/results")),
              "machine": machine(), "model": MODEL, "gdal": sh(["gdal-config", "--version"]).stdout.strip(),
              "workloads": {}}
    emu = Emulator(args.bin, workdir)
    log("emulator at %s, scratch %s" % (emu.url, workdir))
    wl = result["workloads"]

    def one(key, recipe, sets, images, raw, label):
        out = os.path.join(workdir, key + ".tif")
        res = run_eefetch(args.bin, emu, recipe, sets, out, images, raw, label)
        for p in (out, out + ".eefetch-journal"):
            if os.path.exists(p):
                os.remove(p)
        shutil.rmtree(out + ".eefetch-parts", ignore_errors=True)
        wl[key] = res
        return res

    try:
        n, sc = size["w1"], size["w1_scale"]
        w1_raw = n * n * 2 * len(W1_BANDS)
        if want("w1"):
            for fmt in ("gtiff", "cog"):
                one("w1_%s_default" % fmt, "w1_asset.lua",
                    {"size": n, "scale": sc, "format": fmt, "compression": "default"}, 1, w1_raw,
                    "W1 %s" % fmt)
            # What a user who sets nothing gets: no `workers` key, beside the
            # 40-worker run above (the quota), in the same run.
            one("w1_gtiff_defaults", "w1_asset.lua",
                {"size": n, "scale": sc, "format": "gtiff", "compression": "default",
                 "workers": "default"}, 1, w1_raw, "W1 gtiff defaults")
        # The uncompressed runs measure CPU per GiB and peak RSS at two sizes
        # (three with --rss-big). All cap the workers at 8, a level each
        # reaches early, so the RSS difference comes from the output size and
        # not from a different number of requests in flight.
        if want("w1") or want("rss"):
            one("w1_gtiff_none", "w1_asset.lua",
                {"size": n, "scale": sc, "format": "gtiff", "compression": "none",
                 "workers": RSS_WORKERS}, 1, w1_raw, "W1 gtiff none")
        if want("rss"):
            m = size["w1_small"]
            one("w1_small_gtiff_none", "w1_asset.lua",
                {"size": m, "scale": sc, "format": "gtiff", "compression": "none",
                 "workers": RSS_WORKERS}, 1, m * m * 2 * len(W1_BANDS), "W1 small gtiff none")
        if args.rss_big:
            # Checked again: the runs before it may have left less space
            # (other users of the disk), and a full disk halfway through a
            # 20 GiB run wastes it.
            refusal = disk_refusal(workdir, shutil.disk_usage(workdir).free, mode, big_raw)
            if refusal:
                log("W1 big: " + refusal)
                wl["w1_big_gtiff_none"] = {"label": "W1 big gtiff none", "error": [refusal]}
            else:
                one("w1_big_gtiff_none", "w1_asset.lua",
                    {"size": big_n, "scale": RSS_BIG_SCALE, "format": "gtiff",
                     "compression": "none", "workers": RSS_WORKERS}, 1, big_raw,
                    "W1 big gtiff none")
        if want("eedai"):
            result["eedai_w1"] = run_eedai(emu, size["eedai"], workdir, w1_raw)
        if want("js"):
            result["js_w1"] = run_js_peer(args.bin, emu, n, sc, workdir)
        if want("w2"):
            w, h = size["w2"]
            for fmt in ("gtiff", "cog"):
                res = one("w2_%s_default" % fmt, "w2_median.lua",
                          {"width": w, "height": h, "format": fmt, "compression": "default"},
                          None, w * h * 2 * 5, "W2 %s" % fmt)
                if "wall_s" in res and res["raw_gib"] < 1:
                    # Linear in the number of (equal) tiles.
                    res["extrapolated_1gib_s"] = res["wall_s"] / res["raw_gib"]
        if want("w3"):
            rows, cols, cell = size["w3"]
            for fmt in ("gtiff", "cog"):
                one("w3_%s_default" % fmt, "w3_fishnet.lua",
                    {"rows": rows, "cols": cols, "cell": cell, "format": fmt,
                     "compression": "default"}, 1, rows * cols * cell * cell * 2,
                    "W3 %s (%d cells)" % (fmt, rows * cols))
        if want("profile") and not args.no_profile and shutil.which("perf"):
            result["profile"] = profile(args.bin, emu, workdir, size)
    finally:
        result["emulator_cpu_s_total"] = emu.cpu()
        emu.stop()
        result["machine"]["loadavg_end"] = os.getloadavg()[0]
        shutil.rmtree(workdir, ignore_errors=True)

    result["targets"] = targets(result)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    name = "%s-%s%s.json" % (started.strftime("%Y%m%dT%H%M%SZ"), result["commit"] or "nocommit",
                             "-quick" if args.quick else "")
    path = os.path.join(HERE, "results", name)
    with open(path, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    log("results: %s" % os.path.relpath(path, SRC))
    if args.quick and not args.docs:
        log("quick run: docs/benchmarks.md left as it is (--docs writes it)")
    elif not args.no_docs:
        import bench_doc  # noqa: E402  (bench/bench_doc.py)
        bench_doc.update(os.path.join(SRC, "docs", "benchmarks.md"), result,
                         os.path.relpath(path, SRC))
        log("docs/benchmarks.md updated")


def profile(binary, emu, workdir, size):
    """perf record of eefetch (client only) on the smaller uncompressed W1 run:
    where the CPU seconds per GiB go."""
    m = size["w1_small"] // 2
    out = os.path.join(workdir, "profile.tif")
    data = os.path.join(workdir, "perf.data")
    env = dict(os.environ, GDAL_CACHEMAX="64", NO_PROXY="127.0.0.1,localhost,::1")
    cmd = ["perf", "record", "-q", "-F", "499", "-o", data, binary, "run",
           os.path.join(HERE, "recipes", "w1_asset.lua"), "--endpoint", emu.url,
           "--credentials", os.path.join(emu.creds, "service-account.json"),
           "--set", "out=" + out, "--set", "size=%d" % m, "--set", "scale=6.5",
           "--set", "compression=none", "--output-dir", workdir]
    log("profile: perf record of W1 %dx%d uncompressed" % (m, m))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    shutil.rmtree(out + ".eefetch-parts", ignore_errors=True)
    if os.path.exists(out):
        os.remove(out)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1:]}
    res = {"raw_gib": m * m * 8 / GIB, "command": "perf record -F 499 (W1 %dx%d, compression none)"
           % (m, m)}
    for key, sort in (("by_library", "dso"), ("by_symbol", "dso,symbol")):
        rep = sh(["perf", "report", "-i", data, "--no-children", "--sort", sort, "--stdio",
                  "-g", "none", "--percent-limit", "1.5"])
        rows = []
        for line in rep.stdout.splitlines():
            mm = re.match(r"\s*([\d.]+)%\s+(.*\S)", line)
            if mm and not line.lstrip().startswith("#"):
                name = re.sub(r"\s+", " ", mm.group(2))
                rows.append([float(mm.group(1)), re.sub(r"( -)+$", "", name)])
        res[key] = rows[:15]
    return res


def targets(r):
    """The benchmark's targets, each with the measured value and met / missed."""
    wl = r["workloads"]
    t = []

    def add(name, value, ok, note=""):
        t.append({"target": name, "value": value, "met": ok, "note": note})

    for k, v in sorted(wl.items()):
        if "ratio_to_ideal" in v and k.endswith("_default"):
            add("%s >= 0.9 of ideal" % k, round(v["ratio_to_ideal"], 3),
                v["ratio_to_ideal"] >= 0.9)
    for w in ("w1", "w2", "w3"):
        g, c = wl.get(w + "_gtiff_default", {}), wl.get(w + "_cog_default", {})
        if "wall_s" in g and "wall_s" in c:
            rel = c["wall_s"] / g["wall_s"]
            add("%s COG within 10 %% of GeoTIFF's wall time" % w.upper(), round(rel, 3), rel <= 1.1,
                "COG %.1f s / GeoTIFF %.1f s" % (c["wall_s"], g["wall_s"]))
    w1 = wl.get("w1_gtiff_default", {})
    dflt = wl.get("w1_gtiff_defaults", {})
    if "wall_s" in w1 and "wall_s" in dflt:
        rel = dflt["wall_s"] / w1["wall_s"]
        add("W1 with default workers within 10 % of the 40-worker run", round(rel, 3), rel <= 1.1,
            "wall time with no `workers` key / with workers = 40; %d 429s" % dflt.get("http_429", 0))
    ed = r.get("eedai_w1", {})
    if "extrapolated_w1_s" in ed and "wall_s" in w1:
        sp = ed["extrapolated_w1_s"] / w1["wall_s"]
        add("W1 >= 20x faster than GDAL EEDAI", round(sp, 2), sp >= 20,
            "EEDAI time extrapolated linearly from a %dx%d window" % tuple(ed["window"]))
    js = r.get("js_w1", {})
    if "wall_s" in js and "wall_s" in w1:
        rel = w1["wall_s"] / js["wall_s"]
        add("W1 no slower than the JS client's computePixels pool", round(rel, 3), rel <= 1.0,
            "eefetch's whole run (GeoTIFF written) / the client's fetch alone (kept in memory), "
            "same tiles, %d in flight" % js["concurrency"])
    w1n = wl.get("w1_gtiff_none", {})
    if "cpu_s_per_gib" in w1n:
        add("<= 1.5 CPU s per GiB without compression (W1)", round(w1n["cpu_s_per_gib"], 2),
            w1n["cpu_s_per_gib"] <= 1.5)
    small = wl.get("w1_small_gtiff_none", {})
    big = wl.get("w1_big_gtiff_none", {})
    if "max_rss_mib" in w1n and "max_rss_mib" in small:
        # Allowance for the tiles in flight: per request the response body,
        # its decoded planes and an 8 MiB conversion buffer (docs/engine.md).
        inflight = w1n["peak_in_flight"] * (2 * w1n["tile_mib_max"] + 8)
        add("peak RSS <= 256 MiB + tiles in flight (W1, %.2f GiB)" % w1n["raw_gib"],
            round(w1n["max_rss_mib"], 1), w1n["max_rss_mib"] <= 256 + inflight,
            "allowance %.0f MiB for %d requests in flight" % (inflight, w1n["peak_in_flight"]))
        add(*rss_flatness([small, w1n] + ([big] if "max_rss_mib" in big else []),
                           big.get("error")))
    w2 = wl.get("w2_gtiff_default", {})
    if "max_rss_mib" in w2 and w2.get("tile_px") and w2.get("peak_in_flight"):
        # W2's answers are of another type than its uint16 output: per request
        # in flight one tile of the output's type and an 8 MiB chunk.
        tile_mib = w2["tile_px"] * w2["out_bytes_per_px"] / MIB
        inflight = w2["peak_in_flight"] * (tile_mib + 8)
        add("peak RSS <= 256 MiB + tiles in flight (W2, answers wider than the output)",
            round(w2["max_rss_mib"], 1), w2["max_rss_mib"] <= 256 + inflight,
            "allowance %.0f MiB for %d requests in flight of %.1f MiB output tiles" % (
                inflight, w2["peak_in_flight"], tile_mib))
    return t


def rss_flatness(points, big_error=None):
    """The RSS-flatness target over the uncompressed W1 runs: the slope in MiB
    of RSS per GiB of output from the smallest to the largest, met when no step
    between neighbouring sizes exceeds 16 MiB per GiB."""
    points = sorted(points, key=lambda p: p["raw_gib"])

    def slope(a, b):
        return (b["max_rss_mib"] - a["max_rss_mib"]) / (b["raw_gib"] - a["raw_gib"])
    steps = [slope(a, b) for a, b in zip(points, points[1:])]
    overall = slope(points[0], points[-1])
    name = "peak RSS flat in output size (%s GiB)" % " vs ".join(
        "%.2f" % p["raw_gib"] for p in points)
    note = "MiB of RSS per GiB of output from %.2f to %.2f GiB; %s" % (
        points[0]["raw_gib"], points[-1]["raw_gib"], ", ".join(
            "%.2f GiB: %.0f MiB (%d in flight)" % (p["raw_gib"], p["max_rss_mib"],
                                                 p["peak_in_flight"]) for p in points))
    if len(steps) > 1:
        note += "; per step %s" % ", ".join("%.1f" % s for s in steps)
    if big_error:
        note += "; the --rss-big run failed: %s" % " ".join(big_error)
    elif len(points) < 3:
        note += "; a 20 GiB output was not run (--rss-big)"
    return name, round(overall, 1), all(abs(s) <= 16 for s in steps), note


if __name__ == "__main__":
    sys.dont_write_bytecode = True   # no __pycache__ in the source tree
    sys.path.insert(0, HERE)
    main()
