/*
 * definition: stacked LSTM and GRU layers with a linear head, their PyTorch-compatible
 * parameters and initialization, and forward and backward (BPTT) passes over OpenBLAS.
 */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "model/model_int.h"

/* ---------------------------------------------------------------------------------------------
 * Generator.
 */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

void sao_model__rng_seed(sao_model__rng *rng, uint64_t seed)
{
    /* splitmix64 spreads any seed, 0 included, over a state that is never all zero. */
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sao_model__rng_next(sao_model__rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float sao_model__rng_uniform(sao_model__rng *rng)
{
    return (float)(sao_model__rng_next(rng) >> 40) * (1.0f / 16777216.0f);
}

/* ---------------------------------------------------------------------------------------------
 * Configuration and construction.
 */
void sao_model_config_init(sao_model_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->arch = SAO_MODEL_LSTM;
    cfg->hidden_size = 64;
    cfg->num_layers = 2;
    cfg->horizon = 5;
    cfg->dropout = 0.2f;
    cfg->seed = 42;
}

const char *sao_model_arch_name(sao_model_arch arch)
{
    return arch == SAO_MODEL_GRU ? "gru" : "lstm";
}

int sao_model_arch_parse(const char *name, sao_model_arch *out)
{
    if (name && strcmp(name, "lstm") == 0) {
        *out = SAO_MODEL_LSTM;
        return 0;
    }
    if (name && strcmp(name, "gru") == 0) {
        *out = SAO_MODEL_GRU;
        return 0;
    }
    return sao_error_set(SAO_EINVAL, "unknown architecture \"%s\" (expected lstm or gru)",
                         name ? name : "(null)");
}

static int check_config(const sao_model_config *cfg)
{
    if (cfg->arch != SAO_MODEL_LSTM && cfg->arch != SAO_MODEL_GRU)
        return sao_error_set(SAO_EINVAL, "model: unknown architecture %d", (int)cfg->arch);
    if (cfg->input_size < 1 || cfg->input_size > 65536)
        return sao_error_set(SAO_EINVAL, "model: input_size %d outside 1..65536", cfg->input_size);
    if (cfg->hidden_size < 1 || cfg->hidden_size > 65536)
        return sao_error_set(SAO_EINVAL, "model: hidden_size %d outside 1..65536",
                             cfg->hidden_size);
    if (cfg->num_layers < 1 || cfg->num_layers > 64)
        return sao_error_set(SAO_EINVAL, "model: num_layers %d outside 1..64", cfg->num_layers);
    if (cfg->horizon < 1 || cfg->horizon > 65536)
        return sao_error_set(SAO_EINVAL, "model: horizon %d outside 1..65536", cfg->horizon);
    if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f))
        return sao_error_set(SAO_EINVAL, "model: dropout %g outside [0, 1)", (double)cfg->dropout);
    return 0;
}

static void add_param(sao_model *m, size_t *offset, const char *prefix, const char *what, int layer,
                      size_t rows, size_t cols, int ndim)
{
    sao_model_param *p = &m->params[m->param_count++];
    if (layer >= 0)
        snprintf(p->name, sizeof(p->name), "%s.%s_l%d", prefix, what, layer);
    else
        snprintf(p->name, sizeof(p->name), "%s.%s", prefix, what);
    p->ndim = ndim;
    p->shape[0] = rows;
    p->shape[1] = cols;
    p->offset = *offset;
    p->count = rows * cols;
    *offset += p->count;
}

