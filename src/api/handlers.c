/*
 * The route table of `sao serve`, the helpers every handler shares (errors from SAO_E* codes,
 * ticker parameters, JSON numbers and dates), and the handlers of forecasts and of the probes:
 * /api/v1/predict, /healthz, /readyz and /metrics.
 */
#include "api/api_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Seconds a client is told to wait when the online store is down: about what a Redis restart
 * or a failover takes. */
#define RETRY_AFTER_REDIS_S "5"
/* Largest /metrics rendering; past it the scrape fails loudly rather than truncating. */
#define METRICS_MAX_BYTES ((size_t)32 * 1024 * 1024)

/* ---------------------------------------------------------------------------------------------
 * Helpers shared with the other handler files.
 */

void sao_api__fail(sao_api_response *res, const sao_api_request *req, sao_api *api, int rc,
                   int redis)
{
    const char *message = sao_error_last();
    switch (rc) {
    case SAO_EINVAL:
        sao_api__error(res, req, 400, "bad_request", "%s", message);
        return;
    case SAO_ENOENT:
        sao_api__error(res, req, 404, "not_found", "%s", message);
        return;
    case SAO_ENET:
    case SAO_ETIMEOUT:
        if (redis && api) sao_metric_inc(api->redis_errors_total, NULL, 1.0);
        sao_api__error(res, req, 503, "unavailable", "%s", message);
        sao_api__header_add(res, "Retry-After", RETRY_AFTER_REDIS_S);
        return;
    default:
        sao_log(SAO_LOG_ERROR, "api", "request %s on %s failed: %s: %s", req->request_id,
                req->route, sao_errname(rc), message);
        sao_api__error(res, req, 500, "internal", "%s: %s", sao_strerror(rc), message);
        return;
    }
}

int sao_api__ticker_param(char out[SAO_TICKER_MAX + 1], const sao_api_request *req,
                          sao_api_response *res)
{
    const char *raw = req->param_count ? req->params[0] : "";
    if (sao_ticker_normalize(out, raw) != 0) {
        sao_api__error(res, req, 400, "bad_ticker", "%s", sao_error_last());
        return -1;
    }
    return 0;
}

json_t *sao_api__number(double value)
{
    return isfinite(value) ? json_real(value) : json_null();
}

json_t *sao_api__date(int64_t day)
{
    char buf[16];
    sao_date_format(day, buf, sizeof(buf));
    return json_string(buf);
}

void sao_api__no_model(sao_api_response *res, const sao_api_request *req, const char *ticker)
{
    sao_api__error(res, req, 404, "model_not_found",
                   "no model for %s: train one with `sao train %s` or POST /api/v1/train "
                   "{\"ticker\": \"%s\"}",
                   ticker, ticker, ticker);
}

int sao_api__append_number(sao_buf *out, double value)
{
    if (!isfinite(value)) return sao_buf_append(out, "null", 4);
    char buf[SAO_DOUBLE_TEXT_MAX];
    size_t len = sao_format_double(buf, value);
    return sao_buf_append(out, buf, len);
}

/* ---------------------------------------------------------------------------------------------
 * Forecasts.
 */

/* "true"/"false" (and 1/0, yes/no) of a boolean query parameter; -1 when malformed. */
static int query_bool(const char *value)
{
    static const char *const yes[] = {"true", "1", "yes"};
    static const char *const no[] = {"false", "0", "no"};
    for (size_t i = 0; i < SAO_ARRAY_LEN(yes); i++) {
        if (strcmp(value, yes[i]) == 0) return 1;
        if (strcmp(value, no[i]) == 0) return 0;
    }
    return -1;
}

