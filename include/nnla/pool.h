/**
 * @file nnla/pool.h
 * @brief Max and average pooling, global average pooling, and their backward passes, on NCHW
 *        batches.
 *
 * Windows and output sizes are PyTorch's (torch.nn.functional.max_pool2d / avg_pool2d), with
 * padding that may differ on each side, as ONNX's `pads`:
 *
 *     out_h = (in_h + pad_top + pad_bottom - kernel_h + (ceil_mode ? stride_h - 1 : 0)) / stride_h + 1,
 *
 * and in ceil mode, one less when the last window would start past the input and the top padding
 * (at or beyond in_h + pad_top): every window starts inside the input or the leading padding.
 * Likewise for w. The window of output (oy, ox) covers the padded rows [oy stride_h, oy stride_h +
 * kernel_h), i.e. the input rows from oy stride_h - pad_top, clipped to the input.
 *
 * Max pooling treats padding as -Inf (it is never chosen). Average pooling divides by the window
 * clipped to the padded input (count_include_pad = 1, PyTorch's default: padded zeros count, the
 * part of a ceil-mode window hanging past the padding does not) or by the number of input
 * entries in the window (count_include_pad = 0, ONNX's default).
 *
 * Padding: each pad is smaller than the kernel along its axis (ONNX's rule), so every window holds
 * at least one input entry. PyTorch's own rule (pad at most half the kernel) is stricter: every
 * PyTorch pooling is accepted.
 *
 * NaN policy: a NaN in a window gives NaN for that output (max pooling too, as PyTorch); max
 * pooling's argmax is then the last NaN of the window in row-major order, as PyTorch's; on ties
 * the first maximum is taken.
 *
 * Threads (docs/guide.md, "Threads"): each pass is a loop over the batch x channels planes; large
 * enough passes deal the planes out over the threads nnla_num_threads() gives (shared with the
 * program's other threads calling libnnla). Each plane is computed as on one thread, so results
 * are bit-identical for any thread count. No workspace, no state: threads may call at once.
 */
#ifndef NNLA_POOL_H
#define NNLA_POOL_H

#include <stdint.h>

#include "mat.h"

NNLA_EXTERN_C_BEGIN

/** Kind of pooling. */
typedef enum nnla_pool_kind {
    NNLA_POOL_MAX = 0, /**< maximum over the window */
    NNLA_POOL_AVG = 1  /**< mean over the window (see nnla_pool2d_desc::count_include_pad) */
} nnla_pool_kind;

/** The geometry of a 2-D pooling. nnla_pool2d_desc_make() gives PyTorch's defaults. */
typedef struct nnla_pool2d_desc {
    nnla_pool_kind kind;   /**< max or average */
    size_t kernel_h;       /**< window height, >= 1 */
    size_t kernel_w;       /**< window width, >= 1 */
    size_t stride_h;       /**< vertical stride, >= 1 (PyTorch's default is the kernel size) */
    size_t stride_w;       /**< horizontal stride, >= 1 */
    size_t pad_top;        /**< padding above, < kernel_h */
    size_t pad_bottom;     /**< padding below, < kernel_h */
    size_t pad_left;       /**< padding left, < kernel_w */
    size_t pad_right;      /**< padding right, < kernel_w */
    int ceil_mode;         /**< 0: floor the output size (PyTorch's default); 1: ceil it */
    int count_include_pad; /**< average pooling's divisor: 1 counts padded zeros (PyTorch's default),
                                0 only input entries (ONNX's default); ignored by max pooling */
} nnla_pool2d_desc;

/**
 * @brief PyTorch's defaults for a kernel: stride = kernel, no padding, floor mode,
 *        count_include_pad = 1.
 */
NNLA_API nnla_pool2d_desc nnla_pool2d_desc_make(nnla_pool_kind kind, size_t kernel_h, size_t kernel_w);

