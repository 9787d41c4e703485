/*
 * ONNX import and export (built when the module is): networks of every layer kind and activation
 * saved and loaded back into the same network (layers, parameters and buffers bit for bit, the
 * same outputs bit for bit) in float64, and to float32 rounding in float32; the load flags; the
 * size query and the buffer and file forms; and untrusted input: every truncation of a model,
 * random corruptions, and models written here by a small protobuf encoder of our own (external
 * data, too deep a nesting, too many nodes, unknown operators and axes nnla cannot honour, NaN
 * weights, inconsistent tensors, nodes out of order), each with its status, a message naming what
 * is wrong, and *net untouched. The PyTorch and ONNX-test-suite cross-checks are in tests/onnx/.
 */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP_ALL (NNLA_ONNX_KEEP_BATCHNORM | NNLA_ONNX_KEEP_ACTIVATIONS | NNLA_ONNX_KEEP_DROPOUT)
#define SENTINEL ((nnla_net *)(uintptr_t)0x5a5a5a5a)

static double *rnd(nnla_test_rng *r, size_t n, double lo, double hi)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    nnla_test_fill(r, p, n, lo, hi);
    return p;
}

static nnla_conv2d_desc conv(size_t in, size_t out, size_t kh, size_t kw)
{
    return nnla_conv2d_desc_make(in, out, kh, kw);
}

/* ------------------------------------------------------------------ networks */

static void add(nnla_net *net, nnla_layer_spec s) { assert_status(nnla_net_append(net, &s), NNLA_OK); }

/* An MLP with every activation (and its parameter), BatchNorm and dropout; the activations fused
 * into the dense layers, or as layers of their own. */
static nnla_net *make_mlp(nnla_test_rng *r, int fused)
{
    nnla_net *net;
    assert_status(nnla_net_create(12, 1, 1, &net), NNLA_OK);
    static const nnla_act acts[] = {{NNLA_ACT_RELU, 0},       {NNLA_ACT_SIGMOID, 2.5}, {NNLA_ACT_TANH, 0},
                                    {NNLA_ACT_LEAKY_RELU, 0.2}, {NNLA_ACT_ELU, 0.5},     {NNLA_ACT_GELU, 0},
                                    {NNLA_ACT_SILU, 0},       {NNLA_ACT_SOFTPLUS, 1.5}, {NNLA_ACT_SOFTPLUS, 1},
                                    {NNLA_ACT_SIGMOID, 1},    {NNLA_ACT_IDENTITY, 0}};
    size_t n = 12;
    for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
        size_t out = 8 + k % 5;
        double *w = rnd(r, out * n, -0.5, 0.5), *b = rnd(r, out, -0.2, 0.2);
        add(net, nnla_layer_dense(nnla_cmat_view(w, out, n, n), k == 2 ? NULL : b,
                                  fused ? acts[k] : nnla_act_default(NNLA_ACT_IDENTITY)));
        if (!fused && acts[k].kind != NNLA_ACT_IDENTITY) add(net, nnla_layer_act(acts[k]));
        free(w);
        free(b);
        n = out;
        if (k == 3) {
            double *g = rnd(r, n, 0.5, 1.5), *be = rnd(r, n, -0.5, 0.5), *m = rnd(r, n, -0.5, 0.5),
                   *v = rnd(r, n, 0.5, 2);
            nnla_layer_spec s = nnla_layer_batchnorm(n, g, be, m, v);
            s.eps = 1e-3;
            s.momentum = 0.25;
            add(net, s);
            free(g), free(be), free(m), free(v);
            add(net, nnla_layer_dropout(0.25));
            add(net, nnla_layer_act(nnla_act_default(NNLA_ACT_ELU)));
        }
    }
    add(net, nnla_layer_act(nnla_act_default(NNLA_ACT_LOG_SOFTMAX)));
    return net;
}

/* A CNN: asymmetric padding, strides, dilation, groups, both poolings with ceil_mode and
 * count_include_pad, BatchNorm, a residual add, global average pooling, flatten, softmax over
 * channels, and a dense layer reading an image directly (no flatten). */
