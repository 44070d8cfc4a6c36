/*
 * model: recurrent forecasters (LSTM, GRU) with a linear head, forward and backward over
 * OpenBLAS, the Adam optimizer, and safetensors files that PyTorch reads and writes.
 */
#ifndef SAO_MODEL_H
#define SAO_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ---------------------------------------------------------------------------------------------
 * Definition (definition.c).
 *
 * A model is `num_layers` stacked LSTM or GRU layers followed by a linear head that maps the top
 * layer's hidden state at the last time step to `horizon` outputs. Parameters carry PyTorch's
 * names, shapes and gate order, so that a module holding `self.lstm = nn.LSTM(...,
 * batch_first=True)` (or `self.gru`) and `self.head = nn.Linear(hidden, horizon)` has the same
 * state_dict:
 *
 *   lstm.weight_ih_l{k} [G*H, in_k]   lstm.weight_hh_l{k} [G*H, H]
 *   lstm.bias_ih_l{k}   [G*H]         lstm.bias_hh_l{k}   [G*H]
 *   head.weight         [horizon, H]  head.bias           [horizon]
 *
 * with G = 4 gates i,f,g,o for the LSTM and G = 3 gates r,z,n for the GRU ("gru." prefix), where
 * the GRU's candidate is n = tanh(W_in x + b_in + r * (W_hn h + b_hn)). Dropout (inverted,
 * training only) sits between recurrent layers, as nn.LSTM's `dropout` argument does.
 *
 * Everything is float32; a model's results are bit-identical for a given seed, input and
 * OpenBLAS thread count (set it with sao_model_set_threads).
 */
typedef enum sao_model_arch { SAO_MODEL_LSTM = 0, SAO_MODEL_GRU = 1 } sao_model_arch;

typedef struct sao_model_config {
    sao_model_arch arch;
    int input_size;  /* features per time step, 1..65536 */
    int hidden_size; /* 1..65536 */
    int num_layers;  /* 1..64 */
    int horizon;     /* outputs of the head, 1..65536 */
    float dropout;   /* between recurrent layers while training, [0, 1) */
    uint64_t seed;   /* parameter initialization and dropout masks */
} sao_model_config;

/* One named parameter tensor: a view into the model's flat weight and gradient arrays. */
typedef struct sao_model_param {
    char name[32];   /* "lstm.weight_ih_l0", "head.bias" */
    int ndim;        /* 1 or 2 */
    size_t shape[2]; /* shape[1] is 1 for vectors */
    size_t offset;   /* first element in sao_model_weights() / sao_model_grads() */
    size_t count;    /* shape[0] * shape[1] */
} sao_model_param;

typedef struct sao_model sao_model;

/* Fills `cfg` with defaults: LSTM, hidden 64, 2 layers, horizon 5, dropout 0.2, seed 42.
 * input_size is left 0 and must be set by the caller. */
void sao_model_config_init(sao_model_config *cfg);
/* "lstm" / "gru". */
const char *sao_model_arch_name(sao_model_arch arch);
/* Parses "lstm" or "gru"; SAO_EINVAL otherwise. */
int sao_model_arch_parse(const char *name, sao_model_arch *out);

/* Creates a model whose parameters are drawn as PyTorch draws them: every recurrent and head
 * parameter uniform in (-1/sqrt(H), 1/sqrt(H)), from a generator seeded by cfg->seed. Gradients
 * start at zero. SAO_EINVAL (with the offending field named) for a config out of range. */
int sao_model_new(sao_model **out, const sao_model_config *cfg);
void sao_model_free(sao_model *model);

/* The configuration the model was built with. Borrowed. */
const sao_model_config *sao_model_get_config(const sao_model *model);
/* The parameter tensors in state_dict order (layer by layer: weight_ih, weight_hh, bias_ih,
 * bias_hh; then head.weight, head.bias). Borrowed; `count` gets the number of tensors. */
const sao_model_param *sao_model_params(const sao_model *model, size_t *count);
/* The flat parameter and gradient arrays (same layout); `count` gets their length. Borrowed:
 * writing weights in place is how a loader or an optimizer updates the model. */
