/*
 * Low-rank approximation: rank rules on a spectrum, the factors L = U_k S_k^(1/2) and
 * R = S_k^(1/2) V_k^T, the one-call nnla_lowrank(), and the randomized SVD (Halko, Martinsson and
 * Tropp 2011, Algorithms 4.4 and 5.1).
 *
 * Layout of the randomized SVD. A is row-major m x n, i.e. the column-major n x m matrix A^T with
 * leading dimension lda (src/linalg.c). The algorithm runs on M = A when m >= n and on M = A^T when
 * m < n, so M is big x small with big >= small, and the Gaussian test matrix is small x l
 * (l = k + p). Every tall thin matrix (the sketches Y = M X and Z = M^T Y, their orthonormal bases,
 * the test matrix) is kept column-major (rows x l, leading dimension rows): that is the layout in
 * which dgeqrf/dorgqr/dgesdd run fast (on a 1024 x 42 matrix, 0.30 ms against 0.89 ms for the LQ of
 * the transposed layout). The products with A are computed transposed, as the wide l x rows matrix
 * X^T M^T (OpenBLAS runs a GEMM with M = l small and N large about 25% faster than the same product
 * with a tall output: 1.05 ms against 1.35-1.58 ms at 1024 x 1024, l = 42) and transposed back into
 * the tall layout (0.02 ms). nnla-bench lowrank measures the result.
 */
#include <math.h>
#include <stdlib.h>

#include <cblas.h>
#include <lapacke.h>

#include "internal.h"

/* ------------------------------------------------------------------ shared helpers */

/* A byte range for the pairwise overlap check. */
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

/* Convert LAPACK's workspace answer (a double holding an integer) to an int count >= minimum. */
static int lwork_from_query(double q, lapack_int minimum, lapack_int *out)
{
    if (!(q >= 0.0) || q > (double)INT_MAX) return 0;
    lapack_int v = (lapack_int)q;
    *out = v < minimum ? minimum : v;
    return 1;
}

/*
 * Sums of squares without overflow: the value is scale^2 * sum (LAPACK's dlassq representation).
 * ssq_add_desc adds a value no smaller than any added before (singular values from the small end),
 * ssq_add_block a block of any values, scaled by a power of two (exact) so that its squares
 * neither overflow nor lose anything that matters against the block's largest entry.
 */
typedef struct ssq {
    double scale, sum;
} ssq;

static void ssq_merge(ssq *t, double scale, double sum)
{
    if (scale == 0.0) return;
    if (t->scale < scale) {
        double r = t->scale / scale;
        t->sum = sum + t->sum * r * r;
        t->scale = scale;
    } else {
        double r = scale / t->scale;
        t->sum += sum * r * r;
    }
}

static void ssq_add_desc(ssq *t, double x)
{
    if (x == 0.0) return;
    if (t->scale == 0.0) {
        t->scale = x;
        t->sum = 1.0;
        return;
    }
    double r = t->scale / x;
    t->sum = 1.0 + t->sum * r * r;
    t->scale = x;
}

static void ssq_add_block(ssq *t, const double *x, size_t n)
{
    double mx = 0.0;
    for (size_t i = 0; i < n; i++) {
        double v = fabs(x[i]);
        mx = v > mx ? v : mx;
    }
    if (mx == 0.0) return;
    int e;
    (void)frexp(mx, &e); /* mx in [2^(e-1), 2^e) */
    int sh = -e > 1000 ? 1000 : -e;
    double f = ldexp(1.0, sh), s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        double a0 = x[i] * f, a1 = x[i + 1] * f, a2 = x[i + 2] * f, a3 = x[i + 3] * f;
        s0 += a0 * a0;
        s1 += a1 * a1;
        s2 += a2 * a2;
        s3 += a3 * a3;
    }
    for (; i < n; i++) {
        double a0 = x[i] * f;
        s0 += a0 * a0;
    }
    ssq_merge(t, ldexp(1.0, -sh), (s0 + s1) + (s2 + s3));
}

static double ssq_value(ssq t) { return t.scale * sqrt(t.sum); }

/* ||a||_F, scaled row by row. */
double nnla__fro_norm(nnla_cmat a)
{
    ssq t = {0.0, 0.0};
    for (size_t i = 0; i < a.rows; i++) ssq_add_block(&t, a.data + i * a.ld, a.cols);
    return ssq_value(t);
}

/* ------------------------------------------------------------------ rank rules */

/* The rule against min(m, n) = r: kind, value, rank and cap. */
static nnla_status rule_check(nnla_rank_rule rule, size_t r)
{
    switch ((int)rule.kind) {
    case NNLA_RANK_FIXED:
        if (rule.rank == 0) return NNLA_EDIM;
        break;
    case NNLA_RANK_ENERGY:
        if (!(rule.value > 0.0 && rule.value <= 1.0)) return NNLA_EINVAL;
        break;
    case NNLA_RANK_TOL_FRO:
    case NNLA_RANK_TOL_2:
        if (!(rule.value >= 0.0) || !isfinite(rule.value)) return NNLA_EINVAL;
        break;
    default:
        return NNLA_EINVAL;
    }
    if (rule.rank > r) return NNLA_EDIM;
    return NNLA_OK;
}

/* The largest rank a rule may give: the fixed rank, the cap, or r. */
static size_t rule_max_rank(nnla_rank_rule rule, size_t r) { return rule.rank ? rule.rank : r; }

