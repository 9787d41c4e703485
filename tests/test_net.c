/*
 * Networks: a forward pass equals its layers called one by one (an MLP, a small CNN, residual
 * blocks, BatchNorm), shape queries, checked shapes (the over-reads of old: a weight of the wrong
 * size is NNLA_ESHAPE), workspace and aliasing errors with untouched outputs, failed edits that
 * leave the network as it was (layers and parameter block compared), parameter access, editing
 * (insert, remove, replace by exact factorizations, clone, BatchNorm folding, activation fusion),
 * contexts that keep exactly what a layer-by-layer run computes, ranges, and four threads running
 * one network at once, bit for bit.
 */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS DBL_EPSILON

/* A contiguous rows x cols view. */
#define V(p, r, c) nnla_cmat_view((p), (r), (c), (c))

/* Descriptors with symmetric padding (the only place the tests spell the padding fields). */
static nnla_conv2d_desc conv_desc(size_t in, size_t out, size_t k, size_t pad)
{
    nnla_conv2d_desc d = nnla_conv2d_desc_make(in, out, k, k);
    d.pad_h = d.pad_w = pad;
    return d;
}

static nnla_pool2d_desc pool_desc(nnla_pool_kind kind, size_t k, size_t stride, size_t pad)
{
    nnla_pool2d_desc d;
    memset(&d, 0, sizeof d);
    d.kind = kind;
    d.kernel_h = d.kernel_w = k;
    d.stride_h = d.stride_w = stride;
    d.pad_h = d.pad_w = pad;
    return d;
}

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
    assert_status(nnla_net_add_dense(net, V(m->w1, 16, 24), m->b1, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK);
    assert_status(nnla_net_add_dense(net, V(m->w2, 9, 16), m->b2, nnla_act_default(NNLA_ACT_TANH)), NNLA_OK);
    assert_status(nnla_net_add_dense(net, V(m->w3, 5, 9), NULL, nnla_act_default(NNLA_ACT_IDENTITY)), NNLA_OK);
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
    c->c1 = conv_desc(3, 4, 3, 1);
    c->c2 = conv_desc(4, 6, 3, 0);
    c->p = pool_desc(NNLA_POOL_MAX, 2, 2, 0);
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
    assert_status(nnla_net_add_dense(net, V(c->w3, 5, 6), c->b3, nnla_act_default(NNLA_ACT_IDENTITY)), NNLA_OK);
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
    nnla_pool2d_desc pd = pool_desc(NNLA_POOL_AVG, 2, 1, 1);
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
    assert_status(nnla_net_add_dense(net, V(wd, 4, 90), bd, nnla_act_default(NNLA_ACT_SILU)), NNLA_OK);
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
    /* log-softmax over the 3 channels of each of the 6 x 5 pixels (dim=1), as torch.nn.LogSoftmax(1) */
    assert_status(nnla_act_forward_nchw(nnla_act_default(NNLA_ACT_LOG_SOFTMAX), batch, 3, 30, t2, t3), NNLA_OK);
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

/* ------------------------------------------------------------------ snapshots */

/* Everything observable about a network: layer kinds, specs' scalars, shapes and both blocks. */
typedef struct snap {
    size_t n, np, nb, in[3];
    nnla_layer_kind kinds[64];
    size_t shapes[64][6], srcs[64][2];
    double *params, *bufs;
} snap;

static void take_snap(nnla_net *net, snap *s)
{
    memset(s, 0, sizeof *s);
    s->n = nnla_net_num_layers(net);
    assert_true(s->n <= 64);
    assert_status(nnla_net_input_shape(net, s->in), NNLA_OK);
    for (size_t i = 0; i < s->n; i++) {
        nnla_layer_spec sp;
        assert_status(nnla_net_layer_kind(net, i, &s->kinds[i]), NNLA_OK);
        assert_status(nnla_net_layer_shape(net, i, s->shapes[i], s->shapes[i] + 3), NNLA_OK);
        assert_status(nnla_net_layer_spec(net, i, &sp), NNLA_OK);
        s->srcs[i][0] = sp.src;
        s->srcs[i][1] = sp.kind == NNLA_LAYER_ADD ? sp.src2 : 0;
    }
    double *p, *b;
    assert_status(nnla_net_params(net, &p, &s->np), NNLA_OK);
    assert_status(nnla_net_buffers(net, &b, &s->nb), NNLA_OK);
    s->params = malloc((s->np + 1) * sizeof *p);
    s->bufs = malloc((s->nb + 1) * sizeof *b);
    if (s->np) memcpy(s->params, p, s->np * sizeof *p);
    if (s->nb) memcpy(s->bufs, b, s->nb * sizeof *b);
}

static void assert_same_snap(nnla_net *net, const snap *a)
{
    snap b;
    take_snap(net, &b);
    assert_int_equal(a->n, b.n);
    assert_int_equal(a->np, b.np);
    assert_int_equal(a->nb, b.nb);
    assert_memory_equal(a->kinds, b.kinds, sizeof a->kinds);
    assert_memory_equal(a->shapes, b.shapes, sizeof a->shapes);
    assert_memory_equal(a->srcs, b.srcs, sizeof a->srcs);
    if (a->np) assert_memory_equal(a->params, b.params, a->np * sizeof *a->params);
    if (a->nb) assert_memory_equal(a->bufs, b.bufs, a->nb * sizeof *a->bufs);
    free(b.params);
    free(b.bufs);
}

static void free_snap(snap *s)
{
    free(s->params);
    free(s->bufs);
}

/* Every failing edit leaves the network as it was: same layers, sources, shapes, parameter and
 * buffer blocks, and the same results. */
static void test_add_errors_leave_net_unchanged(void **state)
{
    (void)state;
    nnla_test_rng r = {5};
    nnla_net *net = NULL;
    assert_status(nnla_net_create(2, 6, 6, &net), NNLA_OK);
    nnla_conv2d_desc cd = conv_desc(2, 3, 3, 0);
    double *wc = rnd(&r, 3 * 2 * 9, 0.5), *bc = rnd(&r, 3, 0.1);
    assert_status(nnla_net_add_conv2d(net, &cd, wc, bc, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK); /* (3,4,4) */
    double g[3] = {1, 2, 3}, mu[3] = {0.1, 0.2, 0.3}, var[3] = {1, 2, 0.5};
    assert_status(nnla_net_add_batchnorm(net, 3, g, NULL, mu, var, 1e-5), NNLA_OK);
    const size_t batch = 2;
    double *x = rnd(&r, batch * 72, 1.0), y0[2 * 48], y1[2 * 48];
    run(net, batch, x, y0);
    snap before;
    take_snap(net, &before);

    double *wd = rnd(&r, 5 * 48, 0.2), *bd = rnd(&r, 5, 0.1);
    double *wbad = rnd(&r, 5 * 48, 0.2), bbad[5] = {0, 0, INFINITY, 0, 0};
    wbad[17] = NAN;
    nnla_act bad_act = {(nnla_act_kind)99, 0};
    nnla_conv2d_desc wrong_in = conv_desc(2, 3, 3, 0), too_big = conv_desc(3, 3, 5, 0);
    nnla_conv2d_desc zero_stride = conv_desc(3, 3, 1, 0), bad_groups = conv_desc(3, 4, 1, 0);
    zero_stride.stride_h = 0;
    bad_groups.groups = 2;
    nnla_pool2d_desc big_pool = pool_desc(NNLA_POOL_MAX, 5, 1, 0), bad_pad = pool_desc(NNLA_POOL_AVG, 2, 1, 2);
    nnla_pool2d_desc bad_kind = pool_desc((nnla_pool_kind)7, 2, 1, 0);
    double neg_var[3] = {1, -1, 1}, nan_g[3] = {1, NAN, 1};
    nnla_layer_spec bn_eps = nnla_layer_batchnorm(3, NULL, NULL, NULL, NULL),
                    bn_mom = nnla_layer_batchnorm(3, NULL, NULL, NULL, NULL);
    bn_eps.eps = 0.0;
    bn_mom.momentum = 1.5;
    nnla_layer_spec add_self = nnla_layer_add(NNLA_NET_PREV, 2), add_input = nnla_layer_add(NNLA_NET_PREV, NNLA_NET_INPUT);
    nnla_layer_spec bad_kind_spec = nnla_layer_flatten();
    bad_kind_spec.kind = (nnla_layer_kind)42;
    nnla_layer_spec two[2] = {nnla_layer_dense(V(wd, 5, 48), NULL, nnla_act_default(NNLA_ACT_RELU)),
                              nnla_layer_dense(V(wd, 5, 48), NULL, nnla_act_default(NNLA_ACT_RELU))};
    nnla_layer_spec conv_as_dense = nnla_layer_dense(V(wd, 3, 48), NULL, nnla_act_default(NNLA_ACT_RELU));
    const struct {
        nnla_status got, want;
    } cases[] = {
        /* dense: the weight's in_features against the 48 features of the sample */
        {nnla_net_add_dense(net, V(wd, 5, 47), bd, nnla_act_default(NNLA_ACT_RELU)), NNLA_ESHAPE},
        {nnla_net_add_dense(net, V(wd, 1, 240), bd, nnla_act_default(NNLA_ACT_RELU)), NNLA_ESHAPE},
        {nnla_net_add_dense(net, nnla_cmat_view(wd, 5, 48, 40), bd, nnla_act_default(NNLA_ACT_RELU)), NNLA_ELD},
        {nnla_net_add_dense(net, V(wbad, 5, 48), bd, nnla_act_default(NNLA_ACT_RELU)), NNLA_ENONFINITE},
        {nnla_net_add_dense(net, V(wd, 5, 48), bbad, nnla_act_default(NNLA_ACT_RELU)), NNLA_ENONFINITE},
        {nnla_net_add_dense(net, V(wd, 0, 48), bd, nnla_act_default(NNLA_ACT_RELU)), NNLA_EDIM},
        {nnla_net_add_dense(net, V(NULL, 5, 48), bd, nnla_act_default(NNLA_ACT_RELU)), NNLA_ENULL},
        {nnla_net_add_dense(NULL, V(wd, 5, 48), bd, nnla_act_default(NNLA_ACT_RELU)), NNLA_ENULL},
        {nnla_net_add_dense(net, V(wd, 5, 48), bd, bad_act), NNLA_EINVAL},
        {nnla_net_add_dense(net, nnla_cmat_view(wd, (size_t)1 << 31, 48, 48), bd, nnla_act_default(NNLA_ACT_RELU)),
         NNLA_EOVERFLOW},
        /* conv */
        {nnla_net_add_conv2d(net, &wrong_in, wc, bc, nnla_act_default(NNLA_ACT_RELU)), NNLA_ESHAPE},
        {nnla_net_add_conv2d(net, &too_big, wc, bc, nnla_act_default(NNLA_ACT_RELU)), NNLA_ESHAPE},
        {nnla_net_add_conv2d(net, &zero_stride, wc, bc, nnla_act_default(NNLA_ACT_RELU)), NNLA_EDIM},
        {nnla_net_add_conv2d(net, &bad_groups, wc, bc, nnla_act_default(NNLA_ACT_RELU)), NNLA_EDIM},
        {nnla_net_add_conv2d(net, NULL, wc, bc, nnla_act_default(NNLA_ACT_RELU)), NNLA_ENULL},
        {nnla_net_add_conv2d(net, &wrong_in, NULL, bc, nnla_act_default(NNLA_ACT_RELU)), NNLA_ENULL},
        /* pooling */
        {nnla_net_add_pool2d(net, &big_pool), NNLA_ESHAPE},
        {nnla_net_add_pool2d(net, &bad_pad), NNLA_EINVAL},
        {nnla_net_add_pool2d(net, &bad_kind), NNLA_EINVAL},
        {nnla_net_add_pool2d(net, NULL), NNLA_ENULL},
        /* activation */
        {nnla_net_add_act(net, bad_act), NNLA_EINVAL},
        {nnla_net_add_act(net, (nnla_act){NNLA_ACT_SIGMOID, 0.0}), NNLA_EINVAL},
        {nnla_net_add_act(NULL, nnla_act_default(NNLA_ACT_RELU)), NNLA_ENULL},
        {nnla_net_add_flatten(NULL), NNLA_ENULL},
        {nnla_net_add_global_avgpool(NULL), NNLA_ENULL},
        /* batchnorm */
        {nnla_net_add_batchnorm(net, 4, NULL, NULL, NULL, NULL, 1e-5), NNLA_ESHAPE},
        {nnla_net_add_batchnorm(net, 0, NULL, NULL, NULL, NULL, 1e-5), NNLA_EDIM},
        {nnla_net_add_batchnorm(net, 3, NULL, NULL, NULL, neg_var, 1e-5), NNLA_EINVAL},
        {nnla_net_add_batchnorm(net, 3, nan_g, NULL, NULL, NULL, 1e-5), NNLA_ENONFINITE},
        {nnla_net_add_batchnorm(net, 3, NULL, NULL, NULL, NULL, NAN), NNLA_EINVAL},
        {nnla_net_append(net, &bn_eps), NNLA_EINVAL},
        {nnla_net_append(net, &bn_mom), NNLA_EINVAL},
        /* dropout, add, sources, kinds */
        {nnla_net_add_dropout(net, 1.0), NNLA_EINVAL},
        {nnla_net_add_dropout(net, -0.1), NNLA_EINVAL},
        {nnla_net_append(net, &add_self), NNLA_EINVAL},  /* 2 is the new layer itself */
        {nnla_net_append(net, &add_input), NNLA_ESHAPE}, /* (3,4,4) + (2,6,6) */
        {nnla_net_add_residual(net, 7), NNLA_EINVAL},
        {nnla_net_append(net, &bad_kind_spec), NNLA_EINVAL},
        {nnla_net_append(net, NULL), NNLA_ENULL},
        /* edits */
        {nnla_net_insert(net, 3, &two[0]), NNLA_EINVAL},
        {nnla_net_insert(net, 0, &two[0]), NNLA_ESHAPE},    /* a dense layer of 48 inputs before the conv */
        {nnla_net_remove(net, 0), NNLA_ESHAPE},             /* the BatchNorm would read (2,6,6) */
        {nnla_net_remove(net, 2), NNLA_EINVAL},
        {nnla_net_replace(net, 0, &conv_as_dense, 1), NNLA_ESHAPE},
        {nnla_net_replace(net, 1, two, 2), NNLA_ESHAPE},   /* the second dense gets 5 features, not 48 */
        {nnla_net_replace(net, 1, two, 0), NNLA_EINVAL},
        {nnla_net_replace(net, 5, two, 1), NNLA_EINVAL},
        {nnla_net_replace(net, 1, NULL, 1), NNLA_ENULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].got != cases[i].want) print_error("case %zu\n", i);
        assert_status(cases[i].got, cases[i].want);
        assert_same_snap(net, &before);
    }
    run(net, batch, x, y1);
    assert_memory_equal(y0, y1, sizeof y0);
    /* and it still grows after the failures: many layers, then a valid dense layer */
    for (int i = 0; i < 10; i++) assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_IDENTITY)), NNLA_OK);
    assert_status(nnla_net_add_dense(net, V(wd, 5, 48), bd, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK);
    assert_int_equal(nnla_net_num_layers(net), 13);
    double y2[10], e[10];
    run(net, batch, x, y2);
    assert_status(nnla_dense_forward(nnla_cmat_view(y0, batch, 48, 48), V(wd, 5, 48), bd,
                                     nnla_act_default(NNLA_ACT_RELU), nnla_mat_view(e, batch, 5, 5)),
                  NNLA_OK);
    assert_vec_close(y2, e, 10, 0, 0);
    free_snap(&before);
    nnla_net_free(net);
    free(wc), free(bc), free(x), free(wd), free(bd), free(wbad);
}