float *sao_model_weights(sao_model *model, size_t *count);
float *sao_model_grads(sao_model *model, size_t *count);
/* Sets every gradient to zero. */
void sao_model_zero_grad(sao_model *model);

/* Sets OpenBLAS's thread count (process-wide). Results are reproducible for a fixed count. */
void sao_model_set_threads(int threads);

/* Runs the model on `inputs` [batch, time_steps, input_size] (batch-major, as PyTorch's
 * batch_first=True) and writes `out` [batch, horizon]. With `training` set, dropout is applied
 * (drawing masks from the model's generator). The activations are kept for one following
 * sao_model_backward. SAO_EINVAL for an empty batch or sequence, or sizes past BLAS's int. */
int sao_model_forward(sao_model *model, float *out, const float *inputs, size_t batch,
                      size_t time_steps, int training);

/* Back-propagates `d_out` [batch, horizon] (dLoss/dOutput of the last forward) through time and
 * ADDS the gradient of every parameter to sao_model_grads() (call sao_model_zero_grad between
 * steps). SAO_ESTATE when no forward has run. */
int sao_model_backward(sao_model *model, const float *d_out);

/* Mean squared error of `pred` against `target` (count values, accumulated in double); when
 * `d_pred` is non-NULL it receives dLoss/dPred = 2 (pred - target) / count. */
double sao_model_mse(float *d_pred, const float *pred, const float *target, size_t count);

/* ---------------------------------------------------------------------------------------------
 * Optimization (training.c): Adam as PyTorch's torch.optim.Adam (weight decay added to the
 * gradient, bias-corrected moments), after clipping the gradient by its global L2 norm as
 * torch.nn.utils.clip_grad_norm_ does.
 */
typedef struct sao_model_adam_config {
    float learning_rate; /* 1e-3 */
    float beta1;         /* 0.9 */
    float beta2;         /* 0.999 */
    float eps;           /* 1e-8 */
    float weight_decay;  /* 0: none */
    float clip_norm;     /* 0: no clipping */
} sao_model_adam_config;

typedef struct sao_model_adam sao_model_adam;

void sao_model_adam_config_init(sao_model_adam_config *cfg);
/* An optimizer for `count` parameters (sao_model_weights' count). SAO_EINVAL for a
 * configuration out of range (learning rate <= 0, betas outside [0, 1), negative decay). */
int sao_model_adam_new(sao_model_adam **out, size_t count, const sao_model_adam_config *cfg);
void sao_model_adam_free(sao_model_adam *opt);
/* Changes the learning rate (for reduction on plateau). */
void sao_model_adam_set_learning_rate(sao_model_adam *opt, float learning_rate);
/* One update of the model's weights from its gradients (which are clipped in place, and not
 * cleared). *grad_norm, when non-NULL, gets the global norm before clipping. SAO_EINVAL when the
 * model's parameter count differs from the optimizer's; SAO_ERANGE when the gradient is not
 * finite (the weights are then left unchanged). */
int sao_model_adam_step(sao_model_adam *opt, sao_model *model, double *grad_norm);

/* ---------------------------------------------------------------------------------------------
 * Saving (saving.c): the safetensors format. An 8-byte little-endian header length, a JSON
 * header naming each tensor's dtype ("F32"), shape and data_offsets plus a "__metadata__" map
 * of strings (the architecture: arch, input_size, hidden_size, num_layers, horizon, dropout,
 * seed), then the tensors, little-endian, contiguous, in header order.
 */

/* Encodes the model; *out (free with sao_free) gets the bytes, *len their count. */
int sao_model_to_safetensors(char **out, size_t *len, const sao_model *model);
/* Builds a model from safetensors bytes: the architecture from "__metadata__", then every
 * tensor, which must be present exactly once with dtype F32 and the shape the architecture
 * implies, with offsets in bounds, not overlapping and covering the data exactly. Anything else
 * is SAO_ECORRUPT / SAO_EFORMAT / SAO_ETOOBIG with a message saying what is wrong. */
int sao_model_from_safetensors(sao_model **out, const void *data, size_t len);
/* Writes the model to `path` atomically (temp file, fsync, rename). */
int sao_model_save(const sao_model *model, const char *path);
/* Reads a model from `path` (at most 2 GiB). */
int sao_model_load(sao_model **out, const char *path);

#endif
