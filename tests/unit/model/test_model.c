/*
 * Tests of the recurrent models: hand-computed forward values, gradients of every parameter
 * against central finite differences, dropout, initialization and determinism.
 */
#include "test.h"

#include "model/model_int.h"

static sao_model *make_model(sao_model_arch arch, int input_size, int hidden, int layers,
                             int horizon, float dropout, uint64_t seed)
{
    sao_model_config cfg;
    sao_model_config_init(&cfg);
    cfg.arch = arch;
    cfg.input_size = input_size;
    cfg.hidden_size = hidden;
    cfg.num_layers = layers;
    cfg.horizon = horizon;
    cfg.dropout = dropout;
    cfg.seed = seed;
    sao_model *m = NULL;
    ASSERT_OK(sao_model_new(&m, &cfg));
    return m;
}

static void fill_uniform(float *v, size_t count, uint64_t seed, float scale)
{
    sao_model__rng rng;
    sao_model__rng_seed(&rng, seed);
    for (size_t i = 0; i < count; i++) v[i] = (2.0f * sao_model__rng_uniform(&rng) - 1.0f) * scale;
}

/* Sets a 1-input, 1-unit, 1-layer model's parameters from the gate values listed in PyTorch's
 * order, then the head (weight 1.5, bias -0.2). */
static void set_tiny_weights(sao_model *m, const float *w_ih, const float *w_hh, const float *b_ih,
                             const float *b_hh, int gates)
{
    size_t count;
    const sao_model_param *p = sao_model_params(m, &count);
    float *w = sao_model_weights(m, NULL);
    ASSERT_EQ(count, 6);
    for (int k = 0; k < gates; k++) {
        w[p[0].offset + (size_t)k] = w_ih[k];
        w[p[1].offset + (size_t)k] = w_hh[k];
        w[p[2].offset + (size_t)k] = b_ih[k];
        w[p[3].offset + (size_t)k] = b_hh[k];
    }
    w[p[4].offset] = 1.5f;
    w[p[5].offset] = -0.2f;
}

static void test_param_names_and_shapes(void)
{
    sao_model *m = make_model(SAO_MODEL_LSTM, 7, 16, 2, 5, 0.0f, 1);
    size_t count;
    const sao_model_param *p = sao_model_params(m, &count);
    ASSERT_EQ(count, 10);
    ASSERT_STREQ(p[0].name, "lstm.weight_ih_l0");
    ASSERT_EQ(p[0].shape[0], 64);
    ASSERT_EQ(p[0].shape[1], 7);
    ASSERT_STREQ(p[1].name, "lstm.weight_hh_l0");
    ASSERT_EQ(p[1].shape[1], 16);
    ASSERT_STREQ(p[2].name, "lstm.bias_ih_l0");
    ASSERT_EQ(p[2].ndim, 1);
    ASSERT_EQ(p[2].count, 64);
    ASSERT_STREQ(p[3].name, "lstm.bias_hh_l0");
    ASSERT_STREQ(p[4].name, "lstm.weight_ih_l1");
    ASSERT_EQ(p[4].shape[1], 16);
    ASSERT_STREQ(p[8].name, "head.weight");
    ASSERT_EQ(p[8].shape[0], 5);
    ASSERT_EQ(p[8].shape[1], 16);
    ASSERT_STREQ(p[9].name, "head.bias");
    size_t total;
    float *w = sao_model_weights(m, &total);
    ASSERT_EQ(total, p[9].offset + p[9].count);
    /* PyTorch's interval: (-1/sqrt(H), 1/sqrt(H)), and actually spread over it. */
    float lo = 1.0f, hi = -1.0f;
    for (size_t i = 0; i < total; i++) {
        ASSERT_TRUE(w[i] >= -0.25f && w[i] <= 0.25f);
        if (w[i] < lo) lo = w[i];
        if (w[i] > hi) hi = w[i];
    }
    ASSERT_TRUE(lo < -0.24f && hi > 0.24f);
    sao_model_free(m);

    m = make_model(SAO_MODEL_GRU, 3, 8, 1, 2, 0.0f, 1);
    p = sao_model_params(m, &count);
    ASSERT_EQ(count, 6);
    ASSERT_STREQ(p[0].name, "gru.weight_ih_l0");
    ASSERT_EQ(p[0].shape[0], 24);
    ASSERT_STREQ(p[3].name, "gru.bias_hh_l0");
    sao_model_free(m);
}

static void test_config_errors(void)
{
    sao_model_config cfg;
    sao_model_config_init(&cfg);
    sao_model *m = NULL;
    ASSERT_EQ(sao_model_new(&m, &cfg), SAO_EINVAL); /* input_size left 0 */
    ASSERT_CONTAINS(sao_error_last(), "input_size");
    cfg.input_size = 3;
    cfg.dropout = 1.0f;
    ASSERT_EQ(sao_model_new(&m, &cfg), SAO_EINVAL);
    cfg.dropout = 0.0f;
    cfg.num_layers = 0;
    ASSERT_EQ(sao_model_new(&m, &cfg), SAO_EINVAL);
    ASSERT_TRUE(m == NULL);
    sao_model_free(NULL);

    sao_model_arch arch;
    ASSERT_OK(sao_model_arch_parse("gru", &arch));
    ASSERT_EQ(arch, SAO_MODEL_GRU);
    ASSERT_EQ(sao_model_arch_parse("rnn", &arch), SAO_EINVAL);

    m = make_model(SAO_MODEL_LSTM, 1, 1, 1, 1, 0.0f, 1);
    float d = 1.0f, x = 0.0f, y;
    ASSERT_EQ(sao_model_backward(m, &d), SAO_ESTATE);
    ASSERT_EQ(sao_model_forward(m, &y, &x, 0, 1, 0), SAO_EINVAL);
    sao_model_free(m);
}

