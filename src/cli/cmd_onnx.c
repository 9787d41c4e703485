/*
 * ONNX models from the shell (built with the ONNX module): `nnla run`, `nnla convert`,
 * `nnla compress`, `nnla train`, and `nnla inspect MODEL.onnx` (cli_inspect_model, dispatched from
 * cmd_spectral.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char cli_help_run[] =
    "usage: nnla run MODEL.onnx X.npy --out Y.npy [--batch B]\n"
    "\n"
    "Run an ONNX model (as exported by torch.onnx.export, float32 or float64) on a batch of\n"
    "samples, in double precision. X is N x C x H x W for a model of images, N x F for a model of\n"
    "feature vectors, or N x C x L for 1-D signals: the dimensions after the first must be the\n"
    "model's input shape. Y is N x (the model's output shape): N x K for a flat output, else\n"
    "N x C x H x W. The model is loaded as nnla_onnx_load() does by default (BatchNorm folded into\n"
    "the layer before it, activations fused, dropout skipped); docs/onnx.md lists what it reads.\n"
    "\n"
    "options:\n"
    "  --out Y.npy      output file (required; '-' is standard output)\n"
    "  --batch B        run B samples at a time (default 256; bounds the memory used)\n"
    "  -h, --help       show this help\n";

const char cli_help_convert[] =
    "usage: nnla convert MODEL.onnx (--float32 | --float64) --out OTHER.onnx [--keep-layers]\n"
    "\n"
    "Load an ONNX model and save it again (opset 13) with float32 or float64 tensors. By default\n"
    "the saved model is the network nnla runs: BatchNorm folded into the layer before it,\n"
    "activations fused (written as their own nodes), dropout removed. A float64 model saved by\n"
    "nnla loads back into the same network, parameters bit for bit.\n"
    "\n"
    "options:\n"
    "  --float32        write float32 tensors, input and output\n"
    "  --float64        write float64 tensors, input and output\n"
    "  --out OTHER.onnx output file (required)\n"
    "  --keep-layers    keep BatchNorm, activation and dropout layers as the model has them\n"
    "  -h, --help       show this help\n";

/* Load a model, reporting the library's message. 1 on success. */
static int load_model(const cli_command *cmd, const char *path, unsigned flags, nnla_net **net)
{
    char msg[512];
    errno = 0;
    nnla_status st = nnla_onnx_load(path, flags, net, msg, sizeof msg);
    if (st == NNLA_OK) return 1;
    cli_error(cmd, "cannot load the model '%s': %s (%s)", path, msg, nnla_status_name(st));
    return 0;
}

/* Save a network as an ONNX model file, written atomically (cli_save_bytes). 1 on success; *bytes
 * (optional) receives the model's size. */
static int save_model(const cli_command *cmd, const nnla_net *net, unsigned flags, const char *path, size_t *bytes)
{
    char msg[512];
    size_t size = 0;
    void *buf = NULL;
    nnla_status st = nnla_onnx_encoded_size(net, flags, &size, msg, sizeof msg);
    buf = st == NNLA_OK ? malloc(size ? size : 1) : NULL;
    if (st == NNLA_OK && buf == NULL) st = NNLA_ENOMEM, snprintf(msg, sizeof msg, "out of memory");
    if (st == NNLA_OK) st = nnla_onnx_save_mem(net, flags, buf, size, NULL, msg, sizeof msg);
    if (st != NNLA_OK) {
        cli_error(cmd, "cannot save the model: %s (%s)", msg, nnla_status_name(st));
        free(buf);
        return 0;
    }
    int ok = cli_save_bytes(cmd, path, buf, size);
    free(buf);
    if (ok && bytes != NULL) *bytes = size;
    return ok;
}

/* Whether X's dimensions after the first are the model's input shape (C, H, W). */
static int fits_input(const nnla_array *x, const size_t in[3])
{
    switch (x->ndim) {
    case 2: return x->shape[1] == in[0] * in[1] * in[2] && in[1] == 1 && in[2] == 1;
    case 3: return x->shape[1] == in[0] && in[1] == 1 && x->shape[2] == in[2];
    case 4: return x->shape[1] == in[0] && x->shape[2] == in[1] && x->shape[3] == in[2];
    default: return 0;
    }
}

