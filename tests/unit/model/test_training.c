/*
 * Tests of the optimizer and the training loop: Adam's update against hand-computed values,
 * weight decay, gradient clipping, a small LSTM and GRU that learn to continue a sine wave, the
 * Huber loss's gradient, early stopping, plateau reduction and determinism of sao_model_train.
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

/* Huber values by hand (delta 1): errors 0.5, -2, 3 give 0.125, 1.5, 2.5, mean 4.125 / 3. */
static void test_huber_values(void)
{
    float pred[3] = {1.5f, -1.0f, 3.0f}, target[3] = {1.0f, 1.0f, 0.0f}, d[3];
    ASSERT_NEAR(sao_model_huber(d, pred, target, 3, 1.0), 4.125 / 3.0, 1e-12);
    ASSERT_NEAR(d[0], 0.5 / 3.0, 1e-7);
    ASSERT_NEAR(d[1], -1.0 / 3.0, 1e-7);
    ASSERT_NEAR(d[2], 1.0 / 3.0, 1e-7);
    ASSERT_NEAR(sao_model_huber(NULL, pred, target, 0, 1.0), 0.0, 0);
}

/* dHuber/dPred by central differences, in the quadratic and the linear region and for several
 * deltas, then through a model: the loop's gradient path (loss -> backward) agrees with the
 * change of the loss under a nudge of a parameter. */
static void test_huber_gradient(void)
{
    float pred[6] = {0.1f, -0.3f, 2.0f, -4.0f, 0.7f, 1.2f};
    float target[6] = {0.0f, 0.2f, -1.0f, 1.0f, 0.65f, -0.5f};
    const double deltas[] = {0.25, 1.0, 3.0};
    for (size_t k = 0; k < SAO_ARRAY_LEN(deltas); k++) {
        float d[6];
        sao_model_huber(d, pred, target, 6, deltas[k]);
        for (int i = 0; i < 6; i++) {
            const float h = 1e-3f;
            float saved = pred[i];
            pred[i] = saved + h;
            double up = sao_model_huber(NULL, pred, target, 6, deltas[k]);
            pred[i] = saved - h;
            double down = sao_model_huber(NULL, pred, target, 6, deltas[k]);
            pred[i] = saved;
            ASSERT_NEAR(d[i], (up - down) / (2.0 * (double)h), 1e-4);
        }
    }

    sao_model *m = tiny_model(SAO_MODEL_GRU, 3, 2);
    enum { B = 4, T = 5 };
    float x[B * T], y[B * 2], out[B * 2], d_out[B * 2];
    for (int i = 0; i < B * T; i++) x[i] = sinf(0.7f * (float)i);
    for (int i = 0; i < B * 2; i++) y[i] = (i % 3) ? 2.0f : -0.05f; /* both regions */
    size_t count;
    float *w = sao_model_weights(m, &count);
    float *g = sao_model_grads(m, NULL);
    sao_model_zero_grad(m);
    ASSERT_OK(sao_model_forward(m, out, x, B, T, 0));
    sao_model_huber(d_out, out, y, B * 2, 0.5);
    ASSERT_OK(sao_model_backward(m, d_out));
    float *analytic = sao_malloc(count * sizeof(float));
    memcpy(analytic, g, count * sizeof(float));
    for (size_t i = 0; i < count; i += 3) {
        const float h = 1e-2f;
        float saved = w[i];
        w[i] = saved + h;
        ASSERT_OK(sao_model_forward(m, out, x, B, T, 0));
        double up = sao_model_huber(NULL, out, y, B * 2, 0.5);
        w[i] = saved - h;
        ASSERT_OK(sao_model_forward(m, out, x, B, T, 0));
        double down = sao_model_huber(NULL, out, y, B * 2, 0.5);
        w[i] = saved;
        ASSERT_NEAR(analytic[i], (up - down) / (2.0 * (double)h), 2e-3);
    }
    sao_free(analytic);
    sao_model_free(m);
}

/* Windows of a noisy-free sine, context 12, horizon 2: `count` windows from phase `first`. */
typedef struct sine_set {
    float *inputs, *targets;
    sao_model_windows windows;
} sine_set;

