#!/usr/bin/python3
"""The fault matrix: `eefetch run` against `eefetch serve` with each emulator
fault alone and all of them together, each random fault with three seeds.

Every run must exit 0 with an output equal, pixel for pixel, to
tests/emulator/reference.py; the request log must show the fault was really
injected, and the answers the client accepted (200 without a fault) must
cover every output pixel exactly once: a retried or split tile is fetched
again only where an earlier answer failed.

The download is 25 tiles (512 x 512 int16, max_tile_bytes 98304). Runs are
independent (own server, own folder) and run a few at a time; most of their
time is retry back-off, not CPU.
"""

import concurrent.futures
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rellib  # noqa: E402

SEEDS = (1, 2, 3)
P = "0.15"          # one fault alone: a few faulted requests out of about 30
P_ALL = "0.04"      # each of five together
RANDOM_FAULTS = ("500", "503", "429", "reset", "truncate")


def cases():
    out = []
    for fault in RANDOM_FAULTS:
        for seed in SEEDS:
            out.append(("%s seed %d" % (fault, seed), ["--seed", str(seed), "--fail-" + fault, P],
                        {fault}))
    # Deterministic knobs: the seed only moves the client's jitter, one run each.
    out.append(("concurrency 2", ["--concurrency", "2", "--latency-ms", "30"], {"429"}))
    out.append(("memory limit (splits)", ["--memory-limit", "20K"], {"memory"}))
    for seed in SEEDS:
        args = ["--seed", str(seed), "--concurrency", "3", "--memory-limit", "20K", "--latency-ms", "5"]
        for fault in RANDOM_FAULTS:
            args += ["--fail-" + fault, P_ALL]
        out.append(("all together seed %d" % seed, args, {"any", "memory"}))
    return out


def coverage_ok(entries, why):
    """Accepted answers cover every pixel exactly once."""
    cover = np.zeros((rellib.H, rellib.W), dtype=np.int32)
    for r in rellib.pixel_requests(entries):
        if r.get("status") == 200 and not r.get("fault"):
            c, row, w, h = rellib.window(r)
            cover[row:row + h, c:c + w] += 1
    bad = int((cover != 1).sum())
    if bad:
        why.append("%d pixels fetched %s times instead of once" % (
            bad, sorted(set(cover[cover != 1].ravel().tolist()))[:5]))
    return bad == 0


def run_case(case, tmp):
    name, server_args, expect = case
    d = tempfile.mkdtemp(prefix="case-", dir=tmp)
    out, log = os.path.join(d, "out.tif"), os.path.join(d, "requests.jsonl")
    rec = rellib.recipe(os.path.join(d, "r.lua"), out, workers=4, max_tile_bytes=98304)
    why = []
    t0 = time.monotonic()
    with rellib.server(log, *server_args) as emu:
        status, text = rellib.run(rec, emu)
    secs = time.monotonic() - t0
    if status != 0:
        why.append("exit status %d: %s" % (status, text[-800:]))
    if not rellib.no_sanitizer_report(text):
        why.append("sanitizer report: %s" % text[-2000:])
    entries = rellib.read_log(log)
    faults = {r.get("fault") for r in entries} - {None}
    for f in expect - {"any", "memory"}:
        if f not in faults:
            why.append("fault %s never injected (log has %s)" % (f, sorted(faults)))
    if "any" in expect and len(faults) < 2:
        why.append("only faults %s injected" % sorted(faults))
    if "memory" in expect and not any("memory limit" in (r.get("message") or "") for r in entries):
        why.append("no request hit the memory limit")
    if status == 0:
        if not rellib.pixels_exact(out):
            why.append("pixels differ from the reference")
        coverage_ok(entries, why)
        for leftover in (out + ".eefetch-journal", out + ".eefetch-parts", out + ".partial"):
            if os.path.exists(leftover):
                why.append("%s left behind" % leftover)
    nfault = sum(1 for r in entries if r.get("fault"))
    return name, why, "%d requests, %d faulted, %.1f s" % (len(entries), nfault, secs)


def main():
    tmp = tempfile.mkdtemp(prefix="eefetch-faults-")
    t = rellib.Checker()
    try:
        # The reference is computed once, before the threads share it.
        rellib.reference()
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            futs = [pool.submit(run_case, c, tmp) for c in cases()]
            for f in futs:
                name, why, info = f.result()
                print("%-28s %s %s" % (name, "ok" if not why else "FAIL", info), flush=True)
                for w in why:
                    t.check(False, "%s: %s" % (name, w))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
