#!/usr/bin/env bash
# usage: run.sh BUILD_DIR SECONDS
# Fuzz each harness built in BUILD_DIR (fuzz_npy; fuzz_onnx when the ONNX module is built) with
# libFuzzer, SECONDS in all, split evenly between them, each over a copy of its seed corpus (the
# committed corpus is never modified) plus its regression files. Quiet unless something is found:
# then the fuzzer's report is shown, the reproducer is copied to BUILD_DIR/fuzz-artifacts/, and
# the script exits non-zero. Keep every reproducer as a regression file in
# tests/data/<harness>/crashers/ once fixed (the unit suites load every file there).
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)

# name, corpus, regression files, -max_len, dictionary
harnesses=("npy" "onnx")
declare -A max_len=([npy]=4096 [onnx]=65536)
declare -A dict=([npy]="$here/npy.dict" [onnx]="")
# ASan's default 256 MiB quarantine of freed blocks, with the loader's large short-lived buffers
# (models, weights, workspaces), holds the onnx harness near 1.5 GiB; 64 MiB keeps it near 200 MiB.
declare -A asan_extra=([npy]="" [onnx]=":quarantine_size_mb=64")

present=()
for h in "${harnesses[@]}"; do
    if [ -x "$build/tests/fuzz/fuzz_$h" ]; then present+=("$h"); fi
done
if [ ${#present[@]} -eq 0 ] || [ ! -x "$build/tests/fuzz/fuzz_npy" ]; then
    echo "run.sh: $build/tests/fuzz/fuzz_npy not found: configure with CC=clang -DNNLA_BUILD_FUZZ=ON and build" >&2
    exit 2
fi
share=$(( seconds / ${#present[@]} ))
[ "$share" -ge 1 ] || share=1

work=$(mktemp -d "${TMPDIR:-/tmp}/nnla-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0
for h in "${present[@]}"; do
    fuzzer="$build/tests/fuzz/fuzz_$h"
    mkdir -p "$work/$h/corpus" "$work/$h/artifacts"
    cp "$here"/corpus/"$h"/* "$work/$h/corpus/"
    # The regression files are good seeds too.
    find "$here/../data/$h/crashers" -type f ! -name 'README*' -exec cp {} "$work/$h/corpus/" \; 2>/dev/null || true
    echo "fuzz_$h: ${share}s over $(ls "$work/$h/corpus" | wc -l) seed files"
    status=0
    dict_opt=()
    if [ -n "${dict[$h]}" ]; then dict_opt=(-dict="${dict[$h]}"); fi
    OPENBLAS_NUM_THREADS=1 \
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0${asan_extra[$h]}}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    "$fuzzer" -max_total_time="$share" -max_len="${max_len[$h]}" -timeout=10 -rss_limit_mb=2048 \
        "${dict_opt[@]}" -print_final_stats=1 -artifact_prefix="$work/$h/artifacts/" \
        "$work/$h/corpus" >"$work/$h/log" 2>&1 || status=$?

    # Summary line: executions and coverage.
    grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::peak_rss_mb' "$work/$h/log" \
        | sed 's/^stat::/  /' || true
    grep -E '^#[0-9]+[[:space:]]+DONE' "$work/$h/log" | tail -n 1 | sed -E 's/^#[0-9]+[[:space:]]+DONE[[:space:]]+/  final: /' || true

    found=$(ls "$work/$h/artifacts" 2>/dev/null | wc -l)
    if [ "$status" -ne 0 ] || [ "$found" -ne 0 ]; then
        echo "fuzz_$h: FAILED (exit $status, $found reproducer(s)); the fuzzer's report:" >&2
        # From the first report line (ASan/UBSan/LSan, a failed check, a timeout), 40 lines.
        awk '/ERROR|runtime error|check failed|deadly signal|timeout|out-of-memory/ {on = 1}
             on && n < 40 {print; n++}' "$work/$h/log" >&2
        grep -E 'Test unit written|^Base64' "$work/$h/log" >&2 || tail -n 20 "$work/$h/log" >&2
        mkdir -p "$build/fuzz-artifacts"
        cp "$work/$h"/artifacts/* "$build/fuzz-artifacts/" 2>/dev/null || true
        echo "reproducers copied to $build/fuzz-artifacts/ (rerun: $fuzzer FILE)" >&2
        failed=1
        continue
    fi
    echo "fuzz_$h: no crash, no leak"
done
exit $failed