static void sine_set_make(sine_set *s, size_t first, size_t count)
{
    enum { C = 12, H = 2 };
    s->inputs = sao_malloc(count * C * sizeof(float));
    s->targets = sao_malloc(count * H * sizeof(float));
    for (size_t w = 0; w < count; w++) {
        for (size_t t = 0; t < C; t++) s->inputs[w * C + t] = sinf(0.25f * (float)(first + w + t));
        for (size_t k = 0; k < H; k++)
            s->targets[w * H + k] = sinf(0.25f * (float)(first + w + C + k));
    }
    s->windows.inputs = s->inputs;
    s->windows.targets = s->targets;
    s->windows.count = count;
    s->windows.context_length = C;
}

static void sine_set_dispose(sine_set *s)
{
    sao_free(s->inputs);
    sao_free(s->targets);
}

static sao_model_train_config loop_config(void)
{
    sao_model_train_config cfg;
    sao_model_train_config_init(&cfg);
    cfg.adam.learning_rate = 1e-2f;
    cfg.adam.clip_norm = 1.0f;
    cfg.epochs = 15;
    cfg.batch_size = 16;
    cfg.seed = 7;
    return cfg;
}

static void test_train_config(void)
{
    sao_model_train_config cfg;
    sao_model_train_config_init(&cfg);
    ASSERT_EQ(cfg.epochs, 50);
    ASSERT_EQ(cfg.batch_size, 32);
    ASSERT_EQ(cfg.loss, SAO_MODEL_LOSS_MSE);
    ASSERT_EQ(cfg.early_stopping, 10);
    ASSERT_EQ(cfg.plateau_patience, 5);

    sao_model *m = tiny_model(SAO_MODEL_LSTM, 4, 2);
    sine_set train, val;
    sine_set_make(&train, 0, 20);
    sine_set_make(&val, 40, 5);
    sao_model_history h = {0};
    cfg.batch_size = 0;
    ASSERT_EQ(sao_model_train(m, &h, &train.windows, &val.windows, &cfg), SAO_EINVAL);
    cfg = loop_config();
    cfg.loss = SAO_MODEL_LOSS_HUBER;
    cfg.huber_delta = 0.0;
    ASSERT_EQ(sao_model_train(m, &h, &train.windows, &val.windows, &cfg), SAO_EINVAL);
    cfg = loop_config();
    val.windows.count = 0;
    ASSERT_EQ(sao_model_train(m, &h, &train.windows, &val.windows, &cfg), SAO_EINVAL);
    val.windows.count = 5;
    val.windows.context_length = 11;
    ASSERT_EQ(sao_model_train(m, &h, &train.windows, &val.windows, &cfg), SAO_EINVAL);
    ASSERT_TRUE(h.epochs == NULL);
    sao_model_history_dispose(&h);
    sao_model_history_dispose(NULL);
    sine_set_dispose(&train);
    sine_set_dispose(&val);
    sao_model_free(m);
}

static void loss_falls(sao_model_arch arch, sao_model_loss loss)
{
    sao_model_set_threads(1);
    sao_model *m = tiny_model(arch, 12, 2);
    sine_set train, val;
    sine_set_make(&train, 0, 160);
    sine_set_make(&val, 200, 40);
    sao_model_train_config cfg = loop_config();
    cfg.loss = loss;
    sao_model_history h;
    ASSERT_OK(sao_model_train(m, &h, &train.windows, &val.windows, &cfg));
    ASSERT_EQ(h.count, 15);
    fprintf(stderr, "%s %s: train %.5f -> %.5f, validation %.5f -> best %.5f (epoch %d)\n",
            sao_model_arch_name(arch), loss == SAO_MODEL_LOSS_MSE ? "mse" : "huber",
            h.epochs[0].train_loss, h.epochs[h.count - 1].train_loss, h.epochs[0].val_loss,
            h.best_val_loss, h.best_epoch);
    ASSERT_TRUE(h.epochs[h.count - 1].train_loss < 0.2 * h.epochs[0].train_loss);
    ASSERT_TRUE(h.best_val_loss < 0.2 * h.epochs[0].val_loss);
    for (size_t e = 0; e < h.count; e++) {
        ASSERT_EQ(h.epochs[e].epoch, (int)e + 1);
        ASSERT_TRUE(h.epochs[e].seconds >= 0.0);
    }
    sao_model_history_dispose(&h);
    sine_set_dispose(&train);
    sine_set_dispose(&val);
    sao_model_free(m);
}

