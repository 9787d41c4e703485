/*
 * Networks: a forward pass equals its layers called one by one (an MLP and a small CNN), shape
 * queries, workspace and aliasing errors with untouched outputs, failed add_* calls that leave
 * the network as it was, and four threads running one network at once, bit for bit.
 */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS DBL_EPSILON

static double *rnd(nnla_test_rng *r, size_t n, double scale)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    nnla_test_fill(r, p, n, -scale, scale);
    return p;
}

static void *ws_alloc(const nnla_net *net, size_t batch, size_t *bytes)
{
    assert_status(nnla_net_workspace_size(net, batch, bytes), NNLA_OK);
    void *w = malloc(*bytes);
    assert_non_null(w);
    return w;
}

static size_t out_size(const nnla_net *net)
{
    size_t s[3];
    assert_status(nnla_net_output_shape(net, s), NNLA_OK);
    return s[0] * s[1] * s[2];
}

/* Run the network on a batch with a fresh workspace; y must hold batch * output size. */
static void run(const nnla_net *net, size_t batch, const double *x, double *y)
{
    size_t bytes;
    void *w = ws_alloc(net, batch, &bytes);
    assert_status(nnla_net_forward(net, batch, x, y, w, bytes), NNLA_OK);
    free(w);
}

/* ------------------------------------------------------------------ MLP */

typedef struct mlp {
    double *w1, *b1, *w2, *b2, *w3;
} mlp;

/* Input (2, 3, 4) = 24 features: dense 24->16 relu, dense 16->9 tanh, dense 9->5 (no bias), softmax. */
static nnla_net *make_mlp(nnla_test_rng *r, mlp *m)
{
    m->w1 = rnd(r, 16 * 24, 0.4);
    m->b1 = rnd(r, 16, 0.2);
    m->w2 = rnd(r, 9 * 16, 0.5);
    m->b2 = rnd(r, 9, 0.2);
    m->w3 = rnd(r, 5 * 9, 1.0);
    nnla_net *net = NULL;
    assert_status(nnla_net_create(2, 3, 4, &net), NNLA_OK);
    assert_status(nnla_net_add_dense(net, 16, m->w1, m->b1, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK);
    assert_status(nnla_net_add_dense(net, 9, m->w2, m->b2, nnla_act_default(NNLA_ACT_TANH)), NNLA_OK);
    assert_status(nnla_net_add_dense(net, 5, m->w3, NULL, nnla_act_default(NNLA_ACT_IDENTITY)), NNLA_OK);
    assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_SOFTMAX)), NNLA_OK);
    return net;
}

static void free_mlp(mlp *m)
{
    free(m->w1);
    free(m->b1);
    free(m->w2);
    free(m->b2);
    free(m->w3);
}

/* The MLP's layers called one by one. */
static void mlp_by_hand(const mlp *m, size_t batch, const double *x, double *y)
{
    double *h1 = malloc(batch * 16 * sizeof *h1), *h2 = malloc(batch * 9 * sizeof *h2);
    double *h3 = malloc(batch * 5 * sizeof *h3);
    assert_status(nnla_dense_forward(nnla_cmat_view(x, batch, 24, 24), nnla_cmat_view(m->w1, 16, 24, 24),
                                     m->b1, nnla_act_default(NNLA_ACT_RELU),
                                     nnla_mat_view(h1, batch, 16, 16)),
                  NNLA_OK);
    assert_status(nnla_dense_forward(nnla_cmat_view(h1, batch, 16, 16), nnla_cmat_view(m->w2, 9, 16, 16),
                                     m->b2, nnla_act_default(NNLA_ACT_TANH), nnla_mat_view(h2, batch, 9, 9)),
                  NNLA_OK);
    assert_status(nnla_dense_forward(nnla_cmat_view(h2, batch, 9, 9), nnla_cmat_view(m->w3, 5, 9, 9), NULL,
                                     nnla_act_default(NNLA_ACT_IDENTITY), nnla_mat_view(h3, batch, 5, 5)),
                  NNLA_OK);
    assert_status(nnla_act_forward(nnla_act_default(NNLA_ACT_SOFTMAX), nnla_cmat_view(h3, batch, 5, 5),
                                   nnla_mat_view(y, batch, 5, 5)),
                  NNLA_OK);
    free(h1);
    free(h2);
    free(h3);
}

