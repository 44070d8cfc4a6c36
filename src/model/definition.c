/*
 * definition: stacked LSTM and GRU layers with a linear head, their PyTorch-compatible
 * parameters and initialization, and forward and backward (BPTT) passes over kernels.c's matrix
 * products, a batch cut into slices that run on their own threads.
 */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "model/model_int.h"

/* No fused multiply-adds unless written as such: the generic and AVX-512 versions of the gate
 * loops then compute every element alike (GCC in ISO C mode already keeps them apart). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

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

/* ---------------------------------------------------------------------------------------------
 * Threads. sao_model_set_threads sets how many slices a batch is cut into; each slice runs on
 * its own thread with single-threaded BLAS. Tiny per-step products are where OpenBLAS's own
 * threads cost more than they bring, while slices need to meet only twice per batch.
 */
#define MAX_THREADS 64

static atomic_int model_threads = 1;

void sao_model_set_threads(int threads)
{
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    atomic_store(&model_threads, threads);
    openblas_set_num_threads(1);
}

typedef void (*slice_job)(sao_model *m, int index);

typedef struct pool_helper {
    sao_model__pool *pool;
    sao_model *model;
    int index; /* the slice it runs: 1.. */
} pool_helper;

struct sao_model__pool {
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    pthread_t *threads;
    pool_helper *helpers;
    int wanted;         /* helper threads asked for */
    int count;          /* helper threads started */
    atomic_ulong round; /* bumped (under the lock) for each job */
    atomic_int running; /* helpers still on the current round */
    atomic_int stop;
    slice_job job;
};

/* Waiting starts with a short spin (some tens of microseconds) before sleeping: a batch's
 * forward and backward follow each other within microseconds, and waking a sleeping thread
 * costs more than that, which on a small model is a good share of a step. */
#define SPIN_ROUNDS 4000

static void spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *pool_main(void *arg)
{
    pool_helper *helper = arg;
    sao_model__pool *pool = helper->pool;
    unsigned long seen = 0;
    for (;;) {
        for (int i = 0; i < SPIN_ROUNDS; i++) {
            if (atomic_load(&pool->round) != seen || atomic_load(&pool->stop)) break;
            spin_pause();
        }
        pthread_mutex_lock(&pool->lock);
        while (atomic_load(&pool->round) == seen && !atomic_load(&pool->stop))
            pthread_cond_wait(&pool->wake, &pool->lock);
        seen = atomic_load(&pool->round);
        slice_job job = pool->job;
        pthread_mutex_unlock(&pool->lock);
        if (atomic_load(&pool->stop)) break;
        if (helper->index < helper->model->slice_count) job(helper->model, helper->index);
        /* The last helper out wakes the caller, under the lock so that the caller cannot miss
         * it between checking `running` and going to sleep. */
        if (atomic_fetch_sub(&pool->running, 1) == 1) {
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->idle);
            pthread_mutex_unlock(&pool->lock);
        }
    }
    return NULL;
}

static void pool_free(sao_model__pool *pool)
{
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->stop, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->count; i++) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->idle);
    sao_free(pool->threads);
    sao_free(pool->helpers);
    sao_free(pool);
}

/* A pool of `helpers` threads for `m`; fewer when the system refuses threads (the slices they
 * would run then run on the caller: slower, never different). */
static sao_model__pool *pool_new(sao_model *m, int helpers)
{
    sao_model__pool *pool = sao_calloc(1, sizeof(*pool));
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->idle, NULL);
    atomic_init(&pool->round, 0);
    atomic_init(&pool->running, 0);
    atomic_init(&pool->stop, 0);
    pool->wanted = helpers;
    pool->threads = sao_calloc((size_t)helpers, sizeof(*pool->threads));
    pool->helpers = sao_calloc((size_t)helpers, sizeof(*pool->helpers));
    for (int i = 0; i < helpers; i++) {
        pool->helpers[i] = (pool_helper){pool, m, i + 1};
        if (pthread_create(&pool->threads[i], NULL, pool_main, &pool->helpers[i]) != 0) break;
        pool->count++;
    }
    return pool;
}

/* Runs job(m, s) for every slice s, in parallel when a pool can take them. Slices write
 * disjoint memory, so the outcome never depends on how they interleave. */
