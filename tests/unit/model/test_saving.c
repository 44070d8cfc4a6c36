/*
 * Tests of the safetensors writer and loader: round trips through memory and disk, the byte
 * layout, and a clear error (never a crash) for every kind of damaged or mismatched file.
 */
#include "test.h"

#include "model/model_int.h"

static sao_model *make_model(sao_model_arch arch, int input_size, int hidden, int layers,
                             int horizon)
{
    sao_model_config cfg;
    sao_model_config_init(&cfg);
    cfg.arch = arch;
    cfg.input_size = input_size;
    cfg.hidden_size = hidden;
    cfg.num_layers = layers;
    cfg.horizon = horizon;
    cfg.seed = 1234567890123ULL;
    sao_model *m = NULL;
    ASSERT_OK(sao_model_new(&m, &cfg));
    return m;
}

static void assert_same_model(sao_model *a, sao_model *b)
{
    const sao_model_config *ca = sao_model_get_config(a), *cb = sao_model_get_config(b);
    ASSERT_EQ(ca->arch, cb->arch);
    ASSERT_EQ(ca->input_size, cb->input_size);
    ASSERT_EQ(ca->hidden_size, cb->hidden_size);
    ASSERT_EQ(ca->num_layers, cb->num_layers);
    ASSERT_EQ(ca->horizon, cb->horizon);
    ASSERT_TRUE(ca->dropout == cb->dropout);
    ASSERT_TRUE(ca->seed == cb->seed);
    size_t na, nb;
    float *wa = sao_model_weights(a, &na), *wb = sao_model_weights(b, &nb);
    ASSERT_EQ(na, nb);
    ASSERT_TRUE(memcmp(wa, wb, na * sizeof(float)) == 0);
}

static void test_round_trip_memory(void)
{
    for (int arch = 0; arch < 2; arch++) {
        sao_model *m = make_model((sao_model_arch)arch, 5, 6, 3, 4);
        char *bytes;
        size_t len;
        ASSERT_OK(sao_model_to_safetensors(&bytes, &len, m));
        /* Layout: u64le header length, a space-padded JSON header, aligned data. */
        uint64_t header_len = 0;
        for (int i = 0; i < 8; i++) header_len |= (uint64_t)(unsigned char)bytes[i] << (8 * i);
        ASSERT_EQ(header_len % 8, 0);
        size_t weights;
        sao_model_weights(m, &weights);
        ASSERT_EQ(len, 8 + header_len + weights * 4);
        ASSERT_EQ(bytes[8], '{');
        char *header = sao_strndup(bytes + 8, (size_t)header_len);
        ASSERT_CONTAINS(header, arch ? "\"gru.weight_hh_l2\"" : "\"lstm.weight_hh_l2\"");
        ASSERT_CONTAINS(header, "\"dtype\":\"F32\",\"shape\":[4,6]");
        ASSERT_CONTAINS(header, "\"seed\":\"1234567890123\"");
        sao_free(header);

        sao_model *back = NULL;
        ASSERT_OK(sao_model_from_safetensors(&back, bytes, len));
        assert_same_model(m, back);
        sao_model_free(back);
        sao_free(bytes);
        sao_model_free(m);
    }
}

static void test_round_trip_file(void)
{
    sao_model_set_threads(1);
    ASSERT_OK(sao_mkdir_p(SAO_TEST_TMPDIR));
    char path[4096];
    snprintf(path, sizeof(path), "%s/model_test.safetensors", SAO_TEST_TMPDIR);
    sao_model *m = make_model(SAO_MODEL_GRU, 3, 8, 2, 5);
    ASSERT_OK(sao_model_save(m, path));
    sao_model *back = NULL;
    ASSERT_OK(sao_model_load(&back, path));
    assert_same_model(m, back);
    float x[2 * 4 * 3], ya[2 * 5], yb[2 * 5];
    for (size_t i = 0; i < SAO_ARRAY_LEN(x); i++) x[i] = (float)i / 24.0f - 0.5f;
    ASSERT_OK(sao_model_forward(m, ya, x, 2, 4, 0));
    ASSERT_OK(sao_model_forward(back, yb, x, 2, 4, 0));
    ASSERT_TRUE(memcmp(ya, yb, sizeof(ya)) == 0);
    sao_model_free(back);
    sao_model_free(m);

    back = NULL;
    snprintf(path, sizeof(path), "%s/no_such_model.safetensors", SAO_TEST_TMPDIR);
    ASSERT_TRUE(sao_model_load(&back, path) != 0);
    ASSERT_TRUE(back == NULL);
}

/* A file for the smallest LSTM (1 input, 1 unit, 1 layer, horizon 1: tensors of 4, 4, 4, 4, 1
 * and 1 floats) from a header with the given tensor entries, and `data_len` bytes of 0.5f. */