/* Parameter counts m n and k (m + n), checked. */
static nnla_status param_counts(size_t m, size_t n, size_t k, size_t *before, size_t *after)
{
    size_t mn, sum, kk;
    if (!nnla__mul(m, n, &mn) || !nnla__add(m, n, &sum) || !nnla__mul(k, sum, &kk)) return NNLA_EOVERFLOW;
    *before = mn;
    *after = kk;
    return NNLA_OK;
}

/* The tail sum_{i>k} s_i^2 (1-based) of a descending spectrum of r values, summed from the small end. */
static ssq spectrum_tail(const double *s, size_t r, size_t k)
{
    ssq t = {0.0, 0.0};
    for (size_t i = r; i-- > k;) ssq_add_desc(&t, s[i]);
    return t;
}

/* tail / total as a ratio of norms, (ts/Ts) sqrt(tsum/Tsum); 0 when the total is 0. */
static double rel_norm(ssq tail, ssq total)
{
    if (total.scale == 0.0 || tail.scale == 0.0) return 0.0;
    return (tail.scale / total.scale) * sqrt(tail.sum / total.sum);
}

/* The same ratio squared, (ts/Ts)^2 (tsum/Tsum), without a square root in between. */
static double rel_sq(ssq tail, ssq total)
{
    if (total.scale == 0.0 || tail.scale == 0.0) return 0.0;
    double r = tail.scale / total.scale;
    return r * r * (tail.sum / total.sum);
}

/* Whether rank k (1 <= k < r) meets the rule, given the tail for k and the total (exact path). */
static int rule_holds_exact(nnla_rank_rule rule, const double *s, size_t k, ssq tail, ssq total)
{
    if (s[k] == 0.0) return 1; /* s_{k+1} = 0: A_k = A */
    switch ((int)rule.kind) {
    case NNLA_RANK_ENERGY:
        return rel_sq(tail, total) <= 1.0 - rule.value;
    case NNLA_RANK_TOL_FRO:
        return rel_norm(tail, total) <= rule.value;
    default: /* NNLA_RANK_TOL_2; s[0] > 0 since s[k] > 0 */
        return s[k] / s[0] <= rule.value;
    }
}

/* The rank a rule gives on a full spectrum; *met says whether the cap stopped it. */
static size_t select_exact(const double *s, size_t r, nnla_rank_rule rule, int *met)
{
    *met = 1;
    if (rule.kind == NNLA_RANK_FIXED) return rule.rank;
    ssq total = spectrum_tail(s, r, 0), tail = {0.0, 0.0};
    size_t best = r; /* k = r always meets the rule: A_r = A */
    /* The tail grows as k falls, so the ranks that meet the rule are k* .. r: walk down from r. */
    for (size_t k = r - 1; k >= 1; k--) {
        ssq_add_desc(&tail, s[k]); /* now sum_{i>k} s_i^2 */
        if (!rule_holds_exact(rule, s, k, tail, total)) break;
        best = k;
    }
    if (rule.rank && best > rule.rank) {
        *met = 0;
        return rule.rank;
    }
    return best;
}

/* The report of rank k on a full spectrum (counts already checked). */
static void report_exact(const double *s, size_t r, size_t m, size_t n, size_t k, int met,
                         nnla_lowrank_report *rep)
{
    ssq total = spectrum_tail(s, r, 0), tail = spectrum_tail(s, r, k);
    nnla_lowrank_report o;
    o.m = m;
    o.n = n;
    o.rank = k;
    (void)param_counts(m, n, k, &o.params_before, &o.params_after);
    o.norm_fro = ssq_value(total);
    o.norm_2 = s[0];
    o.err_fro = ssq_value(tail);
    o.err_fro_rel = rel_norm(tail, total);
    o.err_2 = k < r ? s[k] : 0.0;
    o.err_2_rel = s[0] > 0.0 ? o.err_2 / s[0] : 0.0;
    o.energy = 1.0 - rel_sq(tail, total);
    o.rule_met = met;
    o.exact = 1;
    *rep = o;
}

/* s: r values, finite, >= 0, descending. */
static nnla_status spectrum_check(const double *s, size_t r)
{
    if (!nnla__all_finite_vec(s, r)) return NNLA_ENONFINITE;
    for (size_t i = 0; i < r; i++)
        if (s[i] < 0.0 || (i && s[i] > s[i - 1])) return NNLA_EINVAL;
    return NNLA_OK;
}

nnla_status nnla_lowrank_select(const double *s, size_t m, size_t n, nnla_rank_rule rule,
                                nnla_lowrank_report *rep)
{
    if (s == NULL || rep == NULL) return NNLA_ENULL;
    if (m == 0 || n == 0) return NNLA_EDIM;
    size_t r = min_sz(m, n), before, after;
    NNLA__TRY(rule_check(rule, r));
    NNLA__TRY(param_counts(m, n, r, &before, &after)); /* k <= r: every count fits */
    NNLA__TRY(spectrum_check(s, r));
    int met;
    size_t k = select_exact(s, r, rule, &met);
    report_exact(s, r, m, n, k, met, rep);
    return NNLA_OK;
}

/* ------------------------------------------------------------------ factors */

/* L = U_k diag(sqrt s), R = diag(sqrt s) V_k^T (all checked). */
static void write_factors(nnla_cmat u, const double *s, nnla_cmat vt, size_t k, nnla_mat l, nnla_mat r)
{
    for (size_t i = 0; i < l.rows; i++) {
        const double *ui = u.data + i * u.ld;
        double *li = l.data + i * l.ld;
        for (size_t j = 0; j < k; j++) li[j] = ui[j] * sqrt(s[j]);
    }
    for (size_t j = 0; j < k; j++) {
        const double *vj = vt.data + j * vt.ld;
        double *rj = r.data + j * r.ld, f = sqrt(s[j]);
        for (size_t c = 0; c < r.cols; c++) rj[c] = f * vj[c];
    }
}

