#!/bin/bash
# A/B timing of two builds of the convolution: see conv_ab.c.
#
#   tests/bench/ab/conv_ab.sh [-a SRC_A] [-b SRC_B] [-o DIR] -- "<CFLAGS A>" "<CFLAGS B>" [reps [substring]]
#
# Builds src/conv.c (or SRC_A / SRC_B, e.g. a patched copy) twice with the given flags,
# for instance  -- "" "-DNNLA_CONV_TARGET_COLS_NOSPLIT=1024"  to weigh a tuning constant,
# links both with the rest of libnnla's sources into DIR/conv_ab (default build-ab/) and runs it.
# Run from the repository's root; needs the -dev packages of the normal build.
set -euo pipefail
src_a=src/conv.c src_b=src/conv.c out=build-ab
while getopts "a:b:o:" opt; do
  case $opt in
    a) src_a=$OPTARG ;;
    b) src_b=$OPTARG ;;
    o) out=$OPTARG ;;
    *) sed -n '2,9p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || { sed -n '2,9p' "$0"; exit 2; }
flags_a=$1 flags_b=$2
shift 2
mkdir -p "$out/include/nnla"
cc=${CC:-cc}
# nnla.h includes the configuration header CMake generates; the harness builds the core only.
printf '#define NNLA_HAVE_ONNX 0\n' > "$out/include/nnla/config.h"
common=(-O3 -DNDEBUG -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -I"$out/include" -Isrc)
rename() { # the public names of conv.c, renamed with suffix $1
  local s=$1
  echo "-Dnnla_conv2d_forward=conv_$s -Dnnla_conv2d_workspace_size=ws_$s -Dnnla_conv2d_workspace_min=wsmin_$s" \
       "-Dnnla_im2col=im2col_$s -Dnnla_col2im=col2im_$s -Dnnla_conv2d_output_size=outsize_$s" \
       "-Dnnla_conv2d_desc_make=descmake_$s"
}
# shellcheck disable=SC2046,SC2086
"$cc" "${common[@]}" $flags_a $(rename A) -c "$src_a" -o "$out/conv_A.o"
# shellcheck disable=SC2046,SC2086
"$cc" "${common[@]}" $flags_b $(rename B) -c "$src_b" -o "$out/conv_B.o"
"$cc" "${common[@]}" -o "$out/conv_ab" tests/bench/ab/conv_ab.c tests/bench/bench_util.c $(ls src/*.c | grep -v '^src/onnx_') \
  "$out/conv_A.o" "$out/conv_B.o" $(pkg-config --cflags --libs openblas lapacke 2>/dev/null || echo -lopenblas -llapacke) -lpthread -lm
echo "# A: $src_a $flags_a"
echo "# B: $src_b $flags_b"
"$out/conv_ab" "$@"
