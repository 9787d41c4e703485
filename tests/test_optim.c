/*
 * Optimizers, clipping and schedules: closed forms of SGD (momentum, Nesterov, dampening, weight
 * decay), Adam and AdamW on constant gradients, PyTorch's fused rounding, convergence on a
 * quadratic, the state (sizes, view, checkpoint by copy, kind and size checks), gradient
 * clipping (closed forms, huge and tiny gradients, non-finite input), the schedules' closed
 * forms, and bad input (a clear status; parameters, gradient and state untouched).
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS DBL_EPSILON
#define N 7

/* A state in malloc'ed memory for config and n. */
static void *new_state(const nnla_optim_config *c, size_t n, size_t *bytes)
{
    size_t b = 0;
    assert_status(nnla_optim_state_size(c, n, &b), NNLA_OK);
    void *s = malloc(b);
    assert_non_null(s);
    assert_status(nnla_optim_state_init(c, n, s, b), NNLA_OK);
    if (bytes) *bytes = b;
    return s;
}

static const double P0[N] = {1.0, -2.0, 0.5, 3.0, -0.25, 10.0, 0.0};
static const double G[N] = {0.5, 1.0, -1e-3, 2.5, 1e-8, -3.0, 0.0};

/* p after `steps` SGD steps with a constant gradient, from the closed form of the buffer. */
static void sgd_closed_form(double lr, double mu, double damp, int nesterov, int steps, double *want)
{
    for (int i = 0; i < N; i++) {
        long double p = P0[i], g = G[i], buf = 0;
        for (int k = 1; k <= steps; k++) {
            /* buf_k = mu^(k-1) g + (1 - damp) g (1 - mu^(k-1)) / (1 - mu); mu = 0: buf_k = g */
            long double mk = powl(mu, k - 1);
            buf = mu == 0 ? g : mk * g + (1 - (long double)damp) * g * (1 - mk) / (1 - (long double)mu);
            long double d = mu == 0 ? g : nesterov ? g + mu * buf : buf;
            p -= lr * d;
        }
        want[i] = (double)p;
    }
}

