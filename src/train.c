#define _POSIX_C_SOURCE 200809L /* clock_gettime */
/*
 * Training: a trainer owns a training context, the gradient block, the optimizer's state and the
 * buffers of one mini-batch, all allocated by nnla_trainer_create(); a step is forward (training
 * form), loss, backward, clipping, schedule, optimizer, BatchNorm statistics, and allocates nothing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

struct nnla_trainer {
    nnla_net *net;
    nnla_train_config cfg;
    size_t nparams, nin, nout; /* parameters; per-sample input and output sizes */
    void *ctx_mem, *eval_mem, *state;
    nnla_net_ctx *ctx, *eval;
    double *grad, *logits, *dlogits, *xbuf, *tbuf;
    size_t *lbuf;
    size_t steps;
    nnla_rng rng; /* shuffling */
    /* spectral regularization: the dense and conv layers, their warm-start vectors, sigmas */
    size_t nreg, *reg_layer;
    double **reg_u, **reg_v, *reg_sigma;
    void *reg_work;
    size_t reg_work_size;
    int reg_started;
};

nnla_train_config nnla_train_config_default(void)
{
    nnla_train_config c;
    memset(&c, 0, sizeof c);
    c.loss = NNLA_LOSS_CROSS_ENTROPY;
    c.label_smoothing = 0.0;
    c.optim = nnla_optim_adam_default();
    c.lr = nnla_lr_constant(NNLA_ADAM_DEFAULT_LR);
    c.batch = 32;
    c.clip_norm = 0.0;
    c.seed = 0;
    c.shuffle = 1;
    c.reg = NNLA_REG_NONE;
    c.reg_value = 1.0;
    c.reg_iters = 1;
    return c;
}

void nnla_trainer_free(nnla_trainer *tr)
{
    if (tr == NULL) return;
    free(tr->ctx_mem);
    free(tr->eval_mem);
    free(tr->state);
    free(tr->grad);
    free(tr->logits);
    free(tr->dlogits);
    free(tr->xbuf);
    free(tr->tbuf);
    free(tr->lbuf);
    for (size_t i = 0; i < tr->nreg; i++) {
        if (tr->reg_u) free(tr->reg_u[i]);
        if (tr->reg_v) free(tr->reg_v[i]);
    }
    free(tr->reg_u);
    free(tr->reg_v);
    free(tr->reg_layer);
    free(tr->reg_sigma);
    free(tr->reg_work);
    free(tr);
}

static size_t shape3(const size_t s[3]) { return s[0] * s[1] * s[2]; }

/* The regularized layers (dense and conv2d), one u and v each, and one workspace for all. */
static nnla_status reg_setup(nnla_trainer *t)
{
    const size_t n = nnla_net_num_layers(t->net);
    size_t count = 0, pw = 0;
    for (size_t i = 0; i < n; i++) {
        nnla_mat w;
        if (nnla_net_weight_matrix(t->net, i, &w) == NNLA_OK) count++;
    }
    if (count == 0) return NNLA_EINVAL;
    t->reg_layer = calloc(count, sizeof *t->reg_layer);
    t->reg_u = calloc(count, sizeof *t->reg_u);
    t->reg_v = calloc(count, sizeof *t->reg_v);
    t->reg_sigma = calloc(count, sizeof *t->reg_sigma);
    if (t->reg_layer == NULL || t->reg_u == NULL || t->reg_v == NULL || t->reg_sigma == NULL) return NNLA_ENOMEM;
    t->nreg = count;
    for (size_t i = 0, k = 0; i < n; i++) {
        nnla_mat w;
        if (nnla_net_weight_matrix(t->net, i, &w) != NNLA_OK) continue;
        t->reg_layer[k] = i;
        t->reg_u[k] = malloc(w.rows * sizeof(double));
        t->reg_v[k] = malloc(w.cols * sizeof(double));
        if (t->reg_u[k] == NULL || t->reg_v[k] == NULL) return NNLA_ENOMEM;
        size_t b;
        NNLA__TRY(nnla_spectral_norm_power_workspace_size(w.rows, w.cols, &b));
        if (b > pw) pw = b;
        k++;
    }
    size_t nw;
    NNLA__TRY(nnla_net_spectral_workspace_size(t->net, &nw));
    if (pw > nw) nw = pw;
    t->reg_work = malloc(nw ? nw : 1);
    if (t->reg_work == NULL) return NNLA_ENOMEM;
    t->reg_work_size = nw;
    return NNLA_OK;
}

