/*
 * pipelines: end-to-end jobs built from the lower modules. Ingestion: fetch or import bars,
 * validate, merge with what is stored, compute indicators, write the offline store. Training:
 * stored bars and indicators to stationary model inputs, train, evaluate, register a version.
 */
#ifndef SAO_PIPELINES_H
#define SAO_PIPELINES_H

#include "data/data.h"
#include "model/model.h"
#include "store/store.h"

typedef enum sao_ingest_source {
    SAO_SOURCE_YAHOO = 0,
    SAO_SOURCE_CSV
} sao_ingest_source;

typedef struct sao_ingest_options {
    sao_ingest_source source;
    const char *file;  /* CSV path for SAO_SOURCE_CSV */
    int64_t from_day;  /* INT64_MIN: from the last stored bar (minus the overlap) or the default */
    int64_t to_day;    /* INT64_MIN: up to today */
    int drop_invalid;  /* drop bad rows instead of rejecting the batch */
    int max_gap_days;  /* 0: the calendar's default */
    int quiet;         /* no per-ticker log lines */
} sao_ingest_options;

typedef struct sao_ingest_result {
    char ticker[SAO_TICKER_MAX + 1];
    sao_asset_class asset_class;
    size_t received;     /* bars read from the source (after skipping null bars) */
    size_t null_skipped; /* null bars skipped by the source parser */
    size_t dividends;
    size_t splits;
    size_t new_rows;     /* days not stored before */
    size_t updated_rows; /* stored days whose values changed */
    size_t total_rows;   /* rows stored now */
    int64_t first_day;
    int64_t last_day;
    int64_t fetch_from;  /* the range asked of the source */
    int64_t fetch_to;
    sao_validation_report validation;
    char bars_path[4096];
    char features_path[4096];
} sao_ingest_result;

void sao_ingest_options_init(sao_ingest_options *opts);
void sao_ingest_result_dispose(sao_ingest_result *res);
/* Ingests one ticker end to end. On any error nothing in the store changes; validation
 * failures are SAO_EVALIDATION with the details in res->validation. */
int sao_ingest_ticker(sao_ingest_result *res, const char *ticker, const sao_ingest_options *opts);
/* Merges `incoming` into `stored` (a day present in both takes the incoming values; unchanged
 * rows keep their `created` time, new and changed rows get `now_us`). Result sorted by day. */
void sao_ingest_merge(sao_bars *out, const sao_bars *stored, const sao_bars *incoming,
                      int64_t now_us, size_t *new_rows, size_t *updated_rows);

/* ---------------------------------------------------------------------------------------------
 * Training (training_pipeline.c). The model's inputs are stationary transforms of the stored
 * columns, never raw price levels: a price series leaves its training range in the later test
 * split, where a model fed levels extrapolates badly (on ^GSPC it scored about 2x worse than
 * persistence), while returns, ratios and bounded oscillators keep one distribution. The default
 * inputs, each recorded in model.json with its formula and source view:
 *
 *   log_return_1d        ln(close[t] / close[t-1])                    technical_daily
 *   log_volume_change    ln((volume[t] + 1) / (volume[t-1] + 1))      ohlcv_daily
 *   rsi_14_scaled        rsi_14 / 100                                 technical_daily
 *   macd_hist_rel        macd_hist / close                            technical_daily
 *   bb_pct_b             bb_pct_b                                     technical_daily
 *   volatility_20        volatility_20                                technical_daily
 *   atr_14_rel           atr_14 / close                               technical_daily
 */
typedef enum sao_transfer_mode {
    SAO_TRANSFER_FREEZE = 0,  /* recurrent layers frozen, the head trains */
    SAO_TRANSFER_FINETUNE = 1 /* everything trains at a tenth of the learning rate */
} sao_transfer_mode;

typedef struct sao_train_options {
    sao_model_config model;       /* input_size is set by the pipeline; sao_model_config_init */
    sao_prep_config prep;         /* sao_prep_config_init: 60 / 5, 70/15/15, returns */
    sao_model_train_config train; /* sao_model_train_config_init; progress on */
    const char *parent;           /* ticker whose serving model seeds the weights, or NULL */
    sao_transfer_mode transfer;
    sao_promote_policy promote;   /* if-better */
    int threads;                  /* model threads (sao_model_set_threads), 1 */
} sao_train_options;

typedef struct sao_train_result {
    char ticker[SAO_TICKER_MAX + 1];
    int version;          /* the version written */
    int serving;          /* whether it serves now */
    size_t rows;          /* bars read */
    size_t windows[3];    /* train, validation, test windows */
    double seconds;       /* training loop wall time */
    sao_model_history history;
    sao_model_card card;  /* what model.json holds (metrics in card.eval) */
    char model_dir[4096];
} sao_train_result;

void sao_train_options_init(sao_train_options *opts);
void sao_train_result_dispose(sao_train_result *res);
/* The default inputs' names ("log_return_1d", ...) and their count. */
const char *const *sao_train_input_names(size_t *count);
/* Trains a model for one ticker from the offline store, scores it on the test split, saves it
 * as the ticker's next version and promotes it per opts->promote. SAO_ENOENT when the ticker was
 * never ingested (or the parent has no serving model); SAO_EINVAL when the parent's inputs,
 * context or horizon differ from this run's; SAO_ENODATA when the series is too short for the
 * splits; errors of the store, preparation, training and registry otherwise. `res` is filled
 * (dispose it) on success only. */
int sao_train_ticker(sao_train_result *res, const char *ticker, const sao_train_options *opts);

