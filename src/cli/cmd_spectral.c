/* `nnla inspect`, `nnla specnorm` and `nnla init`: the spectral module and the initializers. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char cli_help_inspect[] =
    "usage: nnla inspect W.npy [--rank-tol T] [--spectrum] [--circular H,W]\n"
    "                  [--input-size H,W [--stride S|SH,SW] [--padding P|PH,PW|T,L,B,R]]\n"
    "       nnla inspect MODEL.onnx [--rank-tol T] [--spectrum]\n"
    "\n"
    "An ONNX model (a file named *.onnx, or one that is not a .npy file and starts as a protobuf\n"
    "ModelProto does, with the byte 0x08; needs the ONNX module) gets one row per layer of the network\n"
    "`nnla run` loads (BatchNorm folded, activations fused): layer, kind, act, weight (its shape), output\n"
    "(the per-sample shape), params, sigma_max, cond, rank (at --rank-tol), stable_rank and\n"
    "effective_rank of the weight (a convolution's reshaped O x C*KH*KW kernel), op_norm (the layer's\n"
    "linear part as an operator on its input shape: for a convolution, at the model's input size),\n"
    "op_method (svd: exact; power: power iteration to a relative residual of 1e-7; closed-form),\n"
    "lipschitz (the layer's constant with its activation), '-' where a figure does not apply; then\n"
    "lipschitz_bound, an upper bound of the network's Lipschitz constant in the 2-norm\n"
    "(nnla_net_lipschitz: runs of linear layers composed; exact for a network without nonlinear\n"
    "layers), and lipschitz_maps (how it was computed). With --spectrum, 'spectrum LAYER:' lines give\n"
    "each weight's singular values.\n"
    "\n"
    "For a weight W.npy:\n"
    "Spectral figures of a weight, from one SVD (values only), one per line as 'name: value':\n"
    "  shape, matrix (the m x n matrix used), sigma_max (= ||W||_2), sigma_min, condition_number\n"
    "  (sigma_max / sigma_min; inf when singular), rank (singular values > rank_tol), rank_tol,\n"
    "  effective_rank (exp of the entropy of p_i = s_i / sum s_j), stable_rank (||W||_F^2 / ||W||_2^2),\n"
    "  frobenius.\n"
    "W is a matrix (2-D, e.g. a dense weight out x in) or a convolution kernel O x C x KH x KW\n"
    "(PyTorch's layout), whose figures are those of the reshaped O x (C KH KW) matrix. That is not the\n"
    "convolution's operator norm, which can be up to sqrt(KH KW) times larger: --input-size gives it.\n"
    "\n"
    "options:\n"
    "  --rank-tol T     absolute tolerance of the rank (default: sigma_max * max(m, n) * eps, as\n"
    "                   numpy.linalg.matrix_rank)\n"
    "  --spectrum       also print 'spectrum:' and all min(m, n) singular values, descending\n"
    "  --circular H,W   (4-D only) also the exact singular values of the convolution with stride 1 and\n"
    "                   circular padding on H x W inputs: circular_operator_norm, circular_sigma_min\n"
    "                   (and with --spectrum, circular_spectrum: all H W min(O, C) values)\n"
    "  --input-size H,W (4-D only) also the operator norm of the convolution (zero padding, the stride\n"
    "                   below, no bias) as a linear map on C x H x W inputs, by power iteration on the\n"
    "                   convolution and its adjoint to a relative residual of 1e-10: input_size,\n"
    "                   output_size, operator_norm, operator_norm_iterations, operator_norm_residual\n"
    "  --stride S|SH,SW (with --input-size) the stride (default 1)\n"
    "  --padding P|PH,PW|T,L,B,R  (with --input-size) zero padding: P on every side, PH above and below\n"
    "                   and PW left and right, or top, left, bottom, right as ONNX's pads (default 0)\n"
    "  -h, --help       show this help\n";

const char cli_help_specnorm[] =
    "usage: nnla specnorm W.npy [--power [--tol T] [--max-iter N] [--seed S]] [--out WN.npy]\n"
    "\n"
    "The spectral norm sigma = ||W||_2 of a matrix (or of a conv kernel O x C x KH x KW reshaped to\n"
    "O x (C KH KW)), printed as 'sigma: VALUE'; with --out, W / sigma is written (same shape as W;\n"
    "a zero W is written unchanged).\n"
    "Exact by default (the largest singular value of a values-only SVD). With --power, by power\n"
    "iteration (a block of two vectors) until the relative residual ||W^T u - sigma v|| / sigma is at\n"
    "most T / 10; it also prints 'iterations:' and 'residual:'. If N iterations do not get there, the\n"
    "command fails (exit 1), prints the last estimate, and writes nothing.\n"
    "\n"
    "options:\n"
    "  --power          power iteration instead of the SVD\n"
    "  --tol T          (with --power) relative accuracy wanted, a decimal number > 0 (default 1e-6)\n"
    "  --max-iter N     (with --power) the iteration cap (default 1000)\n"
    "  --seed S         (with --power) seed of the pseudo-random start (default 0)\n"
    "  --out WN.npy     write W / sigma\n"
    "  -h, --help       show this help\n";

const char cli_help_init[] =
    "usage: nnla init (--xavier|--he|--lecun|--orthogonal) [--normal|--uniform] --shape O,I[,KH,KW]\n"
    "                 --seed S --out W.npy [--act NAME | --gain G] [--mode fan_in|fan_out]\n"
    "\n"
    "A new weight of the given shape (a dense weight O x I, or a conv kernel O x I x KH x KW), drawn\n"
    "as torch.nn.init does from libnnla's own generator (xoshiro256** seeded with S): the same seed\n"
    "gives the same weights on every machine. fan_in = I KH KW, fan_out = O KH KW.\n"
    "  --xavier       U(-a, a), a = gain sqrt(6 / (fan_in + fan_out)); normal: std gain sqrt(2 / (fan_in + fan_out))\n"
    "  --he           U(-a, a), a = gain sqrt(3 / fan);  normal: std = gain / sqrt(fan), fan by --mode\n"
    "  --lecun        as --he with fan_in and gain 1 unless given\n"
    "  --orthogonal   gain Q, Q with orthonormal rows or columns (O x I KH KW viewed as a matrix)\n"
    "\n"
    "options:\n"
    "  --uniform, --normal  the law (default --uniform; not with --orthogonal)\n"
    "  --shape O,I[,KH,KW]  positive sizes (required)\n"
    "  --seed S             the seed, a non-negative integer (required)\n"
    "  --out W.npy          the output file (required)\n"
    "  --act NAME           the gain of that activation, as torch.nn.init.calculate_gain: identity and\n"
    "                       sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu[:ALPHA] sqrt(2 / (1 + ALPHA^2))\n"
    "  --gain G             the gain as a decimal number >= 0 (e.g. 0.75 for SELU)\n"
    "                       (default gain: sqrt(2) for --he, 1 otherwise)\n"
    "  --mode M             fan_in (default) or fan_out, for --he\n"
    "  -h, --help           show this help\n";

/* A strict decimal number: [+-]digits[.digits][(e|E)[+-]digits], finite, nothing around it. The
 * program never calls setlocale, so strtod reads '.' as the decimal point. 1 on success. */
