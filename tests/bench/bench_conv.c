/*
 * nnla-bench conv: nnla_conv2d_forward (stride 1, bias, ReLU, the preferred workspace)
 * against the GEMMs of the textbook im2col convolution, against the GEMM calls it makes
 * itself, and against a direct convolution loop; then the backward passes.
 *
 *   BENCH conv_b32_c3_32x32_o32_k3p1 median_s=... gflops=... peak_fraction=... dgemm_gflops=...
 *         speedup_vs_gemm=... speedup_vs_calls=... speedup_vs_direct=... workspace_bytes=...
 *   BENCH conv_bwd_b32_c3_32x32_o32_k3p1 median_s=... gflops=... peak_fraction=... dgemm_gflops=...
 *         speedup_vs_gemm=... workspace_bytes=...
 *
 * gflops counts the convolution's own 2*batch*out*(in*kh*kw)*out_h*out_w operations (twice that
 * for the backward line: nnla_conv2d_backward_data, then nnla_conv2d_backward_weights with the
 * bias gradient, each with its preferred workspace). peak_fraction is the pass's GFLOP/s over the
 * GFLOP/s of a 1024^3 cblas_dgemm, the two timed in alternation (dgemm_gflops=): the share of the
 * machine's GEMM speed the pass reaches, robust to the drifts of a shared machine.
 *
 * The backward line's speedup_vs_gemm: the baseline is the textbook backward GEMMs, per image
 * col = W^T dy (into a scratch column matrix) and dW += dy col^T against image 0's column matrix,
 * with no col2im and no im2col. Its result is checked by the adjoint identities
 * <conv(x, w), dy> = <x, dx> = <w, dw> (within 1e-10 relative).
 *
 * threads= is nnla_num_threads(), the threads each pass may use; blas= is nnla_blas_parallel() (2: the
 * OpenMP OpenBLAS, whose GEMMs then run on one thread inside the convolution's own threads; 1: the
 * pthread build, under which the convolution runs its loops on one thread and each GEMM on
 * OpenBLAS's threads). The 1024^3 DGEMM of peak_fraction is called from the main thread outside
 * any parallel region, so it runs on the same number of threads: omp_get_max_threads() with the
 * OpenMP build (nnla_num_threads()), OpenBLAS's own count with the pthread build.
 *
 * speedup_vs_gemm: the baseline is the GEMM that defines an im2col convolution, one per
 * image: W [out][in*kh*kw] times a column matrix [in*kh*kw][out_h*out_w] built beforehand
 * (image 0's, by nnla_im2col, reused for every image so it is as hot as it can be; for a 1x1
 * convolution the image itself), written into the image's NCHW output. It does not depend on
 * how libnnla cuts its work, so a faster way of cutting it shows as a higher ratio.
 *
 * speedup_vs_calls: the baseline is exactly the BLAS calls the convolution makes: this
 * program defines cblas_dgemm, forwarding to OpenBLAS's (dlsym RTLD_NEXT), so libnnla's calls
 * land here; one recorded forward pass captures every call with its arguments, and the
 * baseline replays that list (same shapes, leading dimensions, weights, workspace column
 * buffers and outputs) with no im2col, bias or activation in between. It measures what
 * libnnla adds around its own GEMMs (and rewards cutting the work into slower GEMMs: read it
 * next to speedup_vs_gemm).
 *
 * Each baseline is timed in alternation with the convolution by bench_compare(). The direct
 * baseline is a plain loop (per output channel, input channel and kernel tap, a multiply-add
 * over the valid output rectangle) timed over a few runs; its result also checks the
 * convolution's.
 *
 * --halves adds a line per shape for the split the program itself could make: two threads of an
 * OpenMP region of the program, each calling nnla_conv2d_forward on half the batch (each call then
 * runs on its one thread, nested teams being off), timed in alternation with one call on the whole
 * batch; nnla_over_halves is the halves' time over nnla's:
 *
 *   BENCH conv_halves_b32_c3_32x32_o32_k3p1 median_s=... gflops=... peak_fraction=... dgemm_gflops=...
 *         nnla_over_halves=... threads=... blas=...
 *
 * Usage: nnla-bench conv [--no-direct] [--no-backward] [--halves] [substring]
 *   substring    run only the cases whose name contains it;
 *   --no-direct  skip the (slow) direct loop: speedup_vs_direct=nan, no check;
 *   --no-backward  skip the conv_bwd_ lines;
 *   --halves     add the conv_halves_ lines.
 * NNLA_BENCH_REPS sets the timed runs of each nnla/baseline pair (default 15).
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnla.h>

#include "bench.h"

/* ------------------------------------------------------------------ cblas_dgemm recorder */