static char *craft(size_t *len, const char *arch, const char *tensors, size_t data_len)
{
    sao_buf header;
    sao_buf_init(&header, 0);
    ASSERT_OK(sao_buf_appendf(&header,
                              "{\"__metadata__\":{\"arch\":\"%s\",\"input_size\":\"1\","
                              "\"hidden_size\":\"1\",\"num_layers\":\"1\",\"horizon\":\"1\","
                              "\"dropout\":\"0\",\"seed\":\"1\"}%s}",
                              arch, tensors));
    *len = 8 + header.len + data_len;
    unsigned char *bytes = sao_malloc(*len);
    for (int i = 0; i < 8; i++) bytes[i] = (unsigned char)((uint64_t)header.len >> (8 * i));
    memcpy(bytes + 8, header.data, header.len);
    const float half = 0.5f;
    for (size_t i = 0; i + 4 <= data_len; i += 4) memcpy(bytes + 8 + header.len + i, &half, 4);
    for (size_t i = data_len - data_len % 4; i < data_len; i++) bytes[8 + header.len + i] = 0;
    sao_buf_dispose(&header);
    return (char *)bytes;
}

#define T(name, dtype, shape, begin, end)                                                          \
    ",\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #begin         \
    "," #end "]}"
#define GOOD_RECURRENT                                                                             \
    T("lstm.weight_ih_l0", "F32", "[4,1]", 0, 16)                                                  \
    T("lstm.weight_hh_l0", "F32", "[4,1]", 16, 32)                                                 \
    T("lstm.bias_ih_l0", "F32", "[4]", 32, 48) T("lstm.bias_hh_l0", "F32", "[4]", 48, 64)
#define GOOD_HEAD T("head.weight", "F32", "[1,1]", 64, 68) T("head.bias", "F32", "[1]", 68, 72)

static void expect_load(int code, const char *message, const char *arch, const char *tensors,
                        size_t data_len)
{
    size_t len;
    char *bytes = craft(&len, arch, tensors, data_len);
    sao_model *m = NULL;
    int rc = sao_model_from_safetensors(&m, bytes, len);
    if (rc != code) fprintf(stderr, "tensors: %s\n", tensors);
    ASSERT_EQ(rc, code);
    if (code == 0) {
        ASSERT_TRUE(m != NULL);
        ASSERT_TRUE(sao_model_weights(m, NULL)[0] == 0.5f);
        sao_model_free(m);
    } else {
        ASSERT_TRUE(m == NULL);
        ASSERT_CONTAINS(sao_error_last(), message);
    }
    sao_free(bytes);
}

static void test_crafted_files(void)
{
    /* The reference: a valid file, in any tensor order. */
    expect_load(0, "", "lstm", GOOD_RECURRENT GOOD_HEAD, 72);
    expect_load(0, "", "lstm", GOOD_HEAD GOOD_RECURRENT, 72);

    expect_load(SAO_ECORRUPT, "shape [1, 1]", "lstm",
                GOOD_RECURRENT T("head.weight", "F32", "[1]", 64, 68)
                    T("head.bias", "F32", "[1]", 68, 72),
                72);
    /* Shapes of a 2-unit model under metadata saying 1 unit: a mismatched file. */
    expect_load(
        SAO_ECORRUPT, "lstm.weight_ih_l0", "lstm",
        T("lstm.weight_ih_l0", "F32", "[8,1]", 0, 32) T("lstm.weight_hh_l0", "F32", "[8,2]", 32, 96)
            T("lstm.bias_ih_l0", "F32", "[8]", 96, 128) T("lstm.bias_hh_l0", "F32", "[8]", 128, 160)
                T("head.weight", "F32", "[1,2]", 160, 168) T("head.bias", "F32", "[1]", 168, 172),
        172);
    expect_load(SAO_EFORMAT, "dtype F16", "lstm",
                T("lstm.weight_ih_l0", "F16", "[4,1]", 0, 16)
                    T("lstm.weight_hh_l0", "F32", "[4,1]", 16, 32)
                        T("lstm.bias_ih_l0", "F32", "[4]", 32, 48)
                            T("lstm.bias_hh_l0", "F32", "[4]", 48, 64) GOOD_HEAD,
                72);
    expect_load(SAO_EFORMAT, "unknown architecture", "rnn", GOOD_RECURRENT GOOD_HEAD, 72);
    /* GRU metadata with LSTM tensors. */
    expect_load(SAO_ECORRUPT, "unexpected tensor", "gru", GOOD_RECURRENT GOOD_HEAD, 72);
    /* Overlapping: head.weight reuses bytes of bias_hh. */
    expect_load(SAO_ECORRUPT, "overlapping", "lstm",
                GOOD_RECURRENT T("head.weight", "F32", "[1,1]", 60, 64)
                    T("head.bias", "F32", "[1]", 68, 72),
                72);
    /* A gap, trailing bytes, offsets past the end, reversed offsets, a wrong span. */
    expect_load(SAO_ECORRUPT, "overlapping or sparse", "lstm",
                GOOD_RECURRENT T("head.weight", "F32", "[1,1]", 68, 72)
                    T("head.bias", "F32", "[1]", 72, 76),
                76);
    expect_load(SAO_ECORRUPT, "the tensors cover 72", "lstm", GOOD_RECURRENT GOOD_HEAD, 80);
    expect_load(SAO_ECORRUPT, "outside the 72 data bytes", "lstm",
                GOOD_RECURRENT T("head.weight", "F32", "[1,1]", 64, 68)
                    T("head.bias", "F32", "[1]", 72, 76),
                72);
    expect_load(SAO_ECORRUPT, "outside the 72 data bytes", "lstm",
                GOOD_RECURRENT T("head.weight", "F32", "[1,1]", 68, 64)
                    T("head.bias", "F32", "[1]", 68, 72),
                72);
    expect_load(SAO_ECORRUPT, "outside the 68 data bytes", "lstm", GOOD_RECURRENT GOOD_HEAD, 68);
    expect_load(SAO_ECORRUPT, "spans 8 bytes", "lstm",
                GOOD_RECURRENT T("head.weight", "F32", "[1,1]", 64, 72)
                    T("head.bias", "F32", "[1]", 72, 76),
                76);
    expect_load(SAO_ECORRUPT, "outside", "lstm",
                GOOD_RECURRENT T("head.weight", "F32", "[1,1]", -4, 0)
                    T("head.bias", "F32", "[1]", 68, 72),
                72);
    /* Missing and extra tensors. */
    expect_load(SAO_ECORRUPT, "5 tensors, the model needs 6", "lstm",
                GOOD_RECURRENT T("head.weight", "F32", "[1,1]", 64, 68), 68);
    expect_load(SAO_ECORRUPT, "unexpected tensor \"lstm.weight_ih_l1\"", "lstm",
                GOOD_RECURRENT GOOD_HEAD T("lstm.weight_ih_l1", "F32", "[4,1]", 72, 88), 88);
    /* Duplicate keys are a JSON error. */
    expect_load(SAO_ECORRUPT, "not valid JSON", "lstm",
                GOOD_RECURRENT GOOD_HEAD T("head.bias", "F32", "[1]", 68, 72), 72);
    expect_load(SAO_ECORRUPT, "not an object", "lstm",
                GOOD_RECURRENT T("head.weight", "F32", "[1,1]", 64, 68) ",\"head.bias\":3", 72);
}

