/**
 * @file nnla/pca.h
 * @brief Principal component analysis: fit (full or randomized SVD), transform, inverse transform,
 *        whitening, with scikit-learn's conventions.
 *
 * A fit on X (n samples x d features, one sample per row) centres X on its column means, takes the
 * SVD Xc = U S V^T, and keeps k components (the first k rows of V^T), chosen by count or by
 * explained-variance fraction. As in scikit-learn (and NumPy's `var(ddof=1)`), the explained
 * variance of component i is s_i^2 / (n - 1), and its ratio divides by the total variance.
 *
 * Signs: each component's sign is fixed as scikit-learn 1.2 (Debian 12's python3-sklearn) fixes it
 * in PCA, by `svd_flip` with `u_based_decision=True`: in each column of U (the training samples'
 * scores) the entry of largest magnitude (the first one, on ties) is made positive, and the matching
 * row of V^T flips with it. Results therefore compare across runs and with scikit-learn 1.2 (later
 * scikit-learn releases may use another rule: check the version compared with).
 *
 * The model (::nnla_pca) is a struct the caller owns, holding pointers to arrays in one block of
 * memory: either the caller's (nnla_pca_memory_size() + nnla_pca_init(), no allocation) or one
 * block that nnla_pca_alloc() allocates and nnla_pca_free() frees. Fitting and transforming take a
 * workspace sized by their *_workspace_size() queries; the *_alloc forms allocate it for one call.
 * A fitted model is read-only to the transforms: several threads may transform with one model,
 * each with its own workspace.
 */
#ifndef NNLA_PCA_H
#define NNLA_PCA_H

#include <stdint.h>

#include "mat.h"

NNLA_EXTERN_C_BEGIN

/** How nnla_pca_fit() computes the SVD. */
typedef enum nnla_pca_solver {
    NNLA_PCA_FULL = 0,      /**< the thin SVD of the centred data (nnla_svd()): exact */
    NNLA_PCA_RANDOMIZED = 1 /**< the randomized SVD of rank k (nnla_rsvd()): for large data, k small */
} nnla_pca_solver;

/** What to fit. Zero-initialise, then set what differs: `{0}` is not valid (no component rule). */
typedef struct nnla_pca_opts {
    size_t n_components; /**< k, 1 <= k <= min(n, d); 0 to choose k by ::nnla_pca_opts::variance */
    double variance;     /**< with n_components == 0: a fraction F in (0, 1); k is the smallest count whose
                              cumulative explained-variance ratio exceeds F (strictly, as scikit-learn's
                              `n_components=F`), at most min(n, d) */
    int whiten;          /**< nonzero: nnla_pca_transform() divides each score by sqrt(explained variance) */
    nnla_pca_solver solver;  /**< ::NNLA_PCA_FULL (default) or ::NNLA_PCA_RANDOMIZED (needs n_components) */
    size_t oversample;   /**< randomized: oversampling p (scikit-learn's default is 10) */
    size_t power_iters;  /**< randomized: power iterations q */
    uint64_t seed;       /**< randomized: the seed of the test matrix */
} nnla_pca_opts;

/**
 * A PCA model. The arrays live in memory given to nnla_pca_init() (or allocated by
 * nnla_pca_alloc()); a fit fills them. Read the results straight from the fields.
 */
typedef struct nnla_pca {
    size_t n_features;   /**< d: the columns of the data (set by nnla_pca_init()) */
    size_t capacity;     /**< the most components the arrays can hold (set by nnla_pca_init()) */
    size_t n_components; /**< k after a fit; 0 before the first fit */
    size_t n_samples;    /**< n of the last fit */
    int whiten;          /**< whether the transforms whiten (from the fit's options) */
    double total_variance; /**< the sum of the d sample variances (n - 1 convention) */
    double noise_variance; /**< scikit-learn's noise_variance_: the mean explained variance of the
                                components not kept (0 when k = min(n, d)) */
    double *mean;                     /**< d column means of the training data */
    double *components;               /**< capacity x d, row-major (ld = d): component i is row i */
    double *explained_variance;       /**< capacity: s_i^2 / (n - 1) */
    double *explained_variance_ratio; /**< capacity: explained variance / total_variance */
    double *singular_values;          /**< capacity: s_i of the centred data */
    void *owned;                      /**< the block nnla_pca_alloc() allocated (NULL otherwise) */
} nnla_pca;

/**
 * @brief Bytes of model memory for d features and up to `capacity` components.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM when d or capacity is 0 or capacity > d;
 *         ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_pca_memory_size(size_t n_features, size_t capacity, size_t *bytes);

/**
 * @brief Set up a model in caller memory (any alignment) of at least nnla_pca_memory_size() bytes.
 *        The model is then unfitted (n_components = 0); *p is overwritten whole.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM as nnla_pca_memory_size(); ::NNLA_EWORKSPACE when
 *         bytes is too small; ::NNLA_EOVERFLOW. On failure *p is untouched.
 */
NNLA_API nnla_status nnla_pca_init(nnla_pca *p, size_t n_features, size_t capacity, void *mem, size_t bytes);

/**
 * @brief nnla_pca_init() on one block it allocates; release it with nnla_pca_free().
 * @return as nnla_pca_init(), plus ::NNLA_ENOMEM.
 */
NNLA_API nnla_status nnla_pca_alloc(nnla_pca *p, size_t n_features, size_t capacity);

