"""Checks the computePixels requests of one download in an emulator request log.

usage: check_requests.py LOG MAX_BYTES SX TX SY TY WIDTH HEIGHT BAND:BYTES [BAND:BYTES ...]

The successful (200) requests must tile the output grid (EE affine order
scaleX=SX, translateX=TX, scaleY=SY, translateY=TY, WIDTH x HEIGHT) exactly:
every (pixel, band) requested once, every tile's translate on a whole pixel
of that grid, one CRS and one pixel size for all, each request at most
32768 pixels a side and MAX_BYTES by EE's accounting W*H*sum(bytes_b + 1).
"""
import json
import sys

import numpy as np


def main(argv):
    log, max_bytes = argv[1], int(argv[2])
    sx, tx, sy, ty = (float(v) for v in argv[3:7])
    w, h = int(argv[7]), int(argv[8])
    bands = {}
    for i, spec in enumerate(argv[9:]):
        name, size = spec.split(":")
        bands[name] = (i, int(size))
    cover = np.zeros((len(bands), h, w), dtype=np.int32)
    crs = set()
    fails = []
    n = 0
    with open(log) as f:
        for line in f:
            r = json.loads(line)
            if r.get("route") != "image.computePixels" or r.get("status") != 200:
                continue
            n += 1
            g = r["grid"]
            a = g["affineTransform"]
            d = g["dimensions"]
            crs.add(g.get("crsCode"))
            if a["scaleX"] != sx or a["scaleY"] != sy or a.get("shearX", 0) or a.get("shearY", 0):
                fails.append("request %d: pixel size %s" % (r["id"], a))
            u = (a["translateX"] - tx) / sx
            v = (a["translateY"] - ty) / sy
            if abs(u - round(u)) > 1e-6 or abs(v - round(v)) > 1e-6:
                fails.append("request %d: translate (%r, %r) is not on the pixel grid" % (
                    r["id"], a["translateX"], a["translateY"]))
                continue
            c0, r0, tw, th = int(round(u)), int(round(v)), d["width"], d["height"]
            if tw > 32768 or th > 32768:
                fails.append("request %d: %dx%d exceeds 32768" % (r["id"], tw, th))
            cost = tw * th * sum(bands[b][1] + 1 for b in r["bandIds"])
            if cost > max_bytes:
                fails.append("request %d: %d EE bytes > %d" % (r["id"], cost, max_bytes))
            for b in r["bandIds"]:
                cover[bands[b][0], r0:r0 + th, c0:c0 + tw] += 1
    if len(crs) != 1:
        fails.append("CRS codes %s" % crs)
    if n == 0:
        fails.append("no successful computePixels request in the log")
    bad = int((cover != 1).sum())
    if bad:
        fails.append("%d (pixel, band) cells requested %s times instead of once" % (
            bad, sorted(set(cover[cover != 1].ravel().tolist()))[:5]))
    for m in fails[:10]:
        print("FAIL:", m, file=sys.stderr)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
