/*
 * api internals shared by the server (server.c: libmicrohttpd, routing, request ids, access log,
 * CORS, rate limiting, limits, metrics of every request) and the handlers (handlers.c and
 * friends). Nobody outside src/api includes this.
 */
#ifndef SAO_API_INT_H
#define SAO_API_INT_H

#include <jansson.h>
#include <pthread.h>

#include "api/api.h"
#include "monitoring/monitoring.h"

#define SAO_API_PARAMS_MAX 4
#define SAO_API_HEADERS_MAX 8

/* One request, as the router hands it to a handler. Everything is borrowed for the duration of
 * the call; `arena` is released after the response is queued. */
typedef struct sao_api_request {
    const char *method;     /* "GET", "POST", ... */
    const char *path;       /* as received, without the query string */
    const char *route;      /* the matched pattern, "/api/v1/predict/{ticker}" */
    const char *params[SAO_API_PARAMS_MAX]; /* path parameters in pattern order, %-decoded */
    size_t param_count;
    const char *body;       /* NUL-terminated copy of the body (NULL when none) */
    size_t body_len;
    const char *request_id; /* X-Request-Id: the client's (when sane) or generated */
    const char *client;     /* client address, "127.0.0.1" */
    sao_arena *arena;
    void *conn;             /* the server's connection (for sao_api__query/_header) */
} sao_api_request;

/* What a handler fills. status 0 means the handler set nothing (500). body is owned by the
 * response unless body_static or body_release; with body_release the body is shared, and
 * body_release(body_release_cls) is called once when the response is done with it (sent, or
 * disposed of). content_type NULL means application/json. */
typedef struct sao_api_response {
    int status;
    const char *content_type;
    char *body;
    size_t body_len;
    int body_static;
    void (*body_release)(void *cls);
    void *body_release_cls;
    const char *header_names[SAO_API_HEADERS_MAX]; /* static strings */
    char *header_values[SAO_API_HEADERS_MAX];      /* owned (sao_strdup) */
    size_t header_count;
} sao_api_response;

/* A query parameter (%-decoded) or a request header; NULL when absent. */
const char *sao_api__query(const sao_api_request *req, const char *name);
const char *sao_api__header(const sao_api_request *req, const char *name);

/* Sets a JSON body (stolen; compact, UTF-8) with `status`. */
void sao_api__json(sao_api_response *res, int status, json_t *body);
/* Sets {"error": {"code": code, "message": message, "request_id": ...}} with `status`. */
void sao_api__error(sao_api_response *res, const sao_api_request *req, int status,
                    const char *code, const char *fmt, ...) SAO_PRINTF(5, 6);
/* Sets a raw body (copied) with a content type. */
void sao_api__raw(sao_api_response *res, int status, const char *content_type, const void *data,
                  size_t len);
/* Sets a static body (not copied, never freed). */
void sao_api__static(sao_api_response *res, int status, const char *content_type,
                     const void *data, size_t len);
/* Adds a response header (value copied). */
void sao_api__header_add(sao_api_response *res, const char *name, const char *value);
void sao_api__response_dispose(sao_api_response *res);

typedef void (*sao_api_handler)(const sao_api_request *req, sao_api_response *res, void *ctx);

enum {
    SAO_API_ROUTE_PREFIX = 1 /* the pattern matches itself and anything under it ("/docs/") */
};

/* A route: method and pattern. Pattern segments in braces are parameters ("{ticker}"); a
 * request whose path matches a pattern but not its method gets 405 with Allow; no match is 404.
 * HEAD is answered by GET routes. OPTIONS (CORS preflight) is answered by the server. */
typedef struct sao_api_route {
    const char *method;
    const char *pattern;
    sao_api_handler handler;
    int flags;
    const char *summary; /* one line, checked against the OpenAPI document by a test */
} sao_api_route;

/* The server part, independent of the handlers (tests drive it with their own routes). */
typedef struct sao_api_server sao_api_server;