static void test_mlp_composition(void **state)
{
    (void)state;
    nnla_test_rng r = {1};
    mlp m;
    nnla_net *net = make_mlp(&r, &m);
    assert_int_equal(nnla_net_num_layers(net), 4);
    size_t s[3];
    assert_status(nnla_net_input_shape(net, s), NNLA_OK);
    assert_true(s[0] == 2 && s[1] == 3 && s[2] == 4);
    assert_status(nnla_net_output_shape(net, s), NNLA_OK);
    assert_true(s[0] == 5 && s[1] == 1 && s[2] == 1);
    nnla_layer_kind k;
    assert_status(nnla_net_layer_kind(net, 0, &k), NNLA_OK);
    assert_int_equal(k, NNLA_LAYER_DENSE);
    assert_status(nnla_net_layer_kind(net, 3, &k), NNLA_OK);
    assert_int_equal(k, NNLA_LAYER_ACT);
    assert_status(nnla_net_layer_kind(net, 4, &k), NNLA_EINVAL);

    const size_t batches[] = {1, 2, 7, 33};
    for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
        size_t batch = batches[bi];
        double *x = rnd(&r, batch * 24, 1.0), *y = malloc(batch * 5 * sizeof *y),
               *e = malloc(batch * 5 * sizeof *e);
        run(net, batch, x, y);
        mlp_by_hand(&m, batch, x, e);
        assert_vec_close(y, e, batch * 5, 0, 0); /* the same calls on the same data: identical */
        free(x);
        free(y);
        free(e);
    }
    /* the weights were copied: changing the caller's arrays changes nothing */
    double *x = rnd(&r, 3 * 24, 1.0), y0[15], y1[15];
    run(net, 3, x, y0);
    for (size_t i = 0; i < 16 * 24; i++) m.w1[i] = NAN;
    run(net, 3, x, y1);
    assert_memory_equal(y0, y1, sizeof y0);
    free(x);
    nnla_net_free(net);
    free_mlp(&m);
}

/* ------------------------------------------------------------------ CNN */

typedef struct cnn {
    nnla_conv2d_desc c1, c2;
    nnla_pool2d_desc p;
    double *w1, *b1, *w2, *b2, *w3, *b3;
} cnn;

/* Input (3, 11, 10): conv 3->4 3x3 pad 1 relu, max pool 2 (stride 2), conv 4->6 3x3 stride 1 (gelu),
 * global avg pool, flatten, dense 6->5, softmax. */
