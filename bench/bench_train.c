/*
 * Training throughput: the anchor forecaster (LSTM on OHLCV + RSI 14 + MACD, context 60,
 * horizon 5, batch 32, Adam 1e-3) on ^GSPC daily bars, a fixed number of epochs on a fixed
 * OpenBLAS thread count. Prints one JSON line; bench_train_pytorch.py trains the same model.
 *
 *   bench_train [--threads N] [--small] [--epochs E] [--seed S] [--dump DIR] [SHARED_DIR]
 *
 * --small: hidden 64, 2 layers (the anchor is hidden 128, 3 layers). --seed S (default 42)
 * seeds the initial weights, the dropout masks and the shuffling. --dump DIR writes, before
 * anything is timed, DIR/windows.bin (the prepared train and validation windows, see
 * dump_windows) and DIR/init.safetensors (the initial weights), so that PyTorch trains on the
 * very same inputs, targets and split from the very same starting point.
 *
 * Targets are preparation's default: the next 5 closes as returns on the window's last close
 * (target scale 1), so the reported MSEs are in squared return units on both sides. Inputs are
 * standard-scaled on the training rows only; the split is 70/15/15 with a horizon gap.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/core.h"
#include "data/data.h"
#include "features/features.h"
#include "model/model.h"

#define CSV_NAME "yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv"
#define FIRST_DATE "2004-08-19"
#define LAST_DATE "2024-09-12"
#define FEATURES 7
#define CONTEXT_LENGTH 60
#define HORIZON 5
#define BATCH_SIZE 32

typedef struct bench_options {
    int threads;
    int small;
    int epochs;
    int seed;
    const char *dump_dir;
    const char *shared_dir;
} bench_options;

static int parse_int(const char *text, int min, int max, int *out)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (!*text || *end || value < min || value > max) return -1;
    *out = (int)value;
    return 0;
}

static int parse_options(bench_options *opt, int argc, char **argv)
{
    opt->threads = 1;
    opt->small = 0;
    opt->epochs = 3;
    opt->seed = 42;
    opt->dump_dir = NULL;
    opt->shared_dir = getenv("SAO_SHARED_DIR");
    if (!opt->shared_dir || !*opt->shared_dir) opt->shared_dir = "../shared";
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--small") == 0) {
            opt->small = 1;
        } else if (strcmp(arg, "--threads") == 0 && i + 1 < argc) {
            if (parse_int(argv[++i], 1, 256, &opt->threads)) return -1;
        } else if (strcmp(arg, "--epochs") == 0 && i + 1 < argc) {
            if (parse_int(argv[++i], 1, 1000, &opt->epochs)) return -1;
        } else if (strcmp(arg, "--seed") == 0 && i + 1 < argc) {
            if (parse_int(argv[++i], 0, 1000000, &opt->seed)) return -1;
        } else if (strcmp(arg, "--dump") == 0 && i + 1 < argc) {
            opt->dump_dir = argv[++i];
        } else if (arg[0] != '-') {
            opt->shared_dir = arg;
        } else {
            return -1;
        }
    }
    return 0;
}

/* The bars of [FIRST_DATE, LAST_DATE] as the model's inputs, column-major [rows x FEATURES]
 * (open, high, low, close, volume, RSI 14, MACD line), and their closes. Indicators are computed
 * over the range itself, as the anchor project computed them on the bars it downloaded: their
 * warm-up rows are NaN and preparation drops them. */
