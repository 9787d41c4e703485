/*
 * SVD, symmetric eigendecomposition and the spectral decomposition, over LAPACK.
 *
 * Row-major without copies: a row-major m x n matrix with row stride ld is, byte for byte, the
 * column-major n x m matrix A^T with leading dimension ld. LAPACK's SVD of A^T is
 * A^T = V S U^T, so its "U" (column-major n x k) is our V^T (row-major k x n) and its "VT"
 * (column-major k x m) is our U (row-major m x k), both with the caller's ld. We therefore call
 * the column-major LAPACKE_*_work routines (which neither allocate nor transpose) with
 * vt.data as LAPACK's U and u.data as LAPACK's VT. For a symmetric matrix the transposed view is
 * the same matrix: only the triangle flips (our lower triangle is LAPACK's upper).
 *
 * Every argument is checked here, before LAPACK is called, so OpenBLAS's xerbla (which prints)
 * is never reached, and a failed call leaves the outputs untouched. Every LAPACK and BLAS call is
 * bracketed by nnla__blas_enter()/nnla__blas_leave(), the gate that bounds how many threads are
 * inside OpenBLAS at once (src/blas.c).
 */
#include <math.h>
#include <stdlib.h>

#include <cblas.h>
#include <lapacke.h>

#include "internal.h"

/* ------------------------------------------------------------------ shared helpers */

/* Generous bound on LAPACK's block size (ILAENV gives 32 for the routines used here): the
 * workspace queries compute terms like max(m, n) * NB in 32-bit int, so those must not overflow. */
#define LINALG_NB_BOUND 64

/* *r = a * b + c, all checked; returns 0 on size_t overflow. */
static int mul_add(size_t a, size_t b, size_t c, size_t *r)
{
    return nnla__mul(a, b, r) && nnla__add(*r, c, r);
}

/* Whether the view's element extent, (rows-1)*ld + cols, fits LAPACK's int (view already checked). */
static int extent_fits_int(nnla_cmat m)
{
    size_t e = (m.rows - 1) * m.ld + m.cols; /* no overflow: nnla_mat_check passed */
    return nnla__fits_int(e);
}

/* Convert LAPACK's workspace answer (a double holding an integer) to an int count >= minimum. */
static int lwork_from_query(double q, lapack_int minimum, lapack_int *out)
{
    if (!(q >= 0.0) || q > (double)INT_MAX) return 0;
    lapack_int v = (lapack_int)q;
    *out = v < minimum ? minimum : v;
    return 1;
}

/* Pack a row-major view into contiguous rows (row stride = cols). */
static void pack_rows(nnla_cmat a, double *dst)
{
    for (size_t i = 0; i < a.rows; i++) nnla__copy(dst + i * a.cols, a.data + i * a.ld, a.cols);
}

/* A byte range for the pairwise overlap check. */
typedef struct range {
    const void *p;
    size_t n;
} range;

/* Whether any two of the ranges overlap (ranges with n == 0 never do). */
static int any_overlap(const range *r, size_t count)
{
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++)
            if (nnla__overlap(r[i].p, r[i].n, r[j].p, r[j].n)) return 1;
    return 0;
}

/* ------------------------------------------------------------------ SVD */

/* Everything nnla_svd needs to know before it touches memory. */
typedef struct svd_plan {
    lapack_int lm, ln; /* LAPACK's M and N: the column-major view is n x m */
    char jobz;         /* dgesdd's JOBZ */
    char jobuv;        /* dgesvd's JOBU and JOBVT */
    lapack_int lwork;  /* doubles, enough for dgesdd and dgesvd */
    lapack_int liwork; /* ints, for dgesdd */
    size_t copy_bytes; /* the copy of A */
    size_t bytes;      /* total workspace, with alignment slack */
} svd_plan;