static nnla_net *make_cnn(nnla_test_rng *r, cnn *c)
{
    c->c1 = nnla_conv2d_desc_make(3, 4, 3, 3);
    c->c1.pad_top = c->c1.pad_bottom = c->c1.pad_left = c->c1.pad_right = 1;
    c->c2 = nnla_conv2d_desc_make(4, 6, 3, 3);
    c->p = (nnla_pool2d_desc){NNLA_POOL_MAX, 2, 2, 2, 2, 0, 0, 0, 0, 0, 1};
    c->w1 = rnd(r, 4 * 3 * 9, 0.4);
    c->b1 = rnd(r, 4, 0.1);
    c->w2 = rnd(r, 6 * 4 * 9, 0.3);
    c->b2 = rnd(r, 6, 0.1);
    c->w3 = rnd(r, 5 * 6, 1.0);
    c->b3 = rnd(r, 5, 0.1);
    nnla_net *net = NULL;
    size_t s[3];
    assert_status(nnla_net_create(3, 11, 10, &net), NNLA_OK);
    assert_status(nnla_net_add_conv2d(net, &c->c1, c->w1, c->b1, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK);
    assert_status(nnla_net_output_shape(net, s), NNLA_OK);
    assert_true(s[0] == 4 && s[1] == 11 && s[2] == 10);
    assert_status(nnla_net_add_pool2d(net, &c->p), NNLA_OK);
    assert_status(nnla_net_output_shape(net, s), NNLA_OK);
    assert_true(s[0] == 4 && s[1] == 5 && s[2] == 5);
    assert_status(nnla_net_add_conv2d(net, &c->c2, c->w2, c->b2, nnla_act_default(NNLA_ACT_GELU)), NNLA_OK);
    assert_status(nnla_net_output_shape(net, s), NNLA_OK);
    assert_true(s[0] == 6 && s[1] == 3 && s[2] == 3);
    assert_status(nnla_net_add_global_avgpool(net), NNLA_OK);
    assert_status(nnla_net_output_shape(net, s), NNLA_OK);
    assert_true(s[0] == 6 && s[1] == 1 && s[2] == 1);
    assert_status(nnla_net_add_flatten(net), NNLA_OK);
    assert_status(nnla_net_add_dense(net, 5, c->w3, c->b3, nnla_act_default(NNLA_ACT_IDENTITY)), NNLA_OK);
    assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_SOFTMAX)), NNLA_OK);
    assert_status(nnla_net_output_shape(net, s), NNLA_OK);
    assert_true(s[0] == 5 && s[1] == 1 && s[2] == 1);
    assert_int_equal(nnla_net_num_layers(net), 7);
    const nnla_layer_kind kinds[7] = {
        NNLA_LAYER_CONV2D,  NNLA_LAYER_POOL2D, NNLA_LAYER_CONV2D, NNLA_LAYER_GLOBAL_AVGPOOL,
        NNLA_LAYER_FLATTEN, NNLA_LAYER_DENSE,  NNLA_LAYER_ACT};
    for (size_t i = 0; i < 7; i++) {
        nnla_layer_kind k;
        assert_status(nnla_net_layer_kind(net, i, &k), NNLA_OK);
        assert_int_equal(k, kinds[i]);
    }
    return net;
}

static void free_cnn(cnn *c)
{
    free(c->w1);
    free(c->b1);
    free(c->w2);
    free(c->b2);
    free(c->w3);
    free(c->b3);
}

static void cnn_by_hand(const cnn *c, size_t batch, const double *x, double *y)
{
    double *a1 = malloc(batch * 4 * 11 * 10 * sizeof *a1), *a2 = malloc(batch * 4 * 5 * 5 * sizeof *a2);
    double *a3 = malloc(batch * 6 * 3 * 3 * sizeof *a3), *a4 = malloc(batch * 6 * sizeof *a4);
    double *a5 = malloc(batch * 5 * sizeof *a5);
    size_t wb1, wb2;
    assert_status(nnla_conv2d_workspace_size(&c->c1, batch, 11, 10, &wb1), NNLA_OK);
    assert_status(nnla_conv2d_workspace_size(&c->c2, batch, 5, 5, &wb2), NNLA_OK);
    void *w1 = malloc(wb1 + 1), *w2 = malloc(wb2 + 1);
    assert_status(nnla_conv2d_forward(&c->c1, batch, 11, 10, x, c->w1, c->b1, nnla_act_default(NNLA_ACT_RELU),
                                      a1, w1, wb1),
                  NNLA_OK);
    assert_status(nnla_pool2d_forward(&c->p, batch, 4, 11, 10, a1, a2), NNLA_OK);
    assert_status(nnla_conv2d_forward(&c->c2, batch, 5, 5, a2, c->w2, c->b2, nnla_act_default(NNLA_ACT_GELU),
                                      a3, w2, wb2),
                  NNLA_OK);
    assert_status(nnla_global_avgpool2d(batch, 6, 3, 3, a3, a4), NNLA_OK);
    assert_status(nnla_dense_forward(nnla_cmat_view(a4, batch, 6, 6), nnla_cmat_view(c->w3, 5, 6, 6), c->b3,
                                     nnla_act_default(NNLA_ACT_IDENTITY), nnla_mat_view(a5, batch, 5, 5)),
                  NNLA_OK);
    assert_status(nnla_act_forward(nnla_act_default(NNLA_ACT_SOFTMAX), nnla_cmat_view(a5, batch, 5, 5),
                                   nnla_mat_view(y, batch, 5, 5)),
                  NNLA_OK);
    free(a1);
    free(a2);
    free(a3);
    free(a4);
    free(a5);
    free(w1);
    free(w2);
}

