/*
 * The inference pipeline on real ^GSPC and BTC-USD bars against a redis-server it starts on a
 * loopback port: forecasts equal to an offline computation, trading-day dates, the prediction
 * cache, a Redis restart, concurrent predictions while versions are promoted, and clear errors.
 */
#include <hiredis/hiredis.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pipelines/pipelines.h"
#include "redis_server.h"
#include "test.h"

#define GSPC_CSV "data/ohlcv/yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv"
#define BTC_CSV "data/ohlcv/yahoo_daily_BTC-USD_2014-09-17_2023-11-16_trioxwater.csv"
#define AAPL_CSV "data/ohlcv/yahoo_daily_AAPL_1990-01-02_2024-09-12_johnvb21.csv"
#define CONTEXT 20

/* ---- a redis-server of our own (tests/redis_server.h) ---- */

static sao_test_redis redis;

static redisContext *raw_connect(void)
{
    return sao_test_redis_connect(&redis);
}

/* Calls of one command since the last CONFIG RESETSTAT (INFO commandstats). */
static long long command_calls(const char *command)
{
    redisContext *c = raw_connect();
    ASSERT_TRUE(c != NULL);
    redisReply *r = redisCommand(c, "INFO commandstats");
    ASSERT_TRUE(r && r->type == REDIS_REPLY_STRING);
    char needle[64];
    snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", command);
    const char *at = strstr(r->str, needle);
    long long calls = at ? strtoll(at + strlen(needle), NULL, 10) : 0;
    freeReplyObject(r);
    redisFree(c);
    return calls;
}