/* Expected values from an independent double-precision evaluation of the equations (Python's
 * math module) with the same weights and the input sequence 1.0, -0.5, 0.25. */
static void test_lstm_hand_forward(void)
{
    sao_model_set_threads(1);
    sao_model *m = make_model(SAO_MODEL_LSTM, 1, 1, 1, 1, 0.0f, 1);
    const float w_ih[] = {0.5f, -0.3f, 0.8f, 0.2f}, w_hh[] = {0.1f, 0.4f, -0.6f, 0.3f};
    const float b_ih[] = {0.05f, 0.1f, -0.05f, 0.0f}, b_hh[] = {0.0f, 0.2f, 0.1f, -0.1f};
    set_tiny_weights(m, w_ih, w_hh, b_ih, b_hh, 4);
    const float x[] = {1.0f, -0.5f, 0.25f};
    float y;
    ASSERT_OK(sao_model_forward(m, &y, x, 1, 3, 0));
    ASSERT_NEAR(m->slices[0].cache[0].h[2], 0.079578146492453, 1e-6);
    ASSERT_NEAR(y, -0.08063278026132051, 1e-6);
    sao_model_free(m);
}

static void test_gru_hand_forward(void)
{
    sao_model_set_threads(1);
    sao_model *m = make_model(SAO_MODEL_GRU, 1, 1, 1, 1, 0.0f, 1);
    const float w_ih[] = {0.5f, -0.3f, 0.8f}, w_hh[] = {0.1f, 0.4f, -0.6f};
    const float b_ih[] = {0.05f, 0.1f, -0.05f}, b_hh[] = {0.0f, 0.2f, 0.1f};
    set_tiny_weights(m, w_ih, w_hh, b_ih, b_hh, 3);
    const float x[] = {1.0f, -0.5f, 0.25f};
    float y;
    ASSERT_OK(sao_model_forward(m, &y, x, 1, 3, 0));
    ASSERT_NEAR(m->slices[0].cache[0].h[2], 0.11015436685134572, 1e-6);
    ASSERT_NEAR(y, -0.03476844972298143, 1e-6);
    sao_model_free(m);
}

/* loss = sum_k loss_weight[k] * out[k], in double, so dLoss/dOut = loss_weight. The generator
 * is restored before each pass so that a training forward draws the same dropout masks. */
static double weighted_loss(sao_model *m, const sao_model__rng *rng, const float *x, size_t batch,
                            size_t steps, int training, const float *loss_weight, float *out)
{
    m->rng = *rng;
    ASSERT_OK(sao_model_forward(m, out, x, batch, steps, training));
    size_t n = batch * (size_t)m->config.horizon;
    double loss = 0.0;
    for (size_t k = 0; k < n; k++) loss += (double)loss_weight[k] * (double)out[k];
    return loss;
}

/* Compares every parameter's analytic gradient with (L(w+e) - L(w-e)) / 2e. In float32 with
 * e = 1e-2 the difference quotient is good to about 1e-4 on this tiny model, so the tolerance
 * 1e-2 relative plus 1e-4 absolute passes a correct gradient and fails any wrong term (whose
 * error is of the order of the gradient itself). */
static void grad_check_with(sao_model_arch arch, int layers, float dropout, int training,
                            int threads)
{
    sao_model_set_threads(threads);
    const size_t batch = 3, steps = 5;
    const int input_size = 3, hidden = 4, horizon = 2;
    sao_model *m = make_model(arch, input_size, hidden, layers, horizon, dropout, 7);
    float x[3 * 5 * 3], loss_weight[3 * 2], out[3 * 2];
    fill_uniform(x, SAO_ARRAY_LEN(x), 11, 1.0f);
    fill_uniform(loss_weight, SAO_ARRAY_LEN(loss_weight), 13, 1.0f);
    /* Larger weights than the default init, so the gates leave their linear region. */
    size_t count;
    float *w = sao_model_weights(m, &count);
    fill_uniform(w, count, 17, 0.6f);
    const sao_model__rng rng = m->rng;

    sao_model_zero_grad(m);
    weighted_loss(m, &rng, x, batch, steps, training, loss_weight, out);
    ASSERT_OK(sao_model_backward(m, loss_weight));
    float *analytic = sao_malloc(count * sizeof(float));
    memcpy(analytic, sao_model_grads(m, NULL), count * sizeof(float));

    const float eps = 1e-2f;
    size_t significant = 0;
    for (size_t i = 0; i < count; i++) {
        float saved = w[i];
        w[i] = saved + eps;
        double plus = weighted_loss(m, &rng, x, batch, steps, training, loss_weight, out);
        w[i] = saved - eps;
        double minus = weighted_loss(m, &rng, x, batch, steps, training, loss_weight, out);
        w[i] = saved;
        double numeric = (plus - minus) / (2.0 * (double)eps);
        double a = analytic[i];
        double scale = fabs(numeric) > fabs(a) ? fabs(numeric) : fabs(a);
        if (!(fabs(numeric - a) <= 1e-2 * scale + 1e-4)) {
            size_t np;
            const sao_model_param *p = sao_model_params(m, &np);
            const char *name = "?";
            for (size_t k = 0; k < np; k++)
                if (i >= p[k].offset && i < p[k].offset + p[k].count) name = p[k].name;
            fprintf(stderr, "gradient of %s[%zu]: analytic %.6g, numeric %.6g\n", name, i, a,
                    numeric);
            ASSERT_TRUE(0);
        }
        if (fabs(a) > 1e-3) significant++;
    }
    /* The check means something only if many gradients are clearly non-zero (some are small by
     * construction, e.g. the forget gate at step 0 where the previous cell state is zero). */
    if (!(significant * 5 > count * 2))
        fprintf(stderr, "significant %zu of %zu\n", significant, count);
    ASSERT_TRUE(significant * 5 > count * 2);
    sao_free(analytic);
    sao_model_free(m);
    sao_model_set_threads(1);
}

