/* `nnla dense`, `nnla conv2d`, `nnla act`, `nnla pool`: layer forward passes on .npy arrays. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define ACT_NAMES                                                                                  \
    "identity, relu, sigmoid[:BETA], tanh, leaky_relu[:ALPHA], elu[:ALPHA], gelu, silu,\n"         \
    "                   softplus[:BETA], softmax, log_softmax\n"

const char cli_help_dense[] =
    "usage: nnla dense X.npy W.npy [--bias b.npy] [--act NAME[:PARAM]] --out Y.npy\n"
    "\n"
    "Dense layer forward pass Y = act(X W^T + b), as torch.nn.Linear (a PyTorch weight is used as\n"
    "is): X is batch x in, one sample per row (a 1-D X of in entries is a single sample), W is\n"
    "out x in, b has out entries. Y is batch x out (1-D, out entries, for a 1-D X).\n"
    "softmax and log_softmax apply to each row of Y.\n"
    "\n"
    "options:\n"
    "  --bias b.npy     bias, a 1-D array of out entries (default: none)\n"
    "  --act NAME[:PARAM]  activation (default: identity); NAME is one of\n"
    "                   " ACT_NAMES
    "  --out Y.npy      output file (required)\n"
    "  -h, --help       show this help\n";

const char cli_help_conv2d[] =
    "usage: nnla conv2d X.npy W.npy [--bias b.npy] [--stride S|SH,SW] [--padding P|PH,PW]\n"
    "                   [--dilation D|DH,DW] [--groups G] [--act NAME[:PARAM]] --out Y.npy\n"
    "\n"
    "2-D convolution (cross-correlation, as torch.nn.functional.conv2d) by im2col and one GEMM.\n"
    "X is N x C x H x W (a 3-D X is one image C x H x W), W is OUT x C/G x KH x KW, b has OUT\n"
    "entries. Y is N x OUT x OH x OW (3-D for a 3-D X), with\n"
    "  OH = (H + 2 PH - DH (KH - 1) - 1) / SH + 1, and likewise OW.\n"
    "softmax and log_softmax apply over the output channels of each pixel (dim=1).\n"
    "\n"
    "options:\n"
    "  --bias b.npy     bias, a 1-D array of OUT entries (default: none)\n"
    "  --stride S|SH,SW     stride (default 1)\n"
    "  --padding P|PH,PW    zero padding on each side (default 0)\n"
    "  --dilation D|DH,DW   dilation (default 1)\n"
    "  --groups G       groups; G divides C and OUT (default 1; G = C = OUT is depthwise)\n"
    "  --act NAME[:PARAM]  activation (default: identity); NAME is one of\n"
    "                   " ACT_NAMES
    "  --out Y.npy      output file (required)\n"
    "  -h, --help       show this help\n";

const char cli_help_act[] =
    "usage: nnla act NAME[:PARAM] X.npy --out Y.npy\n"
    "\n"
    "Apply an activation function to an array of any rank (the shape is kept). Elementwise\n"
    "functions act on every entry; softmax and log_softmax normalize over axis 1, the feature\n"
    "or channel axis of a batch, as torch.softmax(X, dim=1) (for an N x C x H x W batch: over\n"
    "the channels of each pixel; for N x F: over each row); a 1-D array is one sample.\n"
    "NAME is one of\n"
    "  " ACT_NAMES
    "with defaults sigmoid:1, leaky_relu:0.01, elu:1, softplus:1.\n"
    "\n"
    "options:\n"
    "  --out Y.npy      output file (required)\n"
    "  -h, --help       show this help\n";

const char cli_help_pool[] =
    "usage: nnla pool max|avg X.npy --kernel K|KH,KW [--stride S|SH,SW] [--padding P|PH,PW]\n"
    "                 --out Y.npy\n"
    "\n"
    "Max or average pooling of X, N x C x H x W (a 3-D X is one image C x H x W), as\n"
    "torch.nn.MaxPool2d / AvgPool2d: Y is N x C x OH x OW with OH = (H + 2 PH - KH) / SH + 1.\n"
    "Max pooling never picks padding; average pooling counts padded zeros (count_include_pad).\n"
    "\n"
    "options:\n"
    "  --kernel K|KH,KW     window size (required)\n"
    "  --stride S|SH,SW     stride (default: the kernel size, as in PyTorch)\n"
    "  --padding P|PH,PW    padding on each side, at most half the kernel (default 0)\n"
    "  --out Y.npy      output file (required)\n"
    "  -h, --help       show this help\n";

/* Check an optional bias: a 1-D array of n entries. 1 when fine (or absent). */
static int check_bias(const cli_command *cmd, const nnla_array *b, const char *path, size_t n)
{
    char sh[64];
    if (b->ndim != 1 || b->shape[0] != n) {
        cli_error(cmd, "the bias '%s' has shape %s; expected (%zu,)", path, cli_shape(b, sh, sizeof sh), n);
        return 0;
    }
    return 1;
}