int cli_cmd_run(const cli_command *cmd, int argc, char **argv)
{
    cli_opt opts[] = {{"--out", 1, 0, NULL}, {"--batch", 1, 0, NULL}};
    const char *pos[2];
    size_t npos, chunk = 256;
    int rc = cli_parse(cmd, argc, argv, opts, 2, pos, 2, 2, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[0].given) return cli_usage_error(cmd, "--out Y.npy is required");
    if (opts[1].given && (rc = cli_opt_size(cmd, &opts[1], &chunk, 1)) != CLI_CONTINUE) return rc;

    nnla_net *net = NULL;
    nnla_array x = {0};
    double *y = NULL;
    void *work = NULL;
    rc = CLI_EXIT_FAIL;
    if (!load_model(cmd, pos[0], 0, &net)) goto done;
    if (!cli_load(cmd, pos[1], "X", &x)) goto done;
    size_t in[3], out[3];
    nnla_net_input_shape(net, in);
    nnla_net_output_shape(net, out);
    char sh[96];
    if (x.ndim < 2 || x.shape[0] == 0 || !fits_input(&x, in)) {
        if (in[1] == 1 && in[2] == 1)
            cli_error(cmd, "X must be N x %zu (the model's input); '%s' has shape %s", in[0], pos[1],
                      cli_shape(&x, sh, sizeof sh));
        else if (in[1] == 1)
            cli_error(cmd, "X must be N x %zu x %zu (or N x %zu x 1 x %zu; the model's input); '%s' has shape %s",
                      in[0], in[2], in[0], in[2], pos[1], cli_shape(&x, sh, sizeof sh));
        else
            cli_error(cmd, "X must be N x %zu x %zu x %zu (the model's input); '%s' has shape %s", in[0], in[1],
                      in[2], pos[1], cli_shape(&x, sh, sizeof sh));
        goto done;
    }
    size_t n = x.shape[0], per_in = in[0] * in[1] * in[2], per_out = out[0] * out[1] * out[2];
    if (chunk > n) chunk = n;
    size_t ws = 0, total;
    nnla_status st = nnla_net_workspace_size(net, chunk, &ws);
    if (st != NNLA_OK) {
        rc = cli_lib_error(cmd, "workspace", st);
        goto done;
    }
    if (cli_product((size_t[]){n, per_out, sizeof(double)}, 3) == 0) {
        cli_error(cmd, "the output is too large");
        goto done;
    }
    total = n * per_out;
    y = malloc(total * sizeof *y);
    work = malloc(ws ? ws : 1);
    if (y == NULL || work == NULL) {
        cli_error(cmd, "out of memory (%zu samples of %zu outputs)", n, per_out);
        goto done;
    }
    for (size_t s = 0; s < n; s += chunk) {
        size_t b = n - s < chunk ? n - s : chunk;
        st = nnla_net_forward(net, b, x.data + s * per_in, y + s * per_out, work, ws);
        if (st != NNLA_OK) {
            rc = cli_lib_error(cmd, "forward", st);
            goto done;
        }
    }
    size_t shape[4] = {n, out[0], out[1], out[2]};
    if (cli_save(cmd, opts[0].value, y, out[1] == 1 && out[2] == 1 ? 2 : 4, shape)) rc = CLI_EXIT_OK;
done:
    free(work);
    free(y);
    nnla_array_free(&x);
    nnla_net_free(net);
    return rc;
}

int cli_cmd_convert(const cli_command *cmd, int argc, char **argv)
{
    cli_opt opts[] = {{"--out", 1, 0, NULL}, {"--float32", 0, 0, NULL}, {"--float64", 0, 0, NULL},
                      {"--keep-layers", 0, 0, NULL}};
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(cmd, argc, argv, opts, 4, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[0].given) return cli_usage_error(cmd, "--out OTHER.onnx is required");
    if (opts[1].given == opts[2].given) return cli_usage_error(cmd, "give one of --float32 and --float64");
    unsigned load_flags = opts[3].given ? NNLA_ONNX_KEEP_BATCHNORM | NNLA_ONNX_KEEP_ACTIVATIONS | NNLA_ONNX_KEEP_DROPOUT : 0;
    unsigned save_flags = opts[1].given ? NNLA_ONNX_FLOAT32 : 0;

    nnla_net *net = NULL;
    rc = CLI_EXIT_FAIL;
    if (load_model(cmd, pos[0], load_flags, &net) && save_model(cmd, net, save_flags, opts[0].value, NULL))
        rc = CLI_EXIT_OK;
    nnla_net_free(net);
    return rc;
}

/* ------------------------------------------------------------------ shared by the model commands */

/* "AxBxC" of n sizes. */
static const char *dims_text(const size_t *d, size_t n, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at < len; i++) {
        int w = snprintf(buf + at, len - at, i ? "x%zu" : "%zu", d[i]);
        if (w < 0) break;
        at += (size_t)w;
    }
    return buf;
}

/* A number for a table: %.6g, or '-' for NaN. */
static const char *num_text(double v, char *buf, size_t len)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.6g", v);
    return buf;
}

/* The number of parameters of layer i (weight and bias, or BatchNorm's gamma and beta). */
static size_t layer_params(nnla_net *net, size_t i)
{
    size_t n = 0;
    nnla_tensor t;
    if (nnla_net_param(net, i, NNLA_PARAM_WEIGHT, &t) == NNLA_OK) n += t.size;
    if (nnla_net_param(net, i, NNLA_PARAM_BIAS, &t) == NNLA_OK) n += t.size;
    return n;
}

/* ------------------------------------------------------------------ nnla inspect MODEL.onnx */

static const char *opnorm_method(nnla_opnorm_method m)
{
    switch (m) {
    case NNLA_OPNORM_CLOSED_FORM: return "closed-form";
    case NNLA_OPNORM_SVD: return "svd";
    case NNLA_OPNORM_POWER: return "power";
    default: return "-";
    }
}

