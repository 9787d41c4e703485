/*
 * libnnla's one threading model (docs/guide.md, "Threads").
 *
 * A call that does real work (a convolution, a network's pass, a training step) asks for a team:
 * the number of OpenMP threads it may use, at most omp_get_max_threads() of the calling thread (the
 * one knob: OMP_NUM_THREADS, or nnla_blas_set_num_threads()). The work is split over the batch (or
 * over rows when the batch is one), each thread running im2col, a one-thread GEMM and the epilogue
 * of its own part; with Debian's OpenMP build of OpenBLAS a GEMM called inside a parallel region
 * runs on one thread by itself (omp_in_parallel()).
 *
 * Callers share the machine: every thread of the user's that is inside libnnla (in a team, or in
 * OpenBLAS through the gate) counts as a caller, and a call gets max(1, threads / callers) threads;
 * its GEMMs outside parallel regions are limited to as many (omp_set_num_threads on the calling
 * thread, restored afterwards). So eight user threads calling at once on two cores run with one
 * thread each instead of sixteen.
 *
 * With another OpenBLAS underneath (the pthread build, which a program may have loaded before
 * libnnla) GEMMs from several threads at once would contend for its lock and its threads: a team is
 * then always one thread, and each GEMM runs on OpenBLAS's threads as before. A caller inside its
 * own OpenMP parallel region also gets a team of one (no nested parallelism).
 */
#include <omp.h>
#include <stdatomic.h>

#include "internal.h"

/* The same TLS model as the gate's (src/blas.c): static TLS also for a dlopen'ed libnnla. */
#if defined(__GNUC__) && !defined(NNLA_STATIC)
#define NNLA__TLS_MODEL_T __attribute__((tls_model("initial-exec")))
#else
#define NNLA__TLS_MODEL_T
#endif

static atomic_int callers;     /* user threads inside libnnla's teams or OpenBLAS */
static atomic_int blas_kind = -1; /* openblas_get_parallel() of the loaded OpenBLAS, read once */

typedef struct share_tls {
    int depth;   /* nesting of share_begin on this thread */
    int counted; /* whether the outermost begin counted this thread among the callers */
    int share;   /* threads this thread's call may use */
    int saved;   /* omp_get_max_threads() to restore, or 0 */
} share_tls;
static _Thread_local share_tls tls NNLA__TLS_MODEL_T;

int nnla__omp_blas(void)
{
    int k = atomic_load_explicit(&blas_kind, memory_order_relaxed);
    if (k < 0) {
        k = openblas_get_parallel();
        atomic_store_explicit(&blas_kind, k, memory_order_relaxed);
    }
    return k == 2;
}

int nnla__share_begin(void)
{
    if (tls.depth++ > 0) return tls.share; /* nested inside a call of libnnla: its decision holds */
    tls.counted = 0;
    tls.saved = 0;
    if (omp_in_parallel()) { /* inside an OpenMP region (ours or the user's): one thread */
        tls.share = 1;
        return 1;
    }
    int c = atomic_fetch_add_explicit(&callers, 1, memory_order_relaxed) + 1;
    tls.counted = 1;
    int t = omp_get_max_threads(), n = t / c;
    if (n < 1) n = 1;
    if (nnla__omp_blas() && n < t) { /* GEMMs outside our regions: no more threads than the share */
        tls.saved = t;
        omp_set_num_threads(n);
    }
    tls.share = nnla__omp_blas() ? n : 1;
    return tls.share;
}

void nnla__share_end(void)
{
    if (--tls.depth > 0) return;
    if (tls.saved) omp_set_num_threads(tls.saved);
    if (tls.counted) atomic_fetch_sub_explicit(&callers, 1, memory_order_relaxed);
    tls.saved = tls.counted = 0;
}

#ifndef NNLA_BLAS_GATE_ONLY /* nnla-bench's copy of the gate takes the internal part only */
int nnla_blas_parallel(void)
{
    (void)nnla__omp_blas();
    return atomic_load_explicit(&blas_kind, memory_order_relaxed);
}

int nnla_num_threads(void)
{
    if (omp_in_parallel()) return 1;
    return nnla__omp_blas() ? omp_get_max_threads() : 1;
}
#endif
