/*
 * model internals shared by the files of src/model/: the model struct, its layers, the per-slice
 * activation caches of data-parallel batches, the seeded generator, the activation functions and
 * the matrix kernels.
 * Nothing outside src/model/ includes this header.
 */
#ifndef SAO_MODEL_INT_H
#define SAO_MODEL_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "model/model.h"

/* xoshiro256** seeded through splitmix64: fast, and the same stream on every platform. */
typedef struct sao_model__rng {
    uint64_t s[4];
} sao_model__rng;

void sao_model__rng_seed(sao_model__rng *rng, uint64_t seed);
uint64_t sao_model__rng_next(sao_model__rng *rng);
/* Uniform in [0, 1) with 24 random bits (every value exactly representable as a float). */
float sao_model__rng_uniform(sao_model__rng *rng);

/* ---------------------------------------------------------------------------------------------
 * Activations. Branch-free, so that the gate loops vectorize, and far cheaper than libm's expf
 * and tanhf, which dominated the recurrent step. e^x for x clamped to [-87, 88] (results stay
 * normal floats): x = n ln2 + r with |r| <= ln2 / 2, e^r by a polynomial, 2^n put straight into
 * the exponent bits. Within 2 ulp of e^x there; NaN stays NaN. sigmoid and tanh are built on it,
 * within 1e-7 and 2e-7 of the exact values (tests/unit/model pins both); sigmoid(-inf) is
 * below 1e-38 rather than 0, sigmoid(+inf) is 1, tanh(+-inf) is +-1.
 */
static inline float sao_model__expf(float x)
{
    union {
        float f;
        uint32_t u;
    } k, scale;
    x = x < -87.0f ? -87.0f : x; /* NaN fails both comparisons and passes through */
    x = x > 88.0f ? 88.0f : x;
    /* Adding 1.5 * 2^23 rounds x / ln2 to the integer n, which lands in the low mantissa bits of
     * k: no float-to-int conversion, so NaN needs no special case. */
    k.f = x * 1.44269504088896341f + 12582912.0f;
    const float n = k.f - 12582912.0f;
    /* Cody-Waite: ln2 in two parts, the first short enough that n * hi is exact. */
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    scale.u = (k.u - 0x4B400000u + 127u) << 23;
    return p * scale.f;
}

static inline float sao_model__sigmoid(float x)
{
    return 1.0f / (1.0f + sao_model__expf(-x));
}

/* 2 sigmoid(2x) - 1: absolute error ~2e-7 near 0, where tanh x ~ x. */
static inline float sao_model__tanh(float x)
{
    return 2.0f / (1.0f + sao_model__expf(-2.0f * x)) - 1.0f;
}

/* ---------------------------------------------------------------------------------------------
 * Matrix products (kernels.c).
 */

/* C = beta C + A B, row-major: B [K, N] with row stride ldb, C [M, N] with row stride ldc, and
 * A(i, k) at a[i a_rs + k a_cs] where one of the two strides is 1 (A or A^T row-major). On
 * AVX-512 processors every element of C is summed in k order by the model's own kernel, so that
 * an element's value does not depend on M or on where its row falls; elsewhere OpenBLAS runs it
 * on the calling thread. */
void sao_model__gemm(size_t m, size_t n, size_t k, const float *a, size_t a_rs, size_t a_cs,
                     const float *b, size_t ldb, float beta, float *c, size_t ldc);
/* Whether sao_model__gemm runs the model's own kernel (1) or OpenBLAS (0). */
int sao_model__kernels(void);
/* Tests: asks for the own kernel (1, where the processor has AVX-512) or OpenBLAS (0); returns
 * the previous choice. Not to be called while a model runs. */
int sao_model__set_kernels(int own);

/* The recurrent product of one-window inference (sao_model_predict_one). A layer's gate units
 * are padded to a multiple of SAO_MODEL__LANES per gate, so that its G*H gate rows become
 * column vectors of LANES units that never straddle two gates; `pre` and `base` below are laid
 * out [G][padded H]. */
#define SAO_MODEL__LANES 16

/* Floats in a layer's packed recurrent weights (G = `gates`). */
size_t sao_model__recur_size(size_t gates, size_t hidden);
/* Packs W_hh [G*H, H] for sao_model__recur: column vectors grouped into passes, each pass's
 * weights contiguous and k-major, padding units zero. */
void sao_model__recur_pack(float *pack, const float *w_hh, size_t gates, size_t hidden);
/* pre = base + W_hh h for the first `based` gates, pre = W_hh h for the rest (base may be NULL
 * when based is 0). On the own kernel every element is summed as sao_model__gemm sums it in a
 * one-row product with beta 1 (with a base) or 0 (without), so the two give the same floats.
 * `backwards` runs the passes in reverse order, which changes no result (alternating it from
 * step to step keeps part of a large layer's weights in L1). */
void sao_model__recur(float *pre, const float *base, size_t based, const float *h,
                      const float *pack, size_t gates, size_t hidden, int backwards);

