/**
 * @file nnla/optim.h
 * @brief Optimizers over a flat parameter vector (SGD with momentum, dampening and Nesterov;
 *        Adam; AdamW), gradient clipping by global norm, and learning-rate schedules, with
 *        PyTorch's update rules and defaults.
 *
 * A network keeps all its parameters in one contiguous block of n doubles; its gradient and
 * every vector of an optimizer's state have the same layout, so one call updates the whole
 * model:
 *
 * ```
 * nnla_optim_config cfg = nnla_optim_adamw_default();    // torch.optim.AdamW's defaults
 * size_t bytes;
 * nnla_optim_state_size(&cfg, n, &bytes);
 * void *state = malloc(bytes);                            // caller memory, aligned for a double
 * nnla_optim_state_init(&cfg, n, state, bytes);
 * nnla_lr_schedule sched = nnla_lr_cosine(1e-3, steps, 0.0);
 * for (size_t t = 0; t < steps; t++) {
 *     ... compute grad ...
 *     double lr;
 *     nnla_clip_grad_norm(grad, n, 1.0, NULL);            // optional
 *     nnla_lr_at(&sched, t, &lr);
 *     nnla_optim_step(&cfg, lr, params, grad, n, state);
 * }
 * ```
 *
 * The update rules are those of torch.optim's single-tensor implementations (PyTorch 1.13,
 * `foreach=False`, its default), operation for operation, with the same rounding: where PyTorch's
 * CPU kernels fuse a multiply and an add (`add_(x, alpha=a)`, `addcmul_`), libnnla calls C's
 * fma(), so on a machine where PyTorch runs its AVX2 kernels the trajectories agree to the last
 * bit (docs/train.md). With g the gradient, p the parameters, t the step count after the
 * increment:
 *
 * | kind | update |
 * |---|---|
 * | SGD | d = g + wd p; b = d at the first step, else b = mu b + (1 - dampening) d; d = d + mu b (Nesterov) or b (mu > 0); p = p - lr d |
 * | Adam | g = g + wd p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p = p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps) |
 * | AdamW | p = p (1 - lr wd); then Adam's update without the g + wd p |
 *
 * Non-finite gradients are not scanned by nnla_optim_step(): a NaN in the gradient propagates
 * into the parameters and the state, as in PyTorch. nnla_clip_grad_norm() refuses a non-finite
 * gradient (::NNLA_ENONFINITE, nothing changed), so a loop that clips first can skip the step.
 */
#ifndef NNLA_OPTIM_H
#define NNLA_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "status.h"

NNLA_EXTERN_C_BEGIN

/** The optimizers. */
typedef enum nnla_optim_kind {
    NNLA_OPTIM_SGD = 0,  /**< torch.optim.SGD: momentum, dampening, Nesterov, L2 weight decay */
    NNLA_OPTIM_ADAM = 1, /**< torch.optim.Adam: L2 weight decay added to the gradient */
    NNLA_OPTIM_ADAMW = 2 /**< torch.optim.AdamW: decoupled weight decay */
} nnla_optim_kind;

/** SGD's hyperparameters (torch.optim.SGD; its defaults are all 0 / false). */
typedef struct nnla_sgd_config {
    double momentum;     /**< mu >= 0; 0 means plain SGD (no buffer in the state) */
    double dampening;    /**< in [0, 1]; must be 0 with Nesterov */
    double weight_decay; /**< L2 penalty >= 0, added to the gradient: d = g + wd p */
    int nesterov;        /**< nonzero for Nesterov momentum (needs momentum > 0, dampening 0) */
} nnla_sgd_config;

/** Adam's and AdamW's hyperparameters (torch.optim.Adam / AdamW, without amsgrad). */
typedef struct nnla_adam_config {
    double beta1;        /**< in [0, 1); default 0.9 */
    double beta2;        /**< in [0, 1); default 0.999 */
    double eps;          /**< >= 0, added to the denominator; default 1e-8 */
    double weight_decay; /**< >= 0; Adam: L2 added to the gradient (default 0); AdamW: decoupled,
                              p *= 1 - lr wd (default 0.01) */
} nnla_adam_config;

