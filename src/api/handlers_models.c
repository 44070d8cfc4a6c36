/*
 * Handlers of the model registry routes: every trained ticker with the version that serves
 * (/api/v1/models) and one ticker's versions with their test-split metrics against the
 * persistence and drift baselines (/api/v1/models/{ticker}), read from model.json.
 */
#include "api/api_int.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static json_t *metrics_json(const sao_eval_metrics *m)
{
    return json_pack("{s:o,s:o,s:o,s:o}", "mae", sao_api__number(m->mae), "rmse",
                     sao_api__number(m->rmse), "mape", sao_api__number(m->mape), "directional",
                     sao_api__number(m->directional));
}

static json_t *timestamp_json(int64_t us)
{
    if (us <= 0) return json_null(); /* a card that does not say */
    int64_t day = us / SAO_US_PER_DAY - (us % SAO_US_PER_DAY < 0);
    int64_t secs = us / 1000000 - day * 86400;
    char date[16], text[40];
    sao_date_format(day, date, sizeof(date));
    snprintf(text, sizeof(text), "%sT%02d:%02d:%02dZ", date, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60));
    return json_string(text);
}

/* One version as the API shows it: architecture, data, training and test metrics. */
static json_t *card_json(const sao_model_card *card, int serving)
{
    json_t *inputs = json_array();
    for (int i = 0; card->inputs && i < card->model.input_size; i++)
        json_array_append_new(inputs, json_string(card->inputs[i].name));
    json_t *parent = json_null();
    if (card->parent_ticker[0])
        parent = json_pack("{s:s,s:i,s:s}", "ticker", card->parent_ticker, "version",
                           card->parent_version, "transfer", card->transfer);
    json_t *metrics = json_null();
    if (card->eval) {
        const sao_eval_result *e = card->eval;
        metrics =
            json_pack("{s:I,s:o,s:o,s:o,s:o,s:b}", "test_windows", (json_int_t)e->windows, "model",
                      metrics_json(&e->model), "persistence", metrics_json(&e->persistence),
                      "drift", metrics_json(&e->drift), "mae_ratio", sao_api__number(e->mae_ratio),
                      "beats_persistence", e->beats_persistence);
    }
    return json_pack("{s:i,s:o,s:b,s:s,s:i,s:i,s:i,s:i,s:s,s:o,s:{s:o,s:o},s:o,s:{s:i,s:i,s:o,s:o},"
                     "s:o}",
                     "version", card->version, "created", timestamp_json(card->created_us),
                     "serving", serving, "arch", sao_model_arch_name(card->model.arch), "hidden",
                     card->model.hidden_size, "layers", card->model.num_layers, "context",
                     card->context_length, "horizon", card->model.horizon, "target", card->target,
                     "inputs", inputs, "data", "first_date", sao_api__date(card->first_day),
                     "last_date", sao_api__date(card->last_day), "parent", parent, "training",
                     "epochs_run", card->epochs_run, "best_epoch", card->best_epoch,
                     "best_val_loss", sao_api__number(card->best_val_loss), "seconds",
                     sao_api__number(card->train_seconds), "metrics", metrics);
}

/* The version the inference engine holds for a ticker now (null when none). */
static json_t *loaded_version(const sao_inference_model_info *models, size_t count,
                              const char *ticker)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(models[i].ticker, ticker) == 0) return json_integer(models[i].version);
    return json_null();
}