static nnla_net *make_cnn(nnla_test_rng *r, int dense_on_image, int fused)
{
    nnla_net *net;
    assert_status(nnla_net_create(4, 11, 9, &net), NNLA_OK);
    nnla_conv2d_desc d = conv(4, 6, 3, 2);
    d.stride_h = 2, d.stride_w = 1, d.dilation_w = 2, d.groups = 2;
    d.pad_top = 1, d.pad_bottom = 0, d.pad_left = 2, d.pad_right = 1;
    double *w = rnd(r, 6 * 2 * 3 * 2, -0.5, 0.5), *b = rnd(r, 6, -0.1, 0.1);
    add(net, nnla_layer_conv2d(&d, w, b, fused ? nnla_act_default(NNLA_ACT_RELU) : nnla_act_default(NNLA_ACT_IDENTITY)));
    if (!fused) add(net, nnla_layer_act(nnla_act_default(NNLA_ACT_RELU)));
    size_t first = nnla_net_num_layers(net) - 1; /* 6x6x9 */
    free(w), free(b);
    nnla_conv2d_desc d2 = conv(6, 6, 3, 3);
    d2.pad_top = d2.pad_bottom = d2.pad_left = d2.pad_right = 1;
    w = rnd(r, 6 * 6 * 9, -0.3, 0.3);
    add(net, nnla_layer_conv2d(&d2, w, NULL, nnla_act_default(NNLA_ACT_IDENTITY))); /* 1 */
    free(w);
    double *g = rnd(r, 6, 0.5, 1.5), *be = rnd(r, 6, -0.5, 0.5), *m = rnd(r, 6, -0.5, 0.5), *v = rnd(r, 6, 0.5, 2);
    add(net, nnla_layer_batchnorm(6, g, be, m, v)); /* 2 */
    free(g), free(be), free(m), free(v);
    add(net, nnla_layer_add(NNLA_NET_PREV, first));
    add(net, nnla_layer_act(nnla_act_default(NNLA_ACT_TANH)));                   /* 4 */
    nnla_pool2d_desc p = nnla_pool2d_desc_make(NNLA_POOL_MAX, 3, 2);
    p.stride_h = 2, p.stride_w = 2, p.pad_top = 1, p.pad_left = 1, p.ceil_mode = 1;
    add(net, nnla_layer_pool2d(&p)); /* 5 */
    nnla_pool2d_desc q = nnla_pool2d_desc_make(NNLA_POOL_AVG, 2, 2);
    q.stride_h = q.stride_w = 1, q.pad_bottom = 1, q.pad_right = 1, q.count_include_pad = 0;
    add(net, nnla_layer_pool2d(&q)); /* 6 */
    nnla_conv2d_desc d3 = conv(6, 5, 1, 1);
    w = rnd(r, 5 * 6, -0.5, 0.5), b = rnd(r, 5, -0.1, 0.1);
    add(net, nnla_layer_conv2d(&d3, w, b, fused ? nnla_act_default(NNLA_ACT_SOFTMAX) : nnla_act_default(NNLA_ACT_IDENTITY)));
    if (!fused) add(net, nnla_layer_act(nnla_act_default(NNLA_ACT_SOFTMAX))); /* softmax over channels */
    free(w), free(b);
    size_t sh[3];
    assert_status(nnla_net_output_shape(net, sh), NNLA_OK);
    if (dense_on_image) {
        size_t in = sh[0] * sh[1] * sh[2];
        w = rnd(r, 7 * in, -0.2, 0.2), b = rnd(r, 7, -0.1, 0.1);
        add(net, nnla_layer_dense(nnla_cmat_view(w, 7, in, in), b, nnla_act_default(NNLA_ACT_IDENTITY)));
        free(w), free(b);
    } else {
        add(net, nnla_layer_global_avgpool());
        add(net, nnla_layer_flatten());
        w = rnd(r, 7 * 5, -0.5, 0.5);
        add(net, nnla_layer_dense(nnla_cmat_view(w, 7, 5, 5), NULL, nnla_act_default(NNLA_ACT_IDENTITY)));
        free(w);
        add(net, nnla_layer_act(nnla_act_default(NNLA_ACT_LOG_SOFTMAX)));
    }
    return net;
}

/* A flat input read by a convolution (1 x 1 images), and a dense output read by a residual add
 * with a global pooling's (C, 1, 1): the exporter reshapes between ranks 2 and 4. */
static nnla_net *make_ranks(nnla_test_rng *r)
{
    nnla_net *net;
    assert_status(nnla_net_create(5, 1, 1, &net), NNLA_OK);
    nnla_conv2d_desc d = conv(5, 4, 1, 1);
    double *w = rnd(r, 20, -1, 1), *b = rnd(r, 4, -1, 1);
    add(net, nnla_layer_conv2d(&d, w, b, nnla_act_default(NNLA_ACT_RELU))); /* 0: 4x1x1 */
    add(net, nnla_layer_global_avgpool());                                  /* 1: 4x1x1 (rank 4) */
    nnla_layer_spec s = nnla_layer_dense(nnla_cmat_view(w, 4, 5, 5), b, nnla_act_default(NNLA_ACT_IDENTITY));
    s.src = NNLA_NET_INPUT;
    add(net, s); /* 2: reads the input */
    free(w), free(b);
    w = rnd(r, 16, -1, 1);
    add(net, nnla_layer_dense(nnla_cmat_view(w, 4, 4, 4), NULL, nnla_act_default(NNLA_ACT_IDENTITY))); /* 3 */
    free(w);
    add(net, nnla_layer_add(1, 3)); /* rank 4 + rank 2 */
    add(net, nnla_layer_add(NNLA_NET_PREV, 2)); /* and the other way round */
    return net;
}

/* ------------------------------------------------------------------ helpers */

static unsigned char *save(const nnla_net *net, unsigned flags, size_t *len)
{
    char msg[256];
    size_t size = 0, written = 0;
    assert_status(nnla_onnx_encoded_size(net, flags, &size, msg, sizeof msg), NNLA_OK);
    assert_string_equal(msg, "");
    unsigned char *buf = malloc(size);
    assert_non_null(buf);
    assert_status(nnla_onnx_save_mem(net, flags, buf, size, &written, msg, sizeof msg), NNLA_OK);
    assert_int_equal(written, size);
    *len = size;
    return buf;
}

static nnla_net *load(const void *buf, size_t len, unsigned flags)
{
    char msg[512];
    nnla_net *net = NULL;
    nnla_status st = nnla_onnx_load_mem(buf, len, flags, &net, msg, sizeof msg);
    if (st != NNLA_OK) print_error("load: %s (%s)\n", msg, nnla_status_name(st));
    assert_status(st, NNLA_OK);
    assert_string_equal(msg, "");
    assert_non_null(net);
    return net;
}

static double *forward(const nnla_net *net, size_t batch, const double *x, size_t *n_out)
{
    size_t ws, sh[3];
    assert_status(nnla_net_workspace_size(net, batch, &ws), NNLA_OK);
    assert_status(nnla_net_output_shape(net, sh), NNLA_OK);
    *n_out = batch * sh[0] * sh[1] * sh[2];
    void *work = malloc(ws);
    double *y = malloc(*n_out * sizeof *y);
    assert_non_null(work);
    assert_non_null(y);
    assert_status(nnla_net_forward(net, batch, x, y, work, ws), NNLA_OK);
    free(work);
    return y;
}

/* Two networks are the same: layers (kind, sources, activation, geometry), shapes, and every
 * parameter and buffer equal to (double)(float) of a's when f32, bit for bit otherwise. */