typedef void (*dgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE, const enum CBLAS_TRANSPOSE,
                         const blasint, const blasint, const blasint, const double, const double *,
                         const blasint, const double *, const blasint, const double, double *, const blasint);

typedef struct gemm_call {
    enum CBLAS_ORDER order;
    enum CBLAS_TRANSPOSE ta, tb;
    blasint m, n, k, lda, ldb, ldc;
    double alpha, beta;
    const double *a, *b;
    double *c;
} gemm_call;

static dgemm_fn real_dgemm;
static int recording; /* set and cleared by the main thread outside any pass */
static pthread_mutex_t record_lock = PTHREAD_MUTEX_INITIALIZER; /* the pass's threads record at once */
static gemm_call *calls;
static size_t ncalls, capcalls;
static int record_overflow;

static dgemm_fn get_real_dgemm(void)
{
    if (real_dgemm == NULL) {
        void *f = dlsym(RTLD_NEXT, "cblas_dgemm");
        memcpy(&real_dgemm, &f, sizeof real_dgemm); /* object to function pointer, POSIX-style */
    }
    return real_dgemm;
}

/* Resolve it before main(): dlsym may allocate, and the dense command counts allocations. */
__attribute__((constructor)) static void resolve_real_dgemm(void) { (void)get_real_dgemm(); }

/* Weak, so another benchmark file's interposer would not clash at link time (the recorder
 * then sees no calls and the conv command says so). */
