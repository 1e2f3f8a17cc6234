#!/usr/bin/env bash
# Installs the official Earth Engine JS client (npm @google/earthengine, the
# version pinned below) into a scratch folder under the build tree, for
# tests/emulator/test_js_client.py. Nothing from it is committed.
# Idempotent: when that version is present it only checks and returns.
#   scripts/setup-js-client.sh [DIR]      (default: build/js-client)
set -euo pipefail
VERSION=1.7.45
src="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$src/build/js-client}"
pkg="$dir/node_modules/@google/earthengine/package.json"

installed() {
  [ -f "$pkg" ] && node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' \
    "$pkg" "$VERSION" 2>/dev/null
}

if installed; then
  exit 0
fi
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "setup-js-client: $tool is not installed (scripts/setup.sh installs it)" >&2
    exit 1
  fi
done
mkdir -p "$dir"
echo "eefetch setup: installing @google/earthengine@$VERSION into $dir" >&2
if ! (cd "$dir" && npm install --no-audit --no-fund --no-save --loglevel=error \
        "@google/earthengine@$VERSION" >/dev/null); then
  echo "setup-js-client: npm install @google/earthengine@$VERSION failed in $dir" >&2
  exit 1
fi
installed || { echo "setup-js-client: @google/earthengine@$VERSION is not in $dir after npm install" >&2; exit 1; }
