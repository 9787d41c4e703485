#!/bin/bash
# Does cutting a GEMM change its entries? See gemm_cuts.c.
#
#   tests/bench/ab/gemm_cuts.sh [-o DIR] [column alignment [row alignment]]
#
# Builds gemm_cuts.c into DIR/gemm_cuts (default build-ab/) against Debian's OpenMP OpenBLAS
# (libopenblas0-openmp) and runs it. Run from the repository's root.
set -euo pipefail
out=build-ab
while getopts "o:" opt; do
  case $opt in
    o) out=$OPTARG ;;
    *) sed -n '2,7p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
mkdir -p "$out"
omp_dir=${NNLA_OPENBLAS_OPENMP_DIR:-/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/openblas-openmp}
[ -e "$omp_dir/libopenblas.so.0" ] || { echo "gemm_cuts: no OpenMP OpenBLAS in $omp_dir" >&2; exit 1; }
"${CC:-cc}" -O2 -std=c11 -fopenmp -o "$out/gemm_cuts" tests/bench/ab/gemm_cuts.c \
  -L"$omp_dir" -Wl,-rpath,"$omp_dir" -lopenblas
"$out/gemm_cuts" "$@"
