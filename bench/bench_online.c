/*
 * Online-store benchmark against a real local redis-server: pipelined writes of the technical
 * view for many entities (entities/s), then single-entity reads of a full feature set plus a
 * 60-long window (latency percentiles). usage: bench_online PORT [ENTITIES] [READS]
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

#define FEATURES 29
#define WINDOW 60

/* The technical view's columns: indicator names as stored by the feature pipeline. */
static const char *const feature_names[FEATURES + 1] = {
    "sma_20",      "sma_50",      "sma_200",       "ema_12",           "ema_26",
    "rsi_14",      "macd",        "macd_signal",   "macd_hist",        "bb_upper",
    "bb_middle",   "bb_lower",    "bb_percent_b",  "atr_14",           "adx_14",
    "stoch_k",     "stoch_d",     "cci_20",        "obv",              "return_1d",
    "log_return",  "volatility_20", "true_range",  "ichimoku_tenkan",  "ichimoku_kijun",
    "ichimoku_senkou_a", "ichimoku_senkou_b", "volume_sma_20", "close_zscore_20",
    "close_window_60", /* only in the read benchmark */
};

/* Real ticker names, repeated with a numeric suffix to make many distinct entities. */
static const char *const tickers[] = {"AAPL",  "MSFT", "GOOGL", "AMZN",    "NVDA",    "TSLA",
                                      "META",  "SPY",  "^GSPC", "BTC-USD", "ETH-USD", "GOOG",
                                      "NFLX",  "AMD",  "INTC",  "JPM",     "V",       "XOM"};

/* Deterministic synthetic values with indicator-like magnitudes (prices, oscillators in
 * 0..100, volumes in the millions); about 3% nulls, as warm-up periods leave. */
