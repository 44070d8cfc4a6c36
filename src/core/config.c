/*
 * The one table of every SAO_* setting: type, default and help. Values come from the
 * environment (which overrides files), else the default; `sao config` prints this table.
 */
#include "core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const sao_config_entry entries[] = {
    {"SAO_HOME", SAO_CONFIG_STRING, "./var",
     "Data root: offline store, models, registry and service state live under it"},
    {"SAO_LOG_LEVEL", SAO_CONFIG_STRING, "info", "Minimum log level: debug, info, warn, error"},
    {"SAO_LOG_FORMAT", SAO_CONFIG_STRING, "auto",
     "Log format: auto (text on a terminal, JSON lines otherwise), text, json"},
    {"SAO_PROGRESS", SAO_CONFIG_STRING, "auto",
     "Progress display: auto (a bar on a terminal, log lines otherwise), bar, log, off"},
    {"SAO_YAHOO_BASE_URL", SAO_CONFIG_STRING, "https://query2.finance.yahoo.com",
     "Base URL of the Yahoo Finance chart API (tests point it at a local server)"},
    {"SAO_HTTP_CONNECT_TIMEOUT_MS", SAO_CONFIG_INT, "5000", "HTTP client connect timeout (ms)"},
    {"SAO_HTTP_TIMEOUT_MS", SAO_CONFIG_INT, "30000", "HTTP client total timeout per attempt (ms)"},
    {"SAO_HTTP_RETRIES", SAO_CONFIG_INT, "4",
     "Retries after a 429, a 5xx or a timeout (exponential backoff with jitter)"},
    {"SAO_HTTP_BACKOFF_MS", SAO_CONFIG_INT, "500", "Base delay of the retry backoff (ms)"},
    {"SAO_HTTP_MAX_BODY", SAO_CONFIG_INT, "67108864",
     "Largest HTTP response body accepted (bytes); larger is an error"},
    {"SAO_HTTP_USER_AGENT", SAO_CONFIG_STRING, "stock-agent-ops/" SAO_VERSION,
     "User-Agent sent by the HTTP client"},
    {"SAO_DEFAULT_START", SAO_CONFIG_STRING, "1990-01-01",
     "First date fetched for a ticker never ingested before"},
    {"SAO_INGEST_OVERLAP_DAYS", SAO_CONFIG_INT, "7",
     "Calendar days re-fetched before the last stored bar on an incremental ingest"},
    {"SAO_PARQUET_CODEC", SAO_CONFIG_STRING, "zstd",
     "Compression of offline-store Parquet files: zstd, snappy, none"},
    {"SAO_THREADS", SAO_CONFIG_INT, "0",
     "Threads that read offline files in parallel (materialize); 0: one per online CPU"},
    {"SAO_FEATURE_REPO", SAO_CONFIG_STRING, "feature_store",
     "Feature repository folder: feature_store.yaml (Feast's schema) and features.yaml"},
    {"SAO_REDIS_CONNECTION", SAO_CONFIG_STRING, "",
     "Online store connection string host:port[,db=N][,password=...]; overrides "
     "feature_store.yaml (containers set it)"},
    {"SAO_REDIS_RETRIES", SAO_CONFIG_INT, "3",
     "Reconnect attempts (with backoff) before a Redis operation fails"},
    {"SAO_DATA_DIR", SAO_CONFIG_STRING, "",
     "Folder of CSV files the demo ingests when the network is not reachable"},
    {"SAO_ADMIN_TOKEN", SAO_CONFIG_SECRET, "",
     "Bearer token for admin endpoints (secret: never logged or printed)"},
    {"SAO_API_HOST", SAO_CONFIG_STRING, "127.0.0.1",
     "Address sao serve listens on (0.0.0.0 in containers)"},
    {"SAO_API_PORT", SAO_CONFIG_INT, "8000", "Port sao serve listens on (0: any free port)"},
    {"SAO_API_THREADS", SAO_CONFIG_INT, "0", "HTTP worker threads; 0: one per online CPU"},
    {"SAO_API_MAX_BODY", SAO_CONFIG_INT, "65536",
     "Largest request body accepted (bytes); larger is 413"},
    {"SAO_API_TIMEOUT_S", SAO_CONFIG_INT, "15",
     "Seconds a client connection may stay idle or slow before it is closed"},
    {"SAO_API_RATE_LIMIT", SAO_CONFIG_DOUBLE, "0",
     "Requests per second allowed per client address (token bucket); 0: no limit"},
    {"SAO_API_RATE_BURST", SAO_CONFIG_INT, "50", "Burst size of the per-client rate limit"},
    {"SAO_API_CORS_ORIGINS", SAO_CONFIG_STRING, "",
     "Comma-separated origins allowed by CORS ('*' for any); empty: no CORS headers"},
    {"SAO_API_ACCESS_LOG", SAO_CONFIG_BOOL, "1", "Write one JSON access-log line per request"},
    {"SAO_PREDICT_CACHE", SAO_CONFIG_BOOL, "1",
     "Cache predictions in Redis until the next bar or a new model version"},
    {"SAO_DOCS_DIR", SAO_CONFIG_STRING, "",
     "Folder of the swagger-ui-dist package served at /docs; empty: the one installed by set-up"},
};