__attribute__((weak)) void cblas_dgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                                       const enum CBLAS_TRANSPOSE tb, const blasint m, const blasint n,
                                       const blasint k, const double alpha, const double *a,
                                       const blasint lda, const double *b, const blasint ldb,
                                       const double beta, double *c, const blasint ldc)
{
    if (recording) {
        pthread_mutex_lock(&record_lock);
        if (ncalls == capcalls) {
            size_t cap = capcalls ? 2 * capcalls : 256;
            gemm_call *p = realloc(calls, cap * sizeof *p);
            if (p == NULL) {
                record_overflow = 1;
            } else {
                calls = p;
                capcalls = cap;
            }
        }
        if (ncalls < capcalls) {
            gemm_call g = {order, ta, tb, m, n, k, lda, ldb, ldc, alpha, beta, a, b, c};
            calls[ncalls++] = g;
        }
        pthread_mutex_unlock(&record_lock);
    }
    get_real_dgemm()(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* ------------------------------------------------------------------ cases */

typedef struct conv_case {
    const char *name;
    size_t batch, in, h, w, out, k, pad;
    nnla_conv2d_desc d;
    size_t oh, ow;
    double *x, *wt, *b, *y, *ref;
    double *col; /* image 0's column matrix for the textbook GEMMs (NULL for 1x1: the image) */
    void *work;
    size_t work_size;
    gemm_call *calls; /* the recorded GEMMs of one forward pass */
    size_t ncalls;
    nnla_status st;
    /* backward */
    double *dy, *dx, *dw, *db, *bcol; /* bcol: the textbook backward's scratch column matrix */
    void *bwork;
    size_t bwork_size;
    void *hwork; /* the halves' two workspaces, hwork_size bytes each */
    size_t hwork_size;
} conv_case;

/*
 * The reference for peak_fraction: a 1024^3 cblas_dgemm (the real one, not recorded), timed in
 * alternation with each pass so both see the same machine (this one is shared, and its speed
 * drifts by 2x within seconds).
 */
typedef struct peak_case {
    double *a, *b, *c;
} peak_case;

static peak_case peak_mats;

static void run_peak(void *p)
{
    peak_case *k = p;
    get_real_dgemm()(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1024, 1024, 1024, 1.0, k->a, 1024, k->b, 1024, 0.0,
                     k->c, 1024);
}

static int peak_alloc(void)
{
    const size_t n = 1024 * 1024;
    peak_mats.a = malloc(n * sizeof(double));
    peak_mats.b = malloc(n * sizeof(double));
    peak_mats.c = malloc(n * sizeof(double));
    if (!peak_mats.a || !peak_mats.b || !peak_mats.c) return 0;
    unsigned long long s = 99;
    for (size_t i = 0; i < n; i++) {
        peak_mats.a[i] = bench_urand(&s);
        peak_mats.b[i] = bench_urand(&s);
    }
    return 1;
}

static void peak_free(void)
{
    free(peak_mats.a);
    free(peak_mats.b);
    free(peak_mats.c);
    memset(&peak_mats, 0, sizeof peak_mats);
}

/* GFLOP/s of fn(arg) doing `flops`, and of the 1024^3 DGEMM, timed in alternation. */
static void time_vs_peak(void (*fn)(void *), void *arg, double flops, int reps, double *gflops, double *dgemm)
{
    double t, tp;
    bench_compare(fn, arg, run_peak, &peak_mats, 1, reps, &t, &tp);
    *gflops = flops / t * 1e-9;
    *dgemm = 2.0 * 1024.0 * 1024.0 * 1024.0 / tp * 1e-9;
}

static void run_conv(void *p)
{
    conv_case *c = p;
    nnla_status st = nnla_conv2d_forward(&c->d, c->batch, c->h, c->w, c->x, c->wt, c->b,
                                         nnla_act_default(NNLA_ACT_RELU), c->y, c->work, c->work_size);
    if (st != NNLA_OK) c->st = st;
}

static void run_gemms(void *p)
{
    conv_case *c = p;
    dgemm_fn f = get_real_dgemm();
    for (size_t i = 0; i < c->ncalls; i++) {
        const gemm_call *g = &c->calls[i];
        f(g->order, g->ta, g->tb, g->m, g->n, g->k, g->alpha, g->a, g->lda, g->b, g->ldb, g->beta, g->c,
          g->ldc);
    }
}

/* The textbook im2col GEMMs: y[n] = W x col, one cblas_dgemm per image (groups = 1). */
static void run_textbook(void *p)
{
    conv_case *c = p;
    dgemm_fn f = get_real_dgemm();
    const size_t kdim = c->in * c->k * c->k, np = c->oh * c->ow;
    for (size_t n = 0; n < c->batch; n++) {
        const double *col = c->col != NULL ? c->col : c->x + n * c->in * c->h * c->w;
        f(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)c->out, (blasint)np, (blasint)kdim, 1.0, c->wt,
          (blasint)kdim, col, (blasint)np, 0.0, c->y + n * c->out * np, (blasint)np);
    }
}

/* Both backward passes with their preferred workspace (one buffer of the larger size). */
static void run_bwd(void *p)
{
    conv_case *c = p;
    nnla_status st = nnla_conv2d_backward_data(&c->d, c->batch, c->h, c->w, c->dy, c->wt, c->dx, c->bwork,
                                               c->bwork_size);
    if (st == NNLA_OK)
        st = nnla_conv2d_backward_weights(&c->d, c->batch, c->h, c->w, c->x, c->dy, c->dw, c->db, c->bwork,
                                          c->bwork_size);
    if (st != NNLA_OK) c->st = st;
}

/* The textbook backward GEMMs (groups = 1): per image, col = W^T dy and dW += dy col0^T. */
static void run_textbook_bwd(void *p)
{
    conv_case *c = p;
    dgemm_fn f = get_real_dgemm();
    const size_t kdim = c->in * c->k * c->k, np = c->oh * c->ow;
    for (size_t n = 0; n < c->batch; n++) {
        const double *dyn = c->dy + n * c->out * np;
        const double *col = c->col != NULL ? c->col : c->x + n * c->in * c->h * c->w;
        f(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)kdim, (blasint)np, (blasint)c->out, 1.0, c->wt,
          (blasint)kdim, dyn, (blasint)np, 0.0, c->bcol, (blasint)np);
        f(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)c->out, (blasint)kdim, (blasint)np, 1.0, dyn,
          (blasint)np, col, (blasint)np, n ? 1.0 : 0.0, c->dw, (blasint)kdim);
    }
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* The backward line of a case whose forward arrays are set up (c->x, c->wt, c->col); 1 on failure. */
static int bench_bwd_case(conv_case *c, int reps)
{
    size_t nx = c->batch * c->in * c->h * c->w, nw = c->out * c->in * c->k * c->k;
    size_t np = c->oh * c->ow, ny = c->batch * c->out * np, bd = 0, bw = 0;
    if (nnla_conv2d_backward_data_workspace_size(&c->d, c->batch, c->h, c->w, &bd) != NNLA_OK ||
        nnla_conv2d_backward_weights_workspace_size(&c->d, c->batch, c->h, c->w, &bw) != NNLA_OK) {
        fprintf(stderr, "%s: bad backward case\n", c->name);
        return 1;
    }
    c->bwork_size = bd > bw ? bd : bw;
    c->dy = malloc(ny * sizeof(double));
    c->dx = malloc(nx * sizeof(double));
    c->dw = malloc(nw * sizeof(double));
    c->db = malloc(c->out * sizeof(double));
    c->bcol = malloc(c->in * c->k * c->k * np * sizeof(double));
    c->bwork = c->bwork_size ? malloc(c->bwork_size) : NULL;
    double *ylin = malloc(ny * sizeof(double));
    int bad = 1;
    if (!c->dy || !c->dx || !c->dw || !c->db || !c->bcol || (c->bwork_size && !c->bwork) || !ylin) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    unsigned long long s = 777;
    for (size_t i = 0; i < ny; i++) c->dy[i] = bench_urand(&s);
    c->st = NNLA_OK;
    double t_nnla, t_gemm;
    bench_compare(run_bwd, c, run_textbook_bwd, c, 2, reps, &t_nnla, &t_gemm);
    run_bwd(c); /* the textbook baseline overwrote dw */
    /* the adjoint identities against the forward pass without bias or activation */
    size_t fws = 0;
    void *fwork = NULL;
    if (nnla_conv2d_workspace_size(&c->d, c->batch, c->h, c->w, &fws) != NNLA_OK ||
        (fws && (fwork = malloc(fws)) == NULL) ||
        nnla_conv2d_forward(&c->d, c->batch, c->h, c->w, c->x, c->wt, NULL, nnla_act_default(NNLA_ACT_IDENTITY),
                            ylin, fwork, fws) != NNLA_OK) {
        free(fwork);
        fprintf(stderr, "%s: the forward pass for the check failed\n", c->name);
        goto done;
    }
    free(fwork);
    double lhs = dot(ylin, c->dy, ny), rx = dot(c->x, c->dx, nx), rw = dot(c->wt, c->dw, nw);
    double scale = 0.0;
    for (size_t i = 0; i < ny; i++) scale += fabs(ylin[i] * c->dy[i]);
    double flops = 4.0 * (double)c->batch * (double)c->out * (double)(c->in * c->k * c->k) * (double)np;
    double gf, gp;
    time_vs_peak(run_bwd, c, flops, reps, &gf, &gp);
    printf("BENCH conv_bwd_%s median_s=%.6g gflops=%.4g peak_fraction=%.3f dgemm_gflops=%.4g speedup_vs_gemm=%.4f "
           "workspace_bytes=%zu threads=%d blas=%d\n",
           c->name + 5, t_nnla, flops / t_nnla * 1e-9, gf / gp, gp, t_gemm / t_nnla, c->bwork_size, nnla_num_threads(),
           nnla_blas_parallel());
    printf("#   conv_bwd_%s: textbook backward GEMMs %.6g s (%.4g GFLOP/s); <y,dy> %.15g, <x,dx> %.15g, "
           "<w,dw> %.15g\n",
           c->name + 5, t_gemm, flops / t_gemm * 1e-9, lhs, rx, rw);
    fflush(stdout);
    bad = c->st != NNLA_OK || !(fabs(lhs - rx) <= 1e-10 * scale) || !(fabs(lhs - rw) <= 1e-10 * scale);
    if (bad) fprintf(stderr, "%s: the backward passes fail the adjoint identities\n", c->name);
done:
    free(ylin);
    free(c->dy);
    free(c->dx);
    free(c->dw);
    free(c->db);
    free(c->bcol);
    free(c->bwork);
    return bad;
}

