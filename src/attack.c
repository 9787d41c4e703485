/*
 * Adversarial examples: the input gradient of the cross-entropy through a GRAD context (inference
 * form), FGSM, PGD in the L-infinity ball, accuracy under attack. The workspace holds the context,
 * the logits and their gradient, and PGD's gradient buffer.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

nnla_attack_config nnla_attack_config_make(double eps, double lo, double hi)
{
    nnla_attack_config c;
    memset(&c, 0, sizeof c);
    c.eps = eps;
    c.steps = 10;
    c.step = 2.5 * eps / 10.0;
    c.random_start = 1;
    c.seed = 0;
    c.lo = lo;
    c.hi = hi;
    return c;
}

typedef struct attack_ws {
    nnla_net_ctx *ctx;
    double *logits, *dlogits, *grad, *adv;
    size_t nin, nout;
} attack_ws;

static size_t size3(const size_t s[3]) { return s[0] * s[1] * s[2]; }

/* The workspace's layout; with mem == NULL only the size. */
static nnla_status layout(const nnla_net *net, size_t batch, void *mem, size_t bytes, attack_ws *w, size_t *need)
{
    if (batch == 0 || nnla_net_num_layers(net) == 0) return NNLA_EDIM;
    size_t in[3], out[3], cb, total = 0, e1, e2;
    NNLA__TRY(nnla_net_input_shape(net, in));
    NNLA__TRY(nnla_net_output_shape(net, out));
    NNLA__TRY(nnla_net_ctx_size(net, batch, NNLA_CTX_GRAD, &cb, NULL));
    if (!nnla__mul(batch, size3(out), &e1) || !nnla__mul(e1, sizeof(double), &e1) || !nnla__mul(batch, size3(in), &e2) ||
        !nnla__mul(e2, sizeof(double), &e2) || !nnla__ws_piece(cb, &total) || !nnla__ws_piece(e1, &total) ||
        !nnla__ws_piece(e1, &total) || !nnla__ws_piece(e2, &total) || !nnla__ws_piece(e2, &total))
        return NNLA_EOVERFLOW;
    if (!nnla__fits_int(size3(out))) return NNLA_EOVERFLOW;
    if (need) *need = total;
    if (mem == NULL) return NNLA_OK;
    if (bytes < total) return NNLA_EWORKSPACE;
    nnla__arena a = {(unsigned char *)mem, bytes};
    void *cm = nnla__arena_take(&a, cb);
    w->logits = nnla__arena_take(&a, e1);
    w->dlogits = nnla__arena_take(&a, e1);
    w->grad = nnla__arena_take(&a, e2);
    w->adv = nnla__arena_take(&a, e2);
    if (cm == NULL || w->logits == NULL || w->dlogits == NULL || w->grad == NULL || w->adv == NULL)
        return NNLA_EINTERNAL;
    NNLA__TRY(nnla_net_ctx_init(net, batch, NNLA_CTX_GRAD, cm, cb, &w->ctx));
    w->nin = size3(in);
    w->nout = size3(out);
    return NNLA_OK;
}

nnla_status nnla_attack_workspace_size(const nnla_net *net, size_t batch, size_t *bytes)
{
    if (net == NULL || bytes == NULL) return NNLA_ENULL;
    return layout(net, batch, NULL, 0, NULL, bytes);
}

static int labels_ok(const size_t *labels, size_t n, size_t classes)
{
    for (size_t i = 0; i < n; i++)
        if (labels[i] >= classes) return 0;
    return 1;
}

static int config_ok(const nnla_attack_config *c, int pgd)
{
    if (!(isfinite(c->eps) && c->eps >= 0.0) || !isfinite(c->lo) || !isfinite(c->hi) || !(c->lo <= c->hi)) return 0;
    if (pgd && (!(isfinite(c->step) && c->step >= 0.0) || c->steps == 0 || (c->random_start != 0 && c->random_start != 1)))
        return 0;
    return 1;
}

