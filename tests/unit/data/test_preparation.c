/*
 * Preparation: exact window counts and starts on small hand-made tables, no target of one split
 * among the next split's rows, a scaler that sees the training rows only, and targets that turn
 * back into the prices they came from.
 */
#include "test.h"

#include "data/data.h"

/* One feature equal to the close, close = 100 + row. */
static void ramp(double *inputs, double *close, size_t rows)
{
    for (size_t r = 0; r < rows; r++) close[r] = inputs[r] = 100.0 + (double)r;
}

static sao_prep_config small_config(void)
{
    sao_prep_config cfg;
    sao_prep_config_init(&cfg);
    cfg.context_length = 3;
    cfg.horizon = 2;
    cfg.train_fraction = 0.5;
    cfg.val_fraction = 0.25;
    return cfg;
}

static void assert_split(const sao_prep_data *d, sao_prep_split_id id, size_t begin, size_t end,
                         size_t count, size_t first_start)
{
    const sao_prep_split *s = &d->split[id];
    ASSERT_EQ(s->begin, begin);
    ASSERT_EQ(s->end, end);
    ASSERT_EQ(s->count, count);
    ASSERT_EQ(s->start[0], first_start);
}

static void test_defaults(void)
{
    sao_prep_config cfg;
    sao_prep_config_init(&cfg);
    ASSERT_EQ(cfg.context_length, 60);
    ASSERT_EQ(cfg.horizon, 5);
    ASSERT_NEAR(cfg.train_fraction, 0.70, 0);
    ASSERT_NEAR(cfg.val_fraction, 0.15, 0);
    ASSERT_EQ(cfg.scaler, SAO_PREP_SCALER_STANDARD);
    ASSERT_EQ(cfg.target, SAO_PREP_TARGET_RETURN);
}

/* 30 rows, C 3, H 2, 50/25/25: R1 = 15, R2 = floor(22.5) = 22.
 * train inputs [0, 15): starts 0..12 (13); val [17, 22): 17..19 (3); test [24, 28): 24, 25 (2). */
static void test_counts(void)
{
    double in[30], close[30];
    ramp(in, close, 30);
    sao_prep_config cfg = small_config();
    sao_prep_data *d = NULL;
    ASSERT_OK(sao_prep_new(&d, in, close, 30, 1, &cfg));
    ASSERT_EQ(d->first_row, 0);
    assert_split(d, SAO_PREP_TRAIN, 0, 15, 13, 0);
    assert_split(d, SAO_PREP_VAL, 17, 22, 3, 17);
    assert_split(d, SAO_PREP_TEST, 24, 28, 2, 24);
    ASSERT_EQ(d->split[SAO_PREP_TRAIN].start[12], 12);
    ASSERT_EQ(d->split[SAO_PREP_TEST].start[1], 25);
    /* The last test window's last target is the last row. */
    ASSERT_EQ(d->split[SAO_PREP_TEST].start[1] + 3 + 2 - 1, 29);
    sao_prep_free(d);
}

/* Four warm-up rows (NaN) are dropped: 26 kept, R1 = 4 + 13 = 17, R2 = 4 + floor(19.5) = 23.
 * train [4, 17): 4..14 (11) less the windows holding row 8's NaN (6, 7, 8) = 8; val [19, 23):
 * 19, 20 (2); test [25, 28): 25 (1). Then a zero close at row 23 removes both validation
 * windows: 19 (targets rows 22, 23) and 20 (targets rows 23, 24). */
static void test_nan_rows(void)
{
    double in[30], close[30];
    ramp(in, close, 30);
    for (int r = 0; r < 4; r++) in[r] = NAN;
    in[8] = NAN;
    sao_prep_config cfg = small_config();
    sao_prep_data *d = NULL;
    ASSERT_OK(sao_prep_new(&d, in, close, 30, 1, &cfg));
    ASSERT_EQ(d->first_row, 4);
    assert_split(d, SAO_PREP_TRAIN, 4, 17, 8, 4);
    size_t expect[] = {4, 5, 9, 10, 11, 12, 13, 14};
    for (size_t i = 0; i < 8; i++) ASSERT_EQ(d->split[SAO_PREP_TRAIN].start[i], expect[i]);
    assert_split(d, SAO_PREP_VAL, 19, 23, 2, 19);
    assert_split(d, SAO_PREP_TEST, 25, 28, 1, 25);
    /* The NaN stays NaN in the scaled table; finite rows are scaled. */
    ASSERT_TRUE(isnan(d->scaled[8]));
    ASSERT_TRUE(isfinite(d->scaled[9]));
    sao_prep_free(d);

    close[23] = 0.0;
    d = NULL;
    ASSERT_EQ(sao_prep_new(&d, in, close, 30, 1, &cfg), SAO_ENODATA);
    ASSERT_CONTAINS(sao_error_last(), "validation");
    ASSERT_TRUE(d == NULL);
}

