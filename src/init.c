/*
 * Weight initializers (nnla/init.h): the laws of torch.nn.init, drawn from nnla_rng.
 *
 * Each kind is one row of a table (its name, whether it is uniform, normal or orthogonal, and how
 * its scale follows from the fans and the gain); nnla_init_tensor() dispatches on that row.
 * Orthogonal weights come from LAPACK's dgeqrf + dorgqr on a column-major buffer in the workspace,
 * so the Gaussian matrix is drawn in the weight's row-major order and placed column-major by hand.
 */
#include <math.h>

#include <lapacke.h>

#include "internal.h"

typedef enum law { LAW_UNIFORM, LAW_NORMAL, LAW_ORTHOGONAL } law;

/* How the scale is computed: c * gain / sqrt(fan), fan chosen by `fan`. */
typedef enum fan_rule { FAN_SUM, FAN_MODE, FAN_IN_ONLY, FAN_NONE } fan_rule;

static const struct init_row {
    const char *name;
    law law;
    fan_rule fan;
    double c2; /* scale = gain * sqrt(c2 / fan) */
} init_table[NNLA_INIT_KIND_COUNT] = {
    [NNLA_INIT_XAVIER_UNIFORM] = {"xavier_uniform", LAW_UNIFORM, FAN_SUM, 6.0},
    [NNLA_INIT_XAVIER_NORMAL] = {"xavier_normal", LAW_NORMAL, FAN_SUM, 2.0},
    [NNLA_INIT_HE_UNIFORM] = {"he_uniform", LAW_UNIFORM, FAN_MODE, 3.0},
    [NNLA_INIT_HE_NORMAL] = {"he_normal", LAW_NORMAL, FAN_MODE, 1.0},
    [NNLA_INIT_LECUN_UNIFORM] = {"lecun_uniform", LAW_UNIFORM, FAN_IN_ONLY, 3.0},
    [NNLA_INIT_LECUN_NORMAL] = {"lecun_normal", LAW_NORMAL, FAN_IN_ONLY, 1.0},
    [NNLA_INIT_ORTHOGONAL] = {"orthogonal", LAW_ORTHOGONAL, FAN_NONE, 1.0},
};

static int kind_valid(nnla_init_kind k) { return (int)k >= 0 && (int)k < NNLA_INIT_KIND_COUNT; }

const char *nnla_init_name(nnla_init_kind kind) { return kind_valid(kind) ? init_table[kind].name : NULL; }

/* Fans and the element count; shape checked. */
static nnla_status fans(size_t ndim, const size_t *shape, size_t *fin, size_t *fout, size_t *count)
{
    if (shape == NULL) return NNLA_ENULL;
    if (ndim < 2) return NNLA_EDIM;
    size_t rf = 1, total = 1;
    for (size_t i = 0; i < ndim; i++) {
        if (shape[i] == 0) return NNLA_EDIM;
        if (!nnla__mul(total, shape[i], &total)) return NNLA_EOVERFLOW;
        if (i >= 2) rf *= shape[i]; /* rf divides total: no overflow */
    }
    *fin = shape[1] * rf;  /* divides total */
    *fout = shape[0] * rf; /* divides total */
    *count = total;
    return NNLA_OK;
}

nnla_status nnla_init_fans(size_t ndim, const size_t *shape, size_t *fan_in, size_t *fan_out)
{
    if (fan_in == NULL || fan_out == NULL) return NNLA_ENULL;
    size_t fi, fo, n;
    NNLA__TRY(fans(ndim, shape, &fi, &fo, &n));
    *fan_in = fi;
    *fan_out = fo;
    return NNLA_OK;
}

nnla_status nnla_init_gain(nnla_act act, double *gain)
{
    if (gain == NULL) return NNLA_ENULL;
    NNLA__TRY(nnla_act_check(act));
    double g;
    switch (act.kind) {
    case NNLA_ACT_IDENTITY:
    case NNLA_ACT_SIGMOID: g = 1.0; break;
    case NNLA_ACT_TANH: g = 5.0 / 3.0; break;
    case NNLA_ACT_RELU: g = sqrt(2.0); break;
    case NNLA_ACT_LEAKY_RELU: g = sqrt(2.0 / (1.0 + act.param * act.param)); break;
    default: return NNLA_EUNSUPPORTED;
    }
    *gain = g;
    return NNLA_OK;
}

/* Everything about a call that does not depend on the memory: kind, gain, mode, shape, scale. */
typedef struct init_plan {
    const struct init_row *row;
    size_t rows, cols, count; /* shape[0], fan_in (= count / rows), elements */
    double scale;
} init_plan;

