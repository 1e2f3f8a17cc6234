"""System and ordinary properties of images and collections through
value:compute: system:id / system:version / system:asset_size /
system:footprint / system:index / system:time_* as EE shows them, which
operations keep them, propertyNames, toDictionary, typed gets,
copyProperties, aggregate_*, toList, merge, distinct, iterate.

Expected values come from tests/emulator/reference.py and ref_values.py,
never from the emulator."""

import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
import ref_values as rv  # noqa: E402
import reference as ref  # noqa: E402
from emulib import c, call, load, select  # noqa: E402

FAILS = []
PATH = "/v1/projects/test-project/value:compute"


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)
    else:
        print("ok", what.split(":")[0][:70])


value = emulib.compute_value


error = emulib.compute_error


def get(obj, prop):
    return call("Element.get", object=obj, property=c(prop))


def coll(cid):
    return call("ImageCollection.load", id=c(cid))


def date_filter(cnode, start, end):
    return call("Collection.filter", collection=cnode, filter=call(
        "Filter.dateRangeContains", leftValue=call("DateRange", start=c(start), end=c(end)),
        rightField=c("system:time_start")))


def close_ring(a, b):
    return len(a) == len(b) and all(abs(p[0] - q[0]) < 1e-9 and abs(p[1] - q[1]) < 1e-9
                                    for p, q in zip(a, b))


def same_props(got, want, what):
    """Equal dictionaries, footprints compared to 1e-9 degrees."""
    g, w = dict(got), dict(want)
    gf, wf = g.pop("system:footprint", None), w.pop("system:footprint", None)
    check(g == w, "%s: %s != %s" % (what, {k: v for k, v in g.items() if w.get(k) != v},
                                     {k: v for k, v in w.items() if g.get(k) != v}))
    check((gf is None and wf is None) or
          (gf and wf and gf["type"] == wf["type"] and
           close_ring(gf["coordinates"], wf["coordinates"])),
          "%s footprint: %s vs %s" % (what, gf, wf))


def test_system_properties(emu):
    s2 = ref.collection(ref.S2)[7]["id"]
    for iid in (ref.SRTM, s2, ref.collection(ref.L9)[3]["id"]):
        want = rv.system_properties(iid)
        for key in ("system:id", "system:version", "system:asset_size", "system:index",
                    "system:time_start", "system:time_end"):
            check(value(emu, get(load(iid), key)) == want[key],
                  "Image.get(%s) of %s" % (key, iid))
        fp = value(emu, get(load(iid), "system:footprint"))
        check(fp["type"] == "LinearRing" and close_ring(fp["coordinates"],
                                                       want["system:footprint"]["coordinates"]),
              "system:footprint of %s: %s" % (iid, fp))
        info = value(emu, load(iid))
        check(list(info)[:4] == ["type", "bands", "id", "version"],
              "getInfo key order %s" % list(info))
        check(info["id"] == want["system:id"] and info["version"] == rv.version(iid),
              "getInfo id/version of %s" % iid)
        wp = dict(want)
        del wp["system:id"], wp["system:version"]
        same_props(info["properties"], wp, "getInfo properties of %s" % iid)
        names = value(emu, call("Element.propertyNames", element=load(iid)))
        check(sorted(names) == sorted(list(want) + ["system:bands", "system:band_names"]),
              "propertyNames of %s: %s" % (iid, sorted(names)))
        check(value(emu, get(load(iid), "system:band_names")) == ref.band_names(iid),
              "system:band_names of %s" % iid)
        bands = value(emu, get(load(iid), "system:bands"))
        check(sorted(bands) == sorted(ref.band_names(iid)) and all(
            bands[b]["crs"] == ref.native_grid(iid, b)["crs"] for b in bands),
            "system:bands of %s" % iid)
        d = value(emu, call("Image.date", image=load(iid)))
        check(d == {"type": "Date", "value": want["system:time_start"]}, "Image.date of %s" % iid)

    # the ids of a filtered collection (what geedim reads)
    members = [m for m in ref.collection(ref.L9)
               if 1685577600000 <= m["start_ms"] < 1693526400000]
    got = value(emu, call("AggregateFeatureCollection.array", collection=date_filter(
        coll(ref.L9), "2023-06-01", "2023-09-01"), property=c("system:id")))
    check(got == [m["id"] for m in members], "aggregate_array(system:id): %s" % got[:3])
    first = value(emu, call("Collection.first", collection=coll(ref.S2)))
    check(first["id"] == ref.collection(ref.S2)[0]["id"] and
          first["properties"]["system:index"] == ref.collection(ref.S2)[0]["properties"][
              "system:index"], "first image of a collection keeps its id")
    check(value(emu, get(coll(ref.S2), "system:id")) == ref.S2, "ImageCollection get system:id")
    cinfo = value(emu, date_filter(coll(ref.L9), "2023-06-01", "2023-06-20"))
    check(cinfo["version"] == rv.collection_version(ref.L9),
          "collection getInfo version: %s" % cinfo.get("version"))
    check(cinfo["id"] == ref.L9 and
          [f["id"] for f in cinfo["features"]] ==
          [m["id"] for m in ref.collection(ref.L9) if 1685577600000 <= m["start_ms"] <
           1685577600000 + 19 * 86400000], "collection getInfo features carry ids")
    for f in cinfo["features"]:
        wp = rv.system_properties(f["id"])
        del wp["system:id"], wp["system:version"]
        same_props(f["properties"], wp, "collection member properties %s" % f["id"])


