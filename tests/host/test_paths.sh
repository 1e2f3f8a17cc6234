#!/usr/bin/env bash
# Every relative path a recipe names resolves against the recipe's folder
# (docs/recipes.md "Paths"): the output, its quick-look, a region file read
# with geo.read, a `like` raster and a `require`d module, whatever the working
# directory; `--output-dir DIR` is the base of outputs instead; an absolute
# path stays as it is. Outputs of a recipe run without a file (eval) land in
# the working directory.
set -u
. "${EEFETCH_SRC:?EEFETCH_SRC not set}/tests/lib.sh"
lib_init paths
mkdir -p "$T/proj/data" "$T/elsewhere" "$T/outdir"
cat > "$T/proj/data/area.geojson" <<'JSON'
{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":
 {"type":"Polygon","coordinates":[[[-122.50,37.70],[-122.49,37.70],[-122.49,37.71],[-122.50,37.71],[-122.50,37.70]]]}}]}
JSON
cat > "$T/proj/helpers.lua" <<'LUA'
return { name = function(s) return "out/" .. s end }
LUA
cat > "$T/proj/r.lua" <<'LUA'
local h = require "helpers"
local area = geo.read("data/area.geojson")
download{ image = ee.Image("USGS/SRTMGL1_003"), region = area, output = h.name("dem.tif"),
          quicklook = "dem.png" }
LUA
mkdir -p "$T/proj/out"

# From another working directory: everything next to the recipe.
(cd "$T/elsewhere" && "$BIN" run ../proj/r.lua --emulator --progress off > "$T/run1.log" 2>&1) ||
    fail "run from another folder: $(tail -5 "$T/run1.log")"
[ -f "$T/proj/out/dem.tif" ] && ok "output relative to the recipe's folder" ||
    fail "no $T/proj/out/dem.tif (folder: $(ls -R "$T" | head -30))"
[ -f "$T/proj/dem.png" ] && ok "quick-look relative to the recipe's folder" || fail "no $T/proj/dem.png"
[ -z "$(ls -A "$T/elsewhere")" ] && ok "nothing written in the working directory" ||
    fail "the working directory got: $(ls -A "$T/elsewhere")"

# like = a raster next to the recipe, output relative too.
cat > "$T/proj/like.lua" <<'LUA'
download{ image = ee.Image("USGS/SRTMGL1_003"), like = "out/dem.tif", output = "again.tif" }
LUA
(cd "$T/elsewhere" && "$BIN" run "$T/proj/like.lua" --emulator --progress off > "$T/run2.log" 2>&1) ||
    fail "like run: $(tail -5 "$T/run2.log")"
if [ -f "$T/proj/again.tif" ]; then
    a=$(gdalinfo "$T/proj/out/dem.tif" | grep -E "^Size|^Pixel Size|^Origin")
    b=$(gdalinfo "$T/proj/again.tif" | grep -E "^Size|^Pixel Size|^Origin")
    [ "$a" = "$b" ] && ok "like reads the raster beside the recipe" || fail "grids differ: $a / $b"
else
    fail "no $T/proj/again.tif: $(tail -5 "$T/run2.log")"
fi

# --output-dir is the base of outputs; inputs stay relative to the recipe.
# Its subfolder out/ does not exist yet: a clear error before any pixel.
if (cd "$T/elsewhere" && "$BIN" run ../proj/r.lua --emulator --progress off --output-dir "$T/outdir" \
    > "$T/run3.log" 2>&1); then fail "a missing output folder was accepted"
elif grep -q "r.lua:3: cannot write the output $T/outdir/out/dem.tif: its directory .* does not exist" "$T/run3.log"
then ok "a missing output folder is named with the recipe line"
else fail "missing folder: $(cat "$T/run3.log")"; fi
mkdir -p "$T/outdir/out"
(cd "$T/elsewhere" && "$BIN" run ../proj/r.lua --emulator --progress off --output-dir "$T/outdir" \
    > "$T/run3.log" 2>&1) || fail "--output-dir run: $(tail -5 "$T/run3.log")"
[ -f "$T/outdir/out/dem.tif" ] && [ -f "$T/outdir/dem.png" ] && ok "--output-dir is the base of outputs" ||
    fail "--output-dir: $(ls -R "$T/outdir"; tail -3 "$T/run3.log")"

# An absolute output stays absolute.
cat > "$T/proj/abs.lua" <<LUA
download{ image = ee.Image("USGS/SRTMGL1_003"), region = {-122.5, 37.7, -122.49, 37.71}, output = "$T/elsewhere/abs.tif" }
LUA
(cd "$T" && "$BIN" run proj/abs.lua --emulator --progress off > "$T/run4.log" 2>&1) ||
    fail "absolute run: $(tail -5 "$T/run4.log")"
[ -f "$T/elsewhere/abs.tif" ] && ok "an absolute output is kept" || fail "no $T/elsewhere/abs.tif"
rm -f "$T/elsewhere/abs.tif" "$T/elsewhere/abs.tif.json"

# The plan names the output where it will land.
out=$(cd "$T/elsewhere" && "$BIN" plan ../proj/r.lua --emulator 2>&1)
case "$out" in *"../proj/out/dem.tif"*) ok "plan shows where the output lands" ;;
    *) fail "plan: $out" ;; esac

# A recipe without a file: the working directory.
(cd "$T/elsewhere" && "$BIN" eval --emulator \
    'download{ image = ee.Image("USGS/SRTMGL1_003"), region = {-122.5, 37.7, -122.49, 37.71}, output = "e.tif" }' \
    > "$T/run5.log" 2>&1) || fail "eval: $(tail -5 "$T/run5.log")"
[ -f "$T/elsewhere/e.tif" ] && ok "eval writes in the working directory" || fail "no $T/elsewhere/e.tif: $(cat "$T/run5.log")"
lib_finish
