/*
 * nnla-bench onnx: loading an ONNX model, and running an imported network against the same
 * network built by hand with the API (built when the ONNX module is).
 *
 *   BENCH onnx_load_cnn_f64 params=... bytes=... median_s=... mb_per_s=... speedup_vs_npy_read=...
 *   BENCH onnx_load_cnn_f32 ...
 *   BENCH onnx_forward_cnn_b64 median_s=... speedup_vs_handbuilt=...
 *   BENCH onnx_forward_cnn_bn_b64 median_s=... speedup_vs_handbuilt=...
 *   BENCH compress_cnn_rank32 layers=... params_ratio=... median_s=... svd_s=... ratio_to_svds=...
 *   BENCH compress_cnn_rank32_randomized median_s=... speedup_vs_exact=... err_fro_ratio=...
 *
 * The network is a small CIFAR-style CNN for 3 x 32 x 32 images, about 1.15 M parameters:
 * conv 3->32, conv 32->32, max pool, conv 32->64, conv 64->64, max pool (3x3 kernels, padding 1,
 * ReLU), flatten, dense 4096->256 ReLU, dense 256->10 with log-softmax.
 *
 * Load: nnla_onnx_load_mem() of the model saved by nnla_onnx_save_mem() (float64, float32),
 * against nnla_npy_read_mem() of one .npy holding as many doubles (the old way to move weights):
 * speedup below 1 is the cost of decoding the protobuf and building the network.
 *
 * Forward, batch 64: the hand-built network (convolutions with the ReLU fused, as a user writes
 * it) against the network loaded from its ONNX model (Conv and Relu nodes, fused again on load),
 * and against the one loaded from a model with a BatchNorm after every convolution and the ReLU
 * as a layer of its own (folded and fused on load). Goal: speedup_vs_handbuilt >= 0.98 (the
 * imported network is the hand-built one). Timed in alternation (bench_compare).
 *
 * Compression (nnla_net_compress, rank 32: the convolutions 32->64 and 64->64 and the dense
 * 4096->256 layer compress; the others would not save): a clone of the loaded network compressed,
 * against a clone and the thin SVDs (nnla_svd) of the same layers, the floor of the exact path
 * (ratio_to_svds: how much the factors, the network edits and the checks add); and the randomized
 * path (p = 10, q = 2) against the exact one, with the ratio of their Frobenius errors summed over
 * the layers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnla.h>

#include "bench.h"

#define BATCH 64

static nnla_act act(nnla_act_kind k) { return nnla_act_default(k); }

static double *rnd(unsigned long long *s, size_t n, double scale)
{
    double *p = malloc(n * sizeof *p);
    if (p == NULL) return NULL;
    for (size_t i = 0; i < n; i++) p[i] = scale * bench_urand(s);
    return p;
}

/* The CNN; with bn, a BatchNorm after each convolution and the ReLU as its own layer. */
static nnla_net *make_cnn(int bn)
{
    unsigned long long s = 20240611;
    nnla_net *net;
    if (nnla_net_create(3, 32, 32, &net) != NNLA_OK) return NULL;
    static const size_t chans[5] = {3, 32, 32, 64, 64};
    int ok = 1;
    for (int k = 0; k < 4 && ok; k++) {
        nnla_conv2d_desc d = nnla_conv2d_desc_make(chans[k], chans[k + 1], 3, 3);
        d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;
        size_t nw = chans[k + 1] * chans[k] * 9;
        double *w = rnd(&s, nw, 0.2), *b = rnd(&s, chans[k + 1], 0.1);
        ok = w && b && nnla_net_add_conv2d(net, &d, w, b, act(bn ? NNLA_ACT_IDENTITY : NNLA_ACT_RELU)) == NNLA_OK;
        if (ok && bn) {
            size_t c = chans[k + 1];
            double *g = rnd(&s, c, 0.2), *be = rnd(&s, c, 0.1), *m = rnd(&s, c, 0.1), *v = rnd(&s, c, 0.2);
            for (size_t j = 0; j < c && g && v; j++) g[j] += 1.0, v[j] += 1.0;
            ok = g && be && m && v && nnla_net_add_batchnorm(net, c, g, be, m, v, 1e-5) == NNLA_OK &&
                 nnla_net_add_act(net, act(NNLA_ACT_RELU)) == NNLA_OK;
            free(g), free(be), free(m), free(v);
        }
        free(w), free(b);
        if (ok && (k == 1 || k == 3)) {
            nnla_pool2d_desc p = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
            ok = nnla_net_add_pool2d(net, &p) == NNLA_OK;
        }
    }
    ok = ok && nnla_net_add_flatten(net) == NNLA_OK;
    double *w1 = rnd(&s, 256 * 4096, 0.02), *b1 = rnd(&s, 256, 0.1), *w2 = rnd(&s, 10 * 256, 0.1);
    ok = ok && w1 && b1 && w2 &&
         nnla_net_add_dense(net, nnla_cmat_view(w1, 256, 4096, 4096), b1, act(NNLA_ACT_RELU)) == NNLA_OK &&
         nnla_net_add_dense(net, nnla_cmat_view(w2, 10, 256, 256), NULL, act(NNLA_ACT_LOG_SOFTMAX)) == NNLA_OK;
    free(w1), free(b1), free(w2);
    if (!ok) {
        nnla_net_free(net);
        return NULL;
    }
    return net;
}