int cli_inspect_model(const cli_command *cmd, const char *path, double rank_tol, int spectrum)
{
    nnla_net *net = NULL;
    if (!load_model(cmd, path, 0, &net)) return CLI_EXIT_FAIL;
    int rc = CLI_EXIT_FAIL;
    size_t nl = nnla_net_num_layers(net), dbytes = 0, lbytes = 0, nspec = 0;
    nnla_layer_diag *table = NULL;
    double *spec = NULL;
    void *work = NULL;
    nnla_net_spectral_opts so = nnla_net_spectral_opts_default();
    so.rank_tol = rank_tol;
    nnla_status st = nnla_net_diagnose_workspace_size(net, &so, &dbytes, &nspec);
    if (st == NNLA_OK) st = nnla_net_lipschitz_workspace_size(net, &so, &lbytes);
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "workspace query", st);
        goto done;
    }
    table = malloc(nl * sizeof *table);
    spec = malloc((nspec ? nspec : 1) * sizeof *spec);
    work = malloc(dbytes > lbytes ? dbytes : lbytes);
    if (table == NULL || spec == NULL || work == NULL) {
        cli_error(cmd, "out of memory for the model's diagnostics");
        goto done;
    }
    st = nnla_net_diagnose(net, &so, table, nl, spec, nspec, work, dbytes > lbytes ? dbytes : lbytes);
    if (st == NNLA_ENONFINITE) {
        cli_error(cmd, "the model's weights (or BatchNorm statistics) contain NaN or Inf");
        goto done;
    }
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "diagnostics", st);
        goto done;
    }
    double bound = 0.0;
    nnla_lipschitz_info li;
    memset(&li, 0, sizeof li);
    st = nnla_net_lipschitz(net, &so, &bound, NULL, &li, work, dbytes > lbytes ? dbytes : lbytes);
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "Lipschitz bound", st);
        goto done;
    }
    size_t in[3];
    nnla_net_input_shape(net, in);
    char b1[64], b2[64], b3[32], b4[32], b5[32], b6[32], b7[32], b8[32];
    printf("model: %s\n", path);
    printf("input: %s\n", dims_text(in, 3, b1, sizeof b1));
    printf("layers: %zu\n", nl);
    printf("parameters: %zu\n", nnla_net_num_params(net));
    printf("%-5s %-14s %-12s %-14s %-12s %9s %-12s %-12s %5s %-12s %-14s %-12s %-11s %-12s\n", "layer", "kind",
           "act", "weight", "output", "params", "sigma_max", "cond", "rank", "stable_rank", "effective_rank",
           "op_norm", "op_method", "lipschitz");
    for (size_t i = 0; i < nl; i++) {
        const nnla_layer_diag *d = &table[i];
        int has_act = d->kind == NNLA_LAYER_DENSE || d->kind == NNLA_LAYER_CONV2D || d->kind == NNLA_LAYER_ACT;
        const char *an = has_act ? nnla_act_name(d->act.kind) : "-";
        if (d->has_weight) {
            nnla_tensor w;
            nnla_net_param(net, i, NNLA_PARAM_WEIGHT, &w);
            dims_text(w.shape, w.ndim, b1, sizeof b1);
        } else {
            snprintf(b1, sizeof b1, "-");
        }
        double nan = NAN;
        char rk[32];
        if (d->has_weight)
            snprintf(rk, sizeof rk, "%zu", d->weight.rank);
        else
            snprintf(rk, sizeof rk, "-");
        printf("%-5zu %-14s %-12s %-14s %-12s %9zu %-12s %-12s %5s %-12s %-14s %-12s %-11s %-12s\n", i,
               nnla_layer_kind_name(d->kind), an ? an : "?", b1, dims_text(d->out_shape, 3, b2, sizeof b2),
               layer_params(net, i), num_text(d->has_weight ? d->weight.sigma_max : nan, b3, sizeof b3),
               num_text(d->has_weight ? d->weight.cond : nan, b4, sizeof b4), rk,
               num_text(d->has_weight ? d->weight.stable_rank : nan, b5, sizeof b5),
               num_text(d->has_weight ? d->weight.effective_rank : nan, b6, sizeof b6),
               num_text(d->op_norm, b7, sizeof b7), opnorm_method(d->op_norm_method),
               num_text(d->lipschitz, b8, sizeof b8));
    }
    if (spectrum)
        for (size_t i = 0; i < nl; i++) {
            if (!table[i].has_weight) continue;
            printf("spectrum %zu:", i);
            for (size_t j = 0; j < table[i].weight.k; j++) printf(" %.17g", spec[table[i].spectrum_offset + j]);
            printf("\n");
        }
    printf("lipschitz_bound: %.17g\n", bound);
    printf("lipschitz_maps: %zu (exact %zu; power iterations %zu, largest residual %.3g)\n", li.maps,
           li.maps_explicit, li.iterations, li.max_residual);
    rc = CLI_EXIT_OK;
done:
    free(table);
    free(spec);
    free(work);
    nnla_net_free(net);
    return rc;
}

/* ------------------------------------------------------------------ nnla compress */

