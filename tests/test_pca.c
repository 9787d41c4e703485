/*
 * pca: fit, transform, inverse transform and whitening against closed forms.
 *
 * The data: X = Z D V^T + 1 mu^T, where Z (n x r) has orthonormal columns that each sum to zero
 * (Gaussian, centred, then modified Gram-Schmidt twice), D = diag(d_1 > ... > d_r) and V (d x r)
 * orthonormal. Then the mean is mu, the singular values of the centred data are D, the components
 * are the columns of V, the scores are Z D, all exactly up to rounding; the sign of component i is
 * that of Z's entry of largest magnitude in column i (scikit-learn 1.2's u-based svd_flip).
 * Tolerances: c * max(n, d) * eps relative to the largest value involved, stated per check.
 * tests/pca/pca_sklearn.py compares the same functions with scikit-learn itself.
 */
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS DBL_EPSILON
#define SENTINEL (-12345.678)

static double *xmalloc(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof(double));
    assert_non_null(p);
    return p;
}

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* Orthonormal columns (rows x cols, ld cols), by MGS applied twice; centred first when asked. */
static void orthonormal(nnla_test_rng *rng, double *q, size_t rows, size_t cols, int centred)
{
    for (size_t i = 0; i < rows * cols; i++) q[i] = nnla_test_normal(rng);
    if (centred)
        for (size_t j = 0; j < cols; j++) {
            double m = 0.0;
            for (size_t i = 0; i < rows; i++) m += q[i * cols + j];
            m /= (double)rows;
            for (size_t i = 0; i < rows; i++) q[i * cols + j] -= m;
        }
    for (size_t j = 0; j < cols; j++)
        for (int pass = 0; pass < 2; pass++) {
            for (size_t p = 0; p < j; p++) {
                double dd = 0.0;
                for (size_t i = 0; i < rows; i++) dd += q[i * cols + p] * q[i * cols + j];
                for (size_t i = 0; i < rows; i++) q[i * cols + j] -= dd * q[i * cols + p];
            }
            double nr = 0.0;
            for (size_t i = 0; i < rows; i++) nr += q[i * cols + j] * q[i * cols + j];
            nr = sqrt(nr);
            for (size_t i = 0; i < rows; i++) q[i * cols + j] /= nr;
        }
}

typedef struct dataset {
    size_t n, d, r, ld;
    double *x, *z, *v, *dg, *mu; /* x n x d (ld), z n x r, v d x r, dg r, mu d */
} dataset;

static dataset make_data(nnla_test_rng *rng, size_t n, size_t d, size_t r, double offset, double decay)
{
    dataset s;
    s.n = n;
    s.d = d;
    s.r = r;
    s.ld = d + 2;
    s.x = xmalloc(n * s.ld);
    s.z = xmalloc(n * r);
    s.v = xmalloc(d * r);
    s.dg = xmalloc(r);
    s.mu = xmalloc(d);
    orthonormal(rng, s.z, n, r, 1);
    orthonormal(rng, s.v, d, r, 0);
    for (size_t i = 0; i < r; i++) s.dg[i] = 10.0 * pow(decay, (double)i);
    for (size_t j = 0; j < d; j++) s.mu[j] = offset + nnla_test_uniform(rng, -1, 1);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            double acc = 0.0;
            for (size_t t = 0; t < r; t++) acc += s.z[i * r + t] * s.dg[t] * s.v[j * r + t];
            s.x[i * s.ld + j] = acc + s.mu[j];
        }
    return s;
}

static void free_data(dataset *s)
{
    free(s->x);
    free(s->z);
    free(s->v);
    free(s->dg);
    free(s->mu);
}

/* The sign of component t: that of Z's entry of largest magnitude in column t. */
static double z_sign(const dataset *s, size_t t)
{
    size_t best = 0;
    for (size_t i = 1; i < s->n; i++)
        if (fabs(s->z[i * s->r + t]) > fabs(s->z[best * s->r + t])) best = i;
    return s->z[best * s->r + t] < 0 ? -1.0 : 1.0;
}