/* A 3-D (C, H, W) or 4-D (N, C, H, W) non-empty array as N, C, H, W. 1 on success. */
static int nchw(const cli_command *cmd, const nnla_array *x, const char *path, size_t d[4])
{
    char sh[64];
    if ((x->ndim != 3 && x->ndim != 4) || x->size == 0) {
        cli_error(cmd, "X must be a non-empty N x C x H x W (or C x H x W) array; '%s' has shape %s", path,
                  cli_shape(x, sh, sizeof sh));
        return 0;
    }
    size_t off = x->ndim == 4 ? 0 : 1;
    d[0] = x->ndim == 4 ? x->shape[0] : 1;
    for (size_t i = 1; i < 4; i++) d[i] = x->shape[i - off];
    return 1;
}

/* ------------------------------------------------------------------ dense */

int cli_cmd_dense(const cli_command *cmd, int argc, char **argv)
{
    cli_opt opts[] = {{"--bias", 1, 0, NULL}, {"--act", 1, 0, NULL}, {"--out", 1, 0, NULL}};
    const char *pos[2];
    size_t npos;
    int rc = cli_parse(cmd, argc, argv, opts, 3, pos, 2, 2, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[2].given) return cli_usage_error(cmd, "--out Y.npy is required");
    nnla_act act = nnla_act_default(NNLA_ACT_IDENTITY);
    if (opts[1].given && (rc = cli_parse_act(cmd, opts[1].value, &act)) != CLI_CONTINUE) return rc;

    nnla_array x = {0}, w = {0}, b = {0};
    double *y = NULL;
    char sh[64], sh2[64];
    rc = CLI_EXIT_FAIL;
    if (!cli_load(cmd, pos[0], "X", &x) || !cli_load(cmd, pos[1], "W", &w)) goto done;
    if (opts[0].given && !cli_load(cmd, opts[0].value, "bias", &b)) goto done;
    if ((x.ndim != 1 && x.ndim != 2) || x.size == 0) {
        cli_error(cmd, "X must be a non-empty 1-D or 2-D array; '%s' has shape %s", pos[0],
                  cli_shape(&x, sh, sizeof sh));
        goto done;
    }
    if (w.ndim != 2 || w.size == 0) {
        cli_error(cmd, "W must be a non-empty out x in array; '%s' has shape %s", pos[1],
                  cli_shape(&w, sh, sizeof sh));
        goto done;
    }
    size_t batch = x.ndim == 2 ? x.shape[0] : 1, in = x.shape[x.ndim - 1], out = w.shape[0];
    if (w.shape[1] != in) {
        cli_error(cmd, "shapes do not match: X %s has %zu features per sample, W %s expects %zu",
                  cli_shape(&x, sh, sizeof sh), in, cli_shape(&w, sh2, sizeof sh2), w.shape[1]);
        goto done;
    }
    if (opts[0].given && !check_bias(cmd, &b, opts[0].value, out)) goto done;
    y = malloc(batch * out * sizeof *y);
    if (y == NULL) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    nnla_cmat X = nnla_cmat_view(x.data, batch, in, in), W = nnla_cmat_view(w.data, out, in, in);
    nnla_status st =
        nnla_dense_forward(X, W, opts[0].given ? b.data : NULL, act, nnla_mat_view(y, batch, out, out));
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "dense forward pass failed", st);
        goto done;
    }
    const size_t yshape[2] = {batch, out};
    if (x.ndim == 1 ? cli_save(cmd, opts[2].value, y, 1, &out) : cli_save(cmd, opts[2].value, y, 2, yshape))
        rc = CLI_EXIT_OK;
