/*
 * The stored feature columns: their names, parameters and meaning in one table, and the
 * computation of all of them for one ticker's bars into a column-major table.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "features/features_int.h"

/* Column indexes, in the order of the table below (the storage order). */
enum {
    COL_RETURN_1D,
    COL_LOG_RETURN_1D,
    COL_VOLATILITY_20,
    COL_SMA_20,
    COL_EMA_12,
    COL_EMA_20,
    COL_EMA_26,
    COL_RSI_14,
    COL_MACD,
    COL_MACD_SIGNAL,
    COL_MACD_HIST,
    COL_BB_UPPER,
    COL_BB_MIDDLE,
    COL_BB_LOWER,
    COL_BB_PCT_B,
    COL_BB_BANDWIDTH,
    COL_ATR_14,
    COL_ADX_14,
    COL_STOCH_K,
    COL_STOCH_D,
    COL_CCI_20,
    COL_OBV,
    COL_ICHIMOKU_TENKAN,
    COL_ICHIMOKU_KIJUN,
    COL_ICHIMOKU_SENKOU_A,
    COL_ICHIMOKU_SENKOU_B,
    COL_ICHIMOKU_CHIKOU,
    COL_COMMON_COUNT, /* columns every ticker has; the crypto-only ones follow */
    COL_NVT_PROXY = COL_COMMON_COUNT,
    COL_MVRV_Z_PROXY,
    COL_COUNT
};

static const sao_feature_def feature_defs[] = {
    {"return_1d", "", "simple daily return: close / previous close - 1", 0, 0},
    {"log_return_1d", "", "daily log return: ln(close / previous close)", 0, 0},
    {"volatility_20", "period=20",
     "sample std (ddof 1) of the last 20 daily log returns; daily, not annualized "
     "(times sqrt(252), or sqrt(365) for crypto, to annualize)",
     0, 0},
    {"sma_20", "period=20", "simple moving average of close", 0, 0},
    {"ema_12", "period=12", "EMA of close, k=2/13, seeded with the SMA of the first 12 (TA-Lib)", 0,
     0},
    {"ema_20", "period=20", "EMA of close, k=2/21, seeded with the SMA of the first 20 (TA-Lib)", 0,
     0},
    {"ema_26", "period=26", "EMA of close, k=2/27, seeded with the SMA of the first 26 (TA-Lib)", 0,
     0},
    {"rsi_14", "period=14",
     "RSI with Wilder smoothing as TA-Lib (first value at bar 14); 50 when prices did not move", 0,
     0},
    {"macd", "fast=12 slow=26 signal=9",
     "TA-Lib MACD line: fast EMA minus slow EMA, both started at the slow EMA's first bar", 0, 0},
    {"macd_signal", "fast=12 slow=26 signal=9", "9-bar EMA of the MACD line (TA-Lib)", 0, 0},
    {"macd_hist", "fast=12 slow=26 signal=9", "MACD line minus signal", 0, 0},
    {"bb_upper", "period=20 nbdev=2", "Bollinger upper band: SMA20 + 2 population std of close", 0,
     0},
    {"bb_middle", "period=20 nbdev=2", "Bollinger middle band: SMA20 of close", 0, 0},
    {"bb_lower", "period=20 nbdev=2", "Bollinger lower band: SMA20 - 2 population std of close", 0,
     0},
    {"bb_pct_b", "period=20 nbdev=2",
     "Bollinger %B: (close - lower) / (upper - lower); 0.5 for a band of zero width", 0, 0},
    {"bb_bandwidth", "period=20 nbdev=2", "Bollinger bandwidth: (upper - lower) / middle", 0, 0},
    {"atr_14", "period=14",
     "average true range, Wilder smoothing as TA-Lib (first value at bar 14)", 0, 0},
    {"adx_14", "period=14", "average directional index as TA-Lib (first value at bar 27)", 0, 0},
    {"stoch_k", "fastk=14 slowk=3 slowd=3",
     "slow stochastic %K: SMA3 of fast %K over 14 bars (TA-Lib STOCH); 50 on a flat window", 0, 0},
    {"stoch_d", "fastk=14 slowk=3 slowd=3", "slow stochastic %D: SMA3 of slow %K", 0, 0},
    {"cci_20", "period=20",
     "commodity channel index of the typical price (H+L+C)/3 with mean absolute deviation", 0, 0},
    {"obv", "", "on-balance volume, starting at the first bar's volume (TA-Lib)", 0, 0},
    {"ichimoku_tenkan", "period=9",
     "Ichimoku conversion line (max high + min low) / 2 over 9 bars ending at this bar", 0, 0},
    {"ichimoku_kijun", "period=26",
     "Ichimoku base line (max high + min low) / 2 over 26 bars ending at this bar", 0, 0},
    {"ichimoku_senkou_a", "tenkan=9 kijun=26",
     "Ichimoku leading span A (tenkan + kijun) / 2 as computed at this bar, unshifted: a chart "
     "draws it 26 bars ahead",
     0, 0},
    {"ichimoku_senkou_b", "period=52",
     "Ichimoku leading span B (max high + min low) / 2 over 52 bars as computed at this bar, "
     "unshifted: a chart draws it 26 bars ahead",
     0, 0},
    {"ichimoku_chikou", "",
     "Ichimoku lagging span: this bar's close (a chart draws it 26 bars back; never a future "
     "close)",
     0, 0},
    {"nvt_proxy", "activity=90 base=365",
     "proxy for the NVT signal: (close / 365-bar mean close) / (90-bar mean volume / 365-bar "
     "mean volume), volume being traded value; no on-chain data",
     1, 1},
    {"mvrv_z_proxy", "period=365",
     "proxy for the MVRV Z-score: (close - 365-bar volume-weighted price) / 365-bar population "
     "std of close; the VWAP stands in for the realized price; no on-chain data",
     1, 1},
};