static void test_cnn_composition(void **state)
{
    (void)state;
    nnla_test_rng r = {2};
    cnn c;
    nnla_net *net = make_cnn(&r, &c);
    for (size_t batch = 1; batch <= 4; batch++) {
        double *x = rnd(&r, batch * 3 * 11 * 10, 1.0), *y = malloc(batch * 5 * sizeof *y);
        double *e = malloc(batch * 5 * sizeof *e);
        run(net, batch, x, y);
        cnn_by_hand(&c, batch, x, e);
        assert_vec_close(y, e, batch * 5, 4 * EPS, 4 * EPS);
        for (size_t i = 0; i < batch; i++) {
            double s = 0;
            for (size_t j = 0; j < 5; j++) s += y[i * 5 + j];
            assert_true(fabs(s - 1.0) <= 8 * EPS);
        }
        free(x);
        free(y);
        free(e);
    }
    nnla_net_free(net);
    free_cnn(&c);
}

/*
 * Flatten between a convolution and a dense layer (no data moved), an average pool, an
 * activation as the first layer and as the last, and a row-wise activation over a whole
 * (C, H, W) sample.
 */
static void test_flatten_and_act_layers(void **state)
{
    (void)state;
    nnla_test_rng r = {3};
    const size_t batch = 3, C = 2, H = 6, W = 5;
    nnla_conv2d_desc cd = nnla_conv2d_desc_make(2, 3, 2, 2);
    cd.stride_h = cd.stride_w = 1;
    nnla_pool2d_desc pd = {NNLA_POOL_AVG, 2, 2, 1, 1, 1, 1, 1, 1, 0, 1};
    double *wc = rnd(&r, 3 * 2 * 4, 0.5), *wd = rnd(&r, 4 * 3 * 6 * 5, 0.3), *bd = rnd(&r, 4, 0.1);
    nnla_net *net = NULL;
    assert_status(nnla_net_create(C, H, W, &net), NNLA_OK);
    assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_TANH)), NNLA_OK);
    assert_status(nnla_net_add_conv2d(net, &cd, wc, NULL, nnla_act_default(NNLA_ACT_IDENTITY)), NNLA_OK);
    assert_status(nnla_net_add_pool2d(net, &pd), NNLA_OK); /* (3, 5, 4) -> (3, 6, 5) with padding 1 */
    assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_LOG_SOFTMAX)), NNLA_OK);
    assert_status(nnla_net_add_flatten(net), NNLA_OK);
    size_t s[3];
    assert_status(nnla_net_output_shape(net, s), NNLA_OK);
    assert_true(s[0] == 3 * 6 * 5 && s[1] == 1 && s[2] == 1);
    assert_status(nnla_net_add_dense(net, 4, wd, bd, nnla_act_default(NNLA_ACT_SILU)), NNLA_OK);
    assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_SIGMOID)), NNLA_OK);

    double *x = rnd(&r, batch * C * H * W, 2.0), y[12], e[12];
    double *t0 = malloc(batch * C * H * W * sizeof *t0), *t1 = malloc(batch * 3 * 5 * 4 * sizeof *t1);
    double *t2 = malloc(batch * 90 * sizeof *t2), *t3 = malloc(batch * 90 * sizeof *t3), t4[12];
    run(net, batch, x, y);
    size_t wb;
    assert_status(nnla_conv2d_workspace_size(&cd, batch, H, W, &wb), NNLA_OK);
    void *cw = malloc(wb + 1);
    size_t n0 = C * H * W;
    assert_status(nnla_act_forward(nnla_act_default(NNLA_ACT_TANH), nnla_cmat_view(x, batch, n0, n0),
                                   nnla_mat_view(t0, batch, n0, n0)),
                  NNLA_OK);
    assert_status(
        nnla_conv2d_forward(&cd, batch, H, W, t0, wc, NULL, nnla_act_default(NNLA_ACT_IDENTITY), t1, cw, wb),
        NNLA_OK);
    assert_status(nnla_pool2d_forward(&pd, batch, 3, 5, 4, t1, t2), NNLA_OK);
    /* log-softmax over each sample's 90 values (the whole flattened sample) */
    assert_status(nnla_act_forward(nnla_act_default(NNLA_ACT_LOG_SOFTMAX), nnla_cmat_view(t2, batch, 90, 90),
                                   nnla_mat_view(t3, batch, 90, 90)),
                  NNLA_OK);
    assert_status(nnla_dense_forward(nnla_cmat_view(t3, batch, 90, 90), nnla_cmat_view(wd, 4, 90, 90), bd,
                                     nnla_act_default(NNLA_ACT_SILU), nnla_mat_view(t4, batch, 4, 4)),
                  NNLA_OK);
    assert_status(nnla_act_forward(nnla_act_default(NNLA_ACT_SIGMOID), nnla_cmat_view(t4, batch, 4, 4),
                                   nnla_mat_view(e, batch, 4, 4)),
                  NNLA_OK);
    assert_vec_close(y, e, batch * 4, 4 * EPS, 4 * EPS);
    nnla_net_free(net);

    /* a network of flatten layers only copies its input; an act-only network applies it */
    double yf[3 * 60];
    assert_status(nnla_net_create(C, H, W, &net), NNLA_OK);
    assert_status(nnla_net_add_flatten(net), NNLA_OK);
    assert_status(nnla_net_add_flatten(net), NNLA_OK);
    run(net, batch, x, yf);
    assert_memory_equal(yf, x, sizeof yf);
    assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK);
    run(net, batch, x, yf);
    for (size_t i = 0; i < batch * n0; i++) assert_true(yf[i] == (x[i] > 0 ? x[i] : 0.0));
    nnla_net_free(net);
    free(x);
    free(t0);
    free(t1);
    free(t2);
    free(t3);
    free(cw);
    free(wc);
    free(wd);
    free(bd);
}

