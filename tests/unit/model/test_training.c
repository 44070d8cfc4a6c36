/*
 * Tests of the optimizer: Adam's update against hand-computed values, weight decay, gradient
 * clipping, and a small LSTM and GRU that learn to continue a sine wave.
 */
#include "test.h"

#include "model/model.h"

static sao_model *tiny_model(sao_model_arch arch, int hidden, int horizon)
{
    sao_model_config cfg;
    sao_model_config_init(&cfg);
    cfg.arch = arch;
    cfg.input_size = 1;
    cfg.hidden_size = hidden;
    cfg.num_layers = 1;
    cfg.horizon = horizon;
    cfg.dropout = 0.0f;
    cfg.seed = 3;
    sao_model *m = NULL;
    ASSERT_OK(sao_model_new(&m, &cfg));
    return m;
}

/* Expected weights from Python floats: w = 1, gradients 0.5 then -0.2, lr 0.1, weight decay
 * 0.1, betas 0.9 / 0.999, eps 1e-8, following torch.optim.Adam's update rule. */
static void test_adam_update(void)
{
    sao_model *m = tiny_model(SAO_MODEL_LSTM, 1, 1);
    size_t count;
    float *w = sao_model_weights(m, &count);
    float *g = sao_model_grads(m, NULL);
    sao_model_adam_config cfg;
    sao_model_adam_config_init(&cfg);
    cfg.learning_rate = 0.1f;
    cfg.weight_decay = 0.1f;
    sao_model_adam *opt = NULL;
    ASSERT_OK(sao_model_adam_new(&opt, count, &cfg));
    for (size_t i = 0; i < count; i++) w[i] = 1.0f;
    for (size_t i = 0; i < count; i++) g[i] = 0.5f;
    double norm;
    ASSERT_OK(sao_model_adam_step(opt, m, &norm));
    ASSERT_NEAR(norm, 0.5 * sqrt((double)count), 1e-6);
    ASSERT_NEAR(w[0], 0.9000000016666666, 1e-6);
    for (size_t i = 0; i < count; i++) g[i] = -0.2f;
    ASSERT_OK(sao_model_adam_step(opt, m, NULL));
    for (size_t i = 0; i < count; i++) ASSERT_NEAR(w[i], 0.8475190629593703, 1e-6);

    /* A non-finite gradient is refused and changes nothing. */
    g[3] = NAN;
    ASSERT_EQ(sao_model_adam_step(opt, m, NULL), SAO_ERANGE);
    ASSERT_NEAR(w[3], 0.8475190629593703, 1e-6);
    sao_model_adam_free(opt);
    sao_model_adam_free(NULL);

    cfg.learning_rate = 0.0f;
    opt = NULL;
    ASSERT_EQ(sao_model_adam_new(&opt, count, &cfg), SAO_EINVAL);
    ASSERT_TRUE(opt == NULL);
    sao_model_free(m);
}

static void test_adam_clipping(void)
{
    sao_model *m = tiny_model(SAO_MODEL_GRU, 2, 1);
    size_t count;
    sao_model_weights(m, &count);
    float *g = sao_model_grads(m, NULL);
    sao_model_adam_config cfg;
    sao_model_adam_config_init(&cfg);
    cfg.clip_norm = 1.0f;
    sao_model_adam *opt = NULL;
    ASSERT_OK(sao_model_adam_new(&opt, count, &cfg));
    for (size_t i = 0; i < count; i++) g[i] = (i % 2) ? 3.0f : -3.0f;
    double norm;
    ASSERT_OK(sao_model_adam_step(opt, m, &norm));
    ASSERT_NEAR(norm, 3.0 * sqrt((double)count), 1e-5);
    double after = 0.0;
    for (size_t i = 0; i < count; i++) after += (double)g[i] * g[i];
    ASSERT_NEAR(sqrt(after), 1.0, 1e-5);
    /* Below the threshold, gradients are left alone. */
    for (size_t i = 0; i < count; i++) g[i] = 0.01f;
    ASSERT_OK(sao_model_adam_step(opt, m, &norm));
    ASSERT_TRUE(g[0] == 0.01f);
    sao_model_adam_free(opt);
    sao_model_free(m);
}

/* Windows of sin(0.3 t) (16 steps) and their next 2 values: a model must bring the validation
 * MSE (on windows further along the wave) far below that of predicting zero (about 0.5). */
static void learn_sine(sao_model_arch arch)
{
    sao_model_set_threads(1);
    enum { CONTEXT = 16, HORIZON = 2, BATCH = 32, STEPS = 300 };
    sao_model *m = tiny_model(arch, 16, HORIZON);
    size_t count;
    sao_model_weights(m, &count);
    sao_model_adam_config cfg;
    sao_model_adam_config_init(&cfg);
    cfg.learning_rate = 1e-2f;
    cfg.clip_norm = 1.0f;
    sao_model_adam *opt = NULL;
    ASSERT_OK(sao_model_adam_new(&opt, count, &cfg));

    float x[BATCH * CONTEXT], target[BATCH * HORIZON], pred[BATCH * HORIZON], d[BATCH * HORIZON];
    double first = 0.0, loss = 0.0;
    for (int step = 0; step < STEPS; step++) {
        for (int b = 0; b < BATCH; b++) {
            int start = (step * 7 + b * 3) % 200; /* training windows start in 0..199 */
            for (int t = 0; t < CONTEXT; t++) x[b * CONTEXT + t] = sinf(0.3f * (float)(start + t));
            for (int k = 0; k < HORIZON; k++)
                target[b * HORIZON + k] = sinf(0.3f * (float)(start + CONTEXT + k));
        }
        sao_model_zero_grad(m);
        ASSERT_OK(sao_model_forward(m, pred, x, BATCH, CONTEXT, 1));
        loss = sao_model_mse(d, pred, target, BATCH * HORIZON);
        if (step == 0) first = loss;
        ASSERT_OK(sao_model_backward(m, d));
        ASSERT_OK(sao_model_adam_step(opt, m, NULL));
    }
    for (int b = 0; b < BATCH; b++) {
        int start = 300 + 5 * b; /* unseen phases and positions */
        for (int t = 0; t < CONTEXT; t++) x[b * CONTEXT + t] = sinf(0.3f * (float)(start + t));
        for (int k = 0; k < HORIZON; k++)
            target[b * HORIZON + k] = sinf(0.3f * (float)(start + CONTEXT + k));
    }
    ASSERT_OK(sao_model_forward(m, pred, x, BATCH, CONTEXT, 0));
    double validation = sao_model_mse(NULL, pred, target, BATCH * HORIZON);
    fprintf(stderr, "%s: first loss %.4f, last %.5f, validation %.5f\n", sao_model_arch_name(arch),
            first, loss, validation);
    ASSERT_TRUE(first > 0.1);
    ASSERT_TRUE(validation < 2e-3);
    sao_model_adam_free(opt);
    sao_model_free(m);
}

static void test_learn_sine_lstm(void)
{
    learn_sine(SAO_MODEL_LSTM);
}

static void test_learn_sine_gru(void)
{
    learn_sine(SAO_MODEL_GRU);
}

SAO_TEST_MAIN(TEST(test_adam_update), TEST(test_adam_clipping), TEST(test_learn_sine_lstm),
              TEST(test_learn_sine_gru))
