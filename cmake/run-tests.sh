#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. a Release build and every ctest suite (unit tests, examples, CLI, install/consumer test),
#      and the Doxygen reference, which must build without a warning;
#   2. the same suites built with AddressSanitizer + UndefinedBehaviorSanitizer (any report fails);
#   3. a short libFuzzer run of the .npy reader and (with the ONNX module) the ONNX loader, with
#      clang: NNLA_FUZZ_SECONDS in all (default 60), split evenly between the harnesses.
# Installs what a fresh Debian 12 machine lacks first (as root; otherwise prints the apt line).
set -euo pipefail
cd "$(dirname "$0")/.."
. cmake/deps.sh
nnla_install_deps $NNLA_DEPS_BUILD $NNLA_DEPS_TEST
nnla_prepare_locale
jobs=$(nproc)

echo "== [1/3] Release build + ctest"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNNLA_BUILD_BENCH=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"
# The API reference: every public declaration documented, no Doxygen warning.
# (No `| grep -q` under pipefail: grep's early exit would fail the pipeline with SIGPIPE.)
targets=$(cmake --build build --target help)
if grep -qx '\.\.\. docs' <<<"$targets"; then
    cmake --build build --target docs > build/doxygen.log 2>&1
    if grep -i 'warning' build/doxygen.log; then
        echo "Doxygen warnings (see build/doxygen.log)" >&2
        exit 1
    fi
    echo "API reference built without warnings: build/docs/html/index.html"
fi

echo "== [2/3] ASan + UBSan build + ctest"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNNLA_SANITIZE=ON -DNNLA_BUILD_BENCH=ON
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== [3/3] fuzzing"
if [ -f tests/fuzz/CMakeLists.txt ]; then
    CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DNNLA_BUILD_FUZZ=ON \
        -DNNLA_BUILD_TESTS=OFF -DNNLA_BUILD_EXAMPLES=OFF -DNNLA_BUILD_CLI=OFF
    cmake --build build-fuzz -j"$jobs"
    bash tests/fuzz/run.sh build-fuzz "${NNLA_FUZZ_SECONDS:-60}"
else
    echo "(no fuzz harness yet)"
fi
echo "== all test stages passed"
