/*
 * training pipeline: a ticker's stored bars and indicators become stationary model inputs,
 * then windows, a trained and evaluated model, a new registry version (optionally seeded from
 * a parent ticker's serving model) and its report.svg.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/pipelines.h"

/* The stored technical columns the default inputs read. */
enum { COL_LOG_RETURN, COL_RSI, COL_MACD_HIST, COL_BB_PCT_B, COL_VOLATILITY, COL_ATR, COL_COUNT };
static const char *const column_names[COL_COUNT] = {"log_return_1d", "rsi_14",        "macd_hist",
                                                    "bb_pct_b",      "volatility_20", "atr_14"};

typedef struct input_def {
    const char *name;
    const char *source;
    const char *formula;
} input_def;

static const input_def input_defs[] = {
    {"log_return_1d", SAO_VIEW_TECHNICAL, "ln(close[t] / close[t-1])"},
    {"log_volume_change", SAO_VIEW_OHLCV, "ln((volume[t] + 1) / (volume[t-1] + 1))"},
    {"rsi_14_scaled", SAO_VIEW_TECHNICAL, "rsi_14[t] / 100"},
    {"macd_hist_rel", SAO_VIEW_TECHNICAL, "macd_hist[t] / close[t]"},
    {"bb_pct_b", SAO_VIEW_TECHNICAL, "bb_pct_b[t]"},
    {"volatility_20", SAO_VIEW_TECHNICAL, "volatility_20[t]"},
    {"atr_14_rel", SAO_VIEW_TECHNICAL, "atr_14[t] / close[t]"},
};
#define INPUT_COUNT SAO_ARRAY_LEN(input_defs)

const char *const *sao_train_input_names(size_t *count)
{
    static const char *names[INPUT_COUNT];
    for (size_t i = 0; i < INPUT_COUNT; i++) names[i] = input_defs[i].name;
    *count = INPUT_COUNT;
    return names;
}

void sao_train_options_init(sao_train_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    sao_model_config_init(&opts->model);
    sao_prep_config_init(&opts->prep);
    sao_model_train_config_init(&opts->train);
    opts->train.progress = 1;
    opts->transfer = SAO_TRANSFER_FREEZE;
    opts->promote = SAO_PROMOTE_IF_BETTER;
    opts->threads = 1;
}

void sao_train_result_dispose(sao_train_result *res)
{
    if (!res) return;
    sao_model_history_dispose(&res->history);
    sao_model_card_dispose(&res->card);
    memset(res, 0, sizeof(*res));
}

/* Reads the technical columns the inputs need, aligned with the bars: the view must hold the
 * same days in the same order (ingestion writes both from one series). *out: [COL_COUNT][rows],
 * NaN where a value is null. */
static int read_indicators(double **out, const sao_bars *bars, const char *ticker)
{
    sao_pq_file *file = NULL;
    const size_t rows = bars->count;
    double *cols = NULL;
    int rc = sao_offline_open(&file, SAO_VIEW_TECHNICAL, ticker);
    if (rc == SAO_ENOENT)
        return sao_error_set(SAO_ENOENT, "%s: no stored indicators (run 'sao ingest %s')", ticker,
                             ticker);
    if (rc) return rc;
    if (sao_parquet_num_rows(file) != rows) {
        rc = sao_error_set(SAO_ECORRUPT, "%s: %s holds %zu rows, the bars %zu (re-ingest)", ticker,
                           SAO_VIEW_TECHNICAL, sao_parquet_num_rows(file), rows);
        goto done;
    }
    int ts = sao_parquet_find_column(file, "event_timestamp");
    const sao_pq_column_data *when = NULL;
    if (ts < 0) {
        rc = sao_error_set(SAO_ECORRUPT, "%s: %s has no event_timestamp", ticker,
                           SAO_VIEW_TECHNICAL);
        goto done;
    }
    if ((rc = sao_parquet_read_column(&when, file, (size_t)ts))) goto done;
    if (!when->i64) {
        rc = sao_error_set(SAO_ECORRUPT, "%s: event_timestamp is not a timestamp", ticker);
        goto done;
    }
    for (size_t r = 0; r < rows; r++) {
        if (!when->valid[r] || when->i64[r] != bars->day[r] * SAO_US_PER_DAY) {
            char day[16];
            sao_date_format(bars->day[r], day, sizeof(day));
            rc = sao_error_set(SAO_ECORRUPT, "%s: %s row %zu is not the bar of %s (re-ingest)",
                               ticker, SAO_VIEW_TECHNICAL, r, day);
            goto done;
        }
    }
    cols = sao_malloc(COL_COUNT * rows * sizeof(double));
    for (int c = 0; c < COL_COUNT; c++) {
        int idx = sao_parquet_find_column(file, column_names[c]);
        const sao_pq_column_data *data = NULL;
        if (idx < 0) {
            rc = sao_error_set(SAO_ECORRUPT, "%s: %s has no column %s (re-ingest)", ticker,
                               SAO_VIEW_TECHNICAL, column_names[c]);
            goto done;
        }
        if ((rc = sao_parquet_read_column(&data, file, (size_t)idx))) goto done;
        if (!data->f64) {
            rc = sao_error_set(SAO_ECORRUPT, "%s: column %s is not float64", ticker,
                               column_names[c]);
            goto done;
        }
        for (size_t r = 0; r < rows; r++)
            cols[(size_t)c * rows + r] = data->valid[r] ? data->f64[r] : NAN;
    }
    *out = cols;
    cols = NULL;
done:
    sao_free(cols);
    sao_parquet_close(file);
    return rc;
}