static void test_errors(void)
{
    double in[10], close[10];
    ramp(in, close, 10);
    sao_prep_config cfg = small_config();
    sao_prep_data *d = NULL;
    /* 10 rows: R1 = 5, R2 = 7; val input rows [7, 7) are empty. */
    ASSERT_EQ(sao_prep_new(&d, in, close, 10, 1, &cfg), SAO_ENODATA);
    cfg.context_length = 0;
    ASSERT_EQ(sao_prep_new(&d, in, close, 10, 1, &cfg), SAO_EINVAL);
    cfg = small_config();
    cfg.val_fraction = 0.5;
    ASSERT_EQ(sao_prep_new(&d, in, close, 10, 1, &cfg), SAO_EINVAL);
    ASSERT_TRUE(d == NULL);
    sao_prep_free(NULL);
}

static void assert_no_leak(const sao_prep_data *d)
{
    const size_t context = (size_t)d->config.context_length;
    const size_t horizon = (size_t)d->config.horizon;
    for (int s = 0; s < 2; s++) {
        const sao_prep_split *cur = &d->split[s], *next = &d->split[s + 1];
        size_t next_first_input = next->start[0];
        for (size_t w = 0; w < cur->count; w++) {
            size_t last_target = cur->start[w] + context + horizon - 1;
            ASSERT_TRUE(last_target < next_first_input);
            ASSERT_TRUE(last_target < next->begin);
        }
        /* Inputs of a split never reach into the next split's rows either. */
        ASSERT_TRUE(cur->start[cur->count - 1] + context <= cur->end);
    }
    const sao_prep_split *test = &d->split[SAO_PREP_TEST];
    ASSERT_TRUE(test->start[test->count - 1] + context + horizon <= d->rows);
}

static void test_no_leakage(void)
{
    enum { ROWS = 257 };
    double in[2 * ROWS], close[ROWS];
    for (size_t r = 0; r < ROWS; r++) {
        close[r] = 50.0 + sin((double)r * 0.1) + (double)r * 0.01;
        in[r] = close[r];
        in[ROWS + r] = r < 13 ? NAN : (double)(r % 7);
    }
    for (int context = 1; context <= 20; context += 3)
        for (int horizon = 1; horizon <= 9; horizon += 2) {
            sao_prep_config cfg;
            sao_prep_config_init(&cfg);
            cfg.context_length = context;
            cfg.horizon = horizon;
            sao_prep_data *d = NULL;
            ASSERT_OK(sao_prep_new(&d, in, close, ROWS, 2, &cfg));
            assert_no_leak(d);
            sao_prep_free(d);
        }
}

/* The real ^GSPC series with the defaults (60, 5, 70/15/15). */
static void test_no_leakage_real(void)
{
    sao_bars bars;
    sao_bars_init(&bars, "^GSPC");
    ASSERT_OK(sao_csv_import(&bars, NULL,
                             sao_test_shared("data/ohlcv/yahoo_daily_GSPC_1990-01-02_2024-09-12_"
                                             "johnvb21.csv")));
    size_t rows = bars.count;
    double *in = sao_malloc(5 * rows * sizeof(double));
    memcpy(in, bars.open, rows * sizeof(double));
    memcpy(in + rows, bars.high, rows * sizeof(double));
    memcpy(in + 2 * rows, bars.low, rows * sizeof(double));
    memcpy(in + 3 * rows, bars.close, rows * sizeof(double));
    memcpy(in + 4 * rows, bars.volume, rows * sizeof(double));
    sao_prep_config cfg;
    sao_prep_config_init(&cfg);
    sao_prep_data *d = NULL;
    ASSERT_OK(sao_prep_new(&d, in, bars.close, rows, 5, &cfg));
    assert_no_leak(d);
    size_t total = 0;
    for (int s = 0; s < 3; s++) total += d->split[s].count;
    /* Every row is a window start unless it sits in the last C - 1 rows of a split's inputs
     * or in a gap (the real series has no NaN). */
    ASSERT_EQ(total, rows - 3 * (60 - 1) - 3 * 5);
    sao_prep_free(d);
    sao_free(in);
    sao_bars_dispose(&bars);
}