static void test_sgd_closed_forms(void **state)
{
    (void)state;
    static const struct {
        double mu, damp;
        int nesterov;
    } cases[] = {{0, 0, 0}, {0.9, 0, 0}, {0.9, 0, 1}, {0.5, 0.3, 0}, {0.99, 1.0, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nnla_optim_config cfg = nnla_optim_sgd_default();
        cfg.sgd.momentum = cases[c].mu;
        cfg.sgd.dampening = cases[c].damp;
        cfg.sgd.nesterov = cases[c].nesterov;
        void *s = new_state(&cfg, N, NULL);
        double p[N], want[N];
        memcpy(p, P0, sizeof p);
        for (int k = 0; k < 10; k++) assert_status(nnla_optim_step(&cfg, 0.1, p, G, N, s), NNLA_OK);
        sgd_closed_form(0.1, cases[c].mu, cases[c].damp, cases[c].nesterov, 10, want);
        assert_vec_close(p, want, N, 64 * EPS, 64 * EPS);
        nnla_optim_state_info info;
        assert_status(nnla_optim_state_view(s, &info), NNLA_OK);
        assert_true(info.kind == NNLA_OPTIM_SGD && info.n == N && info.step == 10);
        assert_true((info.momentum_buffer != NULL) == (cases[c].mu > 0));
        assert_null(info.exp_avg);
        free(s);
    }
    /* Weight decay alone on a zero gradient: p_k = p0 (1 - lr wd)^k. */
    nnla_optim_config cfg = nnla_optim_sgd_default();
    cfg.sgd.weight_decay = 0.3;
    void *s = new_state(&cfg, N, NULL);
    const double zero[N] = {0};
    double p[N], want[N];
    memcpy(p, P0, sizeof p);
    for (int k = 0; k < 10; k++) assert_status(nnla_optim_step(&cfg, 0.1, p, zero, N, s), NNLA_OK);
    for (int i = 0; i < N; i++) want[i] = (double)((long double)P0[i] * powl(1 - (long double)0.1 * 0.3, 10));
    assert_vec_close(p, want, N, 32 * EPS, 0.0);
    free(s);
}

static void test_adam_closed_forms(void **state)
{
    (void)state;
    /* Constant gradient: m_t = (1 - b1^t) g and v_t = (1 - b2^t) g^2, so every bias-corrected
     * step is lr g / (|g| + eps) (eps after the division by sqrt(1 - b2^t)): after K steps,
     * p = p0 - K lr g / (|g| + eps). G holds 1e-8 (where eps matters) and 0. */
    for (int w = 0; w < 2; w++) {
        nnla_optim_config cfg = w ? nnla_optim_adamw_default() : nnla_optim_adam_default();
        const double lr = 0.01, wd = cfg.adam.weight_decay;
        void *s = new_state(&cfg, N, NULL);
        double p[N], want[N];
        memcpy(p, P0, sizeof p);
        const int K = 12;
        for (int k = 0; k < K; k++) assert_status(nnla_optim_step(&cfg, lr, p, G, N, s), NNLA_OK);
        long double c = 1 - (long double)lr * wd; /* AdamW: p_k = c p_(k-1) - a */
        for (int i = 0; i < N; i++) {
            long double a = lr * (long double)G[i] / (fabsl(G[i]) + 1e-8L);
            want[i] = w ? (double)(powl(c, K) * P0[i] - a * (1 - powl(c, K)) / (1 - c)) : (double)(P0[i] - K * a);
        }
        assert_vec_close(p, want, N, 32 * EPS, 32 * EPS);
        nnla_optim_state_info info;
        assert_status(nnla_optim_state_view(s, &info), NNLA_OK);
        assert_true(info.step == (uint64_t)K && info.exp_avg && info.exp_avg_sq && !info.momentum_buffer);
        double m[N], v[N];
        for (int i = 0; i < N; i++) {
            /* 1 - b is exact for b = 0.9 and 0.999 (Sterbenz): the recursion's closed form holds
             * with the double values of the betas. */
            m[i] = (double)((1 - powl((long double)0.9, K)) * G[i]);
            v[i] = (double)((1 - powl((long double)0.999, K)) * G[i] * G[i]);
        }
        assert_vec_close(info.exp_avg, m, N, 32 * EPS, 0.0);
        assert_vec_close(info.exp_avg_sq, v, N, 32 * EPS, 0.0);
        free(s);
    }
    /* Adam with L2 weight decay, first step: g' = g + wd p0, p1 = p0 - lr g' / (|g'| + eps). */
    nnla_optim_config cfg = nnla_optim_adam_default();
    cfg.adam.weight_decay = 0.5;
    cfg.adam.eps = 1e-3;
    cfg.adam.beta1 = 0.5;
    cfg.adam.beta2 = 0.75;
    void *s = new_state(&cfg, N, NULL);
    double p[N], want[N];
    memcpy(p, P0, sizeof p);
    assert_status(nnla_optim_step(&cfg, 0.2, p, G, N, s), NNLA_OK);
    for (int i = 0; i < N; i++) {
        long double g = G[i] + 0.5L * P0[i];
        want[i] = (double)(P0[i] - 0.2L * g / (fabsl(g) + 1e-3L));
    }
    assert_vec_close(p, want, N, 8 * EPS, 8 * EPS);
    free(s);
}

/* PyTorch's `param.add_(d_p, alpha=-lr)` is one fused multiply-add (its AVX2 kernel): with p = 1,
 * d = 1 + 2^-30, lr = 1 - 2^-30, lr d = 1 - 2^-60 rounds to 1, so the unfused p - lr d is 0 and
 * the fused one 2^-60. */
static void test_torch_rounding(void **state)
{
    (void)state;
    nnla_optim_config cfg = nnla_optim_sgd_default();
    void *s = new_state(&cfg, 1, NULL);
    double p = 1.0;
    const double d = 1.0 + 0x1p-30;
    assert_status(nnla_optim_step(&cfg, 1.0 - 0x1p-30, &p, &d, 1, s), NNLA_OK);
    assert_true(p == 0x1p-60);
    free(s);
    /* `exp_avg.mul_(b1).add_(grad, alpha=1-b1)` and `exp_avg_sq.mul_(b2).addcmul_(grad, grad,
     * value=1-b2)`: m = fma(g, 1 - b1, m b1), v = fma((1 - b2) g, g, v b2). Two steps from random
     * gradients, until a second step where the fused and unfused roundings differ for both. */
    cfg = nnla_optim_adam_default();
    nnla_test_rng r = {8};
    int found = 0;
    for (int trial = 0; trial < 1000 && !found; trial++) {
        double g1 = nnla_test_uniform(&r, -1, 1), g2 = nnla_test_uniform(&r, -1, 1);
        double c1 = 1.0 - 0.9, c2 = 1.0 - 0.999;
        double m1 = fma(g1, c1, 0.0), v1 = fma(c2 * g1, g1, 0.0);
        double mf = fma(g2, c1, m1 * 0.9), mu = g2 * c1 + m1 * 0.9;
        double vf = fma(c2 * g2, g2, v1 * 0.999), vu = c2 * g2 * g2 + v1 * 0.999;
        if (mf == mu || vf == vu) continue;
        found = 1;
        s = new_state(&cfg, 1, NULL);
        p = 1.0;
        assert_status(nnla_optim_step(&cfg, 1e-3, &p, &g1, 1, s), NNLA_OK);
        assert_status(nnla_optim_step(&cfg, 1e-3, &p, &g2, 1, s), NNLA_OK);
        nnla_optim_state_info info;
        assert_status(nnla_optim_state_view(s, &info), NNLA_OK);
        assert_true(info.exp_avg[0] == mf && info.exp_avg_sq[0] == vf);
        free(s);
    }
    assert_true(found);
}

/* Minimize f(p) = sum_i a_i (p_i - c_i)^2 / 2: every optimizer gets to the minimum. */
static void test_quadratic_converges(void **state)
{
    (void)state;
    const double a[N] = {1, 2, 0.5, 4, 1.5, 3, 1}, c[N] = {1, -1, 2, 0.5, -3, 0, 7};
    for (int k = 0; k < 3; k++) {
        nnla_optim_config cfg = k == 0 ? nnla_optim_sgd_default() : k == 1 ? nnla_optim_adam_default()
                                                                            : nnla_optim_adamw_default();
        if (k == 0) {
            cfg.sgd.momentum = 0.9;
            cfg.sgd.nesterov = 1;
        }
        if (k == 2) cfg.adam.weight_decay = 0.0;
        void *s = new_state(&cfg, N, NULL);
        double p[N] = {0}, g[N];
        nnla_lr_schedule sched = k == 0 ? nnla_lr_constant(0.1) : nnla_lr_cosine(0.1, 3000, 0.0);
        for (size_t t = 0; t < 3000; t++) {
            double lr;
            for (int i = 0; i < N; i++) g[i] = a[i] * (p[i] - c[i]);
            assert_status(nnla_lr_at(&sched, t, &lr), NNLA_OK);
            assert_status(nnla_optim_step(&cfg, lr, p, g, N, s), NNLA_OK);
        }
        assert_vec_close(p, c, N, 0.0, 1e-6);
        free(s);
    }
}

/* ------------------------------------------------------------------ state */

static void test_state(void **state)
{
    (void)state;
    nnla_optim_config adam = nnla_optim_adam_default(), sgd = nnla_optim_sgd_default(), mom = sgd;
    mom.sgd.momentum = 0.9;
    size_t b;
    assert_status(nnla_optim_state_size(&adam, 10, &b), NNLA_OK);
    assert_true(b == 64 + 2 * 10 * sizeof(double));
    assert_status(nnla_optim_state_size(&mom, 10, &b), NNLA_OK);
    assert_true(b == 64 + 10 * sizeof(double));
    assert_status(nnla_optim_state_size(&sgd, 10, &b), NNLA_OK);
    assert_true(b == 64);
    assert_status(nnla_optim_state_size(&adam, 0, &b), NNLA_EDIM);
    assert_status(nnla_optim_state_size(&adam, SIZE_MAX / 8, &b), NNLA_EOVERFLOW);
    assert_status(nnla_optim_state_size(NULL, 10, &b), NNLA_ENULL);
    assert_status(nnla_optim_state_size(&adam, 10, NULL), NNLA_ENULL);

    /* init: too small, misaligned, bad config; the memory untouched. */
    unsigned char mem[512 + 8], mem0[sizeof mem];
    memset(mem, 0x5a, sizeof mem);
    memcpy(mem0, mem, sizeof mem);
    unsigned char *al = mem + (8 - (uintptr_t)mem % 8) % 8;
    assert_status(nnla_optim_state_init(&adam, 10, al, 64 + 159), NNLA_EWORKSPACE);
    assert_status(nnla_optim_state_init(&adam, 10, al + 4, 300), NNLA_EINVAL);
    nnla_optim_config bad = adam;
    bad.adam.beta1 = 1.0;
    assert_status(nnla_optim_state_init(&bad, 10, al, 300), NNLA_EINVAL);
    assert_status(nnla_optim_state_init(&adam, 0, al, 300), NNLA_EDIM);
    assert_status(nnla_optim_state_init(&adam, 10, NULL, 300), NNLA_ENULL);
    assert_memory_equal(mem, mem0, sizeof mem);
    nnla_optim_state_info info;
    assert_status(nnla_optim_state_view(al, &info), NNLA_EINVAL); /* not a state */
    assert_status(nnla_optim_state_view(NULL, &info), NNLA_ENULL);

    /* A fresh state: step 0, zero moments; SGD's buffer absent until the first momentum step. */
    assert_status(nnla_optim_state_init(&adam, 10, al, 64 + 160), NNLA_OK);
    assert_status(nnla_optim_state_view(al, &info), NNLA_OK);
    assert_true(info.kind == NNLA_OPTIM_ADAM && info.n == 10 && info.step == 0);
    for (int i = 0; i < 10; i++) assert_true(info.exp_avg[i] == 0.0 && info.exp_avg_sq[i] == 0.0);
    assert_status(nnla_optim_state_view(al + 4, &info), NNLA_EINVAL); /* misaligned */

    /* SGD with momentum: a step with momentum 0 leaves the buffer unset; the first step with
     * momentum then starts it from the gradient, as torch does when momentum_buffer is None. */
    void *s = new_state(&mom, N, NULL);
    double p[N], want[N];
    memcpy(p, P0, sizeof p);
    nnla_optim_config off = mom;
    off.sgd.momentum = 0.0;
    assert_status(nnla_optim_step(&off, 0.1, p, G, N, s), NNLA_OK);
    assert_status(nnla_optim_state_view(s, &info), NNLA_OK);
    assert_null(info.momentum_buffer);
    assert_status(nnla_optim_step(&mom, 0.1, p, G, N, s), NNLA_OK);
    assert_status(nnla_optim_state_view(s, &info), NNLA_OK);
    assert_non_null(info.momentum_buffer);
    assert_memory_equal(info.momentum_buffer, G, sizeof G);
    for (int i = 0; i < N; i++) want[i] = (double)(P0[i] - 0.2L * G[i]);
    assert_vec_close(p, want, N, 4 * EPS, 4 * EPS);
    free(s);

    /* Checkpoint: the state's bytes, copied to another (aligned) place, continue identically. */
    nnla_optim_config aw = nnla_optim_adamw_default();
    size_t bytes;
    void *s1 = new_state(&aw, N, &bytes);
    double p1[N], p2[N];
    memcpy(p1, P0, sizeof p1);
    for (int k = 0; k < 3; k++) assert_status(nnla_optim_step(&aw, 0.01, p1, G, N, s1), NNLA_OK);
    unsigned char *copy = malloc(bytes + 8);
    assert_non_null(copy);
    memcpy(copy + 8, s1, bytes);
    memcpy(p2, p1, sizeof p2);
    for (int k = 0; k < 3; k++) {
        assert_status(nnla_optim_step(&aw, 0.01, p1, G, N, s1), NNLA_OK);
        assert_status(nnla_optim_step(&aw, 0.01, p2, G, N, copy + 8), NNLA_OK);
    }
    assert_memory_equal(p1, p2, sizeof p1);
    assert_memory_equal(s1, copy + 8, bytes);
    free(copy);
    free(s1);
}

/* ------------------------------------------------------------------ bad input to a step */

static void test_step_bad_input(void **state)
{
    (void)state;
    nnla_optim_config adam = nnla_optim_adam_default();
    size_t bytes;
    void *s = new_state(&adam, N, &bytes);
    double p[N], g[N];
    memcpy(p, P0, sizeof p);
    memcpy(g, G, sizeof g);
    assert_status(nnla_optim_step(&adam, 1e-3, p, g, N, s), NNLA_OK); /* a state with history */
    unsigned char *s0 = malloc(bytes);
    assert_non_null(s0);
    memcpy(s0, s, bytes);
    double pk[N];
    memcpy(pk, p, sizeof pk);

#define CHECK(call, status)                                                                                    \
    do {                                                                                                       \
        assert_status((call), (status));                                                                       \
        assert_memory_equal(p, pk, sizeof p);                                                                  \
        assert_memory_equal(g, G, sizeof g);                                                                   \
        assert_memory_equal(s, s0, bytes);                                                                     \
    } while (0)

    CHECK(nnla_optim_step(&adam, -1e-3, p, g, N, s), NNLA_EINVAL);
    CHECK(nnla_optim_step(&adam, NAN, p, g, N, s), NNLA_EINVAL);
    CHECK(nnla_optim_step(&adam, INFINITY, p, g, N, s), NNLA_EINVAL);
    CHECK(nnla_optim_step(NULL, 1e-3, p, g, N, s), NNLA_ENULL);
    CHECK(nnla_optim_step(&adam, 1e-3, NULL, g, N, s), NNLA_ENULL);
    CHECK(nnla_optim_step(&adam, 1e-3, p, NULL, N, s), NNLA_ENULL);
    CHECK(nnla_optim_step(&adam, 1e-3, p, g, N, NULL), NNLA_ENULL);
    CHECK(nnla_optim_step(&adam, 1e-3, p, g, 0, s), NNLA_EDIM);
    CHECK(nnla_optim_step(&adam, 1e-3, p, g, N - 1, s), NNLA_ESHAPE); /* a gradient block of the wrong size */
    nnla_optim_config aw = nnla_optim_adamw_default();
    CHECK(nnla_optim_step(&aw, 1e-3, p, g, N, s), NNLA_EINVAL); /* a state made for Adam */
    nnla_optim_config sgd = nnla_optim_sgd_default();
    CHECK(nnla_optim_step(&sgd, 1e-3, p, g, N, s), NNLA_EINVAL);
    CHECK(nnla_optim_step(&adam, 1e-3, p, p, N, s), NNLA_EALIAS);
    CHECK(nnla_optim_step(&adam, 1e-3, (double *)s + 8, g, N, s), NNLA_EALIAS);  /* params = exp_avg */
    CHECK(nnla_optim_step(&adam, 1e-3, p, (const double *)s + 3, N, s), NNLA_EALIAS); /* grad over the header */

    /* Bad configurations (torch's constructor rules, plus finiteness). */
    static const double bad_adam[][4] = {{1.0, 0.999, 1e-8, 0},  {-0.1, 0.999, 1e-8, 0}, {0.9, 1.0, 1e-8, 0},
                                         {0.9, 0.999, -1e-8, 0}, {0.9, 0.999, NAN, 0},   {0.9, 0.999, 1e-8, -1},
                                         {0.9, 0.999, 1e-8, INFINITY}, {NAN, 0.999, 1e-8, 0}};
    for (size_t k = 0; k < sizeof bad_adam / sizeof bad_adam[0]; k++) {
        nnla_optim_config c = adam;
        c.adam.beta1 = bad_adam[k][0];
        c.adam.beta2 = bad_adam[k][1];
        c.adam.eps = bad_adam[k][2];
        c.adam.weight_decay = bad_adam[k][3];
        assert_status(nnla_optim_check(&c), NNLA_EINVAL);
        CHECK(nnla_optim_step(&c, 1e-3, p, g, N, s), NNLA_EINVAL);
    }
    static const double bad_sgd[][4] = {{-0.1, 0, 0, 0}, {NAN, 0, 0, 0}, {0.9, 0, -1, 0}, {0.9, 1.5, 0, 0},
                                        {0.9, -0.5, 0, 0}, {0.0, 0, 0, 1}, {0.9, 0.1, 0, 1}};
    for (size_t k = 0; k < sizeof bad_sgd / sizeof bad_sgd[0]; k++) {
        nnla_optim_config c = sgd;
        c.sgd.momentum = bad_sgd[k][0];
        c.sgd.dampening = bad_sgd[k][1];
        c.sgd.weight_decay = bad_sgd[k][2];
        c.sgd.nesterov = (int)bad_sgd[k][3];
        assert_status(nnla_optim_check(&c), NNLA_EINVAL);
    }
    nnla_optim_config unknown = adam;
    unknown.kind = (nnla_optim_kind)7;
    assert_status(nnla_optim_check(&unknown), NNLA_EINVAL);
    assert_status(nnla_optim_check(NULL), NNLA_ENULL);
    nnla_optim_config ok = sgd;
    ok.sgd.momentum = 0.9;
    ok.sgd.nesterov = 1;
    assert_status(nnla_optim_check(&ok), NNLA_OK);
#undef CHECK

    /* A plain-SGD state (no buffer) cannot serve momentum; an uninitialized state nothing. */
    void *plain = new_state(&sgd, N, NULL);
    unsigned char keep[64];
    memcpy(keep, plain, 64);
    assert_status(nnla_optim_step(&ok, 0.1, p, g, N, plain), NNLA_EINVAL);
    assert_memory_equal(plain, keep, 64);
    assert_memory_equal(p, pk, sizeof p);
    double zeros[32] = {0};
    assert_status(nnla_optim_step(&adam, 0.1, p, g, N, zeros), NNLA_EINVAL);
    assert_memory_equal(p, pk, sizeof p);
    free(plain);
    free(s0);
    free(s);
}

/* ------------------------------------------------------------------ clipping */

static void test_clip(void **state)
{
    (void)state;
    double g[2] = {3, 4}, nrm = 0;
    assert_status(nnla_clip_grad_norm(g, 2, 10.0, &nrm), NNLA_OK);
    assert_true(nrm == 5.0 && g[0] == 3 && g[1] == 4); /* 10 / (5 + 1e-6) > 1: unchanged */
    assert_status(nnla_clip_grad_norm(g, 2, INFINITY, NULL), NNLA_OK);
    assert_true(g[0] == 3 && g[1] == 4);
    /* torch scales whenever max_norm / (norm + 1e-6) < 1, so also at max_norm = norm. */
    assert_status(nnla_clip_grad_norm(g, 2, 5.0, &nrm), NNLA_OK);
    double c = 5.0 / (5.0 + 1e-6);
    assert_true(nrm == 5.0 && g[0] == 3 * c && g[1] == 4 * c);
    g[0] = 3, g[1] = 4;
    assert_status(nnla_clip_grad_norm(g, 2, 1.0, &nrm), NNLA_OK);
    c = 1.0 / (5.0 + 1e-6);
    assert_true(nrm == 5.0 && g[0] == 3 * c && g[1] == 4 * c);
    g[0] = 3, g[1] = 4;
    assert_status(nnla_clip_grad_norm(g, 2, 0.0, &nrm), NNLA_OK);
    assert_true(g[0] == 0 && g[1] == 0);

    /* Huge and tiny entries: the plain sum of squares overflows or underflows, the scaled one does
     * not. Four equal entries x have norm 2|x| exactly. */
    static const double xs[] = {1e300, -1e300, 1e-300, 4.9406564584124654e-324, 1e154, 1e-160};
    for (size_t k = 0; k < sizeof xs / sizeof xs[0]; k++) {
        double h[4] = {xs[k], xs[k], xs[k], xs[k]};
        assert_status(nnla_clip_grad_norm(h, 4, INFINITY, &nrm), NNLA_OK);
        assert_true(nrm == 2 * fabs(xs[k]));
    }
    double huge[4] = {1e300, 1e300, 1e300, 1e300};
    assert_status(nnla_clip_grad_norm(huge, 4, 1.0, &nrm), NNLA_OK);
    for (int i = 0; i < 4; i++) assert_true(fabs(huge[i] - 0.5) <= 2 * EPS);

    /* Random vectors against a long double sum. */
    nnla_test_rng r = {3};
    for (int trial = 0; trial < 20; trial++) {
        size_t n = nnla_test_int(&r, 1, 3000);
        double *v = malloc(n * sizeof *v), *w = malloc(n * sizeof *w);
        assert_non_null(v);
        assert_non_null(w);
        nnla_test_fill(&r, v, n, -2, 2);
        memcpy(w, v, n * sizeof *v);
        long double ss = 0;
        for (size_t i = 0; i < n; i++) ss += (long double)v[i] * v[i];
        double want = (double)sqrtl(ss), max_norm = want * 0.3;
        assert_status(nnla_clip_grad_norm(v, n, max_norm, &nrm), NNLA_OK);
        assert_true(fabs(nrm - want) <= 4 * EPS * want);
        double cc = max_norm / (nrm + 1e-6);
        for (size_t i = 0; i < n; i++) assert_true(v[i] == w[i] * cc);
        free(v);
        free(w);
    }

    /* Bad input: untouched. */
    double b[3] = {1, NAN, 2}, b0[3];
    memcpy(b0, b, sizeof b);
    nrm = -1;
    assert_status(nnla_clip_grad_norm(b, 3, 1.0, &nrm), NNLA_ENONFINITE);
    assert_memory_equal(b, b0, sizeof b);
    b[1] = INFINITY;
    memcpy(b0, b, sizeof b);
    assert_status(nnla_clip_grad_norm(b, 3, 1.0, &nrm), NNLA_ENONFINITE);
    b[1] = -INFINITY;
    memcpy(b0, b, sizeof b);
    assert_status(nnla_clip_grad_norm(b, 3, 1.0, &nrm), NNLA_ENONFINITE);
    assert_memory_equal(b, b0, sizeof b);
    double o[4] = {1.5e308, 1.5e308, 1.5e308, 1.5e308}, o0[4];
    memcpy(o0, o, sizeof o);
    assert_status(nnla_clip_grad_norm(o, 4, 1.0, &nrm), NNLA_EOVERFLOW);
    assert_memory_equal(o, o0, sizeof o);
    b[1] = 0.5;
    memcpy(b0, b, sizeof b);
    assert_status(nnla_clip_grad_norm(b, 3, -1.0, &nrm), NNLA_EINVAL);
    assert_status(nnla_clip_grad_norm(b, 3, NAN, &nrm), NNLA_EINVAL);
    assert_status(nnla_clip_grad_norm(b, 0, 1.0, &nrm), NNLA_EDIM);
    assert_status(nnla_clip_grad_norm(NULL, 3, 1.0, &nrm), NNLA_ENULL);
    assert_status(nnla_clip_grad_norm(b, 3, 1.0, &b[2]), NNLA_EALIAS);
    assert_memory_equal(b, b0, sizeof b);
    assert_true(nrm == -1);
}

/* ------------------------------------------------------------------ schedules */

static double lr_at(nnla_lr_schedule s, size_t t)
{
    double lr = NAN;
    assert_status(nnla_lr_at(&s, t, &lr), NNLA_OK);
    return lr;
}

static void test_schedules(void **state)
{
    (void)state;
    const double pi = 3.141592653589793;
    assert_true(lr_at(nnla_lr_constant(0.3), 12345) == 0.3);
    /* Step decay: 0.1 for t = 0..2, 0.05 for 3..5, 0.025 for 6..8. */
    nnla_lr_schedule st = nnla_lr_step_decay(0.1, 3, 0.5);
    for (size_t t = 0; t < 3; t++) assert_true(lr_at(st, t) == 0.1);
    for (size_t t = 3; t < 6; t++) assert_true(lr_at(st, t) == 0.05);
    assert_true(lr_at(st, 8) == 0.025 && lr_at(st, 9) == 0.0125);
    /* Cosine from 0.1 to 0.01 over 10 steps: the top, the middle, the floor, and back at 20. */
    nnla_lr_schedule co = nnla_lr_cosine(0.1, 10, 0.01);
    assert_true(lr_at(co, 0) == 0.1);
    assert_true(fabs(lr_at(co, 5) - 0.055) <= 2 * EPS * 0.055);
    assert_true(fabs(lr_at(co, 10) - 0.01) <= 2 * EPS * 0.01);
    assert_true(fabs(lr_at(co, 20) - 0.1) <= 2 * EPS * 0.1);
    for (size_t t = 0; t <= 10; t++) {
        double want = 0.01 + 0.09 * (1 + cos(pi * (double)t / 10)) / 2;
        assert_true(fabs(lr_at(co, t) - want) <= 4 * EPS * 0.1);
        if (t > 0) assert_true(lr_at(co, t) < lr_at(co, t - 1)); /* decreasing */
    }
    /* Warmup from 0.25 lr over 4 steps, then constant; then with a cosine over 8 steps. */
    nnla_lr_schedule wu = nnla_lr_warmup(0.2, 0.25, 4, 0, 0.0);
    const double ramp[5] = {0.05, 0.0875, 0.125, 0.1625, 0.2};
    for (size_t t = 0; t < 5; t++) assert_true(fabs(lr_at(wu, t) - ramp[t]) <= 2 * EPS * 0.2);
    assert_true(fabs(lr_at(wu, 1000) - 0.2) <= 2 * EPS * 0.2);
    nnla_lr_schedule wc = nnla_lr_warmup(0.2, 0.0, 4, 8, 0.02);
    assert_true(lr_at(wc, 0) == 0.0); /* start_factor 0 (torch refuses it, the closed form does not) */
    assert_true(fabs(lr_at(wc, 2) - 0.1) <= 2 * EPS * 0.1);
    assert_true(fabs(lr_at(wc, 4) - 0.2) <= 2 * EPS * 0.2);
    assert_true(fabs(lr_at(wc, 8) - 0.11) <= 4 * EPS * 0.11);
    assert_true(fabs(lr_at(wc, 12) - 0.02) <= 4 * EPS * 0.02);

    /* Bad schedules: EINVAL, lr untouched. */
    nnla_lr_schedule bad[] = {nnla_lr_constant(-1.0),        nnla_lr_constant(NAN),
                              nnla_lr_step_decay(0.1, 0, 0.5), nnla_lr_step_decay(0.1, 2, -0.5),
                              nnla_lr_step_decay(0.1, 2, INFINITY), nnla_lr_cosine(0.1, 0, 0.0),
                              nnla_lr_cosine(0.1, 5, -0.1),    nnla_lr_warmup(0.1, 1.5, 3, 0, 0),
                              nnla_lr_warmup(0.1, -0.5, 3, 0, 0), nnla_lr_warmup(0.1, 0.5, 0, 0, 0),
                              nnla_lr_warmup(0.1, 0.5, 3, 4, NAN), nnla_lr_constant(INFINITY)};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        double lr = -7;
        assert_status(nnla_lr_at(&bad[k], 0, &lr), NNLA_EINVAL);
        assert_true(lr == -7);
    }
    nnla_lr_schedule unknown = nnla_lr_constant(0.1);
    unknown.kind = (nnla_lr_kind)9;
    assert_status(nnla_lr_check(&unknown), NNLA_EINVAL);
    double lr;
    assert_status(nnla_lr_at(NULL, 0, &lr), NNLA_ENULL);
    assert_status(nnla_lr_at(&co, 0, NULL), NNLA_ENULL);
}