/* Every gradient check runs on both matrix kernels (the own one only where the processor has
 * AVX-512), and with the batch of 3 cut into 1, 2 and 3 slices. */
static void grad_check(sao_model_arch arch, int layers, float dropout, int training)
{
    for (int own = 0; own < 2; own++) {
        int previous = sao_model__set_kernels(own);
        for (int threads = 1; threads <= 3; threads++)
            grad_check_with(arch, layers, dropout, training, threads);
        sao_model__set_kernels(previous);
    }
}

static void test_grad_lstm_1layer(void)
{
    grad_check(SAO_MODEL_LSTM, 1, 0.0f, 0);
}

static void test_grad_lstm_2layers(void)
{
    grad_check(SAO_MODEL_LSTM, 2, 0.0f, 0);
}

static void test_grad_gru_1layer(void)
{
    grad_check(SAO_MODEL_GRU, 1, 0.0f, 0);
}

static void test_grad_gru_2layers(void)
{
    grad_check(SAO_MODEL_GRU, 2, 0.0f, 0);
}

/* Three layers with dropout masks in training mode: the masks must enter the backward pass. */
static void test_grad_dropout(void)
{
    grad_check(SAO_MODEL_LSTM, 3, 0.3f, 1);
    grad_check(SAO_MODEL_GRU, 3, 0.3f, 1);
}

static void test_backward_accumulates(void)
{
    sao_model_set_threads(1);
    sao_model *m = make_model(SAO_MODEL_GRU, 2, 3, 2, 2, 0.0f, 5);
    float x[2 * 4 * 2], d[2 * 2], out[2 * 2];
    fill_uniform(x, SAO_ARRAY_LEN(x), 1, 1.0f);
    fill_uniform(d, SAO_ARRAY_LEN(d), 2, 1.0f);
    size_t count;
    ASSERT_OK(sao_model_forward(m, out, x, 2, 4, 0));
    ASSERT_OK(sao_model_backward(m, d));
    float *g = sao_model_grads(m, &count);
    float *first = sao_malloc(count * sizeof(float));
    memcpy(first, g, count * sizeof(float));
    ASSERT_OK(sao_model_backward(m, d));
    for (size_t i = 0; i < count; i++) ASSERT_NEAR(g[i], 2.0f * first[i], 1e-6);
    sao_model_zero_grad(m);
    for (size_t i = 0; i < count; i++) ASSERT_TRUE(g[i] == 0.0f);
    sao_free(first);
    sao_model_free(m);
}

static void test_dropout_masks(void)
{
    sao_model_set_threads(1);
    /* Evaluation ignores dropout; training draws masks that change the output. */
    sao_model *m = make_model(SAO_MODEL_LSTM, 2, 8, 2, 1, 0.5f, 3);
    float x[4 * 6 * 2], a[4], b[4], c[4];
    fill_uniform(x, SAO_ARRAY_LEN(x), 5, 1.0f);
    ASSERT_OK(sao_model_forward(m, a, x, 4, 6, 0));
    ASSERT_OK(sao_model_forward(m, b, x, 4, 6, 0));
    ASSERT_TRUE(memcmp(a, b, sizeof(a)) == 0);
    ASSERT_OK(sao_model_forward(m, c, x, 4, 6, 1));
    ASSERT_TRUE(memcmp(a, c, sizeof(a)) != 0);
    /* Inverted dropout: kept units are scaled by 1/(1-p), about half are dropped. */
    size_t zero = 0, n = 4 * 6 * 8;
    for (size_t i = 0; i < n; i++) {
        float v = m->slices[0].cache[0].mask[i];
        ASSERT_TRUE(v == 0.0f || v == 2.0f);
        zero += v == 0.0f;
    }
    ASSERT_TRUE(zero > n / 3 && zero < 2 * n / 3);
    sao_model_free(m);
}