static void test_loop_loss_falls(void)
{
    loss_falls(SAO_MODEL_LSTM, SAO_MODEL_LOSS_MSE);
    loss_falls(SAO_MODEL_GRU, SAO_MODEL_LOSS_HUBER);
}

/* After epoch `at` the callback wrecks the weights (as a diverging run would); early stopping
 * must end the run `patience` epochs after the best one and hand back the best epoch's weights,
 * whose validation loss is then exactly the recorded one. */
typedef struct wreck_state {
    sao_model *model;
    int at;
    double seen[64];
    int calls;
} wreck_state;

static int wreck_after(const sao_model_epoch *epoch, void *userdata)
{
    wreck_state *st = userdata;
    st->seen[st->calls++] = epoch->val_loss;
    if (epoch->epoch == st->at) {
        size_t count;
        float *w = sao_model_weights(st->model, &count);
        for (size_t i = 0; i < count; i++) w[i] = (i % 2) ? 40.0f : -40.0f;
    }
    return 0;
}

static void test_early_stopping_restores_best(void)
{
    sao_model_set_threads(1);
    sao_model *m = tiny_model(SAO_MODEL_LSTM, 8, 2);
    sine_set train, val;
    sine_set_make(&train, 0, 120);
    sine_set_make(&val, 150, 30);
    sao_model_train_config cfg = loop_config();
    cfg.epochs = 40;
    cfg.early_stopping = 3;
    cfg.plateau_patience = 0;
    cfg.adam.learning_rate = 1e-4f; /* too slow to climb out of the wreck in three epochs */
    wreck_state st = {.model = m, .at = 4};
    cfg.on_epoch = wreck_after;
    cfg.userdata = &st;
    sao_model_history h;
    ASSERT_OK(sao_model_train(m, &h, &train.windows, &val.windows, &cfg));
    ASSERT_EQ(h.best_epoch, 4);
    ASSERT_TRUE(h.stopped_early);
    ASSERT_EQ(h.count, 7);
    ASSERT_EQ(st.calls, 7);
    for (size_t e = 0; e < h.count; e++) ASSERT_TRUE(h.epochs[e].val_loss == st.seen[e]);
    ASSERT_TRUE(h.epochs[3].improved && !h.epochs[4].improved);
    ASSERT_TRUE(h.epochs[6].val_loss > 10 * h.best_val_loss);
    double restored;
    ASSERT_OK(
        sao_model_loss_of(&restored, m, &val.windows, SAO_MODEL_LOSS_MSE, 1.0, cfg.batch_size));
    ASSERT_TRUE(restored == h.best_val_loss);
    ASSERT_TRUE(restored == h.epochs[3].val_loss);
    sao_model_history_dispose(&h);
    sine_set_dispose(&train);
    sine_set_dispose(&val);
    sao_model_free(m);
}

/* With min_delta huge no epoch after the first improves: patience 1 reduces the rate after
 * epochs 3 and 5 (more than one bad epoch each time), and the floor holds it at min lr. */
static void test_plateau_reduces_lr(void)
{
    sao_model *m = tiny_model(SAO_MODEL_GRU, 4, 2);
    sine_set train, val;
    sine_set_make(&train, 0, 40);
    sine_set_make(&val, 60, 10);
    sao_model_train_config cfg = loop_config();
    cfg.epochs = 7;
    cfg.early_stopping = 0;
    cfg.plateau_patience = 1;
    cfg.plateau_factor = 0.5;
    cfg.min_delta = 1e9;
    cfg.min_learning_rate = 0.01 / 3.0;
    sao_model_history h;
    ASSERT_OK(sao_model_train(m, &h, &train.windows, &val.windows, &cfg));
    ASSERT_EQ(h.count, 7);
    ASSERT_TRUE(!h.stopped_early);
    ASSERT_EQ(h.best_epoch, 1);
    const double lr = (double)1e-2f;
    const double expect[7] = {lr, lr, lr, lr / 2, lr / 2, 0.01 / 3.0, 0.01 / 3.0};
    for (int e = 0; e < 7; e++) ASSERT_NEAR(h.epochs[e].learning_rate, expect[e], 1e-12);
    sao_model_history_dispose(&h);
    sine_set_dispose(&train);
    sine_set_dispose(&val);
    sao_model_free(m);
}

