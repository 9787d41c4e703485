/**
 * @file nnla/net.h
 * @brief Networks as models: layers with checked shapes, one parameter block, a forward pass that
 *        keeps what backward needs, and layers you can read, write, insert, remove and replace.
 *
 * A network takes samples of shape (channels, height, width) — NCHW in a batch; a flat vector of
 * n features is (n, 1, 1) — and holds an ordered list of layers. Layer i reads the output of the
 * layer before it unless it names its source: any earlier layer's output or the network's input
 * (::NNLA_NET_INPUT), and an ::NNLA_LAYER_ADD layer sums two sources, so residual blocks (ResNet)
 * can be written; a chain stays the default.
 *
 * **Building** copies what it is given, so the caller's arrays may be freed afterwards. Every
 * add/insert/replace states the shapes of what it hands over (a dense weight is a view whose
 * rows and columns are checked against the network, a convolution's descriptor states its input
 * channels, a BatchNorm its features): a mismatch is ::NNLA_ESHAPE and the network is unchanged,
 * never a read past an array. Building and editing allocate; running does not.
 *
 * **Parameters** live in one contiguous block of doubles (64-byte aligned), layer after layer, each
 * layer's weight then bias in PyTorch's layout (dense W[out][in]; conv W[out][in/groups][kh][kw];
 * BatchNorm weight = gamma and bias = beta), in the order of PyTorch's `parameters()`.
 * nnla_net_params() gives the whole block, as an optimizer wants it; nnla_net_param() a view of
 * one tensor, with its offset in the block, so a gradient block of the same length has the same
 * layout. BatchNorm's running mean and variance are not parameters (an optimizer must not touch
 * them): they live in a second block, the buffers (nnla_net_buffers()), like PyTorch's `buffers()`.
 * Pointers into either block stay valid until the next structural edit (add, insert, remove,
 * replace, fold, fuse, free); writing values through them is allowed and is not an edit.
 *
 * **Running**: nnla_net_forward() runs a batch with a caller workspace and no allocation. For more,
 * a context (nnla_net_ctx_size(), nnla_net_ctx_init(), in caller memory) runs any range of layers
 * (nnla_net_run(): for example up to the penultimate layer, for features) and, with
 * ::NNLA_CTX_KEEP, keeps every layer's output, the pre-activation of dense and convolution layers
 * with a fused activation, and the argmax of max pooling: what a backward pass and feature
 * extraction need (nnla_net_ctx_tensor()).
 *
 * **Threads**: running only reads the network, so several threads may run one network at once,
 * each with its own workspace or context. (What libnnla does not do, OpenBLAS may: its
 * multithreaded GEMM driver allocates per call; see docs/performance.md.) Editing while another
 * thread runs the network is not allowed; a context made before an edit is refused afterwards
 * (::NNLA_ESTALE).
 *
 * **Layer kinds** (::NNLA_LAYER_LIST): dense, conv2d (stride, asymmetric padding, dilation, groups,
 * fused activation), pool2d (max/average, asymmetric padding, ceil_mode, count_include_pad),
 * global_avgpool, flatten (moves no data), act (softmax over the channel axis, dim=1), batchnorm
 * (inference form: running statistics), dropout (the identity at inference), add.
 */
#ifndef NNLA_NET_H
#define NNLA_NET_H

#include <stdint.h>

#include "act.h"
#include "conv.h"
#include "pool.h"

NNLA_EXTERN_C_BEGIN

/** An opaque network. */
typedef struct nnla_net nnla_net;

/** As a layer's source: the network's input. */
#define NNLA_NET_INPUT ((size_t)-1)
/** As a layer's source: the layer before it (the network's input for the first layer). */
#define NNLA_NET_PREV ((size_t)-2)

/**
 * The layer kinds, as X(enumerator, value, name). It generates ::nnla_layer_kind and the names
 * of nnla_layer_kind_name(); inside the library each kind is one entry of one table of operations
 * (shape inference, parameters, workspace, forward, what the context keeps).
 */