static void run_slices(sao_model *m, slice_job job)
{
    const int helpers = m->slice_count - 1;
    if (helpers > 0 && (!m->pool || m->pool->wanted < helpers)) {
        pool_free(m->pool);
        m->pool = pool_new(m, atomic_load(&model_threads) - 1);
    }
    sao_model__pool *pool = m->pool;
    if (helpers == 0 || pool->count < helpers) {
        for (int s = 0; s < m->slice_count; s++) job(m, s);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->job = job;
    atomic_store(&pool->running, pool->count);
    atomic_fetch_add(&pool->round, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    job(m, 0);
    for (int i = 0; i < SPIN_ROUNDS && atomic_load(&pool->running) > 0; i++) spin_pause();
    pthread_mutex_lock(&pool->lock);
    while (atomic_load(&pool->running) > 0) pthread_cond_wait(&pool->idle, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}

/* ---------------------------------------------------------------------------------------------
 * Construction.
 */
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
        layer->g_w_ih = p[0].offset;
        layer->g_w_hh = p[1].offset;
        layer->g_b_ih = p[2].offset;
        layer->g_b_hh = p[3].offset;
        layer->bias = sao_malloc(gate_rows * sizeof(float));
    }
    const sao_model_param *head = &m->params[4 * cfg->num_layers];
    m->head_w = m->weights + head[0].offset;
    m->head_b = m->weights + head[1].offset;
    m->g_head_w = head[0].offset;
    m->g_head_b = head[1].offset;

    /* PyTorch draws nn.LSTM/nn.GRU parameters and nn.Linear's (kaiming_uniform with a = sqrt(5),
     * whose bound reduces to 1/sqrt(fan_in)) from the same interval when fan_in = H. */
    sao_model__rng_seed(&m->rng, cfg->seed);
    const float bound = 1.0f / sqrtf((float)hidden);
    for (size_t i = 0; i < m->weight_count; i++)
        m->weights[i] = (2.0f * sao_model__rng_uniform(&m->rng) - 1.0f) * bound;

    *out = m;
    return 0;
}

static void slice_free_caches(const sao_model *m, sao_model__slice *s)
{
    if (s->cache) {
        for (int l = 0; l < m->config.num_layers; l++) {
            sao_model__cache *c = &s->cache[l];
            sao_free(c->x);
            sao_free(c->gates);
            sao_free(c->h);
            sao_free(c->aux);
            sao_free(c->tanh_c);
            sao_free(c->mask);
        }
        sao_free(s->cache);
    }
    sao_free(s->d_pre_x);
    sao_free(s->d_pre_h);
    sao_free(s->d_h);
    sao_free(s->narrow);
    sao_free(s->d_state);
    sao_free(s->zeros);
    sao_free(s->colsum);
    sao_free(s->draws);
    s->cache = NULL;
    s->d_pre_x = s->d_pre_h = s->d_h = s->narrow = s->d_state = s->zeros = s->colsum = NULL;
    s->draws = NULL;
    s->capacity = 0;
}

static void infer_free(sao_model__infer *inf);

void sao_model_free(sao_model *model)
{
    if (!model) return;
    pool_free(model->pool);
    for (int s = 0; s < model->slice_capacity; s++) {
        slice_free_caches(model, &model->slices[s]);
        sao_free(model->slices[s].grads);
    }
    sao_free(model->slices);
    for (int l = 0; l < model->config.num_layers; l++) {
        sao_free(model->layers[l].bias);
        sao_free(model->layers[l].wt_ih);
        sao_free(model->layers[l].wt_hh);
    }
    sao_free(model->layers);
    sao_free(model->head_wt);
    infer_free(model->infer);
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
    /* The caller may write through the pointer: the inference packs go stale. */
    atomic_fetch_add_explicit(&model->weights_generation, 1, memory_order_release);
    return model->weights;
}

void sao_model_weights_changed(sao_model *model)
{
    atomic_fetch_add_explicit(&model->weights_generation, 1, memory_order_release);
}

int sao_model_clone(sao_model **out, const sao_model *model)
{
    sao_model *m = NULL;
    int rc = sao_model_new(&m, &model->config);
    if (rc) return rc;
    memcpy(m->weights, model->weights, model->weight_count * sizeof(float));
    *out = m;
    return 0;
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

/* ---------------------------------------------------------------------------------------------
 * Matrix products (row-major), through sao_model__gemm.
 */

/* C = A W^T + beta C: A [M, K], a weight W [N, K] (row stride ldw) whose transpose the forward
 * packed into wt [K, N] (row stride ldwt) for the own kernel, NULL for OpenBLAS. */
static void gemm_wt(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *w,
                    size_t ldw, const float *wt, size_t ldwt, float beta, float *c, size_t ldc)
{
    if (wt)
        sao_model__gemm(m, n, k, a, lda, 1, wt, ldwt, beta, c, ldc);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, a,
                    (int)lda, w, (int)ldw, beta, c, (int)ldc);
}

/* C = A * B + beta * C: A [M, K], B [K, N]. */
static void gemm_nn(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                    size_t ldb, float beta, float *c, size_t ldc)
{
    sao_model__gemm(m, n, k, a, lda, 1, b, ldb, beta, c, ldc);
}

/* C += A^T * B: A [K, M], B [K, N], C [M, N] (a gradient summed over K rows). */
static void gemm_tn_acc(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                        size_t ldb, float *c, size_t ldc)
{
    sao_model__gemm(m, n, k, a, 1, lda, b, ldb, 1.0f, c, ldc);
}

/* Rows whose dropout generators run side by side (see draw_masks). */
#define MASK_LANES 8

/* Inputs narrower than this take their weight gradient transposed (see weight_grad). */
#define NARROW_INPUT 32

/* g_w [gc, in] += d_pre^T x over `rows` rows: d_pre [rows, gc], x [rows, in]. With few inputs
 * (the first layer's handful of features) the product runs as x^T d_pre into `narrow`
 * [in, gc] instead, which keeps the kernel's wide side on the gates, then adds transposed. */
static void weight_grad(float *g_w, const float *d_pre, const float *x, size_t rows, size_t gc,
                        size_t in, size_t ldx, float *narrow)
{
    if (in >= NARROW_INPUT) {
        sao_model__gemm(gc, in, rows, d_pre, 1, gc, x, ldx, 1.0f, g_w, in);
        return;
    }
    sao_model__gemm(in, gc, rows, x, 1, ldx, d_pre, gc, 0.0f, narrow, gc);
    for (size_t n = 0; n < gc; n++)
        for (size_t i = 0; i < in; i++) g_w[n * in + i] += narrow[i * gc + n];
}

/* dst [cols, rows] = src [rows, cols]^T, in blocks that stay in L1. The writes run along dst's
 * rows: writing down its columns instead strides by whole kilobytes, which maps every store of
 * a block onto the same few cache sets. */
static void transpose(float *restrict dst, const float *restrict src, size_t rows, size_t cols)
{
    enum { BLOCK = 16 };
    for (size_t c0 = 0; c0 < cols; c0 += BLOCK)
        for (size_t r0 = 0; r0 < rows; r0 += BLOCK) {
            const size_t r1 = r0 + BLOCK < rows ? r0 + BLOCK : rows;
            const size_t c1 = c0 + BLOCK < cols ? c0 + BLOCK : cols;
            for (size_t c = c0; c < c1; c++)
                for (size_t r = r0; r < r1; r++) dst[c * rows + r] = src[r * cols + c];
        }
}

/* ---------------------------------------------------------------------------------------------
 * Slices: the batch's rows [first, first + batch) and caches for `rows` = batch * steps.
 */
static void slice_reserve(const sao_model *m, sao_model__slice *s, size_t rows)
{
    if (rows <= s->capacity) return;
    slice_free_caches(m, s);
    const sao_model_config *cfg = &m->config;
    const size_t hidden = (size_t)cfg->hidden_size;
    const size_t gate_cols = (size_t)m->gates * hidden;
    const int lstm = cfg->arch == SAO_MODEL_LSTM;
    s->cache = sao_calloc((size_t)cfg->num_layers, sizeof(*s->cache));
    for (int l = 0; l < cfg->num_layers; l++) {
        sao_model__cache *c = &s->cache[l];
        c->x = sao_malloc(rows * (size_t)m->layers[l].input_size * sizeof(float));
        c->gates = sao_malloc(rows * gate_cols * sizeof(float));
        c->h = sao_malloc(rows * hidden * sizeof(float));
        c->aux = sao_malloc(rows * hidden * sizeof(float));
        if (lstm) c->tanh_c = sao_malloc(rows * hidden * sizeof(float));
        if (l + 1 < cfg->num_layers) c->mask = sao_malloc(rows * hidden * sizeof(float));
    }
    s->d_pre_x = sao_malloc(rows * gate_cols * sizeof(float));
    if (!lstm) s->d_pre_h = sao_malloc(rows * gate_cols * sizeof(float));
    s->d_h = sao_malloc(rows * hidden * sizeof(float));
    size_t narrow = 0; /* the widest layer input below NARROW_INPUT */
    for (int l = 0; l < cfg->num_layers; l++) {
        const size_t in = (size_t)m->layers[l].input_size;
        if (in < NARROW_INPUT && in > narrow) narrow = in;
    }
    if (narrow) s->narrow = sao_malloc(narrow * gate_cols * sizeof(float));
    /* One step's rows: rows >= batch, so rows * H always suffices. */
    s->d_state = sao_malloc(rows * hidden * sizeof(float));
    s->zeros = sao_calloc(rows * hidden, sizeof(float));
    s->colsum = sao_malloc(gate_cols * sizeof(float));
    s->draws = sao_malloc(MASK_LANES * ((hidden + 1) / 2) * sizeof(uint64_t));
    s->capacity = rows;
}

/* Cuts `batch` rows into min(threads, batch) slices of near-equal size. */
static void plan_slices(sao_model *m, size_t batch, size_t steps)
{
    size_t threads = (size_t)atomic_load(&model_threads);
    int count = (int)(batch < threads ? batch : threads);
    if (count > m->slice_capacity) {
        m->slices = sao_realloc(m->slices, (size_t)count * sizeof(*m->slices));
        memset(m->slices + m->slice_capacity, 0,
               (size_t)(count - m->slice_capacity) * sizeof(*m->slices));
        m->slice_capacity = count;
    }
    for (int i = 0; i < count; i++) {
        sao_model__slice *s = &m->slices[i];
        s->first = batch * (size_t)i / (size_t)count;
        s->batch = batch * (size_t)(i + 1) / (size_t)count - s->first;
        slice_reserve(m, s, s->batch * steps);
        if (i > 0 && !s->grads) s->grads = sao_malloc(m->weight_count * sizeof(float));
    }
    m->slice_count = count;
}

/* ---------------------------------------------------------------------------------------------
 * Forward.
 */

/* The gate loops get an AVX-512 version besides the generic one, picked when the program loads
 * (the build itself targets any x86-64): sixteen lanes and thirty-two registers instead of four
 * and sixteen. Both run the same operations per element, so they give the same results. */
/* ThreadSanitizer instruments the resolver that picks the version, which runs before its
 * runtime has started: such builds keep the generic loops. */
#if defined(__SANITIZE_THREAD__)
#define NO_CLONES 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NO_CLONES 1
#endif
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(NO_CLONES)
#define GATE_LOOP __attribute__((target_clones("avx512f", "default")))
#else
#define GATE_LOOP
#endif

/* One row of one LSTM step: gates from their pre-activations (input and recurrent products
 * already summed in `g`), then the cell and hidden state. */
GATE_LOOP static void lstm_cell(float *restrict g, float *restrict cell, float *restrict tanh_cell,
                                float *restrict h, const float *restrict c_prev,
                                const float *restrict bias, size_t hidden)
{
    float *restrict gi = g, *restrict gf = g + hidden, *restrict gg = g + 2 * hidden,
                    *restrict go = g + 3 * hidden;
    const float *restrict bi = bias, *restrict bf = bias + hidden, *restrict bg = bias + 2 * hidden,
                          *restrict bo = bias + 3 * hidden;
    for (size_t j = 0; j < hidden; j++) {
        float i = sao_model__sigmoid(gi[j] + bi[j]);
        float f = sao_model__sigmoid(gf[j] + bf[j]);
        float cand = sao_model__tanh(gg[j] + bg[j]);
        float o = sao_model__sigmoid(go[j] + bo[j]);
        float c = f * c_prev[j] + i * cand;
        float tc = sao_model__tanh(c);
        gi[j] = i;
        gf[j] = f;
        gg[j] = cand;
        go[j] = o;
        cell[j] = c;
        tanh_cell[j] = tc;
        h[j] = o * tc;
    }
}

static void lstm_forward(const sao_model *m, const sao_model__layer *layer, sao_model__cache *c,
                         const sao_model__slice *s, size_t steps)
{
    const size_t hidden = (size_t)m->config.hidden_size;
    const size_t gc = 4 * hidden;
    const size_t in = (size_t)layer->input_size;
    const size_t batch = s->batch;
    /* The input projection of every step at once: one large product instead of T small ones. */
    gemm_wt(batch * steps, gc, in, c->x, in, layer->w_ih, in, layer->wt_ih, gc, 0.0f, c->gates, gc);
    for (size_t t = 0; t < steps; t++) {
        float *g = c->gates + t * batch * gc;
        float *h = c->h + t * batch * hidden;
        float *cell = c->aux + t * batch * hidden;
        float *tc = c->tanh_c + t * batch * hidden;
        const float *c_prev = t ? cell - batch * hidden : s->zeros;
        if (t)
            gemm_wt(batch, gc, hidden, h - batch * hidden, hidden, layer->w_hh, hidden,
                    layer->wt_hh, gc, 1.0f, g, gc);
        for (size_t b = 0; b < batch; b++)
            lstm_cell(g + b * gc, cell + b * hidden, tc + b * hidden, h + b * hidden,
                      c_prev + b * hidden, layer->bias, hidden);
    }
}

GATE_LOOP static void gru_cell(float *restrict g, float *restrict hn, float *restrict h,
                               const float *restrict h_prev, const float *restrict bias,
                               const float *restrict b_hn, size_t hidden)
{
    float *restrict gr = g, *restrict gz = g + hidden, *restrict gn = g + 2 * hidden;
    const float *restrict br = bias, *restrict bz = bias + hidden, *restrict bn = bias + 2 * hidden;
    for (size_t j = 0; j < hidden; j++) {
        float r = sao_model__sigmoid(gr[j] + br[j]);
        float z = sao_model__sigmoid(gz[j] + bz[j]);
        float hnv = hn[j] + b_hn[j];
        float n = sao_model__tanh(gn[j] + bn[j] + r * hnv);
        gr[j] = r;
        gz[j] = z;
        gn[j] = n;
        hn[j] = hnv;
        h[j] = (1.0f - z) * n + z * h_prev[j];
    }
}

static void gru_forward(const sao_model *m, const sao_model__layer *layer, sao_model__cache *c,
                        const sao_model__slice *s, size_t steps)
{
    const size_t hidden = (size_t)m->config.hidden_size;
    const size_t gc = 3 * hidden;
    const size_t in = (size_t)layer->input_size;
    const size_t batch = s->batch;
    gemm_wt(batch * steps, gc, in, c->x, in, layer->w_ih, in, layer->wt_ih, gc, 0.0f, c->gates, gc);
    for (size_t t = 0; t < steps; t++) {
        float *g = c->gates + t * batch * gc;
        float *h = c->h + t * batch * hidden;
        float *hn = c->aux + t * batch * hidden;
        const float *h_prev = t ? h - batch * hidden : s->zeros;
        if (t) {
            /* r and z take W_h h straight into the gates; n needs W_hn h + b_hn on its own,
             * since r scales it. */
            const float *wt_n = layer->wt_hh ? layer->wt_hh + 2 * hidden : NULL;
            gemm_wt(batch, 2 * hidden, hidden, h_prev, hidden, layer->w_hh, hidden, layer->wt_hh,
                    gc, 1.0f, g, gc);
            gemm_wt(batch, hidden, hidden, h_prev, hidden, layer->w_hh + 2 * hidden * hidden,
                    hidden, wt_n, gc, 0.0f, hn, hidden);
        } else {
            memset(hn, 0, batch * hidden * sizeof(float));
        }
        for (size_t b = 0; b < batch; b++)
            gru_cell(g + b * gc, hn + b * hidden, h + b * hidden, h_prev + b * hidden, layer->bias,
                     layer->b_hh + 2 * hidden, hidden);
    }
}

/* Dropout masks of the slice's rows. Each row draws from its own generator, seeded by the
 * forward's key and the row's index in the batch, so a row's masks do not depend on how the
 * batch was cut or on which thread ran it. A row's draws go layer by layer, step by step, two
 * units per 64-bit output (its top 24 bits, then the next 24; an odd H leaves the second unused),
 * a unit kept when its 24 bits, read as a fraction, are at least the dropout rate. Rows go eight
 * at a time, their generators side by side in lanes, which the compiler turns into vector code
 * (on one row the generator's chain of dependent operations is the bottleneck). */
typedef struct mask_lanes {
    uint64_t s0[MASK_LANES], s1[MASK_LANES], s2[MASK_LANES], s3[MASK_LANES];
} mask_lanes;

/* One step of a layer for up to MASK_LANES rows [lanes rows, H] at `rows` (row stride H):
 * `pairs` = ceil(H / 2) outputs per lane into `draws` [MASK_LANES][pairs], then the units. */
GATE_LOOP static void mask_step(mask_lanes *restrict g, uint64_t *restrict draws, size_t pairs,
                                float *restrict rows, size_t lanes, size_t hidden,
                                uint64_t threshold, float keep_scale)
{
    for (size_t j = 0; j < pairs; j++)
        for (int q = 0; q < MASK_LANES; q++) {
            /* xoshiro256**, as sao_model__rng_next computes it. */
            const uint64_t s1 = g->s1[q], x = s1 * 5;
            draws[(size_t)q * pairs + j] = ((x << 7) | (x >> 57)) * 9;
            const uint64_t t = s1 << 17;
            uint64_t s2 = g->s2[q] ^ g->s0[q], s3 = g->s3[q] ^ s1;
            g->s1[q] = s1 ^ s2;
            g->s0[q] = g->s0[q] ^ s3;
            g->s2[q] = s2 ^ t;
            g->s3[q] = (s3 << 45) | (s3 >> 19);
        }
    const size_t even = hidden / 2;
    for (size_t q = 0; q < lanes; q++) {
        float *restrict row = rows + q * hidden;
        const uint64_t *restrict d = draws + q * pairs;
        for (size_t j = 0; j < even; j++) {
            row[2 * j] = (d[j] >> 40) >= threshold ? keep_scale : 0.0f;
            row[2 * j + 1] = ((d[j] >> 16) & 0xFFFFFFu) >= threshold ? keep_scale : 0.0f;
        }
        if (hidden % 2) row[hidden - 1] = (d[even] >> 40) >= threshold ? keep_scale : 0.0f;
    }
}

static void draw_masks(const sao_model *m, sao_model__slice *s)
{
    const sao_model_config *cfg = &m->config;
    const size_t hidden = (size_t)cfg->hidden_size;
    const size_t steps = m->time_steps, batch = s->batch;
    const size_t pairs = (hidden + 1) / 2;
    const float keep_scale = 1.0f / (1.0f - cfg->dropout);
    /* u / 2^24 >= p exactly when u >= ceil(p 2^24): p 2^24 is exact in double. */
    const uint64_t threshold = (uint64_t)ceil((double)cfg->dropout * 16777216.0);
    uint64_t *draws = s->draws;
    for (size_t b0 = 0; b0 < batch; b0 += MASK_LANES) {
        const size_t lanes = batch - b0 < MASK_LANES ? batch - b0 : MASK_LANES;
        mask_lanes g;
        for (size_t q = 0; q < MASK_LANES; q++) {
            sao_model__rng rng;
            /* Lanes past the slice's rows run on a copy of the first row's generator, unused. */
            const size_t row = s->first + b0 + (q < lanes ? q : 0);
            sao_model__rng_seed(&rng, m->job_mask_key + (uint64_t)row);
            g.s0[q] = rng.s[0];
            g.s1[q] = rng.s[1];
            g.s2[q] = rng.s[2];
            g.s3[q] = rng.s[3];
        }
        for (int l = 0; l + 1 < cfg->num_layers; l++)
            for (size_t t = 0; t < steps; t++)
                mask_step(&g, draws, pairs, s->cache[l].mask + (t * batch + b0) * hidden, lanes,
                          hidden, threshold, keep_scale);
    }
}

static void forward_slice(sao_model *m, int index)
{
    sao_model__slice *s = &m->slices[index];
    const sao_model_config *cfg = &m->config;
    const size_t hidden = (size_t)cfg->hidden_size;
    const size_t steps = m->time_steps, batch = s->batch, rows = batch * steps;
    const size_t features = (size_t)cfg->input_size;
    const int dropping = m->forward_training && cfg->dropout > 0.0f;

    /* Time-major copy of the slice's batch-major input. */
    float *x0 = s->cache[0].x;
    for (size_t b = 0; b < batch; b++)
        for (size_t t = 0; t < steps; t++)
            memcpy(x0 + (t * batch + b) * features,
                   m->job_inputs + ((s->first + b) * steps + t) * features,
                   features * sizeof(float));
    if (dropping) draw_masks(m, s);

    for (int l = 0; l < cfg->num_layers; l++) {
        sao_model__cache *c = &s->cache[l];
        if (cfg->arch == SAO_MODEL_LSTM)
            lstm_forward(m, &m->layers[l], c, s, steps);
        else
            gru_forward(m, &m->layers[l], c, s, steps);
        if (l + 1 == cfg->num_layers) break;
        float *restrict next = s->cache[l + 1].x;
        const float *restrict h = c->h, *restrict mask = c->mask;
        const size_t n = rows * hidden;
        if (dropping)
            for (size_t i = 0; i < n; i++) next[i] = h[i] * mask[i];
        else
            memcpy(next, h, n * sizeof(float));
    }

    const float *h_last = s->cache[cfg->num_layers - 1].h + (steps - 1) * batch * hidden;
    const size_t horizon = (size_t)cfg->horizon;
    float *out = m->job_out + s->first * horizon;
    for (size_t b = 0; b < batch; b++)
        memcpy(out + b * horizon, m->head_b, horizon * sizeof(float));
    gemm_wt(batch, horizon, hidden, h_last, hidden, m->head_w, hidden, m->head_wt, horizon, 1.0f,
            out, horizon);
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
    const size_t gc = (size_t)m->gates * hidden;
    const size_t widest = gc > (size_t)cfg->input_size ? gc : (size_t)cfg->input_size;
    if (time_steps > (size_t)INT_MAX / batch || batch * time_steps > (size_t)INT_MAX / widest)
        return sao_error_set(SAO_EINVAL, "model forward: batch %zu x %zu steps is too large", batch,
                             time_steps);

    m->batch = batch;
    m->time_steps = time_steps;
    m->forward_training = training;
    plan_slices(m, batch, time_steps);
    const int own_kernels = sao_model__kernels();
    for (int l = 0; l < cfg->num_layers; l++) {
        sao_model__layer *layer = &m->layers[l];
        const size_t summed = cfg->arch == SAO_MODEL_LSTM ? gc : 2 * hidden;
        for (size_t j = 0; j < summed; j++) layer->bias[j] = layer->b_ih[j] + layer->b_hh[j];
        for (size_t j = summed; j < gc; j++) layer->bias[j] = layer->b_ih[j];
        /* The own kernel wants the weights with N contiguous: transposed once per forward (the
         * weights change between steps), then read by every time step and slice. */
        if (own_kernels) {
            const size_t in = (size_t)layer->input_size;
            if (!layer->wt_ih) {
                layer->wt_ih = sao_malloc(in * gc * sizeof(float));
                layer->wt_hh = sao_malloc(hidden * gc * sizeof(float));
            }
            transpose(layer->wt_ih, layer->w_ih, gc, in);
            transpose(layer->wt_hh, layer->w_hh, gc, hidden);
        } else {
            sao_free(layer->wt_ih);
            sao_free(layer->wt_hh);
            layer->wt_ih = layer->wt_hh = NULL;
        }
    }
    const size_t horizon = (size_t)cfg->horizon;
    if (own_kernels) {
        if (!m->head_wt) m->head_wt = sao_malloc(hidden * horizon * sizeof(float));
        transpose(m->head_wt, m->head_w, horizon, hidden);
    } else {
        sao_free(m->head_wt);
        m->head_wt = NULL;
    }
    m->job_inputs = inputs;
    m->job_out = out;
    /* One draw per training forward keys every row's dropout generator. */
    if (training && cfg->dropout > 0.0f) m->job_mask_key = sao_model__rng_next(&m->rng);
    run_slices(m, forward_slice);
    m->have_forward = 1;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Inference: one window at a time, for serving. No activations are kept and nothing is
 * allocated per call: the weights are packed once (transposed, each gate's units padded to whole
 * vectors, the recurrent ones grouped as sao_model__recur reads them) and again only when their
 * generation moved, and a step is one recurrent product plus one loop that adds the biases,
 * applies the gates and updates the state. On the own kernel every value is the float the
 * training forward computes: the same products summed in the same order, the same gate code.
 */
typedef struct infer_layer {
    float *wt_ih; /* [in, G*P]: W_ih^T with zero columns for the padding units (P: padded H) */
    float *w_hh;  /* sao_model__recur_pack's layout */
    float *bias;  /* [G*P]: sao_model__layer.bias's sums, zero for the padding units */
    float *b_hn;  /* [P]: the GRU's b_hn (NULL for the LSTM) */
} infer_layer;

struct sao_model__infer {
    int packed;
    uint64_t generation; /* of the weights the packs were built from */
    size_t padded;       /* P */
    infer_layer *layers;
    float *head_wt;  /* [H, horizon] */
    void *packs;     /* the allocation the packs are carved from */
    size_t capacity; /* time steps the scratch holds */
    float *xproj;    /* [T, G*P]: a layer's input projection, every step */
    float *seq;      /* [T, P]: a layer's hidden states, the next layer's input */
    float *pre;      /* [G*P]: one step's gate pre-activations */
    float *state;    /* [P]: the LSTM's cell; the GRU's zero state before the first step */
    void *scratch;   /* the allocation the scratch is carved from */
};

/* Arrays are carved out of one allocation at cache-line boundaries: the recurrent weights are
 * read a whole line per vector. */
#define LINE 64

static size_t line_bytes(size_t floats)
{
    return (floats * sizeof(float) + LINE - 1) / LINE * LINE;
}

static char *line_block(void **raw, size_t bytes)
{
    *raw = sao_malloc(bytes + LINE - 1);
    return (char *)(((uintptr_t)*raw + LINE - 1) & ~(uintptr_t)(LINE - 1));
}

static float *carve(char **cursor, size_t floats)
{
    float *p = (float *)(void *)*cursor;
    *cursor += line_bytes(floats);
    return p;
}

static void infer_free(sao_model__infer *inf)
{
    if (!inf) return;
    sao_free(inf->packs);
    sao_free(inf->scratch);
    sao_free(inf->layers);
    sao_free(inf);
}

static void infer_pack(sao_model *m, uint64_t generation)
{
    const sao_model_config *cfg = &m->config;
    const size_t hidden = (size_t)cfg->hidden_size, gates = (size_t)m->gates;
    const size_t padded = (hidden + SAO_MODEL__LANES - 1) / SAO_MODEL__LANES * SAO_MODEL__LANES;
    const size_t gp = gates * padded, horizon = (size_t)cfg->horizon;
    const int gru = cfg->arch == SAO_MODEL_GRU;
    sao_model__infer *inf = m->infer;
    if (!inf) {
        inf = m->infer = sao_calloc(1, sizeof(*inf));
        inf->layers = sao_calloc((size_t)cfg->num_layers, sizeof(*inf->layers));
    }
    if (!inf->packs) {
        size_t bytes = line_bytes(hidden * horizon);
        for (int l = 0; l < cfg->num_layers; l++)
            bytes += line_bytes((size_t)m->layers[l].input_size * gp) +
                     line_bytes(sao_model__recur_size(gates, hidden)) + line_bytes(gp) +
                     (gru ? line_bytes(padded) : 0);
        char *cursor = line_block(&inf->packs, bytes);
        for (int l = 0; l < cfg->num_layers; l++) {
            infer_layer *il = &inf->layers[l];
            il->wt_ih = carve(&cursor, (size_t)m->layers[l].input_size * gp);
            il->w_hh = carve(&cursor, sao_model__recur_size(gates, hidden));
            il->bias = carve(&cursor, gp);
            il->b_hn = gru ? carve(&cursor, padded) : NULL;
        }
        inf->head_wt = carve(&cursor, hidden * horizon);
        inf->padded = padded;
    }
    for (int l = 0; l < cfg->num_layers; l++) {
        const sao_model__layer *layer = &m->layers[l];
        infer_layer *il = &inf->layers[l];
        const size_t in = (size_t)layer->input_size;
        for (size_t k = 0; k < in; k++)
            for (size_t g = 0; g < gates; g++)
                for (size_t u = 0; u < padded; u++)
                    il->wt_ih[k * gp + g * padded + u] =
                        u < hidden ? layer->w_ih[(g * hidden + u) * in + k] : 0.0f;
        sao_model__recur_pack(il->w_hh, layer->w_hh, gates, hidden);
        for (size_t g = 0; g < gates; g++)
            for (size_t u = 0; u < padded; u++) {
                const size_t j = g * hidden + u;
                /* As the training forward sums them: the GRU's n takes b_ih only. */
                il->bias[g * padded + u] = u >= hidden     ? 0.0f
                                           : gru && g == 2 ? layer->b_ih[j]
                                                           : layer->b_ih[j] + layer->b_hh[j];
            }
        if (gru)
            for (size_t u = 0; u < padded; u++)
                il->b_hn[u] = u < hidden ? layer->b_hh[2 * hidden + u] : 0.0f;
    }
    transpose(inf->head_wt, m->head_w, horizon, hidden);
    inf->generation = generation;
    inf->packed = 1;
}

static void infer_reserve(sao_model__infer *inf, size_t gp, size_t steps)
{
    if (steps <= inf->capacity) return;
    sao_free(inf->scratch);
    const size_t padded = inf->padded;
    char *cursor = line_block(&inf->scratch, line_bytes(steps * gp) + line_bytes(steps * padded) +
                                                 line_bytes(gp) + line_bytes(padded));
    inf->xproj = carve(&cursor, steps * gp);
    inf->seq = carve(&cursor, steps * padded);
    inf->pre = carve(&cursor, gp);
    inf->state = carve(&cursor, padded);
    inf->capacity = steps;
}

/* One LSTM step over the padded units: lstm_cell's arithmetic, with the biases added here and
 * only the state kept. `cell` holds c_{t-1} on entry, c_t on return. */
GATE_LOOP static void lstm_step(float *restrict h, float *restrict cell, const float *restrict pre,
                                const float *restrict bias, size_t padded)
{
    const float *restrict pi = pre, *restrict pf = pre + padded, *restrict pg = pre + 2 * padded,
                          *restrict po = pre + 3 * padded;
    const float *restrict bi = bias, *restrict bf = bias + padded, *restrict bg = bias + 2 * padded,
                          *restrict bo = bias + 3 * padded;
    for (size_t j = 0; j < padded; j++) {
        float i = sao_model__sigmoid(pi[j] + bi[j]);
        float f = sao_model__sigmoid(pf[j] + bf[j]);
        float cand = sao_model__tanh(pg[j] + bg[j]);
        float o = sao_model__sigmoid(po[j] + bo[j]);
        float c = f * cell[j] + i * cand;
        cell[j] = c;
        h[j] = o * sao_model__tanh(c);
    }
}

/* One GRU step: gru_cell's arithmetic. `pre` holds r and z with their input projections added,
 * then W_hn h_{t-1}; `x_n` is n's input projection. */
GATE_LOOP static void gru_step(float *restrict h, const float *restrict h_prev,
                               const float *restrict pre, const float *restrict x_n,
                               const float *restrict bias, const float *restrict b_hn,
                               size_t padded)
{
    const float *restrict pr = pre, *restrict pz = pre + padded, *restrict phn = pre + 2 * padded;
    const float *restrict br = bias, *restrict bz = bias + padded, *restrict bn = bias + 2 * padded;
    for (size_t j = 0; j < padded; j++) {
        float r = sao_model__sigmoid(pr[j] + br[j]);
        float z = sao_model__sigmoid(pz[j] + bz[j]);
        float hnv = phn[j] + b_hn[j];
        float n = sao_model__tanh(x_n[j] + bn[j] + r * hnv);
        h[j] = (1.0f - z) * n + z * h_prev[j];
    }
}

int sao_model_predict_one(sao_model *model, float *out, const float *inputs, size_t time_steps)
{
    sao_model *m = model;
    const sao_model_config *cfg = &m->config;
    if (time_steps == 0) return sao_error_set(SAO_EINVAL, "model prediction: empty window");
    const size_t hidden = (size_t)cfg->hidden_size, gates = (size_t)m->gates;
    const size_t features = (size_t)cfg->input_size, horizon = (size_t)cfg->horizon;
    const size_t padded = (hidden + SAO_MODEL__LANES - 1) / SAO_MODEL__LANES * SAO_MODEL__LANES;
    const size_t gp = gates * padded;
    const size_t widest = gp > features ? gp : features;
    if (time_steps > (size_t)INT_MAX / widest)
        return sao_error_set(SAO_EINVAL, "model prediction: a window of %zu steps is too long",
                             time_steps);

    const uint64_t generation = atomic_load_explicit(&m->weights_generation, memory_order_acquire);
    if (!m->infer || !m->infer->packed || m->infer->generation != generation)
        infer_pack(m, generation);
    sao_model__infer *inf = m->infer;
    infer_reserve(inf, gp, time_steps);

    const int gru = cfg->arch == SAO_MODEL_GRU;
    const size_t based = gru ? 2 : gates; /* gates whose input projection the product adds */
    const float *x = inputs;
    size_t in = features, ldx = features;
    for (int l = 0; l < cfg->num_layers; l++) {
        const infer_layer *il = &inf->layers[l];
        /* Every step's input projection in one product, as the training forward makes it. */
        sao_model__gemm(time_steps, gp, in, x, ldx, 1, il->wt_ih, gp, 0.0f, inf->xproj, gp);
        memset(inf->state, 0, padded * sizeof(float));
        for (size_t t = 0; t < time_steps; t++) {
            const float *xp = inf->xproj + t * gp;
            float *h = inf->seq + t * padded;
            const float *pre = xp; /* the first step has no recurrent term */
            if (t) {
                /* Alternate the passes' order (see sao_model__recur). */
                sao_model__recur(inf->pre, xp, based, h - padded, il->w_hh, gates, hidden,
                                 (int)(t & 1));
                pre = inf->pre;
            } else if (gru) {
                memcpy(inf->pre, xp, 2 * padded * sizeof(float));
                memset(inf->pre + 2 * padded, 0, padded * sizeof(float));
                pre = inf->pre;
            }
            if (gru) {
                const float *h_prev = t ? h - padded : inf->state;
                if (!sao_model__gru_step(h, h_prev, pre, xp + 2 * padded, il->bias, il->b_hn,
                                         padded))
                    gru_step(h, h_prev, pre, xp + 2 * padded, il->bias, il->b_hn, padded);
            } else if (!sao_model__lstm_step(h, inf->state, pre, il->bias, padded)) {
                lstm_step(h, inf->state, pre, il->bias, padded);
            }
        }
        x = inf->seq;
        in = hidden;
        ldx = padded;
    }
    memcpy(out, m->head_b, horizon * sizeof(float));
    sao_model__gemm(1, horizon, hidden, inf->seq + (time_steps - 1) * padded, padded, 1,
                    inf->head_wt, horizon, 1.0f, out, horizon);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Backward through time. A slice's `d_h` [T*b, H] holds dLoss/dh from above on entry (and is
 * consumed); the pre-activation gradients land in d_pre_x (and d_pre_h for the GRU), from which
 * the parameter gradients are summed with a few large products over every step at once.
 */
static void add_column_sums(float *restrict acc, const float *restrict rows_data, size_t rows,
                            size_t cols)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) acc[c] += rows_data[r * cols + c];
}

