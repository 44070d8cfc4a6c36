/*
 * The embedded OpenAPI document against the route table: it parses, is OpenAPI 3.1, documents
 * every route (method, path parameters, summary) and nothing else, every $ref resolves, and every
 * operation lists its 4xx and 5xx answers with the Error schema.
 */
#include <ctype.h>
#include <jansson.h>

#include "api/api_int.h"
#include "test.h"

static json_t *load_document(void)
{
    json_error_t err;
    json_t *doc = json_loadb((const char *)sao_api__openapi_json, sao_api__openapi_json_len,
                             JSON_REJECT_DUPLICATES, &err);
    if (!doc) fprintf(stderr, "openapi.json: line %d: %s\n", err.line, err.text);
    ASSERT_TRUE(doc != NULL);
    return doc;
}

/* Follows a local "$ref" ("#/components/...") to what it names; NULL when it names nothing. */
static json_t *resolve(json_t *doc, json_t *node)
{
    for (int depth = 0; node && depth < 16; depth++) {
        json_t *ref = json_object_get(node, "$ref");
        if (!json_is_string(ref)) return node;
        const char *path = json_string_value(ref);
        if (strncmp(path, "#/", 2) != 0) return NULL;
        json_t *at = doc;
        char part[256];
        for (const char *p = path + 2; at && *p;) {
            const char *slash = strchr(p, '/');
            size_t len = slash ? (size_t)(slash - p) : strlen(p);
            if (len >= sizeof(part)) return NULL;
            memcpy(part, p, len);
            part[len] = '\0';
            at = json_object_get(at, part);
            p = slash ? slash + 1 : p + len;
        }
        node = at;
    }
    return node;
}

static void lower(char *out, size_t size, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < size; i++) out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = '\0';
}

static json_t *operation_of(json_t *doc, const sao_api_route *route)
{
    json_t *path = json_object_get(json_object_get(doc, "paths"), route->pattern);
    char method[16];
    lower(method, sizeof(method), route->method);
    return json_object_get(path, method);
}

static void test_document_parses_as_openapi_3_1(void)
{
    json_t *doc = load_document();
    ASSERT_EQ(strlen((const char *)sao_api__openapi_json), sao_api__openapi_json_len);
    const char *version = json_string_value(json_object_get(doc, "openapi"));
    ASSERT_TRUE(version != NULL);
    ASSERT_TRUE(strncmp(version, "3.1.", 4) == 0);
    json_t *info = json_object_get(doc, "info");
    ASSERT_TRUE(json_is_string(json_object_get(info, "title")));
    ASSERT_TRUE(json_is_string(json_object_get(info, "version")));
    ASSERT_TRUE(json_is_object(json_object_get(doc, "paths")));
    ASSERT_TRUE(json_is_object(json_object_get(json_object_get(doc, "components"), "schemas")));
    json_decref(doc);
}

/* Every "$ref" anywhere in the document names something that exists. */
static void check_refs(json_t *doc, json_t *node, const char *where)
{
    if (json_is_object(node)) {
        json_t *ref = json_object_get(node, "$ref");
        if (ref) {
            if (!resolve(doc, node)) fprintf(stderr, "dangling $ref at %s\n", where);
            ASSERT_TRUE(resolve(doc, node) != NULL);
        }
        const char *key;
        json_t *value;
        json_object_foreach(node, key, value) check_refs(doc, value, key);
    } else if (json_is_array(node)) {
        size_t i;
        json_t *value;
        json_array_foreach(node, i, value) check_refs(doc, value, where);
    }
}

static void test_every_ref_resolves(void)
{
    json_t *doc = load_document();
    check_refs(doc, doc, "(root)");
    json_decref(doc);
}

static void test_every_route_is_documented_with_its_summary(void)
{
    json_t *doc = load_document();
    ASSERT_TRUE(sao_api__route_count > 0);
    for (size_t i = 0; i < sao_api__route_count; i++) {
        const sao_api_route *route = &sao_api__routes[i];
        json_t *op = operation_of(doc, route);
        if (!op) fprintf(stderr, "not documented: %s %s\n", route->method, route->pattern);
        ASSERT_TRUE(op != NULL);
        ASSERT_TRUE(route->summary != NULL);
        ASSERT_STREQ(json_string_value(json_object_get(op, "summary")), route->summary);
        ASSERT_TRUE(json_is_string(json_object_get(op, "operationId")));
    }
    json_decref(doc);
}

