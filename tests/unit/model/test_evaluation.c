/*
 * Evaluation: metrics of the model and both baselines against values worked out by hand, the
 * verdict against persistence (also when the model loses or ties), and the test-split glue.
 */
#include "test.h"

#include "data/data.h"
#include "model/model.h"

/* Two windows, horizon 2:
 *   last close   100             200
 *   actual       110, 90         190, 210
 *   model        105, 95         201, 220
 * Expected values computed separately (Python, exact decimal arithmetic on the errors):
 *   model errors 5, 5 | 11, 10:   step MAE 8, 7.5; all 7.75; step RMSE sqrt(73) = 8.54400374531753,
 *     sqrt(62.5) = 7.905694150420948; all sqrt(67.75) = 8.231038816577165;
 *     MAPE (5/110 + 11/190)/2 = 5.167464114832536%, (5/90 + 10/210)/2 = 5.158730158730158%,
 *     all 5.163097136781348%; direction: +5/+10 hit, -5/-10 hit, +1/-10 miss, +20/+10 hit:
 *     step 1/2, 2/2, all 3/4.
 *   persistence errors all 10: MAE = RMSE = 10; MAPE (10/110 + 10/190)/2 = 7.177033492822966%,
 *     (10/90 + 10/210)/2 = 7.936507936507936%, all 7.556770714665452%; direction n/a.
 *   drift at 1%: forecasts 101, 102.01 | 202, 204.02; errors 9, 12.01 | 12, 5.98: step MAE 10.5,
 *     8.995; all 9.7475; RMSE 10.606601717798213, 9.486846156652906, all 10.062312110047074;
 *     MAPE 7.248803827751196%, 8.096031746031747%, all 7.672417786891472%; direction: up/up hit,
 *     up/down miss, up/down miss, up/up hit: 1/2, 1/2, all 1/2. */
static void test_hand_computed(void)
{
    const double last[2] = {100, 200};
    const double actual[4] = {110, 90, 190, 210};
    const double predicted[4] = {105, 95, 201, 220};
    sao_eval_result *r = NULL;
    ASSERT_OK(sao_eval_run(&r, last, actual, predicted, 2, 2, 0.01));
    ASSERT_EQ(r->windows, 2);
    ASSERT_EQ(r->horizon, 2);

    ASSERT_NEAR(r->model.step_mae[0], 8.0, 1e-12);
    ASSERT_NEAR(r->model.step_mae[1], 7.5, 1e-12);
    ASSERT_NEAR(r->model.mae, 7.75, 1e-12);
    ASSERT_NEAR(r->model.step_rmse[0], 8.54400374531753, 1e-12);
    ASSERT_NEAR(r->model.step_rmse[1], 7.905694150420948, 1e-12);
    ASSERT_NEAR(r->model.rmse, 8.231038816577165, 1e-12);
    ASSERT_NEAR(r->model.step_mape[0], 5.167464114832536, 1e-12);
    ASSERT_NEAR(r->model.step_mape[1], 5.158730158730158, 1e-12);
    ASSERT_NEAR(r->model.mape, 5.163097136781348, 1e-12);
    ASSERT_NEAR(r->model.step_directional[0], 0.5, 0);
    ASSERT_NEAR(r->model.step_directional[1], 1.0, 0);
    ASSERT_NEAR(r->model.directional, 0.75, 0);

    ASSERT_NEAR(r->persistence.step_mae[0], 10.0, 1e-12);
    ASSERT_NEAR(r->persistence.mae, 10.0, 1e-12);
    ASSERT_NEAR(r->persistence.rmse, 10.0, 1e-12);
    ASSERT_NEAR(r->persistence.step_mape[0], 7.177033492822966, 1e-12);
    ASSERT_NEAR(r->persistence.step_mape[1], 7.936507936507936, 1e-12);
    ASSERT_NEAR(r->persistence.mape, 7.556770714665452, 1e-12);
    ASSERT_TRUE(isnan(r->persistence.directional));
    ASSERT_TRUE(isnan(r->persistence.step_directional[1]));

    ASSERT_NEAR(r->drift.step_mae[0], 10.5, 1e-12);
    ASSERT_NEAR(r->drift.step_mae[1], 8.995, 1e-12);
    ASSERT_NEAR(r->drift.mae, 9.7475, 1e-12);
    ASSERT_NEAR(r->drift.step_rmse[0], 10.606601717798213, 1e-12);
    ASSERT_NEAR(r->drift.step_rmse[1], 9.486846156652906, 1e-12);
    ASSERT_NEAR(r->drift.rmse, 10.062312110047074, 1e-12);
    ASSERT_NEAR(r->drift.step_mape[0], 7.248803827751196, 1e-12);
    ASSERT_NEAR(r->drift.step_mape[1], 8.096031746031747, 1e-12);
    ASSERT_NEAR(r->drift.mape, 7.672417786891472, 1e-12);
    ASSERT_NEAR(r->drift.step_directional[0], 0.5, 0);
    ASSERT_NEAR(r->drift.directional, 0.5, 0);

    ASSERT_TRUE(r->beats_persistence);
    ASSERT_NEAR(r->mae_ratio, 0.775, 1e-12);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    sao_eval_result_print(r, f);
    fclose(f);
    ASSERT_CONTAINS(text, "BEATS");
    ASSERT_CONTAINS(text, "n/a");
    free(text);
    sao_eval_result_free(r);
    sao_eval_result_free(NULL);
}

