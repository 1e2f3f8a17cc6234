#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan + libFuzzer) and runs each
# one for SECONDS seconds, one at a time, growing its committed corpus in
# tests/fuzz/corpus/<name>/; then minimises every corpus with -merge=1.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 s, every target
#   FUZZ_JOBS=2 scripts/fuzz.sh 600 expr      more parallel workers
# Crashes are written to build-fuzz/crashes/; copy a reproducer into the
# corpus once the bug is fixed (docs/testing.md).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
build=${FUZZ_BUILD:-build-fuzz}
jobs=${FUZZ_JOBS:-1}

# Without -Werror: clang warns about things gcc (the -Werror compiler) accepts.
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEEFETCH_WERROR=OFF \
  -DEEFETCH_FUZZ=ON -DEEFETCH_SANITIZE=ON -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link >/dev/null

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in tests/fuzz/fuzz_*.c; do
    n=$(basename "$f" .c)
    targets+=("${n#fuzz_}")
  done
fi
cmake --build "$build" -j 2 --target $(printf 'fuzz_%s ' "${targets[@]}")

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:suppressions=$PWD/tests/asan.supp"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

mkdir -p "$build/crashes"
# -jobs writes fuzz-N.log files into the working directory: only when asked.
par=()
if [ "$jobs" -gt 1 ]; then
  par=(-jobs="$jobs" -workers="$jobs")
fi
status=0
for t in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/$t
  new="$build/new-corpus/$t"
  rm -rf "$new"
  mkdir -p "$corpus" "$new"
  echo "== fuzz_$t: $secs s =="
  # New inputs go to a scratch directory first; the merge below copies only
  # those that add coverage into the committed corpus.
  if ! "$build/tests/fuzz/fuzz_$t" "$new" "$corpus" -max_total_time="$secs" "${par[@]}" \
      -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$build/crashes/${t}-" -print_final_stats=1 2>"$build/fuzz_$t.log"; then
    echo "fuzz_$t: failure; see $build/fuzz_$t.log and $build/crashes/"
    tail -40 "$build/fuzz_$t.log"
    status=1
  fi
  "$build/tests/fuzz/fuzz_$t" -merge=1 "$corpus" "$new" -max_len=16384 -timeout=10 \
    2>>"$build/fuzz_$t.log" || status=1
  echo "fuzz_$t: $(ls "$corpus" | wc -l) corpus files"
done
exit $status