/* One ticker: its registry, and the cards of its versions (all, or only the serving one). */
static int ticker_json(json_t **out, const char *ticker, int all_versions,
                       const sao_inference_model_info *models, size_t model_count)
{
    int *versions = NULL;
    size_t count = 0;
    int serving = 0;
    int rc = sao_registry_versions(&versions, &count, &serving, ticker);
    if (rc) return rc;
    json_t *numbers = json_array();
    json_t *cards = json_array();
    json_t *serving_card = json_null();
    for (size_t i = 0; i < count && !rc; i++) {
        json_array_append_new(numbers, json_integer(versions[i]));
        if (!all_versions && versions[i] != serving) continue;
        sao_model_card card;
        sao_model_card_init(&card);
        rc = sao_registry_read_card(&card, ticker, versions[i]);
        if (rc) break;
        json_t *j = card_json(&card, versions[i] == serving);
        sao_model_card_dispose(&card);
        if (versions[i] == serving && !all_versions) {
            json_decref(serving_card);
            serving_card = j;
        } else {
            json_array_append_new(cards, j);
        }
    }
    sao_free(versions);
    if (rc) {
        sao_error_wrap(rc, "%s: ", ticker);
        json_decref(numbers);
        json_decref(cards);
        json_decref(serving_card);
        return rc;
    }
    json_t *j = json_pack("{s:s,s:s,s:o,s:o}", "ticker", ticker, "asset_class",
                          sao_asset_class_name(sao_ticker_asset_class(ticker)), "serving_version",
                          serving > 0 ? json_integer(serving) : json_null(), "loaded_version",
                          loaded_version(models, model_count, ticker));
    if (all_versions) {
        json_object_set_new(j, "versions", cards);
        json_decref(numbers);
        json_decref(serving_card);
    } else {
        json_object_set_new(j, "versions", numbers);
        json_object_set_new(j, "serving", serving_card);
        json_decref(cards);
    }
    *out = j;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Tickers with a model folder under $SAO_HOME/models, sorted. */
static int model_tickers(char ***out, size_t *count)
{
    char dir[4096];
    int rc = sao_home_path(dir, sizeof(dir), "models");
    if (rc) return rc;
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char ticker[SAO_TICKER_MAX + 1];
            /* The registry names folders by the upper-cased ticker; anything else is not one. */
            if (de->d_name[0] == '.' || sao_ticker_normalize(ticker, de->d_name) != 0 ||
                strcmp(ticker, de->d_name) != 0)
                continue;
            names = sao_grow(names, &cap, n + 1, sizeof(*names));
            names[n++] = sao_strdup(ticker);
        }
        closedir(d);
    }
    if (n) qsort(names, n, sizeof(*names), cmp_name);
    *out = names;
    *count = n;
    return 0;
}

void sao_api__handle_models(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api *api = ctx;
    char **tickers = NULL;
    size_t count = 0;
    int rc = model_tickers(&tickers, &count);
    if (rc) {
        sao_api__fail(res, req, api, rc, 0);
        return;
    }
    sao_inference_model_info *models = NULL;
    size_t model_count = 0;
    sao_inference_models(&models, &model_count, api->inference);
    json_t *list = json_array();
    for (size_t i = 0; i < count; i++) {
        json_t *j = NULL;
        rc = ticker_json(&j, tickers[i], 0, models, model_count);
        if (rc == SAO_ENOENT) continue; /* a folder without a registry: no model yet */
        if (rc) {
            /* One damaged model.json spoils its entry, not the listing. */
            sao_log(SAO_LOG_WARN, "api", "models: %s", sao_error_last());
            continue;
        }
        json_array_append_new(list, j);
    }
    for (size_t i = 0; i < count; i++) sao_free(tickers[i]);
    sao_free(tickers);
    sao_free(models);
    sao_api__json(
        res, 200,
        json_pack("{s:I,s:o}", "count", (json_int_t)json_array_size(list), "models", list));
}

void sao_api__handle_model(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api *api = ctx;
    char ticker[SAO_TICKER_MAX + 1];
    if (sao_api__ticker_param(ticker, req, res) != 0) return;
    sao_inference_model_info *models = NULL;
    size_t model_count = 0;
    sao_inference_models(&models, &model_count, api->inference);
    json_t *j = NULL;
    int rc = ticker_json(&j, ticker, 1, models, model_count);
    sao_free(models);
    if (rc == SAO_ENOENT) {
        sao_api__no_model(res, req, ticker);
        return;
    }
    if (rc) {
        sao_api__fail(res, req, api, rc, 0);
        return;
    }
    sao_api__json(res, 200, j);
}
