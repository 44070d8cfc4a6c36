/*
 * features: technical indicators over daily bars, computed in one pass per ticker, with TA-Lib
 * conventions. Warm-up values are NaN (stored as null), never zero.
 */
#ifndef SAO_FEATURES_H
#define SAO_FEATURES_H

#include "core/core.h"

/* Borrowed view of one ticker's bars (sorted by day). */
typedef struct sao_ohlcv_view {
    size_t count;
    const int64_t *day;
    const double *open;
    const double *high;
    const double *low;
    const double *close;
    const double *volume;
} sao_ohlcv_view;

/* Metadata for one stored feature column. */
typedef struct sao_feature_def {
    const char *name;        /* column name, e.g. "rsi_14" */
    const char *params;      /* "period=14" */
    const char *description; /* one line */
    int crypto_only;         /* only computed for crypto tickers */
    int proxy;               /* a price/volume proxy for a metric that needs other data */
} sao_feature_def;

/* Every feature column in storage order (the crypto-only ones last). */
const sao_feature_def *sao_features_defs(size_t *count);
/* Index of a feature by name, or -1. */
int sao_features_find(const char *name);

/* Column-major output: values[col * count + row]; NaN = null. */
typedef struct sao_feature_table {
    size_t count;   /* rows */
    size_t columns; /* features present (all non-crypto, plus crypto ones when requested) */
    double *values;
} sao_feature_table;

/* Computes every indicator for the bars; `crypto` adds the crypto-only proxies. */
int sao_features_compute(sao_feature_table *out, const sao_ohlcv_view *bars, int crypto);
void sao_feature_table_dispose(sao_feature_table *table);
static inline double *sao_feature_column(const sao_feature_table *t, size_t col)
{
    return t->values + col * t->count;
}

/* Single indicators, usable on their own. Outputs have `count` values, NaN during warm-up, and
 * must not overlap the inputs. Warm-up lengths are TA-Lib's (first value at index): SMA/EMA
 * period-1, RSI and ATR period, ADX 2*period-1, MACD slow+signal-2, stochastic
 * fastk+slowk+slowd-3, CCI and Bollinger period-1.
 *
 * A bar where an input the indicator reads is NaN or infinite gets NaN, and splits the series:
 * each run of usable bars is computed as a series of its own, so window indicators resume once
 * the gap leaves the window and recursive ones (EMA, RSI, ATR, ADX, OBV) warm up again.
 *
 * Where TA-Lib divides by zero on a window without movement it answers 0; here RSI and
 * stochastic read 50 (neutral), CCI 0, and ADX keeps its previous value (TA-Lib's rule). Zero
 * tests are exact, not TA-Lib's 1e-8, which misfires on sub-cent prices. Nothing returns inf. */
void sao_ind_sma(double *out, const double *in, size_t count, int period);
void sao_ind_ema(double *out, const double *in, size_t count, int period);
void sao_ind_rsi(double *out, const double *close, size_t count, int period);
void sao_ind_macd(double *macd, double *signal, double *hist, const double *close, size_t count,
                  int fast, int slow, int signal_period);
void sao_ind_bbands(double *upper, double *middle, double *lower, const double *close, size_t count,
                    int period, double nbdev);
void sao_ind_trange(double *out, const double *high, const double *low, const double *close,
                    size_t count);
void sao_ind_atr(double *out, const double *high, const double *low, const double *close,
                 size_t count, int period);
void sao_ind_adx(double *out, const double *high, const double *low, const double *close,
                 size_t count, int period);
void sao_ind_stoch(double *slowk, double *slowd, const double *high, const double *low,
                   const double *close, size_t count, int fastk, int slowk_period,
                   int slowd_period);
void sao_ind_cci(double *out, const double *high, const double *low, const double *close,
                 size_t count, int period);
void sao_ind_obv(double *out, const double *close, const double *volume, size_t count);
/* NATR: 100 * ATR / close (not stored; TA-Lib's regression values test ATR through it). */
void sao_ind_natr(double *out, const double *high, const double *low, const double *close,
                  size_t count, int period);
/* close / previous close - 1; NaN on a run's first bar and after a zero close. */
void sao_ind_return(double *out, const double *close, size_t count);
/* ln(close / previous close); NaN on a run's first bar and where a close is not positive. */
void sao_ind_log_return(double *out, const double *close, size_t count);
/* Sample standard deviation (ddof 1) of the last `period` daily log returns, so it needs
 * period+1 closes (first value at index `period`). Daily, not annualized. period >= 2. */
void sao_ind_volatility(double *out, const double *close, size_t count, int period);
/* Bollinger %B = (close - lower) / (upper - lower); 0.5 when the band has no width. */
void sao_ind_bb_pct_b(double *out, const double *close, const double *upper, const double *lower,
                      size_t count);
/* Bollinger bandwidth = (upper - lower) / middle; NaN when middle is 0. */
void sao_ind_bb_bandwidth(double *out, const double *upper, const double *middle,
                          const double *lower, size_t count);
/* Ichimoku lines computed on the bar they use (no forward shift): see advanced_indicators.c. */
void sao_ind_ichimoku(double *tenkan, double *kijun, double *senkou_a, double *senkou_b,
                      double *chikou, const double *high, const double *low, const double *close,
                      size_t count, int tenkan_period, int kijun_period, int senkou_b_period);
/* Crypto on-chain proxies from price and volume only (formulas in advanced_indicators.c).
 * `volume` is read as traded value in the quote currency, which is what Yahoo reports for
 * crypto pairs. First value at index max(activity_period, base_period) - 1, resp. period - 1. */
void sao_ind_nvt_proxy(double *out, const double *close, const double *volume, size_t count,
                       int activity_period, int base_period);
void sao_ind_mvrv_z_proxy(double *out, const double *close, const double *volume, size_t count,
                          int period);

#endif
