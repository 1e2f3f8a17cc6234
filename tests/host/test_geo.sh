#!/usr/bin/env bash
# geo.read: GeoJSON, GeoPackage and Shapefile (fixtures made here with
# ogr2ogr), paths relative to the recipe, reprojected to EPSG:4326;
# geo.bbox; and clear errors for missing files.
set -u
BIN="$EEFETCH_BIN"
ALGS="$EEFETCH_SRC/data/algorithms-signatures.json"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
mkdir -p "$tmp/recipes/data"
cd "$tmp/recipes/data"

cat > one.geojson <<'JSON'
{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"n":1},"geometry":{"type":"Polygon","coordinates":[[[10,45],[11,45],[11,46],[10,46],[10,45]]]}}]}
JSON
cat > two.geojson <<'JSON'
{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"n":1},"geometry":{"type":"Polygon","coordinates":[[[10,45],[11,45],[11,46],[10,45]]]}},
 {"type":"Feature","properties":{"n":2},"geometry":{"type":"Polygon","coordinates":[[[20,5],[21,5],[21,6],[20,5]]]}}]}
JSON
ogr2ogr -f GPKG two.gpkg two.geojson >/dev/null 2>&1 || { echo "FAIL: ogr2ogr gpkg"; exit 1; }
# A shapefile in UTM 32N: geo.read must bring it back to lon/lat.
ogr2ogr -f "ESRI Shapefile" -t_srs EPSG:32632 utm.shp one.geojson >/dev/null 2>&1 || { echo "FAIL: ogr2ogr shp"; exit 1; }

cat > ../read.lua <<'LUA'
local function show(name, g)
  local j = g:toGeoJSON()
  print(name, j.type, json.encode(j.coordinates))
end
show("geojson", geo.read("data/one.geojson"))
show("gpkg", geo.read("data/two.gpkg"))
local s = geo.read("data/utm.shp"):toGeoJSON()
local x, y = s.coordinates[1][1][1], s.coordinates[1][1][2]
print("shp", s.type, string.format("%.6f %.6f", x, y))
show("bbox", geo.bbox(-122.5, 37.5, -122, 38))
print("expr", ee.serialize(geo.read("data/one.geojson")))
LUA
out=$(cd / && "$BIN" run "$tmp/recipes/read.lua" --algorithms "$ALGS" 2>&1)
expect() {
  case "$out" in *"$1"*) echo "ok: $1" ;; *) echo "FAIL: expected '$1' in: $out"; fails=$((fails + 1)) ;; esac
}
expect 'geojson	Polygon	[[[10,45],[11,45],[11,46],[10,46],[10,45]]]'
expect 'gpkg	MultiPolygon	[[[[10,45],[11,45],[11,46],[10,45]]],[[[20,5],[21,5],[21,6],[20,5]]]]'
expect 'shp	Polygon	10.000000 45.000000'
expect 'bbox	Polygon	[[[-122.5,38],[-122.5,37.5],[-122,37.5],[-122,38]]]'
expect '"functionName":"GeometryConstructors.Polygon"'

printf 'geo.read("data/missing.gpkg")\n' > "$tmp/recipes/missing.lua"
out=$("$BIN" run "$tmp/recipes/missing.lua" --algorithms "$ALGS" 2>&1) && { echo "FAIL: missing file succeeded"; fails=$((fails + 1)); }
expect "missing.lua:1: geo.read: no file $tmp/recipes/data/missing.gpkg"
printf 'geo.bbox(1, 2, 0, 3)\n' > "$tmp/recipes/badbox.lua"
out=$("$BIN" run "$tmp/recipes/badbox.lua" --algorithms "$ALGS" 2>&1) && { echo "FAIL: bad bbox succeeded"; fails=$((fails + 1)); }
expect "badbox.lua:1: geo.bbox: west must be < east"

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