done:
    free(y);
    nnla_array_free(&x);
    nnla_array_free(&w);
    nnla_array_free(&b);
    return rc;
}

/* ------------------------------------------------------------------ conv2d */

int cli_cmd_conv2d(const cli_command *cmd, int argc, char **argv)
{
    enum { BIAS, STRIDE, PADDING, DILATION, GROUPS, ACT, OUT, NOPT };
    cli_opt opts[NOPT] = {{"--bias", 1, 0, NULL},     {"--stride", 1, 0, NULL}, {"--padding", 1, 0, NULL},
                          {"--dilation", 1, 0, NULL}, {"--groups", 1, 0, NULL}, {"--act", 1, 0, NULL},
                          {"--out", 1, 0, NULL}};
    const char *pos[2];
    size_t npos;
    int rc = cli_parse(cmd, argc, argv, opts, NOPT, pos, 2, 2, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[OUT].given) return cli_usage_error(cmd, "--out Y.npy is required");
    nnla_conv2d_desc d = nnla_conv2d_desc_make(1, 1, 1, 1);
    nnla_act act = nnla_act_default(NNLA_ACT_IDENTITY);
    if (opts[STRIDE].given &&
        (rc = cli_opt_pair(cmd, &opts[STRIDE], &d.stride_h, &d.stride_w, 1)) != CLI_CONTINUE)
        return rc;
    if (opts[PADDING].given &&
        (rc = cli_opt_pair(cmd, &opts[PADDING], &d.pad_h, &d.pad_w, 0)) != CLI_CONTINUE)
        return rc;
    if (opts[DILATION].given &&
        (rc = cli_opt_pair(cmd, &opts[DILATION], &d.dilation_h, &d.dilation_w, 1)) != CLI_CONTINUE)
        return rc;
    if (opts[GROUPS].given && (rc = cli_opt_size(cmd, &opts[GROUPS], &d.groups, 1)) != CLI_CONTINUE)
        return rc;
    if (opts[ACT].given && (rc = cli_parse_act(cmd, opts[ACT].value, &act)) != CLI_CONTINUE) return rc;

    nnla_array x = {0}, w = {0}, b = {0};
    double *y = NULL;
    void *work = NULL;
    char sh[64], sh2[64];
    rc = CLI_EXIT_FAIL;
    if (!cli_load(cmd, pos[0], "X", &x) || !cli_load(cmd, pos[1], "W", &w)) goto done;
    if (opts[BIAS].given && !cli_load(cmd, opts[BIAS].value, "bias", &b)) goto done;
    size_t dim[4];
    if (!nchw(cmd, &x, pos[0], dim)) goto done;
    size_t n = dim[0], c = dim[1], h = dim[2], wd = dim[3];
    if (w.ndim != 4 || w.size == 0) {
        cli_error(cmd, "W must be a non-empty OUT x C/G x KH x KW array; '%s' has shape %s", pos[1],
                  cli_shape(&w, sh, sizeof sh));
        goto done;
    }
    if (c % d.groups != 0 || w.shape[0] % d.groups != 0) {
        cli_error(cmd, "--groups %zu must divide the input channels (%zu) and the output channels (%zu)",
                  d.groups, c, w.shape[0]);
        goto done;
    }
    if (w.shape[1] * d.groups != c) {
        cli_error(cmd, "shapes do not match: X %s has %zu channels, so W needs %zu input channels per group "
                       "(groups %zu), but W has shape %s",
                  cli_shape(&x, sh, sizeof sh), c, c / d.groups, d.groups, cli_shape(&w, sh2, sizeof sh2));
        goto done;
    }
    d.in_channels = c;
    d.out_channels = w.shape[0];
    d.kernel_h = w.shape[2];
    d.kernel_w = w.shape[3];
    if (opts[BIAS].given && !check_bias(cmd, &b, opts[BIAS].value, d.out_channels)) goto done;
    size_t oh, ow, ws = 0;
    nnla_status st = nnla_conv2d_output_size(&d, h, wd, &oh, &ow);
    if (st == NNLA_ESHAPE) {
        cli_error(cmd, "the kernel %zu x %zu (dilation %zu,%zu) is larger than the padded input %zu x %zu",
                  d.kernel_h, d.kernel_w, d.dilation_h, d.dilation_w, h + 2 * d.pad_h, wd + 2 * d.pad_w);
        goto done;
    }
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "invalid convolution", st);
        goto done;
    }
    /* The fastest workspace if memory allows, else the smallest one (tiled over output rows). */
    if ((st = nnla_conv2d_workspace_size(&d, n, h, wd, &ws)) != NNLA_OK) {
        cli_lib_error(cmd, "invalid convolution", st);
        goto done;
    }
    if (ws > 0 && (work = malloc(ws)) == NULL) {
        if ((st = nnla_conv2d_workspace_min(&d, h, wd, &ws)) != NNLA_OK) {
            cli_lib_error(cmd, "invalid convolution", st);
            goto done;
        }
        if (ws > 0 && (work = malloc(ws)) == NULL) {
            cli_error(cmd, "out of memory for the convolution's workspace");
            goto done;
        }
    }
    size_t ysize = cli_product((const size_t[]){n, d.out_channels, oh, ow, sizeof *y}, 5);
    if (ysize == 0 || (y = malloc(ysize)) == NULL) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    const double *bias = opts[BIAS].given ? b.data : NULL;
    st = nnla_conv2d_forward(&d, n, h, wd, x.data, w.data, bias, act, y, work, ws);
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "convolution failed", st);
        goto done;
    }
    const size_t yshape[4] = {n, d.out_channels, oh, ow};
    if (cli_save(cmd, opts[OUT].value, y, x.ndim, x.ndim == 4 ? yshape : yshape + 1)) rc = CLI_EXIT_OK;
