#!/usr/bin/python3
"""Stored pieces prove their content: damage in the tile store is refetched.

One uninterrupted run gives the expected file. A second download of the
same recipe is stopped with SIGINT after about 20 pixel requests, leaving a
journal and its tile store. Then three journaled tiles' pieces are damaged
by hand:

  - one bit flipped in the pixels of one piece (before checksums this gave
    exit 0 and one wrong pixel in the output);
  - another piece truncated to half its size (before: every rerun failed
    with "stored pixels ... are damaged");
  - a third piece rewritten as an older eefetch stored it (header version
    1, no checksums).

The resume must exit 0 with the output bit-identical to the uninterrupted
run and equal to tests/emulator/reference.py, warn naming each of the three
tiles and what was wrong, and (from the server's request log) fetch again
exactly those three of the journaled tiles, each once.
"""

import os
import re
import shutil
import signal
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rellib  # noqa: E402

LATENCY_MS = 30
HEADER = 64   # bytes before a piece's pixels (src/core/mosaic.c)


def journal_tiles(path):
    """{tile id: [(k, window)]} of the journal's intact records."""
    out = {}
    with open(path) as f:
        lines = f.read().split("\n")
    for line in lines[1:-1]:
        t = line.split()
        if not t or t[0] != "T":
            continue
        pieces = []
        for i in range(int(t[2])):
            k = 3 + 7 * i
            pieces.append((int(t[k]), (int(t[k + 1]), int(t[k + 2]), int(t[k + 3]), int(t[k + 4]))))
        out[int(t[1])] = pieces
    return out


def main():
    t = rellib.Checker()
    d = tempfile.mkdtemp(prefix="eefetch-damage-")
    log = os.path.join(d, "requests.jsonl")
    try:
        with rellib.server(log, "--latency-ms", LATENCY_MS) as emu:
            expected = os.path.join(d, "expected.tif")
            rec = rellib.recipe(os.path.join(d, "expected.lua"), expected)
            status, text = rellib.run(rec, emu)
            t.check(status == 0, "uninterrupted run exited %d: %s" % (status, text[-800:]))
            t.check(rellib.pixels_exact(expected), "uninterrupted run differs from the reference")

            out = os.path.join(d, "out.tif")
            journal = out + ".eefetch-journal"
            parts = out + ".eefetch-parts"
            rec = rellib.recipe(os.path.join(d, "out.lua"), out)
            n0 = len(rellib.read_log(log))
            p = rellib.start(rec, emu)
            rellib.wait_for(lambda: len(rellib.pixel_requests(rellib.read_log(log)[n0:])) >= 20
                            or p.poll() is not None, 60)
            p.send_signal(signal.SIGINT)
            text = p.communicate(timeout=60)[0].decode("utf-8", "replace")
            t.check(p.returncode == 1 and "interrupted" in text, "SIGINT: status %r: %s"
                    % (p.returncode, text[-500:]))
            time.sleep(3 * LATENCY_MS / 1000.0)
            n1 = len(rellib.read_log(log))
            if not t.check(os.path.exists(journal), "no journal after SIGINT"):
                return t.finish()
            tiles = journal_tiles(journal)
            single = sorted(tid for tid, pcs in tiles.items() if len(pcs) == 1)
            if not t.check(len(single) >= 3, "only %d journaled tiles: %s" % (len(single), text[-300:])):
                return t.finish()
            flipped, cut, old = single[0], single[len(single) // 2], single[-1]

            def piece(tid):
                return os.path.join(parts, "t%d_%d.px" % (tid, tiles[tid][0][0]))

            # One bit of one pixel (a sample in the middle of the piece).
            size = os.path.getsize(piece(flipped))
            with open(piece(flipped), "r+b") as f:
                off = HEADER + (size - HEADER) // 2
                f.seek(off)
                b = f.read(1)[0]
                f.seek(off)
                f.write(bytes([b ^ 0x04]))
            # Half a piece: a torn file.
            with open(piece(cut), "r+b") as f:
                f.truncate(os.path.getsize(piece(cut)) // 2)
            # The format of eefetch before checksums: version 1, the
            # checksum fields were zero padding.
            with open(piece(old), "r+b") as f:
                f.seek(8)
                f.write(struct.pack("<I", 1))
                f.seek(48)
                f.write(bytes(16))

            status, text = rellib.run(rec, emu)
            t.check(status == 0, "resume exited %d: %s" % (status, text[-1500:]))
            t.check(rellib.no_sanitizer_report(text), "sanitizer report on resume")
            t.check(rellib.same_pixels(out, expected), "resumed output differs from the uninterrupted run")
            t.check(rellib.pixels_exact(out), "resumed output differs from the reference")
            for leftover in (journal, parts, out + ".partial"):
                t.check(not os.path.exists(leftover), "%s left after the resume" % leftover)
            for tid, says in ((flipped, "are damaged (their checksum does not hold)"),
                              (cut, "are truncated"),
                              (old, "written by an older eefetch, without a checksum")):
                pat = r"tile %d: .*t%d_\d+\.px.*%s.*fetching tile %d again" % (tid, tid, re.escape(says), tid)
                t.check(re.search(pat, text), "no warning naming tile %d (%s): %s" % (tid, says, text[-1500:]))

            journaled = {w for pcs in tiles.values() for _, w in pcs}
            after = rellib.fetched(rellib.read_log(log)[n1:])
            want = {tiles[tid][0][1] for tid in (flipped, cut, old)}
            t.check(set(after) & journaled == want, "journaled tiles fetched again: %s, want exactly %s"
                    % (sorted(set(after) & journaled), sorted(want)))
            t.check(len(after) == len(set(after)), "the resume fetched a tile twice")
            print("%d journaled tiles, %d fetched by the resume; damaged tiles %d (bit), %d (cut), %d (old)"
                  % (len(tiles), len(after), flipped, cut, old), flush=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
