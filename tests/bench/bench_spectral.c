/*
 * Benchmarks of the spectral module.
 *
 *   nnla-bench spectral [n]      power iteration to tol 1e-6 vs the values-only SVD (speedup_vs_svd)
 *                                on an n x n matrix (default 1024) of two kinds; a block of two as
 *                                one GEMM vs two GEMVs; circular-convolution singular values
 *                                vs the SVD of the explicit matrix, and on 64 -> 64, 3x3, 32x32;
 *                                the operator norm of a zero-padded convolution on an input size
 *                                (nnla_conv2d_opnorm, tol 1e-6) vs the SVD of its explicit matrix on
 *                                8 -> 8, 3x3, 16x16 (speedup_vs_explicit_svd), and on 64 -> 64, 3x3,
 *                                32x32 (time and iterations).
 *   nnla-bench power-sweep       not a timing: how often the power iteration's convergence claim is
 *                                off by more than tol on nearly degenerate spectra (the figures of
 *                                docs/spectral.md), next to single-vector power iteration.
 *
 * The matrices of `spectral`:
 *   gaussian  a_ij ~ N(0, 1/n) (xoshiro256** seeded with 1): the top of a random matrix's spectrum
 *             is crowded (sigma_1, sigma_2, sigma_3 a few per cent apart), the hard case;
 *   decay     Q1 diag(s) Q2^T with s_i = 1 / sqrt(1 + i) and Q1, Q2 from nnla_init_tensor
 *             (orthogonal): a leading value that stands out, as in trained layers.
 * Each timed run of the power iteration starts cold (seed 0) and runs to tol 1e-6.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include <nnla.h>

#include "bench.h"

static double *alloc_doubles(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        fprintf(stderr, "nnla-bench: out of memory\n");
        exit(1);
    }
    return p;
}

static void *alloc_bytes(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "nnla-bench: out of memory\n");
        exit(1);
    }
    return p;
}

/* ------------------------------------------------------------------ power iteration vs SVD */

typedef struct norm_case {
    nnla_cmat a;
    void *pw, *sw;
    size_t pw_size, sw_size;
    double sigma_power, sigma_svd;
    nnla_power_info info;
    nnla_status st_power, st_svd;
} norm_case;

static void run_power(void *p)
{
    norm_case *c = p;
    nnla_power_opts o = nnla_power_opts_default();
    o.tol = 1e-6;
    o.max_iter = 100000;
    c->st_power = nnla_spectral_norm_power(c->a, &o, &c->sigma_power, NULL, NULL, &c->info, c->pw, c->pw_size);
}

static void run_svd(void *p)
{
    norm_case *c = p;
    c->st_svd = nnla_spectral_norm(c->a, &c->sigma_svd, c->sw, c->sw_size);
}

/* Q1 diag(s) Q2^T, s_i = 1 / sqrt(1 + i), orthogonal factors from the library's initializer. */
static int fill_decay(double *a, size_t n)
{
    const size_t shape[2] = {n, n};
    size_t bytes;
    if (nnla_init_workspace_size(NNLA_INIT_ORTHOGONAL, 2, shape, &bytes) != NNLA_OK) return 0;
    void *w = alloc_bytes(bytes);
    double *q1 = alloc_doubles(n * n), *q2 = alloc_doubles(n * n);
    nnla_rng r;
    nnla_rng_seed(&r, 2);
    int ok = nnla_init_tensor(NNLA_INIT_ORTHOGONAL, 1.0, NNLA_FAN_IN, 2, shape, q1, &r, w, bytes) == NNLA_OK &&
             nnla_init_tensor(NNLA_INIT_ORTHOGONAL, 1.0, NNLA_FAN_IN, 2, shape, q2, &r, w, bytes) == NNLA_OK;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) q1[i * n + j] /= sqrt(1.0 + (double)j); /* Q1 diag(s) */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)n, 1.0, q1, (int)n, q2, (int)n, 0.0, a,
                (int)n);
    free(w);
    free(q1);
    free(q2);
    return ok;
}

