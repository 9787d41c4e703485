/*
 * Activations: forward, derivative and backward (vector-Jacobian product).
 *
 * Every kind is evaluated in a form that stays finite and accurate at the extremes:
 * the sigmoid family goes through e = exp(-|z|) <= 1 (never exp(+big)), softplus is
 * max(x, 0) + log1p(e) / beta, tanh' and sigmoid' are written as e / (1 + e)^2 rather than
 * 1 - t^2 or s (1 - s) (which cancel to 0 in the tails), GELU uses erfc for the
 * negative side, and the row-wise kinds subtract the row maximum first.
 *
 * Loops: the kind is dispatched once per call (or per row), outside the inner loop,
 * so every inner loop is a straight pass the compiler can vectorize.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SQRT1_2 0.70710678118654752440          /* 1/sqrt(2), rounded to double */
#define SQRT1_2_LO (-4.833646656726457e-17)     /* 1/sqrt(2) - SQRT1_2 */
#define TWO_OVER_SQRTPI 1.12837916709551257390  /* 2/sqrt(pi) */
#define INV_SQRT_2PI 0.39894228040143267794     /* 1/sqrt(2 pi) */

/* ------------------------------------------------------------------ descriptors */

/* Everything per kind comes from NNLA_ACT_LIST (act.h): names, parameter names, defaults, rules. */
static const nnla_act_info act_table[NNLA_ACT_KIND_COUNT] = {
#define ACT_INFO_(e, v, name, pname, def, rule, rowwise) [v] = {#name, pname, def, NNLA_ACT_PARAM_##rule, rowwise},
    NNLA_ACT_LIST(ACT_INFO_)
#undef ACT_INFO_
};

static int kind_valid(nnla_act_kind kind) { return (unsigned)kind < (unsigned)NNLA_ACT_KIND_COUNT; }

/* Whether the kind takes a parameter. */
static int kind_has_param(nnla_act_kind kind) { return act_table[kind].rule != NNLA_ACT_PARAM_NONE; }

nnla_status nnla_act_info_get(nnla_act_kind kind, nnla_act_info *info)
{
    if (info == NULL) return NNLA_ENULL;
    if (!kind_valid(kind)) return NNLA_EINVAL;
    *info = act_table[kind];
    return NNLA_OK;
}

nnla_act nnla_act_default(nnla_act_kind kind)
{
    nnla_act a;
    a.kind = kind_valid(kind) ? kind : NNLA_ACT_IDENTITY;
    a.param = act_table[a.kind].param_default;
    return a;
}

nnla_status nnla_act_check(nnla_act act)
{
    if (!kind_valid(act.kind)) return NNLA_EINVAL;
    switch (act_table[act.kind].rule) {
    case NNLA_ACT_PARAM_NONE: return NNLA_OK;
    case NNLA_ACT_PARAM_FINITE: return isfinite(act.param) ? NNLA_OK : NNLA_EINVAL;
    case NNLA_ACT_PARAM_POSITIVE: return isfinite(act.param) && act.param > 0.0 ? NNLA_OK : NNLA_EINVAL;
    case NNLA_ACT_PARAM_NONNEG: return isfinite(act.param) && act.param >= 0.0 ? NNLA_OK : NNLA_EINVAL;
    }
    return NNLA_EINVAL;
}

int nnla_act_is_rowwise(nnla_act_kind kind) { return kind_valid(kind) && act_table[kind].rowwise; }

const char *nnla_act_name(nnla_act_kind kind) { return kind_valid(kind) ? act_table[kind].name : NULL; }

/* ------------------------------------------------------------------ parsing */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/*
 * Parse a decimal number strictly and independently of the locale: the whole text must be
 * [+-]MANTISSA[(e|E)[+-]digits], MANTISSA one of digits, digits.digits, digits. and .digits (at
 * least one mantissa digit; no blanks, hex, inf or nan), as in C and Python. The decimal point is removed by rewriting the number as "<sign><digits>e<exponent>",
 * which strtod reads the same way in every locale; strtod then rounds correctly.
 */