/* The program's own split: each of two threads of its OpenMP region runs half the batch. */
static void run_halves(void *p)
{
    conv_case *c = p;
    const size_t half = c->batch / 2, in = c->in * c->h * c->w, out = c->out * c->oh * c->ow;
#pragma omp parallel num_threads(2)
    {
        const size_t i = (size_t)omp_get_thread_num(), n0 = i * half, nb = i ? c->batch - half : half;
        unsigned char *work = c->hwork ? (unsigned char *)c->hwork + i * c->hwork_size : NULL;
        nnla_status st = nnla_conv2d_forward(&c->d, nb, c->h, c->w, c->x + n0 * in, c->wt, c->b,
                                             nnla_act_default(NNLA_ACT_RELU), c->y + n0 * out, work, c->hwork_size);
        if (st != NNLA_OK) c->st = st;
    }
}

/* The conv_halves_ line of a case whose forward arrays are set up; 1 on failure. */
static int bench_halves_case(conv_case *c, int reps)
{
    size_t a = 0, b = 0;
    if (nnla_conv2d_workspace_size(&c->d, c->batch / 2, c->h, c->w, &a) != NNLA_OK ||
        nnla_conv2d_workspace_size(&c->d, c->batch - c->batch / 2, c->h, c->w, &b) != NNLA_OK)
        return 1;
    c->hwork_size = a > b ? a : b;
    c->hwork = c->hwork_size ? malloc(2 * c->hwork_size) : NULL;
    if (c->hwork_size && !c->hwork) return 1;
    c->st = NNLA_OK;
    double t_nnla, t_halves, gf, gp;
    bench_compare(run_conv, c, run_halves, c, 3, reps, &t_nnla, &t_halves);
    double flops =
        2.0 * (double)c->batch * (double)c->out * (double)(c->in * c->k * c->k) * (double)(c->oh * c->ow);
    time_vs_peak(run_halves, c, flops, reps, &gf, &gp);
    printf("BENCH conv_halves_%s median_s=%.6g gflops=%.4g peak_fraction=%.3f dgemm_gflops=%.4g "
           "nnla_over_halves=%.4f threads=%d blas=%d\n",
           c->name + 5, t_halves, flops / t_halves * 1e-9, gf / gp, gp, t_halves / t_nnla, nnla_num_threads(),
           nnla_blas_parallel());
    fflush(stdout);
    free(c->hwork);
    c->hwork = NULL;
    return c->st != NNLA_OK;
}

