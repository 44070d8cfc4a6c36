/*
 * Indicators built on the classic ones or on longer windows: Ichimoku, Bollinger %B and
 * bandwidth, and the crypto "on-chain" proxies, which stand in for blockchain metrics using
 * only price and volume.
 */
#include <math.h>

#include "features/features_int.h"

/* ---------------------------------------------------------------------------------------------
 * Ichimoku. Every line is stored on the bar whose data it uses, never on a bar it is drawn at:
 *   tenkan   = (highest high + lowest low) / 2 over `tenkan_period` bars ending at t
 *   kijun    = the same over `kijun_period` bars
 *   senkou_a = (tenkan + kijun) / 2, at t: the raw value a chart draws kijun_period bars ahead
 *   senkou_b = the midpoint over `senkou_b_period` bars, at t: also drawn ahead
 *   chikou   = close[t], which a chart draws kijun_period bars back
 * A value at t therefore uses bars up to t only; shifting the spans forward (or the chikou
 * back) is the chart's business, and storing the chart's view would put a future close on a
 * past row. The five lines share one warm-up, the first bar where the longest window is full
 * (index senkou_b_period-1 with the usual periods), so a row is complete or empty: the
 * convention of the reference library whose fixture the tests check.
 */

void sao_features__ichimoku_run(double *tenkan, double *kijun, double *senkou_a, double *senkou_b,
                                double *chikou, const double *high, const double *low,
                                const double *close, size_t count, int tenkan_period,
                                int kijun_period, int senkou_b_period)
{
    int longest = tenkan_period;
    if (kijun_period > longest) longest = kijun_period;
    if (senkou_b_period > longest) longest = senkou_b_period;
    size_t first = (size_t)longest - 1;
    size_t warm = first < count ? first : count;
    double *lines[5] = {tenkan, kijun, senkou_a, senkou_b, chikou};
    for (int i = 0; i < 5; i++) sao_features__fill_nan(lines[i], warm);
    if (count <= first) return;

    double *scratch = sao_malloc(4 * count * sizeof(double));
    double *highest = scratch, *lowest = scratch + count;
    const int periods[3] = {tenkan_period, kijun_period, senkou_b_period};
    double *const midpoints[3] = {tenkan, kijun, senkou_b};
    for (int line = 0; line < 3; line++) {
        sao_features__rolling_extremes(highest, lowest, high, low, count, periods[line],
                                       scratch + 2 * count);
        double *dst = midpoints[line];
        for (size_t t = first; t < count; t++) dst[t] = (highest[t] + lowest[t]) / 2.0;
    }
    for (size_t t = first; t < count; t++) {
        senkou_a[t] = (tenkan[t] + kijun[t]) / 2.0;
        chikou[t] = close[t];
    }
    sao_free(scratch);
}

