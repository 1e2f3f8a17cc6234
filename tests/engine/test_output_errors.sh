#!/usr/bin/env bash
# Output failures through `eefetch run` (in-process emulator): an output
# directory that does not exist, one that cannot be written, a file size
# limit (RLIMIT_FSIZE, `ulimit -f`, with SIGXFSZ ignored so writes fail with
# EFBIG) and, when this runs as root, a really full disk (a small tmpfs).
# Each gives a clear message naming the cause, leaves nothing at the output
# path, and -- for the full disk -- the same command resumes afterwards
# without fetching the stored tiles again.
set -u
BIN=${EEFETCH_BIN:?}
T=$(mktemp -d /tmp/eefetch-outerr.XXXXXX)
chmod 755 "$T"
MNT=
cleanup() {
    [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect() { # label, output, pattern
    case "$2" in *$3*) echo "ok $1" ;; *) fail "$1: got: $2" ;; esac
}

cat > "$T/r.lua" <<'LUA'
local r = download{ image = ee.Image("USGS/SRTMGL1_003"), region = geo.bbox(-122.10, 37.75, -121.90, 37.90),
  crs = "EPSG:4326", pixel_size = 1 / 3600, bands = { "elevation" }, max_tile_bytes = 256 * 256 * 3,
  compression = "none", output = params.out }
print(string.format("tiles=%d fetched=%d resumed=%d", r.tiles, r.tiles_fetched, r.tiles_resumed))
LUA
run() { "$BIN" run "$T/r.lua" --emulator --progress off --set out="$1" 2>&1; }

out=$(run "$T/missing/dir/x.tif") && fail "missing directory: succeeded"
expect "missing directory" "$out" "r.lua:1: cannot write the output $T/missing/dir/x.tif: its directory $T/missing/dir does not exist"

# NAME_OPTIONS with its suppressions= file copied into $T: a run as another
# user cannot read the checkout's copy when the checkout's parent is private
# (a sanitizer build then stops before main).
readable_supp() { # variable name, copy name
    local opts=${!1-} sup
    sup=$(printf '%s' "$opts" | sed -n 's/.*suppressions=\([^:]*\).*/\1/p')
    if [ -n "$sup" ] && [ -r "$sup" ]; then
        cp "$sup" "$T/$2" && chmod 644 "$T/$2"
        opts=$(printf '%s' "$opts" | sed "s#suppressions=[^:]*#suppressions=$T/$2#")
    fi
    printf '%s' "$opts"
}

mkdir "$T/ro" && chmod 555 "$T/ro"
if [ "$(id -u)" -eq 0 ]; then
    out=$(ASAN_OPTIONS=$(readable_supp ASAN_OPTIONS asan.supp) LSAN_OPTIONS=$(readable_supp LSAN_OPTIONS lsan.supp) \
          setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN" run "$T/r.lua" --emulator --progress off \
          --set out="$T/ro/x.tif" 2>&1) && fail "read-only directory: succeeded"
else
    out=$(run "$T/ro/x.tif") && fail "read-only directory: succeeded"
fi
expect "read-only directory" "$out" "cannot write the output $T/ro/x.tif: no permission to create files in $T/ro"
[ -z "$(ls -A "$T/ro")" ] || fail "read-only directory: files left: $(ls -A "$T/ro")"

# A file size limit of 160 KiB: each stored tile (at most 256 x 256 int16
# pixels, raw) fits, the uncompressed 720 x 540 output does not.
mkdir "$T/lim"
out=$(trap '' XFSZ; ulimit -f 160; run "$T/lim/x.tif") && fail "file size limit: succeeded"
expect "file size limit" "$out" "the disk is full (or a file size limit was reached) while writing $T/lim/x.tif; nothing was written at that path"
expect "file size limit detail" "$out" "File too large"
[ -e "$T/lim/x.tif" ] && fail "file size limit: a file exists at the output path"
[ -e "$T/lim/x.tif.partial" ] && fail "file size limit: the partial output was left behind"
out=$(run "$T/lim/x.tif") || fail "file size limit: resume failed: $out"
expect "file size limit: resumed without fetching" "$out" "fetched=0 resumed="
gdalinfo -checksum "$T/lim/x.tif" > /dev/null 2>&1 || fail "file size limit: resumed output unreadable"

# A full disk: a 48 KiB tmpfs (the raw tiles and the output need about 1.6 MB).
if [ "$(id -u)" -eq 0 ] && mkdir "$T/full" && mount -t tmpfs -o size=48k tmpfs "$T/full" 2>/dev/null; then
    MNT="$T/full"
    # The store clearly cannot fit: the run stops before its first request...
    out=$(run "$T/full/x.tif") && fail "full disk: succeeded"
    expect "full disk checked up front" "$out" "r.lua:1: not enough free disk for $T/full/x.tif: the run needs at least"
    expect "full disk: the way out" "$out" "EEFETCH_NO_DISK_CHECK=1"
    [ -e "$T/full/x.tif.eefetch-journal" ] && fail "full disk: a journal was started before the check"
    # ...and, told not to check, fills the disk while storing tiles.
    out=$(EEFETCH_NO_DISK_CHECK=1 run "$T/full/x.tif") && fail "full disk: succeeded"
    expect "full disk" "$out" "the disk is full (or a file size limit was reached) while writing $T/full/x.tif"
    expect "full disk advice" "$out" "run the same recipe again to resume"
    expect "full disk warned up front" "$out" "x.tif needs up to "
    [ -e "$T/full/x.tif" ] && fail "full disk: a file exists at the output path"
    mount -o remount,size=4m "$T/full" || fail "remount"
    out=$(run "$T/full/x.tif") || fail "full disk: resume failed: $out"
    case "$out" in *"tiles="*" fetched="*) echo "ok full disk: resumed" ;;
        *) fail "full disk resume: $out" ;; esac
    cmp -s <(gdal_translate -q -of XYZ "$T/full/x.tif" /vsistdout/) \
           <(gdal_translate -q -of XYZ "$T/lim/x.tif" /vsistdout/) || fail "full disk: pixels differ after resume"
else
    echo "skip full disk: needs root to mount a tmpfs (the file size limit case covers the message)"
fi

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
