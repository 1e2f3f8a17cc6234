"""Numbers, strings, lists, dictionaries, IsEqual, closures and the string,
list and range filters through value:compute, each against Python's own
computation; and the errors for unknown and unimplemented functions."""

import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulib  # noqa: E402
import reference as ref  # noqa: E402
from emulib import c, call  # noqa: E402

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, file=sys.stderr)


value = emulib.compute_value


error = emulib.compute_error


def close(a, b):
    if isinstance(b, float) and math.isnan(b):
        return isinstance(a, float) and math.isnan(a)
    return a == b or (isinstance(a, (int, float)) and abs(a - b) <= 1e-12 * max(1, abs(b)))


def fn(args, body):
    return {"functionDefinitionValue": {"argumentNames": args, "body": body}}


def arg(name):
    return {"argumentReference": name}


def test_numbers(emu):
    pairs = [(7, 3), (-7, 3), (7.5, -2), (2, 0.5), (0, 5), (12, 10)]
    ops = {"pow": lambda a, b: a ** b, "mod": math.fmod, "atan2": math.atan2, "hypot": math.hypot,
           "eq": lambda a, b: int(a == b), "neq": lambda a, b: int(a != b),
           "lt": lambda a, b: int(a < b), "gte": lambda a, b: int(a >= b),
           "and": lambda a, b: int(bool(a) and bool(b)), "or": lambda a, b: int(bool(a) or bool(b)),
           "bitwiseAnd": lambda a, b: int(a) & int(b), "bitwiseOr": lambda a, b: int(a) | int(b),
           "bitwiseXor": lambda a, b: int(a) ^ int(b), "leftShift": lambda a, b: int(a) << int(b),
           "rightShift": lambda a, b: int(a) >> int(b)}
    nodes, want = [], []
    for name, f in ops.items():
        for a, b in pairs:
            if name in ("leftShift", "rightShift") and (b < 0 or b != int(b)):
                continue
            nodes.append(call("Number." + name, left=c(a), right=c(b)))
            want.append((f(a, b), name, a, b))
    unary = {"sqrt": math.sqrt, "log": math.log, "log10": math.log10, "exp": math.exp,
             "sin": math.sin, "acos": math.acos, "tanh": math.tanh, "cbrt": lambda v: math.copysign(
                 abs(v) ** (1 / 3), v), "signum": lambda v: (v > 0) - (v < 0), "erf": math.erf,
             "gamma": math.gamma}
    for name, f in unary.items():
        for v in (0.25, 2.0, 9.0):
            if name == "acos" and v > 1:
                continue
            nodes.append(call("Number." + name, input=c(v)))
            want.append((f(v), name, v, None))
    for name, v, w in (("toUint8", 300.7, 255), ("toInt8", -200, -128), ("toInt16", 1234.9, 1234),
                       ("toUint16", -5, 0), ("toInt32", -3.9, -3), ("toLong", 1e20, 9223372036854775807),
                       ("toFloat", 0.1, 0.10000000149011612), ("byte", 17.5, 17)):
        nodes.append(call("Number." + name, input=c(v)))
        want.append((w, name, v, None))
    nodes.append(call("Number.clamp", number=c(12), min=c(0), max=c(10)))
    want.append((10, "clamp", 12, None))
    got = value(emu, {"arrayValue": {"values": nodes}})
    bad = [(g, w) for g, w in zip(got, want) if not close(g, w[0])]
    check(not bad, "Number functions: %d of %d differ, e.g. %s" % (len(bad), len(want), bad[:4]))
    for num, pat, w in ((3.14159, "%.2f", "3.14"), (42, None, "42"), (2.5, None, "2.5"),
                        (7, "%05d", "00007"), (255, "%x", "ff"), (1234.5, "Value: %10.3e!",
                                                                  "Value: %10.3e!" % 1234.5),
                        (0.1, "%s%%", "0.1%")):
        args = {"number": c(num)}
        if pat:
            args["pattern"] = c(pat)
        got = value(emu, call("Number.format", **args))
        check(got == w, "Number.format(%r, %r): %r" % (num, pat, got))
    for s, radix, w in (("42", None, 42), ("-3.5e2", None, -350.0), ("ff", 16, 255), ("101", 2, 5)):
        args = {"input": c(s)}
        if radix:
            args["radix"] = c(radix)
        check(value(emu, call("Number.parse", **args)) == w, "Number.parse %s" % s)
    check(error(emu, call("Number.parse", input=c("4x2"))) ==
          "Number.parse: Unable to parse '4x2' as a number.", "Number.parse error")