done:
    free(work);
    free(y);
    nnla_array_free(&x);
    nnla_array_free(&w);
    nnla_array_free(&b);
    return rc;
}

/* ------------------------------------------------------------------ act */

int cli_cmd_act(const cli_command *cmd, int argc, char **argv)
{
    cli_opt opts[] = {{"--out", 1, 0, NULL}};
    const char *pos[2];
    size_t npos;
    int rc = cli_parse(cmd, argc, argv, opts, 1, pos, 2, 2, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[0].given) return cli_usage_error(cmd, "--out Y.npy is required");
    nnla_act act;
    if ((rc = cli_parse_act(cmd, pos[0], &act)) != CLI_CONTINUE) return rc;

    nnla_array x = {0};
    if (!cli_load(cmd, pos[1], "X", &x)) return CLI_EXIT_FAIL;
    rc = CLI_EXIT_FAIL;
    if (x.size > 0) {
        /* Axis 1 is the feature (channel) axis, as PyTorch's dim=1: [N][C][rest...]; a 1-D array is
         * one sample of C features, a 0-d array one feature. */
        size_t batch = x.ndim >= 2 ? x.shape[0] : 1, channels = x.ndim >= 2 ? x.shape[1] : x.size;
        size_t plane = x.size / (batch * channels);
        nnla_status st = nnla_act_forward_nchw(act, batch, channels, plane, x.data, x.data); /* in place */
        if (st != NNLA_OK) {
            cli_lib_error(cmd, "activation failed", st);
            goto done;
        }
    }
    if (cli_save(cmd, opts[0].value, x.data, x.ndim, x.shape)) rc = CLI_EXIT_OK;
done:
    nnla_array_free(&x);
    return rc;
}