/*
 * The two slips a new user made, now caught: forgetting a pooling layer (2048 features where the
 * exported weight expects 512) and forgetting padding=1 on a convolution (the next dense layer's
 * weight no longer fits). Both were an over-read or a silently wrong model; both are NNLA_ESHAPE.
 */
static void test_shape_slips(void **state)
{
    (void)state;
    nnla_test_rng r = {15};
    double *w = rnd(&r, 10 * 512, 0.1), *wc = rnd(&r, 8 * 2 * 9, 0.1);
    nnla_net *net = NULL;
    /* (2, 16, 16): conv 2->8 3x3 pad 1, [pool 2 forgotten], flatten: 2048 features, not 512 */
    assert_status(nnla_net_create(2, 16, 16, &net), NNLA_OK);
    nnla_conv2d_desc d = conv_desc(2, 8, 3, 1);
    assert_status(nnla_net_add_conv2d(net, &d, wc, NULL, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK);
    assert_status(nnla_net_add_flatten(net), NNLA_OK);
    assert_status(nnla_net_add_dense(net, V(w, 10, 512), NULL, nnla_act_default(NNLA_ACT_IDENTITY)), NNLA_ESHAPE);
    nnla_net_free(net);
    /* (2, 8, 8): conv 2->8 3x3 [padding=1 forgotten] gives (8, 6, 6) = 288 features, not 512 */
    assert_status(nnla_net_create(2, 8, 8, &net), NNLA_OK);
    d = conv_desc(2, 8, 3, 0);
    assert_status(nnla_net_add_conv2d(net, &d, wc, NULL, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK);
    assert_status(nnla_net_add_dense(net, V(w, 10, 512), NULL, nnla_act_default(NNLA_ACT_IDENTITY)), NNLA_ESHAPE);
    assert_int_equal(nnla_net_num_layers(net), 1);
    nnla_net_free(net);
    free(w), free(wc);
}

/* ------------------------------------------------------------------ parameters */

static void test_params(void **state)
{
    (void)state;
    nnla_test_rng r = {16};
    cnn c;
    nnla_net *net = make_cnn(&r, &c);
    double g[6] = {1, 2, 3, 4, 5, 6}, be[6] = {0, 1, 0, 1, 0, 1}, mu[6] = {0}, var[6] = {1, 1, 1, 2, 2, 2};
    assert_status(nnla_net_insert(net, 3, &(nnla_layer_spec){0}), NNLA_ENULL); /* kind 0 = dense, no weight */
    nnla_layer_spec bn = nnla_layer_batchnorm(6, g, be, mu, var);
    assert_status(nnla_net_insert(net, 3, &bn), NNLA_OK); /* after the second conv */
    /* the parameter block is the concatenation of the layers' weight and bias, in order */
    double *block;
    size_t count, expect_off = 0, nb;
    assert_status(nnla_net_params(net, &block, &count), NNLA_OK);
    assert_int_equal(count, nnla_net_num_params(net));
    assert_true(((uintptr_t)block % 64) == 0);
    const size_t want_sizes[][2] = {{4 * 3 * 9, 4}, {0, 0}, {6 * 4 * 9, 6}, {6, 6}, {0, 0}, {0, 0}, {5 * 6, 5}, {0, 0}};
    for (size_t i = 0; i < nnla_net_num_layers(net); i++) {
        for (int k = 0; k < 2; k++) {
            nnla_tensor t;
            nnla_status st = nnla_net_param(net, i, (nnla_param_kind)k, &t);
            if (want_sizes[i][k] == 0) {
                assert_status(st, NNLA_EINVAL);
                continue;
            }
            assert_status(st, NNLA_OK);
            assert_int_equal(t.size, want_sizes[i][k]);
            assert_int_equal(t.offset, expect_off);
            assert_true(t.data == block + expect_off);
            assert_int_equal(t.is_buffer, 0);
            expect_off += t.size;
        }
    }
    assert_int_equal(expect_off, count);
    /* shapes in PyTorch's layout */
    nnla_tensor t;
    assert_status(nnla_net_param(net, 2, NNLA_PARAM_WEIGHT, &t), NNLA_OK);
    assert_true(t.ndim == 4 && t.shape[0] == 6 && t.shape[1] == 4 && t.shape[2] == 3 && t.shape[3] == 3);
    assert_memory_equal(t.data, c.w2, 6 * 4 * 9 * sizeof(double));
    assert_status(nnla_net_param(net, 6, NNLA_PARAM_WEIGHT, &t), NNLA_OK);
    assert_true(t.ndim == 2 && t.shape[0] == 5 && t.shape[1] == 6);
    /* BatchNorm: gamma and beta are parameters, running statistics buffers */
    assert_status(nnla_net_param(net, 3, NNLA_PARAM_WEIGHT, &t), NNLA_OK);
    assert_memory_equal(t.data, g, sizeof g);
    assert_status(nnla_net_param(net, 3, NNLA_PARAM_RUNNING_VAR, &t), NNLA_OK);
    assert_true(t.is_buffer && t.offset == 6 && t.size == 6);
    assert_memory_equal(t.data, var, sizeof var);
    assert_status(nnla_net_buffers(net, &block, &nb), NNLA_OK);
    assert_int_equal(nb, 12);
    assert_memory_equal(block + 6, var, sizeof var);
    assert_status(nnla_net_param(net, 0, NNLA_PARAM_RUNNING_MEAN, &t), NNLA_EINVAL);
    assert_status(nnla_net_param(net, 0, (nnla_param_kind)4, &t), NNLA_EINVAL);
    assert_status(nnla_net_param(net, 99, NNLA_PARAM_WEIGHT, &t), NNLA_EINVAL);
    /* write, read back, and the forward pass sees it */
    double *x = rnd(&r, 2 * 3 * 11 * 10, 1.0), y0[10], y1[10], w3[30], got[30];
    run(net, 2, x, y0);
    for (int i = 0; i < 30; i++) w3[i] = 0.01 * i;
    assert_status(nnla_net_set_param(net, 6, NNLA_PARAM_WEIGHT, w3, 30), NNLA_OK);
    assert_status(nnla_net_get_param(net, 6, NNLA_PARAM_WEIGHT, got, 30), NNLA_OK);
    assert_memory_equal(got, w3, sizeof w3);
    run(net, 2, x, y1);
    assert_true(memcmp(y0, y1, sizeof y0) != 0);
    /* checked writes: wrong count, non-finite, negative variance; nothing changes */
    snap before;
    take_snap(net, &before);
    w3[3] = INFINITY;
    assert_status(nnla_net_set_param(net, 6, NNLA_PARAM_WEIGHT, w3, 30), NNLA_ENONFINITE);
    assert_status(nnla_net_set_param(net, 6, NNLA_PARAM_WEIGHT, w3, 29), NNLA_ESHAPE);
    double nv[6] = {1, 1, 1, 1, -1e-9, 1};
    assert_status(nnla_net_set_param(net, 3, NNLA_PARAM_RUNNING_VAR, nv, 6), NNLA_EINVAL);
    assert_status(nnla_net_set_param(net, 1, NNLA_PARAM_WEIGHT, nv, 6), NNLA_EINVAL); /* pooling: none */
    assert_status(nnla_net_set_param(NULL, 6, NNLA_PARAM_WEIGHT, w3, 30), NNLA_ENULL);
    assert_status(nnla_net_get_param(net, 6, NNLA_PARAM_WEIGHT, got, 31), NNLA_ESHAPE);
    assert_same_snap(net, &before);
    free_snap(&before);
    free(x);
    nnla_net_free(net);
    free_cnn(&c);
}

/* ------------------------------------------------------------------ editing */

/* y = x W^T through the network, for a dense-only comparison. */
static void net_out(nnla_net *net, size_t batch, const double *x, double *y) { run(net, batch, x, y); }

/* Replacing a dense layer by W = (U S) V^T from a full SVD gives the same outputs within n eps;
 * a conv by a conv (R) and a 1x1 conv (L) from the SVD of its reshaped kernel likewise. */
static void test_replace_by_factorization(void **state)
{
    (void)state;
    nnla_test_rng r = {17};
    /* dense: 12 -> 7 inside a small MLP */
    const size_t in = 12, out = 7, k = 7;
    double *w1 = rnd(&r, out * in, 0.5), *b1 = rnd(&r, out, 0.1), *w2 = rnd(&r, 3 * out, 0.5);
    nnla_net *net = NULL;
    assert_status(nnla_net_create(in, 1, 1, &net), NNLA_OK);
    assert_status(nnla_net_add_dense(net, V(w1, out, in), b1, nnla_act_default(NNLA_ACT_TANH)), NNLA_OK);
    assert_status(nnla_net_add_dense(net, V(w2, 3, out), NULL, nnla_act_default(NNLA_ACT_IDENTITY)), NNLA_OK);
    double *x = rnd(&r, 5 * in, 1.0), y0[15], y1[15];
    net_out(net, 5, x, y0);
    double s[7], u[7 * 7], vt[7 * 12], us[7 * 7];
    assert_status(nnla_svd_alloc(NNLA_SVD_THIN, V(w1, out, in), s, nnla_mat_view(u, out, k, k),
                                 nnla_mat_view(vt, k, in, in), NULL),
                  NNLA_OK);
    for (size_t i = 0; i < out; i++)
        for (size_t j = 0; j < k; j++) us[i * k + j] = u[i * k + j] * s[j];
    nnla_layer_spec two[2] = {nnla_layer_dense(V(vt, k, in), NULL, nnla_act_default(NNLA_ACT_IDENTITY)),
                              nnla_layer_dense(V(us, out, k), b1, nnla_act_default(NNLA_ACT_TANH))};
    assert_status(nnla_net_replace(net, 0, two, 2), NNLA_OK);
    assert_int_equal(nnla_net_num_layers(net), 3);
    net_out(net, 5, x, y1);
    assert_vec_close(y1, y0, 15, 0, 16 * in * EPS);
    nnla_net_free(net);

    /* conv 3 -> 5, 3x3 pad 1 in (3, 7, 6), then a second conv reading it */
    nnla_conv2d_desc d = conv_desc(3, 5, 3, 1), d2 = conv_desc(5, 2, 1, 0);
    const size_t K = 27, kk = 5;
    double *wc = rnd(&r, 5 * K, 0.4), *bc = rnd(&r, 5, 0.1), *wc2 = rnd(&r, 2 * 5, 0.5);
    assert_status(nnla_net_create(3, 7, 6, &net), NNLA_OK);
    assert_status(nnla_net_add_conv2d(net, &d, wc, bc, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK);
    assert_status(nnla_net_add_conv2d(net, &d2, wc2, NULL, nnla_act_default(NNLA_ACT_IDENTITY)), NNLA_OK);
    double *xc = rnd(&r, 2 * 3 * 7 * 6, 1.0), yc0[2 * 2 * 42], yc1[2 * 2 * 42];
    net_out(net, 2, xc, yc0);
    double sc[5], uc[5 * 5], vtc[5 * 27], lc[5 * 5];
    assert_status(nnla_svd_alloc(NNLA_SVD_THIN, V(wc, 5, K), sc, nnla_mat_view(uc, 5, kk, kk),
                                 nnla_mat_view(vtc, kk, K, K), NULL),
                  NNLA_OK);
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < kk; j++) lc[i * kk + j] = uc[i * kk + j] * sc[j];
    nnla_conv2d_desc dr = d, dl = conv_desc(kk, 5, 1, 0);
    dr.out_channels = kk;
    nnla_layer_spec cc[2] = {nnla_layer_conv2d(&dr, vtc, NULL, nnla_act_default(NNLA_ACT_IDENTITY)),
                             nnla_layer_conv2d(&dl, lc, bc, nnla_act_default(NNLA_ACT_RELU))};
    assert_status(nnla_net_replace(net, 0, cc, 2), NNLA_OK);
    nnla_layer_spec sp;
    assert_status(nnla_net_layer_spec(net, 2, &sp), NNLA_OK);
    assert_int_equal(sp.src, 1); /* the reader of the old layer 0 reads the last new layer */
    net_out(net, 2, xc, yc1);
    assert_vec_close(yc1, yc0, 2 * 2 * 42, 0, 32 * K * EPS);
    nnla_net_free(net);
    free(w1), free(b1), free(w2), free(x), free(wc), free(bc), free(wc2), free(xc);
}

/* insert and remove keep the sources right; clone is independent of its source. */
static void test_insert_remove_clone(void **state)
{
    (void)state;
    nnla_test_rng r = {18};
    mlp m;
    nnla_net *net = make_mlp(&r, &m); /* dense relu, dense tanh, dense, softmax */
    double *x = rnd(&r, 4 * 24, 1.0), y0[20], y1[20];
    run(net, 4, x, y0);
    nnla_net *c = NULL;
    assert_status(nnla_net_clone(net, &c), NNLA_OK);
    assert_status(nnla_net_clone(NULL, &c), NNLA_ENULL);
    /* insert an identity activation before layer 1: results unchanged, 5 layers, sources right */
    nnla_layer_spec ident = nnla_layer_act(nnla_act_default(NNLA_ACT_IDENTITY));
    assert_status(nnla_net_insert(net, 1, &ident), NNLA_OK);
    assert_int_equal(nnla_net_num_layers(net), 5);
    nnla_layer_spec sp;
    assert_status(nnla_net_layer_spec(net, 1, &sp), NNLA_OK);
    assert_true(sp.kind == NNLA_LAYER_ACT && sp.src == 0);
    assert_status(nnla_net_layer_spec(net, 2, &sp), NNLA_OK);
    assert_true(sp.kind == NNLA_LAYER_DENSE && sp.src == 1);
    run(net, 4, x, y1);
    assert_memory_equal(y0, y1, sizeof y0);
    /* insert at 0 and at the end, then remove them again */
    assert_status(nnla_net_insert(net, 0, &ident), NNLA_OK);
    assert_status(nnla_net_insert(net, nnla_net_num_layers(net), &ident), NNLA_OK);
    assert_int_equal(nnla_net_num_layers(net), 7);
    assert_status(nnla_net_layer_spec(net, 1, &sp), NNLA_OK);
    assert_int_equal(sp.src, 0);
    run(net, 4, x, y1);
    assert_memory_equal(y0, y1, sizeof y0);
    assert_status(nnla_net_remove(net, 6), NNLA_OK);
    assert_status(nnla_net_remove(net, 0), NNLA_OK);
    assert_status(nnla_net_remove(net, 1), NNLA_OK);
    assert_status(nnla_net_layer_spec(net, 0, &sp), NNLA_OK);
    assert_int_equal(sp.src, NNLA_NET_INPUT);
    assert_status(nnla_net_layer_spec(net, 1, &sp), NNLA_OK);
    assert_int_equal(sp.src, 0);
    run(net, 4, x, y1);
    assert_memory_equal(y0, y1, sizeof y0);
    /* the clone: independent of later changes to the source */
    double *wp;
    size_t np;
    assert_status(nnla_net_params(net, &wp, &np), NNLA_OK);
    for (size_t i = 0; i < np; i++) wp[i] = 0.5;
    run(c, 4, x, y1);
    assert_memory_equal(y0, y1, sizeof y0);
    nnla_net_free(net);
    run(c, 4, x, y1);
    assert_memory_equal(y0, y1, sizeof y0);
    nnla_net_free(c);
    free(x);
    free_mlp(&m);
}

/* ------------------------------------------------------------------ residual blocks, BatchNorm */

/* A ResNet-style block against the module calls: conv-bn-relu-conv-bn, plus a 1x1 conv shortcut,
 * add, relu; then folding the BatchNorms and fusing the activations keeps the outputs. */
static void test_residual_and_batchnorm(void **state)
{
    (void)state;
    nnla_test_rng r = {19};
    const size_t C = 3, H = 6, W = 5, M = 4, batch = 3;
    nnla_conv2d_desc d1 = conv_desc(C, M, 3, 1), d2 = conv_desc(M, M, 3, 1), ds = conv_desc(C, M, 1, 0);
    double *w1 = rnd(&r, M * C * 9, 0.4), *w2 = rnd(&r, M * M * 9, 0.3), *ws = rnd(&r, M * C, 0.5);
    double g1[4], b1[4], m1[4], v1[4], g2[4], b2[4], m2[4], v2[4];
    nnla_test_fill(&r, g1, 4, 0.5, 1.5), nnla_test_fill(&r, b1, 4, -0.2, 0.2);
    nnla_test_fill(&r, m1, 4, -0.3, 0.3), nnla_test_fill(&r, v1, 4, 0.5, 2.0);
    nnla_test_fill(&r, g2, 4, 0.5, 1.5), nnla_test_fill(&r, b2, 4, -0.2, 0.2);
    nnla_test_fill(&r, m2, 4, -0.3, 0.3), nnla_test_fill(&r, v2, 4, 0.5, 2.0);
    nnla_act id = nnla_act_default(NNLA_ACT_IDENTITY), relu = nnla_act_default(NNLA_ACT_RELU);
    nnla_net *net = NULL;
    assert_status(nnla_net_create(C, H, W, &net), NNLA_OK);
    assert_status(nnla_net_add_conv2d(net, &d1, w1, NULL, id), NNLA_OK);                /* 0 */
    assert_status(nnla_net_add_batchnorm(net, M, g1, b1, m1, v1, 1e-5), NNLA_OK);       /* 1 */
    assert_status(nnla_net_add_act(net, relu), NNLA_OK);                                /* 2 */
    assert_status(nnla_net_add_conv2d(net, &d2, w2, NULL, id), NNLA_OK);                /* 3 */
    assert_status(nnla_net_add_batchnorm(net, M, g2, b2, m2, v2, 1e-5), NNLA_OK);       /* 4 */
    nnla_layer_spec sc = nnla_layer_conv2d(&ds, ws, NULL, id);
    sc.src = NNLA_NET_INPUT;
    assert_status(nnla_net_append(net, &sc), NNLA_OK);                                  /* 5 */
    assert_status(nnla_net_append(net, &(nnla_layer_spec){0}), NNLA_ENULL);             /* no weight */
    nnla_layer_spec add = nnla_layer_add(4, 5);
    assert_status(nnla_net_append(net, &add), NNLA_OK);                                 /* 6 */
    assert_status(nnla_net_add_act(net, relu), NNLA_OK);                                /* 7 */
    assert_status(nnla_net_add_dropout(net, 0.3), NNLA_OK);                             /* 8 */

    const size_t nx = batch * C * H * W, ny = batch * M * H * W;
    double *x = rnd(&r, nx, 1.0), *y = malloc(ny * sizeof *y), *e = malloc(ny * sizeof *e);
    double *a = malloc(ny * sizeof *a), *b = malloc(ny * sizeof *b), *s = malloc(ny * sizeof *s);
    run(net, batch, x, y);
    /* by hand with the module calls */
    size_t wb;
    assert_status(nnla_conv2d_workspace_size(&d2, batch, H, W, &wb), NNLA_OK);
    void *cw = malloc(wb + 64);
    assert_status(nnla_conv2d_forward(&d1, batch, H, W, x, w1, NULL, id, a, cw, wb + 64), NNLA_OK);
    for (size_t n = 0; n < batch; n++)
        for (size_t c = 0; c < M; c++)
            for (size_t q = 0; q < H * W; q++) {
                size_t i = (n * M + c) * H * W + q;
                double v = (a[i] - m1[c]) / sqrt(v1[c] + 1e-5) * g1[c] + b1[c];
                a[i] = v > 0 ? v : 0;
            }
    assert_status(nnla_conv2d_forward(&d2, batch, H, W, a, w2, NULL, id, b, cw, wb + 64), NNLA_OK);
    for (size_t n = 0; n < batch; n++)
        for (size_t c = 0; c < M; c++)
            for (size_t q = 0; q < H * W; q++) {
                size_t i = (n * M + c) * H * W + q;
                b[i] = (b[i] - m2[c]) / sqrt(v2[c] + 1e-5) * g2[c] + b2[c];
            }
    assert_status(nnla_conv2d_forward(&ds, batch, H, W, x, ws, NULL, id, s, cw, wb + 64), NNLA_OK);
    for (size_t i = 0; i < ny; i++) {
        double v = b[i] + s[i];
        e[i] = v > 0 ? v : 0;
    }
    assert_vec_close(y, e, ny, 1e-13, 1e-13);
    /* folding: both BatchNorms fold (each follows a conv without activation, its only reader) */
    size_t folded = 0, fused = 0;
    assert_status(nnla_net_fold_batchnorm(net, &folded), NNLA_OK);
    assert_int_equal(folded, 2);
    assert_int_equal(nnla_net_num_layers(net), 7);
    run(net, batch, x, a);
    assert_vec_close(a, y, ny, 1e-13, 1e-13);
    /* fusing: the relu after the first conv fuses; the one after the add does not */
    assert_status(nnla_net_fuse_activations(net, &fused), NNLA_OK);
    assert_int_equal(fused, 1);
    assert_int_equal(nnla_net_num_layers(net), 6);
    run(net, batch, x, b);
    assert_memory_equal(a, b, ny * sizeof *a); /* fusing changes no bit */
    nnla_layer_kind k;
    assert_status(nnla_net_layer_kind(net, 3, &k), NNLA_OK); /* conv+relu, conv, conv, add, relu, dropout */
    assert_int_equal(k, NNLA_LAYER_ADD);
    assert_status(nnla_net_fold_batchnorm(net, &folded), NNLA_OK);
    assert_int_equal(folded, 0);
    nnla_net_free(net);
    free(w1), free(w2), free(ws), free(x), free(y), free(e), free(a), free(b), free(s), free(cw);
}

/* ------------------------------------------------------------------ contexts */

/* A KEEP context holds exactly each layer's output and pre-activation as the layer-by-layer calls
 * compute them; the argmax of max pooling points at the maxima; ranges compose to the full pass. */
static void test_context_keeps(void **state)
{
    (void)state;
    nnla_test_rng r = {20};
    cnn c;
    nnla_net *net = make_cnn(&r, &c);
    const size_t batch = 3, nl = nnla_net_num_layers(net);
    double *x = rnd(&r, batch * 3 * 11 * 10, 1.0), y[15], yf[15];
    size_t bytes, min;
    assert_status(nnla_net_ctx_size(net, batch, NNLA_CTX_KEEP, &bytes, &min), NNLA_OK);
    assert_true(min <= bytes);
    unsigned char *mem = malloc(bytes + 7);
    nnla_net_ctx *ctx = NULL;
    assert_status(nnla_net_ctx_init(net, batch, NNLA_CTX_KEEP, mem + 7, bytes, &ctx), NNLA_OK);
    assert_status(nnla_net_run(net, ctx, batch, 0, nl - 1, x, y), NNLA_OK);
    run(net, batch, x, yf);
    assert_memory_equal(y, yf, sizeof y); /* KEEP or not, the same bits */
    /* layer by layer */
    double *a1 = malloc(batch * 4 * 110 * sizeof *a1), *p1 = malloc(batch * 4 * 110 * sizeof *p1);
    size_t wb;
    assert_status(nnla_conv2d_workspace_size(&c.c1, batch, 11, 10, &wb), NNLA_OK);
    void *cw = malloc(wb + 64);
    assert_status(nnla_conv2d_forward(&c.c1, batch, 11, 10, x, c.w1, c.b1, nnla_act_default(NNLA_ACT_IDENTITY),
                                      p1, cw, wb + 64),
                  NNLA_OK);
    assert_status(nnla_act_forward_nchw(nnla_act_default(NNLA_ACT_RELU), batch, 4, 110, p1, a1), NNLA_OK);
    nnla_tensor t;
    assert_status(nnla_net_ctx_tensor(net, ctx, 0, NNLA_CTX_PREACT, &t), NNLA_OK);
    assert_true(t.ndim == 4 && t.shape[0] == batch && t.shape[1] == 4 && t.shape[2] == 11 && t.shape[3] == 10);
    assert_vec_close(t.data, p1, t.size, 4 * EPS, 4 * EPS);
    assert_status(nnla_net_ctx_tensor(net, ctx, 0, NNLA_CTX_OUTPUT, &t), NNLA_OK);
    assert_vec_close(t.data, a1, t.size, 4 * EPS, 4 * EPS);
    /* max pooling: the kept argmax indexes the maximum of each window */
    const uint32_t *am;
    size_t na;
    assert_status(nnla_net_ctx_argmax(net, ctx, 1, &am, &na), NNLA_OK);
    assert_int_equal(na, batch * 4 * 25);
    const double *a1k = t.data;
    assert_status(nnla_net_ctx_tensor(net, ctx, 1, NNLA_CTX_OUTPUT, &t), NNLA_OK);
    for (size_t i = 0; i < na; i++) {
        size_t plane = i / 25, oy = (i % 25) / 5, ox = i % 5, iy = am[i] / 10, ix = am[i] % 10;
        assert_true(iy / 2 == oy && ix / 2 == ox); /* inside its window */
        assert_true(a1k[plane * 110 + am[i]] == t.data[i]);
    }
    assert_status(nnla_net_ctx_argmax(net, ctx, 0, &am, &na), NNLA_EINVAL); /* not a pooling */
    assert_status(nnla_net_ctx_tensor(net, ctx, 1, NNLA_CTX_PREACT, &t), NNLA_EINVAL);
    assert_status(nnla_net_ctx_tensor(net, ctx, 3, NNLA_CTX_OUTPUT, &t), NNLA_OK);
    assert_true(t.shape[1] == 6 && t.shape[2] == 1 && t.shape[3] == 1);
    /* the penultimate features (up to the flatten), then the rest from them: the same output */
    double feat[18], tail[15];
    assert_status(nnla_net_run(net, ctx, batch, 0, 4, x, feat), NNLA_OK);
    assert_status(nnla_net_run(net, ctx, batch, 5, nl - 1, feat, tail), NNLA_OK);
    assert_memory_equal(tail, y, sizeof y);
    /* without KEEP, in a context of the plain size: ranges too */
    size_t b0;
    assert_status(nnla_net_ctx_size(net, batch, 0, &b0, NULL), NNLA_OK);
    unsigned char *m0 = malloc(b0);
    nnla_net_ctx *c0;
    assert_status(nnla_net_ctx_init(net, batch, 0, m0, b0, &c0), NNLA_OK);
    assert_status(nnla_net_run(net, c0, batch, 0, 4, x, feat), NNLA_OK);
    assert_status(nnla_net_run(net, c0, batch, 5, nl - 1, feat, tail), NNLA_OK);
    assert_memory_equal(tail, y, sizeof y);
    assert_status(nnla_net_run(net, c0, 2, 0, nl - 1, x, tail), NNLA_OK); /* a smaller batch */
    assert_memory_equal(tail, y, 10 * sizeof *y);
    assert_status(nnla_net_run(net, c0, batch, 0, nl - 1, x, NULL), NNLA_ENULL);
    assert_status(nnla_net_ctx_tensor(net, c0, 0, NNLA_CTX_OUTPUT, &t), NNLA_EINVAL); /* no KEEP */
    /* errors: batch above the context's, bad ranges, a stale context after an edit */
    double y0[15];
    memcpy(y0, y, sizeof y);
    assert_status(nnla_net_run(net, ctx, batch + 1, 0, nl - 1, x, y), NNLA_EDIM);
    assert_status(nnla_net_run(net, ctx, batch, 3, 2, x, y), NNLA_EINVAL);
    assert_status(nnla_net_run(net, ctx, batch, 0, nl, x, y), NNLA_EINVAL);
    assert_status(nnla_net_run(net, ctx, batch, 0, nl - 1, x, (double *)(void *)(mem + 64)), NNLA_EALIAS);
    assert_status(nnla_net_ctx_init(net, batch, NNLA_CTX_KEEP, mem, min - 1, &ctx), NNLA_EWORKSPACE);
    assert_status(nnla_net_ctx_init(net, batch, 8u, mem, bytes, &ctx), NNLA_EINVAL);
    assert_status(nnla_net_ctx_size(net, 0, 0, &b0, NULL), NNLA_EDIM);
    assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_IDENTITY)), NNLA_OK);
    assert_status(nnla_net_run(net, ctx, batch, 0, 0, x, y), NNLA_ESTALE);
    assert_status(nnla_net_ctx_tensor(net, ctx, 0, NNLA_CTX_OUTPUT, &t), NNLA_ESTALE);
    assert_memory_equal(y, y0, sizeof y);
    free(mem), free(m0), free(a1), free(p1), free(cw), free(x);
    nnla_net_free(net);
    free_cnn(&c);
}