static int bench_norm(size_t n, const char *kind)
{
    double *a = alloc_doubles(n * n);
    if (!strcmp(kind, "gaussian")) {
        nnla_rng r;
        nnla_rng_seed(&r, 1);
        nnla_rng_fill_normal(&r, 0.0, 1.0 / sqrt((double)n), a, n * n);
    } else if (!fill_decay(a, n)) {
        fprintf(stderr, "nnla-bench spectral: building the matrix failed\n");
        free(a);
        return 1;
    }
    norm_case c;
    memset(&c, 0, sizeof c);
    c.a = nnla_cmat_view(a, n, n, n);
    if (nnla_spectral_norm_power_workspace_size(n, n, &c.pw_size) != NNLA_OK ||
        nnla_spectral_norm_workspace_size(n, n, &c.sw_size) != NNLA_OK) {
        free(a);
        return 1;
    }
    c.pw = alloc_bytes(c.pw_size);
    c.sw = alloc_bytes(c.sw_size);
    int reps = bench_reps(5);
    double tp, ts;
    bench_compare(run_power, &c, run_svd, &c, 1, reps, &tp, &ts);
    double err = fabs(c.sigma_power - c.sigma_svd) / c.sigma_svd;
    int rc = 0;
    if (c.st_power != NNLA_OK || c.st_svd != NNLA_OK || err > 1e-6) {
        fprintf(stderr, "nnla-bench spectral: %s n = %zu: power %s, svd %s, relative error %.3g\n", kind, n,
                nnla_status_name(c.st_power), nnla_status_name(c.st_svd), err);
        rc = 1;
    }
    printf("BENCH power_%s_n%zu median_s=%.6g speedup_vs_svd=%.3f svd_values_s=%.6g iterations=%zu residual=%.3g "
           "rel_error_vs_svd=%.3g reps=%d\n",
           kind, n, tp, ts / tp, ts, c.info.iterations, c.info.residual, err, reps);
    fflush(stdout);
    free(c.pw);
    free(c.sw);
    free(a);
    return rc;
}

/* ------------------------------------------------------------------ the block product */

typedef struct prod_case {
    size_t n;
    const double *a, *x;
    double *y;
} prod_case;

/* Y^T (2 x n) = X^T A^T: a block of two as one GEMM, the alternative to the two GEMVs the power
 * iteration uses (kept here because it measured slower). */
static void run_block(void *p)
{
    prod_case *c = p;
    int n = (int)c->n;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 2, n, n, 1.0, c->x, n, c->a, n, 0.0, c->y, n);
}

static void run_two_gemv(void *p)
{
    prod_case *c = p;
    int n = (int)c->n;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, n, 1.0, c->a, n, c->x, 1, 0.0, c->y, 1);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, n, 1.0, c->a, n, c->x + n, 1, 0.0, c->y + n, 1);
}

static void bench_block_product(size_t n)
{
    double *a = alloc_doubles(n * n), *x = alloc_doubles(2 * n), *y = alloc_doubles(2 * n);
    unsigned long long s = 7;
    for (size_t i = 0; i < n * n; i++) a[i] = bench_urand(&s);
    for (size_t i = 0; i < 2 * n; i++) x[i] = bench_urand(&s);
    prod_case c = {n, a, x, y};
    int reps = bench_reps(201);
    double tb, tg;
    bench_compare(run_block, &c, run_two_gemv, &c, 5, reps, &tb, &tg);
    printf("BENCH power_block_gemm2_n%zu median_s=%.6g speedup_vs_two_gemv=%.3f two_gemv_s=%.6g reps=%d\n", n, tb,
           tg / tb, tg, reps);
    fflush(stdout);
    free(a);
    free(x);
    free(y);
}

/* ------------------------------------------------------------------ circular convolution */

typedef struct csv_case {
    nnla_conv2d_desc d;
    const double *w;
    size_t n1, n2;
    double *s;
    void *work;
    size_t work_size;
    nnla_cmat explicit_m; /* the explicit matrix, when it is built */
    double *s_explicit;
    void *sw;
    size_t sw_size;
    nnla_status st, st_explicit;
} csv_case;

static void run_csv(void *p)
{
    csv_case *c = p;
    c->st = nnla_conv2d_circular_sv(&c->d, c->w, c->n1, c->n2, NNLA_CONV_SV_SORTED, c->s, c->work, c->work_size);
}

static void run_explicit(void *p)
{
    csv_case *c = p;
    nnla_mat none = nnla_mat_view(NULL, 0, 0, 0);
    c->st_explicit = nnla_svd(NNLA_SVD_VALUES, c->explicit_m, c->s_explicit, none, none, c->sw, c->sw_size, NULL);
}