const char cli_help_compress[] =
    "usage: nnla compress MODEL.onnx (--rank K | --energy E | --tol T [--norm fro|2]) --out SMALL.onnx\n"
    "                     [--max-rank K] [--randomized [--min-dim D] [--oversample N] [--power-iters Q]\n"
    "                     [--seed S]] [--float32]\n"
    "\n"
    "Low-rank compression of every dense and convolution layer of an ONNX model (nnla_net_compress).\n"
    "Each weight W, m x n (a dense layer's out x in; a convolution's O x C*KH*KW, the reshaped kernel),\n"
    "is factored W ~ L R with the rank the rule gives on its own singular values, and the layer becomes\n"
    "two: one with weight R and k outputs (a dense layer, or a convolution with the same kernel size,\n"
    "stride, padding and dilation), then one with weight L (a dense layer, or a 1x1 convolution) with\n"
    "the bias and the activation. A layer is kept when its rank would not save parameters\n"
    "(k (m + n) >= m n); grouped convolutions are kept too. The model is loaded as `nnla run` loads it\n"
    "(BatchNorm folded into the layer before it) and saved as ONNX (opset 13), float64 unless --float32.\n"
    "\n"
    "Prints one row per dense and convolution layer: layer (its index in the loaded network), kind,\n"
    "weight (its shape), action (compressed; kept:no-saving; kept:grouped), rank (kept, or what the\n"
    "rule asked for), params_before and params_after (the layer's, bias included), err_fro and\n"
    "err_fro_rel (||W - L R||_F, and over ||W||_F), err_2 and err_2_rel (||W - L R||_2, and over\n"
    "||W||_2), exact (yes: the Eckart-Young identities of the full spectrum; no: a randomized SVD,\n"
    "whose err_2 is a lower bound); '-' where no SVD was computed. Then: layers_compressed, params_before\n"
    "and params_after (the model's), ratio (after / before) and bytes (the written model's size).\n"
    "\n"
    "rank rule (exactly one), applied to every layer:\n"
    "  --rank K         keep K terms (layers with min(m, n) <= K, or K (m + n) >= m n, are kept)\n"
    "  --energy E       the smallest k with sum_{i<=k} s_i^2 >= E sum s_i^2, 0 < E <= 1\n"
    "  --tol T          the smallest k with ||W - W_k|| <= T ||W||, T >= 0, in the norm of --norm\n"
    "options:\n"
    "  --norm fro|2     the norm of --tol: Frobenius (default) or spectral\n"
    "  --max-rank K     never keep more than K terms (with --energy or --tol)\n"
    "  --randomized     the randomized SVD for layers with min(m, n) >= D (see --min-dim): its rank is\n"
    "                   K (--rank), else the largest rank that saves parameters (at most --max-rank)\n"
    "  --min-dim D      (with --randomized) smaller layers get the exact SVD (default 0: none)\n"
    "  --oversample N   (with --randomized) oversampling, >= 1 (default 10)\n"
    "  --power-iters Q  (with --randomized) power iterations (default 2)\n"
    "  --seed S         (with --randomized) seed of the Gaussian test matrices (default 0)\n"
    "  --float32        write float32 tensors (default float64)\n"
    "  --out SMALL.onnx output file (required; written whole or not at all)\n"
    "  -h, --help       show this help\n";

enum {
    CP_OUT, CP_RANK, CP_ENERGY, CP_TOL, CP_NORM, CP_MAX, CP_RAND, CP_MINDIM, CP_OVER, CP_POWER, CP_SEED, CP_F32, CP_N
};

static const char *action_text(nnla_compress_action a)
{
    switch (a) {
    case NNLA_COMPRESS_DONE: return "compressed";
    case NNLA_COMPRESS_SKIP_NO_SAVING: return "kept:no-saving";
    case NNLA_COMPRESS_SKIP_GROUPED: return "kept:grouped";
    default: return "?";
    }
}

