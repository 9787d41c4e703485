/* Benchmarks of the dense module (placeholder until the module lands). */
#include <stdio.h>

#include "bench.h"

int bench_cmd_dense(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "nnla-bench dense: not built yet\n");
    return 1;
}

