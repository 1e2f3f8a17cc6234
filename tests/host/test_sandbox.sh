#!/usr/bin/env bash
# Recipes run in a sandbox: every escape attempt fails with a clear message
# and a non-zero exit; the budgets stop runaway recipes; --unsafe lifts it.
set -u
BIN="$EEFETCH_BIN"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect_fail CODE EXPECTED-SUBSTRING [extra options]
expect_fail() {
  local code="$1" want="$2"
  shift 2
  local out rc
  out=$(timeout 60 "$BIN" eval --max-instructions 2e7 --max-memory 64 "$@" "$code" 2>&1)
  rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 124 ]; then
    echo "FAIL: '$code' exited $rc (expected 1): $out"; fails=$((fails + 1)); return
  fi
  case "$out" in
    *"$want"*) echo "ok: $code -> $want" ;;
    *) echo "FAIL: '$code': expected '$want' in: $out"; fails=$((fails + 1)) ;;
  esac
}

expect_ok() {
  local code="$1" want="$2"
  shift 2
  local out
  out=$(timeout 60 "$BIN" eval "$@" "$code" 2>&1) || { echo "FAIL: '$code' failed: $out"; fails=$((fails + 1)); return; }
  case "$out" in
    *"$want"*) echo "ok: $code -> $want" ;;
    *) echo "FAIL: '$code': expected '$want' in: $out"; fails=$((fails + 1)) ;;
  esac
}

expect_fail 'io.open("/etc/passwd")' "'io' is not available in recipes"
expect_fail 'os.execute("true")' "os.execute is not available in recipes"
expect_fail 'os.exit(0)' "os.exit is not available in recipes"
expect_fail 'os.getenv("HOME")' "os.getenv is not available in recipes"
expect_fail 'debug.sethook()' "'debug' is not available in recipes"
expect_fail 'dofile("/etc/passwd")' "'dofile' is not available in recipes"
expect_fail 'package.loadlib("libc.so.6", "system")' "'package' is not available in recipes"
expect_fail 'string.dump(print)' "string.dump is not available in recipes"
expect_fail 'assert(load("\27Lua\84\0"))' "attempt to load a binary chunk"
expect_fail 'load("\27Lua\84\0", "x", "b")' "only text chunks can be loaded"
expect_fail 'require("os")' "only eefetch modules"
expect_fail 'require("../etc/passwd")' "not a valid module name"
expect_fail 'ee.Image = nil' "ee is read-only"
expect_fail 'ee.Filter.eq = print' "ee.Filter is read-only"
expect_fail 'geo.read = print' "geo is read-only"
expect_fail 'ee.Algorithms.If = print' "ee.Algorithms is read-only" --algorithms "$EEFETCH_SRC/data/algorithms-signatures.json"
expect_fail 'ee.Terrain.slope = print' "ee.Algorithms.Terrain is read-only" --algorithms "$EEFETCH_SRC/data/algorithms-signatures.json"
expect_fail 'ee.null.x = 1' "json.null cannot hold fields"
expect_fail 'string.rep = nil' "string is read-only"
expect_fail 'params.x = 1' "params is read-only"
expect_fail 'setmetatable(ee, nil)' "cannot change a protected metatable"
expect_fail 'setmetatable(string, {})' "cannot change a protected metatable"
expect_fail 'getmetatable("").__index.rep = nil' "attempt to index a nil value (field '__index')"
expect_fail 'setmetatable(_G, nil)' "cannot change a protected metatable"
expect_fail 'rawset(ee, "x", 1)' "'rawset' is not available in recipes"
expect_fail 'while true do end' "(eval):1: recipe exceeded its instruction budget"
expect_fail 'while true do pcall(function() while true do end end) end' "exceeded its instruction budget"
expect_fail 'local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 1000) .. i end' "exceeded its memory budget of 64 MiB"
expect_fail 'local s = "x" while true do s = s .. s end' "exceeded its memory budget"

# What recipes do get.
expect_ok 'print(getmetatable(""), ("x"):rep(3), os.time() > 0, math.floor(2.5), select("#", 1, 2))' \
  'string (read-only)	xxx	true	2	2'
expect_ok 'print(params.year, params.tile)' '2023	T10' --set year=2023 --set tile=T10
expect_ok 'print(load("return 1 + 1")())' '2'

# require reaches files next to the recipe, and only there.
mkdir -p "$tmp/r/lib" "$tmp/outside"
echo 'return { answer = 42 }' > "$tmp/r/lib/helper.lua"
echo 'return { secret = 1 }' > "$tmp/outside/other.lua"
echo 'print("answer", require("lib.helper").answer, require("eefetch.ee") == ee)' > "$tmp/r/recipe.lua"
out=$("$BIN" run "$tmp/r/recipe.lua" 2>&1)
case "$out" in *"answer	42	true"*) echo "ok: require lib.helper" ;; *) echo "FAIL: require: $out"; fails=$((fails + 1)) ;; esac
echo 'require("outside.other")' > "$tmp/r/escape.lua"
out=$("$BIN" run "$tmp/r/escape.lua" 2>&1) && { echo "FAIL: escape.lua succeeded"; fails=$((fails + 1)); }
case "$out" in *"escape.lua:1: require 'outside.other': only eefetch modules"*) echo "ok: require outside" ;;
  *) echo "FAIL: require outside: $out"; fails=$((fails + 1)) ;; esac

# --unsafe gives the full library.
expect_ok 'print(io.write and "io" or "none", type(os.getenv))' 'io	function' --unsafe

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
