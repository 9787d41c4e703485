/**
 * @file nnla/attack.h
 * @brief Adversarial examples: the gradient of the loss with respect to the input, FGSM and PGD in
 *        the L-infinity ball, and accuracy under attack.
 *
 * The paper's case for robustness: a small perturbation along the sign of the input gradient can
 * change a network's answer. Every function here differentiates the softmax cross-entropy of the
 * network's output (the logits) with class-index labels, through the network in inference form
 * (BatchNorm on its running statistics, dropout off), as `model.eval()` in PyTorch:
 *
 * - FGSM (Goodfellow, Shlens, Szegedy 2015): x' = clip(x + eps sign(grad_x L), lo, hi);
 * - PGD (Madry et al. 2018): from x (or a uniform random start in the eps ball), `steps` times
 *   x' <- clip(project_eps(x' + step sign(grad_x L)), lo, hi), projecting onto the L-infinity ball
 *   of radius eps around x; sign(0) = 0, as torch.sign.
 *
 * Work happens in a caller workspace (nnla_attack_workspace_size()); nothing is allocated.
 */
#ifndef NNLA_ATTACK_H
#define NNLA_ATTACK_H

#include <stdint.h>

#include "net.h"

NNLA_EXTERN_C_BEGIN

/** The attack of nnla_attack_accuracy(). */
typedef enum nnla_attack_kind {
    NNLA_ATTACK_NONE = 0, /**< no perturbation: the clean accuracy */
    NNLA_ATTACK_FGSM = 1, /**< one signed-gradient step of size eps */
    NNLA_ATTACK_PGD = 2   /**< projected gradient descent (nnla_attack_config's steps, step, random start) */
} nnla_attack_kind;

/** An attack's parameters. */
typedef struct nnla_attack_config {
    double eps;        /**< radius of the L-infinity ball, finite and >= 0 */
    double step;       /**< PGD's step size, finite and >= 0 (Madry et al.: 2.5 eps / steps) */
    size_t steps;      /**< PGD's number of steps, >= 1 */
    int random_start;  /**< PGD: start from a uniform point of the ball (1) or from x (0) */
    uint64_t seed;     /**< PGD's random start */
    double lo, hi;     /**< the valid input range, lo <= hi (e.g. 0 and 1 for images); finite */
} nnla_attack_config;

/** @brief FGSM/PGD parameters: eps, 10 steps of 2.5 eps / 10, random start, seed 0, range [lo, hi]. */
NNLA_API nnla_attack_config nnla_attack_config_make(double eps, double lo, double hi);

/**
 * @brief Workspace, in bytes, for the functions below on batches of up to `batch` samples.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM (batch 0, an empty network); ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_attack_workspace_size(const nnla_net *net, size_t batch, size_t *bytes);

/**
 * @brief The mean cross-entropy of a batch and its gradient with respect to the input.
 * @param net     the network (only read); its output is taken as logits.
 * @param batch   samples, >= 1.
 * @param x       the inputs.
 * @param labels  class indices, < the output size.
 * @param loss    receives the mean loss (may be NULL).
 * @param grad    receives d loss / d x (batch x input size); must not overlap x or the workspace.
 * @param work, work_size  workspace of nnla_attack_workspace_size() bytes for at least batch.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM; ::NNLA_EINVAL (a label out of range);
 *         ::NNLA_EWORKSPACE; ::NNLA_EALIAS. On failure grad is untouched.
 */
NNLA_API nnla_status nnla_input_gradient(const nnla_net *net, size_t batch, const double *x, const size_t *labels,
                                         double *loss, double *grad, void *work, size_t work_size);

/**
 * @brief Adversarial examples by FGSM (one step of size cfg->eps) into x_adv.
 * @return as nnla_input_gradient(), plus ::NNLA_EINVAL for a bad configuration. x_adv may not
 *         overlap x.
 */
NNLA_API nnla_status nnla_fgsm(const nnla_net *net, size_t batch, const double *x, const size_t *labels,
                               const nnla_attack_config *cfg, double *x_adv, void *work, size_t work_size);

/**
 * @brief Adversarial examples by PGD into x_adv (see the file's description).
 * @return as nnla_fgsm().
 */
NNLA_API nnla_status nnla_pgd(const nnla_net *net, size_t batch, const double *x, const size_t *labels,
                              const nnla_attack_config *cfg, double *x_adv, void *work, size_t work_size);

/**
 * @brief The accuracy of the network on n samples under an attack, in batches of up to `batch`
 *        (the workspace's size): the fraction whose attacked input the network still classifies
 *        right (argmax of the output; ties to the first).
 * @return as nnla_fgsm(), plus ::NNLA_EDIM for n == 0.
 */
NNLA_API nnla_status nnla_attack_accuracy(const nnla_net *net, const double *x, const size_t *labels, size_t n,
                                          nnla_attack_kind kind, const nnla_attack_config *cfg, size_t batch,
                                          double *accuracy, void *work, size_t work_size);

NNLA_EXTERN_C_END

#endif /* NNLA_ATTACK_H */
