/*
 * training: the Adam optimizer with global-norm gradient clipping, the Huber loss, and the
 * training loop (shuffled mini-batches, plateau learning-rate reduction, early stopping).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model_int.h"

struct sao_model_adam {
    sao_model_adam_config config;
    size_t count;
    uint64_t step;
    float *m; /* first moment */
    float *v; /* second moment */
};

void sao_model_adam_config_init(sao_model_adam_config *cfg)
{
    cfg->learning_rate = 1e-3f;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->eps = 1e-8f;
    cfg->weight_decay = 0.0f;
    cfg->clip_norm = 0.0f;
}

int sao_model_adam_new(sao_model_adam **out, size_t count, const sao_model_adam_config *cfg)
{
    if (!(cfg->learning_rate > 0.0f) || !(cfg->beta1 >= 0.0f && cfg->beta1 < 1.0f) ||
        !(cfg->beta2 >= 0.0f && cfg->beta2 < 1.0f) || !(cfg->eps > 0.0f) ||
        !(cfg->weight_decay >= 0.0f) || !(cfg->clip_norm >= 0.0f) || count == 0)
        return sao_error_set(SAO_EINVAL,
                             "adam: invalid configuration (lr %g, betas %g %g, "
                             "eps %g, weight decay %g, clip %g)",
                             (double)cfg->learning_rate, (double)cfg->beta1, (double)cfg->beta2,
                             (double)cfg->eps, (double)cfg->weight_decay, (double)cfg->clip_norm);
    sao_model_adam *opt = sao_calloc(1, sizeof(*opt));
    opt->config = *cfg;
    opt->count = count;
    opt->m = sao_calloc(count, sizeof(float));
    opt->v = sao_calloc(count, sizeof(float));
    *out = opt;
    return 0;
}

void sao_model_adam_free(sao_model_adam *opt)
{
    if (!opt) return;
    sao_free(opt->m);
    sao_free(opt->v);
    sao_free(opt);
}

void sao_model_adam_set_learning_rate(sao_model_adam *opt, float learning_rate)
{
    opt->config.learning_rate = learning_rate;
}

int sao_model_adam_step(sao_model_adam *opt, sao_model *model, double *grad_norm)
{
    size_t count;
    float *w = sao_model_weights(model, &count);
    float *g = sao_model_grads(model, NULL);
    if (count != opt->count)
        return sao_error_set(SAO_EINVAL, "adam: optimizer for %zu parameters, model has %zu",
                             opt->count, count);
    /* The norm in double, in a fixed order: the same gradients always clip the same way. Eight
     * running sums (element i goes to sum i % 8, added up at the end) instead of one, so that
     * the additions do not wait on each other. */
    double lanes[8] = {0};
    size_t block = 0;
    for (; block + 8 <= count; block += 8)
        for (int lane = 0; lane < 8; lane++) {
            const double v = (double)g[block + lane];
            lanes[lane] += v * v;
        }
    for (; block < count; block++) lanes[block % 8] += (double)g[block] * (double)g[block];
    double sum = 0.0;
    for (int lane = 0; lane < 8; lane++) sum += lanes[lane];
    double norm = sqrt(sum);
    if (!isfinite(norm)) return sao_error_set(SAO_ERANGE, "adam: gradient norm is not finite");
    const sao_model_adam_config *cfg = &opt->config;
    if (cfg->clip_norm > 0.0f && norm > (double)cfg->clip_norm) {
        float scale = (float)((double)cfg->clip_norm / (norm + 1e-6));
        for (size_t i = 0; i < count; i++) g[i] *= scale;
    }

    opt->step++;
    const double correction1 = 1.0 - pow((double)cfg->beta1, (double)opt->step);
    const double correction2 = 1.0 - pow((double)cfg->beta2, (double)opt->step);
    const float step_size = (float)((double)cfg->learning_rate / correction1);
    const float root_correction2 = (float)sqrt(correction2);
    /* Locals and restrict: the four arrays never overlap, and saying so lets the loop
     * vectorize. */
    const float beta1 = cfg->beta1, beta2 = cfg->beta2, eps = cfg->eps;
    const float decay = cfg->weight_decay;
    float *restrict wr = w, *restrict mr = opt->m, *restrict vr = opt->v;
    const float *restrict gr = g;
    for (size_t k = 0; k < count; k++) {
        float grad = gr[k] + decay * wr[k];
        mr[k] = beta1 * mr[k] + (1.0f - beta1) * grad;
        vr[k] = beta2 * vr[k] + (1.0f - beta2) * grad * grad;
        float denom = sqrtf(vr[k]) / root_correction2 + eps;
        wr[k] -= step_size * mr[k] / denom;
    }
    if (grad_norm) *grad_norm = norm;
    return 0;
}

