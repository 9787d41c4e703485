#!/bin/bash
# nnla against SciPy on the same matrices: runs `nnla-bench svd`, `nnla-bench eigh` and
# peer_scipy.py, then prints one line per case
#   COMPARE <case> nnla_s=<s> scipy_s=<s> speedup_vs_scipy=<x>
# where speedup = SciPy's median / nnla's (above 1: nnla is faster).
#
# usage: tests/bench/compare_scipy.sh [path/to/nnla-bench] [n ...]
#   The program defaults to $NNLA_BENCH, else build/tests/bench/nnla-bench under the source tree
#   (configure with -DNNLA_BUILD_BENCH=ON). NNLA_BENCH_REPS applies to both sides.
# The two sides run one after the other, not interleaved: on a shared machine, run it twice.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bench=${NNLA_BENCH:-$here/../../build/tests/bench/nnla-bench}
if [[ $# -gt 0 && ! $1 =~ ^[0-9]+$ ]]; then
    bench=$1
    shift
fi
if [[ ! -x $bench ]]; then
    echo "compare_scipy.sh: no nnla-bench at $bench (build with -DNNLA_BUILD_BENCH=ON or pass its path)" >&2
    exit 2
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bench" svd "$@" | tee -a "$out"
"$bench" eigh "$@" | grep '^BENCH' | tee -a "$out"
/usr/bin/python3 "$here/peer_scipy.py" all "$@" | tee -a "$out"
awk '
    /^BENCH (svd_thin|eigh_vectors)_n[0-9]+ / {
        for (i = 3; i <= NF; i++) if ($i ~ /^median_s=/) { split($i, kv, "="); nnla[$2] = kv[2] }
        order[++n] = $2
    }
    /^PEER scipy_/ {
        name = substr($2, 7)
        for (i = 3; i <= NF; i++) if ($i ~ /^median_s=/) { split($i, kv, "="); peer[name] = kv[2] }
    }
    END {
        for (k = 1; k <= n; k++) {
            c = order[k]
            if (c in peer && nnla[c] > 0)
                printf "COMPARE %s nnla_s=%s scipy_s=%s speedup_vs_scipy=%.3f\n", c, nnla[c], peer[c], peer[c] / nnla[c]
        }
    }' "$out"