static nnla_status plan_make(nnla_init_kind kind, double gain, nnla_fan_mode mode, size_t ndim, const size_t *shape,
                             init_plan *p)
{
    if (!kind_valid(kind)) return NNLA_EINVAL;
    if (mode != NNLA_FAN_IN && mode != NNLA_FAN_OUT) return NNLA_EINVAL;
    if (!isfinite(gain) || gain < 0.0) return NNLA_EINVAL;
    size_t fi, fo, n;
    NNLA__TRY(fans(ndim, shape, &fi, &fo, &n));
    p->row = &init_table[kind];
    p->rows = shape[0];
    p->cols = fi;
    p->count = n;
    double fan;
    switch (p->row->fan) {
    case FAN_SUM: fan = (double)fi + (double)fo; break;
    case FAN_MODE: fan = mode == NNLA_FAN_IN ? (double)fi : (double)fo; break;
    case FAN_IN_ONLY: fan = (double)fi; break;
    default: fan = 0.0; break;
    }
    p->scale = p->row->law == LAW_ORTHOGONAL ? gain : gain * sqrt(p->row->c2 / fan);
    /* a huge gain: the scale, or the width 2a of a uniform law, must stay finite */
    if (!isfinite(p->scale) || !isfinite(2.0 * p->scale)) return NNLA_EINVAL;
    return NNLA_OK;
}

nnla_status nnla_init_scale(nnla_init_kind kind, double gain, nnla_fan_mode mode, size_t ndim, const size_t *shape,
                            double *scale)
{
    if (scale == NULL) return NNLA_ENULL;
    init_plan p;
    NNLA__TRY(plan_make(kind, gain, mode, ndim, shape, &p));
    *scale = p.scale;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ orthogonal: workspace */

typedef struct orth_plan {
    size_t p, q;      /* max and min of (rows, cols): the QR is of a p x q column-major matrix */
    lapack_int lwork; /* for dgeqrf and dorgqr */
    size_t bytes;
} orth_plan;

static nnla_status orth_sizes(size_t rows, size_t cols, orth_plan *o)
{
    size_t p = rows > cols ? rows : cols, q = rows > cols ? cols : rows, pq, bound;
    if (!nnla__fits_int(p) || !nnla__mul(p, q, &pq) || !nnla__fits_int(pq)) return NNLA_EOVERFLOW;
    /* LAPACK's own queries compute q * NB (NB <= 64) in int */
    if (!nnla__mul(p + q, 64, &bound) || !nnla__fits_int(bound)) return NNLA_EOVERFLOW;
    double dummy[1] = {0.0}, q1 = 0.0, q2 = 0.0;
    lapack_int info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, (lapack_int)p, (lapack_int)q, dummy, (lapack_int)p,
                                          dummy, &q1, -1);
    if (info != 0) return NNLA_ELAPACK;
    info = LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, (lapack_int)p, (lapack_int)q, (lapack_int)q, dummy, (lapack_int)p,
                               dummy, &q2, -1);
    if (info != 0) return NNLA_ELAPACK;
    double qm = q1 > q2 ? q1 : q2;
    if (!(qm >= 0.0) || qm > (double)INT_MAX) return NNLA_EOVERFLOW;
    o->lwork = (lapack_int)qm < 1 ? 1 : (lapack_int)qm;
    o->p = p;
    o->q = q;
    size_t total = 0, b;
    /* the matrix (p q), tau (q), the signs of R's diagonal (q), LAPACK's work */
    if (!nnla__mul(pq, sizeof(double), &b) || !nnla__ws_piece(b, &total) ||
        !nnla__mul(q, sizeof(double), &b) || !nnla__ws_piece(b, &total) || !nnla__ws_piece(b, &total) ||
        !nnla__mul((size_t)o->lwork, sizeof(double), &b) || !nnla__ws_piece(b, &total))
        return NNLA_EOVERFLOW;
    o->bytes = total;
    return NNLA_OK;
}

