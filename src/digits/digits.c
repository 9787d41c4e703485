/*
 * nnla-digits: every part of the paper at work on real data, in one run.
 *
 * 1797 handwritten digits (8 x 8, UCI via scikit-learn): a stratified 80/20 split; a small CNN
 * initialized by the library's initializers and trained with Adam; its layers' spectra, condition
 * numbers, ranks, convolution operator norms and the network's Lipschitz bound; SVD compression at
 * several energies; a second model trained under spectral normalization; FGSM and PGD against both;
 * PCA of the inputs; the model saved as ONNX and loaded back; a self-contained report.html.
 *
 *   nnla-digits [--data digits.csv.gz] [--out DIR] [--epochs N] [--seed S] [--threads T]
 *
 * Ends with one line: RESULT accuracy=... compressed_accuracy=... params_ratio=... lipschitz=...
 * fgsm_accuracy=... seconds=...: the plain model's held-out accuracy; the compressed (energy 0.8)
 * and fine-tuned model's accuracy and its share of the parameters; the plain model's Lipschitz
 * bound; its accuracy under FGSM at eps 0.1; the whole run's time.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include <nnla.h>

#include "report.h"

#ifndef NNLA_HAVE_ONNX
#define NNLA_HAVE_ONNX 0
#endif
#include <nnla/compress.h>

#ifndef NNLA_DIGITS_DATA
#define NNLA_DIGITS_DATA "digits.csv.gz"
#endif

#define NCLASS 10
#define NPIX 64

/* ------------------------------------------------------------------ small helpers */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double t_start, t_stage;

static void stage_done(const char *name)
{
    double t = now();
    printf("   [%s: %.2f s]\n", name, t - t_stage);
    fflush(stdout);
    t_stage = t;
}

static int check(nnla_status st, const char *what)
{
    if (st == NNLA_OK) return 1;
    fprintf(stderr, "nnla-digits: %s: %s (%s)\n", what, nnla_strerror(st), nnla_status_name(st));
    return 0;
}

#define TRY(call, what)                                                                            \
    do {                                                                                           \
        if (!check((call), (what))) return 1;                                                      \
    } while (0)

/* ------------------------------------------------------------------ data */

typedef struct data {
    double *x;  /* n x 64, pixels / 16 */
    size_t *y;  /* n labels */
    size_t n;
} data;

static int load_digits(const char *path, data *d)
{
    gzFile f = gzopen(path, "rb");
    if (f == NULL) return 0;
    size_t cap = 2048;
    d->x = malloc(cap * NPIX * sizeof *d->x);
    d->y = malloc(cap * sizeof *d->y);
    d->n = 0;
    char line[1024];
    while (d->x && d->y && d->n < cap && gzgets(f, line, sizeof line) != NULL) {
        char *p = line, *end;
        int ok = 1;
        for (int j = 0; j <= NPIX && ok; j++) {
            long v = strtol(p, &end, 10);
            ok = end != p && v >= 0 && v <= 16;
            if (j < NPIX)
                d->x[d->n * NPIX + j] = (double)v / 16.0;
            else
                d->y[d->n] = (size_t)v;
            p = *end == ',' ? end + 1 : end;
        }
        if (ok && d->y[d->n] < NCLASS) d->n++;
    }
    gzclose(f);
    return d->n > 0;
}

/* The data file: --data, else next to the program (an installed share/ or the source tree). */
static const char *find_data(const char *given)
{
    if (given != NULL) return given;
    static const char *const candidates[] = {NNLA_DIGITS_DATA, "docs/examples/data/digits.csv.gz",
                                             "../docs/examples/data/digits.csv.gz"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        FILE *f = fopen(candidates[i], "rb");
        if (f != NULL) {
            fclose(f);
            return candidates[i];
        }
    }
    return NULL;
}