/* The loss and d loss / d x of a batch into g (the workspace is laid out). */
static nnla_status input_grad(const nnla_net *net, attack_ws *w, size_t batch, const double *x, const size_t *labels,
                              double *loss, double *g, size_t *correct)
{
    const size_t n = w->nout;
    NNLA__TRY(nnla_net_run(net, w->ctx, batch, 0, nnla_net_num_layers(net) - 1, x, w->logits));
    double l;
    NNLA__TRY(nnla_loss_cross_entropy(nnla_cmat_view(w->logits, batch, n, n), labels, 0.0, &l,
                                      nnla_mat_view(w->dlogits, batch, n, n), correct));
    NNLA__TRY(nnla_net_backward(net, w->ctx, batch, w->dlogits, NULL, g));
    if (loss) *loss = l;
    return NNLA_OK;
}

/* The checks every entry point shares; lays the workspace out. */
static nnla_status prepare(const nnla_net *net, size_t batch, const double *x, const size_t *labels, const double *out,
                           void *work, size_t work_size, attack_ws *w)
{
    if (net == NULL || x == NULL || labels == NULL || out == NULL || work == NULL) return NNLA_ENULL;
    size_t need;
    NNLA__TRY(layout(net, batch, NULL, 0, NULL, &need));
    if (work_size < need) return NNLA_EWORKSPACE;
    size_t in[3], o[3];
    NNLA__TRY(nnla_net_input_shape(net, in));
    NNLA__TRY(nnla_net_output_shape(net, o));
    if (!labels_ok(labels, batch, size3(o))) return NNLA_EINVAL;
    size_t xb = batch * size3(in) * sizeof(double);
    if (nnla__overlap(out, xb, x, xb) || nnla__overlap(out, xb, work, work_size) || nnla__overlap(x, xb, work, work_size))
        return NNLA_EALIAS;
    return layout(net, batch, work, work_size, w, NULL);
}

nnla_status nnla_input_gradient(const nnla_net *net, size_t batch, const double *x, const size_t *labels, double *loss,
                                double *grad, void *work, size_t work_size)
{
    attack_ws w;
    NNLA__TRY(prepare(net, batch, x, labels, grad, work, work_size, &w));
    return input_grad(net, &w, batch, x, labels, loss, grad, NULL);
}

static double sgn(double v) { return v > 0.0 ? 1.0 : v < 0.0 ? -1.0 : 0.0; }

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

nnla_status nnla_fgsm(const nnla_net *net, size_t batch, const double *x, const size_t *labels,
                      const nnla_attack_config *cfg, double *x_adv, void *work, size_t work_size)
{
    if (cfg == NULL) return NNLA_ENULL;
    if (!config_ok(cfg, 0)) return NNLA_EINVAL;
    attack_ws w;
    NNLA__TRY(prepare(net, batch, x, labels, x_adv, work, work_size, &w));
    NNLA__TRY(input_grad(net, &w, batch, x, labels, NULL, w.grad, NULL));
    const size_t n = batch * w.nin;
    for (size_t i = 0; i < n; i++) x_adv[i] = clampd(x[i] + cfg->eps * sgn(w.grad[i]), cfg->lo, cfg->hi);
    return NNLA_OK;
}

/* PGD on a laid-out workspace. */
static nnla_status pgd(const nnla_net *net, attack_ws *w, size_t batch, const double *x, const size_t *labels,
                       const nnla_attack_config *cfg, double *xa)
{
    const size_t n = batch * w->nin;
    const double eps = cfg->eps;
    if (cfg->random_start) {
        nnla_rng rng;
        nnla_rng_seed(&rng, cfg->seed);
        for (size_t i = 0; i < n; i++)
            xa[i] = clampd(x[i] + eps * (2.0 * nnla_rng_uniform(&rng) - 1.0), cfg->lo, cfg->hi);
    } else {
        memcpy(xa, x, n * sizeof *xa);
    }
    for (size_t t = 0; t < cfg->steps; t++) {
        NNLA__TRY(input_grad(net, w, batch, xa, labels, NULL, w->grad, NULL));
        for (size_t i = 0; i < n; i++) {
            double v = xa[i] + cfg->step * sgn(w->grad[i]);
            v = clampd(v, x[i] - eps, x[i] + eps); /* the ball around x */
            xa[i] = clampd(v, cfg->lo, cfg->hi);    /* the valid range */
        }
    }
    return NNLA_OK;
}

