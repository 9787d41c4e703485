/*
 * nnla-bench copy: the platform fact behind nnla__copy (src/internal.h). glibc's memcpy
 * against a plain loop, copying blocks of 1-64 KiB whose destination lies <k> bytes past the
 * source modulo 4096: 16 and 48 (where glibc 2.36's rep movsb is slow on AMD Zen 3), 64 and
 * 2048 (where it is fast):
 *
 *   BENCH copy_<bytes>_off<k> memcpy_gbps=<GB/s> loop_gbps=<GB/s> loop_over_memcpy=<x>
 *
 * loop_over_memcpy above 1: the loop is faster. libnnla copies with the loop only from 2 KiB
 * on and when dst lies 1-127 bytes past src modulo 4096; with memcpy otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct copy_case {
    double *dst;
    const double *src;
    size_t n;   /* doubles per copy */
    size_t reps; /* copies per timing */
} copy_case;

/* Called through pointers, so that the compiler can neither inline nor merge them. */
static void *(*volatile memcpy_fn)(void *, const void *, size_t) = memcpy;

static void loop_copy(double *dst, const double *src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = src[i];
}
static void (*volatile loop_fn)(double *, const double *, size_t) = loop_copy;

static void run_memcpy(void *p)
{
    copy_case *c = p;
    for (size_t r = 0; r < c->reps; r++) memcpy_fn(c->dst, c->src, c->n * sizeof(double));
}

static void run_loop(void *p)
{
    copy_case *c = p;
    for (size_t r = 0; r < c->reps; r++) loop_fn(c->dst, c->src, c->n);
}

int bench_cmd_copy(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const size_t span = (size_t)1 << 20;
    char *a = aligned_alloc(4096, span), *b = aligned_alloc(4096, span);
    if (!a || !b) {
        fprintf(stderr, "out of memory\n");
        free(a);
        free(b);
        return 1;
    }
    memset(a, 0, span);
    memset(b, 0, span);
    static const size_t sizes[] = {1024, 8192, 65536};
    static const size_t offs[] = {16, 48, 64, 2048};
    int reps = bench_reps(15);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
            copy_case c = {(double *)(void *)(b + offs[k]), (const double *)(const void *)a,
                           sizes[i] / sizeof(double), ((size_t)16 << 20) / sizes[i]};
            double tm, tl;
            bench_compare(run_memcpy, &c, run_loop, &c, 2, reps, &tm, &tl);
            double bytes = (double)sizes[i] * (double)c.reps;
            printf("BENCH copy_%zu_off%zu memcpy_gbps=%.3g loop_gbps=%.3g loop_over_memcpy=%.3f\n", sizes[i], offs[k],
                   bytes / tm * 1e-9, bytes / tl * 1e-9, tm / tl);
        }
    free(a);
    free(b);
    return 0;
}