/* One inference step's gates and state over `padded` units, laid out as above: LSTM
 * h = o tanh(c), c = f c + i g from `pre` + `bias` (`cell` holds c_{t-1} on entry); GRU from r, z
 * (input projections added) and W_hn h_{t-1} in `pre`, n's input projection in `x_n`. They run
 * on AVX-512 with the own kernel, with the arithmetic of definition.c's generic loops op for op,
 * and return 1; otherwise they return 0 and the caller runs the generic loop. */
int sao_model__lstm_step(float *h, float *cell, const float *pre, const float *bias, size_t padded);
int sao_model__gru_step(float *h, const float *h_prev, const float *pre, const float *x_n,
                        const float *bias, const float *b_hn, size_t padded);

/* ---------------------------------------------------------------------------------------------
 * Layers and data-parallel slices.
 */

/* One recurrent layer's parameters: pointers into the model's flat weights, offsets of its
 * gradients within any gradient array of the model's layout. */
typedef struct sao_model__layer {
    int input_size;
    const float *w_ih, *w_hh, *b_ih, *b_hh;
    size_t g_w_ih, g_w_hh, g_b_ih, g_b_hh;
    /* [G*H]: b_ih + b_hh, summed once per forward (the GRU's n gate takes b_ih only: its b_hh
     * sits inside r * (W_hn h + b_hn)). */
    float *bias;
    /* [in, G*H] and [H, G*H]: W_ih^T and W_hh^T for the own kernel, refreshed each forward
     * (NULL with OpenBLAS, which reads W transposed itself). */
    float *wt_ih, *wt_hh;
} sao_model__layer;

/* One layer's activations for one slice, time-major ([time][row][...]) so that each step's rows
 * and the "all steps but the first" block are contiguous for BLAS. */
typedef struct sao_model__cache {
    float *x;      /* [T*b, input_size]: the layer's input (below: dropped-out outputs) */
    float *gates;  /* [T*b, G*H]: activated gates (LSTM i,f,g,o; GRU r,z,n) */
    float *h;      /* [T*b, H] */
    float *aux;    /* [T*b, H]: LSTM cell state c; GRU W_hn h + b_hn */
    float *tanh_c; /* [T*b, H]: LSTM tanh(c), kept for the backward pass (GRU: NULL) */
    float *mask;   /* [T*b, H]: dropout scale applied to this layer's output (not the top) */
} sao_model__cache;

/* A batch is cut into contiguous slices of rows, one per thread; each slice runs forward and
 * backward on its own caches with single-threaded BLAS. Slice 0 adds its gradient straight into
 * the model's; the others into their own arrays, summed into the model's in slice order. */
typedef struct sao_model__slice {
    size_t first, batch;     /* this forward's rows [first, first + batch) of the batch */
    size_t capacity;         /* rows (batch * time steps) the caches hold */
    sao_model__cache *cache; /* [num_layers] */
    /* Backward scratch: [rows, G*H] (d_pre_h: GRU only), [rows, H], and per step [batch, H]. */
    float *d_pre_x, *d_pre_h, *d_h, *d_state;
    float *narrow;   /* [in, G*H] for layers with few inputs (see weight_grad), else NULL */
    float *zeros;    /* [batch, H] of zeros: the state before the first step */
    float *colsum;   /* [G*H] bias gradient scratch */
    uint64_t *draws; /* dropout generator outputs of one step (see draw_masks) */
    float *grads;    /* [weight_count] for slices past the first; NULL for slice 0 */
} sao_model__slice;

typedef struct sao_model__pool sao_model__pool;
/* sao_model_predict_one's packed weights and scratch (definition.c). */
typedef struct sao_model__infer sao_model__infer;

struct sao_model {
    sao_model_config config;
    int gates; /* G: 4 for the LSTM, 3 for the GRU */
    sao_model_param *params;
    size_t param_count;
    float *weights;
    float *grads;
    size_t weight_count;
    sao_model__layer *layers;
    const float *head_w, *head_b;
    float *head_wt; /* [H, horizon]: head_w^T for the own kernel (as the layers' wt_*) */
    size_t g_head_w, g_head_b;
    sao_model__rng rng;

    /* The last forward: its shape, and the slices it was cut into (slice_count of them). */
    size_t batch, time_steps;
    int have_forward, forward_training;
    sao_model__slice *slices;
    int slice_capacity, slice_count;
    sao_model__pool *pool; /* threads besides the caller's, started on first need */

    /* Bumped whenever the weights may have changed (sao_model_weights hands out a pointer to
     * write them through): the inference packs are rebuilt when it moved since they were made.
     * Atomic, since reading the weights of a model that another thread runs is allowed. */
    atomic_uint_fast64_t weights_generation;
    sao_model__infer *infer; /* NULL until the first sao_model_predict_one */

    /* The job the slices run: arguments of the forward or backward in progress. */
    const float *job_inputs;
    float *job_out;
    const float *job_d_out;
    uint64_t job_mask_key;
};

#endif
