#!/usr/bin/python3
"""The pandas side of bench_indicators.c: the same 27 feature columns with the same conventions
(TA-Lib seeding, Wilder smoothing, population-std Bollinger, slow stochastic, mean-deviation CCI,
unshifted Ichimoku), over the same *_johnvb21.csv series repeated to at least 5 million rows, on
one core. Prints one JSON line with rows/s and peak RSS.

Written the way a pandas user would: vectorized Series operations, ewm() for the recursive
averages (seeded with the SMA of the first window like TA-Lib), rolling() for the windows, and
numpy's sliding windows for CCI's mean deviation. Run with Debian's /usr/bin/python3.
"""
import glob
import json
import os
import resource
import sys
import time

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

MIN_ROWS = 5_000_000


def seeded_ewm(values, period, seed_end, alpha, seed_scale=1.0):
    """EMA with smoothing `alpha` whose first value, at position seed_end, is the mean of the
    `period` values ending there (TA-Lib's seed) times seed_scale; NaN before."""
    x = values.copy()
    x.iloc[:seed_end] = np.nan
    x.iloc[seed_end] = values.iloc[seed_end - period + 1:seed_end + 1].mean() * seed_scale
    return x.ewm(alpha=alpha, adjust=False).mean()


def ema(values, period):
    return seeded_ewm(values, period, period - 1, 2.0 / (period + 1))


def wilder(values, period, seed_end):
    return seeded_ewm(values, period, seed_end, 1.0 / period)


def features(df):
    close, high, low, volume = df["Close"], df["High"], df["Low"], df["Volume"]
    n = len(df)
    out = {}
    out["return_1d"] = close.pct_change()
    log_ret = np.log(close / close.shift(1))
    out["log_return_1d"] = log_ret
    out["volatility_20"] = log_ret.rolling(20).std(ddof=1)
    out["sma_20"] = close.rolling(20).mean()
    out["ema_12"] = ema(close, 12)
    out["ema_20"] = ema(close, 20)
    out["ema_26"] = ema(close, 26)

    change = close.diff()
    avg_gain = wilder(change.clip(lower=0), 14, 14)
    avg_loss = wilder((-change).clip(lower=0), 14, 14)
    total = avg_gain + avg_loss
    out["rsi_14"] = (100 * avg_gain / total).where(total != 0, 50.0).where(total.notna())

    # TA-Lib's MACD: the fast EMA starts on the slow one's first bar.
    fast = seeded_ewm(close, 12, 25, 2.0 / 13)
    slow = seeded_ewm(close, 26, 25, 2.0 / 27)
    macd = fast - slow
    signal = seeded_ewm(macd, 9, 33, 2.0 / 10)
    out["macd"] = macd.where(signal.notna())
    out["macd_signal"] = signal
    out["macd_hist"] = out["macd"] - signal

    middle = close.rolling(20).mean()
    sd = close.rolling(20).std(ddof=0)
    upper, lower = middle + 2 * sd, middle - 2 * sd
    width = upper - lower
    out["bb_upper"], out["bb_middle"], out["bb_lower"] = upper, middle, lower
    out["bb_pct_b"] = ((close - lower) / width).where(width != 0, 0.5).where(width.notna())
    out["bb_bandwidth"] = width / middle

    prev_close = close.shift(1)
    tr = pd.concat([high - low, (high - prev_close).abs(), (low - prev_close).abs()],
                   axis=1).max(axis=1, skipna=False)
    out["atr_14"] = wilder(tr, 14, 14)

    up = high.diff()
    down = -low.diff()
    plus_dm = up.where((up > 0) & (up > down), 0.0)
    minus_dm = down.where((down > 0) & (down > up), 0.0)
    # TA-Lib sums the first 13 movements, then smooths: Wilder seeded at bar 13 with sum/14.
    s_plus = seeded_ewm(plus_dm, 13, 13, 1 / 14, 13 / 14)
    s_minus = seeded_ewm(minus_dm, 13, 13, 1 / 14, 13 / 14)
    s_tr = seeded_ewm(tr, 13, 13, 1 / 14, 13 / 14)
    plus_di, minus_di = 100 * s_plus / s_tr, 100 * s_minus / s_tr
    dx = 100 * (plus_di - minus_di).abs() / (plus_di + minus_di)
    out["adx_14"] = wilder(dx, 14, 27)

    hh, ll = high.rolling(14).max(), low.rolling(14).min()
    rng = hh - ll
    fast_k = (100 * (close - ll) / rng).where(rng != 0, 50.0).where(rng.notna())
    slow_k = fast_k.rolling(3).mean()
    slow_d = slow_k.rolling(3).mean()
    out["stoch_k"] = slow_k.where(slow_d.notna())
    out["stoch_d"] = slow_d

    typical = (high + low + close) / 3
    tp_mean = typical.rolling(20).mean()
    mad = np.full(n, np.nan)
    if n >= 20:
        windows = sliding_window_view(typical.to_numpy(), 20)
        mad[19:] = np.abs(windows - tp_mean.to_numpy()[19:, None]).mean(axis=1)
    mad = pd.Series(mad, index=df.index)
    dev = typical - tp_mean
    out["cci_20"] = (dev / (0.015 * mad)).where((dev != 0) & (mad != 0), 0.0).where(mad.notna())

    direction = np.sign(close.diff()).fillna(0.0)
    signed = direction * volume
    signed.iloc[0] = volume.iloc[0]
    out["obv"] = signed.cumsum()

    def midpoint(period):
        return (high.rolling(period).max() + low.rolling(period).min()) / 2

    complete = high.rolling(52).max().notna()  # one warm-up for every Ichimoku line
    tenkan, kijun = midpoint(9), midpoint(26)
    out["ichimoku_tenkan"] = tenkan.where(complete)
    out["ichimoku_kijun"] = kijun.where(complete)
    out["ichimoku_senkou_a"] = ((tenkan + kijun) / 2).where(complete)
    out["ichimoku_senkou_b"] = midpoint(52)
    out["ichimoku_chikou"] = close.where(complete)
    return pd.DataFrame(out)


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SAO_SHARED_DIR") or "../shared"
    paths = sorted(glob.glob(os.path.join(shared, "data", "ohlcv", "*_johnvb21.csv")))
    if not paths:
        sys.exit(f"no *_johnvb21.csv under {shared}/data/ohlcv (set SAO_SHARED_DIR)")
    frames = [pd.read_csv(p, usecols=["Open", "High", "Low", "Close", "Volume"]).astype(float)
              for p in paths]
    rows_per_pass = sum(len(f) for f in frames)

    rows = series = 0
    checksum = 0.0
    columns = 0
    start = time.perf_counter()
    while rows < MIN_ROWS:
        for df in frames:
            if rows >= MIN_ROWS:
                break
            table = features(df)
            checksum += float(table.iloc[-1].sum())
            columns = table.shape[1]
            rows += len(df)
            series += 1
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"bench": "indicators", "impl": "pandas", "pandas": pd.__version__,
                      "tickers": len(frames), "series": series, "rows": rows,
                      "rows_per_pass": rows_per_pass, "columns": columns,
                      "seconds": round(seconds, 4), "rows_per_s": round(rows / seconds),
                      "peak_rss_kb": peak_kb, "checksum": f"{checksum:.6e}"}))


if __name__ == "__main__":
    main()
