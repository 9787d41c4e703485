/*
 * Optimizers over a flat parameter vector, gradient clipping, learning-rate schedules
 * (nnla/optim.h).
 *
 * The update rules copy torch.optim's single-tensor code (PyTorch 1.13: sgd.py, adam.py,
 * adamw.py) operation by operation. PyTorch's CPU kernels round as follows (checked against
 * exact rational arithmetic on Debian's python3-torch, AVX2 kernels): `a.add_(b, alpha=s)` is one
 * fused multiply-add, fma(b, s, a); `a.addcmul_(b, c, value=s)` is fma(s * b, c, a);
 * `a.addcdiv_(b, c, value=s)` is a + (s * b) / c, unfused; `mul_`, `sqrt`, `/` and `add_(x)` round
 * once each. The kernels below do exactly that, with C's fma(), so the results agree with
 * PyTorch's to the last bit. To keep fma() fast where the processor has the instruction (it is
 * otherwise a libm call per element), the kernels are compiled twice on x86 with GCC or Clang,
 * once for the baseline and once with `target("fma")` (FMA and AVX, vectorized), and each call
 * picks one with __builtin_cpu_supports("fma"). Both give the same bits, since fma() is exactly
 * rounded either way and the build does not contract a * b + c (-std=c11 implies
 * -ffp-contract=off). (Not target_clones: Clang 14 exports its ifunc resolvers.)
 *
 * The state is caller memory: a 64-byte header, then the vectors, n doubles each.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>

#include <omp.h>

#include "internal.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define NNLA__FMA_DISPATCH 1
#define NNLA__INLINE static inline __attribute__((always_inline))
#else
#define NNLA__FMA_DISPATCH 0
#define NNLA__INLINE static inline
#endif

/*
 * KERNEL(name, params, args): name_body (the loops, inlined), name_fma (compiled for FMA/AVX),
 * name_base (the baseline) and name, which calls the first the processor can run.
 */
#if NNLA__FMA_DISPATCH
#define NNLA__KERNEL(name, params, args)                                                           \
    __attribute__((target("fma"))) static void name##_fma params { name##_body args; }             \
    static void name##_base params { name##_body args; }                                           \
    static void name params                                                                        \
    {                                                                                              \
        __builtin_cpu_init();                                                                      \
        if (__builtin_cpu_supports("fma"))                                                         \
            name##_fma args;                                                                       \
        else                                                                                       \
            name##_base args;                                                                      \
    }