int sao_model_new(sao_model **out, const sao_model_config *cfg)
{
    int rc = check_config(cfg);
    if (rc) return rc;

    sao_model *m = sao_calloc(1, sizeof(*m));
    m->config = *cfg;
    m->gates = cfg->arch == SAO_MODEL_LSTM ? 4 : 3;
    const size_t hidden = (size_t)cfg->hidden_size;
    const size_t gate_rows = (size_t)m->gates * hidden;
    const char *prefix = sao_model_arch_name(cfg->arch);

    m->params = sao_calloc((size_t)cfg->num_layers * 4 + 2, sizeof(*m->params));
    size_t offset = 0;
    for (int l = 0; l < cfg->num_layers; l++) {
        size_t in = l == 0 ? (size_t)cfg->input_size : hidden;
        add_param(m, &offset, prefix, "weight_ih", l, gate_rows, in, 2);
        add_param(m, &offset, prefix, "weight_hh", l, gate_rows, hidden, 2);
        add_param(m, &offset, prefix, "bias_ih", l, gate_rows, 1, 1);
        add_param(m, &offset, prefix, "bias_hh", l, gate_rows, 1, 1);
    }
    add_param(m, &offset, "head", "weight", -1, (size_t)cfg->horizon, hidden, 2);
    add_param(m, &offset, "head", "bias", -1, (size_t)cfg->horizon, 1, 1);
    m->weight_count = offset;
    m->weights = sao_malloc(offset * sizeof(float));
    m->grads = sao_calloc(offset, sizeof(float));

    m->layers = sao_calloc((size_t)cfg->num_layers, sizeof(*m->layers));
    for (int l = 0; l < cfg->num_layers; l++) {
        sao_model__layer *layer = &m->layers[l];
        const sao_model_param *p = &m->params[4 * l];
        layer->input_size = l == 0 ? cfg->input_size : cfg->hidden_size;
        layer->w_ih = m->weights + p[0].offset;
        layer->w_hh = m->weights + p[1].offset;
        layer->b_ih = m->weights + p[2].offset;
        layer->b_hh = m->weights + p[3].offset;
        layer->g_w_ih = m->grads + p[0].offset;
        layer->g_w_hh = m->grads + p[1].offset;
        layer->g_b_ih = m->grads + p[2].offset;
        layer->g_b_hh = m->grads + p[3].offset;
    }
    const sao_model_param *head = &m->params[4 * cfg->num_layers];
    m->head_w = m->weights + head[0].offset;
    m->head_b = m->weights + head[1].offset;
    m->g_head_w = m->grads + head[0].offset;
    m->g_head_b = m->grads + head[1].offset;

    /* PyTorch draws nn.LSTM/nn.GRU parameters and nn.Linear's (kaiming_uniform with a = sqrt(5),
     * whose bound reduces to 1/sqrt(fan_in)) from the same interval when fan_in = H. */
    sao_model__rng_seed(&m->rng, cfg->seed);
    const float bound = 1.0f / sqrtf((float)hidden);
    for (size_t i = 0; i < m->weight_count; i++)
        m->weights[i] = (2.0f * sao_model__rng_uniform(&m->rng) - 1.0f) * bound;

    *out = m;
    return 0;
}

static void free_caches(sao_model *m)
{
    for (int l = 0; l < m->config.num_layers; l++) {
        sao_model__layer *layer = &m->layers[l];
        sao_free(layer->x);
        sao_free(layer->gates);
        sao_free(layer->h);
        sao_free(layer->aux);
        sao_free(layer->mask);
        layer->x = layer->gates = layer->h = layer->aux = layer->mask = NULL;
    }
    sao_free(m->d_pre_x);
    sao_free(m->d_pre_h);
    sao_free(m->d_h);
    sao_free(m->d_below);
    sao_free(m->d_state);
    m->d_pre_x = m->d_pre_h = m->d_h = m->d_below = m->d_state = NULL;
    m->cache_rows = 0;
}

void sao_model_free(sao_model *model)
{
    if (!model) return;
    free_caches(model);
    sao_free(model->layers);
    sao_free(model->params);
    sao_free(model->weights);
    sao_free(model->grads);
    sao_free(model);
}

const sao_model_config *sao_model_get_config(const sao_model *model)
{
    return &model->config;
}

const sao_model_param *sao_model_params(const sao_model *model, size_t *count)
{
    *count = model->param_count;
    return model->params;
}

float *sao_model_weights(sao_model *model, size_t *count)
{
    if (count) *count = model->weight_count;
    return model->weights;
}

float *sao_model_grads(sao_model *model, size_t *count)
{
    if (count) *count = model->weight_count;
    return model->grads;
}

void sao_model_zero_grad(sao_model *model)
{
    memset(model->grads, 0, model->weight_count * sizeof(float));
}

void sao_model_set_threads(int threads)
{
    openblas_set_num_threads(threads > 0 ? threads : 1);
}

/* ---------------------------------------------------------------------------------------------
 * Forward.
 */