/* The scaler's statistics are those of the training input rows, whatever comes after. */
static void test_scaler_train_only(void)
{
    enum { ROWS = 40 };
    double in[2 * ROWS], close[ROWS];
    for (size_t r = 0; r < ROWS; r++) {
        close[r] = 10.0 + (double)(r % 5);
        in[r] = (double)((r * 7) % 11);
        /* After the training rows the second feature explodes: it must not move the scaler. */
        in[ROWS + r] = r < 20 ? (double)r * 0.5 : 1e6;
    }
    sao_prep_config cfg = small_config();
    for (int kind = 0; kind < 2; kind++) {
        cfg.scaler = (sao_prep_scaler_kind)kind;
        sao_prep_data *d = NULL;
        ASSERT_OK(sao_prep_new(&d, in, close, ROWS, 2, &cfg));
        ASSERT_EQ(d->split[SAO_PREP_TRAIN].end, 20);
        for (size_t f = 0; f < 2; f++) {
            double sum = 0, lo = INFINITY, hi = -INFINITY;
            for (size_t r = 0; r < 20; r++) {
                double x = in[f * ROWS + r];
                sum += x;
                lo = fmin(lo, x);
                hi = fmax(hi, x);
            }
            double mean = sum / 20, var = 0;
            for (size_t r = 0; r < 20; r++) var += pow(in[f * ROWS + r] - mean, 2);
            double sd = sqrt(var / 20);
            if (kind == SAO_PREP_SCALER_STANDARD) {
                ASSERT_NEAR(d->scaler.center[f], mean, 1e-12);
                ASSERT_NEAR(d->scaler.scale[f], sd, 1e-12);
            } else {
                ASSERT_NEAR(d->scaler.center[f], lo, 0);
                ASSERT_NEAR(d->scaler.scale[f], hi - lo, 0);
            }
        }
        /* Hand-checked: feature 1 rows 0..19 are 0, 0.5, ..., 9.5: mean 4.75, min 0, max 9.5. */
        ASSERT_NEAR(d->scaler.center[1], kind == SAO_PREP_SCALER_STANDARD ? 4.75 : 0.0, 1e-12);
        ASSERT_NEAR(d->scaled[5 * 2 + 1], sao_prep_scaler_apply(&d->scaler, 1, 2.5), 1e-6);
        ASSERT_NEAR(sao_prep_scaler_inverse(&d->scaler, 1, d->scaled[5 * 2 + 1]), 2.5, 1e-6);
        /* The mean daily return is that of the training closes only. */
        double mean_return = 0;
        for (size_t r = 1; r < 20; r++) mean_return += close[r] / close[r - 1] - 1;
        ASSERT_NEAR(d->train_mean_return, mean_return / 19, 1e-12);
        sao_prep_free(d);
    }

    /* A constant feature is shifted but not divided by zero. */
    sao_prep_scaler sc;
    double flat[4] = {3, 3, 3, 3};
    ASSERT_OK(sao_prep_scaler_fit(&sc, SAO_PREP_SCALER_STANDARD, flat, 4, 1, 0, 4));
    ASSERT_NEAR(sc.scale[0], 1.0, 0);
    ASSERT_NEAR(sao_prep_scaler_apply(&sc, 0, 3), 0.0, 0);
    sao_prep_scaler_dispose(&sc);
    double none[2] = {NAN, NAN};
    ASSERT_EQ(sao_prep_scaler_fit(&sc, SAO_PREP_SCALER_MINMAX, none, 2, 1, 0, 2), SAO_ENODATA);
}

/* Targets in both units, the windows' layout, and the inverse back to prices. */
static void test_targets_round_trip(void)
{
    enum { ROWS = 30 };
    double in[2 * ROWS], close[ROWS];
    for (size_t r = 0; r < ROWS; r++) {
        close[r] = 100.0 * pow(1.01, (double)r) + (double)(r % 3);
        in[r] = close[r];
        in[ROWS + r] = (double)r;
    }
    sao_prep_config cfg = small_config();
    for (int kind = 0; kind < 2; kind++) {
        cfg.target = (sao_prep_target_kind)kind;
        sao_prep_data *d = NULL;
        ASSERT_OK(sao_prep_new(&d, in, close, ROWS, 2, &cfg));
        float *x = NULL, *y = NULL;
        size_t count = 0;
        ASSERT_OK(sao_prep_windows(&x, &y, &count, d, SAO_PREP_VAL));
        ASSERT_EQ(count, 3);
        for (size_t w = 0; w < count; w++) {
            size_t s = d->split[SAO_PREP_VAL].start[w];
            /* Window w's time step t, feature 1 is row s + t's (scaled) row index. */
            for (size_t t = 0; t < 3; t++)
                ASSERT_NEAR(sao_prep_scaler_inverse(&d->scaler, 1, x[(w * 3 + t) * 2 + 1]),
                            (double)(s + t), 1e-5);
            if (kind == SAO_PREP_TARGET_RETURN)
                ASSERT_NEAR(y[w * 2 + 1], close[s + 4] / close[s + 2] - 1.0, 1e-7);
            double prices[2], last, actual[2];
            sao_prep_to_prices(prices, d, s, y + w * 2);
            sao_prep_window_prices(&last, actual, d, s);
            ASSERT_NEAR(last, close[s + 2], 0);
            for (int k = 0; k < 2; k++) {
                ASSERT_NEAR(actual[k], close[s + 3 + (size_t)k], 0);
                ASSERT_NEAR(prices[k], actual[k], 1e-6);
            }
            /* A zero return forecast is persistence. */
            if (kind == SAO_PREP_TARGET_RETURN) {
                float zero[2] = {0, 0};
                sao_prep_to_prices(prices, d, s, zero);
                ASSERT_NEAR(prices[1], last, 0);
            }
        }
        sao_free(x);
        sao_free(y);
        sao_prep_free(d);
    }
}

SAO_TEST_MAIN(TEST(test_defaults), TEST(test_counts), TEST(test_nan_rows), TEST(test_errors),
              TEST(test_no_leakage), TEST(test_no_leakage_real), TEST(test_scaler_train_only),
              TEST(test_targets_round_trip))
