/*
 * The forecast answer's JSON writer (the hottest route writes it without jansson): JSON strings
 * escaped as RFC 8259 asks, the document valid and complete, numbers that read back exactly,
 * null for what is not finite, and the model's parent and the cache flag both ways.
 */
#include <math.h>

#include "api/handlers.c"
#include "test.h"

static char *string_text(const char *s)
{
    sao_buf out;
    sao_buf_init(&out, 0);
    ASSERT_OK(sao_api__append_string(&out, s));
    size_t len;
    return sao_buf_detach(&out, &len);
}

static void test_strings(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", "\"\""},
        {"AAPL", "\"AAPL\""},
        {"a\"b\\c", "\"a\\\"b\\\\c\""},
        {"tab\there\nnl", "\"tab\\u0009here\\u000anl\""},
        {"\x01\x1f", "\"\\u0001\\u001f\""},
        {"caf\xc3\xa9 \xe2\x82\xac", "\"caf\xc3\xa9 \xe2\x82\xac\""}, /* UTF-8 kept as it is */
    };
    for (size_t i = 0; i < SAO_ARRAY_LEN(cases); i++) {
        char *got = string_text(cases[i].in);
        ASSERT_STREQ(got, cases[i].want);
        /* and a JSON reader gets the input back */
        json_error_t err;
        json_t *back = json_loads(got, JSON_DECODE_ANY, &err);
        ASSERT_TRUE(json_is_string(back));
        ASSERT_STREQ(json_string_value(back), cases[i].in);
        json_decref(back);
        sao_free(got);
    }
}

static json_t *written(const sao_forecast *fc, const char *request_id)
{
    sao_buf out;
    sao_buf_init(&out, 0);
    ASSERT_OK(forecast_json(&out, fc, request_id));
    json_error_t err;
    json_t *doc = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &err);
    if (!doc) fprintf(stderr, "%.*s\n%s\n", (int)out.len, out.data, err.text);
    ASSERT_TRUE(json_is_object(doc));
    sao_buf_dispose(&out);
    return doc;
}

static void test_forecast(void)
{
    sao_forecast fc;
    memset(&fc, 0, sizeof(fc));
    sao_strlcpy(fc.ticker, "^GSPC", sizeof(fc.ticker));
    fc.asset_class = SAO_ASSET_INDEX;
    fc.as_of_day = 19978; /* 2024-09-12 */
    fc.horizon = 3;
    fc.last_close = 5595.759765625;
    const double close[3] = {5601.123456789012, 0.1 + 0.2, 1e-300};
    for (int k = 0; k < 3; k++) {
        fc.close[k] = close[k];
        fc.day[k] = 19979 + k;
        fc.drift[k] = fc.last_close * (1 + 1e-4 * (k + 1));
    }
    fc.drift[2] = NAN;
    sao_strlcpy(fc.arch, "gru", sizeof(fc.arch));
    fc.model_version = 12;
    fc.cached = 1;

    json_t *doc = written(&fc, "req-1");
    ASSERT_STREQ(json_string_value(json_object_get(doc, "ticker")), "^GSPC");
    ASSERT_STREQ(json_string_value(json_object_get(doc, "asset_class")), "index");
    ASSERT_STREQ(json_string_value(json_object_get(doc, "as_of")), "2024-09-12");
    ASSERT_EQ(json_integer_value(json_object_get(doc, "horizon")), 3);
    json_t *pred = json_object_get(doc, "predictions");
    ASSERT_EQ(json_array_size(pred), 3);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(pred, 0), "date")), "2024-09-13");
    for (int k = 0; k < 3; k++) {
        json_t *p = json_array_get(pred, (size_t)k);
        ASSERT_TRUE(json_real_value(json_object_get(p, "close")) == close[k]); /* exactly */
        ASSERT_TRUE(json_real_value(json_object_get(p, "last_close")) == fc.last_close);
    }
    json_t *model = json_object_get(doc, "model");
    ASSERT_STREQ(json_string_value(json_object_get(model, "name")), "^GSPC/v12");
    ASSERT_EQ(json_integer_value(json_object_get(model, "version")), 12);
    ASSERT_STREQ(json_string_value(json_object_get(model, "arch")), "gru");
    ASSERT_TRUE(json_is_null(json_object_get(model, "parent")));
    json_t *drift = json_object_get(json_object_get(doc, "baselines"), "drift");
    ASSERT_TRUE(json_real_value(json_array_get(drift, 1)) == fc.drift[1]);
    ASSERT_TRUE(json_is_null(json_array_get(drift, 2))); /* not finite */
    ASSERT_EQ(json_array_size(json_object_get(json_object_get(doc, "baselines"), "persistence")),
              3);
    ASSERT_TRUE(json_is_true(json_object_get(doc, "cached")));
    ASSERT_STREQ(json_string_value(json_object_get(doc, "request_id")), "req-1");
    ASSERT_EQ(json_object_size(doc), 9);
    json_decref(doc);

    /* A child model, answered without the cache, and an id that needs escapes. */
    sao_strlcpy(fc.ticker, "AAPL", sizeof(fc.ticker));
    sao_strlcpy(fc.parent_ticker, "^GSPC", sizeof(fc.parent_ticker));
    fc.cached = 0;
    fc.horizon = 1;
    doc = written(&fc, "a\"b");
    model = json_object_get(doc, "model");
    ASSERT_STREQ(json_string_value(json_object_get(model, "parent")), "^GSPC");
    ASSERT_STREQ(json_string_value(json_object_get(model, "name")), "AAPL/v12");
    ASSERT_TRUE(json_is_false(json_object_get(doc, "cached")));
    ASSERT_STREQ(json_string_value(json_object_get(doc, "request_id")), "a\"b");
    ASSERT_EQ(json_array_size(json_object_get(doc, "predictions")), 1);
    json_decref(doc);
}

int main(void)
{
    test_strings();
    test_forecast();
    printf("forecast json: ok\n");
    return 0;
}