_Static_assert(SAO_ARRAY_LEN(feature_defs) == COL_COUNT, "feature table and columns disagree");

const sao_feature_def *sao_features_defs(size_t *count)
{
    if (count) *count = SAO_ARRAY_LEN(feature_defs);
    return feature_defs;
}

int sao_features_find(const char *name)
{
    if (!name) return -1;
    for (size_t i = 0; i < SAO_ARRAY_LEN(feature_defs); i++)
        if (strcmp(feature_defs[i].name, name) == 0) return (int)i;
    return -1;
}

static int all_finite(const double *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* Column `col` of table t from row `begin` on. */
#define COL(col) (sao_feature_column(t, (col)) + begin)

/* The columns that read only the close, over bars [begin, end) whose closes are usable. */
static void close_features(const sao_feature_table *t, const double *close, size_t begin,
                           size_t end)
{
    size_t n = end - begin;
    const double *c = close + begin;
    sao_features__return_run(COL(COL_RETURN_1D), c, n);
    sao_features__log_return_run(COL(COL_LOG_RETURN_1D), c, n);
    sao_features__sma_run(COL(COL_SMA_20), c, n, 20);
    sao_features__ema_run(COL(COL_EMA_12), c, n, 12);
    sao_features__ema_run(COL(COL_EMA_20), c, n, 20);
    sao_features__ema_run(COL(COL_EMA_26), c, n, 26);
    sao_features__rsi_run(COL(COL_RSI_14), c, n, 14);
    sao_features__macd_run(COL(COL_MACD), COL(COL_MACD_SIGNAL), COL(COL_MACD_HIST), c, n, 12, 26,
                           9);
    sao_features__bbands_run(COL(COL_BB_UPPER), COL(COL_BB_MIDDLE), COL(COL_BB_LOWER), c, n, 20,
                             2.0);
    sao_ind_bb_pct_b(COL(COL_BB_PCT_B), c, COL(COL_BB_UPPER), COL(COL_BB_LOWER), n);
    sao_ind_bb_bandwidth(COL(COL_BB_BANDWIDTH), COL(COL_BB_UPPER), COL(COL_BB_MIDDLE),
                         COL(COL_BB_LOWER), n);
}

/* The columns that read high, low and close. */
static void range_features(const sao_feature_table *t, const sao_ohlcv_view *bars, size_t begin,
                           size_t end)
{
    size_t n = end - begin;
    const double *h = bars->high + begin, *l = bars->low + begin, *c = bars->close + begin;
    sao_features__atr_run(COL(COL_ATR_14), h, l, c, n, 14);
    sao_features__adx_run(COL(COL_ADX_14), h, l, c, n, 14);
    sao_features__stoch_run(COL(COL_STOCH_K), COL(COL_STOCH_D), h, l, c, n, 14, 3, 3);
    sao_features__cci_run(COL(COL_CCI_20), h, l, c, n, 20);
    sao_features__ichimoku_run(COL(COL_ICHIMOKU_TENKAN), COL(COL_ICHIMOKU_KIJUN),
                               COL(COL_ICHIMOKU_SENKOU_A), COL(COL_ICHIMOKU_SENKOU_B),
                               COL(COL_ICHIMOKU_CHIKOU), h, l, c, n, 9, 26, 52);
}
#undef COL

int sao_features_compute(sao_feature_table *out, const sao_ohlcv_view *bars, int crypto)
{
    if (!out || !bars) return sao_error_set(SAO_EINVAL, "features: no bars or no output");
    size_t count = bars->count;
    if (count && (!bars->high || !bars->low || !bars->close || !bars->volume))
        return sao_error_set(SAO_EINVAL, "features: bars without high, low, close or volume");
    size_t columns = crypto ? (size_t)COL_COUNT : (size_t)COL_COMMON_COUNT;
    if (count > SIZE_MAX / sizeof(double) / columns)
        return sao_error_set(SAO_ETOOBIG, "features: %zu bars is too many", count);

    sao_feature_table t = {count, columns, NULL};
    if (count == 0) {
        *out = t;
        return 0;
    }
    t.values = sao_malloc(columns * count * sizeof(double));
    const double *high = bars->high, *low = bars->low, *close = bars->close;
    const double *volume = bars->volume;
    double *log_ret = sao_feature_column(&t, COL_LOG_RETURN_1D);
    double *vol = sao_feature_column(&t, COL_VOLATILITY_20);

    /* The same indicators as the sao_ind_* functions, with the runs of usable bars found once
     * per input set instead of once per indicator; bars outside every run stay NaN. */
    if (all_finite(high, count) && all_finite(low, count) && all_finite(close, count) &&
        all_finite(volume, count)) {
        close_features(&t, close, 0, count);
        range_features(&t, bars, 0, count);
        sao_features__obv_run(sao_feature_column(&t, COL_OBV), close, volume, count);
    } else {
        sao_features__fill_nan(t.values, columns * count);
        FOR_EACH_RUN(count, SAO_INPUTS(close), SAO_OUTPUTS(NULL), begin, end)
        {
            close_features(&t, close, begin, end);
        }
        FOR_EACH_RUN(count, SAO_INPUTS(high, low, close), SAO_OUTPUTS(NULL), begin, end)
        {
            range_features(&t, bars, begin, end);
        }
        FOR_EACH_RUN(count, SAO_INPUTS(close, volume), SAO_OUTPUTS(NULL), begin, end)
        {
            sao_features__obv_run(sao_feature_column(&t, COL_OBV) + begin, close + begin,
                                  volume + begin, end - begin);
        }
    }
    /* Volatility runs over the log returns, which a non-positive close also interrupts. */
    FOR_EACH_RUN(count, SAO_INPUTS(log_ret), SAO_OUTPUTS(vol), begin, end)
    {
        sao_features__volatility_run(vol + begin, log_ret + begin, end - begin, 20);
    }
    if (crypto) {
        sao_ind_nvt_proxy(sao_feature_column(&t, COL_NVT_PROXY), close, volume, count, 90, 365);
        sao_ind_mvrv_z_proxy(sao_feature_column(&t, COL_MVRV_Z_PROXY), close, volume, count, 365);
    }
    *out = t;
    return 0;
}

void sao_feature_table_dispose(sao_feature_table *table)
{
    if (!table) return;
    sao_free(table->values);
    table->values = NULL;
    table->count = 0;
    table->columns = 0;
}
