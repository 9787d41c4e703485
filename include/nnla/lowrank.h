/**
 * @file nnla/lowrank.h
 * @brief Best rank-k approximation (Eckart-Young) with an exact error report, rank selection from a
 *        spectrum, and the randomized SVD of Halko, Martinsson and Tropp (2011).
 *
 * The best rank-k approximation of an m x n matrix A in the 2- and Frobenius norms is
 * A_k = U_k S_k V_k^T (the k leading singular triplets). libnnla returns it as two factors
 *
 *     L = U_k S_k^(1/2)   (m x k),      R = S_k^(1/2) V_k^T   (k x n),      A_k = L R,
 *
 * which is what a compressed layer needs: a dense layer with weight W (out x in) becomes the layer
 * R (k x in, no bias) followed by the layer L (out x k, with W's bias); a convolution kernel
 * (O x C x kh x kw) is the row-major O x (C kh kw) matrix of the same memory, so its R reshapes to a
 * k x C x kh x kw kernel and its L to an O x k x 1 x 1 kernel.
 *
 * Three ways to get there:
 * - nnla_lowrank() (or nnla_lowrank_alloc()): one call from A, by a full thin SVD (nnla_svd()) or,
 *   on request, by the randomized SVD;
 * - nnla_svd() once, nnla_lowrank_select() on its singular values, nnla_lowrank_factors() on its
 *   vectors: for callers that already hold the SVD (a whole network's spectra, say);
 * - nnla_rsvd(): the randomized SVD itself (values or thin factors of rank k).
 *
 * Every rank decision comes with an ::nnla_lowrank_report: the rank kept, the parameter counts, and
 * the errors ||A - A_k||_F = sqrt(sum_{i>k} s_i^2) and ||A - A_k||_2 = s_{k+1}, absolute and relative.
 * docs/lowrank.md states the rules, their rounding and the randomized algorithm in full.
 *
 * Memory: nnla_lowrank() and nnla_rsvd() do not allocate; their workspace size comes from
 * nnla_lowrank_workspace_size() / nnla_rsvd_workspace_size(). The *_alloc forms allocate it for one
 * call.
 */
#ifndef NNLA_LOWRANK_H
#define NNLA_LOWRANK_H

#include <stdint.h>

#include "linalg.h"
#include "mat.h"

NNLA_EXTERN_C_BEGIN

/** How a rank is chosen. */
typedef enum nnla_rank_kind {
    NNLA_RANK_FIXED = 0,   /**< exactly nnla_rank_rule::rank terms, 1 <= rank <= min(m, n) */
    NNLA_RANK_ENERGY = 1,  /**< the smallest k with sum_{i<=k} s_i^2 >= E sum_i s_i^2, E = value in (0, 1] */
    NNLA_RANK_TOL_FRO = 2, /**< the smallest k with ||A - A_k||_F <= value ||A||_F, value >= 0 */
    NNLA_RANK_TOL_2 = 3    /**< the smallest k with ||A - A_k||_2 <= value ||A||_2, value >= 0 */
} nnla_rank_kind;

/**
 * A rank rule. Build one with nnla_rank_fixed(), nnla_rank_energy(), nnla_rank_tol_fro() or
 * nnla_rank_tol_2(), and set ::nnla_rank_rule::rank afterwards to cap a rule.
 *
 * The rules never choose k = 0: when A = 0, every rule gives k = 1. The energy and tolerance rules are
 * evaluated in their tail form (sum_{i>k} s_i^2 <= (1 - E) sum_i s_i^2, and so on), with the tails
 * summed from the small end (docs/lowrank.md, "Rank rules").
 */
typedef struct nnla_rank_rule {
    nnla_rank_kind kind; /**< which rule */
    size_t rank;         /**< ::NNLA_RANK_FIXED: k. Other kinds: a cap on k (0: none), honoured even
                              when the rule is not met (nnla_lowrank_report::rule_met then says 0) */
    double value;        /**< the energy E or the relative tolerance; ignored by ::NNLA_RANK_FIXED */
} nnla_rank_rule;

/** @brief The rule "keep exactly k terms". */
static inline nnla_rank_rule nnla_rank_fixed(size_t k)
{
    nnla_rank_rule r;
    r.kind = NNLA_RANK_FIXED;
    r.rank = k;
    r.value = 0.0;
    return r;
}

/** @brief The rule "retain at least a fraction e of the energy sum s_i^2", e in (0, 1]. */
static inline nnla_rank_rule nnla_rank_energy(double e)
{
    nnla_rank_rule r;
    r.kind = NNLA_RANK_ENERGY;
    r.rank = 0;
    r.value = e;
    return r;
}

