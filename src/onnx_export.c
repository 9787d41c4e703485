/*
 * ONNX export: an nnla_net as a ModelProto (opset 13, IR version 7), packed by protobuf-c.
 *
 * Each layer becomes one node or a few (a fused activation is a second node; the activations
 * ONNX 13 lacks are the subgraphs PyTorch 1.13 writes for them, which the importer recognizes).
 * Values carry an ONNX rank: 2 for flat samples (N, F), 4 for images (N, C, H, W). Where a layer
 * needs the other rank a Reshape is inserted that the importer maps back to nothing: [0, C, 1, 1]
 * (or [0, -1] of a (C, 1, 1) sample) only adds or drops unit dimensions, and a Reshape to
 * [0, -1] read by a Gemm alone is the flattening every dense layer does. So a saved network loads
 * back into the same layers. Every message is built in one arena, freed at the end.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

typedef struct xval {
    const char *name;
    unsigned rank;  /* 2 or 4 */
    size_t c, h, w; /* sample shape */
} xval;

typedef struct xctx {
    const nnla_net *net;
    int f32;
    nnla__onnx_arena ar;
    nnla__msgbuf *msg;
    Onnx__NodeProto **nodes;
    size_t nnodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t ninits, cap_inits;
    xval *outs; /* per layer */
    xval input;
    size_t layer; /* the layer being written (for names and messages) */
    size_t serial;
    nnla_status st; /* the first failure */
} xctx;