static nnla_pca_opts opts_count(size_t k)
{
    nnla_pca_opts o;
    memset(&o, 0, sizeof o);
    o.n_components = k;
    o.solver = NNLA_PCA_FULL;
    return o;
}

/* Fit, then check mean, components (with the documented sign), variances, ratios, noise. */
static void check_fit(const dataset *s, const nnla_pca *p, size_t k, double tol_rel)
{
    size_t n = s->n, d = s->d, r = s->r, rmin = min_sz(n, d);
    double denom = (double)(n - 1), total = 0.0, scale = s->dg[0];
    for (size_t t = 0; t < r; t++) total += s->dg[t] * s->dg[t] / denom;
    assert_int_equal(p->n_components, k);
    assert_int_equal(p->n_samples, n);
    double mumax = 0.0;
    for (size_t j = 0; j < d; j++) mumax = fmax(mumax, fabs(s->mu[j]));
    assert_vec_close(p->mean, s->mu, d, 0.0, 4.0 * EPS * (mumax + scale));
    for (size_t t = 0; t < k; t++) {
        double sg = z_sign(s, t), want_s = t < r ? s->dg[t] : 0.0;
        assert_true(fabs(p->singular_values[t] - want_s) <= tol_rel * scale);
        assert_true(fabs(p->explained_variance[t] - want_s * want_s / denom) <= 2 * tol_rel * scale * scale / denom);
        assert_true(fabs(p->explained_variance_ratio[t] - want_s * want_s / denom / total) <= 2 * tol_rel * 10);
        if (t < r && (t + 1 >= r || s->dg[t] - s->dg[t + 1] > 1e-3 * scale))
            for (size_t j = 0; j < d; j++) {
                double want = sg * s->v[j * r + t], got = p->components[t * d + j];
                /* a component is determined to ~ eps * s1 / gap */
                if (!(fabs(got - want) <= tol_rel * 100))
                    fail_msg("component %zu, feature %zu: %.17g, want %.17g", t, j, got, want);
            }
    }
    assert_true(fabs(p->total_variance - total) <= 4 * tol_rel * total);
    double noise = 0.0;
    if (k < rmin) {
        for (size_t t = k; t < r; t++) noise += s->dg[t] * s->dg[t] / denom;
        noise /= (double)(rmin - k);
    }
    assert_true(fabs(p->noise_variance - noise) <= 4 * tol_rel * scale * scale / denom);
}

static void test_fit_closed_form(void **state)
{
    (void)state;
    nnla_test_rng rng = {51};
    static const size_t cases[][3] = {{60, 8, 8}, {40, 12, 5}, {9, 20, 8}, {25, 25, 24}, {2, 3, 1}};
    for (size_t c = 0; c < 5; c++) {
        size_t n = cases[c][0], d = cases[c][1], r = cases[c][2], rmin = min_sz(n, d);
        dataset s = make_data(&rng, n, d, r, 3.0, 0.7);
        nnla_pca p;
        assert_status(nnla_pca_alloc(&p, d, rmin), NNLA_OK);
        double tol = 64.0 * (double)(n > d ? n : d) * EPS;
        for (size_t k = 1; k <= r; k++) {
            nnla_pca_opts o = opts_count(k);
            assert_status(nnla_pca_fit_alloc(&p, nnla_cmat_view(s.x, n, d, s.ld), &o), NNLA_OK);
            check_fit(&s, &p, k, tol);
        }
        /* the variance rule: the smallest k whose cumulative ratio exceeds F */
        double total = 0.0, cum = 0.0;
        for (size_t t = 0; t < r; t++) total += s.dg[t] * s.dg[t];
        for (size_t t = 0; t + 1 < r; t++) {
            cum += s.dg[t] * s.dg[t] / total;
            nnla_pca_opts o = opts_count(0);
            o.variance = cum - 1e-9; /* just below: t + 1 components exceed it */
            assert_status(nnla_pca_fit_alloc(&p, nnla_cmat_view(s.x, n, d, s.ld), &o), NNLA_OK);
            assert_int_equal(p.n_components, t + 1);
            o.variance = cum + 1e-9; /* just above: one more */
            assert_status(nnla_pca_fit_alloc(&p, nnla_cmat_view(s.x, n, d, s.ld), &o), NNLA_OK);
            assert_int_equal(p.n_components, t + 2);
            check_fit(&s, &p, t + 2, tol);
        }
        nnla_pca_free(&p);
        assert_null(p.mean);
        free_data(&s);
    }
    nnla_pca_free(NULL);
}

