/*
 * preparation: turns a table of model inputs and closes into sliding windows with a
 * chronological train / validation / test split, a scaler fitted on the training rows only, and
 * targets as returns (or prices) with their inverse.
 */
#include <math.h>
#include <string.h>

#include "data/data.h"

void sao_prep_config_init(sao_prep_config *cfg)
{
    cfg->context_length = 60;
    cfg->horizon = 5;
    cfg->train_fraction = 0.70;
    cfg->val_fraction = 0.15;
    cfg->scaler = SAO_PREP_SCALER_STANDARD;
    cfg->target = SAO_PREP_TARGET_RETURN;
    cfg->train_end = cfg->val_end = cfg->test_end = 0;
}

const char *sao_prep_split_name(sao_prep_split_id split)
{
    switch (split) {
    case SAO_PREP_TRAIN:
        return "train";
    case SAO_PREP_VAL:
        return "validation";
    case SAO_PREP_TEST:
        return "test";
    }
    return "?";
}

/* ---- scaler ---- */

int sao_prep_scaler_fit(sao_prep_scaler *out, sao_prep_scaler_kind kind, const double *inputs,
                        size_t rows, size_t features, size_t row_begin, size_t row_end)
{
    if (features == 0 || row_begin >= row_end || row_end > rows)
        return sao_error_set(SAO_EINVAL, "scaler: rows [%zu, %zu) of %zu, %zu features", row_begin,
                             row_end, rows, features);
    double *center = sao_calloc(features, sizeof(double));
    double *scale = sao_calloc(features, sizeof(double));
    int rc = 0;
    for (size_t f = 0; f < features; f++) {
        const double *col = inputs + f * rows;
        size_t n = 0;
        double mean = 0.0, m2 = 0.0, lo = INFINITY, hi = -INFINITY;
        for (size_t r = row_begin; r < row_end; r++) {
            double x = col[r];
            if (!isfinite(x)) continue;
            /* Welford's update: a price column near 4000 with a spread of 1 keeps its digits. */
            n++;
            double delta = x - mean;
            mean += delta / (double)n;
            m2 += delta * (x - mean);
            if (x < lo) lo = x;
            if (x > hi) hi = x;
        }
        if (n == 0) {
            rc = sao_error_set(SAO_ENODATA,
                               "scaler: feature %zu has no finite value in rows "
                               "[%zu, %zu)",
                               f, row_begin, row_end);
            goto done;
        }
        double spread;
        if (kind == SAO_PREP_SCALER_MINMAX) {
            center[f] = lo;
            spread = hi - lo;
        } else {
            center[f] = mean;
            spread = sqrt(m2 / (double)n);
        }
        /* A constant feature is only shifted (as scikit-learn does), never divided by zero. */
        scale[f] = spread > 0.0 ? spread : 1.0;
    }
    out->kind = kind;
    out->features = features;
    out->center = center;
    out->scale = scale;
    center = scale = NULL;
done:
    sao_free(center);
    sao_free(scale);
    return rc;
}

void sao_prep_scaler_dispose(sao_prep_scaler *scaler)
{
    if (!scaler) return;
    sao_free(scaler->center);
    sao_free(scaler->scale);
    scaler->center = scaler->scale = NULL;
    scaler->features = 0;
}

double sao_prep_scaler_apply(const sao_prep_scaler *scaler, size_t feature, double value)
{
    SAO_ASSERT(feature < scaler->features);
    return (value - scaler->center[feature]) / scaler->scale[feature];
}

double sao_prep_scaler_inverse(const sao_prep_scaler *scaler, size_t feature, double value)
{
    SAO_ASSERT(feature < scaler->features);
    return value * scaler->scale[feature] + scaler->center[feature];
}

/* ---- windows and splits ---- */

static int row_inputs_finite(const double *inputs, size_t rows, size_t features, size_t row)
{
    for (size_t f = 0; f < features; f++)
        if (!isfinite(inputs[f * rows + row])) return 0;
    return 1;
}

static int good_close(double close)
{
    return isfinite(close) && close > 0.0;
}

/* Whether the window starting at `start` has finite inputs and usable closes throughout. The
 * check runs on the raw inputs, so a row's scaled value can never differ in finiteness. */
static int window_ok(const sao_prep_data *d, const unsigned char *row_ok, size_t start)
{
    const size_t context = (size_t)d->config.context_length;
    const size_t horizon = (size_t)d->config.horizon;
    for (size_t r = start; r < start + context; r++)
        if (!row_ok[r]) return 0;
    for (size_t r = start + context - 1; r < start + context + horizon; r++)
        if (!good_close(d->close[r])) return 0;
    return 1;
}

