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

/* Appends a JSON string: `s` (UTF-8) quoted, with '"', '\\' and control characters escaped. */
int sao_api__append_string(sao_buf *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    int rc = sao_buf_append(out, "\"", 1);
    const char *run = s;
    for (const char *p = s; !rc && *p; p++) {
        const unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        rc = sao_buf_append(out, run, (size_t)(p - run));
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t n = 2;
        if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        if (!rc) rc = sao_buf_append(out, esc, n);
        run = p + 1;
    }
    if (!rc) rc = sao_buf_append(out, run, strlen(run));
    if (!rc) rc = sao_buf_append(out, "\"", 1);
    return rc;
}

/* Appends a quoted ISO date. */
static int append_date(sao_buf *out, int64_t day)
{
    char buf[16];
    sao_date_format(day, buf, sizeof(buf));
    int rc = sao_buf_append(out, "\"", 1);
    if (!rc) rc = sao_buf_append(out, buf, strlen(buf));
    if (!rc) rc = sao_buf_append(out, "\"", 1);
    return rc;
}

/* A string literal (never an expression: sizeof must see the array). */
#define APPEND_LIT(out, lit) sao_buf_append((out), "" lit, sizeof(lit) - 1)

/* The forecast answer, written straight into a buffer: this is the hottest route, and building
 * a jansson tree costs more than the rest of the answer. Numbers are shortest round-trip text;
 * the OpenAPI schema of Forecast describes the object. */
static int forecast_json(sao_buf *out, const sao_forecast *fc, const char *request_id)
{
    char version[16];
    snprintf(version, sizeof(version), "%d", fc->model_version);
    int rc = APPEND_LIT(out, "{\"ticker\":");
    if (!rc) rc = sao_api__append_string(out, fc->ticker);
    if (!rc) rc = APPEND_LIT(out, ",\"asset_class\":");
    if (!rc) rc = sao_api__append_string(out, sao_asset_class_name(fc->asset_class));
    if (!rc) rc = APPEND_LIT(out, ",\"as_of\":");
    if (!rc) rc = append_date(out, fc->as_of_day);
    if (!rc) rc = sao_buf_appendf(out, ",\"horizon\":%d,\"predictions\":[", fc->horizon);
    for (int k = 0; !rc && k < fc->horizon; k++) {
        if (k) rc = APPEND_LIT(out, ",");
        if (!rc) rc = APPEND_LIT(out, "{\"date\":");
        if (!rc) rc = append_date(out, fc->day[k]);
        if (!rc) rc = APPEND_LIT(out, ",\"close\":");
        if (!rc) rc = sao_api__append_number(out, fc->close[k]);
        if (!rc) rc = APPEND_LIT(out, ",\"last_close\":");
        if (!rc) rc = sao_api__append_number(out, fc->last_close);
        if (!rc) rc = APPEND_LIT(out, "}");
    }
    if (!rc) rc = APPEND_LIT(out, "],\"model\":{\"name\":\"");
    /* "<ticker>/v<version>": a normalized ticker needs no escape. */
    if (!rc) rc = sao_buf_append(out, fc->ticker, strlen(fc->ticker));
    if (!rc) rc = APPEND_LIT(out, "/v");
    if (!rc) rc = sao_buf_append(out, version, strlen(version));
    if (!rc) rc = APPEND_LIT(out, "\",\"version\":");
    if (!rc) rc = sao_buf_append(out, version, strlen(version));
    if (!rc) rc = APPEND_LIT(out, ",\"arch\":");
    if (!rc) rc = sao_api__append_string(out, fc->arch);
    if (!rc) rc = APPEND_LIT(out, ",\"parent\":");
    if (!rc)
        rc = fc->parent_ticker[0] ? sao_api__append_string(out, fc->parent_ticker)
                                  : APPEND_LIT(out, "null");
    if (!rc) rc = APPEND_LIT(out, "},\"baselines\":{\"persistence\":[");
    for (int k = 0; !rc && k < fc->horizon; k++) {
        if (k) rc = APPEND_LIT(out, ",");
        if (!rc) rc = sao_api__append_number(out, fc->last_close);
    }
    if (!rc) rc = APPEND_LIT(out, "],\"drift\":[");
    for (int k = 0; !rc && k < fc->horizon; k++) {
        if (k) rc = APPEND_LIT(out, ",");
        if (!rc) rc = sao_api__append_number(out, fc->drift[k]);
    }
    if (!rc) rc = APPEND_LIT(out, "]},\"cached\":");
    if (!rc) rc = fc->cached ? APPEND_LIT(out, "true") : APPEND_LIT(out, "false");
    if (!rc) rc = APPEND_LIT(out, ",\"request_id\":");
    if (!rc) rc = sao_api__append_string(out, request_id);
    if (!rc) rc = APPEND_LIT(out, "}");
    return rc;
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
    sao_buf out;
    sao_buf_init(&out, 0);
    if (forecast_json(&out, &fc, req->request_id) != 0) {
        sao_buf_dispose(&out);
        sao_api__error(res, req, 500, "internal", "the forecast could not be encoded");
        return;
    }
    res->status = 200;
    res->content_type = NULL;
    res->body = sao_buf_detach(&out, &res->body_len);
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
