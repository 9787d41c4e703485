/*
 * PCA over nnla_svd (full) or nnla_rsvd (randomized), with scikit-learn 1.2's conventions: n - 1 in
 * the variances, `n_components=F` as "the cumulative ratio exceeds F", svd_flip(u_based_decision=True)
 * for the signs, whitening by sqrt(explained variance).
 */
#include <math.h>
#include <stdlib.h>

#include <cblas.h>

#include "internal.h"

/* Rows per block of the transforms' workspace. */
#define PCA_BLOCK 64

typedef struct range {
    const void *p;
    size_t n;
} range;

static int any_overlap(const range *r, size_t count)
{
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++)
            if (nnla__overlap(r[i].p, r[i].n, r[j].p, r[j].n)) return 1;
    return 0;
}

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* ------------------------------------------------------------------ the model's memory */

static nnla_status model_bytes(size_t d, size_t cap, size_t *bytes)
{
    if (d == 0 || cap == 0 || cap > d) return NNLA_EDIM;
    size_t total = 0, cd;
    if (!nnla__mul(cap, d, &cd) || !nnla__mul(cd, sizeof(double), &cd) || !nnla__ws_piece(d * sizeof(double), &total) ||
        !nnla__ws_piece(cd, &total))
        return NNLA_EOVERFLOW;
    for (int i = 0; i < 3; i++)
        if (!nnla__ws_piece(cap * sizeof(double), &total)) return NNLA_EOVERFLOW;
    *bytes = total;
    return NNLA_OK;
}

nnla_status nnla_pca_memory_size(size_t n_features, size_t capacity, size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    size_t b;
    NNLA__TRY(model_bytes(n_features, capacity, &b));
    *bytes = b;
    return NNLA_OK;
}

nnla_status nnla_pca_init(nnla_pca *p, size_t n_features, size_t capacity, void *mem, size_t bytes)
{
    if (p == NULL || mem == NULL) return NNLA_ENULL;
    size_t need;
    NNLA__TRY(model_bytes(n_features, capacity, &need));
    if (bytes < need) return NNLA_EWORKSPACE;
    nnla__arena ar = {(unsigned char *)mem, bytes};
    nnla_pca o;
    o.n_features = n_features;
    o.capacity = capacity;
    o.n_components = 0;
    o.n_samples = 0;
    o.whiten = 0;
    o.total_variance = 0.0;
    o.noise_variance = 0.0;
    o.mean = nnla__arena_take(&ar, n_features * sizeof(double));
    o.components = nnla__arena_take(&ar, capacity * n_features * sizeof(double));
    o.explained_variance = nnla__arena_take(&ar, capacity * sizeof(double));
    o.explained_variance_ratio = nnla__arena_take(&ar, capacity * sizeof(double));
    o.singular_values = nnla__arena_take(&ar, capacity * sizeof(double));
    o.owned = NULL;
    if (!o.mean || !o.components || !o.explained_variance || !o.explained_variance_ratio || !o.singular_values)
        return NNLA_EWORKSPACE; /* unreachable: size checked */
    *p = o;
    return NNLA_OK;
}

nnla_status nnla_pca_alloc(nnla_pca *p, size_t n_features, size_t capacity)
{
    if (p == NULL) return NNLA_ENULL;
    size_t need;
    NNLA__TRY(model_bytes(n_features, capacity, &need));
    void *mem = malloc(need);
    if (mem == NULL) return NNLA_ENOMEM;
    nnla_status st = nnla_pca_init(p, n_features, capacity, mem, need);
    if (st != NNLA_OK) {
        free(mem);
        return st;
    }
    p->owned = mem;
    return NNLA_OK;
}

void nnla_pca_free(nnla_pca *p)
{
    if (p == NULL) return;
    free(p->owned);
    memset(p, 0, sizeof *p);
}

/* The model's arrays as byte ranges (for the overlap checks). */
static void model_ranges(const nnla_pca *p, range *r)
{
    size_t d = p->n_features, c = p->capacity;
    r[0] = (range){p->mean, d * sizeof(double)};
    r[1] = (range){p->components, c * d * sizeof(double)};
    r[2] = (range){p->explained_variance, c * sizeof(double)};
    r[3] = (range){p->explained_variance_ratio, c * sizeof(double)};
    r[4] = (range){p->singular_values, c * sizeof(double)};
}

static int model_ready(const nnla_pca *p)
{
    return p->mean && p->components && p->explained_variance && p->explained_variance_ratio && p->singular_values;
}

