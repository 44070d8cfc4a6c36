/*
 * model internals shared by definition.c and saving.c: the model struct, its layers and
 * activation caches, and the seeded generator. Nothing outside src/model/ includes this header.
 */
#ifndef SAO_MODEL_INT_H
#define SAO_MODEL_INT_H

#include "model/model.h"

/* xoshiro256** seeded through splitmix64: fast, and the same stream on every platform. */
typedef struct sao_model__rng {
    uint64_t s[4];
} sao_model__rng;

void sao_model__rng_seed(sao_model__rng *rng, uint64_t seed);
uint64_t sao_model__rng_next(sao_model__rng *rng);
/* Uniform in [0, 1) with 24 random bits (every value exactly representable as a float). */
float sao_model__rng_uniform(sao_model__rng *rng);

/* One recurrent layer. Weights point into the model's flat arrays; the caches hold one
 * forward's activations, time-major ([time][batch][...]) so that each step's rows and the
 * "all steps but the first" block are contiguous for BLAS. */
typedef struct sao_model__layer {
    int input_size;
    const float *w_ih, *w_hh, *b_ih, *b_hh;
    float *g_w_ih, *g_w_hh, *g_b_ih, *g_b_hh;
    float *x;     /* [T*B, input_size]: the layer's input (below: dropped-out outputs) */
    float *gates; /* [T*B, G*H]: activated gates (LSTM i,f,g,o; GRU r,z,n) */
    float *h;     /* [T*B, H] */
    float *aux;   /* [T*B, H]: LSTM cell state c; GRU W_hn h + b_hn */
    float *mask;  /* [T*B, H]: dropout scale applied to this layer's output (not the top) */
} sao_model__layer;

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
    float *g_head_w, *g_head_b;
    sao_model__rng rng;

    /* The last forward's shape; rows = batch * time_steps, capacity in rows of the caches. */
    size_t batch, time_steps, cache_rows;
    int have_forward, forward_training;
    /* Backward scratch, [cache_rows, G*H] and [cache_rows, H]. */
    float *d_pre_x, *d_pre_h, *d_h, *d_below, *d_state;
};

#endif