static int load_inputs(double **inputs_out, double **close_out, size_t *rows_out, const char *path)
{
    sao_bars bars;
    sao_csv_report report;
    int64_t first_day, last_day;
    double *inputs = NULL, *close = NULL, *scratch = NULL;
    sao_bars_init(&bars, "^GSPC");
    int rc = sao_csv_import(&bars, &report, path);
    if (rc) goto done;
    if ((rc = sao_date_parse(FIRST_DATE, strlen(FIRST_DATE), &first_day)) ||
        (rc = sao_date_parse(LAST_DATE, strlen(LAST_DATE), &last_day)))
        goto done;
    size_t begin = 0, end = 0;
    while (begin < bars.count && bars.day[begin] < first_day) begin++;
    end = begin;
    while (end < bars.count && bars.day[end] <= last_day) end++;
    const size_t rows = end - begin;
    if (rows < 1000) {
        rc = sao_error_set(SAO_ENODATA, "%s: only %zu bars in %s..%s", path, rows, FIRST_DATE,
                           LAST_DATE);
        goto done;
    }
    inputs = sao_malloc(rows * FEATURES * sizeof(double));
    close = sao_malloc(rows * sizeof(double));
    scratch = sao_malloc(2 * rows * sizeof(double));
    const double *columns[5] = {bars.open, bars.high, bars.low, bars.close, bars.volume};
    for (int f = 0; f < 5; f++)
        memcpy(inputs + f * rows, columns[f] + begin, rows * sizeof(double));
    memcpy(close, bars.close + begin, rows * sizeof(double));
    sao_ind_rsi(inputs + 5 * rows, close, rows, 14);
    sao_ind_macd(inputs + 6 * rows, scratch, scratch + rows, close, rows, 12, 26, 9);
    *inputs_out = inputs;
    *close_out = close;
    *rows_out = rows;
    inputs = close = NULL;
done:
    sao_free(inputs);
    sao_free(close);
    sao_free(scratch);
    sao_bars_dispose(&bars);
    return rc;
}

/* DIR/windows.bin: an 8-byte little-endian header length, a JSON header, then float32 (host
 * order, little-endian on every machine this runs on): train inputs [train, C, F], validation
 * inputs [val, C, F], train targets [train, H], validation targets [val, H]. */
static int dump_windows(const char *dir, const float *train_x, const float *train_y,
                        size_t train_count, const float *val_x, const float *val_y,
                        size_t val_count)
{
    char path[4096], header[512];
    snprintf(path, sizeof(path), "%s/windows.bin", dir);
    int header_len = snprintf(header, sizeof(header),
                              "{\"context_length\":%d,\"features\":%d,\"horizon\":%d,"
                              "\"train\":%zu,\"val\":%zu,\"dtype\":\"F32\"}",
                              CONTEXT_LENGTH, FEATURES, HORIZON, train_count, val_count);
    FILE *f = fopen(path, "wb");
    if (!f) return sao_error_set(SAO_EIO, "cannot create %s", path);
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    const size_t per_window = (size_t)CONTEXT_LENGTH * FEATURES;
    int ok =
        fwrite(len_bytes, 1, 8, f) == 8 &&
        fwrite(header, 1, (size_t)header_len, f) == (size_t)header_len &&
        fwrite(train_x, sizeof(float), train_count * per_window, f) == train_count * per_window &&
        fwrite(val_x, sizeof(float), val_count * per_window, f) == val_count * per_window &&
        fwrite(train_y, sizeof(float), train_count * HORIZON, f) == train_count * HORIZON &&
        fwrite(val_y, sizeof(float), val_count * HORIZON, f) == val_count * HORIZON;
    if (fclose(f) != 0) ok = 0;
    return ok ? 0 : sao_error_set(SAO_EIO, "cannot write %s", path);
}