static void test_determinism(void)
{
    sao_model_set_threads(2);
    for (int arch = 0; arch < 2; arch++) {
        sao_model *m1 = make_model((sao_model_arch)arch, 4, 16, 2, 3, 0.2f, 99);
        sao_model *m2 = make_model((sao_model_arch)arch, 4, 16, 2, 3, 0.2f, 99);
        sao_model *m3 = make_model((sao_model_arch)arch, 4, 16, 2, 3, 0.2f, 100);
        size_t count;
        float *w1 = sao_model_weights(m1, &count);
        ASSERT_TRUE(memcmp(w1, sao_model_weights(m2, NULL), count * sizeof(float)) == 0);
        ASSERT_TRUE(memcmp(w1, sao_model_weights(m3, NULL), count * sizeof(float)) != 0);

        float x[8 * 10 * 4], d[8 * 3], y1[8 * 3], y2[8 * 3];
        fill_uniform(x, SAO_ARRAY_LEN(x), 21, 1.0f);
        fill_uniform(d, SAO_ARRAY_LEN(d), 22, 1.0f);
        for (int training = 0; training < 2; training++) {
            ASSERT_OK(sao_model_forward(m1, y1, x, 8, 10, training));
            ASSERT_OK(sao_model_forward(m2, y2, x, 8, 10, training));
            ASSERT_TRUE(memcmp(y1, y2, sizeof(y1)) == 0);
            ASSERT_OK(sao_model_backward(m1, d));
            ASSERT_OK(sao_model_backward(m2, d));
            ASSERT_TRUE(memcmp(sao_model_grads(m1, NULL), sao_model_grads(m2, NULL),
                               count * sizeof(float)) == 0);
        }
        sao_model_free(m1);
        sao_model_free(m2);
        sao_model_free(m3);
    }
    sao_model_set_threads(1);
}

/* Each sample's output depends on that sample only, whatever the batch around it, and a larger
 * batch after a smaller one (cache growth) works. */
static void test_batch_independence(void)
{
    sao_model_set_threads(1);
    sao_model *m = make_model(SAO_MODEL_GRU, 3, 5, 2, 2, 0.0f, 8);
    float x[5 * 7 * 3], all[5 * 2], one[2];
    fill_uniform(x, SAO_ARRAY_LEN(x), 31, 1.0f);
    ASSERT_OK(sao_model_forward(m, one, x + 2 * 7 * 3, 1, 7, 0));
    ASSERT_OK(sao_model_forward(m, all, x, 5, 7, 0));
    ASSERT_NEAR(all[2 * 2], one[0], 1e-6);
    ASSERT_NEAR(all[2 * 2 + 1], one[1], 1e-6);
    sao_model_free(m);
}

/* The activations against double-precision references over a dense sweep, the limits and the
 * special values they promise (see model_int.h). */
static void test_activations(void)
{
    double worst_sigmoid = 0.0, worst_tanh = 0.0, worst_exp = 0.0;
    for (double x = -100.0; x <= 100.0; x += 1.0 / 8192.0) {
        const float f = (float)x;
        const double sigmoid = 1.0 / (1.0 + exp(-(double)f));
        const double e_sigmoid = fabs((double)sao_model__sigmoid(f) - sigmoid);
        const double e_tanh = fabs((double)sao_model__tanh(f) - tanh((double)f));
        if (e_sigmoid > worst_sigmoid) worst_sigmoid = e_sigmoid;
        if (e_tanh > worst_tanh) worst_tanh = e_tanh;
        if (f >= -87.0f && f <= 88.0f) {
            const double e = exp((double)f);
            const double rel = fabs((double)sao_model__expf(f) - e) / e;
            if (rel > worst_exp) worst_exp = rel;
        }
    }
    fprintf(stderr, "activations: sigmoid %.3g, tanh %.3g off; exp %.3g relative\n", worst_sigmoid,
            worst_tanh, worst_exp);
    ASSERT_TRUE(worst_sigmoid <= 1e-7);
    ASSERT_TRUE(worst_tanh <= 2e-7);
    ASSERT_TRUE(worst_exp <= 2.0 * 1.1920929e-7); /* 2 ulp */
    /* Monotone where it matters for gates, and exact at 0. */
    ASSERT_TRUE(sao_model__sigmoid(0.0f) == 0.5f);
    ASSERT_TRUE(sao_model__tanh(0.0f) == 0.0f);
    ASSERT_TRUE(sao_model__expf(0.0f) == 1.0f);
    /* Limits: saturated, finite, in range. */
    ASSERT_TRUE(sao_model__sigmoid(INFINITY) == 1.0f);
    ASSERT_TRUE(sao_model__sigmoid(-INFINITY) >= 0.0f && sao_model__sigmoid(-INFINITY) < 1e-38f);
    ASSERT_TRUE(sao_model__tanh(INFINITY) == 1.0f);
    ASSERT_TRUE(sao_model__tanh(-INFINITY) == -1.0f);
    ASSERT_TRUE(sao_model__sigmoid(1e30f) == 1.0f && sao_model__tanh(-1e30f) == -1.0f);
    ASSERT_TRUE(isfinite(sao_model__expf(INFINITY)) && sao_model__expf(INFINITY) > 1e38f);
    ASSERT_TRUE(sao_model__expf(-INFINITY) > 0.0f && sao_model__expf(-INFINITY) < 2e-38f);
    /* NaN in, NaN out: a diverging model must not look healthy. */
    ASSERT_TRUE(isnan(sao_model__expf(NAN)));
    ASSERT_TRUE(isnan(sao_model__sigmoid(NAN)));
    ASSERT_TRUE(isnan(sao_model__tanh(NAN)));
}

/* sao_model__gemm against a double-precision product, A as given and as A^T, beta 0 and 1, on
 * shapes with every kind of edge (rows not a multiple of the tile, columns past a vector, k
 * across blocks), with both kernels. */
static void gemm_reference(double *c, size_t m, size_t n, size_t k, const float *a, size_t a_rs,
                           size_t a_cs, const float *b, size_t ldb, float beta, const float *c0,
                           size_t ldc)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double sum = (double)beta * (double)c0[i * ldc + j];
            for (size_t p = 0; p < k; p++)
                sum += (double)a[i * a_rs + p * a_cs] * (double)b[p * ldb + j];
            c[i * n + j] = sum;
        }
}

