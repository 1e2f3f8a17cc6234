#!/usr/bin/env bash
# The demo: from a fresh clone, installs what is missing (scripts/setup.sh),
# builds eefetch (Release) and runs recipes/demo_s2_median.lua against the
# in-process offline emulator. Leaves a Cloud Optimized GeoTIFF and a PNG
# quick-look (both written by eefetch) in build-release/demo/ and prints their paths.
#   scripts/demo.sh                  (DEMO_OUT=dir to put the files elsewhere)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== building eefetch (build-release/) ==" >&2
# The compiler's output goes to a log, shown only when the build fails.
log=$(mktemp)
if ! { cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release &&
       cmake --build build-release -j "$(nproc 2>/dev/null || echo 2)"; } >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  echo "demo: the build failed (output above)" >&2
  exit 1
fi
rm -f "$log"

out=${DEMO_OUT:-build-release/demo}
mkdir -p "$out"
out=$(cd "$out" && pwd)

echo "== running recipes/demo_s2_median.lua against the offline emulator ==" >&2
./build-release/eefetch run recipes/demo_s2_median.lua --emulator --output-dir "$out" --set out="$out/s2_median.tif"

echo
echo "Done. Inspect the results with, for example:"
echo "  gdalinfo $out/s2_median.tif"
echo "  xdg-open $out/s2_median.png"