/* A residual network run in ranges without KEEP: a layer reading before the range is refused. */
static void test_ranges_and_branches(void **state)
{
    (void)state;
    nnla_net *net = NULL;
    assert_status(nnla_net_create(4, 1, 1, &net), NNLA_OK);
    assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_TANH)), NNLA_OK);    /* 0 */
    assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_SIGMOID)), NNLA_OK); /* 1 */
    assert_status(nnla_net_add_residual(net, 0), NNLA_OK);                             /* 2: 1 + 0 */
    assert_status(nnla_net_add_residual(net, NNLA_NET_INPUT), NNLA_OK);                /* 3: 2 + x */
    double x[8] = {-1, 0.5, 2, 0, 1, -2, 0.25, 3}, y[8], e[8];
    run(net, 2, x, y);
    for (int i = 0; i < 8; i++) {
        double t = tanh(x[i]);
        e[i] = (1 / (1 + exp(-t)) + t) + x[i];
    }
    assert_vec_close(y, e, 8, 4 * EPS, 4 * EPS);
    size_t b;
    assert_status(nnla_net_ctx_size(net, 2, 0, &b, NULL), NNLA_OK);
    void *mem = malloc(b);
    nnla_net_ctx *ctx;
    assert_status(nnla_net_ctx_init(net, 2, 0, mem, b, &ctx), NNLA_OK);
    assert_status(nnla_net_run(net, ctx, 2, 1, 3, x, y), NNLA_EUNSUPPORTED); /* 2 reads 0, 3 reads x */
    assert_status(nnla_net_run(net, ctx, 2, 2, 3, x, y), NNLA_EUNSUPPORTED); /* an ADD first */
    assert_status(nnla_net_run(net, ctx, 2, 0, 2, x, y), NNLA_OK);
    free(mem);
    /* with KEEP the earlier outputs are there */
    assert_status(nnla_net_ctx_size(net, 2, NNLA_CTX_KEEP, &b, NULL), NNLA_OK);
    mem = malloc(b);
    assert_status(nnla_net_ctx_init(net, 2, NNLA_CTX_KEEP, mem, b, &ctx), NNLA_OK);
    assert_status(nnla_net_run(net, ctx, 2, 1, 3, x, y), NNLA_EUNSUPPORTED); /* layer 0 not run yet */
    assert_status(nnla_net_run(net, ctx, 2, 0, 3, x, y), NNLA_OK);
    double t0[8];
    for (int i = 0; i < 8; i++) t0[i] = tanh(x[i]);
    assert_status(nnla_net_run(net, ctx, 2, 1, 2, t0, y), NNLA_OK); /* 2 reads the kept 0 */
    for (int i = 0; i < 8; i++) assert_true(fabs(y[i] - (e[i] - x[i])) <= 4 * EPS);
    free(mem);
    nnla_net_free(net);
    assert_string_equal(nnla_layer_kind_name(NNLA_LAYER_BATCHNORM), "batchnorm");
    assert_null(nnla_layer_kind_name((nnla_layer_kind)NNLA_LAYER_KIND_COUNT));
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
        cmocka_unit_test(test_shape_slips),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_replace_by_factorization),
        cmocka_unit_test(test_insert_remove_clone),
        cmocka_unit_test(test_residual_and_batchnorm),
        cmocka_unit_test(test_context_keeps),
        cmocka_unit_test(test_ranges_and_branches),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
