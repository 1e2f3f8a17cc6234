#!/usr/bin/env bash
# download{ credentials = ..., project = ... } against `eefetch serve
# --require-auth`: the download's project is in its request URLs
# (projects/<p>/image:computePixels), its credentials file gets its own token
# provider (every pixel request is answered, none refused with 401) and is
# checked before the first tile, like the command line's.
set -u
. "${EEFETCH_SRC:?EEFETCH_SRC not set}/tests/lib.sh"
lib_init dl-creds
PY=/usr/bin/python3
mkdir -p "$T/home" "$T/recipes"
ALGS=$EEFETCH_SRC/data/algorithms-signatures.json

# go NAME ARGS... : eefetch run in a clean environment (no credentials of
# its own); output in $T/NAME.{out,err}, status in RC.
go() {
    local name=$1; shift
    env -i PATH="$PATH" HOME="$T/home" XDG_CACHE_HOME="${XDG_CACHE_HOME:-$T/cache}" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}" LSAN_OPTIONS="${LSAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
        "$BIN" run "$T/recipes/r.lua" --endpoint "$EP" --algorithms "$ALGS" --progress off --output-dir "$T" "$@" \
        > "$T/$name.out" 2> "$T/$name.err"
    RC=$?
}
# pixels PROJECT : computePixels requests answered 200 for PROJECT since the mark
pixels() { tail -n +"$MARK" "$T/log.jsonl" | grep '"route":"image.computePixels"' | grep '"status":200' |
           grep -c "\"project\":\"$1\""; }
all_pixels() { tail -n +"$MARK" "$T/log.jsonl" | grep -c '"route":"image.computePixels"'; }
refused() { tail -n +"$MARK" "$T/log.jsonl" | grep -c '"status":401'; }
mark() { MARK=$(( $(wc -l < "$T/log.jsonl") + 1 )); }

cat > "$T/recipes/r.lua" <<'LUA'
local r = download{
  image = ee.Image("USGS/SRTMGL1_003"),
  region = geo.bbox(-122.52, 37.70, -122.40, 37.80),
  crs = "EPSG:4326", pixel_size = 1 / 3600, bands = { "elevation" }, dtype = "int16",
  max_tile_bytes = 60000, workers = 4,
  credentials = params.creds, project = params.proj,
  output = params.out, overwrite = true,
}
print(string.format("tiles=%d", r.tiles))
LUA

serve_start serve --require-auth --projects emu-proj,other-proj --write-credentials "$T/c" \
    --request-log "$T/log.jsonl"
EP=http://127.0.0.1:$PORT
KEY=$T/c/service-account.json          # project_id emu-proj
cp "$KEY" "$T/recipes/key.json"
$PY - "$KEY" "$T/key_other.json" <<'PYEOF'
import json, sys
k = json.load(open(sys.argv[1])); k["project_id"] = "other-proj"; json.dump(k, open(sys.argv[2], "w"))
PYEOF
chmod 600 "$T/recipes/key.json" "$T/key_other.json"

check_run() {  # NAME PROJECT : the run succeeded, every tile answered for PROJECT, no 401
    local tiles n
    tiles=$(grep -o 'tiles=[0-9]*' "$T/$1.out" | grep -o '[0-9]*')
    n=$(pixels "$2")
    if [ "$RC" -eq 0 ] && [ "${tiles:-0}" -gt 1 ] && [ "$n" -ge "$tiles" ] && [ "$(all_pixels)" -eq "$n" ] &&
       [ "$(refused)" -eq 0 ]; then
        ok "$1: $tiles tiles, $n requests answered for $2"
    else
        fail "$1: status $RC, tiles ${tiles:-?}, $n requests answered for $2 of $(all_pixels), $(refused) 401s"
        tail -5 "$T/$1.err"
    fi
}

# The command line has neither credentials nor this project: both from the download.
mark
go own --project emu-proj --set creds="$KEY" --set proj=other-proj --set out="$T/a.tif"
check_run own other-proj
# A relative path is the recipe's (like `like` and geo.read).
mark
(cd / && go relative --set creds=key.json --set out="$T/b.tif")
check_run relative emu-proj
# Without a project, the download's key names it...
mark
go key_project --set creds="$T/key_other.json" --set out="$T/c.tif"
check_run key_project other-proj
# ...unless the command line does.
mark
go cmd_project --project emu-proj --set creds="$T/key_other.json" --set out="$T/d.tif"
check_run cmd_project emu-proj
# The project alone: the command line's credentials, the download's project.
mark
go own_project --credentials "$KEY" --set proj=other-proj --set out="$T/e.tif"
check_run own_project other-proj

# Checked before the first tile, with a message that says which.
mark
go missing --project emu-proj --set creds="$T/nope.json" --set out="$T/f.tif"
if [ "$RC" -ne 0 ] && grep -qF "the download's credentials: credentials file $T/nope.json" "$T/missing.err" &&
   grep -q "r.lua:1:" "$T/missing.err" && [ "$(all_pixels)" -eq 0 ]; then ok "missing credentials file"
else fail "missing credentials file: status $RC, $(all_pixels) pixel requests"; cat "$T/missing.err"; fi
mark
go unregistered --set creds="$KEY" --set proj=nope-proj --set out="$T/g.tif"
if [ "$RC" -ne 0 ] && grep -qF "Project nope-proj is not registered" "$T/unregistered.err" &&
   [ "$(all_pixels)" -eq 0 ]; then ok "unregistered project of the download"
else fail "unregistered: status $RC, $(all_pixels) pixel requests"; cat "$T/unregistered.err"; fi
mark
go unregistered2 --credentials "$KEY" --set proj=nope-proj --set out="$T/h.tif"
if [ "$RC" -ne 0 ] && grep -qF "Project nope-proj is not registered" "$T/unregistered2.err" &&
   [ "$(all_pixels)" -eq 0 ]; then ok "unregistered project with the command line's credentials"
else fail "unregistered2: status $RC, $(all_pixels) pixel requests"; cat "$T/unregistered2.err"; fi
if grep -q "ya29.emu-" "$T"/*.out "$T"/*.err; then fail "an access token reached the output"; fi
lib_finish