static void test_defaults(void **state)
{
    (void)state;
    nnla_optim_config s = nnla_optim_sgd_default(), a = nnla_optim_adam_default(), w = nnla_optim_adamw_default();
    assert_true(s.kind == NNLA_OPTIM_SGD && s.sgd.momentum == 0 && s.sgd.dampening == 0 && s.sgd.weight_decay == 0 &&
                s.sgd.nesterov == 0);
    assert_true(a.kind == NNLA_OPTIM_ADAM && a.adam.beta1 == 0.9 && a.adam.beta2 == 0.999 && a.adam.eps == 1e-8 &&
                a.adam.weight_decay == 0);
    assert_true(w.kind == NNLA_OPTIM_ADAMW && w.adam.beta1 == 0.9 && w.adam.beta2 == 0.999 && w.adam.eps == 1e-8 &&
                w.adam.weight_decay == 0.01);
    assert_true(NNLA_ADAM_DEFAULT_LR == 1e-3);
    assert_status(nnla_optim_check(&s), NNLA_OK);
    assert_status(nnla_optim_check(&a), NNLA_OK);
    assert_status(nnla_optim_check(&w), NNLA_OK);
}

/* ------------------------------------------------------------------ threads */

/* One SGD step as torch's _single_tensor_sgd rounds it (src/optim.c's header): d = fma(p, wd, g),
 * b = d on the first momentum step else fma(d, 1 - dampening, b mu), d = fma(b, mu, d) (Nesterov)
 * or b, p = fma(d, -lr, p). */