/* ---------------------------------------------------------------------------------------------
 * Inference (inference_pipeline.c). A serving model per ticker, kept in memory and reloaded when
 * the ticker's registry.json points to another version (requests in flight finish on the model
 * they started with); the input window comes from the online store's window view in one round
 * trip (the raw columns the model inputs are computed from, as the training pipeline computes
 * them), is scaled with the model's scaler, run forward and turned back into prices for the
 * next `horizon` trading days of the ticker's calendar. Predictions can be cached in Redis under
 * a key that names the model version and the as-of bar, so a new bar or a new version is a miss.
 * Safe to call from many threads at once.
 */
#define SAO_FORECAST_MAX_HORIZON 64

typedef struct sao_forecast {
    char ticker[SAO_TICKER_MAX + 1];
    sao_asset_class asset_class;
    int64_t as_of_day;  /* the last bar of the input window */
    double last_close;  /* its close: the persistence baseline for every step */
    int horizon;
    int64_t day[SAO_FORECAST_MAX_HORIZON];     /* the trading days forecast */
    double close[SAO_FORECAST_MAX_HORIZON];    /* predicted closes */
    double drift[SAO_FORECAST_MAX_HORIZON];    /* the drift baseline's closes */
    char arch[8];       /* "lstm" / "gru" */
    int model_version;
    char parent_ticker[32]; /* "" when trained from scratch */
    int cached;         /* served from the prediction cache */
    double seconds;     /* time spent computing (or fetching from the cache) */
} sao_forecast;

typedef struct sao_inference_options {
    const sao_fs_repo *repo; /* borrowed; must outlive the engine */
    int connections;         /* online-store connections in the pool (0: 4) */
    int cache;               /* use the Redis prediction cache */
    long cache_ttl_s;        /* upper bound on a cached entry's life (0: 7 days) */
} sao_inference_options;

typedef struct sao_inference sao_inference;

void sao_inference_options_init(sao_inference_options *opts);
/* Creates the engine. The online store may be unreachable: calls then fail with SAO_ENET and
 * the pool reconnects by itself on later calls. */
int sao_inference_new(sao_inference **out, const sao_inference_options *opts);
void sao_inference_free(sao_inference *inf);
/* Forecasts `ticker` (validated, upper-cased). Errors: SAO_EINVAL bad ticker syntax;
 * SAO_ENOENT no serving model (the message says how to train one) or no online window (the
 * message says to materialize); SAO_ENET the online store is unreachable; SAO_ECORRUPT a model
 * or window that does not fit. `use_cache` 0 bypasses the cache for this call. */
int sao_inference_predict(sao_inference *inf, sao_forecast *out, const char *ticker,
                          int use_cache);
/* PINGs the online store through the pool: 0 when reachable, SAO_ENET otherwise. */
int sao_inference_ping(sao_inference *inf);
/* Models held in memory now (ticker, version, arch); *out: sao_free. */
typedef struct sao_inference_model_info {
    char ticker[SAO_TICKER_MAX + 1];
    int version;
    char arch[8];
} sao_inference_model_info;
int sao_inference_models(sao_inference_model_info **out, size_t *count, sao_inference *inf);
/* Loads the serving model of every ticker with a registry (at start-up); *loaded gets how many.
 * A ticker whose model fails to load is logged and skipped. */
int sao_inference_preload(sao_inference *inf, size_t *loaded);
/* Counters since the engine was created, for the caller's metrics. A cache error (a failed
 * GET or SET) never fails a prediction: it is only counted here. */
typedef struct sao_inference_stats {
    uint64_t predictions;     /* requests that reached the online store with a model */
    uint64_t cache_hits;
    uint64_t cache_misses;    /* cached lookups that ran the model */
    uint64_t cache_errors;
    uint64_t reloads;         /* versions loaded (first loads included) */
    uint64_t reload_failures; /* checks that failed while an older version kept serving */
} sao_inference_stats;
void sao_inference_get_stats(sao_inference_stats *out, sao_inference *inf);
/* Computes the default model inputs (sao_train_input_names order) for rows [0, rows) from the
 * raw columns, column-major [inputs x rows], exactly as training does; row 0 is NaN where an
 * input needs the previous row. */
void sao_train_compute_inputs(double *out, size_t rows, const double *close, const double *volume,
                              const double *log_return, const double *rsi, const double *macd_hist,
                              const double *bb_pct_b, const double *volatility, const double *atr);

/* ---------------------------------------------------------------------------------------------
 * Walk-forward backtest (training_pipeline.c, sao_eval_walk_forward) of a registered version's
 * configuration: the ticker's stored inputs up to the version's last day, and the card's
 * architecture, seed, window shape, target, scaler, split fractions, epochs run (early stopping
 * as in training), batch size, learning rate, shuffle seed and thread count. A version trained
 * from a parent is backtested as if from scratch.
 */
typedef struct sao_train_walk {
    sao_eval_walk *walk; /* the folds and the pooled score */
    int64_t *days;       /* [rows]: the date of each row the folds' bounds index */
    size_t rows;
    size_t first_row;    /* the first row with every input finite, where training data starts */
    size_t block;        /* windows per fold */
} sao_train_walk;

void sao_train_walk_dispose(sao_train_walk *walk);
/* `folds` blocks of `block` windows at the end of the series (block 0: the version's test-split
 * windows shared among the folds). `on_epoch` (may be NULL) sees every epoch of every fold, in
 * order; a fold starts at epoch 1. `out` is filled (dispose it) on success only. SAO_EINVAL when
 * the card's inputs are not the pipeline's or the blocks do not fit; SAO_ENOENT when the ticker
 * has no stored bars; errors of the store, preparation and training otherwise. */
int sao_train_walk_forward(sao_train_walk *out, const sao_model_card *card, int folds,
                           size_t block, sao_model_epoch_fn on_epoch, void *userdata);

#endif
