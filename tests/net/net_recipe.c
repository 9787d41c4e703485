/*
 * net_recipe DIR: build an nnla_net from DIR/recipe.txt and the .npy files beside it, run it on
 * DIR/x.npy, and compare with DIR/y.npy (written by PyTorch, tests/net/torch_net_check.py).
 *
 * The recipe is one line per item, `key=value` words after the first:
 *   input C H W
 *   dense w=FILE [b=FILE] [act=NAME[:P]] [src=I]
 *   conv2d w=FILE [b=FILE] in=C out=M k=KH,KW s=SH,SW pad=T,L,B,R d=DH,DW g=G [act=...] [src=I]
 *   pool2d kind=max|avg k=KH,KW s=SH,SW pad=T,L,B,R ceil=0|1 cip=0|1 [src=I]
 *   global_avgpool | flatten [src=I]
 *   act act=NAME[:P] [src=I]
 *   batchnorm features=C gamma=FILE beta=FILE mean=FILE var=FILE eps=E [src=I]
 *   dropout p=P [src=I]
 *   add src=I src2=J            (I, J: a layer index, or -1 for the network's input)
 *   check rtol=R atol=A
 * It prints the largest error and exits 0 when every output is within atol + rtol |y|, for the
 * plain forward pass, a KEEP context (the same bits), and the pass after folding BatchNorms and
 * fusing activations (within the tolerance).
 *
 * When DIR/dy.npy exists it also runs the backward pass (a GRAD context: inference form) and writes
 * DIR/grad.npy (the parameter block's gradient) and DIR/dx.npy; with a second argument `train`, the
 * training form too (a TRAIN context: BatchNorm on batch statistics): DIR/y_train.npy,
 * DIR/grad_train.npy, DIR/dx_train.npy and DIR/buffers_train.npy (the running statistics after
 * nnla_net_update_stats). The Python side compares them with PyTorch's autograd.
 *
 * With the second argument `steps`, it trains instead: DIR/train.txt gives the optimizer
 * (`optim sgd|adam|adamw lr=R momentum=M dampening=D nesterov=0|1 wd=W beta1=B1 beta2=B2 eps=E`),
 * `steps S`, and the data are DIR/xs.npy (S batches of the recipe's batch, one after the other) and
 * DIR/labels.npy (their class indices, as doubles); the trainer runs S cross-entropy steps in order
 * (no shuffling), and DIR/params_steps.npy and DIR/buffers_steps.npy receive the parameters and
 * running statistics after them, for the comparison with torch.optim.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnla.h>

#define MAXF 16

static const char *dir;

static int fail(const char *what, nnla_status st)
{
    fprintf(stderr, "net_recipe: %s: %s (%s)\n", what, nnla_strerror(st), nnla_status_name(st));
    return 1;
}

/* The value of key= among the words, or NULL. */
static const char *get(char **words, int n, const char *key)
{
    size_t k = strlen(key);
    for (int i = 1; i < n; i++)
        if (strncmp(words[i], key, k) == 0 && words[i][k] == '=') return words[i] + k + 1;
    return NULL;
}

static size_t getz(char **w, int n, const char *key, size_t dflt)
{
    const char *v = get(w, n, key);
    return v ? (size_t)strtoull(v, NULL, 10) : dflt;
}

/* "A,B[,C,D]" into up to 4 sizes. */
static void getv(char **w, int n, const char *key, size_t *out, int count, size_t dflt)
{
    for (int i = 0; i < count; i++) out[i] = dflt;
    const char *v = get(w, n, key);
    for (int i = 0; v && i < count; i++) {
        char *end;
        out[i] = (size_t)strtoull(v, &end, 10);
        v = *end == ',' ? end + 1 : NULL;
    }
}

static size_t getsrc(char **w, int n, const char *key)
{
    const char *v = get(w, n, key);
    if (v == NULL) return NNLA_NET_PREV;
    long s = strtol(v, NULL, 10);
    return s < 0 ? NNLA_NET_INPUT : (size_t)s;
}