static int bench_conv_sv(size_t ch, size_t k, size_t hw, int with_explicit)
{
    size_t nw = ch * ch * k * k, count = hw * hw * ch;
    double *w = alloc_doubles(nw);
    unsigned long long seed = 11;
    for (size_t i = 0; i < nw; i++) w[i] = bench_urand(&seed) / (double)(ch * k);
    csv_case c;
    memset(&c, 0, sizeof c);
    c.d = nnla_conv2d_desc_make(ch, ch, k, k);
    c.w = w;
    c.n1 = c.n2 = hw;
    c.s = alloc_doubles(count);
    if (nnla_conv2d_circular_sv_workspace_size(&c.d, hw, hw, &c.work_size) != NNLA_OK) return 1;
    c.work = alloc_bytes(c.work_size);
    int rc = 0;
    if (with_explicit) {
        size_t dim = ch * hw * hw;
        double *m = calloc(dim * dim, sizeof *m);
        if (!m) return 1;
        for (size_t o = 0; o < ch; o++)
            for (size_t py = 0; py < hw; py++)
                for (size_t px = 0; px < hw; px++)
                    for (size_t ci = 0; ci < ch; ci++)
                        for (size_t i = 0; i < k; i++)
                            for (size_t j = 0; j < k; j++)
                                m[((o * hw + py) * hw + px) * dim + (ci * hw + (py + i) % hw) * hw + (px + j) % hw] +=
                                    w[((o * ch + ci) * k + i) * k + j];
        c.explicit_m = nnla_cmat_view(m, dim, dim, dim);
        c.s_explicit = alloc_doubles(dim);
        if (nnla_svd_workspace_size(NNLA_SVD_VALUES, dim, dim, &c.sw_size) != NNLA_OK) return 1;
        c.sw = alloc_bytes(c.sw_size);
        int reps = bench_reps(5);
        double tc, te;
        bench_compare(run_csv, &c, run_explicit, &c, 1, reps, &tc, &te);
        double diff = 0.0;
        for (size_t i = 0; i < count; i++) diff = fmax(diff, fabs(c.s[i] - c.s_explicit[i]));
        if (c.st != NNLA_OK || c.st_explicit != NNLA_OK || diff > 1e-10 * c.s_explicit[0]) {
            fprintf(stderr, "nnla-bench spectral: conv sv %zu ch %zux%zu: differs from the explicit SVD by %.3g\n",
                    ch, hw, hw, diff);
            rc = 1;
        }
        printf("BENCH conv_circular_sv_%zuch_k%zu_%zux%zu median_s=%.6g speedup_vs_explicit_svd=%.1f "
               "explicit_svd_s=%.6g explicit_dim=%zu max_abs_diff=%.3g reps=%d\n",
               ch, k, hw, hw, tc, te / tc, te, dim, diff, reps);
        free(m);
        free(c.s_explicit);
        free(c.sw);
    } else {
        int reps = bench_reps(5);
        double tc = bench_time(run_csv, &c, 1, reps);
        if (c.st != NNLA_OK) rc = 1;
        printf("BENCH conv_circular_sv_%zuch_k%zu_%zux%zu median_s=%.6g values=%zu sigma_max=%.6g reps=%d "
               "(explicit matrix %zu x %zu: not built)\n",
               ch, k, hw, hw, tc, count, c.s[0], reps, ch * hw * hw, ch * hw * hw);
    }
    fflush(stdout);
    free(c.s);
    free(c.work);
    free(w);
    return rc;
}

/* ------------------------------------------------------------------ conv operator norm vs explicit SVD */

typedef struct opn_case {
    nnla_conv2d_desc d;
    const double *w;
    size_t hw;
    double tol;
    void *work;
    size_t work_size;
    double sigma;
    nnla_power_info info;
    nnla_status st;
    nnla_cmat explicit_m;
    double *s_explicit;
    void *sw;
    size_t sw_size;
    nnla_status st_explicit;
} opn_case;

static void run_opnorm(void *p)
{
    opn_case *c = p;
    nnla_power_opts o = nnla_power_opts_default(); /* tol 1e-6 (c->tol): stops at a residual of tol / 10 */
    o.tol = c->tol;
    o.max_iter = 100000;
    c->st = nnla_conv2d_opnorm(&c->d, c->w, c->hw, c->hw, &o, &c->sigma, NULL, NULL, &c->info, c->work, c->work_size);
}