int cli_cmd_compress(const cli_command *cmd, int argc, char **argv)
{
    cli_opt o[CP_N] = {{"--out", 1, 0, NULL},        {"--rank", 1, 0, NULL},        {"--energy", 1, 0, NULL},
                       {"--tol", 1, 0, NULL},        {"--norm", 1, 0, NULL},        {"--max-rank", 1, 0, NULL},
                       {"--randomized", 0, 0, NULL}, {"--min-dim", 1, 0, NULL},     {"--oversample", 1, 0, NULL},
                       {"--power-iters", 1, 0, NULL}, {"--seed", 1, 0, NULL},       {"--float32", 0, 0, NULL}};
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(cmd, argc, argv, o, CP_N, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!o[CP_OUT].given) return cli_usage_error(cmd, "--out SMALL.onnx is required");
    if (o[CP_RANK].given + o[CP_ENERGY].given + o[CP_TOL].given != 1)
        return cli_usage_error(cmd, "give exactly one of --rank K, --energy E, --tol T");
    if (o[CP_NORM].given && !o[CP_TOL].given) return cli_usage_error(cmd, "--norm goes with --tol");
    if (!o[CP_RAND].given && (o[CP_MINDIM].given || o[CP_OVER].given || o[CP_POWER].given || o[CP_SEED].given))
        return cli_usage_error(cmd, "--min-dim, --oversample, --power-iters and --seed go with --randomized");
    nnla_rank_rule rule;
    size_t cap = 0;
    if (o[CP_MAX].given && (rc = cli_opt_size(cmd, &o[CP_MAX], &cap, 1)) != CLI_CONTINUE) return rc;
    if (o[CP_RANK].given) {
        size_t k;
        if ((rc = cli_opt_size(cmd, &o[CP_RANK], &k, 1)) != CLI_CONTINUE) return rc;
        if (o[CP_MAX].given) return cli_usage_error(cmd, "--max-rank goes with --energy or --tol");
        rule = nnla_rank_fixed(k);
    } else if (o[CP_ENERGY].given) {
        double e;
        if ((rc = cli_opt_real(cmd, &o[CP_ENERGY], &e)) != CLI_CONTINUE) return rc;
        if (!(e > 0.0 && e <= 1.0)) return cli_usage_error(cmd, "--energy %s: expected 0 < E <= 1", o[CP_ENERGY].value);
        rule = nnla_rank_energy(e);
        rule.rank = cap;
    } else {
        double t;
        if ((rc = cli_opt_real(cmd, &o[CP_TOL], &t)) != CLI_CONTINUE) return rc;
        if (!(t >= 0.0)) return cli_usage_error(cmd, "--tol %s: expected T >= 0", o[CP_TOL].value);
        int two = 0;
        if (o[CP_NORM].given) {
            if (strcmp(o[CP_NORM].value, "2") == 0)
                two = 1;
            else if (strcmp(o[CP_NORM].value, "fro") != 0)
                return cli_usage_error(cmd, "--norm '%s': expected fro or 2", o[CP_NORM].value);
        }
        rule = two ? nnla_rank_tol_2(t) : nnla_rank_tol_fro(t);
        rule.rank = cap;
    }
    nnla_compress_opts co = nnla_compress_opts_default();
    if (o[CP_RAND].given) {
        size_t sd = 0;
        co.randomized = 1;
        if (o[CP_MINDIM].given && (rc = cli_opt_size(cmd, &o[CP_MINDIM], &co.randomized_min_dim, 0)) != CLI_CONTINUE)
            return rc;
        if (o[CP_OVER].given && (rc = cli_opt_size(cmd, &o[CP_OVER], &co.oversample, 1)) != CLI_CONTINUE) return rc;
        if (o[CP_POWER].given && (rc = cli_opt_size(cmd, &o[CP_POWER], &co.power_iters, 0)) != CLI_CONTINUE)
            return rc;
        if (o[CP_SEED].given && (rc = cli_opt_size(cmd, &o[CP_SEED], &sd, 0)) != CLI_CONTINUE) return rc;
        co.seed = (uint64_t)sd;
    }

    nnla_net *net = NULL;
    nnla_compress_report *rep = NULL;
    rc = CLI_EXIT_FAIL;
    if (!load_model(cmd, pos[0], 0, &net)) goto done;
    size_t nl = nnla_net_num_layers(net), count = 0, before = nnla_net_num_params(net), bytes = 0;
    rep = malloc((nl ? nl : 1) * sizeof *rep);
    if (rep == NULL) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    nnla_status st = nnla_net_compress(net, rule, &co, rep, nl, &count);
    if (st == NNLA_ENONFINITE) {
        cli_error(cmd, "the model's weights contain NaN or Inf");
        goto done;
    }
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "compression failed", st);
        goto done;
    }
    if (!save_model(cmd, net, o[CP_F32].given ? NNLA_ONNX_FLOAT32 : 0, o[CP_OUT].value, &bytes)) goto done;
    size_t after = nnla_net_num_params(net), ndone = 0;
    printf("%-5s %-7s %-14s %-15s %5s %13s %12s %-12s %-12s %-12s %-12s %-5s\n", "layer", "kind", "weight", "action",
           "rank", "params_before", "params_after", "err_fro", "err_fro_rel", "err_2", "err_2_rel", "exact");
    for (size_t t = 0; t < count; t++) {
        const nnla_compress_report *r = &rep[t];
        const nnla_lowrank_report *lr = &r->lowrank;
        char sh[64], e1[32], e2[32], e3[32], e4[32];
        int measured = !isnan(lr->err_fro);
        ndone += r->action == NNLA_COMPRESS_DONE;
        printf("%-5zu %-7s %-14s %-15s %5zu %13zu %12zu %-12s %-12s %-12s %-12s %-5s\n", r->layer,
               nnla_layer_kind_name(r->kind), dims_text(r->shape, r->ndim, sh, sizeof sh), action_text(r->action),
               r->rank, r->params_before, r->params_after, num_text(lr->err_fro, e1, sizeof e1),
               num_text(lr->err_fro_rel, e2, sizeof e2), num_text(lr->err_2, e3, sizeof e3),
               num_text(lr->err_2_rel, e4, sizeof e4), measured ? (lr->exact ? "yes" : "no") : "-");
    }
    printf("layers_compressed: %zu of %zu\n", ndone, count);
    printf("params_before: %zu\nparams_after: %zu\nratio: %.6g\nbytes: %zu\n", before, after,
           before ? (double)after / (double)before : 1.0, bytes);
    rc = CLI_EXIT_OK;