/* Arrays loaded for the current line; freed after the layer is added (the network copies). */
static nnla_array arrs[MAXF];
static int narr;

static const double *load(char **w, int n, const char *key)
{
    const char *f = get(w, n, key);
    if (f == NULL) return NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, f);
    nnla_array *a = &arrs[narr++];
    nnla_status st = nnla_npy_read(path, a);
    if (st != NNLA_OK) {
        fprintf(stderr, "net_recipe: cannot read %s\n", path);
        exit(1);
    }
    return a->data;
}

static void free_arrays(void)
{
    for (int i = 0; i < narr; i++) nnla_array_free(&arrs[i]);
    narr = 0;
}

static nnla_act getact(char **w, int n)
{
    nnla_act a = nnla_act_default(NNLA_ACT_IDENTITY);
    const char *v = get(w, n, "act");
    if (v && nnla_act_parse(v, &a) != NNLA_OK) {
        fprintf(stderr, "net_recipe: bad activation %s\n", v);
        exit(1);
    }
    return a;
}

static double maxerr(const double *a, const double *b, size_t n, double rtol, double atol, int *bad)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]);
        if (!(e <= atol + rtol * fabs(b[i]))) *bad = 1;
        if (e > worst || e != e) worst = e;
    }
    return worst;
}

/* The `steps` mode: train.txt, xs.npy, labels.npy -> params_steps.npy, buffers_steps.npy. */
static int train_steps(nnla_net *net)
{
    char path[4200], line[1024];
    snprintf(path, sizeof path, "%s/train.txt", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) return fail("train.txt", NNLA_EIO);
    nnla_train_config cfg = nnla_train_config_default();
    size_t steps = 0;
    double lr = 0.01;
    while (fgets(line, sizeof line, f)) {
        char *w[32];
        int n = 0;
        for (char *t = strtok(line, " \t\n"); t && n < 32; t = strtok(NULL, " \t\n")) w[n++] = t;
        if (n == 0) continue;
        if (strcmp(w[0], "steps") == 0) steps = strtoull(w[1], NULL, 10);
        if (strcmp(w[0], "optim") != 0) continue;
        const char *v;
        if (strcmp(w[1], "sgd") == 0) {
            cfg.optim = nnla_optim_sgd_default();
            if ((v = get(w, n, "momentum"))) cfg.optim.sgd.momentum = strtod(v, NULL);
            if ((v = get(w, n, "dampening"))) cfg.optim.sgd.dampening = strtod(v, NULL);
            if ((v = get(w, n, "nesterov"))) cfg.optim.sgd.nesterov = (int)strtol(v, NULL, 10);
            if ((v = get(w, n, "wd"))) cfg.optim.sgd.weight_decay = strtod(v, NULL);
        } else {
            cfg.optim = strcmp(w[1], "adam") == 0 ? nnla_optim_adam_default() : nnla_optim_adamw_default();
            if ((v = get(w, n, "beta1"))) cfg.optim.adam.beta1 = strtod(v, NULL);
            if ((v = get(w, n, "beta2"))) cfg.optim.adam.beta2 = strtod(v, NULL);
            if ((v = get(w, n, "eps"))) cfg.optim.adam.eps = strtod(v, NULL);
            if ((v = get(w, n, "wd"))) cfg.optim.adam.weight_decay = strtod(v, NULL);
        }
        if ((v = get(w, n, "lr"))) lr = strtod(v, NULL);
    }
    fclose(f);
    nnla_array xs, lab;
    snprintf(path, sizeof path, "%s/xs.npy", dir);
    if (nnla_npy_read(path, &xs) != NNLA_OK) return fail("xs.npy", NNLA_EIO);
    snprintf(path, sizeof path, "%s/labels.npy", dir);
    if (nnla_npy_read(path, &lab) != NNLA_OK) return fail("labels.npy", NNLA_EIO);
    size_t total = xs.shape[0], batch = steps ? total / steps : 0, nin = xs.size / (total ? total : 1);
    cfg.lr = nnla_lr_constant(lr);
    cfg.batch = batch;
    cfg.shuffle = 0;
    size_t *labels = malloc((total + 1) * sizeof *labels);
    for (size_t i = 0; i < total; i++) labels[i] = (size_t)lab.data[i];
    nnla_trainer *tr;
    nnla_status st = nnla_trainer_create(net, &cfg, &tr);
    if (st != NNLA_OK) return fail("trainer", st);
    for (size_t s = 0; s < steps; s++) {
        st = nnla_trainer_step(tr, xs.data + s * batch * nin, labels + s * batch, NULL, batch, NULL, NULL);
        if (st != NNLA_OK) return fail("step", st);
    }
    double *p, *b;
    size_t np, nb;
    nnla_net_params(net, &p, &np);
    nnla_net_buffers(net, &b, &nb);
    snprintf(path, sizeof path, "%s/params_steps.npy", dir);
    nnla_npy_write(path, p, 1, &np);
    snprintf(path, sizeof path, "%s/buffers_steps.npy", dir);
    nnla_npy_write(path, nb ? b : p, 1, &nb);
    printf("%s: %zu steps of %s trained\n", dir, steps, cfg.optim.kind == NNLA_OPTIM_SGD ? "sgd" : "adam(w)");
    nnla_trainer_free(tr);
    nnla_net_free(net);
    free(labels);
    nnla_array_free(&xs);
    nnla_array_free(&lab);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2 && !(argc == 3 && (strcmp(argv[2], "train") == 0 || strcmp(argv[2], "steps") == 0))) {
        fprintf(stderr, "usage: net_recipe DIR [train|steps]\n");
        return 2;
    }
    dir = argv[1];
    char path[4096];
    snprintf(path, sizeof path, "%s/recipe.txt", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) return fail("recipe.txt", NNLA_EIO);
    char line[4096];
    nnla_net *net = NULL;
    double rtol = 1e-12, atol = 1e-12;
    while (fgets(line, sizeof line, f)) {
        char *words[64];
        int n = 0;
        for (char *t = strtok(line, " \t\n"); t && n < 64; t = strtok(NULL, " \t\n")) words[n++] = t;
        if (n == 0 || words[0][0] == '#') continue;
        const char *k = words[0];
        nnla_status st = NNLA_OK;
        nnla_layer_spec s;
        int add = 1;
        if (strcmp(k, "input") == 0) {
            st = nnla_net_create(strtoull(words[1], NULL, 10), strtoull(words[2], NULL, 10),
                                 strtoull(words[3], NULL, 10), &net);
            add = 0;
        } else if (strcmp(k, "check") == 0) {
            rtol = strtod(get(words, n, "rtol"), NULL);
            atol = strtod(get(words, n, "atol"), NULL);
            add = 0;
        } else if (strcmp(k, "dense") == 0) {
            size_t shape[3];
            nnla_net_output_shape(net, shape);
            size_t out = getz(words, n, "out", 0), in = shape[0] * shape[1] * shape[2];
            if (get(words, n, "src")) {
                size_t src = getsrc(words, n, "src"), so[3];
                if (src == NNLA_NET_INPUT)
                    nnla_net_input_shape(net, so);
                else
                    nnla_net_layer_shape(net, src, NULL, so);
                in = so[0] * so[1] * so[2];
            }
            s = nnla_layer_dense(nnla_cmat_view(load(words, n, "w"), out, in, in), load(words, n, "b"),
                                 getact(words, n));
        } else if (strcmp(k, "conv2d") == 0) {
            size_t kk[2], ss[2], pad[4], dd[2];
            getv(words, n, "k", kk, 2, 1);
            getv(words, n, "s", ss, 2, 1);
            getv(words, n, "pad", pad, 4, 0);
            getv(words, n, "d", dd, 2, 1);
            nnla_conv2d_desc d = nnla_conv2d_desc_make(getz(words, n, "in", 0), getz(words, n, "out", 0), kk[0], kk[1]);
            d.stride_h = ss[0];
            d.stride_w = ss[1];
            d.pad_top = pad[0];
            d.pad_left = pad[1];
            d.pad_bottom = pad[2];
            d.pad_right = pad[3];
            d.dilation_h = dd[0];
            d.dilation_w = dd[1];
            d.groups = getz(words, n, "g", 1);
            s = nnla_layer_conv2d(&d, load(words, n, "w"), load(words, n, "b"), getact(words, n));
        } else if (strcmp(k, "pool2d") == 0) {
            size_t kk[2], ss[2], pad[4];
            getv(words, n, "k", kk, 2, 1);
            getv(words, n, "s", ss, 2, 1);
            getv(words, n, "pad", pad, 4, 0);
            const char *kind = get(words, n, "kind");
            nnla_pool2d_desc d = nnla_pool2d_desc_make(strcmp(kind, "max") == 0 ? NNLA_POOL_MAX : NNLA_POOL_AVG,
                                                       kk[0], kk[1]);
            d.stride_h = ss[0];
            d.stride_w = ss[1];
            d.pad_top = pad[0];
            d.pad_left = pad[1];
            d.pad_bottom = pad[2];
            d.pad_right = pad[3];
            d.ceil_mode = (int)getz(words, n, "ceil", 0);
            d.count_include_pad = (int)getz(words, n, "cip", 1);
            s = nnla_layer_pool2d(&d);
        } else if (strcmp(k, "global_avgpool") == 0) {
            s = nnla_layer_global_avgpool();
        } else if (strcmp(k, "flatten") == 0) {
            s = nnla_layer_flatten();
        } else if (strcmp(k, "act") == 0) {
            s = nnla_layer_act(getact(words, n));
        } else if (strcmp(k, "batchnorm") == 0) {
            s = nnla_layer_batchnorm(getz(words, n, "features", 0), load(words, n, "gamma"), load(words, n, "beta"),
                                     load(words, n, "mean"), load(words, n, "var"));
            s.eps = strtod(get(words, n, "eps"), NULL);
        } else if (strcmp(k, "dropout") == 0) {
            s = nnla_layer_dropout(strtod(get(words, n, "p"), NULL));
        } else if (strcmp(k, "add") == 0) {
            s = nnla_layer_add(getsrc(words, n, "src"), getsrc(words, n, "src2"));
        } else {
            fprintf(stderr, "net_recipe: unknown line %s\n", k);
            return 2;
        }
        if (add) {
            if (strcmp(k, "add") != 0) s.src = getsrc(words, n, "src");
            st = nnla_net_append(net, &s);
        }
        free_arrays();
        if (st != NNLA_OK) return fail(k, st);
    }
    fclose(f);

    if (argc == 3 && strcmp(argv[2], "steps") == 0) return train_steps(net);

    nnla_array x, y;
    snprintf(path, sizeof path, "%s/x.npy", dir);
    if (nnla_npy_read(path, &x) != NNLA_OK) return fail("x.npy", NNLA_EIO);
    snprintf(path, sizeof path, "%s/y.npy", dir);
    if (nnla_npy_read(path, &y) != NNLA_OK) return fail("y.npy", NNLA_EIO);
    size_t batch = x.shape[0];
    double *out = malloc(y.size * sizeof *out), *out2 = malloc(y.size * sizeof *out2);
    size_t bytes, kb;
    nnla_status st = nnla_net_workspace_size(net, batch, &bytes);
    if (st != NNLA_OK) return fail("workspace", st);
    void *work = malloc(bytes);
    if ((st = nnla_net_forward(net, batch, x.data, out, work, bytes)) != NNLA_OK) return fail("forward", st);
    int bad = 0;
    double e1 = maxerr(out, y.data, y.size, rtol, atol, &bad);
    /* a KEEP context: the same bits */
    if ((st = nnla_net_ctx_size(net, batch, NNLA_CTX_KEEP, &kb, NULL)) != NNLA_OK) return fail("ctx", st);
    void *mem = malloc(kb);
    nnla_net_ctx *ctx;
    if ((st = nnla_net_ctx_init(net, batch, NNLA_CTX_KEEP, mem, kb, &ctx)) != NNLA_OK) return fail("ctx init", st);
    if ((st = nnla_net_run(net, ctx, batch, 0, nnla_net_num_layers(net) - 1, x.data, out2)) != NNLA_OK)
        return fail("run", st);
    if (memcmp(out, out2, y.size * sizeof *out) != 0) {
        fprintf(stderr, "net_recipe: the KEEP context differs from nnla_net_forward\n");
        bad = 1;
    }
    /* gradients, for the comparison with autograd */
    nnla_array dy;
    snprintf(path, sizeof path, "%s/dy.npy", dir);
    if (nnla_npy_read(path, &dy) == NNLA_OK) {
        for (int mode = 0; mode < (argc > 2 ? 2 : 1); mode++) {
            unsigned flags = mode ? NNLA_CTX_TRAIN : NNLA_CTX_GRAD;
            size_t gb, np = nnla_net_num_params(net), shape1 = 0;
            if ((st = nnla_net_ctx_size(net, batch, flags, &gb, NULL)) != NNLA_OK) return fail("ctx grad", st);
            void *gm = malloc(gb);
            double *grad = malloc((np + 1) * sizeof *grad), *dx = malloc(x.size * sizeof *dx);
            nnla_net_ctx *gc;
            if ((st = nnla_net_ctx_init(net, batch, flags, gm, gb, &gc)) != NNLA_OK) return fail("ctx grad init", st);
            if ((st = nnla_net_run(net, gc, batch, 0, nnla_net_num_layers(net) - 1, x.data, out2)) != NNLA_OK)
                return fail("run grad", st);
            if ((st = nnla_net_backward(net, gc, batch, dy.data, grad, dx)) != NNLA_OK) return fail("backward", st);
            char name[4200];
            shape1 = np;
            snprintf(name, sizeof name, "%s/grad%s.npy", dir, mode ? "_train" : "");
            nnla_npy_write(name, grad, 1, &shape1);
            snprintf(name, sizeof name, "%s/dx%s.npy", dir, mode ? "_train" : "");
            nnla_npy_write(name, dx, x.ndim, x.shape);
            if (mode) {
                snprintf(name, sizeof name, "%s/y_train.npy", dir);
                nnla_npy_write(name, out2, y.ndim, y.shape);
                double *bufs;
                size_t nb;
                nnla_net_buffers(net, &bufs, &nb);
                double *keep = malloc((nb + 1) * sizeof *keep);
                if (nb) memcpy(keep, bufs, nb * sizeof *keep);
                if ((st = nnla_net_update_stats(net, gc)) != NNLA_OK) return fail("update stats", st);
                snprintf(name, sizeof name, "%s/buffers_train.npy", dir);
                nnla_npy_write(name, nb ? bufs : grad, 1, &nb);
                if (nb) memcpy(bufs, keep, nb * sizeof *keep); /* the folding below uses the originals */
                free(keep);
            }
            free(gm), free(grad), free(dx);
        }
        nnla_array_free(&dy);
    }
    /* folded and fused */
    size_t folded = 0, fused = 0;
    if ((st = nnla_net_fold_batchnorm(net, &folded)) != NNLA_OK) return fail("fold", st);
    if ((st = nnla_net_fuse_activations(net, &fused)) != NNLA_OK) return fail("fuse", st);
    free(work);
    if ((st = nnla_net_workspace_size(net, batch, &bytes)) != NNLA_OK) return fail("workspace 2", st);
    work = malloc(bytes);
    if ((st = nnla_net_forward(net, batch, x.data, out2, work, bytes)) != NNLA_OK) return fail("forward 2", st);
    double e2 = maxerr(out2, y.data, y.size, rtol, atol, &bad);

    printf("%s: layers %zu, max error %.3g (folded %zu BatchNorms, fused %zu activations: %.3g)%s\n", dir,
           nnla_net_num_layers(net), e1, folded, fused, e2, bad ? "  FAILED" : "");
    free(out), free(out2), free(work), free(mem);
    nnla_array_free(&x);
    nnla_array_free(&y);
    nnla_net_free(net);
    return bad;
}
