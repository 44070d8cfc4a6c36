/*
 * evaluation: scores a forecaster on the test split in price units (MAE, RMSE, MAPE,
 * directional accuracy per horizon step) next to the persistence and drift baselines.
 */
#include <math.h>
#include <string.h>

#include "data/data.h"
#include "model/model.h"

static void metrics_init(sao_eval_metrics *m, int horizon)
{
    memset(m, 0, sizeof(*m));
    m->step_mae = sao_calloc((size_t)horizon, sizeof(double));
    m->step_rmse = sao_calloc((size_t)horizon, sizeof(double));
    m->step_mape = sao_calloc((size_t)horizon, sizeof(double));
    m->step_directional = sao_calloc((size_t)horizon, sizeof(double));
}

static void metrics_dispose(sao_eval_metrics *m)
{
    sao_free(m->step_mae);
    sao_free(m->step_rmse);
    sao_free(m->step_mape);
    sao_free(m->step_directional);
}

static int sign_of(double x)
{
    return (x > 0.0) - (x < 0.0);
}

/* Scores one forecaster; forecast(w, k) comes from `predicted` when non-NULL, else from the
 * baseline growth factor growth[k] applied to the last close (1 for persistence). */
static void score(sao_eval_metrics *m, const double *last_close, const double *actual,
                  const double *predicted, const double *growth, size_t windows, int horizon)
{
    double abs_all = 0.0, sq_all = 0.0, pct_all = 0.0;
    size_t hits_all = 0, calls_all = 0;
    for (int k = 0; k < horizon; k++) {
        double abs_sum = 0.0, sq_sum = 0.0, pct_sum = 0.0;
        size_t hits = 0, calls = 0;
        for (size_t w = 0; w < windows; w++) {
            const size_t i = w * (size_t)horizon + (size_t)k;
            const double forecast = predicted ? predicted[i] : last_close[w] * growth[k];
            const double err = forecast - actual[i];
            abs_sum += fabs(err);
            sq_sum += err * err;
            pct_sum += fabs(err) / actual[i];
            int called = sign_of(forecast - last_close[w]);
            if (called != 0) {
                calls++;
                if (called == sign_of(actual[i] - last_close[w])) hits++;
            }
        }
        m->step_mae[k] = abs_sum / (double)windows;
        m->step_rmse[k] = sqrt(sq_sum / (double)windows);
        m->step_mape[k] = 100.0 * pct_sum / (double)windows;
        m->step_directional[k] = calls ? (double)hits / (double)calls : NAN;
        abs_all += abs_sum;
        sq_all += sq_sum;
        pct_all += pct_sum;
        hits_all += hits;
        calls_all += calls;
    }
    const double n = (double)windows * (double)horizon;
    m->mae = abs_all / n;
    m->rmse = sqrt(sq_all / n);
    m->mape = 100.0 * pct_all / n;
    m->directional = calls_all ? (double)hits_all / (double)calls_all : NAN;
}

static int check_prices(const double *last_close, const double *actual, const double *predicted,
                        size_t windows, int horizon)
{
    if (windows == 0 || horizon < 1)
        return sao_error_set(SAO_EINVAL, "evaluation: %zu windows of horizon %d", windows, horizon);
    for (size_t w = 0; w < windows; w++) {
        if (!isfinite(last_close[w]) || !(last_close[w] > 0.0))
            return sao_error_set(SAO_EINVAL, "evaluation: window %zu: last close %g", w,
                                 last_close[w]);
        for (int k = 0; k < horizon; k++) {
            const size_t i = w * (size_t)horizon + (size_t)k;
            if (!isfinite(actual[i]) || !(actual[i] > 0.0) || !isfinite(predicted[i]))
                return sao_error_set(SAO_EINVAL,
                                     "evaluation: window %zu step %d: actual %g, "
                                     "predicted %g",
                                     w, k + 1, actual[i], predicted[i]);
        }
    }
    return 0;
}

