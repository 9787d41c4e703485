/**
 * @file nnla/blas.h
 * @brief Matrix products over OpenBLAS, and the view of the BLAS underneath.
 *
 * nnla_gemm() and nnla_gemv() check their arguments (so OpenBLAS's xerbla, which
 * prints, is never reached) and then make one CBLAS call: their cost is that of
 * the BLAS. Inputs are not scanned for NaN/Inf: they propagate as IEEE arithmetic
 * says, as in any BLAS.
 *
 * Threads: one model for the whole library (docs/guide.md, "Threads"). libnnla
 * prefers Debian's OpenMP build of OpenBLAS and uses OpenMP threads of its own: a
 * convolution or a network's pass splits its batch over the threads, each running
 * a one-thread GEMM. The one knob is the OpenMP thread count (OMP_NUM_THREADS, or
 * nnla_blas_set_num_threads(), which sets it for the calling thread and OpenBLAS);
 * threads calling libnnla at once share it, and libnnla never raises it. With
 * the pthread build loaded instead, libnnla's own loops run on the calling thread
 * and each GEMM on OpenBLAS's threads (OPENBLAS_NUM_THREADS).
 *
 * Any number of threads may call libnnla at once. OpenBLAS 0.3.21 cannot take
 * more than about its MAX_THREADS callers at a time (past its table of buffers it
 * prints, then crashes), so libnnla lets at most nnla_blas_max_threads() threads
 * into OpenBLAS at once and makes the others wait their turn (docs/guide.md,
 * "Threads"). Nothing is printed and nothing fails; a thread only waits when that
 * many others are inside OpenBLAS. Calls to OpenBLAS made outside libnnla are not
 * counted.
 */
#ifndef NNLA_BLAS_H
#define NNLA_BLAS_H

#include "mat.h"

NNLA_EXTERN_C_BEGIN

/** Whether an operand is used as is or transposed. */
typedef enum nnla_trans {
    NNLA_NO_TRANS = 0, /**< op(A) = A */
    NNLA_TRANS = 1     /**< op(A) = A^T */
} nnla_trans;

/**
 * @brief C = alpha op(A) op(B) + beta C (one cblas_dgemm).
 *
 * Shapes: op(A) is m x k, op(B) is k x n, C is m x n. When beta == 0, C is not
 * read (NaN in C does not propagate), as in BLAS. C must not overlap A or B.
 *
 * @param ta, tb  ::NNLA_NO_TRANS or ::NNLA_TRANS.
 * @param alpha   scale of the product.
 * @param a, b    input views.
 * @param beta    scale of the old C.
 * @param c       output view, updated in place.
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD for a bad view;
 *         ::NNLA_EINVAL for a bad transpose flag; ::NNLA_ESHAPE when the shapes do
 *         not chain; ::NNLA_EALIAS when C overlaps A or B; ::NNLA_EOVERFLOW when a
 *         dimension or ld exceeds INT_MAX.
 */
NNLA_API nnla_status nnla_gemm(nnla_trans ta, nnla_trans tb, double alpha, nnla_cmat a, nnla_cmat b,
                               double beta, nnla_mat c);

/**
 * @brief y = alpha op(A) x + beta y (one cblas_dgemv).
 *
 * @param ta    ::NNLA_NO_TRANS (x has A.cols entries, y has A.rows) or ::NNLA_TRANS.
 * @param alpha scale of the product.
 * @param a     input view.
 * @param x     input vector, contiguous.
 * @param nx    length of x.
 * @param beta  scale of the old y; when 0, y is not read.
 * @param y     output vector, contiguous; must not overlap A or x.
 * @param ny    length of y.
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD for a bad view or vector;
 *         ::NNLA_EINVAL for a bad flag; ::NNLA_ESHAPE for mismatched lengths;
 *         ::NNLA_EALIAS when y overlaps A or x; ::NNLA_EOVERFLOW beyond INT_MAX.
 */
NNLA_API nnla_status nnla_gemv(nnla_trans ta, double alpha, nnla_cmat a, const double *x, size_t nx,
                               double beta, double *y, size_t ny);

/**
 * @brief OpenBLAS's build configuration string (openblas_get_config()), e.g.
 *        "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64".
 *
 * Read once, on the first call from libnnla, and kept (OpenBLAS rebuilds its own
 * copy in one static buffer on every call, which is not safe from several threads).
 * @return a static string; never NULL. Thread-safe.
 */
NNLA_API const char *nnla_blas_config(void);

/**
 * @brief The name of the CPU kernel set OpenBLAS chose at load time
 *        (openblas_get_corename(); follows OPENBLAS_CORETYPE when set).
 * @return a static string owned by OpenBLAS; never NULL.
 */
NNLA_API const char *nnla_blas_corename(void);

/**
 * @brief Which OpenBLAS is loaded: openblas_get_parallel(), 0 for a single-threaded build, 1 for
 *        the pthread build, 2 for the OpenMP build (the one libnnla prefers: see docs/guide.md,
 *        "Threads"). Which one a process runs is decided when it loads, not when libnnla is built.
 */
NNLA_API int nnla_blas_parallel(void);

/**
 * @brief The number of threads one call of libnnla from this thread may use now: with OpenBLAS's
 *        OpenMP build, omp_get_max_threads() of the calling thread (OMP_NUM_THREADS, or
 *        nnla_blas_set_num_threads()); 1 inside an OpenMP parallel region or with another
 *        OpenBLAS (libnnla's own loops then run on the calling thread, GEMMs on OpenBLAS's threads).
 *        Several threads calling at once share them: each call gets this number divided by the
 *        number of callers.
 */
NNLA_API int nnla_num_threads(void);

/** @brief The number of threads OpenBLAS uses for one call (process-wide). */
NNLA_API int nnla_blas_num_threads(void);

/**
 * @brief The largest thread count the loaded OpenBLAS supports: the MAX_THREADS
 *        it was built with (64 for Debian 12's), or 1 for a single-threaded build.
 *
 * It is also the number of threads libnnla lets into OpenBLAS at once (see the
 * top of this file; 50 for a single-threaded build).
 * @return a count >= 1. Thread-safe.
 */
NNLA_API int nnla_blas_max_threads(void);

/**
 * @brief Set OpenBLAS's thread count. This is a process-wide setting: it affects
 *        every BLAS call in the process, from libnnla or not. libnnla itself never
 *        calls this.
 *
 * A count above nnla_blas_max_threads() is refused (OpenBLAS itself would clamp it
 * without a word), so on ::NNLA_OK the count is exactly n.
 * @param n number of threads, 1 to nnla_blas_max_threads().
 * @return ::NNLA_OK; ::NNLA_EINVAL when n < 1 or n > nnla_blas_max_threads() (the
 *         count is then unchanged).
 */
NNLA_API nnla_status nnla_blas_set_num_threads(int n);

NNLA_EXTERN_C_END

#endif /* NNLA_BLAS_H */