nnla_status nnla_pgd(const nnla_net *net, size_t batch, const double *x, const size_t *labels,
                     const nnla_attack_config *cfg, double *x_adv, void *work, size_t work_size)
{
    if (cfg == NULL) return NNLA_ENULL;
    if (!config_ok(cfg, 1)) return NNLA_EINVAL;
    attack_ws w;
    NNLA__TRY(prepare(net, batch, x, labels, x_adv, work, work_size, &w));
    return pgd(net, &w, batch, x, labels, cfg, x_adv);
}

nnla_status nnla_attack_accuracy(const nnla_net *net, const double *x, const size_t *labels, size_t n,
                                 nnla_attack_kind kind, const nnla_attack_config *cfg, size_t batch, double *accuracy,
                                 void *work, size_t work_size)
{
    if (net == NULL || x == NULL || labels == NULL || accuracy == NULL || work == NULL) return NNLA_ENULL;
    if ((unsigned)kind > (unsigned)NNLA_ATTACK_PGD) return NNLA_EINVAL;
    if (kind != NNLA_ATTACK_NONE && (cfg == NULL || !config_ok(cfg, kind == NNLA_ATTACK_PGD)))
        return cfg == NULL ? NNLA_ENULL : NNLA_EINVAL;
    if (n == 0 || batch == 0) return NNLA_EDIM;
    size_t need;
    NNLA__TRY(layout(net, batch, NULL, 0, NULL, &need));
    if (work_size < need) return NNLA_EWORKSPACE;
    size_t in[3], o[3];
    NNLA__TRY(nnla_net_input_shape(net, in));
    NNLA__TRY(nnla_net_output_shape(net, o));
    if (!labels_ok(labels, n, size3(o))) return NNLA_EINVAL;
    if (nnla__overlap(x, n * size3(in) * sizeof(double), work, work_size)) return NNLA_EALIAS;
    attack_ws w;
    NNLA__TRY(layout(net, batch, work, work_size, &w, NULL));
    size_t right = 0;
    for (size_t i = 0; i < n; i += batch) {
        size_t nb = n - i < batch ? n - i : batch, c = 0;
        const double *xb = x + i * w.nin;
        const size_t *lb = labels + i;
        if (kind == NNLA_ATTACK_FGSM) {
            NNLA__TRY(input_grad(net, &w, nb, xb, lb, NULL, w.grad, NULL));
            for (size_t k = 0; k < nb * w.nin; k++) w.adv[k] = clampd(xb[k] + cfg->eps * sgn(w.grad[k]), cfg->lo, cfg->hi);
            xb = w.adv;
        } else if (kind == NNLA_ATTACK_PGD) {
            NNLA__TRY(pgd(net, &w, nb, xb, lb, cfg, w.adv));
            xb = w.adv;
        }
        NNLA__TRY(nnla_net_run(net, w.ctx, nb, 0, nnla_net_num_layers(net) - 1, xb, w.logits));
        for (size_t k = 0; k < nb; k++) {
            size_t best = 0;
            for (size_t j = 1; j < w.nout; j++)
                if (w.logits[k * w.nout + j] > w.logits[k * w.nout + best]) best = j;
            c += best == lb[k];
        }
        right += c;
    }
    *accuracy = (double)right / (double)n;
    return NNLA_OK;
}