#else
#define NNLA__KERNEL(name, params, args)                                                           \
    static void name params { name##_body args; }
#endif

/* ------------------------------------------------------------------ configurations */

nnla_optim_config nnla_optim_sgd_default(void)
{
    nnla_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = NNLA_OPTIM_SGD;
    return c;
}

nnla_optim_config nnla_optim_adam_default(void)
{
    nnla_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = NNLA_OPTIM_ADAM;
    c.adam.beta1 = 0.9;
    c.adam.beta2 = 0.999;
    c.adam.eps = 1e-8;
    c.adam.weight_decay = 0.0;
    return c;
}

nnla_optim_config nnla_optim_adamw_default(void)
{
    nnla_optim_config c = nnla_optim_adam_default();
    c.kind = NNLA_OPTIM_ADAMW;
    c.adam.weight_decay = 0.01;
    return c;
}

static int finite_nonneg(double x) { return x >= 0.0 && x <= DBL_MAX; }

nnla_status nnla_optim_check(const nnla_optim_config *config)
{
    if (config == NULL) return NNLA_ENULL;
    switch (config->kind) {
    case NNLA_OPTIM_SGD: {
        const nnla_sgd_config *s = &config->sgd;
        if (!finite_nonneg(s->momentum) || !finite_nonneg(s->weight_decay)) return NNLA_EINVAL;
        if (!(s->dampening >= 0.0 && s->dampening <= 1.0)) return NNLA_EINVAL;
        if (s->nesterov && !(s->momentum > 0.0 && s->dampening == 0.0)) return NNLA_EINVAL;
        return NNLA_OK;
    }
    case NNLA_OPTIM_ADAM:
    case NNLA_OPTIM_ADAMW: {
        const nnla_adam_config *a = &config->adam;
        if (!(a->beta1 >= 0.0 && a->beta1 < 1.0) || !(a->beta2 >= 0.0 && a->beta2 < 1.0)) return NNLA_EINVAL;
        if (!finite_nonneg(a->eps) || !finite_nonneg(a->weight_decay)) return NNLA_EINVAL;
        return NNLA_OK;
    }
    }
    return NNLA_EINVAL;
}

/* ------------------------------------------------------------------ state */

#define STATE_MAGIC UINT64_C(0x314d54504f414c4e) /* "NLAOPTM1" */
#define FLAG_HAS_BUF 1u                           /* SGD: a momentum buffer follows the header */
#define FLAG_BUF_SET 2u                           /* SGD: the buffer holds a value (torch: not None) */

typedef struct state_hdr {
    uint64_t magic;
    uint32_t kind;
    uint32_t flags;
    uint64_t n;
    uint64_t step;
    uint64_t reserved[4];
} state_hdr;
_Static_assert(sizeof(state_hdr) == 64, "the state header is 64 bytes");

/* Number of n-vectors the state of a configuration holds. */
static size_t state_vectors(const nnla_optim_config *c)
{
    if (c->kind == NNLA_OPTIM_SGD) return c->sgd.momentum > 0.0 ? 1 : 0;
    return 2;
}

static nnla_status state_bytes(const nnla_optim_config *c, size_t n, size_t *bytes)
{
    size_t v, b;
    if (!nnla__mul(n, sizeof(double), &v) || !nnla__mul(v, state_vectors(c), &b) ||
        !nnla__add(b, sizeof(state_hdr), &b))
        return NNLA_EOVERFLOW;
    *bytes = b;
    return NNLA_OK;
}

static int aligned(const void *p) { return (uintptr_t)p % sizeof(double) == 0; }

nnla_status nnla_optim_state_size(const nnla_optim_config *config, size_t n, size_t *bytes)
{
    if (config == NULL || bytes == NULL) return NNLA_ENULL;
    NNLA__TRY(nnla_optim_check(config));
    if (n == 0) return NNLA_EDIM;
    return state_bytes(config, n, bytes);
}

nnla_status nnla_optim_state_init(const nnla_optim_config *config, size_t n, void *state, size_t bytes)
{
    if (config == NULL || state == NULL) return NNLA_ENULL;
    NNLA__TRY(nnla_optim_check(config));
    if (n == 0) return NNLA_EDIM;
    size_t need;
    NNLA__TRY(state_bytes(config, n, &need));
    if (!aligned(state)) return NNLA_EINVAL;
    if (bytes < need) return NNLA_EWORKSPACE;
    state_hdr h;
    memset(&h, 0, sizeof h);
    h.magic = STATE_MAGIC;
    h.kind = (uint32_t)config->kind;
    h.flags = state_vectors(config) > 0 && config->kind == NNLA_OPTIM_SGD ? FLAG_HAS_BUF : 0u;
    h.n = (uint64_t)n;
    memcpy(state, &h, sizeof h);
    double *v = (double *)(void *)((unsigned char *)state + sizeof h);
    size_t count = state_vectors(config) * n;
    for (size_t i = 0; i < count; i++) v[i] = 0.0;
    return NNLA_OK;
}

/* The header of a state, or NULL when it is misaligned or not an initialized state. */
static state_hdr *header(const void *state)
{
    if (!aligned(state)) return NULL;
    state_hdr *h = (state_hdr *)(uintptr_t)state;
    if (h->magic != STATE_MAGIC || h->kind > (uint32_t)NNLA_OPTIM_ADAMW || h->n == 0 || h->n > SIZE_MAX / 16)
        return NULL;
    return h;
}

static double *vec(const state_hdr *h, size_t i)
{
    return (double *)(uintptr_t)((const unsigned char *)h + sizeof *h) + i * (size_t)h->n;
}

nnla_status nnla_optim_state_view(const void *state, nnla_optim_state_info *info)
{
    if (state == NULL || info == NULL) return NNLA_ENULL;
    const state_hdr *h = header(state);
    if (h == NULL) return NNLA_EINVAL;
    nnla_optim_state_info r;
    memset(&r, 0, sizeof r);
    r.kind = (nnla_optim_kind)h->kind;
    r.n = (size_t)h->n;
    r.step = h->step;
    if (h->kind == (uint32_t)NNLA_OPTIM_SGD) {
        if ((h->flags & FLAG_HAS_BUF) && (h->flags & FLAG_BUF_SET)) r.momentum_buffer = vec(h, 0);
    } else {
        r.exp_avg = vec(h, 0);
        r.exp_avg_sq = vec(h, 1);
    }
    *info = r;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ kernels */

/*
 * SGD (torch.optim.sgd._single_tensor_sgd):
 *   d_p = d_p.add(param, alpha=wd)                     d = fma(p, wd, g)      (when wd != 0)
 *   buf = clone(d_p) | buf.mul_(mu).add_(d_p, alpha=1-dampening)
 *                                                      b = d | fma(d, 1 - damp, b * mu)
 *   d_p = d_p.add(buf, alpha=mu) | buf                 d = fma(b, mu, d) | b
 *   param.add_(d_p, alpha=-lr)                         p = fma(d, -lr, p)
 * mode: 0 no momentum, 1 first momentum step, 2 later steps.
 */
NNLA__INLINE void sgd_kernel_body(double *restrict p, const double *restrict g, double *restrict buf, size_t n,
                                  double lr, double wd, double mu, double damp, int nesterov, int mode)
{
    const double neg_lr = -lr, keep = 1.0 - damp;
    for (size_t i = 0; i < n; i++) {
        double d = g[i];
        if (wd != 0.0) d = fma(p[i], wd, d);
        if (mode != 0) {
            double b = mode == 1 ? d : fma(d, keep, buf[i] * mu);
            buf[i] = b;
            d = nesterov ? fma(b, mu, d) : b;
        }
        p[i] = fma(d, neg_lr, p[i]);
    }
}

/*
 * Adam / AdamW (torch.optim.adam._single_tensor_adam, adamw._single_tensor_adamw):
 *   param.mul_(1 - lr * wd)                            p = p * decay          (AdamW)
 *   grad = grad.add(param, alpha=wd)                   g = fma(p, wd, g)      (Adam, wd != 0)
 *   exp_avg.mul_(b1).add_(grad, alpha=1-b1)            m = fma(g, 1 - b1, m * b1)
 *   exp_avg_sq.mul_(b2).addcmul_(grad, grad, value=1-b2)
 *                                                      v = fma((1 - b2) * g, g, v * b2)
 *   denom = (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)   den = sqrt(v) / bc2_sqrt + eps
 *   param.addcdiv_(exp_avg, denom, value=-step_size)   p = p + (-step_size * m) / den
 * mode: 0 Adam without weight decay, 1 Adam with L2 weight decay, 2 AdamW.
 */
NNLA__INLINE void adam_kernel_body(double *restrict p, const double *restrict g, double *restrict m,
                                   double *restrict v, size_t n, double b1, double b2, double wd, double decay,
                                   double step_size, double bc2_sqrt, double eps, int mode)
{
    const double c1 = 1.0 - b1, c2 = 1.0 - b2, neg = -step_size;
    if (mode == 0) {
        for (size_t i = 0; i < n; i++) {
            double gi = g[i];
            double mi = fma(gi, c1, m[i] * b1);
            double vi = fma(c2 * gi, gi, v[i] * b2);
            m[i] = mi;
            v[i] = vi;
            p[i] = p[i] + (neg * mi) / (sqrt(vi) / bc2_sqrt + eps);
        }
    } else if (mode == 1) {
        for (size_t i = 0; i < n; i++) {
            double pi = p[i];
            double gi = fma(pi, wd, g[i]);
            double mi = fma(gi, c1, m[i] * b1);
            double vi = fma(c2 * gi, gi, v[i] * b2);
            m[i] = mi;
            v[i] = vi;
            p[i] = pi + (neg * mi) / (sqrt(vi) / bc2_sqrt + eps);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            double pi = p[i] * decay;
            double gi = g[i];
            double mi = fma(gi, c1, m[i] * b1);
            double vi = fma(c2 * gi, gi, v[i] * b2);
            m[i] = mi;
            v[i] = vi;
            p[i] = pi + (neg * mi) / (sqrt(vi) / bc2_sqrt + eps);
        }
    }
}

NNLA__KERNEL(sgd_kernel,
             (double *restrict p, const double *restrict g, double *restrict buf, size_t n, double lr, double wd,
              double mu, double damp, int nesterov, int mode),
             (p, g, buf, n, lr, wd, mu, damp, nesterov, mode))
NNLA__KERNEL(adam_kernel,
             (double *restrict p, const double *restrict g, double *restrict m, double *restrict v, size_t n,
              double b1, double b2, double wd, double decay, double step_size, double bc2_sqrt, double eps, int mode),
             (p, g, m, v, n, b1, b2, wd, decay, step_size, bc2_sqrt, eps, mode))

/* ------------------------------------------------------------------ step */

/*
 * Adam's step over the caller's threads (docs/guide.md, "Threads"): every entry's update is its own,
 * so the vectors are cut into contiguous parts of whole CHUNKs (8 doubles, a cache line), one per
 * thread, and the result does not depend on the thread count. Its square root and two divisions
 * per entry make it compute-bound (counted as ADAM_FLOPS for nnla__threads_for): two threads take
 * 0.56-0.59 of one's time at 10^6 parameters and at the CNN benchmark's 38,570. SGD's step is
 * memory-bound and stays on the calling thread: split over two threads it took 2.7-3.8x longer on
 * this machine at 10^6 parameters (`nnla-bench optim`, docs/performance.md).
 */
#define CHUNK 8
#define ADAM_FLOPS 24.0

static void chunk_part(size_t n, int t, int i, size_t *lo, size_t *hi)
{
    size_t c = (n + CHUNK - 1) / CHUNK, c0, c1;
    nnla__part(c, t, i, &c0, &c1);
    *lo = c0 * CHUNK < n ? c0 * CHUNK : n;
    *hi = c1 * CHUNK < n ? c1 * CHUNK : n;
}

nnla_status nnla_optim_step(const nnla_optim_config *config, double lr, double *params, const double *grad, size_t n,
                            void *state)
{
    if (config == NULL || params == NULL || grad == NULL || state == NULL) return NNLA_ENULL;
    NNLA__TRY(nnla_optim_check(config));
    if (n == 0) return NNLA_EDIM;
    if (!finite_nonneg(lr)) return NNLA_EINVAL;
    state_hdr *h = header(state);
    if (h == NULL || h->kind != (uint32_t)config->kind) return NNLA_EINVAL;
    if (h->n != (uint64_t)n) return NNLA_ESHAPE;
    size_t nv = h->kind == (uint32_t)NNLA_OPTIM_SGD ? ((h->flags & FLAG_HAS_BUF) ? 1 : 0) : 2;
    if (config->kind == NNLA_OPTIM_SGD && config->sgd.momentum > 0.0 && nv == 0) return NNLA_EINVAL;
    if (h->step == UINT64_MAX) return NNLA_EOVERFLOW;
    size_t vb = n * sizeof(double), sb = sizeof *h + nv * vb; /* n <= SIZE_MAX / 16: no overflow */
    if (nnla__overlap(params, vb, grad, vb) || nnla__overlap(params, vb, state, sb) ||
        nnla__overlap(grad, vb, state, sb))
        return NNLA_EALIAS;

    h->step += 1;
    if (config->kind == NNLA_OPTIM_SGD) {
        const nnla_sgd_config *s = &config->sgd;
        int mode = 0;
        if (s->momentum != 0.0) {
            mode = (h->flags & FLAG_BUF_SET) ? 2 : 1;
            h->flags |= FLAG_BUF_SET;
        }
        sgd_kernel(params, grad, nv ? vec(h, 0) : NULL, n, lr, s->weight_decay, s->momentum, s->dampening,
                   s->nesterov != 0, mode);
        return NNLA_OK;
    }
    const nnla_adam_config *a = &config->adam;
    double t = (double)h->step;
    double bias_correction1 = 1.0 - pow(a->beta1, t);
    double bias_correction2 = 1.0 - pow(a->beta2, t);
    double step_size = lr / bias_correction1;
    double bc2_sqrt = sqrt(bias_correction2);
    int mode = config->kind == NNLA_OPTIM_ADAMW ? 2 : (a->weight_decay != 0.0 ? 1 : 0);
    double decay = 1.0 - lr * a->weight_decay;
    double *m = vec(h, 0), *v = vec(h, 1);
    const int share = nnla__share_begin(), nt = nnla__threads_for(share, n / CHUNK, ADAM_FLOPS * (double)n);
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        {
            size_t lo, hi;
            chunk_part(n, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
            adam_kernel(params + lo, grad + lo, m + lo, v + lo, hi - lo, a->beta1, a->beta2, a->weight_decay, decay,
                        step_size, bc2_sqrt, a->eps, mode);
        }
    } else {
        adam_kernel(params, grad, m, v, n, a->beta1, a->beta2, a->weight_decay, decay, step_size, bc2_sqrt, a->eps,
                    mode);
    }
    nnla__share_end();
    return NNLA_OK;
}

/* ------------------------------------------------------------------ gradient clipping */

/* Sum of squares with four accumulators (vectorizable; pairwise at the end). */
static double sum_squares(const double *x, size_t n)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += x[i] * x[i];
        s1 += x[i + 1] * x[i + 1];
        s2 += x[i + 2] * x[i + 2];
        s3 += x[i + 3] * x[i + 3];
    }
    for (; i < n; i++) s0 += x[i] * x[i];
    return (s0 + s1) + (s2 + s3);
}