int main(int argc, char **argv)
{
    bench_options opt;
    if (parse_options(&opt, argc, argv)) {
        fprintf(stderr, "usage: bench_train [--threads N] [--small] [--epochs E] [--seed S] "
                        "[--dump DIR] [SHARED_DIR]\n");
        return 2;
    }
    char csv_path[4096];
    snprintf(csv_path, sizeof(csv_path), "%s/data/ohlcv/%s", opt.shared_dir, CSV_NAME);

    double *inputs = NULL, *close = NULL;
    size_t rows = 0;
    sao_prep_data *prep = NULL;
    float *train_x = NULL, *train_y = NULL, *val_x = NULL, *val_y = NULL;
    size_t train_count = 0, val_count = 0;
    sao_model *model = NULL;
    sao_model_history history = {0};
    int rc = load_inputs(&inputs, &close, &rows, csv_path);
    if (rc) goto done;

    sao_prep_config prep_cfg;
    sao_prep_config_init(&prep_cfg);
    prep_cfg.context_length = CONTEXT_LENGTH;
    prep_cfg.horizon = HORIZON;
    if ((rc = sao_prep_new(&prep, inputs, close, rows, FEATURES, &prep_cfg)) ||
        (rc = sao_prep_windows(&train_x, &train_y, &train_count, prep, SAO_PREP_TRAIN)) ||
        (rc = sao_prep_windows(&val_x, &val_y, &val_count, prep, SAO_PREP_VAL)))
        goto done;

    sao_model_config model_cfg;
    sao_model_config_init(&model_cfg);
    model_cfg.arch = SAO_MODEL_LSTM;
    model_cfg.input_size = FEATURES;
    model_cfg.hidden_size = opt.small ? 64 : 128;
    model_cfg.num_layers = opt.small ? 2 : 3;
    model_cfg.horizon = HORIZON;
    model_cfg.dropout = 0.2f;
    model_cfg.seed = (uint64_t)opt.seed;
    if ((rc = sao_model_new(&model, &model_cfg))) goto done;

    if (opt.dump_dir) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/init.safetensors", opt.dump_dir);
        if ((rc = sao_model_save(model, path)) ||
            (rc = dump_windows(opt.dump_dir, train_x, train_y, train_count, val_x, val_y,
                               val_count)))
            goto done;
    }

    /* A fixed number of epochs: no plateau reduction, no early stopping, no progress bar. */
    sao_model_train_config train_cfg;
    sao_model_train_config_init(&train_cfg);
    train_cfg.epochs = opt.epochs;
    train_cfg.seed = (uint64_t)opt.seed;
    train_cfg.batch_size = BATCH_SIZE;
    train_cfg.adam.learning_rate = 1e-3f;
    train_cfg.loss = SAO_MODEL_LOSS_MSE;
    train_cfg.plateau_patience = 0;
    train_cfg.early_stopping = 0;
    train_cfg.progress = 0;
    sao_model_windows train = {train_x, train_y, train_count, CONTEXT_LENGTH};
    sao_model_windows val = {val_x, val_y, val_count, CONTEXT_LENGTH};

    sao_model_set_threads(opt.threads);
    if ((rc = sao_model_train(model, &history, &train, &val, &train_cfg))) goto done;

    /* Epoch seconds cover the epoch's training steps and its validation pass, as on the
     * PyTorch side; windows/s counts training windows only. */
    double total_seconds = 0.0;
    char epochs_json[1024];
    size_t used = 0;
    epochs_json[0] = '\0';
    for (size_t e = 0; e < history.count; e++) {
        total_seconds += history.epochs[e].seconds;
        int n = snprintf(epochs_json + used, sizeof(epochs_json) - used, "%s%.3f", e ? "," : "",
                         history.epochs[e].seconds);
        if (n > 0 && (size_t)n < sizeof(epochs_json) - used) used += (size_t)n;
    }
    const sao_model_epoch *last = &history.epochs[history.count - 1];
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("{\"bench\":\"train\",\"impl\":\"c\",\"config\":\"%s\",\"hidden\":%d,\"layers\":%d,"
           "\"threads\":%d,\"epochs\":%zu,\"train_windows\":%zu,\"val_windows\":%zu,"
           "\"epoch_seconds\":[%s],\"seconds_per_epoch\":%.3f,\"windows_per_s\":%.1f,"
           "\"final_train_mse\":%.6g,\"final_val_mse\":%.6g,\"peak_rss_kb\":%ld}\n",
           opt.small ? "small" : "anchor", model_cfg.hidden_size, model_cfg.num_layers, opt.threads,
           history.count, train_count, val_count, epochs_json,
           total_seconds / (double)history.count,
           (double)train_count * (double)history.count / total_seconds, last->train_loss,
           last->val_loss, usage.ru_maxrss);
done:
    if (rc) fprintf(stderr, "bench_train: %s\n", sao_error_last());
    sao_model_history_dispose(&history);
    sao_model_free(model);
    sao_free(train_x);
    sao_free(train_y);
    sao_free(val_x);
    sao_free(val_y);
    sao_prep_free(prep);
    sao_free(inputs);
    sao_free(close);
    return rc ? 1 : 0;
}