static float sigmoid(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* C = A * B^T + beta * C, row-major: A [M, K], B [N, K], C [M, N]. */
static void gemm_nt(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                    size_t ldb, float beta, float *c, size_t ldc)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, a, (int)lda,
                b, (int)ldb, beta, c, (int)ldc);
}

/* C = A * B + beta * C: A [M, K], B [K, N]. */
static void gemm_nn(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                    size_t ldb, float beta, float *c, size_t ldc)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a,
                (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* C += A^T * B: A [K, M], B [K, N], C [M, N] (a gradient summed over K rows). */
static void gemm_tn_acc(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                        size_t ldb, float *c, size_t ldc)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a, (int)lda,
                b, (int)ldb, 1.0f, c, (int)ldc);
}

/* Grows every cache to `rows` rows of the largest width it needs. */
static void reserve_caches(sao_model *m, size_t rows)
{
    if (rows <= m->cache_rows) return;
    free_caches(m);
    const size_t hidden = (size_t)m->config.hidden_size;
    const size_t gate_cols = (size_t)m->gates * hidden;
    for (int l = 0; l < m->config.num_layers; l++) {
        sao_model__layer *layer = &m->layers[l];
        layer->x = sao_malloc(rows * (size_t)layer->input_size * sizeof(float));
        layer->gates = sao_malloc(rows * gate_cols * sizeof(float));
        layer->h = sao_malloc(rows * hidden * sizeof(float));
        layer->aux = sao_malloc(rows * hidden * sizeof(float));
        if (l + 1 < m->config.num_layers) layer->mask = sao_malloc(rows * hidden * sizeof(float));
    }
    m->d_pre_x = sao_malloc(rows * gate_cols * sizeof(float));
    if (m->config.arch == SAO_MODEL_GRU) m->d_pre_h = sao_malloc(rows * gate_cols * sizeof(float));
    m->d_h = sao_malloc(rows * hidden * sizeof(float));
    m->d_below = sao_malloc(rows * hidden * sizeof(float));
    /* d_state holds one step ([batch, H]); rows >= batch, so rows * H always suffices. */
    m->d_state = sao_malloc(rows * hidden * sizeof(float));
    m->cache_rows = rows;
}

static void lstm_forward(const sao_model *m, sao_model__layer *layer, size_t batch, size_t steps)
{
    const size_t hidden = (size_t)m->config.hidden_size;
    const size_t gc = 4 * hidden;
    const size_t in = (size_t)layer->input_size;
    /* The input projection of every step at once: one large product instead of T small ones. */
    gemm_nt(batch * steps, gc, in, layer->x, in, layer->w_ih, in, 0.0f, layer->gates, gc);
    for (size_t t = 0; t < steps; t++) {
        float *g = layer->gates + t * batch * gc;
        float *h = layer->h + t * batch * hidden;
        float *c = layer->aux + t * batch * hidden;
        const float *c_prev = t ? c - batch * hidden : NULL;
        if (t)
            gemm_nt(batch, gc, hidden, h - batch * hidden, hidden, layer->w_hh, hidden, 1.0f, g,
                    gc);
        for (size_t b = 0; b < batch; b++) {
            float *gb = g + b * gc;
            for (size_t j = 0; j < hidden; j++) {
                float i = sigmoid(gb[j] + layer->b_ih[j] + layer->b_hh[j]);
                float f =
                    sigmoid(gb[hidden + j] + layer->b_ih[hidden + j] + layer->b_hh[hidden + j]);
                float cand = tanhf(gb[2 * hidden + j] + layer->b_ih[2 * hidden + j] +
                                   layer->b_hh[2 * hidden + j]);
                float o = sigmoid(gb[3 * hidden + j] + layer->b_ih[3 * hidden + j] +
                                  layer->b_hh[3 * hidden + j]);
                float cp = c_prev ? c_prev[b * hidden + j] : 0.0f;
                float cell = f * cp + i * cand;
                gb[j] = i;
                gb[hidden + j] = f;
                gb[2 * hidden + j] = cand;
                gb[3 * hidden + j] = o;
                c[b * hidden + j] = cell;
                h[b * hidden + j] = o * tanhf(cell);
            }
        }
    }
}

