/**
 * @file nnla/act.h
 * @brief Activation functions, their derivatives and their backward passes.
 *
 * An activation is a kind plus one parameter (::nnla_act). Elementwise kinds act
 * on every entry; ::NNLA_ACT_SOFTMAX and ::NNLA_ACT_LOG_SOFTMAX act on each row.
 * All are evaluated in forms that stay finite and accurate at the extremes
 * (sigmoid(+-1000), softplus(+-1000), softmax of rows with entries of +-1000).
 *
 * NaN policy: activations do not scan their input; a NaN entry gives NaN in its
 * output entry (for the row-wise kinds, in its whole row), as IEEE arithmetic does.
 */
#ifndef NNLA_ACT_H
#define NNLA_ACT_H

#include "mat.h"

NNLA_EXTERN_C_BEGIN

/** Kinds of activation. The parameter's meaning is given for each. */
typedef enum nnla_act_kind {
    NNLA_ACT_IDENTITY = 0,   /**< f(x) = x */
    NNLA_ACT_SIGMOID = 1,    /**< f(x) = 1 / (1 + exp(-beta x)); param = beta (default 1, the paper's slope) */
    NNLA_ACT_TANH = 2,       /**< f(x) = tanh(x) */
    NNLA_ACT_RELU = 3,       /**< f(x) = max(x, 0); f'(0) taken as 0, as in PyTorch */
    NNLA_ACT_LEAKY_RELU = 4, /**< f(x) = x if x > 0 else alpha x; param = alpha (default 0.01) */
    NNLA_ACT_ELU = 5,        /**< f(x) = x if x > 0 else alpha (exp(x) - 1); param = alpha (default 1) */
    NNLA_ACT_GELU = 6,       /**< f(x) = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2 (the exact, erf form) */
    NNLA_ACT_SILU = 7,       /**< f(x) = x sigmoid(x) */
    NNLA_ACT_SOFTPLUS = 8,   /**< f(x) = log(1 + exp(beta x)) / beta; param = beta > 0 (default 1) */
    NNLA_ACT_SOFTMAX = 9,    /**< row-wise: f(x)_j = exp(x_j) / sum_i exp(x_i) */
    NNLA_ACT_LOG_SOFTMAX = 10 /**< row-wise: f(x)_j = x_j - log sum_i exp(x_i) */
} nnla_act_kind;

/** Number of activation kinds (one past the last enumerator). */
#define NNLA_ACT_KIND_COUNT 11

/** An activation: its kind and its parameter (ignored by kinds without one). */
typedef struct nnla_act {
    nnla_act_kind kind; /**< which function */
    double param;       /**< beta for sigmoid/softplus, alpha for leaky ReLU/ELU */
} nnla_act;

/**
 * @brief The activation of a kind with its default parameter (sigmoid beta 1,
 *        leaky ReLU alpha 0.01, ELU alpha 1, softplus beta 1; 0 for the others).
 *        An unknown kind gives identity.
 */
NNLA_API nnla_act nnla_act_default(nnla_act_kind kind);

/**
 * @brief Check an activation: known kind; for the kinds with a parameter, a finite
 *        one with beta > 0 for sigmoid and softplus and alpha >= 0 for ELU (leaky
 *        ReLU takes any finite alpha). The parameter of other kinds is ignored.
 * @return ::NNLA_OK or ::NNLA_EINVAL.
 */
NNLA_API nnla_status nnla_act_check(nnla_act act);

/** @brief Whether the activation is row-wise (softmax, log-softmax). */
NNLA_API int nnla_act_is_rowwise(nnla_act_kind kind);

/**
 * @brief The name of a kind as nnla_act_parse() reads it ("relu", "leaky_relu",
 *        "log_softmax", ...); NULL for an unknown kind.
 */
NNLA_API const char *nnla_act_name(nnla_act_kind kind);

/**
 * @brief Parse "NAME" or "NAME:PARAM" (e.g. "relu", "sigmoid:2", "leaky_relu:0.1").
 *
 * Names: identity, sigmoid, tanh, relu, leaky_relu, elu, gelu, silu, softplus,
 * softmax, log_softmax (exact, lower case). A parameter is accepted only by the kinds
 * that have one; without it the default applies. PARAM is a decimal number,
 * [+-]digits[.digits][(e|E)[+-]digits] with at least one digit, nothing before or
 * after it (no blanks, hex, inf or nan), read the same in every locale (the decimal
 * point is always '.') and correctly rounded; it must be finite and pass
 * nnla_act_check(). Mantissas of more than 62 digits are refused.
 * @param text NUL-terminated text.
 * @param act  receives the activation (untouched on failure).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for an unknown name, a malformed or
 *         out-of-range parameter, or a parameter given to a kind without one.
 */
NNLA_API nnla_status nnla_act_parse(const char *text, nnla_act *act);

/**
 * @brief Y = f(X). Elementwise kinds apply to every entry; softmax and
 *        log-softmax to each row.
 *
 * In place is allowed: y may be x itself (same data and ld). Other overlaps are
 * not allowed. Entries between cols and ld are never touched.
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD, ::NNLA_EOVERFLOW for bad views;
 *         ::NNLA_ESHAPE when x and y differ in shape; ::NNLA_EINVAL for a bad act;
 *         ::NNLA_EALIAS when y overlaps x without being x itself.
 */
NNLA_API nnla_status nnla_act_forward(nnla_act act, nnla_cmat x, nnla_mat y);

/**
 * @brief D = f'(X) entrywise, for the elementwise kinds.
 *
 * d may be x itself. For the row-wise kinds the derivative is a Jacobian per row:
 * use nnla_act_backward(). NaN in x gives NaN in d. At the kinks the one-sided
 * value of PyTorch is used: relu'(0) = 0, leaky_relu'(0) = alpha, elu'(0) = alpha.
 * @return as nnla_act_forward(), plus ::NNLA_EUNSUPPORTED for softmax/log-softmax.
 */
NNLA_API nnla_status nnla_act_derivative(nnla_act act, nnla_cmat x, nnla_mat d);

/**
 * @brief The backward pass: dX = J_f(X)^T dY, with Y = f(X).
 *
 * Elementwise kinds: dX = dY .* f'(X). Softmax: dX = Y .* (dY - rowsum(dY .* Y)).
 * Log-softmax: dX = dY - exp(Y) .* rowsum(dY). y must hold f(x) (the row-wise kinds
 * use it; elementwise kinds use x; all four views are checked). dx may be dy, x or
 * y itself (same data and ld); other overlaps are refused.
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD, ::NNLA_EOVERFLOW, ::NNLA_ESHAPE,
 *         ::NNLA_EINVAL; ::NNLA_EALIAS when dx partly overlaps x, y or dy.
 */
NNLA_API nnla_status nnla_act_backward(nnla_act act, nnla_cmat x, nnla_cmat y, nnla_cmat dy,
                                       nnla_mat dx);

NNLA_EXTERN_C_END

#endif /* NNLA_ACT_H */