nnla_status nnla_lowrank_factors(nnla_cmat u, const double *s, nnla_cmat vt, size_t k, nnla_mat l, nnla_mat r)
{
    NNLA__TRY(nnla_mat_check(u));
    NNLA__TRY(nnla_mat_check(vt));
    if (s == NULL) return NNLA_ENULL;
    NNLA__TRY(nnla_mat_check(nnla_cmat_of(l)));
    NNLA__TRY(nnla_mat_check(nnla_cmat_of(r)));
    if (k == 0 || k > u.cols || k > vt.rows) return NNLA_EDIM;
    if (l.rows != u.rows || l.cols != k || r.rows != k || r.cols != vt.cols) return NNLA_ESHAPE;
    size_t lb = nnla__view_bytes(nnla_cmat_of(l)), rb = nnla__view_bytes(nnla_cmat_of(r));
    range rl[5] = {{l.data, lb}, {r.data, rb}, {u.data, nnla__view_bytes(u)}, {s, k * sizeof(double)},
                   {vt.data, nnla__view_bytes(vt)}};
    /* l and r against everything; the inputs may share memory among themselves */
    for (size_t i = 0; i < 2; i++)
        for (size_t j = i + 1; j < 5; j++)
            if (nnla__overlap(rl[i].p, rl[i].n, rl[j].p, rl[j].n)) return NNLA_EALIAS;
    if (!nnla__all_finite_vec(s, k)) return NNLA_ENONFINITE;
    for (size_t i = 0; i < k; i++)
        if (s[i] < 0.0) return NNLA_EINVAL;
    write_factors(u, s, vt, k, l, r);
    return NNLA_OK;
}

/* ------------------------------------------------------------------ randomized SVD: plan */

typedef struct rsvd_plan {
    size_t m, n, big, small; /* M is big x small: A (m >= n) or A^T (m < n) */
    size_t k, l, p;          /* rank, sketch size l = k + p, oversampling used */
    int transposed, clamped;
    nnla_svd_job job;        /* of the small SVD: VALUES or THIN */
    lapack_int lwork;        /* doubles for dgeqrf and dorgqr on big x l and small x l */
    size_t svd_bytes;        /* nnla_svd's workspace for the l x small matrix B */
    size_t bytes;            /* the whole workspace */
} rsvd_plan;

/* The pieces of the randomized SVD's workspace, in carving order. */
typedef struct rsvd_ws {
    double *z;     /* small x l: Omega, then Z / Q~, then B (row-major l x small) */
    double *y;     /* big x l: Y, then Q */
    double *w;     /* l x big: the wide product; at the end V_B^T (row-major l x small) */
    double *tau;   /* l */
    double *qr;    /* lwork */
    double *sb;    /* l: the sketch's singular values */
    double *ub;    /* l x l (THIN only): U_B, row-major */
    void *svd;     /* svd_bytes */
} rsvd_ws;

static int rsvd_job_valid(nnla_svd_job job) { return job == NNLA_SVD_VALUES || job == NNLA_SVD_THIN; }

static nnla_status qr_query(lapack_int rows, lapack_int cols, lapack_int *lwork)
{
    double q = 0.0, dummy[1] = {0.0};
    lapack_int a, b;
    lapack_int info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, rows, cols, dummy, rows, dummy, &q, -1);
    if (info != 0) return NNLA_ELAPACK;
    if (!lwork_from_query(q, cols, &a)) return NNLA_EOVERFLOW;
    q = 0.0;
    info = LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, rows, cols, cols, dummy, rows, dummy, &q, -1);
    if (info != 0) return NNLA_ELAPACK;
    if (!lwork_from_query(q, cols, &b)) return NNLA_EOVERFLOW;
    *lwork = a > b ? a : b;
    return NNLA_OK;
}

/* Sizes for a rank-k randomized SVD of an m x n matrix (job valid, m, n >= 1). */
static nnla_status rsvd_sizes(nnla_svd_job job, size_t m, size_t n, size_t k, size_t p, rsvd_plan *pl)
{
    size_t small = min_sz(m, n), big = m < n ? n : m;
    if (k == 0 || k > small) return NNLA_EDIM;
    if (!nnla__fits_int(m) || !nnla__fits_int(n)) return NNLA_EOVERFLOW;
    rsvd_plan o;
    o.m = m;
    o.n = n;
    o.big = big;
    o.small = small;
    o.k = k;
    o.clamped = p > small - k;
    o.p = o.clamped ? small - k : p;
    o.l = k + o.p;
    o.transposed = m < n;
    o.job = job;
    size_t bl, ll;
    /* the largest LAPACK array is big x l; with the block size of dgeqrf's query, (big + l) * 64 */
    if (!nnla__mul(big, o.l, &bl) || !nnla__fits_int(bl) || !nnla__mul(o.l, o.l, &ll) ||
        !nnla__fits_int((big + o.l) * 64))
        return NNLA_EOVERFLOW;
    lapack_int lw1, lw2;
    NNLA__TRY(qr_query((lapack_int)big, (lapack_int)o.l, &lw1));
    NNLA__TRY(qr_query((lapack_int)small, (lapack_int)o.l, &lw2));
    o.lwork = lw1 > lw2 ? lw1 : lw2;
    NNLA__TRY(nnla_svd_workspace_size(job, o.l, small, &o.svd_bytes));
    size_t total = 0, sl = small * o.l * sizeof(double), b8 = bl * sizeof(double), lw, l8 = o.l * sizeof(double);
    if (!nnla__mul((size_t)o.lwork, sizeof(double), &lw) || !nnla__ws_piece(sl, &total) ||
        !nnla__ws_piece(b8, &total) || !nnla__ws_piece(b8, &total) || !nnla__ws_piece(l8, &total) ||
        !nnla__ws_piece(lw, &total) || !nnla__ws_piece(l8, &total) ||
        (job == NNLA_SVD_THIN && !nnla__ws_piece(ll * sizeof(double), &total)) ||
        !nnla__ws_piece(o.svd_bytes, &total))
        return NNLA_EOVERFLOW;
    o.bytes = total;
    *pl = o;
    return NNLA_OK;
}