/* The direct loop: y = relu(conv(x, w) + b), stride 1, zero padding, by output rectangles. */
static void run_direct(void *p)
{
    conv_case *c = p;
    const size_t h = c->h, w = c->w, oh = c->oh, ow = c->ow, k = c->k, pad = c->pad, in = c->in;
    for (size_t n = 0; n < c->batch; n++)
        for (size_t m = 0; m < c->out; m++) {
            double *y = c->ref + (n * c->out + m) * oh * ow;
            for (size_t q = 0; q < oh * ow; q++) y[q] = c->b[m];
            for (size_t ch = 0; ch < in; ch++) {
                const double *x = c->x + (n * in + ch) * h * w;
                for (size_t i = 0; i < k; i++)
                    for (size_t j = 0; j < k; j++) {
                        double wv = c->wt[((m * in + ch) * k + i) * k + j];
                        /* output rows/cols whose input (oy + i - pad, ox + j - pad) is inside */
                        size_t y0 = i < pad ? pad - i : 0, y1 = h + pad - i < oh ? h + pad - i : oh;
                        size_t x0 = j < pad ? pad - j : 0, x1 = w + pad - j < ow ? w + pad - j : ow;
                        for (size_t oy = y0; oy < y1; oy++) {
                            const double *xr = x + (oy + i - pad) * w + (j - pad);
                            double *yr = y + oy * ow;
                            for (size_t ox = x0; ox < x1; ox++) yr[ox] += wv * xr[ox];
                        }
                    }
            }
            for (size_t q = 0; q < oh * ow; q++) y[q] = y[q] < 0 ? 0.0 : y[q];
        }
}

