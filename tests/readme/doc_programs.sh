#!/usr/bin/env bash
# usage: doc_programs.sh WORKDIR CC INCLUDE_DIRS LIB_DIR SANITIZE FILE.md...
# INCLUDE_DIRS: directories separated by ":" (the source tree's include/ and the build tree's).
# Every ```c block of the given Markdown files that is a whole program (has "int main") is
# compiled as written against the library in this build tree and run: the documentation's
# examples stay true to the code.
set -euo pipefail
work=$1 cc=$2 inc=$3 libdir=$4 san=$5
shift 5
mkdir -p "$work"
flags=""
for d in ${inc//:/ }; do flags="$flags -I$d"; done
case "$san" in ON|1|TRUE|true) flags="$flags -fsanitize=address,undefined -fno-sanitize-recover=all" ;; esac
# Blocks that use the optional ONNX module run only when this build has it (nnla/config.h).
have_onnx=0
for d in ${inc//:/ }; do
    if grep -qs '^#define NNLA_HAVE_ONNX 1' "$d/nnla/config.h"; then have_onnx=1; fi
done
count=0
for md in "$@"; do
    base=$(basename "$md" .md)
    # Split the file's ```c blocks into numbered files.
    awk -v dir="$work" -v base="$base" '
        /^```c$/ { on = 1; n++; f = sprintf("%s/%s_%d.c", dir, base, n); printf "" > f; next }
        /^```$/  { if (on) { close(f); on = 0 } next }
        on       { print >> f }
    ' "$md"
    for src in "$work/${base}"_*.c; do
        [ -e "$src" ] || continue
        grep -q 'int main' "$src" || continue
        if [ "$have_onnx" = 0 ] && grep -q 'nnla_onnx_' "$src"; then
            echo "skipped (no ONNX module): $(basename "$md") block $(basename "$src")"
            continue
        fi
        exe=${src%.c}
        "$cc" -std=c11 -Wall -Wextra -Werror $flags -o "$exe" "$src" -L"$libdir" \
            -Wl,-rpath,"$libdir" -lnnla -lm
        "$exe" > "$exe.out"
        echo "ok: $(basename "$md") block $(basename "$src")"
        count=$((count + 1))
    done
done
[ "$count" -gt 0 ]
echo "$count documentation program(s) compiled and ran"
