/*
 * model: recurrent forecasters (LSTM, GRU) with a linear head, forward and backward over
 * OpenBLAS, the Adam optimizer and the training loop, evaluation against baselines, and
 * safetensors files that PyTorch reads and writes.
 */
#ifndef SAO_MODEL_H
#define SAO_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
 * Everything is float32; a model's results are bit-identical for a given seed, input, thread
 * count (sao_model_set_threads) and machine. With N threads a batch is cut into N contiguous
 * slices of rows that run forward and backward side by side, and their gradients are added up in
 * slice order. Dropout masks are drawn per row (from a key the model's generator gives each
 * training forward), so they never depend on the thread count. On processors with AVX-512 the
 * matrix products run on the model's own kernel, which sums every element in the same order
 * whatever the batch: there the forward outputs are the same at any thread count too, and only
 * the gradients' rounding differs between counts. Elsewhere OpenBLAS computes them.
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
 * writing weights in place is how a loader or an optimizer updates the model. Each call to
 * sao_model_weights counts as a change of the weights, which sao_model_predict_one packs anew on
 * its next call; a caller that writes through a pointer it obtained before the last
 * sao_model_predict_one calls sao_model_weights_changed (or sao_model_weights again) afterwards. */
float *sao_model_weights(sao_model *model, size_t *count);
float *sao_model_grads(sao_model *model, size_t *count);
/* Tells the model its weights were written (see sao_model_weights). */
void sao_model_weights_changed(sao_model *model);
/* A new model with `model`'s configuration and weights; gradients zero, no forward run. Reads
 * only the configuration and weights, so it may run while another thread runs a forward or a
 * prediction on `model`. */
int sao_model_clone(sao_model **out, const sao_model *model);
/* Sets every gradient to zero. */
void sao_model_zero_grad(sao_model *model);

/* Sets how many threads a model's forward and backward use (process-wide, 1..64; 1 until
 * called): each takes a slice of the batch's rows, with OpenBLAS kept to one thread (calling this
 * sets that too). A batch of fewer rows than threads uses one thread per row. Results are
 * reproducible for a fixed count. */
void sao_model_set_threads(int threads);

/* Runs the model on `inputs` [batch, time_steps, input_size] (batch-major, as PyTorch's
 * batch_first=True) and writes `out` [batch, horizon]. With `training` set, dropout is applied
 * (drawing masks from the model's generator). The activations are kept for one following
 * sao_model_backward. SAO_EINVAL for an empty batch or sequence, or sizes past BLAS's int. */
int sao_model_forward(sao_model *model, float *out, const float *inputs, size_t batch,
                      size_t time_steps, int training);

/* Runs the model on one window `inputs` [time_steps, input_size] and writes `out` [horizon], the
 * serving path: what sao_model_forward gives for a batch of one with training off, at a fraction
 * of the cost. It keeps no activations (a following sao_model_backward still differentiates the
 * last sao_model_forward) and allocates nothing once the model has run a window this long. The
 * weights are packed for it on the first call and again after they may have changed (see
 * sao_model_weights). With AVX-512 the outputs are the very floats sao_model_forward computes;
 * elsewhere they agree to rounding. One call at a time per model, as for sao_model_forward.
 * SAO_EINVAL for an empty window or one past BLAS's int. */
int sao_model_predict_one(sao_model *model, float *out, const float *inputs, size_t time_steps);

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

/* Huber loss with threshold `delta` (torch.nn.HuberLoss, mean reduction): per value
 * 0.5 e^2 when |e| <= delta, delta (|e| - 0.5 delta) otherwise, e = pred - target; `d_pred`
 * (when non-NULL) receives its gradient, e / count or delta sign(e) / count. */
double sao_model_huber(float *d_pred, const float *pred, const float *target, size_t count,
                       double delta);

/* ---------------------------------------------------------------------------------------------
 * The training loop (training.c): mini-batches shuffled within the training windows only,
 * Adam, MSE or Huber loss, the learning rate reduced on a validation plateau, and early stopping
 * that restores the weights of the best validation epoch. For a given model seed, shuffle seed
 * and thread count (sao_model_set_threads) the run is bit-identical on a given machine.
 */
typedef enum sao_model_loss { SAO_MODEL_LOSS_MSE = 0, SAO_MODEL_LOSS_HUBER = 1 } sao_model_loss;

/* Windows for the model: inputs [count, context_length, input_size] and targets [count,
 * horizon], batch-major, borrowed. */