static int bench_conv_case(conv_case *c, int reps, int direct, int bwd, int halves)
{
    c->d = nnla_conv2d_desc_make(c->in, c->out, c->k, c->k);
    c->d.pad_top = c->d.pad_bottom = c->d.pad_left = c->d.pad_right = c->pad;
    if (nnla_conv2d_output_size(&c->d, c->h, c->w, &c->oh, &c->ow) != NNLA_OK ||
        nnla_conv2d_workspace_size(&c->d, c->batch, c->h, c->w, &c->work_size) != NNLA_OK) {
        fprintf(stderr, "%s: bad case\n", c->name);
        return 1;
    }
    size_t nx = c->batch * c->in * c->h * c->w, nw = c->out * c->in * c->k * c->k;
    size_t ny = c->batch * c->out * c->oh * c->ow;
    c->x = malloc(nx * sizeof(double));
    c->wt = malloc(nw * sizeof(double));
    c->b = malloc(c->out * sizeof(double));
    c->y = malloc(ny * sizeof(double));
    c->ref = malloc(ny * sizeof(double));
    c->work = c->work_size ? malloc(c->work_size) : NULL;
    if (!c->x || !c->wt || !c->b || !c->y || !c->ref || (c->work_size && !c->work)) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    unsigned long long s = 4242;
    for (size_t i = 0; i < nx; i++) c->x[i] = bench_urand(&s);
    double ws = 1.0 / sqrt((double)(c->in * c->k * c->k));
    for (size_t i = 0; i < nw; i++) c->wt[i] = bench_urand(&s) * ws;
    for (size_t i = 0; i < c->out; i++) c->b[i] = bench_urand(&s) * 0.1;
    c->st = NNLA_OK;

    /* record the GEMMs of one pass */
    ncalls = 0;
    record_overflow = 0;
    recording = 1;
    run_conv(c);
    recording = 0;
    if (c->st != NNLA_OK) {
        fprintf(stderr, "%s: nnla_conv2d_forward: %s\n", c->name, nnla_strerror(c->st));
        return 1;
    }
    if (ncalls == 0 || record_overflow) {
        fprintf(stderr, "%s: the cblas_dgemm recorder saw no calls (another interposer?)\n", c->name);
        return 1;
    }
    c->calls = malloc(ncalls * sizeof *c->calls);
    if (!c->calls) return 1;
    memcpy(c->calls, calls, ncalls * sizeof *c->calls);
    c->ncalls = ncalls;

    /* the textbook GEMMs' column matrix: image 0's (a 1x1 convolution reads the images) */
    if (!(c->k == 1 && c->pad == 0)) {
        c->col = malloc(c->in * c->k * c->k * c->oh * c->ow * sizeof(double));
        if (!c->col || nnla_im2col(&c->d, c->h, c->w, c->x, c->col) != NNLA_OK) {
            fprintf(stderr, "%s: im2col for the GEMM baseline failed\n", c->name);
            return 1;
        }
    }

    double t_nnla, t_gemm, t_nnla2, t_calls;
    bench_compare(run_conv, c, run_textbook, c, 3, reps, &t_nnla, &t_gemm);
    bench_compare(run_conv, c, run_gemms, c, 3, reps, &t_nnla2, &t_calls);
    /* the GEMM baselines overwrote y: run once more, then the direct loop checks it */
    run_conv(c);
    double t_direct = direct ? bench_time(run_direct, c, 0, 2) : NAN;
    double err = 0.0, scale = 0.0;
    for (size_t i = 0; direct && i < ny; i++) {
        double e = fabs(c->y[i] - c->ref[i]);
        if (!(e <= err)) err = e;
        if (fabs(c->ref[i]) > scale) scale = fabs(c->ref[i]);
    }
    double flops =
        2.0 * (double)c->batch * (double)c->out * (double)(c->in * c->k * c->k) * (double)(c->oh * c->ow);
    double gf, gp;
    time_vs_peak(run_conv, c, flops, reps, &gf, &gp);
    printf("BENCH %s median_s=%.6g gflops=%.4g peak_fraction=%.3f dgemm_gflops=%.4g speedup_vs_gemm=%.4f "
           "speedup_vs_calls=%.4f speedup_vs_direct=%.4g workspace_bytes=%zu threads=%d blas=%d\n",
           c->name, t_nnla, flops / t_nnla * 1e-9, gf / gp, gp, t_gemm / t_nnla, t_calls / t_nnla2,
           t_direct / t_nnla, c->work_size, nnla_num_threads(), nnla_blas_parallel());
    printf("#   %s: textbook GEMMs %.6g s (%.4g GFLOP/s); its %zu GEMM calls %.6g s (%.4g GFLOP/s) "
           "against nnla %.6g s; direct %.6g s, max |y - direct| = %.3g (max |y| %.3g)\n",
           c->name, t_gemm, flops / t_gemm * 1e-9, c->ncalls, t_calls, flops / t_calls * 1e-9, t_nnla2,
           t_direct, err, scale);
    fflush(stdout);
    int bad = c->st != NNLA_OK || !(err <= 1e-10 * (scale + 1.0));
    if (bad) fprintf(stderr, "%s: the convolution disagrees with the direct loop\n", c->name);
    if (bwd && bench_bwd_case(c, reps)) bad = 1;
    if (halves && bench_halves_case(c, reps)) {
        fprintf(stderr, "%s: the halves failed\n", c->name);
        bad = 1;
    }
    free(c->x);
    free(c->wt);
    free(c->b);
    free(c->y);
    free(c->ref);
    free(c->work);
    free(c->calls);
    free(c->col);
    return bad;
}

