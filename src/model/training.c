/*
 * training: the Adam optimizer with global-norm gradient clipping, applied to a model's flat
 * parameter and gradient arrays.
 */
#include <math.h>
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
    /* The norm in double, in a fixed order: the same gradients always clip the same way. */
    double sum = 0.0;
    for (size_t i = 0; i < count; i++) sum += (double)g[i] * (double)g[i];
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
    for (size_t i = 0; i < count; i++) {
        float grad = g[i] + cfg->weight_decay * w[i];
        opt->m[i] = cfg->beta1 * opt->m[i] + (1.0f - cfg->beta1) * grad;
        opt->v[i] = cfg->beta2 * opt->v[i] + (1.0f - cfg->beta2) * grad * grad;
        float denom = sqrtf(opt->v[i]) / root_correction2 + cfg->eps;
        w[i] -= step_size * opt->m[i] / denom;
    }
    if (grad_norm) *grad_norm = norm;
    return 0;
}