def test_kept_or_dropped(emu):
    iid = ref.collection(ref.S2)[5]["id"]
    rect = call("GeometryConstructors.Rectangle", coordinates=c([-122.4, 37.6, -122.3, 37.7]),
                geodesic=c(False))
    want = rv.system_properties(iid)
    # property-keeping operations keep the system properties, id included
    for name, node in (
            ("select", select(load(iid), ["B4"])),
            ("clip", call("Image.clip", input=load(iid), geometry=rect)),
            ("updateMask", call("Image.updateMask", image=load(iid), mask=select(load(iid), ["B8"]))),
            ("set", call("Element.set", object=load(iid), key=c("k"), value=c(1)))):
        info = value(emu, node)
        check(info.get("id") == iid and info["properties"]["system:time_start"] ==
              want["system:time_start"] and info["properties"]["system:asset_size"] ==
              want["system:asset_size"], "%s keeps system properties" % name)
    # arithmetic keeps none (EE: math results carry no properties)
    add = value(emu, call("Image.add", image1=select(load(iid), ["B4"]), image2=c(1)))
    check("id" not in add and add["properties"] == {}, "add drops id and properties")
    check(value(emu, get(call("Image.multiply", image1=load(iid), image2=c(2)),
                         "system:id")) is None, "multiply has no system:id")
    err = error(emu, call("Image.date", image=call("Image.constant", value=c(1))))
    check(err is not None and err.startswith("Image.date: "), "Image.date without time: %s" % err)


