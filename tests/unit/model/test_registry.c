/*
 * Tests of the model registry (versions, promotion, model.json round trips, clear errors for
 * damaged or missing files) and of the training loop's frozen-parameter range used by transfer
 * learning.
 */
#include <math.h>
#include <stdlib.h>

#include "model/model.h"
#include "test.h"

static void make_home(const char *name)
{
    char home[512];
    snprintf(home, sizeof(home), "%s/%s", SAO_TEST_TMPDIR, name);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
    ASSERT_EQ(system(cmd), 0);
    ASSERT_OK(sao_mkdir_p(home));
    setenv("SAO_HOME", home, 1);
}

static sao_model *make_model(int input_size, int hidden, uint64_t seed)
{
    sao_model_config cfg;
    sao_model_config_init(&cfg);
    cfg.arch = SAO_MODEL_GRU;
    cfg.input_size = input_size;
    cfg.hidden_size = hidden;
    cfg.num_layers = 1;
    cfg.horizon = 3;
    cfg.dropout = 0.0f;
    cfg.seed = seed;
    sao_model *m = NULL;
    ASSERT_OK(sao_model_new(&m, &cfg));
    return m;
}

/* A card describing `m` with made-up data, metrics and reference distributions. */
static void make_card(sao_model_card *card, const char *ticker, const sao_model *m, double val_loss)
{
    sao_model_card_init(card);
    sao_strlcpy(card->ticker, ticker, sizeof(card->ticker));
    card->model = *sao_model_get_config(m);
    card->context_length = 10;
    int n = card->model.input_size;
    card->inputs = sao_calloc((size_t)n, sizeof(*card->inputs));
    for (int i = 0; i < n; i++) {
        sao_card_input *in = &card->inputs[i];
        snprintf(in->name, sizeof(in->name), "input_%d", i);
        sao_strlcpy(in->source, "technical_daily", sizeof(in->source));
        sao_strlcpy(in->formula, "ln(close[t] / close[t-1])", sizeof(in->formula));
        in->scaler_center = 0.001 * i;
        in->scaler_scale = 0.5 + i;
        in->mean = 0.25;
        in->std = 1.5;
        for (int q = 0; q < SAO_CARD_QUANTILES; q++) in->quantiles[q] = -1.0 + 0.1 * q;
    }
    card->first_day = sao_days_from_civil(2000, 1, 3);
    card->last_day = sao_days_from_civil(2024, 9, 12);
    for (int s = 0; s < 3; s++) {
        card->split_first[s] = card->first_day + 1000 * s;
        card->split_last[s] = card->first_day + 1000 * s + 900;
    }
    card->train_fraction = 0.7;
    card->val_fraction = 0.15;
    card->best_val_loss = val_loss;
    card->epochs_run = 2;
    card->best_epoch = 2;
    card->train_loss = sao_calloc(2, sizeof(double));
    card->val_loss = sao_calloc(2, sizeof(double));
    card->train_loss[0] = 2.0;
    card->train_loss[1] = 1.0;
    card->val_loss[0] = val_loss * 2;
    card->val_loss[1] = val_loss;
    card->learning_rate = 1e-3;
    card->batch_size = 32;
    card->shuffle_seed = 7;
    card->threads = 1;
    card->train_seconds = 1.25;

    /* A real evaluation, so the stored table is the one sao_eval_run computes. */
    double last[2] = {100.0, 101.0};
    double actual[6] = {101, 102, 103, 100, 99, 98};
    double pred[6] = {100.5, 101, 101.5, 100.8, 100.6, 100.4};
    ASSERT_OK(sao_eval_run(&card->eval, last, actual, pred, 2, 3, 0.0004));
}

static void save(int *version, int *serving, const char *ticker, uint64_t seed, double val_loss,
                 sao_promote_policy policy)
{
    sao_model *m = make_model(4, 5, seed);
    sao_model_card card;
    make_card(&card, ticker, m, val_loss);
    ASSERT_OK(sao_registry_save(version, serving, m, &card, policy));
    ASSERT_EQ(card.version, *version);
    sao_model_card_dispose(&card);
    sao_model_free(m);
}