/** @brief The rule "relative Frobenius error ||A - A_k||_F / ||A||_F at most tol", tol >= 0. */
static inline nnla_rank_rule nnla_rank_tol_fro(double tol)
{
    nnla_rank_rule r;
    r.kind = NNLA_RANK_TOL_FRO;
    r.rank = 0;
    r.value = tol;
    return r;
}

/** @brief The rule "relative spectral error s_{k+1} / s_1 at most tol", tol >= 0. */
static inline nnla_rank_rule nnla_rank_tol_2(double tol)
{
    nnla_rank_rule r;
    r.kind = NNLA_RANK_TOL_2;
    r.rank = 0;
    r.value = tol;
    return r;
}

/**
 * What a rank decision keeps and what it costs. Relative errors are the absolute ones divided by
 * ||A||_F and ||A||_2 (0 when A = 0).
 */
typedef struct nnla_lowrank_report {
    size_t m;             /**< rows of A */
    size_t n;             /**< columns of A */
    size_t rank;          /**< k, the number of terms kept */
    size_t params_before; /**< m n */
    size_t params_after;  /**< k (m + n): the entries of L and R */
    double norm_fro;      /**< ||A||_F */
    double norm_2;        /**< ||A||_2 = s_1 (randomized: the sketch's s_1, a lower bound) */
    double err_fro;       /**< ||A - A_k||_F = sqrt(sum_{i>k} s_i^2) (randomized: of the returned factors,
                               computed from the residual) */
    double err_fro_rel;   /**< err_fro / ||A||_F */
    double err_2;         /**< ||A - A_k||_2 = s_{k+1}, 0 when k = min(m, n) (randomized: the sketch's
                               s_{k+1}, a lower bound) */
    double err_2_rel;     /**< err_2 / norm_2 */
    double energy;        /**< retained energy sum_{i<=k} s_i^2 / sum_i s_i^2 = 1 - err_fro_rel^2 */
    int rule_met;         /**< 1 when k satisfies the rule; 0 when the cap (nnla_rank_rule::rank) stopped
                               it first */
    int exact;            /**< 1: from the full spectrum, so the errors are the Eckart-Young identities;
                               0: from a randomized SVD (see the fields above) */
} nnla_lowrank_report;

/**
 * @brief Choose a rank from a spectrum alone and report its errors (no SVD, no allocation).
 *
 * For callers that already hold the singular values, e.g. of every layer of a network.
 * @param s    the min(m, n) singular values of A, descending, finite and >= 0 (as from nnla_svd()).
 * @param m    rows of A, >= 1.
 * @param n    columns of A, >= 1.
 * @param rule the rule (see ::nnla_rank_rule).
 * @param rep  receives the report; rep->exact is 1.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM for m or n zero, a fixed rank of 0 or above
 *         min(m, n), or a cap above min(m, n); ::NNLA_EINVAL for an unknown kind, an energy outside
 *         (0, 1], a tolerance below 0 or not finite, or s not descending or negative;
 *         ::NNLA_ENONFINITE when s holds NaN or Inf; ::NNLA_EOVERFLOW when m n overflows size_t.
 *         On failure *rep is untouched.
 */
NNLA_API nnla_status nnla_lowrank_select(const double *s, size_t m, size_t n, nnla_rank_rule rule,
                                         nnla_lowrank_report *rep);

/**
 * @brief The factors L = U_k S_k^(1/2) and R = S_k^(1/2) V_k^T from an SVD already computed.
 *
 * Reads the first k columns of u, the first k values of s and the first k rows of vt (so thin and
 * full SVDs both work). u and vt are not scanned for NaN or Inf (nothing reaches LAPACK).
 * @param u  m x r1 left singular vectors, r1 >= k.
 * @param s  at least k singular values, finite and >= 0.
 * @param vt r2 x n right singular vectors (as rows), r2 >= k.
 * @param k  the rank, >= 1.
 * @param l  output m x k.
 * @param r  output k x n.
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD for bad views; ::NNLA_EDIM when k is 0 or
 *         above r1 or r2; ::NNLA_ESHAPE for outputs of the wrong shape; ::NNLA_EINVAL when one of
 *         s_1..s_k is negative; ::NNLA_ENONFINITE when one is NaN or Inf; ::NNLA_EALIAS when l or r
 *         overlaps an input or each other. On failure l and r are untouched.
 */
NNLA_API nnla_status nnla_lowrank_factors(nnla_cmat u, const double *s, nnla_cmat vt, size_t k, nnla_mat l,
                                          nnla_mat r);

