#!/usr/bin/env bash
# `eefetch plan` of every recipe in recipes/ succeeds and writes nothing (a
# recipe may read the summary's output path, as demo_s2_median.lua does),
# and plan{} needs no output, under `plan` and under `run`.
set -u
. "${EEFETCH_SRC:?EEFETCH_SRC not set}/tests/lib.sh"
lib_init plan
cd "$T"
cat > "$T/area.geojson" <<'JSON'
{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":
 {"type":"Polygon","coordinates":[[[-122.50,37.70],[-122.45,37.70],[-122.45,37.74],[-122.50,37.70]]]}}]}
JSON
n=0
for r in "$EEFETCH_SRC"/recipes/*.lua; do
    name=$(basename "$r" .lua)
    cp "$r" "$T/$name.lua"
    args=()
    [ "$name" = region_file ] && args=(--set file=area.geojson)
    out=$("$BIN" plan "$T/$name.lua" --emulator "${args[@]}" 2>&1)
    rc=$?
    if [ $rc -eq 0 ]; then ok "plan $name"; else fail "plan $name exited $rc: $out"; fi
    n=$((n + 1))
done
[ "$n" -ge 6 ] || fail "only $n recipes found"
left=$(find "$T" -name '*.tif' -o -name '*.png' -o -name '*.journal' -o -name '*.eefetch-parts')
[ -z "$left" ] || fail "plan wrote files: $left"
# The planned output path is in the summary under plan too.
out=$("$BIN" plan "$T/demo_s2_median.lua" --emulator --set out=x.tif 2>&1)
case "$out" in *"COG:        $T/x.tif"*"quick-look: $T/x.png"*) ok "demo_s2_median plan names its output" ;;
    *) fail "demo_s2_median plan: $out" ;; esac

cat > "$T/nooutput.lua" <<'LUA'
local r = plan{ image = ee.Image(1), region = { 0, 0, 1, 1 }, crs = "EPSG:4326", pixel_size = 0.01,
                bands = { "constant" } }
print(string.format("tiles=%d width=%d height=%d output=%s", r.tiles, r.width, r.height, tostring(r.output)))
LUA
for cmd in plan run; do
    out=$("$BIN" "$cmd" "$T/nooutput.lua" --emulator 2>&1)
    case "$out" in *"tiles=1 width=100 height=100 output=nil"*) ok "plan{} without output under $cmd" ;;
        *) fail "plan{} without output under $cmd: $out" ;; esac
done
lib_finish