/* ------------------------------------------------------------------ errors */

static void test_forward_errors(void **state)
{
    (void)state;
    nnla_test_rng r = {4};
    mlp m;
    nnla_net *net = make_mlp(&r, &m);
    const size_t batch = 4;
    double *x = rnd(&r, batch * 24, 1.0), y[20], y0[20];
    for (int i = 0; i < 20; i++) y0[i] = y[i] = -1.0 - i;
    size_t bytes, b1;
    unsigned char *w = ws_alloc(net, batch, &bytes);
    assert_status(nnla_net_workspace_size(net, 1, &b1), NNLA_OK);
    assert_true(b1 <= bytes);
    assert_status(nnla_net_forward(net, batch, x, y, w, bytes - 1), NNLA_EWORKSPACE);
    assert_status(nnla_net_forward(net, batch, x, y, w, 0), NNLA_EWORKSPACE);
    assert_status(nnla_net_forward(net, batch, x, y, NULL, bytes), NNLA_ENULL);
    assert_status(nnla_net_forward(NULL, batch, x, y, w, bytes), NNLA_ENULL);
    assert_status(nnla_net_forward(net, batch, NULL, y, w, bytes), NNLA_ENULL);
    assert_status(nnla_net_forward(net, batch, x, NULL, w, bytes), NNLA_ENULL);
    assert_status(nnla_net_forward(net, 0, x, y, w, bytes), NNLA_EDIM);
    assert_status(nnla_net_forward(net, SIZE_MAX / 8, x, y, w, bytes), NNLA_EOVERFLOW);
    assert_memory_equal(y, y0, sizeof y);
    /* y overlapping x or the workspace */
    double *xy = rnd(&r, batch * 24 + 20, 1.0), *keep = malloc((batch * 24 + 20) * sizeof *keep);
    memcpy(keep, xy, (batch * 24 + 20) * sizeof *keep);
    assert_status(nnla_net_forward(net, batch, xy, xy + 10, w, bytes), NNLA_EALIAS);
    assert_memory_equal(xy, keep, (batch * 24 + 20) * sizeof *keep);
    assert_status(nnla_net_forward(net, batch, x, (double *)(void *)(w + 64), w, bytes), NNLA_EALIAS);
    assert_status(nnla_net_forward(net, batch, (const double *)(void *)(w + 64), y, w, bytes),
                  NNLA_EALIAS); /* x inside the workspace */
    assert_memory_equal(y, y0, sizeof y);
    /* exactly the reported size works, at any alignment of the workspace */
    double ya[20], yb[20];
    assert_status(nnla_net_forward(net, batch, x, ya, w, bytes), NNLA_OK);
    unsigned char *w2 = malloc(bytes + 3);
    assert_status(nnla_net_forward(net, batch, x, yb, w2 + 3, bytes), NNLA_OK);
    assert_memory_equal(ya, yb, sizeof ya);
    free(w2);
    /* workspace queries */
    size_t q;
    assert_status(nnla_net_workspace_size(NULL, 1, &q), NNLA_ENULL);
    assert_status(nnla_net_workspace_size(net, 1, NULL), NNLA_ENULL);
    assert_status(nnla_net_workspace_size(net, 0, &q), NNLA_EDIM);
    assert_status(nnla_net_workspace_size(net, SIZE_MAX / 2, &q), NNLA_EOVERFLOW);
    nnla_net *empty = NULL;
    assert_status(nnla_net_create(1, 2, 3, &empty), NNLA_OK);
    assert_status(nnla_net_workspace_size(empty, 1, &q), NNLA_EDIM);
    assert_status(nnla_net_forward(empty, 1, x, y, w, bytes), NNLA_EDIM);
    assert_memory_equal(y, y0, sizeof y);
    size_t s[3] = {9, 9, 9};
    assert_status(nnla_net_output_shape(empty, s), NNLA_OK);
    assert_true(s[0] == 1 && s[1] == 2 && s[2] == 3);
    assert_status(nnla_net_output_shape(NULL, s), NNLA_ENULL);
    assert_status(nnla_net_input_shape(empty, NULL), NNLA_ENULL);
    assert_status(nnla_net_layer_kind(empty, 0, &(nnla_layer_kind){NNLA_LAYER_ACT}), NNLA_EINVAL);
    assert_status(nnla_net_layer_kind(NULL, 0, &(nnla_layer_kind){NNLA_LAYER_ACT}), NNLA_ENULL);
    assert_int_equal(nnla_net_num_layers(NULL), 0);
    nnla_net_free(empty);
    nnla_net_free(NULL);
    /* create */
    nnla_net *n2 = (nnla_net *)(void *)&q;
    assert_status(nnla_net_create(0, 1, 1, &n2), NNLA_EDIM);
    assert_status(nnla_net_create(1, 0, 1, &n2), NNLA_EDIM);
    assert_status(nnla_net_create(1, 1, 0, &n2), NNLA_EDIM);
    assert_status(nnla_net_create(SIZE_MAX / 2, 4, 1, &n2), NNLA_EOVERFLOW);
    assert_status(nnla_net_create(1, 1, 1, NULL), NNLA_ENULL);
    assert_true(n2 == (nnla_net *)(void *)&q);
    free(w);
    free(x);
    free(xy);
    free(keep);
    nnla_net_free(net);
    free_mlp(&m);
}