static int parse_real(const char *text, double *value)
{
    const char *p = text;
    if (*p == '+' || *p == '-') p++;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9') p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') p++, digits++;
    }
    if (digits == 0) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!(*p >= '0' && *p <= '9')) return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p != '\0') return 0;
    errno = 0;
    char *end;
    double v = strtod(text, &end);
    if (*end != '\0' || !isfinite(v)) return 0;
    *value = v;
    return 1;
}

/* Load W: a non-empty 2-D matrix or 4-D kernel, viewed as rows x (the rest). 1 on success. */
static int load_weight(const cli_command *cmd, const char *path, nnla_array *a, nnla_cmat *m)
{
    if (!cli_load(cmd, path, "W", a)) return 0;
    char sh[96];
    if ((a->ndim != 2 && a->ndim != 4) || a->size == 0) {
        cli_error(cmd, "W must be a non-empty matrix (2-D) or conv kernel O x C x KH x KW (4-D); '%s' has shape %s",
                  path, cli_shape(a, sh, sizeof sh));
        return 0;
    }
    size_t rows = a->shape[0], cols = a->size / rows;
    *m = nnla_cmat_view(a->data, rows, cols, cols);
    return 1;
}

/* A library error with the messages a user can act on. Returns CLI_EXIT_FAIL. */
static int lib_fail(const cli_command *cmd, const char *what, nnla_status st)
{
    if (st == NNLA_ENONFINITE) {
        cli_error(cmd, "W contains NaN or Inf");
        return CLI_EXIT_FAIL;
    }
    if (st == NNLA_EOVERFLOW) {
        cli_error(cmd, "%s: W is too large for LAPACK's 32-bit sizes", what);
        return CLI_EXIT_FAIL;
    }
    return cli_lib_error(cmd, what, st);
}

