/* Private helpers shared by libnnla's modules. Not installed. */
#ifndef NNLA_INTERNAL_H
#define NNLA_INTERNAL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cblas.h>

#include "nnla.h"

/* Return the status of an expression when it is not NNLA_OK. */
#define NNLA__TRY(expr)                                                                            \
    do {                                                                                           \
        nnla_status nnla__st_ = (expr);                                                            \
        if (nnla__st_ != NNLA_OK) return nnla__st_;                                                \
    } while (0)

/* *r = a * b; returns 0 on overflow of size_t. */
static inline int nnla__mul(size_t a, size_t b, size_t *r)
{
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *r = a * b;
    return 1;
}

/* *r = a + b; returns 0 on overflow of size_t. */
static inline int nnla__add(size_t a, size_t b, size_t *r)
{
    if (b > SIZE_MAX - a) return 0;
    *r = a + b;
    return 1;
}

/* Whether a size fits BLAS/LAPACK's 32-bit int. */
static inline int nnla__fits_int(size_t n) { return n <= (size_t)INT_MAX; }

/* Check a view (as nnla_mat_check) and that rows, cols and ld fit BLAS's int. */
nnla_status nnla__check_blas_view(nnla_cmat m);

/*
 * The gate around OpenBLAS (src/blas.c): at most nnla__blas_gate_limit() threads are inside
 * OpenBLAS at once, since Debian's OpenBLAS 0.3.21 prints and then crashes when more threads
 * than its buffer table holds call it together. Bracket every BLAS or LAPACK call, or a run of
 * them, on the calling thread:
 *
 *     nnla__blas_enter();
 *     cblas_dgemm(...);            (or LAPACKE_*_work, cblas_dgemv, several calls in a row)
 *     nnla__blas_leave();
 *
 * Every enter is matched by exactly one leave on the same thread, on every path (no return in
 * between). Brackets may nest (a thread already inside passes straight through), so a bracketed
 * run may call nnla_gemm and friends. Below the limit the cost is one atomic increment and one
 * decrement; over it a thread waits on a condition variable until another leaves.
 */
void nnla__blas_enter(void);
void nnla__blas_leave(void);

/*
 * Gated CBLAS calls: the same arguments as cblas_*, each bracketed by the gate. Modules call these
 * instead of cblas_* directly (LAPACK calls are bracketed by NNLA__GATED), so that every entry
 * into OpenBLAS passes the gate.
 */
#define NNLA__GATED(stmt)                                                                          \
    do {                                                                                           \
        nnla__blas_enter();                                                                        \
        stmt;                                                                                      \
        nnla__blas_leave();                                                                        \
    } while (0)
static inline void nnla__dgemm(CBLAS_ORDER o, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k,
                               double alpha, const double *a, int lda, const double *b, int ldb, double beta,
                               double *c, int ldc)
{
    NNLA__GATED(cblas_dgemm(o, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));
}
static inline void nnla__dgemv(CBLAS_ORDER o, CBLAS_TRANSPOSE t, int m, int n, double alpha, const double *a,
                               int lda, const double *x, int incx, double beta, double *y, int incy)
{
    NNLA__GATED(cblas_dgemv(o, t, m, n, alpha, a, lda, x, incx, beta, y, incy));
}
static inline double nnla__ddot(int n, const double *x, int incx, const double *y, int incy)
{
    double r;
    NNLA__GATED(r = cblas_ddot(n, x, incx, y, incy));
    return r;
}
static inline double nnla__dnrm2(int n, const double *x, int incx)
{
    double r;
    NNLA__GATED(r = cblas_dnrm2(n, x, incx));
    return r;
}

/*
 * Threads (src/threads.c, the model in docs/guide.md). nnla__share_begin(): the number of threads
 * the calling thread's work may use now (>= 1), counting the thread among the callers until the
 * matching nnla__share_end(); nested pairs return the outer share. Every call that runs its own
 * OpenMP parallel region brackets it with these (`#pragma omp parallel num_threads(share) if(share >
 * 1)`), and the gate brackets every BLAS call, so a GEMM outside a region gets no more threads than
 * the share. nnla__omp_blas(): whether the loaded OpenBLAS is the OpenMP build.
 */
int nnla__share_begin(void);
void nnla__share_end(void);
int nnla__omp_blas(void);

/* Part i of n items split evenly into t contiguous parts: [*lo, *hi). */
static inline void nnla__part(size_t n, int t, int i, size_t *lo, size_t *hi)
{
    size_t q = n / (size_t)t, r = n % (size_t)t, ui = (size_t)i;
    *lo = ui * q + (ui < r ? ui : r);
    *hi = *lo + q + (ui < r ? 1 : 0);
}

/*
 * How many threads a loop of `items` independent items costing `flops` in all should use, given
 * the caller's share: none below NNLA__PAR_MIN_FLOPS per thread (a parallel region costs a few
 * microseconds), never more threads than items.
 */
#ifndef NNLA__PAR_MIN_FLOPS
#define NNLA__PAR_MIN_FLOPS 2.0e5
#endif
static inline int nnla__threads_for(int share, size_t items, double flops)
{
    int t = share;
    if ((size_t)t > items) t = (int)items;
    while (t > 1 && flops / t < NNLA__PAR_MIN_FLOPS) t--;
    return t < 1 ? 1 : t;
}

