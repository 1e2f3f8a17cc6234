#!/usr/bin/env bash
# A stop (SIGINT) cancels the requests in flight instead of waiting for
# them: against `eefetch serve --latency-ms 30000` (every answer takes 30 s)
# `eefetch run` stops within a few seconds of Ctrl-C, says how to resume,
# leaves nothing at the output path, and the same command then completes.
set -u
SRC=${EEFETCH_SRC:?}
. "$SRC/tests/lib.sh"
lib_init cancel

cat > "$T/r.lua" <<'LUA'
local r = download{ image = ee.Image("USGS/SRTMGL1_003"), region = geo.bbox(-122.10, 37.75, -121.90, 37.90),
  crs = "EPSG:4326", pixel_size = 1 / 3600, bands = { "elevation" }, max_tile_bytes = 256 * 256 * 3,
  workers = 4, output = params.out }
print(string.format("tiles=%d fetched=%d", r.tiles, r.tiles_fetched))
LUA

serve_start slow --no-auth --latency-ms 30000

# --algorithms: the slow server is only asked for pixels.
"$BIN" run "$T/r.lua" --endpoint "http://127.0.0.1:$PORT" --project p \
    --algorithms "$SRC/data/algorithms-signatures.json" --progress off --set out="$T/x.tif" \
    > "$T/run.out" 2>&1 &
RUN=$!
sleep 2
start=$(date +%s%N)
kill -INT "$RUN"
wait "$RUN"
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "stopped ${ms} ms after SIGINT (status $rc)"
[ "$rc" -ne 0 ] || fail "interrupted run exited with status 0"
[ "$ms" -lt 10000 ] || fail "the stop waited for the requests in flight (${ms} ms)"
grep -q "run the same recipe again to resume" "$T/run.out" || fail "no resume advice: $(cat "$T/run.out")"
[ -e "$T/x.tif" ] && fail "a file exists at the output path after the stop"

# The same server, now fast: the same command resumes and completes.
serve_stop
serve_on_port "$PORT" fast --no-auth
out=$("$BIN" run "$T/r.lua" --endpoint "http://127.0.0.1:$PORT" --project p \
      --algorithms "$SRC/data/algorithms-signatures.json" --progress off --set out="$T/x.tif" 2>&1) \
    || fail "resume failed: $out"
case "$out" in *"tiles="*) echo "ok resumed: $out" ;; *) fail "resume: $out" ;; esac
gdalinfo "$T/x.tif" > /dev/null 2>&1 || fail "output unreadable after resume"

lib_finish
