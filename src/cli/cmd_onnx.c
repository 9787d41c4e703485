/* `nnla run` and `nnla convert`: ONNX models from the shell (built with the ONNX module). */
#include <errno.h>
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
    void *buf = NULL;
    rc = CLI_EXIT_FAIL;
    char msg[512];
    size_t size = 0;
    if (!load_model(cmd, pos[0], load_flags, &net)) goto done;
    nnla_status st = nnla_onnx_encoded_size(net, save_flags, &size, msg, sizeof msg);
    buf = st == NNLA_OK ? malloc(size ? size : 1) : NULL;
    if (st == NNLA_OK && buf == NULL) st = NNLA_ENOMEM, snprintf(msg, sizeof msg, "out of memory");
    if (st == NNLA_OK) st = nnla_onnx_save_mem(net, save_flags, buf, size, NULL, msg, sizeof msg);
    if (st != NNLA_OK) {
        cli_error(cmd, "cannot save the model: %s (%s)", msg, nnla_status_name(st));
        goto done;
    }
    if (cli_save_bytes(cmd, opts[0].value, buf, size)) rc = CLI_EXIT_OK;
done:
    free(buf);
    nnla_net_free(net);
    return rc;
}
