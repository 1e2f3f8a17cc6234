"""Batch export (via = "export") end to end against `eefetch serve --bucket-dir`.

1. The same recipe through export and interactively: bit-identical pixels,
   band names, nodata and metadata (but the creation time), and every pixel
   equal to tests/emulator/reference.py; a fishnet of 2 x 2 cells with files
   split at 128 pixels (EE's <prefix>-RRRRRRRRRR-CCCCCCCCCC.tif names) and a
   COG give the same pixels too; the export journal, the downloaded files
   and the tile store are gone afterwards; delete_exported empties the bucket.
2. Faults on (500s, resets and cut bodies on every route, tasks that FAIL):
   the output is still exact; a failed task is submitted again under a new
   requestId (-a1), cut downloads are continued, and no cell has two
   operations running for one requestId.
3. SIGKILL right after the first image:export, then a rerun: no cell gets a
   second operation (requestIds dedupe, the journal remembers the names).
4. Ctrl-C with --cancel-on-interrupt cancels every unfinished task (POST
   {name}:cancel), without it none and the message says they run on; the
   rerun after a cancel submits attempt 1 and completes.
5. A tile that fails "User memory limit exceeded" at the split floor
   suggests via = "export" with the exact line to add (recipe:line).
6. plan with via = "auto" says which way and why.
"""
import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reliability"))
import rellib  # noqa: E402
from rellib import BIN  # noqa: E402

from osgeo import gdal  # noqa: E402
import numpy as np  # noqa: E402

gdal.UseExceptions()
T = rellib.Checker()
BUCKET = "exports-bk"

RECIPE = """local dem = ee.Image("%s")
local S = 1.0 / 3600
local t = {
  image = dem, bands = { "%s" }, crs = "%s",
  crs_transform = { %.17g, %.17g, %.17g, %.17g, %.17g, %.17g },
  dimensions = { %d, %d }, max_tile_bytes = %d, workers = 4,
  nodata = false, output = params.out,
}
if params.via then t.via = params.via end
if params.via == "export" or params.via == "auto" then t.bucket = "gs://%s/runs/" .. (params.tag or "a") end
if params.rows then t.fishnet = { rows = tonumber(params.rows), cols = tonumber(params.cols) } end
if params.fmt then t.format = params.fmt end
if params.del then t.delete_exported = true end
if params.tasks then t.max_tasks = tonumber(params.tasks) end
if params.noresume then t.resume = false end
print(json.encode(download(t)))
""" % (rellib.IMAGE, rellib.BAND, rellib.CRS, *rellib.AFFINE, rellib.W, rellib.H, rellib.MAX_TILE_BYTES, BUCKET)

RECIPE_LINE = 16   # the download(t) call above


def args(rec, emu, *extra, **params):
    a = [BIN, "run", rec, "--endpoint", emu.url, "--project", "rel-project", "--progress", "json"] + list(extra)
    for k, v in params.items():
        a += ["--set", "%s=%s" % (k, v)]
    return a


def env(**kw):
    e = dict(os.environ)
    e["EEFETCH_EXPORT_POLL_MS"] = "50"
    e.update({k: str(v) for k, v in kw.items()})
    return e


def run(rec, emu, *extra, envx=None, timeout=180, **params):
    p = subprocess.run(args(rec, emu, *extra, **params), capture_output=True, text=True, timeout=timeout,
                       env=envx or env(), stdin=subprocess.DEVNULL)
    T.check(rellib.no_sanitizer_report(p.stderr), "no sanitizer report: %s" % p.stderr[-2000:])
    summary = None
    if p.returncode == 0:
        try:
            summary = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            pass
    return p, summary


def metadata_same(a, b):
    da, db = gdal.Open(a), gdal.Open(b)
    ma, mb = da.GetMetadata(), db.GetMetadata()
    diff = [k for k in set(ma) | set(mb) if k != "EEFETCH_CREATED" and ma.get(k) != mb.get(k)]
    bands = [(da.GetRasterBand(i).GetDescription(), da.GetRasterBand(i).GetNoDataValue()) for i in
             range(1, da.RasterCount + 1)]
    bands_b = [(db.GetRasterBand(i).GetDescription(), db.GetRasterBand(i).GetNoDataValue()) for i in
               range(1, db.RasterCount + 1)]
    if diff or bands != bands_b:
        print("metadata differs:", diff, bands, bands_b)
    return not diff and bands == bands_b