/* transform gives Z D (signs applied), whitened: Z sqrt(n - 1); the inverse gives back the data
 * projected on the kept components; with all components, X itself. */
static void test_transforms(void **state)
{
    (void)state;
    nnla_test_rng rng = {52};
    size_t n = 150, d = 10, r = 10, rows = 150;
    dataset s = make_data(&rng, n, d, r, 100.0, 0.6);
    for (int whiten = 0; whiten < 2; whiten++)
        for (size_t k = 1; k <= r; k += 3) {
            nnla_pca p;
            assert_status(nnla_pca_alloc(&p, d, k), NNLA_OK);
            nnla_pca_opts o = opts_count(k);
            o.whiten = whiten;
            assert_status(nnla_pca_fit_alloc(&p, nnla_cmat_view(s.x, n, d, s.ld), &o), NNLA_OK);
            assert_int_equal(p.whiten, whiten);
            size_t ldy = k + 1, bytes;
            double *y = xmalloc(rows * ldy), *xb = xmalloc(rows * (d + 3));
            for (size_t i = 0; i < rows * ldy; i++) y[i] = SENTINEL;
            assert_status(nnla_pca_transform_workspace_size(&p, rows, &bytes), NNLA_OK);
            double *w = xmalloc(bytes / sizeof(double) + 1);
            assert_status(nnla_pca_transform(&p, nnla_cmat_view(s.x, rows, d, s.ld), nnla_mat_view(y, rows, k, ldy), w,
                                             bytes),
                          NNLA_OK);
            /* error ~ eps (n) times the scale of the scores, amplified by s1 / s_t where whitening
             * divides by s_t (and the component itself is determined to ~eps s1 / gap) */
            double worst = 0.0;
            for (size_t i = 0; i < rows; i++) {
                for (size_t t = 0; t < k; t++) {
                    double want = z_sign(&s, t) * s.z[i * r + t] * (whiten ? sqrt((double)(n - 1)) : s.dg[t]);
                    double unit = (double)n * EPS * (whiten ? sqrt((double)n) * s.dg[0] / s.dg[t] : s.dg[0]);
                    worst = fmax(worst, fabs(y[i * ldy + t] - want) / unit);
                }
                assert_true(y[i * ldy + k] == SENTINEL);
            }
            if (!(worst <= 1.0)) /* observed: 0.04 */ fail_msg("whiten %d k %zu: scores off by %.3g n eps units", whiten, k, worst);
            /* whitened scores have unit sample variance, uncorrelated */
            if (whiten)
                for (size_t a = 0; a < k; a++)
                    for (size_t b = 0; b < k; b++) {
                        double c = 0.0;
                        for (size_t i = 0; i < rows; i++) c += y[i * ldy + a] * y[i * ldy + b];
                        c /= (double)(n - 1);
                        assert_true(fabs(c - (a == b)) <= 1e-9);
                    }
            /* inverse: mu + Z_k D_k V_k^T */
            assert_status(nnla_pca_inverse_transform(&p, nnla_cmat_view(y, rows, k, ldy),
                                                     nnla_mat_view(xb, rows, d, d + 3), w, bytes),
                          NNLA_OK);
            worst = 0.0;
            for (size_t i = 0; i < rows; i++)
                for (size_t j = 0; j < d; j++) {
                    double want = s.mu[j];
                    for (size_t t = 0; t < k; t++) want += s.z[i * r + t] * s.dg[t] * s.v[j * r + t];
                    worst = fmax(worst, fabs(xb[i * (d + 3) + j] - want));
                }
            if (!(worst <= (double)n * EPS * (100.0 + s.dg[0]))) /* the mean is about 100; observed 0.012 of this */
                fail_msg("whiten %d k %zu: inverse off by %.3g", whiten, k, worst);
            /* the allocating forms agree bit for bit */
            double *y2 = xmalloc(rows * ldy), *x2 = xmalloc(rows * (d + 3));
            memcpy(y2, y, rows * ldy * sizeof(double));
            memcpy(x2, xb, rows * (d + 3) * sizeof(double));
            assert_status(nnla_pca_transform_alloc(&p, nnla_cmat_view(s.x, rows, d, s.ld), nnla_mat_view(y2, rows, k, ldy)),
                          NNLA_OK);
            assert_memory_equal(y2, y, rows * ldy * sizeof(double));
            assert_status(nnla_pca_inverse_transform_alloc(&p, nnla_cmat_view(y, rows, k, ldy),
                                                           nnla_mat_view(x2, rows, d, d + 3)),
                          NNLA_OK);
            assert_memory_equal(x2, xb, rows * (d + 3) * sizeof(double));
            free(y2);
            free(x2);
            free(w);
            free(y);
            free(xb);
            nnla_pca_free(&p);
        }
    free_data(&s);
}