def test_strings(emu):
    s = "Sentinel-2A_MSIL2A_20230105"
    cases = [
        (call("String.slice", string=c(s), start=c(3), end=c(8)), s[3:8]),
        (call("String.slice", string=c(s), start=c(-8)), s[-8:]),
        (call("String.slice", string=c(s), start=c(5), end=c(-3)), s[5:-3]),
        (call("String.slice", string=c(s), start=c(40)), ""),
        (call("String.index", target=c(s), pattern=c("2A")), s.index("2A")),
        (call("String.rindex", target=c(s), pattern=c("2A")), s.rindex("2A")),
        (call("String.index", target=c(s), pattern=c("zz")), -1),
        (call("String.replace", input=c(s), regex=c("2A"), replacement=c("2B")),
         s.replace("2A", "2B", 1)),
        (call("String.replace", input=c(s), regex=c("2A"), replacement=c("2B"), flags=c("g")),
         s.replace("2A", "2B")),
        (call("String.replace", input=c(s), regex=c("(\\d{4})(\\d{2})(\\d{2})"),
              replacement=c("$1-$2-$3")), re.sub(r"(\d{4})(\d{2})(\d{2})", r"\1-\2-\3", s, 1)),
        (call("String.replace", input=c("abc"), regex=c(""), replacement=c("-"), flags=c("g")),
         "-a-b-c-"),
        (call("String.replace", input=c("aAa"), regex=c("a"), replacement=c("x"), flags=c("gi")),
         "xxx"),
        (call("String.split", string=c(s), regex=c("_")), s.split("_")),
        (call("String.split", string=c("a,b,,c,,"), regex=c(",")), ["a", "b", "", "c"]),
        (call("String.split", string=c("abc"), regex=c("")), ["a", "b", "c"]),
        (call("String.split", string=c("a1b22c"), regex=c("\\d+")), re.split(r"\d+", "a1b22c")),
        (call("String.split", string=c(""), regex=c(",")), [""]),
        (call("String.match", input=c(s), regex=c("(\\d{4})(\\d{2})")),
         list(re.search(r"(\d{4})(\d{2})", s).group(0, 1, 2))),
        (call("String.match", input=c(s), regex=c("[0-9]A"), flags=c("g")), re.findall("[0-9]A", s)),
        (call("String.toUpperCase", string=c(s)), s.upper()),
        (call("String.toLowerCase", string=c(s)), s.lower()),
        (call("String.trim", string=c("  x y \t")), "x y"),
        (call("String.compareTo", string1=c("apple"), string2=c("apricot")), ord("p") - ord("r")),
        (call("String.compareTo", string1=c("ab"), string2=c("abcd")), -2),
        (call("String.compareTo", string1=c("b"), string2=c("b")), 0),
        (call("String.equals", reference=c("x"), target=c("x")), True),
        (call("String.equals", reference=c("1"), target=c(1)), False),
        (call("String.decodeJSON", string=c('{"a": [1, 2.5, "x"]}')), {"a": [1, 2.5, "x"]}),
        (call("String.encodeJSON", object=c([1, "a"])), '[1,"a"]'),
    ]
    got = value(emu, {"arrayValue": {"values": [n for n, _ in cases]}})
    for g, (node, w) in zip(got, cases):
        check(g == w, "%s: %r, want %r" % (node["functionInvocationValue"]["functionName"], g, w))


