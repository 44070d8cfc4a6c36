/*
 * `sao serve`: runs the HTTP API until SIGTERM or SIGINT, then stops gracefully: no new
 * connections, requests in flight finish, the training thread stops, exit 0.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli.h"
#include "store/store.h"

/* How long requests in flight may take to finish after the signal; under the 30 s a container
 * runtime waits before SIGKILL. */
#define DRAIN_S 20

void sao_cmd_serve_help(FILE *out)
{
    fprintf(out,
            "usage: sao serve [--host HOST] [--port PORT] [--threads N] [--repo DIR]\n\n"
            "Serves the REST API: forecasts (/api/v1/predict/TICKER), tickers, history,\n"
            "online features, models and training tasks under /api/v1, the OpenAPI document\n"
            "(/openapi.json) and its explorer (/docs), /healthz, /readyz and /metrics.\n"
            "Prints the base URL on start; with --port 0 the port is picked and printed.\n"
            "SIGTERM or SIGINT stops it gracefully (requests in flight finish, exit 0).\n\n"
            "  --host HOST   address to listen on (default SAO_API_HOST: 127.0.0.1)\n"
            "  --port PORT   port, 0 for any free one (default SAO_API_PORT: 8000)\n"
            "  --threads N   request threads (default SAO_API_THREADS; 0: one per CPU)\n"
            "  --repo DIR    feature repository (default SAO_FEATURE_REPO)\n\n"
            "Other settings (sao config): SAO_API_MAX_BODY, SAO_API_TIMEOUT_S,\n"
            "SAO_API_RATE_LIMIT, SAO_API_RATE_BURST, SAO_API_CORS_ORIGINS, SAO_API_ACCESS_LOG,\n"
            "SAO_PREDICT_CACHE, SAO_DOCS_DIR, and SAO_ADMIN_TOKEN: the bearer token of\n"
            "POST /api/v1/train (without it training over the API answers 403).\n");
}

/* A URL host for the listen address: wildcards are reached through loopback, IPv6 in brackets. */
static void url_host(char *out, size_t size, const char *host)
{
    if (!*host || strcmp(host, "0.0.0.0") == 0)
        snprintf(out, size, "127.0.0.1");
    else if (strcmp(host, "::") == 0)
        snprintf(out, size, "[::1]");
    else if (strchr(host, ':'))
        snprintf(out, size, "[%s]", host);
    else
        snprintf(out, size, "%s", host);
}

int sao_cmd_serve(int argc, char **argv)
{
    sao_api_options opts;
    if (sao_api_options_from_config(&opts) != 0) {
        fprintf(stderr, "sao serve: %s\n", sao_error_last());
        return SAO_EXIT_USAGE;
    }
    const char *v;
    for (int i = 1; i < argc; i++) {
        int r;
        long n;
        if ((r = sao_cli_option(argc, argv, &i, "host", &v)) != 0) {
            if (r < 0) goto usage;
            if (!*v || sao_strlcpy(opts.host, v, sizeof(opts.host)) >= sizeof(opts.host)) {
                fprintf(stderr, "sao serve: --host must be a host name or address\n");
                goto usage;
            }
        } else if ((r = sao_cli_option(argc, argv, &i, "port", &v)) != 0) {
            if (r < 0) goto usage;
            if (sao_parse_long(v, &n) != 0 || n < 0 || n > 65535) {
                fprintf(stderr, "sao serve: --port must be 0..65535\n");
                goto usage;
            }
            opts.port = (int)n;
        } else if ((r = sao_cli_option(argc, argv, &i, "threads", &v)) != 0) {
            if (r < 0) goto usage;
            if (sao_parse_long(v, &n) != 0 || n < 0 || n > 256) {
                fprintf(stderr, "sao serve: --threads must be 0..256\n");
                goto usage;
            }
            opts.threads = (int)n;
        } else if ((r = sao_cli_option(argc, argv, &i, "repo", &v)) != 0) {
            if (r < 0) goto usage;
            opts.feature_repo = v;
        } else {
            fprintf(stderr, "sao serve: unknown argument '%s'\n", argv[i]);
            goto usage;
        }
    }

    /* Blocked before any thread starts, so every thread inherits the mask and the signals wait
     * for sigwait below instead of interrupting a request. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    /* A client that hangs up mid-answer must not kill the server. */
    signal(SIGPIPE, SIG_IGN);
    sao_online_sigpipe_ignored(); /* so the online store skips its guard around each command */

    sao_api *api = NULL;
    int rc = sao_api_start(&api, &opts);
    if (rc) return sao_cli_fail("serve", rc, "cannot start the API");

    char host[300];
    url_host(host, sizeof(host), opts.host);
    int port = sao_api_port(api);
    fprintf(stderr,
            "listening on http://%s:%d\n"
            "  API explorer: http://%s:%d/docs\n"
            "  metrics:      http://%s:%d/metrics\n",
            host, port, host, port, host, port);
    fflush(stderr);

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0) {
    }
    fprintf(stderr, "%s: stopping (requests in flight finish, at most %d s)\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", DRAIN_S);
    sao_api_stop(api, DRAIN_S);
    fprintf(stderr, "stopped\n");
    return SAO_EXIT_OK;

usage:
    fprintf(stderr, "Run 'sao serve --help' for usage.\n");
    return SAO_EXIT_USAGE;
}
