#!/usr/bin/env bash
# A real download (eefetch run, 16 workers, many tiles) against
# `eefetch serve --require-auth --token-lifetime 5`, authenticating with a
# service-account key: no failed tile, no 401, and about one token grant per
# expiry (the emulator's request log counts them), not one per worker.
set -u
. "${EEFETCH_SRC:?EEFETCH_SRC not set}/tests/lib.sh"
lib_init auth-dl

cat > "$T/r.lua" <<'LUA'
local r = download{
  image = ee.Image("USGS/SRTMGL1_003"),
  region = geo.bbox(-122.52, 37.70, -122.35, 37.83),
  crs = "EPSG:4326",
  pixel_size = 1 / 3600,
  bands = { "elevation" },
  dtype = "int16",
  workers = 16,
  max_tile_bytes = 12000,
  output = params.out,
  overwrite = true,
}
print(string.format("tiles=%d", r.tiles))
LUA

serve_start serve --require-auth --token-lifetime 5 --latency-ms 450 --projects emu-proj \
    --write-credentials "$T/c" --request-log "$T/log.jsonl"

start=$(date +%s.%N)
env -u GOOGLE_APPLICATION_CREDENTIALS -u EE_ACCESS_TOKEN HOME="$T" \
    "$BIN" run "$T/r.lua" --endpoint "http://127.0.0.1:$PORT" \
    --credentials "$T/c/service-account.json" --set out="$T/out.tif" -v > "$T/run.out" 2> "$T/run.err"
rc=$?
end=$(date +%s.%N)
secs=$(echo "$end - $start" | bc)
cat "$T/run.out"
[ $rc -eq 0 ] || { fail "run exited $rc"; tail -20 "$T/run.err"; }
[ -s "$T/out.tif" ] || fail "no output file"

tiles=$(grep -o 'tiles=[0-9]*' "$T/run.out" | grep -o '[0-9]*')
grants=$(grep '"route":"token"' "$T/log.jsonl" | grep -c '"status":200')
unauth=$(grep -c '"status":401' "$T/log.jsonl")
pixels=$(grep 'computePixels\|getPixels' "$T/log.jsonl" | grep -c '"status":200')
echo "run: ${secs}s, $tiles tiles, $pixels pixel requests answered, $grants token grants, $unauth 401s"
[ "${tiles:-0}" -gt 100 ] || fail "expected many tiles, got ${tiles:-none}"
[ "$unauth" -eq 0 ] || fail "$unauth requests were refused with 401"
# A token lives 5 s and is refreshed after 3.75 s: about secs/3.75 + 1 grants.
max=$(echo "$secs / 3.75 + 2" | bc)
[ "$grants" -ge 2 ] || fail "expected a refresh during a ${secs}s run, got $grants grant(s)"
[ "$grants" -le "$max" ] || fail "$grants grants for a ${secs}s run (at most $max expected)"
[ "${pixels:-0}" -ge "${tiles:-1}" ] || fail "only $pixels pixel requests answered for $tiles tiles"
if grep -q "ya29.emu-" "$T/run.out" "$T/run.err"; then
    fail "an access token reached the output"
fi
lib_finish