typedef struct sao_model_windows {
    const float *inputs;
    const float *targets;
    size_t count;
    size_t context_length;
} sao_model_windows;

/* One epoch of the history. */
typedef struct sao_model_epoch {
    int epoch;            /* 1-based */
    double train_loss;    /* mean over the epoch's training windows (dropout on) */
    double val_loss;      /* over every validation window (dropout off) */
    double learning_rate; /* the rate the epoch trained with */
    double seconds;       /* wall time of the epoch, validation included */
    int improved;         /* the best validation loss so far */
} sao_model_epoch;

/* Called after each epoch; returning non-zero stops training (the best weights are restored
 * all the same). */
typedef int (*sao_model_epoch_fn)(const sao_model_epoch *epoch, void *userdata);

typedef struct sao_model_train_config {
    sao_model_adam_config adam; /* sao_model_adam_config_init's defaults */
    int epochs;                 /* 50 */
    size_t batch_size;          /* 32 */
    sao_model_loss loss;        /* MSE */
    double huber_delta;         /* 1.0, in target units: daily returns are ~0.01, so with
                                   return targets pick ~0.01 (at 1.0 Huber is MSE / 2) */
    uint64_t seed;              /* 42: the order of the training windows each epoch */
    double plateau_factor;      /* 0.5: lr *= factor after `plateau_patience` epochs ... */
    int plateau_patience;       /* 5: ... without a better validation loss; 0 disables */
    double min_learning_rate;   /* 1e-6: the plateau never goes below */
    int early_stopping;         /* 10: stop after this many epochs without improvement; 0 off */
    double min_delta;           /* 0: an improvement must lower the best loss by more than this */
    int progress;               /* 0: quiet; 1: sao_progress bar (terminal) or log lines */
    sao_model_epoch_fn on_epoch; /* optional */
    void *userdata;
    /* 0: every parameter trains. Otherwise the weights before this flat index (see
     * sao_model_params' offsets) are frozen: their gradients are dropped before clipping and
     * their values never change, weight decay included. Parameters come in state_dict order, so
     * the head's first offset freezes every recurrent layer and trains the head only. */
    size_t train_from;
} sao_model_train_config;

typedef struct sao_model_history {
    sao_model_epoch *epochs; /* one per epoch run */
    size_t count;
    int best_epoch;       /* 1-based epoch whose weights the model holds at the end */
    double best_val_loss;
    int stopped_early;    /* early stopping (or the callback) ended training */
} sao_model_history;

void sao_model_train_config_init(sao_model_train_config *cfg);
void sao_model_history_dispose(sao_model_history *history);

/* Trains `model` on `train`, monitoring `val`; the model ends with the weights of the epoch
 * with the lowest validation loss. `history` (may be NULL) is filled on success; dispose it.
 * SAO_EINVAL for an empty split, mismatched context lengths or a configuration out of range;
 * SAO_ERANGE when the loss or gradient stops being finite (the best weights so far are
 * restored); errors of forward/backward otherwise. */
int sao_model_train(sao_model *model, sao_model_history *history, const sao_model_windows *train,
                    const sao_model_windows *val, const sao_model_train_config *cfg);
/* Runs the model over every window, `batch_size` at a time, dropout off; `out` [count,
 * horizon]. */
int sao_model_predict(sao_model *model, float *out, const sao_model_windows *windows,
                      size_t batch_size);
/* The mean loss over every window (dropout off). */
int sao_model_loss_of(double *loss, sao_model *model, const sao_model_windows *windows,
                      sao_model_loss kind, double huber_delta, size_t batch_size);

/* ---------------------------------------------------------------------------------------------
 * Evaluation (evaluation.c), in price units, against two baselines a forecaster must beat:
 *
 *   persistence: every future close is the window's last close;
 *   drift:       the last close compounded by the training split's mean daily return,
 *                last * (1 + mean)^(k + 1) at horizon step k (0-based).
 *
 * For each of the three and each horizon step (and over all steps): MAE, RMSE, MAPE (percent of
 * the actual close) and directional accuracy, the share of forecasts whose change from the last
 * close has the sign of the actual change, among the forecasts that call a direction (a
 * predicted change of exactly zero calls none, and an actual change of zero fails every call).
 * Persistence never calls a direction, so its directional accuracy is NaN: there is nothing to
 * score, and a 0 or a 50% would both mislead.
 */