int bench_cmd_conv(int argc, char **argv)
{
    const char *only = NULL;
    int direct = 1, bwd = 1, halves = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--no-direct"))
            direct = 0;
        else if (!strcmp(argv[i], "--halves"))
            halves = 1;
        else if (!strcmp(argv[i], "--no-backward"))
            bwd = 0;
        else
            only = argv[i];
    }
    int reps = bench_reps(15), rc = 0, ran = 0;
    for (size_t i = 0; i < bench_conv_nshapes; i++) {
        const bench_conv_shape *sh = &bench_conv_shapes[i];
        char name[64];
        snprintf(name, sizeof name, "conv_%s", sh->name);
        if (only && !strstr(name, only)) continue;
        conv_case c;
        memset(&c, 0, sizeof c);
        c.name = name;
        c.batch = sh->batch;
        c.in = sh->in;
        c.h = c.w = sh->hw;
        c.out = sh->out;
        c.k = sh->k;
        c.pad = sh->pad;
        ran++;
        if (peak_mats.a == NULL && !peak_alloc()) {
            fprintf(stderr, "out of memory\n");
            peak_free();
            return 1;
        }
        if (bench_conv_case(&c, reps, direct, bwd, halves)) rc = 1;
    }
    peak_free();
    free(calls);
    calls = NULL;
    capcalls = ncalls = 0;
    if (!ran) {
        fprintf(stderr, "nnla-bench conv: no case matches '%s'\n", only);
        return 2;
    }
    return rc;
}