#define NNLA_LAYER_LIST(X)                                                                         \
    X(NNLA_LAYER_DENSE, 0, dense)                                                                  \
    X(NNLA_LAYER_CONV2D, 1, conv2d)                                                                \
    X(NNLA_LAYER_POOL2D, 2, pool2d)                                                                \
    X(NNLA_LAYER_GLOBAL_AVGPOOL, 3, global_avgpool)                                                \
    X(NNLA_LAYER_FLATTEN, 4, flatten)                                                              \
    X(NNLA_LAYER_ACT, 5, act)                                                                      \
    X(NNLA_LAYER_BATCHNORM, 6, batchnorm)                                                          \
    X(NNLA_LAYER_DROPOUT, 7, dropout)                                                              \
    X(NNLA_LAYER_ADD, 8, add)

/** Kind of a network layer (generated from ::NNLA_LAYER_LIST). */
typedef enum nnla_layer_kind {
#define NNLA_LAYER_ENUM_(e, v, name) e = v,
    NNLA_LAYER_LIST(NNLA_LAYER_ENUM_)
#undef NNLA_LAYER_ENUM_
} nnla_layer_kind;

/** Number of layer kinds (one past the last enumerator). */
#define NNLA_LAYER_KIND_COUNT 9

/** @brief The name of a kind ("dense", "conv2d", ...); NULL for an unknown kind. */
NNLA_API const char *nnla_layer_kind_name(nnla_layer_kind kind);

/**
 * A layer as handed to nnla_net_append(), nnla_net_insert() and nnla_net_replace(), and as
 * nnla_net_layer_spec() describes one. Make it with one of the nnla_layer_*() constructors and
 * change fields as needed (for example `src`); fields a kind does not use are ignored.
 * The arrays it points to are copied when the layer is added.
 */
typedef struct nnla_layer_spec {
    nnla_layer_kind kind; /**< which layer */
    size_t src;           /**< source: ::NNLA_NET_PREV (the default), ::NNLA_NET_INPUT, or an earlier layer */
    size_t src2;          /**< ADD only: the second summand (::NNLA_NET_INPUT or an earlier layer) */
    nnla_act act;         /**< DENSE, CONV2D: the fused activation; ACT: the activation */
    nnla_cmat weight;     /**< DENSE: out x in; CONV2D: out x (in/groups * kh * kw), the kernel
                               flattened (PyTorch's weight.reshape(out, -1)) */
    const double *bias;   /**< DENSE, CONV2D: out values, or NULL for none; BATCHNORM: beta (NULL: zeros) */
    nnla_conv2d_desc conv; /**< CONV2D: geometry */
    nnla_pool2d_desc pool; /**< POOL2D: geometry */
    size_t features;      /**< BATCHNORM: number of features (channels), checked against the input */
    const double *gamma;  /**< BATCHNORM: scale, or NULL for ones */
    const double *running_mean; /**< BATCHNORM: running mean, or NULL for zeros */
    const double *running_var;  /**< BATCHNORM: running variance (>= 0), or NULL for ones */
    double eps;           /**< BATCHNORM: added to the variance, > 0 (PyTorch's default 1e-5) */
    double momentum;      /**< BATCHNORM: for training, in [0, 1] (PyTorch's default 0.1) */
    double p;             /**< DROPOUT: drop probability in [0, 1) (the identity at inference) */
} nnla_layer_spec;

/**
 * @brief A dense layer y = act(x W^T + b) on the flattened sample.
 * @param w   weight, out x in; in must equal the size of the (flattened) input sample.
 * @param b   out biases, or NULL.
 * @param act the fused activation.
 */
NNLA_API nnla_layer_spec nnla_layer_dense(nnla_cmat w, const double *b, nnla_act act);

/**
 * @brief A convolution (see conv.h) with a fused activation; the weight is the contiguous
 *        [out][in/groups][kh][kw] array (its shape comes from the descriptor, whose in_channels
 *        is checked against the input).
 */