/* ---- losses ---- */

double sao_model_huber(float *d_pred, const float *pred, const float *target, size_t count,
                       double delta)
{
    if (count == 0) return 0.0;
    double sum = 0.0;
    for (size_t i = 0; i < count; i++) {
        double err = (double)pred[i] - (double)target[i];
        double grad;
        if (fabs(err) <= delta) {
            sum += 0.5 * err * err;
            grad = err;
        } else {
            sum += delta * (fabs(err) - 0.5 * delta);
            grad = err > 0 ? delta : -delta;
        }
        if (d_pred) d_pred[i] = (float)(grad / (double)count);
    }
    return sum / (double)count;
}

static double loss_value(sao_model_loss kind, double delta, float *d_pred, const float *pred,
                         const float *target, size_t count)
{
    if (kind == SAO_MODEL_LOSS_HUBER) return sao_model_huber(d_pred, pred, target, count, delta);
    return sao_model_mse(d_pred, pred, target, count);
}

/* ---- the training loop ---- */

void sao_model_train_config_init(sao_model_train_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    sao_model_adam_config_init(&cfg->adam);
    cfg->epochs = 50;
    cfg->batch_size = 32;
    cfg->loss = SAO_MODEL_LOSS_MSE;
    cfg->huber_delta = 1.0;
    cfg->seed = 42;
    cfg->plateau_factor = 0.5;
    cfg->plateau_patience = 5;
    cfg->min_learning_rate = 1e-6;
    cfg->early_stopping = 10;
    cfg->min_delta = 0.0;
}

void sao_model_history_dispose(sao_model_history *history)
{
    if (!history) return;
    sao_free(history->epochs);
    memset(history, 0, sizeof(*history));
}

static int check_windows(const sao_model_windows *w, const char *what)
{
    if (!w || w->count == 0 || !w->inputs || !w->targets || w->context_length == 0)
        return sao_error_set(SAO_EINVAL, "training: the %s windows are empty", what);
    return 0;
}

int sao_model_predict(sao_model *model, float *out, const sao_model_windows *windows,
                      size_t batch_size)
{
    int rc = check_windows(windows, "prediction");
    if (rc) return rc;
    if (batch_size == 0) return sao_error_set(SAO_EINVAL, "predict: batch size 0");
    const sao_model_config *mc = sao_model_get_config(model);
    const size_t per_window = windows->context_length * (size_t)mc->input_size;
    for (size_t first = 0; first < windows->count; first += batch_size) {
        size_t n = windows->count - first < batch_size ? windows->count - first : batch_size;
        /* Windows are contiguous, so a batch is a slice: no copy. */
        rc = sao_model_forward(model, out + first * (size_t)mc->horizon,
                               windows->inputs + first * per_window, n, windows->context_length, 0);
        if (rc) return rc;
    }
    return 0;
}

int sao_model_loss_of(double *loss, sao_model *model, const sao_model_windows *windows,
                      sao_model_loss kind, double huber_delta, size_t batch_size)
{
    const sao_model_config *mc = sao_model_get_config(model);
    int rc = check_windows(windows, "evaluation");
    if (rc) return rc;
    const size_t values = windows->count * (size_t)mc->horizon;
    float *pred = sao_malloc(values * sizeof(float));
    rc = sao_model_predict(model, pred, windows, batch_size);
    if (rc) goto done;
    *loss = loss_value(kind, huber_delta, NULL, pred, windows->targets, values);
done:
    sao_free(pred);
    return rc;
}

