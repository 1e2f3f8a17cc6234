#!/usr/bin/python3
"""A disk that fills up and an output folder that disappears, at the CLI.

1. Disk full while tiles are stored: the output folder is a 96 KiB tmpfs
   (mounted here when permitted, i.e. as root; otherwise a 1.5 KiB
   RLIMIT_FSIZE with SIGXFSZ ignored stands in, and the test says which ran).
   The run must exit 1 with a message naming the cause, leave nothing at the
   output path and no .partial, and a journal whose every line names piece
   files that exist. Then space is freed (the tmpfs remounted at 4 MiB, or
   the limit lifted) and the same recipe resumes: exit 0, pixel-exact, no
   journaled tile fetched again.
2. Disk full while the output is written: a 40 KiB RLIMIT_FSIZE lets every
   piece (32 KiB of raw pixels) through and stops the uncompressed 512 KiB
   output file (its
   blocks stay in GDAL's cache until it is closed, so this fails after the
   last tile). Exit 1 naming the cause, nothing at the output path, all
   tiles journaled; the resume without the limit fetches nothing and
   completes.
3. Disk full while a COG is written (format = "cog", compression =
   "none"): a 100 KiB RLIMIT_FSIZE lets the pieces and the GeoTIFF the COG
   is copied from (fast compression) through and stops the uncompressed
   COG. Then, as root, the same on a real file system: the output folder
   is a tmpfs shrunk to what the store uses plus 256 KiB, so the COG copy
   hits ENOSPC. Each time: exit 1 with "the disk is full" and how to
   resume (not libtiff's "Write error at scanline"), nothing at the output
   path; the resume with space fetches nothing and is pixel-exact.
4. The output folder disappears mid-run (renamed away and deleted while the
   server answers slowly): exit 1 (not a signal) promptly, with a message
   naming the missing path. The journal went with the folder, so a resume
   after re-creating the folder starts over and completes pixel-exact.
"""

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rellib  # noqa: E402


def last_message(text):
    """The CLI's own error line (GDAL's "ERROR 1:" lines come before it)."""
    lines = [ln for ln in text.splitlines() if ln.startswith("eefetch:")]
    return lines[-1] if lines else ""


def with_fsize_limit(limit):
    def pre():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return pre


