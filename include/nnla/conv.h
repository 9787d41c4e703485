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
 * out_h = (in_h + pad_top + pad_bottom - dilation_h (kernel_h - 1) - 1) / stride_h + 1 and
 * out_w = (in_w + pad_left + pad_right - dilation_w (kernel_w - 1) - 1) / stride_w + 1.
 * Padding may differ on each side, as ONNX's `pads`; PyTorch's symmetric `padding=(ph, pw)`
 * is pad_top = pad_bottom = ph, pad_left = pad_right = pw.
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
 * Backward passes: nnla_conv2d_backward_data() (the gradient with respect to the input: the
 * adjoint of the convolution applied to dy, a GEMM with the transposed weights and col2im) and
 * nnla_conv2d_backward_weights() (the gradients of the weight and the bias, a GEMM with the
 * column matrix). Like the forward they do not allocate, take a workspace sized by their own
 * queries and work in tiles below the preferred size.
 *
 * NaN/Inf policy: nothing is scanned. Values propagate as IEEE arithmetic makes them:
 * a NaN input entry gives NaN in exactly the outputs whose window covers it (whatever
 * the weight, 0 included), through the bias and the activation (ReLU keeps NaN); an
 * Inf gives +-Inf or NaN there. A non-finite weight or bias spoils its output channel.
 *
 * Threads (docs/guide.md, "Threads"): a call uses the threads nnla_num_threads() gives (shared
 * with the program's other threads calling libnnla at the same time). With Debian's OpenMP
 * OpenBLAS, the batch is dealt out in contiguous runs of images, each thread running im2col, a
 * one-thread GEMM and the epilogue for its own images in its own slice of the workspace; with
 * fewer images than threads (batch 1), the threads share each chunk (im2col by input channels,
 * the GEMM by output columns or channels). With another OpenBLAS (the pthread build) the call's
 * own loops run on the calling thread and each GEMM on OpenBLAS's threads. The workspace queries
 * report what the fastest run needs with the threads a call from this thread would get now; a
 * smaller workspace (down to the minimum) uses fewer slices or a shared one, never fails for it.
 * nnla_conv2d_forward() and nnla_conv2d_backward_data() give bit-identical results for any
 * thread count (with the OpenMP OpenBLAS); nnla_conv2d_backward_weights() sums per-thread partial
 * gradients in a fixed thread order, so dw depends on the thread count (within rounding) but not
 * on scheduling, and db is bit-identical for any count. The functions keep no state, so threads
 * may call them at once with separate outputs and workspaces.
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
    size_t pad_top;      /**< zero rows added above the image */
    size_t pad_bottom;   /**< zero rows added below the image */
    size_t pad_left;     /**< zero columns added left of the image */
    size_t pad_right;    /**< zero columns added right of the image */
    size_t dilation_h;   /**< vertical dilation, >= 1 */
    size_t dilation_w;   /**< horizontal dilation, >= 1 */
    size_t groups;       /**< groups, >= 1; groups == in_channels == out_channels is depthwise */
} nnla_conv2d_desc;

/**
 * @brief A descriptor with stride 1, no padding, dilation 1 and one group.
 *
 * The other fields are then set by name (`d.pad_top = d.pad_bottom = d.pad_left =
 * d.pad_right = 1` for PyTorch's `padding=1`).
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
 * @brief Workspace, in bytes, for the fastest (untiled) nnla_conv2d_forward() with the threads a
 *        call from this thread would get now (nnla_num_threads()): one slice per thread when the
 *        batch is dealt out. 0 for a 1x1, stride-1, unpadded convolution.
 *
 * The fastest path bounds its own memory: it builds the column matrix of several small
 * images at once (one wider GEMM, plus a scratch block for its result), or of bands of
 * output rows of a large image, so the column matrix stays under a fixed cap (docs/conv.md)
 * rather than growing with the batch or the image. With stride_h 1 and enough channels it also
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
 *        matrix of one output row of one group, plus (when pad_left or pad_right > 0) the
 *        input rows it reads for one channel, padded left and right, plus alignment slack.
 *        0 for a 1x1, stride-1, unpadded one.
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
 *         ::NNLA_EWORKSPACE below nnla_conv2d_workspace_min(); ::NNLA_EINTERNAL only for a
 *         state the code cannot reach (a bug).
 *         The sizes of x, w, bias and y are implied by the arguments: the library cannot
 *         see a buffer that is too short, so size them from nnla_conv2d_output_size().
 */
