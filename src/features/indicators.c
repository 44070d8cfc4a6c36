/*
 * Classic indicators over daily bars (SMA, EMA, RSI, MACD, Bollinger, true range, ATR, ADX, slow
 * stochastic, CCI, OBV, returns, volatility), O(n) each, with TA-Lib's seeding and warm-up
 * lengths. Also the run splitting and rolling-window kernels the other feature files share.
 */
#include <math.h>

#include "features/features_int.h"

/* ---------------------------------------------------------------------------------------------
 * Shared kernels.
 */

void sao_features__fill_nan(double *out, size_t count)
{
    for (size_t i = 0; i < count; i++) out[i] = NAN;
}

/* Index of the first non-finite value of x in [from, limit), or limit. */
static size_t finite_until(const double *x, size_t from, size_t limit)
{
    size_t i = from;
    while (i < limit && isfinite(x[i])) i++;
    return i;
}

int sao_features__next_run(size_t *begin, size_t *end, size_t from, size_t count,
                           const double *const inputs[SAO_FEATURES_MAX_INPUTS],
                           double *const outputs[SAO_FEATURES_MAX_OUTPUTS])
{
    size_t first = from;
    for (;;) {
        /* The run starting at `first` ends where the first input stops being finite; each
         * input is scanned on its own, in one tight loop. */
        size_t stop = count;
        for (int k = 0; k < SAO_FEATURES_MAX_INPUTS && first < stop; k++)
            if (inputs[k]) stop = finite_until(inputs[k], first, stop);
        if (stop > first || first >= count) {
            for (int k = 0; k < SAO_FEATURES_MAX_OUTPUTS; k++)
                if (outputs[k]) sao_features__fill_nan(outputs[k] + from, first - from);
            if (first >= count) return 0;
            *begin = first;
            *end = stop;
            return 1;
        }
        first++;
    }
}

/* Sums of the window's deviations from `anchor`, rebuilt from scratch. */
static void window_sums(double *s1, double *s2, const double *window, size_t period, double anchor)
{
    double sum = 0.0, sum_sq = 0.0;
    for (size_t i = 0; i < period; i++) {
        double dev = window[i] - anchor;
        sum += dev;
        sum_sq += dev * dev;
    }
    *s1 = sum;
    *s2 = sum_sq;
}

void sao_features__rolling_moments(double *mean, double *var, const double *x, size_t count,
                                   int period, int ddof)
{
    SAO_ASSERT(period >= 1 && ddof >= 0 && ddof < period);
    size_t p = (size_t)period;
    if (count < p) return;
    double n = (double)period, inv_n = 1.0 / n, inv_dof = 1.0 / (n - ddof);
    double anchor = 0.0, s1 = 0.0, s2 = 0.0;
    size_t until_resync = 0;
    for (size_t t = p - 1; t < count; t++) {
        if (until_resync == 0) {
            /* Re-anchor on the newest value: deviations stay the size of the window's spread,
             * and whatever rounding the running sums gathered is thrown away. */
            anchor = x[t];
            window_sums(&s1, &s2, x + t + 1 - p, p, anchor);
            until_resync = p;
        } else {
            double in = x[t] - anchor, out = x[t - p] - anchor;
            s1 += in - out;
            s2 += (in - out) * (in + out);
        }
        until_resync--;
        /* Multiplying by reciprocals: a division per value would cost more than the rest. */
        mean[t] = anchor + s1 * inv_n;
        if (var) {
            /* With the anchor inside the window, s2/n exceeds the variance by at most the
             * squared range, so the subtraction loses little; the test only keeps a rounding
             * residue of a flat window from becoming a negative variance. */
            double ss = s2 - s1 * (s1 * inv_n);
            var[t] = ss > 0.0 ? ss * inv_dof : 0.0;
        }
    }
}