static int svd_job_valid(nnla_svd_job job)
{
    return job == NNLA_SVD_VALUES || job == NNLA_SVD_THIN || job == NNLA_SVD_FULL;
}

/* Sizes and LAPACK workspace for an m x n SVD (m, n >= 1, job valid). */
static nnla_status svd_sizes(nnla_svd_job job, size_t m, size_t n, svd_plan *p)
{
    if (!nnla__fits_int(m) || !nnla__fits_int(n)) return NNLA_EOVERFLOW;
    size_t k = m < n ? m : n, mx = m < n ? n : m, elems, bound;
    /* the packed copy of A is one LAPACK array */
    if (!nnla__mul(m, n, &elems) || !nnla__fits_int(elems)) return NNLA_EOVERFLOW;
    /* full U (m x m) and V^T (n x n) are LAPACK arrays too */
    if (job == NNLA_SVD_FULL) {
        size_t uu, vv;
        if (!nnla__mul(m, m, &uu) || !nnla__mul(n, n, &vv) || !nnla__fits_int(uu) || !nnla__fits_int(vv))
            return NNLA_EOVERFLOW;
    }
    /*
     * Keep the int arithmetic inside LAPACK's workspace queries from overflowing: their terms are
     * at most about 4 k^2 + 7 k (vectors; divide and conquer on the bidiagonal) plus
     * (max(m, n) + k) * NB (blocked QR / bidiagonal reduction).
     */
    size_t sq = 0;
    if (job != NNLA_SVD_VALUES && !mul_add(k, 4 * k, 0, &sq)) return NNLA_EOVERFLOW;
    if (!mul_add(mx + k, LINALG_NB_BOUND, 0, &bound) || !mul_add(k, 8, bound, &bound) ||
        !nnla__add(bound, sq, &bound) || !nnla__fits_int(bound))
        return NNLA_EOVERFLOW;

    p->lm = (lapack_int)n;
    p->ln = (lapack_int)m;
    p->jobz = job == NNLA_SVD_VALUES ? 'N' : job == NNLA_SVD_THIN ? 'S' : 'A';
    p->jobuv = job == NNLA_SVD_VALUES ? 'N' : job == NNLA_SVD_THIN ? 'S' : 'A';
    /* leading dimensions that LAPACK accepts for this job (the real call uses the caller's ld,
     * which only needs to be at least as large; the workspace does not depend on it) */
    lapack_int lda = p->lm;
    lapack_int ldu = job == NNLA_SVD_VALUES ? 1 : p->lm;
    lapack_int ldvt = job == NNLA_SVD_VALUES ? 1 : job == NNLA_SVD_THIN ? (lapack_int)k : p->ln;

    double q = 0.0, dummy[1] = {0.0};
    lapack_int idummy[1] = {0}, lw_sdd, lw_svd;
    lapack_int info;
    nnla__blas_enter();
    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, p->jobz, p->lm, p->ln, dummy, lda, dummy, dummy, ldu, dummy,
                               ldvt, &q, -1, idummy);
    nnla__blas_leave();
    if (info != 0) return NNLA_ELAPACK;
    if (!lwork_from_query(q, 1, &lw_sdd)) return NNLA_EOVERFLOW;
    q = 0.0;
    nnla__blas_enter();
    info = LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, p->jobuv, p->jobuv, p->lm, p->ln, dummy, lda, dummy, dummy,
                               ldu, dummy, ldvt, &q, -1);
    nnla__blas_leave();
    if (info != 0) return NNLA_ELAPACK;
    if (!lwork_from_query(q, 1, &lw_svd)) return NNLA_EOVERFLOW;
    p->lwork = lw_sdd > lw_svd ? lw_sdd : lw_svd;
    p->liwork = (lapack_int)(8 * k); /* dgesdd: IWORK(8*min(M,N)); 8k <= bound fits int */

    size_t total = 0, wb, ib;
    p->copy_bytes = elems * sizeof(double);
    if (!nnla__mul((size_t)p->lwork, sizeof(double), &wb) ||
        !nnla__mul((size_t)p->liwork, sizeof(lapack_int), &ib) || !nnla__ws_piece(p->copy_bytes, &total) ||
        !nnla__ws_piece(wb, &total) || !nnla__ws_piece(ib, &total))
        return NNLA_EOVERFLOW;
    p->bytes = total;
    return NNLA_OK;
}

