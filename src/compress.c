/*
 * Low-rank compression of a network's dense and convolution layers (nnla/compress.h): the weight
 * matrix of a layer, W ~ L R, becomes two layers through nnla_net_replace().
 *
 * Only public APIs are used: the network's layer specs and edits (nnla/net.h) and the low-rank
 * module (one thin nnla_svd() per layer, nnla_lowrank_select() on its values and
 * nnla_lowrank_factors() on its vectors; nnla_lowrank() for the randomized path).
 *
 * Order of work in nnla_net_compress(): every check (rule, options, report length, finite weights
 * and biases), then every layer's SVD, rank and factors, then the edits from the last layer to the
 * first, so an edit never moves a layer still to be edited. An edit can only fail for lack of
 * memory there; the edits already made are then undone, each by replacing the second new layer by
 * the original (from a clone taken before the first edit) and removing the first.
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

nnla_compress_opts nnla_compress_opts_default(void)
{
    nnla_compress_opts o;
    o.randomized = 0;
    o.randomized_min_dim = 0;
    o.oversample = 10;
    o.power_iters = 2;
    o.seed = 0;
    return o;
}

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* The rule alone (kind, value, fixed rank >= 1), with nnla_lowrank()'s statuses. */
static nnla_status rule_check(nnla_rank_rule rule)
{
    switch ((int)rule.kind) {
    case NNLA_RANK_FIXED: return rule.rank == 0 ? NNLA_EDIM : NNLA_OK;
    case NNLA_RANK_ENERGY: return rule.value > 0.0 && rule.value <= 1.0 ? NNLA_OK : NNLA_EINVAL;
    case NNLA_RANK_TOL_FRO:
    case NNLA_RANK_TOL_2: return rule.value >= 0.0 && isfinite(rule.value) ? NNLA_OK : NNLA_EINVAL;
    default: return NNLA_EINVAL;
    }
}

static nnla_status opts_check(const nnla_compress_opts *o)
{
    if (o != NULL && o->randomized && o->oversample == 0) return NNLA_EINVAL;
    return NNLA_OK;
}

static int is_weight_layer(nnla_layer_kind k) { return k == NNLA_LAYER_DENSE || k == NNLA_LAYER_CONV2D; }

/* The layer's weight and bias are finite. */
static int layer_finite(const nnla_layer_spec *s)
{
    return nnla__all_finite(s->weight) && (s->bias == NULL || nnla__all_finite_vec(s->bias, s->weight.rows));
}

/* k (m + n), saturating at SIZE_MAX (a fixed rank may be anything). */
static size_t factor_params(size_t k, size_t m, size_t n)
{
    size_t r;
    return nnla__mul(k, m + n, &r) ? r : SIZE_MAX;
}

/* The report's fields known from the spec alone; the low-rank report "not computed" (NaN). */
static void report_init(nnla_compress_report *rep, const nnla_layer_spec *s, size_t i)
{
    memset(rep, 0, sizeof *rep);
    size_t m = s->weight.rows, n = s->weight.cols;
    rep->layer = i;
    rep->new_layer = i;
    rep->kind = s->kind;
    if (s->kind == NNLA_LAYER_DENSE) {
        rep->ndim = 2;
        rep->shape[0] = m;
        rep->shape[1] = n;
    } else {
        rep->ndim = 4;
        rep->shape[0] = s->conv.out_channels;
        rep->shape[1] = s->conv.in_channels / s->conv.groups;
        rep->shape[2] = s->conv.kernel_h;
        rep->shape[3] = s->conv.kernel_w;
    }
    rep->has_bias = s->bias != NULL;
    rep->params_before = m * n + (s->bias ? m : 0);
    rep->params_after = rep->params_before;
    nnla_lowrank_report *lr = &rep->lowrank;
    lr->m = m;
    lr->n = n;
    lr->params_before = m * n;
    lr->norm_fro = lr->norm_2 = lr->err_fro = lr->err_fro_rel = lr->err_2 = lr->err_2_rel = lr->energy = NAN;
    lr->rule_met = 1;
    lr->exact = 0;
}

/* The factors of one layer: l (m x k) and r (k x n), packed, malloc'd. */
typedef struct factors {
    double *l, *r;
} factors;