typedef struct sao_api_server_config {
    const sao_api_options *opts;
    const sao_api_route *routes;
    size_t route_count;
    void *ctx;               /* passed to every handler */
    sao_metrics *metrics;    /* http_requests_total{route,method,status},
                                http_request_duration_seconds{route},
                                http_requests_in_flight are registered here */
} sao_api_server_config;

/* Binds and starts the worker threads. SAO_EIO naming the address when the bind fails. */
int sao_api__server_start(sao_api_server **out, const sao_api_server_config *cfg);
int sao_api__server_port(const sao_api_server *server);
/* Stops accepting new connections; requests in flight finish (at most drain_s seconds);
 * then frees the server. */
void sao_api__server_stop(sao_api_server *server, int drain_s);
/* Requests being handled now. */
long sao_api__server_in_flight(const sao_api_server *server);

/* ---------------------------------------------------------------------------------------------
 * The application behind the routes: api.c (life cycle, the online-store connections of feature
 * reads, the handlers' metrics), handlers*.c (the routes), tasks.c (training in the background)
 * and docs.c (/openapi.json and /docs).
 */
#include <stdatomic.h>

#include "pipelines/pipelines.h"

typedef struct sao_api_tasks sao_api_tasks;
typedef struct sao_api_docs sao_api_docs;
typedef struct sao_api_history_cache sao_api_history_cache;

struct sao_api {
    sao_api_options opts;
    sao_fs_repo *repo;
    sao_metrics *metrics;
    sao_inference *inference;
    sao_api_tasks *tasks;
    sao_api_docs *docs;
    sao_api_history_cache *history_cache; /* the history route's decoded columns */
    sao_api_server *server;
    char *admin_token; /* SAO_ADMIN_TOKEN; NULL: POST /api/v1/train is disabled */

    /* Online-store connections for the feature reads (the inference engine has its own). */
    pthread_mutex_t online_lock;
    sao_online_config online_cfg;
    sao_online **online_idle;
    size_t online_idle_count;
    size_t online_idle_max;
    /* Monotonic ns before which requests needing Redis fail at once (0: Redis answered last). */
    atomic_llong redis_retry_at;

    sao_metric *predictions_total;      /* {ticker}: tickers with a model only */
    sao_metric *prediction_cache_total; /* {result}: hit, miss, bypass */
    sao_metric *model_info;             /* {ticker, version, arch} = 1 */
    sao_metric *redis_errors_total;
    pthread_mutex_t model_info_lock;    /* the series shown, to remove stale ones */
    sao_inference_model_info *model_info_shown;
    size_t model_info_shown_count;
};

/* The route table (handlers.c), also read by the OpenAPI test. */
extern const sao_api_route sao_api__routes[];
extern const size_t sao_api__route_count;

/* src/api/openapi.json, embedded at build time (cmake/embed.cmake); NUL-terminated, the length
 * leaves the NUL out. */
extern const unsigned char sao_api__openapi_json[];
extern const size_t sao_api__openapi_json_len;

/* api.c. A connection to the online store, reused across requests; *out belongs to the caller
 * until released (broken: closed instead of kept). SAO_ENET when Redis cannot be reached. */
int sao_api__online_acquire(sao_online **out, sao_api *api);
void sao_api__online_release(sao_api *api, sao_online *conn, int broken);
/* The circuit in front of Redis. Once a request found it unreachable, the others fail at once
 * (SAO_ENET) for a second instead of each holding a worker thread in connect and backoff; then
 * one request at a time tries again. Call admit before using Redis (0: go ahead) and report
 * with the outcome (any code but SAO_ENET / SAO_ETIMEOUT means Redis answered). */
int sao_api__redis_admit(sao_api *api);
void sao_api__redis_report(sao_api *api, int rc);
/* Sets sao_model_info to the models the inference engine holds now, removing stale series. */
void sao_api__refresh_model_info(sao_api *api);