static void print_values(const char *name, const double *s, size_t n)
{
    printf("%s:", name);
    for (size_t i = 0; i < n; i++) printf(" %.17g", s[i]);
    printf("\n");
}

/*
 * --padding P | PH,PW | T,L,B,R into pad[4] = {top, bottom, left, right}, as `nnla conv2d` reads it:
 * P on every side; PH above and below and PW left and right; or top, left, bottom, right (ONNX's
 * `pads`). CLI_CONTINUE or a usage error.
 */
static int opt_padding4(const cli_command *cmd, const cli_opt *opt, size_t pad[4])
{
    size_t v[4], n = 0;
    const char *s = opt->value;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
        char field[32];
        if (n == 4 || len == 0 || len >= sizeof field) goto bad;
        memcpy(field, s, len);
        field[len] = '\0';
        if (!cli_parse_size(field, &v[n])) goto bad;
        n++;
        if (comma == NULL) break;
        s = comma + 1;
    }
    if (n == 1) {
        pad[0] = pad[1] = pad[2] = pad[3] = v[0];
    } else if (n == 2) {
        pad[0] = pad[1] = v[0];
        pad[2] = pad[3] = v[1];
    } else if (n == 4) {
        pad[0] = v[0];
        pad[2] = v[1];
        pad[1] = v[2];
        pad[3] = v[3];
    } else {
        goto bad;
    }
    return CLI_CONTINUE;
bad:
    return cli_usage_error(cmd, "%s '%s': expected P, PH,PW or T,L,B,R (top, left, bottom, right) with non-negative "
                                "integers",
                           opt->name, opt->value);
}

/* The operator norm of the convolution with kernel a (O x C x KH x KW) on an input size, printed. */
static int print_opnorm(const cli_command *cmd, const nnla_array *a, const nnla_conv2d_desc *d, size_t h, size_t w)
{
    size_t oh, ow, bytes;
    nnla_status st = nnla_conv2d_output_size(d, h, w, &oh, &ow); /* checked by the caller */
    if (st == NNLA_OK) st = nnla_conv2d_opnorm_workspace_size(d, h, w, &bytes);
    if (st != NNLA_OK) return lib_fail(cmd, "--input-size", st);
    void *work = malloc(bytes);
    if (work == NULL) {
        cli_error(cmd, "out of memory for the operator norm on %zu x %zu inputs", h, w);
        return CLI_EXIT_FAIL;
    }
    nnla_power_opts po = nnla_power_opts_default();
    po.tol = 1e-9; /* stops at a relative residual of 1e-10 */
    po.max_iter = 1000000;
    double sigma = 0.0;
    nnla_power_info info = {0, 0.0, 0.0, 0};
    st = nnla_conv2d_opnorm(d, a->data, h, w, &po, &sigma, NULL, NULL, &info, work, bytes);
    free(work);
    if (st != NNLA_OK && st != NNLA_ENOCONV) return lib_fail(cmd, "operator norm", st);
    printf("input_size: %zu x %zu\n", h, w);
    printf("output_size: %zu x %zu\n", oh, ow);
    printf("operator_norm: %.17g\n", sigma);
    printf("operator_norm_iterations: %zu\n", info.iterations);
    printf("operator_norm_residual: %.17g\n", info.residual);
    if (st == NNLA_ENOCONV) {
        cli_error(cmd, "the power iteration did not reach a residual of %g in %zu iterations: operator_norm is its "
                       "last estimate (a lower bound)",
                  po.tol / 10, info.iterations);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* Whether a name ends with a suffix, ignoring ASCII case. */
static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    if (n < m) return 0;
    for (size_t i = 0; i < m; i++) {
        char c = s[n - m + i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != suffix[i]) return 0;
    }
    return 1;
}

/*
 * inspect's dispatch: an ONNX model or a .npy weight. By name first (*.onnx a model, *.npy a
 * weight), else by content: the .npy magic is a weight, a first byte 0x08 (field 1, ir_version, as
 * every ONNX writer starts a ModelProto) a model; standard input and anything else go to the .npy
 * reader, whose messages say what is wrong.
 */
static int is_model_file(const char *path)
{
    if (strcmp(path, "-") == 0 || has_suffix(path, ".npy")) return 0;
    if (has_suffix(path, ".onnx")) return 1;
    FILE *f = fopen(path, "rb");
    if (f == NULL) return 0;
    unsigned char b[6];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n == sizeof b && memcmp(b, "\x93NUMPY", 6) == 0) return 0;
    return n >= 1 && b[0] == 0x08;
}