static void factors_free(factors *f)
{
    free(f->l);
    free(f->r);
    f->l = f->r = NULL;
}

/*
 * Exact path: one thin SVD, the rank from the spectrum, and the factors unless the rank does not
 * save (when skip_above < the rank: then *f stays empty and *lr is the report of that rank).
 */
static nnla_status factor_exact(nnla_cmat w, nnla_rank_rule rule, size_t skip_above, factors *f,
                                nnla_lowrank_report *lr)
{
    size_t m = w.rows, n = w.cols, r = min_sz(m, n);
    double *u = malloc(m * r * sizeof *u), *s = malloc(r * sizeof *s), *vt = malloc(r * n * sizeof *vt);
    nnla_status st = u && s && vt ? NNLA_OK : NNLA_ENOMEM;
    if (st == NNLA_OK)
        st = nnla_svd_alloc(NNLA_SVD_THIN, w, s, nnla_mat_view(u, m, r, r), nnla_mat_view(vt, r, n, n), NULL);
    nnla_lowrank_report rep;
    if (st == NNLA_OK) st = nnla_lowrank_select(s, m, n, rule, &rep);
    if (st == NNLA_OK && rep.rank <= skip_above) {
        size_t k = rep.rank;
        f->l = malloc(m * k * sizeof *f->l);
        f->r = malloc(k * n * sizeof *f->r);
        if (f->l == NULL || f->r == NULL) st = NNLA_ENOMEM;
        if (st == NNLA_OK)
            st = nnla_lowrank_factors(nnla_cmat_view(u, m, r, r), s, nnla_cmat_view(vt, r, n, n), k,
                                      nnla_mat_view(f->l, m, k, k), nnla_mat_view(f->r, k, n, n));
        if (st != NNLA_OK) factors_free(f);
    }
    if (st == NNLA_OK) *lr = rep;
    free(u);
    free(s);
    free(vt);
    return st;
}

/* Randomized path: nnla_lowrank() of rank K = rule.rank (set by the caller), factors packed. */
static nnla_status factor_randomized(nnla_cmat w, nnla_rank_rule rule, const nnla_compress_opts *o, factors *f,
                                     nnla_lowrank_report *lr)
{
    size_t m = w.rows, n = w.cols, kmax = rule.rank;
    nnla_lowrank_opts lo = {1, o->oversample, o->power_iters, o->seed};
    f->l = malloc(m * kmax * sizeof *f->l);
    f->r = malloc(kmax * n * sizeof *f->r);
    nnla_status st = f->l && f->r ? NNLA_OK : NNLA_ENOMEM;
    nnla_lowrank_report rep;
    if (st == NNLA_OK)
        st = nnla_lowrank_alloc(w, rule, &lo, nnla_mat_view(f->l, m, kmax, kmax), nnla_mat_view(f->r, kmax, n, n),
                                nnla_mat_view(NULL, 0, 0, 0), &rep);
    if (st != NNLA_OK) {
        factors_free(f);
        return st;
    }
    size_t k = rep.rank; /* l's leading k columns, packed in place (r's leading k rows already are) */
    for (size_t i = 1; i < m && k < kmax; i++) memmove(f->l + i * k, f->l + i * kmax, k * sizeof *f->l);
    *lr = rep;
    return NNLA_OK;
}

static int use_randomized(const nnla_compress_opts *o, size_t m, size_t n)
{
    return o != NULL && o->randomized && min_sz(m, n) >= o->randomized_min_dim;
}

/* The two layers replacing a layer of spec s with factors of rank k (pointers into l, r and s). */
static void pair_specs(const nnla_layer_spec *s, size_t k, const factors *f, nnla_layer_spec out[2])
{
    size_t m = s->weight.rows, n = s->weight.cols;
    nnla_act id = nnla_act_default(NNLA_ACT_IDENTITY);
    if (s->kind == NNLA_LAYER_DENSE) {
        out[0] = nnla_layer_dense(nnla_cmat_view(f->r, k, n, n), NULL, id);
        out[1] = nnla_layer_dense(nnla_cmat_view(f->l, m, k, k), s->bias, s->act);
    } else {
        nnla_conv2d_desc d1 = s->conv;
        d1.out_channels = k;
        nnla_conv2d_desc d2 = nnla_conv2d_desc_make(k, m, 1, 1);
        out[0] = nnla_layer_conv2d(&d1, f->r, NULL, id);
        out[1] = nnla_layer_conv2d(&d2, f->l, s->bias, s->act);
    }
    out[0].src = NNLA_NET_PREV;
    out[1].src = NNLA_NET_PREV;
}