def test_element_functions(emu):
    iid = ref.collection(ref.L9)[2]["id"]
    props = ref.properties(iid)
    d = value(emu, call("Element.toDictionary", element=load(iid)))
    check(d == {k: v for k, v in props.items() if not k.startswith("system:")},
          "toDictionary default: non-system properties")
    d2 = value(emu, call("Element.toDictionary", element=load(iid),
                         properties=c(["WRS_PATH", "system:index"])))
    check(d2 == {"WRS_PATH": props["WRS_PATH"], "system:index": props["system:index"]},
          "toDictionary(list) %s" % d2)
    check(value(emu, call("Element.getNumber", object=load(iid), property=c("CLOUD_COVER"))) ==
          props["CLOUD_COVER"], "getNumber")
    check(value(emu, call("Element.getString", object=load(iid), property=c("SENSOR_ID"))) ==
          props["SENSOR_ID"], "getString")
    err = error(emu, call("Element.getNumber", object=load(iid), property=c("SENSOR_ID")))
    check(err and err.startswith("Element.getNumber: "), "getNumber of a string: %s" % err)
    err = error(emu, call("Element.getString", object=load(iid), property=c("nope")))
    check(err == "Element.getString: Property 'nope' is missing.", "getString missing: %s" % err)
    multi = value(emu, call("Element.setMulti", object=load(iid),
                            properties=c({"a": 1, "b": "x"})))
    check(multi["properties"]["a"] == 1 and multi["properties"]["b"] == "x" and
          multi["id"] == iid, "setMulti")
    # copyProperties: ordinary properties of the source onto a computed image
    cp = value(emu, call("Element.copyProperties",
                         destination=call("Image.add", image1=select(load(iid), ["SR_B4"]),
                                          image2=c(1)), source=load(iid)))
    check(cp["properties"] == {k: v for k, v in props.items() if not k.startswith("system:")},
          "copyProperties default")
    cp2 = value(emu, call("Element.copyProperties",
                          destination=call("Image.constant", value=c(1)), source=load(iid),
                          properties=c(["system:time_start", "WRS_ROW"])))
    check(cp2["properties"] == {"system:time_start": props["system:time_start"],
                                "WRS_ROW": props["WRS_ROW"]}, "copyProperties(list) %s" %
          cp2["properties"])
    cp3 = value(emu, call("Element.copyProperties", destination=call("Image.constant", value=c(1)),
                          source=load(iid), exclude=c(["WRS_ROW", "WRS_PATH"])))
    check("WRS_ROW" not in cp3["properties"] and "SENSOR_ID" in cp3["properties"],
          "copyProperties exclude")


def test_aggregates(emu):
    members = [m for m in ref.collection(ref.S2) if m["properties"]["MGRS_TILE"] == "10SEG"]
    cnode = call("Collection.filter", collection=coll(ref.S2), filter=call(
        "Filter.equals", leftField=c("MGRS_TILE"), rightValue=c("10SEG")))
    vals = [m["properties"]["CLOUDY_PIXEL_PERCENTAGE"] for m in members]

    def agg(name, prop="CLOUDY_PIXEL_PERCENTAGE"):
        return value(emu, call("AggregateFeatureCollection." + name, collection=cnode,
                               property=c(prop)))

    def near(a, b):
        return abs(a - b) <= 1e-9 * max(1, abs(b))

    check(agg("min") == min(vals) and agg("max") == max(vals), "aggregate_min/max")
    check(near(agg("mean"), statistics.fmean(vals)), "aggregate_mean")
    check(near(agg("sum"), math.fsum(vals)), "aggregate_sum")
    check(near(agg("product", "SENSING_ORBIT_NUMBER"), 70.0 ** len(vals)), "aggregate_product")
    check(agg("count") == len(vals), "aggregate_count")
    check(agg("first") == vals[0], "aggregate_first")
    check(agg("count_distinct") == len(set(vals)), "aggregate_count_distinct")
    check(near(agg("sample_sd"), statistics.stdev(vals)), "aggregate_sample_sd")
    check(near(agg("sample_var"), statistics.variance(vals)), "aggregate_sample_var")
    check(near(agg("total_sd"), statistics.pstdev(vals)), "aggregate_total_sd")
    check(near(agg("total_var"), statistics.pvariance(vals)), "aggregate_total_var")
    st = agg("stats")
    check(sorted(st) == ["max", "mean", "min", "sample_sd", "sample_var", "sum", "sum_sq",
                         "total_count", "total_sd", "total_var", "valid_count", "weight_sum",
                         "weighted_sum"] and st["valid_count"] == len(vals) and
          near(st["sum_sq"], math.fsum(v * v for v in vals)) and near(st["mean"], statistics.fmean(vals)),
          "aggregate_stats %s" % st)
    hist = agg("histogram", "SPACECRAFT_NAME")
    want = {}
    for m in members:
        want[m["properties"]["SPACECRAFT_NAME"]] = want.get(m["properties"]["SPACECRAFT_NAME"], 0) + 1
    check(hist == want, "aggregate_histogram %s" % hist)
    check(agg("count", "no_such_property") == 0, "aggregate_count of a missing property")
    check(agg("mean", "no_such_property") is None, "aggregate_mean of nothing is null")