static int check_train_config(const sao_model_train_config *cfg)
{
    if (cfg->epochs < 1 || cfg->batch_size == 0 || cfg->plateau_patience < 0 ||
        cfg->early_stopping < 0 || !(cfg->min_delta >= 0.0) ||
        !(cfg->plateau_factor > 0.0 && cfg->plateau_factor < 1.0) ||
        !(cfg->min_learning_rate >= 0.0) ||
        (cfg->loss == SAO_MODEL_LOSS_HUBER && !(cfg->huber_delta > 0.0)) ||
        (cfg->loss != SAO_MODEL_LOSS_MSE && cfg->loss != SAO_MODEL_LOSS_HUBER))
        return sao_error_set(SAO_EINVAL,
                             "training: invalid configuration (epochs %d, batch %zu, loss %d, "
                             "huber delta %g, plateau factor %g patience %d, min lr %g, early "
                             "stopping %d, min delta %g)",
                             cfg->epochs, cfg->batch_size, (int)cfg->loss, cfg->huber_delta,
                             cfg->plateau_factor, cfg->plateau_patience, cfg->min_learning_rate,
                             cfg->early_stopping, cfg->min_delta);
    return 0;
}

/* Fisher-Yates with the loop's own generator: the order depends on the seed and the epoch
 * only, never on the model's dropout draws. */
