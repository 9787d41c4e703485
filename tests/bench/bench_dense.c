/*
 * nnla-bench dense: the dense forward pass against the raw BLAS call inside it, and a count
 * of the allocations a network's forward pass makes.
 *
 *   BENCH dense_b256_1024x1024_relu median_s=... gflops=... speedup_vs_dgemm=...
 *   BENCH dense_b64_784x256_relu    median_s=... gflops=... speedup_vs_dgemm=...
 *   BENCH dense_b1_1024x1024        median_s=... gflops=... speedup_vs_dgemv=...
 *   BENCH net_cnn_forward           median_s=... allocations=0
 *
 * The dense cases run bias + ReLU (the one-sample case too); the baseline is the bare
 * product of the same shape, C = X W^T with beta = 0 (cblas_dgemm, or cblas_dgemv for one
 * sample), timed in alternation with the layer by bench_compare().
 *
 * Allocation count: this program defines malloc, calloc, realloc, free and the aligned
 * allocators, forwarding to glibc's __libc_* entry points, so every allocation made in the
 * process (libnnla, OpenBLAS, libc) goes through them; they count while a flag is set, and
 * sort each call by its caller: code inside libopenblas, or anything else. OpenBLAS 0.3.21's
 * multithreaded GEMM driver mallocs its job array (~0.5 MB) on every threaded call, which no
 * caller can prevent, so the line reports
 *   allocations=<n>            everything else during nnla_net_forward() (must be 0);
 *   openblas_allocations=<m>   the threaded GEMM driver's own, with the default thread count;
 *   allocations_1thread=<k>    all allocations in the process with one BLAS thread (must be 0).
 * Not available under AddressSanitizer, which owns malloc (-1 there).
 */
#define _GNU_SOURCE /* dl_iterate_phdr */
#include <cblas.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnla.h>

#include "bench.h"

/* ------------------------------------------------------------------ allocation counter */

#if defined(__SANITIZE_ADDRESS__)
#define NNLA_BENCH_COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NNLA_BENCH_COUNT_ALLOCS 0
#endif
#endif
#if !defined(NNLA_BENCH_COUNT_ALLOCS) && defined(__GLIBC__)
#define NNLA_BENCH_COUNT_ALLOCS 1
#endif
#if !defined(NNLA_BENCH_COUNT_ALLOCS)
#define NNLA_BENCH_COUNT_ALLOCS 0
#endif

static atomic_int counting;
static atomic_long allocations, blas_allocations;

#if NNLA_BENCH_COUNT_ALLOCS
#include <link.h>

/* The executable segments of libopenblas, found once before counting starts. */
static struct {
    unsigned long lo, hi;
} blas_text[8];
static int n_blas_text;

static int find_blas(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    if (info->dlpi_name == NULL || strstr(info->dlpi_name, "libopenblas") == NULL) return 0;
    for (int i = 0; i < info->dlpi_phnum && n_blas_text < 8; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        blas_text[n_blas_text].lo = (unsigned long)(info->dlpi_addr + ph->p_vaddr);
        blas_text[n_blas_text].hi = blas_text[n_blas_text].lo + (unsigned long)ph->p_memsz;
        n_blas_text++;
    }
    return 0;
}

static void find_blas_text(void)
{
    n_blas_text = 0;
    dl_iterate_phdr(find_blas, NULL);
}

static int in_blas(const void *ra)
{
    unsigned long a = (unsigned long)ra;
    for (int i = 0; i < n_blas_text; i++)
        if (a >= blas_text[i].lo && a < blas_text[i].hi) return 1;
    return 0;
}
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

/* Prototypes for -Wmissing-prototypes; stdlib.h declares most of them already. */
void *memalign(size_t align, size_t n);
int posix_memalign(void **out, size_t align, size_t n);
void *valloc(size_t n);
void *pvalloc(size_t n);

static void count(const void *caller)
{
    if (!atomic_load_explicit(&counting, memory_order_relaxed)) return;
    atomic_fetch_add_explicit(in_blas(caller) ? &blas_allocations : &allocations, 1, memory_order_relaxed);
}

#define count_one() count(__builtin_return_address(0))

void *malloc(size_t n)
{
    count_one();
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    count_one();
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    count_one();
    return __libc_realloc(p, n);
}

void free(void *p) { __libc_free(p); }

void *memalign(size_t align, size_t n)
{
    count_one();
    return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    count_one();
    return __libc_memalign(align, n);
}

void *valloc(size_t n)
{
    count_one();
    return __libc_memalign(4096, n);
}

