#!/usr/bin/python3
"""Malformed recipes: each one fails with a clear error, never a crash.

Every case is a recipe file run with `eefetch run`; it must exit with status
1 (not a signal, not a timeout), print the recipe's file name and line, and a
message naming the problem (a per-case substring), and leave no sanitizer
report. Cases run a few at a time; the whole table takes a few seconds.
"""

import concurrent.futures
import os
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("EEFETCH_BIN") or os.path.join(os.environ.get("EEFETCH_BUILD", "build"), "eefetch")
SRC = os.environ.get("EEFETCH_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ALGS = os.path.join(SRC, "data", "algorithms-signatures.json")
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:", "Segmentation fault", "core dumped")


def dl_with(**over):
    """download{} with valid keys, some replaced (None: left out)."""
    kv = {"image": "ee.Image(1)", "bands": '{"constant"}', "region": "{0, 0, 1, 1}",
          "crs": '"EPSG:4326"', "scale": "0.1", "output": '"x.tif"'}
    for k, v in over.items():
        if v is None:
            kv.pop(k, None)
        else:
            kv[k] = v
    return "download{ " + ", ".join("%s = %s" % (k, v) for k, v in kv.items()) + " }"


# Cases that pass the host's checks and need a server to fail: the in-process
# emulator (loopback), with its default project.
EMU = ["--emulator"]

# (name, recipe text, expected substring, extra options)
CASES = [
    # --- Lua syntax -------------------------------------------------------
    ("syntax_local", "local = 1", "<name> expected near '='", []),
    ("syntax_number", "x = 0x", "malformed number near '0x'", []),
    ("syntax_unclosed_if", "if true then\nprint(1)", "'end' expected", []),
    ("syntax_string", 'print("abc', "unfinished string", []),
    ("syntax_long_string", "local s = [[abc", "unfinished long string", []),
    ("syntax_long_comment", "--[[ never closed", "unfinished long comment", []),
    ("syntax_eof", "x = 1 +", "unexpected symbol near <eof>", []),
    ("syntax_goto", "goto nowhere", "no visible label 'nowhere'", []),
    ("syntax_double_return", "return return", "unexpected symbol near 'return'", []),
    ("syntax_table_comma", "local t = {1, 2,, 3}", "unexpected symbol near ','", []),
    ("syntax_for", "for i = 1 do end", "',' expected near 'do'", []),
    ("syntax_binary", "\x01\x02\x7fELF\x00garbage", "unexpected symbol", []),
    ("syntax_escape", 'print("\\q")', "invalid escape sequence", []),
    # --- Lua runtime ------------------------------------------------------
    ("runtime_error", 'error("custom failure")', "custom failure", []),
    ("runtime_index_nil", "local t = nil\nt.x = 1", "attempt to index a nil value", []),
    ("runtime_call_string", 'local s = "x"\ns()', "attempt to call a string value", []),
    ("runtime_recursion", "local function f() return 1 + f() end\nf()", "stack overflow", []),
    ("runtime_loop", "while true do end", "exceeded its instruction budget",
     ["--max-instructions", "1e7"]),
    ("runtime_memory", 'local t = {}\nfor i = 1, 1e9 do t[i] = string.rep("x", 1e5) .. i end', "memory",
     ["--max-memory", "32"]),
    ("runtime_huge_string", 'local s = string.rep("x", 1e12)', "too large", []),
    ("runtime_huge_concat", 'local s = "x"\nfor i = 1, 40 do s = s .. s end', "memory",
     ["--max-memory", "64"]),
    ("sandbox_io", 'io.open("/etc/passwd")', "'io' is not available in recipes", []),
    ("sandbox_os", 'os.execute("true")', "os.execute is not available in recipes", []),
    ("sandbox_readonly", "ee.Image = nil", "ee is read-only", []),
    ("require_missing", 'require("no_such_module")', "no_such_module", []),
    # --- ee values with wrong arguments -----------------------------------
    ("ee_no_method", "ee.Image(1):frobnicate()", "has no method 'frobnicate'", []),
    ("ee_unknown_algorithm", 'ee.call("No.suchAlgorithm", 1)', "No.suchAlgorithm", []),
    ("ee_too_many_args", "ee.Image(1):add(1, 2, 3)", "too many arguments", []),
    ("ee_unknown_keyword", 'ee.Image(1):reproject{crs = "EPSG:4326", sclae = 30}',
     "unknown argument 'sclae'", []),
    ("ee_missing_arg", "ee.Image(1):reproject{scale = 30}", "required argument 'crs' missing", []),
    ("geom_point_string", 'ee.Geometry.Point("a")', "invalid geometry coordinates", []),
    ("geom_polygon_short", "ee.Geometry.Polygon({{{0, 0}, {1}}})", "coordinates", []),
    ("geom_rectangle_three", "ee.Geometry.Rectangle({1, 2, 3})", "invalid number of coordinates: 3", []),
    ("geom_geojson_type", 'ee.Geometry({type = "Blob", coordinates = {}})', "invalid GeoJSON geometry", []),
    ("dl_region_nan", dl_with(region="{0/0, 0, 1, 1}"), "'region'", []),
    ("filter_bad_operator", 'ee.Filter.metadata("a", "bogus_op", 1)', "bogus_op", []),
    ("json_decode_bad", 'json.decode("{bad")', "invalid JSON", []),
    ("json_encode_function", "json.encode(print)", "cannot encode a function as JSON", []),
    ("json_encode_cycle", "local t = {}\nt.t = t\njson.encode(t)", "cannot encode a table that contains itself", []),
    ("geo_read_missing", 'geo.read("missing.gpkg")', "missing.gpkg", []),
    ("geo_bbox_short", "geo.bbox(1, 2)", "geo.bbox(west, south, east, north) needs four numbers", []),
    # --- download{} --------------------------------------------------------
    ("dl_not_table", "download(42)", "download{} expects a table of options (got number)", []),
    ("dl_empty", "download{}", "download{}: 'image' (an ee.Image) or 'collection'", []),
    ("dl_no_output", dl_with(output=None), "'output' is required", []),
    ("dl_unknown_key", dl_with(scael="30"), "unknown key 'scael'", []),
    ("dl_image_string", dl_with(image='"USGS/SRTMGL1_003"'), "'image' must be an ee.Image", []),
    ("dl_image_collection", dl_with(image='ee.ImageCollection("a/b")'), "'image' is an ee.ImageCollection", []),
    ("dl_scale_string", dl_with(scale='"30"'), "'scale' must be a positive number", []),
    ("dl_scale_zero", dl_with(scale="0"), "'scale' must be a positive number", []),
    ("dl_scale_nan", dl_with(scale="0/0"), "'scale' must be a positive number", []),
    ("dl_scale_inf", dl_with(scale="math.huge"), "scale must be a positive number", EMU),
    ("dl_crs_number", dl_with(crs="4326"), "'crs' must be a string", []),
    ("dl_crs_bogus", dl_with(crs='"NOT:A:CRS"'), "NOT:A:CRS", EMU),
    ("dl_region_three", dl_with(region="{0, 0, 1}"), "'region' must be a list of 4 numbers", []),
    ("dl_region_inverted", dl_with(region="{1, 1, 0, 0}"), "'region'", []),
    ("dl_region_string", dl_with(region='"world"'), "'region'", []),
    ("dl_region_empty_polygon", dl_with(region='{type = "Polygon", coordinates = {}}'), "region: not a GeoJSON geometry", EMU),
    ("dl_region_point", dl_with(region='{type = "Point", coordinates = {0, 0}}'), "'region'", []),
    ("dl_bands_empty", dl_with(bands="{}"), "'bands'", []),
    ("dl_bands_number", dl_with(bands='{"constant", 2}'), "'bands'[2] must be a string (got number)", []),
    ("dl_bands_unknown", dl_with(bands='{"nope"}'), "nope", EMU),
    ("dl_dtype", dl_with(dtype='"complex128"'), "complex128", []),
    ("dl_format", dl_with(format='"jpeg"'), "jpeg", []),
    ("dl_compression", dl_with(compression='"brotli"'), "brotli", []),
    ("dl_overviews", dl_with(overviews='"lanczos"'), "lanczos", []),
    ("dl_fishnet_zero", dl_with(fishnet="{rows = 0, cols = 2}"), "'fishnet.rows' must be a positive integer", []),
    ("dl_fishnet_string", dl_with(fishnet='"big"'), "'fishnet'", []),
    ("dl_workers_negative", dl_with(workers="-1"), "'workers'", []),
    ("dl_workers_fraction", dl_with(workers="1.5"), "'workers'", []),
    ("dl_max_tile_bytes", dl_with(max_tile_bytes="-5"), "'max_tile_bytes'", []),
    ("dl_transform_short", dl_with(scale=None, region=None, crs_transform="{1, 0, 0, 0, -1}",
                                   dimensions="{10, 10}"), "'crs_transform'", []),
    ("dl_dimensions_negative", dl_with(scale=None, region=None, crs_transform="{1, 0, 0, 0, -1, 0}",
                                       dimensions="{-5, 5}"), "'dimensions[1]' must be a positive integer", []),
    ("dl_dimensions_huge", dl_with(scale=None, region=None, crs_transform="{1, 0, 0, 0, -1, 0}",
                                   dimensions="{1e12, 1e12}"), "are too large", EMU),
    ("dl_scale_and_transform", dl_with(crs_transform="{1, 0, 0, 0, -1, 0}", dimensions="{10, 10}"),
     "'scale'", []),
    ("dl_nodata_string", dl_with(nodata='"none"'), "'nodata'", []),
    ("dl_output_empty", dl_with(output='""'), "output is required", EMU),
    ("dl_output_number", dl_with(output="5"), "'output'", []),
    ("dl_like", dl_with(like='"x.tif"'), "'like'", EMU),
    ("dl_resume_overwrite", dl_with(resume="true", overwrite="true"), "'overwrite'", []),
    ("dl_split_string", dl_with(split='"yes"'), "'split'", []),
    ("dl_huge_key", dl_with(**{"k" + "x" * 5000: "1"}), "unknown key", []),
    ("plan_not_table", "plan(nil)", "plan{} expects a table", []),
    # --- failing server calls (in-process emulator) --------------------------
    ("server_missing_asset", 'print(ee.Image("no/such"):getInfo())', "not found", ["--emulator"]),
    ("server_missing_band", 'print(ee.Image("USGS/SRTMGL1_003"):select("nope"):getInfo())', "nope",
     ["--emulator"]),
]


# Errors that carry no recipe line (reported; see docs/testing.md): the
# allocator's budget error is raised outside any Lua frame.
NO_LINE = {"runtime_memory", "runtime_huge_concat"}

# Cases whose message does not name the problem yet (reported). They must
# still fail cleanly; the test prints them and passes.
KNOWN_GAPS = set()


def run_case(tmp, case):
    name, text, want, extra = case
    # A directory per case: cases run concurrently and may name the same output.
    tmp = os.path.join(tmp, name)
    os.mkdir(tmp)
    path = os.path.join(tmp, name + ".lua")
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text + "\n")
    args = [BIN, "run", name + ".lua"]
    if "--emulator" not in extra:
        args += ["--algorithms", ALGS]
    args += extra
    t0 = time.monotonic()
    try:
        p = subprocess.run(args, cwd=tmp, capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "%s: timed out" % name
    if os.environ.get("MALFORMED_TIMES"):
        print("%6.2f s %s" % (time.monotonic() - t0, name), flush=True)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    problems = []
    if p.returncode != 1:
        problems.append("exit %d (expected 1)" % p.returncode)
    if want not in out and name not in KNOWN_GAPS:
        problems.append("expected %r in the message" % want)
    if name + ".lua:" not in out and name not in NO_LINE:
        problems.append("no %s.lua:LINE in the message" % name)
    if any(m in out for m in SANITIZER_MARKS):
        problems.append("sanitizer report or crash")
    if problems:
        return "%s: %s\n    output: %s" % (name, "; ".join(problems), out.strip()[:1500])
    return None


# Slow cases (deep stacks, filling a memory budget) start first, so that the
# quick ones run alongside them.
SLOW = {"runtime_recursion", "runtime_memory", "runtime_huge_concat", "runtime_loop"}


def main():
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    assert (KNOWN_GAPS | NO_LINE | SLOW) <= set(names), "a name in KNOWN_GAPS, NO_LINE or SLOW is not a case"
    failures = []
    with tempfile.TemporaryDirectory(prefix="eefetch-malformed-") as tmp:
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            order = sorted(CASES, key=lambda c: c[0] not in SLOW)
            for case, res in zip(order, pool.map(lambda c: run_case(tmp, c), order)):
                if res:
                    failures.append(res)
                    print("FAIL", res, flush=True)
                elif case[0] in KNOWN_GAPS:
                    print("gap", case[0], flush=True)
                else:
                    print("ok", case[0], flush=True)
    print("%d case(s), %d failure(s)" % (len(CASES), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