static json_t *forecast_json(const sao_forecast *fc, const char *request_id)
{
    char name[SAO_TICKER_MAX + 16];
    snprintf(name, sizeof(name), "%s/v%d", fc->ticker, fc->model_version);
    json_t *predictions = json_array();
    json_t *persistence = json_array();
    json_t *drift = json_array();
    for (int k = 0; k < fc->horizon; k++) {
        json_array_append_new(predictions,
                              json_pack("{s:o,s:o,s:o}", "date", sao_api__date(fc->day[k]), "close",
                                        sao_api__number(fc->close[k]), "last_close",
                                        sao_api__number(fc->last_close)));
        json_array_append_new(persistence, sao_api__number(fc->last_close));
        json_array_append_new(drift, sao_api__number(fc->drift[k]));
    }
    return json_pack(
        "{s:s,s:s,s:o,s:i,s:o,s:{s:s,s:i,s:s,s:o},s:{s:o,s:o},s:b,s:s}", "ticker", fc->ticker,
        "asset_class", sao_asset_class_name(fc->asset_class), "as_of", sao_api__date(fc->as_of_day),
        "horizon", fc->horizon, "predictions", predictions, "model", "name", name, "version",
        fc->model_version, "arch", fc->arch, "parent",
        fc->parent_ticker[0] ? json_string(fc->parent_ticker) : json_null(), "baselines",
        "persistence", persistence, "drift", drift, "cached", fc->cached, "request_id", request_id);
}

/* Whether the ticker has a serving model: tells "train one" from "materialize" after ENOENT. */
static int has_serving_model(const char *ticker)
{
    int *versions = NULL;
    size_t count = 0;
    int serving = 0;
    if (sao_registry_versions(&versions, &count, &serving, ticker) != 0) return 0;
    sao_free(versions);
    return serving > 0;
}

static void handle_predict(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api *api = ctx;
    char ticker[SAO_TICKER_MAX + 1];
    if (sao_api__ticker_param(ticker, req, res) != 0) return;
    int use_cache = 1;
    const char *cache = sao_api__query(req, "cache");
    if (cache && (use_cache = query_bool(cache)) < 0) {
        sao_api__error(res, req, 400, "bad_request", "cache must be true or false");
        return;
    }
    sao_forecast fc;
    int rc = sao_api__redis_admit(api);
    if (!rc) {
        rc = sao_inference_predict(api->inference, &fc, ticker, use_cache);
        sao_api__redis_report(api, rc);
    }
    if (rc == SAO_ENOENT) {
        char why[512];
        sao_strlcpy(why, sao_error_last(), sizeof(why));
        if (has_serving_model(ticker))
            sao_api__error(res, req, 404, "features_not_found", "%s", why);
        else
            sao_api__no_model(res, req, ticker);
        return;
    }
    if (rc) {
        sao_api__fail(res, req, api, rc, 1);
        return;
    }
    const char *result = !use_cache || !api->opts.predict_cache ? "bypass"
                         : fc.cached                            ? "hit"
                                                                : "miss";
    const char *cache_labels[1] = {result};
    const char *ticker_labels[1] = {fc.ticker};
    sao_metric_inc(api->prediction_cache_total, cache_labels, 1.0);
    sao_metric_inc(api->predictions_total, ticker_labels, 1.0);
    sao_api__json(res, 200, forecast_json(&fc, req->request_id));
}

/* ---------------------------------------------------------------------------------------------
 * Probes.
 */

static void handle_healthz(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    sao_api__static(res, 200, "application/json", ok, sizeof(ok) - 1);
}

