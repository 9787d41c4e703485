#!/usr/bin/env bash
# usage: doc_programs.sh WORKDIR CC INCLUDE_DIR LIB_DIR SANITIZE FILE.md...
# Every ```c block of the given Markdown files that is a whole program (has "int main") is
# compiled as written against the library in this build tree and run: the documentation's
# examples stay true to the code.
set -euo pipefail
work=$1 cc=$2 inc=$3 libdir=$4 san=$5
shift 5
mkdir -p "$work"
flags=""
case "$san" in ON|1|TRUE|true) flags="-fsanitize=address,undefined -fno-sanitize-recover=all" ;; esac
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
        exe=${src%.c}
        "$cc" -std=c11 -Wall -Wextra -Werror $flags -I"$inc" -o "$exe" "$src" -L"$libdir" \
            -Wl,-rpath,"$libdir" -lnnla -lm
        "$exe" > "$exe.out"
        echo "ok: $(basename "$md") block $(basename "$src")"
        count=$((count + 1))
    done
done
[ "$count" -gt 0 ]
echo "$count documentation program(s) compiled and ran"
