/*
 * nnla-bench: benchmarks of libnnla against baselines measured in the same run.
 * Each case prints one line:
 *   BENCH <case> median_s=<seconds> speedup_vs_<baseline>=<x> ...
 * where speedup = baseline median / nnla median (above 1: nnla is faster).
 */
#include <stdio.h>
#include <string.h>

#include <nnla.h>

#include "bench.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"svd", bench_cmd_svd, "thin SVD vs LAPACKE row-major dgesdd, n = 256, 512, 1024"},
    {"eigh", bench_cmd_eigh, "eigh with vectors vs LAPACKE row-major dsyevd, n = 256, 512, 1024"},
    {"gemm", bench_cmd_gemm, "nnla_gemm vs raw cblas_dgemm at 64^3, 256^3, 1024^3"},
    {"dense", bench_cmd_dense, "dense forward vs raw cblas_dgemm / cblas_dgemv"},
    {"optim", bench_cmd_optim, "Adam/AdamW/SGD step on 1e6 parameters vs a triad; losses on 1024 x 10"},
    {"conv", bench_cmd_conv, "conv2d forward vs the im2col GEMMs, its own GEMM calls, direct loops; backward"},
    {"train", bench_cmd_train, "one epoch of 1437 digits, batch 32, Adam: a CNN and an MLP; step over forward"},
    {"copy", bench_cmd_copy, "glibc memcpy vs a plain loop, 1-64 KiB (why nnla copies with a loop)"},
    {"spectral", bench_cmd_spectral, "power-iteration norm vs values-only SVD (n = 1024); circular-conv singular values"},
    {"power-sweep", bench_cmd_power_sweep, "not timed: how often power iteration stops off by > tol (nearly degenerate)"},
    {"gate", bench_cmd_gate, "the BLAS gate's cost: gemm 8, 32, 96 with and without it, 1/2/8 threads"},
    {"lowrank", bench_cmd_lowrank, "randomized SVD (k 32, p 10, q 2) vs full thin SVD, 1024x1024, 4096x1024"},
#if NNLA_HAVE_ONNX
    {"onnx", bench_cmd_onnx, "ONNX load time (1.15 M parameters), imported vs hand-built CNN (batch 64), compressing it"},
#endif
};

static void usage(FILE *f)
{
    fprintf(f, "usage: nnla-bench <command> [args]\n"
               "Prints one 'BENCH <case> median_s=... speedup_vs_<baseline>=...' line per case.\n"
               "Environment: NNLA_BENCH_REPS overrides the number of timed runs.\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "  all          every command above but power-sweep (which times nothing)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    printf("# nnla %s; %s; core %s; %d BLAS threads\n", nnla_version(), nnla_blas_config(),
           nnla_blas_corename(), nnla_blas_num_threads());
    fflush(stdout);
    int all = !strcmp(argv[1], "all"), rc = 0, found = 0;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if ((all && strcmp(commands[i].name, "power-sweep") != 0) || !strcmp(argv[1], commands[i].name)) {
            found = 1;
            int r = commands[i].fn(argc - 2, argv + 2);
            if (r) rc = r;
            fflush(stdout);
        }
    if (!found) {
        fprintf(stderr, "nnla-bench: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    return rc;
}