/* A stratified split: in every class, the first 80% of a seeded shuffle train, the rest test. */
static int split(const data *all, uint64_t seed, data *train, data *test)
{
    size_t *idx = malloc(all->n * sizeof *idx), nt = 0, ns = 0;
    train->x = malloc(all->n * NPIX * sizeof(double));
    train->y = malloc(all->n * sizeof(size_t));
    test->x = malloc(all->n * NPIX * sizeof(double));
    test->y = malloc(all->n * sizeof(size_t));
    if (!idx || !train->x || !train->y || !test->x || !test->y) {
        free(idx);
        return 0;
    }
    nnla_rng rng;
    nnla_rng_seed(&rng, seed);
    for (size_t c = 0; c < NCLASS; c++) {
        size_t m = 0;
        for (size_t i = 0; i < all->n; i++)
            if (all->y[i] == c) idx[m++] = i;
        nnla_rng_shuffle(&rng, idx, m);
        size_t cut = (m * 8 + 5) / 10;
        for (size_t k = 0; k < m; k++) {
            data *dst = k < cut ? train : test;
            size_t *cnt = k < cut ? &nt : &ns;
            memcpy(dst->x + *cnt * NPIX, all->x + idx[k] * NPIX, NPIX * sizeof(double));
            dst->y[*cnt] = c;
            (*cnt)++;
        }
    }
    /* (the training set is in class order: the trainer shuffles it every epoch) */
    train->n = nt;
    test->n = ns;
    free(idx);
    return 1;
}

/* ------------------------------------------------------------------ the model */

/* conv 1->16 3x3 pad 1, ReLU, max pool 2, conv 16->32 3x3 pad 1, ReLU, flatten, dropout 0.2, dense
 * 512->64, ReLU, dense 64->10 (logits), initialized by He (Kaiming) uniform with each layer's gain. */
#define C1 16
#define C2 32
static nnla_status make_model(uint64_t seed, nnla_net **out)
{
    static double zeros[512 * 64]; /* the largest weight; the initializers overwrite them all */
    nnla_conv2d_desc c1 = nnla_conv2d_desc_make(1, C1, 3, 3), c2 = nnla_conv2d_desc_make(C1, C2, 3, 3);
    c1.pad_top = c1.pad_bottom = c1.pad_left = c1.pad_right = 1;
    c2.pad_top = c2.pad_bottom = c2.pad_left = c2.pad_right = 1;
    nnla_pool2d_desc pool = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
    nnla_act relu = nnla_act_default(NNLA_ACT_RELU);
    nnla_net *net = NULL;
    nnla_status st = nnla_net_create(1, 8, 8, &net);
    if (!st) st = nnla_net_add_conv2d(net, &c1, zeros, zeros, relu);
    if (!st) st = nnla_net_add_pool2d(net, &pool);
    if (!st) st = nnla_net_add_conv2d(net, &c2, zeros, zeros, relu);
    if (!st) st = nnla_net_add_flatten(net);
    if (!st) st = nnla_net_add_dropout(net, 0.2);
    if (!st) st = nnla_net_add_dense(net, nnla_cmat_view(zeros, 64, 16 * C2, 16 * C2), zeros, relu);
    if (!st) st = nnla_net_add_dense(net, nnla_cmat_view(zeros, NCLASS, 64, 64), zeros,
                                     nnla_act_default(NNLA_ACT_IDENTITY));
    nnla_net_init_opts io = nnla_net_init_opts_default();
    size_t wb = 0;
    if (!st) st = nnla_net_init_workspace_size(net, io.kind, &wb);
    void *w = malloc(wb ? wb : 1);
    nnla_rng rng;
    nnla_rng_seed(&rng, seed);
    if (!st) st = nnla_net_init(net, &io, &rng, w, wb);
    free(w);
    if (st) {
        nnla_net_free(net);
        return st;
    }
    *out = net;
    return NNLA_OK;
}

/* Accuracy of a network on a data set (inference form). */
static nnla_status accuracy(const nnla_net *net, const data *d, double *acc)
{
    size_t bytes;
    nnla_status st = nnla_net_workspace_size(net, d->n, &bytes);
    if (st) return st;
    void *w = malloc(bytes);
    double *out = malloc(d->n * NCLASS * sizeof *out);
    st = w && out ? nnla_net_forward(net, d->n, d->x, out, w, bytes) : NNLA_ENOMEM;
    size_t right = 0;
    for (size_t i = 0; !st && i < d->n; i++) {
        size_t best = 0;
        for (size_t k = 1; k < NCLASS; k++)
            if (out[i * NCLASS + k] > out[i * NCLASS + best]) best = k;
        right += best == d->y[i];
    }
    if (!st) *acc = (double)right / (double)d->n;
    free(w), free(out);
    return st;
}