done:
    free(rep);
    nnla_net_free(net);
    return rc;
}

/* ------------------------------------------------------------------ nnla train */

const char cli_help_train[] =
    "usage: nnla train MODEL.onnx X.npy Y.npy --out TRAINED.onnx [--loss ce|mse] [--epochs E] [--batch B]\n"
    "                  [--optimizer sgd|momentum|adam|adamw] [--lr R] [--weight-decay D] [--seed S]\n"
    "                  [--val-split F] [--no-shuffle] [--float32]\n"
    "\n"
    "Fine-tune an ONNX model on X (N samples of the model's input shape, as for `nnla run`) and Y with\n"
    "libnnla's trainer (nnla_train: mini-batches of B samples, the mean loss, backward, one optimizer\n"
    "step per batch, torch.optim's update rules), then save it. Prints one line per epoch: the mean\n"
    "training loss, the accuracy (cross-entropy), the validation loss and accuracy (with --val-split),\n"
    "the learning rate and the time.\n"
    "\n"
    "Targets Y:\n"
    "  --loss ce   cross-entropy on the model's output as logits (it must be flat, N x K): Y is 1-D,\n"
    "              N class indices 0..K-1 (integers, in an integer or a float array), or 2-D, N x K\n"
    "              one-hot rows or probabilities. A model that ends with a softmax is trained through\n"
    "              it (the cross-entropy of the logits before it, as torch's CrossEntropyLoss of the\n"
    "              module without its last softmax), and saved with it; one that ends with a log-softmax\n"
    "              is trained as it is (which is torch's NLLLoss of its output).\n"
    "  --loss mse  mean squared error: Y has N rows of the output's size (1-D when that is 1).\n"
    "The model is loaded with its BatchNorm layers (trained with batch statistics, as torch's\n"
    "model.train(); running statistics updated with its momentum) and dropout layers (active), and\n"
    "saved with them (opset 13, float64 unless --float32).\n"
    "\n"
    "options:\n"
    "  --loss ce|mse        the loss (default ce)\n"
    "  --epochs E           passes over the training samples (default 10)\n"
    "  --batch B            mini-batch size (default 32; at most the training samples)\n"
    "  --optimizer NAME     sgd (plain), momentum (SGD with momentum 0.9), adam, adamw (default adam)\n"
    "  --lr R               learning rate, constant (default 0.01 for sgd and momentum, 0.001 for adam\n"
    "                       and adamw)\n"
    "  --weight-decay D     L2 weight decay (sgd, momentum, adam) or decoupled decay (adamw), >= 0\n"
    "                       (default 0; 0.01 for adamw, as torch)\n"
    "  --seed S             seed of the shuffling and of dropout's masks (default 0)\n"
    "  --val-split F        keep the last floor(F N) samples (in file order) for validation, 0 <= F < 1\n"
    "                       (default 0)\n"
    "  --no-shuffle         visit the training samples in file order (default: shuffled every epoch)\n"
    "  --float32            write float32 tensors (default float64)\n"
    "  --out TRAINED.onnx   output file (required; written whole or not at all)\n"
    "  -h, --help           show this help\n";

enum { TR_OUT, TR_LOSS, TR_EPOCHS, TR_BATCH, TR_OPT, TR_LR, TR_WD, TR_SEED, TR_VAL, TR_NOSHUF, TR_F32, TR_N };

typedef struct epoch_print {
    size_t epochs;
    int classify;
} epoch_print;

static int print_epoch(const nnla_epoch *e, void *user)
{
    const epoch_print *p = user;
    printf("epoch %zu/%zu: loss %.10g", e->epoch, p->epochs, e->loss);
    if (p->classify) printf(" accuracy %.6f", e->accuracy);
    if (!isnan(e->val_loss)) {
        printf(" val_loss %.10g", e->val_loss);
        if (p->classify) printf(" val_accuracy %.6f", e->val_accuracy);
    }
    printf(" lr %.6g time %.3f s\n", e->lr, e->seconds);
    fflush(stdout);
    return 0;
}

/* The model's last layer ends in a softmax (an activation layer, or one fused into a dense or
 * convolution layer): 1 for an activation layer, 2 for a fused one, 0 otherwise. */
static int final_softmax(const nnla_net *net)
{
    size_t n = nnla_net_num_layers(net);
    nnla_layer_spec s;
    if (n == 0 || nnla_net_layer_spec(net, n - 1, &s) != NNLA_OK || s.act.kind != NNLA_ACT_SOFTMAX) return 0;
    if (s.kind == NNLA_LAYER_ACT) return 1;
    return s.kind == NNLA_LAYER_DENSE || s.kind == NNLA_LAYER_CONV2D ? 2 : 0;
}