static void assert_same_net(const nnla_net *a, const nnla_net *b, int f32)
{
    assert_int_equal(nnla_net_num_layers(a), nnla_net_num_layers(b));
    size_t ia[3], ib[3];
    assert_status(nnla_net_input_shape(a, ia), NNLA_OK);
    assert_status(nnla_net_input_shape(b, ib), NNLA_OK);
    assert_memory_equal(ia, ib, sizeof ia);
    for (size_t i = 0; i < nnla_net_num_layers(a); i++) {
        nnla_layer_spec s, t;
        size_t oa[3], ob[3];
        assert_status(nnla_net_layer_spec(a, i, &s), NNLA_OK);
        assert_status(nnla_net_layer_spec(b, i, &t), NNLA_OK);
        assert_status(nnla_net_layer_shape(a, i, NULL, oa), NNLA_OK);
        assert_status(nnla_net_layer_shape(b, i, NULL, ob), NNLA_OK);
        assert_memory_equal(oa, ob, sizeof oa);
        assert_int_equal(s.kind, t.kind);
        assert_int_equal(s.src, t.src);
        if (s.kind == NNLA_LAYER_ADD) assert_int_equal(s.src2, t.src2);
        if (s.kind == NNLA_LAYER_DENSE || s.kind == NNLA_LAYER_CONV2D || s.kind == NNLA_LAYER_ACT) {
            assert_int_equal(s.act.kind, t.act.kind);
            nnla_act_info info;
            assert_status(nnla_act_info_get(s.act.kind, &info), NNLA_OK);
            /* sigmoid's and softplus's beta travel as tensors (float32 ones in float32); leaky ReLU's
             * and ELU's alpha as float attributes read back as the shortest decimal */
            int tensor = s.act.kind == NNLA_ACT_SIGMOID || s.act.kind == NNLA_ACT_SOFTPLUS;
            if (info.rule != NNLA_ACT_PARAM_NONE)
                assert_true(t.act.param == (f32 && tensor ? (double)(float)s.act.param : s.act.param));
        }
        if (s.kind == NNLA_LAYER_DENSE || s.kind == NNLA_LAYER_CONV2D) assert_int_equal(s.bias == NULL, t.bias == NULL);
        if (s.kind == NNLA_LAYER_CONV2D) assert_memory_equal(&s.conv, &t.conv, sizeof s.conv);
        if (s.kind == NNLA_LAYER_POOL2D) {
            assert_int_equal(s.pool.kind, t.pool.kind);
            assert_int_equal(s.pool.kernel_h, t.pool.kernel_h);
            assert_int_equal(s.pool.kernel_w, t.pool.kernel_w);
            assert_int_equal(s.pool.stride_h, t.pool.stride_h);
            assert_int_equal(s.pool.stride_w, t.pool.stride_w);
            assert_int_equal(s.pool.pad_top, t.pool.pad_top);
            assert_int_equal(s.pool.pad_bottom, t.pool.pad_bottom);
            assert_int_equal(s.pool.pad_left, t.pool.pad_left);
            assert_int_equal(s.pool.pad_right, t.pool.pad_right);
            assert_int_equal(s.pool.ceil_mode, t.pool.ceil_mode);
            if (s.pool.kind == NNLA_POOL_AVG) assert_int_equal(s.pool.count_include_pad, t.pool.count_include_pad);
        }
        if (s.kind == NNLA_LAYER_BATCHNORM) {
            assert_int_equal(s.features, t.features);
            assert_true(s.eps == t.eps);
            assert_true(fabs(s.momentum - t.momentum) <= 1e-7); /* travels as 1 - m in float32 */
        }
        if (s.kind == NNLA_LAYER_DROPOUT) assert_true(t.p == (f32 ? (double)(float)s.p : s.p));
    }
    double *pa, *pb;
    size_t na, nb;
    for (int blk = 0; blk < 2; blk++) {
        assert_status(blk ? nnla_net_buffers((nnla_net *)a, &pa, &na) : nnla_net_params((nnla_net *)a, &pa, &na), NNLA_OK);
        assert_status(blk ? nnla_net_buffers((nnla_net *)b, &pb, &nb) : nnla_net_params((nnla_net *)b, &pb, &nb), NNLA_OK);
        assert_int_equal(na, nb);
        for (size_t k = 0; k < na; k++) {
            double want = f32 ? (double)(float)pa[k] : pa[k];
            if (memcmp(&want, &pb[k], sizeof want) != 0)
                fail_msg("%s %zu: %.17g, loaded back as %.17g", blk ? "buffer" : "parameter", k, want, pb[k]);
        }
    }
}

/* ------------------------------------------------------------------ round trips */

/* The network the loader makes by default: BatchNorm folded, activations fused, no dropout. */
static nnla_net *canonical(const nnla_net *net)
{
    nnla_net *c;
    assert_status(nnla_net_clone(net, &c), NNLA_OK);
    assert_status(nnla_net_fold_batchnorm(c, NULL), NNLA_OK);
    assert_status(nnla_net_fuse_activations(c, NULL), NNLA_OK);
    for (size_t i = nnla_net_num_layers(c); i-- > 0;) {
        nnla_layer_kind k;
        assert_status(nnla_net_layer_kind(c, i, &k), NNLA_OK);
        if (k == NNLA_LAYER_DROPOUT) assert_status(nnla_net_remove(c, i), NNLA_OK);
    }
    return c;
}

/*
 * Save and load: by default the loaded network is canonical(net), bit for bit (layers,
 * parameters, outputs); with every layer kept, a network without fused activations comes back as
 * it is. In float32 the outputs agree within float accuracy and, kept, the parameters are the
 * float32 roundings of the originals.
 */