/* ------------------------------------------------------------------ fit: plan */

typedef struct fit_plan {
    size_t n, d, r, k; /* r = min(n, d); k: the count asked for, 0 for the variance rule */
    int randomized;
    size_t inner_bytes; /* nnla_svd's (full) or nnla_rsvd's (randomized) workspace */
    size_t bytes;
} fit_plan;

/* The dimensions and options (EDIM, EINVAL), before any shape or size. */
static nnla_status fit_params(size_t n, size_t d, const nnla_pca_opts *o)
{
    if (n < 2 || d == 0) return NNLA_EDIM;
    if (o->solver != NNLA_PCA_FULL && o->solver != NNLA_PCA_RANDOMIZED) return NNLA_EINVAL;
    if (o->n_components > min_sz(n, d)) return NNLA_EDIM;
    if (o->n_components == 0 && !(o->variance > 0.0 && o->variance < 1.0)) return NNLA_EINVAL;
    if (o->solver == NNLA_PCA_RANDOMIZED && o->n_components == 0) return NNLA_EINVAL;
    return NNLA_OK;
}

/* Sizes and workspace (parameters already checked). */
static nnla_status fit_sizes(size_t n, size_t d, const nnla_pca_opts *o, fit_plan *pl)
{
    size_t r = min_sz(n, d);
    int randomized = o->solver == NNLA_PCA_RANDOMIZED;
    if (!nnla__fits_int(n) || !nnla__fits_int(d)) return NNLA_EOVERFLOW;
    fit_plan p;
    p.n = n;
    p.d = d;
    p.r = r;
    p.k = o->n_components;
    p.randomized = randomized;
    size_t kk = randomized ? p.k : r; /* vectors kept in the workspace */
    if (randomized)
        NNLA__TRY(nnla_rsvd_workspace_size(NNLA_SVD_THIN, n, d, p.k, o->oversample, &p.inner_bytes));
    else
        NNLA__TRY(nnla_svd_workspace_size(NNLA_SVD_THIN, n, d, &p.inner_bytes));
    size_t nd, nk, kd, total = 0;
    if (!nnla__mul(n, d, &nd) || !nnla__fits_int(nd) || !nnla__mul(nd, sizeof(double), &nd) ||
        !nnla__mul(n * kk, sizeof(double), &nk) || !nnla__mul(kk * d, sizeof(double), &kd) ||
        !nnla__ws_piece(d * sizeof(double), &total) || !nnla__ws_piece(d * sizeof(double), &total) ||
        !nnla__ws_piece(nd, &total) ||
        !nnla__ws_piece(r * sizeof(double), &total) || !nnla__ws_piece(nk, &total) || !nnla__ws_piece(kd, &total) ||
        !nnla__ws_piece(p.inner_bytes, &total))
        return NNLA_EOVERFLOW;
    p.bytes = total;
    *pl = p;
    return NNLA_OK;
}

nnla_status nnla_pca_fit_workspace_size(size_t n_samples, size_t n_features, const nnla_pca_opts *opts,
                                        size_t *bytes)
{
    if (opts == NULL || bytes == NULL) return NNLA_ENULL;
    fit_plan pl;
    NNLA__TRY(fit_params(n_samples, n_features, opts));
    NNLA__TRY(fit_sizes(n_samples, n_features, opts, &pl));
    *bytes = pl.bytes;
    return NNLA_OK;
}

