/**
 * @file nnla/init.h
 * @brief Weight initialization: Xavier/Glorot, He/Kaiming, LeCun (uniform and normal) and
 *        orthogonal, drawn from libnnla's seeded generator (::nnla_rng), as torch.nn.init does.
 *
 * A weight is a tensor of ndim >= 2 dimensions in PyTorch's layout: a dense weight is
 * out x in, a convolution weight out x in/groups x kh x kw. Its fans are those of
 * torch.nn.init._calculate_fan_in_and_fan_out: with the receptive field r = the product of
 * shape[2..ndim), fan_in = shape[1] r and fan_out = shape[0] r (nnla_init_fans()).
 *
 * | kind | law | scale (nnla_init_scale()) |
 * |---|---|---|
 * | ::NNLA_INIT_XAVIER_UNIFORM | U(-a, a) | a = gain sqrt(6 / (fan_in + fan_out)) |
 * | ::NNLA_INIT_XAVIER_NORMAL | N(0, std^2) | std = gain sqrt(2 / (fan_in + fan_out)) |
 * | ::NNLA_INIT_HE_UNIFORM | U(-a, a) | a = gain sqrt(3 / fan), fan = fan_in or fan_out (mode) |
 * | ::NNLA_INIT_HE_NORMAL | N(0, std^2) | std = gain / sqrt(fan) |
 * | ::NNLA_INIT_LECUN_UNIFORM | U(-a, a) | a = gain sqrt(3 / fan_in) (mode ignored) |
 * | ::NNLA_INIT_LECUN_NORMAL | N(0, std^2) | std = gain / sqrt(fan_in) (mode ignored) |
 * | ::NNLA_INIT_ORTHOGONAL | gain Q | Q with orthonormal rows or columns (see below) |
 *
 * The gain of an activation is torch.nn.init.calculate_gain's (nnla_init_gain()): 1 for
 * identity and sigmoid, 5/3 for tanh, sqrt(2) for ReLU, sqrt(2 / (1 + alpha^2)) for leaky ReLU
 * (alpha = its parameter); PyTorch's 3/4 for SELU (not an ::nnla_act kind) is passed as 0.75.
 * He with the ReLU gain is torch.nn.init.kaiming_*_(nonlinearity='relu'); LeCun is the same law
 * with the fan-in and gain 1 (Keras and JAX draw LeCun normal from a truncated normal instead).
 *
 * Orthogonal (torch.nn.init.orthogonal_): the weight is viewed as rows = shape[0] by
 * cols = fan_in (a conv weight O x C x kh x kw as O x C kh kw). A rows x cols matrix G of standard
 * normal samples is drawn in row-major order; Q R is the QR factorization (LAPACK dgeqrf and
 * dorgqr) of G when rows >= cols, or of G^T otherwise; each column of Q is multiplied by the sign
 * of R's diagonal entry (sign(0) = +1), which makes Q Haar-distributed; W = gain Q (rows >= cols:
 * W^T W = gain^2 I) or gain Q^T (rows < cols: W W^T = gain^2 I).
 *
 * Samples come from ::nnla_rng in the order of the weight's elements (row-major), so the same
 * seed gives the same weights on every machine. The initializers check every argument first:
 * on failure neither the weight nor the generator is touched. nnla_net_init() initializes every
 * layer of a network (weights with the gain of each layer's activation, biases, BatchNorm) at once.
 */
#ifndef NNLA_INIT_H
#define NNLA_INIT_H

#include "act.h"
#include "mat.h"
#include "net.h"
#include "rng.h"

NNLA_EXTERN_C_BEGIN

/** The initializers. */
typedef enum nnla_init_kind {
    NNLA_INIT_XAVIER_UNIFORM = 0, /**< Glorot and Bengio 2010, uniform */
    NNLA_INIT_XAVIER_NORMAL = 1,  /**< Glorot and Bengio 2010, normal */
    NNLA_INIT_HE_UNIFORM = 2,     /**< He et al. 2015 (Kaiming), uniform */
    NNLA_INIT_HE_NORMAL = 3,      /**< He et al. 2015 (Kaiming), normal */
    NNLA_INIT_LECUN_UNIFORM = 4,  /**< LeCun et al. 1998, uniform */
    NNLA_INIT_LECUN_NORMAL = 5,   /**< LeCun et al. 1998, normal */
    NNLA_INIT_ORTHOGONAL = 6      /**< Saxe et al. 2014: a scaled random orthogonal matrix */
} nnla_init_kind;