/* The three score cards; `drift` holds the drift baseline's forecasts, one per value. */
static sao_eval_result *evaluate(const double *last_close, const double *actual,
                                 const double *predicted, const double *drift, size_t windows,
                                 int horizon, double drift_return)
{
    sao_eval_result *r = sao_calloc(1, sizeof(*r));
    r->windows = windows;
    r->horizon = horizon;
    r->drift_return = drift_return;
    metrics_init(&r->model, horizon);
    metrics_init(&r->persistence, horizon);
    metrics_init(&r->drift, horizon);
    double *flat = sao_malloc((size_t)horizon * sizeof(double));
    for (int k = 0; k < horizon; k++) flat[k] = 1.0;
    score(&r->model, last_close, actual, predicted, NULL, windows, horizon);
    score(&r->persistence, last_close, actual, NULL, flat, windows, horizon);
    score(&r->drift, last_close, actual, drift, NULL, windows, horizon);
    sao_free(flat);
    r->beats_persistence = r->model.mae < r->persistence.mae;
    r->mae_ratio = r->persistence.mae > 0.0 ? r->model.mae / r->persistence.mae : INFINITY;
    return r;
}

static void drift_forecasts(double *out, const double *last_close, size_t windows, int horizon,
                            double drift_return)
{
    for (size_t w = 0; w < windows; w++)
        for (int k = 0; k < horizon; k++)
            out[w * (size_t)horizon + (size_t)k] =
                last_close[w] * pow(1.0 + drift_return, (double)(k + 1));
}

int sao_eval_run(sao_eval_result **out, const double *last_close, const double *actual,
                 const double *predicted, size_t windows, int horizon, double drift_return)
{
    int rc = check_prices(last_close, actual, predicted, windows, horizon);
    if (rc) return rc;
    if (!isfinite(drift_return) || !(drift_return > -1.0))
        return sao_error_set(SAO_EINVAL, "evaluation: drift return %g", drift_return);
    double *drift = sao_malloc(windows * (size_t)horizon * sizeof(double));
    drift_forecasts(drift, last_close, windows, horizon, drift_return);
    *out = evaluate(last_close, actual, predicted, drift, windows, horizon, drift_return);
    sao_free(drift);
    return 0;
}

void sao_eval_result_free(sao_eval_result *result)
{
    if (!result) return;
    metrics_dispose(&result->model);
    metrics_dispose(&result->persistence);
    metrics_dispose(&result->drift);
    sao_free(result);
}

/* Runs the model over one split's windows and hands back, in prices, each window's last close
 * and its actual and predicted future closes ([count] and [count, horizon], caller-owned). */
static int predict_prices(double **last_out, double **actual_out, double **predicted_out,
                          size_t *count_out, sao_model *model, const sao_prep_data *data,
                          sao_prep_split_id split, size_t batch_size)
{
    const sao_model_config *mc = sao_model_get_config(model);
    if ((size_t)mc->input_size != data->features || mc->horizon != data->config.horizon)
        return sao_error_set(SAO_EINVAL,
                             "evaluation: model of %d inputs and horizon %d, data of "
                             "%zu inputs and horizon %d",
                             mc->input_size, mc->horizon, data->features, data->config.horizon);
    const sao_prep_split *sp = &data->split[split];
    const size_t horizon = (size_t)mc->horizon;
    float *inputs = NULL, *targets = NULL, *outputs = NULL;
    double *last = NULL, *actual = NULL, *predicted = NULL;
    size_t count = 0;
    int rc = sao_prep_windows(&inputs, &targets, &count, data, split);
    if (rc) goto done;
    outputs = sao_malloc((count ? count : 1) * horizon * sizeof(float));
    sao_model_windows windows = {inputs, targets, count, (size_t)data->config.context_length};
    rc = sao_model_predict(model, outputs, &windows, batch_size);
    if (rc) goto done;
    last = sao_malloc(count * sizeof(double));
    actual = sao_malloc(count * horizon * sizeof(double));
    predicted = sao_malloc(count * horizon * sizeof(double));
    for (size_t w = 0; w < count; w++) {
        sao_prep_window_prices(&last[w], actual + w * horizon, data, sp->start[w]);
        sao_prep_to_prices(predicted + w * horizon, data, sp->start[w], outputs + w * horizon);
    }
    *last_out = last;
    *actual_out = actual;
    *predicted_out = predicted;
    *count_out = count;
    last = actual = predicted = NULL;
done:
    sao_free(inputs);
    sao_free(targets);
    sao_free(outputs);
    sao_free(last);
    sao_free(actual);
    sao_free(predicted);
    return rc;
}

int sao_eval_test_split(sao_eval_result **out, sao_model *model, const sao_prep_data *data,
                        size_t batch_size)
{
    double *last = NULL, *actual = NULL, *predicted = NULL;
    size_t count = 0;
    int rc =
        predict_prices(&last, &actual, &predicted, &count, model, data, SAO_PREP_TEST, batch_size);
    if (rc) return rc;
    rc = sao_eval_run(out, last, actual, predicted, count, data->config.horizon,
                      data->train_mean_return);
    sao_free(last);
    sao_free(actual);
    sao_free(predicted);
    return rc;
}

