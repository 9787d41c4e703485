/**
 * @file nnla/act.h
 * @brief Activation functions, their derivatives and their backward passes.
 *
 * An activation is a kind plus one parameter (::nnla_act). Elementwise kinds act
 * on every entry; ::NNLA_ACT_SOFTMAX and ::NNLA_ACT_LOG_SOFTMAX normalize over the feature axis,
 * PyTorch's dim=1, everywhere in the library: over each row of a matrix (one sample per row),
 * and over the channels of each pixel of an NCHW tensor (nnla_act_forward_nchw(), the
 * convolution's fused activation, a network's activation layer).
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

/**
 * The list of activations, as X(enumerator, value, name, parameter name, default parameter,
 * parameter rule, row-wise). It generates the ::nnla_act_kind enumeration, the names that
 * nnla_act_parse() reads, the parameter rules of nnla_act_check(), the defaults of
 * nnla_act_default() and what nnla_act_info() reports; the library's function tables come from
 * it too, so a new activation is one line here plus its f and f'.
 *
 * The parameter rule is one of ::nnla_act_param_rule's values without the prefix: NONE (no
 * parameter), FINITE (any finite value), POSITIVE (finite, > 0), NONNEG (finite, >= 0).
 *
 * | kind | f(x) |
 * |---|---|
 * | identity | x |
 * | sigmoid | 1 / (1 + exp(-beta x)); beta > 0, default 1 (the paper's slope) |
 * | tanh | tanh(x) |
 * | relu | max(x, 0); f'(0) taken as 0, as in PyTorch |
 * | leaky_relu | x if x > 0 else alpha x; alpha finite, default 0.01 |
 * | elu | x if x > 0 else alpha (exp(x) - 1); alpha >= 0, default 1 |
 * | gelu | x Phi(x) = x (1 + erf(x / sqrt 2)) / 2 (the exact, erf form) |
 * | silu | x sigmoid(x) |
 * | softplus | log(1 + exp(beta x)) / beta; beta > 0, default 1 |
 * | softmax | exp(x_j) / sum_i exp(x_i) over the feature (channel) axis, PyTorch's dim=1 |
 * | log_softmax | x_j - log sum_i exp(x_i) over the feature (channel) axis |
 */
#define NNLA_ACT_LIST(X)                                                                           \
    X(NNLA_ACT_IDENTITY, 0, identity, "", 0.0, NONE, 0)                                            \
    X(NNLA_ACT_SIGMOID, 1, sigmoid, "beta", 1.0, POSITIVE, 0)                                      \
    X(NNLA_ACT_TANH, 2, tanh, "", 0.0, NONE, 0)                                                    \
    X(NNLA_ACT_RELU, 3, relu, "", 0.0, NONE, 0)                                                    \
    X(NNLA_ACT_LEAKY_RELU, 4, leaky_relu, "alpha", 0.01, FINITE, 0)                                \
    X(NNLA_ACT_ELU, 5, elu, "alpha", 1.0, NONNEG, 0)                                               \
    X(NNLA_ACT_GELU, 6, gelu, "", 0.0, NONE, 0)                                                    \
    X(NNLA_ACT_SILU, 7, silu, "", 0.0, NONE, 0)                                                    \
    X(NNLA_ACT_SOFTPLUS, 8, softplus, "beta", 1.0, POSITIVE, 0)                                    \
    X(NNLA_ACT_SOFTMAX, 9, softmax, "", 0.0, NONE, 1)                                              \
    X(NNLA_ACT_LOG_SOFTMAX, 10, log_softmax, "", 0.0, NONE, 1)

/** Kinds of activation (generated from ::NNLA_ACT_LIST; see its table). */
typedef enum nnla_act_kind {
#define NNLA_ACT_ENUM_(e, v, name, pname, def, rule, rowwise) e = v,
    NNLA_ACT_LIST(NNLA_ACT_ENUM_)
#undef NNLA_ACT_ENUM_
} nnla_act_kind;

/** Number of activation kinds (one past the last enumerator). */
#define NNLA_ACT_KIND_COUNT 11