typedef struct sao_eval_metrics {
    double mae, rmse, mape, directional;     /* over every window and step */
    double *step_mae, *step_rmse, *step_mape; /* [horizon] */
    double *step_directional;                /* [horizon] */
} sao_eval_metrics;

typedef struct sao_eval_result {
    size_t windows;
    int horizon;
    double drift_return; /* the mean daily return the drift baseline compounds */
    sao_eval_metrics model, persistence, drift;
    /* model.mae < persistence.mae. Reported whichever way it falls: a model that loses to
     * "tomorrow = today" is the common case in this domain, and the caller must say so. */
    int beats_persistence;
    double mae_ratio; /* model.mae / persistence.mae (inf when persistence is exact) */
} sao_eval_result;

/* Scores `predicted` against `actual` (both [windows, horizon] prices, window-major) for
 * windows whose last close is `last_close[w]`. Every value must be finite and every close
 * positive (SAO_EINVAL otherwise, naming the window). *out is owned by the caller. */
int sao_eval_run(sao_eval_result **out, const double *last_close, const double *actual,
                 const double *predicted, size_t windows, int horizon, double drift_return);
void sao_eval_result_free(sao_eval_result *result);

struct sao_prep_data;
struct sao_prep_config;
/* Predicts every window of the prepared data's TEST split (and only it), turns the outputs back
 * into prices and scores them with sao_eval_run, the drift baseline taking the training split's
 * mean daily return. SAO_EINVAL when the model's input size or horizon differs from the data's. */
int sao_eval_test_split(sao_eval_result **out, sao_model *model,
                        const struct sao_prep_data *data, size_t batch_size);

/* Walk-forward backtest: `folds` consecutive blocks of `block` windows tile the end of the
 * series (the last block's last target is the last row). For each block, a fresh model (same
 * config and seed) is trained on every row before it: the history up to the block's first
 * window less a gap of `horizon` rows, divided between training and validation in the ratio of
 * prep->train_fraction to prep->val_fraction, with its own scaler; it then predicts the block.
 * Each fold's drift baseline uses that fold's training mean return. */
typedef struct sao_eval_fold {
    size_t train_end, val_end; /* the fold's R1 and R2 (see data.h's preparation) */
    size_t test_begin;         /* first row of the block's first window */
    size_t windows;            /* scored windows (a window with NaN is left out) */
    int best_epoch;
    double best_val_loss;
    double train_mean_return;
    double mae, persistence_mae;
} sao_eval_fold;

typedef struct sao_eval_walk {
    sao_eval_result *pooled; /* every fold's windows scored together; drift_return: the mean */
    sao_eval_fold *folds;
    int fold_count;
} sao_eval_walk;

/* `inputs` column-major [rows x features] and `close` as sao_prep_new takes them; the prep
 * config's fractions and explicit bounds are replaced per fold. SAO_EINVAL when the blocks do
 * not fit the rows; errors of preparation and training otherwise, wrapped with the fold. */
int sao_eval_walk_forward(sao_eval_walk **out, const double *inputs, const double *close,
                          size_t rows, size_t features, const struct sao_prep_config *prep,
                          const sao_model_config *model, const sao_model_train_config *train,
                          int folds, size_t block);
void sao_eval_walk_free(sao_eval_walk *walk);

/* Writes the table (one row per forecaster and step) and the verdict against persistence. */
void sao_eval_result_print(const sao_eval_result *result, FILE *out);

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

/* ---------------------------------------------------------------------------------------------
 * The registry (registry.c): versioned models per ticker under $SAO_HOME/models/<TICKER>/:
 *
 *   v<N>/model.safetensors   the weights (saving.c)
 *   v<N>/model.json          the model card below
 *   registry.json            {"ticker", "serving": N or null, "versions": [{"version", "created",
 *                            "val_loss", "test_mae", "mae_ratio", "parent"}, ...]}
 *
 * A new version's folder is written first (each file atomically), the registry last, so a crash
 * leaves at worst an unlisted folder that the next save skips past.
 */
#define SAO_CARD_QUANTILES 21 /* 0%, 5%, ..., 100% of the training rows */
#define SAO_CARD_NAME_MAX 48

/* One model input: how it is computed, how it was scaled, and its distribution over the
 * training rows (before scaling), the reference a drift monitor compares live values against. */
typedef struct sao_card_input {
    char name[SAO_CARD_NAME_MAX];    /* "log_return_1d" */
    char source[SAO_CARD_NAME_MAX];  /* the offline view its columns come from */
    char formula[128];               /* "ln(close[t] / close[t-1])" */
    double scaler_center, scaler_scale;
    double mean, std;
    double quantiles[SAO_CARD_QUANTILES];
} sao_card_input;