/* sigma_k, u_k, v_k of regularized layer k by warm-started power iteration (cfg.reg_iters). */
static nnla_status reg_power(nnla_trainer *t, size_t k, nnla_mat w)
{
    nnla_power_opts o = nnla_power_opts_default();
    o.tol = 0.0; /* a fixed number of iterations per step, as PyTorch's spectral_norm */
    o.max_iter = t->cfg.reg_iters;
    o.warm_start = t->reg_started;
    o.seed = t->cfg.seed + k;
    nnla_power_info info;
    nnla_status st = nnla_spectral_norm_power(nnla_cmat_of(w), &o, &t->reg_sigma[k], t->reg_u[k], t->reg_v[k], &info,
                                              t->reg_work, t->reg_work_size);
    return st == NNLA_ENOCONV ? NNLA_OK : st; /* tol 0 claims nothing: the estimate is what we use */
}

/* The penalty c sum sigma_l^2: its value, and 2 c sigma_l u_l v_l^T added to the gradient. */
static nnla_status reg_penalty(nnla_trainer *t, double *value)
{
    double sum = 0.0;
    for (size_t k = 0; k < t->nreg; k++) {
        nnla_mat w;
        NNLA__TRY(nnla_net_weight_matrix(t->net, t->reg_layer[k], &w));
        NNLA__TRY(reg_power(t, k, w));
        nnla_tensor wt;
        NNLA__TRY(nnla_net_param(t->net, t->reg_layer[k], NNLA_PARAM_WEIGHT, &wt));
        const double s = t->reg_sigma[k], f = 2.0 * t->cfg.reg_value * s;
        double *g = t->grad + wt.offset;
        for (size_t r = 0; r < w.rows; r++)
            for (size_t c = 0; c < w.cols; c++) g[r * w.cols + c] += f * t->reg_u[k][r] * t->reg_v[k][c];
        sum += s * s;
    }
    t->reg_started = 1;
    *value = t->cfg.reg_value * sum;
    return NNLA_OK;
}

/* After the optimizer: project (sigma <= c) or clip every regularized layer. */
static nnla_status reg_project(nnla_trainer *t)
{
    for (size_t k = 0; k < t->nreg; k++) {
        nnla_mat w;
        NNLA__TRY(nnla_net_weight_matrix(t->net, t->reg_layer[k], &w));
        if (t->cfg.reg == NNLA_REG_SV_CLIP) {
            size_t clipped;
            NNLA__TRY(nnla_net_spectral_clip(t->net, t->reg_layer[k], t->cfg.reg_value, &clipped, t->reg_work,
                                             t->reg_work_size));
            NNLA__TRY(nnla_spectral_norm(nnla_cmat_of(w), &t->reg_sigma[k], t->reg_work, t->reg_work_size));
            continue;
        }
        NNLA__TRY(reg_power(t, k, w));
        const double s = t->reg_sigma[k], c = t->cfg.reg_value;
        if (s > c) {
            const double f = c / s;
            for (size_t r = 0; r < w.rows; r++)
                for (size_t j = 0; j < w.cols; j++) w.data[r * w.ld + j] *= f;
        }
    }
    t->reg_started = 1;
    return NNLA_OK;
}