static nnla_status fit_check(const nnla_pca *p, nnla_cmat x, const nnla_pca_opts *o, const void *work,
                             size_t work_size, int have_work, fit_plan *pl)
{
    if (p == NULL || o == NULL || (have_work && work == NULL)) return NNLA_ENULL;
    if (!model_ready(p)) return NNLA_ENULL;
    NNLA__TRY(nnla__check_blas_view(x));
    NNLA__TRY(fit_params(x.rows, x.cols, o));
    if (x.cols != p->n_features) return NNLA_ESHAPE;
    if (p->capacity < (o->n_components ? o->n_components : min_sz(x.rows, x.cols))) return NNLA_ESHAPE;
    NNLA__TRY(fit_sizes(x.rows, x.cols, o, pl));
    range r[7];
    model_ranges(p, r);
    r[5] = (range){x.data, nnla__view_bytes(x)};
    r[6] = (range){work, have_work ? work_size : 0};
    if (any_overlap(r, 7)) return NNLA_EALIAS;
    if (have_work && work_size < pl->bytes) return NNLA_EWORKSPACE;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ fit: run */

/* mean (d) and xc = x - mean (n x d, packed), with one correcting pass (the mean of x - mean, which
 * rounding leaves nonzero, is added back; corr: d doubles); 0 when a mean is not finite. */
static int centre(nnla_cmat x, double *mean, double *xc, double *corr)
{
    size_t n = x.rows, d = x.cols;
    for (size_t j = 0; j < d; j++) mean[j] = corr[j] = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double *xi = x.data + i * x.ld;
        for (size_t j = 0; j < d; j++) mean[j] += xi[j];
    }
    for (size_t j = 0; j < d; j++) mean[j] /= (double)n;
    /* NaN or Inf anywhere in a column makes its sum NaN or Inf */
    if (!nnla__all_finite_vec(mean, d)) return 0;
    for (size_t i = 0; i < n; i++) {
        const double *xi = x.data + i * x.ld;
        double *ci = xc + i * d;
        for (size_t j = 0; j < d; j++) {
            ci[j] = xi[j] - mean[j];
            corr[j] += ci[j];
        }
    }
    for (size_t j = 0; j < d; j++) {
        corr[j] /= (double)n;
        mean[j] += corr[j];
    }
    for (size_t i = 0; i < n; i++) {
        double *ci = xc + i * d;
        for (size_t j = 0; j < d; j++) ci[j] -= corr[j];
    }
    return 1;
}

/* svd_flip(u_based_decision=True) on component j: the sign that makes u's largest |entry| positive. */
static double flip_sign(const double *u, size_t n, size_t ldu, size_t j)
{
    size_t best = 0;
    double bv = -1.0;
    for (size_t i = 0; i < n; i++) {
        double v = fabs(u[i * ldu + j]);
        if (v > bv) { /* strict: the first maximum, as numpy.argmax */
            bv = v;
            best = i;
        }
    }
    return u[best * ldu + j] < 0.0 ? -1.0 : 1.0;
}

static nnla_status fit_run(const fit_plan *pl, nnla_pca *p, nnla_cmat x, const nnla_pca_opts *o, void *work,
                           size_t work_size)
{
    size_t n = pl->n, d = pl->d, r = pl->r, kk = pl->randomized ? pl->k : r;
    nnla__arena ar = {(unsigned char *)work, work_size};
    double *mean = nnla__arena_take(&ar, d * sizeof(double));
    double *corr = nnla__arena_take(&ar, d * sizeof(double));
    double *xc = nnla__arena_take(&ar, n * d * sizeof(double));
    double *s = nnla__arena_take(&ar, r * sizeof(double));
    double *u = nnla__arena_take(&ar, n * kk * sizeof(double));
    double *vt = nnla__arena_take(&ar, kk * d * sizeof(double));
    void *inner = nnla__arena_take(&ar, pl->inner_bytes);
    if (!mean || !corr || !xc || !s || !u || !vt || !inner) return NNLA_EWORKSPACE; /* unreachable */
    if (!centre(x, mean, xc, corr)) return NNLA_ENONFINITE;
    nnla_cmat XC = nnla_cmat_view(xc, n, d, d);
    nnla_mat U = nnla_mat_view(u, n, kk, kk), VT = nnla_mat_view(vt, kk, d, d);
    double denom = (double)(n - 1), total;
    size_t k = pl->k;
    if (!pl->randomized) {
        NNLA__TRY(nnla_svd(NNLA_SVD_THIN, XC, s, U, VT, inner, pl->inner_bytes, NULL));
        total = 0.0;
        for (size_t i = 0; i < r; i++) total += s[i] * s[i] / denom;
        if (k == 0) { /* scikit-learn: searchsorted(cumsum(ratio), F, side='right') + 1 */
            double cum = 0.0;
            k = r;
            for (size_t i = 0; i < r; i++) {
                cum += total > 0.0 ? s[i] * s[i] / denom / total : 0.0;
                if (cum > o->variance) {
                    k = i + 1;
                    break;
                }
            }
        }
    } else {
        /* the centred data must be finite before it reaches the randomized SVD's GEMMs */
        if (!nnla__all_finite(XC)) return NNLA_ENONFINITE;
        NNLA__TRY(nnla_rsvd(NNLA_SVD_THIN, XC, k, o->oversample, o->power_iters, o->seed, s, U, VT, inner,
                            pl->inner_bytes, NULL));
        double f = nnla__fro_norm(XC);
        total = f * f / denom;
    }
    /* everything computed: write the model */
    for (size_t j = 0; j < d; j++) p->mean[j] = mean[j];
    double kept = 0.0;
    for (size_t i = 0; i < k; i++) {
        double sg = flip_sign(u, n, kk, i);
        double *ci = p->components + i * d;
        const double *vi = vt + i * d;
        for (size_t j = 0; j < d; j++) ci[j] = sg * vi[j];
        double ev = s[i] * s[i] / denom;
        p->explained_variance[i] = ev;
        p->explained_variance_ratio[i] = total > 0.0 ? ev / total : 0.0;
        p->singular_values[i] = s[i];
        kept += ev;
    }
    if (k < r) {
        if (!pl->randomized) {
            double rest = 0.0;
            for (size_t i = k; i < r; i++) rest += s[i] * s[i] / denom;
            p->noise_variance = rest / (double)(r - k);
        } else {
            p->noise_variance = (total - kept) / (double)(r - k);
        }
    } else {
        p->noise_variance = 0.0;
    }
    p->n_components = k;
    p->n_samples = n;
    p->whiten = o->whiten != 0;
    p->total_variance = total;
    return NNLA_OK;
}