nnla_status nnla_svd_workspace_size(nnla_svd_job job, size_t m, size_t n, size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    if (!svd_job_valid(job)) return NNLA_EINVAL;
    if (m == 0 || n == 0) return NNLA_EDIM;
    svd_plan p;
    NNLA__TRY(svd_sizes(job, m, n, &p));
    *bytes = p.bytes;
    return NNLA_OK;
}

/* Every check of nnla_svd except the workspace's size: arguments, shapes, sizes, aliasing, NaN/Inf. */
static nnla_status svd_check(nnla_svd_job job, nnla_cmat a, const double *s, nnla_mat u, nnla_mat vt,
                             const void *work, size_t work_size, int have_work, svd_plan *p)
{
    NNLA__TRY(nnla__check_blas_view(a));
    if (s == NULL || (have_work && work == NULL)) return NNLA_ENULL;
    if (!svd_job_valid(job)) return NNLA_EINVAL;
    size_t m = a.rows, n = a.cols, k = m < n ? m : n;
    int vectors = job != NNLA_SVD_VALUES;
    if (vectors) {
        NNLA__TRY(nnla__check_blas_view(nnla_cmat_of(u)));
        NNLA__TRY(nnla__check_blas_view(nnla_cmat_of(vt)));
        size_t ucols = job == NNLA_SVD_THIN ? k : m, vtrows = job == NNLA_SVD_THIN ? k : n;
        if (u.rows != m || u.cols != ucols || vt.rows != vtrows || vt.cols != n) return NNLA_ESHAPE;
        if (!extent_fits_int(nnla_cmat_of(u)) || !extent_fits_int(nnla_cmat_of(vt))) return NNLA_EOVERFLOW;
    }
    NNLA__TRY(svd_sizes(job, m, n, p));
    range r[5] = {
        {a.data, nnla__view_bytes(a)},
        {s, k * sizeof(double)},
        {work, have_work ? work_size : 0},
        {vectors ? u.data : NULL, vectors ? nnla__view_bytes(nnla_cmat_of(u)) : 0},
        {vectors ? vt.data : NULL, vectors ? nnla__view_bytes(nnla_cmat_of(vt)) : 0},
    };
    if (any_overlap(r, 5)) return NNLA_EALIAS;
    if (have_work && work_size < p->bytes) return NNLA_EWORKSPACE;
    if (!nnla__all_finite(a)) return NNLA_ENONFINITE;
    return NNLA_OK;
}

