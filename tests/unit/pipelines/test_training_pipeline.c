/*
 * Unit tests for the training pipeline on a slice of real ^GSPC and AAPL bars: stationary
 * inputs with their training-split references in the card, split dates in order, transfer
 * learning that keeps the parent's recurrent weights when they are frozen, the lock against two
 * trainings of a ticker, and walk-forward backtests of a registered version.
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
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

/* Counts the epochs during which the ticker's lock could not be taken (it should be all). */
static int probe_lock(const sao_model_epoch *epoch, void *userdata)
{
    (void)epoch;
    int *refused = userdata;
    int fd = -1;
    if (sao_registry_lock(&fd, "^GSPC") == SAO_ESTATE)
        (*refused)++;
    else
        sao_registry_unlock(fd);
    return 0;
}

static void test_train_lock(void)
{
    make_home("train_lock");
    ingest("^GSPC", "data/ohlcv/yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv");
    sao_train_options opts;
    small_options(&opts);
    sao_train_result res;
    char want[128];

    /* Held here: a training in this process is refused, naming this process. */
    int fd = -1;
    ASSERT_OK(sao_registry_lock(&fd, "^GSPC"));
    ASSERT_EQ(sao_train_ticker(&res, "^gspc", &opts), SAO_ESTATE);
    snprintf(want, sizeof(want), "training of ^GSPC is already running (pid %ld)", (long)getpid());
    ASSERT_CONTAINS(sao_error_last(), want);
    char dir[4096], path[4200], text[64] = "";
    ASSERT_OK(sao_registry_path(dir, sizeof(dir), "^GSPC", 0));
    snprintf(path, sizeof(path), "%s/.train.lock", dir);
    FILE *f = fopen(path, "r");
    ASSERT_TRUE(f != NULL);
    ASSERT_TRUE(fgets(text, sizeof(text), f) != NULL);
    fclose(f);
    ASSERT_EQ(strtol(text, NULL, 10), (long)getpid());
    /* Another ticker trains meanwhile (it has no bars here: refused for that, not the lock). */
    ASSERT_EQ(sao_train_ticker(&res, "AAPL", &opts), SAO_ENOENT);
    sao_registry_unlock(fd);

    /* Held by another process: refused with that process's pid. */
    int ready[2], release[2];
    ASSERT_EQ(pipe(ready), 0);
    ASSERT_EQ(pipe(release), 0);
    pid_t child = fork();
    ASSERT_TRUE(child >= 0);
    if (child == 0) {
        int held = -1;
        char byte = sao_registry_lock(&held, "^GSPC") == 0 ? 'y' : 'n';
        if (write(ready[1], &byte, 1) != 1) _exit(1);
        if (read(release[0], &byte, 1) < 0) _exit(1);
        _exit(0);
    }
    char byte = 0;
    ASSERT_EQ(read(ready[0], &byte, 1), 1);
    ASSERT_EQ(byte, 'y');
    ASSERT_EQ(sao_train_ticker(&res, "^GSPC", &opts), SAO_ESTATE);
    snprintf(want, sizeof(want), "training of ^GSPC is already running (pid %ld)", (long)child);
    ASSERT_CONTAINS(sao_error_last(), want);
    /* The holder dies without unlocking: the kernel lets go, and training proceeds. */
    kill(child, SIGKILL);
    ASSERT_EQ(waitpid(child, NULL, 0), child);
    close(ready[0]);
    close(ready[1]);
    close(release[0]);
    close(release[1]);

    /* Held for the whole run: every epoch finds it taken; released at the end. */
    int refused = 0;
    opts.train.on_epoch = probe_lock;
    opts.train.userdata = &refused;
    ASSERT_OK(sao_train_ticker(&res, "^GSPC", &opts));
    ASSERT_EQ(res.version, 1);
    ASSERT_EQ(refused, opts.train.epochs);
    sao_train_result_dispose(&res);
    ASSERT_OK(sao_registry_lock(&fd, "^GSPC"));
    sao_registry_unlock(fd);
}

static int count_epochs(const sao_model_epoch *epoch, void *userdata)
{
    int *count = userdata;
    if (epoch->epoch == 1) count[0]++; /* folds */
    count[1]++;                        /* epochs */
    return 0;
}

static void test_walk_forward(void)
{
    make_home("walk_forward");
    ingest("^GSPC", "data/ohlcv/yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv");
    sao_train_options opts;
    small_options(&opts);
    sao_train_result res;
    ASSERT_OK(sao_train_ticker(&res, "^GSPC", &opts));
    const sao_model_card *card = &res.card;

    sao_train_walk w;
    int counts[2] = {0, 0};
    ASSERT_OK(sao_train_walk_forward(&w, card, 2, 40, count_epochs, counts));
    ASSERT_EQ(counts[0], 2);
    ASSERT_EQ(counts[1], 2 * card->epochs_run);
    ASSERT_EQ(w.block, 40);
    ASSERT_EQ(w.walk->fold_count, 2);
    ASSERT_TRUE(w.days[w.rows - 1] == card->last_day);
    size_t pooled = 0;
    for (int k = 0; k < 2; k++) {
        const sao_eval_fold *f = &w.walk->folds[k];
        ASSERT_TRUE(w.first_row < f->train_end && f->train_end < f->val_end);
        ASSERT_TRUE(f->val_end < f->test_begin);
        ASSERT_TRUE(f->windows > 0 && f->windows <= 40);
        ASSERT_TRUE(isfinite(f->mae) && f->persistence_mae > 0.0);
        pooled += f->windows;
    }
    /* Blocks follow each other and the last one's last target is the last row. */
    ASSERT_EQ(w.walk->folds[1].test_begin, w.walk->folds[0].test_begin + 40);
    ASSERT_EQ(w.walk->folds[1].test_begin + 40 - 1 + 15 + 3, w.rows);
    ASSERT_EQ(w.walk->pooled->windows, pooled);
    sao_train_walk_dispose(&w);

    /* The default block shares the version's test windows among the folds. */
    ASSERT_OK(sao_train_walk_forward(&w, card, 3, 0, NULL, NULL));
    ASSERT_EQ(w.block, card->eval->windows / 3);
    sao_train_walk_dispose(&w);

    /* Blocks past the data, and a card whose inputs the pipeline does not compute. */
    ASSERT_EQ(sao_train_walk_forward(&w, card, 5, 100000, NULL, NULL), SAO_EINVAL);
    ASSERT_CONTAINS(sao_error_last(), "do not fit");
    sao_strlcpy(res.card.inputs[3].name, "close", sizeof(res.card.inputs[3].name));
    ASSERT_EQ(sao_train_walk_forward(&w, card, 2, 40, NULL, NULL), SAO_EINVAL);
    ASSERT_CONTAINS(sao_error_last(), "input 3 is close");
    sao_train_result_dispose(&res);
}

SAO_TEST_MAIN(TEST(test_train_and_card), TEST(test_transfer), TEST(test_train_lock),
              TEST(test_walk_forward))