static void test_gemm_kernels(void)
{
    sao_model_set_threads(1);
    static const size_t shapes[][3] = {{1, 1, 1},      {3, 5, 7},     {8, 32, 16},    {9, 33, 17},
                                       {16, 512, 128}, {13, 37, 300}, {32, 128, 512}, {5, 7, 1920},
                                       {130, 48, 20},  {7, 512, 600}};
    for (int own = 0; own < 2; own++) {
        int previous = sao_model__set_kernels(own);
        for (size_t s = 0; s < SAO_ARRAY_LEN(shapes); s++) {
            const size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            const size_t ldb = n + 3, ldc = n + 5; /* strides wider than the rows */
            float *a = sao_malloc(m * k * sizeof(float));
            float *b = sao_malloc(k * ldb * sizeof(float));
            float *c0 = sao_malloc(m * ldc * sizeof(float));
            float *c = sao_malloc(m * ldc * sizeof(float));
            double *want = sao_malloc(m * n * sizeof(double));
            fill_uniform(a, m * k, 100 + s, 1.0f);
            fill_uniform(b, k * ldb, 200 + s, 1.0f);
            fill_uniform(c0, m * ldc, 300 + s, 1.0f);
            for (int transposed = 0; transposed < 2; transposed++) {
                /* A [m, k] row-major, or A^T [k, m] row-major. */
                const size_t a_rs = transposed ? 1 : k, a_cs = transposed ? m : 1;
                for (int with_beta = 0; with_beta < 2; with_beta++) {
                    const float beta = with_beta ? 1.0f : 0.0f;
                    memcpy(c, c0, m * ldc * sizeof(float));
                    sao_model__gemm(m, n, k, a, a_rs, a_cs, b, ldb, beta, c, ldc);
                    gemm_reference(want, m, n, k, a, a_rs, a_cs, b, ldb, beta, c0, ldc);
                    for (size_t i = 0; i < m; i++) {
                        for (size_t j = 0; j < n; j++)
                            ASSERT_NEAR(c[i * ldc + j], want[i * n + j], 1e-6 * sqrt((double)k));
                        /* Padding past n is never written. */
                        for (size_t j = n; j < ldc; j++)
                            ASSERT_TRUE(c[i * ldc + j] == c0[i * ldc + j]);
                    }
                }
            }
            /* The own kernel sums each element in k order whatever the rows around it: a lone
             * row comes out bit for bit as it does inside the full product. */
            if (sao_model__kernels() && m > 1 && k > 0) {
                float *row = sao_malloc(n * sizeof(float));
                sao_model__gemm(m, n, k, a, k, 1, b, ldb, 0.0f, c, ldc);
                sao_model__gemm(1, n, k, a + (m - 1) * k, k, 1, b, ldb, 0.0f, row, n);
                ASSERT_TRUE(memcmp(row, c + (m - 1) * ldc, n * sizeof(float)) == 0);
                sao_free(row);
            }
            sao_free(a);
            sao_free(b);
            sao_free(c0);
            sao_free(c);
            sao_free(want);
        }
        sao_model__set_kernels(previous);
    }
}

/* The same batch at 1, 2 and 3 threads (slices of 3/2/3 rows): outputs agree (to the bit on the
 * own kernel, whose sums do not depend on the rows around them), dropout masks are the same per
 * row, and the gradients agree to rounding. */
static void test_threads_agree(void)
{
    for (int arch = 0; arch < 2; arch++) {
        for (int training = 0; training < 2; training++) {
            float x[8 * 10 * 4], d[8 * 3], y1[8 * 3], y[8 * 3];
            fill_uniform(x, SAO_ARRAY_LEN(x), 41, 1.0f);
            fill_uniform(d, SAO_ARRAY_LEN(d), 42, 1.0f);
            float *g1 = NULL;
            size_t count = 0;
            for (int threads = 1; threads <= 3; threads++) {
                sao_model_set_threads(threads);
                sao_model *m = make_model((sao_model_arch)arch, 4, 16, 3, 3, 0.3f, 77);
                ASSERT_OK(sao_model_forward(m, threads == 1 ? y1 : y, x, 8, 10, training));
                ASSERT_EQ(m->slice_count, threads);
                ASSERT_OK(sao_model_backward(m, d));
                float *g = sao_model_grads(m, &count);
                if (threads == 1) {
                    g1 = sao_malloc(count * sizeof(float));
                    memcpy(g1, g, count * sizeof(float));
                } else {
                    for (size_t i = 0; i < SAO_ARRAY_LEN(y); i++) {
                        if (sao_model__kernels())
                            ASSERT_TRUE(y[i] == y1[i]);
                        else
                            ASSERT_NEAR(y[i], y1[i], 1e-6);
                    }
                    for (size_t i = 0; i < count; i++) ASSERT_NEAR(g[i], g1[i], 1e-5);
                }
                sao_model_free(m);
            }
            sao_free(g1);
        }
    }
    sao_model_set_threads(1);
}

/* A row's dropout masks come from its own generator: the same row in another slice, or in a
 * batch cut differently, is dropped the same way. */