def run_limited(rec, emu, limit):
    p = subprocess.run(rellib.run_args(rec, emu), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, preexec_fn=with_fsize_limit(limit), timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def journal_intact(t, name, out):
    """Every complete journal line parses and names piece files that exist.
    Returns the journaled windows."""
    journal = out + ".eefetch-journal"
    if not t.check(os.path.exists(journal), "%s: no journal after the failure" % name):
        return set()
    with open(journal) as f:
        lines = f.read().split("\n")
    t.check(lines[0].startswith("eefetch-journal "), "%s: journal header %r" % (name, lines[0]))
    for line in lines[1:-1]:
        tok = line.split()
        if not t.check(len(tok) >= 4 and tok[0] == "T", "%s: journal line %r" % (name, line)):
            continue
        for i in range(int(tok[2])):
            piece = os.path.join(out + ".eefetch-parts", "t%s_%s.px" % (tok[1], tok[3 + 7 * i]))
            t.check(os.path.exists(piece), "%s: journaled piece %s missing" % (name, piece))
    return rellib.journal_windows(journal)


def failed_cleanly(t, name, status, text, out, causes):
    msg = last_message(text)
    t.check(status == 1, "%s: exit status %r (want 1): %s" % (name, status, text[-800:]))
    t.check(rellib.no_sanitizer_report(text), "%s: sanitizer report: %s" % (name, text[-2000:]))
    t.check(any(c in msg for c in causes), "%s: message does not name the cause (%s): %r"
            % (name, " / ".join(causes), msg))
    t.check(not os.path.exists(out), "%s: something at the output path after the failure" % name)
    t.check(not os.path.exists(out + ".partial"), "%s: .partial left after the failure" % name)
    print("%s: %s" % (name, msg), flush=True)


def resumed(t, name, rec, emu, log, out, journaled):
    n0 = len(rellib.read_log(log))
    status, text = rellib.run(rec, emu)
    t.check(status == 0, "%s: resume exited %d: %s" % (name, status, text[-800:]))
    t.check(rellib.no_sanitizer_report(text), "%s: sanitizer report on resume" % name)
    t.check(rellib.pixels_exact(out), "%s: resumed output differs from the reference" % name)
    again = set(rellib.fetched(rellib.read_log(log)[n0:]))
    t.check(not (again & journaled), "%s: the resume fetched journaled tiles again: %s"
            % (name, sorted(again & journaled)[:5]))
    t.check(not os.path.exists(out + ".eefetch-journal"), "%s: journal left after the resume" % name)
    return again


def mount_tmpfs(d, size):
    if os.geteuid() != 0:
        return False
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", d],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p.returncode == 0


def disk_full_tiles(t, emu, log, tmp):
    d = os.path.join(tmp, "small")
    os.makedirs(d)
    out = os.path.join(d, "out.tif")
    rec = rellib.recipe(os.path.join(tmp, "small.lua"), out)
    mounted = mount_tmpfs(d, "96k")
    try:
        if mounted:
            print("disk full: 96 KiB tmpfs", flush=True)
            status, text = rellib.run(rec, emu)
            causes = ("No space left on device", "disk is full")
        else:
            print("disk full: tmpfs not permitted, RLIMIT_FSIZE of 1.5 KiB instead", flush=True)
            status, text = run_limited(rec, emu, 1536)
            causes = ("File too large", "file size limit")
        failed_cleanly(t, "disk full (tiles)", status, text, out, causes)
        journaled = journal_intact(t, "disk full (tiles)", out)
        if mounted:
            subprocess.run(["mount", "-o", "remount,size=4m", d], check=True)
        again = resumed(t, "disk full (tiles)", rec, emu, log, out, journaled)
        print("disk full (tiles): %d tiles journaled before, %d fetched by the resume"
              % (len(journaled), len(again)), flush=True)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", d])


def disk_full_assembly(t, emu, log, tmp):
    d = os.path.join(tmp, "limit")
    os.makedirs(d)
    out = os.path.join(d, "out.tif")
    rec = rellib.recipe(os.path.join(tmp, "limit.lua"), out, compression="none")
    status, text = run_limited(rec, emu, 40960)
    failed_cleanly(t, "disk full (assembly)", status, text, out, ("File too large", "file size limit"))
    journaled = journal_intact(t, "disk full (assembly)", out)
    ntiles = len(rellib.fetched(rellib.read_log(log)[-56:]))
    t.check(len(journaled) >= ntiles, "disk full (assembly): %d tiles journaled" % len(journaled))
    again = resumed(t, "disk full (assembly)", rec, emu, log, out, journaled)
    t.check(not again, "disk full (assembly): the resume fetched %d tiles" % len(again))


def disk_full_cog(t, emu, log, tmp):
    d = os.path.join(tmp, "cog")
    os.makedirs(d)
    out = os.path.join(d, "out.tif")
    rec = rellib.recipe(os.path.join(tmp, "cog.lua"), out, compression="none", fmt="cog")
    mounted = mount_tmpfs(d, "16m")
    try:
        status, text = run_limited(rec, emu, 100 * 1024)
        name = "disk full (COG, file size limit)"
        failed_cleanly(t, name, status, text, out, ("disk is full",))
        t.check("File too large" in text and "run the same recipe again to resume" in text,
                "%s: no cause or way out: %s" % (name, text[-800:]))
        journaled = journal_intact(t, name, out)
        t.check(len(journaled) >= len(rellib.fetched(rellib.read_log(log)[-56:])),
                "%s: %d tiles journaled" % (name, len(journaled)))
        if mounted:
            name = "disk full (COG, tmpfs)"
            st = os.statvfs(d)
            used = (st.f_blocks - st.f_bfree) * st.f_frsize
            subprocess.run(["mount", "-o", "remount,size=%dk" % (used // 1024 + 256), d], check=True)
            n0 = len(rellib.read_log(log))
            status, text = rellib.run(rec, emu)
            failed_cleanly(t, name, status, text, out, ("disk is full",))
            t.check("No space left on device" in text and "run the same recipe again to resume" in text,
                    "%s: no cause or way out: %s" % (name, text[-800:]))
            t.check(not rellib.fetched(rellib.read_log(log)[n0:]), "%s: tiles fetched again" % name)
            subprocess.run(["mount", "-o", "remount,size=16m", d], check=True)
        else:
            print("disk full (COG): tmpfs not permitted, only the file size limit ran", flush=True)
        again = resumed(t, "disk full (COG)", rec, emu, log, out, journaled)
        t.check(not again, "disk full (COG): the resume fetched %d tiles" % len(again))
    finally:
        if mounted:
            subprocess.run(["umount", "-l", d])


def folder_vanishes(t, log, tmp):
    d = os.path.join(tmp, "vanish")
    os.makedirs(d)
    out = os.path.join(d, "out.tif")
    rec = rellib.recipe(os.path.join(tmp, "vanish.lua"), out)
    with rellib.server(log, "--latency-ms", "60") as emu:
        n0 = len(rellib.read_log(log))
        p = rellib.start(rec, emu)
        rellib.wait_for(lambda: len(rellib.pixel_requests(rellib.read_log(log)[n0:])) >= 10
                        or p.poll() is not None, 30)
        # A rename is atomic; deleting in place races with pieces being written.
        os.rename(d, d + ".gone")
        shutil.rmtree(d + ".gone", ignore_errors=True)
        try:
            text = p.communicate(timeout=30)[0].decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            p.kill()
            text = p.communicate()[0].decode("utf-8", "replace")
            t.check(False, "vanished folder: the run did not stop within 30 s")
        msg = last_message(text)
        t.check(p.returncode == 1, "vanished folder: exit status %r: %s" % (p.returncode, text[-800:]))
        t.check(rellib.no_sanitizer_report(text), "vanished folder: sanitizer report: %s" % text[-2000:])
        t.check(d in msg and "No such file or directory" in msg,
                "vanished folder: message does not name the missing path: %r" % msg)
        print("vanished folder: %s" % msg, flush=True)
        os.makedirs(d)
        status, text = rellib.run(rec, emu)
        t.check(status == 0, "vanished folder: run after re-creating exited %d: %s" % (status, text[-800:]))
        t.check(rellib.pixels_exact(out), "vanished folder: output after re-creating differs from the reference")


def main():
    # These cases fill the disk while the run goes on; the check before the
    # first request (tests/host/test_plan_cost.py) would stop case 1 up front.
    os.environ["EEFETCH_NO_DISK_CHECK"] = "1"
    t = rellib.Checker()
    tmp = tempfile.mkdtemp(prefix="eefetch-disk-")
    log = os.path.join(tmp, "requests.jsonl")
    try:
        with rellib.server(log) as emu:
            disk_full_tiles(t, emu, log, tmp)
            disk_full_assembly(t, emu, log, tmp)
            disk_full_cog(t, emu, log, tmp)
        folder_vanishes(t, os.path.join(tmp, "requests-vanish.jsonl"), tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
