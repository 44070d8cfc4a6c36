/*
 * api: the HTTP JSON API of `sao serve`: a libmicrohttpd server (epoll, a thread pool sized to
 * the cores), a small router, the /api/v1 handlers, the OpenAPI document and /docs, /healthz,
 * /readyz and /metrics.
 */
#ifndef SAO_API_H
#define SAO_API_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

typedef struct sao_api_options {
    char host[256];        /* SAO_API_HOST */
    int port;              /* SAO_API_PORT; 0 picks a free port (see sao_api_port) */
    int threads;           /* SAO_API_THREADS; 0: one per online CPU */
    size_t max_body;       /* SAO_API_MAX_BODY: larger bodies get 413 */
    int timeout_s;         /* SAO_API_TIMEOUT_S: idle / slow connections are closed */
    double rate_limit;     /* SAO_API_RATE_LIMIT: requests/s per client address, 0 off */
    int rate_burst;        /* SAO_API_RATE_BURST */
    char cors_origins[1024]; /* SAO_API_CORS_ORIGINS */
    int access_log;        /* SAO_API_ACCESS_LOG */
    int predict_cache;     /* SAO_PREDICT_CACHE */
    char docs_dir[4096];   /* SAO_DOCS_DIR, or the folder set-up installs */
    const char *feature_repo; /* NULL: SAO_FEATURE_REPO */
} sao_api_options;

/* Fills `opts` from the configuration table (environment, else defaults). SAO_EINVAL naming the
 * variable when a value does not parse. */
int sao_api_options_from_config(sao_api_options *opts);

typedef struct sao_api sao_api;

/* Loads the feature repository, connects what the handlers need (the online store is allowed to
 * be down: the server starts, /readyz fails and predictions answer 503 until it is back) and
 * starts listening. */
int sao_api_start(sao_api **out, const sao_api_options *opts);
/* The port actually bound. */
int sao_api_port(const sao_api *api);
/* Graceful stop: stop accepting, let in-flight requests finish (at most `drain_s` seconds),
 * join background work, free everything. NULL is fine. */
void sao_api_stop(sao_api *api, int drain_s);

#endif
