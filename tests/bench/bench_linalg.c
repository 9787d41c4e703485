/* Benchmarks of the linalg module (placeholder until the module lands). */
#include <stdio.h>

#include "bench.h"

int bench_cmd_svd(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "nnla-bench svd: not built yet\n");
    return 1;
}

int bench_cmd_eigh(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "nnla-bench eigh: not built yet\n");
    return 1;
}

int bench_cmd_gemm(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "nnla-bench gemm: not built yet\n");
    return 1;
}