nnla_status nnla_init_workspace_size(nnla_init_kind kind, size_t ndim, const size_t *shape, size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    init_plan p;
    NNLA__TRY(plan_make(kind, 1.0, NNLA_FAN_IN, ndim, shape, &p));
    if (p.row->law != LAW_ORTHOGONAL) {
        *bytes = 0;
        return NNLA_OK;
    }
    orth_plan o;
    NNLA__TRY(orth_sizes(p.rows, p.cols, &o));
    *bytes = o.bytes;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ the draws */

/* W (rows x cols, row stride ld) = gain Q or gain Q^T; everything checked, work large enough. */
static nnla_status orth_fill(const init_plan *ip, const orth_plan *op, double *w, size_t ld, nnla_rng *rng,
                             void *work, size_t work_size)
{
    size_t rows = ip->rows, cols = ip->cols, p = op->p, q = op->q;
    nnla__arena ar = {(unsigned char *)work, work_size};
    double *m = nnla__arena_take(&ar, p * q * sizeof(double));
    double *tau = nnla__arena_take(&ar, q * sizeof(double));
    double *sgn = nnla__arena_take(&ar, q * sizeof(double));
    double *wk = nnla__arena_take(&ar, (size_t)op->lwork * sizeof(double));
    if (m == NULL || tau == NULL || sgn == NULL || wk == NULL) return NNLA_EWORKSPACE; /* unreachable */
    /* G (rows x cols) in the row-major order of the draws; M = G (rows >= cols) or G^T, column-major p x q */
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            double z = nnla_rng_normal(rng);
            if (rows >= cols)
                m[i + j * p] = z;
            else
                m[j + i * p] = z;
        }
    lapack_int info;
    NNLA__GATED(info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, (lapack_int)p, (lapack_int)q, m, (lapack_int)p, tau, wk,
                                           op->lwork));
    if (info != 0) return NNLA_ELAPACK;
    for (size_t j = 0; j < q; j++) sgn[j] = m[j + j * p] < 0.0 ? -1.0 : 1.0; /* sign(R_jj), sign(0) = +1 */
    NNLA__GATED(info = LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, (lapack_int)p, (lapack_int)q, (lapack_int)q, m,
                                           (lapack_int)p, tau, wk, op->lwork));
    if (info != 0) return NNLA_ELAPACK;
    /* column j of Q times sign(R_jj) and the gain: W = Q (rows >= cols) or Q^T */
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            w[i * ld + j] = rows >= cols ? ip->scale * sgn[j] * m[i + j * p] : ip->scale * sgn[i] * m[j + i * p];
    return NNLA_OK;
}

/* The whole call once the plan is made: checks of the memory, then the draws on a copy of rng. */
static nnla_status init_run(const init_plan *ip, double *w, size_t ld, size_t wbytes, nnla_rng *rng, void *work,
                            size_t work_size)
{
    if (w == NULL || rng == NULL) return NNLA_ENULL;
    orth_plan op = {0, 0, 0, 0};
    int orth = ip->row->law == LAW_ORTHOGONAL;
    if (orth) {
        NNLA__TRY(orth_sizes(ip->rows, ip->cols, &op));
        if (work == NULL) return NNLA_ENULL;
    }
    if (nnla__overlap(w, wbytes, rng, sizeof *rng) ||
        (orth && (nnla__overlap(w, wbytes, work, work_size) || nnla__overlap(rng, sizeof *rng, work, work_size))))
        return NNLA_EALIAS;
    if (orth && work_size < op.bytes) return NNLA_EWORKSPACE;

    nnla_rng r = *rng; /* committed only on success */
    size_t rows = ip->rows, cols = ip->cols;
    double a = ip->scale;
    if (ip->row->law == LAW_UNIFORM) {
        for (size_t i = 0; i < rows; i++) NNLA__TRY(nnla_rng_fill_uniform(&r, -a, a, w + i * ld, cols));
    } else if (ip->row->law == LAW_NORMAL) {
        for (size_t i = 0; i < rows; i++) NNLA__TRY(nnla_rng_fill_normal(&r, 0.0, a, w + i * ld, cols));
    } else {
        NNLA__TRY(orth_fill(ip, &op, w, ld, &r, work, work_size));
    }
    *rng = r;
    return NNLA_OK;
}

nnla_status nnla_init_tensor(nnla_init_kind kind, double gain, nnla_fan_mode mode, size_t ndim, const size_t *shape,
                             double *w, nnla_rng *rng, void *work, size_t work_size)
{
    init_plan p;
    NNLA__TRY(plan_make(kind, gain, mode, ndim, shape, &p));
    size_t wbytes;
    if (!nnla__mul(p.count, sizeof(double), &wbytes)) return NNLA_EOVERFLOW;
    return init_run(&p, w, p.cols, wbytes, rng, work, work_size);
}

nnla_status nnla_init_mat(nnla_init_kind kind, double gain, nnla_fan_mode mode, nnla_mat w, nnla_rng *rng,
                          void *work, size_t work_size)
{
    NNLA__TRY(nnla_mat_check(nnla_cmat_of(w)));
    size_t shape[2] = {w.rows, w.cols};
    init_plan p;
    NNLA__TRY(plan_make(kind, gain, mode, 2, shape, &p));
    return init_run(&p, w.data, w.ld, nnla__view_bytes(nnla_cmat_of(w)), rng, work, work_size);
}