/* Every failing add_* leaves the network as it was: same layers, same output, same results. */
static void test_add_errors_leave_net_unchanged(void **state)
{
    (void)state;
    nnla_test_rng r = {5};
    nnla_net *net = NULL;
    assert_status(nnla_net_create(2, 6, 6, &net), NNLA_OK);
    nnla_conv2d_desc cd = nnla_conv2d_desc_make(2, 3, 3, 3);
    double *wc = rnd(&r, 3 * 2 * 9, 0.5), *bc = rnd(&r, 3, 0.1);
    assert_status(nnla_net_add_conv2d(net, &cd, wc, bc, nnla_act_default(NNLA_ACT_RELU)),
                  NNLA_OK); /* (3,4,4) */
    const size_t batch = 2;
    double *x = rnd(&r, batch * 72, 1.0), y0[2 * 48], y1[2 * 48];
    run(net, batch, x, y0);

    double *wd = rnd(&r, 5 * 48, 0.2), *bd = rnd(&r, 5, 0.1);
    double *wbad = rnd(&r, 5 * 48, 0.2), bbad[5] = {0, 0, INFINITY, 0, 0};
    wbad[17] = NAN;
    nnla_act bad_act = {(nnla_act_kind)99, 0};
    nnla_conv2d_desc wrong_in = nnla_conv2d_desc_make(2, 3, 3, 3),
                     too_big = nnla_conv2d_desc_make(3, 3, 5, 5);
    nnla_conv2d_desc zero_stride = nnla_conv2d_desc_make(3, 3, 1, 1),
                     bad_groups = nnla_conv2d_desc_make(3, 4, 1, 1);
    zero_stride.stride_h = 0;
    bad_groups.groups = 2;
    nnla_pool2d_desc big_pool = {NNLA_POOL_MAX, 5, 5, 1, 1, 0, 0, 0, 0, 0, 1},
                     bad_pad = {NNLA_POOL_AVG, 2, 2, 1, 1, 2, 2, 2, 2, 0, 1};
    nnla_pool2d_desc bad_kind = {(nnla_pool_kind)7, 2, 2, 1, 1, 0, 0, 0, 0, 0, 1};
    const struct {
        nnla_status got, want;
    } cases[] = {
        {nnla_net_add_dense(net, 5, wbad, bd, nnla_act_default(NNLA_ACT_RELU)), NNLA_ENONFINITE},
        {nnla_net_add_dense(net, 5, wd, bbad, nnla_act_default(NNLA_ACT_RELU)), NNLA_ENONFINITE},
        {nnla_net_add_dense(net, 0, wd, bd, nnla_act_default(NNLA_ACT_RELU)), NNLA_EDIM},
        {nnla_net_add_dense(net, 5, NULL, bd, nnla_act_default(NNLA_ACT_RELU)), NNLA_ENULL},
        {nnla_net_add_dense(NULL, 5, wd, bd, nnla_act_default(NNLA_ACT_RELU)), NNLA_ENULL},
        {nnla_net_add_dense(net, 5, wd, bd, bad_act), NNLA_EINVAL},
        {nnla_net_add_dense(net, (size_t)1 << 31, wd, bd, nnla_act_default(NNLA_ACT_RELU)), NNLA_EOVERFLOW},
        {nnla_net_add_conv2d(net, &wrong_in, wc, bc, nnla_act_default(NNLA_ACT_RELU)), NNLA_ESHAPE},
        {nnla_net_add_conv2d(net, &too_big, wc, bc, nnla_act_default(NNLA_ACT_RELU)), NNLA_ESHAPE},
        {nnla_net_add_conv2d(net, &zero_stride, wc, bc, nnla_act_default(NNLA_ACT_RELU)), NNLA_EDIM},
        {nnla_net_add_conv2d(net, &bad_groups, wc, bc, nnla_act_default(NNLA_ACT_RELU)), NNLA_EDIM},
        {nnla_net_add_conv2d(net, NULL, wc, bc, nnla_act_default(NNLA_ACT_RELU)), NNLA_ENULL},
        {nnla_net_add_conv2d(net, &wrong_in, NULL, bc, nnla_act_default(NNLA_ACT_RELU)), NNLA_ENULL},
        {nnla_net_add_pool2d(net, &big_pool), NNLA_ESHAPE},
        {nnla_net_add_pool2d(net, &bad_pad), NNLA_EINVAL},
        {nnla_net_add_pool2d(net, &bad_kind), NNLA_EINVAL},
        {nnla_net_add_pool2d(net, NULL), NNLA_ENULL},
        {nnla_net_add_act(net, bad_act), NNLA_EINVAL},
        {nnla_net_add_act(net, (nnla_act){NNLA_ACT_SIGMOID, 0.0}), NNLA_EINVAL},
        {nnla_net_add_act(NULL, nnla_act_default(NNLA_ACT_RELU)), NNLA_ENULL},
        {nnla_net_add_flatten(NULL), NNLA_ENULL},
        {nnla_net_add_global_avgpool(NULL), NNLA_ENULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].got != cases[i].want) print_error("case %zu\n", i);
        assert_status(cases[i].got, cases[i].want);
        assert_int_equal(nnla_net_num_layers(net), 1);
    }
    size_t s[3];
    assert_status(nnla_net_output_shape(net, s), NNLA_OK);
    assert_true(s[0] == 3 && s[1] == 4 && s[2] == 4);
    run(net, batch, x, y1);
    assert_memory_equal(y0, y1, sizeof y0);
    /* and it still grows: a valid dense layer after the failures (the array reallocates past 8) */
    for (int i = 0; i < 10; i++)
        assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_IDENTITY)), NNLA_OK);
    assert_status(nnla_net_add_dense(net, 5, wd, bd, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK);
    assert_int_equal(nnla_net_num_layers(net), 12);
    double y2[10], e[10];
    run(net, batch, x, y2);
    assert_status(nnla_dense_forward(nnla_cmat_view(y0, batch, 48, 48), nnla_cmat_view(wd, 5, 48, 48), bd,
                                     nnla_act_default(NNLA_ACT_RELU), nnla_mat_view(e, batch, 5, 5)),
                  NNLA_OK);
    assert_vec_close(y2, e, 10, 0, 0);
    nnla_net_free(net);
    free(wc);
    free(bc);
    free(x);
    free(wd);
    free(bd);
    free(wbad);
}