static void gru_forward(const sao_model *m, sao_model__layer *layer, size_t batch, size_t steps)
{
    const size_t hidden = (size_t)m->config.hidden_size;
    const size_t gc = 3 * hidden;
    const size_t in = (size_t)layer->input_size;
    gemm_nt(batch * steps, gc, in, layer->x, in, layer->w_ih, in, 0.0f, layer->gates, gc);
    for (size_t t = 0; t < steps; t++) {
        float *g = layer->gates + t * batch * gc;
        float *h = layer->h + t * batch * hidden;
        float *hn = layer->aux + t * batch * hidden;
        const float *h_prev = t ? h - batch * hidden : NULL;
        if (h_prev) {
            /* r and z take W_h h straight into the gates; n needs W_hn h + b_hn on its own,
             * since r scales it. */
            gemm_nt(batch, 2 * hidden, hidden, h_prev, hidden, layer->w_hh, hidden, 1.0f, g, gc);
            gemm_nt(batch, hidden, hidden, h_prev, hidden, layer->w_hh + 2 * hidden * hidden,
                    hidden, 0.0f, hn, hidden);
        } else {
            memset(hn, 0, batch * hidden * sizeof(float));
        }
        for (size_t b = 0; b < batch; b++) {
            float *gb = g + b * gc;
            for (size_t j = 0; j < hidden; j++) {
                float r = sigmoid(gb[j] + layer->b_ih[j] + layer->b_hh[j]);
                float z =
                    sigmoid(gb[hidden + j] + layer->b_ih[hidden + j] + layer->b_hh[hidden + j]);
                float hnv = hn[b * hidden + j] + layer->b_hh[2 * hidden + j];
                float n = tanhf(gb[2 * hidden + j] + layer->b_ih[2 * hidden + j] + r * hnv);
                float hp = h_prev ? h_prev[b * hidden + j] : 0.0f;
                gb[j] = r;
                gb[hidden + j] = z;
                gb[2 * hidden + j] = n;
                hn[b * hidden + j] = hnv;
                h[b * hidden + j] = (1.0f - z) * n + z * hp;
            }
        }
    }
}

int sao_model_forward(sao_model *model, float *out, const float *inputs, size_t batch,
                      size_t time_steps, int training)
{
    sao_model *m = model;
    const sao_model_config *cfg = &m->config;
    if (batch == 0 || time_steps == 0)
        return sao_error_set(SAO_EINVAL, "model forward: empty batch (%zu x %zu)", batch,
                             time_steps);
    const size_t hidden = (size_t)cfg->hidden_size;
    const size_t widest = (size_t)m->gates * hidden > (size_t)cfg->input_size
                              ? (size_t)m->gates * hidden
                              : (size_t)cfg->input_size;
    if (time_steps > (size_t)INT_MAX / batch || batch * time_steps > (size_t)INT_MAX / widest)
        return sao_error_set(SAO_EINVAL, "model forward: batch %zu x %zu steps is too large", batch,
                             time_steps);
    const size_t rows = batch * time_steps;
    reserve_caches(m, rows);

    /* Time-major copy of the batch-major input. */
    const size_t features = (size_t)cfg->input_size;
    float *x0 = m->layers[0].x;
    for (size_t b = 0; b < batch; b++)
        for (size_t t = 0; t < time_steps; t++)
            memcpy(x0 + (t * batch + b) * features, inputs + (b * time_steps + t) * features,
                   features * sizeof(float));

    const int dropping = training && cfg->dropout > 0.0f;
    const float keep_scale = 1.0f / (1.0f - cfg->dropout);
    for (int l = 0; l < cfg->num_layers; l++) {
        sao_model__layer *layer = &m->layers[l];
        if (cfg->arch == SAO_MODEL_LSTM)
            lstm_forward(m, layer, batch, time_steps);
        else
            gru_forward(m, layer, batch, time_steps);
        if (l + 1 == cfg->num_layers) break;
        float *next = m->layers[l + 1].x;
        const size_t n = rows * hidden;
        if (dropping) {
            for (size_t i = 0; i < n; i++) {
                float keep = sao_model__rng_uniform(&m->rng) >= cfg->dropout ? keep_scale : 0.0f;
                layer->mask[i] = keep;
                next[i] = layer->h[i] * keep;
            }
        } else {
            for (size_t i = 0; i < n; i++) layer->mask[i] = 1.0f;
            memcpy(next, layer->h, n * sizeof(float));
        }
    }

    const float *h_last = m->layers[cfg->num_layers - 1].h + (time_steps - 1) * batch * hidden;
    const size_t horizon = (size_t)cfg->horizon;
    for (size_t b = 0; b < batch; b++)
        memcpy(out + b * horizon, m->head_b, horizon * sizeof(float));
    gemm_nt(batch, horizon, hidden, h_last, hidden, m->head_w, hidden, 1.0f, out, horizon);

    m->batch = batch;
    m->time_steps = time_steps;
    m->have_forward = 1;
    m->forward_training = training;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Backward through time. `d_h` [T*B, H] holds dLoss/dh from above on entry (and is consumed);
 * the pre-activation gradients land in m->d_pre_x (and m->d_pre_h for the GRU), from which the
 * parameter gradients are summed with a few large products.
 */
static void add_column_sums(float *acc, const float *rows_data, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) acc[c] += rows_data[r * cols + c];
}