nnla_status nnla_trainer_create(nnla_net *net, const nnla_train_config *cfg, nnla_trainer **out)
{
    if (net == NULL || cfg == NULL || out == NULL) return NNLA_ENULL;
    if ((unsigned)cfg->loss > (unsigned)NNLA_LOSS_BCE_LOGITS) return NNLA_EINVAL;
    if (!(cfg->label_smoothing >= 0.0 && cfg->label_smoothing < 1.0)) return NNLA_EINVAL;
    if (!(isfinite(cfg->clip_norm) && cfg->clip_norm >= 0.0)) return NNLA_EINVAL;
    if (cfg->shuffle != 0 && cfg->shuffle != 1) return NNLA_EINVAL;
    if ((unsigned)cfg->reg > (unsigned)NNLA_REG_SPECTRAL_PENALTY) return NNLA_EINVAL;
    if (cfg->reg != NNLA_REG_NONE && (!(isfinite(cfg->reg_value) && cfg->reg_value > 0.0) || cfg->reg_iters == 0))
        return NNLA_EINVAL;
    NNLA__TRY(nnla_optim_check(&cfg->optim));
    NNLA__TRY(nnla_lr_check(&cfg->lr));
    if (cfg->batch == 0 || nnla_net_num_layers(net) == 0) return NNLA_EDIM;
    size_t np = nnla_net_num_params(net);
    if (np == 0) return NNLA_EDIM;
    size_t in[3], outs[3], ctx_bytes, eval_bytes, state_bytes, nin, nout;
    NNLA__TRY(nnla_net_input_shape(net, in));
    NNLA__TRY(nnla_net_output_shape(net, outs));
    nin = shape3(in);
    nout = shape3(outs);
    if (!nnla__fits_int(cfg->batch) || !nnla__fits_int(nout)) return NNLA_EOVERFLOW;
    size_t bx, by;
    if (!nnla__mul(cfg->batch, nin, &bx) || !nnla__mul(bx, sizeof(double), &bx) || !nnla__mul(cfg->batch, nout, &by) ||
        !nnla__mul(by, sizeof(double), &by))
        return NNLA_EOVERFLOW;
    NNLA__TRY(nnla_net_ctx_size(net, cfg->batch, NNLA_CTX_TRAIN, &ctx_bytes, NULL));
    NNLA__TRY(nnla_net_ctx_size(net, cfg->batch, 0, &eval_bytes, NULL));
    NNLA__TRY(nnla_optim_state_size(&cfg->optim, np, &state_bytes));
    nnla_trainer *t = calloc(1, sizeof *t);
    if (t == NULL) return NNLA_ENOMEM;
    t->net = net;
    t->cfg = *cfg;
    t->nparams = np;
    t->nin = nin;
    t->nout = nout;
    t->ctx_mem = malloc(ctx_bytes);
    t->eval_mem = malloc(eval_bytes);
    t->state = aligned_alloc(64, (state_bytes + 63) / 64 * 64);
    t->grad = malloc(np * sizeof(double));
    t->logits = malloc(by);
    t->dlogits = malloc(by);
    t->xbuf = malloc(bx);
    t->tbuf = malloc(by);
    t->lbuf = malloc(cfg->batch * sizeof(size_t));
    nnla_status st = NNLA_OK;
    if (t->ctx_mem == NULL || t->eval_mem == NULL || t->state == NULL || t->grad == NULL || t->logits == NULL ||
        t->dlogits == NULL || t->xbuf == NULL || t->tbuf == NULL || t->lbuf == NULL)
        st = NNLA_ENOMEM;
    if (st == NNLA_OK) st = nnla_net_ctx_init(net, cfg->batch, NNLA_CTX_TRAIN, t->ctx_mem, ctx_bytes, &t->ctx);
    if (st == NNLA_OK) st = nnla_net_ctx_init(net, cfg->batch, 0, t->eval_mem, eval_bytes, &t->eval);
    if (st == NNLA_OK) st = nnla_net_ctx_seed(t->ctx, cfg->seed);
    if (st == NNLA_OK) st = nnla_optim_state_init(&cfg->optim, np, t->state, state_bytes);
    if (st == NNLA_OK) st = nnla_rng_seed(&t->rng, cfg->seed ^ 0x5851f42d4c957f2dULL);
    if (st == NNLA_OK && cfg->reg != NNLA_REG_NONE) st = reg_setup(t);
    if (st != NNLA_OK) {
        nnla_trainer_free(t);
        return st;
    }
    *out = t;
    return NNLA_OK;
}

size_t nnla_trainer_steps(const nnla_trainer *tr) { return tr ? tr->steps : 0; }

nnla_status nnla_trainer_sigmas(const nnla_trainer *tr, double *sigmas, size_t n, size_t *count)
{
    if (tr == NULL || count == NULL || (sigmas == NULL && n > 0)) return NNLA_ENULL;
    if (tr->nreg == 0) return NNLA_EINVAL;
    if (n < tr->nreg) return NNLA_ESHAPE;
    memcpy(sigmas, tr->reg_sigma, tr->nreg * sizeof *sigmas);
    *count = tr->nreg;
    return NNLA_OK;
}