/* The 2-norm of finite entries, scaled by the largest magnitude: no overflow, no underflow. */
static double scaled_norm(const double *x, size_t n)
{
    double amax = 0.0;
    for (size_t i = 0; i < n; i++) {
        double a = fabs(x[i]);
        if (a > amax) amax = a;
    }
    if (amax == 0.0) return 0.0;
    double s0 = 0.0, s1 = 0.0;
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        double y0 = x[i] / amax, y1 = x[i + 1] / amax;
        s0 += y0 * y0;
        s1 += y1 * y1;
    }
    if (i < n) {
        double y = x[i] / amax;
        s0 += y * y;
    }
    return amax * sqrt(s0 + s1);
}

nnla_status nnla_clip_grad_norm(double *grad, size_t n, double max_norm, double *norm)
{
    if (grad == NULL) return NNLA_ENULL;
    if (n == 0) return NNLA_EDIM;
    if (n > SIZE_MAX / sizeof(double)) return NNLA_EOVERFLOW;
    if (!(max_norm >= 0.0)) return NNLA_EINVAL;
    if (norm != NULL && nnla__overlap(norm, sizeof *norm, grad, n * sizeof *grad)) return NNLA_EALIAS;

    double ssq = sum_squares(grad, n), nrm;
    if (ssq != ssq) return NNLA_ENONFINITE; /* a NaN entry (or Inf and NaN) */
    if (ssq > DBL_MAX) {
        if (!nnla__all_finite_vec(grad, n)) return NNLA_ENONFINITE;
        nrm = scaled_norm(grad, n);
        if (nrm > DBL_MAX) return NNLA_EOVERFLOW;
    } else if (ssq < 0x1p-900) {
        nrm = scaled_norm(grad, n); /* tiny entries: their squares lost precision or underflowed */
    } else {
        nrm = sqrt(ssq);
    }
    /* torch: clip_coef = max_norm / (total_norm + 1e-6); grads *= clamp(clip_coef, max=1). */
    double coef = max_norm / (nrm + 1e-6);
    if (coef < 1.0)
        for (size_t i = 0; i < n; i++) grad[i] *= coef;
    if (norm != NULL) *norm = nrm;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ schedules */

static const double PI = 3.141592653589793238462643383279502884;

nnla_lr_schedule nnla_lr_constant(double lr)
{
    nnla_lr_schedule s;
    memset(&s, 0, sizeof s);
    s.kind = NNLA_LR_CONSTANT;
    s.lr = lr;
    return s;
}

nnla_lr_schedule nnla_lr_step_decay(double lr, size_t step_size, double gamma)
{
    nnla_lr_schedule s = nnla_lr_constant(lr);
    s.kind = NNLA_LR_STEP_DECAY;
    s.step_size = step_size;
    s.gamma = gamma;
    return s;
}

nnla_lr_schedule nnla_lr_cosine(double lr, size_t t_max, double eta_min)
{
    nnla_lr_schedule s = nnla_lr_constant(lr);
    s.kind = NNLA_LR_COSINE;
    s.t_max = t_max;
    s.eta_min = eta_min;
    return s;
}

nnla_lr_schedule nnla_lr_warmup(double lr, double start_factor, size_t warmup, size_t t_max, double eta_min)
{
    nnla_lr_schedule s = nnla_lr_constant(lr);
    s.kind = NNLA_LR_WARMUP;
    s.start_factor = start_factor;
    s.warmup = warmup;
    s.t_max = t_max;
    s.eta_min = eta_min;
    return s;
}

nnla_status nnla_lr_check(const nnla_lr_schedule *s)
{
    if (s == NULL) return NNLA_ENULL;
    if (!finite_nonneg(s->lr)) return NNLA_EINVAL;
    switch (s->kind) {
    case NNLA_LR_CONSTANT:
        return NNLA_OK;
    case NNLA_LR_STEP_DECAY:
        return s->step_size >= 1 && finite_nonneg(s->gamma) ? NNLA_OK : NNLA_EINVAL;
    case NNLA_LR_COSINE:
        return s->t_max >= 1 && finite_nonneg(s->eta_min) ? NNLA_OK : NNLA_EINVAL;
    case NNLA_LR_WARMUP:
        if (s->warmup < 1 || !(s->start_factor >= 0.0 && s->start_factor <= 1.0)) return NNLA_EINVAL;
        return s->t_max == 0 || finite_nonneg(s->eta_min) ? NNLA_OK : NNLA_EINVAL;
    }
    return NNLA_EINVAL;
}

/* CosineAnnealingLR._get_closed_form_lr: eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2. */
static double cosine_at(double lr, double eta_min, size_t t, size_t t_max)
{
    return eta_min + (lr - eta_min) * (1.0 + cos(PI * (double)t / (double)t_max)) / 2.0;
}

nnla_status nnla_lr_at(const nnla_lr_schedule *s, size_t t, double *lr)
{
    if (s == NULL || lr == NULL) return NNLA_ENULL;
    NNLA__TRY(nnla_lr_check(s));
    double r = s->lr;
    switch (s->kind) {
    case NNLA_LR_CONSTANT:
        break;
    case NNLA_LR_STEP_DECAY: /* StepLR: base_lr * gamma ** (t // step_size) */
        r = s->lr * pow(s->gamma, (double)(t / s->step_size));
        break;
    case NNLA_LR_COSINE:
        r = cosine_at(s->lr, s->eta_min, t, s->t_max);
        break;
    case NNLA_LR_WARMUP:
        if (t < s->warmup || s->t_max == 0) {
            /* LinearLR: base_lr * (start + (end - start) * min(total_iters, t) / total_iters) */
            size_t k = t < s->warmup ? t : s->warmup;
            r = s->lr * (s->start_factor + (1.0 - s->start_factor) * (double)k / (double)s->warmup);
        } else {
            r = cosine_at(s->lr, s->eta_min, t - s->warmup, s->t_max);
        }
        break;
    }
    *lr = r;
    return NNLA_OK;
}
