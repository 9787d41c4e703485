#!/bin/bash
# Where threads start to pay: see par_sweep.c.
#
#   tests/bench/ab/par_sweep.sh [-o DIR] [reps]
#
# Builds libnnla's sources with the thresholds NNLA_CONV_PAR_MIN_FLOPS and NNLA_POOL_PAR_MIN set to
# 0 into DIR/par_sweep (default build-ab/), linked against Debian's OpenMP OpenBLAS
# (libopenblas0-openmp), and runs it. Run from the repository's root.
set -euo pipefail
out=build-ab
while getopts "o:" opt; do
  case $opt in
    o) out=$OPTARG ;;
    *) sed -n '2,9p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
mkdir -p "$out"
cc=${CC:-cc}
omp_dir=${NNLA_OPENBLAS_OPENMP_DIR:-/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/openblas-openmp}
[ -e "$omp_dir/libopenblas.so.0" ] || { echo "par_sweep: no OpenMP OpenBLAS in $omp_dir" >&2; exit 1; }
"$cc" -O3 -DNDEBUG -std=c11 -D_POSIX_C_SOURCE=200809L -fopenmp -DNNLA_CONV_PAR_MIN_FLOPS=0 -DNNLA_POOL_PAR_MIN=0 \
  -Iinclude -Isrc -o "$out/par_sweep" tests/bench/ab/par_sweep.c tests/bench/bench_util.c src/*.c \
  -L"$omp_dir" -Wl,-rpath,"$omp_dir" -lopenblas \
  $(pkg-config --libs lapacke 2>/dev/null || echo -llapacke) -lpthread -lm
"$out/par_sweep" "$@"