static void reset_stats(void)
{
    redisContext *c = raw_connect();
    ASSERT_TRUE(c != NULL);
    redisReply *r = redisCommand(c, "CONFIG RESETSTAT");
    ASSERT_TRUE(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
}

/* ---- the data, the models and the engine, set up once ---- */

static sao_fs_repo *repo;
static sao_inference *engine;

static int64_t day_of(const char *date)
{
    int64_t day;
    ASSERT_OK(sao_date_parse(date, strlen(date), &day));
    return day;
}

static void ingest(const char *ticker, const char *file, const char *from, const char *to)
{
    sao_ingest_options opts;
    sao_ingest_options_init(&opts);
    opts.source = SAO_SOURCE_CSV;
    opts.file = sao_test_shared(file);
    opts.quiet = 1;
    opts.from_day = day_of(from);
    opts.to_day = day_of(to);
    sao_ingest_result res;
    ASSERT_OK(sao_ingest_ticker(&res, ticker, &opts));
    sao_ingest_result_dispose(&res);
}

static void train(const char *ticker)
{
    sao_train_options opts;
    sao_train_options_init(&opts);
    opts.model.hidden_size = 8;
    opts.model.num_layers = 1;
    opts.model.dropout = 0.0f;
    opts.prep.context_length = CONTEXT;
    opts.train.epochs = 2;
    opts.train.batch_size = 64;
    opts.train.progress = 0;
    sao_train_result res;
    ASSERT_OK(sao_train_ticker(&res, ticker, &opts));
    sao_train_result_dispose(&res);
}

/* Every ticker's newest row up to the end of `to` (and from 2023, so BTC-USD has one). */
static void materialize(const char *to)
{
    sao_online_config cfg;
    ASSERT_OK(sao_fs_online_config(&cfg, repo));
    sao_online *online = NULL;
    ASSERT_OK(sao_online_connect(&online, &cfg));
    sao_fs_materialize_report rep;
    ASSERT_OK(sao_fs_materialize(&rep, repo, online, day_of("2023-01-01") * SAO_US_PER_DAY,
                                 (day_of(to) + 1) * SAO_US_PER_DAY - 1, NULL, 0, NULL));
    sao_online_close(online);
}

static void copy_file(const char *from_dir, const char *to_dir, const char *name)
{
    char from[1024], to[1024];
    snprintf(from, sizeof(from), "%s/%s", from_dir, name);
    snprintf(to, sizeof(to), "%s/%s", to_dir, name);
    char *text = NULL;
    size_t len;
    ASSERT_OK(sao_file_read(&text, &len, from, 1 << 20));
    ASSERT_OK(sao_file_write_atomic(to, text, len));
    sao_free(text);
}

static void kill_at_exit(void)
{
    sao_inference_free(engine);
    engine = NULL;
    sao_fs_repo_free(repo);
    sao_test_redis_stop(&redis, SIGKILL);
}

static void setup(void)
{
    static int done;
    if (done) return;
    done = 1;
    atexit(kill_at_exit);
    sao_log_set_level(SAO_LOG_ERROR);

    char home[512], repo_dir[512], cmd[1200];
    snprintf(home, sizeof(home), "%s/inference_home", SAO_TEST_TMPDIR);
    snprintf(repo_dir, sizeof(repo_dir), "%s/inference_repo", SAO_TEST_TMPDIR);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", home, repo_dir);
    ASSERT_EQ(system(cmd), 0);
    ASSERT_OK(sao_mkdir_p(home));
    ASSERT_OK(sao_mkdir_p(repo_dir));
    setenv("SAO_HOME", home, 1);
    /* apply writes features.py next to the definitions: a copy keeps the source tree clean. */
    copy_file(SAO_SOURCE_DIR "/feature_store", repo_dir, "feature_store.yaml");
    copy_file(SAO_SOURCE_DIR "/feature_store", repo_dir, "features.yaml");

    redis.port = sao_test_free_port();
    sao_test_redis_start(&redis, "inference-redis");
    char conn[64];
    snprintf(conn, sizeof(conn), "127.0.0.1:%d", redis.port);
    setenv("SAO_REDIS_CONNECTION", conn, 1);
    ASSERT_OK(sao_fs_repo_load(&repo, repo_dir));
    sao_fs_apply_report applied;
    ASSERT_OK(sao_fs_apply(&applied, repo));
    sao_fs_apply_report_dispose(&applied);

    /* ^GSPC ends on a Friday and BTC-USD on a Friday too: the next forecast days differ. */
    ingest("^GSPC", GSPC_CSV, "2014-01-01", "2024-09-06");
    ingest("BTC-USD", BTC_CSV, "2019-01-01", "2023-11-10");
    train("^GSPC");
    train("BTC-USD");
    materialize("2024-09-06");

    sao_inference_options opts;
    sao_inference_options_init(&opts);
    opts.repo = repo;
    opts.cache_ttl_s = 600;
    ASSERT_OK(sao_inference_new(&engine, &opts));
}

/* ---- an independent forecast from the offline store ---- */

typedef struct offline_forecast {
    int64_t as_of_day;
    double last_close;
    int horizon;
    int version;
    double close[SAO_FORECAST_MAX_HORIZON];
    double drift[SAO_FORECAST_MAX_HORIZON];
} offline_forecast;

static double *technical_column(sao_pq_file *file, const char *name, size_t rows)
{
    int idx = sao_parquet_find_column(file, name);
    ASSERT_TRUE(idx >= 0);
    const sao_pq_column_data *col;
    ASSERT_OK(sao_parquet_read_column(&col, file, (size_t)idx));
    ASSERT_EQ(col->count, rows);
    double *out = sao_malloc(rows * sizeof(double));
    for (size_t r = 0; r < rows; r++) out[r] = col->valid[r] ? col->f64[r] : NAN;
    return out;
}

/* The whole stored series through the training pipeline's input computation, the last
 * context_length rows scaled with the card's scaler, one forward pass of the registry's model. */
static void offline_forecast_of(offline_forecast *out, const char *ticker)
{
    static const char *names[6] = {"log_return_1d", "rsi_14",        "macd_hist",
                                   "bb_pct_b",      "volatility_20", "atr_14"};
    sao_bars bars;
    sao_bars_init(&bars, ticker);
    ASSERT_OK(sao_offline_read_bars(&bars, ticker));
    const size_t rows = bars.count;
    sao_pq_file *file = NULL;
    ASSERT_OK(sao_offline_open(&file, SAO_VIEW_TECHNICAL, ticker));
    double *cols[6];
    for (int c = 0; c < 6; c++) cols[c] = technical_column(file, names[c], rows);
    sao_parquet_close(file);

    size_t features;
    sao_train_input_names(&features);
    double *x = sao_malloc(features * rows * sizeof(double));
    sao_train_compute_inputs(x, rows, bars.close, bars.volume, cols[0], cols[1], cols[2], cols[3],
                             cols[4], cols[5]);
    sao_model *model = NULL;
    sao_model_card card;
    ASSERT_OK(sao_registry_load(&model, &card, ticker, 0));
    const size_t context = (size_t)card.context_length;
    float *in = sao_malloc(context * features * sizeof(float));
    for (size_t t = 0; t < context; t++) {
        size_t r = rows - context + t;
        for (size_t f = 0; f < features; f++)
            in[t * features + f] = (float)((x[f * rows + r] - card.inputs[f].scaler_center) /
                                           card.inputs[f].scaler_scale);
    }
    float y[SAO_FORECAST_MAX_HORIZON];
    ASSERT_OK(sao_model_forward(model, y, in, 1, context, 0));
    out->as_of_day = bars.day[rows - 1];
    out->last_close = bars.close[rows - 1];
    out->horizon = card.model.horizon;
    out->version = card.version;
    const int price = strcmp(card.target, "price") == 0;
    for (int k = 0; k < out->horizon; k++) {
        out->close[k] = price ? (double)y[k] * card.target_scale + card.target_center
                              : out->last_close * (1.0 + (double)y[k]);
        out->drift[k] = out->last_close * pow(1.0 + card.eval->drift_return, k + 1);
    }
    sao_free(in);
    sao_model_card_dispose(&card);
    sao_model_free(model);
    sao_free(x);
    for (int c = 0; c < 6; c++) sao_free(cols[c]);
    sao_bars_dispose(&bars);
}

static void expect_offline(const sao_forecast *fc, const char *ticker)
{
    offline_forecast off;
    offline_forecast_of(&off, ticker);
    ASSERT_STREQ(fc->ticker, ticker);
    ASSERT_EQ(fc->as_of_day, off.as_of_day);
    ASSERT_EQ(fc->model_version, off.version);
    ASSERT_EQ(fc->horizon, off.horizon);
    ASSERT_TRUE(fc->last_close == off.last_close);
    for (int k = 0; k < fc->horizon; k++) {
        ASSERT_NEAR(fc->close[k], off.close[k], 1e-9);
        ASSERT_NEAR(fc->drift[k], off.drift[k], 1e-9);
    }
}

/* ---- the cases ---- */

static void test_matches_offline(void)
{
    sao_forecast fc;
    ASSERT_OK(sao_inference_predict(engine, &fc, "^gspc", 0));
    ASSERT_EQ(fc.cached, 0);
    ASSERT_STREQ(fc.arch, "lstm");
    ASSERT_STREQ(fc.parent_ticker, "");
    expect_offline(&fc, "^GSPC");
    ASSERT_OK(sao_inference_predict(engine, &fc, "btc-usd", 0));
    expect_offline(&fc, "BTC-USD");
    ASSERT_EQ(fc.asset_class, SAO_ASSET_CRYPTO);
}

static void test_trading_day_dates(void)
{
    sao_forecast fc;
    ASSERT_OK(sao_inference_predict(engine, &fc, "^GSPC", 0));
    ASSERT_EQ(fc.horizon, 5);
    /* Five weekdays after a weekday span seven calendar days: one weekend is stepped over. */
    ASSERT_EQ(fc.day[4] - fc.as_of_day, 7);
    for (int k = 0; k < fc.horizon; k++) {
        int wd = sao_weekday(fc.day[k]);
        ASSERT_TRUE(wd != 0 && wd != 6);
        ASSERT_TRUE(fc.day[k] > (k ? fc.day[k - 1] : fc.as_of_day));
    }
    ASSERT_OK(sao_inference_predict(engine, &fc, "BTC-USD", 0));
    ASSERT_EQ(fc.as_of_day, day_of("2023-11-10"));
    for (int k = 0; k < fc.horizon; k++) ASSERT_EQ(fc.day[k], fc.as_of_day + k + 1);
    ASSERT_EQ(sao_weekday(fc.day[0]), 6); /* a Saturday */
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A copy of `from`'s serving model registered for `to` (any valid ticker), with its context,
 * target and price scaling overridden; returns the version. */
static int save_copy_scaled(const char *from, const char *to, int context, const char *target,
                            double target_center, double target_scale, sao_promote_policy policy)
{
    sao_model *model = NULL;
    sao_model_card card;
    ASSERT_OK(sao_registry_load(&model, &card, from, 0));
    sao_strlcpy(card.ticker, to, sizeof(card.ticker));
    if (context) card.context_length = context;
    if (target) sao_strlcpy(card.target, target, sizeof(card.target));
    card.target_center = target_center;
    card.target_scale = target_scale;
    int version, serving;
    ASSERT_OK(sao_registry_save(&version, &serving, model, &card, policy));
    sao_model_card_dispose(&card);
    sao_model_free(model);
    return version;
}

/* The same with a return model's (absent) scaling. */
static int save_copy(const char *from, const char *to, int context, const char *target,
                     sao_promote_policy policy)
{
    return save_copy_scaled(from, to, context, target, 0.0, 1.0, policy);
}

static void expect_error(const char *ticker, int code, const char *needle)
{
    sao_forecast fc;
    int rc = sao_inference_predict(engine, &fc, ticker, 1);
    if (rc != code) {
        fprintf(stderr, "predict %s: %s (%s), expected %s\n", ticker, sao_errname(rc),
                sao_error_last(), sao_errname(code));
        exit(1);
    }
    ASSERT_CONTAINS(sao_error_last(), needle);
}

static void test_errors(void)
{
    expect_error("../etc", SAO_EINVAL, "");
    expect_error("", SAO_EINVAL, "");
    expect_error("ZZZZ", SAO_ENOENT, "no model for ZZZZ: run `sao train ZZZZ`");

    /* Data and an online window, but no model. */
    ingest("AAPL", AAPL_CSV, "2024-01-01", "2024-09-06");
    materialize("2024-09-06");
    expect_error("aapl", SAO_ENOENT, "no model for AAPL: run `sao train AAPL`");

    /* A model whose context does not fit the 61-bar window. */
    save_copy("^GSPC", "AAPL", 80, NULL, SAO_PROMOTE_ALWAYS);
    expect_error("AAPL", SAO_ECORRUPT, "holds 61 bars, but AAPL v1 needs 81");
    ASSERT_CONTAINS(sao_error_last(), "context_length of model_window to at least 81");

    /* A model but no online window. */
    save_copy("^GSPC", "NOWIN", 0, NULL, SAO_PROMOTE_ALWAYS);
    expect_error("NOWIN", SAO_ENOENT,
                 "no online features for NOWIN: run `sao materialize-incremental`");

    /* A price model: its outputs are closes through the scaling its card records. */
    save_copy_scaled("^GSPC", "AAPL", 0, "price", 180.0, 25.0, SAO_PROMOTE_ALWAYS);
    sleep_ms(250); /* the engine looks at registry.json again */
    sao_forecast fc;
    ASSERT_OK(sao_inference_predict(engine, &fc, "AAPL", 0));
    expect_offline(&fc, "AAPL");
    ASSERT_TRUE(fabs(fc.close[0] - 180.0) < 25.0 * 10); /* near the center, not near 1 */

    /* Price targets whose scaling model.json does not record (an earlier version's card). */
    save_copy_scaled("^GSPC", "PRICEY", 0, "price", 0.0, NAN, SAO_PROMOTE_ALWAYS);
    expect_error("PRICEY", SAO_EUNSUPPORTED, "price targets, but its model.json does not record");

    /* A window with a hole: ^GSPC's own window with one RSI value missing, under another name. */
    save_copy("^GSPC", "HOLE", 0, NULL, SAO_PROMOTE_ALWAYS);
    const sao_fs_view *view = sao_fs_repo_view(repo, "model_window");
    ASSERT_TRUE(view != NULL);
    const char *names[16];
    sao_feast_value values[16];
    int rsi = -1;
    for (size_t i = 0; i < view->field_count; i++) {
        names[i] = view->fields[i].name;
        if (strcmp(view->fields[i].window_feature, "rsi_14") == 0) rsi = (int)i;
    }
    ASSERT_TRUE(rsi >= 0);
    sao_online_config cfg;
    ASSERT_OK(sao_fs_online_config(&cfg, repo));
    sao_online *online = NULL;
    ASSERT_OK(sao_online_connect(&online, &cfg));
    sao_arena *arena = sao_arena_new(0);
    int64_t ts;
    ASSERT_OK(sao_online_read(online, "model_window", names, view->field_count, "^GSPC", values,
                              &ts, arena));
    double *list = (double *)values[rsi].as.f64_list.data;
    list[values[rsi].as.f64_list.len - 3] = NAN; /* two bars before the as-of bar */
    sao_online_row row = {"HOLE", ts, values};
    size_t written;
    ASSERT_OK(
        sao_online_write(online, "model_window", names, view->field_count, &row, 1, &written));
    ASSERT_EQ(written, 1);
    sao_arena_free(arena);
    sao_online_close(online);
    expect_error("HOLE", SAO_ECORRUPT, "input rsi_14_scaled is not finite 2 bars before");
}

static void test_preload_and_models(void)
{
    sao_inference_options opts;
    sao_inference_options_init(&opts);
    opts.repo = repo;
    sao_inference *fresh = NULL;
    ASSERT_OK(sao_inference_new(&fresh, &opts));
    sao_inference_model_info *models = NULL;
    size_t count = 99;
    ASSERT_OK(sao_inference_models(&models, &count, fresh));
    ASSERT_EQ(count, 0);
    sao_free(models);
    size_t loaded = 0;
    ASSERT_OK(sao_inference_preload(fresh, &loaded));
    ASSERT_TRUE(loaded >= 2); /* ^GSPC and BTC-USD; the others depend on the cases run before */
    ASSERT_OK(sao_inference_models(&models, &count, fresh));
    ASSERT_EQ(count, loaded);
    int seen = 0;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(models[i].ticker, "^GSPC") != 0) continue;
        int *versions = NULL;
        size_t n;
        int serving;
        ASSERT_OK(sao_registry_versions(&versions, &n, &serving, "^GSPC"));
        sao_free(versions);
        ASSERT_EQ(models[i].version, serving);
        ASSERT_STREQ(models[i].arch, "lstm");
        seen = 1;
    }
    ASSERT_TRUE(seen);
    sao_free(models);
    ASSERT_OK(sao_inference_ping(fresh));
    sao_inference_free(fresh);
}

