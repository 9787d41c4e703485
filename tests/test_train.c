/*
 * Training: a step equals its parts called by hand (forward in training form, loss, backward,
 * clipping, schedule, optimizer, BatchNorm statistics); training converges on a separable problem;
 * the same seed repeats a run bit for bit; evaluation against a plain loop; bad input leaves the
 * network untouched.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define V(p, r, c) nnla_cmat_view((p), (r), (c), (c))

/* 4 inputs: dense 4->16 relu, BatchNorm, dropout 0.2, dense 16->3. */
static nnla_net *make_mlp(nnla_test_rng *r)
{
    double w1[16 * 4], b1[16], w2[3 * 16], b2[3];
    nnla_test_fill(r, w1, 64, -0.5, 0.5);
    nnla_test_fill(r, b1, 16, -0.1, 0.1);
    nnla_test_fill(r, w2, 48, -0.5, 0.5);
    nnla_test_fill(r, b2, 3, -0.1, 0.1);
    nnla_net *net = NULL;
    assert_status(nnla_net_create(4, 1, 1, &net), NNLA_OK);
    assert_status(nnla_net_add_dense(net, V(w1, 16, 4), b1, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK);
    assert_status(nnla_net_add_batchnorm(net, 16, NULL, NULL, NULL, NULL, 1e-5), NNLA_OK);
    assert_status(nnla_net_add_dropout(net, 0.2), NNLA_OK);
    assert_status(nnla_net_add_dense(net, V(w2, 3, 16), b2, nnla_act_default(NNLA_ACT_IDENTITY)), NNLA_OK);
    return net;
}

/* Three Gaussian blobs in 4-D, well apart. */
static void blobs(nnla_test_rng *r, size_t n, double *x, size_t *y)
{
    static const double centers[3][4] = {{2, 0, 0, 1}, {-2, 1, 0, 0}, {0, -2, 2, 0}};
    for (size_t i = 0; i < n; i++) {
        y[i] = i % 3;
        for (int k = 0; k < 4; k++) x[i * 4 + k] = centers[y[i]][k] + 0.5 * nnla_test_normal(r);
    }
}

/* One step of the trainer equals the parts called by hand, bit for bit. */
static void test_step_is_its_parts(void **state)
{
    (void)state;
    nnla_test_rng r = {1};
    nnla_net *a = make_mlp(&r), *b = NULL;
    assert_status(nnla_net_clone(a, &b), NNLA_OK);
    enum { B = 8 };
    double x[B * 4];
    size_t y[B];
    blobs(&r, B, x, y);
    nnla_train_config cfg = nnla_train_config_default();
    cfg.batch = B;
    cfg.seed = 5;
    cfg.clip_norm = 0.5;
    cfg.optim = nnla_optim_adamw_default();
    cfg.lr = nnla_lr_cosine(0.01, 100, 0.0);
    nnla_trainer *tr;
    assert_status(nnla_trainer_create(a, &cfg, &tr), NNLA_OK);
    double loss_a[3];
    size_t corr;
    for (int s = 0; s < 3; s++) assert_status(nnla_trainer_step(tr, x, y, NULL, B, &loss_a[s], &corr), NNLA_OK);
    assert_int_equal(nnla_trainer_steps(tr), 3);

    /* by hand on the clone */
    size_t np = nnla_net_num_params(b), bytes, sb;
    assert_status(nnla_net_ctx_size(b, B, NNLA_CTX_TRAIN, &bytes, NULL), NNLA_OK);
    void *mem = malloc(bytes);
    nnla_net_ctx *ctx;
    assert_status(nnla_net_ctx_init(b, B, NNLA_CTX_TRAIN, mem, bytes, &ctx), NNLA_OK);
    assert_status(nnla_net_ctx_seed(ctx, 5), NNLA_OK);
    assert_status(nnla_optim_state_size(&cfg.optim, np, &sb), NNLA_OK);
    void *st = aligned_alloc(64, (sb + 63) / 64 * 64);
    assert_status(nnla_optim_state_init(&cfg.optim, np, st, sb), NNLA_OK);
    double *grad = malloc(np * sizeof *grad), logits[B * 3], dl[B * 3], *params;
    assert_status(nnla_net_params(b, &params, &np), NNLA_OK);
    for (size_t s = 0; s < 3; s++) {
        double loss, lr;
        assert_status(nnla_net_run(b, ctx, B, 0, 3, x, logits), NNLA_OK);
        assert_status(nnla_loss_cross_entropy(V(logits, B, 3), y, 0.0, &loss, nnla_mat_view(dl, B, 3, 3), NULL),
                      NNLA_OK);
        assert_true(loss == loss_a[s]);
        assert_status(nnla_net_backward(b, ctx, B, dl, grad, NULL), NNLA_OK);
        assert_status(nnla_clip_grad_norm(grad, np, 0.5, NULL), NNLA_OK);
        assert_status(nnla_lr_at(&cfg.lr, s, &lr), NNLA_OK);
        assert_status(nnla_optim_step(&cfg.optim, lr, params, grad, np, st), NNLA_OK);
        assert_status(nnla_net_update_stats(b, ctx), NNLA_OK);
    }
    double *pa, *ba, *bb;
    size_t na, nba, nbb;
    assert_status(nnla_net_params(a, &pa, &na), NNLA_OK);
    assert_memory_equal(pa, params, np * sizeof *pa);
    assert_status(nnla_net_buffers(a, &ba, &nba), NNLA_OK);
    assert_status(nnla_net_buffers(b, &bb, &nbb), NNLA_OK);
    assert_int_equal(nba, 32);
    assert_memory_equal(ba, bb, nba * sizeof *ba);
    nnla_trainer_free(tr);
    nnla_net_free(a);
    nnla_net_free(b);
    free(mem), free(st), free(grad);
}

/* Training converges on three separable blobs; evaluation agrees with a plain argmax loop; the
 * same seed gives the same run bit for bit. */
static void test_converges_and_repeats(void **state)
{
    (void)state;
    enum { N = 600, NV = 300 };
    nnla_test_rng r = {2};
    double *x = malloc(N * 4 * sizeof *x), *xv = malloc(NV * 4 * sizeof *xv);
    size_t *y = malloc(N * sizeof *y), *yv = malloc(NV * sizeof *yv);
    blobs(&r, N, x, y);
    blobs(&r, NV, xv, yv);
    double *final[2];
    nnla_epoch last[2];
    for (int rep = 0; rep < 2; rep++) {
        nnla_test_rng rr = {3};
        nnla_net *net = make_mlp(&rr);
        nnla_train_config cfg = nnla_train_config_default();
        cfg.seed = 11;
        cfg.lr = nnla_lr_constant(0.01);
        nnla_trainer *tr;
        assert_status(nnla_trainer_create(net, &cfg, &tr), NNLA_OK);
        nnla_dataset tr_set = {x, N, y, NULL}, val = {xv, NV, yv, NULL};
        double l0, a0;
        assert_status(nnla_trainer_evaluate(tr, &val, &l0, &a0), NNLA_OK);
        assert_status(nnla_train(tr, &tr_set, &val, 8, NULL, NULL, &last[rep]), NNLA_OK);
        assert_int_equal(last[rep].epoch, 8);
        assert_int_equal(last[rep].steps, 8 * ((N + 31) / 32));
        assert_true(last[rep].val_loss < 0.5 * l0);
        assert_true(last[rep].val_accuracy > 0.95);
        /* the accuracy against the network's own outputs, counted by hand */
        size_t bytes, right = 0;
        assert_status(nnla_net_workspace_size(net, NV, &bytes), NNLA_OK);
        void *w = malloc(bytes);
        double *out = malloc(NV * 3 * sizeof *out);
        assert_status(nnla_net_forward(net, NV, xv, out, w, bytes), NNLA_OK);
        for (size_t i = 0; i < NV; i++) {
            size_t best = 0;
            for (size_t k = 1; k < 3; k++)
                if (out[i * 3 + k] > out[i * 3 + best]) best = k;
            right += best == yv[i];
        }
        assert_true(fabs((double)right / NV - last[rep].val_accuracy) < 1e-15);
        double *p;
        size_t np;
        assert_status(nnla_net_params(net, &p, &np), NNLA_OK);
        final[rep] = malloc(np * sizeof *p);
        memcpy(final[rep], p, np * sizeof *p);
        if (rep == 1) assert_memory_equal(final[0], final[1], np * sizeof *p);
        free(w), free(out);
        nnla_trainer_free(tr);
        nnla_net_free(net);
    }
    assert_true(last[0].loss == last[1].loss && last[0].val_loss == last[1].val_loss);
    free(final[0]), free(final[1]), free(x), free(xv), free(y), free(yv);
}

/* MSE and BCE with targets; an epoch callback that stops early. */
static int stop_after_two(const nnla_epoch *e, void *user)
{
    *(size_t *)user = e->epoch;
    return e->epoch == 2;
}

static void test_regression_losses(void **state)
{
    (void)state;
    enum { N = 200 };
    nnla_test_rng r = {4};
    double w[1 * 4] = {0.3, -0.2, 0.1, 0.4}, x[N * 4], t[N];
    for (size_t i = 0; i < N * 4; i++) x[i] = nnla_test_normal(&r);
    for (size_t i = 0; i < N; i++) t[i] = 1.5 * x[i * 4] - 0.5 * x[i * 4 + 1] + 0.25;
    nnla_net *net = NULL;
    assert_status(nnla_net_create(4, 1, 1, &net), NNLA_OK);
    double b = 0;
    assert_status(nnla_net_add_dense(net, V(w, 1, 4), &b, nnla_act_default(NNLA_ACT_IDENTITY)), NNLA_OK);
    nnla_train_config cfg = nnla_train_config_default();
    cfg.loss = NNLA_LOSS_MSE;
    cfg.optim = nnla_optim_sgd_default();
    cfg.lr = nnla_lr_constant(0.1);
    cfg.batch = 20;
    nnla_trainer *tr;
    assert_status(nnla_trainer_create(net, &cfg, &tr), NNLA_OK);
    nnla_dataset d = {x, N, NULL, t};
    size_t seen = 0;
    nnla_epoch e;
    assert_status(nnla_train(tr, &d, NULL, 50, stop_after_two, &seen, &e), NNLA_OK);
    assert_int_equal(seen, 2);
    assert_true(isnan(e.val_loss) && isnan(e.accuracy));
    assert_status(nnla_train(tr, &d, &d, 40, NULL, NULL, &e), NNLA_OK);
    assert_true(e.val_loss < 1e-10); /* an exact linear relation: least squares drives the loss to 0 */
    double got[4];
    assert_status(nnla_net_get_param(net, 0, NNLA_PARAM_WEIGHT, got, 4), NNLA_OK);
    assert_true(fabs(got[0] - 1.5) < 1e-5 && fabs(got[1] + 0.5) < 1e-5 && fabs(got[2]) < 1e-5);
    /* cross-entropy needs labels or probabilities; MSE needs targets */
    size_t lab[N] = {0};
    nnla_dataset bad = {x, N, lab, NULL};
    assert_status(nnla_trainer_evaluate(tr, &bad, NULL, NULL), NNLA_EINVAL);
    nnla_trainer_free(tr);
    nnla_net_free(net);
}

/* Bad input: statuses, and the network untouched. */
static void test_bad_input(void **state)
{
    (void)state;
    nnla_test_rng r = {6};
    nnla_net *net = make_mlp(&r);
    nnla_train_config cfg = nnla_train_config_default();
    nnla_trainer *tr = (nnla_trainer *)(void *)&cfg;
    nnla_train_config c = cfg;
    c.batch = 0;
    assert_status(nnla_trainer_create(net, &c, &tr), NNLA_EDIM);
    c = cfg;
    c.label_smoothing = 1.0;
    assert_status(nnla_trainer_create(net, &c, &tr), NNLA_EINVAL);
    c = cfg;
    c.clip_norm = -1;
    assert_status(nnla_trainer_create(net, &c, &tr), NNLA_EINVAL);
    c = cfg;
    c.lr = nnla_lr_constant(-0.1);
    assert_status(nnla_trainer_create(net, &c, &tr), NNLA_EINVAL);
    c = cfg;
    c.lr = nnla_lr_constant(NAN);
    assert_status(nnla_trainer_create(net, &c, &tr), NNLA_EINVAL);
    c = cfg;
    c.loss = (nnla_loss_kind)7;
    assert_status(nnla_trainer_create(net, &c, &tr), NNLA_EINVAL);
    assert_status(nnla_trainer_create(NULL, &cfg, &tr), NNLA_ENULL);
    assert_true(tr == (nnla_trainer *)(void *)&cfg);
    nnla_net *empty;
    assert_status(nnla_net_create(4, 1, 1, &empty), NNLA_OK);
    assert_status(nnla_net_add_act(empty, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK);
    assert_status(nnla_trainer_create(empty, &cfg, &tr), NNLA_EDIM); /* no parameters */
    nnla_net_free(empty);

    cfg.batch = 4;
    assert_status(nnla_trainer_create(net, &cfg, &tr), NNLA_OK);
    double x[4 * 4] = {0}, *p;
    size_t np, y[4] = {0, 1, 2, 3}; /* class 3 does not exist */
    assert_status(nnla_net_params(net, &p, &np), NNLA_OK);
    double *before = malloc(np * sizeof *before);
    memcpy(before, p, np * sizeof *p);
    double loss = -1;
    assert_status(nnla_trainer_step(tr, x, y, NULL, 4, &loss, NULL), NNLA_EINVAL);
    assert_status(nnla_trainer_step(tr, x, y, NULL, 5, &loss, NULL), NNLA_EDIM);
    assert_status(nnla_trainer_step(tr, x, y, NULL, 0, &loss, NULL), NNLA_EDIM);
    assert_status(nnla_trainer_step(tr, NULL, y, NULL, 4, &loss, NULL), NNLA_ENULL);
    assert_status(nnla_trainer_step(tr, x, NULL, NULL, 4, &loss, NULL), NNLA_ENULL);
    assert_memory_equal(p, before, np * sizeof *p);
    assert_true(loss == -1 && nnla_trainer_steps(tr) == 0);
    nnla_dataset d = {x, 4, y, NULL};
    assert_status(nnla_train(tr, &d, NULL, 0, NULL, NULL, NULL), NNLA_EDIM);
    assert_status(nnla_train(tr, &d, NULL, 1, NULL, NULL, NULL), NNLA_EINVAL); /* the class 3 */
    nnla_trainer_free(tr);
    nnla_trainer_free(NULL);
    free(before);
    nnla_net_free(net);
}

/* ------------------------------------------------------------------ spectral regularization */

/* The exact spectral norm of every dense layer of make_mlp's network (layers 0 and 3). */
static void exact_sigmas(nnla_net *net, double s[2])
{
    const size_t layers[2] = {0, 3};
    for (int k = 0; k < 2; k++) {
        nnla_mat w;
        assert_status(nnla_net_weight_matrix(net, layers[k], &w), NNLA_OK);
        double sv[16];
        assert_status(nnla_svd_alloc(NNLA_SVD_VALUES, nnla_cmat_of(w), sv, nnla_mat_view(NULL, 0, 0, 0),
                                     nnla_mat_view(NULL, 0, 0, 0), NULL),
                      NNLA_OK);
        s[k] = sv[0];
    }
}

static void test_spectral_regularization(void **state)
{
    (void)state;
    enum { N = 300 };
    nnla_test_rng r = {8};
    double *x = malloc(N * 4 * sizeof *x);
    size_t *y = malloc(N * sizeof *y);
    blobs(&r, N, x, y);
    for (int i = 0; i < N * 4; i++) x[i] *= 3; /* large inputs: the weights want to grow */
    nnla_dataset d = {x, N, y, NULL};
    double s_plain[2], s[2];
    /* without regularization, the reference */
    nnla_test_rng r0 = {9};
    nnla_net *net = make_mlp(&r0);
    nnla_train_config cfg = nnla_train_config_default();
    cfg.lr = nnla_lr_constant(0.02);
    nnla_trainer *tr;
    assert_status(nnla_trainer_create(net, &cfg, &tr), NNLA_OK);
    assert_status(nnla_train(tr, &d, NULL, 5, NULL, NULL, NULL), NNLA_OK);
    size_t count;
    assert_status(nnla_trainer_sigmas(tr, s, 2, &count), NNLA_EINVAL); /* no regularization */
    exact_sigmas(net, s_plain);
    nnla_trainer_free(tr);
    nnla_net_free(net);
    /* clipping: exact, every layer's sigma <= c after every step */
    const double c = 0.8 * (s_plain[0] < s_plain[1] ? s_plain[0] : s_plain[1]);
    r0 = (nnla_test_rng){9};
    net = make_mlp(&r0);
    cfg.reg = NNLA_REG_SV_CLIP;
    cfg.reg_value = c;
    assert_status(nnla_trainer_create(net, &cfg, &tr), NNLA_OK);
    for (int step = 0; step < 20; step++) {
        assert_status(nnla_trainer_step(tr, x + (step % 9) * 32 * 4, y + (step % 9) * 32, NULL, 32, NULL, NULL), NNLA_OK);
        exact_sigmas(net, s);
        assert_true(s[0] <= c * (1 + 1e-12) && s[1] <= c * (1 + 1e-12));
        double rep[2];
        assert_status(nnla_trainer_sigmas(tr, rep, 2, &count), NNLA_OK);
        assert_int_equal(count, 2);
        assert_true(fabs(rep[0] - s[0]) <= 1e-12 * s[0] && fabs(rep[1] - s[1]) <= 1e-12 * s[1]);
    }
    double small[1];
    assert_status(nnla_trainer_sigmas(tr, small, 1, &count), NNLA_ESHAPE);
    nnla_trainer_free(tr);
    nnla_net_free(net);
    /* normalization (projection, one warm-started power iteration per step): sigma ends near c */
    r0 = (nnla_test_rng){9};
    net = make_mlp(&r0);
    cfg.reg = NNLA_REG_SPECTRAL_NORM;
    assert_status(nnla_trainer_create(net, &cfg, &tr), NNLA_OK);
    assert_status(nnla_train(tr, &d, NULL, 5, NULL, NULL, NULL), NNLA_OK);
    exact_sigmas(net, s);
    assert_true(s[0] <= c * 1.02 && s[1] <= c * 1.02); /* one iteration a step: the estimate trails by a little */
    nnla_trainer_free(tr);
    nnla_net_free(net);
    /* the penalty: one SGD step equals the step on the loss's gradient plus 2 c sigma u v^T */
    r0 = (nnla_test_rng){9};
    net = make_mlp(&r0);
    nnla_net *ref = NULL;
    assert_status(nnla_net_clone(net, &ref), NNLA_OK);
    cfg = nnla_train_config_default();
    cfg.optim = nnla_optim_sgd_default();
    cfg.lr = nnla_lr_constant(0.1);
    cfg.reg = NNLA_REG_SPECTRAL_PENALTY;
    cfg.reg_value = 0.05;
    cfg.reg_iters = 500; /* converged: the gradient of sigma is exactly u v^T */
    cfg.batch = 32;
    assert_status(nnla_trainer_create(net, &cfg, &tr), NNLA_OK);
    double loss;
    assert_status(nnla_trainer_step(tr, x, y, NULL, 32, &loss, NULL), NNLA_OK);
    nnla_train_config c2 = cfg;
    c2.reg = NNLA_REG_NONE;
    nnla_trainer *t2;
    assert_status(nnla_trainer_create(ref, &c2, &t2), NNLA_OK);
    double loss2;
    assert_status(nnla_trainer_step(t2, x, y, NULL, 32, &loss2, NULL), NNLA_OK);
    /* the same dropout masks (same seed): the two steps differ by exactly the penalty's term */
    double sv[2];
    r0 = (nnla_test_rng){9};
    nnla_net *orig = make_mlp(&r0);
    exact_sigmas(orig, sv);
    assert_true(fabs(loss - loss2 - 0.05 * (sv[0] * sv[0] + sv[1] * sv[1])) <= 1e-12 * loss);
    const size_t layers[2] = {0, 3};
    for (int k = 0; k < 2; k++) {
        nnla_mat w0, wa, wb;
        assert_status(nnla_net_weight_matrix(orig, layers[k], &w0), NNLA_OK);
        assert_status(nnla_net_weight_matrix(net, layers[k], &wa), NNLA_OK);
        assert_status(nnla_net_weight_matrix(ref, layers[k], &wb), NNLA_OK);
        /* wa - wb = -lr * 2 c sigma u v^T: rank one with norm lr 2 c sigma */
        double d2[16 * 16], dsv[16];
        for (size_t i = 0; i < w0.rows; i++)
            for (size_t j = 0; j < w0.cols; j++) d2[i * w0.cols + j] = wa.data[i * wa.ld + j] - wb.data[i * wb.ld + j];
        assert_status(nnla_svd_alloc(NNLA_SVD_VALUES, nnla_cmat_view(d2, w0.rows, w0.cols, w0.cols), dsv,
                                     nnla_mat_view(NULL, 0, 0, 0), nnla_mat_view(NULL, 0, 0, 0), NULL),
                      NNLA_OK);
        assert_true(fabs(dsv[0] - 0.1 * 2 * 0.05 * sv[k]) <= 1e-9 * dsv[0]);
        assert_true(dsv[1] <= 1e-12 * dsv[0]);
    }
    nnla_trainer_free(tr);
    nnla_trainer_free(t2);
    nnla_net_free(net);
    nnla_net_free(ref);
    nnla_net_free(orig);
    /* bad configurations */
    nnla_net *n3 = make_mlp(&r);
    nnla_train_config bad = nnla_train_config_default();
    bad.reg = NNLA_REG_SPECTRAL_NORM;
    bad.reg_value = 0;
    assert_status(nnla_trainer_create(n3, &bad, &tr), NNLA_EINVAL);
    bad.reg_value = 1, bad.reg_iters = 0;
    assert_status(nnla_trainer_create(n3, &bad, &tr), NNLA_EINVAL);
    bad.reg_iters = 1, bad.reg = (nnla_train_reg)9;
    assert_status(nnla_trainer_create(n3, &bad, &tr), NNLA_EINVAL);
    nnla_net_free(n3);
    free(x), free(y);
}

/* ------------------------------------------------------------------ adversarial examples */

static void test_attacks(void **state)
{
    (void)state;
    enum { N = 600, NT = 300 };
    nnla_test_rng r = {7};
    double *x = malloc(N * 4 * sizeof *x), *xt = malloc(NT * 4 * sizeof *xt);
    size_t *y = malloc(N * sizeof *y), *yt = malloc(NT * sizeof *yt);
    blobs(&r, N, x, y);
    blobs(&r, NT, xt, yt);
    nnla_net *net = make_mlp(&r);
    nnla_train_config cfg = nnla_train_config_default();
    cfg.lr = nnla_lr_constant(0.01);
    nnla_trainer *tr;
    assert_status(nnla_trainer_create(net, &cfg, &tr), NNLA_OK);
    nnla_dataset d = {x, N, y, NULL};
    assert_status(nnla_train(tr, &d, NULL, 6, NULL, NULL, NULL), NNLA_OK);
    nnla_trainer_free(tr);

    enum { B = 50 };
    size_t bytes;
    assert_status(nnla_attack_workspace_size(net, B, &bytes), NNLA_OK);
    void *work = malloc(bytes);
    /* the input gradient against central differences of the mean cross-entropy */
    double g[B * 4], loss;
    assert_status(nnla_input_gradient(net, B, xt, yt, &loss, g, work, bytes), NNLA_OK);
    for (int k = 0; k < 6; k++) {
        size_t i = (size_t)nnla_test_int(&r, 0, B * 4 - 1);
        double xp[B * 4], lp, lm, h = 1e-6, gg[B * 4];
        memcpy(xp, xt, sizeof xp);
        xp[i] += h;
        assert_status(nnla_input_gradient(net, B, xp, yt, &lp, gg, work, bytes), NNLA_OK);
        xp[i] -= 2 * h;
        assert_status(nnla_input_gradient(net, B, xp, yt, &lm, gg, work, bytes), NNLA_OK);
        double fd = (lp - lm) / (2 * h);
        assert_true(fabs(fd - g[i]) <= 1e-6 * fabs(fd) + 1e-9);
    }
    /* FGSM: exactly clip(x + eps sign(g)); PGD with one full step from x equals it */
    nnla_attack_config ac = nnla_attack_config_make(0.3, -3.0, 3.0);
    double xa[B * 4], xb[B * 4];
    assert_status(nnla_fgsm(net, B, xt, yt, &ac, xa, work, bytes), NNLA_OK);
    for (size_t i = 0; i < B * 4; i++) {
        double want = xt[i] + 0.3 * (g[i] > 0 ? 1.0 : g[i] < 0 ? -1.0 : 0.0);
        want = want < -3 ? -3 : want > 3 ? 3 : want;
        assert_true(xa[i] == want);
    }
    nnla_attack_config one = ac;
    one.steps = 1, one.step = 0.3, one.random_start = 0;
    assert_status(nnla_pgd(net, B, xt, yt, &one, xb, work, bytes), NNLA_OK);
    assert_memory_equal(xa, xb, sizeof xa);
    /* PGD stays in the ball and the range, with a random start and many steps */
    ac.lo = -1.0, ac.hi = 1.5, ac.steps = 20, ac.step = 0.05;
    assert_status(nnla_pgd(net, B, xt, yt, &ac, xb, work, bytes), NNLA_OK);
    for (size_t i = 0; i < B * 4; i++) {
        assert_true(xb[i] >= -1.0 && xb[i] <= 1.5);
        double lo = xt[i] - 0.3 < -1.0 ? -1.0 : xt[i] - 0.3, hi = xt[i] + 0.3 > 1.5 ? 1.5 : xt[i] + 0.3;
        if (lo <= hi) assert_true(xb[i] >= lo - 1e-15 && xb[i] <= hi + 1e-15);
    }
    double pl;
    assert_status(nnla_input_gradient(net, B, xb, yt, &pl, g, work, bytes), NNLA_OK);
    /* accuracy under attack: clean first, then non-increasing in eps for FGSM and PGD, and PGD at
     * least as strong as FGSM here */
    double clean, prev_f = 1.0, prev_p = 1.0;
    assert_status(nnla_attack_accuracy(net, xt, yt, NT, NNLA_ATTACK_NONE, NULL, B, &clean, work, bytes), NNLA_OK);
    assert_true(clean > 0.95);
    const double eps[] = {0.0, 0.25, 0.5, 1.0, 2.0};
    for (size_t k = 0; k < sizeof eps / sizeof eps[0]; k++) {
        nnla_attack_config c = nnla_attack_config_make(eps[k], -10, 10);
        double af, ap;
        assert_status(nnla_attack_accuracy(net, xt, yt, NT, NNLA_ATTACK_FGSM, &c, B, &af, work, bytes), NNLA_OK);
        assert_status(nnla_attack_accuracy(net, xt, yt, NT, NNLA_ATTACK_PGD, &c, B, &ap, work, bytes), NNLA_OK);
        if (k == 0) assert_true(af == clean && ap == clean);
        assert_true(af <= prev_f && ap <= prev_p);
        assert_true(ap <= af);
        prev_f = af, prev_p = ap;
    }
    assert_true(prev_p < 0.5 * clean); /* eps = 2 against blobs 0.5 wide: the attack wins */
    /* bad input: statuses, outputs untouched */
    double keep[B * 4];
    memcpy(keep, xa, sizeof xa);
    nnla_attack_config bad = ac;
    bad.eps = -1;
    assert_status(nnla_fgsm(net, B, xt, yt, &bad, xa, work, bytes), NNLA_EINVAL);
    bad = ac, bad.lo = 2, bad.hi = 1;
    assert_status(nnla_pgd(net, B, xt, yt, &bad, xa, work, bytes), NNLA_EINVAL);
    bad = ac, bad.steps = 0;
    assert_status(nnla_pgd(net, B, xt, yt, &bad, xa, work, bytes), NNLA_EINVAL);
    bad = ac, bad.eps = NAN;
    assert_status(nnla_fgsm(net, B, xt, yt, &bad, xa, work, bytes), NNLA_EINVAL);
    size_t badl[B];
    memcpy(badl, yt, sizeof badl);
    badl[7] = 3;
    assert_status(nnla_fgsm(net, B, xt, badl, &ac, xa, work, bytes), NNLA_EINVAL);
    assert_status(nnla_fgsm(net, B, xt, yt, &ac, xa, work, bytes - 1), NNLA_EWORKSPACE);
    assert_status(nnla_fgsm(net, B, xt, yt, &ac, (double *)work, work, bytes), NNLA_EALIAS);
    assert_status(nnla_fgsm(net, B + 1, xt, yt, &ac, xa, work, bytes), NNLA_EWORKSPACE);
    assert_memory_equal(xa, keep, sizeof xa);
    double acc = -1;
    assert_status(nnla_attack_accuracy(net, xt, yt, 0, NNLA_ATTACK_FGSM, &ac, B, &acc, work, bytes), NNLA_EDIM);
    assert_status(nnla_attack_accuracy(net, xt, yt, NT, (nnla_attack_kind)9, &ac, B, &acc, work, bytes), NNLA_EINVAL);
    assert_true(acc == -1);
    free(work), free(x), free(xt), free(y), free(yt);
    nnla_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_is_its_parts),
        cmocka_unit_test(test_converges_and_repeats),
        cmocka_unit_test(test_regression_losses),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_spectral_regularization),
        cmocka_unit_test(test_attacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