/* The loss and its gradient (when grad is not NULL) on batch outputs; labels or targets by kind. */
static nnla_status loss_of(const nnla_trainer *tr, const double *y, const size_t *labels, const double *targets,
                           size_t batch, double *loss, double *grad, size_t *correct)
{
    const size_t n = tr->nout;
    nnla_cmat yv = nnla_cmat_view(y, batch, n, n);
    nnla_mat gv = nnla_mat_view(grad, batch, n, n);
    *correct = 0;
    switch (tr->cfg.loss) {
    case NNLA_LOSS_CROSS_ENTROPY:
        if (labels != NULL)
            return nnla_loss_cross_entropy(yv, labels, tr->cfg.label_smoothing, loss, gv, correct);
        if (targets == NULL) return NNLA_EINVAL;
        return nnla_loss_cross_entropy_prob(yv, nnla_cmat_view(targets, batch, n, n), tr->cfg.label_smoothing, loss, gv,
                                            correct);
    case NNLA_LOSS_MSE:
        if (targets == NULL) return NNLA_EINVAL;
        return nnla_loss_mse(yv, nnla_cmat_view(targets, batch, n, n), loss, gv);
    case NNLA_LOSS_BCE_LOGITS:
        if (targets == NULL) return NNLA_EINVAL;
        return nnla_loss_bce_logits(yv, nnla_cmat_view(targets, batch, n, n), loss, gv);
    }
    return NNLA_EINVAL;
}

nnla_status nnla_trainer_step(nnla_trainer *tr, const double *x, const size_t *labels, const double *targets,
                              size_t batch, double *loss, size_t *correct)
{
    if (tr == NULL || x == NULL || (labels == NULL && targets == NULL)) return NNLA_ENULL;
    if (batch == 0 || batch > tr->cfg.batch) return NNLA_EDIM;
    if (tr->cfg.loss != NNLA_LOSS_CROSS_ENTROPY && targets == NULL) return NNLA_EINVAL;
    if (tr->cfg.loss == NNLA_LOSS_CROSS_ENTROPY && labels != NULL) /* before anything runs */
        for (size_t i = 0; i < batch; i++)
            if (labels[i] >= tr->nout) return NNLA_EINVAL;
    nnla_net *net = tr->net;
    const size_t last = nnla_net_num_layers(net) - 1;
    double l = 0.0, lr = 0.0;
    size_t c = 0;
    NNLA__TRY(nnla_net_run(net, tr->ctx, batch, 0, last, x, tr->logits));
    /* the loss checks the labels before writing anything: nothing has changed if it refuses them */
    NNLA__TRY(loss_of(tr, tr->logits, labels, targets, batch, &l, tr->dlogits, &c));
    NNLA__TRY(nnla_net_backward(net, tr->ctx, batch, tr->dlogits, tr->grad, NULL));
    if (tr->cfg.reg == NNLA_REG_SPECTRAL_PENALTY) {
        double pen;
        NNLA__TRY(reg_penalty(tr, &pen));
        l += pen;
    }
    if (tr->cfg.clip_norm > 0.0) NNLA__TRY(nnla_clip_grad_norm(tr->grad, tr->nparams, tr->cfg.clip_norm, NULL));
    NNLA__TRY(nnla_lr_at(&tr->cfg.lr, tr->steps, &lr));
    double *params;
    size_t np;
    NNLA__TRY(nnla_net_params(net, &params, &np));
    NNLA__TRY(nnla_optim_step(&tr->cfg.optim, lr, params, tr->grad, np, tr->state));
    NNLA__TRY(nnla_net_update_stats(net, tr->ctx));
    if (tr->cfg.reg == NNLA_REG_SPECTRAL_NORM || tr->cfg.reg == NNLA_REG_SV_CLIP) NNLA__TRY(reg_project(tr));
    tr->steps++;
    if (loss) *loss = l;
    if (correct) *correct = c;
    return NNLA_OK;
}