/**
 * @brief Free what nnla_pca_alloc() allocated (nothing for a model in caller memory) and zero *p.
 *        NULL is a no-op.
 */
NNLA_API void nnla_pca_free(nnla_pca *p);

/**
 * @brief Workspace, in bytes, for nnla_pca_fit() on n samples of d features.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM for n < 2, d == 0 or n_components > min(n, d);
 *         ::NNLA_EINVAL for bad options; ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_pca_fit_workspace_size(size_t n_samples, size_t n_features, const nnla_pca_opts *opts,
                                                 size_t *bytes);

/**
 * @brief Fit the model on X (n x d): mean, components, explained variances and their ratios,
 *        singular values, total and noise variance.
 *
 * The mean is computed with a second, correcting pass (mean of X - mean). k is opts->n_components,
 * or, with the variance rule, the smallest k whose cumulative ratio exceeds opts->variance (ratios
 * from the full spectrum, summed in order). With the full solver the total variance is the sum of all
 * min(n, d) explained variances; with the randomized one it is computed from the centred data.
 * Whitening of a component whose explained variance is exactly 0 gives 0 (scikit-learn would divide
 * by zero).
 *
 * @param p     an initialized model with n_features = d and capacity >= k (>= min(n, d) for the
 *              variance rule); overwritten only on success.
 * @param x     the data, n >= 2 rows, d columns (not modified).
 * @param opts  what to fit (required).
 * @param work  workspace of nnla_pca_fit_workspace_size() bytes, not overlapping x or the model.
 * @param work_size its size in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM (n < 2, n_components > min(n, d)); ::NNLA_ELD;
 *         ::NNLA_ESHAPE (x.cols != p->n_features, capacity too small); ::NNLA_EINVAL (unknown solver,
 *         variance outside (0, 1) when used, randomized without n_components); ::NNLA_EWORKSPACE;
 *         ::NNLA_EALIAS; ::NNLA_EOVERFLOW; ::NNLA_ENONFINITE when X holds NaN or Inf (or its sums
 *         overflow); ::NNLA_ENOCONV when the SVD fails. On failure the model is untouched.
 */
NNLA_API nnla_status nnla_pca_fit(nnla_pca *p, nnla_cmat x, const nnla_pca_opts *opts, void *work,
                                  size_t work_size);

/**
 * @brief nnla_pca_fit() with a workspace it allocates (and frees) itself.
 * @return as nnla_pca_fit(), plus ::NNLA_ENOMEM.
 */
NNLA_API nnla_status nnla_pca_fit_alloc(nnla_pca *p, nnla_cmat x, const nnla_pca_opts *opts);

/**
 * @brief Workspace, in bytes, for nnla_pca_transform() and nnla_pca_inverse_transform() of up to
 *        `rows` samples with a fitted model (a block of at most 64 rows of d doubles).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM when rows == 0; ::NNLA_EINVAL for an unfitted model;
 *         ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_pca_transform_workspace_size(const nnla_pca *p, size_t rows, size_t *bytes);

/**
 * @brief Scores Y = (X - mean) C^T, C the k components; divided by sqrt(explained variance) when the
 *        model whitens.
 *
 * X is centred block by block in the workspace before the GEMM (as scikit-learn centres first), so
 * the scores do not lose digits to a large mean. X is not scanned for NaN or Inf (nothing reaches
 * LAPACK): they propagate as in any GEMM.
 * @param p  a fitted model.
 * @param x  rows x d data.
 * @param y  output rows x k.
 * @param work workspace of nnla_pca_transform_workspace_size(p, rows) bytes.
 * @param work_size its size in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD for bad views; ::NNLA_EINVAL for an
 *         unfitted model; ::NNLA_ESHAPE; ::NNLA_EWORKSPACE; ::NNLA_EALIAS; ::NNLA_EOVERFLOW. On
 *         failure y is untouched.
 */
NNLA_API nnla_status nnla_pca_transform(const nnla_pca *p, nnla_cmat x, nnla_mat y, void *work,
                                        size_t work_size);

/**
 * @brief X = Y C + mean, or Y diag(sqrt(explained variance)) C + mean when the model whitens: the
 *        exact inverse of nnla_pca_transform() on the span of the components.
 * @param p  a fitted model.
 * @param y  rows x k scores.
 * @param x  output rows x d.
 * @param work workspace of nnla_pca_transform_workspace_size(p, rows) bytes.
 * @param work_size its size in bytes.
 * @return as nnla_pca_transform(); on failure x is untouched.
 */
NNLA_API nnla_status nnla_pca_inverse_transform(const nnla_pca *p, nnla_cmat y, nnla_mat x, void *work,
                                                size_t work_size);

/**
 * @brief nnla_pca_transform() with a workspace it allocates (and frees) itself.
 * @return as nnla_pca_transform(), plus ::NNLA_ENOMEM.
 */
NNLA_API nnla_status nnla_pca_transform_alloc(const nnla_pca *p, nnla_cmat x, nnla_mat y);

/**
 * @brief nnla_pca_inverse_transform() with a workspace it allocates (and frees) itself.
 * @return as nnla_pca_inverse_transform(), plus ::NNLA_ENOMEM.
 */
NNLA_API nnla_status nnla_pca_inverse_transform_alloc(const nnla_pca *p, nnla_cmat y, nnla_mat x);

NNLA_EXTERN_C_END

#endif /* NNLA_PCA_H */