def test_lists(emu):
    L = [5, "b", 3, [1, [2, 3]], 5, "a", 3]
    nums = [4, 1, 3, 1, 2]
    cases = [
        (call("List.slice", list=c(L), start=c(1), end=c(4)), L[1:4]),
        (call("List.slice", list=c(L), start=c(-3)), L[-3:]),
        (call("List.slice", list=c(L), start=c(0), end=c(99), step=c(2)), L[0:99:2]),
        (call("List.contains", list=c(L), element=c("a")), True),
        (call("List.contains", list=c(L), element=c([1, [2, 3]])), True),
        (call("List.contains", list=c(L), element=c(4)), False),
        (call("List.indexOf", list=c(L), element=c(3)), L.index(3)),
        (call("List.indexOf", list=c(L), element=c("zz")), -1),
        (call("List.frequency", list=c(L), element=c(5)), L.count(5)),
        (call("List.flatten", list=c(L)), [5, "b", 3, 1, 2, 3, 5, "a", 3]),
        (call("List.distinct", list=c(L)), [5, "b", 3, [1, [2, 3]], "a"]),
        (call("List.sort", list=c(nums)), sorted(nums)),
        (call("List.sort", list=c(["b", "a", "c"]), keys=c([2, 3, 1])), ["c", "b", "a"]),
        (call("List.sort", list=c(["b", 2, "a", 1])), [1, 2, "a", "b"]),
        (call("List.zip", list=c([1, 2, 3]), other=c(["a", "b"])), [[1, "a"], [2, "b"]]),
        (call("List.unzip", list=c([[1, "a"], [2, "b"]])), [[1, 2], ["a", "b"]]),
        (call("List.add", list=c(nums), element=c(9)), nums + [9]),
        (call("List.insert", list=c(nums), index=c(1), element=c(9)), nums[:1] + [9] + nums[1:]),
        (call("List.set", list=c(nums), index=c(-1), element=c(9)), nums[:-1] + [9]),
        (call("List.remove", list=c(nums), element=c(1)), [4, 3, 1, 2]),
        (call("List.removeAll", list=c(nums), other=c([1, 2])), [4, 3]),
        (call("List.replace", list=c(nums), oldval=c(1), newval=c(0)), [4, 0, 3, 1, 2]),
        (call("List.replaceAll", list=c(nums), oldval=c(1), newval=c(0)), [4, 0, 3, 0, 2]),
        (call("List.reverse", list=c(nums)), nums[::-1]),
        (call("List.rotate", list=c(nums), distance=c(2)), nums[-2:] + nums[:-2]),
        (call("List.swap", list=c(nums), pos1=c(0), pos2=c(4)), [2, 1, 3, 1, 4]),
        (call("List.repeat", value=c("x"), count=c(3)), ["x"] * 3),
        (call("List.splice", list=c(nums), start=c(1), count=c(2), other=c(["a"])),
         nums[:1] + ["a"] + nums[3:]),
        (call("List.join", list=c(["a", 1, 2.5]), separator=c("/")), "a/1/2.5"),
        (call("List.equals", list=c(nums), other=c(nums)), True),
        (call("List.containsAll", list=c(nums), other=c([1, 4])), True),
        (call("List.indexOfSublist", list=c(nums), target=c([3, 1])), 2),
        (call("List.lastIndexOfSubList", list=c([1, 2, 1, 2]), target=c([1, 2])), 2),
        (call("List.getNumber", list=c(nums), index=c(2)), 3),
        (call("IsEqual", left=c({"a": [1, 2]}), right=c({"a": [1, 2]})), True),
        (call("IsEqual", left=c(1), right=c("1")), False),
    ]
    got = value(emu, {"arrayValue": {"values": [n for n, _ in cases]}})
    for g, (node, w) in zip(got, cases):
        check(g == w, "%s: %r, want %r" % (node["functionInvocationValue"]["functionName"], g, w))
    # map, filter, iterate with functions as the clients send them
    sq = value(emu, call("List.map", list=c(nums), baseAlgorithm=fn(["_v"], "1")),
               **{"1": call("Number.multiply", left=arg("_v"), right=arg("_v"))})
    check(sq == [v * v for v in nums], "List.map %s" % sq)
    flt = value(emu, call("List.filter", list=c(nums), filter=call(
        "Filter.greaterThan", leftField=c("item"), rightValue=c(2))))
    check(flt == [v for v in nums if v > 2], "List.filter on 'item' %s" % flt)
    acc = value(emu, call("List.iterate", list=c(nums), first=c(0), function=fn(["_v", "_s"], "1")),
                **{"1": call("Number.add", left=arg("_s"), right=arg("_v"))})
    check(acc == sum(nums), "List.iterate %s" % acc)
    # a closure: the inner function uses the outer function's argument
    nested = value(emu, call("List.map", list=c([1, 2]), baseAlgorithm=fn(["_o"], "1")), **{
        "1": call("List.map", list=c([10, 20]), baseAlgorithm=fn(["_i"], "2")),
        "2": call("Number.add", left=arg("_o"), right=arg("_i"))})
    check(nested == [[11, 21], [12, 22]], "nested List.map sees the outer argument: %s" % nested)


