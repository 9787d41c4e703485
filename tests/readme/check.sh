#!/usr/bin/env bash
# usage: check.sh README WORKDIR CC INCLUDE_DIRS LIB_DIR SANITIZE
# INCLUDE_DIRS: directories separated by ":" (the source tree's include/ and the build tree's,
# which holds the generated nnla/config.h).
set -euo pipefail
readme=$1 work=$2 cc=$3 inc=$4 libdir=$5 san=${6:-OFF}
mkdir -p "$work"
awk '/^```c$/{on=1; next} /^```$/{if(on){exit}} on{print}' "$readme" > "$work/readme_example.c"
test -s "$work/readme_example.c"
flags=""
for d in ${inc//:/ }; do flags="$flags -I$d"; done
case "$san" in ON|1|TRUE|true) flags="$flags -fsanitize=address,undefined -fno-sanitize-recover=all" ;; esac
"$cc" -std=c11 -Wall -Wextra -Werror $flags -o "$work/readme_example" "$work/readme_example.c" \
    -L"$libdir" -Wl,-rpath,"$libdir" -lnnla -lm
out=$("$work/readme_example")
echo "$out"
echo "$out" | grep -q '^y = \[\[0 0\] \[0 5\]\]$'
echo "$out" | grep -q '^singular values of W: '
