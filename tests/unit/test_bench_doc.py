#!/usr/bin/python3
"""The benchmark's reporting (bench/run_bench.py, bench/bench_doc.py) on
synthetic results: the ideal's two bounds, the targets, the rendered table,
old result files without `ideal_bound`, and the --rss-big disk check. No
server, no eefetch run; well under a second."""

import copy
import json
import os
import sys
import tempfile

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.environ.get("EEFETCH_SRC") or
                                os.path.join(os.path.dirname(__file__), "..", ".."), "bench"))
import bench_doc  # noqa: E402
import run_bench  # noqa: E402

MIB = run_bench.MIB
GIB = run_bench.GIB
fails = 0


def check(cond, what):
    global fails
    if cond:
        print("ok:", what)
    else:
        print("FAIL:", what)
        fails += 1


def log_lines(n, nbytes, ms, t0=1_700_000_000):
    """n answered pixel requests of nbytes each as the emulator's request log
    writes them, one second apart, plus a 429 and a non-pixel route."""
    lines = []
    for i in range(n):
        t = t0 + i
        lines.append(json.dumps({"route": "image.computePixels", "status": 200, "bytes": nbytes,
                                 "ms": ms, "time": "2023-11-14T22:13:%02d.5Z" % (20 + i % 40)
                                 if i % 2 else "2023-11-14T22:13:%02dZ" % (20 + i % 40),
                                 "t": t}))
    lines.append(json.dumps({"route": "image.computePixels", "status": 429, "bytes": 0, "ms": 0,
                             "time": "2023-11-14T22:13:20Z"}))
    lines.append(json.dumps({"route": "token", "status": 200, "bytes": 100, "ms": 1,
                             "time": "2023-11-14T22:13:20Z"}))
    return lines


def workload(label, lines, images, raw_gib, wall_s, rss=300.0, cpu=10.0, summary=None):
    """A workload result through the same code as a real run."""
    rq = run_bench.analyse_requests(lines, images)
    t0 = rq["last_answer"] - 0.8 * wall_s
    tv = {"wall_s": wall_s, "user_s": cpu * 0.8, "sys_s": cpu * 0.2, "max_rss_mib": rss}
    return run_bench.workload_result(label, {"size": 1}, raw_gib * GIB, 0, tv, rq, 5.0,
                                     dict({"requests": rq["pixel_requests"], "retries": 0, "tiles": 0},
                                          **(summary or {})),
                                     images, t0, t0 + wall_s, 2)


def result(workloads):
    r = {"mode": "quick", "date": "2026-01-01T00:00:00Z", "commit": "abc1234", "dirty": False,
         "gdal": "3.6.2", "model": dict(run_bench.MODEL), "workloads": workloads,
         "machine": {"nproc": 2, "cpu": "test", "memory_gib": 1.0, "kernel": "x",
                     "loadavg_start": 0.1, "loadavg_end": 0.2}}
    r["targets"] = run_bench.targets(r)
    return r


def rendered_row(text, start):
    rows = [ln for ln in text.splitlines() if ln.startswith("| " + start)]
    return rows[0] if rows else ""


# 1. The ideal: sum / concurrency with many requests, the longest request
# with few long ones.
model = run_bench.MODEL
one = run_bench.request_model_ms(model, 20 * MIB, 5)
check(abs(one - 5750) < 1e-6, "a 20 MiB request over 5 images is modelled at 5.75 s (%g ms)" % one)
ideal, bound = run_bench.ideal_time(16 * one, one, 40)
check(bound == "longest_request" and abs(ideal - 5.75) < 1e-9,
      "16 requests of 5.75 s against 40 slots: 5.75 s, the longest request (%g, %s)"
      % (ideal, bound))
ideal, bound = run_bench.ideal_time(289 * 2431.0, 2500.0, 40)
check(bound == "quota" and abs(ideal - 289 * 2.431 / 40) < 1e-9,
      "289 requests of 2.4 s against 40 slots: the quota bound (%g, %s)" % (ideal, bound))
check(run_bench.ideal_time(0, 0, 40) == (0.0, "quota"), "no requests: ideal 0")

rq = run_bench.analyse_requests(log_lines(3, int(20 * MIB), 5800), 5)
check(rq["ok"] == 3 and rq["http_429"] == 1 and rq["pixel_requests"] == 4,
      "request log: 3 answered, one 429, the token request ignored")
check(abs(rq["server_ms_model_max"] - 5750) < 1e-6 and abs(rq["server_ms_model"] - 3 * 5750) < 1e-6,
      "request log: modelled total and longest (%g, %g)"
      % (rq["server_ms_model"], rq["server_ms_model_max"]))