/** An activation: its kind and its parameter (ignored by kinds without one). */
typedef struct nnla_act {
    nnla_act_kind kind; /**< which function */
    double param;       /**< beta for sigmoid/softplus, alpha for leaky ReLU/ELU */
} nnla_act;

/** What values a kind's parameter may take. */
typedef enum nnla_act_param_rule {
    NNLA_ACT_PARAM_NONE = 0,     /**< the kind takes no parameter */
    NNLA_ACT_PARAM_FINITE = 1,   /**< any finite value */
    NNLA_ACT_PARAM_POSITIVE = 2, /**< finite and > 0 */
    NNLA_ACT_PARAM_NONNEG = 3    /**< finite and >= 0 */
} nnla_act_param_rule;

/** What nnla_act_info() tells about a kind. */
typedef struct nnla_act_info {
    const char *name;          /**< as nnla_act_parse() reads it, e.g. "leaky_relu" */
    const char *param_name;    /**< "beta", "alpha", or "" for kinds without a parameter */
    double param_default;      /**< the default parameter (0 for kinds without one) */
    nnla_act_param_rule rule;  /**< what values the parameter may take */
    int rowwise;               /**< 1 for softmax and log-softmax (over the feature axis) */
} nnla_act_info;

/**
 * @brief Describe a kind: its name, parameter name, default and rule (from ::NNLA_ACT_LIST).
 * @param kind a kind; iterate 0 .. ::NNLA_ACT_KIND_COUNT - 1 to list them all.
 * @param info receives the description (untouched on failure).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for an unknown kind.
 */
NNLA_API nnla_status nnla_act_info_get(nnla_act_kind kind, nnla_act_info *info);

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
 * [+-]MANTISSA[(e|E)[+-]digits] where MANTISSA is digits, digits.digits, digits. or .digits
 * (as in C and Python: "2", "2.5", "2." and ".5" are all numbers), nothing before or
 * after it (no blanks, hex, inf or nan), read the same in every locale (the decimal
 * point is always '.') and correctly rounded; it must be finite and pass
 * nnla_act_check(). Mantissas of more than 62 digits are refused. nnla_act_info_get()
 * says which kinds take a parameter and what values it may take, for error messages.
 * @param text NUL-terminated text.
 * @param act  receives the activation (untouched on failure).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for an unknown name, a malformed or
 *         out-of-range parameter, or a parameter given to a kind without one.
 */
NNLA_API nnla_status nnla_act_parse(const char *text, nnla_act *act);

/**
 * @brief Y = f(X). Elementwise kinds apply to every entry; softmax and
 *        log-softmax to each row (one sample per row: PyTorch's dim=1 of a 2-D tensor).
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

/**
 * @brief y = f(x) on an NCHW batch [batch][channels][plane], plane = height * width: softmax
 *        and log-softmax normalize over the channels of each pixel (PyTorch's
 *        nn.Softmax(dim=1)), the elementwise kinds act on every entry.
 *
 * A flat sample is plane = 1 (softmax over its features). x and y are contiguous; y may be x
 * itself (in place); any other overlap is refused.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM for a zero size; ::NNLA_EOVERFLOW when the size
 *         overflows; ::NNLA_EINVAL for a bad act; ::NNLA_EALIAS for a partial overlap.
 */
NNLA_API nnla_status nnla_act_forward_nchw(nnla_act act, size_t batch, size_t channels, size_t plane,
                                           const double *x, double *y);

/**
 * @brief The backward pass of nnla_act_forward_nchw(): dx = J_f(x)^T dy, with y = f(x) (the
 *        row-wise kinds use y, the elementwise kinds x; both must be given).
 *
 * dx may be x, y or dy itself; other overlaps are refused.
 * @return as nnla_act_forward_nchw().
 */
NNLA_API nnla_status nnla_act_backward_nchw(nnla_act act, size_t batch, size_t channels, size_t plane,
                                            const double *x, const double *y, const double *dy, double *dx);

NNLA_EXTERN_C_END

#endif /* NNLA_ACT_H */