/** Options of nnla_lowrank(); a NULL pointer means the exact path (a full thin SVD). */
typedef struct nnla_lowrank_opts {
    int randomized;     /**< 0: exact, by nnla_svd(); 1: by nnla_rsvd() (for large matrices) */
    size_t oversample;  /**< randomized only: the oversampling p, >= 1 (10 is usual); clamped as in
                             nnla_rsvd() */
    size_t power_iters; /**< randomized only: the power iterations q (2 is usual) */
    uint64_t seed;      /**< randomized only: the seed of the Gaussian test matrix */
} nnla_lowrank_opts;

/**
 * @brief Workspace, in bytes, for nnla_lowrank() on an m x n matrix with this rule and these options.
 * @param m     rows, >= 1.
 * @param n     columns, >= 1.
 * @param rule  the rule (its kind and rank matter: the randomized path sketches rank rule.rank, or
 *              min(m, n) when that is 0).
 * @param opts  NULL for the exact path, or the options.
 * @param bytes receives the size.
 * @return ::NNLA_OK; as nnla_lowrank() for bad sizes, rules and options.
 */
NNLA_API nnla_status nnla_lowrank_workspace_size(size_t m, size_t n, nnla_rank_rule rule,
                                                 const nnla_lowrank_opts *opts, size_t *bytes);

/**
 * @brief The best rank-k approximation A ~ L R, with k chosen by a rule, and its report.
 *
 * Exact path (opts NULL or opts->randomized == 0): one thin nnla_svd() of A, the rank from
 * nnla_lowrank_select(), the factors from nnla_lowrank_factors(); the report is exact.
 *
 * Randomized path: nnla_rsvd() of rank K = rule.rank (a fixed rank, or the cap; min(m, n) when the
 * cap is 0) with oversampling p and q power iterations; the rule is applied to the sketch's values
 * (docs/lowrank.md, "Randomized rank selection") and k <= K. The report then has exact = 0, err_fro
 * computed from the residual A - L R, and err_2 = the sketch's s_{k+1}, a lower bound of the true
 * error.
 *
 * The outputs have room for the largest possible k: l has m rows and at least K columns, r has n
 * columns and at least K rows, where K = rule.rank for a fixed rank or a cap, min(m, n) otherwise.
 * The result is the leading m x k block of l and k x n block of r (k = rep->rank); the rest, and any
 * padding, is not written.
 *
 * @param a     the m x n input (not modified).
 * @param rule  the rank rule.
 * @param opts  NULL (exact) or the options.
 * @param l     output, m x (at least K).
 * @param r     output, (at least K) x n.
 * @param ak    output m x n receiving A_k = L R, or a view with data NULL when not wanted.
 * @param work  workspace of nnla_lowrank_workspace_size() bytes, not overlapping anything else.
 * @param work_size its size in bytes.
 * @param rep   receives the report (required).
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD for bad views or pointers; ::NNLA_EDIM
 *         for a rank or cap of 0 (fixed) or above min(m, n); ::NNLA_EINVAL for a bad rule or
 *         options (unknown kind, energy outside (0, 1], tolerance < 0 or not finite, randomized with
 *         oversample 0); ::NNLA_ESHAPE for outputs too small; ::NNLA_EWORKSPACE; ::NNLA_ENONFINITE
 *         when A holds NaN or Inf; ::NNLA_EOVERFLOW beyond LAPACK's int; ::NNLA_EALIAS when
 *         outputs, input and workspace overlap; ::NNLA_ENOCONV when the SVD fails (outputs then
 *         untouched). On every failure the outputs and *rep are untouched.
 */
NNLA_API nnla_status nnla_lowrank(nnla_cmat a, nnla_rank_rule rule, const nnla_lowrank_opts *opts,
                                  nnla_mat l, nnla_mat r, nnla_mat ak, void *work, size_t work_size,
                                  nnla_lowrank_report *rep);

/**
 * @brief nnla_lowrank() with a workspace it allocates (and frees) itself.
 * @return as nnla_lowrank(), plus ::NNLA_ENOMEM.
 */
NNLA_API nnla_status nnla_lowrank_alloc(nnla_cmat a, nnla_rank_rule rule, const nnla_lowrank_opts *opts,
                                        nnla_mat l, nnla_mat r, nnla_mat ak, nnla_lowrank_report *rep);

/** What nnla_rsvd() did besides its outputs. */
typedef struct nnla_rsvd_info {
    size_t oversample;      /**< the oversampling used: min(p, min(m, n) - k) */
    int clamped;            /**< 1 when k + p exceeded min(m, n) and p was reduced to fit */
    int transposed;         /**< 1 when A^T was sketched (m < n) */
    nnla_svd_driver driver; /**< the driver of the small SVD at the end */
} nnla_rsvd_info;