void sao_train_compute_inputs(double *x, size_t rows, const double *close, const double *volume,
                              const double *log_return, const double *rsi, const double *macd_hist,
                              const double *bb_pct_b, const double *volatility, const double *atr)
{
    for (size_t r = 0; r < rows; r++) {
        const double ok_close = close[r] > 0.0 ? close[r] : NAN;
        double vol_change = NAN;
        if (r > 0 && volume[r] >= 0.0 && volume[r - 1] >= 0.0)
            vol_change = log((volume[r] + 1.0) / (volume[r - 1] + 1.0));
        const double values[INPUT_COUNT] = {
            log_return[r],          /* log_return_1d */
            vol_change,             /* log_volume_change */
            rsi[r] / 100.0,         /* rsi_14_scaled */
            macd_hist[r] / ok_close, /* macd_hist_rel */
            bb_pct_b[r],            /* bb_pct_b */
            volatility[r],          /* volatility_20 */
            atr[r] / ok_close,      /* atr_14_rel */
        };
        for (size_t f = 0; f < INPUT_COUNT; f++) x[f * rows + r] = values[f];
    }
}

/* The default inputs, column-major [INPUT_COUNT x rows] as sao_prep_new takes them. A value that
 * cannot be computed (the first row, a non-positive close) is NaN and drops out as warm-up or
 * as a window left out. */
static double *build_inputs(const sao_bars *bars, const double *ind)
{
    const size_t rows = bars->count;
    double *x = sao_malloc(INPUT_COUNT * rows * sizeof(double));
    sao_train_compute_inputs(x, rows, bars->close, bars->volume, ind + COL_LOG_RETURN * rows,
                             ind + COL_RSI * rows, ind + COL_MACD_HIST * rows,
                             ind + COL_BB_PCT_B * rows, ind + COL_VOLATILITY * rows,
                             ind + COL_ATR * rows);
    return x;
}

/* A ticker's stored bars and indicators, and the default inputs built from them (*inputs:
 * sao_free; *bars and *ind are the caller's to dispose and free, also on error). */