static void expect_same_closes(const sao_forecast *a, const sao_forecast *b)
{
    ASSERT_EQ(a->horizon, b->horizon);
    for (int k = 0; k < a->horizon; k++) ASSERT_TRUE(a->close[k] == b->close[k]);
}

static void test_cache(void)
{
    sao_forecast computed, first, hit, again;
    ASSERT_OK(sao_inference_predict(engine, &computed, "^GSPC", 0));
    ASSERT_EQ(computed.cached, 0);
    ASSERT_OK(sao_inference_predict(engine, &first, "^GSPC", 1));
    reset_stats();
    ASSERT_OK(sao_inference_predict(engine, &hit, "^GSPC", 1));
    ASSERT_EQ(hit.cached, 1);
    /* A hit is one pipelined HMGET + GET and writes nothing. */
    ASSERT_EQ(command_calls("hmget"), 1);
    ASSERT_EQ(command_calls("get"), 1);
    ASSERT_EQ(command_calls("set"), 0);
    expect_same_closes(&hit, &computed);
    ASSERT_EQ(hit.as_of_day, computed.as_of_day);
    ASSERT_TRUE(hit.last_close == computed.last_close);
    for (int k = 0; k < hit.horizon; k++) {
        ASSERT_EQ(hit.day[k], computed.day[k]);
        ASSERT_TRUE(hit.drift[k] == computed.drift[k]);
    }
    /* use_cache 0 neither reads nor writes the cache. */
    reset_stats();
    ASSERT_OK(sao_inference_predict(engine, &again, "^GSPC", 0));
    ASSERT_EQ(again.cached, 0);
    ASSERT_EQ(command_calls("get"), 0);
    ASSERT_EQ(command_calls("set"), 0);

    /* A new serving version is a miss (once the engine has looked at registry.json again). */
    int version = save_copy("^GSPC", "^GSPC", 0, NULL, SAO_PROMOTE_ALWAYS);
    sleep_ms(250);
    reset_stats();
    ASSERT_OK(sao_inference_predict(engine, &first, "^GSPC", 1));
    ASSERT_EQ(first.cached, 0);
    ASSERT_EQ(first.model_version, version);
    ASSERT_EQ(command_calls("set"), 1);
    expect_same_closes(&first, &computed); /* the same weights */
    ASSERT_OK(sao_inference_predict(engine, &hit, "^GSPC", 1));
    ASSERT_EQ(hit.cached, 1);
    ASSERT_EQ(hit.model_version, version);

    /* A version saved but not promoted changes nothing. */
    save_copy("^GSPC", "^GSPC", 0, NULL, SAO_PROMOTE_NEVER);
    sleep_ms(250);
    ASSERT_OK(sao_inference_predict(engine, &hit, "^GSPC", 1));
    ASSERT_EQ(hit.cached, 1);
    ASSERT_EQ(hit.model_version, version);

    /* A newer bar is a miss. */
    ingest("^GSPC", GSPC_CSV, "2014-01-01", "2024-09-09");
    materialize("2024-09-09");
    ASSERT_OK(sao_inference_predict(engine, &first, "^GSPC", 1));
    ASSERT_EQ(first.cached, 0);
    ASSERT_EQ(first.as_of_day, day_of("2024-09-09"));
    expect_offline(&first, "^GSPC");
    ASSERT_OK(sao_inference_predict(engine, &hit, "^GSPC", 1));
    ASSERT_EQ(hit.cached, 1);
    ASSERT_EQ(hit.as_of_day, day_of("2024-09-09"));

    /* Garbage under the key is a miss, then overwritten. */
    redisContext *c = raw_connect();
    ASSERT_TRUE(c != NULL);
    redisReply *r = redisCommand(c, "SET %s %s", "sao:prediction:stock_agent_ops:^GSPC", "junk");
    ASSERT_TRUE(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    ASSERT_OK(sao_inference_predict(engine, &first, "^GSPC", 1));
    ASSERT_EQ(first.cached, 0);
    /* A key of another type: the GET fails, the prediction does not. */
    r = redisCommand(c, "DEL %s", "sao:prediction:stock_agent_ops:^GSPC");
    freeReplyObject(r);
    r = redisCommand(c, "HSET %s a b", "sao:prediction:stock_agent_ops:^GSPC");
    freeReplyObject(r);
    redisFree(c);
    sao_inference_stats before, after;
    sao_inference_get_stats(&before, engine);
    ASSERT_OK(sao_inference_predict(engine, &first, "^GSPC", 1));
    ASSERT_EQ(first.cached, 0);
    sao_inference_get_stats(&after, engine);
    ASSERT_TRUE(after.cache_errors > before.cache_errors);
    ASSERT_OK(sao_inference_predict(engine, &hit, "^GSPC", 1));
    ASSERT_EQ(hit.cached, 1); /* the SET replaced the hash */
}

/* ---- concurrency ---- */

#define PREDICTORS 4
#define PREDICTIONS 200
#define MAX_SAVES 1024

typedef struct race {
    sao_forecast reference; /* every version holds the same weights: every answer equals it */
    atomic_int predictors_left;
    pthread_mutex_t lock;
    int promoted[MAX_SAVES];
    int promoted_count;
    int versions[PREDICTORS][PREDICTIONS];
    int failed;
    char failure[600];
} race;

typedef struct predictor_arg {
    race *race;
    int index;
} predictor_arg;

static void race_fail(race *r, const char *what)
{
    pthread_mutex_lock(&r->lock);
    if (!r->failed) snprintf(r->failure, sizeof(r->failure), "%s: %s", what, sao_error_last());
    r->failed = 1;
    pthread_mutex_unlock(&r->lock);
}

static void *predictor_main(void *p)
{
    predictor_arg *arg = p;
    race *r = arg->race;
    for (int i = 0; i < PREDICTIONS; i++) {
        sao_forecast fc;
        /* Half through the cache, half not: both paths run during the swaps. */
        if (sao_inference_predict(engine, &fc, "^GSPC", (i + arg->index) % 2) != 0) {
            race_fail(r, "predict");
            break;
        }
        r->versions[arg->index][i] = fc.model_version;
        for (int k = 0; k < fc.horizon; k++)
            if (fc.close[k] != r->reference.close[k]) race_fail(r, "an answer differs");
        sleep_ms(2); /* spread the predictions over several reload checks */
    }
    atomic_fetch_sub(&r->predictors_left, 1);
    return NULL;
}

static void *saver_main(void *p)
{
    race *r = p;
    while (atomic_load(&r->predictors_left) > 0 && r->promoted_count < MAX_SAVES) {
        sao_model *model = NULL;
        sao_model_card card;
        int version, serving;
        if (sao_registry_load(&model, &card, "^GSPC", 0) != 0 ||
            sao_registry_save(&version, &serving, model, &card, SAO_PROMOTE_ALWAYS) != 0) {
            race_fail(r, "save");
            sao_model_free(model);
            break;
        }
        sao_model_card_dispose(&card);
        sao_model_free(model);
        pthread_mutex_lock(&r->lock);
        r->promoted[r->promoted_count++] = version;
        pthread_mutex_unlock(&r->lock);
        sleep_ms(25);
    }
    return NULL;
}

static void test_concurrent_reloads(void)
{
    static race r;
    memset(&r, 0, sizeof(r));
    pthread_mutex_init(&r.lock, NULL);
    ASSERT_OK(sao_inference_predict(engine, &r.reference, "^GSPC", 0));
    r.promoted[r.promoted_count++] = r.reference.model_version;
    atomic_init(&r.predictors_left, PREDICTORS);
    sao_inference_stats before, after;
    sao_inference_get_stats(&before, engine);

    pthread_t saver, predictors[PREDICTORS];
    predictor_arg args[PREDICTORS];
    ASSERT_EQ(pthread_create(&saver, NULL, saver_main, &r), 0);
    for (int i = 0; i < PREDICTORS; i++) {
        args[i].race = &r;
        args[i].index = i;
        ASSERT_EQ(pthread_create(&predictors[i], NULL, predictor_main, &args[i]), 0);
    }
    for (int i = 0; i < PREDICTORS; i++) pthread_join(predictors[i], NULL);
    pthread_join(saver, NULL);
    if (r.failed) {
        fprintf(stderr, "concurrent predictions: %s\n", r.failure);
        exit(1);
    }
    sao_inference_get_stats(&after, engine);
    ASSERT_TRUE(after.reloads > before.reloads);
    ASSERT_TRUE(r.promoted_count > 2);

    /* Every answer came from a version that was serving, and the swaps were seen. */
    int distinct = 0, last_seen = -1;
    for (int t = 0; t < PREDICTORS; t++) {
        for (int i = 0; i < PREDICTIONS; i++) {
            int v = r.versions[t][i], known = 0;
            for (int s = 0; s < r.promoted_count && !known; s++) known = r.promoted[s] == v;
            if (!known) {
                fprintf(stderr, "thread %d answer %d: v%d never served\n", t, i, v);
                exit(1);
            }
            if (t == 0 && v != last_seen) {
                distinct++;
                last_seen = v;
            }
            /* A thread's versions only move forward: a swap is never undone. */
            if (i > 0) ASSERT_TRUE(v >= r.versions[t][i - 1]);
        }
    }
    ASSERT_TRUE(distinct >= 2);
    pthread_mutex_destroy(&r.lock);
}

/* ---- Redis going away and coming back ---- */

static void test_redis_restart(void)
{
    sao_forecast fc;
    ASSERT_OK(sao_inference_predict(engine, &fc, "BTC-USD", 1));
    sao_test_redis_stop(&redis, SIGKILL);
    int rc = sao_inference_predict(engine, &fc, "BTC-USD", 1);
    ASSERT_EQ(rc, SAO_ENET);
    ASSERT_CONTAINS(sao_error_last(), "online store unreachable");
    ASSERT_EQ(sao_inference_ping(engine), SAO_ENET);
    rc = sao_inference_predict(engine, &fc, "^GSPC", 0);
    ASSERT_EQ(rc, SAO_ENET);

    /* The same port again, empty (no persistence): reachable but without windows at first. */
    sao_test_redis_start(&redis, "inference-redis");
    ASSERT_OK(sao_inference_ping(engine));
    expect_error("BTC-USD", SAO_ENOENT, "no online features for BTC-USD");
    materialize("2024-09-09");
    ASSERT_OK(sao_inference_predict(engine, &fc, "BTC-USD", 1));
    ASSERT_EQ(fc.cached, 0);
    expect_offline(&fc, "BTC-USD");
    ASSERT_OK(sao_inference_predict(engine, &fc, "BTC-USD", 1));
    ASSERT_EQ(fc.cached, 1);
    for (int i = 0; i < 8; i++) ASSERT_OK(sao_inference_predict(engine, &fc, "^GSPC", i % 2));
}

#define CASE(fn)                                                                                   \
    static void run_##fn(void)                                                                     \
    {                                                                                              \
        setup();                                                                                   \
        fn();                                                                                      \
    }

CASE(test_matches_offline)
CASE(test_trading_day_dates)
CASE(test_errors)
CASE(test_preload_and_models)
CASE(test_cache)
CASE(test_concurrent_reloads)
CASE(test_redis_restart)

SAO_TEST_MAIN({"test_matches_offline", run_test_matches_offline},
              {"test_trading_day_dates", run_test_trading_day_dates},
              {"test_errors", run_test_errors},
              {"test_preload_and_models", run_test_preload_and_models},
              {"test_cache", run_test_cache},
              {"test_concurrent_reloads", run_test_concurrent_reloads},
              {"test_redis_restart", run_test_redis_restart})