void sao_features__rolling_extremes(double *highest, double *lowest, const double *high,
                                    const double *low, size_t count, int period, double *scratch)
{
    SAO_ASSERT(period >= 1);
    size_t w = (size_t)period;
    if (count < w) {
        sao_features__fill_nan(highest, count);
        sao_features__fill_nan(lowest, count);
        return;
    }
    /* van Herk / Gil-Werman: cut the series into blocks of w; a window [s, s+w-1] spans the tail
     * of one block and the head of the next, so its extreme is the better of a suffix extreme
     * and a prefix extreme. Three branch-free passes whatever the data, where a monotonic deque
     * branches on every comparison. Prefix extremes go straight into the outputs. */
    double *suffix_high = scratch, *suffix_low = scratch + count;
    for (size_t block = 0; block < count; block += w) {
        size_t stop = block + w < count ? block + w : count;
        double h = high[block], l = low[block];
        highest[block] = h;
        lowest[block] = l;
        for (size_t i = block + 1; i < stop; i++) {
            h = high[i] > h ? high[i] : h;
            l = low[i] < l ? low[i] : l;
            highest[i] = h;
            lowest[i] = l;
        }
        h = high[stop - 1];
        l = low[stop - 1];
        suffix_high[stop - 1] = h;
        suffix_low[stop - 1] = l;
        for (size_t i = stop - 1; i-- > block;) {
            h = high[i] > h ? high[i] : h;
            l = low[i] < l ? low[i] : l;
            suffix_high[i] = h;
            suffix_low[i] = l;
        }
    }
    for (size_t t = count; t-- > w - 1;) {
        double sh = suffix_high[t + 1 - w], sl = suffix_low[t + 1 - w];
        highest[t] = highest[t] > sh ? highest[t] : sh;
        lowest[t] = lowest[t] < sl ? lowest[t] : sl;
    }
    sao_features__fill_nan(highest, w - 1);
    sao_features__fill_nan(lowest, w - 1);
}

/* ---------------------------------------------------------------------------------------------
 * Moving averages.
 */

void sao_features__sma_run(double *out, const double *in, size_t count, int period)
{
    size_t p = (size_t)period;
    sao_features__fill_nan(out, p - 1 < count ? p - 1 : count);
    sao_features__rolling_moments(out, NULL, in, count, period, 0);
}

void sao_ind_sma(double *out, const double *in, size_t count, int period)
{
    SAO_ASSERT(period >= 1);
    FOR_EACH_RUN(count, SAO_INPUTS(in), SAO_OUTPUTS(out), begin, end)
    {
        sao_features__sma_run(out + begin, in + begin, end - begin, period);
    }
}

/* TA-Lib's EMA: seeded with the mean of the first `period` values, first output at period-1. */
void sao_features__ema_run(double *out, const double *in, size_t count, int period)
{
    size_t p = (size_t)period;
    if (count < p) {
        sao_features__fill_nan(out, count);
        return;
    }
    sao_features__fill_nan(out, p - 1);
    /* ema + k * (x - ema) written as ema * (1 - k) + x * k: the loop-carried chain is one
     * multiply and one add instead of three operations. */
    double k = 2.0 / (period + 1.0), keep = 1.0 - k;
    double sum = 0.0;
    for (size_t i = 0; i < p; i++) sum += in[i];
    double ema = sum / period;
    out[p - 1] = ema;
    for (size_t t = p; t < count; t++) {
        ema = ema * keep + in[t] * k;
        out[t] = ema;
    }
}

void sao_ind_ema(double *out, const double *in, size_t count, int period)
{
    SAO_ASSERT(period >= 1);
    FOR_EACH_RUN(count, SAO_INPUTS(in), SAO_OUTPUTS(out), begin, end)
    {
        sao_features__ema_run(out + begin, in + begin, end - begin, period);
    }
}

/* ---------------------------------------------------------------------------------------------
 * RSI: Wilder's smoothing of gains and losses, seeded with their plain mean over the first
 * `period` changes (first output at index `period`), as TA-Lib does without an unstable period.
 */