/* A large offset: the correcting pass keeps the mean, and centring first keeps the scores, exact. */
static void test_large_offset(void **state)
{
    (void)state;
    nnla_test_rng rng = {53};
    size_t n = 80, d = 6, r = 6;
    dataset s = make_data(&rng, n, d, r, 1e7, 0.5);
    nnla_pca p;
    assert_status(nnla_pca_alloc(&p, d, r), NNLA_OK);
    nnla_pca_opts o = opts_count(3);
    assert_status(nnla_pca_fit_alloc(&p, nnla_cmat_view(s.x, n, d, s.ld), &o), NNLA_OK);
    /* the data itself carries rounding of 1e7 * eps: that is the floor */
    double floor = 1e7 * EPS * 8;
    for (size_t j = 0; j < d; j++) assert_true(fabs(p.mean[j] - s.mu[j]) <= floor);
    double y[80 * 3];
    assert_status(nnla_pca_transform_alloc(&p, nnla_cmat_view(s.x, n, d, s.ld), nnla_mat_view(y, n, 3, 3)), NNLA_OK);
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < 3; t++)
            assert_true(fabs(y[i * 3 + t] - z_sign(&s, t) * s.z[i * r + t] * s.dg[t]) <= 16 * floor);
    nnla_pca_free(&p);
    free_data(&s);
}

/* The randomized solver on data with a spectral gap: the full solver's model, to ~1e-8. */
static void test_randomized(void **state)
{
    (void)state;
    nnla_test_rng rng = {54};
    static const size_t cases[][2] = {{300, 40}, {30, 90}};
    for (size_t c = 0; c < 2; c++) {
        size_t n = cases[c][0], d = cases[c][1], r = min_sz(n, d) - 1, k = 5;
        dataset s = make_data(&rng, n, d, r, 2.0, 0.5);
        nnla_pca pf, pr;
        assert_status(nnla_pca_alloc(&pf, d, k), NNLA_OK);
        assert_status(nnla_pca_alloc(&pr, d, k), NNLA_OK);
        nnla_pca_opts o = opts_count(k);
        assert_status(nnla_pca_fit_alloc(&pf, nnla_cmat_view(s.x, n, d, s.ld), &o), NNLA_OK);
        o.solver = NNLA_PCA_RANDOMIZED;
        o.oversample = 10;
        o.power_iters = 4;
        o.seed = 7;
        size_t bytes;
        assert_status(nnla_pca_fit_workspace_size(n, d, &o, &bytes), NNLA_OK);
        double *w = xmalloc(bytes / sizeof(double) + 1);
        assert_status(nnla_pca_fit(&pr, nnla_cmat_view(s.x, n, d, s.ld), &o, w, bytes), NNLA_OK);
        assert_int_equal(pr.n_components, k);
        assert_vec_close(pr.mean, pf.mean, d, 0.0, 0.0); /* the same centring */
        assert_vec_close(pr.singular_values, pf.singular_values, k, 1e-10, 0.0);
        assert_vec_close(pr.explained_variance, pf.explained_variance, k, 1e-10, 0.0);
        assert_vec_close(pr.explained_variance_ratio, pf.explained_variance_ratio, k, 1e-10, 0.0);
        assert_true(fabs(pr.total_variance - pf.total_variance) <= 1e-12 * pf.total_variance);
        assert_true(fabs(pr.noise_variance - pf.noise_variance) <= 1e-8 * pf.explained_variance[0]);
        assert_mat_close(nnla_cmat_view(pr.components, k, d, d), nnla_cmat_view(pf.components, k, d, d), 0.0, 1e-8);
        free(w);
        nnla_pca_free(&pf);
        nnla_pca_free(&pr);
        free_data(&s);
    }
}