static int parse_number(const char *s, double *out)
{
    char buf[80]; /* sign, <= 62 digits, 'e', <= 8 exponent characters, NUL */
    size_t n = 0;
    const char *p = s;
    if (*p == '+' || *p == '-') buf[n++] = *p++;
    size_t digits = 0, frac = 0;
    while (is_digit(*p)) {
        if (digits == 62) return 0; /* too long to be a sensible parameter */
        buf[n++] = *p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (is_digit(*p)) {
            if (digits == 62) return 0;
            buf[n++] = *p++;
            digits++;
            frac++;
        }
    }
    if (digits == 0) return 0;
    long exp10 = 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        int neg = 0;
        if (*p == '+' || *p == '-') neg = *p++ == '-';
        if (!is_digit(*p)) return 0;
        while (is_digit(*p)) {
            if (exp10 < 100000) exp10 = exp10 * 10 + (*p - '0'); /* saturate: far beyond range */
            p++;
        }
        if (neg) exp10 = -exp10;
    }
    if (*p != '\0') return 0;
    exp10 -= (long)frac;
    buf[n++] = 'e';
    /* write exp10 in decimal (|exp10| <= 1000061: at most 8 characters with the sign) */
    if (exp10 < 0) {
        buf[n++] = '-';
        exp10 = -exp10;
    }
    char tmp[12];
    size_t t = 0;
    do {
        tmp[t++] = (char)('0' + exp10 % 10);
        exp10 /= 10;
    } while (exp10 > 0);
    while (t > 0) buf[n++] = tmp[--t];
    buf[n] = '\0';
    char *end = NULL;
    int saved = errno;
    double v = strtod(buf, &end);
    errno = saved;
    if (end != buf + n || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

nnla_status nnla_act_parse(const char *text, nnla_act *act)
{
    if (text == NULL || act == NULL) return NNLA_ENULL;
    const char *colon = strchr(text, ':');
    size_t name_len = colon ? (size_t)(colon - text) : strlen(text);
    for (int k = 0; k < NNLA_ACT_KIND_COUNT; k++) {
        const char *name = act_table[k].name;
        if (strlen(name) != name_len || memcmp(name, text, name_len) != 0) continue;
        nnla_act a = nnla_act_default((nnla_act_kind)k);
        if (colon) {
            if (!kind_has_param(a.kind)) return NNLA_EINVAL;
            if (!parse_number(colon + 1, &a.param)) return NNLA_EINVAL;
            if (nnla_act_check(a) != NNLA_OK) return NNLA_EINVAL;
        }
        *act = a;
        return NNLA_OK;
    }
    return NNLA_EINVAL;
}

/* ------------------------------------------------------------------ scalar kernels */

/* sigmoid(z) through e = exp(-|z|): 1/(1+e) for z >= 0, e/(1+e) below; NaN stays NaN. */
static inline double sigm(double z)
{
    double e = exp(-fabs(z));
    double r = 1.0 / (1.0 + e);
    return z >= 0.0 ? r : e * r;
}

/* sigmoid'(z) = s (1 - s) = e / (1 + e)^2 with e = exp(-|z|): no cancellation in the tails. */
static inline double sigm_d(double z)
{
    double e = exp(-fabs(z));
    double r = 1.0 / (1.0 + e);
    return e * r * r;
}

/*
 * softplus with slope beta: log(1 + exp(beta x)) / beta = max(x, 0) + log1p(exp(-|beta x|)) / beta
 * (beta > 0). The linear part is x itself, so beta x overflowing to Inf still gives x.
 */
static inline double softplus(double x, double beta)
{
    return (x > 0.0 ? x : 0.0) + log1p(exp(-fabs(beta * x))) / beta;
}

/*
 * 2 Phi(x) = erfc(-x / sqrt 2). In the lower tail erfc(u) has relative condition ~2u^2, so
 * the rounding of u = -x/sqrt 2 itself would cost ~u^2 ulps (150 ulps at x = -30): there
 * the rounding error du of u (exact with fma and the low part of 1/sqrt 2) is corrected
 * to first order, erfc(u + du) = erfc(u) - du 2/sqrt(pi) exp(-u^2).
 */
static inline double two_phi(double x)
{
    double u = -x * SQRT1_2;
    double c = erfc(u);
    if (u > 2.0 && c != 0.0) {
        double du = fma(-x, SQRT1_2, -u) - x * SQRT1_2_LO;
        c -= du * TWO_OVER_SQRTPI * exp(-u * u);
    }
    return c;
}

/* x Phi(x); 0 at -Inf (where the product would be -Inf * 0). */
static inline double gelu(double x)
{
    double c = two_phi(x);
    return c == 0.0 ? 0.0 : 0.5 * x * c;
}

/*
 * Phi(x) + x phi(x). phi(x) = exp(-x^2/2) / sqrt(2 pi) with the rounding error of x^2
 * corrected (exp(-(t + e)/2) = exp(-t/2) (1 - e/2)); the term is 0 once phi underflows
 * (also at +-Inf).
 */
static inline double gelu_d(double x)
{
    double t = x * x, e = fma(x, x, -t);
    double g = exp(-0.5 * t);
    g = g == 0.0 ? 0.0 : g * (1.0 - 0.5 * e) * INV_SQRT_2PI;
    return 0.5 * two_phi(x) + (g == 0.0 ? 0.0 : x * g);
}

/* x sigmoid(x); 0 at -Inf (where the product would be -Inf * 0). */
static inline double silu(double x)
{
    double s = sigm(x);
    return s == 0.0 ? 0.0 : x * s;
}

/* silu'(x) = s + x s (1 - s). */
static inline double silu_d(double x)
{
    double sd = sigm_d(x);
    return sigm(x) + (sd == 0.0 ? 0.0 : x * sd);
}

/* tanh'(x) = 1 - tanh^2 = 4 e / (1 + e)^2 with e = exp(-2|x|). */
static inline double tanh_d(double x)
{
    double e = exp(-2.0 * fabs(x));
    double r = 1.0 / (1.0 + e);
    return 4.0 * e * r * r;
}

/* ------------------------------------------------------------------ f and f' per kind */

/* f_NAME(v, p) and d_NAME(v, p) for every elementwise kind of NNLA_ACT_LIST; p is the parameter.
 * NaN in gives NaN out, in f and in f' (the comparisons are written so that NaN falls through). */
static inline double f_identity(double v, double p) { (void)p; return v; }
static inline double d_identity(double v, double p) { (void)p; return v == v ? 1.0 : v; }
static inline double f_sigmoid(double v, double p) { return sigm(p * v); }
static inline double d_sigmoid(double v, double p) { return p * sigm_d(p * v); }
static inline double f_tanh(double v, double p) { (void)p; return tanh(v); }
static inline double d_tanh(double v, double p) { (void)p; return tanh_d(v); }
static inline double f_relu(double v, double p) { (void)p; return v < 0.0 ? 0.0 : v; }
/* f' of the ReLUs as two selects, not nested branches: the compiler vectorizes them (a branch on the
 * sign of activations is mispredicted about half the time) */
static inline double d_relu(double v, double p)
{
    (void)p;
    double d = v > 0.0 ? 1.0 : 0.0;
    return v == v ? d : v;
}
static inline double f_leaky_relu(double v, double p) { return v > 0.0 ? v : p * v; }
static inline double d_leaky_relu(double v, double p)
{
    double d = v > 0.0 ? 1.0 : p;
    return v == v ? d : v;
}
static inline double f_elu(double v, double p) { return v > 0.0 ? v : p * expm1(v); }
static inline double d_elu(double v, double p) { return v > 0.0 ? 1.0 : p * exp(v); }
static inline double f_gelu(double v, double p) { (void)p; return gelu(v); }
static inline double d_gelu(double v, double p) { (void)p; return gelu_d(v); }
static inline double f_silu(double v, double p) { (void)p; return silu(v); }
static inline double d_silu(double v, double p) { (void)p; return silu_d(v); }
static inline double f_softplus(double v, double p) { return softplus(v, p); }
static inline double d_softplus(double v, double p) { return sigm(p * v); }

/*
 * The switch over the elementwise kinds, generated from NNLA_ACT_LIST: ACT_SWITCH(LOOP) expands
 * to one case per elementwise kind running LOOP(F, D) with F = f_NAME and D = d_NAME (row-wise
 * kinds have no case). Each case is one tight loop the compiler vectorizes where it can.
 */
#define ACT_CASE_0(e, name, LOOP)                                                                  \
    case e: LOOP(f_##name, d_##name); break;
#define ACT_CASE_1(e, name, LOOP)
#define ACT_CASE_(e, v, name, pname, def, rule, rowwise) ACT_CASE_##rowwise(e, name, ACT_LOOP_)
#define ACT_SWITCH(kind)                                                                           \
    switch (kind) {                                                                                \
        NNLA_ACT_LIST(ACT_CASE_)                                                                   \
    default: break;                                                                                \
    }

/* y[j] = f(x[j]) for j < n; x and y may be the same array. */
static void ew_forward(nnla_act_kind kind, double p, size_t n, const double *x, double *y)
{
    if (kind == NNLA_ACT_IDENTITY) {
        if (x != y) nnla__copy(y, x, n);
        return;
    }
#define ACT_LOOP_(F, D)                                                                            \
    for (size_t j = 0; j < n; j++) y[j] = F(x[j], p)
    ACT_SWITCH(kind)
#undef ACT_LOOP_
}

/* d[j] = f'(x[j]); NaN in x gives NaN in d. */
static void ew_derivative(nnla_act_kind kind, double p, size_t n, const double *x, double *d)
{
#define ACT_LOOP_(F, D)                                                                            \
    for (size_t j = 0; j < n; j++) d[j] = D(x[j], p)
    ACT_SWITCH(kind)
#undef ACT_LOOP_
}

/* dx[j] = dy[j] f'(x[j]): x, dy and dx may coincide. */
static void ew_backward(nnla_act_kind kind, double p, size_t n, const double *x, const double *dy,
                        double *dx)
{
#define ACT_LOOP_(F, D)                                                                            \
    for (size_t j = 0; j < n; j++) dx[j] = dy[j] * D(x[j], p)
    ACT_SWITCH(kind)
#undef ACT_LOOP_
}

/* dst[r][j] = f(src[r][j] + b) over rows, b = bias[r] (per_row) or bias[j]; bias may be NULL.
 * Row-wise kinds only get the bias (their callers normalize over the right axis afterwards). */
void nnla__act_bias_rows(nnla_act act, size_t rows, size_t n, const double *src, size_t lds, double *dst,
                         size_t ldd, const double *bias, int per_row)
{
    const double p = act.param;
    const nnla_act_kind kind = nnla_act_is_rowwise(act.kind) ? NNLA_ACT_IDENTITY : act.kind;
    for (size_t r = 0; r < rows; r++) {
        const double *s = src + r * lds;
        double *o = dst + r * ldd;
        if (bias == NULL) {
            ew_forward(kind, p, n, s, o);
        } else if (per_row) {
            const double b = bias[r];
#define ACT_LOOP_(F, D)                                                                            \
    for (size_t j = 0; j < n; j++) o[j] = F(s[j] + b, p)
            if (kind == NNLA_ACT_IDENTITY) {
                for (size_t j = 0; j < n; j++) o[j] = s[j] + b;
            } else {
                ACT_SWITCH(kind)
            }
#undef ACT_LOOP_
        } else {
#define ACT_LOOP_(F, D)                                                                            \
    for (size_t j = 0; j < n; j++) o[j] = F(s[j] + bias[j], p)
            if (kind == NNLA_ACT_IDENTITY) {
                for (size_t j = 0; j < n; j++) o[j] = s[j] + bias[j];
            } else {
                ACT_SWITCH(kind)
            }
#undef ACT_LOOP_
        }
    }
}

/* ------------------------------------------------------------------ row-wise kinds */

/* The row maximum; NaN entries are skipped here and propagate through exp(NaN - m). */
static double row_max(const double *x, size_t n)
{
    double m = -INFINITY;
    for (size_t j = 0; j < n; j++)
        if (x[j] > m) m = x[j];
    return m;
}

static void softmax_row(size_t n, const double *x, double *y)
{
    double m = row_max(x, n);
    if (m == -INFINITY) m = 0.0; /* all -Inf (or NaN): exp(-Inf) = 0, the sum 0, the row NaN */
    double s = 0.0;
    for (size_t j = 0; j < n; j++) {
        double e = exp(x[j] - m);
        y[j] = e;
        s += e;
    }
    double r = 1.0 / s;
    for (size_t j = 0; j < n; j++) y[j] *= r;
}

static void log_softmax_row(size_t n, const double *x, double *y)
{
    double m = row_max(x, n);
    if (m == -INFINITY) m = 0.0;
    double s = 0.0;
    for (size_t j = 0; j < n; j++) s += exp(x[j] - m);
    double l = log(s);
    /* (x - m) - log s, not x - (m + log s): m + log s would round away the small log s */
    for (size_t j = 0; j < n; j++) y[j] = (x[j] - m) - l;
}

/* ------------------------------------------------------------------ checks */

static int same_view(nnla_cmat a, nnla_cmat b) { return a.data == b.data && a.ld == b.ld; }

/* An output may be an input itself (same data and ld) but must not partly overlap it. */
static int bad_alias(nnla_cmat out, nnla_cmat in)
{
    if (same_view(out, in)) return 0;
    return nnla__overlap(out.data, nnla__view_bytes(out), in.data, nnla__view_bytes(in));
}

static int same_shape(nnla_cmat a, nnla_cmat b) { return a.rows == b.rows && a.cols == b.cols; }

/* ------------------------------------------------------------------ public passes */

nnla_status nnla_act_forward(nnla_act act, nnla_cmat x, nnla_mat y)
{
    nnla_cmat yc = nnla_cmat_of(y);
    NNLA__TRY(nnla_mat_check(x));
    NNLA__TRY(nnla_mat_check(yc));
    if (!same_shape(x, yc)) return NNLA_ESHAPE;
    NNLA__TRY(nnla_act_check(act));
    if (bad_alias(yc, x)) return NNLA_EALIAS;

    size_t rows = x.rows, cols = x.cols;
    if (act.kind == NNLA_ACT_SOFTMAX) {
        for (size_t i = 0; i < rows; i++) softmax_row(cols, x.data + i * x.ld, y.data + i * y.ld);
    } else if (act.kind == NNLA_ACT_LOG_SOFTMAX) {
        for (size_t i = 0; i < rows; i++) log_softmax_row(cols, x.data + i * x.ld, y.data + i * y.ld);
    } else if (act.kind == NNLA_ACT_IDENTITY && same_view(x, yc)) {
        /* nothing to do */
    } else if (x.ld == cols && y.ld == cols) {
        ew_forward(act.kind, act.param, rows * cols, x.data, y.data); /* one pass, contiguous */
    } else {
        for (size_t i = 0; i < rows; i++)
            ew_forward(act.kind, act.param, cols, x.data + i * x.ld, y.data + i * y.ld);
    }
    return NNLA_OK;
}

nnla_status nnla_act_derivative(nnla_act act, nnla_cmat x, nnla_mat d)
{
    nnla_cmat dc = nnla_cmat_of(d);
    NNLA__TRY(nnla_mat_check(x));
    NNLA__TRY(nnla_mat_check(dc));
    if (!same_shape(x, dc)) return NNLA_ESHAPE;
    NNLA__TRY(nnla_act_check(act));
    if (nnla_act_is_rowwise(act.kind)) return NNLA_EUNSUPPORTED;
    if (bad_alias(dc, x)) return NNLA_EALIAS;

    if (x.ld == x.cols && d.ld == x.cols) {
        ew_derivative(act.kind, act.param, x.rows * x.cols, x.data, d.data);
    } else {
        for (size_t i = 0; i < x.rows; i++)
            ew_derivative(act.kind, act.param, x.cols, x.data + i * x.ld, d.data + i * d.ld);
    }
    return NNLA_OK;
}

nnla_status nnla_act_backward(nnla_act act, nnla_cmat x, nnla_cmat y, nnla_cmat dy, nnla_mat dx)
{
    nnla_cmat dxc = nnla_cmat_of(dx);
    NNLA__TRY(nnla_mat_check(x));
    NNLA__TRY(nnla_mat_check(y));
    NNLA__TRY(nnla_mat_check(dy));
    NNLA__TRY(nnla_mat_check(dxc));
    if (!same_shape(x, y) || !same_shape(x, dy) || !same_shape(x, dxc)) return NNLA_ESHAPE;
    NNLA__TRY(nnla_act_check(act));
    if (bad_alias(dxc, x) || bad_alias(dxc, y) || bad_alias(dxc, dy)) return NNLA_EALIAS;

    size_t rows = x.rows, n = x.cols;
    for (size_t i = 0; i < rows; i++) {
        const double *xr = x.data + i * x.ld, *yr = y.data + i * y.ld, *g = dy.data + i * dy.ld;
        double *o = dx.data + i * dx.ld;
        if (act.kind == NNLA_ACT_SOFTMAX) {
            /* dx = y .* (dy - <dy, y>) */
            double s = 0.0;
            for (size_t j = 0; j < n; j++) s += g[j] * yr[j];
            for (size_t j = 0; j < n; j++) o[j] = yr[j] * (g[j] - s);
        } else if (act.kind == NNLA_ACT_LOG_SOFTMAX) {
            /* dx = dy - softmax(x) sum(dy), softmax(x) = exp(y) */
            double s = 0.0;
            for (size_t j = 0; j < n; j++) s += g[j];
            for (size_t j = 0; j < n; j++) o[j] = g[j] - exp(yr[j]) * s;
        } else {
            ew_backward(act.kind, act.param, n, xr, g, o);
        }
    }
    return NNLA_OK;
}

/* ------------------------------------------------------------------ NCHW: over the channel axis */

#define PIX_BLOCK 256 /* pixels normalized together: per-pixel max and sum live on the stack */

/* softmax (log_sm 0) or log-softmax (1) over c channels of stride `plane`, for pixels [0, np). */
static void channel_softmax(int log_sm, size_t c, size_t plane, size_t np, const double *x, double *y)
{
    double m[PIX_BLOCK], s[PIX_BLOCK];
    for (size_t j = 0; j < np; j++) {
        m[j] = -INFINITY;
        s[j] = 0.0;
    }
    for (size_t k = 0; k < c; k++) {
        const double *xk = x + k * plane;
        for (size_t j = 0; j < np; j++)
            if (xk[j] > m[j]) m[j] = xk[j]; /* NaN is skipped here and propagates through exp */
    }
    for (size_t j = 0; j < np; j++)
        if (m[j] == -INFINITY) m[j] = 0.0;
    for (size_t k = 0; k < c; k++) {
        const double *xk = x + k * plane;
        double *yk = y + k * plane;
        if (log_sm) {
            for (size_t j = 0; j < np; j++) s[j] += exp(xk[j] - m[j]);
        } else {
            for (size_t j = 0; j < np; j++) {
                double e = exp(xk[j] - m[j]);
                yk[j] = e;
                s[j] += e;
            }
        }
    }
    if (log_sm) {
        for (size_t j = 0; j < np; j++) s[j] = log(s[j]);
        for (size_t k = 0; k < c; k++) {
            const double *xk = x + k * plane;
            double *yk = y + k * plane;
            for (size_t j = 0; j < np; j++) yk[j] = (xk[j] - m[j]) - s[j];
        }
    } else {
        for (size_t j = 0; j < np; j++) s[j] = 1.0 / s[j];
        for (size_t k = 0; k < c; k++) {
            double *yk = y + k * plane;
            for (size_t j = 0; j < np; j++) yk[j] *= s[j];
        }
    }
}

/* The backward pass of channel_softmax() for pixels [0, np). */
static void channel_softmax_backward(int log_sm, size_t c, size_t plane, size_t np, const double *y,
                                     const double *dy, double *dx)
{
    double s[PIX_BLOCK];
    for (size_t j = 0; j < np; j++) s[j] = 0.0;
    for (size_t k = 0; k < c; k++) {
        const double *yk = y + k * plane, *gk = dy + k * plane;
        if (log_sm) {
            for (size_t j = 0; j < np; j++) s[j] += gk[j];
        } else {
            for (size_t j = 0; j < np; j++) s[j] += gk[j] * yk[j];
        }
    }
    for (size_t k = 0; k < c; k++) {
        const double *yk = y + k * plane, *gk = dy + k * plane;
        double *ok = dx + k * plane;
        if (log_sm) {
            for (size_t j = 0; j < np; j++) ok[j] = gk[j] - exp(yk[j]) * s[j];
        } else {
            for (size_t j = 0; j < np; j++) ok[j] = yk[j] * (gk[j] - s[j]);
        }
    }
}

/* Checks shared by the NCHW passes: sizes, the total count and its bytes. */
static nnla_status nchw_check(nnla_act act, size_t batch, size_t channels, size_t plane, size_t *total)
{
    if (batch == 0 || channels == 0 || plane == 0) return NNLA_EDIM;
    size_t t, bytes;
    if (!nnla__mul(batch, channels, &t) || !nnla__mul(t, plane, &t) || !nnla__mul(t, sizeof(double), &bytes))
        return NNLA_EOVERFLOW;
    NNLA__TRY(nnla_act_check(act));
    *total = t;
    return NNLA_OK;
}

/* An output may be the input itself but must not partly overlap it. */
static int bad_alias_vec(const double *out, const double *in, size_t n)
{
    return out != in && nnla__overlap(out, n * sizeof *out, in, n * sizeof *in);
}

nnla_status nnla_act_forward_nchw(nnla_act act, size_t batch, size_t channels, size_t plane, const double *x,
                                  double *y)
{
    if (x == NULL || y == NULL) return NNLA_ENULL;
    size_t total;
    NNLA__TRY(nchw_check(act, batch, channels, plane, &total));
    if (bad_alias_vec(y, x, total)) return NNLA_EALIAS;
    nnla__act_forward_nchw(act, batch, channels, plane, x, y);
    return NNLA_OK;
}

void nnla__act_forward_nchw(nnla_act act, size_t batch, size_t channels, size_t plane, const double *x,
                            double *y)
{
    if (!nnla_act_is_rowwise(act.kind)) {
        ew_forward(act.kind, act.param, batch * channels * plane, x, y);
        return;
    }
    const int log_sm = act.kind == NNLA_ACT_LOG_SOFTMAX;
    const size_t per = channels * plane;
    for (size_t n = 0; n < batch; n++) {
        if (plane == 1) { /* a flat sample: one row */
            if (log_sm)
                log_softmax_row(channels, x + n * per, y + n * per);
            else
                softmax_row(channels, x + n * per, y + n * per);
            continue;
        }
        for (size_t p0 = 0; p0 < plane; p0 += PIX_BLOCK) {
            size_t np = plane - p0 < PIX_BLOCK ? plane - p0 : PIX_BLOCK;
            channel_softmax(log_sm, channels, plane, np, x + n * per + p0, y + n * per + p0);
        }
    }
}

nnla_status nnla_act_backward_nchw(nnla_act act, size_t batch, size_t channels, size_t plane, const double *x,
                                   const double *y, const double *dy, double *dx)
{
    if (x == NULL || y == NULL || dy == NULL || dx == NULL) return NNLA_ENULL;
    size_t total;
    NNLA__TRY(nchw_check(act, batch, channels, plane, &total));
    if (bad_alias_vec(dx, x, total) || bad_alias_vec(dx, y, total) || bad_alias_vec(dx, dy, total))
        return NNLA_EALIAS;
    nnla__act_backward_nchw(act, batch, channels, plane, x, y, dy, dx);
    return NNLA_OK;
}

void nnla__act_backward_nchw(nnla_act act, size_t batch, size_t channels, size_t plane, const double *x,
                             const double *y, const double *dy, double *dx)
{
    if (!nnla_act_is_rowwise(act.kind)) {
        ew_backward(act.kind, act.param, batch * channels * plane, x, dy, dx);
        return;
    }
    const int log_sm = act.kind == NNLA_ACT_LOG_SOFTMAX;
    const size_t per = channels * plane;
    for (size_t n = 0; n < batch; n++)
        for (size_t p0 = 0; p0 < plane; p0 += PIX_BLOCK) {
            size_t np = plane - p0 < PIX_BLOCK ? plane - p0 : PIX_BLOCK;
            size_t off = n * per + p0;
            channel_softmax_backward(log_sm, channels, plane, np, y + off, dy + off, dx + off);
        }
}