/**
 * An optimizer: its kind and the hyperparameters of that kind (the other member is ignored).
 * Take one from nnla_optim_sgd_default(), nnla_optim_adam_default() or nnla_optim_adamw_default()
 * and change fields. The learning rate is not part of it: nnla_optim_step() takes it at every
 * step, so a schedule (nnla_lr_at()) lives outside. The hyperparameters may change between steps
 * (as PyTorch's param_groups may), within the rules of nnla_optim_check().
 */
typedef struct nnla_optim_config {
    nnla_optim_kind kind; /**< which optimizer */
    nnla_sgd_config sgd;  /**< used when kind is ::NNLA_OPTIM_SGD */
    nnla_adam_config adam; /**< used when kind is ::NNLA_OPTIM_ADAM or ::NNLA_OPTIM_ADAMW */
} nnla_optim_config;

/** PyTorch's default learning rate of Adam and AdamW (torch.optim.SGD has none). */
#define NNLA_ADAM_DEFAULT_LR 1e-3

/** @brief SGD with torch.optim.SGD's defaults: momentum 0, dampening 0, weight decay 0, no Nesterov. */
NNLA_API nnla_optim_config nnla_optim_sgd_default(void);

/** @brief Adam with torch.optim.Adam's defaults: betas (0.9, 0.999), eps 1e-8, weight decay 0. */
NNLA_API nnla_optim_config nnla_optim_adam_default(void);

/** @brief AdamW with torch.optim.AdamW's defaults: betas (0.9, 0.999), eps 1e-8, weight decay 0.01. */
NNLA_API nnla_optim_config nnla_optim_adamw_default(void);

/**
 * @brief Check a configuration (the rules of torch.optim's constructors, plus finiteness):
 *        a known kind; SGD: momentum and weight decay finite and >= 0, dampening in [0, 1],
 *        Nesterov only with momentum > 0 and dampening 0; Adam/AdamW: betas in [0, 1), eps and
 *        weight decay finite and >= 0.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL.
 */
NNLA_API nnla_status nnla_optim_check(const nnla_optim_config *config);

/**
 * @brief Bytes of state an optimizer needs for n parameters: a 64-byte header (kind, n, step
 *        count, flags) plus, as n doubles each, SGD's momentum buffer (when momentum > 0), or
 *        Adam's first and second moments (torch's exp_avg and exp_avg_sq).
 * @param config a valid configuration.
 * @param n      number of parameters, >= 1.
 * @param bytes  receives the size.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for a bad config; ::NNLA_EDIM for n = 0;
 *         ::NNLA_EOVERFLOW when the size overflows size_t.
 */
NNLA_API nnla_status nnla_optim_state_size(const nnla_optim_config *config, size_t n, size_t *bytes);

/**
 * @brief Initialize an optimizer's state in caller memory: step count 0, moments zero (as a fresh
 *        torch optimizer; SGD's momentum buffer is filled by the first step).
 *
 * The state is plain, position-independent data (no pointers inside): to checkpoint a run, save
 * its bytes; to resume, load them into any memory aligned for a double. It is tied to the kind
 * and to n; an SGD state made with momentum 0 has no buffer and cannot serve a momentum > 0 later.
 * @param config a valid configuration.
 * @param n      number of parameters, >= 1.
 * @param state  caller memory of at least nnla_optim_state_size() bytes, aligned for a double
 *               (8 bytes; malloc'ed memory is).
 * @param bytes  the size of that memory.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for a bad config or a misaligned state;
 *         ::NNLA_EDIM; ::NNLA_EOVERFLOW; ::NNLA_EWORKSPACE when bytes is too small.
 */
NNLA_API nnla_status nnla_optim_state_init(const nnla_optim_config *config, size_t n, void *state, size_t bytes);

