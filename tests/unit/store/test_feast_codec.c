/*
 * Unit tests for Feast's encodings: every vector of feast/vectors.txt (entity keys, field hashes,
 * Value and Timestamp protobufs, a redis-cli HSET line), round trips, hostile bytes, and Feast's
 * Redis connection strings.
 */
#include <ctype.h>
#include <errno.h>

#include "store/store.h"
#include "test.h"

/* ---- helpers ---- */

static size_t hex_decode(uint8_t *out, size_t cap, const char *hex, size_t len)
{
    ASSERT_EQ(len % 2, 0);
    ASSERT_TRUE(len / 2 <= cap);
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        char two[3] = {hex[2 * i], hex[2 * i + 1], 0};
        ASSERT_TRUE(isxdigit((unsigned char)two[0]) && isxdigit((unsigned char)two[1]));
        ASSERT_EQ(sscanf(two, "%x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return len / 2;
}

#define ASSERT_BYTES(got, got_len, want, want_len)                                                 \
    do {                                                                                           \
        size_t gl_ = (got_len), wl_ = (want_len);                                                  \
        if (gl_ != wl_ || memcmp((got), (want), gl_) != 0) {                                       \
            fprintf(stderr, "%s:%d: bytes differ\n  got :", __FILE__, __LINE__);                   \
            for (size_t k_ = 0; k_ < gl_; k_++)                                                    \
                fprintf(stderr, "%02x", ((const uint8_t *)(got))[k_]);                             \
            fprintf(stderr, "\n  want:");                                                          \
            for (size_t k_ = 0; k_ < wl_; k_++)                                                    \
                fprintf(stderr, "%02x", ((const uint8_t *)(want))[k_]);                            \
            fprintf(stderr, "\n");                                                                 \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static sao_feast_value make_double(double d)
{
    sao_feast_value v = {.type = SAO_FEAST_DOUBLE};
    v.as.f64 = d;
    return v;
}

static sao_feast_value make_int64(int64_t i)
{
    sao_feast_value v = {.type = SAO_FEAST_INT64};
    v.as.i64 = i;
    return v;
}

static sao_feast_value make_string(const char *s)
{
    sao_feast_value v = {.type = SAO_FEAST_STRING};
    v.as.str.data = s;
    v.as.str.len = strlen(s);
    return v;
}

/* Encodes, checks the bytes when `want` is given, decodes and returns the decoded value. */
static sao_feast_value round_trip(const sao_feast_value *v, sao_arena *arena)
{
    sao_buf b;
    sao_buf_init(&b, 0);
    ASSERT_OK(sao_feast_encode_value(&b, v));
    sao_feast_value out;
    memset(&out, 0xab, sizeof(out));
    ASSERT_OK(sao_feast_decode_value(&out, b.data, b.len, arena));
    ASSERT_EQ(out.type, v->type);
    sao_buf_dispose(&b);
    return out;
}

/* The key every Feast vector uses: driver_id = 1001 (int64) in project my_project. */
static void driver_key(sao_buf *b, int version)
{
    const char *keys[] = {"driver_id"};
    sao_feast_value vals[] = {make_int64(1001)};
    ASSERT_OK(sao_feast_serialize_entity_key(b, keys, vals, 1, version));
    ASSERT_OK(sao_buf_append(b, "my_project", 10));
}

/* Parses a redis-cli argument: "\x61\x60..." or plain characters, in double quotes. */
static size_t parse_cli_arg(uint8_t *out, size_t cap, const char **p)
{
    while (**p == ' ') (*p)++;
    ASSERT_EQ(**p, '"');
    (*p)++;
    size_t n = 0;
    while (**p && **p != '"') {
        ASSERT_TRUE(n < cap);
        if ((*p)[0] == '\\' && (*p)[1] == 'x') {
            n += hex_decode(out + n, cap - n, *p + 2, 2);
            *p += 4;
        } else {
            out[n++] = (uint8_t) * (*p)++;
        }
    }
    ASSERT_EQ(**p, '"');
    (*p)++;
    return n;
}

/* ---- the shared vectors ---- */

static int check_key_line(const char *line, size_t line_len)
{
    int version = line[1] - '0';
    const char *hex = line + 8; /* "v3 key: " */
    uint8_t want[256];
    size_t want_len = hex_decode(want, sizeof(want), hex, line_len - 8);
    sao_buf b;
    sao_buf_init(&b, 0);
    driver_key(&b, version);
    ASSERT_BYTES(b.data, b.len, want, want_len);
    sao_buf_dispose(&b);
    return 1;
}

static int check_field_line(const char *line)
{
    char view[128], feature[128], hex[16];
    ASSERT_EQ(sscanf(line, "field %127[^:]:%127s -> %15s", view, feature, hex), 3);
    uint8_t want[4], got[4];
    ASSERT_EQ(hex_decode(want, 4, hex, strlen(hex)), 4);
    sao_feast_field(got, view, feature);
    ASSERT_BYTES(got, 4, want, 4);
    return 1;
}

/* "Value{double_val=0.5}: 29..." */
static int check_value_line(const char *line, sao_arena *arena)
{
    const char *eq = strchr(line, '=');
    const char *close = strstr(line, "}: ");
    ASSERT_TRUE(eq && close && eq < close);
    char field[32];
    size_t flen = (size_t)(eq - (line + 6));
    ASSERT_TRUE(flen < sizeof(field));
    memcpy(field, line + 6, flen);
    field[flen] = 0;
    char literal[64];
    size_t llen = (size_t)(close - eq - 1);
    ASSERT_TRUE(llen < sizeof(literal));
    memcpy(literal, eq + 1, llen);
    literal[llen] = 0;

    sao_feast_value v;
    memset(&v, 0, sizeof(v));
    char text[64];
    if (!strcmp(field, "float_val")) {
        v.type = SAO_FEAST_FLOAT;
        v.as.f32 = strtof(literal, NULL);
    } else if (!strcmp(field, "double_val")) {
        v.type = SAO_FEAST_DOUBLE;
        v.as.f64 = strtod(literal, NULL);
    } else if (!strcmp(field, "int64_val")) {
        v.type = SAO_FEAST_INT64;
        v.as.i64 = strtoll(literal, NULL, 10);
    } else if (!strcmp(field, "int32_val")) {
        v.type = SAO_FEAST_INT32;
        v.as.i32 = (int32_t)strtol(literal, NULL, 10);
    } else if (!strcmp(field, "string_val")) {
        ASSERT_TRUE(llen >= 2 && literal[0] == '\'' && literal[llen - 1] == '\'');
        memcpy(text, literal + 1, llen - 2);
        text[llen - 2] = 0;
        v = make_string(text);
    } else {
        fprintf(stderr, "vectors.txt: unknown Value field %s\n", field);
        exit(1);
    }

    uint8_t want[64];
    const char *hex = close + 3;
    size_t want_len = hex_decode(want, sizeof(want), hex, strlen(hex));
    sao_buf b;
    sao_buf_init(&b, 0);
    ASSERT_OK(sao_feast_encode_value(&b, &v));
    ASSERT_BYTES(b.data, b.len, want, want_len);

    sao_feast_value back;
    ASSERT_OK(sao_feast_decode_value(&back, want, want_len, arena));
    ASSERT_EQ(back.type, v.type);
    switch (v.type) {
    case SAO_FEAST_FLOAT:
        ASSERT_TRUE(back.as.f32 == v.as.f32);
        break;
    case SAO_FEAST_DOUBLE:
        ASSERT_TRUE(back.as.f64 == v.as.f64);
        break;
    case SAO_FEAST_INT64:
        ASSERT_EQ(back.as.i64, v.as.i64);
        break;
    case SAO_FEAST_INT32:
        ASSERT_EQ(back.as.i32, v.as.i32);
        break;
    default:
        ASSERT_EQ(back.as.str.len, v.as.str.len);
        ASSERT_TRUE(!memcmp(back.as.str.data, v.as.str.data, v.as.str.len));
        break;
    }
    sao_buf_dispose(&b);
    return 1;
}

static int check_timestamp_line(const char *line)
{
    long long seconds;
    int nanos;
    char hex[64];
    ASSERT_EQ(sscanf(line, "Timestamp{%lld,%d}: %63s", &seconds, &nanos, hex), 3);
    uint8_t want[32];
    size_t want_len = hex_decode(want, sizeof(want), hex, strlen(hex));
    sao_buf b;
    sao_buf_init(&b, 0);
    ASSERT_OK(sao_feast_encode_timestamp(&b, seconds, nanos));
    ASSERT_BYTES(b.data, b.len, want, want_len);
    int64_t s;
    int32_t ns;
    ASSERT_OK(sao_feast_decode_timestamp(&s, &ns, want, want_len));
    ASSERT_EQ(s, seconds);
    ASSERT_EQ(ns, nanos);
    sao_buf_dispose(&b);
    return 1;
}

/* The whole hash one Feast write produces: key, conv_rate = float 0.5, avg_daily_trips = int64
 * 308 and the view's timestamp (2022-01-01T00:00:00Z), rebuilt from our encoders. */
static int check_hset_line(const char *line)
{
    const char *p = line + strlen("redis-cli HSET");
    uint8_t arg[7][128];
    size_t len[7];
    for (int i = 0; i < 7; i++) len[i] = parse_cli_arg(arg[i], sizeof(arg[i]), &p);

    sao_buf b;
    sao_buf_init(&b, 0);
    driver_key(&b, 3);
    ASSERT_BYTES(arg[0], len[0], b.data, b.len);

    uint8_t field[4];
    sao_feast_field(field, "driver_hourly_stats", "conv_rate");
    ASSERT_BYTES(arg[1], len[1], field, 4);
    sao_buf_clear(&b);
    sao_feast_value conv = {.type = SAO_FEAST_FLOAT};
    conv.as.f32 = 0.5f;
    ASSERT_OK(sao_feast_encode_value(&b, &conv));
    ASSERT_BYTES(arg[2], len[2], b.data, b.len);

    sao_feast_field(field, "driver_hourly_stats", "avg_daily_trips");
    ASSERT_BYTES(arg[3], len[3], field, 4);
    sao_buf_clear(&b);
    sao_feast_value trips = make_int64(308);
    ASSERT_OK(sao_feast_encode_value(&b, &trips));
    ASSERT_BYTES(arg[4], len[4], b.data, b.len);

    ASSERT_BYTES(arg[5], len[5], "_ts:driver_hourly_stats", 23);
    sao_buf_clear(&b);
    int64_t midnight = sao_days_from_civil(2022, 1, 1) * 86400;
    ASSERT_OK(sao_feast_encode_timestamp(&b, midnight, 0));
    ASSERT_BYTES(arg[6], len[6], b.data, b.len);
    sao_buf_dispose(&b);
    return 1;
}

static void test_shared_vectors(void)
{
    char *text;
    size_t size;
    const char *path = sao_test_shared("feast/vectors.txt");
    ASSERT_OK(sao_file_read(&text, &size, path, 1 << 20));
    sao_arena *arena = sao_arena_new(0);
    int keys = 0, fields = 0, values = 0, stamps = 0, hsets = 0;

    char *line = text;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' ')) line[--len] = 0;
        if (!strncmp(line, "v3 key: ", 8) || !strncmp(line, "v2 key: ", 8))
            keys += check_key_line(line, len);
        else if (!strncmp(line, "field ", 6))
            fields += check_field_line(line);
        else if (!strncmp(line, "Value{", 6))
            values += check_value_line(line, arena);
        else if (!strncmp(line, "Timestamp{", 10))
            stamps += check_timestamp_line(line);
        else if (!strncmp(line, "redis-cli HSET ", 15))
            hsets += check_hset_line(line);
        line = nl ? nl + 1 : NULL;
    }
    /* Every kind of vector was there and checked. */
    ASSERT_EQ(keys, 2);
    ASSERT_EQ(fields, 3);
    ASSERT_TRUE(values >= 6);
    ASSERT_EQ(stamps, 2);
    ASSERT_EQ(hsets, 1);
    sao_arena_free(arena);
    sao_free(text);
}

/* ---- MurmurHash3 ---- */

static void test_murmur3_known_answers(void)
{
    /* Published answers of the reference MurmurHash3_x86_32. */
    ASSERT_EQ(sao_murmur3_32("", 0, 0), 0);
    ASSERT_EQ(sao_murmur3_32("", 0, 1), 0x514e28b7u);
    ASSERT_EQ(sao_murmur3_32("", 0, 0xffffffffu), 0x81f16f39u);
    ASSERT_EQ(sao_murmur3_32("\0\0\0\0", 4, 0), 0x2362f9deu);
    ASSERT_EQ(sao_murmur3_32("\xff\xff\xff\xff", 4, 0), 0x76293b50u);
    ASSERT_EQ(sao_murmur3_32("\x21\x43\x65\x87", 4, 0), 0xf55b516bu);
    ASSERT_EQ(sao_murmur3_32("\x21\x43\x65\x87", 4, 0x5082edeeu), 0x2362f9deu);
    ASSERT_EQ(sao_murmur3_32("\x21\x43\x65", 3, 0), 0x7e4a8634u);
    ASSERT_EQ(sao_murmur3_32("\x21\x43", 2, 0), 0xa0f7b07au);
    ASSERT_EQ(sao_murmur3_32("\x21", 1, 0), 0x72661cf4u);
    ASSERT_EQ(sao_murmur3_32("aaaa", 4, 0x9747b28cu), 0x5a97808au);
    ASSERT_EQ(sao_murmur3_32("abc", 3, 0x9747b28cu), 0xc84a62ddu);
    ASSERT_EQ(sao_murmur3_32("Hello, world!", 13, 0x9747b28cu), 0x24884cbau);
    const char *fox = "The quick brown fox jumps over the lazy dog";
    ASSERT_EQ(sao_murmur3_32(fox, strlen(fox), 0x9747b28cu), 0x2fa826cdu);
}

static void test_field_is_little_endian_hash(void)
{
    uint8_t f[4];
    sao_feast_field(f, "technical_daily", "rsi_14");
    uint32_t h = sao_murmur3_32("technical_daily:rsi_14", 22, 0);
    ASSERT_EQ(f[0], h & 0xff);
    ASSERT_EQ(f[3], h >> 24);
    /* Long names take the heap path and hash the same. */
    char view[300];
    memset(view, 'v', sizeof(view) - 1);
    view[sizeof(view) - 1] = 0;
    char joined[310];
    snprintf(joined, sizeof(joined), "%s:x", view);
    sao_feast_field(f, view, "x");
    h = sao_murmur3_32(joined, strlen(joined), 0);
    ASSERT_EQ(f[0] | f[1] << 8 | f[2] << 16 | (uint32_t)f[3] << 24, h);
}

/* ---- entity keys ---- */

static void test_entity_key_string_ticker(void)
{
    sao_buf b;
    sao_buf_init(&b, 0);
    ASSERT_OK(sao_feast_redis_key(&b, "stock_agent_ops", "ticker", "AAPL"));
    static const uint8_t want[] = {1,   0,   0,   0, 2, 0, 0, 0, 6, 0, 0, 0,   't', 'i', 'c',
                                   'k', 'e', 'r', 2, 0, 0, 0, 4, 0, 0, 0, 'A', 'A', 'P', 'L'};
    ASSERT_TRUE(b.len == sizeof(want) + strlen("stock_agent_ops"));
    ASSERT_BYTES(b.data, sizeof(want), want, sizeof(want));
    ASSERT_TRUE(!memcmp(b.data + sizeof(want), "stock_agent_ops", 15));
    sao_buf_dispose(&b);
}

static void test_entity_key_sorted_and_checked(void)
{
    sao_buf a, b;
    sao_buf_init(&a, 0);
    sao_buf_init(&b, 0);
    const char *k1[] = {"zone", "id"};
    sao_feast_value v1[] = {make_string("eu"), make_int64(7)};
    const char *k2[] = {"id", "zone"};
    sao_feast_value v2[] = {make_int64(7), make_string("eu")};
    ASSERT_OK(sao_feast_serialize_entity_key(&a, k1, v1, 2, 3));
    ASSERT_OK(sao_feast_serialize_entity_key(&b, k2, v2, 2, 3));
    ASSERT_BYTES(a.data, a.len, b.data, b.len);
    ASSERT_EQ((uint8_t)a.data[0], 2);
    ASSERT_TRUE(!memcmp(a.data + 12, "id", 2)); /* the sorted first name */

    /* int32 keys are 4 bytes little-endian; v2 has no count and no name lengths */
    sao_buf_clear(&a);
    const char *k3[] = {"n"};
    sao_feast_value v3 = {.type = SAO_FEAST_INT32};
    v3.as.i32 = -2;
    ASSERT_OK(sao_feast_serialize_entity_key(&a, k3, &v3, 1, 2));
    static const uint8_t want[] = {2, 0, 0, 0, 'n', 3, 0, 0, 0, 4, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff};
    ASSERT_BYTES(a.data, a.len, want, sizeof(want));

    /* errors leave the buffer as it was */
    size_t before = a.len;
    const char *dup[] = {"id", "id"};
    ASSERT_EQ(sao_feast_serialize_entity_key(&a, dup, v2, 2, 3), SAO_EINVAL);
    ASSERT_EQ(sao_feast_serialize_entity_key(&a, k3, &v3, 1, 1), SAO_EINVAL);
    ASSERT_EQ(sao_feast_serialize_entity_key(&a, k3, &v3, 0, 3), SAO_EINVAL);
    const char *accented[] = {"t\xc3\xa9"};
    ASSERT_EQ(sao_feast_serialize_entity_key(&a, accented, &v3, 1, 3), SAO_EINVAL);
    sao_feast_value dbl = make_double(1.0);
    ASSERT_EQ(sao_feast_serialize_entity_key(&a, k3, &dbl, 1, 3), SAO_EINVAL);
    sao_feast_value bad_utf8 = make_string("\xc3\x28");
    ASSERT_EQ(sao_feast_serialize_entity_key(&a, k3, &bad_utf8, 1, 3), SAO_EINVAL);
    ASSERT_EQ(sao_feast_redis_key(&a, "", "ticker", "AAPL"), SAO_EINVAL);
    ASSERT_EQ(sao_feast_redis_key(&a, "p", "ticker", ""), SAO_EINVAL);
    ASSERT_EQ(a.len, before);

    /* a capped buffer: too small is SAO_ETOOBIG, and nothing half-written stays */
    sao_buf small;
    sao_buf_init(&small, 20);
    ASSERT_EQ(sao_feast_redis_key(&small, "stock_agent_ops", "ticker", "AAPL"), SAO_ETOOBIG);
    ASSERT_EQ(small.len, 0);
    sao_buf_dispose(&small);
    sao_buf_dispose(&a);
    sao_buf_dispose(&b);
}

/* ---- values ---- */

static void test_round_trips(void)
{
    sao_arena *arena = sao_arena_new(0);
    sao_feast_value v, out;

    v.type = SAO_FEAST_NULL;
    out = round_trip(&v, arena);

    const double doubles[] = {0.0, -0.0, 1.5, -123.456e300, 5e-324, INFINITY, -INFINITY};
    for (size_t i = 0; i < SAO_ARRAY_LEN(doubles); i++) {
        v = make_double(doubles[i]);
        out = round_trip(&v, arena);
        ASSERT_TRUE(!memcmp(&out.as.f64, &doubles[i], 8));
    }
    v = make_double(NAN);
    out = round_trip(&v, arena);
    ASSERT_TRUE(isnan(out.as.f64));

    v.type = SAO_FEAST_FLOAT;
    v.as.f32 = -3.25f;
    ASSERT_TRUE(round_trip(&v, arena).as.f32 == -3.25f);

    const int64_t ints[] = {0, 1, -1, 300, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < SAO_ARRAY_LEN(ints); i++) {
        v = make_int64(ints[i]);
        ASSERT_TRUE(round_trip(&v, arena).as.i64 == ints[i]);
        v.type = SAO_FEAST_UNIX_TIMESTAMP;
        ASSERT_TRUE(round_trip(&v, arena).as.i64 == ints[i]);
    }
    const int32_t i32s[] = {0, -1, INT32_MIN, INT32_MAX, 42};
    for (size_t i = 0; i < SAO_ARRAY_LEN(i32s); i++) {
        v.type = SAO_FEAST_INT32;
        v.as.i32 = i32s[i];
        ASSERT_EQ(round_trip(&v, arena).as.i32, i32s[i]);
    }
    v.type = SAO_FEAST_BOOL;
    v.as.boolean = 1;
    ASSERT_EQ(round_trip(&v, arena).as.boolean, 1);
    v.as.boolean = 0;
    ASSERT_EQ(round_trip(&v, arena).as.boolean, 0);

    v = make_string("\xe2\x82\xac 1,234 \xf0\x9f\x93\x88"); /* euro sign, chart emoji */
    out = round_trip(&v, arena);
    ASSERT_STREQ(out.as.str.data, v.as.str.data);
    v = make_string("");
    out = round_trip(&v, arena);
    ASSERT_EQ(out.as.str.len, 0);

    v.type = SAO_FEAST_BYTES;
    v.as.str.data = "a\0b\xff";
    v.as.str.len = 4;
    out = round_trip(&v, arena);
    ASSERT_EQ(out.as.str.len, 4);
    ASSERT_TRUE(!memcmp(out.as.str.data, "a\0b\xff", 4));

    /* double lists: empty, one, a 60-long model window, long enough for a 2-byte length */
    const size_t lens[] = {0, 1, 60, 1000};
    double *window = sao_malloc(1000 * sizeof(double));
    for (size_t i = 0; i < 1000; i++) window[i] = 100.0 + 0.25 * (double)i - (i % 7 ? 0 : 1e-9);
    window[3] = NAN;
    for (size_t k = 0; k < SAO_ARRAY_LEN(lens); k++) {
        v.type = SAO_FEAST_DOUBLE_LIST;
        v.as.f64_list.data = lens[k] ? window : NULL;
        v.as.f64_list.len = lens[k];
        out = round_trip(&v, arena);
        ASSERT_EQ(out.as.f64_list.len, lens[k]);
        for (size_t i = 0; i < lens[k]; i++)
            ASSERT_TRUE(!memcmp(&out.as.f64_list.data[i], &window[i], 8));
    }
    sao_free(window);
    sao_arena_free(arena);
}

static void test_exact_encodings(void)
{
    sao_buf b;
    sao_buf_init(&b, 0);
    /* Null: nothing at all, as Feast writes an unset Value for None. */
    sao_feast_value v = {.type = SAO_FEAST_NULL};
    ASSERT_OK(sao_feast_encode_value(&b, &v));
    ASSERT_EQ(b.len, 0);
    /* DoubleList {1.0, 2.0}: field 15, message with packed field 1 */
    const double two[] = {1.0, 2.0};
    v.type = SAO_FEAST_DOUBLE_LIST;
    v.as.f64_list.data = two;
    v.as.f64_list.len = 2;
    ASSERT_OK(sao_feast_encode_value(&b, &v));
    static const uint8_t list[] = {0x7a, 0x12, 0x0a, 0x10, 0, 0, 0, 0, 0, 0,
                                   0xf0, 0x3f, 0,    0,    0, 0, 0, 0, 0, 0x40};
    ASSERT_BYTES(b.data, b.len, list, sizeof(list));
    /* empty list: the oneof is set to an empty message */
    sao_buf_clear(&b);
    v.as.f64_list.len = 0;
    ASSERT_OK(sao_feast_encode_value(&b, &v));
    ASSERT_BYTES(b.data, b.len, "\x7a\x00", 2);
    /* bool, unix_timestamp, bytes */
    sao_buf_clear(&b);
    v.type = SAO_FEAST_BOOL;
    v.as.boolean = 1;
    ASSERT_OK(sao_feast_encode_value(&b, &v));
    ASSERT_BYTES(b.data, b.len, "\x38\x01", 2);
    sao_buf_clear(&b);
    v.type = SAO_FEAST_UNIX_TIMESTAMP;
    v.as.i64 = 1;
    ASSERT_OK(sao_feast_encode_value(&b, &v));
    ASSERT_BYTES(b.data, b.len, "\x40\x01", 2);
    sao_buf_clear(&b);
    v.type = SAO_FEAST_BYTES;
    v.as.str.data = "\x00";
    v.as.str.len = 1;
    ASSERT_OK(sao_feast_encode_value(&b, &v));
    ASSERT_BYTES(b.data, b.len, "\x0a\x01\x00", 3);
    /* the epoch is an empty Timestamp; negative seconds are ten-byte varints */
    sao_buf_clear(&b);
    ASSERT_OK(sao_feast_encode_timestamp(&b, 0, 0));
    ASSERT_EQ(b.len, 0);
    ASSERT_OK(sao_feast_encode_timestamp(&b, -1, 500000000));
    ASSERT_BYTES(b.data, b.len,
                 "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x10\x80\xca\xb5\xee\x01", 17);
    int64_t s;
    int32_t ns;
    ASSERT_OK(sao_feast_decode_timestamp(&s, &ns, b.data, b.len));
    ASSERT_EQ(s, -1);
    ASSERT_EQ(ns, 500000000);
    ASSERT_OK(sao_feast_decode_timestamp(&s, &ns, "", 0));
    ASSERT_EQ(s, 0);
    ASSERT_EQ(ns, 0);
    /* invalid inputs to the encoders */
    sao_buf_clear(&b);
    ASSERT_EQ(sao_feast_encode_timestamp(&b, 0, -1), SAO_EINVAL);
    ASSERT_EQ(sao_feast_encode_timestamp(&b, 0, 1000000000), SAO_EINVAL);
    ASSERT_EQ(sao_feast_encode_timestamp(&b, INT64_C(253402300800), 0), SAO_EINVAL);
    v = make_string("\xed\xa0\x80"); /* a UTF-16 surrogate */
    ASSERT_EQ(sao_feast_encode_value(&b, &v), SAO_EINVAL);
    v.type = (sao_feast_type)11;
    ASSERT_EQ(sao_feast_encode_value(&b, &v), SAO_EINVAL);
    ASSERT_EQ(b.len, 0);
    sao_buf_dispose(&b);
}

static void test_decode_protobuf_semantics(void)
{
    sao_arena *arena = sao_arena_new(0);
    sao_feast_value v;
    /* empty message and null_val (field 19) are both null */
    ASSERT_OK(sao_feast_decode_value(&v, "", 0, arena));
    ASSERT_EQ(v.type, SAO_FEAST_NULL);
    ASSERT_OK(sao_feast_decode_value(&v, NULL, 0, NULL)); /* an empty sao_buf's data */
    ASSERT_EQ(v.type, SAO_FEAST_NULL);
    int64_t s = 1;
    int32_t ns = 1;
    ASSERT_OK(sao_feast_decode_timestamp(&s, &ns, NULL, 0));
    ASSERT_EQ(s + ns, 0);
    ASSERT_OK(sao_feast_decode_value(&v, "\x98\x01\x00", 3, arena));
    ASSERT_EQ(v.type, SAO_FEAST_NULL);
    /* the last member of a oneof wins */
    ASSERT_OK(sao_feast_decode_value(&v, "\x29\0\0\0\0\0\0\xe0\x3f\x20\x05", 11, arena));
    ASSERT_EQ(v.type, SAO_FEAST_INT64);
    ASSERT_EQ(v.as.i64, 5);
    /* int32 keeps the low 32 bits of an over-long varint */
    ASSERT_OK(sao_feast_decode_value(&v, "\x18\xff\xff\xff\xff\x0f", 6, arena));
    ASSERT_EQ(v.as.i32, -1);
    /* unpacked doubles are accepted; a repeated list field merges (concatenates) */
    static const uint8_t unpacked[] = {0x7a, 0x12, 0x09, 0, 0, 0, 0, 0, 0, 0xf0,
                                       0x3f, 0x09, 0,    0, 0, 0, 0, 0, 0, 0x40};
    ASSERT_OK(sao_feast_decode_value(&v, unpacked, sizeof(unpacked), arena));
    ASSERT_EQ(v.type, SAO_FEAST_DOUBLE_LIST);
    ASSERT_EQ(v.as.f64_list.len, 2);
    ASSERT_TRUE(v.as.f64_list.data[1] == 2.0);
    uint8_t twice[2 * sizeof(unpacked)];
    memcpy(twice, unpacked, sizeof(unpacked));
    memcpy(twice + sizeof(unpacked), unpacked, sizeof(unpacked));
    ASSERT_OK(sao_feast_decode_value(&v, twice, sizeof(twice), arena));
    ASSERT_EQ(v.as.f64_list.len, 4);
    ASSERT_TRUE(v.as.f64_list.data[0] == 1.0 && v.as.f64_list.data[3] == 2.0);
    /* a list after another member starts afresh; a scalar after a list replaces it */
    uint8_t mixed[sizeof(unpacked) + 11 + sizeof(unpacked)];
    memcpy(mixed, unpacked, sizeof(unpacked));
    memcpy(mixed + sizeof(unpacked), "\x29\0\0\0\0\0\0\xe0\x3f\x20\x05", 11);
    memcpy(mixed + sizeof(unpacked) + 11, unpacked, sizeof(unpacked));
    ASSERT_OK(sao_feast_decode_value(&v, mixed, sizeof(mixed), arena));
    ASSERT_EQ(v.as.f64_list.len, 2);
    ASSERT_OK(sao_feast_decode_value(&v, mixed, sizeof(unpacked) + 11, arena));
    ASSERT_EQ(v.type, SAO_FEAST_INT64);
    /* the last string wins */
    ASSERT_OK(sao_feast_decode_value(&v, "\x12\x01x\x0a\x02yz\x12\x01w", 10, arena));
    ASSERT_EQ(v.type, SAO_FEAST_STRING);
    ASSERT_STREQ(v.as.str.data, "w");
    /* bool: any non-zero varint is true */
    ASSERT_OK(sao_feast_decode_value(&v, "\x38\x02", 2, arena));
    ASSERT_EQ(v.as.boolean, 1);
    sao_arena_free(arena);
}

static void test_decode_malformed(void)
{
    sao_arena *arena = sao_arena_new(0);
    sao_feast_value v = make_int64(77);
    struct {
        const char *bytes;
        size_t len;
        int want;
    } cases[] = {
        {"\x20", 1, SAO_ECORRUPT},                                          /* tag, no value */
        {"\x20\x80", 2, SAO_ECORRUPT},                                      /* truncated varint */
        {"\x80", 1, SAO_ECORRUPT},                                          /* truncated tag */
        {"\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11, SAO_ECORRUPT}, /* overflow */
        {"\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81\x00", 12, SAO_ECORRUPT}, /* 11 bytes */
        {"\x12\x05\x61", 3, SAO_ECORRUPT},             /* length past end */
        {"\x12\xff\xff\xff\xff\x0f", 6, SAO_ECORRUPT}, /* huge length */
        {"\x29\x00\x00", 3, SAO_ECORRUPT},             /* short double */
        {"\x35\x00", 2, SAO_ECORRUPT},                 /* short float */
        {"\x28\x00", 2, SAO_ECORRUPT},                 /* double_val as varint: wrong wire type */
        {"\x22\x00", 2, SAO_ECORRUPT},                 /* int64_val as length-delimited */
        {"\x7d\x00\x00\x00\x00", 5, SAO_ECORRUPT},     /* double list as fixed32 */
        {"\x00\x00", 2, SAO_ECORRUPT},                 /* field number 0 */
        {"\x2b", 1, SAO_ECORRUPT},                     /* start group */
        {"\x2e", 1, SAO_ECORRUPT},                     /* wire type 6 */
        {"\x12\x02\xc3\x28", 4, SAO_ECORRUPT},         /* string that is not UTF-8 */
        {"\x12\x02\xc0\x80", 4, SAO_ECORRUPT},         /* overlong NUL */
        {"\x7a\x03\x0a\x01\x00", 5, SAO_ECORRUPT},     /* packed length not a multiple of 8 */
        {"\x7a\x02\x0a\x08", 4, SAO_ECORRUPT},         /* packed run past the inner message */
        {"\x7a\x01\x09", 3, SAO_ECORRUPT},             /* unpacked double cut short */
        {"\x7a\x02\x08\x01", 4, SAO_ECORRUPT},         /* DoubleList field 1 as varint */
        {"\x62\x00", 2, SAO_EUNSUPPORTED},         /* string_list_val: known to Feast, not here */
        {"\xa0\x01\x00", 3, SAO_EUNSUPPORTED},     /* map_val */
        {"\x90\x03\x00", 3, SAO_EUNSUPPORTED},     /* field 50: unknown */
        {"\x7a\x02\x10\x00", 4, SAO_EUNSUPPORTED}, /* DoubleList field 2 */
    };
    for (size_t i = 0; i < SAO_ARRAY_LEN(cases); i++) {
        int rc = sao_feast_decode_value(&v, cases[i].bytes, cases[i].len, arena);
        if (rc != cases[i].want) fprintf(stderr, "case %zu\n", i);
        ASSERT_EQ(rc, cases[i].want);
        ASSERT_TRUE(sao_error_last()[0] != 0);
        ASSERT_EQ(v.type, SAO_FEAST_INT64); /* untouched */
        ASSERT_EQ(v.as.i64, 77);
    }
    /* a string without an arena is a usage error, not a crash */
    ASSERT_EQ(sao_feast_decode_value(&v, "\x12\x01\x61", 3, NULL), SAO_EINVAL);

    int64_t s = 9;
    int32_t ns = 9;
    struct {
        const char *bytes;
        size_t len;
        int want;
    } stamps[] = {
        {"\x08", 1, SAO_ECORRUPT},
        {"\x08\x80", 2, SAO_ECORRUPT},
        {"\x09\0\0\0\0\0\0\0\0", 9, SAO_ECORRUPT},
        {"\x10\xff\xff\xff\xff\x0f", 6, SAO_ECORRUPT},                  /* nanos -1 */
        {"\x10\x80\x94\xeb\xdc\x03", 6, SAO_ECORRUPT},                  /* nanos 1e9 */
        {"\x08\x80\x80\x80\x80\x80\x80\x80\x80\x01", 10, SAO_ECORRUPT}, /* year > 9999 */
        {"\x18\x01", 2, SAO_EUNSUPPORTED},
    };
    for (size_t i = 0; i < SAO_ARRAY_LEN(stamps); i++) {
        ASSERT_EQ(sao_feast_decode_timestamp(&s, &ns, stamps[i].bytes, stamps[i].len),
                  stamps[i].want);
        ASSERT_EQ(s, 9);
        ASSERT_EQ(ns, 9);
    }
    sao_arena_free(arena);
}

/* A list field repeated many times (protobuf merges them) costs linear time and memory. */
static void test_repeated_list_fields_are_linear(void)
{
    size_t repeats = 100000;
    sao_buf b;
    sao_buf_init(&b, 0);
    for (size_t i = 0; i < repeats; i++) {
        uint8_t one[12] = {0x7a, 0x0a, 0x0a, 0x08};
        double d = (double)i;
        memcpy(one + 4, &d, 8); /* little-endian host, as everywhere this builds */
        ASSERT_OK(sao_buf_append(&b, one, sizeof(one)));
    }
    sao_arena *arena = sao_arena_new(0);
    sao_feast_value v;
    double started = sao_monotonic();
    ASSERT_OK(sao_feast_decode_value(&v, b.data, b.len, arena));
    ASSERT_TRUE(sao_monotonic() - started < 2.0);
    ASSERT_EQ(v.as.f64_list.len, repeats);
    ASSERT_TRUE(v.as.f64_list.data[0] == 0.0 && v.as.f64_list.data[repeats - 1] == 99999.0);
    sao_arena_free(arena);
    sao_buf_dispose(&b);
}

static void test_list_cap(void)
{
    /* A list one past the cap: the encoder refuses it, and so does the decoder. */
    size_t count = ((size_t)1 << 20) + 1;
    double *big = sao_calloc(count, sizeof(double));
    sao_feast_value v = {.type = SAO_FEAST_DOUBLE_LIST};
    v.as.f64_list.data = big;
    v.as.f64_list.len = count;
    sao_buf b;
    sao_buf_init(&b, 0);
    ASSERT_EQ(sao_feast_encode_value(&b, &v), SAO_ETOOBIG);
    ASSERT_EQ(b.len, 0);
    v.as.f64_list.len = count - 1;
    ASSERT_OK(sao_feast_encode_value(&b, &v));
    sao_arena *arena = sao_arena_new(0);
    sao_feast_value out;
    ASSERT_OK(sao_feast_decode_value(&out, b.data, b.len, arena));
    ASSERT_EQ(out.as.f64_list.len, count - 1);
    /* the same message twice merges past the cap */
    size_t one = b.len;
    char *copy = sao_malloc(one);
    memcpy(copy, b.data, one);
    ASSERT_OK(sao_buf_append(&b, copy, one));
    sao_free(copy);
    ASSERT_EQ(sao_feast_decode_value(&out, b.data, b.len, arena), SAO_ETOOBIG);
    sao_arena_free(arena);
    sao_buf_dispose(&b);
    sao_free(big);
}

/* ---- Feast's Redis connection string ---- */

static void test_connection_string(void)
{
    sao_online_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    sao_strlcpy(cfg.project, "stock_agent_ops", sizeof(cfg.project));
    cfg.key_ttl_seconds = 60;
    cfg.retries = 2;

    ASSERT_OK(sao_online_parse_connection_string(&cfg, "localhost:6379"));
    ASSERT_STREQ(cfg.host, "localhost");
    ASSERT_EQ(cfg.port, 6379);
    ASSERT_EQ(cfg.db, 0);
    ASSERT_STREQ(cfg.password, "");
    ASSERT_EQ(cfg.ssl, 0);
    ASSERT_STREQ(cfg.project, "stock_agent_ops"); /* fields outside the string are kept */
    ASSERT_EQ(cfg.key_ttl_seconds, 60);
    ASSERT_EQ(cfg.retries, 2);

    ASSERT_OK(
        sao_online_parse_connection_string(&cfg, "redis-master:6380,db=3,password=p@ss=w0rd"));
    ASSERT_STREQ(cfg.host, "redis-master");
    ASSERT_EQ(cfg.port, 6380);
    ASSERT_EQ(cfg.db, 3);
    ASSERT_STREQ(cfg.password, "p@ss=w0rd"); /* split at the first '=' only */

    /* reparsing resets what the new string leaves out */
    ASSERT_OK(sao_online_parse_connection_string(&cfg, " redis:7000 , ssl=false ,"));
    ASSERT_OK(sao_online_parse_connection_string(&cfg, "redis:7000, ssl=False, db=0"));
    ASSERT_STREQ(cfg.host, "redis");
    ASSERT_EQ(cfg.port, 7000);
    ASSERT_EQ(cfg.db, 0);
    ASSERT_STREQ(cfg.password, "");
    ASSERT_OK(sao_online_parse_connection_string(&cfg, "cache"));
    ASSERT_EQ(cfg.port, 6379);
    ASSERT_OK(sao_online_parse_connection_string(&cfg, "[::1]:6390,password=\"quoted\""));
    ASSERT_STREQ(cfg.host, "::1");
    ASSERT_EQ(cfg.port, 6390);
    ASSERT_STREQ(cfg.password, "quoted");
    /* a Unix socket, with or without the scheme; a later host:port goes back to TCP */
    ASSERT_OK(sao_online_parse_connection_string(&cfg, "unix:/run/redis/redis.sock,db=4"));
    ASSERT_STREQ(cfg.host, "/run/redis/redis.sock");
    ASSERT_TRUE(cfg.unix_socket);
    ASSERT_EQ(cfg.db, 4);
    ASSERT_OK(sao_online_parse_connection_string(&cfg, "/tmp/r.sock"));
    ASSERT_STREQ(cfg.host, "/tmp/r.sock");
    ASSERT_TRUE(cfg.unix_socket);
    ASSERT_OK(sao_online_parse_connection_string(&cfg, "redis:7000"));
    ASSERT_TRUE(!cfg.unix_socket);
    ASSERT_EQ(cfg.port, 7000);
    /* redis-py options mean nothing here and are ignored */
    ASSERT_OK(sao_online_parse_connection_string(&cfg, "h:1,socket_timeout=5"));

    static const struct {
        const char *conn;
        int want;
    } bad[] = {
        {"", SAO_EINVAL},
        {"h:0", SAO_EINVAL},
        {"unix:", SAO_EINVAL},
        {"unix:relative/redis.sock", SAO_EINVAL},
        {"unix:/a/path/much/too/long/for/the/one/hundred/and/eight/bytes/of/a/sockaddr_un/"
         "sun_path/of/a/linux/system/redis.sock",
         SAO_EINVAL},
        {"h:65536", SAO_EINVAL},
        {"h:63a", SAO_EINVAL},
        {"h: 63", SAO_EINVAL},
        {"my host:63", SAO_EINVAL},
        {"h:", SAO_EINVAL},
        {":6379", SAO_EINVAL},
        {"[::1", SAO_EINVAL},
        {"db=1", SAO_EINVAL},
        {"h:1,db=-1", SAO_EINVAL},
        {"h:1,db=two", SAO_EINVAL},
        {"h:1,ssl=maybe", SAO_EINVAL},
        {"h:1,ssl=true", SAO_EUNSUPPORTED},
        {"h:1,username=feast", SAO_EUNSUPPORTED},
        {"a:1,b:2", SAO_EUNSUPPORTED},
        {"h:x,password=topsecret", SAO_EINVAL},
    };
    sao_online_config before = cfg;
    for (size_t i = 0; i < SAO_ARRAY_LEN(bad); i++) {
        ASSERT_EQ(sao_online_parse_connection_string(&cfg, bad[i].conn), bad[i].want);
        ASSERT_TRUE(!memcmp(&cfg, &before, sizeof(cfg))); /* untouched on error */
        ASSERT_TRUE(!strstr(sao_error_last(), "topsecret"));
    }
    ASSERT_EQ(sao_online_parse_connection_string(&cfg, "h:1,ssl=true"), SAO_EUNSUPPORTED);
    ASSERT_CONTAINS(sao_error_last(), "TLS");

    /* connect refuses what it cannot do before touching the network */
    sao_online *online = NULL;
    cfg.ssl = 1;
    ASSERT_EQ(sao_online_connect(&online, &cfg), SAO_EUNSUPPORTED);
    cfg.ssl = 0;
    cfg.port = 70000;
    ASSERT_EQ(sao_online_connect(&online, &cfg), SAO_EINVAL);
    ASSERT_TRUE(online == NULL);
    sao_online_close(NULL);
}

SAO_TEST_MAIN(TEST(test_shared_vectors), TEST(test_murmur3_known_answers),
              TEST(test_field_is_little_endian_hash), TEST(test_entity_key_string_ticker),
              TEST(test_entity_key_sorted_and_checked), TEST(test_round_trips),
              TEST(test_exact_encodings), TEST(test_decode_protobuf_semantics),
              TEST(test_decode_malformed), TEST(test_repeated_list_fields_are_linear),
              TEST(test_list_cap), TEST(test_connection_string))