static int read_inputs(double **inputs, sao_bars *bars, double **ind, const char *name)
{
    int rc = sao_offline_read_bars(bars, name);
    if (rc == SAO_ENOENT)
        return sao_error_set(SAO_ENOENT, "%s: no stored bars (run 'sao ingest %s' first)", name,
                             name);
    if (rc) return rc;
    if ((rc = read_indicators(ind, bars, name))) return rc;
    *inputs = build_inputs(bars, *ind);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Mean, population std and quantiles (linear interpolation, as numpy's default) of one input
 * over the training rows: the reference a drift monitor compares live values against. */
static void reference_of(sao_card_input *in, const double *column, size_t begin, size_t end)
{
    size_t n = 0;
    double *v = sao_malloc((end - begin + 1) * sizeof(double));
    for (size_t r = begin; r < end; r++)
        if (isfinite(column[r])) v[n++] = column[r];
    double sum = 0.0, sq = 0.0;
    for (size_t i = 0; i < n; i++) sum += v[i];
    in->mean = n ? sum / (double)n : NAN;
    for (size_t i = 0; i < n; i++) sq += (v[i] - in->mean) * (v[i] - in->mean);
    in->std = n ? sqrt(sq / (double)n) : NAN;
    qsort(v, n, sizeof(double), cmp_double);
    for (int q = 0; q < SAO_CARD_QUANTILES; q++) {
        if (!n) {
            in->quantiles[q] = NAN;
            continue;
        }
        double pos = (double)(n - 1) * (double)q / (double)(SAO_CARD_QUANTILES - 1);
        size_t lo = (size_t)pos;
        size_t hi = lo + 1 < n ? lo + 1 : lo;
        in->quantiles[q] = v[lo] + (v[hi] - v[lo]) * (pos - (double)lo);
    }
    sao_free(v);
}

/* ---- the report: a small hand-written SVG ---- */

#define SVG_WIDTH 900
#define SVG_PANEL 280
#define SVG_MARGIN 60

/* One polyline of `count` values in a panel whose top is `top`, scaled into [lo, hi]. */
static void svg_line(sao_buf *svg, const double *values, size_t stride, size_t count, double lo,
                     double hi, int top, const char *color)
{
    if (count == 0) return;
    const double width = SVG_WIDTH - 2 * SVG_MARGIN, height = SVG_PANEL - 2 * 30;
    sao_buf_appendf(svg, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.2\" points=\"",
                    color);
    for (size_t i = 0; i < count; i++) {
        double v = values[i * stride];
        if (!isfinite(v)) continue;
        double x = SVG_MARGIN + (count > 1 ? width * (double)i / (double)(count - 1) : 0.0);
        double y = top + 30 + height * (hi > lo ? (hi - v) / (hi - lo) : 0.5);
        sao_buf_appendf(svg, "%.1f,%.1f ", x, y);
    }
    sao_buf_appendf(svg, "\"/>\n");
}

static void svg_range(double *lo, double *hi, const double *values, size_t stride, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        double v = values[i * stride];
        if (!isfinite(v)) continue;
        if (v < *lo) *lo = v;
        if (v > *hi) *hi = v;
    }
}

/* Axes, a title and the extremes of the scale for one panel. */
static void svg_frame(sao_buf *svg, int top, const char *title, double lo, double hi,
                      const char *left, const char *right)
{
    const int bottom = top + SVG_PANEL - 30;
    sao_buf_appendf(svg,
                    "<text x=\"%d\" y=\"%d\" font-size=\"14\">%s</text>\n"
                    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                    "stroke=\"#999\"/>\n"
                    "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">%.4g</text>\n"
                    "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">%.4g</text>\n"
                    "<text x=\"%d\" y=\"%d\" font-size=\"10\">%s</text>\n"
                    "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">%s</text>\n",
                    SVG_MARGIN, top + 20, title, SVG_MARGIN, top + 30, SVG_WIDTH - 2 * SVG_MARGIN,
                    SVG_PANEL - 60, SVG_MARGIN - 4, top + 34, hi, SVG_MARGIN - 4, bottom, lo,
                    SVG_MARGIN, bottom + 14, left, SVG_WIDTH - SVG_MARGIN, bottom + 14, right);
}

/* report.svg: training and validation loss per epoch, then the test split's actual closes and
 * the model's t+1 forecasts. Written after the registry, as an extra: a version without one is
 * still whole. */
static int write_report(const sao_train_result *res, sao_model *model, const sao_prep_data *data,
                        const sao_model_windows *test)
{
    const sao_model_card *card = &res->card;
    const size_t horizon = (size_t)card->model.horizon;
    const size_t windows = test->count;
    float *out = sao_malloc((windows ? windows : 1) * horizon * sizeof(float));
    double *series = sao_malloc((windows ? windows : 1) * 2 * sizeof(double)); /* actual, pred */
    double *prices = sao_malloc(horizon * sizeof(double));
    double *actual = sao_malloc(horizon * sizeof(double));
    sao_buf svg;
    sao_buf_init(&svg, 16u << 20);
    char path[4200];
    int rc = sao_model_predict(model, out, test, 256);
    if (rc) goto done;
    for (size_t w = 0; w < windows; w++) {
        size_t start = data->split[SAO_PREP_TEST].start[w];
        double last;
        sao_prep_to_prices(prices, data, start, out + w * horizon);
        sao_prep_window_prices(&last, actual, data, start);
        series[2 * w] = actual[0];
        series[2 * w + 1] = prices[0];
    }

    sao_buf_appendf(&svg,
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                    "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" "
                    "fill=\"white\"/>\n",
                    SVG_WIDTH, 2 * SVG_PANEL + 20);
    char title[160], left[32], right[32];
    double lo = INFINITY, hi = -INFINITY;
    const size_t epochs = (size_t)card->epochs_run;
    svg_range(&lo, &hi, card->train_loss, 1, epochs);
    svg_range(&lo, &hi, card->val_loss, 1, epochs);
    snprintf(title, sizeof(title),
             "%s v%d: loss per epoch (blue: training, orange: validation; best epoch %d)",
             res->ticker, res->version, card->best_epoch);
    snprintf(left, sizeof(left), "epoch 1");
    snprintf(right, sizeof(right), "epoch %zu", epochs);
    svg_frame(&svg, 0, title, lo, hi, left, right);
    svg_line(&svg, card->train_loss, 1, epochs, lo, hi, 0, "#1f77b4");
    svg_line(&svg, card->val_loss, 1, epochs, lo, hi, 0, "#ff7f0e");

    lo = INFINITY;
    hi = -INFINITY;
    svg_range(&lo, &hi, series, 2, windows);
    svg_range(&lo, &hi, series + 1, 2, windows);
    snprintf(title, sizeof(title),
             "test split: actual close (black) and t+1 forecast (red); MAE %.4g vs "
             "persistence %.4g",
             card->eval->model.step_mae[0], card->eval->persistence.step_mae[0]);
    sao_date_format(card->split_first[SAO_PREP_TEST], left, sizeof(left));
    sao_date_format(card->split_last[SAO_PREP_TEST], right, sizeof(right));
    svg_frame(&svg, SVG_PANEL, title, lo, hi, left, right);
    svg_line(&svg, series, 2, windows, lo, hi, SVG_PANEL, "#222");
    svg_line(&svg, series + 1, 2, windows, lo, hi, SVG_PANEL, "#d62728");
    if ((rc = sao_buf_appendf(&svg, "</svg>\n"))) goto done;

    snprintf(path, sizeof(path), "%s/report.svg", res->model_dir);
    rc = sao_file_write_atomic(path, svg.data, svg.len);
done:
    sao_buf_dispose(&svg);
    sao_free(out);
    sao_free(series);
    sao_free(prices);
    sao_free(actual);
    return rc;
}

/* The parent's serving model, checked to read the same inputs over the same window shape. */
static int load_parent(sao_model **out, sao_model_card *card, const char *parent,
                       const sao_train_options *opts)
{
    sao_model *m = NULL;
    sao_model_card c;
    int rc = sao_registry_load(&m, &c, parent, 0);
    if (rc) return sao_error_wrap(rc, "parent %s: ", parent);
    if (c.model.input_size != (int)INPUT_COUNT) {
        rc = sao_error_set(SAO_EINVAL, "parent %s v%d reads %d inputs, this run %zu", parent,
                           c.version, c.model.input_size, INPUT_COUNT);
        goto fail;
    }
    for (size_t i = 0; i < INPUT_COUNT; i++) {
        if (strcmp(c.inputs[i].name, input_defs[i].name) != 0) {
            rc = sao_error_set(SAO_EINVAL, "parent %s v%d: input %zu is %s, this run's is %s",
                               parent, c.version, i, c.inputs[i].name, input_defs[i].name);
            goto fail;
        }
    }
    const char *target = opts->prep.target == SAO_PREP_TARGET_PRICE ? "price" : "return";
    if (strcmp(c.target, target) != 0) {
        rc = sao_error_set(SAO_EINVAL,
                           "parent %s v%d predicts %s targets, this run %s (pass --target %s)",
                           parent, c.version, c.target, target, c.target);
        goto fail;
    }
    if (c.context_length != opts->prep.context_length || c.model.horizon != opts->prep.horizon) {
        rc = sao_error_set(SAO_EINVAL,
                           "parent %s v%d has context %d and horizon %d, this run %d and %d "
                           "(pass the parent's --context and --horizon)",
                           parent, c.version, c.context_length, c.model.horizon,
                           opts->prep.context_length, opts->prep.horizon);
        goto fail;
    }
    *out = m;
    *card = c;
    return 0;
fail:
    sao_model_free(m);
    sao_model_card_dispose(&c);
    return rc;
}

int sao_train_ticker(sao_train_result *res, const char *ticker, const sao_train_options *opts)
{
    sao_bars bars;
    double *ind = NULL, *inputs = NULL;
    sao_prep_data *data = NULL;
    sao_model *model = NULL, *parent = NULL;
    sao_model_card parent_card;
    float *win_x[3] = {0}, *win_y[3] = {0};
    size_t counts[3] = {0};
    sao_train_result out;
    char name[SAO_TICKER_MAX + 1];
    int lock = -1; /* the ticker's training lock, held to the end */

    memset(&out, 0, sizeof(out));
    sao_model_card_init(&out.card);
    sao_model_card_init(&parent_card);
    sao_bars_init(&bars, "");
    int rc = sao_ticker_normalize(name, ticker);
    if (rc) goto done;
    /* One training of a ticker at a time, held to the end: two would number their versions from
     * the same registry.json and the later would overwrite the other's entry. */
    if ((rc = sao_registry_lock(&lock, name))) goto done;
    sao_strlcpy(out.ticker, name, sizeof(out.ticker));
    char parent_name[SAO_TICKER_MAX + 1] = "";
    if (opts->parent && (rc = sao_ticker_normalize(parent_name, opts->parent))) goto done;

    if ((rc = read_inputs(&inputs, &bars, &ind, name))) goto done;
    if ((rc = sao_prep_new(&data, inputs, bars.close, bars.count, INPUT_COUNT, &opts->prep))) {
        sao_error_wrap(rc, "%s: ", name);
        goto done;
    }
    for (int s = 0; s < 3; s++)
        if ((rc = sao_prep_windows(&win_x[s], &win_y[s], &counts[s], data, (sao_prep_split_id)s)))
            goto done;

    sao_model_set_threads(opts->threads);
    sao_model_config mc = opts->model;
    sao_model_train_config tc = opts->train;
    mc.input_size = (int)INPUT_COUNT;
    mc.horizon = opts->prep.horizon;
    if (opts->parent) {
        if ((rc = load_parent(&parent, &parent_card, parent_name, opts))) goto done;
        /* The child takes the parent's shape, whatever the options say: the weights only fit
         * it. The seed still drives dropout masks and nothing else. */
        uint64_t seed = mc.seed;
        mc = *sao_model_get_config(parent);
        mc.seed = seed;
    }
    if ((rc = sao_model_new(&model, &mc))) goto done;
    if (parent) {
        size_t n, pn;
        float *w = sao_model_weights(model, &n);
        const float *pw = sao_model_weights(parent, &pn);
        SAO_ASSERT(n == pn);
        memcpy(w, pw, n * sizeof(float));
        if (opts->transfer == SAO_TRANSFER_FREEZE) {
            size_t np;
            const sao_model_param *params = sao_model_params(model, &np);
            tc.train_from = params[np - 2].offset; /* head.weight: the head comes last */
        } else {
            tc.adam.learning_rate *= 0.1f;
        }
    }

    sao_model_windows train = {win_x[SAO_PREP_TRAIN], win_y[SAO_PREP_TRAIN], counts[SAO_PREP_TRAIN],
                               (size_t)opts->prep.context_length};
    sao_model_windows val = {win_x[SAO_PREP_VAL], win_y[SAO_PREP_VAL], counts[SAO_PREP_VAL],
                             (size_t)opts->prep.context_length};
    double started = sao_monotonic();
    if ((rc = sao_model_train(model, &out.history, &train, &val, &tc))) {
        sao_error_wrap(rc, "%s: ", name);
        goto done;
    }
    out.seconds = sao_monotonic() - started;

    sao_model_card *card = &out.card;
    if ((rc = sao_eval_test_split(&card->eval, model, data, tc.batch_size))) goto done;
    sao_strlcpy(card->ticker, name, sizeof(card->ticker));
    card->model = mc;
    card->context_length = opts->prep.context_length;
    sao_strlcpy(card->target, opts->prep.target == SAO_PREP_TARGET_PRICE ? "price" : "return",
                sizeof(card->target));
    card->target_center = data->target_center;
    card->target_scale = data->target_scale;
    sao_strlcpy(card->scaler, opts->prep.scaler == SAO_PREP_SCALER_MINMAX ? "minmax" : "standard",
                sizeof(card->scaler));
    card->inputs = sao_calloc(INPUT_COUNT, sizeof(*card->inputs));
    const size_t train_begin = data->split[SAO_PREP_TRAIN].begin;
    const size_t train_end = data->split[SAO_PREP_TRAIN].end;
    for (size_t i = 0; i < INPUT_COUNT; i++) {
        sao_card_input *in = &card->inputs[i];
        sao_strlcpy(in->name, input_defs[i].name, sizeof(in->name));
        sao_strlcpy(in->source, input_defs[i].source, sizeof(in->source));
        sao_strlcpy(in->formula, input_defs[i].formula, sizeof(in->formula));
        in->scaler_center = data->scaler.center[i];
        in->scaler_scale = data->scaler.scale[i];
        reference_of(in, inputs + i * bars.count, train_begin, train_end);
    }
    card->first_day = bars.day[data->first_row];
    card->last_day = bars.day[bars.count - 1];
    for (int s = 0; s < 3; s++) {
        card->split_first[s] = bars.day[data->split[s].begin];
        card->split_last[s] = bars.day[data->split[s].end - 1];
    }
    card->train_fraction = opts->prep.train_fraction;
    card->val_fraction = opts->prep.val_fraction;
    card->best_val_loss = out.history.best_val_loss;
    card->epochs_run = (int)out.history.count;
    card->best_epoch = out.history.best_epoch;
    card->train_loss = sao_malloc((out.history.count + 1) * sizeof(double));
    card->val_loss = sao_malloc((out.history.count + 1) * sizeof(double));
    for (size_t e = 0; e < out.history.count; e++) {
        card->train_loss[e] = out.history.epochs[e].train_loss;
        card->val_loss[e] = out.history.epochs[e].val_loss;
    }
    card->learning_rate = (double)tc.adam.learning_rate;
    card->batch_size = tc.batch_size;
    card->shuffle_seed = tc.seed;
    card->threads = opts->threads;
    card->train_seconds = out.seconds;
    if (parent) {
        sao_strlcpy(card->parent_ticker, parent_card.ticker, sizeof(card->parent_ticker));
        card->parent_version = parent_card.version;
        sao_strlcpy(card->transfer, opts->transfer == SAO_TRANSFER_FREEZE ? "freeze" : "finetune",
                    sizeof(card->transfer));
    }

    if ((rc = sao_registry_save(&out.version, &out.serving, model, card, opts->promote))) goto done;
    if ((rc = sao_registry_path(out.model_dir, sizeof(out.model_dir), name, out.version)))
        goto done;
    out.rows = bars.count;
    for (int s = 0; s < 3; s++) out.windows[s] = counts[s];
    sao_model_windows test = {win_x[SAO_PREP_TEST], win_y[SAO_PREP_TEST], counts[SAO_PREP_TEST],
                              (size_t)opts->prep.context_length};
    /* The version is registered by now: a report that fails is worth a warning, not an error
     * that would suggest nothing was saved. */
    if (write_report(&out, model, data, &test) != 0)
        sao_log(SAO_LOG_WARN, "train", "%s v%d: report.svg not written: %s", name, out.version,
                sao_error_last());
    *res = out;
    memset(&out, 0, sizeof(out));
done:
    sao_train_result_dispose(&out);
    sao_model_card_dispose(&parent_card);
    for (int s = 0; s < 3; s++) {
        sao_free(win_x[s]);
        sao_free(win_y[s]);
    }
    sao_model_free(parent);
    sao_model_free(model);
    sao_prep_free(data);
    sao_free(inputs);
    sao_free(ind);
    sao_bars_dispose(&bars);
    sao_registry_unlock(lock);
    return rc;
}

/* ---- walk-forward backtests of a registered version ---- */

void sao_train_walk_dispose(sao_train_walk *walk)
{
    if (!walk) return;
    sao_eval_walk_free(walk->walk);
    sao_free(walk->days);
    memset(walk, 0, sizeof(*walk));
}

int sao_train_walk_forward(sao_train_walk *out, const sao_model_card *card, int folds, size_t block,
                           sao_model_epoch_fn on_epoch, void *userdata)
{
    sao_bars bars;
    double *ind = NULL, *all = NULL, *inputs = NULL, *close = NULL;
    sao_train_walk res;
    memset(&res, 0, sizeof(res));
    sao_bars_init(&bars, "");
    const char *name = card->ticker;
    int rc = 0;

    if (card->model.input_size != (int)INPUT_COUNT || !card->inputs) {
        rc = sao_error_set(SAO_EINVAL, "%s v%d reads %d inputs, the pipeline computes %zu", name,
                           card->version, card->model.input_size, INPUT_COUNT);
        goto done;
    }
    for (size_t i = 0; i < INPUT_COUNT; i++) {
        if (strcmp(card->inputs[i].name, input_defs[i].name) != 0) {
            rc = sao_error_set(SAO_EINVAL, "%s v%d: input %zu is %s, the pipeline computes %s",
                               name, card->version, i, card->inputs[i].name, input_defs[i].name);
            goto done;
        }
    }
    if ((rc = read_inputs(&all, &bars, &ind, name))) goto done;

    /* The rows the version was trained on: bars ingested since then are left out, so the
     * backtest covers the data its own test split came from. */
    size_t rows = 0;
    while (rows < bars.count && bars.day[rows] <= card->last_day) rows++;
    if (rows == 0) {
        rc = sao_error_set(SAO_ENODATA, "%s: no stored bars up to the version's last day", name);
        goto done;
    }
    inputs = sao_malloc(INPUT_COUNT * rows * sizeof(double));
    for (size_t f = 0; f < INPUT_COUNT; f++)
        memcpy(inputs + f * rows, all + f * bars.count, rows * sizeof(double));
    close = sao_malloc(rows * sizeof(double));
    memcpy(close, bars.close, rows * sizeof(double));
    res.rows = rows;
    res.days = sao_malloc(rows * sizeof(int64_t));
    memcpy(res.days, bars.day, rows * sizeof(int64_t));
    /* As preparation finds it: leading rows where an input cannot be computed yet. */
    while (res.first_row < rows) {
        size_t f = 0;
        while (f < INPUT_COUNT && isfinite(inputs[f * rows + res.first_row])) f++;
        if (f == INPUT_COUNT) break;
        res.first_row++;
    }

    sao_prep_config pc;
    sao_prep_config_init(&pc);
    pc.context_length = card->context_length;
    pc.horizon = card->model.horizon;
    pc.train_fraction = card->train_fraction;
    pc.val_fraction = card->val_fraction;
    pc.target = strcmp(card->target, "price") == 0 ? SAO_PREP_TARGET_PRICE : SAO_PREP_TARGET_RETURN;
    pc.scaler =
        strcmp(card->scaler, "minmax") == 0 ? SAO_PREP_SCALER_MINMAX : SAO_PREP_SCALER_STANDARD;

    /* The version's run: the same epochs (early stopping as in training cuts a fold where it
     * would have cut the version), batch, learning rate, shuffle seed and threads. */
    sao_model_train_config tc;
    sao_model_train_config_init(&tc);
    if (card->epochs_run > 0) tc.epochs = card->epochs_run;
    if (card->batch_size > 0) tc.batch_size = card->batch_size;
    if (card->learning_rate > 0.0) tc.adam.learning_rate = (float)card->learning_rate;
    tc.seed = card->shuffle_seed;
    tc.progress = 0;
    tc.on_epoch = on_epoch;
    tc.userdata = userdata;
    if (block == 0 && folds > 0) {
        block = (card->eval ? card->eval->windows : 250) / (size_t)folds;
        if (block == 0) block = 1;
    }
    res.block = block;
    sao_model_set_threads(card->threads > 0 ? card->threads : 1);
    rc = sao_eval_walk_forward(&res.walk, inputs, close, rows, INPUT_COUNT, &pc, &card->model, &tc,
                               folds, block);
    if (rc) {
        sao_error_wrap(rc, "%s v%d: ", name, card->version);
        goto done;
    }
    *out = res;
    memset(&res, 0, sizeof(res));
done:
    sao_train_walk_dispose(&res);
    sao_free(close);
    sao_free(inputs);
    sao_free(all);
    sao_free(ind);
    sao_bars_dispose(&bars);
    return rc;
}