def exports(log):
    return [r for r in rellib.read_log(log) if r.get("route") == "image.export"]


def operations(log):
    """Distinct operation ids the client asked about (polls and cancels)."""
    ops = set()
    for r in rellib.read_log(log):
        if r.get("route", "").startswith("operations.") and "/operations/" in r.get("path", ""):
            ops.add(r["path"].split("/operations/")[1].split(":")[0])
    return ops


def server_tasks(emu):
    """Every task the emulator has, from its operations list (all pages)."""
    import urllib.request
    ops, token = [], ""
    while True:
        url = emu.url + "/v1/projects/rel-project/operations?pageSize=100" + ("&pageToken=" + token if token else "")
        with urllib.request.urlopen(url, timeout=10) as r:
            page = json.loads(r.read())
        ops += page.get("operations", [])
        token = page.get("nextPageToken", "")
        if not token:
            return ops


def events(stdout_or_stderr, kind):
    out = []
    for line in stdout_or_stderr.splitlines():
        if line.startswith("{\"event\":\"%s\"" % kind):
            out.append(json.loads(line))
    return out


def leftovers(out):
    return [p for p in glob.glob(out + ".eefetch-*")]


def scenario_same_pixels(tmp):
    bdir = os.path.join(tmp, "buckets")
    os.makedirs(os.path.join(bdir, BUCKET))
    log = os.path.join(tmp, "same.jsonl")
    rec = os.path.join(tmp, "r.lua")
    with open(rec, "w") as f:
        f.write(RECIPE)
    with rellib.server(log, "--bucket-dir", bdir) as emu:
        inter = os.path.join(tmp, "inter.tif")
        p, s = run(rec, emu, out=inter)
        T.check(p.returncode == 0 and s and s["via"] == "interactive", "interactive run: %s" % p.stderr[-400:])

        exp = os.path.join(tmp, "exp.tif")
        p, s = run(rec, emu, out=exp, via="export", tag="one")
        T.check(p.returncode == 0, "export run: %s" % p.stderr[-800:])
        T.check(s and s["via"] == "export" and s["tasks"] == 1 and s["objects"] == 1 and s["eecu_seconds"] > 0,
                "export summary: %s" % s)
        T.check(s and s["tiles_fetched"] == s["tiles"] and s["tiles_resumed"] == 0, "tiles counted: %s" % s)
        T.check(rellib.same_pixels(exp, inter), "export and interactive outputs have the same pixels")
        T.check(metadata_same(exp, inter), "same metadata but the creation time")
        T.check(rellib.pixels_exact(exp), "export pixels equal reference.py")
        T.check(leftovers(exp) == [], "no journal, files or store left: %s" % leftovers(exp))
        ev = events(p.stderr, "task")
        T.check(any(e["state"] == "SUCCEEDED" and e["eecu_seconds"] > 0 for e in ev), "task events: %s" % ev[-2:])
        T.check(len(events(p.stderr, "object")) == 1, "one object event")
        fin = events(p.stderr, "finished")
        T.check(fin and fin[-1].get("via") == "export" and fin[-1].get("eecu_seconds", 0) > 0,
                "finished event has EECU: %s" % fin)
        T.check(len(exports(log)) == 1, "one image:export request")
        # a rerun of the complete output is skipped; with resume = false it is an error; neither submits
        p, s = run(rec, emu, out=exp, via="export", tag="one")
        T.check(p.returncode == 0 and s and s["skipped"], "complete export output skipped: %s" % p.stderr[-300:])
        p, s = run(rec, emu, out=exp, via="export", tag="one", noresume="1")
        T.check(p.returncode != 0 and "exists" in p.stderr, "resume = false refuses: %s" % p.stderr[-300:])
        T.check(len(exports(log)) == 1, "no task for a complete output")

        # 2 x 2 cells, each split into 128-pixel files; a COG.
        cog = os.path.join(tmp, "cells.tif")
        p, s = run(rec, emu, envx=env(EEFETCH_EXPORT_FILE_DIM=128), out=cog, via="export", tag="cells", rows=2,
                   cols=2, fmt="cog", tasks=2)
        T.check(p.returncode == 0, "fishnet export: %s" % p.stderr[-800:])
        T.check(s and s["tasks"] == 4 and s["objects"] == 16, "4 tasks, 16 split files: %s" % s)
        T.check("placed by the geotransform" not in p.stderr, "split names agree with the geotransforms")
        names = sorted(os.path.basename(n) for n in glob.glob(os.path.join(bdir, BUCKET, "runs", "cells", "*")))
        T.check(any(n.endswith("-0000000128-0000000000.tif") for n in names), "split names: %s" % names[:5])
        T.check(rellib.pixels_exact(cog), "fishnet/split/COG pixels equal reference.py")
        inter_cog = os.path.join(tmp, "inter_cells.tif")
        p, s = run(rec, emu, out=inter_cog, rows=2, cols=2, fmt="cog")
        T.check(p.returncode == 0 and rellib.same_pixels(cog, inter_cog), "the COGs agree")
        T.check(metadata_same(cog, inter_cog), "the COGs' metadata agree")
        T.check(len(exports(log)) == 5, "one image:export per cell")

        # delete_exported: the objects are gone afterwards
        out = os.path.join(tmp, "del.tif")
        p, s = run(rec, emu, out=out, via="export", tag="del", **{"del": "1"})
        T.check(p.returncode == 0 and rellib.pixels_exact(out), "delete_exported run: %s" % p.stderr[-600:])
        T.check(glob.glob(os.path.join(bdir, BUCKET, "runs", "del", "*")) == [], "objects deleted")
    print("ok same pixels", flush=True)


