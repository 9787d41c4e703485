#!/bin/bash
# A/B timing of two builds of the convolution: see conv_ab.c.
#
#   tests/bench/ab/conv_ab.sh [-a SRC_A | -A REV_A] [-b SRC_B | -B REV_B] [-o DIR] -- "<CFLAGS A>" "<CFLAGS B>" [reps [substring]]
#
# Builds src/conv.c (or SRC_A / SRC_B, e.g. a patched copy, or the src/conv.c of git revision
# REV_A / REV_B together with that revision's headers, e.g. -A main) twice with the given flags,
# for instance  -- "" "-DNNLA_CONV_TARGET_COLS_NOSPLIT=1024"  to weigh a tuning constant,
# links both with the rest of libnnla's sources into DIR/conv_ab (default build-ab/) and runs it.
# A revision's conv.c must link with today's other sources (the internal helpers it calls).
# Run from the repository's root; needs the -dev packages of the normal build.
set -euo pipefail
src_a=src/conv.c src_b=src/conv.c rev_a="" rev_b="" out=build-ab
usage() { sed -n '2,12p' "$0"; exit 2; }
while getopts "a:b:A:B:o:" opt; do
  case $opt in
    a) src_a=$OPTARG ;;
    b) src_b=$OPTARG ;;
    A) rev_a=$OPTARG ;;
    B) rev_b=$OPTARG ;;
    o) out=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || usage
flags_a=$1 flags_b=$2
shift 2
mkdir -p "$out/include/nnla"
cc=${CC:-cc}
# nnla.h includes the configuration header CMake generates; the harness builds the core only.
mkdir -p "$out/include/nnla"
printf '#define NNLA_HAVE_ONNX 0\n' > "$out/include/nnla/config.h"
common=(-O3 -DNDEBUG -std=c11 -D_POSIX_C_SOURCE=200809L -I"$out/include" -fopenmp)
rename() { # the public names of conv.c, renamed with suffix $1
  local s=$1
  echo "-Dnnla_conv2d_forward=conv_$s -Dnnla_conv2d_workspace_size=ws_$s -Dnnla_conv2d_workspace_min=wsmin_$s" \
       "-Dnnla_im2col=im2col_$s -Dnnla_col2im=col2im_$s -Dnnla_conv2d_output_size=outsize_$s" \
       "-Dnnla_conv2d_desc_make=descmake_$s" \
       "-Dnnla_conv2d_backward_data=bwdd_$s -Dnnla_conv2d_backward_weights=bwdw_$s" \
       "-Dnnla_conv2d_backward_data_workspace_size=bwddws_$s -Dnnla_conv2d_backward_data_workspace_min=bwddmin_$s" \
       "-Dnnla_conv2d_backward_weights_workspace_size=bwdwws_$s" \
       "-Dnnla_conv2d_backward_weights_workspace_min=bwdwmin_$s"
}
# side S: its source file and include directories (a revision: extracted with its headers)
build_side() {
  local s=$1 src=$2 rev=$3 flags=$4 inc
  if [ -n "$rev" ]; then
    local dir="$out/rev_$s"
    rm -rf "$dir" && mkdir -p "$dir/src"
    git archive "$rev" include | tar -x -C "$dir"
    git show "$rev:src/internal.h" > "$dir/src/internal.h"
    git show "$rev:src/conv.c" > "$dir/src/conv.c"
    src="$dir/src/conv.c"
    inc=(-I"$dir/include" -I"$dir/src")
  else
    inc=(-Iinclude -Isrc)
  fi
  local h="${inc[0]#-I}/nnla/conv.h" pads4=0 bwd=0
  grep -q 'pad_top' "$h" && pads4=1
  grep -q 'nnla_conv2d_backward_data' "$h" && bwd=1
  # shellcheck disable=SC2046,SC2086
  "$cc" "${common[@]}" "${inc[@]}" $flags $(rename "$s") -c "$src" -o "$out/conv_$s.o"
  # shellcheck disable=SC2046
  "$cc" "${common[@]}" "${inc[@]}" $(rename "$s") -DAB_SIDE="$s" -DAB_PADS4=$pads4 -DAB_BWD=$bwd \
    -c tests/bench/ab/ab_side.c -o "$out/side_$s.o"
  echo "# $s: ${rev:+revision $rev: }$src $flags"
}
build_side A "$src_a" "$rev_a" "$flags_a"
build_side B "$src_b" "$rev_b" "$flags_b"
# OpenBLAS: Debian's OpenMP build when installed (as libnnla's own build prefers it: docs/guide.md,
# "Threads"), else the default one (then every pass runs its loops on one thread)
omp_dir=${NNLA_OPENBLAS_OPENMP_DIR:-/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/openblas-openmp}
if [ -e "$omp_dir/libopenblas.so.0" ]; then
  blas=(-L"$omp_dir" -Wl,-rpath,"$omp_dir" -lopenblas)
  echo "# OpenBLAS: $omp_dir"
else
  # shellcheck disable=SC2207
  blas=($(pkg-config --libs openblas 2>/dev/null || echo -lopenblas))
  echo "# OpenBLAS: the default one (no OpenMP build in $omp_dir)"
fi
# shellcheck disable=SC2046
"$cc" "${common[@]}" -Iinclude -Isrc -o "$out/conv_ab" tests/bench/ab/conv_ab.c tests/bench/bench_util.c $(ls src/*.c | grep -v '^src/onnx_') \
  "$out/conv_A.o" "$out/conv_B.o" "$out/side_A.o" "$out/side_B.o" \
  "${blas[@]}" $(pkg-config --cflags --libs lapacke 2>/dev/null || echo -llapacke) -lpthread -lm
"$out/conv_ab" "$@"