static void ref_sgd_step(const nnla_sgd_config *s, double lr, int first, double *p, const double *g, double *buf,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double d = g[i];
        if (s->weight_decay != 0.0) d = fma(p[i], s->weight_decay, d);
        if (s->momentum != 0.0) {
            double b = first ? d : fma(d, 1.0 - s->dampening, buf[i] * s->momentum);
            buf[i] = b;
            d = s->nesterov ? fma(b, s->momentum, d) : b;
        }
        p[i] = fma(d, -lr, p[i]);
    }
}

/* Step `step` (from 1) of Adam / AdamW as torch rounds it: p = p (1 - lr wd) (AdamW) or
 * g = fma(p, wd, g) (Adam with weight decay); m = fma(g, 1 - b1, m b1); v = fma((1 - b2) g, g, v b2);
 * p = p + (-(lr / (1 - b1^t)) m) / (sqrt(v) / sqrt(1 - b2^t) + eps). */
static void ref_adam_step(const nnla_optim_config *c, double lr, uint64_t step, double *p, const double *g, double *m,
                          double *v, size_t n)
{
    const nnla_adam_config *a = &c->adam;
    const double t = (double)step, step_size = lr / (1.0 - pow(a->beta1, t));
    const double bc2_sqrt = sqrt(1.0 - pow(a->beta2, t));
    for (size_t i = 0; i < n; i++) {
        double pi = p[i], gi = g[i];
        if (c->kind == NNLA_OPTIM_ADAMW)
            pi = pi * (1.0 - lr * a->weight_decay);
        else if (a->weight_decay != 0.0)
            gi = fma(pi, a->weight_decay, gi);
        m[i] = fma(gi, 1.0 - a->beta1, m[i] * a->beta1);
        v[i] = fma((1.0 - a->beta2) * gi, gi, v[i] * a->beta2);
        p[i] = pi + (-step_size * m[i]) / (sqrt(v[i]) / bc2_sqrt + a->eps);
    }
}