static void handle_readyz(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api *api = ctx;
    json_t *reasons = json_array();
    int redis_rc = sao_api__redis_admit(api);
    if (!redis_rc) {
        redis_rc = sao_inference_ping(api->inference);
        sao_api__redis_report(api, redis_rc);
    }
    if (redis_rc) {
        sao_metric_inc(api->redis_errors_total, NULL, 1.0);
        json_array_append_new(reasons, json_string(sao_error_last()));
    }
    sao_inference_model_info *models = NULL;
    size_t count = 0;
    sao_inference_models(&models, &count, api->inference);
    if (count == 0) {
        /* A model trained after start-up (sao train, POST /api/v1/train) counts once loaded. */
        size_t loaded = 0;
        sao_free(models);
        models = NULL;
        sao_inference_preload(api->inference, &loaded);
        sao_inference_models(&models, &count, api->inference);
    }
    sao_free(models);
    if (count == 0)
        json_array_append_new(reasons,
                              json_string("no serving model is loaded: train one with `sao "
                                          "train TICKER` or POST /api/v1/train"));
    int ready = json_array_size(reasons) == 0;
    json_t *body = json_pack("{s:s,s:{s:s,s:I},s:o}", "status", ready ? "ready" : "not_ready",
                             "checks", "redis", redis_rc ? "unreachable" : "ok", "models_loaded",
                             (json_int_t)count, "reasons", reasons);
    if (!ready) {
        /* The Error shape too, so that every non-2xx answer of the API reads the same way. */
        json_object_set_new(body, "error",
                            json_pack("{s:s,s:s,s:s}", "code", "not_ready", "message",
                                      "the service is not ready: see reasons", "request_id",
                                      req->request_id));
        sao_api__header_add(res, "Retry-After", RETRY_AFTER_REDIS_S);
    }
    sao_api__json(res, ready ? 200 : 503, body);
}

static void handle_metrics(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api *api = ctx;
    sao_api__refresh_model_info(api);
    sao_buf out;
    sao_buf_init(&out, METRICS_MAX_BYTES);
    int rc = sao_metrics_render(api->metrics, &out);
    if (rc) {
        sao_buf_dispose(&out);
        sao_api__fail(res, req, api, rc, 0);
        return;
    }
    res->status = 200;
    res->content_type = SAO_METRICS_CONTENT_TYPE;
    res->body = sao_buf_detach(&out, &res->body_len);
    if (!res->body) {
        res->body = sao_strdup("");
        res->body_len = 0;
    }
    sao_api__header_add(res, "Cache-Control", "no-store");
    sao_buf_dispose(&out);
}

/* ---------------------------------------------------------------------------------------------
 * The table. Summaries are the OpenAPI document's (a test checks they agree).
 */

const sao_api_route sao_api__routes[] = {
    {"GET", "/api/v1/predict/{ticker}", handle_predict, 0, "Forecast the next closes of a ticker"},
    {"GET", "/predict/{ticker}", handle_predict, 0,
     "Forecast the next closes of a ticker (legacy path)"},
    {"GET", "/api/v1/tickers", sao_api__handle_tickers, 0, "List the ingested tickers"},
    {"GET", "/api/v1/tickers/{ticker}/history", sao_api__handle_history, 0,
     "Daily bars and indicators from the offline store"},
    {"GET", "/api/v1/tickers/{ticker}/features", sao_api__handle_features, 0,
     "Latest online feature values of a ticker"},
    {"GET", "/api/v1/models", sao_api__handle_models, 0,
     "List the trained models and which versions serve"},
    {"GET", "/api/v1/models/{ticker}", sao_api__handle_model, 0,
     "Every version of a ticker's model with its test metrics"},
    {"POST", "/api/v1/train", sao_api__handle_train, 0, "Start training a model in the background"},
    {"GET", "/api/v1/tasks/{task_id}", sao_api__handle_task, 0, "State of a training task"},
    {"GET", "/healthz", handle_healthz, 0, "Liveness probe"},
    {"GET", "/readyz", handle_readyz, 0, "Readiness probe"},
    {"GET", "/metrics", handle_metrics, 0, "Prometheus metrics"},
    {"GET", "/openapi.json", sao_api__handle_openapi, 0, "This OpenAPI document"},
    {"GET", "/docs", sao_api__handle_docs, 0, "Interactive API explorer (Swagger UI)"},
    {"GET", "/docs/{file}", sao_api__handle_docs_asset, 0, "Static assets of the API explorer"},
};

const size_t sao_api__route_count = SAO_ARRAY_LEN(sao_api__routes);