static void run_opnorm_explicit(void *p)
{
    opn_case *c = p;
    nnla_mat none = nnla_mat_view(NULL, 0, 0, 0);
    c->st_explicit = nnla_svd(NNLA_SVD_VALUES, c->explicit_m, c->s_explicit, none, none, c->sw, c->sw_size, NULL);
}

/* The operator norm of a ch -> ch, k x k convolution with padding k/2 ("same") on hw x hw inputs,
 * by nnla_conv2d_opnorm (power iteration to tol 1e-6, cold start), against the values-only SVD of its
 * explicit (ch hw hw) x (ch hw hw) matrix when with_explicit; without it, against the circular
 * singular values on the padded torus (an upper bound) for scale. */
static int bench_conv_opnorm(size_t ch, size_t k, size_t hw, int with_explicit)
{
    size_t nw = ch * ch * k * k, dim = ch * hw * hw;
    double *w = alloc_doubles(nw);
    unsigned long long seed = 13;
    for (size_t i = 0; i < nw; i++) w[i] = bench_urand(&seed) / (double)(ch * k);
    opn_case c;
    memset(&c, 0, sizeof c);
    c.d = nnla_conv2d_desc_make(ch, ch, k, k);
    c.d.pad_top = c.d.pad_bottom = c.d.pad_left = c.d.pad_right = k / 2;
    c.w = w;
    c.hw = hw;
    c.tol = 1e-6;
    if (nnla_conv2d_opnorm_workspace_size(&c.d, hw, hw, &c.work_size) != NNLA_OK) return 1;
    c.work = alloc_bytes(c.work_size);
    int rc = 0;
    if (with_explicit) {
        double *m = calloc(dim * dim, sizeof *m);
        if (!m) return 1;
        long p = (long)(k / 2);
        for (size_t o = 0; o < ch; o++)
            for (size_t py = 0; py < hw; py++)
                for (size_t px = 0; px < hw; px++)
                    for (size_t ci = 0; ci < ch; ci++)
                        for (size_t i = 0; i < k; i++)
                            for (size_t j = 0; j < k; j++) {
                                long iy = (long)(py + i) - p, ix = (long)(px + j) - p;
                                if (iy < 0 || ix < 0 || iy >= (long)hw || ix >= (long)hw) continue;
                                m[((o * hw + py) * hw + px) * dim + (ci * hw + (size_t)iy) * hw + (size_t)ix] =
                                    w[((o * ch + ci) * k + i) * k + j];
                            }
        c.explicit_m = nnla_cmat_view(m, dim, dim, dim);
        c.s_explicit = alloc_doubles(dim);
        if (nnla_svd_workspace_size(NNLA_SVD_VALUES, dim, dim, &c.sw_size) != NNLA_OK) return 1;
        c.sw = alloc_bytes(c.sw_size);
        int reps = bench_reps(3);
        double tp, te;
        bench_compare(run_opnorm, &c, run_opnorm_explicit, &c, 1, reps, &tp, &te);
        double rel = fabs(c.sigma - c.s_explicit[0]) / c.s_explicit[0];
        if (c.st != NNLA_OK || c.st_explicit != NNLA_OK || rel > 1e-6) {
            fprintf(stderr, "nnla-bench spectral: conv opnorm %zu ch %zux%zu: differs from the explicit SVD by %.3g\n",
                    ch, hw, hw, rel);
            rc = 1;
        }
        printf("BENCH conv_opnorm_%zuch_k%zu_%zux%zu median_s=%.6g speedup_vs_explicit_svd=%.1f explicit_svd_s=%.6g "
               "explicit_dim=%zu iterations=%zu residual=%.2g rel_err=%.2g reps=%d\n",
               ch, k, hw, hw, tp, te / tp, te, dim, c.info.iterations, c.info.residual, rel, reps);
        free(m);
        free(c.s_explicit);
        free(c.sw);
    } else {
        int reps = bench_reps(3);
        double tp = bench_time(run_opnorm, &c, 0, reps);
        if (c.st != NNLA_OK) rc = 1;
        /* a looser tolerance: how many iterations, and how far from the tight value */
        double tight = c.sigma;
        size_t it_tight = c.info.iterations;
        double res_tight = c.info.residual;
        c.tol = 1e-3;
        double tl = bench_time(run_opnorm, &c, 0, reps);
        if (c.st != NNLA_OK) rc = 1;
        printf("BENCH conv_opnorm_%zuch_k%zu_%zux%zu_tol1e-3 median_s=%.6g iterations=%zu residual=%.2g "
               "rel_diff_vs_tol1e-6=%.2g reps=%d\n",
               ch, k, hw, hw, tl, c.info.iterations, c.info.residual, fabs(c.sigma - tight) / tight, reps);
        c.sigma = tight;
        c.info.iterations = it_tight;
        c.info.residual = res_tight;
        /* for scale: the circular values on the padded torus bound it from above */
        size_t n = hw + 2 * (k / 2), cb;
        double *s = alloc_doubles(n * n * ch), circ = NAN;
        if (nnla_conv2d_circular_sv_workspace_size(&c.d, n, n, &cb) == NNLA_OK) {
            void *cw = alloc_bytes(cb);
            if (nnla_conv2d_circular_sv(&c.d, w, n, n, NNLA_CONV_SV_SORTED, s, cw, cb) == NNLA_OK) circ = s[0];
            free(cw);
        }
        free(s);
        printf("BENCH conv_opnorm_%zuch_k%zu_%zux%zu median_s=%.6g iterations=%zu residual=%.2g sigma=%.10g "
               "circular_%zux%zu_sigma_max=%.10g per_iteration_ms=%.3g reps=%d "
               "(explicit matrix %zu x %zu: not built)\n",
               ch, k, hw, hw, tp, c.info.iterations, c.info.residual, c.sigma, n, n, circ,
               1e3 * tp / (double)(c.info.iterations + 1), reps, dim, dim);
    }
    fflush(stdout);
    free(c.work);
    free(w);
    return rc;
}

