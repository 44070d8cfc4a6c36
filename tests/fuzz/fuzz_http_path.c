/*
 * libFuzzer target for what `sao serve` itself parses of a request line (libmicrohttpd parses the
 * HTTP framing): the input, up to its first NUL, as a raw path. It is split into %-decoded
 * segments and routed against the real route table; whatever reaches a handler as a parameter
 * must be clean UTF-8 without '/', NUL or a "."/".." segment. The same bytes as a query value
 * (with '+' as space), echoed into a log line and into an error message, must stay valid JSON
 * text and clean UTF-8.
 */
#include <jansson.h>

#include "api/server.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static compiled_route *routes;

static void compile_routes_once(void)
{
    if (routes) return;
    routes = sao_calloc(sao_api__route_count, sizeof(*routes));
    for (size_t i = 0; i < sao_api__route_count; i++)
        compile_route(&routes[i], &sao_api__routes[i]);
}

static void check_path(const char *path, sao_arena *arena)
{
    path_parts parts;
    const char *why = NULL;
    if (path_split(&parts, arena, path, &why) != 0) {
        SAO_ASSERT(why && *why);
        return;
    }
    SAO_ASSERT(parts.count >= 1 && parts.count <= PATH_SEGMENTS_MAX);
    for (size_t i = 0; i < parts.count; i++) {
        const char *s = parts.segment[i];
        size_t len = parts.len[i];
        SAO_ASSERT(s[len] == '\0' && memchr(s, '\0', len) == NULL && memchr(s, '/', len) == NULL);
        SAO_ASSERT(!(len == 1 && s[0] == '.') && !(len == 2 && s[0] == '.' && s[1] == '.'));
        SAO_ASSERT(is_clean_text(s, len));
    }
    for (size_t r = 0; r < sao_api__route_count; r++) {
        const char *params[SAO_API_PARAMS_MAX];
        size_t count = 0;
        if (!route_matches(&routes[r], &parts, arena, params, &count)) continue;
        SAO_ASSERT(count == routes[r].param_count);
        for (size_t p = 0; p < count; p++) {
            SAO_ASSERT(is_clean_text(params[p], strlen(params[p])));
            /* Only a prefix route's rest may hold '/', and never a "." or ".." part. */
            if (!routes[r].prefix || p + 1 < count) SAO_ASSERT(!strchr(params[p], '/'));
        }
    }
}

static void check_query_value(const char *raw, size_t raw_len, sao_arena *arena)
{
    char *value = sao_arena_alloc(arena, raw_len + 1);
    long len = percent_decode(value, raw, raw_len, 1);
    if (len < 0) return;
    SAO_ASSERT((size_t)len <= raw_len && value[len] == '\0');
    /* The access log's escape: always a valid JSON string body. */
    char escaped[512];
    log_escape(escaped, sizeof(escaped), value, 200);
    char quoted[520];
    snprintf(quoted, sizeof(quoted), "\"%s\"", escaped);
    json_error_t err;
    json_t *back = json_loads(quoted, JSON_DECODE_ANY, &err);
    SAO_ASSERT(json_is_string(back));
    json_decref(back);
    /* An error message's echo: clean text after sanitizing. */
    sanitize_text(value);
    SAO_ASSERT(is_clean_text(value, strlen(value)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    compile_routes_once();
    if (size > 4096) return 0;
    char *text = sao_malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    sao_arena *arena = sao_arena_new(16 * 1024);
    check_path(text, arena);
    check_query_value(text, strlen(text), arena);
    sao_arena_free(arena);
    sao_free(text);
    return 0;
}