static void test_policy_names(void)
{
    sao_promote_policy p;
    ASSERT_OK(sao_promote_policy_parse("if-better", &p));
    ASSERT_EQ(p, SAO_PROMOTE_IF_BETTER);
    ASSERT_OK(sao_promote_policy_parse("never", &p));
    ASSERT_EQ(p, SAO_PROMOTE_NEVER);
    ASSERT_EQ(sao_promote_policy_parse("sometimes", &p), SAO_EINVAL);
    ASSERT_CONTAINS(sao_error_last(), "sometimes");
    ASSERT_STREQ(sao_promote_policy_name(SAO_PROMOTE_ALWAYS), "always");
}

static void test_versions_and_promotion(void)
{
    make_home("registry_versions");
    int v, serving;
    int *list = NULL;
    size_t count;
    int current;
    ASSERT_EQ(sao_registry_versions(&list, &count, &current, "^GSPC"), SAO_ENOENT);
    ASSERT_CONTAINS(sao_error_last(), "no model registered for ^GSPC");

    /* Nothing serves yet: if-better promotes the first version. */
    save(&v, &serving, "^GSPC", 1, 0.50, SAO_PROMOTE_IF_BETTER);
    ASSERT_EQ(v, 1);
    ASSERT_EQ(serving, 1);
    /* Worse: stays behind. */
    save(&v, &serving, "^GSPC", 2, 0.60, SAO_PROMOTE_IF_BETTER);
    ASSERT_EQ(v, 2);
    ASSERT_EQ(serving, 0);
    /* Equal is "not worse": it serves. */
    save(&v, &serving, "^GSPC", 3, 0.50, SAO_PROMOTE_IF_BETTER);
    ASSERT_EQ(v, 3);
    ASSERT_EQ(serving, 1);
    /* never leaves the serving version alone even when better. */
    save(&v, &serving, "^GSPC", 4, 0.10, SAO_PROMOTE_NEVER);
    ASSERT_EQ(v, 4);
    ASSERT_EQ(serving, 0);
    /* always serves even when worse. */
    save(&v, &serving, "^GSPC", 5, 9.0, SAO_PROMOTE_ALWAYS);
    ASSERT_EQ(v, 5);
    ASSERT_EQ(serving, 1);

    ASSERT_OK(sao_registry_versions(&list, &count, &current, "^GSPC"));
    ASSERT_EQ(count, 5);
    for (size_t i = 0; i < count; i++) ASSERT_EQ(list[i], (int)i + 1);
    ASSERT_EQ(current, 5);
    sao_free(list);

    /* Other tickers have their own numbering. */
    save(&v, &serving, "AAPL", 9, 1.0, SAO_PROMOTE_NEVER);
    ASSERT_EQ(v, 1);
    ASSERT_EQ(serving, 0);
    sao_model_card card;
    ASSERT_EQ(sao_registry_read_card(&card, "AAPL", 0), SAO_ENOENT);
    ASSERT_CONTAINS(sao_error_last(), "no version serves");

    /* A folder a crash left behind without a registry entry is never reused. */
    char dir[4096];
    ASSERT_OK(sao_registry_path(dir, sizeof(dir), "AAPL", 2));
    ASSERT_OK(sao_mkdir_p(dir));
    char path[4200];
    snprintf(path, sizeof(path), "%s/model.json", dir);
    ASSERT_OK(sao_file_write_atomic(path, "{}", 2));
    save(&v, &serving, "AAPL", 10, 1.0, SAO_PROMOTE_ALWAYS);
    ASSERT_EQ(v, 3);
}

