/*
 * The API's life cycle: settings from the configuration table, start-up (feature repository,
 * metrics registry, inference engine, training tasks, then the server) and the graceful stop in
 * the reverse order; the online-store connections of the feature reads and the model gauge.
 */
#include "api/api_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef SAO_DOCS_DEFAULT_DIR
#define SAO_DOCS_DEFAULT_DIR "web/docs/node_modules/swagger-ui-dist"
#endif

/* Connections kept idle per request thread; more are opened under bursts and closed after. */
#define ONLINE_IDLE_PER_THREAD 2
/* How long requests fail fast after Redis was found unreachable, before one tries again. */
#define REDIS_RETRY_NS INT64_C(1000000000)

static int get_int(const char *name, long min, long max, long *out)
{
    int rc = sao_config_get_int(name, out);
    if (rc) return rc;
    if (*out < min || *out > max)
        return sao_error_set(SAO_EINVAL, "%s=%ld is not between %ld and %ld", name, *out, min, max);
    return 0;
}

int sao_api_options_from_config(sao_api_options *opts)
{
    SAO_ASSERT(opts);
    sao_api_options o;
    memset(&o, 0, sizeof(o));
    long v;
    int rc;
    const char *host = sao_config_get("SAO_API_HOST");
    if (sao_strlcpy(o.host, host ? host : "", sizeof(o.host)) >= sizeof(o.host))
        return sao_error_set(SAO_EINVAL, "SAO_API_HOST is longer than %zu bytes",
                             sizeof(o.host) - 1);
    if ((rc = get_int("SAO_API_PORT", 0, 65535, &v))) return rc;
    o.port = (int)v;
    if ((rc = get_int("SAO_API_THREADS", 0, 256, &v))) return rc;
    o.threads = (int)v;
    if ((rc = get_int("SAO_API_MAX_BODY", 1, 64L * 1024 * 1024, &v))) return rc;
    o.max_body = (size_t)v;
    if ((rc = get_int("SAO_API_TIMEOUT_S", 1, 3600, &v))) return rc;
    o.timeout_s = (int)v;
    if ((rc = sao_config_get_double("SAO_API_RATE_LIMIT", &o.rate_limit))) return rc;
    if (!(o.rate_limit >= 0))
        return sao_error_set(SAO_EINVAL, "SAO_API_RATE_LIMIT must be 0 or more");
    if ((rc = get_int("SAO_API_RATE_BURST", 1, 1000000, &v))) return rc;
    o.rate_burst = (int)v;
    const char *cors = sao_config_get("SAO_API_CORS_ORIGINS");
    if (sao_strlcpy(o.cors_origins, cors ? cors : "", sizeof(o.cors_origins)) >=
        sizeof(o.cors_origins))
        return sao_error_set(SAO_EINVAL, "SAO_API_CORS_ORIGINS is longer than %zu bytes",
                             sizeof(o.cors_origins) - 1);
    if ((rc = sao_config_get_bool("SAO_API_ACCESS_LOG", &o.access_log))) return rc;
    if ((rc = sao_config_get_bool("SAO_PREDICT_CACHE", &o.predict_cache))) return rc;
    const char *docs = sao_config_get("SAO_DOCS_DIR");
    if (!docs || !*docs) docs = SAO_DOCS_DEFAULT_DIR;
    if (sao_strlcpy(o.docs_dir, docs, sizeof(o.docs_dir)) >= sizeof(o.docs_dir))
        return sao_error_set(SAO_EINVAL, "SAO_DOCS_DIR is longer than %zu bytes",
                             sizeof(o.docs_dir) - 1);
    o.feature_repo = NULL;
    *opts = o;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Online-store connections for the feature reads.
 */

int sao_api__online_acquire(sao_online **out, sao_api *api)
{
    sao_online *conn = NULL;
    pthread_mutex_lock(&api->online_lock);
    if (api->online_idle_count) conn = api->online_idle[--api->online_idle_count];
    pthread_mutex_unlock(&api->online_lock);
    if (!conn) {
        int rc = sao_online_connect(&conn, &api->online_cfg);
        if (rc)
            return sao_error_set(SAO_ENET, "online store unreachable (%s): %s", sao_errname(rc),
                                 sao_error_last());
    }
    *out = conn;
    return 0;
}

void sao_api__online_release(sao_api *api, sao_online *conn, int broken)
{
    if (!conn) return;
    if (!broken) {
        pthread_mutex_lock(&api->online_lock);
        if (api->online_idle_count < api->online_idle_max) {
            api->online_idle[api->online_idle_count++] = conn;
            conn = NULL;
        }
        pthread_mutex_unlock(&api->online_lock);
    }
    sao_online_close(conn);
}

/* ---------------------------------------------------------------------------------------------
 * The circuit in front of Redis: with Redis down, a connection attempt and its backoff hold a
 * worker thread for tens of milliseconds, and every other request on that thread waits behind
 * it; failing at once keeps the server answering everything else at full speed.
 */

static long long monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int sao_api__redis_admit(sao_api *api)
{
    long long at = atomic_load(&api->redis_retry_at);
    if (at == 0) return 0;
    long long now = monotonic_ns();
    /* Past the deadline, the request that moves it on is the one that tries. */
    if (now >= at &&
        atomic_compare_exchange_strong(&api->redis_retry_at, &at, now + REDIS_RETRY_NS))
        return 0;
    return sao_error_set(SAO_ENET,
                         "online store unreachable: it failed moments ago and is tried again "
                         "every second");
}

void sao_api__redis_report(sao_api *api, int rc)
{
    if (rc == SAO_ENET || rc == SAO_ETIMEOUT)
        atomic_store(&api->redis_retry_at, monotonic_ns() + REDIS_RETRY_NS);
    else
        atomic_store(&api->redis_retry_at, 0);
}

/* ---------------------------------------------------------------------------------------------
 * Metrics the handlers own.
 */

static void register_metrics(sao_api *api)
{
    static const char *const by_ticker[] = {"ticker"};
    static const char *const by_result[] = {"result"};
    static const char *const info[] = {"ticker", "version", "arch"};
    api->predictions_total =
        sao_metrics_counter(api->metrics, "sao_predictions_total",
                            "Forecasts served, by ticker (tickers with a model)", by_ticker, 1);
    api->prediction_cache_total = sao_metrics_counter(
        api->metrics, "sao_prediction_cache_total",
        "Forecast requests by prediction-cache outcome: hit, miss (computed and stored) or bypass",
        by_result, 1);
    api->model_info = sao_metrics_gauge(api->metrics, "sao_model_info",
                                        "Serving models held in memory (value 1), by ticker, "
                                        "version and architecture",
                                        info, 3);
    api->redis_errors_total =
        sao_metrics_counter(api->metrics, "sao_redis_errors_total",
                            "Requests that failed because the online store (Redis) was "
                            "unreachable",
                            NULL, 0);
    /* Every outcome is a series from the start, so rate() works from the first scrape. */
    static const char *const results[] = {"hit", "miss", "bypass"};
    for (size_t i = 0; i < SAO_ARRAY_LEN(results); i++) {
        const char *labels[1] = {results[i]};
        sao_metric_inc(api->prediction_cache_total, labels, 0.0);
    }
}

static int same_model(const sao_inference_model_info *a, const sao_inference_model_info *b)
{
    return a->version == b->version && strcmp(a->ticker, b->ticker) == 0 &&
           strcmp(a->arch, b->arch) == 0;
}

void sao_api__refresh_model_info(sao_api *api)
{
    sao_inference_model_info *now = NULL;
    size_t count = 0;
    if (sao_inference_models(&now, &count, api->inference) != 0) return;
    pthread_mutex_lock(&api->model_info_lock);
    for (size_t i = 0; i < api->model_info_shown_count; i++) {
        const sao_inference_model_info *old = &api->model_info_shown[i];
        int kept = 0;
        for (size_t j = 0; j < count && !kept; j++) kept = same_model(old, &now[j]);
        if (kept) continue;
        char version[16];
        snprintf(version, sizeof(version), "%d", old->version);
        const char *labels[3] = {old->ticker, version, old->arch};
        sao_metric_remove(api->model_info, labels);
    }
    for (size_t j = 0; j < count; j++) {
        char version[16];
        snprintf(version, sizeof(version), "%d", now[j].version);
        const char *labels[3] = {now[j].ticker, version, now[j].arch};
        sao_metric_set(api->model_info, labels, 1.0);
    }
    sao_free(api->model_info_shown);
    api->model_info_shown = now;
    api->model_info_shown_count = count;
    pthread_mutex_unlock(&api->model_info_lock);
}

/* ---------------------------------------------------------------------------------------------
 * Life cycle.
 */

static long request_threads(const sao_api_options *opts)
{
    long threads = opts->threads > 0 ? opts->threads : sysconf(_SC_NPROCESSORS_ONLN);
    return threads < 1 ? 1 : threads;
}

static void api_free(sao_api *api)
{
    if (!api) return;
    sao_api__tasks_free(api->tasks);
    sao_inference_free(api->inference);
    for (size_t i = 0; i < api->online_idle_count; i++) sao_online_close(api->online_idle[i]);
    sao_free(api->online_idle);
    pthread_mutex_destroy(&api->online_lock);
    volatile char *pw = api->online_cfg.password;
    for (size_t i = 0; i < sizeof(api->online_cfg.password); i++) pw[i] = 0;
    sao_free(api->model_info_shown);
    pthread_mutex_destroy(&api->model_info_lock);
    sao_metrics_free(api->metrics);
    sao_api__docs_free(api->docs);
    sao_api__history_cache_free(api->history_cache);
    sao_fs_repo_free(api->repo);
    if (api->admin_token) {
        volatile char *t = api->admin_token;
        for (size_t i = 0; t[i]; i++) t[i] = 0;
        sao_free(api->admin_token);
    }
    sao_free(api);
}

int sao_api_start(sao_api **out, const sao_api_options *opts)
{
    SAO_ASSERT(out && opts);
    sao_api *api = sao_calloc(1, sizeof(*api));
    api->opts = *opts;
    pthread_mutex_init(&api->online_lock, NULL);
    pthread_mutex_init(&api->model_info_lock, NULL);
    atomic_init(&api->redis_retry_at, 0);
    long threads = request_threads(opts);
    int rc;

    const char *token = sao_config_get("SAO_ADMIN_TOKEN");
    if (token && *token) api->admin_token = sao_strdup(token);

    if ((rc = sao_fs_repo_load(&api->repo, opts->feature_repo))) goto fail;
    api->opts.feature_repo = NULL; /* the caller's string need not outlive the start */
    if ((rc = sao_fs_online_config(&api->online_cfg, api->repo))) goto fail;
    /* One quick reconnect covers a Redis that restarted; a long backoff would only hold the
     * request while Redis is down, and the next request tries again anyway. */
    if (api->online_cfg.retries > 1) api->online_cfg.retries = 1;
    api->online_idle_max = (size_t)threads * ONLINE_IDLE_PER_THREAD;
    api->online_idle = sao_calloc(api->online_idle_max, sizeof(*api->online_idle));

    if ((rc = sao_metrics_new(&api->metrics, 1))) goto fail;
    register_metrics(api);

    sao_inference_options iopts;
    sao_inference_options_init(&iopts);
    iopts.repo = api->repo;
    iopts.connections = (int)(threads * 2 > 1024 ? 1024 : threads * 2);
    iopts.cache = opts->predict_cache;
    if ((rc = sao_inference_new(&api->inference, &iopts))) goto fail;
    size_t loaded = 0;
    if ((rc = sao_inference_preload(api->inference, &loaded))) goto fail;
    sao_log(SAO_LOG_INFO, "api", "%zu serving model%s loaded", loaded, loaded == 1 ? "" : "s");
    sao_api__refresh_model_info(api);

    if ((rc = sao_api__tasks_new(&api->tasks))) goto fail;
    api->docs = sao_api__docs_new(opts->docs_dir);
    api->history_cache = sao_api__history_cache_new();

    sao_api_server_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.opts = &api->opts;
    cfg.routes = sao_api__routes;
    cfg.route_count = sao_api__route_count;
    cfg.ctx = api;
    cfg.metrics = api->metrics;
    if ((rc = sao_api__server_start(&api->server, &cfg))) goto fail;
    if (!api->admin_token)
        sao_log(SAO_LOG_INFO, "api",
                "POST /api/v1/train is disabled (403): SAO_ADMIN_TOKEN is not set");
    *out = api;
    return 0;

fail:
    api_free(api);
    return rc;
}

int sao_api_port(const sao_api *api)
{
    return api ? sao_api__server_port(api->server) : 0;
}

void sao_api_stop(sao_api *api, int drain_s)
{
    if (!api) return;
    /* The server first: requests in flight finish on everything below, which is freed after. */
    sao_api__server_stop(api->server, drain_s);
    api->server = NULL;
    api_free(api);
}
