/**
 * @file nnla/net.h
 * @brief Networks: an ordered list of layers run as one forward pass.
 *
 * A network is built once (nnla_net_create(), then nnla_net_add_*() in order),
 * copying the weights it is given, so the caller's arrays may be freed afterwards.
 * Building allocates; running does not: nnla_net_workspace_size() reports the
 * workspace of a forward pass for a batch size, and nnla_net_forward() runs with
 * the caller's workspace and no allocation at all. (What libnnla does not do,
 * OpenBLAS 0.3.21 may: its multithreaded GEMM driver mallocs a job array on every
 * threaded call. With one BLAS thread, OPENBLAS_NUM_THREADS=1, a forward pass makes no
 * allocation anywhere in the process; `nnla-bench dense` counts both.)
 *
 * Threads: nnla_net_forward() only reads the network, so several threads may run
 * one network at once, each with its own workspace. (OpenBLAS serializes
 * concurrent BLAS calls from different threads; see blas.h.) Adding layers while
 * another thread runs the network is not allowed.
 *
 * Shapes: each sample is a (channels, height, width) tensor, NCHW in a batch; a
 * flat vector of n features is (n, 1, 1). A dense layer takes the flattened
 * sample (flattening an NCHW tensor moves no data), so nnla_net_add_flatten() only
 * records the reshape, as torch.nn.Flatten does.
 */
#ifndef NNLA_NET_H
#define NNLA_NET_H

#include "act.h"
#include "conv.h"
#include "pool.h"

NNLA_EXTERN_C_BEGIN

/** An opaque network. */
typedef struct nnla_net nnla_net;

/** Kind of a network layer. */
typedef enum nnla_layer_kind {
    NNLA_LAYER_DENSE = 0,          /**< nnla_net_add_dense() */
    NNLA_LAYER_CONV2D = 1,         /**< nnla_net_add_conv2d() */
    NNLA_LAYER_POOL2D = 2,         /**< nnla_net_add_pool2d() */
    NNLA_LAYER_GLOBAL_AVGPOOL = 3, /**< nnla_net_add_global_avgpool() */
    NNLA_LAYER_FLATTEN = 4,        /**< nnla_net_add_flatten() */
    NNLA_LAYER_ACT = 5             /**< nnla_net_add_act() */
} nnla_layer_kind;

/**
 * @brief Create an empty network for samples of shape (channels, height, width).
 * @param channels, height, width  per-sample input shape, each >= 1.
 * @param net receives the network (untouched on failure); free it with nnla_net_free().
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM; ::NNLA_EOVERFLOW; ::NNLA_ENOMEM.
 */
NNLA_API nnla_status nnla_net_create(size_t channels, size_t height, size_t width, nnla_net **net);

/** @brief Free a network; NULL is a no-op. */
NNLA_API void nnla_net_free(nnla_net *net);

/**
 * @brief Append a dense layer y = act(x W^T + b) on the flattened sample.
 * @param net   the network.
 * @param out_features  output size, >= 1.
 * @param w     weight [out_features][in_features] (copied), in_features being the
 *              size of the current (flattened) sample.
 * @param b     bias [out_features] (copied), or NULL.
 * @param act   activation.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM; ::NNLA_EINVAL (bad act);
 *         ::NNLA_ENONFINITE (NaN/Inf in w or b); ::NNLA_EOVERFLOW; ::NNLA_ENOMEM.
 *         On failure the network is unchanged.
 */
NNLA_API nnla_status nnla_net_add_dense(nnla_net *net, size_t out_features, const double *w,
                                        const double *b, nnla_act act);