nnla_status nnla_pca_fit(nnla_pca *p, nnla_cmat x, const nnla_pca_opts *opts, void *work, size_t work_size)
{
    fit_plan pl;
    NNLA__TRY(fit_check(p, x, opts, work, work_size, 1, &pl));
    return fit_run(&pl, p, x, opts, work, work_size);
}

nnla_status nnla_pca_fit_alloc(nnla_pca *p, nnla_cmat x, const nnla_pca_opts *opts)
{
    fit_plan pl;
    NNLA__TRY(fit_check(p, x, opts, NULL, 0, 0, &pl));
    void *work = malloc(pl.bytes);
    if (work == NULL) return NNLA_ENOMEM;
    nnla_status st = fit_run(&pl, p, x, opts, work, pl.bytes);
    free(work);
    return st;
}

/* ------------------------------------------------------------------ transforms */

static nnla_status transform_bytes(const nnla_pca *p, size_t rows, size_t *bytes)
{
    size_t b, total = 0;
    if (!nnla__mul(min_sz(rows, PCA_BLOCK), p->n_features, &b) || !nnla__mul(b, sizeof(double), &b) ||
        !nnla__ws_piece(b, &total))
        return NNLA_EOVERFLOW;
    *bytes = total;
    return NNLA_OK;
}

static int fitted(const nnla_pca *p)
{
    return model_ready(p) && p->n_components >= 1 && p->n_components <= p->capacity &&
           p->n_components <= p->n_features;
}

nnla_status nnla_pca_transform_workspace_size(const nnla_pca *p, size_t rows, size_t *bytes)
{
    if (p == NULL || bytes == NULL) return NNLA_ENULL;
    if (rows == 0) return NNLA_EDIM;
    if (!fitted(p)) return NNLA_EINVAL;
    size_t b;
    NNLA__TRY(transform_bytes(p, rows, &b));
    *bytes = b;
    return NNLA_OK;
}

/* Checks shared by both directions: in is rows x in_cols, out is rows x out_cols. */
static nnla_status transform_check(const nnla_pca *p, nnla_cmat in, nnla_mat out, int forward, const void *work,
                                   size_t work_size, int have_work, size_t *need)
{
    if (p == NULL || (have_work && work == NULL)) return NNLA_ENULL;
    NNLA__TRY(nnla__check_blas_view(in));
    NNLA__TRY(nnla__check_blas_view(nnla_cmat_of(out)));
    if (!fitted(p)) return NNLA_EINVAL;
    size_t d = p->n_features, k = p->n_components;
    if (!nnla__fits_int(d)) return NNLA_EOVERFLOW;
    size_t in_cols = forward ? d : k, out_cols = forward ? k : d;
    if (in.cols != in_cols || out.rows != in.rows || out.cols != out_cols) return NNLA_ESHAPE;
    NNLA__TRY(transform_bytes(p, in.rows, need));
    range r[8];
    model_ranges(p, r);
    r[5] = (range){out.data, nnla__view_bytes(nnla_cmat_of(out))};
    r[6] = (range){in.data, nnla__view_bytes(in)};
    r[7] = (range){work, have_work ? work_size : 0};
    /* out against everything; work against everything; in and the model may share memory */
    for (size_t i = 0; i < 8; i++) {
        if (i != 5 && nnla__overlap(r[5].p, r[5].n, r[i].p, r[i].n)) return NNLA_EALIAS;
        if (i != 7 && nnla__overlap(r[7].p, r[7].n, r[i].p, r[i].n)) return NNLA_EALIAS;
    }
    if (have_work && work_size < *need) return NNLA_EWORKSPACE;
    return NNLA_OK;
}