int cli_cmd_inspect(const cli_command *cmd, int argc, char **argv)
{
    cli_opt opts[] = {{"--rank-tol", 1, 0, NULL},   {"--spectrum", 0, 0, NULL}, {"--circular", 1, 0, NULL},
                      {"--input-size", 1, 0, NULL}, {"--stride", 1, 0, NULL},   {"--padding", 1, 0, NULL}};
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(cmd, argc, argv, opts, 6, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    double rank_tol = NNLA_RANK_TOL_DEFAULT;
    if (opts[0].given && (!parse_real(opts[0].value, &rank_tol) || rank_tol < 0))
        return cli_usage_error(cmd, "--rank-tol '%s': expected a decimal number >= 0", opts[0].value);
    size_t ch = 0, cw = 0, ih = 0, iw = 0, sth = 1, stw = 1, pad[4] = {0, 0, 0, 0};
    if (opts[2].given && (rc = cli_opt_pair(cmd, &opts[2], &ch, &cw, 1)) != CLI_CONTINUE) return rc;
    if ((opts[4].given || opts[5].given) && !opts[3].given)
        return cli_usage_error(cmd, "--stride and --padding go with --input-size");
    if (opts[3].given && (rc = cli_opt_pair(cmd, &opts[3], &ih, &iw, 1)) != CLI_CONTINUE) return rc;
    if (opts[4].given && (rc = cli_opt_pair(cmd, &opts[4], &sth, &stw, 1)) != CLI_CONTINUE) return rc;
    if (opts[5].given && (rc = opt_padding4(cmd, &opts[5], pad)) != CLI_CONTINUE) return rc;

    if (is_model_file(pos[0])) {
        if (opts[2].given || opts[3].given)
            return cli_usage_error(cmd, "%s applies to a conv kernel W.npy; a model's convolutions are measured at "
                                        "its input size",
                                   opts[2].given ? "--circular" : "--input-size");
#if NNLA_HAVE_ONNX
        return cli_inspect_model(cmd, pos[0], rank_tol, opts[1].given);
#else
        cli_error(cmd, "'%s' is an ONNX model, and this nnla was built without the ONNX module", pos[0]);
        return CLI_EXIT_FAIL;
#endif
    }
    nnla_array a = {0};
    nnla_cmat W;
    if (!load_weight(cmd, pos[0], &a, &W)) {
        nnla_array_free(&a);
        return CLI_EXIT_FAIL;
    }
    rc = CLI_EXIT_FAIL;
    size_t k = W.rows < W.cols ? W.rows : W.cols, bytes = 0, cbytes = 0, ccount = 0;
    double *spec = NULL, *cs = NULL;
    void *work = NULL;
    nnla_conv2d_desc cd = nnla_conv2d_desc_make(1, 1, 1, 1);
    if ((opts[2].given || opts[3].given) && a.ndim != 4) {
        cli_error(cmd, "%s applies to a 4-D conv kernel; W is %zu-D", opts[2].given ? "--circular" : "--input-size",
                  a.ndim);
        goto done;
    }
    nnla_conv2d_desc od = nnla_conv2d_desc_make(1, 1, 1, 1);
    if (opts[3].given) { /* the geometry is checked before anything is printed */
        od = nnla_conv2d_desc_make(a.shape[1], a.shape[0], a.shape[2], a.shape[3]);
        od.stride_h = sth;
        od.stride_w = stw;
        od.pad_top = pad[0];
        od.pad_bottom = pad[1];
        od.pad_left = pad[2];
        od.pad_right = pad[3];
        size_t oh, ow;
        nnla_status gs = nnla_conv2d_output_size(&od, ih, iw, &oh, &ow);
        if (gs == NNLA_ESHAPE) {
            cli_error(cmd, "--input-size %zu,%zu: the %zu x %zu kernel is larger than the padded input", ih, iw,
                      a.shape[2], a.shape[3]);
            goto done;
        }
        if (gs != NNLA_OK) {
            lib_fail(cmd, "--input-size", gs);
            goto done;
        }
    }
    nnla_status st = nnla_spectral_diagnose_workspace_size(W.rows, W.cols, &bytes);
    if (st == NNLA_OK && opts[2].given) {
        cd = nnla_conv2d_desc_make(a.shape[1], a.shape[0], a.shape[2], a.shape[3]);
        st = nnla_conv2d_circular_sv_workspace_size(&cd, ch, cw, &cbytes);
        if (st == NNLA_ESHAPE) {
            cli_error(cmd, "--circular %zu,%zu: the %zu x %zu kernel is larger than the input", ch, cw, a.shape[2],
                      a.shape[3]);
            goto done;
        }
        ccount = ch * cw * (a.shape[0] < a.shape[1] ? a.shape[0] : a.shape[1]);
    }
    if (st != NNLA_OK) {
        lib_fail(cmd, "workspace query", st);
        goto done;
    }
    spec = malloc(k * sizeof *spec);
    work = malloc(bytes > cbytes ? bytes : cbytes);
    if (opts[2].given) cs = malloc(ccount * sizeof *cs);
    if (spec == NULL || work == NULL || (opts[2].given && cs == NULL)) {
        cli_error(cmd, "out of memory for a %zu x %zu matrix", W.rows, W.cols);
        goto done;
    }
    nnla_spectral_diag d;
    st = nnla_spectral_diagnose(W, rank_tol, &d, spec, work, bytes);
    if (st != NNLA_OK) {
        lib_fail(cmd, "SVD failed", st);
        goto done;
    }
    if (opts[2].given) {
        st = nnla_conv2d_circular_sv(&cd, a.data, ch, cw, NNLA_CONV_SV_SORTED, cs, work, cbytes);
        if (st != NNLA_OK) {
            lib_fail(cmd, "circular convolution's singular values", st);
            goto done;
        }
    }
    char sh[96];
    printf("shape: %s\n", cli_shape(&a, sh, sizeof sh));
    printf("matrix: %zu x %zu%s\n", W.rows, W.cols, a.ndim == 4 ? " (the reshaped kernel O x C*KH*KW)" : "");
    printf("sigma_max: %.17g\n", d.sigma_max);
    printf("sigma_min: %.17g\n", d.sigma_min);
    printf("condition_number: %.17g\n", d.cond);
    printf("rank: %zu\n", d.rank);
    printf("rank_tol: %.17g\n", d.rank_tol);
    printf("effective_rank: %.17g\n", d.effective_rank);
    printf("stable_rank: %.17g\n", d.stable_rank);
    printf("frobenius: %.17g\n", d.fro);
    if (opts[1].given) print_values("spectrum", spec, k);
    if (opts[2].given) {
        printf("circular_input: %zu x %zu\n", ch, cw);
        printf("circular_operator_norm: %.17g\n", cs[0]);
        printf("circular_sigma_min: %.17g\n", cs[ccount - 1]);
        if (opts[1].given) print_values("circular_spectrum", cs, ccount);
    }
    if (opts[3].given) {
        fflush(stdout);
        rc = print_opnorm(cmd, &a, &od, ih, iw);
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    free(spec);
    free(cs);
    free(work);
    nnla_array_free(&a);
    return rc;
}

int cli_cmd_specnorm(const cli_command *cmd, int argc, char **argv)
{
    cli_opt opts[] = {{"--power", 0, 0, NULL},
                      {"--tol", 1, 0, NULL},
                      {"--max-iter", 1, 0, NULL},
                      {"--seed", 1, 0, NULL},
                      {"--out", 1, 0, NULL}};
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(cmd, argc, argv, opts, 5, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    int power = opts[0].given;
    nnla_power_opts po = nnla_power_opts_default();
    if (!power && (opts[1].given || opts[2].given || opts[3].given))
        return cli_usage_error(cmd, "--tol, --max-iter and --seed go with --power");
    if (opts[1].given && (!parse_real(opts[1].value, &po.tol) || !(po.tol > 0)))
        return cli_usage_error(cmd, "--tol '%s': expected a decimal number > 0", opts[1].value);
    if (opts[2].given && (rc = cli_opt_size(cmd, &opts[2], &po.max_iter, 1)) != CLI_CONTINUE) return rc;
    size_t seed = 0;
    if (opts[3].given && (rc = cli_opt_size(cmd, &opts[3], &seed, 0)) != CLI_CONTINUE) return rc;
    po.seed = (uint64_t)seed;

    nnla_array a = {0};
    nnla_cmat W;
    if (!load_weight(cmd, pos[0], &a, &W)) {
        nnla_array_free(&a);
        return CLI_EXIT_FAIL;
    }
    rc = CLI_EXIT_FAIL;
    size_t bytes;
    void *work = NULL;
    nnla_norm_method method = power ? NNLA_NORM_POWER : NNLA_NORM_EXACT;
    nnla_status st = nnla_spectral_normalize_workspace_size(method, W.rows, W.cols, &bytes);
    if (st != NNLA_OK) {
        lib_fail(cmd, "workspace query", st);
        goto done;
    }
    work = malloc(bytes);
    if (work == NULL) {
        cli_error(cmd, "out of memory for a %zu x %zu matrix", W.rows, W.cols);
        goto done;
    }
    double sigma = 0.0;
    nnla_power_info info = {0, 0.0, 0.0, 0};
    nnla_mat Wm = nnla_mat_view(a.data, W.rows, W.cols, W.ld);
    if (opts[4].given)
        st = nnla_spectral_normalize(Wm, method, &po, &sigma, NULL, NULL, &info, work, bytes);
    else if (power)
        st = nnla_spectral_norm_power(W, &po, &sigma, NULL, NULL, &info, work, bytes);
    else
        st = nnla_spectral_norm(W, &sigma, work, bytes);
    if (st == NNLA_ENOCONV && power) {
        printf("sigma: %.17g\niterations: %zu\nresidual: %.17g\n", sigma, info.iterations, info.residual);
        cli_error(cmd, "power iteration did not converge in %zu iterations (residual %.3g > tol/10 = %.3g); "
                       "raise --max-iter or --tol, or drop --power%s",
                  info.iterations, info.residual, po.tol / 10, opts[4].given ? "; nothing written" : "");
        goto done;
    }
    if (st != NNLA_OK) {
        lib_fail(cmd, power ? "power iteration failed" : "SVD failed", st);
        goto done;
    }
    printf("sigma: %.17g\n", sigma);
    if (power) printf("iterations: %zu\nresidual: %.17g\n", info.iterations, info.residual);
    if (opts[4].given && !cli_save(cmd, opts[4].value, a.data, a.ndim, a.shape)) goto done;
    rc = CLI_EXIT_OK;
done:
    free(work);
    nnla_array_free(&a);
    return rc;
}

/* "O,I" or "O,I,KH,KW": positive sizes. Returns the count (2 or 4), 0 when malformed. */
static size_t parse_shape(const char *text, size_t *shape)
{
    size_t n = 0;
    const char *p = text;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char part[32];
        if (n == 4 || len == 0 || len >= sizeof part) return 0;
        memcpy(part, p, len);
        part[len] = '\0';
        if (!cli_parse_size(part, &shape[n]) || shape[n] == 0) return 0;
        n++;
        if (!comma) break;
        p = comma + 1;
    }
    return n == 2 || n == 4 ? n : 0;
}

int cli_cmd_init(const cli_command *cmd, int argc, char **argv)
{
    cli_opt opts[] = {{"--xavier", 0, 0, NULL}, {"--he", 0, 0, NULL},     {"--lecun", 0, 0, NULL},
                      {"--orthogonal", 0, 0, NULL}, {"--normal", 0, 0, NULL}, {"--uniform", 0, 0, NULL},
                      {"--shape", 1, 0, NULL},  {"--seed", 1, 0, NULL},   {"--out", 1, 0, NULL},
                      {"--act", 1, 0, NULL},    {"--gain", 1, 0, NULL},   {"--mode", 1, 0, NULL}};
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(cmd, argc, argv, opts, 12, pos, 0, 0, &npos);
    if (rc != CLI_CONTINUE) return rc;
    int nfamily = opts[0].given + opts[1].given + opts[2].given + opts[3].given;
    if (nfamily != 1) return cli_usage_error(cmd, "give exactly one of --xavier, --he, --lecun, --orthogonal");
    if (opts[4].given && opts[5].given) return cli_usage_error(cmd, "--normal and --uniform exclude each other");
    if (opts[3].given && (opts[4].given || opts[5].given))
        return cli_usage_error(cmd, "--normal and --uniform do not apply to --orthogonal");
    if (!opts[6].given || !opts[7].given || !opts[8].given)
        return cli_usage_error(cmd, "--shape, --seed and --out are required");
    if (opts[9].given && opts[10].given) return cli_usage_error(cmd, "--act and --gain exclude each other");
    int normal = opts[4].given;
    nnla_init_kind kind = opts[3].given ? NNLA_INIT_ORTHOGONAL
                          : opts[0].given ? (normal ? NNLA_INIT_XAVIER_NORMAL : NNLA_INIT_XAVIER_UNIFORM)
                          : opts[1].given ? (normal ? NNLA_INIT_HE_NORMAL : NNLA_INIT_HE_UNIFORM)
                                          : (normal ? NNLA_INIT_LECUN_NORMAL : NNLA_INIT_LECUN_UNIFORM);
    size_t shape[4], nd = parse_shape(opts[6].value, shape);
    if (nd == 0) return cli_usage_error(cmd, "--shape '%s': expected O,I or O,I,KH,KW with positive integers",
                                        opts[6].value);
    size_t seed;
    if ((rc = cli_opt_size(cmd, &opts[7], &seed, 0)) != CLI_CONTINUE) return rc;
    nnla_fan_mode mode = NNLA_FAN_IN;
    if (opts[11].given) {
        if (strcmp(opts[11].value, "fan_in") == 0)
            mode = NNLA_FAN_IN;
        else if (strcmp(opts[11].value, "fan_out") == 0)
            mode = NNLA_FAN_OUT;
        else
            return cli_usage_error(cmd, "--mode '%s': expected fan_in or fan_out", opts[11].value);
    }
    double gain = opts[1].given ? sqrt(2.0) : 1.0;
    if (opts[10].given && (!parse_real(opts[10].value, &gain) || gain < 0))
        return cli_usage_error(cmd, "--gain '%s': expected a decimal number >= 0", opts[10].value);
    if (opts[9].given) {
        nnla_act act;
        if ((rc = cli_parse_act(cmd, opts[9].value, &act)) != CLI_CONTINUE) return rc;
        nnla_status gs = nnla_init_gain(act, &gain);
        if (gs == NNLA_EUNSUPPORTED)
            return cli_usage_error(cmd, "--act %s: PyTorch defines no gain for it; give --gain", opts[9].value);
        if (gs != NNLA_OK) return cli_usage_error(cmd, "--act %s: %s", opts[9].value, nnla_strerror(gs));
    }

    size_t count = cli_product(shape, nd), bytes;
    nnla_status st = count ? nnla_init_workspace_size(kind, nd, shape, &bytes) : NNLA_EOVERFLOW;
    if (st != NNLA_OK) {
        if (st == NNLA_EOVERFLOW)
            cli_error(cmd, "--shape %s is too large", opts[6].value);
        else
            cli_error(cmd, "--shape %s: %s", opts[6].value, nnla_strerror(st));
        return CLI_EXIT_FAIL;
    }
    double *w = malloc(count * sizeof *w);
    void *work = bytes ? malloc(bytes) : NULL;
    rc = CLI_EXIT_FAIL;
    if (w == NULL || (bytes && work == NULL)) {
        cli_error(cmd, "out of memory for %zu weights", count);
        goto done;
    }
    nnla_rng rng;
    nnla_rng_seed(&rng, (uint64_t)seed);
    st = nnla_init_tensor(kind, gain, mode, nd, shape, w, &rng, work, bytes);
    if (st == NNLA_EINVAL) {
        cli_error(cmd, "--gain %g is too large for this shape", gain);
        goto done;
    }
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "initialization failed", st);
        goto done;
    }
    if (!cli_save(cmd, opts[8].value, w, nd, shape)) goto done;
    rc = CLI_EXIT_OK;
done:
    free(w);
    free(work);
    return rc;
}