def test_collections(emu):
    s2 = ref.collection(ref.S2)
    body = {"result": "0", "values": {
        "0": call("List.map", list=call("Collection.toList", collection=coll(ref.S2), count=c(3),
                                        offset=c(2)),
                  baseAlgorithm={"functionDefinitionValue": {"argumentNames": ["_x"], "body": "1"}}),
        "1": get({"argumentReference": "_x"}, "system:index")}}
    status, _, raw = emu.post(PATH, {"expression": body})
    check(status == 200 and json.loads(raw)["result"] ==
          [m["properties"]["system:index"] for m in s2[2:5]], "toList(3, 2) + List.map")
    merged = value(emu, call("AggregateFeatureCollection.array", property=c("system:id"),
                             collection=call("ImageCollection.merge",
                                             collection1=date_filter(coll(ref.L9), "2023-01-01",
                                                                     "2023-01-20"),
                                             collection2=date_filter(coll(ref.S2), "2023-01-01",
                                                                     "2023-01-08"))))
    want = [m["id"] for m in ref.collection(ref.L9) if m["start_ms"] < 1674172800000] + \
           [m["id"] for m in s2 if m["start_ms"] < 1673136000000]
    check(merged == want, "ImageCollection.merge keeps both orders: %s" % merged)
    tiles = value(emu, call("AggregateFeatureCollection.array", property=c("MGRS_TILE"),
                            collection=call("Collection.distinct", collection=coll(ref.S2),
                                            properties=c(["MGRS_TILE"]))))
    seen = []
    for m in s2:
        if m["properties"]["MGRS_TILE"] not in seen:
            seen.append(m["properties"]["MGRS_TILE"])
    check(tiles == seen, "Collection.distinct %s" % tiles)
    # iterate: sum of WRS_PATH over a filtered collection
    l9 = date_filter(coll(ref.L9), "2023-03-01", "2023-04-01")
    body = {"result": "0", "values": {
        "0": call("Collection.iterate", collection=l9, first=c(0),
                  function={"functionDefinitionValue": {"argumentNames": ["img", "acc"],
                                                        "body": "1"}}),
        "1": call("Number.add", left={"argumentReference": "acc"},
                  right=get({"argumentReference": "img"}, "WRS_PATH"))}}
    status, _, raw = emu.post(PATH, {"expression": body})
    want = sum(m["properties"]["WRS_PATH"] for m in ref.collection(ref.L9)
               if 1677628800000 <= m["start_ms"] < 1680307200000)
    check(status == 200 and json.loads(raw)["result"] == want, "Collection.iterate %s" % raw[:200])


def test_lua_client():
    """The same through eefetch's own client (`eefetch eval --emulator`)."""
    import subprocess
    snippet = """
local c = ee.ImageCollection("%s"):filterDate("2023-06-01", "2023-09-01")
print(json.encode({ids = c:aggregate_array("system:id"):getInfo(),
                   one = c:first():get("system:id"):getInfo(),
                   size = ee.Image(c:first()):get("system:asset_size"):getInfo()}))
""" % ref.L9
    r = subprocess.run([emulib.binary(), "eval", "--emulator", snippet], capture_output=True,
                       text=True, timeout=120)
    check(r.returncode == 0, "eval: %s" % r.stderr[-300:])
    got = json.loads(r.stdout.strip().splitlines()[-1])
    members = [m["id"] for m in ref.collection(ref.L9)
               if 1685577600000 <= m["start_ms"] < 1693526400000]
    check(got["ids"] == members and got["one"] == members[0] and
          got["size"] == rv.asset_size(members[0]), "Lua client: system:id, asset_size %s" % got)


def main():
    emulib.run_each([test_lua_client], FAILS)
    with emulib.Emulator() as emu:
        emulib.run_each([test_system_properties, test_kept_or_dropped, test_element_functions,
                         test_aggregates, test_collections], FAILS, emu)
    return emulib.report(FAILS)


if __name__ == "__main__":
    sys.exit(main())