NNLA_API nnla_layer_spec nnla_layer_conv2d(const nnla_conv2d_desc *d, const double *w, const double *b,
                                           nnla_act act);

/** @brief A max or average pooling (see pool.h). */
NNLA_API nnla_layer_spec nnla_layer_pool2d(const nnla_pool2d_desc *d);

/** @brief Global average pooling: (C, H, W) -> (C, 1, 1). */
NNLA_API nnla_layer_spec nnla_layer_global_avgpool(void);

/** @brief Flatten: (C, H, W) -> (C*H*W, 1, 1); moves no data. */
NNLA_API nnla_layer_spec nnla_layer_flatten(void);

/** @brief An activation layer; softmax and log-softmax normalize over the channel axis (dim=1). */
NNLA_API nnla_layer_spec nnla_layer_act(nnla_act act);

/**
 * @brief Batch normalization over `features` channels (BatchNorm1d on (n, 1, 1) samples,
 *        BatchNorm2d on (C, H, W)): y = (x - mean) / sqrt(var + eps) * gamma + beta with the
 *        running statistics (inference form). Pointers may be NULL (gamma 1, beta 0, mean 0,
 *        var 1); eps 1e-5 and momentum 0.1 as PyTorch unless changed in the spec.
 */
NNLA_API nnla_layer_spec nnla_layer_batchnorm(size_t features, const double *gamma, const double *beta,
                                              const double *running_mean, const double *running_var);

/** @brief Dropout with probability p: the identity at inference. */
NNLA_API nnla_layer_spec nnla_layer_dropout(double p);

/**
 * @brief Elementwise sum of two sources of the same shape (a residual connection).
 * @param a, b ::NNLA_NET_PREV, ::NNLA_NET_INPUT or earlier layers' indices.
 */
NNLA_API nnla_layer_spec nnla_layer_add(size_t a, size_t b);

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
 * @brief A deep copy: the same layers, parameters and buffers, sharing nothing with the source.
 * @param net the source (only read).
 * @param out receives the copy (untouched on failure).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_ENOMEM.
 */
NNLA_API nnla_status nnla_net_clone(const nnla_net *net, nnla_net **out);

/**
 * @brief Append a layer.
 *
 * Checks, before anything changes: the kind; the source indices (earlier layers or the input);
 * shapes (a dense weight's columns equal the flattened input size; a convolution's in_channels and
 * weight view; a BatchNorm's features equal the input channels; ADD's sources have equal
 * shapes); the geometry (as nnla_conv2d_output_size() and nnla_pool2d_output_size()); the
 * activation (nnla_act_check()); parameters finite (running_var >= 0); eps > 0, momentum in
 * [0, 1], p in [0, 1); sizes within BLAS's int.
 * @return ::NNLA_OK; ::NNLA_ENULL (a required pointer: a dense or conv weight); ::NNLA_EINVAL
 *         (unknown kind, bad activation, bad eps/momentum/p, a source that is not an earlier
 *         layer); ::NNLA_ESHAPE (shapes do not match); ::NNLA_EDIM, ::NNLA_ELD (a bad weight
 *         view or geometry); ::NNLA_ENONFINITE; ::NNLA_EOVERFLOW; ::NNLA_ENOMEM. On failure the
 *         network is unchanged.
 */
NNLA_API nnla_status nnla_net_append(nnla_net *net, const nnla_layer_spec *spec);

/**
 * @brief Insert a layer before layer pos (pos == the number of layers appends).
 *
 * With src ::NNLA_NET_PREV the new layer reads what layer pos read (its first source), and layer
 * pos (now pos + 1) reads the new layer; other layers keep their sources (indices after pos shift
 * by one). An explicit src (or an ADD's src2) is an index in the network after the insertion, so it
 * must be < pos, or ::NNLA_NET_INPUT. Every shape is checked again, as in nnla_net_append().
 * @return as nnla_net_append(), plus ::NNLA_EINVAL when pos is out of range. On failure the
 *         network is unchanged.
 */