void *pvalloc(size_t n)
{
    count_one();
    return __libc_memalign(4096, (n + 4095) & ~(size_t)4095);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    count_one();
    if (align < sizeof(void *) || (align & (align - 1)) != 0) return 22; /* EINVAL */
    void *p = __libc_memalign(align, n);
    if (p == NULL && n != 0) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
#endif

/* ------------------------------------------------------------------ dense cases */

typedef struct dense_case {
    size_t batch, in, out;
    double *x, *w, *b, *y, *c;
    nnla_act act;
} dense_case;

static void run_layer(void *p)
{
    dense_case *d = p;
    nnla_status st = nnla_dense_forward(nnla_cmat_view(d->x, d->batch, d->in, d->in),
                                        nnla_cmat_view(d->w, d->out, d->in, d->in), d->b, d->act,
                                        nnla_mat_view(d->y, d->batch, d->out, d->out));
    if (st != NNLA_OK) {
        fprintf(stderr, "nnla_dense_forward: %s\n", nnla_strerror(st));
        exit(1);
    }
}

static void run_dgemm(void *p)
{
    dense_case *d = p;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d->batch, (int)d->out, (int)d->in, 1.0, d->x,
                (int)d->in, d->w, (int)d->in, 0.0, d->c, (int)d->out);
}

static void run_dgemv(void *p)
{
    dense_case *d = p;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)d->out, (int)d->in, 1.0, d->w, (int)d->in, d->x, 1, 0.0,
                d->c, 1);
}

static int bench_dense_case(const char *name, size_t batch, size_t in, size_t out, int reps)
{
    dense_case d;
    d.batch = batch;
    d.in = in;
    d.out = out;
    d.act = nnla_act_default(NNLA_ACT_RELU);
    d.x = malloc(batch * in * sizeof(double));
    d.w = malloc(out * in * sizeof(double));
    d.b = malloc(out * sizeof(double));
    d.y = malloc(batch * out * sizeof(double));
    d.c = malloc(batch * out * sizeof(double));
    if (!d.x || !d.w || !d.b || !d.y || !d.c) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    unsigned long long s = 12345;
    for (size_t i = 0; i < batch * in; i++) d.x[i] = bench_urand(&s);
    for (size_t i = 0; i < out * in; i++) d.w[i] = bench_urand(&s) * 0.05;
    for (size_t i = 0; i < out; i++) d.b[i] = bench_urand(&s) * 0.1;
    double tl, tb;
    int one = batch == 1;
    bench_compare(run_layer, &d, one ? run_dgemv : run_dgemm, &d, 5, reps, &tl, &tb);
    double flops = 2.0 * (double)batch * (double)in * (double)out;
    printf("BENCH %s median_s=%.6g gflops=%.4g speedup_vs_%s=%.4f\n", name, tl, flops / tl * 1e-9,
           one ? "dgemv" : "dgemm", tb / tl);
    fflush(stdout);
    free(d.x);
    free(d.w);
    free(d.b);
    free(d.y);
    free(d.c);
    return 0;
}

/* ------------------------------------------------------------------ network forward */

typedef struct net_case {
    nnla_net *net;
    size_t batch;
    const double *x;
    double *y;
    void *work;
    size_t work_size;
    nnla_status st;
} net_case;

static void run_net(void *p)
{
    net_case *c = p;
    nnla_status st = nnla_net_forward(c->net, c->batch, c->x, c->y, c->work, c->work_size);
    if (st != NNLA_OK) c->st = st;
}

/* A small CNN on 1x28x28: conv 3x3 (8) + ReLU, max pool 2, conv 3x3 (16) + ReLU, global average
 * pool, flatten, dense 16 -> 10, softmax; batch 16. */