def scenario_faults(tmp):
    bdir = os.path.join(tmp, "fbuckets")
    os.makedirs(os.path.join(bdir, BUCKET))
    log = os.path.join(tmp, "faults.jsonl")
    rec = os.path.join(tmp, "r.lua")
    with rellib.server(log, "--bucket-dir", bdir, "--seed", "7", "--fail-500", "0.1", "--fail-reset", "0.05",
                       "--fail-truncate", "0.4", "--export-fail", "0.5") as emu:
        out = os.path.join(tmp, "faults.tif")
        p, s = run(rec, emu, envx=env(EEFETCH_EXPORT_FILE_DIM=128), out=out, via="export", tag="f", rows=2,
                   cols=1)
        T.check(p.returncode == 0, "export under faults: %s" % p.stderr[-1500:])
        T.check(rellib.pixels_exact(out), "pixels exact under faults")
        entries = rellib.read_log(log)
        cut = [r for r in entries if r.get("route") == "storage.media" and r.get("fault") == "truncate"]
        T.check(len(cut) > 0, "some downloads were cut short (%d of %s)" % (
            len(cut), [(r.get("route"), r.get("fault")) for r in entries if r.get("fault")]))
        failed = [e for e in events(p.stderr, "task") if e["state"] == "FAILED"]
        T.check(len(failed) > 0, "some tasks failed and were submitted again")
        ids = [e.get("request_id", "") for e in events(p.stderr, "task")]
        T.check(any(i.endswith("-a1") for i in ids), "a resubmission has a new requestId: %s" % sorted(set(ids)))
        # per requestId one operation: the events never show two names for one id
        by_id = {}
        for e in events(p.stderr, "task"):
            by_id.setdefault(e["request_id"], set()).add(e["operation"])
        T.check(all(len(v) == 1 for v in by_id.values()), "one operation per requestId: %s" % by_id)
    print("ok faults", flush=True)


