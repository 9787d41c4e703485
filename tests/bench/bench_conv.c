/* Benchmarks of the conv module (placeholder until the module lands). */
#include <stdio.h>

#include "bench.h"

int bench_cmd_conv(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "nnla-bench conv: not built yet\n");
    return 1;
}

