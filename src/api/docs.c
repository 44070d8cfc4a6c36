/*
 * The API's self-description: /openapi.json (the document embedded at build time) and /docs, a
 * Swagger UI page whose assets come from the npm package swagger-ui-dist installed on this
 * machine (SAO_DOCS_DIR), never from a CDN. Only a fixed list of asset files is served.
 */
#include "api/api_int.h"

#include <stdint.h>
#include <string.h>

#define ASSET_MAX_BYTES ((size_t)16 * 1024 * 1024)
/* The assets belong to a pinned package version: caches may keep them a day. */
#define ASSET_CACHE_CONTROL "public, max-age=86400"
#define HTML_TYPE "text/html; charset=utf-8"
#define JS_TYPE "text/javascript; charset=utf-8"
/* Swagger UI styles elements inline and draws icons from data: URIs; nothing else is needed. */
#define DOCS_CSP                                                                                   \
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "                    \
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"

typedef struct asset {
    const char *name;
    const char *content_type;
    int required; /* the page cannot work without it */
} asset;

static const asset assets[] = {
    {"swagger-ui.css", "text/css; charset=utf-8", 1},
    {"swagger-ui-bundle.js", JS_TYPE, 1},
    {"swagger-ui-standalone-preset.js", JS_TYPE, 1},
    {"favicon-32x32.png", "image/png", 0},
    {"favicon-16x16.png", "image/png", 0},
};
#define ASSET_COUNT (sizeof(assets) / sizeof(assets[0]))

static const char page[] =
    "<!doctype html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "  <meta charset=\"utf-8\">\n"
    "  <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "  <title>stock-agent-ops API</title>\n"
    "  <link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\">\n"
    "  <link rel=\"icon\" type=\"image/png\" href=\"/docs/favicon-32x32.png\" sizes=\"32x32\">\n"
    "</head>\n"
    "<body>\n"
    "  <div id=\"swagger-ui\"></div>\n"
    "  <script src=\"/docs/swagger-ui-bundle.js\"></script>\n"
    "  <script src=\"/docs/swagger-ui-standalone-preset.js\"></script>\n"
    "  <script src=\"/docs/sao-docs.js\"></script>\n"
    "</body>\n"
    "</html>\n";

/* In a file of its own rather than inline, so the page's CSP can forbid inline scripts.
 * validatorUrl null: the UI would otherwise send the document to an outside validator. */
static const char init_js[] =
    "window.addEventListener('load', function () {\n"
    "  window.ui = SwaggerUIBundle({\n"
    "    url: '/openapi.json',\n"
    "    dom_id: '#swagger-ui',\n"
    "    deepLinking: true,\n"
    "    validatorUrl: null,\n"
    "    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],\n"
    "    layout: 'StandaloneLayout'\n"
    "  });\n"
    "});\n";

struct sao_api_docs {
    char *dir;
    pthread_mutex_t lock;
    char *data[ASSET_COUNT]; /* read on first use and kept until the server stops */
    size_t len[ASSET_COUNT];
    char etag[ASSET_COUNT][24];
    int warned;
};

/* A strong validator of the bytes: FNV-1a 64, quoted. */
static void make_etag(char *out, size_t size, const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * UINT64_C(1099511628211);
    snprintf(out, size, "\"%016llx\"", (unsigned long long)h);
}

/* Whether If-None-Match names this ETag (a list, or "*"). */
static int not_modified(const sao_api_request *req, const char *etag)
{
    const char *inm = sao_api__header(req, "If-None-Match");
    return inm && (strstr(inm, etag) || strcmp(inm, "*") == 0);
}

sao_api_docs *sao_api__docs_new(const char *dir)
{
    sao_api_docs *docs = sao_calloc(1, sizeof(*docs));
    docs->dir = sao_strdup(dir ? dir : "");
    pthread_mutex_init(&docs->lock, NULL);
    return docs;
}

void sao_api__docs_free(sao_api_docs *docs)
{
    if (!docs) return;
    for (size_t i = 0; i < ASSET_COUNT; i++) sao_free(docs->data[i]);
    pthread_mutex_destroy(&docs->lock);
    sao_free(docs->dir);
    sao_free(docs);
}