def test_dictionaries(emu):
    d = {"a": 1, "b": "x", "c": [1, 2], "B2": 5}
    cases = [
        (call("Dictionary.set", dictionary=c(d), key=c("z"), value=c(9)), dict(d, z=9)),
        (call("Dictionary.set", dictionary=c(d), key=c("a"), value=c(2)), dict(d, a=2)),
        (call("Dictionary.contains", dictionary=c(d), key=c("b")), True),
        (call("Dictionary.contains", dictionary=c(d), key=c("q")), False),
        (call("Dictionary.size", dictionary=c(d)), len(d)),
        (call("Dictionary.values", dictionary=c(d), keys=c(["c", "a"])), [[1, 2], 1]),
        (call("Dictionary.combine", first=c(d), second=c({"a": 7, "n": 0})), dict(d, a=7, n=0)),
        (call("Dictionary.combine", first=c(d), second=c({"a": 7, "n": 0}), overwrite=c(False)),
         dict(d, n=0)),
        (call("Dictionary.select", dictionary=c(d), selectors=c(["a", "B.*"])), {"a": 1, "B2": 5}),
        (call("Dictionary.select", dictionary=c(d), selectors=c(["a", "q"]), ignoreMissing=c(True)),
         {"a": 1}),
        (call("Dictionary.remove", dictionary=c(d), selectors=c(["a", "c"])), {"b": "x", "B2": 5}),
        (call("Dictionary.rename", dictionary=c(d), **{"from": c(["a"]), "to": c(["A"])}),
         {"A": 1, "b": "x", "c": [1, 2], "B2": 5}),
        (call("Dictionary.fromLists", keys=c(["k1", "k2"]), values=c([1, "v"])), {"k1": 1, "k2": "v"}),
        (call("Dictionary.getNumber", dictionary=c(d), key=c("a")), 1),
        (call("Dictionary.getString", dictionary=c(d), key=c("b")), "x"),
    ]
    got = value(emu, {"arrayValue": {"values": [n for n, _ in cases]}})
    for g, (node, w) in zip(got, cases):
        check(g == w, "%s: %r, want %r" % (node["functionInvocationValue"]["functionName"], g, w))
    m = value(emu, call("Dictionary.map", dictionary=c({"a": 1, "b": 2}),
                        baseAlgorithm=fn(["_k", "_v"], "1")),
              **{"1": call("Number.multiply", left=arg("_v"), right=c(10))})
    check(m == {"a": 10, "b": 20}, "Dictionary.map %s" % m)
    check(error(emu, call("Dictionary.select", dictionary=c(d), selectors=c(["q"]))) ==
          "Dictionary.select: Key 'q' not found in the dictionary.", "select missing key error")