static unsigned char *save(const nnla_net *net, unsigned flags, size_t *len)
{
    char msg[256];
    if (nnla_onnx_encoded_size(net, flags, len, msg, sizeof msg) != NNLA_OK) return NULL;
    unsigned char *buf = malloc(*len);
    if (buf && nnla_onnx_save_mem(net, flags, buf, *len, NULL, msg, sizeof msg) != NNLA_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

typedef struct load_job {
    const unsigned char *buf;
    size_t len;
    const unsigned char *npy;
    size_t npy_len;
    int failed;
} load_job;

static void run_load(void *p)
{
    load_job *j = p;
    nnla_net *net = NULL;
    if (nnla_onnx_load_mem(j->buf, j->len, 0, &net, NULL, 0) != NNLA_OK) j->failed = 1;
    nnla_net_free(net);
}

static void run_npy(void *p)
{
    load_job *j = p;
    nnla_array a;
    if (nnla_npy_read_mem(j->npy, j->npy_len, &a) != NNLA_OK) j->failed = 1;
    else nnla_array_free(&a);
}

typedef struct fwd_job {
    const nnla_net *net;
    const double *x;
    double *y;
    void *work;
    size_t ws;
    int failed;
} fwd_job;

static void run_fwd(void *p)
{
    fwd_job *j = p;
    if (nnla_net_forward(j->net, BATCH, j->x, j->y, j->work, j->ws) != NNLA_OK) j->failed = 1;
}

static int fwd_setup(fwd_job *j, const nnla_net *net, const double *x)
{
    j->net = net;
    j->x = x;
    j->failed = 0;
    if (nnla_net_workspace_size(net, BATCH, &j->ws) != NNLA_OK) return 0;
    j->work = malloc(j->ws);
    j->y = malloc(BATCH * 10 * sizeof *j->y);
    return j->work && j->y;
}

/* The layers of two networks have the same kinds and activations. */
static int same_structure(const nnla_net *a, const nnla_net *b)
{
    if (nnla_net_num_layers(a) != nnla_net_num_layers(b)) return 0;
    for (size_t i = 0; i < nnla_net_num_layers(a); i++) {
        nnla_layer_spec s, t;
        nnla_net_layer_spec(a, i, &s);
        nnla_net_layer_spec(b, i, &t);
        if (s.kind != t.kind || s.act.kind != t.act.kind) return 0;
    }
    return 1;
}

/* Compression: a clone compressed (exact or randomized), or a clone and the thin SVDs of the layers. */
typedef struct compress_job {
    const nnla_net *net;
    const nnla_compress_opts *opts; /* NULL: exact */
    const size_t *layers;           /* svd job: the layers to decompose */
    size_t nlayers;
    int svd_only, failed;
    double err_fro2;                /* the compress job's sum of squared Frobenius errors */
} compress_job;

static void run_compress(void *p)
{
    compress_job *j = p;
    nnla_net *c = NULL;
    if (nnla_net_clone(j->net, &c) != NNLA_OK) {
        j->failed = 1;
        return;
    }
    if (!j->svd_only) {
        nnla_compress_report rep[16];
        size_t count = 0;
        if (nnla_net_compress(c, nnla_rank_fixed(32), j->opts, rep, 16, &count) != NNLA_OK) j->failed = 1;
        j->err_fro2 = 0.0;
        for (size_t t = 0; t < count; t++)
            if (rep[t].action == NNLA_COMPRESS_DONE) j->err_fro2 += rep[t].lowrank.err_fro * rep[t].lowrank.err_fro;
    } else {
        for (size_t t = 0; t < j->nlayers; t++) {
            nnla_layer_spec s;
            nnla_net_layer_spec(c, j->layers[t], &s);
            size_t m = s.weight.rows, n = s.weight.cols, r = m < n ? m : n;
            double *u = malloc(m * r * sizeof *u), *sv = malloc(r * sizeof *sv), *vt = malloc(r * n * sizeof *vt);
            if (u == NULL || sv == NULL || vt == NULL ||
                nnla_svd_alloc(NNLA_SVD_THIN, s.weight, sv, nnla_mat_view(u, m, r, r), nnla_mat_view(vt, r, n, n),
                               NULL) != NNLA_OK)
                j->failed = 1;
            free(u), free(sv), free(vt);
        }
    }
    nnla_net_free(c);
}

static int bench_compress(const nnla_net *net, int reps)
{
    nnla_net *c;
    nnla_compress_report rep[16];
    size_t count, layers[16], nl = 0;
    if (nnla_net_clone(net, &c) != NNLA_OK) return 1;
    if (nnla_net_compress(c, nnla_rank_fixed(32), NULL, rep, 16, &count) != NNLA_OK) {
        nnla_net_free(c);
        return 1;
    }
    for (size_t t = 0; t < count; t++)
        if (rep[t].action == NNLA_COMPRESS_DONE) layers[nl++] = rep[t].layer;
    double ratio = (double)nnla_net_num_params(c) / (double)nnla_net_num_params(net);
    nnla_net_free(c);
    compress_job a = {net, NULL, NULL, 0, 0, 0, 0.0}, b = {net, NULL, layers, nl, 1, 0, 0.0};
    double t_c, t_svd;
    bench_compare(run_compress, &a, run_compress, &b, 2, reps, &t_c, &t_svd);
    printf("BENCH compress_cnn_rank32 layers=%zu params_ratio=%.4f median_s=%.6g svd_s=%.6g ratio_to_svds=%.4f\n", nl,
           ratio, t_c, t_svd, t_c / t_svd);
    fflush(stdout);
    nnla_compress_opts o = nnla_compress_opts_default();
    o.randomized = 1;
    compress_job r = {net, &o, NULL, 0, 0, 0, 0.0};
    double t_r, t_e;
    bench_compare(run_compress, &r, run_compress, &a, 2, reps, &t_r, &t_e);
    printf("BENCH compress_cnn_rank32_randomized median_s=%.6g speedup_vs_exact=%.4f err_fro_ratio=%.6f\n", t_r,
           t_e / t_r, sqrt(r.err_fro2 / a.err_fro2));
    fflush(stdout);
    return a.failed || b.failed || r.failed;
}

int bench_cmd_onnx(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int reps = bench_reps(15), rc = 0;
    nnla_net *hand = make_cnn(0), *hand_bn = make_cnn(1);
    if (hand == NULL || hand_bn == NULL) {
        fprintf(stderr, "bench onnx: building the networks failed\n");
        return 1;
    }
    size_t nparams = nnla_net_num_params(hand);

    /* load time */
    for (int f32 = 0; f32 < 2; f32++) {
        load_job j = {0};
        j.buf = save(hand, f32 ? NNLA_ONNX_FLOAT32 : 0, &j.len);
        size_t shape[1] = {nparams};
        nnla_npy_encoded_size(1, shape, &j.npy_len);
        unsigned char *npy = malloc(j.npy_len);
        double *zeros = calloc(nparams, sizeof *zeros);
        if (j.buf == NULL || npy == NULL || zeros == NULL ||
            nnla_npy_write_mem(zeros, 1, shape, npy, j.npy_len, NULL) != NNLA_OK) {
            fprintf(stderr, "bench onnx: saving failed\n");
            return 1;
        }
        j.npy = npy;
        double t_load, t_npy;
        bench_compare(run_load, &j, run_npy, &j, 2, reps, &t_load, &t_npy);
        if (j.failed) rc = 1;
        printf("BENCH onnx_load_cnn_%s params=%zu bytes=%zu median_s=%.6g mb_per_s=%.4g speedup_vs_npy_read=%.4f\n",
               f32 ? "f32" : "f64", nparams, j.len, t_load, (double)j.len / t_load / 1e6, t_npy / t_load);
        fflush(stdout);
        free((void *)j.buf), free(npy), free(zeros);
    }

    /* forward: imported against hand-built */
    unsigned long long s = 7;
    double *x = rnd(&s, (size_t)BATCH * 3 * 32 * 32, 1.0);
    for (int variant = 0; variant < 2 && x; variant++) {
        size_t len;
        unsigned char *buf = save(variant ? hand_bn : hand, 0, &len);
        nnla_net *imported = NULL;
        char msg[256];
        if (buf == NULL || nnla_onnx_load_mem(buf, len, 0, &imported, msg, sizeof msg) != NNLA_OK) {
            fprintf(stderr, "bench onnx: loading failed: %s\n", msg);
            return 1;
        }
        free(buf);
        if (!same_structure(imported, hand)) {
            fprintf(stderr, "bench onnx: the imported network is not the hand-built one\n");
            rc = 1;
        }
        fwd_job a, b;
        if (!fwd_setup(&a, imported, x) || !fwd_setup(&b, hand, x)) return 1;
        double t_imp, t_hand;
        bench_compare(run_fwd, &a, run_fwd, &b, 3, reps, &t_imp, &t_hand);
        if (a.failed || b.failed) rc = 1;
        if (!variant && memcmp(a.y, b.y, BATCH * 10 * sizeof *a.y) != 0) {
            fprintf(stderr, "bench onnx: the imported network computes other outputs\n");
            rc = 1;
        }
        printf("BENCH onnx_forward_cnn%s_b%d median_s=%.6g speedup_vs_handbuilt=%.4f\n", variant ? "_bn" : "", BATCH,
               t_imp, t_hand / t_imp);
        fflush(stdout);
        free(a.work), free(a.y), free(b.work), free(b.y);
        nnla_net_free(imported);
    }
    free(x);

    /* compression of the model's layers */
    if (bench_compress(hand, reps)) {
        fprintf(stderr, "bench onnx: compression failed\n");
        rc = 1;
    }
    nnla_net_free(hand);
    nnla_net_free(hand_bn);
    return rc;
}
