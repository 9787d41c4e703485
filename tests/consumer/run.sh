#!/usr/bin/env bash
# usage: run.sh BUILD_DIR WORK_DIR -- installs BUILD_DIR into WORK_DIR/prefix and builds
# consumer.c twice against it: with pkg-config, and with CMake's find_package(nnla CONFIG).
set -euo pipefail
build=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"

libdir=$(dirname "$(find "$prefix" -name nnla.pc | head -n 1)")/..
libdir=$(cd "$libdir" && pwd)
test -f "$prefix/include/nnla.h"
test -L "$libdir/libnnla.so"
readelf -d "$libdir/libnnla.so" | grep -q 'SONAME.*libnnla\.so\.0'
# Only nnla_* symbols are exported.
bad=$(nm -D --defined-only "$libdir/libnnla.so" | awk '{print $3}' | grep -v '^nnla_' || true)
if [ -n "$bad" ]; then echo "exported symbols outside nnla_*: $bad" >&2; exit 1; fi

echo "== pkg-config consumer"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists nnla
test "$(pkg-config --modversion nnla)" = "$(grep -E '^#define NNLA_VERSION_(MAJOR|MINOR|PATCH) [0-9]' "$prefix/include/nnla/version.h" | awk '{print $3}' | paste -sd.)"
${CC:-cc} -std=c11 -Wall -Werror -o "$work/with_pkgconfig" "$here/consumer.c" $(pkg-config --cflags --libs nnla) \
    -Wl,-rpath,"$libdir"
"$work/with_pkgconfig"

echo "== find_package consumer"
cmake -S "$here" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >"$work/cmake.log"
cmake --build "$work/cmake-build" >>"$work/cmake.log"
"$work/cmake-build/with_find_package"
echo "consumer test passed"