NNLA_API nnla_status nnla_net_insert(nnla_net *net, size_t pos, const nnla_layer_spec *spec);

/**
 * @brief Remove layer i; the layers that read it read its first source instead.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL (i out of range); ::NNLA_ESHAPE when a reader no
 *         longer fits (the removed layer changed the shape); ::NNLA_ENOMEM. On failure the network
 *         is unchanged.
 */
NNLA_API nnla_status nnla_net_remove(nnla_net *net, size_t i);

/**
 * @brief Replace layer i by n >= 1 layers (for example a dense layer by two dense layers, a
 *        convolution by a convolution and a 1x1 convolution).
 *
 * The new layers take indices i .. i+n-1. The first one's ::NNLA_NET_PREV is layer i's first
 * source, each next one's is the layer before it; explicit sources are indices in the network
 * after the edit (< i for layers before the replaced one, or new layers before the one naming
 * them). The layers that read layer i read the last new layer. Every shape is checked again.
 * @return as nnla_net_append(), plus ::NNLA_EINVAL for i out of range or n == 0. On failure the
 *         network is unchanged.
 */
NNLA_API nnla_status nnla_net_replace(nnla_net *net, size_t i, const nnla_layer_spec *specs, size_t n);

/**
 * @brief Fold every BatchNorm that follows a dense or convolution layer with no fused
 *        activation, and is that layer's only reader, into it:
 *        W' = W diag(s), b' = (b - mean) s + beta with s = gamma / sqrt(var + eps), then remove the
 *        BatchNorm. Outputs are unchanged up to rounding (a few ulps of each term).
 * @param net    the network.
 * @param folded receives how many BatchNorm layers were folded (may be NULL).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_ENOMEM (the network is then unchanged).
 */
NNLA_API nnla_status nnla_net_fold_batchnorm(nnla_net *net, size_t *folded);

/**
 * @brief Fuse every activation layer that follows a dense or convolution layer with no fused
 *        activation, and is that layer's only reader, into it (one pass over the output fewer).
 *        Results are bit for bit the same.
 * @param net   the network.
 * @param fused receives how many activation layers were fused (may be NULL).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_ENOMEM (the network is then unchanged).
 */
NNLA_API nnla_status nnla_net_fuse_activations(nnla_net *net, size_t *fused);

/**
 * @brief Append a dense layer (nnla_net_append() of nnla_layer_dense()).
 * @param net the network.
 * @param w   weight view, out x in (copied); in must equal the current sample size.
 * @param b   bias [out] (copied), or NULL.
 * @param act activation.
 * @return as nnla_net_append().
 */
NNLA_API nnla_status nnla_net_add_dense(nnla_net *net, nnla_cmat w, const double *b, nnla_act act);

/**
 * @brief Append a convolution (nnla_net_append() of nnla_layer_conv2d()); d->in_channels must
 *        equal the current channel count.
 * @param net the network.
 * @param d   the convolution's geometry (copied).
 * @param w   weight [out][in/groups][kh][kw] (copied).
 * @param b   bias [out] (copied), or NULL.
 * @param act activation fused into the convolution.
 * @return as nnla_net_append().
 */
NNLA_API nnla_status nnla_net_add_conv2d(nnla_net *net, const nnla_conv2d_desc *d, const double *w,
                                         const double *b, nnla_act act);

/** @brief Append a pooling (nnla_layer_pool2d()). @return as nnla_net_append(). */
NNLA_API nnla_status nnla_net_add_pool2d(nnla_net *net, const nnla_pool2d_desc *d);

/** @brief Append a global average pooling. @return as nnla_net_append(). */
NNLA_API nnla_status nnla_net_add_global_avgpool(nnla_net *net);