static int rsvd_carve(const rsvd_plan *pl, void *work, size_t work_size, rsvd_ws *w)
{
    nnla__arena ar = {(unsigned char *)work, work_size};
    size_t l = pl->l;
    w->z = nnla__arena_take(&ar, pl->small * l * sizeof(double));
    w->y = nnla__arena_take(&ar, pl->big * l * sizeof(double));
    w->w = nnla__arena_take(&ar, pl->big * l * sizeof(double));
    w->tau = nnla__arena_take(&ar, l * sizeof(double));
    w->qr = nnla__arena_take(&ar, (size_t)pl->lwork * sizeof(double));
    w->sb = nnla__arena_take(&ar, l * sizeof(double));
    w->ub = pl->job == NNLA_SVD_THIN ? nnla__arena_take(&ar, l * l * sizeof(double)) : NULL;
    w->svd = nnla__arena_take(&ar, pl->svd_bytes);
    return w->z && w->y && w->w && w->tau && w->qr && w->sb && (pl->job != NNLA_SVD_THIN || w->ub) && w->svd;
}

/* ------------------------------------------------------------------ randomized SVD: the algorithm */

/* w (l x big, column-major) = (M x)^T = x^T M^T, x small x l column-major. */
static void prod_m(const rsvd_plan *pl, nnla_cmat a, const double *x, double *w)
{
    cblas_dgemm(CblasColMajor, CblasTrans, pl->transposed ? CblasTrans : CblasNoTrans, (int)pl->l, (int)pl->big,
                (int)pl->small, 1.0, x, (int)pl->small, a.data, (int)a.ld, 0.0, w, (int)pl->l);
}

/* w (l x small, column-major) = (M^T y)^T = y^T M, y big x l column-major. */
static void prod_mt(const rsvd_plan *pl, nnla_cmat a, const double *y, double *w)
{
    cblas_dgemm(CblasColMajor, CblasTrans, pl->transposed ? CblasNoTrans : CblasTrans, (int)pl->l,
                (int)pl->small, (int)pl->big, 1.0, y, (int)pl->big, a.data, (int)a.ld, 0.0, w, (int)pl->l);
}

/* t (rows x l, column-major) = w^T, w l x rows column-major; tiles of 32 rows keep w's columns in L1. */
static void transpose_wide(size_t l, size_t rows, const double *w, double *t)
{
    enum { TB = 32 };
    for (size_t i0 = 0; i0 < rows; i0 += TB) {
        size_t i1 = min_sz(i0 + TB, rows);
        for (size_t j = 0; j < l; j++) {
            double *tj = t + j * rows;
            for (size_t i = i0; i < i1; i++) tj[i] = w[j + i * l];
        }
    }
}

/* Replace the rows x l column-major x by an orthonormal basis of its range (dgeqrf + dorgqr),
 * after checking that it is finite. */
static nnla_status orthonormalize(const rsvd_plan *pl, const rsvd_ws *w, double *x, size_t rows)
{
    if (!nnla__all_finite_vec(x, rows * pl->l)) return NNLA_ENONFINITE;
    lapack_int r = (lapack_int)rows, l = (lapack_int)pl->l;
    lapack_int info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, r, l, x, r, w->tau, w->qr, pl->lwork);
    if (info != 0) return NNLA_ELAPACK;
    info = LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, r, l, l, x, r, w->tau, w->qr, pl->lwork);
    if (info != 0) return NNLA_ELAPACK;
    return NNLA_OK;
}

/* Whether every row of the small x l column-major test matrix has a nonzero entry. */
static int rows_nonzero(const double *om, size_t small, size_t l)
{
    for (size_t i = 0; i < small; i++) {
        int nz = 0;
        for (size_t j = 0; j < l && !nz; j++) nz = om[i + j * small] != 0.0;
        if (!nz) return 0;
    }
    return 1;
}

/*
 * Algorithms 4.4 and 5.1 up to the small SVD. On return: w->sb holds the l singular values of B,
 * w->y the basis Q (big x l), and for THIN w->ub the l x l U_B and w->w the l x small V_B^T (both
 * row-major), so that M ~ (Q U_B) diag(sb) V_B^T. Writes nothing outside the workspace.
 */
