#!/usr/bin/env bash
# usage: run.sh BUILD_DIR SECONDS
# Fuzz the .npy reader for SECONDS with libFuzzer, over a copy of the seed corpus (the committed
# corpus is never modified). Quiet unless something is found: then the fuzzer's report is shown,
# the reproducer is copied to BUILD_DIR/fuzz-artifacts/, and the script exits non-zero.
# Keep every reproducer as a regression file in tests/data/npy/crashers/ once fixed.
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
fuzzer="$build/tests/fuzz/fuzz_npy"
if [ ! -x "$fuzzer" ]; then
    echo "run.sh: $fuzzer not found: configure with CC=clang -DNNLA_BUILD_FUZZ=ON and build" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/nnla-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"
cp "$here"/corpus/npy/* "$work/corpus/"
# The regression files are good seeds too.
find "$here/../data/npy/crashers" -type f ! -name 'README*' -exec cp {} "$work/corpus/" \; 2>/dev/null || true

echo "fuzz_npy: ${seconds}s over $(ls "$work/corpus" | wc -l) seed files"
status=0
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
"$fuzzer" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -dict="$here/npy.dict" -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" >"$work/log" 2>&1 || status=$?

# Summary line: executions and coverage.
grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::peak_rss_mb' "$work/log" \
    | sed 's/^stat::/  /' || true
grep -E '^#[0-9]+[[:space:]]+DONE' "$work/log" | tail -n 1 | sed -E 's/^#[0-9]+[[:space:]]+DONE[[:space:]]+/  final: /' || true

found=$(ls "$work/artifacts" 2>/dev/null | wc -l)
if [ "$status" -ne 0 ] || [ "$found" -ne 0 ]; then
    echo "fuzz_npy: FAILED (exit $status, $found reproducer(s)); the fuzzer's report:" >&2
    # From the first report line (ASan/UBSan/LSan, a failed check, a timeout), 40 lines.
    awk '/ERROR|runtime error|check failed|deadly signal|timeout|out-of-memory/ {on = 1}
         on && n < 40 {print; n++}' "$work/log" >&2
    grep -E 'Test unit written|^Base64' "$work/log" >&2 || tail -n 20 "$work/log" >&2
    mkdir -p "$build/fuzz-artifacts"
    cp "$work"/artifacts/* "$build/fuzz-artifacts/" 2>/dev/null || true
    echo "reproducers copied to $build/fuzz-artifacts/ (rerun: $fuzzer FILE)" >&2
    exit 1
fi
echo "fuzz_npy: no crash, no leak"