/* A model in caller memory, at any alignment; the arrays lie inside it. */
static void test_model_memory(void **state)
{
    (void)state;
    size_t bytes;
    assert_status(nnla_pca_memory_size(7, 3, &bytes), NNLA_OK);
    unsigned char *mem = malloc(bytes + 3);
    assert_non_null(mem);
    nnla_pca p;
    memset(&p, 0x77, sizeof p);
    assert_status(nnla_pca_init(&p, 7, 3, mem + 3, bytes), NNLA_OK);
    assert_int_equal(p.n_features, 7);
    assert_int_equal(p.capacity, 3);
    assert_int_equal(p.n_components, 0);
    assert_null(p.owned);
    const void *ends[5] = {p.mean + 7, p.components + 21, p.explained_variance + 3, p.explained_variance_ratio + 3,
                           p.singular_values + 3};
    const void *starts[5] = {p.mean, p.components, p.explained_variance, p.explained_variance_ratio,
                             p.singular_values};
    for (int i = 0; i < 5; i++)
        assert_true((const unsigned char *)starts[i] >= mem + 3 && (const unsigned char *)ends[i] <= mem + 3 + bytes);
    /* fit and transform in it */
    nnla_test_rng rng = {55};
    double x[20 * 7];
    nnla_test_fill(&rng, x, 140, -1, 1);
    nnla_pca_opts o = opts_count(3);
    assert_status(nnla_pca_fit_alloc(&p, nnla_cmat_view(x, 20, 7, 7), &o), NNLA_OK);
    nnla_pca_free(&p); /* frees nothing: the memory is the caller's */
    free(mem);
}

/* ------------------------------------------------------------------ bad input */

typedef struct pbufs {
    double x[10 * 4], y[10 * 4], xo[10 * 4], mem[256];
    double x0[10 * 4], y0[10 * 4], xo0[10 * 4], mem0[256];
    nnla_pca p, p0;
} pbufs;

static void pbufs_reset(pbufs *b, int fit)
{
    for (int i = 0; i < 40; i++) b->x[i] = sin(3.0 + i) + (i % 4);
    for (int i = 0; i < 40; i++) b->y[i] = b->xo[i] = SENTINEL;
    for (int i = 0; i < 256; i++) b->mem[i] = SENTINEL;
    size_t bytes;
    assert_status(nnla_pca_memory_size(4, 4, &bytes), NNLA_OK);
    assert_true(bytes <= sizeof b->mem);
    assert_status(nnla_pca_init(&b->p, 4, 4, b->mem, sizeof b->mem), NNLA_OK);
    if (fit) {
        nnla_pca_opts o = opts_count(2);
        assert_status(nnla_pca_fit_alloc(&b->p, nnla_cmat_view(b->x, 10, 4, 4), &o), NNLA_OK);
    }
    memcpy(b->x0, b->x, sizeof b->x);
    memcpy(b->y0, b->y, sizeof b->y);
    memcpy(b->xo0, b->xo, sizeof b->xo);
    memcpy(b->mem0, b->mem, sizeof b->mem);
    memcpy(&b->p0, &b->p, sizeof b->p);
}

static void pbufs_untouched(const pbufs *b, int line)
{
    if (memcmp(b->x, b->x0, sizeof b->x) || memcmp(b->y, b->y0, sizeof b->y) || memcmp(b->xo, b->xo0, sizeof b->xo) ||
        memcmp(b->mem, b->mem0, sizeof b->mem) || memcmp(&b->p, &b->p0, sizeof b->p))
        fail_msg("line %d: the model, an output or the input was modified by a failing call", line);
}