static void report_done(nnla_compress_report *rep, const nnla_lowrank_report *lr)
{
    rep->lowrank = *lr;
    rep->action = NNLA_COMPRESS_DONE;
    rep->rank = lr->rank;
    rep->params_after = lr->params_after + (rep->has_bias ? lr->m : 0);
}

nnla_status nnla_net_compress_layer(nnla_net *net, size_t i, nnla_rank_rule rule, const nnla_compress_opts *opts,
                                    nnla_compress_report *rep)
{
    if (net == NULL) return NNLA_ENULL;
    if (i >= nnla_net_num_layers(net)) return NNLA_EINVAL;
    NNLA__TRY(rule_check(rule));
    NNLA__TRY(opts_check(opts));
    nnla_layer_spec s;
    NNLA__TRY(nnla_net_layer_spec(net, i, &s));
    if (!is_weight_layer(s.kind) || (s.kind == NNLA_LAYER_CONV2D && s.conv.groups != 1)) return NNLA_EUNSUPPORTED;
    size_t m = s.weight.rows, n = s.weight.cols, r = min_sz(m, n);
    if (rule.rank > r) return NNLA_EDIM; /* a fixed rank or a cap */
    if (!layer_finite(&s)) return NNLA_ENONFINITE;

    factors f = {NULL, NULL};
    nnla_lowrank_report lr;
    nnla_status st;
    if (use_randomized(opts, m, n)) {
        nnla_rank_rule rr = rule;
        if (rr.rank == 0) rr.rank = r;
        st = factor_randomized(s.weight, rr, opts, &f, &lr);
    } else {
        st = factor_exact(s.weight, rule, r, &f, &lr);
    }
    if (st != NNLA_OK) return st;
    nnla_layer_spec pair[2];
    pair_specs(&s, lr.rank, &f, pair);
    nnla_compress_report out;
    report_init(&out, &s, i);
    st = nnla_net_replace(net, i, pair, 2);
    factors_free(&f);
    if (st != NNLA_OK) return st;
    report_done(&out, &lr);
    if (rep != NULL) *rep = out;
    return NNLA_OK;
}

/* Undo the replacement of original layer j (now layers j, j+1) with its spec from the clone. */
static nnla_status undo_one(nnla_net *net, const nnla_net *orig, size_t j)
{
    nnla_layer_spec s;
    NNLA__TRY(nnla_net_layer_spec(orig, j, &s)); /* its source is < j: unchanged indices */
    NNLA__TRY(nnla_net_replace(net, j + 1, &s, 1));
    return nnla_net_remove(net, j);
}

