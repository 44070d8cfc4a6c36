/*
 * Handlers of training over the API: POST /api/v1/train (admin bearer token, a strict JSON body,
 * then a task queued in tasks.c) and GET /api/v1/tasks/{task_id}.
 */
#include "api/api_int.h"

#include <string.h>
#include <strings.h>

#define TRAIN_MAX_EPOCHS 1000
#define TRAIN_MAX_HIDDEN 1024
#define TRAIN_MAX_LAYERS 8

/* Compares every byte whatever the first difference, so the time taken says nothing about how
 * much of a guess was right. The length of the expected token is not a secret worth hiding. */
static int token_equal(const char *given, size_t given_len, const char *expected)
{
    size_t expected_len = strlen(expected);
    unsigned char diff = given_len != expected_len;
    for (size_t i = 0; i < expected_len; i++) {
        unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= g ^ (unsigned char)expected[i];
    }
    return diff == 0;
}

/* 0 when the request carries the admin token; else answers 403 (no token configured) or 401. */
static int authorize(const sao_api_request *req, sao_api_response *res, const sao_api *api)
{
    if (!api->admin_token) {
        sao_api__error(res, req, 403, "disabled",
                       "training over the API is disabled: set SAO_ADMIN_TOKEN on the server "
                       "(or run `sao train TICKER`)");
        return -1;
    }
    const char *auth = sao_api__header(req, "Authorization");
    static const char scheme[] = "Bearer ";
    if (!auth || strncasecmp(auth, scheme, sizeof(scheme) - 1) != 0) {
        sao_api__error(res, req, 401, "unauthorized",
                       "an admin token is required: Authorization: Bearer <SAO_ADMIN_TOKEN>");
        sao_api__header_add(res, "WWW-Authenticate", "Bearer realm=\"sao\"");
        return -1;
    }
    const char *token = auth + sizeof(scheme) - 1;
    while (*token == ' ') token++;
    if (!token_equal(token, strlen(token), api->admin_token)) {
        sao_api__error(res, req, 401, "unauthorized", "the admin token is not valid");
        sao_api__header_add(res, "WWW-Authenticate",
                            "Bearer realm=\"sao\", error=\"invalid_token\"");
        return -1;
    }
    return 0;
}

/* An optional integer member in [min, max]: 0 when absent; -1 after answering 400. */
static int int_member(int *out, const json_t *body, const char *name, int min, int max,
                      const sao_api_request *req, sao_api_response *res)
{
    const json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        sao_api__error(res, req, 400, "bad_request", "%s must be an integer from %d to %d", name,
                       min, max);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

/* Reads the body into `out`; -1 after answering 400. */
static int parse_train_body(sao_api_train_request *out, const sao_api_request *req,
                            sao_api_response *res)
{
    static const char *const members[] = {"ticker", "epochs", "parent", "arch", "hidden", "layers"};
    memset(out, 0, sizeof(*out));
    out->arch = -1;
    if (!req->body || !req->body_len) {
        sao_api__error(res, req, 400, "bad_request",
                       "a JSON body is required: {\"ticker\": \"AAPL\", \"epochs\": 20, ...}");
        return -1;
    }
    json_error_t jerr;
    /* jansson checks the encoding too: invalid UTF-8 is refused like malformed JSON. */
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        sao_api__error(res, req, 400, "invalid_json", "the body is not valid JSON: %s (line %d)",
                       jerr.text, jerr.line);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(body)) {
        sao_api__error(res, req, 400, "bad_request", "the body must be a JSON object");
        goto done;
    }
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value)
    {
        int known = 0;
        for (size_t i = 0; i < SAO_ARRAY_LEN(members) && !known; i++)
            known = strcmp(key, members[i]) == 0;
        if (!known) {
            sao_api__error(res, req, 400, "bad_request",
                           "unknown member '%.64s'; allowed: ticker, epochs, parent, arch, hidden, "
                           "layers",
                           key);
            goto done;
        }
    }
    const json_t *ticker = json_object_get(body, "ticker");
    if (!json_is_string(ticker)) {
        sao_api__error(res, req, 400, "bad_request", "ticker (a string) is required");
        goto done;
    }
    if (sao_ticker_normalize(out->ticker, json_string_value(ticker)) != 0) {
        sao_api__error(res, req, 400, "bad_ticker", "%s", sao_error_last());
        goto done;
    }
    const json_t *parent = json_object_get(body, "parent");
    if (parent && !json_is_null(parent)) {
        if (!json_is_string(parent) ||
            sao_ticker_normalize(out->parent, json_string_value(parent)) != 0) {
            sao_api__error(res, req, 400, "bad_ticker", "parent: %s",
                           json_is_string(parent) ? sao_error_last() : "must be a ticker string");
            goto done;
        }
        if (strcmp(out->parent, out->ticker) == 0) {
            sao_api__error(res, req, 400, "bad_request", "a model cannot be its own parent");
            goto done;
        }
    }
    const json_t *arch = json_object_get(body, "arch");
    if (arch && !json_is_null(arch)) {
        sao_model_arch a;
        if (!json_is_string(arch) || sao_model_arch_parse(json_string_value(arch), &a) != 0) {
            sao_api__error(res, req, 400, "bad_request", "arch must be \"lstm\" or \"gru\"");
            goto done;
        }
        out->arch = (int)a;
    }
    if (int_member(&out->epochs, body, "epochs", 1, TRAIN_MAX_EPOCHS, req, res) ||
        int_member(&out->hidden, body, "hidden", 1, TRAIN_MAX_HIDDEN, req, res) ||
        int_member(&out->layers, body, "layers", 1, TRAIN_MAX_LAYERS, req, res))
        goto done;
    rc = 0;
