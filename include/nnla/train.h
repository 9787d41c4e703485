/**
 * @file nnla/train.h
 * @brief Training a network: mini-batch steps (forward in training form, loss, backward, gradient
 *        clipping, learning-rate schedule, optimizer, BatchNorm statistics), evaluation, and the
 *        epoch loop with seeded shuffling.
 *
 * A trainer holds everything a training run needs beside the network: a training context, the
 * gradient block, the optimizer's state (laid out like the parameter block), the output gradient,
 * and buffers for one mini-batch. nnla_trainer_create() allocates them once; nnla_trainer_step(),
 * nnla_trainer_evaluate() and the steps of nnla_train() allocate nothing.
 *
 * ```
 * nnla_train_config cfg = nnla_train_config_default();      // cross-entropy, Adam, batch 32
 * cfg.optim = nnla_optim_adamw_default();
 * cfg.lr = nnla_lr_cosine(1e-3, 20 * steps_per_epoch, 0.0);
 * nnla_trainer *tr;
 * nnla_trainer_create(net, &cfg, &tr);
 * nnla_dataset train = {x, n, labels, NULL}, val = {xv, nv, labels_v, NULL};
 * nnla_train(tr, &train, &val, 20, print_epoch, NULL);         // one callback per epoch
 * nnla_trainer_free(tr);
 * ```
 *
 * A step is PyTorch's `model.train(); loss = crit(model(x), y); opt.zero_grad(); loss.backward();
 * clip_grad_norm_(...); opt.step(); sched.step()`: the losses of nnla/loss.h (mean reduction), the
 * optimizers and schedules of nnla/optim.h with torch.optim's update rules, BatchNorm's running
 * averages updated by the training forward (nnla_net_update_stats()). Dropout masks come from the
 * trainer's generator, seeded by the configuration, so the same seed and the same thread count
 * give the same run bit for bit. Spectral regularization (nnla_train_reg) applies to every dense
 * layer's weight and every convolution's reshaped kernel (O x C kh kw): a bound on it bounds the
 * layer's contribution to the network's Lipschitz constant (for a convolution up to the factor
 * discussed in docs/spectral.md).
 *
 * The trainer keeps a pointer to the network and updates its parameters in place; the network
 * must not be edited (structurally) while the trainer exists.
 */
#ifndef NNLA_TRAIN_H
#define NNLA_TRAIN_H

#include <stdint.h>

#include "loss.h"
#include "net.h"
#include "optim.h"

NNLA_EXTERN_C_BEGIN

/** The loss a trainer minimizes (nnla/loss.h), on the network's output. */
typedef enum nnla_loss_kind {
    NNLA_LOSS_CROSS_ENTROPY = 0, /**< softmax cross-entropy on logits; class indices or probabilities */
    NNLA_LOSS_MSE = 1,           /**< mean squared error against targets */
    NNLA_LOSS_BCE_LOGITS = 2     /**< binary cross-entropy on logits against targets in [0, 1] */
} nnla_loss_kind;

/** A data set in memory: n samples and their targets (one of labels or targets). */
typedef struct nnla_dataset {
    const double *x;       /**< n samples of the network's input shape, contiguous */
    size_t n;              /**< number of samples */
    const size_t *labels;  /**< cross-entropy: n class indices; NULL to use targets */
    const double *targets; /**< n x the output size: MSE and BCE targets, or cross-entropy probabilities */
} nnla_dataset;

/** Spectral regularization of every dense and convolution layer during training (nnla/spectral.h). */
typedef enum nnla_train_reg {
    NNLA_REG_NONE = 0,             /**< none */
    NNLA_REG_SPECTRAL_NORM = 1,    /**< after each step, W <- W c / sigma when sigma = ||W||_2 > c (a projection
                                        onto the spectral ball of radius c; sigma by power iteration warm-started
                                        from the last step's vector, as PyTorch's spectral_norm) */
    NNLA_REG_SV_CLIP = 2,          /**< after each step, W <- U min(S, c) V^T (exact SVD of every layer) */
    NNLA_REG_SPECTRAL_PENALTY = 3  /**< loss + c sum_l sigma_l^2, its gradient 2 c sigma_l u_l v_l^T added
                                        (sigma_l, u_l, v_l by warm-started power iteration) */
} nnla_train_reg;

/** What a trainer does. Start from nnla_train_config_default() and change fields. */
typedef struct nnla_train_config {
    nnla_loss_kind loss;       /**< the loss (default cross-entropy) */
    double label_smoothing;    /**< cross-entropy's label smoothing, in [0, 1) (default 0) */
    nnla_optim_config optim;   /**< the optimizer (default Adam, torch's defaults) */
    nnla_lr_schedule lr;       /**< learning rate per step (default constant 1e-3) */
    size_t batch;              /**< mini-batch size, >= 1 (default 32) */
    double clip_norm;          /**< clip the gradient's global norm to this (0: no clipping) */
    uint64_t seed;             /**< shuffling and dropout masks (default 0) */
    int shuffle;               /**< nnla_train(): shuffle the samples every epoch (default 1) */
    nnla_train_reg reg;        /**< spectral regularization (default none) */
    double reg_value;          /**< its c: the bound on sigma (norm, clip) or the penalty's weight, > 0 */
    size_t reg_iters;          /**< power iterations per step (norm, penalty), >= 1 (default 1) */
} nnla_train_config;

