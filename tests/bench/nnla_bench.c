/*
 * nnla-bench: benchmarks of libnnla against baselines measured in the same run.
 * Each case prints one line:
 *   BENCH <case> median_s=<seconds> speedup_vs_<baseline>=<x> ...
 * where speedup = baseline median / nnla median (above 1: nnla is faster).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nnla.h>

#include "bench.h"

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double bench_time(void (*fn)(void *), void *arg, int warmup, int reps)
{
    for (int i = 0; i < warmup; i++) fn(arg);
    double *t = malloc((size_t)reps * sizeof *t);
    if (!t) return -1.0;
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        fn(arg);
        t[i] = bench_now() - t0;
    }
    double m = bench_median(t, (size_t)reps);
    free(t);
    return m;
}

void bench_compare(void (*fa)(void *), void *a, void (*fb)(void *), void *b, int warmup, int reps,
                   double *median_a, double *median_b)
{
    for (int i = 0; i < warmup; i++) {
        fa(a);
        fb(b);
    }
    double *ta = malloc((size_t)reps * sizeof *ta), *tb = malloc((size_t)reps * sizeof *tb);
    if (!ta || !tb) {
        free(ta);
        free(tb);
        *median_a = *median_b = -1.0;
        return;
    }
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        fa(a);
        double t1 = bench_now();
        fb(b);
        double t2 = bench_now();
        ta[i] = t1 - t0;
        tb[i] = t2 - t1;
    }
    *median_a = bench_median(ta, (size_t)reps);
    *median_b = bench_median(tb, (size_t)reps);
    free(ta);
    free(tb);
}

int bench_reps(int dflt)
{
    const char *s = getenv("NNLA_BENCH_REPS");
    if (s && atoi(s) > 0) return atoi(s);
    return dflt;
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"svd", bench_cmd_svd, "thin SVD vs LAPACKE row-major dgesdd, n = 256, 512, 1024"},
    {"eigh", bench_cmd_eigh, "eigh with vectors vs LAPACKE row-major dsyevd, n = 256, 512, 1024"},
    {"gemm", bench_cmd_gemm, "nnla_gemm vs raw cblas_dgemm at 64^3, 256^3, 1024^3"},
    {"dense", bench_cmd_dense, "dense forward vs raw cblas_dgemm / cblas_dgemv"},
    {"conv", bench_cmd_conv, "conv2d forward vs its bare GEMMs and direct loops"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: nnla-bench <command> [args]\n"
               "Prints one 'BENCH <case> median_s=... speedup_vs_<baseline>=...' line per case.\n"
               "Environment: NNLA_BENCH_REPS overrides the number of timed runs.\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-6s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "  all    every command above\n");
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
        if (all || !strcmp(argv[1], commands[i].name)) {
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
