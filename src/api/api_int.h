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
 * response unless body_static. content_type NULL means application/json. */
typedef struct sao_api_response {
    int status;
    const char *content_type;
    char *body;
    size_t body_len;
    int body_static;
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

#endif