/* The computation, once everything is checked; work holds at least p->bytes. */
static nnla_status svd_run(nnla_svd_job job, const svd_plan *p, nnla_cmat a, double *s, nnla_mat u,
                           nnla_mat vt, void *work, size_t work_size, nnla_svd_driver *driver)
{
    nnla__arena ar = {(unsigned char *)work, work_size};
    double *acopy = nnla__arena_take(&ar, p->copy_bytes);
    double *w = nnla__arena_take(&ar, (size_t)p->lwork * sizeof(double));
    lapack_int *iw = nnla__arena_take(&ar, (size_t)p->liwork * sizeof(lapack_int));
    if (acopy == NULL || w == NULL || iw == NULL) return NNLA_EWORKSPACE; /* unreachable: size checked */

    /* LAPACK's U is our V^T and LAPACK's VT is our U (see the top of this file). */
    double dummy_u[1] = {0.0}, dummy_vt[1] = {0.0};
    int vectors = job != NNLA_SVD_VALUES;
    double *lu = vectors ? vt.data : dummy_u, *lvt = vectors ? u.data : dummy_vt;
    lapack_int ldu = vectors ? (lapack_int)vt.ld : 1, ldvt = vectors ? (lapack_int)u.ld : 1;

    pack_rows(a, acopy);
    lapack_int info;
    nnla__blas_enter();
    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, p->jobz, p->lm, p->ln, acopy, p->lm, s, lu, ldu, lvt, ldvt, w,
                               p->lwork, iw);
    nnla__blas_leave();
    if (info < 0) return NNLA_ELAPACK;
    if (info == 0) {
        if (driver) *driver = NNLA_SVD_DRIVER_GESDD;
        return NNLA_OK;
    }
    /* dgesdd did not converge: start again from A with QR iteration. */
    pack_rows(a, acopy);
    nnla__blas_enter();
    info = LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, p->jobuv, p->jobuv, p->lm, p->ln, acopy, p->lm, s, lu, ldu,
                               lvt, ldvt, w, p->lwork);
    nnla__blas_leave();
    if (info < 0) return NNLA_ELAPACK;
    if (info > 0) return NNLA_ENOCONV;
    if (driver) *driver = NNLA_SVD_DRIVER_GESVD;
    return NNLA_OK;
}

nnla_status nnla_svd(nnla_svd_job job, nnla_cmat a, double *s, nnla_mat u, nnla_mat vt, void *work,
                     size_t work_size, nnla_svd_driver *driver)
{
    svd_plan p;
    NNLA__TRY(svd_check(job, a, s, u, vt, work, work_size, 1, &p));
    return svd_run(job, &p, a, s, u, vt, work, work_size, driver);
}

nnla_status nnla_svd_alloc(nnla_svd_job job, nnla_cmat a, double *s, nnla_mat u, nnla_mat vt,
                           nnla_svd_driver *driver)
{
    svd_plan p;
    NNLA__TRY(svd_check(job, a, s, u, vt, NULL, 0, 0, &p));
    void *work = malloc(p.bytes);
    if (work == NULL) return NNLA_ENOMEM;
    nnla_status st = svd_run(job, &p, a, s, u, vt, work, p.bytes, driver);
    free(work);
    return st;
}

/* ------------------------------------------------------------------ symmetric eigendecomposition */

typedef struct eigh_plan {
    lapack_int n;
    char jobz;
    lapack_int lwork, liwork;
    size_t copy_bytes; /* 0 with vectors: LAPACK works in v */
    size_t bytes;
} eigh_plan;

static int eigh_job_valid(nnla_eigh_job job) { return job == NNLA_EIGH_VALUES || job == NNLA_EIGH_VECTORS; }

static nnla_status eigh_sizes(nnla_eigh_job job, size_t n, eigh_plan *p)
{
    if (!nnla__fits_int(n)) return NNLA_EOVERFLOW;
    size_t elems, bound;
    /* the matrix LAPACK works on (the copy in the workspace, or v) has n^2 elements */
    if (!nnla__mul(n, n, &elems) || !nnla__fits_int(elems)) return NNLA_EOVERFLOW;
    /* dsyevd's query computes 1 + 6n + 2n^2 (vectors) and 2n + n*NB in int */
    if (!mul_add(n, LINALG_NB_BOUND + 8, 16, &bound) ||
        (job == NNLA_EIGH_VECTORS && !nnla__add(bound, 2 * elems, &bound)) || !nnla__fits_int(bound))
        return NNLA_EOVERFLOW;

    p->n = (lapack_int)n;
    p->jobz = job == NNLA_EIGH_VECTORS ? 'V' : 'N';
    double q = 0.0, dummy[1] = {0.0};
    lapack_int iq = 0;
    lapack_int info;
    nnla__blas_enter();
    info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, p->jobz, 'U', p->n, dummy, p->n, dummy, &q, -1, &iq, -1);
    nnla__blas_leave();
    if (info != 0) return NNLA_ELAPACK;
    if (!lwork_from_query(q, 1, &p->lwork) || iq < 1) return NNLA_EOVERFLOW;
    p->liwork = iq;

    size_t total = 0, wb, ib;
    p->copy_bytes = job == NNLA_EIGH_VECTORS ? 0 : elems * sizeof(double);
    if (!nnla__mul((size_t)p->lwork, sizeof(double), &wb) ||
        !nnla__mul((size_t)p->liwork, sizeof(lapack_int), &ib) ||
        (p->copy_bytes && !nnla__ws_piece(p->copy_bytes, &total)) || !nnla__ws_piece(wb, &total) ||
        !nnla__ws_piece(ib, &total))
        return NNLA_EOVERFLOW;
    p->bytes = total;
    return NNLA_OK;
}