/*
 * A step large enough for Adam's to be split over the threads (contiguous parts of whole 8-double
 * chunks; n odd, so the last chunk is partial; SGD's stays on the calling thread, memory-bound): SGD (plain, momentum with dampening, Nesterov, weight decay
 * with and without momentum), Adam (with and without weight decay) and AdamW, a few steps with 1,
 * 2 and 3 threads give parameters and state equal to the reference loops' bytes, and the same state
 * bytes for every thread count.
 */
static void test_step_threads(void **state)
{
    (void)state;
    enum { NB = 200003, STEPS = 3 };
    const int before = nnla_blas_num_threads();
    struct {
        nnla_optim_config c;
        double lr;
    } cases[9];
    size_t nc = 0;
    cases[nc].c = nnla_optim_sgd_default();
    cases[nc++].lr = 0.1;
    cases[nc].c = nnla_optim_sgd_default();
    cases[nc].c.sgd.momentum = 0.9;
    cases[nc].c.sgd.dampening = 0.25;
    cases[nc++].lr = 0.05;
    cases[nc].c = nnla_optim_sgd_default();
    cases[nc].c.sgd.momentum = 0.8;
    cases[nc].c.sgd.nesterov = 1;
    cases[nc++].lr = 0.05;
    cases[nc].c = nnla_optim_sgd_default();
    cases[nc].c.sgd.weight_decay = 0.01;
    cases[nc++].lr = 0.1;
    cases[nc].c = nnla_optim_sgd_default();
    cases[nc].c.sgd.weight_decay = 0.02;
    cases[nc].c.sgd.momentum = 0.9;
    cases[nc].c.sgd.nesterov = 1;
    cases[nc++].lr = 0.03;
    cases[nc].c = nnla_optim_adam_default();
    cases[nc++].lr = 1e-3;
    cases[nc].c = nnla_optim_adam_default();
    cases[nc].c.adam.weight_decay = 0.1;
    cases[nc].c.adam.beta1 = 0.8;
    cases[nc].c.adam.beta2 = 0.99;
    cases[nc++].lr = 1e-2;
    cases[nc].c = nnla_optim_adamw_default();
    cases[nc++].lr = 1e-3;
    cases[nc].c = nnla_optim_adamw_default();
    cases[nc].c.adam.weight_decay = 0.1;
    cases[nc].c.adam.eps = 1e-6;
    cases[nc++].lr = 1e-2;

    double *p0 = malloc(NB * sizeof *p0), *g = malloc(STEPS * NB * sizeof *g), *p = malloc(NB * sizeof *p);
    double *rp = malloc(NB * sizeof *rp), *r0 = malloc(NB * sizeof *r0), *r1 = malloc(NB * sizeof *r1);
    assert_true(p0 && g && p && rp && r0 && r1);
    nnla_test_rng rng = {200003};
    nnla_test_fill(&rng, p0, NB, -2, 2);
    nnla_test_fill(&rng, g, STEPS * NB, -1, 1);
    for (size_t i = 0; i < STEPS * NB; i += 97) g[i] = 0.0;   /* zero gradients: m, v stay small */
    for (size_t i = 5; i < STEPS * NB; i += 89) g[i] *= 1e-9; /* eps matters */
    for (size_t i = 0; i < NB; i += 101) p0[i] = 0.0;
    long compared = 0;
    for (size_t k = 0; k < nc; k++) {
        const nnla_optim_config *c = &cases[k].c;
        const double lr = cases[k].lr;
        const int adam = c->kind != NNLA_OPTIM_SGD;
        /* the reference */
        memcpy(rp, p0, NB * sizeof *rp);
        memset(r0, 0, NB * sizeof *r0);
        memset(r1, 0, NB * sizeof *r1);
        for (int s = 0; s < STEPS; s++) {
            if (adam)
                ref_adam_step(c, lr, (uint64_t)s + 1, rp, g + (size_t)s * NB, r0, r1, NB);
            else
                ref_sgd_step(&c->sgd, lr, s == 0, rp, g + (size_t)s * NB, r0, NB);
        }
        size_t bytes;
        unsigned char *first = NULL;
        for (int t = 1; t <= 3; t++) {
            nnla_test_set_threads(t);
            void *st = new_state(c, NB, &bytes);
            memcpy(p, p0, NB * sizeof *p);
            for (int s = 0; s < STEPS; s++)
                assert_status(nnla_optim_step(c, lr, p, g + (size_t)s * NB, NB, st), NNLA_OK);
            assert_memory_equal(p, rp, NB * sizeof *p);
            nnla_optim_state_info info;
            assert_status(nnla_optim_state_view(st, &info), NNLA_OK);
            assert_true(info.n == NB && info.step == STEPS);
            if (adam) {
                assert_memory_equal(info.exp_avg, r0, NB * sizeof *r0);
                assert_memory_equal(info.exp_avg_sq, r1, NB * sizeof *r1);
            } else if (c->sgd.momentum > 0) {
                assert_memory_equal(info.momentum_buffer, r0, NB * sizeof *r0);
            } else {
                assert_null(info.momentum_buffer);
            }
            if (t == 1)
                first = st;
            else {
                assert_memory_equal(st, first, bytes);
                free(st);
            }
            compared++;
        }
        free(first);
        /* the parameters moved: a step is not a no-op that the reference shares */
        size_t moved = 0;
        for (size_t i = 0; i < NB; i++) moved += rp[i] != p0[i];
        assert_true(moved > NB - NB / 50);
    }
    assert_status(nnla_blas_set_num_threads(before), NNLA_OK);
    assert_true(compared == 3 * (long)nc);
    free(p0);
    free(g);
    free(p);
    free(rp);
    free(r0);
    free(r1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_sgd_closed_forms),
        cmocka_unit_test(test_adam_closed_forms), cmocka_unit_test(test_torch_rounding),
        cmocka_unit_test(test_quadratic_converges), cmocka_unit_test(test_state),
        cmocka_unit_test(test_step_bad_input), cmocka_unit_test(test_clip),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_step_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
