/**
 * @file nnla/linalg.h
 * @brief Singular value decomposition, symmetric eigendecomposition and the
 *        spectral decomposition of section II of the paper, over LAPACK.
 *
 * Row-major without copies: a row-major m x n matrix is the column-major view of
 * its n x m transpose, so libnnla calls LAPACK's column-major routines
 * (LAPACKE_*_work, which neither allocate nor transpose) on that view and swaps
 * the roles of U and V^T. LAPACKE's own row-major path would transpose A, U and
 * V^T into temporaries on every call.
 *
 * Memory: nnla_svd() and nnla_eigh() do not allocate. Ask
 * nnla_svd_workspace_size() / nnla_eigh_workspace_size() for the size in bytes
 * and pass a buffer at least that large (any alignment; malloc's is fine). The
 * *_alloc forms allocate that buffer themselves for one call.
 *
 * Inputs are scanned for NaN and Inf before LAPACK is called (Inf can make
 * dgesdd and dsyevd loop forever): such an input gets ::NNLA_ENONFINITE.
 */
#ifndef NNLA_LINALG_H
#define NNLA_LINALG_H

#include "mat.h"

NNLA_EXTERN_C_BEGIN

/** What nnla_svd() computes. */
typedef enum nnla_svd_job {
    NNLA_SVD_VALUES = 0, /**< singular values only; u and vt are not used (pass zero views) */
    NNLA_SVD_THIN = 1,   /**< U is m x k and V^T is k x n, k = min(m, n) */
    NNLA_SVD_FULL = 2    /**< U is m x m and V^T is n x n */
} nnla_svd_job;

/** Which LAPACK driver produced an SVD. */
typedef enum nnla_svd_driver {
    NNLA_SVD_DRIVER_GESDD = 0, /**< divide and conquer (dgesdd): the default */
    NNLA_SVD_DRIVER_GESVD = 1  /**< QR iteration (dgesvd): the fallback when dgesdd does not converge */
} nnla_svd_driver;

/**
 * @brief Workspace, in bytes, that nnla_svd() needs for an m x n matrix.
 *
 * Covers a copy of A (LAPACK overwrites its input) and both dgesdd and the
 * dgesvd fallback; obtained from LAPACK's own workspace queries (no allocation).
 * @param job   ::NNLA_SVD_VALUES, ::NNLA_SVD_THIN or ::NNLA_SVD_FULL.
 * @param m     the matrix's rows, >= 1.
 * @param n     the matrix's columns, >= 1.
 * @param bytes receives the size.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for an unknown job; ::NNLA_EDIM for a
 *         zero dimension; ::NNLA_EOVERFLOW when m, n or the workspace exceed LAPACK's int.
 */
NNLA_API nnla_status nnla_svd_workspace_size(nnla_svd_job job, size_t m, size_t n, size_t *bytes);

/**
 * @brief Singular value decomposition A = U diag(s) V^T over dgesdd.
 *
 * Singular values come in descending order, s[0] >= s[1] >= ... >= 0.
 * Shapes, with k = min(m, n): s has k entries; for ::NNLA_SVD_THIN u is m x k and
 * vt is k x n; for ::NNLA_SVD_FULL u is m x m and vt is n x n; for
 * ::NNLA_SVD_VALUES u and vt are ignored. Each singular-vector pair is unique
 * only up to a common sign.
 *
 * If dgesdd reports that it did not converge (info > 0), the decomposition is
 * recomputed with dgesvd and *driver says so.
 *
 * @param job    what to compute.
 * @param a      the m x n input (not modified).
 * @param s      output, k doubles.
 * @param u      output view (see above).
 * @param vt     output view (see above).
 * @param work   workspace of at least nnla_svd_workspace_size() bytes; must not
 *               overlap the input or the outputs.
 * @param work_size its size in bytes.
 * @param driver optional (may be NULL): receives the driver that produced the result
 *               (written only when the call returns ::NNLA_OK).
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD for bad views;
 *         ::NNLA_EINVAL for an unknown job; ::NNLA_ESHAPE for output views of the wrong
 *         shape; ::NNLA_EWORKSPACE for a small workspace; ::NNLA_ENONFINITE when A has
 *         NaN or Inf; ::NNLA_EOVERFLOW beyond LAPACK's int (m, n, m*n, the workspace, or
 *         the element extent of u or vt); ::NNLA_EALIAS when a, s, u, vt or work overlap;
 *         ::NNLA_ENOCONV when both drivers fail (outputs then hold unspecified values).
 *         On every other failure the outputs are untouched.
 */
NNLA_API nnla_status nnla_svd(nnla_svd_job job, nnla_cmat a, double *s, nnla_mat u, nnla_mat vt,
                              void *work, size_t work_size, nnla_svd_driver *driver);

/**
 * @brief nnla_svd() with a workspace it allocates (and frees) itself.
 * @return as nnla_svd(), plus ::NNLA_ENOMEM.
 */