NNLA_API nnla_status nnla_conv2d_forward(const nnla_conv2d_desc *d, size_t batch, size_t in_h,
                                         size_t in_w, const double *x, const double *w,
                                         const double *bias, nnla_act act, double *y, void *work,
                                         size_t work_size);

/**
 * @brief Workspace, in bytes, for the fastest (untiled) nnla_conv2d_backward_data() with the
 *        threads a call from this thread would get now (nnla_num_threads()). 0 for a 1x1,
 *        stride-1, unpadded convolution.
 *
 * Bounded like the forward's (nnla_conv2d_workspace_size()): the column matrix of a chunk
 * (several small images, or a band of output rows of one image), plus, for several images,
 * a block gathering their dy, plus, for the kernel-row split, the weights regrouped by kernel
 * row (see docs/conv.md).
 * @param d      descriptor.
 * @param batch  number of images, >= 1.
 * @param in_h, in_w  input image size.
 * @param bytes  receives the size.
 * @return as nnla_conv2d_workspace_size().
 */
NNLA_API nnla_status nnla_conv2d_backward_data_workspace_size(const nnla_conv2d_desc *d, size_t batch,
                                                              size_t in_h, size_t in_w, size_t *bytes);

/**
 * @brief The smallest workspace, in bytes, nnla_conv2d_backward_data() accepts: the column
 *        matrix of one output row of one group plus alignment slack (0 for a 1x1, stride-1,
 *        unpadded convolution).
 * @return as nnla_conv2d_workspace_min().
 */
NNLA_API nnla_status nnla_conv2d_backward_data_workspace_min(const nnla_conv2d_desc *d, size_t in_h,
                                                             size_t in_w, size_t *bytes);

/**
 * @brief dx = the gradient of a convolution's output with respect to its input: the adjoint
 *        of x -> conv2d(x, w) applied to dy.
 *
 * Per image and group, col = W_g^T dy_g (one GEMM: (in/groups*kh*kw) x (out/groups) times
 * (out/groups) x (out_h*out_w)), then col2im adds col back into the positions the forward's
 * im2col read (padding is dropped). dx is overwritten. Stride, dilation, groups and asymmetric
 * padding are handled as in the forward; input positions that no window reads (a ragged edge
 * with stride > 1) get 0. The bias and the activation play no part: pass the gradient with
 * respect to the convolution's pre-activation output (nnla_act_backward_nchw() gives it).
 *
 * @param d      descriptor.
 * @param batch  number of images, >= 1.
 * @param in_h, in_w  input image size.
 * @param dy     gradient of the output, [batch][out_channels][out_h][out_w].
 * @param w      weight [out_channels][in_channels/groups][kernel_h][kernel_w].
 * @param dx     output [batch][in_channels][in_h][in_w]; must not overlap dy or w.
 * @param work   workspace (may be NULL when work_size is 0), not overlapping the rest; any alignment.
 * @param work_size its size in bytes; below nnla_conv2d_backward_data_workspace_size() the pass
 *               works in bands of output rows (same results up to rounding).
 * @return ::NNLA_OK; ::NNLA_ENULL (also for a NULL work with work_size > 0); ::NNLA_EDIM,
 *         ::NNLA_ESHAPE, ::NNLA_EOVERFLOW as nnla_conv2d_forward(); ::NNLA_EALIAS when dx
 *         overlaps dy or w, or the workspace overlaps any of them; ::NNLA_EWORKSPACE below
 *         nnla_conv2d_backward_data_workspace_min(); ::NNLA_EINTERNAL as the forward's. A failed
 *         call writes nothing.
 */
NNLA_API nnla_status nnla_conv2d_backward_data(const nnla_conv2d_desc *d, size_t batch, size_t in_h,
                                               size_t in_w, const double *dy, const double *w, double *dx,
                                               void *work, size_t work_size);