static void test_corrupt_bytes(void)
{
    sao_model *m = make_model(SAO_MODEL_LSTM, 2, 3, 2, 2);
    char *good;
    size_t len;
    ASSERT_OK(sao_model_to_safetensors(&good, &len, m));
    sao_model_free(m);
    char *copy = sao_malloc(len);
    sao_model *out = NULL;

    /* Every truncation is an error (each allocated at its exact size for the sanitizer). */
    for (size_t cut = 0; cut < len; cut++) {
        char *part = sao_malloc(cut ? cut : 1);
        memcpy(part, good, cut);
        ASSERT_TRUE(sao_model_from_safetensors(&out, part, cut) != 0);
        ASSERT_TRUE(out == NULL);
        sao_free(part);
    }

    /* Bad JSON. */
    memcpy(copy, good, len);
    copy[8] = '[';
    ASSERT_EQ(sao_model_from_safetensors(&out, copy, len), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "JSON");

    /* Huge header length, and one just past the end of the file. */
    memcpy(copy, good, len);
    for (int i = 0; i < 8; i++) copy[i] = (char)0xff;
    ASSERT_EQ(sao_model_from_safetensors(&out, copy, len), SAO_ETOOBIG);
    memcpy(copy, good, len);
    uint64_t past = (uint64_t)len - 7;
    for (int i = 0; i < 8; i++) copy[i] = (char)(past >> (8 * i));
    ASSERT_EQ(sao_model_from_safetensors(&out, copy, len), SAO_ECORRUPT);

    /* A NaN weight. */
    memcpy(copy, good, len);
    const float nan_value = NAN;
    memcpy(copy + len - 4, &nan_value, 4);
    ASSERT_EQ(sao_model_from_safetensors(&out, copy, len), SAO_ECORRUPT);
    ASSERT_CONTAINS(sao_error_last(), "head.bias");

    /* Every single-byte change of the header either loads a valid model or fails cleanly. */
    uint64_t header_len = 0;
    for (int i = 0; i < 8; i++) header_len |= (uint64_t)(unsigned char)good[i] << (8 * i);
    for (size_t pos = 8; pos < 8 + header_len; pos++) {
        memcpy(copy, good, len);
        copy[pos] = (char)(copy[pos] ^ 0x5a);
        if (sao_model_from_safetensors(&out, copy, len) == 0) {
            sao_model_free(out);
            out = NULL;
        }
    }
    sao_free(copy);
    sao_free(good);
}

SAO_TEST_MAIN(TEST(test_round_trip_memory), TEST(test_round_trip_file), TEST(test_crafted_files),
              TEST(test_corrupt_bytes))