static nnla_status rsvd_core(const rsvd_plan *pl, nnla_cmat a, size_t q, uint64_t seed, const rsvd_ws *w,
                             nnla_svd_driver *driver)
{
    size_t l = pl->l, big = pl->big, small = pl->small;
    nnla_rng rng;
    NNLA__TRY(nnla_rng_seed(&rng, seed));
    NNLA__TRY(nnla_rng_fill_normal(&rng, 0.0, 1.0, w->z, small * l));
    /* A NaN or Inf in column c of M reaches the first sketch through any nonzero Omega[c][j]. */
    if (!rows_nonzero(w->z, small, l) && !nnla__all_finite(a)) return NNLA_ENONFINITE;

    prod_m(pl, a, w->z, w->w); /* Y = M Omega */
    transpose_wide(l, big, w->w, w->y);
    NNLA__TRY(orthonormalize(pl, w, w->y, big));
    for (size_t it = 0; it < q; it++) {
        prod_mt(pl, a, w->y, w->w); /* Z = M^T Q */
        transpose_wide(l, small, w->w, w->z);
        NNLA__TRY(orthonormalize(pl, w, w->z, small));
        prod_m(pl, a, w->z, w->w); /* Y = M Q~ */
        transpose_wide(l, big, w->w, w->y);
        NNLA__TRY(orthonormalize(pl, w, w->y, big));
    }
    /* B = Q^T M (l x small): the column-major l x small product transposed is B row-major. */
    prod_mt(pl, a, w->y, w->w);
    transpose_wide(l, small, w->w, w->z);
    nnla_cmat b = nnla_cmat_view(w->z, l, small, small);
    nnla_mat zero = nnla_mat_view(NULL, 0, 0, 0);
    int thin = pl->job == NNLA_SVD_THIN;
    return nnla_svd(pl->job, b, w->sb, thin ? nnla_mat_view(w->ub, l, l, l) : zero,
                    thin ? nnla_mat_view(w->w, l, small, small) : zero, w->svd, pl->svd_bytes, driver);
}

/* u (m x kk) = A's left singular vectors of the sketch (THIN core done, kk <= l). */
static void rsvd_emit_u(const rsvd_plan *pl, const rsvd_ws *w, size_t kk, nnla_mat u)
{
    if (!pl->transposed) { /* U = Q U_B[:, :kk]: column-major U^T (kk x m) = U_B[:, :kk]^T Q^T */
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)kk, (int)pl->m, (int)pl->l, 1.0, w->ub,
                    (int)pl->l, w->y, (int)pl->big, 0.0, u.data, (int)u.ld);
    } else { /* U = V_B[:, :kk] = (V_B^T)[:kk, :]^T */
        for (size_t i = 0; i < pl->m; i++)
            for (size_t j = 0; j < kk; j++) u.data[i * u.ld + j] = w->w[j * pl->small + i];
    }
}

/* vt (kk x n) = A's right singular vectors of the sketch, as rows. */
static void rsvd_emit_vt(const rsvd_plan *pl, const rsvd_ws *w, size_t kk, nnla_mat vt)
{
    if (!pl->transposed) { /* V^T = V_B^T[:kk, :] */
        for (size_t j = 0; j < kk; j++) nnla__copy(vt.data + j * vt.ld, w->w + j * pl->small, pl->n);
    } else { /* V = Q U_B[:, :kk]: column-major V (n x kk) */
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)pl->n, (int)kk, (int)pl->l, 1.0, w->y,
                    (int)pl->big, w->ub, (int)pl->l, 0.0, vt.data, (int)vt.ld);
    }
}

/* ------------------------------------------------------------------ randomized SVD: public */

nnla_status nnla_rsvd_workspace_size(nnla_svd_job job, size_t m, size_t n, size_t k, size_t oversample,
                                     size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    if (!rsvd_job_valid(job)) return NNLA_EINVAL;
    if (m == 0 || n == 0) return NNLA_EDIM;
    rsvd_plan pl;
    NNLA__TRY(rsvd_sizes(job, m, n, k, oversample, &pl));
    *bytes = pl.bytes;
    return NNLA_OK;
}

static nnla_status rsvd_check(nnla_svd_job job, nnla_cmat a, size_t k, size_t p, const double *s, nnla_mat u,
                              nnla_mat vt, const void *work, size_t work_size, int have_work, rsvd_plan *pl)
{
    NNLA__TRY(nnla__check_blas_view(a));
    if (s == NULL || (have_work && work == NULL)) return NNLA_ENULL;
    if (!rsvd_job_valid(job)) return NNLA_EINVAL;
    size_t m = a.rows, n = a.cols;
    if (k == 0 || k > min_sz(m, n)) return NNLA_EDIM;
    int thin = job == NNLA_SVD_THIN;
    if (thin) {
        NNLA__TRY(nnla__check_blas_view(nnla_cmat_of(u)));
        NNLA__TRY(nnla__check_blas_view(nnla_cmat_of(vt)));
        if (u.rows != m || u.cols != k || vt.rows != k || vt.cols != n) return NNLA_ESHAPE;
    }
    NNLA__TRY(rsvd_sizes(job, m, n, k, p, pl));
    range r[5] = {
        {a.data, nnla__view_bytes(a)},
        {s, k * sizeof(double)},
        {work, have_work ? work_size : 0},
        {thin ? u.data : NULL, thin ? nnla__view_bytes(nnla_cmat_of(u)) : 0},
        {thin ? vt.data : NULL, thin ? nnla__view_bytes(nnla_cmat_of(vt)) : 0},
    };
    if (any_overlap(r, 5)) return NNLA_EALIAS;
    if (have_work && work_size < pl->bytes) return NNLA_EWORKSPACE;
    return NNLA_OK;
}