/** @brief Append a flatten. @return as nnla_net_append(). */
NNLA_API nnla_status nnla_net_add_flatten(nnla_net *net);

/** @brief Append an activation layer. @return as nnla_net_append(). */
NNLA_API nnla_status nnla_net_add_act(nnla_net *net, nnla_act act);

/**
 * @brief Append a BatchNorm (nnla_layer_batchnorm(), with the given eps; momentum 0.1).
 * @return as nnla_net_append().
 */
NNLA_API nnla_status nnla_net_add_batchnorm(nnla_net *net, size_t features, const double *gamma,
                                            const double *beta, const double *running_mean,
                                            const double *running_var, double eps);

/** @brief Append a dropout (identity at inference). @return as nnla_net_append(). */
NNLA_API nnla_status nnla_net_add_dropout(nnla_net *net, double p);

/**
 * @brief Append a residual sum: the last layer's output plus the output of layer `from`
 *        (or ::NNLA_NET_INPUT). @return as nnla_net_append().
 */
NNLA_API nnla_status nnla_net_add_residual(nnla_net *net, size_t from);

/** @brief The number of layers (0 for NULL). */
NNLA_API size_t nnla_net_num_layers(const nnla_net *net);

/**
 * @brief The kind of layer i.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL when i is out of range.
 */
NNLA_API nnla_status nnla_net_layer_kind(const nnla_net *net, size_t i, nnla_layer_kind *kind);

/**
 * @brief Describe layer i as a spec: its kind, sources (resolved: never ::NNLA_NET_PREV),
 *        activation, geometry, and pointers into the network's blocks for its weight, bias and
 *        BatchNorm statistics (valid until the next structural edit). Appending the specs of a
 *        network's layers in order to a new network of the same input shape rebuilds it.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL when i is out of range.
 */
NNLA_API nnla_status nnla_net_layer_spec(const nnla_net *net, size_t i, nnla_layer_spec *spec);

/**
 * @brief The per-sample input and output shapes (channels, height, width) of layer i.
 * @param net the network.
 * @param i   the layer.
 * @param in  receives the input shape (of the first source), or NULL.
 * @param out receives the output shape, or NULL.
 * @return ::NNLA_OK; ::NNLA_ENULL (net); ::NNLA_EINVAL when i is out of range.
 */
NNLA_API nnla_status nnla_net_layer_shape(const nnla_net *net, size_t i, size_t in[3], size_t out[3]);

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

/* ------------------------------------------------------------------ parameters */

/** A layer's tensors. */
typedef enum nnla_param_kind {
    NNLA_PARAM_WEIGHT = 0,       /**< dense, conv2d: the weight; batchnorm: gamma (a parameter) */
    NNLA_PARAM_BIAS = 1,         /**< dense, conv2d: the bias (when the layer has one); batchnorm: beta */
    NNLA_PARAM_RUNNING_MEAN = 2, /**< batchnorm: the running mean (a buffer, not a parameter) */
    NNLA_PARAM_RUNNING_VAR = 3   /**< batchnorm: the running variance (a buffer) */
} nnla_param_kind;

/** The largest rank of a tensor view. */
#define NNLA_TENSOR_MAX_RANK 8

/** A writable view of one of a network's tensors (see nnla_net_param()). */
typedef struct nnla_tensor {
    double *data;       /**< first element, inside the parameter or buffer block */
    size_t ndim;        /**< rank: 2 for a dense weight, 4 for a conv weight, 1 otherwise */
    size_t shape[NNLA_TENSOR_MAX_RANK]; /**< extents in PyTorch's layout; entries from ndim on are 0 */
    size_t size;        /**< number of elements */
    size_t offset;      /**< index of data[0] in its block (nnla_net_params() or nnla_net_buffers()) */
    int is_buffer;      /**< 1 for running statistics (the buffer block), 0 for parameters */
} nnla_tensor;