def scenario_kill(tmp):
    bdir = os.path.join(tmp, "kbuckets")
    os.makedirs(os.path.join(bdir, BUCKET))
    log = os.path.join(tmp, "kill.jsonl")
    rec = os.path.join(tmp, "r.lua")
    out = os.path.join(tmp, "kill.tif")
    with rellib.server(log, "--bucket-dir", bdir, "--export-queue-ms", "1500") as emu:
        proc = subprocess.Popen(args(rec, emu, out=out, via="export", tag="k", rows=2, cols=2), env=env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        T.check(rellib.wait_for(lambda: len(exports(log)) >= 1, 30, 0.02), "the first task was submitted")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first = len(exports(log))
        try:
            journaled = sum(1 for line in open(out + ".eefetch-export") if line.startswith("S "))
        except OSError:
            journaled = 0
        p, s = run(rec, emu, out=out, via="export", tag="k", rows=2, cols=2)
        T.check(p.returncode == 0 and rellib.pixels_exact(out), "rerun after SIGKILL completes: %s" % p.stderr[-800:])
        total = len(exports(log))
        ops = operations(log)
        T.check(len(ops) == 4, "4 distinct operations for 4 cells (got %d: %s)" % (len(ops), sorted(ops)))
        tasks = server_tasks(emu)
        T.check(len(tasks) == 4, "the server holds 4 tasks, one per cell, after kill and rerun (%d image:export "
                "requests: %d before the kill): %s" % (total, first, [t["name"] for t in tasks]))
        # tasks the first run journaled are polled, not submitted again (the
        # others are submitted again and EE's requestId dedupe answers them)
        T.check(s and s["tasks_resumed"] == journaled and s["tasks_submitted"] == 4 - journaled,
                "the rerun resumed the %d journaled tasks: %s" % (journaled, s))
    print("ok kill and rerun (%d + %d image:export requests, %d journaled)" % (first, total - first, journaled),
          flush=True)


def scenario_kill_download(tmp):
    """SIGKILL in the middle of a file's ranged download: the rerun asks only
    for the ranges the first run had not recorded."""
    bdir = os.path.join(tmp, "dbuckets")
    os.makedirs(os.path.join(bdir, BUCKET))
    log = os.path.join(tmp, "kdl.jsonl")
    rec = os.path.join(tmp, "r.lua")
    out = os.path.join(tmp, "kdl.tif")
    rng = 16384
    e = env(EEFETCH_EXPORT_RANGE_BYTES=rng)
    with rellib.server(log, "--bucket-dir", bdir, "--latency-ms", "1000") as emu:
        proc = subprocess.Popen(args(rec, emu, out=out, via="export", tag="kdl"), env=e,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

        def recorded():
            files = glob.glob(out + ".eefetch-export.d/*.ranges")
            return files and sum(1 for _ in open(files[0])) >= 3   # header and two ranges
        T.check(rellib.wait_for(recorded, 60, 0.02), "two ranges recorded before the kill")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = sum(1 for _ in open(glob.glob(out + ".eefetch-export.d/*.ranges")[0])) - 1
        time.sleep(2.5)   # the killed client's requests in flight are logged once the server is done with them
        before = len([r for r in rellib.read_log(log) if r.get("route") == "storage.media"])
        p, s = run(rec, emu, envx=e, out=out, via="export", tag="kdl")
        T.check(p.returncode == 0 and rellib.pixels_exact(out), "rerun completes: %s" % p.stderr[-600:])
        after = len([r for r in rellib.read_log(log) if r.get("route") == "storage.media"]) - before
        size = [os.path.getsize(f) for f in glob.glob(os.path.join(bdir, BUCKET, "runs", "kdl", "*.tif"))]
        nranges = (size[0] + rng - 1) // rng if size else 0
        T.check(0 < done < nranges, "the kill came mid-file (%d of %d ranges)" % (done, nranges))
        T.check(size and after == nranges - done, "the rerun fetched the %d missing ranges of %d (asked %d)" %
                (nranges - done, nranges, after))
        T.check(len(exports(log)) == 1 and len(server_tasks(emu)) == 1, "one task")
    print("ok kill mid-download (%d of %d ranges kept)" % (done, nranges), flush=True)


def scenario_cancel(tmp):
    bdir = os.path.join(tmp, "cbuckets")
    os.makedirs(os.path.join(bdir, BUCKET))
    rec = os.path.join(tmp, "r.lua")
    for flag in (True, False):
        log = os.path.join(tmp, "cancel%d.jsonl" % flag)
        out = os.path.join(tmp, "cancel%d.tif" % flag)
        with rellib.server(log, "--bucket-dir", bdir, "--export-queue-ms", "60000") as emu:
            extra = ["--cancel-on-interrupt"] if flag else []
            proc = subprocess.Popen(args(rec, emu, *extra, out=out, via="export", tag="c%d" % flag, rows=1,
                                         cols=2),
                                    env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    stdin=subprocess.DEVNULL)
            T.check(rellib.wait_for(lambda: len(exports(log)) >= 2 and len(operations(log)) >= 2, 30, 0.05),
                    "both tasks submitted and polled")
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            T.check(proc.returncode != 0, "interrupted run fails")
            T.check(rellib.no_sanitizer_report(err), "no sanitizer report: %s" % err[-2000:])
            cancels = [r for r in rellib.read_log(log) if r.get("route") == "operations.cancel"]
            if flag:
                T.check(len(cancels) == 2, "--cancel-on-interrupt cancels both tasks (%d)" % len(cancels))
                T.check("cancelled export task" in err, "says so")
            else:
                T.check(len(cancels) == 0, "no cancel without the flag")
                T.check("still running on Earth Engine" in err and "run the same recipe again" in err,
                        "says the tasks run on: %s" % err[-400:])
    # after a cancel, a rerun submits attempt 1 of each cell and completes
    log = os.path.join(tmp, "cancel_rerun.jsonl")
    with rellib.server(log, "--bucket-dir", bdir) as emu:
        out = os.path.join(tmp, "cancel1.tif")
        p, s = run(rec, emu, out=out, via="export", tag="c1", rows=1, cols=2)
        T.check(p.returncode == 0 and rellib.pixels_exact(out), "rerun after cancel: %s" % p.stderr[-600:])


def scenario_floor_hint(tmp):
    log = os.path.join(tmp, "mem.jsonl")
    rec = os.path.join(tmp, "r.lua")
    with rellib.server(log, "--memory-limit", "1") as emu:
        p, _ = run(rec, emu, out=os.path.join(tmp, "mem.tif"))
        want = 'add via = "export", bucket = "gs://<your-bucket>/<prefix>" to download{} at %s:%d' % (rec,
                                                                                                    RECIPE_LINE)
        T.check(p.returncode != 0 and "User memory limit exceeded" in p.stderr, "memory failure: %s" %
                p.stderr[-300:])
        T.check(want in p.stderr, "the floor hint names the line to add: %s" % p.stderr[-600:])


def scenario_plan_auto(tmp):
    rec = os.path.join(tmp, "r.lua")
    p = subprocess.run([BIN, "plan", rec, "--emulator", "--set", "out=" + os.path.join(tmp, "auto.tif"),
                        "--set", "via=auto"], capture_output=True, text=True, timeout=60)
    T.check(p.returncode == 0 and "via:        interactive (interactive: " in p.stdout,
            "plan says which way: %s %s" % (p.stdout[-600:], p.stderr[-300:]))
    p = subprocess.run([BIN, "plan", rec, "--emulator", "--set", "out=" + os.path.join(tmp, "x.tif"),
                        "--set", "via=export", "--set", "rows=2", "--set", "cols=2"], capture_output=True,
                       text=True, timeout=60)
    T.check(p.returncode == 0 and "via:        export (via = \"export\"); 4 task(s)" in p.stdout and
            json.loads(p.stdout.strip().splitlines()[-1])["tasks"] == 4,
            "plan of an export counts its tasks: %s %s" % (p.stdout[-600:], p.stderr[-300:]))


def main():
    with tempfile.TemporaryDirectory(prefix="eefetch-export-") as tmp:
        scenario_same_pixels(tmp)
        scenario_faults(tmp)
        scenario_kill(tmp)
        scenario_kill_download(tmp)
        scenario_cancel(tmp)
        scenario_floor_hint(tmp)
        scenario_plan_auto(tmp)
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