static void lstm_backward(sao_model *m, sao_model__layer *layer, size_t batch, size_t steps)
{
    const size_t hidden = (size_t)m->config.hidden_size;
    const size_t gc = 4 * hidden;
    float *d_pre = m->d_pre_x;
    float *d_c = m->d_state; /* dLoss/dc of the step after the current one */
    memset(d_c, 0, batch * hidden * sizeof(float));
    for (size_t t = steps; t-- > 0;) {
        float *d_h = m->d_h + t * batch * hidden;
        if (t + 1 < steps)
            gemm_nn(batch, hidden, gc, d_pre + (t + 1) * batch * gc, gc, layer->w_hh, hidden, 1.0f,
                    d_h, hidden);
        const float *g = layer->gates + t * batch * gc;
        const float *c = layer->aux + t * batch * hidden;
        const float *c_prev = t ? c - batch * hidden : NULL;
        float *dp = d_pre + t * batch * gc;
        for (size_t b = 0; b < batch; b++) {
            const float *gb = g + b * gc;
            float *db = dp + b * gc;
            for (size_t j = 0; j < hidden; j++) {
                float i = gb[j], f = gb[hidden + j], cand = gb[2 * hidden + j];
                float o = gb[3 * hidden + j];
                float tc = tanhf(c[b * hidden + j]);
                float cp = c_prev ? c_prev[b * hidden + j] : 0.0f;
                float dh = d_h[b * hidden + j];
                float dc = d_c[b * hidden + j] + dh * o * (1.0f - tc * tc);
                db[j] = dc * cand * i * (1.0f - i);
                db[hidden + j] = dc * cp * f * (1.0f - f);
                db[2 * hidden + j] = dc * i * (1.0f - cand * cand);
                db[3 * hidden + j] = dh * tc * o * (1.0f - o);
                d_c[b * hidden + j] = dc * f;
            }
        }
    }
    const size_t rows = batch * steps;
    const size_t in = (size_t)layer->input_size;
    gemm_tn_acc(gc, in, rows, d_pre, gc, layer->x, in, layer->g_w_ih, in);
    /* h_{t-1} of steps 1..T-1 is h of steps 0..T-2: one product, and step 0's is zero. */
    if (steps > 1)
        gemm_tn_acc(gc, hidden, rows - batch, d_pre + batch * gc, gc, layer->h, hidden,
                    layer->g_w_hh, hidden);
    add_column_sums(layer->g_b_ih, d_pre, rows, gc);
    add_column_sums(layer->g_b_hh, d_pre, rows, gc);
}

