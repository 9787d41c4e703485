/**
 * @file nnla/compress.h
 * @brief Low-rank compression of a network's dense and convolution layers, in place: each weight
 *        W ~ L R (the best rank-k approximation, nnla/lowrank.h) becomes two layers.
 *
 * - A dense layer y = f(x W^T + b), W out x in, becomes the dense layer x -> x R^T (R k x in, no
 *   bias, identity activation) followed by the dense layer -> (.) L^T + b (L out x k) with W's
 *   bias and activation f.
 * - A convolution with kernel W (O x C x kh x kw, one group) becomes a convolution with k output
 *   channels and kernel R reshaped to k x C x kh x kw (the same stride, padding and dilation; no
 *   bias, identity activation) followed by a 1 x 1 convolution with O outputs and kernel L
 *   (O x k x 1 x 1), with W's bias and activation. The factorization is that of the reshaped
 *   kernel O x (C kh kw), PyTorch's weight.reshape(O, -1). Every output pixel of the convolution is
 *   that matrix times one column of im2col(x), so the pair computes exactly the convolution with
 *   kernel L R; docs/lowrank.md ("Compressing networks") states what the matrix's error bounds for
 *   the convolution as an operator: s_{k+1} <= ||conv_W - conv_{W_k}||_2 <= sqrt(c) s_{k+1},
 *   with c the largest number of output positions one input pixel feeds (at most kh kw).
 *   Grouped convolutions (groups > 1) are refused (::NNLA_EUNSUPPORTED) by
 *   nnla_net_compress_layer() and skipped by nnla_net_compress().
 *
 * The edit is nnla_net_replace(): the layers that read the compressed layer read the second new
 * layer, later indices shift by one per compressed layer, and pointers into the parameter block
 * and contexts made before become invalid (a structural edit; see nnla/net.h).
 *
 * The ranks come from a ::nnla_rank_rule (a fixed rank, retained energy, or a relative tolerance
 * in the Frobenius or spectral norm), applied to each layer's own spectrum: one SVD per layer
 * (nnla_lowrank()), or on request a randomized SVD (nnla_rsvd()) for large layers.
 */
#ifndef NNLA_COMPRESS_H
#define NNLA_COMPRESS_H

#include <stdint.h>

#include "lowrank.h"
#include "net.h"

NNLA_EXTERN_C_BEGIN

/** Options of nnla_net_compress() and nnla_net_compress_layer(); NULL means exact SVDs. */
typedef struct nnla_compress_opts {
    int randomized;            /**< 0: a full thin SVD of every layer (exact reports); 1: the randomized
                                    SVD for layers with min(m, n) >= randomized_min_dim */
    size_t randomized_min_dim; /**< with randomized: smaller layers still get the exact SVD (0: none do) */
    size_t oversample;         /**< randomized: the oversampling p, >= 1 (as ::nnla_lowrank_opts) */
    size_t power_iters;        /**< randomized: the power iterations q */
    uint64_t seed;             /**< randomized: the seed of the Gaussian test matrices (the same for
                                    every layer) */
} nnla_compress_opts;

/** @brief Exact SVDs; for the randomized path p = 10, q = 2, seed 0, min dimension 0. */
NNLA_API nnla_compress_opts nnla_compress_opts_default(void);

/** What was done with a layer. */
typedef enum nnla_compress_action {
    NNLA_COMPRESS_DONE = 0,           /**< replaced by two layers */
    NNLA_COMPRESS_SKIP_NO_SAVING = 1, /**< left alone: the rank would not save parameters,
                                           k (m + n) >= m n */
    NNLA_COMPRESS_SKIP_GROUPED = 2    /**< left alone: a convolution with groups > 1 */
} nnla_compress_action;

/**
 * The report of one dense or convolution layer. The weight matrix is m x n: dense out x in,
 * convolution O x (C/groups kh kw).
 */
typedef struct nnla_compress_report {
    size_t layer;                /**< the layer's index before compression */
    size_t new_layer;            /**< its index after (of the first of its two layers when compressed) */
    nnla_layer_kind kind;        /**< ::NNLA_LAYER_DENSE or ::NNLA_LAYER_CONV2D */
    size_t ndim;                 /**< 2 (dense) or 4 (convolution) */
    size_t shape[4];             /**< the weight in PyTorch's layout: dense (out, in, 0, 0), conv
                                      (O, C/groups, kh, kw) */
    int has_bias;                /**< 1 when the layer has a bias (kept by the second layer) */
    nnla_compress_action action; /**< what was done */
    size_t rank;                 /**< the rank kept (DONE), or the rank the rule asked for (SKIP_NO_SAVING;
                                      with the randomized path, the largest rank that saves when the rule
                                      needs more); 0 for SKIP_GROUPED */
    size_t params_before;        /**< the layer's parameters: m n (+ m with a bias) */
    size_t params_after;         /**< after: k (m + n) (+ m) when DONE; params_before when skipped */
    nnla_lowrank_report lowrank; /**< the weight matrix's report (nnla/lowrank.h): rank, m n and
                                      k (m + n), ||W||, ||W - W_k||_F and ||W - W_k||_2, absolute and
                                      relative. Filled from the SVD when one was computed (DONE, and
                                      SKIP_NO_SAVING under an energy or tolerance rule); otherwise m, n,
                                      rank and the counts are set and every norm and error is NaN */
} nnla_compress_report;