void sao_ind_ichimoku(double *tenkan, double *kijun, double *senkou_a, double *senkou_b,
                      double *chikou, const double *high, const double *low, const double *close,
                      size_t count, int tenkan_period, int kijun_period, int senkou_b_period)
{
    SAO_ASSERT(tenkan_period >= 1 && kijun_period >= 1 && senkou_b_period >= 1);
    FOR_EACH_RUN(count, SAO_INPUTS(high, low, close),
                 SAO_OUTPUTS(tenkan, kijun, senkou_a, senkou_b, chikou), begin, end)
    {
        sao_features__ichimoku_run(tenkan + begin, kijun + begin, senkou_a + begin,
                                   senkou_b + begin, chikou + begin, high + begin, low + begin,
                                   close + begin, end - begin, tenkan_period, kijun_period,
                                   senkou_b_period);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Bollinger %B and bandwidth, from bands computed by sao_ind_bbands.
 */

void sao_ind_bb_pct_b(double *out, const double *close, const double *upper, const double *lower,
                      size_t count)
{
    for (size_t t = 0; t < count; t++) {
        double width = upper[t] - lower[t];
        /* A band of zero width means a flat window: the close sits on the middle line. A NaN
         * band (warm-up) gives NaN through the arithmetic. */
        out[t] = width != 0.0 ? (close[t] - lower[t]) / width : (isnan(close[t]) ? NAN : 0.5);
    }
}

void sao_ind_bb_bandwidth(double *out, const double *upper, const double *middle,
                          const double *lower, size_t count)
{
    for (size_t t = 0; t < count; t++)
        out[t] = middle[t] != 0.0 ? (upper[t] - lower[t]) / middle[t] : NAN;
}

/* ---------------------------------------------------------------------------------------------
 * Crypto on-chain proxies. The real metrics need the circulating supply, on-chain transfer
 * value and the price at which each coin last moved; we only have daily price and traded value
 * (Yahoo's crypto volume is quoted in the quote currency). So, and named as proxies:
 *
 *   nvt_proxy[t] = (close[t] / mean_base(close)) / (mean_act(volume) / mean_base(volume))
 *     NVT signal is market value over a 90-day mean of transaction value. With the supply
 *     unknown, market value is taken relative to its own one-year mean and transaction value
 *     (exchange turnover) relative to its own: a dimensionless ratio near 1, above 1 when
 *     price has outrun trading activity. Windows: act 90, base 365 bars.
 *
 *   mvrv_z_proxy[t] = (close[t] - realized) / stddev(close), both over `period` (365) bars
 *     realized = sum(volume) / sum(volume / close): the volume-weighted average price of the
 *     window (volume being traded value, volume/close is the units traded), standing in for
 *     the realized price; the population standard deviation of close over the same window
 *     stands in for that of market value. 0 when the window's closes are all equal.
 *
 * A window whose volume sums to zero gives NaN. Bars with a non-finite input split runs like
 * everywhere else; so does a close that is not positive, which leaves volume/close undefined.
 */

void sao_ind_nvt_proxy(double *out, const double *close, const double *volume, size_t count,
                       int activity_period, int base_period)
{
    SAO_ASSERT(activity_period >= 1 && base_period >= 1);
    size_t first = (size_t)(activity_period > base_period ? activity_period : base_period) - 1;
    double *scratch = sao_malloc((count ? 3 * count : 1) * sizeof(double));
    FOR_EACH_RUN(count, SAO_INPUTS(close, volume), SAO_OUTPUTS(out), begin, end)
    {
        size_t n = end - begin;
        double *dst = out + begin;
        sao_features__fill_nan(dst, first < n ? first : n);
        if (n <= first) continue;
        double *price_base = scratch, *value_act = scratch + n, *value_base = scratch + 2 * n;
        sao_features__rolling_moments(price_base, NULL, close + begin, n, base_period, 0);
        sao_features__rolling_moments(value_act, NULL, volume + begin, n, activity_period, 0);
        sao_features__rolling_moments(value_base, NULL, volume + begin, n, base_period, 0);
        for (size_t t = first; t < n; t++) {
            double denom = price_base[t] * value_act[t];
            dst[t] = (denom != 0.0 && value_base[t] != 0.0)
                         ? close[begin + t] * value_base[t] / denom
                         : NAN;
        }
    }
    sao_free(scratch);
}

void sao_ind_mvrv_z_proxy(double *out, const double *close, const double *volume, size_t count,
                          int period)
{
    SAO_ASSERT(period >= 1);
    size_t p = (size_t)period;
    double *scratch = sao_malloc((count ? 5 * count : 1) * sizeof(double));
    double *units = scratch + 4 * count;
    for (size_t t = 0; t < count; t++) units[t] = close[t] > 0.0 ? volume[t] / close[t] : NAN;
    FOR_EACH_RUN(count, SAO_INPUTS(close, volume, units), SAO_OUTPUTS(out), begin, end)
    {
        size_t n = end - begin;
        double *dst = out + begin;
        sao_features__fill_nan(dst, p - 1 < n ? p - 1 : n);
        if (n < p) continue;
        double *price_mean = scratch, *price_var = scratch + n, *value_mean = scratch + 2 * n;
        double *units_mean = scratch + 3 * n;
        sao_features__rolling_moments(price_mean, price_var, close + begin, n, period, 0);
        sao_features__rolling_moments(value_mean, NULL, volume + begin, n, period, 0);
        sao_features__rolling_moments(units_mean, NULL, units + begin, n, period, 0);
        for (size_t t = p - 1; t < n; t++) {
            if (units_mean[t] == 0.0) { /* no volume in the window */
                dst[t] = NAN;
                continue;
            }
            double realized = value_mean[t] / units_mean[t];
            double sd = sqrt(price_var[t]);
            dst[t] = sd > 0.0 ? (close[begin + t] - realized) / sd : 0.0;
        }
    }
    sao_free(scratch);
}