/* Drop (restore = 0) or put back (restore = 1) the final softmax found by final_softmax(). */
static nnla_status toggle_softmax(nnla_net *net, int how, int restore, nnla_act saved)
{
    size_t last = nnla_net_num_layers(net) - 1;
    if (how == 1) {
        if (!restore) return nnla_net_remove(net, last);
        nnla_layer_spec a = nnla_layer_act(saved);
        return nnla_net_append(net, &a);
    }
    nnla_layer_spec s;
    nnla_status st = nnla_net_layer_spec(net, last, &s);
    if (st != NNLA_OK) return st;
    s.act = restore ? saved : nnla_act_default(NNLA_ACT_IDENTITY);
    return nnla_net_replace(net, last, &s, 1);
}

int cli_cmd_train(const cli_command *cmd, int argc, char **argv)
{
    cli_opt o[TR_N] = {{"--out", 1, 0, NULL},          {"--loss", 1, 0, NULL},  {"--epochs", 1, 0, NULL},
                       {"--batch", 1, 0, NULL},        {"--optimizer", 1, 0, NULL}, {"--lr", 1, 0, NULL},
                       {"--weight-decay", 1, 0, NULL}, {"--seed", 1, 0, NULL},  {"--val-split", 1, 0, NULL},
                       {"--no-shuffle", 0, 0, NULL},   {"--float32", 0, 0, NULL}};
    const char *pos[3];
    size_t npos;
    int rc = cli_parse(cmd, argc, argv, o, TR_N, pos, 3, 3, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!o[TR_OUT].given) return cli_usage_error(cmd, "--out TRAINED.onnx is required");
    nnla_train_config cfg = nnla_train_config_default();
    if (o[TR_LOSS].given) {
        if (strcmp(o[TR_LOSS].value, "ce") == 0)
            cfg.loss = NNLA_LOSS_CROSS_ENTROPY;
        else if (strcmp(o[TR_LOSS].value, "mse") == 0)
            cfg.loss = NNLA_LOSS_MSE;
        else
            return cli_usage_error(cmd, "--loss '%s': expected ce or mse", o[TR_LOSS].value);
    }
    size_t epochs = 10, batch = 32, seed = 0;
    if (o[TR_EPOCHS].given && (rc = cli_opt_size(cmd, &o[TR_EPOCHS], &epochs, 1)) != CLI_CONTINUE) return rc;
    if (o[TR_BATCH].given && (rc = cli_opt_size(cmd, &o[TR_BATCH], &batch, 1)) != CLI_CONTINUE) return rc;
    if (o[TR_SEED].given && (rc = cli_opt_size(cmd, &o[TR_SEED], &seed, 0)) != CLI_CONTINUE) return rc;
    const char *oname = o[TR_OPT].given ? o[TR_OPT].value : "adam";
    double lr;
    if (strcmp(oname, "sgd") == 0 || strcmp(oname, "momentum") == 0) {
        cfg.optim = nnla_optim_sgd_default();
        if (oname[0] == 'm') cfg.optim.sgd.momentum = 0.9;
        lr = 0.01;
    } else if (strcmp(oname, "adam") == 0) {
        cfg.optim = nnla_optim_adam_default();
        lr = NNLA_ADAM_DEFAULT_LR;
    } else if (strcmp(oname, "adamw") == 0) {
        cfg.optim = nnla_optim_adamw_default();
        lr = NNLA_ADAM_DEFAULT_LR;
    } else {
        return cli_usage_error(cmd, "--optimizer '%s': expected sgd, momentum, adam or adamw", oname);
    }
    if (o[TR_LR].given) {
        if ((rc = cli_opt_real(cmd, &o[TR_LR], &lr)) != CLI_CONTINUE) return rc;
        if (!(lr > 0.0)) return cli_usage_error(cmd, "--lr %s: expected R > 0", o[TR_LR].value);
    }
    if (o[TR_WD].given) {
        double wd;
        if ((rc = cli_opt_real(cmd, &o[TR_WD], &wd)) != CLI_CONTINUE) return rc;
        if (!(wd >= 0.0)) return cli_usage_error(cmd, "--weight-decay %s: expected D >= 0", o[TR_WD].value);
        if (cfg.optim.kind == NNLA_OPTIM_SGD)
            cfg.optim.sgd.weight_decay = wd;
        else
            cfg.optim.adam.weight_decay = wd;
    }
    double split = 0.0;
    if (o[TR_VAL].given) {
        if ((rc = cli_opt_real(cmd, &o[TR_VAL], &split)) != CLI_CONTINUE) return rc;
        if (!(split >= 0.0 && split < 1.0))
            return cli_usage_error(cmd, "--val-split %s: expected 0 <= F < 1", o[TR_VAL].value);
    }
    cfg.lr = nnla_lr_constant(lr);
    cfg.seed = (uint64_t)seed;
    cfg.shuffle = o[TR_NOSHUF].given ? 0 : 1;
    int ce = cfg.loss == NNLA_LOSS_CROSS_ENTROPY;

    nnla_net *net = NULL;
    nnla_trainer *tr = NULL;
    nnla_array x = {0}, y = {0};
    size_t *labels = NULL;
    rc = CLI_EXIT_FAIL;
    if (!load_model(cmd, pos[0], NNLA_ONNX_KEEP_BATCHNORM | NNLA_ONNX_KEEP_DROPOUT, &net)) goto done;
    if (!cli_load(cmd, pos[1], "X", &x) || !cli_load(cmd, pos[2], "Y", &y)) goto done;
    size_t in[3], out[3];
    nnla_net_input_shape(net, in);
    nnla_net_output_shape(net, out);
    char sh[96];
    if (x.ndim < 2 || x.shape[0] == 0 || !fits_input(&x, in)) {
        cli_error(cmd, "X must be N samples of the model's input shape %zu x %zu x %zu; '%s' has shape %s", in[0],
                  in[1], in[2], pos[1], cli_shape(&x, sh, sizeof sh));
        goto done;
    }
    size_t n = x.shape[0], k = out[0] * out[1] * out[2];
    if (ce && (out[1] != 1 || out[2] != 1)) {
        cli_error(cmd, "--loss ce needs a flat output (N x K logits); the model's output is %zu x %zu x %zu", out[0],
                  out[1], out[2]);
        goto done;
    }
    if (y.ndim == 0 || y.shape[0] != n) {
        cli_error(cmd, "Y must have one row per sample of X (%zu); '%s' has shape %s", n, pos[2],
                  cli_shape(&y, sh, sizeof sh));
        goto done;
    }
    int use_labels = ce && y.ndim == 1;
    if (use_labels) {
        labels = malloc(n * sizeof *labels);
        if (labels == NULL) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            double v = y.data[i];
            if (!(v >= 0.0 && v < (double)k && v == floor(v))) {
                cli_error(cmd, "Y[%zu] = %g is not a class index 0..%zu (the model has %zu outputs)", i, v, k - 1, k);
                goto done;
            }
            labels[i] = (size_t)v;
        }
    } else if ((ce && (y.ndim != 2 || y.shape[1] != k)) || (!ce && y.size != n * k)) {
        if (ce)
            cli_error(cmd, "Y must be N class indices (1-D) or N x %zu one-hot rows or probabilities (2-D); '%s' has "
                           "shape %s",
                      k, pos[2], cli_shape(&y, sh, sizeof sh));
        else
            cli_error(cmd, "Y must be N rows of %zu targets (the model's output size); '%s' has shape %s", k, pos[2],
                      cli_shape(&y, sh, sizeof sh));
        goto done;
    }
    for (size_t i = 0; !use_labels && i < y.size; i++)
        if (!isfinite(y.data[i])) {
            cli_error(cmd, "Y contains NaN or Inf");
            goto done;
        }
    for (size_t i = 0; i < x.size; i++)
        if (!isfinite(x.data[i])) {
            cli_error(cmd, "X contains NaN or Inf");
            goto done;
        }
    size_t nval = (size_t)floor(split * (double)n), ntrain = n - nval, per_in = in[0] * in[1] * in[2];
    if (split > 0.0 && nval == 0) {
        cli_error(cmd, "--val-split %s leaves no validation sample of %zu", o[TR_VAL].value, n);
        goto done;
    }
    if (ntrain == 0) {
        cli_error(cmd, "--val-split %s leaves no training sample of %zu", o[TR_VAL].value, n);
        goto done;
    }
    cfg.batch = batch < ntrain ? batch : ntrain;

    int softmax = ce ? final_softmax(net) : 0;
    nnla_act saved = nnla_act_default(NNLA_ACT_SOFTMAX);
    nnla_status st = softmax ? toggle_softmax(net, softmax, 0, saved) : NNLA_OK;
    if (st == NNLA_OK) st = nnla_trainer_create(net, &cfg, &tr);
    if (st == NNLA_EDIM) {
        cli_error(cmd, "the model has no parameters to train");
        goto done;
    }
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "trainer", st);
        goto done;
    }
    printf("train: %zu samples (validation %zu), %zu parameters, %s, lr %g, batch %zu, %s loss%s\n", ntrain, nval,
           nnla_net_num_params(net), oname, lr, cfg.batch, ce ? "cross-entropy" : "mean squared",
           softmax ? " (through the final softmax's logits)" : "");
    fflush(stdout);
    nnla_dataset dtrain = {x.data, ntrain, use_labels ? labels : NULL, use_labels ? NULL : y.data};
    nnla_dataset dval = {x.data + ntrain * per_in, nval, use_labels ? labels + ntrain : NULL,
                         use_labels ? NULL : y.data + ntrain * k};
    epoch_print ep = {epochs, ce};
    st = nnla_train(tr, &dtrain, nval ? &dval : NULL, epochs, print_epoch, &ep, NULL);
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "training failed", st);
        goto done;
    }
    nnla_trainer_free(tr);
    tr = NULL;
    if (softmax && (st = toggle_softmax(net, softmax, 1, saved)) != NNLA_OK) {
        cli_lib_error(cmd, "restoring the final softmax", st);
        goto done;
    }
    if (save_model(cmd, net, o[TR_F32].given ? NNLA_ONNX_FLOAT32 : 0, o[TR_OUT].value, NULL)) rc = CLI_EXIT_OK;
done:
    nnla_trainer_free(tr);
    free(labels);
    nnla_array_free(&x);
    nnla_array_free(&y);
    nnla_net_free(net);
    return rc;
}