static double synthetic(size_t entity, size_t feature, unsigned *seed)
{
    double noise = (double)rand_r(seed) / RAND_MAX;
    if (noise < 0.03) return NAN;
    double price = 50.0 + (double)(entity % 997) * 0.731;
    switch (feature) {
    case 5:
    case 15:
    case 16:
        return 100.0 * noise; /* RSI, stochastics */
    case 18:
    case 27:
        return 1e6 * (1.0 + 40.0 * noise); /* OBV, volume average */
    case 19:
    case 20:
        return 0.04 * (noise - 0.5); /* returns */
    default:
        return price * (0.9 + 0.2 * noise);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t count, double p)
{
    size_t idx = (size_t)ceil(p * (double)count) - 1;
    if (idx >= count) idx = count - 1;
    return sorted[idx];
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [ENTITIES] [READS]\n", argv[0]);
        return 2;
    }
    long port, entities = 10000, reads = 10000;
    if (sao_parse_long(argv[1], &port) || (argc > 2 && sao_parse_long(argv[2], &entities)) ||
        (argc > 3 && sao_parse_long(argv[3], &reads)) || entities < 1 || reads < 1) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    sao_log_set_level(SAO_LOG_WARN);

    sao_online_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    sao_strlcpy(cfg.host, "127.0.0.1", sizeof(cfg.host));
    cfg.port = (int)port;
    sao_strlcpy(cfg.project, "stock_agent_ops", sizeof(cfg.project));
    cfg.connect_timeout_ms = 2000;
    cfg.retries = 2;
    sao_online *online = NULL;
    if (sao_online_connect(&online, &cfg)) {
        fprintf(stderr, "connect: %s\n", sao_error_last());
        return 1;
    }

    size_t n = (size_t)entities;
    char (*names)[32] = sao_malloc(n * sizeof(*names));
    sao_feast_value *values = sao_malloc(n * FEATURES * sizeof(*values));
    sao_online_row *rows = sao_malloc(n * sizeof(*rows));
    unsigned seed = 12345;
    size_t nulls = 0;
    int64_t day = sao_days_from_civil(2024, 9, 12) * SAO_US_PER_DAY;
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "%s.%05zu", tickers[i % SAO_ARRAY_LEN(tickers)], i);
        for (size_t f = 0; f < FEATURES; f++) {
            double v = synthetic(i, f, &seed);
            sao_feast_value *fv = &values[i * FEATURES + f];
            memset(fv, 0, sizeof(*fv));
            if (isnan(v)) {
                fv->type = SAO_FEAST_NULL;
                nulls++;
            } else {
                fv->type = SAO_FEAST_DOUBLE;
                fv->as.f64 = v;
            }
        }
        rows[i].entity = names[i];
        rows[i].event_ts_us = day;
        rows[i].values = values + i * FEATURES;
    }

    printf("online store benchmark: redis 127.0.0.1:%ld, %zu entities x %d double features "
           "(synthetic values, %.1f%% null)\n",
           port, n, FEATURES, 100.0 * (double)nulls / (double)(n * FEATURES));

    /* Three passes: into an empty store, over it with newer rows, and with rows no newer. */
    const char *passes[] = {"write (new keys)", "write (newer rows)", "write (no newer rows)"};
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 1)
            for (size_t i = 0; i < n; i++) rows[i].event_ts_us = day + SAO_US_PER_DAY;
        size_t written = 0;
        double t0 = sao_monotonic();
        if (sao_online_write(online, SAO_VIEW_TECHNICAL, feature_names, FEATURES, rows, n,
                             &written)) {
            fprintf(stderr, "write: %s\n", sao_error_last());
            return 1;
        }
        double secs = sao_monotonic() - t0;
        printf("%-22s %6zu entities (%zu written) in %7.1f ms: %9.0f entities/s\n", passes[pass],
               n, written, 1e3 * secs, (double)n / secs);
    }

    /* One ticker's full feature set plus its 60-long model window, in one view. */
    double window[WINDOW];
    for (int i = 0; i < WINDOW; i++) window[i] = 220.0 + 0.5 * sin(i / 5.0) + 0.01 * i;
    sao_feast_value full[FEATURES + 1];
    memcpy(full, values, FEATURES * sizeof(*full));
    full[FEATURES].type = SAO_FEAST_DOUBLE_LIST;
    full[FEATURES].as.f64_list.data = window;
    full[FEATURES].as.f64_list.len = WINDOW;
    sao_online_row one = {names[0], day + 2 * SAO_US_PER_DAY, full};
    size_t written = 0;
    if (sao_online_write(online, SAO_VIEW_TECHNICAL, feature_names, FEATURES + 1, &one, 1,
                         &written) ||
        written != 1) {
        fprintf(stderr, "write window: %s\n", sao_error_last());
        return 1;
    }

    size_t r = (size_t)reads;
    double *lat = sao_malloc(r * sizeof(double));
    sao_feast_value got[FEATURES + 1];
    for (size_t i = 0; i < r + 100; i++) { /* the first 100 warm up and are not counted */
        int64_t ts;
        sao_arena *arena = sao_arena_new(4096);
        double t0 = sao_monotonic();
        int rc = sao_online_read(online, SAO_VIEW_TECHNICAL, feature_names, FEATURES + 1,
                                 names[0], got, &ts, arena);
        double dt = sao_monotonic() - t0;
        if (rc || got[FEATURES].as.f64_list.len != WINDOW) {
            fprintf(stderr, "read: %s\n", rc ? sao_error_last() : "window length differs");
            return 1;
        }
        sao_arena_free(arena);
        if (i >= 100) lat[i - 100] = dt * 1e6;
    }
    qsort(lat, r, sizeof(double), cmp_double);
    double sum = 0;
    for (size_t i = 0; i < r; i++) sum += lat[i];
    printf("read (%d doubles + %d-long window, one HMGET): %zu reads, p50 %.1f us, p99 %.1f us, "
           "max %.1f us, mean %.1f us\n",
           FEATURES, WINDOW, r, percentile(lat, r, 0.50), percentile(lat, r, 0.99), lat[r - 1],
           sum / (double)r);

    sao_free(lat);
    sao_free(rows);
    sao_free(values);
    sao_free(names);
    sao_online_close(online);
    return 0;
}
