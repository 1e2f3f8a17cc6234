#!/usr/bin/env bash
# Regenerates tests/host/goldens/*.json: the official Earth Engine JS client
# (npm @google/earthengine at the version scripts/setup-js-client.sh pins,
# installed into a scratch directory under the build tree, never committed)
# serializes every case of tests/host/golden_cases.txt offline.
#   scripts/gen-goldens.sh [SCRATCH_DIR]
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
scratch="${1:-$src/build/js-client}"
# The same pinned client version as the JS client test (scripts/setup-js-client.sh).
bash "$src/scripts/setup-js-client.sh" "$scratch"
NODE_PATH="$scratch/node_modules" node "$src/tests/host/gen_goldens.js" \
  "$src/tests/host/golden_cases.txt" "$src/data/algorithms-signatures.json" \
  "$src/tests/host/goldens"