typedef enum sao_promote_policy {
    SAO_PROMOTE_ALWAYS = 0,
    SAO_PROMOTE_IF_BETTER = 1, /* validation loss not worse than the serving version's */
    SAO_PROMOTE_NEVER = 2
} sao_promote_policy;

typedef struct sao_model_card {
    char ticker[32];
    int version;                /* set by sao_registry_save */
    int64_t created_us;
    sao_model_config model;     /* architecture, sizes, dropout, seed */
    int context_length;
    char target[16];            /* "return" or "price" */
    /* Price targets: close = output * target_scale + target_center (the training split's close
     * scaler). Return targets: 0 and 1. NaN scale: not recorded (a card of an earlier version). */
    double target_center, target_scale;
    char scaler[16];            /* "standard" or "minmax" */
    sao_card_input *inputs;     /* [model.input_size], owned */
    int64_t first_day, last_day;     /* the rows the data covered */
    int64_t split_first[3], split_last[3]; /* input-row dates of train, val, test */
    double train_fraction, val_fraction;
    sao_eval_result *eval;      /* test-split metrics (owned, may be NULL) */
    double best_val_loss;
    int epochs_run, best_epoch;
    double *train_loss, *val_loss; /* [epochs_run], owned (may be NULL) */
    double learning_rate;
    size_t batch_size;
    uint64_t shuffle_seed;
    int threads;
    double train_seconds;
    char parent_ticker[32];     /* "" when trained from scratch */
    int parent_version;
    char transfer[16];          /* "freeze", "finetune" or "" */
} sao_model_card;

void sao_model_card_init(sao_model_card *card);
void sao_model_card_dispose(sao_model_card *card);
/* The card as model.json text (*out: sao_free). */
int sao_model_card_to_json(char **out, const sao_model_card *card);
/* Parses model.json text into `card` (initialized by the caller; disposed on error).
 * SAO_EPARSE for text that is not JSON, SAO_ECORRUPT naming the first missing or ill-typed
 * field. */
int sao_model_card_from_json(sao_model_card *card, const char *text, size_t len);

const char *sao_promote_policy_name(sao_promote_policy policy);
/* "always", "if-better", "never"; SAO_EINVAL otherwise. */
int sao_promote_policy_parse(const char *name, sao_promote_policy *out);

/* $SAO_HOME/models/<TICKER>[/v<N>] (version 0: the ticker's folder). */
int sao_registry_path(char *buf, size_t size, const char *ticker, int version);
/* Saves `model` as the ticker's next version (card->ticker names it; card->version and
 * created_us are set here), then updates registry.json: the new version serves when the policy
 * says so (if-better: its best_val_loss is not above the serving version's; with no serving
 * version it serves under always and if-better). *version gets the number, *serving whether it
 * serves. SAO_EINVAL when the card does not describe the model. */
int sao_registry_save(int *version, int *serving, const sao_model *model, sao_model_card *card,
                      sao_promote_policy policy);
/* The serving version (0 when none) and every stored version (ascending; *versions: sao_free).
 * SAO_ENOENT when the ticker has no registry. */
int sao_registry_versions(int **versions, size_t *count, int *serving, const char *ticker);
/* Reads version `version` (0: the serving one) of a ticker's card. SAO_ENOENT when there is no
 * such version (or none serves); SAO_ECORRUPT / SAO_EPARSE for a damaged model.json. */
int sao_registry_read_card(sao_model_card *card, const char *ticker, int version);
/* Reads a version's card and weights and checks they agree (architecture, sizes, inputs):
 * a mismatch is SAO_ECORRUPT saying which field. *model and *card belong to the caller. */
int sao_registry_load(sao_model **model, sao_model_card *card, const char *ticker, int version);

/* The ticker's training lock: $SAO_HOME/models/<TICKER>/.train.lock, flock()ed exclusively
 * without waiting, the holder's pid written in it. *fd gets the descriptor to hand to
 * sao_registry_unlock. SAO_ESTATE "training of <TICKER> is already running (pid N)" when another
 * holds it (in this process or another); SAO_EIO when the file cannot be opened or written. The
 * kernel releases it if the holder dies. */
int sao_registry_lock(int *fd, const char *ticker);
/* Releases the lock (fd < 0: nothing). */
void sao_registry_unlock(int fd);

#endif