/* Record the first failure; every builder returns NULL after one. */
static void *xfail(xctx *e, nnla_status st, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void *xfail(xctx *e, nnla_status st, const char *fmt, ...)
{
    if (e->st == NNLA_OK) {
        e->st = st;
        va_list ap;
        va_start(ap, fmt);
        nnla__onnx_vmsg(e->msg, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

static void *xalloc(xctx *e, size_t n)
{
    void *p = nnla__onnx_arena_alloc(&e->ar, n);
    return p ? p : xfail(e, NNLA_ENOMEM, "out of memory building the model");
}

static char *xname(xctx *e, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static char *xname(xctx *e, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *p = nnla__onnx_arena_strdup(&e->ar, buf);
    return p ? p : xfail(e, NNLA_ENOMEM, "out of memory building the model");
}

/* A fresh value name for layer e->layer: "conv2d_3" first, then "conv2d_3_1", ... */
static char *fresh(xctx *e, const char *what)
{
    return xname(e, "%s_%zu_%zu", what, e->layer, e->serial++);
}

static int push(xctx *e, void ***arr, size_t *n, size_t *cap, void *item)
{
    if (item == NULL) return 0;
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        void **p = realloc(*arr, nc * sizeof *p);
        if (p == NULL) {
            xfail(e, NNLA_ENOMEM, "out of memory building the model");
            return 0;
        }
        *arr = p;
        *cap = nc;
    }
    (*arr)[(*n)++] = item;
    return 1;
}

/* ------------------------------------------------------------------ tensors */

static Onnx__TensorProto *tensor_new(xctx *e, const char *name, unsigned rank, const size_t *dims)
{
    Onnx__TensorProto *t = xalloc(e, sizeof *t);
    int64_t *d = rank ? xalloc(e, rank * sizeof *d) : NULL;
    if (t == NULL || (rank && d == NULL)) return NULL;
    nnla__onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->n_dims = rank;
    t->dims = d;
    for (unsigned k = 0; k < rank; k++) d[k] = (int64_t)dims[k];
    return t;
}

/* An initializer of n doubles (rows of `cols` values at stride ld), as float64 or float32. */
static const char *init_values(xctx *e, const char *name, unsigned rank, const size_t *dims, const double *x, size_t rows,
                               size_t cols, size_t ld)
{
    Onnx__TensorProto *t = tensor_new(e, name, rank, dims);
    if (t == NULL) return NULL;
    size_t n = rows * cols, es = e->f32 ? 4 : 8;
    uint8_t *raw = xalloc(e, n * es + 1);
    if (raw == NULL) return NULL;
    for (size_t r = 0, k = 0; r < rows; r++)
        for (size_t j = 0; j < cols; j++, k++) {
            double v = x[r * ld + j];
            if (e->f32) {
                if (fabs(v) > FLT_MAX)
                    return xfail(e, NNLA_EOVERFLOW, "layer %zu: the value %g of '%s' is beyond float32's range", e->layer, v,
                                 name);
                float f = (float)v;
                uint32_t u;
                memcpy(&u, &f, 4);
                nnla__put_le32(raw + 4 * k, u);
            } else {
                uint64_t u;
                memcpy(&u, &v, 8);
                nnla__put_le64(raw + 8 * k, u);
            }
        }
    t->has_data_type = 1;
    t->data_type = e->f32 ? NNLA__ONNX_FLOAT : NNLA__ONNX_DOUBLE;
    t->has_raw_data = 1;
    t->raw_data.len = n * es;
    t->raw_data.data = raw;
    return push(e, (void ***)&e->inits, &e->ninits, &e->cap_inits, t) ? name : NULL;
}

static const char *init_vector(xctx *e, const char *name, const double *x, size_t n)
{
    return init_values(e, name, 1, &n, x, 1, n, n);
}

static const char *init_scalar(xctx *e, double x)
{
    const char *name = fresh(e, "const");
    return name ? init_values(e, name, 0, NULL, &x, 1, 1, 1) : NULL;
}

static const char *init_shape(xctx *e, size_t n, const int64_t *v)
{
    const char *name = fresh(e, "shape");
    Onnx__TensorProto *t = name ? tensor_new(e, name, 1, &n) : NULL;
    uint8_t *raw = t ? xalloc(e, 8 * n) : NULL;
    if (raw == NULL) return NULL;
    for (size_t k = 0; k < n; k++) nnla__put_le64(raw + 8 * k, (uint64_t)v[k]);
    t->has_data_type = 1;
    t->data_type = NNLA__ONNX_INT64;
    t->has_raw_data = 1;
    t->raw_data.len = 8 * n;
    t->raw_data.data = raw;
    return push(e, (void ***)&e->inits, &e->ninits, &e->cap_inits, t) ? name : NULL;
}

/* ------------------------------------------------------------------ nodes */

static Onnx__NodeProto *node(xctx *e, const char *op, size_t nin, const char *const *in, const char *out)
{
    if (e->st != NNLA_OK || out == NULL) return NULL;
    for (size_t k = 0; k < nin; k++)
        if (in[k] == NULL) return NULL;
    Onnx__NodeProto *n = xalloc(e, sizeof *n);
    char **ins = xalloc(e, (nin ? nin : 1) * sizeof *ins), **outs = xalloc(e, sizeof *outs);
    char *name = xname(e, "%s_%zu_%zu", op, e->layer, e->serial++);
    Onnx__AttributeProto **attrs = xalloc(e, 8 * sizeof *attrs);
    if (!n || !ins || !outs || !name || !attrs) return NULL;
    nnla__onnx__node_proto__init(n);
    for (size_t k = 0; k < nin; k++) ins[k] = (char *)in[k];
    outs[0] = (char *)out;
    n->n_input = nin;
    n->input = ins;
    n->n_output = 1;
    n->output = outs;
    n->name = name;
    n->op_type = (char *)op;
    n->attribute = attrs; /* room for 8, n_attribute grows */
    return push(e, (void ***)&e->nodes, &e->nnodes, &e->cap_nodes, n) ? n : NULL;
}

static Onnx__AttributeProto *attr_new(xctx *e, Onnx__NodeProto *n, const char *name, Onnx__AttributeProto__AttributeType t)
{
    if (n == NULL || n->n_attribute == 8) return NULL;
    Onnx__AttributeProto *a = xalloc(e, sizeof *a);
    if (a == NULL) return NULL;
    nnla__onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = t;
    n->attribute[n->n_attribute++] = a;
    return a;
}

static void attr_i(xctx *e, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr_new(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) a->has_i = 1, a->i = v;
}

static void attr_f(xctx *e, Onnx__NodeProto *n, const char *name, double v)
{
    Onnx__AttributeProto *a = attr_new(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a) a->has_f = 1, a->f = (float)v;
}

static void attr_ints(xctx *e, Onnx__NodeProto *n, const char *name, size_t count, const size_t *v)
{
    Onnx__AttributeProto *a = attr_new(e, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *p = a ? xalloc(e, count * sizeof *p) : NULL;
    if (p == NULL) return;
    for (size_t k = 0; k < count; k++) p[k] = (int64_t)v[k];
    a->n_ints = count;
    a->ints = p;
}

/* One node with one or two inputs; returns the output's name. */
static const char *op1(xctx *e, const char *op, const char *x, const char *out)
{
    const char *in[1] = {x};
    return node(e, op, 1, in, out) ? out : NULL;
}
static const char *op2(xctx *e, const char *op, const char *a, const char *b, const char *out)
{
    const char *in[2] = {a, b};
    return node(e, op, 2, in, out) ? out : NULL;
}

/* ------------------------------------------------------------------ values */

static xval src_value(xctx *e, size_t src)
{
    return src == NNLA_NET_INPUT ? e->input : e->outs[src];
}

/* The value as rank `want` (2 or 4): a Reshape when it is not. dense_flatten: a Reshape to
 * [0, -1] of an image, for a Gemm only (the importer folds it into the dense layer). */
static xval as_rank(xctx *e, xval v, unsigned want)
{
    if (v.rank == want || v.name == NULL) return v;
    int64_t shape[4] = {0, (int64_t)v.c, (int64_t)v.h, (int64_t)v.w};
    if (want == 2) shape[1] = -1;
    const char *s = init_shape(e, want, shape);
    const char *out = fresh(e, "reshape");
    xval r = v;
    r.name = op2(e, "Reshape", v.name, s, out);
    r.rank = want;
    return r;
}

/* An activation after value x; out names the result. */
static const char *emit_act(xctx *e, nnla_act act, const char *x, const char *out)
{
    switch (act.kind) {
    case NNLA_ACT_IDENTITY: return op1(e, "Identity", x, out);
    case NNLA_ACT_TANH: return op1(e, "Tanh", x, out);
    case NNLA_ACT_RELU: return op1(e, "Relu", x, out);
    case NNLA_ACT_SIGMOID:
        if (act.param == 1.0) return op1(e, "Sigmoid", x, out);
        return op1(e, "Sigmoid", op2(e, "Mul", x, init_scalar(e, act.param), fresh(e, "scaled")), out);
    case NNLA_ACT_LEAKY_RELU: {
        const char *in[1] = {x};
        Onnx__NodeProto *n = node(e, "LeakyRelu", 1, in, out);
        attr_f(e, n, "alpha", act.param);
        return n ? out : NULL;
    }
    case NNLA_ACT_ELU: {
        const char *in[1] = {x};
        Onnx__NodeProto *n = node(e, "Elu", 1, in, out);
        attr_f(e, n, "alpha", act.param);
        return n ? out : NULL;
    }
    case NNLA_ACT_GELU: { /* x * 0.5 * (1 + erf(x / sqrt 2)), as PyTorch 1.13 writes it */
        const char *t = op2(e, "Div", x, init_scalar(e, 1.4142135623730951), fresh(e, "gelu_div"));
        t = op1(e, "Erf", t, fresh(e, "gelu_erf"));
        t = op2(e, "Add", t, init_scalar(e, 1.0), fresh(e, "gelu_add"));
        t = op2(e, "Mul", x, t, fresh(e, "gelu_mul"));
        return op2(e, "Mul", t, init_scalar(e, 0.5), out);
    }
    case NNLA_ACT_SILU: return op2(e, "Mul", x, op1(e, "Sigmoid", x, fresh(e, "silu_sigmoid")), out);
    case NNLA_ACT_SOFTPLUS:
        if (act.param == 1.0) return op1(e, "Softplus", x, out);
        {
            const char *b = init_scalar(e, act.param);
            const char *t = op2(e, "Mul", x, b, fresh(e, "softplus_mul"));
            t = op1(e, "Softplus", t, fresh(e, "softplus"));
            return op2(e, "Div", t, b, out);
        }
    case NNLA_ACT_SOFTMAX:
    case NNLA_ACT_LOG_SOFTMAX: {
        const char *in[1] = {x};
        Onnx__NodeProto *n = node(e, act.kind == NNLA_ACT_SOFTMAX ? "Softmax" : "LogSoftmax", 1, in, out);
        attr_i(e, n, "axis", 1);
        return n ? out : NULL;
    }
    }
    return xfail(e, NNLA_EINTERNAL, "layer %zu: unknown activation %d", e->layer, (int)act.kind);
}

/* ------------------------------------------------------------------ layers */

static void emit_layer(xctx *e, size_t i)
{
    nnla_layer_spec s;
    size_t in[3], out[3];
    nnla_status st = nnla_net_layer_spec(e->net, i, &s);
    if (st == NNLA_OK) st = nnla_net_layer_shape(e->net, i, in, out);
    if (st != NNLA_OK) {
        xfail(e, st, "layer %zu: %s", i, nnla_strerror(st));
        return;
    }
    const char *kname = nnla_layer_kind_name(s.kind);
    if (kname == NULL) {
        xfail(e, NNLA_EINTERNAL, "layer %zu: unknown kind %d", i, (int)s.kind);
        return;
    }
    xval x = src_value(e, s.src), y = {NULL, 4, out[0], out[1], out[2]};
    const char *res = NULL, *base = xname(e, "%s_%zu", kname, i);
    const char *pre = s.act.kind != NNLA_ACT_IDENTITY ? xname(e, "%s_%zu_pre", kname, i) : base;
    switch (s.kind) {
    case NNLA_LAYER_DENSE: {
        x = as_rank(e, x, 2);
        size_t wd[2] = {s.weight.rows, s.weight.cols};
        const char *w = init_values(e, xname(e, "%s_%zu.weight", kname, i), 2, wd, s.weight.data, s.weight.rows,
                                    s.weight.cols, s.weight.ld);
        const char *ins[3] = {x.name, w, s.bias ? init_vector(e, xname(e, "%s_%zu.bias", kname, i), s.bias, wd[0]) : NULL};
        Onnx__NodeProto *n = node(e, "Gemm", s.bias ? 3 : 2, ins, pre);
        attr_i(e, n, "transB", 1);
        res = n ? pre : NULL;
        y.rank = 2;
        break;
    }
    case NNLA_LAYER_CONV2D: {
        x = as_rank(e, x, 4);
        const nnla_conv2d_desc *d = &s.conv;
        size_t wd[4] = {d->out_channels, d->in_channels / d->groups, d->kernel_h, d->kernel_w};
        const char *w = init_values(e, xname(e, "%s_%zu.weight", kname, i), 4, wd, s.weight.data, s.weight.rows,
                                    s.weight.cols, s.weight.ld);
        const char *ins[3] = {x.name, w,
                              s.bias ? init_vector(e, xname(e, "%s_%zu.bias", kname, i), s.bias, d->out_channels) : NULL};
        Onnx__NodeProto *n = node(e, "Conv", s.bias ? 3 : 2, ins, pre);
        size_t k[2] = {d->kernel_h, d->kernel_w}, st2[2] = {d->stride_h, d->stride_w},
               dl[2] = {d->dilation_h, d->dilation_w}, p[4] = {d->pad_top, d->pad_left, d->pad_bottom, d->pad_right};
        attr_ints(e, n, "kernel_shape", 2, k);
        attr_ints(e, n, "strides", 2, st2);
        attr_ints(e, n, "pads", 4, p);
        attr_ints(e, n, "dilations", 2, dl);
        attr_i(e, n, "group", (int64_t)d->groups);
        res = n ? pre : NULL;
        break;
    }
    case NNLA_LAYER_POOL2D: {
        x = as_rank(e, x, 4);
        const nnla_pool2d_desc *d = &s.pool;
        const char *ins[1] = {x.name};
        Onnx__NodeProto *n = node(e, d->kind == NNLA_POOL_MAX ? "MaxPool" : "AveragePool", 1, ins, base);
        size_t k[2] = {d->kernel_h, d->kernel_w}, st2[2] = {d->stride_h, d->stride_w},
               p[4] = {d->pad_top, d->pad_left, d->pad_bottom, d->pad_right};
        attr_ints(e, n, "kernel_shape", 2, k);
        attr_ints(e, n, "strides", 2, st2);
        attr_ints(e, n, "pads", 4, p);
        attr_i(e, n, "ceil_mode", d->ceil_mode ? 1 : 0);
        if (d->kind == NNLA_POOL_AVG) attr_i(e, n, "count_include_pad", d->count_include_pad ? 1 : 0);
        res = n ? base : NULL;
        break;
    }
    case NNLA_LAYER_GLOBAL_AVGPOOL:
        res = op1(e, "GlobalAveragePool", as_rank(e, x, 4).name, base);
        break;
    case NNLA_LAYER_FLATTEN: {
        const char *ins[1] = {x.name};
        Onnx__NodeProto *n = node(e, "Flatten", 1, ins, base);
        attr_i(e, n, "axis", 1);
        res = n ? base : NULL;
        y.rank = 2;
        break;
    }
    case NNLA_LAYER_ACT:
        res = emit_act(e, s.act, x.name, base);
        pre = base;
        y.rank = x.rank;
        break;
    case NNLA_LAYER_BATCHNORM: {
        size_t c = s.features;
        const char *ins[5] = {x.name, init_vector(e, xname(e, "%s_%zu.weight", kname, i), s.gamma, c),
                              init_vector(e, xname(e, "%s_%zu.bias", kname, i), s.bias, c),
                              init_vector(e, xname(e, "%s_%zu.running_mean", kname, i), s.running_mean, c),
                              init_vector(e, xname(e, "%s_%zu.running_var", kname, i), s.running_var, c)};
        Onnx__NodeProto *n = node(e, "BatchNormalization", 5, ins, base);
        attr_f(e, n, "epsilon", s.eps);
        attr_f(e, n, "momentum", 1.0 - s.momentum);
        res = n ? base : NULL;
        y.rank = x.rank;
        break;
    }
    case NNLA_LAYER_DROPOUT:
        res = op2(e, "Dropout", x.name, init_scalar(e, s.p), base);
        y.rank = x.rank;
        break;
    case NNLA_LAYER_ADD: {
        xval b = as_rank(e, src_value(e, s.src2), x.rank);
        res = op2(e, "Add", x.name, b.name, base);
        y.rank = x.rank;
        break;
    }
    default:
        xfail(e, NNLA_EINTERNAL, "layer %zu: unknown kind %s", i, kname);
        return;
    }
    if ((s.kind == NNLA_LAYER_DENSE || s.kind == NNLA_LAYER_CONV2D) && s.act.kind != NNLA_ACT_IDENTITY && res != NULL)
        res = emit_act(e, s.act, pre, base);
    y.name = res;
    e->outs[i] = y;
}

/* ------------------------------------------------------------------ the model */

static Onnx__ValueInfoProto *value_info(xctx *e, const char *name, xval v)
{
    Onnx__ValueInfoProto *vi = xalloc(e, sizeof *vi);
    Onnx__TypeProto *t = xalloc(e, sizeof *t);
    Onnx__TypeProto__Tensor *tt = xalloc(e, sizeof *tt);
    Onnx__TensorShapeProto *sh = xalloc(e, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dims = xalloc(e, 4 * sizeof *dims);
    if (!vi || !t || !tt || !sh || !dims) return NULL;
    nnla__onnx__value_info_proto__init(vi);
    nnla__onnx__type_proto__init(t);
    nnla__onnx__type_proto__tensor__init(tt);
    nnla__onnx__tensor_shape_proto__init(sh);
    size_t d[4] = {0, v.c, v.h, v.w};
    for (unsigned k = 0; k < v.rank; k++) {
        dims[k] = xalloc(e, sizeof **dims);
        if (dims[k] == NULL) return NULL;
        nnla__onnx__tensor_shape_proto__dimension__init(dims[k]);
        if (k == 0) {
            dims[k]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dims[k]->dim_param = (char *)"N";
        } else {
            dims[k]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dims[k]->dim_value = (int64_t)(v.rank == 2 && k == 1 ? v.c * v.h * v.w : d[k]);
        }
    }
    sh->n_dim = v.rank;
    sh->dim = dims;
    tt->has_elem_type = 1;
    tt->elem_type = e->f32 ? NNLA__ONNX_FLOAT : NNLA__ONNX_DOUBLE;
    tt->shape = sh;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    vi->name = (char *)name;
    vi->type = t;
    return vi;
}

static nnla_status check_args(const nnla_net *net, unsigned flags, nnla__msgbuf *mb)
{
    if (net == NULL) {
        nnla__onnx_msg(mb, "a required pointer argument is NULL");
        return NNLA_ENULL;
    }
    if (flags & ~NNLA_ONNX_FLOAT32) {
        nnla__onnx_msg(mb, "unknown flags 0x%x", flags);
        return NNLA_EINVAL;
    }
    if (nnla_net_num_layers(net) == 0) {
        nnla__onnx_msg(mb, "the network has no layers");
        return NNLA_EDIM;
    }
    return NNLA_OK;
}

/* Build the model in e (free with exp_free); on success *model points into e's arena. */
static nnla_status build_model(xctx *e, Onnx__ModelProto **model, size_t *packed)
{
    const nnla_net *net = e->net;
    size_t nl = nnla_net_num_layers(net), shape[3];
    e->outs = calloc(nl, sizeof *e->outs);
    if (e->outs == NULL) {
        nnla__onnx_msg(e->msg, "out of memory building the model");
        return NNLA_ENOMEM;
    }
    nnla_status st = nnla_net_input_shape(net, shape);
    if (st != NNLA_OK) return st;
    e->input.name = "input";
    e->input.rank = shape[1] == 1 && shape[2] == 1 ? 2 : 4;
    e->input.c = shape[0], e->input.h = shape[1], e->input.w = shape[2];
    for (size_t i = 0; i < nl && e->st == NNLA_OK; i++) {
        e->layer = i;
        e->serial = 0;
        emit_layer(e, i);
    }
    if (e->st != NNLA_OK) return e->st;
    /* the last node writes the graph's output */
    xval last = e->outs[nl - 1];
    Onnx__NodeProto *tail = e->nodes[e->nnodes - 1];
    if (strcmp(tail->output[0], last.name) != 0) return NNLA_EINTERNAL;
    tail->output[0] = (char *)"output";
    Onnx__GraphProto *g = xalloc(e, sizeof *g);
    Onnx__ModelProto *m = xalloc(e, sizeof *m);
    Onnx__OperatorSetIdProto *ops = xalloc(e, sizeof *ops);
    Onnx__OperatorSetIdProto **opsv = xalloc(e, sizeof *opsv);
    Onnx__ValueInfoProto **in = xalloc(e, sizeof *in), **out = xalloc(e, sizeof *out);
    if (!g || !m || !ops || !opsv || !in || !out) return e->st;
    in[0] = value_info(e, "input", e->input);
    out[0] = value_info(e, "output", last);
    if (!in[0] || !out[0]) return e->st;
    nnla__onnx__graph_proto__init(g);
    g->name = (char *)"nnla";
    g->n_node = e->nnodes;
    g->node = e->nodes;
    g->n_initializer = e->ninits;
    g->initializer = e->inits;
    g->n_input = 1;
    g->input = in;
    g->n_output = 1;
    g->output = out;
    nnla__onnx__operator_set_id_proto__init(ops);
    ops->domain = (char *)"";
    ops->has_version = 1;
    ops->version = NNLA_ONNX_SAVE_OPSET;
    opsv[0] = ops;
    nnla__onnx__model_proto__init(m);
    m->has_ir_version = 1;
    m->ir_version = 7; /* the IR version of opset 13 (ONNX 1.8) */
    m->n_opset_import = 1;
    m->opset_import = opsv;
    m->producer_name = (char *)"libnnla";
    m->producer_version = (char *)nnla_version();
    m->graph = g;
    size_t size = protobuf_c_message_get_packed_size(&m->base);
    if (size > NNLA_ONNX_MAX_BYTES) {
        nnla__onnx_msg(e->msg, "the model would have %zu bytes (at most %zu)", size, NNLA_ONNX_MAX_BYTES);
        return NNLA_EOVERFLOW;
    }
    *model = m;
    *packed = size;
    return NNLA_OK;
}

static void exp_free(xctx *e)
{
    free(e->nodes);
    free(e->inits);
    free(e->outs);
    nnla__onnx_arena_free(&e->ar);
}

static void exp_init(xctx *e, const nnla_net *net, unsigned flags, nnla__msgbuf *mb)
{
    memset(e, 0, sizeof *e);
    e->net = net;
    e->f32 = (flags & NNLA_ONNX_FLOAT32) != 0;
    e->msg = mb;
}

nnla_status nnla_onnx_encoded_size(const nnla_net *net, unsigned flags, size_t *bytes, char *msg, size_t msg_size)
{
    nnla__msgbuf mb = {msg, msg_size};
    if (bytes == NULL) {
        nnla__onnx_msg(&mb, "a required pointer argument is NULL");
        return NNLA_ENULL;
    }
    NNLA__TRY(check_args(net, flags, &mb));
    xctx e;
    exp_init(&e, net, flags, &mb);
    Onnx__ModelProto *m;
    size_t size;
    nnla_status st = build_model(&e, &m, &size);
    exp_free(&e);
    if (st != NNLA_OK) return st;
    nnla__onnx_msg_clear(&mb);
    *bytes = size;
    return NNLA_OK;
}

nnla_status nnla_onnx_save_mem(const nnla_net *net, unsigned flags, void *buf, size_t buf_size, size_t *written,
                               char *msg, size_t msg_size)
{
    nnla__msgbuf mb = {msg, msg_size};
    if (buf == NULL) {
        nnla__onnx_msg(&mb, "a required pointer argument is NULL");
        return NNLA_ENULL;
    }
    NNLA__TRY(check_args(net, flags, &mb));
    xctx e;
    exp_init(&e, net, flags, &mb);
    Onnx__ModelProto *m;
    size_t size;
    nnla_status st = build_model(&e, &m, &size);
    if (st == NNLA_OK && size > buf_size) {
        nnla__onnx_msg(&mb, "the buffer has %zu bytes; the model needs %zu", buf_size, size);
        st = NNLA_EWORKSPACE;
    }
    if (st == NNLA_OK) {
        size_t n = protobuf_c_message_pack(&m->base, buf);
        if (n != size) st = NNLA_EINTERNAL;
    }
    exp_free(&e);
    if (st != NNLA_OK) return st;
    nnla__onnx_msg_clear(&mb);
    if (written) *written = size;
    return NNLA_OK;
}

nnla_status nnla_onnx_save(const nnla_net *net, const char *path, unsigned flags, char *msg, size_t msg_size)
{
    nnla__msgbuf mb = {msg, msg_size};
    if (path == NULL) {
        nnla__onnx_msg(&mb, "a required pointer argument is NULL");
        return NNLA_ENULL;
    }
    NNLA__TRY(check_args(net, flags, &mb));
    xctx e;
    exp_init(&e, net, flags, &mb);
    Onnx__ModelProto *m;
    size_t size;
    nnla_status st = build_model(&e, &m, &size);
    uint8_t *buf = NULL;
    if (st == NNLA_OK) {
        buf = malloc(size ? size : 1);
        if (buf == NULL) {
            nnla__onnx_msg(&mb, "out of memory for the %zu bytes of the model", size);
            st = NNLA_ENOMEM;
        } else if (protobuf_c_message_pack(&m->base, buf) != size) {
            st = NNLA_EINTERNAL;
        }
    }
    exp_free(&e);
    if (st != NNLA_OK) {
        free(buf);
        return st;
    }
    /* "x" (C11) creates the file only if it does not exist: then a failed write may remove it. */
    errno = 0;
    int created = 1;
    FILE *f = fopen(path, "wbx");
    if (f == NULL) {
        created = 0;
        errno = 0;
        f = fopen(path, "wb");
    }
    if (f == NULL) {
        int err = errno;
        free(buf);
        nnla__onnx_msg(&mb, "cannot create '%s': %s", path, strerror(err));
        errno = err;
        return NNLA_EIO;
    }
    int err = 0;
    if (fwrite(buf, 1, size, f) != size) err = errno ? errno : EIO;
    if (fclose(f) != 0 && err == 0) err = errno ? errno : EIO;
    free(buf);
    if (err) {
        if (created) remove(path);
        nnla__onnx_msg(&mb, "cannot write '%s': %s", path, strerror(err));
        errno = err;
        return NNLA_EIO;
    }
    nnla__onnx_msg_clear(&mb);
    return NNLA_OK;
}