static double rsi_value(double gain, double loss)
{
    double total = gain + loss;
    /* No movement at all: TA-Lib answers 0 ("oversold"), which would mislead a model; 50 is
     * the neutral reading. */
    return total != 0.0 ? 100.0 * (gain / total) : 50.0;
}

void sao_features__rsi_run(double *out, const double *close, size_t count, int period)
{
    size_t p = (size_t)period;
    if (count <= p) {
        sao_features__fill_nan(out, count);
        return;
    }
    sao_features__fill_nan(out, p);
    double n = period, inv_n = 1.0 / n, keep = (period - 1.0) / n;
    double gain = 0.0, loss = 0.0;
    for (size_t t = 1; t <= p; t++) {
        double change = close[t] - close[t - 1];
        gain += change > 0.0 ? change : 0.0;
        loss += change < 0.0 ? -change : 0.0;
    }
    gain /= n;
    loss /= n;
    out[p] = rsi_value(gain, loss);
    for (size_t t = p + 1; t < count; t++) {
        double change = close[t] - close[t - 1];
        /* Wilder: (prev * (n-1) + today) / n, as prev * (n-1)/n + today/n so that the
         * loop-carried chain is one multiply and one add (no division). */
        gain = gain * keep + (change > 0.0 ? change : 0.0) * inv_n;
        loss = loss * keep + (change < 0.0 ? -change : 0.0) * inv_n;
        out[t] = rsi_value(gain, loss);
    }
}

void sao_ind_rsi(double *out, const double *close, size_t count, int period)
{
    SAO_ASSERT(period >= 1);
    FOR_EACH_RUN(count, SAO_INPUTS(close), SAO_OUTPUTS(out), begin, end)
    {
        sao_features__rsi_run(out + begin, close + begin, end - begin, period);
    }
}

/* ---------------------------------------------------------------------------------------------
 * MACD as TA-Lib computes it: both EMAs start at the slow one's first bar (the fast EMA is
 * seeded with the mean of the `fast` closes ending there, not of the first `fast` closes), and
 * the signal EMA is seeded with the mean of the first `signal_period` MACD values. So the MACD
 * line is not ema_fast - ema_slow of the standalone EMAs during the first few hundred bars.
 */

void sao_features__macd_run(double *macd, double *signal, double *hist, const double *close,
                            size_t count, int fast, int slow, int signal_period)
{
    SAO_ASSERT(fast <= slow);
    size_t first_line = (size_t)slow - 1;
    size_t first_out = first_line + (size_t)signal_period - 1;
    size_t warm = first_out < count ? first_out : count;
    sao_features__fill_nan(macd, warm);
    sao_features__fill_nan(signal, warm);
    sao_features__fill_nan(hist, warm);
    if (count <= first_out) return;
    double k_fast = 2.0 / (fast + 1.0), k_slow = 2.0 / (slow + 1.0);
    double k_signal = 2.0 / (signal_period + 1.0);
    double keep_fast = 1.0 - k_fast, keep_slow = 1.0 - k_slow, keep_signal = 1.0 - k_signal;

    double sum_fast = 0.0, sum_slow = 0.0;
    for (size_t i = 0; i <= first_line; i++) sum_slow += close[i];
    for (size_t i = first_line + 1 - (size_t)fast; i <= first_line; i++) sum_fast += close[i];
    double ema_fast = sum_fast / fast, ema_slow = sum_slow / slow;
    double line = ema_fast - ema_slow;
    double sum_line = line;
    for (size_t t = first_line + 1; t <= first_out; t++) {
        ema_fast = ema_fast * keep_fast + close[t] * k_fast;
        ema_slow = ema_slow * keep_slow + close[t] * k_slow;
        line = ema_fast - ema_slow;
        sum_line += line;
    }
    double sig = sum_line / signal_period;
    macd[first_out] = line;
    signal[first_out] = sig;
    hist[first_out] = line - sig;
    for (size_t t = first_out + 1; t < count; t++) {
        ema_fast = ema_fast * keep_fast + close[t] * k_fast;
        ema_slow = ema_slow * keep_slow + close[t] * k_slow;
        line = ema_fast - ema_slow;
        sig = sig * keep_signal + line * k_signal;
        macd[t] = line;
        signal[t] = sig;
        hist[t] = line - sig;
    }
}