static void run_once(float **weights, size_t *count, sao_model_history *h, uint64_t seed)
{
    sao_model_set_threads(1);
    sao_model_config mc;
    sao_model_config_init(&mc);
    mc.input_size = 1;
    mc.hidden_size = 6;
    mc.num_layers = 2;
    mc.horizon = 2;
    mc.dropout = 0.2f; /* the model's own generator must be deterministic too */
    sao_model *m = NULL;
    ASSERT_OK(sao_model_new(&m, &mc));
    sine_set train, val;
    sine_set_make(&train, 0, 50);
    sine_set_make(&val, 70, 10);
    sao_model_train_config cfg = loop_config();
    cfg.epochs = 4;
    cfg.seed = seed;
    ASSERT_OK(sao_model_train(m, h, &train.windows, &val.windows, &cfg));
    const float *w = sao_model_weights(m, count);
    *weights = sao_malloc(*count * sizeof(float));
    memcpy(*weights, w, *count * sizeof(float));
    sine_set_dispose(&train);
    sine_set_dispose(&val);
    sao_model_free(m);
}

static void test_train_deterministic(void)
{
    float *a, *b, *c;
    size_t na, nb, nc;
    sao_model_history ha, hb, hc;
    run_once(&a, &na, &ha, 11);
    run_once(&b, &nb, &hb, 11);
    run_once(&c, &nc, &hc, 12);
    ASSERT_EQ(na, nb);
    ASSERT_TRUE(memcmp(a, b, na * sizeof(float)) == 0);
    ASSERT_EQ(ha.count, hb.count);
    for (size_t e = 0; e < ha.count; e++) {
        ASSERT_TRUE(ha.epochs[e].train_loss == hb.epochs[e].train_loss);
        ASSERT_TRUE(ha.epochs[e].val_loss == hb.epochs[e].val_loss);
    }
    /* Another shuffle seed visits the windows in another order. */
    ASSERT_TRUE(memcmp(a, c, na * sizeof(float)) != 0);
    sao_free(a);
    sao_free(b);
    sao_free(c);
    sao_model_history_dispose(&ha);
    sao_model_history_dispose(&hb);
    sao_model_history_dispose(&hc);
}

static char progress_log[8192];

static void capture_progress(sao_log_level level, const char *module, const char *message,
                             void *userdata)
{
    (void)level;
    (void)userdata;
    size_t len = strlen(progress_log);
    snprintf(progress_log + len, sizeof(progress_log) - len, "%s: %s\n", module, message);
}

/* Off a terminal the loop writes one log line per epoch (and sao_progress its own lines). */
static void test_progress_lines(void)
{
    sao_model *m = tiny_model(SAO_MODEL_LSTM, 4, 2);
    sine_set train, val;
    sine_set_make(&train, 0, 30);
    sine_set_make(&val, 50, 8);
    sao_model_train_config cfg = loop_config();
    cfg.epochs = 3;
    cfg.progress = 1;
    setenv("SAO_PROGRESS", "log", 1);
    progress_log[0] = '\0';
    sao_log_set_level(SAO_LOG_INFO);
    sao_log_set_sink(capture_progress, NULL);
    int rc = sao_model_train(m, NULL, &train.windows, &val.windows, &cfg);
    sao_log_set_sink(NULL, NULL);
    unsetenv("SAO_PROGRESS");
    ASSERT_OK(rc);
    ASSERT_CONTAINS(progress_log, "train: epoch 1/3: train loss");
    ASSERT_CONTAINS(progress_log, "train: epoch 3/3");
    ASSERT_CONTAINS(progress_log, "validation loss");
    sine_set_dispose(&train);
    sine_set_dispose(&val);
    sao_model_free(m);
}

SAO_TEST_MAIN(TEST(test_adam_update), TEST(test_adam_clipping), TEST(test_learn_sine_lstm),
              TEST(test_learn_sine_gru), TEST(test_huber_values), TEST(test_huber_gradient),
              TEST(test_train_config), TEST(test_loop_loss_falls),
              TEST(test_early_stopping_restores_best), TEST(test_plateau_reduces_lr),
              TEST(test_train_deterministic), TEST(test_progress_lines))
