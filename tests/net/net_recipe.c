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

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: net_recipe DIR\n");
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