/* ------------------------------------------------------------------ training */

typedef struct curve {
    double epoch[64], loss[64], train_acc[64], test_acc[64];
    size_t n;
} curve;

static int print_epoch(const nnla_epoch *e, void *user)
{
    curve *c = user;
    if (c->n < 64) {
        c->epoch[c->n] = (double)e->epoch;
        c->loss[c->n] = e->loss;
        c->train_acc[c->n] = e->accuracy;
        c->test_acc[c->n] = e->val_accuracy;
        c->n++;
    }
    printf("   epoch %2zu  loss %.4f  train %.2f%%  held-out %.2f%%  lr %.2e  %.2f s\n", e->epoch, e->loss,
           100 * e->accuracy, 100 * e->val_accuracy, e->lr, now() - t_start);
    fflush(stdout);
    return 0;
}

static nnla_status train(nnla_net *net, const data *tr, const data *te, size_t epochs, double lr, uint64_t seed,
                         nnla_train_reg reg, double reg_value, curve *c)
{
    nnla_train_config cfg = nnla_train_config_default();
    cfg.optim = nnla_optim_adam_default();
    cfg.lr = nnla_lr_cosine(lr, epochs * ((tr->n + 31) / 32), 1e-5);
    cfg.batch = 32;
    cfg.seed = seed;
    cfg.reg = reg;
    cfg.reg_value = reg_value;
    nnla_trainer *t = NULL;
    nnla_status st = nnla_trainer_create(net, &cfg, &t);
    nnla_dataset dtr = {tr->x, tr->n, tr->y, NULL}, dte = {te->x, te->n, te->y, NULL};
    c->n = 0;
    if (!st) st = nnla_train(t, &dtr, &dte, epochs, print_epoch, c, NULL);
    nnla_trainer_free(t);
    return st;
}

/* ------------------------------------------------------------------ inspection */

/* ------------------------------------------------------------------ compression */

typedef struct comp_row {
    double energy;
    size_t params;
    double accuracy;
} comp_row;

/* How many samples two networks classify alike. */
static size_t same_predictions(const nnla_net *a, const nnla_net *b, const data *d)
{
    size_t ba, bb, same = 0;
    if (nnla_net_workspace_size(a, d->n, &ba) || nnla_net_workspace_size(b, d->n, &bb)) return 0;
    void *wa = malloc(ba), *wb = malloc(bb);
    double *ya = malloc(d->n * NCLASS * sizeof *ya), *yb = malloc(d->n * NCLASS * sizeof *yb);
    if (wa && wb && ya && yb && nnla_net_forward(a, d->n, d->x, ya, wa, ba) == NNLA_OK &&
        nnla_net_forward(b, d->n, d->x, yb, wb, bb) == NNLA_OK)
        for (size_t i = 0; i < d->n; i++) {
            size_t pa = 0, pb = 0;
            for (size_t k = 1; k < NCLASS; k++) {
                if (ya[i * NCLASS + k] > ya[i * NCLASS + pa]) pa = k;
                if (yb[i * NCLASS + k] > yb[i * NCLASS + pb]) pb = k;
            }
            same += pa == pb;
        }
    free(wa), free(wb), free(ya), free(yb);
    return same;
}

/* ------------------------------------------------------------------ the report */