static nnla_status rsvd_run(const rsvd_plan *pl, nnla_cmat a, size_t q, uint64_t seed, double *s, nnla_mat u,
                            nnla_mat vt, void *work, size_t work_size, nnla_rsvd_info *info)
{
    rsvd_ws w;
    if (!rsvd_carve(pl, work, work_size, &w)) return NNLA_EWORKSPACE; /* unreachable: size checked */
    nnla_svd_driver drv = NNLA_SVD_DRIVER_GESDD;
    NNLA__TRY(rsvd_core(pl, a, q, seed, &w, &drv));
    for (size_t i = 0; i < pl->k; i++) s[i] = w.sb[i];
    if (pl->job == NNLA_SVD_THIN) {
        rsvd_emit_u(pl, &w, pl->k, u);
        rsvd_emit_vt(pl, &w, pl->k, vt);
    }
    if (info) {
        info->oversample = pl->p;
        info->clamped = pl->clamped;
        info->transposed = pl->transposed;
        info->driver = drv;
    }
    return NNLA_OK;
}

nnla_status nnla_rsvd(nnla_svd_job job, nnla_cmat a, size_t k, size_t oversample, size_t power_iters,
                      uint64_t seed, double *s, nnla_mat u, nnla_mat vt, void *work, size_t work_size,
                      nnla_rsvd_info *info)
{
    rsvd_plan pl;
    NNLA__TRY(rsvd_check(job, a, k, oversample, s, u, vt, work, work_size, 1, &pl));
    return rsvd_run(&pl, a, power_iters, seed, s, u, vt, work, work_size, info);
}

nnla_status nnla_rsvd_alloc(nnla_svd_job job, nnla_cmat a, size_t k, size_t oversample, size_t power_iters,
                            uint64_t seed, double *s, nnla_mat u, nnla_mat vt, nnla_rsvd_info *info)
{
    rsvd_plan pl;
    NNLA__TRY(rsvd_check(job, a, k, oversample, s, u, vt, NULL, 0, 0, &pl));
    void *work = malloc(pl.bytes);
    if (work == NULL) return NNLA_ENOMEM;
    nnla_status st = rsvd_run(&pl, a, power_iters, seed, s, u, vt, work, pl.bytes, info);
    free(work);
    return st;
}

/* ------------------------------------------------------------------ nnla_lowrank */

/* Rows of the residual block of the randomized report (about 256 KiB, at least 16 rows). */
static size_t residual_rows(size_t m, size_t n)
{
    size_t rb = 32768 / n;
    return min_sz(m, rb < 16 ? 16 : rb);
}

typedef struct lowrank_plan {
    size_t m, n, r, kmax; /* r = min(m, n); kmax: the rank the outputs must hold */
    int randomized;
    size_t q;
    uint64_t seed;
    size_t svd_bytes; /* exact: nnla_svd's workspace */
    rsvd_plan rs;     /* randomized */
    size_t rrows;     /* randomized: rows of the residual block */
    size_t bytes;
} lowrank_plan;

static nnla_status lowrank_sizes(size_t m, size_t n, nnla_rank_rule rule, const nnla_lowrank_opts *opts,
                                 lowrank_plan *pl)
{
    if (m == 0 || n == 0) return NNLA_EDIM;
    size_t r = min_sz(m, n), before, after;
    NNLA__TRY(rule_check(rule, r));
    int randomized = opts != NULL && opts->randomized != 0;
    if (randomized && opts->oversample == 0) return NNLA_EINVAL;
    if (!nnla__fits_int(m) || !nnla__fits_int(n)) return NNLA_EOVERFLOW;
    NNLA__TRY(param_counts(m, n, r, &before, &after));
    lowrank_plan o;
    o.m = m;
    o.n = n;
    o.r = r;
    o.kmax = rule_max_rank(rule, r);
    o.randomized = randomized;
    o.q = randomized ? opts->power_iters : 0;
    o.seed = randomized ? opts->seed : 0;
    o.svd_bytes = 0;
    o.rrows = 0;
    size_t total = 0;
    if (!randomized) {
        size_t ur, rn;
        NNLA__TRY(nnla_svd_workspace_size(NNLA_SVD_THIN, m, n, &o.svd_bytes));
        if (!nnla__mul(m, r, &ur) || !nnla__mul(r, n, &rn) || !nnla__mul(ur, sizeof(double), &ur) ||
            !nnla__mul(rn, sizeof(double), &rn) || !nnla__ws_piece(r * sizeof(double), &total) ||
            !nnla__ws_piece(ur, &total) || !nnla__ws_piece(rn, &total) || !nnla__ws_piece(o.svd_bytes, &total))
            return NNLA_EOVERFLOW;
    } else {
        NNLA__TRY(rsvd_sizes(NNLA_SVD_THIN, m, n, o.kmax, opts->oversample, &o.rs));
        o.rrows = residual_rows(m, n);
        size_t rb;
        if (!nnla__mul(o.rrows * n, sizeof(double), &rb) || !nnla__ws_piece(o.rs.bytes, &total) ||
            !nnla__ws_piece(rb, &total))
            return NNLA_EOVERFLOW;
    }
    o.bytes = total;
    *pl = o;
    return NNLA_OK;
}

nnla_status nnla_lowrank_workspace_size(size_t m, size_t n, nnla_rank_rule rule, const nnla_lowrank_opts *opts,
                                        size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    lowrank_plan pl;
    NNLA__TRY(lowrank_sizes(m, n, rule, opts, &pl));
    *bytes = pl.bytes;
    return NNLA_OK;
}