/**
 * @brief Compress layer i of a network (dense, or a convolution with one group): W ~ L R with the
 *        rank of the rule, then nnla_net_replace() of layer i by the two layers described above.
 *
 * The layer is replaced whatever the rank, even when it does not save parameters (the report says
 * whether it does), so a full-rank compression (k = min(m, n)) is allowed.
 * @param net   the network.
 * @param i     the layer, a dense or conv2d layer.
 * @param rule  the rank rule (see ::nnla_rank_rule; a cap above min(m, n) is ::NNLA_EDIM).
 * @param opts  NULL (exact) or the options (randomized_min_dim applies).
 * @param rep   optional (may be NULL): receives the report.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for i out of range, a bad rule (unknown kind,
 *         energy outside (0, 1], tolerance < 0 or not finite) or bad options (randomized with
 *         oversample 0); ::NNLA_EDIM for a fixed rank of 0 or above min(m, n), or a cap above
 *         min(m, n); ::NNLA_EUNSUPPORTED for another layer kind or a grouped convolution;
 *         ::NNLA_ENONFINITE when the weight or bias holds NaN or Inf; ::NNLA_EOVERFLOW;
 *         ::NNLA_ENOCONV (the SVD failed); ::NNLA_ENOMEM. On failure the network and *rep are
 *         unchanged.
 */
NNLA_API nnla_status nnla_net_compress_layer(nnla_net *net, size_t i, nnla_rank_rule rule,
                                             const nnla_compress_opts *opts, nnla_compress_report *rep);

/**
 * @brief Compress every dense and convolution layer of a network with one rule, skipping the
 *        layers where it would not save parameters.
 *
 * For each dense or conv2d layer, in order, with its weight matrix m x n:
 * - a grouped convolution is skipped (::NNLA_COMPRESS_SKIP_GROUPED);
 * - a fixed rank k with k (m + n) >= m n (k above min(m, n) included) is skipped without an SVD;
 * - otherwise one SVD of W gives the rank (nnla_lowrank(); a cap rule.rank above min(m, n) counts as
 *   min(m, n)), and the layer is skipped when k (m + n) >= m n;
 * - with the randomized path (opts->randomized, min(m, n) >= opts->randomized_min_dim), the sketch's
 *   rank is the rule's fixed rank or cap, at most the largest rank that saves, kb = floor((m n - 1) /
 *   (m + n)); when the energy or tolerance rule is not met within kb (and no smaller cap was given),
 *   the layer is skipped. The report is then the randomized one (exact = 0; see nnla_lowrank()).
 * Every SVD and factor is computed, and every weight checked, before the network changes; then the
 * layers are replaced from the last to the first.
 *
 * @param net        the network.
 * @param rule       the rank rule, applied to each layer's spectrum.
 * @param opts       NULL (exact) or the options.
 * @param reports    optional (may be NULL): receives one report per dense and conv2d layer, in order
 *                   (at most nnla_net_num_layers() entries).
 * @param reports_len its length: at least the number of dense and conv2d layers (0 with NULL).
 * @param count      optional (may be NULL): receives that number.
 * @return ::NNLA_OK (also when no layer was compressed); ::NNLA_ENULL; ::NNLA_EINVAL for a bad rule
 *         or options; ::NNLA_EDIM for a fixed rank of 0; ::NNLA_ESHAPE when reports is too short;
 *         ::NNLA_ENONFINITE when a dense or conv2d weight or bias holds NaN or Inf; ::NNLA_EOVERFLOW;
 *         ::NNLA_ENOCONV (an SVD failed); ::NNLA_ENOMEM. On failure the network, the reports and
 *         *count are unchanged, with one exception: should memory run out during the edits (each
 *         copies the network) and again while undoing the ones made, the network is left with some
 *         layers compressed (it stays valid and computes the compressed function for them).
 */
NNLA_API nnla_status nnla_net_compress(nnla_net *net, nnla_rank_rule rule, const nnla_compress_opts *opts,
                                       nnla_compress_report *reports, size_t reports_len, size_t *count);

NNLA_EXTERN_C_END

#endif /* NNLA_COMPRESS_H */
