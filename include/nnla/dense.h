/**
 * @file nnla/dense.h
 * @brief Dense (fully connected) layers: Y = act(X W^T + b).
 *
 * The PyTorch convention (torch.nn.Linear): a batch X holds one sample per row
 * (batch x in), the weight is W[out][in], the bias b[out], and Y is batch x out.
 * A weight exported from PyTorch (`layer.weight.detach().numpy()`) is used as is.
 *
 * The paper writes a layer as sigma(W x - b), a threshold b subtracted: that is
 * this convention with the bias negated (b_here = -b_paper).
 *
 * The forward pass writes X W^T into Y with one cblas_dgemm (cblas_dgemv for a
 * batch of one), then adds the bias and applies the activation in one pass over Y,
 * row by row. libnnla does not allocate (OpenBLAS's multithreaded GEMM driver may,
 * see net.h).
 */
#ifndef NNLA_DENSE_H
#define NNLA_DENSE_H

#include "act.h"
#include "mat.h"

NNLA_EXTERN_C_BEGIN

/**
 * @brief Y = act(X W^T + b) for a batch.
 *
 * @param x    batch x in input.
 * @param w    out x in weight.
 * @param b    out biases, or NULL for none.
 * @param act  activation applied after the bias (row-wise kinds over each row of Y).
 * @param y    batch x out output; must not overlap x, w or b. Entries between
 *             out and y.ld are not touched.
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD for bad views;
 *         ::NNLA_ESHAPE for mismatched shapes; ::NNLA_EINVAL for a bad activation;
 *         ::NNLA_EALIAS when y overlaps x, w or b; ::NNLA_EOVERFLOW when a dimension
 *         or ld exceeds BLAS's int.
 *
 * NaN policy: inputs are not scanned; NaN and Inf propagate as in BLAS (a NaN in a
 * sample makes that sample's outputs NaN, since BLAS multiplies 0 * NaN).
 */
NNLA_API nnla_status nnla_dense_forward(nnla_cmat x, nnla_cmat w, const double *b, nnla_act act,
                                        nnla_mat y);

NNLA_EXTERN_C_END

#endif /* NNLA_DENSE_H */