GATE_LOOP static void lstm_cell_backward(float *restrict dp, float *restrict d_c,
                                         const float *restrict g, const float *restrict tanh_cell,
                                         const float *restrict c_prev, const float *restrict d_h,
                                         size_t hidden)
{
    const float *restrict gi = g, *restrict gf = g + hidden, *restrict gg = g + 2 * hidden,
                          *restrict go = g + 3 * hidden;
    float *restrict di = dp, *restrict df = dp + hidden, *restrict dg = dp + 2 * hidden,
                    *restrict d_o = dp + 3 * hidden;
    for (size_t j = 0; j < hidden; j++) {
        float i = gi[j], f = gf[j], cand = gg[j], o = go[j];
        float tc = tanh_cell[j];
        float dh = d_h[j];
        float dc = d_c[j] + dh * o * (1.0f - tc * tc);
        di[j] = dc * cand * i * (1.0f - i);
        df[j] = dc * c_prev[j] * f * (1.0f - f);
        dg[j] = dc * i * (1.0f - cand * cand);
        d_o[j] = dh * tc * o * (1.0f - o);
        d_c[j] = dc * f;
    }
}

static void lstm_backward(const sao_model *m, const sao_model__layer *layer,
                          const sao_model__cache *c, sao_model__slice *s, float *grads)
{
    const size_t hidden = (size_t)m->config.hidden_size;
    const size_t gc = 4 * hidden;
    const size_t steps = m->time_steps, batch = s->batch;
    float *d_pre = s->d_pre_x;
    float *d_c = s->d_state; /* dLoss/dc of the step after the current one */
    memset(d_c, 0, batch * hidden * sizeof(float));
    for (size_t t = steps; t-- > 0;) {
        float *d_h = s->d_h + t * batch * hidden;
        if (t + 1 < steps)
            gemm_nn(batch, hidden, gc, d_pre + (t + 1) * batch * gc, gc, layer->w_hh, hidden, 1.0f,
                    d_h, hidden);
        const float *g = c->gates + t * batch * gc;
        const float *tc = c->tanh_c + t * batch * hidden;
        const float *c_prev = t ? c->aux + (t - 1) * batch * hidden : s->zeros;
        float *dp = d_pre + t * batch * gc;
        for (size_t b = 0; b < batch; b++)
            lstm_cell_backward(dp + b * gc, d_c + b * hidden, g + b * gc, tc + b * hidden,
                               c_prev + b * hidden, d_h + b * hidden, hidden);
    }
    const size_t rows = batch * steps;
    const size_t in = (size_t)layer->input_size;
    weight_grad(grads + layer->g_w_ih, d_pre, c->x, rows, gc, in, in, s->narrow);
    /* h_{t-1} of steps 1..T-1 is h of steps 0..T-2: one product, and step 0's is zero. */
    if (steps > 1)
        gemm_tn_acc(gc, hidden, rows - batch, d_pre + batch * gc, gc, c->h, hidden,
                    grads + layer->g_w_hh, hidden);
    /* Both biases enter the same sum, so their gradients are the same column sums. */
    memset(s->colsum, 0, gc * sizeof(float));
    add_column_sums(s->colsum, d_pre, rows, gc);
    float *g_b_ih = grads + layer->g_b_ih, *g_b_hh = grads + layer->g_b_hh;
    for (size_t j = 0; j < gc; j++) {
        g_b_ih[j] += s->colsum[j];
        g_b_hh[j] += s->colsum[j];
    }
}

