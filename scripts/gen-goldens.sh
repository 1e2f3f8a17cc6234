#!/usr/bin/env bash
# Regenerates tests/host/goldens/*.json: the official Earth Engine JS client
# (npm @google/earthengine, installed into a scratch directory under the
# build tree, never committed) serializes every case of
# tests/host/golden_cases.txt offline.
#   scripts/gen-goldens.sh [SCRATCH_DIR]
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
scratch="${1:-$src/build/golden-gen}"
mkdir -p "$scratch"
if [ ! -d "$scratch/node_modules/@google/earthengine" ]; then
  (cd "$scratch" && npm install --no-audit --no-fund --silent @google/earthengine >/dev/null)
fi
NODE_PATH="$scratch/node_modules" node "$src/tests/host/gen_goldens.js" \
  "$src/tests/host/golden_cases.txt" "$src/data/algorithms-signatures.json" \
  "$src/tests/host/goldens"