nnla_status nnla_net_compress(nnla_net *net, nnla_rank_rule rule, const nnla_compress_opts *opts,
                              nnla_compress_report *reports, size_t reports_len, size_t *count)
{
    if (net == NULL) return NNLA_ENULL;
    NNLA__TRY(rule_check(rule));
    NNLA__TRY(opts_check(opts));
    size_t nl = nnla_net_num_layers(net), nc = 0;
    for (size_t i = 0; i < nl; i++) {
        nnla_layer_spec s;
        NNLA__TRY(nnla_net_layer_spec(net, i, &s));
        if (!is_weight_layer(s.kind)) continue;
        nc++;
        if (!layer_finite(&s)) return NNLA_ENONFINITE;
    }
    if (reports != NULL && reports_len < nc) return NNLA_ESHAPE;
    if (nc == 0) {
        if (count != NULL) *count = 0;
        return NNLA_OK;
    }

    nnla_compress_report *rep = calloc(nc, sizeof *rep);
    factors *f = calloc(nc, sizeof *f);
    size_t *done = calloc(nc, sizeof *done); /* indices into rep of the layers edited so far */
    nnla_net *orig = NULL;
    nnla_status st = rep && f && done ? NNLA_OK : NNLA_ENOMEM;
    size_t c = 0, ndone = 0;
    for (size_t i = 0; i < nl && st == NNLA_OK; i++) {
        nnla_layer_spec s;
        nnla_net_layer_spec(net, i, &s);
        if (!is_weight_layer(s.kind)) continue;
        nnla_compress_report *rp = &rep[c];
        factors *fc = &f[c++];
        report_init(rp, &s, i);
        if (s.kind == NNLA_LAYER_CONV2D && s.conv.groups != 1) {
            rp->action = NNLA_COMPRESS_SKIP_GROUPED;
            rp->lowrank.rank = 0;
            rp->lowrank.params_after = 0;
            continue;
        }
        size_t m = s.weight.rows, n = s.weight.cols, r = min_sz(m, n), kb = (m * n - 1) / (m + n);
        nnla_rank_rule rr = rule;
        int randomized = use_randomized(opts, m, n);
        size_t cap = rule.kind == NNLA_RANK_FIXED ? 0 : min_sz(rule.rank ? rule.rank : r, r);
        if (rule.kind != NNLA_RANK_FIXED) rr.rank = rule.rank ? cap : 0;
        /* ranks that cannot save, known without an SVD */
        size_t known = rule.kind == NNLA_RANK_FIXED ? rule.rank : (randomized && kb == 0 ? 1 : 0);
        if (known != 0 && known > kb) {
            rp->action = NNLA_COMPRESS_SKIP_NO_SAVING;
            rp->rank = rp->lowrank.rank = known;
            rp->lowrank.params_after = factor_params(known, m, n);
            continue;
        }
        nnla_lowrank_report lr;
        if (randomized) {
            if (rule.kind != NNLA_RANK_FIXED) rr.rank = min_sz(cap, kb);
            st = factor_randomized(s.weight, rr, opts, fc, &lr);
            if (st != NNLA_OK) break;
            /* not met within the largest saving rank, and no smaller cap of the caller's bound it */
            if (!lr.rule_met && lr.rank == kb && (rule.rank == 0 || rule.rank > kb)) factors_free(fc);
        } else {
            st = factor_exact(s.weight, rr, kb, fc, &lr);
            if (st != NNLA_OK) break;
        }
        rp->lowrank = lr;
        rp->rank = lr.rank;
        if (fc->l == NULL) {
            rp->action = NNLA_COMPRESS_SKIP_NO_SAVING;
            continue;
        }
        report_done(rp, &lr);
        done[ndone++] = c - 1;
    }
    /* the edits, last layer first; a clone to undo them should one fail (only for lack of memory) */
    if (st == NNLA_OK && ndone > 1) st = nnla_net_clone(net, &orig);
    size_t applied = 0;
    for (size_t t = ndone; t-- > 0 && st == NNLA_OK;) {
        nnla_compress_report *rp = &rep[done[t]];
        nnla_layer_spec s, pair[2];
        nnla_net_layer_spec(net, rp->layer, &s);
        pair_specs(&s, rp->rank, &f[done[t]], pair);
        st = nnla_net_replace(net, rp->layer, pair, 2);
        if (st == NNLA_OK) applied++;
    }
    if (st != NNLA_OK && applied > 0) { /* undo, the last edit (lowest layer) first */
        for (size_t t = ndone - applied; t < ndone; t++)
            if (undo_one(net, orig, rep[done[t]].layer) != NNLA_OK) break;
    }
    if (st == NNLA_OK) {
        size_t shift = 0;
        for (size_t t = 0; t < nc; t++) {
            rep[t].new_layer = rep[t].layer + shift;
            if (rep[t].action == NNLA_COMPRESS_DONE) shift++;
        }
        if (reports != NULL) memcpy(reports, rep, nc * sizeof *rep);
        if (count != NULL) *count = nc;
    }
    for (size_t t = 0; f != NULL && t < nc; t++) factors_free(&f[t]);
    nnla_net_free(orig);
    free(rep);
    free(f);
    free(done);
    return st;
}