# 2. Targets and their rendering: a met one says "yes", a missed one "**no**".
few_long = workload("W2", log_lines(16, int(20 * MIB), 5800), 5, 0.156, 6.0)
check(few_long["ideal_bound"] == "longest_request" and abs(few_long["ideal_s"] - 5.75) < 1e-9,
      "W2-like workload: ideal 5.75 s from the longest request (%g)" % few_long["ideal_s"])
check(abs(few_long["ratio_to_ideal"] - 5.75 / 6.0) < 1e-9, "ratio = ideal / wall time")
many = workload("W3", log_lines(400, int(0.125 * MIB), 600), 1, 0.05, 50.0)
check(many["ideal_bound"] == "quota", "W3-like workload: the quota bound")
wl = {"w2_gtiff_default": few_long, "w3_gtiff_default": many,
      "w1_gtiff_none": workload("W1n", log_lines(40, int(8 * MIB), 2500), 1, 2.12, 100.0, 317, 2),
      "w1_small_gtiff_none": workload("W1s", log_lines(10, int(8 * MIB), 2500), 1, 0.53, 30.0,
                                      307)}
r = result(wl)
by_name = {t["target"]: t for t in r["targets"]}
check(by_name["w2_gtiff_default >= 0.9 of ideal"]["met"], "W2 at 0.96 of its ideal meets the target")
check(not by_name["w3_gtiff_default >= 0.9 of ideal"]["met"], "W3 at a low ratio misses it")
cpu = by_name["<= 1.5 CPU s per GiB without compression (W1)"]
check(cpu["met"] and cpu["value"] == 0.94, "2 CPU s for 2.12 GiB meets the CPU target (%s)"
      % cpu["value"])
flat = [t for t in r["targets"] if t["target"].startswith("peak RSS flat")]
check(len(flat) == 1 and flat[0]["met"] and "0.53 vs 2.12 GiB" in flat[0]["target"]
      and "was not run (--rss-big)" in flat[0]["note"], "RSS flatness over two sizes")

# COG against GeoTIFF: the wall-time ratio, met up to 1.1.
for cog_wall, met in ((6.5, True), (6.7, False)):
    t3 = [t for t in result(dict(wl, w2_cog_default=dict(few_long, wall_s=cog_wall)))["targets"]
          if t["target"].startswith("W2 COG within")]
    check(len(t3) == 1 and t3[0]["met"] == met and t3[0]["value"] == round(cog_wall / 6.0, 3),
          "W2 COG in %g s against GeoTIFF in 6 s: met %s (%s)" % (cog_wall, met, t3))
check(not [t for t in r["targets"] if " COG within" in t["target"]], "no COG target without a COG run")

# W2's memory: 256 MiB + per request in flight one output tile (1024 x 1024
# x 10 bytes = 10 MiB) and an 8 MiB chunk.
tiled = {"tile_width": 1024, "tile_height": 1024, "width": 4096, "height": 4096}
for rss, met in ((350.0, True), (900.0, False)):
    w2 = workload("W2", log_lines(16, int(20 * MIB), 5800), 5, 16 * 10 / 1024.0, 6.0, rss, summary=tiled)
    t2 = [t for t in result(dict(wl, w2_gtiff_default=w2))["targets"] if "(W2" in t["target"]]
    allow = w2["peak_in_flight"] * (10 + 8)
    check(len(t2) == 1 and t2[0]["met"] == met and ("allowance %d MiB" % allow) in t2[0]["note"],
          "W2 RSS %g MiB against 256 + %d MiB: met %s (%s)" % (rss, allow, met, t2))
check(not [t for t in r["targets"] if "(W2" in t["target"]], "no W2 RSS target without its tile size")

text = bench_doc.render(r, "bench/results/x.json")
check(rendered_row(text, "w2_gtiff_default >= 0.9").endswith("| yes |"),
      "a met target renders 'yes'")
check(rendered_row(text, "w3_gtiff_default >= 0.9").endswith("| **no** |"),
      "a missed target renders '**no**'")
check("| 5.8 (longest request) | 0.96 |" in rendered_row(text, "W2 median composite, GeoTIFF"),
      "the W2 row shows the longest-request ideal")
check(rendered_row(text, "W3 fishnet, GeoTIFF").startswith("| W3 fishnet, GeoTIFF | 0.050 | – |"),
      "no output size: no compressed share")
shared = bench_doc.render(result(dict(wl, w3_gtiff_default=dict(many, output_file_mib=0.05 * 1024 * 0.4))),
                          "bench/results/x.json")
check(rendered_row(shared, "W3 fishnet, GeoTIFF").startswith("| W3 fishnet, GeoTIFF | 0.050 | 40.0 |"),
      "the output's share of the raw size is shown beside the row")
