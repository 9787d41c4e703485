/**
 * @file nnla/conv.h
 * @brief 2-D convolution by im2col and GEMM, on NCHW batches.
 *
 * Convolution here is cross-correlation, as in the paper's sliding dot product and
 * in every framework (torch.nn.functional.conv2d): the kernel is not flipped.
 *
 * Layouts are PyTorch's: input x is [batch][in_channels][in_h][in_w], weight w is
 * [out_channels][in_channels/groups][kernel_h][kernel_w], bias is [out_channels],
 * output y is [batch][out_channels][out_h][out_w], all contiguous, with
 * out_h = (in_h + 2 pad_h - dilation_h (kernel_h - 1) - 1) / stride_h + 1 (likewise w).
 *
 * nnla_im2col() writes the paper's sliding dot products as a matrix: the column
 * matrix of one image has in_channels*kernel_h*kernel_w rows and out_h*out_w
 * columns; the convolution of group g is then W_g (out/groups x K) times it.
 *
 * Memory: nnla_conv2d_forward() does not allocate. It takes a caller workspace for
 * the column matrix; nnla_conv2d_workspace_size() gives the size for the fastest,
 * untiled path. A smaller workspace (at least nnla_conv2d_workspace_min()) makes
 * it work in tiles of output rows, so memory stays bounded on large images.
 * A 1x1, stride-1, unpadded convolution is a plain GEMM and needs no workspace.
 *
 * NaN/Inf policy: nothing is scanned. Values propagate as IEEE arithmetic makes them:
 * a NaN input entry gives NaN in exactly the outputs whose window covers it (whatever
 * the weight, 0 included), through the bias and the activation (ReLU keeps NaN); an
 * Inf gives +-Inf or NaN there. A non-finite weight or bias spoils its output channel.
 *
 * Threads: the GEMMs run on OpenBLAS's threads (its global thread count); everything
 * else runs on the calling thread. The functions keep no state, so threads may call
 * them at once with separate outputs and workspaces.
 */
#ifndef NNLA_CONV_H
#define NNLA_CONV_H

#include "act.h"
#include "mat.h"

NNLA_EXTERN_C_BEGIN

/** The geometry of a 2-D convolution (independent of batch and image size). */
typedef struct nnla_conv2d_desc {
    size_t in_channels;  /**< input channels, divisible by groups */
    size_t out_channels; /**< output channels, divisible by groups */
    size_t kernel_h;     /**< kernel height, >= 1 */
    size_t kernel_w;     /**< kernel width, >= 1 */
    size_t stride_h;     /**< vertical stride, >= 1 */
    size_t stride_w;     /**< horizontal stride, >= 1 */
    size_t pad_h;        /**< zero padding above and below */
    size_t pad_w;        /**< zero padding left and right */
    size_t dilation_h;   /**< vertical dilation, >= 1 */
    size_t dilation_w;   /**< horizontal dilation, >= 1 */
    size_t groups;       /**< groups, >= 1; groups == in_channels == out_channels is depthwise */
} nnla_conv2d_desc;

/**
 * @brief A descriptor with stride 1, no padding, dilation 1 and one group.
 */
NNLA_API nnla_conv2d_desc nnla_conv2d_desc_make(size_t in_channels, size_t out_channels,
                                                size_t kernel_h, size_t kernel_w);

/**
 * @brief The output size of a convolution, checking the descriptor.
 * @param d            descriptor.
 * @param in_h, in_w   input image size, >= 1.
 * @param out_h, out_w receive the output size.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM for a zero size, stride or dilation, or
 *         groups that do not divide the channels; ::NNLA_ESHAPE when the dilated kernel
 *         is larger than the padded input; ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_conv2d_output_size(const nnla_conv2d_desc *d, size_t in_h, size_t in_w,
                                             size_t *out_h, size_t *out_w);

/**
 * @brief Workspace, in bytes, for the fastest (untiled) nnla_conv2d_forward().
 *        0 for a 1x1, stride-1, unpadded convolution.
 *
 * The fastest path bounds its own memory: it builds the column matrix of several small
 * images at once (one wider GEMM, plus a scratch block for its result), or of bands of
 * output rows of a large image, so the column matrix stays within about 16 MiB rather
 * than growing with the batch or the image. With stride_h 1 and enough channels it also
 * holds a copy of the weights regrouped by kernel row (the kernel-row split, see
 * docs/conv.md), so the size grows with the weights' size too.
 * @param d      descriptor.
 * @param batch  number of images, >= 1 (small images are batched per GEMM).
 * @param in_h, in_w  input image size.
 * @param bytes  receives the size.
 * @return as nnla_conv2d_output_size(), plus ::NNLA_EDIM for a zero batch and
 *         ::NNLA_EOVERFLOW when a GEMM dimension exceeds BLAS's int.
 */