/** What nnla_optim_state_view() shows of a state (pointers into it, read-only). */
typedef struct nnla_optim_state_info {
    nnla_optim_kind kind;          /**< the kind the state was made for */
    size_t n;                      /**< number of parameters */
    uint64_t step;                 /**< steps taken (torch's state['step']) */
    const double *momentum_buffer; /**< SGD's buffer (n doubles), NULL without momentum or before the
                                        first step with momentum (torch's state['momentum_buffer']) */
    const double *exp_avg;         /**< Adam's first moment m (n doubles), NULL for SGD */
    const double *exp_avg_sq;      /**< Adam's second moment v (n doubles), NULL for SGD */
} nnla_optim_state_info;

/**
 * @brief Look into a state made by nnla_optim_state_init(): kind, n, step count, moment vectors.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL when state is misaligned or not an initialized
 *         optimizer state.
 */
NNLA_API nnla_status nnla_optim_state_view(const void *state, nnla_optim_state_info *info);

/**
 * @brief One optimizer step: update params in place from grad, with learning rate lr, and
 *        advance the state (step count, moments). The rules are in this file's description.
 *
 * Everything is checked before anything is written: the config (nnla_optim_check()), lr finite
 * and >= 0, the state initialized for this kind and for exactly n parameters (and holding a
 * momentum buffer when SGD's momentum is > 0), no overlap between params, grad and the state.
 * No allocation, no scan of grad for NaN/Inf (see the file's description).
 * @param config the optimizer.
 * @param lr     the learning rate of this step (from a schedule, or constant).
 * @param params n parameters, updated in place.
 * @param grad   n gradient entries (not modified).
 * @param n      number of parameters: the n the state was made for.
 * @param state  the optimizer's state (nnla_optim_state_init()).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM for n = 0; ::NNLA_EINVAL for a bad config, a bad
 *         lr, a state not initialized, made for another kind, or without the buffer momentum
 *         needs; ::NNLA_ESHAPE when n is not the state's n; ::NNLA_EALIAS when params, grad and
 *         the state overlap.
 */
NNLA_API nnla_status nnla_optim_step(const nnla_optim_config *config, double lr, double *params,
                                     const double *grad, size_t n, void *state);

/**
 * @brief Clip a gradient by its global 2-norm, as torch.nn.utils.clip_grad_norm_ does over all
 *        parameters together: with norm = ||grad||_2 and c = max_norm / (norm + 1e-6), grad is
 *        multiplied by c when c < 1 (i.e. when norm + 1e-6 > max_norm) and left alone otherwise.
 *
 * The norm is a sum of squares; when that overflows (entries beyond about 1e154) or falls below
 * 2^-900 (norms below about 1e-135), it is recomputed with every entry divided by the largest, so
 * any finite gradient whose norm is representable gets its norm right. A NaN or Inf entry is refused
 * (::NNLA_ENONFINITE, grad untouched: PyTorch's `error_if_nonfinite=True`; its default instead
 * scales everything by NaN). max_norm = INFINITY computes the norm and changes nothing.
 * @param grad     n entries, scaled in place.
 * @param n        >= 1.
 * @param max_norm the largest norm allowed, >= 0 (+Inf allowed).
 * @param norm     if not NULL, receives the norm before clipping (torch's return value).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM for n = 0; ::NNLA_EINVAL for max_norm negative or
 *         NaN; ::NNLA_ENONFINITE for NaN/Inf in grad; ::NNLA_EOVERFLOW when the norm of finite
 *         entries exceeds the largest double; ::NNLA_EALIAS when norm points into grad.
 */
NNLA_API nnla_status nnla_clip_grad_norm(double *grad, size_t n, double max_norm, double *norm);

