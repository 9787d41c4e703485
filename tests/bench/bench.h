/* Shared pieces of nnla-bench: timing, medians, the BENCH line, the command table. */
#ifndef NNLA_BENCH_H
#define NNLA_BENCH_H

#include <stddef.h>

/* Monotonic wall-clock time in seconds. */
double bench_now(void);

/* Median of n values (sorts them in place). */
double bench_median(double *v, size_t n);

/*
 * Time fn(arg) `reps` times after `warmup` untimed calls; return the median in seconds.
 * Runs of a case and of its baseline should be interleaved by the caller when the machine
 * is noisy: bench_compare() does that.
 */
double bench_time(void (*fn)(void *), void *arg, int warmup, int reps);

/*
 * Time two functions in alternation (A, B, A, B, ...) after a warm-up of each and return both
 * medians: the fair way to compare a case with its baseline on a shared, noisy machine.
 */
void bench_compare(void (*fa)(void *), void *a, void (*fb)(void *), void *b, int warmup, int reps,
                   double *median_a, double *median_b);

/* Repetitions to use: NNLA_BENCH_REPS from the environment, else `dflt`. */
int bench_reps(int dflt);

/* A uniform pseudo-random number in [-1, 1) from the 64-bit LCG state *s (inputs of the cases). */
double bench_urand(unsigned long long *s);

/* The convolution shapes of `nnla-bench conv` (and of the A/B harness in ab/): stride 1, square
 * images and kernels. name is the case name without the "conv_" prefix. */
typedef struct bench_conv_shape {
    const char *name;
    size_t batch, in, hw, out, k, pad;
} bench_conv_shape;
extern const bench_conv_shape bench_conv_shapes[];
extern const size_t bench_conv_nshapes;

/* Count the process's allocations between begin and end (bench_dense.c replaces malloc and friends):
 * lib receives those made outside OpenBLAS, blas those made by OpenBLAS's code; -1 and -1 where the
 * count is not available (AddressSanitizer). */
void bench_alloc_begin(void);
void bench_alloc_end(long *lib, long *blas);

/* Commands: each takes argc/argv after the command name and returns a process exit code. */
int bench_cmd_svd(int argc, char **argv);
int bench_cmd_eigh(int argc, char **argv);
int bench_cmd_gemm(int argc, char **argv);
int bench_cmd_dense(int argc, char **argv);
int bench_cmd_conv(int argc, char **argv);
int bench_cmd_copy(int argc, char **argv);
int bench_cmd_spectral(int argc, char **argv);
int bench_cmd_power_sweep(int argc, char **argv);
int bench_cmd_optim(int argc, char **argv);
int bench_cmd_gate(int argc, char **argv);
int bench_cmd_train(int argc, char **argv);
int bench_cmd_onnx(int argc, char **argv); /* bench_onnx.c, built with the ONNX module */
int bench_cmd_lowrank(int argc, char **argv);

#endif /* NNLA_BENCH_H */