static void write_report(FILE *f, size_t ntrain, const curve *plain, const curve *regc, const nnla_layer_diag *diag, size_t nl,
                         const double *spectrum, double lip, double reg_lip, double acc, double reg_acc,
                         const double *eps, size_t neps, double att[2][2][6], const double *proj, const size_t *labels,
                         size_t n, const nnla_pca *pca, const comp_row *comp, size_t ncomp, const comp_row *ft,
                         size_t ft_epochs, size_t params)
{
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>nnla-digits report</title>\n"
               "<style>body{font-family:sans-serif;max-width:1340px;margin:2em auto;color:#222}"
               "figure{display:inline-block;margin:0.5em}table{border-collapse:collapse;margin:1em 0}"
               "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}h1{font-size:1.6em}</style>"
               "</head><body>\n<h1>libnnla on the handwritten digits</h1>\n");
    fprintf(f, "<p>libnnla %s. A CNN trained on %zu of 1797 digits: held-out accuracy %.2f%%; under spectral "
               "normalization %.2f%%. Lipschitz bounds %.4g (plain) and %.4g (regularized). Compressed to %.3f of its "
               "parameters and fine-tuned: %.2f%%.</p>\n",
            nnla_version(), ntrain, 100 * acc, 100 * reg_acc, lip, reg_lip, (double)ft->params / (double)params,
            100 * ft->accuracy);
    /* training curves */
    rep_series tc[4] = {{"plain", plain->epoch, plain->loss, plain->n, 0},
                        {"spectral norm", regc->epoch, regc->loss, regc->n, 1},
                        {"plain", plain->epoch, plain->test_acc, plain->n, 0},
                        {"spectral norm", regc->epoch, regc->test_acc, regc->n, 1}};
    rep_chart c1 = {"Training loss", "epoch", "mean cross-entropy", tc, 2, 1, 0, 0};
    rep_chart c2 = {"Held-out accuracy", "epoch", "accuracy", tc + 2, 2, 0, 0, 0};
    fputs("<h2>Training</h2>\n<figure>", f);
    rep_line_chart(f, &c1);
    fputs("</figure><figure>", f);
    rep_line_chart(f, &c2);
    fputs("</figure>\n", f);
    /* spectra */
    rep_series sp[8];
    double idx[512];
    for (size_t i = 0; i < 512; i++) idx[i] = (double)(i + 1);
    size_t ns = 0;
    static char names[8][48];
    fputs("<h2>Singular spectra of the layers</h2>\n<table><tr><th>layer</th><th>kind</th><th>weight</th>"
          "<th>sigma_max</th><th>sigma_min</th><th>condition</th><th>stable rank</th><th>effective rank</th>"
          "<th>operator norm</th></tr>\n",
          f);
    for (size_t i = 0; i < nl; i++) {
        if (!diag[i].has_weight) continue;
        const nnla_spectral_diag *d = &diag[i].weight;
        fprintf(f, "<tr><td>%zu</td><td>%s</td><td>%zu x %zu</td><td>%.4g</td><td>%.4g</td><td>%.4g</td><td>%.3g</td>"
                   "<td>%.3g</td><td>%.4g</td></tr>\n",
                i, nnla_layer_kind_name(diag[i].kind), d->rows, d->cols, d->sigma_max, d->sigma_min, d->cond,
                d->stable_rank, d->effective_rank, diag[i].op_norm);
        if (ns < 8) {
            snprintf(names[ns], sizeof names[ns], "layer %zu (%s)", i, nnla_layer_kind_name(diag[i].kind));
            sp[ns] = (rep_series){names[ns], idx, spectrum + diag[i].spectrum_offset, d->k < 512 ? d->k : 512, 0};
            ns++;
        }
    }
    fputs("</table>\n<figure>", f);
    rep_chart c3 = {"Singular values of each layer's weight", "index", "singular value", sp, ns, 1, 0, 0};
    rep_line_chart(f, &c3);
    fputs("</figure>\n", f);
    /* compression */
    double cp[8], ca[8];
    fputs("<h2>Compression</h2>\n<table><tr><th>energy kept</th><th>parameters</th><th>of the original</th>"
          "<th>held-out accuracy</th></tr>\n",
          f);
    fprintf(f, "<tr><td>(none)</td><td>%zu</td><td>1</td><td>%.2f%%</td></tr>\n", params, 100 * acc);
    for (size_t k = 0; k < ncomp && k < 8; k++) {
        fprintf(f, "<tr><td>%.3f</td><td>%zu</td><td>%.3f</td><td>%.2f%%</td></tr>\n", comp[k].energy, comp[k].params,
                (double)comp[k].params / (double)params, 100 * comp[k].accuracy);
        cp[k] = (double)comp[k].params;
        ca[k] = comp[k].accuracy;
    }
    fprintf(f, "<tr><td>%.3f, then %zu epochs of training</td><td>%zu</td><td>%.3f</td><td>%.2f%%</td></tr>\n",
            ft->energy, ft_epochs, ft->params, (double)ft->params / (double)params, 100 * ft->accuracy);
    fputs("</table>\n<figure>", f);
    const double ftp = (double)ft->params;
    rep_series cs[2] = {{"truncated SVD", cp, ca, ncomp < 8 ? ncomp : 8, 0}, {"then fine-tuned", &ftp, &ft->accuracy, 1, 0}};
    rep_chart cc = {"Accuracy against the number of parameters", "parameters", "held-out accuracy", cs, 2, 0, 0, 0};
    rep_line_chart(f, &cc);
    fputs("</figure>\n", f);
    /* attacks */
    rep_series at[4] = {{"FGSM, plain", eps, att[0][0], neps, 0},
                        {"FGSM, spectral norm", eps, att[1][0], neps, 1},
                        {"PGD, plain", eps, att[0][1], neps, 0},
                        {"PGD, spectral norm", eps, att[1][1], neps, 1}};
    rep_chart c4 = {"Accuracy under attack (L-infinity)", "eps (pixels in [0, 1])", "held-out accuracy", at, 4, 0, 0, 1};
    fputs("<h2>Adversarial robustness</h2>\n<figure>", f);
    rep_line_chart(f, &c4);
    fputs("</figure>\n", f);
    /* PCA */
    double *px = malloc(n * sizeof *px), *py = malloc(n * sizeof *py);
    if (!px || !py) {
        free(px), free(py);
        fputs("<p>(out of memory for the PCA plot)</p></body></html>\n", f);
        return;
    }
    for (size_t i = 0; i < n; i++) px[i] = proj[i * 10], py[i] = proj[i * 10 + 1];
    double pcn[10], ratio[10];
    for (size_t k = 0; k < 10; k++) pcn[k] = (double)(k + 1), ratio[k] = pca->explained_variance_ratio[k];
    rep_series ev = {"explained variance ratio", pcn, ratio, 10, 0};
    rep_chart c5 = {"PCA: explained variance", "component", "ratio", &ev, 1, 0, 0, 0};
    fputs("<h2>Dimensionality reduction</h2>\n<figure>", f);
    rep_scatter(f, "The digits on their first two principal components", "component 1", "component 2", px, py,
                labels, n);
    fputs("</figure><figure>", f);
    rep_line_chart(f, &c5);
    fputs("</figure>\n</body></html>\n", f);
    free(px), free(py);
}