GATE_LOOP static void gru_cell_backward(float *restrict dx, float *restrict dhh,
                                        float *restrict d_h_prev, const float *restrict g,
                                        const float *restrict hn, const float *restrict h_prev,
                                        const float *restrict d_h, size_t hidden)
{
    const float *restrict gr = g, *restrict gz = g + hidden, *restrict gn = g + 2 * hidden;
    for (size_t j = 0; j < hidden; j++) {
        float r = gr[j], z = gz[j], n = gn[j];
        float dh = d_h[j];
        float d_n = dh * (1.0f - z) * (1.0f - n * n);
        float d_z = dh * (h_prev[j] - n) * z * (1.0f - z);
        float d_r = d_n * hn[j] * r * (1.0f - r);
        dx[j] = d_r;
        dhh[j] = d_r;
        dx[hidden + j] = d_z;
        dhh[hidden + j] = d_z;
        dx[2 * hidden + j] = d_n;
        dhh[2 * hidden + j] = d_n * r;
        /* The direct path h' = ... + z * h. */
        d_h_prev[j] += dh * z;
    }
}

static void gru_backward(const sao_model *m, const sao_model__layer *layer,
                         const sao_model__cache *c, sao_model__slice *s, float *grads)
{
    const size_t hidden = (size_t)m->config.hidden_size;
    const size_t gc = 3 * hidden;
    const size_t steps = m->time_steps, batch = s->batch;
    float *d_px = s->d_pre_x; /* towards W_ih x + b_ih */
    float *d_ph = s->d_pre_h; /* towards W_hh h + b_hh (n's part scaled by r) */
    for (size_t t = steps; t-- > 0;) {
        float *d_h = s->d_h + t * batch * hidden;
        if (t + 1 < steps)
            gemm_nn(batch, hidden, gc, d_ph + (t + 1) * batch * gc, gc, layer->w_hh, hidden, 1.0f,
                    d_h, hidden);
        const float *g = c->gates + t * batch * gc;
        const float *hn = c->aux + t * batch * hidden;
        const float *h_prev = t ? c->h + (t - 1) * batch * hidden : s->zeros;
        /* Before the first step the gradient has nowhere to go: d_state takes it (unused). */
        float *d_h_prev = t ? d_h - batch * hidden : s->d_state;
        for (size_t b = 0; b < batch; b++)
            gru_cell_backward(d_px + (t * batch + b) * gc, d_ph + (t * batch + b) * gc,
                              d_h_prev + b * hidden, g + b * gc, hn + b * hidden,
                              h_prev + b * hidden, d_h + b * hidden, hidden);
    }
    const size_t rows = batch * steps;
    const size_t in = (size_t)layer->input_size;
    weight_grad(grads + layer->g_w_ih, d_px, c->x, rows, gc, in, in, s->narrow);
    if (steps > 1)
        gemm_tn_acc(gc, hidden, rows - batch, d_ph + batch * gc, gc, c->h, hidden,
                    grads + layer->g_w_hh, hidden);
    add_column_sums(grads + layer->g_b_ih, d_px, rows, gc);
    add_column_sums(grads + layer->g_b_hh, d_ph, rows, gc);
}

