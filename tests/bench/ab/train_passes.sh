#!/bin/bash
# Each pass of the benchmark CNN's training step timed alone. See train_passes.c.
#
#   tests/bench/ab/train_passes.sh [-o DIR] [-b BUILD]
#
# Builds train_passes.c into DIR/train_passes (default build-ab/) against BUILD's libnnla (default
# build/) and runs it with the threads OMP_NUM_THREADS says. Run from the repository's root.
set -euo pipefail
out=build-ab
build=build
while getopts "o:b:" opt; do
  case $opt in
    o) out=$OPTARG ;;
    b) build=$OPTARG ;;
    *) sed -n '2,7p' "$0"; exit 2 ;;
  esac
done
mkdir -p "$out"
"${CC:-cc}" -O2 -std=c11 -o "$out/train_passes" tests/bench/ab/train_passes.c -Iinclude -I"$build/include" \
  -L"$build" -Wl,-rpath,"$PWD/$build" -lnnla
"$out/train_passes"