/** Learning-rate schedules (see ::nnla_lr_schedule). */
typedef enum nnla_lr_kind {
    NNLA_LR_CONSTANT = 0,   /**< lr */
    NNLA_LR_STEP_DECAY = 1, /**< torch StepLR: lr gamma^floor(t / step_size) */
    NNLA_LR_COSINE = 2,     /**< torch CosineAnnealingLR (closed form) */
    NNLA_LR_WARMUP = 3      /**< torch LinearLR from start_factor to 1, then constant or cosine */
} nnla_lr_kind;

/**
 * A learning-rate schedule: a pure function of the step (or epoch) index t = 0, 1, 2, ...,
 * evaluated by nnla_lr_at(). Make one with a constructor; fields a kind does not use are ignored.
 *
 * | kind | lr(t) |
 * |---|---|
 * | constant | lr |
 * | step decay | lr gamma^floor(t / step_size) |
 * | cosine | eta_min + (lr - eta_min) (1 + cos(pi t / t_max)) / 2 |
 * | warmup, t < warmup | lr (start_factor + (1 - start_factor) t / warmup) |
 * | warmup, t >= warmup, t_max = 0 | lr |
 * | warmup, t >= warmup, t_max > 0 | the cosine at t - warmup |
 *
 * These are the closed forms of torch.optim.lr_scheduler (`_get_closed_form_lr`), in the same
 * order of operations. Like PyTorch's, the cosine is periodic: past t_max it rises again
 * (lr at 2 t_max); choose t_max = the number of steps to anneal over.
 */
typedef struct nnla_lr_schedule {
    nnla_lr_kind kind;   /**< which schedule */
    double lr;           /**< the base (initial, peak) learning rate, finite and >= 0 */
    size_t step_size;    /**< step decay: decay every step_size steps, >= 1 */
    double gamma;        /**< step decay: the factor, finite and >= 0 (torch's default 0.1) */
    size_t t_max;        /**< cosine: steps from lr down to eta_min, >= 1; warmup: cosine steps
                              after the warmup, 0 for a constant lr after it */
    double eta_min;      /**< cosine: the floor, finite and >= 0 (torch's default 0) */
    size_t warmup;       /**< warmup: steps of the linear ramp, >= 1 */
    double start_factor; /**< warmup: factor at t = 0, in [0, 1] (torch refuses 0; libnnla allows it) */
} nnla_lr_schedule;

/** @brief A constant learning rate. */
NNLA_API nnla_lr_schedule nnla_lr_constant(double lr);

/** @brief Step decay (torch.optim.lr_scheduler.StepLR(step_size, gamma)). */
NNLA_API nnla_lr_schedule nnla_lr_step_decay(double lr, size_t step_size, double gamma);

/** @brief Cosine annealing (torch.optim.lr_scheduler.CosineAnnealingLR(T_max, eta_min)). */
NNLA_API nnla_lr_schedule nnla_lr_cosine(double lr, size_t t_max, double eta_min);

/**
 * @brief Linear warmup from lr start_factor to lr over `warmup` steps (torch LinearLR(start_factor,
 *        end_factor=1, total_iters=warmup)), then constant (t_max = 0) or a cosine from lr to
 *        eta_min over t_max steps (torch SequentialLR of LinearLR and CosineAnnealingLR(t_max,
 *        eta_min) with milestones=[warmup]).
 */
NNLA_API nnla_lr_schedule nnla_lr_warmup(double lr, double start_factor, size_t warmup, size_t t_max,
                                         double eta_min);

/**
 * @brief Check a schedule's fields (the rules in ::nnla_lr_schedule).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL.
 */
NNLA_API nnla_status nnla_lr_check(const nnla_lr_schedule *schedule);

/**
 * @brief The learning rate at step (or epoch) t.
 * @param schedule a schedule (checked: nnla_lr_check()).
 * @param t        the index, from 0.
 * @param lr       receives the learning rate (untouched on failure).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL.
 */
NNLA_API nnla_status nnla_lr_at(const nnla_lr_schedule *schedule, size_t t, double *lr);

NNLA_EXTERN_C_END

#endif /* NNLA_OPTIM_H */