NNLA_API nnla_status nnla_conv2d_workspace_size(const nnla_conv2d_desc *d, size_t batch, size_t in_h,
                                                size_t in_w, size_t *bytes);

/**
 * @brief The smallest workspace, in bytes, nnla_conv2d_forward() accepts: the column
 *        matrix of one output row of one group, plus (when pad_w > 0) the input rows it
 *        reads for one channel, padded left and right, plus alignment slack. 0 for a 1x1,
 *        stride-1, unpadded one.
 * @return as nnla_conv2d_output_size(), plus ::NNLA_EOVERFLOW when a GEMM dimension
 *         exceeds BLAS's int.
 */
NNLA_API nnla_status nnla_conv2d_workspace_min(const nnla_conv2d_desc *d, size_t in_h, size_t in_w,
                                               size_t *bytes);

/**
 * @brief y = act(conv2d(x, w) + bias) on an NCHW batch.
 *
 * @param d      descriptor.
 * @param batch  number of images, >= 1.
 * @param in_h, in_w  input image size.
 * @param x      input [batch][in_channels][in_h][in_w].
 * @param w      weight [out_channels][in_channels/groups][kernel_h][kernel_w].
 * @param bias   [out_channels], or NULL.
 * @param act    activation; a row-wise kind (softmax, log-softmax) is applied over the
 *               output channels of each pixel (PyTorch's dim=1), as a network's softmax layer
 *               and nnla_act_forward_nchw() do.
 * @param y      output [batch][out_channels][out_h][out_w]; must not overlap the inputs.
 * @param work   workspace (may be NULL when work_size is 0), not overlapping the rest;
 *               any alignment.
 * @param work_size its size in bytes; below nnla_conv2d_workspace_size() the
 *               convolution is tiled over output rows (same results up to rounding).
 * @return ::NNLA_OK; ::NNLA_ENULL (also for a NULL work with work_size > 0);
 *         ::NNLA_EDIM (also for a zero batch), ::NNLA_ESHAPE, ::NNLA_EOVERFLOW (also when
 *         a size in bytes overflows or a GEMM dimension exceeds BLAS's int) as in
 *         nnla_conv2d_output_size(); ::NNLA_EINVAL for a bad activation (nnla_act_check());
 *         ::NNLA_EALIAS when y overlaps x, w or bias, or the workspace overlaps any of them;
 *         ::NNLA_EWORKSPACE below nnla_conv2d_workspace_min().
 *         The sizes of x, w, bias and y are implied by the arguments: the library cannot
 *         see a buffer that is too short, so size them from nnla_conv2d_output_size().
 */
NNLA_API nnla_status nnla_conv2d_forward(const nnla_conv2d_desc *d, size_t batch, size_t in_h,
                                         size_t in_w, const double *x, const double *w,
                                         const double *bias, nnla_act act, double *y, void *work,
                                         size_t work_size);

/**
 * @brief The column matrix of one image: col[(c*kh + i)*kw + j][oy*out_w + ox] =
 *        x[c][oy*stride_h - pad_h + i*dilation_h][ox*stride_w - pad_w + j*dilation_w],
 *        0 outside the image.
 *
 * Uses in_channels, kernel, stride, padding and dilation of d; ignores
 * out_channels and groups (they must still be valid).
 * @param d      descriptor.
 * @param in_h, in_w  image size.
 * @param x      one image [in_channels][in_h][in_w].
 * @param col    output, (in_channels*kernel_h*kernel_w) x (out_h*out_w), contiguous;
 *               must not overlap x.
 * @return as nnla_conv2d_output_size(), plus ::NNLA_EOVERFLOW when the column matrix's
 *         size in bytes overflows and ::NNLA_EALIAS when col overlaps x.
 */
NNLA_API nnla_status nnla_im2col(const nnla_conv2d_desc *d, size_t in_h, size_t in_w, const double *x,
                                 double *col);

/**
 * @brief The adjoint of nnla_im2col(): x = sum of the column entries back into the
 *        image positions they were copied from (x is overwritten, not accumulated
 *        into). This is the gradient of im2col, used by a convolution's backward pass.
 * @return as nnla_im2col().
 */
NNLA_API nnla_status nnla_col2im(const nnla_conv2d_desc *d, size_t in_h, size_t in_w, const double *col,
                                 double *x);

NNLA_EXTERN_C_END

#endif /* NNLA_CONV_H */