/** Number of initializer kinds (one past the last enumerator). */
#define NNLA_INIT_KIND_COUNT 7

/** Which fan the He initializers scale by. */
typedef enum nnla_fan_mode {
    NNLA_FAN_IN = 0, /**< preserve the variance of the forward pass (PyTorch's default) */
    NNLA_FAN_OUT = 1 /**< preserve the variance of the backward pass */
} nnla_fan_mode;

/**
 * @brief The name of a kind ("xavier_uniform", "he_normal", "orthogonal", ...); NULL for an
 *        unknown kind.
 */
NNLA_API const char *nnla_init_name(nnla_init_kind kind);

/**
 * @brief The fans of a weight of the given shape, as torch.nn.init._calculate_fan_in_and_fan_out.
 * @param ndim    the number of dimensions, >= 2.
 * @param shape   ndim sizes, each >= 1.
 * @param fan_in  receives shape[1] times the product of shape[2..ndim).
 * @param fan_out receives shape[0] times the same product.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM for ndim < 2 or a zero size; ::NNLA_EOVERFLOW
 *         when the number of elements overflows size_t.
 */
NNLA_API nnla_status nnla_init_fans(size_t ndim, const size_t *shape, size_t *fan_in, size_t *fan_out);

/**
 * @brief The gain of an activation, as torch.nn.init.calculate_gain: identity 1, sigmoid 1 (whatever
 *        its slope), tanh 5/3, relu sqrt(2), leaky_relu sqrt(2 / (1 + alpha^2)).
 * @param act  the activation (checked by nnla_act_check()).
 * @param gain receives the gain.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for an invalid activation;
 *         ::NNLA_EUNSUPPORTED for kinds PyTorch gives no gain for (elu, gelu, silu, softplus,
 *         softmax, log_softmax).
 */
NNLA_API nnla_status nnla_init_gain(nnla_act act, double *gain);

/**
 * @brief The scale of an initializer on a shape: the bound a of U(-a, a) for the uniform kinds,
 *        the standard deviation for the normal kinds, the gain for ::NNLA_INIT_ORTHOGONAL.
 * @param kind  the initializer.
 * @param gain  the gain, finite and >= 0 (e.g. from nnla_init_gain()).
 * @param mode  ::NNLA_FAN_IN or ::NNLA_FAN_OUT (read by the He kinds only, but always checked).
 * @param ndim  as nnla_init_fans().
 * @param shape as nnla_init_fans().
 * @param scale receives the scale.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for an unknown kind or mode, or a bad gain;
 *         ::NNLA_EDIM; ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_init_scale(nnla_init_kind kind, double gain, nnla_fan_mode mode, size_t ndim,
                                     const size_t *shape, double *scale);

/**
 * @brief Workspace, in bytes, for nnla_init_tensor() (and nnla_init_mat() with shape {rows, cols}):
 *        0 for every kind but ::NNLA_INIT_ORTHOGONAL, whose QR needs the matrix and LAPACK's work.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for an unknown kind; ::NNLA_EDIM;
 *         ::NNLA_EOVERFLOW (for orthogonal, when the matrix exceeds LAPACK's int).
 */
NNLA_API nnla_status nnla_init_workspace_size(nnla_init_kind kind, size_t ndim, const size_t *shape,
                                              size_t *bytes);

/**
 * @brief Initialize a contiguous weight tensor in place from a generator.
 * @param kind  the initializer.
 * @param gain  the gain, finite and >= 0.
 * @param mode  the fan of the He kinds (checked for every kind).
 * @param ndim  the number of dimensions, >= 2.
 * @param shape ndim sizes, each >= 1 (e.g. {out, in} or {O, C, kh, kw}).
 * @param w     the weight, product(shape) doubles, row-major (C order).
 * @param rng   a seeded generator; advanced by the draws.
 * @param work  workspace of nnla_init_workspace_size() bytes (may be NULL when that is 0).
 * @param work_size its size in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL; ::NNLA_EDIM; ::NNLA_EOVERFLOW; ::NNLA_EWORKSPACE;
 *         ::NNLA_EALIAS when w overlaps work or the generator; ::NNLA_ELAPACK for an internal
 *         LAPACK error (a bug to report). On failure w and rng are untouched.
 */