static void test_card_round_trip_and_load(void)
{
    make_home("registry_load");
    sao_model *m = make_model(4, 5, 77);
    sao_model_card card;
    make_card(&card, "MSFT", m, 0.25);
    sao_strlcpy(card.parent_ticker, "^GSPC", sizeof(card.parent_ticker));
    card.parent_version = 3;
    sao_strlcpy(card.transfer, "freeze", sizeof(card.transfer));
    int v, serving;
    const int64_t before_us = sao_now_us();
    ASSERT_OK(sao_registry_save(&v, &serving, m, &card, SAO_PROMOTE_ALWAYS));

    sao_model *back = NULL;
    sao_model_card got;
    ASSERT_OK(sao_registry_load(&back, &got, "MSFT", 0));
    ASSERT_EQ(got.version, 1);
    /* The creation time comes back, to the second it was written with. */
    ASSERT_TRUE(got.created_us % 1000000 == 0);
    ASSERT_TRUE(got.created_us > before_us - 1000000 && got.created_us <= sao_now_us());
    ASSERT_STREQ(got.ticker, "MSFT");
    ASSERT_EQ(got.model.arch, SAO_MODEL_GRU);
    ASSERT_EQ(got.model.input_size, 4);
    ASSERT_EQ(got.model.hidden_size, 5);
    ASSERT_TRUE(got.model.seed == 77);
    ASSERT_EQ(got.context_length, 10);
    ASSERT_STREQ(got.inputs[3].name, "input_3");
    ASSERT_STREQ(got.inputs[3].source, "technical_daily");
    ASSERT_NEAR(got.inputs[3].scaler_scale, 3.5, 0);
    ASSERT_NEAR(got.inputs[2].quantiles[20], 1.0, 1e-15);
    ASSERT_EQ(got.first_day, card.first_day);
    ASSERT_EQ(got.split_last[2], card.split_last[2]);
    ASSERT_STREQ(got.parent_ticker, "^GSPC");
    ASSERT_EQ(got.parent_version, 3);
    ASSERT_STREQ(got.transfer, "freeze");
    ASSERT_EQ(got.epochs_run, 2);
    ASSERT_NEAR(got.val_loss[1], 0.25, 0);
    ASSERT_TRUE(got.eval != NULL);
    ASSERT_NEAR(got.eval->model.mae, card.eval->model.mae, 0);
    ASSERT_NEAR(got.eval->persistence.step_rmse[2], card.eval->persistence.step_rmse[2], 0);
    /* Persistence calls no direction: NaN survives as null. */
    ASSERT_TRUE(isnan(got.eval->persistence.directional));
    ASSERT_EQ(got.eval->beats_persistence, card.eval->beats_persistence);
    size_t na, nb;
    float *wa = sao_model_weights(m, &na), *wb = sao_model_weights(back, &nb);
    ASSERT_EQ(na, nb);
    ASSERT_TRUE(memcmp(wa, wb, na * sizeof(float)) == 0);

    /* The JSON text itself carries the documented fields. */
    char *text = NULL;
    ASSERT_OK(sao_model_card_to_json(&text, &got));
    ASSERT_CONTAINS(text, "\"beats_persistence\"");
    ASSERT_CONTAINS(text, "\"quantiles\"");
    ASSERT_CONTAINS(text, "\"first\": \"2000-01-03\"");
    ASSERT_CONTAINS(text, "\"parent\": {");
    sao_free(text);

    sao_model_card_dispose(&got);
    sao_model_free(back);
    sao_model_card_dispose(&card);
    sao_model_free(m);
}

static void write_file(const char *ticker, int version, const char *name, const char *text,
                       size_t len)
{
    char dir[4096], path[4200];
    ASSERT_OK(sao_registry_path(dir, sizeof(dir), ticker, version));
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    ASSERT_OK(sao_file_write_atomic(path, text, len));
}

static void remove_file(const char *ticker, int version, const char *name)
{
    char dir[4096], path[4200];
    ASSERT_OK(sao_registry_path(dir, sizeof(dir), ticker, version));
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    ASSERT_EQ(remove(path), 0);
}

