"""`eefetch serve --catalog-until YYYY-MM-DD`: the collections hold only the
images acquired on or before that day (UTC), everywhere (value:compute
collections, Image.load by id, assets.get, listImages); without the option
every image exists. A server restarted with a later date shows the new images
and the old ones unchanged (same system:version), which is what a pinned
recipe needs to see. Also system:version / updateTime of images and
collections.

Expected members and versions come from tests/emulator/reference.py and
ref_values.py (docs/emulator.md, "Catalog"), never from the emulator."""

import datetime
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
import ref_values as rv  # noqa: E402
import reference as ref  # noqa: E402
from emulib import c, call, load  # noqa: E402

FAILS = []
value = emulib.compute_value
error = emulib.compute_error


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)
    else:
        print("ok", what[:70])


def day_end_ms(date):
    """Exclusive end of a UTC day, from Python's datetime (not the emulator)."""
    d = datetime.datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=datetime.timezone.utc)
    return int((d + datetime.timedelta(days=1)).timestamp()) * 1000


def members(coll, until):
    end = day_end_ms(until) if until else None
    return [m["id"] for m in ref.collection(coll) if end is None or m["start_ms"] < end]


def coll(cid):
    return call("ImageCollection.load", id=c(cid))


def agg(node, prop):
    return call("AggregateFeatureCollection.array", collection=node, property=c(prop))


def rfc3339(us):
    return datetime.datetime.fromtimestamp(us // 1000000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def check_server(emu, until):
    tag = until or "all"
    for cid in (ref.S2, ref.L9, ref.CSP):
        want = members(cid, until)
        check(value(emu, call("Collection.size", collection=coll(cid))) == len(want),
              "%s: size of %s is %d" % (tag, cid, len(want)))
        ids = value(emu, agg(coll(cid), "system:id"))
        check(ids == want, "%s: members of %s (%d vs %d)" % (tag, cid, len(ids), len(want)))
        versions = value(emu, agg(coll(cid), "system:version"))
        check(versions == [rv.version(i) for i in want], "%s: system:version of %s members"
              % (tag, cid))
        info = value(emu, coll(cid))
        check(info.get("version") == rv.collection_version(cid, want),
              "%s: getInfo version of %s: %s" % (tag, cid, info.get("version")))
        # listImages (REST) agrees
        st, _, body = emu.get("/v1/projects/earthengine-public/assets/%s:listImages"
                              "?pageSize=10000" % cid)
        listed = json.loads(body).get("images", []) if st == 200 else []
        check(st == 200 and [x["id"] for x in listed] == want,
              "%s: listImages of %s (%d images)" % (tag, cid, len(listed)))
        check(all(x["updateTime"] == rfc3339(rv.version(x["id"])) for x in listed),
              "%s: listImages updateTime is the version" % tag)
        st, _, body = emu.get("/v1/projects/earthengine-public/assets/%s" % cid)
        if want:
            check(st == 200 and json.loads(body)["updateTime"] ==
                  rfc3339(rv.collection_version(cid, want)),
                  "%s: assets.get updateTime of %s" % (tag, cid))


def check_hidden(emu, until):
    """The first S2 and L9 images after the cut do not exist; the last ones
    on or before it (acquired on the cut day itself for S2) do."""
    end = day_end_ms(until)
    for cid in (ref.S2, ref.L9):
        later = [m["id"] for m in ref.collection(cid) if m["start_ms"] >= end][0]
        msg = error(emu, call("Element.get", object=load(later), property=c("system:index")))
        want = ("Image.load: Image asset '%s' not found (does not exist or caller does not "
                "have access)." % later)
        check(msg == want, "%s: loading %s: %r" % (until, later, msg))
        st, _, body = emu.get("/v1/projects/earthengine-public/assets/" + later)
        check(st == 404, "%s: assets.get of %s: %d" % (until, later, st))
        earlier = members(cid, until)[-1]
        got = value(emu, call("Element.get", object=load(earlier), property=c("system:version")))
        check(got == rv.version(earlier), "%s: %s loads, version %s" % (until, earlier, got))
    # S2 acquires on 2023-03-01 (D = 59): the cut day is included.
    day = [m for m in ref.collection(ref.S2) if m["id"] in members(ref.S2, until)][-1]
    check(until != "2023-03-01" or datetime.datetime.fromtimestamp(
        day["start_ms"] / 1000, datetime.timezone.utc).strftime("%Y-%m-%d") == "2023-03-01",
        "%s: the last S2 image is from the cut day" % until)


def test_bad_dates():
    for bad in ("2023-02-30", "2023-3-01", "2023-03-01T00:00", "yesterday", ""):
        r = subprocess.run([emulib.binary(), "serve", "--port", "0", "--catalog-until", bad],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 2 and "--catalog-until wants a date YYYY-MM-DD" in r.stderr,
              "--catalog-until %r refused (%d)" % (bad, r.returncode))


def main():
    early, late = "2023-03-01", "2023-06-30"
    # the dates must cut the collections for the test to mean anything
    check(0 < len(members(ref.S2, early)) < len(members(ref.S2, late)) <
          len(members(ref.S2, None)), "test dates cut the collections")
    with emulib.Emulator("--no-auth", "--catalog-until", early) as emu:
        emulib.run_each([check_server, check_hidden], FAILS, emu, early)
        v_early = value(emu, agg(coll(ref.L9), "system:version"))
    # restarted later: new images appear, the old ones keep their versions
    with emulib.Emulator("--no-auth", "--catalog-until", late) as emu:
        emulib.run_each([check_server, check_hidden], FAILS, emu, late)
        v_late = value(emu, agg(coll(ref.L9), "system:version"))
        check(len(v_late) > len(v_early) and v_late[:len(v_early)] == v_early,
              "later server: %d -> %d L9 images, old versions kept"
              % (len(v_early), len(v_late)))
    with emulib.Emulator("--no-auth") as emu:
        emulib.run_each([check_server], FAILS, emu, None)
        last = ref.collection(ref.S2)[-1]["id"]
        check(value(emu, call("Element.get", object=load(last), property=c("system:index")))
              == last.rsplit("/", 1)[1], "default server: the last S2 image loads")
        check(value(emu, call("Element.get", object=load(ref.SRTM),
                              property=c("system:version"))) == rv.SRTM_VERSION,
              "SRTM version")
    emulib.run_each([test_bad_dates], FAILS)
    return emulib.report(FAILS)


if __name__ == "__main__":
    sys.exit(main())