/* ------------------------------------------------------------------ the run */

static void usage(FILE *f)
{
    fprintf(f, "usage: nnla-digits [--data digits.csv.gz] [--out DIR] [--epochs N] [--seed S] [--threads T]\n"
               "Trains, inspects, compresses, regularizes and attacks a CNN on the 8 x 8 handwritten\n"
               "digits, and writes DIR/report.html (default DIR: nnla-digits-out) and DIR/digits.onnx.\n");
}

int main(int argc, char **argv)
{
    const char *data_path = NULL, *out_dir = "nnla-digits-out";
    size_t epochs = 20;
    uint64_t seed = 1;
    long threads = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        if (strcmp(argv[i], "--data") == 0)
            data_path = argv[++i];
        else if (strcmp(argv[i], "--out") == 0)
            out_dir = argv[++i];
        else if (strcmp(argv[i], "--epochs") == 0)
            epochs = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = strtol(argv[++i], NULL, 10);
        else {
            usage(stderr);
            return 2;
        }
    }
    if (epochs == 0 || epochs > 64) {
        fprintf(stderr, "nnla-digits: --epochs must be 1 .. 64\n");
        return 2;
    }
    /* One thread unless asked: the layers here are small (8 x 8 images, batches of 32), and a second
       OpenMP thread costs more in hand-offs than it gains (docs/performance.md). */
    if (threads < 1 || threads > 64 || nnla_blas_set_num_threads((int)threads) != NNLA_OK) {
        fprintf(stderr, "nnla-digits: --threads must be 1 .. %d\n", nnla_blas_max_threads());
        return 2;
    }
    t_start = t_stage = now();
    printf("nnla-digits: libnnla %s, %d thread(s), OpenBLAS %s build\n", nnla_version(), nnla_num_threads(),
           nnla_blas_parallel() == 2 ? "OpenMP" : nnla_blas_parallel() == 1 ? "pthread" : "serial");

    /* 1. data */
    const char *path = find_data(data_path);
    data all = {0}, tr = {0}, te = {0};
    if (path == NULL || !load_digits(path, &all)) {
        fprintf(stderr, "nnla-digits: cannot read the digits (%s); give --data PATH/digits.csv.gz\n",
                path ? path : "not found");
        return 1;
    }
    if (!split(&all, seed, &tr, &te)) {
        fprintf(stderr, "nnla-digits: out of memory\n");
        return 1;
    }
    printf("1. data: %zu digits from %s; stratified split: %zu train, %zu held out\n", all.n, path, tr.n, te.n);
    stage_done("data");

    /* 2. train */
    printf("2. train a CNN (conv 3x3 16, max pool 2, conv 3x3 32, dropout, dense 64, dense 10; Adam, batch 32)\n");
    nnla_net *net = NULL;
    TRY(make_model(seed, &net), "model");
    curve plain;
    TRY(train(net, &tr, &te, epochs, 2e-3, seed, NNLA_REG_NONE, 0.0, &plain), "training");
    double acc = 0.0;
    TRY(accuracy(net, &te, &acc), "evaluation");
    printf("   held-out accuracy %.2f%%, %zu parameters\n", 100 * acc, nnla_net_num_params(net));
    stage_done("train");

    /* 3. inspect */
    printf("3. inspect: the layers' spectra and the network's Lipschitz bound\n");
    nnla_net_spectral_opts so = nnla_net_spectral_opts_default();
    size_t nl = nnla_net_num_layers(net), dbytes, nspec, lbytes;
    TRY(nnla_net_diagnose_workspace_size(net, &so, &dbytes, &nspec), "diagnose");
    TRY(nnla_net_lipschitz_workspace_size(net, &so, &lbytes), "lipschitz");
    nnla_layer_diag *diag = calloc(nl, sizeof *diag);
    double *spectrum = malloc((nspec ? nspec : 1) * sizeof *spectrum);
    void *dw = malloc(dbytes > lbytes ? dbytes : lbytes);
    TRY(diag && spectrum && dw ? NNLA_OK : NNLA_ENOMEM, "diagnose");
    TRY(nnla_net_diagnose(net, &so, diag, nl, spectrum, nspec, dw, dbytes > lbytes ? dbytes : lbytes), "diagnose");
    double lip = 0.0;
    nnla_lipschitz_info li;
    TRY(nnla_net_lipschitz(net, &so, &lip, NULL, &li, dw, dbytes > lbytes ? dbytes : lbytes), "lipschitz");
    printf("   %-5s %-8s %11s %10s %10s %10s %9s %9s\n", "layer", "kind", "shape", "sigma_max", "cond",
           "op_norm", "stable_r", "effect_r");
    for (size_t i = 0; i < nl; i++) {
        if (!diag[i].has_weight) continue;
        char shape[32];
        snprintf(shape, sizeof shape, "%zux%zu", diag[i].weight.rows, diag[i].weight.cols);
        printf("   %-5zu %-8s %11s %10.4g %10.4g %10.4g %9.3g %9.3g\n", i, nnla_layer_kind_name(diag[i].kind), shape,
               diag[i].weight.sigma_max, diag[i].weight.cond, diag[i].op_norm, diag[i].weight.stable_rank,
               diag[i].weight.effective_rank);
    }
    printf("   Lipschitz bound of the network (2-norm): %.4g\n", lip);
    stage_done("inspect");

    /* 4. compress: every dense and conv layer factored at the rank that keeps a fraction of its energy */
    printf("4. compress: SVD compression of every layer (W ~ L R at the rank keeping an energy fraction)\n");
    static const double energies[] = {0.8, 0.9, 0.95, 0.99, 0.999};
    enum { NEN = sizeof energies / sizeof energies[0] };
    comp_row comp[NEN];
    const size_t params = nnla_net_num_params(net);
    nnla_net *small = NULL; /* the most compressed network, fine-tuned below */
    printf("   %-8s %10s %8s %10s   ranks (conv, conv, dense, dense)\n", "energy", "parameters", "ratio", "accuracy");
    for (size_t k = 0; k < NEN; k++) {
        nnla_net *c = NULL;
        nnla_compress_report rep[8];
        size_t count = 0;
        TRY(nnla_net_clone(net, &c), "clone");
        TRY(nnla_net_compress(c, nnla_rank_energy(energies[k]), NULL, rep, 8, &count), "compression");
        comp[k].energy = energies[k];
        comp[k].params = nnla_net_num_params(c);
        TRY(accuracy(c, &te, &comp[k].accuracy), "evaluation");
        printf("   %-8.3f %10zu %8.3f %9.2f%%  ", energies[k], comp[k].params, (double)comp[k].params / (double)params,
               100 * comp[k].accuracy);
        for (size_t j = 0; j < count; j++)
            printf(" %zu%s", rep[j].rank, rep[j].action == NNLA_COMPRESS_DONE ? "" : "(kept)");
        printf("\n");
        if (k == 0)
            small = c;
        else
            nnla_net_free(c);
    }
    /* Truncation costs accuracy at 80% energy; a few epochs of training the factors win it back
       (the compressed network is an ordinary nnla_net: the trainer sees two layers per factored one). */
    enum { FT_EPOCHS = 5 };
    const double ft_lr = 1e-3;
    printf("   fine-tune the %.3f network (%zu parameters) for %d epochs, lr %.0e:\n", energies[0], comp[0].params,
           FT_EPOCHS, ft_lr);
    curve ftc;
    TRY(train(small, &tr, &te, FT_EPOCHS, ft_lr, seed, NNLA_REG_NONE, 0.0, &ftc), "fine-tuning");
    comp_row ft = comp[0];
    TRY(accuracy(small, &te, &ft.accuracy), "evaluation");
    printf("   compressed and fine-tuned: %.2f%% held-out with %.3f of the parameters (before fine-tuning %.2f%%)\n",
           100 * ft.accuracy, (double)ft.params / (double)params, 100 * comp[0].accuracy);
    const double comp_acc = ft.accuracy, params_ratio = (double)ft.params / (double)params;
    nnla_net_free(small);
    stage_done("compress");

    /* 5. regularize: the same model trained with every layer's spectral norm kept <= 2.5 */
    printf("5. regularize: the same CNN trained under spectral normalization (sigma <= 2.5 per layer)\n");
    nnla_net *reg = NULL;
    TRY(make_model(seed, &reg), "model");
    curve regc;
    TRY(train(reg, &tr, &te, epochs, 2e-3, seed, NNLA_REG_SPECTRAL_NORM, 2.5, &regc), "regularized training");
    double reg_acc = 0.0, reg_lip = 0.0;
    TRY(accuracy(reg, &te, &reg_acc), "evaluation");
    TRY(nnla_net_lipschitz(reg, &so, &reg_lip, NULL, &li, dw, dbytes > lbytes ? dbytes : lbytes), "lipschitz");
    printf("   held-out accuracy %.2f%% (plain %.2f%%); Lipschitz bound %.4g (plain %.4g)\n", 100 * reg_acc, 100 * acc,
           reg_lip, lip);
    stage_done("regularize");

    /* 6. attack: FGSM and PGD in the L-infinity ball, pixels kept in [0, 1] */
    printf("6. attack: accuracy under FGSM and PGD (10 steps) on the held-out digits\n");
    static const double eps_list[] = {0.0, 0.05, 0.1, 0.15, 0.2, 0.3};
    enum { NEPS = sizeof eps_list / sizeof eps_list[0] };
    double att[2][2][NEPS]; /* model (plain, regularized) x attack (FGSM, PGD) x eps */
    size_t ab;
    TRY(nnla_attack_workspace_size(net, 64, &ab), "attack workspace");
    void *aw = malloc(ab);
    TRY(aw ? NNLA_OK : NNLA_ENOMEM, "attack workspace");
    printf("   %-6s %12s %12s %12s %12s\n", "eps", "FGSM plain", "FGSM reg.", "PGD plain", "PGD reg.");
    for (size_t k = 0; k < NEPS; k++) {
        nnla_attack_config ac = nnla_attack_config_make(eps_list[k], 0.0, 1.0);
        ac.seed = seed;
        for (int m = 0; m < 2; m++)
            for (int a = 0; a < 2; a++)
                TRY(nnla_attack_accuracy(m ? reg : net, te.x, te.y, te.n, a ? NNLA_ATTACK_PGD : NNLA_ATTACK_FGSM, &ac,
                                         64, &att[m][a][k], aw, ab),
                    "attack");
        printf("   %-6.2f %11.2f%% %11.2f%% %11.2f%% %11.2f%%\n", eps_list[k], 100 * att[0][0][k], 100 * att[1][0][k],
               100 * att[0][1][k], 100 * att[1][1][k]);
    }
    free(aw);
    stage_done("attack");

    /* 7. reduce: PCA of the inputs */
    printf("7. reduce: PCA of the 64 pixels\n");
    nnla_pca pca;
    nnla_pca_opts po;
    memset(&po, 0, sizeof po);
    po.n_components = 10;
    TRY(nnla_pca_alloc(&pca, NPIX, 10), "PCA");
    TRY(nnla_pca_fit_alloc(&pca, nnla_cmat_view(all.x, all.n, NPIX, NPIX), &po), "PCA fit");
    double *proj = malloc(all.n * 10 * sizeof *proj), cum = 0.0;
    TRY(proj ? NNLA_OK : NNLA_ENOMEM, "PCA");
    TRY(nnla_pca_transform_alloc(&pca, nnla_cmat_view(all.x, all.n, NPIX, NPIX), nnla_mat_view(proj, all.n, 10, 10)),
        "PCA transform");
    printf("   explained variance ratio of the first components:");
    for (size_t k = 0; k < 10; k++) printf(" %.3f", pca.explained_variance_ratio[k]);
    for (size_t k = 0; k < 10; k++) cum += pca.explained_variance_ratio[k];
    printf("\n   10 components keep %.1f%% of the variance; 2 components %.1f%%\n", 100 * cum,
           100 * (pca.explained_variance_ratio[0] + pca.explained_variance_ratio[1]));
    stage_done("reduce");

    /* 8. save and reload */
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "nnla-digits: cannot create %s: %s\n", out_dir, strerror(errno));
        return 1;
    }
    char onnx_path[4096], report_path[4096];
    snprintf(onnx_path, sizeof onnx_path, "%s/digits.onnx", out_dir);
    snprintf(report_path, sizeof report_path, "%s/report.html", out_dir);
