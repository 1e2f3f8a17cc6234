#!/usr/bin/env bash
# Installs every Debian package eefetch needs to build, test and run.
# Idempotent: when everything is present it only checks and returns.
#   scripts/setup.sh               Debian packages
#   scripts/setup.sh --js-client   also the official JS client (npm) the
#                                  tests use, in build/js-client
set -euo pipefail

js_client=0
for arg in "$@"; do
  case "$arg" in
    --js-client) js_client=1 ;;
    *) echo "usage: scripts/setup.sh [--js-client]" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  build-essential cmake pkg-config clang
  liblua5.4-dev lua5.4
  libcurl4-openssl-dev
  libgdal-dev gdal-bin python3-gdal python3-numpy libtiff-dev
  python3-xarray python3-zarr python3-netcdf4 python3-dask
  python3-googleapi python3-httplib2
  libssl-dev
  libmicrohttpd-dev
  libjson-c-dev
  libreadline-dev
  tmux
  # the man page and completion tests; CPack's .deb (dpkg-shlibdeps, file)
  man-db groff-base zsh dpkg-dev file
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js (for the official JS client in conformance tests) may come from another
# Debian-format repository that bundles npm; only install Debian's when absent.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "eefetch setup: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The official JS client for tests/emulator/test_js_client.py, in
# build/js-client (npm). Without it everything else still builds and runs;
# that test then tries the install itself and fails saying why.
if [ "$js_client" = 1 ] && ! bash "$(dirname "$0")/setup-js-client.sh"; then
  echo "eefetch setup: warning: the JS client is not installed; tests/emulator/test_js_client.py will fail" >&2
fi
