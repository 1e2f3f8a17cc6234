#!/usr/bin/env bash
# The example recipes in recipes/ run against the in-process emulator and
# produce what they say (sizes and CRS checked with gdalinfo); plan mode
# fetches nothing; a COG of classes keeps its classes in the overviews.
set -u
BIN="$EEFETCH_BIN"
R="$EEFETCH_SRC/recipes"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
cd "$tmp"

out=$("$BIN" run "$R/srtm_bbox.lua" --emulator --set out="$tmp/sf.tif" 2>&1) || fail "srtm_bbox: $out"
case "$out" in *"612 x 468 pixels"*) echo "ok srtm_bbox" ;; *) fail "srtm_bbox: $out" ;; esac
info=$(gdalinfo "$tmp/sf.tif" 2>&1)
case "$info" in *"Size is 612, 468"*) ;; *) fail "srtm_bbox size: $info" ;; esac
case "$info" in *"Type=Int16"*) ;; *) fail "srtm_bbox type: $info" ;; esac

# like = an existing GeoTIFF: the same grid, hence the same pixels.
cat > "$tmp/like.lua" <<'LUA'
local r = download{ image = ee.Image("USGS/SRTMGL1_003"), like = "sf.tif", bands = { "elevation" },
                    output = "like.tif", overwrite = true }
print(r.width, r.height)
LUA
out=$("$BIN" run "$tmp/like.lua" --emulator 2>&1) || fail "like: $out"
if cmp -s <(gdal_translate -q -of XYZ "$tmp/sf.tif" /vsistdout/) <(gdal_translate -q -of XYZ "$tmp/like.tif" /vsistdout/); then
  echo "ok like"; else fail "like: the grids or pixels differ"; fi
printf 'download{ image = ee.Image(1), like = "sf.tif", scale = 30, bands = {"constant"}, output = "x.tif" }\n' > "$tmp/like_bad.lua"
out=$("$BIN" run "$tmp/like_bad.lua" --emulator 2>&1) && fail "like with scale succeeded"
case "$out" in *"like_bad.lua:1: download{}: 'like' gives the grid; do not combine it with 'scale'"*) echo "ok like message" ;;
  *) fail "like message: $out" ;; esac
# A reference with a sheared grid is refused with the reason, not downloaded
# onto an axis-aligned grid that does not line up with it.
gdal_translate -q -a_ullr 0 0 1 1 "$tmp/sf.tif" "$tmp/sheared.tif" 2>/dev/null
/usr/bin/python3 - "$tmp/sheared.tif" <<'PY'
import sys
from osgeo import gdal
ds = gdal.Open(sys.argv[1], gdal.GA_Update)
ds.SetGeoTransform((-122.5, 0.0002, 0.00005, 37.8, 0.00003, -0.0002))
ds = None
PY
printf 'download{ image = ee.Image("USGS/SRTMGL1_003"), like = "sheared.tif", bands = {"elevation"}, output = "sh.tif" }\n' > "$tmp/like_sheared.lua"
out=$("$BIN" run "$tmp/like_sheared.lua" --emulator 2>&1) && fail "like with a sheared reference succeeded"
case "$out" in *"sheared.tif has a rotated (sheared) grid"*) echo "ok like sheared" ;; *) fail "like sheared: $out" ;; esac
[ -e "$tmp/sh.tif" ] && fail "like sheared wrote an output file"

out=$("$BIN" plan "$R/s2_median.lua" --emulator --set out="$tmp/plan.tif" 2>&1) || fail "s2 plan: $out"
case "$out" in *'"tiles":'*'"requests":0'*|*'"requests":0'*) echo "ok s2_median plan" ;; *) fail "s2 plan: $out" ;; esac
[ -e "$tmp/plan.tif" ] && fail "plan wrote an output file"

out=$("$BIN" run "$R/landsat_scaled.lua" --emulator 2>&1) || fail "landsat_scaled: $out"
case "$out" in *"images in January:	"*"band	SR_B4	float"*'"functionName":"Image.normalizedDifference"'*) echo "ok landsat_scaled" ;;
  *) fail "landsat_scaled: $out" ;; esac

cat > "$tmp/area.geojson" <<'JSON'
{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":
 {"type":"Polygon","coordinates":[[[-122.50,37.70],[-122.45,37.70],[-122.45,37.74],[-122.50,37.70]]]}}]}
JSON
cp "$R/region_file.lua" "$tmp/region_file.lua"
out=$("$BIN" run "$tmp/region_file.lua" --emulator --set file=area.geojson --set out="$tmp/area.tif" 2>&1) \
  || fail "region_file: $out"
info=$(gdalinfo "$tmp/area.tif" 2>&1)
case "$info" in *"Size is 180, 144"*) echo "ok region_file" ;; *) fail "region_file: $out $info" ;; esac
out=$("$BIN" run "$tmp/region_file.lua" --emulator 2>&1) && fail "region_file without file succeeded"
case "$out" in *"region_file.lua:5: give the region file"*) echo "ok region_file message" ;; *) fail "region_file message: $out" ;; esac

# A categorical band as COG: overviews = "mode" keeps every overview pixel to a
# class of the pixels below it; the default mean of a 2x2 that mixes classes
# is another value (4 and 5 give 5 where the mode keeps 4, 4 and 6 give 5).
ov_new_classes() { # file: overview pixels whose class none of the 2x2 full-resolution pixels below has
  /usr/bin/python3 - "$1" <<'PY'
import sys
import numpy as np
from osgeo import gdal
ds = gdal.Open(sys.argv[1])
b = ds.GetRasterBand(1)
assert ds.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG" and b.GetOverviewCount() >= 1
full = b.ReadAsArray()
ov = b.GetOverview(0).ReadAsArray()
h, w = ov.shape
blocks = full[:2 * h, :2 * w].reshape(h, 2, w, 2).transpose(0, 2, 1, 3).reshape(h, w, 4)
bad = ~(blocks == ov[:, :, None]).any(axis=2)
print(sorted(set(ov[bad].tolist())))
PY
}
out=$("$BIN" run "$R/scl_classes_cog.lua" --emulator --set out="$tmp/scl.tif" 2>&1) || fail "scl_classes_cog: $out"
case "$(ov_new_classes "$tmp/scl.tif" 2>&1)" in "[]") echo "ok scl_classes_cog" ;;
  *) fail "scl_classes_cog: overview classes $(ov_new_classes "$tmp/scl.tif" 2>&1)" ;; esac
out=$("$BIN" run "$R/scl_classes_cog.lua" --emulator --set overviews=average --set out="$tmp/scl_avg.tif" 2>&1) \
  || fail "scl_classes_cog average: $out"
ov_differ() { # two COGs: overview pixels that differ
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys
from osgeo import gdal
a, b = gdal.Open(sys.argv[1]), gdal.Open(sys.argv[2])
oa, ob = a.GetRasterBand(1).GetOverview(0).ReadAsArray(), b.GetRasterBand(1).GetOverview(0).ReadAsArray()
print(int((oa != ob).sum()))
PY
}
case "$(ov_differ "$tmp/scl_avg.tif" "$tmp/scl.tif" 2>&1)" in 0|*rror*) fail "scl_classes_cog: the mean equals the mode" ;;
  *) echo "ok scl_classes_cog average differs" ;; esac

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