/**
 * @brief A writable view of one tensor of layer i. The view is valid until the next structural
 *        edit; writes through it change the network (they are not checked: keep them finite).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL when i is out of range, `which` is unknown or
 *         the layer has no such tensor (a layer without bias, a pooling layer, ...).
 */
NNLA_API nnla_status nnla_net_param(nnla_net *net, size_t i, nnla_param_kind which, nnla_tensor *t);

/**
 * @brief Copy one tensor of layer i out: count must equal its size.
 * @return as nnla_net_param(), plus ::NNLA_ESHAPE when count differs; dst untouched on failure.
 */
NNLA_API nnla_status nnla_net_get_param(const nnla_net *net, size_t i, nnla_param_kind which, double *dst,
                                        size_t count);

/**
 * @brief Copy values into one tensor of layer i, checked: count must equal its size, values
 *        finite, a running variance >= 0.
 * @return as nnla_net_param(), plus ::NNLA_ESHAPE (count), ::NNLA_ENONFINITE, ::NNLA_EINVAL
 *         (a negative variance). On failure the network is unchanged.
 */
NNLA_API nnla_status nnla_net_set_param(nnla_net *net, size_t i, nnla_param_kind which, const double *src,
                                        size_t count);

/**
 * @brief The parameter block: every trainable value, layer after layer, weight then bias, as one
 *        contiguous array (64-byte aligned); NULL and 0 for a network without parameters.
 * @param net   the network.
 * @param data  receives the block (may be NULL to ask only for the count).
 * @param count receives its length.
 * @return ::NNLA_OK; ::NNLA_ENULL (net or count).
 */
NNLA_API nnla_status nnla_net_params(nnla_net *net, double **data, size_t *count);

/** @brief The number of trainable parameters (0 for NULL). */
NNLA_API size_t nnla_net_num_params(const nnla_net *net);

/**
 * @brief The buffer block: BatchNorm's running means and variances, layer after layer (mean then
 *        variance); NULL and 0 when there are none.
 * @return ::NNLA_OK; ::NNLA_ENULL (net or count).
 */
NNLA_API nnla_status nnla_net_buffers(nnla_net *net, double **data, size_t *count);

/* ------------------------------------------------------------------ running */

/**
 * @brief Workspace, in bytes, for nnla_net_forward() on a batch (the size of a context without
 *        flags, nnla_net_ctx_size()), with room for any alignment of the caller's pointer.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM (batch 0 or no layers); ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_net_workspace_size(const nnla_net *net, size_t batch, size_t *bytes);

/**
 * @brief Run a batch through every layer. Performs no allocation.
 * @param net    the network (only read).
 * @param batch  number of samples, >= 1.
 * @param x      input, batch samples of the input shape, NCHW contiguous.
 * @param y      output, batch samples of the output shape; must not overlap x or work.
 * @param work   workspace, any alignment; must not overlap x or y.
 * @param work_size its size in bytes: nnla_net_workspace_size() for the fastest run, at least
 *               the minimum of nnla_net_ctx_size() (convolutions then work in smaller tiles).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM (batch 0 or no layers); ::NNLA_EWORKSPACE
 *         (work_size below the minimum); ::NNLA_EALIAS (y overlaps x or work, or x overlaps work);
 *         ::NNLA_EOVERFLOW. On failure y is untouched.
 */
NNLA_API nnla_status nnla_net_forward(const nnla_net *net, size_t batch, const double *x, double *y,
                                      void *work, size_t work_size);

/** A context: the memory of forward passes of up to its batch size, in caller memory. */
typedef struct nnla_net_ctx nnla_net_ctx;

/** Context flag: keep every layer's output, pre-activations and max-pooling argmax. */
#define NNLA_CTX_KEEP 1u

