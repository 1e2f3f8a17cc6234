#!/usr/bin/env bash
# The eefetch benchmark in one command (docs/benchmarks.md):
#   scripts/bench.sh            the required sizes (W1 >= 2 GiB, ...), about 10 minutes here
#   scripts/bench.sh --quick    small sizes, a few minutes, for trying things out
#   scripts/bench.sh --rss-big  adds uncompressed W1 at 20.9 GiB for the RSS check;
#                               refuses to start without about 46 GiB free scratch space
# Builds a RelWithDebInfo binary in build-bench/ ($EEFETCH_BENCH_BUILD if set), runs bench/run_bench.py
# (emulator on loopback, W1-W3, GDAL EEDAI on W1), writes
# bench/results/<date>-<commit>.json and the results section of
# docs/benchmarks.md. Extra arguments are passed to bench/run_bench.py.
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${EEFETCH_BENCH_BUILD:-$src/build-bench}"

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEEFETCH_WERROR=ON >/dev/null
cmake --build "$build" -j2 --target eefetch >/dev/null

df -h "${TMPDIR:-/tmp}" | tail -1 | awk '{print "scratch space free: " $4}'
exec /usr/bin/python3 "$src/bench/run_bench.py" --bin "$build/eefetch" "$@"