static void shuffle(size_t *order, size_t count, sao_model__rng *rng)
{
    for (size_t i = count; i > 1; i--) {
        size_t j = (size_t)(sao_model__rng_next(rng) % (uint64_t)i);
        size_t tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
}

int sao_model_train(sao_model *model, sao_model_history *history, const sao_model_windows *train,
                    const sao_model_windows *val, const sao_model_train_config *cfg)
{
    int rc = check_train_config(cfg);
    if (rc) return rc;
    if ((rc = check_windows(train, "training")) || (rc = check_windows(val, "validation")))
        return rc;
    if (train->context_length != val->context_length)
        return sao_error_set(SAO_EINVAL, "training: context length %zu, validation %zu",
                             train->context_length, val->context_length);
    size_t weight_total;
    sao_model_weights(model, &weight_total);
    if (cfg->train_from >= weight_total)
        return sao_error_set(SAO_EINVAL, "training: train_from %zu leaves none of %zu weights",
                             cfg->train_from, weight_total);

    const sao_model_config *mc = sao_model_get_config(model);
    const size_t horizon = (size_t)mc->horizon;
    const size_t per_window = train->context_length * (size_t)mc->input_size;
    const size_t batch = cfg->batch_size < train->count ? cfg->batch_size : train->count;
    const size_t batches = (train->count + batch - 1) / batch;
    size_t weight_count;
    float *weights = sao_model_weights(model, &weight_count);

    sao_model_adam *opt = NULL;
    sao_model_history hist = {0};
    size_t hist_cap = 0;
    size_t *order = sao_malloc(train->count * sizeof(size_t));
    float *x = sao_malloc(batch * per_window * sizeof(float));
    float *y = sao_malloc(batch * horizon * sizeof(float));
    float *pred = sao_malloc(batch * horizon * sizeof(float));
    float *d_pred = sao_malloc(batch * horizon * sizeof(float));
    float *best = sao_malloc(weight_count * sizeof(float));
    /* The frozen weights as they came in, put back after every step. */
    float *frozen = cfg->train_from ? sao_malloc(cfg->train_from * sizeof(float)) : NULL;
    float *grads = sao_model_grads(model, NULL);
    int have_best = 0;
    double best_loss = INFINITY;
    int since_best = 0, since_reduce = 0;
    double lr = (double)cfg->adam.learning_rate;
    sao_progress progress;
    char label[48];
    sao_model__rng rng;

    rc = sao_model_adam_new(&opt, weight_count, &cfg->adam);
    if (rc) goto done;
    if (frozen) memcpy(frozen, weights, cfg->train_from * sizeof(float));
    sao_model__rng_seed(&rng, cfg->seed);
    for (size_t i = 0; i < train->count; i++) order[i] = i;
    snprintf(label, sizeof(label), "training");
    if (cfg->progress) sao_progress_start(&progress, label, (uint64_t)cfg->epochs * batches);

    for (int epoch = 1; epoch <= cfg->epochs; epoch++) {
        double started = sao_monotonic();
        double loss_sum = 0.0;
        shuffle(order, train->count, &rng);
        for (size_t b = 0; b < batches; b++) {
            size_t first = b * batch;
            size_t n = train->count - first < batch ? train->count - first : batch;
            for (size_t i = 0; i < n; i++) {
                size_t w = order[first + i];
                memcpy(x + i * per_window, train->inputs + w * per_window,
                       per_window * sizeof(float));
                memcpy(y + i * horizon, train->targets + w * horizon, horizon * sizeof(float));
            }
            sao_model_zero_grad(model);
            rc = sao_model_forward(model, pred, x, n, train->context_length, 1);
            if (rc) goto done;
            double loss = loss_value(cfg->loss, cfg->huber_delta, d_pred, pred, y, n * horizon);
            if (!isfinite(loss)) {
                rc = sao_error_set(SAO_ERANGE,
                                   "training: loss is not finite at epoch %d, "
                                   "batch %zu",
                                   epoch, b + 1);
                goto done;
            }
            loss_sum += loss * (double)n;
            rc = sao_model_backward(model, d_pred);
            if (rc) goto done;
            if (frozen) memset(grads, 0, cfg->train_from * sizeof(float));
            rc = sao_model_adam_step(opt, model, NULL);
            if (rc) {
                sao_error_wrap(rc, "epoch %d, batch %zu: ", epoch, b + 1);
                goto done;
            }
            if (frozen) memcpy(weights, frozen, cfg->train_from * sizeof(float));
            if (cfg->progress) {
                /* The bar's label carries the epoch and the running loss (it shows 16 chars). */
                snprintf(label, sizeof(label), "ep %d %.3g", epoch, loss_sum / (double)(first + n));
                sao_progress_update(&progress, (uint64_t)(epoch - 1) * batches + b + 1);
            }
        }

        sao_model_epoch rec = {0};
        rec.epoch = epoch;
        rec.train_loss = loss_sum / (double)train->count;
        rec.learning_rate = lr;
        rc = sao_model_loss_of(&rec.val_loss, model, val, cfg->loss, cfg->huber_delta,
                               cfg->batch_size);
        if (rc) goto done;
        if (!isfinite(rec.val_loss)) {
            rc = sao_error_set(SAO_ERANGE, "training: validation loss is not finite at epoch %d",
                               epoch);
            goto done;
        }
        rec.seconds = sao_monotonic() - started;
        if (!have_best || rec.val_loss < best_loss - cfg->min_delta) {
            rec.improved = 1;
            best_loss = rec.val_loss;
            memcpy(best, weights, weight_count * sizeof(float));
            have_best = 1;
            hist.best_epoch = epoch;
            since_best = since_reduce = 0;
        } else {
            since_best++;
            since_reduce++;
        }
        hist.epochs = sao_grow(hist.epochs, &hist_cap, hist.count + 1, sizeof(*hist.epochs));
        hist.epochs[hist.count++] = rec;
        if (cfg->progress && progress.tty == 2)
            sao_log(SAO_LOG_INFO, "train",
                    "epoch %d/%d: train loss %.6g, validation loss %.6g, "
                    "lr %.3g, %.2fs%s",
                    epoch, cfg->epochs, rec.train_loss, rec.val_loss, lr, rec.seconds,
                    rec.improved ? " (best)" : "");

        if (cfg->on_epoch && cfg->on_epoch(&rec, cfg->userdata)) {
            hist.stopped_early = 1;
            break;
        }
        if (cfg->early_stopping > 0 && since_best >= cfg->early_stopping) {
            hist.stopped_early = 1;
            break;
        }
        /* As torch's ReduceLROnPlateau: more than `patience` epochs without improvement. */
        if (cfg->plateau_patience > 0 && since_reduce > cfg->plateau_patience) {
            double next = lr * cfg->plateau_factor;
            if (next < cfg->min_learning_rate) next = cfg->min_learning_rate;
            if (next < lr) {
                lr = next;
                sao_model_adam_set_learning_rate(opt, (float)lr);
            }
            since_reduce = 0;
        }
    }
    hist.best_val_loss = best_loss;

done:
    /* Whatever happened, the model leaves with the best weights seen (if an epoch finished). */
    if (have_best) memcpy(weights, best, weight_count * sizeof(float));
    if (cfg->progress) sao_progress_finish(&progress);
    if (rc == 0 && history) {
        *history = hist;
        hist.epochs = NULL;
    }
    sao_free(hist.epochs);
    sao_model_adam_free(opt);
    sao_free(order);
    sao_free(x);
    sao_free(y);
    sao_free(pred);
    sao_free(d_pred);
    sao_free(best);
    sao_free(frozen);
    return rc;
}