static void test_masks_per_row(void)
{
    sao_model *a = make_model(SAO_MODEL_LSTM, 2, 9, 3, 1, 0.4f, 5);
    sao_model *b = make_model(SAO_MODEL_LSTM, 2, 9, 3, 1, 0.4f, 5);
    float x[11 * 6 * 2], out[11];
    fill_uniform(x, SAO_ARRAY_LEN(x), 6, 1.0f);
    sao_model_set_threads(1);
    ASSERT_OK(sao_model_forward(a, out, x, 11, 6, 1));
    sao_model_set_threads(3);
    ASSERT_OK(sao_model_forward(b, out, x, 11, 6, 1));
    ASSERT_EQ(b->slice_count, 3);
    const size_t hidden = 9;
    for (int l = 0; l < 2; l++)
        for (int si = 0; si < b->slice_count; si++) {
            const sao_model__slice *s = &b->slices[si];
            for (size_t t = 0; t < 6; t++)
                for (size_t r = 0; r < s->batch; r++) {
                    const float *mine = s->cache[l].mask + (t * s->batch + r) * hidden;
                    const float *whole =
                        a->slices[0].cache[l].mask + (t * 11 + s->first + r) * hidden;
                    ASSERT_TRUE(memcmp(mine, whole, hidden * sizeof(float)) == 0);
                }
        }
    sao_model_set_threads(1);
    sao_model_free(a);
    sao_model_free(b);
}

/* sao_model__recur against a one-row sao_model__gemm over W_hh^T, the product the training
 * forward runs: the same floats on the own kernel, with or without the input projection as a
 * base and with the passes in either order; within rounding of a double sum either way. Hidden
 * sizes fill whole 16-unit vectors or leave part of one, and 300 crosses the kernel's k block. */
static void test_recurrent_product(void)
{
    static const size_t hiddens[] = {1, 5, 16, 17, 64, 100, 300};
    for (int own = 0; own < 2; own++) {
        int previous = sao_model__set_kernels(own);
        for (size_t gates = 3; gates <= 4; gates++)
            for (size_t hi = 0; hi < SAO_ARRAY_LEN(hiddens); hi++) {
                const size_t hidden = hiddens[hi], rows = gates * hidden;
                const size_t padded =
                    (hidden + SAO_MODEL__LANES - 1) / SAO_MODEL__LANES * SAO_MODEL__LANES;
                float *w = sao_malloc(rows * hidden * sizeof(float));
                float *wt = sao_malloc(hidden * rows * sizeof(float));
                float *h = sao_malloc(hidden * sizeof(float));
                float *base = sao_malloc(gates * padded * sizeof(float));
                float *pre = sao_malloc(gates * padded * sizeof(float));
                float *want = sao_malloc(rows * sizeof(float));
                float *pack = sao_malloc(sao_model__recur_size(gates, hidden) * sizeof(float));
                fill_uniform(w, rows * hidden, 500 + hi, 1.0f);
                fill_uniform(h, hidden, 600 + hi, 1.0f);
                fill_uniform(base, gates * padded, 700 + hi, 1.0f);
                for (size_t r = 0; r < rows; r++)
                    for (size_t k = 0; k < hidden; k++) wt[k * rows + r] = w[r * hidden + k];
                sao_model__recur_pack(pack, w, gates, hidden);
                const size_t based_choices[] = {0, 2, gates};
                for (size_t bc = 0; bc < SAO_ARRAY_LEN(based_choices); bc++) {
                    const size_t based = based_choices[bc];
                    /* The training forward's products: beta 1 over the base, 0 past it. */
                    for (size_t g = 0; g < based; g++)
                        memcpy(want + g * hidden, base + g * padded, hidden * sizeof(float));
                    if (based)
                        sao_model__gemm(1, based * hidden, hidden, h, hidden, 1, wt, rows, 1.0f,
                                        want, rows);
                    if (based < gates)
                        sao_model__gemm(1, (gates - based) * hidden, hidden, h, hidden, 1,
                                        wt + based * hidden, rows, 0.0f, want + based * hidden,
                                        rows);
                    for (int backwards = 0; backwards < 2; backwards++) {
                        memset(pre, 0xFF, gates * padded * sizeof(float)); /* NaN */
                        sao_model__recur(pre, based ? base : NULL, based, h, pack, gates, hidden,
                                         backwards);
                        for (size_t g = 0; g < gates; g++)
                            for (size_t u = 0; u < hidden; u++) {
                                const size_t j = g * hidden + u;
                                double exact = g < based ? (double)base[g * padded + u] : 0.0;
                                for (size_t k = 0; k < hidden; k++)
                                    exact += (double)w[j * hidden + k] * (double)h[k];
                                const float got = pre[g * padded + u];
                                ASSERT_NEAR(got, exact, 1e-6 * sqrt((double)hidden));
                                if (sao_model__kernels()) ASSERT_NEAR(got, want[j], 0.0);
                            }
                    }
                }
                sao_free(w);
                sao_free(wt);
                sao_free(h);
                sao_free(base);
                sao_free(pre);
                sao_free(want);
                sao_free(pack);
            }
        sao_model__set_kernels(previous);
    }
}

/* The same float, sign of zero included, or NaN for NaN. */
static void assert_same_float(float got, float want)
{
    if (isnan(want)) {
        ASSERT_TRUE(isnan(got));
        return;
    }
    ASSERT_NEAR(got, want, 0.0);
    ASSERT_EQ(signbit(got) != 0, signbit(want) != 0);
}

/* The AVX-512 gate steps against the scalar activations they transcribe, on pre-activations that
 * reach the exponential's clamps, infinities, NaN and signed zeros, over widths that leave a
 * vector after the pairs the steps take. */