/* ---- walk-forward backtest ---- */

void sao_eval_walk_free(sao_eval_walk *walk)
{
    if (!walk) return;
    sao_eval_result_free(walk->pooled);
    sao_free(walk->folds);
    sao_free(walk);
}

/* One fold: a fresh model trained on the rows before the fold's block, scored on the block. The
 * fold's prices are appended to the pooled arrays at row `*pooled`. */
static int run_fold(sao_eval_fold *fold, double *last, double *actual, double *predicted,
                    double *drift, size_t *pooled, size_t capacity, const double *inputs,
                    const double *close, size_t rows, size_t features, const sao_prep_config *pc,
                    const sao_model_config *mc, const sao_model_train_config *tc)
{
    const size_t horizon = (size_t)pc->horizon;
    sao_prep_data *data = NULL;
    sao_model *model = NULL;
    float *x[2] = {NULL, NULL}, *y[2] = {NULL, NULL};
    double *f_last = NULL, *f_actual = NULL, *f_predicted = NULL;
    size_t n[2] = {0, 0}, count = 0;
    sao_model_history history = {0};
    int rc = sao_prep_new(&data, inputs, close, rows, features, pc);
    if (rc) goto done;
    for (int s = 0; s < 2; s++) {
        rc = sao_prep_windows(&x[s], &y[s], &n[s], data, (sao_prep_split_id)s);
        if (rc) goto done;
    }
    rc = sao_model_new(&model, mc);
    if (rc) goto done;
    sao_model_windows train = {x[0], y[0], n[0], (size_t)pc->context_length};
    sao_model_windows val = {x[1], y[1], n[1], (size_t)pc->context_length};
    rc = sao_model_train(model, &history, &train, &val, tc);
    if (rc) goto done;
    rc = predict_prices(&f_last, &f_actual, &f_predicted, &count, model, data, SAO_PREP_TEST,
                        tc->batch_size);
    if (rc) goto done;
    SAO_ASSERT(*pooled + count <= capacity);
    sao_eval_result *score_card = NULL;
    rc = sao_eval_run(&score_card, f_last, f_actual, f_predicted, count, pc->horizon,
                      data->train_mean_return);
    if (rc) goto done;
    fold->mae = score_card->model.mae;
    fold->persistence_mae = score_card->persistence.mae;
    sao_eval_result_free(score_card);
    fold->train_end = data->split[SAO_PREP_TRAIN].end;
    fold->val_end = data->split[SAO_PREP_VAL].end;
    fold->test_begin = data->split[SAO_PREP_TEST].start[0];
    fold->windows = count;
    fold->best_epoch = history.best_epoch;
    fold->best_val_loss = history.best_val_loss;
    fold->train_mean_return = data->train_mean_return;
    memcpy(last + *pooled, f_last, count * sizeof(double));
    memcpy(actual + *pooled * horizon, f_actual, count * horizon * sizeof(double));
    memcpy(predicted + *pooled * horizon, f_predicted, count * horizon * sizeof(double));
    drift_forecasts(drift + *pooled * horizon, f_last, count, pc->horizon, data->train_mean_return);
    *pooled += count;
done:
    sao_model_history_dispose(&history);
    for (int s = 0; s < 2; s++) {
        sao_free(x[s]);
        sao_free(y[s]);
    }
    sao_free(f_last);
    sao_free(f_actual);
    sao_free(f_predicted);
    sao_model_free(model);
    sao_prep_free(data);
    return rc;
}