static void test_damaged_files(void)
{
    make_home("registry_damaged");
    int v, serving;
    save(&v, &serving, "IBM", 1, 0.5, SAO_PROMOTE_ALWAYS);
    sao_model *m = NULL;
    sao_model_card card;

    /* Not JSON. */
    write_file("IBM", 1, "model.json", "{\"schema\": 1,", 13);
    ASSERT_EQ(sao_registry_load(&m, &card, "IBM", 1), SAO_EPARSE);
    ASSERT_CONTAINS(sao_error_last(), "IBM v1: model.json");
    ASSERT_TRUE(m == NULL);

    /* JSON, but a field missing. */
    save(&v, &serving, "IBM", 2, 0.5, SAO_PROMOTE_ALWAYS);
    char dir[4096], path[4200];
    char *text;
    size_t len;
    ASSERT_OK(sao_registry_path(dir, sizeof(dir), "IBM", 2));
    snprintf(path, sizeof(path), "%s/model.json", dir);
    ASSERT_OK(sao_file_read(&text, &len, path, 1 << 24));
    char *field = strstr(text, "\"hidden_size\"");
    ASSERT_TRUE(field != NULL);
    memcpy(field, "\"hidden_sizX\"", 13);
    write_file("IBM", 2, "model.json", text, len);
    ASSERT_EQ(sao_registry_load(&m, &card, "IBM", 2), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "architecture.hidden_size");

    /* Well-formed, but describing another shape than the weights hold. */
    memcpy(field, "\"hidden_size\"", 13);
    char *value = field + strlen("\"hidden_size\": ");
    ASSERT_EQ(*value, '5');
    *value = '6';
    write_file("IBM", 2, "model.json", text, len);
    ASSERT_EQ(sao_registry_load(&m, &card, "IBM", 2), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "disagree on the hidden size");
    sao_free(text);

    /* Unknown architecture. */
    save(&v, &serving, "IBM", 3, 0.5, SAO_PROMOTE_ALWAYS);
    ASSERT_OK(sao_registry_path(dir, sizeof(dir), "IBM", 3));
    snprintf(path, sizeof(path), "%s/model.json", dir);
    ASSERT_OK(sao_file_read(&text, &len, path, 1 << 24));
    field = strstr(text, "\"arch\": \"gru\"");
    ASSERT_TRUE(field != NULL);
    memcpy(field, "\"arch\": \"rnn\"", 13);
    write_file("IBM", 3, "model.json", text, len);
    sao_free(text);
    ASSERT_EQ(sao_registry_read_card(&card, "IBM", 3), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "unknown architecture 'rnn'");

    /* A creation time that is not one. */
    ASSERT_OK(sao_file_read(&text, &len, path, 1 << 24));
    memcpy(strstr(text, "\"arch\": \"rnn\""), "\"arch\": \"gru\"", 13);
    field = strstr(text, "\"created\": \"");
    ASSERT_TRUE(field != NULL);
    field[strlen("\"created\": \"") + 11] = '2'; /* hour 2x */
    field[strlen("\"created\": \"") + 12] = '7';
    write_file("IBM", 3, "model.json", text, len);
    sao_free(text);
    ASSERT_EQ(sao_registry_read_card(&card, "IBM", 3), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "created");

    /* Missing files. */
    save(&v, &serving, "IBM", 4, 0.5, SAO_PROMOTE_ALWAYS);
    remove_file("IBM", 4, "model.safetensors");
    ASSERT_EQ(sao_registry_load(&m, &card, "IBM", 0), SAO_ENOENT);
    ASSERT_CONTAINS(sao_error_last(), "model.safetensors is missing");
    save(&v, &serving, "IBM", 5, 0.5, SAO_PROMOTE_ALWAYS);
    remove_file("IBM", 5, "model.json");
    ASSERT_EQ(sao_registry_load(&m, &card, "IBM", 5), SAO_ENOENT);
    ASSERT_CONTAINS(sao_error_last(), "model.json is missing");

    /* Truncated weights. */
    save(&v, &serving, "IBM", 6, 0.5, SAO_PROMOTE_ALWAYS);
    write_file("IBM", 6, "model.safetensors", "\x10\0\0\0\0\0\0\0{", 9);
    ASSERT_TRUE(sao_registry_load(&m, &card, "IBM", 6) < 0);
    ASSERT_CONTAINS(sao_error_last(), "IBM v6: ");

    /* A version that does not exist, and a damaged registry. */
    ASSERT_EQ(sao_registry_read_card(&card, "IBM", 42), SAO_ENOENT);
    ASSERT_CONTAINS(sao_error_last(), "no version 42");
    write_file("IBM", 0, "registry.json", "{\"versions\": 3}", 15);
    ASSERT_EQ(sao_registry_read_card(&card, "IBM", 1), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "registry.json");
    ASSERT_TRUE(m == NULL);
}