/**
 * @brief The output size of a pooling, checking the descriptor.
 * @param d            descriptor.
 * @param in_h, in_w   input size, >= 1.
 * @param out_h, out_w receive the output size.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for an unknown kind, a pad not smaller than
 *         the kernel, or ceil_mode / count_include_pad other than 0 or 1; ::NNLA_EDIM for a zero
 *         size or stride; ::NNLA_ESHAPE when no window fits (the kernel is larger than the padded
 *         input, plus stride - 1 in ceil mode); ::NNLA_EOVERFLOW.
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
 * @brief Max pooling that also keeps, per output, where its maximum came from: y as
 *        nnla_pool2d_forward(), and argmax[n][c][oy][ox] = iy*in_w + ix, the index of the chosen
 *        entry within its input plane x[n][c] (PyTorch's return_indices).
 *
 * What nnla_pool2d_backward() needs for max pooling. NaN and ties as the forward: the last NaN of
 * a window, else its first maximum; a window of -Inf only gives its first input entry.
 * @param d      descriptor; its kind must be ::NNLA_POOL_MAX.
 * @param batch, channels, in_h, in_w  input size.
 * @param x      input [batch][channels][in_h][in_w].
 * @param y      output [batch][channels][out_h][out_w]; must not overlap x.
 * @param argmax output [batch][channels][out_h][out_w]; must not overlap x or y.
 * @return as nnla_pool2d_forward(), plus ::NNLA_ENULL for a NULL argmax, ::NNLA_EINVAL for a
 *         descriptor that is not max pooling, ::NNLA_EOVERFLOW when in_h*in_w exceeds
 *         UINT32_MAX and ::NNLA_EALIAS when argmax overlaps x or y.
 */
NNLA_API nnla_status nnla_pool2d_forward_argmax(const nnla_pool2d_desc *d, size_t batch, size_t channels,
                                                size_t in_h, size_t in_w, const double *x, double *y,
                                                uint32_t *argmax);

/**
 * @brief dx = the gradient of a pooling's input given dy, the gradient of its output.
 *
 * Max pooling: each dy entry is added to the input entry its argmax names (entries chosen by
 * several windows get the sum). Average pooling: each dy entry, divided by its window's divisor
 * (as the forward's, by count_include_pad), is added to every input entry of the window; argmax
 * is ignored and may be NULL. dx is overwritten.
 * @param d      descriptor (of the forward pass).
 * @param batch, channels, in_h, in_w  the forward's input size.
 * @param dy     [batch][channels][out_h][out_w].
 * @param argmax for max pooling, nnla_pool2d_forward_argmax()'s output; every entry must lie
 *               in its output's window (checked before any work).
 * @param dx     output [batch][channels][in_h][in_w]; must not overlap dy or argmax.
 * @return as nnla_pool2d_forward(), plus ::NNLA_ENULL for a NULL argmax with max pooling,
 *         ::NNLA_EINVAL for an argmax entry outside its window, ::NNLA_EOVERFLOW when in_h*in_w
 *         exceeds UINT32_MAX (max pooling), ::NNLA_EALIAS when dx overlaps dy or argmax.
 */
NNLA_API nnla_status nnla_pool2d_backward(const nnla_pool2d_desc *d, size_t batch, size_t channels,
                                          size_t in_h, size_t in_w, const double *dy, const uint32_t *argmax,
                                          double *dx);

/**
 * @brief Global average pooling: y[n][c] = mean of x[n][c][:][:] (y is [batch][channels]).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM for a zero size; ::NNLA_EOVERFLOW;
 *         ::NNLA_EALIAS when y overlaps x.
 */
NNLA_API nnla_status nnla_global_avgpool2d(size_t batch, size_t channels, size_t h, size_t w,
                                           const double *x, double *y);

/**
 * @brief The backward pass of nnla_global_avgpool2d(): dx[n][c][:][:] = dy[n][c] / (h w).
 * @param batch, channels, h, w  the forward's input size.
 * @param dy  [batch][channels].
 * @param dx  output [batch][channels][h][w]; must not overlap dy.
 * @return as nnla_global_avgpool2d() (::NNLA_EALIAS when dx overlaps dy).
 */
NNLA_API nnla_status nnla_global_avgpool2d_backward(size_t batch, size_t channels, size_t h, size_t w,
                                                    const double *dy, double *dx);

NNLA_EXTERN_C_END

#endif /* NNLA_POOL_H */