nnla_status nnla_eigh_workspace_size(nnla_eigh_job job, size_t n, size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    if (!eigh_job_valid(job)) return NNLA_EINVAL;
    if (n == 0) return NNLA_EDIM;
    eigh_plan p;
    NNLA__TRY(eigh_sizes(job, n, &p));
    *bytes = p.bytes;
    return NNLA_OK;
}

/* |a_ij - a_ji| <= NNLA_EIGH_SYM_RTOL * max |a_ij| for all i > j (a square and finite). */
static int is_symmetric(nnla_cmat a)
{
    double amax = 0.0;
    for (size_t i = 0; i < a.rows; i++)
        for (size_t j = 0; j < a.cols; j++) {
            double x = fabs(a.data[i * a.ld + j]);
            if (x > amax) amax = x;
        }
    double tol = NNLA_EIGH_SYM_RTOL * amax;
    for (size_t i = 1; i < a.rows; i++)
        for (size_t j = 0; j < i; j++)
            if (!(fabs(a.data[i * a.ld + j] - a.data[j * a.ld + i]) <= tol)) return 0;
    return 1;
}

static nnla_status eigh_check(nnla_eigh_job job, nnla_cmat a, const double *w, nnla_mat v, const void *work,
                              size_t work_size, int have_work, eigh_plan *p)
{
    NNLA__TRY(nnla__check_blas_view(a));
    if (w == NULL || (have_work && work == NULL)) return NNLA_ENULL;
    if (!eigh_job_valid(job)) return NNLA_EINVAL;
    int vectors = job == NNLA_EIGH_VECTORS;
    if (vectors) NNLA__TRY(nnla__check_blas_view(nnla_cmat_of(v)));
    size_t n = a.rows;
    if (a.cols != n) return NNLA_ESHAPE;
    if (vectors && (v.rows != n || v.cols != n)) return NNLA_ESHAPE;
    if (vectors && !extent_fits_int(nnla_cmat_of(v))) return NNLA_EOVERFLOW;
    NNLA__TRY(eigh_sizes(job, n, p));
    range r[4] = {
        {a.data, nnla__view_bytes(a)},
        {w, n * sizeof(double)},
        {work, have_work ? work_size : 0},
        {vectors ? v.data : NULL, vectors ? nnla__view_bytes(nnla_cmat_of(v)) : 0},
    };
    if (any_overlap(r, 4)) return NNLA_EALIAS;
    if (have_work && work_size < p->bytes) return NNLA_EWORKSPACE;
    if (!nnla__all_finite(a)) return NNLA_ENONFINITE;
    if (!is_symmetric(a)) return NNLA_ENOTSYM;
    return NNLA_OK;
}

/* Transpose a square n x n view in place, in tiles of 8 x 8 (a tile row is one 64-byte cache line:
 * measured twice as fast as 32 x 32 at n = 1024). */
