#!/usr/bin/env bash
# `eefetch eval` shows the value of a last expression as the REPL does (an
# ee value evaluated with getInfo, an image as its band table); statements
# print nothing of their own; errors go to stderr with status 1.
set -u
. "${EEFETCH_SRC:?EEFETCH_SRC not set}/tests/lib.sh"
lib_init eval
export HOME=$T

expect_eval() {  # CODE EXPECTED-STDOUT
    local out rc
    out=$("$BIN" eval --emulator "$1" 2>"$T/err")
    rc=$?
    if [ $rc -eq 0 ] && [ "$out" = "$2" ]; then ok "eval $1"
    else fail "eval $1: status $rc, stdout [$out], expected [$2]; stderr: $(cat "$T/err")"; fi
}

expect_eval 'ee.Number(1):add(2)' '3'
expect_eval '1 + 2' '3'
expect_eval 'x = 5' ''
expect_eval 'print("hi")' 'hi'
expect_eval 'local a = ee.Number(40)
a:add(2)' '42'
expect_eval 'local a = 40; a + 2' '42'
expect_eval 'for i = 1, 2 do print(i) end' '1
2'
expect_eval 'local t = {}
for i = 1, 3 do t[i] = i * i end
t' '{1, 4, 9}'
expect_eval '"a", 1' '"a"
1'
expect_eval 'nil' 'nil'
expect_eval 'if true then local y = 1 end' ''
expect_eval 'for i = 1, 2 do
  print(i)
end' '1
2'

# The same display as the REPL, line for line.
img='ee.Image("USGS/SRTMGL1_003")'
printf '%s\n' "$img" | "$BIN" repl --emulator > "$T/repl.out" 2>&1
want=$(sed -n '3,$p' "$T/repl.out" | sed '$d')
got=$("$BIN" eval --emulator "$img" 2>&1)
case "$want" in "Image USGS/SRTMGL1_003"*) ;; *) fail "the REPL showed: $(cat "$T/repl.out")" ;; esac
if [ "$got" = "$want" ]; then ok "eval shows an image as the REPL does"
else fail "eval of an image: [$got], the REPL: [$want]"; fi

out=$("$BIN" eval --emulator 'error("boom")' 2>"$T/err")
rc=$?
[ $rc -eq 1 ] && [ -z "$out" ] && grep -q "boom" "$T/err" && ok "error" || fail "error: status $rc, [$out]"
out=$("$BIN" eval --emulator 'x = = 1' 2>"$T/err")
rc=$?
[ $rc -eq 1 ] && grep -q "(eval):1:" "$T/err" && ok "syntax error" || fail "syntax error: status $rc, $(cat "$T/err")"
lib_finish