int sao_eval_walk_forward(sao_eval_walk **out, const double *inputs, const double *close,
                          size_t rows, size_t features, const sao_prep_config *prep,
                          const sao_model_config *model, const sao_model_train_config *train,
                          int folds, size_t block)
{
    const size_t context = (size_t)prep->context_length, horizon = (size_t)prep->horizon;
    if (folds < 1 || block == 0 || prep->context_length < 1 || prep->horizon < 1 ||
        rows < context + horizon || (size_t)folds * block > rows - context - horizon + 1)
        return sao_error_set(SAO_EINVAL,
                             "walk-forward: %d folds of %zu windows do not fit %zu "
                             "rows (context %zu, horizon %zu)",
                             folds, block, rows, context, horizon);
    /* The folds' test windows tile the end of the series: the last one ends on the last row. */
    const size_t last_start = rows - context - horizon;
    const size_t first_start = last_start + 1 - (size_t)folds * block;
    const size_t capacity = (size_t)folds * block;
    sao_eval_walk *walk = sao_calloc(1, sizeof(*walk));
    walk->folds = sao_calloc((size_t)folds, sizeof(sao_eval_fold));
    walk->fold_count = folds;
    double *last = sao_malloc(capacity * sizeof(double));
    double *actual = sao_malloc(capacity * horizon * sizeof(double));
    double *predicted = sao_malloc(capacity * horizon * sizeof(double));
    double *drift = sao_malloc(capacity * horizon * sizeof(double));
    size_t pooled = 0;
    double return_sum = 0.0;
    int rc = 0;

    /* Leading rows with a non-finite input are dropped by preparation; find them here too so
     * each fold's history can be divided between training and validation. */
    size_t first_row = 0;
    for (; first_row < rows; first_row++) {
        size_t f = 0;
        while (f < features && isfinite(inputs[f * rows + first_row])) f++;
        if (f == features) break;
    }
    const double train_share = prep->train_fraction / (prep->train_fraction + prep->val_fraction);
    for (int k = 0; k < folds; k++) {
        sao_prep_config pc = *prep;
        const size_t test_begin = first_start + (size_t)k * block;
        /* History: every row before the block's gap, split train / validation in the ratio of
         * the configured fractions. The block's windows start at test_begin. */
        if (test_begin < first_row + 2 * horizon + 2) {
            rc = sao_error_set(SAO_ENODATA, "walk-forward: fold %d has no history before row %zu",
                               k + 1, test_begin);
            goto done;
        }
        pc.val_end = test_begin - horizon;
        pc.train_end = first_row + (size_t)floor((double)(pc.val_end - first_row) * train_share);
        pc.test_end = test_begin + block + context - 1;
        rc = run_fold(&walk->folds[k], last, actual, predicted, drift, &pooled, capacity, inputs,
                      close, rows, features, &pc, model, train);
        if (rc) {
            sao_error_wrap(rc, "walk-forward fold %d: ", k + 1);
            goto done;
        }
        return_sum += walk->folds[k].train_mean_return;
    }
    rc = check_prices(last, actual, predicted, pooled, prep->horizon);
    if (rc) goto done;
    walk->pooled =
        evaluate(last, actual, predicted, drift, pooled, prep->horizon, return_sum / (double)folds);
    *out = walk;
    walk = NULL;
done:
    sao_eval_walk_free(walk);
    sao_free(last);
    sao_free(actual);
    sao_free(predicted);
    sao_free(drift);
    return rc;
}

static void print_row(FILE *out, const char *name, const char *step, double mae, double rmse,
                      double mape, double directional)
{
    char dir[16];
    if (isnan(directional))
        snprintf(dir, sizeof(dir), "n/a");
    else
        snprintf(dir, sizeof(dir), "%.1f%%", 100.0 * directional);
    fprintf(out, "%-12s %-5s %12.4f %12.4f %8.3f%% %9s\n", name, step, mae, rmse, mape, dir);
}

static void print_metrics(FILE *out, const char *name, const sao_eval_metrics *m, int horizon)
{
    for (int k = 0; k < horizon; k++) {
        char step[16];
        snprintf(step, sizeof(step), "t+%d", k + 1);
        print_row(out, name, step, m->step_mae[k], m->step_rmse[k], m->step_mape[k],
                  m->step_directional[k]);
    }
    print_row(out, name, "all", m->mae, m->rmse, m->mape, m->directional);
}

void sao_eval_result_print(const sao_eval_result *result, FILE *out)
{
    fprintf(out, "test split: %zu windows, horizon %d (prices)\n", result->windows,
            result->horizon);
    fprintf(out, "%-12s %-5s %12s %12s %9s %9s\n", "forecaster", "step", "MAE", "RMSE", "MAPE",
            "direction");
    print_metrics(out, "model", &result->model, result->horizon);
    print_metrics(out, "persistence", &result->persistence, result->horizon);
    print_metrics(out, "drift", &result->drift, result->horizon);
    fprintf(out, "drift baseline: mean daily return %.6f%% of the training split\n",
            100.0 * result->drift_return);
    fprintf(out, "model MAE is %.3fx persistence's: the model %s persistence\n", result->mae_ratio,
            result->beats_persistence ? "BEATS" : "does NOT beat");
}
