#!/usr/bin/env bash
# Sets up, builds and runs every test: a -Werror build, then the same tests
# under AddressSanitizer + UndefinedBehaviorSanitizer.
#   scripts/test.sh            everything
#   scripts/test.sh -L emulator   only tests with that label (ctest -L)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --js-client

jobs=$(nproc 2>/dev/null || echo 2)
status=0

build_and_test() {
  local dir=$1; shift
  local flags=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEEFETCH_WERROR=ON $flags >/dev/null
  cmake --build "$dir" -j "$jobs"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" "$@") || status=1
}

echo "== release build (-Werror) =="
build_and_test build "" "$@"
echo "== sanitizer build (ASan + UBSan) =="
build_and_test build-asan "-DEEFETCH_SANITIZE=ON" "$@"
exit $status