/* Nothing is documented that the server does not route. */
static void test_no_undocumented_operation_in_the_document(void)
{
    static const char *const methods[] = {"get",   "put",  "post",    "delete",
                                          "patch", "head", "options", "trace"};
    json_t *doc = load_document();
    const char *pattern;
    json_t *item;
    size_t operations = 0;
    json_object_foreach(json_object_get(doc, "paths"), pattern, item)
    {
        for (size_t m = 0; m < SAO_ARRAY_LEN(methods); m++) {
            if (!json_object_get(item, methods[m])) continue;
            operations++;
            int routed = 0;
            for (size_t i = 0; i < sao_api__route_count && !routed; i++) {
                char method[16];
                lower(method, sizeof(method), sao_api__routes[i].method);
                routed = strcmp(sao_api__routes[i].pattern, pattern) == 0 &&
                         strcmp(method, methods[m]) == 0;
            }
            if (!routed) fprintf(stderr, "documented but not routed: %s %s\n", methods[m], pattern);
            ASSERT_TRUE(routed);
        }
    }
    ASSERT_EQ(operations, sao_api__route_count);
    json_decref(doc);
}

/* The declared path parameters of an operation (its own and its path item's), resolved. */
static json_t *path_parameter(json_t *doc, json_t *path_item, json_t *op, const char *name)
{
    json_t *lists[2] = {json_object_get(op, "parameters"),
                        json_object_get(path_item, "parameters")};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *p;
        json_array_foreach(lists[l], i, p)
        {
            json_t *param = resolve(doc, p);
            ASSERT_TRUE(param != NULL);
            const char *in = json_string_value(json_object_get(param, "in"));
            const char *pname = json_string_value(json_object_get(param, "name"));
            if (in && pname && strcmp(in, "path") == 0 && strcmp(pname, name) == 0) return param;
        }
    }
    return NULL;
}

static void test_path_parameters_are_declared(void)
{
    json_t *doc = load_document();
    for (size_t i = 0; i < sao_api__route_count; i++) {
        const sao_api_route *route = &sao_api__routes[i];
        json_t *item = json_object_get(json_object_get(doc, "paths"), route->pattern);
        json_t *op = operation_of(doc, route);
        ASSERT_TRUE(op != NULL);
        size_t in_pattern = 0;
        for (const char *p = strchr(route->pattern, '{'); p; p = strchr(p + 1, '{')) {
            const char *end = strchr(p, '}');
            ASSERT_TRUE(end != NULL);
            char name[64];
            size_t len = (size_t)(end - p - 1);
            ASSERT_TRUE(len > 0 && len < sizeof(name));
            memcpy(name, p + 1, len);
            name[len] = '\0';
            json_t *param = path_parameter(doc, item, op, name);
            if (!param)
                fprintf(stderr, "%s %s: {%s} not declared\n", route->method, route->pattern, name);
            ASSERT_TRUE(param != NULL);
            ASSERT_TRUE(json_is_true(json_object_get(param, "required")));
            ASSERT_TRUE(json_is_object(json_object_get(param, "schema")));
            in_pattern++;
        }
        /* And no path parameter is declared that the pattern lacks. */
        size_t declared = 0;
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(op, "parameters"), k, p)
        {
            json_t *param = resolve(doc, p);
            const char *in = json_string_value(json_object_get(param, "in"));
            if (in && strcmp(in, "path") == 0) declared++;
        }
        ASSERT_EQ(declared, in_pattern);
    }
    json_decref(doc);
}

/* Whether a schema is the Error schema, or an allOf holding it. */
static int uses_error_schema(json_t *schema)
{
    const char *ref = json_string_value(json_object_get(schema, "$ref"));
    if (ref && strcmp(ref, "#/components/schemas/Error") == 0) return 1;
    size_t i;
    json_t *part;
    json_array_foreach(json_object_get(schema, "allOf"), i, part)
    {
        if (uses_error_schema(part)) return 1;
    }
    return 0;
}