/** @brief Cross-entropy, Adam with torch's defaults, a constant 1e-3, batch 32, shuffling, seed 0. */
NNLA_API nnla_train_config nnla_train_config_default(void);

/** An opaque trainer. */
typedef struct nnla_trainer nnla_trainer;

/**
 * @brief Make a trainer for a network: checks the configuration and allocates a training context
 *        for cfg->batch samples, the gradient block, the optimizer's state and the batch buffers.
 * @param net  the network to train (its parameters are updated in place).
 * @param cfg  the configuration (copied).
 * @param tr   receives the trainer (untouched on failure); free it with nnla_trainer_free().
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL (unknown loss, label smoothing outside [0, 1),
 *         negative or non-finite clip_norm, a bad optimizer or schedule, an unknown regularization,
 *         reg_value not finite and > 0, reg_iters 0, a regularization on a network without dense or
 *         convolution layers); ::NNLA_EDIM (batch 0, an
 *         empty network, a network without parameters); ::NNLA_EOVERFLOW; ::NNLA_ENOMEM.
 */
NNLA_API nnla_status nnla_trainer_create(nnla_net *net, const nnla_train_config *cfg, nnla_trainer **tr);

/** @brief Free a trainer (the network stays); NULL is a no-op. */
NNLA_API void nnla_trainer_free(nnla_trainer *tr);

/**
 * @brief One training step on a mini-batch. Allocates nothing.
 * @param tr       the trainer.
 * @param x        batch samples.
 * @param labels   batch class indices (cross-entropy), or NULL to use targets.
 * @param targets  batch x the output size (MSE, BCE, cross-entropy probabilities), or NULL.
 * @param batch    1 .. the configuration's batch.
 * @param loss     receives the batch's loss before the step (may be NULL).
 * @param correct  receives the number of correct argmax predictions (cross-entropy; 0 otherwise),
 *                 or NULL.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM (batch 0 or above the configuration's);
 *         ::NNLA_EINVAL (a class index out of range, targets of the wrong kind for the loss);
 *         ::NNLA_ENONFINITE (a non-finite gradient with clipping on: the step is skipped and the
 *         parameters are untouched); ::NNLA_ESTALE (the network was edited).
 */
NNLA_API nnla_status nnla_trainer_step(nnla_trainer *tr, const double *x, const size_t *labels, const double *targets,
                                       size_t batch, double *loss, size_t *correct);

/**
 * @brief The mean loss and the accuracy (cross-entropy; NaN for the other losses) of the network
 *        in inference form on a data set, in batches of the configuration's size. Allocates nothing.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM (n == 0); ::NNLA_EINVAL (labels or targets missing,
 *         a class index out of range); ::NNLA_ESTALE.
 */
NNLA_API nnla_status nnla_trainer_evaluate(nnla_trainer *tr, const nnla_dataset *data, double *loss,
                                           double *accuracy);

/**
 * @brief The spectral norms the regularization last computed, one per dense or convolution layer in
 *        order (the power iteration's estimates before the step's projection, or the exact values
 *        after clipping); count receives how many there are.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL without regularization; ::NNLA_ESHAPE when n is
 *         smaller than the count (nothing written).
 */
NNLA_API nnla_status nnla_trainer_sigmas(const nnla_trainer *tr, double *sigmas, size_t n, size_t *count);

/** The steps taken so far (the learning-rate schedule's index). */
NNLA_API size_t nnla_trainer_steps(const nnla_trainer *tr);

/** What nnla_train() reports after each epoch. */
typedef struct nnla_epoch {
    size_t epoch;        /**< 1, 2, ... */
    size_t steps;        /**< steps taken so far */
    double loss;         /**< mean training loss over the epoch's steps (weighted by batch size) */
    double accuracy;     /**< training accuracy over the epoch (cross-entropy; NaN otherwise) */
    double val_loss;     /**< the validation set's loss after the epoch (NaN without one) */
    double val_accuracy; /**< its accuracy (NaN without one, or for other losses) */
    double lr;           /**< the learning rate of the epoch's last step */
    double seconds;      /**< wall-clock time of the epoch (training and validation) */
} nnla_epoch;

/** A callback after each epoch; return nonzero to stop training. */
typedef int (*nnla_epoch_fn)(const nnla_epoch *epoch, void *user);

/**
 * @brief Train for a number of epochs: each epoch visits the training set once in mini-batches of
 *        the configuration's size (the last one smaller when n is not a multiple; shuffled with
 *        the trainer's seeded generator when cfg.shuffle), then evaluates the validation set.
 *
 * Allocates the shuffling order once per call (n indices); no step allocates.
 * @param tr      the trainer.
 * @param train   the training set.
 * @param val     a validation set, or NULL.
 * @param epochs  the number of epochs, >= 1.
 * @param fn      called after each epoch (may be NULL).
 * @param user    passed to fn.
 * @param last    receives the last epoch's report (may be NULL).
 * @return as nnla_trainer_step() and nnla_trainer_evaluate(), plus ::NNLA_EDIM for epochs 0 or an
 *         empty training set and ::NNLA_ENOMEM. A callback's stop is ::NNLA_OK.
 */
NNLA_API nnla_status nnla_train(nnla_trainer *tr, const nnla_dataset *train, const nnla_dataset *val, size_t epochs,
                                nnla_epoch_fn fn, void *user, nnla_epoch *last);

NNLA_EXTERN_C_END

#endif /* NNLA_TRAIN_H */