static void test_step_kernels(void)
{
    static const float special[] = {0.0f,  -0.0f,  1e-30f, -3.5f,  7.25f,    40.0f,     -45.0f,
                                    88.5f, -90.0f, 1e30f,  -1e30f, INFINITY, -INFINITY, NAN};
    static const size_t widths[] = {16, 32, 48, 80};
    int previous = sao_model__set_kernels(1);
    for (size_t wi = 0; wi < SAO_ARRAY_LEN(widths); wi++) {
        const size_t padded = widths[wi];
        float pre[4 * 80], bias[4 * 80], x_n[80], b_hn[80], prev[80], cell[80], h[80];
        fill_uniform(pre, 4 * padded, 900 + wi, 6.0f);
        fill_uniform(bias, 4 * padded, 910 + wi, 1.0f);
        fill_uniform(x_n, padded, 920 + wi, 3.0f);
        fill_uniform(b_hn, padded, 930 + wi, 1.0f);
        fill_uniform(prev, padded, 940 + wi, 2.0f);
        for (size_t i = 0; i < 4 * padded; i += 3)
            pre[i] = special[(i / 3 + wi) % SAO_ARRAY_LEN(special)];
        for (size_t i = 0; i < padded; i += 5) x_n[i] = special[(i / 5) % SAO_ARRAY_LEN(special)];

        memcpy(cell, prev, padded * sizeof(float));
        if (!sao_model__lstm_step(h, cell, pre, bias, padded)) break; /* no AVX-512 here */
        for (size_t j = 0; j < padded; j++) {
            const float i = sao_model__sigmoid(pre[j] + bias[j]);
            const float f = sao_model__sigmoid(pre[padded + j] + bias[padded + j]);
            const float g = sao_model__tanh(pre[2 * padded + j] + bias[2 * padded + j]);
            const float o = sao_model__sigmoid(pre[3 * padded + j] + bias[3 * padded + j]);
            const float c = f * prev[j] + i * g;
            assert_same_float(cell[j], c);
            assert_same_float(h[j], o * sao_model__tanh(c));
        }
        ASSERT_EQ(sao_model__gru_step(h, prev, pre, x_n, bias, b_hn, padded), 1);
        for (size_t j = 0; j < padded; j++) {
            const float r = sao_model__sigmoid(pre[j] + bias[j]);
            const float z = sao_model__sigmoid(pre[padded + j] + bias[padded + j]);
            const float hnv = pre[2 * padded + j] + b_hn[j];
            const float n = sao_model__tanh(x_n[j] + bias[2 * padded + j] + r * hnv);
            assert_same_float(h[j], (1.0f - z) * n + z * prev[j]);
        }
    }
    sao_model__set_kernels(0);
    float h[16], cell[16] = {0}, pre[4 * 16] = {0}, bias[4 * 16] = {0};
    ASSERT_EQ(sao_model__lstm_step(h, cell, pre, bias, 16), 0); /* the caller's loop runs */
    sao_model__set_kernels(previous);
}

/* The same floats as the training forward on the own kernel, rounding apart elsewhere. */
static void assert_same_outputs(const float *got, const float *want, size_t count)
{
    for (size_t i = 0; i < count; i++)
        ASSERT_NEAR(got[i], want[i], sao_model__kernels() ? 0.0 : 1e-6);
}

/* sao_model_predict_one against sao_model_forward with a batch of one and training off (dropout
 * set, so that ignoring it is checked too): both architectures, 1 to 3 layers, hidden sizes on
 * and off the 16-unit vectors and past the kernel's k block, narrow and wide inputs and heads,
 * windows of 1 to 60 steps; on both kernels. */
static void test_predict_one_matches_forward(void)
{
    static const struct {
        int input, hidden, layers, horizon;
        size_t steps;
    } shapes[] = {{7, 64, 2, 5, 60}, {7, 1, 1, 1, 5},    {3, 5, 3, 2, 9},   {7, 16, 1, 5, 60},
                  {7, 17, 2, 5, 33}, {1, 33, 3, 20, 12}, {40, 48, 2, 3, 7}, {7, 97, 2, 5, 60},
                  {5, 300, 1, 4, 6}, {7, 64, 1, 5, 1},   {2, 20, 3, 17, 2}};
    for (int own = 0; own < 2; own++) {
        int previous = sao_model__set_kernels(own);
        for (int arch = 0; arch < 2; arch++)
            for (size_t s = 0; s < SAO_ARRAY_LEN(shapes); s++) {
                const size_t steps = shapes[s].steps, features = (size_t)shapes[s].input;
                sao_model *m = make_model((sao_model_arch)arch, shapes[s].input, shapes[s].hidden,
                                          shapes[s].layers, shapes[s].horizon, 0.2f, 100 + s);
                float *x = sao_malloc(steps * features * sizeof(float));
                fill_uniform(x, steps * features, 200 + s, 2.0f);
                float want[20], got[20];
                ASSERT_OK(sao_model_forward(m, want, x, 1, steps, 0));
                ASSERT_OK(sao_model_predict_one(m, got, x, steps));
                assert_same_outputs(got, want, (size_t)shapes[s].horizon);
                /* A second call runs on the packs and scratch the first built. */
                ASSERT_OK(sao_model_predict_one(m, got, x, steps));
                assert_same_outputs(got, want, (size_t)shapes[s].horizon);
                sao_free(x);
                sao_model_free(m);
            }
        sao_model__set_kernels(previous);
    }
}