/* A model that loses is reported as losing; a tie is not a win. */
static void test_verdict_not_hidden(void)
{
    const double last[1] = {100};
    const double actual[1] = {101};
    const double worse[1] = {98}; /* error 3 against persistence's 1 */
    sao_eval_result *r = NULL;
    ASSERT_OK(sao_eval_run(&r, last, actual, worse, 1, 1, 0.0));
    ASSERT_TRUE(!r->beats_persistence);
    ASSERT_NEAR(r->mae_ratio, 3.0, 1e-12);
    ASSERT_NEAR(r->model.directional, 0.0, 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    sao_eval_result_print(r, f);
    fclose(f);
    ASSERT_CONTAINS(text, "does NOT beat");
    free(text);
    sao_eval_result_free(r);

    const double same[1] = {100};
    ASSERT_OK(sao_eval_run(&r, last, actual, same, 1, 1, 0.0));
    ASSERT_TRUE(!r->beats_persistence);
    ASSERT_NEAR(r->mae_ratio, 1.0, 0);
    sao_eval_result_free(r);

    /* Drift at 0% is persistence. */
    ASSERT_OK(sao_eval_run(&r, last, actual, worse, 1, 1, 0.0));
    ASSERT_NEAR(r->drift.mae, r->persistence.mae, 0);
    sao_eval_result_free(r);
}

static void test_bad_input(void)
{
    const double last[1] = {100}, actual[2] = {101, NAN}, predicted[2] = {100, 100};
    sao_eval_result *r = NULL;
    ASSERT_EQ(sao_eval_run(&r, last, actual, predicted, 1, 2, 0.0), SAO_EINVAL);
    ASSERT_CONTAINS(sao_error_last(), "step 2");
    ASSERT_EQ(sao_eval_run(&r, last, actual, predicted, 0, 2, 0.0), SAO_EINVAL);
    const double zero[1] = {0};
    ASSERT_EQ(sao_eval_run(&r, zero, actual, predicted, 1, 1, 0.0), SAO_EINVAL);
    ASSERT_TRUE(r == NULL);
}

/* The glue: a model whose every weight is zero outputs a return of 0, i.e. persistence, on the
 * test split's windows; its metrics must then equal the persistence baseline's, computed here
 * from the test windows by hand, and it must not be reported as beating it. */
static void test_test_split(void)
{
    enum { ROWS = 120, C = 5, H = 3 };
    double in[2 * ROWS], close[ROWS];
    for (size_t r = 0; r < ROWS; r++) {
        close[r] = 50.0 + 10.0 * sin(0.2 * (double)r) + 0.1 * (double)r;
        in[r] = close[r];
        in[ROWS + r] = cos(0.2 * (double)r);
    }
    sao_prep_config pc;
    sao_prep_config_init(&pc);
    pc.context_length = C;
    pc.horizon = H;
    sao_prep_data *d = NULL;
    ASSERT_OK(sao_prep_new(&d, in, close, ROWS, 2, &pc));

    sao_model_config mc;
    sao_model_config_init(&mc);
    mc.input_size = 2;
    mc.hidden_size = 4;
    mc.num_layers = 1;
    mc.horizon = H;
    sao_model *m = NULL;
    ASSERT_OK(sao_model_new(&m, &mc));
    size_t count;
    float *w = sao_model_weights(m, &count);
    memset(w, 0, count * sizeof(float));

    sao_eval_result *r = NULL;
    ASSERT_OK(sao_eval_test_split(&r, m, d, 7));
    const sao_prep_split *test = &d->split[SAO_PREP_TEST];
    ASSERT_EQ(r->windows, test->count);
    double abs_sum = 0;
    for (size_t i = 0; i < test->count; i++) {
        size_t s = test->start[i];
        for (size_t k = 0; k < H; k++) abs_sum += fabs(close[s + C + k] - close[s + C - 1]);
    }
    ASSERT_NEAR(r->persistence.mae, abs_sum / (double)(test->count * H), 1e-12);
    ASSERT_NEAR(r->model.mae, r->persistence.mae, 0);
    ASSERT_TRUE(!r->beats_persistence);
    ASSERT_TRUE(isnan(r->model.directional));
    ASSERT_NEAR(r->drift_return, d->train_mean_return, 0);
    sao_eval_result_free(r);

    mc.horizon = H + 1;
    sao_model *other = NULL;
    ASSERT_OK(sao_model_new(&other, &mc));
    r = NULL;
    ASSERT_EQ(sao_eval_test_split(&r, other, d, 7), SAO_EINVAL);
    ASSERT_TRUE(r == NULL);
    sao_model_free(other);
    sao_model_free(m);
    sao_prep_free(d);
}

/* Walk-forward: three blocks of ten windows tile the end of a 160-row series; each fold trains
 * on the rows before its block only, and equals a single run with the same row bounds. */
static void test_walk_forward(void)
{
    sao_model_set_threads(1);
    enum { ROWS = 160, C = 8, H = 2, FOLDS = 3, BLOCK = 10 };
    double in[2 * ROWS], close[ROWS];
    for (size_t r = 0; r < ROWS; r++) {
        close[r] = 80.0 + 5.0 * sin(0.15 * (double)r) + 0.05 * (double)r;
        in[r] = r < 4 ? NAN : close[r]; /* four warm-up rows */
        in[ROWS + r] = sin(0.15 * (double)r + 1.0);
    }
    sao_prep_config pc;
    sao_prep_config_init(&pc);
    pc.context_length = C;
    pc.horizon = H;
    sao_model_config mc;
    sao_model_config_init(&mc);
    mc.input_size = 2;
    mc.hidden_size = 4;
    mc.num_layers = 1;
    mc.horizon = H;
    mc.dropout = 0.0f;
    sao_model_train_config tc;
    sao_model_train_config_init(&tc);
    tc.epochs = 3;
    tc.batch_size = 8;
    tc.adam.learning_rate = 1e-2f;

    sao_eval_walk *walk = NULL;
    ASSERT_OK(sao_eval_walk_forward(&walk, in, close, ROWS, 2, &pc, &mc, &tc, FOLDS, BLOCK));
    ASSERT_EQ(walk->fold_count, FOLDS);
    ASSERT_EQ(walk->pooled->windows, FOLDS * BLOCK);
    /* Last window start: 160 - 8 - 2 = 150; the first block starts at 150 + 1 - 30 = 121. */
    double abs_sum = 0;
    for (int k = 0; k < FOLDS; k++) {
        const sao_eval_fold *f = &walk->folds[k];
        ASSERT_EQ(f->test_begin, 121 + (size_t)k * BLOCK);
        ASSERT_EQ(f->windows, BLOCK);
        ASSERT_EQ(f->val_end + H, f->test_begin);
        /* History [4, val_end) divided 70 : 15. */
        ASSERT_EQ(f->train_end, 4 + (size_t)floor((double)(f->val_end - 4) * (0.70 / 0.85)));
        ASSERT_TRUE(f->best_epoch >= 1);
    }
    for (size_t s = 121; s <= 150; s++)
        for (size_t k = 0; k < H; k++) abs_sum += fabs(close[s + C + k] - close[s + C - 1]);
    ASSERT_NEAR(walk->pooled->persistence.mae, abs_sum / (FOLDS * BLOCK * H), 1e-12);

    /* The last fold by hand: same bounds, same seeds, same result. */
    const sao_eval_fold *last = &walk->folds[FOLDS - 1];
    pc.train_end = last->train_end;
    pc.val_end = last->val_end;
    pc.test_end = last->test_begin + BLOCK + C - 1;
    sao_prep_data *d = NULL;
    ASSERT_OK(sao_prep_new(&d, in, close, ROWS, 2, &pc));
    ASSERT_EQ(d->split[SAO_PREP_TEST].count, BLOCK);
    float *x[2], *y[2];
    size_t n[2];
    for (int s = 0; s < 2; s++)
        ASSERT_OK(sao_prep_windows(&x[s], &y[s], &n[s], d, (sao_prep_split_id)s));
    sao_model *m = NULL;
    ASSERT_OK(sao_model_new(&m, &mc));
    sao_model_windows train = {x[0], y[0], n[0], C}, val = {x[1], y[1], n[1], C};
    ASSERT_OK(sao_model_train(m, NULL, &train, &val, &tc));
    sao_eval_result *r = NULL;
    ASSERT_OK(sao_eval_test_split(&r, m, d, tc.batch_size));
    ASSERT_TRUE(r->model.mae == last->mae);
    ASSERT_TRUE(r->persistence.mae == last->persistence_mae);
    sao_eval_result_free(r);
    sao_model_free(m);
    for (int s = 0; s < 2; s++) {
        sao_free(x[s]);
        sao_free(y[s]);
    }
    sao_prep_free(d);
    sao_eval_walk_free(walk);
    sao_eval_walk_free(NULL);

    /* Blocks that do not fit, and explicit bounds that do not fit, are refused. */
    pc.train_end = pc.val_end = pc.test_end = 0;
    walk = NULL;
    ASSERT_EQ(sao_eval_walk_forward(&walk, in, close, ROWS, 2, &pc, &mc, &tc, 20, 10), SAO_EINVAL);
    ASSERT_TRUE(walk == NULL);
    pc.train_end = 50;
    pc.val_end = 51;
    pc.test_end = 100;
    ASSERT_EQ(sao_prep_new(&d, in, close, ROWS, 2, &pc), SAO_EINVAL);
}

SAO_TEST_MAIN(TEST(test_hand_computed), TEST(test_verdict_not_hidden), TEST(test_bad_input),
              TEST(test_test_split), TEST(test_walk_forward))