/**
 * @brief Workspace, in bytes, for the fastest (untiled) nnla_conv2d_backward_weights() with the
 *        threads a call from this thread would get now (nnla_num_threads()). For a 1x1,
 *        stride-1, unpadded convolution: 0 on one thread, else the other threads' partial
 *        gradients.
 *
 * The column matrix of a chunk as in the forward (with its padded row buffer), plus, for
 * several images per GEMM, a block gathering their dy, plus, for the kernel-row split, one
 * group's weight gradient regrouped by kernel row; one such slice per thread when the batch is
 * dealt out, plus a partial weight gradient for each thread but the first.
 * @return as nnla_conv2d_workspace_size().
 */
NNLA_API nnla_status nnla_conv2d_backward_weights_workspace_size(const nnla_conv2d_desc *d, size_t batch,
                                                                 size_t in_h, size_t in_w, size_t *bytes);

/**
 * @brief The smallest workspace, in bytes, nnla_conv2d_backward_weights() accepts: the same as
 *        nnla_conv2d_workspace_min() (one output row of one group's column matrix, plus the
 *        padded input rows it reads when pad_left or pad_right > 0).
 * @return as nnla_conv2d_workspace_min().
 */
NNLA_API nnla_status nnla_conv2d_backward_weights_workspace_min(const nnla_conv2d_desc *d, size_t in_h,
                                                                size_t in_w, size_t *bytes);

/**
 * @brief dw = sum over the batch of dy_g col_g^T per group (the gradient of the convolution's
 *        output with respect to its weight), db = the sum of dy over the batch and the pixels.
 *
 * col_g is the column matrix of the image's group g (nnla_im2col()); one GEMM per chunk of
 * images or output rows, accumulating over the batch. dw and db are overwritten, not added to.
 *
 * With T threads dealing out the batch, thread t accumulates its images' dw into its own partial
 * (thread 0's is dw itself, the others' live in the workspace: this query counts them), and dw
 * is then the sum of the partials in thread order 0, 1, ..., T-1, entry by entry: the result
 * depends on T (the sum over the batch is grouped differently, so it differs in rounding) but
 * never on scheduling, and repeated calls with the same T and workspace are bit-identical. db is
 * summed per channel over the whole batch in one order for any T: bit-identical.
 *
 * @param d      descriptor.
 * @param batch  number of images, >= 1.
 * @param in_h, in_w  input image size.
 * @param x      the forward pass's input [batch][in_channels][in_h][in_w].
 * @param dy     gradient of the output, [batch][out_channels][out_h][out_w] (of the
 *               pre-activation output when an activation was fused).
 * @param dw     output [out_channels][in_channels/groups][kernel_h][kernel_w].
 * @param db     output [out_channels], or NULL when no bias gradient is wanted.
 * @param work   workspace (may be NULL when work_size is 0), not overlapping the rest; any alignment.
 * @param work_size its size in bytes; below nnla_conv2d_backward_weights_workspace_size() the
 *               pass works in bands of output rows (same results up to rounding).
 * @return ::NNLA_OK; ::NNLA_ENULL (also for a NULL work with work_size > 0); ::NNLA_EDIM,
 *         ::NNLA_ESHAPE, ::NNLA_EOVERFLOW as nnla_conv2d_forward(); ::NNLA_EALIAS when dw or
 *         db overlaps x, dy or each other, or the workspace overlaps any of them;
 *         ::NNLA_EWORKSPACE below nnla_conv2d_backward_weights_workspace_min(); ::NNLA_EINTERNAL
 *         as the forward's. A failed call writes nothing.
 */
NNLA_API nnla_status nnla_conv2d_backward_weights(const nnla_conv2d_desc *d, size_t batch, size_t in_h,
                                                  size_t in_w, const double *x, const double *dy, double *dw,
                                                  double *db, void *work, size_t work_size);

/**
 * @brief The column matrix of one image: col[(c*kh + i)*kw + j][oy*out_w + ox] =
 *        x[c][oy*stride_h - pad_top + i*dilation_h][ox*stride_w - pad_left + j*dilation_w],
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