int bench_cmd_spectral(int argc, char **argv)
{
    size_t n = 1024;
    if (argc > 0 && atol(argv[0]) > 0) n = (size_t)atol(argv[0]);
    int rc = 0;
    rc |= bench_norm(n, "decay");
    rc |= bench_norm(n, "gaussian");
    bench_block_product(n);
    rc |= bench_conv_sv(16, 3, 8, 1);
    rc |= bench_conv_sv(64, 3, 32, 0);
    rc |= bench_conv_opnorm(8, 3, 16, 1);
    rc |= bench_conv_opnorm(64, 3, 32, 0);
    return rc;
}

/* ------------------------------------------------------------------ the convergence sweep */

/* Q (m x k, packed) with orthonormal columns: Gram-Schmidt twice on normal draws. */
static void sweep_orth(nnla_rng *r, size_t m, size_t k, double *q)
{
    nnla_rng_fill_normal(r, 0.0, 1.0, q, m * k);
    for (int pass = 0; pass < 2; pass++)
        for (size_t j = 0; j < k; j++) {
            for (size_t p = 0; p < j; p++) {
                double d = 0;
                for (size_t i = 0; i < m; i++) d += q[i * k + p] * q[i * k + j];
                for (size_t i = 0; i < m; i++) q[i * k + j] -= d * q[i * k + p];
            }
            double nn = 0;
            for (size_t i = 0; i < m; i++) nn += q[i * k + j] * q[i * k + j];
            nn = sqrt(nn);
            for (size_t i = 0; i < m; i++) q[i * k + j] /= nn;
        }
}

/* Single-vector power iteration stopping at r <= tol (the textbook rule), for comparison. */
static int single_power(const double *a, size_t m, size_t n, double tol, size_t cap, uint64_t seed, double *sigma)
{
    double *v = alloc_doubles(n), *u = alloc_doubles(m), *z = alloc_doubles(n);
    nnla_rng r;
    nnla_rng_seed(&r, seed);
    nnla_rng_fill_normal(&r, 0.0, 1.0, v, n);
    int conv = 0;
    double s = 0;
    for (size_t it = 0; it <= cap; it++) {
        double nv = cblas_dnrm2((int)n, v, 1);
        for (size_t i = 0; i < n; i++) v[i] /= nv;
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)n, 1.0, a, (int)n, v, 1, 0.0, u, 1);
        s = cblas_dnrm2((int)m, u, 1);
        for (size_t i = 0; i < m; i++) u[i] /= s;
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)m, (int)n, 1.0, a, (int)n, u, 1, 0.0, z, 1);
        double res = 0;
        for (size_t i = 0; i < n; i++) res += (z[i] - s * v[i]) * (z[i] - s * v[i]);
        if (sqrt(res) / s <= tol) {
            conv = 1;
            break;
        }
        memcpy(v, z, n * sizeof *v);
    }
    *sigma = s;
    free(v);
    free(u);
    free(z);
    return conv;
}