static nnla_status build_cnn(nnla_net **out)
{
    nnla_net *net = NULL;
    unsigned long long s = 777;
    double w1[8 * 1 * 9], b1[8], w2[16 * 8 * 9], b2[16], w3[10 * 16], b3[10];
    for (size_t i = 0; i < sizeof w1 / sizeof w1[0]; i++) w1[i] = bench_urand(&s) * 0.3;
    for (size_t i = 0; i < sizeof w2 / sizeof w2[0]; i++) w2[i] = bench_urand(&s) * 0.1;
    for (size_t i = 0; i < sizeof w3 / sizeof w3[0]; i++) w3[i] = bench_urand(&s) * 0.2;
    for (size_t i = 0; i < 8; i++) b1[i] = bench_urand(&s) * 0.1;
    for (size_t i = 0; i < 16; i++) b2[i] = bench_urand(&s) * 0.1;
    for (size_t i = 0; i < 10; i++) b3[i] = bench_urand(&s) * 0.1;
    nnla_conv2d_desc c1 = nnla_conv2d_desc_make(1, 8, 3, 3), c2 = nnla_conv2d_desc_make(8, 16, 3, 3);
    c1.pad_h = c1.pad_w = c2.pad_h = c2.pad_w = 1;
    nnla_pool2d_desc p = {NNLA_POOL_MAX, 2, 2, 2, 2, 0, 0};
    nnla_act relu = nnla_act_default(NNLA_ACT_RELU);
    nnla_status st = nnla_net_create(1, 28, 28, &net);
    if (st == NNLA_OK) st = nnla_net_add_conv2d(net, &c1, w1, b1, relu);
    if (st == NNLA_OK) st = nnla_net_add_pool2d(net, &p);
    if (st == NNLA_OK) st = nnla_net_add_conv2d(net, &c2, w2, b2, relu);
    if (st == NNLA_OK) st = nnla_net_add_global_avgpool(net);
    if (st == NNLA_OK) st = nnla_net_add_flatten(net);
    if (st == NNLA_OK) st = nnla_net_add_dense(net, nnla_cmat_view(w3, 10, 16, 16), b3, nnla_act_default(NNLA_ACT_IDENTITY));
    if (st == NNLA_OK) st = nnla_net_add_act(net, nnla_act_default(NNLA_ACT_SOFTMAX));
    if (st != NNLA_OK) {
        nnla_net_free(net);
        return st;
    }
    *out = net;
    return NNLA_OK;
}

static int bench_net_alloc(int reps)
{
    net_case c;
    memset(&c, 0, sizeof c);
    c.batch = 16;
    nnla_status st = build_cnn(&c.net);
    if (st == NNLA_OK) st = nnla_net_workspace_size(c.net, c.batch, &c.work_size);
    if (st != NNLA_OK) {
        fprintf(stderr, "net_cnn_forward: %s\n", nnla_strerror(st));
        nnla_net_free(c.net);
        return 1;
    }
    double *x = malloc(c.batch * 28 * 28 * sizeof *x);
    c.y = malloc(c.batch * 10 * sizeof *c.y);
    c.work = malloc(c.work_size);
    if (!x || !c.y || !c.work) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    unsigned long long s = 99;
    for (size_t i = 0; i < c.batch * 28 * 28; i++) x[i] = bench_urand(&s);
    c.x = x;
    double *times = malloc((size_t)reps * sizeof *times);
    if (!times) return 1;
#if NNLA_BENCH_COUNT_ALLOCS
    find_blas_text();
#endif
    for (int i = 0; i < 3; i++) run_net(&c); /* warm-up: OpenBLAS sets up buffers and threads */
    atomic_store(&allocations, 0);
    atomic_store(&blas_allocations, 0);
    for (int i = 0; i < reps; i++) {
        atomic_store(&counting, 1); /* count only inside nnla_net_forward */
        double t0 = bench_now();
        run_net(&c);
        times[i] = bench_now() - t0;
        atomic_store(&counting, 0);
    }
    double t = bench_median(times, (size_t)reps);
    free(times);
    long n = atomic_load(&allocations), nb = atomic_load(&blas_allocations);

    /* again with one BLAS thread (restored afterwards): then nothing at all may allocate */
    int threads = nnla_blas_num_threads();
    nnla_blas_set_num_threads(1);
    for (int i = 0; i < 2; i++) run_net(&c);
    atomic_store(&allocations, 0);
    atomic_store(&blas_allocations, 0);
    atomic_store(&counting, 1);
    for (int i = 0; i < 10; i++) run_net(&c);
    atomic_store(&counting, 0);
    long n1 = atomic_load(&allocations) + atomic_load(&blas_allocations);
    nnla_blas_set_num_threads(threads);
    if (!NNLA_BENCH_COUNT_ALLOCS) n = nb = n1 = -1;

    if (c.st != NNLA_OK) {
        fprintf(stderr, "net_cnn_forward: %s\n", nnla_strerror(c.st));
        return 1;
    }
    printf("BENCH net_cnn_forward median_s=%.6g allocations=%ld openblas_allocations=%ld "
           "allocations_1thread=%ld\n",
           t, n, nb, n1);
    fflush(stdout);
    free(x);
    free(c.y);
    free(c.work);
    nnla_net_free(c.net);
    return n > 0 || n1 > 0 ? 1 : 0;
}

int bench_cmd_dense(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int rc = 0;
    rc |= bench_dense_case("dense_b256_1024x1024_relu", 256, 1024, 1024, bench_reps(41));
    rc |= bench_dense_case("dense_b64_784x256_relu", 64, 784, 256, bench_reps(301));
    rc |= bench_dense_case("dense_b1_1024x1024", 1, 1024, 1024, bench_reps(301));
    rc |= bench_net_alloc(bench_reps(101));
    return rc;
}