static void transpose_square(nnla_mat v)
{
    enum { TILE = 8 };
    size_t n = v.rows, ld = v.ld;
    for (size_t ib = 0; ib < n; ib += TILE)
        for (size_t jb = ib; jb < n; jb += TILE) {
            size_t ie = ib + TILE < n ? ib + TILE : n, je = jb + TILE < n ? jb + TILE : n;
            for (size_t i = ib; i < ie; i++)
                for (size_t j = (jb > i + 1 ? jb : i + 1); j < je; j++) {
                    double t = v.data[i * ld + j];
                    v.data[i * ld + j] = v.data[j * ld + i];
                    v.data[j * ld + i] = t;
                }
        }
}

static nnla_status eigh_run(nnla_eigh_job job, const eigh_plan *p, nnla_cmat a, double *w, nnla_mat v,
                            void *work, size_t work_size)
{
    nnla__arena ar = {(unsigned char *)work, work_size};
    double *acopy = p->copy_bytes ? nnla__arena_take(&ar, p->copy_bytes) : NULL;
    double *wk = nnla__arena_take(&ar, (size_t)p->lwork * sizeof(double));
    lapack_int *iw = nnla__arena_take(&ar, (size_t)p->liwork * sizeof(lapack_int));
    if ((p->copy_bytes && acopy == NULL) || wk == NULL || iw == NULL)
        return NNLA_EWORKSPACE; /* unreachable */

    double *mat;
    lapack_int lda;
    if (job == NNLA_EIGH_VECTORS) {
        for (size_t i = 0; i < a.rows; i++)
            nnla__copy(v.data + i * v.ld, a.data + i * a.ld, a.cols);
        mat = v.data;
        lda = (lapack_int)v.ld;
    } else {
        pack_rows(a, acopy);
        mat = acopy;
        lda = p->n;
    }
    /* Our lower triangle (i >= j, row-major) is the upper triangle of the column-major view. */
    lapack_int info;
    nnla__blas_enter();
    info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, p->jobz, 'U', p->n, mat, lda, w, wk, p->lwork, iw, p->liwork);
    nnla__blas_leave();
    if (info < 0) return NNLA_ELAPACK;
    if (info > 0) return NNLA_ENOCONV;
    /* LAPACK left eigenvector i in column i of the column-major view, i.e. in row i of v: make it
     * column i (the NumPy convention). */
    if (job == NNLA_EIGH_VECTORS) transpose_square(v);
    return NNLA_OK;
}

nnla_status nnla_eigh(nnla_eigh_job job, nnla_cmat a, double *w, nnla_mat v, void *work, size_t work_size)
{
    eigh_plan p;
    NNLA__TRY(eigh_check(job, a, w, v, work, work_size, 1, &p));
    return eigh_run(job, &p, a, w, v, work, work_size);
}

nnla_status nnla_eigh_alloc(nnla_eigh_job job, nnla_cmat a, double *w, nnla_mat v)
{
    eigh_plan p;
    NNLA__TRY(eigh_check(job, a, w, v, NULL, 0, 0, &p));
    void *work = malloc(p.bytes);
    if (work == NULL) return NNLA_ENOMEM;
    nnla_status st = eigh_run(job, &p, a, w, v, work, p.bytes);
    free(work);
    return st;
}

/* ------------------------------------------------------------------ spectral reconstruction */

static nnla_status spectral_sizes(size_t n, size_t k, size_t *bytes)
{
    if (!nnla__fits_int(n)) return NNLA_EOVERFLOW;
    size_t nk, total = 0, ib;
    if (!nnla__mul(n, k, &nk) || !nnla__mul(nk, sizeof(double), &nk) || !nnla__mul(n, sizeof(size_t), &ib) ||
        !nnla__ws_piece(ib, &total) || !nnla__ws_piece(nk, &total) || !nnla__ws_piece(nk, &total))
        return NNLA_EOVERFLOW;
    *bytes = total;
    return NNLA_OK;
}