static void test_card_must_match_model(void)
{
    make_home("registry_mismatch");
    sao_model *m = make_model(4, 5, 1);
    sao_model_card card;
    make_card(&card, "IBM", m, 0.5);
    card.model.hidden_size = 7;
    int v = -1, serving = -1;
    ASSERT_EQ(sao_registry_save(&v, &serving, m, &card, SAO_PROMOTE_ALWAYS), SAO_ECORRUPT);
    ASSERT_EQ(v, -1);
    int *list;
    size_t count;
    int current;
    ASSERT_EQ(sao_registry_versions(&list, &count, &current, "IBM"), SAO_ENOENT);
    sao_model_card_dispose(&card);
    sao_model_free(m);
}

/* train_from freezes every weight before it: with the head's offset, only the head moves. */
static void test_training_freezes_recurrent_layers(void)
{
    sao_model_set_threads(1);
    sao_model *m = make_model(2, 4, 5);
    size_t np;
    const sao_model_param *params = sao_model_params(m, &np);
    size_t head = params[np - 2].offset;
    ASSERT_STREQ(params[np - 2].name, "head.weight");
    size_t count;
    float *w = sao_model_weights(m, &count);
    float *before = sao_malloc(count * sizeof(float));
    memcpy(before, w, count * sizeof(float));

    enum { WINDOWS = 24, CONTEXT = 6 };
    float inputs[WINDOWS * CONTEXT * 2], targets[WINDOWS * 3];
    for (size_t i = 0; i < SAO_ARRAY_LEN(inputs); i++) inputs[i] = (float)sin(0.3 * (double)i);
    for (size_t i = 0; i < SAO_ARRAY_LEN(targets); i++) targets[i] = (float)cos(0.7 * (double)i);
    sao_model_windows train = {inputs, targets, 16, CONTEXT};
    sao_model_windows val = {inputs + 16 * CONTEXT * 2, targets + 16 * 3, 8, CONTEXT};
    sao_model_train_config tc;
    sao_model_train_config_init(&tc);
    tc.epochs = 3;
    tc.batch_size = 4;
    tc.adam.weight_decay = 0.01f; /* decay must not move frozen weights either */
    tc.train_from = head;
    ASSERT_OK(sao_model_train(m, NULL, &train, &val, &tc));
    ASSERT_TRUE(memcmp(before, w, head * sizeof(float)) == 0);
    ASSERT_TRUE(memcmp(before + head, w + head, (count - head) * sizeof(float)) != 0);

    tc.train_from = count;
    ASSERT_EQ(sao_model_train(m, NULL, &train, &val, &tc), SAO_EINVAL);
    sao_free(before);
    sao_model_free(m);
}

/* model.json with one field replaced by `value` (JSON text): the card's own JSON, the field
 * found by its key and the text up to the next comma or line end replaced. */
static char *card_with(const char *text, const char *key, const char *value)
{
    const char *at = strstr(text, key);
    ASSERT_TRUE(at != NULL);
    const char *colon = strchr(at, ':');
    const char *end = colon + strcspn(colon, ",\n");
    sao_buf buf;
    sao_buf_init(&buf, 1u << 20);
    ASSERT_OK(sao_buf_append(&buf, text, (size_t)(colon + 1 - text)));
    ASSERT_OK(sao_buf_appendf(&buf, " %s%s", value, end));
    return sao_buf_detach(&buf, NULL);
}

/* Fields the writer has no null for are refused when they are not numbers it can write back
 * (found by fuzzing: such a card loaded, then could not be saved, and a NaN split fraction
 * reached a walk-forward's row arithmetic); a dropout past float's range is refused before the
 * conversion. */
