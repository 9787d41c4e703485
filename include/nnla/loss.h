/**
 * @file nnla/loss.h
 * @brief Losses and their gradients: mean squared error, softmax cross-entropy (fused with the
 *        softmax, on logits), binary cross-entropy with logits. PyTorch's semantics and defaults.
 *
 * Every loss is a mean (PyTorch's `reduction='mean'`, its default) over a batch held one sample
 * per row of a row-major view (any `ld >= cols`), and returns the gradient of that mean with
 * respect to its first input:
 *
 * | function | PyTorch | loss | gradient |
 * |---|---|---|---|
 * | nnla_loss_mse() | `F.mse_loss(pred, target)` | sum (p - t)^2 / (B n) | 2 (p - t) / (B n) |
 * | nnla_loss_cross_entropy() | `F.cross_entropy(z, labels, label_smoothing=ls)` | mean over rows of -sum_j t'_j log softmax(z)_j | (softmax(z) - t') / B |
 * | nnla_loss_cross_entropy_prob() | `F.cross_entropy(z, probs, label_smoothing=ls)` | the same with t' from the given rows | (softmax(z) sum_j t'_j - t') / B |
 * | nnla_loss_bce_logits() | `F.binary_cross_entropy_with_logits(x, t)` | mean of max(x,0) - x t + log1p(exp(-abs(x))) | (sigmoid(x) - t) / (B n) |
 *
 * B is the number of rows, n the number of columns (classes).
 *
 * - **Gradient optional**: pass `nnla_mat_view(NULL, 0, 0, 0)` as `grad` for the loss alone
 *   (the view's other fields are then ignored). Otherwise grad has the shape of the first input.
 * - **In place**: grad may be the first input itself (same data and ld): the logits are
 *   replaced by their gradient. For the elementwise losses (MSE, BCE) grad may also be the target
 *   itself. Any other overlap of grad with an input or with the scalar outputs is refused with
 *   ::NNLA_EALIAS (overlap is judged on the views' spans, padding included). The inputs may
 *   overlap each other freely; entries between cols and ld are never read or written.
 * - **Checks**: every view, shape, parameter and class index is checked before anything is
 *   written; a failed call leaves `*loss`, `*correct` and grad untouched. No allocation.
 * - **Stability**: the softmax subtracts each row's maximum before exp, log-sum-exp is taken as
 *   max + log1p(sum of the other exps), and BCE uses log1p(exp(-abs(x))), so logits of +-1000
 *   give finite losses and gradients, exact to the last bit where the exact value is representable
 *   (a confident correct row costs 0, a confident wrong one 2000, say).
 * - **NaN**: values are not scanned. A NaN in an input gives a NaN loss and NaN gradient entries
 *   (in cross-entropy, the whole row of the gradient), as IEEE arithmetic and PyTorch do; a +Inf
 *   logit gives NaN too (Inf - Inf inside the softmax), a -Inf logit a zero probability. Target
 *   values are not range-checked (PyTorch does not check them either): a probability target row
 *   need not sum to 1, and the gradient formula above is exact for any row.
 */
#ifndef NNLA_LOSS_H
#define NNLA_LOSS_H

#include <stddef.h>

#include "mat.h"

NNLA_EXTERN_C_BEGIN

/**
 * @brief Mean squared error: loss = sum_ij (pred_ij - target_ij)^2 / (B n), gradient
 *        grad_ij = (2 / (B n)) (pred_ij - target_ij). `torch.nn.functional.mse_loss`.
 * @param pred   B x n predictions.
 * @param target B x n targets (same shape as pred; may overlap pred).
 * @param loss   receives the loss; must not be NULL.
 * @param grad   B x n gradient with respect to pred, or `nnla_mat_view(NULL, 0, 0, 0)` for none;
 *               may be pred or target itself (same data and ld).
 * @return ::NNLA_OK; ::NNLA_ENULL (loss, or a view's data); ::NNLA_EDIM, ::NNLA_ELD,
 *         ::NNLA_EOVERFLOW for a bad view; ::NNLA_ESHAPE when the shapes differ;
 *         ::NNLA_EALIAS for a forbidden overlap (see the file's description).
 */
NNLA_API nnla_status nnla_loss_mse(nnla_cmat pred, nnla_cmat target, double *loss, nnla_mat grad);