static void roundtrip(nnla_net *net, size_t in_size, int has_fused)
{
    nnla_test_rng r = {42};
    const size_t batch = 5;
    double *x = rnd(&r, batch * in_size, -2, 2);
    nnla_net *canon = canonical(net);
    size_t ny, nz, nc;
    double *y = forward(net, batch, x, &ny), *yc = forward(canon, batch, x, &nc);

    size_t len, l1, l2;
    unsigned char *buf = save(net, 0, &len);
    nnla_net *back = load(buf, len, 0);
    assert_same_net(canon, back, 0);
    double *z = forward(back, batch, x, &nz);
    assert_int_equal(nz, nc);
    assert_memory_equal(z, yc, nc * sizeof *z);
    assert_vec_close(z, y, ny, 1e-13, 1e-14);
    free(z);
    /* saving the loaded network gives the bytes canonical(net) gives */
    unsigned char *b1 = save(back, 0, &l1), *b2 = save(canon, 0, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    free(b1), free(b2);
    nnla_net_free(back);

    if (!has_fused) {
        back = load(buf, len, KEEP_ALL);
        assert_same_net(net, back, 0);
        z = forward(back, batch, x, &nz);
        assert_memory_equal(z, y, ny * sizeof *z);
        free(z);
        nnla_net_free(back);
    }
    free(buf);

    buf = save(net, NNLA_ONNX_FLOAT32, &len);
    back = load(buf, len, KEEP_ALL);
    if (!has_fused) assert_same_net(net, back, 1);
    z = forward(back, batch, x, &nz);
    assert_vec_close(z, y, ny, 1e-5, 1e-6);
    free(z);
    nnla_net_free(back);
    free(buf);
    free(y), free(yc), free(x);
    nnla_net_free(canon);
}

static void test_roundtrip_mlp(void **state)
{
    (void)state;
    for (int fused = 0; fused < 2; fused++) {
        nnla_test_rng r = {1};
        nnla_net *net = make_mlp(&r, fused);
        roundtrip(net, 12, fused);
        nnla_net_free(net);
    }
}

static void test_roundtrip_cnn(void **state)
{
    (void)state;
    for (int variant = 0; variant < 4; variant++) {
        nnla_test_rng r = {2};
        nnla_net *net = make_cnn(&r, variant & 1, variant >> 1);
        roundtrip(net, 4 * 11 * 9, variant >> 1);
        nnla_net_free(net);
    }
}

static void test_roundtrip_ranks(void **state)
{
    (void)state;
    nnla_test_rng r = {3};
    nnla_net *net = make_ranks(&r);
    roundtrip(net, 5, 1);
    nnla_net_free(net);
}

/* The default load is the network a user would build by hand: BatchNorm folded into the layer
 * before it, activations fused, dropout gone; the flags keep each. */
static void test_load_flags(void **state)
{
    (void)state;
    nnla_test_rng r = {4};
    nnla_net *net;
    assert_status(nnla_net_create(6, 1, 1, &net), NNLA_OK);
    double *w = rnd(&r, 36, -1, 1), *g = rnd(&r, 6, 0.5, 1.5), *m = rnd(&r, 6, -1, 1), *v = rnd(&r, 6, 0.5, 2);
    add(net, nnla_layer_dense(nnla_cmat_view(w, 6, 6, 6), NULL, nnla_act_default(NNLA_ACT_IDENTITY)));
    add(net, nnla_layer_batchnorm(6, g, m, m, v));
    add(net, nnla_layer_act(nnla_act_default(NNLA_ACT_RELU)));
    add(net, nnla_layer_dropout(0.5));
    free(w), free(g), free(m), free(v);
    size_t len;
    unsigned char *buf = save(net, 0, &len);
    static const struct {
        unsigned flags;
        size_t layers;
        nnla_layer_kind first_two[2];
    } cases[] = {
        {0, 1, {NNLA_LAYER_DENSE, NNLA_LAYER_DENSE}},
        {NNLA_ONNX_KEEP_BATCHNORM, 3, {NNLA_LAYER_DENSE, NNLA_LAYER_BATCHNORM}},
        {NNLA_ONNX_KEEP_ACTIVATIONS, 2, {NNLA_LAYER_DENSE, NNLA_LAYER_ACT}},
        {NNLA_ONNX_KEEP_DROPOUT, 2, {NNLA_LAYER_DENSE, NNLA_LAYER_DROPOUT}},
        {KEEP_ALL, 4, {NNLA_LAYER_DENSE, NNLA_LAYER_BATCHNORM}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        nnla_net *b = load(buf, len, cases[k].flags);
        assert_int_equal(nnla_net_num_layers(b), cases[k].layers);
        nnla_layer_kind kind;
        assert_status(nnla_net_layer_kind(b, 0, &kind), NNLA_OK);
        assert_int_equal(kind, cases[k].first_two[0]);
        if (cases[k].layers > 1) {
            assert_status(nnla_net_layer_kind(b, 1, &kind), NNLA_OK);
            assert_int_equal(kind, cases[k].first_two[1]);
        }
        nnla_layer_spec s;
        assert_status(nnla_net_layer_spec(b, 0, &s), NNLA_OK);
        if (cases[k].flags == 0) assert_int_equal(s.act.kind, NNLA_ACT_RELU); /* folded, then fused */
        nnla_net_free(b);
    }
    free(buf);
    nnla_net_free(net);
}

/* ------------------------------------------------------------------ the API's own checks */

static void test_save_errors(void **state)
{
    (void)state;
    nnla_test_rng r = {5};
    nnla_net *net = make_mlp(&r, 0), *empty;
    assert_status(nnla_net_create(3, 1, 1, &empty), NNLA_OK);
    char msg[128];
    size_t size = 7, written = 11;
    assert_status(nnla_onnx_encoded_size(NULL, 0, &size, msg, sizeof msg), NNLA_ENULL);
    assert_status(nnla_onnx_encoded_size(net, 0, NULL, msg, sizeof msg), NNLA_ENULL);
    assert_status(nnla_onnx_encoded_size(net, 0x10, &size, msg, sizeof msg), NNLA_EINVAL);
    assert_non_null(strstr(msg, "flags"));
    assert_status(nnla_onnx_encoded_size(empty, 0, &size, msg, sizeof msg), NNLA_EDIM);
    assert_non_null(strstr(msg, "no layers"));
    assert_int_equal(size, 7);
    assert_status(nnla_onnx_encoded_size(net, 0, &size, NULL, 0), NNLA_OK); /* no message buffer */
    /* a buffer one byte short: nothing written */
    unsigned char *buf = malloc(size), *copy = malloc(size);
    memset(buf, 0xab, size);
    memcpy(copy, buf, size);
    assert_status(nnla_onnx_save_mem(net, 0, buf, size - 1, &written, msg, sizeof msg), NNLA_EWORKSPACE);
    assert_memory_equal(buf, copy, size);
    assert_int_equal(written, 11);
    assert_status(nnla_onnx_save_mem(net, 0, NULL, size, &written, msg, sizeof msg), NNLA_ENULL);
    assert_status(nnla_onnx_save_mem(net, 0, buf, size, NULL, msg, sizeof msg), NNLA_OK);
    /* float32 of a value beyond float's range */
    nnla_net *big;
    assert_status(nnla_net_create(1, 1, 1, &big), NNLA_OK);
    double w = 1e300;
    add(big, nnla_layer_dense(nnla_cmat_view(&w, 1, 1, 1), NULL, nnla_act_default(NNLA_ACT_IDENTITY)));
    assert_status(nnla_onnx_encoded_size(big, NNLA_ONNX_FLOAT32, &size, msg, sizeof msg), NNLA_EOVERFLOW);
    assert_non_null(strstr(msg, "float32"));
    assert_status(nnla_onnx_encoded_size(big, 0, &size, msg, sizeof msg), NNLA_OK);
    /* files */
    char path[64];
    snprintf(path, sizeof path, "test_onnx_%d.onnx", (int)(uintptr_t)&path % 100000);
    remove(path);
    assert_status(nnla_onnx_save(net, path, 0, msg, sizeof msg), NNLA_OK);
    nnla_net *back = SENTINEL;
    assert_status(nnla_onnx_load(path, KEEP_ALL, &back, msg, sizeof msg), NNLA_OK);
    assert_same_net(net, back, 0);
    nnla_net_free(back);
    remove(path);
    assert_status(nnla_onnx_save(net, "/nonexistent-dir/x.onnx", 0, msg, sizeof msg), NNLA_EIO);
    assert_non_null(strstr(msg, "/nonexistent-dir/x.onnx"));
    back = SENTINEL;
    assert_status(nnla_onnx_load("/nonexistent-dir/x.onnx", 0, &back, msg, sizeof msg), NNLA_EIO);
    assert_ptr_equal(back, SENTINEL);
    assert_status(nnla_onnx_load(".", 0, &back, msg, sizeof msg), NNLA_EIO); /* a directory */
    assert_status(nnla_onnx_save(net, NULL, 0, msg, sizeof msg), NNLA_ENULL);
    free(buf), free(copy);
    nnla_net_free(big);
    nnla_net_free(empty);
    nnla_net_free(net);
}

/* ------------------------------------------------------------------ a protobuf encoder for tests */

typedef struct pb {
    unsigned char *d;
    size_t n, cap;
} pb;

static void pb_raw(pb *p, const void *src, size_t n)
{
    if (n == 0) return;
    if (p->n + n > p->cap) {
        p->cap = 2 * (p->n + n) + 64;
        p->d = realloc(p->d, p->cap);
        assert_non_null(p->d);
    }
    memcpy(p->d + p->n, src, n);
    p->n += n;
}
static void pb_varint(pb *p, uint64_t v)
{
    unsigned char b[10];
    size_t k = 0;
    do {
        b[k] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) b[k] |= 0x80;
        k++;
    } while (v);
    pb_raw(p, b, k);
}
static void pb_int(pb *p, unsigned f, int64_t v) { pb_varint(p, (uint64_t)f << 3), pb_varint(p, (uint64_t)v); }
static void pb_bytes(pb *p, unsigned f, const void *d, size_t n)
{
    pb_varint(p, (uint64_t)f << 3 | 2);
    pb_varint(p, n);
    pb_raw(p, d, n);
}
static void pb_str(pb *p, unsigned f, const char *s) { pb_bytes(p, f, s, strlen(s)); }
static void pb_msg(pb *p, unsigned f, pb *sub) /* takes sub */
{
    pb_bytes(p, f, sub->d, sub->n);
    free(sub->d);
    memset(sub, 0, sizeof *sub);
}
static void pb_float(pb *p, unsigned f, float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
    pb_varint(p, (uint64_t)f << 3 | 5);
    pb_raw(p, b, 4);
}

/* ValueInfoProto: a float tensor of the given dims (0: symbolic "N"). */
static void vi(pb *g, unsigned field, const char *name, size_t rank, const int64_t *dims, int elem)
{
    pb shape = {0}, tt = {0}, type = {0}, v = {0};
    for (size_t k = 0; k < rank; k++) {
        pb dim = {0};
        if (dims[k] > 0) pb_int(&dim, 1, dims[k]);
        else pb_str(&dim, 2, "N");
        pb_msg(&shape, 1, &dim);
    }
    pb_int(&tt, 1, elem);
    pb_msg(&tt, 2, &shape);
    pb_msg(&type, 1, &tt);
    pb_str(&v, 1, name);
    pb_msg(&v, 2, &type);
    pb_msg(g, field, &v);
}

/* A float initializer in raw_data (or external, or with a wrong count). */
static void init_f(pb *g, const char *name, size_t rank, const int64_t *dims, const float *x, size_t n, int external)
{
    pb t = {0};
    for (size_t k = 0; k < rank; k++) pb_int(&t, 1, dims[k]);
    pb_int(&t, 2, 1); /* FLOAT */
    pb_str(&t, 8, name);
    if (external) {
        pb e = {0};
        pb_str(&e, 1, "location");
        pb_str(&e, 2, "weights.bin");
        pb_msg(&t, 13, &e);
        pb_int(&t, 14, 1);
    } else {
        pb_bytes(&t, 9, x, n * sizeof *x); /* little-endian host assumed by the test */
    }
    pb_msg(g, 5, &t);
}

static void node(pb *g, const char *op, const char *name, const char *in0, const char *in1, const char *out, pb *attrs)
{
    pb n = {0};
    if (in0) pb_str(&n, 1, in0);
    if (in1) pb_str(&n, 1, in1);
    pb_str(&n, 2, out);
    pb_str(&n, 3, name);
    pb_str(&n, 4, op);
    if (attrs && attrs->n) pb_raw(&n, attrs->d, attrs->n);
    if (attrs) free(attrs->d), memset(attrs, 0, sizeof *attrs);
    pb_msg(g, 1, &n);
}

static void attr_int(pb *a, const char *name, int64_t v)
{
    pb at = {0};
    pb_str(&at, 1, name);
    pb_int(&at, 3, v);
    pb_int(&at, 20, 2);
    pb_msg(a, 5, &at);
}
static void attr_float(pb *a, const char *name, float v)
{
    pb at = {0};
    pb_str(&at, 1, name);
    pb_float(&at, 2, v);
    pb_int(&at, 20, 1);
    pb_msg(a, 5, &at);
}

static void model(pb *out, pb *g, int64_t opset)
{
    pb op = {0};
    pb_int(out, 1, 7);
    pb_str(out, 2, "test_onnx");
    pb_msg(out, 7, g);
    pb_str(&op, 1, "");
    pb_int(&op, 2, opset);
    pb_msg(out, 8, &op);
}

/* The status and message of loading buf; *net must stay untouched on failure. */
static nnla_status try_load(const pb *m, unsigned flags, char *msg, size_t msg_size)
{
    nnla_net *net = SENTINEL;
    nnla_status st = nnla_onnx_load_mem(m->d, m->n, flags, &net, msg, msg_size);
    if (st == NNLA_OK) {
        assert_ptr_not_equal(net, SENTINEL);
        nnla_net_free(net);
    } else {
        assert_ptr_equal(net, SENTINEL);
    }
    return st;
}

static void assert_msg_has(const char *msg, const char *part)
{
    if (strstr(msg, part) == NULL) fail_msg("message '%s' lacks '%s'", msg, part);
}

/* x [N, 3] -> Gemm(W [2, 3], transB) -> op -> y: a small valid model to vary. */
static void small_model(pb *m, const char *op, pb *op_attrs, int64_t opset, int external, float w0)
{
    pb g = {0}, a = {0};
    int64_t xd[2] = {0, 3}, wd[2] = {2, 3}, yd[2] = {0, 2};
    float w[6] = {w0, 0.5f, -1, 2, 0.25f, -0.75f};
    init_f(&g, "W", 2, wd, w, 6, external);
    attr_int(&a, "transB", 1);
    node(&g, "Gemm", "fc", "x", "W", "h", &a);
    node(&g, op, "act", "h", NULL, "y", op_attrs);
    pb_str(&g, 2, "g");
    vi(&g, 11, "x", 2, xd, 1);
    vi(&g, 12, "y", 2, yd, 1);
    model(m, &g, opset);
}

static void test_crafted_models(void **state)
{
    (void)state;
    char msg[512];
    pb m = {0}, a = {0};

    /* the valid base: loads, LeakyRelu's alpha 0.01f read as the decimal 0.01 */
    attr_float(&a, "alpha", 0.01f);
    small_model(&m, "LeakyRelu", &a, 13, 0, 1.0f);
    nnla_net *net = SENTINEL;
    assert_status(nnla_onnx_load_mem(m.d, m.n, 0, &net, msg, sizeof msg), NNLA_OK);
    nnla_layer_spec s;
    assert_status(nnla_net_layer_spec(net, 0, &s), NNLA_OK);
    assert_int_equal(s.act.kind, NNLA_ACT_LEAKY_RELU);
    assert_true(s.act.param == 0.01);
    nnla_net_free(net);
    /* a short message buffer: truncated, terminated */
    free(m.d), memset(&m, 0, sizeof m);
    small_model(&m, "Foo", NULL, 13, 0, 1.0f);
    char tiny[8];
    memset(tiny, 'z', sizeof tiny);
    assert_status(try_load(&m, 0, tiny, sizeof tiny), NNLA_EUNSUPPORTED);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    assert_status(try_load(&m, 0, NULL, 0), NNLA_EUNSUPPORTED);
    /* an unknown operator: named with its node */
    assert_status(try_load(&m, 0, msg, sizeof msg), NNLA_EUNSUPPORTED);
    assert_msg_has(msg, "Foo");
    assert_msg_has(msg, "'act'");
    free(m.d), memset(&m, 0, sizeof m);

    /* external data */
    small_model(&m, "Relu", NULL, 13, 1, 1.0f);
    assert_status(try_load(&m, 0, msg, sizeof msg), NNLA_EUNSUPPORTED);
    assert_msg_has(msg, "external");
    assert_msg_has(msg, "weights.bin");
    free(m.d), memset(&m, 0, sizeof m);

    /* a NaN weight */
    small_model(&m, "Relu", NULL, 13, 0, NAN);
    assert_status(try_load(&m, 0, msg, sizeof msg), NNLA_ENONFINITE);
    assert_msg_has(msg, "NaN");
    free(m.d), memset(&m, 0, sizeof m);

    /* weights that overflow once scaled (alpha): the layer nnla refuses is named, after another */
    {
        pb g = {0}, at = {0};
        int64_t xd[2] = {0, 3}, wd[2] = {2, 3}, yd[2] = {0, 2};
        double w[6] = {1e300, 1, 1, 1, 1, 1};
        pb t = {0};
        for (int k = 0; k < 2; k++) pb_int(&t, 1, wd[k]);
        pb_int(&t, 2, 11); /* DOUBLE */
        pb_str(&t, 8, "W");
        pb_bytes(&t, 9, w, sizeof w);
        pb_msg(&g, 5, &t);
        node(&g, "Tanh", "first", "x", NULL, "t", NULL);
        attr_int(&at, "transB", 1);
        attr_float(&at, "alpha", 1e10f);
        node(&g, "Gemm", "scaled", "t", "W", "y", &at);
        vi(&g, 11, "x", 2, xd, 1);
        vi(&g, 12, "y", 2, yd, 1);
        model(&m, &g, 13);
        assert_status(try_load(&m, 0, msg, sizeof msg), NNLA_ENONFINITE);
        assert_msg_has(msg, "'scaled'");
        free(m.d), memset(&m, 0, sizeof m);
    }

    /* an opset newer than the importer knows */
    small_model(&m, "Relu", NULL, 18, 0, 1.0f);
    assert_status(try_load(&m, 0, msg, sizeof msg), NNLA_EUNSUPPORTED);
    assert_msg_has(msg, "opset 18");
    free(m.d), memset(&m, 0, sizeof m);

    /* Softmax over the batch axis, and an attribute nnla does not know */
    attr_int(&a, "axis", 0);
    small_model(&m, "Softmax", &a, 13, 0, 1.0f);
    assert_status(try_load(&m, 0, msg, sizeof msg), NNLA_EUNSUPPORTED);
    assert_msg_has(msg, "batch axis");
    free(m.d), memset(&m, 0, sizeof m);
    attr_int(&a, "flavour", 3);
    small_model(&m, "Relu", &a, 13, 0, 1.0f);
    assert_status(try_load(&m, 0, msg, sizeof msg), NNLA_EUNSUPPORTED);
    assert_msg_has(msg, "flavour");
    free(m.d), memset(&m, 0, sizeof m);

    /* a tensor holding fewer values than its dims say */
    {
        pb g = {0}, at = {0};
        int64_t xd[2] = {0, 3}, wd[2] = {2, 3};
        float w[5] = {1, 2, 3, 4, 5};
        init_f(&g, "W", 2, wd, w, 5, 0);
        attr_int(&at, "transB", 1);
        node(&g, "Gemm", "fc", "x", "W", "y", &at);
        vi(&g, 11, "x", 2, xd, 1);
        vi(&g, 12, "y", 2, xd, 1);
        model(&m, &g, 13);
        assert_status(try_load(&m, 0, msg, sizeof msg), NNLA_EFORMAT);
        assert_msg_has(msg, "'W'");
        free(m.d), memset(&m, 0, sizeof m);
    }
    /* nodes out of order, a value defined twice, two inputs, a symbolic feature dimension */
    {
        pb g = {0};
        int64_t xd[2] = {0, 3};
        node(&g, "Relu", "second", "h", NULL, "y", NULL);
        node(&g, "Relu", "first", "x", NULL, "h", NULL);
        vi(&g, 11, "x", 2, xd, 1);
        vi(&g, 12, "y", 2, xd, 1);
        model(&m, &g, 13);
        assert_status(try_load(&m, 0, msg, sizeof msg), NNLA_EFORMAT);
        assert_msg_has(msg, "topological");
        free(m.d), memset(&m, 0, sizeof m);
        node(&g, "Relu", "a", "x", NULL, "h", NULL);
        node(&g, "Relu", "b", "x", NULL, "h", NULL);
        vi(&g, 11, "x", 2, xd, 1);
        vi(&g, 12, "h", 2, xd, 1);
        model(&m, &g, 13);
        assert_status(try_load(&m, 0, msg, sizeof msg), NNLA_EFORMAT);
        assert_msg_has(msg, "defined twice");
        free(m.d), memset(&m, 0, sizeof m);
        node(&g, "Relu", "a", "x", NULL, "y", NULL);
        vi(&g, 11, "x", 2, xd, 1);
        vi(&g, 11, "x2", 2, xd, 1);
        vi(&g, 12, "y", 2, xd, 1);
        model(&m, &g, 13);
        assert_status(try_load(&m, 0, msg, sizeof msg), NNLA_EUNSUPPORTED);
        assert_msg_has(msg, "several run-time inputs");
        free(m.d), memset(&m, 0, sizeof m);
        int64_t sym[2] = {0, 0};
        node(&g, "Relu", "a", "x", NULL, "y", NULL);
        vi(&g, 11, "x", 2, sym, 1);
        vi(&g, 12, "y", 2, sym, 1);
        model(&m, &g, 13);
        assert_status(try_load(&m, 0, msg, sizeof msg), NNLA_EUNSUPPORTED);
        assert_msg_has(msg, "symbolic");
        free(m.d), memset(&m, 0, sizeof m);
    }
    /* nesting deeper than the limit (graphs in attributes in nodes in graphs ...) */
    {
        pb g = {0};
        for (int k = 0; k < NNLA_ONNX_MAX_DEPTH; k++) {
            pb at = {0}, n = {0};
            pb_str(&at, 1, "body");
            pb_msg(&at, 6, &g);
            pb_str(&n, 4, "Loop");
            pb_msg(&n, 5, &at);
            pb_msg(&g, 1, &n);
        }
        model(&m, &g, 13);
        assert_status(try_load(&m, 0, msg, sizeof msg), NNLA_EOVERFLOW);
        assert_msg_has(msg, "deep");
        free(m.d), memset(&m, 0, sizeof m);
    }
    /* more nodes than the limit */
    {
        pb g = {0};
        int64_t xd[2] = {0, 3};
        char a_[16], b_[16];
        for (unsigned k = 0; k <= NNLA_ONNX_MAX_NODES; k++) {
            snprintf(a_, sizeof a_, "v%u", k);
            snprintf(b_, sizeof b_, "v%u", k + 1);
            node(&g, "Identity", "", k ? a_ : "x", NULL, b_, NULL);
        }
        vi(&g, 11, "x", 2, xd, 1);
        vi(&g, 12, b_, 2, xd, 1);
        model(&m, &g, 13);
        assert_status(try_load(&m, 0, msg, sizeof msg), NNLA_EOVERFLOW);
        assert_msg_has(msg, "nodes");
        free(m.d), memset(&m, 0, sizeof m);
    }
    /* arguments */
    small_model(&m, "Relu", NULL, 13, 0, 1.0f);
    net = SENTINEL;
    assert_status(nnla_onnx_load_mem(m.d, m.n, 0, NULL, msg, sizeof msg), NNLA_ENULL);
    assert_status(nnla_onnx_load_mem(NULL, 5, 0, &net, msg, sizeof msg), NNLA_ENULL);
    assert_status(nnla_onnx_load_mem(m.d, m.n, 0x100, &net, msg, sizeof msg), NNLA_EINVAL);
    assert_status(nnla_onnx_load_mem(m.d, 0, 0, &net, msg, sizeof msg), NNLA_EFORMAT);
    assert_status(nnla_onnx_load_mem(m.d, (size_t)NNLA_ONNX_MAX_BYTES + 1, 0, &net, msg, sizeof msg), NNLA_EOVERFLOW);
    assert_ptr_equal(net, SENTINEL);
    free(m.d);
}

/* Every prefix of a valid model is refused cleanly, and random corruptions never crash. */
static void test_truncated_and_corrupted(void **state)
{
    (void)state;
    nnla_test_rng r = {6};
    nnla_net *net = make_cnn(&r, 0, 1);
    size_t len;
    unsigned char *buf = save(net, NNLA_ONNX_FLOAT32, &len);
    char msg[256];
    for (size_t n = 0; n < len; n += n < 2000 ? 1 : 97) {
        nnla_net *out = SENTINEL;
        unsigned char *copy = malloc(n ? n : 1); /* exactly n bytes: ASan sees any over-read */
        memcpy(copy, buf, n);
        nnla_status st = nnla_onnx_load_mem(copy, n, 0, &out, msg, sizeof msg);
        free(copy);
        if (st == NNLA_OK) fail_msg("a prefix of %zu of %zu bytes loads", n, len);
        assert_true(st == NNLA_EFORMAT || st == NNLA_EUNSUPPORTED);
        assert_ptr_equal(out, SENTINEL);
        assert_true(msg[0] != '\0');
    }
    unsigned char *copy = malloc(len);
    size_t ok = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(copy, buf, len);
        int flips = 1 + (int)nnla_test_int(&r, 0, 3);
        for (int k = 0; k < flips; k++) copy[nnla_test_int(&r, 0, len - 1)] ^= (unsigned char)(1u << nnla_test_int(&r, 0, 7));
        nnla_net *out = SENTINEL;
        nnla_status st = nnla_onnx_load_mem(copy, len, (unsigned)it & 7u, &out, msg, sizeof msg);
        if (st == NNLA_OK) {
            ok++;
            nnla_net_free(out);
        } else {
            assert_ptr_equal(out, SENTINEL);
            assert_true(st == NNLA_EFORMAT || st == NNLA_EUNSUPPORTED || st == NNLA_EOVERFLOW || st == NNLA_ENONFINITE);
        }
    }
    print_message("corrupted models: %zu of 3000 still load (flipped bits in weights or names)\n", ok);
    free(copy);
    free(buf);
    nnla_net_free(net);
}