static void test_card_numbers_must_write_back(void)
{
    sao_model *m = make_model(4, 5, 9);
    sao_model_card card;
    make_card(&card, "IBM", m, 0.5);
    char *text = NULL;
    ASSERT_OK(sao_model_card_to_json(&text, &card));
    static const struct {
        const char *key, *value, *field;
    } cases[] = {
        {"\"dropout\"", "null", "architecture.dropout"},
        {"\"dropout\"", "1e300", "architecture.dropout"},
        {"\"dropout\"", "1.0", "architecture.dropout"},
        {"\"train_fraction\"", "null", "data.train_fraction"},
        {"\"val_fraction\"", "0.5", "data.train_fraction"},
        {"\"learning_rate\"", "null", "training.learning_rate"},
        {"\"seconds\"", "null", "training.seconds"},
        {"\"seconds\"", "-1", "training.seconds"},
    };
    for (size_t i = 0; i < SAO_ARRAY_LEN(cases); i++) {
        char *bad = card_with(text, cases[i].key, cases[i].value);
        sao_model_card got;
        sao_model_card_init(&got);
        ASSERT_EQ(sao_model_card_from_json(&got, bad, strlen(bad)), SAO_ECORRUPT);
        ASSERT_CONTAINS(sao_error_last(), cases[i].field);
        sao_free(bad);
    }
    /* The unchanged text still loads, and writes back the same. */
    sao_model_card got;
    sao_model_card_init(&got);
    ASSERT_OK(sao_model_card_from_json(&got, text, strlen(text)));
    char *again = NULL;
    ASSERT_OK(sao_model_card_to_json(&again, &got));
    ASSERT_STREQ(again, text);
    sao_free(again);
    sao_model_card_dispose(&got);
    sao_free(text);
    sao_model_card_dispose(&card);
    sao_model_free(m);
}

/* A price model's output scaling goes to model.json and comes back; a return model has none;
 * a price card without it reads as "not recorded" (NaN); a bad one is an error. */
static void test_price_target_scaling(void)
{
    sao_model *m = make_model(4, 5, 11);
    sao_model_card card, got;
    make_card(&card, "IBM", m, 0.5);
    char *text = NULL;

    ASSERT_OK(sao_model_card_to_json(&text, &card)); /* return targets */
    ASSERT_TRUE(strstr(text, "target_scaler") == NULL);
    ASSERT_OK(sao_model_card_from_json(&got, text, strlen(text)));
    ASSERT_TRUE(got.target_center == 0.0 && got.target_scale == 1.0);
    sao_model_card_dispose(&got);
    sao_free(text);

    sao_strlcpy(card.target, "price", sizeof(card.target));
    card.target_center = 150.5;
    card.target_scale = 20.125;
    ASSERT_OK(sao_model_card_to_json(&text, &card));
    ASSERT_CONTAINS(text, "\"target_scaler\"");
    ASSERT_OK(sao_model_card_from_json(&got, text, strlen(text)));
    ASSERT_TRUE(got.target_center == 150.5 && got.target_scale == 20.125);
    sao_model_card_dispose(&got);

    /* Damaged: a zero scale, a scaling on return targets. */
    char *zero = strstr(text, "20.125");
    ASSERT_TRUE(zero != NULL);
    memcpy(zero, "0.0000", 6);
    ASSERT_EQ(sao_model_card_from_json(&got, text, strlen(text)), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "target_scaler");
    char *target = strstr(text, "\"target\": \"price\"");
    ASSERT_TRUE(target != NULL);
    memcpy(target, "\"target\": \"retrn\"", strlen("\"target\": \"retrn\""));
    ASSERT_EQ(sao_model_card_from_json(&got, text, strlen(text)), SAO_ECORRUPT);
    sao_free(text);

    /* An earlier version's price card: no scaling recorded. */
    card.target_scale = NAN;
    ASSERT_OK(sao_model_card_to_json(&text, &card));
    ASSERT_TRUE(strstr(text, "target_scaler") == NULL);
    ASSERT_OK(sao_model_card_from_json(&got, text, strlen(text)));
    ASSERT_TRUE(isnan(got.target_scale));
    sao_model_card_dispose(&got);
    sao_free(text);
    sao_model_card_dispose(&card);
    sao_model_free(m);
}

SAO_TEST_MAIN(TEST(test_policy_names), TEST(test_versions_and_promotion),
              TEST(test_price_target_scaling), TEST(test_card_round_trip_and_load),
              TEST(test_damaged_files), TEST(test_card_must_match_model),
              TEST(test_training_freezes_recurrent_layers), TEST(test_card_numbers_must_write_back))