/* ------------------------------------------------------------------ threads */

typedef struct thread_job {
    const nnla_net *net;
    size_t batch, ny;
    const double *x;
    const double *expect;
    int reps, ok;
} thread_job;

static void *thread_main(void *p)
{
    thread_job *j = p;
    size_t bytes;
    j->ok = 0;
    if (nnla_net_workspace_size(j->net, j->batch, &bytes) != NNLA_OK) return NULL;
    void *w = malloc(bytes);
    double *y = malloc(j->ny * sizeof *y);
    if (w == NULL || y == NULL) return NULL;
    int ok = 1;
    for (int r = 0; r < j->reps && ok; r++) {
        memset(y, 0, j->ny * sizeof *y);
        if (nnla_net_forward(j->net, j->batch, j->x, y, w, bytes) != NNLA_OK)
            ok = 0;
        else if (memcmp(y, j->expect, j->ny * sizeof *y) != 0)
            ok = 0;
    }
    j->ok = ok;
    free(w);
    free(y);
    return NULL;
}

static void run_threads(const nnla_net *net, size_t batch, const double *x)
{
    enum { T = 4 };
    size_t ny = batch * out_size(net);
    double *expect = malloc(ny * sizeof *expect);
    run(net, batch, x, expect);
    pthread_t th[T];
    thread_job jobs[T];
    for (int t = 0; t < T; t++) {
        jobs[t] = (thread_job){net, batch, ny, x, expect, 25, 0};
        assert_int_equal(pthread_create(&th[t], NULL, thread_main, &jobs[t]), 0);
    }
    for (int t = 0; t < T; t++) assert_int_equal(pthread_join(th[t], NULL), 0);
    for (int t = 0; t < T; t++) assert_true(jobs[t].ok);
    free(expect);
}

static void test_threads(void **state)
{
    (void)state;
    nnla_test_rng r = {6};
    mlp m;
    nnla_net *net = make_mlp(&r, &m);
    double *x = rnd(&r, 64 * 24, 1.0);
    run_threads(net, 64, x);
    run_threads(net, 1, x);
    nnla_net_free(net);
    free_mlp(&m);
    free(x);

    cnn c;
    net = make_cnn(&r, &c);
    x = rnd(&r, 8 * 3 * 11 * 10, 1.0);
    run_threads(net, 8, x);
    nnla_net_free(net);
    free_cnn(&c);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_composition),
        cmocka_unit_test(test_cnn_composition),
        cmocka_unit_test(test_flatten_and_act_layers),
        cmocka_unit_test(test_forward_errors),
        cmocka_unit_test(test_add_errors_leave_net_unchanged),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