#define PBAD(fit, expr, status)                                                                              \
    do {                                                                                                     \
        pbufs_reset(&B, (fit));                                                                              \
        assert_status((expr), (status));                                                                     \
        pbufs_untouched(&B, __LINE__);                                                                       \
    } while (0)

static void test_bad_input(void **state)
{
    (void)state;
    static pbufs B;
    nnla_cmat X = nnla_cmat_view(B.x, 10, 4, 4);
    nnla_pca_opts o = opts_count(2), ov = opts_count(0);
    ov.variance = 0.9;
    size_t bytes, tb;
    assert_status(nnla_pca_fit_workspace_size(10, 4, &o, &bytes), NNLA_OK);
    double *w = xmalloc(bytes / sizeof(double) + 1);
    /* model memory */
    size_t mb = 9;
    assert_status(nnla_pca_memory_size(4, 2, NULL), NNLA_ENULL);
    assert_status(nnla_pca_memory_size(0, 2, &mb), NNLA_EDIM);
    assert_status(nnla_pca_memory_size(4, 0, &mb), NNLA_EDIM);
    assert_status(nnla_pca_memory_size(4, 5, &mb), NNLA_EDIM);
    assert_status(nnla_pca_memory_size(SIZE_MAX / 4, SIZE_MAX / 8, &mb), NNLA_EOVERFLOW);
    assert_int_equal(mb, 9);
    PBAD(0, nnla_pca_init(&B.p, 4, 4, NULL, 100), NNLA_ENULL);
    PBAD(0, nnla_pca_init(NULL, 4, 4, B.mem, sizeof B.mem), NNLA_ENULL);
    PBAD(0, nnla_pca_init(&B.p, 4, 5, B.mem, sizeof B.mem), NNLA_EDIM);
    assert_status(nnla_pca_memory_size(4, 4, &mb), NNLA_OK);
    PBAD(0, nnla_pca_init(&B.p, 4, 4, B.mem, mb - 1), NNLA_EWORKSPACE);
    PBAD(0, nnla_pca_alloc(&B.p, 4, 0), NNLA_EDIM);
    assert_status(nnla_pca_alloc(NULL, 4, 2), NNLA_ENULL);

    /* fit: a good call, then every way to get it wrong */
    pbufs_reset(&B, 0);
    assert_status(nnla_pca_fit(&B.p, X, &o, w, bytes), NNLA_OK);
    PBAD(0, nnla_pca_fit(NULL, X, &o, w, bytes), NNLA_ENULL);
    PBAD(0, nnla_pca_fit(&B.p, X, NULL, w, bytes), NNLA_ENULL);
    PBAD(0, nnla_pca_fit(&B.p, X, &o, NULL, bytes), NNLA_ENULL);
    PBAD(0, nnla_pca_fit(&B.p, nnla_cmat_view(NULL, 10, 4, 4), &o, w, bytes), NNLA_ENULL);
    {
        pbufs_reset(&B, 0);
        nnla_pca zero;
        memset(&zero, 0, sizeof zero);
        assert_status(nnla_pca_fit(&zero, X, &o, w, bytes), NNLA_ENULL); /* never initialized */
    }
    PBAD(0, nnla_pca_fit(&B.p, nnla_cmat_view(B.x, 1, 4, 4), &o, w, bytes), NNLA_EDIM); /* n < 2 */
    PBAD(0, nnla_pca_fit(&B.p, nnla_cmat_view(B.x, 10, 4, 3), &o, w, bytes), NNLA_ELD);
    {
        nnla_pca_opts big = opts_count(5);
        PBAD(0, nnla_pca_fit(&B.p, X, &big, w, bytes), NNLA_EDIM); /* k > min(n, d) */
        nnla_pca_opts bad = ov;
        bad.variance = 1.0;
        PBAD(0, nnla_pca_fit(&B.p, X, &bad, w, bytes), NNLA_EINVAL);
        bad.variance = 0.0;
        PBAD(0, nnla_pca_fit(&B.p, X, &bad, w, bytes), NNLA_EINVAL);
        bad.variance = NAN;
        PBAD(0, nnla_pca_fit(&B.p, X, &bad, w, bytes), NNLA_EINVAL);
        bad = o;
        bad.solver = (nnla_pca_solver)7;
        PBAD(0, nnla_pca_fit(&B.p, X, &bad, w, bytes), NNLA_EINVAL);
        bad = ov;
        bad.solver = NNLA_PCA_RANDOMIZED; /* randomized needs a count */
        PBAD(0, nnla_pca_fit(&B.p, X, &bad, w, bytes), NNLA_EINVAL);
    }
    PBAD(0, nnla_pca_fit(&B.p, nnla_cmat_view(B.x, 13, 3, 3), &o, w, bytes), NNLA_ESHAPE); /* d != 4 */
    {
        pbufs_reset(&B, 0);
        nnla_pca small;
        assert_status(nnla_pca_alloc(&small, 4, 1), NNLA_OK);
        nnla_pca s0 = small;
        assert_status(nnla_pca_fit(&small, X, &o, w, bytes), NNLA_ESHAPE); /* capacity 1 < k = 2 */
        assert_status(nnla_pca_fit_alloc(&small, X, &ov), NNLA_ESHAPE);    /* the rule needs min(n, d) */
        assert_memory_equal(&small, &s0, sizeof small);
        nnla_pca_free(&small);
    }
    PBAD(0, nnla_pca_fit(&B.p, X, &o, w, bytes - 1), NNLA_EWORKSPACE);
    PBAD(0, nnla_pca_fit(&B.p, X, &o, B.mem + 10, 8 * 100), NNLA_EALIAS);
    PBAD(0, nnla_pca_fit(&B.p, nnla_cmat_view(B.mem, 10, 4, 4), &o, w, bytes), NNLA_EALIAS);
    PBAD(0, nnla_pca_fit(&B.p, X, &o, B.x + 4, bytes), NNLA_EALIAS);
    const double badv[3] = {NAN, INFINITY, -INFINITY};
    for (int v = 0; v < 3; v++)
        for (int spot = 0; spot < 40; spot += 13) {
            for (int rnd = 0; rnd < 2; rnd++) {
                pbufs_reset(&B, 1);
                B.x[spot] = badv[v];
                memcpy(B.x0, B.x, sizeof B.x);
                nnla_pca_opts oo = o;
                if (rnd) {
                    oo.solver = NNLA_PCA_RANDOMIZED;
                    oo.oversample = 1;
                }
                assert_status(nnla_pca_fit_alloc(&B.p, X, &oo), NNLA_ENONFINITE);
                pbufs_untouched(&B, __LINE__);
            }
        }
    PBAD(0, nnla_pca_fit(&B.p, nnla_cmat_view(B.x, 50000, 50000, 50000), &o, w, bytes), NNLA_ESHAPE);
    {
        pbufs_reset(&B, 0);
        nnla_pca wide;
        assert_status(nnla_pca_alloc(&wide, 50000, 2), NNLA_OK);
        nnla_pca w0 = wide;
        assert_status(nnla_pca_fit(&wide, nnla_cmat_view(B.x, 50000, 50000, 50000), &o, w, bytes), NNLA_EOVERFLOW);
        assert_memory_equal(&wide, &w0, sizeof wide);
        nnla_pca_free(&wide);
    }
    size_t qb = 3;
    assert_status(nnla_pca_fit_workspace_size(10, 4, NULL, &qb), NNLA_ENULL);
    assert_status(nnla_pca_fit_workspace_size(1, 4, &o, &qb), NNLA_EDIM);
    assert_status(nnla_pca_fit_workspace_size(10, 0, &o, &qb), NNLA_EDIM);
    assert_int_equal(qb, 3);

    /* transforms */
    pbufs_reset(&B, 1);
    assert_status(nnla_pca_transform_workspace_size(&B.p, 10, &tb), NNLA_OK);
    double *tw = xmalloc(tb / sizeof(double) + 1);
    nnla_mat Y = nnla_mat_view(B.y, 10, 2, 2), XO = nnla_mat_view(B.xo, 10, 4, 4);
    assert_status(nnla_pca_transform(&B.p, X, Y, tw, tb), NNLA_OK);
    assert_status(nnla_pca_inverse_transform(&B.p, nnla_cmat_of(Y), XO, tw, tb), NNLA_OK);
    PBAD(0, nnla_pca_transform(&B.p, X, Y, tw, tb), NNLA_EINVAL); /* not fitted */
    PBAD(0, nnla_pca_inverse_transform(&B.p, nnla_cmat_view(B.y, 10, 2, 2), XO, tw, tb), NNLA_EINVAL);
    assert_status(nnla_pca_transform_workspace_size(&B.p, 10, &qb), NNLA_EINVAL);
    PBAD(1, nnla_pca_transform(NULL, X, Y, tw, tb), NNLA_ENULL);
    PBAD(1, nnla_pca_transform(&B.p, X, Y, NULL, tb), NNLA_ENULL);
    PBAD(1, nnla_pca_transform(&B.p, X, nnla_mat_view(NULL, 10, 2, 2), tw, tb), NNLA_ENULL);
    PBAD(1, nnla_pca_transform(&B.p, nnla_cmat_view(B.x, 0, 4, 4), Y, tw, tb), NNLA_EDIM);
    PBAD(1, nnla_pca_transform(&B.p, X, nnla_mat_view(B.y, 10, 2, 1), tw, tb), NNLA_ELD);
    PBAD(1, nnla_pca_transform(&B.p, nnla_cmat_view(B.x, 10, 3, 4), Y, tw, tb), NNLA_ESHAPE);
    PBAD(1, nnla_pca_transform(&B.p, X, nnla_mat_view(B.y, 10, 3, 3), tw, tb), NNLA_ESHAPE);
    PBAD(1, nnla_pca_transform(&B.p, X, nnla_mat_view(B.y, 9, 2, 2), tw, tb), NNLA_ESHAPE);
    PBAD(1, nnla_pca_inverse_transform(&B.p, nnla_cmat_view(B.y, 10, 3, 3), XO, tw, tb), NNLA_ESHAPE);
    PBAD(1, nnla_pca_inverse_transform(&B.p, nnla_cmat_view(B.y, 10, 2, 2), nnla_mat_view(B.xo, 10, 3, 4), tw, tb),
         NNLA_ESHAPE);
    PBAD(1, nnla_pca_transform(&B.p, X, Y, tw, tb - 1), NNLA_EWORKSPACE);
    PBAD(1, nnla_pca_inverse_transform(&B.p, nnla_cmat_view(B.y, 10, 2, 2), XO, tw, tb - 1), NNLA_EWORKSPACE);
    PBAD(1, nnla_pca_transform(&B.p, X, nnla_mat_view(B.x + 2, 10, 2, 2), tw, tb), NNLA_EALIAS);
    PBAD(1, nnla_pca_transform(&B.p, X, nnla_mat_view(B.mem, 10, 2, 2), tw, tb), NNLA_EALIAS);
    PBAD(1, nnla_pca_transform(&B.p, X, Y, B.y, tb), NNLA_EALIAS);
    PBAD(1, nnla_pca_inverse_transform(&B.p, nnla_cmat_view(B.y, 10, 2, 2), nnla_mat_view(B.y, 10, 4, 4), tw, tb),
         NNLA_EALIAS);
    PBAD(1, nnla_pca_transform_alloc(&B.p, X, nnla_mat_view(B.y, 10, 3, 3)), NNLA_ESHAPE);
    PBAD(1, nnla_pca_inverse_transform_alloc(&B.p, nnla_cmat_view(B.y, 10, 2, 2), nnla_mat_view(B.xo, 10, 4, 2)),
         NNLA_ELD);
    assert_status(nnla_pca_transform_workspace_size(&B.p, 0, &qb), NNLA_EDIM);
    assert_status(nnla_pca_transform_workspace_size(NULL, 5, &qb), NNLA_ENULL);
    free(tw);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_closed_form), cmocka_unit_test(test_transforms),
        cmocka_unit_test(test_large_offset),    cmocka_unit_test(test_randomized),
        cmocka_unit_test(test_model_memory),    cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