#if NNLA_HAVE_ONNX
    printf("8. save the model as ONNX and load it back\n");
    char msg[512];
    TRY(nnla_onnx_save(net, onnx_path, 0, msg, sizeof msg), msg);
    nnla_net *back = NULL;
    TRY(nnla_onnx_load(onnx_path, 0, &back, msg, sizeof msg), msg);
    double back_acc = 0.0;
    TRY(accuracy(back, &te, &back_acc), "evaluation of the reloaded model");
    size_t same = same_predictions(net, back, &te);
    printf("   %s: %zu layers after loading, held-out accuracy %.2f%%, %zu of %zu predictions identical\n", onnx_path,
           nnla_net_num_layers(back), 100 * back_acc, same, te.n);
    nnla_net_free(back);
    if (same != te.n) {
        fprintf(stderr, "nnla-digits: the reloaded model predicts differently\n");
        return 1;
    }
#else
    printf("8. (this libnnla was built without its ONNX module: no model file)\n");
#endif
    stage_done("save");

    /* 9. report: written next to its place and renamed into it (a reader never sees half a page) */
    char tmp_path[4200];
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", report_path);
    FILE *f = fopen(tmp_path, "w");
    if (f == NULL) {
        fprintf(stderr, "nnla-digits: cannot write %s: %s\n", tmp_path, strerror(errno));
        return 1;
    }
    write_report(f, tr.n, &plain, &regc, diag, nl, spectrum, lip, reg_lip, acc, reg_acc, eps_list, NEPS, att, proj, all.y,
                 all.n, &pca, comp, NEN, &ft, FT_EPOCHS, params);
    if (ferror(f) | fclose(f) || rename(tmp_path, report_path) != 0) {
        fprintf(stderr, "nnla-digits: cannot write %s: %s\n", report_path, strerror(errno));
        remove(tmp_path);
        return 1;
    }
    printf("9. report: %s\n", report_path);
    stage_done("report");

    double total = now() - t_start;
    printf("RESULT accuracy=%.4f compressed_accuracy=%.4f params_ratio=%.4f lipschitz=%.4g fgsm_accuracy=%.4f "
           "seconds=%.2f\n",
           acc, comp_acc, params_ratio, lip, att[0][0][2], total);
    free(diag), free(spectrum), free(dw), free(proj);
    nnla_pca_free(&pca);
    nnla_net_free(reg);
    nnla_net_free(net);
    free(all.x), free(all.y), free(tr.x), free(tr.y), free(te.x), free(te.y);
    return 0;
}