/* 1 / sqrt(ev), 0 for ev == 0 (whitening), or sqrt(ev) (un-whitening). */
static double whiten_factor(double ev, int forward)
{
    if (forward) return ev > 0.0 ? 1.0 / sqrt(ev) : 0.0;
    return sqrt(ev);
}

static void transform_run(const nnla_pca *p, nnla_cmat x, nnla_mat y, double *buf)
{
    size_t d = p->n_features, k = p->n_components;
    for (size_t i0 = 0; i0 < x.rows; i0 += PCA_BLOCK) {
        size_t rb = min_sz(PCA_BLOCK, x.rows - i0);
        for (size_t i = 0; i < rb; i++) {
            const double *xi = x.data + (i0 + i) * x.ld;
            double *bi = buf + i * d;
            for (size_t j = 0; j < d; j++) bi[j] = xi[j] - p->mean[j];
        }
        double *yb = y.data + i0 * y.ld;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rb, (int)k, (int)d, 1.0, buf, (int)d, p->components,
                    (int)d, 0.0, yb, (int)y.ld);
        if (p->whiten)
            for (size_t i = 0; i < rb; i++)
                for (size_t j = 0; j < k; j++) yb[i * y.ld + j] *= whiten_factor(p->explained_variance[j], 1);
    }
}

static void inverse_run(const nnla_pca *p, nnla_cmat y, nnla_mat x, double *buf)
{
    size_t d = p->n_features, k = p->n_components;
    for (size_t i0 = 0; i0 < y.rows; i0 += PCA_BLOCK) {
        size_t rb = min_sz(PCA_BLOCK, y.rows - i0);
        const double *src = y.data + i0 * y.ld;
        size_t lds = y.ld;
        if (p->whiten) { /* the scaled scores, rb x k, in the workspace */
            for (size_t i = 0; i < rb; i++)
                for (size_t j = 0; j < k; j++)
                    buf[i * k + j] = src[i * y.ld + j] * whiten_factor(p->explained_variance[j], 0);
            src = buf;
            lds = k;
        }
        double *xb = x.data + i0 * x.ld;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rb, (int)d, (int)k, 1.0, src, (int)lds,
                    p->components, (int)d, 0.0, xb, (int)x.ld);
        for (size_t i = 0; i < rb; i++)
            for (size_t j = 0; j < d; j++) xb[i * x.ld + j] += p->mean[j];
    }
}

nnla_status nnla_pca_transform(const nnla_pca *p, nnla_cmat x, nnla_mat y, void *work, size_t work_size)
{
    size_t need;
    NNLA__TRY(transform_check(p, x, y, 1, work, work_size, 1, &need));
    nnla__arena ar = {(unsigned char *)work, work_size};
    double *buf = nnla__arena_take(&ar, need - NNLA__ALIGN);
    if (buf == NULL) return NNLA_EWORKSPACE; /* unreachable */
    transform_run(p, x, y, buf);
    return NNLA_OK;
}

nnla_status nnla_pca_inverse_transform(const nnla_pca *p, nnla_cmat y, nnla_mat x, void *work, size_t work_size)
{
    size_t need;
    NNLA__TRY(transform_check(p, y, x, 0, work, work_size, 1, &need));
    nnla__arena ar = {(unsigned char *)work, work_size};
    double *buf = nnla__arena_take(&ar, need - NNLA__ALIGN);
    if (buf == NULL) return NNLA_EWORKSPACE; /* unreachable */
    inverse_run(p, y, x, buf);
    return NNLA_OK;
}

nnla_status nnla_pca_transform_alloc(const nnla_pca *p, nnla_cmat x, nnla_mat y)
{
    size_t need;
    NNLA__TRY(transform_check(p, x, y, 1, NULL, 0, 0, &need));
    double *buf = malloc(need);
    if (buf == NULL) return NNLA_ENOMEM;
    transform_run(p, x, y, buf);
    free(buf);
    return NNLA_OK;
}

nnla_status nnla_pca_inverse_transform_alloc(const nnla_pca *p, nnla_cmat y, nnla_mat x)
{
    size_t need;
    NNLA__TRY(transform_check(p, y, x, 0, NULL, 0, 0, &need));
    double *buf = malloc(need);
    if (buf == NULL) return NNLA_ENOMEM;
    inverse_run(p, y, x, buf);
    free(buf);
    return NNLA_OK;
}
