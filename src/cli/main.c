/*
 * `nnla`: libnnla's operations from the shell, on NumPy .npy files.
 *
 *   nnla --help | --version
 *   nnla COMMAND [ARGS...]          nnla COMMAND --help
 *
 * The command table below is the whole dispatch: a new command is one more entry.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_command commands[] = {
    {"svd", cli_cmd_svd, "singular value decomposition of a matrix (U, S, Vt)", cli_help_svd},
    {"eigh", cli_cmd_eigh, "eigenvalues and eigenvectors of a symmetric matrix", cli_help_eigh},
    {"dense", cli_cmd_dense, "dense layer forward pass: act(X W^T + b)", cli_help_dense},
    {"conv2d", cli_cmd_conv2d, "2-D convolution of an NCHW batch (PyTorch layout)", cli_help_conv2d},
    {"act", cli_cmd_act, "apply an activation function (softmax over axis 1, as PyTorch's dim=1)", cli_help_act},
    {"pool", cli_cmd_pool, "max or average pooling of an NCHW batch", cli_help_pool},
    {"inspect", cli_cmd_inspect, "spectral figures of a weight, or of every layer of an ONNX model", cli_help_inspect},
    {"specnorm", cli_cmd_specnorm, "spectral norm of a weight (exact or power iteration); W / sigma", cli_help_specnorm},
    {"init", cli_cmd_init, "a new weight: Xavier, He, LeCun or orthogonal, from a seed", cli_help_init},
#if NNLA_HAVE_ONNX
    {"run", cli_cmd_run, "run an ONNX model on a batch of samples (double precision)", cli_help_run},
    {"convert", cli_cmd_convert, "load an ONNX model and save it in float32 or float64", cli_help_convert},
    {"compress", cli_cmd_compress, "low-rank compression of an ONNX model's dense and conv layers", cli_help_compress},
    {"train", cli_cmd_train, "fine-tune an ONNX model on X.npy, Y.npy (SGD, momentum, Adam, AdamW)", cli_help_train},
#endif
    {"lowrank", cli_cmd_lowrank, "best rank-k factors W ~ L R (rank, energy or tolerance), errors", cli_help_lowrank},
    {"pca", cli_cmd_pca, "principal component analysis: components, variances, transformed data", cli_help_pca},
};
#define NUM_COMMANDS (sizeof commands / sizeof commands[0])

static void print_help(FILE *out)
{
    fprintf(out, "usage: nnla COMMAND [ARGS...]\n"
                 "       nnla COMMAND --help\n"
                 "       nnla --help | --version\n\n"
                 "Linear algebra of neural networks on NumPy .npy arrays (float64 or float32 in;\n"
                 "float64 out), with libnnla over OpenBLAS and LAPACK.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < NUM_COMMANDS; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nA file name '-' reads standard input or writes standard output (svd and eigh, which\n"
                 "write several files, take a prefix). Output files are replaced whole or not at all.\n"
                 "Exit status: 0 success, 1 failure (bad input file, shapes, I/O), 2 usage error.\n");
}

static void print_version(void)
{
    printf("nnla %d.%d.%d (libnnla %s)\n", NNLA_VERSION_MAJOR, NNLA_VERSION_MINOR, NNLA_VERSION_PATCH,
           nnla_version());
    printf("BLAS: %s\n", nnla_blas_config());
}

int main(int argc, char **argv)
{
    /* Past a file size limit (ulimit -f) a write then fails with EFBIG, which is reported and
     * cleaned up, instead of the signal killing the program with a temporary file left behind. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        print_help(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        if (argc > 2) { /* nnla help COMMAND */
            for (size_t i = 0; i < NUM_COMMANDS; i++)
                if (strcmp(argv[2], commands[i].name) == 0) {
                    cli_print_help(commands[i].help, stdout);
                    return CLI_EXIT_OK;
                }
            fprintf(stderr, "nnla: unknown command '%s'\nTry 'nnla --help'.\n", argv[2]);
            return CLI_EXIT_USAGE;
        }
        print_help(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        print_version();
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < NUM_COMMANDS; i++)
        if (strcmp(name, commands[i].name) == 0) return commands[i].run(&commands[i], argc - 1, argv + 1);
    if (name[0] == '-')
        fprintf(stderr, "nnla: unknown option '%s'\nTry 'nnla --help'.\n", name);
    else
        fprintf(stderr, "nnla: unknown command '%s'\nTry 'nnla --help'.\n", name);
    return CLI_EXIT_USAGE;
}
