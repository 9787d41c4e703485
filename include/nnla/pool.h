/**
 * @file nnla/pool.h
 * @brief Max and average pooling, global average pooling, on NCHW batches.
 *
 * out_h = (in_h + 2 pad_h - kernel_h) / stride_h + 1 (likewise w), as in PyTorch
 * with ceil_mode=False. Max pooling treats padding as -Inf (it is never chosen);
 * average pooling counts padded zeros in the divisor (PyTorch's default
 * count_include_pad=True). Padding may be at most half the kernel, as in PyTorch.
 * NaN policy: a NaN in a window gives NaN for that output (max pooling too).
 */
#ifndef NNLA_POOL_H
#define NNLA_POOL_H

#include "mat.h"

NNLA_EXTERN_C_BEGIN

/** Kind of pooling. */
typedef enum nnla_pool_kind {
    NNLA_POOL_MAX = 0, /**< maximum over the window */
    NNLA_POOL_AVG = 1  /**< mean over the window, padding included */
} nnla_pool_kind;

/** The geometry of a 2-D pooling. */
typedef struct nnla_pool2d_desc {
    nnla_pool_kind kind; /**< max or average */
    size_t kernel_h;     /**< window height, >= 1 */
    size_t kernel_w;     /**< window width, >= 1 */
    size_t stride_h;     /**< vertical stride, >= 1 (PyTorch's default is the kernel size) */
    size_t stride_w;     /**< horizontal stride, >= 1 */
    size_t pad_h;        /**< padding, <= kernel_h / 2 */
    size_t pad_w;        /**< padding, <= kernel_w / 2 */
} nnla_pool2d_desc;

/**
 * @brief The output size of a pooling, checking the descriptor.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for an unknown kind or padding larger
 *         than half the kernel; ::NNLA_EDIM for a zero size or stride; ::NNLA_ESHAPE when
 *         the window is larger than the padded input.
 */
NNLA_API nnla_status nnla_pool2d_output_size(const nnla_pool2d_desc *d, size_t in_h, size_t in_w,
                                             size_t *out_h, size_t *out_w);

/**
 * @brief y = pool(x) on [batch][channels][in_h][in_w] into [batch][channels][out_h][out_w].
 * @return as nnla_pool2d_output_size(), plus ::NNLA_EDIM for a zero batch or channel
 *         count, ::NNLA_EOVERFLOW when a size in bytes overflows and ::NNLA_EALIAS when
 *         y overlaps x (it must not).
 */
NNLA_API nnla_status nnla_pool2d_forward(const nnla_pool2d_desc *d, size_t batch, size_t channels,
                                         size_t in_h, size_t in_w, const double *x, double *y);

/**
 * @brief Global average pooling: y[n][c] = mean of x[n][c][:][:] (y is [batch][channels]).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM for a zero size; ::NNLA_EOVERFLOW;
 *         ::NNLA_EALIAS when y overlaps x.
 */
NNLA_API nnla_status nnla_global_avgpool2d(size_t batch, size_t channels, size_t h, size_t w,
                                           const double *x, double *y);

NNLA_EXTERN_C_END

#endif /* NNLA_POOL_H */
