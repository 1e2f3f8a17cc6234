#!/usr/bin/env bash
# Builds the Debian package eefetch_<version>_<arch>.deb with CPack:
# configures a Release build with prefix /usr (so the paths compiled into the
# binary are the package's), builds it and runs `cpack -G DEB`; prints the
# package's path. Depends is derived by dpkg-shlibdeps (dpkg-dev) from the
# libraries the binary links. docs/install.md describes installing it.
#   scripts/package-deb.sh [BUILD_DIR]        (default build-deb)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-deb}

# The compiler's output goes to a log, shown only when something fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
             -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON &&
       cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target eefetch &&
       (cd "$build" && cpack -G DEB); } >"$log" 2>&1; then
  cat "$log" >&2
  echo "package-deb: failed (output above)" >&2
  exit 1
fi
(cd "$build" && ls -d "$PWD"/eefetch_*.deb)