static void test_every_operation_lists_errors_with_the_error_schema(void)
{
    json_t *doc = load_document();
    for (size_t i = 0; i < sao_api__route_count; i++) {
        const sao_api_route *route = &sao_api__routes[i];
        json_t *op = operation_of(doc, route);
        json_t *responses = json_object_get(op, "responses");
        ASSERT_TRUE(json_is_object(responses));
        int has_4xx = 0, has_5xx = 0, has_2xx = 0;
        const char *status;
        json_t *response;
        json_object_foreach(responses, status, response)
        {
            ASSERT_TRUE(strlen(status) == 3);
            json_t *resolved = resolve(doc, response);
            ASSERT_TRUE(resolved != NULL);
            ASSERT_TRUE(json_is_string(json_object_get(resolved, "description")));
            if (status[0] == '2') has_2xx = 1;
            if (status[0] != '4' && status[0] != '5') continue;
            if (status[0] == '4') has_4xx = 1;
            if (status[0] == '5') has_5xx = 1;
            json_t *schema = json_object_get(
                json_object_get(json_object_get(resolved, "content"), "application/json"),
                "schema");
            if (!uses_error_schema(schema))
                fprintf(stderr, "%s %s: %s does not use the Error schema\n", route->method,
                        route->pattern, status);
            ASSERT_TRUE(uses_error_schema(schema));
        }
        if (!has_4xx || !has_5xx || !has_2xx)
            fprintf(stderr, "%s %s: 2xx %d 4xx %d 5xx %d\n", route->method, route->pattern, has_2xx,
                    has_4xx, has_5xx);
        ASSERT_TRUE(has_2xx && has_4xx && has_5xx);
        /* The server answers 405 on every routed path. */
        ASSERT_TRUE(json_object_get(responses, "405") != NULL);
    }
    json_decref(doc);
}

static void test_error_schema_matches_the_server(void)
{
    json_t *doc = load_document();
    json_t *error =
        json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"), "Error");
    ASSERT_TRUE(error != NULL);
    json_t *inner = json_object_get(json_object_get(error, "properties"), "error");
    json_t *props = json_object_get(inner, "properties");
    ASSERT_TRUE(json_object_get(props, "code") != NULL);
    ASSERT_TRUE(json_object_get(props, "message") != NULL);
    ASSERT_TRUE(json_object_get(props, "request_id") != NULL);

    /* What the server writes validates against it: an object with error.code and message. */
    sao_api_request req = {.request_id = "abc"};
    sao_api_response res = {0};
    sao_api__error(&res, &req, 404, "not_found", "no %s", "thing");
    json_t *body = json_loadb(res.body, res.body_len, 0, NULL);
    ASSERT_TRUE(body != NULL);
    json_t *e = json_object_get(body, "error");
    ASSERT_STREQ(json_string_value(json_object_get(e, "code")), "not_found");
    ASSERT_STREQ(json_string_value(json_object_get(e, "message")), "no thing");
    ASSERT_STREQ(json_string_value(json_object_get(e, "request_id")), "abc");
    json_decref(body);
    sao_api__response_dispose(&res);
    json_decref(doc);
}

/* The training route says how it authenticates. */
static void test_train_declares_bearer_security(void)
{
    json_t *doc = load_document();
    json_t *scheme = json_object_get(
        json_object_get(json_object_get(doc, "components"), "securitySchemes"), "bearerAuth");
    ASSERT_STREQ(json_string_value(json_object_get(scheme, "scheme")), "bearer");
    json_t *op =
        json_object_get(json_object_get(json_object_get(doc, "paths"), "/api/v1/train"), "post");
    json_t *security = json_object_get(op, "security");
    ASSERT_TRUE(json_array_size(security) == 1);
    ASSERT_TRUE(json_object_get(json_array_get(security, 0), "bearerAuth") != NULL);
    json_t *body = json_object_get(op, "requestBody");
    ASSERT_TRUE(json_is_true(json_object_get(body, "required")));
    json_t *responses = json_object_get(op, "responses");
    ASSERT_TRUE(json_object_get(responses, "202") != NULL);
    ASSERT_TRUE(json_object_get(responses, "401") != NULL);
    ASSERT_TRUE(json_object_get(responses, "403") != NULL);
    ASSERT_TRUE(json_object_get(responses, "413") != NULL);
    json_decref(doc);
}

SAO_TEST_MAIN(TEST(test_document_parses_as_openapi_3_1), TEST(test_every_ref_resolves),
              TEST(test_every_route_is_documented_with_its_summary),
              TEST(test_no_undocumented_operation_in_the_document),
              TEST(test_path_parameters_are_declared),
              TEST(test_every_operation_lists_errors_with_the_error_schema),
              TEST(test_error_schema_matches_the_server), TEST(test_train_declares_bearer_security))
