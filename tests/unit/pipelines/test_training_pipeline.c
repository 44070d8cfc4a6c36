/*
 * Unit tests for the training pipeline on a slice of real ^GSPC and AAPL bars: stationary
 * inputs with their training-split references in the card, split dates in order, and transfer
 * learning that keeps the parent's recurrent weights when they are frozen.
 */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "pipelines/pipelines.h"
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

static void ingest(const char *ticker, const char *file)
{
    sao_ingest_options opts;
    sao_ingest_options_init(&opts);
    opts.source = SAO_SOURCE_CSV;
    opts.file = sao_test_shared(file);
    opts.quiet = 1;
    ASSERT_OK(sao_date_parse("2012-01-01", 10, &opts.from_day));
    ASSERT_OK(sao_date_parse("2016-12-31", 10, &opts.to_day));
    sao_ingest_result res;
    ASSERT_OK(sao_ingest_ticker(&res, ticker, &opts));
    sao_ingest_result_dispose(&res);
}

static void small_options(sao_train_options *opts)
{
    sao_train_options_init(opts);
    opts->model.hidden_size = 8;
    opts->model.num_layers = 1;
    opts->model.dropout = 0.0f;
    opts->prep.context_length = 15;
    opts->prep.horizon = 3;
    opts->train.epochs = 2;
    opts->train.batch_size = 64;
    opts->train.progress = 0;
}

static void test_train_and_card(void)
{
    make_home("train_card");
    ingest("^GSPC", "data/ohlcv/yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv");
    sao_train_options opts;
    small_options(&opts);
    sao_train_result res;
    ASSERT_OK(sao_train_ticker(&res, "^gspc", &opts));
    ASSERT_STREQ(res.ticker, "^GSPC");
    ASSERT_EQ(res.version, 1);
    ASSERT_EQ(res.serving, 1);
    ASSERT_TRUE(res.windows[0] > res.windows[1] && res.windows[2] > 0);
    const sao_model_card *card = &res.card;
    size_t count;
    const char *const *names = sao_train_input_names(&count);
    ASSERT_EQ(card->model.input_size, (int)count);
    for (size_t i = 0; i < count; i++) {
        const sao_card_input *in = &card->inputs[i];
        ASSERT_STREQ(in->name, names[i]);
        ASSERT_TRUE(in->formula[0] != '\0');
        /* The scaler is standard and fitted on the same training rows as the reference. */
        ASSERT_NEAR(in->scaler_center, in->mean, 1e-9 * (fabs(in->mean) + 1));
        for (int q = 1; q < SAO_CARD_QUANTILES; q++)
            ASSERT_TRUE(in->quantiles[q] >= in->quantiles[q - 1]);
        ASSERT_TRUE(in->quantiles[0] <= in->mean && in->mean <= in->quantiles[20]);
    }
    /* Bounded inputs stay bounded: the RSI input is a share, not a level. */
    ASSERT_TRUE(card->inputs[2].quantiles[0] >= 0.0 && card->inputs[2].quantiles[20] <= 1.0);
    for (int s = 0; s < 3; s++) ASSERT_TRUE(card->split_first[s] < card->split_last[s]);
    ASSERT_TRUE(card->split_last[0] < card->split_first[1]);
    ASSERT_TRUE(card->split_last[1] < card->split_first[2]);
    ASSERT_TRUE(card->split_last[2] <= card->last_day);
    ASSERT_TRUE(card->eval != NULL && card->eval->windows == res.windows[2]);
    ASSERT_EQ(card->epochs_run, 2);

    char path[4200];
    snprintf(path, sizeof(path), "%s/report.svg", res.model_dir);
    ASSERT_TRUE(access(path, F_OK) == 0);
    sao_train_result_dispose(&res);

    /* Never ingested. */
    ASSERT_EQ(sao_train_ticker(&res, "MSFT", &opts), SAO_ENOENT);
    ASSERT_CONTAINS(sao_error_last(), "sao ingest MSFT");
}

static void test_transfer(void)
{
    make_home("train_transfer");
    ingest("^GSPC", "data/ohlcv/yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv");
    ingest("AAPL", "data/ohlcv/yahoo_daily_AAPL_1990-01-02_2024-09-12_johnvb21.csv");
    sao_train_options opts;
    small_options(&opts);
    sao_train_result res;
    ASSERT_OK(sao_train_ticker(&res, "^GSPC", &opts));
    sao_train_result_dispose(&res);

    /* Freeze: every recurrent weight is the parent's, the head moved. */
    opts.parent = "^gspc"; /* tickers are case-insensitive */
    opts.model.hidden_size = 32; /* ignored: the child takes the parent's shape */
    ASSERT_OK(sao_train_ticker(&res, "AAPL", &opts));
    ASSERT_STREQ(res.card.parent_ticker, "^GSPC");
    ASSERT_EQ(res.card.parent_version, 1);
    ASSERT_STREQ(res.card.transfer, "freeze");
    ASSERT_EQ(res.card.model.hidden_size, 8);
    sao_train_result_dispose(&res);

    sao_model *parent = NULL, *child = NULL;
    sao_model_card pc, cc;
    ASSERT_OK(sao_registry_load(&parent, &pc, "^GSPC", 1));
    ASSERT_OK(sao_registry_load(&child, &cc, "AAPL", 1));
    size_t np, n;
    const sao_model_param *params = sao_model_params(child, &np);
    size_t head = params[np - 2].offset;
    float *pw = sao_model_weights(parent, &n), *cw = sao_model_weights(child, &n);
    ASSERT_TRUE(memcmp(pw, cw, head * sizeof(float)) == 0);
    ASSERT_TRUE(memcmp(pw + head, cw + head, (n - head) * sizeof(float)) != 0);
    sao_model_free(parent);
    sao_model_free(child);
    sao_model_card_dispose(&pc);
    sao_model_card_dispose(&cc);

    /* Finetune moves everything. */
    opts.transfer = SAO_TRANSFER_FINETUNE;
    ASSERT_OK(sao_train_ticker(&res, "AAPL", &opts));
    ASSERT_STREQ(res.card.transfer, "finetune");
    ASSERT_NEAR(res.card.learning_rate, 1e-4, 1e-10);
    sao_train_result_dispose(&res);

    /* A parent with another window shape cannot seed this run. */
    opts.prep.context_length = 20;
    ASSERT_EQ(sao_train_ticker(&res, "AAPL", &opts), SAO_EINVAL);
    ASSERT_CONTAINS(sao_error_last(), "context 15");
    opts.prep.context_length = 15;
    opts.parent = "MSFT";
    ASSERT_EQ(sao_train_ticker(&res, "AAPL", &opts), SAO_ENOENT);
    ASSERT_CONTAINS(sao_error_last(), "parent MSFT");
}

SAO_TEST_MAIN(TEST(test_train_and_card), TEST(test_transfer))