const sao_config_entry *sao_config_entries(size_t *count)
{
    *count = SAO_ARRAY_LEN(entries);
    return entries;
}

static const sao_config_entry *find_entry(const char *name)
{
    for (size_t i = 0; i < SAO_ARRAY_LEN(entries); i++)
        if (strcmp(entries[i].name, name) == 0) return &entries[i];
    return NULL;
}

const char *sao_config_get(const char *name)
{
    const sao_config_entry *e = find_entry(name);
    SAO_ASSERT(e != NULL); /* every setting is in the table */
    const char *v = getenv(name);
    return v ? v : e->default_value;
}

int sao_config_is_set(const char *name)
{
    return getenv(name) != NULL;
}

int sao_config_get_int(const char *name, long *out)
{
    const char *v = sao_config_get(name);
    long value;
    if (sao_parse_long(v, &value) != 0)
        return sao_error_set(SAO_EINVAL, "%s: '%s' is not an integer", name, v);
    *out = value;
    return 0;
}

int sao_config_get_double(const char *name, double *out)
{
    const char *v = sao_config_get(name);
    double value;
    if (sao_parse_double(v, strlen(v), &value) != 0)
        return sao_error_set(SAO_EINVAL, "%s: '%s' is not a number", name, v);
    *out = value;
    return 0;
}

int sao_config_get_bool(const char *name, int *out)
{
    const char *v = sao_config_get(name);
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off", ""};
    for (size_t i = 0; i < SAO_ARRAY_LEN(yes); i++)
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
    for (size_t i = 0; i < SAO_ARRAY_LEN(no); i++)
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    return sao_error_set(SAO_EINVAL, "%s: '%s' is not a boolean (true/false)", name, v);
}

static const char *type_name(sao_config_type t)
{
    switch (t) {
    case SAO_CONFIG_STRING:
        return "string";
    case SAO_CONFIG_INT:
        return "int";
    case SAO_CONFIG_DOUBLE:
        return "number";
    case SAO_CONFIG_BOOL:
        return "bool";
    case SAO_CONFIG_SECRET:
        return "secret";
    }
    return "?";
}

void sao_config_print(FILE *out)
{
    for (size_t i = 0; i < SAO_ARRAY_LEN(entries); i++) {
        const sao_config_entry *e = &entries[i];
        const char *v = sao_config_get(e->name);
        int set = sao_config_is_set(e->name);
        if (e->type == SAO_CONFIG_SECRET) v = *v ? "********" : "(unset)";
        fprintf(out, "%s=%s\n    # %s [%s, %s; default '%s']\n", e->name, v, e->help,
                type_name(e->type), set ? "from environment" : "default",
                e->type == SAO_CONFIG_SECRET ? "" : e->default_value);
    }
}