NNLA_API nnla_status nnla_init_tensor(nnla_init_kind kind, double gain, nnla_fan_mode mode, size_t ndim,
                                      const size_t *shape, double *w, nnla_rng *rng, void *work,
                                      size_t work_size);

/**
 * @brief Initialize a matrix view (out x in, any ld >= cols) in place: nnla_init_tensor() with
 *        shape {rows, cols}; the padding between cols and ld is not touched. The draws fill the
 *        rows in order, so a view with ld > cols receives the same values as a contiguous one.
 * @return as nnla_init_tensor(), plus ::NNLA_ELD for a bad view.
 */
NNLA_API nnla_status nnla_init_mat(nnla_init_kind kind, double gain, nnla_fan_mode mode, nnla_mat w,
                                   nnla_rng *rng, void *work, size_t work_size);

/* ------------------------------------------------------------------ a whole network */

/** Options of nnla_net_init(); start from nnla_net_init_opts_default(). */
typedef struct nnla_net_init_opts {
    nnla_init_kind kind;  /**< the law of every dense and conv2d weight (default ::NNLA_INIT_HE_UNIFORM) */
    nnla_fan_mode mode;   /**< the fan of the He kinds (default ::NNLA_FAN_IN) */
    int zero_bias;        /**< 0 (default): biases from PyTorch's default, U(-1/sqrt(fan_in), 1/sqrt(fan_in));
                               1: zeros */
    double default_gain;  /**< the gain for an activation torch.nn.init.calculate_gain has none for (elu,
                               gelu, silu, softplus, softmax, log_softmax), finite and >= 0 (default 1) */
} nnla_net_init_opts;

/** @brief The default options (see ::nnla_net_init_opts). */
NNLA_API nnla_net_init_opts nnla_net_init_opts_default(void);

/**
 * @brief Workspace, in bytes, for nnla_net_init() with a kind: the largest nnla_init_workspace_size()
 *        over the network's dense and conv2d weights (0 for every kind but ::NNLA_INIT_ORTHOGONAL).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for an unknown kind; ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_net_init_workspace_size(const nnla_net *net, nnla_init_kind kind, size_t *bytes);

/**
 * @brief Initialize a network's parameters in place from one generator, layer after layer.
 *
 * - dense and conv2d: the weight by nnla_init_tensor() with opts->kind and opts->mode, the layer's
 *   fans (PyTorch's: a conv weight O x C/groups x kh x kw has fan_in = C/groups kh kw) and the gain
 *   (nnla_init_gain()) of its activation: the fused one, or, when that is the identity, the
 *   activation layer that follows it, looked for through the layers that read it alone and are a
 *   BatchNorm, a dropout, a flatten or a pooling (conv -> BatchNorm -> relu takes relu's gain); the
 *   identity (gain 1) when there is none; opts->default_gain for kinds PyTorch gives no gain for.
 *   Then the bias, if the layer has one: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as torch.nn.Linear and
 *   Conv2d's reset_parameters(), or zeros.
 * - BatchNorm: gamma 1, beta 0, and (as PyTorch's reset_parameters()) running mean 0, variance 1.
 * The draws are taken in the order of the parameter block (weight, then bias, layer after layer), so
 * a seed gives the same network on every machine.
 * @param net  the network.
 * @param opts options (NULL: the defaults).
 * @param rng  a seeded generator, advanced by the draws.
 * @param work workspace of nnla_net_init_workspace_size() bytes (may be NULL when that is 0).
 * @param work_size its size in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL (an unknown kind or mode, a bad default_gain or
 *         zero_bias, a gain too large for a shape); ::NNLA_EWORKSPACE; ::NNLA_EALIAS (the generator
 *         or the workspace inside the network's parameters); ::NNLA_EOVERFLOW. Everything is checked
 *         before the first draw: on failure the network and the generator are unchanged.
 */
NNLA_API nnla_status nnla_net_init(nnla_net *net, const nnla_net_init_opts *opts, nnla_rng *rng, void *work,
                                   size_t work_size);

NNLA_EXTERN_C_END

#endif /* NNLA_INIT_H */
