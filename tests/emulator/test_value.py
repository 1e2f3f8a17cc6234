"""value:compute over HTTP: getInfo shapes of every value type.

Expected ids, properties, grids and counts come from reference.py (written
from docs/emulator.md), not from the emulator.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
import reference as ref  # noqa: E402
from emulib import c, call, expr, load, select  # noqa: E402

FAILS = []
PATH = "/v1/projects/test-project/value:compute"


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)


value = emulib.compute_value


def error(emu, node):
    status, _, body = emu.post(PATH, {"expression": expr(node)})
    return status, (emulib.error_of(body)["message"] if status != 200 else None)


def test_scalars(emu):
    check(value(emu, call("Number.add", left=c(1), right=c(2))) == 3, "Number.add")
    check(value(emu, call("Number.divide", left=c(5), right=c(10))) == 0.5, "Number.divide")
    check(value(emu, call("Number.divide", left=c(5), right=c(0))) == 0, "divide by 0")
    check(value(emu, call("String.cat", string1=c("ab"), string2=c("cd"))) == "abcd", "String.cat")
    check(value(emu, call("List.sequence", start=c(1), end=c(5))) == [1, 2, 3, 4, 5], "sequence")
    check(value(emu, call("List.size", list=c([1, "a", None]))) == 3, "List.size")
    check(value(emu, call("Dictionary", input=c({"a": 1, "b": [2]}))) == {"a": 1, "b": [2]},
          "Dictionary")
    check(value(emu, call("Dictionary.get", dictionary=c({"a": 1}), key=c("a"))) == 1,
          "Dictionary.get")
    check(value(emu, call("Date", value=c("2023-03-01T12:00:00Z"))) ==
          {"type": "Date", "value": 1677672000000}, "Date")
    check(value(emu, call("Date.millis", date=call("Date", value=c(5)))) == 5, "Date.millis")
    check(value(emu, {"integerValue": "112233445566778899"}) == 112233445566778899,
          "integerValue")
    check(value(emu, {"arrayValue": {"values": [c(1), {"valueReference": "1"}]}},
                **{"1": c("x")}) == [1, "x"], "arrayValue + valueReference")
    check(value(emu, {"dictionaryValue": {"values": {"k": c(True)}}}) == {"k": True},
          "dictionaryValue")
    check(value(emu, call("String.length", string=c("abcd"))) == 4, "String.length")
    check(value(emu, call("If", condition=c(0), trueCase=c("t"), falseCase=c("f"))) == "f", "If")
    cat = value(emu, call("Image.addBands", dstImg=call("Image.addBands", dstImg=call(
        "Image.constant", value=c(1)), srcImg=call("Image.constant", value=c(2))),
        srcImg=call("Image.constant", value=c(3))))
    check([b["id"] for b in cat["bands"]] == ["constant", "constant_1", "constant_2"],
          "addBands renames clashes %s" % [b["id"] for b in cat["bands"]])
    check(sorted(value(emu, call("Dictionary.keys", dictionary=c({"b": 1, "a": 2})))) ==
          ["a", "b"], "Dictionary.keys")
    # 2023-01-31 + 1 month = 2023-03-03 (Feb has 28 days; day overflow rolls on, UTC)
    for start, delta, unit, want in (("2023-01-15T06:00:00Z", 1, "month", "2023-02-15T06:00:00Z"),
                                     ("2023-11-15", 3, "month", "2024-02-15"),
                                     ("2024-02-10", -1, "year", "2023-02-10"),
                                     ("2023-01-01", 10, "day", "2023-01-11"),
                                     ("2023-01-01", 2, "week", "2023-01-15")):
        import datetime
        def ms(s):
            s = s.replace("Z", "")
            fmt = "%Y-%m-%dT%H:%M:%S" if "T" in s else "%Y-%m-%d"
            return int(datetime.datetime.strptime(s, fmt).replace(
                tzinfo=datetime.timezone.utc).timestamp() * 1000)
        got = value(emu, call("Date.advance", date=call("Date", value=c(start)), delta=c(delta),
                              unit=c(unit)))
        check(got == {"type": "Date", "value": ms(want)}, "Date.advance %s %s %s: %s" % (
            start, delta, unit, got))


def test_geometries(emu):
    pt = value(emu, call("GeometryConstructors.Point", coordinates=c([-122.1, 37.7])))
    check(pt == {"type": "Point", "coordinates": [-122.1, 37.7]}, "Point %s" % pt)
    poly = value(emu, call("GeometryConstructors.Polygon",
                           coordinates=c([[[-122.5, 37.5], [-122.0, 37.5], [-122.0, 38.0]]]),
                           evenOdd=c(True)))
    check(poly.get("type") == "Polygon" and poly.get("geodesic") is True, "Polygon %s" % poly)
    check(poly.get("coordinates") == [[[-122.5, 37.5], [-122.0, 37.5], [-122.0, 38.0],
                                       [-122.5, 37.5]]], "Polygon ring closed %s" % poly)
    rect = value(emu, call("GeometryConstructors.Rectangle", coordinates=c([0, 1, 2, 3]),
                           geodesic=c(False)))
    check(rect.get("geodesic") is False and rect["coordinates"] ==
          [[[0, 3], [0, 1], [2, 1], [2, 3], [0, 3]]], "Rectangle %s" % rect)
    line = value(emu, call("GeometryConstructors.LineString", coordinates=c([[0, 0], [1, 1]])))
    check(line == {"type": "LineString", "coordinates": [[0, 0], [1, 1]], "geodesic": True},
          "LineString %s" % line)
    mp = value(emu, call("GeometryConstructors.MultiPoint", coordinates=c([[0, 0], [1, 1]])))
    check(mp == {"type": "MultiPoint", "coordinates": [[0, 0], [1, 1]]}, "MultiPoint %s" % mp)
    mpoly = value(emu, call("GeometryConstructors.MultiPolygon",
                            coordinates=c([[[[0, 0], [1, 0], [1, 1]]], [[[5, 5], [6, 5], [6, 6]]]]),
                            geodesic=c(False)))
    check(mpoly.get("type") == "MultiPolygon" and mpoly["coordinates"][1] ==
          [[[5, 5], [6, 5], [6, 6], [5, 5]]] and mpoly["geodesic"] is False, "MultiPolygon")
    feat = value(emu, call("Feature", geometry=call("GeometryConstructors.Point",
                                                     coordinates=c([1, 2])),
                           metadata=c({"name": "x"})))
    check(feat == {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
                   "properties": {"name": "x"}}, "Feature %s" % feat)


def test_images(emu):
    info = value(emu, load(ref.SRTM))
    g = ref.native_grid(ref.SRTM, "elevation")
    check(info["type"] == "Image" and info["id"] == ref.SRTM and "version" in info, "SRTM head")
    b = info["bands"][0]
    check(b == {"id": "elevation",
                "data_type": {"type": "PixelType", "precision": "int", "min": -32768, "max": 32767},
                "dimensions": [g["width"], g["height"]], "crs": g["crs"],
                "crs_transform": b["crs_transform"]}, "SRTM band %s" % b)
    check(all(abs(a - e) < 1e-12 for a, e in zip(b["crs_transform"], g["affine"])),
          "SRTM crs_transform")
    check(info["properties"].get("system:index") == ref.properties(ref.SRTM)["system:index"],
          "SRTM properties")

    members = ref.collection(ref.S2)
    img = members[3]["id"]
    info = value(emu, load(img))
    check([x["id"] for x in info["bands"]] == ref.band_names(img), "S2 band ids")
    for x in info["bands"]:
        ng = ref.native_grid(img, x["id"])
        check(x["crs"] == ng["crs"] and x["crs_transform"] == ng["affine"] and
              x["dimensions"] == [ng["width"], ng["height"]], "S2 grid of %s" % x["id"])
    check(info["properties"]["CLOUDY_PIXEL_PERCENTAGE"] ==
          ref.properties(img)["CLOUDY_PIXEL_PERCENTAGE"], "S2 cloud property")
    check(value(emu, call("Image.bandNames", image=load(img))) == ref.band_names(img),
          "bandNames")
    proj = value(emu, call("Image.projection", image=select(load(img), ["B5"])))
    check(proj == {"type": "Projection", "crs": ref.native_grid(img, "B5")["crs"],
                   "transform": ref.native_grid(img, "B5")["affine"]}, "projection %s" % proj)
    check(value(emu, call("Element.get", object=load(img), property=c("MGRS_TILE"))) ==
          ref.properties(img)["MGRS_TILE"], "Element.get")
    setp = value(emu, call("Element.set", object=load(img), key=c("answer"), value=c(42)))
    check(setp["properties"]["answer"] == 42 and setp["properties"]["MGRS_TILE"] ==
          ref.properties(img)["MGRS_TILE"], "Element.set")
    lt = value(emu, call("Image.lt", image1=select(load(img), ["B4"]), image2=c(1000)))
    check(lt["bands"][0]["data_type"] == {"type": "PixelType", "precision": "int", "min": 0,
                                          "max": 1}, "Image.lt type")
    # types of computed bands
    add = value(emu, call("Image.add", image1=select(load(img), ["B4"]),
                          image2=select(load(img), ["B8"])))
    check(add["bands"][0]["data_type"] == {"type": "PixelType", "precision": "int", "min": 0,
                                           "max": 131070}, "uint16 + uint16 range")
    check("id" not in add and add["properties"] == {}, "arithmetic drops id and properties")
    nd = value(emu, call("Image.normalizedDifference", input=load(img),
                         bandNames=c(["B8", "B4"])))
    check(nd["bands"][0]["id"] == "nd" and nd["bands"][0]["data_type"] ==
          {"type": "PixelType", "precision": "float"}, "normalizedDifference type")
    const = value(emu, call("Image.constant", value=c(5)))
    check(const["bands"][0]["crs"] == "EPSG:4326" and
          const["bands"][0]["crs_transform"] == [1, 0, 0, 0, 1, 0] and
          "dimensions" not in const["bands"][0], "constant projection")


def test_collections(emu):
    members = ref.collection(ref.L9)
    coll = call("ImageCollection.load", id=c(ref.L9))
    check(value(emu, call("Collection.size", collection=coll)) == len(members), "size")
    flt = call("Collection.filter", collection=coll, filter=call(
        "Filter.and", filters={"arrayValue": {"values": [
            call("Filter.greaterThan", leftField=c("CLOUD_COVER"), rightValue=c(30)),
            call("Filter.not", filter=call("Filter.equals", leftField=c("WRS_PATH"),
                                           rightValue=c(191)))]}}))
    want = [m for m in members if m["properties"]["CLOUD_COVER"] > 30 and
            m["properties"]["WRS_PATH"] != 191]
    got = value(emu, call("AggregateFeatureCollection.array", collection=flt,
                          property=c("system:index")))
    check(got == [m["properties"]["system:index"] for m in want], "and/not/gt filter")
    orf = call("Collection.filter", collection=coll, filter=call(
        "Filter.or", filters={"arrayValue": {"values": [
            call("Filter.lessThan", leftField=c("CLOUD_COVER"), rightValue=c(10)),
            call("Filter.equals", leftField=c("WRS_ROW"), rightValue=c(26))]}}))
    want2 = [m for m in members if m["properties"]["CLOUD_COVER"] < 10 or
             m["properties"]["WRS_ROW"] == 26]
    check(value(emu, call("Collection.size", collection=orf)) == len(want2), "or filter")
    info = value(emu, call("Collection.limit", collection=flt, limit=c(2)))
    check(info["type"] == "ImageCollection" and info["id"] == ref.L9 and info["bands"] == [],
          "collection head")
    check([f["id"] for f in info["features"]] == [m["id"] for m in want[:2]] and
          all(f["type"] == "Image" for f in info["features"]), "collection features")
    first = value(emu, call("Collection.first", collection=flt))
    check(first["id"] == want[0]["id"], "first")
    # dates as ms numbers and as Date values
    dr = call("DateRange", start=call("Date", value=c("2023-02-01")), end=c(1680307200000))
    dated = call("Collection.filter", collection=coll, filter=call(
        "Filter.dateRangeContains", leftValue=dr, rightField=c("system:time_start")))
    want3 = [m for m in members if 1675209600000 <= m["start_ms"] < 1680307200000]
    check(value(emu, call("Collection.size", collection=dated)) == len(want3), "date filter")


def test_errors(emu):
    st, msg = error(emu, call("Number.frob", left=c(1)))
    check(st == 400 and msg == "Unknown function: Number.frob", "unknown function %s" % msg)
    st, msg = error(emu, call("Number.add", left=c("a"), right=c(1)))
    check(st == 400 and msg == "Number.add, argument 'left': Invalid type.\nExpected type: "
          "Number.\nActual type: String.", "wrong type %r" % msg)
    st, msg = error(emu, call("ImageCollection.load", id=c("NOPE")))
    check(st == 400 and "not found" in msg, "missing collection")
    st, msg = error(emu, call("Filter.intersects", leftField=c(".all")))
    check(st == 400, "filter without right operand")
    status, _, body = emu.post(PATH, b"{\"expression\": ")
    check(status == 400, "malformed JSON %d" % status)
    status, _, body = emu.post(PATH, {"expression": {"result": "0", "values": {
        "0": {"valueReference": "1"}, "1": {"valueReference": "0"}}}})
    check(status == 400 and "refers to itself" in emulib.error_of(body)["message"], "cycle")
    check(value(emu, call("Number.add", left=c(1), right=c(1))) == 2, "alive after errors")


def main():
    with emulib.Emulator() as emu:
        emulib.run_each([test_scalars, test_geometries, test_images, test_collections, test_errors],
                        FAILS, emu)
    return emulib.report(FAILS)


if __name__ == "__main__":
    sys.exit(main())