/* The gate's limit: MAX_THREADS of the loaded OpenBLAS (50 for a single-threaded build). */
int nnla__blas_gate_limit(void);

/* Whether every entry of the view is finite (no NaN, no Inf). */
int nnla__all_finite(nnla_cmat m);

/* Whether every entry of a contiguous array is finite. */
int nnla__all_finite_vec(const double *x, size_t n);

/*
 * dst[0..n) = src[0..n), the ranges not overlapping: the copy of every hot path. memcpy, except
 * in the one case where glibc 2.36's memcpy (Debian 12) is a trap on AMD Zen 3: from 2 KiB on it
 * copies with `rep movsb`, which runs at 1.7 GB/s instead of 50 when dst lies 8-24 bytes past
 * src modulo 4096, and at 14-32 GB/s a little further, up to about 72 bytes past, depending on
 * alignment (`nnla-bench copy`, docs/performance.md).
 * That is not rare: two buffers of a multiple of 4 KiB malloc'ed one after the other lie 16
 * bytes past a multiple of 4096 apart. There a plain loop (about 22 GB/s) is used; the compiler
 * vectorizes it and does not turn it back into memcpy, since the pointers are not restrict.
 * Runs of at most NNLA__COPY_INLINE_MAX doubles (the rows of small images' column matrices) are
 * copied in line: the call to memcpy costs more than they do (a bounded loop stays a loop).
 */
#define NNLA__COPY_LOOP_MIN 256 /* doubles (2 KiB): below this glibc does not use rep movsb */
#define NNLA__COPY_INLINE_MAX 8
static inline void nnla__copy(double *dst, const double *src, size_t n)
{
    if (n <= NNLA__COPY_INLINE_MAX) {
        for (size_t i = 0; i < n; i++) dst[i] = src[i];
        return;
    }
    size_t gap = (size_t)((uintptr_t)dst - (uintptr_t)src) % 4096;
    if (n < NNLA__COPY_LOOP_MIN || gap == 0 || gap >= 128) {
        memcpy(dst, src, n * sizeof *dst);
        return;
    }
    for (size_t i = 0; i < n; i++) dst[i] = src[i];
}

/*
 * Activations for the other modules (act.c). nnla__act_bias_rows: dst[r][j] = f(src[r][j] + b)
 * over `rows` rows of n entries, b = bias[r] when per_row (a conv's output channels) or bias[j]
 * (a dense layer's outputs), no bias when NULL; src may be dst (same pointer and stride).
 * Row-wise kinds (softmax) only get the bias: the caller normalizes over the right axis.
 * nnla__act_forward_nchw / _backward_nchw: the unchecked bodies of the public NCHW passes.
 * The activation must have passed nnla_act_check().
 */
void nnla__act_bias_rows(nnla_act act, size_t rows, size_t n, const double *src, size_t lds, double *dst,
                         size_t ldd, const double *bias, int per_row);
void nnla__act_forward_nchw(nnla_act act, size_t batch, size_t channels, size_t plane, const double *x,
                            double *y);
void nnla__act_backward_nchw(nnla_act act, size_t batch, size_t channels, size_t plane, const double *x,
                             const double *y, const double *dy, double *dx);
/* nnla_pool2d_backward(), with the check that each argmax entry lies in its window only when `check`
 * (a network's backward pass reads the argmax its own forward pass wrote). */
nnla_status nnla__pool2d_backward(const nnla_pool2d_desc *d, size_t batch, size_t channels, size_t in_h, size_t in_w,
                                  const double *dy, const uint32_t *argmax, double *dx, int check);

/* Whether the byte ranges [a, a+an) and [b, b+bn) overlap. */
int nnla__overlap(const void *a, size_t an, const void *b, size_t bn);

/* The byte extent of a view: ((rows-1)*ld + cols) * sizeof(double) (checked by nnla_mat_check). */
size_t nnla__view_bytes(nnla_cmat m);

/*
 * Workspace carving: a bump allocator over the caller's buffer. Each piece is
 * aligned to NNLA__ALIGN bytes. *_size functions add NNLA__ALIGN slack per piece
 * so any caller alignment works.
 */
#define NNLA__ALIGN 64
typedef struct nnla__arena {
    unsigned char *p;
    size_t left;
} nnla__arena;

/* Bytes to reserve in a workspace size for one piece of n bytes (n + alignment slack). */
static inline int nnla__ws_piece(size_t n, size_t *total)
{
    size_t t;
    if (!nnla__add(n, NNLA__ALIGN, &t)) return 0;
    return nnla__add(*total, t, total);
}

/* Take n bytes aligned to NNLA__ALIGN; NULL when the arena is too small. */
void *nnla__arena_take(nnla__arena *a, size_t n);

/* ||a||_F without overflow (lowrank.c: scaled by a power of two per row, LAPACK dlassq's merge). */
double nnla__fro_norm(nnla_cmat a);

#endif /* NNLA_INTERNAL_H */