static nnla_status lowrank_check(nnla_cmat a, nnla_rank_rule rule, const nnla_lowrank_opts *opts, nnla_mat l,
                                 nnla_mat r, nnla_mat ak, const void *work, size_t work_size, int have_work,
                                 const nnla_lowrank_report *rep, lowrank_plan *pl)
{
    NNLA__TRY(nnla__check_blas_view(a));
    NNLA__TRY(nnla__check_blas_view(nnla_cmat_of(l)));
    NNLA__TRY(nnla__check_blas_view(nnla_cmat_of(r)));
    int want_ak = ak.data != NULL;
    if (want_ak) NNLA__TRY(nnla__check_blas_view(nnla_cmat_of(ak)));
    if (rep == NULL || (have_work && work == NULL)) return NNLA_ENULL;
    NNLA__TRY(lowrank_sizes(a.rows, a.cols, rule, opts, pl));
    if (l.rows != a.rows || l.cols < pl->kmax || r.cols != a.cols || r.rows < pl->kmax) return NNLA_ESHAPE;
    if (want_ak && (ak.rows != a.rows || ak.cols != a.cols)) return NNLA_ESHAPE;
    range rg[5] = {
        {a.data, nnla__view_bytes(a)},
        {l.data, nnla__view_bytes(nnla_cmat_of(l))},
        {r.data, nnla__view_bytes(nnla_cmat_of(r))},
        {want_ak ? ak.data : NULL, want_ak ? nnla__view_bytes(nnla_cmat_of(ak)) : 0},
        {work, have_work ? work_size : 0},
    };
    if (any_overlap(rg, 5)) return NNLA_EALIAS;
    for (size_t i = 0; i < 5; i++)
        if (nnla__overlap(rep, sizeof *rep, rg[i].p, rg[i].n)) return NNLA_EALIAS;
    if (have_work && work_size < pl->bytes) return NNLA_EWORKSPACE;
    return NNLA_OK;
}

/* Exact path: thin SVD, rule, factors, report. */
static nnla_status lowrank_exact(const lowrank_plan *pl, nnla_cmat a, nnla_rank_rule rule, nnla_mat l, nnla_mat r,
                                 void *work, size_t work_size, size_t *k_out, nnla_lowrank_report *rep)
{
    size_t m = pl->m, n = pl->n, rr = pl->r;
    nnla__arena ar = {(unsigned char *)work, work_size};
    double *s = nnla__arena_take(&ar, rr * sizeof(double));
    double *u = nnla__arena_take(&ar, m * rr * sizeof(double));
    double *vt = nnla__arena_take(&ar, rr * n * sizeof(double));
    void *sw = nnla__arena_take(&ar, pl->svd_bytes);
    if (!s || !u || !vt || !sw) return NNLA_EWORKSPACE; /* unreachable */
    nnla_mat U = nnla_mat_view(u, m, rr, rr), VT = nnla_mat_view(vt, rr, n, n);
    NNLA__TRY(nnla_svd(NNLA_SVD_THIN, a, s, U, VT, sw, pl->svd_bytes, NULL));
    int met;
    size_t k = select_exact(s, rr, rule, &met);
    write_factors(nnla_cmat_of(U), s, nnla_cmat_of(VT), k, nnla_mat_view(l.data, m, k, l.ld),
                  nnla_mat_view(r.data, k, n, r.ld));
    report_exact(s, rr, m, n, k, met, rep);
    *k_out = k;
    return NNLA_OK;
}

/* The rank a rule gives on the l values of a sketch, with ||A||_F = na (randomized path). */
static size_t select_sketch(const double *sh, size_t l, size_t kmax, size_t r, double na, nnla_rank_rule rule,
                            int *met)
{
    *met = 1;
    if (rule.kind == NNLA_RANK_FIXED) return rule.rank;
    if (na == 0.0 || sh[0] == 0.0) return 1; /* A = 0 */
    double head = 0.0;                       /* sum_{i<=k} (s_i / ||A||_F)^2 */
    for (size_t k = 1; k <= kmax; k++) {
        double x = sh[k - 1] / na;
        head += x * x;
        double tail = head < 1.0 ? 1.0 - head : 0.0; /* relative squared Frobenius error */
        int ok;
        if (k == r)
            ok = 1;
        else if (rule.kind == NNLA_RANK_ENERGY)
            ok = tail <= 1.0 - rule.value;
        else if (rule.kind == NNLA_RANK_TOL_FRO)
            ok = sqrt(tail) <= rule.value;
        else
            ok = k < l && sh[k] / sh[0] <= rule.value;
        if (ok) return k;
    }
    *met = 0;
    return kmax;
}

/* ||A - L R||_F of the leading k terms, from A - A_k when it is at hand, else block by block. */
static double residual_fro(nnla_cmat a, nnla_cmat l, nnla_cmat r, nnla_cmat ak, double *buf, size_t rows)
{
    ssq t = {0.0, 0.0};
    size_t m = a.rows, n = a.cols, k = l.cols;
    if (ak.data != NULL) {
        for (size_t i = 0; i < m; i++) {
            const double *ai = a.data + i * a.ld, *bi = ak.data + i * ak.ld;
            for (size_t j = 0; j < n; j++) buf[j] = ai[j] - bi[j];
            ssq_add_block(&t, buf, n);
        }
        return ssq_value(t);
    }
    for (size_t i0 = 0; i0 < m; i0 += rows) {
        size_t rb = min_sz(rows, m - i0);
        for (size_t i = 0; i < rb; i++) nnla__copy(buf + i * n, a.data + (i0 + i) * a.ld, n);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rb, (int)n, (int)k, -1.0,
                    l.data + i0 * l.ld, (int)l.ld, r.data, (int)r.ld, 1.0, buf, (int)n);
        ssq_add_block(&t, buf, rb * n);
    }
    return ssq_value(t);
}