nnla_status nnla_trainer_evaluate(nnla_trainer *tr, const nnla_dataset *d, double *loss, double *accuracy)
{
    if (tr == NULL || d == NULL || d->x == NULL) return NNLA_ENULL;
    if (d->n == 0) return NNLA_EDIM;
    if (d->labels == NULL && d->targets == NULL) return NNLA_EINVAL;
    if (tr->cfg.loss != NNLA_LOSS_CROSS_ENTROPY && d->targets == NULL) return NNLA_EINVAL;
    const size_t last = nnla_net_num_layers(tr->net) - 1, b = tr->cfg.batch;
    long double sum = 0.0;
    size_t right = 0;
    for (size_t i = 0; i < d->n; i += b) {
        size_t nb = d->n - i < b ? d->n - i : b, c = 0;
        double l;
        NNLA__TRY(nnla_net_run(tr->net, tr->eval, nb, 0, last, d->x + i * tr->nin, tr->logits));
        NNLA__TRY(loss_of(tr, tr->logits, d->labels ? d->labels + i : NULL, d->targets ? d->targets + i * tr->nout : NULL,
                          nb, &l, NULL, &c));
        sum += (long double)l * (long double)nb;
        right += c;
    }
    if (loss) *loss = (double)(sum / (long double)d->n);
    if (accuracy) *accuracy = tr->cfg.loss == NNLA_LOSS_CROSS_ENTROPY ? (double)right / (double)d->n : NAN;
    return NNLA_OK;
}

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

nnla_status nnla_train(nnla_trainer *tr, const nnla_dataset *train, const nnla_dataset *val, size_t epochs,
                       nnla_epoch_fn fn, void *user, nnla_epoch *last)
{
    if (tr == NULL || train == NULL || train->x == NULL) return NNLA_ENULL;
    if (epochs == 0 || train->n == 0) return NNLA_EDIM;
    if (train->labels == NULL && train->targets == NULL) return NNLA_EINVAL;
    if (val != NULL && (val->x == NULL || val->n == 0 || (val->labels == NULL && val->targets == NULL)))
        return NNLA_EINVAL;
    const size_t n = train->n, b = tr->cfg.batch, nin = tr->nin, nout = tr->nout;
    size_t *order = malloc(n * sizeof *order);
    if (order == NULL) return NNLA_ENOMEM;
    for (size_t i = 0; i < n; i++) order[i] = i;
    nnla_status st = NNLA_OK;
    nnla_epoch e;
    memset(&e, 0, sizeof e);
    for (size_t ep = 1; ep <= epochs && st == NNLA_OK; ep++) {
        double t0 = seconds_now();
        if (tr->cfg.shuffle) nnla_rng_shuffle(&tr->rng, order, n);
        long double sum = 0.0;
        size_t right = 0;
        for (size_t i = 0; i < n && st == NNLA_OK; i += b) {
            size_t nb = n - i < b ? n - i : b, c = 0;
            /* gather the mini-batch (contiguous when not shuffled: no copy) */
            const double *xb = train->x + order[i] * nin, *tb = NULL;
            const size_t *lb = NULL;
            int contiguous = !tr->cfg.shuffle;
            if (!contiguous) {
                for (size_t k = 0; k < nb; k++) {
                    size_t s = order[i + k];
                    memcpy(tr->xbuf + k * nin, train->x + s * nin, nin * sizeof(double));
                    if (train->labels) tr->lbuf[k] = train->labels[s];
                    else memcpy(tr->tbuf + k * nout, train->targets + s * nout, nout * sizeof(double));
                }
                xb = tr->xbuf;
                lb = train->labels ? tr->lbuf : NULL;
                tb = train->labels ? NULL : tr->tbuf;
            } else {
                lb = train->labels ? train->labels + i : NULL;
                tb = train->labels ? NULL : train->targets + i * nout;
            }
            double l = 0.0;
            st = nnla_trainer_step(tr, xb, lb, tb, nb, &l, &c);
            sum += (long double)l * (long double)nb;
            right += c;
        }
        if (st != NNLA_OK) break;
        e.epoch = ep;
        e.steps = tr->steps;
        e.loss = (double)(sum / (long double)n);
        e.accuracy = tr->cfg.loss == NNLA_LOSS_CROSS_ENTROPY ? (double)right / (double)n : NAN;
        e.val_loss = e.val_accuracy = NAN;
        if (val != NULL) st = nnla_trainer_evaluate(tr, val, &e.val_loss, &e.val_accuracy);
        (void)nnla_lr_at(&tr->cfg.lr, tr->steps ? tr->steps - 1 : 0, &e.lr);
        e.seconds = seconds_now() - t0;
        if (st == NNLA_OK && fn != NULL && fn(&e, user)) break;
    }
    free(order);
    if (st == NNLA_OK && last != NULL) *last = e;
    return st;
}