/**
 * @brief Softmax cross-entropy on logits with class-index targets, fused with the softmax:
 *        `torch.nn.functional.cross_entropy(logits, labels, label_smoothing=label_smoothing)`.
 *
 * With p = softmax(z) per row, C classes and smoothing e, the target row is
 * t' = (1 - e) onehot(label) + e / C, the loss of a row is -sum_j t'_j log p_j
 * = (1 - e) (lse - z_label) + e (lse - mean_j z_j) with lse = log sum_j exp(z_j), and the loss
 * is the mean over the B rows. The gradient is (p - t') / B. The entry at the label of a row whose
 * label is its argmax is computed as e (C - 1) / C - (1 - p_label), with 1 - p_label summed from the
 * other classes, so it keeps full relative accuracy when p_label is close to 1.
 * @param logits B x C logits (C >= 1).
 * @param labels B class indices, each < C.
 * @param label_smoothing e in [0, 1) (PyTorch also accepts 1, which ignores the labels; refused here).
 * @param loss    receives the mean loss; must not be NULL.
 * @param grad    B x C gradient with respect to the logits, or `nnla_mat_view(NULL, 0, 0, 0)`;
 *                may be logits itself (same data and ld).
 * @param correct if not NULL, receives the number of rows whose argmax (the first maximum, as
 *                torch.argmax; a NaN counts as the maximum, as in torch) equals their label:
 *                the batch's accuracy times B.
 * @return ::NNLA_OK; ::NNLA_ENULL (loss, labels, a view's data); ::NNLA_EDIM, ::NNLA_ELD,
 *         ::NNLA_EOVERFLOW for a bad view; ::NNLA_ESHAPE when grad's shape differs from the
 *         logits'; ::NNLA_EINVAL for a label >= C or a smoothing outside [0, 1) or NaN;
 *         ::NNLA_EALIAS for a forbidden overlap.
 */
NNLA_API nnla_status nnla_loss_cross_entropy(nnla_cmat logits, const size_t *labels, double label_smoothing,
                                             double *loss, nnla_mat grad, size_t *correct);

/**
 * @brief Softmax cross-entropy on logits with probability targets (one-hot, soft labels):
 *        `torch.nn.functional.cross_entropy(logits, target, label_smoothing=label_smoothing)` with a
 *        floating-point target.
 *
 * With p = softmax(z) per row and t' = t (1 - e) + e / C (PyTorch's smoothing of probability
 * targets), the loss of a row is -sum_j t'_j log p_j = sum_j t'_j (lse - z_j), the loss is the
 * mean over the B rows, and the gradient is (p sum_j t'_j - t') / B, which is (p - t') / B
 * when the target rows sum to 1.
 * @param logits B x C logits.
 * @param target B x C target probabilities (not checked; may overlap logits).
 * @param label_smoothing e in [0, 1).
 * @param loss    receives the mean loss; must not be NULL.
 * @param grad    B x C gradient with respect to the logits, or `nnla_mat_view(NULL, 0, 0, 0)`;
 *                may be logits itself (same data and ld), not the target.
 * @param correct if not NULL, receives the number of rows where the argmax of the logits equals
 *                the argmax of the target (first maxima, as torch.argmax).
 * @return as nnla_loss_cross_entropy(), with ::NNLA_ESHAPE also when the target's shape differs.
 */
NNLA_API nnla_status nnla_loss_cross_entropy_prob(nnla_cmat logits, nnla_cmat target, double label_smoothing,
                                                  double *loss, nnla_mat grad, size_t *correct);

/**
 * @brief Binary cross-entropy with logits, `torch.nn.functional.binary_cross_entropy_with_logits`:
 *        loss = mean_ij of max(x,0) - x t + log1p(exp(-abs(x))), gradient (sigmoid(x) - t) / (B n).
 *
 * Every entry is an independent binary problem (multi-label classification; a single output
 * column for a binary one). The form is stable: x = +-1000 gives a finite loss.
 * @param logits B x n logits x.
 * @param target B x n targets t, usually in [0, 1] (not checked; may overlap logits).
 * @param loss   receives the mean loss; must not be NULL.
 * @param grad   B x n gradient with respect to the logits, or `nnla_mat_view(NULL, 0, 0, 0)`;
 *               may be logits or target itself (same data and ld).
 * @return as nnla_loss_mse().
 */
NNLA_API nnla_status nnla_loss_bce_logits(nnla_cmat logits, nnla_cmat target, double *loss, nnla_mat grad);

NNLA_EXTERN_C_END

#endif /* NNLA_LOSS_H */
