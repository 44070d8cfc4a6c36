/*
 * features internals shared by indicators.c, advanced_indicators.c and feature_table.c: the
 * split of a series into runs of usable bars, the rolling-window kernels, and one "run kernel"
 * per indicator. Nothing outside src/features/ includes this header.
 */
#ifndef SAO_FEATURES_INT_H
#define SAO_FEATURES_INT_H

#include "features/features.h"

/* Fills out[0..count) with NaN. */
void sao_features__fill_nan(double *out, size_t count);

/* A bar is usable when every input the indicator reads is finite. A bar that is not splits the
 * series: each maximal run of usable bars is computed as a series of its own (so a recursive
 * indicator warms up again after a gap instead of carrying NaN forever).
 *
 * Finds the next run at or after `from` among bars where all non-NULL `inputs` are finite, and
 * writes NaN to every non-NULL `outputs` array on the bars skipped on the way (up to `count`
 * when no run is left, then returns 0). Run kernels write the bars of their run. */
#define SAO_FEATURES_MAX_INPUTS 4
#define SAO_FEATURES_MAX_OUTPUTS 5
int sao_features__next_run(size_t *begin, size_t *end, size_t from, size_t count,
                           const double *const inputs[SAO_FEATURES_MAX_INPUTS],
                           double *const outputs[SAO_FEATURES_MAX_OUTPUTS]);

#define SAO_INPUTS(...) ((const double *const[SAO_FEATURES_MAX_INPUTS]){__VA_ARGS__})
#define SAO_OUTPUTS(...) ((double *const[SAO_FEATURES_MAX_OUTPUTS]){__VA_ARGS__})

/* Loops over the runs: `begin` and `end` (exclusive) name the run in the body, and every bar
 * outside the runs has been set to NaN in `outputs` once the loop ends. */
#define FOR_EACH_RUN(count, inputs, outputs, begin, end)                                           \
    for (size_t begin = 0, end = 0, from_ = 0;                                                     \
         sao_features__next_run(&begin, &end, from_, (count), (inputs), (outputs)); from_ = end)

/* Rolling mean (and, when `var` is non-NULL, variance with `ddof` 0 or 1) of the `period` values
 * ending at each index; indexes before period-1 are left untouched. Every value must be finite.
 * Sums are kept as deviations from an anchor that is reset, and the sums rebuilt from the
 * window, every `period` steps: O(1) amortized per value, no drift, and no catastrophic
 * cancellation for prices far from zero. The anchor is always a value of the current window,
 * so a flat window has a variance of exactly 0. */
void sao_features__rolling_moments(double *mean, double *var, const double *x, size_t count,
                                   int period, int ddof);

/* Highest of `high` and lowest of `low` over the `period` bars ending at each index >= period-1
 * (earlier indexes NaN). Every value must be finite. `scratch` holds 2 * count doubles. */
void sao_features__rolling_extremes(double *highest, double *lowest, const double *high,
                                    const double *low, size_t count, int period, double *scratch);

/* Run kernels: compute one indicator over `count` bars that are all usable, writing every one
 * of the `count` outputs (NaN during warm-up). The public sao_ind_* functions call them once per
 * run; sao_features_compute calls them directly, finding the runs once per input set. */
void sao_features__sma_run(double *out, const double *in, size_t count, int period);
void sao_features__ema_run(double *out, const double *in, size_t count, int period);
void sao_features__rsi_run(double *out, const double *close, size_t count, int period);
/* fast <= slow */
void sao_features__macd_run(double *macd, double *signal, double *hist, const double *close,
                            size_t count, int fast, int slow, int signal_period);
void sao_features__bbands_run(double *upper, double *middle, double *lower, const double *close,
                              size_t count, int period, double nbdev);
void sao_features__trange_run(double *out, const double *high, const double *low,
                              const double *close, size_t count);
void sao_features__atr_run(double *out, const double *high, const double *low, const double *close,
                           size_t count, int period);
void sao_features__adx_run(double *out, const double *high, const double *low, const double *close,
                           size_t count, int period);
void sao_features__stoch_run(double *slowk, double *slowd, const double *high, const double *low,
                             const double *close, size_t count, int fastk, int slowk_period,
                             int slowd_period);
void sao_features__cci_run(double *out, const double *high, const double *low, const double *close,
                           size_t count, int period);
void sao_features__obv_run(double *out, const double *close, const double *volume, size_t count);
void sao_features__return_run(double *out, const double *close, size_t count);
void sao_features__log_return_run(double *out, const double *close, size_t count);
/* Over a run of finite log returns. */
void sao_features__volatility_run(double *out, const double *log_returns, size_t count, int period);
void sao_features__ichimoku_run(double *tenkan, double *kijun, double *senkou_a, double *senkou_b,
                                double *chikou, const double *high, const double *low,
                                const double *close, size_t count, int tenkan_period,
                                int kijun_period, int senkou_b_period);

#endif
