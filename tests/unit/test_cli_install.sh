#!/usr/bin/env bash
# `cmake --install` and the Debian package, as a person installs eefetch:
# 1. DESTDIR install of the build: the binary (bin/), the man page
#    (share/man/man1), the bash and zsh completions, README, every docs/*.md
#    page and the example recipes (share/doc/eefetch/);
# 2. the installed binary: --version and -V, --help names the installed docs
#    folder, the installed man page renders, the installed bash completion
#    loads; and the demo recipe, run from its installed place against
#    --emulator, writes a 3-band uint16 COG, its quick-look and STAC Item;
# 3. `cpack -G DEB` of the same build: Section, Maintainer, Description, and
#    a Depends that names the package of every library the binary links
#    (found independently: objdump's NEEDED -> ldd's path -> dpkg -S); the
#    contents hold the binary, man page, completions and docs, and the
#    binary unpacked from it runs.
set -uo pipefail
bin=${EEFETCH_BIN:?}
src=${EEFETCH_SRC:?}
build=${EEFETCH_BUILD:?}
fails=0
passes=0

ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect_file() { if [ -f "$1" ]; then ok; else bad "missing $1"; fi; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- 1. the installed tree ----
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
root=$tmp/root
if ! DESTDIR=$root cmake --install "$build" >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log"
    bad "cmake --install failed"
fi
p=$root$prefix
expect_file "$p/bin/eefetch"
expect_file "$p/share/man/man1/eefetch.1"
expect_file "$p/share/bash-completion/completions/eefetch"
expect_file "$p/share/zsh/site-functions/_eefetch"
expect_file "$p/share/doc/eefetch/README.md"
for doc in "$src"/docs/*.md; do expect_file "$p/share/doc/eefetch/$(basename "$doc")"; done
for r in "$src"/recipes/*.lua; do expect_file "$p/share/doc/eefetch/recipes/$(basename "$r")"; done
if [ -x "$p/bin/eefetch" ]; then ok; else bad "$p/bin/eefetch is not executable"; fi
# Nothing else: no test programs, no headers, no libraries.
extra=$(cd "$root" && find . -type f | grep -v -e '/bin/eefetch$' -e '/share/man/man1/eefetch.1$' \
    -e '/share/bash-completion/completions/eefetch$' -e '/share/zsh/site-functions/_eefetch$' \
    -e '/share/doc/eefetch/[^/]*\.md$' -e '/share/doc/eefetch/recipes/[^/]*\.lua$')
if [ -z "$extra" ]; then ok; else bad "installed files nobody asked for: $extra"; fi

# ---- 2. the installed binary and files ----
ibin=$p/bin/eefetch
v=$("$ibin" --version)
if [ "$v" = "$("$bin" --version)" ] && [[ $v == "eefetch "* ]]; then ok; else bad "installed --version: $v"; fi
if [ "$("$ibin" -V)" = "$v" ]; then ok; else bad "installed -V: $("$ibin" -V)"; fi
help=$("$ibin" --help)
if grep -q "in $prefix/share/doc/eefetch\$" <<<"$help"; then ok; else bad "--help does not name $prefix/share/doc/eefetch: $help"; fi
for doc in "$src"/docs/*.md; do
    if grep -q "^  $(basename "$doc") " <<<"$help"; then ok; else bad "--help does not list $(basename "$doc")"; fi
done
warn=$(MANWIDTH=80 man -l --warnings "$p/share/man/man1/eefetch.1" 2>&1 >"$tmp/man.txt")
if [ -z "$warn" ] && grep -q "^EXIT STATUS" "$tmp/man.txt"; then ok; else bad "installed man page: $warn"; fi
c=$(bash -c "source '$p/share/bash-completion/completions/eefetch' && complete -p eefetch" 2>&1)
if [ "$c" = "complete -F _eefetch eefetch" ]; then ok; else bad "installed bash completion: $c"; fi

out=$tmp/demo
mkdir -p "$out"
recipe=$p/share/doc/eefetch/recipes/demo_s2_median.lua
if (cd "$tmp" && "$ibin" run "$recipe" --emulator --progress off --output-dir "$out" \
        --set out="$out/demo.tif") >"$tmp/demo.log" 2>&1; then
    ok
else
    cat "$tmp/demo.log"
    bad "the installed demo recipe failed against --emulator"
fi
if /usr/bin/python3 - "$out/demo.tif" <<'EOF'; then ok; else bad "the demo's output is not the 3-band uint16 COG it should be"; fi
import sys
from osgeo import gdal
ds = gdal.Open(sys.argv[1])
assert ds is not None, "cannot open"
assert ds.RasterCount == 3, ds.RasterCount
assert ds.GetRasterBand(1).DataType == gdal.GDT_UInt16
# about 20 km x 20 km at 10 m
assert 1800 < ds.RasterXSize < 2300 and 1800 < ds.RasterYSize < 2300, (ds.RasterXSize, ds.RasterYSize)
assert "32610" in ds.GetProjection() or "UTM zone 10N" in ds.GetProjection()
assert ds.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG"
st = ds.GetRasterBand(1).ComputeStatistics(False)
assert st[1] > st[0], st  # not a constant image
EOF
expect_file "$out/demo.png"
expect_file "$out/demo.json"

# ---- 3. the Debian package ----
if command -v dpkg-deb >/dev/null && command -v cpack >/dev/null; then
    if (cd "$build" && cpack -G DEB -B "$tmp/pkg" -D CPACK_PACKAGING_INSTALL_PREFIX=/usr) >"$tmp/cpack.log" 2>&1; then
        ok
    else
        cat "$tmp/cpack.log"
        bad "cpack -G DEB failed"
    fi
    deb=$(ls "$tmp"/pkg/eefetch_*.deb 2>/dev/null | head -1)
    if [ -n "$deb" ]; then
        info=$(dpkg-deb --info "$deb")
        depends=$(dpkg-deb -f "$deb" Depends)
        echo "Depends: $depends"
        for field in Section:science Priority:optional Package:eefetch; do
            if [ "$(dpkg-deb -f "$deb" "${field%%:*}")" = "${field#*:}" ]; then ok; else bad "deb ${field%%:*}: $(dpkg-deb -f "$deb" "${field%%:*}")"; fi
        done
        if [[ $(dpkg-deb -f "$deb" Maintainer) == *"<"*"@"*">" ]]; then ok; else bad "deb Maintainer: $(dpkg-deb -f "$deb" Maintainer)"; fi
        if grep -q "Earth Engine" <<<"$info"; then ok; else bad "deb Description: $info"; fi
        # Every library the binary links, by its Debian package.
        for lib in $(objdump -p "$bin" | awk '/NEEDED/{print $2}'); do
            path=$(ldd "$bin" | awk -v l="$lib" '$1 == l {print $3}')
            pkg=""
            for cand in "$path" "/usr$path" "$(readlink -f "$path")"; do
                pkg=$(dpkg -S "$cand" 2>/dev/null | head -1 | cut -d: -f1) && [ -n "$pkg" ] && break
            done
            if [ -z "$pkg" ]; then
                bad "no Debian package owns $lib ($path)"
            elif grep -Eq "(^|, )$pkg( |,|$)" <<<"$depends"; then
                ok
            else
                bad "Depends lacks $pkg (for $lib)"
            fi
        done
        for lib in libgdal32 libcurl4 liblua5.4-0 libmicrohttpd12 libjson-c5 libssl3; do
            if grep -Eq "(^|, )$lib( |,|$)" <<<"$depends"; then ok; else bad "Depends lacks $lib"; fi
        done
        contents=$(dpkg-deb --contents "$deb")
        for f in ./usr/bin/eefetch ./usr/share/man/man1/eefetch.1 ./usr/share/bash-completion/completions/eefetch \
            ./usr/share/zsh/site-functions/_eefetch ./usr/share/doc/eefetch/README.md \
            ./usr/share/doc/eefetch/recipes.md ./usr/share/doc/eefetch/recipes/demo_s2_median.lua; do
            if grep -q " $f\$" <<<"$contents"; then ok; else bad "the .deb lacks $f"; fi
        done
        dpkg-deb -x "$deb" "$tmp/x"
        if [ "$("$tmp/x/usr/bin/eefetch" -V)" = "$v" ]; then ok; else bad "the packaged binary does not run"; fi
    else
        bad "cpack made no .deb"
    fi
else
    bad "dpkg-deb or cpack missing (scripts/setup.sh installs them)"
fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