static void collect_windows(sao_prep_split *split, const sao_prep_data *d,
                            const unsigned char *row_ok)
{
    const size_t context = (size_t)d->config.context_length;
    split->count = 0;
    split->start = NULL;
    if (split->end < split->begin + context) return;
    size_t candidates = split->end - split->begin - context + 1;
    split->start = sao_malloc(candidates * sizeof(size_t));
    for (size_t s = split->begin; s + context <= split->end; s++)
        if (window_ok(d, row_ok, s)) split->start[split->count++] = s;
}

static int check_config(const sao_prep_config *cfg)
{
    if (cfg->context_length < 1 || cfg->horizon < 1)
        return sao_error_set(SAO_EINVAL,
                             "preparation: context length %d and horizon %d must be "
                             "at least 1",
                             cfg->context_length, cfg->horizon);
    if (!(cfg->train_fraction > 0.0) || !(cfg->val_fraction > 0.0) ||
        !(cfg->train_fraction + cfg->val_fraction < 1.0))
        return sao_error_set(SAO_EINVAL,
                             "preparation: split fractions train %g and validation "
                             "%g must be positive and leave room for a test split",
                             cfg->train_fraction, cfg->val_fraction);
    if (cfg->scaler != SAO_PREP_SCALER_STANDARD && cfg->scaler != SAO_PREP_SCALER_MINMAX)
        return sao_error_set(SAO_EINVAL, "preparation: unknown scaler %d", (int)cfg->scaler);
    if (cfg->target != SAO_PREP_TARGET_RETURN && cfg->target != SAO_PREP_TARGET_PRICE)
        return sao_error_set(SAO_EINVAL, "preparation: unknown target %d", (int)cfg->target);
    return 0;
}

static int fit_targets(sao_prep_data *d)
{
    const size_t begin = d->split[SAO_PREP_TRAIN].begin, end = d->split[SAO_PREP_TRAIN].end;
    double sum = 0.0;
    size_t n = 0;
    for (size_t r = begin + 1; r < end; r++) {
        if (!good_close(d->close[r]) || !good_close(d->close[r - 1])) continue;
        sum += d->close[r] / d->close[r - 1] - 1.0;
        n++;
    }
    d->train_mean_return = n ? sum / (double)n : 0.0;
    d->target_center = 0.0;
    d->target_scale = 1.0;
    if (d->config.target != SAO_PREP_TARGET_PRICE) return 0;
    /* Price targets are scaled with the training closes' statistics, as an input would be. */
    sao_prep_scaler close_scaler;
    int rc = sao_prep_scaler_fit(&close_scaler, d->config.scaler, d->close, d->rows, 1, begin, end);
    if (rc) return sao_error_wrap(rc, "close: ");
    d->target_center = close_scaler.center[0];
    d->target_scale = close_scaler.scale[0];
    sao_prep_scaler_dispose(&close_scaler);
    return 0;
}

int sao_prep_new(sao_prep_data **out, const double *inputs, const double *close, size_t rows,
                 size_t features, const sao_prep_config *cfg)
{
    int rc = check_config(cfg);
    if (rc) return rc;
    if (features == 0 || rows == 0)
        return sao_error_set(SAO_ENODATA, "preparation: %zu rows of %zu features", rows, features);
    sao_prep_data *d = sao_calloc(1, sizeof(*d));
    unsigned char *row_ok = sao_malloc(rows);
    d->config = *cfg;
    d->rows = rows;
    d->features = features;
    d->close = sao_malloc(rows * sizeof(double));
    memcpy(d->close, close, rows * sizeof(double));
    for (size_t r = 0; r < rows; r++)
        row_ok[r] = (unsigned char)row_inputs_finite(inputs, rows, features, r);
    while (d->first_row < rows && !row_ok[d->first_row]) d->first_row++;

    const size_t context = (size_t)cfg->context_length, horizon = (size_t)cfg->horizon;
    const size_t kept = rows - d->first_row;
    size_t r1 = d->first_row + (size_t)floor((double)kept * cfg->train_fraction);
    size_t r2 =
        d->first_row + (size_t)floor((double)kept * (cfg->train_fraction + cfg->val_fraction));
    size_t test_end = rows >= r2 + 2 * horizon ? rows - horizon : r2 + horizon;
    if (cfg->train_end || cfg->val_end || cfg->test_end) {
        if (!(d->first_row < cfg->train_end && cfg->train_end + horizon < cfg->val_end &&
              cfg->val_end + horizon < cfg->test_end && cfg->test_end + horizon <= rows)) {
            rc = sao_error_set(SAO_EINVAL,
                               "preparation: row bounds train %zu, validation %zu, "
                               "test %zu do not fit %zu rows from row %zu with horizon %zu",
                               cfg->train_end, cfg->val_end, cfg->test_end, rows, d->first_row,
                               horizon);
            goto done;
        }
        r1 = cfg->train_end;
        r2 = cfg->val_end;
        test_end = cfg->test_end;
    }
    /* Each split ends where its windows' targets can still fit before the next split begins. */
    d->split[SAO_PREP_TRAIN].begin = d->first_row;
    d->split[SAO_PREP_TRAIN].end = r1;
    d->split[SAO_PREP_VAL].begin = r1 + horizon;
    d->split[SAO_PREP_VAL].end = r2 > r1 + horizon ? r2 : r1 + horizon;
    d->split[SAO_PREP_TEST].begin = r2 + horizon;
    d->split[SAO_PREP_TEST].end = test_end;
    for (int s = 0; s < 3; s++) {
        collect_windows(&d->split[s], d, row_ok);
        if (d->split[s].count == 0) {
            rc = sao_error_set(SAO_ENODATA,
                               "preparation: the %s split holds no window (%zu input "
                               "rows [%zu, %zu) of %zu kept; a window needs %zu rows with finite "
                               "inputs)",
                               sao_prep_split_name((sao_prep_split_id)s),
                               d->split[s].end - d->split[s].begin, d->split[s].begin,
                               d->split[s].end, kept, context);
            goto done;
        }
    }

    rc = sao_prep_scaler_fit(&d->scaler, cfg->scaler, inputs, rows, features,
                             d->split[SAO_PREP_TRAIN].begin, d->split[SAO_PREP_TRAIN].end);
    if (rc) goto done;
    rc = fit_targets(d);
    if (rc) goto done;

    d->scaled = sao_malloc(rows * features * sizeof(float));
    for (size_t r = 0; r < rows; r++)
        for (size_t f = 0; f < features; f++) {
            double x = inputs[f * rows + r];
            d->scaled[r * features + f] =
                isfinite(x) ? (float)sao_prep_scaler_apply(&d->scaler, f, x) : NAN;
        }
    *out = d;
    d = NULL;
done:
    sao_free(row_ok);
    sao_prep_free(d);
    return rc;
}