void sao_ind_macd(double *macd, double *signal, double *hist, const double *close, size_t count,
                  int fast, int slow, int signal_period)
{
    SAO_ASSERT(fast >= 1 && slow >= 1 && signal_period >= 1);
    if (slow < fast) { /* TA-Lib swaps them too */
        int tmp = slow;
        slow = fast;
        fast = tmp;
    }
    FOR_EACH_RUN(count, SAO_INPUTS(close), SAO_OUTPUTS(macd, signal, hist), begin, end)
    {
        sao_features__macd_run(macd + begin, signal + begin, hist + begin, close + begin,
                               end - begin, fast, slow, signal_period);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Bollinger bands: SMA middle, population standard deviation (TA-Lib's BBANDS with matype SMA).
 */

void sao_features__bbands_run(double *upper, double *middle, double *lower, const double *close,
                              size_t count, int period, double nbdev)
{
    size_t p = (size_t)period;
    size_t warm = p - 1 < count ? p - 1 : count;
    sao_features__fill_nan(upper, warm);
    sao_features__fill_nan(middle, warm);
    sao_features__fill_nan(lower, warm);
    /* The variance lands in `upper` first: no scratch buffer needed. */
    sao_features__rolling_moments(middle, upper, close, count, period, 0);
    for (size_t t = p - 1; t < count; t++) {
        double width = nbdev * sqrt(upper[t]);
        upper[t] = middle[t] + width;
        lower[t] = middle[t] - width;
    }
}

void sao_ind_bbands(double *upper, double *middle, double *lower, const double *close, size_t count,
                    int period, double nbdev)
{
    SAO_ASSERT(period >= 1);
    FOR_EACH_RUN(count, SAO_INPUTS(close), SAO_OUTPUTS(upper, middle, lower), begin, end)
    {
        sao_features__bbands_run(upper + begin, middle + begin, lower + begin, close + begin,
                                 end - begin, period, nbdev);
    }
}

/* ---------------------------------------------------------------------------------------------
 * True range, ATR (Wilder), NATR.
 */

static double true_range(double high, double low, double prev_close)
{
    double range = high - low;
    double up = fabs(high - prev_close), down = fabs(low - prev_close);
    range = up > range ? up : range;
    return down > range ? down : range;
}

void sao_features__trange_run(double *out, const double *high, const double *low,
                              const double *close, size_t count)
{
    if (count == 0) return;
    out[0] = NAN;
    for (size_t t = 1; t < count; t++) out[t] = true_range(high[t], low[t], close[t - 1]);
}

void sao_ind_trange(double *out, const double *high, const double *low, const double *close,
                    size_t count)
{
    FOR_EACH_RUN(count, SAO_INPUTS(high, low, close), SAO_OUTPUTS(out), begin, end)
    {
        sao_features__trange_run(out + begin, high + begin, low + begin, close + begin,
                                 end - begin);
    }
}

/* Seeded with the mean of the first `period` true ranges (bars 1..period), then Wilder. */
void sao_features__atr_run(double *out, const double *high, const double *low, const double *close,
                           size_t count, int period)
{
    size_t p = (size_t)period;
    if (count <= p) {
        sao_features__fill_nan(out, count);
        return;
    }
    sao_features__fill_nan(out, p);
    double n = period, inv_n = 1.0 / n, keep = (period - 1.0) / n;
    double sum = 0.0;
    for (size_t t = 1; t <= p; t++) sum += true_range(high[t], low[t], close[t - 1]);
    double atr = sum / n;
    out[p] = atr;
    for (size_t t = p + 1; t < count; t++) {
        atr = atr * keep + true_range(high[t], low[t], close[t - 1]) * inv_n;
        out[t] = atr;
    }
}

void sao_ind_atr(double *out, const double *high, const double *low, const double *close,
                 size_t count, int period)
{
    SAO_ASSERT(period >= 1);
    FOR_EACH_RUN(count, SAO_INPUTS(high, low, close), SAO_OUTPUTS(out), begin, end)
    {
        sao_features__atr_run(out + begin, high + begin, low + begin, close + begin, end - begin,
                              period);
    }
}

void sao_ind_natr(double *out, const double *high, const double *low, const double *close,
                  size_t count, int period)
{
    sao_ind_atr(out, high, low, close, count, period);
    for (size_t t = 0; t < count; t++)
        if (!isnan(out[t])) out[t] = close[t] != 0.0 ? (out[t] / close[t]) * 100.0 : NAN;
}

/* ---------------------------------------------------------------------------------------------
 * ADX in TA-Lib's sequence: the first period-1 directional movements and true ranges are
 * summed, then Wilder-smoothed as running sums (prev - prev/n + today); DX over the next
 * `period` bars is averaged into the first ADX (index 2*period-1), then Wilder again. A bar
 * where the smoothed true range or the DI sum is zero contributes no DX, as in TA-Lib (which
 * tests against 1e-8 instead of exact zero: that threshold misfires on sub-cent prices).
 */

typedef struct adx_state {
    double plus_dm, minus_dm, tr;
} adx_state;

/* Adds bar t's directional movement and true range to the running sums, after scaling them by
 * `retain` (1 while summing, (n-1)/n for Wilder's prev - prev/n). */
static void adx_step(adx_state *st, const double *high, const double *low, const double *close,
                     size_t t, double retain)
{
    double up = high[t] - high[t - 1];
    double down = low[t - 1] - low[t];
    double plus = (up > 0.0 && up > down) ? up : 0.0;
    double minus = (down > 0.0 && up < down) ? down : 0.0;
    st->plus_dm = st->plus_dm * retain + plus;
    st->minus_dm = st->minus_dm * retain + minus;
    st->tr = st->tr * retain + true_range(high[t], low[t], close[t - 1]);
}

/* DX of the current sums; returns 0 when it is undefined. DX = 100 |-DI - +DI| / (-DI + +DI)
 * where each DI is 100 * DM / TR: the true range cancels, leaving one division. */
static int adx_dx(double *dx, const adx_state *st)
{
    double sum = st->minus_dm + st->plus_dm;
    if (st->tr == 0.0 || sum == 0.0) return 0;
    *dx = 100.0 * fabs(st->minus_dm - st->plus_dm) / sum;
    return 1;
}

void sao_features__adx_run(double *out, const double *high, const double *low, const double *close,
                           size_t count, int period)
{
    size_t p = (size_t)period;
    size_t first = 2 * p - 1;
    if (count <= first) {
        sao_features__fill_nan(out, count);
        return;
    }
    sao_features__fill_nan(out, first);
    double n = period, inv_n = 1.0 / n, retain = (period - 1.0) / n;
    adx_state st = {0.0, 0.0, 0.0};
    size_t t = 1;
    for (; t < p; t++) adx_step(&st, high, low, close, t, 1.0);
    double sum_dx = 0.0, dx;
    for (; t <= first; t++) {
        adx_step(&st, high, low, close, t, retain);
        if (adx_dx(&dx, &st)) sum_dx += dx;
    }
    double adx = sum_dx * inv_n;
    out[first] = adx;
    for (; t < count; t++) {
        adx_step(&st, high, low, close, t, retain);
        if (adx_dx(&dx, &st)) adx = adx * retain + dx * inv_n;
        out[t] = adx;
    }
}

void sao_ind_adx(double *out, const double *high, const double *low, const double *close,
                 size_t count, int period)
{
    SAO_ASSERT(period >= 1);
    FOR_EACH_RUN(count, SAO_INPUTS(high, low, close), SAO_OUTPUTS(out), begin, end)
    {
        sao_features__adx_run(out + begin, high + begin, low + begin, close + begin, end - begin,
                              period);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Slow stochastic (TA-Lib's STOCH with SMA smoothing): fast %K over `fastk` bars, slow %K its
 * SMA, slow %D the SMA of that. Both outputs start at the same bar, fastk-1 + slowk-1 +
 * slowd-1, as in TA-Lib.
 */

void sao_features__stoch_run(double *slowk, double *slowd, const double *high, const double *low,
                             const double *close, size_t count, int fastk, int slowk_period,
                             int slowd_period)
{
    size_t first_fast = (size_t)fastk - 1;
    size_t first_slowk = first_fast + (size_t)slowk_period - 1;
    size_t first_out = first_slowk + (size_t)slowd_period - 1;
    if (count <= first_out) {
        sao_features__fill_nan(slowk, count);
        sao_features__fill_nan(slowd, count);
        return;
    }
    double *scratch = sao_malloc(5 * count * sizeof(double));
    double *highest = scratch, *lowest = scratch + count, *fast_k = scratch + 2 * count;
    sao_features__rolling_extremes(highest, lowest, high, low, count, fastk, scratch + 3 * count);
    for (size_t t = first_fast; t < count; t++) {
        /* TA-Lib's form (divide the range by 100, then the distance by that); a window with no
         * range reads 50, the neutral value, where TA-Lib answers 0. */
        double range = (highest[t] - lowest[t]) / 100.0;
        fast_k[t] = range != 0.0 ? (close[t] - lowest[t]) / range : 50.0;
    }
    /* Smooth into the outputs, then clear what TA-Lib does not output yet. */
    sao_features__rolling_moments(slowk + first_fast, NULL, fast_k + first_fast, count - first_fast,
                                  slowk_period, 0);
    sao_features__rolling_moments(slowd + first_slowk, NULL, slowk + first_slowk,
                                  count - first_slowk, slowd_period, 0);
    sao_features__fill_nan(slowk, first_out);
    sao_features__fill_nan(slowd, first_out);
    sao_free(scratch);
}

void sao_ind_stoch(double *slowk, double *slowd, const double *high, const double *low,
                   const double *close, size_t count, int fastk, int slowk_period, int slowd_period)
{
    SAO_ASSERT(fastk >= 1 && slowk_period >= 1 && slowd_period >= 1);
    FOR_EACH_RUN(count, SAO_INPUTS(high, low, close), SAO_OUTPUTS(slowk, slowd), begin, end)
    {
        sao_features__stoch_run(slowk + begin, slowd + begin, high + begin, low + begin,
                                close + begin, end - begin, fastk, slowk_period, slowd_period);
    }
}

/* ---------------------------------------------------------------------------------------------
 * CCI: typical price against its SMA, scaled by 0.015 times the mean absolute deviation. The
 * deviation needs the whole window for every bar (no running form exists), so this one costs
 * O(period) per bar, kept cheap with independent accumulators.
 */

static double sum_abs_dev(const double *window, size_t period, double center)
{
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
    size_t i = 0;
    for (; i + 4 <= period; i += 4) {
        a0 += fabs(window[i] - center);
        a1 += fabs(window[i + 1] - center);
        a2 += fabs(window[i + 2] - center);
        a3 += fabs(window[i + 3] - center);
    }
    for (; i < period; i++) a0 += fabs(window[i] - center);
    return (a0 + a1) + (a2 + a3);
}

void sao_features__cci_run(double *out, const double *high, const double *low, const double *close,
                           size_t count, int period)
{
    size_t p = (size_t)period;
    if (count < p) {
        sao_features__fill_nan(out, count);
        return;
    }
    sao_features__fill_nan(out, p - 1);
    double *typical = sao_malloc(2 * count * sizeof(double));
    double *mean = typical + count;
    double scale = period / 0.015;
    for (size_t t = 0; t < count; t++) typical[t] = (high[t] + low[t] + close[t]) / 3.0;
    sao_features__rolling_moments(mean, NULL, typical, count, period, 0);
    for (size_t t = p - 1; t < count; t++) {
        double dev = typical[t] - mean[t];
        double abs_dev = sum_abs_dev(typical + t + 1 - p, p, mean[t]);
        /* dev / (0.015 * abs_dev / period) with one division; a flat window has no deviation:
         * 0, as TA-Lib. */
        out[t] = (dev != 0.0 && abs_dev != 0.0) ? dev * scale / abs_dev : 0.0;
    }
    sao_free(typical);
}

void sao_ind_cci(double *out, const double *high, const double *low, const double *close,
                 size_t count, int period)
{
    SAO_ASSERT(period >= 1);
    FOR_EACH_RUN(count, SAO_INPUTS(high, low, close), SAO_OUTPUTS(out), begin, end)
    {
        sao_features__cci_run(out + begin, high + begin, low + begin, close + begin, end - begin,
                              period);
    }
}

/* ---------------------------------------------------------------------------------------------
 * OBV: starts at the first bar's volume (TA-Lib), then adds or subtracts each bar's volume as
 * the close rises or falls; an unchanged close leaves it as it is.
 */

void sao_features__obv_run(double *out, const double *close, const double *volume, size_t count)
{
    if (count == 0) return;
    double obv = volume[0];
    out[0] = obv;
    for (size_t t = 1; t < count; t++) {
        double sign = (close[t] > close[t - 1]) - (close[t] < close[t - 1]);
        obv += sign * volume[t];
        out[t] = obv;
    }
}

void sao_ind_obv(double *out, const double *close, const double *volume, size_t count)
{
    FOR_EACH_RUN(count, SAO_INPUTS(close, volume), SAO_OUTPUTS(out), begin, end)
    {
        sao_features__obv_run(out + begin, close + begin, volume + begin, end - begin);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Returns and volatility.
 */

void sao_features__return_run(double *out, const double *close, size_t count)
{
    if (count == 0) return;
    out[0] = NAN;
    for (size_t t = 1; t < count; t++)
        out[t] = close[t - 1] != 0.0 ? close[t] / close[t - 1] - 1.0 : NAN;
}

void sao_ind_return(double *out, const double *close, size_t count)
{
    FOR_EACH_RUN(count, SAO_INPUTS(close), SAO_OUTPUTS(out), begin, end)
    {
        sao_features__return_run(out + begin, close + begin, end - begin);
    }
}

void sao_features__log_return_run(double *out, const double *close, size_t count)
{
    if (count == 0) return;
    out[0] = NAN;
    for (size_t t = 1; t < count; t++)
        out[t] = (close[t] > 0.0 && close[t - 1] > 0.0) ? log(close[t] / close[t - 1]) : NAN;
}

void sao_ind_log_return(double *out, const double *close, size_t count)
{
    FOR_EACH_RUN(count, SAO_INPUTS(close), SAO_OUTPUTS(out), begin, end)
    {
        sao_features__log_return_run(out + begin, close + begin, end - begin);
    }
}

void sao_features__volatility_run(double *out, const double *log_returns, size_t count, int period)
{
    size_t p = (size_t)period;
    if (count < p) {
        sao_features__fill_nan(out, count);
        return;
    }
    sao_features__fill_nan(out, p - 1);
    double *mean = sao_malloc(count * sizeof(double));
    sao_features__rolling_moments(mean, out, log_returns, count, period, 1);
    for (size_t t = p - 1; t < count; t++) out[t] = sqrt(out[t]);
    sao_free(mean);
}

void sao_ind_volatility(double *out, const double *close, size_t count, int period)
{
    SAO_ASSERT(period >= 2);
    double *log_ret = sao_malloc((count ? count : 1) * sizeof(double));
    sao_ind_log_return(log_ret, close, count);
    /* Runs of the returns, not of the closes: a return that is undefined splits them too. */
    FOR_EACH_RUN(count, SAO_INPUTS(log_ret), SAO_OUTPUTS(out), begin, end)
    {
        sao_features__volatility_run(out + begin, log_ret + begin, end - begin, period);
    }
    sao_free(log_ret);
}