/* The asset's bytes, read on first use; 0, or -1 when the file cannot be read. */
static int asset_load(sao_api_docs *docs, size_t index)
{
    int rc = 0;
    pthread_mutex_lock(&docs->lock);
    if (!docs->data[index]) {
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s", docs->dir, assets[index].name);
        char *data = NULL;
        size_t len = 0;
        if (sao_file_read(&data, &len, path, ASSET_MAX_BYTES) == 0) {
            docs->data[index] = data;
            docs->len[index] = len;
            make_etag(docs->etag[index], sizeof(docs->etag[index]), data, len);
        } else {
            if (!docs->warned) sao_log(SAO_LOG_WARN, "api", "/docs: %s", sao_error_last());
            docs->warned = 1;
            rc = -1;
        }
    }
    pthread_mutex_unlock(&docs->lock);
    return rc;
}

static void not_installed(sao_api_response *res, const sao_api_request *req)
{
    sao_api__error(res, req, 503, "docs_not_installed",
                   "the API explorer's assets (npm package swagger-ui-dist) are not installed: "
                   "run scripts/fetch_web_assets.sh, or set SAO_DOCS_DIR to a swagger-ui-dist "
                   "folder; the document itself is at /openapi.json");
}

static char openapi_etag[24];
static pthread_once_t openapi_once = PTHREAD_ONCE_INIT;

static void openapi_etag_compute(void)
{
    make_etag(openapi_etag, sizeof(openapi_etag), sao_api__openapi_json, sao_api__openapi_json_len);
}

void sao_api__handle_openapi(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    pthread_once(&openapi_once, openapi_etag_compute);
    sao_api__header_add(res, "ETag", openapi_etag);
    /* Revalidated on every use: a new binary may bring a new document. */
    sao_api__header_add(res, "Cache-Control", "no-cache");
    if (not_modified(req, openapi_etag)) {
        res->status = 304;
        return;
    }
    sao_api__static(res, 200, "application/json", sao_api__openapi_json, sao_api__openapi_json_len);
}

void sao_api__handle_docs(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api *api = ctx;
    for (size_t i = 0; i < ASSET_COUNT; i++) {
        if (assets[i].required && asset_load(api->docs, i) != 0) {
            not_installed(res, req);
            return;
        }
    }
    sao_api__static(res, 200, HTML_TYPE, page, sizeof(page) - 1);
    sao_api__header_add(res, "Cache-Control", "no-cache");
    sao_api__header_add(res, "Content-Security-Policy", DOCS_CSP);
    sao_api__header_add(res, "X-Frame-Options", "DENY");
    sao_api__header_add(res, "Referrer-Policy", "no-referrer");
}

void sao_api__handle_docs_asset(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api *api = ctx;
    const char *name = req->param_count ? req->params[0] : "";
    if (strcmp(name, "sao-docs.js") == 0) {
        sao_api__static(res, 200, JS_TYPE, init_js, sizeof(init_js) - 1);
        sao_api__header_add(res, "Cache-Control", "no-cache");
        return;
    }
    /* Only names on the list are ever joined to the folder: nothing a client sends reaches the
     * file system. */
    size_t index = ASSET_COUNT;
    for (size_t i = 0; i < ASSET_COUNT && index == ASSET_COUNT; i++)
        if (strcmp(name, assets[i].name) == 0) index = i;
    if (index == ASSET_COUNT) {
        sao_api__error(res, req, 404, "not_found", "no such asset of the API explorer");
        return;
    }
    sao_api_docs *docs = api->docs;
    if (asset_load(docs, index) != 0) {
        not_installed(res, req);
        return;
    }
    /* The bytes stay in memory until the server has stopped, so they go out without a copy. */
    sao_api__header_add(res, "ETag", docs->etag[index]);
    sao_api__header_add(res, "Cache-Control", ASSET_CACHE_CONTROL);
    if (not_modified(req, docs->etag[index])) {
        res->status = 304;
        return;
    }
    sao_api__static(res, 200, assets[index].content_type, docs->data[index], docs->len[index]);
}
