/*
 * A second copy of libnnla's BLAS gate (src/blas.c compiled with NNLA_BLAS_GATE_ONLY: the gate
 * and nothing else), so that `nnla-bench gate` can time the very same code around a raw
 * cblas_dgemm, with and without it, in one run. The library's own gate is hidden (not exported);
 * this copy has its own state, which no libnnla call touches. (With src/threads.c, which the gate
 * calls to share the threads among callers.)
 */
#define NNLA_BLAS_GATE_ONLY
#include "../../src/blas.c"
/* the gate counts its callers for the threading model: the same code, its own copy too */
#include "../../src/threads.c"