static void backward_slice(sao_model *m, int index)
{
    sao_model__slice *s = &m->slices[index];
    const sao_model_config *cfg = &m->config;
    const size_t steps = m->time_steps, batch = s->batch, rows = batch * steps;
    const size_t hidden = (size_t)cfg->hidden_size;
    const size_t horizon = (size_t)cfg->horizon;
    const size_t gc = (size_t)m->gates * hidden;
    const int dropped = m->forward_training && cfg->dropout > 0.0f;
    float *grads = index ? s->grads : m->grads;
    if (index) memset(grads, 0, m->weight_count * sizeof(float));

    /* Head: only the last step's top hidden state feeds it. */
    const float *d_out = m->job_d_out + s->first * horizon;
    const float *h_last = s->cache[cfg->num_layers - 1].h + (steps - 1) * batch * hidden;
    gemm_tn_acc(horizon, hidden, batch, d_out, horizon, h_last, hidden, grads + m->g_head_w,
                hidden);
    add_column_sums(grads + m->g_head_b, d_out, batch, horizon);
    memset(s->d_h, 0, (rows - batch) * hidden * sizeof(float));
    gemm_nn(batch, hidden, horizon, d_out, horizon, m->head_w, hidden, 0.0f,
            s->d_h + (steps - 1) * batch * hidden, hidden);

    for (int l = cfg->num_layers - 1; l >= 0; l--) {
        const sao_model__layer *layer = &m->layers[l];
        if (cfg->arch == SAO_MODEL_LSTM)
            lstm_backward(m, layer, &s->cache[l], s, grads);
        else
            gru_backward(m, layer, &s->cache[l], s, grads);
        if (l == 0) break;
        /* dLoss/d(input of this layer), through the dropout mask, is dLoss/dh of the one below. */
        gemm_nn(rows, hidden, gc, s->d_pre_x, gc, layer->w_ih, hidden, 0.0f, s->d_h, hidden);
        if (dropped) {
            float *restrict d_h = s->d_h;
            const float *restrict mask = s->cache[l - 1].mask;
            for (size_t i = 0; i < rows * hidden; i++) d_h[i] *= mask[i];
        }
    }
}

int sao_model_backward(sao_model *model, const float *d_out)
{
    sao_model *m = model;
    if (!m->have_forward)
        return sao_error_set(SAO_ESTATE, "model backward: no forward pass to differentiate");
    m->job_d_out = d_out;
    run_slices(m, backward_slice);
    /* Slice order, whatever order the threads finished in. */
    for (int s = 1; s < m->slice_count; s++) {
        float *restrict grads = m->grads;
        const float *restrict part = m->slices[s].grads;
        for (size_t i = 0; i < m->weight_count; i++) grads[i] += part[i];
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