/**
 * @brief The size of a context for batches of up to `batch` samples.
 * @param net       the network.
 * @param batch     the largest batch the context will run, >= 1.
 * @param flags     0 (inference: buffers reused as soon as they are dead) or ::NNLA_CTX_KEEP.
 * @param bytes     receives the size for the fastest run (untiled convolutions).
 * @param min_bytes receives the smallest size nnla_net_ctx_init() accepts (may be NULL).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM (batch 0 or no layers); ::NNLA_EINVAL (unknown
 *         flags); ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_net_ctx_size(const nnla_net *net, size_t batch, unsigned flags, size_t *bytes,
                                       size_t *min_bytes);

/**
 * @brief Lay a context out in caller memory (no allocation). The context belongs to this network
 *        as it is now: after a structural edit it is refused (::NNLA_ESTALE); make a new one.
 * @param net   the network.
 * @param batch the largest batch, >= 1.
 * @param flags as for nnla_net_ctx_size().
 * @param mem   memory of at least the minimum size, any alignment; it holds the context until the
 *              caller reuses it (nothing to free).
 * @param bytes its size; what exceeds the fixed part goes to the convolutions' tiles.
 * @param ctx   receives the context (a pointer into mem); untouched on failure.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM; ::NNLA_EINVAL; ::NNLA_EWORKSPACE (bytes below the
 *         minimum); ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_net_ctx_init(const nnla_net *net, size_t batch, unsigned flags, void *mem,
                                       size_t bytes, nnla_net_ctx **ctx);

/**
 * @brief Run layers first .. last (inclusive) on a batch with a context.
 *
 * x is the input of layer `first` (its first source's shape); y receives the output of layer
 * `last`. With ::NNLA_CTX_KEEP every layer's output in the range stays in the context, y may
 * then be NULL (read the output with nnla_net_ctx_tensor()), and layers in the range may read the
 * kept outputs of layers before `first` from an earlier run; without it, a layer in the range may
 * read only layers in the range or layer first's source (::NNLA_EUNSUPPORTED otherwise), and
 * an ADD cannot be first. Running 0 .. n-1 equals nnla_net_forward() bit for bit.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM (batch 0 or above the context's); ::NNLA_EINVAL
 *         (first > last, last out of range); ::NNLA_ESTALE; ::NNLA_EUNSUPPORTED; ::NNLA_EALIAS
 *         (y overlaps x or the context). On failure y is untouched.
 */
NNLA_API nnla_status nnla_net_run(const nnla_net *net, nnla_net_ctx *ctx, size_t batch, size_t first,
                                  size_t last, const double *x, double *y);

/** What a context keeps of a layer. */
typedef enum nnla_ctx_slot {
    NNLA_CTX_OUTPUT = 0, /**< the layer's output (batch x output shape) */
    NNLA_CTX_PREACT = 1  /**< dense and conv2d with a fused activation: the output before it */
} nnla_ctx_slot;

/**
 * @brief A view of what a ::NNLA_CTX_KEEP context holds of layer i after nnla_net_run(): shape
 *        [batch][C][H][W] (ndim 4, batch of the last run), offset 0, is_buffer 0.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL (i out of range, unknown slot, a layer without a
 *         pre-activation, a context without ::NNLA_CTX_KEEP, or i not run yet); ::NNLA_ESTALE.
 */
NNLA_API nnla_status nnla_net_ctx_tensor(const nnla_net *net, const nnla_net_ctx *ctx, size_t i,
                                         nnla_ctx_slot which, nnla_tensor *t);

/**
 * @brief The argmax a ::NNLA_CTX_KEEP context keeps of a max-pooling layer i: for each output
 *        entry, the index of the chosen entry within its input plane (iy * in_w + ix).
 * @param net, ctx, i  the network, context and layer.
 * @param idx   receives a pointer into the context.
 * @param count receives the number of entries (batch x output size).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL (not a max pooling, no KEEP, not run); ::NNLA_ESTALE.
 */
NNLA_API nnla_status nnla_net_ctx_argmax(const nnla_net *net, const nnla_net_ctx *ctx, size_t i,
                                         const uint32_t **idx, size_t *count);

NNLA_EXTERN_C_END

#endif /* NNLA_NET_H */