void sao_prep_free(sao_prep_data *data)
{
    if (!data) return;
    for (int s = 0; s < 3; s++) sao_free(data->split[s].start);
    sao_prep_scaler_dispose(&data->scaler);
    sao_free(data->scaled);
    sao_free(data->close);
    sao_free(data);
}

double sao_prep_target(const sao_prep_data *data, size_t start, int step)
{
    const size_t last = start + (size_t)data->config.context_length - 1;
    SAO_ASSERT(step >= 0 && step < data->config.horizon && last + 1 + (size_t)step < data->rows);
    double future = data->close[last + 1 + (size_t)step];
    if (data->config.target == SAO_PREP_TARGET_PRICE)
        return (future - data->target_center) / data->target_scale;
    return future / data->close[last] - 1.0;
}

void sao_prep_to_prices(double *prices, const sao_prep_data *data, size_t start,
                        const float *outputs)
{
    const size_t last = start + (size_t)data->config.context_length - 1;
    SAO_ASSERT(last < data->rows);
    for (int k = 0; k < data->config.horizon; k++) {
        double y = (double)outputs[k];
        if (data->config.target == SAO_PREP_TARGET_PRICE)
            prices[k] = y * data->target_scale + data->target_center;
        else
            prices[k] = data->close[last] * (1.0 + y);
    }
}

void sao_prep_window_prices(double *last_close, double *actual, const sao_prep_data *data,
                            size_t start)
{
    const size_t last = start + (size_t)data->config.context_length - 1;
    SAO_ASSERT(last + (size_t)data->config.horizon < data->rows);
    *last_close = data->close[last];
    for (int k = 0; k < data->config.horizon; k++) actual[k] = data->close[last + 1 + (size_t)k];
}

int sao_prep_windows(float **inputs, float **targets, size_t *count, const sao_prep_data *data,
                     sao_prep_split_id split)
{
    if ((int)split < 0 || (int)split > 2)
        return sao_error_set(SAO_EINVAL, "preparation: unknown split %d", (int)split);
    const sao_prep_split *sp = &data->split[split];
    const size_t context = (size_t)data->config.context_length;
    const size_t horizon = (size_t)data->config.horizon;
    const size_t per_window = context * data->features;
    float *x = sao_malloc((sp->count ? sp->count : 1) * per_window * sizeof(float));
    float *y = sao_malloc((sp->count ? sp->count : 1) * horizon * sizeof(float));
    for (size_t w = 0; w < sp->count; w++) {
        size_t s = sp->start[w];
        /* Rows are stored row-major, so one window's [C, features] block is contiguous. */
        memcpy(x + w * per_window, data->scaled + s * data->features, per_window * sizeof(float));
        for (size_t k = 0; k < horizon; k++)
            y[w * horizon + k] = (float)sao_prep_target(data, s, (int)k);
    }
    *inputs = x;
    *targets = y;
    *count = sp->count;
    return 0;
}