int bench_cmd_power_sweep(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    static const double gaps[] = {2e-1, 5e-2, 2e-2, 5e-3, 2e-3, 5e-4, 2e-4, 2e-5, 2e-7};
    static const double tols[] = {1e-2, 1e-3, 1e-4, 1e-6, 1e-9};
    static const char *configs[] = {"pair", "triple_spread", "quadruple"};
    static const size_t sizes[][3] = {{12, 10, 300}, {120, 100, 30}}; /* m, n, seeds */
    printf("# sigma_1 = 1; pair: sigma_2 = 1 - gap; triple_spread: sigma_2 = 1 - gap/2, sigma_3 = 1 - gap;\n"
           "# quadruple: sigma_2..4 = 1 - gap; the rest 0.5/i or 0.9/i. gaps 2e-1..2e-7, tol 1e-2..1e-9, cap 300.\n"
           "# wrong = runs reporting convergence with (sigma_1 - sigma) / sigma_1 > tol.\n");
    for (size_t z = 0; z < 2; z++) {
        size_t m = sizes[z][0], n = sizes[z][1], seeds = sizes[z][2];
        double *a = alloc_doubles(m * n), *q1 = alloc_doubles(m * n), *q2 = alloc_doubles(n * n), *s = alloc_doubles(n);
        size_t bytes;
        nnla_spectral_norm_power_workspace_size(m, n, &bytes);
        void *w = alloc_bytes(bytes);
        for (int cfg = 0; cfg < 3; cfg++) {
            long conv = 0, noconv = 0, wrong = 0, sconv = 0, swrong = 0;
            double worst = 0, sworst = 0;
            for (size_t seed = 0; seed < seeds; seed++) {
                nnla_rng r;
                nnla_rng_seed(&r, seed);
                for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
                    s[0] = 1.0;
                    for (size_t i = 1; i < n; i++) s[i] = (seed % 2 ? 0.9 : 0.5) / (double)i;
                    if (cfg == 0) s[1] = 1 - gaps[g];
                    if (cfg == 1) s[1] = 1 - gaps[g] / 2, s[2] = 1 - gaps[g];
                    if (cfg == 2) s[1] = s[2] = s[3] = 1 - gaps[g];
                    sweep_orth(&r, m, n, q1);
                    sweep_orth(&r, n, n, q2);
                    for (size_t i = 0; i < m; i++)
                        for (size_t j = 0; j < n; j++) {
                            double x = 0;
                            for (size_t t = 0; t < n; t++) x += q1[i * n + t] * s[t] * q2[j * n + t];
                            a[i * n + j] = x;
                        }
                    for (size_t t = 0; t < sizeof tols / sizeof tols[0]; t++) {
                        nnla_power_opts o = nnla_power_opts_default();
                        o.tol = tols[t];
                        o.max_iter = 300;
                        o.seed = seed * 7 + g;
                        double sig;
                        nnla_status st = nnla_spectral_norm_power(nnla_cmat_view(a, m, n, n), &o, &sig, NULL, NULL,
                                                                  NULL, w, bytes);
                        if (st == NNLA_OK) {
                            conv++;
                            double e = (1 - sig) / tols[t];
                            if (e > 1) wrong++;
                            if (e > worst) worst = e;
                        } else {
                            noconv++;
                        }
                        if (single_power(a, m, n, tols[t], 300, o.seed, &sig)) {
                            sconv++;
                            double e = (1 - sig) / tols[t];
                            if (e > 1) swrong++;
                            if (e > sworst) sworst = e;
                        }
                    }
                }
            }
            printf("SWEEP %s %zux%zu seeds=%zu nnla: converged=%ld noconv=%ld wrong=%ld worst_err_over_tol=%.3g | "
                   "single-vector r<=tol: converged=%ld wrong=%ld worst_err_over_tol=%.3g\n",
                   configs[cfg], m, n, seeds, conv, noconv, wrong, worst, sconv, swrong, sworst);
            fflush(stdout);
        }
        free(a);
        free(q1);
        free(q2);
        free(s);
        free(w);
    }
    return 0;
}