/* handlers.c: helpers shared by the handler files. */
/* Answers an error from a SAO_E* code with the last error message: EINVAL 400, ENOENT 404,
 * ENET / ETIMEOUT 503 with Retry-After (counted in sao_redis_errors_total when `redis`),
 * anything else 500 (logged with the request id). */
void sao_api__fail(sao_api_response *res, const sao_api_request *req, sao_api *api, int rc,
                   int redis);
/* Validates and upper-cases the {ticker} parameter (params[0]); else answers 400, returns -1. */
int sao_api__ticker_param(char out[SAO_TICKER_MAX + 1], const sao_api_request *req,
                          sao_api_response *res);
/* 404 model_not_found, saying how to train one. */
void sao_api__no_model(sao_api_response *res, const sao_api_request *req, const char *ticker);
/* A JSON number, or null when not finite (JSON has no NaN). */
json_t *sao_api__number(double value);
/* "YYYY-MM-DD" of a day number. */
json_t *sao_api__date(int64_t day);
/* Appends a double as the shortest text that reads back exactly (null when not finite). */
int sao_api__append_number(sao_buf *out, double value);
/* Appends `s` (UTF-8) as a JSON string: quoted, '"', '\\' and control characters escaped. */
int sao_api__append_string(sao_buf *out, const char *s);

/* The handlers, by file. */
void sao_api__handle_tickers(const sao_api_request *req, sao_api_response *res, void *ctx);
void sao_api__handle_history(const sao_api_request *req, sao_api_response *res, void *ctx);
void sao_api__handle_features(const sao_api_request *req, sao_api_response *res, void *ctx);
void sao_api__handle_models(const sao_api_request *req, sao_api_response *res, void *ctx);
void sao_api__handle_model(const sao_api_request *req, sao_api_response *res, void *ctx);
void sao_api__handle_train(const sao_api_request *req, sao_api_response *res, void *ctx);
void sao_api__handle_task(const sao_api_request *req, sao_api_response *res, void *ctx);
void sao_api__handle_openapi(const sao_api_request *req, sao_api_response *res, void *ctx);
void sao_api__handle_docs(const sao_api_request *req, sao_api_response *res, void *ctx);
void sao_api__handle_docs_asset(const sao_api_request *req, sao_api_response *res, void *ctx);

/* handlers_data.c: the history route's columns of each ticker, decoded once per version of its
 * Parquet files (checked with stat on each request) and kept for the few tickers used last.
 * Thread-safe; free it once no request runs. */
sao_api_history_cache *sao_api__history_cache_new(void);
void sao_api__history_cache_free(sao_api_history_cache *cache);

/* tasks.c: training tasks run one at a time on a background thread, newest 100 kept. */
typedef struct sao_api_train_request {
    char ticker[SAO_TICKER_MAX + 1];
    char parent[SAO_TICKER_MAX + 1]; /* "" when none */
    int epochs;                      /* 0: the pipeline's default */
    int arch;                        /* -1: default, else sao_model_arch */
    int hidden;                      /* 0: default */
    int layers;                      /* 0: default */
} sao_api_train_request;

int sao_api__tasks_new(sao_api_tasks **out);
/* Cancels what is queued, stops the running training at its next epoch (a version it saves is
 * not promoted) and joins the thread. NULL is fine. */
void sao_api__tasks_free(sao_api_tasks *tasks);
/* Queues a training, or finds the one queued or running for the same ticker (*created 0).
 * *task gets the task as JSON (the caller's). SAO_ETOOBIG when the queue is full, SAO_ESTATE
 * while stopping. */
int sao_api__tasks_submit(json_t **task, int *created, sao_api_tasks *tasks,
                          const sao_api_train_request *request);
/* The task as JSON (the caller's), or NULL when no kept task has this id. */
json_t *sao_api__tasks_get(sao_api_tasks *tasks, const char *id);

/* docs.c: the Swagger UI assets, read from opts.docs_dir on first use and kept. */
sao_api_docs *sao_api__docs_new(const char *dir);
void sao_api__docs_free(sao_api_docs *docs);

#endif