/* Randomized path: rSVD of rank kmax, rule on the sketch, factors, then (after A_k, if wanted) the report. */
static nnla_status lowrank_randomized(const lowrank_plan *pl, nnla_cmat a, nnla_rank_rule rule, nnla_mat l,
                                      nnla_mat r, nnla_mat ak, void *work, size_t work_size, size_t *k_out,
                                      nnla_lowrank_report *rep)
{
    const rsvd_plan *rs = &pl->rs;
    nnla__arena ar = {(unsigned char *)work, work_size};
    void *rw = nnla__arena_take(&ar, rs->bytes);
    double *buf = nnla__arena_take(&ar, pl->rrows * pl->n * sizeof(double));
    rsvd_ws w;
    if (!rw || !buf || !rsvd_carve(rs, rw, rs->bytes, &w)) return NNLA_EWORKSPACE; /* unreachable */
    NNLA__TRY(rsvd_core(rs, a, pl->q, pl->seed, &w, NULL));
    double na = nnla__fro_norm(a);
    if (!isfinite(na)) return NNLA_ENONFINITE; /* the sketch was finite, but ||A||_F overflows */
    int met;
    size_t k = select_sketch(w.sb, rs->l, pl->kmax, pl->r, na, rule, &met);
    nnla_mat lk = nnla_mat_view(l.data, pl->m, k, l.ld), rk = nnla_mat_view(r.data, k, pl->n, r.ld);
    rsvd_emit_u(rs, &w, k, lk);
    rsvd_emit_vt(rs, &w, k, rk);
    for (size_t j = 0; j < k; j++) {
        double f = sqrt(w.sb[j]);
        for (size_t i = 0; i < pl->m; i++) lk.data[i * lk.ld + j] *= f;
        for (size_t c = 0; c < pl->n; c++) rk.data[j * rk.ld + c] *= f;
    }
    if (ak.data != NULL)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)pl->m, (int)pl->n, (int)k, 1.0, lk.data,
                    (int)lk.ld, rk.data, (int)rk.ld, 0.0, ak.data, (int)ak.ld);
    nnla_lowrank_report o;
    o.m = pl->m;
    o.n = pl->n;
    o.rank = k;
    (void)param_counts(pl->m, pl->n, k, &o.params_before, &o.params_after);
    o.norm_fro = na;
    o.norm_2 = w.sb[0];
    o.err_fro = residual_fro(a, nnla_cmat_of(lk), nnla_cmat_of(rk), nnla_cmat_of(ak), buf, pl->rrows);
    o.err_fro_rel = na > 0.0 ? o.err_fro / na : 0.0;
    o.err_2 = k < pl->r ? w.sb[k] : 0.0; /* k < r implies k < l, since p >= 1 unless l = r */
    o.err_2_rel = w.sb[0] > 0.0 ? o.err_2 / w.sb[0] : 0.0;
    o.energy = 1.0 - o.err_fro_rel * o.err_fro_rel;
    o.rule_met = met;
    o.exact = 0;
    *rep = o;
    *k_out = k;
    return NNLA_OK;
}

static nnla_status lowrank_run(const lowrank_plan *pl, nnla_cmat a, nnla_rank_rule rule, nnla_mat l, nnla_mat r,
                               nnla_mat ak, void *work, size_t work_size, nnla_lowrank_report *rep)
{
    size_t k = 0;
    nnla_lowrank_report o;
    if (pl->randomized)
        NNLA__TRY(lowrank_randomized(pl, a, rule, l, r, ak, work, work_size, &k, &o));
    else {
        NNLA__TRY(lowrank_exact(pl, a, rule, l, r, work, work_size, &k, &o));
        if (ak.data != NULL)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)pl->m, (int)pl->n, (int)k, 1.0, l.data,
                        (int)l.ld, r.data, (int)r.ld, 0.0, ak.data, (int)ak.ld);
    }
    *rep = o;
    return NNLA_OK;
}

nnla_status nnla_lowrank(nnla_cmat a, nnla_rank_rule rule, const nnla_lowrank_opts *opts, nnla_mat l, nnla_mat r,
                         nnla_mat ak, void *work, size_t work_size, nnla_lowrank_report *rep)
{
    lowrank_plan pl;
    NNLA__TRY(lowrank_check(a, rule, opts, l, r, ak, work, work_size, 1, rep, &pl));
    return lowrank_run(&pl, a, rule, l, r, ak, work, work_size, rep);
}

nnla_status nnla_lowrank_alloc(nnla_cmat a, nnla_rank_rule rule, const nnla_lowrank_opts *opts, nnla_mat l,
                               nnla_mat r, nnla_mat ak, nnla_lowrank_report *rep)
{
    lowrank_plan pl;
    NNLA__TRY(lowrank_check(a, rule, opts, l, r, ak, NULL, 0, 0, rep, &pl));
    void *work = malloc(pl.bytes);
    if (work == NULL) return NNLA_ENOMEM;
    nnla_status st = lowrank_run(&pl, a, rule, l, r, ak, work, pl.bytes, rep);
    free(work);
    return st;
}