done:
    json_decref(body);
    return rc;
}

static void set_location(sao_api_response *res, json_t *task)
{
    char location[96];
    snprintf(location, sizeof(location), "/api/v1/tasks/%s",
             json_string_value(json_object_get(task, "task_id")));
    sao_api__header_add(res, "Location", location);
}

void sao_api__handle_train(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api *api = ctx;
    if (authorize(req, res, api) != 0) return;
    sao_api_train_request request;
    if (parse_train_body(&request, req, res) != 0) return;

    /* What training would find missing is answered now rather than as a failed task. */
    sao_pq_file *file = NULL;
    int rc = sao_offline_open(&file, SAO_VIEW_OHLCV, request.ticker);
    sao_parquet_close(file);
    if (rc == SAO_ENOENT) {
        sao_api__error(res, req, 404, "ticker_not_found",
                       "unknown ticker %s: nothing is ingested for it (run `sao ingest %s`)",
                       request.ticker, request.ticker);
        return;
    }
    if (rc) {
        sao_api__fail(res, req, api, rc, 0);
        return;
    }
    if (request.parent[0]) {
        int *versions = NULL;
        size_t count = 0;
        int serving = 0;
        if (sao_registry_versions(&versions, &count, &serving, request.parent) == 0)
            sao_free(versions);
        if (serving <= 0) {
            sao_api__error(res, req, 404, "model_not_found",
                           "the parent %s has no serving model: train it first", request.parent);
            return;
        }
    }

    json_t *task = NULL;
    int created = 0;
    rc = sao_api__tasks_submit(&task, &created, api->tasks, &request);
    if (rc == SAO_ETOOBIG || rc == SAO_ESTATE) {
        sao_api__error(res, req, 503, "busy", "%s", sao_error_last());
        sao_api__header_add(res, "Retry-After", "60");
        return;
    }
    if (rc) {
        sao_api__fail(res, req, api, rc, 0);
        return;
    }
    set_location(res, task);
    /* The same ticker already training: that task, not a second training. */
    sao_api__json(res, created ? 202 : 200, task);
}

void sao_api__handle_task(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api *api = ctx;
    const char *id = req->param_count ? req->params[0] : "";
    json_t *task = sao_api__tasks_get(api->tasks, id);
    if (!task) {
        sao_api__error(res, req, 404, "task_not_found",
                       "no task %.40s%s (the newest 100 tasks are kept while the server runs)", id,
                       strlen(id) > 40 ? "..." : "");
        return;
    }
    sao_api__json(res, 200, task);
}