/**
 * @brief Workspace, in bytes, that nnla_rsvd() needs.
 * @param job        ::NNLA_SVD_VALUES or ::NNLA_SVD_THIN.
 * @param m          rows of A, >= 1.
 * @param n          columns of A, >= 1.
 * @param k          the rank, 1 <= k <= min(m, n).
 * @param oversample p (clamped to min(m, n) - k, as in nnla_rsvd()).
 * @param bytes      receives the size.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for another job; ::NNLA_EDIM for a zero dimension or
 *         a bad k; ::NNLA_EOVERFLOW beyond LAPACK's int.
 */
NNLA_API nnla_status nnla_rsvd_workspace_size(nnla_svd_job job, size_t m, size_t n, size_t k,
                                              size_t oversample, size_t *bytes);

/**
 * @brief Randomized SVD of rank k (Halko, Martinsson, Tropp 2011: Algorithm 4.4, randomized subspace
 *        iteration, then Algorithm 5.1, direct SVD).
 *
 * With l = k + p: a Gaussian test matrix Omega (min(m, n) x l) from nnla_rng_seed(seed) and
 * nnla_rng_fill_normal(); Y = A Omega and Q = qr(Y); q times Q~ = qr(A^T Q), Q = qr(A Q~); then
 * B = Q^T A (l x n), its SVD B = U~ S V^T by nnla_svd(), and U = Q U~. The k leading triplets are
 * returned. Every QR is LAPACK's dgeqrf + dorgqr. When m < n the same is done on A^T (so the test
 * matrix always has min(m, n) rows), and the roles of U and V swap back at the end.
 *
 * Oversampling: when k + p > min(m, n), p is clamped to min(m, n) - k (the sketch then spans A's
 * whole range and the result equals the exact SVD up to rounding); info->clamped says so.
 *
 * Determinism: the same seed, inputs and BLAS configuration give the same bits. Signs of singular
 * pairs are LAPACK's.
 *
 * NaN and Inf: A itself is not scanned; every sketch is, before it reaches LAPACK. A NaN or Inf
 * in A reaches the first sketch (every row of Omega has a nonzero entry; if one had none, A would be
 * scanned instead), so such an A gives ::NNLA_ENONFINITE, as does one whose products overflow.
 *
 * @param job    ::NNLA_SVD_VALUES (s only) or ::NNLA_SVD_THIN (s, u, vt).
 * @param a      the m x n input (not modified).
 * @param k      the rank, 1 <= k <= min(m, n).
 * @param oversample the oversampling p (0 allowed; 10 is usual).
 * @param power_iters the number q of power iterations (2 is usual).
 * @param seed   the seed of the test matrix.
 * @param s      output, k values, descending.
 * @param u      output m x k (THIN; ignored for VALUES: pass a zero view).
 * @param vt     output k x n (THIN; ignored for VALUES).
 * @param work   workspace of nnla_rsvd_workspace_size() bytes, not overlapping anything else.
 * @param work_size its size in bytes.
 * @param info   optional (may be NULL): receives what was done (written only on ::NNLA_OK).
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD for bad views; ::NNLA_EINVAL for an
 *         unknown or ::NNLA_SVD_FULL job; ::NNLA_EDIM for k = 0 or k > min(m, n); ::NNLA_ESHAPE for
 *         outputs of the wrong shape; ::NNLA_EWORKSPACE; ::NNLA_EOVERFLOW beyond LAPACK's int;
 *         ::NNLA_EALIAS when a, s, u, vt or work overlap; ::NNLA_ENONFINITE (see above); ::NNLA_ENOCONV
 *         when the small SVD fails. On every failure the outputs are untouched.
 */
NNLA_API nnla_status nnla_rsvd(nnla_svd_job job, nnla_cmat a, size_t k, size_t oversample, size_t power_iters,
                               uint64_t seed, double *s, nnla_mat u, nnla_mat vt, void *work, size_t work_size,
                               nnla_rsvd_info *info);

/**
 * @brief nnla_rsvd() with a workspace it allocates (and frees) itself.
 * @return as nnla_rsvd(), plus ::NNLA_ENOMEM.
 */
NNLA_API nnla_status nnla_rsvd_alloc(nnla_svd_job job, nnla_cmat a, size_t k, size_t oversample,
                                     size_t power_iters, uint64_t seed, double *s, nnla_mat u, nnla_mat vt,
                                     nnla_rsvd_info *info);

NNLA_EXTERN_C_END

#endif /* NNLA_LOWRANK_H */