nnla_status nnla_spectral_reconstruct_workspace_size(size_t n, size_t k, size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    if (n == 0 || k == 0 || k > n) return NNLA_EDIM;
    size_t b;
    NNLA__TRY(spectral_sizes(n, k, &b));
    *bytes = b;
    return NNLA_OK;
}

/* Whether term i comes before term j: larger |lambda| first, ties to the lower index. */
static int term_before(const double *w, size_t i, size_t j)
{
    double a = fabs(w[i]), b = fabs(w[j]);
    return a > b || (a == b && i < j);
}

/* Restore the heap property below position at (a max-heap under term_before). */
static void sift_down(const double *w, size_t *h, size_t len, size_t at)
{
    for (;;) {
        size_t best = at, l = 2 * at + 1, r = l + 1;
        if (l < len && term_before(w, h[l], h[best])) best = l;
        if (r < len && term_before(w, h[r], h[best])) best = r;
        if (best == at) return;
        size_t t = h[at];
        h[at] = h[best];
        h[best] = t;
        at = best;
    }
}

nnla_status nnla_spectral_reconstruct(const double *w, nnla_cmat v, size_t k, nnla_mat a, void *work,
                                      size_t work_size)
{
    NNLA__TRY(nnla__check_blas_view(v));
    NNLA__TRY(nnla__check_blas_view(nnla_cmat_of(a)));
    if (w == NULL || work == NULL) return NNLA_ENULL;
    size_t n = v.rows;
    if (k == 0 || k > n) return NNLA_EDIM;
    if (v.cols != n || a.rows != n || a.cols != n) return NNLA_ESHAPE;
    size_t need;
    NNLA__TRY(spectral_sizes(n, k, &need));
    /* w and v are both inputs and may overlap each other, but neither may overlap a or work */
    size_t abytes = nnla__view_bytes(nnla_cmat_of(a));
    range rw[3] = {{a.data, abytes}, {work, work_size}, {w, n * sizeof(double)}};
    range rv[3] = {{a.data, abytes}, {work, work_size}, {v.data, nnla__view_bytes(v)}};
    if (any_overlap(rw, 3) || any_overlap(rv, 3)) return NNLA_EALIAS;
    if (work_size < need) return NNLA_EWORKSPACE;
    if (!nnla__all_finite_vec(w, n) || !nnla__all_finite(v)) return NNLA_ENONFINITE;

    nnla__arena ar = {(unsigned char *)work, work_size};
    size_t *h = nnla__arena_take(&ar, n * sizeof(size_t));
    double *scaled = nnla__arena_take(&ar, n * k * sizeof(double));        /* n x k: lambda_t u_t */
    double *vk = nnla__arena_take(&ar, n * k * sizeof(double));            /* n x k: u_t */
    if (h == NULL || scaled == NULL || vk == NULL) return NNLA_EWORKSPACE; /* unreachable */

    /* Select the k best terms with a heap: O(n + k log n), no allocation, deterministic. */
    for (size_t i = 0; i < n; i++) h[i] = i;
    for (size_t i = n / 2; i-- > 0;) sift_down(w, h, n, i);
    for (size_t t = 0; t < k; t++) {
        size_t last = n - 1 - t, col = h[0];
        h[0] = h[last];
        h[last] = col;
        sift_down(w, h, last, 0);
        for (size_t i = 0; i < n; i++) {
            double x = v.data[i * v.ld + col];
            vk[i * k + t] = x;
            scaled[i * k + t] = w[col] * x;
        }
    }

    /* A_k = (U_k diag(lambda)) U_k^T: one GEMM. */
    nnla__blas_enter();
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)k, 1.0, scaled, (int)k, vk,
                (int)k, 0.0, a.data, (int)a.ld);
    nnla__blas_leave();
    /* Exact symmetry: the lower triangle, mirrored. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < i; j++) a.data[j * a.ld + i] = a.data[i * a.ld + j];
    return NNLA_OK;
}
