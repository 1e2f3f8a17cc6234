#!/usr/bin/env bash
# Recipes that are wrong (syntax, download{} keys and types, algorithm
# arguments, failing server calls) print file:line and an actionable message
# and exit non-zero. Server calls go to the in-process emulator.
set -u
BIN="$EEFETCH_BIN"
ALGS="$EEFETCH_SRC/data/algorithms-signatures.json"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# check NAME EXPECTED-SUBSTRING LUA-TEXT [options]
check() {
  local name="$1" want="$2" text="$3"
  shift 3
  printf '%s\n' "$text" > "$tmp/$name.lua"
  local out rc
  out=$(cd "$tmp" && timeout 60 "$BIN" run "$name.lua" "$@" 2>&1)
  rc=$?
  if [ $rc -ne 1 ]; then
    echo "FAIL $name: exit $rc (expected 1): $out"; fails=$((fails + 1)); return
  fi
  case "$out" in
    *"$want"*) echo "ok $name" ;;
    *) echo "FAIL $name: expected '$want' in: $out"; fails=$((fails + 1)) ;;
  esac
}

check syntax "syntax.lua:2: unexpected symbol near" $'local a = 1\nlocal b = = 2'
check runtime "runtime.lua:3: attempt to perform arithmetic on a nil value" $'\n\nlocal x = nil + 1'
check unknown_key "unknown_key.lua:2: download{}: unknown key 'scael'" \
  $'local img = ee.Image(1)\ndownload{ image = img, scael = 30 }' --algorithms "$ALGS"
check wrong_image "wrong_image.lua:1: download{}: 'image' must be an ee.Image (got string)" \
  'download{ image = "USGS/SRTMGL1_003", output = "x.tif" }' --algorithms "$ALGS"
check collection_image "collection_image.lua:1: download{}: 'image' is an ee.ImageCollection" \
  'download{ image = ee.ImageCollection("a/b"), output = "x.tif" }' --algorithms "$ALGS"
check wrong_scale "wrong_scale.lua:3: download{}: 'scale' must be a positive number (got -30)" \
  $'local img = ee.Image(1)\n\ndownload{ image = img, scale = -30 }' --algorithms "$ALGS"
check wrong_bands "wrong_bands.lua:1: download{}: 'bands'[2] must be a string (got number)" \
  'download{ image = ee.Image(1), bands = {"a", 2} }' --algorithms "$ALGS"
check missing_region "missing_region.lua:1: download{}: 'region' is required with 'scale'" \
  'download{ image = ee.Image(1), bands = {"constant"}, crs = "EPSG:4326", scale = 1, output = "x.tif" }' --algorithms "$ALGS"
check not_a_table "not_a_table.lua:1: download{} expects a table of options (got string)" \
  'download("x")' --algorithms "$ALGS"
check too_many_args "too_many_args.lua:1: Image.add: too many arguments" \
  'local x = ee.Image(1):add(1, 2, 3)' --algorithms "$ALGS"
check unknown_keyword "unknown_keyword.lua:2: Image.reproject: unknown argument 'scal'; signature: Image.reproject(image, crs, crsTransform?, scale?)" \
  $'local img = ee.Image(1)\nlocal y = img:reproject{crs = "EPSG:4326", scal = 30}' --algorithms "$ALGS"
check missing_arg "missing_arg.lua:1: Image.reproject: required argument 'crs' missing" \
  'local y = ee.Image(1):reproject{scale = 30}' --algorithms "$ALGS"
check no_method "no_method.lua:1: ee.Image has no method 'selekt'" \
  'local y = ee.Image(1):selekt("a")' --algorithms "$ALGS"
check server_error "server_error.lua:2: getInfo: the server answered 400: Image.load: Image asset 'does/not/exist' not found" \
  $'local img = ee.Image("does/not/exist")\nprint(img:getInfo())' --emulator
check server_error_in_function "server_error_in_function.lua:2: getInfo" \
  $'local function f(i)\n  local info = i:getInfo()\n  return info\nend\nf(ee.Image("nope/nope"))' --emulator
check missing_algorithms "missing_algorithms.lua:1: cannot read the algorithm list" \
  'local x = ee.Image(1):add(1)' --algorithms "$tmp/none.json"

# A valid recipe succeeds (exit 0) and prints its result.
printf 'print(ee.Number(40):add(2):getInfo())\n' > "$tmp/good.lua"
out=$(cd "$tmp" && "$BIN" run good.lua --emulator 2>&1)
if [ "$out" = "42" ]; then echo "ok good"; else echo "FAIL good: $out"; fails=$((fails + 1)); fi

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