/* ------------------------------------------------------------------ pool */

int cli_cmd_pool(const cli_command *cmd, int argc, char **argv)
{
    cli_opt opts[] = {{"--kernel", 1, 0, NULL}, {"--stride", 1, 0, NULL}, {"--padding", 1, 0, NULL},
                      {"--out", 1, 0, NULL}};
    const char *pos[2];
    size_t npos;
    int rc = cli_parse(cmd, argc, argv, opts, 4, pos, 2, 2, &npos);
    if (rc != CLI_CONTINUE) return rc;
    nnla_pool2d_desc d;
    memset(&d, 0, sizeof d);
    if (strcmp(pos[0], "max") == 0) d.kind = NNLA_POOL_MAX;
    else if (strcmp(pos[0], "avg") == 0) d.kind = NNLA_POOL_AVG;
    else return cli_usage_error(cmd, "unknown pooling '%s' (expected max or avg)", pos[0]);
    if (!opts[0].given) return cli_usage_error(cmd, "--kernel K is required");
    if (!opts[3].given) return cli_usage_error(cmd, "--out Y.npy is required");
    if ((rc = cli_opt_pair(cmd, &opts[0], &d.kernel_h, &d.kernel_w, 1)) != CLI_CONTINUE) return rc;
    d.stride_h = d.kernel_h;
    d.stride_w = d.kernel_w;
    if (opts[1].given && (rc = cli_opt_pair(cmd, &opts[1], &d.stride_h, &d.stride_w, 1)) != CLI_CONTINUE)
        return rc;
    if (opts[2].given && (rc = cli_opt_pair(cmd, &opts[2], &d.pad_h, &d.pad_w, 0)) != CLI_CONTINUE) return rc;
    if (d.pad_h > d.kernel_h / 2 || d.pad_w > d.kernel_w / 2)
        return cli_usage_error(cmd, "--padding %zu,%zu exceeds half the kernel %zu,%zu (as in PyTorch)",
                               d.pad_h, d.pad_w, d.kernel_h, d.kernel_w);

    nnla_array x = {0};
    double *y = NULL;
    rc = CLI_EXIT_FAIL;
    if (!cli_load(cmd, pos[1], "X", &x)) goto done;
    size_t dim[4];
    if (!nchw(cmd, &x, pos[1], dim)) goto done;
    size_t oh, ow;
    nnla_status st = nnla_pool2d_output_size(&d, dim[2], dim[3], &oh, &ow);
    if (st == NNLA_ESHAPE) {
        cli_error(cmd, "the window %zu x %zu is larger than the padded input %zu x %zu", d.kernel_h,
                  d.kernel_w, dim[2] + 2 * d.pad_h, dim[3] + 2 * d.pad_w);
        goto done;
    }
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "invalid pooling", st);
        goto done;
    }
    size_t ysize = cli_product((const size_t[]){dim[0], dim[1], oh, ow, sizeof *y}, 5);
    if (ysize == 0 || (y = malloc(ysize)) == NULL) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    st = nnla_pool2d_forward(&d, dim[0], dim[1], dim[2], dim[3], x.data, y);
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "pooling failed", st);
        goto done;
    }
    const size_t yshape[4] = {dim[0], dim[1], oh, ow};
    if (cli_save(cmd, opts[3].value, y, x.ndim, x.ndim == 4 ? yshape : yshape + 1)) rc = CLI_EXIT_OK;
done:
    free(y);
    nnla_array_free(&x);
    return rc;
}