static void gru_backward(sao_model *m, sao_model__layer *layer, size_t batch, size_t steps)
{
    const size_t hidden = (size_t)m->config.hidden_size;
    const size_t gc = 3 * hidden;
    float *d_px = m->d_pre_x; /* towards W_ih x + b_ih */
    float *d_ph = m->d_pre_h; /* towards W_hh h + b_hh (n's part scaled by r) */
    for (size_t t = steps; t-- > 0;) {
        float *d_h = m->d_h + t * batch * hidden;
        if (t + 1 < steps)
            gemm_nn(batch, hidden, gc, d_ph + (t + 1) * batch * gc, gc, layer->w_hh, hidden, 1.0f,
                    d_h, hidden);
        const float *g = layer->gates + t * batch * gc;
        const float *hn = layer->aux + t * batch * hidden;
        const float *h_prev = t ? layer->h + (t - 1) * batch * hidden : NULL;
        float *d_h_prev = t ? d_h - batch * hidden : NULL;
        for (size_t b = 0; b < batch; b++) {
            const float *gb = g + b * gc;
            float *dx = d_px + (t * batch + b) * gc;
            float *dhh = d_ph + (t * batch + b) * gc;
            for (size_t j = 0; j < hidden; j++) {
                float r = gb[j], z = gb[hidden + j], n = gb[2 * hidden + j];
                float hp = h_prev ? h_prev[b * hidden + j] : 0.0f;
                float dh = d_h[b * hidden + j];
                float d_n = dh * (1.0f - z) * (1.0f - n * n);
                float d_z = dh * (hp - n) * z * (1.0f - z);
                float d_r = d_n * hn[b * hidden + j] * r * (1.0f - r);
                dx[j] = dhh[j] = d_r;
                dx[hidden + j] = dhh[hidden + j] = d_z;
                dx[2 * hidden + j] = d_n;
                dhh[2 * hidden + j] = d_n * r;
                /* The direct path h' = ... + z * h. */
                if (d_h_prev) d_h_prev[b * hidden + j] += dh * z;
            }
        }
    }
    const size_t rows = batch * steps;
    const size_t in = (size_t)layer->input_size;
    gemm_tn_acc(gc, in, rows, d_px, gc, layer->x, in, layer->g_w_ih, in);
    if (steps > 1)
        gemm_tn_acc(gc, hidden, rows - batch, d_ph + batch * gc, gc, layer->h, hidden,
                    layer->g_w_hh, hidden);
    add_column_sums(layer->g_b_ih, d_px, rows, gc);
    add_column_sums(layer->g_b_hh, d_ph, rows, gc);
}

int sao_model_backward(sao_model *model, const float *d_out)
{
    sao_model *m = model;
    if (!m->have_forward)
        return sao_error_set(SAO_ESTATE, "model backward: no forward pass to differentiate");
    const sao_model_config *cfg = &m->config;
    const size_t batch = m->batch, steps = m->time_steps, rows = batch * steps;
    const size_t hidden = (size_t)cfg->hidden_size;
    const size_t horizon = (size_t)cfg->horizon;
    const size_t gc = (size_t)m->gates * hidden;

    /* Head: only the last step's top hidden state feeds it. */
    const float *h_last = m->layers[cfg->num_layers - 1].h + (steps - 1) * batch * hidden;
    gemm_tn_acc(horizon, hidden, batch, d_out, horizon, h_last, hidden, m->g_head_w, hidden);
    add_column_sums(m->g_head_b, d_out, batch, horizon);
    memset(m->d_h, 0, (rows - batch) * hidden * sizeof(float));
    gemm_nn(batch, hidden, horizon, d_out, horizon, m->head_w, hidden, 0.0f,
            m->d_h + (steps - 1) * batch * hidden, hidden);

    for (int l = cfg->num_layers - 1; l >= 0; l--) {
        sao_model__layer *layer = &m->layers[l];
        if (cfg->arch == SAO_MODEL_LSTM)
            lstm_backward(m, layer, batch, steps);
        else
            gru_backward(m, layer, batch, steps);
        if (l == 0) break;
        /* dLoss/d(input of this layer), through the dropout mask, is dLoss/dh of the one below. */
        gemm_nn(rows, hidden, gc, m->d_pre_x, gc, layer->w_ih, hidden, 0.0f, m->d_below, hidden);
        const float *mask = m->layers[l - 1].mask;
        for (size_t i = 0; i < rows * hidden; i++) m->d_h[i] = m->d_below[i] * mask[i];
    }
    return 0;
}

double sao_model_mse(float *d_pred, const float *pred, const float *target, size_t count)
{
    if (count == 0) return 0.0;
    double sum = 0.0;
    for (size_t i = 0; i < count; i++) {
        double diff = (double)pred[i] - (double)target[i];
        sum += diff * diff;
        if (d_pred) d_pred[i] = (float)(2.0 * diff / (double)count);
    }
    return sum / (double)count;
}
