#!/usr/bin/env bash
# usage: run.sh BUILD_DIR WORK_DIR [static]
# Installs BUILD_DIR into WORK_DIR/prefix and builds consumer.c twice against it: with
# pkg-config, and with CMake's find_package(nnla CONFIG). With "static", BUILD_DIR holds a
# -DBUILD_SHARED_LIBS=OFF build, and the consumers link libnnla.a (pkg-config --static).
set -euo pipefail
build=$1
work=$2
mode=${3:-shared}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"

libdir=$(dirname "$(find "$prefix" -name nnla.pc | head -n 1)")/..
libdir=$(cd "$libdir" && pwd)
test -f "$prefix/include/nnla.h"
if [ "$mode" = static ]; then
    test -f "$libdir/libnnla.a"
    pcflags=--static
else
    test -L "$libdir/libnnla.so"
    readelf -d "$libdir/libnnla.so" | grep -q 'SONAME.*libnnla\.so\.0'
    # Only nnla_* symbols are exported.
    bad=$(nm -D --defined-only "$libdir/libnnla.so" | awk '{print $3}' | grep -v '^nnla_' || true)
    if [ -n "$bad" ]; then echo "exported symbols outside nnla_*: $bad" >&2; exit 1; fi
    pcflags=
fi

echo "== pkg-config consumer ($mode)"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists nnla
test "$(pkg-config --modversion nnla)" = "$(grep -E '^#define NNLA_VERSION_(MAJOR|MINOR|PATCH) [0-9]' "$prefix/include/nnla/version.h" | awk '{print $3}' | paste -sd.)"
# shellcheck disable=SC2046
${CC:-cc} -std=c11 -Wall -Werror -o "$work/with_pkgconfig" "$here/consumer.c" \
    $(pkg-config $pcflags --cflags --libs nnla) -Wl,-rpath,"$libdir"
"$work/with_pkgconfig"
if [ "$mode" = static ] && readelf -d "$work/with_pkgconfig" | grep -q 'libnnla\.so'; then
    echo "static consumer linked the shared library" >&2
    exit 1
fi

if [ "$mode" = shared ]; then
    # The README's two link lines, as written there (app.c is our consumer.c). The plain one gives
    # a program that cannot start from this non-system prefix without LD_LIBRARY_PATH (what the
    # README warns of); the one with the rpath starts without it.
    readme="$here/../../README.md"
    plain=$(grep -m1 -E '^cc -std=c11 app\.c \$\(pkg-config --cflags --libs nnla\)[[:space:]]*(#.*)?$' "$readme" \
            | sed 's/[[:space:]]*#.*//')
    rpath=$(grep -m1 -E '^cc -std=c11 app\.c .*-Wl,-rpath,' "$readme" | sed 's/[[:space:]]*#.*//')
    if [ -z "$plain" ] || [ -z "$rpath" ]; then
        echo "README.md: the link lines (plain and with -Wl,-rpath) were not found" >&2
        exit 1
    fi
    echo "== README link lines: $plain / $rpath"
    for kind in plain rpath; do
        line=${!kind}
        line=${line/#cc /${CC:-cc} }
        line=${line/ app.c / \"$here\/consumer.c\" -o \"$work\/readme_$kind\" }
        (cd "$work" && eval "$line")
    done
    if out=$(env -u LD_LIBRARY_PATH "$work/readme_plain" 2>&1); then
        echo "the README's plain link line started without LD_LIBRARY_PATH: the warning is stale ($out)" >&2
        exit 1
    fi
    echo "$out" | grep -q 'libnnla\.so\.0: cannot open shared object file'
    LD_LIBRARY_PATH=$(pkg-config --variable=libdir nnla) "$work/readme_plain"
    env -u LD_LIBRARY_PATH "$work/readme_rpath"
fi

echo "== find_package consumer ($mode)"
cmake -S "$here" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >"$work/cmake.log"
cmake --build "$work/cmake-build" >>"$work/cmake.log"
"$work/cmake-build/with_find_package"
echo "consumer test ($mode) passed"