check("(longest request)" not in rendered_row(text, "W3 fishnet, GeoTIFF"),
      "the W3 row shows a plain quota ideal")
check("predates" not in text, "a new result is not marked as recomputed")

# 3. --rss-big: a third size in the flatness row, a failed run named there.
big = workload("W1b", log_lines(50, int(8 * MIB), 2500), 1, 20.93, 1000.0, 330, 20)
r_big = result(dict(wl, w1_big_gtiff_none=big))
flat = [t for t in r_big["targets"] if t["target"].startswith("peak RSS flat")][0]
check("0.53 vs 2.12 vs 20.93 GiB" in flat["target"] and flat["met"]
      and "20.93 GiB: 330 MiB" in flat["note"], "RSS flatness over three sizes: " + flat["target"])
steep = dict(big, max_rss_mib=2000.0)
flat = [t for t in result(dict(wl, w1_big_gtiff_none=steep))["targets"]
        if t["target"].startswith("peak RSS flat")][0]
check(not flat["met"], "RSS growing 90 MiB per GiB between 2 and 20 GiB is not flat")
failed = result(dict(wl, w1_big_gtiff_none={"label": "W1 big", "error": ["no space"]}))
flat = [t for t in failed["targets"] if t["target"].startswith("peak RSS flat")][0]
check("--rss-big run failed: no space" in flat["note"], "a failed --rss-big run is named")
text = bench_doc.render(failed, "x.json")
check("| W1 larger (--rss-big), uncompressed, 8 workers | failed: no space" in text,
      "a failed --rss-big run renders as failed")

raw = 53000 * 53000 * 8
check(run_bench.disk_refusal("/scratch", 60 * GIB, "default", raw) is None,
      "--rss-big starts with 60 GiB free")
msg = run_bench.disk_refusal("/scratch", 30 * GIB, "default", raw) or ""
check("--rss-big needs about 46.0 GiB free under /scratch" in msg and "only 30.0 GiB" in msg,
      "--rss-big refuses with 30 GiB free: " + msg)
check(run_bench.disk_refusal("/s", 3 * GIB, "quick", 0) is None
      and "only 1.0 GiB free" in (run_bench.disk_refusal("/s", 1 * GIB, "quick", 0) or ""),
      "the plain disk check is unchanged")

# 4. An old result (before `ideal_bound`): renders, and its few-long-request
# workload gets the longest-request ideal recomputed from what it recorded.
old = copy.deepcopy(r)
for v in old["workloads"].values():
    v.pop("ideal_bound")
    v.pop("server_ms_model_max")
    if v is old["workloads"]["w2_gtiff_default"]:
        v["ideal_s"] = v["server_ms_model"] / 1000.0 / 40   # the old, quota-only ideal
        v["ratio_to_ideal"] = v["ideal_s"] / v["wall_s"]
old["targets"] = run_bench.targets(old)
check(not [t for t in old["targets"] if t["target"].startswith("w2_")][0]["met"],
      "the old ideal (2.3 s) made W2 miss its target")
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "old.json")
    with open(path, "w") as f:
        json.dump(old, f)
    doc = os.path.join(d, "benchmarks.md")
    with open(doc, "w") as f:
        f.write("# B\n\nabove\n\n%s\nstale\n%s\n\nbelow\n" % (bench_doc.BEGIN, bench_doc.END))
    with open(path) as f:
        bench_doc.update(doc, json.load(f), "bench/results/old.json")
    with open(doc) as f:
        text = f.read()
check(text.startswith("# B\n\nabove\n\n") and text.endswith("\n\nbelow\n") and "stale" not in text,
      "update() replaces only the results block")
check("| 5.8 (longest request) | 0.96 |" in rendered_row(text, "W2 median composite, GeoTIFF"),
      "an old result re-renders with the longest-request ideal")
check(rendered_row(text, "w2_gtiff_default >= 0.9").endswith("| yes |"),
      "an old result's targets are recomputed with it")
check("predates the longest-request bound" in text and "w2_gtiff_default" in text,
      "the re-rendered old result says which workloads changed")
check("old.json" in text and "w3_gtiff_default >= 0.9" in text, "the rest renders as before")
check("ideal_bound" not in old["workloads"]["w2_gtiff_default"], "upgrade() leaves its input alone")

# The recorded results in the tree re-render too.
results = os.path.join(os.path.dirname(run_bench.__file__), "results")
for name in sorted(os.listdir(results)) if os.path.isdir(results) else []:
    if name.endswith(".json"):
        with open(os.path.join(results, name)) as f:
            out = bench_doc.render(json.load(f), name)
        check("| target | measured | met |" in out, "bench/results/%s renders" % name)

print("%d failure(s)" % fails)
sys.exit(1 if fails else 0)