/* Every regression file (tests/data/onnx/crashers/) and seed model gets a clean status, with
 * every set of load flags. */
static void load_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0) continue;
        char path[1024], msg[256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        unsigned char *buf = malloc(1 << 20);
        size_t n = fread(buf, 1, 1 << 20, f);
        fclose(f);
        unsigned char *exact = malloc(n ? n : 1);
        memcpy(exact, buf, n);
        free(buf);
        for (unsigned flags = 0; flags <= KEEP_ALL; flags++) {
            nnla_net *net = SENTINEL;
            nnla_status st = nnla_onnx_load_mem(exact, n, flags, &net, msg, sizeof msg);
            if (st == NNLA_OK) {
                nnla_net_free(net);
            } else {
                assert_ptr_equal(net, SENTINEL);
                if (!(st == NNLA_EFORMAT || st == NNLA_EUNSUPPORTED || st == NNLA_EOVERFLOW || st == NNLA_ENONFINITE))
                    fail_msg("%s: %s (%s)", path, nnla_status_name(st), msg);
            }
        }
        free(exact);
        (*count)++;
    }
    closedir(d);
}

static void test_regression_files(void **state)
{
    (void)state;
    size_t count = 0;
    load_dir(NNLA_TEST_ONNX_DATA "/crashers", &count);
    load_dir(NNLA_TEST_ONNX_DATA "/../../fuzz/corpus/onnx", &count);
    assert_true(count >= 11);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_mlp),
        cmocka_unit_test(test_roundtrip_cnn),
        cmocka_unit_test(test_roundtrip_ranks),
        cmocka_unit_test(test_load_flags),
        cmocka_unit_test(test_save_errors),
        cmocka_unit_test(test_crafted_models),
        cmocka_unit_test(test_truncated_and_corrupted),
        cmocka_unit_test(test_regression_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
