#!/usr/bin/env bash
# download{}'s schema in recipe.lua is the one check of its keys: the C host
# parses the names it admits without checking them again. The schema takes
# the words of dtype, format and compression from core/spec.c's lists
# (host.spec_names); every name it admits must reach the plan as what it
# names (an alias included).
set -u
. "${EEFETCH_SRC:?EEFETCH_SRC not set}/tests/lib.sh"
lib_init download_schema
cd "$T"

plan_with() {   # plan_with 'key = value, ...' [--json]: the plan's summary
    cat > "$T/r.lua" <<LUA
download{ image = ee.Image(1), region = { 0, 0, 1, 1 }, crs = "EPSG:4326", pixel_size = 0.01,
          bands = { "constant" }, output = "x.tif", $1 }
LUA
    "$BIN" plan "$T/r.lua" --emulator ${2:-} 2>&1
}

# Every dtype the schema admits, with the size of a pixel of the type it names.
for pair in uint8:1 int8:1 uint16:2 int16:2 uint32:4 int32:4 float32:4 float64:8 \
            float:4 double:8 byte:1 UINT16:2 Float64:8; do
    name=${pair%%:*} size=${pair##*:}
    out=$(plan_with "dtype = \"$name\", nodata = false" --json)
    case "$out" in *"\"bytes_per_pixel\":$size,"*) ok "dtype $name: $size bytes" ;;
        *) fail "dtype $name: not $size bytes per pixel: $out" ;; esac
done

for name in default deflate zstd lzw; do
    out=$(plan_with "compression = \"$name\"")
    case "$out" in *"; compression $name"*) ok "compression $name" ;;
        *) fail "compression $name: $out" ;; esac
done
out=$(plan_with 'compression = "none"')
case "$out" in *"(uncompressed)"*) ok "compression none" ;; *) fail "compression none: $out" ;; esac

for name in cog COG; do
    out=$(plan_with "format = \"$name\"")
    case "$out" in *"with overviews"*) ok "format $name is a COG" ;; *) fail "format $name: $out" ;; esac
done
for name in gtiff geotiff tif vrt; do
    out=$(plan_with "format = \"$name\"")
    case "$out" in *"plan: "*"with overviews"*) fail "format $name planned as a COG: $out" ;;
        *"plan: "*) ok "format $name" ;; *) fail "format $name: $out" ;; esac
done

# One "unknown key" error, for download{}'s keys and a nested table's.
out=$(plan_with 'scael = 30')
case "$out" in *"r.lua:1: download{}: unknown key 'scael' (known keys: band_names, band_offset, "*) ok "unknown key" ;;
    *) fail "unknown key: $out" ;; esac
out=$(plan_with 'fishnet = { rows = 2, cols = 2, colums = 3 }')
case "$out" in *"r.lua:1: download{}: unknown key 'fishnet.colums' (known keys: cell, cell_height, cell_width, cols, rows)"*)
    ok "unknown fishnet key" ;; *) fail "unknown fishnet key: $out" ;; esac
out=$(plan_with 'fishnet = { rows = 2, cols = 2.5 }')
case "$out" in *"'fishnet.cols' must be a positive integer"*) ok "fishnet value" ;;
    *) fail "fishnet value: $out" ;; esac
lib_finish