NNLA_API nnla_status nnla_svd_alloc(nnla_svd_job job, nnla_cmat a, double *s, nnla_mat u, nnla_mat vt,
                                    nnla_svd_driver *driver);

/** What nnla_eigh() computes. */
typedef enum nnla_eigh_job {
    NNLA_EIGH_VALUES = 0, /**< eigenvalues only; v is not used (pass a zero view) */
    NNLA_EIGH_VECTORS = 1 /**< eigenvalues and orthonormal eigenvectors */
} nnla_eigh_job;

/**
 * Symmetry tolerance of nnla_eigh(): A is accepted when, for all i, j,
 * |a_ij - a_ji| <= NNLA_EIGH_SYM_RTOL * max_ij |a_ij| (so a zero matrix, and any
 * exactly symmetric one, is accepted). Only the lower triangle (i >= j) is then
 * used: the result is that of the symmetric matrix with a_ji := a_ij.
 */
#define NNLA_EIGH_SYM_RTOL 1e-12

/**
 * @brief Workspace, in bytes, that nnla_eigh() needs for an n x n matrix
 *        (from dsyevd's own workspace query; no allocation).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for an unknown job; ::NNLA_EDIM when
 *         n == 0; ::NNLA_EOVERFLOW beyond LAPACK's int.
 */
NNLA_API nnla_status nnla_eigh_workspace_size(nnla_eigh_job job, size_t n, size_t *bytes);

/**
 * @brief Symmetric eigendecomposition A = V diag(w) V^T over dsyevd.
 *
 * Eigenvalues come in ascending order, as from LAPACK and numpy.linalg.eigh.
 * With ::NNLA_EIGH_VECTORS, v (n x n) receives the orthonormal eigenvectors as
 * its columns: column i pairs with w[i] (the NumPy convention). Each eigenvector
 * is unique only up to sign (and within a repeated eigenvalue's eigenspace).
 *
 * @param job   what to compute.
 * @param a     the n x n symmetric input (not modified); see ::NNLA_EIGH_SYM_RTOL.
 * @param w     output, n doubles.
 * @param v     output view n x n (ignored for ::NNLA_EIGH_VALUES).
 * @param work  workspace of at least nnla_eigh_workspace_size() bytes, not
 *              overlapping the input or the outputs.
 * @param work_size its size in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD for bad views;
 *         ::NNLA_EINVAL for an unknown job; ::NNLA_ESHAPE when A is not square or v
 *         has the wrong shape; ::NNLA_ENOTSYM; ::NNLA_ENONFINITE; ::NNLA_EWORKSPACE;
 *         ::NNLA_EOVERFLOW; ::NNLA_EALIAS when a, w, v or work overlap; ::NNLA_ENOCONV
 *         when dsyevd fails (outputs then hold unspecified values). On every other failure
 *         the outputs are untouched.
 */
NNLA_API nnla_status nnla_eigh(nnla_eigh_job job, nnla_cmat a, double *w, nnla_mat v, void *work,
                               size_t work_size);

/**
 * @brief nnla_eigh() with a workspace it allocates (and frees) itself.
 * @return as nnla_eigh(), plus ::NNLA_ENOMEM.
 */
NNLA_API nnla_status nnla_eigh_alloc(nnla_eigh_job job, nnla_cmat a, double *w, nnla_mat v);

/**
 * @brief Workspace, in bytes, for nnla_spectral_reconstruct() with n x n
 *        eigenvectors and k terms.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM when n == 0, k == 0 or k > n;
 *         ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_spectral_reconstruct_workspace_size(size_t n, size_t k, size_t *bytes);

/**
 * @brief The spectral decomposition A = sum_i lambda_i u_i u_i^T (section II of
 *        the paper), or its truncation to the k terms of largest |lambda_i|.
 *
 * With k == n this rebuilds A from nnla_eigh()'s output; with k < n it gives the
 * best rank-k approximation of A in the 2- and Frobenius norms (Eckart-Young for
 * symmetric matrices). Ties in |lambda| are broken by the lower index. The result
 * is exactly symmetric (the lower triangle of the product, mirrored). Computed as
 * one GEMM of the scaled columns with V_k^T.
 *
 * @param w     n eigenvalues (any order).
 * @param v     n x n, eigenvector u_i in column i.
 * @param k     number of terms, 1 <= k <= n.
 * @param a     output view n x n; must not overlap w, v or work.
 * @param work  workspace of nnla_spectral_reconstruct_workspace_size() bytes.
 * @param work_size its size in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD, ::NNLA_ESHAPE (v not square, or
 *         a not n x n), ::NNLA_EWORKSPACE, ::NNLA_ENONFINITE (w or v has NaN/Inf),
 *         ::NNLA_EOVERFLOW, ::NNLA_EALIAS (a overlaps w, v or work; w or v overlaps work).
 *         On every failure a is untouched.
 */
NNLA_API nnla_status nnla_spectral_reconstruct(const double *w, nnla_cmat v, size_t k, nnla_mat a,
                                               void *work, size_t work_size);

NNLA_EXTERN_C_END

#endif /* NNLA_LINALG_H */
