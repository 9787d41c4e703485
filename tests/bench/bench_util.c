/* Shared helpers of nnla-bench (bench.h): timing, inputs, the conv shapes; also used by ab/. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <time.h>

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

double bench_urand(unsigned long long *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}

const bench_conv_shape bench_conv_shapes[] = {
    {"b32_c3_32x32_o32_k3p1", 32, 3, 32, 32, 3, 1},     {"b32_c32_32x32_o64_k3p1", 32, 32, 32, 64, 3, 1},
    {"b8_c64_56x56_o64_k3p1", 8, 64, 56, 64, 3, 1},     {"b8_c256_14x14_o256_k3p1", 8, 256, 14, 256, 3, 1},
    {"b8_c64_56x56_o256_k1p0", 8, 64, 56, 256, 1, 0},
};
const size_t bench_conv_nshapes = sizeof bench_conv_shapes / sizeof bench_conv_shapes[0];