def test_filters(emu):
    members = ref.collection(ref.S2)

    def ids(filt):
        return value(emu, call("AggregateFeatureCollection.array", property=c("system:index"),
                               collection=call("Collection.filter", collection=call(
                                   "ImageCollection.load", id=c(ref.S2)), filter=filt)))

    def want(pred):
        return [m["properties"]["system:index"] for m in members if pred(m["properties"])]

    for name, arg_, pred in (
            ("stringContains", "0115T", lambda p: "0115T" in p["system:index"]),
            ("stringStartsWith", "202306", lambda p: p["system:index"].startswith("202306")),
            ("stringEndsWith", "T10SEG", lambda p: p["system:index"].endswith("T10SEG"))):
        got = ids(call("Filter." + name, leftField=c("system:index"), rightValue=c(arg_)))
        check(got == want(pred), "Filter.%s: %d vs %d" % (name, len(got), len(want(pred))))
    tiles = ["10SEG", "33UUP"]
    # ee.Filter.inList as the Python client sends it (listContains, sides exchanged)
    got = ids(call("Filter.listContains", leftValue=c(tiles), rightField=c("MGRS_TILE")))
    check(got == want(lambda p: p["MGRS_TILE"] in tiles), "Filter.listContains (inList)")
    got = ids(call("Filter.inList", leftField=c("MGRS_TILE"), rightValue=c(tiles)))
    check(got == want(lambda p: p["MGRS_TILE"] in tiles), "Filter.inList")
    got = ids(call("Filter.rangeContains", field=c("CLOUDY_PIXEL_PERCENTAGE"), minValue=c(10),
                   maxValue=c(30)))
    check(got == want(lambda p: 10 <= p["CLOUDY_PIXEL_PERCENTAGE"] <= 30), "Filter.rangeContains")
    got = ids(call("Filter.eq", leftField=c("SPACECRAFT_NAME"), rightValue=c("Sentinel-2B")))
    check(got == want(lambda p: p["SPACECRAFT_NAME"] == "Sentinel-2B"), "Filter.eq")
    check(ids(call("Filter.always")) == want(lambda p: True), "Filter.always")
    check(ids(call("Filter.never")) == [], "Filter.never")
    check(ids(call("Filter.notNull", properties=c(["MGRS_TILE", "nope"]))) == [], "notNull")
    check(len(ids(call("Filter.notNull", properties=c(["MGRS_TILE"])))) == len(members), "notNull 2")
    got = ids(call("Filter.maxDifference", difference=c(5), leftField=c("CLOUDY_PIXEL_PERCENTAGE"),
                   rightValue=c(50)))
    check(got == want(lambda p: abs(p["CLOUDY_PIXEL_PERCENTAGE"] - 50) <= 5), "maxDifference")


def test_errors(emu):
    for node, w in (
            (call("Foo.bar", x=c(1)), "Unknown function: Foo.bar"),
            (call("Image.glcmTexture", image=c(1)),
             "Image.glcmTexture: the emulator does not implement this algorithm."),
            (call("List.get", list=c([1]), index=c(3)),
             "List.get: List index must be between -1 and 0. Found 3."),
            (call("String.slice", string=c(5), start=c(0)),
             "String.slice, argument 'string': Invalid type.\nExpected type: String.\n"
             "Actual type: Integer."),
            (call("List.slice", list=c([1]), end=c(1)), "List.slice: Parameter 'start' is required.")):
        got = error(emu, node)
        check(got == w, "error %r, want %r" % (got, w))
    # a List.map callback failing names List.map
    got = error(emu, call("List.map", list=c([1]), baseAlgorithm=fn(["_v"], "1")),
                **{"1": call("String.length", string=arg("_v"))})
    check(got and got.startswith("List.map: String.length, argument 'string'"),
          "error inside List.map: %r" % got)


def main():
    with emulib.Emulator() as emu:
        emulib.run_each([test_numbers, test_strings, test_lists, test_dictionaries, test_filters,
                         test_errors], FAILS, emu)
    return emulib.report(FAILS)


if __name__ == "__main__":
    sys.exit(main())