/* The packed weights follow the model's: writes through a fresh sao_model_weights pointer, or an
 * old one followed by sao_model_weights_changed, an optimizer step, a clone; windows of other
 * lengths; and a prediction between a forward and its backward changes no gradient. */
static void test_predict_one_tracks_weights(void)
{
    for (int arch = 0; arch < 2; arch++) {
        sao_model *m = make_model((sao_model_arch)arch, 3, 20, 2, 4, 0.0f, 9);
        float x[40 * 3], want[4], got[4];
        fill_uniform(x, SAO_ARRAY_LEN(x), 10, 1.0f);
        ASSERT_OK(sao_model_predict_one(m, got, x, 40));
        ASSERT_OK(sao_model_forward(m, want, x, 1, 40, 0));
        assert_same_outputs(got, want, 4);

        size_t count;
        float *w = sao_model_weights(m, &count);
        for (size_t i = 0; i < count; i++) w[i] *= -0.75f;
        ASSERT_OK(sao_model_predict_one(m, got, x, 40));
        ASSERT_OK(sao_model_forward(m, want, x, 1, 40, 0));
        assert_same_outputs(got, want, 4);

        /* `w` predates the last prediction. */
        for (size_t i = 0; i < count; i++) w[i] += 0.01f * (float)(i % 7);
        sao_model_weights_changed(m);
        ASSERT_OK(sao_model_predict_one(m, got, x, 40));
        ASSERT_OK(sao_model_forward(m, want, x, 1, 40, 0));
        assert_same_outputs(got, want, 4);

        static const size_t lengths[] = {10, 40, 3, 1, 25};
        for (size_t i = 0; i < SAO_ARRAY_LEN(lengths); i++) {
            const size_t steps = lengths[i];
            ASSERT_OK(sao_model_predict_one(m, got, x + (40 - steps) * 3, steps));
            ASSERT_OK(sao_model_forward(m, want, x + (40 - steps) * 3, 1, steps, 0));
            assert_same_outputs(got, want, 4);
        }

        /* A prediction between a forward and its backward. */
        float xb[3 * 12 * 3], d_out[3 * 4], out[3 * 4];
        fill_uniform(xb, SAO_ARRAY_LEN(xb), 11, 1.0f);
        fill_uniform(d_out, SAO_ARRAY_LEN(d_out), 12, 1.0f);
        ASSERT_OK(sao_model_forward(m, out, xb, 3, 12, 1));
        ASSERT_OK(sao_model_backward(m, d_out));
        float *g1 = sao_malloc(count * sizeof(float));
        memcpy(g1, sao_model_grads(m, NULL), count * sizeof(float));
        sao_model_zero_grad(m);
        ASSERT_OK(sao_model_forward(m, out, xb, 3, 12, 1));
        ASSERT_OK(sao_model_predict_one(m, got, x, 40));
        ASSERT_OK(sao_model_backward(m, d_out));
        ASSERT_TRUE(memcmp(g1, sao_model_grads(m, NULL), count * sizeof(float)) == 0);
        sao_free(g1);

        sao_model_adam_config acfg;
        sao_model_adam_config_init(&acfg);
        acfg.learning_rate = 0.05f;
        sao_model_adam *opt = NULL;
        ASSERT_OK(sao_model_adam_new(&opt, count, &acfg));
        ASSERT_OK(sao_model_adam_step(opt, m, NULL));
        sao_model_adam_free(opt);
        ASSERT_OK(sao_model_predict_one(m, got, x, 40));
        ASSERT_OK(sao_model_forward(m, want, x, 1, 40, 0));
        assert_same_outputs(got, want, 4);

        sao_model *c = NULL;
        ASSERT_OK(sao_model_clone(&c, m));
        ASSERT_TRUE(memcmp(sao_model_weights(c, NULL), w, count * sizeof(float)) == 0);
        float cloned[4];
        ASSERT_OK(sao_model_predict_one(c, cloned, x, 40));
        ASSERT_TRUE(memcmp(cloned, got, sizeof(cloned)) == 0);
        sao_model_free(c);

        ASSERT_EQ(sao_model_predict_one(m, got, x, 0), SAO_EINVAL);
        sao_model_free(m);
    }
}

static void test_mse(void)
{
    const float pred[] = {1.0f, 2.0f, 4.0f}, target[] = {1.0f, 0.0f, 5.0f};
    float d[3];
    ASSERT_NEAR(sao_model_mse(d, pred, target, 3), 5.0 / 3.0, 1e-12);
    ASSERT_NEAR(d[0], 0.0, 1e-7);
    ASSERT_NEAR(d[1], 4.0 / 3.0, 1e-6);
    ASSERT_NEAR(d[2], -2.0 / 3.0, 1e-6);
}

SAO_TEST_MAIN(TEST(test_param_names_and_shapes), TEST(test_config_errors),
              TEST(test_lstm_hand_forward), TEST(test_gru_hand_forward),
              TEST(test_grad_lstm_1layer), TEST(test_grad_lstm_2layers), TEST(test_grad_gru_1layer),
              TEST(test_grad_gru_2layers), TEST(test_grad_dropout), TEST(test_backward_accumulates),
              TEST(test_dropout_masks), TEST(test_determinism), TEST(test_batch_independence),
              TEST(test_activations), TEST(test_gemm_kernels), TEST(test_threads_agree),
              TEST(test_masks_per_row), TEST(test_recurrent_product), TEST(test_step_kernels),
              TEST(test_predict_one_matches_forward), TEST(test_predict_one_tracks_weights),
              TEST(test_mse))