/**
 * @brief Append a convolution (see conv.h); d->in_channels must equal the current
 *        channel count.
 * @param net the network.
 * @param d   the convolution's geometry (copied).
 * @param w   weight [out][in/groups][kh][kw] (copied).
 * @param b   bias [out] (copied), or NULL.
 * @param act activation fused into the convolution.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM, ::NNLA_ESHAPE, ::NNLA_EOVERFLOW (as
 *         nnla_conv2d_output_size(), or in_channels mismatch); ::NNLA_EINVAL (bad act);
 *         ::NNLA_ENONFINITE (NaN/Inf in w or b); ::NNLA_ENOMEM.
 *         On failure the network is unchanged.
 */
NNLA_API nnla_status nnla_net_add_conv2d(nnla_net *net, const nnla_conv2d_desc *d, const double *w,
                                         const double *b, nnla_act act);

/**
 * @brief Append a max or average pooling (see pool.h).
 * @return as nnla_pool2d_output_size(), plus ::NNLA_ENOMEM. On failure the network is unchanged.
 */
NNLA_API nnla_status nnla_net_add_pool2d(nnla_net *net, const nnla_pool2d_desc *d);

/**
 * @brief Append a global average pooling: (C, H, W) -> (C, 1, 1).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_ENOMEM. On failure the network is unchanged.
 */
NNLA_API nnla_status nnla_net_add_global_avgpool(nnla_net *net);

/**
 * @brief Append a flatten: (C, H, W) -> (C*H*W, 1, 1); moves no data.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_ENOMEM. On failure the network is unchanged.
 */
NNLA_API nnla_status nnla_net_add_flatten(nnla_net *net);

/**
 * @brief Append an activation. Elementwise kinds apply to every entry; softmax and
 *        log-softmax to each sample's flattened vector.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL; ::NNLA_ENOMEM. On failure the network
 *         is unchanged.
 */
NNLA_API nnla_status nnla_net_add_act(nnla_net *net, nnla_act act);

/** @brief The number of layers (0 for NULL). */
NNLA_API size_t nnla_net_num_layers(const nnla_net *net);

/**
 * @brief The kind of layer i.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL when i is out of range.
 */
NNLA_API nnla_status nnla_net_layer_kind(const nnla_net *net, size_t i, nnla_layer_kind *kind);

/**
 * @brief The per-sample input shape.
 * @param net   the network.
 * @param shape receives channels, height, width.
 * @return ::NNLA_OK; ::NNLA_ENULL.
 */
NNLA_API nnla_status nnla_net_input_shape(const nnla_net *net, size_t shape[3]);

/**
 * @brief The per-sample output shape after the last layer.
 * @param net   the network.
 * @param shape receives channels, height, width ((n, 1, 1) for a flat output).
 * @return ::NNLA_OK; ::NNLA_ENULL.
 */
NNLA_API nnla_status nnla_net_output_shape(const nnla_net *net, size_t shape[3]);

/**
 * @brief Workspace, in bytes, for nnla_net_forward() on a batch: two buffers of the
 *        largest intermediate activation and the largest untiled convolution
 *        workspace, with room for any alignment of the caller's pointer.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM (batch 0 or no layers); ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_net_workspace_size(const nnla_net *net, size_t batch, size_t *bytes);

/**
 * @brief Run a batch through every layer. Performs no allocation.
 * @param net    the network (only read).
 * @param batch  number of samples, >= 1.
 * @param x      input, batch samples of the input shape, NCHW contiguous.
 * @param y      output, batch samples of the output shape; must not overlap x or work.
 * @param work   workspace of nnla_net_workspace_size() bytes, any alignment; must not
 *               overlap x or y.
 * @param work_size its size in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM (batch 0 or no layers); ::NNLA_EWORKSPACE
 *         (work_size below nnla_net_workspace_size()); ::NNLA_EALIAS (y overlaps x or work,
 *         or x overlaps work); ::NNLA_EOVERFLOW. On failure y is untouched.
 */
NNLA_API nnla_status nnla_net_forward(const nnla_net *net, size_t batch, const double *x, double *y,
                                      void *work, size_t work_size);

NNLA_EXTERN_C_END

#endif /* NNLA_NET_H */
